"""GGUF cross-check against ggml's own Python package (PyPI `gguf`).

(a) A file written by mlxn's writer (tests/tool_gguf_roundtrip write) is read by
    gguf.GGUFReader: every key, value type, value and tensor byte must equal the manifest
    the tool built from its source values, and mlxn's reader must agree too.
(b) A file written by gguf.GGUFWriter (every value type, plain and quantized tensors, a
    custom alignment) is dumped through mlxn's reader and must equal what GGUFReader
    reads and what the writer was given.
Prints "N passed, N failed" last; a missing oracle package is a failure.
"""
import json
import os
import subprocess
import tempfile

from mlxn_testlib import abort, check, finish, tool_path

try:
    import numpy as np
    import gguf
except ImportError as e:  # an oracle that is not installed is a failure, not a skip
    abort(f"oracle not installed: {e} (run scripts/setup-deps.sh)")

TOOL = tool_path("tool_gguf_roundtrip")
VT = gguf.GGUFValueType
FLOATS = (VT.FLOAT32, VT.FLOAT64)
Q8_1 = 9  # gguf-py sizes Q8_1 as 40 bytes (an old float layout); ggml and mlxn use 36


def canon_value(vtype, raw):
    if vtype == VT.STRING:
        return bytes(raw).hex()
    v = raw.tolist()[0]
    if vtype in FLOATS:
        return float(v)
    return int(v)


def oracle_view(path):
    """The file as GGUFReader sees it, in the tool's JSON shape."""
    r = gguf.GGUFReader(path)
    kv = []
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        t = f.types[0]
        e = {"key": name.encode().hex(), "type": int(t)}
        if t == VT.ARRAY:
            et = f.types[-1]
            e["elem_type"] = int(et)
            e["values"] = [canon_value(et, f.parts[i]) for i in f.data]
        else:
            e["value"] = canon_value(t, f.parts[f.data[0]])
        kv.append(e)
    tensors = []
    for t in r.tensors:
        tensors.append({
            "name": t.name.encode().hex(), "type": int(t.tensor_type),
            "ne": [int(x) for x in t.shape], "data_offset": int(t.data_offset),
            "data": t.data.tobytes().hex(),
        })
    align = r.alignment if hasattr(r, "alignment") else 32
    return {"kv": kv, "tensors": tensors, "alignment": int(align), "data_offset": int(r.data_offset)}


def mlxn_view(path):
    out = subprocess.run([TOOL, "dump", path], capture_output=True, text=True)
    check(out.returncode == 0, f"mlxn dump {path}: rc {out.returncode} {out.stderr.strip()}")
    return json.loads(out.stdout) if out.returncode == 0 else {"kv": [], "tensors": []}


def same_value(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b) or (a != a and b != b)
    return a == b


def compare_kv(label, want, got):
    check(len(want) == len(got), f"{label}: {len(got)} keys, want {len(want)}")
    for w, g in zip(want, got):
        key = bytes.fromhex(w["key"]).decode(errors="replace")
        check(w["key"] == g["key"], f"{label}: key order {key}")
        check(w["type"] == g["type"], f"{label}: {key}: type {g['type']} want {w['type']}")
        if w["type"] == int(VT.ARRAY):
            check(w["elem_type"] == g.get("elem_type"), f"{label}: {key}: elem type")
            wv, gv = w["values"], g.get("values", [])
            check(len(wv) == len(gv) and all(same_value(a, b) for a, b in zip(wv, gv)),
                  f"{label}: {key}: array values differ: {gv[:8]} want {wv[:8]}")
        else:
            check(same_value(w["value"], g.get("value")), f"{label}: {key}: value {g.get('value')} want {w['value']}")


def compare_tensors(label, want, got, data_offset=None):
    check(len(want) == len(got), f"{label}: {len(got)} tensors, want {len(want)}")
    for w, g in zip(want, got):
        name = bytes.fromhex(w["name"]).decode(errors="replace")
        check(w["name"] == g["name"], f"{label}: tensor order {name}")
        check(w["type"] == g["type"], f"{label}: {name}: type {g['type']} want {w['type']}")
        check(list(w["ne"]) == list(g["ne"]), f"{label}: {name}: ne {g['ne']} want {w['ne']}")
        wd, gd = w["data"], g["data"]
        if w["type"] == Q8_1 and len(gd) > len(wd):
            gd = gd[:len(wd)]
        elif g["type"] == Q8_1 and len(wd) > len(gd):
            wd = wd[:len(gd)]
        check(wd == gd, f"{label}: {name}: tensor bytes differ")


# ---- (a) mlxn writer -> gguf.GGUFReader ---------------------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "mlxn.gguf")
    man_path = os.path.join(tmp, "mlxn.json")
    r = subprocess.run([TOOL, "write", path, man_path], capture_output=True, text=True)
    check(r.returncode == 0, f"tool write: {r.stderr.strip()}")
    if r.returncode == 0:
        manifest = json.load(open(man_path))
        oracle = oracle_view(path)
        compare_kv("a: GGUFReader vs manifest", manifest["kv"], oracle["kv"])
        compare_tensors("a: GGUFReader vs manifest", manifest["tensors"], oracle["tensors"])
        check(oracle["alignment"] == 64, f"a: GGUFReader alignment {oracle['alignment']}")
        for t in oracle["tensors"]:
            check(t["data_offset"] % 64 == 0, f"a: tensor data at {t['data_offset']} not 64-aligned")
        ours = mlxn_view(path)
        compare_kv("a: mlxn reader vs manifest", manifest["kv"], ours["kv"])
        compare_tensors("a: mlxn reader vs manifest", manifest["tensors"], ours["tensors"])
        check(ours.get("data_offset") == oracle["data_offset"],
              f"a: data section at {ours.get('data_offset')}, GGUFReader says {oracle['data_offset']}")
        check(len(manifest["tensors"]) >= 30, f"a: only {len(manifest['tensors'])} tensor types written")

# ---- (b) gguf.GGUFWriter -> mlxn reader ------------------------------------------------------
rng = np.random.default_rng(1234)
with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "py.gguf")
    w = gguf.GGUFWriter(path, "qwen3")
    w.add_custom_alignment(128)
    scalars = [
        ("s.u8", 200, VT.UINT8), ("s.i8", -100, VT.INT8), ("s.u16", 60000, VT.UINT16),
        ("s.i16", -30000, VT.INT16), ("s.u32", 3000000000, VT.UINT32), ("s.i32", -2000000000, VT.INT32),
        ("s.u64", 2**64 - 1, VT.UINT64), ("s.i64", -2**63, VT.INT64), ("s.f32", 0.1, VT.FLOAT32),
        ("s.f64", 1e-300, VT.FLOAT64), ("s.bool_t", True, VT.BOOL), ("s.bool_f", False, VT.BOOL),
        ("s.str", "h\u00e9llo \u4e16\u754c", VT.STRING),
    ]
    for k, v, t in scalars:
        w.add_key_value(k, v, t)
    int_ranges = {VT.UINT8: (0, 256), VT.INT8: (-128, 128), VT.UINT16: (0, 65536), VT.INT16: (-32768, 32768),
                  VT.UINT32: (0, 2**32), VT.INT32: (-2**31, 2**31), VT.UINT64: (0, 2**63),
                  VT.INT64: (-2**62, 2**62)}
    arrays = {}
    for t, (lo, hi) in int_ranges.items():
        arrays[f"a.{t.name.lower()}"] = ([int(x) for x in rng.integers(lo, hi, size=7, dtype=np.int64 if hi <= 2**62 else np.uint64)], t)
    arrays["a.float32"] = ([float(x) for x in rng.standard_normal(9).astype(np.float32)], VT.FLOAT32)
    arrays["a.float64"] = ([float(x) for x in rng.standard_normal(5)], VT.FLOAT64)
    arrays["a.bool"] = ([True, False, True, True], VT.BOOL)
    arrays["a.string"] = (["<s>", "", "\u0120the", "\u00e9t\u00e9", "a b"], VT.STRING)
    for k, (vals, t) in arrays.items():
        w.add_key_value(k, vals, VT.ARRAY, t)
    tensors = {
        "t.f32": np.asarray(rng.standard_normal((3, 5)), dtype=np.float32),
        "t.f16": np.asarray(rng.standard_normal((2, 3, 4)), dtype=np.float16),
        "t.f64": np.asarray(rng.standard_normal(6), dtype=np.float64),
        "t.i8": rng.integers(-128, 128, size=(4, 3), dtype=np.int8),
        "t.i16": rng.integers(-3000, 3000, size=(5,), dtype=np.int16),
        "t.i32": rng.integers(-2**31, 2**31, size=(2, 2, 2, 2), dtype=np.int32),
        "t.i64": rng.integers(-2**62, 2**62, size=(3,), dtype=np.int64),
    }
    for k, a in tensors.items():
        w.add_tensor(k, a)
    quant = {}
    for qt, rows, blocks in [(gguf.GGMLQuantizationType.Q4_0, 3, 2), (gguf.GGMLQuantizationType.Q8_0, 2, 3),
                             (gguf.GGMLQuantizationType.Q4_K, 2, 1), (gguf.GGMLQuantizationType.Q6_K, 3, 2),
                             (gguf.GGMLQuantizationType.IQ4_XS, 1, 2), (gguf.GGMLQuantizationType.MXFP4, 4, 1),
                             (gguf.GGMLQuantizationType.BF16, 2, 16), (gguf.GGMLQuantizationType.Q5_K, 1, 1)]:
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, size=(rows, blocks * ts), dtype=np.uint8)
        name = f"q.{qt.name.lower()}"
        quant[name] = (qt, raw, [blocks * bs, rows])
        w.add_tensor(name, raw, raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    oracle = oracle_view(path)
    ours = mlxn_view(path)
    compare_kv("b: mlxn vs GGUFReader", oracle["kv"], ours["kv"])
    compare_tensors("b: mlxn vs GGUFReader", oracle["tensors"], ours["tensors"])
    check(ours.get("alignment") == 128, f"b: alignment {ours.get('alignment')}")
    check(ours.get("data_offset") == oracle["data_offset"], "b: data section offset")

    # And against what the writer was given, independently of GGUFReader.
    by_key = {bytes.fromhex(e["key"]).decode(): e for e in ours["kv"]}
    for k, v, t in scalars:
        e = by_key.get(k)
        check(e is not None and e["type"] == int(t), f"b: {k} present with type {t.name}")
        if e is None:
            continue
        if t == VT.STRING:
            check(e["value"] == v.encode().hex(), f"b: {k} string")
        elif t == VT.FLOAT32:
            check(e["value"] == float(np.float32(v)), f"b: {k} = {e['value']}")
        else:
            check(same_value(e["value"], v), f"b: {k} = {e['value']} want {v}")
    for k, (vals, t) in arrays.items():
        e = by_key.get(k)
        check(e is not None and e["type"] == int(VT.ARRAY) and e["elem_type"] == int(t), f"b: array {k} type")
        if e is None:
            continue
        want = [s.encode().hex() for s in vals] if t == VT.STRING else vals
        check(len(e["values"]) == len(want) and all(same_value(a, b) for a, b in zip(e["values"], want)),
              f"b: array {k} values {e['values']} want {want}")
    by_name = {bytes.fromhex(t["name"]).decode(): t for t in ours["tensors"]}
    for k, a in tensors.items():
        t = by_name.get(k)
        check(t is not None and t["data"] == a.tobytes().hex(), f"b: tensor {k} bytes")
        check(t is not None and t["ne"] == list(reversed(a.shape)), f"b: tensor {k} ne {t and t['ne']}")
    for k, (qt, raw, ne) in quant.items():
        t = by_name.get(k)
        check(t is not None and t["type"] == int(qt), f"b: tensor {k} type")
        check(t is not None and t["data"] == raw.tobytes().hex(), f"b: tensor {k} bytes")
        check(t is not None and t["ne"] == ne, f"b: tensor {k} ne {t and t['ne']} want {ne}")
    for t in ours["tensors"]:
        check(t["offset"] % 128 == 0, f"b: tensor offset {t['offset']} not 128-aligned")

finish()
