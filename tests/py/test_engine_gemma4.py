#!/usr/bin/env python3
"""The gemma4 architecture (shared/SPEC-MODELS.md, "Gemma 4"), dense and with experts beside the
dense MLP, checked against an independent float64 NumPy forward pass on tiny random models.

The files are written with the PyPI `gguf` package (tensor names of its GEMMA4 table:
ffn_gate_up_exps, pre_ffw_norm_2, post_ffw_norm_1/2, layer_output_scale; the spec's
ffn_gate_inp.scale and ffn_down_exps.scale), tests/tool_engine_logits prints mlxn's logits at
every position. The reference follows the spec line by line:
  x = embed * sqrt(n_embd); per layer (sliding or global, from the per-layer
  sliding_window_pattern or every 6th layer global):
    sliding: head 64 (key_length_swa), RoPE NEOX base rope.freq_base_swa over all 64 dims,
             window 4 (shorter than the 13-token prompt); q/k/v projections
    global:  head 128 (key_length), its own head_count_kv (a per-layer array), RoPE NEOX base
             rope.freq_base with rope_freqs [1 x16, 1e30 x48] (the first 25% of dims turn, as the
             real model's [1 x64, 1e30 x192]), no attn_v: V = the raw k projection (K = V).
             The bases are 1e4 (global) and 1e3 (sliding) rather than the real 1e6 / 1e4, so
             that over 13 positions the rotation (and so the rope_freqs) visibly matters.
    q_norm, k_norm with weights, v_norm without one; attention scale 1.0; GQA, causal
    h = x + post_attn_norm(attn)
    o1 = down(gelu_tanh(gate . ffn_norm(h)) * up . ffn_norm(h))
    MoE: o1 = post_ffw_norm_1(o1); logits = W_r . (rms_norm(h) * router_scale * n_embd^-0.5);
         top k, softmax over the k, times per_expert_scale[e];
         o2 = post_ffw_norm_2(sum_e w_e down_e(gelu_tanh(g_e) * u_e)), g|u = gate_up_e . pre_ffw_norm_2(h)
    x = (h + post_ffw_norm(o1 [+ o2])) * layer_output_scale
  logits = softcap * tanh((output_norm(x) . tok_embd) / softcap)
Norm weights are plain w (drawn as 1 + 0.1 N(0,1), multiplied as stored). The f16 cache is
modelled by rounding K and V to f16.

NMSE bounds over all logits, as for gemma3 (tests/py/test_engine_arch.py): 1e-8 for f32 weights
(only float32 rounding differs), 1e-3 for q8_0 weights (the fast CPU kernels round activations to
8 bits: ~1e-4 here); a defect such as a wrong RoPE pairing, a missing norm or softcap gives > 1e-2
(the sensitivity checks below show each feature moves the reference far beyond the bound).
The q8_0 MoE file stores gate and up as two stacks (ffn_gate_exps, ffn_up_exps), which the
loader also reads. MoE token sequences are drawn until every top-k choice is clear (k-th and (k+1)-th router logits
at least 0.02 apart for f32 weights, 0.1 for q8_0) and every expert of every layer is chosen.
Batches 512, 5 and 1 (decode route), each also with MLXN_NO_MMFUSE=1 and MLXN_NO_ROPEKV=1; op
counts of a decode step; loader errors naming the missing key or tensor; `mlxn synth --shape
gemma4-tiny` loads and runs."""
import os

import numpy as np
import gguf

from mlxn_testlib import abort, check, finish
from test_engine_arch import (BIN, ON_CPU, add_tensor, gelu_tanh, op_count, rms, rope, run_tool, synth_check)


# ---------------------------------------------------------------------------------------------
# Tiny models

def make_model(rng, *, pattern=None, n_layer=6, qtype="f32", n_embd=128, n_head=4, n_kv_swa=2, n_kv_glob=1,
               hd_swa=64, hd=128, n_ff=256, n_vocab=320, window=4, base=1e4, base_swa=1e3, softcap=30.0,
               moe=False, n_expert=8, n_expert_used=2, n_ff_exp=64, global_v=False, out_scale=True,
               split_exps=False):
    """Random weights (float64, PyTorch layout [rows, k]; expert stacks [n_expert, rows, k]).
    pattern: per-layer sliding flags written as the sliding_window_pattern array; None: the
    key is left out and layer i is global iff (i + 1) % 6 == 0. global_v: global layers keep
    their own attn_v (no K = V)."""
    sliding = list(pattern) if pattern is not None else [(i + 1) % 6 != 0 for i in range(n_layer)]
    W = {"n_embd": n_embd, "n_head": n_head, "hd": hd, "hd_swa": hd_swa, "n_ff": n_ff, "n_vocab": n_vocab,
         "n_layer": n_layer, "base": base, "base_swa": base_swa, "eps": 1e-6, "qtype": qtype, "window": window,
         "softcap": softcap, "pattern": pattern, "sliding": sliding, "moe": moe, "layers": [], "split_exps": split_exps,
         "n_kv": [n_kv_swa if s else n_kv_glob for s in sliding]}
    if moe:
        W.update(n_expert=n_expert, n_expert_used=n_expert_used, n_ff_exp=n_ff_exp)
    mat = lambda rows, k, sd=0.08: rng.normal(0, sd, (rows, k))
    norm = lambda n: 1 + 0.1 * rng.normal(size=n)
    W["tok_embd"] = rng.normal(0, 1.0, (n_vocab, n_embd))
    W["output_norm"] = norm(n_embd)
    W["rope_freqs"] = np.concatenate([np.ones(hd // 8), np.full(hd // 2 - hd // 8, 1e30)])
    for il in range(n_layer):
        d, nkv = (hd_swa if sliding[il] else hd), W["n_kv"][il]
        L = {"attn_norm": norm(n_embd), "wq": mat(n_head * d, n_embd), "wk": mat(nkv * d, n_embd),
             "wo": mat(n_embd, n_head * d), "q_norm": norm(d), "k_norm": norm(d),
             "post_attn_norm": norm(n_embd), "ffn_norm": norm(n_embd), "gate": mat(n_ff, n_embd),
             "up": mat(n_ff, n_embd), "down": mat(n_embd, n_ff), "post_ffn_norm": norm(n_embd)}
        if sliding[il] or global_v:
            L["wv"] = mat(nkv * d, n_embd)
        if out_scale:
            L["out_scale"] = np.array([0.6 + 0.8 * rng.random()])
        if moe:
            L.update(post_ffn_norm_1=norm(n_embd), pre_ffn_norm_2=norm(n_embd), post_ffn_norm_2=norm(n_embd),
                     gate_inp=mat(n_expert, n_embd, 2.0), router_scale=norm(n_embd),
                     gate_up_exps=rng.normal(0, 0.08, (n_expert, 2 * n_ff_exp, n_embd)),
                     down_exps=rng.normal(0, 0.08, (n_expert, n_embd, n_ff_exp)),
                     expert_scale=0.5 + rng.random(n_expert))
        W["layers"].append(L)
    return W


NAMES = {"attn_norm": "attn_norm.weight", "wq": "attn_q.weight", "wk": "attn_k.weight", "wv": "attn_v.weight",
         "wo": "attn_output.weight", "q_norm": "attn_q_norm.weight", "k_norm": "attn_k_norm.weight",
         "post_attn_norm": "post_attention_norm.weight", "ffn_norm": "ffn_norm.weight",
         "gate": "ffn_gate.weight", "up": "ffn_up.weight", "down": "ffn_down.weight",
         "post_ffn_norm": "post_ffw_norm.weight", "out_scale": "layer_output_scale.weight",
         "post_ffn_norm_1": "post_ffw_norm_1.weight", "pre_ffn_norm_2": "pre_ffw_norm_2.weight",
         "post_ffn_norm_2": "post_ffw_norm_2.weight", "gate_inp": "ffn_gate_inp.weight",
         "router_scale": "ffn_gate_inp.scale", "gate_up_exps": "ffn_gate_up_exps.weight",
         "down_exps": "ffn_down_exps.weight", "expert_scale": "ffn_down_exps.scale"}
F32_ALWAYS = {"gate_inp"}   # the router stays f32, as quantizers leave it


def write_gguf(W, path):
    """Writes W as a GGUF file and puts back into W what the file stores (the reference uses
    that). W['drop'] leaves tensor or metadata key names out; W['meta'] overrides metadata."""
    drop, meta = W.get("drop", set()), W.get("meta", {})
    w = gguf.GGUFWriter(path, "gemma4")
    def key(name, fn, v):
        if "gemma4." + name not in drop:
            fn(meta.get(name, v))
    key("block_count", w.add_block_count, W["n_layer"])
    key("context_length", w.add_context_length, 256)
    key("embedding_length", w.add_embedding_length, W["n_embd"])
    key("feed_forward_length", w.add_feed_forward_length, W["n_ff"])
    key("attention.head_count", w.add_head_count, W["n_head"])
    key("attention.head_count_kv", w.add_head_count_kv, W["n_kv"])
    key("attention.key_length", w.add_key_length, W["hd"])
    key("attention.value_length", w.add_value_length, W["hd"])
    key("attention.key_length_swa", w.add_key_length_swa, W["hd_swa"])
    key("attention.value_length_swa", w.add_value_length_swa, W["hd_swa"])
    key("rope.dimension_count", w.add_rope_dimension_count, W["hd"])
    key("rope.dimension_count_swa", w.add_rope_dimension_count_swa, W["hd_swa"])
    key("rope.freq_base", w.add_rope_freq_base, W["base"])
    key("rope.freq_base_swa", w.add_rope_freq_base_swa, W["base_swa"])
    key("attention.layer_norm_rms_epsilon", w.add_layer_norm_rms_eps, W["eps"])
    key("attention.sliding_window", w.add_sliding_window, W["window"])
    if W["pattern"] is not None:
        key("attention.sliding_window_pattern", w.add_sliding_window_pattern, [bool(s) for s in W["pattern"]])
    if W["softcap"]:
        key("final_logit_softcapping", w.add_final_logit_softcapping, W["softcap"])
    for name, v in W.get("extra_keys", {}).items():
        w.add_uint32("gemma4." + name, v)
    if W["moe"]:
        key("expert_count", w.add_expert_count, W["n_expert"])
        key("expert_used_count", w.add_expert_used_count, W["n_expert_used"])
        key("expert_feed_forward_length", w.add_expert_feed_forward_length, W["n_ff_exp"])

    def add(name, arr, vec=False, qt=None):
        return add_tensor(w, drop, name, arr, vec, qt or W["qtype"])

    W["tok_embd"] = add("token_embd.weight", W["tok_embd"])
    W["output_norm"] = add("output_norm.weight", W["output_norm"], True)
    W["rope_freqs"] = add("rope_freqs.weight", W["rope_freqs"], True)
    for i, L in enumerate(W["layers"]):
        for k in list(L):
            if k == "gate_up_exps" and W["split_exps"]:   # two stacks: ffn_gate_exps, ffn_up_exps
                F = W["n_ff_exp"]
                g = add("blk.%d.ffn_gate_exps.weight" % i, L[k][:, :F])
                u = add("blk.%d.ffn_up_exps.weight" % i, L[k][:, F:])
                L[k] = np.concatenate([g, u], axis=1)
                continue
            L[k] = add("blk.%d.%s" % (i, NAMES[k]), L[k], L[k].ndim == 1, "f32" if k in F32_ALWAYS else None)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---------------------------------------------------------------------------------------------
# Reference forward pass (float64)

def experts(W, L, h, stats=None):
    """The MoE branch on h (n, n_embd) before its post-norm; stats = (margins, chosen) as in
    test_engine_arch.moe_ffn."""
    E, k, F = W["n_embd"], W["n_expert_used"], W["n_ff_exp"]
    logits = (rms(h, 1.0, W["eps"]) * L["router_scale"] * E ** -0.5) @ L["gate_inp"].T
    xe = rms(h, L["pre_ffn_norm_2"], W["eps"])
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        order = np.argsort(-logits[t], kind="stable")
        top = order[:k]
        if stats is not None:
            stats[0].append(logits[t, order[k - 1]] - logits[t, order[k]])
            stats[1].update((id(L), int(e)) for e in top)
        p = np.exp(logits[t, top] - logits[t, top].max())
        p = p / p.sum() * L["expert_scale"][top]
        for e, wgt in zip(top, p):
            gu = L["gate_up_exps"][e] @ xe[t]
            out[t] += wgt * (L["down_exps"][e] @ (gelu_tanh(gu[:F]) * gu[F:]))
    return out


def reference(W, tokens, kv_f16, stats=None):
    n, nh, eps = len(tokens), W["n_head"], W["eps"]
    pos = np.arange(n, dtype=np.float64)
    x = W["tok_embd"][tokens] * np.sqrt(W["n_embd"])
    for il, L in enumerate(W["layers"]):
        sl, nkv = W["sliding"][il], W["n_kv"][il]
        hd = W["hd_swa"] if sl else W["hd"]
        base, ff, window = (W["base_swa"], None, W["window"]) if sl else (W["base"], W["rope_freqs"], 0)
        h = rms(x, L["attn_norm"], eps)
        q = (h @ L["wq"].T).reshape(n, nh, hd)
        k = (h @ L["wk"].T).reshape(n, nkv, hd)
        v = (h @ L["wv"].T).reshape(n, nkv, hd) if "wv" in L else k.copy()   # K = V: the raw k projection
        q, k, v = rms(q, L["q_norm"], eps), rms(k, L["k_norm"], eps), rms(v, 1.0, eps)
        q, k = rope(q, pos, base, True, ff), rope(k, pos, base, True, ff)
        if kv_f16:
            k, v = k.astype(np.float16).astype(np.float64), v.astype(np.float16).astype(np.float64)
        mask = np.triu(np.full((n, n), -np.inf), 1)
        if window:   # key j is visible to query i iff i - window < j <= i
            mask = mask + np.tril(np.full((n, n), -np.inf), -window)
        att = np.zeros((n, nh, hd))
        for hh in range(nh):
            kh = hh // (nh // nkv)
            s = q[:, hh] @ k[:, kh].T + mask   # scale 1.0
            p = np.exp(s - s.max(-1, keepdims=True))
            att[:, hh] = (p / p.sum(-1, keepdims=True)) @ v[:, kh]
        x = x + rms(att.reshape(n, nh * hd) @ L["wo"].T, L["post_attn_norm"], eps)
        hf = rms(x, L["ffn_norm"], eps)
        o = (gelu_tanh(hf @ L["gate"].T) * (hf @ L["up"].T)) @ L["down"].T
        if "gate_inp" in L:
            o = rms(o, L["post_ffn_norm_1"], eps) + rms(experts(W, L, x, stats), L["post_ffn_norm_2"], eps)
        x = x + rms(o, L["post_ffn_norm"], eps)
        if "out_scale" in L:
            x = x * L["out_scale"][0]
    logits = rms(x, W["output_norm"], eps) @ W["tok_embd"].T
    if W["softcap"]:
        logits = W["softcap"] * np.tanh(logits / W["softcap"])
    return logits


def nmse(got, ref):
    return ((got - ref) ** 2).sum() / (ref ** 2).sum()


# ---------------------------------------------------------------------------------------------

CASES = [
    # name, make_model options, kv, bound, router margin (MoE)
    ("dense 6 layers (layer 5 global, K = V), f32", dict(), "f32", 1e-8, None),
    ("dense q8_0, f16 cache, softcap 10, global attn_v", dict(qtype="q8_0", softcap=10.0, global_v=True),
     "f16", 1e-3, None),
    ("MoE 3 layers [swa, global, swa], f32", dict(moe=True, n_layer=3, pattern=[1, 0, 1]), "f32", 1e-8, 0.02),
    ("MoE q8_0, f16 cache, no output scale, split stacks", dict(moe=True, n_layer=3, pattern=[1, 0, 1],
                                                               qtype="q8_0", out_scale=False, split_exps=True),
     "f16", 1e-3, 0.1),
]


def draw_tokens(W, rng, kv, margin):
    """13 tokens; for MoE a sequence whose every expert choice is clear and that uses every expert
    of every layer (see the docstring)."""
    for attempt in range(3000):
        tokens = rng.integers(0, W["n_vocab"], 13)
        if margin is None:
            return tokens, reference(W, tokens, kv == "f16"), attempt
        margins, chosen = [], set()
        ref = reference(W, tokens, kv == "f16", (margins, chosen))
        if min(margins) >= margin and len(chosen) == W["n_expert"] * W["n_layer"]:
            return tokens, ref, attempt
    check(False, "no token sequence with clear expert choices that uses every expert")
    return tokens, ref, attempt


def decode_ops(W):
    """Ops of a decode step (see forward.c, gemma4_layers): embedding, its scale, LM head, the
    softcap's scale, tanh, scale, argmax; per layer the attention (q|k|v or q|k, v norm or
    V = norm(K), q and k norms, rope_kv, attention, o: 7), post-norm, add; dense: gate|up,
    down, post-norm, add; MoE: router, its scale, route, norm, gate|up, glu, down, combine,
    post-norm (9), gate|up, down, post-norm 1, add_rms_norm, add; the output scale.
    MLXN_NO_MMFUSE=1: + the norm before the attention and before the MLP, the GLU as an op, the
    router's norm (MoE), and the final norm."""
    fused, unfused = 4 + (3 if W["softcap"] else 0), 5 + (3 if W["softcap"] else 0)
    for L in W["layers"]:
        per = 9 + (14 if "gate_inp" in L else 4) + ("out_scale" in L)
        fused += per
        unfused += per + 3 + ("gate_inp" in L)
    return fused, unfused


def model_tests(rng, tmp):
    for ci, (name, opts, kv, bound, margin) in enumerate(CASES):
        W = make_model(rng, **opts)
        path = os.path.join(tmp, "g4_%d.gguf" % ci)
        write_gguf(W, path)
        tokens, ref, attempt = draw_tokens(W, rng, kv, margin)
        case_bound = bound   # the CPU bound: what the reference-sensitivity check is about
        if not ON_CPU:
            bound = max(bound, 1e-4)
        for batch in (512, 5, 1):
            outs = []
            for knobs in ((False, False), (True, False), (False, True)):
                got, err = run_tool(path, os.path.join(tmp, "g4_%d_%d.f32" % (ci, batch)), kv, batch, tokens, *knobs)
                if not check(got is not None, "%s batch %d %s: tool failed: %s" % (name, batch, knobs, err)):
                    break
                outs.append(nmse(got, ref))
                if knobs == (False, False):
                    top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
            if len(outs) < 3:
                continue
            print("%-50s batch %3d: NMSE %.3g (MLXN_NO_MMFUSE=1 %.3g, MLXN_NO_ROPEKV=1 %.3g), top-1 %.0f%%%s"
                  % (name, batch, outs[0], outs[1], outs[2], 100 * top1, "" if margin is None else
                     " (draw %d)" % (attempt + 1)))
            for v, what in zip(outs, ("", " (MLXN_NO_MMFUSE=1)", " (MLXN_NO_ROPEKV=1)")):
                check(v < bound, "%s batch %d%s: NMSE %.3g >= %.g" % (name, batch, what, v, bound))
        if ci in (0, 2):
            fused, unfused = decode_ops(W)
            op_count("gemma4 " + ("MoE" if W["moe"] else "dense"), path, fused, True)
            op_count("gemma4 " + ("MoE" if W["moe"] else "dense"), path, unfused, False)
            # each feature moves the reference far beyond the bound on these sequences
            changes = [("no window", dict(window=0)), ("no softcap", dict(softcap=0.0)),
                       ("sliding base = global base", dict(base_swa=W["base"])),
                       ("rope_freqs all 1", dict(rope_freqs=np.ones_like(W["rope_freqs"]))),
                       ("no global rotation", dict(rope_freqs=np.full_like(W["rope_freqs"], 1e30)))]
            if W["moe"]:
                changes.append(("expert scale 1", dict(layers=[dict(L, expert_scale=np.ones_like(L["expert_scale"]))
                                                               for L in W["layers"]])))
                changes.append(("router scale 1", dict(layers=[dict(L, router_scale=np.ones_like(L["router_scale"]))
                                                               for L in W["layers"]])))
            for what, change in changes:
                d = nmse(reference(dict(W, **change), tokens, kv == "f16"), ref)
                check(d > 1e3 * case_bound, "gemma4: the reference barely changes with %s (%.3g)" % (what, d))
                print("gemma4 %s reference with %s differs by NMSE %.3g" % ("MoE" if W["moe"] else "dense", what, d))


def loader_errors(rng, tmp):
    errors = [
        ("missing attn_v on a sliding layer", dict(), dict(drop={"blk.0.attn_v.weight"}),
         "missing tensor 'blk.0.attn_v.weight' (architecture gemma4)"),
        ("missing k norm", dict(), dict(drop={"blk.1.attn_k_norm.weight"}),
         "missing tensor 'blk.1.attn_k_norm.weight' (architecture gemma4)"),
        ("missing post-FFN norm", dict(), dict(drop={"blk.2.post_ffw_norm.weight"}),
         "missing tensor 'blk.2.post_ffw_norm.weight' (architecture gemma4)"),
        ("missing post_ffw_norm_2", dict(), dict(drop={"blk.1.post_ffw_norm_2.weight"}),
         "missing tensor 'blk.1.post_ffw_norm_2.weight' (architecture gemma4)"),
        ("missing pre_ffw_norm_2", dict(), dict(drop={"blk.0.pre_ffw_norm_2.weight"}),
         "missing tensor 'blk.0.pre_ffw_norm_2.weight' (architecture gemma4)"),
        ("missing router scale", dict(), dict(drop={"blk.2.ffn_gate_inp.scale"}),
         "missing tensor 'blk.2.ffn_gate_inp.scale' (architecture gemma4)"),
        ("missing per-expert scale", dict(), dict(drop={"blk.0.ffn_down_exps.scale"}),
         "missing tensor 'blk.0.ffn_down_exps.scale' (architecture gemma4)"),
        ("missing gate|up experts", dict(), dict(drop={"blk.1.ffn_gate_up_exps.weight"}),
         "missing tensor 'blk.1.ffn_gate_up_exps.weight' (architecture gemma4)"),
        ("missing sliding_window", dict(), dict(drop={"gemma4.attention.sliding_window"}),
         "missing metadata key 'gemma4.attention.sliding_window'"),
        ("missing expert_used_count", dict(), dict(drop={"gemma4.expert_used_count"}),
         "missing metadata key 'gemma4.expert_used_count'"),
        ("missing feed_forward_length", dict(), dict(drop={"gemma4.feed_forward_length"}),
         "missing metadata key 'gemma4.feed_forward_length'"),
        ("head_count_kv array too short", dict(), dict(meta={"attention.head_count_kv": [2, 1]}),
         "metadata array 'gemma4.attention.head_count_kv' has 2 entries, layer 2 needs one"),
        ("K = V with value_length != key_length", dict(), dict(meta={"attention.value_length": 64}),
         "layer 1 has no 'blk.1.attn_v.weight' (V = K) but value_length 64 != key_length 128"),
        ("rope_freqs of the wrong length", dict(), dict(rope_freqs_len=32),
         "tensor 'rope_freqs.weight' has shape {32}, expected {64}"),
        ("per-layer embeddings (E2B/E4B)", dict(), dict(extra_keys={"embedding_length_per_layer_input": 256}),
         "gemma4 with per-layer embeddings or shared KV layers"),
    ]
    for ei, (name, opts, extra, want) in enumerate(errors):
        W = make_model(rng, moe=True, n_layer=3, pattern=[1, 0, 1], **opts)
        if "rope_freqs_len" in extra:
            W["rope_freqs"] = W["rope_freqs"][:extra.pop("rope_freqs_len")]
        W.update(extra)
        path = os.path.join(tmp, "g4_err%d.gguf" % ei)
        write_gguf(W, path)
        got, err = run_tool(path, os.path.join(tmp, "g4_err.f32"), "f32", 512, [1, 2, 3])
        check(got is None and want in err, "gemma4 %s: want an error saying \"%s\", got: %s"
              % (name, want, err if got is None else "success"))
        print("gemma4 %-40s -> %s" % (name, err))


def main():
    if not os.path.exists(BIN):
        abort("%s is missing" % BIN)
    rng = np.random.default_rng(11)
    import tempfile
    tmp = tempfile.mkdtemp()
    model_tests(rng, tmp)
    loader_errors(rng, tmp)
    # `mlxn synth --shape gemma4-tiny` (the 26B-A4B layout, small: 6 layers, layer 5 global with
    # K = V, experts beside the MLP): loads, runs, counts its decode ops
    W = make_model(rng, moe=True)
    synth_check(tmp, "gemma4-tiny", "gemma4 synth", decode_ops(W)[0], [int(t) for t in rng.integers(0, 1024, 40)])
    finish()


if __name__ == "__main__":
    main()
