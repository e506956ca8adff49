#!/usr/bin/env python3
"""Why our teacher-forced logits differ from the peer's (llama.cpp): a NumPy forward pass of the
default model (SmolLM2-135M-Instruct Q4_1: llama architecture, Q4_1 layers, tied Q8_0
embedding/output) whose precision choices can be switched one at a time, and the agreement
metrics the engine test uses. Used to write docs/engine.md ("Why the peer's top-1 cannot be
matched at >= 98 % of positions") and by scripts/make-goldens.py for the exact-arithmetic goldens.

Precision switches (default: exact arithmetic — f32 values, weights dequantized exactly):
  --act q8       activations rounded to 8 bits in blocks of 32 before every quantized product
                 (x ~ d*q, d = amax/127, q = round-half-even(x * 127/amax)), as the peer's CPU
                 path does (its Q8_1 blocks for Q4_1 weights, Q8_0 for the Q8_0 output head)
  --act q8-f16   the same with the block scale d and the scaled sum s = d*sum(q) stored as f16
                 (the peer's block layout)
  --kv f16       K and V rounded to f16 (the peer's default cache type)
  --q-f16        Q rounded to f16 before Q.K (the peer's non-flash attention converts it)
  --p-f16        the softmax output rounded to f16 before P.V (likewise)
  --rms-f32      the RMSNorm sum of squares in f32 instead of f64
  --peer         all of the peer's choices: --act q8-f16 --kv f16 --q-f16 --p-f16

usage:
  golden_precision.py forward [switches] -o OUT.npy   logits {n_tokens, n_vocab} of the forced text
  golden_precision.py peer [--flash-attn] [--kv-f32] -o OUT.npy   the peer's logits (needs
                                                      llama-cpp-python; not needed by any test)
  golden_precision.py dump N -o OUT.npz               the peer's intermediate tensors for the first N
                                                      forced tokens (its eval callback; needs
                                                      llama-cpp-python)
  golden_precision.py check-ops DUMP.npz [LAYER]      each op of one layer recomputed here from the
                                                      peer's own inputs, with and without each of
                                                      its precision choices: NMSE against its output
  golden_precision.py other-texts                     four more paragraphs: our cpu backend
                                                      (build/bin/tool_engine_logits), exact arithmetic
                                                      and the peer with flash attention, each against
                                                      the peer's default (needs llama-cpp-python)
  golden_precision.py compare REF LOGITS...           top-1 agreement, NMSE and disagreements of
                                                      each LOGITS against REF (.npy, or raw f32
                                                      as written by tool_engine_logits)
REF/LOGITS "golden" = the peer's top-5 stored in tests/golden/smollm2-q4_1.json.
"""
import argparse, json, os, subprocess, sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, "tests/golden/smollm2-q4_1.json")


def default_model():
    return subprocess.check_output(["bash", os.path.join(ROOT, "scripts/fetch-model.sh")], text=True).strip()


# ==========================================================================
# Weights
# ==========================================================================

def f16(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


class Weights:
    """Quantized matrices as (d, m, q) per 32-element block: w = d*q + m (m = 0 for Q8_0)."""

    def __init__(self, path):
        import gguf
        self.r = gguf.GGUFReader(path)
        self.t = {t.name: t for t in self.r.tensors}
        self.cache = {}

    def field(self, key):
        f = self.r.fields[key]
        v = f.parts[f.data[0]]
        return bytes(v).decode() if v.dtype == np.uint8 and len(v) != 1 else v[0]

    def vec(self, name):
        return np.asarray(self.t[name].data, np.float32)

    def blocks(self, name):
        """(d {rows, nb}, m {rows, nb}, q {rows, nb, 32}) in f64."""
        if name in self.cache:
            return self.cache[name]
        t = self.t[name]
        k, rows = int(t.shape[0]), int(t.shape[1])
        raw = np.asarray(t.data).view(np.uint8).reshape(rows, -1)
        kind = t.tensor_type.name
        if kind == "Q4_1":      # f16 d, f16 m, 16 bytes: element i in the low nibble of byte i, i+16 in the high
            b = raw.reshape(rows, k // 32, 20)
            d = b[:, :, 0:2].copy().view(np.float16)[..., 0]
            m = b[:, :, 2:4].copy().view(np.float16)[..., 0]
            q = np.concatenate([b[:, :, 4:] & 15, b[:, :, 4:] >> 4], axis=2)
        elif kind == "Q8_0":    # f16 d, 32 x i8
            b = raw.reshape(rows, k // 32, 34)
            d = b[:, :, 0:2].copy().view(np.float16)[..., 0]
            m = np.zeros_like(d)
            q = b[:, :, 2:].copy().view(np.int8)
        else:
            raise SystemExit("golden_precision: tensor %s has type %s (this tool handles Q4_1 and Q8_0)" % (name, kind))
        out = (d.astype(np.float64), m.astype(np.float64), q.astype(np.float64))
        self.cache[name] = out
        return out

    def rows(self, name, ids):
        d, m, q = self.blocks(name)
        return (q[ids] * d[ids][:, :, None] + m[ids][:, :, None]).reshape(len(ids), -1).astype(np.float32)


# ==========================================================================
# Forward pass
# ==========================================================================

def quant8(x, f16_scales):
    """x {n, k} f32 -> d {n, nb}, q {n, nb, 32}, s {n, nb}: 8-bit blocks of 32."""
    n, k = x.shape
    xb = x.reshape(n, k // 32, 32)
    amax = np.abs(xb).max(2)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(amax > 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q = np.rint((xb * inv[..., None]).astype(np.float32))          # round half to even
    s = (d * q.sum(2).astype(np.float32)).astype(np.float32)
    if f16_scales:
        d, s = f16(d), f16(s)
    return d.astype(np.float64), q.astype(np.float64), s.astype(np.float64)


class Forward:
    def __init__(self, W, act="exact", kv_f16=False, q_f16=False, p_f16=False, rms_f32=False):
        self.W, self.act, self.kv_f16, self.q_f16, self.p_f16, self.rms_f32 = W, act, kv_f16, q_f16, p_f16, rms_f32
        a = W.field("general.architecture")
        if a != "llama":
            raise SystemExit("golden_precision: architecture %s (this tool handles llama)" % a)
        g = lambda k: W.field("%s.%s" % (a, k))
        self.n_layer, self.n_head, self.n_kv = int(g("block_count")), int(g("attention.head_count")), int(g("attention.head_count_kv"))
        self.eps, self.base = float(g("attention.layer_norm_rms_epsilon")), float(g("rope.freq_base"))
        self.n_embd = int(g("embedding_length"))
        self.hd = self.n_embd // self.n_head
        self.out_name = "output.weight" if "output.weight" in W.t else "token_embd.weight"

    def matmul(self, name, x):
        """x {n, k} f32 -> {n, rows} f32 = W . x with this pass's activation precision."""
        d, m, q = self.W.blocks(name)
        if self.act == "exact":
            w = (q * d[:, :, None] + m[:, :, None]).reshape(q.shape[0], -1)
            return (np.asarray(x, np.float64) @ w.T).astype(np.float32)
        dx, qx, sx = quant8(np.asarray(x, np.float32), self.act == "q8-f16")
        out = sx @ m.T                                              # the min term: m * s per block
        for b in range(q.shape[1]):
            out += (qx[:, b, :] @ q[:, b, :].T) * dx[:, b:b + 1] * d[None, :, b]
        return out.astype(np.float32)

    def rms(self, x, w):
        if self.rms_f32:
            ms = (x * x).sum(-1, keepdims=True, dtype=np.float32) / np.float32(x.shape[-1])
        else:
            ms = (x.astype(np.float64) ** 2).mean(-1, keepdims=True).astype(np.float32)
        return ((x * (np.float32(1) / np.sqrt(ms + np.float32(self.eps)))).astype(np.float32) * w).astype(np.float32)

    def rope(self, x, pos):
        """x {n, heads, hd}: llama pairs (2i, 2i+1) rotated by pos * base^(-2i/hd)."""
        half = self.hd // 2
        inv = np.array([np.float32(self.base ** (-2.0 * i / self.hd)) for i in range(half)], np.float32)
        th = (pos[:, None].astype(np.float32) * inv[None, :]).astype(np.float64)
        c, s = np.cos(th).astype(np.float32)[:, None, :], np.sin(th).astype(np.float32)[:, None, :]
        y = x.copy()
        y[..., 0::2] = x[..., 0::2] * c - x[..., 1::2] * s
        y[..., 1::2] = x[..., 0::2] * s + x[..., 1::2] * c
        return y

    def run(self, ids):
        W, n, H, Hk, hd = self.W, len(ids), self.n_head, self.n_kv, self.hd
        pos = np.arange(n)
        mask = np.triu(np.full((n, n), -np.inf, np.float32), 1)
        x = W.rows("token_embd.weight", np.asarray(ids))
        for L in range(self.n_layer):
            p = "blk.%d." % L
            xn = self.rms(x, W.vec(p + "attn_norm.weight"))
            q = self.rope(self.matmul(p + "attn_q.weight", xn).reshape(n, H, hd), pos)
            k = self.rope(self.matmul(p + "attn_k.weight", xn).reshape(n, Hk, hd), pos)
            v = self.matmul(p + "attn_v.weight", xn).reshape(n, Hk, hd)
            if self.kv_f16:
                k, v = f16(k), f16(v)
            if self.q_f16:
                q = f16(q)
            k, v = np.repeat(k, H // Hk, axis=1), np.repeat(v, H // Hk, axis=1)
            s = np.einsum("thd,shd->hts", q.astype(np.float64), k.astype(np.float64)).astype(np.float32)
            s = (s * np.float32(1 / np.sqrt(hd)) + mask).astype(np.float32)
            e = np.exp(s - s.max(-1, keepdims=True)).astype(np.float32)
            pr = (e * (1.0 / e.astype(np.float64).sum(-1, keepdims=True)).astype(np.float32)).astype(np.float32)
            if self.p_f16:
                pr = f16(pr)
            o = np.einsum("hts,shd->thd", pr.astype(np.float64), v.astype(np.float64)).astype(np.float32)
            x = (x + self.matmul(p + "attn_output.weight", o.reshape(n, H * hd))).astype(np.float32)
            xn = self.rms(x, W.vec(p + "ffn_norm.weight"))
            g, u = self.matmul(p + "ffn_gate.weight", xn), self.matmul(p + "ffn_up.weight", xn)
            h = (g / (np.float32(1) + np.exp(-g)) * u).astype(np.float32)
            x = (x + self.matmul(p + "ffn_down.weight", h)).astype(np.float32)
        return self.matmul(self.out_name, self.rms(x, W.vec("output_norm.weight")))


# ==========================================================================
# Metrics (the engine test's)
# ==========================================================================

def golden_ref():
    f = json.load(open(GOLDEN))["forced"]
    return {"top_ids": np.array(f["top5_ids"]), "top_logits": np.array(f["top5_logits"]), "std": np.array(f["row_std"])}


def full_ref(lg):
    lg = np.asarray(lg, np.float64)
    top = np.argsort(-lg, axis=1, kind="stable")[:, :5]
    return {"top_ids": top, "top_logits": np.take_along_axis(lg, top, 1), "std": lg.std(1), "full": lg}


def metrics(ours, ref):
    """top-1 agreement, NMSE over ref's top-5 (normalised by ref's row std), NMSE over all logits
    (full references only) and the disagreements as (position, ref's top-2 gap)."""
    ours = np.asarray(ours, np.float64)
    top, tl, sd = ref["top_ids"], ref["top_logits"], ref["std"]
    agree = ours.argmax(1) == top[:, 0]
    nmse5 = (((np.take_along_axis(ours, top, 1) - tl) / sd[:, None]) ** 2).mean()
    nmse_all = ((((ours - ref["full"]) ** 2).mean(1)) / sd ** 2).mean() if "full" in ref else float("nan")
    gap = tl[:, 0] - tl[:, 1]
    return agree, nmse5, nmse_all, [(int(i), float(gap[i])) for i in np.where(~agree)[0]]


def load_logits(path, n_tokens):
    if path == "golden":
        return None
    if path.endswith(".npy"):
        return np.load(path)
    return np.fromfile(path, dtype=np.float32).reshape(n_tokens, -1)


# ==========================================================================
# Commands
# ==========================================================================

def cmd_forward(a):
    if a.peer:
        a.act, a.kv, a.q_f16, a.p_f16 = "q8-f16", "f16", True, True
    ids = json.load(open(GOLDEN))["forced"]["ids"]
    fw = Forward(Weights(a.model or default_model()), a.act, a.kv == "f16", a.q_f16, a.p_f16, a.rms_f32)
    np.save(a.out, fw.run(ids))


def cmd_peer(a):
    import llama_cpp
    ids = json.load(open(GOLDEN))["forced"]["ids"]
    kw = dict(n_ctx=512, n_batch=512, logits_all=True, n_threads=2, seed=0, verbose=False, flash_attn=a.flash_attn)
    if a.kv_f32:
        kw.update(type_k=0, type_v=0)
    llm = llama_cpp.Llama(model_path=a.model or default_model(), **kw)
    llm.reset()
    llm.eval(ids)
    np.save(a.out, np.array(llm.scores[: len(ids)], dtype=np.float32))


# Paragraphs for other-texts (not in the goldens).
OTHER_TEXTS = [
 "Rivers shape the land they cross. Over thousands of years a river cuts a valley, carries sand and stones downstream and drops them where the water slows, building deltas and wide flat plains. Farmers settled on those plains because the soil was rich and water was close, and many of the first cities grew up beside rivers such as the Nile, the Tigris and the Yangtze. Floods brought new soil every year but also destroyed homes and fields, so people learned to build dams, canals and levees to control the water. Today rivers still supply drinking water, carry ships and turn turbines that make electricity, and scientists study how dams and pollution change the fish and plants that live in them.",
 "To bake a simple loaf of bread you need flour, water, salt and yeast. Mix the yeast with warm water and let it rest for a few minutes until it starts to foam. Add the flour and salt, stir until a rough dough forms, then knead it on a floured table for about ten minutes until it feels smooth and elastic. Put the dough in a bowl, cover it with a cloth and leave it somewhere warm for an hour, until it has doubled in size. Press out the air, shape it into a loaf, place it in a tin and let it rise again. Bake it in a hot oven for thirty to forty minutes; it is done when the crust is brown and the bottom sounds hollow when you tap it.",
 "The human heart is a muscle about the size of a fist. It beats around seventy times a minute, pumping blood through a network of arteries, veins and tiny capillaries that reaches every cell of the body. The right side of the heart sends blood to the lungs, where it picks up oxygen and releases carbon dioxide; the left side pumps the oxygen-rich blood out to the rest of the body. Valves between the chambers keep the blood flowing in one direction, and an electrical signal that starts in a small group of cells sets the rhythm of each beat. Regular exercise, a balanced diet and not smoking all help to keep the heart healthy for many years.",
 "Chess is played on a board of sixty-four squares by two players, one with the white pieces and one with the black. Each side starts with sixteen pieces: a king, a queen, two rooks, two bishops, two knights and eight pawns. The pieces move in different ways; the knight, for example, jumps in an L shape and can pass over other pieces. The goal is to checkmate the opponent's king, which means attacking it so that it has no safe square to move to. Good players plan several moves ahead, control the centre of the board early and try to keep their king safe, often by castling. Computers now play chess far better than any human, but millions of people still enjoy the game.",
]


def cmd_other_texts(a):
    """The forced-text comparison on paragraphs that are not in the goldens: how often two
    implementations agree on this model in general, not on one paragraph."""
    import llama_cpp
    model = a.model or default_model()
    kw = dict(model_path=model, n_ctx=512, n_batch=512, logits_all=True, n_threads=2, seed=0, verbose=False)
    peer, peer_fa = llama_cpp.Llama(**kw), llama_cpp.Llama(flash_attn=True, **kw)
    fw = Forward(Weights(model))
    tool = os.path.join(a.build, "bin", "tool_engine_logits")
    out = os.path.join(a.build, "golden_precision_other.f32")
    total = {}
    for ti, text in enumerate(OTHER_TEXTS):
        ids = peer.tokenize(text.encode("utf-8"), add_bos=True, special=False)

        def run(llm):
            llm.reset()
            llm.eval(ids)
            return np.array(llm.scores[: len(ids)], dtype=np.float32)

        ref = full_ref(run(peer))
        subprocess.run([tool, model, out] + [str(i) for i in ids], check=True)
        ours = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1)
        for name, lg in [("ours (cpu)", ours), ("exact arithmetic", fw.run(ids)), ("peer, flash attention", run(peer_fa))]:
            agree, nmse5, _, dis = metrics(lg, ref)
            t = total.setdefault(name, [0, 0])
            t[0], t[1] = t[0] + agree.sum(), t[1] + len(agree)
            print("text %d (%d tokens), %-22s top-1 %.2f%%, NMSE %.3g, disagreements (pos:gap) %s"
                  % (ti, len(ids), name, 100 * agree.mean(), nmse5, " ".join("%d:%.3f" % d for d in dis) or "-"))
    for name, (agree, n) in total.items():
        print("all texts, %-22s %d/%d = %.2f%%" % (name, agree, n, 100 * agree / n))


def cmd_compare(a):
    n = len(json.load(open(GOLDEN))["forced"]["ids"])
    r = load_logits(a.ref, n)
    ref = golden_ref() if r is None else full_ref(r)
    for path in a.logits:
        agree, nmse5, nmse_all, dis = metrics(load_logits(path, n), ref)
        print("%s: top-1 %.2f%% (%d/%d), NMSE top-5 %.3g, all %.3g, disagreements (pos:gap) %s"
              % (path, 100 * agree.mean(), agree.sum(), len(agree), nmse5, nmse_all,
                 " ".join("%d:%.3f" % d for d in dis) or "-"))


def cmd_dump(a):
    """Every contiguous f32 tensor the peer computes, by name (a name computed twice, e.g. Qcur
    before and after RoPE, is stored as NAME#0, NAME#1, ...), via llama.cpp's eval callback;
    the tensor is read with ggml's public accessors."""
    import ctypes
    import llama_cpp
    from llama_cpp import _internals
    lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
    for fn, res, args in [("ggml_get_name", ctypes.c_char_p, [ctypes.c_void_p]),
                          ("ggml_nelements", ctypes.c_int64, [ctypes.c_void_p]),
                          ("ggml_is_contiguous", ctypes.c_bool, [ctypes.c_void_p]),
                          ("ggml_backend_tensor_get", None, [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t])]:
        getattr(lib, fn).restype, getattr(lib, fn).argtypes = res, args

    class Head(ctypes.Structure):   # the leading fields of struct ggml_tensor
        _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4)]

    seen = {}

    @llama_cpp.ggml_backend_sched_eval_callback
    def cb(t, ask, user):
        if ask:
            return True
        h = ctypes.cast(t, ctypes.POINTER(Head)).contents
        if h.type == 0 and lib.ggml_is_contiguous(t):      # f32
            name = lib.ggml_get_name(t).decode()
            buf = np.empty(lib.ggml_nelements(t), np.float32)
            lib.ggml_backend_tensor_get(t, buf.ctypes.data, 0, buf.nbytes)
            seen.setdefault(name, []).append(buf.reshape([h.ne[i] for i in range(3, -1, -1)]).squeeze())
        return True

    init = _internals.llama_cpp.llama_init_from_model

    def init_with_cb(model, params):
        params.cb_eval = cb
        return init(model, params)

    _internals.llama_cpp.llama_init_from_model = init_with_cb
    ids = json.load(open(GOLDEN))["forced"]["ids"][: a.n]
    llm = llama_cpp.Llama(model_path=a.model or default_model(), n_ctx=512, n_batch=512, logits_all=True,
                          n_threads=2, seed=0, verbose=False)
    llm.reset()
    llm.eval(ids)
    np.savez(a.out, **{"%s#%d" % (k, i): v for k, vs in seen.items() for i, v in enumerate(vs)})


def cmd_check_ops(a):
    P = np.load(a.dump)
    last = {}
    for k in P.files:
        name, i = k.rsplit("#", 1)
        last[name] = max(last.get(name, 0), int(i))
    get = lambda name, i=None: P["%s#%d" % (name, last[name] if i is None else i)]
    W = Weights(a.model or default_model())
    L, pre = a.layer, "blk.%d." % a.layer

    def nmse(x, ref):
        x, ref = np.asarray(x, np.float64), np.asarray(ref, np.float64)
        return ((x - ref) ** 2).mean() / ref.var()

    def mm(act, name, x):
        return Forward(W, act).matmul(name, np.asarray(x, np.float32).reshape(-1, np.shape(x)[-1]))

    xn = get("attn_norm-%d" % L)
    n = xn.shape[0]
    print("layer %d, %d tokens: NMSE of our recomputation against the peer's tensor" % (L, n))
    for out, w, x in [("Qcur-%d" % L, "attn_q", xn), ("Kcur-%d" % L, "attn_k", xn), ("Vcur-%d" % L, "attn_v", xn),
                      ("attn_out-%d" % L, "attn_output", get("kqv_out-%d" % L)),
                      ("ffn_gate-%d" % L, "ffn_gate", get("ffn_norm-%d" % L)),
                      ("ffn_up-%d" % L, "ffn_up", get("ffn_norm-%d" % L)),
                      ("ffn_out-%d" % L, "ffn_down", get("ffn_swiglu-%d" % L))]:
        ref = get(out, 0)
        print("  %-14s 8-bit, f16 scales %.2g | 8-bit, f32 scales %.2g | exact %.2g"
              % (out, nmse(mm("q8-f16", pre + w + ".weight", x), ref), nmse(mm("q8", pre + w + ".weight", x), ref),
                 nmse(mm("exact", pre + w + ".weight", x), ref)))
    if L == 0:
        print("  %-14s 8-bit, f16 scales %.2g | exact %.2g" % ("result_output", nmse(mm("q8-f16", "token_embd.weight", get("result_norm")), get("result_output")),
              nmse(mm("exact", "token_embd.weight", get("result_norm")), get("result_output"))))
    fw = Forward(W)
    H, Hk, hd = fw.n_head, fw.n_kv, fw.hd
    q = get("Qcur-%d" % L).reshape(n, H, hd)            # after RoPE
    k = np.repeat(f16(get("Kcur-%d" % L).reshape(n, Hk, hd)), H // Hk, axis=1)
    v = np.repeat(f16(get("Vcur-%d" % L).reshape(n, Hk, hd)), H // Hk, axis=1)
    kq = get("kq-%d" % L)[:, :, :n]                     # {heads, queries, keys (padded)}
    for rq in (True, False):
        s = np.einsum("thd,shd->hts", (f16(q) if rq else q).astype(np.float64), k.astype(np.float64))
        print("  %-14s Q rounded to f16: %s, NMSE %.2g" % ("kq-%d" % L, rq, nmse(s, kq)))
    p = get("kq_soft_max-%d" % L)[:, :, :n]
    for rp in (True, False):
        o = np.einsum("hts,shd->htd", (f16(p) if rp else p).astype(np.float64), v.astype(np.float64))
        print("  %-14s P rounded to f16: %s, NMSE %.2g" % ("kqv-%d" % L, rp, nmse(o, get("kqv-%d" % L).reshape(o.shape))))
    rq = fw.rope(get("Qcur-%d" % L, 0).reshape(n, H, hd), np.arange(n))
    print("  %-14s RoPE in f32, NMSE %.2g" % ("Qcur-%d" % L, nmse(rq.reshape(n, -1), q.reshape(n, -1))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--model")
    f.add_argument("--act", choices=["exact", "q8", "q8-f16"], default="exact")
    f.add_argument("--kv", choices=["f32", "f16"], default="f32")
    f.add_argument("--q-f16", action="store_true")
    f.add_argument("--p-f16", action="store_true")
    f.add_argument("--rms-f32", action="store_true")
    f.add_argument("--peer", action="store_true")
    f.add_argument("-o", "--out", required=True)
    p = sub.add_parser("peer")
    p.add_argument("--model")
    p.add_argument("--flash-attn", action="store_true")
    p.add_argument("--kv-f32", action="store_true")
    p.add_argument("-o", "--out", required=True)
    d = sub.add_parser("dump")
    d.add_argument("n", type=int)
    d.add_argument("--model")
    d.add_argument("-o", "--out", required=True)
    k = sub.add_parser("check-ops")
    k.add_argument("dump")
    k.add_argument("layer", type=int, nargs="?", default=0)
    k.add_argument("--model")
    o = sub.add_parser("other-texts")
    o.add_argument("--model")
    o.add_argument("--build", default=os.path.join(ROOT, "build"))
    c = sub.add_parser("compare")
    c.add_argument("ref")
    c.add_argument("logits", nargs="+")
    a = ap.parse_args()
    {"forward": cmd_forward, "peer": cmd_peer, "dump": cmd_dump, "check-ops": cmd_check_ops,
     "other-texts": cmd_other_texts, "compare": cmd_compare}[a.cmd](a)


if __name__ == "__main__":
    main()
