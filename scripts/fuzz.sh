#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan and runs the GGUF reader fuzzer
# for $1 seconds (default 600) over the seeds in fuzz/corpus/gguf.
set -euo pipefail
secs=${1:-600}
cd "$(dirname "$0")/.."
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMLXN_FUZZ=ON -DMLXN_SANITIZE=ON -DMLXN_CUDA=OFF >/dev/null
cmake --build build-fuzz --target fuzz_gguf
mkdir -p build-fuzz/corpus
cp -n fuzz/corpus/gguf/* build-fuzz/corpus/ 2>/dev/null || true
./build-fuzz/fuzz/fuzz_gguf -max_total_time="$secs" -max_len=65536 -print_final_stats=1 build-fuzz/corpus
