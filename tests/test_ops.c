/* test-ops: every op x type x shape on a backend under test, checked against the reference
 * backend "ref" on the same random inputs (never zeros). Outputs are poisoned with NaN (ids with
 * -1) before each run, so an unwritten element fails; a NaN/Inf output fails; f32 outputs must
 * meet a normalised MSE bound set per op (docs/ops.md says why each bound is what it is); id
 * outputs must match exactly. One line per failure, then "N passed, N failed".
 *
 *   test_ops [-b BACKEND] [-o OP] [-t TYPE] [--list] [--seed N] [--full] [-v]
 */
#include "backend/cpu/ref_util.h"
#include "formats/blocks.h"
#include "testutil.h"
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ==========================================================================
 * Harness state and tensor pairs (one copy on the backend under test, one on ref)
 * ========================================================================== */

typedef struct ht {
    mlxn_buffer_t *b[2];
    mlxn_tensor t[2];
    unsigned char *host;   /* initial bytes; after download: the backend's result */
    unsigned char *ref;    /* after download: ref's result */
    size_t bytes;
} ht;

typedef struct harness {
    mlxn_backend_t *be[2];   /* [0] under test, [1] ref */
    tu_rng rng;
    const char *name;        /* current case */
    bool case_failed;
    ht *live[32];
    int n_live;
} harness;

static bool verbose;

static void case_fail(harness *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void case_fail(harness *h, const char *fmt, ...) {
    if (h->case_failed) return;   /* one line per failing case */
    h->case_failed = true;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL %s: ", h->name);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* A tensor {ne0, ne1, ne2, ne3} of type; pad > 0 widens every row by pad elements (a strided,
 * non-contiguous view). */
static ht *ht_new(harness *h, mlxn_type type, int nd, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, int pad) {
    ht *x = calloc(1, sizeof *x);
    const mlxn_type_traits *tt = mlxn_type_info(type);
    mlxn_tensor_desc d = {.type = type, .n_dims = nd, .ne = {ne0, ne1, ne2, ne3}};
    d.nb[0] = tt->block_bytes;
    d.nb[1] = mlxn_row_size(type, ne0) + (size_t)pad * tt->block_bytes;
    for (int i = 2; i < 4; i++) d.nb[i] = d.nb[i - 1] * (size_t)d.ne[i - 1];
    x->bytes = d.nb[3] * (size_t)ne3;
    x->host = malloc(x->bytes);
    x->ref = malloc(x->bytes);
    for (size_t i = 0; i < x->bytes; i++) x->host[i] = (unsigned char)tu_rng_u64(&h->rng);   /* padding: garbage */
    for (int s = 0; s < 2; s++) {
        if (mlxn_buffer_alloc(h->be[s], x->bytes, &x->b[s]) != MLXN_OK) {
            fprintf(stderr, "buffer_alloc failed: %s\n", mlxn_last_error());
            exit(2);
        }
        x->t[s].buf = x->b[s];
        x->t[s].offset = 0;
        x->t[s].d = d;
    }
    h->live[h->n_live++] = x;
    return x;
}

static void ht_free(ht *x) {
    for (int s = 0; s < 2; s++) mlxn_buffer_free(x->b[s]);
    free(x->host);
    free(x->ref);
    free(x);
}

static void ht_upload(ht *x) {
    for (int s = 0; s < 2; s++) mlxn_buffer_upload(x->b[s], 0, x->host, x->bytes);
}

static size_t ht_off(const ht *x, int64_t i0, int64_t i1, int64_t i2, int64_t i3) {
    const mlxn_tensor_desc *d = &x->t[0].d;
    return (size_t)i0 * mlxn_type_info(d->type)->block_bytes / (size_t)mlxn_type_info(d->type)->block_elems +
           (size_t)i1 * d->nb[1] + (size_t)i2 * d->nb[2] + (size_t)i3 * d->nb[3];
}

#define FOR_EACH(x, i0, i1, i2, i3)                                  \
    for (int64_t i3 = 0; i3 < (x)->t[0].d.ne[3]; i3++)                \
        for (int64_t i2 = 0; i2 < (x)->t[0].d.ne[2]; i2++)            \
            for (int64_t i1 = 0; i1 < (x)->t[0].d.ne[1]; i1++)        \
                for (int64_t i0 = 0; i0 < (x)->t[0].d.ne[0]; i0++)

/* A nonzero normal sample times scale. */
static float rnd(harness *h, float scale) {
    float v = tu_rng_normal(&h->rng);
    if (fabsf(v) < 1e-2f) v = v < 0 ? -0.5f : 0.5f;
    return v * scale;
}

/* Random floats (f32/f16/bf16) times scale, uploaded. */
static ht *ht_rand(harness *h, mlxn_type type, int nd, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, int pad, float scale) {
    ht *x = ht_new(h, type, nd, ne0, ne1, ne2, ne3, pad);
    FOR_EACH(x, i0, i1, i2, i3) mlxn_store_f(type, x->host + ht_off(x, 0, i1, i2, i3), i0, rnd(h, scale));
    ht_upload(x);
    return x;
}

/* i32 {n, rows}: values from vals (contiguous), uploaded. */
static ht *ht_i32(harness *h, int nd, int64_t n, int64_t rows, const int32_t *vals) {
    ht *x = ht_new(h, MLXN_TYPE_I32, nd, n, rows, 1, 1, 0);
    memcpy(x->host, vals, (size_t)(n * rows) * sizeof(int32_t));
    ht_upload(x);
    return x;
}

/* An output: every byte 0xff (f32/f16/bf16 NaN, i32 -1). */
static ht *ht_out(harness *h, mlxn_type type, int nd, int64_t ne0, int64_t ne1, int64_t ne2, int64_t ne3, int pad) {
    ht *x = ht_new(h, type, nd, ne0, ne1, ne2, ne3, pad);
    memset(x->host, 0xff, x->bytes);
    ht_upload(x);
    return x;
}

static void ht_download(ht *x) {
    mlxn_buffer_download(x->b[0], 0, x->host, x->bytes);
    mlxn_buffer_download(x->b[1], 0, x->ref, x->bytes);
}

/* Compares the backend's f32/f16/bf16 output with ref's: finite, NMSE <= bound. */
static void cmp_f(harness *h, ht *x, double bound, const char *what) {
    if (h->case_failed) return;
    ht_download(x);
    mlxn_type t = x->t[0].d.type;
    double err = 0, ref2 = 0;
    FOR_EACH(x, i0, i1, i2, i3) {
        size_t off = ht_off(x, 0, i1, i2, i3);
        float a = mlxn_load_f(t, x->host + off, i0), b = mlxn_load_f(t, x->ref + off, i0);
        if (!isfinite(b)) {
            case_fail(h, "%s[%lld,%lld,%lld,%lld]: reference gave %g", what, (long long)i0, (long long)i1, (long long)i2, (long long)i3, b);
            return;
        }
        if (!isfinite(a)) {
            case_fail(h, "%s[%lld,%lld,%lld,%lld] = %g (unwritten or not finite; ref %g)", what, (long long)i0, (long long)i1, (long long)i2,
                      (long long)i3, a, b);
            return;
        }
        err += ((double)a - b) * ((double)a - b);
        ref2 += (double)b * b;
    }
    double nmse = ref2 > 0 ? err / ref2 : err;
    if (verbose) printf("     %s: nmse %.3g (bound %.3g)\n", what, nmse, bound);
    if (!(nmse <= bound)) case_fail(h, "%s: nmse %.3g > bound %.3g", what, nmse, bound);
}

/* Compares i32 outputs exactly; every value must lie in [0, limit). */
static void cmp_i(harness *h, ht *x, int64_t limit, const char *what) {
    if (h->case_failed) return;
    ht_download(x);
    FOR_EACH(x, i0, i1, i2, i3) {
        size_t off = ht_off(x, i0, i1, i2, i3);
        int32_t a, b;
        memcpy(&a, x->host + off, 4);
        memcpy(&b, x->ref + off, 4);
        if (a < 0 || a >= limit) {
            case_fail(h, "%s[%lld,%lld] = %d (unwritten or outside [0, %lld))", what, (long long)i0, (long long)i1, (int)a, (long long)limit);
            return;
        }
        if (a != b) {
            case_fail(h, "%s[%lld,%lld] = %d, ref %d", what, (long long)i0, (long long)i1, (int)a, (int)b);
            return;
        }
    }
}

/* Both runs must return OK. */
static bool ran(harness *h, const mlxn_status st[2]) {
    for (int s = 0; s < 2; s++)
        if (st[s] != MLXN_OK) {
            case_fail(h, "%s returned %s: %s", s ? "ref" : mlxn_backend_name(h->be[0]), mlxn_status_str(st[s]),
                      mlxn_backend_last_error(h->be[s]));
            return false;
        }
    return true;
}
#define RUN(call)                                                         \
    do {                                                                  \
        mlxn_status st_[2];                                               \
        for (int s = 0; s < 2; s++) st_[s] = (call);                      \
        if (!ran(h, st_)) return;                                         \
    } while (0)

/* ==========================================================================
 * Random weights: any decodable type, built from random bits with sane scale fields
 * ========================================================================== */

typedef struct hw {
    ht *w, *s, *b;
    mlxn_weight W[2];
} hw;

static uint16_t rnd_h(harness *h, float lo, float hi) { return mlxn_f32_to_fp16(lo + (hi - lo) * tu_rng_uniform(&h->rng)); }

/* Random quant bits are fine; the fp16 scales must be finite and modest. */
static void sanitize_block(harness *h, mlxn_type t, unsigned char *blk) {
#define SET_H(T, f, lo, hi)                                            \
    do {                                                               \
        uint16_t v_ = rnd_h(h, lo, hi);                                \
        memcpy(blk + offsetof(T, f), &v_, 2);                          \
    } while (0)
    switch (t) {
    case MLXN_TYPE_Q4_0: SET_H(mlxn_block_q4_0, d, 0.002f, 0.02f); break;
    case MLXN_TYPE_Q4_1: SET_H(mlxn_block_q4_1, d, 0.002f, 0.02f); SET_H(mlxn_block_q4_1, m, -0.1f, 0.0f); break;
    case MLXN_TYPE_Q5_0: SET_H(mlxn_block_q5_0, d, 0.002f, 0.02f); break;
    case MLXN_TYPE_Q5_1: SET_H(mlxn_block_q5_1, d, 0.002f, 0.02f); SET_H(mlxn_block_q5_1, m, -0.1f, 0.0f); break;
    case MLXN_TYPE_Q8_0: SET_H(mlxn_block_q8_0, d, 0.0002f, 0.002f); break;
    case MLXN_TYPE_Q8_1: SET_H(mlxn_block_q8_1, d, 0.0002f, 0.002f); SET_H(mlxn_block_q8_1, s, -1.0f, 1.0f); break;
    case MLXN_TYPE_Q2_K: SET_H(mlxn_block_q2_K, d, 0.001f, 0.01f); SET_H(mlxn_block_q2_K, dmin, 0.001f, 0.01f); break;
    case MLXN_TYPE_Q3_K: SET_H(mlxn_block_q3_K, d, 0.0005f, 0.005f); break;
    case MLXN_TYPE_Q4_K: SET_H(mlxn_block_q4_K, d, 0.0005f, 0.005f); SET_H(mlxn_block_q4_K, dmin, 0.0005f, 0.005f); break;
    case MLXN_TYPE_Q5_K: SET_H(mlxn_block_q5_K, d, 0.0005f, 0.005f); SET_H(mlxn_block_q5_K, dmin, 0.0005f, 0.005f); break;
    case MLXN_TYPE_Q6_K: SET_H(mlxn_block_q6_K, d, 0.0005f, 0.005f); break;
    case MLXN_TYPE_Q8_K: {
        float d = 0.0002f + 0.002f * tu_rng_uniform(&h->rng);
        memcpy(blk, &d, 4);
        break;
    }
    case MLXN_TYPE_IQ4_NL: SET_H(mlxn_block_iq4_nl, d, 0.0002f, 0.002f); break;
    case MLXN_TYPE_IQ4_XS: SET_H(mlxn_block_iq4_xs, d, 0.0002f, 0.002f); break;
    case MLXN_TYPE_MXFP4: blk[0] = (unsigned char)(118 + tu_rng_u64(&h->rng) % 8); break;
    default: break;
    }
#undef SET_H
}

/* W {k, rows, n_expert} of type t (q: MLX params when t is an MLX type). */
static hw make_weight(harness *h, mlxn_type t, const mlxn_mlx_quant *q, int64_t k, int64_t rows, int64_t n_expert) {
    hw r = {0};
    int nd = n_expert > 1 ? 3 : 2;
    const mlxn_type_traits *tt = mlxn_type_info(t);
    if (t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16) {
        r.w = ht_rand(h, t, nd, k, rows, n_expert, 1, 0, 0.1f);
    } else {
        r.w = ht_new(h, t, nd, k, rows, n_expert, 1, 0);   /* random bits already */
        if (tt->block_elems > 1 && !(t >= MLXN_TYPE_MLX_Q2 && t <= MLXN_TYPE_MLX_MXFP4))
            for (size_t off = 0; off < r.w->bytes; off += tt->block_bytes) sanitize_block(h, t, r.w->host + off);
        ht_upload(r.w);
        if (q) {
            int64_t g = k / q->group_size;
            if (q->mode == MLXN_MLX_MXFP4) {
                r.s = ht_new(h, MLXN_TYPE_U8, nd, g, rows, n_expert, 1, 0);
                for (size_t i = 0; i < r.s->bytes; i++) r.s->host[i] = (unsigned char)(118 + tu_rng_u64(&h->rng) % 8);
                ht_upload(r.s);
            } else {
                r.s = ht_new(h, q->scale_type, nd, g, rows, n_expert, 1, 0);
                r.b = ht_new(h, q->scale_type, nd, g, rows, n_expert, 1, 0);
                float smax = 0.1f / (float)((1 << q->bits) - 1);
                FOR_EACH(r.s, i0, i1, i2, i3) {
                    size_t off = ht_off(r.s, 0, i1, i2, i3);
                    mlxn_store_f(q->scale_type, r.s->host + off, i0, smax * (0.2f + tu_rng_uniform(&h->rng)));
                    mlxn_store_f(q->scale_type, r.b->host + off, i0, rnd(h, 0.05f));
                }
                ht_upload(r.s);
                ht_upload(r.b);
            }
        }
    }
    for (int s = 0; s < 2; s++) {
        r.W[s].w = r.w->t[s];
        if (r.s) r.W[s].scales = r.s->t[s];
        if (r.b) r.W[s].biases = r.b->t[s];
        if (q) r.W[s].quant = *q;
    }
    return r;
}

/* ==========================================================================
 * Cases
 * ========================================================================== */

typedef struct tcase {
    mlxn_op op;
    mlxn_type type;          /* main type: weight / cache / F32 */
    mlxn_mlx_quant q;        /* MLX weights */
    int64_t a[10];           /* op-specific sizes and switches (see each runner) */
    char name[160];
} tcase;

static tcase *cases;
static int n_cases, cap_cases;

static tcase *add_case(mlxn_op op, mlxn_type type, const mlxn_mlx_quant *q, const int64_t *a, int na, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static tcase *add_case(mlxn_op op, mlxn_type type, const mlxn_mlx_quant *q, const int64_t *a, int na, const char *fmt, ...) {
    if (n_cases == cap_cases) {
        cap_cases = cap_cases ? cap_cases * 2 : 256;
        cases = realloc(cases, (size_t)cap_cases * sizeof *cases);
    }
    tcase *c = &cases[n_cases++];
    memset(c, 0, sizeof *c);
    c->op = op;
    c->type = type;
    if (q) c->q = *q;
    memcpy(c->a, a, (size_t)na * sizeof(int64_t));
    va_list ap;
    va_start(ap, fmt);
    int n = snprintf(c->name, sizeof c->name, "%s %s ", mlxn_op_name(op), mlxn_type_name(type));
    vsnprintf(c->name + n, sizeof c->name - (size_t)n, fmt, ap);
    va_end(ap);
    return c;
}

/* Weight types: every decodable GGML type, f32/f16/bf16, MLX affine bits x group, MLX mxfp4. */
typedef struct wtype { mlxn_type t; mlxn_mlx_quant q; bool mlx; char label[48]; } wtype;
static wtype wtypes[96];
static int n_wtypes;

static void collect_wtypes(void) {
    for (int t = 0; t < MLXN_TYPE_COUNT; t++) {
        const mlxn_type_traits *tt = mlxn_type_info((mlxn_type)t);
        if (!tt || !mlxn_cpu_weight_type_ok((mlxn_type)t) || (t >= MLXN_TYPE_MLX_Q2 && t <= MLXN_TYPE_MLX_MXFP4)) continue;
        wtype *w = &wtypes[n_wtypes++];
        w->t = (mlxn_type)t;
        w->label[0] = 0;   /* the case name already shows the type */
    }
    static const int bits[] = {2, 3, 4, 5, 6, 8}, groups[] = {32, 64, 128};
    for (int b = 0; b < 6; b++)
        for (int g = 0; g < 3; g++) {
            wtype *w = &wtypes[n_wtypes++];
            w->t = (mlxn_type)(MLXN_TYPE_MLX_Q2 + bits[b] - 2);
            w->mlx = true;
            /* bf16 scales on every other combination, f16 on the rest */
            w->q = (mlxn_mlx_quant){MLXN_MLX_AFFINE, bits[b], groups[g], (b + g) % 2 ? MLXN_TYPE_BF16 : MLXN_TYPE_F16};
            snprintf(w->label, sizeof w->label, "g%d %s ", groups[g], mlxn_type_name(w->q.scale_type));
        }
    wtype *w = &wtypes[n_wtypes++];
    w->t = MLXN_TYPE_MLX_MXFP4;
    w->mlx = true;
    w->q = (mlxn_mlx_quant){MLXN_MLX_MXFP4, 4, 32, MLXN_TYPE_F8_E8M0};
    snprintf(w->label, sizeof w->label, "g32 e8m0 ");
}

/* Smallest legal k for a weight type: its block, or the MLX group; plain types get an odd 67
 * (k = 1 has its own case). */
static int64_t min_k(const wtype *w) {
    int64_t b = mlxn_type_info(w->t)->block_elems;
    if (b == 1) return 67;
    return w->mlx && w->q.group_size > b ? w->q.group_size : b;
}

static bool is_quant(mlxn_type t) { return t != MLXN_TYPE_F32 && t != MLXN_TYPE_F16 && t != MLXN_TYPE_BF16; }

/* Per-op NMSE bounds: docs/ops.md explains each. */
#define B_MATMUL_Q 5e-4
#define B_MATMUL_F 1e-5
#define B_MATMUL_Q_GLU 5e-3
#define B_EXACT 1e-12
#define B_ELEM 1e-7
#define B_ROPE 1e-9
#define B_ROPE_HALF 1e-8   /* rope_kv into an f16/bf16 cache: rare rounding flips */
#define B_ATTN 1e-5

/* ---- mul_mat: a = {k, rows, n, x_pad} ---------------------------------------------------- */
static void run_mul_mat(harness *h, const tcase *c) {
    int64_t k = c->a[0], rows = c->a[1], n = c->a[2];
    hw W = make_weight(h, c->type, c->q.bits ? &c->q : NULL, k, rows, 1);
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, k, n, 1, 1, (int)c->a[3], 1.0f);
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, rows, n, 1, 1, (int)c->a[3]);
    RUN(mlxn_op_mul_mat(h->be[s], &W.W[s], &x->t[s], &y->t[s]));
    cmp_f(h, y, is_quant(c->type) ? B_MATMUL_Q : B_MATMUL_F, "y");
}

/* ---- mul_mat_fused: a = {k, rows, n, prologue (0 none, 1 norm, 2 swiglu, 3 geglu),
 *      epilogue (0 none, 1 add, 2 add that is y itself), pad} ------------------------------- */
static const char *const FUSE_PRO[] = {"none", "norm", "swiglu", "geglu"}, *const FUSE_EPI[] = {"none", "add", "add=y"};

static void run_mul_mat_fused(harness *h, const tcase *c) {
    int64_t k = c->a[0], rows = c->a[1], n = c->a[2], pro = c->a[3], epi = c->a[4];
    int pad = (int)c->a[5];
    hw W = make_weight(h, c->type, c->q.bits ? &c->q : NULL, k, rows, 1);
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, k, n, 1, 1, pad, 1.0f);
    /* norm weights as models have them (positive, around 1): a product of two normals would be
     * heavy-tailed and measure the activation quantization of the backend, not the fusion */
    ht *nw = NULL;
    if (pro == 1) {
        nw = ht_new(h, MLXN_TYPE_F32, 1, k, 1, 1, 1, 0);
        for (int64_t i = 0; i < k; i++) ((float *)nw->host)[i] = 0.5f + tu_rng_uniform(&h->rng);
        ht_upload(nw);
    }
    ht *up = pro >= 2 ? ht_rand(h, MLXN_TYPE_F32, 2, k, n, 1, 1, pad, 1.0f) : NULL;
    ht *y = epi == 2 ? ht_rand(h, MLXN_TYPE_F32, 2, rows, n, 1, 1, pad, 0.5f) : ht_out(h, MLXN_TYPE_F32, 2, rows, n, 1, 1, pad);
    ht *add = epi == 1 ? ht_rand(h, MLXN_TYPE_F32, 2, rows, n, 1, 1, pad, 0.5f) : epi == 2 ? y : NULL;
    mlxn_mm_fusion f[2];
    for (int s = 0; s < 2; s++)
        f[s] = (mlxn_mm_fusion){nw ? &nw->t[s] : NULL, 1e-5f, up ? &up->t[s] : NULL, pro == 3 ? MLXN_GLU_GEGLU : MLXN_GLU_SWIGLU,
                                add ? &add->t[s] : NULL};
    RUN(mlxn_op_mul_mat_fused(h->be[s], &W.W[s], &x->t[s], &f[s], &y->t[s]));
    cmp_f(h, y, !is_quant(c->type) ? B_MATMUL_F : pro >= 2 ? B_MATMUL_Q_GLU : B_MATMUL_Q, "y");
}

/* ---- mul_mat_id: a = {k, rows, n_expert, top_k, n_tok, broadcast_x} --------------------- */
static void run_mul_mat_id(harness *h, const tcase *c) {
    int64_t k = c->a[0], rows = c->a[1], E = c->a[2], top_k = c->a[3], T = c->a[4], n_x = c->a[5] ? 1 : top_k;
    hw W = make_weight(h, c->type, c->q.bits ? &c->q : NULL, k, rows, E);
    int32_t ids[4096];
    for (int64_t t = 0; t < T; t++)   /* distinct experts per token, like a router */
        for (int64_t j = 0; j < top_k; j++) ids[t * top_k + j] = (int32_t)((t * 3 + j * 2 + (t % 2)) % E);
    ht *vi = ht_i32(h, 2, top_k, T, ids);
    ht *x = ht_rand(h, MLXN_TYPE_F32, 3, k, n_x, T, 1, 0, 1.0f);
    ht *y = ht_out(h, MLXN_TYPE_F32, 3, rows, top_k, T, 1, 0);
    RUN(mlxn_op_mul_mat_id(h->be[s], &W.W[s], &vi->t[s], &x->t[s], &y->t[s]));
    cmp_f(h, y, is_quant(c->type) ? B_MATMUL_Q : B_MATMUL_F, "y");
}

/* ---- get_rows: a = {k, n_rows, n} ---------------------------------------------------------- */
static void run_get_rows(harness *h, const tcase *c) {
    int64_t k = c->a[0], nr = c->a[1], n = c->a[2];
    hw W = make_weight(h, c->type, c->q.bits ? &c->q : NULL, k, nr, 1);
    int32_t ids[64];
    for (int64_t i = 0; i < n; i++) ids[i] = (int32_t)((i * 5 + 3) % nr);
    ht *vi = ht_i32(h, 1, n, 1, ids);
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, k, n, 1, 1, 0);
    RUN(mlxn_op_get_rows(h->be[s], &W.W[s], &vi->t[s], &y->t[s]));
    cmp_f(h, y, B_EXACT, "y");
}

/* ---- rms_norm / add_rms_norm: a = {n, rows, with_w, pad} ---------------------------------- */
static void run_rms_norm(harness *h, const tcase *c) {
    int64_t n = c->a[0], rows = c->a[1];
    int pad = (int)c->a[3];
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, pad, 1.0f);
    ht *w = c->a[2] ? ht_rand(h, MLXN_TYPE_F32, 1, n, 1, 1, 1, 0, 1.0f) : NULL;
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, pad);
    if (c->op == MLXN_OP_RMS_NORM) {
        RUN(mlxn_op_rms_norm(h->be[s], &x->t[s], w ? &w->t[s] : NULL, 1e-5f, &y->t[s]));
    } else {
        ht *r = ht_rand(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, pad, 1.0f);
        ht *sum = ht_out(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, pad);
        RUN(mlxn_op_add_rms_norm(h->be[s], &x->t[s], &r->t[s], w ? &w->t[s] : NULL, 1e-6f, &sum->t[s], &y->t[s]));
        cmp_f(h, sum, B_ELEM, "sum");
    }
    cmp_f(h, y, B_ELEM, "y");
}

/* ---- add / mul: a = {ne0, ne1, ne2, bcast (0 full, 1 row {ne0,1,1}, 2 scalar {1}, 3 {1,ne1,1}), pad} */
static void run_binary(harness *h, const tcase *c) {
    int64_t n0 = c->a[0], n1 = c->a[1], n2 = c->a[2];
    int pad = (int)c->a[4];
    ht *a = ht_rand(h, MLXN_TYPE_F32, 3, n0, n1, n2, 1, pad, 1.0f), *b;
    switch (c->a[3]) {
    case 1: b = ht_rand(h, MLXN_TYPE_F32, 1, n0, 1, 1, 1, 0, 1.0f); break;
    case 2: b = ht_rand(h, MLXN_TYPE_F32, 1, 1, 1, 1, 1, 0, 1.0f); break;
    case 3: b = ht_rand(h, MLXN_TYPE_F32, 2, 1, n1, 1, 1, 0, 1.0f); break;
    default: b = ht_rand(h, MLXN_TYPE_F32, 3, n0, n1, n2, 1, 0, 1.0f); break;
    }
    ht *y = ht_out(h, MLXN_TYPE_F32, 3, n0, n1, n2, 1, pad);
    if (c->op == MLXN_OP_ADD) RUN(mlxn_op_add(h->be[s], &a->t[s], &b->t[s], &y->t[s]));
    else RUN(mlxn_op_mul(h->be[s], &a->t[s], &b->t[s], &y->t[s]));
    cmp_f(h, y, B_ELEM, "y");
}

/* ---- scale / unary / glu: a = {ne0, ne1, fn} ----------------------------------------------- */
static void run_elem(harness *h, const tcase *c) {
    int64_t n0 = c->a[0], n1 = c->a[1];
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, n0, n1, 1, 1, 0, 2.0f);
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, n0, n1, 1, 1, 0);
    if (c->op == MLXN_OP_SCALE) RUN(mlxn_op_scale(h->be[s], &x->t[s], 0.37f, &y->t[s]));
    else if (c->op == MLXN_OP_UNARY) RUN(mlxn_op_unary(h->be[s], (mlxn_unary)c->a[2], &x->t[s], &y->t[s]));
    else {
        ht *u = ht_rand(h, MLXN_TYPE_F32, 2, n0, n1, 1, 1, 0, 1.0f);
        RUN(mlxn_op_glu(h->be[s], (mlxn_glu)c->a[2], &x->t[s], &u->t[s], &y->t[s]));
    }
    cmp_f(h, y, B_ELEM, "y");
}

/* ---- softmax: a = {n, rows, mask (0 none, 1 full, 2 {n,1}), softcap on} ------------------- */
static void run_softmax(harness *h, const tcase *c) {
    int64_t n = c->a[0], rows = c->a[1];
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, 0, 3.0f);
    ht *m = c->a[2] ? ht_rand(h, MLXN_TYPE_F32, 2, n, c->a[2] == 1 ? rows : 1, 1, 1, 0, 1.0f) : NULL;
    if (m) {   /* a causal-looking -inf on some entries, never a whole row */
        FOR_EACH(m, i0, i1, i2, i3) if (i0 > i1 + n / 2) memcpy(m->host + ht_off(m, i0, i1, i2, i3), &(float){-INFINITY}, 4);
        ht_upload(m);
    }
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, 0);
    RUN(mlxn_op_softmax(h->be[s], &x->t[s], m ? &m->t[s] : NULL, 0.7f, c->a[3] ? 5.0f : 0.0f, &y->t[s]));
    cmp_f(h, y, B_ELEM, "y");
}

/* ---- rope: a = {head_dim, n_heads, n_tokens, n_rot, mode, with_ff, in_place} --------------- */
static void run_rope(harness *h, const tcase *c) {
    int64_t hd = c->a[0], H = c->a[1], T = c->a[2];
    mlxn_rope_params p = {(mlxn_rope_mode)c->a[4], (int)c->a[3], 10000.0f, 1.0f};
    if (c->a[5] == 2) p.freq_base = 500000.0f;
    ht *x = ht_rand(h, MLXN_TYPE_F32, 3, hd, H, T, 1, 0, 1.0f);
    int32_t pos[64];
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)(t * 613 % 4000 + t);
    if (c->a[7]) /* long contexts: 128k and beyond, where an f32 angle pos * f is off by ~1e-2 rad */
        for (int64_t t = 0; t < T; t++) pos[t] = t % 2 ? (int32_t)(131071 - 997 * t) : (int32_t)(1000003 * (t + 1));
    ht *vp = ht_i32(h, 1, T, 1, pos);
    ht *ff = NULL;
    if (c->a[5]) {
        ff = ht_new(h, MLXN_TYPE_F32, 1, p.n_rot / 2, 1, 1, 1, 0);
        mlxn_rope_llama3_factors(p.n_rot, p.freq_base, 8.0f, 1.0f, 4.0f, 8192, (float *)ff->host);
        ht_upload(ff);
    }
    ht *y = c->a[6] ? x : ht_out(h, MLXN_TYPE_F32, 3, hd, H, T, 1, 0);
    RUN(mlxn_op_rope(h->be[s], &x->t[s], &vp->t[s], ff ? &ff->t[s] : NULL, &p, &y->t[s]));
    cmp_f(h, y, B_ROPE, "y");
}

/* ---- rope_kv: a = {head_dim, n_rot, n_heads, n_kv, n_tokens, flags, n_ctx, head_dim_v} --------
 * flags: 1 NEOX, 2 llama3 freq factors, 4 the engine's layout (q, k, v views of one q|k|v column
 * slot, q rotated in place), 8 strided caches, 16 a position = n_ctx (error), 32 a position -1
 * (error). Caches start poisoned (all bytes 0xff: NaN): the rows at pos must be written and match
 * ref, every other byte (other rows, padding) must be left alone. */
enum { RK_NEOX = 1, RK_FF = 2, RK_SLOT = 4, RK_PAD = 8, RK_ERR_HI = 16, RK_ERR_LO = 32 };

/* A strided f32 view {ne0, ne1, ne2} into x at byte offset off (both copies). */
static void view_of(const ht *x, size_t off, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1, size_t nb2, mlxn_tensor *t) {
    for (int s = 0; s < 2; s++) {
        mlxn_tensor *v = &t[s];
        *v = x->t[s];
        v->offset = off;
        v->d.n_dims = 3;
        v->d.ne[0] = ne0; v->d.ne[1] = ne1; v->d.ne[2] = ne2; v->d.ne[3] = 1;
        v->d.nb[0] = 4; v->d.nb[1] = nb1; v->d.nb[2] = nb2; v->d.nb[3] = nb2 * (size_t)ne2;
    }
}

/* A cache written at positions pos[0..n): rows (pos, head) there compared with ref (finite,
 * NMSE <= bound); every other byte must still be 0xff. */
static void cmp_cache(harness *h, ht *x, const int32_t *pos, int64_t n, double bound, const char *what) {
    if (h->case_failed) return;
    ht_download(x);
    const mlxn_tensor_desc *d = &x->t[0].d;
    size_t es = mlxn_type_info(d->type)->block_bytes;
    unsigned char *mine = calloc(x->bytes, 1);   /* 1 = byte of a written element */
    double err = 0, ref2 = 0;
    for (int64_t t = 0; t < n; t++)
        for (int64_t hh = 0; hh < d->ne[2]; hh++) {
            size_t off = ht_off(x, 0, pos[t], hh, 0);
            memset(mine + off, 1, (size_t)d->ne[0] * es);
            for (int64_t i = 0; i < d->ne[0]; i++) {
                float a = mlxn_load_f(d->type, x->host + off, i), b = mlxn_load_f(d->type, x->ref + off, i);
                if (!isfinite(a) || !isfinite(b)) {
                    case_fail(h, "%s[pos %d, head %lld][%lld] = %g, ref %g (unwritten or not finite)", what, (int)pos[t], (long long)hh,
                              (long long)i, a, b);
                    free(mine);
                    return;
                }
                err += ((double)a - b) * ((double)a - b);
                ref2 += (double)b * b;
            }
        }
    for (size_t i = 0; i < x->bytes; i++)
        if (!mine[i] && (x->host[i] != 0xff || x->ref[i] != 0xff)) {
            case_fail(h, "%s: byte %zu outside the written rows changed (0x%02x, ref 0x%02x)", what, i, x->host[i], x->ref[i]);
            free(mine);
            return;
        }
    free(mine);
    double nmse = ref2 > 0 ? err / ref2 : err;
    if (verbose) printf("     %s: nmse %.3g (bound %.3g)\n", what, nmse, bound);
    if (!(nmse <= bound)) case_fail(h, "%s: nmse %.3g > bound %.3g", what, nmse, bound);
}

static void run_rope_kv(harness *h, const tcase *c) {
    const int64_t hd = c->a[0], H = c->a[2], nkv = c->a[3], T = c->a[4], fl = c->a[5], n_ctx = c->a[6], hdv = c->a[7];
    mlxn_rope_params p = {fl & RK_NEOX ? MLXN_ROPE_NEOX : MLXN_ROPE_NORM, (int)c->a[1], 10000.0f, 1.0f};
    if (fl & RK_FF) p.freq_base = 500000.0f;
    const int64_t Q = H * hd, K = nkv * hd, V = nkv * hdv;
    mlxn_tensor q[2], k[2], v[2], qo[2];
    ht *slot = NULL, *hq = NULL, *hqo = NULL;
    if (fl & RK_SLOT) {   /* column t = q_t | k_t | v_t, as forward.c lays it out */
        slot = ht_rand(h, MLXN_TYPE_F32, 2, Q + K + V, T, 1, 1, 0, 1.0f);
        size_t col = (size_t)(Q + K + V) * 4;
        view_of(slot, 0, hd, H, T, (size_t)hd * 4, col, q);
        view_of(slot, (size_t)Q * 4, hd, nkv, T, (size_t)hd * 4, col, k);
        view_of(slot, (size_t)(Q + K) * 4, hdv, nkv, T, (size_t)hdv * 4, col, v);
        memcpy(qo, q, sizeof q);
    } else {
        hq = ht_rand(h, MLXN_TYPE_F32, 3, hd, H, T, 1, 0, 1.0f);
        ht *hk = ht_rand(h, MLXN_TYPE_F32, 3, hd, nkv, T, 1, 0, 1.0f), *hv = ht_rand(h, MLXN_TYPE_F32, 3, hdv, nkv, T, 1, 0, 1.0f);
        hqo = ht_out(h, MLXN_TYPE_F32, 3, hd, H, T, 1, 0);
        memcpy(q, hq->t, sizeof q);
        memcpy(k, hk->t, sizeof k);
        memcpy(v, hv->t, sizeof v);
        memcpy(qo, hqo->t, sizeof qo);
    }
    int32_t pos[64];
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)(n_ctx - 1 - 3 * t);   /* distinct, the first at n_ctx - 1 */
    if (fl & RK_ERR_HI) pos[T / 2] = (int32_t)n_ctx;
    if (fl & RK_ERR_LO) pos[T - 1] = -1;
    ht *vp = ht_i32(h, 1, T, 1, pos);
    ht *ff = NULL;
    if (fl & RK_FF) {
        ff = ht_new(h, MLXN_TYPE_F32, 1, p.n_rot / 2, 1, 1, 1, 0);
        mlxn_rope_llama3_factors(p.n_rot, p.freq_base, 8.0f, 1.0f, 4.0f, 8192, (float *)ff->host);
        ht_upload(ff);
    }
    int pad = fl & RK_PAD ? 8 : 0;
    ht *kc = ht_new(h, c->type, 3, hd, n_ctx, nkv, 1, pad), *vc = ht_new(h, c->type, 3, hdv, n_ctx, nkv, 1, pad);
    memset(kc->host, 0xff, kc->bytes);
    memset(vc->host, 0xff, vc->bytes);
    ht_upload(kc);
    ht_upload(vc);
    if (fl & (RK_ERR_HI | RK_ERR_LO)) {   /* refused: at once, or (asynchronous backends) at the next sync */
        for (int s = 0; s < 2; s++) {
            mlxn_status st = mlxn_op_rope_kv(h->be[s], &q[s], &k[s], &v[s], &vp->t[s], ff ? &ff->t[s] : NULL, &p, &qo[s], &kc->t[s],
                                             &vc->t[s]);
            if (st == MLXN_OK) st = mlxn_backend_sync(h->be[s]);
            if (st == MLXN_OK) case_fail(h, "%s accepted a position outside [0, %lld)", s ? "ref" : mlxn_backend_name(h->be[0]),
                                         (long long)n_ctx);
            else if (s == 1 && !strstr(mlxn_backend_last_error(h->be[s]), "pos"))
                case_fail(h, "ref's message does not name pos: %s", mlxn_backend_last_error(h->be[s]));
        }
        return;
    }
    RUN(mlxn_op_rope_kv(h->be[s], &q[s], &k[s], &v[s], &vp->t[s], ff ? &ff->t[s] : NULL, &p, &qo[s], &kc->t[s], &vc->t[s]));
    if (slot) cmp_f(h, slot, B_ROPE, "q|k|v slot (q rotated in place, k and v unchanged)");
    else {
        cmp_f(h, hqo, B_ROPE, "q_out");
        cmp_f(h, hq, B_EXACT, "q (input, unchanged)");
    }
    cmp_cache(h, kc, pos, T, c->type == MLXN_TYPE_F32 ? B_ROPE : B_ROPE_HALF, "k_cache");
    cmp_cache(h, vc, pos, T, B_EXACT, "v_cache");
}

/* ---- kv_write: a = {head_dim, n_kv, n_tokens, n_ctx, cache pad} ---------------------------- */
static void run_kv_write(harness *h, const tcase *c) {
    int64_t D = c->a[0], nkv = c->a[1], T = c->a[2], n_ctx = c->a[3];
    ht *src = ht_rand(h, MLXN_TYPE_F32, 3, D, nkv, T, 1, 0, 1.0f);
    int32_t pos[64];
    for (int64_t t = 0; t < T; t++) pos[t] = (int32_t)((t * 7 + 2) % n_ctx);
    ht *vp = ht_i32(h, 1, T, 1, pos);
    ht *cache = ht_rand(h, c->type, 3, D, n_ctx, nkv, 1, (int)c->a[4], 1.0f);   /* old contents must survive */
    RUN(mlxn_op_kv_write(h->be[s], &src->t[s], &vp->t[s], &cache->t[s]));
    cmp_f(h, cache, B_EXACT, "cache");
}

/* ---- attention: a = {head_dim, n_heads, n_kv_heads, n_q, n_ctx, window, softcap_on, cache pad,
 *      first query position + 1 (0: the queries end 3 rows before n_ctx), MLXN_ATTN_HISTORY_READY
 *      (valid here: the cache is uploaded, synchronously, before the call)} */
static void run_attention(harness *h, const tcase *c) {
    int64_t D = c->a[0], H = c->a[1], nkv = c->a[2], nq = c->a[3], n_ctx = c->a[4];
    mlxn_attn_params p = {1.0f / sqrtf((float)D), c->a[6] ? 2.0f : 0.0f, (int32_t)c->a[5],
                          c->a[9] ? MLXN_ATTN_HISTORY_READY : 0u};
    ht *q = ht_rand(h, MLXN_TYPE_F32, 3, D, H, nq, 1, 0, 1.0f);
    ht *k = ht_rand(h, c->type, 3, D, n_ctx, nkv, 1, (int)c->a[7], 1.5f);
    ht *v = ht_rand(h, c->type, 3, D, n_ctx, nkv, 1, (int)c->a[7], 1.0f);
    int32_t pos[64];
    for (int64_t i = 0; i < nq; i++)   /* rows after the last query stay unread */
        pos[i] = (int32_t)(c->a[8] ? c->a[8] - 1 + i : n_ctx - 3 - nq + 1 + i);
    ht *vp = ht_i32(h, 1, nq, 1, pos);
    ht *o = ht_out(h, MLXN_TYPE_F32, 3, D, H, nq, 1, 0);
    RUN(mlxn_op_attention(h->be[s], &q->t[s], &k->t[s], &v->t[s], &vp->t[s], &p, &o->t[s]));
    cmp_f(h, o, B_ATTN, "out");
}

/* ---- moe_route: a = {n_expert, k, n_tokens, gating, renorm, expert_scale, scale x100} ------ */
static void run_moe_route(harness *h, const tcase *c) {
    int64_t E = c->a[0], k = c->a[1], T = c->a[2];
    mlxn_moe_route_params p = {(mlxn_moe_gating)c->a[3], (int)k, c->a[4] != 0, (float)c->a[6] / 100.0f};
    ht *l = ht_rand(h, MLXN_TYPE_F32, 2, E, T, 1, 1, 0, 2.0f);
    ht *es = c->a[5] ? ht_rand(h, MLXN_TYPE_F32, 1, E, 1, 1, 1, 0, 1.0f) : NULL;
    ht *ids = ht_out(h, MLXN_TYPE_I32, 2, k, T, 1, 1, 0), *w = ht_out(h, MLXN_TYPE_F32, 2, k, T, 1, 1, 0);
    RUN(mlxn_op_moe_route(h->be[s], &l->t[s], &p, es ? &es->t[s] : NULL, &ids->t[s], &w->t[s]));
    cmp_i(h, ids, E, "ids");
    cmp_f(h, w, B_ELEM, "weights");
}

/* ---- moe_combine: a = {rows, k, n_tokens, residual} --------------------------------------- */
static void run_moe_combine(harness *h, const tcase *c) {
    int64_t rows = c->a[0], k = c->a[1], T = c->a[2];
    ht *eo = ht_rand(h, MLXN_TYPE_F32, 3, rows, k, T, 1, 0, 1.0f), *w = ht_rand(h, MLXN_TYPE_F32, 2, k, T, 1, 1, 0, 0.5f);
    ht *res = c->a[3] ? ht_rand(h, MLXN_TYPE_F32, 2, rows, T, 1, 1, 0, 1.0f) : NULL;
    ht *y = ht_out(h, MLXN_TYPE_F32, 2, rows, T, 1, 1, 0);
    RUN(mlxn_op_moe_combine(h->be[s], &eo->t[s], &w->t[s], res ? &res->t[s] : NULL, &y->t[s]));
    cmp_f(h, y, B_ELEM, "y");
}

/* ---- argmax / top_k: a = {n, rows, k} ------------------------------------------------------ */
static void run_select(harness *h, const tcase *c) {
    int64_t n = c->a[0], rows = c->a[1], k = c->a[2];
    ht *x = ht_rand(h, MLXN_TYPE_F32, 2, n, rows, 1, 1, 0, 1.0f);
    if (c->op == MLXN_OP_ARGMAX) {
        ht *o = ht_out(h, MLXN_TYPE_I32, 1, rows, 1, 1, 1, 0);
        RUN(mlxn_op_argmax(h->be[s], &x->t[s], &o->t[s]));
        cmp_i(h, o, n, "out");
    } else {
        ht *ids = ht_out(h, MLXN_TYPE_I32, 2, k, rows, 1, 1, 0), *vals = ht_out(h, MLXN_TYPE_F32, 2, k, rows, 1, 1, 0);
        RUN(mlxn_op_top_k(h->be[s], &x->t[s], (int)k, &ids->t[s], &vals->t[s]));
        cmp_i(h, ids, n, "ids");
        cmp_f(h, vals, 0.0, "vals");
    }
}

/* ---- argmax_advance: a = {n, cap, first position, steps, ties, x offset in floats} ----------
 * `steps` calls in a row, each on fresh random logits (with ties: the row's maximum put at three
 * random places), hand the token over: afterwards step must hold {last argmax, first position +
 * steps} and hist the argmax of each call at its position mod cap, every other entry still the
 * poison -1. Checked against a host argmax (first index of the maximum) on both backends. */
static void run_argmax_advance(harness *h, const tcase *c) {
    const int64_t n = c->a[0], cap = c->a[1], steps = c->a[3], ties = c->a[4], xoff = c->a[5];
    int32_t pos = (int32_t)c->a[2], st0[2] = {(int32_t)(tu_rng_u64(&h->rng) % 1000), pos};
    ht *step = ht_i32(h, 1, 2, 1, st0), *hist = ht_out(h, MLXN_TYPE_I32, 1, cap, 1, 1, 1, 0);
    int32_t want_hist[64], want_id = -1;
    for (int64_t i = 0; i < cap; i++) want_hist[i] = -1;
    for (int64_t k = 0; k < steps; k++) {
        ht *x = ht_rand(h, MLXN_TYPE_F32, 1, n + xoff, 1, 1, 1, 0, 1.0f);
        float *xf = (float *)x->host + xoff;
        if (ties) {
            float mx = xf[0];
            for (int64_t i = 1; i < n; i++) mx = xf[i] > mx ? xf[i] : mx;
            for (int t = 0; t < 3; t++) xf[tu_rng_u64(&h->rng) % (uint64_t)n] = mx + 0.5f;
            ht_upload(x);
        }
        for (int s = 0; s < 2; s++) {   /* {n} at byte offset 4 * xoff: unaligned rows for xoff % 4 != 0 */
            x->t[s].offset = (size_t)xoff * 4;
            x->t[s].d.ne[0] = n;
        }
        RUN(mlxn_op_argmax_advance(h->be[s], &x->t[s], &step->t[s], &hist->t[s]));
        int64_t best = 0;
        for (int64_t i = 1; i < n; i++)
            if (xf[i] > xf[best]) best = i;
        pos++;
        want_id = (int32_t)best;
        want_hist[((int64_t)pos % cap + cap) % cap] = want_id;
    }
    ht_download(step);
    ht_download(hist);
    for (int s = 0; s < 2; s++) {
        const char *who = s ? "ref" : mlxn_backend_name(h->be[0]);
        const int32_t *gs = (const int32_t *)(s ? step->ref : step->host), *gh = (const int32_t *)(s ? hist->ref : hist->host);
        if (gs[0] != want_id || gs[1] != pos) {
            case_fail(h, "%s: step = {%d, %d}, want {%d, %d}", who, (int)gs[0], (int)gs[1], (int)want_id, (int)pos);
            return;
        }
        for (int64_t i = 0; i < cap; i++)
            if (gh[i] != want_hist[i]) {
                case_fail(h, "%s: hist[%lld] = %d, want %d", who, (long long)i, (int)gh[i], (int)want_hist[i]);
                return;
            }
    }
}

/* ---- copy: a = {ne0, ne1, ne2, dst type, src pad, dst pad}; case type = src type ----------- */
static void run_copy(harness *h, const tcase *c) {
    ht *src = ht_rand(h, c->type, 3, c->a[0], c->a[1], c->a[2], 1, (int)c->a[4], 1.0f);
    ht *dst = ht_out(h, (mlxn_type)c->a[3], 3, c->a[0], c->a[1], c->a[2], 1, (int)c->a[5]);
    RUN(mlxn_op_copy(h->be[s], &src->t[s], &dst->t[s]));
    cmp_f(h, dst, B_EXACT, "dst");
}

/* ==========================================================================
 * The table
 * ========================================================================== */

#define A(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t))

static void build_cases(bool full) {
    static const int64_t ns[] = {1, 2, 3, 7, 8, 9, 33};
    const mlxn_type F32 = MLXN_TYPE_F32;
    collect_wtypes();
    for (int i = 0; i < n_wtypes; i++) {
        const wtype *w = &wtypes[i];
        const mlxn_mlx_quant *q = w->mlx ? &w->q : NULL;
        int64_t k = min_k(w);
        for (int j = 0; j < 7; j++) add_case(MLXN_OP_MUL_MAT, w->t, q, A(k, 67, ns[j], 0), "%sk=%lld rows=67 n=%lld", w->label, (long long)k, (long long)ns[j]);
        add_case(MLXN_OP_MUL_MAT, w->t, q, A(3 * k, 13, 5, 3), "%sk=%lld rows=13 n=5 strided x/y", w->label, (long long)(3 * k));
        if (!is_quant(w->t)) add_case(MLXN_OP_MUL_MAT, w->t, q, A(1, 5, 3, 0), "k=1 rows=5 n=3");
        if (full) {
            add_case(MLXN_OP_MUL_MAT, w->t, q, A(4096, 512, 1, 0), "%sk=4096 rows=512 n=1", w->label);
            add_case(MLXN_OP_MUL_MAT, w->t, q, A(2048, 300, 70, 0), "%sk=2048 rows=300 n=70", w->label);
        }
        /* mul_mat_fused: every prologue x epilogue at n = 1 (the decode routes), four of the twelve
         * (rotating) at n = 2, 5, 8 and at a mat-mat n = 33; n = 5 with strided x/up/add/y */
        static const int64_t fns[] = {1, 2, 5, 8, 33};
        for (int j = 0; j < 5; j++)
            for (int pe = 0; pe < 12; pe++) {
                if (j > 0 && pe % 3 != j % 3) continue;
                int64_t pro = pe / 3, epi = pe % 3, pad = fns[j] == 5 ? 2 : 0;
                add_case(MLXN_OP_MUL_MAT_FUSED, w->t, q, A(k, 67, fns[j], pro, epi, pad), "%sk=%lld rows=67 n=%lld %s -> %s%s", w->label,
                         (long long)k, (long long)fns[j], FUSE_PRO[pro], FUSE_EPI[epi], pad ? " strided" : "");
            }
        add_case(MLXN_OP_MUL_MAT_FUSED, w->t, q, A(3 * k, 45, 1, 1, 2, 0), "%sk=%lld rows=45 n=1 norm -> add=y", w->label, (long long)(3 * k));
        for (int pro = 0; pro < 3; pro++)   /* a prefill's residual update (the mat-mat route adds into y itself) */
            add_case(MLXN_OP_MUL_MAT_FUSED, w->t, q, A(k, 67, 33, pro, 2, 0), "%sk=%lld rows=67 n=33 %s -> add=y", w->label, (long long)k,
                     FUSE_PRO[pro]);
        if (full)
            for (int pe = 0; pe < 3; pe++) {
                static const int64_t big[3][2] = {{1, 2}, {2, 1}, {3, 0}};
                add_case(MLXN_OP_MUL_MAT_FUSED, w->t, q, A(4096, 512, 1, big[pe][0], big[pe][1], 0), "%sk=4096 rows=512 n=1 %s -> %s",
                         w->label, FUSE_PRO[big[pe][0]], FUSE_EPI[big[pe][1]]);
                add_case(MLXN_OP_MUL_MAT_FUSED, w->t, q, A(2048, 300, pe == 0 ? 4 : 70, big[pe][0], big[pe][1], 0),
                         "%sk=2048 rows=300 n=%d %s -> %s", w->label, pe == 0 ? 4 : 70, FUSE_PRO[big[pe][0]], FUSE_EPI[big[pe][1]]);
            }
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(k, 35, 5, 2, 1, 1), "%sdecode top_k=2 x broadcast", w->label);
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(k, 35, 5, 2, 1, 0), "%sdecode top_k=2 x per slot", w->label);
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(2 * k, 19, 6, 3, 9, 1), "%sprefill 9 tokens top_k=3", w->label);
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(k, 21, 8, 4, 33, 0), "%sprefill 33 tokens top_k=4 x per slot", w->label);
        /* the tile-kernel route (mmq.cu): k a multiple of 256, a partial row tile, experts with more
         * pairs than one token tile (32); more than 256 experts (the tile lookup's second path) */
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(512, 100, 20, 8, 96, 1), "%sprefill 96 tokens top_k=8 k=512", w->label);
        add_case(MLXN_OP_MUL_MAT_ID, w->t, q, A(256, 70, 300, 8, 64, 0), "%sprefill 64 tokens top_k=8 300 experts k=256 x per slot", w->label);
        add_case(MLXN_OP_GET_ROWS, w->t, q, A(2 * k, 13, 7), "%sk=%lld 13 rows, 7 ids", w->label, (long long)(2 * k));
    }
    static const int64_t norm_n[][2] = {{1, 1}, {67, 3}, {4096, 2}};
    for (int i = 0; i < 3; i++)
        for (int w = 0; w < 2; w++) {
            add_case(MLXN_OP_RMS_NORM, F32, NULL, A(norm_n[i][0], norm_n[i][1], w, i == 1 ? 5 : 0), "n=%lld rows=%lld %s",
                     (long long)norm_n[i][0], (long long)norm_n[i][1], w ? "weight" : "no weight");
            add_case(MLXN_OP_ADD_RMS_NORM, F32, NULL, A(norm_n[i][0], norm_n[i][1], w, i == 1 ? 5 : 0), "n=%lld rows=%lld %s",
                     (long long)norm_n[i][0], (long long)norm_n[i][1], w ? "weight" : "no weight");
        }
    static const char *bc[] = {"full", "row broadcast", "scalar", "column broadcast"};
    for (int op = 0; op < 2; op++)
        for (int b = 0; b < 4; b++)
            add_case(op ? MLXN_OP_MUL : MLXN_OP_ADD, F32, NULL, A(33, 7, 3, b, b == 1 ? 2 : 0), "33x7x3 b %s%s", bc[b], b == 1 ? " strided a/y" : "");
    add_case(MLXN_OP_SCALE, F32, NULL, A(1001, 3, 0), "1001x3");
    add_case(MLXN_OP_UNARY, F32, NULL, A(1001, 3, MLXN_UNARY_TANH), "tanh 1001x3");
    for (int f = 0; f < 2; f++) {
        add_case(MLXN_OP_UNARY, F32, NULL, A(1001, 3, f), "%s 1001x3", f ? "gelu_tanh" : "silu");
        add_case(MLXN_OP_GLU, F32, NULL, A(513, 5, f), "%s 513x5", f ? "geglu" : "swiglu");
    }
    for (int m = 0; m < 3; m++)
        for (int sc = 0; sc < 2; sc++)
            add_case(MLXN_OP_SOFTMAX, F32, NULL, A(97, 9, m, sc), "97x9 mask %s softcap %s", m == 0 ? "none" : m == 1 ? "full" : "{n,1}", sc ? "on" : "off");
    static const int64_t rope_hd[][2] = {{64, 64}, {128, 128}, {128, 64}, {256, 256}, {80, 32}};
    for (int i = 0; i < 5; i++)
        for (int mode = 0; mode < 2; mode++)
            for (int ff = 0; ff < 2; ff++)
                add_case(MLXN_OP_ROPE, F32, NULL, A(rope_hd[i][0], 3, 5, rope_hd[i][1], mode, ff ? 2 : 0, i == 2), "hd=%lld n_rot=%lld %s %s%s",
                         (long long)rope_hd[i][0], (long long)rope_hd[i][1], mode ? "neox" : "norm", ff ? "llama3 factors" : "no factors",
                         i == 2 ? " in place" : "");
    for (int mode = 0; mode < 2; mode++)   /* positions up to 1e6: the angle reduction */
        add_case(MLXN_OP_ROPE, F32, NULL, A(128, 3, 7, 128, mode, mode ? 2 : 0, 0, 1), "hd=128 %s %s positions to 128k and 1e6", mode ? "neox" : "norm",
                 mode ? "llama3 factors" : "no factors");
    static const mlxn_type ctypes[] = {MLXN_TYPE_F32, MLXN_TYPE_F16, MLXN_TYPE_BF16};
    /* rope_kv: {hd, n_rot, n_heads, n_kv, hd_v}: SmolLM2's heads, GQA 4, partial rotation with
     * n_heads = n_kv and a narrower v, half rotation with GQA 3 */
    static const int64_t rk_shape[][5] = {{64, 64, 9, 3, 64}, {128, 128, 8, 2, 128}, {80, 32, 4, 4, 64}, {128, 64, 6, 2, 128}};
    for (int ct = 0; ct < 3; ct++)
        for (int i = 0; i < 8; i++) {
            const int64_t *sh = rk_shape[(ct + i) % 4];
            int64_t T = i & 4 ? 7 : 1, fl = (i & 1 ? RK_NEOX : 0) | (i & 2 ? RK_FF : 0) | ((i + ct) % 2 ? RK_SLOT : 0) |
                                               ((i + ct) % 3 == 0 ? RK_PAD : 0);
            add_case(MLXN_OP_ROPE_KV, ctypes[ct], NULL, A(sh[0], sh[1], sh[2], sh[3], T, fl, 3 * T + 5, sh[4]),
                     "hd=%lld n_rot=%lld heads %lld/%lld hd_v=%lld n=%lld %s %s%s%s", (long long)sh[0], (long long)sh[1], (long long)sh[2],
                     (long long)sh[3], (long long)sh[4], (long long)T, fl & RK_NEOX ? "neox" : "norm", fl & RK_FF ? "llama3 factors" : "no factors",
                     fl & RK_SLOT ? " q|k|v slot, q in place" : "", fl & RK_PAD ? " strided caches" : "");
        }
    add_case(MLXN_OP_ROPE_KV, MLXN_TYPE_F16, NULL, A(64, 64, 2, 1, 7, RK_SLOT | RK_FF, 131072, 64),
             "hd=64 heads 2/1 n=7 n_ctx=131072 positions near 128k, llama3 factors, q|k|v slot");
    for (int ct = 0; ct < 3; ct++)
        add_case(MLXN_OP_ROPE_KV, ctypes[ct], NULL, A(64, 64, 4, 2, 3, RK_SLOT | (ct == 2 ? RK_ERR_LO : RK_ERR_HI), 16, 64),
                 "position %s: an error", ct == 2 ? "-1" : "= n_ctx");
    static const int64_t hds[] = {64, 128, 256, 512}, gqa[] = {1, 4, 8};
    for (int ct = 0; ct < 3; ct++) {
        add_case(MLXN_OP_KV_WRITE, ctypes[ct], NULL, A(64, 2, 3, 17), "hd=64 n_kv=2 3 tokens n_ctx=17");
        add_case(MLXN_OP_KV_WRITE, ctypes[ct], NULL, A(128, 1, 1, 9), "hd=128 n_kv=1 1 token n_ctx=9");
        add_case(MLXN_OP_KV_WRITE, ctypes[ct], NULL, A(64, 4, 7, 33, 16), "hd=64 n_kv=4 7 tokens n_ctx=33 strided cache");
        for (int d = 0; d < 4; d++)
            for (int g = 0; g < 3; g++)
                for (int v = 0; v < 4; v++) {
                    /* every (window, softcap) pair for each head dim and GQA ratio; the query
                     * count cycles through decode (1..8) and prefill sizes; some caches strided */
                    static const int64_t nqs[] = {1, 9, 2, 33, 3, 8, 7};
                    int64_t nq = nqs[(d * 12 + g * 4 + v) % 7], win = v & 2 ? 5 : 0, cap = (v + g) % 2;
                    int64_t nkv = 2, H = nkv * gqa[g], n_ctx = (hds[d] >= 256 ? 24 : 40) + (nq > 9 ? nq : 0);
                    int64_t pad = (v + d) % 3 == 0 ? 8 : 0;
                    for (int rd = 0; rd < (nq == 1 ? 2 : 1); rd++)   /* one query: also with the history-ready flag */
                        add_case(MLXN_OP_ATTENTION, ctypes[ct], NULL, A(hds[d], H, nkv, nq, n_ctx, win, cap, pad, 0, rd),
                                 "hd=%lld gqa=%lld n_q=%lld window=%lld softcap %s%s%s", (long long)hds[d], (long long)gqa[g],
                                 (long long)nq, (long long)win, cap ? "on" : "off", pad ? " strided cache" : "",
                                 rd ? " history ready" : "");
                }
    }
    /* decode in a long cache with a short visible range: the kernels size their split grids by
     * n_ctx and must skip (and not merge) the splits past the last query */
    for (int ct = 1; ct < 3; ct++)
        for (int d = 0; d < 3; d++) {
            static const int64_t firsts[] = {1, 2, 40, 130, 700, 2900};
            for (int f = 0; f < 6; f++) {
                int64_t nq = f % 2 ? 1 : 2, win = f == 5 ? 100 : 0;
                for (int rd = 0; rd < (nq == 1 ? 2 : 1); rd++)
                    add_case(MLXN_OP_ATTENTION, ctypes[ct], NULL, A(hds[d], 8, 2, nq, 4096, win, 0, 0, firsts[f], rd),
                             "hd=%lld gqa=4 n_q=%lld n_ctx=4096 first query at %lld%s%s", (long long)hds[d], (long long)nq,
                             (long long)firsts[f] - 1, win ? " window=100" : "", rd ? " history ready" : "");
            }
        }
    for (int g = 0; g < 3; g++)
        for (int rn = 0; rn < 2; rn++)
            for (int es = 0; es < 2; es++)
                add_case(MLXN_OP_MOE_ROUTE, F32, NULL, A(g == 1 ? 128 : 37, g == 1 ? 8 : 4, 5, g, rn, es, es ? 250 : 100), "%s renorm %s expert_scale %s",
                         g == 0 ? "softmax" : g == 1 ? "sigmoid (128 experts, k 8)" : "softmax_topk", rn ? "on" : "off", es ? "on" : "off");
    for (int r = 0; r < 2; r++) add_case(MLXN_OP_MOE_COMBINE, F32, NULL, A(67, 4, 5, r), "67 rows k=4 5 tokens residual %s", r ? "on" : "off");
    add_case(MLXN_OP_ARGMAX, F32, NULL, A(1000, 3, 1), "1000x3");
    add_case(MLXN_OP_ARGMAX, F32, NULL, A(1, 2, 1), "1x2");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(1000, 8, 0, 3, 0, 0), "1000 logits, cap 8, 3 steps from position 0");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(49155, 8, 5, 6, 0, 1), "49155 logits at a 4-byte offset, cap 8, 6 steps from 5: the ring wraps");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(1000, 4, 10, 3, 1, 0), "1000 logits, ties: the lowest index");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(49152, 8, 700, 9, 1, 0), "49152 logits with ties, 9 steps: an entry overwritten");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(257, 16, 100, 20, 0, 3), "257 logits, cap 16, 20 steps: entries overwritten");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(1, 1, 0, 2, 0, 0), "1 logit, cap 1");
    add_case(MLXN_OP_ARGMAX_ADVANCE, F32, NULL, A(64, 8, -3, 4, 0, 2), "positions -2..1: hist index mod cap stays in 0..7");
    static const int64_t ks[] = {1, 5, 40};
    for (int i = 0; i < 3; i++) add_case(MLXN_OP_TOP_K, F32, NULL, A(1000, 3, ks[i]), "1000x3 k=%lld", (long long)ks[i]);
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            add_case(MLXN_OP_COPY, ctypes[a], NULL, A(37, 5, 2, ctypes[b], a == b ? 3 : 0, a == 0 && b == 1 ? 1 : 0), "-> %s 37x5x2%s",
                     mlxn_type_name(ctypes[b]), a == b ? " strided src" : a == 0 && b == 1 ? " strided dst" : "");
}

static void run_case(harness *h, const tcase *c) {
    switch (c->op) {
    case MLXN_OP_MUL_MAT: run_mul_mat(h, c); break;
    case MLXN_OP_MUL_MAT_ID: run_mul_mat_id(h, c); break;
    case MLXN_OP_GET_ROWS: run_get_rows(h, c); break;
    case MLXN_OP_RMS_NORM:
    case MLXN_OP_ADD_RMS_NORM: run_rms_norm(h, c); break;
    case MLXN_OP_ADD:
    case MLXN_OP_MUL: run_binary(h, c); break;
    case MLXN_OP_SCALE:
    case MLXN_OP_UNARY:
    case MLXN_OP_GLU: run_elem(h, c); break;
    case MLXN_OP_SOFTMAX: run_softmax(h, c); break;
    case MLXN_OP_ROPE: run_rope(h, c); break;
    case MLXN_OP_KV_WRITE: run_kv_write(h, c); break;
    case MLXN_OP_ATTENTION: run_attention(h, c); break;
    case MLXN_OP_MOE_ROUTE: run_moe_route(h, c); break;
    case MLXN_OP_MOE_COMBINE: run_moe_combine(h, c); break;
    case MLXN_OP_ARGMAX:
    case MLXN_OP_TOP_K: run_select(h, c); break;
    case MLXN_OP_COPY: run_copy(h, c); break;
    case MLXN_OP_MUL_MAT_FUSED: run_mul_mat_fused(h, c); break;
    case MLXN_OP_ROPE_KV: run_rope_kv(h, c); break;
    case MLXN_OP_ARGMAX_ADVANCE: run_argmax_advance(h, c); break;
    case MLXN_OP_COUNT: break;
    }
}

static void usage(void) {
    fprintf(stderr, "usage: test_ops [-b BACKEND] [-o OP] [-t TYPE] [--list] [--seed N] [--full] [-v]\n"
                    "  -b BACKEND  backend under test (cpu, ref, cuda, cuda:N); default cpu; checked against ref\n"
                    "  -o OP       only cases of this op (mul_mat, attention, ...)\n"
                    "  -t TYPE     only cases whose main type is TYPE (q4_K, mlx_q4, f16, ...)\n"
                    "  --list      print the cases and exit\n"
                    "  --seed N    random seed (default 1)\n"
                    "  --full      add large shapes\n"
                    "  -v          print each case and its error\n");
}

int main(int argc, char **argv) {
    const char *bname = "cpu", *op = NULL, *type = NULL;
    bool list = false, full = false;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) bname = argv[++i];
        else if (!strcmp(argv[i], "-o") && i + 1 < argc) op = argv[++i];
        else if (!strcmp(argv[i], "-t") && i + 1 < argc) type = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--list")) list = true;
        else if (!strcmp(argv[i], "--full")) full = true;
        else if (!strcmp(argv[i], "-v")) verbose = true;
        else {
            usage();
            return 2;
        }
    }
    build_cases(full);
    harness h = {0};
    if (!list) {
        if (mlxn_backend_open(bname, &h.be[0]) != MLXN_OK || mlxn_backend_open("ref", &h.be[1]) != MLXN_OK) {
            fprintf(stderr, "cannot open backend '%s': %s\n", bname, mlxn_last_error());
            return 2;
        }
    }
    int n_run = 0, n_skip = 0;
    for (int i = 0; i < n_cases; i++) {
        tcase *c = &cases[i];
        if (op && strcmp(op, mlxn_op_name(c->op))) continue;
        if (type && strcmp(type, mlxn_type_name(c->type))) continue;
        if (list) {
            printf("%s\n", c->name);
            continue;
        }
        if (!mlxn_backend_supports(h.be[0], c->op, c->type)) {   /* reported, never silent */
            printf("SKIP %s: not supported by backend '%s'\n", c->name, bname);
            n_skip++;
            continue;
        }
        tu_rng_seed(&h.rng, seed * 1000003u + (uint64_t)i);
        h.name = c->name;
        h.case_failed = false;
        h.n_live = 0;
        if (verbose) printf("case %s\n", c->name);
        run_case(&h, c);
        for (int j = 0; j < h.n_live; j++) ht_free(h.live[j]);
        if (h.case_failed) tu_failed++;
        else tu_passed++;
        n_run++;
    }
    if (list) return 0;
    if (n_skip) printf("%d cases skipped as unsupported by '%s'\n", n_skip, bname);
    mlxn_backend_free(h.be[0]);
    mlxn_backend_free(h.be[1]);
    free(cases);
    return tu_finish();
}
