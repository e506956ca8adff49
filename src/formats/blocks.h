/* GGML quant block layouts, defined once for C and CUDA (SPEC-FORMATS.md). fp16 fields are
 * stored as raw uint16_t bits; convert with core/half.h (host) or __half intrinsics (device).
 * Every struct is packed by construction (only uint8/uint16 members after the first field
 * where alignment would differ) and its size is asserted. */
#ifndef MLXN_FORMATS_BLOCKS_H
#define MLXN_FORMATS_BLOCKS_H
#include <stdint.h>

#ifdef __cplusplus
#define MLXN_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define MLXN_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

#define MLXN_QK4_0 32
#define MLXN_QK8_0 32
#define MLXN_QK_K 256

typedef struct { uint16_t d; uint8_t qs[16]; } mlxn_block_q4_0;                     /* 18 B */
typedef struct { uint16_t d, m; uint8_t qs[16]; } mlxn_block_q4_1;                  /* 20 B */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; } mlxn_block_q5_0;      /* 22 B */
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; } mlxn_block_q5_1;   /* 24 B */
typedef struct { uint16_t d; int8_t qs[32]; } mlxn_block_q8_0;                      /* 34 B */
typedef struct { uint16_t d, s; int8_t qs[32]; } mlxn_block_q8_1;                   /* 36 B */
typedef struct { uint8_t scales[16]; uint8_t qs[64]; uint16_t d, dmin; } mlxn_block_q2_K;            /* 84 */
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; uint16_t d; } mlxn_block_q3_K; /* 110 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; } mlxn_block_q4_K;          /* 144 */
typedef struct { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } mlxn_block_q5_K; /* 176 */
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; } mlxn_block_q6_K; /* 210 */
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } mlxn_block_q8_K;                     /* 292 */
typedef struct { uint16_t d; uint8_t qs[16]; } mlxn_block_iq4_nl;                                   /* 18 */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } mlxn_block_iq4_xs; /* 136 */
typedef struct { uint8_t e; uint8_t qs[16]; } mlxn_block_mxfp4;                                    /* 17 */

MLXN_STATIC_ASSERT(sizeof(mlxn_block_q4_0) == 18, "q4_0 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q4_1) == 20, "q4_1 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q5_0) == 22, "q5_0 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q5_1) == 24, "q5_1 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q8_0) == 34, "q8_0 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q8_1) == 36, "q8_1 size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q2_K) == 84, "q2_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q3_K) == 110, "q3_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q4_K) == 144, "q4_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q5_K) == 176, "q5_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q6_K) == 210, "q6_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_q8_K) == 292, "q8_K size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_iq4_nl) == 18, "iq4_nl size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_iq4_xs) == 136, "iq4_xs size");
MLXN_STATIC_ASSERT(sizeof(mlxn_block_mxfp4) == 17, "mxfp4 size");

/* Non-linear 4-bit codebooks. */
#define MLXN_IQ4NL_VALUES {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}
/* GGML MXFP4: doubled E2M1 values, so the scale exponent is e - 128 (2^(e-127) / 2). */
#define MLXN_MXFP4_VALUES2 {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}
#endif
