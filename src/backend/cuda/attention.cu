/* Attention over a KV cache: split-KV ("flash decoding"), GQA-aware.
 * Block = (kv head, group of GB query heads sharing it, query position, split of the visible keys).
 * Each warp walks keys j = split_lo + warp, +4, ...; a lane holds HD/32 contiguous elements of the
 * K and V rows (coalesced 4..32-byte loads), so every K/V row is read once for all GB heads. Online
 * softmax per warp; warps are merged in shared memory and splits by a second kernel. The visible
 * range depends on q_pos read on the device, so one captured graph serves every position.
 * Prefill (n_q > 1) runs the same kernel per query position (correct, not tensor-core: see NOTES). */
#include "backend/cuda/common.cuh"

#define ATT_WARPS 4

int mlxn_cuda_attn_min_keys = 64;   /* smallest split (keys); a knob for bench-ops */
int mlxn_cuda_attn_blocks_per_sm = 4; /* v2: split count targets this many blocks per SM */

template <int CT, int EL> __device__ __forceinline__ void load_row(const void *base, int64_t off, float *f, bool vec) {
    if (!vec) {   /* caches whose rows are not 16-byte aligned: element loads */
#pragma unroll
        for (int i = 0; i < EL; i++)
            f[i] = CT == MLXN_TYPE_F32 ? ((const float *)base)[off + i]
                 : CT == MLXN_TYPE_F16 ? h2f(((const uint16_t *)base)[off + i]) : bf2f(((const uint16_t *)base)[off + i]);
        return;
    }
    if (CT == MLXN_TYPE_F32) {
        const float *p = (const float *)base + off;
#pragma unroll
        for (int i = 0; i < EL; i += 4) {
            if (EL >= 4) { float4 v = *(const float4 *)(p + i); f[i] = v.x; f[i + 1] = v.y; f[i + 2] = v.z; f[i + 3] = v.w; }
        }
        if (EL < 4) {
#pragma unroll
            for (int i = 0; i < EL; i++) f[i] = p[i];
        }
    } else {
        const uint16_t *p = (const uint16_t *)base + off;
        uint32_t u[EL / 2];
        if (EL % 8 == 0) {
#pragma unroll
            for (int i = 0; i < EL / 8; i++) { uint4 v = *(const uint4 *)(p + 8 * i); u[4*i] = v.x; u[4*i+1] = v.y; u[4*i+2] = v.z; u[4*i+3] = v.w; }
        } else if (EL == 4) {
            uint2 v = *(const uint2 *)p; u[0] = v.x; u[1] = v.y;
        } else {
#pragma unroll
            for (int i = 0; i < EL / 2; i++) u[i] = ((const uint32_t *)p)[i];
        }
#pragma unroll
        for (int i = 0; i < EL / 2; i++) {
            uint16_t lo = (uint16_t)(u[i] & 0xffff), hi = (uint16_t)(u[i] >> 16);
            f[2 * i] = CT == MLXN_TYPE_F16 ? h2f(lo) : bf2f(lo);
            f[2 * i + 1] = CT == MLXN_TYPE_F16 ? h2f(hi) : bf2f(hi);
        }
    }
}

struct AttnP {
    const float *q; int64_t q_head, q_tok;
    const void *k; int64_t k_pos, k_head;
    const void *v; int64_t v_pos, v_head;
    const int32_t *q_pos;
    float *part;           /* [n_q][n_heads][n_split][HD + 2]: acc, m, l */
    int64_t n_heads, n_kv, n_ctx;
    int group, n_split;
    float scale, softcap; int32_t window;
    bool vec;             /* K/V rows 16-byte aligned: vector loads */
    int *err;
};

template <int CT, int HD, int GB>
__global__ void __launch_bounds__(ATT_WARPS * 32) attn_split_kernel(AttnP p) {
    constexpr int EL = HD / 32;
    __shared__ float sm[ATT_WARPS][GB][HD + 2];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int ngb = (p.group + GB - 1) / GB;
    const int kvh = blockIdx.x / ngb, h0 = kvh * p.group + (blockIdx.x % ngb) * GB;
    const int nh = min(GB, kvh * p.group + p.group - h0);
    const int64_t iq = blockIdx.y;
    const int split = blockIdx.z;
    int32_t qp = p.q_pos[iq];
    if (qp >= p.n_ctx || qp < 0) {   /* reported at sync; clamp so nothing outside the cache is read */
        if (threadIdx.x == 0 && split == 0) atomicOr(p.err, 4);
        qp = qp < 0 ? -1 : (int32_t)p.n_ctx - 1;
    }
    int64_t lo = 0, hi = qp;                       /* visible keys [lo, hi] */
    if (p.window > 0) lo = max((int64_t)0, (int64_t)qp - p.window + 1);
    int64_t nvis = hi >= lo ? hi - lo + 1 : 0;
    int64_t chunk = (nvis + p.n_split - 1) / p.n_split;
    int64_t s0 = lo + split * chunk, s1 = min(hi + 1, s0 + chunk);

    float q[GB][EL], acc[GB][EL], m[GB], l[GB];
#pragma unroll
    for (int g = 0; g < GB; g++) {
        int hh = h0 + (g < nh ? g : 0);
        const float *qq = p.q + iq * p.q_tok + hh * p.q_head + lane * EL;
#pragma unroll
        for (int i = 0; i < EL; i++) { q[g][i] = qq[i] * p.scale; acc[g][i] = 0.f; }
        m[g] = -INFINITY; l[g] = 0.f;
    }
    const int64_t kb = (int64_t)kvh * p.k_head + lane * EL, vb = (int64_t)kvh * p.v_head + lane * EL;
    /* UNR keys per iteration: their K and V loads are all in flight before the first use */
    constexpr int UNR = HD >= 256 ? 2 : 4;
    for (int64_t j0 = s0 + warp; j0 < s1; j0 += ATT_WARPS * UNR) {
        float kf[UNR][EL], vf[UNR][EL];
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            int64_t j = j0 + (int64_t)u * ATT_WARPS;
            if (j < s1) {
                load_row<CT, EL>(p.k, kb + j * p.k_pos, kf[u], p.vec);
                load_row<CT, EL>(p.v, vb + j * p.v_pos, vf[u], p.vec);
            }
        }
#pragma unroll
        for (int u = 0; u < UNR; u++) {
            if (j0 + (int64_t)u * ATT_WARPS >= s1) break;
#pragma unroll
            for (int g = 0; g < GB; g++) {
                float sc = 0.f;
#pragma unroll
                for (int i = 0; i < EL; i++) sc += q[g][i] * kf[u][i];
                sc = warp_sum(sc);
                if (p.softcap > 0.f) sc = p.softcap * tanhf(sc / p.softcap);
                float mn = fmaxf(m[g], sc);
                float corr = __expf(m[g] - mn), pe = __expf(sc - mn);
                l[g] = l[g] * corr + pe;
#pragma unroll
                for (int i = 0; i < EL; i++) acc[g][i] = acc[g][i] * corr + pe * vf[u][i];
                m[g] = mn;
            }
        }
    }
    /* merge the warps of this block */
#pragma unroll
    for (int g = 0; g < GB; g++) {
#pragma unroll
        for (int i = 0; i < EL; i++) sm[warp][g][lane * EL + i] = acc[g][i];
        if (lane == 0) { sm[warp][g][HD] = m[g]; sm[warp][g][HD + 1] = l[g]; }
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < GB * (HD + 2); idx += blockDim.x) {
        int g = idx / (HD + 2), d = idx % (HD + 2);
        if (g >= nh) continue;
        float M = -INFINITY;
        for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, sm[w][g][HD]);
        float r = 0.f;
        if (d == HD) r = M;
        else {
            for (int w = 0; w < ATT_WARPS; w++) {
                float mw = sm[w][g][HD];
                float f = mw == -INFINITY ? 0.f : __expf(mw - M);
                r += f * (d == HD + 1 ? sm[w][g][HD + 1] : sm[w][g][d]);
            }
        }
        p.part[((iq * p.n_heads + h0 + g) * p.n_split + split) * (HD + 2) + d] = r;
    }
}

__global__ void attn_reduce_kernel(const float *part, int64_t n_heads, int n_split, int hd, float *out, int64_t o_head,
                                   int64_t o_tok) {
    int64_t qh = blockIdx.x;                 /* iq * n_heads + h */
    int64_t iq = qh / n_heads, h = qh % n_heads;
    const float *pp = part + qh * n_split * (hd + 2);
    float M = -INFINITY;
    for (int s = 0; s < n_split; s++) M = fmaxf(M, pp[s * (hd + 2) + hd]);
    float L = 0.f;
    for (int s = 0; s < n_split; s++) {
        float ms = pp[s * (hd + 2) + hd];
        if (ms != -INFINITY) L += __expf(ms - M) * pp[s * (hd + 2) + hd + 1];
    }
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float a = 0.f;
        for (int s = 0; s < n_split; s++) {
            float ms = pp[s * (hd + 2) + hd];
            if (ms != -INFINITY) a += __expf(ms - M) * pp[s * (hd + 2) + d];
        }
        out[iq * o_tok + h * o_head + d] = L > 0.f ? a / L : 0.f;
    }
}

typedef void (*attn_fn)(AttnP);
/* ---- v2: tiled split-KV decode (the default for f16/bf16 caches with 16-byte rows, head 64..256,
 * default; v1 above stays for f32 / unaligned caches, head 512) ---------------------------------
 * Block = (kv head, group of G query heads, query, split); 128 threads (256 for head 256) walk
 * the split in tiles of TK keys. Per tile: (1) every thread issues its cp.async 16-byte copies of
 * the K and V tile (all in flight before any use) into shared memory (rows padded by 16 bytes:
 * conflict-free 16-byte reads down a column); (2) scores: thread = (key, subset of heads),
 * a full HD-long dot from shared memory, no shuffles; (3) softmax of the tile per head by one
 * warp (two shuffle reductions); (4) P.V: thread = (pair of dims, subset of heads), TK fused
 * multiply-adds per output. Partials (acc, m, l) go to the same layout as v1; the reduction kernel
 * is launched with programmatic dependent launch. */
int mlxn_cuda_attn_version = 2;
/* threads per block: 256 for head 256 (measured 15.4 -> 14.1 us at len 4096), 128 below (head 128
 * measured 13.5 / 32.2 us with 128 threads, 15.9 / 40.5 us with 256, len 4096 / 16384) */
template <int HD> struct A2Cfg { enum { TK = HD >= 256 ? 32 : 64, ROW = HD + 8 /* halves */, T = HD >= 256 ? 256 : 128 }; };

template <int CT, int HD, int G>
__global__ void __launch_bounds__(A2Cfg<HD>::T, 512 / A2Cfg<HD>::T) attn2_kernel(AttnP p) {
    constexpr int A2_T = A2Cfg<HD>::T;
    constexpr int TK = A2Cfg<HD>::TK, ROW = A2Cfg<HD>::ROW;
    constexpr int CH = HD / 8;                         /* 16-byte chunks per row */
    constexpr int LPT = TK * CH / A2_T;                /* chunks per thread per tensor per tile */
    __shared__ __align__(16) uint16_t ks[TK * ROW], vs[TK * ROW];
    __shared__ __align__(16) float qs[G][HD];
    __shared__ float ps[G][TK];
    __shared__ float ms[G], ls[G], cs[G];
    asm volatile("griddepcontrol.launch_dependents;");
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int ngb = (p.group + G - 1) / G;
    const int kvh = blockIdx.x / ngb, h0 = kvh * p.group + (blockIdx.x % ngb) * G;
    const int nh = min(G, kvh * p.group + p.group - h0);
    const int64_t iq = blockIdx.y;
    const int split = blockIdx.z;
    int32_t qp = p.q_pos[iq];
    if (qp >= p.n_ctx || qp < 0) {
        if (tid == 0 && split == 0) atomicOr(p.err, 4);
        qp = qp < 0 ? -1 : (int32_t)p.n_ctx - 1;
    }
    int64_t lo = 0, hi = qp;
    if (p.window > 0) lo = max((int64_t)0, (int64_t)qp - p.window + 1);
    int64_t nvis = hi >= lo ? hi - lo + 1 : 0;
    int64_t chunk = (nvis + p.n_split - 1) / p.n_split;
    int64_t s0 = lo + split * chunk, s1 = min(hi + 1, s0 + chunk);
    for (int i = tid; i < G * HD; i += A2_T) {
        int g = i / HD, d = i % HD;
        qs[g][d] = g < nh ? p.q[iq * p.q_tok + (int64_t)(h0 + g) * p.q_head + d] * p.scale : 0.f;
    }
    if (tid < G) { ms[tid] = -INFINITY; ls[tid] = 0.f; }
    const uint16_t *K = (const uint16_t *)p.k + (int64_t)kvh * p.k_head;
    const uint16_t *V = (const uint16_t *)p.v + (int64_t)kvh * p.v_head;
    /* P.V ownership: dim pair dp, heads g = hs, hs + HS, ... */
    constexpr int NDP = HD / 2, HS = A2_T / NDP >= 1 ? A2_T / NDP : 1;
    constexpr int MYH = (G + HS - 1) / HS;
    const int dp = tid % NDP, hs = tid / NDP;
    float acc[MYH][2];
#pragma unroll
    for (int a = 0; a < MYH; a++) { acc[a][0] = 0.f; acc[a][1] = 0.f; }
    /* score ownership: key kj, heads g = gs, gs + SS, ... */
    constexpr int SS = A2_T / TK;
    const int kj = tid % TK, gs = tid / TK;
    for (int64_t t0 = s0; t0 < s1; t0 += TK) {
        const int nk = (int)min((int64_t)TK, s1 - t0);
#pragma unroll
        for (int i = 0; i < LPT; i++) {
            int c = tid + i * A2_T, j = c / CH, o = (c % CH) * 8;
            bool in = j < nk;
            const uint16_t *gk = in ? K + (t0 + j) * p.k_pos + o : K, *gv = in ? V + (t0 + j) * p.v_pos + o : V;
            uint32_t sk = (uint32_t)__cvta_generic_to_shared(ks + j * ROW + o);
            uint32_t sv = (uint32_t)__cvta_generic_to_shared(vs + j * ROW + o);
            int n = in ? 16 : 0;   /* 0: zero-fill, nothing read */
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sk), "l"(gk), "r"(n) : "memory");
            asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(sv), "l"(gv), "r"(n) : "memory");
        }
        asm volatile("cp.async.commit_group;\ncp.async.wait_group 0;" ::: "memory");
        __syncthreads();
        /* scores */
        for (int g = gs; g < G; g += SS) {
            float sc = 0.f;
#pragma unroll 4
            for (int c = 0; c < CH; c++) {
                uint4 u = *(const uint4 *)(ks + kj * ROW + c * 8);
                float4 qa = *(const float4 *)&qs[g][c * 8], qb = *(const float4 *)&qs[g][c * 8 + 4];
                const uint32_t w[4] = {u.x, u.y, u.z, u.w};
                float kf[8];
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    uint16_t l16 = (uint16_t)(w[e] & 0xffff), h16 = (uint16_t)(w[e] >> 16);
                    kf[2 * e] = CT == MLXN_TYPE_F16 ? h2f(l16) : bf2f(l16);
                    kf[2 * e + 1] = CT == MLXN_TYPE_F16 ? h2f(h16) : bf2f(h16);
                }
                sc += qa.x * kf[0] + qa.y * kf[1] + qa.z * kf[2] + qa.w * kf[3] + qb.x * kf[4] + qb.y * kf[5] +
                      qb.z * kf[6] + qb.w * kf[7];
            }
            if (p.softcap > 0.f) sc = p.softcap * tanhf(sc / p.softcap);
            ps[g][kj] = kj < nk ? sc : -INFINITY;
        }
        __syncthreads();
        /* softmax of the tile, one warp per head */
        for (int g = warp; g < G; g += A2_T / 32) {
            float a0 = lane < TK ? ps[g][lane] : -INFINITY;
            float a1 = lane + 32 < TK ? ps[g][lane + 32] : -INFINITY;
            float mt = warp_max(fmaxf(a0, a1));
            float mo = ms[g], mn = fmaxf(mo, mt);
            float e0 = mn == -INFINITY ? 0.f : __expf(a0 - mn), e1 = mn == -INFINITY ? 0.f : __expf(a1 - mn);
            if (lane < TK) ps[g][lane] = e0;
            if (lane + 32 < TK) ps[g][lane + 32] = e1;
            float st = warp_sum(e0 + e1);
            if (lane == 0) {
                float corr = mo == -INFINITY ? 0.f : __expf(mo - mn);
                cs[g] = corr; ls[g] = ls[g] * corr + st; ms[g] = mn;
            }
        }
        __syncthreads();
        /* P.V */
#pragma unroll
        for (int a = 0; a < MYH; a++) {
            int g = hs + a * HS;
            if (g < G) { float c = cs[g]; acc[a][0] *= c; acc[a][1] *= c; }
        }
#pragma unroll 8
        for (int j = 0; j < TK; j++) {
            uint32_t w = *(const uint32_t *)(vs + j * ROW + 2 * dp);
            uint16_t l16 = (uint16_t)(w & 0xffff), h16 = (uint16_t)(w >> 16);
            float v0 = CT == MLXN_TYPE_F16 ? h2f(l16) : bf2f(l16), v1 = CT == MLXN_TYPE_F16 ? h2f(h16) : bf2f(h16);
#pragma unroll
            for (int a = 0; a < MYH; a++) {
                int g = hs + a * HS;
                if (g < G) { float pp = ps[g][j]; acc[a][0] += pp * v0; acc[a][1] += pp * v1; }
            }
        }
        __syncthreads();
    }
    __syncthreads();
    if (hs < HS) {
#pragma unroll
        for (int a = 0; a < MYH; a++) {
            int g = hs + a * HS;
            if (g < nh) {
                float *o = p.part + ((iq * p.n_heads + h0 + g) * p.n_split + split) * (HD + 2);
                o[2 * dp] = acc[a][0]; o[2 * dp + 1] = acc[a][1];
                if (dp == 0) { o[HD] = ms[g]; o[HD + 1] = ls[g]; }
            }
        }
    }
}

/* Split merge for v2: block = (query head, 32 dims), 256 threads = 8 split lanes x 32 dims. The
 * split weights exp(m_s - M) are computed once per block into shared memory; each thread then
 * sums its dim over every 8th split with 4 independent loads in flight (a serial walk over ~100
 * splits measured ~13 us of L2 round trips). */
#define A2R_SL 8
__global__ void __launch_bounds__(256) attn2_reduce_kernel(const float *part, int64_t n_heads, int n_split, int hd,
                                                           float *out, int64_t o_head, int64_t o_tok) {
    extern __shared__ float wsm[];   /* n_split weights */
    __shared__ float red[32];
    __shared__ float accs[A2R_SL][32];
    asm volatile("griddepcontrol.wait;" ::: "memory");
    const int tid = threadIdx.x;
    int64_t qh = blockIdx.x, iq = qh / n_heads, h = qh % n_heads;
    const float *pp = part + qh * n_split * (hd + 2);
    float M = -INFINITY;
    for (int s = tid; s < n_split; s += blockDim.x) { float m = pp[s * (hd + 2) + hd]; wsm[s] = m; M = fmaxf(M, m); }
    M = block_max(M, red);
    float L = 0.f;
    for (int s = tid; s < n_split; s += blockDim.x) {
        float ms = wsm[s];
        float w = ms == -INFINITY ? 0.f : __expf(ms - M);
        wsm[s] = w;
        L += w * pp[s * (hd + 2) + hd + 1];
    }
    L = block_sum(L, red);   /* its barriers also publish wsm */
    const int dl = tid & 31, sl = tid >> 5;
    const int d = blockIdx.y * 32 + dl;
    float a0 = 0.f, a1 = 0.f, a2 = 0.f, a3 = 0.f;
    if (d < hd) {
        int s = sl;
        for (; s + 3 * A2R_SL < n_split; s += 4 * A2R_SL) {
            a0 += wsm[s] * pp[(int64_t)s * (hd + 2) + d];
            a1 += wsm[s + A2R_SL] * pp[(int64_t)(s + A2R_SL) * (hd + 2) + d];
            a2 += wsm[s + 2 * A2R_SL] * pp[(int64_t)(s + 2 * A2R_SL) * (hd + 2) + d];
            a3 += wsm[s + 3 * A2R_SL] * pp[(int64_t)(s + 3 * A2R_SL) * (hd + 2) + d];
        }
        for (; s < n_split; s += A2R_SL) a0 += wsm[s] * pp[(int64_t)s * (hd + 2) + d];
    }
    accs[sl][dl] = (a0 + a1) + (a2 + a3);
    __syncthreads();
    if (sl == 0 && d < hd) {
        float a = 0.f;
#pragma unroll
        for (int i = 0; i < A2R_SL; i++) a += accs[i][dl];
        out[iq * o_tok + h * o_head + d] = L > 0.f ? a / L : 0.f;
    }
}

template <int CT, int HD> static attn_fn pick2_g(int g) {
    switch (g) {
    case 1: return attn2_kernel<CT, HD, 1>;
    case 2: return attn2_kernel<CT, HD, 2>;
    case 4: return attn2_kernel<CT, HD, 4>;
    default: return attn2_kernel<CT, HD, 8>;
    }
}
template <int CT> static attn_fn pick2(int hd, int g) {
    switch (hd) {
    case 64: return pick2_g<CT, 64>(g);
    case 128: return pick2_g<CT, 128>(g);
    case 256: return pick2_g<CT, 256>(g);
    default: return NULL;
    }
}


template <int CT, int HD> static attn_fn pick_gb(int gb) {
    if (gb == 1) return attn_split_kernel<CT, HD, 1>;
    if constexpr (HD == 512) return attn_split_kernel<CT, HD, 4>;
    else {
        if (gb == 4) return attn_split_kernel<CT, HD, 4>;
        return attn_split_kernel<CT, HD, 8>;
    }
}
template <int CT> static attn_fn pick_hd(int hd, int gb) {
    switch (hd) {
    case 64: return pick_gb<CT, 64>(gb);
    case 128: return pick_gb<CT, 128>(gb);
    case 256: return pick_gb<CT, 256>(gb);
    case 512: return pick_gb<CT, 512>(gb);
    default: return NULL;
    }
}

/* The parameters both split-KV decode kernels take: the call's tensors, the query-head group,
 * the number of splits and a scratch for the partials ([n_q][n_heads][n_split][hd + 2] floats). */
static mlxn_status attn_split_params(const mlxn_cuda_attn *a, int group, int n_split, bool vec, int *err,
                                     void *stream, AttnP *p) {
    void *part;
    MLXN_TRY(mlxn_cuda_scratch((size_t)(a->n_q * a->n_heads * n_split * (a->hd + 2)) * 4, &part, stream));
    p->q = a->q; p->q_head = a->q_head; p->q_tok = a->q_tok;
    p->k = a->k; p->k_pos = a->k_pos; p->k_head = a->k_head;
    p->v = a->v; p->v_pos = a->v_pos; p->v_head = a->v_head;
    p->q_pos = a->q_pos; p->part = (float *)part;
    p->n_heads = a->n_heads; p->n_kv = a->n_kv; p->n_ctx = a->n_ctx;
    p->group = group; p->n_split = n_split;
    p->scale = a->scale; p->softcap = a->softcap; p->window = a->window;
    p->vec = vec;
    p->err = err;
    return MLXN_OK;
}

extern "C" mlxn_status mlxn_cuda_attention(const mlxn_cuda_attn *a, void *stream) {
    if (a->hd != a->hd_v)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda attention: head_dim %lld != head_dim_v %lld", (long long)a->hd,
                         (long long)a->hd_v);
    if (a->n_kv <= 0 || a->n_heads % a->n_kv)
        return mlxn_fail(MLXN_ERR_SHAPE, "cuda attention: %lld heads not a multiple of %lld kv heads",
                         (long long)a->n_heads, (long long)a->n_kv);
    int group = (int)(a->n_heads / a->n_kv);
    int gb = group <= 1 ? 1 : group <= 4 ? 4 : 8;
    if (a->hd == 512 && gb > 4) gb = 4;
    attn_fn f = a->ct == MLXN_TYPE_F16 ? pick_hd<MLXN_TYPE_F16>((int)a->hd, gb)
              : a->ct == MLXN_TYPE_BF16 ? pick_hd<MLXN_TYPE_BF16>((int)a->hd, gb)
              : a->ct == MLXN_TYPE_F32 ? pick_hd<MLXN_TYPE_F32>((int)a->hd, gb) : NULL;
    if (!f) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cuda attention: head_dim %lld / cache type %s", (long long)a->hd,
                             mlxn_type_name(a->ct));
    size_t esz = a->ct == MLXN_TYPE_F32 ? 4 : 2;
    bool vec = !(((uintptr_t)a->k | (uintptr_t)a->v) % 16 || (a->k_pos * esz) % 16 || (a->v_pos * esz) % 16 ||
                 (a->k_head * esz) % 16 || (a->v_head * esz) % 16);
    int *err;
    MLXN_TRY(mlxn_cuda_err_flag(&err));
    if (mlxn_cuda_attn_version == 2 && a->ct != MLXN_TYPE_F32 && vec && (a->hd == 64 || a->hd == 128 || a->hd == 256)) {
        int g2 = group <= 1 ? 1 : group <= 2 ? 2 : group <= 4 ? 4 : 8;
        attn_fn f2 = a->ct == MLXN_TYPE_F16 ? pick2<MLXN_TYPE_F16>((int)a->hd, g2) : pick2<MLXN_TYPE_BF16>((int)a->hd, g2);
        int ngb2 = (group + g2 - 1) / g2;
        int tk = a->hd >= 256 ? 32 : 64;
        /* splits: >= ~4 blocks per SM (fixed by n_ctx so a captured graph serves every position),
         * each at least one tile of keys */
        const int sms = mlxn_cuda_sm_count();
        int64_t base = a->n_kv * ngb2 * a->n_q;
        int64_t target = (int64_t)mlxn_cuda_attn_blocks_per_sm * (sms > 0 ? sms : 132);
        int64_t ns = (target + base - 1) / base;
        int64_t mx = (a->n_ctx + tk - 1) / tk;
        if (ns > mx) ns = mx;
        if (ns > 4096) ns = 4096;
        if (ns < 1) ns = 1;
        AttnP p;
        MLXN_TRY(attn_split_params(a, group, (int)ns, true, err, stream, &p));
        const float *scr2 = p.part;
        dim3 grid((unsigned)(a->n_kv * ngb2), (unsigned)a->n_q, (unsigned)ns);
        f2<<<grid, a->hd >= 256 ? 256 : 128, 0, CU_STREAM(stream)>>>(p);
        MLXN_TRY(MLXN_CUDA_LAUNCHED("attn2_kernel"));
        cudaLaunchConfig_t c = {};
        c.gridDim = dim3((unsigned)(a->n_q * a->n_heads), (unsigned)((a->hd + 31) / 32));
        c.blockDim = dim3(256);
        c.dynamicSmemBytes = (size_t)ns * 4;
        c.stream = CU_STREAM(stream);
        cudaLaunchAttribute at[1];
        at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        at[0].val.programmaticStreamSerializationAllowed = 1;
        c.attrs = at;
        c.numAttrs = 1;
        CU_TRY(cudaLaunchKernelEx(&c, attn2_reduce_kernel, scr2, (int64_t)a->n_heads, (int)ns, (int)a->hd,
                                  a->out, (int64_t)a->o_head, (int64_t)a->o_tok));
        return MLXN_CUDA_LAUNCHED("attn2_reduce_kernel");
    }
    int ngb = (group + gb - 1) / gb;
    /* splits: enough blocks for ~4 per SM at decode; fixed by n_ctx so graphs can be replayed */
    int64_t base = a->n_kv * ngb * a->n_q;
    int min_keys = mlxn_cuda_attn_min_keys > 0 ? mlxn_cuda_attn_min_keys : 64;
    const int sms = mlxn_cuda_sm_count();
    int64_t target = (int64_t)4 * (sms > 0 ? sms : 132) * (min_keys < 64 ? 64 / min_keys : 1);
    int n_split = (int)((target + base - 1) / base);
    int64_t max_split = (a->n_ctx + min_keys - 1) / min_keys;
    if (n_split > max_split) n_split = (int)max_split;
    if (n_split < 1) n_split = 1;
    AttnP p;
    MLXN_TRY(attn_split_params(a, group, n_split, vec, err, stream, &p));
    const float *scr = p.part;
    dim3 grid((unsigned)(a->n_kv * ngb), (unsigned)a->n_q, (unsigned)n_split);
    f<<<grid, ATT_WARPS * 32, 0, CU_STREAM(stream)>>>(p);
    MLXN_TRY(MLXN_CUDA_LAUNCHED("attn_split_kernel"));
    attn_reduce_kernel<<<(unsigned)(a->n_q * a->n_heads), 128, 0, CU_STREAM(stream)>>>(scr, a->n_heads,
                                                                                       n_split, (int)a->hd, a->out,
                                                                                       a->o_head, a->o_tok);
    return MLXN_CUDA_LAUNCHED("attn_reduce_kernel");
}
