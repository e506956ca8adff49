/* Row reductions and selection: softmax, argmax, top_k, MoE routing (one kernel: gating, top-k,
 * renormalisation and scales), MoE combine. One block per row / token. Ties go to the lower index
 * everywhere, as the op contract says. */
#include "backend/cuda/common.cuh"
#include <stdlib.h>

/* Programmatic dependent launch, as for the kernels of elementwise.cu (the switch lives there;
 * launch / pdl_begin in common.cuh): every kernel waits for its predecessor (griddepcontrol.wait,
 * every thread, before any global access) and then lets its successor launch. */

__device__ __forceinline__ float capf(float s, float cap) { return cap > 0.f ? cap * tanhf(s / cap) : s; }

__global__ void softmax_kernel(const float *x, int64_t x_row, const float *mask, int64_t m_row, int64_t m_rows,
                               float scale, float cap, float *y, int64_t y_row, int64_t n) {
    __shared__ float red[32];
    pdl_begin();
    int64_t r = blockIdx.x;
    const float *xr = x + r * x_row;
    const float *mr = mask ? mask + (m_rows == 1 ? 0 : r) * m_row : NULL;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float s = capf(xr[i] * scale, cap) + (mr ? mr[i] : 0.f);
        mx = fmaxf(mx, s);
    }
    mx = block_max(mx, red);
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float s = capf(xr[i] * scale, cap) + (mr ? mr[i] : 0.f);
        sum += mx == -INFINITY ? 0.f : expf(s - mx);
    }
    sum = block_sum(sum, red);
    float inv = sum > 0.f ? 1.f / sum : 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float s = capf(xr[i] * scale, cap) + (mr ? mr[i] : 0.f);
        y[r * y_row + i] = mx == -INFINITY ? 0.f : expf(s - mx) * inv;
    }
}
extern "C" mlxn_status mlxn_cuda_softmax(const float *x, int64_t x_row, const float *mask, int64_t mask_row,
                                         int64_t mask_rows, float scale, float softcap, float *y, int64_t y_row,
                                         int64_t n, int64_t rows, void *stream) {
    if (rows == 0) return MLXN_OK;
    CU_TRY(launch(softmax_kernel, dim3((unsigned)rows), dim3(256), stream, x, x_row, mask, mask_row, mask_rows, scale,
                  softcap, y, y_row, n));
    return MLXN_CUDA_LAUNCHED("softmax_kernel");
}

/* (v, i) is "better" than (w, j): larger value, ties lower index; NaN never wins. */
__device__ __forceinline__ bool better(float v, int i, float w, int j) {
    if (isnan(v)) return false;
    if (isnan(w)) return true;
    return v > w || (v == w && i < j);
}
/* Block argmax over x[0..n) restricted to elements ranked strictly after (lv, li). */
__device__ void block_pick(const float *x, int64_t n, float lv, int li, bool have_last, float &bv, int &bi) {
    __shared__ float sv[32];
    __shared__ int si[32];
    bv = NAN; bi = 0x7fffffff;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = x[i];
        if (have_last && !better(lv, li, v, (int)i)) continue;  /* already taken or ranked before */
        if (bi == 0x7fffffff || better(v, (int)i, bv, bi)) { bv = v; bi = (int)i; }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi != 0x7fffffff && (bi == 0x7fffffff || better(ov, oi, bv, bi))) { bv = ov; bi = oi; }
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) { sv[w] = bv; si[w] = bi; }
    __syncthreads();
    bv = lane < nw ? sv[lane] : NAN;
    bi = lane < nw ? si[lane] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi != 0x7fffffff && (bi == 0x7fffffff || better(ov, oi, bv, bi))) { bv = ov; bi = oi; }
    }
}

__global__ void topk_kernel(const float *x, int64_t x_row, int64_t n, int k, int32_t *ids, int64_t ids_row, float *vals,
                            int64_t vals_row) {
    pdl_begin();
    const float *xr = x + (int64_t)blockIdx.x * x_row;
    float lv = 0.f;
    int li = 0;
    for (int j = 0; j < k; j++) {
        float bv;
        int bi;
        block_pick(xr, n, lv, li, j > 0, bv, bi);
        if (threadIdx.x == 0) {
            ids[(int64_t)blockIdx.x * ids_row + j] = bi == 0x7fffffff ? 0 : bi;
            if (vals) vals[(int64_t)blockIdx.x * vals_row + j] = bv;
        }
        lv = bv; li = bi;
    }
}
/* Merges candidate (v, i) into the running best (bv, bi) exactly as block_pick does (the first
 * candidate is taken even if NaN; afterwards NaN never wins, ties go to the lower index). */
__device__ __forceinline__ void take(float v, int i, float &bv, int &bi) {
    if (bi == 0x7fffffff || better(v, i, bv, bi)) { bv = v; bi = i; }
}
/* argmax, block per row: 16-byte loads, four in flight per thread (the scalar loop of block_pick
 * waits on one load at a time, ~14 us for a 49152-entry row of logits). The order is total
 * (value, then lower index; NaN below everything), so any split of the row gives block_pick's
 * answer; a row of NaN only gives 0 in both.
 * With step != NULL (argmax_advance, one row): instead of out, the thread that has the answer
 * hands it to the next decode step: step[1] += 1, step[0] = id, hist[step[1] mod cap] = id.
 * Everything comes from device memory, so a captured graph replays it step after step. */
__global__ void argmax_kernel(const float *x, int64_t x_row, int64_t n, int32_t *out, int32_t *step, int32_t *hist,
                              int64_t cap) {
    __shared__ float sv[32];
    __shared__ int si[32];
    pdl_begin();
    const float *xr = x + (int64_t)blockIdx.x * x_row;
    float bv = NAN;
    int bi = 0x7fffffff;
    int64_t n4 = ((uintptr_t)xr & 15) == 0 ? n / 4 : 0;
    const float4 *x4 = (const float4 *)xr;
    int64_t q = threadIdx.x;
    for (; q + 3 * (int64_t)blockDim.x < n4; q += 4 * (int64_t)blockDim.x) {
        float4 a = x4[q], b = x4[q + blockDim.x], c = x4[q + 2 * blockDim.x], d = x4[q + 3 * blockDim.x];
        int i = (int)(4 * q), s = 4 * (int)blockDim.x;
        take(a.x, i, bv, bi); take(a.y, i + 1, bv, bi); take(a.z, i + 2, bv, bi); take(a.w, i + 3, bv, bi);
        take(b.x, i + s, bv, bi); take(b.y, i + s + 1, bv, bi); take(b.z, i + s + 2, bv, bi); take(b.w, i + s + 3, bv, bi);
        i += 2 * s;
        take(c.x, i, bv, bi); take(c.y, i + 1, bv, bi); take(c.z, i + 2, bv, bi); take(c.w, i + 3, bv, bi);
        take(d.x, i + s, bv, bi); take(d.y, i + s + 1, bv, bi); take(d.z, i + s + 2, bv, bi); take(d.w, i + s + 3, bv, bi);
    }
    for (; q < n4; q += blockDim.x) {
        float4 a = x4[q];
        int i = (int)(4 * q);
        take(a.x, i, bv, bi); take(a.y, i + 1, bv, bi); take(a.z, i + 2, bv, bi); take(a.w, i + 3, bv, bi);
    }
    for (int64_t i = 4 * n4 + threadIdx.x; i < n; i += blockDim.x) take(xr[i], (int)i, bv, bi);
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (oi != 0x7fffffff && (bi == 0x7fffffff || better(ov, oi, bv, bi))) { bv = ov; bi = oi; }
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) { sv[w] = bv; si[w] = bi; }
    __syncthreads();
    if (w == 0) {
        bv = lane < nw ? sv[lane] : NAN;
        bi = lane < nw ? si[lane] : 0x7fffffff;
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi != 0x7fffffff && (bi == 0x7fffffff || better(ov, oi, bv, bi))) { bv = ov; bi = oi; }
        }
        if (lane == 0) {
            const int32_t id = bi == 0x7fffffff ? 0 : bi;
            if (step) {
                const int32_t pos = (int32_t)((uint32_t)step[1] + 1u);
                step[0] = id;
                step[1] = pos;
                hist[((int64_t)pos % cap + cap) % cap] = id;
            } else {
                out[blockIdx.x] = id;
            }
        }
    }
}
int mlxn_cuda_argmax_version = -1;   /* -1: from MLXN_CUDA_ARGMAX (default 2); 1: block_pick (topk_kernel) */
extern "C" mlxn_status mlxn_cuda_argmax(const float *x, int64_t x_row, int64_t n, int64_t rows, int32_t *out, void *stream) {
    if (rows == 0) return MLXN_OK;
    if (mlxn_cuda_argmax_version < 0) {
        const char *e = getenv("MLXN_CUDA_ARGMAX");
        mlxn_cuda_argmax_version = e && *e == '1' ? 1 : 2;
    }
    if (mlxn_cuda_argmax_version == 1 || n >= 0x7fffffff) {
        CU_TRY(launch(topk_kernel, dim3((unsigned)rows), dim3(1024), stream, x, x_row, n, 1, out, (int64_t)1,
                      (float *)NULL, (int64_t)0));
        return MLXN_CUDA_LAUNCHED("argmax topk_kernel");
    }
    CU_TRY(launch(argmax_kernel, dim3((unsigned)rows), dim3(1024), stream, x, x_row, n, out, (int32_t *)NULL,
                  (int32_t *)NULL, (int64_t)1));
    return MLXN_CUDA_LAUNCHED("argmax_kernel");
}
/* Always the 16-byte-load kernel (the front-end keeps n below 2^31). */
extern "C" mlxn_status mlxn_cuda_argmax_advance(const float *x, int64_t n, int32_t *step, int32_t *hist, int64_t cap,
                                                void *stream) {
    CU_TRY(launch(argmax_kernel, dim3(1), dim3(1024), stream, x, (int64_t)0, n, (int32_t *)NULL, step, hist, cap));
    return MLXN_CUDA_LAUNCHED("argmax_kernel (advance)");
}
extern "C" mlxn_status mlxn_cuda_top_k(const float *x, int64_t x_row, int64_t n, int64_t rows, int k, int32_t *ids,
                                       int64_t ids_row, float *vals, int64_t vals_row, void *stream) {
    if (rows == 0 || k == 0) return MLXN_OK;
    CU_TRY(launch(topk_kernel, dim3((unsigned)rows), dim3(1024), stream, x, x_row, n, k, ids, ids_row, vals, vals_row));
    return MLXN_CUDA_LAUNCHED("topk_kernel");
}

/* MoE routing, block per token; the ranking uses the logits (monotone in every gating). */
#define ROUTE_MAXK 64
__global__ void moe_route_kernel(const float *logits, int64_t l_row, int64_t ne, int gating, int k, bool renorm,
                                 float scale, const float *escale, int32_t *ids, int64_t ids_row, float *w,
                                 int64_t w_row) {
    __shared__ float red[32];
    __shared__ int sel[ROUTE_MAXK];
    __shared__ float sl[ROUTE_MAXK];
    pdl_begin();
    int64_t t = blockIdx.x;
    const float *lr = logits + t * l_row;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < ne; i += blockDim.x) mx = fmaxf(mx, lr[i]);
    mx = block_max(mx, red);
    float den = 0.f;
    if (gating == 0) {
        for (int64_t i = threadIdx.x; i < ne; i += blockDim.x) den += expf(lr[i] - mx);
        den = block_sum(den, red);
    }
    float lv = 0.f;
    int li = 0;
    for (int j = 0; j < k; j++) {
        float bv;
        int bi;
        block_pick(lr, ne, lv, li, j > 0, bv, bi);
        if (threadIdx.x == 0) { sel[j] = bi; sl[j] = bv; }
        lv = bv; li = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        float p[ROUTE_MAXK];
        float tot = 0.f;
        for (int j = 0; j < k; j++) {
            float v = sl[j];
            if (gating == 0) p[j] = expf(v - mx) / den;
            else if (gating == 1) p[j] = 1.f / (1.f + expf(-v));
            else p[j] = expf(v - sl[0]);        /* softmax over the k chosen: sl[0] is their max */
            tot += p[j];
        }
        for (int j = 0; j < k; j++) {
            float v = p[j];
            if (gating == 2) v /= tot;
            else if (renorm) v /= tot;
            if (gating == 2 && renorm) { /* already sums to 1 */ }
            v *= scale;
            if (escale) v *= escale[sel[j]];
            ids[t * ids_row + j] = sel[j];
            w[t * w_row + j] = v;
        }
    }
}
extern "C" mlxn_status mlxn_cuda_moe_route(const float *logits, int64_t l_row, int64_t n_expert, int64_t n_tokens,
                                           int gating, int k, bool renorm, float scale, const float *expert_scale,
                                           int32_t *ids, int64_t ids_row, float *weights, int64_t w_row, void *stream) {
    if (k > ROUTE_MAXK || k > n_expert)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda moe_route: k=%d (max %d, n_expert %lld)", k, ROUTE_MAXK,
                         (long long)n_expert);
    if (n_tokens == 0) return MLXN_OK;
    CU_TRY(launch(moe_route_kernel, dim3((unsigned)n_tokens), dim3(256), stream, logits, l_row, n_expert, gating, k, renorm,
                  scale, expert_scale, ids, ids_row, weights, w_row));
    return MLXN_CUDA_LAUNCHED("moe_route_kernel");
}

__global__ void moe_combine_kernel(const float *eo, int64_t eo_j, int64_t eo_t, const float *w, int64_t w_t,
                                   const float *res, int64_t res_t, float *y, int64_t y_t, int64_t rows, int k, int64_t nt) {
    pdl_begin();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows * nt) return;
    int64_t r = i % rows, t = i / rows;
    float s = res ? res[t * res_t + r] : 0.f;
    float acc = 0.f;
    for (int j = 0; j < k; j++) acc += w[t * w_t + j] * eo[t * eo_t + j * eo_j + r];
    y[t * y_t + r] = acc + s;
}
extern "C" mlxn_status mlxn_cuda_moe_combine(const float *eo, int64_t eo_j, int64_t eo_t, const float *w, int64_t w_t,
                                             const float *res, int64_t res_t, float *y, int64_t y_t, int64_t rows, int k,
                                             int64_t n_tokens, void *stream) {
    int64_t n = rows * n_tokens;
    if (n == 0) return MLXN_OK;
    CU_TRY(launch(moe_combine_kernel, dim3(grid_for(n, 256)), dim3(256), stream, eo, eo_j, eo_t, w, w_t, res, res_t, y, y_t,
                  rows, k, n_tokens));
    return MLXN_CUDA_LAUNCHED("moe_combine_kernel");
}
