#!/usr/bin/env python3
"""Each architecture the engine loads (llama with tied or untied embeddings and rope_freqs,
qwen2 with q/k/v biases, qwen3 with per-head q/k norms and a head size that does not divide
the hidden size, qwen3moe with a mixture of experts in every layer, gemma3 with its sliding-window
and global layers and sandwich norms), checked against an
independent NumPy forward pass on tiny random models.

The files are written with the PyPI `gguf` package (the reference writer), the weights are
f32 (or q8_0, dequantized by `gguf.quants` for the reference), and tests/tool_engine_logits
prints mlxn's logits at every position. The reference is float64 with the formulas of
shared/SPEC-MODELS.md: RMSNorm, RoPE (NORM pairs for llama, NEOX for qwen), GQA causal
attention, SwiGLU; the f16 cache is modelled by rounding K and V to f16. Bounds on the
normalised MSE over all logits: 1e-8 for f32 weights (only float32 rounding differs; the
reference backend gives ~1e-13) and 1e-3 for q8_0 weights (the reference backend gives ~1e-10;
the fast CPU kernels round the activations to 8 bits for integer dot products, which gives
~2e-4 on these random models; a defect such as a wrong RoPE pairing gives > 0.1).

gemma3 (7 layers: layer 5 global, the others sliding with a window of 4 or 5 over 13 tokens):
embeddings x sqrt(n_embd), q/k norms, post-attention and post-FFN norms before the residual
adds, GELU-tanh GLU, local RoPE base 1e4 (or rope.freq_base_swa), linear rope scaling on the
global layer only, attention scale from attention.scale when present. The norm weights are
drawn as the stored values 1 + w (the GGUF converter adds 1 to every Gemma norm weight) and the
reference multiplies by them as stored. f32 and q8_0 (f16 cache), batches 512/5/1, each with
MLXN_NO_MMFUSE=1 and MLXN_NO_ROPEKV=1; a file whose layers mix q8_0 and f32 (q|k fused with v
apart, nothing fused, gate and up apart); op counts; loader errors (missing post-norms, q norm,
sliding_window key); `mlxn synth --shape gemma3-tiny` loads and runs.

qwen3moe (8 experts, top 2, two layers; f32 and q8_0 experts, the router kept in f32 as
quantizers do): router logits = W_r . norm(x), softmax over all experts, the top k renormalised
to sum 1, per chosen expert down(silu(gate . xn) * (up . xn)), the weighted sum added to x.
Batches 512, 5 and 1 (the decode route), each also with MLXN_NO_MMFUSE=1 (on the cpu backend
the logits must be identical to the default sequence's), the op count of a decode step
(`mlxn bench -v`), and loader errors: a missing expert tensor, a missing expert_count key, an
expert tensor of the wrong shape, expert_used_count above expert_count; and `mlxn synth --shape
tiny-moe` (the generator of qwen3-30b-a3b files) loads and runs. The token sequence is
drawn until every reference top-k choice is clear (the k-th and (k+1)-th router logits at
least 0.02 apart for f32 weights, 0.1 for q8_0: ~10x the rounding of the 8-bit activations of
the fast CPU kernels), so that rounding cannot legitimately pick another expert and any wrong
choice shows as a large NMSE (choosing experts 2..k+1 instead of 1..k: ~0.09; no
renormalisation: ~4e-3); every expert of every layer must be chosen somewhere."""
import os, subprocess, tempfile

import numpy as np
import gguf
from gguf.quants import quantize, dequantize

from mlxn_testlib import MLXN, abort, check, finish, tool_path

BIN = tool_path("tool_engine_logits")
BACKEND = os.environ.get("MLXN_TEST_BACKEND", "cpu")   # the qwen3moe cases only (the others: cpu)
ON_CPU = BACKEND in ("cpu", "ref")


# ---------------------------------------------------------------------------------------------
# Tiny models

def make_model(arch, rng, *, tied=False, rope_freqs=False, qtype="f32", n_embd=128, n_head=4, n_kv=2,
               head_dim=64, n_ff=256, n_vocab=320, n_layer=2, base=10000.0, n_expert=8, n_expert_used=2,
               n_ff_exp=64, window=4, base_swa=None, attn_scalar=None, rope_linear=None):
    """Random weights as float64 arrays in PyTorch layout [rows, k] (ref) plus what to write.
    qwen3moe: expert stacks [n_expert, rows, k]; the router stays f32 (quantizers keep it)."""
    W = {"arch": arch, "n_embd": n_embd, "n_head": n_head, "n_kv": n_kv, "hd": head_dim, "n_ff": n_ff,
         "n_vocab": n_vocab, "n_layer": n_layer, "base": base, "eps": 1e-5, "qtype": qtype,
         "neox": arch != "llama", "layers": []}
    moe = arch == "qwen3moe"
    if arch == "gemma3":
        W.update(window=window, base_swa=base_swa, attn_scalar=attn_scalar, rope_linear=rope_linear)
    if moe:
        W.update(n_expert=n_expert, n_expert_used=n_expert_used, n_ff_exp=n_ff_exp, types=[{"gate_inp": "f32"}])
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
        }
        if moe:
            L["gate_inp"] = mat(n_expert, n_embd, 0.15)
            L["gate_exps"] = rng.normal(0, 0.08, (n_expert, n_ff_exp, n_embd))
            L["up_exps"] = rng.normal(0, 0.08, (n_expert, n_ff_exp, n_embd))
            L["down_exps"] = rng.normal(0, 0.08, (n_expert, n_embd, n_ff_exp))
        else:
            L.update(gate=mat(n_ff, n_embd), up=mat(n_ff, n_embd), down=mat(n_embd, n_ff))
        if arch == "qwen2":
            L["bq"] = 0.1 * rng.normal(size=n_head * head_dim)
            L["bk"] = 0.1 * rng.normal(size=n_kv * head_dim)
            L["bv"] = 0.1 * rng.normal(size=n_kv * head_dim)
        if arch == "gemma3":   # the norms as the file stores them: 1 + w (see the docstring)
            L["post_attn_norm"] = 1 + 0.1 * rng.normal(size=n_embd)
            L["post_ffn_norm"] = 1 + 0.1 * rng.normal(size=n_embd)
        if arch in ("qwen3", "qwen3moe", "gemma3"):
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


def add_tensor(w, drop, name, arr, vec, qt):
    """Writes one tensor to the GGUF writer w (vec: an f32 vector; else f32 or q8_0 as qt says)
    unless its name is in drop; returns the values the file stores (the reference uses them)."""
    if name in drop:
        return arr
    if vec:
        w.add_tensor(name, arr.astype(np.float32))
        return arr.astype(np.float32).astype(np.float64)
    data, used = quantized(arr, qt)
    if qt == "f32":
        w.add_tensor(name, data)
    else:
        w.add_tensor(name, data, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    return used


def write_gguf(W, path, types=None):
    """Writes W as a GGUF file and puts back into W exactly what the file stores (the reference
    uses that). Weights are W['qtype'] ('f32' or 'q8_0'); types, when given, overrides it per
    layer tensor: layer i uses types[i % len(types)][key] where that key is present (default:
    W['types'] if any). W['drop'] (a set of tensor or metadata key names) leaves those out;
    W['meta'] overrides expert metadata values (tests of files whose keys and tensors disagree)."""
    types = types or W.get("types")
    drop = W.get("drop", set())
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
    if "n_expert" in W:
        for key, fn, v in (("expert_count", w.add_expert_count, W["n_expert"]),
                           ("expert_used_count", w.add_expert_used_count, W["n_expert_used"]),
                           ("expert_feed_forward_length", w.add_expert_feed_forward_length, W["n_ff_exp"])):
            if "%s.%s" % (a, key) not in drop:
                fn(W.get("meta", {}).get(key, v))
    if a == "gemma3":
        if "gemma3.attention.sliding_window" not in drop:
            w.add_sliding_window(W["window"])
        if W["base_swa"] is not None:
            w.add_rope_freq_base_swa(W["base_swa"])
        if W["attn_scalar"] is not None:   # query_pre_attn_scalar^-0.5 as the attention scale
            w.add_float32("gemma3.attention.scale", W["attn_scalar"] ** -0.5)
        if W["rope_linear"] is not None:
            w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            w.add_rope_scaling_factor(W["rope_linear"])
    qtype = W["qtype"]

    def add(name, arr, vec=False, qt=None):
        return add_tensor(w, drop, name, arr, vec, qt or qtype)

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
             "q_norm": "attn_q_norm.weight", "k_norm": "attn_k_norm.weight",
             "gate_inp": "ffn_gate_inp.weight", "gate_exps": "ffn_gate_exps.weight",
             "up_exps": "ffn_up_exps.weight", "down_exps": "ffn_down_exps.weight",
             "post_attn_norm": "post_attention_norm.weight", "post_ffn_norm": "post_ffw_norm.weight"}
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


def rope(x, pos, base, neox, ff, pos_scale=1.0):
    """x (n, heads, hd); rotates all hd dims; pos_scale = 1 / linear scaling factor."""
    hd = x.shape[-1]
    i = np.arange(hd // 2)
    theta = (pos * pos_scale)[:, None] * base ** (-2.0 * i / hd)
    if ff is not None:
        theta = theta / ff
    c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
    y = x.copy()
    ia, ib = (i, i + hd // 2) if neox else (2 * i, 2 * i + 1)
    a, b = x[..., ia], x[..., ib]
    y[..., ia] = a * c - b * s
    y[..., ib] = a * s + b * c
    return y


def silu(g):
    return g / (1 + np.exp(-g))


def gelu_tanh(g):
    return 0.5 * g * (1 + np.tanh(np.sqrt(2 / np.pi) * (g + 0.044715 * g ** 3)))


def moe_ffn(W, L, h, stats=None):
    """Qwen3-MoE experts: softmax over all router logits, top k renormalised to sum 1, SwiGLU
    experts, weighted sum. stats = (margins, chosen), when given: the list margins gets each
    token's gap between the k-th and the (k+1)-th router logit, the set chosen the (layer id,
    expert) pairs used."""
    k = W["n_expert_used"]
    logits = h @ L["gate_inp"].T
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        order = np.argsort(-logits[t], kind="stable")
        top = order[:k]
        if stats is not None:
            stats[0].append(logits[t, order[k - 1]] - logits[t, order[k]] if k < len(order) else np.inf)
            stats[1].update((id(L), int(e)) for e in top)
        wts = p[t, top] / p[t, top].sum()
        for e, wgt in zip(top, wts):
            g, u = L["gate_exps"][e] @ h[t], L["up_exps"][e] @ h[t]
            out[t] += wgt * (L["down_exps"][e] @ (silu(g) * u))
    return out


def reference(W, tokens, kv_f16, moe_stats=None):
    n, nh, nkv, hd, eps = len(tokens), W["n_head"], W["n_kv"], W["hd"], W["eps"]
    pos = np.arange(n, dtype=np.float64)
    x = W["tok_embd"][tokens]
    gemma = W["arch"] == "gemma3"
    if gemma:
        x = x * np.sqrt(W["n_embd"])
    for il, L in enumerate(W["layers"]):
        base, pos_scale, window, scale = W["base"], 1.0, 0, 1 / np.sqrt(hd)
        if gemma:
            if (il + 1) % 6:   # sliding-window layer: its own base, no rope scaling
                base, window = W["base_swa"] or 10000.0, W["window"]
            elif W["rope_linear"]:
                pos_scale = 1 / W["rope_linear"]
            if W["attn_scalar"]:
                scale = W["attn_scalar"] ** -0.5
        h = rms(x, L["attn_norm"], eps)
        q, k, v = h @ L["wq"].T, h @ L["wk"].T, h @ L["wv"].T
        if "bq" in L:
            q, k, v = q + L["bq"], k + L["bk"], v + L["bv"]
        q, k, v = q.reshape(n, nh, hd), k.reshape(n, nkv, hd), v.reshape(n, nkv, hd)
        if "q_norm" in L:
            q, k = rms(q, L["q_norm"], eps), rms(k, L["k_norm"], eps)
        q = rope(q, pos, base, W["neox"], W["rope_freqs"], pos_scale)
        k = rope(k, pos, base, W["neox"], W["rope_freqs"], pos_scale)
        if kv_f16:
            k, v = k.astype(np.float16).astype(np.float64), v.astype(np.float16).astype(np.float64)
        out = np.zeros((n, nh, hd))
        mask = np.triu(np.full((n, n), -np.inf), 1)
        if window:   # key j is visible to query i iff i - window < j <= i
            mask = mask + np.tril(np.full((n, n), -np.inf), -window)
        for hh in range(nh):
            kh = hh // (nh // nkv)
            s = q[:, hh] @ k[:, kh].T * scale + mask
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            out[:, hh] = p @ v[:, kh]
        a = out.reshape(n, nh * hd) @ L["wo"].T
        x = x + (rms(a, L["post_attn_norm"], eps) if gemma else a)
        h = rms(x, L["ffn_norm"], eps)
        if "gate_inp" in L:
            x = x + moe_ffn(W, L, h, moe_stats)
            continue
        g, u = h @ L["gate"].T, h @ L["up"].T
        if gemma:
            x = x + rms((gelu_tanh(g) * u) @ L["down"].T, L["post_ffn_norm"], eps)
            continue
        x = x + (silu(g) * u) @ L["down"].T
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


MOE_CASES = [
    # name, make_model options, kv, bound, router margin
    ("qwen3moe 8 experts top 2, f32", dict(base=1e6), "f32", 1e-8, 0.02),
    ("qwen3moe q8_0 experts, f16 cache", dict(qtype="q8_0", base=1e6), "f16", 1e-3, 0.1),
]


def knob_env(no_mmfuse=False, no_ropekv=False, no_fuse=None, **extra):
    """The environment with the engine's fusion switches as asked: MLXN_NO_MMFUSE and
    MLXN_NO_ROPEKV set or removed, MLXN_NO_FUSE too unless no_fuse is None; `extra` added."""
    env = dict(os.environ, **extra)
    for key, on in (("MLXN_NO_MMFUSE", no_mmfuse), ("MLXN_NO_ROPEKV", no_ropekv), ("MLXN_NO_FUSE", no_fuse)):
        if on is None:
            continue
        env.pop(key, None)
        if on:
            env[key] = "1"
    return env


def run_tool(path, out, kv, batch, tokens, no_mmfuse=False, no_ropekv=False, no_fuse=None):
    r = subprocess.run([BIN, path, out, "--backend", BACKEND, "--kv", kv, "--batch", str(batch)] +
                       [str(t) for t in tokens], capture_output=True, text=True,
                       env=knob_env(no_mmfuse, no_ropekv, no_fuse))
    if r.returncode != 0:
        return None, r.stderr.strip()
    return np.fromfile(out, dtype=np.float32).reshape(len(tokens), -1).astype(np.float64), ""


def bench_v(path, env):
    """`mlxn bench -v` over 4 decode steps (stderr says the fusion and op counts of a step)."""
    return subprocess.run([MLXN, "bench", "-m", path, "-p", "0", "-n", "4", "-r", "1", "--device", BACKEND, "-v"],
                          capture_output=True, text=True, env=env)


def decode_ops(ops):
    """What bench -v says of a decode step of `ops` ops: the first step runs op by op; on CUDA the
    next one is recorded as a graph."""
    return ("decode step (op by op): %d ops" if ON_CPU else "decode graph recorded: %d ops") % ops


def moe_op_count(path, n_layer, mmfuse):
    """A decode step: embedding, LM head, argmax, and per layer the qwen3 attention (q|k|v, the
    q and k norms, rope_kv, attention, o: 6) and the experts (norm, router, route, gate, up, glu,
    down, combine: 8); MLXN_NO_MMFUSE=1: the first norm, and per layer add_rms_norm before the
    experts and rms_norm after them instead of the norm (15)."""
    op_count("qwen3moe", path, 3 + 14 * n_layer if mmfuse else 4 + 15 * n_layer, mmfuse)


def moe_tests(rng, tmp):
    for ci, (name, opts, kv, bound, margin) in enumerate(MOE_CASES):
        W = make_model("qwen3moe", rng, **opts)
        path = os.path.join(tmp, "moe%d.gguf" % ci)
        write_gguf(W, path)
        # a sequence whose every expert choice is clear in the reference and that uses every
        # expert of every layer (see the docstring)
        for attempt in range(1000):
            tokens = rng.integers(0, W["n_vocab"], 13)
            margins, chosen = [], set()
            ref = reference(W, tokens, kv == "f16", (margins, chosen))
            if min(margins) >= margin and len(chosen) == W["n_expert"] * W["n_layer"]:
                break
        check(min(margins) >= margin, "%s: no token sequence with clear expert choices" % name)
        check(len(chosen) == W["n_expert"] * W["n_layer"], "%s: only %d of the %d (layer, expert) pairs are chosen"
              % (name, len(chosen), W["n_expert"] * W["n_layer"]))
        if not ON_CPU:   # GPU kernels round f32 weights and activations their own way
            bound = max(bound, 1e-4)
        for batch in (512, 5, 1):
            got, err = run_tool(path, os.path.join(tmp, "moe%d_%d.f32" % (ci, batch)), kv, batch, tokens)
            unf, err2 = run_tool(path, os.path.join(tmp, "moeu%d_%d.f32" % (ci, batch)), kv, batch, tokens, True)
            if got is None or unf is None:
                check(False, "%s batch %d: tool failed: %s %s" % (name, batch, err, err2))
                continue
            nmse = ((got - ref) ** 2).sum() / (ref ** 2).sum()
            nmse_u = ((unf - ref) ** 2).sum() / (ref ** 2).sum()
            top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            rel = np.abs(got - unf).max() / np.abs(unf).max()
            print("%-45s batch %3d: NMSE %.3g (MLXN_NO_MMFUSE=1 %.3g), top-1 %.0f%%, max |default - unfused| / max "
                  "%.2g (min router margin %.3f, draw %d)" % (name, batch, nmse, nmse_u, 100 * top1, rel, min(margins),
                                                                attempt + 1))
            check(nmse < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, nmse, bound))
            check(nmse_u < bound, "%s batch %d (MLXN_NO_MMFUSE=1): NMSE %.3g >= %.g" % (name, batch, nmse_u, bound))
            # the cpu backend runs the same f32 arithmetic both ways; ref's fused products sum in
            # double, GPUs round their own way
            check(rel == 0 if BACKEND == "cpu" else rel < (1e-5 if ON_CPU else 1e-3),
                  "%s batch %d: default and MLXN_NO_MMFUSE=1 differ by %.3g (relative)" % (name, batch, rel))
        if ci == 0:
            for mmfuse in (True, False):
                moe_op_count(path, W["n_layer"], mmfuse)

    # `mlxn synth --shape tiny-moe` (the qwen3-30b-a3b layout, small): loads, runs, counts
    synth_check(tmp, "tiny-moe", "qwen3moe", 3 + 14 * 2, [1, 5, 9, 700, 3])

    # loader errors, each naming what is wrong
    errors = [
        ("missing expert tensor", dict(drop={"blk.1.ffn_up_exps.weight"}),
         "missing tensor 'blk.1.ffn_up_exps.weight' (architecture qwen3moe)"),
        ("missing router", dict(drop={"blk.0.ffn_gate_inp.weight"}),
         "missing tensor 'blk.0.ffn_gate_inp.weight'"),
        ("missing expert_count", dict(drop={"qwen3moe.expert_count"}),
         "missing metadata key 'qwen3moe.expert_count'"),
        ("missing expert_feed_forward_length", dict(drop={"qwen3moe.expert_feed_forward_length"}),
         "missing metadata key 'qwen3moe.expert_feed_forward_length'"),
        ("expert tensor of the wrong shape", dict(meta={"expert_feed_forward_length": 48}),
         "tensor 'blk.0.ffn_gate_exps.weight' has shape {128, 64, 8}, expected {128, 48, 8}"),
        ("expert_used_count above expert_count", dict(meta={"expert_used_count": 9}),
         "'qwen3moe.expert_used_count' = 9 is outside [1, 8]"),
    ]
    loader_errors("qwen3moe", 2, errors, rng, tmp)


GEMMA_CASES = [
    # name, make_model options, kv, bound
    ("gemma3 7 layers, window 4, tied, linear rope x8", dict(tied=True, base=1e6, rope_linear=8.0), "f32", 1e-8),
    ("gemma3 q8_0, f16 cache, window 5, swa base, scale", dict(qtype="q8_0", base=1e6, window=5, base_swa=5e4,
                                                           attn_scalar=48.0), "f16", 1e-3),
    # per-layer weight types that leave v alone (q|k fused), nothing fused, gate and up apart
    ("gemma3 mixed q8_0/f32 layers (fusion cases)", dict(qtype="q8_0", base=1e6, untied_types=[
        {}, {"wv": "f32"}, {"wk": "f32"}, {"up": "f32"}]), "f32", 1e-3),
]


def op_count(label, path, want_ops, mmfuse):
    r = bench_v(path, knob_env(not mmfuse))
    want = decode_ops(want_ops)
    check(r.returncode == 0 and want in r.stderr, "%s: bench -v%s does not say '%s': %s"
          % (label, "" if mmfuse else " (MLXN_NO_MMFUSE=1)", want, r.stderr[-2000:]))
    print("%s op count%s: %s" % (label, "" if mmfuse else " (MLXN_NO_MMFUSE=1)", want))


def synth_check(tmp, shape, label, ops, tokens):
    """`mlxn synth --shape SHAPE --mix q8_0` writes a file that loads, counts `ops` a decode step
    and gives finite, non-constant logits."""
    sy = os.path.join(tmp, "synth_%s.gguf" % shape)
    r = subprocess.run([MLXN, "synth", "--shape", shape, "--mix", "q8_0", "-o", sy], capture_output=True, text=True)
    check(r.returncode == 0, "synth --shape %s: %s" % (shape, r.stderr))
    if r.returncode == 0:
        op_count(label, sy, ops, True)
        got, err = run_tool(sy, sy + ".f32", "f16", 512, tokens)
        check(got is not None and np.isfinite(got).all() and got.std() > 0, "synth %s logits: %s" % (shape, err))


def loader_errors(arch, n_layer, errors, rng, tmp):
    """Each (name, changes to a tiny model, message) is refused by the loader with the message."""
    for ei, (name, extra, want) in enumerate(errors):
        W = make_model(arch, rng, n_layer=n_layer)
        W.update(extra)
        path = os.path.join(tmp, "%s_err%d.gguf" % (arch, ei))
        write_gguf(W, path)
        got, err = run_tool(path, os.path.join(tmp, "%s_err.f32" % arch), "f32", 512, [1, 2, 3])
        check(got is None and want in err, "%s %s: want an error saying \"%s\", got: %s"
              % (arch, name, want, err if got is None else "success"))
        print("%s %-40s -> %s" % (arch, name, err))


def gemma_tests(rng, tmp):
    """gemma3: 7 layers (layer 5 global, the others sliding), a window shorter than the 13-token
    sequence; batches 512, 5 and 1, each also with MLXN_NO_MMFUSE=1 and MLXN_NO_ROPEKV=1; the op
    count of a decode step; loader errors."""
    for ci, (name, opts, kv, bound) in enumerate(GEMMA_CASES):
        opts = dict(opts)
        types = opts.pop("untied_types", None)
        W = make_model("gemma3", rng, n_layer=7, **opts)
        path = os.path.join(tmp, "gemma%d.gguf" % ci)
        write_gguf(W, path, types)
        tokens = rng.integers(0, W["n_vocab"], 13)
        ref = reference(W, tokens, kv == "f16")
        case_bound = bound   # the CPU bound: what the reference-sensitivity check below is about
        if not ON_CPU:
            bound = max(bound, 1e-4)
        for batch in (512, 5, 1):
            got, err = run_tool(path, os.path.join(tmp, "g%d_%d.f32" % (ci, batch)), kv, batch, tokens)
            unf, err2 = run_tool(path, os.path.join(tmp, "gu%d_%d.f32" % (ci, batch)), kv, batch, tokens, True)
            nrk, err3 = run_tool(path, os.path.join(tmp, "gr%d_%d.f32" % (ci, batch)), kv, batch, tokens, False, True)
            if got is None or unf is None or nrk is None:
                check(False, "%s batch %d: tool failed: %s %s %s" % (name, batch, err, err2, err3))
                continue
            nm = [((g - ref) ** 2).sum() / (ref ** 2).sum() for g in (got, unf, nrk)]
            top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            print("%-50s batch %3d: NMSE %.3g (MLXN_NO_MMFUSE=1 %.3g, MLXN_NO_ROPEKV=1 %.3g), top-1 %.0f%%"
                  % (name, batch, nm[0], nm[1], nm[2], 100 * top1))
            for v, what in zip(nm, ("", " (MLXN_NO_MMFUSE=1)", " (MLXN_NO_ROPEKV=1)")):
                check(v < bound, "%s batch %d%s: NMSE %.3g >= %.g" % (name, batch, what, v, bound))
        if ci == 2:   # q|k|v unfused in layers 2 and 6 (+2 each), v apart in 1 and 5 (+1), gate|up in 3 (+1)
            op_count("gemma3 mixed types", path, 4 + 12 * W["n_layer"] + 7, True)
        if ci == 0:
            # a decode step: embedding, its scale, LM head, argmax; per layer q|k|v, the q and k
            # norms, rope_kv, attention, o, post-norm, add, gate|up, down, post-norm, add (12);
            # MLXN_NO_MMFUSE=1: the first norm, per layer the same with add_rms_norm for the adds
            # and the GLU as an op (13)
            op_count("gemma3", path, 4 + 12 * W["n_layer"], True)
            op_count("gemma3", path, 5 + 13 * W["n_layer"], False)
            # the window, the sliding layers' base and the global layer's scaling matter on this
            # sequence: each changes the reference far beyond the bound (a short window keeps
            # the rotation angles of the sliding layers small, hence the smaller base effect)
            for change in (dict(window=0), dict(base_swa=1e6), dict(rope_linear=None)):
                alt = reference(dict(W, **change), tokens, kv == "f16")
                d = ((alt - ref) ** 2).sum() / (ref ** 2).sum()
                check(d > 1e3 * case_bound, "gemma3: the reference barely changes with %s (%.3g)" % (change, d))
                print("gemma3 reference with %s differs by NMSE %.3g" % (change, d))

    # `mlxn synth --shape gemma3-tiny` (7 layers, window 32): loads, runs, counts
    toks = [int(t) for t in rng.integers(0, 1024, 40)]
    synth_check(tmp, "gemma3-tiny", "gemma3 synth", 4 + 12 * 7, toks)

    errors = [
        ("missing post-attention norm", dict(drop={"blk.5.post_attention_norm.weight"}),
         "missing tensor 'blk.5.post_attention_norm.weight' (architecture gemma3)"),
        ("missing post-FFN norm", dict(drop={"blk.2.post_ffw_norm.weight"}),
         "missing tensor 'blk.2.post_ffw_norm.weight' (architecture gemma3)"),
        ("missing q norm", dict(drop={"blk.0.attn_q_norm.weight"}),
         "missing tensor 'blk.0.attn_q_norm.weight' (architecture gemma3)"),
        ("missing sliding_window", dict(drop={"gemma3.attention.sliding_window"}),
         "missing metadata key 'gemma3.attention.sliding_window'"),
    ]
    loader_errors("gemma3", 7, errors, rng, tmp)


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
    moe_tests(rng, tmp)
    gemma_tests(rng, tmp)
    finish()


if __name__ == "__main__":
    main()
