/* Row and elementwise ops: rms_norm (+ residual add), add/mul with broadcast, scale, silu/gelu,
 * swiglu/geglu, copy with F32/F16/BF16 conversion. All memory-bound and small next to the mat-vecs;
 * one thread per element (4-d index) or one block per row. */
#include "backend/cuda/common.cuh"

/* ---- rms_norm: block per row; optional residual add written to `sum` --------------------- */
__global__ void rms_norm_kernel(const float *x, int64_t x_row, const float *r, int64_t r_row, float *sum,
                                int64_t sum_row, const float *w, float eps, float *y, int64_t y_row, int64_t n) {
    __shared__ float red[32];
    int64_t row = blockIdx.x;
    const float *xr = x + row * x_row;
    const float *rr = r ? r + row * r_row : NULL;
    float ss = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i] + (rr ? rr[i] : 0.f);
        ss += v * v;
    }
    ss = block_sum(ss, red);
    float inv = rsqrtf(ss / (float)n + eps);
    /* sum may alias x or r: every thread reads its own elements before writing them */
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i] + (rr ? rr[i] : 0.f);
        if (sum) sum[row * sum_row + i] = v;
        y[row * y_row + i] = v * inv * (w ? w[i] : 1.f);
    }
}
extern "C" mlxn_status mlxn_cuda_rms_norm(const float *x, int64_t x_row, const float *r, int64_t r_row, float *sum,
                                          int64_t sum_row, const float *w, float eps, float *y, int64_t y_row,
                                          int64_t ne0, int64_t nrows, void *stream) {
    if (nrows == 0) return MLXN_OK;
    rms_norm_kernel<<<(unsigned)nrows, ne0 >= 1024 ? 1024 : 256, 0, CU_STREAM(stream)>>>(x, x_row, r, r_row, sum, sum_row,
                                                                                      w, eps, y, y_row, ne0);
    return MLXN_CUDA_LAUNCHED("rms_norm_kernel");
}

/* ---- 4-d elementwise ------------------------------------------------------------------------ */
struct Nd { const float *p; int64_t ne[4], st[4]; };
struct Yd { float *p; int64_t st[4]; };
__device__ __forceinline__ void unravel(int64_t i, const int64_t *ne, int64_t *c) {
    c[0] = i % ne[0]; i /= ne[0]; c[1] = i % ne[1]; i /= ne[1]; c[2] = i % ne[2]; c[3] = i / ne[2];
}
__device__ __forceinline__ int64_t off(const int64_t *c, const int64_t *st) {
    return c[0] * st[0] + c[1] * st[1] + c[2] * st[2] + c[3] * st[3];
}
__device__ __forceinline__ int64_t boff(const int64_t *c, const Nd &b) {   /* broadcast */
    int64_t o = 0;
    for (int d = 0; d < 4; d++) o += (b.ne[d] == 1 ? 0 : c[d]) * b.st[d];
    return o;
}
__device__ __forceinline__ float silu(float v) { return v / (1.f + expf(-v)); }
__device__ __forceinline__ float gelu_tanh(float v) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}
/* op: 0 add, 1 mul, 2 scale (s), 3 silu, 4 gelu_tanh, 5 swiglu, 6 geglu */
__global__ void ew_kernel(int op, Nd a, Nd b, float s, Yd y, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t c[4];
    unravel(i, a.ne, c);
    float va = a.p[off(c, a.st)], r;
    switch (op) {
    case 0: r = va + b.p[boff(c, b)]; break;
    case 1: r = va * b.p[boff(c, b)]; break;
    case 2: r = va * s; break;
    case 3: r = silu(va); break;
    case 4: r = gelu_tanh(va); break;
    case 5: r = silu(va) * b.p[off(c, b.st)]; break;
    default: r = gelu_tanh(va) * b.p[off(c, b.st)]; break;
    }
    y.p[off(c, y.st)] = r;
}
static mlxn_status ew(int op, mlxn_cuda_nd a, const mlxn_cuda_nd *b, float s, float *y, const int64_t *y_st, void *stream) {
    Nd A, B;
    Yd Y;
    A.p = a.p; B.p = b ? b->p : a.p; Y.p = y;
    for (int d = 0; d < 4; d++) {
        A.ne[d] = a.ne[d]; A.st[d] = a.st[d]; Y.st[d] = y_st[d];
        B.ne[d] = b ? b->ne[d] : 1; B.st[d] = b ? b->st[d] : 0;
    }
    int64_t n = a.ne[0] * a.ne[1] * a.ne[2] * a.ne[3];
    if (n == 0) return MLXN_OK;
    ew_kernel<<<grid_for(n, 256), 256, 0, CU_STREAM(stream)>>>(op, A, B, s, Y, n);
    return MLXN_CUDA_LAUNCHED("ew_kernel");
}
extern "C" mlxn_status mlxn_cuda_binary(int op, mlxn_cuda_nd a, mlxn_cuda_nd b, float *y, const int64_t *y_st, void *stream) {
    return ew(op == 0 ? 0 : 1, a, &b, 0.f, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_scale(mlxn_cuda_nd x, float s, float *y, const int64_t *y_st, void *stream) {
    return ew(2, x, NULL, s, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_unary(int fn, mlxn_cuda_nd x, float *y, const int64_t *y_st, void *stream) {
    return ew(fn == 0 ? 3 : 4, x, NULL, 0.f, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_glu(int fn, mlxn_cuda_nd gate, mlxn_cuda_nd up, float *y, const int64_t *y_st, void *stream) {
    return ew(fn == 0 ? 5 : 6, gate, &up, 0.f, y, y_st, stream);
}

/* ---- copy with conversion (byte strides) ---------------------------------------------------- */
struct Cp { const uint8_t *s; int64_t snb[4]; uint8_t *d; int64_t dnb[4]; int64_t ne[4]; };
__global__ void copy_kernel(int st, int dt, Cp c, int64_t n) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t k[4];
    unravel(i, c.ne, k);
    const uint8_t *sp = c.s + off(k, c.snb);
    uint8_t *dp = c.d + off(k, c.dnb);
    float v = st == MLXN_TYPE_F32 ? *(const float *)sp : st == MLXN_TYPE_F16 ? h2f(*(const uint16_t *)sp)
                                                                            : bf2f(*(const uint16_t *)sp);
    if (dt == MLXN_TYPE_F32) *(float *)dp = v;
    else if (dt == MLXN_TYPE_F16) *(__half *)dp = __float2half_rn(v);
    else *(__nv_bfloat16 *)dp = __float2bfloat16_rn(v);
}
extern "C" mlxn_status mlxn_cuda_copy(mlxn_type st, const void *src, const size_t *src_nb, mlxn_type dt, void *dst,
                                      const size_t *dst_nb, const int64_t *ne, void *stream) {
    Cp c;
    c.s = (const uint8_t *)src; c.d = (uint8_t *)dst;
    for (int d = 0; d < 4; d++) { c.snb[d] = (int64_t)src_nb[d]; c.dnb[d] = (int64_t)dst_nb[d]; c.ne[d] = ne[d]; }
    int64_t n = ne[0] * ne[1] * ne[2] * ne[3];
    if (n == 0) return MLXN_OK;
    copy_kernel<<<grid_for(n, 256), 256, 0, CU_STREAM(stream)>>>((int)st, (int)dt, c, n);
    return MLXN_CUDA_LAUNCHED("copy_kernel");
}

/* ---- rope: one thread per (pair or pass-through element); angles in double ------------------ */
__global__ void rope_kernel(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head, int64_t y_tok,
                            int64_t hd, int64_t nh, int64_t nt, const int32_t *pos, const float *ff, int mode,
                            int n_rot, float base, float fscale) {
    int64_t half = n_rot / 2, per_head = half + (hd - n_rot);
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per_head * nh * nt) return;
    int64_t j = i % per_head, h = (i / per_head) % nh, t = i / (per_head * nh);
    const float *xp = x + h * x_head + t * x_tok;
    float *yp = y + h * y_head + t * y_tok;
    if (j >= half) {   /* pass-through dims n_rot..hd-1 */
        int64_t d = n_rot + (j - half);
        yp[d] = xp[d];
        return;
    }
    double theta = (double)pos[t] * (double)fscale * pow((double)base, -2.0 * (double)j / (double)n_rot);
    if (ff) theta /= (double)ff[j];
    double sn, cs;
    sincos(theta, &sn, &cs);
    int64_t i0 = mode == 0 ? 2 * j : j, i1 = mode == 0 ? 2 * j + 1 : j + half;
    float a = xp[i0], b = xp[i1];
    yp[i0] = (float)(a * cs - b * sn);
    yp[i1] = (float)(a * sn + b * cs);
}
extern "C" mlxn_status mlxn_cuda_rope(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head,
                                      int64_t y_tok, int64_t hd, int64_t nh, int64_t nt, const int32_t *pos,
                                      const float *ff, int mode, int n_rot, float base, float fscale, void *stream) {
    int64_t n = (n_rot / 2 + (hd - n_rot)) * nh * nt;
    if (n == 0) return MLXN_OK;
    rope_kernel<<<grid_for(n, 256), 256, 0, CU_STREAM(stream)>>>(x, x_head, x_tok, y, y_head, y_tok, hd, nh, nt, pos, ff,
                                                                 mode, n_rot, base, fscale);
    return MLXN_CUDA_LAUNCHED("rope_kernel");
}

/* ---- kv_write: cache[h][pos[t]][:] = src[t][h][:] ------------------------------------------- */
__global__ void kv_write_kernel(const float *src, int64_t s_head, int64_t s_tok, const int32_t *pos, int ct, void *cache,
                                int64_t c_pos, int64_t c_head, int64_t hd, int64_t nkv, int64_t nt, int64_t n_ctx, int *err) {
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hd * nkv * nt) return;
    int64_t d = i % hd, h = (i / hd) % nkv, t = i / (hd * nkv);
    int32_t p = pos[t];
    if (p < 0 || p >= n_ctx) { if (d == 0) atomicOr(err, 4); return; }
    float v = src[h * s_head + t * s_tok + d];
    int64_t o = h * c_head + (int64_t)p * c_pos + d;
    if (ct == MLXN_TYPE_F32) ((float *)cache)[o] = v;
    else if (ct == MLXN_TYPE_F16) ((__half *)cache)[o] = __float2half_rn(v);
    else ((__nv_bfloat16 *)cache)[o] = __float2bfloat16_rn(v);
}
extern "C" mlxn_status mlxn_cuda_kv_write(const float *src, int64_t s_head, int64_t s_tok, const int32_t *pos,
                                          mlxn_type ct, void *cache, int64_t c_pos, int64_t c_head, int64_t hd,
                                          int64_t nkv, int64_t nt, int64_t n_ctx, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    int64_t n = hd * nkv * nt;
    if (n == 0) return MLXN_OK;
    kv_write_kernel<<<grid_for(n, 256), 256, 0, CU_STREAM(stream)>>>(src, s_head, s_tok, pos, (int)ct, cache, c_pos, c_head,
                                                                     hd, nkv, nt, n_ctx, err);
    return MLXN_CUDA_LAUNCHED("kv_write_kernel");
}
