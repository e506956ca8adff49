/* mlxn synth: writes a synthetic GGUF model with a real architecture's tensor names, shapes
 * and quant types and random weights (for benchmarks of models we cannot download).
 * Rows are drawn from a small pool of randomly generated, properly quantized rows; one layer's
 * tensors are generated and written for every layer (the file stores each layer separately,
 * so a run still reads all of it), which keeps memory at one layer. */
#include "engine_common.h"
#include "core/status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct shape_desc {
    const char *name;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, eps;
    bool tied;
    const char *arch;            /* "llama", "qwen3moe" (per-head q/k norms, experts in every layer) or
                                  * "gemma3" (q/k norms, post-attention / post-FFN norms, sliding window) */
    int head_dim;                /* 0: n_embd / n_head */
    int n_expert, n_expert_used, n_ff_exp;   /* qwen3moe */
    int window;                  /* gemma3, gemma4: attention.sliding_window */
    /* gemma4: head_dim, n_head_kv are the sliding layers'; the global layers (every 6th) have
     * their own, K = V (no attn_v) and rope_freqs turning the first quarter of their dims;
     * experts (n_expert > 0) run beside the dense MLP of n_ff */
    int head_dim_global, n_head_kv_global;
    float softcap;               /* gemma4: final_logit_softcapping */
} shape_desc;

static const shape_desc SHAPES[] = {
    {"llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000.0f, 1e-5f, false, "llama", 0, 0, 0, 0, 0, 0, 0, 0.0f},
    {"llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000.0f, 1e-5f, false, "llama", 0, 0, 0, 0, 0, 0, 0, 0.0f},
    {"smollm2-135m", 576, 30, 9, 3, 1536, 49152, 8192, 100000.0f, 1e-5f, true, "llama", 0, 0, 0, 0, 0, 0, 0, 0.0f},
    {"tiny", 256, 2, 4, 2, 512, 1024, 512, 10000.0f, 1e-5f, true, "llama", 0, 0, 0, 0, 0, 0, 0, 0.0f},
    {"qwen3-30b-a3b", 2048, 48, 32, 4, 6144, 151936, 40960, 1000000.0f, 1e-6f, false, "qwen3moe", 128, 128, 8, 768, 0, 0, 0, 0.0f},
    {"tiny-moe", 256, 2, 4, 2, 512, 1024, 512, 1000000.0f, 1e-6f, false, "qwen3moe", 64, 8, 2, 128, 0, 0, 0, 0.0f},
    {"gemma3-tiny", 256, 7, 4, 2, 512, 1024, 512, 1000000.0f, 1e-6f, true, "gemma3", 64, 0, 0, 0, 32, 0, 0, 0.0f},
    {"gemma4-26b-a4b", 2816, 30, 16, 8, 2112, 262144, 262144, 1000000.0f, 1e-6f, true, "gemma4", 256, 128, 8, 704,
     1024, 512, 2, 30.0f},
    {"gemma4-tiny", 256, 6, 4, 2, 512, 1024, 512, 1000000.0f, 1e-6f, true, "gemma4", 64, 8, 2, 128, 32, 128, 1, 30.0f},
};

/* Quant mixes: the type of each tensor family. q4_k_m follows the common recipe: Q4_K
 * everywhere except attn_v and ffn_down in the "more bits" layers (first and last eighth,
 * and every third in between) and the LM head, which get Q6_K. */
typedef enum { ROLE_EMBD, ROLE_OUT, ROLE_Q, ROLE_K, ROLE_V, ROLE_O, ROLE_GATE, ROLE_UP, ROLE_DOWN } role;

static bool more_bits(int il, int n) { return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2; }

static bool mix_type(const char *mix, role r, int il, int n_layer, mlxn_type *t) {
    if (!strcmp(mix, "q4_k_m")) {
        *t = MLXN_TYPE_Q4_K;
        if (r == ROLE_OUT) *t = MLXN_TYPE_Q6_K;
        if ((r == ROLE_V || r == ROLE_DOWN) && more_bits(il, n_layer)) *t = MLXN_TYPE_Q6_K;
        return true;
    }
    static const struct { const char *name; mlxn_type t; } uni[] = {
        {"q4_0", MLXN_TYPE_Q4_0}, {"q4_1", MLXN_TYPE_Q4_1}, {"q5_0", MLXN_TYPE_Q5_0}, {"q8_0", MLXN_TYPE_Q8_0},
        {"q4_k", MLXN_TYPE_Q4_K}, {"q6_k", MLXN_TYPE_Q6_K}, {"f16", MLXN_TYPE_F16}, {"f32", MLXN_TYPE_F32},
    };
    for (size_t i = 0; i < sizeof uni / sizeof uni[0]; i++)
        if (!strcmp(mix, uni[i].name)) {
            *t = uni[i].t;
            return true;
        }
    return false;
}

static void usage(void) {
    printf("usage: mlxn synth --shape NAME --mix MIX -o FILE [--tokenizer GGUF] [--seed S]\n"
           "\n"
           "Writes a GGUF model with the tensor names, shapes and quant types of a real model and\n"
           "random weights, for speed measurements (`mlxn bench -m FILE`). Without --tokenizer it\n"
           "has no tokenizer (bench works, run and tokenize do not).\n"
           "\n"
           "  --shape NAME   llama3-8b, llama2-7b, smollm2-135m, tiny; qwen3-30b-a3b, tiny-moe\n"
           "                 (qwen3moe: q/k norms, experts in every layer, router in f32);\n"
           "                 gemma3-tiny (gemma3: 7 layers, sliding window 32, layer 5 global);\n"
           "                 gemma4-26b-a4b, gemma4-tiny (gemma4: every 6th layer global with\n"
           "                 K = V, experts beside the dense MLP, router and its scales in f32)\n"
           "  --mix MIX      q4_k_m (Q4_K with Q6_K for the LM head and some attn_v/ffn_down),\n"
           "                 or one type for every matrix: q4_0 q4_1 q5_0 q8_0 q4_k q6_k f16 f32\n"
           "  -o FILE        output path\n"
           "  --tokenizer F  copy every tokenizer.* key of GGUF file F (a model or a vocab-only file)\n"
           "                 into the output; the vocabulary size follows its token list, so the\n"
           "                 file can be run and tokenized (`mlxn run`, `mlxn tokenize`)\n"
           "  --seed S       random seed (default 1)\n");
}

/* ---- random rows ---------------------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng;
static uint64_t rng_u64(rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}
static float rng_normal(rng *r) {
    double u1 = ((rng_u64(r) >> 11) + 1.0) / 9007199254740993.0, u2 = (rng_u64(r) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#define POOL_ROWS 64

/* A pool of POOL_ROWS rows of k elements quantized to t. */
typedef struct pool {
    mlxn_type t;
    int64_t k;
    size_t row_bytes;
    uint8_t *rows;
} pool;

static mlxn_status pool_make(pool *p, mlxn_type t, int64_t k, float sd, rng *r) {
    p->t = t;
    p->k = k;
    p->row_bytes = mlxn_row_size(t, k);
    if (!p->row_bytes) return mlxn_fail(MLXN_ERR_SHAPE, "synth: %lld elements are not a whole number of %s blocks",
                                        (long long)k, mlxn_type_name(t));
    p->rows = malloc(p->row_bytes * POOL_ROWS);
    float *tmp = malloc(sizeof *tmp * (size_t)k);
    if (!p->rows || !tmp) {
        free(tmp);
        free(p->rows);
        p->rows = NULL;
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: row pool");
    }
    mlxn_status st = MLXN_OK;
    for (int i = 0; i < POOL_ROWS && st == MLXN_OK; i++) {
        for (int64_t j = 0; j < k; j++) tmp[j] = sd * rng_normal(r);
        st = mlxn_quantize_row(t, tmp, p->rows + p->row_bytes * (size_t)i, k);
    }
    free(tmp);
    return st;
}

/* A tensor {k, rows} filled with randomly chosen pool rows. */
static uint8_t *pool_tensor(const pool *p, int64_t rows, rng *r) {
    uint8_t *d = malloc(p->row_bytes * (size_t)rows);
    if (!d) return NULL;
    for (int64_t i = 0; i < rows; i++)
        memcpy(d + p->row_bytes * (size_t)i, p->rows + p->row_bytes * (rng_u64(r) % POOL_ROWS), p->row_bytes);
    return d;
}

/* ---- the file ------------------------------------------------------------------------- */

typedef struct owned { void **p; int n, cap; } owned;
static bool own(owned *o, void *p) {
    if (!p) return false;
    if (o->n == o->cap) {
        int nc = o->cap ? o->cap * 2 : 64;
        void **np = realloc(o->p, sizeof *np * (size_t)nc);
        if (!np) return false;
        o->p = np;
        o->cap = nc;
    }
    o->p[o->n++] = p;
    return true;
}

/* K-quant rows must be multiples of 256; narrower models fall back as the usual quantizer
 * does (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, else Q8_0). */
static mlxn_type fit_type(mlxn_type t, int64_t k) {
    if (mlxn_row_size(t, k)) return t;
    switch (t) {
    case MLXN_TYPE_Q4_K: return MLXN_TYPE_Q5_0;
    case MLXN_TYPE_Q5_K: return MLXN_TYPE_Q5_1;
    default: return MLXN_TYPE_Q8_0;
    }
}

/* A matrix {k, rows}, or with n_exp > 0 a stack of n_exp of them {k, rows, n_exp}. */
static mlxn_status add_matrix(mlxn_gguf_writer_t *w, owned *o, const char *name, mlxn_type t, int64_t k,
                              int64_t rows, int64_t n_exp, rng *r, const uint8_t **cache, mlxn_type *cache_t,
                              int64_t *cache_k, int64_t *cache_rows) {
    t = fit_type(t, k);
    const int nd = n_exp > 0 ? 3 : 2;
    const int64_t ne[3] = {k, rows, n_exp > 0 ? n_exp : 1};
    rows *= ne[2];   /* rows generated */
    /* one tensor per (type, k, rows) is generated and shared by every layer */
    for (int i = 0; i < 16 && cache[i]; i++)
        if (cache_t[i] == t && cache_k[i] == k && cache_rows[i] == rows)
            return mlxn_gguf_writer_add_tensor(w, name, t, nd, ne, cache[i]);
    pool p = {0};
    mlxn_status st = pool_make(&p, t, k, 0.02f, r);
    if (st != MLXN_OK) {
        free(p.rows);
        return st;
    }
    uint8_t *d = pool_tensor(&p, rows, r);
    free(p.rows);
    if (!own(o, d)) return mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: tensor '%s'", name);
    for (int i = 0; i < 16; i++)
        if (!cache[i]) {
            cache[i] = d, cache_t[i] = t, cache_k[i] = k, cache_rows[i] = rows;
            break;
        }
    return mlxn_gguf_writer_add_tensor(w, name, t, nd, ne, d);
}

/* Copies key i of g (a scalar, string or array of any element type) into w under the same key. */
static mlxn_status copy_kv(mlxn_gguf_writer_t *w, const mlxn_gguf_t *g, int64_t i) {
    const char *key = mlxn_gguf_kv_key(g, i);
    mlxn_gguf_vtype t = mlxn_gguf_kv_type(g, i);
    int64_t iv = 0;
    double fv = 0;
    mlxn_str sv;
    switch (t) {
    case MLXN_GGUF_U8: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_u8(w, key, (uint8_t)iv);
    case MLXN_GGUF_I8: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_i8(w, key, (int8_t)iv);
    case MLXN_GGUF_U16: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_u16(w, key, (uint16_t)iv);
    case MLXN_GGUF_I16: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_i16(w, key, (int16_t)iv);
    case MLXN_GGUF_U32: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_u32(w, key, (uint32_t)iv);
    case MLXN_GGUF_I32: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_i32(w, key, (int32_t)iv);
    case MLXN_GGUF_I64: MLXN_TRY(mlxn_gguf_get_int(g, key, &iv)); return mlxn_gguf_writer_set_i64(w, key, iv);
    case MLXN_GGUF_U64: {
        uint64_t uv;
        MLXN_TRY(mlxn_gguf_get_uint(g, key, &uv));
        return mlxn_gguf_writer_set_u64(w, key, uv);
    }
    case MLXN_GGUF_F32: MLXN_TRY(mlxn_gguf_get_float(g, key, &fv)); return mlxn_gguf_writer_set_f32(w, key, (float)fv);
    case MLXN_GGUF_F64: MLXN_TRY(mlxn_gguf_get_float(g, key, &fv)); return mlxn_gguf_writer_set_f64(w, key, fv);
    case MLXN_GGUF_BOOL: {
        bool bv;
        MLXN_TRY(mlxn_gguf_get_bool(g, key, &bv));
        return mlxn_gguf_writer_set_bool(w, key, bv);
    }
    case MLXN_GGUF_STRING: MLXN_TRY(mlxn_gguf_get_str(g, key, &sv)); return mlxn_gguf_writer_set_strn(w, key, sv.ptr, sv.len);
    case MLXN_GGUF_ARRAY: {
        mlxn_gguf_vtype et;
        uint64_t n;
        MLXN_TRY(mlxn_gguf_get_arr(g, key, &et, &n));
        if (et != MLXN_GGUF_STRING) return mlxn_gguf_writer_set_arr(w, key, et, mlxn_gguf_arr_data(g, key), n);
        mlxn_str *items = malloc(sizeof(mlxn_str) * (n ? n : 1));
        if (!items) return mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: %llu strings of %s", (unsigned long long)n, key);
        mlxn_status st = MLXN_OK;
        for (uint64_t j = 0; j < n && st == MLXN_OK; j++) st = mlxn_gguf_arr_str(g, key, j, &items[j]);
        if (st == MLXN_OK) st = mlxn_gguf_writer_set_arr_strn(w, key, items, n);
        free(items);
        return st;
    }
    }
    return mlxn_fail(MLXN_ERR_FORMAT, "synth: key %s has an unknown value type %d", key, (int)t);
}

static mlxn_status synth(const shape_desc *s, const char *mix, const char *out, uint64_t seed, const mlxn_gguf_t *tok) {
    mlxn_gguf_writer_t *w = NULL;
    owned o = {0};
    rng r = {seed * 0x9E3779B97F4A7C15ULL + 1};
    mlxn_status st = mlxn_gguf_writer_new(&w);
    const uint8_t *cache[16] = {0};
    mlxn_type cache_t[16];
    int64_t cache_k[16], cache_rows[16];
    char name[128];
    const bool moe = s->n_expert > 0, gemma = !strcmp(s->arch, "gemma3");
    const int64_t E = s->n_embd, hd = s->head_dim ? s->head_dim : s->n_embd / s->n_head, KV = hd * s->n_head_kv;
    const int64_t Q = hd * s->n_head;
#define TRY(x) do { if (st == MLXN_OK) st = (x); } while (0)
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", s->arch, suffix), key)
    char key[96];
    snprintf(name, sizeof name, "synthetic %s %s", s->name, mix);
    TRY(mlxn_gguf_writer_set_str(w, "general.architecture", s->arch));
    TRY(mlxn_gguf_writer_set_str(w, "general.name", name));
    TRY(mlxn_gguf_writer_set_u32(w, "general.alignment", 32));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)s->n_embd));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)s->n_head_kv));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->eps));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)s->n_vocab));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)hd));
    if (s->head_dim) {
        TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)hd));
        TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)hd));
    }
    if (moe) {
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)s->n_expert));
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)s->n_expert_used));
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)s->n_ff_exp));
    }
    if (gemma) TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)s->window));
#undef KEY
    for (int64_t i = 0; tok && i < mlxn_gguf_kv_count(tok); i++)
        if (!strncmp(mlxn_gguf_kv_key(tok, i), "tokenizer.", 10)) TRY(copy_kv(w, tok, i));

    /* norms: ones with a little noise */
    float *norm = malloc(sizeof *norm * (size_t)E);
    if (!own(&o, norm)) st = mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: norms");
    for (int64_t i = 0; norm && i < E; i++) norm[i] = 1.0f + 0.05f * rng_normal(&r);
    /* qwen3moe: the router {E, n_expert}, f32 as quantizers leave it (small random weights) */
    float *router = NULL;
    if (moe) {
        router = malloc(sizeof *router * (size_t)E * (size_t)s->n_expert);
        if (!own(&o, router)) st = mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: router");
        for (int64_t i = 0; router && i < E * s->n_expert; i++) router[i] = 0.02f * rng_normal(&r);
    }

    mlxn_type t;
    if (!mix_type(mix, ROLE_EMBD, 0, s->n_layer, &t))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "synth: unknown mix '%s'", mix);
    TRY(add_matrix(w, &o, "token_embd.weight", t, E, s->n_vocab, 0, &r, cache, cache_t, cache_k, cache_rows));
    TRY(mlxn_gguf_writer_add_tensor(w, "output_norm.weight", MLXN_TYPE_F32, 1, (int64_t[]){E}, norm));
    if (!s->tied) {
        mix_type(mix, ROLE_OUT, 0, s->n_layer, &t);
        TRY(add_matrix(w, &o, "output.weight", t, E, s->n_vocab, 0, &r, cache, cache_t, cache_k, cache_rows));
    }
    static const struct { const char *suffix, *moe_suffix; role r; } MATS[] = {
        {"attn_q.weight", NULL, ROLE_Q}, {"attn_k.weight", NULL, ROLE_K}, {"attn_v.weight", NULL, ROLE_V},
        {"attn_output.weight", NULL, ROLE_O}, {"ffn_gate.weight", "ffn_gate_exps.weight", ROLE_GATE},
        {"ffn_up.weight", "ffn_up_exps.weight", ROLE_UP}, {"ffn_down.weight", "ffn_down_exps.weight", ROLE_DOWN},
    };
    for (int il = 0; il < s->n_layer && st == MLXN_OK; il++) {
        snprintf(name, sizeof name, "blk.%d.attn_norm.weight", il);
        TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){E}, norm));
        snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", il);
        TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){E}, norm));
        if (moe || gemma) {   /* per-head q/k norms {hd} (the first hd entries of the norm vector) */
            snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){hd}, norm));
            snprintf(name, sizeof name, "blk.%d.attn_k_norm.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){hd}, norm));
        }
        if (gemma) {   /* the post-attention and post-FFN norms (stored as GGUF does: 1 + w) */
            snprintf(name, sizeof name, "blk.%d.post_attention_norm.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){E}, norm));
            snprintf(name, sizeof name, "blk.%d.post_ffw_norm.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 1, (int64_t[]){E}, norm));
        }
        if (moe) {   /* the router */
            snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 2, (int64_t[]){E, s->n_expert}, router));
        }
        for (size_t j = 0; j < sizeof MATS / sizeof MATS[0]; j++) {
            int64_t k = E, rows = E, ff = moe ? s->n_ff_exp : s->n_ff;
            switch (MATS[j].r) {
            case ROLE_Q: rows = Q; break;
            case ROLE_K: case ROLE_V: rows = KV; break;
            case ROLE_O: k = Q; break;
            case ROLE_GATE: case ROLE_UP: rows = ff; break;
            case ROLE_DOWN: k = ff; break;
            default: break;
            }
            bool exps = moe && MATS[j].moe_suffix;
            mix_type(mix, MATS[j].r, il, s->n_layer, &t);
            snprintf(name, sizeof name, "blk.%d.%s", il, exps ? MATS[j].moe_suffix : MATS[j].suffix);
            TRY(add_matrix(w, &o, name, t, k, rows, exps ? s->n_expert : 0, &r, cache, cache_t, cache_k, cache_rows));
        }
    }
    TRY(mlxn_gguf_writer_write(w, out));
#undef TRY
    for (int i = 0; i < o.n; i++) free(o.p[i]);
    free(o.p);
    mlxn_gguf_writer_free(w);
    return st;
}

/* gemma4 (the 26B-A4B layout): layer i is global iff (i + 1) % 6 == 0 (written as the per-layer
 * sliding_window_pattern array, true = sliding); sliding layers have attn_v, global layers
 * K = V; every layer has the dense MLP and, with n_expert > 0, experts beside it (gate|up in one
 * stack, the router and its scales in f32). Norms, the per-expert and output scales are ones
 * with a little noise. */
static mlxn_status synth_gemma4(const shape_desc *s, const char *mix, const char *out, uint64_t seed,
                                const mlxn_gguf_t *tok) {
    mlxn_gguf_writer_t *w = NULL;
    owned o = {0};
    rng r = {seed * 0x9E3779B97F4A7C15ULL + 1};
    mlxn_status st = mlxn_gguf_writer_new(&w);
    const uint8_t *cache[16] = {0};
    mlxn_type cache_t[16];
    int64_t cache_k[16], cache_rows[16];
    char name[128], key[96];
    const bool moe = s->n_expert > 0;
    const int64_t E = s->n_embd, NE = s->n_expert, hd_g = s->head_dim_global;
    int32_t *kv_heads = malloc(sizeof *kv_heads * (size_t)s->n_layer);
    uint8_t *sliding = malloc((size_t)s->n_layer);
    if (!own(&o, kv_heads) || !own(&o, sliding)) st = mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: layer arrays");
    for (int il = 0; st == MLXN_OK && il < s->n_layer; il++) {
        sliding[il] = (il + 1) % 6 != 0;
        kv_heads[il] = sliding[il] ? s->n_head_kv : s->n_head_kv_global;
    }
#define TRY(x) do { if (st == MLXN_OK) st = (x); } while (0)
#define KEY(suffix) (snprintf(key, sizeof key, "gemma4.%s", suffix), key)
#define VEC(nm, n, data) TRY(mlxn_gguf_writer_add_tensor(w, nm, MLXN_TYPE_F32, 1, (int64_t[]){n}, data))
    snprintf(name, sizeof name, "synthetic %s %s", s->name, mix);
    TRY(mlxn_gguf_writer_set_str(w, "general.architecture", "gemma4"));
    TRY(mlxn_gguf_writer_set_str(w, "general.name", name));
    TRY(mlxn_gguf_writer_set_u32(w, "general.alignment", 32));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)s->n_layer));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)s->n_ctx));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)E));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)s->n_ff));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)s->n_head));
    if (kv_heads) TRY(mlxn_gguf_writer_set_arr(w, KEY("attention.head_count_kv"), MLXN_GGUF_I32, kv_heads, (uint64_t)s->n_layer));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)hd_g));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)hd_g));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.key_length_swa"), (uint32_t)s->head_dim));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.value_length_swa"), (uint32_t)s->head_dim));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)hd_g));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("rope.dimension_count_swa"), (uint32_t)s->head_dim));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("rope.freq_base"), s->rope_base));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("rope.freq_base_swa"), 10000.0f));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), s->eps));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("attention.sliding_window"), (uint32_t)s->window));
    if (sliding) TRY(mlxn_gguf_writer_set_arr(w, KEY("attention.sliding_window_pattern"), MLXN_GGUF_BOOL, sliding, (uint64_t)s->n_layer));
    TRY(mlxn_gguf_writer_set_f32(w, KEY("final_logit_softcapping"), s->softcap));
    TRY(mlxn_gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)s->n_vocab));
    if (moe) {
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)NE));
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)s->n_expert_used));
        TRY(mlxn_gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)s->n_ff_exp));
    }
#undef KEY
    for (int64_t i = 0; tok && i < mlxn_gguf_kv_count(tok); i++)
        if (!strncmp(mlxn_gguf_kv_key(tok, i), "tokenizer.", 10)) TRY(copy_kv(w, tok, i));

    /* one noisy-ones vector long enough for every norm and scale; the router {E, n_expert};
     * rope_freqs {hd_g / 2}: the first quarter of the global dims turn, 1e30 switches the rest off */
    const int64_t nn = E > hd_g ? (E > NE ? E : NE) : (hd_g > NE ? hd_g : NE);
    float *norm = malloc(sizeof *norm * (size_t)nn), *freqs = malloc(sizeof *freqs * (size_t)(hd_g / 2));
    float *router = moe ? malloc(sizeof *router * (size_t)(E * NE)) : NULL;
    if (!own(&o, norm) || !own(&o, freqs) || (moe && !own(&o, router)))
        st = mlxn_fail(MLXN_ERR_NO_MEMORY, "synth: norms");
    for (int64_t i = 0; norm && i < nn; i++) norm[i] = 1.0f + 0.05f * rng_normal(&r);
    for (int64_t i = 0; freqs && i < hd_g / 2; i++) freqs[i] = i < hd_g / 8 ? 1.0f : 1e30f;
    for (int64_t i = 0; router && i < E * NE; i++) router[i] = 0.02f * rng_normal(&r);

    mlxn_type t;
    if (!mix_type(mix, ROLE_EMBD, 0, s->n_layer, &t)) st = mlxn_fail(MLXN_ERR_INVALID_ARG, "synth: unknown mix '%s'", mix);
    TRY(add_matrix(w, &o, "token_embd.weight", t, E, s->n_vocab, 0, &r, cache, cache_t, cache_k, cache_rows));
    VEC("output_norm.weight", E, norm);
    VEC("rope_freqs.weight", hd_g / 2, freqs);
    static const char *const NORMS[] = {"attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm",
                                        "post_ffw_norm_1", "pre_ffw_norm_2", "post_ffw_norm_2"};
    for (int il = 0; il < s->n_layer && st == MLXN_OK; il++) {
        const int64_t hd = sliding[il] ? s->head_dim : hd_g, Q = hd * s->n_head, KV = hd * kv_heads[il];
        for (int j = 0; j < (moe ? 7 : 4); j++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", il, NORMS[j]);
            VEC(name, E, norm);
        }
        snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", il);
        VEC(name, hd, norm);
        snprintf(name, sizeof name, "blk.%d.attn_k_norm.weight", il);
        VEC(name, hd, norm);
        snprintf(name, sizeof name, "blk.%d.layer_output_scale.weight", il);
        VEC(name, 1, norm);
        if (moe) {
            snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", il);
            TRY(mlxn_gguf_writer_add_tensor(w, name, MLXN_TYPE_F32, 2, (int64_t[]){E, NE}, router));
            snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.scale", il);
            VEC(name, E, norm);
            snprintf(name, sizeof name, "blk.%d.ffn_down_exps.scale", il);
            VEC(name, NE, norm);
        }
        const struct { const char *suffix; role r; int64_t k, rows, n_exp; } mats[] = {
            {"attn_q.weight", ROLE_Q, E, Q, 0},
            {"attn_k.weight", ROLE_K, E, KV, 0},
            {"attn_v.weight", ROLE_V, E, sliding[il] ? KV : 0, 0},   /* none on global layers: K = V */
            {"attn_output.weight", ROLE_O, Q, E, 0},
            {"ffn_gate.weight", ROLE_GATE, E, s->n_ff, 0},
            {"ffn_up.weight", ROLE_UP, E, s->n_ff, 0},
            {"ffn_down.weight", ROLE_DOWN, s->n_ff, E, 0},
            {"ffn_gate_up_exps.weight", ROLE_GATE, E, moe ? 2 * s->n_ff_exp : 0, NE},
            {"ffn_down_exps.weight", ROLE_DOWN, s->n_ff_exp, moe ? E : 0, NE},
        };
        for (size_t j = 0; j < sizeof mats / sizeof mats[0]; j++) {
            if (!mats[j].rows) continue;
            mix_type(mix, mats[j].r, il, s->n_layer, &t);
            snprintf(name, sizeof name, "blk.%d.%s", il, mats[j].suffix);
            TRY(add_matrix(w, &o, name, t, mats[j].k, mats[j].rows, mats[j].n_exp, &r, cache, cache_t, cache_k,
                           cache_rows));
        }
    }
    TRY(mlxn_gguf_writer_write(w, out));
#undef VEC
#undef TRY
    for (int i = 0; i < o.n; i++) free(o.p[i]);
    free(o.p);
    mlxn_gguf_writer_free(w);
    return st;
}

int cmd_synth(int argc, char **argv) {
    const char *shape = NULL, *mix = "q4_k_m", *out = NULL, *tokf = NULL;
    unsigned long long seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        if (!v) { fprintf(stderr, "mlxn synth: unknown or incomplete option '%s' (see --help)\n", a); return 2; }
        i++;
        if (!strcmp(a, "--shape")) shape = v;
        else if (!strcmp(a, "--mix")) mix = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--tokenizer")) tokf = v;
        else { fprintf(stderr, "mlxn synth: unknown option '%s' (see --help)\n", a); return 2; }
    }
    if (!shape || !out) { fprintf(stderr, "mlxn synth: --shape and -o are required (see --help)\n"); return 2; }
    const shape_desc *s = NULL;
    for (size_t i = 0; i < sizeof SHAPES / sizeof SHAPES[0]; i++)
        if (!strcmp(SHAPES[i].name, shape)) s = &SHAPES[i];
    if (!s) {
        fprintf(stderr, "mlxn synth: unknown shape '%s' (llama3-8b, llama2-7b, smollm2-135m, tiny, qwen3-30b-a3b, "
                "tiny-moe, gemma3-tiny, gemma4-26b-a4b, gemma4-tiny)\n", shape);
        return 2;
    }
    mlxn_type t;
    if (!mix_type(mix, ROLE_Q, 0, 1, &t)) {
        fprintf(stderr, "mlxn synth: unknown mix '%s' (see --help)\n", mix);
        return 2;
    }
    /* a tokenizer from another file: its token list sets the vocabulary size */
    shape_desc sd = *s;
    mlxn_gguf_t *tok = NULL;
    if (tokf) {
        mlxn_status ts = mlxn_gguf_open(tokf, &tok);
        if (ts != MLXN_OK) return tool_fail("synth --tokenizer", ts);
        mlxn_gguf_vtype et;
        uint64_t nv = 0;
        if (mlxn_gguf_get_arr(tok, "tokenizer.ggml.tokens", &et, &nv) != MLXN_OK || et != MLXN_GGUF_STRING || nv == 0 ||
            nv > 0x7fffffff) {
            mlxn_gguf_free(tok);
            fprintf(stderr, "mlxn synth: %s has no tokenizer.ggml.tokens string list\n", tokf);
            return 2;
        }
        sd.n_vocab = (int)nv;
    }
    double t0 = tool_now();
    mlxn_status st = !strcmp(sd.arch, "gemma4") ? synth_gemma4(&sd, mix, out, seed, tok) : synth(&sd, mix, out, seed, tok);
    mlxn_gguf_free(tok);
    if (st != MLXN_OK) return tool_fail("synth", st);
    fprintf(stderr, "mlxn synth: wrote %s (%s, %s) in %.1f s\n", out, s->name, mix, tool_now() - t0);
    return 0;
}
