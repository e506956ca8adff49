/* The reference backend "ref": every op in plain scalar C with double accumulation, written to
 * be obviously right rather than fast. It is the oracle the harness (tests/test_ops.c) checks
 * every other backend against. Single-threaded; synchronous; host memory. */
#include "backend/cpu/ref_util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ROW_F(v, r) ((float *)mlxn_view_row((v), (r)))
#define AT_F(v, i1, i2, i3) ((float *)mlxn_view_at((v), (i1), (i2), (i3)))
#define AT_I(v, i1, i2, i3) ((int32_t *)mlxn_view_at((v), (i1), (i2), (i3)))

static mlxn_status ref_init(int device, void **ctx) {
    *ctx = NULL;
    return MLXN_OK;
}

static bool ref_supports(void *ctx, mlxn_op op, mlxn_type t) { return mlxn_cpu_supports(op, t); }

static double dot_fd(const float *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

/* ==========================================================================
 * Matrix products and lookups
 * ========================================================================== */

static mlxn_status ref_mul_mat(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y) {
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n = x->d.ne[1];
    float *wrow = malloc((size_t)k * sizeof(float));   /* one decoded weight row {k} */
    if (!wrow) return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref mul_mat: out of memory");
    mlxn_status st = MLXN_OK;
    for (int64_t r = 0; r < rows && st == MLXN_OK; r++) {
        st = mlxn_cpu_weight_row(W, r, 0, wrow);
        for (int64_t j = 0; j < n && st == MLXN_OK; j++) AT_F(y, j, 0, 0)[r] = (float)dot_fd(wrow, AT_F(x, j, 0, 0), k);
    }
    free(wrow);
    return st;
}

static double silu_d(double x);
static double gelu_tanh_d(double x);

/* The prologue of one column into xp {k}, rounded to f32 as the separate ops would store it;
 * then y = W . x' in double, plus add (read before y is written: add may be y). */
static mlxn_status ref_mul_mat_fused(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *norm_w, float eps,
                                     const mlxn_tview *up, mlxn_glu glu, const mlxn_tview *add, const mlxn_tview *y) {
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n = x->d.ne[1];
    float *wrow = malloc((size_t)k * sizeof(float));          /* one decoded weight row {k} */
    float *xp = malloc((size_t)(k * n) * sizeof(float));      /* x' {k, n} */
    if (!wrow || !xp) {
        free(wrow), free(xp);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref mul_mat_fused: out of memory");
    }
    for (int64_t j = 0; j < n; j++) {
        const float *xj = AT_F(x, j, 0, 0);
        float *pj = xp + (size_t)(j * k);
        if (norm_w) {
            double ss = 0;
            for (int64_t i = 0; i < k; i++) ss += (double)xj[i] * xj[i];
            double inv = 1.0 / sqrt(ss / (double)k + eps);
            const float *w = norm_w->data;
            for (int64_t i = 0; i < k; i++) pj[i] = (float)(xj[i] * inv * w[i]);
        } else if (up) {
            const float *u = AT_F(up, j, 0, 0);
            for (int64_t i = 0; i < k; i++)
                pj[i] = (float)((glu == MLXN_GLU_SWIGLU ? silu_d(xj[i]) : gelu_tanh_d(xj[i])) * (double)u[i]);
        } else {
            memcpy(pj, xj, (size_t)k * sizeof(float));
        }
    }
    mlxn_status st = MLXN_OK;
    for (int64_t r = 0; r < rows && st == MLXN_OK; r++) {
        st = mlxn_cpu_weight_row(W, r, 0, wrow);
        for (int64_t j = 0; j < n && st == MLXN_OK; j++) {
            double v = dot_fd(wrow, xp + (size_t)(j * k), k);
            if (add) v += (double)AT_F(add, j, 0, 0)[r];
            AT_F(y, j, 0, 0)[r] = (float)v;
        }
    }
    free(wrow), free(xp);
    return st;
}

static mlxn_status check_ids(const mlxn_tview *ids, int64_t limit, const char *op, const char *what) {
    for (int64_t t = 0; t < ids->d.ne[1]; t++)
        for (int64_t j = 0; j < ids->d.ne[0]; j++) {
            int32_t id = AT_I(ids, t, 0, 0)[j];
            if (id < 0 || id >= limit)
                return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s[%lld][%lld] = %d outside [0, %lld)", op, what, (long long)t, (long long)j,
                                 (int)id, (long long)limit);
        }
    return MLXN_OK;
}

static mlxn_status ref_mul_mat_id(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *x, const mlxn_tview *y) {
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n_expert = W->w.d.ne[2];
    int64_t top_k = ids->d.ne[0], n_tok = ids->d.ne[1], n_x = x->d.ne[1];
    MLXN_TRY(check_ids(ids, n_expert, "mul_mat_id", "ids"));
    float *wrow = malloc((size_t)k * sizeof(float));
    if (!wrow) return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref mul_mat_id: out of memory");
    mlxn_status st = MLXN_OK;
    for (int64_t t = 0; t < n_tok && st == MLXN_OK; t++)
        for (int64_t j = 0; j < top_k && st == MLXN_OK; j++) {
            int32_t e = AT_I(ids, t, 0, 0)[j];
            const float *xv = AT_F(x, n_x == 1 ? 0 : j, t, 0);
            float *yv = AT_F(y, j, t, 0);
            for (int64_t r = 0; r < rows && st == MLXN_OK; r++) {
                st = mlxn_cpu_weight_row(W, r, e, wrow);
                yv[r] = (float)dot_fd(wrow, xv, k);
            }
        }
    free(wrow);
    return st;
}

static mlxn_status ref_get_rows(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *y) {
    int64_t n_rows = W->w.d.ne[1];
    for (int64_t t = 0; t < ids->d.ne[0]; t++) {
        int32_t id = ((const int32_t *)ids->data)[t];
        if (id < 0 || id >= n_rows)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "get_rows: ids[%lld] = %d outside [0, %lld)", (long long)t, (int)id, (long long)n_rows);
    }
    for (int64_t t = 0; t < ids->d.ne[0]; t++) MLXN_TRY(mlxn_cpu_weight_row(W, ((const int32_t *)ids->data)[t], 0, ROW_F(y, t)));
    return MLXN_OK;
}

/* ==========================================================================
 * Norms and elementwise
 * ========================================================================== */

static void rms_row(const float *x, const float *w, int64_t n, float eps, float *y) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double inv = 1.0 / sqrt(ss / (double)n + eps);
    for (int64_t i = 0; i < n; i++) y[i] = (float)(x[i] * inv * (w ? w[i] : 1.0));
}

static mlxn_status ref_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *w, float eps, const mlxn_tview *y) {
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) rms_row(ROW_F(x, r), w ? (const float *)w->data : NULL, x->d.ne[0], eps, ROW_F(y, r));
    return MLXN_OK;
}

static mlxn_status ref_add_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                                    const mlxn_tview *sum, const mlxn_tview *y) {
    int64_t n = x->d.ne[0];
    for (int64_t i = 0; i < mlxn_view_nrows(x); i++) {
        const float *xr = ROW_F(x, i), *rr = ROW_F(r, i);
        float *sr = ROW_F(sum, i);
        for (int64_t j = 0; j < n; j++) sr[j] = xr[j] + rr[j];
        rms_row(sr, w ? (const float *)w->data : NULL, n, eps, ROW_F(y, i));
    }
    return MLXN_OK;
}

static mlxn_status ref_binary(const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y, bool is_mul) {
    int64_t n = a->d.ne[0];
    for (int64_t r = 0; r < mlxn_view_nrows(a); r++) {
        const float *ar = ROW_F(a, r), *br = mlxn_view_row_bcast(b, a, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < n; i++) {
            float bv = br[b->d.ne[0] == 1 ? 0 : i];
            yr[i] = is_mul ? ar[i] * bv : ar[i] + bv;
        }
    }
    return MLXN_OK;
}
static mlxn_status ref_add(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return ref_binary(a, b, y, false); }
static mlxn_status ref_mul(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return ref_binary(a, b, y, true); }

static mlxn_status ref_scale(void *ctx, const mlxn_tview *x, float s, const mlxn_tview *y) {
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < x->d.ne[0]; i++) yr[i] = xr[i] * s;
    }
    return MLXN_OK;
}

static double silu_d(double x) { return x / (1.0 + exp(-x)); }
static double gelu_tanh_d(double x) { return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

static mlxn_status ref_unary(void *ctx, mlxn_unary fn, const mlxn_tview *x, const mlxn_tview *y) {
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < x->d.ne[0]; i++)
            yr[i] = (float)(fn == MLXN_UNARY_SILU ? silu_d(xr[i]) : fn == MLXN_UNARY_TANH ? tanh((double)xr[i]) : gelu_tanh_d(xr[i]));
    }
    return MLXN_OK;
}

static mlxn_status ref_glu(void *ctx, mlxn_glu fn, const mlxn_tview *gate, const mlxn_tview *up, const mlxn_tview *y) {
    for (int64_t r = 0; r < mlxn_view_nrows(gate); r++) {
        const float *g = ROW_F(gate, r), *u = ROW_F(up, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < gate->d.ne[0]; i++)
            yr[i] = (float)((fn == MLXN_GLU_SWIGLU ? silu_d(g[i]) : gelu_tanh_d(g[i])) * (double)u[i]);
    }
    return MLXN_OK;
}

static mlxn_status ref_softmax(void *ctx, const mlxn_tview *x, const mlxn_tview *mask, float scale, float softcap, const mlxn_tview *y) {
    int64_t n = x->d.ne[0];
    double *s = malloc((size_t)n * sizeof(double));
    if (!s) return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref softmax: out of memory");
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r), *mr = mask ? mlxn_view_row_bcast(mask, x, r) : NULL;
        double mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            double v = (double)xr[i] * scale;
            if (softcap > 0) v = softcap * tanh(v / softcap);
            if (mr) v += mr[i];
            s[i] = v;
            if (v > mx) mx = v;
        }
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += (s[i] = exp(s[i] - mx));
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < n; i++) yr[i] = (float)(s[i] / sum);
    }
    free(s);
    return MLXN_OK;
}

static mlxn_status ref_copy(void *ctx, const mlxn_tview *src, const mlxn_tview *dst) {
    for (int64_t r = 0; r < mlxn_view_nrows(src); r++) {
        const void *sr = mlxn_view_row(src, r);
        void *dr = mlxn_view_row(dst, r);
        for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(dst->d.type, dr, i, mlxn_load_f(src->d.type, sr, i));
    }
    return MLXN_OK;
}

/* ==========================================================================
 * Rope, KV cache, attention
 * ========================================================================== */

/* One head of hd values at position ps: y = rope(x) (y may alias x); angles in double. */
static void rope_head(const float *x, float *y, int64_t hd, double ps, const float *ff, const mlxn_rope_params *p) {
    int64_t half = p->n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        double theta = ps * p->freq_scale * pow((double)p->freq_base, -2.0 * (double)i / p->n_rot);
        if (ff) theta /= ff[i];
        int64_t i0 = p->mode == MLXN_ROPE_NORM ? 2 * i : i, i1 = p->mode == MLXN_ROPE_NORM ? 2 * i + 1 : i + half;
        double c = cos(theta), s = sin(theta), a = x[i0], b = x[i1];
        y[i0] = (float)(a * c - b * s);
        y[i1] = (float)(a * s + b * c);
    }
    for (int64_t i = p->n_rot; i < hd; i++) y[i] = x[i];
}

static mlxn_status ref_rope(void *ctx, const mlxn_tview *x, const mlxn_tview *pos, const mlxn_tview *ff, const mlxn_rope_params *p,
                            const mlxn_tview *y) {
    for (int64_t t = 0; t < x->d.ne[2]; t++) {
        double ps = ((const int32_t *)pos->data)[t];
        for (int64_t h = 0; h < x->d.ne[1]; h++)
            rope_head(AT_F(x, h, t, 0), AT_F(y, h, t, 0), x->d.ne[0], ps, ff ? (const float *)ff->data : NULL, p);
    }
    return MLXN_OK;
}

/* rope on q and k, k rotated into the cache and v copied: the values of rope then kv_write. */
static mlxn_status ref_rope_kv(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *pos,
                               const mlxn_tview *ff, const mlxn_rope_params *p, const mlxn_tview *q_out, const mlxn_tview *kc,
                               const mlxn_tview *vc) {
    MLXN_TRY(mlxn_cpu_check_pos(pos, kc->d.ne[1], "rope_kv", "pos"));
    int64_t hd = q->d.ne[0], hdv = v->d.ne[0];
    const float *f = ff ? (const float *)ff->data : NULL;
    float *kr = malloc((size_t)hd * sizeof(float));   /* one rotated k head {hd} */
    if (!kr) return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref rope_kv: out of memory");
    for (int64_t t = 0; t < q->d.ne[2]; t++) {
        int32_t ps = ((const int32_t *)pos->data)[t];
        for (int64_t h = 0; h < q->d.ne[1]; h++) rope_head(AT_F(q, h, t, 0), AT_F(q_out, h, t, 0), hd, ps, f, p);
        for (int64_t h = 0; h < k->d.ne[1]; h++) {
            rope_head(AT_F(k, h, t, 0), kr, hd, ps, f, p);
            void *c = mlxn_view_at(kc, ps, h, 0);
            for (int64_t i = 0; i < hd; i++) mlxn_store_f(kc->d.type, c, i, kr[i]);
            const float *vs = AT_F(v, h, t, 0);
            c = mlxn_view_at(vc, ps, h, 0);
            for (int64_t i = 0; i < hdv; i++) mlxn_store_f(vc->d.type, c, i, vs[i]);
        }
    }
    free(kr);
    return MLXN_OK;
}

static mlxn_status ref_kv_write(void *ctx, const mlxn_tview *src, const mlxn_tview *pos, const mlxn_tview *cache) {
    MLXN_TRY(mlxn_cpu_check_pos(pos, cache->d.ne[1], "kv_write", "pos"));
    for (int64_t t = 0; t < src->d.ne[2]; t++) {
        int32_t p = ((const int32_t *)pos->data)[t];
        for (int64_t h = 0; h < src->d.ne[1]; h++) {
            const float *s = AT_F(src, h, t, 0);
            void *c = mlxn_view_at(cache, p, h, 0);
            for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(cache->d.type, c, i, s[i]);
        }
    }
    return MLXN_OK;
}

static mlxn_status ref_attention(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *q_pos,
                                 const mlxn_attn_params *p, const mlxn_tview *out) {
    int64_t D = q->d.ne[0], H = q->d.ne[1], nq = q->d.ne[2], n_ctx = k->d.ne[1], n_kv = k->d.ne[2], Dv = v->d.ne[0];
    int64_t group = H / n_kv;
    mlxn_type ct = k->d.type;
    MLXN_TRY(mlxn_cpu_check_pos(q_pos, n_ctx, "attention", "q_pos"));
    double *s = malloc((size_t)n_ctx * sizeof(double)), *acc = malloc((size_t)Dv * sizeof(double));
    if (!s || !acc) {
        free(s);
        free(acc);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref attention: out of memory");
    }
    for (int64_t i = 0; i < nq; i++) {
        int64_t qp = ((const int32_t *)q_pos->data)[i];
        int64_t j0 = p->window > 0 && qp - p->window + 1 > 0 ? qp - p->window + 1 : 0;   /* first visible key */
        for (int64_t h = 0; h < H; h++) {
            const float *qv = AT_F(q, h, i, 0);
            int64_t kvh = h / group;
            double mx = -INFINITY;
            for (int64_t j = j0; j <= qp; j++) {
                const void *kr = mlxn_view_at(k, j, kvh, 0);
                double d = 0;
                for (int64_t c = 0; c < D; c++) d += (double)qv[c] * mlxn_load_f(ct, kr, c);
                d *= p->scale;
                if (p->softcap > 0) d = p->softcap * tanh(d / p->softcap);
                s[j] = d;
                if (d > mx) mx = d;
            }
            double sum = 0;
            for (int64_t j = j0; j <= qp; j++) sum += (s[j] = exp(s[j] - mx));
            for (int64_t c = 0; c < Dv; c++) acc[c] = 0;
            for (int64_t j = j0; j <= qp; j++) {
                const void *vr = mlxn_view_at(v, j, kvh, 0);
                for (int64_t c = 0; c < Dv; c++) acc[c] += s[j] * mlxn_load_f(ct, vr, c);
            }
            float *o = AT_F(out, h, i, 0);
            for (int64_t c = 0; c < Dv; c++) o[c] = (float)(acc[c] / sum);
        }
    }
    free(s);
    free(acc);
    return MLXN_OK;
}

/* ==========================================================================
 * MoE routing, sampling helpers
 * ========================================================================== */

static mlxn_status ref_moe_route(void *ctx, const mlxn_tview *logits, const mlxn_moe_route_params *p, const mlxn_tview *expert_scale,
                                 const mlxn_tview *ids, const mlxn_tview *weights) {
    int64_t E = logits->d.ne[0], k = p->k;
    float *pr = malloc((size_t)E * sizeof(float));
    int32_t *sel = malloc((size_t)k * sizeof(int32_t));
    double *wk = malloc((size_t)k * sizeof(double));
    if (!pr || !sel || !wk) {
        free(pr);
        free(sel);
        free(wk);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "ref moe_route: out of memory");
    }
    for (int64_t t = 0; t < logits->d.ne[1]; t++) {
        const float *l = AT_F(logits, t, 0, 0);
        double mx = -INFINITY, sum = 0;
        switch (p->gating) {
        case MLXN_MOE_SOFTMAX:
            for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            for (int64_t e = 0; e < E; e++) sum += exp((double)l[e] - mx);
            for (int64_t e = 0; e < E; e++) pr[e] = (float)(exp((double)l[e] - mx) / sum);
            break;
        case MLXN_MOE_SIGMOID:
            for (int64_t e = 0; e < E; e++) pr[e] = (float)(1.0 / (1.0 + exp(-(double)l[e])));
            break;
        case MLXN_MOE_SOFTMAX_TOPK: memcpy(pr, l, (size_t)E * sizeof(float)); break;
        }
        mlxn_cpu_top_k(pr, E, (int)k, sel);
        for (int64_t j = 0; j < k; j++) wk[j] = pr[sel[j]];
        if (p->gating == MLXN_MOE_SOFTMAX_TOPK) {
            mx = wk[0];   /* sorted: the first is the largest */
            sum = 0;
            for (int64_t j = 0; j < k; j++) sum += (wk[j] = exp(wk[j] - mx));
            for (int64_t j = 0; j < k; j++) wk[j] /= sum;
        }
        if (p->renorm) {
            sum = 0;
            for (int64_t j = 0; j < k; j++) sum += wk[j];
            for (int64_t j = 0; j < k; j++) wk[j] /= sum;
        }
        int32_t *io = AT_I(ids, t, 0, 0);
        float *wo = AT_F(weights, t, 0, 0);
        for (int64_t j = 0; j < k; j++) {
            double w = wk[j] * p->scale;
            if (expert_scale) w *= ((const float *)expert_scale->data)[sel[j]];
            io[j] = sel[j];
            wo[j] = (float)w;
        }
    }
    free(pr);
    free(sel);
    free(wk);
    return MLXN_OK;
}

static mlxn_status ref_moe_combine(void *ctx, const mlxn_tview *eo, const mlxn_tview *w, const mlxn_tview *res, const mlxn_tview *y) {
    int64_t rows = eo->d.ne[0], k = eo->d.ne[1];
    for (int64_t t = 0; t < eo->d.ne[2]; t++) {
        const float *wt = AT_F(w, t, 0, 0);
        float *yr = AT_F(y, t, 0, 0);
        for (int64_t r = 0; r < rows; r++) {
            double s = res ? AT_F(res, t, 0, 0)[r] : 0.0;
            for (int64_t j = 0; j < k; j++) s += (double)wt[j] * AT_F(eo, j, t, 0)[r];
            yr[r] = (float)s;
        }
    }
    return MLXN_OK;
}

static mlxn_status ref_argmax(void *ctx, const mlxn_tview *x, const mlxn_tview *out) {
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k(ROW_F(x, r), x->d.ne[0], 1, &((int32_t *)out->data)[r]);
    return MLXN_OK;
}

static mlxn_status ref_top_k(void *ctx, const mlxn_tview *x, int k, const mlxn_tview *ids, const mlxn_tview *vals) {
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k_row(x, r, k, ids, vals);
    return MLXN_OK;
}

static const mlxn_backend_vtbl ref_vtbl = {
    .name = "ref",
    .kind = MLXN_DEVICE_CPU,
    .host_memory = true,
    .init = ref_init,
    .buffer_alloc = mlxn_cpu_buffer_alloc,
    .buffer_free = mlxn_cpu_buffer_free,
    .buffer_upload = mlxn_cpu_buffer_upload,
    .buffer_download = mlxn_cpu_buffer_download,
    .buffer_fill = mlxn_cpu_buffer_fill,
    .supports = ref_supports,
    .mul_mat = ref_mul_mat,
    .mul_mat_id = ref_mul_mat_id,
    .mul_mat_fused = ref_mul_mat_fused,
    .rms_norm = ref_rms_norm,
    .add_rms_norm = ref_add_rms_norm,
    .add = ref_add,
    .mul = ref_mul,
    .scale = ref_scale,
    .rope = ref_rope,
    .kv_write = ref_kv_write,
    .rope_kv = ref_rope_kv,
    .attention = ref_attention,
    .softmax = ref_softmax,
    .unary = ref_unary,
    .glu = ref_glu,
    .get_rows = ref_get_rows,
    .moe_route = ref_moe_route,
    .moe_combine = ref_moe_combine,
    .argmax = ref_argmax,
    .argmax_advance = mlxn_cpu_argmax_advance,
    .top_k = ref_top_k,
    .copy = ref_copy,
};

const mlxn_backend_vtbl *mlxn_ref_backend_vtbl(void) { return &ref_vtbl; }
