/* mlxn run: generate text from a prompt, streaming tokens as they come, or chat
 * interactively (--chat); ends with prompt and generation speed. */
#define _POSIX_C_SOURCE 200809L   /* getline, strdup */
#include "engine_common.h"

#include <stdlib.h>
#include <string.h>

static void usage(void) {
    printf("usage: mlxn run -m FILE (-p TEXT | -f FILE | --chat) [options]\n"
           "\n"
           "Runs a GGUF model and streams its continuation of the prompt to stdout; speed goes to\n"
           "stderr at the end. The prompt is tokenized as the model's metadata says (BOS if it asks\n"
           "for one); control tokens written in it (\"<|im_start|>\") are recognised.\n"
           "\n"
           "input\n"
           "  -m, --model FILE        GGUF model (required)\n"
           "  -p, --prompt TEXT       the prompt\n"
           "  -f, --file FILE         read the prompt from FILE\n"
           "      --chat              interactive chat: each line you type is a user turn, formatted\n"
           "                          with the model's chat template; history is kept; an empty\n"
           "                          line or end of input quits\n"
           "      --system TEXT       system message for --chat (or to wrap -p/-f as a chat turn)\n"
           "\n"
           "generation\n"
           "  -n, --n-predict N       most tokens to generate (default 256; -1 = until the context\n"
           "                          is full); stops earlier at the model's end-of-generation token\n"
           "  -c, --ctx N             context size in tokens (default: the model's trained length,\n"
           "                          capped to half the free memory of the device)\n"
           "  -b, --batch N           tokens per prefill step (default 512)\n"
           "\n"
           "sampling (default: greedy, i.e. --temp 0)\n"
           "      --temp T            temperature; 0 = always the most likely token\n"
           "      --top-k K           keep the K most likely tokens (0 = all)\n"
           "      --top-p P           keep the smallest set whose probability reaches P (1 = off)\n"
           "      --min-p P           drop tokens below P times the top probability (0 = off)\n"
           "      --repeat-penalty R  divide logits of recently seen tokens by R (1 = off)\n"
           "      --repeat-last-n N   how many recent tokens the penalty looks at (default 64)\n"
           "      --seed S            random seed (default 0): same seed, same output\n"
           "\n"
           "device\n"
           "      --device DEV        cpu, ref (scalar reference), cuda or cuda:N\n"
           "                          (default: cuda if a GPU is visible, else cpu)\n"
           "  -t, --threads N         CPU threads (default: all cores)\n"
           "\n"
           "  -v, --verbose           log what the library does (model, context, KV cache) to stderr\n"
           "  -h, --help              this text\n");
}

typedef struct run_opts {
    const char *model, *prompt, *file, *system, *device;
    bool chat, verbose;
    int n_predict, n_ctx, n_batch, threads, repeat_last_n;
    float temp, top_k_f, top_p, min_p, repeat_penalty;
    int top_k;
    unsigned long long seed;
} run_opts;

static void log_to_stderr(mlxn_log_level level, const char *msg, void *user) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "mlxn: %s: %s\n", names[level], msg);
}

/* Streams generated tokens through the detokenizer; stops at end-of-generation tokens. */
typedef struct stream {
    const mlxn_tokenizer_t *tok;
    mlxn_detokenizer_t *detok;
    int32_t last;
    bool hit_eog;
} stream;

static bool on_token(int32_t id, void *user) {
    stream *s = user;
    s->last = id;
    if (mlxn_tokenizer_is_eog(s->tok, id)) {
        s->hit_eog = true;
        return false;
    }
    const char *text;
    size_t len;
    if (mlxn_detokenizer_push(s->detok, id, &text, &len) == MLXN_OK && len) {
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    return true;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* Tokenizes text (BOS per metadata when add_special, control tokens parsed). */
static int tokenize(const mlxn_tokenizer_t *tok, const char *text, size_t len, bool add_special, int32_t **ids,
                    size_t *n) {
    size_t cap = len + 8;
    *ids = malloc(sizeof **ids * cap);
    if (!*ids) return 1;
    mlxn_status st = mlxn_tokenize(tok, text, len, add_special, true, *ids, cap, n);
    if (st != MLXN_OK) return tool_fail("run", st);
    return 0;
}

static void print_speed(const mlxn_generate_stats *gs) {
    fprintf(stderr, "\nmlxn run: prompt %d tokens in %.1f ms (%.2f tokens/s), generation %d tokens in %.1f ms (%.2f tokens/s)\n",
            gs->n_prompt, gs->prompt_ms, gs->prompt_ms > 0 ? gs->n_prompt / (gs->prompt_ms / 1e3) : 0.0, gs->n_gen,
            gs->gen_ms, gs->gen_ms > 0 ? gs->n_decode / (gs->gen_ms / 1e3) : 0.0);
}

static int parse_args(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(s) (!strcmp(a, s))
#define ARG(s, l) (IS(s) || IS(l))
        if (ARG("-h", "--help")) { usage(); return -1; }
        if (IS("--chat")) { o->chat = true; continue; }
        if (ARG("-v", "--verbose")) { o->verbose = true; continue; }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "mlxn run: unknown or incomplete option '%s' (see --help)\n", a); return 2; }
        i++;
        bool ok = true;
        if (ARG("-m", "--model")) o->model = v;
        else if (ARG("-p", "--prompt")) o->prompt = v;
        else if (ARG("-f", "--file")) o->file = v;
        else if (IS("--system")) o->system = v;
        else if (IS("--device")) o->device = v;
        else if (ARG("-n", "--n-predict")) ok = tool_parse_int("run", a, v, -1, 1 << 24, &o->n_predict);
        else if (ARG("-c", "--ctx")) ok = tool_parse_int("run", a, v, 1, 1 << 24, &o->n_ctx);
        else if (ARG("-b", "--batch")) ok = tool_parse_int("run", a, v, 1, 1 << 16, &o->n_batch);
        else if (ARG("-t", "--threads")) ok = tool_parse_int("run", a, v, 0, 4096, &o->threads);
        else if (IS("--top-k")) ok = tool_parse_int("run", a, v, 0, 1 << 24, &o->top_k);
        else if (IS("--repeat-last-n")) ok = tool_parse_int("run", a, v, 0, 1 << 24, &o->repeat_last_n);
        else if (IS("--temp")) ok = tool_parse_float("run", a, v, &o->temp);
        else if (IS("--top-p")) ok = tool_parse_float("run", a, v, &o->top_p);
        else if (IS("--min-p")) ok = tool_parse_float("run", a, v, &o->min_p);
        else if (IS("--repeat-penalty")) ok = tool_parse_float("run", a, v, &o->repeat_penalty);
        else if (IS("--seed")) {
            char *end;
            o->seed = strtoull(v, &end, 10);
            if (!*v || *end) { fprintf(stderr, "mlxn run: --seed wants a non-negative integer, got '%s'\n", v); ok = false; }
        } else {
            fprintf(stderr, "mlxn run: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        if (!ok) return 2;
#undef ARG
#undef IS
    }
    if (!o->model) { fprintf(stderr, "mlxn run: -m FILE is required (see --help)\n"); return 2; }
    if (!o->chat && !o->prompt && !o->file) {
        fprintf(stderr, "mlxn run: give a prompt with -p TEXT or -f FILE, or use --chat (see --help)\n");
        return 2;
    }
    if (o->prompt && o->file) { fprintf(stderr, "mlxn run: -p and -f exclude each other\n"); return 2; }
    if (o->temp < 0 || o->top_p < 0 || o->top_p > 1 || o->min_p < 0 || o->min_p > 1 || o->repeat_penalty <= 0) {
        fprintf(stderr, "mlxn run: sampling values out of range (temp >= 0, top-p and min-p in [0, 1], "
                        "repeat-penalty > 0)\n");
        return 2;
    }
    return 0;
}

/* ==========================================================================
 * Sampling and chat: glue to the tokenizer side (sampling.c, chat.c)
 * ========================================================================== */

typedef struct run_sampler {
    mlxn_sampler_t *s;          /* NULL: greedy on the device */
    int accepted;               /* history entries already given to the sampler */
    bool failed;
} run_sampler;

/* The generation loop hands over the history of this call (prompt + generated); the
 * sampler keeps its own, so only what it has not seen is accepted before each draw. */
static int32_t sample_cb(float *logits, int n_vocab, const int32_t *hist, int n_hist, void *user) {
    run_sampler *r = user;
    if (n_hist < r->accepted) r->accepted = 0;
    for (; r->accepted < n_hist; r->accepted++) mlxn_sampler_accept(r->s, hist[r->accepted]);
    int32_t tok = -1;
    if (mlxn_sampler_sample(r->s, logits, &tok) != MLXN_OK) {
        fprintf(stderr, "\nmlxn run: sampling failed: %s\n", mlxn_last_error());
        r->failed = true;
        return -1;
    }
    r->accepted = n_hist + 1;   /* sample() recorded the token */
    return tok;
}

static int run_sampler_init(run_sampler *r, const run_opts *o, const mlxn_tokenizer_t *tok) {
    if (o->temp == 0.0f && o->repeat_penalty == 1.0f) return 0;   /* greedy: argmax on the device */
    mlxn_sampler_params sp = mlxn_sampler_default_params();
    sp.temperature = o->temp;
    sp.top_k = o->top_k;
    sp.top_p = o->top_p;
    sp.min_p = o->min_p;
    sp.repeat_penalty = o->repeat_penalty;
    sp.penalty_last_n = o->repeat_last_n;
    sp.seed = o->seed;
    mlxn_status st = mlxn_sampler_new(&sp, mlxn_tokenizer_n_vocab(tok), &r->s);
    if (st != MLXN_OK) return tool_fail("run", st);
    return 0;
}
static void run_sampler_attach(run_sampler *r, mlxn_generate_params *gp) {
    gp->sample = r->s ? sample_cb : NULL;
    gp->sample_user = r;
}
static void run_sampler_free(run_sampler *r) { mlxn_sampler_free(r->s); }

/* Renders messages with the model's chat template (plus the assistant prompt) and tokenizes. */
static int render_chat(const mlxn_chat_template_t *tmpl, const mlxn_tokenizer_t *tok, const mlxn_chat_message *msgs,
                       size_t n, int32_t **ids, size_t *n_ids) {
    size_t len = 0;
    mlxn_status st = mlxn_chat_render(tmpl, msgs, n, true, NULL, 0, &len);
    char *buf = malloc(len + 1);
    if (!buf) return 1;
    st = mlxn_chat_render(tmpl, msgs, n, true, buf, len + 1, &len);
    int rc = st == MLXN_OK ? tokenize(tok, buf, len, true, ids, n_ids) : tool_fail("run", st);
    free(buf);
    return rc;
}

static int open_template(const mlxn_tokenizer_t *tok, mlxn_chat_template_t **tmpl) {
    mlxn_status st = mlxn_chat_template_for_tokenizer(tok, tmpl);
    if (st != MLXN_OK) return tool_fail("run", st);
    return 0;
}

static int run_wrap_chat(const mlxn_tokenizer_t *tok, const char *system, const char *user, size_t len,
                         int32_t **ids, size_t *n) {
    mlxn_chat_template_t *tmpl = NULL;
    int rc = open_template(tok, &tmpl);
    char *u = rc ? NULL : malloc(len + 1);
    if (!rc && !u) rc = 1;
    if (!rc) {
        memcpy(u, user, len);
        u[len] = 0;
        mlxn_chat_message msgs[2] = {{"system", system}, {"user", u}};
        rc = render_chat(tmpl, tok, msgs, 2, ids, n);
    }
    free(u);
    mlxn_chat_template_free(tmpl);
    return rc;
}

/* Collects the reply's tokens while streaming them. */
typedef struct reply {
    stream *s;
    int32_t *ids;
    int n, cap;
} reply;

static bool on_reply_token(int32_t id, void *user) {
    reply *r = user;
    if (r->n == r->cap) {
        int nc = r->cap ? r->cap * 2 : 256;
        int32_t *ni = realloc(r->ids, sizeof *ni * (size_t)nc);
        if (!ni) return false;
        r->ids = ni;
        r->cap = nc;
    }
    r->ids[r->n++] = id;
    return on_token(id, r->s);
}

/* Interactive chat. The whole conversation is rendered each turn; the part that is already
 * in the KV cache (the common token prefix) is kept and only the rest is prefilled. */
static int run_chat(const run_opts *o, mlxn_context_t *c, const mlxn_tokenizer_t *tok, mlxn_detokenizer_t *detok,
                    mlxn_generate_params *gp, stream *s) {
    mlxn_chat_template_t *tmpl = NULL;
    int rc = open_template(tok, &tmpl);
    if (rc) return rc;
    fprintf(stderr, "mlxn run: chat (%s template); an empty line or end of input quits\n",
            mlxn_chat_template_name(tmpl));
    mlxn_chat_message *msgs = NULL;
    size_t n_msgs = 0, cap_msgs = 0;
    int32_t *cached = NULL;   /* tokens whose K/V are in the cache, in order */
    size_t n_cached = 0, cap_cached = 0;
    char *line = NULL;
    size_t line_cap = 0;
#define PUSH_MSG(r, t)                                                                     \
    do {                                                                                   \
        if (n_msgs == cap_msgs) {                                                          \
            cap_msgs = cap_msgs ? cap_msgs * 2 : 16;                                       \
            msgs = realloc(msgs, sizeof *msgs * cap_msgs);                                 \
        }                                                                                  \
        msgs[n_msgs].role = (r);                                                           \
        msgs[n_msgs++].content = (t);                                                      \
    } while (0)
    if (o->system) PUSH_MSG("system", strdup(o->system));
    for (;;) {
        fprintf(stderr, "\n> ");
        fflush(stderr);
        ssize_t got = getline(&line, &line_cap, stdin);
        if (got <= 0) break;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r')) line[--got] = 0;
        if (got == 0) break;
        PUSH_MSG("user", strdup(line));
        int32_t *ids = NULL;
        size_t n_ids = 0;
        rc = render_chat(tmpl, tok, msgs, n_msgs, &ids, &n_ids);
        if (rc) { free(ids); break; }
        size_t common = 0;
        while (common < n_cached && common < n_ids && cached[common] == ids[common]) common++;
        if (common == n_ids) common = n_ids - 1;   /* always run at least one token */
        mlxn_context_truncate(c, (int)common);
        n_cached = common;
        reply r = {s, NULL, 0, 0};
        mlxn_generate_params g = *gp;
        g.on_token = on_reply_token;
        g.token_user = &r;
        mlxn_generate_stats gs;
        mlxn_detokenizer_reset(detok);
        mlxn_status st = mlxn_generate(c, ids + common, (int)(n_ids - common), &g, NULL, 0, &gs);
        const char *tail;
        size_t tl;
        if (mlxn_detokenizer_flush(detok, &tail, &tl) == MLXN_OK && tl) fwrite(tail, 1, tl, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        if (st != MLXN_OK) {
            rc = tool_fail("run", st);
            free(ids);
            free(r.ids);
            break;
        }
        print_speed(&gs);
        /* cache now holds the prompt and every generated token but the last */
        size_t need = n_ids + (size_t)r.n;
        if (need > cap_cached) {
            cap_cached = need * 2;
            cached = realloc(cached, sizeof *cached * cap_cached);
        }
        memcpy(cached + common, ids + common, sizeof *ids * (n_ids - common));
        n_cached = n_ids;
        for (int i = 0; i + 1 < r.n; i++) cached[n_cached++] = r.ids[i];
        int n_text = r.n - (s->hit_eog ? 1 : 0);
        size_t len = 0;
        mlxn_detokenize(tok, r.ids, (size_t)n_text, 0, NULL, 0, &len);
        char *text = malloc(len + 1);
        mlxn_detokenize(tok, r.ids, (size_t)n_text, 0, text, len + 1, &len);
        text[len] = 0;
        PUSH_MSG("assistant", text);
        s->hit_eog = false;
        free(ids);
        free(r.ids);
    }
#undef PUSH_MSG
    for (size_t i = 0; i < n_msgs; i++) free((void *)msgs[i].content);
    free(msgs);
    free(cached);
    free(line);
    mlxn_chat_template_free(tmpl);
    return rc;
}

int cmd_run(int argc, char **argv) {
    run_opts o = {0};
    o.n_predict = 256;
    o.n_batch = 512;
    o.top_p = 1.0f;
    o.repeat_penalty = 1.0f;
    o.repeat_last_n = 64;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (o.verbose) mlxn_log_set(log_to_stderr, MLXN_LOG_INFO, NULL);

    mlxn_backend_t *be = NULL;
    mlxn_model_t *m = NULL;
    mlxn_context_t *c = NULL;
    mlxn_tokenizer_t *tok = NULL;
    mlxn_detokenizer_t *detok = NULL;
    run_sampler smp;
    memset(&smp, 0, sizeof smp);
    char *text = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, text_len = 0;
    mlxn_status st;

    rc = tool_open_backend("run", o.device, o.threads, &be);
    if (!rc) rc = tool_load_model("run", o.model, be, false, &m);
    if (!rc) {   /* a GGUF file carries its tokenizer; a Hugging Face / mlx-lm folder has tokenizer.json */
        const mlxn_gguf_t *g = mlxn_model_gguf(m);
        st = g ? mlxn_tokenizer_from_gguf(g, &tok) : mlxn_tokenizer_load_hf(o.model, &tok);
        if (st != MLXN_OK) rc = tool_fail("run", st);
    }
    if (!rc && (st = mlxn_detokenizer_new(tok, 0, &detok)) != MLXN_OK) rc = tool_fail("run", st);
    if (!rc) {
        mlxn_context_params cp = mlxn_context_default_params();
        cp.n_ctx = o.n_ctx;
        cp.n_batch = o.n_batch;
        if ((st = mlxn_context_new(m, &cp, &c)) != MLXN_OK) rc = tool_fail("run", st);
    }
    if (!rc) {
        const mlxn_model_info *in = mlxn_model_get_info(m);
        fprintf(stderr, "mlxn run: %s (%s, %d layers, %.1f MiB) on %s; context %d tokens, KV cache %s %.1f MiB\n",
                in->name[0] ? in->name : o.model, in->arch, in->n_layer, in->weight_bytes / 1048576.0,
                mlxn_backend_name(be), mlxn_context_n_ctx(c), "f16", mlxn_context_kv_bytes(c) / 1048576.0);
        rc = run_sampler_init(&smp, &o, tok);
    }
    stream s = {tok, detok, -1, false};
    mlxn_generate_params gp = mlxn_generate_default_params();
    gp.n_predict = o.n_predict;
    gp.on_token = on_token;
    gp.token_user = &s;
    run_sampler_attach(&smp, &gp);

    if (!rc && o.chat) {
        rc = run_chat(&o, c, tok, detok, &gp, &s);
    } else if (!rc) {
        if (o.file) {
            text = read_file(o.file, &text_len);
            if (!text) { fprintf(stderr, "mlxn run: cannot read prompt file '%s'\n", o.file); rc = 1; }
        } else {
            text_len = strlen(o.prompt);
        }
        const char *prompt = o.file ? text : o.prompt;
        if (!rc && o.system) rc = run_wrap_chat(tok, o.system, prompt, text_len, &ids, &n_ids);
        else if (!rc) rc = tokenize(tok, prompt, text_len, true, &ids, &n_ids);
        if (!rc && n_ids == 0) { fprintf(stderr, "mlxn run: the prompt is empty\n"); rc = 2; }
        if (!rc) {
            if ((int64_t)n_ids <= mlxn_context_n_ctx(c)) {   /* else generate refuses it: no echo */
                fwrite(prompt, 1, text_len, stdout);
                fflush(stdout);
            }
            mlxn_generate_stats gs;
            st = mlxn_generate(c, ids, (int)n_ids, &gp, NULL, 0, &gs);
            const char *tail;
            size_t tl;
            if (mlxn_detokenizer_flush(detok, &tail, &tl) == MLXN_OK && tl) fwrite(tail, 1, tl, stdout);
            fputc('\n', stdout);
            fflush(stdout);
            if (st != MLXN_OK) rc = tool_fail("run", st);
            else print_speed(&gs);
        }
    }
    run_sampler_free(&smp);
    free(ids);
    free(text);
    mlxn_detokenizer_free(detok);
    mlxn_tokenizer_free(tok);
    mlxn_context_free(c);
    mlxn_model_free(m);
    mlxn_backend_free(be);
    return rc;
}
