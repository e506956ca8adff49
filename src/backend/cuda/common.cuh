/* Shared device helpers of the CUDA backend: error plumbing into mlxn_status, fp16/bf16 loads,
 * narrow shared-memory loads, warp reductions. Included by every .cu file. */
#ifndef MLXN_BACKEND_CUDA_COMMON_CUH
#define MLXN_BACKEND_CUDA_COMMON_CUH
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include <stdint.h>
extern "C" {
#include "core/status.h"
}
#include "backend/cuda/cuda_internal.h"

/* A failing CUDA call becomes an mlxn_status naming the call, the CUDA error, file and line.
 * Out of memory maps to MLXN_ERR_DEVICE_MEMORY. */
static inline mlxn_status mlxn_cuda_fail(cudaError_t e, const char *what, const char *file, int line) {
    mlxn_status code = (e == cudaErrorMemoryAllocation) ? MLXN_ERR_DEVICE_MEMORY : MLXN_ERR_DEVICE;
    return mlxn_fail(code, "%s%s failed: %s (%s) at %s:%d",
                     code == MLXN_ERR_DEVICE_MEMORY ? "device out of memory: " : "", what,
                     cudaGetErrorString(e), cudaGetErrorName(e), file, line);
}
#define CU_TRY(call) do { cudaError_t e__ = (call); \
    if (e__ != cudaSuccess) return mlxn_cuda_fail(e__, #call, __FILE__, __LINE__); } while (0)
#define CU_STREAM(s) ((cudaStream_t)(s))

__device__ __forceinline__ float h2f(uint16_t h) { return __half2float(__ushort_as_half(h)); }
__device__ __forceinline__ float bf2f(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }
__device__ __forceinline__ uint16_t ld16(const uint8_t *p) { return *(const uint16_t *)p; }
/* 4 bytes at a 2-aligned address. */
__device__ __forceinline__ uint32_t ld32a2(const uint8_t *p) {
    return (uint32_t)ld16(p) | ((uint32_t)ld16(p + 2) << 16);
}
/* 16-byte streaming load that does not allocate in L1 (weights are read once; L1 keeps x). */
__device__ __forceinline__ uint4 ldg_stream(const void *p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Block-wide sum for blockDim.x a multiple of 32 (<= 1024); every thread gets the result. */
/* One 32-element group of lane values v into q[0..32), *d = max|v| / 127, *s = d * sum q: the
 * mat-vec's activation quantization (mmv.cu's quant_x kernels, and the attention output written
 * for the next mat-vec, attention.cu); every lane of the warp takes part. */
__device__ __forceinline__ void quant_group(float v, int lane, int8_t *q, float *d, float *s) {
    float amax = warp_max(fabsf(v));
    float dd = amax / 127.f;
    int qi = dd > 0.f ? __float2int_rn(v / dd) : 0;
    q[lane] = (int8_t)qi;
    float sum = warp_sum((float)qi);
    if (lane == 0) { *d = dd; *s = dd * sum; }
}
__device__ __forceinline__ float block_sum(float v, float *red /* 32 floats smem */) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.f;
    return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float *red) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = (blockDim.x + 31) >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) red[w] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : -INFINITY;
    return warp_max(v);
}
/* Loads an element of a F32/F16/BF16 array as f32. */
__device__ __forceinline__ float load_any(const void *p, int64_t i, mlxn_type t) {
    if (t == MLXN_TYPE_F16) return h2f(((const uint16_t *)p)[i]);
    if (t == MLXN_TYPE_BF16) return bf2f(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}
/* MLXN_CUDA_CARVEOUT=1: every kernel of the decode path prefers the largest shared-memory carveout
 * (cudaSharedmemCarveoutMaxShared), so that an SM need not drain to change its L1 / shared split
 * between a small kernel and the next one with a large stage (mat-vec, attention), which would
 * also stop that kernel from starting early under programmatic dependent launch. A hypothesis for
 * part of the fixed per-kernel cost measured in the decode graphs (docs/perf/NOTES.md); off until
 * measured. The attribute is set once per kernel (a small cache per translation unit). */
int mlxn_cuda_carveout_on(void);
static inline void carveout_once(const void *f) {
    if (!mlxn_cuda_carveout_on()) return;
    static const void *seen[128];
    static int n_seen;
    for (int i = 0; i < n_seen; i++)
        if (seen[i] == f) return;
    if (n_seen < 128) seen[n_seen++] = f;
    if (cudaFuncSetAttribute(f, cudaFuncAttributePreferredSharedMemoryCarveout, (int)cudaSharedmemCarveoutMaxShared) !=
        cudaSuccess)
        (void)cudaGetLastError();   /* a hint: a refusal changes nothing */
}
/* Launches kernel(args) on stream with `smem` bytes of dynamic shared memory, allowed to start
 * before its predecessor ends when `pdl` (programmatic stream serialization): the kernel must
 * then execute `griddepcontrol.wait` (pdl_begin) before it touches memory a predecessor wrote. */
template <typename... K, typename... A>
static cudaError_t launch_pdl(void (*kernel)(K...), dim3 grid, dim3 block, size_t smem, void *stream, bool pdl,
                              A... args) {
    cudaLaunchConfig_t c = {};
    c.gridDim = grid;
    c.blockDim = block;
    c.dynamicSmemBytes = smem;
    c.stream = CU_STREAM(stream);
    cudaLaunchAttribute at[1];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = pdl ? 1 : 0;
    c.attrs = at;
    c.numAttrs = 1;
    carveout_once((const void *)kernel);
    return cudaLaunchKernelEx(&c, kernel, ((K)args)...);
}
/* early: lets the successor launch, then waits for the predecessor (the successor's own wait
 * still waits for this kernel's end: only its launch and pre-wait work move earlier); else
 * pdl_begin. */
__device__ __forceinline__ void pdl_begin_x(int early) {
    if (early) asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (!early) asm volatile("griddepcontrol.launch_dependents;");
}
/* Waits for the predecessor kernel, then lets the successor launch. */
__device__ __forceinline__ void pdl_begin() {
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;");
}
/* The small kernels' switch (elementwise.cu: MLXN_CUDA_SMALL_PDL, and the mat-vec's no-PDL knob),
 * and their launcher. */
int mlxn_cuda_small_pdl_on(void);
template <typename... K, typename... A>
static cudaError_t launch(void (*kernel)(K...), dim3 grid, dim3 block, void *stream, A... args) {
    return launch_pdl(kernel, grid, block, 0, stream, mlxn_cuda_small_pdl_on() != 0, args...);
}
static inline unsigned grid_for(int64_t n, int threads) {
    int64_t g = (n + threads - 1) / threads;
    return (unsigned)(g > 0x7fffffff ? 0x7fffffff : (g < 1 ? 1 : g));
}
#endif
