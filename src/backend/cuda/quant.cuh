/* Per-type decoding of GGML blocks on the device, in two shapes:
 *  - dot units for the mat-vec: a "unit" is 32 weights of one block, decoded into packed int8
 *    words and multiplied with int8 activations by dp4a (x quantized once per call in 32-element
 *    groups: qx int8, dx = scale, sx = dx * sum(q));
 *  - dq(blk, e): element e of a block as f32 (dequantization, get_rows, the mat-mat route).
 * Block pointers for the mat-vec point into shared memory (2-byte aligned); the formulas follow
 * SPEC-FORMATS.md. */
#ifndef MLXN_BACKEND_CUDA_QUANT_CUH
#define MLXN_BACKEND_CUDA_QUANT_CUH
#include "backend/cuda/common.cuh"
#include "backend/cuda/bits.cuh"

/* Activations of up to 8 columns quantized to int8 in 32-element groups. Column c of a kernel
 * call reads q + oq[c] and d/s + od[c] (so a call may gather arbitrary columns: the grouped
 * mul_mat_id route does). */
struct XQ {
    const int8_t *q;  /* column element e: q[oq[c] + e] */
    const float *d;   /* group scale: d[od[c] + e/32] */
    const float *s;   /* d * sum(q of the group) */
    int64_t oq[8], od[8];
};

__device__ __forceinline__ int4 xq16(const XQ &x, int c, int64_t e) { return *(const int4 *)(x.q + x.oq[c] + e); }
__device__ __forceinline__ int2 xq8(const XQ &x, int c, int64_t e) { return *(const int2 *)(x.q + x.oq[c] + e); }
__device__ __forceinline__ float xd(const XQ &x, int c, int64_t e) { return x.d[x.od[c] + (e >> 5)]; }
__device__ __forceinline__ float xs(const XQ &x, int c, int64_t e) { return x.s[x.od[c] + (e >> 5)]; }

using qb::spread4; using qb::lut16; using qb::ldw2; using qb::wbyte; using qb::kscale_min;

__device__ __forceinline__ void kscale_min(const uint8_t *s, int j, int &sc, int &m) {
    if (j < 4) { sc = s[j] & 63; m = s[j + 4] & 63; }
    else { sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4); m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4); }
}
/* Types whose block size is a multiple of 4 (Q4_1, Q5_1, Q2_K, Q4_K, Q5_K, IQ4_XS) are only sent
 * to the int8 route with 4-aligned rows (mmv.cu checks), so their words are single 32-bit loads. */
__device__ __forceinline__ uint32_t ld32a4(const uint8_t *p) { return *(const uint32_t *)p; }
__device__ __forceinline__ int q3k_scale(const uint8_t *s, int i) {
    int lo = i < 8 ? (s[i] & 15) : (s[i - 8] >> 4);
    int hi = (s[8 + (i & 3)] >> (2 * (i >> 2))) & 3;
    return (lo | (hi << 4)) - 32;
}
__device__ __forceinline__ float e8m0_half(uint8_t e) {  /* 2^(e-128); e = 0, 1 are subnormal */
    return __uint_as_float(e < 2 ? (0x00200000u << e) : ((uint32_t)(e - 1) << 23));
}

/* ---- type table ------------------------------------------------------------------------- */
template <int T> struct QT;
#define QT_DEF(T_, QK_, BB_, UPB_) template <> struct QT<T_> { enum { QK = QK_, BB = BB_, UPB = UPB_ }; };
QT_DEF(MLXN_TYPE_Q4_0, 32, 18, 1)
QT_DEF(MLXN_TYPE_Q4_1, 32, 20, 1)
QT_DEF(MLXN_TYPE_Q5_0, 32, 22, 1)
QT_DEF(MLXN_TYPE_Q5_1, 32, 24, 1)
QT_DEF(MLXN_TYPE_Q8_0, 32, 34, 1)
QT_DEF(MLXN_TYPE_Q2_K, 256, 84, 8)
QT_DEF(MLXN_TYPE_Q3_K, 256, 110, 8)
QT_DEF(MLXN_TYPE_Q4_K, 256, 144, 8)
QT_DEF(MLXN_TYPE_Q5_K, 256, 176, 8)
QT_DEF(MLXN_TYPE_Q6_K, 256, 210, 8)
QT_DEF(MLXN_TYPE_IQ4_NL, 32, 18, 1)
QT_DEF(MLXN_TYPE_IQ4_XS, 256, 136, 8)
QT_DEF(MLXN_TYPE_MXFP4, 32, 17, 1)
#undef QT_DEF

/* ---- dot units: acc[c] += sum over the unit's 32 weights * x of column c -------------------
 * b: block start; u: unit in block; e0: element index of the block's first weight in the row. */
template <int T, int NC> struct Unit;

/* Legacy 32-element blocks: lo[i] holds elements 4i..4i+3, hi[i] elements 16+4i.., as signed
 * int8 (offset already removed) unless the type has a min (Q4_1, Q5_1). */
template <int NC> __device__ __forceinline__ void legacy_dot(const int lo[4], const int hi[4], const XQ &x,
                                                             int64_t e0, float d, float m, bool has_m,
                                                             float *acc) {
#pragma unroll
    for (int c = 0; c < NC; c++) {
        int4 a = xq16(x, c, e0), bq = xq16(x, c, e0 + 16);
        int s = __dp4a(lo[0], a.x, 0);
        s = __dp4a(lo[1], a.y, s); s = __dp4a(lo[2], a.z, s); s = __dp4a(lo[3], a.w, s);
        s = __dp4a(hi[0], bq.x, s); s = __dp4a(hi[1], bq.y, s); s = __dp4a(hi[2], bq.z, s); s = __dp4a(hi[3], bq.w, s);
        acc[c] += d * xd(x, c, e0) * (float)s + (has_m ? m * xs(x, c, e0) : 0.f);
    }
}

template <int NC> struct Unit<MLXN_TYPE_Q4_0, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        float d = h2f(ld16(b));
        int lo[4], hi[4];
        uint32_t qw[4];
        ldw2<4>(b + 2, qw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t w = qw[i];
            lo[i] = (int)__vsub4(w & 0x0F0F0F0Fu, 0x08080808u);
            hi[i] = (int)__vsub4((w >> 4) & 0x0F0F0F0Fu, 0x08080808u);
        }
        legacy_dot<NC>(lo, hi, x, e0, d, 0.f, false, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q4_1, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        uint32_t dm = ld32a4(b);
        float d = h2f((uint16_t)(dm & 0xffff)), m = h2f((uint16_t)(dm >> 16));
        int lo[4], hi[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t w = ld32a4(b + 4 + 4 * i);
            lo[i] = (int)(w & 0x0F0F0F0Fu);
            hi[i] = (int)((w >> 4) & 0x0F0F0F0Fu);
        }
        legacy_dot<NC>(lo, hi, x, e0, d, m, true, acc);
    }
};
template <int NC> __device__ __forceinline__ void q5_words(const uint8_t *qs, uint32_t h, bool sub, int lo[4], int hi[4]) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t w = ld32a2(qs + 4 * i);
        uint32_t l = (w & 0x0F0F0F0Fu) | (spread4((h >> (4 * i)) & 15u) << 4);
        uint32_t g = ((w >> 4) & 0x0F0F0F0Fu) | (spread4((h >> (16 + 4 * i)) & 15u) << 4);
        lo[i] = (int)(sub ? __vsub4(l, 0x10101010u) : l);
        hi[i] = (int)(sub ? __vsub4(g, 0x10101010u) : g);
    }
}
__device__ __forceinline__ void q5_words_a4(const uint8_t *qs, uint32_t h, int lo[4], int hi[4]) {
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t w = ld32a4(qs + 4 * i);
        lo[i] = (int)((w & 0x0F0F0F0Fu) | (spread4((h >> (4 * i)) & 15u) << 4));
        hi[i] = (int)(((w >> 4) & 0x0F0F0F0Fu) | (spread4((h >> (16 + 4 * i)) & 15u) << 4));
    }
}
template <int NC> struct Unit<MLXN_TYPE_Q5_0, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        int lo[4], hi[4];
        uint32_t hw[5];
        ldw2<5>(b + 2, hw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t h = hw[0], w = hw[1 + i];
            uint32_t l = (w & 0x0F0F0F0Fu) | (spread4((h >> (4 * i)) & 15u) << 4);
            uint32_t g = ((w >> 4) & 0x0F0F0F0Fu) | (spread4((h >> (16 + 4 * i)) & 15u) << 4);
            lo[i] = (int)__vsub4(l, 0x10101010u);
            hi[i] = (int)__vsub4(g, 0x10101010u);
        }
        legacy_dot<NC>(lo, hi, x, e0, h2f(ld16(b)), 0.f, false, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q5_1, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        int lo[4], hi[4];
        uint32_t dm = ld32a4(b);
        q5_words_a4(b + 8, ld32a4(b + 4), lo, hi);
        legacy_dot<NC>(lo, hi, x, e0, h2f((uint16_t)(dm & 0xffff)), h2f((uint16_t)(dm >> 16)), true, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_IQ4_NL, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        int lo[4], hi[4];
        uint32_t qw[4];
        ldw2<4>(b + 2, qw);
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t w = qw[i];
            lo[i] = lut16(w & 0x0F0F0F0Fu, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
            hi[i] = lut16((w >> 4) & 0x0F0F0F0Fu, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
        }
        legacy_dot<NC>(lo, hi, x, e0, h2f(ld16(b)), 0.f, false, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_MXFP4, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        int lo[4], hi[4];
        /* 17-byte blocks: qs may sit at an odd address; assemble words from bytes. */
#pragma unroll
        for (int i = 0; i < 4; i++) {
            const uint8_t *p = b + 1 + 4 * i;
            uint32_t w = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
            lo[i] = lut16(w & 0x0F0F0F0Fu, MXF_T0, MXF_T1, MXF_T2, MXF_T3);
            hi[i] = lut16((w >> 4) & 0x0F0F0F0Fu, MXF_T0, MXF_T1, MXF_T2, MXF_T3);
        }
        legacy_dot<NC>(lo, hi, x, e0, e8m0_half(b[0]), 0.f, false, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q8_0, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int, const XQ &x, int64_t e0, float *acc) {
        float d = h2f(ld16(b));
        int w[8];
        ldw2<8>(b + 2, (uint32_t *)w);
#pragma unroll
        for (int c = 0; c < NC; c++) {
            int4 a = xq16(x, c, e0), bq = xq16(x, c, e0 + 16);
            int s = __dp4a(w[0], a.x, 0);
            s = __dp4a(w[1], a.y, s); s = __dp4a(w[2], a.z, s); s = __dp4a(w[3], a.w, s);
            s = __dp4a(w[4], bq.x, s); s = __dp4a(w[5], bq.y, s); s = __dp4a(w[6], bq.z, s); s = __dp4a(w[7], bq.w, s);
            acc[c] += d * xd(x, c, e0) * (float)s;
        }
    }
};
/* Q2_K / Q3_K / Q6_K: unit u = (half n = u/4, quarter q = u%4) covers l in [8q, 8q+8) of the
 * half for all four 32-element groups j: element 128n + 32j + l. */
template <int NC> struct Unit<MLXN_TYPE_Q2_K, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int u, const XQ &x, int64_t e0, float *acc) {
        int n = u >> 2, q = u & 3, l0 = 8 * q;
        uint32_t w0 = ld32a4(b + 16 + 32 * n + l0), w1 = ld32a4(b + 20 + 32 * n + l0);
        uint32_t dm = ld32a4(b + 80);
        float d = h2f((uint16_t)(dm & 0xffff)), dmin = h2f((uint16_t)(dm >> 16));
        /* the 8 scale bytes of this half: j-th pair at 2j, 2j+1 */
        uint32_t s0 = ld32a4(b + 8 * n), s1 = ld32a4(b + 8 * n + 4);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int a0 = (int)((w0 >> (2 * j)) & 0x03030303u), a1 = (int)((w1 >> (2 * j)) & 0x03030303u);
            uint32_t sw = j < 2 ? s0 : s1;
            int sc = (int)((sw >> (8 * (2 * (j & 1) + (q >> 1)))) & 255u);
            float fd = d * (float)(sc & 15), fm = dmin * (float)(sc >> 4);
            int64_t e = e0 + 128 * n + 32 * j + l0;
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int2 xv = xq8(x, c, e);
                int dot = __dp4a(a1, xv.y, __dp4a(a0, xv.x, 0));
                int sum = __dp4a(0x01010101, xv.y, __dp4a(0x01010101, xv.x, 0));
                acc[c] += xd(x, c, e) * (fd * (float)dot - fm * (float)sum);
            }
        }
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q3_K, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int u, const XQ &x, int64_t e0, float *acc) {
        int n = u >> 2, q = u & 3, l0 = 8 * q;
        uint32_t ww[2], hh[2], sw[3];
        ldw2<2>(b + 32 + 32 * n + l0, ww);
        ldw2<2>(b + l0, hh);
        ldw2<3>(b + 96, sw);
        const uint32_t w0 = ww[0], w1 = ww[1], h0 = hh[0], h1 = hh[1];
        float d = h2f(ld16(b + 108));
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int sh = 4 * n + j;
            int a0 = (int)__vsub4(((w0 >> (2 * j)) & 0x03030303u) | (((h0 >> sh) & 0x01010101u) << 2), 0x04040404u);
            int a1 = (int)__vsub4(((w1 >> (2 * j)) & 0x03030303u) | (((h1 >> sh) & 0x01010101u) << 2), 0x04040404u);
            const int si = 8 * n + 2 * j + (q >> 1);
            const int slo = si < 8 ? (int)(wbyte(sw[0], sw[1], sw[2], si) & 15) : (int)(wbyte(sw[0], sw[1], sw[2], si - 8) >> 4);
            const int shi = (int)((wbyte(sw[0], sw[1], sw[2], 8 + (si & 3)) >> (2 * (si >> 2))) & 3);
            float fd = d * (float)((slo | (shi << 4)) - 32);
            int64_t e = e0 + 128 * n + 32 * j + l0;
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int2 xv = xq8(x, c, e);
                acc[c] += xd(x, c, e) * fd * (float)__dp4a(a1, xv.y, __dp4a(a0, xv.x, 0));
            }
        }
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q6_K, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int u, const XQ &x, int64_t e0, float *acc) {
        int n = u >> 2, q = u & 3, l0 = 8 * q;
        const uint8_t *ql = b + 64 * n + l0, *qh = b + 128 + 32 * n + l0;
        uint32_t A[2], B[2], H[2], S[2];
        ldw2<2>(ql, A);
        ldw2<2>(ql + 32, B);
        ldw2<2>(qh, H);
        ldw2<2>(b + 192 + 8 * n, S);
        float d = h2f(ld16(b + 208));
        int v[4][2];
#pragma unroll
        for (int i = 0; i < 2; i++) {
            v[0][i] = (int)__vsub4((A[i] & 0x0F0F0F0Fu) | ((H[i] << 4) & 0x30303030u), 0x20202020u);
            v[1][i] = (int)__vsub4((B[i] & 0x0F0F0F0Fu) | ((H[i] << 2) & 0x30303030u), 0x20202020u);
            v[2][i] = (int)__vsub4(((A[i] >> 4) & 0x0F0F0F0Fu) | (H[i] & 0x30303030u), 0x20202020u);
            v[3][i] = (int)__vsub4(((B[i] >> 4) & 0x0F0F0F0Fu) | ((H[i] >> 2) & 0x30303030u), 0x20202020u);
        }
#pragma unroll
        for (int m = 0; m < 4; m++) {
            const int si = 2 * m + (q >> 1);
            float fd = d * (float)(int8_t)((S[si >> 2] >> (8 * (si & 3))) & 255u);
            int64_t e = e0 + 128 * n + 32 * m + l0;
#pragma unroll
            for (int c = 0; c < NC; c++) {
                int2 xv = xq8(x, c, e);
                acc[c] += xd(x, c, e) * fd * (float)__dp4a(v[m][1], xv.y, __dp4a(v[m][0], xv.x, 0));
            }
        }
    }
};
/* Q4_K / Q5_K: unit u = (chunk c = u/2, half h = u%2): qs[32c + 16h .. +16], low nibbles are
 * elements 64c + 16h + i, high nibbles 64c + 32 + 16h + i. */
template <int NC, bool Q5> __device__ __forceinline__ void q45k_unit(const uint8_t *b, int u, const XQ &x,
                                                                     int64_t e0, float *acc) {
    int cc = u >> 1, h = u & 1;
    const uint8_t *qs = b + (Q5 ? 48 : 16) + 32 * cc + 16 * h;
    uint32_t dm = ld32a4(b);
    float d = h2f((uint16_t)(dm & 0xffff)), dmin = h2f((uint16_t)(dm >> 16));
    uint32_t s0 = ld32a4(b + 4), s1 = ld32a4(b + 8), s2 = ld32a4(b + 12);
    int sc0, m0, sc1, m1;
    kscale_min(s0, s1, s2, 2 * cc, sc0, m0);
    kscale_min(s0, s1, s2, 2 * cc + 1, sc1, m1);
    uint32_t wq[4], wh[4];
    if (((uintptr_t)qs & 15) == 0) {   /* rows 16-aligned (the usual case): one 16-byte load */
        uint4 v = *(const uint4 *)qs;
        wq[0] = v.x; wq[1] = v.y; wq[2] = v.z; wq[3] = v.w;
    } else {
#pragma unroll
        for (int i = 0; i < 4; i++) wq[i] = ld32a4(qs + 4 * i);
    }
    if (Q5) {
        const uint8_t *qhp = b + 16 + 16 * h;
        if (((uintptr_t)qhp & 15) == 0) {
            uint4 v = *(const uint4 *)qhp;
            wh[0] = v.x; wh[1] = v.y; wh[2] = v.z; wh[3] = v.w;
        } else {
#pragma unroll
            for (int i = 0; i < 4; i++) wh[i] = ld32a4(qhp + 4 * i);
        }
    }
    int lo[4], hi[4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t w = wq[i];
        uint32_t l = w & 0x0F0F0F0Fu, g = (w >> 4) & 0x0F0F0F0Fu;
        if (Q5) {
            uint32_t qh = wh[i];
            l |= ((qh >> (2 * cc)) & 0x01010101u) << 4;
            g |= ((qh >> (2 * cc + 1)) & 0x01010101u) << 4;
        }
        lo[i] = (int)l; hi[i] = (int)g;
    }
    int64_t el = e0 + 64 * cc + 16 * h, eh = el + 32;
    float d0 = d * (float)sc0, n0 = dmin * (float)m0, d1 = d * (float)sc1, n1 = dmin * (float)m1;
#pragma unroll
    for (int c = 0; c < NC; c++) {
        int4 a = xq16(x, c, el), bq = xq16(x, c, eh);
        int s0 = __dp4a(lo[3], a.w, __dp4a(lo[2], a.z, __dp4a(lo[1], a.y, __dp4a(lo[0], a.x, 0))));
        int s1 = __dp4a(hi[3], bq.w, __dp4a(hi[2], bq.z, __dp4a(hi[1], bq.y, __dp4a(hi[0], bq.x, 0))));
        int u0 = __dp4a(0x01010101, a.w, __dp4a(0x01010101, a.z, __dp4a(0x01010101, a.y, __dp4a(0x01010101, a.x, 0))));
        int u1 = __dp4a(0x01010101, bq.w, __dp4a(0x01010101, bq.z, __dp4a(0x01010101, bq.y, __dp4a(0x01010101, bq.x, 0))));
        acc[c] += xd(x, c, el) * (d0 * (float)s0 - n0 * (float)u0) + xd(x, c, eh) * (d1 * (float)s1 - n1 * (float)u1);
    }
}
template <int NC> struct Unit<MLXN_TYPE_Q4_K, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int u, const XQ &x, int64_t e0, float *acc) {
        q45k_unit<NC, false>(b, u, x, e0, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_Q5_K, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int u, const XQ &x, int64_t e0, float *acc) {
        q45k_unit<NC, true>(b, u, x, e0, acc);
    }
};
template <int NC> struct Unit<MLXN_TYPE_IQ4_XS, NC> {
    static __device__ __forceinline__ void run(const uint8_t *b, int ib, const XQ &x, int64_t e0, float *acc) {
        uint32_t dsh = ld32a4(b), sl = ld32a4(b + 4);
        float d = h2f((uint16_t)(dsh & 0xffff));
        uint32_t sh = dsh >> 16;
        int ls = (int)((sl >> (4 * ib)) & 15) | (int)(((sh >> (2 * ib)) & 3) << 4);
        int lo[4], hi[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            uint32_t w = ld32a4(b + 8 + 16 * ib + 4 * i);
            lo[i] = lut16(w & 0x0F0F0F0Fu, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
            hi[i] = lut16((w >> 4) & 0x0F0F0F0Fu, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
        }
        legacy_dot<NC>(lo, hi, x, e0 + 32 * ib, d * (float)(ls - 32), 0.f, false, acc);
    }
};

/* ---- element decoder (dequantization): element e (0..QK-1) of block b --------------------- */
__device__ __forceinline__ float dq_elem(mlxn_type t, const uint8_t *b, int e) {
    const int8_t K[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    switch (t) {
    case MLXN_TYPE_Q4_0: { int v = e < 16 ? (b[2 + e] & 15) : (b[2 + e - 16] >> 4); return h2f(ld16(b)) * (v - 8); }
    case MLXN_TYPE_Q4_1: { int v = e < 16 ? (b[4 + e] & 15) : (b[4 + e - 16] >> 4); return h2f(ld16(b)) * v + h2f(ld16(b + 2)); }
    case MLXN_TYPE_Q5_0: case MLXN_TYPE_Q5_1: {
        bool m = t == MLXN_TYPE_Q5_1;
        uint32_t h = ld32a2(b + (m ? 4 : 2));
        const uint8_t *qs = b + (m ? 8 : 6);
        int v = (e < 16 ? (qs[e] & 15) : (qs[e - 16] >> 4)) | (((h >> e) & 1) << 4);
        return m ? h2f(ld16(b)) * v + h2f(ld16(b + 2)) : h2f(ld16(b)) * (v - 16);
    }
    case MLXN_TYPE_Q8_0: return h2f(ld16(b)) * (float)(int8_t)b[2 + e];
    case MLXN_TYPE_Q8_1: return h2f(ld16(b)) * (float)(int8_t)b[4 + e];
    case MLXN_TYPE_Q8_K: return __uint_as_float((uint32_t)ld16(b) | ((uint32_t)ld16(b + 2) << 16)) * (float)(int8_t)b[4 + e];
    case MLXN_TYPE_IQ4_NL: { int v = e < 16 ? (b[2 + e] & 15) : (b[2 + e - 16] >> 4); return h2f(ld16(b)) * K[v]; }
    case MLXN_TYPE_MXFP4: {
        const int8_t F[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
        int v = e < 16 ? (b[1 + e] & 15) : (b[1 + e - 16] >> 4);
        return e8m0_half(b[0]) * F[v];
    }
    case MLXN_TYPE_Q2_K: {
        int n = e >> 7, r = e & 127, j = r >> 5, l = r & 31;
        int q = (b[16 + 32 * n + l] >> (2 * j)) & 3, sc = b[e >> 4];
        return h2f(ld16(b + 80)) * (sc & 15) * q - h2f(ld16(b + 82)) * (sc >> 4);
    }
    case MLXN_TYPE_Q3_K: {
        int n = e >> 7, r = e & 127, j = r >> 5, l = r & 31;
        int q = (b[32 + 32 * n + l] >> (2 * j)) & 3, hb = (b[l] >> (4 * n + j)) & 1;
        return h2f(ld16(b + 108)) * q3k_scale(b + 96, e >> 4) * (q - (hb ? 0 : 4));
    }
    case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K: {
        bool q5 = t == MLXN_TYPE_Q5_K;
        int c = e >> 6, hi = (e >> 5) & 1, l = e & 31, sc, m;
        kscale_min(b + 4, 2 * c + hi, sc, m);
        int v = (b[(q5 ? 48 : 16) + 32 * c + l] >> (4 * hi)) & 15;
        if (q5) v |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
        return h2f(ld16(b)) * sc * v - h2f(ld16(b + 2)) * m;
    }
    case MLXN_TYPE_Q6_K: {
        int n = e >> 7, r = e & 127, g = r >> 5, l = r & 31;
        const uint8_t *ql = b + 64 * n, *qh = b + 128 + 32 * n;
        int lo = (g & 1) ? ql[l + 32] : ql[l];
        lo = (g & 2) ? (lo >> 4) : (lo & 15);
        int q = lo | (((qh[l] >> (2 * g)) & 3) << 4);
        return h2f(ld16(b + 208)) * (float)(int8_t)b[192 + (e >> 4)] * (q - 32);
    }
    case MLXN_TYPE_IQ4_XS: {
        int ib = e >> 5, j = e & 31;
        int ls = ((b[4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((ld16(b + 2) >> (2 * ib)) & 3) << 4);
        int v = j < 16 ? (b[8 + 16 * ib + j] & 15) : (b[8 + 16 * ib + j - 16] >> 4);
        return h2f(ld16(b)) * (ls - 32) * K[v];
    }
    case MLXN_TYPE_F16: return h2f(ld16(b));
    case MLXN_TYPE_BF16: return bf2f(ld16(b));
    case MLXN_TYPE_F32: return *(const float *)b;
    default: return 0.f;
    }
}
/* ---- 32 consecutive elements e0..e0+31 of a block (e0 a multiple of 32) --------------------
 * The dequantization route (get_rows, the mat-mat's f16 weights): scales and mins are derived
 * once per 32 elements instead of once per element as dq_elem does. Equal to dq_elem bit for bit
 * (checked on the host). */
__device__ __forceinline__ void dq32(mlxn_type t, const uint8_t *b, int e0, float *o) {
    const int8_t K[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    switch (t) {
    case MLXN_TYPE_Q4_0: case MLXN_TYPE_Q4_1: case MLXN_TYPE_IQ4_NL: {
        float d = h2f(ld16(b)), m = t == MLXN_TYPE_Q4_1 ? h2f(ld16(b + 2)) : 0.f;
        const uint8_t *qs = b + (t == MLXN_TYPE_Q4_1 ? 4 : 2);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            int lo = qs[i] & 15, hi = qs[i] >> 4;
            if (t == MLXN_TYPE_Q4_0) { o[i] = d * (lo - 8); o[i + 16] = d * (hi - 8); }
            else if (t == MLXN_TYPE_Q4_1) { o[i] = d * lo + m; o[i + 16] = d * hi + m; }
            else { o[i] = d * K[lo]; o[i + 16] = d * K[hi]; }
        }
        return;
    }
    case MLXN_TYPE_Q5_0: case MLXN_TYPE_Q5_1: {
        bool m1 = t == MLXN_TYPE_Q5_1;
        float d = h2f(ld16(b)), m = m1 ? h2f(ld16(b + 2)) : 0.f;
        uint32_t h = ld32a2(b + (m1 ? 4 : 2));
        const uint8_t *qs = b + (m1 ? 8 : 6);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            int lo = (qs[i] & 15) | (((h >> i) & 1) << 4), hi = (qs[i] >> 4) | (((h >> (i + 16)) & 1) << 4);
            if (m1) { o[i] = d * lo + m; o[i + 16] = d * hi + m; }
            else { o[i] = d * (lo - 16); o[i + 16] = d * (hi - 16); }
        }
        return;
    }
    case MLXN_TYPE_Q8_0: case MLXN_TYPE_Q8_1: {
        float d = h2f(ld16(b));
        const int8_t *qs = (const int8_t *)b + (t == MLXN_TYPE_Q8_1 ? 4 : 2);
#pragma unroll
        for (int i = 0; i < 32; i++) o[i] = d * (float)qs[i];
        return;
    }
    case MLXN_TYPE_Q8_K: {
        float d = __uint_as_float((uint32_t)ld16(b) | ((uint32_t)ld16(b + 2) << 16));
#pragma unroll
        for (int i = 0; i < 32; i++) o[i] = d * (float)(int8_t)b[4 + e0 + i];
        return;
    }
    case MLXN_TYPE_MXFP4: {
        const int8_t F[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
        float d = e8m0_half(b[0]);
#pragma unroll
        for (int i = 0; i < 16; i++) { o[i] = d * F[b[1 + i] & 15]; o[i + 16] = d * F[b[1 + i] >> 4]; }
        return;
    }
    case MLXN_TYPE_Q2_K: {
        int n = e0 >> 7, j = (e0 & 127) >> 5;
        float d = h2f(ld16(b + 80)), dm = h2f(ld16(b + 82));
        int s0 = b[e0 >> 4], s1 = b[(e0 >> 4) + 1];
#pragma unroll
        for (int l = 0; l < 32; l++) {
            int q = (b[16 + 32 * n + l] >> (2 * j)) & 3, sc = l < 16 ? s0 : s1;
            o[l] = d * (sc & 15) * q - dm * (sc >> 4);
        }
        return;
    }
    case MLXN_TYPE_Q3_K: {
        int n = e0 >> 7, j = (e0 & 127) >> 5;
        float d = h2f(ld16(b + 108));
        int s0 = q3k_scale(b + 96, e0 >> 4), s1 = q3k_scale(b + 96, (e0 >> 4) + 1);
#pragma unroll
        for (int l = 0; l < 32; l++) {
            int q = (b[32 + 32 * n + l] >> (2 * j)) & 3, hb = (b[l] >> (4 * n + j)) & 1;
            o[l] = d * (l < 16 ? s0 : s1) * (q - (hb ? 0 : 4));
        }
        return;
    }
    case MLXN_TYPE_Q4_K: case MLXN_TYPE_Q5_K: {
        bool q5 = t == MLXN_TYPE_Q5_K;
        int c = e0 >> 6, hi = (e0 >> 5) & 1, sc, m;
        kscale_min(b + 4, 2 * c + hi, sc, m);
        float d = h2f(ld16(b)), dm = h2f(ld16(b + 2));
#pragma unroll
        for (int l = 0; l < 32; l++) {
            int v = (b[(q5 ? 48 : 16) + 32 * c + l] >> (4 * hi)) & 15;
            if (q5) v |= ((b[16 + l] >> (2 * c + hi)) & 1) << 4;
            o[l] = d * sc * v - dm * m;
        }
        return;
    }
    case MLXN_TYPE_Q6_K: {
        int n = e0 >> 7, g = (e0 & 127) >> 5;
        const uint8_t *ql = b + 64 * n + ((g & 1) ? 32 : 0), *qh = b + 128 + 32 * n;
        float d = h2f(ld16(b + 208));
        float f0 = d * (float)(int8_t)b[192 + (e0 >> 4)], f1 = d * (float)(int8_t)b[192 + (e0 >> 4) + 1];
#pragma unroll
        for (int l = 0; l < 32; l++) {
            int lo = (g & 2) ? (ql[l] >> 4) : (ql[l] & 15);
            int q = lo | (((qh[l] >> (2 * g)) & 3) << 4);
            o[l] = (l < 16 ? f0 : f1) * (q - 32);
        }
        return;
    }
    case MLXN_TYPE_IQ4_XS: {
        int ib = e0 >> 5;
        int ls = ((b[4 + (ib >> 1)] >> (4 * (ib & 1))) & 15) | (((ld16(b + 2) >> (2 * ib)) & 3) << 4);
        float d = h2f(ld16(b)) * (ls - 32);
#pragma unroll
        for (int i = 0; i < 16; i++) { int q = b[8 + 16 * ib + i]; o[i] = d * K[q & 15]; o[i + 16] = d * K[q >> 4]; }
        return;
    }
    default:
        for (int i = 0; i < 32; i++) o[i] = dq_elem(t, b, e0 + i);
        return;
    }
}
#endif
