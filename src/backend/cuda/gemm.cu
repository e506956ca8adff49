/* Mat-mat route (n > 8): dequantize the weights to f16 in the scratch arena, convert the
 * activations to f16, and run cuBLAS (f16 x f16 -> f32, f32 accumulation). F16/BF16 weights go to
 * cuBLAS directly; F32 weights use SGEMM. This is the first prefill route; tensor-core kernels
 * that decode the blocks inside the tile loop are the next step (docs/perf/NOTES.md). */
#include "backend/cuda/common.cuh"
#include <cublas_v2.h>

static cublasHandle_t g_blas[16];
static void *g_blas_ws[16];

static const char *blas_str(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "alloc failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "arch mismatch";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    default: return "error";
    }
}
#define BLAS_TRY(call) do { cublasStatus_t s__ = (call); if (s__ != CUBLAS_STATUS_SUCCESS) \
    return mlxn_fail(s__ == CUBLAS_STATUS_ALLOC_FAILED ? MLXN_ERR_DEVICE_MEMORY : MLXN_ERR_DEVICE, \
                     "%s failed: cuBLAS %s (%d) at %s:%d", #call, blas_str(s__), (int)s__, __FILE__, __LINE__); } while (0)

static mlxn_status blas(cublasHandle_t *h, void *stream) {
    int d = 0;
    CU_TRY(cudaGetDevice(&d));
    if (d < 0 || d >= 16) d = 0;
    if (!g_blas[d]) {
        cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
        CU_TRY(cudaStreamIsCapturing(CU_STREAM(stream), &cs));
        if (cs != cudaStreamCaptureStatusNone)
            return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuBLAS first used inside graph capture; run the ops once before capturing");
        BLAS_TRY(cublasCreate(&g_blas[d]));
        /* our own workspace so cuBLAS never allocates during graph capture */
        size_t ws = 32u << 20;
        MLXN_TRY(mlxn_cuda_malloc(&g_blas_ws[d], ws));
        BLAS_TRY(cublasSetWorkspace(g_blas[d], g_blas_ws[d], ws));
    }
    *h = g_blas[d];
    BLAS_TRY(cublasSetStream(*h, CU_STREAM(stream)));
    return MLXN_OK;
}

__global__ void f32_to_16_kernel(const float *x, int64_t x_col, int64_t k, int64_t n, void *dst, bool bf) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= k * n) return;
    int64_t c = i / k, e = i % k;
    float v = x[c * x_col + e];
    if (bf) ((__nv_bfloat16 *)dst)[i] = __float2bfloat16_rn(v);
    else ((__half *)dst)[i] = __float2half_rn(v);
}

extern "C" mlxn_status mlxn_cuda_mul_mat(const mlxn_cuda_mm *a, void *stream) {
    if (a->accumulate && (a->ids || a->n <= 8))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "cuda mul_mat: y += W x is taken by the mat-mat route only (n > 8, no ids)");
    if (a->ids || a->n <= 8) return mlxn_cuda_mul_mat_vec(a, stream);
    cublasHandle_t h = NULL;
    MLXN_TRY(blas(&h, stream));
    const float one = 1.f, zero = a->accumulate ? 1.f : 0.f;   /* beta */
    int m = (int)a->rows, n = (int)a->n, k = (int)a->k;
    if (a->type == MLXN_TYPE_F32) {
        if (a->row_bytes % 4) return mlxn_fail(MLXN_ERR_SHAPE, "cuda mul_mat: f32 rows not 4-byte strided");
        BLAS_TRY(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, (const float *)a->w, (int)(a->row_bytes / 4),
                             a->x, (int)a->x_col, &zero, a->y, (int)a->y_col));
        return MLXN_OK;
    }
    bool bf = a->type == MLXN_TYPE_BF16;
    bool direct = (a->type == MLXN_TYPE_F16 || bf) && a->row_bytes % 2 == 0 && (uintptr_t)a->w % 2 == 0;
    size_t wbytes = direct ? 0 : (((size_t)m * k * 2 + 255) & ~(size_t)255);
    size_t xbytes = (size_t)k * n * 2;
    void *scr;
    MLXN_TRY(mlxn_cuda_scratch(wbytes + xbytes, &scr, stream));
    const void *A = a->w;
    int lda = (int)(a->row_bytes / 2);
    if (!direct) {
        MLXN_TRY(mlxn_cuda_dequant_rows(a->type, a->w, a->row_bytes, a->rows, a->k, scr, a->k, true, stream));
        A = scr;
        lda = k;
    }
    void *X = (char *)scr + wbytes;
    f32_to_16_kernel<<<grid_for((int64_t)k * n, 256), 256, 0, CU_STREAM(stream)>>>(a->x, a->x_col, k, n, X, bf);
    MLXN_TRY(MLXN_CUDA_LAUNCHED("f32_to_16_kernel"));
    cudaDataType_t dt = bf ? CUDA_R_16BF : CUDA_R_16F;
    BLAS_TRY(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &one, A, dt, lda, X, dt, k, &zero, a->y, CUDA_R_32F,
                          (int)a->y_col, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return MLXN_OK;
}
