/* Helpers shared by the CPU backends ("ref" and "cpu"): addressing rows of strided views,
 * loading/storing f32/f16/bf16 elements, decoding one weight row to f32, and the top-k order
 * (decreasing value, ties to the lower index) that argmax, top_k and moe_route share, and the
 * position check of kv_write/attention. Only plumbing and definitions both backends must agree on
 * live here; the arithmetic of each op stays in each backend (the harness compares the two). */
#ifndef MLXN_BACKEND_CPU_REF_UTIL_H
#define MLXN_BACKEND_CPU_REF_UTIL_H
#include "backend/backend.h"
#include "core/half.h"

/* Rows of a view: ne[0] is the row; rows are numbered over dims 1..3 in order. */
static inline int64_t mlxn_view_nrows(const mlxn_tview *v) { return v->d.ne[1] * v->d.ne[2] * v->d.ne[3]; }

static inline void *mlxn_view_row(const mlxn_tview *v, int64_t r) {
    int64_t i1 = r % v->d.ne[1], i2 = (r / v->d.ne[1]) % v->d.ne[2], i3 = r / (v->d.ne[1] * v->d.ne[2]);
    return (char *)v->data + (size_t)i1 * v->d.nb[1] + (size_t)i2 * v->d.nb[2] + (size_t)i3 * v->d.nb[3];
}

/* Row r of `like` (indices i1..i3) mapped into a broadcastable view b (dims of size 1 repeat). */
static inline void *mlxn_view_row_bcast(const mlxn_tview *b, const mlxn_tview *like, int64_t r) {
    int64_t i1 = r % like->d.ne[1], i2 = (r / like->d.ne[1]) % like->d.ne[2], i3 = r / (like->d.ne[1] * like->d.ne[2]);
    if (b->d.ne[1] == 1) i1 = 0;
    if (b->d.ne[2] == 1) i2 = 0;
    if (b->d.ne[3] == 1) i3 = 0;
    return (char *)b->data + (size_t)i1 * b->d.nb[1] + (size_t)i2 * b->d.nb[2] + (size_t)i3 * b->d.nb[3];
}

static inline void *mlxn_view_at(const mlxn_tview *v, int64_t i1, int64_t i2, int64_t i3) {
    return (char *)v->data + (size_t)i1 * v->d.nb[1] + (size_t)i2 * v->d.nb[2] + (size_t)i3 * v->d.nb[3];
}

/* Element i of a row of type t (F32, F16 or BF16). */
static inline float mlxn_load_f(mlxn_type t, const void *row, int64_t i) {
    switch (t) {
    case MLXN_TYPE_F16: return mlxn_fp16_to_f32(((const uint16_t *)row)[i]);
    case MLXN_TYPE_BF16: return mlxn_bf16_to_f32(((const uint16_t *)row)[i]);
    default: return ((const float *)row)[i];
    }
}
static inline void mlxn_store_f(mlxn_type t, void *row, int64_t i, float v) {
    switch (t) {
    case MLXN_TYPE_F16: ((uint16_t *)row)[i] = mlxn_f32_to_fp16(v); break;
    case MLXN_TYPE_BF16: ((uint16_t *)row)[i] = mlxn_f32_to_bf16(v); break;
    default: ((float *)row)[i] = v; break;
    }
}

/* Decodes row `row` of expert `expert` of W (k = W->w.d.ne[0] values) into dst f32 {k}. */
mlxn_status mlxn_cpu_weight_row(const mlxn_wview *W, int64_t row, int64_t expert, float *dst);
/* Whether mlxn_cpu_weight_row decodes weights of type t. */
bool mlxn_cpu_weight_type_ok(mlxn_type t);

/* The k largest of x[0..n) in order (decreasing value, ties: lower index) into ids[0..k).
 * NaN compares below everything. O(n k): k is small (sampling, routing). */
void mlxn_cpu_top_k(const float *x, int64_t n, int k, int32_t *ids);

/* Row r of top_k: ids row r {k} gets the top-k order of x row r, vals row r {k} their values. */
void mlxn_cpu_top_k_row(const mlxn_tview *x, int64_t r, int k, const mlxn_tview *ids, const mlxn_tview *vals);

/* argmax_advance for both CPU backends (vtable signature): the argmax of x becomes the next step's
 * token, its position moves on by one, and the id is kept in the ring hist at that position (mod
 * cap, never negative). */
mlxn_status mlxn_cpu_argmax_advance(void *ctx, const mlxn_tview *x, const mlxn_tview *step, const mlxn_tview *hist);

/* kv_write / attention argument check: every pos[t] (i32 {T}) must lie in [0, n_ctx);
 * INVALID_ARG naming op, what and the offending index otherwise. */
mlxn_status mlxn_cpu_check_pos(const mlxn_tview *pos, int64_t n_ctx, const char *op, const char *what);

/* Whether a CPU backend runs op with main type t (shared by "ref" and "cpu"). */
bool mlxn_cpu_supports(mlxn_op op, mlxn_type t);

/* Host-memory vtable entries shared by both CPU backends. */
mlxn_status mlxn_cpu_buffer_alloc(void *ctx, size_t size, void **ptr);
void mlxn_cpu_buffer_free(void *ctx, void *ptr);
mlxn_status mlxn_cpu_buffer_upload(void *ctx, void *dst, const void *src, size_t n);
mlxn_status mlxn_cpu_buffer_download(void *ctx, void *dst, const void *src, size_t n);
mlxn_status mlxn_cpu_buffer_fill(void *ctx, void *dst, uint8_t byte, size_t n);
#endif
