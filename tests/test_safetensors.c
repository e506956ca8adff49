/* safetensors reader, config.json parser and model-folder loader: valid files of every
 * dtype, one malformed file per validation rule, truncation at every byte, byte mutations,
 * a sharded quantized folder with overrides, and config.json fields of several families. */
#define _POSIX_C_SOURCE 200809L
#include "mlxn.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- building files ------------------------------------------------------------- */

/* 8-byte LE length + header + data, in one malloc'd buffer. */
static uint8_t *raw_file(const char *hdr, size_t hlen, const void *data, size_t dlen, uint64_t claimed_n, size_t *len) {
    *len = 8 + hlen + dlen;
    uint8_t *b = malloc(*len ? *len : 1);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(claimed_n >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    if (dlen) memcpy(b + 8 + hlen, data, dlen);
    return b;
}

typedef struct tspec {
    const char *name, *dtype;
    int nd;
    int64_t shape[MLXN_ST_MAX_DIMS];
} tspec;

/* A valid file holding ts (random bytes, in the given order) and optional metadata JSON;
 * the data of tensor i starts at data_off[i] in the buffer. */
static uint8_t *st_build(const tspec *ts, int n, const char *meta, tu_rng *rng, size_t *len, uint64_t *data_off) {
    char *hdr = malloc(1 << 16);
    int h = snprintf(hdr, 1 << 16, "{");
    if (meta) h += snprintf(hdr + h, (size_t)(1 << 16) - (size_t)h, "\"__metadata__\":%s%s", meta, n ? "," : "");
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        int bits = 0;
        mlxn_st_dtype_parse(ts[i].dtype, NULL, &bits);
        uint64_t numel = 1;
        h += snprintf(hdr + h, (size_t)(1 << 16) - (size_t)h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
                      ts[i].name, ts[i].dtype);
        for (int d = 0; d < ts[i].nd; d++) {
            h += snprintf(hdr + h, (size_t)(1 << 16) - (size_t)h, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
            numel *= (uint64_t)ts[i].shape[d];
        }
        uint64_t nb = numel * (uint64_t)bits / 8;
        data_off[i] = off;
        h += snprintf(hdr + h, (size_t)(1 << 16) - (size_t)h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                      (unsigned long long)(off + nb));
        off += nb;
    }
    h += snprintf(hdr + h, (size_t)(1 << 16) - (size_t)h, "}");
    while (h % 8) hdr[h++] = ' ';  /* writers pad the header to 8 bytes */
    uint8_t *data = malloc(off + 1);
    for (uint64_t i = 0; i < off; i++) data[i] = (uint8_t)tu_rng_u64(rng);
    uint8_t *f = raw_file(hdr, (size_t)h, data, off, (uint64_t)h, len);
    free(hdr);
    free(data);
    return f;
}

static char tmpdir[1024];

static const char *write_file(const char *name, const void *data, size_t len) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp) return NULL;
    fwrite(data, 1, len, fp);
    fclose(fp);
    return path;
}

/* ---- valid files ------------------------------------------------------------------ */

static const struct { const char *dtype; mlxn_type type; int bits; } all_dtypes[] = {
    {"BOOL", MLXN_TYPE_BOOL, 8},         {"U8", MLXN_TYPE_U8, 8},         {"I8", MLXN_TYPE_I8, 8},
    {"U16", MLXN_TYPE_U16, 16},          {"I16", MLXN_TYPE_I16, 16},      {"F16", MLXN_TYPE_F16, 16},
    {"BF16", MLXN_TYPE_BF16, 16},        {"U32", MLXN_TYPE_U32, 32},      {"I32", MLXN_TYPE_I32, 32},
    {"F32", MLXN_TYPE_F32, 32},          {"U64", MLXN_TYPE_U64, 64},      {"I64", MLXN_TYPE_I64, 64},
    {"F64", MLXN_TYPE_F64, 64},          {"F8_E4M3", MLXN_TYPE_F8_E4M3, 8}, {"F8_E5M2", MLXN_TYPE_F8_E5M2, 8},
    {"F8_E8M0", MLXN_TYPE_F8_E8M0, 8},   {"F4", MLXN_ST_TYPE_NONE, 4},    {"F6_E2M3", MLXN_ST_TYPE_NONE, 6},
    {"F6_E3M2", MLXN_ST_TYPE_NONE, 6},   {"C64", MLXN_ST_TYPE_NONE, 64},  {"F8_E4M3FNUZ", MLXN_ST_TYPE_NONE, 8},
    {"F8_E5M2FNUZ", MLXN_ST_TYPE_NONE, 8},
};
#define N_DTYPES (int)(sizeof all_dtypes / sizeof all_dtypes[0])

static void test_valid_all_dtypes(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 11);
    tspec ts[N_DTYPES + 2];
    char names[N_DTYPES][32];
    for (int i = 0; i < N_DTYPES; i++) {
        snprintf(names[i], sizeof names[i], "layer.%d.%s", i, all_dtypes[i].dtype);
        /* shapes of 1..3 dims; 4 elements in the last dim keeps sub-byte types whole */
        ts[i] = (tspec){names[i], all_dtypes[i].dtype, 1 + i % 3, {3, 4, 4}};
        if (ts[i].nd == 1) ts[i].shape[0] = 8;
    }
    ts[N_DTYPES] = (tspec){"scalar", "F32", 0, {0}};
    ts[N_DTYPES + 1] = (tspec){"empty", "F16", 2, {0, 5}};
    int n = N_DTYPES + 2;
    uint64_t off[N_DTYPES + 2];
    size_t len;
    uint8_t *file = st_build(ts, n, "{\"format\":\"mlx\",\"note\":\"caf\\u00e9\"}", &rng, &len, off);
    const char *path = write_file("all.safetensors", file, len);

    for (int pass = 0; pass < 2; pass++) {
        mlxn_st_t *st = NULL;
        mlxn_status rc = pass ? mlxn_st_open(path, &st) : mlxn_st_open_memory(file, len, "all", &st);
        if (!CHECKF(rc == MLXN_OK, "pass %d: %s", pass, mlxn_last_error())) continue;
        CHECK(mlxn_st_tensor_count(st) == n);
        CHECK(mlxn_st_file_size(st) == len);
        CHECK(mlxn_st_data_offset(st) == 8 + mlxn_st_header_size(st));
        CHECK(mlxn_st_meta_count(st) == 2);
        CHECK(mlxn_st_meta_get(st, "format") && !strcmp(mlxn_st_meta_get(st, "format"), "mlx"));
        CHECK(mlxn_st_meta_get(st, "note") && !strcmp(mlxn_st_meta_get(st, "note"), "caf\xc3\xa9"));
        CHECK(mlxn_st_meta_get(st, "absent") == NULL);
        const uint8_t *buf = file + mlxn_st_data_offset(st);
        for (int i = 0; i < n; i++) {
            int64_t k = mlxn_st_find_tensor(st, ts[i].name);
            mlxn_st_tensor t;
            if (!CHECKF(k >= 0, "%s", ts[i].name)) continue;
            CHECK(mlxn_st_get_tensor(st, k, &t) == MLXN_OK);
            CHECK(!strcmp(t.name, ts[i].name));
            CHECK(!strcmp(t.dtype, ts[i].dtype));
            CHECK(t.n_dims == ts[i].nd);
            int64_t numel = 1;
            for (int d = 0; d < t.n_dims; d++) { CHECK(t.shape[d] == ts[i].shape[d]); numel *= ts[i].shape[d]; }
            CHECK(t.numel == numel);
            CHECK(t.offset == off[i]);
            if (i < N_DTYPES) {
                CHECKF(t.type == all_dtypes[i].type, "%s", t.dtype);
                CHECK(t.bits == all_dtypes[i].bits);
                CHECK(t.nbytes == (uint64_t)numel * (uint64_t)all_dtypes[i].bits / 8);
            }
            if (t.nbytes) {
                CHECKF(!memcmp(t.data, buf + off[i], t.nbytes), "bytes of %s", t.name);
                if (!pass) CHECKF(t.data == buf + off[i], "zero copy: %s", t.name);
            } else {
                CHECK(t.data == NULL);
            }
            mlxn_tensor_desc desc;
            rc = mlxn_st_tensor_desc(&t, &desc);
            if (t.type == MLXN_ST_TYPE_NONE) CHECKF(rc == MLXN_ERR_UNSUPPORTED && strstr(mlxn_last_error(), t.dtype), "%s", t.dtype);
            else if (numel == 0) CHECK(rc == MLXN_ERR_SHAPE);
            else if (CHECKF(rc == MLXN_OK, "%s: %s", t.name, mlxn_last_error())) {
                CHECK(desc.ne[0] == (t.n_dims ? t.shape[t.n_dims - 1] : 1));
                CHECK(mlxn_tensor_desc_nbytes(&desc) == t.nbytes);
            }
        }
        /* tensors come in offset order */
        for (int64_t i = 1; i < mlxn_st_tensor_count(st); i++) {
            mlxn_st_tensor a, b;
            mlxn_st_get_tensor(st, i - 1, &a);
            mlxn_st_get_tensor(st, i, &b);
            CHECK(a.offset + a.nbytes == b.offset);
        }
        CHECK(mlxn_st_find_tensor(st, "nope") == -1);
        mlxn_st_tensor t;
        CHECK(mlxn_st_get_tensor(st, n, &t) == MLXN_ERR_INVALID_ARG);
        CHECK(strstr(mlxn_st_last_error(st), "outside") != NULL);
        mlxn_st_free(st);
    }
    /* dtype names */
    mlxn_type ty;
    int bits;
    CHECK(mlxn_st_dtype_parse("BF16", &ty, &bits) == MLXN_OK && ty == MLXN_TYPE_BF16 && bits == 16);
    CHECK(mlxn_st_dtype_parse("F8_E8M0", &ty, &bits) == MLXN_OK && ty == MLXN_TYPE_F8_E8M0 && bits == 8);
    CHECK(mlxn_st_dtype_parse("F4", &ty, &bits) == MLXN_OK && ty == MLXN_ST_TYPE_NONE && bits == 4);
    CHECK(mlxn_st_dtype_parse("bf16", &ty, &bits) == MLXN_ERR_NOT_FOUND);
    free(file);
    mlxn_st_free(NULL);
}

static void test_empty_and_unpadded(void) {
    size_t len;
    uint8_t *f = raw_file("{}", 2, NULL, 0, 2, &len);
    mlxn_st_t *st = NULL;
    CHECK(mlxn_st_open_memory(f, len, "empty", &st) == MLXN_OK);
    CHECK(mlxn_st_tensor_count(st) == 0 && mlxn_st_meta_count(st) == 0);
    mlxn_st_free(st);
    free(f);
    /* unpadded header: data at an odd offset is still served (unaligned pointer) */
    const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    float v[2] = {1.5f, -2.25f};
    f = raw_file(h, strlen(h), v, 8, strlen(h), &len);
    CHECK(mlxn_st_open_memory(f, len, "unpadded", &st) == MLXN_OK);
    mlxn_st_tensor t;
    if (CHECK(st && mlxn_st_get_tensor(st, 0, &t) == MLXN_OK)) {
        float w[2];
        memcpy(w, t.data, 8);
        CHECK(w[0] == 1.5f && w[1] == -2.25f);
    }
    mlxn_st_free(st);
    free(f);
}

/* ---- malformed files: one case per rule -------------------------------------------------- */

typedef struct bad_case {
    const char *what;
    const char *hdr;       /* header JSON (NULL: use raw bytes below) */
    size_t data_len;       /* bytes of data after the header */
    int64_t claim;         /* header length written in the first 8 bytes; -1 = the real one */
    mlxn_status want;
    const char *msg;       /* substring of the error message */
} bad_case;

#define T1 "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"

static const bad_case bad_cases[] = {
    {"header length past EOF", "{}", 0, 3, MLXN_ERR_FORMAT, "runs past the end of the file"},
    {"header length > 100 MB", "{}", 0, 100000001, MLXN_ERR_FORMAT, "100 MB"},
    {"header length < 2", "{}", 0, 1, MLXN_ERR_FORMAT, "too short for a JSON object"},
    {"header not an object", "[1]", 0, -1, MLXN_ERR_FORMAT, "does not start with '{'"},
    {"invalid UTF-8", "{\"a\xff\":1}", 0, -1, MLXN_ERR_FORMAT, "not valid UTF-8"},
    {"overlong UTF-8", "{\"a\xc0\xaf\":1}", 0, -1, MLXN_ERR_FORMAT, "not valid UTF-8"},
    {"bad JSON", "{\"a\":", 0, -1, MLXN_ERR_FORMAT, "does not parse"},
    {"trailing bytes after JSON", "{}x", 0, -1, MLXN_ERR_FORMAT, "trailing bytes after the header JSON"},
    {"entry not an object", "{\"w\":5}", 0, -1, MLXN_ERR_FORMAT, "tensor 'w': entry is not a JSON object"},
    {"missing dtype", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': missing \"dtype\""},
    {"missing shape", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': missing \"shape\""},
    {"missing data_offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': missing \"data_offsets\""},
    {"dtype not a string", "{\"w\":{\"dtype\":7,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "\"dtype\" is not a string"},
    {"unknown dtype", "{\"w\":{\"dtype\":\"F128\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': unknown dtype 'F128'"},
    {"shape not an array", "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "\"shape\" is not an array"},
    {"negative shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': shape[0] is not a non-negative integer"},
    {"fractional shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "shape[1] is not a non-negative integer"},
    {"string shape", "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "shape[0] is not"},
    {"shape product overflows", "{\"w\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': element count (product of the shape) overflows"},
    {"element count too large", "{\"w\":{\"dtype\":\"U8\",\"shape\":[9007199254740992,1024],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "is too large"},
    {"too many dims", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,8],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_UNSUPPORTED, "9 dimensions"},
    {"offsets not a pair", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, -1, MLXN_ERR_FORMAT, "not an array of two integers"},
    {"negative offset", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-8,-8]}}", 0, -1, MLXN_ERR_FORMAT, "data_offsets are not non-negative integers"},
    {"offset beyond 2^53", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[18446744073709551608,18446744073709551616]}}", 8, -1, MLXN_ERR_FORMAT, "data_offsets are not non-negative integers"},
    {"end before begin", "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, -1, MLXN_ERR_FORMAT, "end before they begin"},
    {"size != numel*bits/8", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w': data_offsets [0, 8) hold 8 bytes but 3 elements of F32 need 12"},
    {"sub-byte not whole bytes", "{\"w\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, -1, MLXN_ERR_FORMAT, "not a whole number of bytes"},
    {"range past buffer end", "{\"w\":" T1 "}", 4, -1, MLXN_ERR_FORMAT, "tensor 'w': data_offsets [0, 8) run past the end of the 4-byte data buffer"},
    {"gap between tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, -1, MLXN_ERR_FORMAT, "tensor 'b': gap of 4 unused bytes"},
    {"first tensor not at 0", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'a': gap of 4 unused bytes"},
    {"overlapping tensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1, MLXN_ERR_FORMAT, "tensor 'b': data_offsets [4, 12) overlap tensor 'a'"},
    {"same range twice", "{\"a\":" T1 ",\"b\":" T1 "}", 8, -1, MLXN_ERR_FORMAT, "overlap tensor 'a'"},
    {"buffer longer than tensors", "{\"w\":" T1 "}", 12, -1, MLXN_ERR_FORMAT, "tensors end at buffer offset 8 but the data buffer has 12 bytes"},
    {"duplicate tensor name", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, -1, MLXN_ERR_FORMAT, "tensor 'w' appears twice"},
    {"empty tensor name", "{\"\":" T1 "}", 8, -1, MLXN_ERR_FORMAT, "empty name"},
    {"metadata not an object", "{\"__metadata__\":[1]}", 0, -1, MLXN_ERR_FORMAT, "\"__metadata__\" is not a JSON object"},
    {"metadata value not a string", "{\"__metadata__\":{\"k\":1}}", 0, -1, MLXN_ERR_FORMAT, "__metadata__ value of 'k' is not a string"},
    {"JSON nested too deeply", "{\"w\":{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":1}}}}}}}}}", 0, -1, MLXN_ERR_FORMAT, "nested too deeply"},
    {"array too long", "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, -1, MLXN_ERR_FORMAT, "array too long"},
    {"metadata twice", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, -1, MLXN_ERR_FORMAT, "\"__metadata__\" appears twice"},
    {"metadata key twice", "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0, -1, MLXN_ERR_FORMAT, "__metadata__ key 'k' appears twice"},
};

static void test_malformed(void) {
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const bad_case *c = &bad_cases[i];
        uint8_t data[64];
        for (size_t k = 0; k < sizeof data; k++) data[k] = (uint8_t)(k * 37 + 1);
        size_t hl = strlen(c->hdr), len;
        uint8_t *f = raw_file(c->hdr, hl, data, c->data_len, c->claim < 0 ? hl : (uint64_t)c->claim, &len);
        mlxn_st_t *st = (mlxn_st_t *)1;
        mlxn_status rc = mlxn_st_open_memory(f, len, "bad.safetensors", &st);
        CHECKF(rc == c->want, "%s: got %s (%s)", c->what, mlxn_status_str(rc), mlxn_last_error());
        CHECKF(strstr(mlxn_last_error(), c->msg) != NULL, "%s: message '%s' lacks '%s'", c->what, mlxn_last_error(), c->msg);
        CHECKF(strstr(mlxn_last_error(), "bad.safetensors") != NULL, "%s: message names the file", c->what);
        CHECK(st == NULL);
        free(f);
    }
    /* too short for the length prefix; a NUL byte in the header */
    uint8_t tiny[5] = {1, 0, 0, 0, 0};
    mlxn_st_t *st = NULL;
    CHECK(mlxn_st_open_memory(tiny, sizeof tiny, "tiny", &st) == MLXN_ERR_FORMAT && strstr(mlxn_last_error(), "too short"));
    size_t len;
    uint8_t *f = raw_file("{\"a\0\":1}", 8, NULL, 0, 8, &len);
    CHECK(mlxn_st_open_memory(f, len, "nul", &st) == MLXN_ERR_FORMAT && strstr(mlxn_last_error(), "NUL"));
    free(f);
    /* files on disk: missing, a folder, empty */
    CHECK(mlxn_st_open(tu_path(tmpdir, "missing.safetensors"), &st) == MLXN_ERR_NOT_FOUND);
    CHECK(mlxn_st_open(tmpdir, &st) == MLXN_ERR_IO && strstr(mlxn_last_error(), "not a regular file"));
    const char *p = write_file("empty.safetensors", "", 0);
    CHECK(mlxn_st_open(p, &st) == MLXN_ERR_FORMAT && strstr(mlxn_last_error(), "too short"));
}

/* Every prefix of a valid file fails cleanly; single-byte mutations never crash and
 * whatever opens still satisfies the contiguity invariant. */
static void test_truncation_and_mutation(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    tspec ts[] = {{"a", "F16", 2, {2, 3}}, {"b.weight", "U32", 1, {3}}, {"c", "BF16", 0, {0}}};
    uint64_t off[3];
    size_t len;
    uint8_t *file = st_build(ts, 3, "{\"k\":\"v\"}", &rng, &len, off);
    int prefix_fail = 0, prefix_format = 0;
    for (size_t n = 0; n < len; n++) {
        uint8_t *cut = malloc(n ? n : 1);  /* exact size: ASan catches any read past it */
        memcpy(cut, file, n);
        mlxn_st_t *st = NULL;
        mlxn_status rc = mlxn_st_open_memory(cut, n, "cut", &st);
        prefix_fail += rc != MLXN_OK && st == NULL;
        prefix_format += rc == MLXN_ERR_FORMAT && mlxn_last_error()[0];
        mlxn_st_free(st);
        free(cut);
    }
    CHECKF(prefix_fail == (int)len, "%d of %zu prefixes refused", prefix_fail, len);
    CHECKF(prefix_format == (int)len, "%d of %zu prefixes gave a FORMAT message", prefix_format, len);
    /* one extra byte is refused too */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, file, len);
    longer[len] = 0;
    mlxn_st_t *st = NULL;
    CHECK(mlxn_st_open_memory(longer, len + 1, "long", &st) == MLXN_ERR_FORMAT);
    free(longer);

    static const uint8_t vals[] = {0x00, 0xff, '"', '}', '9', '-', ' ', 0x80};
    int opened = 0, runs = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t *m = malloc(len);
            memcpy(m, file, len);
            m[i] = vals[v];
            st = NULL;
            runs++;
            if (mlxn_st_open_memory(m, len, "mut", &st) == MLXN_OK) {
                opened++;
                uint64_t pos = 0;
                bool ok = true;
                for (int64_t k = 0; k < mlxn_st_tensor_count(st); k++) {
                    mlxn_st_tensor t;
                    mlxn_st_get_tensor(st, k, &t);
                    ok = ok && t.offset == pos && (!t.nbytes || (const uint8_t *)t.data + t.nbytes <= m + len);
                    pos += t.nbytes;
                }
                CHECKF(ok && mlxn_st_data_offset(st) + pos == len, "mutation at %zu to 0x%02x", i, vals[v]);
            }
            mlxn_st_free(st);
            free(m);
        }
    }
    CHECKF(opened < runs, "%d of %d mutations opened", opened, runs);
    free(file);
}

/* ---- config.json ------------------------------------------------------------------------------ */

static mlxn_hf_config_t *parse_cfg(const char *json) {
    mlxn_hf_config_t *c = NULL;
    mlxn_status rc = mlxn_hf_config_parse(json, strlen(json), "config.json", &c);
    CHECKF(rc == MLXN_OK, "%s", mlxn_last_error());
    return c;
}

static void test_config_llama3(void) {
    mlxn_hf_config_t *h = parse_cfg(
        "{\"architectures\":[\"LlamaForCausalLM\"],\"model_type\":\"llama\",\"hidden_size\":2048,"
        "\"intermediate_size\":8192,\"num_hidden_layers\":16,\"num_attention_heads\":32,\"num_key_value_heads\":8,"
        "\"vocab_size\":128256,\"rms_norm_eps\":1e-05,\"rope_theta\":500000.0,\"max_position_embeddings\":131072,"
        "\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,\"low_freq_factor\":1.0,"
        "\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"},\"tie_word_embeddings\":true,"
        "\"torch_dtype\":\"bfloat16\",\"sliding_window\":null,\"eos_token_id\":[128001,128008,128009]}");
    if (!h) return;
    const mlxn_hf_config *c = mlxn_hf_config_get(h);
    CHECK(!strcmp(c->model_type, "llama") && !strcmp(c->architecture, "LlamaForCausalLM") && c->n_architectures == 1);
    CHECK(c->hidden_size == 2048 && c->intermediate_size == 8192 && c->num_hidden_layers == 16);
    CHECK(c->num_attention_heads == 32 && c->num_key_value_heads == 8 && c->head_dim == 64);
    CHECK(c->vocab_size == 128256 && c->max_position_embeddings == 131072);
    CHECK(c->rms_norm_eps == 1e-5 && c->rope_theta == 500000.0);
    CHECK(c->rope_scaling.present && !strcmp(c->rope_scaling.type, "llama3") && c->rope_scaling.factor == 32.0);
    CHECK(c->rope_scaling.low_freq_factor == 1.0 && c->rope_scaling.high_freq_factor == 4.0);
    CHECK(c->rope_scaling.original_max_position_embeddings == 8192);
    CHECK(c->tie_word_embeddings == 1 && c->norm_topk_prob == -1 && c->sliding_window == 0);
    CHECK(!strcmp(c->torch_dtype, "bfloat16") && !c->quant.present && !c->has_text_config && c->num_experts == 0);
    /* raw keys */
    int64_t v;
    double d;
    const char *s;
    char *js;
    CHECK(mlxn_hf_config_get_int(h, "rope_scaling.original_max_position_embeddings", &v) == MLXN_OK && v == 8192);
    CHECK(mlxn_hf_config_get_float(h, "rope_theta", &d) == MLXN_OK && d == 500000.0);
    CHECK(mlxn_hf_config_get_str(h, "rope_scaling.rope_type", &s) == MLXN_OK && !strcmp(s, "llama3"));
    CHECK(mlxn_hf_config_arr_len(h, "eos_token_id", &v) == MLXN_OK && v == 3);
    CHECK(mlxn_hf_config_arr_int(h, "eos_token_id", 2, &v) == MLXN_OK && v == 128009);
    CHECK(mlxn_hf_config_arr_int(h, "eos_token_id", 3, &v) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_hf_config_arr_str(h, "architectures", 0, &s) == MLXN_OK && !strcmp(s, "LlamaForCausalLM"));
    CHECK(mlxn_hf_config_get_int(h, "rms_norm_eps", &v) == MLXN_ERR_TYPE && strstr(mlxn_last_error(), "rms_norm_eps"));
    CHECK(mlxn_hf_config_get_str(h, "architectures", &s) == MLXN_ERR_TYPE);
    CHECK(mlxn_hf_config_get_int(h, "sliding_window", &v) == MLXN_ERR_NOT_FOUND);  /* null = absent */
    CHECK(mlxn_hf_config_get_int(h, "no_such_key", &v) == MLXN_ERR_NOT_FOUND && strstr(mlxn_hf_config_last_error(h), "no_such_key"));
    bool b;
    CHECK(mlxn_hf_config_get_bool(h, "tie_word_embeddings", &b) == MLXN_OK && b);
    if (CHECK(mlxn_hf_config_get_json(h, "rope_scaling", &js) == MLXN_OK)) {
        CHECK(strstr(js, "\"rope_type\":\"llama3\"") != NULL);
        free(js);
    }
    mlxn_hf_config_free(h);
    mlxn_hf_config_free(NULL);
}

static void test_config_gemma3_text_config(void) {
    mlxn_hf_config_t *h = parse_cfg(
        "{\"architectures\":[\"Gemma3ForConditionalGeneration\"],\"model_type\":\"gemma3\",\"torch_dtype\":\"bfloat16\","
        "\"vision_config\":{\"hidden_size\":1152},"
        "\"text_config\":{\"model_type\":\"gemma3_text\",\"hidden_size\":2560,\"intermediate_size\":10240,"
        "\"num_hidden_layers\":6,\"num_attention_heads\":8,\"num_key_value_heads\":4,\"head_dim\":256,"
        "\"vocab_size\":262208,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000.0,\"rope_local_base_freq\":10000.0,"
        "\"sliding_window\":1024,\"rope_scaling\":{\"factor\":8.0,\"rope_type\":\"linear\"},"
        "\"layer_types\":[\"sliding_attention\",\"sliding_attention\",\"sliding_attention\",\"sliding_attention\","
        "\"sliding_attention\",\"full_attention\"]}}");
    if (!h) return;
    const mlxn_hf_config *c = mlxn_hf_config_get(h);
    CHECK(!strcmp(c->model_type, "gemma3") && !strcmp(c->text_model_type, "gemma3_text") && c->has_text_config);
    CHECK(c->hidden_size == 2560 && c->head_dim == 256 && c->num_key_value_heads == 4 && c->vocab_size == 262208);
    CHECK(c->sliding_window == 1024 && c->rope_theta == 1e6 && c->rms_norm_eps == 1e-6);
    CHECK(c->rope_scaling.present && !strcmp(c->rope_scaling.type, "linear") && c->rope_scaling.factor == 8.0);
    CHECK(c->n_layer_types == 6 && c->layer_types[0] == MLXN_HF_LAYER_SLIDING && c->layer_types[5] == MLXN_HF_LAYER_FULL);
    CHECK(!strcmp(c->torch_dtype, "bfloat16"));
    double d;
    int64_t v;
    const char *s;
    CHECK(mlxn_hf_config_get_float(h, "rope_local_base_freq", &d) == MLXN_OK && d == 10000.0);  /* text_config fallback */
    CHECK(mlxn_hf_config_get_int(h, "vision_config.hidden_size", &v) == MLXN_OK && v == 1152);
    CHECK(mlxn_hf_config_get_int(h, "hidden_size", &v) == MLXN_OK && v == 2560);
    CHECK(mlxn_hf_config_arr_str(h, "layer_types", 5, &s) == MLXN_OK && !strcmp(s, "full_attention"));
    mlxn_hf_config_free(h);
}

static void test_config_moe(void) {
    mlxn_hf_config_t *h = parse_cfg(
        "{\"model_type\":\"qwen3_moe\",\"hidden_size\":2048,\"num_attention_heads\":32,\"num_key_value_heads\":4,"
        "\"head_dim\":128,\"num_experts\":128,\"num_experts_per_tok\":8,\"moe_intermediate_size\":768,"
        "\"norm_topk_prob\":true,\"tie_word_embeddings\":false}");
    if (h) {
        const mlxn_hf_config *c = mlxn_hf_config_get(h);
        CHECK(c->num_experts == 128 && c->num_experts_per_tok == 8 && c->moe_intermediate_size == 768);
        CHECK(c->norm_topk_prob == 1 && c->tie_word_embeddings == 0 && c->head_dim == 128);
        mlxn_hf_config_free(h);
    }
    h = parse_cfg("{\"model_type\":\"mixtral\",\"num_local_experts\":8,\"num_experts_per_tok\":2,"
                  "\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"}}");
    if (h) {
        const mlxn_hf_config *c = mlxn_hf_config_get(h);
        CHECK(c->num_experts == 8 && c->num_experts_per_tok == 2);
        CHECK(c->rope_theta == 1e6 && !c->rope_scaling.present);
        mlxn_hf_config_free(h);
    }
}

static void test_config_bad(void) {
    static const struct { const char *json, *msg; } bad[] = {
        {"{\"hidden_size\":\"big\"}", "\"hidden_size\" is not a non-negative integer"},
        {"{\"num_hidden_layers\":-3}", "\"num_hidden_layers\""},
        {"{\"rms_norm_eps\":\"x\"}", "\"rms_norm_eps\" is not a number"},
        {"{\"tie_word_embeddings\":1}", "\"tie_word_embeddings\" is not true or false"},
        {"{\"rope_scaling\":5}", "\"rope_scaling\" is not an object"},
        {"{\"rope_scaling\":{\"factor\":\"x\"}}", "rope_scaling.factor"},
        {"{\"layer_types\":[\"full_attention\",3]}", "layer_types[1]"},
        {"{\"architectures\":\"Llama\"}", "\"architectures\""},
        {"{\"text_config\":[]}", "\"text_config\" is not an object"},
        {"{\"quantization\":true}", "\"quantization\" is not an object"},
        {"{\"quantization\":{\"group_size\":0,\"bits\":4}}", "quantization.group_size"},
        {"{\"quantization\":{\"group_size\":64,\"bits\":\"4\"}}", "quantization.bits"},
        {"[1,2]", "top level is not a JSON object"},
        {"{\"a\":", "does not parse"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mlxn_hf_config_t *h = (mlxn_hf_config_t *)1;
        mlxn_status rc = mlxn_hf_config_parse(bad[i].json, strlen(bad[i].json), "cfg.json", &h);
        CHECKF(rc == MLXN_ERR_FORMAT && h == NULL, "%s", bad[i].json);
        CHECKF(strstr(mlxn_last_error(), bad[i].msg) && strstr(mlxn_last_error(), "cfg.json"), "%s: '%s' lacks '%s'",
               bad[i].json, mlxn_last_error(), bad[i].msg);
    }
    mlxn_hf_config_t *h;
    CHECK(mlxn_hf_config_load(tu_path(tmpdir, "nope.json"), &h) == MLXN_ERR_NOT_FOUND);
}

static void test_config_quant(void) {
    mlxn_hf_config_t *h = parse_cfg(
        "{\"model_type\":\"qwen3\",\"quantization\":{\"group_size\":64,\"bits\":4,"
        "\"model.embed_tokens\":{\"group_size\":32,\"bits\":8},\"lm_head\":{\"bits\":6},"
        "\"model.layers.0.mlp.gate\":false,\"model.layers.1.mlp.experts\":{\"mode\":\"mxfp4\",\"bits\":4,\"group_size\":32},"
        "\"model.odd\":{\"bits\":7},\"model.weird\":\"yes\"},"
        "\"quantization_config\":{\"group_size\":64,\"bits\":4}}");
    if (!h) return;
    const mlxn_hf_config *c = mlxn_hf_config_get(h);
    CHECK(c->quant.present && c->quant.mlx && c->quant.bits == 4 && c->quant.group_size == 64);
    CHECK(!strcmp(c->quant.mode, "affine") && c->quant.n_overrides == 5);
    mlxn_mlx_quant q;
    bool quant;
    CHECK(mlxn_hf_config_module_quant(h, "model.layers.3.self_attn.q_proj", true, MLXN_TYPE_BF16, &q, &quant) == MLXN_OK);
    CHECK(quant && q.mode == MLXN_MLX_AFFINE && q.bits == 4 && q.group_size == 64 && q.scale_type == MLXN_TYPE_BF16);
    CHECK(mlxn_hf_config_module_quant(h, "model.embed_tokens", true, MLXN_TYPE_F16, &q, &quant) == MLXN_OK);
    CHECK(quant && q.bits == 8 && q.group_size == 32 && q.scale_type == MLXN_TYPE_F16);
    CHECK(mlxn_hf_config_module_quant(h, "lm_head", true, MLXN_TYPE_BF16, &q, &quant) == MLXN_OK);
    CHECK(quant && q.bits == 6 && q.group_size == 64);
    CHECK(mlxn_hf_config_module_quant(h, "model.layers.1.mlp.experts", true, MLXN_TYPE_U8, &q, &quant) == MLXN_OK);
    CHECK(quant && q.mode == MLXN_MLX_MXFP4 && q.bits == 4 && q.group_size == 32 && q.scale_type == MLXN_TYPE_F8_E8M0);
    /* no scales: not quantized, whatever the config says */
    CHECK(mlxn_hf_config_module_quant(h, "model.layers.0.mlp.gate", false, MLXN_TYPE_F16, &q, &quant) == MLXN_OK && !quant);
    CHECK(mlxn_hf_config_module_quant(h, "model.norm", false, MLXN_TYPE_F16, &q, &quant) == MLXN_OK && !quant);
    /* scales but marked false; unsupported bits; f32 scales; bad override */
    CHECK(mlxn_hf_config_module_quant(h, "model.layers.0.mlp.gate", true, MLXN_TYPE_F16, &q, &quant) == MLXN_ERR_FORMAT);
    CHECK(strstr(mlxn_last_error(), "model.layers.0.mlp.gate") && strstr(mlxn_last_error(), "not quantized"));
    CHECK(mlxn_hf_config_module_quant(h, "model.odd", true, MLXN_TYPE_F16, &q, &quant) == MLXN_ERR_UNSUPPORTED);
    CHECK(strstr(mlxn_last_error(), "bits 7") != NULL);
    CHECK(mlxn_hf_config_module_quant(h, "model.x", true, MLXN_TYPE_F32, &q, &quant) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_hf_config_module_quant(h, "model.weird", true, MLXN_TYPE_F16, &q, &quant) == MLXN_ERR_FORMAT);
    int64_t v;
    CHECK(mlxn_hf_config_get_int(h, "quantization.model.embed_tokens.bits", &v) == MLXN_OK && v == 8);
    bool b = true;
    CHECK(mlxn_hf_config_get_bool(h, "quantization.model.layers.0.mlp.gate", &b) == MLXN_OK && !b);
    mlxn_hf_config_free(h);

    /* HF-native quantization_config (not MLX) */
    h = parse_cfg("{\"quantization_config\":{\"quant_method\":\"fp8\",\"weight_block_size\":[128,128]}}");
    if (h) {
        c = mlxn_hf_config_get(h);
        CHECK(c->quant.present && !c->quant.mlx && !strcmp(c->quant.mode, "fp8"));
        CHECK(mlxn_hf_config_module_quant(h, "m", true, MLXN_TYPE_BF16, &q, &quant) == MLXN_ERR_FORMAT);
        mlxn_hf_config_free(h);
    }
    h = parse_cfg("{\"quantization\":{\"group_size\":16,\"bits\":4,\"mode\":\"nvfp4\"}}");
    if (h) {
        CHECK(mlxn_hf_config_module_quant(h, "m", true, MLXN_TYPE_F8_E4M3, &q, &quant) == MLXN_ERR_UNSUPPORTED);
        CHECK(strstr(mlxn_last_error(), "nvfp4") != NULL);
        mlxn_hf_config_free(h);
    }
}

/* ---- model folders ------------------------------------------------------------------------------ */

static const char *folder_config =
    "{\"architectures\":[\"Qwen3ForCausalLM\"],\"model_type\":\"qwen3\",\"hidden_size\":128,"
    "\"intermediate_size\":256,\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":2,"
    "\"head_dim\":32,\"vocab_size\":16,\"rms_norm_eps\":1e-06,\"rope_theta\":1000000,\"tie_word_embeddings\":true,"
    "\"quantization\":{\"group_size\":64,\"bits\":4,\"model.embed_tokens\":{\"group_size\":32,\"bits\":8},"
    "\"model.layers.0.mlp.gate\":false}}";

static const tspec shard1[] = {
    {"model.embed_tokens.weight", "U32", 2, {16, 32}},     /* 128 inputs at 8 bits */
    {"model.embed_tokens.scales", "BF16", 2, {16, 4}},     /* 128 / 32 groups */
    {"model.embed_tokens.biases", "BF16", 2, {16, 4}},
    {"model.norm.weight", "F32", 1, {128}},
};
static const tspec shard2[] = {
    {"model.layers.0.self_attn.q_proj.weight", "U32", 2, {128, 16}},  /* 128 inputs at 4 bits */
    {"model.layers.0.self_attn.q_proj.scales", "F16", 2, {128, 2}},
    {"model.layers.0.self_attn.q_proj.biases", "F16", 2, {128, 2}},
    {"model.layers.0.mlp.gate.weight", "BF16", 2, {4, 128}},
    {"model.layers.0.bad_proj.weight", "U32", 2, {8, 12}},          /* 96 inputs: not 2 groups of 64 */
    {"model.layers.0.bad_proj.scales", "F16", 2, {8, 2}},
    {"model.layers.0.bad_proj.biases", "F16", 2, {8, 2}},
    {"model.layers.0.nobias_proj.weight", "U32", 2, {8, 16}},
    {"model.layers.0.nobias_proj.scales", "F16", 2, {8, 2}},
};

static void write_text(const char *dir, const char *name, const char *text) {
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    if (fp) { fputs(text, fp); fclose(fp); }
}

static void write_st(const char *dir, const char *name, const tspec *ts, int n, tu_rng *rng, uint8_t **keep, size_t *klen) {
    uint64_t off[16];
    size_t len;
    uint8_t *f = st_build(ts, n, "{\"format\":\"mlx\"}", rng, &len, off);
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    if (fp) { fwrite(f, 1, len, fp); fclose(fp); }
    if (keep) { *keep = f; *klen = len; } else free(f);
}

static char *index_json(const char *extra) {
    static char buf[8192];
    int n = snprintf(buf, sizeof buf, "{\"metadata\":{\"total_size\":1},\"weight_map\":{");
    for (size_t i = 0; i < sizeof shard1 / sizeof shard1[0]; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "\"%s\":\"model-00001-of-00002.safetensors\",", shard1[i].name);
    for (size_t i = 0; i < sizeof shard2 / sizeof shard2[0]; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%s\"%s\":\"model-00002-of-00002.safetensors\"", i ? "," : "",
                      shard2[i].name);
    snprintf(buf + n, sizeof buf - (size_t)n, "%s}}", extra);
    return buf;
}

static void make_folder(const char *dir, tu_rng *rng, uint8_t **f1, size_t *l1, uint8_t **f2, size_t *l2) {
    mkdir(dir, 0755);
    write_text(dir, "config.json", folder_config);
    write_st(dir, "model-00001-of-00002.safetensors", shard1, 4, rng, f1, l1);
    write_st(dir, "model-00002-of-00002.safetensors", shard2, 9, rng, f2, l2);
    write_text(dir, "model.safetensors.index.json", index_json(""));
}

static void test_folder(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 99);
    char dir[2048];
    snprintf(dir, sizeof dir, "%s/qwen3-mini", tmpdir);
    uint8_t *f1, *f2;
    size_t l1, l2;
    make_folder(dir, &rng, &f1, &l1, &f2, &l2);

    mlxn_folder_t *f = NULL;
    if (!CHECKF(mlxn_folder_open(dir, &f) == MLXN_OK, "%s", mlxn_last_error())) return;
    CHECK(mlxn_folder_shard_count(f) == 2);
    CHECK(!strcmp(mlxn_folder_shard_name(f, 0), "model-00001-of-00002.safetensors"));
    CHECK(mlxn_folder_tensor_count(f) == 13);
    const mlxn_hf_config *c = mlxn_folder_config(f);
    CHECK(!strcmp(c->model_type, "qwen3") && c->hidden_size == 128 && c->quant.bits == 4 && c->quant.n_overrides == 2);
    /* every tensor found by name, with its shard's bytes */
    for (int s = 0; s < 2; s++) {
        const tspec *ts = s ? shard2 : shard1;
        int n = s ? 9 : 4;
        const mlxn_st_t *sh = mlxn_folder_shard(f, s);
        const uint8_t *file = s ? f2 : f1;
        for (int i = 0; i < n; i++) {
            mlxn_st_tensor t;
            int32_t shard = -1;
            int64_t k = mlxn_folder_find_tensor(f, ts[i].name);
            if (!CHECKF(k >= 0, "%s", ts[i].name)) continue;
            CHECK(mlxn_folder_get_tensor(f, k, &t, &shard) == MLXN_OK && shard == s && !strcmp(t.name, ts[i].name));
            CHECK(t.shape[0] == ts[i].shape[0] && !strcmp(t.dtype, ts[i].dtype));
            CHECKF(!memcmp(t.data, file + mlxn_st_data_offset(sh) + t.offset, t.nbytes), "bytes of %s", t.name);
            mlxn_st_tensor u;
            CHECK(mlxn_folder_tensor(f, ts[i].name, &u) == MLXN_OK && u.data == t.data);
        }
    }
    mlxn_st_tensor t;
    CHECK(mlxn_folder_tensor(f, "lm_head.weight", &t) == MLXN_ERR_NOT_FOUND && strstr(mlxn_last_error(), "lm_head.weight"));
    CHECK(mlxn_folder_find_tensor(f, "model") == -1);

    mlxn_mlx_quant q;
    bool quant;
    CHECK(mlxn_folder_module_quant(f, "model.embed_tokens", &q, &quant) == MLXN_OK);
    CHECK(quant && q.mode == MLXN_MLX_AFFINE && q.bits == 8 && q.group_size == 32 && q.scale_type == MLXN_TYPE_BF16);
    CHECK(mlxn_folder_module_quant(f, "model.layers.0.self_attn.q_proj", &q, &quant) == MLXN_OK);
    CHECK(quant && q.bits == 4 && q.group_size == 64 && q.scale_type == MLXN_TYPE_F16);
    CHECK(mlxn_folder_module_quant(f, "model.layers.0.mlp.gate", &q, &quant) == MLXN_OK && !quant);
    CHECK(mlxn_folder_module_quant(f, "model.norm", &q, &quant) == MLXN_OK && !quant);
    CHECK(mlxn_folder_module_quant(f, "model.layers.0.bad_proj", &q, &quant) == MLXN_ERR_FORMAT);
    CHECK(strstr(mlxn_folder_last_error(f), "packed words") != NULL);
    CHECK(mlxn_folder_module_quant(f, "model.layers.0.nobias_proj", &q, &quant) == MLXN_ERR_FORMAT);
    CHECK(strstr(mlxn_last_error(), "no biases") != NULL);
    const mlxn_hf_config_t *ch = mlxn_folder_config_handle(f);
    int64_t v;
    CHECK(mlxn_hf_config_get_int(ch, "quantization.group_size", &v) == MLXN_OK && v == 64);
    mlxn_folder_free(f);
    mlxn_folder_free(NULL);

    /* single-file folder */
    char one[2048];
    snprintf(one, sizeof one, "%s/single", tmpdir);
    mkdir(one, 0755);
    write_text(one, "config.json", "{\"model_type\":\"llama\",\"hidden_size\":128}");
    write_st(one, "model.safetensors", shard1 + 3, 1, &rng, NULL, NULL);
    CHECK(mlxn_folder_open(one, &f) == MLXN_OK && mlxn_folder_shard_count(f) == 1 && mlxn_folder_tensor_count(f) == 1);
    mlxn_folder_free(f);

    free(f1);
    free(f2);
}

static void test_folder_bad(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    char dir[2048];
    mlxn_folder_t *f = NULL;
    static const struct { const char *index_extra, *msg; } cases[] = {
        {",\"model.ghost.weight\":\"model-00001-of-00002.safetensors\"", "lists tensor 'model.ghost.weight'"},
        {",\"model.norm.weight\":\"model-00002-of-00002.safetensors\"", "it is in 'model-00001-of-00002.safetensors'"},
        {",\"x\":\"../etc/passwd\"", "not a file in the folder"},
        {",\"x\":\"model-00003-of-00002.safetensors\"", "model-00003-of-00002.safetensors: cannot open"},
        {",\"x\":5", "not a file name string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(dir, sizeof dir, "%s/bad%zu", tmpdir, i);
        make_folder(dir, &rng, NULL, NULL, NULL, NULL);
        write_text(dir, "model.safetensors.index.json", index_json(cases[i].index_extra));
        mlxn_status rc = mlxn_folder_open(dir, &f);
        CHECKF(rc != MLXN_OK && f == NULL, "case %zu", i);
        CHECKF(strstr(mlxn_last_error(), cases[i].msg) != NULL, "case %zu: '%s' lacks '%s'", i, mlxn_last_error(),
               cases[i].msg);
    }
    /* a tensor in two shards (no index: all *.safetensors are shards) */
    snprintf(dir, sizeof dir, "%s/dup", tmpdir);
    mkdir(dir, 0755);
    write_text(dir, "config.json", "{}");
    write_st(dir, "a.safetensors", shard1, 2, &rng, NULL, NULL);
    write_st(dir, "b.safetensors", shard1 + 1, 2, &rng, NULL, NULL);
    CHECK(mlxn_folder_open(dir, &f) == MLXN_ERR_FORMAT);
    CHECK(strstr(mlxn_last_error(), "'model.embed_tokens.scales' is in both 'a.safetensors' and 'b.safetensors'") != NULL);
    /* no config.json; no weights; a corrupt shard; not a folder */
    snprintf(dir, sizeof dir, "%s/noconfig", tmpdir);
    mkdir(dir, 0755);
    write_st(dir, "model.safetensors", shard1, 1, &rng, NULL, NULL);
    CHECK(mlxn_folder_open(dir, &f) == MLXN_ERR_NOT_FOUND && strstr(mlxn_last_error(), "config.json"));
    snprintf(dir, sizeof dir, "%s/noweights", tmpdir);
    mkdir(dir, 0755);
    write_text(dir, "config.json", "{}");
    CHECK(mlxn_folder_open(dir, &f) == MLXN_ERR_NOT_FOUND && strstr(mlxn_last_error(), "no model.safetensors"));
    write_text(dir, "model.safetensors", "garbage!{}");
    CHECK(mlxn_folder_open(dir, &f) == MLXN_ERR_FORMAT && strstr(mlxn_last_error(), "model.safetensors"));
    CHECK(mlxn_folder_open(tu_path(dir, "config.json"), &f) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_folder_open(tu_path(tmpdir, "nowhere"), &f) == MLXN_ERR_NOT_FOUND);
    snprintf(dir, sizeof dir, "%s/badconfig", tmpdir);
    mkdir(dir, 0755);
    write_text(dir, "config.json", "{\"hidden_size\":[]}");
    write_st(dir, "model.safetensors", shard1, 1, &rng, NULL, NULL);
    CHECK(mlxn_folder_open(dir, &f) == MLXN_ERR_FORMAT && strstr(mlxn_last_error(), "hidden_size"));
}

/* A header of a million tiny members is refused before any JSON tree is built. */
static void test_too_many_members(void) {
    const size_t members = 1000001;
    size_t cap = members * 12 + 16, n = 0;
    char *hdr = malloc(cap);
    hdr[n++] = '{';
    for (size_t i = 0; i < members; i++) n += (size_t)snprintf(hdr + n, cap - n, "%s\"m%zu\":1", i ? "," : "", i);
    hdr[n++] = '}';
    size_t len;
    uint8_t *file = raw_file(hdr, n, NULL, 0, n, &len);
    mlxn_st_t *st = NULL;
    CHECK(mlxn_st_open_memory(file, len, "many", &st) == MLXN_ERR_FORMAT && st == NULL);
    CHECKF(strstr(mlxn_last_error(), "too many header entries") != NULL, "%s", mlxn_last_error());
    free(file);
    free(hdr);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/tests/st_tmp_XXXXXX", MLXN_BINARY_DIR);
    if (!mkdtemp(tmpdir)) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/mlxn_st_XXXXXX");
        if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    }
    test_valid_all_dtypes();
    test_empty_and_unpadded();
    test_malformed();
    test_truncation_and_mutation();
    test_too_many_members();
    test_config_llama3();
    test_config_gemma3_text_config();
    test_config_moe();
    test_config_bad();
    test_config_quant();
    test_folder();
    test_folder_bad();
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return tu_finish();
}
