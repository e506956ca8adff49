#!/usr/bin/env python3
"""Each architecture the engine loads (llama with tied or untied embeddings and rope_freqs,
qwen2 with q/k/v biases, qwen3 with per-head q/k norms and a head size that does not divide
the hidden size), checked against an independent NumPy forward pass on tiny random models.

The files are written with the PyPI `gguf` package (the reference writer), the weights are
f32 (or q8_0, dequantized by `gguf.quants` for the reference), and tests/tool_engine_logits
prints mlxn's logits at every position. The reference is float64 with the formulas of
shared/SPEC-MODELS.md: RMSNorm, RoPE (NORM pairs for llama, NEOX for qwen), GQA causal
attention, SwiGLU; the f16 cache is modelled by rounding K and V to f16. Bounds on the
normalised MSE over all logits: 1e-8 for f32 weights (only float32 rounding differs; the
reference backend gives ~1e-13) and 1e-3 for q8_0 weights (the reference backend gives ~1e-10;
the fast CPU kernels round the activations to 8 bits for integer dot products, which gives
~2e-4 on these random models; a defect such as a wrong RoPE pairing gives > 0.1)."""
import os, subprocess, tempfile

import numpy as np
import gguf
from gguf.quants import quantize, dequantize

from mlxn_testlib import abort, check, finish, tool_path

BIN = tool_path("tool_engine_logits")


# ---------------------------------------------------------------------------------------------
# Tiny models

def make_model(arch, rng, *, tied=False, rope_freqs=False, qtype="f32", n_embd=128, n_head=4, n_kv=2,
               head_dim=64, n_ff=256, n_vocab=320, n_layer=2, base=10000.0):
    """Random weights as float64 arrays in PyTorch layout [rows, k] (ref) plus what to write."""
    W = {"arch": arch, "n_embd": n_embd, "n_head": n_head, "n_kv": n_kv, "hd": head_dim, "n_ff": n_ff,
         "n_vocab": n_vocab, "n_layer": n_layer, "base": base, "eps": 1e-5, "qtype": qtype,
         "neox": arch != "llama", "layers": []}
    def mat(rows, k, sd=0.08):
        return rng.normal(0, sd, (rows, k))
    W["tok_embd"] = rng.normal(0, 1.0, (n_vocab, n_embd))
    W["output_norm"] = 1 + 0.1 * rng.normal(size=n_embd)
    W["output"] = None if tied else mat(n_vocab, n_embd)
    W["rope_freqs"] = (1 + np.arange(head_dim // 2) * 0.25) if rope_freqs else None
    for _ in range(n_layer):
        L = {
            "attn_norm": 1 + 0.1 * rng.normal(size=n_embd),
            "wq": mat(n_head * head_dim, n_embd), "wk": mat(n_kv * head_dim, n_embd),
            "wv": mat(n_kv * head_dim, n_embd), "wo": mat(n_embd, n_head * head_dim),
            "ffn_norm": 1 + 0.1 * rng.normal(size=n_embd),
            "gate": mat(n_ff, n_embd), "up": mat(n_ff, n_embd), "down": mat(n_embd, n_ff),
        }
        if arch == "qwen2":
            L["bq"] = 0.1 * rng.normal(size=n_head * head_dim)
            L["bk"] = 0.1 * rng.normal(size=n_kv * head_dim)
            L["bv"] = 0.1 * rng.normal(size=n_kv * head_dim)
        if arch == "qwen3":
            L["q_norm"] = 1 + 0.1 * rng.normal(size=head_dim)
            L["k_norm"] = 1 + 0.1 * rng.normal(size=head_dim)
        W["layers"].append(L)
    return W


def quantized(a, qtype):
    """What the file will hold, and the values the model computes with."""
    if qtype == "f32":
        a32 = a.astype(np.float32)
        return a32, a32.astype(np.float64)
    t = gguf.GGMLQuantizationType.Q8_0
    q = quantize(a.astype(np.float32), t)
    return q, dequantize(q, t).astype(np.float64)


def write_gguf(W, path, types=None):
    """Writes W as a GGUF file and puts back into W exactly what the file stores (the reference
    uses that). Weights are W['qtype'] ('f32' or 'q8_0'); types, when given, overrides it per
    layer tensor: layer i uses types[i % len(types)][key] where that key is present."""
    w = gguf.GGUFWriter(path, W["arch"])
    a = W["arch"]
    w.add_block_count(W["n_layer"])
    w.add_context_length(256)
    w.add_embedding_length(W["n_embd"])
    w.add_feed_forward_length(W["n_ff"])
    w.add_head_count(W["n_head"])
    w.add_head_count_kv(W["n_kv"])
    w.add_key_length(W["hd"])
    w.add_value_length(W["hd"])
    w.add_rope_freq_base(W["base"])
    w.add_layer_norm_rms_eps(W["eps"])
    w.add_rope_dimension_count(W["hd"])
    qtype = W["qtype"]

    def add(name, arr, vec=False, qt=None):
        if vec:
            w.add_tensor(name, arr.astype(np.float32))
            return arr.astype(np.float32).astype(np.float64)
        qt = qt or qtype
        data, used = quantized(arr, qt)
        if qt == "f32":
            w.add_tensor(name, data)
        else:
            w.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        return used

    # the reference uses exactly what the file stores
    W["tok_embd"] = add("token_embd.weight", W["tok_embd"])
    W["output_norm"] = add("output_norm.weight", W["output_norm"], True)
    if W["output"] is not None:
        W["output"] = add("output.weight", W["output"])
    if W["rope_freqs"] is not None:
        W["rope_freqs"] = add("rope_freqs.weight", W["rope_freqs"], True)
    names = {"attn_norm": "attn_norm.weight", "wq": "attn_q.weight", "wk": "attn_k.weight",
             "wv": "attn_v.weight", "wo": "attn_output.weight", "ffn_norm": "ffn_norm.weight",
             "gate": "ffn_gate.weight", "up": "ffn_up.weight", "down": "ffn_down.weight",
             "bq": "attn_q.bias", "bk": "attn_k.bias", "bv": "attn_v.bias",
             "q_norm": "attn_q_norm.weight", "k_norm": "attn_k_norm.weight"}
    for i, L in enumerate(W["layers"]):
        t = types[i % len(types)] if types else {}
        for k in list(L):
            L[k] = add("blk.%d.%s" % (i, names[k]), L[k], L[k].ndim == 1, t.get(k))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------------------------------------
# Reference forward pass (float64)

def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, pos, base, neox, ff):
    """x (n, heads, hd); rotates all hd dims."""
    hd = x.shape[-1]
    i = np.arange(hd // 2)
    theta = pos[:, None] * base ** (-2.0 * i / hd)
    if ff is not None:
        theta = theta / ff
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    y = x.copy()
    ia, ib = (i, i + hd // 2) if neox else (2 * i, 2 * i + 1)
    a, b = x[..., ia], x[..., ib]
    y[..., ia] = a * c - b * s
    y[..., ib] = a * s + b * c
    return y


def reference(W, tokens, kv_f16):
    n, nh, nkv, hd, eps = len(tokens), W["n_head"], W["n_kv"], W["hd"], W["eps"]
    pos = np.arange(n, dtype=np.float64)
    x = W["tok_embd"][tokens]
    for L in W["layers"]:
        h = rms(x, L["attn_norm"], eps)
        q, k, v = h @ L["wq"].T, h @ L["wk"].T, h @ L["wv"].T
        if "bq" in L:
            q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        if "q_norm" in L:
            q, k = rms(q, L["q_norm"], eps), rms(k, L["k_norm"], eps)
        q = rope(q, pos, W["base"], W["neox"], W["rope_freqs"])
        k = rope(k, pos, W["base"], W["neox"], W["rope_freqs"])
        if kv_f16:
            k, v = k.astype(np.float16).astype(np.float64), v.astype(np.float16).astype(np.float64)
        out = np.zeros((n, nh, hd))
        mask = np.triu(np.full((n, n), -np.inf), 1)
        for hh in range(nh):
            kh = hh // (nh // nkv)
            s = q[:, hh] @ k[:, kh].T / np.sqrt(hd) + mask
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            out[:, hh] = p @ v[:, kh]
        x = x + out.reshape(n, nh * hd) @ L["wo"].T
        h = rms(x, L["ffn_norm"], eps)
        g, u = h @ L["gate"].T, h @ L["up"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ L["down"].T
    x = rms(x, W["output_norm"], eps)
    out = W["output"] if W["output"] is not None else W["tok_embd"]
    return x @ out.T


# ---------------------------------------------------------------------------------------------

CASES = [
    # name, arch, options, kv, bound
    ("llama tied + rope_freqs", "llama", dict(tied=True, rope_freqs=True), "f32", 1e-8),
    ("llama untied", "llama", dict(), "f32", 1e-8),
    ("qwen2 biases", "qwen2", dict(tied=True, base=1e6), "f32", 1e-8),
    ("qwen3 q/k norms, 4x64 heads over 128 hidden", "qwen3", dict(base=1e6), "f32", 1e-8),
    ("qwen3 q8_0 weights, f16 cache", "qwen3", dict(qtype="q8_0"), "f16", 1e-3),
    ("llama q8_0 weights, f16 cache", "llama", dict(qtype="q8_0", n_layer=3), "f16", 1e-3),
]


def main():
    if not os.path.exists(BIN):
        abort("%s is missing" % BIN)
    rng = np.random.default_rng(7)
    tmp = tempfile.mkdtemp()
    for ci, (name, arch, opts, kv, bound) in enumerate(CASES):
        W = make_model(arch, rng, **opts)
        path = os.path.join(tmp, "m%d.gguf" % ci)
        write_gguf(W, path)
        tokens = rng.integers(0, W["n_vocab"], 13)
        ref = reference(W, tokens, kv == "f16")
        for batch in (512, 5):
            out = os.path.join(tmp, "l%d_%d.f32" % (ci, batch))
            r = subprocess.run([BIN, path, out, "--kv", kv, "--batch", str(batch)] + [str(t) for t in tokens],
                               capture_output=True, text=True)
            if r.returncode != 0:
                check(False, "%s: tool failed: %s" % (name, r.stderr.strip()))
                continue
            got = np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1).astype(np.float64)
            nmse = ((got - ref) ** 2).sum() / (ref ** 2).sum()
            top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            print("%-45s batch %3d: NMSE %.3g, top-1 %.0f%%" % (name, batch, nmse, 100 * top1))
            check(nmse < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, nmse, bound))
    finish()


if __name__ == "__main__":
    main()
