/* GGUF writer: collects metadata (copied, already encoded) and tensors (borrowed), then
 * lays out a version 3 file: header, key/values, tensor infos, zero padding to the
 * alignment, and each tensor's bytes padded to the alignment. */
#define _POSIX_C_SOURCE 200809L   /* strdup, mmap, O_CLOEXEC */
#include "core/status.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer copies numeric arrays as they are in memory: little-endian hosts only"
#endif

typedef struct wkv {
    char *key;
    uint8_t *blob;     /* encoded u32 value type + value */
    size_t blob_len;
} wkv;

typedef struct wtensor {
    char *name;
    mlxn_type type;
    int n_dims;
    int64_t ne[MLXN_MAX_DIMS];
    uint64_t nbytes, offset;
    const void *data;
} wtensor;

struct mlxn_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
    mlxn_errbuf err;
};

static mlxn_status wfail(mlxn_gguf_writer_t *w, mlxn_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static mlxn_status wfail(mlxn_gguf_writer_t *w, mlxn_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mlxn_failv(code, fmt, ap);
    va_end(ap);
    return mlxn_errbuf_save(w ? &w->err : NULL, code);
}

mlxn_status mlxn_gguf_writer_new(mlxn_gguf_writer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf_writer_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return mlxn_fail(MLXN_ERR_NO_MEMORY, "gguf_writer_new: no memory");
    (*out)->alignment = 32;
    return MLXN_OK;
}

void mlxn_gguf_writer_free(mlxn_gguf_writer_t *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].blob); }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

const char *mlxn_gguf_writer_last_error(const mlxn_gguf_writer_t *w) { return w ? w->err.msg : ""; }

/* ---- encoding ------------------------------------------------------------------------------ */

static void put_le(uint8_t *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static size_t vsize(mlxn_gguf_vtype t) {
    switch (t) {
    case MLXN_GGUF_U8: case MLXN_GGUF_I8: case MLXN_GGUF_BOOL: return 1;
    case MLXN_GGUF_U16: case MLXN_GGUF_I16: return 2;
    case MLXN_GGUF_U32: case MLXN_GGUF_I32: case MLXN_GGUF_F32: return 4;
    case MLXN_GGUF_U64: case MLXN_GGUF_I64: case MLXN_GGUF_F64: return 8;
    default: return 0;
    }
}

/* Stores blob (ownership taken) under key: replaces an existing value in place or appends. */
static mlxn_status put_kv(mlxn_gguf_writer_t *w, const char *key, uint8_t *blob, size_t len) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].blob);
            w->kv[i].blob = blob;
            w->kv[i].blob_len = len;
            return MLXN_OK;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 16;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) { free(blob); return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s'", key); }
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { free(blob); return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s'", key); }
    w->kv[w->n_kv++] = (wkv){k, blob, len};
    return MLXN_OK;
}

static mlxn_status check_key(mlxn_gguf_writer_t *w, const char *key) {
    if (!w) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (!key || !key[0]) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: empty or NULL key");
    return MLXN_OK;
}

static mlxn_status set_scalar(mlxn_gguf_writer_t *w, const char *key, mlxn_gguf_vtype t, uint64_t bits) {
    MLXN_TRY(check_key(w, key));
    if (!strcmp(key, "general.alignment")) {
        if (t != MLXN_GGUF_U32)
            return wfail(w, MLXN_ERR_TYPE, "gguf writer: general.alignment must be a u32");
        if (bits == 0 || (bits & (bits - 1)))
            return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: alignment %llu is not a power of two", (unsigned long long)bits);
        w->alignment = (uint32_t)bits;
    }
    size_t n = vsize(t);
    uint8_t *b = malloc(4 + n);
    if (!b) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s'", key);
    put_le(b, (uint32_t)t, 4);
    put_le(b + 4, bits, (int)n);
    return put_kv(w, key, b, 4 + n);
}

mlxn_status mlxn_gguf_writer_set_u8(mlxn_gguf_writer_t *w, const char *key, uint8_t v) { return set_scalar(w, key, MLXN_GGUF_U8, v); }
mlxn_status mlxn_gguf_writer_set_i8(mlxn_gguf_writer_t *w, const char *key, int8_t v) { return set_scalar(w, key, MLXN_GGUF_I8, (uint8_t)v); }
mlxn_status mlxn_gguf_writer_set_u16(mlxn_gguf_writer_t *w, const char *key, uint16_t v) { return set_scalar(w, key, MLXN_GGUF_U16, v); }
mlxn_status mlxn_gguf_writer_set_i16(mlxn_gguf_writer_t *w, const char *key, int16_t v) { return set_scalar(w, key, MLXN_GGUF_I16, (uint16_t)v); }
mlxn_status mlxn_gguf_writer_set_u32(mlxn_gguf_writer_t *w, const char *key, uint32_t v) { return set_scalar(w, key, MLXN_GGUF_U32, v); }
mlxn_status mlxn_gguf_writer_set_i32(mlxn_gguf_writer_t *w, const char *key, int32_t v) { return set_scalar(w, key, MLXN_GGUF_I32, (uint32_t)v); }
mlxn_status mlxn_gguf_writer_set_u64(mlxn_gguf_writer_t *w, const char *key, uint64_t v) { return set_scalar(w, key, MLXN_GGUF_U64, v); }
mlxn_status mlxn_gguf_writer_set_i64(mlxn_gguf_writer_t *w, const char *key, int64_t v) { return set_scalar(w, key, MLXN_GGUF_I64, (uint64_t)v); }
mlxn_status mlxn_gguf_writer_set_bool(mlxn_gguf_writer_t *w, const char *key, bool v) { return set_scalar(w, key, MLXN_GGUF_BOOL, v ? 1 : 0); }
mlxn_status mlxn_gguf_writer_set_f32(mlxn_gguf_writer_t *w, const char *key, float v) {
    uint32_t b;
    memcpy(&b, &v, 4);
    return set_scalar(w, key, MLXN_GGUF_F32, b);
}
mlxn_status mlxn_gguf_writer_set_f64(mlxn_gguf_writer_t *w, const char *key, double v) {
    uint64_t b;
    memcpy(&b, &v, 8);
    return set_scalar(w, key, MLXN_GGUF_F64, b);
}

mlxn_status mlxn_gguf_writer_set_strn(mlxn_gguf_writer_t *w, const char *key, const char *s, uint64_t len) {
    MLXN_TRY(check_key(w, key));
    if (!s && len) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key);
    if (!strcmp(key, "general.alignment")) return wfail(w, MLXN_ERR_TYPE, "gguf writer: general.alignment must be a u32");
    if (len > SIZE_MAX - 12) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': string too long", key);
    uint8_t *b = malloc(12 + (size_t)len);
    if (!b) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s'", key);
    put_le(b, MLXN_GGUF_STRING, 4);
    put_le(b + 4, len, 8);
    if (len) memcpy(b + 12, s, (size_t)len);
    return put_kv(w, key, b, 12 + (size_t)len);
}

mlxn_status mlxn_gguf_writer_set_str(mlxn_gguf_writer_t *w, const char *key, const char *s) {
    if (!s) return w ? wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': NULL string", key ? key : "")
                     : mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf writer: NULL handle");
    return mlxn_gguf_writer_set_strn(w, key, s, strlen(s));
}

/* String arrays from either representation: items (mlxn_str) or cstrs (NUL-terminated). */
static mlxn_status set_str_arr(mlxn_gguf_writer_t *w, const char *key, const mlxn_str *items, const char *const *cstrs,
                               uint64_t count) {
    if (count && !items && !cstrs) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': NULL array data", key);
    size_t total = 16;
    for (uint64_t i = 0; i < count; i++) {
        const char *p = items ? items[i].ptr : cstrs[i];
        uint64_t len = items ? items[i].len : (p ? strlen(p) : 0);
        if (!p && len) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': element %llu is NULL", key, (unsigned long long)i);
        if (!items && !p) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': element %llu is NULL", key, (unsigned long long)i);
        if (len > SIZE_MAX - 8 - total) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': array too large", key);
        total += 8 + (size_t)len;
    }
    uint8_t *b = malloc(total), *q = b;
    if (!b) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s' (%zu bytes)", key, total);
    put_le(q, MLXN_GGUF_ARRAY, 4);
    put_le(q + 4, MLXN_GGUF_STRING, 4);
    put_le(q + 8, count, 8);
    q += 16;
    for (uint64_t i = 0; i < count; i++) {
        const char *p = items ? items[i].ptr : cstrs[i];
        uint64_t len = items ? items[i].len : strlen(p);
        put_le(q, len, 8);
        if (len) memcpy(q + 8, p, (size_t)len);
        q += 8 + len;
    }
    return put_kv(w, key, b, total);
}

mlxn_status mlxn_gguf_writer_set_arr_strn(mlxn_gguf_writer_t *w, const char *key, const mlxn_str *items, uint64_t count) {
    MLXN_TRY(check_key(w, key));
    if (!strcmp(key, "general.alignment")) return wfail(w, MLXN_ERR_TYPE, "gguf writer: general.alignment must be a u32");
    return set_str_arr(w, key, items, NULL, count);
}

mlxn_status mlxn_gguf_writer_set_arr(mlxn_gguf_writer_t *w, const char *key, mlxn_gguf_vtype elem_type, const void *data,
                                     uint64_t count) {
    MLXN_TRY(check_key(w, key));
    if (!strcmp(key, "general.alignment")) return wfail(w, MLXN_ERR_TYPE, "gguf writer: general.alignment must be a u32");
    if (elem_type == MLXN_GGUF_STRING) return set_str_arr(w, key, NULL, (const char *const *)data, count);
    size_t es = vsize(elem_type);
    if (!es) return wfail(w, MLXN_ERR_TYPE, "gguf writer: key '%s': element type %d cannot be an array element", key, (int)elem_type);
    if (count && !data) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': NULL array data", key);
    if (count > (SIZE_MAX - 16) / es) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': array too large", key);
    if (elem_type == MLXN_GGUF_BOOL)
        for (uint64_t i = 0; i < count; i++)
            if (((const uint8_t *)data)[i] > 1)
                return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: key '%s': bool element %llu is not 0 or 1", key, (unsigned long long)i);
    size_t n = 16 + (size_t)count * es;
    uint8_t *b = malloc(n);
    if (!b) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for key '%s' (%zu bytes)", key, n);
    put_le(b, MLXN_GGUF_ARRAY, 4);
    put_le(b + 4, (uint32_t)elem_type, 4);
    put_le(b + 8, count, 8);
    if (count) memcpy(b + 16, data, (size_t)count * es);
    return put_kv(w, key, b, n);
}

mlxn_status mlxn_gguf_writer_add_tensor(mlxn_gguf_writer_t *w, const char *name, mlxn_type type, int n_dims,
                                        const int64_t *ne, const void *data) {
    if (!w) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (!name || !name[0]) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: empty or NULL tensor name");
    if (!ne || !data) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: tensor '%s': NULL shape or data", name);
    if ((int)type < 0 || (int)type >= 64 || !mlxn_type_info(type))
        return wfail(w, MLXN_ERR_TYPE, "gguf writer: tensor '%s': type %d has no GGUF id", name, (int)type);
    mlxn_tensor_desc d;
    if (mlxn_tensor_desc_init(&d, type, n_dims, ne) != MLXN_OK)
        return wfail(w, MLXN_ERR_SHAPE, "gguf writer: tensor '%s': %s", name, mlxn_last_error());
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: duplicate tensor name '%s'", name);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 16;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for tensor '%s'", name);
        w->t = nt;
        w->cap_t = cap;
    }
    char *nm = strdup(name);
    if (!nm) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for tensor '%s'", name);
    wtensor *t = &w->t[w->n_t++];
    *t = (wtensor){.name = nm, .type = type, .n_dims = n_dims, .data = data, .nbytes = mlxn_tensor_desc_nbytes(&d)};
    memcpy(t->ne, d.ne, sizeof t->ne);
    return MLXN_OK;
}

/* ---- layout and output ------------------------------------------------------------------- */

typedef struct sink {
    FILE *f;          /* file sink, or */
    uint8_t *mem;     /* memory sink */
    size_t pos;
    bool failed;
} sink;

static void emit(sink *s, const void *p, size_t n) {
    if (s->failed || !n) return;
    if (s->f) {
        if (fwrite(p, 1, n, s->f) != n) s->failed = true;
    } else {
        memcpy(s->mem + s->pos, p, n);
    }
    s->pos += n;
}

static void emit_le(sink *s, uint64_t v, int n) {
    uint8_t b[8];
    put_le(b, v, n);
    emit(s, b, (size_t)n);
}

static void emit_zeros(sink *s, size_t n) {
    static const uint8_t z[256];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        emit(s, z, k);
        n -= k;
    }
}

static uint64_t pad_to(uint64_t x, uint64_t a) { return (a - x % a) % a; }

/* Assigns tensor offsets and returns the total file size (0 on overflow). */
static uint64_t layout(mlxn_gguf_writer_t *w, uint64_t *header_size) {
    uint64_t pos = 4 + 4 + 8 + 8;
    for (size_t i = 0; i < w->n_kv; i++) pos += 8 + strlen(w->kv[i].key) + w->kv[i].blob_len;
    for (size_t i = 0; i < w->n_t; i++) pos += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    *header_size = pos;
    uint64_t a = w->alignment, off = 0;
    pos += pad_to(pos, a);
    for (size_t i = 0; i < w->n_t; i++) {
        w->t[i].offset = off;
        uint64_t n = w->t[i].nbytes + pad_to(w->t[i].nbytes, a);
        if (n < w->t[i].nbytes || off > UINT64_MAX - n) return 0;
        off += n;
    }
    if (pos > UINT64_MAX - off) return 0;
    return pos + off;
}

static void write_all(mlxn_gguf_writer_t *w, sink *s) {
    emit(s, "GGUF", 4);
    emit_le(s, 3, 4);
    emit_le(s, w->n_t, 8);
    emit_le(s, w->n_kv, 8);
    for (size_t i = 0; i < w->n_kv; i++) {
        size_t kl = strlen(w->kv[i].key);
        emit_le(s, kl, 8);
        emit(s, w->kv[i].key, kl);
        emit(s, w->kv[i].blob, w->kv[i].blob_len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        emit_le(s, nl, 8);
        emit(s, t->name, nl);
        emit_le(s, (uint32_t)t->n_dims, 4);
        for (int d = 0; d < t->n_dims; d++) emit_le(s, (uint64_t)t->ne[d], 8);
        emit_le(s, (uint32_t)t->type, 4);
        emit_le(s, t->offset, 8);
    }
    emit_zeros(s, pad_to(s->pos, w->alignment));
    for (size_t i = 0; i < w->n_t; i++) {
        emit(s, w->t[i].data, w->t[i].nbytes);
        emit_zeros(s, pad_to(w->t[i].nbytes, w->alignment));
    }
}

mlxn_status mlxn_gguf_writer_write_memory(mlxn_gguf_writer_t *w, void **out, size_t *size) {
    if (!w) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (!out || !size) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: NULL output argument");
    *out = NULL;
    *size = 0;
    uint64_t hs, total = layout(w, &hs);
    if (total == 0 || total > SIZE_MAX) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: file size overflows");
    sink s = {.mem = malloc((size_t)total)};
    if (!s.mem) return wfail(w, MLXN_ERR_NO_MEMORY, "gguf writer: no memory for a %llu-byte file", (unsigned long long)total);
    write_all(w, &s);
    *out = s.mem;
    *size = (size_t)total;
    return MLXN_OK;
}

mlxn_status mlxn_gguf_writer_write(mlxn_gguf_writer_t *w, const char *path) {
    if (!w) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf writer: NULL handle");
    if (!path) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: NULL path");
    uint64_t hs, total = layout(w, &hs);
    if (total == 0) return wfail(w, MLXN_ERR_INVALID_ARG, "gguf writer: file size overflows");
    sink s = {.f = fopen(path, "wb")};
    if (!s.f) return wfail(w, MLXN_ERR_IO, "gguf writer: cannot create '%s': %s", path, strerror(errno));
    write_all(w, &s);
    bool bad = s.failed;
    if (fclose(s.f) != 0) bad = true;
    if (bad) {
        remove(path);
        return wfail(w, MLXN_ERR_IO, "gguf writer: writing '%s' failed at byte %zu of %llu", path, s.pos,
                     (unsigned long long)total);
    }
    return MLXN_OK;
}
