"""mlxn tokenize on the shared tokenizer vectors: every text of each .inp file must give
exactly the ids of the matching .out line; plus the CLI's -p path, --special and errors."""
import os
import subprocess
import sys
import tempfile

BIN = os.environ.get("MLXN_BIN", "")
SHARED = os.environ.get("MLXN_SHARED_DIR", "")
VOCABS = ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"]
SEP = "__ggml_vocab_test__"

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)
    return cond


def run(*args, stdin=None):
    return subprocess.run([BIN, "tokenize", *args], capture_output=True, input=stdin)


def split_inp(data):
    """Texts of an .inp file: the lines between separator lines, joined by newlines."""
    texts, cur = [], None
    for line in data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n"):
        if line == SEP.encode():
            texts.append(b"\n".join(cur) if cur else b"")
            cur = None
        else:
            cur = (cur or []) + [line]
    if cur:
        texts.append(b"\n".join(cur))
    return texts


def vocab_file(name):
    gguf = os.path.join(SHARED, "testdata", "vocab", name)
    r = run("-m", gguf, "-f", gguf + ".inp", "--separator", SEP)
    if not check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr.decode(errors='replace')}"):
        return
    got = r.stdout.decode().split("\n")
    if got and got[-1] == "":
        got.pop()
    want = open(gguf + ".out", encoding="utf-8").read().split("\n")
    if want and want[-1] == "":
        want.pop()
    texts = split_inp(open(gguf + ".inp", "rb").read())
    check(len(texts) == len(want), f"{name}: {len(texts)} texts in .inp, {len(want)} lines in .out")
    if not check(len(got) == len(want), f"{name}: {len(got)} output lines, want {len(want)}"):
        return
    ok = 0
    for i, (g, w) in enumerate(zip(got, want)):
        if g.split() == w.split():
            ok += 1
        else:
            text = texts[i] if i < len(texts) else b"?"
            check(False, f"{name} case {i} text {text!r}:\n   got  {g.strip()}\n   want {w.strip()}")
    check(ok == len(want), f"{name}: {ok}/{len(want)} cases")
    print(f"{name}: {ok}/{len(want)} cases match")
    # -p gives the same ids as the file path for texts that survive the command line
    for i in (0, 10, 19):
        if b"\0" in texts[i]:
            continue
        r = run("-m", gguf, "-p", texts[i].decode())
        check(r.returncode == 0 and r.stdout.decode().split() == want[i].split(),
              f"{name}: -p {texts[i]!r} -> {r.stdout!r}")


def special_and_errors():
    gpt2 = os.path.join(SHARED, "testdata", "vocab", "ggml-vocab-gpt-2.gguf")
    spm = os.path.join(SHARED, "testdata", "vocab", "ggml-vocab-llama-spm.gguf")
    # GPT-2: <|endoftext|> (50256, control) is text without --special, one id with it
    r = run("-m", gpt2, "-p", "a<|endoftext|>")
    ids = r.stdout.decode().split()
    check(r.returncode == 0 and "50256" not in ids and len(ids) > 2, f"gpt-2 plain: {ids}")
    r = run("-m", gpt2, "-p", "a<|endoftext|>", "--special")
    check(r.stdout.decode().split() == ["64", "50256"], f"gpt-2 --special: {r.stdout!r}")
    # llama-spm adds BOS (add_bos_token true) with --special, not without
    r = run("-m", spm, "-p", "Hello world", "--special")
    check(r.stdout.decode().split() == ["1", "15043", "3186"], f"spm --special: {r.stdout!r}")
    r = run("-m", spm, "-p", "<s>Hello", "--special")
    check(r.stdout.decode().split()[:2] == ["1", "1"], f"spm --special parses <s>: {r.stdout!r}")
    # a plain file is one text, newlines included
    with tempfile.NamedTemporaryFile("wb", suffix=".txt", delete=False) as f:
        f.write(b"Hello world\n")
        path = f.name
    r = run("-m", gpt2, "-f", path)
    check(r.stdout.decode().split() == ["15496", "995", "198"], f"-f whole file: {r.stdout!r}")
    os.unlink(path)
    r = run("--help")
    help_text = r.stdout.decode()
    check(r.returncode == 0 and all(f in help_text for f in ["-m", "-p", "-f", "--separator", "--special"]),
          "--help lists every flag")
    check(run("-m", gpt2).returncode == 2, "no text is a usage error")
    check(run("-m", gpt2, "-p", "x", "-f", "y").returncode == 2, "-p with -f is a usage error")
    r = run("-m", "/nonexistent.gguf", "-p", "x")
    check(r.returncode == 1 and b"nonexistent" in r.stderr, f"missing model: {r.stderr!r}")


def main():
    if not check(BIN and os.path.exists(BIN), f"MLXN_BIN not set or missing: {BIN!r}"):
        print(f"{passed} passed, {failed} failed")
        return 1
    for v in VOCABS:
        vocab_file(v)
    special_and_errors()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
