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
import random
import re
import struct
import subprocess
import tempfile

from mlxn_testlib import BINARY, MLXN, SOURCE, abort, check, finish, tally

try:
    import numpy as np
    import regex
except ImportError as e:  # a missing oracle is a failure, not a skip
    abort(f"oracle package missing: {e}")

TEST_TOKENIZER = os.path.join(BINARY, "tests", "test_tokenizer")
VOCAB = os.path.join(BINARY, "vocab")
SEP = "__ggml_vocab_test__"

# Supported vocabularies that do not pass yet, kept out of the run: file name -> open problem.
# (Empty: every vocabulary mlxn supports passes.)
KNOWN_BROKEN = {}


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

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = LLAMA3_RE.replace(r"\p{N}{1,3}", r"\p{N}")
QWEN35_RE = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}"
             r"| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
# tokenizer.ggml.pre -> the regexes applied in sequence (each splits what the previous left)
PRE_REGEXES = {
    "default": [GPT2_RE], "gpt-2": [GPT2_RE], "mpt": [GPT2_RE], "llama-bpe": [LLAMA3_RE], "qwen2": [QWEN2_RE], "qwen35": [QWEN35_RE],
    "starcoder": [r"\p{N}", GPT2_RE], "refact": [r"\p{N}", GPT2_RE], "command-r": [r"\p{N}", GPT2_RE],
    "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2_RE, r"[0-9][0-9][0-9]"],
}

PIECES = ["Hello", "world", "the", "a", "I", "x", "ing", "tion", "12", "2024", "7", "3.14", "1,000,000", "123456789",
          " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", ".", ",", "!", "?", "...", "--", "()", "[]", "{}",
          "'s", "'S", "'ll", "'RE", "'ve", "'d", "'t", "'m", "\"", "#", "$", "%", "&", "*", "+", "=", "<", ">", "@",
          "_", "~", "^", "|", "\\", "/", "`", "+=", "->", "<=>", "def f(x):", "caf\u00e9", "\u00fcber", "stra\u00dfe",
          "\u00f1", "\u0436\u0443\u043a", "\u4e2d\u6587", "\u30c6\u30b9\u30c8", "\u0645\u0631\u062d\u0628\u0627",
          "\U0001f600", "\U0001f44d\U0001f3fd", "e\u0301", "re\u0301sume\u0301", "Vie\u0302\u0301t", "\u00bd", "\u00b2",
          "\u0663", "\u00a0", "\u2003", "\u3000", "\u2014", "\u00a9", "\u0915\u094d\u0937", "\ufb01", "\u2581",
          "\u0120", "<s>", "</s>", "<|endoftext|>"]


def byte_to_unicode():
    keep = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    table, k = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + k)
            k += 1
    return table


# GGUF metadata value types: id -> (struct format, numpy dtype); 8 = string, 9 = array
GGUF_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


def read_metadata(path):
    """The key/value metadata of a GGUF file (v2/v3, little-endian) as a dict: strings as
    bytes, arrays as lists (numeric arrays as numpy arrays). The PyPI reader builds an object
    per array element, far too slow for 256k-token vocabularies, hence this small one."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)[0]
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<Q")
        pos += n
        return data[pos - n:pos]

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            et, n = take("<I"), take("<Q")
            if et in GGUF_SCALARS:
                dt = np.dtype(GGUF_SCALARS[et])
                pos += dt.itemsize * n
                return np.frombuffer(data, dt, n, pos - dt.itemsize * n)
            return [value(et) for _ in range(n)]
        return take(GGUF_SCALARS[t])

    if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] < 2:
        raise ValueError(f"{path}: not a GGUF v2+ file")
    pos = 16   # magic, version, tensor count
    meta = {}
    for _ in range(take("<Q")):
        key = string().decode()
        meta[key] = value(take("<I"))
    return meta


class BpeOracle:
    def __init__(self, path):
        f = read_metadata(path)
        self.pre = f.get("tokenizer.ggml.pre", b"default").decode()
        tokens = [t.decode("utf-8") for t in f["tokenizer.ggml.tokens"]]
        types = f["tokenizer.ggml.token_type"].tolist()
        self.ids = {}
        for i, t in enumerate(tokens):
            self.ids[t] = i   # a duplicate text: the later id, as mlxn does
        self.ranks = {}
        for r, m in enumerate(t.decode("utf-8") for t in f["tokenizer.ggml.merges"]):
            a, b = m.split(" ", 1) if not m.startswith(" ") else (" ", m[2:])
            self.ranks.setdefault((a, b), r)
        # user-defined tokens are cut out of the text first, longest first (then lowest id)
        self.user = sorted((i for i, ty in enumerate(types) if ty == 4 and tokens[i]), key=lambda i: (-len(tokens[i].encode()), i))
        self.tokens = tokens
        self.res = [regex.compile(p) for p in PRE_REGEXES[self.pre]]
        self.ignore_merges = self.pre == "llama-bpe"
        self.b2u = byte_to_unicode()

    def words(self, text):
        pieces = [text]
        for rx in self.res:
            out = []
            for piece in pieces:
                pos = 0
                for m in rx.finditer(piece):
                    if m.end() == m.start():
                        continue
                    if m.start() > pos:
                        out.append(piece[pos:m.start()])
                    out.append(m.group())
                    pos = m.end()
                if pos < len(piece):
                    out.append(piece[pos:])
            pieces = out
        return pieces

    def encode_plain(self, text):
        out = []
        for word in self.words(text):
            syms = [self.b2u[b] for b in word.encode("utf-8")]
            if self.ignore_merges and "".join(syms) in self.ids:
                out.append(self.ids["".join(syms)])
                continue
            while len(syms) > 1:   # the lowest-rank pair, leftmost on ties
                best = None
                for i in range(len(syms) - 1):
                    r = self.ranks.get((syms[i], syms[i + 1]))
                    if r is not None and (best is None or r < best[0]):
                        best = (r, i)
                if best is None:
                    break
                i = best[1]
                syms[i:i + 2] = [syms[i] + syms[i + 1]]
            out.extend(self.ids[s] for s in syms)
        return out

    def encode(self, text):
        frags = [text]   # str: plain text; int: a user-defined token id
        for uid in self.user:
            tt = self.tokens[uid]
            if not any(isinstance(f, str) and tt in f for f in frags):
                continue
            nxt = []
            for f in frags:
                if not isinstance(f, str):
                    nxt.append(f)
                    continue
                parts = f.split(tt)
                for k, p in enumerate(parts):
                    if p:
                        nxt.append(p)
                    if k + 1 < len(parts):
                        nxt.append(uid)
            frags = nxt
        out = []
        for f in frags:
            out.extend([f] if isinstance(f, int) else self.encode_plain(f))
        return out


def random_texts(seed, n):
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) + (" " if rng.random() < 0.4 else "") for _ in range(rng.randint(1, 14)))
            for _ in range(n)]


ORACLE_TEXTS = random_texts(4321, 200)


def oracle_check(path, name, texts, tmp):
    """Counts the texts on which mlxn tokenize equals the Python BPE (a failure each)."""
    pre = read_metadata(path).get("tokenizer.ggml.pre", b"default").decode()
    if not check(pre in PRE_REGEXES, f"{name}: pre-tokenizer '{pre}' has no entry in PRE_REGEXES (the oracle)"):
        return 0
    ref = BpeOracle(path)
    inp = os.path.join(tmp, "texts.inp")
    with open(inp, "wb") as f:
        for t in texts:
            f.write(t.encode("utf-8") + b"\n" + SEP.encode() + b"\n")
    r = subprocess.run([MLXN, "tokenize", "-m", path, "-f", inp, "--separator", SEP], capture_output=True)
    if not check(r.returncode == 0, f"{name}: oracle texts: mlxn exit {r.returncode}: {r.stderr.decode(errors='replace')}"):
        return 0
    got = [list(map(int, line.split())) for line in r.stdout.decode().split("\n")[:len(texts)]]
    bad = 0
    for t, g in zip(texts, got):
        want = ref.encode(t)
        if g != want:
            bad += 1
            if bad <= 3:
                print(f"  oracle {name}: {t!r}\n    words {ref.words(t)!r}\n    got  {g}\n    want {want}")
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
