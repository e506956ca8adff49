#!/usr/bin/env bash
# The main job: (until the engine lands) show what mlxn reads from a real GGUF file.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
"$build/bin/mlxn" info ../shared/testdata/vocab/ggml-vocab-gpt-2.gguf
