#!/usr/bin/env python3
"""The engine's op sequence before mul_mat_fused (MLXN_NO_MMFUSE=1: rms_norm, add_rms_norm and
glu as ops of their own) stays a working, tested path: tests/test_engine (tokenizer-to-logits
goldens, greedy runs against a peer, graphs, batches) runs again with the variable set and
must pass as it does by default."""
import os, subprocess

from mlxn_testlib import BINARY, abort, check, finish

BIN = os.path.join(BINARY, "tests", "test_engine")
if not os.path.exists(BIN):
    abort("%s is missing" % BIN)
env = dict(os.environ, MLXN_NO_MMFUSE="1")
r = subprocess.run([BIN], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ""
if check(r.returncode == 0 and last.endswith("0 failed"),
         "test_engine with MLXN_NO_MMFUSE=1 (rc %d):\n%s" % (r.returncode, r.stdout[-4000:])):
    print("ok: test_engine with MLXN_NO_MMFUSE=1: %s" % last)
finish()
