"""The tokenizer on llama.cpp's own vocabulary test vectors (models/ggml-vocab-*.gguf with
.inp/.out), fetched from the llama-cpp-python source distribution on PyPI by
scripts/fetch-vocab.sh into $MLXN_BINARY_DIR/vocab (downloaded once, cached).

For every vocabulary with vectors:
  - mlxn decides whether it supports the tokenizer (model and pre-tokenizer); one it refuses
    as unsupported is listed by name with mlxn's reason and counts neither as pass nor fail;
  - a supported one must pass test_tokenizer with MLXN_EXTRA_VOCAB=<file> (every case
    tokenizes exactly, detokenizes back whole and streamed, four threads agree, random bytes
    round-trip), and `mlxn tokenize -f .inp --separator` must print exactly the .out lines.
Then an independent check beyond the fixed cases: every supported byte-level BPE vocabulary
(model gpt2) on random multilingual texts against a plain Python BPE written from the
published rules, its pre-tokenizer regexes run by the `regex` module (a different engine from
PCRE2), user-defined tokens split out first as mlxn and llama.cpp do.
A failed download is a failure. Vocabularies in KNOWN_BROKEN are kept out with the reason."""
import os
import re
import subprocess
import tempfile

from mlxn_testlib import BINARY, MLXN, SOURCE, abort, check, finish, tally

try:
    from tokenizer_oracle import (PRE_REGEXES, SEP, BpeOracle, count_differences, mlxn_tokenize_texts, out_lines,
                                  random_texts, read_metadata, read_vocab, split_inp)
except ImportError as e:  # a missing oracle is a failure, not a skip
    abort(f"oracle package missing: {e}")

TEST_TOKENIZER = os.path.join(BINARY, "tests", "test_tokenizer")
VOCAB = os.path.join(BINARY, "vocab")

# Supported vocabularies that do not pass yet, kept out of the run: file name -> open problem.
# (Empty: every vocabulary mlxn supports passes.)
KNOWN_BROKEN = {}


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


def model(path):
    return read_metadata(path).get("tokenizer.ggml.model", b"").decode()


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


# ---------------------------------------------------------------------------
# Independent oracle for byte-level BPE vocabularies
# ---------------------------------------------------------------------------

PIECES = ["Hello", "world", "the", "a", "I", "x", "ing", "tion", "12", "2024", "7", "3.14", "1,000,000", "123456789",
          " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", ".", ",", "!", "?", "...", "--", "()", "[]", "{}",
          "'s", "'S", "'ll", "'RE", "'ve", "'d", "'t", "'m", "\"", "#", "$", "%", "&", "*", "+", "=", "<", ">", "@",
          "_", "~", "^", "|", "\\", "/", "`", "+=", "->", "<=>", "def f(x):", "caf\u00e9", "\u00fcber", "stra\u00dfe",
          "\u00f1", "\u0436\u0443\u043a", "\u4e2d\u6587", "\u30c6\u30b9\u30c8", "\u0645\u0631\u062d\u0628\u0627",
          "\U0001f600", "\U0001f44d\U0001f3fd", "e\u0301", "re\u0301sume\u0301", "Vie\u0302\u0301t", "\u00bd", "\u00b2",
          "\u0663", "\u00a0", "\u2003", "\u3000", "\u2014", "\u00a9", "\u0915\u094d\u0937", "\ufb01", "\u2581",
          "\u0120", "<s>", "</s>", "<|endoftext|>"]


ORACLE_TEXTS = random_texts(4321, 200, PIECES)


def oracle_check(path, name, texts, tmp):
    """Counts the texts on which mlxn tokenize equals the Python BPE (a failure each)."""
    pre = read_metadata(path).get("tokenizer.ggml.pre", b"default").decode()
    if not check(pre in PRE_REGEXES, f"{name}: pre-tokenizer '{pre}' has no entry in PRE_REGEXES (the oracle)"):
        return 0
    ref = BpeOracle(read_vocab(path))
    got, rc, err = mlxn_tokenize_texts(MLXN, path, texts, tmp)
    if not check(got is not None, f"{name}: oracle texts: mlxn exit {rc}: {err}"):
        return 0
    bad = count_differences(ref, texts, got, name, 3)
    check(len(got) == len(texts) and bad == 0, f"{name}: {bad}/{len(texts)} random texts differ from the Python BPE")
    return len(texts) - bad


def main():
    # fetch (a failure here fails the test: CI reaches PyPI)
    r = subprocess.run(["bash", os.path.join(SOURCE, "scripts", "fetch-vocab.sh"), VOCAB], timeout=900)
    if not check(r.returncode == 0, f"scripts/fetch-vocab.sh {VOCAB} exited {r.returncode}"):
        finish()
    check(os.access(TEST_TOKENIZER, os.X_OK), f"{TEST_TOKENIZER} is built")
    check(os.access(MLXN, os.X_OK), f"{MLXN} is built")
    if tally.failed:
        finish()

    ggufs = sorted(f for f in os.listdir(VOCAB) if f.startswith("ggml-vocab-") and f.endswith(".gguf"))
    check(len(ggufs) >= 10, f"{len(ggufs)} vocabulary files in {VOCAB}")
    results, unsupported, no_vectors, broken = [], [], [], []
    for name in ggufs:
        path = os.path.join(VOCAB, name)
        if not (os.path.exists(path + ".inp") and os.path.exists(path + ".out")):
            # no fixed cases; a byte-level BPE one mlxn loads still gets the random-text oracle
            # (same regexes on both sides: this checks the BPE engine on one more vocabulary)
            note = "no vectors"
            if support(path)[0] and model(path) == "gpt2":
                with tempfile.TemporaryDirectory() as tmp:
                    note += f"; random texts vs Python BPE {oracle_check(path, name, ORACLE_TEXTS, tmp)}/{len(ORACLE_TEXTS)}"
            no_vectors.append(f"{name} ({note})")
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
        oracle_ok = None
        if model(path) == "gpt2":
            with tempfile.TemporaryDirectory() as tmp:
                oracle_ok = oracle_check(path, name, ORACLE_TEXTS, tmp)
        results.append((name, summary, cli_ok, len(want), oracle_ok))

    print("supported vocabularies:")
    for name, summary, cli_ok, n, oracle_ok in results:
        extra = "" if oracle_ok is None else f"; random texts vs Python BPE {oracle_ok}/{len(ORACLE_TEXTS)}"
        print(f"  {summary or name + ': test_tokenizer FAILED'}; mlxn tokenize {cli_ok}/{n}{extra}")
    print("not supported by mlxn (not counted):")
    for line in unsupported:
        print("  " + line)
    if no_vectors:
        print("no .inp/.out vectors:")
        for line in no_vectors:
            print("  " + line)
    if broken:
        print("known broken, kept out:")
        for line in broken:
            print("  " + line)
    check(len(results) >= 12, f"{len(results)} supported vocabularies ran (expected at least 12)")
    finish()


if __name__ == "__main__":
    main()
