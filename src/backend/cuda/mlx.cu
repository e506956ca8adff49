/* MLX packed weights (affine 2..8 bits with f16/bf16 scales+biases, and MLX mxfp4): a generic
 * element decoder used by mul_mat / mul_mat_id (warp per row, f32 activations, exact f32
 * accumulation) and get_rows. Correct for every shape; the fast MLX decode path is future work
 * (docs/perf/NOTES.md). */
#include "backend/cuda/common.cuh"

struct MlxW {
    const uint8_t *w, *s, *b;
    int64_t w_row, w_exp, s_row, s_exp, b_row, b_exp;   /* bytes */
    int bits, gs, mxfp4, bf16;
};

__device__ __forceinline__ float mlx_elem(const MlxW &m, const uint8_t *w, const uint8_t *s, const uint8_t *b, int64_t e) {
    int64_t bit = e * m.bits;
    const uint32_t *wp = (const uint32_t *)w;
    uint64_t lo = wp[bit >> 5];
    uint64_t hi = ((bit & 31) + m.bits > 32) ? (uint64_t)wp[(bit >> 5) + 1] : 0;
    uint32_t q = (uint32_t)(((lo | (hi << 32)) >> (bit & 31)) & ((1u << m.bits) - 1));
    int64_t g = e / m.gs;
    if (m.mxfp4) {
        const float F[16] = {0.f, .5f, 1.f, 1.5f, 2.f, 3.f, 4.f, 6.f, -0.f, -.5f, -1.f, -1.5f, -2.f, -3.f, -4.f, -6.f};
        uint8_t sc = s[g];
        float p = sc == 255 ? __int_as_float(0x7f800000) : (sc == 0 ? __uint_as_float(0x00400000u) : __uint_as_float((uint32_t)sc << 23));
        return F[q] * p;
    }
    uint16_t sh = ((const uint16_t *)s)[g], bh = ((const uint16_t *)b)[g];
    float sc = m.bf16 ? bf2f(sh) : h2f(sh), bi = m.bf16 ? bf2f(bh) : h2f(bh);
    /* like mx.dequantize (and the CPU codec): round(round(scale * q) + bias) in the scale dtype;
     * scale * q is exact in f32, and the rounding between the two steps prevents an FMA */
    float v = __fmul_rn(sc, (float)q);
    v = m.bf16 ? __bfloat162float(__float2bfloat16_rn(v)) : __half2float(__float2half_rn(v));
    v = __fadd_rn(v, bi);
    return m.bf16 ? __bfloat162float(__float2bfloat16_rn(v)) : __half2float(__float2half_rn(v));
}

__global__ void mlx_mmv_kernel(MlxW m, int64_t rows, int64_t k, const float *x, int64_t x_col, int ncols, float *y,
                               int64_t y_col, const int32_t *ids, int64_t ids_tok, int top_k, int n_x, int n_expert,
                               int64_t x_tok, int64_t y_tok, int *err) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (row >= rows) return;
    int c0 = 0;
    int64_t e = 0;
    if (ids) {
        int g = blockIdx.y, tt = g / top_k, j = g % top_k;
        e = ids[tt * ids_tok + j];
        if (e < 0 || e >= n_expert) { if (row == 0 && lane == 0) atomicOr(err, 1); return; }
        x += (int64_t)(n_x == 1 ? 0 : j) * x_col + tt * x_tok;
        y += j * y_col + tt * y_tok;
        ncols = 1;
    } else {
        c0 = blockIdx.y * 8;
    }
    const uint8_t *w = m.w + e * m.w_exp + row * m.w_row, *s = m.s + e * m.s_exp + row * m.s_row;
    const uint8_t *b = m.b ? m.b + e * m.b_exp + row * m.b_row : NULL;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = lane; i < k; i += 32) {
        float wv = mlx_elem(m, w, s, b, i);
#pragma unroll
        for (int c = 0; c < 8; c++)
            if (c0 + c < ncols) acc[c] += wv * x[(int64_t)(c0 + c) * x_col + i];
    }
#pragma unroll
    for (int c = 0; c < 8; c++) {
        float r = warp_sum(acc[c]);
        if (lane == 0 && c0 + c < ncols) y[(c0 + c) * y_col + row] = r;
    }
}

__global__ void mlx_get_rows_kernel(MlxW m, int64_t n_rows, int64_t k, const int32_t *ids, int64_t n, float *y,
                                    int64_t y_row, int *err) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n * k) return;
    int64_t t = i / k, e = i % k;
    int64_t r = ids[t];
    if (r < 0 || r >= n_rows) { if (e == 0) atomicOr(err, 2); return; }
    y[t * y_row + e] = mlx_elem(m, m.w + r * m.w_row, m.s + r * m.s_row, m.b ? m.b + r * m.b_row : NULL, e);
}

static MlxW to_w(const mlxn_cuda_mlx *q) {
    MlxW m;
    m.w = (const uint8_t *)q->w; m.s = (const uint8_t *)q->scales; m.b = (const uint8_t *)q->biases;
    m.w_row = q->w_row; m.w_exp = q->w_exp; m.s_row = q->s_row; m.s_exp = q->s_exp; m.b_row = q->b_row; m.b_exp = q->b_exp;
    m.bits = q->bits; m.gs = q->group_size; m.mxfp4 = q->mxfp4; m.bf16 = q->scale_bf16;
    return m;
}

extern "C" mlxn_status mlxn_cuda_mlx_mul_mat(const mlxn_cuda_mlx *q, const mlxn_cuda_mm *a, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    bool id = a->ids != NULL;
    dim3 grid((unsigned)((a->rows + 3) / 4), id ? (unsigned)(a->top_k * a->n_tokens) : (unsigned)((a->n + 7) / 8));
    mlx_mmv_kernel<<<grid, 128, 0, CU_STREAM(stream)>>>(to_w(q), a->rows, a->k, a->x, a->x_col, (int)a->n, a->y, a->y_col,
                                                        a->ids, a->ids_tok, a->top_k, a->n_x, a->n_expert, a->x_tok,
                                                        a->y_tok, err);
    return MLXN_CUDA_LAUNCHED("mlx_mmv_kernel");
}
extern "C" mlxn_status mlxn_cuda_mlx_get_rows(const mlxn_cuda_mlx *q, int64_t n_rows, int64_t k, const int32_t *ids, int64_t n,
                                              float *y, int64_t y_row, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    if (n * k == 0) return MLXN_OK;
    mlx_get_rows_kernel<<<grid_for(n * k, 256), 256, 0, CU_STREAM(stream)>>>(to_w(q), n_rows, k, ids, n, y, y_row, err);
    return MLXN_CUDA_LAUNCHED("mlx_get_rows_kernel");
}
