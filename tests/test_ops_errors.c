/* Bad op calls return the right status and a message naming the problem, on every CPU backend:
 * mismatched shapes, unsupported types, wrong dtypes, ids and positions out of range, tensors
 * outside their buffer or on another backend, bad parameters, bad backend names. */
#include "backend/backend.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

typedef struct arena {
    mlxn_backend_t *be;
    mlxn_buffer_t *buf;
    size_t used;
} arena;

/* A contiguous tensor in the arena, filled with small nonzero values (f32) or 1s (i32). */
static mlxn_tensor T(arena *a, mlxn_type type, int nd, int64_t ne0, int64_t ne1, int64_t ne2) {
    mlxn_tensor t;
    int64_t ne[3] = {ne0, ne1, ne2};
    size_t off = (a->used + 63) & ~(size_t)63;
    if (mlxn_tensor_init(&t, a->buf, off, type, nd, ne) != MLXN_OK) {
        fprintf(stderr, "tensor_init: %s\n", mlxn_last_error());
        exit(2);
    }
    size_t n = mlxn_tensor_desc_nbytes(&t.d);
    unsigned char *p = (unsigned char *)mlxn_buffer_host_ptr(a->buf) + off;
    if (type == MLXN_TYPE_F32)
        for (size_t i = 0; i < n / 4; i++) ((float *)p)[i] = 0.25f + (float)(i % 7) * 0.125f;
    else if (type == MLXN_TYPE_I32)
        for (size_t i = 0; i < n / 4; i++) ((int32_t *)p)[i] = 1;
    else
        memset(p, 0x11, n);
    a->used = off + n;
    return t;
}

static void set_i32(const mlxn_tensor *t, int64_t i, int32_t v) {
    ((int32_t *)((char *)mlxn_buffer_host_ptr(t->buf) + t->offset))[i] = v;
}

/* The status is `want` and the message (global and on the backend) contains `needle`. */
static void expect(mlxn_backend_t *be, mlxn_status st, mlxn_status want, const char *needle, const char *what) {
    CHECKF(st == want, "%s on %s: got %s (%s), want %s", what, mlxn_backend_name(be), mlxn_status_str(st), mlxn_last_error(),
           mlxn_status_str(want));
    CHECKF(strstr(mlxn_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, mlxn_last_error(), needle);
    if (be) CHECKF(!strcmp(mlxn_backend_last_error(be), mlxn_last_error()), "%s: backend keeps the message", what);
}

static void test_backend(const char *name) {
    arena a = {0};
    if (!CHECKF(mlxn_backend_open(name, &a.be) == MLXN_OK, "open %s: %s", name, mlxn_last_error())) return;
    CHECK(mlxn_buffer_alloc(a.be, 1 << 22, &a.buf) == MLXN_OK);
    mlxn_backend_t *be = a.be;

    /* ---- mul_mat ---- */
    mlxn_weight W = {.w = T(&a, MLXN_TYPE_F32, 2, 64, 8, 1)};
    mlxn_tensor x = T(&a, MLXN_TYPE_F32, 2, 64, 3, 1), y = T(&a, MLXN_TYPE_F32, 2, 8, 3, 1);
    CHECK(mlxn_op_mul_mat(be, &W, &x, &y) == MLXN_OK);
    mlxn_tensor x32 = T(&a, MLXN_TYPE_F32, 2, 32, 3, 1);
    expect(be, mlxn_op_mul_mat(be, &W, &x32, &y), MLXN_ERR_SHAPE, "mul_mat: x", "mul_mat k mismatch");
    mlxn_tensor y9 = T(&a, MLXN_TYPE_F32, 2, 9, 3, 1);
    expect(be, mlxn_op_mul_mat(be, &W, &x, &y9), MLXN_ERR_SHAPE, "mul_mat: y", "mul_mat rows mismatch");
    mlxn_tensor x16 = T(&a, MLXN_TYPE_F16, 2, 64, 3, 1);
    expect(be, mlxn_op_mul_mat(be, &W, &x16, &y), MLXN_ERR_TYPE, "x is f16, must be f32", "mul_mat f16 activations");
    mlxn_weight Wi = {.w = T(&a, MLXN_TYPE_I32, 2, 64, 8, 1)};
    expect(be, mlxn_op_mul_mat(be, &Wi, &x, &y), MLXN_ERR_UNSUPPORTED, "type i32 is not supported", "mul_mat i32 weight");
    mlxn_weight Wiq = {.w = T(&a, MLXN_TYPE_IQ2_XXS, 2, 256, 8, 1)};
    mlxn_tensor x256 = T(&a, MLXN_TYPE_F32, 2, 256, 3, 1);
    expect(be, mlxn_op_mul_mat(be, &Wiq, &x256, &y), MLXN_ERR_UNSUPPORTED, "iq2_xxs", "mul_mat undecodable type");

    /* MLX weight: wrong bits for the type; scales of the wrong shape */
    mlxn_weight Wm = {.w = T(&a, MLXN_TYPE_MLX_Q4, 2, 64, 8, 1), .scales = T(&a, MLXN_TYPE_F16, 2, 2, 8, 1),
                      .biases = T(&a, MLXN_TYPE_F16, 2, 2, 8, 1), .quant = {MLXN_MLX_AFFINE, 3, 32, MLXN_TYPE_F16}};
    expect(be, mlxn_op_mul_mat(be, &Wm, &x, &y), MLXN_ERR_TYPE, "bits 3", "mul_mat mlx bits mismatch");
    Wm.quant.bits = 4;
    Wm.scales = T(&a, MLXN_TYPE_F16, 2, 3, 8, 1);
    expect(be, mlxn_op_mul_mat(be, &Wm, &x, &y), MLXN_ERR_SHAPE, "W.scales", "mul_mat mlx scales shape");

    /* ---- mul_mat_fused ---- */
    {
        mlxn_tensor nw = T(&a, MLXN_TYPE_F32, 1, 64, 1, 1), up = T(&a, MLXN_TYPE_F32, 2, 64, 3, 1);
        mlxn_tensor add = T(&a, MLXN_TYPE_F32, 2, 8, 3, 1);
        mlxn_mm_fusion f = {.norm_w = &nw, .eps = 1e-5f, .add = &add};
        CHECK(mlxn_op_mul_mat_fused(be, &W, &x, &f, &y) == MLXN_OK);
        f.add = &y;   /* the residual update x += W . h */
        CHECK(mlxn_op_mul_mat_fused(be, &W, &x, &f, &y) == MLXN_OK);
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, NULL, &y), MLXN_ERR_INVALID_ARG, "fusion descriptor is NULL", "fused NULL f");
        f.up = &up;
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_INVALID_ARG, "exclusive", "fused norm and glu");
        f = (mlxn_mm_fusion){.norm_w = &x32, .eps = 1e-5f};
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_SHAPE, "norm_w", "fused norm_w length");
        f.norm_w = &nw;
        f.eps = -1.0f;
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_INVALID_ARG, "eps", "fused negative eps");
        f = (mlxn_mm_fusion){.up = &x256, .glu = MLXN_GLU_SWIGLU};
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_SHAPE, "up", "fused up shape");
        f = (mlxn_mm_fusion){.up = &up, .glu = (mlxn_glu)7};
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_INVALID_ARG, "glu", "fused unknown glu");
        f = (mlxn_mm_fusion){.add = &y9};
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_SHAPE, "add", "fused add shape");
        mlxn_tensor shifted = y;   /* y moved by one element: overlaps y without being y */
        shifted.offset += 4;
        f = (mlxn_mm_fusion){.add = &shifted};
        expect(be, mlxn_op_mul_mat_fused(be, &W, &x, &f, &y), MLXN_ERR_INVALID_ARG, "overlaps y", "fused add overlapping y");
        expect(be, mlxn_op_mul_mat_fused(be, &Wi, &x, &f, &y), MLXN_ERR_UNSUPPORTED, "type i32 is not supported", "fused i32 weight");
    }

    /* ---- tensors and buffers ---- */
    mlxn_tensor out = x;
    out.offset = mlxn_buffer_size(a.buf) - 100;
    expect(be, mlxn_op_mul_mat(be, &W, &out, &y), MLXN_ERR_SHAPE, "outside the buffer", "tensor past the end");
    mlxn_tensor strided = x;
    strided.d.nb[0] = 8;
    expect(be, mlxn_op_mul_mat(be, &W, &strided, &y), MLXN_ERR_SHAPE, "nb[0]", "non-contiguous rows");
    mlxn_tensor nobuf = x;
    nobuf.buf = NULL;
    expect(be, mlxn_op_mul_mat(be, &W, &nobuf, &y), MLXN_ERR_INVALID_ARG, "no buffer", "tensor without buffer");
    mlxn_backend_t *other = NULL;
    mlxn_buffer_t *obuf = NULL;
    CHECK(mlxn_backend_open("ref", &other) == MLXN_OK && mlxn_buffer_alloc(other, 4096, &obuf) == MLXN_OK);
    mlxn_tensor foreign;
    CHECK(mlxn_tensor_init(&foreign, obuf, 0, MLXN_TYPE_F32, 2, (int64_t[]){64, 3}) == MLXN_OK);
    expect(be, mlxn_op_mul_mat(be, &W, &foreign, &y), MLXN_ERR_INVALID_ARG, "belongs to backend", "buffer of another backend");
    mlxn_buffer_free(obuf);
    mlxn_backend_free(other);
    mlxn_tensor big;
    expect(NULL, mlxn_tensor_init(&big, a.buf, 0, MLXN_TYPE_F32, 2, (int64_t[]){1 << 20, 8}), MLXN_ERR_SHAPE, "does not fit", "tensor_init too big");
    mlxn_buffer_t *view = NULL;
    expect(be, mlxn_buffer_view(a.buf, mlxn_buffer_size(a.buf) - 8, 64, &view), MLXN_ERR_SHAPE, "outside the parent", "view past the end");
    CHECK(view == NULL);
    expect(be, mlxn_buffer_upload(a.buf, mlxn_buffer_size(a.buf), &x, 1), MLXN_ERR_SHAPE, "outside the buffer", "upload past the end");

    /* ---- mul_mat_id ---- */
    mlxn_weight We = {.w = T(&a, MLXN_TYPE_F32, 3, 64, 8, 4)};
    mlxn_tensor ids = T(&a, MLXN_TYPE_I32, 2, 2, 3, 1), xe = T(&a, MLXN_TYPE_F32, 3, 64, 1, 3), ye = T(&a, MLXN_TYPE_F32, 3, 8, 2, 3);
    CHECK(mlxn_op_mul_mat_id(be, &We, &ids, &xe, &ye) == MLXN_OK);
    set_i32(&ids, 3, 4);
    expect(be, mlxn_op_mul_mat_id(be, &We, &ids, &xe, &ye), MLXN_ERR_INVALID_ARG, "ids[1][1] = 4 outside [0, 4)", "expert id too large");
    set_i32(&ids, 3, -1);
    expect(be, mlxn_op_mul_mat_id(be, &We, &ids, &xe, &ye), MLXN_ERR_INVALID_ARG, "= -1 outside", "negative expert id");
    set_i32(&ids, 3, 1);
    mlxn_tensor idsf = T(&a, MLXN_TYPE_F32, 2, 2, 3, 1);
    expect(be, mlxn_op_mul_mat_id(be, &We, &idsf, &xe, &ye), MLXN_ERR_TYPE, "ids is f32, must be i32", "f32 ids");
    mlxn_tensor xe3 = T(&a, MLXN_TYPE_F32, 3, 64, 3, 3);
    expect(be, mlxn_op_mul_mat_id(be, &We, &ids, &xe3, &ye), MLXN_ERR_SHAPE, "must be 1 (broadcast) or top_k", "x slots mismatch");

    /* ---- get_rows ---- */
    mlxn_tensor rid = T(&a, MLXN_TYPE_I32, 1, 5, 1, 1), ry = T(&a, MLXN_TYPE_F32, 2, 64, 5, 1);
    CHECK(mlxn_op_get_rows(be, &W, &rid, &ry) == MLXN_OK);
    set_i32(&rid, 2, 8);
    expect(be, mlxn_op_get_rows(be, &W, &rid, &ry), MLXN_ERR_INVALID_ARG, "ids[2] = 8 outside [0, 8)", "row id too large");

    /* ---- kv_write / attention ---- */
    mlxn_tensor src = T(&a, MLXN_TYPE_F32, 3, 64, 2, 3), pos = T(&a, MLXN_TYPE_I32, 1, 3, 1, 1);
    mlxn_tensor kc = T(&a, MLXN_TYPE_F16, 3, 64, 16, 2), vc = T(&a, MLXN_TYPE_F16, 3, 64, 16, 2);
    CHECK(mlxn_op_kv_write(be, &src, &pos, &kc) == MLXN_OK);
    set_i32(&pos, 1, 16);
    expect(be, mlxn_op_kv_write(be, &src, &pos, &kc), MLXN_ERR_INVALID_ARG, "pos[1] = 16 outside the cache's [0, 16)", "kv pos >= n_ctx");
    set_i32(&pos, 1, 1);
    mlxn_tensor kq = T(&a, MLXN_TYPE_Q8_0, 3, 64, 16, 2);
    expect(be, mlxn_op_kv_write(be, &src, &pos, &kq), MLXN_ERR_UNSUPPORTED, "cache type q8_0", "q8_0 cache");
    mlxn_tensor q = T(&a, MLXN_TYPE_F32, 3, 64, 4, 3), o = T(&a, MLXN_TYPE_F32, 3, 64, 4, 3);
    mlxn_attn_params ap = {0.125f, 0, 0, 0};
    CHECK(mlxn_op_attention(be, &q, &kc, &vc, &pos, &ap, &o) == MLXN_OK);
    mlxn_attn_params apf = {0.125f, 0, 0, 0x6u};
    expect(be, mlxn_op_attention(be, &q, &kc, &vc, &pos, &apf, &o), MLXN_ERR_INVALID_ARG, "unknown flags 0x6", "attention flags");
    set_i32(&pos, 2, 16);
    expect(be, mlxn_op_attention(be, &q, &kc, &vc, &pos, &ap, &o), MLXN_ERR_INVALID_ARG, "q_pos[2] = 16", "q_pos >= n_ctx");
    set_i32(&pos, 2, 2);
    mlxn_tensor q6 = T(&a, MLXN_TYPE_F32, 3, 64, 3, 3), o6 = T(&a, MLXN_TYPE_F32, 3, 64, 3, 3);
    expect(be, mlxn_op_attention(be, &q6, &kc, &vc, &pos, &ap, &o6), MLXN_ERR_SHAPE, "not a multiple of 2 kv heads", "GQA ratio");
    mlxn_tensor vc32 = T(&a, MLXN_TYPE_F32, 3, 64, 16, 2);
    expect(be, mlxn_op_attention(be, &q, &kc, &vc32, &pos, &ap, &o), MLXN_ERR_TYPE, "v_cache is f32 but k_cache is f16", "k/v types");
    mlxn_tensor q96 = T(&a, MLXN_TYPE_F32, 3, 96, 4, 3), k96 = T(&a, MLXN_TYPE_F16, 3, 96, 16, 2), o96 = T(&a, MLXN_TYPE_F32, 3, 96, 4, 3);
    expect(be, mlxn_op_attention(be, &q96, &k96, &k96, &pos, &ap, &o96), MLXN_ERR_UNSUPPORTED, "head dims 96", "head dim 96");
    ap.window = -1;
    expect(be, mlxn_op_attention(be, &q, &kc, &vc, &pos, &ap, &o), MLXN_ERR_INVALID_ARG, "window -1", "negative window");

    /* ---- rope, norms, elementwise, softmax ---- */
    mlxn_rope_params rp = {MLXN_ROPE_NEOX, 63, 10000.0f, 1.0f};
    mlxn_tensor rx = T(&a, MLXN_TYPE_F32, 3, 64, 2, 3);
    expect(be, mlxn_op_rope(be, &rx, &pos, NULL, &rp, &rx), MLXN_ERR_INVALID_ARG, "n_rot = 63", "odd n_rot");
    rp.n_rot = 64;
    mlxn_tensor ff = T(&a, MLXN_TYPE_F32, 1, 31, 1, 1);
    expect(be, mlxn_op_rope(be, &rx, &pos, &ff, &rp, &rx), MLXN_ERR_SHAPE, "freq_factors", "freq_factors length");
    /* rope_kv: q {64, 4, 3}, k and v {64, 2, 3} (rx's first two heads), caches {64, 16, 2} */
    mlxn_tensor rq = T(&a, MLXN_TYPE_F32, 3, 64, 4, 3), rk = T(&a, MLXN_TYPE_F32, 3, 64, 2, 3);
    CHECK(mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kc, &vc) == MLXN_OK);
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kc, &vc32), MLXN_ERR_TYPE, "rope_kv: v_cache is f32 but k_cache is f16",
           "rope_kv k/v cache types");
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kq, &kq), MLXN_ERR_UNSUPPORTED, "cache type q8_0", "rope_kv q8_0 cache");
    expect(be, mlxn_op_rope_kv(be, &rq, &q96, &rx, &pos, NULL, &rp, &rq, &kc, &vc), MLXN_ERR_SHAPE, "rope_kv: k", "rope_kv k head dim");
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rx, &kc, &vc), MLXN_ERR_SHAPE, "q_out", "rope_kv q_out shape");
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &k96, &vc), MLXN_ERR_SHAPE, "rope_kv: k_cache", "rope_kv k cache shape");
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, &ff, &rp, &rq, &kc, &vc), MLXN_ERR_SHAPE, "freq_factors", "rope_kv freq_factors");
    rp.n_rot = 66;
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kc, &vc), MLXN_ERR_INVALID_ARG, "rope_kv: n_rot = 66", "rope_kv n_rot");
    rp.n_rot = 64;
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, NULL, &rq, &kc, &vc), MLXN_ERR_INVALID_ARG, "params are NULL", "rope_kv params");
    set_i32(&pos, 0, 16);
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kc, &vc), MLXN_ERR_INVALID_ARG, "rope_kv: pos[0] = 16 outside",
           "rope_kv pos >= n_ctx");
    set_i32(&pos, 0, -1);
    expect(be, mlxn_op_rope_kv(be, &rq, &rk, &rx, &pos, NULL, &rp, &rq, &kc, &vc), MLXN_ERR_INVALID_ARG, "rope_kv: pos[0] = -1 outside",
           "rope_kv pos < 0");
    set_i32(&pos, 0, 1);
    mlxn_tensor w63 = T(&a, MLXN_TYPE_F32, 1, 63, 1, 1);
    expect(be, mlxn_op_rms_norm(be, &x, &w63, 1e-5f, &x), MLXN_ERR_SHAPE, "rms_norm: w", "norm weight length");
    mlxn_tensor b5 = T(&a, MLXN_TYPE_F32, 2, 64, 2, 1);
    expect(be, mlxn_op_add(be, &x, &b5, &x), MLXN_ERR_SHAPE, "does not broadcast", "add broadcast");
    mlxn_tensor m2 = T(&a, MLXN_TYPE_F32, 2, 63, 3, 1);
    expect(be, mlxn_op_softmax(be, &x, &m2, 1.0f, 0.0f, &x), MLXN_ERR_SHAPE, "mask", "softmax mask shape");
    expect(be, mlxn_op_unary(be, (mlxn_unary)7, &x, &x), MLXN_ERR_INVALID_ARG, "unknown function 7", "unary fn");

    /* ---- routing and selection ---- */
    mlxn_tensor lg = T(&a, MLXN_TYPE_F32, 2, 8, 3, 1), rid2 = T(&a, MLXN_TYPE_I32, 2, 9, 3, 1), rw = T(&a, MLXN_TYPE_F32, 2, 9, 3, 1);
    mlxn_moe_route_params mp = {MLXN_MOE_SOFTMAX, 9, true, 1.0f};
    expect(be, mlxn_op_moe_route(be, &lg, &mp, NULL, &rid2, &rw), MLXN_ERR_INVALID_ARG, "k = 9 outside 1..n_expert (8)", "route k > E");
    mlxn_tensor tk = T(&a, MLXN_TYPE_I32, 2, 1, 3, 1), tv = T(&a, MLXN_TYPE_F32, 2, 1, 3, 1);
    expect(be, mlxn_op_top_k(be, &x, 0, &tk, &tv), MLXN_ERR_INVALID_ARG, "k = 0 outside", "top_k k = 0");
    mlxn_tensor am = T(&a, MLXN_TYPE_F32, 1, 3, 1, 1);
    expect(be, mlxn_op_argmax(be, &x, &am), MLXN_ERR_TYPE, "out is f32, must be i32", "argmax f32 output");
    /* argmax_advance: x f32 {n, 1}, step i32 {2}, hist i32 {cap}, all disjoint. The arena's
     * values repeat every 7 with the maximum first at index 6: ties go to the lowest index. */
    mlxn_tensor ax = T(&a, MLXN_TYPE_F32, 1, 50, 1, 1), ast = T(&a, MLXN_TYPE_I32, 1, 2, 1, 1), ah = T(&a, MLXN_TYPE_I32, 1, 4, 1, 1);
    set_i32(&ast, 0, 9);
    set_i32(&ast, 1, 6);
    for (int i = 0; i < 4; i++) set_i32(&ah, i, -1);
    CHECK(mlxn_op_argmax_advance(be, &ax, &ast, &ah) == MLXN_OK);
    const int32_t *sp = (const int32_t *)((char *)mlxn_buffer_host_ptr(a.buf) + ast.offset);
    const int32_t *hp = (const int32_t *)((char *)mlxn_buffer_host_ptr(a.buf) + ah.offset);
    CHECKF(sp[0] == 6 && sp[1] == 7 && hp[3] == 6 && hp[0] == -1 && hp[1] == -1 && hp[2] == -1,
           "argmax_advance: step {%d, %d}, hist {%d, %d, %d, %d}", sp[0], sp[1], hp[0], hp[1], hp[2], hp[3]);
    mlxn_tensor ax2 = T(&a, MLXN_TYPE_F32, 2, 50, 2, 1), ast3 = T(&a, MLXN_TYPE_I32, 1, 3, 1, 1), astf = T(&a, MLXN_TYPE_F32, 1, 2, 1, 1);
    mlxn_tensor ah2 = T(&a, MLXN_TYPE_I32, 2, 4, 2, 1), ahf = T(&a, MLXN_TYPE_F32, 1, 4, 1, 1);
    expect(be, mlxn_op_argmax_advance(be, &ax2, &ast, &ah), MLXN_ERR_SHAPE, "argmax_advance: x has ne", "argmax_advance two rows");
    expect(be, mlxn_op_argmax_advance(be, &ast, &ast, &ah), MLXN_ERR_TYPE, "argmax_advance: x is i32, must be f32", "argmax_advance i32 x");
    expect(be, mlxn_op_argmax_advance(be, &ax, &ast3, &ah), MLXN_ERR_SHAPE, "argmax_advance: step has ne", "argmax_advance step {3}");
    expect(be, mlxn_op_argmax_advance(be, &ax, &astf, &ah), MLXN_ERR_TYPE, "argmax_advance: step is f32, must be i32", "argmax_advance f32 step");
    expect(be, mlxn_op_argmax_advance(be, &ax, &ast, &ah2), MLXN_ERR_SHAPE, "argmax_advance: hist has ne", "argmax_advance hist {4, 2}");
    expect(be, mlxn_op_argmax_advance(be, &ax, &ast, &ahf), MLXN_ERR_TYPE, "argmax_advance: hist is f32, must be i32", "argmax_advance f32 hist");
    mlxn_tensor ah_on_step = ast;   /* hist {2} on the very bytes of step */
    expect(be, mlxn_op_argmax_advance(be, &ax, &ast, &ah_on_step), MLXN_ERR_INVALID_ARG, "argmax_advance: step and hist overlap",
           "argmax_advance hist on step");
    mlxn_tensor ast_in_x = ax;   /* step {2} inside the logits */
    ast_in_x.d.type = MLXN_TYPE_I32;
    ast_in_x.d.ne[0] = 2;
    ast_in_x.offset += 16;
    expect(be, mlxn_op_argmax_advance(be, &ax, &ast_in_x, &ah), MLXN_ERR_INVALID_ARG, "argmax_advance: x and step overlap",
           "argmax_advance step in x");
    CHECK(mlxn_op_argmax_advance(NULL, &ax, &ast, &ah) == MLXN_ERR_INVALID_ARG);
    mlxn_tensor cq = T(&a, MLXN_TYPE_Q8_0, 2, 64, 3, 1);
    expect(be, mlxn_op_copy(be, &x, &cq), MLXN_ERR_TYPE, "dst is q8_0", "copy to q8_0");

    CHECK(mlxn_op_mul_mat(NULL, &W, &x, &y) == MLXN_ERR_INVALID_ARG);
    mlxn_buffer_free(a.buf);
    mlxn_backend_free(be);
}

static void test_open(void) {
    mlxn_backend_t *be = (mlxn_backend_t *)1;
    expect(NULL, mlxn_backend_open("nope", &be), MLXN_ERR_NOT_FOUND, "unknown backend 'nope'", "open unknown");
    CHECK(be == NULL);
    expect(NULL, mlxn_backend_open("cuda:x", &be), MLXN_ERR_INVALID_ARG, "cuda:N", "open cuda:x");
    expect(NULL, mlxn_backend_open("cuda:99", &be), MLXN_ERR_NO_DEVICE, "cuda:99", "open cuda:99");
    mlxn_device_info info;
    expect(NULL, mlxn_device_get_info(mlxn_device_count(), &info), MLXN_ERR_NO_DEVICE, "does not exist", "device past the end");
}

int main(void) {
    test_open();
    test_backend("ref");
    test_backend("cpu");
    return tu_finish();
}
