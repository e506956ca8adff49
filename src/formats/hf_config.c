/* config.json of Hugging Face / mlx-lm model folders: the fields mlxn's architectures need,
 * parsed into mlxn_hf_config, the MLX quantization block with per-module overrides, and raw
 * access by dotted key to everything else (the cJSON tree is kept for that). */
#define _POSIX_C_SOURCE 200809L
#include "core/status.h"
#include "formats/hf_config.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mlxn_hfc {
    char *name;
    cJSON *root;
    const cJSON *text;       /* root.text_config if an object, else NULL */
    const cJSON *quant;      /* the quantization block object, or NULL */
    uint8_t *layer_types;
    mlxn_hf_config cfg;
    mlxn_errbuf err;
};

void mlxn_hf_config_free(mlxn_hf_config_t *c) {
    if (!c) return;
    cJSON_Delete(c->root);
    free(c->layer_types);
    free(c->name);
    free(c);
}

const char *mlxn_hf_config_last_error(const mlxn_hf_config_t *c) { return c ? c->err.msg : ""; }
const mlxn_hf_config *mlxn_hf_config_get(const mlxn_hf_config_t *c) { return c ? &c->cfg : NULL; }
const cJSON *mlxn_hf_config_json(const mlxn_hf_config_t *c) { return c ? c->root : NULL; }

/* ---- lookups ------------------------------------------------------------------- */

/* Walks a dotted path. Keys may themselves contain dots ("model.layers.0.mlp.gate" inside
 * "quantization"), so at each level the whole remaining path is tried as one key, then
 * every prefix ending at a dot, longest first. */
static const cJSON *walk(const cJSON *obj, const char *path) {
    if (!obj || !cJSON_IsObject(obj)) return NULL;
    const cJSON *hit = cJSON_GetObjectItemCaseSensitive(obj, path);
    if (hit) return hit;
    for (size_t n = strlen(path); n-- > 0;) {
        if (path[n] != '.') continue;
        for (const cJSON *x = obj->child; x; x = x->next) {
            if (x->string && strlen(x->string) == n && !memcmp(x->string, path, n) && cJSON_IsObject(x)) {
                const cJSON *r = walk(x, path + n + 1);
                if (r) return r;
            }
        }
    }
    return NULL;
}

/* Raw lookup: top level, then text_config. JSON null counts as absent. */
static const cJSON *raw_item(const mlxn_hf_config_t *c, const char *key) {
    const cJSON *v = walk(c->root, key);
    if ((!v || cJSON_IsNull(v)) && c->text) v = walk(c->text, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

/* LM field lookup: text_config first, then the top level. */
static const cJSON *lm_item(const mlxn_hf_config_t *c, const char *key) {
    const cJSON *v = c->text ? cJSON_GetObjectItemCaseSensitive(c->text, key) : NULL;
    if (!v || cJSON_IsNull(v)) v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool json_int(const cJSON *v, int64_t *out) {
    if (cJSON_IsBool(v)) { *out = cJSON_IsTrue(v); return true; }
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!isfinite(d) || floor(d) != d || fabs(d) > 9007199254740992.0) return false;
    *out = (int64_t)d;
    return true;
}

/* ---- parsing the known fields ---------------------------------------------------------- */

#define BADKEY(k, what) mlxn_fail(MLXN_ERR_FORMAT, "%s: \"%s\" is not %s", c->name, k, what)

static mlxn_status field_int(mlxn_hf_config_t *c, const cJSON *v, const char *key, int64_t *out) {
    if (!v) return MLXN_OK;
    int64_t x;
    if (cJSON_IsBool(v) || !json_int(v, &x) || x < 0) return BADKEY(key, "a non-negative integer");
    *out = x;
    return MLXN_OK;
}
static mlxn_status get_int_field(mlxn_hf_config_t *c, const char *key, int64_t *out) {
    return field_int(c, lm_item(c, key), key, out);
}
static mlxn_status get_float_field(mlxn_hf_config_t *c, const char *key, double *out) {
    const cJSON *v = lm_item(c, key);
    if (!v) return MLXN_OK;
    if (!cJSON_IsNumber(v)) return BADKEY(key, "a number");
    *out = v->valuedouble;
    return MLXN_OK;
}
static mlxn_status get_tri_field(mlxn_hf_config_t *c, const char *key, int32_t *out) {
    const cJSON *v = lm_item(c, key);
    *out = -1;
    if (!v) return MLXN_OK;
    if (!cJSON_IsBool(v)) return BADKEY(key, "true or false");
    *out = cJSON_IsTrue(v);
    return MLXN_OK;
}
static mlxn_status copy_str(mlxn_hf_config_t *c, const cJSON *v, const char *key, char *dst, size_t cap) {
    if (!v) return MLXN_OK;
    if (!cJSON_IsString(v)) return BADKEY(key, "a string");
    snprintf(dst, cap, "%s", v->valuestring);
    return MLXN_OK;
}

static mlxn_status parse_rope_scaling(mlxn_hf_config_t *c, const cJSON *rs) {
    mlxn_hf_rope_scaling *r = &c->cfg.rope_scaling;
    if (!cJSON_IsObject(rs)) return BADKEY("rope_scaling", "an object");
    r->present = true;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!t || cJSON_IsNull(t)) t = cJSON_GetObjectItemCaseSensitive(rs, "type");
    MLXN_TRY(copy_str(c, t && !cJSON_IsNull(t) ? t : NULL, "rope_scaling.rope_type", r->type, sizeof r->type));
    static const char *fkeys[] = {"factor", "low_freq_factor", "high_freq_factor", "beta_fast", "beta_slow"};
    double *fdst[] = {&r->factor, &r->low_freq_factor, &r->high_freq_factor, &r->beta_fast, &r->beta_slow};
    for (int i = 0; i < 5; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rs, fkeys[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsNumber(v))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: \"rope_scaling.%s\" is not a number", c->name, fkeys[i]);
        *fdst[i] = v->valuedouble;
    }
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
    if (o && !cJSON_IsNull(o))
        MLXN_TRY(field_int(c, o, "rope_scaling.original_max_position_embeddings", &r->original_max_position_embeddings));
    return MLXN_OK;
}

static bool is_quant_param_key(const char *k) {
    return !strcmp(k, "group_size") || !strcmp(k, "bits") || !strcmp(k, "mode") || !strcmp(k, "quant_method");
}

static mlxn_status parse_quant(mlxn_hf_config_t *c) {
    const char *key = "quantization";
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(c->root, key);
    if (!q || cJSON_IsNull(q)) { key = "quantization_config"; q = cJSON_GetObjectItemCaseSensitive(c->root, key); }
    if (!q || cJSON_IsNull(q)) return MLXN_OK;
    if (!cJSON_IsObject(q)) return BADKEY(key, "an object");
    mlxn_hf_quant *h = &c->cfg.quant;
    c->quant = q;
    h->present = true;
    const cJSON *gs = cJSON_GetObjectItemCaseSensitive(q, "group_size");
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(q, "bits");
    int64_t v;
    if (gs && !cJSON_IsNull(gs)) {
        if (cJSON_IsBool(gs) || !json_int(gs, &v) || v <= 0 || v > 1 << 20)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: \"%s.group_size\" is not a positive integer", c->name, key);
        h->group_size = (int)v;
    }
    if (bits && !cJSON_IsNull(bits)) {
        if (cJSON_IsBool(bits) || !json_int(bits, &v) || v <= 0 || v > 64)
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: \"%s.bits\" is not an integer in 1..64", c->name, key);
        h->bits = (int)v;
    }
    h->mlx = h->group_size > 0 && h->bits > 0;
    const cJSON *mode = cJSON_GetObjectItemCaseSensitive(q, "mode");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(q, "quant_method");
    if (mode && cJSON_IsString(mode)) snprintf(h->mode, sizeof h->mode, "%s", mode->valuestring);
    else if (mode && !cJSON_IsNull(mode)) return mlxn_fail(MLXN_ERR_FORMAT, "%s: \"%s.mode\" is not a string", c->name, key);
    else if (!h->mlx && method && cJSON_IsString(method)) snprintf(h->mode, sizeof h->mode, "%s", method->valuestring);
    else if (h->mlx) snprintf(h->mode, sizeof h->mode, "affine");
    if (h->mlx)
        for (const cJSON *x = q->child; x; x = x->next)
            if (!is_quant_param_key(x->string) && (cJSON_IsObject(x) || cJSON_IsFalse(x))) h->n_overrides++;
    return MLXN_OK;
}

static mlxn_status parse_fields(mlxn_hf_config_t *c) {
    mlxn_hf_config *f = &c->cfg;
    MLXN_TRY(copy_str(c, cJSON_GetObjectItemCaseSensitive(c->root, "model_type"), "model_type", f->model_type,
                      sizeof f->model_type));
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(c->root, "text_config");
    if (tc && !cJSON_IsNull(tc)) {
        if (!cJSON_IsObject(tc)) return BADKEY("text_config", "an object");
        c->text = tc;
        f->has_text_config = true;
        MLXN_TRY(copy_str(c, cJSON_GetObjectItemCaseSensitive(tc, "model_type"), "text_config.model_type",
                          f->text_model_type, sizeof f->text_model_type));
    }
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(c->root, "architectures");
    if (arch && !cJSON_IsNull(arch)) {
        if (!cJSON_IsArray(arch)) return BADKEY("architectures", "an array of strings");
        for (const cJSON *x = arch->child; x; x = x->next)
            if (!cJSON_IsString(x)) return BADKEY("architectures", "an array of strings");
        f->n_architectures = cJSON_GetArraySize(arch);
        if (arch->child) snprintf(f->architecture, sizeof f->architecture, "%s", arch->child->valuestring);
    }
    static const struct { const char *key; size_t off; } ints[] = {
        {"hidden_size", offsetof(mlxn_hf_config, hidden_size)},
        {"intermediate_size", offsetof(mlxn_hf_config, intermediate_size)},
        {"num_hidden_layers", offsetof(mlxn_hf_config, num_hidden_layers)},
        {"num_attention_heads", offsetof(mlxn_hf_config, num_attention_heads)},
        {"num_key_value_heads", offsetof(mlxn_hf_config, num_key_value_heads)},
        {"head_dim", offsetof(mlxn_hf_config, head_dim)},
        {"vocab_size", offsetof(mlxn_hf_config, vocab_size)},
        {"max_position_embeddings", offsetof(mlxn_hf_config, max_position_embeddings)},
        {"num_experts_per_tok", offsetof(mlxn_hf_config, num_experts_per_tok)},
        {"moe_intermediate_size", offsetof(mlxn_hf_config, moe_intermediate_size)},
        {"sliding_window", offsetof(mlxn_hf_config, sliding_window)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        MLXN_TRY(get_int_field(c, ints[i].key, (int64_t *)((char *)f + ints[i].off)));
    static const char *expert_keys[] = {"num_experts", "num_local_experts", "n_routed_experts"};
    for (int i = 0; i < 3 && !f->num_experts; i++) MLXN_TRY(get_int_field(c, expert_keys[i], &f->num_experts));
    static const char *eps_keys[] = {"rms_norm_eps", "layer_norm_eps", "norm_eps"};
    for (int i = 0; i < 3 && f->rms_norm_eps == 0; i++) MLXN_TRY(get_float_field(c, eps_keys[i], &f->rms_norm_eps));
    MLXN_TRY(get_float_field(c, "rope_theta", &f->rope_theta));
    MLXN_TRY(get_tri_field(c, "tie_word_embeddings", &f->tie_word_embeddings));
    MLXN_TRY(get_tri_field(c, "norm_topk_prob", &f->norm_topk_prob));

    const cJSON *rs = lm_item(c, "rope_scaling");
    if (rs) MLXN_TRY(parse_rope_scaling(c, rs));
    /* Newer transformers: "rope_parameters" {rope_theta, rope_type, ...} when flat. */
    const cJSON *rp = lm_item(c, "rope_parameters");
    if (rp && cJSON_IsObject(rp)) {
        const cJSON *th = cJSON_GetObjectItemCaseSensitive(rp, "rope_theta");
        if (f->rope_theta == 0 && cJSON_IsNumber(th)) f->rope_theta = th->valuedouble;
        const cJSON *rt = cJSON_GetObjectItemCaseSensitive(rp, "rope_type");
        if (!f->rope_scaling.present && cJSON_IsString(rt) && strcmp(rt->valuestring, "default"))
            MLXN_TRY(parse_rope_scaling(c, rp));
    }

    const cJSON *lt = lm_item(c, "layer_types");
    if (lt) {
        if (!cJSON_IsArray(lt)) return BADKEY("layer_types", "an array of strings");
        int n = cJSON_GetArraySize(lt);
        c->layer_types = calloc((size_t)n + 1, 1);
        if (!c->layer_types) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", c->name);
        int i = 0;
        for (const cJSON *x = lt->child; x; x = x->next, i++) {
            if (!cJSON_IsString(x))
                return mlxn_fail(MLXN_ERR_FORMAT, "%s: \"layer_types[%d]\" is not a string", c->name, i);
            c->layer_types[i] = !strcmp(x->valuestring, "full_attention")      ? MLXN_HF_LAYER_FULL
                                : !strcmp(x->valuestring, "sliding_attention") ? MLXN_HF_LAYER_SLIDING
                                                                               : MLXN_HF_LAYER_OTHER;
        }
        f->n_layer_types = n;
        f->layer_types = c->layer_types;
    }
    const cJSON *td = lm_item(c, "torch_dtype");
    if (!td) td = lm_item(c, "dtype");
    MLXN_TRY(copy_str(c, td, "torch_dtype", f->torch_dtype, sizeof f->torch_dtype));

    if (!f->num_key_value_heads) f->num_key_value_heads = f->num_attention_heads;
    if (!f->head_dim && f->num_attention_heads) f->head_dim = f->hidden_size / f->num_attention_heads;
    return parse_quant(c);
}

mlxn_status mlxn_hf_config_parse(const char *json, size_t len, const char *name, mlxn_hf_config_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config_parse: NULL out");
    *out = NULL;
    if (!json) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config_parse: NULL json");
    if (!name) name = "config.json";
    mlxn_hf_config_t *c = calloc(1, sizeof *c);
    if (!c || !(c->name = strdup(name))) {
        free(c);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", name);
    }
    const char *end = NULL;
    c->root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    mlxn_status rc;
    if (!c->root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: JSON does not parse (near byte %zu)", name, at);
    } else if (!cJSON_IsObject(c->root)) {
        rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: top level is not a JSON object", name);
    } else {
        rc = parse_fields(c);
    }
    if (rc != MLXN_OK) { mlxn_hf_config_free(c); return rc; }
    *out = c;
    return MLXN_OK;
}

#define CONFIG_MAX_BYTES (64u << 20)

mlxn_status mlxn_hf_config_load(const char *path, mlxn_hf_config_t **out) {
    if (!out || !path) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config_load: NULL argument");
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mlxn_fail(errno == ENOENT ? MLXN_ERR_NOT_FOUND : MLXN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(CONFIG_MAX_BYTES + 1);
    if (!buf) { fclose(fp); return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", path); }
    size_t n = fread(buf, 1, CONFIG_MAX_BYTES + 1, fp);
    int err = ferror(fp);
    fclose(fp);
    mlxn_status rc;
    if (err) rc = mlxn_fail(MLXN_ERR_IO, "%s: read error", path);
    else if (n > CONFIG_MAX_BYTES) rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: larger than %u MB", path, CONFIG_MAX_BYTES >> 20);
    else rc = mlxn_hf_config_parse(buf, n, path, out);
    free(buf);
    return rc;
}

/* ---- raw getters ----------------------------------------------------------------------- */

static mlxn_status find_raw(const mlxn_hf_config_t *c, const char *key, const cJSON **v) {
    if (!c || !key) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config: NULL argument");
    *v = raw_item(c, key);
    if (!*v)
        return mlxn_errbuf_save((mlxn_errbuf *)&c->err, mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: no key \"%.200s\"", c->name, key));
    return MLXN_OK;
}

static mlxn_status wrong(const mlxn_hf_config_t *c, const char *key, const char *what) {
    return mlxn_errbuf_save((mlxn_errbuf *)&c->err,
                            mlxn_fail(MLXN_ERR_TYPE, "%s: \"%.200s\" is not %s", c->name, key, what));
}

mlxn_status mlxn_hf_config_get_int(const mlxn_hf_config_t *c, const char *key, int64_t *out) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!json_int(v, out)) return wrong(c, key, "an integer");
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_get_float(const mlxn_hf_config_t *c, const char *key, double *out) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!cJSON_IsNumber(v)) return wrong(c, key, "a number");
    *out = v->valuedouble;
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_get_bool(const mlxn_hf_config_t *c, const char *key, bool *out) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!cJSON_IsBool(v)) return wrong(c, key, "true or false");
    *out = cJSON_IsTrue(v);
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_get_str(const mlxn_hf_config_t *c, const char *key, const char **out) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!cJSON_IsString(v)) return wrong(c, key, "a string");
    *out = v->valuestring;
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_arr_len(const mlxn_hf_config_t *c, const char *key, int64_t *count) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!cJSON_IsArray(v)) return wrong(c, key, "an array");
    *count = cJSON_GetArraySize(v);
    return MLXN_OK;
}
static mlxn_status arr_elem(const mlxn_hf_config_t *c, const char *key, int64_t i, const cJSON **e) {
    const cJSON *v;
    MLXN_TRY(find_raw(c, key, &v));
    if (!cJSON_IsArray(v)) return wrong(c, key, "an array");
    int64_t k = 0;
    for (const cJSON *x = v->child; x; x = x->next, k++)
        if (k == i) { *e = x; return MLXN_OK; }
    return mlxn_errbuf_save((mlxn_errbuf *)&c->err, mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: \"%.200s\"[%lld] is out of range (length %lld)",
                                                             c->name, key, (long long)i, (long long)k));
}
mlxn_status mlxn_hf_config_arr_int(const mlxn_hf_config_t *c, const char *key, int64_t i, int64_t *out) {
    const cJSON *e = NULL;
    MLXN_TRY(arr_elem(c, key, i, &e));
    if (!json_int(e, out)) return wrong(c, key, "an array of integers");
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_arr_float(const mlxn_hf_config_t *c, const char *key, int64_t i, double *out) {
    const cJSON *e = NULL;
    MLXN_TRY(arr_elem(c, key, i, &e));
    if (!cJSON_IsNumber(e)) return wrong(c, key, "an array of numbers");
    *out = e->valuedouble;
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_arr_str(const mlxn_hf_config_t *c, const char *key, int64_t i, const char **out) {
    const cJSON *e = NULL;
    MLXN_TRY(arr_elem(c, key, i, &e));
    if (!cJSON_IsString(e)) return wrong(c, key, "an array of strings");
    *out = e->valuestring;
    return MLXN_OK;
}
mlxn_status mlxn_hf_config_get_json(const mlxn_hf_config_t *c, const char *key, char **out) {
    const cJSON *v;
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config_get_json: NULL out");
    *out = NULL;
    MLXN_TRY(find_raw(c, key, &v));
    *out = cJSON_PrintUnformatted(v);
    if (!*out) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory printing \"%.200s\"", c->name, key);
    return MLXN_OK;
}

/* ---- per-module quantization -------------------------------------------------------------- */

mlxn_status mlxn_hf_config_module_quant(const mlxn_hf_config_t *c, const char *module, bool has_scales,
                                        mlxn_type scales_type, mlxn_mlx_quant *q, bool *quantized) {
    if (!c || !module || !q || !quantized) return mlxn_fail(MLXN_ERR_INVALID_ARG, "hf_config_module_quant: NULL argument");
    mlxn_errbuf *eb = (mlxn_errbuf *)&c->err;
    memset(q, 0, sizeof *q);
    *quantized = false;
    if (!has_scales) return MLXN_OK;
    const mlxn_hf_quant *h = &c->cfg.quant;
    if (!h->present || !h->mlx)
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: module '%.200s' has scales but config.json has no MLX "
                                                              "quantization block (group_size, bits)", c->name, module));
    int bits = h->bits, gs = h->group_size;
    const char *mode = h->mode[0] ? h->mode : "affine";
    const cJSON *ov = cJSON_GetObjectItemCaseSensitive(c->quant, module);
    if (ov && cJSON_IsFalse(ov))
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: module '%.200s' has scales but the quantization block "
                                                              "marks it not quantized (false)", c->name, module));
    if (ov && cJSON_IsObject(ov)) {
        int64_t v;
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(ov, "bits");
        if (x) {
            if (!json_int(x, &v) || cJSON_IsBool(x) || v <= 0 || v > 64)
                return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: override of '%.200s': bits is not an integer",
                                                      c->name, module));
            bits = (int)v;
        }
        x = cJSON_GetObjectItemCaseSensitive(ov, "group_size");
        if (x) {
            if (!json_int(x, &v) || cJSON_IsBool(x) || v <= 0 || v > 1 << 20)
                return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: override of '%.200s': group_size is not an "
                                                                      "integer", c->name, module));
            gs = (int)v;
        }
        x = cJSON_GetObjectItemCaseSensitive(ov, "mode");
        if (x) {
            if (!cJSON_IsString(x))
                return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: override of '%.200s': mode is not a string",
                                                      c->name, module));
            mode = x->valuestring;
        }
    } else if (ov && !cJSON_IsTrue(ov)) {
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: override of '%.200s' is neither an object nor a bool",
                                              c->name, module));
    }
    if (!strcmp(mode, "affine")) {
        if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: module '%.200s': affine bits %d (supported: "
                                                                        "2,3,4,5,6,8)", c->name, module, bits));
        if (gs != 32 && gs != 64 && gs != 128)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: module '%.200s': group_size %d (supported: "
                                                                        "32, 64, 128)", c->name, module, gs));
        if (scales_type != MLXN_TYPE_F16 && scales_type != MLXN_TYPE_BF16)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: module '%.200s': scales are %s (supported: "
                                                                        "f16, bf16)", c->name, module, mlxn_type_name(scales_type)));
        *q = (mlxn_mlx_quant){MLXN_MLX_AFFINE, bits, gs, scales_type};
    } else if (!strcmp(mode, "mxfp4")) {
        if (bits != 4 || gs != 32)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: module '%.200s': mxfp4 needs bits 4 and group_size "
                                                                  "32, config says %d and %d", c->name, module, bits, gs));
        if (scales_type != MLXN_TYPE_U8 && scales_type != MLXN_TYPE_F8_E8M0)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: module '%.200s': mxfp4 scales are %s, not u8",
                                                  c->name, module, mlxn_type_name(scales_type)));
        *q = (mlxn_mlx_quant){MLXN_MLX_MXFP4, 4, 32, MLXN_TYPE_F8_E8M0};
    } else {
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: module '%.200s': quantization mode '%.32s' is not "
                                                                    "supported (affine, mxfp4)", c->name, module, mode));
    }
    *quantized = true;
    return MLXN_OK;
}
