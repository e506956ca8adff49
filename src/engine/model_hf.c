/* Model loading from a Hugging Face / mlx-lm folder (config.json + *.safetensors): dense
 * llama, qwen2 and qwen3, and qwen3_moe, with plain f32/f16/bf16 weights or MLX-quantized modules
 * (`.weight` packed u32 + `.scales` + `.biases`; mxfp4 without biases). The layers end up in the
 * same mlxn_model struct the GGUF loader fills, so the forward pass does not know their origin.
 * Every weight is copied once into one backend buffer, the source pages dropped as it goes
 * (norms and biases converted to f32; q|k|v and gate|up concatenated along their rows, MLX
 * scales and biases alike). Qwen3-MoE experts come either stacked as mlx-lm writes them
 * (`mlp.switch_mlp.{gate,up,down}_proj`, [n_expert, out, in], MLX-quantized per expert) or one
 * module per expert as Hugging Face writes them (`mlp.experts.E.{gate,up,down}_proj`), which are
 * laid end to end at load time into the same {in, out, n_expert} stacks mul_mat_id reads. */
#define _DEFAULT_SOURCE   /* madvise */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ==========================================================================
 * Architectures: config.json's model_type -> the engine's (GGUF) architecture
 * ========================================================================== */

static const char *const HF_MODEL_TYPES[][2] = {
    {"llama", "llama"}, {"qwen2", "qwen2"}, {"qwen3", "qwen3"}, {"qwen3_moe", "qwen3moe"}};

/* ==========================================================================
 * Placement: what goes where in the one weight buffer
 * ========================================================================== */

/* One destination tensor built from 1..3 source arrays laid end to end (fused rows), from
 * n_expert arrays (xsrc/xnb: one expert module each, stacked), or from a host array owned by
 * the item (f32 conversions, computed rope factors). */
typedef struct hf_item {
    mlxn_tensor *dst;
    mlxn_type type;
    int n_dims;
    int64_t ne[3];
    int n_parts;
    const void *src[3];     /* borrowed from the folder's maps, or owned */
    uint64_t nbytes[3];
    const void **xsrc;      /* more than 3 parts: malloc'd arrays used instead of src/nbytes */
    uint64_t *xnb;
    float *owned;           /* malloc'd f32 data of part 0, freed with the list */
    const char *what;       /* tensor name for messages (points into names[]) */
    size_t off;
} hf_item;

typedef struct hf_loader {
    mlxn_model_t *m;
    mlxn_folder_t *f;
    const mlxn_hf_config *cfg;
    const mlxn_hf_config_t *ch;
    hf_item *items;
    int n, cap;
    char (*names)[160];     /* one name per item, for messages */
} hf_loader;

static hf_item *new_item(hf_loader *H, mlxn_tensor *dst, const char *what) {
    if (H->n == H->cap) {
        int cap = H->cap ? 2 * H->cap : 256;
        hf_item *it = realloc(H->items, sizeof *it * (size_t)cap);
        if (!it) return NULL;
        H->items = it;
        char (*nm)[160] = realloc(H->names, sizeof *nm * (size_t)cap);
        if (!nm) return NULL;
        H->names = nm;
        H->cap = cap;
        /* item name pointers moved with the array */
        for (int i = 0; i < H->n; i++) H->items[i].what = H->names[i];
    }
    hf_item *it = &H->items[H->n];
    memset(it, 0, sizeof *it);
    snprintf(H->names[H->n], sizeof H->names[H->n], "%s", what);
    it->what = H->names[H->n];
    it->dst = dst;
    H->n++;
    return it;
}

static const void *const *item_src(const hf_item *it) { return it->xsrc ? it->xsrc : it->src; }
static const uint64_t *item_nb(const hf_item *it) { return it->xnb ? it->xnb : it->nbytes; }

static void free_items(hf_loader *H) {
    for (int i = 0; i < H->n; i++) {
        free(H->items[i].owned);
        free(H->items[i].xsrc);
        free(H->items[i].xnb);
    }
    free(H->items);
    free(H->names);
    H->items = NULL;
    H->names = NULL;
    H->n = H->cap = 0;
}

/* ==========================================================================
 * config.json
 * ========================================================================== */

static const char *cfg_name(const hf_loader *H) { (void)H; return "config.json"; }

static mlxn_status cfg_req_int(hf_loader *H, const char *key, int64_t lo, int64_t hi, int *out) {
    int64_t v;
    mlxn_status st = mlxn_hf_config_get_int(H->ch, key, &v);
    if (st == MLXN_ERR_NOT_FOUND)
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: %s has no key '%s' (model_type %s)", H->m->path, cfg_name(H), key,
                         H->cfg->model_type);
    if (st != MLXN_OK) return mlxn_fail(st, "%s: %s: key '%s' is not an integer", H->m->path, cfg_name(H), key);
    if (v < lo || v > hi)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: '%s' = %lld is outside [%lld, %lld]", H->m->path, cfg_name(H), key,
                         (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return MLXN_OK;
}

static mlxn_status cfg_opt_int(hf_loader *H, const char *key, int64_t dflt, int64_t lo, int64_t hi, int *out) {
    int64_t v;
    mlxn_status st = mlxn_hf_config_get_int(H->ch, key, &v);
    if (st == MLXN_ERR_NOT_FOUND) v = dflt;
    else if (st != MLXN_OK) return mlxn_fail(st, "%s: %s: key '%s' is not an integer", H->m->path, cfg_name(H), key);
    if (v < lo || v > hi)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: '%s' = %lld is outside [%lld, %lld]", H->m->path, cfg_name(H), key,
                         (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return MLXN_OK;
}

static mlxn_status cfg_float(hf_loader *H, const char *key, bool required, double dflt, double *out) {
    mlxn_status st = mlxn_hf_config_get_float(H->ch, key, out);
    if (st == MLXN_ERR_NOT_FOUND) {
        if (required)
            return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: %s has no key '%s' (model_type %s)", H->m->path, cfg_name(H), key,
                             H->cfg->model_type);
        *out = dflt;
        return MLXN_OK;
    }
    if (st != MLXN_OK) return mlxn_fail(st, "%s: %s: key '%s' is not a number", H->m->path, cfg_name(H), key);
    if (!isfinite(*out)) return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: '%s' is not finite", H->m->path, cfg_name(H), key);
    return MLXN_OK;
}

static bool cfg_flag(hf_loader *H, const char *key) {
    bool b = false;
    return mlxn_hf_config_get_bool(H->ch, key, &b) == MLXN_OK && b;
}

/* A token id key that may be an integer or a list of them (the first counts); -1 if none. */
static int32_t cfg_token(hf_loader *H, const char *key) {
    int64_t v;
    if (mlxn_hf_config_get_int(H->ch, key, &v) == MLXN_OK) return v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
    int64_t n;
    if (mlxn_hf_config_arr_len(H->ch, key, &n) == MLXN_OK && n > 0 && mlxn_hf_config_arr_int(H->ch, key, 0, &v) == MLXN_OK)
        return v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
    return -1;
}

static mlxn_status hf_hparams(hf_loader *H) {
    mlxn_model_t *m = H->m;
    mlxn_model_info *in = &m->info;
    const mlxn_hf_config *c = H->cfg;
    const char *mt = c->model_type;
    for (size_t i = 0; i < sizeof HF_MODEL_TYPES / sizeof HF_MODEL_TYPES[0]; i++)
        if (!strcmp(HF_MODEL_TYPES[i][0], mt)) m->arch = mlxn_arch_find(HF_MODEL_TYPES[i][1]);
    m->rope_mode = MLXN_ROPE_NEOX;   /* HF weights are not permuted: llama rotates NEOX pairs too */
    if (!m->arch)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: model_type '%s' is not supported for folders (supported: llama, "
                         "qwen2, qwen3, qwen3_moe)", m->path, cfg_name(H), mt[0] ? mt : "(none)");
    in->arch = m->arch->name;
    snprintf(m->name, sizeof m->name, "%s", c->architecture);
    in->name = m->name;
    in->bos_id = cfg_token(H, "bos_token_id");
    in->eos_id = cfg_token(H, "eos_token_id");
    in->eot_id = -1;

    MLXN_TRY(cfg_req_int(H, "num_hidden_layers", 1, 4096, &in->n_layer));
    MLXN_TRY(cfg_req_int(H, "hidden_size", 1, 1 << 20, &in->n_embd));
    MLXN_TRY(cfg_req_int(H, "num_attention_heads", 1, 4096, &in->n_head));
    MLXN_TRY(cfg_opt_int(H, "num_key_value_heads", in->n_head, 1, 4096, &in->n_head_kv));
    /* a MoE model's dense width is informative only (no layer has a dense MLP) */
    if (m->arch->moe) MLXN_TRY(cfg_opt_int(H, "intermediate_size", 0, 0, 1 << 22, &in->n_ff));
    else MLXN_TRY(cfg_req_int(H, "intermediate_size", 1, 1 << 22, &in->n_ff));
    MLXN_TRY(cfg_opt_int(H, "max_position_embeddings", 4096, 1, 1 << 26, &in->n_ctx_train));
    int64_t hd;
    mlxn_status hst = mlxn_hf_config_get_int(H->ch, "head_dim", &hd);
    if (hst == MLXN_ERR_NOT_FOUND && in->n_embd % in->n_head)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: hidden_size %d is not a multiple of num_attention_heads %d and there is "
                         "no head_dim", m->path, cfg_name(H), in->n_embd, in->n_head);
    MLXN_TRY(cfg_opt_int(H, "head_dim", in->n_embd / in->n_head, 2, 4096, &in->head_dim));
    if (in->head_dim % 2) return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: head_dim %d is odd", m->path, cfg_name(H), in->head_dim);
    if (in->n_head % in->n_head_kv)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                         m->path, cfg_name(H), in->n_head, in->n_head_kv);
    double eps, base;
    MLXN_TRY(cfg_float(H, "rms_norm_eps", true, 0, &eps));
    MLXN_TRY(cfg_float(H, "rope_theta", false, 10000.0, &base));
    if (eps < 0 || base <= 0)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: rms_norm_eps %g or rope_theta %g out of range", m->path, cfg_name(H),
                         eps, base);
    m->norm_eps = (float)eps;

    /* what these classes add in other configurations, which the engine does not run */
    const bool llama = !strcmp(mt, "llama");
    if (cfg_flag(H, "mlp_bias") || (llama || m->arch->qk_norm ? cfg_flag(H, "attention_bias") : false))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: attention_bias / mlp_bias on %s is not supported", m->path,
                         cfg_name(H), mt);
    if (cfg_flag(H, "use_sliding_window"))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: use_sliding_window is not supported for %s", m->path, cfg_name(H),
                         mt);
    double prf;
    MLXN_TRY(cfg_float(H, "partial_rotary_factor", false, 1.0, &prf));
    if (prf != 1.0)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: partial_rotary_factor %g is not supported", m->path, cfg_name(H),
                         prf);

    /* rope scaling: linear as a position scale, llama3 as frequency factors (placed below) */
    double scale = 1.0;
    const mlxn_hf_rope_scaling *rs = &c->rope_scaling;
    m->rope_freqs_rot = in->head_dim;
    if (rs->present && strcmp(rs->type, "default") && rs->type[0]) {
        if (!strcmp(rs->type, "linear")) {
            if (!(rs->factor > 0))
                return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: rope_scaling.factor %g <= 0", m->path, cfg_name(H), rs->factor);
            scale = 1.0 / rs->factor;
        } else if (!strcmp(rs->type, "llama3")) {
            if (!(rs->factor > 0) || !(rs->low_freq_factor > 0) || !(rs->high_freq_factor > rs->low_freq_factor) ||
                rs->original_max_position_embeddings <= 0 || rs->original_max_position_embeddings > (1 << 26))
                return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < "
                                 "high_freq_factor and original_max_position_embeddings > 0 (got %g, %g, %g, %lld)",
                                 m->path, cfg_name(H), rs->factor, rs->low_freq_factor, rs->high_freq_factor,
                                 (long long)rs->original_max_position_embeddings);
        } else {
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: rope_scaling type '%s' is not supported (linear, llama3)",
                             m->path, cfg_name(H), rs->type);
        }
    }

    /* Qwen3-MoE: experts in every layer (softmax over all, top k renormalised, no shared expert) */
    int n_exp = 0, n_used = 0, n_ff_exp = 0;
    if (m->arch->moe) {
        MLXN_TRY(cfg_req_int(H, "num_experts", 1, 1 << 16, &n_exp));
        MLXN_TRY(cfg_req_int(H, "num_experts_per_tok", 1, n_exp, &n_used));
        MLXN_TRY(cfg_req_int(H, "moe_intermediate_size", 1, 1 << 22, &n_ff_exp));
        if ((int64_t)n_ff_exp * n_used > (1 << 24))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: moe_intermediate_size %d x num_experts_per_tok %d is too large",
                             m->path, cfg_name(H), n_ff_exp, n_used);
        /* the forward pass renormalises the chosen weights; the class's default is false */
        bool ntp = false;
        mlxn_status bst = mlxn_hf_config_get_bool(H->ch, "norm_topk_prob", &ntp);
        if (bst != MLXN_OK && bst != MLXN_ERR_NOT_FOUND)
            return mlxn_fail(bst, "%s: %s: key 'norm_topk_prob' is not a boolean", m->path, cfg_name(H));
        if (!ntp)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: norm_topk_prob is %s: only renormalised top-k expert weights "
                             "(norm_topk_prob true) are supported", m->path, cfg_name(H),
                             bst == MLXN_ERR_NOT_FOUND ? "absent (false by default)" : "false");
        int step = 1;
        MLXN_TRY(cfg_opt_int(H, "decoder_sparse_step", 1, 0, 4096, &step));
        int64_t n_dense = 0;
        mlxn_status ast = mlxn_hf_config_arr_len(H->ch, "mlp_only_layers", &n_dense);
        if (ast != MLXN_OK && ast != MLXN_ERR_NOT_FOUND)
            return mlxn_fail(ast, "%s: %s: key 'mlp_only_layers' is not a list", m->path, cfg_name(H));
        if (ast == MLXN_ERR_NOT_FOUND) n_dense = 0;
        /* a layer is sparse iff it is not in mlp_only_layers and (il + 1) % step == 0; entries
         * naming no layer of the model change nothing */
        int64_t n_listed = n_dense;
        n_dense = 0;
        for (int64_t i = 0; i < n_listed; i++) {
            int64_t li;
            if (mlxn_hf_config_arr_int(H->ch, "mlp_only_layers", i, &li) != MLXN_OK)
                return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: mlp_only_layers[%lld] is not an integer", m->path, cfg_name(H),
                                 (long long)i);
            n_dense += li >= 0 && li < in->n_layer;
        }
        if (step != 1 || n_dense > 0)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: decoder_sparse_step %d / mlp_only_layers naming %lld of the "
                             "layers make some layers dense; only experts in every layer (step 1, no mlp_only_layers) are "
                             "supported for qwen3_moe", m->path, cfg_name(H), step, (long long)n_dense);
    }

    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    if (!m->layers) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: %d layers", m->path, in->n_layer);
    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        L->n_head = in->n_head;
        L->n_head_kv = in->n_head_kv;
        L->n_ff = m->arch->moe ? 0 : in->n_ff;
        if (m->arch->moe) {
            L->has_moe = true;
            L->n_expert = n_exp;
            L->n_expert_used = n_used;
            L->n_ff_exp = n_ff_exp;
        }
        L->head_dim_k = L->head_dim_v = in->head_dim;
        L->n_rot = in->head_dim;
        L->rope_base = (float)base;
        L->rope_scale = (float)scale;
        L->attn_scale = 1.0f / sqrtf((float)L->head_dim_k);
    }
    int q = in->n_head * in->head_dim, kv = in->n_head_kv * in->head_dim;
    m->max_q_dim = q;
    m->max_kv_dim = m->max_v_dim = kv;
    m->max_ff = m->arch->moe ? 0 : in->n_ff;
    if (m->arch->moe) {
        m->max_expert = n_exp;
        m->max_expert_used = n_used;
        m->max_moe_ff = n_ff_exp * n_used;
    }
    m->max_qkv_dim = q + 2 * kv;
    m->max_qk_dim = q + kv;
    m->max_head_dim = in->head_dim;
    return MLXN_OK;
}

/* ==========================================================================
 * Tensors
 * ========================================================================== */

/* "<folder>: <file>: " of a tensor, for messages. */
static const char *shard_of(hf_loader *H, const char *name) {
    int64_t i = mlxn_folder_find_tensor(H->f, name);
    int32_t sh = -1;
    mlxn_st_tensor t;
    if (i >= 0 && mlxn_folder_get_tensor(H->f, i, &t, &sh) == MLXN_OK && sh >= 0) return mlxn_folder_shard_name(H->f, sh);
    return "?";
}

static void shape_str(char *buf, size_t cap, const mlxn_st_tensor *t) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < t->n_dims && o < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

static mlxn_status find(hf_loader *H, const char *name, bool required, bool *present, mlxn_st_tensor *t) {
    int64_t i = mlxn_folder_find_tensor(H->f, name);
    if (present) *present = i >= 0;
    if (i < 0) {
        if (!required) return MLXN_OK;
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing tensor '%s' (model_type %s; in none of the %d safetensors files)",
                         H->m->path, name, H->cfg->model_type, (int)mlxn_folder_shard_count(H->f));
    }
    return mlxn_folder_get_tensor(H->f, i, t, NULL);
}

/* Checks that t is [d0] (n == 1) or [d0, d1] (n == 2). */
static mlxn_status check_shape(hf_loader *H, const mlxn_st_tensor *t, int n, int64_t d0, int64_t d1) {
    bool ok = t->n_dims == n && t->shape[0] == d0 && (n == 1 || t->shape[1] == d1);
    if (ok) return MLXN_OK;
    char have[96];
    shape_str(have, sizeof have, t);
    if (n == 1)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: tensor '%s' has shape %s, expected [%lld]", H->m->path,
                         shard_of(H, t->name), t->name, have, (long long)d0);
    return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: tensor '%s' has shape %s, expected [%lld, %lld]", H->m->path,
                     shard_of(H, t->name), t->name, have, (long long)d0, (long long)d1);
}

/* Checks that t is [d0, d1] (lead == 0) or a stack [lead, d0, d1] (mlx-lm's expert stacks). */
static mlxn_status check_shape_x(hf_loader *H, const mlxn_st_tensor *t, int64_t lead, int64_t d0, int64_t d1) {
    if (lead == 0) return check_shape(H, t, 2, d0, d1);
    if (t->n_dims == 3 && t->shape[0] == lead && t->shape[1] == d0 && t->shape[2] == d1) return MLXN_OK;
    char have[96];
    shape_str(have, sizeof have, t);
    return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: tensor '%s' has shape %s, expected [%lld, %lld, %lld]", H->m->path,
                     shard_of(H, t->name), t->name, have, (long long)lead, (long long)d0, (long long)d1);
}

static bool is_float(mlxn_type t) { return t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16; }

/* A vector "<name>" of n floats (any float dtype), converted to f32. Placed into *dst unless
 * out_f32 is given (the caller concatenates it). */
static mlxn_status vec_f32(hf_loader *H, const char *name, int64_t n, bool required, bool *present, float **out_f32) {
    mlxn_st_tensor t;
    bool here = false;
    MLXN_TRY(find(H, name, required, &here, &t));
    if (present) *present = here;
    *out_f32 = NULL;
    if (!here) return MLXN_OK;
    MLXN_TRY(check_shape(H, &t, 1, n, 0));
    if (!is_float(t.type))
        return mlxn_fail(MLXN_ERR_TYPE, "%s: %s: tensor '%s' has dtype %s, expected F32, F16 or BF16", H->m->path,
                         shard_of(H, name), name, t.dtype);
    float *v = malloc(sizeof *v * (size_t)n);
    if (!v) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor '%s'", H->m->path, name);
    mlxn_status st = mlxn_dequantize_row(t.type, t.data, v, n);
    if (st != MLXN_OK) {
        free(v);
        return mlxn_fail(st, "%s: tensor '%s': %s", H->m->path, name, mlxn_last_error());
    }
    *out_f32 = v;
    return MLXN_OK;
}

/* Places an owned f32 vector (concatenation of up to 3 parts of n[i] floats, taking ownership). */
static mlxn_status place_f32(hf_loader *H, mlxn_tensor *dst, const char *what, int n_parts, float **parts,
                             const int64_t *n) {
    int64_t total = 0;
    for (int i = 0; i < n_parts; i++) total += n[i];
    float *v = n_parts == 1 ? parts[0] : malloc(sizeof *v * (size_t)total);
    if (!v) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor '%s'", H->m->path, what);
    if (n_parts > 1) {
        int64_t o = 0;
        for (int i = 0; i < n_parts; i++) {
            memcpy(v + o, parts[i], sizeof *v * (size_t)n[i]);
            o += n[i];
            free(parts[i]);
            parts[i] = NULL;
        }
    }
    hf_item *it = new_item(H, dst, what);
    if (!it) {
        free(v);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor placements", H->m->path);
    }
    it->type = MLXN_TYPE_F32;
    it->n_dims = 1;
    it->ne[0] = total;
    it->ne[1] = 1;
    it->n_parts = 1;
    it->src[0] = v;
    it->nbytes[0] = (uint64_t)total * sizeof *v;
    it->owned = v;
    return MLXN_OK;
}

/* A required norm vector placed into *dst. */
static mlxn_status load_norm(hf_loader *H, const char *name, int64_t n, mlxn_tensor *dst) {
    float *v;
    MLXN_TRY(vec_f32(H, name, n, true, NULL, &v));
    return place_f32(H, dst, name, 1, &v, &n);
}
static mlxn_status load_opt_norm(hf_loader *H, const char *name, int64_t n, mlxn_opt_tensor *dst) {
    MLXN_TRY(load_norm(H, name, n, &dst->t));
    dst->present = true;
    return MLXN_OK;
}

/* A linear module "<module>" [rows, k]: plain (w only) or MLX-quantized (w, scales, biases). */
typedef struct hf_mat {
    char module[128];
    bool mlx;
    mlxn_mlx_quant q;
    mlxn_type type;          /* plain dtype, or MLXN_TYPE_MLX_Q{b} / MLX_MXFP4 */
    mlxn_st_tensor w, s, b;  /* s, b: MLX only (b absent for mxfp4) */
    int64_t k, rows;
    int64_t n_stack;         /* mlx-lm expert stack: [n_stack, rows, k] tensors; 0 otherwise */
} hf_mat;

/* check_linear of a module whose tensors carry a leading expert dimension of n_stack (> 0),
 * or plain 2-D ones (n_stack == 0). */
static mlxn_status check_linear_x(hf_loader *H, const char *module, int64_t k, int64_t rows, int64_t n_stack, mlxn_op op,
                                  bool required, bool *present, hf_mat *M) {
    memset(M, 0, sizeof *M);
    M->n_stack = n_stack;
    snprintf(M->module, sizeof M->module, "%s", module);
    M->k = k;
    M->rows = rows;
    char nm[160];
    snprintf(nm, sizeof nm, "%s.weight", module);
    bool here = false;
    MLXN_TRY(find(H, nm, required, &here, &M->w));
    if (present) *present = here;
    if (!here) return MLXN_OK;
    bool quantized = false;
    MLXN_TRY(mlxn_folder_module_quant(H->f, module, &M->q, &quantized));
    if (!quantized) {
        MLXN_TRY(check_shape_x(H, &M->w, n_stack, rows, k));
        if (!is_float(M->w.type))
            return mlxn_fail(MLXN_ERR_TYPE, "%s: %s: tensor '%s' has dtype %s, expected F32, F16 or BF16 (or MLX "
                             "quantized with '%s.scales')", H->m->path, shard_of(H, nm), nm, M->w.dtype, module);
        M->type = M->w.type;
    } else {
        M->mlx = true;
        if (M->q.mode == MLXN_MLX_MXFP4) M->type = MLXN_TYPE_MLX_MXFP4;
        else if (M->q.bits >= 2 && M->q.bits <= 8 && M->q.bits != 7) M->type = (mlxn_type)(MLXN_TYPE_MLX_Q2 + M->q.bits - 2);
        else
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: module '%s': MLX quantization with %d bits is not supported",
                             H->m->path, module, M->q.bits);
        if (M->q.group_size <= 0 || k % M->q.group_size || (k * M->q.bits) % 32)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: module '%s': %lld inputs do not split into groups of %d at %d bits",
                             H->m->path, module, (long long)k, M->q.group_size, M->q.bits);
        MLXN_TRY(check_shape_x(H, &M->w, n_stack, rows, k * M->q.bits / 32));
        snprintf(nm, sizeof nm, "%s.scales", module);
        MLXN_TRY(find(H, nm, true, NULL, &M->s));
        MLXN_TRY(check_shape_x(H, &M->s, n_stack, rows, k / M->q.group_size));
        if (M->q.mode == MLXN_MLX_AFFINE) {
            snprintf(nm, sizeof nm, "%s.biases", module);
            MLXN_TRY(find(H, nm, true, NULL, &M->b));
            MLXN_TRY(check_shape_x(H, &M->b, n_stack, rows, k / M->q.group_size));
        }
    }
    if (!mlxn_backend_supports(H->m->be, op, M->type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: tensor '%s.weight' has type %s, which backend '%s' cannot run %s "
                         "on", H->m->path, shard_of(H, M->w.name), module, mlxn_type_name(M->type),
                         mlxn_backend_name(H->m->be), mlxn_op_name(op));
    return MLXN_OK;
}

static mlxn_status check_linear(hf_loader *H, const char *module, int64_t k, int64_t rows, mlxn_op op, bool required,
                                bool *present, hf_mat *M) {
    return check_linear_x(H, module, k, rows, 0, op, required, present, M);
}

/* Whether two linears can share one matrix (same type and, for MLX, the same quantization). */
static bool same_kind(const hf_mat *a, const hf_mat *b) {
    if (a->type != b->type || a->mlx != b->mlx || a->k != b->k) return false;
    if (!a->mlx) return true;
    return a->q.mode == b->q.mode && a->q.bits == b->q.bits && a->q.group_size == b->q.group_size &&
           a->q.scale_type == b->q.scale_type && a->s.type == b->s.type;
}

/* Tensor p of a linear (0 weights, 1 MLX scales, 2 MLX biases), and how many it has. */
static const mlxn_st_tensor *mat_part(const hf_mat *m, int p) { return p == 0 ? &m->w : p == 1 ? &m->s : &m->b; }
static int mat_parts(const hf_mat *m) { return !m->mlx ? 1 : m->q.mode == MLXN_MLX_AFFINE ? 3 : 2; }

/* Places the n linears M[0..n) as one weight whose rows are theirs in order. */
static mlxn_status place_linear(hf_loader *H, mlxn_weight *W, int n, const hf_mat *M) {
    memset(W, 0, sizeof *W);
    int64_t rows = 0;
    for (int i = 0; i < n; i++) rows += M[i].rows;
    mlxn_tensor *dsts[3] = {&W->w, &W->scales, &W->biases};
    for (int p = 0; p < mat_parts(&M[0]); p++) {
        char what[160];
        snprintf(what, sizeof what, "%s%s%s", mat_part(&M[0], p)->name,
                 n > 1 ? " (fused with the next " : "", n > 1 ? (n == 2 ? "one)" : "two)") : "");
        hf_item *it = new_item(H, dsts[p], what);
        if (!it) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor placements", H->m->path);
        it->n_dims = 2;
        it->ne[1] = rows;
        it->n_parts = n;
        if (p == 0) {
            it->type = M[0].type;
            it->ne[0] = M[0].k;
        } else {
            it->type = mat_part(&M[0], p)->type;
            it->ne[0] = M[0].k / M[0].q.group_size;
        }
        for (int i = 0; i < n; i++) {
            const mlxn_st_tensor *t = mat_part(&M[i], p);
            it->src[i] = t->data;
            it->nbytes[i] = t->nbytes;
        }
    }
    if (M[0].mlx) W->quant = M[0].q;
    return MLXN_OK;
}

/* Places an expert stack {k, rows, n_expert} into W: one mlx-lm stack (n == 1, M->n_stack
 * experts in each tensor), or n per-expert modules of one kind laid end to end (Hugging Face);
 * MLX scales and biases alike. */
static mlxn_status place_experts(hf_loader *H, mlxn_weight *W, int n, const hf_mat *M) {
    memset(W, 0, sizeof *W);
    const int64_t n_expert = n == 1 && M[0].n_stack ? M[0].n_stack : n;
    mlxn_tensor *dsts[3] = {&W->w, &W->scales, &W->biases};
    for (int p = 0; p < mat_parts(&M[0]); p++) {
        const mlxn_st_tensor *t0 = mat_part(&M[0], p);
        char what[160];
        if (n > 1) snprintf(what, sizeof what, "%.100s (experts 0..%d stacked)", t0->name, n - 1);
        else snprintf(what, sizeof what, "%s", t0->name);
        hf_item *it = new_item(H, dsts[p], what);
        if (!it) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor placements", H->m->path);
        it->n_dims = 3;
        it->type = p == 0 ? M[0].type : t0->type;
        it->ne[0] = p == 0 ? M[0].k : M[0].k / M[0].q.group_size;
        it->ne[1] = M[0].rows;
        it->ne[2] = n_expert;
        it->n_parts = n;
        it->xsrc = malloc(sizeof *it->xsrc * (size_t)n);
        it->xnb = malloc(sizeof *it->xnb * (size_t)n);
        if (!it->xsrc || !it->xnb) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: tensor '%s'", H->m->path, what);
        for (int i = 0; i < n; i++) {
            const mlxn_st_tensor *t = mat_part(&M[i], p);
            it->xsrc[i] = t->data;
            it->xnb[i] = t->nbytes;
        }
    }
    if (M[0].mlx) W->quant = M[0].q;
    return MLXN_OK;
}

/* Qwen3-MoE layer il: the router `mlp.gate` and the experts, stacked (mlx-lm `mlp.switch_mlp.*`)
 * or one module per expert (Hugging Face `mlp.experts.E.*`). */
static mlxn_status load_moe(hf_loader *H, int il, mlxn_layer *L) {
    mlxn_model_t *m = H->m;
    const int64_t E = m->info.n_embd, F = L->n_ff_exp, NE = L->n_expert;
    char nm[192];
    hf_mat r;
    snprintf(nm, sizeof nm, "model.layers.%d.mlp.gate", il);
    MLXN_TRY(check_linear(H, nm, E, NE, MLXN_OP_MUL_MAT, true, NULL, &r));
    MLXN_TRY(place_linear(H, &L->ffn_gate_inp, 1, &r));
    memset(&L->ffn_gate_up_exps, 0, sizeof L->ffn_gate_up_exps);
    L->gate_up_exps_fused = false;

    static const char *const PROJ[3] = {"gate_proj", "up_proj", "down_proj"};
    mlxn_weight *dst[3] = {&L->ffn_gate_exps, &L->ffn_up_exps, &L->ffn_down_exps};
    const int64_t ks[3] = {E, E, F}, rows[3] = {F, F, E};
    snprintf(nm, sizeof nm, "model.layers.%d.mlp.switch_mlp.gate_proj.weight", il);
    const bool stacked = mlxn_folder_find_tensor(H->f, nm) >= 0;
    if (!stacked) {
        snprintf(nm, sizeof nm, "model.layers.%d.mlp.experts.0.gate_proj.weight", il);
        if (mlxn_folder_find_tensor(H->f, nm) < 0)
            return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: layer %d has no experts: neither 'model.layers.%d.mlp.switch_mlp."
                             "gate_proj.weight' (mlx-lm stack) nor '%s' (Hugging Face, one module per expert) is in the "
                             "%d safetensors files (model_type %s)", m->path, il, il, nm,
                             (int)mlxn_folder_shard_count(H->f), H->cfg->model_type);
    }
    for (int p = 0; p < 3; p++) {
        if (stacked) {
            hf_mat M;
            snprintf(nm, sizeof nm, "model.layers.%d.mlp.switch_mlp.%s", il, PROJ[p]);
            MLXN_TRY(check_linear_x(H, nm, ks[p], rows[p], NE, MLXN_OP_MUL_MAT_ID, true, NULL, &M));
            MLXN_TRY(place_experts(H, dst[p], 1, &M));
            continue;
        }
        hf_mat *M = malloc(sizeof *M * (size_t)NE);
        if (!M) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: layer %d: %lld experts", m->path, il, (long long)NE);
        mlxn_status st = MLXN_OK;
        for (int64_t e = 0; e < NE && st == MLXN_OK; e++) {
            snprintf(nm, sizeof nm, "model.layers.%d.mlp.experts.%lld.%s", il, (long long)e, PROJ[p]);
            st = check_linear(H, nm, ks[p], rows[p], MLXN_OP_MUL_MAT_ID, true, NULL, &M[e]);
            if (st == MLXN_OK && e > 0 && !same_kind(&M[0], &M[e]))
                st = mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: expert module '%s' (%s) differs from '%s' (%s) in dtype or "
                               "quantization; a layer's experts are stacked into one tensor", m->path,
                               shard_of(H, M[e].w.name), nm, mlxn_type_name(M[e].type), M[0].module,
                               mlxn_type_name(M[0].type));
        }
        if (st == MLXN_OK) st = place_experts(H, dst[p], (int)NE, M);
        free(M);
        MLXN_TRY(st);
    }
    return MLXN_OK;
}

static mlxn_status hf_tensors(hf_loader *H) {
    mlxn_model_t *m = H->m;
    mlxn_model_info *in = &m->info;
    const int64_t E = in->n_embd;
    char nm[160];

    /* vocabulary: from the embedding (config's vocab_size must agree when present) */
    mlxn_st_tensor et;
    MLXN_TRY(find(H, "model.embed_tokens.weight", true, NULL, &et));
    if (et.n_dims != 2 || et.shape[0] < 1 || et.shape[0] > INT32_MAX)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: tensor 'model.embed_tokens.weight' is not a [vocab, hidden] matrix",
                         m->path, shard_of(H, et.name));
    in->n_vocab = (int)et.shape[0];
    if (H->cfg->vocab_size > 0 && H->cfg->vocab_size != in->n_vocab)
        return mlxn_fail(MLXN_ERR_FORMAT, "%s: %s: vocab_size %lld but 'model.embed_tokens.weight' has %d rows", m->path,
                         cfg_name(H), (long long)H->cfg->vocab_size, in->n_vocab);
    hf_mat emb, head;
    MLXN_TRY(check_linear(H, "model.embed_tokens", E, in->n_vocab, MLXN_OP_GET_ROWS, true, NULL, &emb));
    MLXN_TRY(place_linear(H, &m->tok_embd, 1, &emb));
    MLXN_TRY(load_norm(H, "model.norm.weight", E, &m->output_norm));
    /* tied when the config says so, or when there is no lm_head (the HF default for these
     * classes is untied, but mlx-lm drops lm_head of tied models) */
    bool has_head = false;
    if (H->cfg->tie_word_embeddings != 1)
        MLXN_TRY(check_linear(H, "lm_head", E, in->n_vocab, MLXN_OP_MUL_MAT, false, &has_head, &head));
    if (has_head) {
        MLXN_TRY(place_linear(H, &m->output, 1, &head));
    } else {
        if (!mlxn_backend_supports(m->be, MLXN_OP_MUL_MAT, emb.type))
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tied LM head 'model.embed_tokens.weight' has type %s, which "
                             "backend '%s' cannot multiply", m->path, mlxn_type_name(emb.type), mlxn_backend_name(m->be));
        m->tied_output = true;
    }
    const mlxn_hf_rope_scaling *rs = &H->cfg->rope_scaling;
    if (rs->present && !strcmp(rs->type, "llama3")) {
        int half = m->rope_freqs_rot / 2;
        float *ff = malloc(sizeof *ff * (size_t)half);
        if (!ff) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: rope factors", m->path);
        mlxn_rope_llama3_factors(m->rope_freqs_rot, m->layers[0].rope_base, (float)rs->factor, (float)rs->low_freq_factor,
                                 (float)rs->high_freq_factor, (int)rs->original_max_position_embeddings, ff);
        int64_t n = half;
        MLXN_TRY(place_f32(H, &m->rope_freqs.t, "rope_freqs (config.json rope_scaling llama3)", 1, &ff, &n));
        m->rope_freqs.present = true;
    }

    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        const int64_t Q = (int64_t)L->n_head * L->head_dim_k, K = (int64_t)L->n_head_kv * L->head_dim_k;
        const int64_t V = (int64_t)L->n_head_kv * L->head_dim_v, O = (int64_t)L->n_head * L->head_dim_v;
#define NAME(s) (snprintf(nm, sizeof nm, "model.layers.%d.%s", il, s), nm)
        MLXN_TRY(load_norm(H, NAME("input_layernorm.weight"), E, &L->attn_norm));
        hf_mat a[3];
        MLXN_TRY(check_linear(H, NAME("self_attn.q_proj"), E, Q, MLXN_OP_MUL_MAT, true, NULL, &a[0]));
        MLXN_TRY(check_linear(H, NAME("self_attn.k_proj"), E, K, MLXN_OP_MUL_MAT, true, NULL, &a[1]));
        MLXN_TRY(check_linear(H, NAME("self_attn.v_proj"), E, V, MLXN_OP_MUL_MAT, true, NULL, &a[2]));
        memset(&L->wq, 0, sizeof L->wq);
        memset(&L->wk, 0, sizeof L->wk);
        memset(&L->wv, 0, sizeof L->wv);
        memset(&L->wqkv, 0, sizeof L->wqkv);
        /* as the GGUF loader: q|k|v in one matrix when all three agree, q|k when only v differs */
        L->qkv_fused = m->no_fuse || !same_kind(&a[0], &a[1]) ? 0 : same_kind(&a[0], &a[2]) ? 3 : 2;
        if (L->qkv_fused) {
            MLXN_TRY(place_linear(H, &L->wqkv, L->qkv_fused, a));
        } else {
            MLXN_TRY(place_linear(H, &L->wq, 1, &a[0]));
            MLXN_TRY(place_linear(H, &L->wk, 1, &a[1]));
        }
        if (L->qkv_fused != 3) MLXN_TRY(place_linear(H, &L->wv, 1, &a[2]));
        hf_mat o;
        MLXN_TRY(check_linear(H, NAME("self_attn.o_proj"), O, E, MLXN_OP_MUL_MAT, true, NULL, &o));
        MLXN_TRY(place_linear(H, &L->wo, 1, &o));
        if (m->arch->qkv_bias) {   /* one {Q+K+V} f32 vector, as the projections' slot is laid out */
            float *b[3] = {NULL, NULL, NULL};
            int64_t n[3] = {Q, K, V};
            mlxn_status st = vec_f32(H, NAME("self_attn.q_proj.bias"), Q, true, NULL, &b[0]);
            if (st == MLXN_OK) st = vec_f32(H, NAME("self_attn.k_proj.bias"), K, true, NULL, &b[1]);
            if (st == MLXN_OK) st = vec_f32(H, NAME("self_attn.v_proj.bias"), V, true, NULL, &b[2]);
            if (st == MLXN_OK) st = place_f32(H, &L->bqkv.t, NAME("self_attn.{q,k,v}_proj.bias"), 3, b, n);
            for (int i = 0; i < 3; i++) free(b[i]);
            MLXN_TRY(st);
            L->bqkv.present = true;
        } else {
            bool hb = false;
            for (int i = 0; i < 3 && !hb; i++) {
                snprintf(nm, sizeof nm, "%.150s.bias", a[i].module);
                hb = mlxn_folder_find_tensor(H->f, nm) >= 0;
            }
            if (hb)
                return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: %s: tensor '%s' (a q/k/v bias) is not supported for "
                                 "model_type %s", m->path, shard_of(H, nm), nm, H->cfg->model_type);
        }
        if (m->arch->qk_norm) {
            MLXN_TRY(load_opt_norm(H, NAME("self_attn.q_norm.weight"), L->head_dim_k, &L->q_norm));
            MLXN_TRY(load_opt_norm(H, NAME("self_attn.k_norm.weight"), L->head_dim_k, &L->k_norm));
        }
        MLXN_TRY(load_norm(H, NAME("post_attention_layernorm.weight"), E, &L->ffn_norm));
        if (L->has_moe) {
            MLXN_TRY(load_moe(H, il, L));
            continue;
        }
        hf_mat g[2];
        MLXN_TRY(check_linear(H, NAME("mlp.gate_proj"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &g[0]));
        MLXN_TRY(check_linear(H, NAME("mlp.up_proj"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &g[1]));
        memset(&L->ffn_gate, 0, sizeof L->ffn_gate);
        memset(&L->ffn_up, 0, sizeof L->ffn_up);
        memset(&L->ffn_gate_up, 0, sizeof L->ffn_gate_up);
        L->gate_up_fused = !m->no_fuse && same_kind(&g[0], &g[1]);
        if (L->gate_up_fused) {
            MLXN_TRY(place_linear(H, &L->ffn_gate_up, 2, g));
        } else {
            MLXN_TRY(place_linear(H, &L->ffn_gate, 1, &g[0]));
            MLXN_TRY(place_linear(H, &L->ffn_up, 1, &g[1]));
        }
        hf_mat d;
        MLXN_TRY(check_linear(H, NAME("mlp.down_proj"), L->n_ff, E, MLXN_OP_MUL_MAT, true, NULL, &d));
        MLXN_TRY(place_linear(H, &L->ffn_down, 1, &d));
#undef NAME
    }
    return MLXN_OK;
}

/* ==========================================================================
 * Buffer: lay out, allocate, upload
 * ========================================================================== */

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

static void drop_pages(const void *p, size_t n) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) return;
    uintptr_t a = ((uintptr_t)p + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)(page - 1);
    if (b > a) madvise((void *)a, (size_t)(b - a), MADV_DONTNEED);
}

static mlxn_status hf_place(hf_loader *H, const mlxn_model_params *p) {
    mlxn_model_t *m = H->m;
    size_t size = 0;
    uint64_t total = 0, done = 0;
    for (int i = 0; i < H->n; i++) {
        hf_item *it = &H->items[i];
        uint64_t nb = 0;
        for (int j = 0; j < it->n_parts; j++) nb += item_nb(it)[j];
        it->off = size;
        size = align_up(size + (size_t)nb, 256);
        total += nb;
    }
    MLXN_TRY(mlxn_buffer_alloc(m->be, size ? size : 256, &m->weights));
    for (int i = 0; i < H->n; i++) {
        hf_item *it = &H->items[i];
        mlxn_status st = mlxn_tensor_init(it->dst, m->weights, it->off, it->type, it->n_dims, it->ne);
        if (st != MLXN_OK) return mlxn_fail(st, "%s: tensor '%s': %s", m->path, it->what, mlxn_last_error());
        uint64_t nb = 0;
        for (int j = 0; j < it->n_parts; j++) nb += item_nb(it)[j];
        if (nb != mlxn_tensor_desc_nbytes(&it->dst->d))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: tensor '%s' holds %llu bytes, its shape needs %zu", m->path, it->what,
                             (unsigned long long)nb, mlxn_tensor_desc_nbytes(&it->dst->d));
    }
    for (int i = 0; i < H->n; i++) {
        const hf_item *it = &H->items[i];
        size_t o = it->off;
        const void *const *src = item_src(it);
        const uint64_t *nbs = item_nb(it);
        for (int j = 0; j < it->n_parts; j++) {
            MLXN_TRY(mlxn_buffer_upload(m->weights, o, src[j], (size_t)nbs[j]));
            o += (size_t)nbs[j];
            done += nbs[j];
            /* drop the map's pages as we go, so that the process holds about one copy of the
             * weights at a time; the map is read-only and file-backed, so a page read again
             * (shared with a tensor not yet copied, or by a copy still in flight) comes back
             * from the file unchanged */
            if (!it->owned) drop_pages(src[j], (size_t)nbs[j]);
        }
        if (p && p->progress && total) p->progress((float)done / (float)total, p->progress_user);
    }
    MLXN_TRY(mlxn_backend_sync(m->be));
    m->info.weight_bytes = (size_t)total;
    if (m->tied_output) m->output = m->tok_embd;
    return MLXN_OK;
}

/* ==========================================================================
 * Entry point (called by mlxn_model_load for a directory)
 * ========================================================================== */

mlxn_status mlxn_model_load_folder(mlxn_model_t *m, const char *dir, const mlxn_model_params *params) {
    hf_loader H;
    memset(&H, 0, sizeof H);
    H.m = m;
    MLXN_TRY(mlxn_folder_open(dir, &H.f));
    H.cfg = mlxn_folder_config(H.f);
    H.ch = mlxn_folder_config_handle(H.f);
    const char *nf = getenv("MLXN_NO_FUSE");
    m->no_fuse = nf && *nf && strcmp(nf, "0") != 0;
    mlxn_status st = hf_hparams(&H);
    if (st == MLXN_OK && H.cfg->quant.present && !H.cfg->quant.mlx)
        st = mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: config.json: quantization '%s' is not supported (MLX affine "
                       "group_size/bits only)", dir, H.cfg->quant.mode);
    if (st == MLXN_OK) st = hf_tensors(&H);
    if (st == MLXN_OK) st = hf_place(&H, params);
    if (st == MLXN_OK) {
        int64_t nt = mlxn_folder_tensor_count(H.f);
        for (int64_t i = 0; i < nt; i++) {
            mlxn_st_tensor t;
            if (mlxn_folder_get_tensor(H.f, i, &t, NULL) != MLXN_OK) continue;
            size_t len = strlen(t.name);
            bool side = (len > 7 && !strcmp(t.name + len - 7, ".scales")) || (len > 7 && !strcmp(t.name + len - 7, ".biases"));
            if (side) continue;   /* an MLX module counts its elements once, below */
            m->info.n_params += t.type == MLXN_TYPE_U32 && H.cfg->quant.bits > 0 ? t.numel * 32 / H.cfg->quant.bits : t.numel;
        }
        int n_qkv = 0, n_gu = 0;
        for (int il = 0; il < m->info.n_layer; il++) {
            n_qkv += m->layers[il].qkv_fused != 0;
            n_gu += m->layers[il].gate_up_fused;
        }
        mlxn_log(MLXN_LOG_INFO, "%s: folder with %d safetensors file(s), %s%s; fused q|k(|v) in %d of %d layers, gate|up "
                 "in %d%s", dir, (int)mlxn_folder_shard_count(H.f), m->tok_embd.quant.bits ? "MLX-quantized" : "plain",
                 m->tok_embd.quant.bits ? "" : " weights", n_qkv, m->info.n_layer, n_gu,
                 m->no_fuse ? " (MLXN_NO_FUSE)" : "");
        if (m->max_expert)
            mlxn_log(MLXN_LOG_INFO, "%s: mixture of experts in every layer: %d of %d experts per token, expert FFN %d, "
                     "%s experts", dir, m->layers[0].n_expert_used, m->layers[0].n_expert, m->layers[0].n_ff_exp,
                     m->layers[0].ffn_gate_exps.quant.group_size ? "MLX-quantized"
                                                                                  : "float");
        mlxn_log(MLXN_LOG_INFO, "%s: %s '%s', %d layers, %d embd, %d/%d heads, vocab %d, %.1f MiB of weights on %s", dir,
                 m->info.arch, m->name, m->info.n_layer, m->info.n_embd, m->info.n_head, m->info.n_head_kv,
                 m->info.n_vocab, m->info.weight_bytes / 1048576.0, mlxn_backend_name(m->be));
    }
    free_items(&H);
    mlxn_folder_free(H.f);
    return st;
}
