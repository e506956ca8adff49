/* MLX quantized weights (SPEC-FORMATS.md "MLX affine quantization"): one row at a time.
 *  - affine: w = scale[g] * q + bias[g], q in 0..2^bits-1, packed as one LSB-first bit stream
 *    of little-endian u32 words; scales/biases f16 or bf16, one per group of 32/64/128. Like
 *    mx.dequantize, the decoded value is rounded to the scale dtype (after the product and
 *    after the sum), so a kernel that keeps scale*q + bias in f32 differs by <= 1 ulp of it.
 *  - mxfp4: w = E2M1[nibble] * 2^(s-127), one u8 exponent per 32 elements, element 2i in the
 *    low nibble and 2i+1 in the high nibble of a byte (so element k sits at bits 4k).
 * The encoders follow mx.quantize's CPU rule step for step so they produce the same words,
 * scales and biases (tests/py/test_mlx_oracle.py checks this against the mlx package). */
#include "core/half.h"
#include "core/status.h"
#include "formats/quants.h"
#include <math.h>
#include <string.h>

static mlxn_status check_params(const char *fn, const mlxn_mlx_quant *q, const void *w, const void *scales,
                                const void *biases, const void *x, int64_t n) {
    if (!q) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: NULL parameters", fn);
    if (q->mode == MLXN_MLX_AFFINE) {
        if (q->bits != 2 && q->bits != 3 && q->bits != 4 && q->bits != 5 && q->bits != 6 && q->bits != 8)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: affine bits %d not in {2,3,4,5,6,8}", fn, q->bits);
        if (q->group_size != 32 && q->group_size != 64 && q->group_size != 128)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: affine group size %d not in {32,64,128}", fn, q->group_size);
        if (q->scale_type != MLXN_TYPE_F16 && q->scale_type != MLXN_TYPE_BF16)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: affine scales of type %s (want f16 or bf16)", fn,
                             mlxn_type_name(q->scale_type));
        if (n > 0 && !biases) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: NULL biases", fn);
    } else if (q->mode == MLXN_MLX_MXFP4) {
        if (q->bits != 4 || q->group_size != 32)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: mxfp4 needs bits 4 and group 32 (got %d, %d)", fn, q->bits,
                             q->group_size);
        if (q->scale_type != MLXN_TYPE_F8_E8M0 && q->scale_type != MLXN_TYPE_U8)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: mxfp4 scales of type %s (want f8_e8m0)", fn,
                             mlxn_type_name(q->scale_type));
    } else {
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: unknown MLX mode %d", fn, (int)q->mode);
    }
    if (n < 0 || n % q->group_size)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: %lld elements is not a multiple of the group size %d", fn, (long long)n,
                         q->group_size);
    if (n > 0 && (!w || !scales || !x)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: NULL buffer", fn);
    return MLXN_OK;
}

static inline float load_scale(const void *p, int64_t i, mlxn_type t) {
    uint16_t h;
    memcpy(&h, (const uint8_t *)p + 2 * i, 2);
    return t == MLXN_TYPE_F16 ? mlxn_fp16_to_f32(h) : mlxn_bf16_to_f32(h);
}
static inline void store_scale(void *p, int64_t i, mlxn_type t, float v) {
    uint16_t h = t == MLXN_TYPE_F16 ? mlxn_f32_to_fp16(v) : mlxn_f32_to_bf16(v);
    memcpy((uint8_t *)p + 2 * i, &h, 2);
}

/* v rounded to the scale dtype (f16 or bf16) and back. mx.dequantize computes in that dtype:
 * round(round(scale * q) + bias); scale * q itself is exact in f32 (<= 19 significant bits). */
static inline float round_to(float v, mlxn_type t) {
    return t == MLXN_TYPE_F16 ? mlxn_fp16_to_f32(mlxn_f32_to_fp16(v)) : mlxn_bf16_to_f32(mlxn_f32_to_bf16(v));
}

mlxn_status mlxn_mlx_dequantize_row(const mlxn_mlx_quant *q, const uint32_t *w, const void *scales,
                                    const void *biases, float *dst, int64_t n) {
    MLXN_TRY(check_params("mlx_dequantize_row", q, w, scales, biases, dst, n));
    int gs = q->group_size;
    if (q->mode == MLXN_MLX_MXFP4) {
        const uint8_t *s = scales;
        for (int64_t g = 0; g < n / gs; g++) {
            float sc = mlxn_mlx_e8m0_to_f32(s[g]);
            for (int k = 0; k < gs; k++) {
                int64_t i = g * gs + k;
                dst[i] = sc * mlxn_fp4_e2m1_values[(w[i >> 3] >> (4 * (i & 7))) & 15];
            }
        }
        return MLXN_OK;
    }
    for (int64_t g = 0; g < n / gs; g++) {
        float sc = load_scale(scales, g, q->scale_type), bi = load_scale(biases, g, q->scale_type);
        for (int k = 0; k < gs; k++) {
            int64_t i = g * gs + k;
            float v = round_to(sc * (float)mlxn_mlx_get_q(w, q->bits, i), q->scale_type);
            dst[i] = round_to(v + bi, q->scale_type);
        }
    }
    return MLXN_OK;
}

/* E2M1 code of v (already divided by the scale), MLX's rounding: nearest, ties toward the
 * smaller magnitude, and a zero code never carries the sign. */
static inline uint32_t mlx_fp4_code(float v) {
    float a = fabsf(v);
    uint32_t c = a > 5.0f ? 7 : a > 3.5f ? 6 : a > 2.5f ? 5 : a > 1.75f ? 4 : a > 1.25f ? 3 : a > 0.75f ? 2 : a > 0.25f ? 1 : 0;
    return (c && signbit(v)) ? c | 8 : c;
}

mlxn_status mlxn_mlx_quantize_row(const mlxn_mlx_quant *q, const float *src, uint32_t *w, void *scales,
                                  void *biases, int64_t n) {
    MLXN_TRY(check_params("mlx_quantize_row", q, w, scales, biases, src, n));
    int gs = q->group_size, bits = q->bits;
    memset(w, 0, (size_t)(n * bits / 32) * 4);
    if (q->mode == MLXN_MLX_MXFP4) {
        uint8_t *s = scales;
        for (int64_t g = 0; g < n / gs; g++) {
            const float *x = src + g * gs;
            float amax = 0;
            for (int k = 0; k < gs; k++) amax = fmaxf(amax, fabsf(x[k]));
            /* e8m0 of amax/6 rounded up: ceil(log2(amax/6)) + 127 (an all-zero group gets 127). */
            uint32_t fb = mlxn_f32_to_bits(amax / 6.0f);
            int e = fb == 0 ? 127 : (int)(fb >> 23) + ((fb & 0x7fffffu) != 0);
            if (e > 254) e = 254;
            s[g] = (uint8_t)e;
            float sc = mlxn_mlx_e8m0_to_f32(s[g]);
            for (int k = 0; k < gs; k++) {
                int64_t i = g * gs + k;
                w[i >> 3] |= mlx_fp4_code(x[k] / sc) << (4 * (i & 7));
            }
        }
        return MLXN_OK;
    }
    /* Affine, mx.quantize's rule: the scale spans [min, max] over 2^bits-1 steps; the edge with
     * the larger magnitude is made exactly representable (q0 = rint(edge/scale) levels away
     * from zero) and becomes the bias. Levels use the f32 scale/bias before they are rounded
     * to the stored dtype. */
    float n_bins = (float)((1 << bits) - 1);
    const float eps = 1e-7f;
    for (int64_t g = 0; g < n / gs; g++) {
        const float *x = src + g * gs;
        float wmin = INFINITY, wmax = -INFINITY;
        for (int k = 0; k < gs; k++) wmax = fmaxf(wmax, x[k]), wmin = fminf(wmin, x[k]);
        int mask = fabsf(wmin) > fabsf(wmax);
        float scale = fmaxf((wmax - wmin) / n_bins, eps);
        scale = mask ? scale : -scale;
        float edge = mask ? wmin : wmax;
        float q0 = rintf(edge / scale);
        float bias = 0;
        if (q0 != 0) {
            scale = edge / q0;
            bias = edge;
        }
        for (int k = 0; k < gs; k++) {
            float v = rintf((x[k] - bias) / scale);
            v = fminf(fmaxf(v, 0.0f), n_bins);
            uint64_t qv = (uint64_t)v;
            uint64_t bit = (uint64_t)(g * gs + k) * (uint64_t)bits;
            uint64_t word = bit >> 5, off = bit & 31;
            w[word] |= (uint32_t)(qv << off);
            if (off + (uint64_t)bits > 32) w[word + 1] |= (uint32_t)(qv >> (32 - off));
        }
        store_scale(scales, g, q->scale_type, scale);
        store_scale(biases, g, q->scale_type, bias);
    }
    return MLXN_OK;
}
