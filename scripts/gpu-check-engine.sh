#!/usr/bin/env bash
# The engine step of scripts/gpu-check.sh, on the GPU machine: correctness of the engine on
# the CUDA backend (tests/test_engine with MLXN_TEST_BACKEND=cuda: goldens from llama.cpp,
# greedy token for token, the recorded decode graph) and speed (mlxn bench on SmolLM2-135M
# Q4_1 and on a synthetic Llama-3-8B-shaped Q4_K_M file written by mlxn synth).
# Everything goes to OUT/engine.log (one file: few come back from that machine); the summary
# lines are printed.
#
#   usage: scripts/gpu-check-engine.sh BUILD_DIR OUT_DIR      (from the repository root)
#
# The GPU machine has no network and the model (98 MB) is larger than one transfer: carry it
# as pieces made here with `split -b 40M models/SmolLM2-135M-Instruct.Q4_1.gguf
# models/SmolLM2-135M-Instruct.Q4_1.gguf.part-` (one piece per call, in one lease); they are
# joined and checked here. Without the model only the synthetic speed runs happen.
set -u
BUILD=${1:-build}
OUT=${2:-gpu-out}
mkdir -p "$OUT"
LOG="$OUT/engine.log"
MLXN="$BUILD/bin/mlxn"
model=models/SmolLM2-135M-Instruct.Q4_1.gguf
sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$model" ] && ls "$model".part-* >/dev/null 2>&1; then
  cat "$model".part-* > "$model.tmp" && mv "$model.tmp" "$model"
fi
if [ -f "$model" ] && [ "$(sha256sum "$model" | cut -d' ' -f1)" != "$sha" ]; then
  echo "engine: $model has the wrong sha256 (incomplete pieces?); not used"
  rm -f "$model"
fi

echo "== engine" | tee -a "$LOG"
if [ -f "$model" ]; then
  MLXN_TEST_BACKEND=cuda timeout 300 "$BUILD/tests/test_engine" >> "$LOG" 2>&1
  echo "test_engine (cuda): exit $?"
  grep -E "^(teacher-forced|greedy|tokenisation|cuda against)|FAIL|passed" "$LOG" | tail -12
  timeout 120 "$MLXN" bench -m "$model" -p 512 -n 128 -r 5 --device cuda 2>&1 | tee -a "$LOG" | grep -E "^\|"
  # decode in the context mlxn run gives this model (8,192 positions): kernels sized by n_ctx
  echo "tg128 with --ctx 8192:" | tee -a "$LOG"
  timeout 120 "$MLXN" bench -m "$model" -p 0 -n 128 -r 5 --ctx 8192 --device cuda 2>&1 | tee -a "$LOG" | grep -E "tg128"
  timeout 120 "$MLXN" run -m "$model" -p "The three most useful things to know about the Moon are" -n 64 \
    --device cuda >> "$LOG" 2>&1
  tail -2 "$LOG"
else
  echo "engine: no SmolLM2 file (see the pieces note in scripts/gpu-check-engine.sh); synthetic shape instead"
  "$MLXN" synth --shape smollm2-135m --mix q4_1 -o /tmp/mlxn-smollm2-synth.gguf >> "$LOG" 2>&1 &&
    timeout 120 "$MLXN" bench -m /tmp/mlxn-smollm2-synth.gguf -p 512 -n 128 -r 5 --device cuda 2>&1 |
      tee -a "$LOG" | grep -E "^\|"
fi
# the architecture and fusion tests on the CUDA backend (tiny random models against a float64
# NumPy forward pass; they need PyPI gguf: scripts/gpu-deps.sh takes it from a carried wheel)
if python3 -c "import gguf" 2>/dev/null; then
  for t in test_engine_arch test_engine_fuse test_engine_gemma4; do
    MLXN_TEST_BACKEND=cuda MLXN_BINARY_DIR="$BUILD" MLXN_BIN="$MLXN" MLXN_SOURCE_DIR="$PWD" timeout 300 \
      python3 "tests/py/$t.py" >> "$LOG" 2>&1
    echo "$t.py (cuda): exit $? ($(tail -1 "$LOG"))"
  done
else
  echo "engine: no PyPI gguf here: tests/py/test_engine_{arch,fuse}.py not run on CUDA"
fi
L3=/tmp/mlxn-llama3-8b-q4_k_m.gguf
[ -f "$L3" ] || "$MLXN" synth --shape llama3-8b --mix q4_k_m -o "$L3" >> "$LOG" 2>&1
timeout 240 "$MLXN" bench -m "$L3" -p 512 -n 128 -r 3 --device cuda 2>&1 | tee -a "$LOG" | grep -E "^\|"
echo "8B tg128 with --ctx 8192:" | tee -a "$LOG"
timeout 120 "$MLXN" bench -m "$L3" -p 0 -n 128 -r 3 --ctx 8192 --device cuda 2>&1 | tee -a "$LOG" | grep -E "tg128"
