/* Quantized mat-vec (n = 1..8) and mul_mat_id decode route, plus dequantization and get_rows.
 *
 * Design (docs/perf/NOTES.md has the numbers): decode is a weight stream, so the kernel is built
 * around moving weight bytes at the HBM ceiling.
 *  - One warp per weight row. The warp streams its row in steps of whole blocks (<= 4592 bytes):
 *    every lane issues up to 9 coalesced 16-byte loads (ld.global.nc, no L1 allocation) covering
 *    the 16-byte-aligned span of the step, all in flight before the first use, then stores them
 *    to its warp's shared-memory stage (no __syncthreads, only __syncwarp). Blocks of 17..210
 *    bytes are rarely 16-byte aligned; staging turns the unaligned block layout into aligned,
 *    full-width DRAM transactions without one narrow global load per field.
 *  - Lanes then decode 32-weight "units" from shared memory into packed int8 words and dot them
 *    with the activations by dp4a. Activations are quantized once per call to int8 in groups of
 *    32 (scale + scale*sum), 36 bytes per 32 values instead of 128: they stay in L1, shared by
 *    every warp on the SM.
 *  - mul_mat_id: blockIdx.y is the (token, slot) pair, the expert id is read on the device (so a
 *    captured graph serves every step); a bad id raises the device error flag.
 * F16/BF16/F32 weights use a direct 16-byte-load kernel with f32 activations.
 * For n = 1 and decode mul_mat_id, v6 (mmv6.cu: weights streamed by bulk copies, activations
 * quantized in the kernel) takes matrices from ~3 MB up (mul_mat_id: 32 MB); smaller ones use
 * v3 (mmv_q3_kernel: multi-row warps, cp.async ring) or, for Q6_K, v4 (mmv_q4_kernel:
 * activations staged in shared memory per 8-warp block); v1 (mmv_q_kernel, described above), v2
 * and v5 stay selectable (mlxn_cuda_mmv_version) and
 * are measured side by side by `mlxn bench-ops` (docs/perf/NOTES.md). */
#include "backend/cuda/quant.cuh"
#include <cublas_v2.h>
#include <stdlib.h>
#include <stdio.h>

int mlxn_cuda_mmv_force_f32x = 0;
int mlxn_cuda_mmv_no_pdl = 0;
int mlxn_cuda_mmv_skip_xq = 0;
int mlxn_cuda_mmv_trigger = 1;
int mlxn_cuda_xq_early = 1;
extern "C" int mlxn_cuda_skip_xq(int pro) {
    const int m = mlxn_cuda_mmv_skip_xq;
    return m == 2 || (m == 1 && pro == 0) || (m == 3 && pro == 1) || (m == 4 && pro >= 2);
}
int mlxn_cuda_mmv_version = 0;   /* 0: auto (mmv6_worth_it, then mmv_version_for) */
int mlxn_cuda_mmv_v2_warps = 20;
int mlxn_cuda_mmv_v3_warps = 16;

typedef void (*dq_fn)(const uint8_t *, int64_t, int64_t, int64_t, void *, int64_t, bool, const int32_t *, int64_t, int *);
typedef dq_fn dq_fn_t;

#define MMV_WARPS 4
#define MMV_PPL 9                         /* 16-byte pieces per lane per step */
#define MMV_STAGE (32 * MMV_PPL)          /* pieces per warp stage (4608 bytes) */
#define MMV_GROUP_MIN_PAIRS 32            /* mul_mat_id: group pairs per expert above this */

struct MmvParams {
    const uint8_t *w;
    int64_t row_bytes, expert_bytes, rows, k;
    int ncols;                /* plain: columns in this launch */
    const int8_t *q; const float *d, *s; int64_t cq, cd;   /* quantized activations, column stride */
    float *y; int64_t y_col;
    /* id mode */
    const int32_t *ids; int64_t ids_tok; int top_k, n_x, n_expert;
    int64_t y_tok;
    int *err;
    /* grouped id mode: pairs sorted by expert */
    const int32_t *offsets, *perm;
    /* mul_mat_fused epilogue (plain mode only): y[c][row] = dot + add[c][row]; add may be y,
     * each element is read and written by the same lane */
    const float *add; int64_t add_col;
    int trigger;   /* v2-v4: let the next kernel launch right after the wait (mlxn_cuda_mmv_trigger) */
};

/* mul_mat_id: the (token, slot) pair of this block (blockIdx.y) picks an expert and an
 * activation column. Moves *W to the expert's matrix and *y to the pair's output and sets *xc to
 * the activation column. An id out of range raises the error flag (once, from the thread that
 * passes report) and returns false: the block then writes nothing. */
__device__ __forceinline__ bool mmv_bind_pair(const MmvParams &p, bool report, const uint8_t **W, int64_t *xc,
                                              float **y) {
    const int g = blockIdx.y, t = g / p.top_k, j = g % p.top_k;
    const int e = p.ids[t * p.ids_tok + j];
    *xc = (int64_t)t * p.n_x + (p.n_x == 1 ? 0 : j);
    *y += j * p.y_col + t * p.y_tok;
    if (e < 0 || e >= p.n_expert) {
        if (report) atomicOr(p.err, 1);
        return false;
    }
    *W += (int64_t)e * p.expert_bytes;
    return true;
}

/* Every column slot c of x reads activation column xc. */
__device__ __forceinline__ void xq_bind_column(XQ &x, const MmvParams &p, int64_t xc) {
    x.q = p.q; x.d = p.d; x.s = p.s;
#pragma unroll
    for (int c = 0; c < 8; c++) { x.oq[c] = xc * p.cq; x.od[c] = xc * p.cd; }
}

/* Decodes the nu units of a staged step, lane-strided, MMV_UNR units per lane per round: the
 * activation loads (global, through L1) of MMV_UNR units are in flight together. One unit per
 * round (the single-column kernels) measured latency-bound (Nsight Compute: memory pipes 12% busy, DRAM 24%). */
#define MMV_UNR 4
template <int T, int NC, int UNR1 = MMV_UNR>
__device__ __forceinline__ void decode_units(const uint8_t *sb, int nu, int lane, const XQ &x, int64_t b0, float *acc) {
    typedef QT<T> Q;
    constexpr int UNR = NC == 1 ? UNR1 : 1;   /* more columns: already NC loads per unit */
    int u = lane;
    for (; u + 32 * (UNR - 1) < nu; u += 32 * UNR) {
#pragma unroll
        for (int r = 0; r < UNR; r++) {
            int uu = u + 32 * r, bi = uu / Q::UPB, sub = uu % Q::UPB;
            Unit<T, NC>::run(sb + bi * Q::BB, sub, x, (b0 + bi) * Q::QK, acc);
        }
    }
    for (; u < nu; u += 32) {
        int bi = u / Q::UPB, sub = u % Q::UPB;
        Unit<T, NC>::run(sb + bi * Q::BB, sub, x, (b0 + bi) * Q::QK, acc);
    }
}

/* One weight row against NC activation columns: the staged 16-byte stream described above.
 * `pdl_wait`: wait for the preceding kernel (griddepcontrol) after the first loads are issued. */
template <int T, int NC>
__device__ __forceinline__ void row_dot(const uint8_t *rowp, int64_t k, const XQ &x, uint4 *st, int lane, bool pdl_wait,
                                        float *acc) {
    typedef QT<T> Q;
    const int64_t nblk = k / Q::QK;
    const int NB = (MMV_STAGE * 16 - 16) / Q::BB;
    for (int64_t b0 = 0; b0 < nblk; b0 += NB) {
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = rowp + b0 * Q::BB;
        uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
        uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
        int np = (int)((a1 - a0) >> 4);
        uint4 v[MMV_PPL];
#pragma unroll
        for (int i = 0; i < MMV_PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) v[i] = ldg_stream((const uint4 *)a0 + pi);
        }
        /* Programmatic dependent launch: the first weight loads are in flight while the
         * activation-quantizing kernel before us finishes; x is read only after this wait. */
        if (pdl_wait && b0 == 0) asm volatile("griddepcontrol.wait;" ::: "memory");
        __syncwarp();
#pragma unroll
        for (int i = 0; i < MMV_PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) st[pi] = v[i];
        }
        __syncwarp();
        const uint8_t *sb = (const uint8_t *)st + ((uintptr_t)s & 15);
        const int nu = nb * Q::UPB;
        decode_units<T, NC>(sb, nu, lane, x, b0, acc);
    }
}

template <int T, int NC>
__global__ void __launch_bounds__(MMV_WARPS * 32) mmv_q_kernel(MmvParams p) {
    __shared__ uint4 stage_all[MMV_WARPS][MMV_STAGE];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + warp;
    if (row >= p.rows) return;
    const uint8_t *W = p.w;
    XQ x;
    float *y = p.y;
    int ncols = p.ncols;
    if (p.ids) {
        int64_t xc;
        if (!mmv_bind_pair(p, row == 0 && lane == 0, &W, &xc, &y)) return;
        xq_bind_column(x, p, xc);
        ncols = 1;
    } else {
        x.q = p.q; x.d = p.d; x.s = p.s;
#pragma unroll
        for (int c = 0; c < 8; c++) { int cc = c < ncols ? c : 0; x.oq[c] = cc * p.cq; x.od[c] = cc * p.cd; }
    }
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.f;
    row_dot<T, NC>(W + row * p.row_bytes, p.k, x, stage_all[warp], lane, true, acc);
#pragma unroll
    for (int c = 0; c < NC; c++) {
        float r = warp_sum(acc[c]);
        if (lane == 0 && c < ncols) y[c * p.y_col + row] = p.add ? r + p.add[c * p.add_col + row] : r;
    }
}

/* v2 (opt-in, mlxn_cuda_mmv_version = 2; measured about equal to v1): software-pipelined and multi-row.
 * A warp owns rows [r0, r1) (of one (token, slot) pair in id mode) and walks the sequence of
 * (row, step) pieces; the 16-byte loads of piece t+1 are issued into registers before piece t is
 * decoded from shared memory, so every warp always has a step in flight (v1 measured
 * latency-bound: DRAM 23%, nothing saturated). */
template <int T>
__global__ void __launch_bounds__(MMV_WARPS * 32) mmv_q2_kernel(MmvParams p, int rows_per_warp) {
    typedef QT<T> Q;
    __shared__ uint4 stage_all[MMV_WARPS][MMV_STAGE];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r0 = ((int64_t)blockIdx.x * MMV_WARPS + warp) * rows_per_warp;
    if (r0 >= p.rows) return;
    const int64_t r1 = min(p.rows, r0 + rows_per_warp);
    const uint8_t *W = p.w;
    float *y = p.y;
    int64_t xc = 0;
    if (p.ids && !mmv_bind_pair(p, r0 == 0 && lane == 0, &W, &xc, &y)) return;
    XQ x;
    xq_bind_column(x, p, xc);
    uint4 *st = stage_all[warp];
    const int64_t nblk = p.k / Q::QK;
    const int NB = (MMV_STAGE * 16 - 16) / Q::BB;
    const int64_t S = (nblk + NB - 1) / NB;            /* steps per row */
    const int64_t nT = (r1 - r0) * S;
    uint4 v[MMV_PPL];
    /* issue the loads of piece t into v */
    auto issue = [&](int64_t t) {
        int64_t row = r0 + t / S, b0 = (t % S) * NB;
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = W + row * p.row_bytes + b0 * Q::BB;
        uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
        uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
        int np = (int)((a1 - a0) >> 4);
#pragma unroll
        for (int i = 0; i < MMV_PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) v[i] = ldg_stream((const uint4 *)a0 + pi);
        }
    };
    issue(0);
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (p.trigger) asm volatile("griddepcontrol.launch_dependents;");
    float acc = 0.f;
    for (int64_t t = 0; t < nT; t++) {
        int64_t row = r0 + t / S, b0 = (t % S) * NB;
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = W + row * p.row_bytes + b0 * Q::BB;
        uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
        uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
        int np = (int)((a1 - a0) >> 4);
        __syncwarp();                       /* the previous piece's decode is done with st */
#pragma unroll
        for (int i = 0; i < MMV_PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) st[pi] = v[i];
        }
        __syncwarp();
        if (t + 1 < nT) issue(t + 1);       /* in flight while this piece is decoded */
        const uint8_t *sb = (const uint8_t *)st + ((uintptr_t)s & 15);
        const int nu = nb * Q::UPB;
        decode_units<T, 1>(sb, nu, lane, x, b0, &acc);
        if (t % S == S - 1) {               /* last piece of this row */
            float r = warp_sum(acc);
            if (lane == 0) y[row] = p.add ? r + p.add[row] : r;
            acc = 0.f;
        }
    }
}
typedef void (*mmv_q2_fn)(MmvParams, int);
/* v3 (the default, mlxn_cuda_mmv_version = 3): v2's walk over (row, step) pieces, but the pieces are
 * copied with cp.async straight into a ring of MMV_NS shared-memory stages per warp (no register
 * staging): MMV_NS - 1 steps are in flight while one is decoded. */
#define MMV_NS 3
template <int T>
__global__ void __launch_bounds__(MMV_WARPS * 32) mmv_q3_kernel(MmvParams p, int rows_per_warp) {
    typedef QT<T> Q;
    extern __shared__ uint4 ring_all[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t r0 = ((int64_t)blockIdx.x * MMV_WARPS + warp) * rows_per_warp;
    if (r0 >= p.rows) return;
    const int64_t r1 = min(p.rows, r0 + rows_per_warp);
    const uint8_t *W = p.w;
    float *y = p.y;
    int64_t xc = 0;
    if (p.ids && !mmv_bind_pair(p, r0 == 0 && lane == 0, &W, &xc, &y)) return;
    XQ x;
    xq_bind_column(x, p, xc);
    uint4 *ring = ring_all + warp * (MMV_NS * MMV_STAGE);
    const int64_t nblk = p.k / Q::QK;
    const int NB = (MMV_STAGE * 16 - 16) / Q::BB;
    const int S = (int)((nblk + NB - 1) / NB);          /* steps per row */
    const int64_t nT = (r1 - r0) * S;
    auto issue = [&](int64_t t) {
        if (t < nT) {
            int64_t row = r0 + t / S, b0 = (t % S) * (int64_t)NB;
            int nb = (int)min((int64_t)NB, nblk - b0);
            const uint8_t *s = W + row * p.row_bytes + b0 * Q::BB;
            uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
            uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
            int np = (int)((a1 - a0) >> 4);
            uint4 *st = ring + (int)(t % MMV_NS) * MMV_STAGE;
#pragma unroll
            for (int i = 0; i < MMV_PPL; i++) {
                int pi = lane + 32 * i;
                if (pi < np) {
                    uint32_t sa = (uint32_t)__cvta_generic_to_shared(st + pi);
                    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16;" ::"r"(sa), "l"((const uint4 *)a0 + pi) : "memory");
                }
            }
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
    };
#pragma unroll
    for (int i = 0; i < MMV_NS - 1; i++) issue(i);
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (p.trigger) asm volatile("griddepcontrol.launch_dependents;");
    float acc = 0.f;
    for (int64_t t = 0; t < nT; t++) {
        issue(t + MMV_NS - 1);
        asm volatile("cp.async.wait_group %0;" ::"n"(MMV_NS - 1) : "memory");
        __syncwarp();
        int64_t row = r0 + t / S, b0 = (t % S) * (int64_t)NB;
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = W + row * p.row_bytes + b0 * Q::BB;
        const uint8_t *sb = (const uint8_t *)(ring + (int)(t % MMV_NS) * MMV_STAGE) + ((uintptr_t)s & 15);
        const int nu = nb * Q::UPB;
        decode_units<T, 1>(sb, nu, lane, x, b0, &acc);
        if (t % S == S - 1) {
            float r = warp_sum(acc);
            if (lane == 0) y[row] = p.add ? r + p.add[row] : r;
            acc = 0.f;
        }
        __syncwarp();                       /* this stage is refilled by the next iteration's issue */
    }
    asm volatile("cp.async.wait_all;" ::: "memory");
}
static mmv_q2_fn mmv_q3_for(mlxn_type t) {
    switch (t) {
#define C(T) case T: return mmv_q3_kernel<T>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K) C(MLXN_TYPE_Q6_K)
    C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_MXFP4)
#undef C
    default: return NULL;
    }
}

static mmv_q2_fn mmv_q2_for(mlxn_type t) {
    switch (t) {
#define C(T) case T: return mmv_q2_kernel<T>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K) C(MLXN_TYPE_Q6_K)
    C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_MXFP4)
#undef C
    default: return NULL;
    }
}

/* v4 / v5 (mlxn_cuda_mmv_version = 4 / 5): v2's register-staged walk over (row, step) pieces, but
 * with blocks of W = 8 warps, registers capped for 3 (v4: <= 80) or 4 (v5: <= 64) resident blocks
 * per SM (24 / 32 warps; uncapped the kernel takes 110-128 registers, i.e. 16 warps; v5 also
 * stages 2 KB steps (4 pieces per lane) and decodes one unit per lane per round, so that 64
 * registers do not spill), and the
 * whole activation column (int8 q, group scales
 * d and d*sum s: 1.25 bytes per element, 17.5 KB at k = 14336) copied once per block into shared
 * memory. Every activation read of the decode is then a shared-memory load (~30 cycles) instead of
 * an L1 access that missed to L2 35% of the time (Nsight Compute on v3: L1 hit rate 65%, with the
 * activation loads the remaining serial chain per unit). One block per (row range, pair); rows per
 * warp aim at one wave of the resident warps. */
#define MMV4_XMAX 65536       /* largest activation stage (bytes) v4/v5 take; larger k: v3 */
static __host__ __device__ inline int64_t mmv4_xbytes(int64_t k) {
    return ((k + 15) & ~(int64_t)15) + 2 * (((k / 32) * 4 + 15) & ~(int64_t)15);
}
template <int T, int W, int MINB, int PPL>
__global__ void __launch_bounds__(W * 32, MINB) mmv_q4_kernel(MmvParams p, int rows_per_warp) {
    typedef QT<T> Q;
    extern __shared__ uint4 smem4[];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t k = p.k, ng = k / 32;
    const int64_t xq_bytes = (k + 15) & ~(int64_t)15, xd_bytes = ((ng * 4) + 15) & ~(int64_t)15;
    int8_t *sq = (int8_t *)smem4;
    float *sd = (float *)((char *)smem4 + xq_bytes), *ss = (float *)((char *)smem4 + xq_bytes + xd_bytes);
    uint4 *st = (uint4 *)((char *)smem4 + xq_bytes + 2 * xd_bytes) + warp * (32 * PPL);
    const int64_t r0 = ((int64_t)blockIdx.x * W + warp) * rows_per_warp;
    const int64_t r1 = min(p.rows, r0 + rows_per_warp);
    const uint8_t *W_ = p.w;
    float *y = p.y;
    int64_t xc = 0;
    /* a bad id is uniform over the block, so the whole block returns before any barrier */
    if (p.ids && !mmv_bind_pair(p, r0 == 0 && lane == 0, &W_, &xc, &y)) return;
    const int64_t nblk = k / Q::QK;
    const int NB = ((32 * PPL) * 16 - 16) / Q::BB;
    const int64_t S = (nblk + NB - 1) / NB;
    const int64_t nT = r0 < r1 ? (r1 - r0) * S : 0;
    uint4 v[PPL];
    auto issue = [&](int64_t t) {
        int64_t row = r0 + t / S, b0 = (t % S) * NB;
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = W_ + row * p.row_bytes + b0 * Q::BB;
        uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
        uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
        int np = (int)((a1 - a0) >> 4);
#pragma unroll
        for (int i = 0; i < PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) v[i] = ldg_stream((const uint4 *)a0 + pi);
        }
    };
    if (nT > 0) issue(0);
    asm volatile("griddepcontrol.wait;" ::: "memory");
    if (p.trigger) asm volatile("griddepcontrol.launch_dependents;");
    /* the activation column into shared memory (k % 32 == 0, 16-aligned columns) */
    {
        const uint4 *gq = (const uint4 *)(p.q + xc * p.cq);
        for (int64_t i = threadIdx.x; i < k / 16; i += W * 32) ((uint4 *)sq)[i] = gq[i];
        const float *gd = p.d + xc * p.cd, *gs = p.s + xc * p.cd;
        for (int64_t i = threadIdx.x; i < ng; i += W * 32) { sd[i] = gd[i]; ss[i] = gs[i]; }
    }
    __syncthreads();
    if (nT == 0) return;
    XQ x;
    x.q = sq; x.d = sd; x.s = ss;
#pragma unroll
    for (int c = 0; c < 8; c++) { x.oq[c] = 0; x.od[c] = 0; }
    float acc = 0.f;
    for (int64_t t = 0; t < nT; t++) {
        int64_t row = r0 + t / S, b0 = (t % S) * NB;
        int nb = (int)min((int64_t)NB, nblk - b0);
        const uint8_t *s = W_ + row * p.row_bytes + b0 * Q::BB;
        uintptr_t a0 = (uintptr_t)s & ~(uintptr_t)15;
        uintptr_t a1 = ((uintptr_t)(s + (int64_t)nb * Q::BB) + 15) & ~(uintptr_t)15;
        int np = (int)((a1 - a0) >> 4);
        __syncwarp();
#pragma unroll
        for (int i = 0; i < PPL; i++) {
            int pi = lane + 32 * i;
            if (pi < np) st[pi] = v[i];
        }
        __syncwarp();
        if (t + 1 < nT) issue(t + 1);
        const uint8_t *sb = (const uint8_t *)st + ((uintptr_t)s & 15);
        decode_units<T, 1, (MINB >= 4 ? 1 : MMV_UNR)>(sb, nb * Q::UPB, lane, x, b0, &acc);
        if (t % S == S - 1) {
            float r = warp_sum(acc);
            if (lane == 0) y[row] = p.add ? r + p.add[row] : r;
            acc = 0.f;
        }
    }
}
template <int W, int MINB, int PPL> static mmv_q2_fn mmv_q4_for(mlxn_type t) {
    switch (t) {
#define C(T) case T: return mmv_q4_kernel<T, W, MINB, PPL>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K) C(MLXN_TYPE_Q6_K)
    C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_MXFP4)
#undef C
    default: return NULL;
    }
}

/* mul_mat_id with many (token, slot) pairs: pairs are grouped per expert on the device
 * (group_kernel), then blockIdx.y = expert and each warp runs its row against the expert's pairs
 * 8 at a time, so the weights are streamed from HBM once per expert (re-reads hit L2). */
template <int T>
__global__ void __launch_bounds__(MMV_WARPS * 32) mmv_q_grouped_kernel(MmvParams p) {
    __shared__ uint4 stage_all[MMV_WARPS][MMV_STAGE];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * MMV_WARPS + warp;
    const int e = blockIdx.y;
    if (row >= p.rows) return;
    const int start = p.offsets[e], cnt = p.offsets[e + 1] - start;
    const uint8_t *rowp = p.w + (int64_t)e * p.expert_bytes + row * p.row_bytes;
    for (int c0 = 0; c0 < cnt; c0 += 8) {
        XQ x;
        x.q = p.q; x.d = p.d; x.s = p.s;
        int pr[8];
#pragma unroll
        for (int c = 0; c < 8; c++) {
            pr[c] = p.perm[start + min(c0 + c, cnt - 1)];
            int t = pr[c] / p.top_k, j = pr[c] % p.top_k;
            int64_t xc = (int64_t)t * p.n_x + (p.n_x == 1 ? 0 : j);
            x.oq[c] = xc * p.cq; x.od[c] = xc * p.cd;
        }
        float acc[8];
#pragma unroll
        for (int c = 0; c < 8; c++) acc[c] = 0.f;
        row_dot<T, 8>(rowp, p.k, x, stage_all[warp], lane, false, acc);
#pragma unroll
        for (int c = 0; c < 8; c++) {
            float r = warp_sum(acc[c]);
            if (lane == 0 && c0 + c < cnt) {
                int t = pr[c] / p.top_k, j = pr[c] % p.top_k;
                p.y[j * p.y_col + t * p.y_tok + row] = r;
            }
        }
    }
}

/* Counting sort of the (token, slot) pairs by expert: offsets {n_expert + 1}, perm {n_pairs}.
 * One block; a bad id raises the error flag and the pair is dropped. */
__global__ void group_kernel(const int32_t *ids, int64_t ids_tok, int top_k, int64_t n_tokens, int n_expert,
                             int32_t *offsets, int32_t *perm, int *err) {
    extern __shared__ int cnt[];   /* n_expert + 1 */
    const int64_t np = (int64_t)top_k * n_tokens;
    for (int i = threadIdx.x; i <= n_expert; i += blockDim.x) cnt[i] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < np; i += blockDim.x) {
        int e = ids[(i / top_k) * ids_tok + i % top_k];
        if (e < 0 || e >= n_expert) { atomicOr(err, 1); continue; }
        atomicAdd(&cnt[e], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int run = 0;
        for (int e = 0; e < n_expert; e++) { int c = cnt[e]; offsets[e] = run; cnt[e] = run; run += c; }
        offsets[n_expert] = run;
    }
    __syncthreads();
    for (int64_t i = threadIdx.x; i < np; i += blockDim.x) {
        int e = ids[(i / top_k) * ids_tok + i % top_k];
        if (e < 0 || e >= n_expert) continue;
        perm[atomicAdd(&cnt[e], 1)] = (int32_t)i;
    }
}

/* One warp per 32-element group: q = round(x / d), d = max|x| / 127. Column c of the output is
 * the c-th (slot, token) column: x + (c % ncx)*x_col + (c / ncx)*x_tok. */
__global__ void quant_x_kernel(const float *x, int64_t x_col, int64_t x_tok, int ncx, int64_t k, int64_t ncols,
                               int8_t *q, float *d, float *s, int early) {
    pdl_begin_x(early);
    int64_t gw = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    int64_t ng = k / 32;
    if (gw >= ng * ncols) return;
    int64_t c = gw / ng, g = gw % ng;
    const float *xc = x + (c % ncx) * x_col + (c / ncx) * x_tok;
    quant_group(xc[g * 32 + lane], lane, q + c * k + g * 32, d + c * ng + g, s + c * ng + g);
}

__device__ __forceinline__ float silu_f(float v) { return v / (1.f + expf(-v)); }
__device__ __forceinline__ float gelu_tanh_f(float v) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}

/* The prologues of mul_mat_fused (plain columns, mmfuse.cu), done where the activations are
 * quantized so that they cost no launch of their own. GLU: quant_x_kernel on act(gate) * up,
 * element by element as the glu kernel computes it. */
template <int GEGLU>
__global__ void quant_x_glu_kernel(const float *x, int64_t x_col, const float *up, int64_t up_col, int64_t k, int64_t ncols,
                                   int8_t *q, float *d, float *s, int early) {
    pdl_begin_x(early);
    int64_t gw = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    int lane = threadIdx.x & 31;
    int64_t ng = k / 32;
    if (gw >= ng * ncols) return;
    int64_t c = gw / ng, g = gw % ng, i = g * 32 + lane;
    float gv = x[c * x_col + i];
    float v = (GEGLU ? gelu_tanh_f(gv) : silu_f(gv)) * up[c * up_col + i];
    quant_group(v, lane, q + c * k + g * 32, d + c * ng + g, s + c * ng + g);
}
/* Norm: the scale needs the sum of squares over the whole column before any group is quantized,
 * so one block per column, warp w owning groups w, w + nw, ... . J > 0 (k <= J * 1024): every
 * element of the thread is loaded at once into registers (no chain of dependent L2 round trips),
 * and the norm weights before griddepcontrol.wait (they do not depend on the previous kernel);
 * the sum of squares, one block reduction, then each group quantized from the registers as
 * x * inv * w (rms_norm_kernel's order). J = 0: the same by loops, for any k. */
template <int J>
__global__ void quant_x_norm_kernel(const float *x, int64_t x_col, const float *w, float eps, int64_t k, int8_t *q, float *d,
                                    float *s, int early) {
    __shared__ float red[32];
    const int64_t c = blockIdx.x, ng = k / 32;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const float *xc = x + c * x_col;
    if constexpr (J > 0) {
        float wv[J], v[J];
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int64_t g = warp + (int64_t)j * nw;
            wv[j] = g < ng ? w[g * 32 + lane] : 0.f;
        }
        pdl_begin_x(early);
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int64_t g = warp + (int64_t)j * nw;
            v[j] = g < ng ? xc[g * 32 + lane] : 0.f;
        }
        float ss = 0.f;
#pragma unroll
        for (int j = 0; j < J; j++) ss += v[j] * v[j];
        ss = block_sum(ss, red);
        const float inv = rsqrtf(ss / (float)k + eps);
#pragma unroll
        for (int j = 0; j < J; j++) {
            const int64_t g = warp + (int64_t)j * nw;   /* uniform over the warp: the shuffles see whole warps */
            if (g < ng) quant_group(v[j] * inv * wv[j], lane, q + c * k + g * 32, d + c * ng + g, s + c * ng + g);
        }
    } else {
        pdl_begin_x(early);
        float ss = 0.f;
        for (int64_t i = threadIdx.x; i < k; i += blockDim.x) ss += xc[i] * xc[i];
        ss = block_sum(ss, red);
        const float inv = rsqrtf(ss / (float)k + eps);
        for (int64_t g = warp; g < ng; g += nw) {
            const int64_t i = g * 32 + lane;
            quant_group(xc[i] * inv * w[i], lane, q + c * k + g * 32, d + c * ng + g, s + c * ng + g);
        }
    }
}

/* F16 / BF16 / F32 weights, f32 activations: warp per row, 16-byte loads, 4 in flight. */
template <int WT, int NC>
__global__ void __launch_bounds__(128) mmv_f_kernel(const uint8_t *w, int64_t row_bytes, int64_t expert_bytes,
                                                    int64_t rows, int64_t k, const float *x, int64_t x_col,
                                                    int ncols, float *y, int64_t y_col, const int32_t *ids,
                                                    int64_t ids_tok, int top_k, int n_x, int n_expert,
                                                    int64_t x_tok, int64_t y_tok, int *err) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (row >= rows) return;
    if (ids) {
        int g = blockIdx.y, t = g / top_k, j = g % top_k;
        int e = ids[t * ids_tok + j];
        if (e < 0 || e >= n_expert) { if (row == 0 && lane == 0) atomicOr(err, 1); return; }
        w += (int64_t)e * expert_bytes;
        x += (int64_t)(n_x == 1 ? 0 : j) * x_col + t * x_tok;
        y += j * y_col + t * y_tok;
        ncols = 1;
    }
    const uint8_t *rp = w + row * row_bytes;
    const int EPV = WT == MLXN_TYPE_F32 ? 4 : 8;          /* elements per 16-byte piece */
    float acc[NC];
#pragma unroll
    for (int c = 0; c < NC; c++) acc[c] = 0.f;
    const int64_t npc = k / EPV;
    for (int64_t p0 = 0; p0 < npc; p0 += 32 * 4) {
        uint4 v[4];
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int64_t pi = p0 + lane + 32 * i;
            if (pi < npc) v[i] = ldg_stream(rp + pi * 16);
        }
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int64_t pi = p0 + lane + 32 * i;
            if (pi >= npc) break;
            float f[8];
            const uint32_t *u = (const uint32_t *)&v[i];
            if (WT == MLXN_TYPE_F32) {
                f[0] = __uint_as_float(u[0]); f[1] = __uint_as_float(u[1]);
                f[2] = __uint_as_float(u[2]); f[3] = __uint_as_float(u[3]);
            } else {
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    uint16_t lo = (uint16_t)(u[q] & 0xffff), hi = (uint16_t)(u[q] >> 16);
                    f[2 * q] = WT == MLXN_TYPE_F16 ? h2f(lo) : bf2f(lo);
                    f[2 * q + 1] = WT == MLXN_TYPE_F16 ? h2f(hi) : bf2f(hi);
                }
            }
#pragma unroll
            for (int c = 0; c < NC; c++) {
                const float4 *xp = (const float4 *)(x + (int64_t)(c < ncols ? c : 0) * x_col + pi * EPV);
                float4 a = __ldg(xp);
                float s = f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w;
                if (EPV == 8) { float4 b = __ldg(xp + 1); s += f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w; }
                acc[c] += s;
            }
        }
    }
    /* tail elements (k not a multiple of EPV) */
    for (int64_t i = npc * EPV + lane; i < k; i += 32) {
        float wv = WT == MLXN_TYPE_F32 ? ((const float *)rp)[i]
                 : WT == MLXN_TYPE_F16 ? h2f(((const uint16_t *)rp)[i]) : bf2f(((const uint16_t *)rp)[i]);
#pragma unroll
        for (int c = 0; c < NC; c++) acc[c] += wv * x[(int64_t)(c < ncols ? c : 0) * x_col + i];
    }
#pragma unroll
    for (int c = 0; c < NC; c++) {
        float r = warp_sum(acc[c]);
        if (lane == 0 && c < ncols) y[c * y_col + row] = r;
    }
}

/* ---- launchers ----------------------------------------------------------------------------- */
typedef void (*mmv_q_fn)(MmvParams);
template <int T> static mmv_q_fn pick_q(int nc) {
    switch (nc) {
    case 1: return mmv_q_kernel<T, 1>;
    case 2: return mmv_q_kernel<T, 2>;
    case 4: return mmv_q_kernel<T, 4>;
    default: return mmv_q_kernel<T, 8>;
    }
}
static mmv_q_fn mmv_q_for(mlxn_type t, int nc) {
    switch (t) {
    case MLXN_TYPE_Q4_0: return pick_q<MLXN_TYPE_Q4_0>(nc);
    case MLXN_TYPE_Q4_1: return pick_q<MLXN_TYPE_Q4_1>(nc);
    case MLXN_TYPE_Q5_0: return pick_q<MLXN_TYPE_Q5_0>(nc);
    case MLXN_TYPE_Q5_1: return pick_q<MLXN_TYPE_Q5_1>(nc);
    case MLXN_TYPE_Q8_0: return pick_q<MLXN_TYPE_Q8_0>(nc);
    case MLXN_TYPE_Q2_K: return pick_q<MLXN_TYPE_Q2_K>(nc);
    case MLXN_TYPE_Q3_K: return pick_q<MLXN_TYPE_Q3_K>(nc);
    case MLXN_TYPE_Q4_K: return pick_q<MLXN_TYPE_Q4_K>(nc);
    case MLXN_TYPE_Q5_K: return pick_q<MLXN_TYPE_Q5_K>(nc);
    case MLXN_TYPE_Q6_K: return pick_q<MLXN_TYPE_Q6_K>(nc);
    case MLXN_TYPE_IQ4_NL: return pick_q<MLXN_TYPE_IQ4_NL>(nc);
    case MLXN_TYPE_IQ4_XS: return pick_q<MLXN_TYPE_IQ4_XS>(nc);
    case MLXN_TYPE_MXFP4: return pick_q<MLXN_TYPE_MXFP4>(nc);
    default: return NULL;
    }
}
static mmv_q_fn mmv_grouped_for(mlxn_type t) {
    switch (t) {
#define C(T) case T: return mmv_q_grouped_kernel<T>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K) C(MLXN_TYPE_Q6_K)
    C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_MXFP4)
#undef C
    default: return NULL;
    }
}
typedef void (*mmv_f_fn)(const uint8_t *, int64_t, int64_t, int64_t, int64_t, const float *, int64_t, int,
                         float *, int64_t, const int32_t *, int64_t, int, int, int, int64_t, int64_t, int *);
template <int WT> static mmv_f_fn pick_f(int nc) {
    switch (nc) {
    case 1: return mmv_f_kernel<WT, 1>;
    case 2: return mmv_f_kernel<WT, 2>;
    case 4: return mmv_f_kernel<WT, 4>;
    default: return mmv_f_kernel<WT, 8>;
    }
}
static int nc_round(int64_t n) { return n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : 8; }

/* The quantized activations of ncal columns in the scratch arena: int8 q at + 0, the scales d
 * at + qbytes, d * sum q at + qbytes + dbytes */
static void q_layout(int64_t ncal, int64_t k, size_t *qbytes, size_t *dbytes) {
    *qbytes = ((size_t)(ncal * k) + 255) & ~(size_t)255;
    *dbytes = ((size_t)(ncal * (k / 32)) * 4 + 255) & ~(size_t)255;
}
/* one plain column, as mmv_run lays it out for n = 1 */
extern "C" void mlxn_cuda_xq_layout(int64_t k, size_t *qbytes, size_t *dbytes) { q_layout(nc_round(1), k, qbytes, dbytes); }
static void mmv_read_env(void);
static int xq_on = 1;   /* MLXN_CUDA_XQ=0: 0 */
extern "C" int mlxn_cuda_xq_enabled(void) {
    mmv_read_env();   /* (attention may ask before the first mat-vec) */
    return xq_on;
}
static struct { const float *x; int64_t k; void *stream; unsigned long long seq; } xq_offer;
/* Columns whose offer went untaken (the next kernel was not a mat-vec that reads quant_x's
 * layout, e.g. v6 or another op): their producer stops quantizing them (mlxn_cuda_xq_wanted).
 * A few entries, replaced round robin. */
enum { XQ_SKIP_N = 16 };
static struct { const float *x; int64_t k; } xq_skip[XQ_SKIP_N];
static unsigned xq_skip_next;
static void xq_untaken(void) {
    if (!xq_offer.x) return;
    xq_skip[xq_skip_next % XQ_SKIP_N].x = xq_offer.x;
    xq_skip[xq_skip_next % XQ_SKIP_N].k = xq_offer.k;
    xq_skip_next++;
    xq_offer.x = NULL;
}
extern "C" int mlxn_cuda_xq_wanted(const float *x, int64_t k) {
    if (!mlxn_cuda_xq_enabled()) return 0;
    for (int i = 0; i < XQ_SKIP_N; i++)
        if (xq_skip[i].x == x && xq_skip[i].k == k) return 0;
    return 1;
}
extern "C" void mlxn_cuda_xq_offer(const float *x, int64_t k, void *stream) {
    xq_untaken();   /* a pending offer nobody took */
    xq_offer.x = x; xq_offer.k = k; xq_offer.stream = stream; xq_offer.seq = mlxn_cuda_launch_seq();
}
extern "C" int mlxn_cuda_xq_take(const float *x, int64_t k, void *stream) {
    const int ok = xq_offer.x != NULL && xq_offer.x == x && xq_offer.k == k && xq_offer.stream == stream &&
                   xq_offer.seq == mlxn_cuda_launch_seq();
    if (ok) xq_offer.x = NULL;
    else xq_untaken();
    return ok;
}

static dq_fn_t dq_for_fwd(mlxn_type t);
extern "C" bool mlxn_cuda_mmv_supports(mlxn_type t) { return dq_for_fwd(t) != NULL; }

static mlxn_status mmv_via_f32(const mlxn_cuda_mm *a, void *stream);
static mlxn_status mmv_float(const mlxn_cuda_mm *a, int *err, void *stream) {
    bool id = a->ids != NULL;
    int nc = id ? 1 : nc_round(a->n);
    mmv_f_fn f = a->type == MLXN_TYPE_F16 ? pick_f<MLXN_TYPE_F16>(nc)
               : a->type == MLXN_TYPE_BF16 ? pick_f<MLXN_TYPE_BF16>(nc) : pick_f<MLXN_TYPE_F32>(nc);

    /* 16-byte loads need aligned rows and activation columns. */
    bool aligned = ((uintptr_t)a->w % 16 == 0) && a->row_bytes % 16 == 0 && a->expert_bytes % 16 == 0 &&
                   ((uintptr_t)a->x % 16 == 0) && (a->x_col * 4) % 16 == 0 && (a->x_tok * 4) % 16 == 0;
    if (!aligned) return mmv_via_f32(a, stream);

    dim3 grid((unsigned)((a->rows + 3) / 4), id ? (unsigned)(a->top_k * a->n_tokens) : 1);
    f<<<grid, 128, 0, CU_STREAM(stream)>>>((const uint8_t *)a->w, (int64_t)a->row_bytes, (int64_t)a->expert_bytes,
                                           a->rows, a->k, a->x, a->x_col, (int)a->n, a->y, a->y_col, a->ids,
                                           a->ids_tok, a->top_k, a->n_x, a->n_expert, a->x_tok, a->y_tok, err);
    return MLXN_CUDA_LAUNCHED("mmv_f_kernel");
}

/* Exact route: dequantize the needed rows to f32 in the arena, then the f32 mat-vec. */
static mlxn_status mmv_via_f32(const mlxn_cuda_mm *a, void *stream);

/* The environment variables MLXN_CUDA_MMV (0..6) and MLXN_CUDA_MMV6
 * ("warps,stages,blocks_per_sm[,resident[,x_direct]]"), read once at the first mat-vec, override
 * the initial knob settings (so the op harness can check every version through the same paths). */
static void mmv_read_env(void) {
    static bool env_done = false;
    if (env_done) return;
    env_done = true;
    const char *e = getenv("MLXN_CUDA_MMV");
    if (e && e[0] >= '0' && e[0] <= '6' && !e[1]) mlxn_cuda_mmv_version = e[0] - '0';
    const char *ex = getenv("MLXN_CUDA_MMV6_XPRE");
    if (ex && *ex >= '0' && *ex <= '9') mlxn_cuda_mmv6_xpre = atoi(ex);
    const char *eo = getenv("MLXN_CUDA_XQ");
    if (eo && *eo == '0') xq_on = 0;
    const char *et = getenv("MLXN_CUDA_MMV_TRIGGER");
    if (et && *et == '0') mlxn_cuda_mmv_trigger = 0;
    const char *ee = getenv("MLXN_CUDA_XQ_EARLY");
    if (ee && *ee == '0') mlxn_cuda_xq_early = 0;
    const char *en = getenv("MLXN_CUDA_MMV6_NORM1");
    if (en && *en == '0') mlxn_cuda_mmv6_norm1 = 0;
    const char *eq = getenv("MLXN_CUDA_SKIP_XQ");   /* what fusing the quantization into the producer could gain at most */
    if (eq && *eq >= '1' && *eq <= '4') mlxn_cuda_mmv_skip_xq = *eq - '0';
    const char *ef = getenv("MLXN_CUDA_MMV6_FLUSH");
    if (ef && *ef == '0') mlxn_cuda_mmv6_seg = 0;
    const char *e6 = getenv("MLXN_CUDA_MMV6");
    int w6, d6, b6, r6 = 1, x6 = 0;
    if (e6 && sscanf(e6, "%d,%d,%d,%d,%d", &w6, &d6, &b6, &r6, &x6) >= 3) {
        mlxn_cuda_mmv6_warps = w6; mlxn_cuda_mmv6_stages = d6; mlxn_cuda_mmv6_blocks_per_sm = b6;
        mlxn_cuda_mmv6_resident = r6; mlxn_cuda_mmv6_x_direct = x6;
    }
}

/* The mat-vec version of the older kernels (v1-v5) for a type: mlxn_cuda_mmv_version when it
 * names one, else v4 for Q6_K and v3 for the rest, the best of them on small matrices in the run of
 * 2026-11-29 23:30 (docs/perf/NOTES.md, "v6"); large ones go to v6 (mmv6_worth_it). */
static int mmv_version_for(mlxn_type t) {
    if (mlxn_cuda_mmv_version >= 1 && mlxn_cuda_mmv_version <= 5) return mlxn_cuda_mmv_version;
    return t == MLXN_TYPE_Q6_K ? 4 : 3;
}

/* Auto route between v6 and the older kernels, from the side-by-side run of 2026-11-29 23:30
 * (docs/perf/NOTES.md, "v6"): v6 has a fixed cost of ~4 us per call (v3 ~2.7 us), so it wins from
 * ~3 MB of weights on (Q4_K 1024x4096, 2.4 MB: a tie; Q6_K 1024x4096: v6 5.6 us vs v4 6.3;
 * SmolLM2's Q4_1 matrices: v3 2.7-3.6 us vs v6 3.8-4.2); mul_mat_id only for large experts (the
 * seed shape, 151 MB: v6 71 us vs v4 80; 768x2048 top-8, 7 MB: v3/v4 8.4 vs v6 9.9). */
static bool mmv6_worth_it(const mlxn_cuda_mm *a) {
    const double pairs = a->ids ? (double)a->top_k * (double)a->n_tokens : 1.0;
    const double bytes = (double)a->rows * (double)a->row_bytes * pairs;
    return a->ids ? bytes >= 32.0 * 1048576.0 : bytes >= 3.0 * 1048576.0;
}

/* The route a mat-vec takes (f: the mul_mat_fused prologue/epilogue, or NULL; v6 must fit with
 * it): v6, the f16/bf16/f32 direct kernel, the exact generic route, or the int8 kernels v1-v5
 * behind quant_x_kernel. */
enum { ROUTE_V6, ROUTE_FLOAT, ROUTE_F32X, ROUTE_Q };
static int mmv_route(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f) {
    /* v6 (mmv6.cu) for large matrices, or when asked for */
    if (!mlxn_cuda_mmv_force_f32x && (mlxn_cuda_mmv_version == 6 || (mlxn_cuda_mmv_version == 0 && mmv6_worth_it(a))) &&
        (f ? mlxn_cuda_mmv6_applies_fused(a, f) : mlxn_cuda_mmv6_applies(a)))
        return ROUTE_V6;
    if (a->type == MLXN_TYPE_F16 || a->type == MLXN_TYPE_BF16 || a->type == MLXN_TYPE_F32) return ROUTE_FLOAT;
    if (mlxn_cuda_mmv_force_f32x) return ROUTE_F32X;
    if (!mmv_q_for(a->type, a->ids ? 1 : nc_round(a->n))) return ROUTE_F32X;   /* Q8_1, Q8_K: exact generic route */
    /* the int8 route needs k in whole 32-groups, 2-aligned blocks and 16-aligned activations */
    if (a->k % 32 || (((uintptr_t)a->w | (uintptr_t)a->row_bytes | (uintptr_t)a->expert_bytes) & 1)) return ROUTE_F32X;
    /* block sizes that are multiples of 4 are decoded with 32-bit loads (quant.cuh: ld32a4) */
    if (mlxn_type_info(a->type)->block_bytes % 4 == 0 &&
        (((uintptr_t)a->w | (uintptr_t)a->row_bytes | (uintptr_t)a->expert_bytes) & 3))
        return ROUTE_F32X;
    return ROUTE_Q;
}

extern "C" int mlxn_cuda_mmv_fused_route(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f) {
    mmv_read_env();
    if (a->ids || a->n < 1 || a->n > 8) return 0;
    const int r = mmv_route(a, f);
    return r == ROUTE_V6 ? 2 : r == ROUTE_Q ? 1 : 0;
}
extern "C" bool mlxn_cuda_mmv_fusable(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f) {
    return mlxn_cuda_mmv_fused_route(a, f) != 0;
}

static mlxn_status mmv_run(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *fu, void *stream);
extern "C" mlxn_status mlxn_cuda_mul_mat_vec(const mlxn_cuda_mm *a, void *stream) { return mmv_run(a, NULL, stream); }
extern "C" mlxn_status mlxn_cuda_mul_mat_vec_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream) {
    if (!mlxn_cuda_mmv_fusable(a, f))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda fused mat-vec: no one-launch route for type %s, k %lld, n %lld",
                         mlxn_type_name(a->type), (long long)a->k, (long long)a->n);
    return mmv_run(a, f, stream);
}

/* fu: the fused prologue/epilogue; non-NULL only for the routes mlxn_cuda_mmv_fusable accepts. */
static mlxn_status mmv_run(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *fu, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    mmv_read_env();
    const int route = mmv_route(a, fu);
    if (route == ROUTE_V6) return fu ? mlxn_cuda_mmv6_fused(a, fu, stream) : mlxn_cuda_mmv6(a, stream);
    if (route == ROUTE_FLOAT) return mmv_float(a, err, stream);
    if (route == ROUTE_F32X) return mmv_via_f32(a, stream);
    bool id = a->ids != NULL;
    int nc = id ? 1 : nc_round(a->n);
    mmv_q_fn f = mmv_q_for(a->type, nc);
    /* quantize the activation columns into the arena */
    int64_t ncx = id ? (int64_t)a->n_x * a->n_tokens : a->n;
    int64_t ng = a->k / 32;
    /* room for NC columns: the kernel reads (never writes) columns up to NC-1 */
    int64_t ncal = ncx > nc ? ncx : nc;
    size_t qbytes, dbytes;
    q_layout(ncal, a->k, &qbytes, &dbytes);
    const int64_t n_pairs = id ? (int64_t)a->top_k * a->n_tokens : 0;
    const bool grouped = id && n_pairs > MMV_GROUP_MIN_PAIRS && a->n_expert <= 8192;
    size_t gbytes = grouped ? ((size_t)(a->n_expert + 1 + n_pairs) * 4 + 255) & ~(size_t)255 : 0;
    void *scr;
    MLXN_TRY(mlxn_cuda_scratch(qbytes + 2 * dbytes + gbytes, &scr, stream));
    int8_t *q = (int8_t *)scr;
    float *d = (float *)((char *)scr + qbytes), *s = (float *)((char *)scr + qbytes + dbytes);
    int64_t warps = ng * ncx;
    /* programmatic dependent launch: the kernel waits for its predecessor in its first line */
    const bool qpdl = !mlxn_cuda_mmv_no_pdl;
    /* no launch when the kernel before quantized the column into the arena already
     * (mlxn_cuda_xq_offer), or for measurement (MLXN_CUDA_SKIP_XQ) */
    const bool handed = !id && a->n == 1 && !(fu && (fu->norm_w || fu->up)) && mlxn_cuda_xq_take(a->x, a->k, stream);
    const bool launch = !handed && !(!id && mlxn_cuda_skip_xq(fu && fu->norm_w ? 1 : fu && fu->up ? 2 : 0));
    if (launch) {
        if (fu && fu->norm_w) {
            const int nwq = ng < 32 ? (int)ng : 32;
            const int64_t per = (ng + nwq - 1) / nwq;   /* groups per warp */
            void (*nk)(const float *, int64_t, const float *, float, int64_t, int8_t *, float *, float *, int) =
                per <= 1 ? quant_x_norm_kernel<1> : per <= 2 ? quant_x_norm_kernel<2> : per <= 4 ? quant_x_norm_kernel<4>
                : per <= 8 ? quant_x_norm_kernel<8> : quant_x_norm_kernel<0>;
            CU_TRY(launch_pdl(nk, dim3((unsigned)a->n), dim3((unsigned)(nwq * 32)), 0, stream, qpdl, a->x, a->x_col,
                              fu->norm_w, fu->eps, a->k, q, d, s, mlxn_cuda_xq_early));
        } else if (fu && fu->up) {
            void (*gk)(const float *, int64_t, const float *, int64_t, int64_t, int64_t, int8_t *, float *, float *, int) =
                fu->glu ? quant_x_glu_kernel<1> : quant_x_glu_kernel<0>;
            CU_TRY(launch_pdl(gk, dim3(grid_for(warps * 32, 256)), dim3(256), 0, stream, qpdl, a->x, a->x_col, fu->up,
                              fu->up_col, a->k, ncx, q, d, s, mlxn_cuda_xq_early));
        } else if (id) {
            CU_TRY(launch_pdl(quant_x_kernel, dim3(grid_for(warps * 32, 256)), dim3(256), 0, stream, qpdl, a->x, a->x_col, a->x_tok,
                              a->n_x, a->k, ncx, q, d, s, mlxn_cuda_xq_early));
        } else {
            CU_TRY(launch_pdl(quant_x_kernel, dim3(grid_for(warps * 32, 256)), dim3(256), 0, stream, qpdl, a->x, a->x_col,
                              (int64_t)0, (int)a->n, a->k, ncx, q, d, s, mlxn_cuda_xq_early));
        }
        MLXN_TRY(MLXN_CUDA_LAUNCHED("quant_x_kernel"));
    }
    MmvParams p;
    p.w = (const uint8_t *)a->w;
    p.row_bytes = (int64_t)a->row_bytes;
    p.expert_bytes = (int64_t)a->expert_bytes;
    p.rows = a->rows;
    p.k = a->k;
    p.ncols = id ? 1 : (int)a->n;
    p.q = q; p.d = d; p.s = s; p.cq = a->k; p.cd = ng;
    p.offsets = NULL; p.perm = NULL;
    p.y = a->y; p.y_col = a->y_col;
    p.ids = a->ids; p.ids_tok = a->ids_tok; p.top_k = a->top_k; p.n_x = a->n_x; p.n_expert = a->n_expert;
    p.y_tok = a->y_tok;
    p.err = err;
    p.add = fu ? fu->add : NULL;
    p.add_col = fu ? fu->add_col : 0;
    p.trigger = mlxn_cuda_mmv_trigger;
    if (grouped) {
        int32_t *offsets = (int32_t *)((char *)scr + qbytes + 2 * dbytes), *perm = offsets + a->n_expert + 1;
        group_kernel<<<1, 1024, (size_t)(a->n_expert + 1) * 4, CU_STREAM(stream)>>>(a->ids, a->ids_tok, a->top_k,
                                                                                 a->n_tokens, a->n_expert, offsets, perm, err);
        MLXN_TRY(MLXN_CUDA_LAUNCHED("group_kernel"));
        p.offsets = offsets; p.perm = perm;
        if (mlxn_cuda_mmq_use(a)) return mlxn_cuda_mmq_id(a, q, d, s, offsets, perm, stream);   /* mmq.cu */
        dim3 grid((unsigned)((a->rows + MMV_WARPS - 1) / MMV_WARPS), (unsigned)a->n_expert);
        mmv_grouped_for(a->type)<<<grid, MMV_WARPS * 32, 0, CU_STREAM(stream)>>>(p);
        return MLXN_CUDA_LAUNCHED("mmv_q_grouped_kernel");
    }
    const int ver = mmv_version_for(a->type);
    if ((ver == 4 || ver == 5) && (id || a->n == 1) && mmv4_xbytes(a->k) <= MMV4_XMAX) {
        const int sms4 = mlxn_cuda_sm_count(), smem_sm = mlxn_cuda_smem_per_sm();
        const int W = 8, minb = ver == 4 ? 3 : 4;
        const int ppl = ver == 4 ? MMV_PPL : 4;
        mmv_q2_fn f4 = ver == 4 ? mmv_q4_for<8, 3, MMV_PPL>(a->type) : mmv_q4_for<8, 4, 4>(a->type);
        const size_t smem = (size_t)mmv4_xbytes(a->k) + (size_t)W * 32 * ppl * 16;
        static bool attr4[2][64];
        if (!attr4[ver - 4][a->type & 63]) {   /* once per kernel: the largest stage v4/v5 take */
            CU_TRY(cudaFuncSetAttribute((const void *)f4, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                        MMV4_XMAX + W * 32 * MMV_PPL * 16));
            attr4[ver - 4][a->type & 63] = true;
        }
        /* resident blocks: the launch bounds' register cap, or shared memory (1 KB reserved per block) */
        int bps = (smem_sm > 0 ? smem_sm : 233472) / (int)(smem + 1024);
        if (bps > minb) bps = minb;
        if (bps < 1) bps = 1;
        int64_t pairs = id ? (int64_t)a->top_k * a->n_tokens : 1;
        int64_t target = (int64_t)(sms4 > 0 ? sms4 : 132) * bps * W;   /* resident warps: one wave */
        int64_t rpw = (a->rows * pairs + target - 1) / target;
        if (rpw < 1) rpw = 1;
        if (rpw > a->rows) rpw = a->rows;
        int64_t warps = (a->rows + rpw - 1) / rpw;
        CU_TRY(launch_pdl(f4, dim3((unsigned)((warps + W - 1) / W), (unsigned)pairs), dim3(W * 32), smem, stream,
                          !mlxn_cuda_mmv_no_pdl, p, (int)rpw));
        return MLXN_CUDA_LAUNCHED("mmv_q4_kernel");
    }
    if ((ver == 2 || ver == 3 || ver == 4 || ver == 5) && (id || a->n == 1)) {
        const bool v3 = ver != 2;   /* v4/v5 with k too large for the activation stage: v3 */
        /* rows per warp: about one wave of resident warps over all (pair, row) work */
        const int sms = mlxn_cuda_sm_count();
        int64_t pairs = id ? (int64_t)a->top_k * a->n_tokens : 1;
        int wps = v3 ? mlxn_cuda_mmv_v3_warps : mlxn_cuda_mmv_v2_warps;
        int64_t target = (int64_t)(sms > 0 ? sms : 132) * (wps > 0 ? wps : 16);
        int64_t rpw = (a->rows * pairs + target - 1) / target;
        if (rpw < 1) rpw = 1;
        if (rpw > a->rows) rpw = a->rows;
        int64_t warps = (a->rows + rpw - 1) / rpw;
        const dim3 grid2((unsigned)((warps + MMV_WARPS - 1) / MMV_WARPS), (unsigned)pairs);
        const bool pdl = !mlxn_cuda_mmv_no_pdl;
        if (v3) {
            const size_t smem = (size_t)MMV_WARPS * MMV_NS * MMV_STAGE * 16;
            static bool attr_set[64];
            mmv_q2_fn f3 = mmv_q3_for(a->type);
            if (!attr_set[a->type & 63]) {
                CU_TRY(cudaFuncSetAttribute((const void *)f3, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
                attr_set[a->type & 63] = true;
            }
            CU_TRY(launch_pdl(f3, grid2, dim3(MMV_WARPS * 32), smem, stream, pdl, p, (int)rpw));
            return MLXN_CUDA_LAUNCHED("mmv_q3_kernel");
        }
        CU_TRY(launch_pdl(mmv_q2_for(a->type), grid2, dim3(MMV_WARPS * 32), 0, stream, pdl, p, (int)rpw));
        return MLXN_CUDA_LAUNCHED("mmv_q2_kernel");
    }
    const dim3 grid1((unsigned)((a->rows + MMV_WARPS - 1) / MMV_WARPS), id ? (unsigned)(a->top_k * a->n_tokens) : 1);
    CU_TRY(launch_pdl(f, grid1, dim3(MMV_WARPS * 32), 0, stream, !mlxn_cuda_mmv_no_pdl, p));
    return MLXN_CUDA_LAUNCHED("mmv_q_kernel");
}

/* ---- dequantization ------------------------------------------------------------------------ */
/* Block types: thread per 32 consecutive elements (dq32: scales derived once), four 16-byte f16
 * stores. Plain types: thread per 8 elements (odd k allowed), one 16-byte store. */
template <int T>
__global__ void dequant_kernel(const uint8_t *src, int64_t row_bytes, int64_t nrows, int64_t k, void *dst,
                               int64_t dst_row, bool f16, const int32_t *ids, int64_t n_src_rows, int *err) {
    typedef QT<T> Q;
    constexpr int G = Q::QK >= 32 ? 32 : 8;                       /* elements per thread */
    const int64_t kg = (k + G - 1) / G;
    int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;   /* group over nrows*kg */
    if (i >= nrows * kg) return;
    int64_t r = i / kg, e0 = (i % kg) * G;
    int64_t sr = r;
    if (ids) {
        sr = ids[r];
        if (sr < 0 || sr >= n_src_rows) { if (e0 == 0) atomicOr(err, 2); return; }
    }
    const uint8_t *rp = src + sr * row_bytes;
    if constexpr (Q::QK >= 32) {
        /* block types: 32 elements per thread, scales derived once (dq32) */
        float w[32];
        dq32((mlxn_type)T, rp + (e0 / Q::QK) * Q::BB, (int)(e0 % Q::QK), w);
        if (f16) {
            __half *d = (__half *)dst + r * dst_row + e0;
            if (((uintptr_t)d & 15) == 0) {
#pragma unroll
                for (int q = 0; q < 4; q++) {
                    __half2 h[4];
#pragma unroll
                    for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(w[8 * q + 2 * j], w[8 * q + 2 * j + 1]);
                    ((uint4 *)d)[q] = *(uint4 *)h;
                }
            } else {
                for (int j = 0; j < 32; j++) d[j] = __float2half_rn(w[j]);
            }
        } else {
            float *d = (float *)dst + r * dst_row + e0;
            for (int j = 0; j < 32; j++) d[j] = w[j];
        }
        return;
    } else {
    float v[8];
#pragma unroll
    for (int j = 0; j < 8; j++) {
        int64_t e = e0 + j;
        v[j] = e < k ? dq_elem((mlxn_type)T, rp + (e / Q::QK) * Q::BB, (int)(e % Q::QK)) : 0.f;
    }
    if (f16) {
        __half *d = (__half *)dst + r * dst_row + e0;
        if (e0 + 8 <= k && ((uintptr_t)d & 15) == 0) {
            __half2 h[4];
#pragma unroll
            for (int j = 0; j < 4; j++) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
            *(uint4 *)d = *(uint4 *)h;
        } else {
            for (int j = 0; j < 8 && e0 + j < k; j++) d[j] = __float2half_rn(v[j]);
        }
    } else {
        float *d = (float *)dst + r * dst_row + e0;
        for (int j = 0; j < 8 && e0 + j < k; j++) d[j] = v[j];
    }
    }
}
template <> struct QT<MLXN_TYPE_Q8_1> { enum { QK = 32, BB = 36, UPB = 1 }; };
template <> struct QT<MLXN_TYPE_Q8_K> { enum { QK = 256, BB = 292, UPB = 1 }; };
template <> struct QT<MLXN_TYPE_F16> { enum { QK = 1, BB = 2, UPB = 1 }; };
template <> struct QT<MLXN_TYPE_BF16> { enum { QK = 1, BB = 2, UPB = 1 }; };
template <> struct QT<MLXN_TYPE_F32> { enum { QK = 1, BB = 4, UPB = 1 }; };

static dq_fn dq_for(mlxn_type t) {
    switch (t) {
#define C(T) case T: return dequant_kernel<T>;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K) C(MLXN_TYPE_Q6_K)
    C(MLXN_TYPE_Q8_1) C(MLXN_TYPE_Q8_K) C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_MXFP4) C(MLXN_TYPE_F16) C(MLXN_TYPE_BF16) C(MLXN_TYPE_F32)
#undef C
    default: return NULL;
    }
}

extern "C" mlxn_status mlxn_cuda_dequant_rows(mlxn_type type, const void *src, size_t row_bytes, int64_t nrows,
                                              int64_t k, void *dst, int64_t dst_row, bool dst_f16, void *stream) {
    dq_fn f = dq_for(type);
    if (!f) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda dequantize: type %s not supported", mlxn_type_name(type));
    if (nrows * k == 0) return MLXN_OK;
    int64_t G = mlxn_type_info(type)->block_elems >= 32 ? 32 : 8;
    f<<<grid_for(nrows * ((k + G - 1) / G), 256), 256, 0, CU_STREAM(stream)>>>((const uint8_t *)src, (int64_t)row_bytes, nrows, k,
                                                               dst, dst_row, dst_f16, NULL, nrows, NULL);
    return MLXN_CUDA_LAUNCHED("dequant_kernel");
}

extern "C" mlxn_status mlxn_cuda_get_rows(mlxn_type type, const void *w, size_t row_bytes, int64_t n_rows, int64_t k,
                                          const int32_t *ids, int64_t n, float *y, int64_t y_row, void *stream) {
    dq_fn f = dq_for(type);
    if (!f) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda get_rows: type %s not supported", mlxn_type_name(type));
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    if (n * k == 0) return MLXN_OK;
    int64_t G = mlxn_type_info(type)->block_elems >= 32 ? 32 : 8;
    f<<<grid_for(n * ((k + G - 1) / G), 256), 256, 0, CU_STREAM(stream)>>>((const uint8_t *)w, (int64_t)row_bytes, n, k, y, y_row,
                                                           false, ids, n_rows, err);
    return MLXN_CUDA_LAUNCHED("get_rows dequant_kernel");
}

/* Generic exact route (any decodable type, any alignment): warp per row, element decoder, f32
 * activations. Slow; used for odd layouts and as the accuracy reference route. */
__global__ void mmv_generic_kernel(mlxn_type t, int qk, int bb, const uint8_t *w, int64_t row_bytes,
                                   int64_t expert_bytes, int64_t rows, int64_t k, const float *x, int64_t x_col,
                                   int ncols, float *y, int64_t y_col, const int32_t *ids, int64_t ids_tok,
                                   int top_k, int n_x, int n_expert, int64_t x_tok, int64_t y_tok, int *err) {
    const int lane = threadIdx.x & 31;
    const int64_t row = (int64_t)blockIdx.x * 4 + (threadIdx.x >> 5);
    if (row >= rows) return;
    int c0 = 0;
    if (ids) {
        int g = blockIdx.y, tt = g / top_k, j = g % top_k;
        int e = ids[tt * ids_tok + j];
        if (e < 0 || e >= n_expert) { if (row == 0 && lane == 0) atomicOr(err, 1); return; }
        w += (int64_t)e * expert_bytes;
        x += (int64_t)(n_x == 1 ? 0 : j) * x_col + tt * x_tok;
        y += j * y_col + tt * y_tok;
        ncols = 1;
    } else {
        c0 = blockIdx.y * 8;
    }
    const uint8_t *rp = w + row * row_bytes;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = lane; i < k; i += 32) {
        float wv = dq_elem(t, rp + (i / qk) * bb, (int)(i % qk));
#pragma unroll
        for (int c = 0; c < 8; c++)
            if (c0 + c < ncols) acc[c] += wv * x[(int64_t)(c0 + c) * x_col + i];
    }
#pragma unroll
    for (int c = 0; c < 8; c++) {
        float r = warp_sum(acc[c]);
        if (lane == 0 && c0 + c < ncols) y[(c0 + c) * y_col + row] = r;
    }
}
static mlxn_status mmv_via_f32(const mlxn_cuda_mm *a, void *stream) {
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    const mlxn_type_traits *tr = mlxn_type_info(a->type);
    if (!tr || !dq_for(a->type))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda mat-vec: type %s not supported", mlxn_type_name(a->type));
    bool id = a->ids != NULL;
    dim3 grid((unsigned)((a->rows + 3) / 4), id ? (unsigned)(a->top_k * a->n_tokens) : (unsigned)((a->n + 7) / 8));
    mmv_generic_kernel<<<grid, 128, 0, CU_STREAM(stream)>>>(a->type, (int)tr->block_elems, (int)tr->block_bytes,
        (const uint8_t *)a->w, (int64_t)a->row_bytes, (int64_t)a->expert_bytes, a->rows, a->k, a->x, a->x_col,
        (int)a->n, a->y, a->y_col, a->ids, a->ids_tok, a->top_k, a->n_x, a->n_expert, a->x_tok, a->y_tok, err);
    return MLXN_CUDA_LAUNCHED("mmv_generic_kernel");
}
static dq_fn_t dq_for_fwd(mlxn_type t) { return dq_for(t); }
