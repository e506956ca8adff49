#!/usr/bin/env bash
# Per-kernel GPU time of the decode step, on the GPU machine, after scripts/gpu-check.sh has
# built into $BUILD: Nsight Compute (clocks left alone) over a short `mlxn bench` decode of a
# synthetic SmolLM2-135M-shaped Q4_1 file, summarised per kernel. Answers "where do the
# 1.4 ms of a SmolLM2 decode step go" (docs/perf/NOTES.md).
#   usage: scripts/gpu-profile-decode.sh [BUILD] [OUT]
set -u
BUILD=${1:-/tmp/mlxn-gpu-build}
OUT=${2:-${OUT:-gpu-out}}
mkdir -p "$OUT"
LIBD=$(dirname "$(find /tmp/mlxn-deps -name 'libcjson.so*' 2>/dev/null | head -1)" 2>/dev/null)
[ -n "$LIBD" ] && export LD_LIBRARY_PATH=$LIBD:${LD_LIBRARY_PATH:-}
M=/tmp/mlxn-smollm2-synth.gguf
[ -f "$M" ] || "$BUILD/bin/mlxn" synth --shape smollm2-135m --mix q4_1 -o "$M" > /dev/null
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
# 4 prompt tokens then 4 decoded ones: the profile covers prefill and the replayed decode graph.
timeout 300 "$NCU" --clock-control none --print-summary per-kernel --csv \
  "$BUILD/bin/mlxn" bench -m "$M" -p 4 -n 4 -r 1 --device cuda > "$OUT/profile-decode.csv" 2> "$OUT/profile-decode.err"
echo "profile: exit $? ($(wc -l < "$OUT/profile-decode.csv") lines)"
python3 - "$OUT/profile-decode.csv" <<'PY'
import csv, sys, collections
rows = list(csv.reader(open(sys.argv[1], errors="replace")))
hdr = next((i for i, r in enumerate(rows) if "Kernel Name" in r), None)
if hdr is None:
    print("profile: no per-kernel summary found"); sys.exit(0)
h = rows[hdr]; ki = h.index("Kernel Name")
mi = [i for i, c in enumerate(h) if c == "Metric Name"]
vi = [i for i, c in enumerate(h) if c in ("Average", "Metric Value")]
inv = [i for i, c in enumerate(h) if c in ("Invocations", "ID")]
ui = [i for i, c in enumerate(h) if c == "Metric Unit"]
scale = {"nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9}
tot = collections.defaultdict(float); cnt = collections.Counter()
for r in rows[hdr + 1:]:
    if len(r) <= ki or not mi or r[mi[0]] != "Duration": continue
    try: v = float(r[vi[0]].replace(",", "")) * (scale.get(r[ui[0]], 1.0) if ui else 1.0)
    except ValueError: continue
    n = int(r[inv[0]]) if inv and r[inv[0]].isdigit() else 1
    tot[r[ki][:70]] += v * n; cnt[r[ki][:70]] += n
s = sum(tot.values())
for k, v in sorted(tot.items(), key=lambda x: -x[1])[:20]:
    print(f"{v/1e3:10.1f} us {100*v/s:5.1f}%  x{cnt[k]:<5d} {k}")
PY
