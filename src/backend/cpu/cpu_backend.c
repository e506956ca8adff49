/* The fast CPU backend "cpu": every op threaded with OpenMP, f32 accumulation, vectorisable
 * inner loops. Quantized mul_mat / mul_mat_id call the SIMD kernels of cpu_fast.h when they are
 * built in and accept the type; otherwise a generic path decodes a tile of weight rows to f32
 * (per thread, into scratch sized once and reused) and dots it with every input column.
 * mul_mat_id groups the (token, slot) pairs by expert and runs one mat-mat per used expert.
 * Synchronous and in order: streams are a single queue, events read the host clock (backend.c). */
#include "backend/cpu/ref_util.h"
#include "backend/cpu/cpu_pool.h"
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__has_include)
#if __has_include("backend/cpu/cpu_fast.h")
#include "backend/cpu/cpu_fast.h"
#define MLXN_HAVE_CPU_FAST 1
#endif
#endif

#define ROW_F(v, r) ((float *)mlxn_view_row((v), (r)))
#define AT_F(v, i1, i2, i3) ((float *)mlxn_view_at((v), (i1), (i2), (i3)))
#define AT_I(v, i1, i2, i3) ((int32_t *)mlxn_view_at((v), (i1), (i2), (i3)))

enum { ROW_TILE = 8 };   /* weight rows decoded per work item */

typedef struct cpu_ctx {
    int n_threads;            /* 0 = omp_get_max_threads() */
    float *tiles;             /* per thread: ROW_TILE * k decoded weights */
    size_t tiles_cap;         /* floats */
    float *gx, *gy;           /* mul_mat_id: gathered inputs {k, pairs}, outputs {rows, pairs} */
    size_t gx_cap, gy_cap;
    int32_t *pairs;           /* mul_mat_id: (token, slot) pairs sorted by expert */
    int64_t *counts;          /* mul_mat_id: pairs per expert {n_expert + 1} */
    size_t pairs_cap, counts_cap;
    float *fx, *fy;           /* mul_mat_fused: prologue output x' {k, n}, product {rows, n} */
    size_t fx_cap, fy_cap;
} cpu_ctx;

static mlxn_status cpu_init(int device, void **ctx) {
    cpu_ctx *c = calloc(1, sizeof *c);
    if (!c) return mlxn_fail(MLXN_ERR_NO_MEMORY, "cpu backend: out of memory");
    *ctx = c;
    return MLXN_OK;
}

static void cpu_release(void *ctx) {
    cpu_ctx *c = ctx;
    if (!c) return;
    free(c->tiles);
    free(c->gx);
    free(c->gy);
    free(c->pairs);
    free(c->counts);
    free(c->fx);
    free(c->fy);
    free(c);
}

static void cpu_set_threads(void *ctx, int n) { ((cpu_ctx *)ctx)->n_threads = n; }
static int nthreads(const cpu_ctx *c) { return c->n_threads > 0 ? c->n_threads : omp_get_max_threads(); }
static bool cpu_supports(void *ctx, mlxn_op op, mlxn_type t) { return mlxn_cpu_supports(op, t); }

/* Grows *p to hold n elements of size sz (scratch reused across calls: the steady state
 * allocates nothing). */
static mlxn_status grow(void **p, size_t *cap, size_t n, size_t sz) {
    if (n <= *cap) return MLXN_OK;
    void *q = realloc(*p, n * sz);
    if (!q) return mlxn_fail(MLXN_ERR_NO_MEMORY, "cpu backend: cannot grow scratch to %zu bytes", n * sz);
    *p = q;
    *cap = n;
    return MLXN_OK;
}

static inline float dot_f(const float *a, const float *b, int64_t n) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* ==========================================================================
 * Threading: ops go parallel through the worker pool (cpu_pool.h) only when they touch at
 * least PAR_MIN_WORK elements; a decode step's norms, rope, KV writes and small attention run
 * on the calling thread (a fork/join costs more than they do). Work is handed out in items
 * of about PAR_ITEM_WORK elements.
 * ========================================================================== */

enum { PAR_MIN_WORK = 1 << 16, PAR_ITEM_WORK = 1 << 13 };

/* PAR_MIN_WORK, or MLXN_CPU_PAR_MIN_WORK from the environment (tests set 0 to force the pool). */
static double par_min_work(void) {
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("MLXN_CPU_PAR_MIN_WORK");
        v = e && *e ? atof(e) : PAR_MIN_WORK;
    }
    return v;
}

typedef void (*range_fn)(const void *job, int64_t r0, int64_t r1);
typedef struct range_job { range_fn fn; const void *job; int64_t n, per; } range_job;

static void range_item(void *arg, int64_t it) {
    const range_job *R = arg;
    int64_t r0 = it * R->per, r1 = r0 + R->per < R->n ? r0 + R->per : R->n;
    R->fn(R->job, r0, r1);
}

/* fn(job, r0, r1) over [0, n), each unit costing about `work` elements. */
static void par_range(const cpu_ctx *c, int64_t n, double work, range_fn fn, const void *job) {
    int nt = nthreads(c);
    if (nt <= 1 || n <= 1 || (double)n * work < par_min_work()) {
        fn(job, 0, n);
        return;
    }
    int64_t per = work >= PAR_ITEM_WORK ? 1 : (int64_t)(PAR_ITEM_WORK / work);
    if (per > n / (4 * nt)) per = n / (4 * nt);   /* at least ~4 items per thread */
    if (per < 1) per = 1;
    range_job R = {fn, job, n, per};
    mlxn_cpu_pool_run(nt, (n + per - 1) / per, range_item, &R);
}

/* True when an op touching `work` elements should run with OpenMP (ops not yet on the pool). */
static bool big(int64_t work) { return (double)work >= par_min_work(); }

/* f16 / bf16 / f32 row to f32: F16C when the CPU has it (exact either way). */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,f16c"))) static void f16_row_f16c(const uint16_t *s, float *d, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(s + i))));
    for (; i < n; i++) d[i] = mlxn_fp16_to_f32(s[i]);
}
static bool have_f16c(void) {
    static int v = -1;
    if (v < 0) v = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
    return v;
}
#define HAVE_F16C_PATH 1
#endif

static void load_row(mlxn_type t, const void *src, float *dst, int64_t n) {
    if (t == MLXN_TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
#ifdef HAVE_F16C_PATH
    if (t == MLXN_TYPE_F16 && have_f16c()) {
        f16_row_f16c(src, dst, n);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = mlxn_load_f(t, src, i);
}

/* ==========================================================================
 * Matrix products
 * ========================================================================== */

/* y {rows, n} (row stride ys bytes) = W[expert] {k, rows} · x {k, n} (row stride xs bytes). */
static mlxn_status matmul(cpu_ctx *c, const mlxn_wview *W, int64_t expert, const float *x, size_t xs, float *y, size_t ys, int64_t n) {
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1];
    int nt = nthreads(c);
    mlxn_type t = W->w.d.type;
#ifdef MLXN_HAVE_CPU_FAST
    if (!mlxn_wview_is_mlx(W) && mlxn_cpu_fast_supports(t)) {
        const char *w = (const char *)W->w.data + (size_t)expert * W->w.d.nb[2];
        mlxn_status st = mlxn_cpu_fast_mul_mat(t, w, W->w.d.nb[1], k, rows, x, xs, y, ys, n, nt);
        if (st != MLXN_ERR_UNSUPPORTED) return st;
    }
#endif
    bool plain = t == MLXN_TYPE_F32;
    if (!plain) MLXN_TRY(grow((void **)&c->tiles, &c->tiles_cap, (size_t)nt * ROW_TILE * (size_t)k, sizeof(float)));
    int64_t n_tiles = (rows + ROW_TILE - 1) / ROW_TILE;
    int64_t bad_row = -1;   /* a row whose decode failed in a worker thread */
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ti = 0; ti < n_tiles; ti++) {
        int64_t r0 = ti * ROW_TILE, r1 = r0 + ROW_TILE < rows ? r0 + ROW_TILE : rows;
        float *buf = plain ? NULL : c->tiles + (size_t)omp_get_thread_num() * ROW_TILE * (size_t)k;
        const float *wr[ROW_TILE];
        bool ok = true;
        for (int64_t r = r0; r < r1 && ok; r++) {
            if (plain) {
                wr[r - r0] = (const float *)((const char *)W->w.data + (size_t)r * W->w.d.nb[1] + (size_t)expert * W->w.d.nb[2]);
                continue;
            }
            float *dst = buf + (size_t)(r - r0) * (size_t)k;
            if (mlxn_cpu_weight_row(W, r, expert, dst) != MLXN_OK) {
#pragma omp critical(mlxn_cpu_err)
                bad_row = r;
                ok = false;
            }
            wr[r - r0] = dst;
        }
        if (!ok) continue;
        for (int64_t j = 0; j < n; j++) {
            const float *xj = (const float *)((const char *)x + (size_t)j * xs);
            float *yj = (float *)((char *)y + (size_t)j * ys);
            for (int64_t r = r0; r < r1; r++) yj[r] = dot_f(wr[r - r0], xj, k);
        }
    }
    /* the message lives in the worker's thread-local error: decode again here to report it */
    return bad_row < 0 ? MLXN_OK : mlxn_cpu_weight_row(W, bad_row, expert, c->tiles);
}

static mlxn_status cpu_mul_mat(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *y) {
    return matmul(ctx, W, 0, x->data, x->d.nb[1], y->data, y->d.nb[1], x->d.ne[1]);
}

static mlxn_status cpu_mul_mat_id(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *x, const mlxn_tview *y) {
    cpu_ctx *c = ctx;
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n_expert = W->w.d.ne[2];
    int64_t top_k = ids->d.ne[0], n_tok = ids->d.ne[1], n_x = x->d.ne[1], n_pairs = top_k * n_tok;
    MLXN_TRY(grow((void **)&c->counts, &c->counts_cap, (size_t)n_expert + 1, sizeof(int64_t)));
    MLXN_TRY(grow((void **)&c->pairs, &c->pairs_cap, (size_t)n_pairs, sizeof(int32_t)));
    MLXN_TRY(grow((void **)&c->gx, &c->gx_cap, (size_t)n_pairs * (size_t)k, sizeof(float)));
    MLXN_TRY(grow((void **)&c->gy, &c->gy_cap, (size_t)n_pairs * (size_t)rows, sizeof(float)));

    /* counting sort of pair p = t * top_k + j by expert: counts[e] becomes expert e's start */
    memset(c->counts, 0, ((size_t)n_expert + 1) * sizeof(int64_t));
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < top_k; j++) {
            int32_t e = AT_I(ids, t, 0, 0)[j];
            if (e < 0 || e >= n_expert)
                return mlxn_fail(MLXN_ERR_INVALID_ARG, "mul_mat_id: ids[%lld][%lld] = %d outside [0, %lld)", (long long)t, (long long)j,
                                 (int)e, (long long)n_expert);
            c->counts[e + 1]++;
        }
    for (int64_t e = 0; e < n_expert; e++) c->counts[e + 1] += c->counts[e];
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t j = 0; j < top_k; j++) c->pairs[c->counts[AT_I(ids, t, 0, 0)[j]]++] = (int32_t)(t * top_k + j);
    for (int64_t e = n_expert; e > 0; e--) c->counts[e] = c->counts[e - 1];   /* back to starts */
    c->counts[0] = 0;

    for (int64_t e = 0; e < n_expert; e++) {
        int64_t p0 = c->counts[e], p1 = c->counts[e + 1], cnt = p1 - p0;
        if (cnt == 0) continue;
        /* gather this expert's inputs {k, cnt}, one mat-mat, scatter outputs */
        for (int64_t i = 0; i < cnt; i++) {
            int64_t p = c->pairs[p0 + i], t = p / top_k, j = p % top_k;
            memcpy(c->gx + (size_t)i * k, AT_F(x, n_x == 1 ? 0 : j, t, 0), (size_t)k * sizeof(float));
        }
        MLXN_TRY(matmul(c, W, e, c->gx, (size_t)k * sizeof(float), c->gy, (size_t)rows * sizeof(float), cnt));
        for (int64_t i = 0; i < cnt; i++) {
            int64_t p = c->pairs[p0 + i], t = p / top_k, j = p % top_k;
            memcpy(AT_F(y, j, t, 0), c->gy + (size_t)i * rows, (size_t)rows * sizeof(float));
        }
    }
    return MLXN_OK;
}

static inline void rms_row(const float *x, const float *w, int64_t n, float eps, float *y);
static inline float silu_f(float x);
static inline float gelu_tanh_f(float x);

/* The prologue of mul_mat_fused for columns [j0, j1) into x' (the same f32 arithmetic as the
 * rms_norm and glu ops, so the fused and the separate forms agree bit for bit). */
typedef struct fuse_job { const mlxn_tview *x, *norm_w, *up; float eps; mlxn_glu glu; float *xp; int64_t k; } fuse_job;
static void fuse_pro_range(const void *job, int64_t j0, int64_t j1) {
    const fuse_job *J = job;
    const int64_t k = J->k;
    for (int64_t j = j0; j < j1; j++) {
        const float *xj = AT_F(J->x, j, 0, 0);
        float *pj = J->xp + (size_t)(j * k);
        if (J->norm_w) {
            rms_row(xj, J->norm_w->data, k, J->eps, pj);
        } else {
            const float *u = AT_F(J->up, j, 0, 0);
            if (J->glu == MLXN_GLU_SWIGLU) for (int64_t i = 0; i < k; i++) pj[i] = silu_f(xj[i]) * u[i];
            else for (int64_t i = 0; i < k; i++) pj[i] = gelu_tanh_f(xj[i]) * u[i];
        }
    }
}

/* The prologue into per-call scratch x' {k, n}, the mat-vec or mat-mat of matmul(), and the add
 * epilogue from a product in scratch (so add may be y itself). */
static mlxn_status cpu_mul_mat_fused(void *ctx, const mlxn_wview *W, const mlxn_tview *x, const mlxn_tview *norm_w, float eps,
                                     const mlxn_tview *up, mlxn_glu glu, const mlxn_tview *add, const mlxn_tview *y) {
    cpu_ctx *c = ctx;
    int64_t k = W->w.d.ne[0], rows = W->w.d.ne[1], n = x->d.ne[1];
    const float *xs = x->data;
    size_t xst = x->d.nb[1];
    if (norm_w || up) {
        MLXN_TRY(grow((void **)&c->fx, &c->fx_cap, (size_t)(k * n), sizeof(float)));
        fuse_job J = {x, norm_w, up, eps, glu, c->fx, k};
        par_range(c, n, (norm_w ? 2.0 : 4.0) * (double)k, fuse_pro_range, &J);
        xs = c->fx;
        xst = (size_t)k * sizeof(float);
    }
    if (!add) return matmul(c, W, 0, xs, xst, y->data, y->d.nb[1], n);
    MLXN_TRY(grow((void **)&c->fy, &c->fy_cap, (size_t)(rows * n), sizeof(float)));
    MLXN_TRY(matmul(c, W, 0, xs, xst, c->fy, (size_t)rows * sizeof(float), n));
    for (int64_t j = 0; j < n; j++) {
        const float *p = c->fy + (size_t)(j * rows), *a = AT_F(add, j, 0, 0);
        float *yj = AT_F(y, j, 0, 0);
        for (int64_t r = 0; r < rows; r++) yj[r] = p[r] + a[r];
    }
    return MLXN_OK;
}

typedef struct getrows_job { const mlxn_wview *W; const int32_t *id; const mlxn_tview *y; _Atomic int64_t bad; } getrows_job;

static void getrows_range(const void *job, int64_t t0, int64_t t1) {
    getrows_job *J = (getrows_job *)job;
    for (int64_t t = t0; t < t1; t++)
        if (mlxn_cpu_weight_row(J->W, J->id[t], 0, ROW_F(J->y, t)) != MLXN_OK) J->bad = t;
}

static mlxn_status cpu_get_rows(void *ctx, const mlxn_wview *W, const mlxn_tview *ids, const mlxn_tview *y) {
    int64_t n_rows = W->w.d.ne[1], n = ids->d.ne[0];
    const int32_t *id = ids->data;
    for (int64_t t = 0; t < n; t++)
        if (id[t] < 0 || id[t] >= n_rows)
            return mlxn_fail(MLXN_ERR_INVALID_ARG, "get_rows: ids[%lld] = %d outside [0, %lld)", (long long)t, (int)id[t], (long long)n_rows);
    getrows_job J = {W, id, y, -1};
    par_range(ctx, n, (double)W->w.d.ne[0], getrows_range, &J);
    int64_t bad = J.bad;
    /* the message lives in the worker's thread-local error: decode again here to report it */
    return bad < 0 ? MLXN_OK : mlxn_cpu_weight_row(W, id[bad], 0, ROW_F(y, bad));
}

/* ==========================================================================
 * Norms and elementwise (over rows, through par_range)
 * ========================================================================== */

static inline void rms_row(const float *x, const float *w, int64_t n, float eps, float *y) {
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    if (w)
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv * w[i];
    else
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * inv;
}

/* One job shape for the row-wise ops: up to five views, two floats, one int. */
typedef struct row_job { const mlxn_tview *a, *b, *c, *d, *e; float f0, f1; int i0; } row_job;

static void rms_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    const float *wd = J->b ? J->b->data : NULL;
    for (int64_t r = r0; r < r1; r++) rms_row(ROW_F(J->a, r), wd, J->a->d.ne[0], J->f0, ROW_F(J->c, r));
}

static mlxn_status cpu_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *w, float eps, const mlxn_tview *y) {
    row_job J = {.a = x, .b = w, .c = y, .f0 = eps};
    par_range(ctx, mlxn_view_nrows(x), (double)x->d.ne[0], rms_range, &J);
    return MLXN_OK;
}

static void add_rms_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    const float *wd = J->c ? J->c->data : NULL;
    int64_t n = J->a->d.ne[0];
    for (int64_t i = r0; i < r1; i++) {
        const float *xr = ROW_F(J->a, i), *rr = ROW_F(J->b, i);
        float *sr = ROW_F(J->d, i);
        for (int64_t j = 0; j < n; j++) sr[j] = xr[j] + rr[j];
        rms_row(sr, wd, n, J->f0, ROW_F(J->e, i));
    }
}

static mlxn_status cpu_add_rms_norm(void *ctx, const mlxn_tview *x, const mlxn_tview *r, const mlxn_tview *w, float eps,
                                    const mlxn_tview *sum, const mlxn_tview *y) {
    row_job J = {.a = x, .b = r, .c = w, .d = sum, .e = y, .f0 = eps};
    par_range(ctx, mlxn_view_nrows(x), 2.0 * (double)x->d.ne[0], add_rms_range, &J);
    return MLXN_OK;
}

static void binary_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    const mlxn_tview *a = J->a, *b = J->b;
    int64_t n = a->d.ne[0];
    bool scalar_b = b->d.ne[0] == 1, is_mul = J->i0;
    for (int64_t r = r0; r < r1; r++) {
        const float *ar = ROW_F(a, r), *br = mlxn_view_row_bcast(b, a, r);
        float *yr = ROW_F(J->c, r);
        if (scalar_b) {
            float bv = br[0];
            if (is_mul) for (int64_t i = 0; i < n; i++) yr[i] = ar[i] * bv;
            else for (int64_t i = 0; i < n; i++) yr[i] = ar[i] + bv;
        } else {
            if (is_mul) for (int64_t i = 0; i < n; i++) yr[i] = ar[i] * br[i];
            else for (int64_t i = 0; i < n; i++) yr[i] = ar[i] + br[i];
        }
    }
}

static mlxn_status cpu_binary(cpu_ctx *c, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y, bool is_mul) {
    row_job J = {.a = a, .b = b, .c = y, .i0 = is_mul};
    par_range(c, mlxn_view_nrows(a), (double)a->d.ne[0], binary_range, &J);
    return MLXN_OK;
}
static mlxn_status cpu_add(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return cpu_binary(ctx, a, b, y, false); }
static mlxn_status cpu_mul(void *ctx, const mlxn_tview *a, const mlxn_tview *b, const mlxn_tview *y) { return cpu_binary(ctx, a, b, y, true); }

static mlxn_status cpu_scale(void *ctx, const mlxn_tview *x, float s, const mlxn_tview *y) {
#pragma omp parallel for num_threads(nthreads(ctx)) if (big(mlxn_view_nrows(x) * x->d.ne[0]))
    for (int64_t r = 0; r < mlxn_view_nrows(x); r++) {
        const float *xr = ROW_F(x, r);
        float *yr = ROW_F(y, r);
        for (int64_t i = 0; i < x->d.ne[0]; i++) yr[i] = xr[i] * s;
    }
    return MLXN_OK;
}

static inline float silu_f(float x) { return x / (1.0f + expf(-x)); }
static inline float gelu_tanh_f(float x) { return 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x))); }

static void unary_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    int64_t n = J->a->d.ne[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = ROW_F(J->a, r);
        float *yr = ROW_F(J->c, r);
        if (J->i0 == MLXN_UNARY_SILU) for (int64_t i = 0; i < n; i++) yr[i] = silu_f(xr[i]);
        else if (J->i0 == MLXN_UNARY_TANH) for (int64_t i = 0; i < n; i++) yr[i] = tanhf(xr[i]);
        else for (int64_t i = 0; i < n; i++) yr[i] = gelu_tanh_f(xr[i]);
    }
}

static mlxn_status cpu_unary(void *ctx, mlxn_unary fn, const mlxn_tview *x, const mlxn_tview *y) {
    row_job J = {.a = x, .c = y, .i0 = (int)fn};
    par_range(ctx, mlxn_view_nrows(x), 4.0 * (double)x->d.ne[0], unary_range, &J);
    return MLXN_OK;
}

static void glu_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    int64_t n = J->a->d.ne[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *g = ROW_F(J->a, r), *u = ROW_F(J->b, r);
        float *yr = ROW_F(J->c, r);
        if (J->i0 == MLXN_GLU_SWIGLU) for (int64_t i = 0; i < n; i++) yr[i] = silu_f(g[i]) * u[i];
        else for (int64_t i = 0; i < n; i++) yr[i] = gelu_tanh_f(g[i]) * u[i];
    }
}

static mlxn_status cpu_glu(void *ctx, mlxn_glu fn, const mlxn_tview *gate, const mlxn_tview *up, const mlxn_tview *y) {
    row_job J = {.a = gate, .b = up, .c = y, .i0 = (int)fn};
    par_range(ctx, mlxn_view_nrows(gate), 4.0 * (double)gate->d.ne[0], glu_range, &J);
    return MLXN_OK;
}

/* Two passes over y: y holds the scaled, capped, masked logits, then the probabilities. */
static void softmax_range(const void *job, int64_t r0, int64_t r1) {
    const row_job *J = job;
    const mlxn_tview *x = J->a, *mask = J->b, *y = J->c;
    float scale = J->f0, softcap = J->f1;
    int64_t n = x->d.ne[0];
    for (int64_t r = r0; r < r1; r++) {
        const float *xr = ROW_F(x, r), *mr = mask ? mlxn_view_row_bcast(mask, x, r) : NULL;
        float *yr = ROW_F(y, r);
        float mx = -INFINITY;
        for (int64_t i = 0; i < n; i++) {
            float v = xr[i] * scale;
            if (softcap > 0) v = softcap * tanhf(v / softcap);
            if (mr) v += mr[i];
            yr[i] = v;
            mx = v > mx ? v : mx;
        }
        float sum = 0;
        for (int64_t i = 0; i < n; i++) sum += (yr[i] = expf(yr[i] - mx));
        float inv = 1.0f / sum;
        for (int64_t i = 0; i < n; i++) yr[i] *= inv;
    }
}

static mlxn_status cpu_softmax(void *ctx, const mlxn_tview *x, const mlxn_tview *mask, float scale, float softcap, const mlxn_tview *y) {
    row_job J = {.a = x, .b = mask, .c = y, .f0 = scale, .f1 = softcap};
    par_range(ctx, mlxn_view_nrows(x), 4.0 * (double)x->d.ne[0], softmax_range, &J);
    return MLXN_OK;
}

static mlxn_status cpu_copy(void *ctx, const mlxn_tview *src, const mlxn_tview *dst) {
#pragma omp parallel for num_threads(nthreads(ctx)) if (big(mlxn_view_nrows(src) * src->d.ne[0]))
    for (int64_t r = 0; r < mlxn_view_nrows(src); r++) {
        const void *sr = mlxn_view_row(src, r);
        void *dr = mlxn_view_row(dst, r);
        if (src->d.type == dst->d.type) memmove(dr, sr, mlxn_row_size(src->d.type, src->d.ne[0]));
        else for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(dst->d.type, dr, i, mlxn_load_f(src->d.type, sr, i));
    }
    return MLXN_OK;
}

/* ==========================================================================
 * Rope, KV cache, attention
 * ========================================================================== */

/* RoPE angles, reduced exactly: the angle of pair i at position pos is pos * g_i turns with
 * g_i = freq_scale * base^(-2i/n_rot) / ff[i] / 2pi. Only the fraction of a turn matters, and for
 * an integer pos that is pos * frac(g_i) mod 1: with frac(g_i) held as a 64-bit fixed-point
 * fraction, the integer product mod 2^64 is that fraction to ~2^-32 turns for any i32 pos. The
 * f32 sine and cosine of a reduced angle in [-pi, pi) are then good to ~4e-7 rad at every
 * position, where an f32 angle pos * f loses pos * 2^-24 rad (8e-3 rad at 128k). */
static uint64_t rope_turn_fixed(double g) {
    g -= floor(g);
    return (uint64_t)(g * 0x1p63) * 2u;   /* g * 2^64 mod 2^64 without overflowing the conversion */
}
static void rope_turns(const mlxn_rope_params *p, const float *ff, uint64_t *turn) {
    const double two_pi = 6.283185307179586476925;
    for (int64_t i = 0; i < p->n_rot / 2; i++) {
        double g = (double)p->freq_scale * pow((double)p->freq_base, -2.0 * (double)i / p->n_rot) / two_pi;
        if (ff) g /= (double)ff[i];
        turn[i] = rope_turn_fixed(g);
    }
}
/* cos and sin of every pair's angle at position pos. */
static void rope_cos_sin(const uint64_t *turn, int64_t half, int32_t pos, float *cs, float *sn) {
    for (int64_t i = 0; i < half; i++) {
        int64_t r = (int64_t)((uint64_t)(int64_t)pos * turn[i]);   /* signed fraction of a turn * 2^64 */
        float a = (float)((double)r * (6.283185307179586476925 * 0x1p-64));
        cs[i] = cosf(a);
        sn[i] = sinf(a);
    }
}
/* One head: y = rope(x) with the pair table cs/sn (y may alias x). */
static void rope_apply(const float *x, float *y, int64_t hd, const float *cs, const float *sn, const mlxn_rope_params *p) {
    int64_t half = p->n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        int64_t i0 = p->mode == MLXN_ROPE_NORM ? 2 * i : i, i1 = p->mode == MLXN_ROPE_NORM ? 2 * i + 1 : i + half;
        float a = x[i0], b = x[i1];
        y[i0] = a * cs[i] - b * sn[i];
        y[i1] = a * sn[i] + b * cs[i];
    }
    if (y != x) for (int64_t i = p->n_rot; i < hd; i++) y[i] = x[i];
}
/* The same into a cache row of type t (F32 rows are written in place). */
static void rope_apply_to(const float *x, mlxn_type t, void *row, int64_t hd, const float *cs, const float *sn,
                          const mlxn_rope_params *p) {
    if (t == MLXN_TYPE_F32) {
        rope_apply(x, row, hd, cs, sn, p);
        return;
    }
    int64_t half = p->n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        int64_t i0 = p->mode == MLXN_ROPE_NORM ? 2 * i : i, i1 = p->mode == MLXN_ROPE_NORM ? 2 * i + 1 : i + half;
        float a = x[i0], b = x[i1];
        mlxn_store_f(t, row, i0, a * cs[i] - b * sn[i]);
        mlxn_store_f(t, row, i1, a * sn[i] + b * cs[i]);
    }
    for (int64_t i = p->n_rot; i < hd; i++) mlxn_store_f(t, row, i, x[i]);
}

/* rope (y = rope(x)) or rope_kv (q_out = rope(q), rotated k and v into the caches), per token. */
typedef struct rope_job {
    const mlxn_tview *x, *pos, *y;           /* rope: x, y; rope_kv: q, q_out */
    const mlxn_tview *k, *v, *kc, *vc;       /* rope_kv only */
    const uint64_t *turn;
    const mlxn_rope_params *p;
} rope_job;

static void rope_range(const void *job, int64_t t0, int64_t t1) {
    const rope_job *J = job;
    const mlxn_rope_params *p = J->p;
    int64_t hd = J->x->d.ne[0], H = J->x->d.ne[1], half = p->n_rot / 2;
    for (int64_t t = t0; t < t1; t++) {
        int32_t ps = ((const int32_t *)J->pos->data)[t];
        float cs[256], sn[256];
        rope_cos_sin(J->turn, half, ps, cs, sn);
        for (int64_t h = 0; h < H; h++) rope_apply(AT_F(J->x, h, t, 0), AT_F(J->y, h, t, 0), hd, cs, sn, p);
        if (!J->k) continue;
        const mlxn_tview *v = J->v, *kc = J->kc, *vc = J->vc;
        for (int64_t h = 0; h < J->k->d.ne[1]; h++) {
            rope_apply_to(AT_F(J->k, h, t, 0), kc->d.type, mlxn_view_at(kc, ps, h, 0), hd, cs, sn, p);
            const float *vs = AT_F(v, h, t, 0);
            void *c = mlxn_view_at(vc, ps, h, 0);
            if (vc->d.type == MLXN_TYPE_F32) memcpy(c, vs, (size_t)v->d.ne[0] * sizeof(float));
            else for (int64_t i = 0; i < v->d.ne[0]; i++) mlxn_store_f(vc->d.type, c, i, vs[i]);
        }
    }
}

static mlxn_status cpu_rope(void *ctx, const mlxn_tview *x, const mlxn_tview *pos, const mlxn_tview *ff, const mlxn_rope_params *p,
                            const mlxn_tview *y) {
    int64_t H = x->d.ne[1], T = x->d.ne[2], half = p->n_rot / 2;
    if (half > 256) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "rope: n_rot = %d (cpu backend handles up to 512)", p->n_rot);
    uint64_t turn[256];   /* per pair, once per call */
    rope_turns(p, ff ? ff->data : NULL, turn);
    rope_job J = {.x = x, .pos = pos, .y = y, .turn = turn, .p = p};
    par_range(ctx, T, (double)(H * x->d.ne[0] + 8 * half), rope_range, &J);
    return MLXN_OK;
}

static mlxn_status cpu_rope_kv(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *pos,
                               const mlxn_tview *ff, const mlxn_rope_params *p, const mlxn_tview *q_out, const mlxn_tview *kc,
                               const mlxn_tview *vc) {
    int64_t half = p->n_rot / 2;
    if (half > 256) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "rope_kv: n_rot = %d (cpu backend handles up to 512)", p->n_rot);
    MLXN_TRY(mlxn_cpu_check_pos(pos, kc->d.ne[1], "rope_kv", "pos"));
    uint64_t turn[256];
    rope_turns(p, ff ? ff->data : NULL, turn);
    rope_job J = {.x = q, .pos = pos, .y = q_out, .k = k, .v = v, .kc = kc, .vc = vc, .turn = turn, .p = p};
    double work = (double)((q->d.ne[1] + k->d.ne[1]) * q->d.ne[0] + k->d.ne[1] * v->d.ne[0] + 8 * half);
    par_range(ctx, q->d.ne[2], work, rope_range, &J);
    return MLXN_OK;
}

static void kv_write_range(const void *job, int64_t t0, int64_t t1) {
    const row_job *J = job;
    const mlxn_tview *src = J->a, *pos = J->b, *cache = J->c;
    int64_t n_kv = src->d.ne[1];
    for (int64_t t = t0; t < t1; t++)
        for (int64_t h = 0; h < n_kv; h++) {
            const float *s = AT_F(src, h, t, 0);
            void *c = mlxn_view_at(cache, ((const int32_t *)pos->data)[t], h, 0);
            if (cache->d.type == MLXN_TYPE_F32) memcpy(c, s, (size_t)src->d.ne[0] * sizeof(float));
            else for (int64_t i = 0; i < src->d.ne[0]; i++) mlxn_store_f(cache->d.type, c, i, s[i]);
        }
}

static mlxn_status cpu_kv_write(void *ctx, const mlxn_tview *src, const mlxn_tview *pos, const mlxn_tview *cache) {
    MLXN_TRY(mlxn_cpu_check_pos(pos, cache->d.ne[1], "kv_write", "pos"));
    row_job J = {.a = src, .b = pos, .c = cache};
    par_range(ctx, src->d.ne[2], (double)(src->d.ne[1] * src->d.ne[0]), kv_write_range, &J);
    return MLXN_OK;
}

/* Attention, one work item per (query, KV head): the heads sharing that KV head are handled
 * together (up to ATT_G at a time), so each K and V row is read and converted to f32 once for
 * all of them. Keys are taken in chunks of ATT_CHUNK: scores for the chunk, then one online
 * softmax step per chunk (running max m, running sum l, accumulator rescaled when m grows),
 * then the chunk's V rows. Only positions j0..q_pos are read. */
enum { ATT_G = 8, ATT_CHUNK = 32, ATT_DMAX = 512 };

typedef struct attn_job {
    const mlxn_tview *q, *k, *v, *q_pos, *out;
    const mlxn_attn_params *p;
    int64_t group;
} attn_job;

static inline __attribute__((always_inline)) void attn_item_body(const attn_job *J, int64_t it) {
    const mlxn_tview *q = J->q, *k = J->k, *v = J->v;
    const mlxn_attn_params *p = J->p;
    int64_t D = q->d.ne[0], n_kv = k->d.ne[2], Dv = v->d.ne[0], group = J->group;
    int64_t i = it / n_kv, kvh = it % n_kv;
    mlxn_type ct = k->d.type;
    int64_t qp = ((const int32_t *)J->q_pos->data)[i];
    int64_t j0 = p->window > 0 && qp - p->window + 1 > 0 ? qp - p->window + 1 : 0;
    for (int64_t g0 = 0; g0 < group; g0 += ATT_G) {
        int G = group - g0 < ATT_G ? (int)(group - g0) : ATT_G;
        const float *qv[ATT_G];
        float acc[ATT_G][ATT_DMAX], sc[ATT_G][ATT_CHUNK], m[ATT_G], l[ATT_G];
        float kr[ATT_CHUNK][ATT_DMAX];
        for (int g = 0; g < G; g++) {
            qv[g] = AT_F(q, kvh * group + g0 + g, i, 0);
            m[g] = -INFINITY;
            l[g] = 0;
            for (int64_t c = 0; c < Dv; c++) acc[g][c] = 0;
        }
        for (int64_t jc = j0; jc <= qp; jc += ATT_CHUNK) {
            int nj = qp + 1 - jc < ATT_CHUNK ? (int)(qp + 1 - jc) : ATT_CHUNK;
            for (int jj = 0; jj < nj; jj++) {
                const void *kraw = mlxn_view_at(k, jc + jj, kvh, 0);
                const float *kf = kraw;
                if (ct != MLXN_TYPE_F32) {
                    load_row(ct, kraw, kr[jj], D);
                    kf = kr[jj];
                }
                for (int g = 0; g < G; g++) {
                    float s = dot_f(qv[g], kf, D) * p->scale;
                    if (p->softcap > 0) s = p->softcap * tanhf(s / p->softcap);
                    sc[g][jj] = s;
                }
            }
            for (int g = 0; g < G; g++) {
                float mx = m[g];
                for (int jj = 0; jj < nj; jj++) mx = sc[g][jj] > mx ? sc[g][jj] : mx;
                if (mx > m[g]) {
                    float corr = expf(m[g] - mx);   /* 0 on the first chunk (m = -inf) */
                    l[g] *= corr;
                    for (int64_t c = 0; c < Dv; c++) acc[g][c] *= corr;
                    m[g] = mx;
                }
                for (int jj = 0; jj < nj; jj++) l[g] += (sc[g][jj] = expf(sc[g][jj] - mx));
            }
            for (int jj = 0; jj < nj; jj++) {
                const void *vraw = mlxn_view_at(v, jc + jj, kvh, 0);
                const float *vf = vraw;
                if (ct != MLXN_TYPE_F32) {
                    load_row(ct, vraw, kr[0], Dv);   /* K rows of this chunk are no longer needed */
                    vf = kr[0];
                }
                for (int g = 0; g < G; g++) {
                    float w = sc[g][jj];
                    float *a = acc[g];
                    for (int64_t c = 0; c < Dv; c++) a[c] += w * vf[c];
                }
            }
        }
        for (int g = 0; g < G; g++) {
            float *o = AT_F(J->out, kvh * group + g0 + g, i, 0);
            float inv = 1.0f / l[g];
            for (int64_t c = 0; c < Dv; c++) o[c] = acc[g][c] * inv;
        }
    }
}

static void attn_range_generic(const void *job, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) attn_item_body(job, t);
}
#ifdef HAVE_F16C_PATH
__attribute__((target("avx2,fma"))) static void attn_range_avx2(const void *job, int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; t++) attn_item_body(job, t);
}
#endif

static mlxn_status cpu_attention(void *ctx, const mlxn_tview *q, const mlxn_tview *k, const mlxn_tview *v, const mlxn_tview *q_pos,
                                 const mlxn_attn_params *p, const mlxn_tview *out) {
    int64_t D = q->d.ne[0], H = q->d.ne[1], nq = q->d.ne[2], n_kv = k->d.ne[2], Dv = v->d.ne[0];
    if (D > ATT_DMAX || Dv > ATT_DMAX)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "attention: head dims %lld / %lld (cpu backend handles up to %d)", (long long)D,
                         (long long)Dv, ATT_DMAX);
    MLXN_TRY(mlxn_cpu_check_pos(q_pos, k->d.ne[1], "attention", "q_pos"));
    attn_job J = {q, k, v, q_pos, out, p, H / n_kv};
    /* work per item: the keys it reads (average over the queries) times head dims and group */
    int64_t max_pos = 0;
    for (int64_t i = 0; i < nq; i++) {
        int32_t qp = ((const int32_t *)q_pos->data)[i];
        max_pos = qp > max_pos ? qp : max_pos;
    }
    double work = (double)(max_pos / 2 + 1) * (double)(D + Dv) * (double)(H / n_kv);
    range_fn fn = attn_range_generic;
#ifdef HAVE_F16C_PATH
    if (have_f16c() && __builtin_cpu_supports("fma")) fn = attn_range_avx2;
#endif
    par_range(ctx, nq * n_kv, work, fn, &J);
    return MLXN_OK;
}

/* ==========================================================================
 * MoE routing, sampling helpers
 * ========================================================================== */

static mlxn_status cpu_moe_route(void *ctx, const mlxn_tview *logits, const mlxn_moe_route_params *p, const mlxn_tview *expert_scale,
                                 const mlxn_tview *ids, const mlxn_tview *weights) {
    int64_t E = logits->d.ne[0], T = logits->d.ne[1];
    int k = p->k;
    if (E > 4096) return mlxn_fail(MLXN_ERR_UNSUPPORTED, "moe_route: %lld experts (cpu backend handles up to 4096)", (long long)E);
    const float *es = expert_scale ? expert_scale->data : NULL;
#pragma omp parallel for num_threads(nthreads(ctx)) if (big(T * E))
    for (int64_t t = 0; t < T; t++) {
        const float *l = AT_F(logits, t, 0, 0);
        int32_t *io = AT_I(ids, t, 0, 0);
        float *wo = AT_F(weights, t, 0, 0);
        float pr[4096];
        float mx = -INFINITY, sum = 0;
        if (p->gating == MLXN_MOE_SOFTMAX) {
            for (int64_t e = 0; e < E; e++) mx = l[e] > mx ? l[e] : mx;
            for (int64_t e = 0; e < E; e++) sum += (pr[e] = expf(l[e] - mx));
            for (int64_t e = 0; e < E; e++) pr[e] /= sum;
        } else if (p->gating == MLXN_MOE_SIGMOID) {
            for (int64_t e = 0; e < E; e++) pr[e] = 1.0f / (1.0f + expf(-l[e]));
        } else {
            memcpy(pr, l, (size_t)E * sizeof(float));
        }
        mlxn_cpu_top_k(pr, E, k, io);
        for (int j = 0; j < k; j++) wo[j] = pr[io[j]];
        if (p->gating == MLXN_MOE_SOFTMAX_TOPK) {
            mx = wo[0];
            sum = 0;
            for (int j = 0; j < k; j++) sum += (wo[j] = expf(wo[j] - mx));
            for (int j = 0; j < k; j++) wo[j] /= sum;
        }
        if (p->renorm) {
            sum = 0;
            for (int j = 0; j < k; j++) sum += wo[j];
            for (int j = 0; j < k; j++) wo[j] /= sum;
        }
        for (int j = 0; j < k; j++) wo[j] *= p->scale * (es ? es[io[j]] : 1.0f);
    }
    return MLXN_OK;
}

static mlxn_status cpu_moe_combine(void *ctx, const mlxn_tview *eo, const mlxn_tview *w, const mlxn_tview *res, const mlxn_tview *y) {
    int64_t rows = eo->d.ne[0], k = eo->d.ne[1], T = eo->d.ne[2];
#pragma omp parallel for num_threads(nthreads(ctx)) if (big(T * k * rows))
    for (int64_t t = 0; t < T; t++) {
        const float *wt = AT_F(w, t, 0, 0);
        float *yr = AT_F(y, t, 0, 0);
        if (res) memmove(yr, AT_F(res, t, 0, 0), (size_t)rows * sizeof(float));
        else memset(yr, 0, (size_t)rows * sizeof(float));
        for (int64_t j = 0; j < k; j++) {
            const float *er = AT_F(eo, j, t, 0);
            float wj = wt[j];
            for (int64_t r = 0; r < rows; r++) yr[r] += wj * er[r];
        }
    }
    return MLXN_OK;
}

static mlxn_status cpu_argmax(void *ctx, const mlxn_tview *x, const mlxn_tview *out) {
#pragma omp parallel for num_threads(nthreads(ctx)) if (x->d.ne[1] > 1 && big(x->d.ne[0] * x->d.ne[1]))
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k(ROW_F(x, r), x->d.ne[0], 1, &((int32_t *)out->data)[r]);
    return MLXN_OK;
}

static mlxn_status cpu_top_k(void *ctx, const mlxn_tview *x, int k, const mlxn_tview *ids, const mlxn_tview *vals) {
#pragma omp parallel for num_threads(nthreads(ctx)) if (x->d.ne[1] > 1 && big(x->d.ne[0] * x->d.ne[1]))
    for (int64_t r = 0; r < x->d.ne[1]; r++) mlxn_cpu_top_k_row(x, r, k, ids, vals);
    return MLXN_OK;
}

static const mlxn_backend_vtbl cpu_vtbl = {
    .name = "cpu",
    .kind = MLXN_DEVICE_CPU,
    .host_memory = true,
    .init = cpu_init,
    .release = cpu_release,
    .set_threads = cpu_set_threads,
    .buffer_alloc = mlxn_cpu_buffer_alloc,
    .buffer_free = mlxn_cpu_buffer_free,
    .buffer_upload = mlxn_cpu_buffer_upload,
    .buffer_download = mlxn_cpu_buffer_download,
    .buffer_fill = mlxn_cpu_buffer_fill,
    .supports = cpu_supports,
    .mul_mat = cpu_mul_mat,
    .mul_mat_id = cpu_mul_mat_id,
    .mul_mat_fused = cpu_mul_mat_fused,
    .rms_norm = cpu_rms_norm,
    .add_rms_norm = cpu_add_rms_norm,
    .add = cpu_add,
    .mul = cpu_mul,
    .scale = cpu_scale,
    .rope = cpu_rope,
    .kv_write = cpu_kv_write,
    .rope_kv = cpu_rope_kv,
    .attention = cpu_attention,
    .softmax = cpu_softmax,
    .unary = cpu_unary,
    .glu = cpu_glu,
    .get_rows = cpu_get_rows,
    .moe_route = cpu_moe_route,
    .moe_combine = cpu_moe_combine,
    .argmax = cpu_argmax,
    .argmax_advance = mlxn_cpu_argmax_advance,
    .top_k = cpu_top_k,
    .copy = cpu_copy,
};

const mlxn_backend_vtbl *mlxn_cpu_backend_vtbl(void) { return &cpu_vtbl; }
