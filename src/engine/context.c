/* Contexts: the KV cache and scratch of one sequence, the decode entry points (prefill in
 * n_batch chunks, single-token decode, optionally as a replayed graph) and the generation
 * loop (greedy with a graph: several steps queued back to back, the token handed from one to
 * the next on the device). Everything is sized here, once; the per-token path allocates nothing. */
#include "engine/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The ring of token ids the pipelined greedy steps write (a batch's ids must not wrap onto each
 * other: ring >= batch), and the default batch: steps queued before the host reads their tokens
 * (MLXN_GEN_PIPE=N sets it, 1..PIPE_RING; 0 = the step-by-step loop). */
#define PIPE_RING 64
#define PIPE_BATCH 8

#define CTX_FAIL(c, ...) mlxn_errbuf_save(&(c)->err, mlxn_fail(__VA_ARGS__))
#define CTX_TRY(c, expr)                                         \
    do {                                                         \
        mlxn_status st__ = (expr);                               \
        if (st__ != MLXN_OK) return mlxn_errbuf_save(&(c)->err, st__); \
    } while (0)

mlxn_context_params mlxn_context_default_params(void) {
    mlxn_context_params p = {0, 512, MLXN_TYPE_F16, -1};
    return p;
}

static size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

/* Free memory of the device the backend runs on (0 if unknown). */
static size_t device_free_memory(mlxn_backend_t *be) {
    mlxn_device_kind kind = mlxn_backend_device_kind(be);
    int want = 0;
    const char *name = mlxn_backend_name(be);
    const char *colon = name ? strchr(name, ':') : NULL;
    if (kind == MLXN_DEVICE_CUDA && colon) want = atoi(colon + 1);
    for (int i = 0; i < mlxn_device_count(); i++) {
        mlxn_device_info di;
        if (mlxn_device_get_info(i, &di) != MLXN_OK) continue;
        if (di.kind == kind && (kind == MLXN_DEVICE_CPU || di.index == want)) return di.free_memory;
    }
    return 0;
}

/* Bytes of K and V per cached position over all layers. */
static size_t kv_bytes_per_pos(const mlxn_model_t *m, mlxn_type kv_type) {
    size_t es = mlxn_row_size(kv_type, 1), total = 0;
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        total += (size_t)L->n_head_kv * (size_t)(L->head_dim_k + L->head_dim_v) * es;
    }
    return total;
}

static mlxn_status context_init(mlxn_context_t *c, const mlxn_context_params *p) {
    mlxn_model_t *m = c->m;
    if (p->kv_type != MLXN_TYPE_F16 && p->kv_type != MLXN_TYPE_BF16 && p->kv_type != MLXN_TYPE_F32)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "KV cache type %s is not one of f16, bf16, f32",
                         mlxn_type_name(p->kv_type));
    if (p->n_ctx < 0 || p->n_batch < 0)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "n_ctx %d / n_batch %d is negative", p->n_ctx, p->n_batch);
    c->kv_type = p->kv_type;
    size_t per_pos = kv_bytes_per_pos(m, c->kv_type);

    if (p->n_ctx > 0) {
        c->n_ctx = p->n_ctx;
    } else {
        /* the trained length, unless the cache would take more than half the free memory */
        size_t budget = device_free_memory(c->be) / 2;
        int64_t fit = budget ? (int64_t)(budget / per_pos) : m->info.n_ctx_train;
        int64_t n = m->info.n_ctx_train < fit ? m->info.n_ctx_train : fit;
        if (n > 256) n = n / 256 * 256;
        if (n < 1)
            return mlxn_fail(MLXN_ERR_DEVICE_MEMORY, "no room for a KV cache: %zu bytes per position, %zu free",
                             per_pos, budget * 2);
        if (n < m->info.n_ctx_train)
            mlxn_log(MLXN_LOG_WARN, "context capped to %lld of the model's %d positions to fit memory",
                     (long long)n, m->info.n_ctx_train);
        c->n_ctx = (int)n;
    }
    c->n_batch = p->n_batch > 0 ? p->n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;

    /* KV cache: per layer K then V, each {head_dim, n_ctx, n_head_kv}. With equal head sizes V
     * directly follows K (aligned to a whole cache row, >= 128 bytes for the head sizes attention
     * takes), so that one kv_write over {head_dim, n_ctx, 2 n_head_kv} fills both (forward.c). */
    size_t off = 0, es = mlxn_row_size(c->kv_type, 1);
    for (int il = 0; il < m->info.n_layer; il++) {
        mlxn_layer *L = &m->layers[il];
        L->k_offset = off;
        off += (size_t)L->head_dim_k * (size_t)c->n_ctx * (size_t)L->n_head_kv * es;
        if (L->head_dim_k != L->head_dim_v) off = align_up(off, 256);
        L->v_offset = off;
        off = align_up(off + (size_t)L->head_dim_v * (size_t)c->n_ctx * (size_t)L->n_head_kv * es, 256);
    }
    c->kv_bytes = off;
    MLXN_TRY(mlxn_buffer_alloc(c->be, c->kv_bytes, &c->kv));
    /* zeroed so that a stray read of an unwritten row can never meet NaN bits */
    MLXN_TRY(mlxn_buffer_fill(c->kv, 0, 0, c->kv_bytes));

    /* scratch */
    const size_t B = (size_t)c->n_batch, E = (size_t)m->info.n_embd;
    size_t att = (size_t)(m->max_q_dim > m->max_qk_dim ? m->max_q_dim : m->max_qk_dim);
    size_t qkn = m->arch->qk_norm ? (size_t)m->max_qkv_dim : 0;   /* per-head q/k norms of a batch */
    if (qkn > att) att = qkn;
    c->logit_rows = c->n_batch < 32 ? c->n_batch : 32;
    /* the FFN's hidden slots serve the dense FFN and the experts (gate, up and act(gate) * up
     * of every chosen expert of a token) */
    size_t ff = (size_t)(m->max_ff > m->max_moe_ff ? m->max_ff : m->max_moe_ff);
    off = 0;
#define SLOT(field, bytes) (c->field = off, off = align_up(off + (bytes), 256))
    SLOT(off_x, E * B * 4);
    SLOT(off_xn, E * B * 4);
    SLOT(off_o, E * B * 4);
    SLOT(off_qkv, (size_t)m->max_qkv_dim * B * 4);
    SLOT(off_att, att * B * 4);
    SLOT(off_gu, ff * 2 * B * 4);
    SLOT(off_qkn, qkn * B * 4);
    SLOT(off_h, ff * B * 4);
    SLOT(off_rl, (size_t)m->max_expert * B * 4);
    SLOT(off_eids, (size_t)m->max_expert_used * B * 4);
    SLOT(off_ew, (size_t)m->max_expert_used * B * 4);
    SLOT(off_eo, E * (size_t)m->max_expert_used * B * 4);
    SLOT(off_logits, (size_t)m->info.n_vocab * (size_t)c->logit_rows * 4);
    SLOT(off_ids, B * 4);
    SLOT(off_pos, B * 4);
    SLOT(off_step, 8);
    SLOT(off_argmax, 4);
    SLOT(off_hist, PIPE_RING * 4);
#undef SLOT
    MLXN_TRY(mlxn_buffer_alloc(c->be, off, &c->scratch));
    MLXN_TRY(mlxn_buffer_fill(c->scratch, 0, 0, off));

    /* MLXN_ENGINE_SKIP=kind,kind,...: a timing aid that leaves those ops out of every step
     * (op names such as rope, kv_write, glu, attention, add_rms_norm, or the products mm_qkv,
     * mm_o, mm_gate_up, mm_down, lm_head, mm_router; the MoE experts' products count as mm_gate_up and
     * mm_down). The results are wrong; only the speed means anything. */
    const char *skip = getenv("MLXN_ENGINE_SKIP");
    while (skip && *skip) {
        size_t len = strcspn(skip, ",");
        int found = -1;
        for (int k = 0; k < MLXN_FWD_KIND_COUNT && found < 0; k++) {
            const char *nm = mlxn_forward_kind_name(k);
            if (nm && strlen(nm) == len && !strncmp(nm, skip, len)) found = k;
        }
        if (found >= 0) c->skip_ops |= (uint64_t)1 << found;
        else mlxn_log(MLXN_LOG_WARN, "MLXN_ENGINE_SKIP: unknown kind '%.*s'", (int)len, skip);
        skip += len + (skip[len] == ',');
    }
    if (c->skip_ops)
        mlxn_log(MLXN_LOG_WARN, "MLXN_ENGINE_SKIP=%s: those ops are left out, results are wrong (timing only)",
                 getenv("MLXN_ENGINE_SKIP"));

    /* MLXN_NO_MMFUSE=1: the op sequence before mul_mat_fused (rms_norm / glu / add_rms_norm as
     * ops of their own), for side-by-side timing and as a check of the fused one */
    const char *nf = getenv("MLXN_NO_MMFUSE");
    c->no_mmfuse = nf && *nf && strcmp(nf, "0");
    /* MLXN_NO_ROPEKV=1: the separate rope and kv_write ops of the first version (comparisons) */
    const char *nrk = getenv("MLXN_NO_ROPEKV");
    c->no_ropekv = nrk && *nrk && strcmp(nrk, "0") != 0;
    /* MLXN_GEN_PIPE=0: greedy generation waits for each token on the host (the loop before the
     * pipelined one, for side-by-side timing) */
    const char *gp = getenv("MLXN_GEN_PIPE");
    c->gen_pipe = PIPE_BATCH;
    if (gp && *gp) {
        const int b = atoi(gp);
        c->gen_pipe = b < 0 ? 0 : b > PIPE_RING ? PIPE_RING : b;
    }

    c->use_graph = p->use_graph < 0 ? mlxn_backend_device_kind(c->be) == MLXN_DEVICE_CUDA : p->use_graph > 0;
    mlxn_log(MLXN_LOG_INFO, "context: %d positions, KV cache %s %.1f MiB, scratch %.1f MiB, batch %d%s", c->n_ctx,
             mlxn_type_name(c->kv_type), c->kv_bytes / 1048576.0, off / 1048576.0, c->n_batch,
             c->use_graph ? ", decode graph" : "");
    return MLXN_OK;
}

mlxn_status mlxn_context_new(mlxn_model_t *m, const mlxn_context_params *params, mlxn_context_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_context_new: out is NULL");
    *out = NULL;
    if (!m) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_context_new: model is NULL");
    mlxn_context_t *c = calloc(1, sizeof *c);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "mlxn_context_new");
    c->m = m;
    c->be = m->be;
    mlxn_context_params p = params ? *params : mlxn_context_default_params();
    mlxn_status st = context_init(c, &p);
    if (st != MLXN_OK) {
        mlxn_context_free(c);
        return st;
    }
    *out = c;
    return MLXN_OK;
}

void mlxn_context_free(mlxn_context_t *c) {
    if (!c) return;
    mlxn_graph_free(c->graph);
    mlxn_graph_free(c->graph_pipe);
    mlxn_buffer_free(c->scratch);
    mlxn_buffer_free(c->kv);
    free(c);
}

int mlxn_context_n_ctx(const mlxn_context_t *c) { return c ? c->n_ctx : 0; }
int mlxn_context_n_past(const mlxn_context_t *c) { return c ? c->n_past : 0; }
size_t mlxn_context_kv_bytes(const mlxn_context_t *c) { return c ? c->kv_bytes : 0; }
void mlxn_context_reset(mlxn_context_t *c) {
    if (c) c->n_past = 0;
}
mlxn_status mlxn_context_truncate(mlxn_context_t *c, int n) {
    if (!c) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_context_truncate: context is NULL");
    if (n < 0 || n > c->n_past)
        return CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "truncate to %d positions: the sequence has %d", n, c->n_past);
    c->n_past = n;
    return MLXN_OK;
}
const char *mlxn_context_last_error(const mlxn_context_t *c) { return c ? c->err.msg : ""; }

/* ==========================================================================
 * Decoding
 * ========================================================================== */

/* What a step should leave behind. */
enum { WANT_NONE = 0, WANT_LAST = 1, WANT_ALL = 2, WANT_ARGMAX = 3 };

/* Records one decode step (layers, LM head, then argmax into off_argmax, or with pipe the
 * argmax handed to the next step: argmax_advance into off_step and off_hist) as a graph. */
static mlxn_status record_decode_graph(mlxn_context_t *c, bool pipe, mlxn_graph_t **out) {
    MLXN_TRY(mlxn_graph_begin(c->be));
    c->n_ops = 0;
    mlxn_status st = mlxn_forward_layers(c, 1);
    if (st == MLXN_OK) st = mlxn_forward_lm_head(c, 0, 1);
    if (st == MLXN_OK) st = pipe ? mlxn_forward_argmax_advance(c, PIPE_RING) : mlxn_forward_argmax(c);
    mlxn_graph_t *g = NULL;
    mlxn_status st2 = mlxn_graph_end(c->be, &g);
    if (st != MLXN_OK) {
        mlxn_graph_free(g);
        return st;
    }
    MLXN_TRY(st2);
    *out = g;
    c->graph_ops = c->n_ops;
    const mlxn_model_t *m = c->m;
    int mm = 0;   /* mat-vecs: layers' projections (MoE: router and 3 mul_mat_id) + LM head */
    for (int il = 0; il < m->info.n_layer; il++) {
        const mlxn_layer *L = &m->layers[il];
        mm += (L->qkv_fused == 3 ? 1 : L->qkv_fused == 2 ? 2 : 3) + 1 + (L->has_moe ? 4 : (L->gate_up_fused ? 1 : 2) + 1);
    }
    mlxn_log(MLXN_LOG_INFO, "decode graph recorded: %d ops (%.2f per layer over %d layers), %d of them mat-vecs%s",
             c->graph_ops, (double)c->graph_ops / m->info.n_layer, m->info.n_layer, mm + 1,
             pipe ? "; greedy: the token handed to the next step on the device" : "");
    return MLXN_OK;
}

/* One decode step as a graph: layers, LM head and argmax. Recorded on first use. */
static mlxn_status decode_one_graph(mlxn_context_t *c) {
    if (!c->graph) MLXN_TRY(record_decode_graph(c, false, &c->graph));
    return mlxn_graph_replay(c->graph);
}

/* Runs tokens [0, n) of one chunk (n <= n_batch) at positions n_past...; then the LM head
 * as asked. logits_out: host destination (WANT_LAST: n_vocab floats, WANT_ALL: n * n_vocab). */
static mlxn_status step(mlxn_context_t *c, const int32_t *tokens, int n, int want, float *logits_out,
                        int32_t *argmax_out) {
    mlxn_model_t *m = c->m;
    const int V = m->info.n_vocab;
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= V)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "token %d at index %d is outside the vocabulary [0, %d)",
                             tokens[i], i, V);
    if (n == 1) {   /* id and position in one copy (forward.c reads them from off_step) */
        int32_t ip[2] = {tokens[0], c->n_past};
        MLXN_TRY(mlxn_buffer_upload(c->scratch, c->off_step, ip, sizeof ip));
    } else {
        int32_t pos[n > 0 ? n : 1];
        for (int i = 0; i < n; i++) pos[i] = c->n_past + i;
        MLXN_TRY(mlxn_buffer_upload(c->scratch, c->off_ids, tokens, (size_t)n * 4));
        MLXN_TRY(mlxn_buffer_upload(c->scratch, c->off_pos, pos, (size_t)n * 4));
    }

    /* The first single-token step runs op by op: backends size their scratch and set up
     * libraries on first use, which cannot happen during a capture. The second records. */
    bool graphed = false;
    if (n == 1 && c->use_graph && !c->graph_broken && want != WANT_ALL && c->n_direct_steps++ > 0) {
        mlxn_status st = decode_one_graph(c);
        if (st == MLXN_OK) {
            graphed = true;
        } else {
            mlxn_log(MLXN_LOG_WARN, "decode graph unavailable (%s); running ops directly", mlxn_last_error());
            c->graph_broken = true;
            mlxn_graph_free(c->graph);
            c->graph = NULL;
        }
    }
    if (!graphed) {
        c->n_ops = 0;
        MLXN_TRY(mlxn_forward_layers(c, n));
        if (want == WANT_LAST || want == WANT_ARGMAX) {
            MLXN_TRY(mlxn_forward_lm_head(c, n - 1, 1));
            if (want == WANT_ARGMAX) MLXN_TRY(mlxn_forward_argmax(c));
        }
        if (n == 1 && want == WANT_ARGMAX && !c->direct_ops_logged) {
            c->direct_ops_logged = true;
            mlxn_log(MLXN_LOG_INFO, "decode step (op by op): %d ops", c->n_ops);
        }
    }
    if (want == WANT_LAST && logits_out)
        MLXN_TRY(mlxn_buffer_download(c->scratch, c->off_logits, logits_out, (size_t)V * 4));
    if (want == WANT_ARGMAX)
        MLXN_TRY(mlxn_buffer_download(c->scratch, c->off_argmax, argmax_out, 4));
    if (want == WANT_ALL) {
        for (int r = 0; r < n; r += c->logit_rows) {
            int nr = n - r < c->logit_rows ? n - r : c->logit_rows;
            MLXN_TRY(mlxn_forward_lm_head(c, r, nr));
            MLXN_TRY(mlxn_buffer_download(c->scratch, c->off_logits, logits_out + (size_t)r * V,
                                          (size_t)nr * V * 4));
        }
    }
    if (want == WANT_NONE) MLXN_TRY(mlxn_backend_sync(c->be));
    c->n_past += n;
    return MLXN_OK;
}

/* Splits n tokens into n_batch chunks; only the last chunk's last row matters unless WANT_ALL. */
static mlxn_status run_tokens(mlxn_context_t *c, const int32_t *tokens, int n, int want, float *logits,
                              int32_t *argmax_out) {
    if (!c) return mlxn_fail(MLXN_ERR_INVALID_ARG, "decode: context is NULL");
    if (!tokens || n < 1) return CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "decode: no tokens (n = %d)", n);
    if ((int64_t)c->n_past + n > c->n_ctx)
        return CTX_FAIL(c, MLXN_ERR_CONTEXT_FULL,
                        "%d tokens do not fit the context: %d of %d positions are used, %d are left "
                        "(raise --ctx or shorten the prompt)",
                        n, c->n_past, c->n_ctx, c->n_ctx - c->n_past);
    for (int i = 0; i < n; i += c->n_batch) {
        int k = n - i < c->n_batch ? n - i : c->n_batch;
        bool last = i + k == n;
        int w = want == WANT_ALL ? WANT_ALL : last ? want : WANT_NONE;
        float *dst = want == WANT_ALL ? logits + (size_t)i * c->m->info.n_vocab : logits;
        CTX_TRY(c, step(c, tokens + i, k, w, dst, argmax_out));
    }
    return MLXN_OK;
}

mlxn_status mlxn_decode(mlxn_context_t *c, const int32_t *tokens, int n, float *logits) {
    return run_tokens(c, tokens, n, logits ? WANT_LAST : WANT_NONE, logits, NULL);
}

mlxn_status mlxn_decode_all(mlxn_context_t *c, const int32_t *tokens, int n, float *logits) {
    if (c && !logits) return CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "mlxn_decode_all: logits is NULL");
    return run_tokens(c, tokens, n, WANT_ALL, logits, NULL);
}

/* ==========================================================================
 * Generation
 * ========================================================================== */

/* B (<= PIPE_RING) greedy steps back to back from tok at n_past, each replaying the graph that
 * ends in argmax_advance: the step's argmax becomes the next step's token on the device, so the
 * host neither waits nor uploads between them. out[j] = the token step j produced (its argmax,
 * to be run at n_past + j + 1). upload: put {tok, n_past} into off_step first (not needed when
 * the previous batch ran on from exactly there). n_past is the caller's to advance, by the steps
 * whose tokens it takes. *ran = false (and OK) when the graph cannot be recorded: the caller
 * runs the step op by op, as every later greedy step will. */
static mlxn_status decode_pipelined(mlxn_context_t *c, int32_t tok, int B, bool upload, int32_t *out, bool *ran) {
    *ran = false;
    if (B < 1 || B > PIPE_RING || (int64_t)c->n_past + B > c->n_ctx)
        return CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "pipelined decode: %d steps at position %d (context %d, at most %d steps)",
                        B, c->n_past, c->n_ctx, PIPE_RING);
    if (!c->graph_pipe) {
        mlxn_status st = record_decode_graph(c, true, &c->graph_pipe);
        if (st != MLXN_OK) {
            mlxn_log(MLXN_LOG_WARN, "greedy decode graph unavailable (%s); waiting for each token", mlxn_last_error());
            c->pipe_broken = true;
            return MLXN_OK;
        }
    }
    if (upload) {
        int32_t ip[2] = {tok, c->n_past};
        CTX_TRY(c, mlxn_buffer_upload(c->scratch, c->off_step, ip, sizeof ip));
    }
    for (int j = 0; j < B; j++) CTX_TRY(c, mlxn_graph_replay(c->graph_pipe));
    int32_t ring[PIPE_RING];
    CTX_TRY(c, mlxn_buffer_download(c->scratch, c->off_hist, ring, sizeof ring));
    for (int j = 0; j < B; j++) out[j] = ring[(c->n_past + 1 + j) % PIPE_RING];
    *ran = true;
    return MLXN_OK;
}

mlxn_generate_params mlxn_generate_default_params(void) {
    mlxn_generate_params p;
    memset(&p, 0, sizeof p);
    p.n_predict = 128;
    p.stop_at_eos = true;
    return p;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

mlxn_status mlxn_generate(mlxn_context_t *c, const int32_t *prompt, int n_prompt,
                          const mlxn_generate_params *params, int32_t *out_tokens, int out_cap,
                          mlxn_generate_stats *stats) {
    if (!c) return mlxn_fail(MLXN_ERR_INVALID_ARG, "mlxn_generate: context is NULL");
    mlxn_generate_params p = params ? *params : mlxn_generate_default_params();
    mlxn_generate_stats s;
    memset(&s, 0, sizeof s);
    if (stats) *stats = s;
    const mlxn_model_info *in = &c->m->info;
    const int V = in->n_vocab;
    int n_left = c->n_ctx - c->n_past - n_prompt;
    int n_predict = p.n_predict < 0 || p.n_predict > n_left ? n_left : p.n_predict;
    if (n_prompt < 1) return CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "mlxn_generate: empty prompt");
    if (n_left < 0)
        return CTX_FAIL(c, MLXN_ERR_CONTEXT_FULL,
                        "the prompt has %d tokens but the context holds %d (%d already used): raise --ctx "
                        "or shorten the prompt", n_prompt, c->n_ctx, c->n_past);

    /* history for the sampler (prompt + generated) and the host logits row */
    int32_t *hist = NULL;
    float *logits = NULL;
    if (p.sample) {
        hist = malloc(sizeof *hist * (size_t)(n_prompt + n_predict + 1));
        logits = malloc(sizeof *logits * (size_t)V);
        if (!hist || !logits) {
            free(hist);
            free(logits);
            return CTX_FAIL(c, MLXN_ERR_NO_MEMORY, "mlxn_generate: %d-token history", n_prompt + n_predict);
        }
        memcpy(hist, prompt, sizeof *hist * (size_t)n_prompt);
    }
    int n_hist = n_prompt;
    mlxn_status st = MLXN_OK;
    int32_t tok = -1;
    /* greedy tokens a pipelined batch produced ahead of the host (ahead[i_ahead..n_ahead)), and
     * whether off_step on the device already holds {tok, n_past} (a whole batch was taken) */
    int32_t ahead[PIPE_RING];
    int n_ahead = 0, i_ahead = 0;
    bool step_on_device = false;

    double t0 = now_ms();
    if (n_predict > 0)
        st = run_tokens(c, prompt, n_prompt, p.sample ? WANT_LAST : WANT_ARGMAX, logits, &tok);
    else
        st = run_tokens(c, prompt, n_prompt, WANT_NONE, NULL, NULL);
    s.n_prompt = n_prompt;
    s.prompt_ms = now_ms() - t0;
    double t1 = now_ms();
    while (st == MLXN_OK && s.n_gen < n_predict) {
        if (p.sample) {
            tok = p.sample(logits, V, hist, n_hist, p.sample_user);
            if (tok < 0 || tok >= V) {
                st = CTX_FAIL(c, MLXN_ERR_INVALID_ARG, "the sampler returned token %d (vocabulary %d)", tok, V);
                break;
            }
            hist[n_hist++] = tok;
        }
        if (out_tokens && s.n_gen < out_cap) out_tokens[s.n_gen] = tok;
        s.n_gen++;
        bool go_on = p.on_token ? p.on_token(tok, p.token_user) : true;
        bool eos = tok == in->eos_id || (in->eot_id >= 0 && tok == in->eot_id);
        if (!go_on || (p.stop_at_eos && eos) || s.n_gen >= n_predict) break;
        /* The next token. Running tok at n_past gives it; a pipelined batch already did (the
         * steps after a stop are dropped: n_past counts only the steps whose tokens were taken,
         * and later steps overwrite the cache rows past it). */
        if (i_ahead == n_ahead && !p.sample && c->use_graph && c->gen_pipe && !c->graph_broken && !c->pipe_broken &&
            c->n_direct_steps > 0) {
            int B = n_predict - s.n_gen;
            if (B > c->gen_pipe) B = c->gen_pipe;
            bool ran = false;
            st = decode_pipelined(c, tok, B, !step_on_device, ahead, &ran);
            if (st != MLXN_OK) break;
            if (ran) {
                n_ahead = B;
                i_ahead = 0;
                step_on_device = true;
            }
        }
        if (i_ahead < n_ahead) {
            tok = ahead[i_ahead++];
            c->n_past++;
        } else {
            st = run_tokens(c, &tok, 1, p.sample ? WANT_LAST : WANT_ARGMAX, logits, &tok);
            step_on_device = false;
        }
        s.n_decode++;
    }
    s.gen_ms = now_ms() - t1;
    free(hist);
    free(logits);
    if (stats) *stats = s;
    return st;
}
