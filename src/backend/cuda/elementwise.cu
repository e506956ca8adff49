/* Row and elementwise ops: rms_norm (+ residual add), add/mul with broadcast, scale, silu/gelu,
 * swiglu/geglu, copy with F32/F16/BF16 conversion, rope, rope_kv (rope + the cache write), kv_write. All memory-bound and small next
 * to the mat-vecs; one thread per element (4-d index) or one block per row; every one launched
 * with programmatic dependent launch (below). */
#include "backend/cuda/common.cuh"
#include "backend/cuda/rope.cuh"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- programmatic dependent launch for the small kernels ------------------------------------
 * A decode step is a graph of a few hundred small kernels, each paying its launch and ramp-up
 * after the previous one ends. Launched with programmatic stream serialization, a kernel may
 * start while its predecessor still runs: every kernel here first waits (griddepcontrol.wait,
 * in every thread, before any global read or write — so the predecessor's results are visible
 * and nothing it still reads is overwritten, and since every kernel waits the chain stays
 * ordered transitively), then lets its own successor launch (launch_dependents). Off with
 * MLXN_CUDA_SMALL_PDL=0 or with the mat-vec's no-PDL knob (bench-ops --no-pdl). */
int mlxn_cuda_small_pdl = -1;   /* -1: from MLXN_CUDA_SMALL_PDL (default on); 0 off; 1 on */
int mlxn_cuda_carveout = -1;   /* -1: from MLXN_CUDA_CARVEOUT (default 0) */
int mlxn_cuda_carveout_on(void) {
    if (mlxn_cuda_carveout < 0) {
        const char *e = getenv("MLXN_CUDA_CARVEOUT");
        mlxn_cuda_carveout = e && *e == '1' ? 1 : 0;
    }
    return mlxn_cuda_carveout;
}

int mlxn_cuda_small_pdl_on(void) {
    if (mlxn_cuda_small_pdl < 0) {
        const char *e = getenv("MLXN_CUDA_SMALL_PDL");
        mlxn_cuda_small_pdl = e && *e == '0' ? 0 : 1;
    }
    return mlxn_cuda_small_pdl && !mlxn_cuda_mmv_no_pdl;
}

/* ---- rms_norm: block per row; optional residual add written to `sum` ---------------------
 * PT > 0: each thread keeps its (at most PT) elements in registers between the sum of squares
 * and the write (one read of x and r); PT = 0: rows longer than PT * blockDim read them twice.
 * Same element order per thread and the same block reduction either way: identical results. */
template <int PT>
__global__ void rms_norm_kernel(const float *x, int64_t x_row, const float *r, int64_t r_row, float *sum,
                                int64_t sum_row, const float *w, float eps, float *y, int64_t y_row, int64_t n) {
    __shared__ float red[32];
    pdl_begin();
    int64_t row = blockIdx.x;
    const float *xr = x + row * x_row;
    const float *rr = r ? r + row * r_row : NULL;
    float ss = 0.f;
    if constexpr (PT > 0) {
        float v[PT];
#pragma unroll
        for (int j = 0; j < PT; j++) {
            int i = threadIdx.x + j * blockDim.x;
            v[j] = i < n ? xr[i] + (rr ? rr[i] : 0.f) : 0.f;
        }
#pragma unroll
        for (int j = 0; j < PT; j++)
            if (threadIdx.x + j * blockDim.x < n) ss += v[j] * v[j];
        ss = block_sum(ss, red);
        float inv = rsqrtf(ss / (float)n + eps);
#pragma unroll
        for (int j = 0; j < PT; j++) {
            int i = threadIdx.x + j * blockDim.x;
            if (i < n) {
                if (sum) sum[row * sum_row + i] = v[j];
                y[row * y_row + i] = v[j] * inv * (w ? w[i] : 1.f);
            }
        }
    } else {
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
}
/* Variant (MLXN_CUDA_NORM_WARP=1): one warp per row for rows of at most 1,024 values, kept in
 * registers (32 a lane); no shared memory and no block barrier. Four rows per block. */
__global__ void rms_norm_warp_kernel(const float *x, int64_t x_row, const float *r, int64_t r_row, float *sum,
                                     int64_t sum_row, const float *w, float eps, float *y, int64_t y_row, int64_t n,
                                     int64_t nrows) {
    pdl_begin();
    int lane = threadIdx.x & 31;
    int64_t row = (int64_t)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (row >= nrows) return;
    const float *xr = x + row * x_row;
    const float *rr = r ? r + row * r_row : NULL;
    float v[32];
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < 32; j++) {
        int i = lane + 32 * j;
        v[j] = i < n ? xr[i] + (rr ? rr[i] : 0.f) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < 32; j++) ss += v[j] * v[j];
    ss = warp_sum(ss);
    float inv = rsqrtf(ss / (float)n + eps);
#pragma unroll
    for (int j = 0; j < 32; j++) {
        int i = lane + 32 * j;
        if (i < n) {
            if (sum) sum[row * sum_row + i] = v[j];
            y[row * y_row + i] = v[j] * inv * (w ? w[i] : 1.f);
        }
    }
}
int mlxn_cuda_norm_warp = -1;   /* -1: from MLXN_CUDA_NORM_WARP (default 0) */
extern "C" mlxn_status mlxn_cuda_rms_norm(const float *x, int64_t x_row, const float *r, int64_t r_row, float *sum,
                                          int64_t sum_row, const float *w, float eps, float *y, int64_t y_row,
                                          int64_t ne0, int64_t nrows, void *stream) {
    if (nrows == 0) return MLXN_OK;
    if (mlxn_cuda_norm_warp < 0) {
        const char *e = getenv("MLXN_CUDA_NORM_WARP");
        mlxn_cuda_norm_warp = e && *e == '1' ? 1 : 0;
    }
    if (mlxn_cuda_norm_warp && ne0 <= 1024) {
        CU_TRY(launch(rms_norm_warp_kernel, dim3((unsigned)((nrows + 3) / 4)), dim3(128), stream, x, x_row, r, r_row, sum,
                      sum_row, w, eps, y, y_row, ne0, nrows));
        return MLXN_CUDA_LAUNCHED("rms_norm_warp_kernel");
    }
    const int threads = ne0 >= 1024 ? 1024 : 256;
    if (ne0 <= 4 * threads)
        CU_TRY(launch(rms_norm_kernel<4>, dim3((unsigned)nrows), dim3(threads), stream, x, x_row, r, r_row, sum, sum_row,
                      w, eps, y, y_row, ne0));
    else
        CU_TRY(launch(rms_norm_kernel<0>, dim3((unsigned)nrows), dim3(threads), stream, x, x_row, r, r_row, sum, sum_row,
                      w, eps, y, y_row, ne0));
    return MLXN_CUDA_LAUNCHED("rms_norm_kernel");
}

/* ---- 4-d elementwise ------------------------------------------------------------------------ */
struct Nd { const float *p; int64_t ne[4], st[4]; };
struct Yd { float *p; int64_t st[4]; };
__device__ __forceinline__ void unravel(int64_t i, const int64_t *ne, int64_t *c) {
    c[0] = i % ne[0]; i /= ne[0]; c[1] = i % ne[1]; i /= ne[1]; c[2] = i % ne[2]; c[3] = i / ne[2];
}
/* The same with 32-bit division (every kernel's element count below 2^31 takes it). */
__device__ __forceinline__ void unravel32(int64_t i64, const int64_t *ne, int64_t *c) {
    uint32_t i = (uint32_t)i64, n0 = (uint32_t)ne[0], n1 = (uint32_t)ne[1], n2 = (uint32_t)ne[2];
    c[0] = i % n0; i /= n0; c[1] = i % n1; i /= n1; c[2] = i % n2; c[3] = i / n2;
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
template <bool I32>
__global__ void ew_kernel(int op, Nd a, Nd b, float s, Yd y, int64_t n) {
    pdl_begin();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int64_t c[4];
    if (I32) unravel32(i, a.ne, c);
    else unravel(i, a.ne, c);
    float va = a.p[off(c, a.st)], r;
    switch (op) {
    case 0: r = va + b.p[boff(c, b)]; break;
    case 1: r = va * b.p[boff(c, b)]; break;
    case 2: r = va * s; break;
    case 3: r = silu(va); break;
    case 4: r = gelu_tanh(va); break;
    case 5: r = silu(va) * b.p[off(c, b.st)]; break;
    case 7: r = tanhf(va); break;
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
    if (n < 0x7fffffff) CU_TRY(launch(ew_kernel<true>, dim3(grid_for(n, 256)), dim3(256), stream, op, A, B, s, Y, n));
    else CU_TRY(launch(ew_kernel<false>, dim3(grid_for(n, 256)), dim3(256), stream, op, A, B, s, Y, n));
    return MLXN_CUDA_LAUNCHED("ew_kernel");
}
extern "C" mlxn_status mlxn_cuda_binary(int op, mlxn_cuda_nd a, mlxn_cuda_nd b, float *y, const int64_t *y_st, void *stream) {
    return ew(op == 0 ? 0 : 1, a, &b, 0.f, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_scale(mlxn_cuda_nd x, float s, float *y, const int64_t *y_st, void *stream) {
    return ew(2, x, NULL, s, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_unary(int fn, mlxn_cuda_nd x, float *y, const int64_t *y_st, void *stream) {
    return ew(fn == 0 ? 3 : fn == 2 ? 7 : 4, x, NULL, 0.f, y, y_st, stream);
}
extern "C" mlxn_status mlxn_cuda_glu(int fn, mlxn_cuda_nd gate, mlxn_cuda_nd up, float *y, const int64_t *y_st, void *stream) {
    return ew(fn == 0 ? 5 : 6, gate, &up, 0.f, y, y_st, stream);
}

/* ---- copy with conversion (byte strides) ---------------------------------------------------- */
struct Cp { const uint8_t *s; int64_t snb[4]; uint8_t *d; int64_t dnb[4]; int64_t ne[4]; };
__global__ void copy_kernel(int st, int dt, Cp c, int64_t n) {
    pdl_begin();
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
    CU_TRY(launch(copy_kernel, dim3(grid_for(n, 256)), dim3(256), stream, (int)st, (int)dt, c, n));
    return MLXN_CUDA_LAUNCHED("copy_kernel");
}

/* ---- rope angles: rope.cuh (the fast path by default; MLXN_CUDA_ROPE_F64=1 the first one) ----- */
#define ROPE_TAB 256
struct RopeTab { double f[ROPE_TAB]; };   /* f64 path with MLXN_CUDA_ROPE_TAB=1: base^(-2j/n_rot) */
/* -1: from the environment (MLXN_CUDA_ROPE_F64=1: f64 angles; default: turns); 0 turns; 1 f64 */
int mlxn_cuda_rope_f64 = -1;
static bool rope_f64(void) {
    if (mlxn_cuda_rope_f64 < 0) {
        const char *e = getenv("MLXN_CUDA_ROPE_F64");
        mlxn_cuda_rope_f64 = e && *e == '1' ? 1 : 0;
    }
    return mlxn_cuda_rope_f64 == 1;
}

/* ---- rope, f64 angles: one thread per (pair or pass-through element) ---------------------- */
__device__ __forceinline__ void rope_body(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head,
                                          int64_t y_tok, int64_t hd, int64_t nh, int64_t nt, const int32_t *pos,
                                          const float *ff, int mode, int n_rot, float base, float fscale,
                                          const double *tab) {
    pdl_begin();
    int64_t half = n_rot / 2, per_head = half + (hd - n_rot);
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= per_head * nh * nt) return;
    int64_t j, h, t;
    if (per_head * nh * nt < 0x7fffffff) {   /* 32-bit division */
        uint32_t u = (uint32_t)i, ph = (uint32_t)per_head, unh = (uint32_t)nh;
        j = u % ph; h = (u / ph) % unh; t = u / (ph * unh);
    } else {
        j = i % per_head; h = (i / per_head) % nh; t = i / (per_head * nh);
    }
    const float *xp = x + h * x_head + t * x_tok;
    float *yp = y + h * y_head + t * y_tok;
    if (j >= half) {   /* pass-through dims n_rot..hd-1 */
        int64_t d = n_rot + (j - half);
        yp[d] = xp[d];
        return;
    }
    double fr = tab ? tab[j] : pow((double)base, -2.0 * (double)j / (double)n_rot);
    double theta = (double)pos[t] * (double)fscale * fr;
    if (ff) theta /= (double)ff[j];
    double sn, cs;
    sincos(theta, &sn, &cs);
    int64_t i0 = mode == 0 ? 2 * j : j, i1 = mode == 0 ? 2 * j + 1 : j + half;
    float a = xp[i0], b = xp[i1];
    yp[i0] = (float)(a * cs - b * sn);
    yp[i1] = (float)(a * sn + b * cs);
}
__global__ void rope_kernel(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head, int64_t y_tok,
                            int64_t hd, int64_t nh, int64_t nt, const int32_t *pos, const float *ff, int mode,
                            int n_rot, float base, float fscale) {
    rope_body(x, x_head, x_tok, y, y_head, y_tok, hd, nh, nt, pos, ff, mode, n_rot, base, fscale, NULL);
}
__global__ void rope_tab_kernel(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head, int64_t y_tok,
                                int64_t hd, int64_t nh, int64_t nt, const int32_t *pos, const float *ff, int mode,
                                int n_rot, float base, float fscale, RopeTab tab) {
    rope_body(x, x_head, x_tok, y, y_head, y_tok, hd, nh, nt, pos, ff, mode, n_rot, base, fscale, tab.f);
}

/* ---- rope and rope_kv: one kernel, a thread per item of rope.cuh ----------------------------
 * Per token: every q head rotated into q_out, every k head rotated into the k cache, v into the
 * v cache; rope is the case nkv = 0. */
typedef rk::Args RopeKv;
template <int N, bool F64>
__global__ void rope_kv_kernel(RopeKv a, rk::Turns<N> tab) {
    pdl_begin();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rk::per_tok(a) * a.nt) return;
    rk::item<N, F64>(a, tab, i);
}
template <int N, bool F64>
static mlxn_status rope_kv_launch(const RopeKv &a, int64_t n, void *stream) {
    rk::Turns<N> tab;
    rk::turns_host(&tab, a.n_rot, a.base, a.fscale, a.ff != NULL);
    CU_TRY(launch(rope_kv_kernel<N, F64>, dim3(grid_for(n, 256)), dim3(256), stream, a, tab));
    return MLXN_CUDA_LAUNCHED("rope_kv_kernel");
}
/* The smallest table that holds n_rot/2 pairs (SmolLM2 and Llama: 32 or 64 pairs, a few hundred
 * bytes of parameters); more than 256 pairs: g_j computed per thread. */
static mlxn_status rope_kv_go(const RopeKv &a, void *stream) {
    int64_t n = rk::per_tok(a) * a.nt;
    if (n == 0) return MLXN_OK;
    if (rk::per_tok(a) >= 0x7fffffff)   /* rope.cuh indexes within a token in 32 bits */
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "rope_kv: %lld heads of %lld values in one token is too many for the CUDA kernel",
                         (long long)(a.nh + a.nkv), (long long)a.hd);
    if (rope_f64()) return rope_kv_launch<1, true>(a, n, stream);
    int half = a.n_rot / 2;
    if (half <= 32) return rope_kv_launch<32, false>(a, n, stream);
    if (half <= 64) return rope_kv_launch<64, false>(a, n, stream);
    if (half <= 128) return rope_kv_launch<128, false>(a, n, stream);
    if (half <= 256) return rope_kv_launch<256, false>(a, n, stream);
    return rope_kv_launch<0, false>(a, n, stream);
}

/* -1: from MLXN_CUDA_ROPE_TAB (f64 angles only; default 0); 0: pow on the device; 1: host table */
int mlxn_cuda_rope_tab = -1;
extern "C" mlxn_status mlxn_cuda_rope(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head,
                                      int64_t y_tok, int64_t hd, int64_t nh, int64_t nt, const int32_t *pos,
                                      const float *ff, int mode, int n_rot, float base, float fscale, void *stream) {
    int64_t n = (n_rot / 2 + (hd - n_rot)) * nh * nt;
    if (n == 0) return MLXN_OK;
    if (!rope_f64()) {
        RopeKv a;
        memset(&a, 0, sizeof a);
        a.q = x; a.q_head = x_head; a.q_tok = x_tok;
        a.qo = y; a.qo_head = y_head; a.qo_tok = y_tok;
        a.pos = pos; a.ff = ff; a.mode = mode; a.n_rot = n_rot; a.base = base; a.fscale = fscale;
        a.hd = hd; a.nh = nh; a.nt = nt;
        return rope_kv_go(a, stream);
    }
    if (mlxn_cuda_rope_tab < 0) {
        const char *e = getenv("MLXN_CUDA_ROPE_TAB");
        mlxn_cuda_rope_tab = e && *e == '1' ? 1 : 0;
    }
    if (mlxn_cuda_rope_tab && n_rot / 2 <= ROPE_TAB) {
        RopeTab tab;
        memset(&tab, 0, sizeof tab);
        for (int j = 0; j < n_rot / 2; j++) tab.f[j] = pow((double)base, -2.0 * (double)j / (double)n_rot);
        CU_TRY(launch(rope_tab_kernel, dim3(grid_for(n, 256)), dim3(256), stream, x, x_head, x_tok, y, y_head, y_tok, hd,
                      nh, nt, pos, ff, mode, n_rot, base, fscale, tab));
        return MLXN_CUDA_LAUNCHED("rope_tab_kernel");
    }
    CU_TRY(launch(rope_kernel, dim3(grid_for(n, 256)), dim3(256), stream, x, x_head, x_tok, y, y_head, y_tok, hd, nh, nt,
                  pos, ff, mode, n_rot, base, fscale));
    return MLXN_CUDA_LAUNCHED("rope_kernel");
}

extern "C" mlxn_status mlxn_cuda_rope_kv(const mlxn_cuda_rope_kv_args *p, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    RopeKv a;
    memset(&a, 0, sizeof a);
    a.q = p->q; a.q_head = p->q_head; a.q_tok = p->q_tok;
    a.qo = p->q_out; a.qo_head = p->qo_head; a.qo_tok = p->qo_tok;
    a.k = p->k; a.k_head = p->k_head; a.k_tok = p->k_tok;
    a.v = p->v; a.v_head = p->v_head; a.v_tok = p->v_tok;
    a.kc = p->k_cache; a.kc_pos = p->kc_pos; a.kc_head = p->kc_head;
    a.vc = p->v_cache; a.vc_pos = p->vc_pos; a.vc_head = p->vc_head;
    a.pos = p->pos; a.ff = p->freq_factors; a.err = err;
    a.ct = (int)p->ct; a.mode = p->mode; a.n_rot = p->n_rot; a.base = p->freq_base; a.fscale = p->freq_scale;
    a.hd = p->head_dim; a.hd_v = p->head_dim_v; a.nh = p->n_heads; a.nkv = p->n_kv; a.nt = p->n_tokens; a.n_ctx = p->n_ctx;
    return rope_kv_go(a, stream);
}

/* ---- kv_write: cache[h][pos[t]][:] = src[t][h][:] ------------------------------------------- */
__global__ void kv_write_kernel(const float *src, int64_t s_head, int64_t s_tok, const int32_t *pos, int ct, void *cache,
                                int64_t c_pos, int64_t c_head, int64_t hd, int64_t nkv, int64_t nt, int64_t n_ctx, int *err) {
    pdl_begin();
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= hd * nkv * nt) return;
    int64_t d, h, t;
    if (hd * nkv * nt < 0x7fffffff) {   /* 32-bit division */
        uint32_t u = (uint32_t)i, uhd = (uint32_t)hd, unkv = (uint32_t)nkv;
        d = u % uhd; h = (u / uhd) % unkv; t = u / (uhd * unkv);
    } else {
        d = i % hd; h = (i / hd) % nkv; t = i / (hd * nkv);
    }
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
    CU_TRY(launch(kv_write_kernel, dim3(grid_for(n, 256)), dim3(256), stream, src, s_head, s_tok, pos, (int)ct, cache,
                  c_pos, c_head, hd, nkv, nt, n_ctx, err));
    return MLXN_CUDA_LAUNCHED("kv_write_kernel");
}
