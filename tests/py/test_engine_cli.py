#!/usr/bin/env python3
"""The engine's commands as a user runs them, on the real SmolLM2 file (fetched from PyPI by
scripts/fetch-model.sh): `mlxn run` (greedy continuation, chat over stdin, sampling seeds,
--system, error exits), `mlxn bench --json`, `mlxn synth` + `mlxn bench` on the result, and
every --help."""
import json, os, subprocess, tempfile

from mlxn_testlib import MLXN, SOURCE, VOCAB_DIR, abort, check, finish


def mlxn(*args, stdin=None, timeout=300):
    return subprocess.run([MLXN, *args], input=stdin, capture_output=True, text=True, timeout=timeout)


def main():
    model = subprocess.run(["bash", os.path.join(SOURCE, "scripts/fetch-model.sh")], capture_output=True,
                           text=True).stdout.strip()
    if not model or not os.path.exists(model):
        abort("scripts/fetch-model.sh gave no model")
    base = ["-m", model, "--device", "cpu", "-t", "2", "--ctx", "256"]

    # greedy continuation: the prompt is echoed, then the model's digits; speed on stderr
    r = mlxn("run", *base, "-p", "1, 2, 3, 4, 5, 6,", "-n", "12")
    check(r.returncode == 0, "run exit %d: %s" % (r.returncode, r.stderr))
    check(r.stdout.startswith("1, 2, 3, 4, 5, 6, 7, 8, 9, 10"), "greedy digits: %r" % r.stdout)
    check("tokens/s" in r.stderr and "KV cache f16" in r.stderr, "speed and KV line: %r" % r.stderr)

    # prompt file, same result
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("1, 2, 3, 4, 5, 6,")
    r2 = mlxn("run", *base, "-f", f.name, "-n", "12")
    os.unlink(f.name)
    check(r2.returncode == 0 and r2.stdout == r.stdout, "-f gives the same text: %r" % r2.stdout)

    # control tokens written in the prompt are parsed; generation stops at the end-of-turn token
    # (a prompt whose greedy answer has no near-tie: see scripts/make-goldens.py)
    chat = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    r = mlxn("run", *base, "-p", chat, "-n", "40")
    check(r.returncode == 0 and r.stdout == chat + "The capital of France is Paris.\n",
          "chat-formatted prompt: %r %r" % (r.stdout, r.stderr))

    # --system wraps the prompt as a chat turn (the answer itself is the model's business)
    r = mlxn("run", *base, "--system", "You are a helpful assistant.", "-p", "Name a colour.", "-n", "8")
    check(r.returncode == 0 and len(r.stdout) > len("Name a colour.") + 1, "--system: %r %r" % (r.stdout, r.stderr))
    check("<|im_" not in r.stdout, "control tokens are not printed: %r" % r.stdout)

    # interactive chat over stdin: two turns, the second reuses the cached prefix
    r = mlxn("run", *base, "--chat", "-n", "24", stdin="Say hello.\nAnd once more?\n")
    check(r.returncode == 0, "chat exit %d: %s" % (r.returncode, r.stderr))
    # the token after "Hello" is a near tie ("!" over " there" by 5e-4 in exact arithmetic, the
    # ref backend; the cpu backend's logits carry ~0.1 of rounding), so only the word is pinned
    check(r.stdout.startswith("Hello"), "chat first answer: %r" % r.stdout)
    check(r.stderr.count("mlxn run: prompt") == 2, "two turns timed: %r" % r.stderr)
    # the second turn prefills only what the first did not leave in the cache
    n2 = [int(l.split("prompt ")[1].split()[0]) for l in r.stderr.splitlines() if l.startswith("mlxn run: prompt")]
    check(len(n2) == 2 and 0 < n2[1] < n2[0], "second turn reuses the cache: %r" % n2)

    # sampling: same seed, same text; another seed, another text
    samp = ["-p", "Once upon a time", "-n", "16", "--temp", "1.0", "--top-k", "0", "--top-p", "1", "--min-p", "0"]
    a = mlxn("run", *base, *samp, "--seed", "5").stdout
    b = mlxn("run", *base, *samp, "--seed", "5").stdout
    c = mlxn("run", *base, *samp, "--seed", "6").stdout
    check(a == b and len(a) > len("Once upon a time"), "seeded sampling repeats: %r / %r" % (a, b))
    check(a != c, "another seed gives another text")

    # errors: exit codes and messages
    r = mlxn("run", *base[:-2], "--ctx", "8", "-p", "word " * 40)
    check(r.returncode == 1 and "context full" in r.stderr, "prompt over the context: %r" % r.stderr)
    r = mlxn("run", "-m", "/nonexistent.gguf", "-p", "x")
    check(r.returncode == 1 and "/nonexistent.gguf" in r.stderr, "missing model: %r" % r.stderr)
    r = mlxn("run", "-m", model)
    check(r.returncode == 2 and "-p TEXT" in r.stderr, "no prompt: %r" % r.stderr)
    r = mlxn("run", *base, "-p", "x", "--temp", "-1")
    check(r.returncode == 2, "negative temperature refused")
    r = mlxn("run", *base, "-p", "x", "--bogus")
    check(r.returncode == 2 and "--bogus" in r.stderr, "unknown flag: %r" % r.stderr)

    # bench: table and JSON
    with tempfile.TemporaryDirectory() as d:
        js = os.path.join(d, "b.json")
        r = mlxn("bench", "-m", model, "-p", "32", "-n", "8", "-r", "2", "-t", "2", "--device", "cpu", "--json", js)
        check(r.returncode == 0 and "pp32" in r.stdout and "tg8" in r.stdout, "bench table: %r" % r.stdout)
        res = json.load(open(js)) if os.path.exists(js) else []
        check(len(res) == 2 and all(x["avg_ts"] > 0 and len(x["samples_ts"]) == 2 for x in res), "bench JSON: %r" % res)

        # synth: a small real-shaped file that loads and runs
        sy = os.path.join(d, "tiny.gguf")
        r = mlxn("synth", "--shape", "tiny", "--mix", "q4_k_m", "-o", sy)
        check(r.returncode == 0 and os.path.getsize(sy) > 100000, "synth: %r" % r.stderr)
        r = mlxn("bench", "-m", sy, "-p", "16", "-n", "4", "-r", "1", "-t", "2", "--device", "cpu")
        check(r.returncode == 0 and "synthetic tiny q4_k_m" in r.stdout, "bench on synth: %r %r" % (r.stdout, r.stderr))
        r = mlxn("bench", "-m", sy, "-p", "0", "-n", "4", "-r", "1", "-t", "2", "--device", "cpu", "--ctx", "300")
        check(r.returncode == 0 and "tg4" in r.stdout, "bench --ctx 300: %r %r" % (r.stdout, r.stderr))
        r = mlxn("bench", "-m", sy, "-p", "16", "-n", "4", "-r", "1", "-t", "2", "--device", "cpu", "--ctx", "8")
        check(r.returncode == 2 and "--ctx 8 is smaller" in r.stderr, "bench --ctx below the test's need: %r" % r.stderr)
        r = mlxn("info", sy)
        check(r.returncode == 0 and "q4_K" in r.stdout and "q6_K" in r.stdout, "synth mix has q4_K and q6_K")
        r = mlxn("synth", "--shape", "nope", "-o", sy)
        check(r.returncode == 2, "unknown shape refused")

        # synth --tokenizer: the tokenizer of another file travels with the random weights, so the
        # result tokenizes exactly as that file does and can be run
        text = "Hello world, it's 2026! Ünïcödé and    spaces."
        for vf in ("ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"):
            vpath = os.path.join(VOCAB_DIR, vf)
            st = os.path.join(d, "tok-" + vf)
            r = mlxn("synth", "--shape", "tiny", "--mix", "q8_0", "--tokenizer", vpath, "-o", st)
            if not check(r.returncode == 0, "synth --tokenizer %s: %r" % (vf, r.stderr)):
                continue
            a = mlxn("tokenize", "-m", st, "-p", text)
            b = mlxn("tokenize", "-m", vpath, "-p", text)
            check(a.returncode == 0 and b.returncode == 0 and a.stdout.split() == b.stdout.split() and len(a.stdout.split()) > 5,
                  "synth --tokenizer %s tokenizes like its source: %r vs %r" % (vf, a.stdout, b.stdout))
            r = mlxn("run", "-m", st, "-p", "Hello", "-n", "4", "-t", "2", "--device", "cpu", "--seed", "3")
            check(r.returncode == 0 and "generation 4 tokens" in r.stderr, "run on synth --tokenizer %s: %r" % (vf, r.stderr))
        r = mlxn("synth", "--shape", "tiny", "--tokenizer", os.path.join(d, "missing.gguf"), "-o", sy)
        check(r.returncode != 0 and "missing.gguf" in r.stderr, "synth --tokenizer with a missing file: %r" % r.stderr)

    for cmd in ("run", "bench", "synth"):
        r = mlxn(cmd, "--help")
        check(r.returncode == 0 and "usage: mlxn " + cmd in r.stdout, "%s --help" % cmd)

    finish()


if __name__ == "__main__":
    main()
