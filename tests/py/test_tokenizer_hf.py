"""mlxn tokenize -m FOLDER (a Hugging Face tokenizer.json) against the PyPI `tokenizers` library.

There is no hub access, so the tokenizer.json files are built here with the `tokenizers` API from
vocabularies we have: the GPT-2 and llama-spm GGUF vocab files in ../shared/testdata/vocab and
the SmolLM2 GGUF (scripts/fetch-model.sh). Each layout the loader accepts gets one folder:

  gpt2-bytelevel   ByteLevel(use_regex) pre-tokenizer, merges written as "a b" strings
  gpt2-split       Split(GPT-2 regex) + ByteLevel, merges as [a, b] pairs
  llama3           Split(Llama 3 regex, (?i:) form) + ByteLevel, ignore_merges, BOS template
  qwen2            Split(Qwen2 regex) + ByteLevel, a non-special added token <think>, added tokens
                   with lstrip (<|im_start|>, special) and rstrip (<tool>, not special)
  qwen35           Split(Qwen3.5 regex: combining marks inside words) + ByteLevel
  smollm2          the real SmolLM2 vocabulary, Digits(individual) + ByteLevel, 17 specials,
                   tokenizer_config.json with bos/eos/chat_template
  spm-legacy       llama-spm vocabulary, normalizer Prepend("▁") + Replace(" ", "▁"), byte_fallback,
                   <s> template (the Llama 2 layout)
  spm-metaspace    the same vocabulary with a Metaspace(prepend_scheme "first") pre-tokenizer
  spm-always       Metaspace(prepend_scheme "always"): a "▁" in front of every fragment
  spm-nofallback   Llama 2 layout with byte_fallback false: characters outside the vocabulary
                   become <unk>, consecutive ones fused (fuse_unk)
  spm-gemma        the Gemma layout: Replace(" ", "▁") normalizer, no "▁" prefix, a Split on " " that
                   finds nothing left to split

For every folder: ids equal to `tokenizers`' ids on the shared .inp texts and on random unicode
texts, with and without special-token handling; mlxn's detokenization equals `tokenizers`'
decode and gives the text back. For gpt2, smollm2 and llama-spm the GGUF-built tokenizer gives
the same ids as the tokenizer.json-built one. Then the loader's errors through the CLI."""
import json
import os
import random
import subprocess
import tempfile

from mlxn_testlib import MLXN, SOURCE, VOCAB_DIR, abort, check, finish

try:
    import tokenizers
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from tokenizer_oracle import SEP, read_vocab, split_inp
except ImportError as e:  # a missing oracle is a failure, not a skip
    abort(f"oracle package missing: {e}")

GPT2_GGUF = os.path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf")
SPM_GGUF = os.path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf")

# Split regexes as Hugging Face tokenizer.json files spell them
GPT2_RE = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
             r"|\s+(?!\S)|\s+")
QWEN2_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
            r"|\s+(?!\S)|\s+")
QWEN35_RE = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*"
             r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# ---------------------------------------------------------------------------
# Building tokenizer.json folders
# ---------------------------------------------------------------------------


def bytelevel_model(v, ignore_merges=False):
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    merges = [tuple(m.split(" ", 1)) for m in v["merges"]]
    return Tokenizer(models.BPE(vocab, merges, ignore_merges=ignore_merges))


def split_bytelevel(v, regex, ignore_merges=False):
    """A byte-level BPE of vocabulary v whose pre-tokenizer splits with regex, then maps bytes."""
    t = bytelevel_model(v, ignore_merges)
    t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(regex), "isolated"),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    t.decoder = decoders.ByteLevel()
    return t


def add_specials(tok, v, non_special=()):
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(v["tokens"], v["types"]) if ty == 3])
    if non_special:
        tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in non_special])


def spm_model(v, byte_fallback=True):
    """HF BPE from a SentencePiece vocabulary: a merge (l, r) for every normal token that splits
    into two normal tokens, ranked by the merged token's score (best first), as the converters do."""
    normal = {t: i for i, (t, ty) in enumerate(zip(v["tokens"], v["types"])) if ty == 1}
    merges = []
    for piece, pid in normal.items():
        for k in range(1, len(piece)):
            l, r = piece[:k], piece[k:]
            if l in normal and r in normal:
                merges.append((-v["scores"][pid], pid, normal[l], normal[r], l, r))
    merges.sort()
    vocab = {t: i for i, t in enumerate(v["tokens"])}
    return Tokenizer(models.BPE(vocab, [(m[4], m[5]) for m in merges], byte_fallback=byte_fallback, unk_token="<unk>",
                                fuse_unk=True))


def save(tok, folder, config=None, string_merges=False):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "tokenizer.json")
    tok.save(path)
    if string_merges:  # the older layout: merges as "a b" strings
        j = json.load(open(path, encoding="utf-8"))
        j["model"]["merges"] = [" ".join(m) if isinstance(m, list) else m for m in j["model"]["merges"]]
        json.dump(j, open(path, "w", encoding="utf-8"), ensure_ascii=False)
    if config is not None:
        json.dump(config, open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8"))
    return Tokenizer.from_file(path)


def build_all(tmp, smollm_gguf):
    """name -> (folder, tokenizers.Tokenizer loaded back from the file, GGUF to compare or None)."""
    out = {}
    g = read_vocab(GPT2_GGUF)
    eot = "<|endoftext|>"

    t = bytelevel_model(g)
    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    t.decoder = decoders.ByteLevel()
    add_specials(t, g)
    d = os.path.join(tmp, "gpt2-bytelevel")
    out["gpt2-bytelevel"] = (d, save(t, d, {"bos_token": eot, "eos_token": eot}, string_merges=True), GPT2_GGUF)

    t = split_bytelevel(g, GPT2_RE)
    add_specials(t, g)
    d = os.path.join(tmp, "gpt2-split")
    out["gpt2-split"] = (d, save(t, d), GPT2_GGUF)

    t = split_bytelevel(g, LLAMA3_RE, ignore_merges=True)
    add_specials(t, g)
    t.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{eot} $A", special_tokens=[(eot, g["tokens"].index(eot))])])
    d = os.path.join(tmp, "llama3")
    out["llama3"] = (d, save(t, d), None)

    t = split_bytelevel(g, QWEN2_RE)
    add_specials(t, g, non_special=["<think>"])
    t.add_special_tokens([AddedToken("<|im_start|>", special=True, normalized=False, lstrip=True)])
    t.add_tokens([AddedToken("<tool>", special=False, normalized=False, rstrip=True)])
    d = os.path.join(tmp, "qwen2")
    out["qwen2"] = (d, save(t, d, {"eos_token": eot}), None)

    t = split_bytelevel(g, QWEN35_RE)
    add_specials(t, g)
    d = os.path.join(tmp, "qwen35")
    out["qwen35"] = (d, save(t, d), None)

    if smollm_gguf:
        s = read_vocab(smollm_gguf)
        from tokenizer_oracle import read_metadata
        meta = read_metadata(smollm_gguf)
        t = bytelevel_model(s)
        t.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        t.decoder = decoders.ByteLevel()
        add_specials(t, s)
        cfg = {"bos_token": s["tokens"][1], "eos_token": s["tokens"][2], "unk_token": s["tokens"][0],
               "pad_token": s["tokens"][2], "add_bos_token": False,
               "chat_template": meta["tokenizer.chat_template"].decode("utf-8")}
        d = os.path.join(tmp, "smollm2")
        out["smollm2"] = (d, save(t, d, cfg), smollm_gguf)

    p = read_vocab(SPM_GGUF)
    spm_cfg = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    spm_decoder = [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()]

    def spm(name, normalizer, pre, decoder, gguf, byte_fallback=True):
        t = spm_model(p, byte_fallback)
        t.normalizer = normalizer
        if pre is not None:
            t.pre_tokenizer = pre
        t.decoder = decoder
        t.add_special_tokens([AddedToken(x, special=True, normalized=False) for x in ("<unk>", "<s>", "</s>")])
        t.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        d = os.path.join(tmp, name)
        out[name] = (d, save(t, d, spm_cfg), gguf)

    spm("spm-legacy", normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]), None,
        decoders.Sequence(spm_decoder + [decoders.Strip(" ", 1, 0)]), SPM_GGUF)
    spm("spm-metaspace", None, pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False),
        decoders.Sequence(spm_decoder + [decoders.Strip(" ", 1, 0)]), None)
    spm("spm-always", None, pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False),
        decoders.Sequence(spm_decoder + [decoders.Strip(" ", 1, 0)]), None)
    spm("spm-nofallback", normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]), None,
        decoders.Sequence(spm_decoder + [decoders.Strip(" ", 1, 0)]), None, byte_fallback=False)
    spm("spm-gemma", normalizers.Replace(" ", "▁"), pre_tokenizers.Split(" ", "merged_with_previous"),
        decoders.Sequence(spm_decoder), None)
    return out


# ---------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------

PIECES = ["Hello", "world", "the", " ", "  ", "   ", "\n", "\n\n", "\t", " \n", "'s", "'LL", "'ve", "don't", "I'M",
          "1", "12", "123", "1234567", "3.14", "٣", "½", "x²", "!!", "...", "?!", "(", ")", "<", ">", "{", "}", "@#$",
          "ünïcödé", "naïve", "Ελληνικά", "русский", "עברית", "العربية", "हिन्दी", "中文字符", "日本語のテキスト", "한국어",
          "😀", "👨‍👩‍👧", "🇫🇷", "ſ", "K", "ﬁ", "e\u0301", "\u200b", "\u00a0", "<|endoftext|>", "<s>", "</s>", "<think>",
          "<|im_start|>", "<|im_end|>", "<tool>", " \u3000", "▁", "Ġ", "ĠĠ", "http://example.com/a_b?c=1", "def f(x):\n    return x"]

RANGES = [(0x20, 0x7E), (0xA0, 0x2FF), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F), (0x3040, 0x30FF),
          (0x4E00, 0x4FFF), (0xAC00, 0xAD00), (0x1F300, 0x1F64F), (0x2000, 0x206F), (0x10000, 0x1007F)]


def random_texts(seed, n):
    """n texts mixing the pieces above with random code points from several scripts."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 12)):
            if rng.random() < 0.6:
                parts.append(rng.choice(PIECES))
            else:
                lo, hi = rng.choice(RANGES)
                parts.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 5))))
            if rng.random() < 0.4:
                parts.append(" ")
        texts.append("".join(parts))
    return texts


def shared_texts():
    """The .inp texts of both vocab files that are valid UTF-8 (tokenizers takes str)."""
    texts = []
    for name in ("ggml-vocab-gpt-2.gguf.inp", "ggml-vocab-llama-spm.gguf.inp"):
        for b in split_inp(open(os.path.join(VOCAB_DIR, name), "rb").read()):
            try:
                texts.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                pass
    return texts


# ---------------------------------------------------------------------------
# Running mlxn
# ---------------------------------------------------------------------------


def mlxn_run(model, texts, tmp, special):
    """(ids, decoded bytes) per text from one `mlxn tokenize --decode` run, or (None, stderr)."""
    path = os.path.join(tmp, "texts.inp")
    with open(path, "wb") as f:
        for t in texts:
            f.write(t.encode("utf-8") + b"\n" + SEP.encode() + b"\n")
    args = [MLXN, "tokenize", "-m", model, "-f", path, "--separator", SEP, "--decode"] + (["--special"] if special else [])
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        return None, r.stderr.decode(errors="replace")
    rows = []
    for line in r.stdout.decode().split("\n")[:len(texts)]:
        ids, _, hexs = line.partition("\t")
        rows.append((list(map(int, ids.split())), bytes.fromhex(hexs)))
    return rows, ""


def hf_encode(tok, text, special):
    tok.encode_special_tokens = not special   # without special handling, special tokens are text
    return tok.encode(text, add_special_tokens=special).ids


def compare_hf(name, folder, tok, texts, tmp, special):
    rows, err = mlxn_run(folder, texts, tmp, special)
    label = f"{name} {'special' if special else 'plain'}"
    if not check(rows is not None and len(rows) == len(texts), f"{label}: mlxn failed: {err}"):
        return
    bad_ids = bad_dec = bad_round = shown = 0
    for text, (ids, dec) in zip(texts, rows):
        want = hf_encode(tok, text, special)
        if ids != want:
            bad_ids += 1
            if shown < 4:
                shown += 1
                print(f"  {label}: {text!r}\n    mlxn {ids}\n    hf   {want}")
            continue
        hf_dec = tok.decode(want, skip_special_tokens=not special)   # mlxn shows control tokens with --special only
        if dec.decode("utf-8", errors="replace") != hf_dec:
            bad_dec += 1
            if shown < 4:
                shown += 1
                print(f"  {label} decode: {text!r}\n    mlxn {dec!r}\n    hf   {hf_dec!r}")
        # the text comes back wherever tokenizers gives it back (SentencePiece layouts lose a
        # leading space or a literal "▁" by design)
        if not special and hf_dec == text and dec != text.encode("utf-8"):
            bad_round += 1
            if shown < 4:
                shown += 1
                print(f"  {label} round trip: {text!r} -> {dec!r}")
    print(f"{label}: {len(texts) - bad_ids}/{len(texts)} texts give tokenizers' ids, "
          f"{bad_dec} decode differences, {bad_round} round-trip differences")
    check(bad_ids == 0, f"{label}: {bad_ids} texts tokenized otherwise than tokenizers")
    check(bad_dec == 0, f"{label}: {bad_dec} texts decoded otherwise than tokenizers")
    check(bad_round == 0, f"{label}: {bad_round} texts do not come back from detokenization")


def compare_gguf(name, folder, gguf, texts, tmp, special):
    a, err_a = mlxn_run(folder, texts, tmp, special)
    b, err_b = mlxn_run(gguf, texts, tmp, special)
    label = f"{name} vs {os.path.basename(gguf)} {'special' if special else 'plain'}"
    if not check(a is not None and b is not None, f"{label}: mlxn failed: {err_a} {err_b}"):
        return
    bad = [(t, x[0], y[0]) for t, x, y in zip(texts, a, b) if x[0] != y[0]]
    for t, x, y in bad[:3]:
        print(f"  {label}: {t!r}\n    json {x}\n    gguf {y}")
    print(f"{label}: {len(texts) - len(bad)}/{len(texts)} texts give the same ids")
    check(not bad, f"{label}: {len(bad)} texts differ between tokenizer.json and GGUF")


# ---------------------------------------------------------------------------
# Errors through the CLI
# ---------------------------------------------------------------------------


def errors(tmp, gpt2_folder):
    base = json.load(open(os.path.join(gpt2_folder, "tokenizer.json"), encoding="utf-8"))

    def variant(name, edit):
        j = json.loads(json.dumps(base))
        edit(j)
        d = os.path.join(tmp, "err-" + name)
        os.makedirs(d, exist_ok=True)
        json.dump(j, open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
        return d

    def expect(folder, words, label):
        r = subprocess.run([MLXN, "tokenize", "-m", folder, "-p", "hi"], capture_output=True)
        err = r.stderr.decode(errors="replace")
        check(r.returncode != 0 and all(w in err for w in words), f"{label}: exit {r.returncode}, stderr {err!r}")

    cases = [
        ("wordpiece", lambda j: j["model"].update(type="WordPiece"), ["model.type", "WordPiece"]),
        ("whitespace", lambda j: j.update(pre_tokenizer={"type": "Whitespace"}), ["pre_tokenizer", "Whitespace"]),
        ("regex", lambda j: j.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "[a-z]+"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}),
         ["Split regex", "[a-z]+"]),
        ("merge", lambda j: j["model"]["merges"].insert(0, "Ġzzqx Ġyyqw"), ["merges[0]", "Ġzzqx", "not in the vocabulary"]),
        ("nfkc", lambda j: j.update(normalizer={"type": "NFKC"}), ["normalizer", "NFKC"]),
    ]
    for name, edit, words in cases:
        expect(variant(name, edit), words, name)
    bad = os.path.join(tmp, "err-json")
    os.makedirs(bad, exist_ok=True)
    with open(os.path.join(bad, "tokenizer.json"), "w") as f:
        f.write('{"model": {"type": "BPE", "vocab": {"a": 0,}}')
    expect(bad, ["not valid JSON", "tokenizer.json"], "malformed")
    expect(os.path.join(tmp, "no-such-folder"), ["no-such-folder"], "missing")
    # a tokenizer.json file named directly reads the tokenizer_config.json beside it
    r = subprocess.run([MLXN, "tokenize", "-m", os.path.join(gpt2_folder, "tokenizer.json"), "-p", "Hello world"],
                       capture_output=True)
    check(r.returncode == 0 and r.stdout.split() == [b"15496", b"995"], f"file path: {r.stdout!r} {r.stderr!r}")


def main():
    print(f"tokenizers {tokenizers.__version__}")
    model = subprocess.run(["bash", os.path.join(SOURCE, "scripts/fetch-model.sh")], capture_output=True, text=True)
    smollm = model.stdout.strip() if model.returncode == 0 else ""
    check(os.path.isfile(smollm), f"SmolLM2 GGUF not available: {model.stderr[-400:]}")
    texts = shared_texts() + random_texts(1234, 300)
    with tempfile.TemporaryDirectory() as tmp:
        built = build_all(tmp, smollm if os.path.isfile(smollm) else None)
        for name, (folder, tok, gguf) in built.items():
            for special in (False, True):
                compare_hf(name, folder, tok, texts, tmp, special)
                if gguf:
                    compare_gguf(name, folder, gguf, texts, tmp, special)
        errors(tmp, built["gpt2-bytelevel"][0])
    finish()


if __name__ == "__main__":
    main()
