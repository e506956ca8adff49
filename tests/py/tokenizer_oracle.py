"""The independent tokenizer oracle the tokenizer tests share: a plain Python byte-level BPE and
SentencePiece (llama-spm) tokenizer written from the published rules, the pre-tokenizer regexes
run by the `regex` module (a different engine from mlxn's PCRE2); a small GGUF metadata reader
for the vocabularies; and the llama.cpp vector files (.inp texts between separator lines, .out
id lines). Importing it needs numpy and regex: a test imports it inside its oracle-package
guard. Not a test itself: ctest runs only test_*.py."""
import os
import random
import struct
import subprocess

import numpy as np
import regex

SEP = "__ggml_vocab_test__"   # the separator line of .inp files (mlxn tokenize --separator)

# ---------------------------------------------------------------------------
# Vector files
# ---------------------------------------------------------------------------


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
    """The lines of an .out file (one text's ids each), without the empty one after the last newline."""
    lines = open(path, encoding="utf-8").read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


# ---------------------------------------------------------------------------
# GGUF vocabularies
# ---------------------------------------------------------------------------

# GGUF metadata value types: id -> struct format; 8 = string, 9 = array
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


def read_vocab(path):
    """The tokenizer of a GGUF file: pre-tokenizer name, tokens (str), token types (int), and
    merges (str) / scores (float) where the file has them."""
    f = read_metadata(path)
    v = {"pre": f.get("tokenizer.ggml.pre", b"default").decode(),
         "tokens": [t.decode("utf-8") for t in f["tokenizer.ggml.tokens"]],
         "types": f["tokenizer.ggml.token_type"].tolist()}
    if "tokenizer.ggml.merges" in f:
        v["merges"] = [m.decode("utf-8") for m in f["tokenizer.ggml.merges"]]
    if "tokenizer.ggml.scores" in f:
        v["scores"] = f["tokenizer.ggml.scores"].tolist()
    return v


# ---------------------------------------------------------------------------
# Byte-level BPE
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
    "smollm": [r"\p{N}", GPT2_RE], "falcon": [r"[\p{P}\$\+<=>\^~\|`]+", GPT2_RE, r"[0-9][0-9][0-9]"],
}


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


class BpeOracle:
    """Byte-level BPE over vocabulary v (read_vocab) with pre-tokenizer `pre` (default: v's own)."""

    def __init__(self, v, pre=None):
        self.pre = pre or v["pre"]
        tokens = v["tokens"]
        self.ids = {}
        for i, t in enumerate(tokens):
            self.ids[t] = i   # a duplicate text: the later id, as mlxn does
        self.ranks = {}
        for r, m in enumerate(v["merges"]):
            a, b = m.split(" ", 1) if not m.startswith(" ") else (" ", m[2:])
            self.ranks.setdefault((a, b), r)
        # user-defined tokens are cut out of the text first, longest first (then lowest id)
        self.user = sorted((i for i, ty in enumerate(v["types"]) if ty == 4 and tokens[i]),
                           key=lambda i: (-len(tokens[i].encode()), i))
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


# ---------------------------------------------------------------------------
# SentencePiece (llama-spm)
# ---------------------------------------------------------------------------


class SpmOracle:
    """SentencePiece BPE over vocabulary v (read_vocab, with scores): highest score first,
    bytes <0xXX> for what no token covers."""

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


# ---------------------------------------------------------------------------
# Random texts through mlxn and the oracle
# ---------------------------------------------------------------------------


def random_texts(seed, n, pieces):
    """n texts of 1 to 14 random pieces, each followed by a space 40% of the time."""
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) + (" " if rng.random() < 0.4 else "") for _ in range(rng.randint(1, 14)))
            for _ in range(n)]


def mlxn_tokenize_texts(mlxn, model, texts, tmp):
    """`mlxn tokenize` of every text (one run, a separator file in tmp): (ids per text or None
    when mlxn fails, its exit status, its stderr)."""
    path = os.path.join(tmp, "texts.inp")
    with open(path, "wb") as f:
        for t in texts:
            f.write(t.encode("utf-8") + b"\n" + SEP.encode() + b"\n")
    r = subprocess.run([mlxn, "tokenize", "-m", model, "-f", path, "--separator", SEP], capture_output=True)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        return None, r.returncode, err
    return [list(map(int, line.split())) for line in r.stdout.decode().split("\n")[:len(texts)]], 0, err


def count_differences(ref, texts, got, label, show):
    """How many texts the oracle ref encodes otherwise than mlxn did (got); prints the first `show`."""
    bad = 0
    for t, g in zip(texts, got):
        want = ref.encode(t)
        if g != want:
            bad += 1
            if bad <= show:
                words = f"\n    words {ref.words(t)!r}" if isinstance(ref, BpeOracle) else ""
                print(f"  oracle {label}: {t!r}{words}\n    got  {g}\n    want {want}")
    return bad
