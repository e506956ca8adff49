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

/* ---- Tokenizer ------------------------------------------------------------
 * Built from a GGUF file's tokenizer.ggml.* metadata (see docs/ARCHITECTURE.md,
 * "Engine: tokenizer"): model "gpt2" (byte-level BPE; pre-tokenizers gpt-2/default,
 * llama-bpe/llama3, qwen2, smollm) and "llama" (SentencePiece BPE with byte fallback).
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
 *  - gemma: "<start_of_turn>ROLE\nCONTENT<end_of_turn>\n" with assistant -> model, a system
 *    message folded into the first user turn ("SYSTEM\n\nUSER"), "<start_of_turn>model\n". */

typedef enum mlxn_chat_format {
    MLXN_CHAT_CHATML = 1, MLXN_CHAT_LLAMA3 = 2, MLXN_CHAT_GEMMA = 3
} mlxn_chat_format;

typedef struct mlxn_chat_message {
    const char *role;      /* "system", "user", "assistant" */
    const char *content;   /* NUL-terminated */
} mlxn_chat_message;

typedef struct mlxn_chat_template mlxn_chat_template_t;
/* Recognises template text; UNSUPPORTED (naming what was looked for) if it fits no format. */
mlxn_status mlxn_chat_template_from_text(const char *jinja, mlxn_chat_template_t **out);
/* "chatml", "llama3", "gemma"; NOT_FOUND otherwise. */
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

#ifdef __cplusplus
}
#endif
#endif /* MLXN_H */
