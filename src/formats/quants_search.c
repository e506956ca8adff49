/* Block encoders (f32 -> GGML blocks): round to nearest with a scale search.
 *
 * Every encoder minimises the plain squared error of its block:
 *  - one scale (Q4_0, Q5_0, Q8_x, IQ4_NL): try ~100 candidate scales spread around
 *    "largest |x| lands on the last level" (both signs, with and without clipping), keep the
 *    one whose least-squares refit explains most energy, then a few Lloyd rounds
 *    (requantize with the refitted scale, refit again) while the error drops;
 *  - scale + offset (Q4_1, Q5_1, sub-blocks of Q2_K/Q4_K/Q5_K): the same over iscale
 *    candidates anchored at the block minimum, with a 2x2 least-squares refit of (d, m);
 *  - two-level K-quants and IQ4_XS: float sub-block scales as above, then the super-block
 *    fp16 scale(s) from the largest sub-scale (a few candidates), then each sub-block's
 *    integer scale (and min) re-chosen among its rounding neighbours by actual error.
 * Integer levels are always recomputed from the scales as stored (after fp16 rounding), so
 * the block decodes to exactly what the search measured. docs/formats.md lists the RMSE. */
#include "core/half.h"
#include "formats/quants.h"
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#ifndef NCAND
#define NCAND 16 /* candidate scales per sign (the Lloyd rounds close most of the rest) */
#endif

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
/* Round to nearest (ties to even) and clamp to lo..hi; NaN gives lo. Adding 1.5*2^23 leaves
 * the rounded integer in the low mantissa bits (valid for |v| < 2^22, ensured by the clamp). */
static inline int round_clamp(float v, int lo, int hi) {
    if (!(v > (float)lo - 1.0f)) return lo;
    if (v > (float)hi + 1.0f) return hi;
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return clampi((int)(i & 0x007fffff) - 0x00400000, lo, hi);
}
/* fp16 bits of a scale, clamped to the largest finite half (65504) so blocks of huge values
 * saturate instead of decoding to inf/nan. */
static inline uint16_t fp16_scale(float d) {
    if (d > 65504.0f) d = 65504.0f;
    if (d < -65504.0f) d = -65504.0f;
    return mlxn_f32_to_fp16(d);
}

/* Relative spread of the candidate scales around "extreme value on the last level": wide for
 * few levels (clipping the tail pays off), narrow for many (the grid stays fine). */
static inline float search_width(int nlevels) { return 0.05f + 4.0f / (float)nlevels; }

/* ---- one scale, symmetric integer levels qmin..qmax ---------------------------------- */

/* sum x*q and sum q*q for q = round(x/d) clamped. */
static void sym_stats(const float *x, int n, float d, int qmin, int qmax, double *sxq, double *sqq) {
    double a = 0, b = 0;
    float id = 1.0f / d;
    for (int i = 0; i < n; i++) {
        int q = round_clamp(x[i] * id, qmin, qmax);
        a += (double)x[i] * q;
        b += (double)q * q;
    }
    *sxq = a;
    *sqq = b;
}

/* Returns the scale d minimising sum (x - d*q)^2 (0 for an all-zero block). */
static float sym_search(const float *x, int n, int qmin, int qmax) {
    float amax = 0, mx = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), mx = x[i];
    if (!(amax > 0) || !isfinite(amax)) return 0;
    double best = -1;
    float best_d = 0;
    float w = search_width(qmax - qmin + 1);
    float lo = (1.0f - w) * (float)qmax, hi = (1.0f + w) * (float)(-qmin);
    for (int sign = -1; sign <= 1; sign += 2)
        for (int s = 0; s <= NCAND; s++) {
            float v = lo + (hi - lo) * (float)s / NCAND;
            float d = (float)sign * mx / v;
            double sxq, sqq;
            sym_stats(x, n, d, qmin, qmax, &sxq, &sqq);
            if (sqq > 0 && sxq * sxq / sqq > best) best = sxq * sxq / sqq, best_d = (float)(sxq / sqq);
        }
    for (int it = 0; it < 4 && best_d != 0; it++) { /* Lloyd rounds */
        double sxq, sqq;
        sym_stats(x, n, best_d, qmin, qmax, &sxq, &sqq);
        if (!(sqq > 0) || sxq * sxq / sqq <= best) break;
        best = sxq * sxq / sqq;
        best_d = (float)(sxq / sqq);
    }
    return best_d;
}

/* Error of x against levels dl*q, q = round(x/dl) clamped; fills L when not NULL. */
static double sym_err(const float *x, int n, float dl, int qmin, int qmax, int *L) {
    double e = 0;
    float id = dl != 0 ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        int q = round_clamp(x[i] * id, qmin, qmax);
        if (L) L[i] = q;
        float y = dl * (float)q;
        e += ((double)y - x[i]) * ((double)y - x[i]);
    }
    return e;
}

/* ---- scale + offset, levels 0..nmax: x ~ d*q + m ------------------------------------- */

static double affine_fit(const float *x, int n, const int *q, bool min_le0, float *d, float *m) {
    double sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < n; i++) sq += q[i], sqq += (double)q[i] * q[i], sx += x[i], sxq += (double)x[i] * q[i];
    double D = n * sqq - sq * sq;
    double dd, mm;
    if (D > 0) {
        dd = (n * sxq - sq * sx) / D;
        mm = (sqq * sx - sq * sxq) / D;
    } else {
        dd = 0;
        mm = sx / n;
    }
    if (min_le0 && mm > 0) {
        mm = 0;
        dd = sqq > 0 ? sxq / sqq : 0;
    }
    *d = (float)dd;
    *m = (float)mm;
    double e = 0;
    for (int i = 0; i < n; i++) {
        double y = (double)*d * q[i] + *m - x[i];
        e += y * y;
    }
    return e;
}

/* Returns d and sets *m (m <= 0 when min_le0: K-quants store -dmin*mq with mq >= 0). */
static float affine_search(const float *x, int n, int nmax, bool min_le0, float *m_out) {
    float mn = x[0], mxv = x[0];
    for (int i = 1; i < n; i++) mn = fminf(mn, x[i]), mxv = fmaxf(mxv, x[i]);
    if (min_le0 && mn > 0) mn = 0;
    if (!(mxv > mn) || !isfinite(mxv - mn)) {
        *m_out = (min_le0 && mn > 0) ? 0 : (isfinite(mn) ? mn : 0);
        return 0;
    }
    int q[256];
    double best = DBL_MAX;
    float best_d = 0, best_m = mn, w = search_width(nmax + 1);
    for (int s = 0; s <= NCAND; s++) {
        float iscale = (float)nmax * (1.0f - w + 1.5f * w * (float)s / NCAND) / (mxv - mn);
        for (int i = 0; i < n; i++) q[i] = round_clamp(iscale * (x[i] - mn), 0, nmax);
        float d, m;
        double e = affine_fit(x, n, q, min_le0, &d, &m);
        if (d > 0 && e < best) best = e, best_d = d, best_m = m;
    }
    for (int it = 0; it < 4 && best_d > 0; it++) {
        float id = 1.0f / best_d;
        for (int i = 0; i < n; i++) q[i] = round_clamp((x[i] - best_m) * id, 0, nmax);
        float d, m;
        double e = affine_fit(x, n, q, min_le0, &d, &m);
        if (!(d > 0) || e >= best) break;
        best = e, best_d = d, best_m = m;
    }
    *m_out = best_m;
    return best_d;
}

/* Error of levels dl*q - ml (q = round((x+ml)/dl) clamped 0..nmax); fills L when not NULL. */
static double affine_err(const float *x, int n, float dl, float ml, int nmax, int *L) {
    double e = 0;
    float id = dl > 0 ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        int q = round_clamp((x[i] + ml) * id, 0, nmax);
        if (L) L[i] = q;
        float y = dl * (float)q - ml;
        e += ((double)y - x[i]) * ((double)y - x[i]);
    }
    return e;
}

/* ---- non-linear codebook (IQ4) ------------------------------------------------------- */

/* Index of the codebook value nearest to v (ties to the lower one): the number of midpoints
 * between neighbours that v exceeds, counted without branches. */
static inline int iq4_nearest(float v) {
    static const float mid[15] = {-115.5f, -93.5f, -74.0f, -57.0f, -42.0f, -28.5f, -16.0f, -4.5f,
                                  7.0f,    19.0f,  31.5f,  45.5f,  61.0f,  79.0f,  101.0f};
    int idx = 0;
    for (int m = 0; m < 15; m++) idx += v > mid[m];
    return idx;
}

static void iq4_stats(const float *x, int n, float d, double *sxk, double *skk) {
    double a = 0, b = 0;
    float id = 1.0f / d;
    for (int i = 0; i < n; i++) {
        int k = mlxn_iq4nl_values[iq4_nearest(x[i] * id)];
        a += (double)x[i] * k;
        b += (double)k * k;
    }
    *sxk = a;
    *skk = b;
}

static float iq4_search(const float *x, int n) {
    float amax = 0, mx = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), mx = x[i];
    if (!(amax > 0) || !isfinite(amax)) return 0;
    double best = -1;
    float best_d = 0;
    for (int sign = -1; sign <= 1; sign += 2)
        for (int s = 0; s <= NCAND; s++) {
            float v = 80.0f + 80.0f * (float)s / NCAND; /* largest |x| lands near +-113 / -127 */
            float d = (float)sign * mx / v;
            double a, b;
            iq4_stats(x, n, d, &a, &b);
            if (b > 0 && a * a / b > best) best = a * a / b, best_d = (float)(a / b);
        }
    for (int it = 0; it < 4 && best_d != 0; it++) {
        double a, b;
        iq4_stats(x, n, best_d, &a, &b);
        if (!(b > 0) || a * a / b <= best) break;
        best = a * a / b;
        best_d = (float)(a / b);
    }
    return best_d;
}

static double iq4_err(const float *x, int n, float dl, uint8_t *idx) {
    double e = 0;
    float id = dl != 0 ? 1.0f / dl : 0.0f;
    for (int i = 0; i < n; i++) {
        int k = dl != 0 ? iq4_nearest(x[i] * id) : 8;
        if (idx) idx[i] = (uint8_t)k;
        float y = dl * (float)mlxn_iq4nl_values[k];
        e += ((double)y - x[i]) * ((double)y - x[i]);
    }
    return e;
}

/* Inputs with NaN or +-inf are encoded from a copy where NaN reads as 0 and inf as +-FLT_MAX
 * (so the block saturates at the largest scale); returns x itself when all are finite. */
static const float *finite_copy(const float *x, int n, float *buf) {
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= isfinite(x[i]) != 0;
    if (ok) return x;
    for (int i = 0; i < n; i++) buf[i] = isnan(x[i]) ? 0.0f : isinf(x[i]) ? copysignf(FLT_MAX, x[i]) : x[i];
    return buf;
}
#define SANITIZE(x, n)                                                                             \
    float fin_[n];                                                                                 \
    x = finite_copy(x, n, fin_)

/* ---- 32-element blocks --------------------------------------------------------------- */

static void pack_nibbles(const int *L, uint8_t *qs) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 15) | ((L[j + 16] & 15) << 4));
}
static void pack_qh(const int *L, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 32; j++) h |= (uint32_t)((L[j] >> 4) & 1) << j;
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

/* q0 (Q4_0/Q5_0): one fp16 scale, levels qmin..qmax stored as q - qmin. */
static uint16_t sym_block(const float *x, int qmin, int qmax, int *L) {
    uint16_t dh = fp16_scale(sym_search(x, 32, qmin, qmax));
    sym_err(x, 32, mlxn_fp16_to_f32(dh), qmin, qmax, L);
    for (int j = 0; j < 32; j++) L[j] -= qmin;
    return dh;
}

void mlxn_quant_block_q4_0(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q4_0 *b = blk;
    int L[32];
    b->d = sym_block(x, -8, 7, L);
    pack_nibbles(L, b->qs);
}

void mlxn_quant_block_q5_0(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q5_0 *b = blk;
    int L[32];
    b->d = sym_block(x, -16, 15, L);
    pack_nibbles(L, b->qs);
    pack_qh(L, b->qh);
}

static void affine_block(const float *x, int nmax, uint16_t *dh, uint16_t *mh, int *L) {
    float m, d = affine_search(x, 32, nmax, false, &m);
    *dh = fp16_scale(d);
    *mh = fp16_scale(m);
    float d16 = mlxn_fp16_to_f32(*dh), m16 = mlxn_fp16_to_f32(*mh);
    affine_err(x, 32, d16, -m16, nmax, L);
}

void mlxn_quant_block_q4_1(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q4_1 *b = blk;
    int L[32];
    affine_block(x, 15, &b->d, &b->m, L);
    pack_nibbles(L, b->qs);
}

void mlxn_quant_block_q5_1(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q5_1 *b = blk;
    int L[32];
    affine_block(x, 31, &b->d, &b->m, L);
    pack_nibbles(L, b->qs);
    pack_qh(L, b->qh);
}

/* 8-bit levels are kept in -127..127 (never -128) so SIMD dot products may use sign tricks. */
void mlxn_quant_block_q8_0(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q8_0 *b = blk;
    int L[32];
    b->d = fp16_scale(sym_search(x, 32, -127, 127));
    sym_err(x, 32, mlxn_fp16_to_f32(b->d), -127, 127, L);
    for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)L[j];
}

void mlxn_quant_block_q8_1(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_q8_1 *b = blk;
    int L[32], sum = 0;
    b->d = fp16_scale(sym_search(x, 32, -127, 127));
    float d = mlxn_fp16_to_f32(b->d);
    sym_err(x, 32, d, -127, 127, L);
    for (int j = 0; j < 32; j++) b->qs[j] = (int8_t)L[j], sum += L[j];
    b->s = fp16_scale(d * (float)sum);
}

void mlxn_quant_block_q8_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q8_K *b = blk;
    int L[256];
    b->d = sym_search(x, 256, -127, 127); /* f32 scale: no rounding */
    sym_err(x, 256, b->d, -127, 127, L);
    for (int i = 0; i < 16; i++) {
        int s = 0;
        for (int j = 0; j < 16; j++) b->qs[16 * i + j] = (int8_t)L[16 * i + j], s += L[16 * i + j];
        b->bsums[i] = (int16_t)s;
    }
}

void mlxn_quant_block_iq4_nl(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_iq4_nl *b = blk;
    uint8_t idx[32];
    b->d = fp16_scale(iq4_search(x, 32));
    iq4_err(x, 32, mlxn_fp16_to_f32(b->d), idx);
    for (int j = 0; j < 16; j++) b->qs[j] = (uint8_t)(idx[j] | (idx[j + 16] << 4));
}

/* GGML MXFP4: nearest doubled-E2M1 level for the best of a few exponents around
 * "largest |x| lands in [8, 16)" (the value 12 is the largest level). */
static int mxfp4_nearest(float v) {
    static const float mag[8] = {0, 1, 2, 3, 4, 6, 8, 12};
    float a = fabsf(v);
    int best = 0;
    for (int i = 1; i < 8; i++)
        if (fabsf(a - mag[i]) < fabsf(a - mag[best])) best = i;
    return (v < 0 && best > 0) ? best + 8 : best;
}

void mlxn_quant_block_mxfp4(const float *x, void *blk) {
    SANITIZE(x, 32);
    mlxn_block_mxfp4 *b = blk;
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    int e0 = 0;
    if (amax > 0 && isfinite(amax)) e0 = clampi((int)floorf(log2f(amax)) - 2 + 127, 0, 254);
    double best = DBL_MAX;
    int best_e = e0;
    for (int e = e0 - 1; e <= e0 + 1; e++) {
        if (e < 0 || e > 254) continue;
        float d = mlxn_e8m0_to_f32_half((uint8_t)e);
        double err = 0;
        for (int j = 0; j < 32; j++) {
            float y = d * (float)mlxn_mxfp4_values2[mxfp4_nearest(x[j] / d)];
            err += ((double)y - x[j]) * ((double)y - x[j]);
        }
        if (err < best) best = err, best_e = e;
    }
    b->e = (uint8_t)best_e;
    float d = mlxn_e8m0_to_f32_half(b->e);
    for (int j = 0; j < 16; j++)
        b->qs[j] = (uint8_t)(mxfp4_nearest(x[j] / d) | (mxfp4_nearest(x[j + 16] / d) << 4));
}

/* ---- K-quants ------------------------------------------------------------------------ */

/* Two-level affine (Q2_K, Q4_K, Q5_K): nsub sub-blocks of len elements, levels 0..nmax,
 * integer sub-scales and sub-mins 0..smax. Outputs fp16 d/dmin, sc[], mq[], levels L[]. */
static void ktwo_affine(const float *x, int nsub, int len, int nmax, int smax, uint16_t *dh, uint16_t *dminh,
                        uint8_t *sc, uint8_t *mq, int *L) {
    float fs[16], fm[16], max_s = 0, max_m = 0;
    for (int j = 0; j < nsub; j++) {
        float m;
        fs[j] = affine_search(x + j * len, len, nmax, true, &m);
        fm[j] = -m;
        max_s = fmaxf(max_s, fs[j]);
        max_m = fmaxf(max_m, fm[j]);
    }
    /* Super scales: a few candidates (the largest sub-scale at smax - t), best total error. */
    double best_total = DBL_MAX;
    uint8_t tsc[16], tmq[16];
    for (int t = 0; t < 3; t++) {
        uint16_t cdh = fp16_scale(max_s / ((float)smax - 0.5f * (float)t));
        uint16_t cmh = fp16_scale(max_m / ((float)smax - 0.5f * (float)t));
        float d = mlxn_fp16_to_f32(cdh), dmin = mlxn_fp16_to_f32(cmh);
        double total = 0;
        for (int j = 0; j < nsub; j++) {
            int s0 = d > 0 ? round_clamp(fs[j] / d, 0, smax) : 0;
            int m0 = dmin > 0 ? round_clamp(fm[j] / dmin, 0, smax) : 0;
            double be = DBL_MAX;
            tsc[j] = (uint8_t)s0, tmq[j] = (uint8_t)m0;
            for (int ds = -1; ds <= 1; ds++)
                for (int dm = -1; dm <= 1; dm++) {
                    int s = s0 + ds, mm = m0 + dm;
                    if (s < 0 || s > smax || mm < 0 || mm > smax) continue;
                    float dl = d * (float)s, ml = dmin * (float)mm;
                    double e = affine_err(x + j * len, len, dl, ml, nmax, NULL);
                    if (e < be) be = e, tsc[j] = (uint8_t)s, tmq[j] = (uint8_t)mm;
                }
            total += be;
        }
        if (t == 0 || total < best_total) {
            best_total = total;
            *dh = cdh, *dminh = cmh;
            memcpy(sc, tsc, (size_t)nsub), memcpy(mq, tmq, (size_t)nsub);
        }
    }
    float d = mlxn_fp16_to_f32(*dh), dmin = mlxn_fp16_to_f32(*dminh);
    for (int j = 0; j < nsub; j++)
        affine_err(x + j * len, len, d * (float)sc[j], dmin * (float)mq[j], nmax, L + j * len);
}

/* Two-level symmetric (Q3_K, Q6_K): 16 sub-blocks of 16, levels qmin..qmax, signed integer
 * sub-scales smin..smax. */
static void ktwo_sym(const float *x, int qmin, int qmax, int smin, int smax, uint16_t *dh, int *sc, int *L) {
    float fs[16], big = 0;
    for (int j = 0; j < 16; j++) {
        fs[j] = sym_search(x + 16 * j, 16, qmin, qmax);
        if (fabsf(fs[j]) > fabsf(big)) big = fs[j];
    }
    double best_total = DBL_MAX;
    int tsc[16];
    float cands[4] = {big / (float)smin, big / ((float)smin + 0.5f), big / (float)smax, big / ((float)smax - 0.5f)};
    for (int t = 0; t < 4; t++) {
        uint16_t cdh = fp16_scale(cands[t]);
        float d = mlxn_fp16_to_f32(cdh);
        double total = 0;
        for (int j = 0; j < 16; j++) {
            int s0 = d != 0 ? round_clamp(fs[j] / d, smin, smax) : 0;
            double be = DBL_MAX;
            tsc[j] = s0;
            for (int ds = -1; ds <= 1; ds++) {
                int s = s0 + ds;
                if (s < smin || s > smax) continue;
                double e = sym_err(x + 16 * j, 16, d * (float)s, qmin, qmax, NULL);
                if (e < be) be = e, tsc[j] = s;
            }
            total += be;
        }
        if (t == 0 || total < best_total) {
            best_total = total;
            *dh = cdh;
            memcpy(sc, tsc, sizeof tsc);
        }
    }
    float d = mlxn_fp16_to_f32(*dh);
    for (int j = 0; j < 16; j++) sym_err(x + 16 * j, 16, d * (float)sc[j], qmin, qmax, L + 16 * j);
}

void mlxn_quant_block_q2_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q2_K *b = blk;
    uint8_t sc[16], mq[16];
    int L[256];
    ktwo_affine(x, 16, 16, 3, 15, &b->d, &b->dmin, sc, mq, L);
    for (int i = 0; i < 16; i++) b->scales[i] = (uint8_t)(sc[i] | (mq[i] << 4));
    memset(b->qs, 0, sizeof b->qs);
    for (int e = 0; e < 256; e++) {
        int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        b->qs[32 * n + l] |= (uint8_t)(L[e] << (2 * j));
    }
}

void mlxn_quant_block_q3_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q3_K *b = blk;
    int sc[16], L[256];
    ktwo_sym(x, -4, 3, -32, 31, &b->d, sc, L);
    uint8_t packed[16];
    for (int i = 0; i < 16; i++) packed[i] = (uint8_t)(sc[i] + 32);
    mlxn_pack_scales_q3_K(packed, b->scales);
    memset(b->qs, 0, sizeof b->qs);
    memset(b->hmask, 0, sizeof b->hmask);
    for (int e = 0; e < 256; e++) {
        int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        int v = L[e] + 4; /* 0..7: low 2 bits in qs, bit 2 in hmask */
        b->qs[32 * n + l] |= (uint8_t)((v & 3) << (2 * j));
        b->hmask[e % 32] |= (uint8_t)((v >> 2) << (4 * n + j));
    }
}

void mlxn_quant_block_q4_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q4_K *b = blk;
    uint8_t sc[8], mq[8];
    int L[256];
    ktwo_affine(x, 8, 32, 15, 63, &b->d, &b->dmin, sc, mq, L);
    mlxn_pack_scale_min_k4(sc, mq, b->scales);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) b->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
}

void mlxn_quant_block_q5_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q5_K *b = blk;
    uint8_t sc[8], mq[8];
    int L[256];
    ktwo_affine(x, 8, 32, 31, 63, &b->d, &b->dmin, sc, mq, L);
    mlxn_pack_scale_min_k4(sc, mq, b->scales);
    memset(b->qh, 0, sizeof b->qh);
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            int lo = L[64 * c + l], hi = L[64 * c + 32 + l];
            b->qs[32 * c + l] = (uint8_t)((lo & 15) | ((hi & 15) << 4));
            b->qh[l] |= (uint8_t)(((lo >> 4) << (2 * c)) | ((hi >> 4) << (2 * c + 1)));
        }
}

void mlxn_quant_block_q6_K(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_q6_K *b = blk;
    int sc[16], L[256];
    ktwo_sym(x, -32, 31, -128, 127, &b->d, sc, L);
    for (int i = 0; i < 16; i++) b->scales[i] = (int8_t)sc[i];
    for (int n = 0; n < 2; n++) {
        uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
        const int *v = L + 128 * n;
        for (int l = 0; l < 32; l++) {
            int q0 = v[l] + 32, q1 = v[l + 32] + 32, q2 = v[l + 64] + 32, q3 = v[l + 96] + 32;
            ql[l] = (uint8_t)((q0 & 15) | ((q2 & 15) << 4));
            ql[l + 32] = (uint8_t)((q1 & 15) | ((q3 & 15) << 4));
            qh[l] = (uint8_t)((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6));
        }
    }
}

void mlxn_quant_block_iq4_xs(const float *x, void *blk) {
    SANITIZE(x, 256);
    mlxn_block_iq4_xs *b = blk;
    float fs[8], big = 0;
    for (int ib = 0; ib < 8; ib++) {
        fs[ib] = iq4_search(x + 32 * ib, 32);
        if (fabsf(fs[ib]) > fabsf(big)) big = fs[ib];
    }
    double best_total = DBL_MAX;
    int ls[8], tls[8];
    uint16_t dh = 0;
    float cands[4] = {big / -32.0f, big / -31.5f, big / 31.0f, big / 30.5f};
    for (int t = 0; t < 4; t++) {
        uint16_t cdh = fp16_scale(cands[t]);
        float d = mlxn_fp16_to_f32(cdh);
        double total = 0;
        for (int ib = 0; ib < 8; ib++) {
            int s0 = d != 0 ? round_clamp(fs[ib] / d, -32, 31) : 0;
            double be = DBL_MAX;
            tls[ib] = s0;
            for (int ds = -1; ds <= 1; ds++) {
                int s = s0 + ds;
                if (s < -32 || s > 31) continue;
                double e = iq4_err(x + 32 * ib, 32, d * (float)s, NULL);
                if (e < be) be = e, tls[ib] = s;
            }
            total += be;
        }
        if (t == 0 || total < best_total) best_total = total, dh = cdh, memcpy(ls, tls, sizeof ls);
    }
    b->d = dh;
    float d = mlxn_fp16_to_f32(dh);
    b->scales_h = 0;
    memset(b->scales_l, 0, sizeof b->scales_l);
    for (int ib = 0; ib < 8; ib++) {
        int v = ls[ib] + 32;
        b->scales_l[ib / 2] |= (uint8_t)((v & 15) << (4 * (ib % 2)));
        b->scales_h |= (uint16_t)((v >> 4) << (2 * ib));
        uint8_t idx[32];
        iq4_err(x + 32 * ib, 32, d * (float)ls[ib], idx);
        for (int j = 0; j < 16; j++) b->qs[16 * ib + j] = (uint8_t)(idx[j] | (idx[j + 16] << 4));
    }
}
