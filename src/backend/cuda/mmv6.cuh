/* Mat-vec v6: the per-type pieces that do not depend on the GPU, usable from host code too, so
 * that tests/test_cuda_mmv6_host.cu checks them on the CPU machine (CI has nvcc but no GPU):
 *  - where each quantized activation element goes in shared memory (the layout is chosen per
 *    type so that the 32 lanes of a warp read their units' activations without bank conflicts);
 *  - the activation quantization of 4 elements (int8 per 32-element group: scale d = max|x|/127,
 *    q = round(x / d), and d * sum(q) for the types with a minimum);
 *  - the dot of one 32-weight unit of a block (in shared memory) with the activations, in the
 *    same arithmetic as the kernel (dp4a, the block formulas of SPEC-FORMATS.md).
 * The kernel itself (weights streamed by the tensor memory accelerator) is in mmv6.cu. */
#ifndef MLXN_BACKEND_CUDA_MMV6_CUH
#define MLXN_BACKEND_CUDA_MMV6_CUH
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>
#include "mlxn.h"
#include "backend/cuda/bits.cuh"
#define V6_HD QB_HD

namespace v6 {

/* the shared bit helpers (bits.cuh), visible here unqualified */
using qb::dp4a; using qb::vsub4; using qb::byte_perm; using qb::fshr; using qb::h2f; using qb::bf2f;
using qb::rint_i; using qb::ld16; using qb::ld32; using qb::ldw2; using qb::spread4; using qb::lut16;
using qb::wbyte; using qb::kscale_min;
V6_HD int4 ldx16(const uint8_t *p) { return *(const int4 *)p; }
V6_HD int2 ldx8(const uint8_t *p) { return *(const int2 *)p; }
#define V6_M4 0x0F0F0F0Fu
#define V6_ONES 0x01010101

/* ---- per-type traits ----------------------------------------------------------------------
 * QK elements and BB bytes per block, UPB units (32 weights) per block, SP passes per stage (a
 * pass = the 32 units of a warp), GR blocks per granule (a warp's range starts at a granule
 * boundary so every stage copy is 16-byte aligned when the rows are), LAY the activation layout:
 *   LEG  (32-element blocks): group g's first 16 bytes at 16 g, its last 16 at 16 (G + g);
 *   K16A (Q4_K, Q5_K): per 256-element block, 16-byte chunk 4c + 2t + h at position 8t + 2c + h;
 *   K16B (IQ4_XS): chunk 2i + t at position 8t + i;
 *   K8   (Q2_K, Q3_K, Q6_K): 8-byte chunk 16n + 4m + q at position 8 (m ^ (block & 1)) + 4n + q;
 *   FLT  (F16, BF16): the f32 activations as they are.
 * Every 32-element group also has 4 floats after the int8 bytes: d, d * sum q, and d * sum q over
 * its first and over its last 16 elements. */
enum { LEG = 0, K16A = 1, K16B = 2, K8 = 3, FLT = 4 };
template <int T> struct Tr;
#define V6_TR(T_, QK_, BB_, UPB_, SP_, GR_, LAY_) \
    template <> struct Tr<T_> { enum { QK = QK_, BB = BB_, UPB = UPB_, SP = SP_, GR = GR_, LAY = LAY_ }; };
V6_TR(MLXN_TYPE_Q4_0, 32, 18, 1, 4, 32, LEG)
V6_TR(MLXN_TYPE_Q4_1, 32, 20, 1, 4, 32, LEG)
V6_TR(MLXN_TYPE_Q5_0, 32, 22, 1, 4, 32, LEG)
V6_TR(MLXN_TYPE_Q5_1, 32, 24, 1, 4, 32, LEG)
V6_TR(MLXN_TYPE_Q8_0, 32, 34, 1, 3, 32, LEG)
V6_TR(MLXN_TYPE_IQ4_NL, 32, 18, 1, 4, 32, LEG)
V6_TR(MLXN_TYPE_Q2_K, 256, 84, 8, 8, 4, K8)
V6_TR(MLXN_TYPE_Q3_K, 256, 110, 8, 6, 8, K8)
V6_TR(MLXN_TYPE_Q4_K, 256, 144, 8, 4, 4, K16A)
V6_TR(MLXN_TYPE_Q5_K, 256, 176, 8, 4, 4, K16A)
V6_TR(MLXN_TYPE_Q6_K, 256, 210, 8, 4, 8, K8)
V6_TR(MLXN_TYPE_IQ4_XS, 256, 136, 8, 4, 4, K16B)
V6_TR(MLXN_TYPE_F16, 8, 16, 1, 8, 32, FLT)
V6_TR(MLXN_TYPE_BF16, 8, 16, 1, 8, 32, FLT)
#undef V6_TR

/* Bytes of one activation column in shared memory (before rounding). */
V6_HD int64_t xbytes(int lay, int64_t k) { return lay == FLT ? 4 * k : k + (k / 32) * 16; }

/* Byte offset of int8 element e (a multiple of 4; the 4 elements e..e+3 stay together). */
V6_HD uint32_t xpos(int lay, uint32_t e, uint32_t k) {
    if (lay == LEG) {
        uint32_t g = e >> 5, w = e & 31;
        return 16u * ((w >> 4) * (k >> 5) + g) + (w & 15);
    }
    uint32_t b = e >> 8, w = e & 255;
    if (lay == K16A) {
        uint32_t q = w >> 4, c = q >> 2, t = (q >> 1) & 1, h = q & 1;
        return 256u * b + 16u * (8 * t + 2 * c + h) + (w & 15);
    }
    if (lay == K16B) {
        uint32_t q = w >> 4, i = q >> 1, t = q & 1;
        return 256u * b + 16u * (8 * t + i) + (w & 15);
    }
    /* K8 */
    uint32_t n = w >> 7, m = (w >> 5) & 3, l = w & 31, q = l >> 3;
    return 256u * b + 8u * (8 * (m ^ (b & 1)) + 4 * n + q) + (l & 7);
}
/* ---- unit dots ------------------------------------------------------------------------------
 * b: the block in shared memory; u: unit in the block (0..UPB-1); X: the column's int8 bytes;
 * DS: its (d, s) pairs; col: the block's index in its row; G: k / 32 (k / 8 for FLT).
 * Returns the unit's contribution to the row's dot product. */
template <int T> struct Unit;

template <> struct Unit<MLXN_TYPE_Q4_0> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t q[4];
        ldw2<4>(b + 2, q);
        int4 a = ldx16(X + 16 * col), c = ldx16(X + 16 * (G + col));
        int s = dp4a((int)(q[0] & V6_M4), a.x, 0);
        s = dp4a((int)(q[1] & V6_M4), a.y, s); s = dp4a((int)(q[2] & V6_M4), a.z, s); s = dp4a((int)(q[3] & V6_M4), a.w, s);
        s = dp4a((int)((q[0] >> 4) & V6_M4), c.x, s); s = dp4a((int)((q[1] >> 4) & V6_M4), c.y, s);
        s = dp4a((int)((q[2] >> 4) & V6_M4), c.z, s); s = dp4a((int)((q[3] >> 4) & V6_M4), c.w, s);
        float2 f = *(const float2 *)(DS + 4 * col);
        return h2f(ld16(b)) * (f.x * (float)s - 8.f * f.y);
    }
};
template <> struct Unit<MLXN_TYPE_IQ4_NL> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t q[4];
        ldw2<4>(b + 2, q);
        int4 a = ldx16(X + 16 * col), c = ldx16(X + 16 * (G + col));
        int lo[4], hi[4];
QB_UNROLL
        for (int i = 0; i < 4; i++) {
            lo[i] = lut16(q[i] & V6_M4, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
            hi[i] = lut16((q[i] >> 4) & V6_M4, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3);
        }
        int s = dp4a(lo[0], a.x, 0);
        s = dp4a(lo[1], a.y, s); s = dp4a(lo[2], a.z, s); s = dp4a(lo[3], a.w, s);
        s = dp4a(hi[0], c.x, s); s = dp4a(hi[1], c.y, s); s = dp4a(hi[2], c.z, s); s = dp4a(hi[3], c.w, s);
        return h2f(ld16(b)) * DS[4 * col] * (float)s;
    }
};
template <> struct Unit<MLXN_TYPE_Q4_1> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t dm = ld32(b);
        uint32_t q0 = ld32(b + 4), q1 = ld32(b + 8), q2 = ld32(b + 12), q3 = ld32(b + 16);
        int4 a = ldx16(X + 16 * col), c = ldx16(X + 16 * (G + col));
        int s = dp4a((int)(q0 & V6_M4), a.x, 0);
        s = dp4a((int)(q1 & V6_M4), a.y, s); s = dp4a((int)(q2 & V6_M4), a.z, s); s = dp4a((int)(q3 & V6_M4), a.w, s);
        s = dp4a((int)((q0 >> 4) & V6_M4), c.x, s); s = dp4a((int)((q1 >> 4) & V6_M4), c.y, s);
        s = dp4a((int)((q2 >> 4) & V6_M4), c.z, s); s = dp4a((int)((q3 >> 4) & V6_M4), c.w, s);
        float2 f = *(const float2 *)(DS + 4 * col);
        return h2f((uint16_t)(dm & 0xffff)) * f.x * (float)s + h2f((uint16_t)(dm >> 16)) * f.y;
    }
};
V6_HD int q5_dot(const uint32_t *q, uint32_t h, int4 a, int4 c) {
    int s = 0;
    const int av[4] = {a.x, a.y, a.z, a.w}, cv[4] = {c.x, c.y, c.z, c.w};
QB_UNROLL
    for (int i = 0; i < 4; i++) {
        uint32_t l = (q[i] & V6_M4) | (spread4((h >> (4 * i)) & 15u) << 4);
        uint32_t g = ((q[i] >> 4) & V6_M4) | (spread4((h >> (16 + 4 * i)) & 15u) << 4);
        s = dp4a((int)l, av[i], s);
        s = dp4a((int)g, cv[i], s);
    }
    return s;
}
template <> struct Unit<MLXN_TYPE_Q5_0> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t w[5];
        ldw2<5>(b + 2, w);
        int s = q5_dot(w + 1, w[0], ldx16(X + 16 * col), ldx16(X + 16 * (G + col)));
        float2 f = *(const float2 *)(DS + 4 * col);
        return h2f(ld16(b)) * (f.x * (float)s - 16.f * f.y);
    }
};
template <> struct Unit<MLXN_TYPE_Q5_1> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t dm = ld32(b), h = ld32(b + 4);
        uint32_t q[4] = {ld32(b + 8), ld32(b + 12), ld32(b + 16), ld32(b + 20)};
        int s = q5_dot(q, h, ldx16(X + 16 * col), ldx16(X + 16 * (G + col)));
        float2 f = *(const float2 *)(DS + 4 * col);
        return h2f((uint16_t)(dm & 0xffff)) * f.x * (float)s + h2f((uint16_t)(dm >> 16)) * f.y;
    }
};
template <> struct Unit<MLXN_TYPE_Q8_0> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *DS, int col, int G) {
        uint32_t w[8];
        ldw2<8>(b + 2, w);
        int4 a = ldx16(X + 16 * col), c = ldx16(X + 16 * (G + col));
        int s = dp4a((int)w[0], a.x, 0);
        s = dp4a((int)w[1], a.y, s); s = dp4a((int)w[2], a.z, s); s = dp4a((int)w[3], a.w, s);
        s = dp4a((int)w[4], c.x, s); s = dp4a((int)w[5], c.y, s); s = dp4a((int)w[6], c.z, s); s = dp4a((int)w[7], c.w, s);
        return h2f(ld16(b)) * DS[4 * col] * (float)s;
    }
};

/* Q4_K / Q5_K unit u = (c = u/2, h = u%2): qs bytes 32c + 16h .. +16; low nibbles are elements
 * 64c + 16h + i, high nibbles 64c + 32 + 16h + i. In the K16A layout those activations sit at
 * 16u and 128 + 16u of the block's 256 bytes. */
template <bool Q5> V6_HD float q45k(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col) {
    const int cc = u >> 1, h = u & 1;
    const uint4 hd = *(const uint4 *)b;      /* d, dmin | scales 0-3 | 4-7 | 8-11 */
    const uint4 qv = *(const uint4 *)(b + (Q5 ? 48 : 16) + 32 * cc + 16 * h);
    /* the 6-bit scales and mins of sub-blocks 2c and 2c+1, without branches: sub-blocks 0-3 are
     * the low 6 bits of bytes 0-3 (scales) and 4-7 (mins); 4-7 take their low 4 bits from bytes
     * 8-11 and their top 2 from the top bits of bytes 0-3 / 4-7 */
    const bool hi = cc >= 2;
    const uint32_t SC = hi ? ((hd.w & V6_M4) | ((hd.y >> 2) & 0x30303030u)) : (hd.y & 0x3f3f3f3fu);
    const uint32_t MN = hi ? (((hd.w >> 4) & V6_M4) | ((hd.z >> 2) & 0x30303030u)) : (hd.z & 0x3f3f3f3fu);
    const int sh = (cc & 1) * 16;
    const int sc0 = (int)((SC >> sh) & 255u), sc1 = (int)((SC >> (sh + 8)) & 255u);
    const int m0 = (int)((MN >> sh) & 255u), m1 = (int)((MN >> (sh + 8)) & 255u);
    const uint32_t qw[4] = {qv.x, qv.y, qv.z, qv.w};
    uint32_t hw[4] = {0, 0, 0, 0};
    if (Q5) { uint4 t = *(const uint4 *)(b + 16 + 16 * h); hw[0] = t.x; hw[1] = t.y; hw[2] = t.z; hw[3] = t.w; }
    const uint8_t *xb = X + 256 * col;
    const int4 a = ldx16(xb + 16 * u), c = ldx16(xb + 128 + 16 * u);
    const int av[4] = {a.x, a.y, a.z, a.w}, cv[4] = {c.x, c.y, c.z, c.w};
    int s0 = 0, s1 = 0;
QB_UNROLL
    for (int i = 0; i < 4; i++) {
        uint32_t l = qw[i] & V6_M4, g = (qw[i] >> 4) & V6_M4;
        if (Q5) {
            l |= ((hw[i] >> (2 * cc)) & 0x01010101u) << 4;
            g |= ((hw[i] >> (2 * cc + 1)) & 0x01010101u) << 4;
        }
        s0 = dp4a((int)l, av[i], s0);
        s1 = dp4a((int)g, cv[i], s1);
    }
    /* groups 2c (low nibbles) and 2c+1 (high): d, and d * sum over the unit's 16 elements */
    const float4 f0 = *(const float4 *)(DS + 4 * (8 * col + 2 * cc)), f1 = *(const float4 *)(DS + 4 * (8 * col + 2 * cc + 1));
    const float d = h2f((uint16_t)(hd.x & 0xffff)), dmin = h2f((uint16_t)(hd.x >> 16));
    const float x0 = h ? f0.w : f0.z, x1 = h ? f1.w : f1.z;
    return d * ((float)sc0 * f0.x * (float)s0 + (float)sc1 * f1.x * (float)s1) - dmin * ((float)m0 * x0 + (float)m1 * x1);
}
template <> struct Unit<MLXN_TYPE_Q4_K> {
    static V6_HD float run(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col, int) {
        return q45k<false>(b, u, X, DS, col);
    }
};
template <> struct Unit<MLXN_TYPE_Q5_K> {
    static V6_HD float run(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col, int) {
        return q45k<true>(b, u, X, DS, col);
    }
};
/* IQ4_XS unit ib: qs bytes 16 ib .. +16 (low nibbles elements 32 ib + i, high 32 ib + 16 + i). */
template <> struct Unit<MLXN_TYPE_IQ4_XS> {
    static V6_HD float run(const uint8_t *b, int ib, const uint8_t *X, const float *DS, int col, int) {
        const uint32_t dsh = ld32(b), sl = ld32(b + 4);
        const uint2 q01 = *(const uint2 *)(b + 8 + 16 * ib), q23 = *(const uint2 *)(b + 16 + 16 * ib);
        const uint32_t q[4] = {q01.x, q01.y, q23.x, q23.y};
        const int ls = (int)((sl >> (4 * ib)) & 15) | (int)(((dsh >> (16 + 2 * ib)) & 3) << 4);
        const uint8_t *xb = X + 256 * col;
        const int4 a = ldx16(xb + 16 * ib), c = ldx16(xb + 128 + 16 * ib);
        const int av[4] = {a.x, a.y, a.z, a.w}, cv[4] = {c.x, c.y, c.z, c.w};
        int s = 0;
QB_UNROLL
        for (int i = 0; i < 4; i++) {
            s = dp4a(lut16(q[i] & V6_M4, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3), av[i], s);
            s = dp4a(lut16((q[i] >> 4) & V6_M4, IQ4_T0, IQ4_T1, IQ4_T2, IQ4_T3), cv[i], s);
        }
        return h2f((uint16_t)(dsh & 0xffff)) * (float)(ls - 32) * DS[4 * (8 * col + ib)] * (float)s;
    }
};
/* Q2_K / Q3_K / Q6_K unit u = (n = u/4, q = u%4): l in [8q, 8q+8) of half n for the four
 * 32-element groups m, element 128n + 32m + l. K8 layout: group m's 8 bytes at
 * 64 (m ^ (col & 1)) + 8u of the block's 256. */
V6_HD int2 k8x(const uint8_t *X, int col, int u, int m) { return ldx8(X + 256 * col + 64 * (m ^ (col & 1)) + 8 * u); }

template <> struct Unit<MLXN_TYPE_Q2_K> {
    static V6_HD float run(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col, int) {
        const int n = u >> 2, q = u & 3, l0 = 8 * q;
        const uint32_t w0 = ld32(b + 16 + 32 * n + l0), w1 = ld32(b + 20 + 32 * n + l0);
        const uint32_t dm = ld32(b + 80);
        const float d = h2f((uint16_t)(dm & 0xffff)), dmin = h2f((uint16_t)(dm >> 16));
        const uint32_t s0 = ld32(b + 8 * n), s1 = ld32(b + 8 * n + 4);
        float r = 0.f;
QB_UNROLL
        for (int m = 0; m < 4; m++) {
            const int a0 = (int)((w0 >> (2 * m)) & 0x03030303u), a1 = (int)((w1 >> (2 * m)) & 0x03030303u);
            const uint32_t sw = m < 2 ? s0 : s1;
            const int sc = (int)((sw >> (8 * (2 * (m & 1) + (q >> 1)))) & 255u);
            const int2 xv = k8x(X, col, u, m);
            const int dot = dp4a(a1, xv.y, dp4a(a0, xv.x, 0));
            const int sum = dp4a(V6_ONES, xv.y, dp4a(V6_ONES, xv.x, 0));
            r += DS[4 * (8 * col + 4 * n + m)] * (d * (float)(sc & 15) * (float)dot - dmin * (float)(sc >> 4) * (float)sum);
        }
        return r;
    }
};
template <> struct Unit<MLXN_TYPE_Q3_K> {
    static V6_HD float run(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col, int) {
        const int n = u >> 2, q = u & 3, l0 = 8 * q;
        uint32_t ww[2], hh[2], sw[3];
        ldw2<2>(b + 32 + 32 * n + l0, ww);
        ldw2<2>(b + l0, hh);
        ldw2<3>(b + 96, sw);
        const float d = h2f(ld16(b + 108));
        float r = 0.f;
QB_UNROLL
        for (int m = 0; m < 4; m++) {
            const int sh = 4 * n + m;
            const int a0 = (int)vsub4(((ww[0] >> (2 * m)) & 0x03030303u) | (((hh[0] >> sh) & 0x01010101u) << 2), 0x04040404u);
            const int a1 = (int)vsub4(((ww[1] >> (2 * m)) & 0x03030303u) | (((hh[1] >> sh) & 0x01010101u) << 2), 0x04040404u);
            const int si = 8 * n + 2 * m + (q >> 1);
            const int slo = si < 8 ? (int)(wbyte(sw[0], sw[1], sw[2], si) & 15) : (int)(wbyte(sw[0], sw[1], sw[2], si - 8) >> 4);
            const int shi = (int)((wbyte(sw[0], sw[1], sw[2], 8 + (si & 3)) >> (2 * (si >> 2))) & 3);
            const int2 xv = k8x(X, col, u, m);
            r += DS[4 * (8 * col + 4 * n + m)] * d * (float)((slo | (shi << 4)) - 32) * (float)dp4a(a1, xv.y, dp4a(a0, xv.x, 0));
        }
        return r;
    }
};
template <> struct Unit<MLXN_TYPE_Q6_K> {
    static V6_HD float run(const uint8_t *b, int u, const uint8_t *X, const float *DS, int col, int) {
        const int n = u >> 2, q = u & 3, l0 = 8 * q;
        const uint8_t *ql = b + 64 * n + l0, *qh = b + 128 + 32 * n + l0;
        uint32_t A[2], B[2], H[2], S[2];
        ldw2<2>(ql, A);
        ldw2<2>(ql + 32, B);
        ldw2<2>(qh, H);
        ldw2<2>(b + 192 + 8 * n, S);
        const float d = h2f(ld16(b + 208));
        int v[4][2];
QB_UNROLL
        for (int i = 0; i < 2; i++) {
            v[0][i] = (int)vsub4((A[i] & V6_M4) | ((H[i] << 4) & 0x30303030u), 0x20202020u);
            v[1][i] = (int)vsub4((B[i] & V6_M4) | ((H[i] << 2) & 0x30303030u), 0x20202020u);
            v[2][i] = (int)vsub4(((A[i] >> 4) & V6_M4) | (H[i] & 0x30303030u), 0x20202020u);
            v[3][i] = (int)vsub4(((B[i] >> 4) & V6_M4) | ((H[i] >> 2) & 0x30303030u), 0x20202020u);
        }
        float r = 0.f;
QB_UNROLL
        for (int m = 0; m < 4; m++) {
            const int si = 2 * m + (q >> 1);
            const float fd = (float)(int8_t)((S[si >> 2] >> (8 * (si & 3))) & 255u);
            const int2 xv = k8x(X, col, u, m);
            r += DS[4 * (8 * col + 4 * n + m)] * fd * (float)dp4a(v[m][1], xv.y, dp4a(v[m][0], xv.x, 0));
        }
        return d * r;
    }
};
/* F16 / BF16: a "block" is 8 weights (16 bytes); activations are f32 (FLT layout). */
template <bool BF> V6_HD float fdot(const uint8_t *b, const float *Xf, int col) {
    const uint4 w = *(const uint4 *)b;
    const float4 a = *(const float4 *)(Xf + 8 * col), c = *(const float4 *)(Xf + 8 * col + 4);
    const uint32_t wv[4] = {w.x, w.y, w.z, w.w};
    float f[8];
QB_UNROLL
    for (int i = 0; i < 4; i++) {
        f[2 * i] = BF ? bf2f((uint16_t)(wv[i] & 0xffff)) : h2f((uint16_t)(wv[i] & 0xffff));
        f[2 * i + 1] = BF ? bf2f((uint16_t)(wv[i] >> 16)) : h2f((uint16_t)(wv[i] >> 16));
    }
    return f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * c.x + f[5] * c.y + f[6] * c.z + f[7] * c.w;
}
template <> struct Unit<MLXN_TYPE_F16> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *, int col, int) {
        return fdot<false>(b, (const float *)X, col);
    }
};
template <> struct Unit<MLXN_TYPE_BF16> {
    static V6_HD float run(const uint8_t *b, int, const uint8_t *X, const float *, int col, int) {
        return fdot<true>(b, (const float *)X, col);
    }
};

/* Quantizes elements e..e+3 of one 32-group (the caller reduces amax and the sum over the 8
 * lanes of the group): returns the packed int8 word given the group's scale d. */
V6_HD uint32_t quant4(float4 v, float d, int *sum) {
    int q0 = d > 0.f ? rint_i(v.x / d) : 0, q1 = d > 0.f ? rint_i(v.y / d) : 0;
    int q2 = d > 0.f ? rint_i(v.z / d) : 0, q3 = d > 0.f ? rint_i(v.w / d) : 0;
    *sum = q0 + q1 + q2 + q3;
    return (uint32_t)(q0 & 255) | ((uint32_t)(q1 & 255) << 8) | ((uint32_t)(q2 & 255) << 16) | ((uint32_t)(q3 & 255) << 24);
}

/* One 32-element group g of a column (v: its 32 values, after any prologue) into the layout at
 * X: the int8 bytes at xpos and the group's 4 floats (d, d * sum, d * the first / last 16's sums),
 * exactly as the kernel's stage_x writes them (the pre-staging kernel of the plain mat-vec runs
 * this per thread; tests/test_cuda_mmv6_host.cu compares the bytes with stage_x's on the host). */
/* Its parts, as the pre-staging kernel runs them with eight threads a group: quarter c's four
 * bytes (returns their integer sum), and the group's four floats from d and the exact sums. */
V6_HD int stage_quarter(int lay, float4 v, float d, uint32_t g, uint32_t c, uint32_t k, uint8_t *X) {
    int sm;
    *(uint32_t *)(X + xpos(lay, 32u * g + 4u * c, k)) = quant4(v, d, &sm);
    return sm;
}
V6_HD void stage_scales(uint32_t g, uint32_t k, float d, int tot, int first, uint8_t *X) {
    float *DS = (float *)(X + k);
    DS[4 * g] = d;
    DS[4 * g + 1] = d * (float)tot;
    DS[4 * g + 2] = d * (float)first;
    DS[4 * g + 3] = d * (float)(tot - first);
}
V6_HD void stage_group(int lay, const float *v, uint32_t g, uint32_t k, uint8_t *X) {
    float a = 0.f;
    for (int i = 0; i < 32; i++) a = fmaxf(a, fabsf(v[i]));
    const float d = a / 127.f;
    int tot = 0, first = 0;
    for (uint32_t c = 0; c < 8; c++) {
        const int sm = stage_quarter(lay, make_float4(v[4 * c], v[4 * c + 1], v[4 * c + 2], v[4 * c + 3]), d, g, c, k, X);
        tot += sm;
        if (c < 4) first += sm;
    }
    stage_scales(g, k, d, tot, first, X);
}

} /* namespace v6 */
#endif
