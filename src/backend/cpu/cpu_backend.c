/* The fast CPU backend "cpu": every op threaded with OpenMP, f32 accumulation, vectorisable
 * inner loops. Quantized mul_mat / mul_mat_id call the SIMD kernels of cpu_fast.h when they are
 * built in and accept the type; otherwise a generic path decodes a tile of weight rows to f32
 * (per thread, into scratch sized once and reused) and dots it with every input column.
 * mul_mat_id groups the (token, slot) pairs by expert and runs one mat-mat per used expert.
 * Synchronous and in order: streams are a single queue, events read the host clock (backend.c). */
#include "backend/cpu/ref_util.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("backend/cpu/cpu_fast.h")
#include "backend/cpu/cpu_fast.h"
#define MLXN_HAVE_CPU_FAST 1
#endif
#endif

#define ROW_F(v, r) ((float *)mlxn_view_row((v), (r)))
#define AT_F(v, i1, i2, i3) ((float *)mlxn_view_at((v), (i1), (i2), (i3)))
#define AT_I(v, i1, i2, i3) ((int32_t *)mlxn_view_at((v), (i1), (i2), (i3)))

enum { ROW_TILE = 8 };   /* weight rows decoded per work item */

typedef struct cpu_ctx {
    int n_threads;            /* 0 = omp_get_max_threads() */
    float *tiles;             /* per thread: ROW_TILE * k decoded weights */
    size_t tiles_cap;         /* floats */
    float *gx, *gy;           /* mul_mat_id: gathered inputs {k, pairs}, outputs {rows, pairs} */
    size_t gx_cap, gy_cap;
    int32_t *pairs;           /* mul_mat_id: (token, slot) pairs sorted by expert */
    int64_t *counts;          /* mul_mat_id: pairs per expert {n_expert + 1} */
    size_t pairs_cap, counts_cap;
} cpu_ctx;

static mlxn_status cpu_init(int device, void **ctx) {
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "cpu backend: out of memory");
    *ctx = c;
    return MLXN_OK;
}

static void cpu_release(void *ctx) {
    cpu_ctx *c = ctx;
    if (!c) return;
    free(c->tiles);
    free(c->gx);
    free(c->gy);
    free(c->pairs);
    free(c->counts);
    free(c);
}

static void cpu_set_threads(void *ctx, int n) { ((cpu_ctx *)ctx)->n_threads = n; }
static int nthreads(const cpu_ctx *c) { return c->n_threads > 0 ? c->n_threads : omp_get_max_threads(); }
static bool cpu_supports(void *ctx, mlxn_op op, mlxn_type t) { return mlxn_cpu_supports(op, t); }

/* Grows *p to hold n elements of size sz (scratch reused across calls: the steady state
 * allocates nothing). */
static mlxn_status grow(void **p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap) return MLXN_OK;
    void *q = realloc(*p, n * sz);
    if (!q) return mlxn_fail(MLXN_ERR_NO_MEMORY, "cpu backend: cannot grow scratch to %zu bytes", n * sz);
    *p = q;
    *cap = n;
    return MLXN_OK;
}

static inline float dot_f(const float *a, const float *b, int64_t n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ==========================================================================
 * Matrix products
 * ========================================================================== */

/* y {rows, n} (row stride ys bytes) = W[expert] {k, rows} · x {k, n} (row stride xs bytes). */
static mlxn_status matmul(cpu_ctx *c, const mlxn_wview *W, int64_t expert, const float *x, size_t xs, float *y, size_t ys, int64_t n) {
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1];
    int nt = nthreads(c);
    mlxn_type t = W->w.d.type;
#ifdef MLXN_HAVE_CPU_FAST
    if (!mlxn_wview_is_mlx(W) && mlxn_cpu_fast_supports(t)) {
        const char *w = (const char *)W->w.data + (size_t)expert * W->w.d.nb[2];
        mlxn_status st = mlxn_cpu_fast_mul_mat(t, w, W->w.d.nb[1], k, rows, x, xs, y, ys, n, nt);
        if (st != MLXN_ERR_UNSUPPORTED) return st;
    }
#endif
    bool plain = t == MLXN_TYPE_F32;
    if (!plain) MLXN_TRY(grow((void **)&c->tiles, &c->tiles_cap, (size_t)nt * ROW_TILE * (size_t)k, sizeof(float)));
    int64_t n_tiles = (rows + ROW_TILE - 1) / ROW_TILE;
    int64_t bad_row = -1;   /* a row whose decode failed in a worker thread */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ti = 0; ti < n_tiles; ti++) {
        int64_t r0 = ti * ROW_TILE, r1 = r0 + ROW_TILE < rows ? r0 + ROW_TILE : rows;
        float *buf = plain ? NULL : c->tiles + (size_t)omp_get_thread_num() * ROW_TILE * (size_t)k;
        const float *wr[ROW_TILE];
        bool ok = true;
        for (int64_t r = r0; r < r1 && ok; r++) {
            if (plain) {
                wr[r - r0] = (const float *)((const char *)W->w.data + (size_t)r * W->w.d.nb[1] + (size_t)expert * W->w.d.nb[2]);
                continue;
            }
            float *dst = buf + (size_t)(r - r0) * (size_t)k;
            if (mlxn_cpu_weight_row(W, r, expert, dst) != MLXN_OK) {
#pragma omp critical(mlxn_cpu_err)
                bad_row = r;
                ok = false;
            }
            wr[r - r0] = dst;
        }
        if (!ok) continue;
        for (int64_t j = 0; j < n; j++) {
            const float *xj = (const float *)((const char *)x + (size_t)j * xs);
            float *yj = (float *)((char *)y + (size_t)j * ys);
            for (int64_t r = r0; r < r1; r++) yj[r] = dot_f(wr[r - r0], xj, k);
        }
    }
    /* the message lives in the worker's thread-local error: decode again here to report it */
    return bad_row < 0 ? MLXN_OK : mlxn_cpu_weight_row(W, bad_row, expert, c->tiles);
}

static mlxn_status cpu_mul_mat(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y) {
    return matmul(ctx, W, 0, x->data, x->d.nb[1], y->data, y->d.nb[1], x->d.ne[1]);
}

static mlxn_status cpu_mul_mat_id(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *x, const mlxn_tview *y) {
    cpu_ctx *c = ctx;
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n_expert = W->w.d.ne[2];
    int64_t top_k = ids->d.ne[0], n_tok = ids->d.ne[1], n_x = x->d.ne[1], n_pairs = top_k * n_tok;
    MLXN_TRY(grow((void **)&c->counts, &c->counts_cap, (size_t)n_expert + 1, sizeof(int64_t)));
    MLXN_TRY(grow((void **)&c->pairs, &c->pairs_cap, (size_t)n_pairs, sizeof(int32_t)));
    MLXN_TRY(grow((void **)&c->gx, &c->gx_cap, (size_t)n_pairs * (size_t)k, sizeof(float)));
    MLXN_TRY(grow((void **)&c->gy, &c->gy_cap, (size_t)n_pairs * (size_t)rows, sizeof(float)));

    /* counting sort of pair p = t * top_k + j by expert: counts[e] becomes expert e's start */
    memset(c->counts, 0, ((size_t)n_expert + 1) * sizeof(int64_t));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < top_k; j++) {
            int32_t e = AT_I(ids, t, 0, 0)[j];
            if (e < 0 || e >= n_expert)
                return mlxn_fail(MLXN_ERR_INVALID_ARG, "mul_mat_id: ids[%lld][%lld] = %d outside [0, %lld)", (long long)t, (long long)j,
                                 (int)e, (long long)n_expert);
            c->counts[e + 1]++;
        }
    for (int64_t e = 0; e < n_expert; e++) c->counts[e + 1] += c->counts[e];
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < top_k; j++) c->pairs[c->counts[AT_I(ids, t, 0, 0)[j]]++] = (int32_t)(t * top_k + j);
    for (int64_t e = n_expert; e > 0; e--) c->counts[e] = c->counts[e - 1];   /* back to starts */
    c->counts[0] = 0;

    for (int64_t e = 0; e < n_expert; e++) {
        int64_t p0 = c->counts[e], p1 = c->counts[e + 1], cnt = p1 - p0;
        if (cnt == 0) continue;
        /* gather this expert's inputs {k, cnt}, one mat-mat, scatter outputs */
        for (int64_t i = 0; i < cnt; i++) {
            int64_t p = c->pairs[p0 + i], t = p / top_k, j = p % top_k;
            memcpy(c->gx + (size_t)i * k, AT_F(x, n_x == 1 ? 0 : j, t, 0), (size_t)k * sizeof(float));
        }
        MLXN_TRY(matmul(c, W, e, c->gx, (size_t)k * sizeof(float), c->gy, (size_t)rows * sizeof(float), cnt));
        for (int64_t i = 0; i < cnt; i++) {
            int64_t p = c->pairs[p0 + i], t = p / top_k, j = p % top_k;
            memcpy(AT_F(y, j, t, 0), c->gy + (size_t)i * rows, (size_t)rows * sizeof(float));
        }
    }
    return MLXN_OK;
}

static mlxn_status cpu_get_rows(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *y) {
    int64_t n_rows = W->w.d.ne[1], n = ids->d.ne[0];
    const int32_t *id = ids->data;
    for (int64_t t = 0; t < n; t++)
        if (id[t] < 0 || id[t] >= n_rows)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "get_rows: ids[%lld] = %d outside [0, %lld)", (long long)t, (int)id[t], (long long)n_rows);
    int64_t bad = -1;
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t t = 0; t < n; t++)
        if (mlxn_cpu_weight_row(W, id[t], 0, ROW_F(y, t)) != MLXN_OK) {
#pragma omp critical(mlxn_cpu_err)
            bad = t;
        }
    /* the message lives in the worker's thread-local error: decode again here to report it */
    return bad < 0 ? MLXN_OK : mlxn_cpu_weight_row(W, id[bad], 0, ROW_F(y, bad));
}

/* ==========================================================================
 * Norms and elementwise (threaded over rows)
 * ========================================================================== */

static inline void rms_row(const float *x, const float *w, int64_t n, float eps, float *y) {
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv;
}

static mlxn_status cpu_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *w, float eps, const mlxn_tview *y) {
    const float *wd = w ? w->data : NULL;
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) rms_row(ROW_F(x, r), wd, x->d.ne[0], eps, ROW_F(y, r));
    return MLXN_OK;
}

static mlxn_status cpu_add_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                                    const mlxn_tview *sum, const mlxn_tview *y) {
    const float *wd = w ? w->data : NULL;
    int64_t n = x->d.ne[0];
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t i = 0; i < mlxn_view_nrows(x); i++) {
        const float *xr = ROW_F(x, i), *rr = ROW_F(r, i);
        float *sr = ROW_F(sum, i);
        for (int64_t j = 0; j < n; j++) sr[j] = xr[j] + rr[j];
        rms_row(sr, wd, n, eps, ROW_F(y, i));
    }
    return MLXN_OK;
}

static mlxn_status cpu_binary(cpu_ctx *c, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y, bool is_mul) {
    int64_t n = a->d.ne[0];
    bool scalar_b = b->d.ne[0] == 1;
#pragma omp parallel for num_threads(nthreads(c))
    for (int64_t r = 0; r < mlxn_view_nrows(a); r++) {
        const float *ar = ROW_F(a, r), *br = mlxn_view_row_bcast(b, a, r);
        float *yr = ROW_F(y, r);
        if (scalar_b) {
            float bv = br[0];
            if (is_mul) for (int64_t i = 0; i < n; i++) yr[i] = ar[i] * bv;
            else for (int64_t i = 0; i < n; i++) yr[i] = ar[i] + bv;
        } else {
            if (is_mul) for (int64_t i = 0; i < n; i++) yr[i] = ar[i] * br[i];
            else for (int64_t i = 0; i < n; i++) yr[i] = ar[i] + br[i];
        }
    }
    return MLXN_OK;
}
static mlxn_status cpu_add(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return cpu_binary(ctx, a, b, y, false); }
static mlxn_status cpu_mul(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return cpu_binary(ctx, a, b, y, true); }

static mlxn_status cpu_scale(void *ctx, const mlxn_tview *x, float s, const mlxn_tview *y) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < x->d.ne[0]; i++) yr[i] = xr[i] * s;
    }
    return MLXN_OK;
}

static inline float silu_f(float x) { return x / (1.0f + expf(-x)); }
static inline float gelu_tanh_f(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))); }

static mlxn_status cpu_unary(void *ctx, mlxn_unary fn, const mlxn_tview *x, const mlxn_tview *y) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r);
        float *yr = ROW_F(y, r);
        if (fn == MLXN_UNARY_SILU) for (int64_t i = 0; i < x->d.ne[0]; i++) yr[i] = silu_f(xr[i]);
        else for (int64_t i = 0; i < x->d.ne[0]; i++) yr[i] = gelu_tanh_f(xr[i]);
    }
    return MLXN_OK;
}

static mlxn_status cpu_glu(void *ctx, mlxn_glu fn, const mlxn_tview *gate, const mlxn_tview *up, const mlxn_tview *y) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(gate); r++) {
        const float *g = ROW_F(gate, r), *u = ROW_F(up, r);
        float *yr = ROW_F(y, r);
        if (fn == MLXN_GLU_SWIGLU) for (int64_t i = 0; i < gate->d.ne[0]; i++) yr[i] = silu_f(g[i]) * u[i];
        else for (int64_t i = 0; i < gate->d.ne[0]; i++) yr[i] = gelu_tanh_f(g[i]) * u[i];
    }
    return MLXN_OK;
}

/* Two passes over y: y holds the scaled, capped, masked logits, then the probabilities. */
static mlxn_status cpu_softmax(void *ctx, const mlxn_tview *x, const mlxn_tview *mask, float scale, float softcap, const mlxn_tview *y) {
    int64_t n = x->d.ne[0];
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r), *mr = mask ? mlxn_view_row_bcast(mask, x, r) : NULL;
        float *yr = ROW_F(y, r);
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i] * scale;
            if (softcap > 0) v = softcap * tanhf(v / softcap);
            if (mr) v += mr[i];
            yr[i] = v;
            mx = v > mx ? v : mx;
        }
        float sum = 0;
        for (int64_t i = 0; i < n; i++) sum += (yr[i] = expf(yr[i] - mx));
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++) yr[i] *= inv;
    }
    return MLXN_OK;
}

static mlxn_status cpu_copy(void *ctx, const mlxn_tview *src, const mlxn_tview *dst) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < mlxn_view_nrows(src); r++) {
        const void *sr = mlxn_view_row(src, r);
        void *dr = mlxn_view_row(dst, r);
        if (src->d.type == dst->d.type) memmove(dr, sr, mlxn_row_size(src->d.type, src->d.ne[0]));
        else for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(dst->d.type, dr, i, mlxn_load_f(src->d.type, sr, i));
    }
    return MLXN_OK;
}

/* ==========================================================================
 * Rope, KV cache, attention
 * ========================================================================== */

static mlxn_status cpu_rope(void *ctx, const mlxn_tview *x, const mlxn_tview *pos, const mlxn_tview *ff, const mlxn_rope_params *p,
                            const mlxn_tview *y) {
    int64_t hd = x->d.ne[0], H = x->d.ne[1], T = x->d.ne[2], half = p->n_rot / 2;
    const float *f = ff ? ff->data : NULL;
    if (half > 256) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "rope: n_rot = %d (cpu backend handles up to 512)", p->n_rot);
    /* base^(-2i/n_rot) per pair, once per call (half <= 256) */
    float inv_freq[256];
    for (int64_t i = 0; i < half; i++) inv_freq[i] = (float)pow((double)p->freq_base, -2.0 * (double)i / p->n_rot);
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t t = 0; t < T; t++) {
        float ps = (float)((const int32_t *)pos->data)[t] * p->freq_scale;
        float cs[256], sn[256];
        for (int64_t i = 0; i < half; i++) {
            float theta = ps * inv_freq[i];
            if (f) theta /= f[i];
            cs[i] = cosf(theta);
            sn[i] = sinf(theta);
        }
        for (int64_t h = 0; h < H; h++) {
            const float *xr = AT_F(x, h, t, 0);
            float *yr = AT_F(y, h, t, 0);
            for (int64_t i = 0; i < half; i++) {
                int64_t i0 = p->mode == MLXN_ROPE_NORM ? 2 * i : i, i1 = p->mode == MLXN_ROPE_NORM ? 2 * i + 1 : i + half;
                float a = xr[i0], b = xr[i1];
                yr[i0] = a * cs[i] - b * sn[i];
                yr[i1] = a * sn[i] + b * cs[i];
            }
            if (yr != xr) for (int64_t i = p->n_rot; i < hd; i++) yr[i] = xr[i];
        }
    }
    return MLXN_OK;
}

static mlxn_status cpu_kv_write(void *ctx, const mlxn_tview *src, const mlxn_tview *pos, const mlxn_tview *cache) {
    MLXN_TRY(mlxn_cpu_check_pos(pos, cache->d.ne[1], "kv_write", "pos"));
    int64_t n_kv = src->d.ne[1], T = src->d.ne[2];
#pragma omp parallel for collapse(2) num_threads(nthreads(ctx))
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < n_kv; h++) {
            const float *s = AT_F(src, h, t, 0);
            void *c = mlxn_view_at(cache, ((const int32_t *)pos->data)[t], h, 0);
            if (cache->d.type == MLXN_TYPE_F32) memcpy(c, s, (size_t)src->d.ne[0] * sizeof(float));
            else for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(cache->d.type, c, i, s[i]);
        }
    return MLXN_OK;
}

/* One pass per (query, head) with the online softmax: running max m, running sum l, and the
 * output accumulator rescaled whenever m grows. */
static mlxn_status cpu_attention(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *q_pos,
                                 const mlxn_attn_params *p, const mlxn_tview *out) {
    int64_t D = q->d.ne[0], H = q->d.ne[1], nq = q->d.ne[2], n_kv = k->d.ne[2], Dv = v->d.ne[0];
    int64_t group = H / n_kv;
    mlxn_type ct = k->d.type;
    MLXN_TRY(mlxn_cpu_check_pos(q_pos, k->d.ne[1], "attention", "q_pos"));
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nthreads(ctx))
    for (int64_t i = 0; i < nq; i++)
        for (int64_t h = 0; h < H; h++) {
            int64_t qp = ((const int32_t *)q_pos->data)[i];
            int64_t j0 = p->window > 0 && qp - p->window + 1 > 0 ? qp - p->window + 1 : 0;
            const float *qv = AT_F(q, h, i, 0);
            int64_t kvh = h / group;
            float acc[512], kr[512];
            float m = -INFINITY, l = 0;
            for (int64_t c = 0; c < Dv; c++) acc[c] = 0;
            for (int64_t j = j0; j <= qp; j++) {
                const void *kraw = mlxn_view_at(k, j, kvh, 0);
                const float *kf = kraw;
                if (ct != MLXN_TYPE_F32) {
                    for (int64_t c = 0; c < D; c++) kr[c] = mlxn_load_f(ct, kraw, c);
                    kf = kr;
                }
                float s = dot_f(qv, kf, D) * p->scale;
                if (p->softcap > 0) s = p->softcap * tanhf(s / p->softcap);
                if (s > m) {
                    float corr = expf(m - s);   /* 0 on the first key (m = -inf) */
                    l *= corr;
                    for (int64_t c = 0; c < Dv; c++) acc[c] *= corr;
                    m = s;
                }
                float w = expf(s - m);
                l += w;
                const void *vraw = mlxn_view_at(v, j, kvh, 0);
                if (ct == MLXN_TYPE_F32) {
                    const float *vf = vraw;
                    for (int64_t c = 0; c < Dv; c++) acc[c] += w * vf[c];
                } else {
                    for (int64_t c = 0; c < Dv; c++) acc[c] += w * mlxn_load_f(ct, vraw, c);
                }
            }
            float *o = AT_F(out, h, i, 0);
            float inv = 1.0f / l;
            for (int64_t c = 0; c < Dv; c++) o[c] = acc[c] * inv;
        }
    return MLXN_OK;
}

/* ==========================================================================
 * MoE routing, sampling helpers
 * ========================================================================== */

static mlxn_status cpu_moe_route(void *ctx, const mlxn_tview *logits, const mlxn_moe_route_params *p, const mlxn_tview *expert_scale,
                                 const mlxn_tview *ids, const mlxn_tview *weights) {
    int64_t E = logits->d.ne[0], T = logits->d.ne[1];
    int k = p->k;
    if (E > 4096) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "moe_route: %lld experts (cpu backend handles up to 4096)", (long long)E);
    const float *es = expert_scale ? expert_scale->data : NULL;
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t t = 0; t < T; t++) {
        const float *l = AT_F(logits, t, 0, 0);
        int32_t *io = AT_I(ids, t, 0, 0);
        float *wo = AT_F(weights, t, 0, 0);
        float pr[4096];
        float mx = -INFINITY, sum = 0;
        if (p->gating == MLXN_MOE_SOFTMAX) {
            for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            for (int64_t e = 0; e < E; e++) sum += (pr[e] = expf(l[e] - mx));
            for (int64_t e = 0; e < E; e++) pr[e] /= sum;
        } else if (p->gating == MLXN_MOE_SIGMOID) {
            for (int64_t e = 0; e < E; e++) pr[e] = 1.0f / (1.0f + expf(-l[e]));
        } else {
            memcpy(pr, l, (size_t)E * sizeof(float));
        }
        mlxn_cpu_top_k(pr, E, k, io);
        for (int j = 0; j < k; j++) wo[j] = pr[io[j]];
        if (p->gating == MLXN_MOE_SOFTMAX_TOPK) {
            mx = wo[0];
            sum = 0;
            for (int j = 0; j < k; j++) sum += (wo[j] = expf(wo[j] - mx));
            for (int j = 0; j < k; j++) wo[j] /= sum;
        }
        if (p->renorm) {
            sum = 0;
            for (int j = 0; j < k; j++) sum += wo[j];
            for (int j = 0; j < k; j++) wo[j] /= sum;
        }
        for (int j = 0; j < k; j++) wo[j] *= p->scale * (es ? es[io[j]] : 1.0f);
    }
    return MLXN_OK;
}

static mlxn_status cpu_moe_combine(void *ctx, const mlxn_tview *eo, const mlxn_tview *w, const mlxn_tview *res, const mlxn_tview *y) {
    int64_t rows = eo->d.ne[0], k = eo->d.ne[1], T = eo->d.ne[2];
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t t = 0; t < T; t++) {
        const float *wt = AT_F(w, t, 0, 0);
        float *yr = AT_F(y, t, 0, 0);
        if (res) memmove(yr, AT_F(res, t, 0, 0), (size_t)rows * sizeof(float));
        else memset(yr, 0, (size_t)rows * sizeof(float));
        for (int64_t j = 0; j < k; j++) {
            const float *er = AT_F(eo, j, t, 0);
            float wj = wt[j];
            for (int64_t r = 0; r < rows; r++) yr[r] += wj * er[r];
        }
    }
    return MLXN_OK;
}

static mlxn_status cpu_argmax(void *ctx, const mlxn_tview *x, const mlxn_tview *out) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k(ROW_F(x, r), x->d.ne[0], 1, &((int32_t *)out->data)[r]);
    return MLXN_OK;
}

static mlxn_status cpu_top_k(void *ctx, const mlxn_tview *x, int k, const mlxn_tview *ids, const mlxn_tview *vals) {
#pragma omp parallel for num_threads(nthreads(ctx))
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k_row(x, r, k, ids, vals);
    return MLXN_OK;
}

static const mlxn_backend_vtbl cpu_vtbl = {
    .name = "cpu",
    .kind = MLXN_DEVICE_CPU,
    .host_memory = true,
    .init = cpu_init,
    .release = cpu_release,
    .set_threads = cpu_set_threads,
    .buffer_alloc = mlxn_cpu_buffer_alloc,
    .buffer_free = mlxn_cpu_buffer_free,
    .buffer_upload = mlxn_cpu_buffer_upload,
    .buffer_download = mlxn_cpu_buffer_download,
    .buffer_fill = mlxn_cpu_buffer_fill,
    .supports = cpu_supports,
    .mul_mat = cpu_mul_mat,
    .mul_mat_id = cpu_mul_mat_id,
    .rms_norm = cpu_rms_norm,
    .add_rms_norm = cpu_add_rms_norm,
    .add = cpu_add,
    .mul = cpu_mul,
    .scale = cpu_scale,
    .rope = cpu_rope,
    .kv_write = cpu_kv_write,
    .attention = cpu_attention,
    .softmax = cpu_softmax,
    .unary = cpu_unary,
    .glu = cpu_glu,
    .get_rows = cpu_get_rows,
    .moe_route = cpu_moe_route,
    .moe_combine = cpu_moe_combine,
    .argmax = cpu_argmax,
    .top_k = cpu_top_k,
    .copy = cpu_copy,
};

const mlxn_backend_vtbl *mlxn_cpu_backend_vtbl(void) { return &cpu_vtbl; }
