#!/usr/bin/env bash
# GPU check of the quantized-column hand-over (attention -> the next mat-vec, docs/perf/NOTES.md):
# the logits of N single-token decode steps on CUDA must be bit-identical with it on (default)
# and off (MLXN_CUDA_XQ=0), for short ranges (the one-block path) and with every range split
# (MLXN_CUDA_ATTN_SINGLE=0: the last-block quantization). Prints one line per case and
# "xq: P identical, F differ" last; exit 1 when any differ.
#   usage: bash scripts/check-xq.sh BUILD_DIR [N]
set -u
BUILD=$1
N=${2:-300}
T=$(mktemp -d)
pass=0; fail=0
ids=$(python3 -c "print(' '.join(str((i * 37) % 997 + 1) for i in range($N)))")
for spec in smollm2-135m:q4_1 tiny:q4_0 gemma3-tiny:q8_0 tiny-moe:q4_k llama3-8b:q4_k_m; do
  shape=${spec%%:*}; mix=${spec##*:}
  "$BUILD/bin/mlxn" synth --shape "$shape" --mix "$mix" -o "$T/m.gguf" > /dev/null 2>&1 || { echo "xq $shape: synth failed"; fail=$((fail + 1)); continue; }
  for single in default 0; do
    envs=(); [ "$single" = 0 ] && envs=(MLXN_CUDA_ATTN_SINGLE=0)
    env "${envs[@]}" MLXN_CUDA_XQ=0 "$BUILD/bin/tool_engine_logits" "$T/m.gguf" "$T/a.f32" --backend cuda --batch 1 $ids || { fail=$((fail + 1)); continue; }
    env "${envs[@]}" "$BUILD/bin/tool_engine_logits" "$T/m.gguf" "$T/b.f32" --backend cuda --batch 1 $ids || { fail=$((fail + 1)); continue; }
    if cmp -s "$T/a.f32" "$T/b.f32"; then pass=$((pass + 1)); r=identical; else fail=$((fail + 1)); r=DIFFER; fi
    echo "xq $shape $mix single=$single: $N steps, logits $r ($(stat -c %s "$T/a.f32") bytes)"
  done
done
rm -rf "$T"
echo "xq: $pass identical, $fail differ"
[ "$fail" = 0 ]
