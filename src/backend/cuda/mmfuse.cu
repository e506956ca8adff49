/* mul_mat_fused: the entry that picks between one launch (the mat-vec routes of mmv.cu / mmv6.cu
 * do the prologue where they quantize or stage the activations and the add where they write y)
 * and the composition of existing launchers (rms_norm or glu into scratch, the ordinary mul_mat,
 * then add), which serves every weight type and n. The composition's scratch is an arena of its
 * own: the inner mul_mat uses mlxn_cuda_scratch for its quantized activations or f16 weights. */
#include "backend/cuda/common.cuh"
#include <stdlib.h>

int mlxn_cuda_mm_fuse = -1;

static int fuse_level(void) {
    if (mlxn_cuda_mm_fuse < 0) {
        const char *e = getenv("MLXN_CUDA_MM_FUSE");
        mlxn_cuda_mm_fuse = e && *e == '0' ? 0 : e && *e == '2' ? 2 : 1;
    }
    return mlxn_cuda_mm_fuse;
}

/* ---- the composition's arena (grows outside graph capture only, as mlxn_cuda_scratch) --------- */
#define FUSE_MAX_DEV 16
static struct { void *p; size_t size; } g_fuse[FUSE_MAX_DEV];

static mlxn_status fuse_scratch(size_t n, void **p, void *stream) {
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess || d < 0 || d >= FUSE_MAX_DEV) d = 0;
    if (n <= g_fuse[d].size) { *p = g_fuse[d].p; return MLXN_OK; }
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    CU_TRY(cudaStreamIsCapturing(CU_STREAM(stream), &cs));
    if (cs != cudaStreamCaptureStatusNone)
        return mlxn_fail(MLXN_ERR_DEVICE_MEMORY, "mul_mat_fused: its scratch arena must grow to %zu bytes during graph "
                         "capture; run the same ops once before capturing", n);
    CU_TRY(cudaDeviceSynchronize());   /* work in flight may still use the old arena */
    size_t sz = n + n / 4 + (1u << 20);
    void *q;
    MLXN_TRY(mlxn_cuda_malloc(&q, sz));
    if (g_fuse[d].p) cudaFree(g_fuse[d].p);
    g_fuse[d].p = q;
    g_fuse[d].size = sz;
    *p = q;
    return MLXN_OK;
}

static mlxn_cuda_nd nd2(const float *p, int64_t ne0, int64_t ne1, int64_t col) {
    mlxn_cuda_nd v;
    v.p = p;
    v.ne[0] = ne0; v.ne[1] = ne1; v.ne[2] = 1; v.ne[3] = 1;
    v.st[0] = 1; v.st[1] = col; v.st[2] = col * ne1; v.st[3] = col * ne1;
    return v;
}

/* rms_norm / glu -> x' {k, n} (scratch); mul_mat -> y' {rows, n} (scratch when there is an add,
 * so that add may be y); y = y' + add. The mat-mat route (n > 8) adds into y itself when add is
 * y (cuBLAS with beta = 1): a prefill's residual add costs no kernel. */
static mlxn_status compose(const mlxn_cuda_mm *a, const mlxn_cuda_mlx *mlq, const mlxn_cuda_mmfuse *f, void *stream) {
    const bool pro = f->norm_w || f->up;
    const size_t xbytes = pro ? (((size_t)(a->k * a->n) * 4 + 255) & ~(size_t)255) : 0;
    const bool acc = f->add && !mlq && a->n > 8 && f->add == a->y && f->add_col == a->y_col;   /* y += W x' */
    const size_t ybytes = f->add && !acc ? (size_t)(a->rows * a->n) * 4 : 0;
    void *scr = NULL;
    if (xbytes + ybytes) MLXN_TRY(fuse_scratch(xbytes + ybytes, &scr, stream));
    mlxn_cuda_mm m = *a;
    if (pro) {
        float *xs = (float *)scr;
        if (f->norm_w) {
            MLXN_TRY(mlxn_cuda_rms_norm(a->x, a->x_col, NULL, 0, NULL, 0, f->norm_w, f->eps, xs, a->k, a->k, a->n, stream));
        } else {
            const int64_t yst[4] = {1, a->k, a->k * a->n, a->k * a->n};
            MLXN_TRY(mlxn_cuda_glu(f->glu, nd2(a->x, a->k, a->n, a->x_col), nd2(f->up, a->k, a->n, f->up_col), xs, yst, stream));
        }
        m.x = xs;
        m.x_col = a->k;
    }
    if (acc) {
        m.accumulate = 1;
        return mlxn_cuda_mul_mat(&m, stream);
    }
    if (f->add) {
        m.y = (float *)((char *)scr + xbytes);
        m.y_col = a->rows;
    }
    if (mlq) MLXN_TRY(mlxn_cuda_mlx_mul_mat(mlq, &m, stream));
    else MLXN_TRY(mlxn_cuda_mul_mat(&m, stream));
    if (!f->add) return MLXN_OK;
    const int64_t yst[4] = {1, a->y_col, a->y_col * a->n, a->y_col * a->n};
    return mlxn_cuda_binary(0, nd2(m.y, a->rows, a->n, a->rows), nd2(f->add, a->rows, a->n, f->add_col), a->y, yst, stream);
}

extern "C" mlxn_status mlxn_cuda_mul_mat_fused(const mlxn_cuda_mm *a, const mlxn_cuda_mlx *mlq, const mlxn_cuda_mmfuse *f,
                                               void *stream) {
    if (a->ids) return mlxn_fail(MLXN_ERR_INVALID_ARG, "cuda mul_mat_fused: plain mul_mat only (no expert ids)");
    if (f->norm_w && f->up) return mlxn_fail(MLXN_ERR_INVALID_ARG, "cuda mul_mat_fused: norm and glu prologues are exclusive");
    const int level = fuse_level();
    const int route = level && !mlq ? mlxn_cuda_mmv_fused_route(a, f) : 0;
    if (route == 2 && f->up && level == 1 && !mlxn_cuda_mmv6_prestaged(a->k)) {
        /* (with the column pre-staged, mlxn_cuda_mmv6_prestaged, the GLU runs once in v6's staging
         * kernel instead: no case here.) v6 with a GLU prologue would read the whole up column
         * from L2 in every block after the PDL wait, on its critical path (Q6_K 4096x14336: 29.3 us against 23.8 for the plain
         * mat-vec and 27.4 for the composition, run of 01:17): the GLU as its own kernel into
         * scratch, then v6 with only the add */
        void *scr;
        MLXN_TRY(fuse_scratch((size_t)(a->k * a->n) * 4, &scr, stream));
        mlxn_cuda_mm m = *a;
        m.x = (const float *)scr;
        m.x_col = a->k;
        mlxn_cuda_mmfuse g = *f;
        g.up = NULL;
        if (!mlxn_cuda_mmv_fusable(&m, &g)) return compose(a, NULL, f, stream);   /* not expected: v6 took it with more */
        const int64_t yst[4] = {1, a->k, a->k * a->n, a->k * a->n};
        MLXN_TRY(mlxn_cuda_glu(f->glu, nd2(a->x, a->k, a->n, a->x_col), nd2(f->up, a->k, a->n, f->up_col), (float *)scr, yst,
                               stream));
        return mlxn_cuda_mul_mat_vec_fused(&m, &g, stream);
    }
    if (route) return mlxn_cuda_mul_mat_vec_fused(a, f, stream);
    return compose(a, mlq, f, stream);
}
