"""mlxn tokenize on the shared tokenizer vectors: every text of each .inp file must give
exactly the ids of the matching .out line; plus the CLI's -p path, --special and errors.

Then an independent oracle: the GPT-2 vocabulary re-labelled with each pre-tokenizer
(gpt-2, llama-bpe, qwen2, smollm) and the llama-spm vocabulary, on random multilingual
texts, against a plain Python BPE / SentencePiece written from the published rules, with
the pre-tokenizer regexes run by the `regex` module (a different engine from PCRE2)."""
import os
import random
import subprocess
import tempfile

from mlxn_testlib import MLXN, VOCAB_DIR, abort, check, finish

try:
    import gguf
    import regex
except ImportError as e:  # a missing oracle is a failure, not a skip
    abort(f"oracle package missing: {e}")

VOCABS = ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"]
SEP = "__ggml_vocab_test__"


def run(*args, stdin=None):
    return subprocess.run([MLXN, "tokenize", *args], capture_output=True, input=stdin)


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
    gguf = os.path.join(VOCAB_DIR, name)
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
    gpt2 = os.path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf")
    spm = os.path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf")
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


# ---------------------------------------------------------------------------
# Independent oracle
# ---------------------------------------------------------------------------

GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
             r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_RE = LLAMA3_RE.replace(r"\p{N}{1,3}", r"\p{N}")
PRE_REGEXES = {"gpt-2": [GPT2_RE], "llama-bpe": [LLAMA3_RE], "qwen2": [QWEN2_RE], "smollm": [r"\p{N}", GPT2_RE]}


def byte_to_unicode():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, k = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + k)
            k += 1
    return table


def read_vocab(path):
    r = gguf.GGUFReader(path)
    f = r.fields

    def strings(key):
        fld = f[key]
        return [bytes(fld.parts[i]).decode("utf-8") for i in fld.data]

    def numbers(key):
        fld = f[key]
        return [fld.parts[i][0].item() for i in fld.data]

    v = {"tokens": strings("tokenizer.ggml.tokens"), "types": numbers("tokenizer.ggml.token_type")}
    if "tokenizer.ggml.merges" in f:
        v["merges"] = strings("tokenizer.ggml.merges")
    if "tokenizer.ggml.scores" in f:
        v["scores"] = numbers("tokenizer.ggml.scores")
    return v


def write_bpe_variant(v, pre, path):
    w = gguf.GGUFWriter(path, "gpt2")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(v["tokens"])
    w.add_token_types(v["types"])
    w.add_token_merges(v["merges"])
    w.add_bos_token_id(50256)
    w.add_eos_token_id(50256)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


class BpeOracle:
    def __init__(self, v, pre):
        self.ids = {t: i for i, t in enumerate(v["tokens"])}
        self.ranks = {}
        for r, m in enumerate(v["merges"]):
            a, b = m.split(" ", 1)
            self.ranks.setdefault((a, b), r)
        self.res = [regex.compile(p) for p in PRE_REGEXES[pre]]
        self.ignore_merges = pre == "llama-bpe"
        self.b2u = byte_to_unicode()

    def words(self, text):
        pieces = [text]
        for rx in self.res:
            out = []
            for piece in pieces:
                pos = 0
                for m in rx.finditer(piece):
                    if m.start() > pos:
                        out.append(piece[pos:m.start()])
                    out.append(m.group())
                    pos = m.end()
                if pos < len(piece):
                    out.append(piece[pos:])
            pieces = out
        return pieces

    def encode(self, text):
        out = []
        for word in self.words(text):
            syms = [self.b2u[b] for b in word.encode("utf-8")]
            if self.ignore_merges and "".join(syms) in self.ids:
                out.append(self.ids["".join(syms)])
                continue
            while len(syms) > 1:   # the best (rank, position) pair, one occurrence at a time
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


class SpmOracle:
    def __init__(self, v):
        self.ids = {}
        for i, t in enumerate(v["tokens"]):
            self.ids[t] = i
        self.tokens, self.types, self.scores = v["tokens"], v["types"], v["scores"]

    def mergeable(self, s):
        i = self.ids.get(s)
        return i is not None and self.types[i] not in (2, 3, 6)

    def encode(self, text):
        if not text:
            return []
        syms = list("\u2581" + text.replace(" ", "\u2581"))
        while len(syms) > 1:   # highest score, leftmost on ties
            best = None
            for i in range(len(syms) - 1):
                s = syms[i] + syms[i + 1]
                if self.mergeable(s):
                    sc = self.scores[self.ids[s]]
                    if best is None or sc > best[0]:
                        best = (sc, i)
            if best is None:
                break
            i = best[1]
            syms[i:i + 2] = [syms[i] + syms[i + 1]]
        out = []
        for s in syms:
            if self.mergeable(s):
                out.append(self.ids[s])
            else:
                out.extend(self.ids["<0x%02X>" % b] for b in s.encode("utf-8"))
        return out


PIECES = ["Hello", "world", "the", "a", "I", "x", "ing", "tion", "12", "2024", "7", "3.14", "1,000,000",
          " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", ".", ",", "!", "?", "...", "--", "()", "[]", "{}",
          "'s", "'S", "'ll", "'RE", "'ve", "'d", "'t", "'m", "\"", "#", "$", "%", "&", "*", "+", "=", "<", ">", "@",
          "_", "~", "^", "|", "\\", "/", "caf\u00e9", "\u00fcber", "stra\u00dfe", "\u00f1", "\u0436\u0443\u043a",
          "\u4e2d\u6587", "\u30c6\u30b9\u30c8", "\u0645\u0631\u062d\u0628\u0627", "\U0001f600", "\U0001f44d\U0001f3fd",
          "e\u0301", "\u00bd", "\u00b2", "\u0663", "\u00a0", "\u2003", "\u3000", "\u2014", "\u00a9",
          "\u0915\u094d\u0937", "\ufb01", "\u2581", "\u0120", "<s>", "</s>", "<|endoftext|>"]


def random_texts(seed, n):
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        k = rng.randint(1, 14)
        t = "".join(rng.choice(PIECES) + (" " if rng.random() < 0.4 else "") for _ in range(k))
        texts.append(t)
    return texts


def run_texts(model, texts, tmp):
    path = os.path.join(tmp, "texts.inp")
    with open(path, "wb") as f:
        for t in texts:
            f.write(t.encode("utf-8") + b"\n" + SEP.encode() + b"\n")
    r = run("-m", model, "-f", path, "--separator", SEP)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")
    lines = r.stdout.decode().split("\n")
    return [list(map(int, l.split())) for l in lines[:len(texts)]], ""


def oracle():
    bpe = read_vocab(os.path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"))
    texts = random_texts(1234, 300)
    with tempfile.TemporaryDirectory() as tmp:
        for pre in ["gpt-2", "llama-bpe", "qwen2", "smollm"]:
            model = os.path.join(tmp, f"vocab-{pre}.gguf")
            write_bpe_variant(bpe, pre, model)
            ref = BpeOracle(bpe, pre)
            got, err = run_texts(model, texts, tmp)
            if not check(got is not None, f"oracle {pre}: mlxn failed: {err}"):
                continue
            bad = 0
            for t, g in zip(texts, got):
                want = ref.encode(t)
                if g != want:
                    bad += 1
                    if bad <= 5:
                        print(f"  oracle {pre}: {t!r}\n    words {ref.words(t)!r}\n    got  {g}\n    want {want}")
            check(bad == 0, f"oracle {pre}: {bad}/{len(texts)} random texts differ")
            print(f"oracle {pre}: {len(texts) - bad}/{len(texts)} random texts match")
        spm = read_vocab(os.path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf"))
        ref = SpmOracle(spm)
        got, err = run_texts(os.path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf"), texts, tmp)
        if check(got is not None, f"oracle spm: mlxn failed: {err}"):
            bad = 0
            for t, g in zip(texts, got):
                want = ref.encode(t)
                if g != want:
                    bad += 1
                    if bad <= 5:
                        print(f"  oracle spm: {t!r}\n    got  {g}\n    want {want}")
            check(bad == 0, f"oracle spm: {bad}/{len(texts)} random texts differ")
            print(f"oracle spm: {len(texts) - bad}/{len(texts)} random texts match")


def main():
    if not check(os.path.exists(MLXN), f"MLXN_BIN not set or missing: {MLXN!r}"):
        finish()
    for v in VOCABS:
        vocab_file(v)
    special_and_errors()
    oracle()
    finish()


if __name__ == "__main__":
    main()
