/* Bit-level helpers of the block decoders, usable from device and host code (the host versions
 * emulate the intrinsics, so that tests compiled as host programs run the same arithmetic):
 * dp4a / vsub4 / byte_perm / funnel shift, f16 and bf16 to f32, word loads at 2-aligned addresses,
 * nibble tables, and the Q4_K / Q5_K 6-bit scale unpacking. Used by quant.cuh (the decoders of
 * the v1-v5 mat-vecs, dequantization, the MoE tile kernel) and mmv6.cuh. */
#ifndef MLXN_BACKEND_CUDA_BITS_CUH
#define MLXN_BACKEND_CUDA_BITS_CUH
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <cuda_runtime.h>
#include <cuda_fp16.h>

#define QB_HD __host__ __device__ __forceinline__
/* unrolling hint for the device pass only (the host compiler does not know the pragma) */
#ifdef __CUDA_ARCH__
#define QB_UNROLL _Pragma("unroll")
#else
#define QB_UNROLL
#endif

/* IQ4_NL codebook {-127,-104,-83,-65,-49,-35,-22,-10,1,13,25,38,53,69,89,113} as int8 words. */
#define IQ4_T0 0xBFAD9881u
#define IQ4_T1 0xF6EADDCFu
#define IQ4_T2 0x26190D01u
#define IQ4_T3 0x71594535u
/* MXFP4 doubled E2M1 values {0,1,2,3,4,6,8,12,0,-1,-2,-3,-4,-6,-8,-12}. */
#define MXF_T0 0x03020100u
#define MXF_T1 0x0C080604u
#define MXF_T2 0xFDFEFF00u
#define MXF_T3 0xF4F8FAFCu

namespace qb {
QB_HD int dp4a(int a, int b, int c) {
#ifdef __CUDA_ARCH__
    return __dp4a(a, b, c);
#else
    for (int i = 0; i < 4; i++) c += (int)(int8_t)(uint8_t)(a >> (8 * i)) * (int)(int8_t)(uint8_t)(b >> (8 * i));
    return c;
#endif
}
QB_HD uint32_t vsub4(uint32_t a, uint32_t b) {
#ifdef __CUDA_ARCH__
    return __vsub4(a, b);
#else
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) r |= (((a >> (8 * i)) - (b >> (8 * i))) & 255u) << (8 * i);
    return r;
#endif
}
QB_HD uint32_t byte_perm(uint32_t x, uint32_t y, uint32_t s) {
#ifdef __CUDA_ARCH__
    return __byte_perm(x, y, s);
#else
    uint64_t v = ((uint64_t)y << 32) | x;
    uint32_t r = 0;
    for (int i = 0; i < 4; i++) r |= (uint32_t)((v >> (8 * ((s >> (4 * i)) & 7))) & 255u) << (8 * i);
    return r;
#endif
}
QB_HD uint32_t fshr(uint32_t lo, uint32_t hi, uint32_t sh) {
#ifdef __CUDA_ARCH__
    return __funnelshift_r(lo, hi, sh);
#else
    return (uint32_t)((((uint64_t)hi << 32) | lo) >> (sh & 31));
#endif
}
QB_HD float h2f(uint16_t h) {
#ifdef __CUDA_ARCH__
    return __half2float(__ushort_as_half(h));
#else
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 31, m = h & 1023, f;
    if (e == 0) {
        if (!m) f = s;
        else { float v = ldexpf((float)m, -24); memcpy(&f, &v, 4); f |= s; }
    } else if (e == 31) f = s | 0x7f800000u | (m << 13);
    else f = s | ((e + 112) << 23) | (m << 13);
    float r;
    memcpy(&r, &f, 4);
    return r;
#endif
}
QB_HD float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float r;
    memcpy(&r, &u, 4);
    return r;
}
QB_HD int rint_i(float v) {
#ifdef __CUDA_ARCH__
    return __float2int_rn(v);
#else
    return (int)nearbyintf(v);
#endif
}

/* Loads from shared memory (or host memory in the host check). */
QB_HD uint16_t ld16(const uint8_t *p) { return *(const uint16_t *)p; }
QB_HD uint32_t ld32(const uint8_t *p) { return *(const uint32_t *)p; }
/* N words from a 2-aligned address: N+1 aligned 32-bit loads and funnel shifts instead of 2N
 * 16-bit loads (the word past the end is read only when the address is not 4-aligned, so nothing
 * past the data is touched). */
template <int N> QB_HD void ldw2(const uint8_t *p, uint32_t *o) {
    const uint32_t *a = (const uint32_t *)((uintptr_t)p & ~(uintptr_t)3);
    const uint32_t sh = (uint32_t)((uintptr_t)p & 2) * 8;
    uint32_t w[N + 1];
QB_UNROLL
    for (int i = 0; i < N; i++) w[i] = a[i];
    w[N] = sh ? a[N] : 0u;
QB_UNROLL
    for (int i = 0; i < N; i++) o[i] = fshr(w[i], w[i + 1], sh);
}
/* 4 bits -> 4 bytes of 0/1 (bit i -> byte i). */
QB_HD uint32_t spread4(uint32_t b) { return (b * 0x00204081u) & 0x01010101u; }
/* Maps 4 nibbles held in the low halves of 4 bytes through a 16-entry int8 table (4 words). */
QB_HD int lut16(uint32_t nib, uint32_t t0, uint32_t t1, uint32_t t2, uint32_t t3) {
    uint32_t y = nib | (nib >> 4);
    uint32_t sel = ((y & 0xffu) | ((y >> 8) & 0xff00u)) & 0x7777u;
    uint32_t lo = byte_perm(t0, t1, sel), hi = byte_perm(t2, t3, sel);
    uint32_t m = ((nib >> 3) & 0x01010101u) * 0xffu;
    return (int)((lo & ~m) | (hi & m));
}
/* Q4_K / Q5_K scale and min j (0..7) from the 12 scale bytes in words s0, s1, s2. */
QB_HD uint32_t wbyte(uint32_t s0, uint32_t s1, uint32_t s2, int i) {
    uint32_t w = i < 4 ? s0 : (i < 8 ? s1 : s2);
    return (w >> (8 * (i & 3))) & 255u;
}
QB_HD void kscale_min(uint32_t s0, uint32_t s1, uint32_t s2, int j, int &sc, int &m) {
    if (j < 4) { sc = (int)(wbyte(s0, s1, s2, j) & 63); m = (int)(wbyte(s0, s1, s2, j + 4) & 63); }
    else {
        uint32_t a = wbyte(s0, s1, s2, j + 4), b4 = wbyte(s0, s1, s2, j - 4), c = wbyte(s0, s1, s2, j);
        sc = (int)((a & 15) | ((b4 >> 6) << 4)); m = (int)((a >> 4) | ((c >> 6) << 4));
    }
}
} /* namespace qb */
#endif
