/* mlxn_tokenizer_load_hf: builds the tokenizer from a Hugging Face tokenizer.json (parsed with
 * cJSON), plus tokenizer_config.json and chat_template.jinja next to it where present. Only the
 * BPE layouts the engine runs are accepted: byte-level BPE (ByteLevel / Split-with-a-known-regex
 * pre-tokenizers) and SentencePiece-style BPE ("▁" spaces, byte fallback). The pre-tokenizer is
 * recognised, not interpreted: its regexes are matched against a table and mapped onto the
 * TOK_PRE_* patterns; anything else fails naming what it found. */
#include "engine/tokenizer.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define META "\xE2\x96\x81"   /* "▁", SentencePiece's space */

/* ==========================================================================
 * Files
 * ========================================================================== */

/* Reads a whole file. Absent: NOT_FOUND (no message when quiet_absent). */
static mlxn_status read_all(const char *path, bool quiet_absent, char **data, size_t *len) {
    *data = NULL, *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT && quiet_absent) return MLXN_ERR_NOT_FOUND;
        return mlxn_fail(errno == ENOENT ? MLXN_ERR_NOT_FOUND : MLXN_ERR_IO, "tokenizer: cannot open '%s': %s", path,
                         strerror(errno));
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *p = cap > ((size_t)1 << 31) ? NULL : realloc(buf, cap * 2 + 1);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p, cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    bool bad = buf && ferror(f);
    fclose(f);
    if (!buf) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory reading '%s'", path);
    if (bad) { free(buf); return mlxn_fail(MLXN_ERR_IO, "tokenizer: read error in '%s'", path); }
    buf[n] = 0;
    *data = buf, *len = n;
    return MLXN_OK;
}

/* Parses path as JSON. Absent and optional: NOT_FOUND with *root NULL and no message. */
static mlxn_status parse_file(const char *path, bool optional, cJSON **root) {
    char *data;
    size_t len;
    *root = NULL;
    mlxn_status st = read_all(path, optional, &data, &len);
    if (st) return st;
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(data, len, &end, false);
    if (!*root) {
        size_t at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        size_t line = 1;
        for (size_t i = 0; i < at; i++) line += data[i] == '\n';
        free(data);
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s' is not valid JSON (error near byte %zu, line %zu)", path, at,
                         line);
    }
    free(data);
    return MLXN_OK;
}

/* ==========================================================================
 * Pre-tokenizer and normalizer recognition
 * ========================================================================== */

/* One regex split step of a byte-level pre-tokenizer. */
typedef enum { STEP_GPT2, STEP_LLAMA3, STEP_QWEN2, STEP_QWEN35, STEP_DIGIT } step;

/* Split regexes as tokenizer.json files write them (HF uses Oniguruma syntax; the case-insensitive
 * group and its spelled-out form both occur). */
static const struct { const char *re; step s; } KNOWN_REGEX[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", STEP_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+", STEP_LLAMA3},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
     "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", STEP_LLAMA3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+", STEP_QWEN2},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
     "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", STEP_QWEN2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
     "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", STEP_QWEN35},
    {"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
     "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", STEP_QWEN35},
    {"\\p{N}", STEP_DIGIT},
};

/* Step sequences -> the pre-tokenizer names tok_new knows. */
static const struct { step s[2]; int n; const char *pre; } KNOWN_SEQ[] = {
    {{STEP_GPT2}, 1, "gpt-2"},
    {{STEP_LLAMA3}, 1, "llama-bpe"},
    {{STEP_QWEN2}, 1, "qwen2"},
    {{STEP_QWEN35}, 1, "qwen35"},
    {{STEP_DIGIT, STEP_GPT2}, 2, "smollm"},
};

#define MAX_STEPS 8

/* What the normalizer and pre-tokenizer amount to. */
typedef struct {
    const char *file;
    bool byte_level;       /* a ByteLevel pre-tokenizer */
    bool space_meta;       /* spaces become "▁" (Replace normalizer or Metaspace) */
    bool norm_meta;        /* ... already in the normalizer, before any pre-tokenizer */
    bool metaspace;
    tok_prefix prefix;
    step steps[MAX_STEPS];
    int n_steps;
    char desc[256];        /* the pre-tokenizer as read, for messages */
} layout;

static void desc_add(layout *L, const char *s) {
    size_t k = strlen(L->desc);
    if (k + 1 < sizeof L->desc) snprintf(L->desc + k, sizeof L->desc - k, "%s%s", k ? ", " : "", s);
}

static const char *str_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A boolean field: absent or null -> def; other types fail. */
static mlxn_status bool_of(const layout *L, const cJSON *o, const char *where, const char *key, bool def, bool *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = def;
    if (!v || cJSON_IsNull(v)) return MLXN_OK;
    if (!cJSON_IsBool(v)) return mlxn_fail(MLXN_ERR_TYPE, "tokenizer: '%s': %s.%s is not a boolean", L->file, where, key);
    *out = cJSON_IsTrue(v);
    return MLXN_OK;
}

static mlxn_status add_step(layout *L, step s) {
    if (L->n_steps == MAX_STEPS)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer has too many steps", L->file);
    L->steps[L->n_steps++] = s;
    return MLXN_OK;
}

static mlxn_status read_pre(layout *L, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return MLXN_OK;
    const char *type = str_of(p, "type");
    if (!cJSON_IsObject(p) || !type)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': pre_tokenizer is not an object with a \"type\"", L->file);
    if (!strcmp(type, "Sequence")) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
        if (!cJSON_IsArray(seq))
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': pre_tokenizer Sequence has no \"pretokenizers\" array",
                             L->file);
        const cJSON *e;
        cJSON_ArrayForEach(e, seq) MLXN_TRY(read_pre(L, e));
        return MLXN_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        bool prefix, use_regex;
        MLXN_TRY(bool_of(L, p, "ByteLevel", "add_prefix_space", false, &prefix));
        MLXN_TRY(bool_of(L, p, "ByteLevel", "use_regex", true, &use_regex));
        desc_add(L, use_regex ? "ByteLevel(regex)" : "ByteLevel");
        if (prefix)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer ByteLevel with add_prefix_space "
                             "true is not supported", L->file);
        if (L->byte_level)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer has two ByteLevel steps", L->file);
        L->byte_level = true;
        return use_regex ? add_step(L, STEP_GPT2) : MLXN_OK;
    }
    if (!strcmp(type, "Split")) {
        const cJSON *pat = cJSON_GetObjectItemCaseSensitive(p, "pattern");
        const char *re = str_of(pat, "Regex"), *lit = str_of(pat, "String"), *beh = str_of(p, "behavior");
        bool invert;
        MLXN_TRY(bool_of(L, p, "Split", "invert", false, &invert));
        if (!re && lit && !strcmp(lit, " ") && L->norm_meta && !invert) {
            desc_add(L, "Split(' ', no-op)");   /* Gemma: the normalizer left no spaces to split at */
            return MLXN_OK;
        }
        if (!re)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Split on the string '%.40s' is not "
                             "supported (only known regexes, or ' ' after a ' ' -> '" META "' normalizer)", L->file,
                             lit ? lit : "?");
        if (!beh || strcmp(beh, "Isolated") || invert)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Split with behavior '%s'%s is not "
                             "supported (Isolated)", L->file, beh ? beh : "?", invert ? " inverted" : "");
        for (size_t i = 0; i < sizeof KNOWN_REGEX / sizeof KNOWN_REGEX[0]; i++)
            if (!strcmp(re, KNOWN_REGEX[i].re)) {
                desc_add(L, "Split(known regex)");
                return add_step(L, KNOWN_REGEX[i].s);
            }
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Split regex '%.160s' is not a known "
                         "pattern (GPT-2, Llama 3, Qwen2, Qwen3.5, \\p{N})", L->file, re);
    }
    if (!strcmp(type, "Digits")) {
        bool single;
        MLXN_TRY(bool_of(L, p, "Digits", "individual_digits", false, &single));
        desc_add(L, single ? "Digits(individual)" : "Digits");
        if (!single)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Digits without individual_digits "
                             "is not supported", L->file);
        return add_step(L, STEP_DIGIT);
    }
    if (!strcmp(type, "Metaspace")) {
        const char *rep = str_of(p, "replacement"), *scheme = str_of(p, "prepend_scheme");
        bool split, legacy_prefix;
        MLXN_TRY(bool_of(L, p, "Metaspace", "split", true, &split));
        MLXN_TRY(bool_of(L, p, "Metaspace", "add_prefix_space", true, &legacy_prefix));
        desc_add(L, "Metaspace");
        if (!rep || strcmp(rep, META))
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Metaspace replacement '%s' is not "
                             "supported (\"" META "\")", L->file, rep ? rep : "?");
        if (split)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Metaspace with split true is not "
                             "supported", L->file);
        if (!scheme) scheme = legacy_prefix ? "always" : "never";
        if (!strcmp(scheme, "always")) L->prefix = TOK_PREFIX_UNLESS_SPACE;
        else if (!strcmp(scheme, "first")) L->prefix = TOK_PREFIX_FIRST;
        else if (!strcmp(scheme, "never")) L->prefix = TOK_PREFIX_NONE;
        else
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer Metaspace prepend_scheme '%s' is not "
                             "supported (always, first, never)", L->file, scheme);
        L->metaspace = L->space_meta = true;
        return MLXN_OK;
    }
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer type '%s' is not supported (ByteLevel, "
                     "Split with a known regex, Digits, Metaspace, Sequence of these)", L->file, type);
}

static mlxn_status read_norm(layout *L, const cJSON *p) {
    if (!p || cJSON_IsNull(p)) return MLXN_OK;
    const char *type = str_of(p, "type");
    if (!cJSON_IsObject(p) || !type)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': normalizer is not an object with a \"type\"", L->file);
    if (!strcmp(type, "Sequence")) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(p, "normalizers"), *e;
        if (!cJSON_IsArray(seq))
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': normalizer Sequence has no \"normalizers\" array", L->file);
        cJSON_ArrayForEach(e, seq) MLXN_TRY(read_norm(L, e));
        return MLXN_OK;
    }
    if (!strcmp(type, "NFC")) {   /* inputs are taken as already composed; see docs/engine.md */
        mlxn_log(MLXN_LOG_DEBUG, "tokenizer: '%s': normalizer NFC is not applied (text is used as given)", L->file);
        return MLXN_OK;
    }
    if (!strcmp(type, "Replace")) {
        const char *from = str_of(cJSON_GetObjectItemCaseSensitive(p, "pattern"), "String"), *to = str_of(p, "content");
        if (from && to && !strcmp(from, " ") && !strcmp(to, META)) {
            L->space_meta = L->norm_meta = true;
            return MLXN_OK;
        }
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': normalizer Replace '%s' -> '%s' is not supported "
                         "(only ' ' -> '" META "')", L->file, from ? from : "(regex)", to ? to : "?");
    }
    if (!strcmp(type, "Prepend")) {
        const char *pre = str_of(p, "prepend");
        if (pre && !strcmp(pre, META)) {
            L->prefix = TOK_PREFIX_EVERY;
            return MLXN_OK;
        }
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': normalizer Prepend '%s' is not supported (only '" META
                         "')", L->file, pre ? pre : "?");
    }
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': normalizer type '%s' is not supported (Replace ' ' -> '" META
                     "', Prepend '" META "', NFC, Sequence of these)", L->file, type);
}

/* The pre-tokenizer name for tok_new, or a failure naming the layout. */
static mlxn_status layout_pre(layout *L, const char **pre) {
    if (L->byte_level && (L->space_meta || L->prefix))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': ByteLevel together with a '" META "' normalizer or "
                         "Metaspace is not supported", L->file);
    if (!L->byte_level) {
        if (!L->space_meta)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': BPE with pre_tokenizer [%s] and no ByteLevel step "
                             "or '" META "' spaces is not supported", L->file, L->desc[0] ? L->desc : "none");
        if (L->n_steps)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer [%s] splits SentencePiece-style "
                             "text; not supported", L->file, L->desc);
        *pre = NULL;
        return MLXN_OK;
    }
    for (size_t i = 0; i < sizeof KNOWN_SEQ / sizeof KNOWN_SEQ[0]; i++) {
        if (KNOWN_SEQ[i].n != L->n_steps) continue;
        bool same = true;
        for (int k = 0; k < L->n_steps; k++) same = same && KNOWN_SEQ[i].s[k] == L->steps[k];
        if (same) { *pre = KNOWN_SEQ[i].pre; return MLXN_OK; }
    }
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': pre_tokenizer [%s] is not a supported combination "
                     "(ByteLevel; Split(GPT-2 | Llama 3 | Qwen2 | Qwen3.5 regex) + ByteLevel; Digits + ByteLevel)",
                     L->file, L->desc[0] ? L->desc : "none");
}

/* ==========================================================================
 * Vocabulary
 * ========================================================================== */

static bool is_byte_token(const char *s) {
    return strlen(s) == 6 && !strncmp(s, "<0x", 3) && s[5] == '>' && strchr("0123456789ABCDEF", s[3]) &&
           strchr("0123456789ABCDEF", s[4]) && s[3] && s[4];
}

/* A JSON number that is a token id in [0, INT32_MAX). */
static bool id_of(const cJSON *v, int32_t *id) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d < (double)INT32_MAX) || d != (double)(int64_t)d) return false;
    *id = (int32_t)d;
    return true;
}

/* The id of a token text: an added token's content first, then the model vocabulary; -1. */
static int32_t lookup(const cJSON *added, const cJSON *vocab, const char *text) {
    const cJSON *e;
    int32_t id;
    cJSON_ArrayForEach(e, added) {
        const char *c = str_of(e, "content");
        if (c && !strcmp(c, text) && id_of(cJSON_GetObjectItemCaseSensitive(e, "id"), &id)) return id;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(vocab, text);
    return v && id_of(v, &id) ? id : -1;
}

/* tokenizer_config.json's token fields are a string or an object with "content". */
static const char *config_token(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return str_of(v, "content");
    return NULL;
}

typedef struct {
    const char *file;          /* tokenizer.json path, for messages */
    const cJSON *vocab, *added;
    int32_t n;
} ctx;

/* BOS/EOS from a TemplateProcessing "single" template: special tokens before $A add BOS,
 * after it EOS. */
static mlxn_status read_template(const ctx *c, const cJSON *tp, mlxn_tokenizer_t *t) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(tp, "single"), *specials =
        cJSON_GetObjectItemCaseSensitive(tp, "special_tokens"), *e;
    if (!cJSON_IsArray(single))
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': post_processor TemplateProcessing has no \"single\" array",
                         c->file);
    bool seen_a = false;
    cJSON_ArrayForEach(e, single) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(e, "SpecialToken");
        if (cJSON_GetObjectItemCaseSensitive(e, "Sequence")) { seen_a = true; continue; }
        const char *name = str_of(sp, "id");
        if (!name)
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': post_processor template entry is neither SpecialToken "
                             "nor Sequence", c->file);
        int32_t id = -1;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(specials, name), "ids");
        if (cJSON_GetArraySize(ids) != 1 || !id_of(cJSON_GetArrayItem(ids, 0), &id)) id = lookup(c->added, c->vocab, name);
        if (id < 0 || id >= c->n)
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': post_processor special token '%s' has no id in the "
                             "vocabulary", c->file, name);
        if (!seen_a && t->add_bos)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': post_processor puts two special tokens before the "
                             "text; not supported", c->file);
        if (seen_a && t->add_eos)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': post_processor puts two special tokens after the "
                             "text; not supported", c->file);
        if (!seen_a) t->bos = id, t->add_bos = true;
        else t->eos = id, t->add_eos = true;
    }
    return MLXN_OK;
}

static mlxn_status read_post(const ctx *c, const cJSON *p, mlxn_tokenizer_t *t) {
    if (!p || cJSON_IsNull(p)) return MLXN_OK;
    const char *type = str_of(p, "type");
    if (!type) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': post_processor has no \"type\"", c->file);
    if (!strcmp(type, "Sequence")) {
        const cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(p, "processors")) MLXN_TRY(read_post(c, e, t));
        return MLXN_OK;
    }
    if (!strcmp(type, "ByteLevel")) return MLXN_OK;   /* offsets only */
    if (!strcmp(type, "TemplateProcessing")) return read_template(c, p, t);
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': post_processor type '%s' is not supported "
                     "(TemplateProcessing, ByteLevel, Sequence)", c->file, type);
}

/* tokenizer_config.json: special token names, add_bos/eos_token, chat_template. */
static mlxn_status read_config(const ctx *c, const char *path, const cJSON *cfg, mlxn_tokenizer_t *t) {
    static const char *keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    int32_t *ids[] = {&t->bos, &t->eos, &t->unk, &t->pad};
    for (int i = 0; i < 4; i++) {
        const char *name = config_token(cfg, keys[i]);
        if (!name) continue;
        int32_t id = lookup(c->added, c->vocab, name);
        if (id < 0 || id >= c->n)
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': %s '%s' is not a token of the vocabulary", path, keys[i],
                             name);
        *ids[i] = id;
    }
    const char *flags[] = {"add_bos_token", "add_eos_token"};
    bool *dst[] = {&t->add_bos, &t->add_eos};
    for (int i = 0; i < 2; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, flags[i]);
        if (!v || cJSON_IsNull(v)) continue;
        if (!cJSON_IsBool(v)) return mlxn_fail(MLXN_ERR_TYPE, "tokenizer: '%s': %s is not a boolean", path, flags[i]);
        *dst[i] = cJSON_IsTrue(v);
    }
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(cfg, "chat_template");
    if (cJSON_IsString(ct)) return tok_set_chat_template(t, ct->valuestring, strlen(ct->valuestring));
    if (cJSON_IsArray(ct)) {   /* [{"name": ..., "template": ...}]: the "default" one, else the first */
        const cJSON *e, *pick = NULL;
        cJSON_ArrayForEach(e, ct) {
            const char *name = str_of(e, "name");
            if (!pick || (name && !strcmp(name, "default"))) pick = e;
        }
        const char *tpl = str_of(pick, "template");
        if (tpl) return tok_set_chat_template(t, tpl, strlen(tpl));
    }
    if (ct && !cJSON_IsNull(ct) && !cJSON_IsString(ct) && !cJSON_IsArray(ct))
        return mlxn_fail(MLXN_ERR_TYPE, "tokenizer: '%s': chat_template is neither a string nor a list", path);
    return MLXN_OK;
}

/* ==========================================================================
 * Loader
 * ========================================================================== */

static mlxn_status build(const char *file, const cJSON *root, const char *cfg_path, const cJSON *cfg,
                         const char *jinja, size_t jinja_len, mlxn_tokenizer_t **out) {
    if (!cJSON_IsObject(root)) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': top level is not an object", file);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': no \"model\" object", file);
    const char *mtype = str_of(model, "type");
    if (!mtype) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model has no \"type\"", file);
    if (strcmp(mtype, "BPE"))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': model.type '%s' is not supported (BPE)", file, mtype);
    const char *cont = str_of(model, "continuing_subword_prefix"), *suffix = str_of(model, "end_of_word_suffix");
    if ((cont && *cont) || (suffix && *suffix))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: '%s': BPE with continuing_subword_prefix or "
                         "end_of_word_suffix is not supported", file);

    ctx c = {.file = file};
    c.vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(c.vocab)) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.vocab is not an object", file);
    c.added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (c.added && !cJSON_IsNull(c.added) && !cJSON_IsArray(c.added))
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': added_tokens is not a list", file);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges))
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.merges is not a list", file);

    /* vocabulary size: the largest id + 1 over the vocab and the added tokens */
    int64_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, c.vocab) {
        int32_t id;
        if (!id_of(e, &id))
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.vocab['%.64s'] is not a token id", file, e->string);
        if (id >= n) n = (int64_t)id + 1;
    }
    int idx = 0;
    cJSON_ArrayForEach(e, c.added) {
        int32_t id;
        if (!id_of(cJSON_GetObjectItemCaseSensitive(e, "id"), &id) || !str_of(e, "content"))
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': added_tokens[%d] has no integer id and string content",
                             file, idx);
        if (id >= n) n = (int64_t)id + 1;
        idx++;
    }
    if (n == 0) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': the vocabulary is empty", file);
    c.n = (int32_t)n;

    layout L = {.file = file};
    MLXN_TRY(read_norm(&L, cJSON_GetObjectItemCaseSensitive(root, "normalizer")));
    MLXN_TRY(read_pre(&L, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer")));
    const char *pre = NULL;
    MLXN_TRY(layout_pre(&L, &pre));

    bool byte_fallback, ignore_merges;
    MLXN_TRY(bool_of(&L, model, "model", "byte_fallback", false, &byte_fallback));
    MLXN_TRY(bool_of(&L, model, "model", "ignore_merges", false, &ignore_merges));
    bool fuse_unk;
    MLXN_TRY(bool_of(&L, model, "model", "fuse_unk", false, &fuse_unk));

    mlxn_tokenizer_t *t;
    MLXN_TRY(tok_new("gpt2", L.byte_level ? pre : "gpt-2", c.n, &t));
    snprintf(t->source, sizeof t->source, "tokenizer.json");
    t->strict_merges = true;
    t->ignore_merges = ignore_merges;
    t->add_bos = t->add_eos = false;
    if (!L.byte_level) {   /* SentencePiece-style: BPE over UTF-8 characters, "▁" spaces */
        t->byte_level = false;
        t->pre = TOK_PRE_NONE;
        t->prefix = L.prefix;
        t->no_byte_fallback = !byte_fallback;
        t->char_unk = true;
        t->fuse_unk = fuse_unk;
        snprintf(t->model_name, sizeof t->model_name, "llama");
        snprintf(t->pre_name, sizeof t->pre_name, "%s", L.metaspace ? "metaspace" : "none");
    }

    mlxn_status st = MLXN_OK;
    uint8_t *seen = calloc((size_t)c.n, 1);
    if (!seen) st = mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory");
    cJSON_ArrayForEach(e, c.vocab) {
        if (st) break;
        int32_t id = 0;
        id_of(e, &id);
        if (seen[id]) {
            int ol = (int)(t->text_len[id] > 64 ? 64 : t->text_len[id]);
            st = mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.vocab gives id %d to '%.*s' and to '%.64s'", file,
                           (int)id, ol, t->text + t->text_off[id], e->string);
            break;
        }
        seen[id] = 1;
        mlxn_token_type ty = !L.byte_level && byte_fallback && is_byte_token(e->string) ? MLXN_TOKEN_BYTE
                                                                                         : MLXN_TOKEN_NORMAL;
        st = tok_set_token(t, id, e->string, strlen(e->string), 0, ty);
    }
    idx = 0;
    cJSON_ArrayForEach(e, c.added) {
        if (st) break;
        int32_t id = 0;
        id_of(cJSON_GetObjectItemCaseSensitive(e, "id"), &id);
        const char *content = str_of(e, "content");
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
        uint8_t strip = (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "lstrip")) ? TOK_LSTRIP : 0) |
                        (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "rstrip")) ? TOK_RSTRIP : 0);
        if (strip && !t->strip && !(t->strip = calloc((size_t)c.n, 1))) {
            st = mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory");
            break;
        }
        if (t->strip) t->strip[id] = strip;
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "single_word")))
            mlxn_log(MLXN_LOG_WARN, "tokenizer: '%s': added token '%s' asks for single_word, which is not applied", file,
                     content);
        st = tok_set_token(t, id, content, strlen(content), 0, special ? MLXN_TOKEN_CONTROL : MLXN_TOKEN_USER_DEFINED);
        seen[id] = 1;
        idx++;
    }
    free(seen);

    const char *unk = str_of(model, "unk_token");
    if (!st && unk) {
        int32_t id = lookup(c.added, c.vocab, unk);
        if (id < 0)
            st = mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.unk_token '%.64s' is not in the vocabulary", file, unk);
        else if ((t->unk = id), t->type[id] != MLXN_TOKEN_CONTROL)   /* an added special token stays one */
            t->type[id] = MLXN_TOKEN_UNKNOWN;
    }

    idx = 0;
    cJSON_ArrayForEach(e, merges) {
        if (st) break;
        if (cJSON_IsString(e)) {
            st = tok_add_merge(t, e->valuestring, strlen(e->valuestring));
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *a = cJSON_GetArrayItem(e, 0)->valuestring, *b = cJSON_GetArrayItem(e, 1)->valuestring;
            st = tok_add_merge_pair(t, a, strlen(a), b, strlen(b));
        } else {
            st = mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: '%s': model.merges[%d] is neither \"a b\" nor [\"a\", \"b\"]", file,
                           idx);
        }
        idx++;
    }

    if (!st) st = read_post(&c, cJSON_GetObjectItemCaseSensitive(root, "post_processor"), t);
    if (!st && cfg) st = read_config(&c, cfg_path, cfg, t);
    if (!st && jinja) st = tok_set_chat_template(t, jinja, jinja_len);
    if (!st) {
        st = tok_build(t);
        if (st) {   /* name the file in front of the builder's message */
            char msg[MLXN_ERRMSG_MAX];
            snprintf(msg, sizeof msg, "%s", mlxn_last_error());
            st = mlxn_fail(st, "tokenizer: '%s': %s", file, msg);
        }
    }
    if (st) {
        mlxn_tokenizer_free(t);
        return st;
    }
    *out = t;
    return MLXN_OK;
}

mlxn_status mlxn_tokenizer_load_hf(const char *path, mlxn_tokenizer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer_load_hf: out is NULL");
    *out = NULL;
    if (!path || !*path) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer_load_hf: path is NULL or empty");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return mlxn_fail(MLXN_ERR_NOT_FOUND, "tokenizer: cannot open '%s': %s", path, strerror(errno));

    /* dir: the folder holding tokenizer.json; file: the tokenizer.json itself */
    size_t pl = strlen(path);
    char *dir = malloc(pl + 2), *file = malloc(pl + 64), *cfg_path = malloc(pl + 64), *jinja_path = malloc(pl + 64);
    mlxn_status st = MLXN_OK;
    cJSON *root = NULL, *cfg = NULL;
    char *jinja = NULL;
    size_t jinja_len = 0;
    if (!dir || !file || !cfg_path || !jinja_path) {
        st = mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory");
        goto done;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(dir, pl + 2, "%s", path);
        snprintf(file, pl + 64, "%s/tokenizer.json", path);
    } else {
        snprintf(file, pl + 64, "%s", path);
        const char *slash = strrchr(path, '/');
        if (slash) snprintf(dir, pl + 2, "%.*s", (int)(slash - path), path);
        else snprintf(dir, pl + 2, ".");
        if (slash == path) snprintf(dir, pl + 2, "/");
    }
    snprintf(cfg_path, pl + 64, "%s/tokenizer_config.json", dir);
    snprintf(jinja_path, pl + 64, "%s/chat_template.jinja", dir);

    if ((st = parse_file(file, false, &root))) goto done;
    st = parse_file(cfg_path, true, &cfg);
    if (st == MLXN_ERR_NOT_FOUND) st = MLXN_OK;
    if (st) goto done;
    st = read_all(jinja_path, true, &jinja, &jinja_len);
    if (st == MLXN_ERR_NOT_FOUND) st = MLXN_OK;
    if (st) goto done;
    st = build(file, root, cfg_path, cfg, jinja, jinja_len, out);
done:
    cJSON_Delete(root);
    cJSON_Delete(cfg);
    free(jinja), free(dir), free(file), free(cfg_path), free(jinja_path);
    return st;
}
