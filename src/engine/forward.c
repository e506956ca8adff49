/* The forward pass of the llama family (llama, qwen2, qwen3) through the ops API. Every
 * per-step value (token ids, positions) is read by the ops from the scratch buffer, so the
 * same op sequence can be recorded once as a graph and replayed per token.
 *
 *   x = embed(ids)
 *   per layer:  xn = rms_norm(x) ; q,k,v = W·xn (+bias) ; [q/k rms_norm per head] ; rope(q,k)
 *               kv_write(k,v) ; att = attention(q, K, V) ; o = Wo·att
 *               x += o ; xn = rms_norm(x) ; o = down(silu(gate·xn) * up·xn) ; x += o
 *   xn = rms_norm(x) ; logits = output·xn
 * The residual add is fused with the next norm (add_rms_norm). */
#include "engine/model.h"

#include <string.h>

/* A contiguous f32/i32 tensor of the scratch buffer. */
static mlxn_status scr(struct mlxn_context *c, size_t off, mlxn_type type, int n_dims, int64_t a, int64_t b,
                       int64_t d, mlxn_tensor *t) {
    int64_t ne[3] = {a, b, d};
    return mlxn_tensor_init(t, c->scratch, off, type, n_dims, ne);
}

static mlxn_status mat(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_tensor *y) {
    return mlxn_op_mul_mat(be, W, x, y);
}

static mlxn_status attention_block(struct mlxn_context *c, const mlxn_layer *L, int il, int n,
                                   const mlxn_tensor *xn, const mlxn_tensor *pos, const mlxn_tensor *o) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    const int64_t Q = (int64_t)L->n_head * L->head_dim_k, K = (int64_t)L->n_head_kv * L->head_dim_k;
    const int64_t V = (int64_t)L->n_head_kv * L->head_dim_v;
    mlxn_tensor q, k, v;   /* {rows, n} for the projections */
    MLXN_TRY(scr(c, c->off_q, MLXN_TYPE_F32, 2, Q, n, 1, &q));
    MLXN_TRY(scr(c, c->off_k, MLXN_TYPE_F32, 2, K, n, 1, &k));
    MLXN_TRY(scr(c, c->off_v, MLXN_TYPE_F32, 2, V, n, 1, &v));
    MLXN_TRY(mat(be, &L->wq, xn, &q));
    MLXN_TRY(mat(be, &L->wk, xn, &k));
    MLXN_TRY(mat(be, &L->wv, xn, &v));
    if (L->bq.present) MLXN_TRY(mlxn_op_add(be, &q, &L->bq.t, &q));
    if (L->bk.present) MLXN_TRY(mlxn_op_add(be, &k, &L->bk.t, &k));
    if (L->bv.present) MLXN_TRY(mlxn_op_add(be, &v, &L->bv.t, &v));

    /* per-head views {head_dim, heads, n} */
    mlxn_tensor qh, kh, vh;
    MLXN_TRY(scr(c, c->off_q, MLXN_TYPE_F32, 3, L->head_dim_k, L->n_head, n, &qh));
    MLXN_TRY(scr(c, c->off_k, MLXN_TYPE_F32, 3, L->head_dim_k, L->n_head_kv, n, &kh));
    MLXN_TRY(scr(c, c->off_v, MLXN_TYPE_F32, 3, L->head_dim_v, L->n_head_kv, n, &vh));
    /* Qwen3: one RMSNorm per head before RoPE, written to spare scratch (rms_norm does not
     * promise in-place), and RoPE (which does) brings it back. */
    mlxn_tensor qsrc = qh, ksrc = kh;
    if (L->q_norm.present) {
        mlxn_tensor rows, out;   /* {head_dim, heads * n} */
        MLXN_TRY(scr(c, c->off_q, MLXN_TYPE_F32, 2, L->head_dim_k, (int64_t)L->n_head * n, 1, &rows));
        MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 2, L->head_dim_k, (int64_t)L->n_head * n, 1, &out));
        MLXN_TRY(mlxn_op_rms_norm(be, &rows, &L->q_norm.t, m->norm_eps, &out));
        MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 3, L->head_dim_k, L->n_head, n, &qsrc));
    }
    if (L->k_norm.present) {
        mlxn_tensor rows, out;
        MLXN_TRY(scr(c, c->off_k, MLXN_TYPE_F32, 2, L->head_dim_k, (int64_t)L->n_head_kv * n, 1, &rows));
        MLXN_TRY(scr(c, c->off_gate, MLXN_TYPE_F32, 2, L->head_dim_k, (int64_t)L->n_head_kv * n, 1, &out));
        MLXN_TRY(mlxn_op_rms_norm(be, &rows, &L->k_norm.t, m->norm_eps, &out));
        MLXN_TRY(scr(c, c->off_gate, MLXN_TYPE_F32, 3, L->head_dim_k, L->n_head_kv, n, &ksrc));
    }
    mlxn_rope_params rp = {m->arch->rope_mode, L->n_rot, L->rope_base, L->rope_scale};
    const mlxn_tensor *ff = m->rope_freqs.present ? &m->rope_freqs.t : NULL;
    MLXN_TRY(mlxn_op_rope(be, &qsrc, pos, ff, &rp, &qh));
    MLXN_TRY(mlxn_op_rope(be, &ksrc, pos, ff, &rp, &kh));

    mlxn_tensor kc, vc;
    int64_t kne[3] = {L->head_dim_k, c->n_ctx, L->n_head_kv}, vne[3] = {L->head_dim_v, c->n_ctx, L->n_head_kv};
    MLXN_TRY(mlxn_tensor_init(&kc, c->kv, L->k_offset, c->kv_type, 3, kne));
    MLXN_TRY(mlxn_tensor_init(&vc, c->kv, L->v_offset, c->kv_type, 3, vne));
    MLXN_TRY(mlxn_op_kv_write(be, &kh, pos, &kc));
    MLXN_TRY(mlxn_op_kv_write(be, &vh, pos, &vc));

    mlxn_tensor att, att2;
    MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 3, L->head_dim_v, L->n_head, n, &att));
    mlxn_attn_params ap = {L->attn_scale, 0.0f, L->window};
    MLXN_TRY(mlxn_op_attention(be, &qh, &kc, &vc, pos, &ap, &att));
    MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 2, (int64_t)L->n_head * L->head_dim_v, n, 1, &att2));
    (void)il;
    return mat(be, &L->wo, &att2, o);
}

static mlxn_status ffn_block(struct mlxn_context *c, const mlxn_layer *L, int n, const mlxn_tensor *xn,
                             const mlxn_tensor *o) {
    mlxn_backend_t *be = c->be;
    mlxn_tensor g, u, h;   /* {n_ff, n} */
    MLXN_TRY(scr(c, c->off_gate, MLXN_TYPE_F32, 2, L->n_ff, n, 1, &g));
    MLXN_TRY(scr(c, c->off_up, MLXN_TYPE_F32, 2, L->n_ff, n, 1, &u));
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 2, L->n_ff, n, 1, &h));
    MLXN_TRY(mat(be, &L->ffn_gate, xn, &g));
    MLXN_TRY(mat(be, &L->ffn_up, xn, &u));
    MLXN_TRY(mlxn_op_glu(be, MLXN_GLU_SWIGLU, &g, &u, &h));
    return mat(be, &L->ffn_down, &h, o);
}

mlxn_status mlxn_forward_layers(struct mlxn_context *c, int n) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    const int64_t E = m->info.n_embd;
    mlxn_tensor x, xn, o, ids, pos;
    MLXN_TRY(scr(c, c->off_x, MLXN_TYPE_F32, 2, E, n, 1, &x));
    MLXN_TRY(scr(c, c->off_xn, MLXN_TYPE_F32, 2, E, n, 1, &xn));
    MLXN_TRY(scr(c, c->off_o, MLXN_TYPE_F32, 2, E, n, 1, &o));
    MLXN_TRY(scr(c, c->off_ids, MLXN_TYPE_I32, 1, n, 1, 1, &ids));
    MLXN_TRY(scr(c, c->off_pos, MLXN_TYPE_I32, 1, n, 1, 1, &pos));

    MLXN_TRY(mlxn_op_get_rows(be, &m->tok_embd, &ids, &x));
    MLXN_TRY(mlxn_op_rms_norm(be, &x, &m->layers[0].attn_norm, m->norm_eps, &xn));
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        MLXN_TRY(attention_block(c, L, il, n, &xn, &pos, &o));
        MLXN_TRY(mlxn_op_add_rms_norm(be, &x, &o, &L->ffn_norm, m->norm_eps, &x, &xn));
        MLXN_TRY(ffn_block(c, L, n, &xn, &o));
        const mlxn_tensor *next_norm = il + 1 < m->info.n_layer ? &m->layers[il + 1].attn_norm : &m->output_norm;
        MLXN_TRY(mlxn_op_add_rms_norm(be, &x, &o, next_norm, m->norm_eps, &x, &xn));
    }
    return MLXN_OK;
}

mlxn_status mlxn_forward_lm_head(struct mlxn_context *c, int row0, int nrows) {
    const int64_t E = c->m->info.n_embd;
    mlxn_tensor xs, lg;
    MLXN_TRY(scr(c, c->off_xn + (size_t)row0 * (size_t)E * 4, MLXN_TYPE_F32, 2, E, nrows, 1, &xs));
    MLXN_TRY(scr(c, c->off_logits, MLXN_TYPE_F32, 2, c->m->info.n_vocab, nrows, 1, &lg));
    return mlxn_op_mul_mat(c->be, &c->m->output, &xs, &lg);
}

mlxn_status mlxn_forward_argmax(struct mlxn_context *c) {
    mlxn_tensor lg, am;
    MLXN_TRY(scr(c, c->off_logits, MLXN_TYPE_F32, 2, c->m->info.n_vocab, 1, 1, &lg));
    MLXN_TRY(scr(c, c->off_argmax, MLXN_TYPE_I32, 1, 1, 1, 1, &am));
    return mlxn_op_argmax(c->be, &lg, &am);
}
