#!/usr/bin/env python3
"""Hugging Face / mlx-lm model folders (config.json + *.safetensors) loaded by mlxn_model_load:
llama, qwen2 and qwen3, plain f32 / bf16 weights and MLX affine-quantized ones, checked against
the float64 NumPy forward pass of test_engine_arch.py (imported, not copied) on tiny random
models, with the NEOX RoPE pairing on the unpermuted q/k weights that HF files hold.

Writers: f32 folders with PyPI `safetensors` (numpy), bf16 / f16 and quantized folders with PyPI
`mlx` (`mx.save_safetensors`; numpy has no bfloat16). Quantized modules come from
`mx.quantize` (affine 3, 4, 5, 6 and 8 bits, groups of 32, 64 and 128, and mxfp4; embedding and LM head
included as mlx-lm does), and the reference computes with `mx.dequantize` of the stored arrays,
so it is an independent oracle for mlxn's MLX codec and the loader's layout of weight, scales and biases.

Bounds on the normalised MSE over all logits (13 tokens, batches 512, 5 and 1):
  - f32 and bf16 weights with an f32 cache: 1e-8. The reference computes with exactly the stored
    values; only float32 rounding of activations differs (test_engine_arch: ~1e-13 on the
    reference backend, the same bound for its f32 cases).
  - f16 cache: K and V are rounded to f16 in the reference as well; 1e-6 covers the rounding
    of values that differ in the last f32 bits before the cast.
  - MLX-quantized weights: 1e-6. mlxn rounds scale*q + bias in the scale dtype as MLX does, so
    the weights are the reference's (measured: ~1e-13 with bf16 scales, ~3e-10 with f16 scales
    and an f16 cache); a kernel may still differ from MLX by 1 ulp of the scale dtype on some
    weights. The reference computed with the weights before quantization instead differs by
    1.4e-4 (8 bits) to 0.14 (3 bits), and the test checks it stays > 100x the bound, so a wrong
    packing, group, scale or bias layout cannot pass.
The same weights as a GGUF file (PyPI gguf writer; llama's q/k rows permuted as the converter
does, so that NORM RoPE there equals NEOX RoPE here) give the same logits to 1e-5 relative.
Also: two shards with model.safetensors.index.json, MLXN_NO_FUSE=1 against the fused default,
a layer whose v_proj is left unquantized (per-module `false` in the quantization block: q|k fused,
v apart), llama3 rope_scaling (factors computed here from the formula), linear rope_scaling
(positions / factor in the reference's RoPE), and loader errors that
each name the folder and what is wrong.

qwen3_moe (8 experts, top 2, 2 layers; test_engine_arch's qwen3moe reference and its router
margin draw: every top-k choice at least 0.02 apart in router logit, every expert used): Hugging
Face per-expert modules (f32; bf16 tied with an f16 cache), mlx-lm `switch_mlp` stacks (bf16
unquantized; `mx.quantize` 4-bit g64 with an 8-bit router given as a per-module override; 8-bit
g32 f16 with an f16 cache; mxfp4), batches 512/5/1 and MLXN_NO_FUSE=1 with the bounds above; one set
of f32 weights as both folder layouts and as a GGUF file gives the same logits; loader errors
for missing experts / router / keys, norm_topk_prob false or absent, dense layers
(decoder_sparse_step, mlp_only_layers), wrong stack shapes and mixed expert quantization."""
import json, os, shutil, subprocess, tempfile

import numpy as np
import mlx.core as mx
import safetensors.numpy as stnp

import test_engine_arch as arch
from mlxn_testlib import MLXN, abort, check, finish


def as_np(a):
    return np.array(a.astype(mx.float32)).astype(np.float64)


def storage(a, dtype):
    """(array to write, float64 values the model computes with) for dtype f32 / bf16 / f16."""
    if dtype == "f32":
        a32 = a.astype(np.float32)
        return a32, a32.astype(np.float64)
    m = mx.array(a.astype(np.float32)).astype(mx.bfloat16 if dtype == "bf16" else mx.float16)
    return m, as_np(m)


def llama3_factors(hd, base, factor, low, high, orig):
    """Llama 3.1 rope_scaling as frequency divisors (SPEC-MODELS.md): wavelength 2 pi / inv_freq;
    above orig/low: divided by factor; below orig/high: unchanged; between: smooth."""
    inv = base ** (-np.arange(0, hd, 2) / hd)
    wl = 2 * np.pi / inv
    smooth = (orig / wl - low) / (high - low)
    f = np.where(wl < orig / high, 1.0, np.where(wl > orig / low, factor, 1 / ((1 - smooth) / factor + smooth)))
    return f


HF_NAMES = {"attn_norm": "input_layernorm", "wq": "self_attn.q_proj", "wk": "self_attn.k_proj",
            "wv": "self_attn.v_proj", "wo": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
            "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj",
            "bq": "self_attn.q_proj.bias", "bk": "self_attn.k_proj.bias", "bv": "self_attn.v_proj.bias",
            "q_norm": "self_attn.q_norm", "k_norm": "self_attn.k_norm", "gate_inp": "mlp.gate"}
# qwen3moe expert stacks [n_expert, rows, k]: the projection each one is
EXPERT_PROJ = {"gate_exps": "gate_proj", "up_exps": "up_proj", "down_exps": "down_proj"}


def write_folder(W, path, dtype="f32", quant=None, unquantized=(), shards=1, drop=(), cfg_drop=(), cfg_set=None,
                 rope_scaling=None, experts="hf", overrides=None):
    """Writes W as an HF folder and puts back into W what the folder stores (the reference uses
    that). quant = (bits, group): every linear and the embedding via mx.quantize (modules named in
    `unquantized` stay float, with a per-module false; modules in `overrides` {module: (bits,
    group)} get their own, with a per-module entry as mlx-lm writes it). drop: tensor names left
    out; cfg_drop / cfg_set: config.json keys removed / overridden. qwen3moe experts: "hf" writes
    one module per expert (mlp.experts.E.*_proj), "mlx" the stacks of mlx-lm
    (mlp.switch_mlp.*_proj, [n_expert, out, in], quantized per expert by mx.quantize)."""
    os.makedirs(path, exist_ok=True)
    tensors = {}
    qcfg = None
    mode = quant[2] if quant and len(quant) > 2 else "affine"
    if quant:
        qcfg = {"group_size": quant[1], "bits": quant[0]}
        if mode != "affine":
            qcfg["mode"] = mode

    def lin(module, a, quantize=True):
        if quant and quantize and module not in unquantized:
            bits, group = (overrides or {}).get(module, quant[:2])
            if (overrides or {}).get(module):
                qcfg[module] = {"group_size": group, "bits": bits}
            q = mx.quantize(storage(a, dtype)[0], group_size=group, bits=bits, mode=mode)
            wq, s, b = q if mode == "affine" else (q[0], q[1], None)
            tensors[module + ".weight"], tensors[module + ".scales"] = wq, s
            if b is not None:
                tensors[module + ".biases"] = b
            return as_np(mx.dequantize(wq, s, b, group_size=group, bits=bits, mode=mode))
        if quant and module in unquantized:
            qcfg[module] = False
        tensors[module + ".weight"], used = storage(a, dtype)
        return used

    def vec(name, a):
        tensors[name], used = storage(a, dtype)
        return used

    W["neox"] = True   # HF weights are not permuted: NEOX pairs for every architecture
    W["tok_embd"] = lin("model.embed_tokens", W["tok_embd"])
    W["output_norm"] = vec("model.norm.weight", W["output_norm"])
    if W["output"] is not None:
        W["output"] = lin("lm_head", W["output"])
    for i, L in enumerate(W["layers"]):
        for k in list(L):
            if k in EXPERT_PROJ and experts == "mlx":
                L[k] = lin("model.layers.%d.mlp.switch_mlp.%s" % (i, EXPERT_PROJ[k]), L[k])
                continue
            if k in EXPERT_PROJ:
                L[k] = np.stack([lin("model.layers.%d.mlp.experts.%d.%s" % (i, e, EXPERT_PROJ[k]), L[k][e])
                                 for e in range(L[k].shape[0])])
                continue
            name = "model.layers.%d.%s" % (i, HF_NAMES[k])
            if L[k].ndim == 1:
                L[k] = vec(name if k.startswith("b") else name + ".weight", L[k])
            else:
                L[k] = lin(name, L[k])
    for name in drop:
        tensors.pop(name)

    cfg = {"model_type": {"qwen3moe": "qwen3_moe"}.get(W["arch"], W["arch"]),
           "architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM",
                              "qwen3moe": "Qwen3MoeForCausalLM"}[W["arch"]]],
           "hidden_size": W["n_embd"], "intermediate_size": W["n_ff"], "num_hidden_layers": W["n_layer"],
           "num_attention_heads": W["n_head"], "num_key_value_heads": W["n_kv"], "head_dim": W["hd"],
           "vocab_size": W["n_vocab"], "max_position_embeddings": 256, "rms_norm_eps": W["eps"],
           "rope_theta": W["base"], "tie_word_embeddings": W["output"] is None,
           "torch_dtype": {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}[dtype]}
    if W["arch"] == "qwen3moe":
        cfg.update(num_experts=W["n_expert"], num_experts_per_tok=W["n_expert_used"],
                   moe_intermediate_size=W["n_ff_exp"], norm_topk_prob=True, decoder_sparse_step=1, mlp_only_layers=[])
    if rope_scaling:
        cfg["rope_scaling"] = rope_scaling
    if qcfg:
        cfg["quantization"] = qcfg
    cfg.update(cfg_set or {})
    for k in cfg_drop:
        cfg.pop(k)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f)

    names = sorted(tensors)
    parts = [names[i::shards] for i in range(shards)]
    files = ["model.safetensors"] if shards == 1 else \
        ["model-%05d-of-%05d.safetensors" % (i + 1, shards) for i in range(shards)]
    for fname, part in zip(files, parts):
        sub = {n: tensors[n] for n in part}
        if all(isinstance(v, np.ndarray) for v in sub.values()):
            stnp.save_file(sub, os.path.join(path, fname), metadata={"format": "pt"})
        else:
            mx.save_safetensors(os.path.join(path, fname),
                                {n: v if isinstance(v, mx.array) else mx.array(v) for n, v in sub.items()},
                                metadata={"format": "mlx"})
    if shards > 1:
        with open(os.path.join(path, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": {n: fname for fname, part in zip(files, parts) for n in part}}, f)


def permute_for_gguf(w, n_head):
    """The GGUF converter's q/k row order: per head, the first-half and second-half rows
    interleaved, so that NORM (adjacent pair) RoPE computes HF's NEOX rotation."""
    rows, k = w.shape
    hd = rows // n_head
    return w.reshape(n_head, 2, hd // 2, k).swapaxes(1, 2).reshape(rows, k)


def reference(W, tokens, kv_f16, pos_scale=1.0):
    """test_engine_arch.reference with every RoPE position scaled by pos_scale (HF linear
    rope_scaling: positions / factor), by wrapping the rope function it calls."""
    rope = arch.rope
    arch.rope = lambda x, pos, base, neox, ff, ps=1.0: rope(x, pos, base, neox, ff, ps * pos_scale)
    try:
        return arch.reference(W, tokens, kv_f16)
    finally:
        arch.rope = rope


def nmse(got, ref):
    return ((got - ref) ** 2).sum() / (ref ** 2).sum()


CASES = [
    # name, arch, make_model options, write_folder options, kv, bound
    ("llama f32 untied, llama3 rope_scaling", "llama", dict(), dict(rope_scaling=dict(
        rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=64)), "f32", 1e-8),
    ("llama bf16 tied (no lm_head)", "llama", dict(tied=True), dict(dtype="bf16"), "f32", 1e-8),
    ("qwen2 f32 biases, tied, 2 shards", "qwen2", dict(tied=True, base=1e6), dict(shards=2), "f32", 1e-8),
    ("qwen2 bf16 biases, untied", "qwen2", dict(base=1e6), dict(dtype="bf16"), "f32", 1e-8),
    ("qwen3 f32 q/k norms", "qwen3", dict(base=1e6), dict(), "f32", 1e-8),
    ("qwen2 f32, linear rope_scaling x4", "qwen2", dict(), dict(rope_scaling=dict(rope_type="linear", factor=4.0)),
     "f32", 1e-8),
    ("qwen3 bf16, f16 cache", "qwen3", dict(base=1e6, n_layer=3), dict(dtype="bf16"), "f16", 1e-6),
    ("llama mlx 4-bit g64 bf16, untied", "llama", dict(), dict(dtype="bf16", quant=(4, 64)), "f32", 1e-6),
    ("qwen3 mlx 8-bit g32 f16, f16 cache", "qwen3", dict(base=1e6), dict(dtype="f16", quant=(8, 32)), "f16", 1e-6),
    ("qwen2 mlx 4-bit g32 bf16, tied", "qwen2", dict(tied=True, base=1e6), dict(dtype="bf16", quant=(4, 32)), "f32",
     1e-6),
    # 3, 5 and 6 bits: values straddle the u32 words
    ("llama mlx 3-bit g32 bf16, tied", "llama", dict(tied=True), dict(dtype="bf16", quant=(3, 32)), "f32", 1e-6),
    ("qwen2 mlx 5-bit g64 f16", "qwen2", dict(base=1e6), dict(dtype="f16", quant=(5, 64)), "f32", 1e-6),
    ("qwen3 mlx 6-bit g128 bf16", "qwen3", dict(base=1e6), dict(dtype="bf16", quant=(6, 128)), "f32", 1e-6),
    ("qwen3 mlx mxfp4 (group 32, e8m0 scales), bf16", "qwen3", dict(base=1e6),
     dict(dtype="bf16", quant=(4, 32, "mxfp4")), "f32", 1e-6),
    ("llama mlx 8-bit g64, layer 0 v_proj unquantized", "llama", dict(n_layer=3),
     dict(dtype="bf16", quant=(8, 64), unquantized=("model.layers.0.self_attn.v_proj",)), "f32", 1e-6),
]


BUNDLE = os.environ.get("MLXN_HF_BUNDLE")


def bundle_case(name, path, kv, tokens, ref, bound):
    """With MLXN_HF_BUNDLE=DIR: the folder, the tokens, the reference logits and the bound of a case,
    for scripts/check-hf-bundle.py to check mlxn against on a machine without mlx (the GPU one)."""
    if not BUNDLE:
        return
    os.makedirs(BUNDLE, exist_ok=True)
    tag = "case%02d" % len([f for f in os.listdir(BUNDLE) if f.endswith(".npz")])
    shutil.copytree(path, os.path.join(BUNDLE, tag))
    np.savez(os.path.join(BUNDLE, tag + ".npz"), name=name, kv=kv, tokens=np.asarray(tokens, dtype=np.int64),
             ref=ref, bound=bound)


def check_batches(name, path, out, kv, tokens, ref, bound, note=""):
    """mlxn's logits of `path` at batches 512, 5 and 1 against ref (NMSE < bound); the case also goes
    into the bundle (MLXN_HF_BUNDLE)."""
    bundle_case(name, path, kv, tokens, ref, bound)
    for batch in (512, 5, 1):
        got, err = arch.run_tool(path, "%s_%d.f32" % (out, batch), kv, batch, tokens)
        if not check(got is not None, "%s batch %d: tool failed: %s" % (name, batch, err)):
            continue
        e = nmse(got, ref)
        top1 = (got.argmax(-1) == ref.argmax(-1)).mean()
        print("%-52s batch %3d: NMSE %.3g, top-1 %.0f%%%s" % (name, batch, e, 100 * top1, note))
        check(e < bound, "%s batch %d: NMSE %.3g >= %.g" % (name, batch, e, bound))


def check_no_fuse(name, path, out, kv, tokens):
    """The separate q/k/v and gate/up matrices (MLXN_NO_FUSE=1) give the fused load's logits."""
    unf, err = arch.run_tool(path, out + "_unfused.f32", kv, 5, tokens, no_fuse=True)
    fused, err2 = arch.run_tool(path, out + "_fused.f32", kv, 5, tokens, no_fuse=False)
    if check(unf is not None and fused is not None, "%s: MLXN_NO_FUSE run failed: %s %s" % (name, err, err2)):
        rel = np.abs(unf - fused).max() / np.abs(fused).max()
        print("%-52s MLXN_NO_FUSE=1 vs fused: max rel diff %.3g" % (name, rel))
        check(rel < 1e-5, "%s: MLXN_NO_FUSE=1 differs from the fused load by %.3g" % (name, rel))


def main():
    if not os.path.exists(arch.BIN):
        abort("%s is missing" % arch.BIN)
    rng = np.random.default_rng(11)
    tmp = tempfile.mkdtemp()
    for ci, (name, a, opts, wopts, kv, bound) in enumerate(CASES):
        W = arch.make_model(a, rng, **opts)
        W0 = dict(W, layers=[dict(L) for L in W["layers"]], neox=True)   # the weights before storage
        path = os.path.join(tmp, "hf%d" % ci)
        write_folder(W, path, **wopts)
        rs = wopts.get("rope_scaling")
        pos_scale = 1 / rs["factor"] if rs and rs["rope_type"] == "linear" else 1.0
        if rs and rs["rope_type"] == "llama3":
            W["rope_freqs"] = llama3_factors(W["hd"], W["base"], rs["factor"], rs["low_freq_factor"],
                                             rs["high_freq_factor"], rs["original_max_position_embeddings"])
        tokens = rng.integers(0, W["n_vocab"], 13)
        ref = reference(W, tokens, kv == "f16", pos_scale)
        check_batches(name, path, os.path.join(tmp, "o%d" % ci), kv, tokens, ref, bound)
        check_no_fuse(name, path, os.path.join(tmp, "u%d" % ci), kv, tokens)
        if "unquantized" in wopts:
            # a decode step: embedding, LM head, argmax, per layer q|k|v, rope_kv, attention, o,
            # gate|up, down (6); layer 0's float v_proj cannot join the quantized q|k: one more
            arch.op_count(name, path, 3 + 6 * W["n_layer"] + 1, True)
        if "quant" in wopts:   # the quantization matters far beyond the bound (see the docstring)
            W0["rope_freqs"] = W["rope_freqs"]
            d = nmse(reference(W0, tokens, kv == "f16", pos_scale), ref)
            check(d > 100 * bound, "%s: the unquantized weights give nearly the same reference (%.3g)" % (name, d))
            print("%-52s reference with the unquantized weights differs by NMSE %.3g" % (name, d))
        if rs:   # the scaling matters on this sequence: without it the reference moves far beyond the bound
            d = nmse(reference(dict(W, rope_freqs=None), tokens, kv == "f16"), ref)
            check(d > 1e3 * bound, "%s: the reference barely changes without rope_scaling (%.3g)" % (name, d))
            print("%-52s reference without rope_scaling differs by NMSE %.3g" % (name, d))

    gguf_equivalence(rng, tmp)
    errors(rng, tmp)
    cli(rng, tmp)
    moe_rng = np.random.default_rng(23)
    moe_tests(moe_rng, tmp)
    moe_errors(moe_rng, tmp)
    finish()


def gguf_equivalence(rng, tmp):
    """The same f32 weights as a folder and as a GGUF file (llama: q/k permuted for NORM RoPE)."""
    for a, opts in (("llama", dict()), ("qwen2", dict(tied=True, base=1e6)), ("qwen3", dict(base=1e6))):
        W = arch.make_model(a, rng, **opts)
        folder = os.path.join(tmp, "eq_" + a)
        write_folder(W, folder)
        G = dict(W, layers=[dict(L) for L in W["layers"]])
        G["neox"] = a != "llama"
        if a == "llama":
            for L in G["layers"]:
                L["wq"], L["wk"] = permute_for_gguf(L["wq"], G["n_head"]), permute_for_gguf(L["wk"], G["n_kv"])
        gpath = os.path.join(tmp, "eq_%s.gguf" % a)
        arch.write_gguf(G, gpath)
        tokens = rng.integers(0, W["n_vocab"], 13)
        lf, e1 = arch.run_tool(folder, os.path.join(tmp, "eqf.f32"), "f32", 5, tokens)
        lg, e2 = arch.run_tool(gpath, os.path.join(tmp, "eqg.f32"), "f32", 5, tokens)
        if not check(lf is not None and lg is not None, "%s: folder/GGUF run failed: %s %s" % (a, e1, e2)):
            continue
        rel = np.abs(lf - lg).max() / np.abs(lg).max()
        print("%-52s folder vs GGUF: max rel diff %.3g" % (a + " f32, same weights", rel))
        check(rel < 1e-5, "%s: folder and GGUF logits differ by %.3g (relative)" % (a, rel))
        if a == "llama":   # without the permutation the GGUF file computes something else
            G2 = dict(W, layers=[dict(L) for L in W["layers"]])
            gp2 = os.path.join(tmp, "eq_noperm.gguf")
            arch.write_gguf(G2, gp2)
            l2, _ = arch.run_tool(gp2, os.path.join(tmp, "eqn.f32"), "f32", 5, tokens)
            d = np.abs(l2 - lf).max() / np.abs(lf).max() if l2 is not None else 0
            check(d > 1e-2, "llama: unpermuted GGUF matches the folder (%.3g): the RoPE pairing is not tested" % d)


ERRORS = [
    # name, write_folder options, message
    ("missing tensor", dict(drop=("model.layers.1.mlp.up_proj.weight",)),
     "missing tensor 'model.layers.1.mlp.up_proj.weight' (model_type qwen3"),
    ("missing q norm", dict(drop=("model.layers.0.self_attn.q_norm.weight",)),
     "missing tensor 'model.layers.0.self_attn.q_norm.weight'"),
    ("missing config key", dict(cfg_drop=("rms_norm_eps",)), "config.json has no key 'rms_norm_eps'"),
    ("missing num_hidden_layers", dict(cfg_drop=("num_hidden_layers",)), "config.json has no key 'num_hidden_layers'"),
    ("unsupported model_type", dict(cfg_set={"model_type": "mistral"}),
     "model_type 'mistral' is not supported for folders"),
    ("wrong shape", dict(cfg_set={"num_key_value_heads": 4}),
     "model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' has shape [128, 128], expected [256, 128]"),
    ("vocab_size disagrees", dict(cfg_set={"vocab_size": 300}),
     "vocab_size 300 but 'model.embed_tokens.weight' has 320 rows"),
    ("unsupported rope_scaling", dict(rope_scaling={"rope_type": "yarn", "factor": 4.0}),
     "rope_scaling type 'yarn' is not supported"),
    ("non-MLX quantization", dict(cfg_set={"quantization_config": {"quant_method": "gptq", "bits": 4}}),
     "quantization 'gptq' is not supported"),
    ("quantized module without biases", dict(dtype="bf16", quant=(4, 64), drop=("model.layers.1.self_attn.o_proj.biases",)),
     "affine module 'model.layers.1.self_attn.o_proj' has no biases tensor"),
    ("config bits disagree with the words", dict(dtype="bf16", quant=(4, 64), cfg_set={"quantization": {"group_size": 64,
                                                                                                       "bits": 8}}),
     "packed words per row"),
]


def error_cases(rng, tmp, cases, model_arch, tag):
    """Each case's folder (a tiny model_arch model written with the case's options) must fail to
    load with an error naming the folder and containing the expected words."""
    for ei, (name, wopts, want) in enumerate(cases):
        W = arch.make_model(model_arch, rng)
        path = os.path.join(tmp, "%s_err%d" % (model_arch, ei))
        write_folder(W, path, **wopts)
        got, err = arch.run_tool(path, os.path.join(tmp, "err.f32"), "f32", 512, [1, 2, 3])
        check(got is None and want in err and path in err,
              "%s%s: want an error naming the folder and saying \"%s\", got: %s"
              % (tag, name, want, err if got is None else "success"))
        print("%serror %-36s -> %s" % (tag, name, err))


def errors(rng, tmp):
    error_cases(rng, tmp, ERRORS, "qwen3", "")
    # a folder without config.json / without weights
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    got, err = arch.run_tool(empty, os.path.join(tmp, "err.f32"), "f32", 512, [1])
    check(got is None and "config.json" in err, "empty folder: want an error naming config.json, got: %s" % err)
    print("error %-36s -> %s" % ("empty folder", err))


def cli(rng, tmp):
    """`mlxn run -p` on a folder. Without tokenizer.json it stops naming the file. With one (a
    byte-level BPE that PyPI `tokenizers` trains to the model's vocabulary size) it runs on the
    CPU: the prompt has the ids `tokenizers` gives, and the generated text is `tokenizers`'
    decoding of the reference's greedy tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    W = arch.make_model("llama", rng)
    path = os.path.join(tmp, "cli")
    write_folder(W, path)
    prompt = "hello the lazy fox"
    cmd = [MLXN, "run", "-m", path, "-p", prompt, "-n", "4", "--device", "cpu"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    check(r.returncode != 0 and "tokenizer.json" in r.stderr,
          "mlxn run on a folder without tokenizer.json: want an error naming it, got rc %d: %s" % (r.returncode, r.stderr))
    print("mlxn run -m FOLDER (no tokenizer.json): rc %d: %s" % (r.returncode, r.stderr.strip().splitlines()[-1]))

    words = ["".join(chr(97 + int(c)) for c in rng.integers(0, 26, int(rng.integers(2, 8)))) for _ in range(400)]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.train_from_iterator([" ".join(words[i:i + 20]) for i in range(0, 400, 20)] + [prompt],
                           trainers.BpeTrainer(vocab_size=W["n_vocab"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                               show_progress=False))
    if not check(tk.get_vocab_size() == W["n_vocab"], "trained vocabulary %d != the model's %d" % (tk.get_vocab_size(), W["n_vocab"])):
        return
    tk.save(os.path.join(path, "tokenizer.json"))
    ids = tk.encode(prompt).ids
    seq = list(ids)
    for _ in range(4):   # greedy on the reference, with the f16 cache mlxn run keeps
        seq.append(int(reference(W, np.array(seq), True)[-1].argmax()))
    # the bytes of those tokens: the byte-level alphabet maps each byte to one character
    # (printable ASCII and Latin-1 to themselves, the other bytes to 256 + n in order)
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    to_byte = {chr(b): b for b in keep}
    to_byte.update({chr(256 + n): b for n, b in enumerate(b for b in range(256) if b not in keep)})
    want = b"".join(bytes(to_byte[ch] for ch in tk.id_to_token(t)) for t in seq[len(ids):])
    r = subprocess.run(cmd, capture_output=True)
    err = r.stderr.decode("utf-8", "replace")
    ok = check(r.returncode == 0, "mlxn run on a folder with tokenizer.json: rc %d: %s" % (r.returncode, err))
    if ok:
        check("prompt %d tokens" % len(ids) in err, "want 'prompt %d tokens' (tokenizers' count) in: %s" % (len(ids), err))
        check(r.stdout.rstrip(b"\n").endswith(want) or r.stdout.endswith(want),
              "generated bytes %r, want the reference's greedy tokens %s: %r" % (r.stdout, seq[len(ids):], want))
    print("mlxn run -m FOLDER with tokenizer.json: prompt ids %s, greedy %s -> %r; stdout %r"
          % (ids, seq[len(ids):], want, r.stdout))


MOE_CASES = [
    # name, make_model options, write_folder options, kv, bound
    ("qwen3_moe f32, HF per-expert modules", dict(base=1e6), dict(), "f32", 1e-8),
    ("qwen3_moe bf16, HF per-expert, tied, f16 cache", dict(base=1e6, tied=True), dict(dtype="bf16"), "f16", 1e-6),
    ("qwen3_moe bf16, mlx-lm stacks unquantized", dict(base=1e6), dict(dtype="bf16", experts="mlx"), "f32", 1e-8),
    ("qwen3_moe mlx 4-bit g64 bf16 stacks, router 8-bit", dict(base=1e6),
     dict(dtype="bf16", experts="mlx", quant=(4, 64), overrides={"model.layers.%d.mlp.gate" % i: (8, 64)
                                                                 for i in range(2)}), "f32", 1e-6),
    ("qwen3_moe mlx 8-bit g32 f16 stacks, f16 cache", dict(base=1e6),
     dict(dtype="f16", experts="mlx", quant=(8, 32)), "f16", 1e-6),
    ("qwen3_moe mlx mxfp4 stacks (group 32), bf16", dict(base=1e6),
     dict(dtype="bf16", experts="mlx", quant=(4, 32, "mxfp4")), "f32", 1e-6),
]


def moe_tokens(W, kv, margin=0.02):
    """A 13-token sequence whose every reference top-k choice is clear (the k-th and (k+1)-th
    router logits >= margin apart, on the stored weights) and that uses every expert of every
    layer, drawn as test_engine_arch.moe_tests does; (tokens, reference logits)."""
    rng = np.random.default_rng(5)
    for attempt in range(1000):
        tokens = rng.integers(0, W["n_vocab"], 13)
        margins, chosen = [], set()
        ref = arch.reference(W, tokens, kv == "f16", (margins, chosen))
        if min(margins) >= margin and len(chosen) == W["n_expert"] * W["n_layer"]:
            break
    check(min(margins) >= margin and len(chosen) == W["n_expert"] * W["n_layer"],
          "no token sequence with clear expert choices using every expert (min margin %.3g, %d pairs)"
          % (min(margins), len(chosen)))
    return tokens, ref, min(margins), attempt + 1


def moe_tests(rng, tmp):
    """qwen3_moe folders (8 experts, top 2, 2 layers) against test_engine_arch's reference (its
    qwen3moe forward and its router-margin draw), batches 512, 5 and 1, MLXN_NO_FUSE=1 alike;
    the same f32 weights as a folder (both layouts) and as a GGUF file give the same logits."""
    for ci, (name, opts, wopts, kv, bound) in enumerate(MOE_CASES):
        W = arch.make_model("qwen3moe", rng, **opts)
        W0 = dict(W, layers=[dict(L) for L in W["layers"]], neox=True)
        path = os.path.join(tmp, "moe%d" % ci)
        write_folder(W, path, **wopts)
        tokens, ref, margin, draws = moe_tokens(W, kv)
        check_batches(name, path, os.path.join(tmp, "mo%d" % ci), kv, tokens, ref, bound,
                      " (min router margin %.3f, draw %d)" % (margin, draws))
        check_no_fuse(name, path, os.path.join(tmp, "mu%d" % ci), kv, tokens)
        if "quant" in wopts:   # the quantization matters far beyond the bound
            d = nmse(arch.reference(W0, tokens, kv == "f16"), ref)
            check(d > 100 * bound, "%s: the unquantized weights give nearly the same reference (%.3g)" % (name, d))
            print("%-52s reference with the unquantized weights differs by NMSE %.3g" % (name, d))
        if ci == 0:   # the same choices without renormalisation, or with the next experts, are far off
            W1 = dict(W, n_expert_used=W["n_expert_used"] + 1)
            d = nmse(arch.reference(W1, tokens, False), ref)
            check(d > 1e3 * bound, "%s: top-%d instead of top-%d barely changes the reference (%.3g)"
                  % (name, W1["n_expert_used"], W["n_expert_used"], d))
            print("%-52s reference with top-%d instead differs by NMSE %.3g" % (name, W1["n_expert_used"], d))

    # one set of f32 weights: HF per-expert folder, mlx-lm stacked folder, GGUF file
    W = arch.make_model("qwen3moe", rng, base=1e6)
    G = dict(W, layers=[dict(L) for L in W["layers"]])
    M = dict(W, layers=[dict(L) for L in W["layers"]])
    write_folder(W, os.path.join(tmp, "moe_eq_hf"))
    write_folder(M, os.path.join(tmp, "moe_eq_mlx"), experts="mlx")
    arch.write_gguf(G, os.path.join(tmp, "moe_eq.gguf"))
    tokens, ref, _, _ = moe_tokens(W, "f32")
    outs = []
    for src in ("moe_eq_hf", "moe_eq_mlx", "moe_eq.gguf"):
        o, err = arch.run_tool(os.path.join(tmp, src), os.path.join(tmp, src + ".f32"), "f32", 5, tokens)
        check(o is not None, "%s: tool failed: %s" % (src, err))
        outs.append(o)
    if all(o is not None for o in outs):
        for o, src in zip(outs[:2], ("HF per-expert", "mlx-lm stacked")):
            rel = np.abs(o - outs[2]).max() / np.abs(outs[2]).max()
            print("%-52s folder vs GGUF: max rel diff %.3g" % ("qwen3_moe f32 " + src, rel))
            check(rel < 1e-5, "qwen3_moe %s folder and GGUF logits differ by %.3g (relative)" % (src, rel))


MOE_ERRORS = [
    # name, write_folder options, message
    ("missing expert module", dict(drop=("model.layers.1.mlp.experts.5.up_proj.weight",)),
     "missing tensor 'model.layers.1.mlp.experts.5.up_proj.weight' (model_type qwen3_moe"),
    ("missing router", dict(drop=("model.layers.0.mlp.gate.weight",)), "missing tensor 'model.layers.0.mlp.gate.weight'"),
    ("no experts in a layer", dict(drop=("model.layers.0.mlp.experts.0.gate_proj.weight",)),
     "layer 0 has no experts: neither 'model.layers.0.mlp.switch_mlp.gate_proj.weight'"),
    ("missing num_experts", dict(cfg_drop=("num_experts",)), "config.json has no key 'num_experts'"),
    ("missing moe_intermediate_size", dict(cfg_drop=("moe_intermediate_size",)),
     "config.json has no key 'moe_intermediate_size'"),
    ("num_experts_per_tok above num_experts", dict(cfg_set={"num_experts_per_tok": 9}),
     "'num_experts_per_tok' = 9 is outside [1, 8]"),
    ("norm_topk_prob false", dict(cfg_set={"norm_topk_prob": False}), "norm_topk_prob is false"),
    ("norm_topk_prob absent", dict(cfg_drop=("norm_topk_prob",)), "norm_topk_prob is absent"),
    ("decoder_sparse_step 2", dict(cfg_set={"decoder_sparse_step": 2}), "decoder_sparse_step 2"),
    ("mlp_only_layers", dict(cfg_set={"mlp_only_layers": [1]}), "mlp_only_layers naming 1 of the layers"),
    ("stacked experts of the wrong shape", dict(experts="mlx", cfg_set={"moe_intermediate_size": 48}),
     "tensor 'model.layers.0.mlp.switch_mlp.gate_proj.weight' has shape [8, 64, 128], expected [8, 48, 128]"),
    ("per-expert module of the wrong shape", dict(cfg_set={"moe_intermediate_size": 32}),
     "tensor 'model.layers.0.mlp.experts.0.gate_proj.weight' has shape [64, 128], expected [32, 128]"),
    ("one expert left unquantized", dict(dtype="bf16", quant=(4, 64),
                                         unquantized=("model.layers.1.mlp.experts.3.down_proj",)),
     "expert module 'model.layers.1.mlp.experts.3.down_proj' (bf16) differs from"),
    ("quantized stack without biases", dict(dtype="bf16", experts="mlx", quant=(4, 64),
                                            drop=("model.layers.1.mlp.switch_mlp.down_proj.biases",)),
     "affine module 'model.layers.1.mlp.switch_mlp.down_proj' has no biases tensor"),
]


def moe_errors(rng, tmp):
    error_cases(rng, tmp, MOE_ERRORS, "qwen3moe", "qwen3_moe ")
    # mlp_only_layers naming no layer of the model (and decoder_sparse_step 1) leaves every layer sparse
    W = arch.make_model("qwen3moe", rng)
    path = os.path.join(tmp, "moe_mlp_only_out_of_range")
    write_folder(W, path, cfg_set={"mlp_only_layers": [7]})
    got, err = arch.run_tool(path, os.path.join(tmp, "ok.f32"), "f32", 5, [1, 2, 3])
    ref = arch.reference(W, np.array([1, 2, 3]), False)
    check(got is not None and nmse(got, ref) < 1e-8, "qwen3_moe mlp_only_layers [7] of 2 layers: %s"
          % (err if got is None else "NMSE %.3g" % nmse(got, ref)))
    print("qwen3_moe mlp_only_layers [7] (no such layer) loads: %s" % ("ok" if got is not None else err))


if __name__ == "__main__":
    main()
