/* GGUF reader: maps a file (or takes caller memory), validates the whole header up front and
 * keeps an index of keys and tensors whose values point into the map (zero copy).
 * Every count, length and offset in the file is treated as hostile: each is checked against
 * the bytes that remain before anything sized by it is allocated. */
#define _POSIX_C_SOURCE 200809L   /* strdup */
#include "core/mapfile.h"
#include "core/status.h"
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_DEFAULT_ALIGNMENT 32u
/* Smallest encodings, used to bound counts before allocating: key length (8) + type (4) +
 * a 1-byte value, and name length (8) + n_dims (4) + ne (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 13u
#define GGUF_MIN_TENSOR_BYTES 32u

typedef struct gguf_kv {
    char *key;                  /* NUL-terminated copy */
    uint64_t key_off;           /* file offset of the key's length field */
    mlxn_gguf_vtype type;
    mlxn_gguf_vtype elem_type;  /* arrays only */
    uint64_t count;             /* arrays only */
    const uint8_t *val;         /* scalar: the value; string: its length field; array: first element */
    uint64_t *str_offs;         /* string arrays: map offset of each element's length field */
} gguf_kv;

typedef struct gguf_tensor {
    char *name;
    uint64_t name_off;
    mlxn_type type;
    int32_t n_dims;
    int64_t ne[MLXN_MAX_DIMS];
    uint64_t offset, nbytes;
} gguf_tensor;

struct mlxn_gguf {
    const uint8_t *base;
    uint64_t size;
    mlxn_mapped_file file;      /* our mmap of the file (map NULL when opened from memory or empty) */
    uint32_t version, alignment;
    uint64_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor *tensors;
    int64_t *kv_hash, *t_hash;  /* open addressing, entries are index+1, 0 = empty */
    uint64_t kv_hash_mask, t_hash_mask;
    char *path;
    mlxn_errbuf err;
};

/* ---- little helpers ----------------------------------------------------------------- */

static uint64_t rd_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static size_t vtype_size(uint32_t t) {
    switch (t) {
    case MLXN_GGUF_U8: case MLXN_GGUF_I8: case MLXN_GGUF_BOOL: return 1;
    case MLXN_GGUF_U16: case MLXN_GGUF_I16: return 2;
    case MLXN_GGUF_U32: case MLXN_GGUF_I32: case MLXN_GGUF_F32: return 4;
    case MLXN_GGUF_U64: case MLXN_GGUF_I64: case MLXN_GGUF_F64: return 8;
    default: return 0;   /* string, array, unknown */
    }
}

static const char *vtype_name(uint32_t t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "string", "array", "u64", "i64", "f64"};
    return t < sizeof names / sizeof names[0] ? names[t] : "unknown";
}

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull;   /* FNV-1a */
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Copies a name for use in an error message: at most 64 bytes, non-printables as '?'. */
static void safe_name(char *dst, size_t cap, const uint8_t *p, uint64_t len) {
    size_t n = len < 64 ? (size_t)len : 64;
    if (n > cap - 4) n = cap - 4;
    for (size_t i = 0; i < n; i++) dst[i] = (p[i] >= 32 && p[i] < 127 && p[i] != '\'') ? (char)p[i] : '?';
    if (len > n) { memcpy(dst + n, "...", 4); } else dst[n] = 0;
}

/* ---- parsing ------------------------------------------------------------------------------ */

typedef struct parser {
    mlxn_gguf_t *g;
    uint64_t pos;
    char what[128];   /* "key 'x'" or "tensor 'y'": names the item being parsed */
} parser;

static mlxn_status perr(parser *p, mlxn_status code, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static mlxn_status perr(parser *p, mlxn_status code, uint64_t off, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->what[0])
        return mlxn_fail(code, "gguf '%s': %s: %s (file offset %llu)", p->g->path, p->what, msg, (unsigned long long)off);
    return mlxn_fail(code, "gguf '%s': %s (file offset %llu)", p->g->path, msg, (unsigned long long)off);
}

static uint64_t remaining(const parser *p) { return p->g->size - p->pos; }

static mlxn_status need(parser *p, uint64_t n, const char *field) {
    if (remaining(p) < n)
        return perr(p, MLXN_ERR_FORMAT, p->pos, "file truncated: %s needs %llu bytes, %llu left", field,
                    (unsigned long long)n, (unsigned long long)remaining(p));
    return MLXN_OK;
}

static mlxn_status rd_u32(parser *p, const char *field, uint32_t *out) {
    MLXN_TRY(need(p, 4, field));
    *out = (uint32_t)rd_le(p->g->base + p->pos, 4);
    p->pos += 4;
    return MLXN_OK;
}

static mlxn_status rd_u64(parser *p, const char *field, uint64_t *out) {
    MLXN_TRY(need(p, 8, field));
    *out = rd_le(p->g->base + p->pos, 8);
    p->pos += 8;
    return MLXN_OK;
}

/* A string: u64 length + bytes. Leaves *s pointing at the bytes. */
static mlxn_status rd_str(parser *p, const char *field, const uint8_t **s, uint64_t *len) {
    uint64_t at = p->pos;
    MLXN_TRY(rd_u64(p, field, len));
    if (*len > remaining(p))
        return perr(p, MLXN_ERR_FORMAT, at, "%s length %llu exceeds the %llu bytes left in the file", field,
                    (unsigned long long)*len, (unsigned long long)remaining(p));
    *s = p->g->base + p->pos;
    p->pos += *len;
    return MLXN_OK;
}

/* A name (key or tensor name) copied to a NUL-terminated string; empty or NUL-containing
 * names are refused since lookups go by C string. */
static mlxn_status rd_name(parser *p, const char *field, char **out, uint64_t *at) {
    const uint8_t *s = NULL;
    uint64_t len = 0;
    *at = p->pos;
    MLXN_TRY(rd_str(p, field, &s, &len));
    if (len == 0) return perr(p, MLXN_ERR_FORMAT, *at, "empty %s", field);
    if (memchr(s, 0, (size_t)len)) return perr(p, MLXN_ERR_FORMAT, *at, "%s contains a NUL byte", field);
    *out = malloc((size_t)len + 1);
    if (!*out) return perr(p, MLXN_ERR_NO_MEMORY, *at, "no memory for a %llu-byte %s", (unsigned long long)len, field);
    memcpy(*out, s, (size_t)len);
    (*out)[len] = 0;
    return MLXN_OK;
}

static mlxn_status hash_alloc(parser *p, int64_t n, int64_t **tab, uint64_t *mask) {
    uint64_t cap = 16;
    while (cap < (uint64_t)n * 2) cap <<= 1;
    *tab = calloc(cap, sizeof **tab);
    if (!*tab) return perr(p, MLXN_ERR_NO_MEMORY, p->pos, "no memory for a %llu-entry index", (unsigned long long)cap);
    *mask = cap - 1;
    return MLXN_OK;
}

/* Returns the existing index for name, or inserts idx and returns -1. */
static int64_t hash_insert(int64_t *tab, uint64_t mask, const char *name, int64_t idx, char *(*name_of)(const mlxn_gguf_t *, int64_t),
                           const mlxn_gguf_t *g) {
    for (uint64_t h = hash_str(name) & mask;; h = (h + 1) & mask) {
        if (!tab[h]) { tab[h] = idx + 1; return -1; }
        if (!strcmp(name_of(g, tab[h] - 1), name)) return tab[h] - 1;
    }
}

static int64_t hash_find(const int64_t *tab, uint64_t mask, const char *name, char *(*name_of)(const mlxn_gguf_t *, int64_t),
                         const mlxn_gguf_t *g) {
    if (!tab || !name) return -1;
    for (uint64_t h = hash_str(name) & mask;; h = (h + 1) & mask) {
        if (!tab[h]) return -1;
        if (!strcmp(name_of(g, tab[h] - 1), name)) return tab[h] - 1;
    }
}

static char *kv_name_of(const mlxn_gguf_t *g, int64_t i) { return g->kv[i].key; }
static char *t_name_of(const mlxn_gguf_t *g, int64_t i) { return g->tensors[i].name; }

static mlxn_status parse_value(parser *p, gguf_kv *kv) {
    uint64_t at = p->pos;
    uint32_t t;
    MLXN_TRY(rd_u32(p, "value type", &t));
    if (t > MLXN_GGUF_F64) return perr(p, MLXN_ERR_FORMAT, at, "unknown value type %u", t);
    kv->type = (mlxn_gguf_vtype)t;
    kv->val = p->g->base + p->pos;
    if (t == MLXN_GGUF_STRING) {
        const uint8_t *s;
        uint64_t len;
        return rd_str(p, "string value", &s, &len);
    }
    if (t != MLXN_GGUF_ARRAY) {
        uint64_t vat = p->pos;
        MLXN_TRY(need(p, vtype_size(t), "value"));
        if (t == MLXN_GGUF_BOOL && p->g->base[p->pos] > 1)
            return perr(p, MLXN_ERR_FORMAT, vat, "bool value %u is neither 0 nor 1", p->g->base[p->pos]);
        p->pos += vtype_size(t);
        return MLXN_OK;
    }
    uint32_t et;
    uint64_t eat = p->pos, count;
    MLXN_TRY(rd_u32(p, "array element type", &et));
    if (et == MLXN_GGUF_ARRAY) return perr(p, MLXN_ERR_FORMAT, eat, "nested arrays are not supported");
    if (et > MLXN_GGUF_F64) return perr(p, MLXN_ERR_FORMAT, eat, "unknown array element type %u", et);
    uint64_t cat = p->pos;
    MLXN_TRY(rd_u64(p, "array count", &count));
    kv->elem_type = (mlxn_gguf_vtype)et;
    kv->count = count;
    kv->val = p->g->base + p->pos;
    if (et != MLXN_GGUF_STRING) {
        size_t es = vtype_size(et);
        if (count > remaining(p) / es)
            return perr(p, MLXN_ERR_FORMAT, cat, "array of %llu %s elements needs more than the %llu bytes left",
                        (unsigned long long)count, vtype_name(et), (unsigned long long)remaining(p));
        if (et == MLXN_GGUF_BOOL)
            for (uint64_t i = 0; i < count; i++)
                if (p->g->base[p->pos + i] > 1)
                    return perr(p, MLXN_ERR_FORMAT, p->pos + i, "bool element %llu is %u, neither 0 nor 1",
                                (unsigned long long)i, p->g->base[p->pos + i]);
        p->pos += count * es;
        return MLXN_OK;
    }
    /* Each string takes at least its 8-byte length: bounds count before the index is allocated. */
    if (count > remaining(p) / 8)
        return perr(p, MLXN_ERR_FORMAT, cat, "array of %llu strings needs more than the %llu bytes left",
                    (unsigned long long)count, (unsigned long long)remaining(p));
    kv->str_offs = malloc((size_t)(count ? count : 1) * sizeof *kv->str_offs);
    if (!kv->str_offs)
        return perr(p, MLXN_ERR_NO_MEMORY, cat, "no memory for an index of %llu strings", (unsigned long long)count);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *s;
        uint64_t len;
        kv->str_offs[i] = p->pos;
        MLXN_TRY(rd_str(p, "array string", &s, &len));
    }
    return MLXN_OK;
}

static mlxn_status parse_kvs(parser *p, uint64_t n_kv, uint64_t count_at) {
    mlxn_gguf_t *g = p->g;
    if (n_kv > remaining(p) / GGUF_MIN_KV_BYTES)
        return perr(p, MLXN_ERR_FORMAT, count_at, "kv_count %llu cannot fit in the %llu bytes left",
                    (unsigned long long)n_kv, (unsigned long long)remaining(p));
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    if (!g->kv) return perr(p, MLXN_ERR_NO_MEMORY, count_at, "no memory for %llu keys", (unsigned long long)n_kv);
    MLXN_TRY(hash_alloc(p, (int64_t)n_kv, &g->kv_hash, &g->kv_hash_mask));
    for (uint64_t i = 0; i < n_kv; i++) {
        gguf_kv *kv = &g->kv[i];
        snprintf(p->what, sizeof p->what, "key #%llu", (unsigned long long)i);
        MLXN_TRY(rd_name(p, "key", &kv->key, &kv->key_off));
        g->n_kv = (int64_t)i + 1;   /* owned from here on, freed with the handle */
        char nm[80];
        safe_name(nm, sizeof nm, (const uint8_t *)kv->key, strlen(kv->key));
        snprintf(p->what, sizeof p->what, "key '%s'", nm);
        if (hash_insert(g->kv_hash, g->kv_hash_mask, kv->key, (int64_t)i, kv_name_of, g) >= 0)
            return perr(p, MLXN_ERR_FORMAT, kv->key_off, "duplicate key");
        MLXN_TRY(parse_value(p, kv));
    }
    p->what[0] = 0;
    return MLXN_OK;
}

static mlxn_status parse_alignment(parser *p) {
    mlxn_gguf_t *g = p->g;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    int64_t i = hash_find(g->kv_hash, g->kv_hash_mask, "general.alignment", kv_name_of, g);
    if (i < 0) return MLXN_OK;
    gguf_kv *kv = &g->kv[i];
    snprintf(p->what, sizeof p->what, "key 'general.alignment'");
    uint64_t at = (uint64_t)(kv->val - g->base);
    if (kv->type != MLXN_GGUF_U32)
        return perr(p, MLXN_ERR_FORMAT, at, "alignment must be a u32, found %s", vtype_name(kv->type));
    uint32_t a = (uint32_t)rd_le(kv->val, 4);
    if (a == 0 || (a & (a - 1)))
        return perr(p, MLXN_ERR_FORMAT, at, "alignment %u is not a power of two", a);
    g->alignment = a;
    p->what[0] = 0;
    return MLXN_OK;
}

static mlxn_status parse_tensor_infos(parser *p, uint64_t n_t, uint64_t count_at) {
    mlxn_gguf_t *g = p->g;
    if (n_t > remaining(p) / GGUF_MIN_TENSOR_BYTES)
        return perr(p, MLXN_ERR_FORMAT, count_at, "tensor_count %llu cannot fit in the %llu bytes left",
                    (unsigned long long)n_t, (unsigned long long)remaining(p));
    g->tensors = calloc(n_t ? n_t : 1, sizeof *g->tensors);
    if (!g->tensors) return perr(p, MLXN_ERR_NO_MEMORY, count_at, "no memory for %llu tensors", (unsigned long long)n_t);
    MLXN_TRY(hash_alloc(p, (int64_t)n_t, &g->t_hash, &g->t_hash_mask));
    for (uint64_t i = 0; i < n_t; i++) {
        gguf_tensor *t = &g->tensors[i];
        snprintf(p->what, sizeof p->what, "tensor #%llu", (unsigned long long)i);
        MLXN_TRY(rd_name(p, "tensor name", &t->name, &t->name_off));
        g->n_tensors = (int64_t)i + 1;
        char nm[80];
        safe_name(nm, sizeof nm, (const uint8_t *)t->name, strlen(t->name));
        snprintf(p->what, sizeof p->what, "tensor '%s'", nm);
        if (hash_insert(g->t_hash, g->t_hash_mask, t->name, (int64_t)i, t_name_of, g) >= 0)
            return perr(p, MLXN_ERR_FORMAT, t->name_off, "duplicate tensor name");
        uint32_t nd, type;
        uint64_t at = p->pos;
        MLXN_TRY(rd_u32(p, "n_dims", &nd));
        if (nd < 1 || nd > MLXN_MAX_DIMS) return perr(p, MLXN_ERR_FORMAT, at, "n_dims %u outside 1..4", nd);
        t->n_dims = (int32_t)nd;
        for (int d = 0; d < MLXN_MAX_DIMS; d++) t->ne[d] = 1;
        for (uint32_t d = 0; d < nd; d++) {
            uint64_t v;
            at = p->pos;
            MLXN_TRY(rd_u64(p, "ne", &v));
            if (v == 0 || v > INT64_MAX)
                return perr(p, MLXN_ERR_FORMAT, at, "ne[%u] = %llu is not a positive extent", d, (unsigned long long)v);
            t->ne[d] = (int64_t)v;
        }
        at = p->pos;
        MLXN_TRY(rd_u32(p, "tensor type", &type));
        const mlxn_type_traits *tt = type < 64 ? mlxn_type_info((mlxn_type)type) : NULL;
        if (!tt) return perr(p, MLXN_ERR_FORMAT, at, "unknown tensor type %u", type);
        t->type = (mlxn_type)type;
        if (t->ne[0] % tt->block_elems)
            return perr(p, MLXN_ERR_FORMAT, at, "ne[0] = %lld is not a multiple of %s's block of %lld",
                        (long long)t->ne[0], tt->name, (long long)tt->block_elems);
        uint64_t blocks = (uint64_t)(t->ne[0] / tt->block_elems);
        if (blocks > UINT64_MAX / tt->block_bytes)
            return perr(p, MLXN_ERR_FORMAT, at, "byte size of the shape overflows 64 bits");
        uint64_t nbytes = blocks * tt->block_bytes;
        for (int d = 1; d < MLXN_MAX_DIMS; d++) {
            if (nbytes > UINT64_MAX / (uint64_t)t->ne[d])
                return perr(p, MLXN_ERR_FORMAT, at, "byte size of the shape overflows 64 bits");
            nbytes *= (uint64_t)t->ne[d];
        }
        t->nbytes = nbytes;
        at = p->pos;
        MLXN_TRY(rd_u64(p, "tensor offset", &t->offset));
        if (t->offset % g->alignment)
            return perr(p, MLXN_ERR_FORMAT, at, "data offset %llu is not a multiple of the alignment %u",
                        (unsigned long long)t->offset, g->alignment);
    }
    p->what[0] = 0;
    return MLXN_OK;
}

typedef struct range { uint64_t begin, end; int64_t idx; } range;
static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Data section: every range inside the file, none overlapping (checked in offset order). */
static mlxn_status check_ranges(parser *p) {
    mlxn_gguf_t *g = p->g;
    if (g->n_tensors == 0) return MLXN_OK;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const gguf_tensor *t = &g->tensors[i];
        uint64_t avail = g->size > g->data_offset ? g->size - g->data_offset : 0;
        if (t->offset > avail || t->nbytes > avail - t->offset) {
            char nm[80];
            safe_name(nm, sizeof nm, (const uint8_t *)t->name, strlen(t->name));
            snprintf(p->what, sizeof p->what, "tensor '%s'", nm);
            return perr(p, MLXN_ERR_FORMAT, t->name_off,
                        "data [%llu, +%llu) relative to the data section at %llu runs past the end of the file (%llu bytes)",
                        (unsigned long long)t->offset, (unsigned long long)t->nbytes,
                        (unsigned long long)g->data_offset, (unsigned long long)g->size);
        }
    }
    range *order = malloc((size_t)g->n_tensors * sizeof *order);
    if (!order) return perr(p, MLXN_ERR_NO_MEMORY, p->pos, "no memory to sort %lld tensors", (long long)g->n_tensors);
    for (int64_t i = 0; i < g->n_tensors; i++)
        order[i] = (range){g->tensors[i].offset, g->tensors[i].offset + g->tensors[i].nbytes, i};
    qsort(order, (size_t)g->n_tensors, sizeof *order, cmp_range);
    mlxn_status st = MLXN_OK;
    for (int64_t k = 1; k < g->n_tensors; k++) {
        const gguf_tensor *a = &g->tensors[order[k - 1].idx], *b = &g->tensors[order[k].idx];
        if (order[k - 1].end > order[k].begin) {
            char na[80], nb[80];
            safe_name(na, sizeof na, (const uint8_t *)a->name, strlen(a->name));
            safe_name(nb, sizeof nb, (const uint8_t *)b->name, strlen(b->name));
            snprintf(p->what, sizeof p->what, "tensor '%s'", nb);
            st = perr(p, MLXN_ERR_FORMAT, b->name_off, "data at %llu overlaps tensor '%s' [%llu, %llu)",
                      (unsigned long long)b->offset, na, (unsigned long long)a->offset,
                      (unsigned long long)(a->offset + a->nbytes));
            break;
        }
    }
    free(order);
    return st;
}

static mlxn_status parse(mlxn_gguf_t *g) {
    parser p = {.g = g};
    uint32_t magic, version;
    uint64_t n_t, n_kv;
    MLXN_TRY(need(&p, 4, "magic"));
    if (memcmp(g->base, "GGUF", 4)) return perr(&p, MLXN_ERR_FORMAT, 0, "bad magic: not a GGUF file");
    p.pos = 4;
    MLXN_TRY(rd_u32(&p, "version", &version));
    magic = version;
    if (magic != 0 && (magic & 0xffff) == 0)
        return perr(&p, MLXN_ERR_UNSUPPORTED, 4, "version 0x%08x looks byte-swapped: big-endian GGUF files are not supported", version);
    if (version != 2 && version != 3)
        return perr(&p, MLXN_ERR_UNSUPPORTED, 4, "GGUF version %u is not supported (only 2 and 3)", version);
    g->version = version;
    uint64_t t_at = p.pos;
    MLXN_TRY(rd_u64(&p, "tensor_count", &n_t));
    uint64_t kv_at = p.pos;
    MLXN_TRY(rd_u64(&p, "kv_count", &n_kv));
    MLXN_TRY(parse_kvs(&p, n_kv, kv_at));
    MLXN_TRY(parse_alignment(&p));
    MLXN_TRY(parse_tensor_infos(&p, n_t, t_at));
    uint64_t a = g->alignment;
    g->data_offset = p.pos + (a - p.pos % a) % a;
    return check_ranges(&p);
}

/* ---- open / free --------------------------------------------------------------------------- */

void mlxn_gguf_free(mlxn_gguf_t *g) {
    if (!g) return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        free(g->kv[i].key);
        free(g->kv[i].str_offs);
    }
    for (int64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    free(g->kv_hash);
    free(g->t_hash);
    free(g->path);
    mlxn_file_unmap(&g->file);
    free(g);
}

static mlxn_status open_common(mlxn_gguf_t *g, mlxn_gguf_t **out) {
    mlxn_status st = parse(g);
    if (st != MLXN_OK) {
        mlxn_gguf_free(g);
        return st;
    }
    *out = g;
    return MLXN_OK;
}

static mlxn_gguf_t *new_handle(const char *path) {
    mlxn_gguf_t *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->path = strdup(path);
    if (!g->path) { free(g); return NULL; }
    return g;
}

mlxn_status mlxn_gguf_open_memory(const void *data, size_t size, mlxn_gguf_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf_open_memory: out is NULL");
    *out = NULL;
    if (!data && size) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf_open_memory: data is NULL");
    mlxn_gguf_t *g = new_handle("<memory>");
    if (!g) return mlxn_fail(MLXN_ERR_NO_MEMORY, "gguf_open_memory: no memory for the handle");
    static const uint8_t empty[1];
    g->base = data ? data : empty;
    g->size = size;
    return open_common(g, out);
}

mlxn_status mlxn_gguf_open(const char *path, mlxn_gguf_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf_open: out is NULL");
    *out = NULL;
    if (!path) return mlxn_fail(MLXN_ERR_INVALID_ARG, "gguf_open: path is NULL");
    mlxn_mapped_file file;
    MLXN_TRY(mlxn_file_map(path, "gguf", &file));
    mlxn_gguf_t *g = new_handle(path);
    if (!g) {
        mlxn_file_unmap(&file);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "gguf '%s': no memory for the handle", path);
    }
    static const uint8_t empty[1];
    g->file = file;
    g->size = file.size;
    g->base = file.map ? file.map : empty;
    return open_common(g, out);
}

/* ---- accessors --------------------------------------------------------------------------- */

/* Getters take a const handle but record their failure in the handle's own message buffer;
 * handles are always allocated non-const by the open functions, so the cast is sound. */
static mlxn_status gfail(const mlxn_gguf_t *g, mlxn_status code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static mlxn_status gfail(const mlxn_gguf_t *g, mlxn_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mlxn_failv(code, fmt, ap);
    va_end(ap);
    if (g) mlxn_errbuf_save(&((mlxn_gguf_t *)g)->err, code);
    return code;
}

const char *mlxn_gguf_last_error(const mlxn_gguf_t *g) { return g ? g->err.msg : ""; }
uint32_t mlxn_gguf_version(const mlxn_gguf_t *g) { return g ? g->version : 0; }
uint32_t mlxn_gguf_alignment(const mlxn_gguf_t *g) { return g ? g->alignment : 0; }
uint64_t mlxn_gguf_data_offset(const mlxn_gguf_t *g) { return g ? g->data_offset : 0; }
int64_t mlxn_gguf_kv_count(const mlxn_gguf_t *g) { return g ? g->n_kv : 0; }

const char *mlxn_gguf_kv_key(const mlxn_gguf_t *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

mlxn_gguf_vtype mlxn_gguf_kv_type(const mlxn_gguf_t *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].type : (mlxn_gguf_vtype)-1;
}

int64_t mlxn_gguf_find_key(const mlxn_gguf_t *g, const char *key) {
    return g ? hash_find(g->kv_hash, g->kv_hash_mask, key, kv_name_of, g) : -1;
}

static mlxn_status lookup(const mlxn_gguf_t *g, const char *key, const gguf_kv **kv) {
    if (!g || !key) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: NULL handle or key");
    int64_t i = mlxn_gguf_find_key(g, key);
    if (i < 0) return gfail(g, MLXN_ERR_NOT_FOUND, "gguf '%s': key '%s' not found", g->path, key);
    *kv = &g->kv[i];
    return MLXN_OK;
}

/* Decodes one numeric value of type t at p. Integers go to *i (signed) / *u with *neg set
 * when negative; floats to *f. Returns 1 for an integer or bool, 2 for a float, 0 otherwise. */
static int decode_num(mlxn_gguf_vtype t, const uint8_t *p, int64_t *i, uint64_t *u, double *f) {
    switch (t) {
    case MLXN_GGUF_U8: case MLXN_GGUF_BOOL: *u = p[0]; *i = (int64_t)*u; return 1;
    case MLXN_GGUF_U16: *u = rd_le(p, 2); *i = (int64_t)*u; return 1;
    case MLXN_GGUF_U32: *u = rd_le(p, 4); *i = (int64_t)*u; return 1;
    case MLXN_GGUF_U64: *u = rd_le(p, 8); *i = *u > INT64_MAX ? -1 : (int64_t)*u; return 1;
    case MLXN_GGUF_I8: *i = (int8_t)p[0]; *u = (uint64_t)*i; return 1;
    case MLXN_GGUF_I16: *i = (int16_t)(uint16_t)rd_le(p, 2); *u = (uint64_t)*i; return 1;
    case MLXN_GGUF_I32: *i = (int32_t)(uint32_t)rd_le(p, 4); *u = (uint64_t)*i; return 1;
    case MLXN_GGUF_I64: *i = (int64_t)rd_le(p, 8); *u = (uint64_t)*i; return 1;
    case MLXN_GGUF_F32: { uint32_t b = (uint32_t)rd_le(p, 4); float x; memcpy(&x, &b, 4); *f = x; return 2; }
    case MLXN_GGUF_F64: { uint64_t b = rd_le(p, 8); memcpy(f, &b, 8); return 2; }
    default: return 0;
    }
}

static bool is_signed(mlxn_gguf_vtype t) {
    return t == MLXN_GGUF_I8 || t == MLXN_GGUF_I16 || t == MLXN_GGUF_I32 || t == MLXN_GGUF_I64;
}

static mlxn_status num_to_int(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype t, const uint8_t *p, int64_t *out) {
    int64_t i; uint64_t u; double f;
    if (decode_num(t, p, &i, &u, &f) != 1)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not an integer", g->path, key, vtype_name(t));
    if (t == MLXN_GGUF_U64 && u > INT64_MAX)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds u64 %llu, above INT64_MAX", g->path, key, (unsigned long long)u);
    *out = i;
    return MLXN_OK;
}

static mlxn_status num_to_uint(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype t, const uint8_t *p, uint64_t *out) {
    int64_t i; uint64_t u; double f;
    if (decode_num(t, p, &i, &u, &f) != 1)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not an integer", g->path, key, vtype_name(t));
    if (is_signed(t) && i < 0)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds negative %s %lld", g->path, key, vtype_name(t), (long long)i);
    *out = u;
    return MLXN_OK;
}

static mlxn_status num_to_float(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype t, const uint8_t *p, double *out) {
    int64_t i; uint64_t u; double f;
    int k = t == MLXN_GGUF_BOOL ? 0 : decode_num(t, p, &i, &u, &f);
    if (k == 0) return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not a number", g->path, key, vtype_name(t));
    *out = k == 2 ? f : is_signed(t) ? (double)i : (double)u;
    return MLXN_OK;
}

mlxn_status mlxn_gguf_get_int(const mlxn_gguf_t *g, const char *key, int64_t *out) {
    const gguf_kv *kv;
    MLXN_TRY(lookup(g, key, &kv));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_int(g, key, kv->type, kv->val, out);
}

mlxn_status mlxn_gguf_get_uint(const mlxn_gguf_t *g, const char *key, uint64_t *out) {
    const gguf_kv *kv;
    MLXN_TRY(lookup(g, key, &kv));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_uint(g, key, kv->type, kv->val, out);
}

mlxn_status mlxn_gguf_get_float(const mlxn_gguf_t *g, const char *key, double *out) {
    const gguf_kv *kv;
    MLXN_TRY(lookup(g, key, &kv));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_float(g, key, kv->type, kv->val, out);
}

mlxn_status mlxn_gguf_get_bool(const mlxn_gguf_t *g, const char *key, bool *out) {
    const gguf_kv *kv;
    MLXN_TRY(lookup(g, key, &kv));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    if (kv->type != MLXN_GGUF_BOOL)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not a bool", g->path, key, vtype_name(kv->type));
    *out = kv->val[0] != 0;
    return MLXN_OK;
}

static mlxn_str str_at(const uint8_t *p) {
    mlxn_str s = {(const char *)p + 8, rd_le(p, 8)};
    return s;
}

mlxn_status mlxn_gguf_get_str(const mlxn_gguf_t *g, const char *key, mlxn_str *out) {
    const gguf_kv *kv;
    MLXN_TRY(lookup(g, key, &kv));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    if (kv->type != MLXN_GGUF_STRING)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not a string", g->path, key, vtype_name(kv->type));
    *out = str_at(kv->val);
    return MLXN_OK;
}

static mlxn_status lookup_arr(const mlxn_gguf_t *g, const char *key, const gguf_kv **kv) {
    MLXN_TRY(lookup(g, key, kv));
    if ((*kv)->type != MLXN_GGUF_ARRAY)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' holds %s, not an array", g->path, key, vtype_name((*kv)->type));
    return MLXN_OK;
}

mlxn_status mlxn_gguf_get_arr(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype *elem_type, uint64_t *count) {
    const gguf_kv *kv;
    MLXN_TRY(lookup_arr(g, key, &kv));
    if (elem_type) *elem_type = kv->elem_type;
    if (count) *count = kv->count;
    return MLXN_OK;
}

/* Element i of a numeric array: pointer to its bytes, after the range check. */
static mlxn_status arr_elem(const mlxn_gguf_t *g, const char *key, uint64_t i, const gguf_kv **kv, const uint8_t **p) {
    MLXN_TRY(lookup_arr(g, key, kv));
    if (i >= (*kv)->count)
        return gfail(g, MLXN_ERR_INVALID_ARG, "gguf '%s': key '%s': index %llu out of range (count %llu)", g->path, key,
                     (unsigned long long)i, (unsigned long long)(*kv)->count);
    if ((*kv)->elem_type == MLXN_GGUF_STRING) *p = g->base + (*kv)->str_offs[i];
    else *p = (*kv)->val + i * vtype_size((*kv)->elem_type);
    return MLXN_OK;
}

mlxn_status mlxn_gguf_arr_int(const mlxn_gguf_t *g, const char *key, uint64_t i, int64_t *out) {
    const gguf_kv *kv = NULL; const uint8_t *p = NULL;
    MLXN_TRY(arr_elem(g, key, i, &kv, &p));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_int(g, key, kv->elem_type, p, out);
}

mlxn_status mlxn_gguf_arr_uint(const mlxn_gguf_t *g, const char *key, uint64_t i, uint64_t *out) {
    const gguf_kv *kv = NULL; const uint8_t *p = NULL;
    MLXN_TRY(arr_elem(g, key, i, &kv, &p));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_uint(g, key, kv->elem_type, p, out);
}

mlxn_status mlxn_gguf_arr_float(const mlxn_gguf_t *g, const char *key, uint64_t i, double *out) {
    const gguf_kv *kv = NULL; const uint8_t *p = NULL;
    MLXN_TRY(arr_elem(g, key, i, &kv, &p));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    return num_to_float(g, key, kv->elem_type, p, out);
}

mlxn_status mlxn_gguf_arr_str(const mlxn_gguf_t *g, const char *key, uint64_t i, mlxn_str *out) {
    const gguf_kv *kv = NULL; const uint8_t *p = NULL;
    MLXN_TRY(arr_elem(g, key, i, &kv, &p));
    if (!out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf: out is NULL");
    if (kv->elem_type != MLXN_GGUF_STRING)
        return gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' is an array of %s, not of strings", g->path, key,
                     vtype_name(kv->elem_type));
    *out = str_at(p);
    return MLXN_OK;
}

const void *mlxn_gguf_arr_data(const mlxn_gguf_t *g, const char *key) {
    const gguf_kv *kv;
    if (lookup_arr(g, key, &kv) != MLXN_OK) return NULL;
    if (kv->elem_type == MLXN_GGUF_STRING) {
        gfail(g, MLXN_ERR_TYPE, "gguf '%s': key '%s' is an array of strings: no raw data", g->path, key);
        return NULL;
    }
    return kv->val;
}

int64_t mlxn_gguf_tensor_count(const mlxn_gguf_t *g) { return g ? g->n_tensors : 0; }

int64_t mlxn_gguf_find_tensor(const mlxn_gguf_t *g, const char *name) {
    return g ? hash_find(g->t_hash, g->t_hash_mask, name, t_name_of, g) : -1;
}

mlxn_status mlxn_gguf_get_tensor(const mlxn_gguf_t *g, int64_t i, mlxn_gguf_tensor *out) {
    if (!g || !out) return gfail(g, MLXN_ERR_INVALID_ARG, "gguf_get_tensor: NULL argument");
    if (i < 0 || i >= g->n_tensors)
        return gfail(g, MLXN_ERR_INVALID_ARG, "gguf '%s': tensor index %lld out of range (count %lld)", g->path,
                     (long long)i, (long long)g->n_tensors);
    const gguf_tensor *t = &g->tensors[i];
    out->name = t->name;
    out->type = t->type;
    out->n_dims = t->n_dims;
    memcpy(out->ne, t->ne, sizeof out->ne);
    out->offset = t->offset;
    out->nbytes = t->nbytes;
    out->data = g->base + g->data_offset + t->offset;
    return MLXN_OK;
}
