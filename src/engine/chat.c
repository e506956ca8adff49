/* Chat templates: recognise the Jinja text of tokenizer.chat_template as one of the formats
 * mlxn knows (ChatML, Llama 3, Gemma 2/3, Gemma 4) and render {role, content} messages in that format. */
#include "engine/tokenizer.h"
#include <stdlib.h>
#include <string.h>

#define MAX_SYSTEM 2048

struct mlxn_chat_template {
    mlxn_chat_format format;
    char default_system[MAX_SYSTEM];   /* ChatML: a literal system message in the template */
};

static const char *const FORMAT_NAMES[] = {"", "chatml", "llama3", "gemma", "gemma4"};

static mlxn_status make(mlxn_chat_format f, mlxn_chat_template_t **out) {
    mlxn_chat_template_t *t = calloc(1, sizeof *t);
    if (!t) return mlxn_fail(MLXN_ERR_NO_MEMORY, "chat template: out of memory");
    t->format = f;
    *out = t;
    return MLXN_OK;
}

/* ChatML templates that write a default system message as a literal (SmolLM2, Qwen2.5):
 * "<|im_start|>system" + newline (real or the two characters \n of a Jinja string) + text
 * without Jinja markup or quotes + "<|im_end|>". The first such occurrence wins. */
static void find_default_system(const char *jinja, char *dst, size_t cap) {
    static const char START[] = "<|im_start|>system", END[] = "<|im_end|>";
    dst[0] = 0;
    for (const char *p = strstr(jinja, START); p; p = strstr(p + 1, START)) {
        const char *q = p + strlen(START);
        if (*q == '\n') q++;
        else if (q[0] == '\\' && q[1] == 'n') q += 2;
        else continue;
        const char *e = strstr(q, END);
        if (!e || e == q) continue;
        bool literal = true;
        for (const char *c = q; c < e && literal; c++)
            literal = *c != '{' && *c != '}' && *c != '\'' && *c != '"' && *c != '%';
        if (!literal) continue;
        size_t k = 0;
        for (const char *c = q; c < e && k + 1 < cap; c++) {   /* undo Jinja string escapes */
            if (c[0] == '\\' && c + 1 < e && c[1] == 'n') dst[k++] = '\n', c++;
            else dst[k++] = *c;
        }
        dst[k] = 0;
        return;
    }
}

mlxn_status mlxn_chat_template_from_text(const char *jinja, mlxn_chat_template_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat template: out is NULL");
    *out = NULL;
    if (!jinja) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat template: text is NULL");
    mlxn_chat_format f;
    if (strstr(jinja, "<|im_start|>")) f = MLXN_CHAT_CHATML;
    else if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) f = MLXN_CHAT_LLAMA3;
    else if (strstr(jinja, "<start_of_turn>")) f = MLXN_CHAT_GEMMA;
    else if (strstr(jinja, "<|turn>")) f = MLXN_CHAT_GEMMA4;
    else
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "chat template not recognised (looked for <|im_start|>, "
                         "<|start_header_id|> with <|eot_id|>, <start_of_turn>, <|turn>): '%.60s...'", jinja);
    MLXN_TRY(make(f, out));
    if (f == MLXN_CHAT_CHATML) find_default_system(jinja, (*out)->default_system, MAX_SYSTEM);
    return MLXN_OK;
}

mlxn_status mlxn_chat_template_from_name(const char *name, mlxn_chat_template_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat template: out is NULL");
    *out = NULL;
    for (int f = MLXN_CHAT_CHATML; f <= MLXN_CHAT_GEMMA4; f++)
        if (name && !strcmp(name, FORMAT_NAMES[f])) return make((mlxn_chat_format)f, out);
    return mlxn_fail(MLXN_ERR_NOT_FOUND, "chat template '%s' unknown (chatml, llama3, gemma, gemma4)",
                     name ? name : "(null)");
}

mlxn_status mlxn_chat_template_for_tokenizer(const mlxn_tokenizer_t *tok, mlxn_chat_template_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat template: out is NULL");
    *out = NULL;
    if (!tok) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat template: tokenizer is NULL");
    const char *jinja = mlxn_tokenizer_chat_template(tok);
    if (jinja) return mlxn_chat_template_from_text(jinja, out);
    static const struct { const char *a, *b; mlxn_chat_format f; } marks[] = {
        {"<|im_start|>", "<|im_end|>", MLXN_CHAT_CHATML},
        {"<|start_header_id|>", "<|eot_id|>", MLXN_CHAT_LLAMA3},
        {"<start_of_turn>", "<end_of_turn>", MLXN_CHAT_GEMMA},
        {"<|turn>", "<turn|>", MLXN_CHAT_GEMMA4},
    };
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++)
        if (mlxn_tokenizer_find_token(tok, marks[i].a, strlen(marks[i].a)) >= 0 &&
            mlxn_tokenizer_find_token(tok, marks[i].b, strlen(marks[i].b)) >= 0)
            return make(marks[i].f, out);
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "the tokenizer has no tokenizer.chat_template and no chat marker tokens "
                     "(<|im_start|>, <|start_header_id|>, <start_of_turn>, <|turn>)");
}

void mlxn_chat_template_free(mlxn_chat_template_t *t) { free(t); }
mlxn_chat_format mlxn_chat_template_format(const mlxn_chat_template_t *t) { return t ? t->format : (mlxn_chat_format)0; }
const char *mlxn_chat_template_name(const mlxn_chat_template_t *t) { return t ? FORMAT_NAMES[t->format] : ""; }
const char *mlxn_chat_template_default_system(const mlxn_chat_template_t *t) { return t ? t->default_system : ""; }

/* ==========================================================================
 * Rendering
 * ========================================================================== */

/* Output into a caller buffer that keeps counting past its end. */
typedef struct { char *buf; size_t cap, n; } out_t;

static void put(out_t *o, const char *s, size_t n) {
    if (o->n < o->cap) memcpy(o->buf + o->n, s, n <= o->cap - o->n ? n : o->cap - o->n);
    o->n += n;
}
static void puts_(out_t *o, const char *s) { put(o, s, strlen(s)); }

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* content with leading and trailing whitespace removed (Jinja's trim) */
static void put_trimmed(out_t *o, const char *s) {
    size_t n = strlen(s), a = 0;
    while (a < n && is_ws(s[a])) a++;
    while (n > a && is_ws(s[n - 1])) n--;
    put(o, s + a, n - a);
}

mlxn_status mlxn_chat_render(const mlxn_chat_template_t *t, const mlxn_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char *buf, size_t cap, size_t *len) {
    if (len) *len = 0;
    if (!t || !len || (!msgs && n) || (!buf && cap)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat_render: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !*msgs[i].role || !msgs[i].content)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat_render: message %zu has no role or no content", i);
    out_t o = {buf, cap, 0};
    switch (t->format) {
    case MLXN_CHAT_CHATML:
        if (t->default_system[0] && (n == 0 || strcmp(msgs[0].role, "system"))) {
            puts_(&o, "<|im_start|>system\n");
            puts_(&o, t->default_system);
            puts_(&o, "<|im_end|>\n");
        }
        for (size_t i = 0; i < n; i++) {
            puts_(&o, "<|im_start|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "\n");
            puts_(&o, msgs[i].content);
            puts_(&o, "<|im_end|>\n");
        }
        if (add_generation_prompt) puts_(&o, "<|im_start|>assistant\n");
        break;
    case MLXN_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            puts_(&o, "<|start_header_id|>");
            puts_(&o, msgs[i].role);
            puts_(&o, "<|end_header_id|>\n\n");
            put_trimmed(&o, msgs[i].content);
            puts_(&o, "<|eot_id|>");
        }
        if (add_generation_prompt) puts_(&o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case MLXN_CHAT_GEMMA: {
        size_t first = 0;
        const char *system = NULL;
        if (n && !strcmp(msgs[0].role, "system")) system = msgs[0].content, first = 1;
        for (size_t i = first; i < n; i++) {
            const char *role = msgs[i].role;
            if (!strcmp(role, "assistant")) role = "model";
            else if (!strcmp(role, "system")) role = "user";   /* Gemma has no system turn */
            puts_(&o, "<start_of_turn>");
            puts_(&o, role);
            puts_(&o, "\n");
            if (system && i == first) {
                put_trimmed(&o, system);
                puts_(&o, "\n\n");
            }
            put_trimmed(&o, msgs[i].content);
            puts_(&o, "<end_of_turn>\n");
        }
        if (system && first == n) {   /* only a system message: it becomes the user turn */
            puts_(&o, "<start_of_turn>user\n");
            put_trimmed(&o, system);
            puts_(&o, "\n\n<end_of_turn>\n");
        }
        if (add_generation_prompt) puts_(&o, "<start_of_turn>model\n");
        break;
    }
    case MLXN_CHAT_GEMMA4:
        for (size_t i = 0; i < n; i++) {
            const char *role = msgs[i].role;
            if (!strcmp(role, "assistant")) role = "model";
            puts_(&o, "<|turn>");
            puts_(&o, role);
            puts_(&o, "\n");
            put_trimmed(&o, msgs[i].content);
            puts_(&o, "<turn|>\n");
        }
        if (add_generation_prompt) puts_(&o, "<|turn>model\n<|channel>thought\n<channel|>");
        break;
    default:
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat_render: bad template handle");
    }
    *len = o.n;
    if (o.n > cap) return mlxn_fail(MLXN_ERR_INVALID_ARG, "chat_render: %zu bytes do not fit in %zu", o.n, cap);
    if (o.n < cap) buf[o.n] = 0;
    return MLXN_OK;
}
