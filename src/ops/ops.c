/* Op front-ends: resolve every tensor to a view inside its buffer, check types, shapes and the
 * backend's support, then build one mlxn_op_call and dispatch it. Nothing reaches a backend
 * unless it matches the semantics documented in mlxn.h; data-dependent checks (ids, positions)
 * are the backend's. */
#include "backend/backend.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const op_names[MLXN_OP_COUNT] = {
    "mul_mat", "mul_mat_id", "rms_norm", "add_rms_norm", "add", "mul", "scale", "rope", "kv_write",
    "attention", "softmax", "unary", "glu", "get_rows", "moe_route", "moe_combine", "argmax", "top_k", "copy",
    "mul_mat_fused",
    "rope_kv",
    "argmax_advance",
};

const char *mlxn_op_name(mlxn_op op) { return (int)op >= 0 && op < MLXN_OP_COUNT ? op_names[op] : "unknown op"; }

mlxn_status mlxn_tensor_init(mlxn_tensor *t, mlxn_buffer_t *buf, size_t offset, mlxn_type type, int n_dims, const int64_t *ne) {
    if (!t || !buf) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tensor_init: NULL tensor or buffer");
    memset(t, 0, sizeof *t);
    MLXN_TRY(mlxn_tensor_desc_init(&t->d, type, n_dims, ne));
    size_t size = mlxn_buffer_size(buf), n = mlxn_tensor_desc_nbytes(&t->d);
    if (offset > size || n > size - offset)
        return mlxn_fail(MLXN_ERR_SHAPE, "tensor_init: %s tensor of %zu bytes at offset %zu does not fit the buffer's %zu bytes",
                         mlxn_type_name(type), n, offset, size);
    t->buf = buf;
    t->offset = offset;
    return MLXN_OK;
}

/* ==========================================================================
 * Validation helpers (each returns a failure naming op and tensor)
 * ========================================================================== */

static void fmt_ne(const mlxn_tensor_desc *d, char *buf, size_t n) {
    snprintf(buf, n, "{%lld, %lld, %lld, %lld}", (long long)d->ne[0], (long long)d->ne[1], (long long)d->ne[2],
             (long long)d->ne[3]);
}

static mlxn_status need_type(const mlxn_tview *v, mlxn_type t, const char *op, const char *what) {
    if (v->d.type == t) return MLXN_OK;
    return mlxn_fail(MLXN_ERR_TYPE, "%s: %s is %s, must be %s", op, what, mlxn_type_name(v->d.type), mlxn_type_name(t));
}

/* ne must equal e0..e3 where e >= 0 (-1 = any). */
static mlxn_status need_ne(const mlxn_tview *v, int64_t e0, int64_t e1, int64_t e2, int64_t e3, const char *op,
                           const char *what) {
    const int64_t e[4] = {e0, e1, e2, e3};
    for (int i = 0; i < 4; i++)
        if (e[i] >= 0 && v->d.ne[i] != e[i]) {
            char got[96], want[96];
            fmt_ne(&v->d, got, sizeof got);
            snprintf(want, sizeof want, "{%lld, %lld, %lld, %lld}", (long long)e0, (long long)e1, (long long)e2, (long long)e3);
            return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s has ne %s, expected %s (-1 = any): ne[%d] differs", op, what, got, want, i);
        }
    return MLXN_OK;
}

static mlxn_status need_same_ne(const mlxn_tview *a, const mlxn_tview *b, const char *op, const char *wa, const char *wb) {
    if (!memcmp(a->d.ne, b->d.ne, sizeof a->d.ne)) return MLXN_OK;
    char ga[96], gb[96];
    fmt_ne(&a->d, ga, sizeof ga);
    fmt_ne(&b->d, gb, sizeof gb);
    return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s ne %s and %s ne %s must match", op, wa, ga, wb, gb);
}

static mlxn_status need_support(mlxn_backend_t *be, mlxn_op op, mlxn_type t) {
    if (mlxn_backend_supports(be, op, t)) return MLXN_OK;
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: type %s is not supported by backend '%s'", mlxn_op_name(op), mlxn_type_name(t),
                     mlxn_backend_name(be));
}

/* Resolves an f32 activation. */
static mlxn_status f32_view(mlxn_backend_t *be, const mlxn_tensor *t, const char *op, const char *what, mlxn_tview *v) {
    MLXN_TRY(mlxn_tensor_resolve(be, t, op, what, v));
    return need_type(v, MLXN_TYPE_F32, op, what);
}

static mlxn_status i32_view(mlxn_backend_t *be, const mlxn_tensor *t, const char *op, const char *what, mlxn_tview *v) {
    MLXN_TRY(mlxn_tensor_resolve(be, t, op, what, v));
    return need_type(v, MLXN_TYPE_I32, op, what);
}

static mlxn_status any_view(mlxn_backend_t *be, const mlxn_tensor *t, const char *op, const char *what, mlxn_tview *v) {
    return mlxn_tensor_resolve(be, t, op, what, v);
}

static bool is_float_cache(mlxn_type t) { return t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16; }
/* K and V caches of one type among F32 / F16 / BF16 that the backend runs op on. */
static mlxn_status need_cache_pair(mlxn_backend_t *be, mlxn_op op, const mlxn_tview *k, const mlxn_tview *v, const char *on) {
    const mlxn_type ct = k->d.type;
    if (!is_float_cache(ct)) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: cache type %s (want f32, f16 or bf16)", on, mlxn_type_name(ct));
    if (v->d.type != ct)
        return mlxn_fail(MLXN_ERR_TYPE, "%s: v_cache is %s but k_cache is %s", on, mlxn_type_name(v->d.type), mlxn_type_name(ct));
    return need_support(be, op, ct);
}

/* Resolves a weight: w {k, rows, n_expert, 1}; for MLX also scales/biases per mlxn.h. */
static mlxn_status weight_view(mlxn_backend_t *be, const mlxn_weight *W, mlxn_op op, mlxn_wview *out) {
    const char *on = mlxn_op_name(op);
    memset(out, 0, sizeof *out);
    if (!W) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: weight is NULL", on);
    MLXN_TRY(any_view(be, &W->w, on, "W.w", &out->w));
    mlxn_type t = out->w.d.type;
    MLXN_TRY(need_support(be, op, t));
    if (out->w.d.ne[3] != 1) return mlxn_fail(MLXN_ERR_SHAPE, "%s: W.w has ne[3] = %lld, must be 1", on, (long long)out->w.d.ne[3]);
    bool mlx = t >= MLXN_TYPE_MLX_Q2 && t <= MLXN_TYPE_MLX_MXFP4;
    if (!mlx) return MLXN_OK;

    const mlxn_mlx_quant *q = &W->quant;
    out->quant = *q;
    int64_t k = out->w.d.ne[0];
    if (t == MLXN_TYPE_MLX_MXFP4) {
        if (q->mode != MLXN_MLX_MXFP4 || q->group_size != 32 || q->bits != 4)
            return mlxn_fail(MLXN_ERR_TYPE, "%s: W is mlx_mxfp4 but quant = {mode %d, bits %d, group %d}, want {mxfp4, 4, 32}", on,
                             (int)q->mode, q->bits, q->group_size);
    } else {
        int bits = (int)t - (int)MLXN_TYPE_MLX_Q2 + 2;
        if (q->mode != MLXN_MLX_AFFINE || q->bits != bits)
            return mlxn_fail(MLXN_ERR_TYPE, "%s: W is %s but quant = {mode %d, bits %d}", on, mlxn_type_name(t), (int)q->mode,
                             q->bits);
        if (q->group_size != 32 && q->group_size != 64 && q->group_size != 128)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: MLX group_size %d (want 32, 64 or 128)", on, q->group_size);
        if (q->scale_type != MLXN_TYPE_F16 && q->scale_type != MLXN_TYPE_BF16)
            return mlxn_fail(MLXN_ERR_TYPE, "%s: MLX scale type %s (want f16 or bf16)", on, mlxn_type_name(q->scale_type));
    }
    if (k % q->group_size)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: k = %lld is not a multiple of group_size %d", on, (long long)k, q->group_size);
    MLXN_TRY(any_view(be, &W->scales, on, "W.scales", &out->scales));
    int64_t g = k / q->group_size;
    MLXN_TRY(need_ne(&out->scales, g, out->w.d.ne[1], out->w.d.ne[2], 1, on, "W.scales"));
    if (t == MLXN_TYPE_MLX_MXFP4) {
        if (out->scales.d.type != MLXN_TYPE_U8 && out->scales.d.type != MLXN_TYPE_F8_E8M0)
            return mlxn_fail(MLXN_ERR_TYPE, "%s: mxfp4 scales are %s, must be u8 (E8M0)", on, mlxn_type_name(out->scales.d.type));
        out->quant.scale_type = MLXN_TYPE_F8_E8M0;
        return MLXN_OK;
    }
    MLXN_TRY(need_type(&out->scales, q->scale_type, on, "W.scales"));
    MLXN_TRY(any_view(be, &W->biases, on, "W.biases", &out->biases));
    MLXN_TRY(need_type(&out->biases, q->scale_type, on, "W.biases"));
    return need_ne(&out->biases, g, out->w.d.ne[1], out->w.d.ne[2], 1, on, "W.biases");
}

static void set_t(mlxn_op_call *c, int i, const mlxn_tview *v) {
    c->t[i] = *v;
    c->has[i] = true;
}

/* Every public op: validate into a call, then dispatch; on failure keep the message on be. */
#define OP_ENTRY(be, body)                                                                         \
    do {                                                                                           \
        if (!(be)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: backend is NULL", __func__ + 8);     \
        mlxn_status st_ = (body);                                                                  \
        return st_ == MLXN_OK ? MLXN_OK : mlxn_backend_fail((be), st_);                            \
    } while (0)

/* ==========================================================================
 * Matrix products and lookups
 * ========================================================================== */

static mlxn_status mul_mat_v(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_tensor *y) {
    const char *on = "mul_mat";
    mlxn_op_call c = {.op = MLXN_OP_MUL_MAT};
    mlxn_tview vx, vy;
    MLXN_TRY(weight_view(be, W, c.op, &c.W));
    MLXN_TRY(f32_view(be, x, on, "x", &vx));
    MLXN_TRY(f32_view(be, y, on, "y", &vy));
    int64_t k = c.W.w.d.ne[0], rows = c.W.w.d.ne[1];
    MLXN_TRY(need_ne(&c.W.w, k, rows, 1, 1, on, "W"));
    MLXN_TRY(need_ne(&vx, k, -1, 1, 1, on, "x"));
    MLXN_TRY(need_ne(&vy, rows, vx.d.ne[1], 1, 1, on, "y"));
    set_t(&c, 0, &vx);
    set_t(&c, 1, &vy);
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_mul_mat(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_tensor *y) {
    OP_ENTRY(be, mul_mat_v(be, W, x, y));
}

static mlxn_status check_eps(float eps, const char *on);

/* Bytes [lo, hi) a view spans (its last element included). */
static void view_span(const mlxn_tview *v, uintptr_t *lo, uintptr_t *hi) {
    size_t ext = mlxn_row_size(v->d.type, v->d.ne[0]);
    for (int i = 1; i < MLXN_MAX_DIMS; i++) ext += (size_t)(v->d.ne[i] - 1) * v->d.nb[i];
    *lo = (uintptr_t)v->data;
    *hi = *lo + ext;
}

static mlxn_status mul_mat_fused_v(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_mm_fusion *f,
                                   const mlxn_tensor *y) {
    const char *on = "mul_mat_fused";
    mlxn_op_call c = {.op = MLXN_OP_MUL_MAT_FUSED};
    if (!f) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: fusion descriptor is NULL", on);
    if (f->norm_w && f->up)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: norm_w and up are exclusive (a norm prologue or a glu prologue, not both)", on);
    MLXN_TRY(weight_view(be, W, c.op, &c.W));
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[4]));
    int64_t k = c.W.w.d.ne[0], rows = c.W.w.d.ne[1], n = c.t[0].d.ne[1];
    MLXN_TRY(need_ne(&c.W.w, k, rows, 1, 1, on, "W"));
    MLXN_TRY(need_ne(&c.t[0], k, -1, 1, 1, on, "x"));
    MLXN_TRY(need_ne(&c.t[4], rows, n, 1, 1, on, "y"));
    if (f->norm_w) {
        MLXN_TRY(check_eps(f->eps, on));
        MLXN_TRY(f32_view(be, f->norm_w, on, "norm_w", &c.t[1]));
        MLXN_TRY(need_ne(&c.t[1], k, 1, 1, 1, on, "norm_w"));
        c.f0 = f->eps;
        c.has[1] = true;
    }
    if (f->up) {
        if (f->glu != MLXN_GLU_SWIGLU && f->glu != MLXN_GLU_GEGLU)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: unknown glu function %d", on, (int)f->glu);
        MLXN_TRY(f32_view(be, f->up, on, "up", &c.t[2]));
        MLXN_TRY(need_same_ne(&c.t[0], &c.t[2], on, "x (gate)", "up"));
        c.i0 = (int)f->glu;
        c.has[2] = true;
    }
    if (f->add) {
        MLXN_TRY(f32_view(be, f->add, on, "add", &c.t[3]));
        MLXN_TRY(need_same_ne(&c.t[4], &c.t[3], on, "y", "add"));
        bool same = c.t[3].data == c.t[4].data && !memcmp(c.t[3].d.nb, c.t[4].d.nb, sizeof c.t[3].d.nb);
        uintptr_t a0, a1, y0, y1;
        view_span(&c.t[3], &a0, &a1);
        view_span(&c.t[4], &y0, &y1);
        if (!same && a0 < y1 && y0 < a1)
            return mlxn_fail(MLXN_ERR_INVALID_ARG,
                             "%s: add (offset %zu, %zu bytes) overlaps y (offset %zu, %zu bytes) without being the same view", on,
                             f->add->offset, (size_t)(a1 - a0), y->offset, (size_t)(y1 - y0));
        c.has[3] = true;
    }
    c.has[0] = c.has[4] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_mul_mat_fused(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_mm_fusion *f,
                                  const mlxn_tensor *y) {
    OP_ENTRY(be, mul_mat_fused_v(be, W, x, f, y));
}

static mlxn_status mul_mat_id_v(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids, const mlxn_tensor *x,
                                const mlxn_tensor *y) {
    const char *on = "mul_mat_id";
    mlxn_op_call c = {.op = MLXN_OP_MUL_MAT_ID};
    mlxn_tview vi, vx, vy;
    MLXN_TRY(weight_view(be, W, c.op, &c.W));
    MLXN_TRY(i32_view(be, ids, on, "ids", &vi));
    MLXN_TRY(f32_view(be, x, on, "x", &vx));
    MLXN_TRY(f32_view(be, y, on, "y", &vy));
    int64_t k = c.W.w.d.ne[0], rows = c.W.w.d.ne[1];
    int64_t top_k = vi.d.ne[0], n_tok = vi.d.ne[1];
    MLXN_TRY(need_ne(&vi, top_k, n_tok, 1, 1, on, "ids"));
    MLXN_TRY(need_ne(&vx, k, -1, n_tok, 1, on, "x"));
    if (vx.d.ne[1] != 1 && vx.d.ne[1] != top_k)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: x ne[1] = %lld, must be 1 (broadcast) or top_k = %lld", on, (long long)vx.d.ne[1],
                         (long long)top_k);
    MLXN_TRY(need_ne(&vy, rows, top_k, n_tok, 1, on, "y"));
    set_t(&c, 0, &vi);
    set_t(&c, 1, &vx);
    set_t(&c, 2, &vy);
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_mul_mat_id(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids, const mlxn_tensor *x,
                               const mlxn_tensor *y) {
    OP_ENTRY(be, mul_mat_id_v(be, W, ids, x, y));
}

static mlxn_status get_rows_v(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids, const mlxn_tensor *y) {
    const char *on = "get_rows";
    mlxn_op_call c = {.op = MLXN_OP_GET_ROWS};
    mlxn_tview vi, vy;
    MLXN_TRY(weight_view(be, W, c.op, &c.W));
    MLXN_TRY(i32_view(be, ids, on, "ids", &vi));
    MLXN_TRY(f32_view(be, y, on, "y", &vy));
    MLXN_TRY(need_ne(&c.W.w, -1, -1, 1, 1, on, "W"));
    MLXN_TRY(need_ne(&vi, -1, 1, 1, 1, on, "ids"));
    MLXN_TRY(need_ne(&vy, c.W.w.d.ne[0], vi.d.ne[0], 1, 1, on, "y"));
    set_t(&c, 0, &vi);
    set_t(&c, 1, &vy);
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_get_rows(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids, const mlxn_tensor *y) {
    OP_ENTRY(be, get_rows_v(be, W, ids, y));
}

/* ==========================================================================
 * Norms and elementwise
 * ========================================================================== */

static mlxn_status check_eps(float eps, const char *on) {
    if (!(eps >= 0.0f) || isinf(eps)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: eps = %g must be finite and >= 0", on, eps);
    return MLXN_OK;
}

static mlxn_status rms_norm_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *w, float eps, const mlxn_tensor *y) {
    const char *on = "rms_norm";
    mlxn_op_call c = {.op = MLXN_OP_RMS_NORM, .f0 = eps};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(check_eps(eps, on));
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[2]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[2], on, "x", "y"));
    if (w) {
        MLXN_TRY(f32_view(be, w, on, "w", &c.t[1]));
        MLXN_TRY(need_ne(&c.t[1], c.t[0].d.ne[0], 1, 1, 1, on, "w"));
        c.has[1] = true;
    }
    c.has[0] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_rms_norm(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *w, float eps, const mlxn_tensor *y) {
    OP_ENTRY(be, rms_norm_v(be, x, w, eps, y));
}

static mlxn_status add_rms_norm_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *r, const mlxn_tensor *w, float eps,
                                  const mlxn_tensor *sum, const mlxn_tensor *y) {
    const char *on = "add_rms_norm";
    mlxn_op_call c = {.op = MLXN_OP_ADD_RMS_NORM, .f0 = eps};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(check_eps(eps, on));
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(f32_view(be, r, on, "r", &c.t[1]));
    MLXN_TRY(f32_view(be, sum, on, "sum", &c.t[3]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[4]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[1], on, "x", "r"));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[3], on, "x", "sum"));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[4], on, "x", "y"));
    if (w) {
        MLXN_TRY(f32_view(be, w, on, "w", &c.t[2]));
        MLXN_TRY(need_ne(&c.t[2], c.t[0].d.ne[0], 1, 1, 1, on, "w"));
        c.has[2] = true;
    }
    c.has[0] = c.has[1] = c.has[3] = c.has[4] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_add_rms_norm(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *r, const mlxn_tensor *w, float eps,
                                 const mlxn_tensor *sum, const mlxn_tensor *y) {
    OP_ENTRY(be, add_rms_norm_v(be, x, r, w, eps, sum, y));
}

static mlxn_status binary_v(mlxn_backend_t *be, mlxn_op op, const mlxn_tensor *a, const mlxn_tensor *b, const mlxn_tensor *y) {
    const char *on = mlxn_op_name(op);
    mlxn_op_call c = {.op = op};
    MLXN_TRY(need_support(be, op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, a, on, "a", &c.t[0]));
    MLXN_TRY(f32_view(be, b, on, "b", &c.t[1]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[2]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[2], on, "a", "y"));
    for (int i = 0; i < MLXN_MAX_DIMS; i++)
        if (c.t[1].d.ne[i] != 1 && c.t[1].d.ne[i] != c.t[0].d.ne[i])
            return mlxn_fail(MLXN_ERR_SHAPE, "%s: b ne[%d] = %lld does not broadcast to a ne[%d] = %lld", on, i,
                             (long long)c.t[1].d.ne[i], i, (long long)c.t[0].d.ne[i]);
    c.has[0] = c.has[1] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_add(mlxn_backend_t *be, const mlxn_tensor *a, const mlxn_tensor *b, const mlxn_tensor *y) {
    OP_ENTRY(be, binary_v(be, MLXN_OP_ADD, a, b, y));
}
mlxn_status mlxn_op_mul(mlxn_backend_t *be, const mlxn_tensor *a, const mlxn_tensor *b, const mlxn_tensor *y) {
    OP_ENTRY(be, binary_v(be, MLXN_OP_MUL, a, b, y));
}

static mlxn_status scale_v(mlxn_backend_t *be, const mlxn_tensor *x, float s, const mlxn_tensor *y) {
    mlxn_op_call c = {.op = MLXN_OP_SCALE, .f0 = s};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, "scale", "x", &c.t[0]));
    MLXN_TRY(f32_view(be, y, "scale", "y", &c.t[1]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[1], "scale", "x", "y"));
    c.has[0] = c.has[1] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_scale(mlxn_backend_t *be, const mlxn_tensor *x, float s, const mlxn_tensor *y) {
    OP_ENTRY(be, scale_v(be, x, s, y));
}

static mlxn_status unary_v(mlxn_backend_t *be, mlxn_unary fn, const mlxn_tensor *x, const mlxn_tensor *y) {
    mlxn_op_call c = {.op = MLXN_OP_UNARY, .i0 = (int)fn};
    if (fn != MLXN_UNARY_SILU && fn != MLXN_UNARY_GELU_TANH && fn != MLXN_UNARY_TANH)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "unary: unknown function %d", (int)fn);
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, "unary", "x", &c.t[0]));
    MLXN_TRY(f32_view(be, y, "unary", "y", &c.t[1]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[1], "unary", "x", "y"));
    c.has[0] = c.has[1] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_unary(mlxn_backend_t *be, mlxn_unary fn, const mlxn_tensor *x, const mlxn_tensor *y) {
    OP_ENTRY(be, unary_v(be, fn, x, y));
}

static mlxn_status glu_v(mlxn_backend_t *be, mlxn_glu fn, const mlxn_tensor *gate, const mlxn_tensor *up, const mlxn_tensor *y) {
    mlxn_op_call c = {.op = MLXN_OP_GLU, .i0 = (int)fn};
    if (fn != MLXN_GLU_SWIGLU && fn != MLXN_GLU_GEGLU) return mlxn_fail(MLXN_ERR_INVALID_ARG, "glu: unknown function %d", (int)fn);
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, gate, "glu", "gate", &c.t[0]));
    MLXN_TRY(f32_view(be, up, "glu", "up", &c.t[1]));
    MLXN_TRY(f32_view(be, y, "glu", "y", &c.t[2]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[1], "glu", "gate", "up"));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[2], "glu", "gate", "y"));
    c.has[0] = c.has[1] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_glu(mlxn_backend_t *be, mlxn_glu fn, const mlxn_tensor *gate, const mlxn_tensor *up, const mlxn_tensor *y) {
    OP_ENTRY(be, glu_v(be, fn, gate, up, y));
}

static mlxn_status softmax_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *mask, float scale, float softcap,
                             const mlxn_tensor *y) {
    const char *on = "softmax";
    mlxn_op_call c = {.op = MLXN_OP_SOFTMAX, .f0 = scale, .f1 = softcap};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    if (!isfinite(scale) || !(softcap >= 0.0f) || isinf(softcap))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "softmax: scale %g must be finite, softcap %g finite and >= 0", scale, softcap);
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[2]));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[2], on, "x", "y"));
    if (mask) {
        MLXN_TRY(f32_view(be, mask, on, "mask", &c.t[1]));
        const mlxn_tview *m = &c.t[1];
        bool ok = m->d.ne[0] == c.t[0].d.ne[0];
        for (int i = 1; i < MLXN_MAX_DIMS; i++) ok = ok && (m->d.ne[i] == 1 || m->d.ne[i] == c.t[0].d.ne[i]);
        if (!ok) {
            char gm[96], gx[96];
            fmt_ne(&m->d, gm, sizeof gm);
            fmt_ne(&c.t[0].d, gx, sizeof gx);
            return mlxn_fail(MLXN_ERR_SHAPE, "softmax: mask ne %s does not broadcast to x ne %s (ne[0] must match)", gm, gx);
        }
        c.has[1] = true;
    }
    c.has[0] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_softmax(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *mask, float scale, float softcap,
                            const mlxn_tensor *y) {
    OP_ENTRY(be, softmax_v(be, x, mask, scale, softcap, y));
}

static mlxn_status copy_v(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *dst) {
    mlxn_op_call c = {.op = MLXN_OP_COPY};
    MLXN_TRY(any_view(be, src, "copy", "src", &c.t[0]));
    MLXN_TRY(any_view(be, dst, "copy", "dst", &c.t[1]));
    for (int i = 0; i < 2; i++)
        if (!is_float_cache(c.t[i].d.type))
            return mlxn_fail(MLXN_ERR_TYPE, "copy: %s is %s, must be f32, f16 or bf16", i ? "dst" : "src",
                             mlxn_type_name(c.t[i].d.type));
    MLXN_TRY(need_support(be, c.op, c.t[1].d.type));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[1], "copy", "src", "dst"));
    c.has[0] = c.has[1] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_copy(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *dst) { OP_ENTRY(be, copy_v(be, src, dst)); }

/* ==========================================================================
 * Rope, KV cache, attention
 * ========================================================================== */

/* mode known, n_rot even in (0, head_dim], base and scale finite and positive. */
static mlxn_status check_rope_params(const mlxn_rope_params *p, int64_t hd, const char *on) {
    if (p->mode != MLXN_ROPE_NORM && p->mode != MLXN_ROPE_NEOX) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: unknown mode %d", on, (int)p->mode);
    if (p->n_rot <= 0 || p->n_rot % 2 || p->n_rot > hd)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: n_rot = %d must be even, positive and <= head_dim %lld", on, p->n_rot, (long long)hd);
    if (!(p->freq_base > 0.0f) || !isfinite(p->freq_base) || !(p->freq_scale > 0.0f) || !isfinite(p->freq_scale))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: freq_base %g and freq_scale %g must be finite and > 0", on, p->freq_base,
                         p->freq_scale);
    return MLXN_OK;
}

static mlxn_status rope_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *pos, const mlxn_tensor *ff,
                          const mlxn_rope_params *p, const mlxn_tensor *y) {
    const char *on = "rope";
    mlxn_op_call c = {.op = MLXN_OP_ROPE};
    if (!p) return mlxn_fail(MLXN_ERR_INVALID_ARG, "rope: params are NULL");
    c.rope = *p;
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(i32_view(be, pos, on, "pos", &c.t[1]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[3]));
    int64_t hd = c.t[0].d.ne[0];
    MLXN_TRY(check_rope_params(p, hd, on));
    MLXN_TRY(need_ne(&c.t[0], hd, -1, -1, 1, on, "x"));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[3], on, "x", "y"));
    MLXN_TRY(need_ne(&c.t[1], c.t[0].d.ne[2], 1, 1, 1, on, "pos"));
    if (ff) {
        MLXN_TRY(f32_view(be, ff, on, "freq_factors", &c.t[2]));
        MLXN_TRY(need_ne(&c.t[2], p->n_rot / 2, 1, 1, 1, on, "freq_factors"));
        c.has[2] = true;
    }
    c.has[0] = c.has[1] = c.has[3] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_rope(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *pos, const mlxn_tensor *freq_factors,
                         const mlxn_rope_params *p, const mlxn_tensor *y) {
    OP_ENTRY(be, rope_v(be, x, pos, freq_factors, p, y));
}

void mlxn_rope_llama3_factors(int n_rot, float freq_base, float factor, float low_freq_factor, float high_freq_factor,
                              int original_ctx, float *out) {
    if (!out || n_rot <= 0) return;
    const double pi = 3.14159265358979323846;
    double low_wavelen = (double)original_ctx / low_freq_factor, high_wavelen = (double)original_ctx / high_freq_factor;
    for (int i = 0; i < n_rot / 2; i++) {
        double freq = pow((double)freq_base, -2.0 * i / n_rot);
        double wavelen = 2.0 * pi / freq;
        double f;
        if (wavelen < high_wavelen) f = 1.0;            /* high frequencies: unchanged */
        else if (wavelen > low_wavelen) f = factor;     /* low frequencies: scaled by factor */
        else {                                          /* in between: interpolate 1/f smoothly */
            double smooth = ((double)original_ctx / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

static mlxn_status kv_write_v(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *pos, const mlxn_tensor *cache) {
    const char *on = "kv_write";
    mlxn_op_call c = {.op = MLXN_OP_KV_WRITE};
    MLXN_TRY(f32_view(be, src, on, "src", &c.t[0]));
    MLXN_TRY(i32_view(be, pos, on, "pos", &c.t[1]));
    MLXN_TRY(any_view(be, cache, on, "cache", &c.t[2]));
    if (!is_float_cache(c.t[2].d.type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "kv_write: cache type %s (want f32, f16 or bf16)", mlxn_type_name(c.t[2].d.type));
    MLXN_TRY(need_support(be, c.op, c.t[2].d.type));
    const mlxn_tview *s = &c.t[0];
    MLXN_TRY(need_ne(s, -1, -1, -1, 1, on, "src"));
    MLXN_TRY(need_ne(&c.t[1], s->d.ne[2], 1, 1, 1, on, "pos"));
    MLXN_TRY(need_ne(&c.t[2], s->d.ne[0], -1, s->d.ne[1], 1, on, "cache"));
    c.has[0] = c.has[1] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_kv_write(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *pos, const mlxn_tensor *cache) {
    OP_ENTRY(be, kv_write_v(be, src, pos, cache));
}

/* Slots: q 0, k 1, v 2, pos 3, freq_factors 4, q_out 5, k_cache 6, v_cache 7. */
static mlxn_status rope_kv_v(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k, const mlxn_tensor *v,
                             const mlxn_tensor *pos, const mlxn_tensor *ff, const mlxn_rope_params *p, const mlxn_tensor *q_out,
                             const mlxn_tensor *k_cache, const mlxn_tensor *v_cache) {
    const char *on = "rope_kv";
    mlxn_op_call c = {.op = MLXN_OP_ROPE_KV};
    if (!p) return mlxn_fail(MLXN_ERR_INVALID_ARG, "rope_kv: params are NULL");
    c.rope = *p;
    MLXN_TRY(f32_view(be, q, on, "q", &c.t[0]));
    MLXN_TRY(f32_view(be, k, on, "k", &c.t[1]));
    MLXN_TRY(f32_view(be, v, on, "v", &c.t[2]));
    MLXN_TRY(i32_view(be, pos, on, "pos", &c.t[3]));
    MLXN_TRY(f32_view(be, q_out, on, "q_out", &c.t[5]));
    MLXN_TRY(any_view(be, k_cache, on, "k_cache", &c.t[6]));
    MLXN_TRY(any_view(be, v_cache, on, "v_cache", &c.t[7]));
    MLXN_TRY(need_cache_pair(be, c.op, &c.t[6], &c.t[7], on));
    const int64_t hd = c.t[0].d.ne[0], nh = c.t[0].d.ne[1], n = c.t[0].d.ne[2], nkv = c.t[1].d.ne[1];
    const int64_t hdv = c.t[2].d.ne[0], n_ctx = c.t[6].d.ne[1];
    MLXN_TRY(check_rope_params(p, hd, on));
    MLXN_TRY(need_ne(&c.t[0], hd, nh, n, 1, on, "q"));
    MLXN_TRY(need_ne(&c.t[1], hd, nkv, n, 1, on, "k"));
    MLXN_TRY(need_ne(&c.t[2], hdv, nkv, n, 1, on, "v"));
    MLXN_TRY(need_ne(&c.t[3], n, 1, 1, 1, on, "pos"));
    MLXN_TRY(need_same_ne(&c.t[0], &c.t[5], on, "q", "q_out"));
    MLXN_TRY(need_ne(&c.t[6], hd, n_ctx, nkv, 1, on, "k_cache"));
    MLXN_TRY(need_ne(&c.t[7], hdv, n_ctx, nkv, 1, on, "v_cache"));
    if (ff) {
        MLXN_TRY(f32_view(be, ff, on, "freq_factors", &c.t[4]));
        MLXN_TRY(need_ne(&c.t[4], p->n_rot / 2, 1, 1, 1, on, "freq_factors"));
        c.has[4] = true;
    }
    c.has[0] = c.has[1] = c.has[2] = c.has[3] = c.has[5] = c.has[6] = c.has[7] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_rope_kv(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k, const mlxn_tensor *v,
                            const mlxn_tensor *pos, const mlxn_tensor *freq_factors, const mlxn_rope_params *p,
                            const mlxn_tensor *q_out, const mlxn_tensor *k_cache, const mlxn_tensor *v_cache) {
    OP_ENTRY(be, rope_kv_v(be, q, k, v, pos, freq_factors, p, q_out, k_cache, v_cache));
}

static bool head_dim_ok(int64_t d) { return d == 64 || d == 128 || d == 256 || d == 512; }

static mlxn_status attention_v(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k, const mlxn_tensor *v,
                               const mlxn_tensor *q_pos, const mlxn_attn_params *p, const mlxn_tensor *out) {
    const char *on = "attention";
    mlxn_op_call c = {.op = MLXN_OP_ATTENTION};
    if (!p) return mlxn_fail(MLXN_ERR_INVALID_ARG, "attention: params are NULL");
    c.attn = *p;
    if (!isfinite(p->scale) || !(p->softcap >= 0.0f) || isinf(p->softcap) || p->window < 0)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "attention: scale %g must be finite, softcap %g >= 0, window %d >= 0", p->scale,
                         p->softcap, (int)p->window);
    if (p->flags & ~(uint32_t)MLXN_ATTN_HISTORY_READY)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "attention: unknown flags 0x%x (known: MLXN_ATTN_HISTORY_READY = 0x%x)",
                         (unsigned)p->flags, (unsigned)MLXN_ATTN_HISTORY_READY);
    MLXN_TRY(f32_view(be, q, on, "q", &c.t[0]));
    MLXN_TRY(any_view(be, k, on, "k_cache", &c.t[1]));
    MLXN_TRY(any_view(be, v, on, "v_cache", &c.t[2]));
    MLXN_TRY(i32_view(be, q_pos, on, "q_pos", &c.t[3]));
    MLXN_TRY(f32_view(be, out, on, "out", &c.t[4]));
    MLXN_TRY(need_cache_pair(be, c.op, &c.t[1], &c.t[2], on));
    const mlxn_tview *vq = &c.t[0], *vk = &c.t[1], *vv = &c.t[2];
    int64_t D = vq->d.ne[0], H = vq->d.ne[1], nq = vq->d.ne[2], n_ctx = vk->d.ne[1], n_kv = vk->d.ne[2], Dv = vv->d.ne[0];
    if (!head_dim_ok(D) || !head_dim_ok(Dv))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "attention: head dims %lld (k) / %lld (v) not in {64, 128, 256, 512}", (long long)D,
                         (long long)Dv);
    MLXN_TRY(need_ne(vq, D, H, nq, 1, on, "q"));
    MLXN_TRY(need_ne(vk, D, n_ctx, n_kv, 1, on, "k_cache"));
    MLXN_TRY(need_ne(vv, Dv, n_ctx, n_kv, 1, on, "v_cache"));
    if (H % n_kv)
        return mlxn_fail(MLXN_ERR_SHAPE, "attention: %lld query heads is not a multiple of %lld kv heads", (long long)H, (long long)n_kv);
    MLXN_TRY(need_ne(&c.t[3], nq, 1, 1, 1, on, "q_pos"));
    MLXN_TRY(need_ne(&c.t[4], Dv, H, nq, 1, on, "out"));
    for (int i = 0; i < 5; i++) c.has[i] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_attention(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k_cache, const mlxn_tensor *v_cache,
                              const mlxn_tensor *q_pos, const mlxn_attn_params *p, const mlxn_tensor *out) {
    OP_ENTRY(be, attention_v(be, q, k_cache, v_cache, q_pos, p, out));
}

/* ==========================================================================
 * MoE routing, sampling helpers
 * ========================================================================== */

static mlxn_status moe_route_v(mlxn_backend_t *be, const mlxn_tensor *logits, const mlxn_moe_route_params *p,
                               const mlxn_tensor *expert_scale, const mlxn_tensor *ids, const mlxn_tensor *weights) {
    const char *on = "moe_route";
    mlxn_op_call c = {.op = MLXN_OP_MOE_ROUTE};
    if (!p) return mlxn_fail(MLXN_ERR_INVALID_ARG, "moe_route: params are NULL");
    c.route = *p;
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, logits, on, "logits", &c.t[0]));
    MLXN_TRY(i32_view(be, ids, on, "ids", &c.t[2]));
    MLXN_TRY(f32_view(be, weights, on, "weights", &c.t[3]));
    int64_t E = c.t[0].d.ne[0], T = c.t[0].d.ne[1];
    if (p->gating != MLXN_MOE_SOFTMAX && p->gating != MLXN_MOE_SIGMOID && p->gating != MLXN_MOE_SOFTMAX_TOPK)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "moe_route: unknown gating %d", (int)p->gating);
    if (p->k < 1 || p->k > E) return mlxn_fail(MLXN_ERR_INVALID_ARG, "moe_route: k = %d outside 1..n_expert (%lld)", p->k, (long long)E);
    if (!isfinite(p->scale)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "moe_route: scale %g is not finite", p->scale);
    MLXN_TRY(need_ne(&c.t[0], E, T, 1, 1, on, "logits"));
    MLXN_TRY(need_ne(&c.t[2], p->k, T, 1, 1, on, "ids"));
    MLXN_TRY(need_ne(&c.t[3], p->k, T, 1, 1, on, "weights"));
    if (expert_scale) {
        MLXN_TRY(f32_view(be, expert_scale, on, "expert_scale", &c.t[1]));
        MLXN_TRY(need_ne(&c.t[1], E, 1, 1, 1, on, "expert_scale"));
        c.has[1] = true;
    }
    c.has[0] = c.has[2] = c.has[3] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_moe_route(mlxn_backend_t *be, const mlxn_tensor *logits, const mlxn_moe_route_params *p,
                              const mlxn_tensor *expert_scale, const mlxn_tensor *ids, const mlxn_tensor *weights) {
    OP_ENTRY(be, moe_route_v(be, logits, p, expert_scale, ids, weights));
}

static mlxn_status moe_combine_v(mlxn_backend_t *be, const mlxn_tensor *eo, const mlxn_tensor *w, const mlxn_tensor *res,
                                 const mlxn_tensor *y) {
    const char *on = "moe_combine";
    mlxn_op_call c = {.op = MLXN_OP_MOE_COMBINE};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, eo, on, "expert_out", &c.t[0]));
    MLXN_TRY(f32_view(be, w, on, "weights", &c.t[1]));
    MLXN_TRY(f32_view(be, y, on, "y", &c.t[3]));
    int64_t rows = c.t[0].d.ne[0], k = c.t[0].d.ne[1], T = c.t[0].d.ne[2];
    MLXN_TRY(need_ne(&c.t[0], rows, k, T, 1, on, "expert_out"));
    MLXN_TRY(need_ne(&c.t[1], k, T, 1, 1, on, "weights"));
    MLXN_TRY(need_ne(&c.t[3], rows, T, 1, 1, on, "y"));
    if (res) {
        MLXN_TRY(f32_view(be, res, on, "residual", &c.t[2]));
        MLXN_TRY(need_ne(&c.t[2], rows, T, 1, 1, on, "residual"));
        c.has[2] = true;
    }
    c.has[0] = c.has[1] = c.has[3] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_moe_combine(mlxn_backend_t *be, const mlxn_tensor *expert_out, const mlxn_tensor *weights,
                                const mlxn_tensor *residual, const mlxn_tensor *y) {
    OP_ENTRY(be, moe_combine_v(be, expert_out, weights, residual, y));
}

static mlxn_status argmax_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *out) {
    mlxn_op_call c = {.op = MLXN_OP_ARGMAX};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, "argmax", "x", &c.t[0]));
    MLXN_TRY(i32_view(be, out, "argmax", "out", &c.t[1]));
    MLXN_TRY(need_ne(&c.t[0], -1, -1, 1, 1, "argmax", "x"));
    MLXN_TRY(need_ne(&c.t[1], c.t[0].d.ne[1], 1, 1, 1, "argmax", "out"));
    c.has[0] = c.has[1] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_argmax(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *out) { OP_ENTRY(be, argmax_v(be, x, out)); }

/* Fails when views a and b share a byte (named wa, wb in the message). */
static mlxn_status need_disjoint(const mlxn_tview *a, const mlxn_tview *b, const char *op, const char *wa, const char *wb) {
    uintptr_t a0, a1, b0, b1;
    view_span(a, &a0, &a1);
    view_span(b, &b0, &b1);
    if (a0 < b1 && b0 < a1) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s and %s overlap", op, wa, wb);
    return MLXN_OK;
}

static mlxn_status argmax_advance_v(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *step, const mlxn_tensor *hist) {
    const char *on = "argmax_advance";
    mlxn_op_call c = {.op = MLXN_OP_ARGMAX_ADVANCE};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, on, "x", &c.t[0]));
    MLXN_TRY(i32_view(be, step, on, "step", &c.t[1]));
    MLXN_TRY(i32_view(be, hist, on, "hist", &c.t[2]));
    MLXN_TRY(need_ne(&c.t[0], -1, 1, 1, 1, on, "x"));
    if (c.t[0].d.ne[0] > INT32_MAX)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: x has %lld entries, more than an i32 id can name", on, (long long)c.t[0].d.ne[0]);
    MLXN_TRY(need_ne(&c.t[1], 2, 1, 1, 1, on, "step"));
    MLXN_TRY(need_ne(&c.t[2], -1, 1, 1, 1, on, "hist"));
    MLXN_TRY(need_disjoint(&c.t[1], &c.t[2], on, "step", "hist"));
    MLXN_TRY(need_disjoint(&c.t[0], &c.t[1], on, "x", "step"));
    MLXN_TRY(need_disjoint(&c.t[0], &c.t[2], on, "x", "hist"));
    c.has[0] = c.has[1] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_argmax_advance(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *step, const mlxn_tensor *hist) {
    OP_ENTRY(be, argmax_advance_v(be, x, step, hist));
}

static mlxn_status top_k_v(mlxn_backend_t *be, const mlxn_tensor *x, int k, const mlxn_tensor *ids, const mlxn_tensor *vals) {
    mlxn_op_call c = {.op = MLXN_OP_TOP_K, .i0 = k};
    MLXN_TRY(need_support(be, c.op, MLXN_TYPE_F32));
    MLXN_TRY(f32_view(be, x, "top_k", "x", &c.t[0]));
    MLXN_TRY(i32_view(be, ids, "top_k", "ids", &c.t[1]));
    MLXN_TRY(f32_view(be, vals, "top_k", "vals", &c.t[2]));
    int64_t n = c.t[0].d.ne[0], rows = c.t[0].d.ne[1];
    if (k < 1 || k > n) return mlxn_fail(MLXN_ERR_INVALID_ARG, "top_k: k = %d outside 1..%lld", k, (long long)n);
    MLXN_TRY(need_ne(&c.t[0], n, rows, 1, 1, "top_k", "x"));
    MLXN_TRY(need_ne(&c.t[1], k, rows, 1, 1, "top_k", "ids"));
    MLXN_TRY(need_ne(&c.t[2], k, rows, 1, 1, "top_k", "vals"));
    c.has[0] = c.has[1] = c.has[2] = true;
    return mlxn_backend_dispatch(be, &c);
}
mlxn_status mlxn_op_top_k(mlxn_backend_t *be, const mlxn_tensor *x, int k, const mlxn_tensor *ids, const mlxn_tensor *vals) {
    OP_ENTRY(be, top_k_v(be, x, k, ids, vals));
}
