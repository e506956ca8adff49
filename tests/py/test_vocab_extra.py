"""The tokenizer on llama.cpp's own vocabulary test vectors (models/ggml-vocab-*.gguf with
.inp/.out), fetched from the llama-cpp-python source distribution on PyPI by
scripts/fetch-vocab.sh into $MLXN_BINARY_DIR/vocab (downloaded once, cached).

For every vocabulary with vectors:
  - mlxn decides whether it supports the tokenizer (model and pre-tokenizer); one it refuses
    as unsupported is listed by name with mlxn's reason and counts neither as pass nor fail;
  - a supported one must pass test_tokenizer with MLXN_EXTRA_VOCAB=<file> (every case
    tokenizes exactly, detokenizes back whole and streamed, four threads agree, random bytes
    round-trip), and `mlxn tokenize -f .inp --separator` must print exactly the .out lines.
A failed download is a failure. Vocabularies in KNOWN_BROKEN are kept out with the reason."""
import os
import re
import subprocess
import sys

SOURCE = os.environ.get("MLXN_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("MLXN_BINARY_DIR", os.path.join(SOURCE, "build"))
MLXN = os.environ.get("MLXN_BIN", os.path.join(BINARY, "bin", "mlxn"))
TEST_TOKENIZER = os.path.join(BINARY, "tests", "test_tokenizer")
VOCAB = os.path.join(BINARY, "vocab")
SEP = "__ggml_vocab_test__"

# Supported vocabularies that do not pass yet, kept out of the run: file name -> open problem.
# (Empty: every vocabulary mlxn supports passes.)
KNOWN_BROKEN = {}

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)
    return cond


def finish():
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def split_inp(data):
    """Texts of an .inp file: the lines between separator lines, joined by newlines."""
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    texts, cur = [], None
    for line in lines:
        if line == SEP.encode():
            texts.append(b"\n".join(cur) if cur else b"")
            cur = None
        else:
            cur = (cur or []) + [line]
    if cur:
        texts.append(b"\n".join(cur))
    return texts


def out_lines(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def support(path):
    """(True, None) when mlxn loads the file's tokenizer; (False, reason) when it refuses it as
    unsupported; (None, message) for any other failure."""
    r = subprocess.run([MLXN, "tokenize", "-m", path, "-p", "x"], capture_output=True)
    err = r.stderr.decode(errors="replace").strip()
    if r.returncode == 0:
        return True, None
    m = re.search(r"unsupported: (tokenizer\.ggml\.(model|pre) .*)", err)
    if m:
        return False, m.group(1)
    return None, f"exit {r.returncode}: {err}"


def run_c_test(path, name, n_cases):
    """test_tokenizer with this one vocabulary as an extra file; its summary line must say
    every case passed all three ways."""
    env = dict(os.environ, MLXN_EXTRA_VOCAB=path)
    r = subprocess.run([TEST_TOKENIZER], capture_output=True, env=env, timeout=300)
    out = r.stdout.decode(errors="replace")
    # the last summary line for this name is the extra run (gpt-2 and llama-spm also run built in)
    summary = [line for line in out.splitlines() if line.strip().startswith(f"{name}: ") and "tokenize," in line]
    if not check(r.returncode == 0 and summary, f"{name}: test_tokenizer exit {r.returncode}"):
        print("\n".join(line for line in out.splitlines() if name in line or "FAIL" in line)[-6000:])
        return None
    m = re.search(r"(\d+)/(\d+) tokenize, (\d+)/(\d+) detokenize, (\d+)/(\d+) stream", summary[-1])
    counts = [int(x) for x in m.groups()] if m else []
    check(counts == [n_cases] * 6, f"{name}: test_tokenizer summary '{summary[-1].strip()}', want {n_cases} cases")
    return summary[-1].strip()


def run_cli(path, name, want):
    r = subprocess.run([MLXN, "tokenize", "-m", path, "-f", path + ".inp", "--separator", SEP], capture_output=True)
    if not check(r.returncode == 0, f"{name}: mlxn tokenize exit {r.returncode}: {r.stderr.decode(errors='replace')}"):
        return 0
    got = r.stdout.decode().split("\n")
    if got and got[-1] == "":
        got.pop()
    ok = sum(g.split() == w.split() for g, w in zip(got, want))
    check(len(got) == len(want) and ok == len(want), f"{name}: mlxn tokenize matches {ok}/{len(want)} .out lines "
          f"({len(got)} printed)")
    return ok


def main():
    # fetch (a failure here fails the test: CI reaches PyPI)
    r = subprocess.run(["bash", os.path.join(SOURCE, "scripts", "fetch-vocab.sh"), VOCAB], timeout=900)
    if not check(r.returncode == 0, f"scripts/fetch-vocab.sh {VOCAB} exited {r.returncode}"):
        finish()
    check(os.access(TEST_TOKENIZER, os.X_OK), f"{TEST_TOKENIZER} is built")
    check(os.access(MLXN, os.X_OK), f"{MLXN} is built")
    if failed:
        finish()

    ggufs = sorted(f for f in os.listdir(VOCAB) if f.startswith("ggml-vocab-") and f.endswith(".gguf"))
    check(len(ggufs) >= 10, f"{len(ggufs)} vocabulary files in {VOCAB}")
    results, unsupported, no_vectors, broken = [], [], [], []
    for name in ggufs:
        path = os.path.join(VOCAB, name)
        if not (os.path.exists(path + ".inp") and os.path.exists(path + ".out")):
            no_vectors.append(name)
            continue
        if name in KNOWN_BROKEN:
            broken.append(f"{name}: {KNOWN_BROKEN[name]}")
            continue
        ok, why = support(path)
        if ok is False:
            unsupported.append(f"{name}: {why}")
            continue
        if not check(ok, f"{name}: mlxn cannot load it: {why}"):
            continue
        texts = split_inp(open(path + ".inp", "rb").read())
        want = out_lines(path + ".out")
        check(len(texts) == len(want) and len(texts) > 20, f"{name}: {len(texts)} texts, {len(want)} .out lines")
        summary = run_c_test(path, name, len(texts))
        cli_ok = run_cli(path, name, want)
        results.append((name, summary, cli_ok, len(want)))

    print("supported vocabularies:")
    for name, summary, cli_ok, n in results:
        print(f"  {summary or name + ': test_tokenizer FAILED'}; mlxn tokenize {cli_ok}/{n}")
    print("not supported by mlxn (not counted):")
    for line in unsupported:
        print("  " + line)
    if no_vectors:
        print("no .inp/.out vectors (not run): " + ", ".join(no_vectors))
    if broken:
        print("known broken, kept out:")
        for line in broken:
            print("  " + line)
    check(len(results) >= 6, f"{len(results)} supported vocabularies ran (expected at least 6)")
    finish()


if __name__ == "__main__":
    main()
