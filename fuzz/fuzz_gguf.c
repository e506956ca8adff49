/* libFuzzer target for the GGUF reader: opens the input from memory and, when it parses,
 * walks every key (all getters, every array element) and every tensor (touching the first
 * and last data byte) so ASan/UBSan see every read the API can make. */
#include "mlxn.h"
#include <stddef.h>
#include <stdint.h>

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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxn_gguf_t *g = NULL;
    if (mlxn_gguf_open_memory(data, size, &g) == MLXN_OK) {
        walk(g);
        mlxn_gguf_free(g);
    } else if (g) {
        __builtin_trap();   /* a failed open must not hand out a handle */
    }
    return 0;
}
