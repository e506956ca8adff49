"""Block codecs against the gguf package (ggml's own numpy codecs).

1. Random blocks (random bytes, fp16 scale fields set to finite values) dequantized by
   gguf.quants.dequantize and by mlxn agree bit for bit, for every type both decode.
2. Quantizers: where gguf.quants can quantize a type, our RMSE on N(0,1) data is no worse;
   BF16/F16 are bit-exact. For the K-quants and IQ4 (gguf cannot quantize them) our RMSE is
   compared with a dense-grid least-squares search that keeps every sub-block scale in full
   float precision (a quantizer that must store its scales in 4/6/8 bits cannot beat it by
   much); ours must be within 10% of it.
Prints an RMSE table (docs/formats.md) and "N passed, N failed" last."""
import os
import tempfile

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

from mlxn_testlib import check, finish, run_tool



def tool(*args):
    run_tool("tool_quant", *args)


def ours_deq(t, raw, n):
    with tempfile.TemporaryDirectory() as d:
        i, o = os.path.join(d, "in"), os.path.join(d, "out")
        raw.tofile(i)
        tool("deq", int(t), n, i, o)
        return np.fromfile(o, dtype=np.float32)


def ours_q(t, x):
    with tempfile.TemporaryDirectory() as d:
        i, o = os.path.join(d, "in"), os.path.join(d, "out")
        x.astype(np.float32).tofile(i)
        tool("q", int(t), x.size, i, o)
        return np.fromfile(o, dtype=np.uint8)


# type -> byte offsets of its fp16 fields inside a block
FP16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q3_K: [108], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    T.IQ4_NL: [0], T.IQ4_XS: [0], T.MXFP4: [], T.F16: [0], T.BF16: [],
}

rng = np.random.default_rng(20261129)


def bits_equal(a, b):
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    same = a.view(np.uint32) == b.view(np.uint32)
    same |= np.isnan(a) & np.isnan(b)
    return a.shape == b.shape and bool(same.all()), int((~same).sum())


# ---- 1. dequantize, bit for bit ------------------------------------------------------------
for t, fields in FP16_FIELDS.items():
    blk, size = gguf.GGML_QUANT_SIZES[t]
    nblocks = 2048
    raw = rng.integers(0, 256, size=(nblocks, size), dtype=np.uint8)
    for off in fields:
        # finite scales of both signs over many binades, some subnormal, some zero
        v = (rng.standard_normal(nblocks) * np.exp2(rng.uniform(-20, 4, nblocks))).astype(np.float16)
        v[::97] = 0
        raw[:, off:off + 2] = v.view(np.uint8).reshape(nblocks, 2)
    if t == T.BF16:  # keep bf16 finite (random exponents but never all-ones)
        raw[:, 1] &= 0xBF
    with np.errstate(over="ignore"):  # MXFP4 e = 255 overflows to inf in both decoders
        theirs = dequantize(raw.reshape(-1), t).reshape(-1)
    ours = ours_deq(t, raw.reshape(-1), nblocks * blk)
    ok, nbad = bits_equal(ours, theirs)
    check(ok, f"dequantize {t.name}: {nbad} of {ours.size} values differ from gguf.quants")

# ---- 2. quantizers: RMSE on N(0,1) -----------------------------------------------------------
N = 256 * 256
x = rng.standard_normal(N).astype(np.float32)


def rmse(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def ref_sym(x, n, qmin, qmax, ncand=200):
    """Best float scale per sub-block: dense grid of starts, least-squares refit, Lloyd rounds."""
    xs = x.reshape(-1, n).astype(np.float64)
    amax_i = np.abs(xs).argmax(1)
    mx = xs[np.arange(len(xs)), amax_i][:, None]

    def fit(d):
        q = np.clip(np.round(xs / d), qmin, qmax)
        sxq, sqq = (xs * q).sum(1), (q * q).sum(1)
        dn = np.where(sqq > 0, sxq / np.maximum(sqq, 1e-30), 1e-30)
        return dn, (xs * xs).sum(1) - np.where(sqq > 0, sxq * dn, 0)

    best, best_d = np.full(len(xs), np.inf), np.ones(len(xs))
    for sign in (-1, 1):
        for v in np.linspace(0.5 * qmax, 1.5 * -qmin, ncand):
            dn, err = fit(sign * mx / v)
            better = err < best
            best, best_d = np.where(better, err, best), np.where(better, dn, best_d)
    for _ in range(6):
        dn, err = fit(best_d[:, None])
        better = err < best
        best, best_d = np.where(better, err, best), np.where(better, dn, best_d)
    return float(np.sqrt(best.sum() / x.size))


def ref_affine(x, n, nmax, ncand=200):
    """Best float (scale, min <= 0) per sub-block: dense grid, 2x2 least squares, Lloyd rounds."""
    xs = x.reshape(-1, n).astype(np.float64)
    mn = np.minimum(xs.min(1, keepdims=True), 0)
    mxv = xs.max(1, keepdims=True)

    def fit(q):
        s1, sq, sqq, sx, sxq = n, q.sum(1), (q * q).sum(1), xs.sum(1), (xs * q).sum(1)
        D = s1 * sqq - sq * sq
        Ds = np.where(D > 0, D, 1)
        d = np.where(D > 0, (s1 * sxq - sq * sx) / Ds, 0)
        m = np.where(D > 0, (sqq * sx - sq * sxq) / Ds, sx / n)
        pos = m > 0  # the K-quants store -dmin*m with m >= 0
        d = np.where(pos, sxq / np.maximum(sqq, 1e-30), d)
        m = np.where(pos, 0, m)
        return d, m, ((d[:, None] * q + m[:, None] - xs) ** 2).sum(1)

    best, bd, bm = np.full(len(xs), np.inf), np.ones(len(xs)), np.zeros(len(xs))
    for f in np.linspace(0.5, 1.5, ncand):
        d, m, err = fit(np.clip(np.round((xs - mn) * nmax * f / (mxv - mn)), 0, nmax))
        b = err < best
        best, bd, bm = np.where(b, err, best), np.where(b, d, bd), np.where(b, m, bm)
    for _ in range(6):
        dd = np.where(bd > 0, bd, 1e-30)[:, None]
        d, m, err = fit(np.clip(np.round((xs - bm[:, None]) / dd), 0, nmax))
        b = err < best
        best, bd, bm = np.where(b, err, best), np.where(b, d, bd), np.where(b, m, bm)
    return float(np.sqrt(best.sum() / x.size))


KV = np.array(gguf.quants.IQ4_NL.kvalues, np.float64)


def ref_iq4(x, n, ncand=200):
    """Best float scale per sub-block on the IQ4 codebook: dense grid, refit, Lloyd rounds."""
    xs = x.reshape(-1, n).astype(np.float64)
    amax_i = np.abs(xs).argmax(1)
    mx = xs[np.arange(len(xs)), amax_i][:, None]
    mids = (KV[1:] + KV[:-1]) / 2

    def fit(d):
        k = KV[np.searchsorted(mids, xs / d)]
        sxk, skk = (xs * k).sum(1), (k * k).sum(1)
        return sxk / skk, (xs * xs).sum(1) - sxk * sxk / skk

    best, best_d = np.full(len(xs), np.inf), np.ones(len(xs))
    for sign in (-1, 1):
        for v in np.linspace(70, 170, ncand):
            dn, err = fit(sign * mx / v)
            b = err < best
            best, best_d = np.where(b, err, best), np.where(b, dn, best_d)
    for _ in range(6):
        dn, err = fit(best_d[:, None])
        b = err < best
        best, best_d = np.where(b, err, best), np.where(b, dn, best_d)
    return float(np.sqrt(best.sum() / x.size))


BPW = {T.F32: 32, T.F16: 16, T.BF16: 16, T.Q8_0: 8.5, T.Q8_1: 9, T.Q8_K: 9.125, T.Q6_K: 6.5625,
       T.Q5_0: 5.5, T.Q5_1: 6, T.Q5_K: 5.5, T.Q4_0: 4.5, T.Q4_1: 5, T.Q4_K: 4.5, T.IQ4_NL: 4.5,
       T.IQ4_XS: 4.25, T.MXFP4: 4.25, T.Q3_K: 3.4375, T.Q2_K: 2.625}
GGUF_CAN_QUANTIZE = {T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.MXFP4}
REF = {T.Q2_K: lambda: ref_affine(x, 16, 3), T.Q3_K: lambda: ref_sym(x, 16, -4, 3),
       T.Q4_K: lambda: ref_affine(x, 32, 15), T.Q5_K: lambda: ref_affine(x, 32, 31),
       T.Q6_K: lambda: ref_sym(x, 16, -32, 31), T.IQ4_NL: lambda: ref_iq4(x, 32),
       T.IQ4_XS: lambda: ref_iq4(x, 32)}

rows = []
for t in BPW:
    qb = ours_q(t, x)
    y = ours_deq(t, qb, N)
    r_ours = rmse(y, x)
    r_gguf = r_ref = None
    if t in GGUF_CAN_QUANTIZE:
        gq = quantize(x.reshape(-1, 256), t)
        r_gguf = rmse(dequantize(gq, t).reshape(-1), x)
        check(r_ours <= r_gguf * 1.0001, f"{t.name}: our RMSE {r_ours:.6g} worse than gguf's {r_gguf:.6g}")
        if t == T.BF16:
            check(np.array_equal(qb, gq.reshape(-1)), "BF16 quantize is not bit-identical to gguf's")
    if t == T.F16:
        check(np.array_equal(qb.view(np.float16), x.astype(np.float16)), "F16 quantize != numpy astype")
    if t in REF:
        r_ref = REF[t]()
        check(r_ours <= 1.10 * r_ref, f"{t.name}: our RMSE {r_ours:.6g} > 1.10 x float-scale search {r_ref:.6g}")
    if t == T.F32:
        check(r_ours == 0, "F32 round trip is not exact")
    rows.append((t.name, BPW[t], r_ours, r_gguf, r_ref))

print("| type | bits/weight | RMSE ours | RMSE gguf.quants | float-scale search |")
print("| --- | ---: | ---: | ---: | ---: |")
for name, bpw, ro, rg, rr in rows:
    f = lambda v: "—" if v is None else f"{v:.5f}"
    print(f"| {name} | {bpw:g} | {ro:.5f} | {f(rg)} | {f(rr)} |")

finish()
