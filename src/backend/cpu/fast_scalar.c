/* The portable fast path: activations quantized to 8 bits (as on the SIMD paths), each
 * weight block decoded to small integers plus per-16-element scale and offset, integer
 * dots per 16 elements. Also the scalar activation quantizers every path may use. */
#include "backend/cpu/fast_impl.h"
#include "core/half.h"
#include <math.h>
#include <string.h>

/* ---- activation quantizers ------------------------------------------------------- */

static float absmax(const float *x, int n) {
    float m = 0.0f;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

void mlxn_fast_quant_q8_32_scalar(const float *x, mlxn_fast_xq32 *out, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        float amax = absmax(x, 32), d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < 32; i++) {
            int q = (int)lrintf(x[i] * id);
            out[b].qs[i] = (int8_t)q;
            sum += q;
        }
        out[b].d = d;
        out[b].s = d * (float)sum;
    }
}

void mlxn_fast_quant_q8_K_scalar(const float *x, mlxn_block_q8_K *out, int64_t k) {
    for (int64_t b = 0; b < k / 256; b++, x += 256) {
        float amax = absmax(x, 256), id = amax > 0.0f ? 127.0f / amax : 0.0f;
        out[b].d = amax / 127.0f;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++) {
                int q = (int)lrintf(x[i] * id);
                out[b].qs[i] = (int8_t)q;
                sum += q;
            }
            out[b].bsums[g] = (int16_t)sum;
        }
    }
}

/* ---- block decoders: element e = a[e/16] * v[e] + b[e/16] -------------------------- */

static const int8_t kvalues_iq4nl[16] = MLXN_IQ4NL_VALUES;
static const int8_t kvalues_mxfp4[16] = MLXN_MXFP4_VALUES2;

/* 32-element blocks: v[32], a[2], b[2] */
static void dec_q4_0(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q4_0 *x = p;
    for (int j = 0; j < 16; j++) { v[j] = (int8_t)((x->qs[j] & 15) - 8); v[j + 16] = (int8_t)((x->qs[j] >> 4) - 8); }
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = 0.0f;
}
static void dec_q4_1(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q4_1 *x = p;
    for (int j = 0; j < 16; j++) { v[j] = (int8_t)(x->qs[j] & 15); v[j + 16] = (int8_t)(x->qs[j] >> 4); }
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = mlxn_fp16_to_f32(x->m);
}
static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void dec_q5_0(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q5_0 *x = p;
    uint32_t h = le32(x->qh);
    for (int j = 0; j < 16; j++) {
        v[j] = (int8_t)(((x->qs[j] & 15) | ((h >> j) & 1) << 4) - 16);
        v[j + 16] = (int8_t)(((x->qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4) - 16);
    }
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = 0.0f;
}
static void dec_q5_1(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q5_1 *x = p;
    uint32_t h = le32(x->qh);
    for (int j = 0; j < 16; j++) {
        v[j] = (int8_t)((x->qs[j] & 15) | ((h >> j) & 1) << 4);
        v[j + 16] = (int8_t)((x->qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4);
    }
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = mlxn_fp16_to_f32(x->m);
}
static void dec_q8_0(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q8_0 *x = p;
    memcpy(v, x->qs, 32);
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = 0.0f;
}
static void dec_q8_1(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q8_1 *x = p;
    memcpy(v, x->qs, 32);
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = 0.0f;
}
static void dec_iq4_nl(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_iq4_nl *x = p;
    for (int j = 0; j < 16; j++) { v[j] = kvalues_iq4nl[x->qs[j] & 15]; v[j + 16] = kvalues_iq4nl[x->qs[j] >> 4]; }
    a[0] = a[1] = mlxn_fp16_to_f32(x->d); b[0] = b[1] = 0.0f;
}
static void dec_mxfp4(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_mxfp4 *x = p;
    for (int j = 0; j < 16; j++) { v[j] = kvalues_mxfp4[x->qs[j] & 15]; v[j + 16] = kvalues_mxfp4[x->qs[j] >> 4]; }
    a[0] = a[1] = 0.5f * mlxn_e8m0_to_f32(x->e); b[0] = b[1] = 0.0f;
}

/* 256-element blocks: v[256], a[16], b[16] */
static void dec_q2_K(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q2_K *x = p;
    float d = mlxn_fp16_to_f32(x->d), dmin = mlxn_fp16_to_f32(x->dmin);
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) v[128 * n + 32 * j + l] = (int8_t)((x->qs[32 * n + l] >> (2 * j)) & 3);
    for (int i = 0; i < 16; i++) { a[i] = d * (float)(x->scales[i] & 15); b[i] = -dmin * (float)(x->scales[i] >> 4); }
}
static void dec_q3_K(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q3_K *x = p;
    float d = mlxn_fp16_to_f32(x->d);
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 4; j++)
            for (int l = 0; l < 32; l++) {
                int q2 = (x->qs[32 * n + l] >> (2 * j)) & 3, hb = (x->hmask[l] >> (4 * n + j)) & 1;
                v[128 * n + 32 * j + l] = (int8_t)(q2 + 4 * hb - 4);
            }
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? x->scales[i] & 15 : x->scales[i - 8] >> 4;
        int hi = (x->scales[8 + i % 4] >> (2 * (i / 4))) & 3;
        a[i] = d * (float)((lo | hi << 4) - 32);
        b[i] = 0.0f;
    }
}
/* The 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K. */
static void k4_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) { *sc = s[j] & 63; *m = s[j + 4] & 63; }
    else { *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}
static void k4_scales(const uint8_t *s, uint16_t d16, uint16_t dmin16, float *a, float *b) {
    float d = mlxn_fp16_to_f32(d16), dmin = mlxn_fp16_to_f32(dmin16);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(s, j, &sc, &m);
        a[2 * j] = a[2 * j + 1] = d * (float)sc;
        b[2 * j] = b[2 * j + 1] = -dmin * (float)m;
    }
}
static void dec_q4_K(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q4_K *x = p;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            v[64 * c + l] = (int8_t)(x->qs[32 * c + l] & 15);
            v[64 * c + 32 + l] = (int8_t)(x->qs[32 * c + l] >> 4);
        }
    k4_scales(x->scales, x->d, x->dmin, a, b);
}
static void dec_q5_K(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q5_K *x = p;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            v[64 * c + l] = (int8_t)((x->qs[32 * c + l] & 15) | ((x->qh[l] >> (2 * c)) & 1) << 4);
            v[64 * c + 32 + l] = (int8_t)((x->qs[32 * c + l] >> 4) | ((x->qh[l] >> (2 * c + 1)) & 1) << 4);
        }
    k4_scales(x->scales, x->d, x->dmin, a, b);
}
static void dec_q6_K(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_q6_K *x = p;
    float d = mlxn_fp16_to_f32(x->d);
    for (int n = 0; n < 2; n++) {
        const uint8_t *ql = x->ql + 64 * n, *qh = x->qh + 32 * n;
        int8_t *o = v + 128 * n;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    }
    for (int i = 0; i < 16; i++) { a[i] = d * (float)x->scales[i]; b[i] = 0.0f; }
}
static void dec_iq4_xs(const void *p, int8_t *v, float *a, float *b) {
    const mlxn_block_iq4_xs *x = p;
    float d = mlxn_fp16_to_f32(x->d);
    for (int ib = 0; ib < 8; ib++) {
        int ls = ((x->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((x->scales_h >> (2 * ib)) & 3) << 4);
        for (int j = 0; j < 16; j++) {
            v[32 * ib + j] = kvalues_iq4nl[x->qs[16 * ib + j] & 15];
            v[32 * ib + j + 16] = kvalues_iq4nl[x->qs[16 * ib + j] >> 4];
        }
        a[2 * ib] = a[2 * ib + 1] = d * (float)(ls - 32);
        b[2 * ib] = b[2 * ib + 1] = 0.0f;
    }
}

/* ---- generic integer dot over decoded blocks ------------------------------------- */

typedef void (*dec_fn)(const void *p, int8_t *v, float *a, float *b);

static inline int idot16(const int8_t *v, const int8_t *q) {
    int s = 0;
    for (int i = 0; i < 16; i++) s += v[i] * q[i];
    return s;
}

static inline __attribute__((always_inline)) void dot32(int64_t k, const void *w, size_t bb, dec_fn dec, const void *x, size_t xs, int nc, float *out) {
    float acc[MLXN_FAST_NC] = {0};
    int8_t v[32];
    float a[2], b[2];
    for (int64_t ib = 0; ib < k / 32; ib++) {
        dec((const uint8_t *)w + ib * bb, v, a, b);
        for (int c = 0; c < nc; c++) {
            const mlxn_fast_xq32 *xb = (const mlxn_fast_xq32 *)((const char *)x + c * xs) + ib;
            /* both halves share a and b in every 32-element format */
            int s = idot16(v, xb->qs) + idot16(v + 16, xb->qs + 16);
            acc[c] += a[0] * xb->d * (float)s + b[0] * xb->s;
        }
    }
    for (int c = 0; c < nc; c++) out[c] = acc[c];
}

static inline __attribute__((always_inline)) void dot256(int64_t k, const void *w, size_t bb, dec_fn dec, const void *x, size_t xs, int nc, float *out) {
    float acc[MLXN_FAST_NC] = {0};
    int8_t v[256];
    float a[16], b[16];
    for (int64_t ib = 0; ib < k / 256; ib++) {
        dec((const uint8_t *)w + ib * bb, v, a, b);
        for (int c = 0; c < nc; c++) {
            const mlxn_block_q8_K *xb = (const mlxn_block_q8_K *)((const char *)x + c * xs) + ib;
            float s = 0.0f;
            for (int g = 0; g < 16; g++)
                s += a[g] * (float)idot16(v + 16 * g, xb->qs + 16 * g) + b[g] * (float)xb->bsums[g];
            acc[c] += xb->d * s;
        }
    }
    for (int c = 0; c < nc; c++) out[c] = acc[c];
}

#define DOT32(name, T)                                                                     \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nc, float *out) { \
        dot32(k, w, sizeof(T), dec_##name, x, xs, nc, out);                                \
    }
#define DOT256(name, T)                                                                    \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nc, float *out) { \
        dot256(k, w, sizeof(T), dec_##name, x, xs, nc, out);                               \
    }
DOT32(q4_0, mlxn_block_q4_0)
DOT32(q4_1, mlxn_block_q4_1)
DOT32(q5_0, mlxn_block_q5_0)
DOT32(q5_1, mlxn_block_q5_1)
DOT32(q8_0, mlxn_block_q8_0)
DOT32(q8_1, mlxn_block_q8_1)
DOT32(iq4_nl, mlxn_block_iq4_nl)
DOT32(mxfp4, mlxn_block_mxfp4)
DOT256(q2_K, mlxn_block_q2_K)
DOT256(q3_K, mlxn_block_q3_K)
DOT256(q4_K, mlxn_block_q4_K)
DOT256(q5_K, mlxn_block_q5_K)
DOT256(q6_K, mlxn_block_q6_K)
DOT256(iq4_xs, mlxn_block_iq4_xs)

/* ---- float weights: f32 dot products, 4 partial sums for some ILP ------------------- */

#define DOTF(name, T, CONV)                                                                \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nc, float *out) { \
        const T *wr = w;                                                                   \
        for (int c = 0; c < nc; c++) {                                                     \
            const float *xr = (const float *)((const char *)x + c * xs);                   \
            float s[4] = {0};                                                              \
            int64_t i = 0;                                                                 \
            for (; i + 4 <= k; i += 4)                                                     \
                for (int t = 0; t < 4; t++) s[t] += CONV(wr[i + t]) * xr[i + t];           \
            for (; i < k; i++) s[0] += CONV(wr[i]) * xr[i];                                \
            out[c] = (s[0] + s[1]) + (s[2] + s[3]);                                        \
        }                                                                                  \
    }
#define ID(v) (v)
DOTF(f32, float, ID)
DOTF(f16, uint16_t, mlxn_fp16_to_f32)
DOTF(bf16, uint16_t, mlxn_bf16_to_f32)

static const mlxn_fast_kernels scalar_kernels = {
    .dot = {
        [MLXN_TYPE_F32] = dot_f32, [MLXN_TYPE_F16] = dot_f16, [MLXN_TYPE_BF16] = dot_bf16,
        [MLXN_TYPE_Q4_0] = dot_q4_0, [MLXN_TYPE_Q4_1] = dot_q4_1, [MLXN_TYPE_Q5_0] = dot_q5_0,
        [MLXN_TYPE_Q5_1] = dot_q5_1, [MLXN_TYPE_Q8_0] = dot_q8_0, [MLXN_TYPE_Q8_1] = dot_q8_1,
        [MLXN_TYPE_IQ4_NL] = dot_iq4_nl, [MLXN_TYPE_MXFP4] = dot_mxfp4,
        [MLXN_TYPE_Q2_K] = dot_q2_K, [MLXN_TYPE_Q3_K] = dot_q3_K, [MLXN_TYPE_Q4_K] = dot_q4_K,
        [MLXN_TYPE_Q5_K] = dot_q5_K, [MLXN_TYPE_Q6_K] = dot_q6_K, [MLXN_TYPE_IQ4_XS] = dot_iq4_xs,
    },
    .quant_q8_32 = mlxn_fast_quant_q8_32_scalar,
    .quant_q8_K = mlxn_fast_quant_q8_K_scalar,
};

const mlxn_fast_kernels *mlxn_fast_kernels_scalar(void) { return &scalar_kernels; }

int mlxn_fast_act_of(mlxn_type type) {
    switch (type) {
    case MLXN_TYPE_F32: case MLXN_TYPE_F16: case MLXN_TYPE_BF16: return MLXN_FAST_ACT_F32;
    case MLXN_TYPE_Q4_0: case MLXN_TYPE_Q4_1: case MLXN_TYPE_Q5_0: case MLXN_TYPE_Q5_1:
    case MLXN_TYPE_Q8_0: case MLXN_TYPE_Q8_1: case MLXN_TYPE_IQ4_NL: case MLXN_TYPE_MXFP4:
        return MLXN_FAST_ACT_Q8_32;
    case MLXN_TYPE_Q2_K: case MLXN_TYPE_Q3_K: case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K:
    case MLXN_TYPE_Q6_K: case MLXN_TYPE_IQ4_XS:
        return MLXN_FAST_ACT_Q8_K;
    default: return -1;
    }
}
