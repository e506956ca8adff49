/* Fast CPU matrix kernels: quantized weights x f32 activations with SIMD (AVX2, AVX-512 VNNI,
 * picked at run time) and OpenMP threads, plus a portable scalar path. The CPU backend's
 * mul_mat calls mlxn_cpu_fast_mul_mat and falls back to a generic path on
 * MLXN_ERR_UNSUPPORTED. Design notes: docs/ARCHITECTURE.md, "Fast CPU kernels". */
#ifndef MLXN_BACKEND_CPU_FAST_H
#define MLXN_BACKEND_CPU_FAST_H
#include "mlxn.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* y[j][r] = sum_i W[r][i] * x[j][i] for r < rows, j < n.
 *   w: rows rows of w_row_bytes each (>= mlxn_row_size(type, k)), GGML block type `type`
 *   x: n rows of k f32, x_row_stride_bytes apart (>= 4k, multiple of 4)
 *   y: n rows of `rows` f32, y_row_stride_bytes apart (>= 4 rows, multiple of 4)
 * Quantized types quantize x once per call to an 8-bit block format (see cpu.md for the
 * error this adds); f32/f16/bf16 weights are dotted in f32. n_threads: 0 = all.
 * Returns MLXN_ERR_UNSUPPORTED for types it does not handle (callers fall back),
 * MLXN_ERR_INVALID_ARG / MLXN_ERR_SHAPE for bad arguments. Every y element is written
 * on success. The quantized x lives in a per-calling-thread scratch buffer that grows, is
 * kept across calls and is freed when the thread exits. Safe to call from several threads
 * at once. */
mlxn_status mlxn_cpu_fast_mul_mat(mlxn_type type, const void *w, size_t w_row_bytes, int64_t k,
                                  int64_t rows, const float *x, size_t x_row_stride_bytes,
                                  float *y, size_t y_row_stride_bytes, int64_t n, int n_threads);

/* True if mlxn_cpu_fast_mul_mat handles weights of this type. */
bool mlxn_cpu_fast_supports(mlxn_type type);

/* Kernel paths. AUTO picks the best the CPU supports; the environment variable
 * MLXN_CPU_PATH=scalar|avx2|avx512 overrides AUTO at first use. */
typedef enum mlxn_cpu_path {
    MLXN_CPU_PATH_AUTO = 0,
    MLXN_CPU_PATH_SCALAR = 1,  /* portable C, integer dots on the quantized activations */
    MLXN_CPU_PATH_AVX2 = 2,    /* AVX2 + FMA + F16C (maddubs) */
    MLXN_CPU_PATH_AVX512 = 3,  /* AVX-512 F/BW/VL + VNNI (vpdpbusd on 256-bit vectors) */
} mlxn_cpu_path;

/* The path used now, and whether this CPU (and build) can run a given path. */
mlxn_cpu_path mlxn_cpu_fast_path(void);
bool mlxn_cpu_fast_path_available(mlxn_cpu_path p);
const char *mlxn_cpu_path_name(mlxn_cpu_path p);
/* Forces a path for later calls (tests, benchmarks); AUTO restores the default.
 * MLXN_ERR_UNSUPPORTED if the CPU lacks it. Not thread-safe against concurrent calls. */
mlxn_status mlxn_cpu_fast_force_path(mlxn_cpu_path p);
#endif
