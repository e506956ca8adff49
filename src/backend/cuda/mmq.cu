/* mul_mat_id with many tokens (prefill) on int8 tensor cores: one tile kernel over (row tile of an
 * expert, token tile of the pairs routed to that expert).
 *
 * Design (docs/perf/NOTES.md, "mul_mat_id with many tokens"): the (token, slot) pairs are grouped
 * per expert on the device (group_kernel in mmv.cu: offsets/perm in the scratch arena; no host
 * sync, graph-safe) and the activations are already int8 in groups of 32 (q, scale d, d*sum s:
 * quant_x_kernel). A block owns MMQ_BM weight rows x MMQ_BN pairs of one expert; blockIdx.y is a
 * slot in the list of (expert, token tile) tiles, found on the device from the per-expert counts
 * (slots past the last tile exit). Per k chunk of MMQ_KC elements the block decodes its weight tile
 * from the GGML blocks into int8 in shared memory once (with one f32 scale per 32 or 16 weights and
 * the min term for Q4_K), gathers its pairs' int8 activations, and each warp runs
 * mma.sync.m16n8k32.s8 per 32-element group (two m16n8k16 for Q6_K, whose scales cover 16): the
 * int32 result is scaled in f32 by (weight scale x activation scale), minus dmin*m * d_x*sum(q_x).
 *
 * The fragment-offset helpers below are plain functions so that a host program can check them
 * against the PTX fragment layout with an emulated mma (compile with -DMMQ_HOST_TEST; with
 * -DMMQ_HOST_DEC also the decoders, given host versions of the quant.cuh helpers they call). */
#ifndef MMQ_HOST_TEST
#include "backend/cuda/quant.cuh"
#include <stdlib.h>
#define MMQ_HD __host__ __device__ __forceinline__
#else
#define MMQ_HD static inline
#endif

#define MMQ_BM 64                  /* weight rows per block */
#define MMQ_BN 32                  /* (token, slot) pairs per block */
#define MMQ_KC 256                 /* k elements per shared-memory chunk */
#define MMQ_LD (MMQ_KC + 16)       /* shared row stride in bytes: 68 words, fragment loads hit 32 banks */
#define MMQ_WARPS 4                /* 2 x 2 warps, each 32 rows x 16 pairs */

/* Fragment layouts of mma.m16n8k32 .s8 (PTX ISA, "Matrix Fragments for mma.m16n8k32"), lane l,
 * g = l >> 2, t = l & 3. The tiles are stored k-contiguous: A (weights) row-major with stride
 * MMQ_LD, B (activations) one pair per row with stride MMQ_LD (the .col operand).
 *   A register r (4 s8): row g + 8*(r & 1), k 4t + 16*(r >> 1) .. +3
 *   B register r (4 s8): pair g,            k 4t + 16*r        .. +3
 *   C element i (s32):   row g + 8*(i >> 1), pair 2t + (i & 1)
 * m16n8k16 .s8 uses A registers 0, 1 and B register 0 of the same layout (k 0..15); the k32
 * fragment's registers 2, 3 / 1 are the upper 16 k, which Q6_K's two-scale path relies on. */
MMQ_HD int mmq_a_off(int lane, int r) { return ((lane >> 2) + 8 * (r & 1)) * MMQ_LD + 4 * (lane & 3) + 16 * (r >> 1); }
MMQ_HD int mmq_b_off(int lane, int r) { return (lane >> 2) * MMQ_LD + 4 * (lane & 3) + 16 * r; }
MMQ_HD int mmq_c_row(int lane, int i) { return (lane >> 2) + 8 * (i >> 1); }
MMQ_HD int mmq_c_col(int lane, int i) { return 2 * (lane & 3) + (i & 1); }
/* ldmatrix.x4 (v4): lanes 8m..8m+7 give the 8 row addresses of 8x16-byte matrix m, and lane l
 * receives row l >> 2, bytes 4(l & 3)..+3 of matrix m in register m: the A fragment above is
 * matrices {rows 0-7, k 0-15}, {rows 8-15, k 0-15}, {rows 0-7, k 16-31}, {rows 8-15, k 16-31};
 * two n8 B fragments are {pairs 0-7, k 0-15}, {pairs 0-7, k 16-31}, {pairs 8-15, k 0-15},
 * {pairs 8-15, k 16-31}. Byte offset of the row this lane addresses: */
MMQ_HD int mmq_ldsm_a_off(int lane) { return ((lane & 7) + 8 * ((lane >> 3) & 1)) * MMQ_LD + 16 * (lane >> 4); }
MMQ_HD int mmq_ldsm_b_off(int lane) { return ((lane & 7) + 8 * (lane >> 4)) * MMQ_LD + 16 * ((lane >> 3) & 1); }

#if !defined(MMQ_HOST_TEST) || defined(MMQ_HOST_DEC)
/* Per type: elements per weight scale (32 or 16) and whether a min term is subtracted. */
template <int T> struct MmqT;
template <> struct MmqT<MLXN_TYPE_Q4_0> { enum { SUB = 32, MIN = 0 }; };
template <> struct MmqT<MLXN_TYPE_Q8_0> { enum { SUB = 32, MIN = 0 }; };
template <> struct MmqT<MLXN_TYPE_Q4_K> { enum { SUB = 32, MIN = 1 }; };
template <> struct MmqT<MLXN_TYPE_Q6_K> { enum { SUB = 16, MIN = 0 }; };

/* Decodes 32-element group gi (0 .. QK/32-1) of block b (global memory) into 8 int8 words
 * (element 4i+j in byte j of w[i]), the scale(s) of the group and the min term (weight =
 * sc * q - mn). Formulas: SPEC-FORMATS.md (the same as dq32 in quant.cuh). */
template <int T> __device__ __forceinline__ void mmq_dec(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn);
template <> __device__ __forceinline__ void mmq_dec<MLXN_TYPE_Q4_0>(const uint8_t *b, int, uint32_t w[8], float sc[2], float &mn) {
    sc[0] = sc[1] = h2f(ld16(b));
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        uint32_t v = ld32a2(b + 2 + 4 * i);
        w[i] = __vsub4(v & 0x0F0F0F0Fu, 0x08080808u);
        w[i + 4] = __vsub4((v >> 4) & 0x0F0F0F0Fu, 0x08080808u);
    }
}
template <> __device__ __forceinline__ void mmq_dec<MLXN_TYPE_Q8_0>(const uint8_t *b, int, uint32_t w[8], float sc[2], float &mn) {
    sc[0] = sc[1] = h2f(ld16(b));
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) w[i] = ld32a2(b + 2 + 4 * i);
}
template <> __device__ __forceinline__ void mmq_dec<MLXN_TYPE_Q4_K>(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn) {
    uint32_t dm = ld32a4(b);
    int s, m;
    kscale_min(b + 4, gi, s, m);
    sc[0] = sc[1] = h2f((uint16_t)(dm & 0xffff)) * (float)s;
    mn = h2f((uint16_t)(dm >> 16)) * (float)m;
    const uint8_t *qs = b + 16 + 32 * (gi >> 1);
    const int sh = 4 * (gi & 1);
#pragma unroll
    for (int i = 0; i < 8; i++) w[i] = (ld32a4(qs + 4 * i) >> sh) & 0x0F0F0F0Fu;
}
template <> __device__ __forceinline__ void mmq_dec<MLXN_TYPE_Q6_K>(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn) {
    const int n = gi >> 2, g = gi & 3;
    const uint8_t *ql = b + 64 * n + ((g & 1) ? 32 : 0), *qh = b + 128 + 32 * n;
    const float d = h2f(ld16(b + 208));
    sc[0] = d * (float)(int8_t)b[192 + 2 * gi];
    sc[1] = d * (float)(int8_t)b[193 + 2 * gi];
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        uint32_t L = ld32a2(ql + 4 * i), H = ld32a2(qh + 4 * i);
        uint32_t lo = (g & 2) ? ((L >> 4) & 0x0F0F0F0Fu) : (L & 0x0F0F0F0Fu);
        w[i] = __vsub4(lo | (((H >> (2 * g)) & 0x03030303u) << 4), 0x20202020u);
    }
}

/* v4: the same groups decoded from shared memory with aligned 32-bit loads (ldw2) and the
 * offset removed without a per-byte subtract: q + 0x78 (q < 16) or q + 0x60 (q < 64) never
 * carries out of its byte, and ^ 0x80 then gives q - 8 / q - 32 as int8. */
template <int T> __device__ __forceinline__ void mmq_dec4(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn);
template <> __device__ __forceinline__ void mmq_dec4<MLXN_TYPE_Q4_0>(const uint8_t *b, int, uint32_t w[8], float sc[2], float &mn) {
    uint32_t v[5];
    ldw2<5>(b, v);   /* d and qs[0..17]: word 0 low half is d */
    sc[0] = sc[1] = h2f((uint16_t)(v[0] & 0xffff));
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        const uint32_t q = __funnelshift_r(v[i], v[i + 1], 16);   /* qs[4i..4i+3] */
        w[i] = ((q & 0x0F0F0F0Fu) + 0x78787878u) ^ 0x80808080u;
        w[i + 4] = (((q >> 4) & 0x0F0F0F0Fu) + 0x78787878u) ^ 0x80808080u;
    }
}
template <> __device__ __forceinline__ void mmq_dec4<MLXN_TYPE_Q8_0>(const uint8_t *b, int, uint32_t w[8], float sc[2], float &mn) {
    uint32_t v[9];
    ldw2<9>(b, v);
    sc[0] = sc[1] = h2f((uint16_t)(v[0] & 0xffff));
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) w[i] = __funnelshift_r(v[i], v[i + 1], 16);
}
template <> __device__ __forceinline__ void mmq_dec4<MLXN_TYPE_Q4_K>(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn) {
    mmq_dec<MLXN_TYPE_Q4_K>(b, gi, w, sc, mn);   /* 4-aligned already: 32-bit loads, no offset */
}
template <> __device__ __forceinline__ void mmq_dec4<MLXN_TYPE_Q6_K>(const uint8_t *b, int gi, uint32_t w[8], float sc[2], float &mn) {
    const int n = gi >> 2, g = gi & 3;
    uint32_t L[8], H[8];
    ldw2<8>(b + 64 * n + ((g & 1) ? 32 : 0), L);
    ldw2<8>(b + 128 + 32 * n, H);
    const float d = h2f(ld16(b + 208));
    sc[0] = d * (float)(int8_t)b[192 + 2 * gi];
    sc[1] = d * (float)(int8_t)b[193 + 2 * gi];
    mn = 0.f;
#pragma unroll
    for (int i = 0; i < 8; i++) {
        const uint32_t lo = (g & 2) ? ((L[i] >> 4) & 0x0F0F0F0Fu) : (L[i] & 0x0F0F0F0Fu);
        w[i] = ((lo | (((H[i] >> (2 * g)) & 0x03030303u) << 4)) + 0x60606060u) ^ 0x80808080u;
    }
}
#endif /* decoders */

#ifndef MMQ_HOST_TEST
int mlxn_cuda_mmq_version = 0;

__device__ __forceinline__ void mma_k32(int c[4], const int a[4], const int b[2]) {
    asm volatile("mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma_k16(int c[4], int a0, int a1, int b0) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"
                 : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
                 : "r"(a0), "r"(a1), "r"(b0));
}

struct MmqParams {
    const uint8_t *w; int64_t row_bytes, expert_bytes, rows, k;
    const int8_t *q; const float *d, *s; int64_t cq, cd;   /* int8 activations, column strides */
    float *y; int64_t y_col, y_tok;
    int top_k, n_x, n_expert;
    const int32_t *offsets, *perm;                          /* pairs grouped by expert */
};

template <int T>
__global__ void __launch_bounds__(MMQ_WARPS * 32) mmq_id_kernel(MmqParams p) {
    typedef QT<T> Q;
    constexpr int SUB = MmqT<T>::SUB, NS = MMQ_KC / SUB, NG = MMQ_KC / 32;
    constexpr bool HAS_MIN = MmqT<T>::MIN != 0;
    __shared__ __align__(16) int8_t sw[MMQ_BM * MMQ_LD];   /* weight tile {KC, BM} int8 */
    __shared__ __align__(16) int8_t sx[MMQ_BN * MMQ_LD];   /* activation tile {KC, BN} int8 */
    __shared__ float swd[MMQ_BM][NS + 1];                  /* weight scale per SUB elements */
    __shared__ float swm[HAS_MIN ? MMQ_BM : 1][NG + 1];    /* weight min term per 32 */
    __shared__ float sxd[MMQ_BN][NG + 1], sxs[MMQ_BN][NG + 1];
    __shared__ int64_t s_xc[MMQ_BN], s_yo[MMQ_BN];
    __shared__ int s_tile[3];                               /* expert, first pair, pair count */
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    /* which (expert, token tile) this block is: warp 0 scans the per-expert tile counts */
    if (warp == 0) {
        const int slot = blockIdx.y;
        int run = 0, found = 0;
        for (int e0 = 0; e0 < p.n_expert && !found; e0 += 32) {
            const int e = e0 + lane;
            int o = 0, c = 0;
            if (e < p.n_expert) { o = p.offsets[e]; c = p.offsets[e + 1] - o; }
            const int nt = (c + MMQ_BN - 1) / MMQ_BN;
            int inc = nt;
#pragma unroll
            for (int s = 1; s < 32; s <<= 1) {
                int v = __shfl_up_sync(0xffffffffu, inc, s);
                if (lane >= s) inc += v;
            }
            const int exc = inc - nt;
            const bool mine = nt > 0 && slot >= run + exc && slot < run + inc;
            if (mine) {
                const int ti = slot - run - exc;
                s_tile[0] = e; s_tile[1] = o + ti * MMQ_BN; s_tile[2] = min(MMQ_BN, c - ti * MMQ_BN);
            }
            found = __any_sync(0xffffffffu, mine);
            run += __shfl_sync(0xffffffffu, inc, 31);
        }
        if (!found && lane == 0) s_tile[2] = 0;
    }
    __syncthreads();
    const int e = s_tile[0], p0 = s_tile[1], cnt = s_tile[2];
    if (cnt <= 0) return;                                   /* uniform over the block */
    if (tid < MMQ_BN) {
        const int pr = p.perm[p0 + min(tid, cnt - 1)];
        const int t = pr / p.top_k, j = pr % p.top_k;
        s_xc[tid] = (int64_t)t * p.n_x + (p.n_x == 1 ? 0 : j);
        s_yo[tid] = (int64_t)j * p.y_col + (int64_t)t * p.y_tok;
    }
    const int64_t r0 = (int64_t)blockIdx.x * MMQ_BM;
    const uint8_t *W = p.w + (int64_t)e * p.expert_bytes;

    const int wm = warp >> 1, wn = warp & 1;                /* warp tile: rows 32*wm, pairs 16*wn */
    float acc[2][2][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.f;

    for (int64_t k0 = 0; k0 < p.k; k0 += MMQ_KC) {
        __syncthreads();                                    /* s_xc ready / previous chunk consumed */
        /* weight tile: one 32-element group per thread per round */
        for (int u = tid; u < MMQ_BM * NG; u += MMQ_WARPS * 32) {
            const int row = u / NG, g = u % NG;
            const int64_t grow = min(r0 + row, p.rows - 1);
            const int64_t el = k0 + 32 * g;
            const uint8_t *b = W + grow * p.row_bytes + (el / Q::QK) * Q::BB;
            uint32_t w[8];
            float sc[2], mn;
            mmq_dec<T>(b, (int)((el % Q::QK) / 32), w, sc, mn);
            uint4 *dst = (uint4 *)(sw + row * MMQ_LD + 32 * g);
            dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
            dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
            if (SUB == 32) swd[row][g] = sc[0];
            else { swd[row][2 * g] = sc[0]; swd[row][2 * g + 1] = sc[1]; }
            if (HAS_MIN) swm[row][g] = mn;
        }
        /* activation tile: the pairs' int8 columns (16-byte pieces) and group scales */
        for (int i = tid; i < MMQ_BN * (MMQ_KC / 16); i += MMQ_WARPS * 32) {
            const int n = i / (MMQ_KC / 16), part = i % (MMQ_KC / 16);
            *(uint4 *)(sx + n * MMQ_LD + 16 * part) = *(const uint4 *)(p.q + s_xc[n] * p.cq + k0 + 16 * part);
        }
        for (int i = tid; i < MMQ_BN * NG; i += MMQ_WARPS * 32) {
            const int n = i / NG, g = i % NG;
            const int64_t o = s_xc[n] * p.cd + k0 / 32 + g;
            sxd[n][g] = p.d[o];
            if (HAS_MIN) sxs[n][g] = p.s[o];
        }
        __syncthreads();
#pragma unroll 2
        for (int g = 0; g < NG; g++) {
            int a[2][4], bb[2][2];
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
                const int8_t *base = sw + (32 * wm + 16 * mi) * MMQ_LD + 32 * g;
#pragma unroll
                for (int r = 0; r < 4; r++) a[mi][r] = *(const int *)(base + mmq_a_off(lane, r));
            }
#pragma unroll
            for (int ni = 0; ni < 2; ni++) {
                const int8_t *base = sx + (16 * wn + 8 * ni) * MMQ_LD + 32 * g;
#pragma unroll
                for (int r = 0; r < 2; r++) bb[ni][r] = *(const int *)(base + mmq_b_off(lane, r));
            }
#pragma unroll
            for (int mi = 0; mi < 2; mi++) {
#pragma unroll
                for (int ni = 0; ni < 2; ni++) {
                    if (SUB == 32) {
                        int c[4] = {0, 0, 0, 0};
                        mma_k32(c, a[mi], bb[ni]);
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            const int row = 32 * wm + 16 * mi + mmq_c_row(lane, i);
                            const int col = 16 * wn + 8 * ni + mmq_c_col(lane, i);
                            float v = (float)c[i] * (swd[row][g] * sxd[col][g]);
                            if (HAS_MIN) v -= swm[row][g] * sxs[col][g];
                            acc[mi][ni][i] += v;
                        }
                    } else {
                        int c0[4] = {0, 0, 0, 0}, c1[4] = {0, 0, 0, 0};
                        mma_k16(c0, a[mi][0], a[mi][1], bb[ni][0]);
                        mma_k16(c1, a[mi][2], a[mi][3], bb[ni][1]);
#pragma unroll
                        for (int i = 0; i < 4; i++) {
                            const int row = 32 * wm + 16 * mi + mmq_c_row(lane, i);
                            const int col = 16 * wn + 8 * ni + mmq_c_col(lane, i);
                            acc[mi][ni][i] += ((float)c0[i] * swd[row][2 * g] + (float)c1[i] * swd[row][2 * g + 1]) *
                                              sxd[col][g];
                        }
                    }
                }
            }
        }
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t row = r0 + 32 * wm + 16 * mi + mmq_c_row(lane, i);
                const int col = 16 * wn + 8 * ni + mmq_c_col(lane, i);
                if (row < p.rows && col < cnt) p.y[s_yo[col] + row] = acc[mi][ni][i];
            }
}

/* ---- v3: cp.async-staged chunks, no I2F, empty pair tiles skipped ------------------------
 * Differences from v2 (mmq_id_kernel): (1) the raw GGML bytes of the next chunk (the 16-byte
 * aligned span of each row's chunk) and the next chunk's activations are copied with cp.async
 * while the current chunk's mma run; the decode reads shared memory. (2) int32 -> f32 by the
 * 1.5*2^23 bias trick (|c| < 2^22: 32 products of int8 x int8 are < 2^19) instead of I2F, which
 * issues at a quarter of the FMA rate and was one per tile element per 32-group in v2. (3) a warp
 * skips the n8 pair tiles past the tile's pair count (an expert's last tile is often part empty). */
__device__ __forceinline__ float mmq_i2f(int c) { return __int_as_float(c + 0x4B400000) - 12582912.f; }
__device__ __forceinline__ void mmq_cp16(void *s, const void *g) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"((uint32_t)__cvta_generic_to_shared(s)), "l"(g) : "memory");
}
__device__ __forceinline__ void mmq_cp4(void *s, const void *g) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"((uint32_t)__cvta_generic_to_shared(s)), "l"(g) : "memory");
}
/* per type: raw bytes of one row's chunk, and its staged stride (room for the 16-byte aligned span) */
template <int T> struct Mmq3 {
    enum { RAWB = (MMQ_KC / QT<T>::QK) * QT<T>::BB, RS = ((RAWB + 30) / 16) * 16,
           NS = MMQ_KC / MmqT<T>::SUB, NG = MMQ_KC / 32, MIN = MmqT<T>::MIN };
    enum { O_SW = 0, O_SX = O_SW + MMQ_BM * MMQ_LD, O_RAW = O_SX + 2 * MMQ_BN * MMQ_LD,
           O_WD = O_RAW + MMQ_BM * RS, O_WM = O_WD + MMQ_BM * (NS + 1) * 4,
           O_XD = O_WM + (MIN ? MMQ_BM * (NG + 1) * 4 : 0), O_XS = O_XD + 2 * MMQ_BN * (NG + 1) * 4,
           SMEM = O_XS + (MIN ? 2 * MMQ_BN * (NG + 1) * 4 : 0) };
};

template <int T>
__global__ void __launch_bounds__(MMQ_WARPS * 32, 3) mmq_id3_kernel(MmqParams p) {
    typedef QT<T> Q;
    typedef Mmq3<T> L;
    constexpr int SUB = MmqT<T>::SUB, NS = L::NS, NG = L::NG, NT = MMQ_WARPS * 32;
    constexpr bool HAS_MIN = MmqT<T>::MIN != 0;
    extern __shared__ __align__(16) uint8_t smem3[];
    int8_t *sw = (int8_t *)(smem3 + L::O_SW);               /* weight tile {KC, BM} int8 */
    int8_t *sx0 = (int8_t *)(smem3 + L::O_SX);              /* 2 activation tiles {KC, BN} int8 */
    uint8_t *raw = smem3 + L::O_RAW;                        /* raw block bytes {RS, BM} */
    float (*swd)[NS + 1] = (float (*)[NS + 1])(smem3 + L::O_WD);
    float (*swm)[NG + 1] = (float (*)[NG + 1])(smem3 + L::O_WM);
    float (*sxd0)[NG + 1] = (float (*)[NG + 1])(smem3 + L::O_XD);   /* 2 x {NG, BN} */
    float (*sxs0)[NG + 1] = (float (*)[NG + 1])(smem3 + L::O_XS);
    __shared__ int64_t s_xc[MMQ_BN], s_yo[MMQ_BN];
    __shared__ int s_tile[3];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;

    if (warp == 0) {   /* the (expert, token tile) of this slot, as in v2 */
        const int slot = blockIdx.y;
        int run = 0, found = 0;
        /* up to 256 experts: every offset load issued before the scan (one latency, not 8);
         * lane l holds offsets[32 i + l] in pre[i] */
        int pre[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = 32 * i + lane;
            pre[i] = e <= p.n_expert ? p.offsets[e] : 0;
        }
        const int last = p.n_expert >= 256 ? p.offsets[256] : 0;
        /* one chunk of 32 experts from e0: o = offsets[e], onext = offsets[e + 1] */
        auto step = [&](int e0, int o, int onext) {
            const int e = e0 + lane;
            const int c = e < p.n_expert ? onext - o : 0;
            const int nt = (c + MMQ_BN - 1) / MMQ_BN;
            int inc = nt;
#pragma unroll
            for (int s = 1; s < 32; s <<= 1) {
                int v = __shfl_up_sync(0xffffffffu, inc, s);
                if (lane >= s) inc += v;
            }
            const int exc = inc - nt;
            const bool mine = nt > 0 && slot >= run + exc && slot < run + inc;
            if (mine) {
                const int ti = slot - run - exc;
                s_tile[0] = e; s_tile[1] = o + ti * MMQ_BN; s_tile[2] = min(MMQ_BN, c - ti * MMQ_BN);
            }
            found = __any_sync(0xffffffffu, mine);
            run += __shfl_sync(0xffffffffu, inc, 31);
        };
#pragma unroll
        for (int i = 0; i < 8; i++) {   /* warp-uniform exits */
            if (found || 32 * i >= p.n_expert) break;
            const int nfirst = i + 1 < 8 ? __shfl_sync(0xffffffffu, pre[i + 1 < 8 ? i + 1 : 7], 0) : last;
            const int down = __shfl_down_sync(0xffffffffu, pre[i], 1);
            step(32 * i, pre[i], lane == 31 ? nfirst : down);
        }
        for (int e0 = 256; e0 < p.n_expert && !found; e0 += 32) {
            const int e = e0 + lane;
            step(e0, e <= p.n_expert ? p.offsets[e] : 0, e < p.n_expert ? p.offsets[e + 1] : 0);
        }
        if (!found && lane == 0) s_tile[2] = 0;
    }
    __syncthreads();
    const int e = s_tile[0], p0 = s_tile[1], cnt = s_tile[2];
    if (cnt <= 0) return;
    if (tid < MMQ_BN) {
        const int pr = p.perm[p0 + min(tid, cnt - 1)];
        const int t = pr / p.top_k, j = pr % p.top_k;
        s_xc[tid] = (int64_t)t * p.n_x + (p.n_x == 1 ? 0 : j);
        s_yo[tid] = (int64_t)j * p.y_col + (int64_t)t * p.y_tok;
    }
    __syncthreads();
    const int64_t r0 = (int64_t)blockIdx.x * MMQ_BM;
    const uint8_t *W = p.w + (int64_t)e * p.expert_bytes;
    const int nchunk = (int)(p.k / MMQ_KC);

    /* queue the copies of chunk c: raw weight spans into raw, activations into buffer c & 1 */
    auto issue = [&](int c) {
        const int64_t k0 = (int64_t)c * MMQ_KC;
        for (int i = tid; i < MMQ_BM * (L::RS / 16); i += NT) {
            const int row = i / (L::RS / 16), pc = i % (L::RS / 16);
            const uint8_t *src = W + min(r0 + row, p.rows - 1) * p.row_bytes + (k0 / Q::QK) * Q::BB;
            const uintptr_t a0 = (uintptr_t)src & ~(uintptr_t)15;
            const int np = (int)((((uintptr_t)src + L::RAWB + 15) & ~(uintptr_t)15) - a0) >> 4;
            if (pc < np) mmq_cp16(raw + row * L::RS + 16 * pc, (const uint8_t *)a0 + 16 * pc);
        }
        int8_t *sx = sx0 + (c & 1) * (MMQ_BN * MMQ_LD);
        for (int i = tid; i < MMQ_BN * (MMQ_KC / 16); i += NT) {
            const int n = i / (MMQ_KC / 16), part = i % (MMQ_KC / 16);
            mmq_cp16(sx + n * MMQ_LD + 16 * part, p.q + s_xc[n] * p.cq + k0 + 16 * part);
        }
        float (*sxd)[NG + 1] = sxd0 + (c & 1) * MMQ_BN;
        float (*sxs)[NG + 1] = sxs0 + (c & 1) * MMQ_BN;
        for (int i = tid; i < MMQ_BN * NG; i += NT) {
            const int n = i / NG, g = i % NG;
            const int64_t o = s_xc[n] * p.cd + k0 / 32 + g;
            mmq_cp4(&sxd[n][g], p.d + o);
            if (HAS_MIN) mmq_cp4(&sxs[n][g], p.s + o);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    };

    const int wm = warp >> 1, wn = warp & 1;
    const bool on[2] = {16 * wn < cnt, 16 * wn + 8 < cnt};   /* warp-uniform */
    float acc[2][2][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.f;

    issue(0);
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();
    for (int c = 0; c < nchunk; c++) {
        const int64_t k0 = (int64_t)c * MMQ_KC;
        /* decode the staged raw bytes: one 32-weight group per thread per round */
        for (int u = tid; u < MMQ_BM * NG; u += NT) {
            const int row = u / NG, g = u % NG;
            const int64_t el = k0 + 32 * g;
            const uint8_t *src = W + min(r0 + row, p.rows - 1) * p.row_bytes + (k0 / Q::QK) * Q::BB;
            const uint8_t *b = raw + row * L::RS + ((uintptr_t)src & 15) + ((el % MMQ_KC) / Q::QK) * Q::BB;
            uint32_t w[8];
            float sc[2], mn;
            mmq_dec<T>(b, (int)((el % Q::QK) / 32), w, sc, mn);
            uint4 *dst = (uint4 *)(sw + row * MMQ_LD + 32 * g);
            dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
            dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
            if (SUB == 32) swd[row][g] = sc[0];
            else { swd[row][2 * g] = sc[0]; swd[row][2 * g + 1] = sc[1]; }
            if (HAS_MIN) swm[row][g] = mn;
        }
        __syncthreads();
        if (c + 1 < nchunk) issue(c + 1);
        const int8_t *sx = sx0 + (c & 1) * (MMQ_BN * MMQ_LD);
        float (*sxd)[NG + 1] = sxd0 + (c & 1) * MMQ_BN;
        float (*sxs)[NG + 1] = sxs0 + (c & 1) * MMQ_BN;
        if (on[0]) {
#pragma unroll 2
            for (int g = 0; g < NG; g++) {
                int a[2][4], bb[2][2];
                float wd[2][2][2], wmn[2][2], xd[2][2], xs[2][2];
#pragma unroll
                for (int mi = 0; mi < 2; mi++) {
                    const int8_t *base = sw + (32 * wm + 16 * mi) * MMQ_LD + 32 * g;
#pragma unroll
                    for (int r = 0; r < 4; r++) a[mi][r] = *(const int *)(base + mmq_a_off(lane, r));
#pragma unroll
                    for (int h = 0; h < 2; h++) {
                        const int row = 32 * wm + 16 * mi + (lane >> 2) + 8 * h;
                        wd[mi][h][0] = swd[row][SUB == 32 ? g : 2 * g];
                        wd[mi][h][1] = swd[row][SUB == 32 ? g : 2 * g + 1];
                        wmn[mi][h] = HAS_MIN ? swm[row][g] : 0.f;
                    }
                }
#pragma unroll
                for (int ni = 0; ni < 2; ni++) {
                    const int8_t *base = sx + (16 * wn + 8 * ni) * MMQ_LD + 32 * g;
#pragma unroll
                    for (int r = 0; r < 2; r++) bb[ni][r] = *(const int *)(base + mmq_b_off(lane, r));
#pragma unroll
                    for (int j = 0; j < 2; j++) {
                        const int col = 16 * wn + 8 * ni + 2 * (lane & 3) + j;
                        xd[ni][j] = sxd[col][g];
                        xs[ni][j] = HAS_MIN ? sxs[col][g] : 0.f;
                    }
                }
#pragma unroll
                for (int mi = 0; mi < 2; mi++)
#pragma unroll
                    for (int ni = 0; ni < 2; ni++) {
                        if (!on[ni]) continue;
                        if (SUB == 32) {
                            int cc[4] = {0, 0, 0, 0};
                            mma_k32(cc, a[mi], bb[ni]);
#pragma unroll
                            for (int i = 0; i < 4; i++) {
                                const int h = i >> 1, j = i & 1;
                                float v = fmaf(mmq_i2f(cc[i]), wd[mi][h][0] * xd[ni][j], acc[mi][ni][i]);
                                acc[mi][ni][i] = HAS_MIN ? fmaf(-wmn[mi][h], xs[ni][j], v) : v;
                            }
                        } else {
                            int c0[4] = {0, 0, 0, 0}, c1[4] = {0, 0, 0, 0};
                            mma_k16(c0, a[mi][0], a[mi][1], bb[ni][0]);
                            mma_k16(c1, a[mi][2], a[mi][3], bb[ni][1]);
#pragma unroll
                            for (int i = 0; i < 4; i++) {
                                const int h = i >> 1, j = i & 1;
                                float v = fmaf(mmq_i2f(c0[i]), wd[mi][h][0], mmq_i2f(c1[i]) * wd[mi][h][1]);
                                acc[mi][ni][i] = fmaf(v, xd[ni][j], acc[mi][ni][i]);
                            }
                        }
                    }
            }
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
        __syncthreads();
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t row = r0 + 32 * wm + 16 * mi + mmq_c_row(lane, i);
                const int col = 16 * wn + 8 * ni + mmq_c_col(lane, i);
                if (row < p.rows && col < cnt) p.y[s_yo[col] + row] = acc[mi][ni][i];
            }
}

/* ---- v4: v3 with the per-thread addresses hoisted and fewer instructions per group ----------
 * v2/v3 measured issue-bound on everything but the mma (NOTES.md). v4: (1) every thread's global
 * and shared addresses (its raw row, its 4 activation pieces, its 2 scale entries, its 4 decode
 * groups) are computed once, a chunk only adds its offset; (2) decoders from shared memory with
 * aligned loads and no per-byte subtract (mmq_dec4); (3) fragments by ldmatrix.x4 (3 per group
 * instead of 12 loads); (4) scales packed in pairs, (wscale, wmin or second wscale) and
 * (xscale, xscale*sum), one 8-byte load each. */
template <int T> struct Mmq4 {
    enum { RAWB = (MMQ_KC / QT<T>::QK) * QT<T>::BB, RS = ((RAWB + 30) / 16) * 16, PPR = RS / 16,
           NG = MMQ_KC / 32 };
    enum { O_SW = 0, O_SX = O_SW + MMQ_BM * MMQ_LD, O_RAW = O_SX + 2 * MMQ_BN * MMQ_LD,
           O_WP = O_RAW + MMQ_BM * RS, O_XP = O_WP + MMQ_BM * (NG + 1) * 8,
           SMEM = O_XP + 2 * MMQ_BN * (NG + 1) * 8 };
};
__device__ __forceinline__ void mmq_ldsm4(uint32_t addr, int r[4]) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
__device__ __forceinline__ void mmq_cp16s(uint32_t s, const void *g) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(g) : "memory");
}
__device__ __forceinline__ void mmq_cp4s(uint32_t s, const void *g) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;" ::"r"(s), "l"(g) : "memory");
}

/* v5 = v4 with MAGIC: the mma accumulators start at the bits of 1.5*2^23, so the int32 result
 * already is the biased float and the conversion is one FADD (no IADD). */
/* v6 = v5 with MINMMA (Q4_K only): the min term of a chunk, -sum over its 8 groups of
 * wmin[row][g] * xsum[pair][g], is a 16x8x8 product per tile: one tf32 mma.m16n8k8 accumulating
 * straight into the f32 tile (tf32 keeps 10 mantissa bits of wmin and xsum) instead of one FFMA
 * per tile entry per group. tf32 fragments (PTX ISA): A a0 (row g, k t), a1 (row g+8, k t),
 * a2 (row g, k t+4), a3 (row g+8, k t+4); B b0 (k t, col g), b1 (k t+4, col g); C as above. */
__device__ __forceinline__ uint32_t mmq_tf32(float f) {
    uint32_t r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(f));
    return r;
}
__device__ __forceinline__ void mma_tf32(float c[4], const uint32_t a[4], const uint32_t b[2]) {
    asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* v7 = v6 with MINB = 4: registers capped at 128 so that 4 blocks (16 warps) are resident per SM
 * where the shared memory allows it (Q4_0 / Q4_K: 53 KB per block), for latency hiding. */
template <int T, bool MAGIC, bool MINMMA = false, int MINB = 3>
__global__ void __launch_bounds__(MMQ_WARPS * 32, MINB) mmq_id4_kernel(MmqParams p) {
    typedef QT<T> Q;
    typedef Mmq4<T> L;
    constexpr int SUB = MmqT<T>::SUB, NG = L::NG, NT = MMQ_WARPS * 32;
    constexpr bool HAS_MIN = MmqT<T>::MIN != 0;
    static_assert(NT == 128 && MMQ_BM == 64 && MMQ_BN == 32 && MMQ_KC == 256, "v4 thread mapping assumes these");
    extern __shared__ __align__(16) uint8_t smem4[];
    __shared__ int64_t s_xc[MMQ_BN], s_yo[MMQ_BN];
    __shared__ int s_tile[3];
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const uint32_t sbase = (uint32_t)__cvta_generic_to_shared(smem4);

    if (warp == 0) {   /* the (expert, token tile) of this slot, as in v3 */
        const int slot = blockIdx.y;
        int run = 0, found = 0;
        int pre[8];
#pragma unroll
        for (int i = 0; i < 8; i++) {
            const int e = 32 * i + lane;
            pre[i] = e <= p.n_expert ? p.offsets[e] : 0;
        }
        const int last = p.n_expert >= 256 ? p.offsets[256] : 0;
        auto step = [&](int e0, int o, int onext) {
            const int e = e0 + lane;
            const int c = e < p.n_expert ? onext - o : 0;
            const int nt = (c + MMQ_BN - 1) / MMQ_BN;
            int inc = nt;
#pragma unroll
            for (int s = 1; s < 32; s <<= 1) {
                int v = __shfl_up_sync(0xffffffffu, inc, s);
                if (lane >= s) inc += v;
            }
            const int exc = inc - nt;
            const bool mine = nt > 0 && slot >= run + exc && slot < run + inc;
            if (mine) {
                const int ti = slot - run - exc;
                s_tile[0] = e; s_tile[1] = o + ti * MMQ_BN; s_tile[2] = min(MMQ_BN, c - ti * MMQ_BN);
            }
            found = __any_sync(0xffffffffu, mine);
            run += __shfl_sync(0xffffffffu, inc, 31);
        };
#pragma unroll
        for (int i = 0; i < 8; i++) {
            if (found || 32 * i >= p.n_expert) break;
            const int nfirst = i + 1 < 8 ? __shfl_sync(0xffffffffu, pre[i + 1 < 8 ? i + 1 : 7], 0) : last;
            const int down = __shfl_down_sync(0xffffffffu, pre[i], 1);
            step(32 * i, pre[i], lane == 31 ? nfirst : down);
        }
        for (int e0 = 256; e0 < p.n_expert && !found; e0 += 32) {
            const int e = e0 + lane;
            step(e0, e <= p.n_expert ? p.offsets[e] : 0, e < p.n_expert ? p.offsets[e + 1] : 0);
        }
        if (!found && lane == 0) s_tile[2] = 0;
    }
    __syncthreads();
    const int e = s_tile[0], p0 = s_tile[1], cnt = s_tile[2];
    if (cnt <= 0) return;
    if (tid < MMQ_BN) {
        const int pr = p.perm[p0 + min(tid, cnt - 1)];
        const int t = pr / p.top_k, j = pr % p.top_k;
        s_xc[tid] = (int64_t)t * p.n_x + (p.n_x == 1 ? 0 : j);
        s_yo[tid] = (int64_t)j * p.y_col + (int64_t)t * p.y_tok;
    }
    __syncthreads();
    const int64_t r0 = (int64_t)blockIdx.x * MMQ_BM;
    const uint8_t *W = p.w + (int64_t)e * p.expert_bytes;
    const int nchunk = (int)(p.k / MMQ_KC);

    /* hoisted addresses. raw copy: 2 threads per row, pieces (tid & 1) + 2j */
    const int crow = tid >> 1;
    const uint8_t *craw = W + min(r0 + crow, p.rows - 1) * p.row_bytes;   /* + c*RAWB per chunk */
    const uint32_t craw_s = sbase + L::O_RAW + crow * L::RS;
    /* activations: pieces n = (tid >> 4) + 8r, part tid & 15; scales n = (tid >> 3) + 16r, g = tid & 7 */
    const int8_t *xq[4];
#pragma unroll
    for (int r = 0; r < 4; r++) xq[r] = p.q + s_xc[(tid >> 4) + 8 * r] * p.cq + 16 * (tid & 15);
    const uint32_t xq_s = sbase + L::O_SX + (tid >> 4) * MMQ_LD + 16 * (tid & 15);
    const float *xdp[2], *xsp[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        const int64_t o = s_xc[(tid >> 3) + 16 * r] * p.cd + (tid & 7);
        xdp[r] = p.d + o; xsp[r] = p.s + o;
    }
    const uint32_t xp_s = sbase + L::O_XP + ((tid >> 3) * (NG + 1) + (tid & 7)) * 8;
    /* decode: groups row = (tid >> 3) + 16r, g = tid & 7 */
    const int dg = tid & 7;
    uint32_t doff_base[4];   /* each row's chunk start mod 16 comes from its global address */
    const uint8_t *drow[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
        const int row = (tid >> 3) + 16 * r;
        drow[r] = W + min(r0 + row, p.rows - 1) * p.row_bytes;
        doff_base[r] = row * L::RS + (Q::QK == 32 ? dg * Q::BB : 0);
    }
    uint8_t *raw = smem4 + L::O_RAW;
    int8_t *sw = (int8_t *)(smem4 + L::O_SW);
    float2 *swp = (float2 *)(smem4 + L::O_WP);   /* {NG + 1, BM} */

    auto issue = [&](int c) {
        const uintptr_t src = (uintptr_t)(craw + (int64_t)c * L::RAWB);
        const uintptr_t a0 = src & ~(uintptr_t)15;
        const int np = (int)((((src + L::RAWB + 15) & ~(uintptr_t)15) - a0) >> 4);
#pragma unroll
        for (int j = 0; j < (L::PPR + 1) / 2; j++) {
            const int pc = (tid & 1) + 2 * j;
            if (pc < np) mmq_cp16s(craw_s + 16 * pc, (const uint8_t *)a0 + 16 * pc);
        }
        const int64_t k0 = (int64_t)c * MMQ_KC;
        const uint32_t xb = (c & 1) * (MMQ_BN * MMQ_LD);
#pragma unroll
        for (int r = 0; r < 4; r++) mmq_cp16s(xq_s + xb + 8 * r * MMQ_LD, xq[r] + k0);
        const uint32_t pb = (c & 1) * (MMQ_BN * (NG + 1) * 8);
#pragma unroll
        for (int r = 0; r < 2; r++) {
            const uint32_t d = xp_s + pb + 16 * r * (NG + 1) * 8;
            mmq_cp4s(d, xdp[r] + k0 / 32);
            if (HAS_MIN) mmq_cp4s(d + 4, xsp[r] + k0 / 32);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    };

    const int wm = warp >> 1, wn = warp & 1;
    const bool on0 = 16 * wn < cnt, on1 = 16 * wn + 8 < cnt;   /* warp-uniform */
    constexpr int Z = MAGIC ? 0x4B400000 : 0;
    auto cvt = [](int c) { return MAGIC ? __int_as_float(c) - 12582912.f : mmq_i2f(c); };
    const uint32_t a_s = sbase + L::O_SW + (32 * wm) * MMQ_LD + mmq_ldsm_a_off(lane);
    const uint32_t b_s = sbase + L::O_SX + (16 * wn) * MMQ_LD + mmq_ldsm_b_off(lane);
    const int rq = 32 * wm + (lane >> 2);                 /* rows rq + 16 mi + 8 h */
    const int cq0 = 16 * wn + 2 * (lane & 3);             /* pairs cq0 + 8 ni + j */
    float acc[2][2][4];
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) acc[mi][ni][i] = 0.f;

    issue(0);
    asm volatile("cp.async.wait_all;" ::: "memory");
    __syncthreads();
    for (int c = 0; c < nchunk; c++) {
#pragma unroll
        for (int r = 0; r < 4; r++) {
            const int row = (tid >> 3) + 16 * r;
            const uint32_t off = (uint32_t)((uintptr_t)(drow[r] + (int64_t)c * L::RAWB) & 15);
            uint32_t w[8];
            float sc[2], mn;
            mmq_dec4<T>(raw + doff_base[r] + off, Q::QK == 32 ? 0 : dg, w, sc, mn);
            uint4 *dst = (uint4 *)(sw + row * MMQ_LD + 32 * dg);
            dst[0] = make_uint4(w[0], w[1], w[2], w[3]);
            dst[1] = make_uint4(w[4], w[5], w[6], w[7]);
            swp[row * (NG + 1) + dg] = make_float2(sc[0], HAS_MIN ? mn : sc[1]);
        }
        __syncthreads();
        if (c + 1 < nchunk) issue(c + 1);
        const uint32_t xb = (c & 1) * (MMQ_BN * MMQ_LD);
        const float2 *sxp = (const float2 *)(smem4 + L::O_XP) + (c & 1) * (MMQ_BN * (NG + 1));
        if (on0) {
#pragma unroll
            for (int g = 0; g < NG; g++) {
                int a[2][4], bb[4];
                mmq_ldsm4(a_s + 32 * g, a[0]);
                mmq_ldsm4(a_s + 16 * MMQ_LD + 32 * g, a[1]);
                mmq_ldsm4(b_s + xb + 32 * g, bb);
                float2 wv[2][2], xv[2][2];
#pragma unroll
                for (int mi = 0; mi < 2; mi++)
#pragma unroll
                    for (int h = 0; h < 2; h++) wv[mi][h] = swp[(rq + 16 * mi + 8 * h) * (NG + 1) + g];
#pragma unroll
                for (int ni = 0; ni < 2; ni++)
#pragma unroll
                    for (int j = 0; j < 2; j++) xv[ni][j] = sxp[(cq0 + 8 * ni + j) * (NG + 1) + g];
#pragma unroll
                for (int mi = 0; mi < 2; mi++)
#pragma unroll
                    for (int ni = 0; ni < 2; ni++) {
                        if (ni == 1 && !on1) continue;
                        const int b2[2] = {bb[2 * ni], bb[2 * ni + 1]};
                        if (SUB == 32) {
                            int cc[4] = {Z, Z, Z, Z};
                            mma_k32(cc, a[mi], b2);
#pragma unroll
                            for (int i = 0; i < 4; i++) {
                                const float2 wq = wv[mi][i >> 1], xq2 = xv[ni][i & 1];
                                float v = fmaf(cvt(cc[i]), wq.x * xq2.x, acc[mi][ni][i]);
                                acc[mi][ni][i] = HAS_MIN && !MINMMA ? fmaf(-wq.y, xq2.y, v) : v;
                            }
                        } else {
                            int c0[4] = {Z, Z, Z, Z}, c1[4] = {Z, Z, Z, Z};
                            mma_k16(c0, a[mi][0], a[mi][1], b2[0]);
                            mma_k16(c1, a[mi][2], a[mi][3], b2[1]);
#pragma unroll
                            for (int i = 0; i < 4; i++) {
                                const float2 wq = wv[mi][i >> 1];
                                float v = fmaf(cvt(c0[i]), wq.x, cvt(c1[i]) * wq.y);
                                acc[mi][ni][i] = fmaf(v, xv[ni][i & 1].x, acc[mi][ni][i]);
                            }
                        }
                    }
            }
            if (HAS_MIN && MINMMA) {   /* the chunk's min term: 8 groups = k8 of one tf32 mma */
                const int t = lane & 3;
                uint32_t am[2][4], bm[2][2];
#pragma unroll
                for (int mi = 0; mi < 2; mi++) {
                    const int r = rq + 16 * mi;
                    am[mi][0] = mmq_tf32(-swp[r * (NG + 1) + t].y);
                    am[mi][1] = mmq_tf32(-swp[(r + 8) * (NG + 1) + t].y);
                    am[mi][2] = mmq_tf32(-swp[r * (NG + 1) + t + 4].y);
                    am[mi][3] = mmq_tf32(-swp[(r + 8) * (NG + 1) + t + 4].y);
                }
#pragma unroll
                for (int ni = 0; ni < 2; ni++) {
                    const int n = 16 * wn + 8 * ni + (lane >> 2);
                    bm[ni][0] = mmq_tf32(sxp[n * (NG + 1) + t].y);
                    bm[ni][1] = mmq_tf32(sxp[n * (NG + 1) + t + 4].y);
                }
#pragma unroll
                for (int mi = 0; mi < 2; mi++)
#pragma unroll
                    for (int ni = 0; ni < 2; ni++)
                        if (ni == 0 || on1) mma_tf32(acc[mi][ni], am[mi], bm[ni]);
            }
        }
        asm volatile("cp.async.wait_all;" ::: "memory");
        __syncthreads();
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++)
#pragma unroll
            for (int i = 0; i < 4; i++) {
                const int64_t row = r0 + 32 * wm + 16 * mi + mmq_c_row(lane, i);
                const int col = 16 * wn + 8 * ni + mmq_c_col(lane, i);
                if (row < p.rows && col < cnt) p.y[s_yo[col] + row] = acc[mi][ni][i];
            }
}

typedef void (*mmq_fn)(MmqParams);
static mmq_fn mmq_for(mlxn_type t, int ver, int *smem) {
    switch (t) {
#define C(T) case T: *smem = ver >= 4 ? (int)Mmq4<T>::SMEM : ver == 3 ? (int)Mmq3<T>::SMEM : 0; \
        return ver == 7 ? (T == MLXN_TYPE_Q4_K ? mmq_id4_kernel<MLXN_TYPE_Q4_K, true, true, 4> \
                                               : mmq_id4_kernel<T, true, false, 4>) \
             : ver == 6 && T == MLXN_TYPE_Q4_K ? mmq_id4_kernel<MLXN_TYPE_Q4_K, true, true> \
             : ver >= 5 ? mmq_id4_kernel<T, true> : ver == 4 ? mmq_id4_kernel<T, false> \
             : ver == 3 ? mmq_id3_kernel<T> : mmq_id_kernel<T>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q8_0) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q6_K)
#undef C
    default: return NULL;
    }
}

/* The version in effect: mlxn_cuda_mmq_version, or the environment variable MLXN_CUDA_MMQ (0..7,
 * read once at the first call) when the knob was left at 0: 0 auto (mmq_effective), 1 the grouped
 * mat-vec, 2..7 the tile kernels (6: 5 with the Q4_K min term by tf32 mma, = 5 for other types;
 * 7: 6 with 4 resident blocks per SM). */
static int mmq_version(void) {
    static bool env_done = false;
    if (!env_done) {
        env_done = true;
        const char *e = getenv("MLXN_CUDA_MMQ");
        if (e && e[0] >= '0' && e[0] <= '7' && !e[1] && mlxn_cuda_mmq_version == 0) mlxn_cuda_mmq_version = e[0] - '0';
    }
    return mlxn_cuda_mmq_version;
}

/* Auto (version 0): the tile kernel MMQ_AUTO from MMQ_AUTO_PAIRS (token, slot) pairs per expert on
 * average; below, the grouped mat-vec. Measured on the H200 (runs of 23:23 and 23:49,
 * docs/perf/NOTES.md), Q4_K 768x2048 128/top-8, v1 / v3 in us: 16 tokens (1 pair per expert)
 * 64 / 64, 32 tokens 201 / 123, 64: 253 / 128, 128: 388 / 137, 512: 1274 / 241. Every version
 * side by side (run of 2026-11-30 00:55, 512 tokens, us): Q4_K v3 240, v4 212, v5 227, v6 223,
 * v7 214; Q4_0 195 / 176 / 171 / - / 173; Q6_K 297 / 255 / 243 / - / 240; Q8_0 235 / 232 / 228 /
 * - / 227; Q4_K 2048x768 235 / 217 / 237 / 232 / 213. v7 is the best or within 2% of it for every
 * type, and passed the harness (222/0), so it is the default. */
#define MMQ_AUTO 7
#define MMQ_AUTO_PAIRS 2
static int mmq_effective(const mlxn_cuda_mm *a) {
    const int ver = mmq_version();
    if (ver != 0) return ver;
    return (int64_t)a->top_k * a->n_tokens >= (int64_t)MMQ_AUTO_PAIRS * a->n_expert ? MMQ_AUTO : 1;
}

extern "C" bool mlxn_cuda_mmq_use(const mlxn_cuda_mm *a) {
    if (!a->ids) return false;
    const int ver = mmq_effective(a);
    int smem;
    if ((ver < 2 || ver > 7) || !mmq_for(a->type, ver, &smem) || a->k % MMQ_KC) return false;
    /* 2-byte aligned blocks (4 for Q4_K: 32-bit loads), as the int8 mat-vec route requires */
    const uintptr_t al = (uintptr_t)a->w | (uintptr_t)a->row_bytes | (uintptr_t)a->expert_bytes;
    if (al & (a->type == MLXN_TYPE_Q4_K ? 3 : 1)) return false;
    return a->n_tokens * a->top_k / MMQ_BN + a->n_expert < 65535;
}

extern "C" mlxn_status mlxn_cuda_mmq_id(const mlxn_cuda_mm *a, const int8_t *q, const float *d, const float *s,
                                        const int32_t *offsets, const int32_t *perm, void *stream) {
    const int ver = mmq_effective(a) >= 2 ? mmq_effective(a) : 2;
    int smem = 0;
    mmq_fn f = mmq_for(a->type, ver, &smem);
    if (!f) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda mul_mat_id tile kernel: type %s not supported", mlxn_type_name(a->type));
    if (a->k % MMQ_KC) return mlxn_fail(MLXN_ERR_SHAPE, "cuda mul_mat_id tile kernel: k = %lld not a multiple of %d", (long long)a->k, MMQ_KC);
    if (smem > 48 * 1024) {   /* once per kernel: (version, type id 0..63) */
        static bool attr_set[8][64];
        if (!attr_set[ver & 7][a->type & 63]) {
            CU_TRY(cudaFuncSetAttribute((const void *)f, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
            attr_set[ver & 7][a->type & 63] = true;
        }
    }
    MmqParams p;
    p.w = (const uint8_t *)a->w; p.row_bytes = (int64_t)a->row_bytes; p.expert_bytes = (int64_t)a->expert_bytes;
    p.rows = a->rows; p.k = a->k;
    p.q = q; p.d = d; p.s = s; p.cq = a->k; p.cd = a->k / 32;
    p.y = a->y; p.y_col = a->y_col; p.y_tok = a->y_tok;
    p.top_k = a->top_k; p.n_x = a->n_x; p.n_expert = a->n_expert;
    p.offsets = offsets; p.perm = perm;
    const int64_t n_pairs = (int64_t)a->top_k * a->n_tokens;
    /* tile slots: sum over experts of ceil(count / BN) <= n_pairs / BN + (experts with pairs) */
    const int64_t slots = n_pairs / MMQ_BN + (a->n_expert < n_pairs ? a->n_expert : n_pairs);
    if (slots < 1 || a->rows < 1) return MLXN_OK;
    dim3 grid((unsigned)((a->rows + MMQ_BM - 1) / MMQ_BM), (unsigned)slots);
    f<<<grid, MMQ_WARPS * 32, (size_t)smem, CU_STREAM(stream)>>>(p);
    return MLXN_CUDA_LAUNCHED(ver >= 4 ? "mmq_id4_kernel" : ver == 3 ? "mmq_id3_kernel" : "mmq_id_kernel");
}

#endif /* MMQ_HOST_TEST */
