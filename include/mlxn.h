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
 * (n/group_size each; biases unused for mxfp4). Like mx.dequantize, affine values are
 * rounded to the scale dtype after the product and after the sum (scale*q + bias computed in
 * f16/bf16), so results are bit-identical to MLX; an f32 kernel differs by <= 1 ulp of that dtype. */
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

/* --- safetensors files ------------------------------------------------------
 * Layout: u64 LE header length N (at most 100 MB), N bytes of UTF-8 JSON, then the data
 * buffer. The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [b, e)}
 * (relative to the buffer) plus an optional "__metadata__" string->string map.
 *
 * mlxn_st_open() mmaps the file and validates all of it before returning: every entry
 * well-formed, dtype known, shape entries non-negative integers whose product does not
 * overflow, e - b = numel * bits / 8 exactly, ranges sorted by offset and contiguous from 0
 * (no gap, no overlap), the last range ending at EOF, no duplicate names. A violation is
 * MLXN_ERR_FORMAT with a message naming the file, the tensor and the rule.
 *
 * Tensors are listed in file (offset) order. Names, metadata strings and data pointers are
 * borrowed from the handle and live until mlxn_st_free(). Data pointers point into the map
 * (zero copy); they are only as aligned as the file makes them (writers pad N to 8 bytes).
 *
 * Dtypes: BOOL U8 I8 U16 I16 F16 BF16 U32 I32 F32 U64 I64 F64 F8_E4M3 F8_E5M2 F8_E8M0 map to
 * the mlxn_type of the same name. F4 (4-bit E2M1), F6_E2M3, F6_E3M2 (6-bit), C64
 * (complex64), F8_E4M3FNUZ and F8_E5M2FNUZ are accepted and validated with their real bit
 * widths, but have no mlxn_type:
 * their entries report type = MLXN_ST_TYPE_NONE (bytes still readable through data/nbytes)
 * and mlxn_st_tensor_desc() refuses them with MLXN_ERR_UNSUPPORTED. */

typedef struct mlxn_st mlxn_st_t;

#define MLXN_ST_MAX_HEADER (100u * 1000u * 1000u) /* largest header length accepted */
#define MLXN_ST_MAX_DIMS 8                        /* more dims: MLXN_ERR_UNSUPPORTED */
#define MLXN_ST_TYPE_NONE MLXN_TYPE_COUNT         /* dtype with no mlxn_type (F4, F6_*, C64, *FNUZ) */

typedef struct mlxn_st_tensor {
    const char *name;                  /* NUL-terminated, borrowed */
    const char *dtype;                 /* the file's dtype string ("BF16"), borrowed */
    mlxn_type type;                    /* matching mlxn_type, or MLXN_ST_TYPE_NONE */
    int32_t bits;                      /* bits per element (1 byte = 8; F4 = 4; BOOL = 8) */
    int32_t n_dims;                    /* 0 (scalar) .. MLXN_ST_MAX_DIMS */
    int64_t shape[MLXN_ST_MAX_DIMS];   /* as in the file: shape[0] outermost (PyTorch order) */
    int64_t numel;                     /* product of shape (1 for a scalar; may be 0) */
    uint64_t offset;                   /* begin, relative to the data buffer */
    uint64_t nbytes;                   /* end - begin */
    const void *data;                  /* borrowed from the map; NULL only when nbytes = 0 */
} mlxn_st_tensor;

/* Opens, maps and validates path. On failure *out is NULL and mlxn_last_error() says why. */
mlxn_status mlxn_st_open(const char *path, mlxn_st_t **out);
/* Same over a caller-owned buffer that must outlive the handle (name used in messages). */
mlxn_status mlxn_st_open_memory(const void *data, size_t size, const char *name, mlxn_st_t **out);
void mlxn_st_free(mlxn_st_t *st);
const char *mlxn_st_last_error(const mlxn_st_t *st);
const char *mlxn_st_path(const mlxn_st_t *st);          /* path or name given at open */

uint64_t mlxn_st_header_size(const mlxn_st_t *st);      /* N */
uint64_t mlxn_st_data_offset(const mlxn_st_t *st);      /* 8 + N: file offset of the buffer */
uint64_t mlxn_st_file_size(const mlxn_st_t *st);

int64_t mlxn_st_tensor_count(const mlxn_st_t *st);
int64_t mlxn_st_find_tensor(const mlxn_st_t *st, const char *name);   /* -1 if absent */
/* Fills out for tensor i (0 .. count-1, file order). INVALID_ARG if i is out of range. */
mlxn_status mlxn_st_get_tensor(const mlxn_st_t *st, int64_t i, mlxn_st_tensor *out);

/* "__metadata__": string pairs in file order; mlxn_st_meta_get returns NULL if absent. */
int64_t mlxn_st_meta_count(const mlxn_st_t *st);
const char *mlxn_st_meta_key(const mlxn_st_t *st, int64_t i);
const char *mlxn_st_meta_value(const mlxn_st_t *st, int64_t i);
const char *mlxn_st_meta_get(const mlxn_st_t *st, const char *key);

/* A GGUF-order descriptor of t (ne[0] = shape[n_dims-1], innermost). UNSUPPORTED for
 * MLXN_ST_TYPE_NONE or more than 4 dims, SHAPE for a zero extent. A scalar is {1}. */
mlxn_status mlxn_st_tensor_desc(const mlxn_st_tensor *t, mlxn_tensor_desc *out);

/* Maps a safetensors dtype string to its mlxn_type and bit width. NOT_FOUND if the
 * string is no safetensors dtype; *type = MLXN_ST_TYPE_NONE for F4, F6_*, C64, F8_*FNUZ. */
mlxn_status mlxn_st_dtype_parse(const char *dtype, mlxn_type *type, int *bits);

/* --- config.json (Hugging Face / mlx-lm) -------------------------------------
 * mlxn_hf_config_parse() reads the keys below into mlxn_hf_config. Multimodal configs
 * (Gemma 3/4, ...) nest the language model in "text_config": every LM field is looked up
 * there first, then at the top level (model_type always comes from the top level;
 * text_model_type from text_config). Absent integers are 0, absent floats 0.0, with
 * two derived defaults: num_key_value_heads = num_attention_heads and head_dim =
 * hidden_size / num_attention_heads when the file has none. */

typedef struct mlxn_hfc mlxn_hf_config_t;   /* opaque: the parsed file */

/* rope_scaling ({"rope_type" or "type", "factor", llama3: "low_freq_factor",
 * "high_freq_factor", "original_max_position_embeddings"; yarn: beta_fast/beta_slow}). */
typedef struct mlxn_hf_rope_scaling {
    bool present;
    char type[32];                     /* "llama3", "linear", "yarn", "dynamic", ... */
    double factor;
    double low_freq_factor;            /* llama3 */
    double high_freq_factor;           /* llama3 */
    int64_t original_max_position_embeddings;
    double beta_fast, beta_slow;       /* yarn */
} mlxn_hf_rope_scaling;

/* The "quantization" block (or "quantization_config" when the first is absent). */
typedef struct mlxn_hf_quant {
    bool present;                      /* a block exists */
    bool mlx;                          /* it has mlx-lm's group_size/bits */
    char mode[32];                     /* "affine" (default), "mxfp4", ...; else quant_method */
    int group_size;
    int bits;
    int64_t n_overrides;               /* per-module entries (dicts or false) */
} mlxn_hf_quant;

typedef enum mlxn_hf_layer_type {
    MLXN_HF_LAYER_FULL = 0,            /* "full_attention" */
    MLXN_HF_LAYER_SLIDING = 1,         /* "sliding_attention" */
    MLXN_HF_LAYER_OTHER = 2            /* anything else (see mlxn_hf_config_arr_str) */
} mlxn_hf_layer_type;

typedef struct mlxn_hf_config {
    char model_type[64];               /* top-level "model_type" */
    char text_model_type[64];          /* text_config.model_type, "" if none */
    char architecture[128];            /* architectures[0], "" if none */
    int32_t n_architectures;
    bool has_text_config;
    int64_t hidden_size;
    int64_t intermediate_size;
    int64_t num_hidden_layers;
    int64_t num_attention_heads;
    int64_t num_key_value_heads;       /* default: num_attention_heads */
    int64_t head_dim;                  /* default: hidden_size / num_attention_heads */
    int64_t vocab_size;
    int64_t max_position_embeddings;
    double rms_norm_eps;               /* also read from "layer_norm_eps" / "norm_eps" */
    double rope_theta;
    mlxn_hf_rope_scaling rope_scaling;
    int32_t tie_word_embeddings;       /* -1 absent, 0 false, 1 true */
    int64_t num_experts;               /* "num_experts", else "num_local_experts", else "n_routed_experts" */
    int64_t num_experts_per_tok;
    int64_t moe_intermediate_size;
    int32_t norm_topk_prob;            /* -1 absent, 0 false, 1 true */
    int64_t sliding_window;            /* 0 if absent or null */
    int64_t n_layer_types;             /* length of "layer_types", 0 if absent */
    const uint8_t *layer_types;        /* [n_layer_types] mlxn_hf_layer_type, borrowed */
    char torch_dtype[16];              /* "bfloat16", ... ("dtype" as fallback), "" if none */
    mlxn_hf_quant quant;
} mlxn_hf_config;

/* Parses JSON text (len bytes; name used in messages). FORMAT on bad JSON, a non-object
 * root, or a known key with the wrong JSON type (naming the key). */
mlxn_status mlxn_hf_config_parse(const char *json, size_t len, const char *name, mlxn_hf_config_t **out);
/* Reads and parses a config.json file. */
mlxn_status mlxn_hf_config_load(const char *path, mlxn_hf_config_t **out);
void mlxn_hf_config_free(mlxn_hf_config_t *c);
const char *mlxn_hf_config_last_error(const mlxn_hf_config_t *c);
/* The parsed fields. Borrowed; lives as long as c. */
const mlxn_hf_config *mlxn_hf_config_get(const mlxn_hf_config_t *c);

/* Raw access to any key, for architecture code. key is a dotted path into the JSON
 * ("rope_scaling.factor", "vision_config.hidden_size"); a path whose first component is
 * absent at the top level is also tried under "text_config". NOT_FOUND if absent (or JSON
 * null), TYPE if the value does not fit. Integers must be integral JSON numbers; bools
 * are accepted as 0/1 by get_int. Strings are borrowed, NUL-terminated. */
mlxn_status mlxn_hf_config_get_int(const mlxn_hf_config_t *c, const char *key, int64_t *out);
mlxn_status mlxn_hf_config_get_float(const mlxn_hf_config_t *c, const char *key, double *out);
mlxn_status mlxn_hf_config_get_bool(const mlxn_hf_config_t *c, const char *key, bool *out);
mlxn_status mlxn_hf_config_get_str(const mlxn_hf_config_t *c, const char *key, const char **out);
/* Arrays: count, then elements by index (same rules). TYPE if key is not an array. */
mlxn_status mlxn_hf_config_arr_len(const mlxn_hf_config_t *c, const char *key, int64_t *count);
mlxn_status mlxn_hf_config_arr_int(const mlxn_hf_config_t *c, const char *key, int64_t i, int64_t *out);
mlxn_status mlxn_hf_config_arr_float(const mlxn_hf_config_t *c, const char *key, int64_t i, double *out);
mlxn_status mlxn_hf_config_arr_str(const mlxn_hf_config_t *c, const char *key, int64_t i, const char **out);
/* The value at key re-serialised as compact JSON, into a malloc'd string the caller
 * frees (any type: object, array, scalar). */
mlxn_status mlxn_hf_config_get_json(const mlxn_hf_config_t *c, const char *key, char **out);

/* The MLX quantization of one module given the tensors that exist for it.
 * has_scales: whether "<module>.scales" exists; scales_type: its dtype.
 * Per-module override in the quantization block (exact module path): a dict with its own
 * group_size/bits/mode (missing ones inherit the block's), or false = not quantized.
 * *quantized = false (and OK) when has_scales is false. FORMAT when scales exist but the
 * config says the module is not quantized (or has no MLX block); UNSUPPORTED for modes
 * other than affine/mxfp4. scale_type is F16/BF16 (affine) or F8_E8M0 (mxfp4, u8 scales). */
mlxn_status mlxn_hf_config_module_quant(const mlxn_hf_config_t *c, const char *module, bool has_scales,
                                        mlxn_type scales_type, mlxn_mlx_quant *q, bool *quantized);

/* --- model folders -----------------------------------------------------------
 * A Hugging Face / mlx-lm folder: config.json plus either model.safetensors, or shards
 * listed by model.safetensors.index.json ("weight_map": name -> shard file), or (no index)
 * every *.safetensors file in the folder. Every shard is opened and validated; tensor
 * names must be unique across shards and every weight_map entry must be in its shard.
 * One lookup by name covers all shards. Tensors are numbered shard by shard (shards in
 * name order), file order within a shard. Tensor pointers borrow from the handle. */

typedef struct mlxn_folder mlxn_folder_t;

mlxn_status mlxn_folder_open(const char *dir, mlxn_folder_t **out);
void mlxn_folder_free(mlxn_folder_t *f);
const char *mlxn_folder_last_error(const mlxn_folder_t *f);
const char *mlxn_folder_path(const mlxn_folder_t *f);
/* The parsed config.json (borrowed) and its raw-key handle (borrowed). */
const mlxn_hf_config *mlxn_folder_config(const mlxn_folder_t *f);
const mlxn_hf_config_t *mlxn_folder_config_handle(const mlxn_folder_t *f);

int32_t mlxn_folder_shard_count(const mlxn_folder_t *f);
const mlxn_st_t *mlxn_folder_shard(const mlxn_folder_t *f, int32_t i);     /* NULL if out of range */
const char *mlxn_folder_shard_name(const mlxn_folder_t *f, int32_t i);     /* file name in the folder */

int64_t mlxn_folder_tensor_count(const mlxn_folder_t *f);
int64_t mlxn_folder_find_tensor(const mlxn_folder_t *f, const char *name); /* -1 if absent */
/* shard (optional, may be NULL) receives the tensor's shard index. */
mlxn_status mlxn_folder_get_tensor(const mlxn_folder_t *f, int64_t i, mlxn_st_tensor *out, int32_t *shard);
/* Finds by name; NOT_FOUND (naming the tensor) if absent. */
mlxn_status mlxn_folder_tensor(const mlxn_folder_t *f, const char *name, mlxn_st_tensor *out);

/* mlxn_hf_config_module_quant() with has_scales/scales_type taken from the folder's
 * tensors ("<module>.scales"), and the packed weight shape checked against the result:
 * weight U32 [..., in*bits/32], scales [..., in/group_size], biases present for affine. */
mlxn_status mlxn_folder_module_quant(const mlxn_folder_t *f, const char *module, mlxn_mlx_quant *q,
                                     bool *quantized);

/* ==========================================================================
 * Devices, buffers, streams, backends (section owned by src/backend)
 * ========================================================================== */

/* MLXN-SECTION: backend */

/* A device: the CPU (always present, listed first) and each CUDA GPU when the library was
 * built with CUDA and a GPU is visible. */
typedef enum mlxn_device_kind { MLXN_DEVICE_CPU = 0, MLXN_DEVICE_CUDA = 1 } mlxn_device_kind;
typedef struct mlxn_device_info {
    mlxn_device_kind kind;
    int index;                   /* CUDA ordinal; 0 for the CPU */
    char name[128];
    size_t total_memory;         /* bytes */
    size_t free_memory;          /* bytes, at the time of the call */
    int sm_count;                /* CUDA: multiprocessors; CPU: logical cores */
    int cc_major, cc_minor;      /* CUDA compute capability; 0 for the CPU */
    size_t l2_bytes;             /* CUDA L2 size; 0 if unknown */
    size_t smem_per_block;       /* CUDA opt-in shared memory per block; 0 for the CPU */
} mlxn_device_info;

/* Number of devices (>= 1). Never fails: a CUDA runtime error counts as no GPU. */
int mlxn_device_count(void);
mlxn_status mlxn_device_get_info(int i, mlxn_device_info *out);

/* A backend executes ops on one device, in order, on its current stream.
 * Names: "ref" (scalar CPU reference with double accumulation: the oracle), "cpu" (fast
 * CPU: SIMD + threads), "cuda" / "cuda:N" (GPU N). */
typedef struct mlxn_backend mlxn_backend_t;
mlxn_status mlxn_backend_open(const char *name, mlxn_backend_t **out);
void mlxn_backend_free(mlxn_backend_t *be);
const char *mlxn_backend_name(const mlxn_backend_t *be);
mlxn_device_kind mlxn_backend_device_kind(const mlxn_backend_t *be);
/* The message of the last failing call on this backend. Borrowed, lives with be. */
const char *mlxn_backend_last_error(const mlxn_backend_t *be);
/* CPU backends: number of threads (0 = all cores). Others ignore it. */
mlxn_status mlxn_backend_set_threads(mlxn_backend_t *be, int n_threads);
/* Waits for all work queued on the backend; reports errors that kernels raised
 * asynchronously (e.g. an expert id out of range on the GPU). */
mlxn_status mlxn_backend_sync(mlxn_backend_t *be);

/* Buffers: device memory owned by a backend (host memory for CPU backends). */
typedef struct mlxn_buffer mlxn_buffer_t;
mlxn_status mlxn_buffer_alloc(mlxn_backend_t *be, size_t size, mlxn_buffer_t **out);
/* CPU backends only: wrap caller memory (e.g. an mmap'd file) without copying. The memory
 * must outlive the buffer. */
mlxn_status mlxn_buffer_wrap_host(mlxn_backend_t *be, void *ptr, size_t size, mlxn_buffer_t **out);
/* A buffer aliasing [offset, offset+size) of parent; free it before the parent. */
mlxn_status mlxn_buffer_view(mlxn_buffer_t *parent, size_t offset, size_t size, mlxn_buffer_t **out);
void mlxn_buffer_free(mlxn_buffer_t *b);
size_t mlxn_buffer_size(const mlxn_buffer_t *b);
mlxn_backend_t *mlxn_buffer_backend(const mlxn_buffer_t *b);
/* Host pointer of a CPU buffer; NULL for device buffers. */
void *mlxn_buffer_host_ptr(const mlxn_buffer_t *b);
/* Copies in order with the backend's queued work. upload returns once src may be reused;
 * download returns once dst holds the data. */
mlxn_status mlxn_buffer_upload(mlxn_buffer_t *b, size_t offset, const void *src, size_t n);
mlxn_status mlxn_buffer_download(mlxn_buffer_t *b, size_t offset, void *dst, size_t n);
mlxn_status mlxn_buffer_fill(mlxn_buffer_t *b, size_t offset, uint8_t byte, size_t n);

/* Streams: independent queues on one backend. Ops go to the backend's current stream
 * (a default one unless set). */
typedef struct mlxn_stream mlxn_stream_t;
mlxn_status mlxn_stream_create(mlxn_backend_t *be, mlxn_stream_t **out);
void mlxn_stream_free(mlxn_stream_t *s);
mlxn_status mlxn_stream_sync(mlxn_stream_t *s);
/* NULL selects the default stream again. */
mlxn_status mlxn_backend_set_stream(mlxn_backend_t *be, mlxn_stream_t *s);

/* Events: timestamps on the current stream (for benchmarks). */
typedef struct mlxn_event mlxn_event_t;
mlxn_status mlxn_event_create(mlxn_backend_t *be, mlxn_event_t **out);
void mlxn_event_free(mlxn_event_t *e);
mlxn_status mlxn_event_record(mlxn_event_t *e);
/* Milliseconds between two recorded events (waits for the later one). */
mlxn_status mlxn_event_elapsed_ms(mlxn_event_t *start, mlxn_event_t *end, float *ms);

/* Graphs: record a sequence of op calls on a backend and replay it. Parameters that change
 * per replay (positions, token ids) must be read by the ops from device buffers, which is
 * how every op here takes them. CUDA: stream capture + cudaGraphExec; CPU: the recorded
 * call list. Between begin and end, ops are recorded, not run. */
typedef struct mlxn_graph mlxn_graph_t;
mlxn_status mlxn_graph_begin(mlxn_backend_t *be);
mlxn_status mlxn_graph_end(mlxn_backend_t *be, mlxn_graph_t **out);
mlxn_status mlxn_graph_replay(mlxn_graph_t *g);
void mlxn_graph_free(mlxn_graph_t *g);

/* ==========================================================================
 * Ops (section owned by src/ops)
 * ========================================================================== */

/* MLXN-SECTION: ops */

/* A tensor: a descriptor over bytes of a buffer. Every op validates that types, shapes and
 * strides fit and that the bytes lie inside the buffer, and returns MLXN_ERR_SHAPE /
 * MLXN_ERR_TYPE / MLXN_ERR_UNSUPPORTED with a message otherwise. Unless an op says so,
 * f32 activations must be contiguous in ne[0] (nb[0] = 4); higher strides are free. */
typedef struct mlxn_tensor {
    mlxn_buffer_t *buf;
    size_t offset;          /* bytes from the start of buf */
    mlxn_tensor_desc d;
} mlxn_tensor;
/* Contiguous tensor at buf+offset; fails if it does not fit in buf. */
mlxn_status mlxn_tensor_init(mlxn_tensor *t, mlxn_buffer_t *buf, size_t offset, mlxn_type type,
                             int n_dims, const int64_t *ne);

/* A weight matrix (or a stack of expert matrices) in any decodable type.
 *   GGML types:  w {k, rows[, n_expert]} of the block type; scales/biases unused.
 *   MLX:         w {k, rows[, n_expert]} of type MLXN_TYPE_MLX_Q{b} or MLX_MXFP4 (ne counts
 *                elements, not words), scales/biases {k/group_size, rows[, n_expert]}
 *                (F16/BF16; mxfp4: U8 E8M0 scales, no biases), quant.group_size set. */
typedef struct mlxn_weight {
    mlxn_tensor w;
    mlxn_tensor scales;
    mlxn_tensor biases;
    mlxn_mlx_quant quant;    /* MLX only; zero for GGML types */
} mlxn_weight;

typedef enum mlxn_op {
    MLXN_OP_MUL_MAT, MLXN_OP_MUL_MAT_ID, MLXN_OP_RMS_NORM, MLXN_OP_ADD_RMS_NORM,
    MLXN_OP_ADD, MLXN_OP_MUL, MLXN_OP_SCALE, MLXN_OP_ROPE, MLXN_OP_KV_WRITE,
    MLXN_OP_ATTENTION, MLXN_OP_SOFTMAX, MLXN_OP_UNARY, MLXN_OP_GLU, MLXN_OP_GET_ROWS,
    MLXN_OP_MOE_ROUTE, MLXN_OP_MOE_COMBINE, MLXN_OP_ARGMAX, MLXN_OP_TOP_K, MLXN_OP_COPY,
    MLXN_OP_MUL_MAT_FUSED,
    MLXN_OP_ROPE_KV,
    MLXN_OP_ARGMAX_ADVANCE,
    MLXN_OP_COUNT
} mlxn_op;
const char *mlxn_op_name(mlxn_op op);
/* Whether be runs op with the given main type (the weight type for mul_mat/mul_mat_id/
 * get_rows, the cache type for attention/kv_write/rope_kv, the destination type for copy, else F32). */
bool mlxn_backend_supports(const mlxn_backend_t *be, mlxn_op op, mlxn_type type);

/* y {rows, n} = W {k, rows} · x {k, n}   (y[j][r] = sum_i W[r][i] x[j][i]); f32 x, y.
 * Routes: mat-vec for n <= 8, tiled mat-mat above. */
mlxn_status mlxn_op_mul_mat(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x,
                            const mlxn_tensor *y);

/* Mixture of experts. W {k, rows, n_expert}; ids i32 {top_k, n_tokens};
 * x f32 {k, n_x, n_tokens} with n_x = 1 (one input broadcast to all chosen experts) or top_k;
 * y f32 {rows, top_k, n_tokens}:  y[t][j] = W[ids[t][j]] · x[t][n_x == 1 ? 0 : j].
 * An id outside [0, n_expert) is an error (reported at sync on asynchronous backends). */
mlxn_status mlxn_op_mul_mat_id(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids,
                               const mlxn_tensor *x, const mlxn_tensor *y);

/* y = x / sqrt(mean(x^2) + eps) * w, per row of ne[0]; w f32 {ne0} or NULL (no weight). */
mlxn_status mlxn_op_rms_norm(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *w, float eps,
                             const mlxn_tensor *y);
/* sum = x + r (sum may alias x or r); y = rms_norm(sum) * w. */
mlxn_status mlxn_op_add_rms_norm(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *r,
                                 const mlxn_tensor *w, float eps, const mlxn_tensor *sum,
                                 const mlxn_tensor *y);

/* Elementwise y = a + b, y = a * b with b broadcast (b.ne[i] == a.ne[i] or 1; a {1}-shaped b
 * is a scalar, e.g. a per-layer scale); y = x * s. y may alias a / x. All f32. */
mlxn_status mlxn_op_add(mlxn_backend_t *be, const mlxn_tensor *a, const mlxn_tensor *b, const mlxn_tensor *y);
mlxn_status mlxn_op_mul(mlxn_backend_t *be, const mlxn_tensor *a, const mlxn_tensor *b, const mlxn_tensor *y);
mlxn_status mlxn_op_scale(mlxn_backend_t *be, const mlxn_tensor *x, float s, const mlxn_tensor *y);

/* Rotary embedding. x, y f32 {head_dim, n_heads, n_tokens} (y may alias x); pos i32 {n_tokens}.
 * Pair i (0 <= i < n_rot/2) turns by theta = pos * freq_scale * base^(-2i/n_rot) / ff[i]
 * (ff = freq_factors f32 {n_rot/2}, or 1 when NULL). NORM pairs (x[2i], x[2i+1]); NEOX pairs
 * (x[i], x[i + n_rot/2]). Dimensions n_rot..head_dim-1 pass through unchanged. */
typedef enum mlxn_rope_mode { MLXN_ROPE_NORM = 0, MLXN_ROPE_NEOX = 1 } mlxn_rope_mode;
typedef struct mlxn_rope_params {
    mlxn_rope_mode mode;
    int n_rot;              /* even, <= head_dim */
    float freq_base;        /* e.g. 10000, 1e6 */
    float freq_scale;       /* 1 / linear scaling factor; 1 = none */
} mlxn_rope_params;
mlxn_status mlxn_op_rope(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *pos,
                         const mlxn_tensor *freq_factors, const mlxn_rope_params *p, const mlxn_tensor *y);
/* Llama 3.1 "llama3" rope scaling as freq factors (out has n_rot/2 entries). */
void mlxn_rope_llama3_factors(int n_rot, float freq_base, float factor, float low_freq_factor,
                              float high_freq_factor, int original_ctx, float *out);

/* KV cache write: cache[h][pos[t]][:] = src[t][h][:], converting f32 to the cache type.
 * src f32 {head_dim, n_kv_heads, n_tokens}; pos i32 {n_tokens};
 * cache {head_dim, n_ctx, n_kv_heads} of F32, F16 or BF16. pos >= n_ctx is an error. */
mlxn_status mlxn_op_kv_write(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *pos,
                             const mlxn_tensor *cache);

/* RoPE on q and k and the cache write of the rotated k and of v, in one call (the decode step's
 * link between the q|k|v projection and attention):
 *   q_out = rope(q)                           (q_out may alias q; it must not overlap k or v)
 *   k_cache[h][pos[t]][:] = rope(k[t][h])     converted to the cache type
 *   v_cache[h][pos[t]][:] = v[t][h]           converted to the cache type
 * q f32 {head_dim, n_heads, n}; k f32 {head_dim, n_kv, n}; v f32 {head_dim_v, n_kv, n}; strides
 * free (e.g. views of one q|k|v column). pos i32 {n}; freq_factors and p as for mlxn_op_rope;
 * q_out f32 like q; k_cache {head_dim, n_ctx, n_kv}, v_cache {head_dim_v, n_ctx, n_kv}, both of
 * one type, F32, F16 or BF16. k itself is not modified. The values written are those of
 * mlxn_op_rope followed by mlxn_op_kv_write. pos >= n_ctx (or < 0) is an error, as for kv_write. */
mlxn_status mlxn_op_rope_kv(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k, const mlxn_tensor *v,
                            const mlxn_tensor *pos, const mlxn_tensor *freq_factors, const mlxn_rope_params *p,
                            const mlxn_tensor *q_out, const mlxn_tensor *k_cache, const mlxn_tensor *v_cache);

/* Causal attention over a KV cache, one sequence.
 * q f32 {head_dim, n_heads, n_q}; k_cache {head_dim, n_ctx, n_kv_heads}; v_cache
 * {head_dim_v, n_ctx, n_kv_heads} (F32/F16/BF16, same type); q_pos i32 {n_q};
 * out f32 {head_dim_v, n_heads, n_q}. Query i of head h uses kv head h / (n_heads/n_kv_heads)
 * and sees key j iff j <= q_pos[i] and (window == 0 || q_pos[i] - j < window).
 * s = scale * q·k; if softcap > 0, s = softcap * tanh(s / softcap); softmax over visible j;
 * out = sum p_j v_j. Cache rows after max(q_pos) are never read. head_dim in {64,128,256,512}. */
typedef struct mlxn_attn_params {
    float scale;       /* e.g. 1/sqrt(head_dim) */
    float softcap;     /* 0 = off */
    int32_t window;    /* sliding window in positions; 0 = off */
    uint32_t flags;    /* MLXN_ATTN_* bits; 0 = none */
} mlxn_attn_params;
/* flags: MLXN_ATTN_HISTORY_READY promises that q_pos and every cache row before q_pos[i] were in
 * place before the current step began, i.e. no op issued since the last synchronisation (a
 * download, mlxn_backend_sync) or since the start of the replayed graph writes them; only the row
 * q_pos itself may be written by ops just before this one (rope_kv / kv_write of the step). A
 * backend may then read them early (CUDA: before the previous kernel ends). The decode step of
 * one token sets it; results are the same either way. */
enum { MLXN_ATTN_HISTORY_READY = 1u };
mlxn_status mlxn_op_attention(mlxn_backend_t *be, const mlxn_tensor *q, const mlxn_tensor *k_cache,
                              const mlxn_tensor *v_cache, const mlxn_tensor *q_pos,
                              const mlxn_attn_params *p, const mlxn_tensor *out);

/* Row softmax: s = x * scale; if softcap > 0, s = softcap * tanh(s / softcap); s += mask;
 * y = softmax(s) along ne[0]. x, y f32 {n, rows}; mask f32 {n, rows} or {n, 1} or NULL. */
mlxn_status mlxn_op_softmax(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *mask, float scale,
                            float softcap, const mlxn_tensor *y);

/* Activations. silu(x) = x / (1 + e^-x); gelu_tanh(x) = 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)));
 * tanh (with two scales: a logit softcap c tanh(x / c)). y may alias x.
 * GLU: y = act(gate) * up (swiglu: act = silu; geglu: act = gelu_tanh). f32, same shapes. */
typedef enum mlxn_unary { MLXN_UNARY_SILU = 0, MLXN_UNARY_GELU_TANH = 1, MLXN_UNARY_TANH = 2 } mlxn_unary;
typedef enum mlxn_glu { MLXN_GLU_SWIGLU = 0, MLXN_GLU_GEGLU = 1 } mlxn_glu;
mlxn_status mlxn_op_unary(mlxn_backend_t *be, mlxn_unary fn, const mlxn_tensor *x, const mlxn_tensor *y);
mlxn_status mlxn_op_glu(mlxn_backend_t *be, mlxn_glu fn, const mlxn_tensor *gate, const mlxn_tensor *up,
                        const mlxn_tensor *y);

/* mul_mat with a prologue on x and an epilogue on y, one launch where the backend can (the
 * CUDA mat-vec routes): the decode layer's rms_norm -> mat-vec, glu -> mat-vec and
 * mat-vec -> residual add become one op each.
 *   norm_w != NULL: x' = x / sqrt(mean(x^2 over k) + eps) * norm_w     (norm_w f32 {k})
 *   up     != NULL: x' = act(x) * up   (x is the gate; act per glu; up f32, same shape as x)
 *   (norm_w and up are exclusive; neither: x' = x)
 *   y = W . x'  (+ add)   add f32, same shape as y; add may be y itself (the same bytes, read
 *   before written: x += W . h) but must not otherwise overlap y.
 * Same weight types, shapes and routes as mlxn_op_mul_mat; op MLXN_OP_MUL_MAT_FUSED. */
typedef struct mlxn_mm_fusion {
    const mlxn_tensor *norm_w;   /* f32 {k} or NULL */
    float eps;                   /* norm epsilon (finite, >= 0) */
    const mlxn_tensor *up;       /* f32 {k, n} or NULL */
    mlxn_glu glu;                /* with up: MLXN_GLU_SWIGLU or MLXN_GLU_GEGLU */
    const mlxn_tensor *add;      /* f32 {rows, n} or NULL */
} mlxn_mm_fusion;
mlxn_status mlxn_op_mul_mat_fused(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *x,
                                  const mlxn_mm_fusion *f, const mlxn_tensor *y);

/* Embedding lookup: y[t] = dequantize(W[ids[t]]). W {k, n_rows} any decodable type;
 * ids i32 {n}; y f32 {k, n}. An id outside [0, n_rows) is an error. */
mlxn_status mlxn_op_get_rows(mlxn_backend_t *be, const mlxn_weight *W, const mlxn_tensor *ids,
                             const mlxn_tensor *y);

/* MoE routing. logits f32 {n_expert, n_tokens} -> ids i32 {k, n_tokens}, weights f32 {k, n_tokens},
 * experts ordered by decreasing weight (ties: lower id first).
 *   SOFTMAX:      p = softmax(all logits); take the top k of p.
 *   SIGMOID:      p = sigmoid(logits); take the top k.
 *   SOFTMAX_TOPK: take the top k logits; p = softmax over those k.
 * Then if renorm, divide the k weights by their sum; then multiply by scale and, if
 * expert_scale (f32 {n_expert}) is given, by expert_scale[id]. */
typedef enum mlxn_moe_gating { MLXN_MOE_SOFTMAX = 0, MLXN_MOE_SIGMOID = 1, MLXN_MOE_SOFTMAX_TOPK = 2 } mlxn_moe_gating;
typedef struct mlxn_moe_route_params {
    mlxn_moe_gating gating;
    int k;
    bool renorm;
    float scale;       /* 1 = none */
} mlxn_moe_route_params;
mlxn_status mlxn_op_moe_route(mlxn_backend_t *be, const mlxn_tensor *logits, const mlxn_moe_route_params *p,
                              const mlxn_tensor *expert_scale, const mlxn_tensor *ids, const mlxn_tensor *weights);
/* y[t] = sum_j weights[t][j] * expert_out[t][j] (+ residual[t]). expert_out f32 {rows, k, n_tokens};
 * weights f32 {k, n_tokens}; residual f32 {rows, n_tokens} or NULL; y f32 {rows, n_tokens}. */
mlxn_status mlxn_op_moe_combine(mlxn_backend_t *be, const mlxn_tensor *expert_out, const mlxn_tensor *weights,
                                const mlxn_tensor *residual, const mlxn_tensor *y);

/* Per row of x f32 {n, rows}: argmax -> out i32 {rows} (ties: lowest index);
 * top_k -> ids i32 {k, rows}, vals f32 {k, rows}, sorted by decreasing value (ties: lower index). */
mlxn_status mlxn_op_argmax(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *out);
/* Greedy decoding that hands the token over on the device (a replayed decode step feeds the
 * next one without the host). x f32 {n, 1} (one row of logits); step i32 {2} = {token id,
 * position} of the step that produced x; hist i32 {cap}. With id = argmax(x) (ties: lowest
 * index, as mlxn_op_argmax):  step[1] += 1;  step[0] = id;  hist[step[1] mod cap] = id
 * (step[1] is then the position the new token will be run at; mod gives 0..cap-1). step and
 * hist must not overlap each other or x. */
mlxn_status mlxn_op_argmax_advance(mlxn_backend_t *be, const mlxn_tensor *x, const mlxn_tensor *step,
                                   const mlxn_tensor *hist);
mlxn_status mlxn_op_top_k(mlxn_backend_t *be, const mlxn_tensor *x, int k, const mlxn_tensor *ids,
                          const mlxn_tensor *vals);

/* Copy with conversion between F32, F16 and BF16 (same shape; strides free). */
mlxn_status mlxn_op_copy(mlxn_backend_t *be, const mlxn_tensor *src, const mlxn_tensor *dst);

/* ==========================================================================
 * Engine: tokenizer, model, generation (section owned by src/engine)
 * ========================================================================== */

/* MLXN-SECTION: engine */

/* ---- Tokenizer ------------------------------------------------------------
 * Built from a GGUF file's tokenizer.ggml.* metadata (see docs/ARCHITECTURE.md,
 * "Engine: tokenizer"): model "gpt2" (byte-level BPE; pre-tokenizers gpt-2/default,
 * llama-bpe/llama3, qwen2, smollm), "gemma4" (BPE over UTF-8 characters with byte
 * fallback) and "llama" (SentencePiece BPE with byte fallback).
 * The tokenizer copies what it needs: the GGUF handle may be freed afterwards. A built
 * tokenizer is read-only, so one handle may be used from several threads at once. */

typedef struct mlxn_tokenizer mlxn_tokenizer_t;

/* Token types, as stored in tokenizer.ggml.token_type. */
typedef enum mlxn_token_type {
    MLXN_TOKEN_UNDEFINED = 0, MLXN_TOKEN_NORMAL = 1, MLXN_TOKEN_UNKNOWN = 2,
    MLXN_TOKEN_CONTROL = 3, MLXN_TOKEN_USER_DEFINED = 4, MLXN_TOKEN_UNUSED = 5,
    MLXN_TOKEN_BYTE = 6
} mlxn_token_type;

/* Reads the tokenizer of g. Fails with NOT_FOUND naming a missing key, TYPE for a key of
 * the wrong type, FORMAT for inconsistent arrays (counts, merges naming unknown tokens),
 * UNSUPPORTED for an unknown tokenizer.ggml.model. */
mlxn_status mlxn_tokenizer_from_gguf(const mlxn_gguf_t *g, mlxn_tokenizer_t **out);
/* Reads a Hugging Face tokenizer: path is a folder holding tokenizer.json, or the
 * tokenizer.json file itself; tokenizer_config.json (bos/eos/unk/pad_token, add_bos_token,
 * add_eos_token, chat_template) and chat_template.jinja beside it are read when present.
 * Supported: model.type "BPE" with a ByteLevel pre-tokenizer, alone or after a Split whose
 * regex is a known one (GPT-2, Llama 3, Qwen2, Qwen3.5) or individual Digits (SmolLM2), and
 * SentencePiece-style BPE ("▁" spaces from a Replace normalizer or Metaspace, byte_fallback).
 * added_tokens: special ones act as control tokens, the others as user-defined tokens.
 * Fails with NOT_FOUND / IO for a missing or unreadable file, FORMAT for malformed JSON or
 * merges naming strings outside the vocabulary, UNSUPPORTED naming an unknown model type,
 * pre-tokenizer, normalizer or post-processor. */
mlxn_status mlxn_tokenizer_load_hf(const char *path, mlxn_tokenizer_t **out);
void mlxn_tokenizer_free(mlxn_tokenizer_t *t);

int32_t mlxn_tokenizer_n_vocab(const mlxn_tokenizer_t *t);
const char *mlxn_tokenizer_model(const mlxn_tokenizer_t *t);  /* "gpt2", "llama" */
const char *mlxn_tokenizer_pre(const mlxn_tokenizer_t *t);    /* pre-tokenizer name in use */
/* Special ids; -1 when the vocabulary has none. */
int32_t mlxn_tokenizer_bos(const mlxn_tokenizer_t *t);
int32_t mlxn_tokenizer_eos(const mlxn_tokenizer_t *t);
int32_t mlxn_tokenizer_eot(const mlxn_tokenizer_t *t);
int32_t mlxn_tokenizer_unk(const mlxn_tokenizer_t *t);
int32_t mlxn_tokenizer_pad(const mlxn_tokenizer_t *t);
bool mlxn_tokenizer_add_bos(const mlxn_tokenizer_t *t);   /* tokenize(add_special) prepends BOS */
bool mlxn_tokenizer_add_eos(const mlxn_tokenizer_t *t);   /* tokenize(add_special) appends EOS */
/* End of generation: EOS, EOT, and control tokens that end a turn (<|im_end|>, <|eot_id|>,
 * <end_of_turn>, <|endoftext|>, ...). */
bool mlxn_tokenizer_is_eog(const mlxn_tokenizer_t *t, int32_t id);
mlxn_token_type mlxn_tokenizer_token_type(const mlxn_tokenizer_t *t, int32_t id); /* UNDEFINED if out of range */
/* The vocabulary entry of id as stored ("Ġhello", "▁the", "<0x0A>"); {NULL, 0} if out of
 * range. Borrowed: lives as long as t. */
mlxn_str mlxn_tokenizer_token_text(const mlxn_tokenizer_t *t, int32_t id);
/* The id whose vocabulary entry is exactly text[0..len), or -1. */
int32_t mlxn_tokenizer_find_token(const mlxn_tokenizer_t *t, const char *text, size_t len);
/* tokenizer.chat_template (NUL-terminated) or NULL if the file has none. Borrowed. */
const char *mlxn_tokenizer_chat_template(const mlxn_tokenizer_t *t);

/* Tokenizes text[0..len) (any bytes; invalid UTF-8 is carried through byte tokens).
 * add_special: BOS/EOS per tokenizer.ggml.add_bos_token / add_eos_token.
 * parse_special: control tokens written in the text ("<|im_start|>") become their ids;
 * user-defined tokens are always matched whole, as the reference tokenizers do.
 * Writes up to capacity ids and sets *n_tokens to the full count; if the count exceeds
 * capacity it fails with INVALID_ARG (call with ids = NULL, capacity = 0 to size a buffer). */
mlxn_status mlxn_tokenize(const mlxn_tokenizer_t *t, const char *text, size_t len, bool add_special,
                          bool parse_special, int32_t *ids, size_t capacity, size_t *n_tokens);

/* Detokenization flags. */
enum {
    MLXN_DETOK_SPECIAL = 1,       /* render control tokens as their text (otherwise nothing) */
    MLXN_DETOK_STRIP_PREFIX = 2,  /* drop the leading space that the SentencePiece space prefix
                                     added (only when the tokenizer adds one); for decoding a
                                     whole prompt, not a continuation */
};

/* The bytes of one token: byte-level BPE characters mapped back to bytes, "▁" to space,
 * "<0xXX>" to its byte. May be an incomplete UTF-8 sequence. Control tokens give their
 * text when special is true, nothing otherwise. Borrowed: lives as long as t. */
mlxn_status mlxn_token_to_piece(const mlxn_tokenizer_t *t, int32_t id, bool special, const char **piece,
                                size_t *len);
/* The bytes of ids[0..n) with MLXN_DETOK_* flags into buf; *len is the full length (NUL
 * added when it fits). Fails with INVALID_ARG if cap is too small (buf may be NULL then). */
mlxn_status mlxn_detokenize(const mlxn_tokenizer_t *t, const int32_t *ids, size_t n, unsigned flags,
                            char *buf, size_t cap, size_t *len);

/* Streaming detokenizer: push tokens one at a time; each push returns the bytes that are
 * complete now. A UTF-8 sequence split across tokens is held back until it is complete,
 * so no output ever ends inside a character; bytes that can never form a valid sequence
 * are passed through as they come. The concatenation of every push plus flush equals
 * mlxn_detokenize of the same ids and flags. */
typedef struct mlxn_detokenizer mlxn_detokenizer_t;
mlxn_status mlxn_detokenizer_new(const mlxn_tokenizer_t *t, unsigned flags, mlxn_detokenizer_t **out);
void mlxn_detokenizer_free(mlxn_detokenizer_t *d);
/* *text is borrowed until the next call on d; *len may be 0. */
mlxn_status mlxn_detokenizer_push(mlxn_detokenizer_t *d, int32_t id, const char **text, size_t *len);
/* Returns whatever is held back (an incomplete sequence at the end of the stream). */
mlxn_status mlxn_detokenizer_flush(mlxn_detokenizer_t *d, const char **text, size_t *len);
/* Forgets held bytes and starts a new stream (the prefix strip applies again). */
void mlxn_detokenizer_reset(mlxn_detokenizer_t *d);

/* ---- Sampling ---------------------------------------------------------------
 * Picks the next token from a row of logits. Order of the steps (as llama.cpp's default
 * chain): repetition / frequency / presence penalties over the recent history, then
 * greedy (temperature <= 0) or top-k -> top-p -> min-p (both measured on the distribution
 * left by top-k at temperature 1) -> temperature -> a draw from the sampler's own RNG.
 * Deterministic: the same seed, history and logits give the same tokens on every machine. */

#define MLXN_SAMPLER_SEED_RANDOM UINT64_MAX   /* seed from the clock */

typedef struct mlxn_sampler_params {
    float temperature;        /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;            /* keep the k most likely; <= 0: off */
    float top_p;              /* keep the smallest set with probability >= top_p; >= 1: off */
    float min_p;              /* keep tokens with p >= min_p * p_max; <= 0: off */
    float repeat_penalty;     /* > 1 discourages recent tokens (logit / pen if > 0, * pen if < 0); 1: off */
    float frequency_penalty;  /* logit -= count * frequency_penalty; 0: off */
    float presence_penalty;   /* logit -= presence_penalty if the token occurred; 0: off */
    int32_t penalty_last_n;   /* history window (most recent tokens) for the penalties; 0: none */
    uint64_t seed;            /* RNG seed, or MLXN_SAMPLER_SEED_RANDOM */
} mlxn_sampler_params;

/* temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, penalties off (repeat 1.0, last_n 64),
 * seed MLXN_SAMPLER_SEED_RANDOM. */
mlxn_sampler_params mlxn_sampler_default_params(void);

typedef struct mlxn_sampler mlxn_sampler_t;
/* Checks the parameters (no NaN; top_p and min_p in [0, 1]; repeat_penalty > 0;
 * penalty_last_n >= 0) and allocates everything the hot path needs for n_vocab logits. */
mlxn_status mlxn_sampler_new(const mlxn_sampler_params *p, int32_t n_vocab, mlxn_sampler_t **out);
void mlxn_sampler_free(mlxn_sampler_t *s);
/* Picks a token from logits[0..n_vocab) (not modified) and records it in the history.
 * Fails with INVALID_ARG if a logit is NaN or every logit is -inf. Allocates nothing. */
mlxn_status mlxn_sampler_sample(mlxn_sampler_t *s, const float *logits, int32_t *token);
/* Records a token that was not sampled (prompt tokens) in the penalty history. */
void mlxn_sampler_accept(mlxn_sampler_t *s, int32_t token);
/* Clears the history and restarts the RNG from the seed. */
void mlxn_sampler_reset(mlxn_sampler_t *s);
/* The seed in use (the clock's when MLXN_SAMPLER_SEED_RANDOM was asked). */
uint64_t mlxn_sampler_seed(const mlxn_sampler_t *s);

/* ---- Chat templates -----------------------------------------------------------
 * Built-in renderings of the chat formats of the families mlxn runs, chosen by recognising
 * the Jinja text in tokenizer.chat_template (no Jinja interpreter). The rendered text holds
 * the control tokens as text: tokenize it with parse_special = true and add_special = true
 * (BOS comes from the tokenizer, never from the rendering).
 *  - chatml (SmolLM2, Qwen2/2.5/3): "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message,
 *    "<|im_start|>assistant\n" to prompt; a default system message written literally in
 *    the template (SmolLM2's, Qwen2.5's) is used when the first message is not a system one.
 *  - llama3: "<|start_header_id|>ROLE<|end_header_id|>\n\nCONTENT<|eot_id|>" (content
 *    trimmed), "<|start_header_id|>assistant<|end_header_id|>\n\n" to prompt.
 *  - gemma (Gemma 2/3): "<start_of_turn>ROLE\nCONTENT<end_of_turn>\n" with assistant ->
 *    model, a system message folded into the first user turn ("SYSTEM\n\nUSER"),
 *    "<start_of_turn>model\n" to prompt.
 *  - gemma4: "<|turn>ROLE\nCONTENT<turn|>\n" (content trimmed, assistant -> model), a first
 *    system message as its own turn, "<|turn>model\n<|channel>thought\n<channel|>" to
 *    prompt (thinking off). */

typedef enum mlxn_chat_format {
    MLXN_CHAT_CHATML = 1, MLXN_CHAT_LLAMA3 = 2, MLXN_CHAT_GEMMA = 3, MLXN_CHAT_GEMMA4 = 4
} mlxn_chat_format;

typedef struct mlxn_chat_message {
    const char *role;      /* "system", "user", "assistant" */
    const char *content;   /* NUL-terminated */
} mlxn_chat_message;

typedef struct mlxn_chat_template mlxn_chat_template_t;
/* Recognises template text; UNSUPPORTED (naming what was looked for) if it fits no format. */
mlxn_status mlxn_chat_template_from_text(const char *jinja, mlxn_chat_template_t **out);
/* "chatml", "llama3", "gemma", "gemma4"; NOT_FOUND otherwise. */
mlxn_status mlxn_chat_template_from_name(const char *name, mlxn_chat_template_t **out);
/* The tokenizer's chat_template if it has one, else the format whose markers are tokens of
 * the vocabulary; UNSUPPORTED if neither tells. */
mlxn_status mlxn_chat_template_for_tokenizer(const mlxn_tokenizer_t *tok, mlxn_chat_template_t **out);
void mlxn_chat_template_free(mlxn_chat_template_t *t);
mlxn_chat_format mlxn_chat_template_format(const mlxn_chat_template_t *t);
const char *mlxn_chat_template_name(const mlxn_chat_template_t *t);   /* "chatml", ... */
/* The default system message (borrowed, "" if none). */
const char *mlxn_chat_template_default_system(const mlxn_chat_template_t *t);
/* Renders msgs[0..n) into buf (NUL added when it fits); *len is the full length. Fails with
 * INVALID_ARG for a NULL/empty role or NULL content, or if cap is too small (buf may be
 * NULL then, to size it). */
mlxn_status mlxn_chat_render(const mlxn_chat_template_t *t, const mlxn_chat_message *msgs, size_t n,
                             bool add_generation_prompt, char *buf, size_t cap, size_t *len);

/* --- Models (src/engine/model.c) ------------------------------------------------------
 * A model is a GGUF file's hyper-parameters and weights placed on one backend. On CPU
 * backends the weights stay in the memory-mapped file (no copy); on GPU backends they are
 * uploaded once at load. Architectures: llama (Llama 2/3, SmolLM2), qwen2, qwen3.
 * A directory is read as a Hugging Face / mlx-lm folder (config.json + *.safetensors;
 * model_type llama, qwen2, qwen3; f32/f16/bf16 or MLX affine weights), its weights copied
 * into one backend buffer; errors name the folder, file, key or tensor (docs/engine.md). */
typedef struct mlxn_model mlxn_model_t;

typedef struct mlxn_model_params {
    /* Called while weights are placed: fraction in [0, 1]. May be NULL. */
    void (*progress)(float fraction, void *user);
    void *progress_user;
} mlxn_model_params;
mlxn_model_params mlxn_model_default_params(void);

/* Loads path onto be (which must outlive the model). Errors name the file and the missing
 * key or tensor (MLXN_ERR_NOT_FOUND), a tensor of the wrong shape or type (MLXN_ERR_FORMAT /
 * MLXN_ERR_TYPE), a weight type the backend cannot run or the architecture that is not
 * supported (MLXN_ERR_UNSUPPORTED); a missing file is MLXN_ERR_NOT_FOUND, an unreadable one
 * MLXN_ERR_IO (as mlxn_gguf_open reports them). */
mlxn_status mlxn_model_load(const char *path, mlxn_backend_t *be, const mlxn_model_params *params,
                            mlxn_model_t **out);
void mlxn_model_free(mlxn_model_t *m);

/* What a model is. Strings are borrowed and live with the model. */
typedef struct mlxn_model_info {
    const char *arch;            /* "llama", "qwen2", "qwen3" */
    const char *name;            /* general.name, or "" */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_vocab;
    int n_ctx_train;             /* the context length the model was trained for */
    int64_t n_params;            /* elements in all weights */
    size_t weight_bytes;         /* bytes of all weights as stored */
    int32_t bos_id, eos_id, eot_id;   /* -1 when the file has none */
} mlxn_model_info;
const mlxn_model_info *mlxn_model_get_info(const mlxn_model_t *m);
/* The GGUF file the model was read from (for the tokenizer and chat template); NULL for a
 * model folder. Borrowed: lives with the model. */
const mlxn_gguf_t *mlxn_model_gguf(const mlxn_model_t *m);
mlxn_backend_t *mlxn_model_backend(const mlxn_model_t *m);

/* --- Contexts: KV cache + scratch for one sequence (src/engine/context.c) ------------- */
typedef struct mlxn_context mlxn_context_t;

typedef struct mlxn_context_params {
    int n_ctx;          /* positions in the KV cache; 0 = the model's context length, capped so
                           the cache takes at most half of the device's free memory */
    int n_batch;        /* tokens per prefill step (mat-mat route); default 512 */
    mlxn_type kv_type;  /* MLXN_TYPE_F16 (default), MLXN_TYPE_BF16 or MLXN_TYPE_F32 */
    int use_graph;      /* decode step as a recorded graph replayed per token:
                           -1 = auto (CUDA only, default), 0 = never, 1 = always */
} mlxn_context_params;
mlxn_context_params mlxn_context_default_params(void);

mlxn_status mlxn_context_new(mlxn_model_t *m, const mlxn_context_params *params, mlxn_context_t **out);
void mlxn_context_free(mlxn_context_t *c);
int mlxn_context_n_ctx(const mlxn_context_t *c);
int mlxn_context_n_past(const mlxn_context_t *c);       /* positions already in the cache */
size_t mlxn_context_kv_bytes(const mlxn_context_t *c);  /* size of the KV cache */
/* Forgets the sequence (the cache is reused from position 0). */
void mlxn_context_reset(mlxn_context_t *c);
/* Keeps the first n positions (0 <= n <= n_past) and forgets the rest, e.g. to reuse the
 * common prefix of a re-rendered chat. */
mlxn_status mlxn_context_truncate(mlxn_context_t *c, int n);
/* Message of the last failing call on c. Borrowed, lives with c. */
const char *mlxn_context_last_error(const mlxn_context_t *c);

/* Runs n tokens at positions n_past .. n_past+n-1 (prefill in chunks of n_batch, decode when
 * n == 1) and appends them to the cache. logits: NULL, or n_vocab floats that receive the
 * last token's logits. MLXN_ERR_CONTEXT_FULL (nothing is run) when n_past + n > n_ctx. */
mlxn_status mlxn_decode(mlxn_context_t *c, const int32_t *tokens, int n, float *logits);
/* Same, but logits receives every token's row: n * n_vocab floats (teacher forcing). */
mlxn_status mlxn_decode_all(mlxn_context_t *c, const int32_t *tokens, int n, float *logits);

/* --- Generation loop ---------------------------------------------------------------- */

/* Picks the next token from the last logits (n_vocab floats, may be modified). history holds
 * the n_hist tokens so far (prompt + generated). Returns a token id, or < 0 to stop with an
 * error. NULL sampler = greedy (argmax on the device: ties go to the lower id). */
typedef int32_t (*mlxn_sample_fn)(float *logits, int n_vocab, const int32_t *history, int n_hist,
                                  void *user);
/* Receives each generated token; return false to stop. */
typedef bool (*mlxn_token_fn)(int32_t token, void *user);

typedef struct mlxn_generate_params {
    int n_predict;              /* most tokens to generate; < 0 = until the context is full */
    bool stop_at_eos;           /* stop after the model's EOS/EOT token (it is still reported) */
    mlxn_sample_fn sample;      /* NULL = greedy */
    void *sample_user;
    mlxn_token_fn on_token;     /* may be NULL */
    void *token_user;
} mlxn_generate_params;
mlxn_generate_params mlxn_generate_default_params(void);

typedef struct mlxn_generate_stats {
    int n_prompt, n_gen;        /* tokens prefilled and generated */
    int n_decode;               /* single-token decode steps whose tokens were used (the first
                                   generated token comes from the prefill, so normally n_gen - 1;
                                   greedy steps queued ahead and dropped at a stop are not counted) */
    double prompt_ms, gen_ms;   /* wall time of the prefill and of the decode steps */
} mlxn_generate_stats;

/* Prefills prompt (appended at n_past) and generates up to n_predict tokens. out_tokens
 * (may be NULL) receives the generated ids, at most out_cap of them. The last generated token
 * is reported but not run: the cache ends with the token before it (a caller continuing the
 * sequence passes it first in the next prompt). */
mlxn_status mlxn_generate(mlxn_context_t *c, const int32_t *prompt, int n_prompt,
                          const mlxn_generate_params *params, int32_t *out_tokens, int out_cap,
                          mlxn_generate_stats *stats);

#ifdef __cplusplus
}
#endif
#endif /* MLXN_H */
