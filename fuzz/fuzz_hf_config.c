/* libFuzzer target for the config.json parser: parses the input from memory (not
 * NUL-terminated, so ASan sees any read past the end), reads every parsed field, then walks
 * the JSON tree and calls every raw getter on the dotted path of each key (array elements
 * included, one past the end too), plus the per-module quantization of every key of the
 * quantization block and of a few fixed module names. */
#include "mlxn.h"
#include "formats/hf_config.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

#define ENSURE(c) do { if (!(c)) __builtin_trap(); } while (0)
#define MAX_KEYS 2000   /* keys visited per input: keeps a wide object from timing out */

static void touch_str(const char *s) { if (s) sink += strlen(s); }

static void getters(const mlxn_hf_config_t *c, const char *key) {
    int64_t iv, len;
    double fv;
    bool bv;
    const char *s;
    char *js = NULL;
    if (mlxn_hf_config_get_int(c, key, &iv) == MLXN_OK) sink += (uint64_t)iv;
    if (mlxn_hf_config_get_float(c, key, &fv) == MLXN_OK) sink += (uint64_t)(fv == fv);
    if (mlxn_hf_config_get_bool(c, key, &bv) == MLXN_OK) sink += bv;
    if (mlxn_hf_config_get_str(c, key, &s) == MLXN_OK) touch_str(s);
    mlxn_status rc = mlxn_hf_config_get_json(c, key, &js);
    if (rc == MLXN_OK) { ENSURE(js); touch_str(js); free(js); }
    else ENSURE(js == NULL);
    if (mlxn_hf_config_arr_len(c, key, &len) != MLXN_OK) return;
    ENSURE(len >= 0);
    for (int64_t i = 0; i <= len && i < 256; i++) {   /* i == len probes the range check */
        mlxn_status a = mlxn_hf_config_arr_int(c, key, i, &iv);
        if (a == MLXN_OK) sink += (uint64_t)iv;
        if (mlxn_hf_config_arr_float(c, key, i, &fv) == MLXN_OK) sink += (uint64_t)(fv == fv);
        if (mlxn_hf_config_arr_str(c, key, i, &s) == MLXN_OK) touch_str(s);
        if (i == len) ENSURE(a == MLXN_ERR_INVALID_ARG);
    }
    ENSURE(mlxn_hf_config_arr_int(c, key, -1, &iv) != MLXN_OK);
}

static void module_quant(const mlxn_hf_config_t *c, const char *module) {
    static const mlxn_type scale_types[] = {MLXN_TYPE_F16, MLXN_TYPE_BF16, MLXN_TYPE_U8, MLXN_TYPE_F32};
    mlxn_mlx_quant q;
    bool quantized = true;
    ENSURE(mlxn_hf_config_module_quant(c, module, false, MLXN_TYPE_F16, &q, &quantized) == MLXN_OK && !quantized);
    for (size_t i = 0; i < sizeof scale_types / sizeof scale_types[0]; i++) {
        if (mlxn_hf_config_module_quant(c, module, true, scale_types[i], &q, &quantized) == MLXN_OK) {
            ENSURE(quantized);
            ENSURE(q.bits >= 1 && q.bits <= 8 && q.group_size >= 32);
        }
    }
}

/* Visits every key under obj with its dotted path; depth and count are bounded. */
static void visit(const mlxn_hf_config_t *c, const cJSON *obj, char *path, size_t plen, int depth, int *budget) {
    if (depth > 6) return;
    for (const cJSON *x = obj->child; x && *budget > 0; x = x->next) {
        if (!x->string) continue;
        (*budget)--;
        int w = snprintf(path + plen, 1024 - plen, "%s%s", plen ? "." : "", x->string);
        if (w < 0 || (size_t)w >= 1024 - plen) continue;
        getters(c, path);
        if (cJSON_IsObject(x)) visit(c, x, path, plen + (size_t)w, depth + 1, budget);
        path[plen] = 0;
    }
}

static void walk(const mlxn_hf_config_t *c) {
    const mlxn_hf_config *f = mlxn_hf_config_get(c);
    ENSURE(f);
    /* every fixed-size string is NUL-terminated within its array */
    ENSURE(memchr(f->model_type, 0, sizeof f->model_type) && memchr(f->text_model_type, 0, sizeof f->text_model_type));
    ENSURE(memchr(f->architecture, 0, sizeof f->architecture) && memchr(f->torch_dtype, 0, sizeof f->torch_dtype));
    ENSURE(memchr(f->rope_scaling.type, 0, sizeof f->rope_scaling.type) && memchr(f->quant.mode, 0, sizeof f->quant.mode));
    ENSURE(f->n_layer_types >= 0 && (f->n_layer_types == 0 || f->layer_types));
    for (int64_t i = 0; i < f->n_layer_types; i++) ENSURE(f->layer_types[i] <= MLXN_HF_LAYER_OTHER);
    ENSURE(f->hidden_size >= 0 && f->num_attention_heads >= 0 && f->num_key_value_heads >= 0 && f->head_dim >= 0);
    ENSURE(f->tie_word_embeddings >= -1 && f->tie_word_embeddings <= 1);
    ENSURE(f->norm_topk_prob >= -1 && f->norm_topk_prob <= 1);
    ENSURE(!f->quant.mlx || (f->quant.present && f->quant.bits > 0 && f->quant.group_size > 0));
    ENSURE(f->quant.n_overrides >= 0);
    sink += (uint64_t)(f->rms_norm_eps == f->rms_norm_eps) + (uint64_t)f->vocab_size;
    touch_str(mlxn_hf_config_last_error(c));

    static const char *fixed[] = {"hidden_size", "rope_scaling.factor", "text_config.hidden_size",
                                  "quantization.group_size", "layer_types", "architectures", "vision_config.hidden_size",
                                  "", ".", "a..b", "quantization.model.layers.0.mlp.gate_proj"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) getters(c, fixed[i]);

    const cJSON *root = mlxn_hf_config_json(c);
    ENSURE(root);
    char path[1024] = {0};
    int budget = MAX_KEYS;
    visit(c, root, path, 0, 0, &budget);

    static const char *modules[] = {"model.embed_tokens", "lm_head", "model.layers.0.mlp.gate_proj", ""};
    for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++) module_quant(c, modules[i]);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization");
    if (!q || cJSON_IsNull(q)) q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    int n = 0;
    if (cJSON_IsObject(q))
        for (const cJSON *x = q->child; x && n < 256; x = x->next, n++)
            if (x->string) module_quant(c, x->string);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mlxn_hf_config_t *c = NULL;
    if (mlxn_hf_config_parse((const char *)data, size, "fuzz.json", &c) == MLXN_OK) {
        ENSURE(c);
        walk(c);
        mlxn_hf_config_free(c);
    } else {
        ENSURE(!c);   /* a failed parse must not hand out a handle */
    }
    return 0;
}
