#!/usr/bin/env bash
# A short GPU session for kernel work, on the GPU machine from the repository root (or a copy):
# builds mlxn with CUDA in a fresh directory outside the tree, then runs the commands of CMDFILE
# (one shell command a line, run by bash -c, with $MLXN = the mlxn binary and $BUILD = the build
# dir exported; lines starting with # are skipped), each under a timeout, all output to $OUT/run.log; prints a
# summary (the last line of every command and the bench-ops result rows) last.
#   usage: OUT=dir [SKIP_BUILD=1] bash scripts/gpu-run.sh CMDFILE [TIMEOUT_PER_COMMAND]
# SKIP_BUILD=1 reuses an existing build in $BUILD (a second call on a machine still warm).
set -u
SRC=$(pwd)
OUT=${OUT:-$SRC/gpu-out}
BUILD=${BUILD:-/tmp/mlxn-gpu-build}
CMDS=$1
TMO=${2:-120}
mkdir -p "$OUT"
LOG=$OUT/run.log
: > "$LOG"
echo "== gpu-run $(date -u +%FT%TZ) commit $(cat "$SRC/.commit" 2>/dev/null || echo unknown)" | tee -a "$LOG"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG"
. "$SRC/scripts/gpu-deps.sh" >> "$LOG" 2>&1
T0=$(date +%s)
if [ "${SKIP_BUILD:-0}" = 1 ] && [ -x "$BUILD/bin/mlxn" ]; then
  echo "build: reusing $BUILD (SKIP_BUILD=1)" | tee -a "$LOG"
else
rm -rf "$BUILD"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DMLXN_CUDA=ON > /tmp/mlxn-cmake.log 2>&1 \
  || { cp /tmp/mlxn-cmake.log "$OUT/cmake.log"; tail -30 /tmp/mlxn-cmake.log; echo "GPU-RUN: cmake failed"; exit 1; }
cmake --build "$BUILD" -j "$(nproc)" > /tmp/mlxn-build.log 2>&1 \
  || { cp /tmp/mlxn-build.log "$OUT/build.log"; grep -E "error" -A3 /tmp/mlxn-build.log | head -60; echo "GPU-RUN: build failed"; exit 1; }
echo "build: $(( $(date +%s) - T0 )) s" | tee -a "$LOG"
fi
export MLXN=$BUILD/bin/mlxn BUILD
SUM=$OUT/summary.txt
: > "$SUM"
n=0
while IFS= read -r line; do
  case "$line" in ''|\#*) continue ;; esac
  n=$((n + 1))
  t1=$(date +%s)
  echo "== [$n] $line" >> "$LOG"
  timeout "$TMO" bash -c "$line" >> "$LOG" 2>&1
  rc=$?
  echo "[$n] rc=$rc $(( $(date +%s) - t1 ))s: $line" >> "$SUM"
  echo "    $(tail -1 "$LOG" | cut -c1-150)" >> "$SUM"
done < "$CMDS"
echo "== summary" | tee -a "$LOG"
cat "$SUM"
grep -E "^(read ceiling|seed:)" "$LOG" | head -5
