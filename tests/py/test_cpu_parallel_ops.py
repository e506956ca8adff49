#!/usr/bin/env python3
"""Runs the cpu-vs-ref op harness (tests/test_ops) with the CPU backend's parallel thresholds
at zero, so every op the backend can split goes through the worker pool even at the harness's
small sizes (by default most of them stay on one thread), with 2 and 3 threads."""
import os, subprocess, sys

BIN = os.path.join(os.environ.get("MLXN_BINARY_DIR", "build"), "tests", "test_ops")
passed = failed = 0
for threads in ("2", "3"):
    env = dict(os.environ, MLXN_CPU_PAR_MIN_KB="0", MLXN_CPU_PAR_MIN_WORK="0", OMP_NUM_THREADS=threads)
    r = subprocess.run([BIN, "-b", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail = "\n".join(r.stdout.strip().splitlines()[-3:])
    if r.returncode == 0:
        passed += 1
        print("ok: test_ops -b cpu, pool forced, %s threads: %s" % (threads, tail.splitlines()[-1] if tail else ""))
    else:
        failed += 1
        print("FAIL: test_ops -b cpu, pool forced, %s threads (rc %d):\n%s" % (threads, r.returncode, r.stdout[-4000:]))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
