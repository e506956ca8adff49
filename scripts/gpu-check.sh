#!/usr/bin/env bash
# GPU check, run on the GPU machine from the repository root (or a copy of it):
#   builds mlxn with CUDA in a fresh directory outside the tree, runs the op harness on the CUDA
#   backend (test_ops -b cuda, default and --full cases), the API check (graphs, errors), and
#   the kernel benchmark (mlxn bench-ops); writes full logs and a regenerated h200.md under
#   $OUT (or ./gpu-out), and prints a short summary last.
# When pkg-config cannot find libcjson / libpcre2-8 (the GPU image lacks the -dev packages),
# the .deb files in debs/ are unpacked into /tmp/mlxn-deps and used from there. Make debs/ here with
#   (cd debs && apt-get download libcjson1 libcjson-dev libpcre2-8-0 libpcre2-dev && pip download --no-deps gguf)
# (the gguf wheel lets the Python engine tests run on the GPU machine, scripts/gpu-deps.sh).
# Env: BUILD (build dir), BENCH_ARGS (extra bench-ops flags), BENCH_TIMEOUT (s), FORCE_DEBS=1,
#      SKIP_ENGINE=1 (no engine block: run scripts/gpu-check-engine.sh in a later call),
#      EXTRA (a file of extra runs, one a line, all logged to extra.log; see below).
# --quick: default harness cases only (no --full) and the mat-vec / attention benchmarks only.
# --harness: build, the default harness cases and the API check; no benchmarks (a correctness pass).
set -u
QUICK=0; HARNESS=0
[ "${1:-}" = "--quick" ] && QUICK=1
[ "${1:-}" = "--harness" ] && { QUICK=1; HARNESS=1; }
SRC=$(pwd)
OUT=${OUT:-$SRC/gpu-out}
BUILD=${BUILD:-/tmp/mlxn-gpu-build}
mkdir -p "$OUT"
LOG=$OUT/gpu-check.log
exec > >(tee -a "$LOG") 2>&1
echo "== gpu-check $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
nvcc --version | tail -1

# ---- dependencies -----------------------------------------------------------------------------
. "$SRC/scripts/gpu-deps.sh"

# ---- build (fresh: a cached configure would keep stale pkg-config paths) ------------------------
T0=$(date +%s)
rm -rf "$BUILD"
# (only 8 files come back from the device tool: the configure/build logs stay in /tmp unless they fail)
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLXN_CUDA=ON > /tmp/mlxn-cmake.log 2>&1 \
  || { cp /tmp/mlxn-cmake.log "$OUT/cmake.log"; tail -30 /tmp/mlxn-cmake.log; echo "GPU-CHECK: cmake failed"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" > /tmp/mlxn-build.log 2>&1 \
  || { cp /tmp/mlxn-build.log "$OUT/build.log"; grep -E "error|Error" -A3 /tmp/mlxn-build.log | head -60; echo "GPU-CHECK: build failed"; exit 1; }
echo "build: $(( $(date +%s) - T0 )) s"
MLXN=$BUILD/bin/mlxn

# ---- op harness on the CUDA backend (checked against the ref backend) --------------------------
run_ops() {  # $1 = label, rest = extra args
  local label=$1; shift
  timeout 300 "$BUILD/tests/test_ops" -b cuda "$@" > "$OUT/test_ops_$label.log" 2>&1
  local rc=$?
  local last; last=$(tail -1 "$OUT/test_ops_$label.log")
  local nskip; nskip=$(grep -c '^SKIP' "$OUT/test_ops_$label.log")
  echo "test_ops -b cuda $*: $last, $nskip skipped (exit $rc)"
  grep -E "FAIL|error" "$OUT/test_ops_$label.log" | head -30
}
OPS1=$(run_ops default); echo "$OPS1"
# the mat-vec v6 on every harness mat-vec case (by default it takes only matrices from ~3 MB), and
# its host-side check (layouts and unit dots)
OPS6=$(MLXN_CUDA_MMV=6 OUT=/tmp run_ops mmv6 -o mul_mat; MLXN_CUDA_MMV=6 OUT=/tmp run_ops mmv6id -o mul_mat_id); echo "$OPS6"
HOST6="test_cuda_mmv6_host: $("$BUILD/tests/test_cuda_mmv6_host" 2>&1 | tail -1)"; echo "$HOST6"
# attention v3 with its one-block mode for short ranges off (every harness cache is short: this is
# what covers the cluster and split merges at those sizes), and the decode step's rope_kv ->
# attention graph (history-ready flag, poisoned cache) in both modes
OPSA=$(MLXN_CUDA_ATTN_SINGLE=0 OUT=/tmp run_ops attn-split -o attention); echo "$OPSA"
GRAPHA="test_attn_decode_graph: $("$BUILD/tests/test_attn_decode_graph" -b cuda 2>&1 | tail -1); with MLXN_CUDA_ATTN_SINGLE=0: $(MLXN_CUDA_ATTN_SINGLE=0 "$BUILD/tests/test_attn_decode_graph" -b cuda 2>&1 | tail -1)"
echo "$GRAPHA"
# the attention output quantized for the next mat-vec: logits bit-identical with it on and off
XQ="$(bash "$SRC/scripts/check-xq.sh" "$BUILD" 300 2>&1 | tail -1)"; echo "$XQ"
if [ $QUICK = 0 ]; then OPS2=$(run_ops full --full); else OPS2="test_ops --full: skipped (--quick)"; fi; echo "$OPS2"

# ---- public API on CUDA: graph record/replay, errors at sync, device OOM -----------------------
timeout 120 "$MLXN" bench-ops --api-check > "$OUT/api_check.log" 2>&1
API="api-check exit $?: $(tail -1 "$OUT/api_check.log")"
cat "$OUT/api_check.log" | head -20
if [ $HARNESS = 1 ]; then echo "== summary"; echo "$OPS1"; echo "$API"; exit 0; fi

# ---- kernel benchmark -----------------------------------------------------------------------------
MD=$OUT/h200.md
COMMIT=$(cat "$SRC/.commit" 2>/dev/null || git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  echo "# mlxn kernels on the H200"
  echo
  echo "Generated by \`scripts/gpu-check.sh\` on $(date -u +%F) from commit $COMMIT."
  echo "GPU / driver: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null); nvcc $(nvcc --version | tail -1)."
  echo
} > "$MD"
if [ $QUICK = 1 ]; then
  timeout "${BENCH_TIMEOUT:-300}" "$MLXN" bench-ops --markdown "$MD" --only mul_mv ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
  echo "bench-ops (mul_mv) exit $?"
  timeout 120 "$MLXN" bench-ops --only attn ${BENCH_ARGS:-} >> "$OUT/bench.log" 2>&1
  echo "bench-ops (attn) exit $?"
else
  timeout "${BENCH_TIMEOUT:-300}" "$MLXN" bench-ops --markdown "$MD" ${BENCH_ARGS:-} > "$OUT/bench.log" 2>&1
  echo "bench-ops exit $?"
fi
# extra runs, all logged to extra.log: one line of bench-ops arguments each (sweeps of a knob), or
# "NCU <kernel regex> <bench-ops args>" to profile one kernel with Nsight Compute
if [ -n "${EXTRA:-}" ] && [ -f "$EXTRA" ]; then
  n=0
  : > "$OUT/extra.log"
  while IFS= read -r line; do
    [ -z "$line" ] && continue
    n=$((n + 1))
    echo "== extra $n: $line" >> "$OUT/extra.log"
    case "$line" in
      NCU\ *)
        set -- $line
        k=$2; shift 2
        eval timeout 120 ncu --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis \
          --section Occupancy --section LaunchStats -k "regex:$k" -c 1 "$MLXN" bench-ops --batch 1 --reps 3 --no-verify --no-v2 "$@" \
          2>&1 | grep -E "Duration|Throughput|Busy|Hit Rate|Registers Per|Grid Size|Block Limit (Reg|Shared)|Achieved|Theoretical Occ" >> "$OUT/extra.log" ;;
      *) eval timeout 90 "$MLXN" bench-ops $line >> "$OUT/extra.log" 2>&1 ;;
    esac
    echo "extra $n ($line): exit $?"
  done < "$EXTRA"
fi
echo
echo "== summary"
echo "$OPS1" | head -1
echo "$OPS2" | head -1
echo "$OPS6" | grep "^test_ops"
echo "$HOST6"
echo "$OPSA" | grep "^test_ops"
echo "$GRAPHA"
echo "$XQ"
echo "$API"
grep -E "^(device|read ceiling|seed:|bench-ops:)" "$OUT/bench.log"
grep -E "^(kind|mul_mv|attn|prefill|seed)" "$OUT/bench.log" | cut -c1-100
[ -f "$OUT/extra.log" ] && grep -E "^(== extra|mul_mv|attn|read ceiling)" "$OUT/extra.log" | cut -c1-100

# ---- engine (this block belongs to the engine; the step itself is scripts/gpu-check-engine.sh) --
if [ -f "$SRC/scripts/gpu-check-engine.sh" ] && [ "${SKIP_ENGINE:-0}" != 1 ]; then
  (cd "$SRC" && bash scripts/gpu-check-engine.sh "$BUILD" "$OUT")
fi
# ---- end of the engine block ------------------------------------------------------------------
