"""mlxn tokenize on the shared tokenizer vectors: every text of each .inp file must give
exactly the ids of the matching .out line; plus the CLI's -p path, --special and errors.

Then an independent oracle: the GPT-2 vocabulary re-labelled with each pre-tokenizer
(gpt-2, llama-bpe, qwen2, smollm) and the llama-spm vocabulary, on random multilingual
texts, against a plain Python BPE / SentencePiece written from the published rules, with
the pre-tokenizer regexes run by the `regex` module (a different engine from PCRE2)."""
import os
import subprocess
import tempfile

from mlxn_testlib import MLXN, VOCAB_DIR, abort, check, finish

try:
    import gguf
    from tokenizer_oracle import (SEP, BpeOracle, SpmOracle, count_differences, mlxn_tokenize_texts, out_lines,
                                  random_texts, read_vocab, split_inp)
except ImportError as e:  # a missing oracle is a failure, not a skip
    abort(f"oracle package missing: {e}")

VOCABS = ["ggml-vocab-gpt-2.gguf", "ggml-vocab-llama-spm.gguf"]


def run(*args, stdin=None):
    return subprocess.run([MLXN, "tokenize", *args], capture_output=True, input=stdin)


def vocab_file(name):
    gguf = os.path.join(VOCAB_DIR, name)
    r = run("-m", gguf, "-f", gguf + ".inp", "--separator", SEP)
    if not check(r.returncode == 0, f"{name}: exit {r.returncode}: {r.stderr.decode(errors='replace')}"):
        return
    got = r.stdout.decode().split("\n")
    if got and got[-1] == "":
        got.pop()
    want = out_lines(gguf + ".out")
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
# Independent oracle (tokenizer_oracle.py): the GPT-2 vocabulary re-labelled with each
# pre-tokenizer, and llama-spm, on random texts
# ---------------------------------------------------------------------------


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


PIECES = ["Hello", "world", "the", "a", "I", "x", "ing", "tion", "12", "2024", "7", "3.14", "1,000,000",
          " ", "  ", "   ", "\n", "\n\n", "\t", "\r\n", " \n ", ".", ",", "!", "?", "...", "--", "()", "[]", "{}",
          "'s", "'S", "'ll", "'RE", "'ve", "'d", "'t", "'m", "\"", "#", "$", "%", "&", "*", "+", "=", "<", ">", "@",
          "_", "~", "^", "|", "\\", "/", "caf\u00e9", "\u00fcber", "stra\u00dfe", "\u00f1", "\u0436\u0443\u043a",
          "\u4e2d\u6587", "\u30c6\u30b9\u30c8", "\u0645\u0631\u062d\u0628\u0627", "\U0001f600", "\U0001f44d\U0001f3fd",
          "e\u0301", "\u00bd", "\u00b2", "\u0663", "\u00a0", "\u2003", "\u3000", "\u2014", "\u00a9",
          "\u0915\u094d\u0937", "\ufb01", "\u2581", "\u0120", "<s>", "</s>", "<|endoftext|>"]


def oracle():
    bpe = read_vocab(os.path.join(VOCAB_DIR, "ggml-vocab-gpt-2.gguf"))
    texts = random_texts(1234, 300, PIECES)
    with tempfile.TemporaryDirectory() as tmp:
        for pre in ["gpt-2", "llama-bpe", "qwen2", "smollm"]:
            model = os.path.join(tmp, f"vocab-{pre}.gguf")
            write_bpe_variant(bpe, pre, model)
            ref = BpeOracle(bpe, pre)
            got, _, err = mlxn_tokenize_texts(MLXN, model, texts, tmp)
            if not check(got is not None, f"oracle {pre}: mlxn failed: {err}"):
                continue
            bad = count_differences(ref, texts, got, pre, 5)
            check(bad == 0, f"oracle {pre}: {bad}/{len(texts)} random texts differ")
            print(f"oracle {pre}: {len(texts) - bad}/{len(texts)} random texts match")
        spm_path = os.path.join(VOCAB_DIR, "ggml-vocab-llama-spm.gguf")
        ref = SpmOracle(read_vocab(spm_path))
        got, _, err = mlxn_tokenize_texts(MLXN, spm_path, texts, tmp)
        if check(got is not None, f"oracle spm: mlxn failed: {err}"):
            bad = count_differences(ref, texts, got, "spm", 5)
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
