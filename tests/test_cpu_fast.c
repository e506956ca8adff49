/* Fast CPU mat-mul kernels (src/backend/cpu/fast_*.c) against a double-accumulation
 * dequantize-and-dot reference written here from SPEC-FORMATS.md, on every path this CPU
 * runs (scalar, AVX2, AVX-512 VNNI), every handled type, odd shapes and n = 1..9.
 *
 * Bounds. Quantized weight types dot against activations rounded to 8 bits per block of
 * B = 32 (or 256 for K-quants): x = d*q + e with d = amax/127, |e| <= d/2. So
 *   (1) each output obeys |y - ref| <= sum_i |w_i| * d_b(i)/2 (worst case, plus 1e-5 of
 *       sum |w_i x_i| for float rounding);
 *   (2) treating e as uniform, E[err^2] = sum_i w_i^2 d_b(i)^2 / 12, so the normalised
 *       MSE sum(err^2)/sum(ref^2) must stay below 5x that prediction computed from the
 *       same data (about 3e-5 for Gaussian x: amax ~ 2.2 sigma over 32 values);
 *   (3) the SIMD paths see the same quantized activations as the scalar path, so they
 *       must agree with it up to float summation order: NMSE <= 1e-9.
 * f32/f16/bf16 weights use f32 activations: NMSE <= 1e-10 against the reference. */
#define _POSIX_C_SOURCE 200809L  /* setenv */
#include "backend/cpu/cpu_fast.h"
#include "core/half.h"
#include "core/status.h"
#include "formats/blocks.h"
#include "testutil.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- reference dequantization (element by element, from the spec) ------------------ */

static const int iq4nl_k[16] = MLXN_IQ4NL_VALUES;
static const int mxfp4_f[16] = MLXN_MXFP4_VALUES2;
static double h(uint16_t v) { return (double)mlxn_fp16_to_f32(v); }
static int nib(const uint8_t *qs, int e) { return e < 16 ? qs[e] & 15 : qs[e - 16] >> 4; }
static int bit(const uint8_t *qh, int j) { return (qh[j / 8] >> (j % 8)) & 1; }

/* Q4_K / Q5_K scale and min of sub-block j. */
static void k4(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) { *sc = s[j] & 63; *m = s[j + 4] & 63; }
    else { *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}

/* Element e of the block at p. */
static double ref_elem(mlxn_type t, const uint8_t *p, int e) {
    switch (t) {
    case MLXN_TYPE_F32: { float f; memcpy(&f, p + 4 * e, 4); return f; }
    case MLXN_TYPE_F16: { uint16_t v; memcpy(&v, p + 2 * e, 2); return h(v); }
    case MLXN_TYPE_BF16: { uint16_t v; memcpy(&v, p + 2 * e, 2); return mlxn_bf16_to_f32(v); }
    case MLXN_TYPE_Q4_0: { const mlxn_block_q4_0 *b = (const void *)p; return (nib(b->qs, e) - 8) * h(b->d); }
    case MLXN_TYPE_Q4_1: { const mlxn_block_q4_1 *b = (const void *)p; return nib(b->qs, e) * h(b->d) + h(b->m); }
    case MLXN_TYPE_Q5_0: { const mlxn_block_q5_0 *b = (const void *)p; return ((nib(b->qs, e) | bit(b->qh, e) << 4) - 16) * h(b->d); }
    case MLXN_TYPE_Q5_1: { const mlxn_block_q5_1 *b = (const void *)p; return (nib(b->qs, e) | bit(b->qh, e) << 4) * h(b->d) + h(b->m); }
    case MLXN_TYPE_Q8_0: { const mlxn_block_q8_0 *b = (const void *)p; return b->qs[e] * h(b->d); }
    case MLXN_TYPE_Q8_1: { const mlxn_block_q8_1 *b = (const void *)p; return b->qs[e] * h(b->d); }
    case MLXN_TYPE_IQ4_NL: { const mlxn_block_iq4_nl *b = (const void *)p; return iq4nl_k[nib(b->qs, e)] * h(b->d); }
    case MLXN_TYPE_MXFP4: { const mlxn_block_mxfp4 *b = (const void *)p; return mxfp4_f[nib(b->qs, e)] * ldexp(1.0, b->e - 128); }
    case MLXN_TYPE_Q2_K: {
        const mlxn_block_q2_K *b = (const void *)p;
        int n = e / 128, j = e % 128 / 32, l = e % 32, q = (b->qs[32 * n + l] >> 2 * j) & 3, sc = b->scales[e / 16];
        return h(b->d) * (sc & 15) * q - h(b->dmin) * (sc >> 4);
    }
    case MLXN_TYPE_Q3_K: {
        const mlxn_block_q3_K *b = (const void *)p;
        int n = e / 128, j = e % 128 / 32, l = e % 32, q = (b->qs[32 * n + l] >> 2 * j) & 3;
        int hb = (b->hmask[e % 32] >> (4 * n + j)) & 1, i = e / 16;
        int lo = i < 8 ? b->scales[i] & 15 : b->scales[i - 8] >> 4, hi = (b->scales[8 + i % 4] >> 2 * (i / 4)) & 3;
        return h(b->d) * ((lo | hi << 4) - 32) * (q - (hb ? 0 : 4));
    }
    case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K: {
        const uint8_t *scales = t == MLXN_TYPE_Q4_K ? ((const mlxn_block_q4_K *)(const void *)p)->scales
                                                    : ((const mlxn_block_q5_K *)(const void *)p)->scales;
        const uint8_t *qs = t == MLXN_TYPE_Q4_K ? ((const mlxn_block_q4_K *)(const void *)p)->qs
                                                : ((const mlxn_block_q5_K *)(const void *)p)->qs;
        uint16_t d, dmin;
        memcpy(&d, p, 2); memcpy(&dmin, p + 2, 2);   /* both start with d, dmin */
        int c = e / 64, hiq = e % 64 >= 32, l = e % 32, sc, m;
        k4(scales, 2 * c + hiq, &sc, &m);
        int q = hiq ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 15;
        if (t == MLXN_TYPE_Q5_K && ((((const mlxn_block_q5_K *)(const void *)p)->qh[l] >> (2 * c + hiq)) & 1)) q += 16;
        return h(d) * sc * q - h(dmin) * m;
    }
    case MLXN_TYPE_Q6_K: {
        const mlxn_block_q6_K *b = (const void *)p;
        int n = e / 128, r = e % 128, l = r % 32, g = r / 32;
        const uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
        int lowq = g == 0 ? ql[l] & 15 : g == 1 ? ql[l + 32] & 15 : g == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
        int q = lowq | ((qh[l] >> (2 * g)) & 3) << 4;
        return h(b->d) * b->scales[e / 16] * (q - 32);
    }
    case MLXN_TYPE_IQ4_XS: {
        const mlxn_block_iq4_xs *b = (const void *)p;
        int ib = e / 32, j = e % 32;
        int ls = ((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 15) | (((b->scales_h >> 2 * ib) & 3) << 4);
        int q = j < 16 ? b->qs[16 * ib + j] & 15 : b->qs[16 * ib + j - 16] >> 4;
        return h(b->d) * (ls - 32) * iq4nl_k[q];
    }
    default: return NAN;
    }
}

static void ref_dequant_row(mlxn_type t, const void *row, int64_t k, double *out) {
    const mlxn_type_traits *tt = mlxn_type_info(t);
    for (int64_t b = 0; b < k / tt->block_elems; b++)
        for (int e = 0; e < tt->block_elems; e++)
            out[b * tt->block_elems + e] = ref_elem(t, (const uint8_t *)row + b * tt->block_bytes, e);
}

/* ---- random weights: random bytes, then sane scales -------------------------------- */

static uint16_t rand_scale(tu_rng *r, float mag, int allow_neg) {
    float v = mag * (0.5f + tu_rng_uniform(r));
    if (allow_neg && (tu_rng_u64(r) & 1)) v = -v;
    return mlxn_f32_to_fp16(v);
}

static void fill_weights(mlxn_type t, uint8_t *w, int64_t n_blocks, tu_rng *r) {
    const mlxn_type_traits *tt = mlxn_type_info(t);
    size_t bytes = (size_t)n_blocks * tt->block_bytes;
    if (t == MLXN_TYPE_F32) {
        for (size_t i = 0; i < bytes / 4; i++) { float f = tu_rng_normal(r) * 0.1f; memcpy(w + 4 * i, &f, 4); }
        return;
    }
    if (t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16) {
        for (size_t i = 0; i < bytes / 2; i++) {
            float f = tu_rng_normal(r) * 0.1f;
            uint16_t v = t == MLXN_TYPE_F16 ? mlxn_f32_to_fp16(f) : mlxn_f32_to_bf16(f);
            memcpy(w + 2 * i, &v, 2);
        }
        return;
    }
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)tu_rng_u64(r);
    for (int64_t b = 0; b < n_blocks; b++) {
        uint8_t *p = w + b * tt->block_bytes;
        switch (t) {
        case MLXN_TYPE_Q4_0: ((mlxn_block_q4_0 *)(void *)p)->d = rand_scale(r, 0.02f, 1); break;
        case MLXN_TYPE_Q4_1: ((mlxn_block_q4_1 *)(void *)p)->d = rand_scale(r, 0.02f, 0);
                             ((mlxn_block_q4_1 *)(void *)p)->m = rand_scale(r, 0.1f, 1); break;
        case MLXN_TYPE_Q5_0: ((mlxn_block_q5_0 *)(void *)p)->d = rand_scale(r, 0.01f, 1); break;
        case MLXN_TYPE_Q5_1: ((mlxn_block_q5_1 *)(void *)p)->d = rand_scale(r, 0.01f, 0);
                             ((mlxn_block_q5_1 *)(void *)p)->m = rand_scale(r, 0.1f, 1); break;
        case MLXN_TYPE_Q8_0: ((mlxn_block_q8_0 *)(void *)p)->d = rand_scale(r, 0.001f, 1); break;
        case MLXN_TYPE_Q8_1: ((mlxn_block_q8_1 *)(void *)p)->d = rand_scale(r, 0.001f, 1); break;
        case MLXN_TYPE_IQ4_NL: ((mlxn_block_iq4_nl *)(void *)p)->d = rand_scale(r, 0.001f, 1); break;
        case MLXN_TYPE_MXFP4: ((mlxn_block_mxfp4 *)(void *)p)->e = (uint8_t)(120 + tu_rng_u64(r) % 8); break;
        case MLXN_TYPE_Q2_K: ((mlxn_block_q2_K *)(void *)p)->d = rand_scale(r, 0.01f, 0);
                             ((mlxn_block_q2_K *)(void *)p)->dmin = rand_scale(r, 0.01f, 0); break;
        case MLXN_TYPE_Q3_K: ((mlxn_block_q3_K *)(void *)p)->d = rand_scale(r, 0.005f, 1); break;
        case MLXN_TYPE_Q4_K: ((mlxn_block_q4_K *)(void *)p)->d = rand_scale(r, 0.002f, 0);
                             ((mlxn_block_q4_K *)(void *)p)->dmin = rand_scale(r, 0.002f, 0); break;
        case MLXN_TYPE_Q5_K: ((mlxn_block_q5_K *)(void *)p)->d = rand_scale(r, 0.001f, 0);
                             ((mlxn_block_q5_K *)(void *)p)->dmin = rand_scale(r, 0.002f, 0); break;
        case MLXN_TYPE_Q6_K: ((mlxn_block_q6_K *)(void *)p)->d = rand_scale(r, 0.0005f, 1); break;
        case MLXN_TYPE_IQ4_XS: ((mlxn_block_iq4_xs *)(void *)p)->d = rand_scale(r, 0.0005f, 1); break;
        default: break;
        }
    }
}

/* ---- one case -------------------------------------------------------------------- */

static const mlxn_type all_types[] = {
    MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_1, MLXN_TYPE_Q5_0, MLXN_TYPE_Q5_1, MLXN_TYPE_Q8_0, MLXN_TYPE_Q8_1,
    MLXN_TYPE_IQ4_NL, MLXN_TYPE_MXFP4, MLXN_TYPE_Q2_K, MLXN_TYPE_Q3_K, MLXN_TYPE_Q4_K, MLXN_TYPE_Q5_K,
    MLXN_TYPE_Q6_K, MLXN_TYPE_IQ4_XS, MLXN_TYPE_F16, MLXN_TYPE_BF16, MLXN_TYPE_F32,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

static int is_float(mlxn_type t) { return t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16; }
static int act_block(mlxn_type t) { return is_float(t) ? 0 : mlxn_type_info(t)->block_elems == 256 ? 256 : 32; }

typedef struct {
    mlxn_type type;
    int64_t k, rows, n;
    int threads;
    int pad;          /* extra floats between x rows and y rows */
    int codec;        /* weights from mlxn_quantize_row of Gaussian rows instead of random bytes */
} mm_case;

/* Runs the case on the current path; checks bounds (1)-(2) against the reference, or
 * (3) against `scalar_y` when given. Returns the y buffer (caller frees) or NULL. */
static double g_worst_pred_ratio; /* largest NMSE / predicted NMSE seen (quantized types) */

static float *run_case(const mm_case *cs, uint64_t seed, const float *scalar_y, const char *path) {
    const mlxn_type_traits *tt = mlxn_type_info(cs->type);
    int64_t k = cs->k, rows = cs->rows, n = cs->n;
    size_t wrb = mlxn_row_size(cs->type, k) + (cs->pad ? 2 * tt->block_bytes : 0);
    size_t xs = (size_t)(k + cs->pad), ys = (size_t)(rows + cs->pad);
    tu_rng r;
    tu_rng_seed(&r, seed);
    uint8_t *w = malloc(wrb * rows);
    float *x = malloc(sizeof(float) * xs * n), *y = malloc(sizeof(float) * ys * n);
    double *wd = malloc(sizeof(double) * k);
    if (cs->codec) {
        float *row = malloc(sizeof(float) * k);
        for (int64_t i = 0; i < rows; i++) {
            for (int64_t e = 0; e < k; e++) row[e] = 0.05f * tu_rng_normal(&r) + (e % 7 == 0 ? 0.02f : 0.0f);
            CHECK(mlxn_quantize_row(cs->type, row, w + i * wrb, k) == MLXN_OK);
        }
        free(row);
    } else {
        for (int64_t i = 0; i < rows; i++) fill_weights(cs->type, w + i * wrb, k / tt->block_elems, &r);
    }
    for (size_t i = 0; i < xs * n; i++) x[i] = tu_rng_normal(&r);
    for (size_t i = 0; i < ys * n; i++) y[i] = NAN;

    char what[160];
    snprintf(what, sizeof what, "%s path=%s k=%lld rows=%lld n=%lld threads=%d pad=%d%s", tt->name, path,
             (long long)k, (long long)rows, (long long)n, cs->threads, cs->pad, cs->codec ? " codec weights" : "");
    mlxn_status st = mlxn_cpu_fast_mul_mat(cs->type, w, wrb, k, rows, x, xs * 4, y, ys * 4, n, cs->threads);
    if (!CHECKF(st == MLXN_OK, "%s: %s", what, mlxn_last_error())) { free(w); free(x); free(y); free(wd); return NULL; }

    /* every element written and finite; padding untouched */
    int64_t bad = 0, pad_written = 0;
    for (int64_t j = 0; j < n; j++) {
        for (int64_t i = 0; i < rows; i++) bad += !isfinite(y[j * ys + i]);
        for (size_t i = (size_t)rows; i < ys; i++) pad_written += !isnan(y[j * ys + i]);
    }
    CHECKF(bad == 0, "%s: %lld outputs not written or not finite", what, (long long)bad);
    CHECKF(pad_written == 0, "%s: %lld padding elements written", what, (long long)pad_written);

    if (scalar_y) {   /* bound (3) */
        double e2 = 0, r2 = 0;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < rows; i++) {
                double d = (double)y[j * ys + i] - scalar_y[j * ys + i];
                e2 += d * d; r2 += (double)scalar_y[j * ys + i] * scalar_y[j * ys + i];
            }
        CHECKF(e2 <= 1e-9 * r2, "%s: SIMD vs scalar path NMSE %.3g > 1e-9", what, e2 / r2);
    }

    int B = act_block(cs->type);
    double e2 = 0, r2 = 0, pred = 0;
    int64_t over = 0;
    double worst_ratio = 0;
    double *db = malloc(sizeof(double) * (k / (B ? B : 1) + 1));
    for (int64_t j = 0; j < n; j++) {
        const float *xj = x + j * xs;
        if (B)
            for (int64_t b = 0; b < k / B; b++) {
                double amax = 0;
                for (int i = 0; i < B; i++) amax = fmax(amax, fabs(xj[b * B + i]));
                db[b] = (double)(float)(amax / 127.0);
            }
        for (int64_t i = 0; i < rows; i++) {
            ref_dequant_row(cs->type, w + i * wrb, k, wd);
            double ref = 0, absdot = 0, worst = 0, var = 0;
            for (int64_t e = 0; e < k; e++) {
                ref += wd[e] * xj[e];
                absdot += fabs(wd[e] * xj[e]);
                if (B) { worst += fabs(wd[e]) * db[e / B] * 0.5; var += wd[e] * wd[e] * db[e / B] * db[e / B] / 12.0; }
            }
            double err = (double)y[j * ys + i] - ref;
            double lim = worst * (1 + 1e-5) + 1e-5 * absdot + 1e-30;
            if (fabs(err) > lim) over++;
            if (fabs(err) / lim > worst_ratio) worst_ratio = fabs(err) / lim;
            e2 += err * err; r2 += ref * ref; pred += var;
        }
    }
    free(db);
    CHECKF(over == 0, "%s: %lld outputs outside the worst-case activation rounding bound (max ratio %.3g)",
           what, (long long)over, worst_ratio);
    if (B && e2 / pred > g_worst_pred_ratio) g_worst_pred_ratio = e2 / pred;
    if (B) CHECKF(e2 <= 5.0 * pred + 1e-12 * r2, "%s: NMSE %.3g > 5 x predicted %.3g", what, e2 / r2, pred / r2);
    else CHECKF(e2 <= 1e-10 * r2, "%s: NMSE %.3g > 1e-10", what, e2 / r2);
    free(w); free(x); free(wd);
    return y;
}

static void test_all_types_all_paths(void) {
    static const mlxn_cpu_path paths[] = {MLXN_CPU_PATH_SCALAR, MLXN_CPU_PATH_AVX2, MLXN_CPU_PATH_AVX512};
    static const int64_t ns[] = {1, 2, 3, 8, 9};
    int cases = 0;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        mlxn_type t = all_types[ti];
        CHECKF(mlxn_cpu_fast_supports(t), "%s supported", mlxn_type_name(t));
        int64_t be = mlxn_type_info(t)->block_elems;
        int64_t ks[3];
        if (be == 1) { ks[0] = 1; ks[1] = 37; ks[2] = 1000; }
        else if (be == 32) { ks[0] = 32; ks[1] = 32 * 13; ks[2] = 4096; }
        else { ks[0] = 256; ks[1] = 256 * 3; ks[2] = 4096; }
        for (int ki = 0; ki < 3; ki++)
            for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
                mm_case cs = {t, ks[ki], ki == 2 ? 67 : (ni % 2 ? 7 : 37), ns[ni], (int)(ni % 3), (int)(ni % 2) * 3,
                              ki == 1 && ni == 2};
                if (ki == 2 && ns[ni] > 3) continue;   /* keep the big-k cases few */
                uint64_t seed = 1000 * ti + 10 * ki + ni;
                float *ys = NULL;
                for (size_t pi = 0; pi < 3; pi++) {
                    if (!mlxn_cpu_fast_path_available(paths[pi])) continue;
                    CHECK(mlxn_cpu_fast_force_path(paths[pi]) == MLXN_OK);
                    float *yp = run_case(&cs, seed, ys, mlxn_cpu_path_name(paths[pi]));
                    if (!ys) ys = yp; else free(yp);
                    cases++;
                }
                free(ys);
            }
    }
    mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO);
    printf("ran %d type x shape x path cases\n", cases);
}

/* Enough weights to take the OpenMP route, with 1, 2 and all threads. */
/* The reference decoder above agrees with the library's codec (written separately from
 * the same spec): a check on the oracle itself. */
static void test_reference_matches_codec(void) {
    tu_rng r;
    tu_rng_seed(&r, 5);
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        mlxn_type t = all_types[ti];
        const mlxn_type_traits *tt = mlxn_type_info(t);
        int64_t k = tt->block_elems == 1 ? 100 : 4 * tt->block_elems;
        uint8_t *w = malloc(mlxn_row_size(t, k));
        float *f = malloc(sizeof(float) * k);
        double *d = malloc(sizeof(double) * k);
        fill_weights(t, w, k / tt->block_elems, &r);
        if (!CHECKF(mlxn_dequantize_row(t, w, f, k) == MLXN_OK, "%s: %s", tt->name, mlxn_last_error())) continue;
        ref_dequant_row(t, w, k, d);
        double amax = 0, worst = 0;
        for (int64_t e = 0; e < k; e++) amax = fmax(amax, fabs(d[e]));
        for (int64_t e = 0; e < k; e++) worst = fmax(worst, fabs(d[e] - f[e]));
        CHECKF(worst <= 1e-6 * amax, "%s: reference and mlxn_dequantize_row differ by %g (max |w| %g)", tt->name, worst, amax);
        free(w); free(f); free(d);
    }
}

static void test_threads(void) {
    static const mlxn_type ts[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_K, MLXN_TYPE_Q6_K, MLXN_TYPE_F16};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        for (int th = 0; th <= 2; th++) {
            mm_case cs = {ts[i], 2048, 301, th == 2 ? 5 : 1, th, 1, 0};
            free(run_case(&cs, 77 + i, NULL, mlxn_cpu_path_name(mlxn_cpu_fast_path())));
        }
}

/* n beyond the mat-vec sizes (the harness's 33), on the auto path. */
static void test_wide_n(void) {
    static const mlxn_type ts[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q5_1, MLXN_TYPE_Q3_K, MLXN_TYPE_IQ4_XS, MLXN_TYPE_BF16};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        mm_case cs = {ts[i], 512, 19, 33, 2, 2, 0};
        free(run_case(&cs, 300 + i, NULL, mlxn_cpu_path_name(mlxn_cpu_fast_path())));
    }
}

/* Two threads calling at once (each has its own activation scratch) get the same results
 * as one after the other. */
typedef struct { mlxn_type t; int64_t k, rows, n; uint8_t *w; float *x, *y; mlxn_status st; } call_args;
static void *call_thread(void *p) {
    call_args *a = p;
    for (int rep = 0; rep < 20 && a->st == MLXN_OK; rep++)
        a->st = mlxn_cpu_fast_mul_mat(a->t, a->w, mlxn_row_size(a->t, a->k), a->k, a->rows, a->x, 4 * a->k,
                                      a->y, 4 * a->rows, a->n, 1);
    return NULL;
}
static void test_concurrent_callers(void) {
    call_args a[2] = {{MLXN_TYPE_Q4_K, 1024, 64, 3, 0, 0, 0, MLXN_OK}, {MLXN_TYPE_Q8_0, 2048, 48, 5, 0, 0, 0, MLXN_OK}};
    float *solo[2];
    tu_rng r;
    tu_rng_seed(&r, 9);
    for (int i = 0; i < 2; i++) {
        size_t wb = mlxn_row_size(a[i].t, a[i].k) * a[i].rows;
        a[i].w = malloc(wb);
        fill_weights(a[i].t, a[i].w, (int64_t)(wb / mlxn_type_info(a[i].t)->block_bytes), &r);
        a[i].x = malloc(sizeof(float) * a[i].k * a[i].n);
        for (int64_t e = 0; e < a[i].k * a[i].n; e++) a[i].x[e] = tu_rng_normal(&r);
        a[i].y = malloc(sizeof(float) * a[i].rows * a[i].n);
        solo[i] = malloc(sizeof(float) * a[i].rows * a[i].n);
        CHECK(mlxn_cpu_fast_mul_mat(a[i].t, a[i].w, mlxn_row_size(a[i].t, a[i].k), a[i].k, a[i].rows, a[i].x,
                                    4 * a[i].k, solo[i], 4 * a[i].rows, a[i].n, 1) == MLXN_OK);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, call_thread, &a[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECKF(a[i].st == MLXN_OK, "%s", mlxn_type_name(a[i].t));
        CHECKF(!memcmp(a[i].y, solo[i], sizeof(float) * a[i].rows * a[i].n), "%s: concurrent result differs",
               mlxn_type_name(a[i].t));
        free(a[i].w); free(a[i].x); free(a[i].y); free(solo[i]);
    }
}

/* MLXN_CPU_PATH is read whenever the path is (re)chosen: at first use and after forcing AUTO. */
static void test_path_env(void) {
    setenv("MLXN_CPU_PATH", "scalar", 1);
    CHECK(mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO) == MLXN_OK);
    CHECK(mlxn_cpu_fast_path() == MLXN_CPU_PATH_SCALAR);
    setenv("MLXN_CPU_PATH", "no-such-path", 1);
    CHECK(mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO) == MLXN_OK);
    CHECK(mlxn_cpu_fast_path() != MLXN_CPU_PATH_AUTO);
    unsetenv("MLXN_CPU_PATH");
    CHECK(mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO) == MLXN_OK);
    mlxn_cpu_path want = mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX512) ? MLXN_CPU_PATH_AVX512
                       : mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX2) ? MLXN_CPU_PATH_AVX2 : MLXN_CPU_PATH_SCALAR;
    CHECK(mlxn_cpu_fast_path() == want);
}

static void test_bad_calls(void) {
    uint8_t w[4096] = {0};
    float x[256] = {1}, y[8];
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q8_K, w, 292, 256, 1, x, 1024, y, 32, 1, 1) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_IQ2_XXS, w, 66, 256, 1, x, 1024, y, 32, 1, 1) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_cpu_fast_mul_mat((mlxn_type)1000, w, 66, 256, 1, x, 1024, y, 32, 1, 1) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, w, 18 * 2, 48, 1, x, 1024, y, 32, 1, 1) == MLXN_ERR_SHAPE);
    CHECK(strstr(mlxn_last_error(), "k=48") != NULL);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_K, w, 100, 256, 1, x, 1024, y, 32, 1, 1) == MLXN_ERR_SHAPE);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, w, 18, 32, 2, x, 16, y, 32, 2, 1) == MLXN_ERR_SHAPE);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, w + 1, 18, 32, 1, x, 128, y, 4, 1, 1) == MLXN_ERR_SHAPE);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_F32, w, 130, 32, 2, x, 128, y, 8, 1, 1) == MLXN_ERR_SHAPE);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, NULL, 18, 32, 1, x, 128, y, 4, 1, 1) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, w, 18, -32, 1, x, 128, y, 4, 1, 1) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_cpu_fast_mul_mat(MLXN_TYPE_Q4_0, w, 18, 32, 0, x, 128, y, 4, 1, 1) == MLXN_OK);
    CHECK(mlxn_cpu_fast_force_path((mlxn_cpu_path)9) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_cpu_fast_force_path(MLXN_CPU_PATH_AUTO) == MLXN_OK);
    CHECK(mlxn_cpu_fast_path() != MLXN_CPU_PATH_AUTO);
}

int main(void) {
    printf("cpu path: %s (avx2 %s, avx512-vnni %s)\n", mlxn_cpu_path_name(mlxn_cpu_fast_path()),
           mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX2) ? "yes" : "no",
           mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX512) ? "yes" : "no");
    test_bad_calls();
    test_reference_matches_codec();
    test_all_types_all_paths();
    test_threads();
    test_wide_n();
    test_concurrent_callers();
    test_path_env();
    printf("largest NMSE / predicted activation-rounding NMSE: %.3f\n", g_worst_pred_ratio);
    return tu_finish();
}
