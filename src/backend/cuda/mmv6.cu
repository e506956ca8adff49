/* Mat-vec v6 (n = 1, and mul_mat_id decode): the weight stream moved by the tensor memory
 * accelerator, activations quantized inside the kernel. docs/perf/NOTES.md ("v6") has the
 * reasoning and the numbers.
 *
 * One block per SM (or a few), each owning a contiguous range of "flat rows" (row r of pair p is
 * flat row p * rows + r; plain mat-vec: one pair). Its warps split the block's weight bytes,
 * which are contiguous within a matrix, into equal ranges of whole blocks. Each warp owns a ring
 * of D stages in shared memory; its lane 0 fills a stage with one `cp.async.bulk` copy (several
 * when the stage crosses from one expert's matrix to the next) that completes on the stage's
 * mbarrier, so a warp keeps D-1 stages of weights in flight while it decodes one, with no
 * per-lane load instructions for the stream at all.
 * Before the stream is consumed, every block quantizes the activation column(s) it needs into
 * shared memory (int8 per 32 elements, in a per-type layout that makes the lanes' reads
 * conflict-free, mmv6.cuh), which removes the separate quantization kernel of v1-v5.
 * A lane decodes one 32-weight unit per pass of its warp (the 32 lanes cover 32 / UPB blocks);
 * partial sums stay in registers until a lane's row changes, then are reduced per row across the
 * warp and added to the block's row accumulators in shared memory; the block writes its rows at
 * the end. Plain mat-vecs issue the first copies before `griddepcontrol.wait` (weights do not
 * depend on the previous kernel); mul_mat_id must read the expert ids first. */
#include "backend/cuda/common.cuh"
#include "backend/cuda/mmv6.cuh"
#include <stdlib.h>

int mlxn_cuda_mmv6_warps = 16;
/* ring stages per warp: 2 since 2026-11-30 (the 8B decode measured 325.0 t/s with 2 against 317.7
 * with 3; the bench-ops sweeps of 2026-11-29 had 2 best or equal, docs/perf/NOTES.md) */
int mlxn_cuda_mmv6_stages = 2;
int mlxn_cuda_mmv6_blocks_per_sm = 1;
int mlxn_cuda_mmv6_resident = 1;
int mlxn_cuda_mmv6_x_direct = 0;
int mlxn_cuda_mmv6_seg = 1;   /* short rows flushed by segmented scan (flush_rows_seg) */
unsigned long long *mlxn_cuda_mmv6_prof = NULL;
/* plain mat-vec with k >= this: the activation column quantized once per call by v6_stage_kernel
 * (with the prologue) instead of copied and quantized by every block (MLXN_CUDA_MMV6_XPRE=K sets
 * it; 0: never) */
int mlxn_cuda_mmv6_xpre = 1;
int mlxn_cuda_mmv6_norm1 = 1;   /* the norm prologue's staging in one block (MLXN_CUDA_MMV6_NORM1=0: every block sums the column) */
extern "C" int mlxn_cuda_mmv6_prestaged(int64_t k) { return mlxn_cuda_mmv6_xpre > 0 && k >= mlxn_cuda_mmv6_xpre; }

struct V6P {
    const uint8_t *w;
    int64_t expert_bytes;
    int rows, nb, k, R;              /* rows per matrix, blocks per row, k, flat rows */
    const float *x; int64_t x_col, x_tok;
    const int32_t *ids; int64_t ids_tok; int top_k, n_x, n_expert;
    float *y; int64_t y_col, y_tok;
    int *err;
    int stages, slot_bytes, aligned;
    int off_bars, off_raw, raw_bytes, off_x, x_bytes, off_acc;
    int x_direct;            /* quantize x straight from global memory (no f32 staging) */
    int seg;                 /* row flushes by segmented scan (flush_rows_seg) */
    unsigned long long *prof;   /* NULL, or MLXN_CUDA_V6_PROF marks per block (bench-ops --mmv-prof) */
    const uint8_t *xpre;        /* plain mat-vec: the column already in the type's layout (x_bytes), or NULL */
    /* mul_mat_fused (plain mat-vec only): pro 1 norm (norm_w, eps), 2 swiglu, 3 geglu (up),
     * applied in place to the staged column; y = dot + add (add may be y) */
    int pro, off_red;
    const float *norm_w; float eps;
    const float *up;
    const float *add;
};

__device__ __forceinline__ uint32_t smem_addr(const void *p) { return (uint32_t)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void mbar_init(uint64_t *bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbar_expect_tx(uint64_t *bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbar_wait(uint64_t *bar, uint32_t parity) {
    uint32_t done;
    do {
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\tselp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done) : "r"(smem_addr(bar)), "r"(parity) : "memory");
    } while (!done);
}
__device__ __forceinline__ void bulk_copy(void *dst, const void *src, uint32_t bytes, uint64_t *bar) {
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                 ::"r"(smem_addr(dst)), "l"(src), "r"(bytes), "r"(smem_addr(bar)) : "memory");
}

/* Weights of pair p (mul_mat_id: the expert its id names; a bad id raises the error flag and
 * reads expert 0 so that the stage still completes). */
__device__ __forceinline__ const uint8_t *pair_weights(const V6P &p, int pr) {
    if (!p.ids) return p.w;
    const int t = pr / p.top_k, j = pr - t * p.top_k;
    int e = p.ids[(int64_t)t * p.ids_tok + j];
    if (e < 0 || e >= p.n_expert) { atomicOr(p.err, 1); e = 0; }
    return p.w + (int64_t)e * p.expert_bytes;
}
__device__ __forceinline__ const float *pair_x(const V6P &p, int pr) {
    if (!p.ids) return p.x;
    const int t = pr / p.top_k, j = pr - t * p.top_k;
    return p.x + (p.n_x == 1 ? 0 : (int64_t)j * p.x_col) + (int64_t)t * p.x_tok;
}

/* Lane 0: fills ring slot `slot` with the blocks [b0, b1) (flat block indices). Returns the byte
 * offset of block b0 inside the slot (0 when the rows are 16-byte aligned). */
template <int BB>
__device__ __forceinline__ void issue_stage(const V6P &p, uint8_t *slot, uint64_t *bar, int b0, int b1) {
    if (p.aligned && !p.ids) {   /* plain mat-vec: one contiguous range */
        const uint32_t n = (uint32_t)(b1 - b0) * BB;
        mbar_expect_tx(bar, n);
        bulk_copy(slot, p.w + (int64_t)b0 * BB, n, bar);
        return;
    }
    const int per_pair = p.rows * p.nb;
    if (p.aligned) {
        mbar_expect_tx(bar, (uint32_t)(b1 - b0) * BB);
        uint8_t *dst = slot;
        int b = b0;
        while (b < b1) {
            const int pr = b / per_pair, pend = min(b1, (pr + 1) * per_pair);
            const uint8_t *src = pair_weights(p, pr) + (int64_t)(b - pr * per_pair) * BB;
            const uint32_t n = (uint32_t)(pend - b) * BB;
            bulk_copy(dst, src, n, bar);
            dst += n;
            b = pend;
        }
    } else {   /* plain mat-vec with rows not 16-byte aligned: the aligned cover of the range */
        const uint8_t *s = p.w + (int64_t)b0 * BB, *e = p.w + (int64_t)b1 * BB;
        const uint8_t *a0 = (const uint8_t *)((uintptr_t)s & ~(uintptr_t)15);
        const uint8_t *a1 = (const uint8_t *)(((uintptr_t)e + 15) & ~(uintptr_t)15);
        mbar_expect_tx(bar, (uint32_t)(a1 - a0));
        bulk_copy(slot, a0, (uint32_t)(a1 - a0), bar);
    }
}

/* Adds each lane's partial sum to the shared accumulator of its row: a segmented scan over the
 * lanes (a segment = a run of adjacent lanes with the same row), then the last lane of each
 * segment adds the segment's total (a row that appears in several runs gets one add per run). No loop over the distinct rows: short rows (the LM head's k = 576,
 * 18 blocks) change row every pass, where the loop cost ~2-3 warp reductions a pass.
 * Used on the slow path (rows shorter than a stage); the fast path, where a flush sees at most two
 * rows, keeps the loop (the 8B decode measured 342.5 against 344.0 t/s with the scan everywhere,
 * run of 05:28). MLXN_CUDA_MMV6_FLUSH=0 (mlxn_cuda_mmv6_seg = 0): the loop everywhere. */
__device__ __forceinline__ void flush_rows_seg(float &acc, int cur, float *racc, int fr0, int fr1) {
    const int lane = threadIdx.x & 31;
    const int prev = __shfl_up_sync(0xffffffffu, cur, 1), next = __shfl_down_sync(0xffffffffu, cur, 1);
    bool head = lane == 0 || prev != cur;
    float v = acc;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        const float t = __shfl_up_sync(0xffffffffu, v, o);
        const bool h = __shfl_up_sync(0xffffffffu, head, o);
        if (lane >= o && !head) v += t;
        if (lane >= o) head = head || h;
    }
    if ((lane == 31 || next != cur) && cur >= fr0 && cur < fr1) atomicAdd(&racc[cur - fr0], v);
    acc = 0.f;
}
__device__ __forceinline__ void flush_rows_loop(float &acc, int cur, float *racc, int fr0, int fr1) {
    unsigned pending = 0xffffffffu;
    while (pending) {
        const int leader = __ffs(pending) - 1;
        const int rr = __shfl_sync(0xffffffffu, cur, leader);
        const bool mine = cur == rr;
        const float v = warp_sum(mine ? acc : 0.f);
        if ((int)(threadIdx.x & 31) == leader && rr >= fr0 && rr < fr1) atomicAdd(&racc[rr - fr0], v);
        pending &= ~__ballot_sync(0xffffffffu, mine);
    }
    acc = 0.f;
}
__device__ __forceinline__ void flush_rows(float &acc, int cur, float *racc, int fr0, int fr1, bool seg) {
    if (seg) flush_rows_seg(acc, cur, racc, fr0, fr1);
    else flush_rows_loop(acc, cur, racc, fr0, fr1);
}

/* Quantizes activation column xr (f32, in shared memory after the bulk copy, or in global memory
 * with x_direct) into the type's layout at X. Each thread has 4 loads in flight per round. */
template <int LAY>
__device__ __forceinline__ void stage_x(const float *xr, uint8_t *X, int k) {
    const int nt = blockDim.x, n4 = k >> 2;
    float *DS = (float *)(X + k);
    /* every thread runs the same number of rounds (the shuffles need whole warps); a group's 8
     * lanes are all in range or all out (k is a multiple of 32) */
    for (int base = 0; base < n4; base += 4 * nt) {
        float4 v[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = base + j * nt + (int)threadIdx.x;
            v[j] = i < n4 ? *(const float4 *)(xr + 4 * i) : make_float4(0.f, 0.f, 0.f, 0.f);
        }
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const int i = base + j * nt + (int)threadIdx.x;
            float a = fmaxf(fmaxf(fabsf(v[j].x), fabsf(v[j].y)), fmaxf(fabsf(v[j].z), fabsf(v[j].w)));
            a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 1));
            a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 2));
            a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 4));
            const float d = a / 127.f;
            int sum;
            const uint32_t pk = v6::quant4(v[j], d, &sum);
            float fs = (float)sum;
            fs += __shfl_xor_sync(0xffffffffu, fs, 1);
            fs += __shfl_xor_sync(0xffffffffu, fs, 2);     /* sum over this half of the group */
            const float ft = fs + __shfl_xor_sync(0xffffffffu, fs, 4);
            if (i < n4) {
                *(uint32_t *)(X + v6::xpos(LAY, 4u * i, (uint32_t)k)) = pk;
                if ((i & 7) == 0) *(float4 *)(DS + 4 * (i >> 3)) = make_float4(d, d * ft, d * fs, d * (ft - fs));
            }
        }
    }
}

__device__ __forceinline__ float v6_silu(float v) { return v / (1.f + expf(-v)); }
__device__ __forceinline__ float v6_gelu_tanh(float v) {
    return 0.5f * v * (1.f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
}
/* The mul_mat_fused prologue on the column staged in shared memory (every thread of the block).
 * It runs after griddepcontrol.wait, on the critical path of every block, so no chain of
 * dependent global loads: the norm weights of a thread's first V6_PW elements (i = tid + j *
 * blockDim) were loaded into pw before the wait; up is read V6_PW loads in flight at a time.
 * Norm: the sum of squares over the whole column (shared memory), then x * inv * w
 * (rms_norm_kernel's order); GLU: act(gate) * up. */
#define V6_PW 8
__device__ __forceinline__ void v6_prologue(const V6P &p, float *xr, float *red, const float *pw) {
    const int nt = blockDim.x, t = threadIdx.x;
    if (p.pro == 1) {
        float ss = 0.f;
        for (int i = t; i < p.k; i += nt) ss += xr[i] * xr[i];
        ss = block_sum(ss, red);
        const float inv = rsqrtf(ss / (float)p.k + p.eps);
#pragma unroll
        for (int j = 0; j < V6_PW; j++) {
            const int i = t + j * nt;
            if (i < p.k) xr[i] = xr[i] * inv * pw[j];
        }
        for (int base = t + V6_PW * nt; base < p.k; base += V6_PW * nt) {
            float w[V6_PW];
#pragma unroll
            for (int j = 0; j < V6_PW; j++) { const int i = base + j * nt; w[j] = i < p.k ? p.norm_w[i] : 0.f; }
#pragma unroll
            for (int j = 0; j < V6_PW; j++) { const int i = base + j * nt; if (i < p.k) xr[i] = xr[i] * inv * w[j]; }
        }
    } else {
        for (int base = t; base < p.k; base += V6_PW * nt) {
            float u[V6_PW];
#pragma unroll
            for (int j = 0; j < V6_PW; j++) { const int i = base + j * nt; u[j] = i < p.k ? p.up[i] : 0.f; }
#pragma unroll
            for (int j = 0; j < V6_PW; j++) {
                const int i = base + j * nt;
                if (i < p.k) xr[i] = (p.pro == 3 ? v6_gelu_tanh(xr[i]) : v6_silu(xr[i])) * u[j];
            }
        }
    }
    __syncthreads();
}

template <int T>
__global__ void __launch_bounds__(768, 1) mmv6_kernel(V6P p) {
    typedef v6::Tr<T> Q;
    constexpr int PB = 32 / Q::UPB;        /* blocks per pass */
    constexpr int SB = PB * Q::SP;         /* blocks per stage */
    extern __shared__ __align__(128) uint8_t sm[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, NW = blockDim.x >> 5, D = p.stages;
    const int G = gridDim.x, c = blockIdx.x;
    /* bench-ops --mmv-prof: thread 0's clock64 at the phases of its block (warp 0's stages), and
     * globaltimer at entry and exit (stores only: nothing here may synchronise) */
    unsigned long long *prof = p.prof && threadIdx.x == 0 ? p.prof + (size_t)blockIdx.x * MLXN_CUDA_V6_PROF : NULL;
    auto mark = [&](int k) { if (prof) prof[k] = clock64(); };
    auto gmark = [&](int k) {
        if (prof) { unsigned long long t; asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t)); prof[k] = t; }
    };
    gmark(10);
    mark(0);
    const int fr0 = (int)((int64_t)p.R * c / G), fr1 = (int)((int64_t)p.R * (c + 1) / G);
    if (fr0 >= fr1) return;
    const int nb = p.nb;
    const int cb0 = fr0 * nb, cb1 = fr1 * nb;
    const int ngr = (cb1 - cb0 + Q::GR - 1) / Q::GR;
    const int wb0 = min(cb1, cb0 + (int)((int64_t)ngr * warp / NW) * Q::GR);
    const int wb1 = min(cb1, cb0 + (int)((int64_t)ngr * (warp + 1) / NW) * Q::GR);
    const int nst = (wb1 - wb0 + SB - 1) / SB;
    uint8_t *ring = sm + (size_t)warp * D * p.slot_bytes;
    uint64_t *bars = (uint64_t *)(sm + p.off_bars) + warp * D;
    float *racc = (float *)(sm + p.off_acc);

    uint64_t *xbar = (uint64_t *)(sm + p.off_bars) + NW * D;
    const int p_first = fr0 / p.rows, p_last = (fr1 - 1) / p.rows;   /* at most 2 pairs (launcher) */
    if (lane == 0) {
        for (int s = 0; s < D; s++) mbar_init(&bars[s], 1);
        if (warp == 0) mbar_init(xbar, 1);
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
    }
    __syncthreads();
    mark(1);
    const bool plain = p.ids == NULL;
    if (plain && lane == 0)
        for (int s = 0; s < D && s < nst; s++)
            issue_stage<Q::BB>(p, ring + s * p.slot_bytes, &bars[s], wb0 + s * SB, min(wb1, wb0 + (s + 1) * SB));
    mark(2);
    /* the norm weights of this thread's first elements (model weights: not written by the
     * previous kernel, so loaded before the wait) */
    float pw[V6_PW];
#pragma unroll
    for (int j = 0; j < V6_PW; j++) {
        const int i = (int)threadIdx.x + j * (int)blockDim.x;
        pw[j] = p.pro == 1 && i < p.k ? p.norm_w[i] : 0.f;
    }
    asm volatile("griddepcontrol.wait;" ::: "memory");
    mark(3);
    /* the activation column(s): one bulk copy each (in pieces of <= 32 KB) into shared memory;
     * pre-staged: the column in its layout, straight to off_x */
    if (threadIdx.x == 0 && p.xpre) {
        const uint32_t xb = (uint32_t)p.x_bytes;
        mbar_expect_tx(xbar, xb);
        for (uint32_t o = 0; o < xb; o += 32768u) bulk_copy(sm + p.off_x + o, p.xpre + o, min(32768u, xb - o), xbar);
    } else if (threadIdx.x == 0 && !p.x_direct) {
        const uint32_t xb = (uint32_t)p.k * 4u;
        mbar_expect_tx(xbar, xb * (uint32_t)(p_last - p_first + 1));
        for (int pr = p_first; pr <= p_last; pr++) {
            const uint8_t *src = (const uint8_t *)pair_x(p, pr);
            uint8_t *dst = sm + p.off_raw + (pr - p_first) * p.raw_bytes;
            for (uint32_t o = 0; o < xb; o += 32768u) bulk_copy(dst + o, src + o, min(32768u, xb - o), xbar);
        }
    }
    if (!plain && lane == 0)
        for (int s = 0; s < D && s < nst; s++)
            issue_stage<Q::BB>(p, ring + s * p.slot_bytes, &bars[s], wb0 + s * SB, min(wb1, wb0 + (s + 1) * SB));
    for (int i = threadIdx.x; i < fr1 - fr0; i += blockDim.x) racc[i] = 0.f;
    if (!p.x_direct || p.xpre) mbar_wait(xbar, 0);
    mark(4);
    if (p.pro) v6_prologue(p, (float *)(sm + p.off_raw), (float *)(sm + p.off_red), pw);
    if (Q::LAY != v6::FLT && !p.xpre)
        for (int pr = p_first; pr <= p_last; pr++)
            stage_x<Q::LAY>(p.x_direct ? pair_x(p, pr) : (const float *)(sm + p.off_raw + (pr - p_first) * p.raw_bytes),
                            sm + p.off_x + (pr - p_first) * p.x_bytes, p.k);
    __syncthreads();
    mark(5);
    /* (right after the wait instead: no gain, run of 07:14) */
    asm volatile("griddepcontrol.launch_dependents;");

    const int Gx = Q::LAY == v6::FLT ? p.k >> 3 : p.k >> 5;
    const int ub = lane / Q::UPB, uu = lane % Q::UPB;
    int fb = wb0 + ub;
    int row = fb / nb, col = fb - row * nb;
    int cur = row;
    int xpair = row / p.rows;
    const uint8_t *X = sm + p.off_x + (min(xpair, p_last) - p_first) * p.x_bytes;
    const float *DS = (const float *)(X + p.k);
    float acc = 0.f;
    for (int st = 0; st < nst; st++) {
        const int slot = st % D;
        mbar_wait(&bars[slot], (uint32_t)(st / D) & 1u);
        if (st == 0) mark(6);
        const int s0 = wb0 + st * SB;
        const uint8_t *sb = ring + slot * p.slot_bytes;
        if (!p.aligned) sb += (uintptr_t)(p.w + (int64_t)s0 * Q::BB) & 15;
        /* Fast path (rows of at least one stage, a full stage): a lane's units lie in its row and
         * at most the next one; they are decoded back to back with no branch in between (their
         * loads overlap), summed into a0 (this row) and a1 (the next), one flush at the end if
         * some lane moved on. A lane whose row changed at the stage boundary is flushed first. */
        bool fast = nb >= SB && s0 + SB <= wb1;
        if (fast && __any_sync(0xffffffffu, row != cur)) {
            if (plain) { flush_rows(acc, cur, racc, fr0, fr1, false); cur = row; }
            else fast = false;      /* mul_mat_id: the pair (x column) may change: slow path */
        }
        const bool wraps = col + (Q::SP - 1) * PB >= nb;
        if (fast && !plain)
            fast = __all_sync(0xffffffffu, !wraps || (row + 1) % p.rows != 0);
        if (fast) {
            float a0 = 0.f, a1 = 0.f;
#pragma unroll
            for (int ps = 0; ps < Q::SP; ps++) {
                const int c = col + ps * PB;
                const bool w = c >= nb;
                const float v = v6::Unit<T>::run(sb + (ps * PB + ub) * Q::BB, uu, X, DS, w ? c - nb : c, Gx);
                if (w) a1 += v; else a0 += v;
            }
            acc += a0;
            if (__any_sync(0xffffffffu, wraps)) {
                flush_rows(acc, cur, racc, fr0, fr1, false);   /* at most two rows: the loop is cheaper */
                acc = a1;
                cur = row + (wraps ? 1 : 0);
            }
            col += Q::SP * PB;
            if (col >= nb) { col -= nb; row++; }
        } else {
#pragma unroll
            for (int ps = 0; ps < Q::SP; ps++) {
                const int pb = s0 + ps * PB;
                if (pb >= wb1) break;
                const bool valid = pb + ub < wb1;
                if (__any_sync(0xffffffffu, valid && row != cur)) {
                    flush_rows(acc, cur, racc, fr0, fr1, p.seg);
                    if (valid) {
                        cur = row;
                        const int np = row / p.rows;
                        if (np != xpair) {
                            xpair = np;
                            X = sm + p.off_x + (min(xpair, p_last) - p_first) * p.x_bytes;
                            DS = (const float *)(X + p.k);
                        }
                    }
                }
                if (valid) acc += v6::Unit<T>::run(sb + (ps * PB + ub) * Q::BB, uu, X, DS, col, Gx);
                col += PB;
                while (col >= nb) { col -= nb; row++; }
            }
        }
        __syncwarp();
        if (lane == 0 && st + D < nst) {
            asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
            issue_stage<Q::BB>(p, ring + slot * p.slot_bytes, &bars[slot], wb0 + (st + D) * SB,
                               min(wb1, wb0 + (st + D + 1) * SB));
        }
    }
    mark(7);
    flush_rows(acc, cur, racc, fr0, fr1, p.seg);
    __syncthreads();
    mark(8);
    for (int i = threadIdx.x; i < fr1 - fr0; i += blockDim.x) {
        const int fr = fr0 + i, pr = fr / p.rows, r = fr - pr * p.rows;
        float *y = p.y;
        if (!plain) { const int t = pr / p.top_k, j = pr - t * p.top_k; y += (int64_t)j * p.y_col + (int64_t)t * p.y_tok; }
        y[r] = p.add ? racc[i] + p.add[r] : racc[i];
    }
    gmark(11);
}

/* Float4 number i of the column (v, after any prologue) into the layout at X, eight lanes a
 * 32-element group: the group's maximum and integer sums by shuffles within the eight. Every
 * lane of the warp takes part; an off lane (on false) belongs to a group whose lanes are all off
 * (the column's float4 count is a multiple of 8) and writes nothing. */
__device__ __forceinline__ void stage_lanes(int lay, float4 v, bool on, int i, int k, uint8_t *X) {
    const int g = i >> 3, c = i & 7;
    float a = fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w)));
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 1));
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 2));
    a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, 4));
    const float d = a / 127.f;
    const int sm = on ? v6::stage_quarter(lay, v, d, (uint32_t)g, (uint32_t)c, (uint32_t)k, X) : 0;
    int first = c < 4 ? sm : 0, tot = sm;
    for (int o = 1; o < 8; o <<= 1) {
        tot += __shfl_xor_sync(0xffffffffu, tot, o);
        first += __shfl_xor_sync(0xffffffffu, first, o);
    }
    if (on && c == 0) v6::stage_scales((uint32_t)g, (uint32_t)k, d, tot, first, X);
}

/* The plain mat-vec's column staged once per call: eight threads per 32-element group, each
 * quantizing one float4 (v6::quant4 against the group's scale d, the maximum found by three
 * shuffles), so a warp reads 512 contiguous bytes and no thread runs more than four divisions;
 * the bytes are those v6::stage_group (and the kernel's stage_x) write: the same d, the same
 * v6::stage_quarter and v6::stage_scales, and exact integer sums. For the norm every block first sums the squares of the whole
 * column. */
template <int LAY, int PRO>
__global__ void __launch_bounds__(256) v6_stage_kernel(const float *x, const float *norm_w, float eps, const float *up,
                                                       int k, uint8_t *X, int early) {
    __shared__ float red[32];
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    const bool on = t < (k >> 2);   /* ng * 8 is a multiple of 8: a group's eight lanes are all on or all off */
    float4 w = make_float4(1.f, 1.f, 1.f, 1.f);
    if (PRO == 1 && on) w = ((const float4 *)norm_w)[t];   /* model weights: before the wait */
    pdl_begin_x(early);
    float inv = 1.f;
    if (PRO == 1) {
        float ss = 0.f;
        for (int i = threadIdx.x; i < (k >> 2); i += blockDim.x) {
            const float4 u = ((const float4 *)x)[i];
            ss += u.x * u.x + u.y * u.y + u.z * u.z + u.w * u.w;
        }
        inv = rsqrtf(block_sum(ss, red) / (float)k + eps);
    }
    /* (off lanes stay for the full-warp shuffles: their groups are whole, so they mix with no
     * lane that is on) */
    float4 v = on ? ((const float4 *)x)[t] : make_float4(0.f, 0.f, 0.f, 0.f);
    if (PRO >= 2) {
        const float4 u = on ? ((const float4 *)up)[t] : make_float4(0.f, 0.f, 0.f, 0.f);
        v.x = (PRO == 3 ? v6_gelu_tanh(v.x) : v6_silu(v.x)) * u.x;
        v.y = (PRO == 3 ? v6_gelu_tanh(v.y) : v6_silu(v.y)) * u.y;
        v.z = (PRO == 3 ? v6_gelu_tanh(v.z) : v6_silu(v.z)) * u.z;
        v.w = (PRO == 3 ? v6_gelu_tanh(v.w) : v6_silu(v.w)) * u.w;
    } else if (PRO == 1) {
        v.x = v.x * inv * w.x; v.y = v.y * inv * w.y; v.z = v.z * inv * w.z; v.w = v.w * inv * w.w;
    }
    stage_lanes(LAY, v, on, t, k, X);
}

/* The norm prologue in one block (up to 1024 threads, J float4 a thread, all loaded at once):
 * the sum of squares of the column is the block's own, so no block reads the column twice
 * (v6_stage_kernel<_, 1> sums the whole column in every block, a chain of L2 reads). */
template <int LAY, int J>
__global__ void __launch_bounds__(1024) v6_stage_norm_kernel(const float *x, const float *norm_w, float eps, const float *,
                                                             int k, uint8_t *X, int early) {
    __shared__ float red[32];
    const int T = blockDim.x, n4 = k >> 2;   /* T: a multiple of 32, so element i's lane in its group is i & 7 = threadIdx.x & 7 */
    float4 w[J], v[J];
#pragma unroll
    for (int j = 0; j < J; j++) {   /* model weights: before the wait */
        const int i = threadIdx.x + j * T;
        w[j] = i < n4 ? ((const float4 *)norm_w)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
    pdl_begin_x(early);
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < J; j++) {
        const int i = threadIdx.x + j * T;
        v[j] = i < n4 ? ((const float4 *)x)[i] : make_float4(0.f, 0.f, 0.f, 0.f);
    }
#pragma unroll
    for (int j = 0; j < J; j++) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    const float inv = rsqrtf(block_sum(ss, red) / (float)k + eps);
#pragma unroll
    for (int j = 0; j < J; j++) {
        const int i = threadIdx.x + j * T;
        const float4 u = make_float4(v[j].x * inv * w[j].x, v[j].y * inv * w[j].y, v[j].z * inv * w[j].z, v[j].w * inv * w[j].w);
        stage_lanes(LAY, u, i < n4, i, k, X);
    }
}
typedef void (*v6_stage_fn)(const float *, const float *, float, const float *, int, uint8_t *, int);
/* The staging kernel for prologue pro; J > 0 (norm only): the one-block kernel with J float4 a
 * thread (J <= 8: k <= 32768). */
template <int LAY> static v6_stage_fn v6_stage_pick(int pro, int J) {
    switch (pro) {
    case 1:
        return J == 1 ? v6_stage_norm_kernel<LAY, 1> : J == 2 ? v6_stage_norm_kernel<LAY, 2>
             : J == 3 || J == 4 ? v6_stage_norm_kernel<LAY, 4> : J >= 5 && J <= 8 ? v6_stage_norm_kernel<LAY, 8>
             : v6_stage_kernel<LAY, 1>;
    case 2: return v6_stage_kernel<LAY, 2>;
    case 3: return v6_stage_kernel<LAY, 3>;
    default: return v6_stage_kernel<LAY, 0>;
    }
}
static v6_stage_fn v6_stage_for(int lay, int pro, int J) {
    switch (lay) {
    case v6::LEG: return v6_stage_pick<v6::LEG>(pro, J);
    case v6::K16A: return v6_stage_pick<v6::K16A>(pro, J);
    case v6::K16B: return v6_stage_pick<v6::K16B>(pro, J);
    case v6::K8: return v6_stage_pick<v6::K8>(pro, J);
    default: return NULL;
    }
}

/* ---- launcher -------------------------------------------------------------------------------- */
typedef void (*v6_fn)(V6P);
struct V6Info { v6_fn f; int qk, bb, upb, sp, lay; };
template <int T> static V6Info v6_info() {
    typedef v6::Tr<T> Q;
    V6Info i = {mmv6_kernel<T>, Q::QK, Q::BB, Q::UPB, Q::SP, Q::LAY};
    return i;
}
static bool v6_for(mlxn_type t, V6Info *o) {
    switch (t) {
#define C(T) case T: *o = v6_info<T>(); return true;
    C(MLXN_TYPE_Q4_0) C(MLXN_TYPE_Q4_1) C(MLXN_TYPE_Q5_0) C(MLXN_TYPE_Q5_1) C(MLXN_TYPE_Q8_0)
    C(MLXN_TYPE_IQ4_NL) C(MLXN_TYPE_Q2_K) C(MLXN_TYPE_Q3_K) C(MLXN_TYPE_Q4_K) C(MLXN_TYPE_Q5_K)
    C(MLXN_TYPE_Q6_K) C(MLXN_TYPE_IQ4_XS) C(MLXN_TYPE_F16) C(MLXN_TYPE_BF16)
#undef C
    default: return false;
    }
}

static int v6_smem_optin(void) {
    static int v = -1;
    if (v < 0) {
        int dev = 0;
        if (cudaGetDevice(&dev) != cudaSuccess ||
            cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
            v = 0;
    }
    return v;
}
static size_t rnd(size_t n, size_t a) { return (n + a - 1) / a * a; }

/* Launch geometry and shared-memory layout of one call: grid, warps per block, ring depth, the
 * offsets in p. False when it does not fit with at least 8 warps and 2 stages (the caller then
 * uses another kernel). */
static bool v6_plan(const mlxn_cuda_mm *a, const V6Info &in, V6P *pp, int *grid_out, int *nw_out, size_t *smem_out) {
    V6P &p = *pp;
    const bool id = a->ids != NULL;
    const int64_t pairs = id ? (int64_t)a->top_k * a->n_tokens : 1;
    p.R = (int)(a->rows * pairs);
    p.aligned = (uintptr_t)a->w % 16 == 0 && a->row_bytes % 16 == 0 && (!id || a->expert_bytes % 16 == 0);
    const int sms = mlxn_cuda_sm_count() > 0 ? mlxn_cuda_sm_count() : 132;
    int bps = mlxn_cuda_mmv6_blocks_per_sm > 0 ? mlxn_cuda_mmv6_blocks_per_sm : 1;
    int nw = mlxn_cuda_mmv6_warps >= 1 && mlxn_cuda_mmv6_warps <= 24 ? mlxn_cuda_mmv6_warps : 16;
    int D = mlxn_cuda_mmv6_stages >= 2 && mlxn_cuda_mmv6_stages <= 8 ? mlxn_cuda_mmv6_stages : 3;
    int grid = (int)((int64_t)sms * bps < p.R ? (int64_t)sms * bps : p.R);
    const int sbb = (32 / in.upb) * in.sp * in.bb;
    p.slot_bytes = (int)rnd((size_t)sbb + (p.aligned ? 0 : 32), 128);
    p.x_direct = mlxn_cuda_mmv6_x_direct && in.lay != v6::FLT && !p.pro && !p.xpre;   /* the prologue works on the staged copy */
    p.raw_bytes = p.x_direct || p.xpre ? 0 : (int)rnd((size_t)a->k * 4, 128);
    p.x_bytes = in.lay == v6::FLT ? (int)rnd((size_t)a->k * 4, 128) : (int)rnd((size_t)v6::xbytes(in.lay, a->k), 128);
    const int ncol = id ? 2 : 1;
    const int racc_rows = (p.R + grid - 1) / grid + 1;
    const int budget = v6_smem_optin() > 0 ? v6_smem_optin() : 232448;
    size_t smem = 0;
    const int nw0 = nw, D0 = D;
    int fit = mlxn_cuda_mmv6_resident > 1 ? mlxn_cuda_mmv6_resident : 1;
    for (;;) {
        p.off_bars = (int)((size_t)nw * D * p.slot_bytes);
        p.off_raw = (int)rnd((size_t)p.off_bars + (size_t)(nw * D + 1) * 8, 128);
        p.off_x = in.lay == v6::FLT ? p.off_raw : p.off_raw + ncol * p.raw_bytes;
        p.off_acc = p.off_x + ncol * p.x_bytes;
        smem = (size_t)p.off_acc + rnd((size_t)racc_rows * 4, 128);
        p.off_red = (int)smem;                    /* the prologue's block reduction: 32 floats */
        if (p.pro) smem += 128;
        /* several blocks per SM must fit together (1 KB reserved per block): the grid's, or
         * `resident` so that the next kernel's blocks can start (programmatic dependent launch:
         * barrier setup and the first weight copies) while this one drains */
        if ((smem + 1024) * (fit > bps ? fit : bps) <= (size_t)budget + 1024) break;
        if (D > 2) D--;
        else if (nw > 8) nw -= 4;
        else if (fit > 1) { fit = 1; nw = nw0; D = D0; }   /* co-residency is a wish, not a must */
        else if (bps > 1) { bps--; grid = (int)((int64_t)sms * bps < p.R ? (int64_t)sms * bps : p.R); }
        else return false;
    }
    p.stages = D;
    *grid_out = grid;
    *nw_out = nw;
    *smem_out = smem;
    return true;
}

static bool v6_applies(const mlxn_cuda_mm *a, int pro) {
    V6Info in;
    if (!v6_for(a->type, &in)) return false;
    const bool id = a->ids != NULL;
    if (!id && a->n != 1) return false;
    if (a->k % in.qk || (in.lay != v6::FLT && a->k % 32)) return false;
    const int64_t nb = a->k / in.qk;
    if ((int64_t)a->row_bytes != nb * in.bb) return false;          /* contiguous blocks only */
    const int64_t pairs = id ? (int64_t)a->top_k * a->n_tokens : 1;
    if (a->rows * pairs * nb > 0x7fffffffLL || a->rows * pairs > 0x3fffffffLL) return false;
    const int sms = mlxn_cuda_sm_count() > 0 ? mlxn_cuda_sm_count() : 132;
    if (id && pairs > (int64_t)sms * (mlxn_cuda_mmv6_blocks_per_sm > 0 ? mlxn_cuda_mmv6_blocks_per_sm : 1)) return false;
    /* activations: 16-byte aligned columns */
    if ((uintptr_t)a->x % 16) return false;
    if (id && ((a->x_col * 4) % 16 || (a->x_tok * 4) % 16)) return false;
    const bool aligned = (uintptr_t)a->w % 16 == 0 && a->row_bytes % 16 == 0 && (!id || a->expert_bytes % 16 == 0);
    if (!aligned) {
        if (id) return false;
        /* blocks keep their global alignment in shared memory: what the unit decoders assume */
        const size_t need = in.bb % 4 == 0 ? 4 : 2;
        if ((uintptr_t)a->w % need) return false;
        if (in.lay == v6::K16A || in.lay == v6::K16B || in.lay == v6::FLT) return false;   /* 8/16-byte loads */
    }
    V6P p;
    p.pro = pro;
    p.xpre = NULL;   /* the larger footprint: what fits with it fits pre-staged too */
    int grid, nw;
    size_t smem;
    return v6_plan(a, in, &p, &grid, &nw, &smem);
}
static int v6_pro(const mlxn_cuda_mmfuse *f) { return !f ? 0 : f->norm_w ? 1 : f->up ? (f->glu ? 3 : 2) : 0; }
extern "C" bool mlxn_cuda_mmv6_applies(const mlxn_cuda_mm *a) { return v6_applies(a, 0); }
extern "C" bool mlxn_cuda_mmv6_applies_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f) {
    return !a->ids && v6_applies(a, v6_pro(f));
}

static mlxn_status v6_launch(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream) {
    V6Info in;
    if (!v6_applies(a, v6_pro(f)) || (f && a->ids) || !v6_for(a->type, &in))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "mat-vec v6: this case is not supported (type %s, k %lld)",
                         mlxn_type_name(a->type), (long long)a->k);
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    const bool id = a->ids != NULL;
    const int64_t pairs = id ? (int64_t)a->top_k * a->n_tokens : 1;
    const int nb = (int)(a->k / in.qk);
    V6P p;
    p.w = (const uint8_t *)a->w;
    p.expert_bytes = (int64_t)a->expert_bytes;
    p.rows = (int)a->rows; p.nb = nb; p.k = (int)a->k; p.R = (int)(a->rows * pairs);
    p.x = a->x; p.x_col = a->x_col; p.x_tok = a->x_tok;
    p.ids = a->ids; p.ids_tok = a->ids_tok; p.top_k = a->top_k; p.n_x = a->n_x; p.n_expert = a->n_expert;
    p.y = a->y; p.y_col = a->y_col; p.y_tok = a->y_tok;
    p.err = err;
    p.aligned = (uintptr_t)a->w % 16 == 0 && a->row_bytes % 16 == 0 && (!id || a->expert_bytes % 16 == 0);
    p.pro = v6_pro(f);
    p.seg = mlxn_cuda_mmv6_seg;
    p.prof = mlxn_cuda_mmv6_prof;
    p.norm_w = f ? f->norm_w : NULL;
    p.eps = f ? f->eps : 0.f;
    p.up = f ? f->up : NULL;
    p.add = f ? f->add : NULL;
    p.xpre = NULL;
    /* plain mat-vec: the column quantized once (with the prologue) into scratch by
     * v6_stage_kernel, which every block then copies as it is */
    const int nt = (int)(a->k / 4);   /* eight threads a 32-element group */
    const int T = nt < 1024 ? (nt + 31) / 32 * 32 : 1024;   /* the one-block norm kernel's threads */
    const int J = p.pro == 1 && mlxn_cuda_mmv6_norm1 && nt <= 8 * 1024 ? (nt + T - 1) / T : 0;
    const v6_stage_fn sf = !id && mlxn_cuda_mmv6_prestaged(a->k) ? v6_stage_for(in.lay, p.pro, J) : NULL;
    if (sf) {
        void *xs;
        MLXN_TRY(mlxn_cuda_scratch(rnd((size_t)v6::xbytes(in.lay, a->k), 128), &xs, stream));
        if (!mlxn_cuda_skip_xq(p.pro)) {   /* (measurement only) */
            CU_TRY(launch_pdl(sf, J ? dim3(1) : dim3((unsigned)((nt + 255) / 256)), dim3(J ? (unsigned)T : 256u), 0, stream,
                              !mlxn_cuda_mmv_no_pdl, a->x, p.norm_w, p.eps, p.up, (int)a->k, (uint8_t *)xs,
                              mlxn_cuda_xq_early));
            MLXN_TRY(MLXN_CUDA_LAUNCHED("v6_stage_kernel"));
        }
        p.xpre = (const uint8_t *)xs;
        p.pro = 0;
    }

    int grid, nw;
    size_t smem;
    if (!v6_plan(a, in, &p, &grid, &nw, &smem))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "mat-vec v6: k = %lld does not fit in shared memory", (long long)a->k);
    static int attr_done[64];
    if (attr_done[a->type & 63] < (int)smem) {
        const int budget = v6_smem_optin() > 0 ? v6_smem_optin() : 232448;
        CU_TRY(cudaFuncSetAttribute((const void *)in.f, cudaFuncAttributeMaxDynamicSharedMemorySize, budget));
        attr_done[a->type & 63] = budget;
    }
    CU_TRY(launch_pdl(in.f, dim3((unsigned)grid), dim3((unsigned)(nw * 32)), smem, stream, !mlxn_cuda_mmv_no_pdl, p));
    return MLXN_CUDA_LAUNCHED("mmv6_kernel");
}
extern "C" mlxn_status mlxn_cuda_mmv6(const mlxn_cuda_mm *a, void *stream) { return v6_launch(a, NULL, stream); }
extern "C" mlxn_status mlxn_cuda_mmv6_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream) {
    return v6_launch(a, f, stream);
}
