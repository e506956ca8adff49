/* mlxn_cpu_fast_mul_mat: argument checks, run-time choice of the kernel path (cpuid),
 * activation quantization and the OpenMP split over weight rows. */
#include "backend/cpu/fast_impl.h"
#include "core/status.h"
#include "backend/cpu/cpu_pool.h"
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- path selection ------------------------------------------------------------- */

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}
/* Features read straight from cpuid (plus the OS's XSAVE state for ymm/zmm). */
static bool cpu_has(mlxn_cpu_path p) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    bool fma = c >> 12 & 1, osxsave = c >> 27 & 1, avx = c >> 28 & 1, f16c = c >> 29 & 1;
    if (!(fma && osxsave && avx && f16c)) return false;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 6) != 6) return false;                        /* xmm + ymm state */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    bool avx2 = b >> 5 & 1;
    if (p == MLXN_CPU_PATH_AVX2) return avx2;
    bool f = b >> 16 & 1, dq = b >> 17 & 1, bw = b >> 30 & 1, vl = b >> 31 & 1, vnni = c >> 11 & 1;
    return p == MLXN_CPU_PATH_AVX512 && avx2 && f && dq && bw && vl && vnni && (xcr0 & 0xe6) == 0xe6;
}
#else
static bool cpu_has(mlxn_cpu_path p) { (void)p; return false; }
#endif

bool mlxn_cpu_fast_path_available(mlxn_cpu_path p) {
    switch (p) {
    case MLXN_CPU_PATH_AUTO: case MLXN_CPU_PATH_SCALAR: return true;
    case MLXN_CPU_PATH_AVX2: return mlxn_fast_kernels_avx2() && cpu_has(p);
    case MLXN_CPU_PATH_AVX512: return mlxn_fast_kernels_avx512() && cpu_has(p);
    }
    return false;
}

const char *mlxn_cpu_path_name(mlxn_cpu_path p) {
    switch (p) {
    case MLXN_CPU_PATH_AUTO: return "auto";
    case MLXN_CPU_PATH_SCALAR: return "scalar";
    case MLXN_CPU_PATH_AVX2: return "avx2";
    case MLXN_CPU_PATH_AVX512: return "avx512-vnni";
    }
    return "unknown";
}

static int g_path = -1;  /* resolved path; -1 = not yet chosen */

static mlxn_cpu_path best_path(void) {
    const char *env = getenv("MLXN_CPU_PATH");
    if (env) {
        mlxn_cpu_path want = !strcmp(env, "scalar") ? MLXN_CPU_PATH_SCALAR
                           : !strcmp(env, "avx2")   ? MLXN_CPU_PATH_AVX2
                           : !strncmp(env, "avx512", 6) ? MLXN_CPU_PATH_AVX512 : MLXN_CPU_PATH_AUTO;
        if (want != MLXN_CPU_PATH_AUTO && mlxn_cpu_fast_path_available(want)) return want;
        mlxn_log(MLXN_LOG_WARN, "MLXN_CPU_PATH=%s: unknown or not available on this CPU; using auto", env);
    }
    if (mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX512)) return MLXN_CPU_PATH_AVX512;
    if (mlxn_cpu_fast_path_available(MLXN_CPU_PATH_AVX2)) return MLXN_CPU_PATH_AVX2;
    return MLXN_CPU_PATH_SCALAR;
}

mlxn_cpu_path mlxn_cpu_fast_path(void) {
    int p = __atomic_load_n(&g_path, __ATOMIC_ACQUIRE);
    if (p < 0) {
        p = (int)best_path();
        __atomic_store_n(&g_path, p, __ATOMIC_RELEASE);
    }
    return (mlxn_cpu_path)p;
}

mlxn_status mlxn_cpu_fast_force_path(mlxn_cpu_path p) {
    if (p == MLXN_CPU_PATH_AUTO) { __atomic_store_n(&g_path, -1, __ATOMIC_RELEASE); return MLXN_OK; }
    if ((int)p < 0 || p > MLXN_CPU_PATH_AVX512)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "cpu_fast_force_path: unknown path %d", (int)p);
    if (!mlxn_cpu_fast_path_available(p))
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cpu_fast_force_path: path %s not available on this CPU/build",
                         mlxn_cpu_path_name(p));
    __atomic_store_n(&g_path, (int)p, __ATOMIC_RELEASE);
    return MLXN_OK;
}

static const mlxn_fast_kernels *path_kernels(mlxn_cpu_path p) {
    switch (p) {
    case MLXN_CPU_PATH_AVX512: return mlxn_fast_kernels_avx512();
    case MLXN_CPU_PATH_AVX2: return mlxn_fast_kernels_avx2();
    default: return mlxn_fast_kernels_scalar();
    }
}

bool mlxn_cpu_fast_supports(mlxn_type type) {
    return (int)type >= 0 && (int)type < MLXN_TYPE_COUNT && mlxn_fast_act_of(type) >= 0 &&
           mlxn_fast_kernels_scalar()->dot[type] != NULL;
}

/* ---- per-thread scratch for the quantized activations ------------------------------ */

/* Grows and is kept across calls (the hot path does not allocate once warm); a pthread key
 * destructor frees it when the thread exits. */
static _Thread_local void *tl_scratch;
static _Thread_local size_t tl_scratch_bytes;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_make_key(void) { scratch_key_ok = pthread_key_create(&scratch_key, free) == 0; }

static void *scratch(size_t bytes) {
    if (bytes > tl_scratch_bytes) {
        pthread_once(&scratch_once, scratch_make_key);
        free(tl_scratch);
        tl_scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
        tl_scratch_bytes = tl_scratch ? bytes : 0;
        if (scratch_key_ok) pthread_setspecific(scratch_key, tl_scratch);
    }
    return tl_scratch;
}

/* ---- the entry point ------------------------------------------------------------- */

#define ROW_BLOCK 16  /* rows per work unit: their weights stay in cache across columns */

/* Weight bytes below which a call stays on one thread (MLXN_CPU_PAR_MIN_KB overrides). */
static double mlxn_fast_par_min_bytes(void) {
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("MLXN_CPU_PAR_MIN_KB");
        v = (e && *e ? atof(e) : 1024.0) * 1024;
    }
    return v;
}

typedef struct fast_job {
    int act;
    const float *x;
    size_t xs;
    void *buf;
    const void *xq;
    size_t xq_stride;
    int64_t k;
    void (*q32)(const float *, mlxn_fast_xq32 *, int64_t);
    void (*qK)(const float *, mlxn_block_q8_K *, int64_t);
    mlxn_fast_dot_fn dot;
    const void *w;
    size_t w_row_bytes;
    int64_t rows;
    float *y;
    size_t ys;
    int64_t n, rb_per_item;
} fast_job;

/* Quantizes activation column j. */
static void fast_quant_item(void *arg, int64_t j) {
    const fast_job *J = arg;
    const float *xj = (const float *)((const char *)J->x + (size_t)j * J->xs);
    if (J->act == MLXN_FAST_ACT_Q8_32) J->q32(xj, (mlxn_fast_xq32 *)((char *)J->buf + (size_t)j * J->xq_stride), J->k);
    else J->qK(xj, (mlxn_block_q8_K *)((char *)J->buf + (size_t)j * J->xq_stride), J->k);
}

/* Rows of row blocks [it * rb_per_item, +rb_per_item) against every column. */
static void fast_rows_item(void *arg, int64_t it) {
    const fast_job *J = arg;
    int64_t r0 = it * J->rb_per_item * ROW_BLOCK, r1 = r0 + J->rb_per_item * ROW_BLOCK;
    if (r1 > J->rows) r1 = J->rows;
    float out[MLXN_FAST_NC];
    for (int64_t b0 = r0; b0 < r1; b0 += ROW_BLOCK) {
        int64_t b1 = b0 + ROW_BLOCK < r1 ? b0 + ROW_BLOCK : r1;
        for (int64_t j = 0; j < J->n; j += MLXN_FAST_NC) {
            int nc = J->n - j < MLXN_FAST_NC ? (int)(J->n - j) : MLXN_FAST_NC;
            const char *xj = (const char *)J->xq + (size_t)j * J->xq_stride;
            for (int64_t r = b0; r < b1; r++) {
                J->dot(J->k, (const char *)J->w + (size_t)r * J->w_row_bytes, xj, J->xq_stride, nc, out);
                for (int c = 0; c < nc; c++) ((float *)((char *)J->y + (size_t)(j + c) * J->ys))[r] = out[c];
            }
        }
    }
}

mlxn_status mlxn_cpu_fast_mul_mat(mlxn_type type, const void *w, size_t w_row_bytes, int64_t k,
                                  int64_t rows, const float *x, size_t x_row_stride_bytes,
                                  float *y, size_t y_row_stride_bytes, int64_t n, int n_threads) {
    const mlxn_type_traits *tt = mlxn_type_info(type);
    int act = tt ? mlxn_fast_act_of(type) : -1;
    if (act < 0)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cpu_fast_mul_mat: weight type %s (%d) not handled",
                         mlxn_type_name(type), (int)type);
    if (k <= 0 || rows < 0 || n < 0 || n_threads < 0)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "cpu_fast_mul_mat: bad sizes k=%lld rows=%lld n=%lld threads=%d",
                         (long long)k, (long long)rows, (long long)n, n_threads);
    if (k % tt->block_elems)
        return mlxn_fail(MLXN_ERR_SHAPE, "cpu_fast_mul_mat: k=%lld is not a multiple of the %s block (%lld)",
                         (long long)k, tt->name, (long long)tt->block_elems);
    if (rows == 0 || n == 0) return MLXN_OK;
    if (!w || !x || !y) return mlxn_fail(MLXN_ERR_INVALID_ARG, "cpu_fast_mul_mat: NULL w, x or y");
    if (w_row_bytes < mlxn_row_size(type, k))
        return mlxn_fail(MLXN_ERR_SHAPE, "cpu_fast_mul_mat: w_row_bytes %zu < %zu bytes of a %s row of %lld",
                         w_row_bytes, mlxn_row_size(type, k), tt->name, (long long)k);
    /* block structs hold u16 fields (MXFP4 only bytes); f32 rows are read as floats */
    size_t align = type == MLXN_TYPE_F32 ? 4 : type == MLXN_TYPE_MXFP4 ? 1 : 2;
    if (((uintptr_t)w | w_row_bytes) % align)
        return mlxn_fail(MLXN_ERR_SHAPE, "cpu_fast_mul_mat: %s weights at %p with row stride %zu are not "
                         "%zu-byte aligned", tt->name, w, w_row_bytes, align);
    if ((n > 1 && x_row_stride_bytes < (size_t)k * 4) || (n > 1 && y_row_stride_bytes < (size_t)rows * 4) ||
        x_row_stride_bytes % 4 || y_row_stride_bytes % 4 || ((uintptr_t)x & 3) || ((uintptr_t)y & 3))
        return mlxn_fail(MLXN_ERR_SHAPE, "cpu_fast_mul_mat: x stride %zu / y stride %zu too small or x, y "
                         "not 4-byte aligned (k=%lld rows=%lld)", x_row_stride_bytes, y_row_stride_bytes,
                         (long long)k, (long long)rows);

    const mlxn_fast_kernels *kern = path_kernels(mlxn_cpu_fast_path());
    const mlxn_fast_kernels *sk = mlxn_fast_kernels_scalar();
    mlxn_fast_dot_fn dot = kern->dot[type] ? kern->dot[type] : sk->dot[type];
    if (!dot)
        return mlxn_fail(MLXN_ERR_UNSUPPORTED, "cpu_fast_mul_mat: no kernel for %s", tt->name);

    /* Quantized activations: n rows of xq_stride bytes in this thread's scratch. */
    const void *xq = x;
    size_t xq_stride = x_row_stride_bytes;
    if (act == MLXN_FAST_ACT_Q8_32) xq_stride = (size_t)(k / 32) * sizeof(mlxn_fast_xq32);
    if (act == MLXN_FAST_ACT_Q8_K) xq_stride = (size_t)(k / 256) * sizeof(mlxn_block_q8_K);
    void *buf = NULL;
    if (act != MLXN_FAST_ACT_F32) {
        buf = scratch(xq_stride * (size_t)n);
        if (!buf)
            return mlxn_fail(MLXN_ERR_NO_MEMORY, "cpu_fast_mul_mat: %zu bytes of activation scratch",
                             xq_stride * (size_t)n);
        xq = buf;
    }
    void (*q32)(const float *, mlxn_fast_xq32 *, int64_t) = kern->quant_q8_32 ? kern->quant_q8_32 : sk->quant_q8_32;
    void (*qK)(const float *, mlxn_block_q8_K *, int64_t) = kern->quant_q8_K ? kern->quant_q8_K : sk->quant_q8_K;

    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    int64_t n_rb = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
    if (nt > n_rb) nt = (int)n_rb;
    /* Below ~1 MiB of weights (times min(n, 8)) the fork/join costs more than it saves on a
     * shared machine (docs/perf/cpu.md, "Engine decode on the CPU backend"). */
    if ((double)w_row_bytes * (double)rows * (double)(n < 8 ? n : 8) < mlxn_fast_par_min_bytes()) nt = 1;

    fast_job J = {.act = act, .x = x, .xs = x_row_stride_bytes, .buf = buf, .xq = xq, .xq_stride = xq_stride, .k = k,
                  .q32 = q32, .qK = qK, .dot = dot, .w = w, .w_row_bytes = w_row_bytes, .rows = rows, .y = y,
                  .ys = y_row_stride_bytes, .n = n};
    if (act != MLXN_FAST_ACT_F32) mlxn_cpu_pool_run(n >= 4 ? nt : 1, n, fast_quant_item, &J);
    /* Work items of several row blocks: ~32 KiB of weights per column group each, at least
     * 4 per thread, so claiming an item costs little next to running it. */
    int64_t per = 1;
    if (nt > 1) {
        double blk_bytes = (double)w_row_bytes * ROW_BLOCK * (double)(n < MLXN_FAST_NC ? n : MLXN_FAST_NC);
        while (per < 64 && blk_bytes * (double)per < 32.0 * 1024 && n_rb / (per * 2) >= 4 * nt) per *= 2;
    }
    J.rb_per_item = per;
    mlxn_cpu_pool_run(nt, (n_rb + per - 1) / per, fast_rows_item, &J);
    return MLXN_OK;
}
