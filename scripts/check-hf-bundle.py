#!/usr/bin/env python3
"""Checks mlxn on Hugging Face / mlx-lm folders written elsewhere: the bundle that
`MLXN_HF_BUNDLE=DIR python3 tests/py/test_engine_hf.py` leaves (each case's folder, tokens,
float64 reference logits and NMSE bound), for a machine without PyPI mlx (the GPU one; PyPI gguf
and numpy are enough). Per case: tool_engine_logits at batches 512, 5 and 1 against the reference,
and MLXN_NO_FUSE=1 against the fused load. On a GPU backend the bound is at least 1e-4 and fused /
unfused may differ by 1e-3 (relative), as in tests/py/test_engine_arch.py (the kernels round f32
weights and activations their own way).
  usage: MLXN_TEST_BACKEND=cuda python3 scripts/check-hf-bundle.py BUNDLE_DIR BUILD_DIR
Prints one line a check and "N passed, N failed" last; exits 1 on any failure."""
import os, sys, tempfile

if len(sys.argv) != 3:
    print(__doc__)
    sys.exit(2)
BUNDLE = sys.argv[1]
os.environ["MLXN_BINARY_DIR"] = sys.argv[2]   # where the tests' helpers find tool_engine_logits
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))

import numpy as np
import test_engine_arch as arch
from mlxn_testlib import check, finish


def main():
    cases = sorted(f[:-4] for f in os.listdir(BUNDLE) if f.endswith(".npz"))
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "o.f32")
    check(len(cases) > 0, "no cases in %s" % BUNDLE)
    for c in cases:
        z = np.load(os.path.join(BUNDLE, c + ".npz"))
        name, kv, tokens, ref = str(z["name"]), str(z["kv"]), z["tokens"], z["ref"]
        bound = float(z["bound"]) if arch.ON_CPU else max(float(z["bound"]), 1e-4)
        path = os.path.join(BUNDLE, c)
        fused = None
        for batch in (512, 5, 1):
            got, err = arch.run_tool(path, out, kv, batch, tokens)
            if not check(got is not None, "%s batch %d: tool failed: %s" % (name, batch, err)):
                continue
            e = ((got - ref) ** 2).sum() / (ref ** 2).sum()
            top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            print("%-52s %s batch %3d: NMSE %.3g (bound %.g), top-1 %.0f%%" % (name, arch.BACKEND, batch, e, bound,
                                                                                 100 * top1))
            check(e < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, e, bound))
            if batch == 5:
                fused = got
        unf, err = arch.run_tool(path, out, kv, 5, tokens, no_fuse=True)
        if check(unf is not None and fused is not None, "%s: MLXN_NO_FUSE=1 run failed: %s" % (name, err)):
            rel = np.abs(unf - fused).max() / np.abs(fused).max()
            print("%-52s %s MLXN_NO_FUSE=1 vs fused: max rel diff %.3g" % (name, arch.BACKEND, rel))
            check(rel < (1e-5 if arch.ON_CPU else 1e-3), "%s: MLXN_NO_FUSE=1 differs from the fused load by %.3g"
                  % (name, rel))
    finish()


main()
