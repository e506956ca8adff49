/* Chat templates: recognising template texts, rendering each format exactly (default system
 * message, trimming, Gemma's folded system turn, generation prompt), buffer sizing, errors,
 * and the rendered control markers coming back as single tokens. */
#include "engine/tokenizer.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Abbreviated template texts in the style of each family (written for this test). */
static const char *const SMOL_LIKE =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";
static const char *const QWEN25_LIKE =
    "{%- if tools %}{{- '<|im_start|>system\\n' }}{%- if messages[0]['role'] == 'system' %}"
    "{{- messages[0]['content'] }}{%- endif %}{%- else %}{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}{%- else %}"
    "{{- '<|im_start|>system\\nYou are Qwen. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}{%- endif %}";
static const char *const QWEN3_LIKE =
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";
static const char *const LLAMA3_LIKE =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
static const char *const GEMMA_LIKE =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim "
    "+ '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";
static const char *const GEMMA4_LIKE =
    "{{- bos_token -}}{%- if messages[0]['role'] == 'system' -%}{{- '<|turn>system\n' -}}"
    "{{- messages[0]['content'] | trim -}}{{- '<turn|>\n' -}}{%- endif -%}{%- for message in loop_messages -%}"
    "{{- '<|turn>' + role + '\n' }}{{- message['content'] | trim -}}{{- '<turn|>\n' -}}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|turn>model\n' -}}{{- '<|channel>thought\n<channel|>' -}}{%- endif -%}";
static const char *const MISTRAL_LIKE = "{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}";

static void test_detect(void) {
    static const struct { const char *text; mlxn_status st; mlxn_chat_format f; const char *system; } cases[] = {
        {SMOL_LIKE, MLXN_OK, MLXN_CHAT_CHATML, "You are a helpful AI assistant named SmolLM, trained by Hugging Face"},
        {QWEN25_LIKE, MLXN_OK, MLXN_CHAT_CHATML, "You are Qwen. You are a helpful assistant."},
        {QWEN3_LIKE, MLXN_OK, MLXN_CHAT_CHATML, ""},
        {LLAMA3_LIKE, MLXN_OK, MLXN_CHAT_LLAMA3, ""},
        {GEMMA_LIKE, MLXN_OK, MLXN_CHAT_GEMMA, ""},
        {GEMMA4_LIKE, MLXN_OK, MLXN_CHAT_GEMMA4, ""},
        {MISTRAL_LIKE, MLXN_ERR_UNSUPPORTED, (mlxn_chat_format)0, NULL},
        {"", MLXN_ERR_UNSUPPORTED, (mlxn_chat_format)0, NULL},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        mlxn_chat_template_t *t = NULL;
        mlxn_status st = mlxn_chat_template_from_text(cases[i].text, &t);
        CHECKF(st == cases[i].st, "case %zu: %s", i, mlxn_status_str(st));
        if (st == MLXN_OK) {
            CHECKF(mlxn_chat_template_format(t) == cases[i].f, "case %zu: format %s", i, mlxn_chat_template_name(t));
            CHECKF(!strcmp(mlxn_chat_template_default_system(t), cases[i].system), "case %zu: system '%s'", i,
                   mlxn_chat_template_default_system(t));
        } else {
            CHECK(t == NULL && strstr(mlxn_last_error(), "not recognised"));
        }
        mlxn_chat_template_free(t);
    }
    mlxn_chat_template_t *t = NULL;
    CHECK(mlxn_chat_template_from_name("llama3", &t) == MLXN_OK && mlxn_chat_template_format(t) == MLXN_CHAT_LLAMA3);
    mlxn_chat_template_free(t);
    CHECK(mlxn_chat_template_from_name("vicuna", &t) == MLXN_ERR_NOT_FOUND && t == NULL);
    CHECK(mlxn_chat_template_from_text(NULL, &t) == MLXN_ERR_INVALID_ARG);
}

static void test_render(void) {
    static const mlxn_chat_message conv[] = {
        {"system", "Be brief."}, {"user", "  Hi there\n"}, {"assistant", "Hello!"}, {"user", "2+2?"},
    };
    static const struct { const char *tmpl; size_t first, n; bool gen; const char *want; } cases[] = {
        {SMOL_LIKE, 1, 1, true,
         "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
         "<|im_start|>user\n  Hi there\n<|im_end|>\n<|im_start|>assistant\n"},
        {SMOL_LIKE, 0, 4, false,
         "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n  Hi there\n<|im_end|>\n"
         "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\n2+2?<|im_end|>\n"},
        {QWEN3_LIKE, 1, 1, true, "<|im_start|>user\n  Hi there\n<|im_end|>\n<|im_start|>assistant\n"},
        {LLAMA3_LIKE, 0, 3, true,
         "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {GEMMA_LIKE, 0, 4, true,
         "<start_of_turn>user\nBe brief.\n\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
         "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n"},
        {GEMMA_LIKE, 1, 2, false, "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"},
        {QWEN3_LIKE, 0, 0, true, "<|im_start|>assistant\n"},
        {GEMMA4_LIKE, 0, 3, true,
         "<|turn>system\nBe brief.<turn|>\n<|turn>user\nHi there<turn|>\n<|turn>model\nHello!<turn|>\n"
         "<|turn>model\n<|channel>thought\n<channel|>"},
    };
    for (size_t i = 0; i < N_OF(cases); i++) {
        mlxn_chat_template_t *t = NULL;
        if (!CHECK(mlxn_chat_template_from_text(cases[i].tmpl, &t) == MLXN_OK)) continue;
        char buf[1024];
        size_t len = 0;
        mlxn_status st = mlxn_chat_render(t, conv + cases[i].first, cases[i].n, cases[i].gen, buf, sizeof buf, &len);
        if (!CHECKF(st == MLXN_OK && len == strlen(cases[i].want) && !strcmp(buf, cases[i].want), "render case %zu", i))
            printf("    got  [%s]\n    want [%s]\n", st ? mlxn_last_error() : buf, cases[i].want);
        /* sizing: NULL buffer gives the length; a short one fails */
        size_t need = 0;
        CHECK(mlxn_chat_render(t, conv + cases[i].first, cases[i].n, cases[i].gen, NULL, 0, &need) ==
                  (len ? MLXN_ERR_INVALID_ARG : MLXN_OK) && need == len);
        if (len > 1)
            CHECK(mlxn_chat_render(t, conv + cases[i].first, cases[i].n, cases[i].gen, buf, len - 1, &need) ==
                      MLXN_ERR_INVALID_ARG && need == len);
        mlxn_chat_template_free(t);
    }
    mlxn_chat_template_t *t = NULL;
    if (CHECK(mlxn_chat_template_from_name("chatml", &t) == MLXN_OK)) {
        const mlxn_chat_message bad[] = {{"", "x"}}, bad2[] = {{"user", NULL}};
        char buf[64];
        size_t len;
        CHECK(mlxn_chat_render(t, bad, 1, true, buf, sizeof buf, &len) == MLXN_ERR_INVALID_ARG);
        CHECK(mlxn_chat_render(t, bad2, 1, true, buf, sizeof buf, &len) == MLXN_ERR_INVALID_ARG);
        CHECK(mlxn_chat_render(NULL, bad, 1, true, buf, sizeof buf, &len) == MLXN_ERR_INVALID_ARG);
    }
    mlxn_chat_template_free(t);
}

/* A byte-level vocabulary with ChatML control tokens, optionally carrying a template. */
static mlxn_tokenizer_t *chatml_vocab(const char *tmpl) {
    mlxn_tokenizer_t *t = NULL;
    if (tok_new("gpt2", "smollm", 258, &t)) return NULL;
    for (int b = 0; b < 256; b++) {
        char buf[4];
        uint32_t cp = tok_gpt2_byte_to_cp((uint8_t)b);
        size_t k = cp < 0x80 ? 1 : 2;
        if (k == 1) buf[0] = (char)cp;
        else buf[0] = (char)(0xC0 | cp >> 6), buf[1] = (char)(0x80 | (cp & 63));
        tok_set_token(t, b, buf, k, 0, MLXN_TOKEN_NORMAL);
    }
    tok_set_token(t, 256, "<|im_start|>", 12, 0, MLXN_TOKEN_CONTROL);
    tok_set_token(t, 257, "<|im_end|>", 10, 0, MLXN_TOKEN_CONTROL);
    t->eos = 257;
    if (tmpl) tok_set_chat_template(t, tmpl, strlen(tmpl));
    if (tok_build(t)) { mlxn_tokenizer_free(t); return NULL; }
    return t;
}

static void test_with_tokenizer(void) {
    mlxn_tokenizer_t *tok = chatml_vocab(NULL);
    if (!CHECK(tok != NULL)) return;
    mlxn_chat_template_t *t = NULL;
    CHECK(mlxn_chat_template_for_tokenizer(tok, &t) == MLXN_OK && mlxn_chat_template_format(t) == MLXN_CHAT_CHATML);
    const mlxn_chat_message m[] = {{"user", "hi"}};
    char buf[256];
    size_t len = 0;
    if (t && CHECK(mlxn_chat_render(t, m, 1, true, buf, sizeof buf, &len) == MLXN_OK)) {
        int32_t ids[64];
        size_t n = 0;
        CHECK(mlxn_tokenize(tok, buf, len, true, true, ids, 64, &n) == MLXN_OK);
        /* <|im_start|> u s e r \n h i <|im_end|> \n <|im_start|> a s s i s t a n t \n */
        static const int32_t want[] = {256, 'u', 's', 'e', 'r', 0x0A, 'h', 'i', 257, 0x0A, 256, 'a', 's', 's', 'i',
                                       's', 't', 'a', 'n', 't', 0x0A};
        CHECK(n == N_OF(want) && !memcmp(ids, want, sizeof want));
        CHECK(mlxn_tokenizer_is_eog(tok, 257));
    }
    mlxn_chat_template_free(t);
    mlxn_tokenizer_free(tok);

    /* the template text wins over the vocabulary */
    tok = chatml_vocab(GEMMA_LIKE);
    if (CHECK(tok != NULL)) {
        CHECK(mlxn_chat_template_for_tokenizer(tok, &t) == MLXN_OK && mlxn_chat_template_format(t) == MLXN_CHAT_GEMMA);
        mlxn_chat_template_free(t);
        CHECK(!strcmp(mlxn_tokenizer_chat_template(tok), GEMMA_LIKE));
    }
    mlxn_tokenizer_free(tok);

    /* neither a template nor markers */
    if (tok_new("llama", NULL, 3, &tok) == MLXN_OK) {
        tok_set_token(tok, 0, "<unk>", 5, 0, MLXN_TOKEN_UNKNOWN);
        tok_set_token(tok, 1, "<s>", 3, 0, MLXN_TOKEN_CONTROL);
        tok_set_token(tok, 2, "</s>", 4, 0, MLXN_TOKEN_CONTROL);
        tok->bos = 1, tok->eos = 2, tok->unk = 0;
        if (CHECK(tok_build(tok) == MLXN_OK))
            CHECK(mlxn_chat_template_for_tokenizer(tok, &t) == MLXN_ERR_UNSUPPORTED && t == NULL);
        mlxn_tokenizer_free(tok);
    }
}

int main(void) {
    test_detect();
    test_render();
    test_with_tokenizer();
    return tu_finish();
}
