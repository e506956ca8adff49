#!/usr/bin/env python3
"""Checks mlxn on Hugging Face / mlx-lm folders written elsewhere: the bundle that
`MLXN_HF_BUNDLE=DIR python3 tests/py/test_engine_hf.py` leaves (each case's folder, tokens,
float64 reference logits and NMSE bound), for a machine without PyPI mlx (the GPU one). Per case:
tool_engine_logits at batches 512, 5 and 1 against the reference, and MLXN_NO_FUSE=1 against the
fused load. On a GPU backend the bound is at least 1e-4 and fused / unfused may differ by 1e-3
(relative), as in tests/py/test_engine_arch.py (the kernels round f32 weights and activations
their own way).
  usage: MLXN_TEST_BACKEND=cuda python3 scripts/check-hf-bundle.py BUNDLE_DIR BUILD_DIR
Prints one line a check and "N passed, N failed" last; exits 1 on any failure."""
import os, subprocess, sys, tempfile

import numpy as np


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    bundle, build = sys.argv[1], sys.argv[2]
    tool = os.path.join(build, "bin", "tool_engine_logits")
    backend = os.environ.get("MLXN_TEST_BACKEND", "cuda")
    on_cpu = backend in ("cpu", "ref")
    cases = sorted(f[:-4] for f in os.listdir(bundle) if f.endswith(".npz"))
    tmp = tempfile.mkdtemp()
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL: " + what)
        return ok

    def run(path, kv, batch, tokens, no_fuse):
        out = os.path.join(tmp, "o.f32")
        env = dict(os.environ)
        env.pop("MLXN_NO_FUSE", None)
        if no_fuse:
            env["MLXN_NO_FUSE"] = "1"
        r = subprocess.run([tool, path, out, "--backend", backend, "--kv", kv, "--batch", str(batch)] +
                           [str(t) for t in tokens], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            return None, r.stderr.strip()
        return np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1).astype(np.float64), ""

    check(len(cases) > 0, "no cases in %s" % bundle)
    for c in cases:
        z = np.load(os.path.join(bundle, c + ".npz"))
        name, kv, tokens, ref = str(z["name"]), str(z["kv"]), z["tokens"], z["ref"]
        bound = float(z["bound"]) if on_cpu else max(float(z["bound"]), 1e-4)
        path = os.path.join(bundle, c)
        fused = None
        for batch in (512, 5, 1):
            got, err = run(path, kv, batch, tokens, False)
            if not check(got is not None, "%s batch %d: tool failed: %s" % (name, batch, err)):
                continue
            e = ((got - ref) ** 2).sum() / (ref ** 2).sum()
            top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            print("%-52s %s batch %3d: NMSE %.3g (bound %.g), top-1 %.0f%%" % (name, backend, batch, e, bound, 100 * top1))
            check(e < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, e, bound))
            if batch == 5:
                fused = got
        unf, err = run(path, kv, 5, tokens, True)
        if check(unf is not None and fused is not None, "%s: MLXN_NO_FUSE=1 run failed: %s" % (name, err)):
            rel = np.abs(unf - fused).max() / np.abs(fused).max()
            print("%-52s %s MLXN_NO_FUSE=1 vs fused: max rel diff %.3g" % (name, backend, rel))
            check(rel < (1e-5 if on_cpu else 1e-3), "%s: MLXN_NO_FUSE=1 differs from the fused load by %.3g" % (name, rel))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
