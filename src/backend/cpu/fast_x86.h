/* The x86 kernels, written once on 256-bit vectors and compiled twice: by fast_avx2.c
 * (AVX2+FMA+F16C: u8*s8 products through maddubs+madd) and by fast_avx512.c (AVX-512
 * VL/BW + VNNI: vpdpbusd on ymm registers). The includer sets the target pragma and
 * defines FX_VNNI (0/1) and FX_TABLE (the name of the exported table getter).
 *
 * Every quantized kernel works on integer weight values against the 8-bit activations:
 * per block (or sub-block) an exact int32 dot, then one float FMA with the product of
 * the scales. Signed weights use |w| * sign(x, w) so the u8*s8 instructions apply. */
#include "backend/cpu/fast_impl.h"
#include "core/half.h"
#include <immintrin.h>

#define FX_INLINE static inline __attribute__((always_inline))
/* Software prefetch distance for the weight stream (bytes ahead of the current block):
 * a single core does not reach DRAM bandwidth on hardware prefetch alone. */
#ifndef FX_PF_DIST
#define FX_PF_DIST 2048
#endif

/* ---- primitives ----------------------------------------------------------------- */

FX_INLINE float fx_h2f(uint16_t h) { return _cvtsh_ss(h); }

/* acc (8 x i32) += sums of 4 adjacent u8*s8 products. u must be <= 128 on AVX2 (the
 * int16 pair sums of maddubs must not saturate); any u8 with VNNI. */
FX_INLINE __m256i fx_dpbusd(__m256i acc, __m256i u, __m256i s) {
#if FX_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}
/* Signed weights w in [-128, 127]: |w| * sign(s, w). */
FX_INLINE __m256i fx_dpbssd(__m256i acc, __m256i w, __m256i s) {
    return fx_dpbusd(acc, _mm256_abs_epi8(w), _mm256_sign_epi8(s, w));
}
/* 16 x i16 pair sums of u8*s8 (u <= 63 keeps them far from saturation), multiplied by the
 * i16 scales in sc and pair-summed again: 8 x i32. */
FX_INLINE __m256i fx_scaled_dot(__m256i u, __m256i s, __m256i sc) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc);
}

FX_INLINE float fx_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
FX_INLINE int fx_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
FX_INLINE float fx_hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles (elements 0..15), then high (16..31). */
FX_INLINE __m256i fx_nib32(const uint8_t *qs) {
    __m128i b = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(b, 4), b), _mm256_set1_epi8(15));
}
/* 32 bits -> 32 bytes: byte j = 0xff if bit j of h is set. */
FX_INLINE __m256i fx_bits32(uint32_t h) {
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)h), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}
FX_INLINE uint32_t fx_le32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* From s16 = 16 i16 scales of a K-quant block (lanes 0..7 in the low 128 bits): the scale
 * vector for elements 32t..32t+31 of half n (sub-blocks 8n+2t, 8n+2t+1), 16 lanes each. */
FX_INLINE __m256i fx_pair_scales(__m256i s16, int n, int t) {
    __m256i h = n ? _mm256_permute2x128_si256(s16, s16, 0x11) : _mm256_permute2x128_si256(s16, s16, 0x00);
    short lo = (short)((4 * t) | (4 * t + 1) << 8), hi = (short)((4 * t + 2) | (4 * t + 3) << 8);
    return _mm256_shuffle_epi8(h, _mm256_set_m128i(_mm_set1_epi16(hi), _mm_set1_epi16(lo)));
}

#define FX_XQ32(x, xs, c, i) ((const mlxn_fast_xq32 *)((const char *)(x) + (size_t)(c) * (xs)) + (i))
#define FX_XQK(x, xs, c, i) ((const mlxn_block_q8_K *)((const char *)(x) + (size_t)(c) * (xs)) + (i))
#define FX_LOAD(p) _mm256_loadu_si256((const __m256i *)(p))

/* Stamps out the exported kernel for nc = 1..4 from an always-inline body, so each
 * column count gets its own register allocation. */
#define FX_DOT(name)                                                                       \
    static void dot_##name(int64_t k, const void *w, const void *x, size_t xs, int nc, float *out) { \
        switch (nc) {                                                                      \
        case 1: name##_body(k, w, x, xs, 1, out); break;                                   \
        case 2: name##_body(k, w, x, xs, 2, out); break;                                   \
        case 3: name##_body(k, w, x, xs, 3, out); break;                                   \
        default: name##_body(k, w, x, xs, 4, out); break;                                  \
        }                                                                                  \
    }

/* ---- 32-element block formats --------------------------------------------------- */

/* The loop shared by the 32-element formats. NAME##_step(blk, x, xs, i, nc, acc, accm)
 * adds block i's contribution for each column to acc[c] (8 lanes) and accm[c] (a scalar
 * term, scaled by MSCALE at the end). Two accumulator sets alternate between even and
 * odd blocks: with one, the FMA latency (4 cycles) bounds the loop at one block per 4. */
#define FX_KERNEL32(name, T, MSCALE)                                                       \
    FX_INLINE void name##_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) { \
        const T *bl = w;                                                                   \
        __m256 a0[MLXN_FAST_NC], a1[MLXN_FAST_NC];                                         \
        float m0[MLXN_FAST_NC], m1[MLXN_FAST_NC];                                          \
        for (int c = 0; c < nc; c++) {                                                     \
            a0[c] = a1[c] = _mm256_setzero_ps();                                           \
            m0[c] = m1[c] = 0.0f;                                                          \
        }                                                                                  \
        const int64_t nb = k / 32;                                                         \
        int64_t i = 0;                                                                     \
        for (; i + 2 <= nb; i += 2) {                                                      \
            _mm_prefetch((const char *)(bl + i) + FX_PF_DIST, _MM_HINT_T0);                \
            name##_step(bl + i, x, xs, i, nc, a0, m0);                                     \
            name##_step(bl + i + 1, x, xs, i + 1, nc, a1, m1);                             \
        }                                                                                  \
        if (i < nb) name##_step(bl + i, x, xs, i, nc, a0, m0);                             \
        for (int c = 0; c < nc; c++)                                                       \
            out[c] = fx_hsum_ps(_mm256_add_ps(a0[c], a1[c])) + (float)(MSCALE) * (m0[c] + m1[c]); \
    }                                                                                      \
    FX_DOT(name)

/* Symmetric formats: signed integer weights (WEXPR, using blk) times d (DEXPR). */
#define FX_SYM32(name, T, WEXPR, DEXPR)                                                    \
    FX_INLINE void name##_step(const T *blk, const void *x, size_t xs, int64_t i, const int nc, \
                               __m256 *acc, float *accm) {                                 \
        (void)accm;                                                                        \
        __m256i wv = WEXPR;                                                                \
        float dw = DEXPR;                                                                  \
        for (int c = 0; c < nc; c++) {                                                     \
            const mlxn_fast_xq32 *xb = FX_XQ32(x, xs, c, i);                               \
            __m256i p = fx_dpbssd(_mm256_setzero_si256(), wv, FX_LOAD(xb->qs));            \
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * xb->d), acc[c]); \
        }                                                                                  \
    }                                                                                      \
    FX_KERNEL32(name, T, 0)

/* Unsigned weights u (UEXPR) times d plus a scalar per-block term MEXPR * s_x: formats
 * with a min (w = d*u + m: MEXPR = m, MSCALE = 1) and, with VNNI, offset formats
 * (w = d*(u - OFF): MEXPR = d, MSCALE = -OFF). */
#define FX_UNS32(name, T, UEXPR, MEXPR, MSCALE)                                            \
    FX_INLINE void name##_step(const T *blk, const void *x, size_t xs, int64_t i, const int nc, \
                               __m256 *acc, float *accm) {                                 \
        __m256i uv = UEXPR;                                                                \
        float dw = fx_h2f(blk->d), mw = MEXPR;                                             \
        for (int c = 0; c < nc; c++) {                                                     \
            const mlxn_fast_xq32 *xb = FX_XQ32(x, xs, c, i);                               \
            __m256i p = fx_dpbusd(_mm256_setzero_si256(), uv, FX_LOAD(xb->qs));            \
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(dw * xb->d), acc[c]); \
            accm[c] += mw * xb->s;                                                         \
        }                                                                                  \
    }                                                                                      \
    FX_KERNEL32(name, T, MSCALE)

#define FX_MIN32(name, T, UEXPR) FX_UNS32(name, T, UEXPR, fx_h2f(blk->m), 1)
#if FX_VNNI
#define FX_OFF32(name, T, UEXPR, OFF) FX_UNS32(name, T, UEXPR, dw, -(OFF))
#else
#define FX_OFF32(name, T, UEXPR, OFF) \
    FX_SYM32(name, T, _mm256_sub_epi8(UEXPR, _mm256_set1_epi8(OFF)), fx_h2f(blk->d))
#endif

#define FX_Q5HI(blk) _mm256_and_si256(fx_bits32(fx_le32((blk)->qh)), _mm256_set1_epi8(16))
#define FX_TBL(vals) _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(vals)))
static const int8_t fx_iq4nl_vals[16] = MLXN_IQ4NL_VALUES;
static const int8_t fx_mxfp4_vals[16] = MLXN_MXFP4_VALUES2;

FX_OFF32(q4_0, mlxn_block_q4_0, fx_nib32(blk->qs), 8)
FX_OFF32(q5_0, mlxn_block_q5_0, _mm256_or_si256(fx_nib32(blk->qs), FX_Q5HI(blk)), 16)
FX_SYM32(q8_0, mlxn_block_q8_0, FX_LOAD(blk->qs), fx_h2f(blk->d))
FX_SYM32(q8_1, mlxn_block_q8_1, FX_LOAD(blk->qs), fx_h2f(blk->d))
FX_SYM32(iq4_nl, mlxn_block_iq4_nl, _mm256_shuffle_epi8(FX_TBL(fx_iq4nl_vals), fx_nib32(blk->qs)),
         fx_h2f(blk->d))
FX_SYM32(mxfp4, mlxn_block_mxfp4, _mm256_shuffle_epi8(FX_TBL(fx_mxfp4_vals), fx_nib32(blk->qs)),
         0.5f * mlxn_e8m0_to_f32(blk->e))
FX_MIN32(q4_1, mlxn_block_q4_1, fx_nib32(blk->qs))
FX_MIN32(q5_1, mlxn_block_q5_1, _mm256_or_si256(fx_nib32(blk->qs), FX_Q5HI(blk)))

/* ---- K-quants (256-element blocks, Q8_K activations) ------------------------------ */

/* Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scale and min. */
FX_INLINE void fx_k4_scales(const uint8_t *s, uint8_t *sc, uint8_t *m) {
    /* bytewise on three u32 words: sc[0..3] = s[0..3] & 63, m[0..3] = s[4..7] & 63,
     * sc[4..7] = (s[8..11] & 15) | (s[0..3] >> 6) << 4, m[4..7] = (s[8..11] >> 4) | (s[4..7] >> 6) << 4 */
    uint32_t a0 = fx_le32(s), a1 = fx_le32(s + 4), a2 = fx_le32(s + 8);
    uint32_t v[4] = {a0 & 0x3f3f3f3fu, (a2 & 0x0f0f0f0fu) | ((a0 >> 2) & 0x30303030u),
                     a1 & 0x3f3f3f3fu, ((a2 >> 4) & 0x0f0f0f0fu) | ((a1 >> 2) & 0x30303030u)};
    memcpy(sc, v, 8);
    memcpy(m, v + 2, 8);
}
/* mins m[0..7] -> 16 i16 lanes (lane i = m[i/2]) to dot with the 16 bsums */
FX_INLINE __m256i fx_k4_mins16(const uint8_t *m) {
    __m128i v = _mm_loadl_epi64((const __m128i *)m);
    v = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    return _mm256_cvtepu8_epi16(v);
}

#define FX_K4(name, T, HAS_QH)                                                             \
    FX_INLINE void name##_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) { \
        const T *bl = w;                                                                   \
        const __m256i m4 = _mm256_set1_epi8(15);                                           \
        __m256 acc[MLXN_FAST_NC];                                                          \
        for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();                         \
        for (int64_t i = 0; i < k / 256; i++) {                                            \
            const T *blk = bl + i;                                                         \
            uint8_t sc[8], mn[8];                                                          \
            fx_k4_scales(blk->scales, sc, mn);                                             \
            __m256i sumi[MLXN_FAST_NC];                                                    \
            for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();                 \
            __m256i hv = HAS_QH ? FX_LOAD(((const mlxn_block_q5_K *)(const void *)blk)->qh) \
                                : _mm256_setzero_si256();                                  \
            for (int ch = 0; ch < 4; ch++) {                                               \
                __m256i raw = FX_LOAD(blk->qs + 32 * ch);                                  \
                __m256i lo = _mm256_and_si256(raw, m4);                                    \
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);              \
                if (HAS_QH) {                                                              \
                    const __m256i b4 = _mm256_set1_epi8(16);                               \
                    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hv, 4), b4)); \
                    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hv, 3), b4)); \
                    hv = _mm256_srli_epi16(hv, 2);                                         \
                }                                                                          \
                __m256i slo = _mm256_set1_epi16(sc[2 * ch]), shi = _mm256_set1_epi16(sc[2 * ch + 1]); \
                for (int c = 0; c < nc; c++) {                                             \
                    const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);                       \
                    sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(lo, FX_LOAD(xb->qs + 64 * ch), slo)); \
                    sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(hi, FX_LOAD(xb->qs + 64 * ch + 32), shi)); \
                }                                                                          \
            }                                                                              \
            __m256i m16 = fx_k4_mins16(mn);                                                \
            float d = fx_h2f(blk->d), dmin = fx_h2f(blk->dmin);                            \
            for (int c = 0; c < nc; c++) {                                                 \
                const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);                           \
                __m256i mp = _mm256_madd_epi16(m16, FX_LOAD(xb->bsums));                   \
                acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]), _mm256_set1_ps(d * xb->d), acc[c]); \
                acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mp), _mm256_set1_ps(dmin * xb->d), acc[c]); \
            }                                                                              \
        }                                                                                  \
        for (int c = 0; c < nc; c++) out[c] = fx_hsum_ps(acc[c]);                          \
    }                                                                                      \
    FX_DOT(name)

FX_K4(q4_K, mlxn_block_q4_K, 0)
FX_K4(q5_K, mlxn_block_q5_K, 1)

/* Q6_K: 6-bit unsigned u = q + 32, 16 sub-blocks of 16 with i8 scales. */
FX_INLINE void q6_K_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) {
    const mlxn_block_q6_K *bl = w;
    const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
    __m256 acc[MLXN_FAST_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k / 256; i++) {
        const mlxn_block_q6_K *blk = bl + i;
        __m256i s16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales));
        __m256i sumi[MLXN_FAST_NC];
        for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            __m256i ql0 = FX_LOAD(blk->ql + 64 * n), ql1 = FX_LOAD(blk->ql + 64 * n + 32);
            __m256i h = FX_LOAD(blk->qh + 32 * n);
            __m256i u[4];
            u[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
            u[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
            u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(h, m30));
            u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
            for (int t = 0; t < 4; t++) {
                __m256i scv = fx_pair_scales(s16, n, t);
                for (int c = 0; c < nc; c++) {
                    const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
                    sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(u[t], FX_LOAD(xb->qs + 128 * n + 32 * t), scv));
                }
            }
        }
        float d = fx_h2f(blk->d);
        for (int c = 0; c < nc; c++) {
            const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
            /* the +32 offset: sum_i sc_i * 32 * bsum_i */
            __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(s16, FX_LOAD(xb->bsums)), 5);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[c], off)),
                                     _mm256_set1_ps(d * xb->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = fx_hsum_ps(acc[c]);
}
FX_DOT(q6_K)

/* Q2_K: 2-bit u, 16 sub-blocks with 4-bit scale and 4-bit min. */
FX_INLINE void q2_K_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) {
    const mlxn_block_q2_K *bl = w;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[MLXN_FAST_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k / 256; i++) {
        const mlxn_block_q2_K *blk = bl + i;
        __m128i sb = _mm_loadu_si128((const __m128i *)blk->scales);
        __m256i s16 = _mm256_cvtepu8_epi16(_mm_and_si128(sb, _mm_set1_epi8(15)));
        __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), _mm_set1_epi8(15)));
        __m256i sumi[MLXN_FAST_NC];
        for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            __m256i raw = FX_LOAD(blk->qs + 32 * n);
            for (int t = 0; t < 4; t++) {
                __m256i u = _mm256_and_si256(raw, m3);
                raw = _mm256_srli_epi16(raw, 2);
                __m256i scv = fx_pair_scales(s16, n, t);
                for (int c = 0; c < nc; c++) {
                    const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
                    sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(u, FX_LOAD(xb->qs + 128 * n + 32 * t), scv));
                }
            }
        }
        float d = fx_h2f(blk->d), dmin = fx_h2f(blk->dmin);
        for (int c = 0; c < nc; c++) {
            const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
            __m256i mp = _mm256_madd_epi16(m16, FX_LOAD(xb->bsums));
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]), _mm256_set1_ps(d * xb->d), acc[c]);
            acc[c] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mp), _mm256_set1_ps(dmin * xb->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = fx_hsum_ps(acc[c]);
}
FX_DOT(q2_K)

/* The 16 6-bit scales of a Q3_K block, minus 32, as 16 x i16. Low 4 bits: b[i] & 15 for
 * i < 8, b[i-8] >> 4 after; high 2 bits: (b[8 + i%4] >> 2*(i/4)) & 3. */
FX_INLINE __m256i fx_q3_scales(const uint8_t *b) {
    __m128i lo8 = _mm_loadl_epi64((const __m128i *)b);
    __m128i lo = _mm_and_si128(_mm_unpacklo_epi64(lo8, _mm_srli_epi16(lo8, 4)), _mm_set1_epi8(15));
    __m128i hi = _mm_srlv_epi32(_mm_set1_epi32((int)fx_le32(b + 8)), _mm_setr_epi32(0, 2, 4, 6));
    hi = _mm_slli_epi16(_mm_and_si128(hi, _mm_set1_epi8(3)), 4);
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_or_si128(lo, hi)), _mm256_set1_epi16(32));
}

/* Q3_K: u = q2 + 4*hbit in 0..7 (value u - 4), 16 sub-blocks with 6-bit scales - 32. */
FX_INLINE void q3_K_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) {
    const mlxn_block_q3_K *bl = w;
    const __m256i m3 = _mm256_set1_epi8(3), b2 = _mm256_set1_epi8(4);
    __m256 acc[MLXN_FAST_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k / 256; i++) {
        const mlxn_block_q3_K *blk = bl + i;
        __m256i s16 = fx_q3_scales(blk->scales);
        __m256i hm = FX_LOAD(blk->hmask);
        __m256i sumi[MLXN_FAST_NC];
        for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            __m256i raw = FX_LOAD(blk->qs + 32 * n);
            for (int t = 0; t < 4; t++) {
                __m256i u = _mm256_or_si256(_mm256_and_si256(raw, m3), _mm256_and_si256(_mm256_slli_epi16(hm, 2), b2));
                raw = _mm256_srli_epi16(raw, 2);
                hm = _mm256_srli_epi16(hm, 1);
                __m256i scv = fx_pair_scales(s16, n, t);
                for (int c = 0; c < nc; c++) {
                    const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
                    sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(u, FX_LOAD(xb->qs + 128 * n + 32 * t), scv));
                }
            }
        }
        float d = fx_h2f(blk->d);
        for (int c = 0; c < nc; c++) {
            const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
            __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(s16, FX_LOAD(xb->bsums)), 2);
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sumi[c], off)),
                                     _mm256_set1_ps(d * xb->d), acc[c]);
        }
    }
    for (int c = 0; c < nc; c++) out[c] = fx_hsum_ps(acc[c]);
}
FX_DOT(q3_K)

/* IQ4_XS: non-linear 4-bit values, 8 sub-blocks of 32 with 6-bit scales - 32. */
FX_INLINE void iq4_xs_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) {
    const mlxn_block_iq4_xs *bl = w;
    const __m256i tbl = FX_TBL(fx_iq4nl_vals);
    __m256 acc[MLXN_FAST_NC];
    for (int c = 0; c < nc; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < k / 256; i++) {
        const mlxn_block_iq4_xs *blk = bl + i;
        __m256i sumi[MLXN_FAST_NC];
        for (int c = 0; c < nc; c++) sumi[c] = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            int ls = ((blk->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((blk->scales_h >> (2 * ib)) & 3) << 4);
            __m256i wv = _mm256_shuffle_epi8(tbl, fx_nib32(blk->qs + 16 * ib));
            __m256i aw = _mm256_abs_epi8(wv), scv = _mm256_set1_epi16((short)(ls - 32));
            for (int c = 0; c < nc; c++) {
                const mlxn_block_q8_K *xb = FX_XQK(x, xs, c, i);
                __m256i q = _mm256_sign_epi8(FX_LOAD(xb->qs + 32 * ib), wv);
                sumi[c] = _mm256_add_epi32(sumi[c], fx_scaled_dot(aw, q, scv));
            }
        }
        float d = fx_h2f(blk->d);
        for (int c = 0; c < nc; c++)
            acc[c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sumi[c]), _mm256_set1_ps(d * FX_XQK(x, xs, c, i)->d), acc[c]);
    }
    for (int c = 0; c < nc; c++) out[c] = fx_hsum_ps(acc[c]);
}
FX_DOT(iq4_xs)

/* ---- float weights ---------------------------------------------------------------- */

#define FX_LD_F32(p) _mm256_loadu_ps((const float *)(p))
#define FX_LD_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define FX_LD_BF16(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16))

#define FX_FLOAT(name, T, LD, CONV)                                                        \
    FX_INLINE void name##_body(int64_t k, const void *w, const void *x, size_t xs, const int nc, float *out) { \
        const T *wr = w;                                                                   \
        const float *xr[MLXN_FAST_NC];                                                     \
        __m256 a0[MLXN_FAST_NC], a1[MLXN_FAST_NC];                                         \
        for (int c = 0; c < nc; c++) {                                                     \
            xr[c] = (const float *)((const char *)x + (size_t)c * xs);                     \
            a0[c] = _mm256_setzero_ps(); a1[c] = _mm256_setzero_ps();                      \
        }                                                                                  \
        int64_t i = 0;                                                                     \
        for (; i + 16 <= k; i += 16) {                                                     \
            __m256 w0 = LD(wr + i), w1 = LD(wr + i + 8);                                   \
            for (int c = 0; c < nc; c++) {                                                 \
                a0[c] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xr[c] + i), a0[c]);            \
                a1[c] = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xr[c] + i + 8), a1[c]);        \
            }                                                                              \
        }                                                                                  \
        for (int c = 0; c < nc; c++) {                                                     \
            float s = fx_hsum_ps(_mm256_add_ps(a0[c], a1[c]));                             \
            for (int64_t t = i; t < k; t++) s += CONV(wr[t]) * xr[c][t];                   \
            out[c] = s;                                                                    \
        }                                                                                  \
    }                                                                                      \
    FX_DOT(name)
#define FX_ID(v) (v)
FX_FLOAT(f32, float, FX_LD_F32, FX_ID)
FX_FLOAT(f16, uint16_t, FX_LD_F16, fx_h2f)
FX_FLOAT(bf16, uint16_t, FX_LD_BF16, mlxn_bf16_to_f32)

/* ---- activation quantizers (bit-identical to the scalar ones: same products, and
 * cvtps rounds to nearest even like lrintf) ------------------------------------------ */

/* 32 floats times id -> 32 int8 (in element order); *sum gets their sum. */
FX_INLINE __m256i fx_q8_32(const float *x, __m256 id, int *sum) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), id));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), id));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), id));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), id));
    sum[0] = fx_hsum_epi32(_mm256_add_epi32(i0, i1));
    sum[1] = fx_hsum_epi32(_mm256_add_epi32(i2, i3));
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}
FX_INLINE __m256 fx_absmax8(const float *x, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    return m;
}

static void quant_q8_32(const float *x, mlxn_fast_xq32 *out, int64_t k) {
    for (int64_t b = 0; b < k / 32; b++, x += 32) {
        float amax = fx_hmax_ps(fx_absmax8(x, 32)), d = amax / 127.0f, id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int s[2];
        _mm256_storeu_si256((__m256i *)out[b].qs, fx_q8_32(x, _mm256_set1_ps(id), s));
        out[b].d = d;
        out[b].s = d * (float)(s[0] + s[1]);
    }
}

static void quant_q8_K(const float *x, mlxn_block_q8_K *out, int64_t k) {
    for (int64_t b = 0; b < k / 256; b++, x += 256) {
        float amax = fx_hmax_ps(fx_absmax8(x, 256)), id = amax > 0.0f ? 127.0f / amax : 0.0f;
        __m256 idv = _mm256_set1_ps(id);
        out[b].d = amax / 127.0f;
        for (int g = 0; g < 8; g++) {
            int s[2];
            _mm256_storeu_si256((__m256i *)(out[b].qs + 32 * g), fx_q8_32(x + 32 * g, idv, s));
            out[b].bsums[2 * g] = (int16_t)s[0];
            out[b].bsums[2 * g + 1] = (int16_t)s[1];
        }
    }
}

static const mlxn_fast_kernels fx_kernels = {
    .dot = {
        [MLXN_TYPE_F32] = dot_f32, [MLXN_TYPE_F16] = dot_f16, [MLXN_TYPE_BF16] = dot_bf16,
        [MLXN_TYPE_Q4_0] = dot_q4_0, [MLXN_TYPE_Q4_1] = dot_q4_1, [MLXN_TYPE_Q5_0] = dot_q5_0,
        [MLXN_TYPE_Q5_1] = dot_q5_1, [MLXN_TYPE_Q8_0] = dot_q8_0, [MLXN_TYPE_Q8_1] = dot_q8_1,
        [MLXN_TYPE_IQ4_NL] = dot_iq4_nl, [MLXN_TYPE_MXFP4] = dot_mxfp4,
        [MLXN_TYPE_Q2_K] = dot_q2_K, [MLXN_TYPE_Q3_K] = dot_q3_K, [MLXN_TYPE_Q4_K] = dot_q4_K,
        [MLXN_TYPE_Q5_K] = dot_q5_K, [MLXN_TYPE_Q6_K] = dot_q6_K, [MLXN_TYPE_IQ4_XS] = dot_iq4_xs,
    },
    .quant_q8_32 = quant_q8_32,
    .quant_q8_K = quant_q8_K,
};

const mlxn_fast_kernels *FX_TABLE(void) { return &fx_kernels; }
