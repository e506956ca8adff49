#!/usr/bin/env python3
"""Golden data for the engine tests, made with llama.cpp (PyPI llama-cpp-python) on the
default model file (SmolLM2-135M-Instruct Q4_1):

  tokens   token ids of several texts (BOS as the model's metadata says, special-token
           parsing off);
  forced   a 185-token text run teacher-forced: at every position the peer's top-5 token
           ids and logits, plus the standard deviation of that position's full logit row
           (the scale the tests normalise errors by);
  greedy   3 prompts continued greedily (argmax) for 32 tokens, stopping early at EOS;

and, from a NumPy forward pass in exact arithmetic (scripts/golden_precision.py: f32 values,
weights dequantized exactly, f32 K/V; no peer involved):

  forced_exact  the same text's top-5 ids and logits and row std, plus the peer's distance
                from it (the peer rounds activations to 8 bits: docs/engine.md).

usage: scripts/make-goldens.py [MODEL.gguf] [-o tests/golden/smollm2-q4_1.json]
       scripts/make-goldens.py --exact-only [MODEL.gguf]   (adds/replaces forced_exact in the
                                                            existing file; no llama-cpp-python)
"""
import argparse, hashlib, json, os, subprocess, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_precision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TOKEN_TEXTS = [
    "Hello world",
    " Hello, World! How are you?",
    "The year 2024 had 366 days; 3.14159 is pi.",
    "def add(a, b):\n    return a + b\n",
    "naïve café — über straße, 日本語のテキスト, emoji 🙂🚀",
    "   leading spaces\n\n\ttabs and\r\nCRLF   ",
    "<|im_start|>user\nnot special here<|im_end|>",
    "",
]

FORCED_TEXT = (
    "The history of computing is a story of people finding ways to make machines do "
    "arithmetic faster than any human could. Early mechanical calculators, such as the ones "
    "built by Pascal and Leibniz in the seventeenth century, could add and multiply numbers "
    "with gears and wheels. In the nineteenth century, Charles Babbage designed the "
    "Analytical Engine, a general-purpose machine that would have been programmed with "
    "punched cards, and Ada Lovelace wrote what many consider the first computer program for "
    "it. The twentieth century brought electronic computers: machines built from vacuum tubes, "
    "then transistors, and finally integrated circuits that put millions of switches on a "
    "single chip. Today a phone in your pocket holds more computing power than all the "
    "computers that sent people to the Moon. Along the way, programming languages grew from "
    "raw machine code to assembly, then to FORTRAN, C and the languages we use now, and each "
    "step let more people tell computers what to do."
)

# Greedy prompts: llama.cpp itself deviates from exact arithmetic (8-bit activations in its
# integer dot products: NMSE ~2e-3 of the logits against a float64 forward pass, see
# docs/engine.md), so a continuation that passes through a near-tie (top-2 logits within
# ~0.3) is decided by rounding noise, not by the model. These prompts were chosen among ~30
# for continuations without such ties; "margins" records the peer's top-1 minus top-2 logit
# at every step. Chat prompts are tokenized with special tokens parsed.
GREEDY_PROMPTS = [
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "1, 2, 3, 4, 5, 6,",
    "<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n",
]
GREEDY_TOKENS = 32


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def top5(scores):
    """{n, vocab} -> the golden fields: top-5 ids, their logits, each row's standard deviation."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :5]
    return {
        "top5_ids": top.tolist(),
        "top5_logits": [[round(float(scores[i, j]), 5) for j in row] for i, row in enumerate(top)],
        "row_std": [round(float(s), 5) for s in scores.std(axis=1)],
    }


def exact_section(model, forced):
    """forced_exact: the forced text through golden_precision's exact pass, and how far the
    peer's stored top-5 is from it (top-1 agreement, NMSE over the peer's top-5 ids)."""
    lg = golden_precision.Forward(golden_precision.Weights(model)).run(forced["ids"])
    sec = top5(lg)
    ref = golden_precision.full_ref(lg)
    peer_top1 = np.array(forced["top5_ids"])[:, 0]
    agree = peer_top1 == ref["top_ids"][:, 0]
    # the peer's logits are only known at its own top-5: NMSE over those ids, normalised by the
    # exact row std (the direction the test measures is the same: peer vs exact)
    pid, plg = np.array(forced["top5_ids"]), np.array(forced["top5_logits"])
    nmse = (((np.take_along_axis(lg.astype(np.float64), pid, 1) - plg) / ref["std"][:, None]) ** 2).mean()
    sec["method"] = ("scripts/golden_precision.py forward: f32 values, Q4_1/Q8_0 weights dequantized "
                     "exactly, f32 K/V, f64 RMSNorm sums")
    sec["peer_top1_agreement"] = round(float(agree.mean()), 5)
    sec["peer_disagreements"] = [int(i) for i in np.where(~agree)[0]]
    sec["peer_nmse_top5"] = float("%.4g" % nmse)
    return sec


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", nargs="?")
    ap.add_argument("-o", "--out", default=os.path.join(ROOT, "tests/golden/smollm2-q4_1.json"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--exact-only", action="store_true")
    args = ap.parse_args()
    model = args.model or subprocess.check_output(
        ["bash", os.path.join(ROOT, "scripts/fetch-model.sh")], text=True).strip()

    if args.exact_only:
        with open(args.out) as f:
            doc = json.load(f)
        if doc["model_sha256"] != sha256(model):
            sys.exit("make-goldens: %s is not the model the goldens were made with" % model)
        exact = exact_section(model, doc["forced"])
        doc.pop("forced_exact", None)
        keys = list(doc)
        at = keys.index("forced") + 1
        doc = {k: doc[k] for k in keys[:at]} | {"forced_exact": exact} | {k: doc[k] for k in keys[at:]}
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
        e = doc["forced_exact"]
        print("wrote %s: forced_exact (peer top-1 agreement %.2f%%, NMSE %.3g)"
              % (args.out, 100 * e["peer_top1_agreement"], e["peer_nmse_top5"]))
        return

    import llama_cpp

    llm = llama_cpp.Llama(model_path=model, n_ctx=512, n_batch=512, logits_all=True,
                          n_threads=args.threads, seed=0, verbose=False)
    eos = llm.token_eos()

    tokens = [{"text": t, "ids": llm.tokenize(t.encode("utf-8"), add_bos=True, special=False)}
              for t in TOKEN_TEXTS]

    ids = llm.tokenize(FORCED_TEXT.encode("utf-8"), add_bos=True, special=False)
    llm.reset()
    llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)], dtype=np.float64)     # (n_tokens, n_vocab)
    forced = {"text": FORCED_TEXT, "ids": ids, **top5(scores)}

    greedy = []
    for p in GREEDY_PROMPTS:
        prompt = llm.tokenize(p.encode("utf-8"), add_bos=True, special=p.startswith("<|im_start|>"))
        llm.reset()
        llm.eval(prompt)
        out, margins = [], []
        for _ in range(GREEDY_TOKENS):
            row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
            order = np.argsort(-row, kind="stable")
            nxt = int(order[0])
            out.append(nxt)
            margins.append(round(float(row[order[0]] - row[order[1]]), 4))
            if nxt == eos:
                break
            llm.eval([nxt])
        greedy.append({"prompt": p, "prompt_ids": prompt, "ids": out, "margins": margins,
                       "text": llm.detokenize(out).decode("utf-8", "replace")})

    doc = {
        "peer": "llama-cpp-python %s (llama.cpp built from source by pip)" % llama_cpp.__version__,
        "model_file": os.path.basename(model),
        "model_sha256": sha256(model),
        "n_threads": args.threads,
        "kv_cache_type": "f16",
        "eos_id": eos,
        "tokens": tokens,
        "forced": forced,
        "forced_exact": exact_section(model, forced),
        "greedy": greedy,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote %s: %d texts, %d forced positions, %d greedy prompts"
          % (args.out, len(tokens), len(ids), len(greedy)))


if __name__ == "__main__":
    main()
