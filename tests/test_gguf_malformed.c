/* The GGUF reader against hostile files: one case per validation rule, each asserting the
 * status and the words of the message (problem, key or tensor name, file offset); plus a
 * valid file truncated at every byte and single-byte corruption of every header byte.
 * Each input is a malloc'd copy of exactly its size, so an over-read is visible to ASan. */
#include "mlxn.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

/* ---- a byte builder for hand-made files --------------------------------------------------- */

typedef struct bb { uint8_t p[4096]; size_t n; } bb;

static void b_raw(bb *b, const void *p, size_t n) { memcpy(b->p + b->n, p, n); b->n += n; }
static void b_le(bb *b, uint64_t v, int n) { for (int i = 0; i < n; i++) b->p[b->n++] = (uint8_t)(v >> (8 * i)); }
static void b_u32(bb *b, uint32_t v) { b_le(b, v, 4); }
static void b_u64(bb *b, uint64_t v) { b_le(b, v, 8); }
static void b_str(bb *b, const char *s) { b_u64(b, strlen(s)); b_raw(b, s, strlen(s)); }
static void b_hdr(bb *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_raw(b, "GGUF", 4); b_u32(b, version); b_u64(b, n_tensors); b_u64(b, n_kv);
}
static void b_kv_u32(bb *b, const char *k, uint32_t v) { b_str(b, k); b_u32(b, MLXN_GGUF_U32); b_u32(b, v); }
/* Tensor info with n_dims extents. */
static void b_tensor(bb *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name); b_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) b_u64(b, ne[i]);
    b_u32(b, type); b_u64(b, off);
}
/* Zero padding to the alignment, then n data bytes. */
static void b_data(bb *b, uint32_t align, size_t n) {
    while (b->n % align) b->p[b->n++] = 0;
    for (size_t i = 0; i < n; i++) b->p[b->n++] = (uint8_t)(i * 7 + 1);
}

/* ---- the cases -------------------------------------------------------------------------------- */

static const uint64_t ne8[1] = {8}, ne32[1] = {32}, ne33[1] = {33}, ne_big[3] = {1ull << 32, 1ull << 32, 1ull << 8};

static void c_magic(bb *b) { b_raw(b, "GGUX", 4); b_u32(b, 3); b_u64(b, 0); b_u64(b, 0); }
static void c_v1(bb *b) { b_hdr(b, 1, 0, 0); }
static void c_v4(bb *b) { b_hdr(b, 4, 0, 0); }
static void c_swapped(bb *b) { b_hdr(b, 0x03000000u, 0, 0); }
static void c_kv_count(bb *b) { b_hdr(b, 3, 0, 1ull << 60); b_kv_u32(b, "a", 1); }
static void c_t_count(bb *b) { b_hdr(b, 3, 1ull << 60, 0); b_tensor(b, "t", 1, ne8, 0, 0); }
static void c_key_len(bb *b) { b_hdr(b, 3, 0, 1); b_u64(b, 1ull << 63); b_raw(b, "abcdef", 6); }
static void c_empty_key(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, ""); b_u32(b, MLXN_GGUF_U8); b_raw(b, "\1", 1); }
static void c_nul_key(bb *b) { b_hdr(b, 3, 0, 1); b_u64(b, 3); b_raw(b, "a\0b", 3); b_u32(b, MLXN_GGUF_U8); b_raw(b, "\1", 1); }
static void c_dup_key(bb *b) { b_hdr(b, 3, 0, 3); b_kv_u32(b, "a.x", 1); b_kv_u32(b, "a.y", 2); b_kv_u32(b, "a.x", 3); }
static void c_vtype(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.bad"); b_u32(b, 13); b_u32(b, 0); }
static void c_bool(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.b"); b_u32(b, MLXN_GGUF_BOOL); b_raw(b, "\2", 1); }
static void c_str_len(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.s"); b_u32(b, MLXN_GGUF_STRING); b_u64(b, 1000); b_raw(b, "short", 5); }
static void c_str_len_max(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.s"); b_u32(b, MLXN_GGUF_STRING); b_u64(b, UINT64_MAX); b_raw(b, "x", 1); }
static void c_nested(bb *b) {
    b_hdr(b, 3, 0, 1); b_str(b, "k.n"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_ARRAY); b_u64(b, 1);
    b_u32(b, MLXN_GGUF_U8); b_u64(b, 1); b_raw(b, "\1", 1);
}
static void c_arr_etype(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, 99); b_u64(b, 1); b_u32(b, 0); }
static void c_arr_huge(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_U8); b_u64(b, 1ull << 60); b_raw(b, "1234", 4); }
static void c_arr_wide(bb *b) {   /* count * 8 wraps to 0 in 64 bits */
    b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_U64); b_u64(b, 1ull << 61); b_raw(b, "12345678", 8);
}
static void c_arr_strs(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_STRING); b_u64(b, 1ull << 60); b_str(b, "x"); }
static void c_arr_bool(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "k.a"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_BOOL); b_u64(b, 3); b_raw(b, "\1\0\7", 3); }
static void c_align_npot(bb *b) { b_hdr(b, 3, 0, 1); b_kv_u32(b, "general.alignment", 48); }
static void c_align_zero(bb *b) { b_hdr(b, 3, 0, 1); b_kv_u32(b, "general.alignment", 0); }
static void c_align_type(bb *b) { b_hdr(b, 3, 0, 1); b_str(b, "general.alignment"); b_u32(b, MLXN_GGUF_U64); b_u64(b, 32); }
static void c_ndims0(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.zero", 0, ne8, 0, 0); b_data(b, 32, 32); }
static void c_ndims5(bb *b) { uint64_t ne[5] = {1, 1, 1, 1, 1}; b_hdr(b, 3, 1, 0); b_tensor(b, "t.five", 5, ne, 0, 0); b_data(b, 32, 32); }
static void c_ne_zero(bb *b) { uint64_t ne[2] = {8, 0}; b_hdr(b, 3, 1, 0); b_tensor(b, "t.ne", 2, ne, 0, 0); b_data(b, 32, 32); }
static void c_ne_neg(bb *b) { uint64_t ne[2] = {8, UINT64_MAX}; b_hdr(b, 3, 1, 0); b_tensor(b, "t.neg", 2, ne, 0, 0); b_data(b, 32, 32); }
static void c_ne_ovf(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.ovf", 3, ne_big, 0, 0); b_data(b, 32, 32); }
static void c_row_ovf(bb *b) {   /* 2^61 f64 elements: the row alone is 2^64 bytes, which wraps to 0 */
    uint64_t ne[1] = {1ull << 61};
    b_hdr(b, 3, 1, 0); b_tensor(b, "t.row", 1, ne, MLXN_TYPE_F64, 0); b_data(b, 32, 32);
}
static void c_ttype(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.type4", 1, ne32, 4, 0); b_data(b, 32, 32); }
static void c_ttype_mlxn(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.type64", 1, ne32, 64, 0); b_data(b, 32, 32); }
static void c_ttype_huge(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.typeX", 1, ne32, 0xffffffffu, 0); b_data(b, 32, 32); }
static void c_block(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.q40", 1, ne33, MLXN_TYPE_Q4_0, 0); b_data(b, 32, 64); }
static void c_dup_t(bb *b) { b_hdr(b, 3, 2, 0); b_tensor(b, "t.a", 1, ne8, 0, 0); b_tensor(b, "t.a", 1, ne8, 0, 32); b_data(b, 32, 64); }
static void c_empty_t(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "", 1, ne8, 0, 0); b_data(b, 32, 32); }
static void c_off_align(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.mis", 1, ne8, 0, 16); b_data(b, 32, 64); }
static void c_off_align_kv(bb *b) {   /* 32 is aligned by default, not once general.alignment is 64 */
    b_hdr(b, 3, 1, 1); b_kv_u32(b, "general.alignment", 64); b_tensor(b, "t.a64", 1, ne8, 0, 32); b_data(b, 64, 128);
}
static void c_past_end(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.end", 1, ne32, 0, 0); b_data(b, 32, 100); }
static void c_off_huge(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.far", 1, ne8, 0, 1ull << 63); b_data(b, 32, 32); }
static void c_overlap(bb *b) {
    uint64_t ne16[1] = {16};
    b_hdr(b, 3, 2, 0); b_tensor(b, "t.first", 1, ne16, 0, 0); b_tensor(b, "t.second", 1, ne8, 0, 32); b_data(b, 32, 128);
    /* t.first covers [0, 64), t.second starts at 32 */
}
static void c_overlap_same(bb *b) { b_hdr(b, 3, 2, 0); b_tensor(b, "t.x", 1, ne8, 0, 0); b_tensor(b, "t.y", 1, ne8, 0, 0); b_data(b, 32, 64); }
static void c_no_data(bb *b) { b_hdr(b, 3, 1, 0); b_tensor(b, "t.nodata", 1, ne8, 0, 0); }
static void c_empty(bb *b) { (void)b; }

typedef struct mcase {
    const char *name;
    void (*make)(bb *);
    mlxn_status status;
    const char *words[3];   /* each must appear in the message */
} mcase;

static const mcase cases[] = {
    {"bad magic", c_magic, MLXN_ERR_FORMAT, {"bad magic", "offset 0"}},
    {"empty file", c_empty, MLXN_ERR_FORMAT, {"truncated", "magic", "offset 0"}},
    {"version 1", c_v1, MLXN_ERR_UNSUPPORTED, {"version 1", "offset 4"}},
    {"version 4", c_v4, MLXN_ERR_UNSUPPORTED, {"version 4", "offset 4"}},
    {"byte-swapped", c_swapped, MLXN_ERR_UNSUPPORTED, {"byte-swapped", "big-endian", "offset 4"}},
    {"kv_count absurd", c_kv_count, MLXN_ERR_FORMAT, {"kv_count 1152921504606846976", "offset 16"}},
    {"tensor_count absurd", c_t_count, MLXN_ERR_FORMAT, {"tensor_count 1152921504606846976", "offset 8"}},
    {"key length absurd", c_key_len, MLXN_ERR_FORMAT, {"key #0", "key length 9223372036854775808", "offset 24"}},
    {"empty key", c_empty_key, MLXN_ERR_FORMAT, {"empty key", "offset 24"}},
    {"NUL in key", c_nul_key, MLXN_ERR_FORMAT, {"NUL byte", "offset 24"}},
    {"duplicate key", c_dup_key, MLXN_ERR_FORMAT, {"duplicate key", "'a.x'", "offset 62"}},
    {"unknown value type", c_vtype, MLXN_ERR_FORMAT, {"unknown value type 13", "'k.bad'", "offset 37"}},
    {"bool not 0/1", c_bool, MLXN_ERR_FORMAT, {"bool value 2", "'k.b'", "offset 39"}},
    {"string past end", c_str_len, MLXN_ERR_FORMAT, {"string value length 1000", "'k.s'", "offset 39"}},
    {"string length 2^64-1", c_str_len_max, MLXN_ERR_FORMAT, {"string value length 18446744073709551615", "'k.s'"}},
    {"nested array", c_nested, MLXN_ERR_FORMAT, {"nested arrays", "'k.n'", "offset 39"}},
    {"unknown array element type", c_arr_etype, MLXN_ERR_FORMAT, {"unknown array element type 99", "'k.a'", "offset 39"}},
    {"2^60-element array", c_arr_huge, MLXN_ERR_FORMAT, {"array of 1152921504606846976 u8", "'k.a'", "offset 43"}},
    {"array bytes wrap 64 bits", c_arr_wide, MLXN_ERR_FORMAT, {"array of 2305843009213693952 u64", "'k.a'", "offset 43"}},
    {"2^60 strings", c_arr_strs, MLXN_ERR_FORMAT, {"1152921504606846976 strings", "'k.a'", "offset 43"}},
    {"bool array element", c_arr_bool, MLXN_ERR_FORMAT, {"bool element 2", "'k.a'", "offset 53"}},
    {"alignment not power of two", c_align_npot, MLXN_ERR_FORMAT, {"alignment 48 is not a power of two", "'general.alignment'", "offset 53"}},
    {"alignment zero", c_align_zero, MLXN_ERR_FORMAT, {"alignment 0 is not a power of two", "offset 53"}},
    {"alignment not u32", c_align_type, MLXN_ERR_FORMAT, {"must be a u32", "found u64", "offset 53"}},
    {"n_dims 0", c_ndims0, MLXN_ERR_FORMAT, {"n_dims 0 outside 1..4", "'t.zero'", "offset 38"}},
    {"n_dims 5", c_ndims5, MLXN_ERR_FORMAT, {"n_dims 5 outside 1..4", "'t.five'", "offset 38"}},
    {"ne zero", c_ne_zero, MLXN_ERR_FORMAT, {"ne[1] = 0", "'t.ne'", "offset 48"}},
    {"ne above INT64_MAX", c_ne_neg, MLXN_ERR_FORMAT, {"ne[1] = 18446744073709551615", "'t.neg'", "offset 49"}},
    {"byte size overflows", c_ne_ovf, MLXN_ERR_FORMAT, {"overflows", "'t.ovf'", "offset 65"}},
    {"row byte size wraps to 0", c_row_ovf, MLXN_ERR_FORMAT, {"overflows", "'t.row'", "offset 49"}},
    {"removed tensor type 4", c_ttype, MLXN_ERR_FORMAT, {"unknown tensor type 4", "'t.type4'", "offset 51"}},
    {"mlxn-only type id 64", c_ttype_mlxn, MLXN_ERR_FORMAT, {"unknown tensor type 64", "'t.type64'", "offset 52"}},
    {"tensor type 2^32-1", c_ttype_huge, MLXN_ERR_FORMAT, {"unknown tensor type 4294967295", "'t.typeX'"}},
    {"ne0 not a block multiple", c_block, MLXN_ERR_FORMAT, {"ne[0] = 33 is not a multiple of q4_0's block of 32", "'t.q40'", "offset 49"}},
    {"duplicate tensor name", c_dup_t, MLXN_ERR_FORMAT, {"duplicate tensor name", "'t.a'", "offset 59"}},
    {"empty tensor name", c_empty_t, MLXN_ERR_FORMAT, {"empty tensor name", "tensor #0", "offset 24"}},
    {"offset not aligned", c_off_align, MLXN_ERR_FORMAT, {"offset 16 is not a multiple of the alignment 32", "'t.mis'", "offset 53"}},
    {"offset not aligned (custom)", c_off_align_kv, MLXN_ERR_FORMAT, {"offset 32 is not a multiple of the alignment 64", "'t.a64'"}},
    {"range past end of file", c_past_end, MLXN_ERR_FORMAT, {"runs past the end of the file", "'t.end'", "offset 24"}},
    {"offset 2^63", c_off_huge, MLXN_ERR_FORMAT, {"past the end", "'t.far'", "offset 24"}},
    {"overlapping tensors", c_overlap, MLXN_ERR_FORMAT, {"overlaps tensor 't.first'", "'t.second'", "offset 63"}},
    {"same offset twice", c_overlap_same, MLXN_ERR_FORMAT, {"overlaps", "'t.x'"}},
    {"no data section", c_no_data, MLXN_ERR_FORMAT, {"past the end", "'t.nodata'"}},
};

static void test_cases(void) {
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mcase *c = &cases[i];
        bb *b = calloc(1, sizeof *b);
        c->make(b);
        uint8_t *copy = malloc(b->n ? b->n : 1);
        memcpy(copy, b->p, b->n);
        mlxn_gguf_t *g = (mlxn_gguf_t *)1;
        mlxn_status st = mlxn_gguf_open_memory(copy, b->n, &g);
        const char *msg = mlxn_last_error();
        CHECKF(st == c->status, "%s: status %d (%s), want %d", c->name, st, msg, c->status);
        CHECKF(g == NULL, "%s: handle not NULL after failure", c->name);
        for (int k = 0; k < 3 && c->words[k]; k++)
            CHECKF(strstr(msg, c->words[k]) != NULL, "%s: message \"%s\" lacks \"%s\"", c->name, msg, c->words[k]);
        CHECKF(strstr(msg, "<memory>") != NULL, "%s: message names no file", c->name);
        if (st == MLXN_OK) mlxn_gguf_free(g);
        free(copy);
        free(b);
    }
}

/* Control: the builder makes valid files when nothing is wrong (so the cases fail for their
 * own reason), including a tensor range that ends exactly at end of file. */
static void test_builder_valid(void) {
    bb *b = calloc(1, sizeof *b);
    uint64_t ne16[1] = {16};
    b_hdr(b, 2, 2, 2);
    b_kv_u32(b, "general.alignment", 64);
    b_str(b, "k.arr"); b_u32(b, MLXN_GGUF_ARRAY); b_u32(b, MLXN_GGUF_STRING); b_u64(b, 2); b_str(b, "x"); b_str(b, "");
    b_tensor(b, "t.a", 1, ne16, 0, 64);
    b_tensor(b, "t.b", 1, ne16, 0, 0);
    b_data(b, 64, 128);
    mlxn_gguf_t *g = NULL;
    CHECKF(mlxn_gguf_open_memory(b->p, b->n, &g) == MLXN_OK, "%s", mlxn_last_error());
    CHECK(mlxn_gguf_version(g) == 2 && mlxn_gguf_alignment(g) == 64 && mlxn_gguf_tensor_count(g) == 2);
    mlxn_gguf_free(g);
    free(b);
}

/* ---- truncation at every byte, corruption of every header byte ------------------------------- */

static void *make_valid(size_t *size, uint64_t *header_end) {
    mlxn_gguf_writer_t *w = NULL;
    mlxn_gguf_writer_new(&w);
    mlxn_gguf_writer_set_str(w, "general.architecture", "llama");
    mlxn_gguf_writer_set_u32(w, "llama.block_count", 2);
    mlxn_gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    mlxn_gguf_writer_set_bool(w, "x.flag", true);
    const char *toks[] = {"<s>", "</s>", "a", ""};
    mlxn_gguf_writer_set_arr(w, "tokenizer.ggml.tokens", MLXN_GGUF_STRING, toks, 4);
    int32_t tt[4] = {3, 3, 1, 1};
    mlxn_gguf_writer_set_arr(w, "tokenizer.ggml.token_type", MLXN_GGUF_I32, tt, 4);
    static float wq[16], norm[8];   /* 64 and 32 bytes: the last tensor ends at end of file */
    for (int i = 0; i < 16; i++) wq[i] = (float)i - 7.5f;
    for (int i = 0; i < 8; i++) norm[i] = 1.0f + (float)i / 8;
    int64_t ne_wq[2] = {4, 4}, ne_norm[1] = {8};
    mlxn_gguf_writer_add_tensor(w, "blk.0.attn_q.weight", MLXN_TYPE_F32, 2, ne_wq, wq);
    mlxn_gguf_writer_add_tensor(w, "output_norm.weight", MLXN_TYPE_F32, 1, ne_norm, norm);
    void *mem = NULL;
    CHECK(mlxn_gguf_writer_write_memory(w, &mem, size) == MLXN_OK);
    mlxn_gguf_writer_free(w);
    mlxn_gguf_t *g = NULL;
    CHECK(mlxn_gguf_open_memory(mem, *size, &g) == MLXN_OK);
    *header_end = mlxn_gguf_data_offset(g);
    mlxn_gguf_free(g);
    return mem;
}

static void test_truncation(void) {
    size_t size;
    uint64_t hdr;
    uint8_t *mem = make_valid(&size, &hdr);
    int ok_fail = 0, crashed_msg = 0;
    for (size_t n = 0; n < size; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, mem, n);
        mlxn_gguf_t *g = NULL;
        mlxn_status st = mlxn_gguf_open_memory(copy, n, &g);
        const char *msg = mlxn_last_error();
        if (st == MLXN_ERR_FORMAT && !g && strstr(msg, "file offset") &&
            (strstr(msg, "truncated") || strstr(msg, "bytes left") || strstr(msg, "past the end")))
            ok_fail++;
        else {
            crashed_msg++;
            if (crashed_msg < 5) fprintf(stderr, "truncated at %zu: status %d, %s\n", n, st, msg);
        }
        mlxn_gguf_free(g);
        free(copy);
    }
    CHECKF(ok_fail == (int)size, "%d of %zu truncations refused with a truncation message", ok_fail, size);
    CHECK(crashed_msg == 0);
    free(mem);
}

/* Flipping any single header byte must give OK or a clean error, never a crash; on OK every
 * tensor must still lie inside the buffer. Also: each byte set to 0xff. */
static void test_corruption(void) {
    size_t size;
    uint64_t hdr;
    uint8_t *mem = make_valid(&size, &hdr);
    int refused = 0, accepted = 0, bad = 0;
    for (size_t pos = 0; pos < hdr; pos++) {
        for (int mode = 0; mode < 3; mode++) {
            uint8_t *copy = malloc(size);
            memcpy(copy, mem, size);
            copy[pos] = mode == 0 ? (uint8_t)(copy[pos] ^ 0x80) : mode == 1 ? 0xff : (uint8_t)(copy[pos] + 1);
            mlxn_gguf_t *g = NULL;
            mlxn_status st = mlxn_gguf_open_memory(copy, size, &g);
            if (st == MLXN_OK) {
                accepted++;
                for (int64_t i = 0; i < mlxn_gguf_tensor_count(g); i++) {
                    mlxn_gguf_tensor t;
                    mlxn_gguf_get_tensor(g, i, &t);
                    const uint8_t *d = t.data;
                    if (d < copy || d + t.nbytes > copy + size) bad++;
                }
                mlxn_gguf_free(g);
            } else {
                refused++;
                if (g || !mlxn_last_error()[0]) bad++;
            }
            free(copy);
        }
    }
    CHECKF(bad == 0, "%d corrupted files handled badly", bad);
    CHECKF(refused > accepted, "refused %d, accepted %d", refused, accepted);
    printf("corruption: %d refused, %d accepted (values changed but still valid)\n", refused, accepted);
    free(mem);
}

static void test_open_errors(void) {
    mlxn_gguf_t *g = (mlxn_gguf_t *)1;
    CHECK(mlxn_gguf_open("/nonexistent/file.gguf", &g) == MLXN_ERR_NOT_FOUND && g == NULL);
    CHECK(strstr(mlxn_last_error(), "/nonexistent/file.gguf") != NULL);
    CHECK(mlxn_gguf_open(MLXN_SOURCE_DIR, &g) == MLXN_ERR_IO && g == NULL);   /* a directory */
    CHECK(mlxn_gguf_open(NULL, &g) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_open_memory(NULL, 10, &g) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_gguf_open_memory("GGUF", 4, NULL) == MLXN_ERR_INVALID_ARG);
    /* an empty file on disk */
    char path[4096];
    snprintf(path, sizeof path, "%s/test_gguf_empty.gguf", MLXN_BINARY_DIR);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    CHECK(mlxn_gguf_open(path, &g) == MLXN_ERR_FORMAT && g == NULL);
    CHECK(strstr(mlxn_last_error(), "test_gguf_empty.gguf") && strstr(mlxn_last_error(), "truncated"));
    remove(path);
}

int main(void) {
    test_builder_valid();
    test_cases();
    test_truncation();
    test_corruption();
    test_open_errors();
    return tu_finish();
}
