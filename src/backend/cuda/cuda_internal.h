/* Internal C-callable launchers of the CUDA backend, on raw device pointers.
 * Every launcher queues work on `stream` (a cudaStream_t passed as void*), validates what it can
 * cheaply, and returns an mlxn_status whose message names the CUDA error, file and line.
 * The backend vtable (backend_cuda.c) and `mlxn bench-ops` are the callers. */
#ifndef MLXN_BACKEND_CUDA_INTERNAL_H
#define MLXN_BACKEND_CUDA_INTERNAL_H
#include "mlxn.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- runtime: devices, memory, streams, events, graphs (runtime.cu) ------------------------ */
int mlxn_cuda_ndev(void);                                  /* 0 when no GPU / no driver */
mlxn_status mlxn_cuda_info(int dev, mlxn_device_info *out);
mlxn_status mlxn_cuda_set_device(int dev);
/* Multiprocessor count and shared memory per multiprocessor of the current device, read once
 * per device (launch sizing; 0 if the query failed). */
int mlxn_cuda_sm_count(void);
int mlxn_cuda_smem_per_sm(void);
/* cudaMalloc with 256 bytes of slack at the end (the mat-vec reads whole 16-byte pieces that may
 * run up to 15 bytes past a tensor's end). Out of memory -> MLXN_ERR_DEVICE_MEMORY. */
mlxn_status mlxn_cuda_malloc(void **p, size_t n);
void mlxn_cuda_free(void *p);
mlxn_status mlxn_cuda_memcpy_h2d(void *dst, const void *src, size_t n, void *stream);
mlxn_status mlxn_cuda_memcpy_d2h(void *dst, const void *src, size_t n, void *stream);
/* d2h then the error-flag check; small copies (<= 1 MiB) through pinned memory with one wait */
mlxn_status mlxn_cuda_download_checked(void *dst, const void *src, size_t n, void *stream);
mlxn_status mlxn_cuda_memcpy_d2d(void *dst, const void *src, size_t n, void *stream);
mlxn_status mlxn_cuda_memset(void *dst, int byte, size_t n, void *stream);
mlxn_status mlxn_cuda_stream_create(void **s);
void mlxn_cuda_stream_destroy(void *s);
mlxn_status mlxn_cuda_stream_sync(void *s);
mlxn_status mlxn_cuda_event_create(void **e);
void mlxn_cuda_event_destroy(void *e);
mlxn_status mlxn_cuda_event_record(void *e, void *stream);
mlxn_status mlxn_cuda_event_elapsed(void *start, void *end, float *ms);
mlxn_status mlxn_cuda_graph_begin(void *stream);
mlxn_status mlxn_cuda_graph_end(void *stream, void **exec);
mlxn_status mlxn_cuda_graph_launch(void *exec, void *stream);
void mlxn_cuda_graph_destroy(void *exec);
/* Device-side error flag (one int per device): kernels set bits on bad input (expert id out of
 * range = 1, row id out of range = 2, position out of range = 4); sync reports and clears it. */
mlxn_status mlxn_cuda_err_flag(int **flag);
mlxn_status mlxn_cuda_check_flag(void *stream);
/* cudaDeviceSynchronize + the error flag. */
mlxn_status mlxn_cuda_device_sync(void);
/* Scratch arena: one growing device allocation reused by ops that need temporaries (quantized
 * activations, dequantized f16 weights). Grows only outside graph capture; the hot path, once
 * warm, never calls cudaMalloc. */
mlxn_status mlxn_cuda_scratch(size_t n, void **p, void *stream);
/* Checks the last launch and returns a status naming `what`. */
mlxn_status mlxn_cuda_check_launch(const char *what, const char *file, int line);
#define MLXN_CUDA_LAUNCHED(what) mlxn_cuda_check_launch(what, __FILE__, __LINE__)

/* ---- mat-vec / mat-mat (mmv.cu, gemm.cu) --------------------------------------------------- */
/* Weights: `w` points at row 0 of expert 0; row r of expert e starts at
 * w + e*expert_bytes + r*row_bytes. Activations f32: column c of x is x + c*x_col (elements). */
typedef struct mlxn_cuda_mm {
    mlxn_type type;
    const void *w;
    size_t row_bytes, expert_bytes;
    int64_t rows, k;
    /* plain mul_mat: n columns; x {k, n} col stride x_col; y {rows, n} col stride y_col */
    int64_t n;
    const float *x; int64_t x_col;
    float *y; int64_t y_col;
    /* mul_mat_id (ids != NULL): ids {top_k, n_tokens} (i32, token stride ids_tok);
     * x column for (t, j) = x + j'*x_col + t*x_tok with j' = n_x == 1 ? 0 : j;
     * y column for (t, j) = y + j*y_col + t*y_tok. */
    const int32_t *ids; int64_t ids_tok;
    int top_k, n_x, n_expert; int64_t n_tokens;
    int64_t x_tok, y_tok;
    /* y += W x instead of y = W x: only the mat-mat route (plain, n > 8: cuBLAS beta = 1) takes
     * it; mul_mat_fused's composition uses it for the residual add of a prefill */
    int accumulate;
} mlxn_cuda_mm;
/* Whether the quantized mat-vec kernels decode `type`. */
bool mlxn_cuda_mmv_supports(mlxn_type type);
/* y = W x for n <= 8 (mat-vec route; also mul_mat_id). */
mlxn_status mlxn_cuda_mul_mat_vec(const mlxn_cuda_mm *a, void *stream);
/* Route chooser used by the backend: mat-vec for n <= 8 / small id batches, else dequantize to
 * f16 and cuBLAS (per expert for mul_mat_id, tokens grouped per expert on the device). */
mlxn_status mlxn_cuda_mul_mat(const mlxn_cuda_mm *a, void *stream);
/* Route knobs for experiments: 0 = auto. */
extern int mlxn_cuda_mmv_force_f32x;   /* 1: use the f32-activation mat-vec (exact) */
extern int mlxn_cuda_mmv_no_pdl;       /* 1: launch without programmatic dependent launch */
unsigned long long mlxn_cuda_launch_seq(void);   /* bumped by every launch check, copy and fill (runtime.cu) */
/* The quantized-column hand-over (mmv.cu): a kernel that can write its f32 output x (k values,
 * one column) also in the layout the mat-vec's quant_x kernel writes (int8 q at scratch + 0,
 * the scales d at + qbytes, d * sum q at + qbytes + dbytes: mlxn_cuda_xq_layout) offers it right
 * after its launch; the mat-vec launched next on the same stream with x as its column takes it
 * and leaves its quant_x launch out. Any launch, copy or fill in between voids the offer. */
void mlxn_cuda_xq_layout(int64_t k, size_t *qbytes, size_t *dbytes);
void mlxn_cuda_xq_offer(const float *x, int64_t k, void *stream);
int mlxn_cuda_xq_take(const float *x, int64_t k, void *stream);
int mlxn_cuda_xq_wanted(const float *x, int64_t k);   /* 0 when an offer of this column went untaken before (or MLXN_CUDA_XQ=0) */
int mlxn_cuda_xq_enabled(void);        /* 1 (default): kernels that can write the quantized column do (MLXN_CUDA_XQ=0: never) */
extern int mlxn_cuda_mmv_trigger;      /* 1 (default): the v2-v4 mat-vecs let the next kernel launch right after their wait (MLXN_CUDA_MMV_TRIGGER=0: at their end) */
extern int mlxn_cuda_xq_early;         /* 1 (default): the activation-quantization kernels (quant_x*, v6 staging) let the next kernel launch before their wait (MLXN_CUDA_XQ_EARLY=0: after it) */
extern int mlxn_cuda_mmv_skip_xq;      /* measurement only (MLXN_CUDA_SKIP_XQ; results are wrong): the activation
                                        * quantization launch left out (stale bytes read) for 1 plain columns (with
                                        * or without the add), 2 all, 3 the norm prologue's, 4 the GLU's */
int mlxn_cuda_skip_xq(int pro);        /* whether to leave it out for prologue pro (0 none, 1 norm, 2/3 GLU) */
extern int mlxn_cuda_mmv_v2_warps;     /* v2 rows-per-warp target: resident warps per SM */
extern int mlxn_cuda_mmv_v3_warps;     /* v3 rows-per-warp target (default 16) */
extern int mlxn_cuda_mmv_version;      /* 0 (default: v6 where it applies, else chosen per type and k, see mmv.cu), 6, 5/4 (activations in shared memory), 3 (cp.async ring), 2 (register stage), 1 (one row per warp) */
/* Mat-vec v6 (mmv6.cu): n = 1 and mul_mat_id decode, the default wherever it applies. */
bool mlxn_cuda_mmv6_applies(const mlxn_cuda_mm *a);
mlxn_status mlxn_cuda_mmv6(const mlxn_cuda_mm *a, void *stream);
extern int mlxn_cuda_mmv6_warps;          /* warps per block (default 16) */
extern int mlxn_cuda_mmv6_stages;         /* ring stages per warp (default 3) */
extern int mlxn_cuda_mmv6_blocks_per_sm;  /* blocks per SM (default 1) */
extern int mlxn_cuda_mmv6_resident;       /* blocks that must fit on an SM together (default 1) */
extern int mlxn_cuda_mmv6_xpre;           /* the plain mat-vec's column quantized once per call (v6_stage_kernel) when k >= this (default 1: always); 0: by every block (MLXN_CUDA_MMV6_XPRE=K) */
int mlxn_cuda_mmv6_prestaged(int64_t k);
extern int mlxn_cuda_mmv6_norm1;          /* 1 (default): the pre-staging with the norm prologue in one block; 0: in every block of a grid (MLXN_CUDA_MMV6_NORM1=0) */  /* whether a plain v6 mat-vec of this k pre-stages its column */
extern int mlxn_cuda_mmv6_seg;            /* 1 (default): row sums by segmented scan; 0: a reduction per distinct row (MLXN_CUDA_MMV6_FLUSH=0) */
extern int mlxn_cuda_mmv6_x_direct;       /* 1: quantize x from global memory (no f32 staging in shared memory) */
/* mul_mat_id prefill on int8 tensor cores (mmq.cu), used by the grouped route of the mat-vec
 * launcher (many (token, slot) pairs). Version knob: 0 auto (tile kernel v3 from 2 pairs per
 * expert on average, else the grouped mat-vec; mmq.cu), 1 the
 * grouped mat-vec, 2 the tile kernel, 3 the tile kernel with cp.async-staged chunks, 4 v3 with
 * hoisted addresses and ldmatrix fragments, 5 v4 with biased accumulators, 6 v5 with the Q4_K min
 * term by tf32 mma, 7 v6 with 4 blocks per SM; the
 * environment variable MLXN_CUDA_MMQ sets it when 0. */
extern int mlxn_cuda_mmq_version;
/* Whether the tile kernel takes this mul_mat_id (version, type Q4_0/Q8_0/Q4_K/Q6_K, k % 256). */
bool mlxn_cuda_mmq_use(const mlxn_cuda_mm *a);
/* Queues the tile kernel: q/d/s the int8 activations {k, n_x * n_tokens} (group scale, scale *
 * sum per 32), offsets {n_expert + 1} / perm {top_k * n_tokens} the pairs grouped by expert. */
mlxn_status mlxn_cuda_mmq_id(const mlxn_cuda_mm *a, const int8_t *q, const float *d, const float *s,
                             const int32_t *offsets, const int32_t *perm, void *stream);

/* MLX packed weights: row r of expert e at w + e*w_exp + r*w_row (bytes; same for scales/biases). */
typedef struct mlxn_cuda_mlx {
    const void *w, *scales, *biases;      /* biases NULL for mxfp4 */
    int64_t w_row, w_exp, s_row, s_exp, b_row, b_exp;
    int bits, group_size, mxfp4, scale_bf16;
} mlxn_cuda_mlx;
mlxn_status mlxn_cuda_mlx_mul_mat(const mlxn_cuda_mlx *q, const mlxn_cuda_mm *a, void *stream);
mlxn_status mlxn_cuda_mlx_get_rows(const mlxn_cuda_mlx *q, int64_t n_rows, int64_t k, const int32_t *ids, int64_t n,
                                   float *y, int64_t y_row, void *stream);

/* mul_mat_fused (mmfuse.cu): y = W . x' (+ add), x' the prologue's output (none, rms norm, or
 * act(gate) * up). Plain mul_mat only (ids NULL). Columns in elements. */
typedef struct mlxn_cuda_mmfuse {
    const float *norm_w; float eps;             /* norm prologue: x' = x * rsqrt(mean(x^2) + eps) * norm_w {k} */
    const float *up; int64_t up_col; int glu;   /* glu prologue: x' = act(x) * up {k, n}; glu 0 swiglu, 1 geglu */
    const float *add; int64_t add_col;          /* epilogue: y = W . x' + add {rows, n}; add may be y itself */
} mlxn_cuda_mmfuse;
/* One launch per call where a route takes it (n <= 8 through the int8 kernels: the prologue in
 * the activation quantization, the add where y is written; v6: both inside the kernel), else the
 * composition rms_norm / glu -> mul_mat -> add through a scratch arena of its own (every weight
 * type, MLX included, any n). mlq: the MLX weight or NULL. */
mlxn_status mlxn_cuda_mul_mat_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mlx *mlq, const mlxn_cuda_mmfuse *f, void *stream);
/* 1 (default): the one-launch routes where they apply, except a GLU prologue on v6 (run as its
 * own kernel, then v6 with the add: measured faster for large k); 2: the GLU inside v6 as well;
 * 0: always the composition. -1: read the environment variable MLXN_CUDA_MM_FUSE (0, 1, 2) at
 * the first call. */
extern int mlxn_cuda_mm_fuse;
/* mmv.cu: whether the mat-vec takes a with f in one launch (plain, n <= 8, a v6 or int8 route),
 * and that launch (MLXN_ERR_UNSUPPORTED when it does not). */
bool mlxn_cuda_mmv_fusable(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f);
/* 0: no one-launch route; 1: the int8 routes behind the activation quantization; 2: v6. */
int mlxn_cuda_mmv_fused_route(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f);
mlxn_status mlxn_cuda_mul_mat_vec_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream);
/* mmv6.cu: v6 with the prologue applied to the staged column and the add where rows are written. */
bool mlxn_cuda_mmv6_applies_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f);
mlxn_status mlxn_cuda_mmv6_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mmfuse *f, void *stream);

/* Dequantize `nrows` rows of k elements (row i at src + i*row_bytes) to f32 or f16 (dst_f16). */
mlxn_status mlxn_cuda_dequant_rows(mlxn_type type, const void *src, size_t row_bytes, int64_t nrows,
                                   int64_t k, void *dst, int64_t dst_row, bool dst_f16, void *stream);
/* get_rows: y[t] = dequant(W[ids[t]]), y f32 {k, n} with row stride y_row (elements). */
mlxn_status mlxn_cuda_get_rows(mlxn_type type, const void *w, size_t row_bytes, int64_t n_rows,
                               int64_t k, const int32_t *ids, int64_t n, float *y, int64_t y_row,
                               void *stream);

/* ---- elementwise / norms / rope / kv / attention / select (one .cu each) --------------------- */
/* Row-wise: x, y f32 {ne0, nrows}, row strides in elements. */
mlxn_status mlxn_cuda_rms_norm(const float *x, int64_t x_row, const float *r, int64_t r_row,
                               float *sum, int64_t sum_row, const float *w, float eps, float *y,
                               int64_t y_row, int64_t ne0, int64_t nrows, void *stream);
/* Generic 4-d f32 binary op with broadcast: op 0 add, 1 mul. Strides in elements. */
typedef struct mlxn_cuda_nd { const float *p; int64_t ne[4]; int64_t st[4]; } mlxn_cuda_nd;
mlxn_status mlxn_cuda_binary(int op, mlxn_cuda_nd a, mlxn_cuda_nd b, float *y, const int64_t *y_st, void *stream);
mlxn_status mlxn_cuda_scale(mlxn_cuda_nd x, float s, float *y, const int64_t *y_st, void *stream);
/* fn: 0 silu, 1 gelu_tanh. glu: 0 swiglu, 1 geglu. */
mlxn_status mlxn_cuda_unary(int fn, mlxn_cuda_nd x, float *y, const int64_t *y_st, void *stream);
mlxn_status mlxn_cuda_glu(int fn, mlxn_cuda_nd gate, mlxn_cuda_nd up, float *y, const int64_t *y_st, void *stream);
/* copy with conversion; src/dst types F32/F16/BF16, strides in BYTES. */
mlxn_status mlxn_cuda_copy(mlxn_type st, const void *src, const size_t *src_nb, mlxn_type dt, void *dst,
                           const size_t *dst_nb, const int64_t *ne, void *stream);
/* rope over x f32 {head_dim, n_heads, n_tokens} (strides in elements: head, token). */
mlxn_status mlxn_cuda_rope(const float *x, int64_t x_head, int64_t x_tok, float *y, int64_t y_head,
                           int64_t y_tok, int64_t head_dim, int64_t n_heads, int64_t n_tokens,
                           const int32_t *pos, const float *freq_factors, int mode, int n_rot,
                           float freq_base, float freq_scale, void *stream);
/* rope on q (into q_out) and k (into k_cache) and v into v_cache (strides in elements). */
typedef struct mlxn_cuda_rope_kv_args {
    const float *q; int64_t q_head, q_tok;                 /* {hd, n_heads, n} */
    float *q_out; int64_t qo_head, qo_tok;                 /* like q, may alias it */
    const float *k; int64_t k_head, k_tok;                 /* {hd, n_kv, n} */
    const float *v; int64_t v_head, v_tok;                 /* {hd_v, n_kv, n} */
    mlxn_type ct;
    void *k_cache; int64_t kc_pos, kc_head;                /* {hd, n_ctx, n_kv} */
    void *v_cache; int64_t vc_pos, vc_head;                /* {hd_v, n_ctx, n_kv} */
    const int32_t *pos; const float *freq_factors;         /* {n}; {n_rot/2} or NULL */
    int mode, n_rot; float freq_base, freq_scale;
    int64_t head_dim, head_dim_v, n_heads, n_kv, n_tokens, n_ctx;
} mlxn_cuda_rope_kv_args;
mlxn_status mlxn_cuda_rope_kv(const mlxn_cuda_rope_kv_args *a, void *stream);
/* Angles of rope / rope_kv: -1 from MLXN_CUDA_ROPE_F64 (default 0: fixed-point turns and f32
 * sincospi); 1: the first version's double angles. */
extern int mlxn_cuda_rope_f64;
/* cache {head_dim, n_ctx, n_kv} of type ct (strides in elements: pos, head). */
mlxn_status mlxn_cuda_kv_write(const float *src, int64_t src_head, int64_t src_tok, const int32_t *pos,
                               mlxn_type ct, void *cache, int64_t c_pos, int64_t c_head, int64_t head_dim,
                               int64_t n_kv, int64_t n_tokens, int64_t n_ctx, void *stream);
typedef struct mlxn_cuda_attn {
    const float *q; int64_t q_head, q_tok;                 /* {hd, n_heads, n_q} */
    mlxn_type ct;
    const void *k; int64_t k_pos, k_head;                  /* {hd, n_ctx, n_kv} elements */
    const void *v; int64_t v_pos, v_head;                  /* {hd_v, n_ctx, n_kv} */
    const int32_t *q_pos;
    float *out; int64_t o_head, o_tok;                     /* {hd_v, n_heads, n_q} */
    int64_t hd, hd_v, n_heads, n_kv, n_q, n_ctx;
    float scale, softcap; int32_t window;
    int hist_ready;                                        /* MLXN_ATTN_HISTORY_READY */
} mlxn_cuda_attn;
mlxn_status mlxn_cuda_attention(const mlxn_cuda_attn *a, void *stream);
extern int mlxn_cuda_attn_min_keys;    /* smallest split-KV chunk in keys (default 64) */
extern int mlxn_cuda_attn_version;     /* -1 auto (default: v3 for f16, v2 for bf16), 3 tensor-core split-KV, 2 tiled, 1 per-warp; env MLXN_CUDA_ATTN */
mlxn_status mlxn_cuda_attn_reserve(void *stream); /* before a graph capture: v3 counters and kernel attributes */
extern int mlxn_cuda_attn_blocks_per_sm; /* v2 split target (default 4) */
extern int mlxn_cuda_attn3_blocks_per_sm; /* v3 split target (default 3) */
extern int mlxn_cuda_attn3_cluster;       /* v3 cluster size 1/2/4/8 (default 8) */
extern int mlxn_cuda_attn3_min_keys;      /* v3 smallest split in keys (default 16) */
extern int mlxn_cuda_attn3_cfg;           /* v3 f16 (warps, stages): 0 default, 1 4x3, 2 4x4, 3 8x2 */
extern int mlxn_cuda_attn3_tma;           /* v3 f16: bulk (TMA) row copies (default 0; env MLXN_CUDA_ATTN_TMA=1) */
extern unsigned long long *mlxn_cuda_mmv6_prof;  /* bench-ops --mmv-prof: device buffer of v6 per-block marks (NULL: off) */
enum { MLXN_CUDA_V6_PROF = 12 };                 /* marks per block (mmv6.cu) */
extern unsigned long long *mlxn_cuda_attn3_prof; /* bench-ops --attn-prof: device buffer of v3 per-block marks (NULL: off) */
enum { MLXN_CUDA_A3_PROF = 16 };                 /* marks per block (attention.cu) */
extern int mlxn_cuda_attn3_single;        /* v3: ranges of <= N keys in one block per head group (-1 auto, 0 never) */
extern int mlxn_cuda_attn3_interleave;    /* v3: splits own interleaved 16-key steps (default 0; env MLXN_CUDA_ATTN_ILV) */
extern int mlxn_cuda_attn3_pdl;           /* v3: programmatic dependent launch (default 1) */
extern int mlxn_cuda_attn3_prefill_min;   /* v3: n_q from which the flash prefill kernel runs (2; 0 never) */
/* softmax rows of x {n, rows}; mask {n, mask_rows} (mask_rows 1 = broadcast) or NULL. */
mlxn_status mlxn_cuda_softmax(const float *x, int64_t x_row, const float *mask, int64_t mask_row,
                              int64_t mask_rows, float scale, float softcap, float *y, int64_t y_row,
                              int64_t n, int64_t rows, void *stream);
mlxn_status mlxn_cuda_argmax(const float *x, int64_t x_row, int64_t n, int64_t rows, int32_t *out, void *stream);
/* argmax of x {n} handed to the next decode step: step[1] += 1; step[0] = id; hist[step[1] mod cap] = id. */
mlxn_status mlxn_cuda_argmax_advance(const float *x, int64_t n, int32_t *step, int32_t *hist, int64_t cap, void *stream);
mlxn_status mlxn_cuda_top_k(const float *x, int64_t x_row, int64_t n, int64_t rows, int k, int32_t *ids,
                            int64_t ids_row, float *vals, int64_t vals_row, void *stream);
mlxn_status mlxn_cuda_moe_route(const float *logits, int64_t l_row, int64_t n_expert, int64_t n_tokens,
                                int gating, int k, bool renorm, float scale, const float *expert_scale,
                                int32_t *ids, int64_t ids_row, float *weights, int64_t w_row, void *stream);
/* y[t] = sum_j w[t][j] * eo[t][j] (+ res[t]); strides in elements. */
mlxn_status mlxn_cuda_moe_combine(const float *eo, int64_t eo_j, int64_t eo_t, const float *w, int64_t w_t,
                                  const float *res, int64_t res_t, float *y, int64_t y_t, int64_t rows,
                                  int k, int64_t n_tokens, void *stream);

/* ---- benchmark helpers (bench.cu) ---------------------------------------------------------- */
/* Read-only streaming probe: sums n bytes with 16-byte grid-stride loads; returns ms via events. */
mlxn_status mlxn_cuda_probe_read(const void *buf, size_t n, int reps, float *ms_median, void *stream);

#ifdef __cplusplus
}
#endif
#endif
