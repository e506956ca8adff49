/* Tokenizers from vocabulary metadata: byte-level BPE ("gpt2") with regex pre-tokenizers,
 * SentencePiece BPE ("llama") with byte fallback, special-token partitioning, and
 * detokenization (whole and streaming, never splitting a UTF-8 character across outputs).
 * The vocabulary arrives through the builder in tokenizer.h; tokenizer_gguf.c feeds it. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "engine/tokenizer.h"
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==========================================================================
 * Small containers
 * ========================================================================== */

typedef struct { int32_t *v; size_t n, cap; } ivec;

static bool ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) return false;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = x;
    return true;
}

/* A span of the input text; id >= 0 marks a special token already resolved. */
typedef struct { size_t off, len; int32_t id; } span;
typedef struct { span *v; size_t n, cap; } svec;

static bool svec_push(svec *a, size_t off, size_t len, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        span *v = realloc(a->v, cap * sizeof *v);
        if (!v) return false;
        a->v = v, a->cap = cap;
    }
    a->v[a->n++] = (span){off, len, id};
    return true;
}

/* A growable byte buffer. */
typedef struct { char *p; size_t n, cap; } bbuf;

static bool bbuf_add(bbuf *b, const void *src, size_t len) {
    if (b->n + len > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return false;
        b->p = p, b->cap = cap;
    }
    if (len) memcpy(b->p + b->n, src, len);
    b->n += len;
    return true;
}

/* Binary min-heap of merge candidates ordered by (key, left position): BPE uses the merge
 * rank as key, SentencePiece the negated score, so both pop the best, leftmost pair first. */
typedef struct { double key; int32_t l, r; int32_t a, b; } cand;
typedef struct { cand *v; size_t n, cap; } heap;

static bool cand_less(const cand *x, const cand *y) {
    return x->key < y->key || (x->key == y->key && x->l < y->l);
}

static bool heap_push(heap *h, cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        cand *v = realloc(h->v, cap * sizeof *v);
        if (!v) return false;
        h->v = v, h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

static cand heap_pop(heap *h) {
    cand top = h->v[0], last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_less(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_less(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* ==========================================================================
 * GPT-2 byte <-> character table
 * ==========================================================================
 * Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves; the other 68
 * bytes take code points 256, 257, ... in byte order (so space 0x20 is U+0120 'Ġ'). */

static bool gpt2_self(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t tok_gpt2_byte_to_cp(uint8_t b) {
    if (gpt2_self(b)) return b;
    uint32_t k = 0;
    for (unsigned i = 0; i < b; i++) k += !gpt2_self(i);
    return 256 + k;
}

int tok_gpt2_cp_to_byte(uint32_t cp) {
    if (cp < 256) return gpt2_self(cp) ? (int)cp : -1;
    uint32_t k = 256;
    for (unsigned i = 0; i < 256; i++)
        if (!gpt2_self(i) && k++ == cp) return (int)i;
    return -1;
}

static size_t utf8_put(char *dst, uint32_t cp) {
    if (cp < 0x80) { dst[0] = (char)cp; return 1; }
    if (cp < 0x800) { dst[0] = (char)(0xC0 | cp >> 6); dst[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        dst[0] = (char)(0xE0 | cp >> 12); dst[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        dst[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    dst[0] = (char)(0xF0 | cp >> 18); dst[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    dst[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); dst[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one UTF-8 character at s (n bytes left). Returns its length (>= 1) and the code
 * point in *cp, or -1 in *cp for a malformed sequence (length 1 then). */
static int utf8_get(const uint8_t *s, size_t n, int32_t *cp) {
    int len = tok_utf8_len(s[0]);
    if (len == 1) { *cp = s[0] < 0x80 ? s[0] : -1; return 1; }
    if ((size_t)len > n) { *cp = -1; return 1; }
    uint32_t v = s[0] & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = -1; return 1; }
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = (int32_t)v;
    return len;
}

/* ==========================================================================
 * Hashing
 * ========================================================================== */

static uint64_t hash_bytes(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;   /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static uint64_t hash_u64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* First occurrence of needle (nl >= 1 bytes) in hay[0..hl), or NULL. */
static const char *find_bytes(const char *hay, size_t hl, const char *needle, size_t nl) {
    if (nl == 0 || hl < nl) return NULL;
    const char *end = hay + (hl - nl);
    for (const char *p = hay; p <= end;) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (!p) return NULL;
        if (!memcmp(p, needle, nl)) return p;
        p++;
    }
    return NULL;
}

static inline const char *tok_text(const mlxn_tokenizer_t *t, int32_t id) { return t->text + t->text_off[id]; }

int32_t mlxn_tokenizer_find_token(const mlxn_tokenizer_t *t, const char *s, size_t len) {
    if (!t || !t->map || (!s && len)) return -1;
    uint64_t mask = t->map_cap - 1, i = hash_bytes(s, len) & mask;
    for (;; i = (i + 1) & mask) {
        int32_t id = t->map[i];
        if (id < 0) return -1;
        if (t->text_len[id] == len && !memcmp(tok_text(t, id), s, len)) return id;
    }
}

/* Returns (rank, merged id) of the pair, or rank -1. */
static int32_t merge_find(const mlxn_tokenizer_t *t, int32_t a, int32_t b, int32_t *res) {
    if (!t->mcap) return -1;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b, mask = t->mcap - 1;
    for (uint64_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
        if (t->mkey[i] == UINT64_MAX) return -1;
        if (t->mkey[i] == key) { *res = t->mres[i]; return t->mrank[i]; }
    }
}

/* ==========================================================================
 * Builder
 * ========================================================================== */

static const struct { const char *name; tok_pre pre; } pre_names[] = {
    {"default", TOK_PRE_GPT2},  {"gpt-2", TOK_PRE_GPT2},       {"gpt2", TOK_PRE_GPT2},
    {"llama-bpe", TOK_PRE_LLAMA3}, {"llama3", TOK_PRE_LLAMA3}, {"llama-v3", TOK_PRE_LLAMA3},
    {"qwen2", TOK_PRE_QWEN2},   {"deepseek-r1-qwen", TOK_PRE_QWEN2},
    {"qwen35", TOK_PRE_QWEN35}, {"falcon", TOK_PRE_FALCON},
    {"smollm", TOK_PRE_SMOLLM}, {"starcoder", TOK_PRE_SMOLLM}, {"refact", TOK_PRE_SMOLLM},
    {"command-r", TOK_PRE_SMOLLM}, {"mpt", TOK_PRE_GPT2},
};

mlxn_status tok_new(const char *model, const char *pre, int32_t n_vocab, mlxn_tokenizer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: out is NULL");
    *out = NULL;
    if (!model) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: model is NULL");
    tok_kind kind;
    if (!strcmp(model, "gpt2") || !strcmp(model, "gemma4")) kind = TOK_BPE;
    else if (!strcmp(model, "llama")) kind = TOK_SPM;
    else
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer.ggml.model '%s' is not supported (gpt2, gemma4, llama)",
                         model);
    if (n_vocab <= 0) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: vocabulary size %d", (int)n_vocab);

    mlxn_tokenizer_t *t = calloc(1, sizeof *t);
    if (!t) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory");
    t->kind = kind;
    t->n = n_vocab;
    snprintf(t->model_name, sizeof t->model_name, "%s", model);
    t->text_off = calloc((size_t)n_vocab, sizeof *t->text_off);
    t->text_len = calloc((size_t)n_vocab, sizeof *t->text_len);
    t->score = calloc((size_t)n_vocab, sizeof *t->score);
    t->type = malloc((size_t)n_vocab);
    if (!t->text_off || !t->text_len || !t->score || !t->type) {
        mlxn_tokenizer_free(t);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for %d tokens", (int)n_vocab);
    }
    memset(t->type, MLXN_TOKEN_CONTROL, (size_t)n_vocab);   /* unset entries never match text */
    t->bos = t->eos = t->eot = t->unk = t->pad = -1;
    t->add_bos = kind == TOK_SPM;
    t->add_space_prefix = kind == TOK_SPM;
    t->byte_level = kind == TOK_BPE;

    t->pre = TOK_PRE_GPT2;
    const char *pname = pre && *pre ? pre : "default";
    if (!strcmp(model, "gemma4")) {   /* its own pre-tokenizer whatever .pre says; BOS on */
        t->byte_level = false;
        t->pre = TOK_PRE_GEMMA4;
        t->add_bos = true;
        pname = "gemma4";
    } else if (kind == TOK_BPE) {
        size_t i = 0;
        for (; i < sizeof pre_names / sizeof pre_names[0]; i++)
            if (!strcmp(pname, pre_names[i].name)) break;
        if (i == sizeof pre_names / sizeof pre_names[0]) {   /* a guess would give wrong tokens quietly */
            char known[320];
            size_t k = 0;
            known[0] = 0;
            for (size_t j = 0; j < sizeof pre_names / sizeof pre_names[0] && k < sizeof known; j++) {
                int w = snprintf(known + k, sizeof known - k, "%s%s", j ? ", " : "", pre_names[j].name);
                if (w > 0) k += (size_t)w;
            }
            mlxn_tokenizer_free(t);
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer.ggml.pre '%s' is not supported (%s)", pname, known);
        }
        t->pre = pre_names[i].pre;
        t->ignore_merges = t->pre == TOK_PRE_LLAMA3;
    }
    snprintf(t->pre_name, sizeof t->pre_name, "%s", pname);
    *out = t;
    return MLXN_OK;
}

mlxn_status tok_set_token(mlxn_tokenizer_t *t, int32_t id, const char *text, size_t len, float score,
                          mlxn_token_type type) {
    if (!t || id < 0 || id >= t->n || (!text && len) || len > UINT32_MAX)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: bad token %d", (int)id);
    if (type < MLXN_TOKEN_UNDEFINED || type > MLXN_TOKEN_BYTE)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer.ggml.token_type[%d] = %d is not a token type", (int)id,
                         (int)type);
    if (t->text_used + len > t->text_cap) {
        size_t cap = t->text_cap ? t->text_cap : (size_t)t->n * 8;
        while (cap < t->text_used + len) cap *= 2;
        char *p = realloc(t->text, cap);
        if (!p) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for token text");
        t->text = p, t->text_cap = cap;
    }
    if (len) memcpy(t->text + t->text_used, text, len);
    t->text_off[id] = t->text_used;
    t->text_len[id] = (uint32_t)len;
    t->text_used += len;
    t->score[id] = score;
    t->type[id] = (uint8_t)(type == MLXN_TOKEN_UNDEFINED ? MLXN_TOKEN_NORMAL : type);
    return MLXN_OK;
}

/* Stores merge text a (la bytes) + ' ' + b (lb bytes; b NULL: a is the whole "A B" text). */
static mlxn_status add_merge(mlxn_tokenizer_t *t, const char *a, size_t la, const char *b, size_t lb, uint32_t split) {
    if (t->merge_src_n == INT32_MAX || la + lb + 1 > UINT32_MAX)
        return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: too many or too long merges");
    if (t->merge_src_n == t->merge_src_cap) {
        int32_t cap = t->merge_src_cap ? (t->merge_src_cap > INT32_MAX / 2 ? INT32_MAX : t->merge_src_cap * 2) : 1024;
        char **s = realloc(t->merge_src, (size_t)cap * sizeof *s);
        if (s) t->merge_src = s;
        uint32_t *l = realloc(t->merge_src_len, (size_t)cap * sizeof *l);
        if (l) t->merge_src_len = l;
        uint32_t *sp = realloc(t->merge_src_split, (size_t)cap * sizeof *sp);
        if (sp) t->merge_src_split = sp;
        if (!s || !l || !sp) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for merges");
        t->merge_src_cap = cap;
    }
    size_t len = b ? la + 1 + lb : la;
    char *c = malloc(len + 1);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for merges");
    if (la) memcpy(c, a, la);
    if (b) {
        c[la] = ' ';
        if (lb) memcpy(c + la + 1, b, lb);
    }
    c[len] = 0;
    t->merge_src[t->merge_src_n] = c;
    t->merge_src_split[t->merge_src_n] = split;
    t->merge_src_len[t->merge_src_n++] = (uint32_t)len;
    return MLXN_OK;
}

mlxn_status tok_add_merge(mlxn_tokenizer_t *t, const char *text, size_t len) {
    if (!t || (!text && len)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: bad merge");
    return add_merge(t, text, len, NULL, 0, UINT32_MAX);
}

mlxn_status tok_add_merge_pair(mlxn_tokenizer_t *t, const char *a, size_t la, const char *b, size_t lb) {
    if (!t || (!a && la) || (!b && lb)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: bad merge");
    if (la > UINT32_MAX - 2) return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer: merge part of %zu bytes", la);
    return add_merge(t, a, la, b ? b : "", lb, (uint32_t)la);
}

mlxn_status tok_set_chat_template(mlxn_tokenizer_t *t, const char *text, size_t len) {
    char *c = malloc(len + 1);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for the chat template");
    memcpy(c, text, len);
    c[len] = 0;
    free(t->chat_template);
    t->chat_template = c;
    return MLXN_OK;
}

static mlxn_status build_map(mlxn_tokenizer_t *t) {
    t->map_cap = pow2_at_least((uint64_t)t->n * 2);
    t->map = malloc(t->map_cap * sizeof *t->map);
    if (!t->map) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for the token map");
    memset(t->map, 0xFF, t->map_cap * sizeof *t->map);
    uint64_t mask = t->map_cap - 1;
    for (int32_t id = 0; id < t->n; id++) {
        const char *s = tok_text(t, id);
        size_t len = t->text_len[id];
        for (uint64_t i = hash_bytes(s, len) & mask;; i = (i + 1) & mask) {
            int32_t o = t->map[i];
            if (o < 0 || (t->text_len[o] == len && !memcmp(tok_text(t, o), s, len))) {
                t->map[i] = id;   /* a duplicate entry: the later id wins */
                break;
            }
        }
    }
    return MLXN_OK;
}

#define MERGES_KEY(t) ((t)->source[0] ? "model.merges" : "tokenizer.ggml.merges")

/* Merges "A B" -> (id(A), id(B)) -> (rank, id(AB)). The separator is the first space after
 * the first byte, so A may itself be a lone space in vocabularies without byte mapping. */
static mlxn_status build_merges(mlxn_tokenizer_t *t) {
    int32_t m = t->merge_src_n;
    if (!m) return MLXN_OK;
    t->mcap = pow2_at_least((uint64_t)m * 2);
    t->mkey = malloc(t->mcap * sizeof *t->mkey);
    t->mrank = malloc(t->mcap * sizeof *t->mrank);
    t->mres = malloc(t->mcap * sizeof *t->mres);
    char *tmp = NULL;
    size_t tmp_cap = 0;
    if (!t->mkey || !t->mrank || !t->mres) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for merges");
    memset(t->mkey, 0xFF, t->mcap * sizeof *t->mkey);
    uint64_t mask = t->mcap - 1;
    for (int32_t r = 0; r < m; r++) {
        const char *s = t->merge_src[r];
        size_t len = t->merge_src_len[r];
        const char *sp = t->merge_src_split[r] != UINT32_MAX ? s + t->merge_src_split[r]
                         : len > 1                           ? memchr(s + 1, ' ', len - 1)
                                                             : NULL;
        if (!sp) {
            free(tmp);
            return mlxn_fail(MLXN_ERR_FORMAT, "%s[%d] '%.*s' has no space separating two tokens", MERGES_KEY(t),
                             (int)r, (int)(len > 64 ? 64 : len), s);
        }
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        int32_t a = mlxn_tokenizer_find_token(t, s, la), b = mlxn_tokenizer_find_token(t, sp + 1, lb);
        if (la + lb > tmp_cap) {
            tmp_cap = (la + lb) * 2;
            char *p = realloc(tmp, tmp_cap);
            if (!p) { free(tmp); return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory"); }
            tmp = p;
        }
        memcpy(tmp, s, la);
        memcpy(tmp + la, sp + 1, lb);
        int32_t ab = mlxn_tokenizer_find_token(t, tmp, la + lb);
        if ((a < 0 || b < 0 || ab < 0) && t->strict_merges) {   /* the reference refuses such a file */
            const char *what = a < 0 ? s : b < 0 ? sp + 1 : tmp;
            size_t wl = a < 0 ? la : b < 0 ? lb : la + lb;
            mlxn_status st = mlxn_fail(MLXN_ERR_FORMAT, "%s[%d] '%.*s': %s '%.*s' is not in the vocabulary",
                                       MERGES_KEY(t), (int)r, (int)(len > 64 ? 64 : len), s,
                                       a < 0 ? "left part" : b < 0 ? "right part" : "merged token",
                                       (int)(wl > 64 ? 64 : wl), what);
            free(tmp);
            return st;
        }
        /* A merge whose parts or result are not tokens can never fire on token symbols. */
        if (a < 0 || b < 0 || ab < 0) { t->n_merges_skipped++; continue; }
        uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        for (uint64_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
            if (t->mkey[i] == key) break;   /* repeated pair: the first (lowest) rank stays */
            if (t->mkey[i] == UINT64_MAX) {
                t->mkey[i] = key, t->mrank[i] = r, t->mres[i] = ab;
                t->n_merges++;
                break;
            }
        }
    }
    free(tmp);
    if (t->n_merges_skipped)
        mlxn_log(MLXN_LOG_DEBUG, "tokenizer: %d merges name strings outside the vocabulary; ignored",
                 (int)t->n_merges_skipped);
    for (int32_t r = 0; r < m; r++) free(t->merge_src[r]);
    free(t->merge_src);
    free(t->merge_src_len);
    free(t->merge_src_split);
    t->merge_src = NULL, t->merge_src_len = NULL, t->merge_src_split = NULL, t->merge_src_n = t->merge_src_cap = 0;
    return MLXN_OK;
}

/* Bytes each token stands for (see mlxn_token_to_piece). */
static mlxn_status build_pieces(mlxn_tokenizer_t *t) {
    int cp2b[324];
    for (int i = 0; i < 324; i++) cp2b[i] = -1;
    for (int b = 0; b < 256; b++) cp2b[tok_gpt2_byte_to_cp((uint8_t)b)] = b;

    t->piece_off = malloc((size_t)t->n * sizeof *t->piece_off);
    t->piece_len = malloc((size_t)t->n * sizeof *t->piece_len);
    t->piece = malloc(t->text_used + 16);   /* pieces are never longer than texts, except SPM unknown */
    size_t cap = t->text_used + 16, used = 0;
    if (!t->piece_off || !t->piece_len || !t->piece)
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for pieces");
    for (int32_t id = 0; id < t->n; id++) {
        const uint8_t *s = (const uint8_t *)tok_text(t, id);
        size_t len = t->text_len[id], k = 0;
        int type = t->type[id];
        if (used + len + 8 > cap) {   /* "<unk>" -> " ⁇ " may grow by a few bytes */
            cap = (used + len + 8) * 2;
            char *p = realloc(t->piece, cap);
            if (!p) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory for pieces");
            t->piece = p;
        }
        char *dst = t->piece + used;
        if (type == MLXN_TOKEN_CONTROL || type == MLXN_TOKEN_USER_DEFINED ||
            (type == MLXN_TOKEN_UNKNOWN && (t->byte_level || t->char_unk))) {   /* tokenizer.json: its text */
            memcpy(dst, s, len), k = len;
        } else if (type == MLXN_TOKEN_UNKNOWN) {
            memcpy(dst, " \xE2\x81\x87 ", 5), k = 5;   /* SentencePiece renders <unk> as " ⁇ " */
        } else if (!t->byte_level && type == MLXN_TOKEN_BYTE && len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
            unsigned v;
            char hex[3] = {(char)s[3], (char)s[4], 0};
            char *end;
            v = (unsigned)strtoul(hex, &end, 16);
            if (*end) memcpy(dst, s, len), k = len;
            else dst[k++] = (char)v;
        } else if (!t->byte_level) {
            for (size_t i = 0; i < len;) {
                if (i + 3 <= len && s[i] == 0xE2 && s[i + 1] == 0x96 && s[i + 2] == 0x81) dst[k++] = ' ', i += 3;
                else dst[k++] = (char)s[i++];
            }
        } else {   /* byte-level BPE: each character is one byte */
            for (size_t i = 0; i < len;) {
                int32_t cp;
                int n = utf8_get(s + i, len - i, &cp);
                if (cp >= 0 && cp < 324 && cp2b[cp] >= 0) dst[k++] = (char)cp2b[cp];
                else memcpy(dst + k, s + i, (size_t)n), k += (size_t)n;   /* not from the table: keep */
                i += (size_t)n;
            }
        }
        t->piece_off[id] = used;
        t->piece_len[id] = (uint32_t)k;
        used += k;
    }
    return MLXN_OK;
}

static int cmp_special(const int32_t *a, const int32_t *b, const mlxn_tokenizer_t *t) {
    int32_t x = *a, y = *b;
    if (t->text_len[x] != t->text_len[y]) return t->text_len[x] > t->text_len[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* Longest text first, then by id (qsort has no context argument in C11: a merge sort). */
static void sort_special(mlxn_tokenizer_t *t) {
    int32_t *a = t->special, n = t->n_special;
    int32_t *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!tmp) {   /* fall back to insertion sort */
        for (int32_t i = 1; i < n; i++)
            for (int32_t j = i; j > 0 && cmp_special(&a[j], &a[j - 1], t) < 0; j--) {
                int32_t s = a[j]; a[j] = a[j - 1]; a[j - 1] = s;
            }
        return;
    }
    for (int32_t w = 1; w < n; w *= 2) {
        for (int32_t lo = 0; lo < n; lo += 2 * w) {
            int32_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int32_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) tmp[k++] = cmp_special(&a[j], &a[i], t) < 0 ? a[j++] : a[i++];
            while (i < mid) tmp[k++] = a[i++];
            while (j < hi) tmp[k++] = a[j++];
        }
        memcpy(a, tmp, (size_t)n * sizeof *a);
    }
    free(tmp);
}

static const char *const PAT_GPT2 =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char *const PAT_LLAMA3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const PAT_QWEN2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Qwen3.5: the Qwen2 regex with combining marks (\p{M}) counted as part of words */
static const char *const PAT_QWEN35 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}"
    "| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char *const PAT_DIGIT = "\\p{N}";
/* Falcon: runs of punctuation and ASCII symbols apart, then GPT-2, then digits in threes */
static const char *const PAT_PUNCT = "[\\p{P}\\$\\+<=>\\^~\\|`]+";
static const char *const PAT_DIGIT3 = "[0-9][0-9][0-9]";
static const char *const PAT_NEWLINES = "[^\\n]+|\\n+";

static mlxn_status build_regex(mlxn_tokenizer_t *t) {
    const char *pats[TOK_MAX_REGEX] = {0};
    int n = 0;
    switch (t->pre) {
    case TOK_PRE_GPT2: pats[n++] = PAT_GPT2; break;
    case TOK_PRE_LLAMA3: pats[n++] = PAT_LLAMA3; break;
    case TOK_PRE_QWEN2: pats[n++] = PAT_QWEN2; break;
    case TOK_PRE_QWEN35: pats[n++] = PAT_QWEN35; break;
    case TOK_PRE_FALCON: pats[n++] = PAT_PUNCT; pats[n++] = PAT_GPT2; pats[n++] = PAT_DIGIT3; break;
    case TOK_PRE_SMOLLM: pats[n++] = PAT_DIGIT; pats[n++] = PAT_GPT2; break;
    case TOK_PRE_GEMMA4: pats[n++] = PAT_NEWLINES; break;
    case TOK_PRE_NONE: break;
    }
    for (int i = 0; i < n; i++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer '%s' regex failed at %zu: %s",
                             t->pre_name, (size_t)off, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* optional: the interpreter is the fallback */
        t->re[t->n_re++] = re;
    }
    return MLXN_OK;
}

/* Texts of control tokens that end a turn in the families we run. */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<turn|>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "<|return|>", "<|call|>",
};

static void add_eog(mlxn_tokenizer_t *t, int32_t id) {
    if (id < 0 || id >= t->n || t->n_eog == TOK_MAX_EOG) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    t->eog[t->n_eog++] = id;
}

mlxn_status tok_build(mlxn_tokenizer_t *t) {
    if (!t) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenizer: NULL");
    MLXN_TRY(build_map(t));
    if (t->kind == TOK_BPE) MLXN_TRY(build_merges(t));
    MLXN_TRY(build_pieces(t));

    for (int b = 0; b < 256; b++) {
        if (t->byte_level) {
            char buf[4];
            size_t k = utf8_put(buf, tok_gpt2_byte_to_cp((uint8_t)b));
            t->byte_tok[b] = mlxn_tokenizer_find_token(t, buf, k);
        } else {
            char buf[8];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            int32_t id = t->no_byte_fallback ? -1 : mlxn_tokenizer_find_token(t, buf, 6);
            if (id < 0 && b < 0x80 && !t->no_byte_fallback) {   /* no byte token: the character itself, as SentencePiece does */
                char c = (char)b;
                id = mlxn_tokenizer_find_token(t, &c, 1);
            }
            t->byte_tok[b] = id;
        }
    }

    t->special = malloc((size_t)t->n * sizeof *t->special);
    if (!t->special) return mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenizer: out of memory");
    for (int32_t id = 0; id < t->n; id++) {
        int ty = t->type[id];
        if ((ty == MLXN_TOKEN_CONTROL || ty == MLXN_TOKEN_USER_DEFINED || ty == MLXN_TOKEN_UNKNOWN) &&
            t->text_len[id] > 0)
            t->special[t->n_special++] = id;
    }
    sort_special(t);

    const int32_t *ids[] = {&t->bos, &t->eos, &t->eot, &t->unk, &t->pad};
    static const char *names[] = {"bos", "eos", "eot", "unknown", "padding"};
    for (int i = 0; i < 5; i++)
        if (*ids[i] >= t->n)
            return mlxn_fail(MLXN_ERR_FORMAT, "tokenizer.ggml.%s_token_id = %d is outside the vocabulary (%d tokens)",
                             names[i], (int)*ids[i], (int)t->n);
    add_eog(t, t->eos);
    add_eog(t, t->eot);
    for (size_t i = 0; i < sizeof EOG_TEXTS / sizeof EOG_TEXTS[0]; i++) {
        int32_t id = mlxn_tokenizer_find_token(t, EOG_TEXTS[i], strlen(EOG_TEXTS[i]));
        if (id >= 0 && (t->type[id] == MLXN_TOKEN_CONTROL || t->type[id] == MLXN_TOKEN_USER_DEFINED)) add_eog(t, id);
    }
    if (t->kind == TOK_BPE) MLXN_TRY(build_regex(t));
    return MLXN_OK;
}

void mlxn_tokenizer_free(mlxn_tokenizer_t *t) {
    if (!t) return;
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    for (int32_t r = 0; r < t->merge_src_n; r++) free(t->merge_src[r]);
    free(t->merge_src);
    free(t->merge_src_len);
    free(t->merge_src_split);
    free(t->text), free(t->text_off), free(t->text_len), free(t->score), free(t->type);
    free(t->piece), free(t->piece_off), free(t->piece_len);
    free(t->map), free(t->mkey), free(t->mrank), free(t->mres);
    free(t->special), free(t->chat_template), free(t->strip);
    free(t);
}

/* ==========================================================================
 * Accessors
 * ========================================================================== */

int32_t mlxn_tokenizer_n_vocab(const mlxn_tokenizer_t *t) { return t ? t->n : 0; }
const char *mlxn_tokenizer_model(const mlxn_tokenizer_t *t) { return t ? t->model_name : ""; }
const char *mlxn_tokenizer_pre(const mlxn_tokenizer_t *t) { return t ? t->pre_name : ""; }
int32_t mlxn_tokenizer_bos(const mlxn_tokenizer_t *t) { return t ? t->bos : -1; }
int32_t mlxn_tokenizer_eos(const mlxn_tokenizer_t *t) { return t ? t->eos : -1; }
int32_t mlxn_tokenizer_eot(const mlxn_tokenizer_t *t) { return t ? t->eot : -1; }
int32_t mlxn_tokenizer_unk(const mlxn_tokenizer_t *t) { return t ? t->unk : -1; }
int32_t mlxn_tokenizer_pad(const mlxn_tokenizer_t *t) { return t ? t->pad : -1; }
bool mlxn_tokenizer_add_bos(const mlxn_tokenizer_t *t) { return t && t->add_bos && t->bos >= 0; }
bool mlxn_tokenizer_add_eos(const mlxn_tokenizer_t *t) { return t && t->add_eos && t->eos >= 0; }
const char *mlxn_tokenizer_chat_template(const mlxn_tokenizer_t *t) { return t ? t->chat_template : NULL; }

bool mlxn_tokenizer_is_eog(const mlxn_tokenizer_t *t, int32_t id) {
    if (!t || id < 0) return false;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return true;
    return false;
}

mlxn_token_type mlxn_tokenizer_token_type(const mlxn_tokenizer_t *t, int32_t id) {
    if (!t || id < 0 || id >= t->n) return MLXN_TOKEN_UNDEFINED;
    return (mlxn_token_type)t->type[id];
}

mlxn_str mlxn_tokenizer_token_text(const mlxn_tokenizer_t *t, int32_t id) {
    if (!t || id < 0 || id >= t->n) return (mlxn_str){NULL, 0};
    return (mlxn_str){tok_text(t, id), t->text_len[id]};
}

/* ==========================================================================
 * Encoding
 * ========================================================================== */

/* Scratch for one word's merge loop: a doubly linked list of symbols over the word. */
typedef struct {
    int32_t *id, *prev, *next;
    size_t *start, *len;   /* byte span of each symbol in the word (SPM: in the escaped text) */
    size_t cap;
    heap h;
    bbuf word;             /* BPE: the byte-mapped word (ignore_merges); SPM: escaped text */
} scratch;

static bool scratch_reserve(scratch *s, size_t n) {
    if (n <= s->cap) return true;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(s->id, cap * sizeof *a);
    if (a) s->id = a;
    int32_t *b = realloc(s->prev, cap * sizeof *b);
    if (b) s->prev = b;
    int32_t *c = realloc(s->next, cap * sizeof *c);
    if (c) s->next = c;
    size_t *d = realloc(s->start, cap * sizeof *d);
    if (d) s->start = d;
    size_t *e = realloc(s->len, cap * sizeof *e);
    if (e) s->len = e;
    if (!a || !b || !c || !d || !e) return false;
    s->cap = cap;
    return true;
}

static void scratch_free(scratch *s) {
    free(s->id), free(s->prev), free(s->next), free(s->start), free(s->len);
    free(s->h.v), free(s->word.p);
}

#define OOM() mlxn_fail(MLXN_ERR_NO_MEMORY, "tokenize: out of memory")

static bool bpe_try_pair(const mlxn_tokenizer_t *t, scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || s->id[l] < 0 || s->id[r] < 0) return true;
    int32_t res;
    int32_t rank = merge_find(t, s->id[l], s->id[r], &res);
    if (rank < 0) return true;
    return heap_push(&s->h, (cand){(double)rank, l, r, s->id[l], s->id[r]});
}

/* Merges the n symbols in s (ids, linked list) by rank until no ranked pair is left. */
static mlxn_status bpe_merge(const mlxn_tokenizer_t *t, scratch *s, size_t n) {
    s->h.n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (!bpe_try_pair(t, s, (int32_t)i, (int32_t)i + 1)) return OOM();
    while (s->h.n) {
        cand c = heap_pop(&s->h);
        /* stale: one side was merged away or changed since the candidate was queued */
        if (s->id[c.l] != c.a || s->next[c.l] != c.r || s->id[c.r] != c.b || s->prev[c.r] != c.l) continue;
        int32_t res = -1;
        merge_find(t, c.a, c.b, &res);
        s->id[c.l] = res;
        s->len[c.l] += s->len[c.r];
        s->id[c.r] = -2;   /* dead */
        s->next[c.l] = s->next[c.r];
        if (s->next[c.r] >= 0) s->prev[s->next[c.r]] = c.l;
        s->prev[c.r] = s->next[c.r] = -1;
        if (!bpe_try_pair(t, s, s->prev[c.l], c.l) || !bpe_try_pair(t, s, c.l, s->next[c.l])) return OOM();
    }
    return MLXN_OK;
}

/* Pushes the token of byte b: its byte token, else <unk>. */
static mlxn_status push_byte(const mlxn_tokenizer_t *t, uint8_t b, ivec *out) {
    int32_t id = t->byte_tok[b] >= 0 ? t->byte_tok[b] : t->unk;
    if (id < 0)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenize: byte 0x%02x has no token and the vocabulary has no unknown "
                         "token", b);
    return ivec_push(out, id) ? MLXN_OK : OOM();
}

/* BPE of one pre-tokenized word: byte-level (one GPT-2 character per byte) or over UTF-8
 * characters with byte fallback for what stays outside the vocabulary. */
static mlxn_status bpe_word(const mlxn_tokenizer_t *t, scratch *s, const uint8_t *w, size_t n, ivec *out) {
    if (n == 0) return MLXN_OK;
    if (t->ignore_merges && !t->byte_level) {
        int32_t id = mlxn_tokenizer_find_token(t, (const char *)w, n);
        if (id >= 0) return ivec_push(out, id) ? MLXN_OK : OOM();
    } else if (t->ignore_merges) {   /* a word that is a token is emitted whole, merges or not */
        s->word.n = 0;
        for (size_t i = 0; i < n; i++) {
            char buf[4];
            if (!bbuf_add(&s->word, buf, utf8_put(buf, tok_gpt2_byte_to_cp(w[i])))) return OOM();
        }
        int32_t id = mlxn_tokenizer_find_token(t, s->word.p, s->word.n);
        if (id >= 0) return ivec_push(out, id) ? MLXN_OK : OOM();
    }
    if (n > INT32_MAX || !scratch_reserve(s, n)) return OOM();
    size_t ns = 0;
    for (size_t i = 0; i < n; ns++) {
        size_t cl = 1;
        if (t->byte_level) {
            s->id[ns] = t->byte_tok[w[i]];
        } else {
            cl = tok_utf8_char(w + i, n - i);
            s->id[ns] = mlxn_tokenizer_find_token(t, (const char *)w + i, cl);
        }
        s->start[ns] = i, s->len[ns] = cl;
        s->prev[ns] = (int32_t)ns - 1;
        s->next[ns] = i + cl < n ? (int32_t)ns + 1 : -1;
        i += cl;
    }
    MLXN_TRY(bpe_merge(t, s, ns));
    bool last_unk = false;   /* the previous symbol became <unk> (fuse_unk) */
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        if (s->id[i] >= 0) {
            if (!ivec_push(out, s->id[i])) return OOM();
            last_unk = false;
            continue;
        }
        if (t->char_unk && t->unk >= 0) {   /* tokenizer.json: all byte tokens of the character, else one <unk> */
            bool all = true;
            for (size_t k = 0; k < s->len[i]; k++) all = all && t->byte_tok[w[s->start[i] + k]] >= 0;
            if (!all) {
                if (!(t->fuse_unk && last_unk) && !ivec_push(out, t->unk)) return OOM();
                last_unk = true;
                continue;
            }
        }
        last_unk = false;
        for (size_t k = 0; k < s->len[i]; k++) MLXN_TRY(push_byte(t, w[s->start[i] + k], out));
    }
    return MLXN_OK;
}

/* Splits the spans in *in with regex re; text between matches is kept as spans. */
static mlxn_status regex_split(const char *text, const svec *in, pcre2_code *re, pcre2_match_data *md, svec *out) {
    out->n = 0;
    for (size_t k = 0; k < in->n; k++) {
        const uint8_t *subj = (const uint8_t *)text + in->v[k].off;
        size_t len = in->v[k].len, pos = 0, from = 0;
        while (from < len) {
            int rc = pcre2_match(re, subj, len, from, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenize: pre-tokenizer regex failed at byte %zu: %s",
                                 in->v[k].off + from, (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t s = ov[0], e = ov[1];
            if (e <= s) {   /* empty match: step over one character, it joins the next gap */
                if (s >= len) break;
                from = s + tok_utf8_char(subj + s, len - s);
                continue;
            }
            if (s > pos && !svec_push(out, in->v[k].off + pos, s - pos, -1)) return OOM();
            if (!svec_push(out, in->v[k].off + s, e - s, -1)) return OOM();
            pos = from = e;
        }
        if (pos < len && !svec_push(out, in->v[k].off + pos, len - pos, -1)) return OOM();
    }
    return MLXN_OK;
}

/* Runs the pre-tokenizer regexes over text[off..off+len); the words land in *words. */
static mlxn_status pretokenize(const mlxn_tokenizer_t *t, const char *text, size_t off, size_t len, svec *words) {
    svec b = {0};
    mlxn_status st = MLXN_OK;
    words->n = 0;
    if (!svec_push(words, off, len, -1)) return OOM();
    for (int i = 0; i < t->n_re && !st; i++) {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re[i], NULL);
        if (!md) { st = OOM(); break; }
        st = regex_split(text, words, t->re[i], md, &b);
        pcre2_match_data_free(md);
        svec tmp = *words; *words = b; b = tmp;
    }
    free(b.v);
    return st;
}

mlxn_status tok_pretokenize(const mlxn_tokenizer_t *t, const char *text, size_t len, size_t **spans, size_t *n) {
    svec w = {0};
    *spans = NULL, *n = 0;
    if (!t || t->kind != TOK_BPE) return mlxn_fail(MLXN_ERR_INVALID_ARG, "pretokenize: not a BPE tokenizer");
    mlxn_status st = pretokenize(t, text, 0, len, &w);
    if (!st) {
        *spans = malloc((w.n ? w.n : 1) * 2 * sizeof **spans);
        if (!*spans) st = OOM();
        for (size_t i = 0; !st && i < w.n; i++) (*spans)[2 * i] = w.v[i].off, (*spans)[2 * i + 1] = w.v[i].len;
        if (!st) *n = w.n;
    }
    free(w.v);
    return st;
}

static mlxn_status bpe_fragment(const mlxn_tokenizer_t *t, scratch *s, const char *text, size_t off, size_t len,
                                ivec *out) {
    svec w = {0};
    bbuf esc = {0};
    if (!t->byte_level) {   /* spaces become "▁" before the split, with the "▁" prefix where asked */
        static const char SP[3] = {(char)0xE2, (char)0x96, (char)0x81};
        /* Metaspace adds no prefix to text that already starts with one (a space or a "▁") */
        bool lead_space = len && (text[off] == ' ' || (len >= 3 && !memcmp(text + off, SP, 3)));
        bool prefix = t->prefix == TOK_PREFIX_EVERY || (t->prefix == TOK_PREFIX_UNLESS_SPACE && !lead_space) ||
                      (t->prefix == TOK_PREFIX_FIRST && off == 0 && !lead_space);
        if (len && prefix && !bbuf_add(&esc, SP, 3)) return OOM();
        for (size_t i = 0; i < len; i++)
            if (!(text[off + i] == ' ' ? bbuf_add(&esc, SP, 3) : bbuf_add(&esc, &text[off + i], 1))) {
                free(esc.p);
                return OOM();
            }
        text = esc.p ? esc.p : "", off = 0, len = esc.n;
    }
    mlxn_status st = pretokenize(t, text, off, len, &w);
    for (size_t k = 0; k < w.n && !st; k++)
        st = bpe_word(t, s, (const uint8_t *)text + w.v[k].off, w.v[k].len, out);
    free(w.v);
    free(esc.p);
    return st;
}

/* A SentencePiece merge may produce any token except control, unknown and byte entries,
 * which the reference never matches from text. */
static bool spm_mergeable(const mlxn_tokenizer_t *t, int32_t id) {
    int ty = t->type[id];
    return ty != MLXN_TOKEN_CONTROL && ty != MLXN_TOKEN_UNKNOWN && ty != MLXN_TOKEN_BYTE;
}

static bool spm_try_pair(const mlxn_tokenizer_t *t, scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    size_t n = s->len[l] + s->len[r];
    int32_t id = mlxn_tokenizer_find_token(t, s->word.p + s->start[l], n);
    if (id < 0 || !spm_mergeable(t, id)) return true;
    return heap_push(&s->h, (cand){-(double)t->score[id], l, r, (int32_t)n, id});
}

/* SentencePiece BPE of one raw fragment: spaces become "▁", an optional "▁" in front,
 * then the best-scoring adjacent pair that is a token merges first. */
static mlxn_status spm_fragment(const mlxn_tokenizer_t *t, scratch *s, const char *text, size_t len, bool prefix,
                                ivec *out) {
    s->word.n = 0;
    static const char SP[3] = {(char)0xE2, (char)0x96, (char)0x81};
    if (prefix && !bbuf_add(&s->word, SP, 3)) return OOM();
    for (size_t i = 0; i < len; i++)
        if (!(text[i] == ' ' ? bbuf_add(&s->word, SP, 3) : bbuf_add(&s->word, &text[i], 1))) return OOM();
    const uint8_t *w = (const uint8_t *)s->word.p;
    size_t n = s->word.n, ns = 0;
    if (n > INT32_MAX || !scratch_reserve(s, n)) return OOM();
    for (size_t i = 0; i < n; ns++) {
        size_t cl = tok_utf8_char(w + i, n - i);
        s->start[ns] = i, s->len[ns] = cl;
        s->prev[ns] = (int32_t)ns - 1;
        s->next[ns] = -1;
        if (ns) s->next[ns - 1] = (int32_t)ns;
        i += cl;
    }
    s->h.n = 0;
    for (size_t i = 0; i + 1 < ns; i++)
        if (!spm_try_pair(t, s, (int32_t)i, (int32_t)i + 1)) return OOM();
    while (s->h.n) {
        cand c = heap_pop(&s->h);
        if (s->len[c.l] == 0 || s->len[c.r] == 0 || s->next[c.l] != c.r || s->len[c.l] + s->len[c.r] != (size_t)c.a)
            continue;
        s->len[c.l] += s->len[c.r];
        s->len[c.r] = 0;
        s->next[c.l] = s->next[c.r];
        if (s->next[c.r] >= 0) s->prev[s->next[c.r]] = c.l;
        if (!spm_try_pair(t, s, s->prev[c.l], c.l) || !spm_try_pair(t, s, c.l, s->next[c.l])) return OOM();
    }
    for (int32_t i = ns ? 0 : -1; i >= 0; i = s->next[i]) {
        int32_t id = mlxn_tokenizer_find_token(t, s->word.p + s->start[i], s->len[i]);
        if (id >= 0 && spm_mergeable(t, id)) {
            if (!ivec_push(out, id)) return OOM();
            continue;
        }
        for (size_t k = 0; k < s->len[i]; k++) {   /* byte fallback */
            int32_t b = t->byte_tok[w[s->start[i] + k]];
            if (b < 0) b = t->unk;
            if (b < 0)
                return mlxn_fail(MLXN_ERR_UNSUPPORTED, "tokenize: byte 0x%02x has no token and the vocabulary has no "
                                 "unknown token", w[s->start[i] + k]);
            if (!ivec_push(out, b)) return OOM();
            if (b == t->unk) break;   /* one unknown token stands for the whole character */
        }
    }
    return MLXN_OK;
}

/* Unicode White_Space (what lstrip / rstrip of tokenizer.json added tokens remove). */
static bool is_white(int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

/* Length of the white-space character at s (n bytes left), or 0. */
static size_t space_at(const uint8_t *s, size_t n) {
    int32_t cp;
    int len = utf8_get(s, n, &cp);
    return is_white(cp) ? (size_t)len : 0;
}

/* Length of the white-space character that ends s[0..n), or 0. */
static size_t space_before(const uint8_t *s, size_t n) {
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        if ((s[n - k] & 0xC0) == 0x80) continue;
        int32_t cp;
        return (size_t)utf8_get(s + n - k, k, &cp) == k && is_white(cp) ? k : 0;
    }
    return 0;
}

/* Cuts the text at every occurrence of a special token, longest tokens first. Control and
 * unknown tokens only when parse_special; user-defined tokens always. */
static mlxn_status partition(const mlxn_tokenizer_t *t, const char *text, size_t len, bool parse_special, svec *frags) {
    svec other = {0};
    frags->n = 0;
    if (len && !svec_push(frags, 0, len, -1)) return OOM();
    for (int32_t k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k];
        if (!parse_special && t->type[id] != MLXN_TOKEN_USER_DEFINED) continue;
        const char *tt = tok_text(t, id);
        size_t tl = t->text_len[id];
        bool any = false;
        for (size_t f = 0; f < frags->n && !any; f++)
            any = frags->v[f].id < 0 && frags->v[f].len >= tl && find_bytes(text + frags->v[f].off, frags->v[f].len, tt, tl);
        if (!any) continue;
        other.n = 0;
        for (size_t f = 0; f < frags->n; f++) {
            span sp = frags->v[f];
            if (sp.id >= 0) {
                if (!svec_push(&other, sp.off, sp.len, sp.id)) goto oom;
                continue;
            }
            size_t pos = sp.off, end = sp.off + sp.len;
            for (;;) {
                const char *hit = find_bytes(text + pos, end - pos, tt, tl);
                if (!hit) break;
                size_t h = (size_t)(hit - text), e = h + tl;
                uint8_t strip = t->strip ? t->strip[id] : 0;
                for (size_t k; (strip & TOK_LSTRIP) && h > pos && (k = space_before((const uint8_t *)text + pos, h - pos));)
                    h -= k;   /* lstrip: the white space before the token goes with it */
                for (size_t k; (strip & TOK_RSTRIP) && e < end && (k = space_at((const uint8_t *)text + e, end - e));)
                    e += k;
                if (h > pos && !svec_push(&other, pos, h - pos, -1)) goto oom;
                if (!svec_push(&other, h, e - h, id)) goto oom;
                pos = e;
            }
            if (pos < end && !svec_push(&other, pos, end - pos, -1)) goto oom;
        }
        svec tmp = *frags; *frags = other; other = tmp;
    }
    free(other.v);
    return MLXN_OK;
oom:
    free(other.v);
    return OOM();
}

mlxn_status mlxn_tokenize(const mlxn_tokenizer_t *t, const char *text, size_t len, bool add_special,
                          bool parse_special, int32_t *ids, size_t capacity, size_t *n_tokens) {
    if (n_tokens) *n_tokens = 0;
    if (!t || !n_tokens || (!text && len) || (!ids && capacity))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenize: NULL tokenizer, text, ids or n_tokens");
    ivec out = {0};
    svec frags = {0};
    scratch s = {0};
    mlxn_status st = MLXN_OK;
    if (add_special && t->add_bos && t->bos >= 0 && !ivec_push(&out, t->bos)) { st = OOM(); goto done; }
    st = partition(t, text, len, parse_special, &frags);
    bool prev_special = true;   /* SentencePiece: a space prefix on text that starts or follows a special token */
    for (size_t f = 0; f < frags.n && !st; f++) {
        span sp = frags.v[f];
        if (sp.id >= 0) {
            if (!ivec_push(&out, sp.id)) st = OOM();
            prev_special = true;
            continue;
        }
        if (t->kind == TOK_BPE) st = bpe_fragment(t, &s, text, sp.off, sp.len, &out);
        else st = spm_fragment(t, &s, text + sp.off, sp.len, t->add_space_prefix && prev_special, &out);
        prev_special = false;
    }
    if (!st && add_special && t->add_eos && t->eos >= 0 && !ivec_push(&out, t->eos)) st = OOM();
    if (st) goto done;
    *n_tokens = out.n;
    if (out.n > capacity) {
        st = ids ? mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenize: %zu tokens do not fit in a buffer of %zu", out.n, capacity)
                 : mlxn_fail(MLXN_ERR_INVALID_ARG, "tokenize: %zu tokens, no buffer given", out.n);
        goto done;
    }
    if (out.n) memcpy(ids, out.v, out.n * sizeof *ids);
done:
    free(out.v), free(frags.v);
    scratch_free(&s);
    return st;
}

/* ==========================================================================
 * Decoding
 * ========================================================================== */

mlxn_status mlxn_token_to_piece(const mlxn_tokenizer_t *t, int32_t id, bool special, const char **piece,
                                size_t *len) {
    if (!t || !piece || !len) return mlxn_fail(MLXN_ERR_INVALID_ARG, "token_to_piece: NULL argument");
    *piece = "", *len = 0;
    if (id < 0 || id >= t->n)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "token_to_piece: token id %d outside the vocabulary (%d tokens)", (int)id,
                         (int)t->n);
    if (t->type[id] == MLXN_TOKEN_CONTROL && !special) return MLXN_OK;
    *piece = t->piece + t->piece_off[id];
    *len = t->piece_len[id];
    return MLXN_OK;
}

static bool strips_prefix(const mlxn_tokenizer_t *t, unsigned flags) {
    return (flags & MLXN_DETOK_STRIP_PREFIX) && ((t->kind == TOK_SPM && t->add_space_prefix) ||
                                                 (!t->byte_level && t->prefix != TOK_PREFIX_NONE));
}

mlxn_status mlxn_detokenize(const mlxn_tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags, char *buf,
                            size_t cap, size_t *len) {
    if (!t || !len || (!ids && n) || (!buf && cap)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenize: NULL argument");
    *len = 0;
    bool strip = strips_prefix(t, flags);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = "";
        size_t pl = 0;
        MLXN_TRY(mlxn_token_to_piece(t, ids[i], flags & MLXN_DETOK_SPECIAL, &p, &pl));
        if (strip && pl) {
            if (p[0] == ' ') p++, pl--;
            strip = false;
        }
        if (total + pl <= cap) memcpy(buf + total, p, pl);
        total += pl;
    }
    *len = total;
    if (total > cap) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenize: %zu bytes do not fit in %zu", total, cap);
    if (total < cap) buf[total] = 0;
    return MLXN_OK;
}

struct mlxn_detokenizer {
    const mlxn_tokenizer_t *t;
    unsigned flags;
    bool strip;          /* the prefix space is still to be dropped */
    uint8_t held[4];     /* the start of a UTF-8 sequence waiting for its continuation bytes */
    int n_held;
    bbuf out;
};

mlxn_status mlxn_detokenizer_new(const mlxn_tokenizer_t *t, unsigned flags, mlxn_detokenizer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenizer: out is NULL");
    *out = NULL;
    if (!t) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenizer: tokenizer is NULL");
    mlxn_detokenizer_t *d = calloc(1, sizeof *d);
    if (!d) return mlxn_fail(MLXN_ERR_NO_MEMORY, "detokenizer: out of memory");
    d->t = t;
    d->flags = flags;
    d->strip = strips_prefix(t, flags);
    *out = d;
    return MLXN_OK;
}

void mlxn_detokenizer_free(mlxn_detokenizer_t *d) {
    if (!d) return;
    free(d->out.p);
    free(d);
}

void mlxn_detokenizer_reset(mlxn_detokenizer_t *d) {
    if (!d) return;
    d->n_held = 0;
    d->out.n = 0;
    d->strip = strips_prefix(d->t, d->flags);
}

/* Length of the sequence lead byte c starts, 0 if c can never start one. */
static int utf8_need(uint8_t c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Whether s[0..n) (n < the sequence length) can still be completed into a valid character. */
static bool utf8_viable_prefix(const uint8_t *s, int n) {
    if (n >= 2) {
        uint8_t c = s[0], d = s[1];
        if ((c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) || (c == 0xF0 && d < 0x90) || (c == 0xF4 && d > 0x8F))
            return false;
    }
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return false;
    return true;
}

mlxn_status mlxn_detokenizer_push(mlxn_detokenizer_t *d, int32_t id, const char **text, size_t *len) {
    if (!d || !text || !len) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenizer_push: NULL argument");
    *text = "", *len = 0;
    const char *p = "";
    size_t pl = 0;
    MLXN_TRY(mlxn_token_to_piece(d->t, id, d->flags & MLXN_DETOK_SPECIAL, &p, &pl));
    if (d->strip && pl) {
        if (p[0] == ' ') p++, pl--;
        d->strip = false;
    }
    d->out.n = 0;
    if (!bbuf_add(&d->out, d->held, (size_t)d->n_held) || !bbuf_add(&d->out, p, pl))
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "detokenizer: out of memory");
    d->n_held = 0;
    /* Hold back a trailing sequence that is incomplete but could still become valid. */
    const uint8_t *o = (const uint8_t *)d->out.p;
    size_t n = d->out.n;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = o[n - back];
        if ((c & 0xC0) == 0x80) continue;   /* continuation byte: look further back */
        int need = utf8_need(c);
        if (need > (int)back && utf8_viable_prefix(o + n - back, (int)back)) {
            memcpy(d->held, o + n - back, back);
            d->n_held = (int)back;
            n -= back;
        }
        break;
    }
    *text = d->out.p ? d->out.p : "";
    *len = n;
    return MLXN_OK;
}

mlxn_status mlxn_detokenizer_flush(mlxn_detokenizer_t *d, const char **text, size_t *len) {
    if (!d || !text || !len) return mlxn_fail(MLXN_ERR_INVALID_ARG, "detokenizer_flush: NULL argument");
    d->out.n = 0;
    if (!bbuf_add(&d->out, d->held, (size_t)d->n_held)) return mlxn_fail(MLXN_ERR_NO_MEMORY, "detokenizer: out of memory");
    d->n_held = 0;
    *text = d->out.p ? d->out.p : "";
    *len = d->out.n;
    return MLXN_OK;
}
