/* Internal helpers of the block codecs, for the CPU and CUDA kernel authors: one-block
 * dequantizers and quantizers for every GGML type mlxn decodes, the packed-scale unpackers of
 * the K-quants, and the non-linear codebooks. The public row API is in mlxn.h ("Block codecs");
 * formulas are SPEC-FORMATS.md's, and docs/formats.md lists the quantizers' measured error. */
#ifndef MLXN_FORMATS_QUANTS_H
#define MLXN_FORMATS_QUANTS_H
#include "formats/blocks.h"
#include "mlxn.h"
#include <stdint.h>
#include <string.h>

/* IQ4_NL / IQ4_XS codebook: element value = d * mlxn_iq4nl_values[nibble]. */
extern const int8_t mlxn_iq4nl_values[16];
/* GGML MXFP4 codebook, doubled E2M1: element value = mlxn_mxfp4_values2[nibble] * 2^(e-128). */
extern const int8_t mlxn_mxfp4_values2[16];
/* MLX mxfp4 codebook, plain E2M1 (-0 kept): value = mlxn_fp4_e2m1_values[nibble] * 2^(s-127). */
extern const float mlxn_fp4_e2m1_values[16];

/* 2^(e-128) exactly (e = 0 and 1 give subnormals), GGML's MXFP4 block scale. */
static inline float mlxn_e8m0_to_f32_half(uint8_t e) {
    uint32_t bits = e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* MLX mxfp4 group scale 2^(s-127): s = 0 is 2^-127 (a subnormal), s = 255 is +inf (MLX reads
 * the byte as the exponent of a bf16, and 0x7f80 is inf). Differs from mlxn_e8m0_to_f32 at 255. */
static inline float mlxn_mlx_e8m0_to_f32(uint8_t s) {
    uint32_t bits = s == 255 ? 0x7f800000u : s == 0 ? 0x00400000u : (uint32_t)s << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Q4_K / Q5_K: 6-bit scale sc and min m of sub-block j (0..7) from the 12 packed bytes s. */
static inline void mlxn_get_scale_min_k4(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 15) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}
/* Inverse of mlxn_get_scale_min_k4: packs 8 (sc, m) pairs, each 0..63, into s[12]. */
void mlxn_pack_scale_min_k4(const uint8_t sc[8], const uint8_t m[8], uint8_t s[12]);

/* Q3_K: the 16 signed sub-block scales (already minus 32, so -32..31) from the 12 packed bytes. */
void mlxn_unpack_scales_q3_K(const uint8_t s[12], int8_t out[16]);
/* Inverse: packs 16 values 0..63 (scale + 32). */
void mlxn_pack_scales_q3_K(const uint8_t in[16], uint8_t s[12]);

/* IQ4_XS: the 6-bit scale of sub-block ib (0..7), minus 32. */
static inline int mlxn_iq4_xs_scale(const mlxn_block_iq4_xs *b, int ib) {
    int ls = ((b->scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | (((b->scales_h >> (2 * ib)) & 3) << 4);
    return ls - 32;
}

/* One-block codecs. A block decodes to mlxn_type_info(t)->block_elems floats. The decoders
 * compute in f32 in the same order as the reference (products of the fp16 scale and the
 * small-integer sub-scale first), so results are bit-exact with gguf.quants. */
typedef void (*mlxn_dequant_block_fn)(const void *blk, float *y);
typedef void (*mlxn_quant_block_fn)(const float *x, void *blk);

/* NULL when the type has no block decoder/encoder (plain types are handled by the row API). */
mlxn_dequant_block_fn mlxn_get_dequant_block(mlxn_type t);
mlxn_quant_block_fn mlxn_get_quant_block(mlxn_type t);

void mlxn_dequant_block_q4_0(const void *blk, float *y);
void mlxn_dequant_block_q4_1(const void *blk, float *y);
void mlxn_dequant_block_q5_0(const void *blk, float *y);
void mlxn_dequant_block_q5_1(const void *blk, float *y);
void mlxn_dequant_block_q8_0(const void *blk, float *y);
void mlxn_dequant_block_q8_1(const void *blk, float *y);
void mlxn_dequant_block_q2_K(const void *blk, float *y);
void mlxn_dequant_block_q3_K(const void *blk, float *y);
void mlxn_dequant_block_q4_K(const void *blk, float *y);
void mlxn_dequant_block_q5_K(const void *blk, float *y);
void mlxn_dequant_block_q6_K(const void *blk, float *y);
void mlxn_dequant_block_q8_K(const void *blk, float *y);
void mlxn_dequant_block_iq4_nl(const void *blk, float *y);
void mlxn_dequant_block_iq4_xs(const void *blk, float *y);
void mlxn_dequant_block_mxfp4(const void *blk, float *y);

void mlxn_quant_block_q4_0(const float *x, void *blk);
void mlxn_quant_block_q4_1(const float *x, void *blk);
void mlxn_quant_block_q5_0(const float *x, void *blk);
void mlxn_quant_block_q5_1(const float *x, void *blk);
void mlxn_quant_block_q8_0(const float *x, void *blk);
void mlxn_quant_block_q8_1(const float *x, void *blk);
void mlxn_quant_block_q2_K(const float *x, void *blk);
void mlxn_quant_block_q3_K(const float *x, void *blk);
void mlxn_quant_block_q4_K(const float *x, void *blk);
void mlxn_quant_block_q5_K(const float *x, void *blk);
void mlxn_quant_block_q6_K(const float *x, void *blk);
void mlxn_quant_block_q8_K(const float *x, void *blk);
void mlxn_quant_block_iq4_nl(const float *x, void *blk);
void mlxn_quant_block_iq4_xs(const float *x, void *blk);
void mlxn_quant_block_mxfp4(const float *x, void *blk);

/* MLX affine: element k of a row lives at bits [k*bits, (k+1)*bits) of the LSB-first u32 stream. */
static inline uint32_t mlxn_mlx_get_q(const uint32_t *w, int bits, int64_t k) {
    uint64_t bit = (uint64_t)k * (uint64_t)bits;
    uint64_t word = bit >> 5, off = bit & 31;
    uint64_t v = w[word] >> off;
    if (off + (uint64_t)bits > 32) v |= (uint64_t)w[word + 1] << (32 - off);
    return (uint32_t)(v & ((1u << bits) - 1));
}
#endif
