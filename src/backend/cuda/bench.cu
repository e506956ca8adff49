/* Benchmark helper: the read-only streaming probe that measures the HBM read ceiling in the same
 * process as the kernels (16-byte loads, grid-stride, a sum kept so nothing is optimised away). */
#include "backend/cuda/common.cuh"
#include <stdlib.h>

__global__ void probe_read_kernel(const uint4 *p, size_t n16, unsigned *sink) {
    unsigned acc = 0;
    size_t stride = (size_t)gridDim.x * blockDim.x;
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    for (; i + 3 * stride < n16; i += 4 * stride) {
        uint4 a = ldg_stream(p + i), b = ldg_stream(p + i + stride);
        uint4 c = ldg_stream(p + i + 2 * stride), d = ldg_stream(p + i + 3 * stride);
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n16; i += stride) { uint4 a = ldg_stream(p + i); acc ^= a.x ^ a.y ^ a.z ^ a.w; }
    if (acc == 0x9e3779b9u) *sink = acc;   /* practically never; keeps the loads alive */
}

static int cmpf(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

extern "C" mlxn_status mlxn_cuda_probe_read(const void *buf, size_t n, int reps, float *ms_median, void *stream) {
    int dev = 0, sms = 0;
    CU_TRY(cudaGetDevice(&dev));
    CU_TRY(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    unsigned *sink;
    MLXN_TRY(mlxn_cuda_scratch(64, (void **)&sink, stream));
    cudaEvent_t e0, e1;
    CU_TRY(cudaEventCreate(&e0));
    CU_TRY(cudaEventCreate(&e1));
    float *t = (float *)malloc(sizeof(float) * (size_t)(reps > 0 ? reps : 1));
    if (!t) return mlxn_fail(MLXN_ERR_NO_MEMORY, "probe: no host memory");
    mlxn_status st = MLXN_OK;
    for (int r = -2; r < reps && st == MLXN_OK; r++) {
        cudaEventRecord(e0, CU_STREAM(stream));
        probe_read_kernel<<<sms * 8, 256, 0, CU_STREAM(stream)>>>((const uint4 *)buf, n / 16, sink);
        cudaEventRecord(e1, CU_STREAM(stream));
        cudaError_t e = cudaEventSynchronize(e1);
        if (e != cudaSuccess) { st = mlxn_cuda_fail(e, "probe_read_kernel", __FILE__, __LINE__); break; }
        float ms = 0;
        cudaEventElapsedTime(&ms, e0, e1);
        if (r >= 0) t[r] = ms;
    }
    if (st == MLXN_OK) {
        qsort(t, (size_t)reps, sizeof(float), cmpf);
        *ms_median = t[reps / 2];
    }
    free(t);
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    return st;
}
