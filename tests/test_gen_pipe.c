/* Pipelined greedy generation (context.c: steps queued back to back, each step's argmax handed to
 * the next on the device) against the loop that waits for every token on the host
 * (MLXN_GEN_PIPE=0), on the real SmolLM2-135M Q4_1 file with the decode step as a graph
 * (use_graph = 1; on the CPU the backend layer replays the recorded calls):
 *   - n_predict 1, 2, 7, 8, 9, 30 on fresh contexts (the first decode step runs op by op) and on
 *     warm ones: same tokens, stats and n_past, and the tokens of the peer's goldens;
 *   - a stop in the middle of a batch (on_token returning false at every index 0..17, EOS from
 *     the model itself, EOS set to a token the model makes at many batch offsets): the steps
 *     run past the stop are dropped, and a second mlxn_generate / mlxn_decode continues as after
 *     the host loop (same tokens, same logits, and the tokens of one uninterrupted run);
 *   - a nearly full context (n_predict limited by n_ctx, after a truncate, then CONTEXT_FULL);
 *   - a host sampler and greedy again on the same context afterwards.
 * Backend: "cpu" (MLXN_TEST_BACKEND overrides). */
#define _POSIX_C_SOURCE 200809L   /* setenv */
#include "engine/model.h"
#include "testutil.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAXTOK 64

/* A golden prompt: its ids and the peer's greedy continuation. */
typedef struct prompt {
    int32_t ids[MAXTOK], want[MAXTOK];
    int n, n_want;
} prompt;

static void prompt_of(const cJSON *gold, int k, prompt *p) {
    const cJSON *g = cJSON_GetArrayItem(cJSON_GetObjectItem(gold, "greedy"), k);
    const cJSON *ids = cJSON_GetObjectItem(g, "prompt_ids"), *want = cJSON_GetObjectItem(g, "ids");
    p->n = cJSON_GetArraySize(ids);
    p->n_want = cJSON_GetArraySize(want);
    for (int i = 0; i < p->n && i < MAXTOK; i++) p->ids[i] = (int32_t)cJSON_GetArrayItem(ids, i)->valuedouble;
    for (int i = 0; i < p->n_want && i < MAXTOK; i++) p->want[i] = (int32_t)cJSON_GetArrayItem(want, i)->valuedouble;
}

/* ==========================================================================
 * One generate call on the host loop and on the pipeline
 * ========================================================================== */

/* A context with the decode graph; pipe selects the pipelined greedy loop (MLXN_GEN_PIPE is
 * read when the context is created). */
static mlxn_context_t *new_ctx(mlxn_model_t *m, bool pipe, int n_ctx) {
    setenv("MLXN_GEN_PIPE", pipe ? "8" : "0", 1);   /* 8: the default batch */
    mlxn_context_params cp = mlxn_context_default_params();
    cp.n_ctx = n_ctx;
    cp.use_graph = 1;
    mlxn_context_t *c = NULL;
    if (!CHECKF(mlxn_context_new(m, &cp, &c) == MLXN_OK, "context: %s", mlxn_last_error())) return NULL;
    CHECK(c->gen_pipe == (pipe ? 8 : 0));
    return c;
}

/* on_token: records what it is shown and returns false at index stop_at (-1: never). */
typedef struct seen {
    int32_t tok[MAXTOK];
    int n, stop_at;
} seen;
static bool on_tok(int32_t t, void *user) {
    seen *s = user;
    if (s->n < MAXTOK) s->tok[s->n] = t;
    return s->n++ != s->stop_at;
}

/* A host sampler: argmax, ties to the lower id (what greedy does on the device). */
static int32_t host_argmax(float *logits, int n_vocab, const int32_t *hist, int n_hist, void *user) {
    int32_t best = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

typedef struct run {
    mlxn_status st;
    int32_t tok[MAXTOK];
    mlxn_generate_stats s;
    seen cb;
    int n_past;
} run;

static run gen(mlxn_context_t *c, const int32_t *ids, int n, int n_predict, bool stop_at_eos, int stop_at, bool sample) {
    run r;
    memset(&r, 0, sizeof r);
    memset(r.tok, 0xff, sizeof r.tok);
    r.cb.stop_at = stop_at;
    mlxn_generate_params gp = mlxn_generate_default_params();
    gp.n_predict = n_predict;
    gp.stop_at_eos = stop_at_eos;
    gp.on_token = on_tok;
    gp.token_user = &r.cb;
    if (sample) gp.sample = host_argmax;
    r.st = mlxn_generate(c, ids, n, &gp, r.tok, MAXTOK, &r.s);
    r.n_past = mlxn_context_n_past(c);
    return r;
}

/* The pipelined run b equals the host loop's run a: status, stats, tokens reported and shown to
 * the callback, n_past. */
static bool same_run(const run *a, const run *b, const char *what) {
    bool ok = CHECKF(a->st == b->st, "%s: status %s (host loop) vs %s (pipelined)", what, mlxn_status_str(a->st),
                     mlxn_status_str(b->st));
    ok &= CHECKF(a->s.n_gen == b->s.n_gen && a->s.n_decode == b->s.n_decode && a->s.n_prompt == b->s.n_prompt,
                 "%s: n_gen %d/%d, n_decode %d/%d, n_prompt %d/%d (host loop/pipelined)", what, a->s.n_gen, b->s.n_gen,
                 a->s.n_decode, b->s.n_decode, a->s.n_prompt, b->s.n_prompt);
    int n = a->s.n_gen < MAXTOK ? a->s.n_gen : MAXTOK, k = 0;
    while (k < n && a->tok[k] == b->tok[k]) k++;
    ok &= CHECKF(k == n, "%s: token %d is %d (host loop) vs %d (pipelined)", what, k, k < n ? a->tok[k] : -1, k < n ? b->tok[k] : -1);
    ok &= CHECKF(b->cb.n == b->s.n_gen && !memcmp(b->cb.tok, b->tok, sizeof(int32_t) * (size_t)n),
                 "%s: the callback saw %d tokens, %d generated", what, b->cb.n, b->s.n_gen);
    ok &= CHECKF(a->n_past == b->n_past, "%s: n_past %d (host loop) vs %d (pipelined)", what, a->n_past, b->n_past);
    ok &= CHECKF(b->st != MLXN_OK || b->s.n_gen == 0 || b->s.n_decode == b->s.n_gen - 1, "%s: %d decode steps for %d tokens",
                 what, b->s.n_decode, b->s.n_gen);
    return ok;
}

/* The two contexts compared: the host loop and the pipeline. */
typedef struct pair {
    mlxn_context_t *host, *pipe;
} pair;

static bool pair_new(mlxn_model_t *m, int n_ctx, pair *p) {
    p->host = new_ctx(m, false, n_ctx);
    p->pipe = new_ctx(m, true, n_ctx);
    return p->host && p->pipe;
}
static void pair_free(pair *p) {
    mlxn_context_free(p->host);
    mlxn_context_free(p->pipe);
}
static void pair_reset(pair *p) {
    mlxn_context_reset(p->host);
    mlxn_context_reset(p->pipe);
}

/* The same call on both; returns the pipelined run (in *out) and whether they agree. */
static bool both(pair *p, const int32_t *ids, int n, int n_predict, bool stop_at_eos, int stop_at, bool sample, const char *what,
                 run *out) {
    run a = gen(p->host, ids, n, n_predict, stop_at_eos, stop_at, sample);
    run b = gen(p->pipe, ids, n, n_predict, stop_at_eos, stop_at, sample);
    if (out) *out = b;
    return same_run(&a, &b, what);
}

/* The next token's logits on both contexts agree (the caches hold the same rows below n_past):
 * bit for bit on CPU backends (the same calls in the same order), within rounding elsewhere. */
static void same_logits(pair *p, int32_t tok, int V, const char *what) {
    float *la = malloc(sizeof(float) * (size_t)V), *lb = malloc(sizeof(float) * (size_t)V);
    mlxn_status sa = mlxn_decode(p->host, &tok, 1, la), sb = mlxn_decode(p->pipe, &tok, 1, lb);
    if (CHECKF(sa == MLXN_OK && sb == MLXN_OK, "%s: decode: %s", what, mlxn_last_error())) {
        double d = 0, mx = 0;
        for (int i = 0; i < V; i++) {
            d = fmax(d, fabs((double)la[i] - lb[i]));
            mx = fmax(mx, fabs((double)la[i]));
        }
        bool cpu = mlxn_backend_device_kind(p->host->be) == MLXN_DEVICE_CPU;
        CHECKF(cpu ? d == 0 : d <= 1e-4 * mx, "%s: next logits differ by %g (max |logit| %g)", what, d, mx);
    }
    free(la);
    free(lb);
}

/* ==========================================================================
 * Cases
 * ========================================================================== */

/* n_predict around the batch of 8, on fresh contexts (decode step 1 op by op, then batches) and
 * again on the same, now warm contexts (batches from step 1). */
static void test_lengths(mlxn_model_t *m, const prompt *pr) {
    static const int lens[] = {1, 2, 7, 8, 9, 30};
    for (int i = 0; i < 6; i++) {
        pair p;
        if (!pair_new(m, 256, &p)) return;
        for (int round = 0; round < 2; round++) {
            char what[96];
            snprintf(what, sizeof what, "n_predict %d, %s context", lens[i], round ? "warm" : "fresh");
            pair_reset(&p);
            run b;
            if (both(&p, pr->ids, pr->n, lens[i], false, -1, false, what, &b)) {
                CHECKF(b.s.n_gen == lens[i] && b.n_past == pr->n + lens[i] - 1, "%s: %d tokens, n_past %d", what, b.s.n_gen, b.n_past);
                CHECKF(!memcmp(b.tok, pr->want, sizeof(int32_t) * (size_t)lens[i]), "%s: tokens differ from the peer's", what);
            }
            /* the pipeline ran whenever a step followed the first op-by-op one */
            bool used = lens[i] > (round ? 1 : 2);
            CHECKF((p.pipe->graph_pipe != NULL) == used, "%s: pipelined graph %s", what,
                   p.pipe->graph_pipe ? "recorded" : "not recorded");
            CHECKF(p.host->graph_pipe == NULL, "%s: MLXN_GEN_PIPE=0 recorded the pipelined graph", what);
        }
        pair_free(&p);
    }
}

/* on_token returns false at index j: the batch's later steps are dropped; the next generate call
 * continues as after the host loop and as one uninterrupted run. */
static void test_stop_cb(mlxn_model_t *m, const prompt *pr) {
    pair p;
    if (!pair_new(m, 256, &p)) return;
    const int V = m->info.n_vocab;
    run full = gen(p.host, pr->ids, pr->n, 30, false, -1, false);
    CHECK(full.st == MLXN_OK && full.s.n_gen == 30);
    for (int j = 0; j < 18; j++) {
        char what[96];
        snprintf(what, sizeof what, "on_token false at %d", j);
        pair_reset(&p);
        run b;
        if (!both(&p, pr->ids, pr->n, 30, false, j, false, what, &b)) continue;
        CHECKF(b.s.n_gen == j + 1 && b.n_past == pr->n + j, "%s: %d tokens, n_past %d", what, b.s.n_gen, b.n_past);
        if (j % 3 != 0 && j != 7 && j != 8) continue;
        /* continue: the last token reported was not run; it opens the next prompt */
        snprintf(what, sizeof what, "continued after a stop at %d", j);
        run c;
        if (both(&p, &b.tok[j], 1, 10, false, -1, false, what, &c)) {
            CHECKF(!memcmp(c.tok, &full.tok[j + 1], sizeof(int32_t) * 10), "%s: not the uninterrupted run's tokens %d..%d", what,
                   j + 1, j + 10);
            CHECKF(c.n_past == pr->n + j + 10, "%s: n_past %d", what, c.n_past);
            same_logits(&p, c.tok[9], V, what);
        }
    }
    pair_free(&p);
}

/* EOS in the middle of a batch: the model's own (<|im_end|> after "The capital of France is
 * Paris."), then EOS set to tokens of the counting prompt at many offsets (eot off). */
static void test_eos(mlxn_model_t *m, const prompt *chat, const prompt *count) {
    pair p;
    if (!pair_new(m, 256, &p)) return;
    for (int round = 0; round < 2; round++) {
        if (round == 1) {   /* fresh contexts: decode step 1 op by op, then one batch from step 2 */
            pair_free(&p);
            if (!pair_new(m, 256, &p)) return;
        }
        run b;
        const char *what = round ? "the model's EOS, fresh context" : "the model's EOS";
        pair_reset(&p);
        if (both(&p, chat->ids, chat->n, 30, true, -1, false, what, &b))
            CHECKF(b.s.n_gen == chat->n_want && b.tok[b.s.n_gen - 1] == m->info.eos_id, "%s: %d tokens, last %d", what, b.s.n_gen,
                   b.tok[b.s.n_gen > 0 ? b.s.n_gen - 1 : 0]);
        if (round == 0 && b.s.n_gen > 0) {   /* then a second call on the same contexts */
            if (both(&p, &b.tok[b.s.n_gen - 1], 1, 12, false, -1, false, "after the model's EOS", NULL))
                same_logits(&p, 216, m->info.n_vocab, "after the model's EOS");
        }
    }
    const mlxn_model_info keep = m->info;
    run full = gen(p.host, count->ids, count->n, 30, false, -1, false);
    int n_cases = 0;
    for (int j = 0; j < 30; j++) {
        int k = 0;
        while (k < j && full.tok[k] != full.tok[j]) k++;
        if (k < j) continue;   /* not the token's first appearance */
        m->info.eos_id = full.tok[j];
        m->info.eot_id = -1;
        char what[96];
        snprintf(what, sizeof what, "EOS = %d, first made at %d", full.tok[j], j);
        pair_reset(&p);
        run b;
        if (both(&p, count->ids, count->n, 30, true, -1, false, what, &b))
            CHECKF(b.s.n_gen == j + 1 && b.n_past == count->n + j, "%s: %d tokens, n_past %d", what, b.s.n_gen, b.n_past);
        n_cases++;
    }
    m->info = keep;
    CHECKF(n_cases >= 8, "only %d distinct tokens in the counting run", n_cases);
    pair_free(&p);
}

/* The context nearly full: n_predict limited by n_ctx (23 tokens), again after a truncate (9),
 * then only the prompt fits (no token), then nothing does. */
static void test_full(mlxn_model_t *m, const prompt *pr) {
    const int n_ctx = pr->n + 23;
    pair p;
    if (!pair_new(m, n_ctx, &p)) return;
    run b;
    if (both(&p, pr->ids, pr->n, -1, false, -1, false, "until the context is full", &b))
        CHECKF(b.s.n_gen == 23 && b.n_past == n_ctx - 1, "until full: %d tokens, n_past %d", b.s.n_gen, b.n_past);
    int32_t last = b.tok[22];
    CHECK(mlxn_context_truncate(p.host, n_ctx - 10) == MLXN_OK && mlxn_context_truncate(p.pipe, n_ctx - 10) == MLXN_OK);
    int32_t again = b.tok[13];   /* the token reported at n_ctx - 10 */
    if (both(&p, &again, 1, 100, false, -1, false, "after a truncate, n_predict 100 capped at 9", &b)) {
        CHECKF(b.s.n_gen == 9 && b.n_past == n_ctx - 1, "after a truncate: %d tokens, n_past %d", b.s.n_gen, b.n_past);
        CHECKF(b.tok[8] == last, "after a truncate: last token %d, first time %d", b.tok[8], last);
    }
    if (both(&p, &b.tok[8], 1, 5, false, -1, false, "only the prompt fits", &b))
        CHECKF(b.s.n_gen == 0 && b.n_past == n_ctx, "only the prompt fits: %d tokens, n_past %d", b.s.n_gen, b.n_past);
    int32_t one = 216;
    if (both(&p, &one, 1, 5, false, -1, false, "context full", &b)) CHECK(b.st == MLXN_ERR_CONTEXT_FULL);
    pair_free(&p);
}

/* A host sampler after a pipelined stop, then greedy again, on the same contexts. */
static void test_mixed(mlxn_model_t *m, const prompt *pr) {
    pair p;
    if (!pair_new(m, 256, &p)) return;
    run a, b, c;
    if (!both(&p, pr->ids, pr->n, 30, false, 5, false, "greedy stopped at 5", &a)) goto done;
    if (!both(&p, &a.tok[5], 1, 10, false, -1, true, "host sampler after it", &b)) goto done;
    if (both(&p, &b.tok[9], 1, 11, false, -1, false, "greedy after the sampler", &c)) {
        CHECKF(!memcmp(c.tok, &pr->want[16], sizeof(int32_t) * 11), "greedy after the sampler: not the peer's tokens 16..26");
        CHECKF(c.n_past == pr->n + 26, "greedy after the sampler: n_past %d", c.n_past);
    }
done:
    pair_free(&p);
}

int main(void) {
    char *path = tu_fetch_model(MLXN_SOURCE_DIR);
    if (!CHECKF(path != NULL, "scripts/fetch-model.sh failed")) return tu_finish();
    cJSON *gold = tu_load_json(tu_path(MLXN_SOURCE_DIR, "tests/golden/smollm2-q4_1.json"));
    if (!CHECKF(gold != NULL, "tests/golden/smollm2-q4_1.json")) return tu_finish();
    mlxn_backend_t *be = NULL;
    if (!CHECKF(mlxn_backend_open(tu_backend_name(), &be) == MLXN_OK, "backend %s: %s", tu_backend_name(), mlxn_last_error()))
        return tu_finish();
    mlxn_backend_set_threads(be, 2);
    mlxn_model_t *m = NULL;
    if (!CHECKF(mlxn_model_load(path, be, NULL, &m) == MLXN_OK, "load %s: %s", path, mlxn_last_error())) return tu_finish();

    prompt chat, count;   /* "What is the capital of France?" (ends in EOS), "1, 2, 3, 4, 5, 6," */
    prompt_of(gold, 0, &chat);
    prompt_of(gold, 1, &count);
    CHECK(chat.n_want == 8 && chat.want[7] == m->info.eos_id && count.n_want == 32);

    test_lengths(m, &count);
    test_stop_cb(m, &count);
    test_eos(m, &chat, &count);
    test_full(m, &count);
    test_mixed(m, &count);

    mlxn_model_free(m);
    mlxn_backend_free(be);
    cJSON_Delete(gold);
    free(path);
    return tu_finish();
}
