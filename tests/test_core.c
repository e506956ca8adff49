/* Core: status strings, type traits, fp16/bf16 conversions, tensor descriptors. */
#include "core/half.h"
#include "core/status.h"
#include "testutil.h"
#include <math.h>
#include <string.h>

static void test_status(void) {
    CHECK(!strcmp(mlxn_status_str(MLXN_OK), "ok"));
    CHECK(strcmp(mlxn_status_str(MLXN_ERR_FORMAT), "unknown status") != 0);
    CHECK(mlxn_fail(MLXN_ERR_FORMAT, "bad thing at offset %d", 42) == MLXN_ERR_FORMAT);
    CHECK(!strcmp(mlxn_last_error(), "bad thing at offset 42"));
}

static void test_traits(void) {
    static const struct { mlxn_type t; const char *name; int64_t blck; size_t bytes; } cases[] = {
        {MLXN_TYPE_F32, "f32", 1, 4},      {MLXN_TYPE_BF16, "bf16", 1, 2},
        {MLXN_TYPE_Q4_0, "q4_0", 32, 18},  {MLXN_TYPE_Q5_1, "q5_1", 32, 24},
        {MLXN_TYPE_Q8_1, "q8_1", 32, 36},  {MLXN_TYPE_Q2_K, "q2_K", 256, 84},
        {MLXN_TYPE_Q3_K, "q3_K", 256, 110}, {MLXN_TYPE_Q6_K, "q6_K", 256, 210},
        {MLXN_TYPE_Q8_K, "q8_K", 256, 292}, {MLXN_TYPE_IQ4_XS, "iq4_xs", 256, 136},
        {MLXN_TYPE_MXFP4, "mxfp4", 32, 17}, {MLXN_TYPE_MLX_Q3, "mlx_q3", 32, 12},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const mlxn_type_traits *t = mlxn_type_info(cases[i].t);
        if (!CHECKF(t != NULL, "type %d", cases[i].t)) continue;
        CHECKF(!strcmp(t->name, cases[i].name), "%s", t->name);
        CHECKF(t->block_elems == cases[i].blck && t->block_bytes == cases[i].bytes, "%s", t->name);
    }
    CHECK(mlxn_type_info((mlxn_type)5) == NULL);   /* ids 4 and 5 were removed from GGML */
    CHECK(mlxn_type_info((mlxn_type)-1) == NULL);
    CHECK(mlxn_type_info((mlxn_type)1000) == NULL);
    CHECK(mlxn_row_size(MLXN_TYPE_Q4_K, 512) == 288);
    CHECK(mlxn_row_size(MLXN_TYPE_Q4_K, 100) == 0);
}

static void test_half(void) {
    /* exact values */
    static const struct { float f; uint16_t h; } h16[] = {
        {0.0f, 0x0000}, {1.0f, 0x3c00}, {-2.0f, 0xc000}, {65504.0f, 0x7bff},
        {5.9604644775390625e-08f, 0x0001}, {6.103515625e-05f, 0x0400}, {0.333251953125f, 0x3555},
    };
    for (size_t i = 0; i < sizeof h16 / sizeof h16[0]; i++) {
        CHECKF(mlxn_f32_to_fp16(h16[i].f) == h16[i].h, "%g -> %04x", h16[i].f, mlxn_f32_to_fp16(h16[i].f));
        CHECKF(mlxn_fp16_to_f32(h16[i].h) == h16[i].f, "%04x", h16[i].h);
    }
    CHECK(mlxn_f32_to_fp16(1e6f) == 0x7c00);
    CHECK(isnan(mlxn_fp16_to_f32(mlxn_f32_to_fp16(NAN))));
    /* every finite fp16 round-trips exactly */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        if (mlxn_f32_to_fp16(mlxn_fp16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECKF(bad == 0, "%d fp16 values did not round-trip", bad);
    /* round to nearest even at the halfway point between 1 and 1+2^-10 */
    CHECK(mlxn_f32_to_fp16(1.0f + 0.00048828125f) == 0x3c00);
    CHECK(mlxn_f32_to_fp16(1.0f + 3 * 0.00048828125f) == 0x3c02);
    CHECK(mlxn_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(mlxn_bf16_to_f32(0xc040) == -3.0f);
    CHECK(mlxn_f32_to_bf16(1.00390625f) == 0x3f80);   /* halfway, rounds to even */
    CHECK(mlxn_e4m3_to_f32(0x38) == 1.0f);
    CHECK(mlxn_e4m3_to_f32(0x7e) == 448.0f);
    CHECK(mlxn_e8m0_to_f32(127) == 1.0f);
}

static void test_desc(void) {
    mlxn_tensor_desc d;
    int64_t ne[3] = {512, 3, 2};
    CHECK(mlxn_tensor_desc_init(&d, MLXN_TYPE_Q4_K, 3, ne) == MLXN_OK);
    CHECK(d.nb[0] == 144 && d.nb[1] == 288 && d.nb[2] == 864 && d.nb[3] == 1728);
    CHECK(mlxn_tensor_desc_nbytes(&d) == 1728 && mlxn_tensor_desc_nelements(&d) == 3072);
    CHECK(mlxn_tensor_desc_is_contiguous(&d));
    ne[0] = 100;
    CHECK(mlxn_tensor_desc_init(&d, MLXN_TYPE_Q4_K, 3, ne) == MLXN_ERR_SHAPE);
    CHECK(strstr(mlxn_last_error(), "multiple") != NULL);
    ne[0] = 0;
    CHECK(mlxn_tensor_desc_init(&d, MLXN_TYPE_F32, 3, ne) == MLXN_ERR_SHAPE);
    int64_t huge[4] = {INT64_MAX / 2, INT64_MAX / 2, 2, 2};
    CHECK(mlxn_tensor_desc_init(&d, MLXN_TYPE_F32, 4, huge) == MLXN_ERR_SHAPE);
}

int main(void) {
    test_status();
    test_traits();
    test_half();
    test_desc();
    return tu_finish();
}
