/* The internal backend interface: the vtable every backend ("ref", "cpu", "cuda") implements,
 * the resolved tensor views its op entries receive, and the front-end objects (backend,
 * buffer, stream, event, graph) that src/backend/backend.c and src/ops/ build around it.
 *
 * Contract between front-end and backend:
 *  - Op entries are called only after the front-end (src/ops/) validated every type, shape,
 *    stride and buffer bound documented in mlxn.h. A backend re-checks nothing it is told is
 *    valid; it checks only data-dependent facts it alone can see (an expert id, a row id or a
 *    kv position read from a buffer). Synchronous backends return that error at once;
 *    asynchronous ones raise it at the next sync.
 *  - A NULL op entry means "not supported": the front-end returns MLXN_ERR_UNSUPPORTED naming
 *    the op and backend. A NULL graph_* entry means the backend has no native graphs: the
 *    front-end records validated op calls (mlxn_op_call) into a list and replays them.
 *  - Every entry receives the backend context `ctx` that init() returned.
 *  - Tensor views: data is a device pointer (host pointer for CPU backends) to element [0,0,0,0];
 *    element (i0,i1,i2,i3) of a plain type lives at data + i0*nb[0] + i1*nb[1] + i2*nb[2] + i3*nb[3].
 *    For every op, nb[0] equals the element (block) size, so rows are contiguous; higher strides
 *    are free (non-contiguous views) unless the op comment below says otherwise.
 */
#ifndef MLXN_BACKEND_BACKEND_H
#define MLXN_BACKEND_BACKEND_H
#include "core/status.h"
#include "mlxn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * Resolved views
 * ========================================================================== */

/* A tensor resolved to a raw pointer: buffer base + offset. An absent optional tensor is passed
 * as a NULL mlxn_tview pointer. */
typedef struct mlxn_tview {
    void *data;               /* device (or host) pointer of element 0 */
    mlxn_tensor_desc d;       /* type, ne[], nb[] in bytes */
} mlxn_tview;

/* A weight resolved to raw pointers.
 *   GGML/plain types: w {k, rows[, n_expert]} of w.d.type; scales.data = biases.data = NULL,
 *                     quant zeroed.
 *   MLX affine:       w {k, rows[, n_expert]} type MLXN_TYPE_MLX_Q{bits} (ne counts elements;
 *                     a row is k*bits/32 u32 words), scales/biases {k/group, rows[, n_expert]}
 *                     of quant.scale_type (F16/BF16).
 *   MLX mxfp4:        w type MLXN_TYPE_MLX_MXFP4, scales U8 (E8M0) {k/32, rows[, n_expert]},
 *                     biases.data = NULL. */
typedef struct mlxn_wview {
    mlxn_tview w;
    mlxn_tview scales;
    mlxn_tview biases;
    mlxn_mlx_quant quant;
} mlxn_wview;

/* True for weights stored in MLX packed form (scales/biases in separate arrays). */
static inline bool mlxn_wview_is_mlx(const mlxn_wview *W) {
    return W->w.d.type >= MLXN_TYPE_MLX_Q2 && W->w.d.type <= MLXN_TYPE_MLX_MXFP4;
}

/* ==========================================================================
 * The vtable
 * ========================================================================== */

typedef struct mlxn_backend_vtbl {
    const char *name;              /* "ref", "cpu", "cuda" */
    mlxn_device_kind kind;
    bool host_memory;              /* buffers are plain host memory (wrap_host, host_ptr work) */

    /* ---- lifetime ---------------------------------------------------------------------- */
    /* device: CUDA ordinal (0 for CPU backends). *ctx receives the backend's private state. */
    mlxn_status (*init)(int device, void **ctx);
    void (*release)(void *ctx);
    /* CPU backends: thread count (0 = all cores). Optional. */
    void (*set_threads)(void *ctx, int n_threads);
    /* Waits for all queued work on every stream; returns asynchronous kernel errors. */
    mlxn_status (*sync)(void *ctx);

    /* ---- memory (raw device pointers) ----------------------------------------------------- */
    mlxn_status (*buffer_alloc)(void *ctx, size_t size, void **ptr);
    void (*buffer_free)(void *ctx, void *ptr);
    /* Ordered with queued work on the current stream. upload returns once src may be reused,
     * download once dst holds the bytes. */
    mlxn_status (*buffer_upload)(void *ctx, void *dst, const void *src, size_t n);
    mlxn_status (*buffer_download)(void *ctx, void *dst, const void *src, size_t n);
    mlxn_status (*buffer_fill)(void *ctx, void *dst, uint8_t byte, size_t n);

    /* ---- streams (optional: NULL = a single in-order queue) -------------------------------- */
    mlxn_status (*stream_create)(void *ctx, void **stream);
    void (*stream_free)(void *ctx, void *stream);
    mlxn_status (*stream_sync)(void *ctx, void *stream);
    /* stream NULL selects the default stream. */
    mlxn_status (*stream_select)(void *ctx, void *stream);

    /* ---- events (optional: NULL = host clock at record time, right for synchronous backends) */
    mlxn_status (*event_create)(void *ctx, void **event);
    void (*event_free)(void *ctx, void *event);
    mlxn_status (*event_record)(void *ctx, void *event);
    mlxn_status (*event_elapsed_ms)(void *ctx, void *start, void *end, float *ms);

    /* ---- graphs (optional: NULL = the front-end's recorded call list) ---------------------- */
    /* Between graph_begin and graph_end the front-end still calls the op entries; the backend
     * captures instead of running (CUDA stream capture). */
    mlxn_status (*graph_begin)(void *ctx);
    mlxn_status (*graph_end)(void *ctx, void **graph);
    mlxn_status (*graph_replay)(void *ctx, void *graph);
    void (*graph_free)(void *ctx, void *graph);

    /* Whether op runs with this main type (weight type for mul_mat/mul_mat_id/get_rows, cache
     * type for attention/kv_write/rope_kv, dst type for copy, F32 otherwise). Called only when the op
     * entry is non-NULL. Optional: NULL = every type the front-end lets through. */
    bool (*supports)(void *ctx, mlxn_op op, mlxn_type type);

    /* ---- ops -------------------------------------------------------------------------------
     * Shapes as in mlxn.h; every f32 activation has nb[0] = 4. "k" = inner dim. */

    /* W {k, rows}; x f32 {k, n}; y f32 {rows, n}. y[j][r] = sum_i W[r][i] x[j][i]. */
    mlxn_status (*mul_mat)(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y);
    /* mul_mat with a prologue and an epilogue (mlxn_op_mul_mat_fused): W, x, y as mul_mat;
     * norm_w f32 {k} or NULL; up f32 {k, n} or NULL (never both; with up, x is the gate);
     * add f32 {rows, n} or NULL, either the very bytes of y (same data and strides) or disjoint
     * from them. Optional: NULL = the op is unsupported. */
    mlxn_status (*mul_mat_fused)(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *norm_w, float eps,
                                 const mlxn_tview *up, mlxn_glu glu, const mlxn_tview *add, const mlxn_tview *y);
    /* W {k, rows, n_expert}; ids i32 {top_k, n_tokens}; x f32 {k, n_x, n_tokens} (n_x = 1 or top_k);
     * y f32 {rows, top_k, n_tokens}. Must check 0 <= id < n_expert. */
    mlxn_status (*mul_mat_id)(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *x,
                              const mlxn_tview *y);
    /* x, y f32 {n, rows...}; w f32 {n} or NULL. */
    mlxn_status (*rms_norm)(void *ctx, const mlxn_tview *x, const mlxn_tview *w, float eps, const mlxn_tview *y);
    /* sum = x + r (sum may alias x or r); y = rms_norm(sum) * w (w may be NULL). */
    mlxn_status (*add_rms_norm)(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                                const mlxn_tview *sum, const mlxn_tview *y);
    /* y = a + b / a * b, b broadcast per dim (b.ne[i] == a.ne[i] or 1); y may alias a. */
    mlxn_status (*add)(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y);
    mlxn_status (*mul)(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y);
    mlxn_status (*scale)(void *ctx, const mlxn_tview *x, float s, const mlxn_tview *y);
    /* x, y f32 {head_dim, n_heads, n_tokens}; pos i32 {n_tokens}; ff f32 {n_rot/2} or NULL. */
    mlxn_status (*rope)(void *ctx, const mlxn_tview *x, const mlxn_tview *pos, const mlxn_tview *ff,
                        const mlxn_rope_params *p, const mlxn_tview *y);
    /* src f32 {head_dim, n_kv, n_tokens}; pos i32 {n_tokens}; cache {head_dim, n_ctx, n_kv}
     * F32/F16/BF16. Must check 0 <= pos < n_ctx. */
    mlxn_status (*kv_write)(void *ctx, const mlxn_tview *src, const mlxn_tview *pos, const mlxn_tview *cache);
    /* q f32 {hd, n_heads, n}; k f32 {hd, n_kv, n}; v f32 {hd_v, n_kv, n}; pos i32 {n};
     * ff f32 {n_rot/2} or NULL; q_out like q (may alias q); k_cache {hd, n_ctx, n_kv}, v_cache
     * {hd_v, n_ctx, n_kv}, one type F32/F16/BF16. q_out = rope(q); k_cache[h][pos[t]] = rope(k[t][h]);
     * v_cache[h][pos[t]] = v[t][h]. Must check 0 <= pos < n_ctx. */
    mlxn_status (*rope_kv)(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *pos,
                           const mlxn_tview *ff, const mlxn_rope_params *p, const mlxn_tview *q_out, const mlxn_tview *k_cache,
                           const mlxn_tview *v_cache);
    /* q f32 {D, n_heads, n_q}; k {D, n_ctx, n_kv}; v {Dv, n_ctx, n_kv} (same type);
     * q_pos i32 {n_q}; out f32 {Dv, n_heads, n_q}. Must check 0 <= q_pos < n_ctx. */
    mlxn_status (*attention)(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v,
                             const mlxn_tview *q_pos, const mlxn_attn_params *p, const mlxn_tview *out);
    /* x, y f32 {n, rows}; mask f32 {n, rows} / {n, 1} or NULL. */
    mlxn_status (*softmax)(void *ctx, const mlxn_tview *x, const mlxn_tview *mask, float scale, float softcap,
                           const mlxn_tview *y);
    /* x, y f32, same shape. */
    mlxn_status (*unary)(void *ctx, mlxn_unary fn, const mlxn_tview *x, const mlxn_tview *y);
    /* gate, up, y f32, same shape. */
    mlxn_status (*glu)(void *ctx, mlxn_glu fn, const mlxn_tview *gate, const mlxn_tview *up, const mlxn_tview *y);
    /* W {k, n_rows}; ids i32 {n}; y f32 {k, n}. Must check 0 <= id < n_rows. */
    mlxn_status (*get_rows)(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *y);
    /* logits f32 {n_expert, n_tokens}; expert_scale f32 {n_expert} or NULL;
     * ids i32 {k, n_tokens}; weights f32 {k, n_tokens}. */
    mlxn_status (*moe_route)(void *ctx, const mlxn_tview *logits, const mlxn_moe_route_params *p,
                             const mlxn_tview *expert_scale, const mlxn_tview *ids, const mlxn_tview *weights);
    /* expert_out f32 {rows, k, n_tokens}; weights f32 {k, n_tokens}; residual f32 {rows, n_tokens}
     * or NULL; y f32 {rows, n_tokens}. */
    mlxn_status (*moe_combine)(void *ctx, const mlxn_tview *expert_out, const mlxn_tview *weights,
                               const mlxn_tview *residual, const mlxn_tview *y);
    /* x f32 {n, rows}; out i32 {rows}. */
    mlxn_status (*argmax)(void *ctx, const mlxn_tview *x, const mlxn_tview *out);
    /* x f32 {n, 1}; step i32 {2}; hist i32 {cap} (contiguous, disjoint). id = argmax(x);
     * step[1] += 1; step[0] = id; hist[step[1] mod cap] = id. Must stay graph-capturable: every
     * value is read from device memory. Optional. */
    mlxn_status (*argmax_advance)(void *ctx, const mlxn_tview *x, const mlxn_tview *step, const mlxn_tview *hist);
    /* x f32 {n, rows}; ids i32 {k, rows}; vals f32 {k, rows}. */
    mlxn_status (*top_k)(void *ctx, const mlxn_tview *x, int k, const mlxn_tview *ids, const mlxn_tview *vals);
    /* src, dst F32/F16/BF16, same ne, any strides (nb[0] = element size). */
    mlxn_status (*copy)(void *ctx, const mlxn_tview *src, const mlxn_tview *dst);
} mlxn_backend_vtbl;

/* ==========================================================================
 * Backends the library knows
 * ========================================================================== */

const mlxn_backend_vtbl *mlxn_ref_backend_vtbl(void);   /* src/backend/cpu/ref_backend.c */
const mlxn_backend_vtbl *mlxn_cpu_backend_vtbl(void);   /* src/backend/cpu/cpu_backend.c */

/* CUDA hooks, defined by src/backend/cuda/. backend.c references them only when the library is
 * built with CUDA (MLXN_WITH_CUDA) AND the CUDA backend is present, which it detects by the header
 * src/backend/cuda/cuda_backend.h (that header may simply include this one). The references are
 * ordinary, not weak: libmlxn is a static archive, and a weak reference would not pull the CUDA
 * object in, so CUDA would silently vanish. device_count must return 0, never fail, when no
 * driver or GPU is present; device_info fills every field of mlxn_device_info for ordinal
 * 0..count-1; the vtable's init() receives the ordinal. */
int mlxn_cuda_device_count(void);
mlxn_status mlxn_cuda_device_info(int ordinal, mlxn_device_info *out);
const mlxn_backend_vtbl *mlxn_cuda_backend_vtbl(void);

/* ==========================================================================
 * Front-end objects (backend.c); backends never see these
 * ========================================================================== */

/* One validated op call, by value: what the front-end dispatches and the generic graph recorder
 * stores. Tensors by position per op (t[] slots, in the order of the vtable entry's tensor
 * arguments after W; has[i] false = that optional tensor is NULL). */
#define MLXN_OP_MAX_TENSORS 8
typedef struct mlxn_op_call {
    mlxn_op op;
    mlxn_wview W;                           /* mul_mat, mul_mat_id, get_rows */
    mlxn_tview t[MLXN_OP_MAX_TENSORS];
    bool has[MLXN_OP_MAX_TENSORS];
    float f0, f1;                           /* eps | scale, softcap | s */
    int i0;                                 /* unary/glu fn, top_k k */
    mlxn_rope_params rope;
    mlxn_attn_params attn;
    mlxn_moe_route_params route;
} mlxn_op_call;

/* Runs (or, while a generic graph is recording, appends) a validated call on be. Returns
 * MLXN_ERR_UNSUPPORTED when the backend has no entry for the op. The front-end calls this last. */
mlxn_status mlxn_backend_dispatch(mlxn_backend_t *be, const mlxn_op_call *c);

/* MLXN_PROFILE=1 (set when the backend is opened): time per op kind and shape, accumulated over
 * every executed call. report writes the table, largest first, to mlxn_log (INFO); it also runs
 * when the backend is freed. reset clears it (e.g. after a warm-up). No-ops without the variable. */
void mlxn_backend_profile_report(mlxn_backend_t *be);
void mlxn_backend_profile_reset(mlxn_backend_t *be);

/* Resolves a public tensor into a view and checks that it lies inside its buffer, belongs to be
 * and has nb[0] equal to its element size. `op` and `what` name it in messages ("mul_mat: x");
 * nothing is formatted unless a check fails (this runs for every tensor of every op call). */
mlxn_status mlxn_tensor_resolve(mlxn_backend_t *be, const mlxn_tensor *t, const char *op, const char *what,
                                mlxn_tview *out);
/* Records code and the thread's message in be's last error; returns code. */
mlxn_status mlxn_backend_fail(mlxn_backend_t *be, mlxn_status code);

#ifdef __cplusplus
}
#endif
#endif /* MLXN_BACKEND_BACKEND_H */
