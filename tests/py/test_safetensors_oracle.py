"""Independent oracle for the safetensors reader and model-folder loader.

Files are written by the PyPI `safetensors` package (numpy API for every numpy dtype it
supports; its raw TensorSpec serializer for BF16, FP8, F4, FNUZ and C64) and by PyPI `mlx`
(mx.save_safetensors, mx.quantize for a sharded quantized folder). mlxn reads them through the
tool_st_dump helper and `mlxn info --json`; names, dtypes, shapes, offsets, metadata and every data
byte must equal what `safetensors.deserialize` (the reference reader) returns. Files the
reference refuses must be refused by mlxn too.
"""
import json
import os
import struct
import subprocess
import tempfile

import numpy as np  # a missing oracle package is a failure, not a skip
import safetensors
import safetensors.numpy as stnp
from safetensors import _safetensors_rust as strust

from mlxn_testlib import MLXN, abort, check, finish, tool_path

ST_DUMP = tool_path("tool_st_dump")


def tool_st_dump(path):
    r = subprocess.run([ST_DUMP, path], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr
    tensors, meta = {}, {}
    for line in r.stdout.splitlines():
        d = json.loads(line)
        if "meta" in d:
            meta[d["meta"]] = d["value"]
        else:
            tensors[d["name"]] = d
    return (tensors, meta), r.stderr


def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))


def compare_with_reference(path, label):
    """Everything mlxn reads from path equals what safetensors.deserialize reads."""
    with open(path, "rb") as f:
        ref = strust.deserialize(f.read())
    got, err = tool_st_dump(path)
    if not check(got is not None, f"{label}: mlxn refused a file the reference reads: {err}"):
        return
    tensors, meta = got
    hdr = header(path)
    check(len(tensors) == len(ref), f"{label}: tensor count {len(tensors)} vs {len(ref)}")
    for name, info in ref:
        t = tensors.get(name)
        if not check(t is not None, f"{label}: tensor {name!r} missing"):
            continue
        check(t["dtype"] == info["dtype"], f"{label}/{name}: dtype {t['dtype']} vs {info['dtype']}")
        check(t["shape"] == list(info["shape"]), f"{label}/{name}: shape {t['shape']} vs {info['shape']}")
        check(bytes.fromhex(t["hex"]) == bytes(info["data"]), f"{label}/{name}: data bytes differ")
        check(t["offset"] == hdr[name]["data_offsets"][0], f"{label}/{name}: offset")
    check(meta == hdr.get("__metadata__", {}) or (not meta and hdr.get("__metadata__") is None),
          f"{label}: metadata {meta} vs {hdr.get('__metadata__')}")
    return tensors


def numpy_files(tmp, rng):
    """Every numpy dtype the safetensors numpy API supports, several shapes each."""
    shapes = [(3, 5), (7,), (), (2, 0, 3), (2, 3, 4, 2), (1, 1, 1, 1, 1, 9)]
    for code, npdt in stnp._TYPES.items():
        arrs = {}
        for k, shp in enumerate(shapes):
            n = int(np.prod(shp)) if shp else 1
            if npdt is bool:
                a = rng.integers(0, 2, n).astype(bool)
            elif np.issubdtype(npdt, np.complexfloating):
                a = (rng.standard_normal(n) + 1j * rng.standard_normal(n)).astype(npdt)
            elif np.issubdtype(npdt, np.floating):
                a = rng.standard_normal(n).astype(npdt)
            else:
                info = np.iinfo(npdt)
                a = rng.integers(info.min, info.max, n, dtype=npdt, endpoint=True)
            arrs[f"t{k}.{code.lower()}"] = a.reshape(shp)
        arrs['odd "name" \u00e9\u4e2d'] = rng.standard_normal(4).astype(np.float32)
        path = os.path.join(tmp, f"np_{code}.safetensors")
        stnp.save_file(arrs, path, metadata={"format": "np", "note": 'quote " and \u00fc'})
        tensors = compare_with_reference(path, f"numpy {code}")
        if tensors:
            for name, a in arrs.items():
                t = tensors.get(name)
                if t:
                    check(bytes.fromhex(t["hex"]) == np.ascontiguousarray(a).tobytes(), f"numpy {code}/{name}: bytes vs array")


def raw_files(tmp, rng):
    """Dtypes without a numpy type, written by the package's raw serializer."""
    specs = [("bfloat16", "BF16", 16), ("float8_e4m3fn", "F8_E4M3", 8), ("float8_e5m2", "F8_E5M2", 8),
             ("float8_e8m0fnu", "F8_E8M0", 8), ("float8_e4m3fnuz", "F8_E4M3FNUZ", 8),
             ("float8_e5m2fnuz", "F8_E5M2FNUZ", 8), ("float4_e2m1fn_x2", "F4", 8), ("complex64", "C64", 64)]
    keep = []
    tensors = {}
    for i, (name, code, bits) in enumerate(specs):
        shape = [3, 4 + i]
        nbytes = 3 * (4 + i) * bits // 8
        buf = rng.integers(0, 256, nbytes, dtype=np.uint8)
        keep.append(buf)
        tensors[f"raw.{code}"] = strust.TensorSpec(dtype=name, shape=shape, data_ptr=buf.ctypes.data, data_len=nbytes)
    path = os.path.join(tmp, "raw.safetensors")
    strust.serialize_file(tensors, path, {"writer": "TensorSpec"})
    got = compare_with_reference(path, "raw dtypes")
    if got:
        check(got["raw.F4"]["type"] == "none" and got["raw.BF16"]["type"] == "bf16", "raw: mlxn types of F4 / BF16")
        check(got["raw.F4"]["shape"] == [3, 2 * (4 + 6)], "raw: F4 shape counts 4-bit elements")
        check(got["raw.F8_E8M0"]["type"] == "f8_e8m0", "raw: F8_E8M0 maps to f8_e8m0")


def mlx_folder(tmp, rng):
    """A sharded mlx-quantized folder written with mx.save_safetensors and mx.quantize."""
    import mlx.core as mx

    d = os.path.join(tmp, "mlx-folder")
    os.makedirs(d)
    w = mx.array(rng.standard_normal((64, 256)).astype(np.float32)).astype(mx.bfloat16)
    q4, s4, b4 = mx.quantize(w, group_size=64, bits=4)
    e = mx.array(rng.standard_normal((32, 128)).astype(np.float32)).astype(mx.bfloat16)
    q8, s8, b8 = mx.quantize(e, group_size=32, bits=8)
    gate = mx.array(rng.standard_normal((8, 256)).astype(np.float32)).astype(mx.bfloat16)
    norm = mx.array(rng.standard_normal((256,)).astype(np.float32))
    shard1 = {"model.embed_tokens.weight": q8, "model.embed_tokens.scales": s8, "model.embed_tokens.biases": b8,
              "model.norm.weight": norm}
    shard2 = {"model.layers.0.mlp.up_proj.weight": q4, "model.layers.0.mlp.up_proj.scales": s4,
              "model.layers.0.mlp.up_proj.biases": b4, "model.layers.0.mlp.gate.weight": gate}
    names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    mx.save_safetensors(os.path.join(d, names[0]), shard1, metadata={"format": "mlx"})
    mx.save_safetensors(os.path.join(d, names[1]), shard2, metadata={"format": "mlx"})
    wm = {k: names[0] for k in shard1}
    wm.update({k: names[1] for k in shard2})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": wm}, f)
    cfg = {"model_type": "qwen3", "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 1,
           "vocab_size": 32, "quantization": {"group_size": 64, "bits": 4,
                                              "model.embed_tokens": {"group_size": 32, "bits": 8},
                                              "model.layers.0.mlp.gate": False}}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)

    for n in names:
        compare_with_reference(os.path.join(d, n), f"mlx {n}")
    got, err = tool_st_dump(d)
    if check(got is not None, f"mlx folder: tool_st_dump failed: {err}"):
        tensors, _ = got
        check(set(tensors) == set(wm), "mlx folder: unified tensor set equals the weight_map")
        check(tensors["model.layers.0.mlp.up_proj.weight"]["dtype"] == "U32", "mlx folder: packed weight is U32")
        check(tensors["model.layers.0.mlp.up_proj.weight"]["shape"] == [64, 256 * 4 // 32], "mlx folder: packed shape")
        check(bytes.fromhex(tensors["model.layers.0.mlp.up_proj.weight"]["hex"]) == np.array(q4).tobytes(),
              "mlx folder: packed 4-bit words equal mx.quantize's")
        check(bytes.fromhex(tensors["model.embed_tokens.weight"]["hex"]) == np.array(q8).tobytes(),
              "mlx folder: packed 8-bit words equal mx.quantize's")
    r = subprocess.run([MLXN, "info", "--json", d], capture_output=True, text=True)
    if check(r.returncode == 0, f"mlx folder: mlxn info failed: {r.stderr}"):
        j = json.loads(r.stdout)
        q = j["quantization"]
        check(q["quantized_modules"] == 2 and q["modules_by_bits"] == {"4": 1, "8": 1},
              f"mlx folder: quantized modules {q}")
        logical = 64 * 256 + 32 * 128 + 8 * 256 + 256
        check(j["totals"]["params"] == logical, f"mlx folder: logical params {j['totals']['params']} vs {logical}")
        check(j["config"]["hidden_size"] == 256 and j["shards"] == names, "mlx folder: config and shards")


def rejections(tmp, rng):
    """Malformed variants: the reference refuses them, so must mlxn (exit 1, message)."""
    good = stnp.save({"a": rng.standard_normal(4).astype(np.float32), "b": rng.standard_normal(2).astype(np.float32)})
    n = struct.unpack("<Q", good[:8])[0]
    hdr = json.loads(good[8:8 + n])

    def rebuild(h, data):
        hb = json.dumps(h).encode()
        hb += b" " * (-len(hb) % 8)
        return struct.pack("<Q", len(hb)) + hb + data

    data = good[8 + n:]
    first = min(hdr, key=lambda k: hdr[k]["data_offsets"][0] if k != "__metadata__" else -1)
    variants = {"truncated by one byte": good[:-1], "one byte appended": good + b"\0"}
    h = json.loads(json.dumps(hdr)); h[first]["shape"] = [5]
    variants["shape does not match the bytes"] = rebuild(h, data)
    h = json.loads(json.dumps(hdr)); h[first]["dtype"] = "F31"
    variants["unknown dtype"] = rebuild(h, data)
    h = json.loads(json.dumps(hdr))
    for k in h:
        h[k]["data_offsets"] = [x + 4 for x in h[k]["data_offsets"]]
    variants["gap at the start"] = rebuild(h, b"\0" * 4 + data)
    variants["header length past EOF"] = struct.pack("<Q", len(good)) + good[8:]
    for what, blob in variants.items():
        path = os.path.join(tmp, "bad.safetensors")
        with open(path, "wb") as f:
            f.write(blob)
        try:
            strust.deserialize(blob)
            ref_ok = True
        except Exception:
            ref_ok = False
        got, err = tool_st_dump(path)
        check(not ref_ok, f"reject {what}: the reference accepted it (test premise)")
        check(got is None and "bad.safetensors" in err, f"reject {what}: mlxn accepted it or gave no message: {err!r}")


def main():
    for p in (ST_DUMP, MLXN):
        if not os.path.exists(p):
            abort(f"missing binary {p}")
    print("safetensors", safetensors.__version__, "numpy", np.__version__)
    rng = np.random.default_rng(2024)
    with tempfile.TemporaryDirectory() as tmp:
        numpy_files(tmp, rng)
        raw_files(tmp, rng)
        mlx_folder(tmp, rng)
        rejections(tmp, rng)
    finish()


if __name__ == "__main__":
    main()
