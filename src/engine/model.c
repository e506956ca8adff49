/* Model loading from GGUF: the architecture table, hyper-parameters from the metadata (any
 * integer width, per-layer arrays where families use them), every tensor checked for
 * presence, shape and type, and the weights placed once on the backend (wrapped in place on
 * CPU backends, uploaded on GPUs). */
#include "engine/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==========================================================================
 * Architectures
 * ========================================================================== */

static const mlxn_arch_desc ARCHS[] = {
    {"llama", MLXN_ROPE_NORM, false, false},
    {"qwen2", MLXN_ROPE_NEOX, true, false},
    {"qwen3", MLXN_ROPE_NEOX, false, true},
};

static const mlxn_arch_desc *find_arch(const char *name) {
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

static mlxn_status place(mlxn_model_t *m, const data_span *span, const mlxn_gguf_tensor *gt, mlxn_tensor *t) {
    uint64_t off = (uint64_t)((const uint8_t *)gt->data - span->base);
    int n = gt->n_dims < 1 ? 1 : gt->n_dims;
    mlxn_status st = mlxn_tensor_init(t, m->weights, (size_t)off, gt->type, n, gt->ne);
    if (st != MLXN_OK) return mlxn_fail(st, "%s: tensor '%s': %s", m->path, gt->name, mlxn_last_error());
    return MLXN_OK;
}

/* A norm / bias / frequency vector: f32 of n elements. */
static mlxn_status load_vec(mlxn_model_t *m, const data_span *span, const char *name, int64_t n, bool required,
                            mlxn_opt_tensor *out) {
    mlxn_gguf_tensor gt;
    bool present = false;
    MLXN_TRY(find_tensor(m, name, 1, &n, required, &present, &gt));
    out->present = present;
    if (!present) return MLXN_OK;
    if (gt.type != MLXN_TYPE_F32)
        return mlxn_fail(MLXN_ERR_TYPE, "%s: tensor '%s' has type %s, expected f32", m->path, name,
                         mlxn_type_name(gt.type));
    return place(m, span, &gt, &out->t);
}

/* A matrix {k, rows} the backend must be able to run `op` on. */
static mlxn_status load_mat(mlxn_model_t *m, const data_span *span, const char *name, int64_t k, int64_t rows,
                            mlxn_op op, bool required, bool *present, mlxn_weight *out) {
    mlxn_gguf_tensor gt;
    int64_t ne[2] = {k, rows};
    bool here = false;
    MLXN_TRY(find_tensor(m, name, 2, ne, required, &here, &gt));
    if (present) *present = here;
    if (!here) return MLXN_OK;
    const mlxn_type_traits *tr = mlxn_type_info(gt.type);
    if (!tr || !tr->decodable || !mlxn_backend_supports(m->be, op, gt.type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, which backend '%s' cannot run %s on",
                         m->path, name, mlxn_type_name(gt.type), mlxn_backend_name(m->be), mlxn_op_name(op));
    memset(out, 0, sizeof *out);
    return place(m, span, &gt, &out->w);
}

/* ==========================================================================
 * Hyper-parameters and tensors of the llama family (llama, qwen2, qwen3)
 * ========================================================================== */

static mlxn_status load_hparams(mlxn_model_t *m) {
    mlxn_model_info *in = &m->info;
    MLXN_TRY(kv_pos_int(m, "block_count", -1, true, 0, 1, 4096, &in->n_layer));
    MLXN_TRY(kv_pos_int(m, "embedding_length", -1, true, 0, 1, 1 << 20, &in->n_embd));
    MLXN_TRY(kv_pos_int(m, "attention.head_count", 0, true, 0, 1, 4096, &in->n_head));
    MLXN_TRY(kv_pos_int(m, "attention.head_count_kv", 0, false, in->n_head, 1, 4096, &in->n_head_kv));
    MLXN_TRY(kv_pos_int(m, "feed_forward_length", 0, true, 0, 1, 1 << 22, &in->n_ff));
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

    m->layers = calloc((size_t)in->n_layer, sizeof *m->layers);
    if (!m->layers) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: %d layers", m->path, in->n_layer);
    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        MLXN_TRY(kv_pos_int(m, "attention.head_count", il, true, 0, 1, 4096, &L->n_head));
        MLXN_TRY(kv_pos_int(m, "attention.head_count_kv", il, false, L->n_head, 1, 4096, &L->n_head_kv));
        MLXN_TRY(kv_pos_int(m, "feed_forward_length", il, true, 0, 1, 1 << 22, &L->n_ff));
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
        int q = L->n_head * L->head_dim_k, kv = L->n_head_kv * L->head_dim_k, v = L->n_head_kv * L->head_dim_v;
        if (q > m->max_q_dim) m->max_q_dim = q;
        if (kv > m->max_kv_dim) m->max_kv_dim = kv;
        if (v > m->max_v_dim) m->max_v_dim = v;
        if (L->n_head * L->head_dim_v > m->max_q_dim) m->max_q_dim = L->n_head * L->head_dim_v;
        if (L->n_ff > m->max_ff) m->max_ff = L->n_ff;
        if (L->head_dim_k > m->max_head_dim) m->max_head_dim = L->head_dim_k;
    }
    return MLXN_OK;
}

static mlxn_status load_tensors(mlxn_model_t *m, const data_span *span) {
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
    MLXN_TRY(load_mat(m, span, "token_embd.weight", E, in->n_vocab, MLXN_OP_GET_ROWS, true, NULL, &m->tok_embd));

    mlxn_opt_tensor onorm;
    MLXN_TRY(load_vec(m, span, "output_norm.weight", E, true, &onorm));
    m->output_norm = onorm.t;
    bool has_output = false;
    MLXN_TRY(load_mat(m, span, "output.weight", E, in->n_vocab, MLXN_OP_MUL_MAT, false, &has_output, &m->output));
    if (!has_output) {   /* tied embeddings (SmolLM2, small Qwen): the LM head is token_embd */
        if (!mlxn_backend_supports(m->be, MLXN_OP_MUL_MAT, m->tok_embd.w.d.type))
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: tied LM head 'token_embd.weight' has type %s, which backend "
                             "'%s' cannot multiply", m->path, mlxn_type_name(m->tok_embd.w.d.type),
                             mlxn_backend_name(m->be));
        m->output = m->tok_embd;
    }
    MLXN_TRY(load_vec(m, span, "rope_freqs.weight", m->layers[0].n_rot / 2, false, &m->rope_freqs));

    for (int il = 0; il < in->n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        const int64_t Q = (int64_t)L->n_head * L->head_dim_k, K = (int64_t)L->n_head_kv * L->head_dim_k;
        const int64_t V = (int64_t)L->n_head_kv * L->head_dim_v, O = (int64_t)L->n_head * L->head_dim_v;
        mlxn_opt_tensor ot;
#define NAME(s) (snprintf(nm, sizeof nm, "blk.%d.%s", il, s), nm)
        MLXN_TRY(load_vec(m, span, NAME("attn_norm.weight"), E, true, &ot));
        L->attn_norm = ot.t;
        MLXN_TRY(load_mat(m, span, NAME("attn_q.weight"), E, Q, MLXN_OP_MUL_MAT, true, NULL, &L->wq));
        MLXN_TRY(load_mat(m, span, NAME("attn_k.weight"), E, K, MLXN_OP_MUL_MAT, true, NULL, &L->wk));
        MLXN_TRY(load_mat(m, span, NAME("attn_v.weight"), E, V, MLXN_OP_MUL_MAT, true, NULL, &L->wv));
        MLXN_TRY(load_mat(m, span, NAME("attn_output.weight"), O, E, MLXN_OP_MUL_MAT, true, NULL, &L->wo));
        if (m->arch->qkv_bias) {
            MLXN_TRY(load_vec(m, span, NAME("attn_q.bias"), Q, true, &L->bq));
            MLXN_TRY(load_vec(m, span, NAME("attn_k.bias"), K, true, &L->bk));
            MLXN_TRY(load_vec(m, span, NAME("attn_v.bias"), V, true, &L->bv));
        }
        if (m->arch->qk_norm) {
            MLXN_TRY(load_vec(m, span, NAME("attn_q_norm.weight"), L->head_dim_k, true, &L->q_norm));
            MLXN_TRY(load_vec(m, span, NAME("attn_k_norm.weight"), L->head_dim_k, true, &L->k_norm));
        }
        MLXN_TRY(load_vec(m, span, NAME("ffn_norm.weight"), E, true, &ot));
        L->ffn_norm = ot.t;
        MLXN_TRY(load_mat(m, span, NAME("ffn_gate.weight"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &L->ffn_gate));
        MLXN_TRY(load_mat(m, span, NAME("ffn_up.weight"), E, L->n_ff, MLXN_OP_MUL_MAT, true, NULL, &L->ffn_up));
        MLXN_TRY(load_mat(m, span, NAME("ffn_down.weight"), L->n_ff, E, MLXN_OP_MUL_MAT, true, NULL, &L->ffn_down));
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

/* Creates the weights buffer: the map itself on CPU backends, device memory otherwise. */
static mlxn_status make_weights_buffer(mlxn_model_t *m, const data_span *span) {
    if (mlxn_backend_device_kind(m->be) == MLXN_DEVICE_CPU)
        return mlxn_buffer_wrap_host(m->be, (void *)span->base, (size_t)span->size, &m->weights);
    return mlxn_buffer_alloc(m->be, (size_t)span->size, &m->weights);
}

/* Fills it: on CPU, touch every page once so the first token does not pay for page faults;
 * elsewhere upload. Both report progress. */
static mlxn_status fill_weights(mlxn_model_t *m, const data_span *span, const mlxn_model_params *p) {
    const int steps = 64;
    bool cpu = mlxn_backend_device_kind(m->be) == MLXN_DEVICE_CPU;
    volatile uint8_t sink = 0;
    for (int s = 0; s < steps; s++) {
        uint64_t a = span->size * (uint64_t)s / steps, b = span->size * (uint64_t)(s + 1) / steps;
        if (cpu) {
            for (uint64_t o = a; o < b; o += 4096) sink ^= span->base[o];
        } else if (b > a) {
            MLXN_TRY(mlxn_buffer_upload(m->weights, (size_t)a, span->base + a, (size_t)(b - a)));
        }
        if (p && p->progress) p->progress((float)(s + 1) / steps, p->progress_user);
    }
    (void)sink;
    return cpu ? MLXN_OK : mlxn_backend_sync(m->be);
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
    MLXN_TRY(mlxn_gguf_open(path, &m->gguf));
    mlxn_str arch;
    if (mlxn_gguf_get_str(m->gguf, "general.architecture", &arch) != MLXN_OK)
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: missing metadata key 'general.architecture'", path);
    char aname[64];
    snprintf(aname, sizeof aname, "%.*s", (int)(arch.len > 63 ? 63 : arch.len), arch.ptr);
    m->arch = find_arch(aname);
    if (!m->arch)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (supported: llama, qwen2, "
                         "qwen3)", path, aname);
    m->info.arch = m->arch->name;
    mlxn_str name;
    if (mlxn_gguf_get_str(m->gguf, "general.name", &name) == MLXN_OK)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 255 ? 255 : name.len), name.ptr);
    m->info.name = m->name;
    m->info.bos_id = token_id_or_none(m->gguf, "tokenizer.ggml.bos_token_id");
    m->info.eos_id = token_id_or_none(m->gguf, "tokenizer.ggml.eos_token_id");
    m->info.eot_id = token_id_or_none(m->gguf, "tokenizer.ggml.eot_token_id");

    MLXN_TRY(load_hparams(m));
    data_span span = {NULL, 0};
    MLXN_TRY(data_extent(m, &span));
    /* every tensor is checked before any byte is uploaded */
    MLXN_TRY(make_weights_buffer(m, &span));
    MLXN_TRY(load_tensors(m, &span));
    MLXN_TRY(fill_weights(m, &span, params));
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
    mlxn_buffer_free(m->weights);
    mlxn_gguf_free(m->gguf);
    free(m->layers);
    free(m->path);
    free(m);
}

const mlxn_model_info *mlxn_model_get_info(const mlxn_model_t *m) { return m ? &m->info : NULL; }
const mlxn_gguf_t *mlxn_model_gguf(const mlxn_model_t *m) { return m ? m->gguf : NULL; }
mlxn_backend_t *mlxn_model_backend(const mlxn_model_t *m) { return m ? m->be : NULL; }
