/* mlxn bench: prefill (pp) and decode (tg) speed of a model, mean ± std over runs, printed as
 * a table like llama-bench's and optionally written as JSON. Token ids are random (fixed seed):
 * speed does not depend on them. */
#include "engine_common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(void) {
    printf("usage: mlxn bench -m FILE [options]\n"
           "\n"
           "Measures prompt processing (a P-token prompt from an empty cache, batched) and text\n"
           "generation (N single-token decode steps, greedy, as `mlxn run` does them), each\n"
           "repeated R times after one warm-up run, and prints tokens/s as mean ± std.\n"
           "\n"
           "  -m, --model FILE      GGUF model (required)\n"
           "  -p, --n-prompt P      prompt tokens for the prefill test (default 512; 0 skips it)\n"
           "  -n, --n-gen N         tokens for the decode test (default 128; 0 skips it)\n"
           "      --ctx C           context (KV cache) size (default: just what the tests need); kernels sized by\n"
           "                        the context (attention's split grid) then run as in mlxn run\n"
           "  -r, --repetitions R   timed runs of each test (default 5)\n"
           "  -b, --batch B         tokens per prefill step (default 512)\n"
           "      --device DEV      cpu, ref, cuda or cuda:N (default: cuda if a GPU is visible, else cpu)\n"
           "  -t, --threads T       CPU threads (default: all cores)\n"
           "      --json FILE       also write the results as JSON to FILE\n"
           "  -v, --verbose         log what the library does (fusion, decode graph op count) to stderr\n"
           "  -h, --help            this text\n");
}

static void log_to_stderr(mlxn_log_level level, const char *msg, void *user) {
    static const char *names[] = {"error", "warn", "info", "debug"};
    (void)user;
    fprintf(stderr, "mlxn: %s: %s\n", names[level], msg);
}

typedef struct result {
    char test[32];
    int n_prompt, n_gen;
    double mean, std;
    double samples[64];
    int n_samples;
} result;

static void stats(result *r) {
    double s = 0, s2 = 0;
    for (int i = 0; i < r->n_samples; i++) s += r->samples[i];
    r->mean = s / r->n_samples;
    for (int i = 0; i < r->n_samples; i++) s2 += (r->samples[i] - r->mean) * (r->samples[i] - r->mean);
    r->std = r->n_samples > 1 ? sqrt(s2 / (r->n_samples - 1)) : 0.0;
}

/* s as a JSON string body (quotes, backslashes and control bytes escaped). */
static void json_str(FILE *f, const char *s) {
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *device = NULL, *json = NULL;
    int n_prompt = 512, n_gen = 128, reps = 5, threads = 0, batch = 512, n_ctx = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(s, l) (!strcmp(a, s) || !strcmp(a, l))
        if (ARG("-h", "--help")) { usage(); return 0; }
        if (ARG("-v", "--verbose")) { mlxn_log_set(log_to_stderr, MLXN_LOG_INFO, NULL); continue; }
        if (!v) { fprintf(stderr, "mlxn bench: unknown or incomplete option '%s' (see --help)\n", a); return 2; }
        i++;
        if (ARG("-m", "--model")) model = v;
        else if (ARG("-p", "--n-prompt")) { if (!tool_parse_int("bench", a, v, 0, 1 << 20, &n_prompt)) return 2; }
        else if (ARG("-n", "--n-gen")) { if (!tool_parse_int("bench", a, v, 0, 1 << 20, &n_gen)) return 2; }
        else if (ARG("-r", "--repetitions")) { if (!tool_parse_int("bench", a, v, 1, 64, &reps)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (!tool_parse_int("bench", a, v, 1, 1 << 24, &n_ctx)) return 2; }
        else if (ARG("-b", "--batch")) { if (!tool_parse_int("bench", a, v, 1, 1 << 16, &batch)) return 2; }
        else if (ARG("-t", "--threads")) { if (!tool_parse_int("bench", a, v, 0, 4096, &threads)) return 2; }
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--json")) json = v;
        else { fprintf(stderr, "mlxn bench: unknown option '%s' (see --help)\n", a); return 2; }
#undef ARG
    }
    if (!model) { fprintf(stderr, "mlxn bench: -m FILE is required (see --help)\n"); return 2; }
    if (n_prompt == 0 && n_gen == 0) { fprintf(stderr, "mlxn bench: nothing to do (-p 0 -n 0)\n"); return 2; }

    mlxn_backend_t *be = NULL;
    mlxn_model_t *m = NULL;
    mlxn_context_t *c = NULL;
    int rc = tool_open_backend("bench", device, threads, &be);
    if (!rc) rc = tool_load_model("bench", model, be, false, &m);
    const mlxn_model_info *in = rc ? NULL : mlxn_model_get_info(m);
    if (!rc) {
        mlxn_context_params cp = mlxn_context_default_params();
        const int need = (n_prompt > n_gen + 1 ? n_prompt : n_gen + 1) + 1;
        if (n_ctx && n_ctx < need) {
            fprintf(stderr, "mlxn bench: --ctx %d is smaller than the %d positions the tests need\n", n_ctx, need);
            rc = 2;
        } else {
            cp.n_ctx = n_ctx ? n_ctx : need;
            cp.n_batch = batch;
            mlxn_status st = mlxn_context_new(m, &cp, &c);
            if (st != MLXN_OK) rc = tool_fail("bench", st);
        }
    }
    int32_t *toks = NULL;
    result res[2];
    int n_res = 0;
    if (!rc) {
        int nt = n_prompt > 1 ? n_prompt : 1;
        toks = malloc(sizeof *toks * (size_t)nt);
        uint64_t s = 0x9E3779B97F4A7C15ULL;
        for (int i = 0; i < nt; i++) toks[i] = (int32_t)(rng_next(&s) % (uint64_t)in->n_vocab);
    }
    /* pp: prefill from an empty cache, logits of the last token computed */
    if (!rc && n_prompt > 0) {
        result *r = &res[n_res++];
        memset(r, 0, sizeof *r);
        snprintf(r->test, sizeof r->test, "pp%d", n_prompt);
        r->n_prompt = n_prompt;
        for (int k = -1; k < reps && !rc; k++) {
            mlxn_context_reset(c);
            mlxn_generate_params gp = mlxn_generate_default_params();
            gp.n_predict = 1;
            gp.stop_at_eos = false;
            mlxn_generate_stats gs;
            mlxn_status st = mlxn_generate(c, toks, n_prompt, &gp, NULL, 0, &gs);
            if (st != MLXN_OK) { rc = tool_fail("bench", st); break; }
            if (k >= 0) r->samples[r->n_samples++] = n_prompt / (gs.prompt_ms / 1e3);
        }
        if (!rc) stats(r);
    }
    /* tg: one token of prompt, then n_gen single-token decode steps (greedy, on the device) */
    if (!rc && n_gen > 0) {
        result *r = &res[n_res++];
        memset(r, 0, sizeof *r);
        snprintf(r->test, sizeof r->test, "tg%d", n_gen);
        r->n_gen = n_gen;
        for (int k = -1; k < reps && !rc; k++) {
            mlxn_context_reset(c);
            mlxn_generate_params gp = mlxn_generate_default_params();
            gp.n_predict = n_gen + 1;
            gp.stop_at_eos = false;
            mlxn_generate_stats gs;
            mlxn_status st = mlxn_generate(c, toks, 1, &gp, NULL, 0, &gs);
            if (st != MLXN_OK) { rc = tool_fail("bench", st); break; }
            if (k >= 0) r->samples[r->n_samples++] = gs.n_decode / (gs.gen_ms / 1e3);
        }
        if (!rc) stats(r);
    }
    if (!rc) {
        char size[32], params[32], label[96];
        snprintf(size, sizeof size, "%.2f MiB", in->weight_bytes / 1048576.0);
        snprintf(params, sizeof params, "%.2f M", in->n_params / 1e6);
        snprintf(label, sizeof label, "%s %s", in->arch, in->name);
        printf("| %-40s | %12s | %10s | %-8s | %7s | %8s | %20s |\n", "model", "size", "params", "backend", "threads",
               "test", "t/s");
        printf("| %.40s | %.12s | %.10s | %.8s | %.7s | %.8s | %.20s |\n",
               "----------------------------------------", "-----------:", "---------:", "--------", "------:",
               "-------:", "-------------------:");
        for (int i = 0; i < n_res; i++) {
            char ts[48];
            snprintf(ts, sizeof ts, "%.2f ± %.2f", res[i].mean, res[i].std);
            printf("| %-40.40s | %12s | %10s | %-8s | %7d | %8s | %20s |\n", label, size, params, mlxn_backend_name(be),
                   threads, res[i].test, ts);
        }
        if (json) {
            FILE *f = fopen(json, "w");
            if (!f) {
                fprintf(stderr, "mlxn bench: cannot write '%s'\n", json);
                rc = 1;
            } else {
                fprintf(f, "[\n");
                for (int i = 0; i < n_res; i++) {
                    fprintf(f, "  {\"model_file\": \"");
                    json_str(f, model);
                    fprintf(f, "\", \"arch\": \"%s\", \"backend\": \"%s\", \"threads\": %d, "
                               "\"test\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, \"repetitions\": %d, "
                               "\"avg_ts\": %.4f, \"stddev_ts\": %.4f, \"samples_ts\": [",
                            in->arch, mlxn_backend_name(be), threads, res[i].test, res[i].n_prompt, res[i].n_gen,
                            reps, res[i].mean, res[i].std);
                    for (int k = 0; k < res[i].n_samples; k++) fprintf(f, "%s%.4f", k ? ", " : "", res[i].samples[k]);
                    fprintf(f, "]}%s\n", i + 1 < n_res ? "," : "");
                }
                fprintf(f, "]\n");
                fclose(f);
            }
        }
    }
    free(toks);
    mlxn_context_free(c);
    mlxn_model_free(m);
    mlxn_backend_free(be);
    return rc;
}
