"""MLX quantized formats against the mlx package (CPU): for every bits x group size x scale
dtype of the affine mode, and for mxfp4,
  - mx.quantize and mlxn_mlx_quantize_row give identical packed words, scales and biases;
  - mx.dequantize(..., dtype=float32) and mlxn_mlx_dequantize_row agree bit for bit, both on
    the quantized weights and on random words with random scales/biases.
Prints "N passed, N failed" last."""
import os
import tempfile

import numpy as np
import mlx.core as mx

from mlxn_testlib import check, finish, run_tool

F16, BF16, E8M0 = 1, 30, 71


def tool(*args):
    run_tool("tool_quant", *args)


def raw(a):
    """Bytes of an mlx array (bf16 has no numpy dtype: view it as u16)."""
    if a.dtype in (mx.bfloat16, mx.float16):
        a = a.view(mx.uint16)
    return np.array(a)


def ours_quantize(mode, bits, gs, stype, x):
    rows, n = x.shape
    with tempfile.TemporaryDirectory() as d:
        p = [os.path.join(d, k) for k in ("x", "w", "s", "b")]
        x.astype(np.float32).tofile(p[0])
        tool("mlxq", mode, bits, gs, stype, rows, n, *p)
        w = np.fromfile(p[1], np.uint32).reshape(rows, -1)
        sdt = np.uint8 if mode == 1 else np.uint16
        s = np.fromfile(p[2], sdt).reshape(rows, -1)
        b = np.fromfile(p[3], np.uint16).reshape(rows, -1) if mode == 0 else None
        return w, s, b


def ours_dequantize(mode, bits, gs, stype, w, s, b, n):
    rows = w.shape[0]
    with tempfile.TemporaryDirectory() as d:
        p = [os.path.join(d, k) for k in ("w", "s", "b", "out")]
        w.tofile(p[0]), s.tofile(p[1])
        (b if b is not None else np.zeros(1, np.uint8)).tofile(p[2])
        tool("mlxdeq", mode, bits, gs, stype, rows, n, *p)
        return np.fromfile(p[3], np.float32).reshape(rows, n)


def bits_equal(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    same = (a.view(np.uint32) == b.view(np.uint32)) | (np.isnan(a) & np.isnan(b))
    return bool(same.all()), int((~same).sum())


rng = np.random.default_rng(7)
ROWS, N = 16, 512


def weights():
    """Gaussian rows over many magnitudes, plus a few degenerate groups."""
    x = rng.standard_normal((ROWS, N)) * np.exp2(rng.uniform(-12, 6, (ROWS, 1)))
    x[0, :128] = 0.0            # all-zero groups
    x[1, :128] = 0.75           # constant groups
    x[2, :128] = -3.0
    x[3, :64] = np.abs(x[3, :64])  # one-signed groups
    x[4, :64] = -np.abs(x[4, :64])
    return x.astype(np.float32)


# ---- affine ------------------------------------------------------------------------------
for dtype, stype in ((mx.float16, F16), (mx.bfloat16, BF16)):
    for bits in (2, 3, 4, 5, 6, 8):
        for gs in (32, 64, 128):
            tag = f"affine bits={bits} group={gs} {dtype}"
            wm = mx.array(weights()).astype(dtype)
            x = np.array(wm.astype(mx.float32))     # the exact values mlx sees
            qw, qs, qb = mx.quantize(wm, group_size=gs, bits=bits)
            w, s, b = ours_quantize(0, bits, gs, stype, x)
            tw, ts, tb = np.array(qw), raw(qs), raw(qb)
            check(np.array_equal(w, tw), f"{tag}: packed words differ in {int((w != tw).sum())} of {w.size}")
            check(np.array_equal(s, ts), f"{tag}: scales differ in {int((s != ts).sum())} of {s.size}")
            check(np.array_equal(b, tb), f"{tag}: biases differ in {int((b != tb).sum())} of {b.size}")
            theirs = np.array(mx.dequantize(qw, qs, qb, group_size=gs, bits=bits, dtype=mx.float32))
            ok, nbad = bits_equal(ours_dequantize(0, bits, gs, stype, tw, ts, tb, N), theirs)
            check(ok, f"{tag}: dequantize of quantized weights: {nbad} values differ")
            # random words with random finite scales and biases
            rw = rng.integers(0, 2**32, size=tw.shape, dtype=np.uint64).astype(np.uint32)
            rs = mx.array(rng.standard_normal(ts.shape).astype(np.float32) * 0.01).astype(dtype)
            rb = mx.array(rng.standard_normal(ts.shape).astype(np.float32)).astype(dtype)
            theirs = np.array(mx.dequantize(mx.array(rw), rs, rb, group_size=gs, bits=bits, dtype=mx.float32))
            ok, nbad = bits_equal(ours_dequantize(0, bits, gs, stype, rw, raw(rs), raw(rb), N), theirs)
            check(ok, f"{tag}: dequantize of random words: {nbad} values differ")

# ---- mxfp4 -------------------------------------------------------------------------------
for dtype in (mx.float32, mx.float16, mx.bfloat16):
    tag = f"mxfp4 {dtype}"
    wm = mx.array(weights()).astype(dtype)
    x = np.array(wm.astype(mx.float32))
    qw, qs = mx.quantize(wm, group_size=32, bits=4, mode="mxfp4")
    w, s, _ = ours_quantize(1, 4, 32, E8M0, x)
    tw, ts = np.array(qw), np.array(qs)
    check(np.array_equal(s, ts), f"{tag}: scales differ in {int((s != ts).sum())} of {s.size}")
    check(np.array_equal(w, tw), f"{tag}: packed words differ in {int((w != tw).sum())} of {w.size}")
    theirs = np.array(mx.dequantize(qw, qs, group_size=32, bits=4, mode="mxfp4", dtype=mx.float32))
    ok, nbad = bits_equal(ours_dequantize(1, 4, 32, E8M0, tw, ts, None, N), theirs)
    check(ok, f"{tag}: dequantize of quantized weights: {nbad} values differ")
rw = rng.integers(0, 2**32, size=(ROWS, N // 8), dtype=np.uint64).astype(np.uint32)
rs = rng.permutation(256).astype(np.uint8).reshape(ROWS, N // 32)  # every exponent once, 0 and 255 included
theirs = np.array(mx.dequantize(mx.array(rw), mx.array(rs), group_size=32, bits=4, mode="mxfp4", dtype=mx.float32))
ok, nbad = bits_equal(ours_dequantize(1, 4, 32, E8M0, rw, rs, None, N), theirs)
check(ok, f"mxfp4 dequantize of random words/scales: {nbad} values differ")

# ---- RMSE on N(0,1) (docs/formats.md) ----------------------------------------------------------
g = np.array(mx.array(rng.standard_normal((64, 4096)).astype(np.float32)).astype(mx.float16).astype(mx.float32))
print("| format | group | bits/weight (with f16 scale+bias) | RMSE |")
print("| --- | ---: | ---: | ---: |")
for bits in (2, 3, 4, 5, 6, 8):
    for gs in (32, 64, 128):
        w, s_, b_ = ours_quantize(0, bits, gs, F16, g)
        y = ours_dequantize(0, bits, gs, F16, w, s_, b_, g.shape[1])
        print(f"| mlx affine q{bits} | {gs} | {bits + 32 / gs:g} | {np.sqrt(np.mean((y - g) ** 2)):.5f} |")
w, s_, _ = ours_quantize(1, 4, 32, E8M0, g)
y = ours_dequantize(1, 4, 32, E8M0, w, s_, None, g.shape[1])
print(f"| mlx mxfp4 | 32 | 4.25 | {np.sqrt(np.mean((y - g) ** 2)):.5f} |")

finish()
