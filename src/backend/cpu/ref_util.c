/* Shared CPU helpers: weight row decoding (through the block codecs), top-k order, the position
 * check, support table and host-memory buffers for the "ref" and "cpu" backends. */
#include "backend/cpu/ref_util.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

bool mlxn_cpu_weight_type_ok(mlxn_type t) {
    const mlxn_type_traits *tt = mlxn_type_info(t);
    if (!tt) return false;
    if (t >= MLXN_TYPE_MLX_Q2 && t <= MLXN_TYPE_MLX_MXFP4) return true;
    if (t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16) return true;
    return tt->quantized && tt->decodable;
}

mlxn_status mlxn_cpu_weight_row(const mlxn_wview *W, int64_t row, int64_t expert, float *dst) {
    int64_t k = W->w.d.ne[0];
    const char *src = (const char *)W->w.data + (size_t)row * W->w.d.nb[1] + (size_t)expert * W->w.d.nb[2];
    mlxn_type t = W->w.d.type;
    if (t == MLXN_TYPE_F32) {
        memcpy(dst, src, (size_t)k * sizeof(float));
        return MLXN_OK;
    }
    if (t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16) {
        for (int64_t i = 0; i < k; i++) dst[i] = mlxn_load_f(t, src, i);
        return MLXN_OK;
    }
    if (mlxn_wview_is_mlx(W)) {
        const char *sc = (const char *)W->scales.data + (size_t)row * W->scales.d.nb[1] + (size_t)expert * W->scales.d.nb[2];
        const char *bi = W->biases.data ? (const char *)W->biases.data + (size_t)row * W->biases.d.nb[1] +
                                              (size_t)expert * W->biases.d.nb[2]
                                        : NULL;
        return mlxn_mlx_dequantize_row(&W->quant, (const uint32_t *)src, sc, bi, dst, k);
    }
    return mlxn_dequantize_row(t, src, dst, k);
}

/* a ranks before b: larger value, NaN last. Equal values keep index order (callers scan up). */
static inline bool ranks_before(float a, float b) {
    if (isnan(a)) return false;
    if (isnan(b)) return true;
    return a > b;
}

void mlxn_cpu_top_k(const float *x, int64_t n, int k, int32_t *ids) {
    int len = 0;
    for (int64_t i = 0; i < n; i++) {
        if (len == k && !ranks_before(x[i], x[ids[len - 1]])) continue;
        int j = len < k ? len++ : k - 1;   /* slot to fill: append, or replace the last */
        while (j > 0 && ranks_before(x[i], x[ids[j - 1]])) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = (int32_t)i;
    }
}

void mlxn_cpu_top_k_row(const mlxn_tview *x, int64_t r, int k, const mlxn_tview *ids, const mlxn_tview *vals) {
    const float *xr = mlxn_view_row(x, r);
    int32_t *ir = mlxn_view_row(ids, r);
    float *vr = mlxn_view_row(vals, r);
    mlxn_cpu_top_k(xr, x->d.ne[0], k, ir);
    for (int j = 0; j < k; j++) vr[j] = xr[ir[j]];
}

mlxn_status mlxn_cpu_argmax_advance(void *ctx, const mlxn_tview *x, const mlxn_tview *step, const mlxn_tview *hist) {
    (void)ctx;
    int32_t id, *sp = step->data, *hp = hist->data;
    mlxn_cpu_top_k(x->data, x->d.ne[0], 1, &id);
    const int64_t cap = hist->d.ne[0];
    const int32_t pos = (int32_t)((uint32_t)sp[1] + 1u);   /* wraps instead of overflowing */
    sp[0] = id;
    sp[1] = pos;
    hp[(pos % cap + cap) % cap] = id;
    return MLXN_OK;
}

mlxn_status mlxn_cpu_check_pos(const mlxn_tview *pos, int64_t n_ctx, const char *op, const char *what) {
    for (int64_t t = 0; t < pos->d.ne[0]; t++) {
        int32_t p = ((const int32_t *)pos->data)[t];
        if (p < 0 || p >= n_ctx)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s[%lld] = %d outside the cache's [0, %lld)", op, what, (long long)t, (int)p,
                             (long long)n_ctx);
    }
    return MLXN_OK;
}

bool mlxn_cpu_supports(mlxn_op op, mlxn_type t) {
    switch (op) {
    case MLXN_OP_MUL_MAT:
    case MLXN_OP_MUL_MAT_FUSED:
    case MLXN_OP_MUL_MAT_ID:
    case MLXN_OP_GET_ROWS: return mlxn_cpu_weight_type_ok(t);
    case MLXN_OP_KV_WRITE:
    case MLXN_OP_ROPE_KV:
    case MLXN_OP_ATTENTION:
    case MLXN_OP_COPY: return t == MLXN_TYPE_F32 || t == MLXN_TYPE_F16 || t == MLXN_TYPE_BF16;
    case MLXN_OP_COUNT: return false;
    default: return t == MLXN_TYPE_F32;
    }
}

mlxn_status mlxn_cpu_buffer_alloc(void *ctx, size_t size, void **ptr) {
    /* 64-byte alignment for SIMD rows; aligned_alloc needs a size multiple of the alignment */
    size_t padded = (size + 63) & ~(size_t)63;
    if (padded < size) return mlxn_fail(MLXN_ERR_NO_MEMORY, "buffer_alloc: %zu bytes is too large", size);
    void *p = aligned_alloc(64, padded);
    if (!p) return mlxn_fail(MLXN_ERR_NO_MEMORY, "buffer_alloc: cannot allocate %zu bytes of host memory", size);
    *ptr = p;
    return MLXN_OK;
}
void mlxn_cpu_buffer_free(void *ctx, void *ptr) { free(ptr); }
mlxn_status mlxn_cpu_buffer_upload(void *ctx, void *dst, const void *src, size_t n) {
    memmove(dst, src, n);
    return MLXN_OK;
}
mlxn_status mlxn_cpu_buffer_download(void *ctx, void *dst, const void *src, size_t n) {
    memmove(dst, src, n);
    return MLXN_OK;
}
mlxn_status mlxn_cpu_buffer_fill(void *ctx, void *dst, uint8_t byte, size_t n) {
    memset(dst, byte, n);
    return MLXN_OK;
}
