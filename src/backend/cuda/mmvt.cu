/* Mat-vec for small matrices (n = 1, k <= 2048, a few MB at most: every product of a decode step
 * of SmolLM2-class models), in one launch with f32 activations.
 *
 * Why: such a product is pure latency (0.2-1.1 MB of weights). The int8 route runs two kernels
 * in a chain (quant_x_* then the mat-vec, each waiting for its predecessor: ~2.7-4.4 us a product
 * inside the decode graph, leave-one-out of 2026-11-30 05:02), and quantizing in every block of
 * the mat-vec instead was slower (v3x, docs/perf/NOTES.md). Here the weights do not need the
 * activations at all until the dot, so:
 *  - before griddepcontrol.wait every block copies its rows' weights into shared memory
 *    (cp.async; one contiguous range: rows r0..r1 of the matrix) and the norm weights into
 *    registers (model weights: not written by the previous kernel);
 *  - after the wait one round of loads brings the column x (and up, for a GLU) into shared memory
 *    as the prologue's x' (x * norm_w, or act(gate) * up; the rms scale is one block sum and
 *    multiplies each row's dot);
 *  - one warp per row, each lane dequantizes its 32-element groups (dq32, the dequantization
 *    route's decoder) and takes the dot with x' in f32; a warp sum, plus the add, is y[row].
 * One block per SM at most (the column is fetched once per block, not once per warp). */
#include "backend/cuda/common.cuh"
#include "backend/cuda/quant.cuh"
#include <stdlib.h>

#define MMVT_WARPS 16
#define MMVT_MAX_K 2048
#define MMVT_MAX_WBYTES (48 * 1024)   /* weights of one block's rows in shared memory */

int mlxn_cuda_mmvt_on = -1;   /* -1: from MLXN_CUDA_MMVT (default on; 0 = the int8 route) */

struct MmvtP {
    const uint8_t *w; int64_t row_bytes; int rows, k, rpb;
    const float *x, *norm_w, *up, *add;
    float eps;
    float *y;
};

__device__ __forceinline__ float mmvt_silu(float v) { return v / (1.f + expf(-v)); }
__device__ __forceinline__ float mmvt_gelu(float v) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

/* PRO: 0 none, 1 rms norm (norm_w, eps), 2 swiglu, 3 geglu (act(x) * up). */
template <int T, int PRO>
__global__ void __launch_bounds__(MMVT_WARPS * 32) mmvt_kernel(MmvtP p) {
    typedef QT<T> Q;
    extern __shared__ __align__(16) uint8_t sm[];
    __shared__ float red[32];
    const int r0 = blockIdx.x * p.rpb, r1 = min(p.rows, r0 + p.rpb);
    if (r0 >= r1) return;   /* the whole block: uniform */
    float *xs = (float *)sm;                                  /* x', k floats */
    uint8_t *ws = sm + (size_t)p.k * 4;                       /* the rows' weights */
    const int t = threadIdx.x, nt = blockDim.x;
    /* the rows' bytes, as their 16-byte-aligned cover (the stage keeps the global alignment) */
    const uint8_t *g0 = p.w + (int64_t)r0 * p.row_bytes, *g1 = p.w + (int64_t)r1 * p.row_bytes;
    const uint8_t *a0 = (const uint8_t *)((uintptr_t)g0 & ~(uintptr_t)15);
    const int np = (int)((((uintptr_t)g1 + 15) & ~(uintptr_t)15) - (uintptr_t)a0) >> 4;
    for (int i = t; i < np; i += nt) {
        const uint32_t sa = (uint32_t)__cvta_generic_to_shared(ws + 16 * i);
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(a0 + 16 * i) : "memory");
    }
    asm volatile("cp.async.commit_group;" ::: "memory");
    const int k4 = p.k >> 2;
    /* the thread's norm weights (at most 2 float4 for k <= 2048 with 512 threads) */
    float4 nw[2] = {make_float4(0.f, 0.f, 0.f, 0.f), make_float4(0.f, 0.f, 0.f, 0.f)};
    if (PRO == 1) {
#pragma unroll
        for (int j = 0; j < 2; j++)
            if (t + j * nt < k4) nw[j] = ((const float4 *)p.norm_w)[t + j * nt];
    }
    asm volatile("griddepcontrol.wait;" ::: "memory");
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < 2; j++) {
        const int i = t + j * nt;
        if (i >= k4) continue;
        float4 v = ((const float4 *)p.x)[i];
        if (PRO == 1) {
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
            v.x *= nw[j].x; v.y *= nw[j].y; v.z *= nw[j].z; v.w *= nw[j].w;
        } else if (PRO >= 2) {
            const float4 u = ((const float4 *)p.up)[i];
            v.x = (PRO == 3 ? mmvt_gelu(v.x) : mmvt_silu(v.x)) * u.x;
            v.y = (PRO == 3 ? mmvt_gelu(v.y) : mmvt_silu(v.y)) * u.y;
            v.z = (PRO == 3 ? mmvt_gelu(v.z) : mmvt_silu(v.z)) * u.z;
            v.w = (PRO == 3 ? mmvt_gelu(v.w) : mmvt_silu(v.w)) * u.w;
        }
        ((float4 *)xs)[i] = v;
    }
    float scale = 1.f;
    if (PRO == 1) scale = rsqrtf(block_sum(ss, red) / (float)p.k + p.eps);   /* its barriers publish xs */
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();
    asm volatile("griddepcontrol.launch_dependents;");
    const int lane = t & 31, warp = t >> 5, nw_ = nt >> 5;
    const int ng = p.k >> 5;
    const uint8_t *wbase = ws + ((uintptr_t)g0 & 15);
    for (int r = r0 + warp; r < r1; r += nw_) {
        const uint8_t *row = wbase + (int64_t)(r - r0) * p.row_bytes;
        float acc = 0.f;
        for (int g = lane; g < ng; g += 32) {
            const int e = g * 32;
            float wv[32];
            dq32((mlxn_type)T, row + (e / Q::QK) * Q::BB, e % Q::QK, wv);
            const float4 *xv = (const float4 *)(xs + e);
            float a0 = 0.f, a1 = 0.f;
#pragma unroll
            for (int i = 0; i < 8; i += 2) {
                const float4 u = xv[i], v = xv[i + 1];
                a0 += wv[4 * i] * u.x + wv[4 * i + 1] * u.y + wv[4 * i + 2] * u.z + wv[4 * i + 3] * u.w;
                a1 += wv[4 * i + 4] * v.x + wv[4 * i + 5] * v.y + wv[4 * i + 6] * v.z + wv[4 * i + 7] * v.w;
            }
            acc += a0 + a1;
        }
        acc = warp_sum(acc) * scale;
        if (lane == 0) p.y[r] = p.add ? acc + p.add[r] : acc;
    }
}

typedef void (*mmvt_fn)(MmvtP);
template <int T> static mmvt_fn mmvt_pick(int pro) {
    switch (pro) {
    case 1: return mmvt_kernel<T, 1>;
    case 2: return mmvt_kernel<T, 2>;
    case 3: return mmvt_kernel<T, 3>;
    default: return mmvt_kernel<T, 0>;
    }
}
static mmvt_fn mmvt_for(mlxn_type t, int pro) {
    switch (t) {
    case MLXN_TYPE_Q4_0: return mmvt_pick<MLXN_TYPE_Q4_0>(pro);
    case MLXN_TYPE_Q4_1: return mmvt_pick<MLXN_TYPE_Q4_1>(pro);
    case MLXN_TYPE_Q5_0: return mmvt_pick<MLXN_TYPE_Q5_0>(pro);
    case MLXN_TYPE_Q5_1: return mmvt_pick<MLXN_TYPE_Q5_1>(pro);
    case MLXN_TYPE_Q8_0: return mmvt_pick<MLXN_TYPE_Q8_0>(pro);
    case MLXN_TYPE_Q4_K: return mmvt_pick<MLXN_TYPE_Q4_K>(pro);
    case MLXN_TYPE_Q5_K: return mmvt_pick<MLXN_TYPE_Q5_K>(pro);
    case MLXN_TYPE_Q6_K: return mmvt_pick<MLXN_TYPE_Q6_K>(pro);
    default: return NULL;
    }
}
static int mmvt_pro(const mlxn_cuda_mmfuse *f) { return !f ? 0 : f->norm_w ? 1 : f->up ? (f->glu ? 3 : 2) : 0; }

static bool mmvt_enabled(void) {
    if (mlxn_cuda_mmvt_on < 0) {
        const char *e = getenv("MLXN_CUDA_MMVT");
        mlxn_cuda_mmvt_on = e && *e == '0' ? 0 : 1;
    }
    return mlxn_cuda_mmvt_on != 0;
}

/* Grid: blocks of MMVT_WARPS warps, at most one per SM, each a contiguous run of rows. */
static void mmvt_plan(const mlxn_cuda_mm *a, int *grid, int *rpb) {
    const int sms = mlxn_cuda_sm_count() > 0 ? mlxn_cuda_sm_count() : 132;
    int g = (int)((a->rows + MMVT_WARPS - 1) / MMVT_WARPS);   /* at least a row per warp */
    if (g > sms) g = sms;
    if (g < 1) g = 1;
    *rpb = (int)((a->rows + g - 1) / g);
    *grid = (int)((a->rows + *rpb - 1) / *rpb);
}

extern "C" bool mlxn_cuda_mmvt_applies(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f) {
    if (!mmvt_enabled() || a->ids || a->n != 1 || a->accumulate || !mmvt_for(a->type, mmvt_pro(f))) return false;
    if (f && f->norm_w && f->up) return false;
    const mlxn_type_traits *ti = mlxn_type_info(a->type);
    if (a->k < 32 || a->k > MMVT_MAX_K || a->k % 32 || a->k % ti->block_elems) return false;
    if ((int64_t)a->row_bytes != a->k / ti->block_elems * (int64_t)ti->block_bytes) return false;
    if (((uintptr_t)a->w | a->row_bytes) & 1) return false;                        /* dq32's 16-bit loads */
    if ((uintptr_t)a->x % 16 || (f && f->norm_w && (uintptr_t)f->norm_w % 16) || (f && f->up && (uintptr_t)f->up % 16))
        return false;
    int grid, rpb;
    mmvt_plan(a, &grid, &rpb);
    return (int64_t)rpb * (int64_t)a->row_bytes + 32 <= MMVT_MAX_WBYTES && a->rows <= 0x3fffffff;
}

extern "C" mlxn_status mlxn_cuda_mmvt(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream) {
    if (!mlxn_cuda_mmvt_applies(a, f))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "small mat-vec: this case is not supported (type %s, k %lld, rows %lld)",
                         mlxn_type_name(a->type), (long long)a->k, (long long)a->rows);
    const int pro = mmvt_pro(f);
    mmvt_fn fn = mmvt_for(a->type, pro);
    MmvtP p;
    p.w = (const uint8_t *)a->w;
    p.row_bytes = (int64_t)a->row_bytes;
    p.rows = (int)a->rows;
    p.k = (int)a->k;
    p.x = a->x;
    p.norm_w = f ? f->norm_w : NULL;
    p.eps = f ? f->eps : 0.f;
    p.up = f ? f->up : NULL;
    p.add = f ? f->add : NULL;
    p.y = a->y;
    int grid;
    mmvt_plan(a, &grid, &p.rpb);
    const size_t smem = (size_t)a->k * 4 + (((size_t)p.rpb * a->row_bytes + 32 + 15) & ~(size_t)15);
    static bool attr[64][4];
    if (!attr[a->type & 63][pro]) {
        CU_TRY(cudaFuncSetAttribute((const void *)fn, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    MMVT_MAX_K * 4 + MMVT_MAX_WBYTES + 64));
        attr[a->type & 63][pro] = true;
    }
    CU_TRY(launch_pdl(fn, dim3((unsigned)grid), dim3(MMVT_WARPS * 32), smem, stream, !mlxn_cuda_mmv_no_pdl, p));
    return MLXN_CUDA_LAUNCHED("mmvt_kernel");
}
