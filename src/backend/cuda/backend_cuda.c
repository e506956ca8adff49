/* The CUDA backend vtable: translates the front-end's resolved views (raw device pointers, byte
 * strides) into the launchers of cuda_internal.h. Each op runs on the backend's current stream;
 * data-dependent errors (expert id, row id, position out of range) are raised by the kernels into
 * a device flag and reported at sync. */
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/cuda_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct cuda_ctx {
    int dev;
    void *stream0;   /* the default stream of this backend */
    void *cur;       /* current stream */
} cuda_ctx;

#define CTX(c) ((cuda_ctx *)(c))
#define DEV(c) MLXN_TRY(mlxn_cuda_set_device(CTX(c)->dev))
#define F32(v) ((float *)(v)->data)
#define ST4(v, i) ((int64_t)((v)->d.nb[i] / 4))

/* ---- lifetime, memory, streams, events, graphs ---------------------------------------------- */
static mlxn_status c_init(int device, void **ctx) {
    cuda_ctx *c = calloc(1, sizeof *c);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "cuda backend: no host memory");
    c->dev = device;
    mlxn_status st = mlxn_cuda_set_device(device);
    int *flag;
    if (st == MLXN_OK) st = mlxn_cuda_stream_create(&c->stream0);
    if (st == MLXN_OK) st = mlxn_cuda_err_flag(&flag);
    if (st != MLXN_OK) { free(c); return st; }
    c->cur = c->stream0;
    *ctx = c;
    return MLXN_OK;
}
static void c_release(void *ctx) {
    if (!ctx) return;
    mlxn_cuda_set_device(CTX(ctx)->dev);
    mlxn_cuda_stream_sync(CTX(ctx)->stream0);
    mlxn_cuda_stream_destroy(CTX(ctx)->stream0);
    free(ctx);
}
static mlxn_status c_sync(void *ctx) { DEV(ctx); return mlxn_cuda_device_sync(); }
static mlxn_status c_alloc(void *ctx, size_t n, void **p) { DEV(ctx); return mlxn_cuda_malloc(p, n ? n : 1); }
static void c_free(void *ctx, void *p) { mlxn_cuda_set_device(CTX(ctx)->dev); mlxn_cuda_free(p); }
static mlxn_status c_upload(void *ctx, void *d, const void *s, size_t n) { DEV(ctx); return mlxn_cuda_memcpy_h2d(d, s, n, CTX(ctx)->cur); }
static mlxn_status c_download(void *ctx, void *d, const void *s, size_t n) {
    DEV(ctx);
    return mlxn_cuda_download_checked(d, s, n, CTX(ctx)->cur);
}
static mlxn_status c_fill(void *ctx, void *d, uint8_t b, size_t n) { DEV(ctx); return mlxn_cuda_memset(d, b, n, CTX(ctx)->cur); }
static mlxn_status c_stream_create(void *ctx, void **s) { DEV(ctx); return mlxn_cuda_stream_create(s); }
static void c_stream_free(void *ctx, void *s) {
    if (CTX(ctx)->cur == s) CTX(ctx)->cur = CTX(ctx)->stream0;
    mlxn_cuda_stream_destroy(s);
}
static mlxn_status c_stream_sync(void *ctx, void *s) { DEV(ctx); return mlxn_cuda_stream_sync(s ? s : CTX(ctx)->stream0); }
static mlxn_status c_stream_select(void *ctx, void *s) { CTX(ctx)->cur = s ? s : CTX(ctx)->stream0; return MLXN_OK; }
static mlxn_status c_event_create(void *ctx, void **e) { DEV(ctx); return mlxn_cuda_event_create(e); }
static void c_event_free(void *ctx, void *e) { (void)ctx; mlxn_cuda_event_destroy(e); }
static mlxn_status c_event_record(void *ctx, void *e) { return mlxn_cuda_event_record(e, CTX(ctx)->cur); }
static mlxn_status c_event_elapsed(void *ctx, void *a, void *b, float *ms) { (void)ctx; return mlxn_cuda_event_elapsed(a, b, ms); }
static mlxn_status c_graph_begin(void *ctx) { DEV(ctx); return mlxn_cuda_graph_begin(CTX(ctx)->cur); }
static mlxn_status c_graph_end(void *ctx, void **g) { DEV(ctx); return mlxn_cuda_graph_end(CTX(ctx)->cur, g); }
static mlxn_status c_graph_replay(void *ctx, void *g) { DEV(ctx); return mlxn_cuda_graph_launch(g, CTX(ctx)->cur); }
static void c_graph_free(void *ctx, void *g) { (void)ctx; mlxn_cuda_graph_destroy(g); }

static bool is_float(mlxn_type t) { return t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16; }
static bool is_mlx(mlxn_type t) { return t >= MLXN_TYPE_MLX_Q2 && t <= MLXN_TYPE_MLX_MXFP4; }
static bool c_supports(void *ctx, mlxn_op op, mlxn_type t) {
    (void)ctx;
    switch (op) {
    case MLXN_OP_MUL_MAT: case MLXN_OP_MUL_MAT_ID: case MLXN_OP_GET_ROWS: case MLXN_OP_MUL_MAT_FUSED:
        return is_mlx(t) || mlxn_cuda_mmv_supports(t);
    case MLXN_OP_ATTENTION: case MLXN_OP_KV_WRITE: case MLXN_OP_ROPE_KV: case MLXN_OP_COPY: return is_float(t);
    default: return t == MLXN_TYPE_F32;
    }
}

/* ---- matrix products ------------------------------------------------------------------------- */
static void mlx_of(const mlxn_wview *W, mlxn_cuda_mlx *q) {
    memset(q, 0, sizeof *q);
    q->w = W->w.data; q->scales = W->scales.data; q->biases = W->biases.data;
    q->w_row = (int64_t)W->w.d.nb[1]; q->w_exp = (int64_t)W->w.d.nb[2];
    q->s_row = (int64_t)W->scales.d.nb[1]; q->s_exp = (int64_t)W->scales.d.nb[2];
    q->b_row = W->biases.data ? (int64_t)W->biases.d.nb[1] : 0; q->b_exp = W->biases.data ? (int64_t)W->biases.d.nb[2] : 0;
    q->bits = W->quant.bits; q->group_size = W->quant.group_size;
    q->mxfp4 = W->quant.mode == MLXN_MLX_MXFP4 || W->w.d.type == MLXN_TYPE_MLX_MXFP4;
    q->scale_bf16 = W->quant.scale_type == MLXN_TYPE_BF16;
    if (q->mxfp4) { q->bits = 4; q->group_size = 32; }
}
/* The launcher's description of W (any layout) with activation and result columns x, y. */
static mlxn_cuda_mm mm_of(const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y) {
    mlxn_cuda_mm a;
    memset(&a, 0, sizeof a);
    a.type = W->w.d.type; a.w = W->w.data; a.row_bytes = W->w.d.nb[1]; a.expert_bytes = W->w.d.nb[2];
    a.k = W->w.d.ne[0]; a.rows = W->w.d.ne[1]; a.n = x->d.ne[1];
    a.x = F32(x); a.x_col = ST4(x, 1); a.y = F32(y); a.y_col = ST4(y, 1);
    return a;
}
static mlxn_status c_mul_mat(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y) {
    DEV(ctx);
    mlxn_cuda_mm a = mm_of(W, x, y);
    if (mlxn_wview_is_mlx(W)) { mlxn_cuda_mlx q; mlx_of(W, &q); return mlxn_cuda_mlx_mul_mat(&q, &a, CTX(ctx)->cur); }
    return mlxn_cuda_mul_mat(&a, CTX(ctx)->cur);
}
static mlxn_status c_mul_mat_fused(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *norm_w, float eps,
                                   const mlxn_tview *up, mlxn_glu glu, const mlxn_tview *add, const mlxn_tview *y) {
    DEV(ctx);
    mlxn_cuda_mm a = mm_of(W, x, y);
    mlxn_cuda_mmfuse f;
    memset(&f, 0, sizeof f);
    if (norm_w) { f.norm_w = F32(norm_w); f.eps = eps; }
    if (up) { f.up = F32(up); f.up_col = ST4(up, 1); f.glu = (int)glu; }
    if (add) { f.add = F32(add); f.add_col = ST4(add, 1); }
    mlxn_cuda_mlx q;
    if (mlxn_wview_is_mlx(W)) mlx_of(W, &q);
    return mlxn_cuda_mul_mat_fused(&a, mlxn_wview_is_mlx(W) ? &q : NULL, &f, CTX(ctx)->cur);
}
static mlxn_status c_mul_mat_id(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *x, const mlxn_tview *y) {
    DEV(ctx);
    mlxn_cuda_mm a = mm_of(W, x, y);
    a.n = 1;
    a.n_expert = (int)W->w.d.ne[2];
    a.ids = (const int32_t *)ids->data; a.ids_tok = ST4(ids, 1);
    a.top_k = (int)ids->d.ne[0]; a.n_tokens = ids->d.ne[1];
    a.x_tok = ST4(x, 2); a.n_x = (int)x->d.ne[1];
    a.y_tok = ST4(y, 2);
    if (mlxn_wview_is_mlx(W)) { mlxn_cuda_mlx q; mlx_of(W, &q); return mlxn_cuda_mlx_mul_mat(&q, &a, CTX(ctx)->cur); }
    return mlxn_cuda_mul_mat(&a, CTX(ctx)->cur);
}
static mlxn_status c_get_rows(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *y) {
    DEV(ctx);
    if (mlxn_wview_is_mlx(W)) {
        mlxn_cuda_mlx q;
        mlx_of(W, &q);
        return mlxn_cuda_mlx_get_rows(&q, W->w.d.ne[1], W->w.d.ne[0], ids->data, ids->d.ne[0], F32(y), ST4(y, 1), CTX(ctx)->cur);
    }
    return mlxn_cuda_get_rows(W->w.d.type, W->w.data, W->w.d.nb[1], W->w.d.ne[1], W->w.d.ne[0], ids->data, ids->d.ne[0],
                              F32(y), ST4(y, 1), CTX(ctx)->cur);
}

/* ---- row ops: one launch per (i2, i3) slice of rows ------------------------------------------- */
#define OFF(v, i2, i3) ((float *)((char *)(v)->data + (size_t)(i2) * (v)->d.nb[2] + (size_t)(i3) * (v)->d.nb[3]))
static mlxn_status norm(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                        const mlxn_tview *sum, const mlxn_tview *y) {
    DEV(ctx);
    for (int64_t i3 = 0; i3 < x->d.ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->d.ne[2]; i2++)
            MLXN_TRY(mlxn_cuda_rms_norm(OFF(x, i2, i3), ST4(x, 1), r ? OFF(r, i2, i3) : NULL, r ? ST4(r, 1) : 0,
                                        sum ? OFF(sum, i2, i3) : NULL, sum ? ST4(sum, 1) : 0, w ? F32(w) : NULL, eps,
                                        OFF(y, i2, i3), ST4(y, 1), x->d.ne[0], x->d.ne[1], CTX(ctx)->cur));
    return MLXN_OK;
}
static mlxn_status c_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *w, float eps, const mlxn_tview *y) {
    return norm(ctx, x, NULL, w, eps, NULL, y);
}
static mlxn_status c_add_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                                  const mlxn_tview *sum, const mlxn_tview *y) {
    return norm(ctx, x, r, w, eps, sum, y);
}

static mlxn_cuda_nd nd(const mlxn_tview *v) {
    mlxn_cuda_nd n;
    n.p = F32(v);
    for (int i = 0; i < 4; i++) { n.ne[i] = v->d.ne[i]; n.st[i] = ST4(v, i); }
    return n;
}
static void yst(const mlxn_tview *y, int64_t *st) { for (int i = 0; i < 4; i++) st[i] = ST4(y, i); }
static mlxn_status c_add(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) {
    DEV(ctx); int64_t s[4]; yst(y, s); return mlxn_cuda_binary(0, nd(a), nd(b), F32(y), s, CTX(ctx)->cur);
}
static mlxn_status c_mul(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) {
    DEV(ctx); int64_t s[4]; yst(y, s); return mlxn_cuda_binary(1, nd(a), nd(b), F32(y), s, CTX(ctx)->cur);
}
static mlxn_status c_scale(void *ctx, const mlxn_tview *x, float sc, const mlxn_tview *y) {
    DEV(ctx); int64_t s[4]; yst(y, s); return mlxn_cuda_scale(nd(x), sc, F32(y), s, CTX(ctx)->cur);
}
static mlxn_status c_unary(void *ctx, mlxn_unary fn, const mlxn_tview *x, const mlxn_tview *y) {
    DEV(ctx); int64_t s[4]; yst(y, s); return mlxn_cuda_unary((int)fn, nd(x), F32(y), s, CTX(ctx)->cur);
}
static mlxn_status c_glu(void *ctx, mlxn_glu fn, const mlxn_tview *g, const mlxn_tview *u, const mlxn_tview *y) {
    DEV(ctx); int64_t s[4]; yst(y, s); return mlxn_cuda_glu((int)fn, nd(g), nd(u), F32(y), s, CTX(ctx)->cur);
}
static mlxn_status c_rope(void *ctx, const mlxn_tview *x, const mlxn_tview *pos, const mlxn_tview *ff, const mlxn_rope_params *p,
                          const mlxn_tview *y) {
    DEV(ctx);
    return mlxn_cuda_rope(F32(x), ST4(x, 1), ST4(x, 2), F32(y), ST4(y, 1), ST4(y, 2), x->d.ne[0], x->d.ne[1], x->d.ne[2],
                          pos->data, ff ? F32(ff) : NULL, (int)p->mode, p->n_rot, p->freq_base, p->freq_scale, CTX(ctx)->cur);
}
static size_t esz(mlxn_type t) { return t == MLXN_TYPE_F32 ? 4 : 2; }
static mlxn_status c_kv_write(void *ctx, const mlxn_tview *src, const mlxn_tview *pos, const mlxn_tview *cache) {
    DEV(ctx);
    size_t e = esz(cache->d.type);
    return mlxn_cuda_kv_write(F32(src), ST4(src, 1), ST4(src, 2), pos->data, cache->d.type, cache->data,
                              (int64_t)(cache->d.nb[1] / e), (int64_t)(cache->d.nb[2] / e), src->d.ne[0], src->d.ne[1],
                              src->d.ne[2], cache->d.ne[1], CTX(ctx)->cur);
}
static mlxn_status c_rope_kv(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *pos,
                             const mlxn_tview *ff, const mlxn_rope_params *p, const mlxn_tview *q_out, const mlxn_tview *kc,
                             const mlxn_tview *vc) {
    DEV(ctx);
    size_t e = esz(kc->d.type);
    mlxn_cuda_rope_kv_args a;
    memset(&a, 0, sizeof a);
    a.q = F32(q); a.q_head = ST4(q, 1); a.q_tok = ST4(q, 2);
    a.q_out = F32(q_out); a.qo_head = ST4(q_out, 1); a.qo_tok = ST4(q_out, 2);
    a.k = F32(k); a.k_head = ST4(k, 1); a.k_tok = ST4(k, 2);
    a.v = F32(v); a.v_head = ST4(v, 1); a.v_tok = ST4(v, 2);
    a.ct = kc->d.type;
    a.k_cache = kc->data; a.kc_pos = (int64_t)(kc->d.nb[1] / e); a.kc_head = (int64_t)(kc->d.nb[2] / e);
    a.v_cache = vc->data; a.vc_pos = (int64_t)(vc->d.nb[1] / e); a.vc_head = (int64_t)(vc->d.nb[2] / e);
    a.pos = pos->data; a.freq_factors = ff ? F32(ff) : NULL;
    a.mode = (int)p->mode; a.n_rot = p->n_rot; a.freq_base = p->freq_base; a.freq_scale = p->freq_scale;
    a.head_dim = q->d.ne[0]; a.head_dim_v = v->d.ne[0]; a.n_heads = q->d.ne[1]; a.n_kv = k->d.ne[1];
    a.n_tokens = q->d.ne[2]; a.n_ctx = kc->d.ne[1];
    return mlxn_cuda_rope_kv(&a, CTX(ctx)->cur);
}
static mlxn_status c_attention(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *q_pos,
                               const mlxn_attn_params *p, const mlxn_tview *out) {
    DEV(ctx);
    size_t e = esz(k->d.type);
    mlxn_cuda_attn a;
    memset(&a, 0, sizeof a);
    a.q = F32(q); a.q_head = ST4(q, 1); a.q_tok = ST4(q, 2);
    a.ct = k->d.type;
    a.k = k->data; a.k_pos = (int64_t)(k->d.nb[1] / e); a.k_head = (int64_t)(k->d.nb[2] / e);
    a.v = v->data; a.v_pos = (int64_t)(v->d.nb[1] / e); a.v_head = (int64_t)(v->d.nb[2] / e);
    a.q_pos = q_pos->data;
    a.out = F32(out); a.o_head = ST4(out, 1); a.o_tok = ST4(out, 2);
    a.hd = q->d.ne[0]; a.hd_v = v->d.ne[0]; a.n_heads = q->d.ne[1]; a.n_q = q->d.ne[2];
    a.n_ctx = k->d.ne[1]; a.n_kv = k->d.ne[2];
    a.scale = p->scale; a.softcap = p->softcap; a.window = p->window;
    a.hist_ready = (p->flags & MLXN_ATTN_HISTORY_READY) != 0;
    return mlxn_cuda_attention(&a, CTX(ctx)->cur);
}
static mlxn_status c_softmax(void *ctx, const mlxn_tview *x, const mlxn_tview *mask, float scale, float softcap,
                             const mlxn_tview *y) {
    DEV(ctx);
    for (int64_t i3 = 0; i3 < x->d.ne[3]; i3++)
        for (int64_t i2 = 0; i2 < x->d.ne[2]; i2++) {
            const float *m = NULL;
            int64_t mrow = 0, mrows = 1;
            if (mask) {
                m = OFF(mask, mask->d.ne[2] == 1 ? 0 : i2, mask->d.ne[3] == 1 ? 0 : i3);
                mrow = ST4(mask, 1);
                mrows = mask->d.ne[1];
            }
            MLXN_TRY(mlxn_cuda_softmax(OFF(x, i2, i3), ST4(x, 1), m, mrow, mrows, scale, softcap, OFF(y, i2, i3), ST4(y, 1),
                                       x->d.ne[0], x->d.ne[1], CTX(ctx)->cur));
        }
    return MLXN_OK;
}
static mlxn_status c_moe_route(void *ctx, const mlxn_tview *logits, const mlxn_moe_route_params *p, const mlxn_tview *es,
                               const mlxn_tview *ids, const mlxn_tview *w) {
    DEV(ctx);
    return mlxn_cuda_moe_route(F32(logits), ST4(logits, 1), logits->d.ne[0], logits->d.ne[1], (int)p->gating, p->k, p->renorm,
                               p->scale, es ? F32(es) : NULL, ids->data, ST4(ids, 1), F32(w), ST4(w, 1), CTX(ctx)->cur);
}
static mlxn_status c_moe_combine(void *ctx, const mlxn_tview *eo, const mlxn_tview *w, const mlxn_tview *res, const mlxn_tview *y) {
    DEV(ctx);
    return mlxn_cuda_moe_combine(F32(eo), ST4(eo, 1), ST4(eo, 2), F32(w), ST4(w, 1), res ? F32(res) : NULL, res ? ST4(res, 1) : 0,
                                 F32(y), ST4(y, 1), eo->d.ne[0], (int)eo->d.ne[1], eo->d.ne[2], CTX(ctx)->cur);
}
static mlxn_status c_argmax(void *ctx, const mlxn_tview *x, const mlxn_tview *out) {
    DEV(ctx);
    return mlxn_cuda_argmax(F32(x), ST4(x, 1), x->d.ne[0], x->d.ne[1], out->data, CTX(ctx)->cur);
}
static mlxn_status c_argmax_advance(void *ctx, const mlxn_tview *x, const mlxn_tview *step, const mlxn_tview *hist) {
    DEV(ctx);
    return mlxn_cuda_argmax_advance(F32(x), x->d.ne[0], step->data, hist->data, hist->d.ne[0], CTX(ctx)->cur);
}
static mlxn_status c_top_k(void *ctx, const mlxn_tview *x, int k, const mlxn_tview *ids, const mlxn_tview *vals) {
    DEV(ctx);
    return mlxn_cuda_top_k(F32(x), ST4(x, 1), x->d.ne[0], x->d.ne[1], k, ids->data, ST4(ids, 1), F32(vals), ST4(vals, 1),
                           CTX(ctx)->cur);
}
static mlxn_status c_copy(void *ctx, const mlxn_tview *src, const mlxn_tview *dst) {
    DEV(ctx);
    return mlxn_cuda_copy(src->d.type, src->data, src->d.nb, dst->d.type, dst->data, dst->d.nb, src->d.ne, CTX(ctx)->cur);
}

static const mlxn_backend_vtbl cuda_vtbl = {
    .name = "cuda", .kind = MLXN_DEVICE_CUDA, .host_memory = false,
    .init = c_init, .release = c_release, .set_threads = NULL, .sync = c_sync,
    .buffer_alloc = c_alloc, .buffer_free = c_free, .buffer_upload = c_upload, .buffer_download = c_download,
    .buffer_fill = c_fill,
    .stream_create = c_stream_create, .stream_free = c_stream_free, .stream_sync = c_stream_sync,
    .stream_select = c_stream_select,
    .event_create = c_event_create, .event_free = c_event_free, .event_record = c_event_record,
    .event_elapsed_ms = c_event_elapsed,
    .graph_begin = c_graph_begin, .graph_end = c_graph_end, .graph_replay = c_graph_replay, .graph_free = c_graph_free,
    .supports = c_supports,
    .mul_mat = c_mul_mat, .mul_mat_id = c_mul_mat_id, .mul_mat_fused = c_mul_mat_fused, .rms_norm = c_rms_norm, .add_rms_norm = c_add_rms_norm,
    .add = c_add, .mul = c_mul, .scale = c_scale, .rope = c_rope, .kv_write = c_kv_write, .rope_kv = c_rope_kv, .attention = c_attention,
    .softmax = c_softmax, .unary = c_unary, .glu = c_glu, .get_rows = c_get_rows, .moe_route = c_moe_route,
    .moe_combine = c_moe_combine, .argmax = c_argmax, .argmax_advance = c_argmax_advance, .top_k = c_top_k, .copy = c_copy,
};

const mlxn_backend_vtbl *mlxn_cuda_backend_vtbl(void) { return &cuda_vtbl; }
int mlxn_cuda_device_count(void) { return mlxn_cuda_ndev(); }
mlxn_status mlxn_cuda_device_info(int ordinal, mlxn_device_info *out) { return mlxn_cuda_info(ordinal, out); }
