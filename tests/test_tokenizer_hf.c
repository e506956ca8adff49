/* Tokenizer from a Hugging Face tokenizer.json (mlxn_tokenizer_load_hf) on tiny hand-written
 * files: a byte-level BPE and a SentencePiece-style BPE that tokenize as worked out by hand,
 * tokenizer_config.json and chat_template.jinja, then a table of malformed or unsupported
 * files, each failing with the expected status and a message naming the problem. The
 * comparison with the reference library on real vocabularies is tests/py/test_tokenizer_hf.py. */
#define _DEFAULT_SOURCE   /* mkdtemp */
#include "engine/tokenizer.h"
#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static char dir_buf[256];

static void write_file(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir_buf, name);
    FILE *f = fopen(path, "wb");
    if (!f) { CHECKF(0, "cannot write %s", path); return; }
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir_buf, name);
    unlink(path);
}

/* The parts of a tokenizer.json; NULL takes the byte-level default. */
typedef struct {
    const char *type, *vocab, *merges, *pre, *norm, *post, *added, *model_extra;
} parts;

#define BL_VOCAB "{\"h\": 0, \"i\": 1, \"hi\": 2, \"\xC4\xA0\": 3, \"\xC4\xA0hi\": 4, \"!\": 5, \"<|end|>\": 6, \"<tool>\": 7}"
#define BL_MERGES "[\"h i\", [\"\xC4\xA0\", \"hi\"]]"
#define BL_PRE "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}"
#define BL_ADDED                                                                                                       \
    "[{\"id\": 6, \"content\": \"<|end|>\", \"special\": true}, {\"id\": 7, \"content\": \"<tool>\", \"special\": false}]"

static const char *make_json(parts p) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"version\": \"1.0\", \"added_tokens\": %s, \"normalizer\": %s, \"pre_tokenizer\": %s,"
             " \"post_processor\": %s, \"decoder\": null,"
             " \"model\": {\"type\": \"%s\", %s \"vocab\": %s, \"merges\": %s}}",
             p.added ? p.added : BL_ADDED, p.norm ? p.norm : "null", p.pre ? p.pre : BL_PRE, p.post ? p.post : "null",
             p.type ? p.type : "BPE", p.model_extra ? p.model_extra : "", p.vocab ? p.vocab : BL_VOCAB,
             p.merges ? p.merges : BL_MERGES);
    return buf;
}

static int enc(const mlxn_tokenizer_t *t, const char *s, bool special, int32_t *out, int cap) {
    size_t n = 0;
    mlxn_status st = mlxn_tokenize(t, s, strlen(s), special, special, out, (size_t)cap, &n);
    if (st) {
        printf("  tokenize '%s': %s: %s\n", s, mlxn_status_str(st), mlxn_last_error());
        return -1;
    }
    return (int)n;
}

static bool ids_eq(const int32_t *got, int n, const int32_t *want, int nw) {
    if (n != nw) return false;
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) return false;
    return true;
}

/* ==========================================================================
 * Tokenizers that load
 * ========================================================================== */

static void test_byte_level(void) {
    write_file("tokenizer.json", make_json((parts){0}));
    remove_file("tokenizer_config.json");
    mlxn_tokenizer_t *t = NULL;
    mlxn_status st = mlxn_tokenizer_load_hf(dir_buf, &t);
    if (!CHECKF(st == MLXN_OK && t, "load: %s", mlxn_last_error())) return;
    CHECK(mlxn_tokenizer_n_vocab(t) == 8 && !strcmp(mlxn_tokenizer_model(t), "gpt2"));
    CHECK(!strcmp(mlxn_tokenizer_pre(t), "gpt-2"));
    CHECK(mlxn_tokenizer_token_type(t, 6) == MLXN_TOKEN_CONTROL);
    CHECK(mlxn_tokenizer_token_type(t, 7) == MLXN_TOKEN_USER_DEFINED);
    int32_t ids[16];
    int n = enc(t, "hi hi!", false, ids, 16);
    CHECKF(ids_eq(ids, n, (int32_t[]){2, 4, 5}, 3), "'hi hi!' -> %d ids", n);
    n = enc(t, "hi<|end|>", true, ids, 16);     /* special token parsed */
    CHECKF(ids_eq(ids, n, (int32_t[]){2, 6}, 2), "special -> %d ids", n);
    n = enc(t, "hi<tool>hi", false, ids, 16);   /* a non-special added token is always matched */
    CHECKF(ids_eq(ids, n, (int32_t[]){2, 7, 2}, 3), "user-defined -> %d ids", n);
    char buf[64];
    size_t len = 0;
    st = mlxn_detokenize(t, (int32_t[]){2, 4, 5}, 3, 0, buf, sizeof buf, &len);
    CHECKF(st == MLXN_OK && len == 6 && !memcmp(buf, "hi hi!", 6), "detokenize '%.*s'", (int)len, buf);
    CHECK(mlxn_tokenizer_bos(t) == -1 && !mlxn_tokenizer_add_bos(t) && !mlxn_tokenizer_chat_template(t));
    mlxn_tokenizer_free(t);

    /* tokenizer_config.json: BOS added, EOS named, chat template; chat_template.jinja wins */
    write_file("tokenizer_config.json", "{\"bos_token\": {\"content\": \"<|end|>\"}, \"eos_token\": \"<tool>\","
                                        " \"add_bos_token\": true, \"chat_template\": \"CONFIG\"}");
    st = mlxn_tokenizer_load_hf(dir_buf, &t);
    if (CHECKF(st == MLXN_OK, "load with config: %s", mlxn_last_error())) {
        n = enc(t, "hi", true, ids, 16);
        CHECKF(ids_eq(ids, n, (int32_t[]){6, 2}, 2), "BOS from config -> %d ids", n);
        CHECK(mlxn_tokenizer_eos(t) == 7 && mlxn_tokenizer_is_eog(t, 7));
        CHECK(mlxn_tokenizer_chat_template(t) && !strcmp(mlxn_tokenizer_chat_template(t), "CONFIG"));
        mlxn_tokenizer_free(t);
    }
    write_file("chat_template.jinja", "{{ JINJA }}");
    char file[512];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir_buf);   /* the file path reads its neighbours too */
    st = mlxn_tokenizer_load_hf(file, &t);
    if (CHECKF(st == MLXN_OK, "load by file: %s", mlxn_last_error())) {
        CHECK(mlxn_tokenizer_chat_template(t) && !strcmp(mlxn_tokenizer_chat_template(t), "{{ JINJA }}"));
        mlxn_tokenizer_free(t);
    }
    remove_file("chat_template.jinja");
    remove_file("tokenizer_config.json");

    /* a post-processor template adds BOS; the Llama 3 Split + ByteLevel layout is recognised */
    write_file("tokenizer.json",
               make_json((parts){
                   .pre = "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
                          "\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
                          "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, "
                          "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                          "\"add_prefix_space\": false, \"use_regex\": false}]}",
                   .post = "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<|end|>\", "
                           "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": "
                           "{\"<|end|>\": {\"id\": \"<|end|>\", \"ids\": [6], \"tokens\": [\"<|end|>\"]}}}",
                   .model_extra = "\"ignore_merges\": true,"}));
    st = mlxn_tokenizer_load_hf(dir_buf, &t);
    if (CHECKF(st == MLXN_OK, "llama3 layout: %s", mlxn_last_error())) {
        CHECK(!strcmp(mlxn_tokenizer_pre(t), "llama-bpe"));
        n = enc(t, "hi hi", true, ids, 16);
        CHECKF(ids_eq(ids, n, (int32_t[]){6, 2, 4}, 3), "template BOS -> %d ids", n);
        mlxn_tokenizer_free(t);
    }
}

#define SP_VOCAB                                                                                                       \
    "{\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2, \"\xE2\x96\x81\": 3, \"h\": 4, \"i\": 5, \"hi\": 6, \"\xE2\x96\x81hi\": 7," \
    " \"<0x21>\": 8}"
#define SP_ADDED                                                                                                       \
    "[{\"id\": 0, \"content\": \"<unk>\", \"special\": true}, {\"id\": 1, \"content\": \"<s>\", \"special\": true}," \
    " {\"id\": 2, \"content\": \"</s>\", \"special\": true}]"
#define SP_NORM                                                                                                        \
    "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"},"              \
    " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xE2\x96\x81\"}]}"
#define SP_POST                                                                                                        \
    "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}},"          \
    " {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1]}}}"

static parts spm_parts(void) {
    return (parts){.vocab = SP_VOCAB, .merges = "[\"h i\", \"\xE2\x96\x81 hi\"]", .pre = "null", .norm = SP_NORM,
                   .post = SP_POST, .added = SP_ADDED,
                   .model_extra = "\"byte_fallback\": true, \"unk_token\": \"<unk>\", \"fuse_unk\": true,"};
}

static void test_sentencepiece_style(void) {
    write_file("tokenizer.json", make_json(spm_parts()));
    mlxn_tokenizer_t *t = NULL;
    mlxn_status st = mlxn_tokenizer_load_hf(dir_buf, &t);
    if (!CHECKF(st == MLXN_OK && t, "load: %s", mlxn_last_error())) return;
    CHECK(!strcmp(mlxn_tokenizer_model(t), "llama") && mlxn_tokenizer_unk(t) == 0);
    /* <unk> is an added special token here, so it stays a control token (hidden unless asked) */
    CHECK(mlxn_tokenizer_token_type(t, 8) == MLXN_TOKEN_BYTE && mlxn_tokenizer_token_type(t, 0) == MLXN_TOKEN_CONTROL);
    int32_t ids[16];
    int n = enc(t, "hi hi!", true, ids, 16);   /* "▁hi▁hi!": BOS, ▁hi twice, '!' by byte fallback */
    CHECKF(ids_eq(ids, n, (int32_t[]){1, 7, 7, 8}, 4), "'hi hi!' -> %d ids", n);
    n = enc(t, "h?", false, ids, 16);          /* '?' has no byte token: <unk> */
    CHECKF(ids_eq(ids, n, (int32_t[]){3, 4, 0}, 3), "'h?' -> %d ids", n);
    char buf[64];
    size_t len = 0;
    st = mlxn_detokenize(t, (int32_t[]){1, 7, 7, 8}, 4, MLXN_DETOK_STRIP_PREFIX, buf, sizeof buf, &len);
    CHECKF(st == MLXN_OK && len == 6 && !memcmp(buf, "hi hi!", 6), "detokenize '%.*s'", (int)len, buf);
    mlxn_tokenizer_free(t);

    /* no byte token for a character: one <unk>, consecutive ones fused when fuse_unk */
    static const char *const fuse_opts[] = {"true", "false"};
    for (int f = 0; f < 2; f++) {
        parts q = spm_parts();
        char extra[160];
        snprintf(extra, sizeof extra, "\"byte_fallback\": true, \"unk_token\": \"<unk>\", \"fuse_unk\": %s,",
                 fuse_opts[f]);
        q.model_extra = extra;
        write_file("tokenizer.json", make_json(q));
        st = mlxn_tokenizer_load_hf(dir_buf, &t);
        if (!CHECKF(st == MLXN_OK, "fuse_unk %s: %s", fuse_opts[f], mlxn_last_error())) continue;
        n = enc(t, "h\xE2\x82\xAC\xE2\x82\xAC!", false, ids, 16);   /* "h€€!" */
        if (f == 0) CHECKF(ids_eq(ids, n, (int32_t[]){3, 4, 0, 8}, 4), "fused unk -> %d ids", n);
        else CHECKF(ids_eq(ids, n, (int32_t[]){3, 4, 0, 0, 8}, 5), "unfused unk -> %d ids", n);
        mlxn_tokenizer_free(t);
    }

    /* Metaspace "first": the prefix only on text at offset 0 */
    parts p = spm_parts();
    p.norm = "null";
    p.pre = "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"first\", \"split\": false}";
    write_file("tokenizer.json", make_json(p));
    st = mlxn_tokenizer_load_hf(dir_buf, &t);
    if (CHECKF(st == MLXN_OK, "metaspace: %s", mlxn_last_error())) {
        n = enc(t, "hi<s>hi", true, ids, 16);
        CHECKF(ids_eq(ids, n, (int32_t[]){1, 7, 1, 6}, 4), "'hi<s>hi' -> %d ids", n);
        mlxn_tokenizer_free(t);
    }
}

/* ==========================================================================
 * Errors
 * ========================================================================== */

typedef struct {
    const char *what;
    const char *json;          /* NULL: built from p */
    parts p;
    const char *config;        /* tokenizer_config.json or NULL */
    mlxn_status want;
    const char *words[3];      /* substrings the message must hold */
} err_case;

static void test_errors(void) {
    const err_case cases[] = {
        {"malformed JSON", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0,}}", {0}, NULL, MLXN_ERR_FORMAT,
         {"not valid JSON", "tokenizer.json", "line 1"}},
        {"top level array", "[1, 2]", {0}, NULL, MLXN_ERR_FORMAT, {"top level"}},
        {"no model", "{\"added_tokens\": []}", {0}, NULL, MLXN_ERR_FORMAT, {"\"model\""}},
        {"unknown model type", NULL, {.type = "Unigram"}, NULL, MLXN_ERR_UNSUPPORTED, {"model.type", "'Unigram'"}},
        {"WordPiece", NULL, {.type = "WordPiece"}, NULL, MLXN_ERR_UNSUPPORTED, {"'WordPiece'", "BPE"}},
        {"unknown pre-tokenizer", NULL, {.pre = "{\"type\": \"Whitespace\"}"}, NULL, MLXN_ERR_UNSUPPORTED,
         {"pre_tokenizer", "'Whitespace'"}},
        {"unknown Split regex", NULL,
         {.pre = "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"},"
                 " \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}"},
         NULL, MLXN_ERR_UNSUPPORTED, {"Split regex", "\\w+", "not a known pattern"}},
        {"Split behaviour", NULL,
         {.pre = "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\p{N}\"}, \"behavior\": \"Removed\"}"}, NULL,
         MLXN_ERR_UNSUPPORTED, {"behavior", "'Removed'"}},
        {"ByteLevel prefix space", NULL, {.pre = "{\"type\": \"ByteLevel\", \"add_prefix_space\": true}"}, NULL,
         MLXN_ERR_UNSUPPORTED, {"add_prefix_space"}},
        {"two regex steps nobody uses", NULL,
         {.pre = "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"ByteLevel\"}, {\"type\": \"Digits\","
                 " \"individual_digits\": true}]}"},
         NULL, MLXN_ERR_UNSUPPORTED, {"ByteLevel(regex), Digits(individual)", "not a supported combination"}},
        {"no ByteLevel and no metaspace", NULL, {.pre = "null"}, NULL, MLXN_ERR_UNSUPPORTED, {"no ByteLevel"}},
        {"Metaspace split", NULL,
         {.pre = "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": \"always\","
                 " \"split\": true}"},
         NULL, MLXN_ERR_UNSUPPORTED, {"Metaspace", "split"}},
        {"unknown normalizer", NULL, {.norm = "{\"type\": \"BertNormalizer\"}"}, NULL, MLXN_ERR_UNSUPPORTED,
         {"normalizer", "'BertNormalizer'"}},
        {"unknown post-processor", NULL, {.post = "{\"type\": \"BertProcessing\"}"}, NULL, MLXN_ERR_UNSUPPORTED,
         {"post_processor", "'BertProcessing'"}},
        {"merge left part unknown", NULL, {.merges = "[\"h i\", \"zz i\"]"}, NULL, MLXN_ERR_FORMAT,
         {"model.merges[1]", "left part 'zz'", "not in the vocabulary"}},
        {"merge right part unknown", NULL, {.merges = "[[\"h\", \"qq\"]]"}, NULL, MLXN_ERR_FORMAT,
         {"model.merges[0]", "right part 'qq'"}},
        {"merged token unknown", NULL, {.merges = "[\"i h\"]"}, NULL, MLXN_ERR_FORMAT,
         {"model.merges[0]", "merged token 'ih'"}},
        {"merge of three", NULL, {.merges = "[[\"h\", \"i\", \"x\"]]"}, NULL, MLXN_ERR_FORMAT, {"model.merges[0]"}},
        {"merge without space", NULL, {.merges = "[\"hi\"]"}, NULL, MLXN_ERR_FORMAT, {"model.merges[0]", "no space"}},
        {"vocab value not an id", NULL, {.vocab = "{\"a\": 0, \"b\": \"one\"}"}, NULL, MLXN_ERR_FORMAT,
         {"model.vocab['b']"}},
        {"vocab id negative", NULL, {.vocab = "{\"a\": -3}"}, NULL, MLXN_ERR_FORMAT, {"model.vocab['a']"}},
        {"two tokens one id", NULL, {.vocab = "{\"h\": 0, \"i\": 0}", .merges = "[]", .added = "[]"}, NULL,
         MLXN_ERR_FORMAT, {"id 0", "'h'", "'i'"}},
        {"added token without id", NULL, {.added = "[{\"content\": \"x\"}]"}, NULL, MLXN_ERR_FORMAT, {"added_tokens[0]"}},
        {"unk_token absent", NULL, {.model_extra = "\"unk_token\": \"<nope>\","}, NULL, MLXN_ERR_FORMAT,
         {"unk_token", "<nope>"}},
        {"config bos unknown", NULL, {0}, "{\"bos_token\": \"<bos>\"}", MLXN_ERR_FORMAT,
         {"tokenizer_config.json", "bos_token '<bos>'"}},
        {"config flag not bool", NULL, {0}, "{\"add_bos_token\": \"yes\"}", MLXN_ERR_TYPE, {"add_bos_token"}},
        {"config malformed", NULL, {0}, "{\"bos_token\": ", MLXN_ERR_FORMAT, {"tokenizer_config.json", "not valid"}},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        const err_case *c = &cases[i];
        write_file("tokenizer.json", c->json ? c->json : make_json(c->p));
        if (c->config) write_file("tokenizer_config.json", c->config);
        else remove_file("tokenizer_config.json");
        mlxn_tokenizer_t *t = (mlxn_tokenizer_t *)&cases;   /* must come back NULL */
        mlxn_status st = mlxn_tokenizer_load_hf(dir_buf, &t);
        const char *msg = mlxn_last_error();
        bool words = true;
        for (int k = 0; k < 3 && c->words[k]; k++) words = words && strstr(msg, c->words[k]);
        CHECKF(st == c->want && !t && words, "%s: status %s, message '%s'", c->what, mlxn_status_str(st), msg);
        if (getenv("TOKHF_SHOW")) printf("  %-30s %s\n", c->what, msg);
        if (st == MLXN_OK) mlxn_tokenizer_free(t);
    }
    remove_file("tokenizer_config.json");

    mlxn_tokenizer_t *t = NULL;
    char path[512];
    snprintf(path, sizeof path, "%s/absent", dir_buf);
    mlxn_status st = mlxn_tokenizer_load_hf(path, &t);
    CHECKF(st == MLXN_ERR_NOT_FOUND && strstr(mlxn_last_error(), "absent"), "missing folder: %s", mlxn_last_error());
    remove_file("tokenizer.json");
    st = mlxn_tokenizer_load_hf(dir_buf, &t);
    CHECKF(st == MLXN_ERR_NOT_FOUND && strstr(mlxn_last_error(), "tokenizer.json"), "folder without tokenizer.json: %s",
           mlxn_last_error());
    CHECK(mlxn_tokenizer_load_hf(NULL, &t) == MLXN_ERR_INVALID_ARG && !t);
    CHECK(mlxn_tokenizer_load_hf(dir_buf, NULL) == MLXN_ERR_INVALID_ARG);
}

int main(void) {
    snprintf(dir_buf, sizeof dir_buf, "/tmp/mlxn_tokhf_XXXXXX");
    if (!mkdtemp(dir_buf)) {
        CHECKF(0, "mkdtemp failed");
        return tu_finish();
    }
    test_byte_level();
    test_sentencepiece_style();
    test_errors();
    remove_file("tokenizer.json");
    remove_file("tokenizer_config.json");
    remove_file("chat_template.jinja");
    rmdir(dir_buf);
    return tu_finish();
}
