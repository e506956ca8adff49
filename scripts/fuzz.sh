#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan/UBSan and runs one of them for $1 seconds
# (default 600) over its seeds in fuzz/corpus/<target>. FUZZ_TARGET picks it: gguf (default),
# safetensors, hf_config, or all (each target in turn, $1 seconds each). Findings land in
# build-fuzz/artifacts-<target>/.
set -euo pipefail
secs=${1:-600}
target=${FUZZ_TARGET:-gguf}
cd "$(dirname "$0")/.."
all=(gguf safetensors hf_config)
if [ "$target" = all ]; then targets=("${all[@]}"); else targets=("$target"); fi
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_$t.c" ] || { echo "fuzz.sh: no target '$t' (have: ${all[*]} all)" >&2; exit 2; }
done
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMLXN_FUZZ=ON -DMLXN_SANITIZE=ON -DMLXN_CUDA=OFF >/dev/null
cmake --build build-fuzz --target "${targets[@]/#/fuzz_}"
failed=()
for t in "${targets[@]}"; do
  corpus=build-fuzz/corpus            # the GGUF corpus keeps its old place
  [ "$t" = gguf ] || corpus=build-fuzz/corpus-$t
  mkdir -p "$corpus" "build-fuzz/artifacts-$t"
  cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
  echo "== fuzz_$t: $secs s over $corpus"
  ./build-fuzz/fuzz/fuzz_"$t" -max_total_time="$secs" -max_len=65536 -print_final_stats=1 \
      -artifact_prefix="build-fuzz/artifacts-$t/" "$corpus" || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then echo "fuzz.sh: findings in: ${failed[*]}" >&2; exit 1; fi
