/* mlxn bench-ops: kernel benchmark against the HBM read ceiling measured in the same process.
 * Every case: random data (never zeros), weights rotated over enough copies that the working set is
 * >= 4x the L2, a check against a CPU reference (double accumulation on the dequantized weights),
 * then B dispatches captured in a CUDA graph and replayed; per-dispatch median and p10 over the
 * replays. Prints type, shape, us median/p10, GB/s, % of ceiling; --markdown writes the table. */
#include "tools_common.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef MLXN_WITH_CUDA
#include "backend/cuda/cuda_internal.h"
#include "core/half.h"
#include "core/status.h"
#include "formats/blocks.h"

/* ---- options -------------------------------------------------------------------------------- */
static struct {
    int reps, batch, device;
    const char *only, *markdown;
    int quick, no_verify, api, no_v2, attn_prefill, fused, attn_ready, attn_prof, mmv_prof;
} opt = {25, 20, 0, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static void *g_stream;
/* --mmv-cmp: mat-vec versions verified and timed side by side on the same weights, alternating */
#define CMP_MAX 6
#define CMP_ROUNDS 5
static int g_cmp_ver[CMP_MAX], g_ncmp;
static double g_ceiling_gbs;
static size_t g_l2;
static FILE *g_md;
static const char *g_attn_tag = "attn decode", *g_attnp_tag = "attn prefill";
static int g_fail;

/* ---- random numbers ------------------------------------------------------------------------- */
static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) { rng_s ^= rng_s >> 12; rng_s ^= rng_s << 25; rng_s ^= rng_s >> 27; return rng_s * 0x2545F4914F6CDD1Dull; }
static float frand(void) { return (float)((rng() >> 40) * (1.0 / 16777216.0)); }
static float nrand(void) { float u = frand() + 1e-7f, v = frand(); return sqrtf(-2.f * logf(u)) * cosf(6.2831853f * v); }

/* ---- reference dequantizer (SPEC-FORMATS.md), independent of the device code ---------------- */
static const int8_t IQ4K[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static float h16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return mlxn_fp16_to_f32(v); }
static int kscale(const uint8_t *s, int j, int *m) {
    if (j < 4) { *m = s[j + 4] & 63; return s[j] & 63; }
    *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    return (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
}
static double ref_dq(mlxn_type t, const uint8_t *b, int e) {
    switch (t) {
    case MLXN_TYPE_Q4_0: return h16(b) * ((e < 16 ? b[2 + e] & 15 : b[2 + e - 16] >> 4) - 8);
    case MLXN_TYPE_Q4_1: return h16(b) * (e < 16 ? b[4 + e] & 15 : b[4 + e - 16] >> 4) + h16(b + 2);
    case MLXN_TYPE_Q5_0: case MLXN_TYPE_Q5_1: {
        int m1 = t == MLXN_TYPE_Q5_1;
        uint32_t h; memcpy(&h, b + (m1 ? 4 : 2), 4);
        const uint8_t *qs = b + (m1 ? 8 : 6);
        int q = (e < 16 ? qs[e] & 15 : qs[e - 16] >> 4) | (int)(((h >> e) & 1) << 4);
        return m1 ? h16(b) * q + h16(b + 2) : h16(b) * (q - 16);
    }
    case MLXN_TYPE_Q8_0: return h16(b) * (int8_t)b[2 + e];
    case MLXN_TYPE_IQ4_NL: return h16(b) * IQ4K[e < 16 ? b[2 + e] & 15 : b[2 + e - 16] >> 4];
    case MLXN_TYPE_MXFP4: {
        static const int F[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
        return ldexp(1.0, (int)b[0] - 128) * F[e < 16 ? b[1 + e] & 15 : b[1 + e - 16] >> 4];
    }
    case MLXN_TYPE_Q2_K: {
        int n = e / 128, j = (e % 128) / 32, l = e % 32, q = (b[16 + 32 * n + l] >> (2 * j)) & 3, sc = b[e / 16];
        return h16(b + 80) * (sc & 15) * q - h16(b + 82) * (sc >> 4);
    }
    case MLXN_TYPE_Q3_K: {
        int n = e / 128, j = (e % 128) / 32, l = e % 32, q = (b[32 + 32 * n + l] >> (2 * j)) & 3;
        int hb = (b[l] >> (4 * n + j)) & 1, i = e / 16;
        const uint8_t *s = b + 96;
        int sc = ((i < 8 ? s[i] & 15 : s[i - 8] >> 4) | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4)) - 32;
        return h16(b + 108) * sc * (q - (hb ? 0 : 4));
    }
    case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K: {
        int q5 = t == MLXN_TYPE_Q5_K, c = e / 64, hi = (e / 32) % 2, l = e % 32, m;
        int sc = kscale(b + 4, 2 * c + hi, &m);
        int q = (b[(q5 ? 48 : 16) + 32 * c + l] >> (4 * hi)) & 15;
        if (q5) q |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
        return h16(b) * sc * q - h16(b + 2) * m;
    }
    case MLXN_TYPE_Q6_K: {
        int n = e / 128, r = e % 128, g = r / 32, l = r % 32;
        int lo = b[64 * n + l + ((g & 1) ? 32 : 0)];
        lo = (g & 2) ? lo >> 4 : lo & 15;
        int q = lo | (((b[128 + 32 * n + l] >> (2 * g)) & 3) << 4);
        return h16(b + 208) * (int8_t)b[192 + e / 16] * (q - 32);
    }
    case MLXN_TYPE_IQ4_XS: {
        int ib = e / 32, j = e % 32;
        uint16_t sh; memcpy(&sh, b + 2, 2);
        int ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
        return h16(b) * (ls - 32) * IQ4K[j < 16 ? b[8 + 16 * ib + j] & 15 : b[8 + 16 * ib + j - 16] >> 4];
    }
    case MLXN_TYPE_F16: return h16(b);
    case MLXN_TYPE_BF16: { uint16_t v; memcpy(&v, b, 2); return mlxn_bf16_to_f32(v); }
    case MLXN_TYPE_F32: { float v; memcpy(&v, b, 4); return v; }
    default: return 0;
    }
}

/* Random blocks: random bytes everywhere, fp16 scale fields set to sane values. */
static void put16(uint8_t *p, float v) { uint16_t h = mlxn_f32_to_fp16(v); memcpy(p, &h, 2); }
static void fill_weights(mlxn_type t, uint8_t *w, int64_t rows, int64_t k) {
    const mlxn_type_traits *tr = mlxn_type_info(t);
    int64_t nb = rows * (k / tr->block_elems);
    size_t bb = tr->block_bytes;
    if (t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16 || t == MLXN_TYPE_F32) {
        for (int64_t i = 0; i < rows * k; i++) {
            float v = nrand() * 0.05f;
            if (t == MLXN_TYPE_F32) memcpy(w + 4 * i, &v, 4);
            else if (t == MLXN_TYPE_F16) put16(w + 2 * i, v);
            else { uint16_t h = mlxn_f32_to_bf16(v); memcpy(w + 2 * i, &h, 2); }
        }
        return;
    }
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = w + i * bb;
        for (size_t j = 0; j < bb; j += 8) { uint64_t r = rng(); memcpy(b + j, &r, bb - j < 8 ? bb - j : 8); }
        float d = (0.5f + frand()) * (1.f / 256.f), m = (0.5f + frand()) * (1.f / 512.f);
        switch (t) {
        case MLXN_TYPE_Q4_0: case MLXN_TYPE_Q5_0: case MLXN_TYPE_Q8_0: case MLXN_TYPE_IQ4_NL: case MLXN_TYPE_IQ4_XS:
            put16(b, d); break;
        case MLXN_TYPE_Q4_1: case MLXN_TYPE_Q5_1: case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K:
            put16(b, d); put16(b + 2, m); break;
        case MLXN_TYPE_Q2_K: put16(b + 80, d); put16(b + 82, m); break;
        case MLXN_TYPE_Q3_K: put16(b + 108, d); break;
        case MLXN_TYPE_Q6_K: put16(b + 208, d); break;
        case MLXN_TYPE_MXFP4: b[0] = (uint8_t)(118 + rng() % 8); break;
        default: break;
        }
    }
}

/* ---- helpers -------------------------------------------------------------------------------- */
#define TRY(x) do { mlxn_status s__ = (x); if (s__ != MLXN_OK) { fprintf(stderr, "bench-ops: %s\n", mlxn_last_error()); return s__; } } while (0)
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static int cmpf(const void *a, const void *b) { float x = *(const float *)a, y = *(const float *)b; return x < y ? -1 : x > y; }
static int selected(const char *name) { return !opt.only || strstr(name, opt.only) != NULL; }

typedef mlxn_status (*dispatch_fn)(void *ctx, int i);   /* i = dispatch index (rotation) */

/* Captures opt.batch dispatches in a graph, replays opt.reps times: per-dispatch median/p10 (us). */
static mlxn_status time_graph(dispatch_fn fn, void *ctx, int batch, double *med_us, double *p10_us) {
    for (int i = 0; i < 3; i++) TRY(fn(ctx, i));           /* warm-up; grows the arena */
    TRY(mlxn_cuda_stream_sync(g_stream));
    TRY(mlxn_cuda_graph_begin(g_stream));
    for (int i = 0; i < batch; i++) {
        mlxn_status st = fn(ctx, i);
        if (st != MLXN_OK) { void *ex; mlxn_cuda_graph_end(g_stream, &ex); mlxn_cuda_graph_destroy(ex); return st; }
    }
    void *exec;
    TRY(mlxn_cuda_graph_end(g_stream, &exec));
    void *e0, *e1;
    TRY(mlxn_cuda_event_create(&e0));
    TRY(mlxn_cuda_event_create(&e1));
    float *t = malloc(sizeof(float) * (size_t)opt.reps);
    for (int r = -2; r < opt.reps; r++) {
        TRY(mlxn_cuda_event_record(e0, g_stream));
        TRY(mlxn_cuda_graph_launch(exec, g_stream));
        TRY(mlxn_cuda_event_record(e1, g_stream));
        float ms;
        TRY(mlxn_cuda_event_elapsed(e0, e1, &ms));
        if (r >= 0) t[r] = ms;
    }
    TRY(mlxn_cuda_stream_sync(g_stream));
    qsort(t, (size_t)opt.reps, sizeof(float), cmpf);
    *med_us = t[opt.reps / 2] * 1000.0 / batch;
    *p10_us = t[opt.reps / 10] * 1000.0 / batch;
    free(t);
    mlxn_cuda_event_destroy(e0);
    mlxn_cuda_event_destroy(e1);
    mlxn_cuda_graph_destroy(exec);
    return MLXN_OK;
}

static void report(const char *kind, const char *type, const char *shape, double med, double p10, double bytes,
                   double flops, double err, const char *note) {
    double gbs = bytes / (med * 1e3);
    double pct = 100.0 * gbs / g_ceiling_gbs;
    char perf[64];
    if (flops > 0) snprintf(perf, sizeof perf, "%.0f TFLOP/s", flops / (med * 1e6));
    else snprintf(perf, sizeof perf, "%.0f%%", pct);
    printf("%-22s %-7s %-26s %9.2f %9.2f %8.0f %12s  err %.1e %s\n", kind, type, shape, med, p10, gbs, perf, err,
           note ? note : "");
    if (g_md)
        fprintf(g_md, "| %s | %s | %s | %.2f | %.2f | %.0f | %s | %.1e | %s |\n", kind, type, shape, med, p10, gbs, perf,
                err, note ? note : "");
    fflush(stdout);
}

/* The clock-mark runs (--mmv-prof, --attn-prof): one more timed graph of fn with a zeroed device
 * buffer of n marks set in *knob (the kernel's profiling pointer); returns the marks copied to
 * the host (free them), or NULL after printing why, tagged `tag`. */
static unsigned long long *prof_run(unsigned long long **knob, size_t n, dispatch_fn fn, void *ctx, double *med,
                                    const char *tag) {
    unsigned long long *d = NULL, *h = malloc(sizeof *h * n);
    double p10;
    mlxn_status st = !h ? mlxn_fail(MLXN_ERR_NO_MEMORY, "%zu marks", n) : mlxn_cuda_malloc((void **)&d, sizeof *d * n);
    if (st == MLXN_OK) st = mlxn_cuda_memset(d, 0, sizeof *d * n, g_stream);
    if (st == MLXN_OK) {
        *knob = d;
        st = time_graph(fn, ctx, opt.batch, med, &p10);
        *knob = NULL;
    }
    if (st == MLXN_OK) st = mlxn_cuda_memcpy_d2h(h, d, sizeof *h * n, g_stream);
    if (d) mlxn_cuda_free(d);
    if (st != MLXN_OK) {
        printf("%s: %s\n", tag, mlxn_last_error());
        free(h);
        return NULL;
    }
    return h;
}

/* ---- mat-vec and mul_mat_id ----------------------------------------------------------------- */
typedef struct {
    mlxn_cuda_mm a;
    uint8_t *w[64]; int ncopy;        /* weight copies (rotation) */
    int32_t *ids; int nids;           /* id sets (rotation), top_k each */
} mm_ctx;
static mlxn_status mm_dispatch(void *c, int i) {
    mm_ctx *m = c;
    mlxn_cuda_mm a = m->a;
    a.w = m->w[i % m->ncopy];
    if (m->ids) a.ids = m->ids + (size_t)(i % m->nids) * a.top_k * a.n_tokens;
    return mlxn_cuda_mul_mat(&a, g_stream);
}

/* --mmv-prof: one more timed graph of the same mat-vec launches with v6's per-block clock marks
 * on; the marks of the last launch (its blocks start under programmatic dependent launch while the
 * previous one runs): cycles between the phases (mean / max over the blocks; warp 0 for the
 * stages), and the blocks' entry and exit times (globaltimer, ns). */
static void mmv_prof(mm_ctx *m, const char *name) {
    enum { MAXB = 4096, K = MLXN_CUDA_V6_PROF };
    char tag[200];
    snprintf(tag, sizeof tag, "mmv prof %s", name);
    double med;
    unsigned long long *h = prof_run(&mlxn_cuda_mmv6_prof, (size_t)MAXB * K, mm_dispatch, m, &med, tag);
    if (!h) return;
    static const char *what[8] = {"init", "issue", "wait", "x copy", "x quant", "stage 0", "stages", "tail"};
    double sum[8] = {0}, mx[8] = {0};
    int n = 0;
    unsigned long long e0 = ~0ull, e1 = 0, x0 = ~0ull, x1 = 0;
    for (int b = 0; b < MAXB; b++) {
        const unsigned long long *t = h + (size_t)b * K;
        if (!t[0] || !t[8]) continue;
        n++;
        for (int k = 0; k < 8; k++) {
            double dt = (double)(long long)(t[k + 1] - t[k]);
            sum[k] += dt;
            if (dt > mx[k]) mx[k] = dt;
        }
        if (t[10] < e0) e0 = t[10];
        if (t[10] > e1) e1 = t[10];
        if (t[11] < x0) x0 = t[11];
        if (t[11] > x1) x1 = t[11];
    }
    if (!n) {
        printf("mmv prof %s (%.2f us): no v6 blocks (another route)\n", name, med);
        free(h);
        return;
    }
    printf("mmv prof %s (%.2f us): %d blocks; cycles mean / max:", name, med, n);
    for (int k = 0; k < 8; k++) printf(" %s %.0f/%.0f", what[k], sum[k] / n, mx[k]);
    printf("; entry spread %llu ns, exits %llu..%llu ns after the first entry\n", e1 - e0, x0 - e0, x1 - e0);
    free(h);
}

/* Reference: y[c][r] for the listed rows of matrix (host copy), double accumulation. */
static double check_rows(mlxn_type t, const uint8_t *hw, size_t row_bytes, int64_t k, const float *x, const float *y,
                         int64_t rows, int64_t ystride, int nrows_check) {
    const mlxn_type_traits *tr = mlxn_type_info(t);
    double maxerr = 0, maxref = 1e-30;
    for (int i = 0; i < nrows_check; i++) {
        int64_t r = (int64_t)((double)i * (double)(rows - 1) / (nrows_check > 1 ? nrows_check - 1 : 1));
        const uint8_t *rp = hw + r * row_bytes;
        double s = 0;
        for (int64_t e = 0; e < k; e++)
            s += ref_dq(t, rp + (e / tr->block_elems) * tr->block_bytes, (int)(e % tr->block_elems)) * x[e];
        double d = fabs(s - y[r * ystride]);
        if (d > maxerr) maxerr = d;
        if (fabs(s) > maxref) maxref = fabs(s);
    }
    return maxerr / maxref;
}

static mlxn_status bench_mm(const char *kind, mlxn_type t, int64_t rows, int64_t k, int64_t n, int n_expert, int top_k,
                            double *out_med) {
    char shape[64];
    if (n_expert && n > 1) snprintf(shape, sizeof shape, "%lldx%lld e%d/top%d n%lld", (long long)rows, (long long)k, n_expert,
                                    top_k, (long long)n);
    else if (n_expert) snprintf(shape, sizeof shape, "%lldx%lld e%d/top%d", (long long)rows, (long long)k, n_expert, top_k);
    else snprintf(shape, sizeof shape, "%lldx%lld n%lld", (long long)rows, (long long)k, (long long)n);
    char name[160];
    snprintf(name, sizeof name, "%s %s %s", kind, mlxn_type_name(t), shape);
    if (!selected(name)) return MLXN_OK;
    const mlxn_type_traits *tr = mlxn_type_info(t);
    size_t row_bytes = mlxn_row_size(t, k);
    size_t mat = row_bytes * (size_t)rows;
    int nexp = n_expert ? n_expert : 1;
    /* distinct random experts: at most 8, replicated to n_expert (speed is data-independent) */
    int ndist = nexp < 8 ? nexp : 8;
    uint8_t *hw = malloc(mat * (size_t)ndist);
    if (!hw) return mlxn_fail(MLXN_ERR_NO_MEMORY, "bench: host memory");
    fill_weights(t, hw, rows * ndist, k);
    size_t set = mat * (size_t)nexp;
    size_t want = 4 * g_l2 + (64u << 20);
    int ncopy = n_expert ? (int)((want + set - 1) / set) : (int)((want + mat - 1) / mat);
    if (ncopy < 1) ncopy = 1;
    if (ncopy > 64) ncopy = 64;
    mm_ctx m;
    memset(&m, 0, sizeof m);
    m.ncopy = ncopy;
    for (int c = 0; c < ncopy; c++) {
        TRY(mlxn_cuda_malloc((void **)&m.w[c], set));
        for (int e = 0; e < nexp; e++) {
            if (c == 0 && e < ndist) TRY(mlxn_cuda_memcpy_h2d(m.w[c] + mat * e, hw + mat * e, mat, g_stream));
            else TRY(mlxn_cuda_memcpy_d2d(m.w[c] + mat * e, m.w[0] + mat * (e % ndist), mat, g_stream));
        }
    }
    int64_t n_tokens = n_expert ? n : 1;
    int64_t ncolx = n_expert ? n_tokens : n;          /* one x per token (n_x = 1) */
    float *hx = malloc(sizeof(float) * (size_t)(k * ncolx));
    for (int64_t i = 0; i < k * ncolx; i++) hx[i] = nrand();
    float *dx, *dy;
    int64_t ycols = n_expert ? (int64_t)top_k * n_tokens : n;
    TRY(mlxn_cuda_malloc((void **)&dx, sizeof(float) * (size_t)(k * ncolx)));
    TRY(mlxn_cuda_malloc((void **)&dy, sizeof(float) * (size_t)(rows * ycols)));
    TRY(mlxn_cuda_memcpy_h2d(dx, hx, sizeof(float) * (size_t)(k * ncolx), g_stream));
    mlxn_cuda_mm *a = &m.a;
    a->type = t; a->w = m.w[0]; a->row_bytes = row_bytes; a->expert_bytes = mat; a->rows = rows; a->k = k;
    a->n = n_expert ? 1 : n; a->x = dx; a->x_col = k; a->y = dy; a->y_col = rows;
    int32_t *hids = NULL;
    if (n_expert) {
        m.nids = 16;
        size_t per = (size_t)top_k * n_tokens;
        hids = malloc(sizeof(int32_t) * per * m.nids);
        for (int s = 0; s < m.nids; s++)
            for (int64_t tt = 0; tt < n_tokens; tt++)
                for (int j = 0; j < top_k; j++) {
                    int32_t e;
                    int dup;
                    do {   /* distinct experts per token */
                        e = (int32_t)(rng() % (uint64_t)n_expert);
                        dup = 0;
                        for (int q = 0; q < j; q++) dup |= hids[s * per + tt * top_k + q] == e;
                    } while (dup);
                    hids[s * per + tt * top_k + j] = e;
                }
        TRY(mlxn_cuda_malloc((void **)&m.ids, sizeof(int32_t) * per * m.nids));
        TRY(mlxn_cuda_memcpy_h2d(m.ids, hids, sizeof(int32_t) * per * m.nids, g_stream));
        a->ids = m.ids; a->ids_tok = top_k; a->top_k = top_k; a->n_x = 1; a->n_expert = n_expert;
        a->n_tokens = n_tokens; a->x_tok = k; a->y_tok = (int64_t)rows * top_k;
    }
    /* verify on copy 0 / id set 0 */
    double err = 0;
    TRY(mm_dispatch(&m, 0));
    TRY(mlxn_cuda_stream_sync(g_stream));
    if (!opt.no_verify) {
        float *hy = malloc(sizeof(float) * (size_t)(rows * ycols));
        TRY(mlxn_cuda_memcpy_d2h(hy, dy, sizeof(float) * (size_t)(rows * ycols), g_stream));
        int ncheck = 48;
        int64_t cols_check = ycols < 3 ? ycols : 3;
        for (int64_t cc = 0; cc < cols_check; cc++) {
            int64_t c = cc == 2 ? ycols - 1 : cc;
            int64_t xc = n_expert ? c / top_k : c;
            int e = n_expert ? hids[c] : 0;
            double er = check_rows(t, hw + mat * (size_t)(e % ndist), row_bytes, k, hx + xc * k, hy + c * rows, rows, 1,
                                   ncheck);
            if (er > err) err = er;
        }
        free(hy);
    }
    /* int8 activations: ~1e-2 relative error is the expected size; f16 prefill similar */
    double tol = (t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16 || t == MLXN_TYPE_F32) && n <= 8 ? 1e-4 : 3e-2;
    const char *note = NULL;
    if (err > tol || err != err) { note = "VERIFY FAILED"; g_fail++; }
    double med = 0, p10 = 0;
    mlxn_status st;
    if (g_ncmp > 0 && n <= 8) {
        /* every version: verified on the same weights and x, then timed in CMP_ROUNDS alternating
         * rounds; reported: median of the round medians, lowest p10 */
        int keep = mlxn_cuda_mmv_version;
        double cerr[CMP_MAX], cmed[CMP_MAX][CMP_ROUNDS], cp10[CMP_MAX];
        st = MLXN_OK;
        for (int v = 0; v < g_ncmp && st == MLXN_OK; v++) {
            mlxn_cuda_mmv_version = g_cmp_ver[v];
            cerr[v] = 0;
            cp10[v] = 1e30;
            if ((st = mm_dispatch(&m, 0)) != MLXN_OK || (st = mlxn_cuda_stream_sync(g_stream)) != MLXN_OK) break;
            float *hy = malloc(sizeof(float) * (size_t)(rows * ycols));
            TRY(mlxn_cuda_memcpy_d2h(hy, dy, sizeof(float) * (size_t)(rows * ycols), g_stream));
            int64_t cols_check = ycols < 3 ? ycols : 3;
            for (int64_t cc = 0; cc < cols_check; cc++) {
                int64_t c = cc == 2 ? ycols - 1 : cc;
                int64_t xc = n_expert ? c / top_k : c;
                int e = n_expert ? hids[c] : 0;
                double er = check_rows(t, hw + mat * (size_t)(e % ndist), row_bytes, k, hx + xc * k, hy + c * rows,
                                       rows, 1, 48);
                if (er > cerr[v]) cerr[v] = er;
            }
            free(hy);
        }
        for (int r = 0; r < CMP_ROUNDS && st == MLXN_OK; r++)
            for (int v = 0; v < g_ncmp && st == MLXN_OK; v++) {
                mlxn_cuda_mmv_version = g_cmp_ver[v];
                double p = 1e30;   /* time_graph may fail before setting it */
                st = time_graph(mm_dispatch, &m, opt.batch, &cmed[v][r], &p);
                if (p < cp10[v]) cp10[v] = p;
            }
        mlxn_cuda_mmv_version = keep;
        if (st == MLXN_OK) {
            double bytes = n_expert ? (double)mat * top_k : (double)mat;
            for (int v = 0; v < g_ncmp; v++) {
                qsort(cmed[v], CMP_ROUNDS, sizeof(double), cmpd);
                char tag[64];
                snprintf(tag, sizeof tag, "%s cmp v%d", kind, g_cmp_ver[v]);
                const char *nt = cerr[v] > 3e-2 || cerr[v] != cerr[v] ? "VERIFY FAILED" : NULL;
                if (nt) g_fail++;
                report(tag, mlxn_type_name(t), shape, cmed[v][CMP_ROUNDS / 2], cp10[v], bytes, 0, cerr[v], nt);
            }
        }
    } else {
        st = time_graph(mm_dispatch, &m, n > 8 ? 5 : opt.batch, &med, &p10);
        if (st == MLXN_OK && opt.mmv_prof && n == 1) mmv_prof(&m, name);
    }
    if (g_ncmp > 0 && n <= 8) {
        if (st != MLXN_OK) { printf("%-22s %-7s %-26s  FAILED: %s\n", kind, mlxn_type_name(t), shape, mlxn_last_error()); g_fail++; }
    } else if (st == MLXN_OK) {
        double bytes = n_expert ? (double)mat * top_k * (n > 1 ? 1 : 1) : (double)mat;
        if (n_expert && n > 1) bytes = (double)set;     /* prefill id: every expert read at least once */
        double flops = n > 8 ? 2.0 * rows * k * n * (n_expert ? top_k : 1) : 0;
        report(kind, mlxn_type_name(t), shape, med, p10, bytes, flops, err, note);
        if (out_med) *out_med = med;
    } else {
        printf("%-22s %-7s %-26s  FAILED: %s\n", kind, mlxn_type_name(t), shape, mlxn_last_error());
        g_fail++;
    }
    (void)tr;
    for (int c = 0; c < ncopy; c++) mlxn_cuda_free(m.w[c]);
    mlxn_cuda_free(dx); mlxn_cuda_free(dy); mlxn_cuda_free(m.ids);
    free(hw); free(hx); free(hids);
    return st;
}

/* ---- --fused: mul_mat_fused against the plain mat-vec and against its composition ------------
 * A decode layer's four products with what the engine fuses into them (pro 1: the rms norm,
 * 2: swiglu with up; add: the residual add into y = add), timed per call three ways: the plain
 * mat-vec (no prologue, no add: the floor), mul_mat_fused in one launch pair, and
 * MLXN_CUDA_MM_FUSE=0's composition (rms_norm / glu -> mat-vec -> add: what the engine ran
 * before). The fused result is checked against the composition (relative max difference). */
typedef struct {
    mlxn_cuda_mm a;
    mlxn_cuda_mmfuse f;
    uint8_t *w[64]; int ncopy;
    int mode;                         /* 0 plain, 1 fused, 2 composition */
    int level;                        /* mlxn_cuda_mm_fuse for mode 1: 1 (default) or 2 (MLXN_CUDA_MM_FUSE=2) */
} fz_ctx;
static mlxn_status fz_dispatch(void *c, int i) {
    fz_ctx *m = c;
    mlxn_cuda_mm a = m->a;
    a.w = m->w[i % m->ncopy];
    if (m->mode == 0) return mlxn_cuda_mul_mat(&a, g_stream);
    mlxn_cuda_mm_fuse = m->mode == 1 ? m->level : 0;
    return mlxn_cuda_mul_mat_fused(&a, NULL, &m->f, g_stream);
}
static void bench_fused_one(mlxn_type t, int64_t rows, int64_t k, int pro, int add) {
    char name[160];
    snprintf(name, sizeof name, "fused %s %lldx%lld %s%s", mlxn_type_name(t), (long long)rows, (long long)k,
             pro == 1 ? "norm" : pro == 2 ? "swiglu" : "none", add ? "+add" : "");
    if (!selected(name)) return;
    const int keep = mlxn_cuda_mm_fuse;   /* fz_dispatch switches it per mode */
    size_t row_bytes = mlxn_row_size(t, k), mat = row_bytes * (size_t)rows;
    uint8_t *hw = malloc(mat);
    float *hx = malloc(sizeof(float) * (size_t)k * 2), *hy = malloc(sizeof(float) * (size_t)rows * 3);
    if (!hw || !hx || !hy) { free(hw); free(hx); free(hy); g_fail++; return; }
    fill_weights(t, hw, rows, k);
    for (int64_t i = 0; i < 2 * k; i++) hx[i] = nrand();
    for (int64_t i = 0; i < rows; i++) hy[i] = nrand();
    fz_ctx m;
    memset(&m, 0, sizeof m);
    const char *lv = getenv("MLXN_CUDA_MM_FUSE");
    m.level = lv && *lv == '2' ? 2 : 1;
    size_t want = 4 * g_l2 + (64u << 20);
    m.ncopy = (int)((want + mat - 1) / mat);
    if (m.ncopy > 64) m.ncopy = 64;
    float *dx = NULL, *dy = NULL, *dn = NULL, *dref = NULL;
    mlxn_status st = MLXN_OK;
    for (int c = 0; c < m.ncopy && st == MLXN_OK; c++) st = mlxn_cuda_malloc((void **)&m.w[c], mat);
    if (st == MLXN_OK) st = mlxn_cuda_malloc((void **)&dx, sizeof(float) * (size_t)k * 2);
    if (st == MLXN_OK) st = mlxn_cuda_malloc((void **)&dy, sizeof(float) * (size_t)rows);
    if (st == MLXN_OK) st = mlxn_cuda_malloc((void **)&dref, sizeof(float) * (size_t)rows);
    if (st == MLXN_OK) st = mlxn_cuda_malloc((void **)&dn, sizeof(float) * (size_t)k);
    for (int c = 0; c < m.ncopy && st == MLXN_OK; c++) st = mlxn_cuda_memcpy_h2d(m.w[c], hw, mat, g_stream);
    if (st == MLXN_OK) st = mlxn_cuda_memcpy_h2d(dx, hx, sizeof(float) * (size_t)k * 2, g_stream);
    for (int64_t i = 0; i < k; i++) hx[i] = 0.5f + frand();   /* norm weights around 1 */
    if (st == MLXN_OK) st = mlxn_cuda_memcpy_h2d(dn, hx, sizeof(float) * (size_t)k, g_stream);
    m.a.type = t; m.a.w = m.w[0]; m.a.row_bytes = row_bytes; m.a.expert_bytes = mat; m.a.rows = rows; m.a.k = k;
    m.a.n = 1; m.a.x = dx; m.a.x_col = k; m.a.y_col = rows;
    if (pro == 1) { m.f.norm_w = dn; m.f.eps = 1e-5f; }
    if (pro == 2) { m.f.up = dx + k; m.f.up_col = k; m.f.glu = 0; }
    /* check: fused and composition into separate outputs, add from dy (not aliased) */
    double err = 0;
    if (st == MLXN_OK) {
        m.a.y = dref;
        if (add) { m.f.add = dy; m.f.add_col = rows; }
        st = mlxn_cuda_memcpy_h2d(dy, hy, sizeof(float) * (size_t)rows, g_stream);
        m.mode = 2;
        if (st == MLXN_OK) st = fz_dispatch(&m, 0);
    }
    float *y_fused = NULL;
    if (st == MLXN_OK) st = mlxn_cuda_malloc((void **)&y_fused, sizeof(float) * (size_t)rows);
    if (st == MLXN_OK) { m.a.y = y_fused; m.mode = 1; st = fz_dispatch(&m, 0); }
    if (st == MLXN_OK) st = mlxn_cuda_stream_sync(g_stream);
    if (st == MLXN_OK) st = mlxn_cuda_memcpy_d2h(hy + rows, dref, sizeof(float) * (size_t)rows, g_stream);
    if (st == MLXN_OK) st = mlxn_cuda_memcpy_d2h(hy + 2 * rows, y_fused, sizeof(float) * (size_t)rows, g_stream);
    if (st == MLXN_OK) {
        double md = 0, mr = 1e-30;
        for (int64_t r = 0; r < rows; r++) {
            double d = fabs((double)hy[rows + r] - hy[2 * rows + r]);
            if (d > md || d != d) md = d;
            if (fabs(hy[rows + r]) > mr) mr = fabs(hy[rows + r]);
        }
        err = md / mr;
    }
    /* timing: y = add = dy (the residual update, accumulating across dispatches: harmless) */
    static const char *mode_tag[] = {"fused plain mat-vec", "fused one launch", "fused composition"};
    for (int mode = 0; mode < 3 && st == MLXN_OK; mode++) {
        m.mode = mode;
        m.a.y = dy;
        double med = 0, p10 = 0;
        st = time_graph(fz_dispatch, &m, opt.batch, &med, &p10);
        if (st != MLXN_OK) break;
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lld %s%s", (long long)rows, (long long)k,
                 mode == 0 ? "" : pro == 1 ? "norm" : pro == 2 ? "swiglu" : "", mode && add ? "+add" : "");
        const char *nt = mode == 1 && (err > 3e-2 || err != err) ? "VERIFY FAILED" : NULL;
        if (nt) g_fail++;
        report(mode_tag[mode], mlxn_type_name(t), shape, med, p10, (double)mat, 0, mode == 1 ? err : 0, nt);
    }
    mlxn_cuda_mm_fuse = keep;
    if (st != MLXN_OK) { printf("%-22s %-7s %-26s  FAILED: %s\n", "fused", mlxn_type_name(t), name, mlxn_last_error()); g_fail++; }
    for (int c = 0; c < m.ncopy; c++) mlxn_cuda_free(m.w[c]);
    mlxn_cuda_free(dx); mlxn_cuda_free(dy); mlxn_cuda_free(dn); mlxn_cuda_free(dref); mlxn_cuda_free(y_fused);
    free(hw); free(hx); free(hy);
}
static void bench_fused(void) {
    /* SmolLM2-135M (Q4_1): q|k|v, o, gate|up, down; the tied head (Q8_0) with the output norm */
    bench_fused_one(MLXN_TYPE_Q4_1, 960, 576, 1, 0);
    bench_fused_one(MLXN_TYPE_Q4_1, 576, 576, 0, 1);
    bench_fused_one(MLXN_TYPE_Q4_1, 3072, 576, 1, 0);
    bench_fused_one(MLXN_TYPE_Q4_1, 576, 1536, 2, 1);
    bench_fused_one(MLXN_TYPE_Q8_0, 49152, 576, 1, 0);
    /* Llama-3-8B (Q4_K_M): q|k|v, o, gate|up, down (Q6_K) */
    bench_fused_one(MLXN_TYPE_Q4_K, 6144, 4096, 1, 0);
    bench_fused_one(MLXN_TYPE_Q4_K, 4096, 4096, 0, 1);
    bench_fused_one(MLXN_TYPE_Q4_K, 28672, 4096, 1, 0);
    bench_fused_one(MLXN_TYPE_Q6_K, 4096, 14336, 2, 1);
}

/* MoE prefill (mul_mat_id, 512 tokens, 128 experts / top-8, Qwen3-30B-A3B expert shapes), each
 * case verified against the CPU reference. Default: the grouped mat-vec (mmq version 1) and the
 * default tile kernel (3) side by side; --mmq-all: every version 1..7 and smaller batches (16..128
 * tokens, versions 1, 3, 5..7); --mmq N: only version N, with the smaller batches. Versions 4..7
 * were never timed on a GPU (docs/perf/NOTES.md) and are not run by default. */
static int g_mmq_all;
static void bench_moe_prefill(void) {
    static const mlxn_type ty[] = {MLXN_TYPE_Q4_K, MLXN_TYPE_Q4_0, MLXN_TYPE_Q6_K, MLXN_TYPE_Q8_0};
    static const char *tags[] = {"", "prefill mmid v1", "prefill mmid v2", "prefill mmid v3", "prefill mmid v4",
                                 "prefill mmid v5", "prefill mmid v6", "prefill mmid v7"};
    const int keep = mlxn_cuda_mmq_version;
    for (int v = 1; v <= 7; v++) {
        if (keep != 0 ? keep != v : !g_mmq_all && v != 1 && v != 3) continue;
        mlxn_cuda_mmq_version = v;
        for (int i = 0; i < 4; i++)
            if (v != 6 || ty[i] == MLXN_TYPE_Q4_K) bench_mm(tags[v], ty[i], 768, 2048, 512, 128, 8, NULL);
        bench_mm(tags[v], MLXN_TYPE_Q4_K, 2048, 768, 512, 128, 8, NULL);
        /* smaller batches: where the tile kernel starts to win (the auto threshold) */
        if ((keep != 0 || g_mmq_all) && (v == 1 || v == 3 || v >= 5))
            for (int n = 16; n <= 128; n *= 2) bench_mm(tags[v], MLXN_TYPE_Q4_K, 768, 2048, n, 128, 8, NULL);
    }
    mlxn_cuda_mmq_version = keep;
}

/* Seed experiment: plain Q6_K mat-vec vs mul_mat_id top-8 at 2816x8192, alternated over cycles. */
static void seed_experiment(void) {
    if (!selected("seed")) return;
    double mv[5], id[5];
    int cycles = opt.quick ? 2 : 5;
    printf("\n# seed experiment: mul_mat_id Q6_K 2816x8192, 128 experts / top-8 vs the plain mat-vec\n");
    for (int c = 0; c < cycles; c++) {
        if (bench_mm("seed mul_mv", MLXN_TYPE_Q6_K, 2816, 8192, 1, 0, 0, &mv[c]) != MLXN_OK) return;
        if (bench_mm("seed mul_mv_id", MLXN_TYPE_Q6_K, 2816, 8192, 1, 128, 8, &id[c]) != MLXN_OK) return;
    }
    double smv[5], sid[5];
    memcpy(smv, mv, sizeof mv); memcpy(sid, id, sizeof id);
    for (int i = 0; i < cycles; i++) for (int j = i + 1; j < cycles; j++) {
        if (smv[j] < smv[i]) { double t = smv[i]; smv[i] = smv[j]; smv[j] = t; }
        if (sid[j] < sid[i]) { double t = sid[i]; sid[i] = sid[j]; sid[j] = t; }
    }
    double a = smv[cycles / 2], b = sid[cycles / 2];
    double over = 100.0 * (b / (8.0 * a) - 1.0);
    printf("seed: plain mat-vec median %.2f us; mul_mat_id top-8 median %.2f us (bar <= 42, peer 83.1); "
           "per-row overhead of the indirection %+.1f%% (bar <= 5%%)\n", a, b, over);
    if (g_md) fprintf(g_md, "\n**Seed experiment** (medians over %d alternating cycles): plain Q6_K 2816x8192 %.2f us, "
                      "mul_mat_id top-8 %.2f us (bar <= 42, peer 83.1), per-row indirection overhead %+.1f%% (bar <= 5%%).\n\n",
                      cycles, a, b, over);
}

/* ---- decode attention ------------------------------------------------------------------------ */
typedef struct { mlxn_cuda_attn a; void *k[64], *v[64]; int ncopy; } att_ctx;
static mlxn_status att_dispatch(void *c, int i);

/* --attn-prof: one more timed graph of the same launches with v3's per-block clock marks on; the
 * marks of the last launch, averaged over the blocks that read keys (cycles), and the spread of
 * the blocks' entry and exit times (ns) */
static void attn_prof(att_ctx *m, const char *shape) {
    enum { MAXB = 32768, K = MLXN_CUDA_A3_PROF };
    char tag[200];
    snprintf(tag, sizeof tag, "attn prof %s", shape);
    double med;
    unsigned long long *h = prof_run(&mlxn_cuda_attn3_prof, (size_t)MAXB * K, att_dispatch, m, &med, tag);
    if (!h) return;
    static const char *what[9] = {"to wait", "wait", "q", "keys", "block merge", "barrier", "cluster merge",
                                  "barrier", "split merge"};
    double sum[9] = {0}, mx[9] = {0};
    int n = 0, n9 = 0, seen = 0;
    unsigned long long e0 = ~0ull, e1 = 0, x0 = ~0ull, x1 = 0;
    for (int b = 0; b < MAXB; b++) {
        const unsigned long long *t = h + (size_t)b * K;
        if (t[0]) seen++;
        if (!t[2] || !t[8]) continue;   /* left early (no keys) or never ran */
        n++;
        for (int k = 0; k < 9; k++) {
            if (k == 8 && !t[9]) continue;
            double dt = (double)(long long)(t[k + 1] - t[k]);
            sum[k] += dt;
            if (dt > mx[k]) mx[k] = dt;
            if (k == 8) n9++;
        }
        if (t[14] < e0) e0 = t[14];
        if (t[14] > e1) e1 = t[14];
        if (t[15] < x0) x0 = t[15];
        if (t[15] > x1) x1 = t[15];
    }
    printf("attn prof %s (%.2f us): %d of %d blocks read keys; cycles mean / max:", shape, med, n, seen);
    for (int k = 0; k < 9; k++)
        if (k < 8 || n9) printf(" %s %.0f/%.0f", what[k], sum[k] / (k == 8 ? n9 : n > 0 ? n : 1), mx[k]);
    if (n) printf("; entry spread %llu ns, exits %llu..%llu ns after the first entry", e1 - e0, x0 - e0, x1 - e0);
    printf("\n");
    free(h);
}
static mlxn_status att_dispatch(void *c, int i) {
    att_ctx *m = c;
    mlxn_cuda_attn a = m->a;
    a.k = m->k[i % m->ncopy]; a.v = m->v[i % m->ncopy];
    return mlxn_cuda_attention(&a, g_stream);
}
/* n_q = 1: decode at the last position (bytes = K + V, % of the read ceiling); n_q > 1: prefill
 * of the last n_q positions (TFLOP/s over the causal QK^T and PV products; every 61st query is
 * verified). */
static void bench_attn(int hd, int n_kv, int group, int len, int nq) {
    char shape[64], name[128];
    if (nq > 1) snprintf(shape, sizeof shape, "hd%d kv%d x%d q%d len%d", hd, n_kv, group, nq, len);
    else snprintf(shape, sizeof shape, "hd%d kv%d x%d len%d", hd, n_kv, group, len);
    snprintf(name, sizeof name, "attn f16 %s", shape);
    if (!selected(name)) return;
    int nh = n_kv * group;
    size_t cache = (size_t)hd * len * n_kv * 2, qn = (size_t)hd * nh * nq;
    uint16_t *hk = malloc(cache), *hv = malloc(cache);
    for (size_t i = 0; i < cache / 2; i++) { hk[i] = mlxn_f32_to_fp16(nrand()); hv[i] = mlxn_f32_to_fp16(nrand()); }
    float *hq = malloc(sizeof(float) * qn);
    int32_t *hpos = malloc(sizeof(int32_t) * (size_t)nq);
    for (size_t i = 0; i < qn; i++) hq[i] = nrand();
    for (int i = 0; i < nq; i++) hpos[i] = len - nq + i;
    att_ctx m;
    memset(&m, 0, sizeof m);
    size_t want = 4 * g_l2 + (64u << 20);
    m.ncopy = (int)((want + 2 * cache - 1) / (2 * cache));
    if (m.ncopy > 64) m.ncopy = 64;
    float *dq, *dout;
    int32_t *dpos;
    if (mlxn_cuda_malloc((void **)&dq, sizeof(float) * qn) || mlxn_cuda_malloc((void **)&dout, sizeof(float) * qn) ||
        mlxn_cuda_malloc((void **)&dpos, sizeof(int32_t) * (size_t)nq)) { printf("attn: %s\n", mlxn_last_error()); g_fail++; return; }
    mlxn_cuda_memcpy_h2d(dq, hq, sizeof(float) * qn, g_stream);
    mlxn_cuda_memcpy_h2d(dpos, hpos, sizeof(int32_t) * (size_t)nq, g_stream);
    for (int c = 0; c < m.ncopy; c++) {
        if (mlxn_cuda_malloc(&m.k[c], cache) || mlxn_cuda_malloc(&m.v[c], cache)) { printf("attn: %s\n", mlxn_last_error()); g_fail++; return; }
        if (c == 0) { mlxn_cuda_memcpy_h2d(m.k[0], hk, cache, g_stream); mlxn_cuda_memcpy_h2d(m.v[0], hv, cache, g_stream); }
        else { mlxn_cuda_memcpy_d2d(m.k[c], m.k[0], cache, g_stream); mlxn_cuda_memcpy_d2d(m.v[c], m.v[0], cache, g_stream); }
    }
    mlxn_cuda_attn *a = &m.a;
    a->q = dq; a->q_head = hd; a->q_tok = (int64_t)hd * nh;
    a->ct = MLXN_TYPE_F16;
    a->k_pos = hd; a->k_head = (int64_t)hd * len; a->v_pos = hd; a->v_head = (int64_t)hd * len;
    a->q_pos = dpos; a->out = dout; a->o_head = hd; a->o_tok = (int64_t)hd * nh;
    a->hd = hd; a->hd_v = hd; a->n_heads = nh; a->n_kv = n_kv; a->n_q = nq; a->n_ctx = len;
    a->scale = 1.f / sqrtf((float)hd); a->softcap = 0; a->window = 0;
    a->hist_ready = nq == 1 && opt.attn_ready;   /* valid: nothing between the launches writes the caches */
    double err = 0;
    mlxn_status st = att_dispatch(&m, 0);
    if (st == MLXN_OK) st = mlxn_cuda_stream_sync(g_stream);
    if (st == MLXN_OK && !opt.no_verify) {
        float *ho = malloc(sizeof(float) * qn);
        mlxn_cuda_memcpy_d2h(ho, dout, sizeof(float) * qn, g_stream);
        double *s = malloc(sizeof(double) * (size_t)len), *o = malloc(sizeof(double) * (size_t)hd), maxo = 1e-30;
        for (int iq = 0; iq < nq; iq += nq > 1 ? 61 : 1)
            for (int h = 0; h < nh; h++) {
                int kh = h / group, vis = hpos[iq] + 1;
                const float *qv = hq + ((size_t)iq * nh + h) * hd;
                const float *ov = ho + ((size_t)iq * nh + h) * hd;
                double mx = -1e300, den = 0;
                for (int j = 0; j < vis; j++) {
                    double d = 0;
                    for (int e = 0; e < hd; e++) d += (double)qv[e] * mlxn_fp16_to_f32(hk[((size_t)kh * len + j) * hd + e]);
                    s[j] = d * a->scale;
                    if (s[j] > mx) mx = s[j];
                }
                for (int e = 0; e < hd; e++) o[e] = 0;
                for (int j = 0; j < vis; j++) {
                    double p = exp(s[j] - mx);
                    den += p;
                    for (int e = 0; e < hd; e++) o[e] += p * mlxn_fp16_to_f32(hv[((size_t)kh * len + j) * hd + e]);
                }
                for (int e = 0; e < hd; e++) {
                    double r = o[e] / den, d = fabs(r - ov[e]);
                    if (d > err) err = d;
                    if (fabs(r) > maxo) maxo = fabs(r);
                }
            }
        err /= maxo;
        free(s); free(o); free(ho);
    }
    const char *note = err > 1e-3 || err != err ? "VERIFY FAILED" : NULL;
    if (note) g_fail++;
    double med = 0, p10 = 0, flops = 0;
    for (int i = 0; i < nq && nq > 1; i++) flops += 4.0 * (hpos[i] + 1) * nh * hd;
    if (st == MLXN_OK) st = time_graph(att_dispatch, &m, nq > 1 ? 5 : opt.batch, &med, &p10);
    if (st != MLXN_OK) { printf("attn %s FAILED: %s\n", shape, mlxn_last_error()); g_fail++; }
    else {
        report(nq > 1 ? g_attnp_tag : g_attn_tag, "f16", shape, med, p10, 2.0 * cache, flops, err, note);
        if (opt.attn_prof && nq == 1) attn_prof(&m, shape);
    }
    for (int c = 0; c < m.ncopy; c++) { mlxn_cuda_free(m.k[c]); mlxn_cuda_free(m.v[c]); }
    mlxn_cuda_free(dq); mlxn_cuda_free(dout); mlxn_cuda_free(dpos);
    free(hk); free(hv); free(hq); free(hpos);
}

/* ---- --api-check: the public API on the CUDA backend (graphs, errors), against "ref" -------- */
static int api_fail;
#define ACHECK(c, ...) do { if (!(c)) { api_fail++; printf("api-check FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); \
    printf(__VA_ARGS__); printf(" (%s)\n", mlxn_last_error()); } } while (0)
static int api_check(void) {
    mlxn_backend_t *cu = NULL, *ref = NULL;
    const char *bn = getenv("MLXN_API_CHECK_BACKEND") ? getenv("MLXN_API_CHECK_BACKEND") : "cuda";
    ACHECK(mlxn_backend_open(bn, &cu) == MLXN_OK, "open %s", bn);
    ACHECK(mlxn_backend_open("ref", &ref) == MLXN_OK, "open ref");
    if (!cu || !ref) return 1;
    enum { HD = 64, NH = 4, ROWS = 96, K = HD * NH };
    size_t wbytes = mlxn_row_size(MLXN_TYPE_Q4_K, K) * ROWS;
    uint8_t *hw = malloc(wbytes);
    fill_weights(MLXN_TYPE_Q4_K, hw, ROWS, K);
    float hx[K];
    for (int i = 0; i < K; i++) hx[i] = nrand();
    mlxn_backend_t *bes[2] = {cu, ref};
    mlxn_buffer_t *buf[2];
    mlxn_tensor x[2], y[2], z[2], pos[2], out[2];
    mlxn_weight W[2];
    for (int b = 0; b < 2; b++) {
        ACHECK(mlxn_buffer_alloc(bes[b], 1 << 20, &buf[b]) == MLXN_OK, "alloc");
        mlxn_tensor_init(&x[b], buf[b], 0, MLXN_TYPE_F32, 3, (int64_t[]){HD, NH, 1});
        mlxn_tensor_init(&y[b], buf[b], 4096, MLXN_TYPE_F32, 3, (int64_t[]){HD, NH, 1});
        mlxn_tensor_init(&z[b], buf[b], 8192, MLXN_TYPE_F32, 2, (int64_t[]){K, 1});
        mlxn_tensor_init(&pos[b], buf[b], 12288, MLXN_TYPE_I32, 1, (int64_t[]){1});
        mlxn_tensor_init(&out[b], buf[b], 16384, MLXN_TYPE_F32, 2, (int64_t[]){ROWS, 1});
        memset(&W[b], 0, sizeof W[b]);
        mlxn_tensor_init(&W[b].w, buf[b], 65536, MLXN_TYPE_Q4_K, 2, (int64_t[]){K, ROWS});
        mlxn_buffer_upload(buf[b], 65536, hw, wbytes);
        mlxn_buffer_upload(buf[b], 0, hx, sizeof hx);
    }
    mlxn_rope_params rp = {MLXN_ROPE_NEOX, HD, 10000.0f, 1.0f};
    /* record on CUDA: rope -> scale (the rope output viewed as {K,1}) -> Q4_K mat-vec */
    mlxn_tensor yk = y[0];
    mlxn_tensor_init(&yk, buf[0], 4096, MLXN_TYPE_F32, 2, (int64_t[]){K, 1});
    int32_t p0 = 0;
    mlxn_buffer_upload(buf[0], 12288, &p0, 4);
    /* run once outside capture so the arena has its size */
    ACHECK(mlxn_op_rope(cu, &x[0], &pos[0], NULL, &rp, &y[0]) == MLXN_OK, "rope");
    ACHECK(mlxn_op_scale(cu, &yk, 0.5f, &z[0]) == MLXN_OK, "scale");
    ACHECK(mlxn_op_mul_mat(cu, &W[0], &z[0], &out[0]) == MLXN_OK, "mul_mat");
    ACHECK(mlxn_backend_sync(cu) == MLXN_OK, "sync");
    mlxn_graph_t *g = NULL;
    ACHECK(mlxn_graph_begin(cu) == MLXN_OK, "graph_begin");
    ACHECK(mlxn_op_rope(cu, &x[0], &pos[0], NULL, &rp, &y[0]) == MLXN_OK, "rope (recorded)");
    ACHECK(mlxn_op_scale(cu, &yk, 0.5f, &z[0]) == MLXN_OK, "scale (recorded)");
    ACHECK(mlxn_op_mul_mat(cu, &W[0], &z[0], &out[0]) == MLXN_OK, "mul_mat (recorded)");
    ACHECK(mlxn_graph_end(cu, &g) == MLXN_OK && g, "graph_end");
    for (int step = 0; step < 3 && g; step++) {
        int32_t pv = 7 + 1000 * step;
        mlxn_buffer_upload(buf[0], 12288, &pv, 4);      /* the position lives in device memory */
        mlxn_buffer_upload(buf[1], 12288, &pv, 4);
        ACHECK(mlxn_graph_replay(g) == MLXN_OK, "replay %d", step);
        mlxn_tensor yk1 = y[1];
        mlxn_tensor_init(&yk1, buf[1], 4096, MLXN_TYPE_F32, 2, (int64_t[]){K, 1});
        mlxn_op_rope(ref, &x[1], &pos[1], NULL, &rp, &y[1]);
        mlxn_op_scale(ref, &yk1, 0.5f, &z[1]);
        mlxn_op_mul_mat(ref, &W[1], &z[1], &out[1]);
        float a[ROWS], r[ROWS];
        ACHECK(mlxn_buffer_download(buf[0], 16384, a, sizeof a) == MLXN_OK, "download");
        mlxn_buffer_download(buf[1], 16384, r, sizeof r);
        double num = 0, den = 0;
        for (int i = 0; i < ROWS; i++) { num += (double)(a[i] - r[i]) * (a[i] - r[i]); den += (double)r[i] * r[i]; }
        ACHECK(num / den < 5e-4, "graph replay step %d (pos %d): NMSE %.2e", step, pv, num / den);
        printf("api-check: graph replay pos %d NMSE vs ref %.2e\n", pv, num / den);
    }
    mlxn_graph_free(g);
    /* a kernel-side data error (expert id out of range) surfaces at sync */
    mlxn_tensor ids, eo;
    mlxn_weight We = W[0];
    mlxn_tensor_init(&We.w, buf[0], 65536, MLXN_TYPE_Q4_K, 3, (int64_t[]){K, ROWS / 2, 2});
    mlxn_tensor_init(&ids, buf[0], 20480, MLXN_TYPE_I32, 2, (int64_t[]){1, 1});
    mlxn_tensor_init(&eo, buf[0], 24576, MLXN_TYPE_F32, 3, (int64_t[]){ROWS / 2, 1, 1});
    int32_t bad = 999;
    mlxn_buffer_upload(buf[0], 20480, &bad, 4);
    mlxn_tensor zx;
    mlxn_tensor_init(&zx, buf[0], 8192, MLXN_TYPE_F32, 3, (int64_t[]){K, 1, 1});
    ACHECK(mlxn_op_mul_mat_id(cu, &We, &ids, &zx, &eo) == MLXN_OK, "mul_mat_id queues");
    mlxn_status st = mlxn_backend_sync(cu);
    ACHECK(st != MLXN_OK, "bad expert id reported at sync");
    printf("api-check: bad expert id -> %s: %s\n", mlxn_status_str(st), mlxn_last_error());
    ACHECK(mlxn_backend_sync(cu) == MLXN_OK, "flag cleared after report");
    /* device out of memory is reported as such */
    mlxn_buffer_t *huge = NULL;
    st = mlxn_buffer_alloc(cu, (size_t)1 << 50, &huge);
    ACHECK(st == MLXN_ERR_DEVICE_MEMORY, "1 PiB allocation -> %s", mlxn_status_str(st));
    printf("api-check: 1 PiB alloc -> %s: %s\n", mlxn_status_str(st), mlxn_last_error());
    for (int b = 0; b < 2; b++) mlxn_buffer_free(buf[b]);
    mlxn_backend_free(cu);
    mlxn_backend_free(ref);
    free(hw);
    printf("api-check: %d failure(s)\n", api_fail);
    return api_fail ? 1 : 0;
}

static void usage(void) {
    printf("usage: mlxn bench-ops [options]\n"
           "Benchmarks the CUDA kernels against the HBM read ceiling probed in the same process.\n"
           "Cases: every shape of shared/PERF-TARGETS.md (quantized and f16/bf16 mat-vec, mul_mat_id,\n"
           "the seed experiment, decode attention, 512-token prefill mat-mat). Each case is checked\n"
           "against a CPU reference (double accumulation) before it is timed.\n\n"
           "  --reps N        graph replays per case (default 25); median and p10 over them\n"
           "  --batch N       dispatches captured per graph (default 20); times are per dispatch\n"
           "  --only TEXT     run only cases whose name contains TEXT (e.g. q6_K, mul_mv_id, attn, seed, prefill)\n"
           "  --quick         fewer types and cycles (a smoke run)\n"
           "  --no-verify     skip the CPU reference checks\n"
           "  --device N      CUDA device ordinal (default 0)\n"
           "  --markdown FILE append the results as a markdown table to FILE\n"
           "  --f32x          route quantized mat-vecs through the exact f32-activation kernel\n"
           "  --no-pdl        launch mat-vecs without programmatic dependent launch\n"
           "  --mmv N         quantized mat-vec version for every case: 0 (default: v6 from ~3 MB of weights,\n"
           "                  mul_mat_id from 32 MB; below that v3, v4 for Q6_K), 6 (weights streamed by bulk\n"
           "                  copies, x quantized in-kernel), 1, 2 (pipelined, multi-row,\n"
           "                  register stage) or 3 (pipelined, cp.async ring); the others are also\n"
           "                  benchmarked side by side ('mul_mv v2' / 'mul_mv v3' rows)\n"
           "                  4 / 5: activations staged in shared memory per block (8 warps; 24 / 32\n"
           "                  resident warps per SM); 0: the per-type default\n"
           "  --no-v2         skip the side-by-side cases of the other kernel versions\n"
           "  --mmv-cmp LIST  only the mat-vec comparison: versions LIST (digits, e.g. 345) verified and\n"
           "                  timed on the same weights, alternating in 5 rounds (median of round\n"
           "                  medians, lowest p10); Q4_0/Q4_K/Q6_K/Q8_0 at 4096x14336 and 14336x4096,\n"
           "                  Q6_K 2816x8192 plain and 128/top-8, Q4_K/Q6_K 768x2048 128/top-8, and small\n"
           "                  matrices (Q4_K 4096x4096 / 1024x4096, Q6_K 1024x4096, SmolLM2's Q4_1 / Q8_0 shapes)\n"
           "  --mmv6 W,D,B[,R] v6 mat-vec: W warps per block (1-24, default 16), D ring stages per warp (2-8,\n"
           "                  default 2), B blocks per SM (default 1), R blocks that must fit on an SM\n"
           "                  together (default 1; 2 lets the next kernel start while this one drains)\n"
           "  --mmv6-xdirect  v6: quantize the activations straight from global memory (no f32 copy in\n"
           "                  shared memory: a smaller footprint)\n"
           "  --mmv-warps N   v2 mat-vec: resident warps per SM the rows-per-warp split aims at (default 20)\n"
           "  --mmq N         mul_mat_id prefill (many tokens) route: 0 (default: auto), 1 (grouped mat-vec),\n"
           "                  2 / 3 / 4 (int8 tensor-core tile kernels; 3: cp.async-staged, 4: 3 with hoisted\n"
           "                  addresses and ldmatrix, 5: 4 with biased mma accumulators, 6: 5 with the Q4_K\n"
           "                  min term by tf32 mma, 7: 6 with 4 blocks per SM; 4..7 never timed on a GPU)\n"
           "  --mmq-all       MoE prefill cases 'prefill mmid vN' (Q4_K/Q4_0/Q6_K/Q8_0 768x2048 and Q4_K\n"
           "                  2048x768, 512 tokens, 128/top-8) for every version 1..7, plus 16..128 tokens;\n"
           "                  by default only versions 1 and 3 at 512 tokens (--no-v2: none; --mmq N: N)\n"
           "  --attn N        decode attention version: 3 (tensor cores, one launch; the default for\n"
           "                  f16 caches, with v2 rows side by side unless --no-v2), 2 (tiled) or 1\n"
           "                  (per-warp); rows are tagged 'attn decode vN' when N is given; 0: the v3\n"
           "                  grid with an empty kernel (dispatch cost; use with --no-verify); 9: the v3\n"
           "                  grid only reading its K/V rows (read floor; --no-verify)\n"
           "  --attn-bps N    attention v2: split count aims at N blocks per SM (default 4)\n"
           "  --attn3-cfg N   attention v3 (f16) warps x ring stages: 0 default (4x2, 8x2 for head 64),\n"
           "                  1: 4x3, 2: 4x4, 3: 8x2 (over the shared-memory limit: the default)\n"
           "  --attn3-ilv 0|1 attention v3: each split owns every n_split-th 16-key step (1) instead of\n"
           "                  one contiguous chunk (0)\n"
           "  --attn3-tma     attention v3 (f16): bulk (TMA) row copies on mbarriers instead of cp.async\n"
           "  --attn-no-pdl   attention v3: launch without programmatic dependent launch\n"
           "  --attn-ready    decode attention with MLXN_ATTN_HISTORY_READY (the cache rows are read\n"
           "                  before the previous launch ends; rows tagged 'attn decode ready')\n"
           "  --attn-single N attention v3: visible ranges of at most N keys run in one block per head\n"
           "                  group, no merges (default: 256 keys for head 64, 128 above; 0: never)\n"
           "  --attn-prof     decode attention v3: after timing, replay once more with per-block clock\n"
           "                  marks and print where a block's cycles go ('attn prof' lines)\n"
           "  --mmv-prof      mat-vec v6 (n = 1 cases): after timing, replay once more with per-block\n"
           "                  clock marks ('mmv prof' lines: init, weight copies issued, the wait for\n"
           "                  the previous launch, x copied and quantized, warp 0's first stage and\n"
           "                  the rest, the other warps' tail; entry and exit spread in ns)\n"
           "  --attn-prefill  also time attention prefill: 512 queries at the end of a 4096 context\n"
           "                  ('attn prefill' rows, TFLOP/s; v3 runs its flash kernel, v1/v2 the\n"
           "                  decode kernel per query)\n"
           "  --attn3-bps N   attention v3: split count aims at N blocks per SM (default 3)\n"
           "  --attn-cluster N attention v3: cluster size 1, 2, 4, 8 (default) or 16 (non-portable)\n"
           "  --fused         only mul_mat_fused: the decode layer's products of SmolLM2-135M and Llama-3-8B\n"
           "                  with their norm / swiglu prologue and residual add, each timed as the plain\n"
           "                  mat-vec, the one-launch fused op and its composition (MLXN_CUDA_MM_FUSE=0)\n"
           "  --api-check     instead of benchmarking: check graph record/replay, a kernel-side data\n"
           "                  error reported at sync, and the device out-of-memory status, against 'ref'\n"
           "  -h, --help      this text\n"
           "Exit status: 0 all cases ran and verified, 1 a case failed, 2 bad usage, 3 no GPU.\n");
}

int cmd_bench_ops(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (!strcmp(a, "--reps") && more) opt.reps = atoi(argv[++i]);
        else if (!strcmp(a, "--batch") && more) opt.batch = atoi(argv[++i]);
        else if (!strcmp(a, "--only") && more) opt.only = argv[++i];
        else if (!strcmp(a, "--device") && more) opt.device = atoi(argv[++i]);
        else if (!strcmp(a, "--markdown") && more) opt.markdown = argv[++i];
        else if (!strcmp(a, "--quick")) opt.quick = 1;
        else if (!strcmp(a, "--no-verify")) opt.no_verify = 1;
        else if (!strcmp(a, "--f32x")) mlxn_cuda_mmv_force_f32x = 1;
        else if (!strcmp(a, "--no-pdl")) mlxn_cuda_mmv_no_pdl = 1;
        else if (!strcmp(a, "--api-check")) opt.api = 1;
        else if (!strcmp(a, "--fused")) opt.fused = 1;
        else if (!strcmp(a, "--mmv") && more) { int v = atoi(argv[++i]); mlxn_cuda_mmv_version = v >= 0 && v <= 6 ? v : 1; }
        else if (!strcmp(a, "--mmv-cmp") && more) {
            const char *l = argv[++i];
            for (g_ncmp = 0; *l && g_ncmp < CMP_MAX; l++)
                if (*l >= '0' && *l <= '6') g_cmp_ver[g_ncmp++] = *l - '0';
        }
        else if (!strcmp(a, "--no-v2")) opt.no_v2 = 1;
        else if (!strcmp(a, "--mmq-all")) g_mmq_all = 1;
        else if (!strcmp(a, "--mmq") && more) { int v = atoi(argv[++i]); mlxn_cuda_mmq_version = v >= 0 && v <= 7 ? v : 0; }
        else if (!strcmp(a, "--attn") && more) { int v = atoi(argv[++i]); mlxn_cuda_attn_version = (v >= 0 && v <= 3) || v == 9 ? v : 2; }
        else if (!strcmp(a, "--attn-prefill")) opt.attn_prefill = 1;
        else if (!strcmp(a, "--attn-ready")) opt.attn_ready = 1;
        else if (!strcmp(a, "--attn-prof")) opt.attn_prof = 1;
        else if (!strcmp(a, "--mmv-prof")) opt.mmv_prof = 1;
        else if (!strcmp(a, "--attn-single") && more) mlxn_cuda_attn3_single = atoi(argv[++i]);
        else if (!strcmp(a, "--attn-no-pdl")) mlxn_cuda_attn3_pdl = 0;
        else if (!strcmp(a, "--attn3-cfg") && more) mlxn_cuda_attn3_cfg = atoi(argv[++i]);
        else if (!strcmp(a, "--attn3-tma")) mlxn_cuda_attn3_tma = 1;
        else if (!strcmp(a, "--attn3-ilv") && more) mlxn_cuda_attn3_interleave = atoi(argv[++i]) ? 1 : 0;
        else if (!strcmp(a, "--attn3-bps") && more) mlxn_cuda_attn3_blocks_per_sm = atoi(argv[++i]);
        else if (!strcmp(a, "--attn-cluster") && more) mlxn_cuda_attn3_cluster = atoi(argv[++i]);
        else if (!strcmp(a, "--attn-bps") && more) mlxn_cuda_attn_blocks_per_sm = atoi(argv[++i]);
        else if (!strcmp(a, "--mmv6") && more) {
            if (sscanf(argv[++i], "%d,%d,%d,%d", &mlxn_cuda_mmv6_warps, &mlxn_cuda_mmv6_stages,
                       &mlxn_cuda_mmv6_blocks_per_sm, &mlxn_cuda_mmv6_resident) < 3) {
                fprintf(stderr, "mlxn bench-ops: --mmv6 wants W,D,B[,R]\n");
                return 2;
            }
        }
        else if (!strcmp(a, "--mmv6-xdirect")) mlxn_cuda_mmv6_x_direct = 1;
        else if (!strcmp(a, "--mmv-warps") && more) mlxn_cuda_mmv_v2_warps = mlxn_cuda_mmv_v3_warps = atoi(argv[++i]);
        else { fprintf(stderr, "mlxn bench-ops: unknown option '%s'\n", a); usage(); return 2; }
    }
    if (opt.reps < 5) opt.reps = 5;
    if (opt.batch < 1) opt.batch = 1;
    if (opt.api && getenv("MLXN_API_CHECK_BACKEND")) return api_check();
    if (mlxn_cuda_ndev() <= opt.device) {
        fprintf(stderr, "mlxn bench-ops: no CUDA GPU %d present: nothing was benchmarked\n", opt.device);
        return 3;
    }
    if (opt.api) return api_check();
    if (mlxn_cuda_set_device(opt.device) != MLXN_OK) return tool_fail("bench-ops", MLXN_ERR_DEVICE);
    mlxn_device_info info;
    mlxn_status st = mlxn_cuda_info(opt.device, &info);
    if (st != MLXN_OK) return tool_fail("bench-ops", st);
    g_l2 = info.l2_bytes ? info.l2_bytes : (60u << 20);
    if ((st = mlxn_cuda_stream_create(&g_stream)) != MLXN_OK) return tool_fail("bench-ops", st);
    printf("device %d: %s, %d SMs, cc %d.%d, L2 %zu MB, %.1f GB\n", opt.device, info.name, info.sm_count, info.cc_major,
           info.cc_minor, info.l2_bytes >> 20, info.total_memory / 1e9);
    /* ceiling: 2 GiB read-only stream */
    size_t pn = (size_t)2 << 30;
    void *pbuf;
    if ((st = mlxn_cuda_malloc(&pbuf, pn)) != MLXN_OK) return tool_fail("bench-ops", st);
    mlxn_cuda_memset(pbuf, 0x5a, pn, g_stream);
    float pms;
    if ((st = mlxn_cuda_probe_read(pbuf, pn, 20, &pms, g_stream)) != MLXN_OK) return tool_fail("bench-ops", st);
    mlxn_cuda_free(pbuf);
    g_ceiling_gbs = pn / (pms * 1e6);
    printf("read ceiling (2 GiB, 16-byte loads, grid-stride): %.0f GB/s\n\n", g_ceiling_gbs);
    if (opt.markdown) {
        g_md = fopen(opt.markdown, "a");
        if (g_md) {
            fprintf(g_md, "GPU: %s (%d SMs, L2 %zu MB). Read ceiling probed in the same process: **%.0f GB/s**.\n\n",
                    info.name, info.sm_count, info.l2_bytes >> 20, g_ceiling_gbs);
            fprintf(g_md, "| kind | type | shape (rows x k) | us median | us p10 | GB/s | %% ceiling / TFLOP/s | rel err | note |\n");
            fprintf(g_md, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n");
        }
    }
    printf("%-22s %-7s %-26s %9s %9s %8s %12s\n", "kind", "type", "shape", "us med", "us p10", "GB/s", "%ceil/TFLOPs");
    if (opt.fused) {
        bench_fused();
        printf("bench-ops: %d failures\n", g_fail);
        return g_fail ? 1 : 0;
    }
    if (g_ncmp > 0) {
        static const mlxn_type ct[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_K, MLXN_TYPE_Q6_K, MLXN_TYPE_Q8_0};
        for (int i = 0; i < 4; i++) bench_mm("mul_mv", ct[i], 4096, 14336, 1, 0, 0, NULL);
        for (int i = 0; i < 4; i++) bench_mm("mul_mv", ct[i], 14336, 4096, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q6_K, 2816, 8192, 1, 0, 0, NULL);
        bench_mm("mul_mv_id", MLXN_TYPE_Q6_K, 2816, 8192, 1, 128, 8, NULL);
        bench_mm("mul_mv_id", MLXN_TYPE_Q4_K, 768, 2048, 1, 128, 8, NULL);
        bench_mm("mul_mv_id", MLXN_TYPE_Q6_K, 768, 2048, 1, 128, 8, NULL);
        /* small matrices, where fixed costs dominate: Llama-3-8B attention projections and the
         * SmolLM2-135M shapes (fused q|k|v, o, fused gate|up, down, the tied output head) */
        bench_mm("mul_mv", MLXN_TYPE_Q4_K, 4096, 4096, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q4_K, 1024, 4096, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q6_K, 1024, 4096, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q4_1, 960, 576, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q4_1, 576, 576, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q4_1, 3072, 576, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q4_1, 576, 1536, 1, 0, 0, NULL);
        bench_mm("mul_mv", MLXN_TYPE_Q8_0, 49152, 576, 1, 0, 0, NULL);
        printf("bench-ops: %d failures\n", g_fail);
        return g_fail ? 1 : 0;
    }
    static const mlxn_type all[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_1, MLXN_TYPE_Q5_0, MLXN_TYPE_Q5_1, MLXN_TYPE_Q8_0,
                                    MLXN_TYPE_Q2_K, MLXN_TYPE_Q3_K, MLXN_TYPE_Q4_K, MLXN_TYPE_Q5_K, MLXN_TYPE_Q6_K,
                                    MLXN_TYPE_IQ4_NL, MLXN_TYPE_IQ4_XS, MLXN_TYPE_MXFP4, MLXN_TYPE_F16, MLXN_TYPE_BF16};
    static const mlxn_type quick[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_K, MLXN_TYPE_Q6_K, MLXN_TYPE_Q8_0, MLXN_TYPE_F16};
    const mlxn_type *types = opt.quick ? quick : all;
    int ntypes = opt.quick ? 5 : (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < ntypes; i++) bench_mm("mul_mv", types[i], 4096, 14336, 1, 0, 0, NULL);
    for (int i = 0; i < ntypes; i++) bench_mm("mul_mv", types[i], 14336, 4096, 1, 0, 0, NULL);
    bench_mm("mul_mv", MLXN_TYPE_Q4_K, 4096, 4096, 1, 0, 0, NULL);
    bench_mm("mul_mv", MLXN_TYPE_Q4_K, 1024, 4096, 1, 0, 0, NULL);    /* Llama-3-8B k/v projections */
    bench_mm("mul_mv", MLXN_TYPE_Q6_K, 1024, 4096, 1, 0, 0, NULL);
    bench_mm("mul_mv", MLXN_TYPE_Q6_K, 2816, 8192, 1, 0, 0, NULL);
    bench_mm("mul_mv n=8", MLXN_TYPE_Q4_K, 4096, 14336, 8, 0, 0, NULL);
    /* the other mat-vec versions: the same shapes side by side */
    for (int ver = 1; ver <= 3 && !opt.no_v2; ver++) {
        if (mlxn_cuda_mmv_version == ver) continue;
        int keep = mlxn_cuda_mmv_version;
        mlxn_cuda_mmv_version = ver;
        static const char *tags[] = {"", "mul_mv v1", "mul_mv v2", "mul_mv v3"};
        static const char *tids[] = {"", "mul_mv_id v1", "mul_mv_id v2", "mul_mv_id v3"};
        const char *tag = tags[ver], *tid = tids[ver];
        for (int i = 0; i < ntypes; i++)
            if (types[i] != MLXN_TYPE_F16 && types[i] != MLXN_TYPE_BF16) bench_mm(tag, types[i], 4096, 14336, 1, 0, 0, NULL);
        for (int i = 0; i < ntypes; i++)
            if (types[i] != MLXN_TYPE_F16 && types[i] != MLXN_TYPE_BF16) bench_mm(tag, types[i], 14336, 4096, 1, 0, 0, NULL);
        bench_mm(tag, MLXN_TYPE_Q6_K, 2816, 8192, 1, 0, 0, NULL);
        bench_mm(tid, MLXN_TYPE_Q6_K, 2816, 8192, 1, 128, 8, NULL);
        bench_mm(tid, MLXN_TYPE_Q4_K, 768, 2048, 1, 128, 8, NULL);
        bench_mm(tid, MLXN_TYPE_Q6_K, 768, 2048, 1, 128, 8, NULL);
        mlxn_cuda_mmv_version = keep;
    }
    static const mlxn_type idt[] = {MLXN_TYPE_Q6_K, MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_K, MLXN_TYPE_Q8_0, MLXN_TYPE_F16};
    for (int i = 0; i < 5; i++) bench_mm("mul_mv_id", idt[i], 2816, 8192, 1, 128, 8, NULL);
    bench_mm("mul_mv_id", MLXN_TYPE_Q4_K, 768, 2048, 1, 128, 8, NULL);
    bench_mm("mul_mv_id", MLXN_TYPE_Q6_K, 768, 2048, 1, 128, 8, NULL);
    seed_experiment();
    printf("\n");
    static char attn_tag[32], attnp_tag[32];
    if (mlxn_cuda_attn_version >= 0) {   /* rows of the default (auto: v3 for these f16 caches) are untagged */
        snprintf(attn_tag, sizeof attn_tag, "attn decode v%d", mlxn_cuda_attn_version);
        g_attn_tag = attn_tag;
        snprintf(attnp_tag, sizeof attnp_tag, "attn prefill v%d", mlxn_cuda_attn_version);
        g_attnp_tag = attnp_tag;
    }
    if (opt.attn_ready && mlxn_cuda_attn_version < 0) g_attn_tag = "attn decode ready";
    bench_attn(128, 8, 4, 4096, 1);
    bench_attn(128, 8, 4, 16384, 1);
    bench_attn(256, 2, 8, 4096, 1);
    bench_attn(256, 2, 8, 16384, 1);
    /* the engine's short ranges: SmolLM2 (head 64, 9 / 3 heads) at 256 keys, the 8B at 64 */
    bench_attn(64, 3, 3, 256, 1);
    bench_attn(128, 8, 4, 64, 1);
    if (!opt.no_v2 && mlxn_cuda_attn_version < 0) {   /* the previous kernel, side by side */
        const int keep = mlxn_cuda_attn_version;
        mlxn_cuda_attn_version = 2;
        g_attn_tag = "attn decode v2";
        bench_attn(128, 8, 4, 4096, 1);
        bench_attn(128, 8, 4, 16384, 1);
        bench_attn(256, 2, 8, 4096, 1);
        bench_attn(256, 2, 8, 16384, 1);
        mlxn_cuda_attn_version = keep;
        g_attn_tag = "attn decode";
    }
    if (opt.attn_prefill) {   /* prefill of 512 queries at the end of the context */
        bench_attn(128, 8, 4, 4096, 512);
        bench_attn(256, 2, 8, 4096, 512);
    }
    printf("\n");
    static const mlxn_type pft[] = {MLXN_TYPE_Q4_K, MLXN_TYPE_Q8_0, MLXN_TYPE_Q4_0, MLXN_TYPE_Q6_K, MLXN_TYPE_F16, MLXN_TYPE_BF16};
    for (int i = 0; i < (opt.quick ? 2 : 6); i++) bench_mm("prefill mul_mat", pft[i], 4096, 14336, 512, 0, 0, NULL);
    if (!opt.quick) bench_mm("prefill mul_mat_id", MLXN_TYPE_Q4_K, 768, 2048, 512, 128, 8, NULL);
    if (!opt.quick && !opt.no_v2) bench_moe_prefill();
    if (g_md) fclose(g_md);
    mlxn_cuda_stream_destroy(g_stream);
    printf("\nbench-ops: %s (%d case(s) failed)\n", g_fail ? "FAILURES" : "all cases verified", g_fail);
    return g_fail ? 1 : 0;
}

#else /* !MLXN_WITH_CUDA */
int cmd_bench_ops(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: mlxn bench-ops [options]\nBenchmarks the CUDA kernels; this build has no CUDA backend.\n");
            return 0;
        }
    fprintf(stderr, "mlxn bench-ops: this build has no CUDA backend (configure with -DMLXN_CUDA=ON)\n");
    return 3;
}
#endif
