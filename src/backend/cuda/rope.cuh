/* RoPE and rope_kv: the per-thread work of the kernel (elementwise.cu), usable from host code
 * too, so that tests/test_cuda_rope_host.cu runs every thread's item on the CPU machine (no GPU
 * there) and checks the index arithmetic and the angles against the ref backend.
 *
 * Angles (the fast path, default): pair j of a head at position p turns by p * g_j turns with
 * g_j = fscale * base^(-2j/n_rot) / ff[j] / 2pi. For an integer p only frac(g_j) matters; held
 * as a 64-bit fixed-point fraction, the integer product p * frac(g_j) mod 2^64 is the reduced
 * angle to ~2^-32 turns at any i32 position, and sincospif in f32 gives its sine and cosine to
 * ~2e-7 rad (an f32 angle p * f would lose p * 2^-24 rad: 8e-3 rad at 128k). The host computes
 * g_j in double once per launch (the table below, in the kernel's parameters); only freq factors
 * (a device tensor) are divided in per thread, in double. The f64 path (MLXN_CUDA_ROPE_F64=1)
 * is the first version's: a double pow, angle, sine and cosine per thread. */
#ifndef MLXN_BACKEND_CUDA_ROPE_CUH
#define MLXN_BACKEND_CUDA_ROPE_CUH
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include <cuda_bf16.h>
#include "mlxn.h"

#define RK_HD __host__ __device__ __forceinline__

namespace rk {

/* ff_bits = 0: w[j] is frac(g_j) * 2^64; 1: w[j] holds g_j's double bits (divided by ff[j] on
 * the device). N = 0: no table, g_j computed per thread. */
template <int N> struct Turns { unsigned long long w[N > 0 ? N : 1]; int ff_bits; };

/* What one launch of the kernel works on. Element strides. rope is the case nkv = 0. */
struct Args {
    const float *q; int64_t q_head, q_tok;          /* {hd, nh, nt} */
    float *qo; int64_t qo_head, qo_tok;             /* like q (may alias it) */
    const float *k; int64_t k_head, k_tok;          /* {hd, nkv, nt} */
    const float *v; int64_t v_head, v_tok;          /* {hd_v, nkv, nt} */
    void *kc; int64_t kc_pos, kc_head;              /* {hd, n_ctx, nkv} of type ct */
    void *vc; int64_t vc_pos, vc_head;              /* {hd_v, n_ctx, nkv} */
    const int32_t *pos; const float *ff; int *err;
    int ct, mode, n_rot; float base, fscale;
    int64_t hd, hd_v, nh, nkv, nt, n_ctx;
};

/* Items per token: a thread per pair and per pass-through dim of every q and k head, then one
 * per v element. */
RK_HD int64_t per_head(const Args &a) { return a.n_rot / 2 + (a.hd - a.n_rot); }
RK_HD int64_t per_tok(const Args &a) { return (a.nh + a.nkv) * per_head(a) + a.nkv * a.hd_v; }

RK_HD unsigned long long turn_fixed(double g) {
    g -= floor(g);
    return (unsigned long long)(g * 0x1p63) * 2ull;   /* frac(g) * 2^64 mod 2^64, no overflow */
}
RK_HD double g_of(int64_t j, int n_rot, float base, float fscale) {
    return (double)fscale * pow((double)base, -2.0 * (double)j / (double)n_rot) * 0.15915494309189533577;
}
template <int N>
RK_HD unsigned long long turn_of(const Turns<N> &tab, int64_t j, const float *ff, int n_rot, float base, float fscale) {
    double g;
    if constexpr (N > 0) {
        if (!tab.ff_bits) return tab.w[j];
        memcpy(&g, &tab.w[j], sizeof g);
    } else {
        g = g_of(j, n_rot, base, fscale);
    }
    if (ff) g /= (double)ff[j];
    return turn_fixed(g);
}
/* sin and cos of 2 pi * (p * turn / 2^64). */
RK_HD void turn_sincos(unsigned long long turn, int32_t p, float *sn, float *cs) {
    long long r = (long long)((unsigned long long)(long long)p * turn);   /* signed turns * 2^64 */
    float x = (float)r * 0x1p-63f;                                       /* 2 * turns in [-1, 1) */
#ifdef __CUDA_ARCH__
    sincospif(x, sn, cs);
#else
    *sn = (float)sin(3.14159265358979323846 * (double)x);
    *cs = (float)cos(3.14159265358979323846 * (double)x);
#endif
}
/* Host: the table of a launch (pairs beyond N are not needed: N >= n_rot / 2). */
template <int N> inline void turns_host(Turns<N> *t, int n_rot, float base, float fscale, bool with_ff) {
    memset(t, 0, sizeof *t);
    t->ff_bits = with_ff;
    for (int j = 0; j < n_rot / 2 && j < N; j++) {
        double g = g_of(j, n_rot, base, fscale);
        if (with_ff) memcpy(&t->w[j], &g, sizeof g);
        else t->w[j] = turn_fixed(g);
    }
}

RK_HD void store_any(void *p, int64_t o, int ct, float v) {
    if (ct == MLXN_TYPE_F32) ((float *)p)[o] = v;
    else if (ct == MLXN_TYPE_F16) ((__half *)p)[o] = __float2half_rn(v);
    else ((__nv_bfloat16 *)p)[o] = __float2bfloat16_rn(v);
}
RK_HD void flag_pos_error(int *err) {
#ifdef __CUDA_ARCH__
    atomicOr(err, 4);
#else
    *err |= 4;
#endif
}

/* Item i of [0, per_tok * nt): token t = i / per_tok; within the token, q heads, k heads (each
 * per_head items: pairs, then pass-through dims), then v elements. A position outside [0, n_ctx)
 * writes nothing to the caches and sets the error flag (once, by the token's first v item). */
template <int N, bool F64>
RK_HD void item(const Args &a, const Turns<N> &tab, int64_t i) {
    const int64_t half = a.n_rot / 2, ph = per_head(a), nqk = (a.nh + a.nkv) * ph, pt = per_tok(a);
    int64_t t, r;
    if (pt * a.nt < 0x7fffffff) {   /* 32-bit division */
        uint32_t u = (uint32_t)i, upt = (uint32_t)pt;
        t = u / upt; r = u % upt;
    } else {
        t = i / pt; r = i % pt;
    }
    const int32_t p = a.pos[t];
    const bool p_ok = p >= 0 && p < a.n_ctx;
    if (r >= nqk) {   /* v element (r < pt < 2^31: 32-bit division) */
        if (!p_ok) {
            if (r == nqk) flag_pos_error(a.err);
            return;
        }
        const uint32_t e = (uint32_t)(r - nqk), uhv = (uint32_t)a.hd_v;
        const int64_t h = e / uhv, d = e % uhv;
        store_any(a.vc, h * a.vc_head + (int64_t)p * a.vc_pos + d, a.ct, a.v[h * a.v_head + t * a.v_tok + d]);
        return;
    }
    const int64_t h = (uint32_t)r / (uint32_t)ph, j = (uint32_t)r % (uint32_t)ph;
    const bool is_q = h < a.nh;
    if (!is_q && !p_ok) return;
    const float *x = is_q ? a.q + h * a.q_head + t * a.q_tok : a.k + (h - a.nh) * a.k_head + t * a.k_tok;
    float *qo = a.qo + h * a.qo_head + t * a.qo_tok;
    const int64_t kco = (h - a.nh) * a.kc_head + (int64_t)p * a.kc_pos;
    if (j >= half) {   /* pass-through dims n_rot..hd-1 */
        int64_t d = a.n_rot + (j - half);
        if (is_q) qo[d] = x[d];
        else store_any(a.kc, kco + d, a.ct, x[d]);
        return;
    }
    const int64_t i0 = a.mode == 0 ? 2 * j : j, i1 = a.mode == 0 ? 2 * j + 1 : j + half;
    const float xa = x[i0], xb = x[i1];
    float y0, y1;
    if constexpr (F64) {
        double theta = (double)p * (double)a.fscale * pow((double)a.base, -2.0 * (double)j / (double)a.n_rot);
        if (a.ff) theta /= (double)a.ff[j];
        double sn = sin(theta), cs = cos(theta);
        y0 = (float)(xa * cs - xb * sn);
        y1 = (float)(xa * sn + xb * cs);
    } else {
        float sn, cs;
        turn_sincos(turn_of(tab, j, a.ff, a.n_rot, a.base, a.fscale), p, &sn, &cs);
        y0 = xa * cs - xb * sn;
        y1 = xa * sn + xb * cs;
    }
    if (is_q) {
        qo[i0] = y0;
        qo[i1] = y1;
    } else {
        store_any(a.kc, kco + i0, a.ct, y0);
        store_any(a.kc, kco + i1, a.ct, y1);
    }
}

}   // namespace rk
#endif
