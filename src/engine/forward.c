/* The forward pass of the llama family (llama, qwen2, qwen3, qwen3moe, gemma3, gemma4) through the ops API. Every
 * per-step value (token ids, positions) is read by the ops from the scratch buffer, so the
 * same op sequence can be recorded once as a graph and replayed per token.
 *
 *   x = embed(ids)
 *   per layer:  q|k|v = Wqkv·norm(x) (+bias) ; [q/k rms_norm per head]
 *               rope(q|k) ; kv_write(k|v) ; att = attention(q, K, V) ; x = x + Wo·att
 *               gate|up = Wgu·norm(x) ; x = x + Wdown·(silu(gate) * up)
 *   logits = output·norm(x)
 * Every norm, the GLU and the residual adds ride on a matrix product (mul_mat_fused: a prologue
 * on its input, an add on its output); q, k, v (and gate, up) come from one matrix built at load
 * (model.c) when their weight types agree, and q|k share one RoPE call, k|v one cache write. A
 * single-token step is 7 ops per layer on llama. MLXN_NO_MMFUSE=1 (c->no_mmfuse) runs the
 * sequence before the fusion: xn = rms_norm(x) before the first layer, the norm fused with the
 * residual add (add_rms_norm) after each block, the GLU as an op: 10 ops per layer.
 *
 * Qwen3-MoE replaces the dense FFN of every layer by experts (moe_block):
 *   xn = norm(x) ; logits = Wr·xn ; ids, w = top k of softmax(logits), renormalised
 *   g|u = gate_e·xn, up_e·xn per chosen e (mul_mat_id) ; h = silu(g) * u ; o_e = down_e·h
 *   x = x + sum_e w_e o_e   (moe_combine with the residual)
 * The ids never leave the device, so the decode step records as one graph as before. */
#include "engine/model.h"

#include <math.h>
#include <string.h>

/* A contiguous f32/i32 tensor of the scratch buffer. */
static mlxn_status scr(struct mlxn_context *c, size_t off, mlxn_type type, int n_dims, int64_t a, int64_t b,
                       int64_t d, mlxn_tensor *t) {
    int64_t ne[3] = {a, b, d};
    return mlxn_tensor_init(t, c->scratch, off, type, n_dims, ne);
}

/* A strided f32 view of the scratch buffer: {a, b[, d]} with byte strides nb1 (between the b
 * entries) and nb2 (between the d entries); rows of a stay contiguous. */
static mlxn_status view(struct mlxn_context *c, size_t off, int n_dims, int64_t a, int64_t b, int64_t d,
                        size_t nb1, size_t nb2, mlxn_tensor *t) {
    MLXN_TRY(scr(c, off, MLXN_TYPE_F32, 1, a, 1, 1, t));
    t->d.n_dims = n_dims;
    t->d.ne[1] = b;
    t->d.ne[2] = n_dims > 2 ? d : 1;
    t->d.nb[1] = nb1;
    t->d.nb[2] = n_dims > 2 ? nb2 : nb1 * (size_t)b;
    t->d.nb[3] = t->d.nb[2] * (size_t)t->d.ne[2];
    return MLXN_OK;
}

/* Every op of the forward pass goes through OP, which counts it (the decode graph's size) and
 * leaves it out when its kind is in the context's skip mask (MLXN_ENGINE_SKIP: timing only). */
#define OP(c, kind, expr)                          \
    do {                                           \
        if (!((c)->skip_ops >> (kind) & 1u)) {     \
            (c)->n_ops++;                          \
            MLXN_TRY(expr);                        \
        }                                          \
    } while (0)

static const char *const FWD_NAMES[MLXN_FWD_KIND_COUNT - MLXN_OP_COUNT] = {"mm_qkv", "mm_o", "mm_gate_up",
                                                                            "mm_down", "lm_head", "mm_router"};

const char *mlxn_forward_kind_name(int kind) {
    if (kind >= 0 && kind < MLXN_OP_COUNT) return mlxn_op_name((mlxn_op)kind);
    if (kind >= MLXN_OP_COUNT && kind < MLXN_FWD_KIND_COUNT) return FWD_NAMES[kind - MLXN_OP_COUNT];
    return NULL;
}

/* y = W · x, through mul_mat_fused when f is given (the prologue/epilogue of f), else mul_mat. */
static mlxn_status mm(struct mlxn_context *c, const mlxn_weight *W, const mlxn_tensor *x, const mlxn_mm_fusion *f,
                      const mlxn_tensor *y) {
    return f ? mlxn_op_mul_mat_fused(c->be, W, x, f, y) : mlxn_op_mul_mat(c->be, W, x, y);
}

/* Whether K and V of layer L can be written by one kv_write: same head size and V's cache
 * directly after K's, so {hd, n_ctx, 2 n_kv} spans both (the context lays them out so). */
static bool kv_joint(const struct mlxn_context *c, const mlxn_layer *L) {
    size_t k_bytes = (size_t)L->head_dim_k * (size_t)c->n_ctx * (size_t)L->n_head_kv * mlxn_row_size(c->kv_type, 1);
    return L->head_dim_k == L->head_dim_v && L->v_offset == L->k_offset + k_bytes;
}

/* Attention block. The projections land in one scratch slot, column t = q_t | k_t | v_t, from
 * one fused mat-vec (or two or three when the weight types differ), so q and k are adjacent
 * heads of one {hd, n_head + n_head_kv, n} view for RoPE and k and v adjacent for the cache. */
static mlxn_status attention_block(struct mlxn_context *c, const mlxn_layer *L, int n, const mlxn_tensor *xn,
                                   const mlxn_mm_fusion *pre, const mlxn_tensor *pos, const mlxn_tensor *o,
                                   const mlxn_mm_fusion *post) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    const int64_t hd = L->head_dim_k, hdv = L->head_dim_v, nh = L->n_head, nkv = L->n_head_kv;
    const int64_t Q = nh * hd, K = nkv * hd, V = nkv * hdv, QKV = Q + K + V;
    const size_t col = (size_t)QKV * 4, base = c->off_qkv;

    mlxn_tensor all, part;
    if (L->qkv_fused == 3) {
        MLXN_TRY(scr(c, base, MLXN_TYPE_F32, 2, QKV, n, 1, &all));
        OP(c, MLXN_FWD_QKV, mm(c, &L->wqkv, xn, pre, &all));
    } else {
        if (L->qkv_fused == 2) {
            MLXN_TRY(view(c, base, 2, Q + K, n, 1, col, 0, &part));
            OP(c, MLXN_FWD_QKV, mm(c, &L->wqkv, xn, pre, &part));
        } else {
            MLXN_TRY(view(c, base, 2, Q, n, 1, col, 0, &part));
            OP(c, MLXN_FWD_QKV, mm(c, &L->wq, xn, pre, &part));
            MLXN_TRY(view(c, base + (size_t)Q * 4, 2, K, n, 1, col, 0, &part));
            OP(c, MLXN_FWD_QKV, mm(c, &L->wk, xn, pre, &part));
        }
        if (L->k_eq_v) {   /* gemma4 global layer: V = rms_norm(raw k) without a weight */
            mlxn_tensor kr, vd;
            MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &kr));
            MLXN_TRY(view(c, base + (size_t)(Q + K) * 4, 3, hdv, nkv, n, (size_t)hdv * 4, col, &vd));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &kr, NULL, m->norm_eps, &vd));
        } else {
            MLXN_TRY(view(c, base + (size_t)(Q + K) * 4, 2, V, n, 1, col, 0, &part));
            OP(c, MLXN_FWD_QKV, mm(c, &L->wv, xn, pre, &part));
        }
    }
    if (L->v_norm && !L->k_eq_v) {   /* gemma4: v_norm (no weight), in place, per head */
        mlxn_tensor vh;
        MLXN_TRY(view(c, base + (size_t)(Q + K) * 4, 3, hdv, nkv, n, (size_t)hdv * 4, col, &vh));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &vh, NULL, m->norm_eps, &vh));
    }
    if (L->bqkv.present) {
        MLXN_TRY(scr(c, base, MLXN_TYPE_F32, 2, QKV, n, 1, &all));
        OP(c, MLXN_OP_ADD, mlxn_op_add(be, &all, &L->bqkv.t, &all));
    }

    /* q and k heads together {hd, nh + nkv, n}; one RoPE in place. Qwen3 first normalises
     * each head (q and k with their own weights). One token: q and k heads into off_att, laid
     * out the same way but dense, and the one RoPE brings them back into the slot. Several
     * tokens: per-token slices would cost a launch each on backends that run a norm per 2-D
     * slice, so the whole slot, read as rows of hd, is normalised once with each weight (a few
     * rows too many, harmless) into off_att and off_qkn, and q and k get a RoPE each.
     * With rope_kv (the default; MLXN_NO_ROPEKV=1 keeps the separate ops) one op takes q and k
     * from wherever they are now (q_src, k_src), rotates q back into the slot and writes the
     * rotated k and v straight into the cache: the k left in the slot stays unrotated, which
     * nothing reads. */
    mlxn_rope_params rp = {m->rope_mode, L->n_rot, L->rope_base, L->rope_scale};
    const mlxn_tensor *ff = m->rope_freqs.present && !L->no_rope_freqs ? &m->rope_freqs.t : NULL;
    const bool rope_kv = !c->no_ropekv && mlxn_backend_supports(be, MLXN_OP_ROPE_KV, c->kv_type);
    mlxn_tensor qk, qh, kvh, q_src, k_src;
    MLXN_TRY(view(c, base, 3, hd, nh + nkv, n, (size_t)hd * 4, col, &qk));
    MLXN_TRY(view(c, base, 3, hd, nh, n, (size_t)hd * 4, col, &q_src));
    MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &k_src));
    bool qk_norm = L->q_norm.present || L->k_norm.present;
    if (qk_norm && n > 1 && L->q_norm.present && L->k_norm.present && QKV % hd == 0) {
        const int64_t R = QKV / hd * n;
        mlxn_tensor rows, qn, kn, dst;
        MLXN_TRY(scr(c, base, MLXN_TYPE_F32, 2, hd, R, 1, &rows));
        MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 2, hd, R, 1, &qn));
        MLXN_TRY(scr(c, c->off_qkn, MLXN_TYPE_F32, 2, hd, R, 1, &kn));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &rows, &L->q_norm.t, m->norm_eps, &qn));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &rows, &L->k_norm.t, m->norm_eps, &kn));
        MLXN_TRY(view(c, c->off_att, 3, hd, nh, n, (size_t)hd * 4, col, &q_src));
        MLXN_TRY(view(c, c->off_qkn + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &k_src));
        if (!rope_kv) {
            MLXN_TRY(view(c, base, 3, hd, nh, n, (size_t)hd * 4, col, &dst));
            OP(c, MLXN_OP_ROPE, mlxn_op_rope(be, &q_src, pos, ff, &rp, &dst));
            MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &dst));
            OP(c, MLXN_OP_ROPE, mlxn_op_rope(be, &k_src, pos, ff, &rp, &dst));
        }
    } else {
        mlxn_tensor rope_src = qk;
        if (qk_norm) {
            const size_t dcol = (size_t)(Q + K) * 4;
            mlxn_tensor src, dst;
            MLXN_TRY(view(c, base, 3, hd, nh, n, (size_t)hd * 4, col, &src));
            MLXN_TRY(view(c, c->off_att, 3, hd, nh, n, (size_t)hd * 4, dcol, &dst));
            if (L->q_norm.present) OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &src, &L->q_norm.t, m->norm_eps, &dst));
            else OP(c, MLXN_OP_COPY, mlxn_op_copy(be, &src, &dst));
            MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &src));
            MLXN_TRY(view(c, c->off_att + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, dcol, &dst));
            if (L->k_norm.present) OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &src, &L->k_norm.t, m->norm_eps, &dst));
            else OP(c, MLXN_OP_COPY, mlxn_op_copy(be, &src, &dst));
            MLXN_TRY(view(c, c->off_att, 3, hd, nh + nkv, n, (size_t)hd * 4, dcol, &rope_src));
            MLXN_TRY(view(c, c->off_att, 3, hd, nh, n, (size_t)hd * 4, dcol, &q_src));
            MLXN_TRY(view(c, c->off_att + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, dcol, &k_src));
        }
        if (!rope_kv) OP(c, MLXN_OP_ROPE, mlxn_op_rope(be, &rope_src, pos, ff, &rp, &qk));
    }

    /* the cache: k and v heads are adjacent in the slot; one write when the caches are too */
    mlxn_tensor kc, vc;
    int64_t kne[3] = {hd, c->n_ctx, nkv}, vne[3] = {hdv, c->n_ctx, nkv};
    MLXN_TRY(mlxn_tensor_init(&kc, c->kv, L->k_offset, c->kv_type, 3, kne));
    MLXN_TRY(mlxn_tensor_init(&vc, c->kv, L->v_offset, c->kv_type, 3, vne));
    if (rope_kv) {
        mlxn_tensor v_src;
        MLXN_TRY(view(c, base, 3, hd, nh, n, (size_t)hd * 4, col, &qh));
        MLXN_TRY(view(c, base + (size_t)(Q + K) * 4, 3, hdv, nkv, n, (size_t)hdv * 4, col, &v_src));
        OP(c, MLXN_OP_ROPE_KV, mlxn_op_rope_kv(be, &q_src, &k_src, &v_src, pos, ff, &rp, &qh, &kc, &vc));
    } else if (kv_joint(c, L)) {
        mlxn_tensor both;
        int64_t bne[3] = {hd, c->n_ctx, 2 * nkv};
        MLXN_TRY(mlxn_tensor_init(&both, c->kv, L->k_offset, c->kv_type, 3, bne));
        MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, 2 * nkv, n, (size_t)hd * 4, col, &kvh));
        OP(c, MLXN_OP_KV_WRITE, mlxn_op_kv_write(be, &kvh, pos, &both));
    } else {
        MLXN_TRY(view(c, base + (size_t)Q * 4, 3, hd, nkv, n, (size_t)hd * 4, col, &kvh));
        OP(c, MLXN_OP_KV_WRITE, mlxn_op_kv_write(be, &kvh, pos, &kc));
        MLXN_TRY(view(c, base + (size_t)(Q + K) * 4, 3, hdv, nkv, n, (size_t)hdv * 4, col, &kvh));
        OP(c, MLXN_OP_KV_WRITE, mlxn_op_kv_write(be, &kvh, pos, &vc));
    }

    mlxn_tensor att, att2;
    MLXN_TRY(view(c, base, 3, hd, nh, n, (size_t)hd * 4, col, &qh));
    MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 3, hdv, nh, n, &att));
    /* one token: the cache rows before its position were written by earlier steps, each ended by a
     * download or a sync (context.c), so the backend may read them early */
    mlxn_attn_params ap = {L->attn_scale, 0.0f, L->window, n == 1 ? MLXN_ATTN_HISTORY_READY : 0u};
    OP(c, MLXN_OP_ATTENTION, mlxn_op_attention(be, &qh, &kc, &vc, pos, &ap, &att));
    MLXN_TRY(scr(c, c->off_att, MLXN_TYPE_F32, 2, nh * hdv, n, 1, &att2));
    OP(c, MLXN_FWD_O, mm(c, &L->wo, &att2, post, o));
    return MLXN_OK;
}

/* Feed-forward block: gate and up in one slot, column t = gate_t | up_t (one fused mat-vec
 * when their types agree); the GLU reads the two halves as strided views. */
static mlxn_status ffn_block(struct mlxn_context *c, const mlxn_layer *L, int n, const mlxn_tensor *xn,
                             const mlxn_mm_fusion *pre, const mlxn_tensor *o, const mlxn_tensor *residual,
                             mlxn_glu glu, bool glu_prologue) {
    mlxn_backend_t *be = c->be;
    const int64_t F = L->n_ff;
    const size_t col = (size_t)(2 * F) * 4;
    mlxn_tensor gu, g, u, h;
    MLXN_TRY(view(c, c->off_gu, 2, F, n, 1, col, 0, &g));
    MLXN_TRY(view(c, c->off_gu + (size_t)F * 4, 2, F, n, 1, col, 0, &u));
    if (L->gate_up_fused) {
        MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 2, 2 * F, n, 1, &gu));
        OP(c, MLXN_FWD_GATE_UP, mm(c, &L->ffn_gate_up, xn, pre, &gu));
    } else {
        OP(c, MLXN_FWD_GATE_UP, mm(c, &L->ffn_gate, xn, pre, &g));
        OP(c, MLXN_FWD_GATE_UP, mm(c, &L->ffn_up, xn, pre, &u));
    }
    if (residual || glu_prologue) {   /* fused: o (+ residual) = down(act(gate) * up), the GLU as the prologue */
        mlxn_mm_fusion f = {.up = &u, .glu = glu, .add = residual};
        OP(c, MLXN_FWD_DOWN, mm(c, &L->ffn_down, &g, &f, o));
        return MLXN_OK;
    }
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 2, F, n, 1, &h));
    OP(c, MLXN_OP_GLU, mlxn_op_glu(be, glu, &g, &u, &h));
    OP(c, MLXN_FWD_DOWN, mlxn_op_mul_mat(be, &L->ffn_down, &h, o));
    return MLXN_OK;
}

/* Mixture-of-experts block (Qwen3-MoE). xn f32 {n_embd, n} at off_xn holds norm(x); x, the
 * residual stream, gets the weighted sum of the chosen experts' outputs added in place. Gate
 * and up of the chosen experts land one after the other in off_gu ({n_ff_exp, k, n} each), the
 * GLU in off_h, the experts' outputs {n_embd, k, n} in off_eo; every product reads the expert
 * ids from the scratch buffer. 7 ops: router, route, gate, up, glu, down, combine. */
static mlxn_status moe_block(struct mlxn_context *c, const mlxn_layer *L, int n, const mlxn_tensor *x) {
    mlxn_backend_t *be = c->be;
    const int64_t E = c->m->info.n_embd, F = L->n_ff_exp, K = L->n_expert_used, NE = L->n_expert;
    mlxn_tensor xn, xb, lg, ids, wts, g, u, g2, u2, h2, h, eo;
    MLXN_TRY(scr(c, c->off_xn, MLXN_TYPE_F32, 2, E, n, 1, &xn));
    MLXN_TRY(scr(c, c->off_xn, MLXN_TYPE_F32, 3, E, 1, n, &xb));   /* one input for every chosen expert */
    MLXN_TRY(scr(c, c->off_rl, MLXN_TYPE_F32, 2, NE, n, 1, &lg));
    MLXN_TRY(scr(c, c->off_eids, MLXN_TYPE_I32, 2, K, n, 1, &ids));
    MLXN_TRY(scr(c, c->off_ew, MLXN_TYPE_F32, 2, K, n, 1, &wts));
    const size_t half = (size_t)(F * K * n) * 4;
    MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 3, F, K, n, &g));
    MLXN_TRY(scr(c, c->off_gu + half, MLXN_TYPE_F32, 3, F, K, n, &u));
    MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 2, F, K * n, 1, &g2));
    MLXN_TRY(scr(c, c->off_gu + half, MLXN_TYPE_F32, 2, F, K * n, 1, &u2));
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 2, F, K * n, 1, &h2));
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 3, F, K, n, &h));
    MLXN_TRY(scr(c, c->off_eo, MLXN_TYPE_F32, 3, E, K, n, &eo));

    /* softmax over all experts, the top k, their weights renormalised to sum 1 (norm_topk_prob) */
    const mlxn_moe_route_params rp = {MLXN_MOE_SOFTMAX, (int)K, true, 1.0f};
    OP(c, MLXN_FWD_ROUTER, mlxn_op_mul_mat(be, &L->ffn_gate_inp, &xn, &lg));
    OP(c, MLXN_OP_MOE_ROUTE, mlxn_op_moe_route(be, &lg, &rp, NULL, &ids, &wts));
    OP(c, MLXN_FWD_GATE_UP, mlxn_op_mul_mat_id(be, &L->ffn_gate_exps, &ids, &xb, &g));
    OP(c, MLXN_FWD_GATE_UP, mlxn_op_mul_mat_id(be, &L->ffn_up_exps, &ids, &xb, &u));
    OP(c, MLXN_OP_GLU, mlxn_op_glu(be, MLXN_GLU_SWIGLU, &g2, &u2, &h2));
    OP(c, MLXN_FWD_DOWN, mlxn_op_mul_mat_id(be, &L->ffn_down_exps, &ids, &h, &eo));
    OP(c, MLXN_OP_MOE_COMBINE, mlxn_op_moe_combine(be, &eo, &wts, x, x));
    return MLXN_OK;
}

/* Gemma 3's layers: a norm sits between each block's product and its residual add, so the add
 * epilogue of mul_mat_fused does not apply there: the post-norms are rms_norm ops of their own,
 * the adds add (fused) or add_rms_norm (MLXN_NO_MMFUSE, with the next pre-norm). The pre-norms
 * and the GEGLU still ride on the products. Embeddings are scaled by sqrt(n_embd) first.
 *   fused, per layer:   o = Wo.attn(norm(x)) ; xn = post_norm(o) ; x += xn
 *                       o = Wdown.geglu(Wgu.norm(x)) ; xn = post_ffn_norm(o) ; x += xn
 *   MLXN_NO_MMFUSE:     o = Wo.attn(xn) ; xn = post_norm(o) ; x += xn, o = ffn_norm(x)
 *                       xn = Wdown.glu(Wgu.o) ; o = post_ffn_norm(xn) ; x += o, xn = next_norm(x)
 * (o and xn alternate so that no op reads and writes the same bytes beyond what the ops allow). */
static mlxn_status gemma_layers(struct mlxn_context *c, int n, const mlxn_tensor *x, const mlxn_tensor *xn,
                                const mlxn_tensor *o, const mlxn_tensor *pos) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    if (!c->no_mmfuse) {
        for (int il = 0; il < m->info.n_layer; il++) {
            const mlxn_layer *L = &m->layers[il];
            const mlxn_mm_fusion an = {.norm_w = &L->attn_norm, .eps = m->norm_eps};
            const mlxn_mm_fusion fn = {.norm_w = &L->ffn_norm, .eps = m->norm_eps};
            MLXN_TRY(attention_block(c, L, n, x, &an, pos, o, NULL));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_attn_norm.t, m->norm_eps, xn));
            OP(c, MLXN_OP_ADD, mlxn_op_add(be, x, xn, x));
            MLXN_TRY(ffn_block(c, L, n, x, &fn, o, NULL, MLXN_GLU_GEGLU, true));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_ffn_norm.t, m->norm_eps, xn));
            OP(c, MLXN_OP_ADD, mlxn_op_add(be, x, xn, x));
        }
        return MLXN_OK;
    }
    OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, x, &m->layers[0].attn_norm, m->norm_eps, xn));
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        const mlxn_tensor *next_norm = il + 1 < m->info.n_layer ? &m->layers[il + 1].attn_norm : &m->output_norm;
        MLXN_TRY(attention_block(c, L, n, xn, NULL, pos, o, NULL));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_attn_norm.t, m->norm_eps, xn));
        OP(c, MLXN_OP_ADD_RMS_NORM, mlxn_op_add_rms_norm(be, x, xn, &L->ffn_norm, m->norm_eps, x, o));
        MLXN_TRY(ffn_block(c, L, n, o, NULL, xn, NULL, MLXN_GLU_GEGLU, false));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, xn, &L->post_ffn_norm.t, m->norm_eps, o));
        OP(c, MLXN_OP_ADD_RMS_NORM, mlxn_op_add_rms_norm(be, x, o, next_norm, m->norm_eps, x, xn));
    }
    return MLXN_OK;
}

/* The input of a product that reads norm(x): with mul_mat_fused the norm is the product's
 * prologue (*pf = f, *in = x); with MLXN_NO_MMFUSE an rms_norm op into dst comes first
 * (*pf = NULL, *in = dst). w is not NULL (a NULL norm_w would mean no norm in the fusion). */
static mlxn_status pre_norm(struct mlxn_context *c, const mlxn_tensor *x, const mlxn_tensor *w, const mlxn_tensor *dst,
                            mlxn_mm_fusion *f, const mlxn_mm_fusion **pf, const mlxn_tensor **in) {
    if (!c->no_mmfuse) {
        memset(f, 0, sizeof *f);
        f->norm_w = w;
        f->eps = c->m->norm_eps;
        *pf = f;
        *in = x;
        return MLXN_OK;
    }
    OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(c->be, x, w, c->m->norm_eps, dst));
    *pf = NULL;
    *in = dst;
    return MLXN_OK;
}

/* Gemma 4's experts (a layer's second FFN, beside the dense MLP). x f32 {n_embd, n} holds h,
 * the residual stream after attention; o gets the experts' weighted sum, xn its post-norm:
 *   lg = Wr.(rms_norm(h) * router_scale) * n_embd^-0.5 ; ids, w = top k of lg, softmax over
 *   those k, times expert_scale[id] ; xe = pre_ffw_norm_2(h) into xn ;
 *   g|u = gate_up_e.xe per chosen e ; o = sum_e w_e down_e(geglu(g, u)) ; xn = post_ffw_norm_2(o)
 * The router's norm rides on its product (MLXN_NO_MMFUSE: an rms_norm into xn first). Gate and
 * up of a chosen expert come from one stack (gate rows, then up rows: one {2 n_ff_exp} column
 * per expert in off_gu) or from two (off_gu then the half after it, as qwen3moe). 9 ops:
 * router, its scale, route, norm, gate|up, glu, down, combine, post-norm (+1 for split stacks,
 * +1 for the router's norm with MLXN_NO_MMFUSE). */
static mlxn_status gemma4_experts(struct mlxn_context *c, const mlxn_layer *L, int n, const mlxn_tensor *x,
                                  const mlxn_tensor *xn, const mlxn_tensor *o) {
    mlxn_backend_t *be = c->be;
    const float eps = c->m->norm_eps;
    const int64_t E = c->m->info.n_embd, F = L->n_ff_exp, K = L->n_expert_used, NE = L->n_expert;
    mlxn_tensor xb, lg, ids, wts, g, u, g2, u2, h2, h, eo, gu;
    MLXN_TRY(scr(c, c->off_xn, MLXN_TYPE_F32, 3, E, 1, n, &xb));   /* one input for every chosen expert */
    MLXN_TRY(scr(c, c->off_rl, MLXN_TYPE_F32, 2, NE, n, 1, &lg));
    MLXN_TRY(scr(c, c->off_eids, MLXN_TYPE_I32, 2, K, n, 1, &ids));
    MLXN_TRY(scr(c, c->off_ew, MLXN_TYPE_F32, 2, K, n, 1, &wts));
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 2, F, K * n, 1, &h2));
    MLXN_TRY(scr(c, c->off_h, MLXN_TYPE_F32, 3, F, K, n, &h));
    MLXN_TRY(scr(c, c->off_eo, MLXN_TYPE_F32, 3, E, K, n, &eo));

    mlxn_mm_fusion f;
    const mlxn_mm_fusion *pf;
    const mlxn_tensor *in;
    MLXN_TRY(pre_norm(c, x, &L->router_scale.t, xn, &f, &pf, &in));
    OP(c, MLXN_FWD_ROUTER, mm(c, &L->ffn_gate_inp, in, pf, &lg));
    OP(c, MLXN_OP_SCALE, mlxn_op_scale(be, &lg, 1.0f / sqrtf((float)E), &lg));
    const mlxn_moe_route_params rp = {MLXN_MOE_SOFTMAX_TOPK, (int)K, false, 1.0f};
    OP(c, MLXN_OP_MOE_ROUTE, mlxn_op_moe_route(be, &lg, &rp, &L->expert_scale.t, &ids, &wts));
    OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, x, &L->pre_ffn_norm_2.t, eps, xn));
    if (L->gate_up_exps_fused) {
        const size_t col = (size_t)(2 * F) * 4;
        MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 3, 2 * F, K, n, &gu));
        MLXN_TRY(view(c, c->off_gu, 2, F, K * n, 1, col, 0, &g2));
        MLXN_TRY(view(c, c->off_gu + (size_t)F * 4, 2, F, K * n, 1, col, 0, &u2));
        OP(c, MLXN_FWD_GATE_UP, mlxn_op_mul_mat_id(be, &L->ffn_gate_up_exps, &ids, &xb, &gu));
    } else {
        const size_t half = (size_t)(F * K * n) * 4;
        MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 3, F, K, n, &g));
        MLXN_TRY(scr(c, c->off_gu + half, MLXN_TYPE_F32, 3, F, K, n, &u));
        MLXN_TRY(scr(c, c->off_gu, MLXN_TYPE_F32, 2, F, K * n, 1, &g2));
        MLXN_TRY(scr(c, c->off_gu + half, MLXN_TYPE_F32, 2, F, K * n, 1, &u2));
        OP(c, MLXN_FWD_GATE_UP, mlxn_op_mul_mat_id(be, &L->ffn_gate_exps, &ids, &xb, &g));
        OP(c, MLXN_FWD_GATE_UP, mlxn_op_mul_mat_id(be, &L->ffn_up_exps, &ids, &xb, &u));
    }
    OP(c, MLXN_OP_GLU, mlxn_op_glu(be, MLXN_GLU_GEGLU, &g2, &u2, &h2));
    OP(c, MLXN_FWD_DOWN, mlxn_op_mul_mat_id(be, &L->ffn_down_exps, &ids, &h, &eo));
    OP(c, MLXN_OP_MOE_COMBINE, mlxn_op_moe_combine(be, &eo, &wts, NULL, o));
    OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_ffn_norm_2.t, eps, xn));
    return MLXN_OK;
}

/* Gemma 4's layers. Norms are plain `w` (the engine multiplies by the stored weight, as for
 * gemma3), the pre-norms ride on the products (MLXN_NO_MMFUSE: rms_norm ops into a free slot),
 * the post-norms are ops of their own:
 *   h  = x + post_attn_norm(Wo.attn(attn_norm(x)))
 *   o1 = Wdown.geglu(Wgu.ffn_norm(h))                 (the dense MLP)
 *   o2 = experts(h) (gemma4_experts; MoE layers only)
 *   x  = (h + post_ffw_norm(o1)) * layer_output_scale                            dense layers
 *   x  = (h + post_ffw_norm(post_ffw_norm_1(o1) + o2)) * layer_output_scale      MoE layers
 * A MoE layer runs the experts first (they leave post_ffw_norm_2(o2) in xn), then the MLP into
 * o, whose post-norm goes to the first {n_embd, n} of off_eo (the expert outputs are consumed
 * by then); add_rms_norm sums the two and applies post_ffw_norm. layer_output_scale is
 * optional (a mul by the {1} tensor when present). With MLXN_NO_MMFUSE the final norm goes to
 * xn for the LM head. Decode step ops per layer: attention 7 (q|k, q/k norms, v norm, rope_kv,
 * attention, o; 8 with separate q, k), post-norm, add; dense: gate|up, down, post-norm, add;
 * MoE: 10 expert ops, gate|up, down, post-norm 1, add_rms_norm, add; then the scale. */
static mlxn_status gemma4_layers(struct mlxn_context *c, int n, const mlxn_tensor *x, const mlxn_tensor *xn,
                                 const mlxn_tensor *o, const mlxn_tensor *pos) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    const float eps = m->norm_eps;
    const bool glu_prologue = !c->no_mmfuse;
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        mlxn_mm_fusion f;
        const mlxn_mm_fusion *pf;
        const mlxn_tensor *in;
        MLXN_TRY(pre_norm(c, x, &L->attn_norm, xn, &f, &pf, &in));
        MLXN_TRY(attention_block(c, L, n, in, pf, pos, o, NULL));
        OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_attn_norm.t, eps, xn));
        OP(c, MLXN_OP_ADD, mlxn_op_add(be, x, xn, x));
        if (L->has_moe) {
            mlxn_tensor t;   /* post_ffw_norm_1(o1), then the sum of the two branches */
            MLXN_TRY(scr(c, c->off_eo, MLXN_TYPE_F32, 2, m->info.n_embd, n, 1, &t));
            MLXN_TRY(gemma4_experts(c, L, n, x, xn, o));
            MLXN_TRY(pre_norm(c, x, &L->ffn_norm, &t, &f, &pf, &in));
            MLXN_TRY(ffn_block(c, L, n, in, pf, o, NULL, MLXN_GLU_GEGLU, glu_prologue));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_ffn_norm_1.t, eps, &t));
            OP(c, MLXN_OP_ADD_RMS_NORM, mlxn_op_add_rms_norm(be, &t, xn, &L->post_ffn_norm.t, eps, &t, o));
            OP(c, MLXN_OP_ADD, mlxn_op_add(be, x, o, x));
        } else {
            MLXN_TRY(pre_norm(c, x, &L->ffn_norm, xn, &f, &pf, &in));
            MLXN_TRY(ffn_block(c, L, n, in, pf, o, NULL, MLXN_GLU_GEGLU, glu_prologue));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, o, &L->post_ffn_norm.t, eps, xn));
            OP(c, MLXN_OP_ADD, mlxn_op_add(be, x, xn, x));
        }
        if (L->out_scale.present) OP(c, MLXN_OP_MUL, mlxn_op_mul(be, x, &L->out_scale.t, x));
    }
    if (c->no_mmfuse) OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, x, &m->output_norm, eps, xn));
    return MLXN_OK;
}

mlxn_status mlxn_forward_layers(struct mlxn_context *c, int n) {
    mlxn_model_t *m = c->m;
    mlxn_backend_t *be = c->be;
    const int64_t E = m->info.n_embd;
    mlxn_tensor x, xn, o, ids, pos;
    MLXN_TRY(scr(c, c->off_x, MLXN_TYPE_F32, 2, E, n, 1, &x));
    MLXN_TRY(scr(c, c->off_xn, MLXN_TYPE_F32, 2, E, n, 1, &xn));
    MLXN_TRY(scr(c, c->off_o, MLXN_TYPE_F32, 2, E, n, 1, &o));
    /* a single-token step reads its id and position from one 8-byte slot (one upload) */
    MLXN_TRY(scr(c, n == 1 ? c->off_step : c->off_ids, MLXN_TYPE_I32, 1, n, 1, 1, &ids));
    MLXN_TRY(scr(c, n == 1 ? c->off_step + 4 : c->off_pos, MLXN_TYPE_I32, 1, n, 1, 1, &pos));

    OP(c, MLXN_OP_GET_ROWS, mlxn_op_get_rows(be, &m->tok_embd, &ids, &x));
    if (m->arch->gemma) {
        OP(c, MLXN_OP_SCALE, mlxn_op_scale(be, &x, sqrtf((float)E), &x));
        return m->arch->gemma4 ? gemma4_layers(c, n, &x, &xn, &o, &pos) : gemma_layers(c, n, &x, &xn, &o, &pos);
    }
    if (!c->no_mmfuse) {
        /* every norm is the prologue of the product that reads it; each block adds into x */
        const mlxn_mm_fusion add_x = {.add = &x};
        for (int il = 0; il < m->info.n_layer; il++) {
            const mlxn_layer *L = &m->layers[il];
            const mlxn_mm_fusion an = {.norm_w = &L->attn_norm, .eps = m->norm_eps};
            const mlxn_mm_fusion fn = {.norm_w = &L->ffn_norm, .eps = m->norm_eps};
            MLXN_TRY(attention_block(c, L, n, &x, &an, &pos, &x, &add_x));
            if (L->has_moe) {   /* the experts read norm(x) several times: it is computed once */
                OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &x, &L->ffn_norm, m->norm_eps, &xn));
                MLXN_TRY(moe_block(c, L, n, &x));
                continue;
            }
            MLXN_TRY(ffn_block(c, L, n, &x, &fn, &x, &x, MLXN_GLU_SWIGLU, false));
        }
        return MLXN_OK;
    }
    OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &x, &m->layers[0].attn_norm, m->norm_eps, &xn));
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        MLXN_TRY(attention_block(c, L, n, &xn, NULL, &pos, &o, NULL));
        OP(c, MLXN_OP_ADD_RMS_NORM, mlxn_op_add_rms_norm(be, &x, &o, &L->ffn_norm, m->norm_eps, &x, &xn));
        const mlxn_tensor *next_norm = il + 1 < m->info.n_layer ? &m->layers[il + 1].attn_norm : &m->output_norm;
        if (L->has_moe) {   /* the experts add into x themselves (as in the fused sequence) */
            MLXN_TRY(moe_block(c, L, n, &x));
            OP(c, MLXN_OP_RMS_NORM, mlxn_op_rms_norm(be, &x, next_norm, m->norm_eps, &xn));
            continue;
        }
        MLXN_TRY(ffn_block(c, L, n, &xn, NULL, &o, NULL, MLXN_GLU_SWIGLU, false));
        OP(c, MLXN_OP_ADD_RMS_NORM, mlxn_op_add_rms_norm(be, &x, &o, next_norm, m->norm_eps, &x, &xn));
    }
    return MLXN_OK;
}

mlxn_status mlxn_forward_lm_head(struct mlxn_context *c, int row0, int nrows) {
    const int64_t E = c->m->info.n_embd;
    mlxn_tensor xs, lg;
    MLXN_TRY(scr(c, (c->no_mmfuse ? c->off_xn : c->off_x) + (size_t)row0 * (size_t)E * 4, MLXN_TYPE_F32, 2, E, nrows, 1, &xs));
    MLXN_TRY(scr(c, c->off_logits, MLXN_TYPE_F32, 2, c->m->info.n_vocab, nrows, 1, &lg));
    const mlxn_mm_fusion fn = {.norm_w = &c->m->output_norm, .eps = c->m->norm_eps};   /* the final norm */
    OP(c, MLXN_FWD_LM_HEAD, mm(c, &c->m->output, &xs, c->no_mmfuse ? NULL : &fn, &lg));
    const float cap = c->m->final_softcap;
    if (cap > 0) {   /* gemma4: logits = cap * tanh(logits / cap) */
        OP(c, MLXN_OP_SCALE, mlxn_op_scale(c->be, &lg, 1.0f / cap, &lg));
        OP(c, MLXN_OP_UNARY, mlxn_op_unary(c->be, MLXN_UNARY_TANH, &lg, &lg));
        OP(c, MLXN_OP_SCALE, mlxn_op_scale(c->be, &lg, cap, &lg));
    }
    return MLXN_OK;
}

mlxn_status mlxn_forward_argmax(struct mlxn_context *c) {
    mlxn_tensor lg, am;
    MLXN_TRY(scr(c, c->off_logits, MLXN_TYPE_F32, 2, c->m->info.n_vocab, 1, 1, &lg));
    MLXN_TRY(scr(c, c->off_argmax, MLXN_TYPE_I32, 1, 1, 1, 1, &am));
    OP(c, MLXN_OP_ARGMAX, mlxn_op_argmax(c->be, &lg, &am));
    return MLXN_OK;
}

mlxn_status mlxn_forward_argmax_advance(struct mlxn_context *c, int ring) {
    mlxn_tensor lg, st, hist;
    MLXN_TRY(scr(c, c->off_logits, MLXN_TYPE_F32, 2, c->m->info.n_vocab, 1, 1, &lg));
    MLXN_TRY(scr(c, c->off_step, MLXN_TYPE_I32, 1, 2, 1, 1, &st));
    MLXN_TRY(scr(c, c->off_hist, MLXN_TYPE_I32, 1, ring, 1, 1, &hist));
    OP(c, MLXN_OP_ARGMAX_ADVANCE, mlxn_op_argmax_advance(c->be, &lg, &st, &hist));
    return MLXN_OK;
}
