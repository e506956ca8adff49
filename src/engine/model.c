/* Model loading from GGUF: the architecture table, hyper-parameters from the metadata (any
 * integer width, per-layer arrays where families use them), every tensor checked for
 * presence, shape and type, and the weights placed once on the backend (wrapped in place on
 * CPU backends, uploaded on GPUs). */
#define _DEFAULT_SOURCE   /* madvise */
#include "engine/model.h"

#include <math.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==========================================================================
 * Architectures
 * ========================================================================== */

static const mlxn_arch_desc ARCHS[] = {
    {"llama", MLXN_ROPE_NORM, false, false, false, false, false},
    {"qwen2", MLXN_ROPE_NEOX, true, false, false, false, false},
    {"qwen3", MLXN_ROPE_NEOX, false, true, false, false, false},
    {"qwen3moe", MLXN_ROPE_NEOX, false, true, true, false, false},
    {"gemma3", MLXN_ROPE_NEOX, false, true, false, true, false},
    {"gemma4", MLXN_ROPE_NEOX, false, true, false, true, true},
};

const mlxn_arch_desc *mlxn_arch_find(const char *name) {
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++)
        if (!strcmp(ARCHS[i].name, name)) return &ARCHS[i];
    return NULL;
}

/* ==========================================================================
 * Metadata helpers: "<arch>.<suffix>" keys, scalar or per-layer array
 * ========================================================================== */

static mlxn_status kv_int(mlxn_model_t *m, const char *suffix, int layer, bool required, int64_t dflt,
                          int64_t *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", m->info.arch, suffix);
    int64_t idx = mlxn_gguf_find_key(m->gguf, key);
    if (idx < 0) {
        if (required)
            return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing metadata key '%s' (architecture %s)", m->path,
                             key, m->info.arch);
        *out = dflt;
        return MLXN_OK;
    }
    mlxn_status st;
    if (mlxn_gguf_kv_type(m->gguf, idx) == MLXN_GGUF_ARRAY) {
        mlxn_gguf_vtype et;
        uint64_t count;
        MLXN_TRY(mlxn_gguf_get_arr(m->gguf, key, &et, &count));
        uint64_t i = layer < 0 ? 0 : (uint64_t)layer;
        if (i >= count)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: metadata array '%s' has %llu entries, layer %d needs one",
                             m->path, key, (unsigned long long)count, layer);
        st = mlxn_gguf_arr_int(m->gguf, key, i, out);
    } else {
        st = mlxn_gguf_get_int(m->gguf, key, out);
    }
    if (st != MLXN_OK)
        return mlxn_fail(st, "%s: metadata key '%s' is not an integer", m->path, key);
    return MLXN_OK;
}

static mlxn_status kv_pos_int(mlxn_model_t *m, const char *suffix, int layer, bool required, int64_t dflt,
                              int lo, int hi, int *out) {
    int64_t v;
    MLXN_TRY(kv_int(m, suffix, layer, required, dflt, &v));
    if (v < lo || v > hi)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: metadata key '%s.%s' = %lld is outside [%d, %d]", m->path,
                         m->info.arch, suffix, (long long)v, lo, hi);
    *out = (int)v;
    return MLXN_OK;
}

static mlxn_status kv_float(mlxn_model_t *m, const char *suffix, bool required, double dflt, double *out) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", m->info.arch, suffix);
    if (mlxn_gguf_find_key(m->gguf, key) < 0) {
        if (required)
            return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing metadata key '%s'", m->path, key);
        *out = dflt;
        return MLXN_OK;
    }
    mlxn_status st = mlxn_gguf_get_float(m->gguf, key, out);
    if (st != MLXN_OK) return mlxn_fail(st, "%s: metadata key '%s' is not a number", m->path, key);
    if (!isfinite(*out)) return mlxn_fail(MLXN_ERR_FORMAT, "%s: metadata key '%s' is not finite", m->path, key);
    return MLXN_OK;
}

static int32_t token_id_or_none(const mlxn_gguf_t *g, const char *key) {
    int64_t v;
    if (mlxn_gguf_get_int(g, key, &v) != MLXN_OK || v < 0 || v > INT32_MAX) return -1;
    return (int32_t)v;
}

/* ==========================================================================
 * Tensor helpers
 * ========================================================================== */

/* The data section as one span: [base, base + size) holds every tensor. */
typedef struct data_span {
    const uint8_t *base;
    uint64_t size;
} data_span;

static void shape_str(char *buf, size_t cap, int n, const int64_t *ne) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "{");
    for (int i = 0; i < n && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < cap) snprintf(buf + o, cap - o, "}");
}

/* Finds tensor `name` and checks its shape (n_dims extents in ne; trailing 1s are free).
 * Absent: NOT_FOUND naming it if required, else *present = false. */
static mlxn_status find_tensor(mlxn_model_t *m, const char *name, int n_dims, const int64_t *ne, bool required,
                               bool *present, mlxn_gguf_tensor *gt) {
    int64_t i = mlxn_gguf_find_tensor(m->gguf, name);
    if (i < 0) {
        if (present) *present = false;
        if (!required) return MLXN_OK;
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing tensor '%s' (architecture %s)", m->path, name,
                         m->info.arch);
    }
    MLXN_TRY(mlxn_gguf_get_tensor(m->gguf, i, gt));
    bool ok = gt->n_dims <= MLXN_MAX_DIMS;
    for (int d = 0; d < MLXN_MAX_DIMS && ok; d++) {
        int64_t want = d < n_dims ? ne[d] : 1;
        int64_t have = d < gt->n_dims ? gt->ne[d] : 1;
        if (want != have) ok = false;
    }
    if (!ok) {
        char want[96], have[96];
        shape_str(want, sizeof want, n_dims, ne);
        shape_str(have, sizeof have, gt->n_dims, gt->ne);
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s", m->path, name, have, want);
    }
    if (present) *present = true;
    return MLXN_OK;
}

/* Tensors are first collected (checked, not placed), then laid out and placed at once, so a
 * fused matrix can be built from several file tensors: 2..3 tensors of one type and row
 * length concatenated along their rows (1-D vectors: along their elements). */
typedef struct place_item {
    mlxn_tensor *dst;
    int n_parts;
    mlxn_gguf_tensor part[3];
    int n_dims;
    int64_t ne[3];
    uint64_t nbytes;
    size_t off;            /* in its buffer */
    bool in_fused;         /* CPU: in m->fused (a host copy), else in m->weights */
} place_item;

typedef struct placer {
    place_item *items;
    int n, cap;
} placer;

static mlxn_status push(mlxn_model_t *m, placer *P, mlxn_tensor *dst, bool vec, int n_parts,
                        const mlxn_gguf_tensor *parts) {
    if (P->n == P->cap) {
        int cap = P->cap ? 2 * P->cap : 256;
        place_item *it = realloc(P->items, sizeof *it * (size_t)cap);
        if (!it) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: %d tensor placements", m->path, cap);
        P->items = it;
        P->cap = cap;
    }
    place_item *it = &P->items[P->n];
    memset(it, 0, sizeof *it);
    it->dst = dst;
    it->n_parts = n_parts;
    const mlxn_gguf_tensor *p0 = &parts[0];
    /* find_tensor checked the shape: a vector is {n} (trailing 1s free), a matrix {k, rows} */
    it->n_dims = vec ? 1 : 2;
    it->ne[0] = it->n_dims == 1 ? 0 : p0->ne[0];
    it->ne[1] = it->n_dims == 1 ? 1 : 0;
    it->ne[2] = 1;
    for (int i = 0; i < n_parts; i++) {
        const mlxn_gguf_tensor *pi = &parts[i];
        if (pi->type != p0->type || (it->n_dims == 2 && pi->ne[0] != p0->ne[0]))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: cannot fuse '%s' (%s, rows of %lld) with '%s' (%s, rows of %lld)",
                             m->path, pi->name, mlxn_type_name(pi->type), (long long)pi->ne[0], p0->name,
                             mlxn_type_name(p0->type), (long long)p0->ne[0]);
        it->part[i] = *pi;
        it->nbytes += pi->nbytes;
        if (it->n_dims == 1) it->ne[0] += pi->ne[0] * (pi->n_dims > 1 ? pi->ne[1] : 1);
        else it->ne[1] += pi->n_dims > 1 ? pi->ne[1] : 1;
    }
    P->n++;
    return MLXN_OK;
}

/* A norm / bias / frequency vector: f32 of n elements. Placed unless gt_out is given (the
 * caller fuses it). */
static mlxn_status load_vec_gt(mlxn_model_t *m, placer *P, const char *name, int64_t n, bool required,
                               mlxn_opt_tensor *out, mlxn_gguf_tensor *gt_out) {
    mlxn_gguf_tensor gt;
    bool present = false;
    MLXN_TRY(find_tensor(m, name, 1, &n, required, &present, &gt));
    out->present = present;
    if (!present) return MLXN_OK;
    if (gt.type != MLXN_TYPE_F32)
        return mlxn_fail(MLXN_ERR_TYPE, "%s: tensor '%s' has type %s, expected f32", m->path, name,
                         mlxn_type_name(gt.type));
    if (gt_out) {
        *gt_out = gt;
        return MLXN_OK;
    }
    return push(m, P, &out->t, true, 1, &gt);
}
static mlxn_status load_vec(mlxn_model_t *m, placer *P, const char *name, int64_t n, bool required,
                            mlxn_opt_tensor *out) {
    return load_vec_gt(m, P, name, n, required, out, NULL);
}
/* A required vector placed straight into *dst (the placement keeps the pointer). */
static mlxn_status load_req_vec(mlxn_model_t *m, placer *P, const char *name, int64_t n, mlxn_tensor *dst) {
    mlxn_opt_tensor ot;
    mlxn_gguf_tensor gt;
    MLXN_TRY(load_vec_gt(m, P, name, n, true, &ot, &gt));
    return push(m, P, dst, true, 1, &gt);
}

/* A matrix {k, rows} the backend must be able to run `op` on: checked into *gt, not placed. */
static mlxn_status check_mat(mlxn_model_t *m, const char *name, int64_t k, int64_t rows, mlxn_op op, bool required,
                             bool *present, mlxn_gguf_tensor *gt) {
    int64_t ne[2] = {k, rows};
    bool here = false;
    MLXN_TRY(find_tensor(m, name, 2, ne, required, &here, gt));
    if (present) *present = here;
    if (!here) return MLXN_OK;
    const mlxn_type_traits *tr = mlxn_type_info(gt->type);
    if (!tr || !tr->decodable || !mlxn_backend_supports(m->be, op, gt->type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which backend '%s' cannot run %s on",
                         m->path, name, mlxn_type_name(gt->type), mlxn_backend_name(m->be), mlxn_op_name(op));
    return MLXN_OK;
}

/* A matrix checked and placed. */
static mlxn_status load_mat(mlxn_model_t *m, placer *P, const char *name, int64_t k, int64_t rows, mlxn_op op,
                            bool required, bool *present, mlxn_weight *out) {
    mlxn_gguf_tensor gt;
    bool here = false;
    MLXN_TRY(check_mat(m, name, k, rows, op, required, &here, &gt));
    if (present) *present = here;
    if (!here) return MLXN_OK;
    memset(out, 0, sizeof *out);
    return push(m, P, &out->w, false, 1, &gt);
}

/* A stack of expert matrices {k, rows, n_expert} (each expert's {k, rows} matrix after the
 * other) the backend must run mul_mat_id on: checked and placed whole. */
static mlxn_status load_experts(mlxn_model_t *m, placer *P, const char *name, int64_t k, int64_t rows,
                                int64_t n_expert, mlxn_weight *out) {
    int64_t ne[3] = {k, rows, n_expert};
    mlxn_gguf_tensor gt;
    MLXN_TRY(find_tensor(m, name, 3, ne, true, NULL, &gt));
    const mlxn_type_traits *tr = mlxn_type_info(gt.type);
    if (!tr || !tr->decodable || !mlxn_backend_supports(m->be, MLXN_OP_MUL_MAT_ID, gt.type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which backend '%s' cannot run %s on",
                         m->path, name, mlxn_type_name(gt.type), mlxn_backend_name(m->be),
                         mlxn_op_name(MLXN_OP_MUL_MAT_ID));
    memset(out, 0, sizeof *out);
    MLXN_TRY(push(m, P, &out->w, false, 1, &gt));
    P->items[P->n - 1].n_dims = 3;
    P->items[P->n - 1].ne[2] = n_expert;
    return MLXN_OK;
}

/* ==========================================================================
 * Hyper-parameters and tensors of the llama family (llama, qwen2, qwen3, qwen3moe, gemma3, gemma4)
 * ========================================================================== */

static mlxn_status load_hparams(mlxn_model_t *m) {
    mlxn_model_info *in = &m->info;
    MLXN_TRY(kv_pos_int(m, "block_count", -1, true, 0, 1, 4096, &in->n_layer));
    MLXN_TRY(kv_pos_int(m, "embedding_length", -1, true, 0, 1, 1 << 20, &in->n_embd));
    MLXN_TRY(kv_pos_int(m, "attention.head_count", 0, true, 0, 1, 4096, &in->n_head));
    MLXN_TRY(kv_pos_int(m, "attention.head_count_kv", 0, false, in->n_head, 1, 4096, &in->n_head_kv));
    /* a MoE family's dense width is informative only (no layer has a dense FFN) */
    MLXN_TRY(kv_pos_int(m, "feed_forward_length", 0, !m->arch->moe, 0, m->arch->moe ? 0 : 1, 1 << 22, &in->n_ff));
    MLXN_TRY(kv_pos_int(m, "context_length", -1, true, 0, 1, 1 << 26, &in->n_ctx_train));
    if (in->n_embd % in->n_head)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d", m->path,
                         in->n_embd, in->n_head);
    MLXN_TRY(kv_pos_int(m, "attention.key_length", -1, false, in->n_embd / in->n_head, 1, 4096, &in->head_dim));
    int head_dim_v;
    MLXN_TRY(kv_pos_int(m, "attention.value_length", -1, false, in->head_dim, 1, 4096, &head_dim_v));
    int n_rot;
    MLXN_TRY(kv_pos_int(m, "rope.dimension_count", -1, false, in->head_dim, 2, in->head_dim, &n_rot));
    if (n_rot % 2) return mlxn_fail(MLXN_ERR_FORMAT, "%s: rope.dimension_count %d is odd", m->path, n_rot);

    double eps, base, scale = 1.0;
    MLXN_TRY(kv_float(m, "attention.layer_norm_rms_epsilon", true, 0, &eps));
    MLXN_TRY(kv_float(m, "rope.freq_base", false, 10000.0, &base));
    char key[160];
    snprintf(key, sizeof key, "%s.rope.scaling.type", in->arch);
    mlxn_str stype;
    if (mlxn_gguf_get_str(m->gguf, key, &stype) == MLXN_OK) {
        if (stype.len == 6 && !memcmp(stype.ptr, "linear", 6)) {
            double factor;
            MLXN_TRY(kv_float(m, "rope.scaling.factor", true, 1.0, &factor));
            if (factor <= 0) return mlxn_fail(MLXN_ERR_FORMAT, "%s: rope.scaling.factor %g <= 0", m->path, factor);
            scale = 1.0 / factor;
        } else if (!(stype.len == 4 && !memcmp(stype.ptr, "none", 4))) {
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: rope scaling '%.*s' is not supported (linear, none)", m->path,
                             (int)(stype.len > 32 ? 32 : stype.len), stype.ptr);
        }
    }
    m->norm_eps = (float)eps;
    /* gemma3: sliding-window layers (window from the file) with their own RoPE base (10000
     * unless rope.freq_base_swa says otherwise) and no rope scaling; layer i is global when
     * (i + 1) % 6 == 0 (base rope.freq_base, the linear scaling if any). Attention scale: the
     * file's attention.scale when present, else 1/sqrt(key_length). */
    int window = 0;
    double base_swa = base, attn_scale = 0;
    if (m->arch->gemma) {
        MLXN_TRY(kv_pos_int(m, "attention.sliding_window", -1, true, 0, 1, 1 << 26, &window));
        MLXN_TRY(kv_float(m, "rope.freq_base_swa", false, 10000.0, &base_swa));
        MLXN_TRY(kv_float(m, "attention.scale", false, 0.0, &attn_scale));
        if (attn_scale < 0)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: metadata key '%s.attention.scale' = %g is negative", m->path,
                             in->arch, attn_scale);
    }
    m->rope_freqs_rot = n_rot;
    /* gemma4: sliding layers take their head size, rotated dims and RoPE base from the *_swa
     * keys (each defaulting to the global value; the base to 10000), global layers from the
     * plain keys, with rope_freqs and any linear scaling. Which layers slide: the key
     * attention.sliding_window_pattern, an array with one entry per layer (non-zero / true =
     * sliding) or an integer n (layer i global iff (i + 1) % n == 0); absent: n = 6 as in
     * gemma3. Attention scale 1 unless attention.scale says otherwise. */
    int hd_swa = in->head_dim, hdv_swa = head_dim_v, n_rot_swa = n_rot, pattern = 6;
    bool pattern_per_layer = false;
    if (m->arch->gemma4) {
        MLXN_TRY(kv_pos_int(m, "attention.key_length_swa", -1, false, in->head_dim, 1, 4096, &hd_swa));
        MLXN_TRY(kv_pos_int(m, "attention.value_length_swa", -1, false, hd_swa, 1, 4096, &hdv_swa));
        MLXN_TRY(kv_pos_int(m, "rope.dimension_count_swa", -1, false, hd_swa, 2, hd_swa, &n_rot_swa));
        if (n_rot_swa % 2)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: rope.dimension_count_swa %d is odd", m->path, n_rot_swa);
        double cap;
        MLXN_TRY(kv_float(m, "final_logit_softcapping", false, 0.0, &cap));
        if (cap < 0)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: metadata key '%s.final_logit_softcapping' = %g is negative", m->path,
                             in->arch, cap);
        m->final_softcap = (float)cap;
        /* the E2B/E4B extras (per-layer embeddings, K/V shared across layers) are not run */
        int64_t ple, shared;
        MLXN_TRY(kv_int(m, "embedding_length_per_layer_input", -1, false, 0, &ple));
        MLXN_TRY(kv_int(m, "attention.shared_kv_layers", -1, false, 0, &shared));
        if (ple > 0 || shared > 0 || mlxn_gguf_find_tensor(m->gguf, "per_layer_token_embd.weight") >= 0)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: gemma4 with per-layer embeddings or shared KV layers "
                             "(E2B/E4B: '%s.embedding_length_per_layer_input' = %lld, 'attention.shared_kv_layers' = "
                             "%lld) is not supported", m->path, in->arch, (long long)ple, (long long)shared);
        snprintf(key, sizeof key, "%s.attention.sliding_window_pattern", in->arch);
        int64_t pk = mlxn_gguf_find_key(m->gguf, key);
        if (pk >= 0 && mlxn_gguf_kv_type(m->gguf, pk) == MLXN_GGUF_ARRAY) pattern_per_layer = true;
        else MLXN_TRY(kv_pos_int(m, "attention.sliding_window_pattern", -1, false, 6, 1, 1 << 20, &pattern));
    }

    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    if (!m->layers) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: %d layers", m->path, in->n_layer);
    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        MLXN_TRY(kv_pos_int(m, "attention.head_count", il, true, 0, 1, 4096, &L->n_head));
        MLXN_TRY(kv_pos_int(m, "attention.head_count_kv", il, false, L->n_head, 1, 4096, &L->n_head_kv));
        bool experts = m->arch->moe;
        if (m->arch->gemma4) {   /* experts beside the dense MLP where expert_count > 0 (scalar or per layer) */
            int64_t ne;
            MLXN_TRY(kv_int(m, "expert_count", il, false, 0, &ne));
            experts = ne != 0;
        }
        if (experts) {
            /* Qwen3-MoE: every layer's FFN is experts only (no dense FFN, no shared expert);
             * Gemma 4: the experts run in parallel with the layer's dense MLP */
            L->n_ff = 0;
            L->has_moe = true;
            MLXN_TRY(kv_pos_int(m, "expert_count", il, true, 0, 1, 1 << 16, &L->n_expert));
            MLXN_TRY(kv_pos_int(m, "expert_used_count", il, true, 0, 1, L->n_expert, &L->n_expert_used));
            MLXN_TRY(kv_pos_int(m, "expert_feed_forward_length", il, true, 0, 1, 1 << 22, &L->n_ff_exp));
            if ((int64_t)L->n_ff_exp * L->n_expert_used > (1 << 24))
                return mlxn_fail(MLXN_ERR_FORMAT, "%s: layer %d: expert_feed_forward_length %d x expert_used_count %d "
                                 "is too large", m->path, il, L->n_ff_exp, L->n_expert_used);
            if (L->n_expert > m->max_expert) m->max_expert = L->n_expert;
            if (L->n_expert_used > m->max_expert_used) m->max_expert_used = L->n_expert_used;
            if (L->n_ff_exp * L->n_expert_used > m->max_moe_ff) m->max_moe_ff = L->n_ff_exp * L->n_expert_used;
        }
        if (!m->arch->moe) MLXN_TRY(kv_pos_int(m, "feed_forward_length", il, true, 0, 1, 1 << 22, &L->n_ff));
        if (L->n_head % L->n_head_kv)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: layer %d: head_count %d is not a multiple of head_count_kv %d",
                             m->path, il, L->n_head, L->n_head_kv);
        L->head_dim_k = in->head_dim;
        L->head_dim_v = head_dim_v;
        L->n_rot = n_rot;
        L->rope_base = (float)base;
        L->rope_scale = (float)scale;
        L->window = 0;
        L->attn_scale = 1.0f / sqrtf((float)L->head_dim_k);
        if (m->arch->gemma && !m->arch->gemma4) {
            if ((il + 1) % 6 != 0) {   /* sliding-window layer */
                L->window = window;
                L->rope_base = (float)base_swa;
                L->rope_scale = 1.0f;
            }
            if (attn_scale > 0) L->attn_scale = (float)attn_scale;
        }
        if (m->arch->gemma4) {
            bool sliding = (il + 1) % pattern != 0;
            if (pattern_per_layer) {
                int64_t v;
                MLXN_TRY(kv_int(m, "attention.sliding_window_pattern", il, true, 0, &v));
                sliding = v != 0;
            }
            if (sliding) {
                L->head_dim_k = hd_swa;
                L->head_dim_v = hdv_swa;
                L->n_rot = n_rot_swa;
                L->window = window;
                L->rope_base = (float)base_swa;
                L->rope_scale = 1.0f;
                L->no_rope_freqs = true;
            }
            L->v_norm = true;
            L->attn_scale = attn_scale > 0 ? (float)attn_scale : 1.0f;
        }
        int q = L->n_head * L->head_dim_k, kv = L->n_head_kv * L->head_dim_k, v = L->n_head_kv * L->head_dim_v;
        if (q > m->max_q_dim) m->max_q_dim = q;
        if (kv > m->max_kv_dim) m->max_kv_dim = kv;
        if (v > m->max_v_dim) m->max_v_dim = v;
        if (L->n_head * L->head_dim_v > m->max_q_dim) m->max_q_dim = L->n_head * L->head_dim_v;
        if (L->n_ff > m->max_ff) m->max_ff = L->n_ff;
        if (q + kv + v > m->max_qkv_dim) m->max_qkv_dim = q + kv + v;
        if (q + kv > m->max_qk_dim) m->max_qk_dim = q + kv;
        if (L->head_dim_k > m->max_head_dim) m->max_head_dim = L->head_dim_k;
    }
    return MLXN_OK;
}

static mlxn_status load_tensors(mlxn_model_t *m, placer *P) {
    mlxn_model_info *in = &m->info;
    const int64_t E = in->n_embd;
    char nm[128];

    /* vocabulary size: from the embedding matrix (the metadata key is optional) */
    int64_t ie = mlxn_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (ie < 0) return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing tensor 'token_embd.weight'", m->path);
    mlxn_gguf_tensor gt;
    MLXN_TRY(mlxn_gguf_get_tensor(m->gguf, ie, &gt));
    if (gt.n_dims != 2 || gt.ne[1] < 1 || gt.ne[1] > INT32_MAX)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: tensor 'token_embd.weight' is not a {n_embd, n_vocab} matrix", m->path);
    in->n_vocab = (int)gt.ne[1];
    MLXN_TRY(load_mat(m, P, "token_embd.weight", E, in->n_vocab, MLXN_OP_GET_ROWS, true, NULL, &m->tok_embd));

    MLXN_TRY(load_req_vec(m, P, "output_norm.weight", E, &m->output_norm));
    bool has_output = false;
    MLXN_TRY(load_mat(m, P, "output.weight", E, in->n_vocab, MLXN_OP_MUL_MAT, false, &has_output, &m->output));
    if (!has_output) {   /* tied embeddings (SmolLM2, small Qwen): the LM head is token_embd */
        if (!mlxn_backend_supports(m->be, MLXN_OP_MUL_MAT, gt.type))
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tied LM head 'token_embd.weight' has type %s, which backend "
                             "'%s' cannot multiply", m->path, mlxn_type_name(gt.type),
                             mlxn_backend_name(m->be));
        m->tied_output = true;   /* m->output = m->tok_embd once placed */
    }
    MLXN_TRY(load_vec(m, P, "rope_freqs.weight", m->rope_freqs_rot / 2, false, &m->rope_freqs));

    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        const int64_t Q = (int64_t)L->n_head * L->head_dim_k, K = (int64_t)L->n_head_kv * L->head_dim_k;
        const int64_t V = (int64_t)L->n_head_kv * L->head_dim_v, O = (int64_t)L->n_head * L->head_dim_v;
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", il, s), nm)
        MLXN_TRY(load_req_vec(m, P, NAME("attn_norm.weight"), E, &L->attn_norm));
        mlxn_gguf_tensor g3[3];
        MLXN_TRY(check_mat(m, NAME("attn_q.weight"), E, Q, MLXN_OP_MUL_MAT, true, NULL, &g3[0]));
        MLXN_TRY(check_mat(m, NAME("attn_k.weight"), E, K, MLXN_OP_MUL_MAT, true, NULL, &g3[1]));
        /* gemma4's global layers may have no v_proj: V is then the raw k_proj output */
        bool has_v = false;
        MLXN_TRY(check_mat(m, NAME("attn_v.weight"), E, V, MLXN_OP_MUL_MAT, !m->arch->gemma4 || L->window > 0,
                           &has_v, &g3[2]));
        L->k_eq_v = !has_v;
        if (L->k_eq_v && L->head_dim_v != L->head_dim_k)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: layer %d has no 'blk.%d.attn_v.weight' (V = K) but value_length %d "
                             "!= key_length %d", m->path, il, il, L->head_dim_v, L->head_dim_k);
        memset(&L->wq, 0, sizeof L->wq);
        memset(&L->wk, 0, sizeof L->wk);
        memset(&L->wv, 0, sizeof L->wv);
        memset(&L->wqkv, 0, sizeof L->wqkv);
        /* q, k (and v) share k = n_embd; they fuse when their types agree */
        L->qkv_fused = m->no_fuse || g3[0].type != g3[1].type ? 0 : !L->k_eq_v && g3[2].type == g3[0].type ? 3 : 2;
        if (L->qkv_fused) {
            MLXN_TRY(push(m, P, &L->wqkv.w, false, L->qkv_fused, g3));
        } else {
            MLXN_TRY(push(m, P, &L->wq.w, false, 1, &g3[0]));
            MLXN_TRY(push(m, P, &L->wk.w, false, 1, &g3[1]));
        }
        if (L->qkv_fused != 3 && !L->k_eq_v) MLXN_TRY(push(m, P, &L->wv.w, false, 1, &g3[2]));
        MLXN_TRY(load_mat(m, P, NAME("attn_output.weight"), O, E, MLXN_OP_MUL_MAT, true, NULL, &L->wo));
        if (m->arch->qkv_bias) {   /* one {Q+K+V} vector, as the projections' slot is laid out */
            MLXN_TRY(load_vec_gt(m, P, NAME("attn_q.bias"), Q, true, &L->bq, &g3[0]));
            MLXN_TRY(load_vec_gt(m, P, NAME("attn_k.bias"), K, true, &L->bk, &g3[1]));
            MLXN_TRY(load_vec_gt(m, P, NAME("attn_v.bias"), V, true, &L->bv, &g3[2]));
            L->bq.present = L->bk.present = L->bv.present = false;   /* only bqkv is placed */
            L->bqkv.present = true;
            MLXN_TRY(push(m, P, &L->bqkv.t, true, 3, g3));
        }
        if (m->arch->qk_norm) {
            MLXN_TRY(load_vec(m, P, NAME("attn_q_norm.weight"), L->head_dim_k, true, &L->q_norm));
            MLXN_TRY(load_vec(m, P, NAME("attn_k_norm.weight"), L->head_dim_k, true, &L->k_norm));
        }
        if (m->arch->gemma)
            MLXN_TRY(load_vec(m, P, NAME("post_attention_norm.weight"), E, true, &L->post_attn_norm));
        MLXN_TRY(load_req_vec(m, P, NAME("ffn_norm.weight"), E, &L->ffn_norm));
        if (m->arch->gemma)
            MLXN_TRY(load_vec(m, P, NAME("post_ffw_norm.weight"), E, true, &L->post_ffn_norm));
        if (m->arch->gemma4) {
            MLXN_TRY(load_vec(m, P, NAME("layer_output_scale.weight"), 1, false, &L->out_scale));
            if (L->has_moe) {
                MLXN_TRY(load_vec(m, P, NAME("post_ffw_norm_1.weight"), E, true, &L->post_ffn_norm_1));
                MLXN_TRY(load_vec(m, P, NAME("pre_ffw_norm_2.weight"), E, true, &L->pre_ffn_norm_2));
                MLXN_TRY(load_vec(m, P, NAME("post_ffw_norm_2.weight"), E, true, &L->post_ffn_norm_2));
                MLXN_TRY(load_vec(m, P, NAME("ffn_gate_inp.scale"), E, true, &L->router_scale));
                MLXN_TRY(load_vec(m, P, NAME("ffn_down_exps.scale"), L->n_expert, true, &L->expert_scale));
            }
        }
        if (L->has_moe) {
            const int64_t F = L->n_ff_exp, NE = L->n_expert;
            MLXN_TRY(load_mat(m, P, NAME("ffn_gate_inp.weight"), E, NE, MLXN_OP_MUL_MAT, true, NULL, &L->ffn_gate_inp));
            /* gemma4 files hold gate and up of each expert in one stack (gate rows first);
             * separate stacks are read too */
            L->gate_up_exps_fused = m->arch->gemma4 && mlxn_gguf_find_tensor(m->gguf, NAME("ffn_gate_exps.weight")) < 0;
            if (L->gate_up_exps_fused) {
                MLXN_TRY(load_experts(m, P, NAME("ffn_gate_up_exps.weight"), E, 2 * F, NE, &L->ffn_gate_up_exps));
            } else {
                MLXN_TRY(load_experts(m, P, NAME("ffn_gate_exps.weight"), E, F, NE, &L->ffn_gate_exps));
                MLXN_TRY(load_experts(m, P, NAME("ffn_up_exps.weight"), E, F, NE, &L->ffn_up_exps));
            }
            MLXN_TRY(load_experts(m, P, NAME("ffn_down_exps.weight"), F, E, NE, &L->ffn_down_exps));
            if (!m->arch->gemma4) continue;
        }
        mlxn_gguf_tensor g2[2];
        MLXN_TRY(check_mat(m, NAME("ffn_gate.weight"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &g2[0]));
        MLXN_TRY(check_mat(m, NAME("ffn_up.weight"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &g2[1]));
        memset(&L->ffn_gate, 0, sizeof L->ffn_gate);
        memset(&L->ffn_up, 0, sizeof L->ffn_up);
        memset(&L->ffn_gate_up, 0, sizeof L->ffn_gate_up);
        L->gate_up_fused = !m->no_fuse && g2[0].type == g2[1].type;
        if (L->gate_up_fused) {
            MLXN_TRY(push(m, P, &L->ffn_gate_up.w, false, 2, g2));
        } else {
            MLXN_TRY(push(m, P, &L->ffn_gate.w, false, 1, &g2[0]));
            MLXN_TRY(push(m, P, &L->ffn_up.w, false, 1, &g2[1]));
        }
        MLXN_TRY(load_mat(m, P, NAME("ffn_down.weight"), L->n_ff, E, MLXN_OP_MUL_MAT, true, NULL, &L->ffn_down));
#undef NAME
    }
    return MLXN_OK;
}

/* ==========================================================================
 * Placing the weights
 * ========================================================================== */

/* The data section's span, and totals for the info struct. */
static mlxn_status data_extent(mlxn_model_t *m, data_span *span) {
    int64_t n = mlxn_gguf_tensor_count(m->gguf);
    const uint8_t *lo = NULL, *hi = NULL;
    for (int64_t i = 0; i < n; i++) {
        mlxn_gguf_tensor gt;
        MLXN_TRY(mlxn_gguf_get_tensor(m->gguf, i, &gt));
        const uint8_t *p = (const uint8_t *)gt.data - gt.offset;   /* data section start */
        if (!lo) lo = p;
        if (p + gt.offset + gt.nbytes > hi) hi = p + gt.offset + gt.nbytes;
        m->info.weight_bytes += gt.nbytes;
        int64_t el = 1;
        for (int d = 0; d < gt.n_dims; d++) el *= gt.ne[d];
        m->info.n_params += el;
    }
    if (!lo) return mlxn_fail(MLXN_ERR_FORMAT, "%s: the file holds no tensors", m->path);
    span->base = lo;
    span->size = (uint64_t)(hi - lo);
    return MLXN_OK;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Whether the parts of an item follow each other in the file (then a CPU backend uses them in
 * place, fused or not). */
static bool parts_adjacent(const place_item *it) {
    for (int i = 1; i < it->n_parts; i++)
        if ((const uint8_t *)it->part[i].data != (const uint8_t *)it->part[i - 1].data + it->part[i - 1].nbytes)
            return false;
    return true;
}

/* Lays the collected tensors out, creates the buffers and points every tensor at its bytes.
 * CPU backends: the weights buffer wraps the map; a tensor (or a fused matrix whose parts are
 * adjacent in the file) stays where it is; other fused matrices get a host copy in m->fused.
 * Device backends: one buffer holding exactly the placed tensors, 256-byte aligned. */
static mlxn_status layout_weights(mlxn_model_t *m, const data_span *span, placer *P) {
    bool cpu = mlxn_backend_device_kind(m->be) == MLXN_DEVICE_CPU;
    size_t dev = 0, fused = 0;
    for (int i = 0; i < P->n; i++) {
        place_item *it = &P->items[i];
        if (cpu && parts_adjacent(it)) {
            it->off = (size_t)((const uint8_t *)it->part[0].data - span->base);
        } else if (cpu) {
            it->in_fused = true;
            it->off = fused;
            fused = align_up(fused + it->nbytes, 256);
        } else {
            it->off = dev;
            dev = align_up(dev + it->nbytes, 256);
        }
    }
    if (cpu) {
        MLXN_TRY(mlxn_buffer_wrap_host(m->be, (void *)span->base, (size_t)span->size, &m->weights));
        if (fused) MLXN_TRY(mlxn_buffer_alloc(m->be, fused, &m->fused));
    } else {
        MLXN_TRY(mlxn_buffer_alloc(m->be, dev ? dev : 256, &m->weights));
    }
    for (int i = 0; i < P->n; i++) {
        place_item *it = &P->items[i];
        mlxn_status st = mlxn_tensor_init(it->dst, it->in_fused ? m->fused : m->weights, it->off, it->part[0].type,
                                          it->n_dims, it->ne);
        if (st != MLXN_OK) return mlxn_fail(st, "%s: tensor '%s': %s", m->path, it->part[0].name, mlxn_last_error());
    }
    if (m->tied_output) m->output = m->tok_embd;
    return MLXN_OK;
}

/* Drops the whole pages inside [p, p + n) of the read-only map from the process (a later read
 * would fault them back in from the file). */
static void drop_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (b > a) madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
}

/* Fills the buffers: on CPU, touch every page of the map once so the first token does not pay
 * for page faults, and copy the fused matrices that need it; elsewhere upload every placed
 * tensor (fused parts one after the other). Both report progress. */
static mlxn_status fill_weights(mlxn_model_t *m, const data_span *span, const placer *P,
                                const mlxn_model_params *p) {
    bool cpu = mlxn_backend_device_kind(m->be) == MLXN_DEVICE_CPU;
    uint64_t total = 0, done = 0;
    for (int i = 0; i < P->n; i++) total += P->items[i].nbytes;
    if (cpu) {
        const int steps = 64;
        volatile uint8_t sink = 0;
        for (int s = 0; s < steps; s++) {
            uint64_t a = span->size * (uint64_t)s / steps, b = span->size * (uint64_t)(s + 1) / steps;
            for (uint64_t o = a; o < b; o += 4096) sink ^= span->base[o];
            if (p && p->progress) p->progress(0.5f * (float)(s + 1) / steps, p->progress_user);
        }
        (void)sink;
    }
    for (int i = 0; i < P->n; i++) {
        const place_item *it = &P->items[i];
        if (!cpu || it->in_fused) {
            size_t o = it->off;
            for (int j = 0; j < it->n_parts; j++) {
                MLXN_TRY(mlxn_buffer_upload(it->in_fused ? m->fused : m->weights, o, it->part[j].data,
                                            (size_t)it->part[j].nbytes));
                o += (size_t)it->part[j].nbytes;
            }
        }
        done += it->nbytes;
        if (p && p->progress && total)
            p->progress(cpu ? 0.5f + 0.5f * (float)done / (float)total : (float)done / (float)total, p->progress_user);
    }
    if (cpu) {
        /* the parts of copied fused matrices are never read again: drop their pages */
        for (int i = 0; i < P->n; i++)
            if (P->items[i].in_fused)
                for (int j = 0; j < P->items[i].n_parts; j++)
                    drop_pages(P->items[i].part[j].data, (size_t)P->items[i].part[j].nbytes);
        return MLXN_OK;
    }
    MLXN_TRY(mlxn_backend_sync(m->be));
    /* The device holds the weights now: drop the file pages this process read for the upload
     * (the map stays valid for the metadata; a later read would fault them back in). */
    drop_pages(span->base, (size_t)span->size);
    return MLXN_OK;
}

/* ==========================================================================
 * Public entry points
 * ========================================================================== */

mlxn_model_params mlxn_model_default_params(void) {
    mlxn_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}

static mlxn_status load(mlxn_model_t *m, const char *path, const mlxn_model_params *params) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return mlxn_model_load_folder(m, path, params);   /* model_hf.c */
    MLXN_TRY(mlxn_gguf_open(path, &m->gguf));
    mlxn_str arch;
    if (mlxn_gguf_get_str(m->gguf, "general.architecture", &arch) != MLXN_OK)
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing metadata key 'general.architecture'", path);
    char aname[64];
    snprintf(aname, sizeof aname, "%.*s", (int)(arch.len > 63 ? 63 : arch.len), arch.ptr);
    m->arch = mlxn_arch_find(aname);
    if (!m->arch)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: llama, qwen2, "
                         "qwen3, qwen3moe, gemma3, gemma4)", path, aname);
    m->rope_mode = m->arch->rope_mode;
    m->info.arch = m->arch->name;
    mlxn_str name;
    if (mlxn_gguf_get_str(m->gguf, "general.name", &name) == MLXN_OK)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 255 ? 255 : name.len), name.ptr);
    m->info.name = m->name;
    m->info.bos_id = token_id_or_none(m->gguf, "tokenizer.ggml.bos_token_id");
    m->info.eos_id = token_id_or_none(m->gguf, "tokenizer.ggml.eos_token_id");
    m->info.eot_id = token_id_or_none(m->gguf, "tokenizer.ggml.eot_token_id");

    const char *nf = getenv("MLXN_NO_FUSE");
    m->no_fuse = nf && *nf && strcmp(nf, "0") != 0;
    MLXN_TRY(load_hparams(m));
    data_span span = {NULL, 0};
    MLXN_TRY(data_extent(m, &span));
    /* every tensor is checked before any byte is uploaded */
    placer P = {NULL, 0, 0};
    mlxn_status st = load_tensors(m, &P);
    if (st == MLXN_OK) st = layout_weights(m, &span, &P);
    if (st == MLXN_OK) st = fill_weights(m, &span, &P, params);
    free(P.items);
    MLXN_TRY(st);
    int n_qkv = 0, n_gu = 0;
    for (int il = 0; il < m->info.n_layer; il++) {
        n_qkv += m->layers[il].qkv_fused != 0;
        n_gu += m->layers[il].gate_up_fused;
    }
    mlxn_log(MLXN_LOG_INFO, "%s: fused q|k(|v) in %d of %d layers, gate|up in %d%s; %.1f MiB of fused matrices copied "
             "on the host", path, n_qkv, m->info.n_layer, n_gu, m->no_fuse ? " (MLXN_NO_FUSE)" : "",
             m->fused ? mlxn_buffer_size(m->fused) / 1048576.0 : 0.0);
    if (m->max_expert)
        mlxn_log(MLXN_LOG_INFO, "%s: mixture of experts in every layer: %d of %d experts per token, expert FFN %d", path,
                 m->layers[0].n_expert_used, m->layers[0].n_expert, m->layers[0].n_ff_exp);
    mlxn_log(MLXN_LOG_INFO, "%s: %s '%s', %d layers, %d embd, %d/%d heads, vocab %d, %.1f MiB of weights on %s",
             path, m->info.arch, m->name, m->info.n_layer, m->info.n_embd, m->info.n_head, m->info.n_head_kv,
             m->info.n_vocab, m->info.weight_bytes / 1048576.0, mlxn_backend_name(m->be));
    return MLXN_OK;
}

mlxn_status mlxn_model_load(const char *path, mlxn_backend_t *be, const mlxn_model_params *params,
                            mlxn_model_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_model_load: out is NULL");
    *out = NULL;
    if (!path || !be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_model_load: path or backend is NULL");
    mlxn_model_t *m = calloc(1, sizeof *m);
    if (!m) return mlxn_fail(MLXN_ERR_NO_MEMORY, "mlxn_model_load: %s", path);
    m->be = be;
    size_t plen = strlen(path);
    m->path = malloc(plen + 1);
    if (m->path) memcpy(m->path, path, plen + 1);
    if (!m->path) {
        free(m);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "mlxn_model_load: %s", path);
    }
    mlxn_status st = load(m, path, params);
    if (st != MLXN_OK) {
        mlxn_model_free(m);
        return st;
    }
    *out = m;
    return MLXN_OK;
}

void mlxn_model_free(mlxn_model_t *m) {
    if (!m) return;
    mlxn_buffer_free(m->fused);
    mlxn_buffer_free(m->weights);
    mlxn_gguf_free(m->gguf);
    free(m->layers);
    free(m->path);
    free(m);
}

const mlxn_model_info *mlxn_model_get_info(const mlxn_model_t *m) { return m ? &m->info : NULL; }
const mlxn_gguf_t *mlxn_model_gguf(const mlxn_model_t *m) { return m ? m->gguf : NULL; }
mlxn_backend_t *mlxn_model_backend(const mlxn_model_t *m) { return m ? m->be : NULL; }
