/* Internal tokenizer interface: the handle's layout and a builder that takes a vocabulary
 * entry by entry. mlxn_tokenizer_from_gguf() (tokenizer_gguf.c) reads the metadata and
 * feeds the builder; tests build small vocabularies by hand the same way. */
#ifndef MLXN_ENGINE_TOKENIZER_H
#define MLXN_ENGINE_TOKENIZER_H
#include "mlxn.h"
#include "core/status.h"

typedef enum tok_kind { TOK_BPE = 1, TOK_SPM = 2 } tok_kind;

/* Pre-tokenizers of byte-level BPE: a sequence of regexes, each splitting every piece the
 * previous one left (text between matches is kept as pieces of its own). */
typedef enum tok_pre {
    TOK_PRE_GPT2 = 0,    /* classic GPT-2 regex (default, gpt-2, mpt) */
    TOK_PRE_LLAMA3,      /* Llama 3 regex (digits in runs of 1-3), whole-word vocab hits */
    TOK_PRE_QWEN2,       /* Llama 3 regex with single digits */
    TOK_PRE_QWEN35,      /* Qwen2 regex, combining marks (\p{M}) inside words */
    TOK_PRE_SMOLLM,      /* every digit alone, then the GPT-2 regex (smollm, starcoder, refact, command-r) */
    TOK_PRE_FALCON,      /* punctuation runs apart, then the GPT-2 regex, then digits in threes */
    TOK_PRE_GEMMA4,      /* runs of newlines apart from everything else; spaces are "▁" */
    TOK_PRE_NONE,        /* no split: each fragment is one word (SentencePiece-style BPE of tokenizer.json) */
} tok_pre;

/* Where BPE over UTF-8 characters (byte_level false) puts a "▁" in front of a fragment, as the
 * tokenizer.json normalizer / Metaspace pre-tokenizer asks (GGUF "llama" uses add_space_prefix). */
typedef enum tok_prefix {
    TOK_PREFIX_NONE = 0,
    TOK_PREFIX_EVERY,          /* every fragment (normalizer Prepend "▁") */
    TOK_PREFIX_UNLESS_SPACE,   /* every fragment not starting with a space (Metaspace "always") */
    TOK_PREFIX_FIRST,          /* only a fragment at text offset 0, not starting with a space (Metaspace "first") */
} tok_prefix;

#define TOK_LSTRIP 1
#define TOK_RSTRIP 2
#define TOK_MAX_REGEX 3
#define TOK_MAX_EOG 16

struct mlxn_tokenizer {
    mlxn_errbuf err;
    tok_kind kind;
    tok_pre pre;
    bool byte_level;           /* BPE over GPT-2 byte characters ("gpt2"); false: over UTF-8
                                  characters with "▁" spaces and <0xXX> fallback ("gemma4") */
    char model_name[32];
    char pre_name[64];
    int32_t n;                 /* vocabulary size */

    /* vocabulary entries, as stored: text of id i is text + text_off[i], text_len[i] bytes */
    char *text;                /* (sum of lengths) */
    uint64_t *text_off;        /* (n) */
    uint32_t *text_len;        /* (n) */
    float *score;              /* (n) SentencePiece merge scores; 0 for BPE */
    uint8_t *type;             /* (n) mlxn_token_type */
    size_t text_used, text_cap;

    /* decoded pieces (bytes a token stands for), built by tok_build */
    char *piece;               /* (sum of piece lengths) */
    uint64_t *piece_off;       /* (n) */
    uint32_t *piece_len;       /* (n) */

    /* text -> id, open addressing, -1 = empty; duplicates: the last id wins */
    int32_t *map;              /* (map_cap) */
    uint64_t map_cap;

    /* BPE merges: (left id, right id) -> (rank, merged id), open addressing */
    uint64_t *mkey;            /* (mcap) left << 32 | right; UINT64_MAX = empty */
    int32_t *mrank;            /* (mcap) */
    int32_t *mres;             /* (mcap) */
    uint64_t mcap;
    int32_t n_merges;          /* merges added (ranks 0..n_merges-1) */
    int32_t n_merges_skipped;  /* merges naming strings absent from the vocabulary */
    char **merge_src;          /* pending merge strings until tok_build */
    uint32_t *merge_src_len;
    uint32_t *merge_src_split;  /* length of the left part, or UINT32_MAX: split at the first space */
    int32_t merge_src_n, merge_src_cap;
    bool strict_merges;        /* a merge naming a string outside the vocabulary fails the build
                                  (tokenizer.json) instead of being skipped (GGUF) */
    bool no_byte_fallback;     /* byte_level false: characters outside the vocabulary become <unk>,
                                  never <0xXX> (tokenizer.json byte_fallback false) */
    tok_prefix prefix;         /* byte_level false: the "▁" put in front of fragments */
    bool char_unk;             /* byte_level false: a character without all its byte tokens is one
                                  <unk> (tokenizer.json), not one token per byte (GGUF) */
    bool fuse_unk;             /* with char_unk: consecutive <unk> in a word become one */
    char source[16];           /* "gguf" or "tokenizer.json": names the keys in messages */
    uint8_t *strip;            /* (n) or NULL: TOK_LSTRIP / TOK_RSTRIP of added tokens (tokenizer.json):
                                  white space before / after a matched token is taken into it */

    /* byte b -> token: BPE: the token of the byte's GPT-2 character; SPM: "<0xXX>". -1 if none */
    int32_t byte_tok[256];

    int32_t bos, eos, eot, unk, pad;
    bool add_bos, add_eos, add_space_prefix, ignore_merges;
    int32_t eog[TOK_MAX_EOG];
    int n_eog;

    /* control / user-defined / unknown tokens, longest text first */
    int32_t *special;
    int32_t n_special;

    void *re[TOK_MAX_REGEX];   /* pcre2_code_8* */
    int n_re;

    char *chat_template;
};

/* Builder: tok_new, then tok_set_token for every id (unset ids are empty CONTROL entries),
 * tok_add_merge in rank order (BPE), tok_set_* for the special ids, then tok_build.
 * model: "gpt2", "gemma4" or "llama"; pre: a pre-tokenizer name or NULL for the default.
 * Every function returns a status; on failure the message names the entry. */
mlxn_status tok_new(const char *model, const char *pre, int32_t n_vocab, mlxn_tokenizer_t **out);
mlxn_status tok_set_token(mlxn_tokenizer_t *t, int32_t id, const char *text, size_t len, float score,
                          mlxn_token_type type);
mlxn_status tok_add_merge(mlxn_tokenizer_t *t, const char *text, size_t len);
/* A merge given as its two parts (tokenizer.json [a, b] pairs; a part may hold spaces). */
mlxn_status tok_add_merge_pair(mlxn_tokenizer_t *t, const char *a, size_t la, const char *b, size_t lb);
mlxn_status tok_set_chat_template(mlxn_tokenizer_t *t, const char *text, size_t len);
/* Builds lookup tables, decoded pieces, special-token list, regexes. Ids of bos/eos/... must
 * be set in the struct fields before (or left at -1). */
mlxn_status tok_build(mlxn_tokenizer_t *t);

/* BPE only: the words the pre-tokenizer cuts text into, as (offset, length) pairs in a
 * malloc'd array of 2 * *n entries (caller frees). For tests and debugging. */
mlxn_status tok_pretokenize(const mlxn_tokenizer_t *t, const char *text, size_t len, size_t **spans, size_t *n);

/* GPT-2's byte -> code point table (printable bytes map to themselves, the rest to 256+). */
uint32_t tok_gpt2_byte_to_cp(uint8_t b);
/* Inverse; -1 for a code point outside the table. */
int tok_gpt2_cp_to_byte(uint32_t cp);

/* Length of the sequence a lead byte
 * starts (1 for invalid leads). */
static inline int tok_utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1;
}

/* Length of the character at s (n >= 1 bytes left): the lead byte's length when the
 * continuation bytes are there, else 1, so a malformed byte never swallows its neighbours. */
static inline size_t tok_utf8_char(const uint8_t *s, size_t n) {
    size_t len = (size_t)tok_utf8_len(s[0]);
    if (len > n) return 1;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 1;
    return len;
}
#endif
