/* mlxn_tokenizer_from_gguf: reads the tokenizer.ggml.* metadata of a GGUF file through
 * the GGUF reader and feeds the tokenizer builder (tokenizer.h). Every failure names the key. */
#include "engine/tokenizer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define K_MODEL "tokenizer.ggml.model"
#define K_PRE "tokenizer.ggml.pre"
#define K_TOKENS "tokenizer.ggml.tokens"
#define K_SCORES "tokenizer.ggml.scores"
#define K_TYPES "tokenizer.ggml.token_type"
#define K_MERGES "tokenizer.ggml.merges"

/* A string key copied into buf; absent -> def (or NOT_FOUND when def is NULL). */
static mlxn_status get_str(const mlxn_gguf_t *g, const char *key, const char *def, char *buf, size_t cap) {
    mlxn_str s;
    mlxn_status st = mlxn_gguf_get_str(g, key, &s);
    if (st == MLXN_ERR_NOT_FOUND && def) {
        snprintf(buf, cap, "%s", def);
        return MLXN_OK;
    }
    if (st == MLXN_ERR_NOT_FOUND) return mlxn_fail(st, "tokenizer: key '%s' is missing", key);
    if (st) return mlxn_fail(st, "tokenizer: key '%s' is not a string", key);
    if (s.len >= cap) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: key '%s' is too long (%llu bytes)", key,
                                       (unsigned long long)s.len);
    memcpy(buf, s.ptr, s.len);
    buf[s.len] = 0;
    return MLXN_OK;
}

/* An optional integer id: absent keeps *out. */
static mlxn_status get_id(const mlxn_gguf_t *g, const char *key, int32_t *out) {
    int64_t v;
    mlxn_status st = mlxn_gguf_get_int(g, key, &v);
    if (st == MLXN_ERR_NOT_FOUND) return MLXN_OK;
    if (st) return mlxn_fail(st, "tokenizer: key '%s' is not an integer", key);
    if (v < -1 || v > INT32_MAX) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: key '%s' = %lld is not a token id", key,
                                                 (long long)v);
    *out = (int32_t)v;
    return MLXN_OK;
}

static mlxn_status get_flag(const mlxn_gguf_t *g, const char *key, bool *out) {
    bool v;
    mlxn_status st = mlxn_gguf_get_bool(g, key, &v);
    if (st == MLXN_ERR_NOT_FOUND) return MLXN_OK;
    if (st) return mlxn_fail(st, "tokenizer: key '%s' is not a bool", key);
    *out = v;
    return MLXN_OK;
}

/* Checks that key is an array of elements of one of the allowed types; *count = its length,
 * or 0 with *present = false when absent. */
static mlxn_status get_array(const mlxn_gguf_t *g, const char *key, bool numeric, uint64_t *count, bool *present) {
    mlxn_gguf_vtype et;
    *count = 0;
    *present = false;
    mlxn_status st = mlxn_gguf_get_arr(g, key, &et, count);
    if (st == MLXN_ERR_NOT_FOUND) return MLXN_OK;
    if (st) return mlxn_fail(st, "tokenizer: key '%s' is not an array", key);
    bool ok = numeric ? (et != MLXN_GGUF_STRING && et != MLXN_GGUF_ARRAY) : et == MLXN_GGUF_STRING;
    if (!ok) return mlxn_fail(MLXN_ERR_TYPE, "tokenizer: key '%s' is an array of type %d, expected %s", key, (int)et,
                              numeric ? "numbers" : "strings");
    *present = true;
    return MLXN_OK;
}

static mlxn_status load(const mlxn_gguf_t *g, mlxn_tokenizer_t **out) {
    char model[64], pre[64];
    MLXN_TRY(get_str(g, K_MODEL, NULL, model, sizeof model));
    MLXN_TRY(get_str(g, K_PRE, "default", pre, sizeof pre));

    uint64_t n, n_scores, n_types, n_merges;
    bool has, has_scores, has_types, has_merges;
    MLXN_TRY(get_array(g, K_TOKENS, false, &n, &has));
    if (!has) return mlxn_fail(MLXN_ERR_NOT_FOUND, "tokenizer: key '%s' is missing", K_TOKENS);
    if (n == 0 || n > INT32_MAX) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s' has %llu entries", K_TOKENS,
                                                 (unsigned long long)n);
    MLXN_TRY(get_array(g, K_SCORES, true, &n_scores, &has_scores));
    MLXN_TRY(get_array(g, K_TYPES, true, &n_types, &has_types));
    MLXN_TRY(get_array(g, K_MERGES, false, &n_merges, &has_merges));
    if (has_scores && n_scores != n)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s' has %llu entries but '%s' has %llu", K_SCORES,
                         (unsigned long long)n_scores, K_TOKENS, (unsigned long long)n);
    if (has_types && n_types != n)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s' has %llu entries but '%s' has %llu", K_TYPES,
                         (unsigned long long)n_types, K_TOKENS, (unsigned long long)n);
    if (!strcmp(model, "gpt2") && !has_merges)
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "tokenizer: key '%s' is missing (needed by model gpt2)", K_MERGES);

    mlxn_tokenizer_t *t;
    MLXN_TRY(tok_new(model, pre, (int32_t)n, &t));
    mlxn_status st = MLXN_OK;
    for (uint64_t i = 0; i < n && !st; i++) {
        mlxn_str s;
        double score = 0;
        int64_t type = MLXN_TOKEN_NORMAL;
        if ((st = mlxn_gguf_arr_str(g, K_TOKENS, i, &s))) {
            st = mlxn_fail(st, "tokenizer: '%s'[%llu] unreadable", K_TOKENS, (unsigned long long)i);
            break;
        }
        if (has_scores && (st = mlxn_gguf_arr_float(g, K_SCORES, i, &score))) {
            st = mlxn_fail(st, "tokenizer: '%s'[%llu] unreadable", K_SCORES, (unsigned long long)i);
            break;
        }
        if (has_types && (st = mlxn_gguf_arr_int(g, K_TYPES, i, &type))) {
            st = mlxn_fail(st, "tokenizer: '%s'[%llu] unreadable", K_TYPES, (unsigned long long)i);
            break;
        }
        if (type < 0 || type > MLXN_TOKEN_BYTE) {
            st = mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s'[%llu] = %lld is not a token type", K_TYPES,
                           (unsigned long long)i, (long long)type);
            break;
        }
        st = tok_set_token(t, (int32_t)i, s.ptr, (size_t)s.len, (float)score, (mlxn_token_type)type);
    }
    for (uint64_t i = 0; i < n_merges && !st; i++) {
        mlxn_str s;
        if ((st = mlxn_gguf_arr_str(g, K_MERGES, i, &s))) {
            st = mlxn_fail(st, "tokenizer: '%s'[%llu] unreadable", K_MERGES, (unsigned long long)i);
            break;
        }
        st = tok_add_merge(t, s.ptr, (size_t)s.len);
    }
    if (!st && t->kind == TOK_SPM) {   /* SentencePiece defaults when the ids are absent */
        t->unk = 0, t->bos = 1, t->eos = 2;
    }
    if (!st) st = get_id(g, "tokenizer.ggml.bos_token_id", &t->bos);
    if (!st) st = get_id(g, "tokenizer.ggml.eos_token_id", &t->eos);
    if (!st) st = get_id(g, "tokenizer.ggml.eot_token_id", &t->eot);
    if (!st) st = get_id(g, "tokenizer.ggml.unknown_token_id", &t->unk);
    if (!st) st = get_id(g, "tokenizer.ggml.padding_token_id", &t->pad);
    if (!st) st = get_flag(g, "tokenizer.ggml.add_bos_token", &t->add_bos);
    if (!st) st = get_flag(g, "tokenizer.ggml.add_eos_token", &t->add_eos);
    if (!st) st = get_flag(g, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);
    if (!st) {
        mlxn_str s;
        mlxn_status cs = mlxn_gguf_get_str(g, "tokenizer.chat_template", &s);
        if (cs == MLXN_OK) st = tok_set_chat_template(t, s.ptr, (size_t)s.len);
        else if (cs != MLXN_ERR_NOT_FOUND) st = mlxn_fail(cs, "tokenizer: key 'tokenizer.chat_template' is not a string");
    }
    if (!st) st = tok_build(t);
    if (!st) {
        int32_t eom = -1;
        st = get_id(g, "tokenizer.ggml.eom_token_id", &eom);
        if (!st && eom >= 0 && eom < t->n && t->n_eog < TOK_MAX_EOG) {
            bool seen = mlxn_tokenizer_is_eog(t, eom);
            if (!seen) t->eog[t->n_eog++] = eom;
        }
    }
    if (st) {
        mlxn_tokenizer_free(t);
        return st;
    }
    *out = t;
    return MLXN_OK;
}

mlxn_status mlxn_tokenizer_from_gguf(const mlxn_gguf_t *g, mlxn_tokenizer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer_from_gguf: out is NULL");
    *out = NULL;
    if (!g) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer_from_gguf: GGUF handle is NULL");
    return load(g, out);
}
