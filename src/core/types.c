/* The type traits table (name, block elements, block bytes) and tensor descriptors. */
#include "core/status.h"
#include "formats/blocks.h"

#define PLAIN(n, b) { n, 1, b, false, true }
#define BLOCK(n, e, b, dec) { n, e, b, true, dec }

static const mlxn_type_traits traits[MLXN_TYPE_COUNT] = {
    [MLXN_TYPE_F32] = PLAIN("f32", 4),
    [MLXN_TYPE_F16] = PLAIN("f16", 2),
    [MLXN_TYPE_Q4_0] = BLOCK("q4_0", 32, sizeof(mlxn_block_q4_0), true),
    [MLXN_TYPE_Q4_1] = BLOCK("q4_1", 32, sizeof(mlxn_block_q4_1), true),
    [MLXN_TYPE_Q5_0] = BLOCK("q5_0", 32, sizeof(mlxn_block_q5_0), true),
    [MLXN_TYPE_Q5_1] = BLOCK("q5_1", 32, sizeof(mlxn_block_q5_1), true),
    [MLXN_TYPE_Q8_0] = BLOCK("q8_0", 32, sizeof(mlxn_block_q8_0), true),
    [MLXN_TYPE_Q8_1] = BLOCK("q8_1", 32, sizeof(mlxn_block_q8_1), true),
    [MLXN_TYPE_Q2_K] = BLOCK("q2_K", 256, sizeof(mlxn_block_q2_K), true),
    [MLXN_TYPE_Q3_K] = BLOCK("q3_K", 256, sizeof(mlxn_block_q3_K), true),
    [MLXN_TYPE_Q4_K] = BLOCK("q4_K", 256, sizeof(mlxn_block_q4_K), true),
    [MLXN_TYPE_Q5_K] = BLOCK("q5_K", 256, sizeof(mlxn_block_q5_K), true),
    [MLXN_TYPE_Q6_K] = BLOCK("q6_K", 256, sizeof(mlxn_block_q6_K), true),
    [MLXN_TYPE_Q8_K] = BLOCK("q8_K", 256, sizeof(mlxn_block_q8_K), true),
    [MLXN_TYPE_IQ2_XXS] = BLOCK("iq2_xxs", 256, 66, false),
    [MLXN_TYPE_IQ2_XS] = BLOCK("iq2_xs", 256, 74, false),
    [MLXN_TYPE_IQ3_XXS] = BLOCK("iq3_xxs", 256, 98, false),
    [MLXN_TYPE_IQ1_S] = BLOCK("iq1_s", 256, 50, false),
    [MLXN_TYPE_IQ4_NL] = BLOCK("iq4_nl", 32, sizeof(mlxn_block_iq4_nl), true),
    [MLXN_TYPE_IQ3_S] = BLOCK("iq3_s", 256, 110, false),
    [MLXN_TYPE_IQ2_S] = BLOCK("iq2_s", 256, 82, false),
    [MLXN_TYPE_IQ4_XS] = BLOCK("iq4_xs", 256, sizeof(mlxn_block_iq4_xs), true),
    [MLXN_TYPE_I8] = PLAIN("i8", 1),
    [MLXN_TYPE_I16] = PLAIN("i16", 2),
    [MLXN_TYPE_I32] = PLAIN("i32", 4),
    [MLXN_TYPE_I64] = PLAIN("i64", 8),
    [MLXN_TYPE_F64] = PLAIN("f64", 8),
    [MLXN_TYPE_IQ1_M] = BLOCK("iq1_m", 256, 56, false),
    [MLXN_TYPE_BF16] = PLAIN("bf16", 2),
    [MLXN_TYPE_TQ1_0] = BLOCK("tq1_0", 256, 54, false),
    [MLXN_TYPE_TQ2_0] = BLOCK("tq2_0", 256, 66, false),
    [MLXN_TYPE_MXFP4] = BLOCK("mxfp4", 32, sizeof(mlxn_block_mxfp4), true),
    [MLXN_TYPE_U8] = PLAIN("u8", 1),
    [MLXN_TYPE_U16] = PLAIN("u16", 2),
    [MLXN_TYPE_U32] = PLAIN("u32", 4),
    [MLXN_TYPE_U64] = PLAIN("u64", 8),
    [MLXN_TYPE_BOOL] = PLAIN("bool", 1),
    [MLXN_TYPE_F8_E4M3] = PLAIN("f8_e4m3", 1),
    [MLXN_TYPE_F8_E5M2] = PLAIN("f8_e5m2", 1),
    [MLXN_TYPE_F8_E8M0] = PLAIN("f8_e8m0", 1),
    /* MLX packed words: 32 elements occupy exactly `bits` u32 words. Not decodable alone
     * (scales/biases live elsewhere): use mlxn_mlx_dequantize_row. */
    [MLXN_TYPE_MLX_Q2] = BLOCK("mlx_q2", 32, 8, false),
    [MLXN_TYPE_MLX_Q3] = BLOCK("mlx_q3", 32, 12, false),
    [MLXN_TYPE_MLX_Q4] = BLOCK("mlx_q4", 32, 16, false),
    [MLXN_TYPE_MLX_Q5] = BLOCK("mlx_q5", 32, 20, false),
    [MLXN_TYPE_MLX_Q6] = BLOCK("mlx_q6", 32, 24, false),
    [MLXN_TYPE_MLX_Q8] = BLOCK("mlx_q8", 32, 32, false),
    [MLXN_TYPE_MLX_MXFP4] = BLOCK("mlx_mxfp4", 32, 16, false),
};

const mlxn_type_traits *mlxn_type_info(mlxn_type t) {
    if ((int)t < 0 || (int)t >= MLXN_TYPE_COUNT || !traits[t].name) return NULL;
    return &traits[t];
}

const char *mlxn_type_name(mlxn_type t) {
    const mlxn_type_traits *tt = mlxn_type_info(t);
    return tt ? tt->name : "unknown";
}

size_t mlxn_row_size(mlxn_type t, int64_t n) {
    const mlxn_type_traits *tt = mlxn_type_info(t);
    if (!tt || n < 0 || n % tt->block_elems) return 0;
    return (size_t)(n / tt->block_elems) * tt->block_bytes;
}

mlxn_status mlxn_tensor_desc_init(mlxn_tensor_desc *d, mlxn_type type, int n_dims, const int64_t *ne) {
    const mlxn_type_traits *tt = mlxn_type_info(type);
    if (!d || !ne) return mlxn_fail(MLXN_ERR_INVALID_ARG, "tensor_desc_init: NULL argument");
    if (!tt) return mlxn_fail(MLXN_ERR_TYPE, "tensor_desc_init: unknown type id %d", (int)type);
    if (n_dims < 1 || n_dims > MLXN_MAX_DIMS)
        return mlxn_fail(MLXN_ERR_SHAPE, "tensor_desc_init: n_dims %d outside 1..4", n_dims);
    d->type = type;
    d->n_dims = n_dims;
    for (int i = 0; i < MLXN_MAX_DIMS; i++) {
        int64_t v = i < n_dims ? ne[i] : 1;
        if (v <= 0) return mlxn_fail(MLXN_ERR_SHAPE, "tensor_desc_init: ne[%d] = %lld is not positive", i, (long long)v);
        d->ne[i] = v;
    }
    if (d->ne[0] % tt->block_elems)
        return mlxn_fail(MLXN_ERR_SHAPE, "tensor_desc_init: ne[0] = %lld is not a multiple of %s's block of %lld",
                         (long long)d->ne[0], tt->name, (long long)tt->block_elems);
    d->nb[0] = tt->block_bytes;
    d->nb[1] = (size_t)(d->ne[0] / tt->block_elems) * tt->block_bytes;
    for (int i = 2; i < MLXN_MAX_DIMS; i++) {
        if (d->nb[i - 1] > SIZE_MAX / (size_t)d->ne[i - 1])
            return mlxn_fail(MLXN_ERR_SHAPE, "tensor_desc_init: byte size overflows");
        d->nb[i] = d->nb[i - 1] * (size_t)d->ne[i - 1];
    }
    if (d->nb[3] > SIZE_MAX / (size_t)d->ne[3]) return mlxn_fail(MLXN_ERR_SHAPE, "tensor_desc_init: byte size overflows");
    return MLXN_OK;
}

int64_t mlxn_tensor_desc_nelements(const mlxn_tensor_desc *d) { return d->ne[0] * d->ne[1] * d->ne[2] * d->ne[3]; }

size_t mlxn_tensor_desc_nbytes(const mlxn_tensor_desc *d) {
    return mlxn_row_size(d->type, d->ne[0]) * (size_t)(d->ne[1] * d->ne[2] * d->ne[3]);
}

bool mlxn_tensor_desc_is_contiguous(const mlxn_tensor_desc *d) {
    const mlxn_type_traits *tt = mlxn_type_info(d->type);
    if (!tt || d->nb[0] != tt->block_bytes) return false;
    size_t expect = mlxn_row_size(d->type, d->ne[0]);
    for (int i = 1; i < MLXN_MAX_DIMS; i++) {
        if (d->ne[i] > 1 && d->nb[i] != expect) return false;
        expect *= (size_t)d->ne[i];
    }
    return true;
}
