/* libFuzzer target for the GGUF reader: opens the input from memory and, when it parses,
 * walks every key (all getters, every array element) and every tensor (touching the first
 * and last data byte) so ASan/UBSan see every read the API can make. Then it copies the file
 * through the writer and reads the copy back: it must parse and hold the same keys and bytes. */
#include "mlxn.h"
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void walk(const mlxn_gguf_t *g) {
    int64_t n = mlxn_gguf_kv_count(g);
    for (int64_t i = 0; i < n; i++) {
        const char *key = mlxn_gguf_kv_key(g, i);
        if (mlxn_gguf_find_key(g, key) != i) __builtin_trap();   /* index and lookup must agree */
        int64_t iv; uint64_t uv; double fv; bool bv; mlxn_str s;
        if (mlxn_gguf_get_int(g, key, &iv) == MLXN_OK) sink += (uint64_t)iv;
        if (mlxn_gguf_get_uint(g, key, &uv) == MLXN_OK) sink += uv;
        if (mlxn_gguf_get_float(g, key, &fv) == MLXN_OK) sink += (uint64_t)(fv == fv);
        if (mlxn_gguf_get_bool(g, key, &bv) == MLXN_OK) sink += bv;
        if (mlxn_gguf_get_str(g, key, &s) == MLXN_OK && s.len) sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        mlxn_gguf_vtype et;
        uint64_t cnt;
        if (mlxn_gguf_get_arr(g, key, &et, &cnt) != MLXN_OK) continue;
        const unsigned char *raw = mlxn_gguf_arr_data(g, key);
        if (raw && cnt) sink += raw[0];
        for (uint64_t k = 0; k <= cnt && k < 4096; k++) {   /* k == cnt probes the range check */
            if (mlxn_gguf_arr_int(g, key, k, &iv) == MLXN_OK) sink += (uint64_t)iv;
            if (mlxn_gguf_arr_uint(g, key, k, &uv) == MLXN_OK) sink += uv;
            if (mlxn_gguf_arr_float(g, key, k, &fv) == MLXN_OK) sink += (uint64_t)(fv == fv);
            if (mlxn_gguf_arr_str(g, key, k, &s) == MLXN_OK && s.len) sink += (uint8_t)s.ptr[0] + (uint8_t)s.ptr[s.len - 1];
        }
    }
    int64_t nt = mlxn_gguf_tensor_count(g);
    for (int64_t i = 0; i < nt; i++) {
        mlxn_gguf_tensor t;
        if (mlxn_gguf_get_tensor(g, i, &t) != MLXN_OK) __builtin_trap();
        if (mlxn_gguf_find_tensor(g, t.name) != i) __builtin_trap();
        const unsigned char *d = t.data;
        sink += d[0] + d[t.nbytes - 1];
    }
    sink += mlxn_gguf_version(g) + mlxn_gguf_alignment(g) + mlxn_gguf_data_offset(g);
}

static mlxn_status copy_kv(const mlxn_gguf_t *g, mlxn_gguf_writer_t *w, const char *key, mlxn_gguf_vtype t) {
    int64_t iv = 0; uint64_t uv = 0; double fv = 0; bool bv = false; mlxn_str s = {0};
    switch (t) {
    case MLXN_GGUF_U8: mlxn_gguf_get_uint(g, key, &uv); return mlxn_gguf_writer_set_u8(w, key, (uint8_t)uv);
    case MLXN_GGUF_I8: mlxn_gguf_get_int(g, key, &iv); return mlxn_gguf_writer_set_i8(w, key, (int8_t)iv);
    case MLXN_GGUF_U16: mlxn_gguf_get_uint(g, key, &uv); return mlxn_gguf_writer_set_u16(w, key, (uint16_t)uv);
    case MLXN_GGUF_I16: mlxn_gguf_get_int(g, key, &iv); return mlxn_gguf_writer_set_i16(w, key, (int16_t)iv);
    case MLXN_GGUF_U32: mlxn_gguf_get_uint(g, key, &uv); return mlxn_gguf_writer_set_u32(w, key, (uint32_t)uv);
    case MLXN_GGUF_I32: mlxn_gguf_get_int(g, key, &iv); return mlxn_gguf_writer_set_i32(w, key, (int32_t)iv);
    case MLXN_GGUF_U64: mlxn_gguf_get_uint(g, key, &uv); return mlxn_gguf_writer_set_u64(w, key, uv);
    case MLXN_GGUF_I64: mlxn_gguf_get_int(g, key, &iv); return mlxn_gguf_writer_set_i64(w, key, iv);
    case MLXN_GGUF_F32: mlxn_gguf_get_float(g, key, &fv); return mlxn_gguf_writer_set_f32(w, key, (float)fv);
    case MLXN_GGUF_F64: mlxn_gguf_get_float(g, key, &fv); return mlxn_gguf_writer_set_f64(w, key, fv);
    case MLXN_GGUF_BOOL: mlxn_gguf_get_bool(g, key, &bv); return mlxn_gguf_writer_set_bool(w, key, bv);
    case MLXN_GGUF_STRING: mlxn_gguf_get_str(g, key, &s); return mlxn_gguf_writer_set_strn(w, key, s.ptr, s.len);
    case MLXN_GGUF_ARRAY: break;
    }
    mlxn_gguf_vtype et;
    uint64_t n;
    if (mlxn_gguf_get_arr(g, key, &et, &n) != MLXN_OK) __builtin_trap();
    if (et != MLXN_GGUF_STRING) return mlxn_gguf_writer_set_arr(w, key, et, mlxn_gguf_arr_data(g, key), n);
    mlxn_str *items = malloc((n ? n : 1) * sizeof *items);   /* n <= input size / 8 */
    for (uint64_t k = 0; k < n; k++)
        if (mlxn_gguf_arr_str(g, key, k, &items[k]) != MLXN_OK) __builtin_trap();
    mlxn_status st = mlxn_gguf_writer_set_arr_strn(w, key, items, n);
    free(items);
    return st;
}

/* Every value and tensor the reader accepted must go through the writer and read back equal. */
static void rewrite(const mlxn_gguf_t *g) {
    mlxn_gguf_writer_t *w = NULL;
    if (mlxn_gguf_writer_new(&w) != MLXN_OK) __builtin_trap();
    for (int64_t i = 0; i < mlxn_gguf_kv_count(g); i++)
        if (copy_kv(g, w, mlxn_gguf_kv_key(g, i), mlxn_gguf_kv_type(g, i)) != MLXN_OK) __builtin_trap();
    for (int64_t i = 0; i < mlxn_gguf_tensor_count(g); i++) {
        mlxn_gguf_tensor t;
        mlxn_gguf_get_tensor(g, i, &t);
        if (mlxn_gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data) != MLXN_OK) __builtin_trap();
    }
    void *mem = NULL;
    size_t size = 0;
    if (mlxn_gguf_writer_write_memory(w, &mem, &size) != MLXN_OK) __builtin_trap();
    mlxn_gguf_t *h = NULL;
    if (mlxn_gguf_open_memory(mem, size, &h) != MLXN_OK) __builtin_trap();
    if (mlxn_gguf_kv_count(h) != mlxn_gguf_kv_count(g) || mlxn_gguf_tensor_count(h) != mlxn_gguf_tensor_count(g) ||
        mlxn_gguf_alignment(h) != mlxn_gguf_alignment(g))
        __builtin_trap();
    for (int64_t i = 0; i < mlxn_gguf_kv_count(g); i++)
        if (strcmp(mlxn_gguf_kv_key(g, i), mlxn_gguf_kv_key(h, i)) || mlxn_gguf_kv_type(g, i) != mlxn_gguf_kv_type(h, i))
            __builtin_trap();
    for (int64_t i = 0; i < mlxn_gguf_tensor_count(g); i++) {
        mlxn_gguf_tensor a, b;
        mlxn_gguf_get_tensor(g, i, &a);
        mlxn_gguf_get_tensor(h, i, &b);
        if (strcmp(a.name, b.name) || a.type != b.type || a.nbytes != b.nbytes || memcmp(a.ne, b.ne, sizeof a.ne) ||
            memcmp(a.data, b.data, a.nbytes))
            __builtin_trap();
    }
    mlxn_gguf_free(h);
    free(mem);
    mlxn_gguf_writer_free(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxn_gguf_t *g = NULL;
    if (mlxn_gguf_open_memory(data, size, &g) == MLXN_OK) {
        walk(g);
        if (mlxn_gguf_alignment(g) <= (1u << 20)) rewrite(g);   /* the copy is padded to the alignment */
        mlxn_gguf_free(g);
    } else if (g) {
        __builtin_trap();   /* a failed open must not hand out a handle */
    }
    return 0;
}
