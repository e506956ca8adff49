/* Helper for tests/py/test_gguf_oracle.py: writes a GGUF file with mlxn's writer (every value
 * type, array kind and GGUF tensor type) plus a JSON manifest built from the source values,
 * and dumps any GGUF file as the same JSON through mlxn's reader getters.
 *   tool_gguf_roundtrip write OUT.gguf OUT.json
 *   tool_gguf_roundtrip dump IN.gguf            (JSON on stdout)
 * JSON: {"version", "alignment", "data_offset", "kv": [{"key", "type", "value"} or
 * {"key", "type": 9, "elem_type", "values": [...]}], "tensors": [{"name", "type", "ne",
 * "offset", "data"}]}. Strings, keys and tensor data are hex; floats %.17g; bools 0/1. */
#include "mlxn.h"
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(FILE *f, const void *p, uint64_t n) {
    const uint8_t *b = p;
    fputc('"', f);
    for (uint64_t i = 0; i < n; i++) fprintf(f, "%02x", b[i]);
    fputc('"', f);
}

static bool is_signed(mlxn_gguf_vtype t) {
    return t == MLXN_GGUF_I8 || t == MLXN_GGUF_I16 || t == MLXN_GGUF_I32 || t == MLXN_GGUF_I64;
}

/* One element of type t at p (source layout: packed little-endian, strings as const char *). */
static void emit_src(FILE *f, mlxn_gguf_vtype t, const void *p) {
    switch (t) {
    case MLXN_GGUF_U8: fprintf(f, "%u", *(const uint8_t *)p); break;
    case MLXN_GGUF_I8: fprintf(f, "%d", *(const int8_t *)p); break;
    case MLXN_GGUF_U16: fprintf(f, "%u", *(const uint16_t *)p); break;
    case MLXN_GGUF_I16: fprintf(f, "%d", *(const int16_t *)p); break;
    case MLXN_GGUF_U32: fprintf(f, "%" PRIu32, *(const uint32_t *)p); break;
    case MLXN_GGUF_I32: fprintf(f, "%" PRId32, *(const int32_t *)p); break;
    case MLXN_GGUF_U64: fprintf(f, "%" PRIu64, *(const uint64_t *)p); break;
    case MLXN_GGUF_I64: fprintf(f, "%" PRId64, *(const int64_t *)p); break;
    case MLXN_GGUF_F32: fprintf(f, "%.17g", (double)*(const float *)p); break;
    case MLXN_GGUF_F64: fprintf(f, "%.17g", *(const double *)p); break;
    case MLXN_GGUF_BOOL: fprintf(f, "%d", *(const uint8_t *)p ? 1 : 0); break;
    case MLXN_GGUF_STRING: { const char *s = *(const char *const *)p; hex(f, s, strlen(s)); break; }
    default: fprintf(f, "null");
    }
}

static size_t src_size(mlxn_gguf_vtype t) {
    switch (t) {
    case MLXN_GGUF_U8: case MLXN_GGUF_I8: case MLXN_GGUF_BOOL: return 1;
    case MLXN_GGUF_U16: case MLXN_GGUF_I16: return 2;
    case MLXN_GGUF_U32: case MLXN_GGUF_I32: case MLXN_GGUF_F32: return 4;
    case MLXN_GGUF_STRING: return sizeof(const char *);
    default: return 8;
    }
}

/* ---- write mode: the source data ------------------------------------------------------- */

static const uint8_t v_u8 = 250, a_u8[] = {0, 1, 127, 128, 255};
static const int8_t v_i8 = -128, a_i8[] = {-128, -1, 0, 1, 127};
static const uint16_t v_u16 = 65535, a_u16[] = {0, 1, 300, 65535};
static const int16_t v_i16 = -32768, a_i16[] = {-32768, -2, 0, 32767};
static const uint32_t v_u32 = 4000000000u, a_u32[] = {0, 1, 70000, 4294967295u};
static const int32_t v_i32 = -2147483647 - 1, a_i32[] = {-2147483647 - 1, -5, 0, 2147483647};
static const uint64_t v_u64 = UINT64_MAX, a_u64[] = {0, 1, (uint64_t)1 << 40, UINT64_MAX};
static const int64_t v_i64 = INT64_MIN, a_i64[] = {INT64_MIN, -1, 0, INT64_MAX};
static const float v_f32 = 0.1f, a_f32[] = {0.0f, -0.0f, 1.5f, -3.25e-20f, 3.4e38f, 1e-45f};
static const double v_f64 = -1.0 / 3.0, a_f64[] = {0.0, 2.5, -1e300, 4.9e-324};
static const uint8_t v_bool = 1, a_bool[] = {1, 0, 0, 1};
static const char *v_str = "caf\xc3\xa9 \xe2\x86\x92 gguf";
static const char *a_str[] = {"", "a", "\xc4\xa0hello", "<|endoftext|>", "tab\there"};

typedef struct kvspec {
    const char *key;
    mlxn_gguf_vtype type, elem;
    uint64_t count;
    const void *data;
} kvspec;

#define N(a) (sizeof(a) / sizeof((a)[0]))
static const kvspec kvs[] = {
    {"general.architecture", MLXN_GGUF_STRING, 0, 0, &(const char *){"llama"}},
    {"general.alignment", MLXN_GGUF_U32, 0, 0, &(const uint32_t){64}},
    {"test.u8", MLXN_GGUF_U8, 0, 0, &v_u8},
    {"test.i8", MLXN_GGUF_I8, 0, 0, &v_i8},
    {"test.u16", MLXN_GGUF_U16, 0, 0, &v_u16},
    {"test.i16", MLXN_GGUF_I16, 0, 0, &v_i16},
    {"test.u32", MLXN_GGUF_U32, 0, 0, &v_u32},
    {"test.i32", MLXN_GGUF_I32, 0, 0, &v_i32},
    {"test.u64", MLXN_GGUF_U64, 0, 0, &v_u64},
    {"test.i64", MLXN_GGUF_I64, 0, 0, &v_i64},
    {"test.f32", MLXN_GGUF_F32, 0, 0, &v_f32},
    {"test.f64", MLXN_GGUF_F64, 0, 0, &v_f64},
    {"test.bool", MLXN_GGUF_BOOL, 0, 0, &v_bool},
    {"test.str", MLXN_GGUF_STRING, 0, 0, &v_str},
    {"test.arr.u8", MLXN_GGUF_ARRAY, MLXN_GGUF_U8, N(a_u8), a_u8},
    {"test.arr.i8", MLXN_GGUF_ARRAY, MLXN_GGUF_I8, N(a_i8), a_i8},
    {"test.arr.u16", MLXN_GGUF_ARRAY, MLXN_GGUF_U16, N(a_u16), a_u16},
    {"test.arr.i16", MLXN_GGUF_ARRAY, MLXN_GGUF_I16, N(a_i16), a_i16},
    {"test.arr.u32", MLXN_GGUF_ARRAY, MLXN_GGUF_U32, N(a_u32), a_u32},
    {"test.arr.i32", MLXN_GGUF_ARRAY, MLXN_GGUF_I32, N(a_i32), a_i32},
    {"test.arr.u64", MLXN_GGUF_ARRAY, MLXN_GGUF_U64, N(a_u64), a_u64},
    {"test.arr.i64", MLXN_GGUF_ARRAY, MLXN_GGUF_I64, N(a_i64), a_i64},
    {"test.arr.f32", MLXN_GGUF_ARRAY, MLXN_GGUF_F32, N(a_f32), a_f32},
    {"test.arr.f64", MLXN_GGUF_ARRAY, MLXN_GGUF_F64, N(a_f64), a_f64},
    {"test.arr.bool", MLXN_GGUF_ARRAY, MLXN_GGUF_BOOL, N(a_bool), a_bool},
    {"test.arr.str", MLXN_GGUF_ARRAY, MLXN_GGUF_STRING, N(a_str), a_str},
};

static int set_kv(mlxn_gguf_writer_t *w, const kvspec *k) {
    const void *p = k->data;
    switch (k->type) {
    case MLXN_GGUF_U8: return mlxn_gguf_writer_set_u8(w, k->key, *(const uint8_t *)p);
    case MLXN_GGUF_I8: return mlxn_gguf_writer_set_i8(w, k->key, *(const int8_t *)p);
    case MLXN_GGUF_U16: return mlxn_gguf_writer_set_u16(w, k->key, *(const uint16_t *)p);
    case MLXN_GGUF_I16: return mlxn_gguf_writer_set_i16(w, k->key, *(const int16_t *)p);
    case MLXN_GGUF_U32: return mlxn_gguf_writer_set_u32(w, k->key, *(const uint32_t *)p);
    case MLXN_GGUF_I32: return mlxn_gguf_writer_set_i32(w, k->key, *(const int32_t *)p);
    case MLXN_GGUF_U64: return mlxn_gguf_writer_set_u64(w, k->key, *(const uint64_t *)p);
    case MLXN_GGUF_I64: return mlxn_gguf_writer_set_i64(w, k->key, *(const int64_t *)p);
    case MLXN_GGUF_F32: return mlxn_gguf_writer_set_f32(w, k->key, *(const float *)p);
    case MLXN_GGUF_F64: return mlxn_gguf_writer_set_f64(w, k->key, *(const double *)p);
    case MLXN_GGUF_BOOL: return mlxn_gguf_writer_set_bool(w, k->key, *(const uint8_t *)p != 0);
    case MLXN_GGUF_STRING: return mlxn_gguf_writer_set_str(w, k->key, *(const char *const *)p);
    case MLXN_GGUF_ARRAY: return mlxn_gguf_writer_set_arr(w, k->key, k->elem, p, k->count);
    }
    return -1;
}

static uint64_t rng_state = 0x1234567887654321ull;
static uint8_t rng_byte(void) {
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (uint8_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 56);
}

static int cmd_write(const char *out, const char *manifest) {
    mlxn_gguf_writer_t *w;
    if (mlxn_gguf_writer_new(&w) != MLXN_OK) return 2;
    for (size_t i = 0; i < N(kvs); i++)
        if (set_kv(w, &kvs[i]) != MLXN_OK) { fprintf(stderr, "set %s: %s\n", kvs[i].key, mlxn_last_error()); return 2; }
    /* One tensor per GGUF type with a size, shapes of 1..4 dims; random bytes. */
    struct { char name[64]; mlxn_type type; int nd; int64_t ne[4]; uint8_t *data; size_t nbytes; } ts[64];
    int nt = 0;
    for (int id = 0; id < 64; id++) {
        const mlxn_type_traits *tt = mlxn_type_info((mlxn_type)id);
        if (!tt) continue;
        int nd = 1 + nt % 4;
        int64_t ne[4] = {tt->block_elems * (1 + nt % 3), 2 + nt % 2, 3, 2};
        mlxn_tensor_desc d;
        if (mlxn_tensor_desc_init(&d, (mlxn_type)id, nd, ne) != MLXN_OK) return 2;
        snprintf(ts[nt].name, sizeof ts[nt].name, "blk.%d.%s.weight", nt, tt->name);
        ts[nt].type = (mlxn_type)id;
        ts[nt].nd = nd;
        memcpy(ts[nt].ne, ne, sizeof ne);
        ts[nt].nbytes = mlxn_tensor_desc_nbytes(&d);
        ts[nt].data = malloc(ts[nt].nbytes);
        for (size_t b = 0; b < ts[nt].nbytes; b++) ts[nt].data[b] = rng_byte();
        if (mlxn_gguf_writer_add_tensor(w, ts[nt].name, ts[nt].type, nd, ne, ts[nt].data) != MLXN_OK) {
            fprintf(stderr, "add_tensor: %s\n", mlxn_last_error());
            return 2;
        }
        nt++;
    }
    if (mlxn_gguf_writer_write(w, out) != MLXN_OK) { fprintf(stderr, "write: %s\n", mlxn_last_error()); return 2; }
    mlxn_gguf_writer_free(w);

    FILE *f = fopen(manifest, "w");
    if (!f) return 2;
    fprintf(f, "{\"version\": 3, \"alignment\": 64, \"kv\": [\n");
    for (size_t i = 0; i < N(kvs); i++) {
        const kvspec *k = &kvs[i];
        fprintf(f, " {\"key\": ");
        hex(f, k->key, strlen(k->key));
        fprintf(f, ", \"type\": %d, ", (int)k->type);
        if (k->type == MLXN_GGUF_ARRAY) {
            fprintf(f, "\"elem_type\": %d, \"values\": [", (int)k->elem);
            for (uint64_t j = 0; j < k->count; j++) {
                if (j) fputs(", ", f);
                emit_src(f, k->elem, (const uint8_t *)k->data + j * src_size(k->elem));
            }
            fputs("]}", f);
        } else {
            fputs("\"value\": ", f);
            emit_src(f, k->type, k->data);
            fputc('}', f);
        }
        fputs(i + 1 < N(kvs) ? ",\n" : "\n", f);
    }
    fprintf(f, "], \"tensors\": [\n");
    for (int i = 0; i < nt; i++) {
        fprintf(f, " {\"name\": ");
        hex(f, ts[i].name, strlen(ts[i].name));
        fprintf(f, ", \"type\": %d, \"ne\": [", (int)ts[i].type);
        for (int d = 0; d < ts[i].nd; d++) fprintf(f, "%s%" PRId64, d ? ", " : "", ts[i].ne[d]);
        fprintf(f, "], \"data\": ");
        hex(f, ts[i].data, ts[i].nbytes);
        fputs(i + 1 < nt ? "},\n" : "}\n", f);
        free(ts[i].data);
    }
    fprintf(f, "]}\n");
    return fclose(f) == 0 ? 0 : 2;
}

/* ---- dump mode: everything through the reader's getters ---------------------------------- */

static int emit_read(FILE *f, const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype t, int64_t idx) {
    int64_t iv; uint64_t uv; double fv; bool bv; mlxn_str s;
    mlxn_status st;
    if (t == MLXN_GGUF_STRING) {
        st = idx < 0 ? mlxn_gguf_get_str(g, key, &s) : mlxn_gguf_arr_str(g, key, (uint64_t)idx, &s);
        if (st == MLXN_OK) hex(f, s.ptr, s.len);
    } else if (t == MLXN_GGUF_F32 || t == MLXN_GGUF_F64) {
        st = idx < 0 ? mlxn_gguf_get_float(g, key, &fv) : mlxn_gguf_arr_float(g, key, (uint64_t)idx, &fv);
        if (st == MLXN_OK) fprintf(f, "%.17g", fv);
    } else if (t == MLXN_GGUF_BOOL && idx < 0) {
        st = mlxn_gguf_get_bool(g, key, &bv);
        if (st == MLXN_OK) fprintf(f, "%d", bv ? 1 : 0);
    } else if (is_signed(t)) {
        st = idx < 0 ? mlxn_gguf_get_int(g, key, &iv) : mlxn_gguf_arr_int(g, key, (uint64_t)idx, &iv);
        if (st == MLXN_OK) fprintf(f, "%" PRId64, iv);
    } else {
        st = idx < 0 ? mlxn_gguf_get_uint(g, key, &uv) : mlxn_gguf_arr_uint(g, key, (uint64_t)idx, &uv);
        if (st == MLXN_OK) fprintf(f, "%" PRIu64, uv);
    }
    if (st != MLXN_OK) fprintf(stderr, "read %s: %s\n", key, mlxn_last_error());
    return st == MLXN_OK ? 0 : 1;
}

static int cmd_dump(const char *path) {
    mlxn_gguf_t *g;
    if (mlxn_gguf_open(path, &g) != MLXN_OK) {
        fprintf(stderr, "%s\n", mlxn_last_error());
        return 1;
    }
    FILE *f = stdout;
    int bad = 0;
    fprintf(f, "{\"version\": %u, \"alignment\": %u, \"data_offset\": %" PRIu64 ", \"kv\": [\n", mlxn_gguf_version(g),
            mlxn_gguf_alignment(g), mlxn_gguf_data_offset(g));
    for (int64_t i = 0; i < mlxn_gguf_kv_count(g); i++) {
        const char *key = mlxn_gguf_kv_key(g, i);
        mlxn_gguf_vtype t = mlxn_gguf_kv_type(g, i);
        fprintf(f, " {\"key\": ");
        hex(f, key, strlen(key));
        fprintf(f, ", \"type\": %d, ", (int)t);
        if (t == MLXN_GGUF_ARRAY) {
            mlxn_gguf_vtype et;
            uint64_t n;
            bad |= mlxn_gguf_get_arr(g, key, &et, &n) != MLXN_OK;
            fprintf(f, "\"elem_type\": %d, \"values\": [", (int)et);
            for (uint64_t j = 0; j < n; j++) {
                if (j) fputs(", ", f);
                bad |= emit_read(f, g, key, et, (int64_t)j);
            }
            fputs("]}", f);
        } else {
            fputs("\"value\": ", f);
            bad |= emit_read(f, g, key, t, -1);
            fputc('}', f);
        }
        fputs(i + 1 < mlxn_gguf_kv_count(g) ? ",\n" : "\n", f);
    }
    fprintf(f, "], \"tensors\": [\n");
    for (int64_t i = 0; i < mlxn_gguf_tensor_count(g); i++) {
        mlxn_gguf_tensor t;
        bad |= mlxn_gguf_get_tensor(g, i, &t) != MLXN_OK;
        fprintf(f, " {\"name\": ");
        hex(f, t.name, strlen(t.name));
        fprintf(f, ", \"type\": %d, \"ne\": [", (int)t.type);
        for (int d = 0; d < t.n_dims; d++) fprintf(f, "%s%" PRId64, d ? ", " : "", t.ne[d]);
        fprintf(f, "], \"offset\": %" PRIu64 ", \"data\": ", t.offset);
        hex(f, t.data, t.nbytes);
        fputs(i + 1 < mlxn_gguf_tensor_count(g) ? "},\n" : "}\n", f);
    }
    fprintf(f, "]}\n");
    mlxn_gguf_free(g);
    return bad ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "write")) return cmd_write(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "dump")) return cmd_dump(argv[2]);
    fprintf(stderr, "usage: %s write OUT.gguf OUT.json | dump IN.gguf\n", argv[0]);
    return 2;
}
