/* Block decoders for every GGML type mlxn reads (SPEC-FORMATS.md), the row-level
 * mlxn_dequantize_row / mlxn_quantize_row entry points, and the plain-type conversions.
 * The encoders (scale searches) are in quants_search.c. */
#include "formats/quants.h"
#include "core/half.h"
#include "core/status.h"
#include <math.h>
#include <string.h>

const int8_t mlxn_iq4nl_values[16] = MLXN_IQ4NL_VALUES;
const int8_t mlxn_mxfp4_values2[16] = MLXN_MXFP4_VALUES2;
const float mlxn_fp4_e2m1_values[16] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f,
                                        -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f, -4.0f, -6.0f};

/* ---- packed scales ------------------------------------------------------------------ */

void mlxn_pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t s[12]) {
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

void mlxn_unpack_scales_q3_K(const uint8_t s[12], int8_t out[16]) {
    for (int i = 0; i < 16; i++) {
        int lo = i < 8 ? (s[i] & 15) : (s[i - 8] >> 4);
        int hi = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        out[i] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

void mlxn_pack_scales_q3_K(const uint8_t in[16], uint8_t s[12]) {
    memset(s, 0, 12);
    for (int i = 0; i < 16; i++) {
        int v = in[i] & 63;
        if (i < 8) s[i] |= (uint8_t)(v & 15);
        else s[i - 8] |= (uint8_t)((v & 15) << 4);
        s[8 + i % 4] |= (uint8_t)((v >> 4) << (2 * (i / 4)));
    }
}

/* ---- one-block decoders --------------------------------------------------------------
 * Each multiplies in f32 in the reference's order: (d * small_int_scale) * q - (dmin * m). */

void mlxn_dequant_block_q4_0(const void *blk, float *y) {
    const mlxn_block_q4_0 *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)((b->qs[j] & 15) - 8);
        y[j + 16] = d * (float)((b->qs[j] >> 4) - 8);
    }
}

void mlxn_dequant_block_q4_1(const void *blk, float *y) {
    const mlxn_block_q4_1 *b = blk;
    float d = mlxn_fp16_to_f32(b->d), m = mlxn_fp16_to_f32(b->m);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(b->qs[j] & 15) + m;
        y[j + 16] = d * (float)(b->qs[j] >> 4) + m;
    }
}

static inline uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void mlxn_dequant_block_q5_0(const void *blk, float *y) {
    const mlxn_block_q5_0 *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    uint32_t h = le32(b->qh);
    for (int j = 0; j < 16; j++) {
        int q0 = (b->qs[j] & 15) | (int)(((h >> j) & 1) << 4);
        int q1 = (b->qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
        y[j] = d * (float)(q0 - 16);
        y[j + 16] = d * (float)(q1 - 16);
    }
}

void mlxn_dequant_block_q5_1(const void *blk, float *y) {
    const mlxn_block_q5_1 *b = blk;
    float d = mlxn_fp16_to_f32(b->d), m = mlxn_fp16_to_f32(b->m);
    uint32_t h = le32(b->qh);
    for (int j = 0; j < 16; j++) {
        int q0 = (b->qs[j] & 15) | (int)(((h >> j) & 1) << 4);
        int q1 = (b->qs[j] >> 4) | (int)(((h >> (j + 16)) & 1) << 4);
        y[j] = d * (float)q0 + m;
        y[j + 16] = d * (float)q1 + m;
    }
}

void mlxn_dequant_block_q8_0(const void *blk, float *y) {
    const mlxn_block_q8_0 *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int j = 0; j < 32; j++) y[j] = (float)b->qs[j] * d;
}

void mlxn_dequant_block_q8_1(const void *blk, float *y) {
    const mlxn_block_q8_1 *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int j = 0; j < 32; j++) y[j] = (float)b->qs[j] * d;
}

void mlxn_dequant_block_q2_K(const void *blk, float *y) {
    const mlxn_block_q2_K *b = blk;
    float d = mlxn_fp16_to_f32(b->d), dmin = mlxn_fp16_to_f32(b->dmin);
    for (int e = 0; e < 256; e++) {
        int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        int q = (b->qs[32 * n + l] >> (2 * j)) & 3;
        uint8_t sc = b->scales[e / 16];
        float dl = d * (float)(sc & 15), ml = dmin * (float)(sc >> 4);
        y[e] = dl * (float)q - ml;
    }
}

void mlxn_dequant_block_q3_K(const void *blk, float *y) {
    const mlxn_block_q3_K *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    int8_t sc[16];
    mlxn_unpack_scales_q3_K(b->scales, sc);
    for (int e = 0; e < 256; e++) {
        int n = e / 128, r = e % 128, j = r / 32, l = r % 32;
        int q2 = (b->qs[32 * n + l] >> (2 * j)) & 3;
        int hb = (b->hmask[e % 32] >> (4 * n + j)) & 1;
        float dl = d * (float)sc[e / 16];
        y[e] = dl * (float)(q2 - (hb ? 0 : 4));
    }
}

void mlxn_dequant_block_q4_K(const void *blk, float *y) {
    const mlxn_block_q4_K *b = blk;
    float d = mlxn_fp16_to_f32(b->d), dmin = mlxn_fp16_to_f32(b->dmin);
    for (int c = 0; c < 4; c++) {
        uint8_t sc0, m0, sc1, m1;
        mlxn_get_scale_min_k4(2 * c, b->scales, &sc0, &m0);
        mlxn_get_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            y[64 * c + l] = d0 * (float)(b->qs[32 * c + l] & 15) - mm0;
            y[64 * c + 32 + l] = d1 * (float)(b->qs[32 * c + l] >> 4) - mm1;
        }
    }
}

void mlxn_dequant_block_q5_K(const void *blk, float *y) {
    const mlxn_block_q5_K *b = blk;
    float d = mlxn_fp16_to_f32(b->d), dmin = mlxn_fp16_to_f32(b->dmin);
    for (int c = 0; c < 4; c++) {
        uint8_t sc0, m0, sc1, m1;
        mlxn_get_scale_min_k4(2 * c, b->scales, &sc0, &m0);
        mlxn_get_scale_min_k4(2 * c + 1, b->scales, &sc1, &m1);
        float d0 = d * (float)sc0, mm0 = dmin * (float)m0;
        float d1 = d * (float)sc1, mm1 = dmin * (float)m1;
        for (int l = 0; l < 32; l++) {
            int lo = (b->qs[32 * c + l] & 15) + (((b->qh[l] >> (2 * c)) & 1) << 4);
            int hi = (b->qs[32 * c + l] >> 4) + (((b->qh[l] >> (2 * c + 1)) & 1) << 4);
            y[64 * c + l] = d0 * (float)lo - mm0;
            y[64 * c + 32 + l] = d1 * (float)hi - mm1;
        }
    }
}

void mlxn_dequant_block_q6_K(const void *blk, float *y) {
    const mlxn_block_q6_K *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int n = 0; n < 2; n++) {
        const uint8_t *ql = b->ql + 64 * n, *qh = b->qh + 32 * n;
        float *out = y + 128 * n;
        const int8_t *sc = b->scales + 8 * n;
        for (int l = 0; l < 32; l++) {
            int q[4] = {(ql[l] & 15) | ((qh[l] & 3) << 4), (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4),
                        (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4), (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)};
            for (int k = 0; k < 4; k++) {
                int e = l + 32 * k;
                float dl = d * (float)sc[e / 16];
                out[e] = dl * (float)(q[k] - 32);
            }
        }
    }
}

void mlxn_dequant_block_q8_K(const void *blk, float *y) {
    const mlxn_block_q8_K *b = blk;
    for (int j = 0; j < 256; j++) y[j] = b->d * (float)b->qs[j];
}

void mlxn_dequant_block_iq4_nl(const void *blk, float *y) {
    const mlxn_block_iq4_nl *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)mlxn_iq4nl_values[b->qs[j] & 15];
        y[j + 16] = d * (float)mlxn_iq4nl_values[b->qs[j] >> 4];
    }
}

void mlxn_dequant_block_iq4_xs(const void *blk, float *y) {
    const mlxn_block_iq4_xs *b = blk;
    float d = mlxn_fp16_to_f32(b->d);
    for (int ib = 0; ib < 8; ib++) {
        float dl = d * (float)mlxn_iq4_xs_scale(b, ib);
        const uint8_t *qs = b->qs + 16 * ib;
        for (int j = 0; j < 16; j++) {
            y[32 * ib + j] = dl * (float)mlxn_iq4nl_values[qs[j] & 15];
            y[32 * ib + j + 16] = dl * (float)mlxn_iq4nl_values[qs[j] >> 4];
        }
    }
}

void mlxn_dequant_block_mxfp4(const void *blk, float *y) {
    const mlxn_block_mxfp4 *b = blk;
    float d = mlxn_e8m0_to_f32_half(b->e);
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)mlxn_mxfp4_values2[b->qs[j] & 15];
        y[j + 16] = d * (float)mlxn_mxfp4_values2[b->qs[j] >> 4];
    }
}

mlxn_dequant_block_fn mlxn_get_dequant_block(mlxn_type t) {
    switch (t) {
    case MLXN_TYPE_Q4_0: return mlxn_dequant_block_q4_0;
    case MLXN_TYPE_Q4_1: return mlxn_dequant_block_q4_1;
    case MLXN_TYPE_Q5_0: return mlxn_dequant_block_q5_0;
    case MLXN_TYPE_Q5_1: return mlxn_dequant_block_q5_1;
    case MLXN_TYPE_Q8_0: return mlxn_dequant_block_q8_0;
    case MLXN_TYPE_Q8_1: return mlxn_dequant_block_q8_1;
    case MLXN_TYPE_Q2_K: return mlxn_dequant_block_q2_K;
    case MLXN_TYPE_Q3_K: return mlxn_dequant_block_q3_K;
    case MLXN_TYPE_Q4_K: return mlxn_dequant_block_q4_K;
    case MLXN_TYPE_Q5_K: return mlxn_dequant_block_q5_K;
    case MLXN_TYPE_Q6_K: return mlxn_dequant_block_q6_K;
    case MLXN_TYPE_Q8_K: return mlxn_dequant_block_q8_K;
    case MLXN_TYPE_IQ4_NL: return mlxn_dequant_block_iq4_nl;
    case MLXN_TYPE_IQ4_XS: return mlxn_dequant_block_iq4_xs;
    case MLXN_TYPE_MXFP4: return mlxn_dequant_block_mxfp4;
    default: return NULL;
    }
}

mlxn_quant_block_fn mlxn_get_quant_block(mlxn_type t) {
    switch (t) {
    case MLXN_TYPE_Q4_0: return mlxn_quant_block_q4_0;
    case MLXN_TYPE_Q4_1: return mlxn_quant_block_q4_1;
    case MLXN_TYPE_Q5_0: return mlxn_quant_block_q5_0;
    case MLXN_TYPE_Q5_1: return mlxn_quant_block_q5_1;
    case MLXN_TYPE_Q8_0: return mlxn_quant_block_q8_0;
    case MLXN_TYPE_Q8_1: return mlxn_quant_block_q8_1;
    case MLXN_TYPE_Q2_K: return mlxn_quant_block_q2_K;
    case MLXN_TYPE_Q3_K: return mlxn_quant_block_q3_K;
    case MLXN_TYPE_Q4_K: return mlxn_quant_block_q4_K;
    case MLXN_TYPE_Q5_K: return mlxn_quant_block_q5_K;
    case MLXN_TYPE_Q6_K: return mlxn_quant_block_q6_K;
    case MLXN_TYPE_Q8_K: return mlxn_quant_block_q8_K;
    case MLXN_TYPE_IQ4_NL: return mlxn_quant_block_iq4_nl;
    case MLXN_TYPE_IQ4_XS: return mlxn_quant_block_iq4_xs;
    case MLXN_TYPE_MXFP4: return mlxn_quant_block_mxfp4;
    default: return NULL;
    }
}

/* ---- row API ------------------------------------------------------------------------ */

/* Checks the common arguments; returns the traits through *out. */
static mlxn_status check_row(const char *fn, mlxn_type type, const void *a, const void *b, int64_t n,
                             const mlxn_type_traits **out) {
    const mlxn_type_traits *tt = mlxn_type_info(type);
    if (!tt) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: unknown type id %d", fn, (int)type);
    if (n < 0) return mlxn_fail(MLXN_ERR_SHAPE, "%s: negative element count %lld", fn, (long long)n);
    if (n % tt->block_elems)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: %lld elements is not a multiple of %s's block of %lld", fn,
                         (long long)n, tt->name, (long long)tt->block_elems);
    if (n > 0 && (!a || !b)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    *out = tt;
    return MLXN_OK;
}

mlxn_status mlxn_dequantize_row(mlxn_type type, const void *src, float *dst, int64_t n) {
    const mlxn_type_traits *tt;
    MLXN_TRY(check_row("dequantize_row", type, src, dst, n, &tt));
    const uint8_t *p = src;
    mlxn_dequant_block_fn fn = mlxn_get_dequant_block(type);
    if (fn) {
        for (int64_t i = 0; i < n / tt->block_elems; i++)
            fn(p + (size_t)i * tt->block_bytes, dst + i * tt->block_elems);
        return MLXN_OK;
    }
    /* Plain types: read element i at p + i*size through memcpy (src may be unaligned). */
#define PLAIN_LOOP(T, expr)                                                                     \
    for (int64_t i = 0; i < n; i++) {                                                           \
        T v;                                                                                    \
        memcpy(&v, p + (size_t)i * sizeof(T), sizeof(T));                                       \
        dst[i] = (expr);                                                                        \
    }                                                                                           \
    return MLXN_OK
    switch (type) {
    case MLXN_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return MLXN_OK;
    case MLXN_TYPE_F16: PLAIN_LOOP(uint16_t, mlxn_fp16_to_f32(v));
    case MLXN_TYPE_BF16: PLAIN_LOOP(uint16_t, mlxn_bf16_to_f32(v));
    case MLXN_TYPE_F64: PLAIN_LOOP(double, (float)v);
    case MLXN_TYPE_I8: PLAIN_LOOP(int8_t, (float)v);
    case MLXN_TYPE_I16: PLAIN_LOOP(int16_t, (float)v);
    case MLXN_TYPE_I32: PLAIN_LOOP(int32_t, (float)v);
    case MLXN_TYPE_I64: PLAIN_LOOP(int64_t, (float)v);
    case MLXN_TYPE_U8: PLAIN_LOOP(uint8_t, (float)v);
    case MLXN_TYPE_U16: PLAIN_LOOP(uint16_t, (float)v);
    case MLXN_TYPE_U32: PLAIN_LOOP(uint32_t, (float)v);
    case MLXN_TYPE_U64: PLAIN_LOOP(uint64_t, (float)v);
    case MLXN_TYPE_BOOL: PLAIN_LOOP(uint8_t, v ? 1.0f : 0.0f);
    case MLXN_TYPE_F8_E4M3: PLAIN_LOOP(uint8_t, mlxn_e4m3_to_f32(v));
    case MLXN_TYPE_F8_E5M2: PLAIN_LOOP(uint8_t, mlxn_e5m2_to_f32(v));
    case MLXN_TYPE_F8_E8M0: PLAIN_LOOP(uint8_t, mlxn_e8m0_to_f32(v));
    default: break;
    }
#undef PLAIN_LOOP
    if (type >= MLXN_TYPE_MLX_Q2 && type <= MLXN_TYPE_MLX_MXFP4)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED,
                         "dequantize_row: %s words need their scales; use mlxn_mlx_dequantize_row", tt->name);
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "dequantize_row: no decoder for type %s", tt->name);
}

mlxn_status mlxn_quantize_row(mlxn_type type, const float *src, void *dst, int64_t n) {
    const mlxn_type_traits *tt;
    MLXN_TRY(check_row("quantize_row", type, src, dst, n, &tt));
    uint8_t *p = dst;
    mlxn_quant_block_fn fn = mlxn_get_quant_block(type);
    if (fn) {
        for (int64_t i = 0; i < n / tt->block_elems; i++)
            fn(src + i * tt->block_elems, p + (size_t)i * tt->block_bytes);
        return MLXN_OK;
    }
    switch (type) {
    case MLXN_TYPE_F32: memcpy(dst, src, (size_t)n * 4); return MLXN_OK;
    case MLXN_TYPE_F16:
    case MLXN_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = type == MLXN_TYPE_F16 ? mlxn_f32_to_fp16(src[i]) : mlxn_f32_to_bf16(src[i]);
            memcpy(p + 2 * i, &h, 2);
        }
        return MLXN_OK;
    default: break;
    }
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "quantize_row: no encoder for type %s", tt->name);
}
