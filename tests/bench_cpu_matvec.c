/* Benchmark of the fast CPU mat-vec (n = 1): GB/s of weights streamed for the shapes of an
 * 8B model's FFN (4096 x 14336 and 14336 x 4096), 1 and 2 threads, on the auto-chosen SIMD
 * path and the forced scalar path, against a plain scalar dequantize-then-dot baseline.
 * Weight buffers rotate so that >= 96 MiB is touched between reuses (past any L3 here).
 * Prints a markdown table (docs/perf/cpu.md). Not a ctest test: run build/tests/bench_cpu_matvec.
 *   usage: bench_cpu_matvec [--runs N] [--hot] [type ...]   (types by name: q4_0 q4_K ...)
 * --hot prints instead a table of in-cache throughput (256 x 4096 weights, best of 200 calls)
 * per path with 1 thread and for the auto path with 2: the compute ceiling of each kernel,
 * free of DRAM and mostly of other tenants. */
#include "backend/cpu/cpu_fast.h"
#include "core/half.h"
#include "formats/blocks.h"
#include "testutil.h"
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ---- the baseline: dequantize one block row to f32, then a plain f32 dot ----------- */

static void deq_q4_0(const void *p, float *o, int64_t k) {
    const mlxn_block_q4_0 *b = p;
    for (int64_t i = 0; i < k / 32; i++, o += 32) {
        float d = mlxn_fp16_to_f32(b[i].d);
        for (int j = 0; j < 16; j++) { o[j] = (float)((b[i].qs[j] & 15) - 8) * d; o[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d; }
    }
}
static void deq_q8_0(const void *p, float *o, int64_t k) {
    const mlxn_block_q8_0 *b = p;
    for (int64_t i = 0; i < k / 32; i++, o += 32) {
        float d = mlxn_fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; j++) o[j] = (float)b[i].qs[j] * d;
    }
}
static void deq_q4_K(const void *p, float *o, int64_t k) {
    const mlxn_block_q4_K *b = p;
    for (int64_t i = 0; i < k / 256; i++) {
        float d = mlxn_fp16_to_f32(b[i].d), dmin = mlxn_fp16_to_f32(b[i].dmin);
        const uint8_t *s = b[i].scales;
        for (int c = 0; c < 4; c++)
            for (int hf = 0; hf < 2; hf++) {
                int j = 2 * c + hf, sc, m;
                if (j < 4) { sc = s[j] & 63; m = s[j + 4] & 63; }
                else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
                for (int l = 0; l < 32; l++) {
                    int q = hf ? b[i].qs[32 * c + l] >> 4 : b[i].qs[32 * c + l] & 15;
                    *o++ = d * (float)sc * (float)q - dmin * (float)m;
                }
            }
    }
}
static void deq_q6_K(const void *p, float *o, int64_t k) {
    const mlxn_block_q6_K *b = p;
    for (int64_t i = 0; i < k / 256; i++, o += 256) {
        float d = mlxn_fp16_to_f32(b[i].d);
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = b[i].ql + 64 * n, *qh = b[i].qh + 32 * n;
            const int8_t *sc = b[i].scales + 8 * n;
            float *y = o + 128 * n;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                y[l] = d * sc[is] * (float)(((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32);
                y[l + 32] = d * sc[is + 2] * (float)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
                y[l + 64] = d * sc[is + 4] * (float)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
                y[l + 96] = d * sc[is + 6] * (float)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
            }
        }
    }
}
typedef void (*deq_fn)(const void *, float *, int64_t);

static void baseline(deq_fn deq, const uint8_t *w, size_t wrb, int64_t k, int64_t rows, const float *x,
                     float *y, float *tmp) {
    for (int64_t r = 0; r < rows; r++) {
        deq(w + (size_t)r * wrb, tmp, k);
        float s = 0.0f;
        for (int64_t i = 0; i < k; i++) s += tmp[i] * x[i];
        y[r] = s;
    }
}

/* ---- timing ------------------------------------------------------------------------ */

typedef struct { mlxn_type type; deq_fn deq; } bench_type;
static const bench_type types[] = {
    {MLXN_TYPE_Q4_0, deq_q4_0}, {MLXN_TYPE_Q8_0, deq_q8_0}, {MLXN_TYPE_Q4_K, deq_q4_K},
    {MLXN_TYPE_Q6_K, deq_q6_K}, {MLXN_TYPE_Q5_K, NULL},     {MLXN_TYPE_IQ4_XS, NULL},
    {MLXN_TYPE_Q4_1, NULL},     {MLXN_TYPE_Q5_0, NULL},     {MLXN_TYPE_Q2_K, NULL},
    {MLXN_TYPE_Q3_K, NULL},     {MLXN_TYPE_F16, NULL},
};

/* Median seconds of one call over `runs` calls, each on the next weight buffer. */
static double g_best;  /* best (minimum) time of the last time_fast call */
static double time_fast(mlxn_type t, uint8_t **wb, int nbuf, size_t wrb, int64_t k, int64_t rows,
                        const float *x, float *y, int threads, int runs) {
    double *ts = malloc(sizeof(double) * runs);
    mlxn_cpu_fast_mul_mat(t, wb[0], wrb, k, rows, x, 4 * k, y, 4 * rows, 1, threads); /* warm-up */
    for (int i = 0; i < runs; i++) {
        double t0 = now_s();
        mlxn_status st = mlxn_cpu_fast_mul_mat(t, wb[(i + 1) % nbuf], wrb, k, rows, x, 4 * k, y, 4 * rows, 1, threads);
        ts[i] = now_s() - t0;
        if (st != MLXN_OK) { fprintf(stderr, "mul_mat failed: %s\n", mlxn_last_error()); exit(1); }
    }
    qsort(ts, runs, sizeof(double), cmp_d);
    double m = ts[runs / 2];
    g_best = ts[0];
    free(ts);
    return m;
}

/* Plain read bandwidth of one thread over 128 MiB (best of 5): the DRAM ceiling here. */
static double read_bandwidth(void) {
    size_t n = (size_t)128 << 20;
    uint64_t *b = malloc(n);
    for (size_t i = 0; i < n / 8; i++) b[i] = i;
    double best = 1e9;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = 0; i < n / 8; i += 4) { s0 += b[i]; s1 += b[i + 1]; s2 += b[i + 2]; s3 += b[i + 3]; }
        sink += s0 + s1 + s2 + s3;
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    (void)sink;
    free(b);
    return n / best * 1e-9;
}

static void hot_table(void) {
    static const mlxn_cpu_path paths[] = {MLXN_CPU_PATH_AVX512, MLXN_CPU_PATH_AVX2, MLXN_CPU_PATH_SCALAR};
    static const mlxn_type hot_types[] = {
        MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_1, MLXN_TYPE_Q5_0, MLXN_TYPE_Q5_1, MLXN_TYPE_Q8_0, MLXN_TYPE_IQ4_NL,
        MLXN_TYPE_MXFP4, MLXN_TYPE_Q2_K, MLXN_TYPE_Q3_K, MLXN_TYPE_Q4_K, MLXN_TYPE_Q5_K, MLXN_TYPE_Q6_K,
        MLXN_TYPE_IQ4_XS, MLXN_TYPE_F16, MLXN_TYPE_BF16, MLXN_TYPE_F32};
    const int64_t rows = 256, k = 4096;
    tu_rng r;
    tu_rng_seed(&r, 2);
    printf("In-cache throughput, GB/s of weights (%lld x %lld, best of 200):\n\n", (long long)rows, (long long)k);
    printf("| type |");
    for (int p = 0; p < 3; p++) if (mlxn_cpu_fast_path_available(paths[p])) printf(" %s, 1 thread |", mlxn_cpu_path_name(paths[p]));
    printf(" %s, 2 threads |\n| --- |", mlxn_cpu_path_name(mlxn_cpu_fast_path()));
    for (int p = 0; p < 4; p++) if (p == 3 || mlxn_cpu_fast_path_available(paths[p])) printf(" ---: |");
    printf("\n");
    for (size_t ti = 0; ti < sizeof hot_types / sizeof hot_types[0]; ti++) {
        mlxn_type t = hot_types[ti];
        size_t wrb = mlxn_row_size(t, k), bytes = wrb * rows;
        uint8_t *w = malloc(bytes);
        float *x = malloc(sizeof(float) * k), *y = malloc(sizeof(float) * rows);
        for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)tu_rng_u64(&r);
        for (int64_t i = 0; i < k; i++) x[i] = tu_rng_normal(&r);
        printf("| %s |", mlxn_type_name(t));
        for (int p = 0; p < 4; p++) {
            if (p < 3 && !mlxn_cpu_fast_path_available(paths[p])) continue;
            mlxn_cpu_fast_force_path(p < 3 ? paths[p] : MLXN_CPU_PATH_AUTO);
            double best = 1e9;
            for (int i = 0; i < 200; i++) {
                double t0 = now_s();
                mlxn_cpu_fast_mul_mat(t, w, wrb, k, rows, x, 4 * k, y, 4 * rows, 1, p < 3 ? 1 : 2);
                double dt = now_s() - t0;
                if (dt < best) best = dt;
            }
            printf(" %.2f |", bytes / best * 1e-9);
        }
        printf("\n");
        fflush(stdout);
        free(w); free(x); free(y);
    }
    mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO);
}

int main(int argc, char **argv) {
    int runs = 21, hot = 0;
    const char *only[32];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--hot")) hot = 1;
        else if (n_only < 32) only[n_only++] = argv[i];
    }
    static const int64_t shapes[2][2] = {{4096, 14336}, {14336, 4096}};  /* rows, k */
    tu_rng r;
    tu_rng_seed(&r, 1);
    if (hot) { hot_table(); return 0; }
    printf("path: %s, OpenMP max threads %d, %d runs (median); plain read bandwidth, 1 thread: %.1f GB/s\n\n",
           mlxn_cpu_path_name(mlxn_cpu_fast_path()), omp_get_max_threads(), runs, read_bandwidth());
    printf("| type | rows x k | MiB | threads | SIMD GB/s (median) | SIMD GB/s (best) | scalar-path GB/s | baseline GB/s | SIMD / baseline |\n");
    printf("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        mlxn_type t = types[ti].type;
        if (n_only) {
            int hit = 0;
            for (int i = 0; i < n_only; i++) hit |= !strcmp(only[i], mlxn_type_name(t));
            if (!hit) continue;
        }
        for (int si = 0; si < 2; si++) {
            int64_t rows = shapes[si][0], k = shapes[si][1];
            size_t wrb = mlxn_row_size(t, k), bytes = wrb * (size_t)rows;
            int nbuf = (int)((96u << 20) / bytes) + 1;
            if (nbuf < 2) nbuf = 2;
            uint8_t **wb = malloc(sizeof(uint8_t *) * nbuf);
            for (int b = 0; b < nbuf; b++) {
                wb[b] = malloc(bytes);
                /* Random bytes: the kernels have no data-dependent branches, and fp16/e8m0
                 * scales never become f32 denormals, so the values do not change the timing. */
                for (size_t i = 0; i < bytes; i++) wb[b][i] = (uint8_t)tu_rng_u64(&r);
            }
            float *x = malloc(sizeof(float) * k), *y = malloc(sizeof(float) * rows), *tmp = malloc(sizeof(float) * k);
            for (int64_t i = 0; i < k; i++) x[i] = tu_rng_normal(&r);
            double base = 0;
            if (types[ti].deq) {
                int br = runs / 4 < 3 ? 3 : runs / 4;
                double *ts = malloc(sizeof(double) * br);
                for (int i = 0; i < br; i++) {
                    double t0 = now_s();
                    baseline(types[ti].deq, wb[i % nbuf], wrb, k, rows, x, y, tmp);
                    ts[i] = now_s() - t0;
                }
                qsort(ts, br, sizeof(double), cmp_d);
                base = ts[br / 2];
                free(ts);
            }
            for (int threads = 1; threads <= 2; threads++) {
                mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO);
                double tf = time_fast(t, wb, nbuf, wrb, k, rows, x, y, threads, runs), tbest = g_best;
                mlxn_cpu_fast_force_path(MLXN_CPU_PATH_SCALAR);
                double tsc = time_fast(t, wb, nbuf, wrb, k, rows, x, y, threads, runs / 4 < 3 ? 3 : runs / 4);
                mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO);
                char bs[32] = "-", sp[32] = "-";
                if (base > 0) {
                    snprintf(bs, sizeof bs, "%.2f", bytes / base * 1e-9);
                    snprintf(sp, sizeof sp, "%.1fx", base / tf);
                }
                printf("| %s | %lld x %lld | %.1f | %d | %.2f | %.2f | %.2f | %s | %s |\n", mlxn_type_name(t),
                       (long long)rows, (long long)k, bytes / 1048576.0, threads, bytes / tf * 1e-9, bytes / tbest * 1e-9,
                       bytes / tsc * 1e-9, bs, sp);
                fflush(stdout);
            }
            for (int b = 0; b < nbuf; b++) free(wb[b]);
            free(wb); free(x); free(y); free(tmp);
        }
    }
    return 0;
}
