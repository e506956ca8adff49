#!/usr/bin/env python3
"""The engine's op sequence before mul_mat_fused (MLXN_NO_MMFUSE=1: rms_norm, add_rms_norm and
glu as ops of their own) stays a working, tested path: tests/test_engine (tokenizer-to-logits
goldens, greedy runs against a peer, graphs, batches) runs again with the variable set and
must pass as it does by default."""
import os, subprocess, sys

BIN = os.path.join(os.environ.get("MLXN_BINARY_DIR", "build"), "tests", "test_engine")
passed = failed = 0
if not os.path.exists(BIN):
    print("FAIL: %s is missing" % BIN)
    print("0 passed, 1 failed")
    sys.exit(1)
env = dict(os.environ, MLXN_NO_MMFUSE="1")
r = subprocess.run([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
if r.returncode == 0 and last.endswith("0 failed"):
    passed += 1
    print("ok: test_engine with MLXN_NO_MMFUSE=1: %s" % last)
else:
    failed += 1
    print("FAIL: test_engine with MLXN_NO_MMFUSE=1 (rc %d):\n%s" % (r.returncode, r.stdout[-4000:]))
print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
