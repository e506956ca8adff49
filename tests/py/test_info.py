"""`mlxn info` on real and oracle-written files.

- ../shared/testdata/vocab/*.gguf: architecture, every metadata key, tokenizer summary; the
  expected values are read from the same files with the PyPI `gguf` package.
- a GGUF written by gguf.GGUFWriter with tensors (f32, f16, q8_0), a chat template and extra
  special tokens: tensor table, totals, chat template first line.
- a safetensors file and a quantized model folder written with the PyPI `safetensors` package.
- errors: missing path, garbage file, malformed safetensors -> exit 1 and a message naming the
  path; bad option -> exit 2; --help documents the flags.
"""
import json
import os
import subprocess
import tempfile

import gguf  # missing oracle packages are failures, not skips
import numpy as np
import safetensors.numpy as stnp

from mlxn_testlib import MLXN, VOCAB_DIR, abort, check, finish


def info(*args):
    r = subprocess.run([MLXN, "info", *args], capture_output=True, text=True, errors="replace")
    return r.returncode, r.stdout, r.stderr


def field_value(f):
    """Scalar value of a gguf ReaderField (str, int, float, bool)."""
    v = f.contents()
    return v


def gguf_vocab_file(name, tok_model):
    path = os.path.join(VOCAB_DIR, name)
    r = gguf.GGUFReader(path)
    fields = {k: f for k, f in r.fields.items() if not k.startswith("GGUF.")}
    arch = field_value(fields["general.architecture"])
    tokens = fields["tokenizer.ggml.tokens"].contents()
    bos = field_value(fields["tokenizer.ggml.bos_token_id"])
    eos = field_value(fields["tokenizer.ggml.eos_token_id"])

    rc, out, err = info(path)
    if not check(rc == 0, f"{name}: exit {rc}: {err}"):
        return
    check(f"architecture: {arch}" in out, f"{name}: architecture line")
    check(f"GGUF version {r.fields['GGUF.version'].contents()}" in out, f"{name}: version")
    check(f"metadata ({len(fields)} keys)" in out, f"{name}: key count")
    for k in fields:
        check(f"  {k} " in out, f"{name}: key {k} listed")
    check(f'model: "{tok_model}"' in out, f"{name}: tokenizer model")
    check(f"vocab size: {len(tokens)}" in out, f"{name}: vocab size {len(tokens)}")
    if "tokenizer.ggml.merges" in fields:
        check(f"merges: {len(fields['tokenizer.ggml.merges'].data)}" in out, f"{name}: merges count")
    check(f"bos   {bos} " in out and json.dumps(tokens[bos], ensure_ascii=False) in out, f"{name}: bos id and text")
    check(f"eos   {eos} " in out, f"{name}: eos id")
    ctx_key = f"{arch}.context_length"
    check(f"{field_value(fields[ctx_key])}" in out.split(ctx_key, 1)[-1].split("\n", 1)[0], f"{name}: {ctx_key} value")
    # first tokens of the vocabulary shown in the array summary
    line = [l for l in out.splitlines() if l.strip().startswith("tokenizer.ggml.tokens ")]
    check(line and f"arr[str] {len(tokens)}:" in line[0] and json.dumps(tokens[0], ensure_ascii=False) in line[0],
          f"{name}: tokens array summary {line[:1]}")

    rc, out, err = info("--json", path)
    if check(rc == 0, f"{name} --json: exit {rc}: {err}"):
        j = json.loads(out)
        check(j["format"] == "gguf" and j["architecture"] == arch, f"{name} --json: format/arch")
        check(set(j["metadata"]) == set(fields), f"{name} --json: metadata keys")
        t = j["tokenizer"]
        check(t["vocab_size"] == len(tokens) and t["bos"]["id"] == bos and t["bos"]["text"] == tokens[bos],
              f"{name} --json: tokenizer {t.get('vocab_size')} {t.get('bos')}")
        tok = j["metadata"]["tokenizer.ggml.tokens"]
        check(tok["count"] == len(tokens) and tok["head"] == list(tokens[:8]), f"{name} --json: tokens summary")
        for k, f in fields.items():
            if len(f.types) == 1 and f.types[0] not in (gguf.GGUFValueType.STRING, gguf.GGUFValueType.FLOAT32):
                check(j["metadata"][k] == f.contents(), f"{name} --json: {k} = {j['metadata'][k]} vs {f.contents()}")
            elif f.types == [gguf.GGUFValueType.FLOAT32]:
                check(abs(j["metadata"][k] - f.contents()) <= 1e-6 * abs(f.contents()), f"{name} --json: {k}")
            elif f.types == [gguf.GGUFValueType.STRING]:
                check(j["metadata"][k] == f.contents()[:96], f"{name} --json: {k}")
        if "tokenizer.ggml.add_bos_token" in fields:
            check(t["add_bos"] == fields["tokenizer.ggml.add_bos_token"].contents(), f"{name} --json: add_bos")


def gguf_with_tensors(tmp, rng):
    path = os.path.join(tmp, "tiny.gguf")
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_context_length(256)
    w.add_embedding_length(64)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("llama-bpe")
    toks = [f"tok{i}" for i in range(40)] + ["<|eot|>", "<|pad|>"]
    w.add_token_list(toks)
    w.add_token_merges(["t o", "to k"])
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    w.add_eot_token_id(40)
    w.add_pad_token_id(41)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template("{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{% endfor %}")
    w.add_array("llama.test_ints", [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5])
    w.add_uint64("test.big_u64", 2**64 - 5)
    w.add_int64("test.neg_i64", -(2**62) - 3)
    w.add_key_value("test.u64s", [2**64 - 1, 7], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT64)
    long = "x" * 300
    w.add_string("general.description", long)
    f32 = rng.standard_normal((4, 64)).astype(np.float32)
    f16 = rng.standard_normal((64,)).astype(np.float16)
    q8 = gguf.quants.quantize(rng.standard_normal((8, 64)).astype(np.float32), gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("token_embd.weight", f32)
    w.add_tensor("output_norm.weight", f16)
    w.add_tensor("blk.0.attn_q.weight", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    rc, out, err = info(path)
    if not check(rc == 0, f"tiny.gguf: exit {rc}: {err}"):
        return
    check("tensors (3;" in out, "tiny.gguf: tensor table header")
    check(any(l.split()[:4] == ["token_embd.weight", "f32", "[64,", "4]"] and l.split()[-1] == str(4 * 64 * 4)
              for l in out.splitlines()), "tiny.gguf: token_embd row (ne0 first, bytes)")
    check(any(l.split()[:2] == ["blk.0.attn_q.weight", "q8_0"] and l.split()[-1] == str(8 * 2 * 34)
              for l in out.splitlines()), "tiny.gguf: q8_0 row")
    nbytes = 4 * 64 * 4 + 64 * 2 + 8 * 2 * 34
    params = 4 * 64 + 64 + 8 * 64
    check(f"totals: 3 tensors, {nbytes} bytes" in out and f"{params} parameters" in out, "tiny.gguf: totals")
    check(f"{nbytes * 8 / params:.3f} bits/weight" in out, "tiny.gguf: bits/weight")
    check('eot   40 "<|eot|>"' in out and 'pad   41 "<|pad|>"' in out, "tiny.gguf: eot/pad ids with text")
    check("add_bos: true" in out and "add_eos: false" in out, "tiny.gguf: add_bos/add_eos")
    check('chat template: present' in out and '"{% for m in messages %}<|{{ m.role }}|>"' in out,
          "tiny.gguf: chat template first line")
    check("arr[i32] 11: [3, 1, 4, 1, 5, 9, 2, 6, ...]" in out or "arr[i64] 11: [3, 1, 4, 1, 5, 9, 2, 6, ...]" in out,
          "tiny.gguf: int array summarised to 8 elements")
    check("...(300 bytes)" in out, "tiny.gguf: long string cut")
    check(f"u64      {2**64 - 5}" in out and f"i64      {-(2**62) - 3}" in out, "tiny.gguf: 64-bit values exact")
    check(f"arr[u64] 2: [{2**64 - 1}, 7]" in out, "tiny.gguf: u64 array exact")
    rc, out2, _ = info("--no-tensors", path)
    check(rc == 0 and "blk.0.attn_q.weight" not in out2 and "totals: 3 tensors" in out2, "tiny.gguf: --no-tensors")
    rc, out3, _ = info("--keys", path)
    check(rc == 0 and "totals" not in out3 and "general.description" in out3, "tiny.gguf: --keys")
    rc, out4, _ = info("--json", path)
    if check(rc == 0, "tiny.gguf --json"):
        j = json.loads(out4)
        check([t["name"] for t in j["tensors"]] == ["token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight"],
              "tiny.gguf --json: tensor names")
        check(j["tensors"][0]["ne"] == [64, 4] and j["totals"]["bytes"] == nbytes, "tiny.gguf --json: shape/bytes")
        m = j["metadata"]
        check(m["test.big_u64"] == 2**64 - 5 and m["test.neg_i64"] == -(2**62) - 3 and
              m["test.u64s"]["head"] == [2**64 - 1, 7], "tiny.gguf --json: 64-bit values exact")
        check(j["tokenizer"]["chat_template"] is True and j["tokenizer"]["eot"]["text"] == "<|eot|>", "tiny.gguf --json: tok")


def safetensors_file(tmp, rng):
    path = os.path.join(tmp, "one.safetensors")
    arrs = {"model.embed_tokens.weight": rng.standard_normal((10, 8)).astype(np.float16),
            "model.norm.weight": rng.standard_normal((8,)).astype(np.float32),
            "counts": rng.integers(0, 100, (3, 2, 2), dtype=np.int64)}
    stnp.save_file(arrs, path, metadata={"format": "pt"})
    rc, out, err = info(path)
    if not check(rc == 0, f"one.safetensors: exit {rc}: {err}"):
        return
    check("format: safetensors" in out and "3 tensors" in out, "one.safetensors: format line")
    check('format                           "pt"' in out, "one.safetensors: __metadata__")
    for name, a in arrs.items():
        shape = "[" + ", ".join(str(x) for x in a.shape) + "]"
        row = [l for l in out.splitlines() if l.split()[:1] == [name]]
        check(row and shape in row[0] and row[0].split()[-1] == str(a.nbytes), f"one.safetensors: row {name}: {row}")
    total = sum(a.nbytes for a in arrs.values())
    params = sum(a.size for a in arrs.values())
    check(f"totals: 3 tensors, {total} bytes" in out and f"{params} parameters" in out, "one.safetensors: totals")
    rc, out, _ = info("--json", path)
    j = json.loads(out)
    check(j["metadata"] == {"format": "pt"} and {t["name"] for t in j["tensors"]} == set(arrs), "one.safetensors --json")


def model_folder(tmp, rng):
    d = os.path.join(tmp, "folder")
    os.makedirs(d)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 128,
           "intermediate_size": 256, "num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 2,
           "vocab_size": 16, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "max_position_embeddings": 1024,
           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                            "original_max_position_embeddings": 512},
           "tie_word_embeddings": True, "torch_dtype": "bfloat16",
           "quantization": {"group_size": 64, "bits": 4, "model.embed_tokens": {"group_size": 32, "bits": 8}}}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    u32 = lambda *s: rng.integers(0, 2**32, s, dtype=np.uint32)
    f16 = lambda *s: rng.standard_normal(s).astype(np.float16)
    stnp.save_file({"model.embed_tokens.weight": u32(16, 32), "model.embed_tokens.scales": f16(16, 4),
                    "model.embed_tokens.biases": f16(16, 4),
                    "model.layers.0.self_attn.q_proj.weight": u32(128, 16),
                    "model.layers.0.self_attn.q_proj.scales": f16(128, 2),
                    "model.layers.0.self_attn.q_proj.biases": f16(128, 2),
                    "model.norm.weight": f16(128)}, os.path.join(d, "model.safetensors"))
    rc, out, err = info(d)
    if not check(rc == 0, f"folder: exit {rc}: {err}"):
        return
    check("model_type: llama" in out and "architectures: LlamaForCausalLM" in out, "folder: model type")
    check("hidden_size 128, intermediate_size 256, layers 1, heads 4, kv heads 2, head_dim 32" in out, "folder: sizes")
    check("rope_scaling: llama3, factor 8, low_freq_factor 1, high_freq_factor 4, original_max_position_embeddings 512"
          in out, "folder: rope scaling")
    check("quantization: affine, 4 bits, group_size 64, 1 per-module overrides" in out, "folder: quant block")
    check("quantized modules: 2 (4-bit: 1, 8-bit: 1)" in out, "folder: quantized modules")
    params = 16 * 128 + 128 * 128 + 128
    check(f"{params} parameters" in out, f"folder: logical params {params}")
    check("model.layers.0.self_attn.q_proj.weight" in out and "model.safetensors" in out, "folder: table with shard")


def errors(tmp):
    rc, out, err = info(os.path.join(tmp, "does-not-exist.gguf"))
    check(rc == 1 and "mlxn info" in err and "does-not-exist.gguf" in err, f"missing path: {rc} {err!r}")
    junk = os.path.join(tmp, "junk.bin")
    with open(junk, "wb") as f:
        f.write(b"this is not a model file at all")
    rc, out, err = info(junk)
    check(rc == 1 and "junk.bin" in err and "neither" in err, f"garbage file: {rc} {err!r}")
    bad = os.path.join(tmp, "bad.safetensors")
    hdr = b'{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
    with open(bad, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little") + hdr + b"\0" * 8)
    rc, out, err = info(bad)
    check(rc == 1 and "tensor 'w'" in err and "need 12" in err, f"malformed safetensors: {rc} {err!r}")
    badg = os.path.join(tmp, "bad.gguf")
    with open(badg, "wb") as f:
        f.write(b"GGUF\x03\x00\x00\x00" + b"\xff" * 8)
    rc, out, err = info(badg)
    check(rc == 1 and "bad.gguf" in err, f"truncated gguf: {rc} {err!r}")
    rc, out, err = info("--bogus", junk)
    check(rc == 2 and "--bogus" in err, "unknown option exits 2")
    rc, out, err = info()
    check(rc == 2, "no path exits 2")
    rc, out, err = info("--help")
    check(rc == 0 and all(s in out for s in ("--no-tensors", "--keys", "--json", "--max-array", "GGUF", "safetensors",
                                               "model folder", "bits per weight")), "--help documents the flags")


def main():
    if not os.path.exists(MLXN):
        abort(f"missing {MLXN}")
    rng = np.random.default_rng(7)
    gguf_vocab_file("ggml-vocab-gpt-2.gguf", "gpt2")
    gguf_vocab_file("ggml-vocab-llama-spm.gguf", "llama")
    with tempfile.TemporaryDirectory() as tmp:
        gguf_with_tensors(tmp, rng)
        safetensors_file(tmp, rng)
        model_folder(tmp, rng)
        errors(tmp)
    finish()


if __name__ == "__main__":
    main()
