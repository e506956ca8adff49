/* mlxn.h -- the public C API of libmlxn: run quantized LLMs (GGUF, MLX/HF safetensors)
 * on NVIDIA GPUs (CUDA) and CPUs.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *  - Every call that can fail returns mlxn_status: MLXN_OK (0) or a negative code.
 *    A failing call also leaves a message naming the problem (file, key, tensor, offset)
 *    that mlxn_last_error() returns on the same thread; handles keep their own copy too.
 *  - Opaque handles for stateful objects; *_free(NULL) is a no-op.
 *  - Borrowed pointers say how long they live. The library never exits, aborts on bad
 *    input, or prints unless a log callback is installed.
 *  - Tensor shapes follow GGUF: ne[0] is the innermost (contiguous) dimension, nb[] are
 *    byte strides. A linear weight {k, rows} is PyTorch's [rows, k].
 */
#ifndef MLXN_H
#define MLXN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ==========================================================================
 * Status and errors
 * ========================================================================== */

typedef enum mlxn_status {
    MLXN_OK = 0,
    MLXN_ERR_INVALID_ARG = -1,    /* NULL handle, out-of-range parameter, bad call */
    MLXN_ERR_IO = -2,             /* open/read/write/mmap failed */
    MLXN_ERR_FORMAT = -3,         /* malformed or hostile file contents */
    MLXN_ERR_UNSUPPORTED = -4,    /* valid but not supported (type, architecture, op) */
    MLXN_ERR_NO_MEMORY = -5,      /* host allocation failed */
    MLXN_ERR_DEVICE_MEMORY = -6,  /* device (GPU) out of memory */
    MLXN_ERR_DEVICE = -7,         /* a device/driver call failed (message has the CUDA error) */
    MLXN_ERR_SHAPE = -8,          /* tensor shapes, strides or types do not fit the op */
    MLXN_ERR_NOT_FOUND = -9,      /* key, tensor, file or device not present */
    MLXN_ERR_TYPE = -10,          /* a value has the wrong type (metadata, tensor dtype) */
    MLXN_ERR_CONTEXT_FULL = -11,  /* prompt or generation does not fit the context */
    MLXN_ERR_NO_DEVICE = -12,     /* the requested device does not exist */
} mlxn_status;

/* A short constant string for a status code ("ok", "format error", ...). */
const char *mlxn_status_str(mlxn_status s);

/* The message of the most recent failing call on this thread ("" if none).
 * Borrowed: valid until the next failing call on this thread. */
const char *mlxn_last_error(void);

/* Logging: the library prints nothing unless a callback is installed. */
typedef enum mlxn_log_level {
    MLXN_LOG_ERROR = 0, MLXN_LOG_WARN = 1, MLXN_LOG_INFO = 2, MLXN_LOG_DEBUG = 3
} mlxn_log_level;
typedef void (*mlxn_log_fn)(mlxn_log_level level, const char *msg, void *user);
/* Installs fn (NULL removes it); messages above max_level are dropped. Not thread-safe. */
void mlxn_log_set(mlxn_log_fn fn, mlxn_log_level max_level, void *user);

/* ==========================================================================
 * Element types
 * ==========================================================================
 * Ids below 64 equal GGUF's ggml_type ids. Ids >= 64 are mlxn's own and never
 * appear in a GGUF file: extra safetensors dtypes, and the MLX packed formats.
 *
 * MLX affine weights are three arrays: the packed words (type MLXN_TYPE_MLX_Qb: a
 * "block" is 32 elements = b uint32 words, LSB-first bit stream along the row), plus
 * per-group scales and biases (f16 or bf16) described by mlxn_mlx_quant below. */
typedef enum mlxn_type {
    MLXN_TYPE_F32 = 0,
    MLXN_TYPE_F16 = 1,
    MLXN_TYPE_Q4_0 = 2,
    MLXN_TYPE_Q4_1 = 3,
    MLXN_TYPE_Q5_0 = 6,
    MLXN_TYPE_Q5_1 = 7,
    MLXN_TYPE_Q8_0 = 8,
    MLXN_TYPE_Q8_1 = 9,
    MLXN_TYPE_Q2_K = 10,
    MLXN_TYPE_Q3_K = 11,
    MLXN_TYPE_Q4_K = 12,
    MLXN_TYPE_Q5_K = 13,
    MLXN_TYPE_Q6_K = 14,
    MLXN_TYPE_Q8_K = 15,
    MLXN_TYPE_IQ2_XXS = 16,   /* known to GGUF; not decoded by mlxn */
    MLXN_TYPE_IQ2_XS = 17,
    MLXN_TYPE_IQ3_XXS = 18,
    MLXN_TYPE_IQ1_S = 19,
    MLXN_TYPE_IQ4_NL = 20,
    MLXN_TYPE_IQ3_S = 21,
    MLXN_TYPE_IQ2_S = 22,
    MLXN_TYPE_IQ4_XS = 23,
    MLXN_TYPE_I8 = 24,
    MLXN_TYPE_I16 = 25,
    MLXN_TYPE_I32 = 26,
    MLXN_TYPE_I64 = 27,
    MLXN_TYPE_F64 = 28,
    MLXN_TYPE_IQ1_M = 29,
    MLXN_TYPE_BF16 = 30,
    MLXN_TYPE_TQ1_0 = 34,
    MLXN_TYPE_TQ2_0 = 35,
    MLXN_TYPE_MXFP4 = 39,
    /* mlxn-only: plain dtypes that safetensors has and GGUF lacks */
    MLXN_TYPE_U8 = 64,
    MLXN_TYPE_U16 = 65,
    MLXN_TYPE_U32 = 66,
    MLXN_TYPE_U64 = 67,
    MLXN_TYPE_BOOL = 68,
    MLXN_TYPE_F8_E4M3 = 69,
    MLXN_TYPE_F8_E5M2 = 70,
    MLXN_TYPE_F8_E8M0 = 71,
    /* mlxn-only: MLX packed quantized words (scales/biases held separately) */
    MLXN_TYPE_MLX_Q2 = 82,
    MLXN_TYPE_MLX_Q3 = 83,
    MLXN_TYPE_MLX_Q4 = 84,
    MLXN_TYPE_MLX_Q5 = 85,
    MLXN_TYPE_MLX_Q6 = 86,
    MLXN_TYPE_MLX_Q8 = 88,
    MLXN_TYPE_MLX_MXFP4 = 89, /* MLX order: element 2i low nibble, 2i+1 high nibble */
    MLXN_TYPE_COUNT = 90
} mlxn_type;

typedef struct mlxn_type_traits {
    const char *name;      /* "q4_K", "f16", "mlx_q4", ... */
    int64_t block_elems;   /* elements per block (1 for plain types) */
    size_t block_bytes;    /* bytes per block */
    bool quantized;        /* true for block formats */
    bool decodable;        /* mlxn has a dequantizer for it */
} mlxn_type_traits;

/* Traits of t, or NULL if t is not a known type id. Static storage. */
const mlxn_type_traits *mlxn_type_info(mlxn_type t);
/* Name of t, or "unknown" . */
const char *mlxn_type_name(mlxn_type t);
/* Bytes for a row of n elements of type t; 0 if t is unknown or n is not a block multiple. */
size_t mlxn_row_size(mlxn_type t, int64_t n);

/* ==========================================================================
 * Tensor descriptor
 * ========================================================================== */

#define MLXN_MAX_DIMS 4
typedef struct mlxn_tensor_desc {
    mlxn_type type;
    int32_t n_dims;               /* 1..4 */
    int64_t ne[MLXN_MAX_DIMS];    /* elements per dimension; unused dims are 1 */
    size_t nb[MLXN_MAX_DIMS];     /* byte strides; nb[0] = block bytes for block types */
} mlxn_tensor_desc;

/* Fills d with a contiguous layout. Fails on an unknown type, n_dims outside 1..4,
 * a non-positive extent, ne[0] not a block multiple, or a byte size that overflows. */
mlxn_status mlxn_tensor_desc_init(mlxn_tensor_desc *d, mlxn_type type, int n_dims, const int64_t *ne);
int64_t mlxn_tensor_desc_nelements(const mlxn_tensor_desc *d);
size_t mlxn_tensor_desc_nbytes(const mlxn_tensor_desc *d);   /* contiguous size */
bool mlxn_tensor_desc_is_contiguous(const mlxn_tensor_desc *d);

/* ==========================================================================
 * Block codecs (CPU)
 * ========================================================================== */

/* Decodes n elements (a multiple of the type's block) from src into f32 dst.
 * Exact for every decodable GGML type and plain float/int type. */
mlxn_status mlxn_dequantize_row(mlxn_type type, const void *src, float *dst, int64_t n);
/* Encodes n f32 elements into type's blocks (reference quality, see docs/formats.md). */
mlxn_status mlxn_quantize_row(mlxn_type type, const float *src, void *dst, int64_t n);

/* MLX quantization parameters. */
typedef enum mlxn_mlx_mode { MLXN_MLX_AFFINE = 0, MLXN_MLX_MXFP4 = 1 } mlxn_mlx_mode;
typedef struct mlxn_mlx_quant {
    mlxn_mlx_mode mode;
    int bits;              /* affine: 2,3,4,5,6,8; mxfp4: 4 */
    int group_size;        /* affine: 32,64,128; mxfp4: 32 */
    mlxn_type scale_type;  /* affine: F16 or BF16 (biases the same); mxfp4: F8_E8M0 (u8) */
} mlxn_mlx_quant;

/* Decodes one row of n elements: w packed words (n*bits/32 u32), scales and biases
 * (n/group_size each; biases unused for mxfp4). */
mlxn_status mlxn_mlx_dequantize_row(const mlxn_mlx_quant *q, const uint32_t *w, const void *scales,
                                    const void *biases, float *dst, int64_t n);
/* Encodes one row like mx.quantize. */
mlxn_status mlxn_mlx_quantize_row(const mlxn_mlx_quant *q, const float *src, uint32_t *w, void *scales,
                                  void *biases, int64_t n);

/* ==========================================================================
 * GGUF reader
 * ==========================================================================
 * The file is memory-mapped; every string, array and tensor pointer the reader
 * hands out is borrowed from the map and lives until mlxn_gguf_free(). Keys and
 * tensor names are returned NUL-terminated (the reader keeps copies). */

typedef struct mlxn_gguf mlxn_gguf_t;

typedef enum mlxn_gguf_vtype {
    MLXN_GGUF_U8 = 0, MLXN_GGUF_I8 = 1, MLXN_GGUF_U16 = 2, MLXN_GGUF_I16 = 3,
    MLXN_GGUF_U32 = 4, MLXN_GGUF_I32 = 5, MLXN_GGUF_F32 = 6, MLXN_GGUF_BOOL = 7,
    MLXN_GGUF_STRING = 8, MLXN_GGUF_ARRAY = 9, MLXN_GGUF_U64 = 10, MLXN_GGUF_I64 = 11,
    MLXN_GGUF_F64 = 12
} mlxn_gguf_vtype;

/* A borrowed string: not NUL-terminated. */
typedef struct mlxn_str {
    const char *ptr;
    uint64_t len;
} mlxn_str;

/* Opens and validates path. On failure *out is NULL and mlxn_last_error() says why
 * (problem, file offset). */
mlxn_status mlxn_gguf_open(const char *path, mlxn_gguf_t **out);
/* Same, over a caller-owned buffer that must outlive the handle. */
mlxn_status mlxn_gguf_open_memory(const void *data, size_t size, mlxn_gguf_t **out);
void mlxn_gguf_free(mlxn_gguf_t *g);
const char *mlxn_gguf_last_error(const mlxn_gguf_t *g);

uint32_t mlxn_gguf_version(const mlxn_gguf_t *g);
uint32_t mlxn_gguf_alignment(const mlxn_gguf_t *g);
uint64_t mlxn_gguf_data_offset(const mlxn_gguf_t *g);   /* file offset of the data section */

/* Metadata. Index-based access for listing; key-based getters for use. */
int64_t mlxn_gguf_kv_count(const mlxn_gguf_t *g);
const char *mlxn_gguf_kv_key(const mlxn_gguf_t *g, int64_t i);        /* NULL if out of range */
mlxn_gguf_vtype mlxn_gguf_kv_type(const mlxn_gguf_t *g, int64_t i);
int64_t mlxn_gguf_find_key(const mlxn_gguf_t *g, const char *key);    /* -1 if absent */

/* Scalar getters by key. NOT_FOUND if absent, TYPE if the stored type does not fit.
 * get_int accepts every integer width and bool; u64 values above INT64_MAX are TYPE.
 * get_float accepts f32, f64 and integers. */
mlxn_status mlxn_gguf_get_int(const mlxn_gguf_t *g, const char *key, int64_t *out);
mlxn_status mlxn_gguf_get_float(const mlxn_gguf_t *g, const char *key, double *out);
mlxn_status mlxn_gguf_get_bool(const mlxn_gguf_t *g, const char *key, bool *out);
mlxn_status mlxn_gguf_get_str(const mlxn_gguf_t *g, const char *key, mlxn_str *out);

/* Arrays: element type and count, then per-element getters (same width rules as above),
 * or the raw packed bytes of a numeric array (borrowed; elements unaligned in general). */
mlxn_status mlxn_gguf_get_arr(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype *elem_type,
                              uint64_t *count);
mlxn_status mlxn_gguf_arr_int(const mlxn_gguf_t *g, const char *key, uint64_t i, int64_t *out);
mlxn_status mlxn_gguf_arr_float(const mlxn_gguf_t *g, const char *key, uint64_t i, double *out);
mlxn_status mlxn_gguf_arr_str(const mlxn_gguf_t *g, const char *key, uint64_t i, mlxn_str *out);
const void *mlxn_gguf_arr_data(const mlxn_gguf_t *g, const char *key);

/* Tensors. */
typedef struct mlxn_gguf_tensor {
    const char *name;        /* NUL-terminated, borrowed */
    mlxn_type type;
    int32_t n_dims;
    int64_t ne[MLXN_MAX_DIMS];
    uint64_t offset;         /* relative to the data section */
    uint64_t nbytes;
    const void *data;        /* borrowed from the map */
} mlxn_gguf_tensor;

int64_t mlxn_gguf_tensor_count(const mlxn_gguf_t *g);
int64_t mlxn_gguf_find_tensor(const mlxn_gguf_t *g, const char *name);  /* -1 if absent */
mlxn_status mlxn_gguf_get_tensor(const mlxn_gguf_t *g, int64_t i, mlxn_gguf_tensor *out);

/* ==========================================================================
 * GGUF writer (section owned by src/formats/gguf_write.c)
 * ========================================================================== */

/* MLXN-SECTION: gguf-writer (declarations added by the GGUF writer) */

/* Reader additions: unsigned getters (any integer width or bool; negative values are TYPE),
 * for u64 values above INT64_MAX that get_int refuses. */
mlxn_status mlxn_gguf_get_uint(const mlxn_gguf_t *g, const char *key, uint64_t *out);
mlxn_status mlxn_gguf_arr_uint(const mlxn_gguf_t *g, const char *key, uint64_t i, uint64_t *out);

/* Builds a GGUF v3 file in memory order: metadata in the order first set, tensors in the
 * order added. Metadata values are copied when set; tensor data is borrowed until the
 * write call returns. Setting a key that exists replaces its value (keeping its place).
 * `general.alignment` (u32, power of two, default 32) sets the data alignment; each tensor
 * starts at a multiple of it and is zero-padded to the next one. */
typedef struct mlxn_gguf_writer mlxn_gguf_writer_t;

mlxn_status mlxn_gguf_writer_new(mlxn_gguf_writer_t **out);
void mlxn_gguf_writer_free(mlxn_gguf_writer_t *w);
const char *mlxn_gguf_writer_last_error(const mlxn_gguf_writer_t *w);

mlxn_status mlxn_gguf_writer_set_u8(mlxn_gguf_writer_t *w, const char *key, uint8_t v);
mlxn_status mlxn_gguf_writer_set_i8(mlxn_gguf_writer_t *w, const char *key, int8_t v);
mlxn_status mlxn_gguf_writer_set_u16(mlxn_gguf_writer_t *w, const char *key, uint16_t v);
mlxn_status mlxn_gguf_writer_set_i16(mlxn_gguf_writer_t *w, const char *key, int16_t v);
mlxn_status mlxn_gguf_writer_set_u32(mlxn_gguf_writer_t *w, const char *key, uint32_t v);
mlxn_status mlxn_gguf_writer_set_i32(mlxn_gguf_writer_t *w, const char *key, int32_t v);
mlxn_status mlxn_gguf_writer_set_u64(mlxn_gguf_writer_t *w, const char *key, uint64_t v);
mlxn_status mlxn_gguf_writer_set_i64(mlxn_gguf_writer_t *w, const char *key, int64_t v);
mlxn_status mlxn_gguf_writer_set_f32(mlxn_gguf_writer_t *w, const char *key, float v);
mlxn_status mlxn_gguf_writer_set_f64(mlxn_gguf_writer_t *w, const char *key, double v);
mlxn_status mlxn_gguf_writer_set_bool(mlxn_gguf_writer_t *w, const char *key, bool v);
/* s is NUL-terminated; set_strn takes any bytes. */
mlxn_status mlxn_gguf_writer_set_str(mlxn_gguf_writer_t *w, const char *key, const char *s);
mlxn_status mlxn_gguf_writer_set_strn(mlxn_gguf_writer_t *w, const char *key, const char *s, uint64_t len);
/* An array of count elements of elem_type (not ARRAY). Numeric and bool: data holds the
 * packed little-endian elements (bool: one byte, 0 or 1). STRING: data is a
 * `const char *const[count]` of NUL-terminated strings; set_arr_strn takes mlxn_str items. */
mlxn_status mlxn_gguf_writer_set_arr(mlxn_gguf_writer_t *w, const char *key, mlxn_gguf_vtype elem_type,
                                     const void *data, uint64_t count);
mlxn_status mlxn_gguf_writer_set_arr_strn(mlxn_gguf_writer_t *w, const char *key, const mlxn_str *items, uint64_t count);

/* Adds a tensor of n_dims (1..4) extents ne (ne[0] innermost, a block multiple) whose
 * contiguous bytes (mlxn_row_size(type, ne[0]) * ne[1] * ...) are at data. data is borrowed
 * until mlxn_gguf_writer_write*() returns. Duplicate names are INVALID_ARG. */
mlxn_status mlxn_gguf_writer_add_tensor(mlxn_gguf_writer_t *w, const char *name, mlxn_type type, int n_dims,
                                        const int64_t *ne, const void *data);

/* Writes the file to path (replacing it), or into a malloc'd buffer the caller frees with free(). */
mlxn_status mlxn_gguf_writer_write(mlxn_gguf_writer_t *w, const char *path);
mlxn_status mlxn_gguf_writer_write_memory(mlxn_gguf_writer_t *w, void **out, size_t *size);

/* ==========================================================================
 * safetensors and model folders (section owned by src/formats/safetensors.c)
 * ========================================================================== */

/* MLXN-SECTION: safetensors */

/* ==========================================================================
 * Devices, buffers, streams, backends (section owned by src/backend)
 * ========================================================================== */

/* MLXN-SECTION: backend */

/* ==========================================================================
 * Ops (section owned by src/ops)
 * ========================================================================== */

/* MLXN-SECTION: ops */

/* ==========================================================================
 * Engine: tokenizer, model, generation (section owned by src/engine)
 * ========================================================================== */

/* MLXN-SECTION: engine */

#ifdef __cplusplus
}
#endif
#endif /* MLXN_H */
