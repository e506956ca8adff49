/* GGUF writer -> reader round trip (every value type, every array element type, string
 * arrays, every GGUF tensor type with a size), getter width rules and errors, writer
 * argument checks, and the shared vocab files with their tokenizer keys. */
#include "mlxn.h"
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static bool str_eq(mlxn_str s, const char *want, size_t len) { return s.len == len && !memcmp(s.ptr, want, len); }

/* ---- round trip ------------------------------------------------------------------------ */

typedef struct tinfo { char name[48]; mlxn_type type; int nd; int64_t ne[4]; uint8_t *data; size_t nbytes; } tinfo;

typedef struct fixture {
    uint8_t a_u8[5]; int8_t a_i8[5]; uint16_t a_u16[5]; int16_t a_i16[5]; uint32_t a_u32[5]; int32_t a_i32[5];
    uint64_t a_u64[5]; int64_t a_i64[5]; float a_f32[5]; double a_f64[5]; uint8_t a_bool[5];
    tinfo t[64];
    int nt;
} fixture;

static const char *strs[] = {"", "a", "\xc4\xa0token", "<|im_end|>", "line\nbreak"};
static const char bin_str[] = {'x', 0, 'y', (char)0xff};   /* set_strn: arbitrary bytes */

static void fill(fixture *fx, tu_rng *r) {
    for (int i = 0; i < 5; i++) {
        uint64_t v = tu_rng_u64(r);
        fx->a_u8[i] = (uint8_t)v; fx->a_i8[i] = (int8_t)(v >> 8); fx->a_u16[i] = (uint16_t)(v >> 16);
        fx->a_i16[i] = (int16_t)(v >> 24); fx->a_u32[i] = (uint32_t)(v >> 32); fx->a_i32[i] = (int32_t)v;
        fx->a_u64[i] = tu_rng_u64(r); fx->a_i64[i] = (int64_t)tu_rng_u64(r);
        fx->a_f32[i] = tu_rng_normal(r) * 1000; fx->a_f64[i] = tu_rng_normal(r) * 1e-5; fx->a_bool[i] = v & 1;
    }
    fx->a_u64[4] = UINT64_MAX;   /* above INT64_MAX: only the unsigned getters take it */
}

static mlxn_gguf_writer_t *build(fixture *fx, tu_rng *r, uint32_t align) {
    mlxn_gguf_writer_t *w = NULL;
    CHECK(mlxn_gguf_writer_new(&w) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_str(w, "general.architecture", "llama") == MLXN_OK);
    if (align) CHECK(mlxn_gguf_writer_set_u32(w, "general.alignment", align) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_u8(w, "v.u8", 201) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_i8(w, "v.i8", -77) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_u16(w, "v.u16", 65001) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_i16(w, "v.i16", -30001) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_u32(w, "v.u32", 4000000001u) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_i32(w, "v.i32", -2000000001) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_u64(w, "v.u64", UINT64_MAX - 1) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_i64(w, "v.i64", INT64_MIN + 1) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_f32(w, "v.f32", 3.14159f) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_f64(w, "v.f64", -2.718281828459045) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_bool(w, "v.bool", true) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_str(w, "v.str", "hello \xe2\x86\x92 world") == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_str(w, "v.empty_str", "") == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_strn(w, "v.bin_str", bin_str, sizeof bin_str) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_u32(w, "v.replaced", 1) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_f32(w, "v.replaced", 0.5f) == MLXN_OK);   /* replaces type and value */
    CHECK(mlxn_gguf_writer_set_arr(w, "a.u8", MLXN_GGUF_U8, fx->a_u8, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.i8", MLXN_GGUF_I8, fx->a_i8, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.u16", MLXN_GGUF_U16, fx->a_u16, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.i16", MLXN_GGUF_I16, fx->a_i16, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.u32", MLXN_GGUF_U32, fx->a_u32, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.i32", MLXN_GGUF_I32, fx->a_i32, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.u64", MLXN_GGUF_U64, fx->a_u64, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.i64", MLXN_GGUF_I64, fx->a_i64, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.f32", MLXN_GGUF_F32, fx->a_f32, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.f64", MLXN_GGUF_F64, fx->a_f64, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.bool", MLXN_GGUF_BOOL, fx->a_bool, 5) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.str", MLXN_GGUF_STRING, strs, N(strs)) == MLXN_OK);
    CHECK(mlxn_gguf_writer_set_arr(w, "a.empty", MLXN_GGUF_I32, NULL, 0) == MLXN_OK);
    mlxn_str items[2] = {{bin_str, sizeof bin_str}, {"zz", 2}};
    CHECK(mlxn_gguf_writer_set_arr_strn(w, "a.strn", items, 2) == MLXN_OK);

    fx->nt = 0;
    for (int id = 0; id < 64; id++) {
        const mlxn_type_traits *tt = mlxn_type_info((mlxn_type)id);
        if (!tt) continue;
        tinfo *t = &fx->t[fx->nt];
        t->type = (mlxn_type)id;
        t->nd = 1 + fx->nt % 4;
        int64_t ne[4] = {tt->block_elems * (1 + fx->nt % 3), 1 + fx->nt % 3, 2, 3};
        memcpy(t->ne, ne, sizeof ne);
        for (int d = t->nd; d < 4; d++) t->ne[d] = 1;
        mlxn_tensor_desc desc;
        CHECK(mlxn_tensor_desc_init(&desc, t->type, t->nd, ne) == MLXN_OK);
        t->nbytes = mlxn_tensor_desc_nbytes(&desc);
        t->data = malloc(t->nbytes);
        for (size_t b = 0; b < t->nbytes; b++) t->data[b] = (uint8_t)tu_rng_u64(r);
        snprintf(t->name, sizeof t->name, "blk.%d.%s", fx->nt, tt->name);
        CHECKF(mlxn_gguf_writer_add_tensor(w, t->name, t->type, t->nd, ne, t->data) == MLXN_OK, "%s", mlxn_last_error());
        fx->nt++;
    }
    return w;
}

static void check_arr_ints(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype et, const int64_t *want, int n) {
    mlxn_gguf_vtype t;
    uint64_t c;
    CHECKF(mlxn_gguf_get_arr(g, key, &t, &c) == MLXN_OK && t == et && c == (uint64_t)n, "%s", key);
    for (int i = 0; i < n; i++) {
        int64_t v = 0;
        CHECKF(mlxn_gguf_arr_int(g, key, (uint64_t)i, &v) == MLXN_OK && v == want[i], "%s[%d] = %lld want %lld", key, i,
               (long long)v, (long long)want[i]);
        double f = 0;
        if (et == MLXN_GGUF_BOOL)   /* bools are integers to get_int, but not numbers to get_float */
            CHECKF(mlxn_gguf_arr_float(g, key, (uint64_t)i, &f) == MLXN_ERR_TYPE, "%s[%d] as float", key, i);
        else
            CHECKF(mlxn_gguf_arr_float(g, key, (uint64_t)i, &f) == MLXN_OK && f == (double)want[i], "%s[%d] as float", key, i);
    }
}

static void verify(const mlxn_gguf_t *g, const fixture *fx, uint32_t align) {
    int64_t iv; uint64_t uv; double fv; bool bv; mlxn_str s;
    CHECK(mlxn_gguf_version(g) == 3);
    CHECK(mlxn_gguf_alignment(g) == (align ? align : 32));
    CHECK(mlxn_gguf_data_offset(g) % mlxn_gguf_alignment(g) == 0);
    CHECK(mlxn_gguf_kv_count(g) == (align ? 31 : 30));
    CHECK(!strcmp(mlxn_gguf_kv_key(g, 0), "general.architecture"));
    CHECK(mlxn_gguf_kv_type(g, 0) == MLXN_GGUF_STRING);
    CHECK(mlxn_gguf_kv_key(g, -1) == NULL && mlxn_gguf_kv_key(g, 1000) == NULL);
    CHECK(mlxn_gguf_get_str(g, "general.architecture", &s) == MLXN_OK && str_eq(s, "llama", 5));
    /* scalars, and every integer width through get_int / get_uint / get_float */
    CHECK(mlxn_gguf_get_int(g, "v.u8", &iv) == MLXN_OK && iv == 201);
    CHECK(mlxn_gguf_get_int(g, "v.i8", &iv) == MLXN_OK && iv == -77);
    CHECK(mlxn_gguf_get_int(g, "v.u16", &iv) == MLXN_OK && iv == 65001);
    CHECK(mlxn_gguf_get_int(g, "v.i16", &iv) == MLXN_OK && iv == -30001);
    CHECK(mlxn_gguf_get_int(g, "v.u32", &iv) == MLXN_OK && iv == 4000000001ll);
    CHECK(mlxn_gguf_get_int(g, "v.i32", &iv) == MLXN_OK && iv == -2000000001);
    CHECK(mlxn_gguf_get_int(g, "v.u64", &iv) == MLXN_ERR_TYPE);   /* above INT64_MAX */
    CHECK(strstr(mlxn_gguf_last_error(g), "v.u64") != NULL);
    CHECK(mlxn_gguf_get_uint(g, "v.u64", &uv) == MLXN_OK && uv == UINT64_MAX - 1);
    CHECK(mlxn_gguf_get_int(g, "v.i64", &iv) == MLXN_OK && iv == INT64_MIN + 1);
    CHECK(mlxn_gguf_get_uint(g, "v.i64", &uv) == MLXN_ERR_TYPE);  /* negative */
    CHECK(mlxn_gguf_get_uint(g, "v.u16", &uv) == MLXN_OK && uv == 65001);
    CHECK(mlxn_gguf_get_float(g, "v.f32", &fv) == MLXN_OK && fv == (double)3.14159f);
    CHECK(mlxn_gguf_get_float(g, "v.f64", &fv) == MLXN_OK && fv == -2.718281828459045);
    CHECK(mlxn_gguf_get_float(g, "v.i16", &fv) == MLXN_OK && fv == -30001.0);
    CHECK(mlxn_gguf_get_float(g, "v.u64", &fv) == MLXN_OK && fv == (double)(UINT64_MAX - 1));
    CHECK(mlxn_gguf_get_float(g, "v.replaced", &fv) == MLXN_OK && fv == 0.5);
    CHECK(mlxn_gguf_get_bool(g, "v.bool", &bv) == MLXN_OK && bv);
    CHECK(mlxn_gguf_get_int(g, "v.bool", &iv) == MLXN_OK && iv == 1);
    CHECK(mlxn_gguf_get_str(g, "v.str", &s) == MLXN_OK && str_eq(s, "hello \xe2\x86\x92 world", 15));
    CHECK(mlxn_gguf_get_str(g, "v.empty_str", &s) == MLXN_OK && s.len == 0);
    CHECK(mlxn_gguf_get_str(g, "v.bin_str", &s) == MLXN_OK && str_eq(s, bin_str, sizeof bin_str));
    /* wrong types and absent keys */
    CHECK(mlxn_gguf_get_int(g, "v.str", &iv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_int(g, "v.f32", &iv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_float(g, "v.bool", &fv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_bool(g, "v.u8", &bv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_str(g, "v.u8", &s) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_arr(g, "v.u8", NULL, NULL) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_int(g, "no.such.key", &iv) == MLXN_ERR_NOT_FOUND);
    CHECK(strstr(mlxn_gguf_last_error(g), "no.such.key") != NULL);
    CHECK(mlxn_gguf_find_key(g, "no.such.key") == -1);
    CHECK(mlxn_gguf_find_key(g, "v.u8") >= 0 && mlxn_gguf_kv_type(g, mlxn_gguf_find_key(g, "v.u8")) == MLXN_GGUF_U8);
    /* arrays of every element type */
    int64_t w[5];
    for (int i = 0; i < 5; i++) w[i] = fx->a_u8[i];
    check_arr_ints(g, "a.u8", MLXN_GGUF_U8, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_i8[i];
    check_arr_ints(g, "a.i8", MLXN_GGUF_I8, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_u16[i];
    check_arr_ints(g, "a.u16", MLXN_GGUF_U16, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_i16[i];
    check_arr_ints(g, "a.i16", MLXN_GGUF_I16, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_u32[i];
    check_arr_ints(g, "a.u32", MLXN_GGUF_U32, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_i32[i];
    check_arr_ints(g, "a.i32", MLXN_GGUF_I32, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_i64[i];
    check_arr_ints(g, "a.i64", MLXN_GGUF_I64, w, 5);
    for (int i = 0; i < 5; i++) w[i] = fx->a_bool[i];
    check_arr_ints(g, "a.bool", MLXN_GGUF_BOOL, w, 5);
    for (int i = 0; i < 5; i++) {
        uint64_t u = 0;
        CHECK(mlxn_gguf_arr_uint(g, "a.u64", (uint64_t)i, &u) == MLXN_OK && u == fx->a_u64[i]);
        CHECK(mlxn_gguf_arr_float(g, "a.f32", (uint64_t)i, &fv) == MLXN_OK && fv == (double)fx->a_f32[i]);
        CHECK(mlxn_gguf_arr_float(g, "a.f64", (uint64_t)i, &fv) == MLXN_OK && fv == fx->a_f64[i]);
    }
    CHECK(mlxn_gguf_arr_int(g, "a.u64", 4, &iv) == MLXN_ERR_TYPE);   /* UINT64_MAX */
    CHECK(mlxn_gguf_arr_int(g, "a.f32", 0, &iv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_arr_int(g, "a.u8", 5, &iv) == MLXN_ERR_INVALID_ARG);   /* index == count */
    CHECK(mlxn_gguf_arr_str(g, "a.u8", 0, &s) == MLXN_ERR_TYPE);
    const void *raw = mlxn_gguf_arr_data(g, "a.f64");
    CHECK(raw && !memcmp(raw, fx->a_f64, sizeof fx->a_f64));
    raw = mlxn_gguf_arr_data(g, "a.i16");
    CHECK(raw && !memcmp(raw, fx->a_i16, sizeof fx->a_i16));
    CHECK(mlxn_gguf_arr_data(g, "a.str") == NULL);
    CHECK(mlxn_gguf_arr_data(g, "v.u8") == NULL);
    mlxn_gguf_vtype et;
    uint64_t cnt;
    CHECK(mlxn_gguf_get_arr(g, "a.str", &et, &cnt) == MLXN_OK && et == MLXN_GGUF_STRING && cnt == N(strs));
    for (size_t i = 0; i < N(strs); i++)
        CHECKF(mlxn_gguf_arr_str(g, "a.str", i, &s) == MLXN_OK && str_eq(s, strs[i], strlen(strs[i])), "a.str[%zu]", i);
    CHECK(mlxn_gguf_arr_str(g, "a.str", N(strs), &s) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_arr_int(g, "a.str", 0, &iv) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_get_arr(g, "a.empty", &et, &cnt) == MLXN_OK && et == MLXN_GGUF_I32 && cnt == 0);
    CHECK(mlxn_gguf_arr_str(g, "a.strn", 0, &s) == MLXN_OK && str_eq(s, bin_str, sizeof bin_str));
    CHECK(mlxn_gguf_arr_str(g, "a.strn", 1, &s) == MLXN_OK && str_eq(s, "zz", 2));
    /* tensors: metadata, alignment, zero-copy bytes */
    CHECK(mlxn_gguf_tensor_count(g) == fx->nt);
    for (int i = 0; i < fx->nt; i++) {
        const tinfo *t = &fx->t[i];
        int64_t idx = mlxn_gguf_find_tensor(g, t->name);
        mlxn_gguf_tensor gt;
        CHECKF(idx == i, "find_tensor(%s) = %lld", t->name, (long long)idx);
        if (idx < 0 || mlxn_gguf_get_tensor(g, idx, &gt) != MLXN_OK) { CHECK(0); continue; }
        CHECKF(!strcmp(gt.name, t->name) && gt.type == t->type && gt.n_dims == t->nd, "%s", t->name);
        CHECKF(!memcmp(gt.ne, t->ne, sizeof gt.ne), "%s ne", t->name);
        CHECKF(gt.nbytes == t->nbytes, "%s nbytes %llu want %zu", t->name, (unsigned long long)gt.nbytes, t->nbytes);
        CHECKF(gt.offset % mlxn_gguf_alignment(g) == 0, "%s offset %llu", t->name, (unsigned long long)gt.offset);
        CHECKF(!memcmp(gt.data, t->data, t->nbytes), "%s bytes", t->name);
    }
    mlxn_gguf_tensor gt;
    CHECK(mlxn_gguf_get_tensor(g, fx->nt, &gt) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_get_tensor(g, -1, &gt) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_find_tensor(g, "absent") == -1);
}

static void test_round_trip(uint32_t align) {
    tu_rng r;
    tu_rng_seed(&r, 1000 + align);
    fixture *fx = calloc(1, sizeof *fx);
    fill(fx, &r);
    mlxn_gguf_writer_t *w = build(fx, &r, align);
    CHECK(fx->nt >= 30);   /* every GGUF type with a size in the traits table */
    void *mem = NULL;
    size_t size = 0;
    CHECKF(mlxn_gguf_writer_write_memory(w, &mem, &size) == MLXN_OK, "%s", mlxn_last_error());
    const char *path = tu_path(MLXN_BINARY_DIR, "test_gguf_roundtrip.gguf");
    char pathbuf[4096];
    snprintf(pathbuf, sizeof pathbuf, "%s", path);
    CHECKF(mlxn_gguf_writer_write(w, pathbuf) == MLXN_OK, "%s", mlxn_last_error());
    mlxn_gguf_writer_free(w);

    /* the file and the memory image are the same bytes, and the tensor section ends aligned */
    uint32_t a = align ? align : 32;
    CHECK(size % a == 0);
    FILE *f = fopen(pathbuf, "rb");
    uint8_t *disk = malloc(size + 1);
    size_t got = f ? fread(disk, 1, size + 1, f) : 0;
    if (f) fclose(f);
    CHECK(got == size && !memcmp(disk, mem, size));
    free(disk);

    mlxn_gguf_t *g = NULL;
    CHECKF(mlxn_gguf_open_memory(mem, size, &g) == MLXN_OK, "%s", mlxn_last_error());
    if (g) {
        verify(g, fx, align);
        mlxn_gguf_tensor t0;
        CHECK(mlxn_gguf_get_tensor(g, 0, &t0) == MLXN_OK &&
              (const uint8_t *)t0.data == (const uint8_t *)mem + mlxn_gguf_data_offset(g) + t0.offset);   /* zero copy */
        mlxn_gguf_free(g);
    }
    g = NULL;
    CHECKF(mlxn_gguf_open(pathbuf, &g) == MLXN_OK, "%s", mlxn_last_error());
    if (g) {
        verify(g, fx, align);
        mlxn_gguf_free(g);
    }
    remove(pathbuf);
    free(mem);
    for (int i = 0; i < fx->nt; i++) free(fx->t[i].data);
    free(fx);
}

/* A file with no metadata and no tensors is still a valid GGUF. */
static void test_empty(void) {
    mlxn_gguf_writer_t *w = NULL;
    void *mem = NULL;
    size_t size = 0;
    CHECK(mlxn_gguf_writer_new(&w) == MLXN_OK);
    CHECK(mlxn_gguf_writer_write_memory(w, &mem, &size) == MLXN_OK && size == 32);   /* 24-byte header + padding */
    mlxn_gguf_t *g = NULL;
    CHECK(mlxn_gguf_open_memory(mem, size, &g) == MLXN_OK);
    CHECK(mlxn_gguf_kv_count(g) == 0 && mlxn_gguf_tensor_count(g) == 0 && mlxn_gguf_data_offset(g) == 32);
    mlxn_gguf_free(g);
    mlxn_gguf_writer_free(w);
    free(mem);
    mlxn_gguf_free(NULL);
    mlxn_gguf_writer_free(NULL);
}

/* ---- writer argument checks ---------------------------------------------------------------- */

static void test_writer_errors(void) {
    mlxn_gguf_writer_t *w = NULL;
    CHECK(mlxn_gguf_writer_new(&w) == MLXN_OK);
    float data[64] = {0};
    int64_t ne[2] = {32, 2}, ne_bad[1] = {33}, ne_zero[2] = {32, 0};
    CHECK(mlxn_gguf_writer_add_tensor(w, "x", MLXN_TYPE_F32, 2, ne, data) == MLXN_OK);
    CHECK(mlxn_gguf_writer_add_tensor(w, "x", MLXN_TYPE_F32, 2, ne, data) == MLXN_ERR_INVALID_ARG);
    CHECK(strstr(mlxn_gguf_writer_last_error(w), "duplicate tensor name 'x'") != NULL);
    CHECK(mlxn_gguf_writer_add_tensor(w, "", MLXN_TYPE_F32, 2, ne, data) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_add_tensor(w, "q", MLXN_TYPE_Q4_0, 1, ne_bad, data) == MLXN_ERR_SHAPE);
    CHECK(strstr(mlxn_gguf_writer_last_error(w), "'q'") != NULL);
    CHECK(mlxn_gguf_writer_add_tensor(w, "z", MLXN_TYPE_F32, 2, ne_zero, data) == MLXN_ERR_SHAPE);
    CHECK(mlxn_gguf_writer_add_tensor(w, "d", MLXN_TYPE_F32, 5, ne, data) == MLXN_ERR_SHAPE);
    CHECK(mlxn_gguf_writer_add_tensor(w, "u", (mlxn_type)4, 2, ne, data) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_writer_add_tensor(w, "m", MLXN_TYPE_MLX_Q4, 2, ne, data) == MLXN_ERR_TYPE);   /* no GGUF id */
    CHECK(mlxn_gguf_writer_add_tensor(w, "n", MLXN_TYPE_F32, 2, ne, NULL) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_u32(w, "general.alignment", 48) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_u32(w, "general.alignment", 0) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_u64(w, "general.alignment", 64) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_writer_set_u8(w, "", 1) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_u8(w, NULL, 1) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_arr(w, "nest", MLXN_GGUF_ARRAY, data, 1) == MLXN_ERR_TYPE);
    CHECK(mlxn_gguf_writer_set_arr(w, "bad", (mlxn_gguf_vtype)13, data, 1) == MLXN_ERR_TYPE);
    uint8_t bools[2] = {1, 2};
    CHECK(mlxn_gguf_writer_set_arr(w, "b", MLXN_GGUF_BOOL, bools, 2) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_set_str(w, "s", NULL) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_writer_write(w, "/nonexistent-dir/x.gguf") == MLXN_ERR_IO);
    CHECK(strstr(mlxn_gguf_writer_last_error(w), "/nonexistent-dir/x.gguf") != NULL);
    mlxn_gguf_writer_free(w);
    CHECK(mlxn_gguf_writer_new(NULL) == MLXN_ERR_INVALID_ARG);
}

/* ---- the shared vocab files ---------------------------------------------------------------- */

static void test_vocab(const char *file, const char *model, bool has_merges, bool has_scores) {
    char path[4096];
    snprintf(path, sizeof path, "%s/testdata/vocab/%s", MLXN_SHARED_DIR, file);
    mlxn_gguf_t *g = NULL;
    mlxn_status st = mlxn_gguf_open(path, &g);
    CHECKF(st == MLXN_OK, "%s: %s", file, mlxn_last_error());
    if (!g) return;
    printf("%s: version %u, %lld keys, %lld tensors\n", file, mlxn_gguf_version(g), (long long)mlxn_gguf_kv_count(g),
           (long long)mlxn_gguf_tensor_count(g));
    for (int64_t i = 0; i < mlxn_gguf_kv_count(g); i++) {
        const char *k = mlxn_gguf_kv_key(g, i);
        if (strncmp(k, "tokenizer.", 10)) continue;
        mlxn_gguf_vtype et;
        uint64_t n;
        if (mlxn_gguf_get_arr(g, k, &et, &n) == MLXN_OK) printf("  %s: array of %llu (type %d)\n", k, (unsigned long long)n, et);
        else printf("  %s: type %d\n", k, mlxn_gguf_kv_type(g, i));
    }
    mlxn_str s;
    CHECKF(mlxn_gguf_get_str(g, "tokenizer.ggml.model", &s) == MLXN_OK && str_eq(s, model, strlen(model)), "%s model", file);
    mlxn_gguf_vtype et;
    uint64_t n_tok = 0, n;
    CHECK(mlxn_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n_tok) == MLXN_OK && et == MLXN_GGUF_STRING);
    CHECKF(n_tok >= 1000 && n_tok < 1000000, "%s: %llu tokens", file, (unsigned long long)n_tok);
    CHECK(mlxn_gguf_get_arr(g, "tokenizer.ggml.token_type", &et, &n) == MLXN_OK && n == n_tok &&
          (et == MLXN_GGUF_I32 || et == MLXN_GGUF_U32));
    if (has_merges) {
        CHECK(mlxn_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &n) == MLXN_OK && et == MLXN_GGUF_STRING);
        CHECKF(n > 1000 && n < n_tok, "%s: %llu merges", file, (unsigned long long)n);
        CHECK(mlxn_gguf_arr_str(g, "tokenizer.ggml.merges", 0, &s) == MLXN_OK && memchr(s.ptr, ' ', s.len));   /* "a b" */
    }
    if (has_scores) {
        CHECK(mlxn_gguf_get_arr(g, "tokenizer.ggml.scores", &et, &n) == MLXN_OK && et == MLXN_GGUF_F32 && n == n_tok);
        double sc;
        CHECK(mlxn_gguf_arr_float(g, "tokenizer.ggml.scores", n - 1, &sc) == MLXN_OK && isfinite(sc));
    }
    int64_t bos = -1, eos = -1;
    CHECK(mlxn_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &bos) == MLXN_OK && bos >= 0 && (uint64_t)bos < n_tok);
    CHECK(mlxn_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &eos) == MLXN_OK && eos >= 0 && (uint64_t)eos < n_tok);
    CHECK(mlxn_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)eos, &s) == MLXN_OK && s.len > 0);
    mlxn_gguf_free(g);
}

int main(void) {
    test_round_trip(0);
    test_round_trip(64);
    test_round_trip(1);
    test_empty();
    test_writer_errors();
    test_vocab("ggml-vocab-gpt-2.gguf", "gpt2", true, false);
    test_vocab("ggml-vocab-llama-spm.gguf", "llama", false, true);
    return tu_finish();
}
