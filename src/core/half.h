/* IEEE binary16 and bfloat16 <-> f32 conversions (round to nearest even), usable from C
 * and CUDA host code. FP8 E4M3/E5M2/E8M0 decoders for safetensors and MLX scales. */
#ifndef MLXN_CORE_HALF_H
#define MLXN_CORE_HALF_H
#include <stdint.h>
#include <string.h>

static inline float mlxn_bits_to_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t mlxn_f32_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float mlxn_fp16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {
        if (man == 0) return mlxn_bits_to_f32(sign);
        /* subnormal: value = man * 2^-24 */
        float v = (float)man * (1.0f / 16777216.0f);
        return sign ? -v : v;
    }
    if (exp == 31) return mlxn_bits_to_f32(sign | 0x7f800000u | (man << 13));
    return mlxn_bits_to_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t mlxn_f32_to_fp16(float f) {
    uint32_t x = mlxn_f32_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) {                                   /* below 2^-14: subnormal or zero */
        /* value / 2^-24, round to nearest even */
        float v = mlxn_bits_to_f32(ax) * 16777216.0f;
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t e = ((ax >> 23) - 112) << 10;
    uint32_t m = (ax >> 13) & 0x3ff;
    uint32_t rest = ax & 0x1fff;
    uint32_t h = e | m;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float mlxn_bf16_to_f32(uint16_t b) { return mlxn_bits_to_f32((uint32_t)b << 16); }

static inline uint16_t mlxn_f32_to_bf16(float f) {
    uint32_t x = mlxn_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40); /* quiet nan */
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* FP8 E4M3 (fn: no inf, 0x7f/0xff nan), bias 7. */
static inline float mlxn_e4m3_to_f32(uint8_t v) {
    int s = v >> 7, e = (v >> 3) & 15, m = v & 7;
    float r;
    if (e == 15 && m == 7) r = __builtin_nanf("");
    else if (e == 0) r = (float)m * (1.0f / 512.0f);          /* m/8 * 2^-6 */
    else r = (1.0f + (float)m / 8.0f) * mlxn_bits_to_f32((uint32_t)(e - 7 + 127) << 23);
    return s ? -r : r;
}
/* FP8 E5M2: the top byte of an fp16. */
static inline float mlxn_e5m2_to_f32(uint8_t v) { return mlxn_fp16_to_f32((uint16_t)((uint16_t)v << 8)); }
/* E8M0: a power of two 2^(v-127); 0xff is nan. */
static inline float mlxn_e8m0_to_f32(uint8_t v) {
    if (v == 0xff) return __builtin_nanf("");
    if (v == 0) return mlxn_bits_to_f32(0x00400000u); /* 2^-127 is subnormal */
    return mlxn_bits_to_f32((uint32_t)v << 23);
}
#endif
