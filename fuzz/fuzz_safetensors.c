/* libFuzzer target for the safetensors reader: opens the input from memory and, when it
 * parses, walks every tensor (lookup by name, descriptor, first and last data byte) and every
 * metadata pair, and checks the invariants mlxn.h promises (contiguous ranges from 0 to the
 * end of the buffer, nbytes = numel * bits / 8, lookups agree with indices). */
#include "mlxn.h"
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static volatile uint64_t sink;

#define ENSURE(c) do { if (!(c)) __builtin_trap(); } while (0)

static void walk(const mlxn_st_t *st, const uint8_t *base, size_t size) {
    ENSURE(mlxn_st_file_size(st) == size);
    ENSURE(mlxn_st_data_offset(st) == 8 + mlxn_st_header_size(st));
    ENSURE(mlxn_st_data_offset(st) <= size);
    const uint8_t *buf = base + mlxn_st_data_offset(st);
    uint64_t buf_len = size - mlxn_st_data_offset(st);
    int64_t n = mlxn_st_tensor_count(st);
    uint64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        mlxn_st_tensor t;
        ENSURE(mlxn_st_get_tensor(st, i, &t) == MLXN_OK);
        ENSURE(t.name && t.name[0] && t.dtype);
        ENSURE(mlxn_st_find_tensor(st, t.name) == i);   /* names are unique */
        mlxn_type ty;
        int bits;
        ENSURE(mlxn_st_dtype_parse(t.dtype, &ty, &bits) == MLXN_OK && ty == t.type && bits == t.bits);
        ENSURE(t.n_dims >= 0 && t.n_dims <= MLXN_ST_MAX_DIMS);
        uint64_t numel = 1;   /* unsigned: a later zero extent may follow a huge prefix */
        for (int d = 0; d < t.n_dims; d++) {
            ENSURE(t.shape[d] >= 0);
            numel *= (uint64_t)t.shape[d];
        }
        ENSURE(t.numel >= 0 && numel == (uint64_t)t.numel);
        ENSURE((uint64_t)t.numel * (uint64_t)t.bits == t.nbytes * 8);
        ENSURE(t.offset == pos);                          /* file order, no gap, no overlap */
        pos = t.offset + t.nbytes;
        ENSURE(pos <= buf_len);
        if (t.nbytes) {
            const uint8_t *d = t.data;
            ENSURE(d == buf + t.offset);
            sink += d[0] + d[t.nbytes - 1];
        } else {
            ENSURE(t.data == NULL);
        }
        mlxn_tensor_desc desc;
        if (mlxn_st_tensor_desc(&t, &desc) == MLXN_OK) {
            ENSURE(desc.type == t.type);
            ENSURE(mlxn_tensor_desc_nelements(&desc) == t.numel);
            ENSURE(mlxn_tensor_desc_nbytes(&desc) == t.nbytes);
        }
    }
    ENSURE(pos == buf_len);                               /* the last range ends at EOF */
    mlxn_st_tensor t;
    ENSURE(mlxn_st_get_tensor(st, n, &t) == MLXN_ERR_INVALID_ARG);
    ENSURE(mlxn_st_get_tensor(st, -1, &t) == MLXN_ERR_INVALID_ARG);
    ENSURE(mlxn_st_find_tensor(st, "") == -1);

    int64_t nm = mlxn_st_meta_count(st);
    for (int64_t i = 0; i < nm; i++) {
        const char *k = mlxn_st_meta_key(st, i), *v = mlxn_st_meta_value(st, i);
        ENSURE(k && v);
        ENSURE(mlxn_st_meta_get(st, k) == v);              /* keys are unique */
        sink += strlen(k) + strlen(v);
    }
    ENSURE(mlxn_st_meta_key(st, nm) == NULL && mlxn_st_meta_value(st, nm) == NULL);
    sink += strlen(mlxn_st_path(st)) + strlen(mlxn_st_last_error(st));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxn_st_t *st = NULL;
    if (mlxn_st_open_memory(data, size, "fuzz.safetensors", &st) == MLXN_OK) {
        ENSURE(st);
        walk(st, data, size);
        mlxn_st_free(st);
    } else {
        ENSURE(!st);   /* a failed open must not hand out a handle */
    }
    return 0;
}
