/* safetensors reader: maps the file, parses the JSON header with cJSON and validates every
 * rule of the format before handing out zero-copy tensor views (see mlxn.h and
 * docs/formats.md). Every count, offset and shape entry is treated as hostile. */
#define _POSIX_C_SOURCE 200809L
#include "core/mapfile.h"
#include "core/status.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtype table --------------------------------------------------------- */

static const struct { const char *name; mlxn_type type; int bits; } dtypes[] = {
    {"BOOL", MLXN_TYPE_BOOL, 8},       {"U8", MLXN_TYPE_U8, 8},
    {"I8", MLXN_TYPE_I8, 8},           {"U16", MLXN_TYPE_U16, 16},
    {"I16", MLXN_TYPE_I16, 16},        {"F16", MLXN_TYPE_F16, 16},
    {"BF16", MLXN_TYPE_BF16, 16},      {"U32", MLXN_TYPE_U32, 32},
    {"I32", MLXN_TYPE_I32, 32},        {"F32", MLXN_TYPE_F32, 32},
    {"U64", MLXN_TYPE_U64, 64},        {"I64", MLXN_TYPE_I64, 64},
    {"F64", MLXN_TYPE_F64, 64},        {"F8_E4M3", MLXN_TYPE_F8_E4M3, 8},
    {"F8_E5M2", MLXN_TYPE_F8_E5M2, 8}, {"F8_E8M0", MLXN_TYPE_F8_E8M0, 8},
    /* no mlxn_type: accepted, validated, exposed as raw bytes */
    {"F4", MLXN_ST_TYPE_NONE, 4},      {"F6_E2M3", MLXN_ST_TYPE_NONE, 6},
    {"F6_E3M2", MLXN_ST_TYPE_NONE, 6}, {"C64", MLXN_ST_TYPE_NONE, 64},
    /* AMD-style FNUZ fp8 (bias one higher, no negative zero): not E4M3/E5M2 bit for bit */
    {"F8_E4M3FNUZ", MLXN_ST_TYPE_NONE, 8}, {"F8_E5M2FNUZ", MLXN_ST_TYPE_NONE, 8},
};

mlxn_status mlxn_st_dtype_parse(const char *dtype, mlxn_type *type, int *bits) {
    if (!dtype) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_dtype_parse: NULL dtype");
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (!strcmp(dtype, dtypes[i].name)) {
            if (type) *type = dtypes[i].type;
            if (bits) *bits = dtypes[i].bits;
            return MLXN_OK;
        }
    }
    return mlxn_fail(MLXN_ERR_NOT_FOUND, "unknown safetensors dtype '%.64s'", dtype);
}

/* ---- the handle ------------------------------------------------------------ */

typedef struct st_entry {
    char *name;
    const char *dtype;       /* static, from dtypes[] */
    mlxn_type type;
    int bits;
    int n_dims;
    int64_t shape[MLXN_ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;     /* relative to the data buffer */
} st_entry;

struct mlxn_st {
    char *path;
    const uint8_t *base;     /* whole file */
    uint64_t size;
    mlxn_mapped_file file;   /* our mmap of the file, base when opened by path (unmap on free) */
    uint64_t header_len;
    st_entry *t;             /* [n] in offset order */
    int64_t n;
    int64_t *by_name;        /* [n] indices into t, sorted by name */
    char **meta_k, **meta_v; /* [n_meta] */
    int64_t n_meta;
    mlxn_errbuf err;
};

void mlxn_st_free(mlxn_st_t *st) {
    if (!st) return;
    mlxn_file_unmap(&st->file);
    for (int64_t i = 0; i < st->n; i++) free(st->t[i].name);
    for (int64_t i = 0; i < st->n_meta; i++) { free(st->meta_k[i]); free(st->meta_v[i]); }
    free(st->t);
    free(st->by_name);
    free(st->meta_k);
    free(st->meta_v);
    free(st->path);
    free(st);
}

/* ---- header checks ----------------------------------------------------------- */

/* Strict UTF-8 (no overlongs, surrogates, > U+10FFFF) and no NUL bytes. Returns the
 * offset of the first bad byte, or len if all is well. */
static size_t utf8_check(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        if (c == 0) return i;
        if (c < 0x80) { i++; continue; }
        int n;
        uint32_t cp;
        if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
        else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
        else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
        else return i;
        if (len - i <= (size_t)n) return i;
        for (int k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += (size_t)n + 1;
    }
    return len;
}

/* Before cJSON builds a tree: a valid header nests at most 3 deep ({name: {shape: [..]}})
 * and its arrays are shapes (<= MLXN_ST_MAX_DIMS entries) and offset pairs. Refusing deeper
 * nesting or longer arrays up front keeps a hostile 100 MB header of "[0,0,0,..." from
 * becoming gigabytes of JSON nodes. Returns 0, or the offset in hdr of the problem with *why. */
#define ST_MAX_DEPTH 8
#define ST_MAX_ARRAY 64
/* Top-level members (tensors): the largest real checkpoints have ~10^5 per shard; a cap keeps
 * a header of many tiny members ({"a":1,"b":1,...) from costing gigabytes of nodes. */
#define ST_MAX_MEMBERS 1000000
static size_t json_prescan(const uint8_t *h, size_t n, const char **why) {
    int depth = 0;
    bool in_arr[ST_MAX_DEPTH + 1];
    int count[ST_MAX_DEPTH + 1];
    for (size_t i = 0; i < n; i++) {
        uint8_t c = h[i];
        if (c == '"') {  /* skip the string, honouring escapes */
            for (i++; i < n && h[i] != '"'; i++)
                if (h[i] == '\\') i++;
            continue;
        }
        if (c == '{' || c == '[') {
            if (depth == ST_MAX_DEPTH) { *why = "JSON nested too deeply"; return i; }
            depth++;
            in_arr[depth] = c == '[';
            count[depth] = 0;
        } else if (c == '}' || c == ']') {
            if (depth > 0) depth--;
        } else if (c == ',' && depth > 0 && in_arr[depth] && ++count[depth] >= ST_MAX_ARRAY) {
            *why = "JSON array too long (shapes have at most 8 entries)";
            return i;
        } else if (c == ',' && depth == 1 && ++count[1] >= ST_MAX_MEMBERS) {
            *why = "too many header entries (more than 1000000 tensors)";
            return i;
        }
    }
    return 0;
}

/* A JSON number that is a non-negative integer no larger than 2^53 (exact in a double;
 * far beyond any real file). */
static bool json_u53(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d > 9007199254740992.0 || floor(d) != d) return false;
    *out = (uint64_t)d;
    return true;
}

static int cmp_offset(const void *a, const void *b) {
    const st_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct { const char *name; int64_t idx; } name_ref;
static int cmp_name(const void *a, const void *b) {
    return strcmp(((const name_ref *)a)->name, ((const name_ref *)b)->name);
}

/* Rebuilds st->by_name (indices of st->t sorted by name); *dup gets a duplicated name. */
static mlxn_status index_names(mlxn_st_t *st, const char **dup) {
    name_ref *r = malloc(((size_t)st->n + 1) * sizeof *r);
    if (!r) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", st->path);
    for (int64_t i = 0; i < st->n; i++) r[i] = (name_ref){st->t[i].name, i};
    qsort(r, (size_t)st->n, sizeof *r, cmp_name);
    *dup = NULL;
    for (int64_t i = 0; i < st->n; i++) {
        st->by_name[i] = r[i].idx;
        if (i && !*dup && !strcmp(r[i].name, r[i - 1].name)) *dup = r[i].name;
    }
    free(r);
    return MLXN_OK;
}

#define FAIL(...) mlxn_fail(MLXN_ERR_FORMAT, __VA_ARGS__)

/* Parses one tensor entry of the header into e. */
static mlxn_status parse_entry(const char *path, const cJSON *item, st_entry *e) {
    const char *nm = item->string;
    if (!cJSON_IsObject(item)) return FAIL("%s: tensor '%.200s': entry is not a JSON object", path, nm);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!dt) return FAIL("%s: tensor '%.200s': missing \"dtype\"", path, nm);
    if (!sh) return FAIL("%s: tensor '%.200s': missing \"shape\"", path, nm);
    if (!off) return FAIL("%s: tensor '%.200s': missing \"data_offsets\"", path, nm);
    if (!cJSON_IsString(dt)) return FAIL("%s: tensor '%.200s': \"dtype\" is not a string", path, nm);
    bool found = false;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++) {
        if (!strcmp(dt->valuestring, dtypes[i].name)) {
            e->dtype = dtypes[i].name;
            e->type = dtypes[i].type;
            e->bits = dtypes[i].bits;
            found = true;
            break;
        }
    }
    if (!found) return FAIL("%s: tensor '%.200s': unknown dtype '%.64s'", path, nm, dt->valuestring);

    if (!cJSON_IsArray(sh)) return FAIL("%s: tensor '%.200s': \"shape\" is not an array", path, nm);
    int nd = cJSON_GetArraySize(sh);
    if (nd > MLXN_ST_MAX_DIMS)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tensor '%.200s': %d dimensions (mlxn handles at most %d)",
                         path, nm, nd, MLXN_ST_MAX_DIMS);
    e->n_dims = nd;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *x = sh->child; x; x = x->next, d++) {
        uint64_t v;
        if (!json_u53(x, &v))
            return FAIL("%s: tensor '%.200s': shape[%d] is not a non-negative integer", path, nm, d);
        e->shape[d] = (int64_t)v;
        if (v && numel > UINT64_MAX / v)
            return FAIL("%s: tensor '%.200s': element count (product of the shape) overflows", path, nm);
        numel *= v;
    }
    if (numel > (uint64_t)INT64_MAX / 64)
        return FAIL("%s: tensor '%.200s': element count %llu is too large", path, nm, (unsigned long long)numel);
    e->numel = (int64_t)numel;

    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return FAIL("%s: tensor '%.200s': \"data_offsets\" is not an array of two integers", path, nm);
    if (!json_u53(off->child, &e->begin) || !json_u53(off->child->next, &e->end))
        return FAIL("%s: tensor '%.200s': data_offsets are not non-negative integers", path, nm);
    if (e->end < e->begin)
        return FAIL("%s: tensor '%.200s': data_offsets [%llu, %llu) end before they begin", path, nm,
                    (unsigned long long)e->begin, (unsigned long long)e->end);
    uint64_t nbits = numel * (uint64_t)e->bits;
    if (nbits % 8)
        return FAIL("%s: tensor '%.200s': %llu elements of %s (%d bits) are not a whole number of bytes", path, nm,
                    (unsigned long long)numel, e->dtype, e->bits);
    if (e->end - e->begin != nbits / 8)
        return FAIL("%s: tensor '%.200s': data_offsets [%llu, %llu) hold %llu bytes but %llu elements of %s need %llu",
                    path, nm, (unsigned long long)e->begin, (unsigned long long)e->end,
                    (unsigned long long)(e->end - e->begin), (unsigned long long)numel, e->dtype,
                    (unsigned long long)(nbits / 8));
    e->name = strdup(nm);
    if (!e->name) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", path);
    return MLXN_OK;
}

static mlxn_status parse_metadata(mlxn_st_t *st, const cJSON *m) {
    if (cJSON_IsNull(m)) return MLXN_OK;
    if (!cJSON_IsObject(m)) return FAIL("%s: \"__metadata__\" is not a JSON object", st->path);
    int n = cJSON_GetArraySize(m);
    st->meta_k = calloc((size_t)n + 1, sizeof(char *));
    st->meta_v = calloc((size_t)n + 1, sizeof(char *));
    if (!st->meta_k || !st->meta_v) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", st->path);
    for (const cJSON *x = m->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return FAIL("%s: __metadata__ value of '%.200s' is not a string", st->path, x->string);
        st->meta_k[st->n_meta] = strdup(x->string);
        st->meta_v[st->n_meta] = strdup(x->valuestring);
        st->n_meta++;
        if (!st->meta_k[st->n_meta - 1] || !st->meta_v[st->n_meta - 1])
            return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", st->path);
    }
    /* duplicate keys: sort a copy of the key pointers (linear scans would be quadratic) */
    char **keys = malloc(((size_t)st->n_meta + 1) * sizeof *keys);
    if (!keys) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", st->path);
    memcpy(keys, st->meta_k, (size_t)st->n_meta * sizeof *keys);
    qsort(keys, (size_t)st->n_meta, sizeof *keys, cmp_cstr);
    for (int64_t i = 1; i < st->n_meta; i++) {
        if (!strcmp(keys[i], keys[i - 1])) {
            mlxn_status rc = FAIL("%s: __metadata__ key '%.200s' appears twice", st->path, keys[i]);
            free(keys);
            return rc;
        }
    }
    free(keys);
    return MLXN_OK;
}

static mlxn_status parse_and_validate(mlxn_st_t *st) {
    const char *path = st->path;
    if (st->size < 8)
        return FAIL("%s: file is %llu bytes, too short for the 8-byte header length", path,
                    (unsigned long long)st->size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | st->base[i];
    if (n > MLXN_ST_MAX_HEADER)
        return FAIL("%s: header length %llu exceeds the 100 MB limit", path, (unsigned long long)n);
    if (n > st->size - 8)
        return FAIL("%s: header length %llu runs past the end of the file (%llu bytes)", path,
                    (unsigned long long)n, (unsigned long long)st->size);
    if (n < 2) return FAIL("%s: header length %llu is too short for a JSON object", path, (unsigned long long)n);
    st->header_len = n;
    const uint8_t *hdr = st->base + 8;
    if (hdr[0] != '{') return FAIL("%s: header does not start with '{' (offset 8)", path);
    size_t bad = utf8_check(hdr, (size_t)n);
    if (bad != (size_t)n)
        return FAIL("%s: header is not valid UTF-8 (or has a NUL byte) at file offset %llu", path,
                    (unsigned long long)(8 + bad));

    const char *why = NULL;
    size_t at_bad = json_prescan(hdr, (size_t)n, &why);
    if (why) return FAIL("%s: header %s at file offset %llu", path, why, (unsigned long long)(8 + at_bad));

    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)hdr, (size_t)n, &end, 0);
    if (!root) {
        size_t at = end && end >= (const char *)hdr ? (size_t)(end - (const char *)hdr) : 0;
        return FAIL("%s: header JSON does not parse (near file offset %llu)", path, (unsigned long long)(8 + at));
    }
    mlxn_status rc = MLXN_OK;
    for (const char *p = end; p < (const char *)hdr + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = FAIL("%s: trailing bytes after the header JSON at file offset %llu", path,
                      (unsigned long long)(8 + (p - (const char *)hdr)));
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) { rc = FAIL("%s: header is not a JSON object", path); goto done; }

    int count = cJSON_GetArraySize(root);
    st->t = calloc((size_t)count + 1, sizeof *st->t);
    st->by_name = calloc((size_t)count + 1, sizeof *st->by_name);
    if (!st->t || !st->by_name) { rc = mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", path); goto done; }
    bool seen_meta = false;
    for (const cJSON *item = root->child; item; item = item->next) {
        if (!strcmp(item->string, "__metadata__")) {
            if (seen_meta) { rc = FAIL("%s: \"__metadata__\" appears twice", path); goto done; }
            seen_meta = true;
            if ((rc = parse_metadata(st, item)) != MLXN_OK) goto done;
            continue;
        }
        if (!item->string[0]) { rc = FAIL("%s: a tensor has an empty name", path); goto done; }
        if ((rc = parse_entry(path, item, &st->t[st->n])) != MLXN_OK) goto done;
        st->n++;
    }

    /* Names: unique. */
    const char *dup = NULL;
    if ((rc = index_names(st, &dup)) != MLXN_OK) goto done;
    if (dup) { rc = FAIL("%s: tensor '%.200s' appears twice in the header", path, dup); goto done; }

    /* Ranges: inside the buffer, sorted, contiguous from 0, ending at EOF. */
    uint64_t buf = st->size - 8 - n;
    for (int64_t i = 0; i < st->n; i++) {
        if (st->t[i].end > buf) {
            rc = FAIL("%s: tensor '%.200s': data_offsets [%llu, %llu) run past the end of the %llu-byte data buffer "
                      "(file truncated?)", path, st->t[i].name, (unsigned long long)st->t[i].begin,
                      (unsigned long long)st->t[i].end, (unsigned long long)buf);
            goto done;
        }
    }
    qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_offset);
    uint64_t pos = 0;
    for (int64_t i = 0; i < st->n; i++) {
        const st_entry *e = &st->t[i];
        if (e->begin > pos) {
            rc = FAIL("%s: tensor '%.200s': gap of %llu unused bytes before it (begins at %llu, previous data ends at %llu)",
                      path, e->name, (unsigned long long)(e->begin - pos), (unsigned long long)e->begin,
                      (unsigned long long)pos);
            goto done;
        }
        if (e->begin < pos) {
            rc = FAIL("%s: tensor '%.200s': data_offsets [%llu, %llu) overlap tensor '%.200s' which ends at %llu", path,
                      e->name, (unsigned long long)e->begin, (unsigned long long)e->end, st->t[i - 1].name,
                      (unsigned long long)pos);
            goto done;
        }
        pos = e->end;
    }
    if (pos != buf) {
        rc = FAIL("%s: tensors end at buffer offset %llu but the data buffer has %llu bytes (%llu trailing bytes)", path,
                  (unsigned long long)pos, (unsigned long long)buf, (unsigned long long)(buf - pos));
        goto done;
    }
    /* by_name was built before the offset sort; rebuild it. */
    rc = index_names(st, &dup);
done:
    cJSON_Delete(root);
    return rc;
}

static mlxn_status st_finish_open(mlxn_st_t *st, mlxn_st_t **out) {
    mlxn_status rc = parse_and_validate(st);
    if (rc != MLXN_OK) { mlxn_st_free(st); return rc; }
    *out = st;
    return MLXN_OK;
}

mlxn_status mlxn_st_open_memory(const void *data, size_t size, const char *name, mlxn_st_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_open_memory: NULL out");
    *out = NULL;
    if (!data && size) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_open_memory: NULL data");
    mlxn_st_t *st = calloc(1, sizeof *st);
    if (!st) return mlxn_fail(MLXN_ERR_NO_MEMORY, "st_open_memory: out of memory");
    st->path = strdup(name ? name : "<memory>");
    if (!st->path) { free(st); return mlxn_fail(MLXN_ERR_NO_MEMORY, "st_open_memory: out of memory"); }
    st->base = data;
    st->size = size;
    return st_finish_open(st, out);
}

mlxn_status mlxn_st_open(const char *path, mlxn_st_t **out) {
    if (!out || !path) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_open: NULL argument");
    *out = NULL;
    mlxn_mapped_file file;
    MLXN_TRY(mlxn_file_map(path, NULL, &file));
    mlxn_st_t *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        mlxn_file_unmap(&file);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    st->file = file;
    st->base = file.map;   /* NULL for an empty file */
    st->size = file.size;
    return st_finish_open(st, out);
}

/* ---- accessors ----------------------------------------------------------------- */

const char *mlxn_st_last_error(const mlxn_st_t *st) { return st ? st->err.msg : ""; }
const char *mlxn_st_path(const mlxn_st_t *st) { return st ? st->path : NULL; }
uint64_t mlxn_st_header_size(const mlxn_st_t *st) { return st ? st->header_len : 0; }
uint64_t mlxn_st_data_offset(const mlxn_st_t *st) { return st ? 8 + st->header_len : 0; }
uint64_t mlxn_st_file_size(const mlxn_st_t *st) { return st ? st->size : 0; }
int64_t mlxn_st_tensor_count(const mlxn_st_t *st) { return st ? st->n : 0; }

int64_t mlxn_st_find_tensor(const mlxn_st_t *st, const char *name) {
    if (!st || !name) return -1;
    int64_t lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->t[st->by_name[mid]].name);
        if (!c) return st->by_name[mid];
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    return -1;
}

mlxn_status mlxn_st_get_tensor(const mlxn_st_t *st, int64_t i, mlxn_st_tensor *out) {
    if (!st || !out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_get_tensor: NULL argument");
    if (i < 0 || i >= st->n)
        return mlxn_errbuf_save((mlxn_errbuf *)&st->err,
                                mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: tensor index %lld outside 0..%lld", st->path,
                                          (long long)i, (long long)st->n - 1));
    const st_entry *e = &st->t[i];
    memset(out, 0, sizeof *out);
    out->name = e->name;
    out->dtype = e->dtype;
    out->type = e->type;
    out->bits = e->bits;
    out->n_dims = e->n_dims;
    memcpy(out->shape, e->shape, sizeof e->shape);
    out->numel = e->numel;
    out->offset = e->begin;
    out->nbytes = e->end - e->begin;
    out->data = out->nbytes ? st->base + 8 + st->header_len + e->begin : NULL;
    return MLXN_OK;
}

int64_t mlxn_st_meta_count(const mlxn_st_t *st) { return st ? st->n_meta : 0; }
const char *mlxn_st_meta_key(const mlxn_st_t *st, int64_t i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_k[i] : NULL;
}
const char *mlxn_st_meta_value(const mlxn_st_t *st, int64_t i) {
    return st && i >= 0 && i < st->n_meta ? st->meta_v[i] : NULL;
}
const char *mlxn_st_meta_get(const mlxn_st_t *st, const char *key) {
    if (!st || !key) return NULL;
    for (int64_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta_k[i], key)) return st->meta_v[i];
    return NULL;
}

mlxn_status mlxn_st_tensor_desc(const mlxn_st_tensor *t, mlxn_tensor_desc *out) {
    if (!t || !out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "st_tensor_desc: NULL argument");
    if (t->type == MLXN_ST_TYPE_NONE)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tensor '%.200s': dtype %s has no mlxn type", t->name, t->dtype);
    if (t->n_dims > MLXN_MAX_DIMS)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tensor '%.200s': %d dimensions (descriptors hold at most %d)", t->name,
                         t->n_dims, MLXN_MAX_DIMS);
    int64_t ne[MLXN_MAX_DIMS] = {1, 1, 1, 1};
    int nd = t->n_dims ? t->n_dims : 1;
    for (int i = 0; i < t->n_dims; i++) ne[i] = t->shape[t->n_dims - 1 - i];
    mlxn_status rc = mlxn_tensor_desc_init(out, t->type, nd, ne);
    if (rc != MLXN_OK) {
        char why[MLXN_ERRMSG_MAX];
        snprintf(why, sizeof why, "%s", mlxn_last_error());
        return mlxn_fail(rc, "tensor '%.200s': %s", t->name, why);
    }
    return MLXN_OK;
}
