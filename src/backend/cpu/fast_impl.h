/* Internals shared by the fast CPU kernel files: the quantized-activation block formats,
 * the kernel signature and the per-path kernel tables. */
#ifndef MLXN_BACKEND_CPU_FAST_IMPL_H
#define MLXN_BACKEND_CPU_FAST_IMPL_H
#include "backend/cpu/cpu_fast.h"
#include "formats/blocks.h"

/* Activations for 32-element weight blocks: x[i] ~ d * qs[i]; s = d * sum(qs) serves the
 * min/offset term of Q4_1/Q5_1 (w = d_w*q + m contributes m * s). */
typedef struct { float d, s; int8_t qs[32]; } mlxn_fast_xq32;   /* 40 B */
_Static_assert(sizeof(mlxn_fast_xq32) == 40, "xq32 size");
/* Activations for 256-element K-quant blocks: mlxn_block_q8_K (f32 d, qs[256], bsums[16]
 * = sums of each 16 qs), the same layout GGML's Q8_K uses. */

/* How a weight type wants its activations. */
typedef enum { MLXN_FAST_ACT_F32 = 0, MLXN_FAST_ACT_Q8_32 = 1, MLXN_FAST_ACT_Q8_K = 2 } mlxn_fast_act;

/* One weight row (k elements, raw blocks at w) against nc (1..MLXN_FAST_NC) activation
 * columns: column c starts at x + c*x_stride (f32 values or quantized blocks, per the
 * type's mlxn_fast_act). Writes out[c]. */
#define MLXN_FAST_NC 4
typedef void (*mlxn_fast_dot_fn)(int64_t k, const void *w, const void *x, size_t x_stride,
                                 int nc, float *out);

/* A path's kernels, indexed by mlxn_type (NULL = not handled on this path). */
typedef struct {
    mlxn_fast_dot_fn dot[MLXN_TYPE_COUNT];
    /* Optional SIMD activation quantizers (NULL: the scalar one is used); k is a multiple
     * of 32 / 256. */
    void (*quant_q8_32)(const float *x, mlxn_fast_xq32 *out, int64_t k);
    void (*quant_q8_K)(const float *x, mlxn_block_q8_K *out, int64_t k);
} mlxn_fast_kernels;

int mlxn_fast_act_of(mlxn_type type);  /* an mlxn_fast_act, or -1 if not handled at all */
void mlxn_fast_quant_q8_32_scalar(const float *x, mlxn_fast_xq32 *out, int64_t k);
void mlxn_fast_quant_q8_K_scalar(const float *x, mlxn_block_q8_K *out, int64_t k);

const mlxn_fast_kernels *mlxn_fast_kernels_scalar(void);
const mlxn_fast_kernels *mlxn_fast_kernels_avx2(void);    /* NULL when not built for x86 */
const mlxn_fast_kernels *mlxn_fast_kernels_avx512(void);  /* NULL when not built for x86 */
#endif
