#!/usr/bin/env python3
"""The fused projections of the engine (src/engine/model.c, forward.c): at load, q|k|v and
gate|up are concatenated into one matrix each when their weight types agree (q|k alone when v's
type differs), the projections land in one scratch slot (column t = q_t | k_t | v_t), q and k
share one RoPE call and k and v one cache write.

Checked on tiny random GGUF files (PyPI `gguf` writer, the models and the float64 reference of
test_engine_arch.py):
  - per-tensor weight types chosen so that every fusion case occurs: q|k|v fused, q|k fused
    with v alone, nothing fused (q and k differ), gate|up fused or not; llama and qwen2
    (biases, concatenated into one vector) and qwen3 (per-head q/k norms before the joint
    RoPE): NMSE against the reference below 1e-3 (q8_0) / 1e-8 (f32), batch 512 and 1;
  - the same files with MLXN_NO_FUSE=1 (separate matrices writing into the same slot
    layout): the logits agree with the fused run to float rounding (relative max difference
    below 1e-5; on the CPU backends they are identical): fusing changes which matrix a row
    lives in, not its value;
  - the same files with MLXN_NO_MMFUSE=1 (norms, GLU and residual adds as ops of their own
    instead of the prologue/epilogue of mul_mat_fused): the logits agree with the default run
    to float rounding (on the CPU backends they are identical: the same f32 arithmetic);
  - RoPE and the cache write are one op (rope_kv); with MLXN_NO_ROPEKV=1 they are the separate
    rope and kv_write of before: one op more per layer, the same logits (identical on the CPU
    backends: the same arithmetic);
  - MLXN_ENGINE_SKIP=rope_kv,glu,lm_head (a timing aid) leaves those ops out;
  - `mlxn bench -v` reports the fusions made and the op count of a decode step, which must
    be what the per-layer types imply (llama: 6 ops per fully fused layer, 7 without rope_kv, +1 when v stays
    alone, +2 when q and k do not fuse, +1 when gate and up do not; qwen2 +1 for the bias
    add; 3 outside the layers: embedding, LM head, argmax; with MLXN_NO_MMFUSE=1 10 per layer
    and 4 outside: the first norm, and per layer two add_rms_norm and the glu).
"""
import os, tempfile

import numpy as np
import gguf

from mlxn_testlib import MLXN, abort, check, finish
import test_engine_arch as arch

BIN = arch.BIN
BACKEND, ON_CPU = arch.BACKEND, arch.ON_CPU   # MLXN_TEST_BACKEND (cuda: scripts/gpu-check-engine.sh)


def run(path, out, batch, tokens, no_fuse, no_mmfuse=False, no_ropekv=False):
    return arch.run_tool(path, out, "f32", batch, tokens, no_mmfuse, no_ropekv, no_fuse)


Q8, F32 = "q8_0", "f32"
# per layer (cycled): which tensors deviate from the file's main type
ALL_FUSED = [{}]
MIXED = [
    {"wv": F32, "up": F32},           # q|k fused, v alone; gate and up separate
    {"wk": F32},                      # nothing fused in attention (q and k differ); gate|up fused
    {},                               # everything fused
]

CASES = [
    # name, arch, make_model options, per-layer types, bound
    ("llama q8_0, all fused", "llama", dict(qtype=Q8, n_layer=2), ALL_FUSED, 1e-3),
    ("llama q8_0, mixed types", "llama", dict(qtype=Q8, n_layer=3), MIXED, 1e-3),
    ("llama f32 tied, mixed types", "llama", dict(tied=True, n_layer=3), [{"wv": Q8, "gate": Q8}, {"wq": Q8}, {}],
     1e-3),
    ("qwen2 biases, mixed types", "qwen2", dict(qtype=Q8, tied=True, base=1e6, n_layer=3), MIXED, 1e-3),
    ("qwen2 biases f32, all fused", "qwen2", dict(tied=True, base=1e6), ALL_FUSED, 1e-8),
    ("qwen3 q/k norms, mixed types", "qwen3", dict(qtype=Q8, base=1e6, n_layer=3), MIXED, 1e-3),
    ("qwen3 q/k norms f32, all fused", "qwen3", dict(base=1e6), ALL_FUSED, 1e-8),
]


def expected_counts(a, n_layer, types, qtype, mmfuse=True, ropekv=True):
    """(layers with q|k fused, layers with gate|up fused, ops of a decode step)."""
    n_qk = n_gu = 0
    ops = 3 if mmfuse else 4
    for i in range(n_layer):
        t = types[i % len(types)]
        ty = lambda k: t.get(k, qtype)  # noqa: E731
        qk = ty("wq") == ty("wk")
        gu = ty("gate") == ty("up")
        n_qk += qk
        n_gu += gu
        ops += (7 if mmfuse else 10) - (1 if ropekv else 0) + (0 if qk and ty("wv") == ty("wq") else 1 if qk else 2) + (0 if gu else 1)
        ops += a == "qwen2"
        ops += 2 * (a == "qwen3")   # the per-head q and k norms
    return n_qk, n_gu, ops


def check_counts(name, a, path, n_layer, types, qtype, mmfuse=True, ropekv=True):
    if not ropekv:
        name += " (MLXN_NO_ROPEKV)"
    r = arch.bench_v(path, arch.knob_env(not mmfuse, not ropekv))
    n_qk, n_gu, ops = expected_counts(a, n_layer, types, qtype, mmfuse, ropekv)
    want_f = "fused q|k(|v) in %d of %d layers, gate|up in %d;" % (n_qk, n_layer, n_gu)
    want_o = arch.decode_ops(ops)
    check(r.returncode == 0 and want_f in r.stderr, "%s: bench -v does not say '%s': %s" % (name, want_f, r.stderr))
    check(r.returncode == 0 and want_o in r.stderr, "%s: bench -v does not say '%s': %s" % (name, want_o, r.stderr))
    print("%-34s %s %s%s" % (name, want_f, want_o, "" if mmfuse else " (MLXN_NO_MMFUSE=1)"))


def check_skip(path, n_layer, ops, mmfuse=True):
    """MLXN_ENGINE_SKIP (a timing aid) leaves the named kinds out: rope_kv is one op per layer,
    lm_head one per step, and glu one per layer with MLXN_NO_MMFUSE=1 (fused, it is none)."""
    r = arch.bench_v(path, arch.knob_env(not mmfuse, MLXN_ENGINE_SKIP="rope_kv,glu,lm_head"))
    left = (n_layer if mmfuse else 2 * n_layer) + 1
    want = arch.decode_ops(ops - left)
    check(r.returncode == 0 and want in r.stderr and "results are wrong" in r.stderr,
          "MLXN_ENGINE_SKIP: bench -v does not say '%s': %s" % (want, r.stderr))


def main():
    if not os.path.exists(BIN) or not os.path.exists(MLXN):
        abort("%s or %s is missing" % (BIN, MLXN))
    print("backend %s" % BACKEND)
    rng = np.random.default_rng(11)
    tmp = tempfile.mkdtemp()
    for ci, (name, a, opts, types, bound) in enumerate(CASES):
        W = arch.make_model(a, rng, **opts)
        path = os.path.join(tmp, "f%d.gguf" % ci)
        arch.write_gguf(W, path, types)
        for mmfuse in (True, False):
            check_counts(name, a, path, W["n_layer"], types, W["qtype"], mmfuse)
            if ci == 0:
                check_skip(path, W["n_layer"], expected_counts(a, W["n_layer"], types, W["qtype"], mmfuse)[2], mmfuse)
        check_counts(name, a, path, W["n_layer"], types, W["qtype"], True, False)
        tokens = rng.integers(0, W["n_vocab"], 11)
        ref = arch.reference(W, tokens, False)
        for batch in (512, 1):
            got, err = run(path, os.path.join(tmp, "a%d_%d.f32" % (ci, batch)), batch, tokens, False)
            sep, err2 = run(path, os.path.join(tmp, "b%d_%d.f32" % (ci, batch)), batch, tokens, True)
            unf, err3 = run(path, os.path.join(tmp, "c%d_%d.f32" % (ci, batch)), batch, tokens, False, True)
            old, err4 = run(path, os.path.join(tmp, "d%d_%d.f32" % (ci, batch)), batch, tokens, False, False, True)
            if got is None or sep is None or unf is None or old is None:
                check(False, "%s batch %d: tool failed: %s %s %s %s" % (name, batch, err, err2, err3, err4))
                continue
            rel_mm = np.abs(got - unf).max() / np.abs(unf).max()
            nmse_unf = ((unf - ref) ** 2).sum() / (ref ** 2).sum()
            print("%-34s batch %3d: NMSE MLXN_NO_MMFUSE=1 %.3g; max |mul_mat_fused - separate ops| / max %.2g"
                  % (name, batch, nmse_unf, rel_mm))
            check(rel_mm < (1e-5 if ON_CPU else 1e-3),
                  "%s batch %d: mul_mat_fused and MLXN_NO_MMFUSE=1 differ by %.3g (relative)" % (name, batch, rel_mm))
            rel_rk = np.abs(got - old).max() / np.abs(old).max()
            print("%-34s batch %3d: max |rope_kv - rope, kv_write| / max %.2g" % (name, batch, rel_rk))
            check(rel_rk < (1e-6 if ON_CPU else 1e-3) and (rel_rk == 0 or not ON_CPU),
                  "%s batch %d: rope_kv and MLXN_NO_ROPEKV differ by %.3g (relative)" % (name, batch, rel_rk))
            nmse = ((got - ref) ** 2).sum() / (ref ** 2).sum()
            nmse_sep = ((sep - ref) ** 2).sum() / (ref ** 2).sum()
            rel = np.abs(got - sep).max() / np.abs(sep).max()
            print("%-34s batch %3d: NMSE fused %.3g, separate %.3g; max |fused - separate| / max %.2g"
                  % (name, batch, nmse, nmse_sep, rel))
            if not ON_CPU:   # GPU kernels round f32 weights and activations their own way
                bound = max(bound, 1e-4)
            check(nmse < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, nmse, bound))
            check(nmse_sep < bound, "%s batch %d (MLXN_NO_FUSE): NMSE %.3g >= %.g" % (name, batch, nmse_sep, bound))
            check(rel < (1e-5 if ON_CPU else 1e-3), "%s batch %d: fused and separate differ by %.3g (relative)" % (name, batch, rel))
    finish()


if __name__ == "__main__":
    main()
