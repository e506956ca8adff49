#!/usr/bin/env python3
"""CPU speed of mlxn against llama.cpp (the build PyPI llama-cpp-python makes) on the same
GGUF file with the same thread count, measured side by side in one run: rounds alternate
between the two so that load from other users of the machine hits both alike.

  prefill: a P-token prompt (random ids, fixed seed) from an empty cache, logits of the last;
  decode:  N single-token steps after a 1-token prompt (greedy), tokens/s over the steps.

llama.cpp is timed around the wrapper's eval calls (wall clock, greedy argmax included, as
mlxn's decode includes its argmax); mlxn's figures come from `mlxn bench --json`.

usage: scripts/bench-cpu-vs-llamacpp.py [--model FILE] [--mlxn build/bin/mlxn] [-p 256] [-n 128]
                                         [-r 5] [-t 2] [--md docs/perf/engine-cpu.md]
"""
import argparse, json, os, random, statistics, subprocess, sys, tempfile, time

import llama_cpp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def llama_round(llm, prompt, n_gen):
    """One prefill and one decode measurement with llama.cpp; returns (pp t/s, tg t/s).
    Wall-clock around the wrapper's eval (its perf counters read zero in this build); the
    wrapper adds a copy of one logits row per call (~0.2 MB), well under 1% of a step."""
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(prompt)
    pp = len(prompt) / (time.perf_counter() - t0)

    llm.reset()
    llm.eval(prompt[:1])
    tok = prompt[1]
    t0 = time.perf_counter()
    for _ in range(n_gen):
        llm.eval([tok])
        tok = int(llm.scores[llm.n_tokens - 1].argmax())
    return pp, n_gen / (time.perf_counter() - t0)


def mlxn_round(mlxn, model, n_prompt, n_gen, threads):
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        subprocess.run([mlxn, "bench", "-m", model, "-p", str(n_prompt), "-n", str(n_gen), "-r", "1",
                        "-t", str(threads), "--device", "cpu", "--json", out],
                       check=True, stdout=subprocess.DEVNULL)
        res = {r["test"]: r["avg_ts"] for r in json.load(open(out))}
    finally:
        os.unlink(out)
    return res["pp%d" % n_prompt], res["tg%d" % n_gen]


def fmt(v):
    return "%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--mlxn", default=os.path.join(ROOT, "build/bin/mlxn"))
    ap.add_argument("-p", type=int, default=256)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=5)
    ap.add_argument("-t", type=int, default=2)
    ap.add_argument("--md", help="append the result table to this markdown file")
    a = ap.parse_args()
    model = a.model or subprocess.check_output(["bash", os.path.join(ROOT, "scripts/fetch-model.sh")],
                                               text=True).strip()

    llm = llama_cpp.Llama(model_path=model, n_ctx=a.p + a.n + 8, n_batch=a.p, n_ubatch=a.p,
                          n_threads=a.t, n_threads_batch=a.t, verbose=False)
    rnd = random.Random(1234)
    prompt = [rnd.randrange(llm.n_vocab()) for _ in range(a.p)]

    llama_round(llm, prompt, 8)                       # warm-up
    res = {"llama.cpp": ([], []), "mlxn": ([], [])}
    for r in range(a.r):
        pp, tg = llama_round(llm, prompt, a.n)
        res["llama.cpp"][0].append(pp)
        res["llama.cpp"][1].append(tg)
        pp, tg = mlxn_round(a.mlxn, model, a.p, a.n, a.t)
        res["mlxn"][0].append(pp)
        res["mlxn"][1].append(tg)
        print("round %d: llama.cpp pp %.1f tg %.1f | mlxn pp %.1f tg %.1f"
              % (r + 1, res["llama.cpp"][0][-1], res["llama.cpp"][1][-1], pp, tg), file=sys.stderr)

    lines = [
        "| engine | threads | pp%d t/s | tg%d t/s |" % (a.p, a.n),
        "| --- | ---: | ---: | ---: |",
    ]
    for name in ("mlxn", "llama.cpp"):
        lines.append("| %s | %d | %s | %s |" % (name, a.t, fmt(res[name][0]), fmt(res[name][1])))
    ratio_pp = statistics.mean(res["mlxn"][0]) / statistics.mean(res["llama.cpp"][0])
    ratio_tg = statistics.mean(res["mlxn"][1]) / statistics.mean(res["llama.cpp"][1])
    lines.append("")
    lines.append("mlxn / llama.cpp: prefill %.2fx, decode %.2fx (llama-cpp-python %s, %d rounds, %s)"
                 % (ratio_pp, ratio_tg, llama_cpp.__version__, a.r, os.path.basename(model)))
    text = "\n".join(lines)
    print(text)
    if a.md:
        with open(a.md, "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
