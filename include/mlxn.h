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
