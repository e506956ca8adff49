/* Block codecs: hand-made blocks decoded to values worked out by hand from the formulas in
 * SPEC-FORMATS.md, quantize -> dequantize error bounds on N(0,1) data for every type, the MLX
 * packed formats, and the error cases. */
#include "core/half.h"
#include "formats/quants.h"
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H_QUARTER 0x3400 /* fp16 0.25 */
#define H_HALF 0x3800    /* fp16 0.5 */
#define H_ONE 0x3C00
#define H_MONE 0xBC00    /* -1 */
#define H_TWO 0x4000

/* Decodes one block of type t and checks the listed (element, value) pairs exactly. */
typedef struct { int e; float v; } ev;
static void expect(mlxn_type t, const void *blk, const ev *cases, int ncases) {
    float y[256];
    int64_t n = mlxn_type_info(t)->block_elems;
    mlxn_status st = mlxn_dequantize_row(t, blk, y, n);
    CHECKF(st == MLXN_OK, "%s: %s", mlxn_type_name(t), mlxn_last_error());
    for (int i = 0; i < ncases; i++)
        CHECKF(y[cases[i].e] == cases[i].v, "%s element %d: got %.9g want %.9g", mlxn_type_name(t), cases[i].e,
               y[cases[i].e], cases[i].v);
    /* the one-block helper agrees with the row API */
    float z[256];
    mlxn_get_dequant_block(t)(blk, z);
    CHECKF(!memcmp(y, z, (size_t)n * 4), "%s: block helper differs from row API", mlxn_type_name(t));
}
#define EXPECT(t, blk, ...)                                                                        \
    do {                                                                                           \
        const ev c_[] = {__VA_ARGS__};                                                             \
        expect(t, &(blk), c_, (int)(sizeof c_ / sizeof c_[0]));                                    \
    } while (0)

static void test_hand_32(void) {
    mlxn_block_q4_0 a = {.d = H_HALF};
    a.qs[0] = 0x1F, a.qs[5] = 0x80; /* others 0 -> (0-8)*0.5 = -4 */
    EXPECT(MLXN_TYPE_Q4_0, a, {0, 3.5f}, {16, -3.5f}, {5, -4.0f}, {21, 0.0f}, {31, -4.0f});

    mlxn_block_q4_1 b = {.d = H_HALF, .m = H_MONE};
    b.qs[0] = 0x1F, b.qs[5] = 0x80;
    EXPECT(MLXN_TYPE_Q4_1, b, {0, 6.5f}, {16, -0.5f}, {5, -1.0f}, {21, 3.0f});

    /* Q5: bit j of qh (LE u32) is the 5th bit of element j */
    mlxn_block_q5_0 c = {.d = H_HALF, .qh = {0x01, 0x00, 0x01, 0x80}};
    c.qs[0] = 0x1F, c.qs[15] = 0x30;
    EXPECT(MLXN_TYPE_Q5_0, c, {0, 7.5f}, {16, 0.5f}, {1, -8.0f}, {31, 1.5f}, {15, -8.0f});

    mlxn_block_q5_1 d = {.d = H_HALF, .m = H_ONE, .qh = {0x01, 0x00, 0x01, 0x80}};
    d.qs[0] = 0x1F, d.qs[15] = 0x30;
    EXPECT(MLXN_TYPE_Q5_1, d, {0, 16.5f}, {16, 9.5f}, {1, 1.0f}, {31, 10.5f});

    mlxn_block_q8_0 e = {.d = H_HALF};
    e.qs[0] = -128, e.qs[31] = 127, e.qs[7] = -3;
    EXPECT(MLXN_TYPE_Q8_0, e, {0, -64.0f}, {31, 63.5f}, {7, -1.5f}, {8, 0.0f});

    mlxn_block_q8_1 f = {.d = H_TWO, .s = H_ONE};
    f.qs[3] = -5;
    EXPECT(MLXN_TYPE_Q8_1, f, {3, -10.0f}, {4, 0.0f});

    mlxn_block_iq4_nl g = {.d = H_HALF};
    g.qs[0] = 0xF0, g.qs[3] = 0x88;
    EXPECT(MLXN_TYPE_IQ4_NL, g, {0, -63.5f}, {16, 56.5f}, {3, 0.5f}, {19, 0.5f}, {1, -63.5f});

    /* MXFP4: F[nibble] * 2^(e-128) */
    mlxn_block_mxfp4 h = {.e = 128};
    h.qs[0] = 0xF7, h.qs[1] = 0x9A;
    EXPECT(MLXN_TYPE_MXFP4, h, {0, 12.0f}, {16, -12.0f}, {1, -2.0f}, {17, -1.0f}, {2, 0.0f});
    h.e = 130;
    EXPECT(MLXN_TYPE_MXFP4, h, {0, 48.0f}, {16, -48.0f});
    h.e = 0;
    float tiny = ldexpf(12.0f, -128);
    EXPECT(MLXN_TYPE_MXFP4, h, {0, tiny}, {16, -tiny});
}

static void test_hand_k(void) {
    /* Q2_K: y = d*(sc&15)*q - dmin*(sc>>4); q = (qs[32n+l] >> 2j) & 3 */
    mlxn_block_q2_K a = {.d = H_HALF, .dmin = H_QUARTER};
    a.scales[0] = 0x3A, a.scales[2] = 0x12, a.scales[4] = 0xF1, a.scales[6] = 0x0F, a.scales[8] = 0x21;
    a.qs[0] = 0xE4, a.qs[37] = 0x03;
    EXPECT(MLXN_TYPE_Q2_K, a, {0, -0.75f}, {32, 0.75f}, {64, -2.75f}, {96, 22.5f}, {133, 1.0f});

    /* Q3_K: 6-bit scales; scale0 = 0xA | 3<<4 = 58 -> 26, scale4 = 0 | 1<<4 -> -16,
     * scale8 = 5 -> -27, scale15 = 0 -> -32; q = q2 - (hbit ? 0 : 4) */
    mlxn_block_q3_K b = {.d = H_HALF};
    b.scales[0] = 0x5A, b.scales[8] = 0x07;
    b.qs[0] = 0x32, b.qs[32] = 0x01, b.qs[63] = 0xC0;
    b.hmask[0] = 0x11, b.hmask[31] = 0x80;
    EXPECT(MLXN_TYPE_Q3_K, b, {0, 26.0f}, {1, -52.0f}, {64, 8.0f}, {128, -13.5f}, {255, -48.0f});
    int8_t sc[16];
    mlxn_unpack_scales_q3_K(b.scales, sc);
    CHECK(sc[0] == 26 && sc[4] == -16 && sc[8] == -27 && sc[15] == -32);

    /* Q4_K: sub 0 (sc 5, m 2), sub 1 (sc 3, m 4), sub 4 (sc 0xA|3<<4 = 58, m 7|1<<4 = 23) */
    mlxn_block_q4_K c = {.d = H_HALF, .dmin = H_QUARTER};
    c.scales[0] = 0xC5, c.scales[4] = 0x42, c.scales[8] = 0x7A, c.scales[1] = 3, c.scales[5] = 4;
    c.qs[0] = 0x9C, c.qs[64] = 0x0F;
    EXPECT(MLXN_TYPE_Q4_K, c, {0, 29.5f}, {32, 12.5f}, {128, 429.25f}, {1, -0.5f});
    uint8_t s4, m4;
    mlxn_get_scale_min_k4(4, c.scales, &s4, &m4);
    CHECK(s4 == 58 && m4 == 23);

    mlxn_block_q5_K d = {.d = H_HALF, .dmin = H_QUARTER};
    memcpy(d.scales, c.scales, 12);
    d.qs[0] = 0x9C, d.qs[64] = 0x0F;
    d.qh[0] = 0x13; /* bit 0: element 0, bit 1: element 32, bit 4: element 128 */
    EXPECT(MLXN_TYPE_Q5_K, d, {0, 69.5f}, {32, 36.5f}, {128, 893.25f}, {1, -0.5f});

    /* Q6_K: q = 4 low bits from ql, 2 high bits from qh; y = d*scale*(q-32) */
    mlxn_block_q6_K e = {.d = H_HALF};
    e.scales[0] = 3, e.scales[2] = -2, e.scales[4] = 7, e.scales[6] = 1, e.scales[8] = 5, e.scales[15] = -1;
    e.ql[0] = 0x4F, e.qh[0] = 0xE6, e.ql[64] = 0x01, e.ql[127] = 0xF0, e.qh[63] = 0xC0;
    EXPECT(MLXN_TYPE_Q6_K, e, {0, 22.5f}, {32, 16.0f}, {64, 14.0f}, {96, 8.0f}, {128, -77.5f}, {255, -15.5f});

    mlxn_block_q8_K f = {.d = 0.25f};
    f.qs[0] = 7, f.qs[255] = -100;
    EXPECT(MLXN_TYPE_Q8_K, f, {0, 1.75f}, {255, -25.0f}, {100, 0.0f});

    /* IQ4_XS: ls(ib0) = 0xA | 2<<4 = 42 -> 10, ls(ib1) = 3 -> -29, ls(ib7) = 15 | 3<<4 -> 31 */
    mlxn_block_iq4_xs g = {.d = H_QUARTER, .scales_h = 0xC002};
    g.scales_l[0] = 0x3A, g.scales_l[3] = 0xF0;
    g.qs[0] = 0x2F, g.qs[16] = 0x07, g.qs[127] = 0x80;
    EXPECT(MLXN_TYPE_IQ4_XS, g, {0, 282.5f}, {16, -207.5f}, {32, 72.5f}, {255, 7.75f});
}

static void test_plain(void) {
    float y[4];
    uint16_t h[3] = {0x3C00, 0xC000, 0x7C00};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_F16, h, y, 3) == MLXN_OK && y[0] == 1.0f && y[1] == -2.0f && isinf(y[2]));
    uint16_t bf[2] = {0x3F80, 0xC2F7};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_BF16, bf, y, 2) == MLXN_OK && y[0] == 1.0f && y[1] == -123.5f);
    int8_t i8[2] = {-5, 127};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_I8, i8, y, 2) == MLXN_OK && y[0] == -5.0f && y[1] == 127.0f);
    int16_t i16[1] = {-300};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_I16, i16, y, 1) == MLXN_OK && y[0] == -300.0f);
    int32_t i32[1] = {100000};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_I32, i32, y, 1) == MLXN_OK && y[0] == 100000.0f);
    double f64[1] = {0.1};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_F64, f64, y, 1) == MLXN_OK && y[0] == 0.1f);
    uint8_t u8[2] = {255, 2};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_U8, u8, y, 2) == MLXN_OK && y[0] == 255.0f);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_BOOL, u8, y, 2) == MLXN_OK && y[0] == 1.0f && y[1] == 1.0f);
    /* quantize to f16/bf16 rounds to nearest even */
    float x[2] = {1.0f + 1.0f / 4096.0f, 1.0f + 3.0f / 256.0f};
    uint16_t o[2];
    CHECK(mlxn_quantize_row(MLXN_TYPE_F16, x, o, 2) == MLXN_OK && o[0] == 0x3C00);
    CHECK(mlxn_quantize_row(MLXN_TYPE_BF16, x, o, 2) == MLXN_OK && o[1] == 0x3F82);
}

/* quantize -> dequantize on N(0,1): RMSE bound per type (measured values in docs/formats.md,
 * bounds about 5% above them). */
static void test_roundtrip(void) {
    static const struct { mlxn_type t; double bound; } cases[] = {
        {MLXN_TYPE_F32, 0.0},      {MLXN_TYPE_F16, 0.00025},  {MLXN_TYPE_BF16, 0.00175},
        {MLXN_TYPE_Q8_0, 0.0051},  {MLXN_TYPE_Q8_1, 0.0051},  {MLXN_TYPE_Q8_K, 0.0072},
        {MLXN_TYPE_Q6_K, 0.0172},  {MLXN_TYPE_Q5_0, 0.0418},  {MLXN_TYPE_Q5_1, 0.0348},
        {MLXN_TYPE_Q5_K, 0.0360},  {MLXN_TYPE_Q4_0, 0.0846},  {MLXN_TYPE_Q4_1, 0.0727},
        {MLXN_TYPE_Q4_K, 0.0732},  {MLXN_TYPE_IQ4_NL, 0.0765}, {MLXN_TYPE_IQ4_XS, 0.0771},
        {MLXN_TYPE_MXFP4, 0.117},  {MLXN_TYPE_Q3_K, 0.151},   {MLXN_TYPE_Q2_K, 0.275},
    };
    enum { N = 256 * 64 };
    float *x = malloc(N * 4), *y = malloc(N * 4), *y2 = malloc(N * 4);
    uint8_t *q = malloc(N * 4), *q2 = malloc(N * 4);
    tu_rng r;
    tu_rng_seed(&r, 1234);
    for (int i = 0; i < N; i++) x[i] = tu_rng_normal(&r);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        mlxn_type t = cases[c].t;
        const char *nm = mlxn_type_name(t);
        if (!CHECKF(mlxn_quantize_row(t, x, q, N) == MLXN_OK, "%s: %s", nm, mlxn_last_error())) continue;
        CHECKF(mlxn_dequantize_row(t, q, y, N) == MLXN_OK, "%s", nm);
        double se = 0, maxe = 0;
        for (int i = 0; i < N; i++) se += (double)(y[i] - x[i]) * (y[i] - x[i]), maxe = fmax(maxe, fabs(y[i] - x[i]));
        double rmse = sqrt(se / N);
        CHECKF(rmse <= cases[c].bound, "%s: RMSE %.6f above bound %.6f", nm, rmse, cases[c].bound);
        CHECKF(maxe <= 10 * cases[c].bound, "%s: max error %.4f", nm, maxe);
        /* Deterministic, and a decoded block re-encodes to values at least as close. */
        CHECKF(mlxn_quantize_row(t, x, q2, N) == MLXN_OK && !memcmp(q, q2, mlxn_row_size(t, N)), "%s: not deterministic", nm);
        CHECK(mlxn_quantize_row(t, y, q2, N) == MLXN_OK && mlxn_dequantize_row(t, q2, y2, N) == MLXN_OK);
        double se2 = 0;
        for (int i = 0; i < N; i++) se2 += (double)(y2[i] - y[i]) * (y2[i] - y[i]);
        CHECKF(sqrt(se2 / N) <= 0.5 * rmse + 1e-7, "%s: re-encoding decoded values drifts (%.6f)", nm, sqrt(se2 / N));
        /* zeros encode to zeros */
        float z[256] = {0}, zy[256];
        uint8_t zq[512];
        int64_t be = mlxn_type_info(t)->block_elems;
        CHECK(mlxn_quantize_row(t, z, zq, be) == MLXN_OK && mlxn_dequantize_row(t, zq, zy, be) == MLXN_OK);
        int allz = 1;
        for (int i = 0; i < be; i++) allz &= zy[i] == 0.0f;
        CHECKF(allz, "%s: zero block does not decode to zeros", nm);
    }
    /* Q8_1 keeps s = d * sum(q); Q8_K keeps the 16-element sums of q. */
    mlxn_block_q8_1 b1;
    mlxn_quant_block_q8_1(x, &b1);
    int s = 0;
    for (int j = 0; j < 32; j++) s += b1.qs[j];
    CHECK(b1.s == mlxn_f32_to_fp16(mlxn_fp16_to_f32(b1.d) * (float)s));
    mlxn_block_q8_K bk;
    mlxn_quant_block_q8_K(x, &bk);
    int ok = 1;
    for (int i = 0; i < 16; i++) {
        int t = 0;
        for (int j = 0; j < 16; j++) t += bk.qs[16 * i + j];
        ok &= t == bk.bsums[i];
    }
    CHECK(ok);
    free(x), free(y), free(y2), free(q), free(q2);
}

/* MLX: hand-packed 3/5/6-bit streams (values straddle u32 words) and a hand-worked group. */
/* level of element k: 0 and 2^bits-1 first, then (7k + 3) mod 2^bits */
#define QV(k, bits) ((k) == 0 ? 0u : (k) == 1 ? (1u << (bits)) - 1 : (uint32_t)(7 * (k) + 3) & ((1u << (bits)) - 1))
static void test_mlx(void) {
    static const int bits_list[] = {2, 3, 4, 5, 6, 8};
    for (size_t bi = 0; bi < 6; bi++) {
        int bits = bits_list[bi];
        uint32_t w[16] = {0};
        for (int k = 0; k < 32; k++) { /* q_k = (7k + 3) mod 2^bits, bit k*bits of the stream */
            uint32_t qv = QV(k, bits);
            for (int b = 0; b < bits; b++)
                if (qv >> b & 1) w[(k * bits + b) / 32] |= 1u << ((k * bits + b) % 32);
        }
        uint16_t sc = H_HALF, bias = H_MONE;
        mlxn_mlx_quant q = {MLXN_MLX_AFFINE, bits, 32, MLXN_TYPE_F16};
        float y[32];
        CHECKF(mlxn_mlx_dequantize_row(&q, w, &sc, &bias, y, 32) == MLXN_OK, "%s", mlxn_last_error());
        int ok = 1;
        for (int k = 0; k < 32; k++) ok &= y[k] == 0.5f * (float)QV(k, bits) - 1.0f;
        CHECKF(ok, "mlx affine %d-bit decode", bits);
        /* the group spans both ends of the level range, so re-encoding restores the values */
        uint32_t w2[16];
        uint16_t s2, b2;
        CHECK(mlxn_mlx_quantize_row(&q, y, w2, &s2, &b2, 32) == MLXN_OK);
        float y2[32];
        CHECK(mlxn_mlx_dequantize_row(&q, w2, &s2, &b2, y2, 32) == MLXN_OK && !memcmp(y, y2, sizeof y));
    }
    /* mx.quantize rule by hand: x = -1 + 0.125 k (k = 0..31), 4 bits. |min| = 1 < |max| = 2.875,
     * so scale = -(3.875/15), edge = max, q0 = rint(2.875 / scale) = -11, scale = 2.875/-11,
     * bias = 2.875; q = rint((x - 2.875)/scale). */
    float x[32];
    for (int k = 0; k < 32; k++) x[k] = -1.0f + 0.125f * (float)k;
    mlxn_mlx_quant q4 = {MLXN_MLX_AFFINE, 4, 32, MLXN_TYPE_F16};
    uint32_t w[4];
    uint16_t s, b;
    CHECK(mlxn_mlx_quantize_row(&q4, x, w, &s, &b, 32) == MLXN_OK);
    float scale = 2.875f / -11.0f;
    CHECK(s == mlxn_f32_to_fp16(scale) && b == mlxn_f32_to_fp16(2.875f));
    CHECK(mlxn_mlx_get_q(w, 4, 31) == 0 && mlxn_mlx_get_q(w, 4, 0) == 15);
    CHECK(mlxn_mlx_get_q(w, 4, 10) == (uint32_t)rintf((x[10] - 2.875f) / scale));
    /* mxfp4: code k at bits 4k; 2^(s-127) */
    uint32_t mw[4] = {0x76543210u, 0xFEDCBA98u, 0, 0};
    uint8_t e8 = 128;
    mlxn_mlx_quant qm = {MLXN_MLX_MXFP4, 4, 32, MLXN_TYPE_F8_E8M0};
    float my[32];
    CHECK(mlxn_mlx_dequantize_row(&qm, mw, &e8, NULL, my, 32) == MLXN_OK);
    CHECK(my[0] == 0.0f && my[1] == 1.0f && my[7] == 12.0f && my[8] == 0.0f && signbit(my[8]) && my[15] == -12.0f);
    /* encode: amax 3 -> scale 2^ceil(log2(0.5)) = 0.5; 0.375/0.5 = 0.75 is a tie -> smaller (0.5) */
    float mx[32] = {3.0f, 0.375f, -0.1f, -3.0f};
    uint32_t ow[4];
    uint8_t oe;
    CHECK(mlxn_mlx_quantize_row(&qm, mx, ow, &oe, NULL, 32) == MLXN_OK);
    CHECK(oe == 126 && (ow[0] & 0xFFFF) == 0xF017);
}

/* Non-finite and out-of-range inputs: every encoder returns OK and decodes to finite values
 * (huge values saturate at the largest fp16 scale), and the other blocks are unaffected. */
static void test_nonfinite(void) {
    static const mlxn_type types[] = {MLXN_TYPE_Q4_0, MLXN_TYPE_Q4_1, MLXN_TYPE_Q5_0, MLXN_TYPE_Q5_1,
                                      MLXN_TYPE_Q8_0, MLXN_TYPE_Q8_1, MLXN_TYPE_Q2_K, MLXN_TYPE_Q3_K,
                                      MLXN_TYPE_Q4_K, MLXN_TYPE_Q5_K, MLXN_TYPE_Q6_K, MLXN_TYPE_Q8_K,
                                      MLXN_TYPE_IQ4_NL, MLXN_TYPE_IQ4_XS, MLXN_TYPE_MXFP4};
    static const float bad[] = {NAN, INFINITY, -INFINITY, 1e30f, -3e38f};
    enum { N = 512 };
    float x[N], y[N], ref[N];
    uint8_t q[N * 2], qref[N * 2];
    tu_rng r;
    tu_rng_seed(&r, 99);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        mlxn_type t = types[ti];
        int64_t be = mlxn_type_info(t)->block_elems;
        for (int i = 0; i < N; i++) ref[i] = tu_rng_normal(&r);
        CHECK(mlxn_quantize_row(t, ref, qref, N) == MLXN_OK);
        for (size_t bi = 0; bi < sizeof bad / sizeof bad[0]; bi++) {
            memcpy(x, ref, sizeof x);
            x[3] = bad[bi]; /* lands in the first block */
            mlxn_status st = mlxn_quantize_row(t, x, q, N);
            CHECKF(st == MLXN_OK, "%s with %g", mlxn_type_name(t), bad[bi]);
            CHECK(mlxn_dequantize_row(t, q, y, N) == MLXN_OK);
            int finite = 1;
            for (int i = 0; i < N; i++) finite &= isfinite(y[i]) != 0;
            CHECKF(finite, "%s: input %g decodes to a non-finite value", mlxn_type_name(t), bad[bi]);
            size_t bb = mlxn_row_size(t, be);
            CHECKF(!memcmp(q + bb, qref + bb, mlxn_row_size(t, N) - bb), "%s: input %g changed other blocks",
                   mlxn_type_name(t), bad[bi]);
        }
    }
}

static void test_errors(void) {
    float x[64] = {0}, y[64];
    uint8_t buf[512] = {0};
    CHECK(mlxn_dequantize_row(MLXN_TYPE_Q4_0, buf, y, 33) == MLXN_ERR_SHAPE);
    CHECK(strstr(mlxn_last_error(), "q4_0") != NULL);
    CHECK(mlxn_quantize_row(MLXN_TYPE_Q4_K, x, buf, 64) == MLXN_ERR_SHAPE);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_F32, buf, y, -1) == MLXN_ERR_SHAPE);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_IQ2_XXS, buf, y, 256) == MLXN_ERR_UNSUPPORTED);
    CHECK(strstr(mlxn_last_error(), "iq2_xxs") != NULL);
    CHECK(mlxn_quantize_row(MLXN_TYPE_I32, x, buf, 4) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_dequantize_row((mlxn_type)200, buf, y, 4) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_MLX_Q4, buf, y, 32) == MLXN_ERR_UNSUPPORTED);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_Q8_0, NULL, y, 32) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_dequantize_row(MLXN_TYPE_Q8_0, NULL, NULL, 0) == MLXN_OK);
    uint32_t w[16];
    uint16_t s[2], b[2];
    mlxn_mlx_quant q = {MLXN_MLX_AFFINE, 7, 32, MLXN_TYPE_F16};
    CHECK(mlxn_mlx_quantize_row(&q, x, w, s, b, 32) == MLXN_ERR_UNSUPPORTED);
    q.bits = 4, q.group_size = 16;
    CHECK(mlxn_mlx_quantize_row(&q, x, w, s, b, 32) == MLXN_ERR_UNSUPPORTED);
    q.group_size = 32, q.scale_type = MLXN_TYPE_F32;
    CHECK(mlxn_mlx_dequantize_row(&q, w, s, b, y, 32) == MLXN_ERR_UNSUPPORTED);
    q.scale_type = MLXN_TYPE_BF16;
    CHECK(mlxn_mlx_dequantize_row(&q, w, s, b, y, 48) == MLXN_ERR_SHAPE);
    CHECK(mlxn_mlx_dequantize_row(&q, w, s, NULL, y, 32) == MLXN_ERR_INVALID_ARG);
    CHECK(mlxn_mlx_dequantize_row(NULL, w, s, b, y, 32) == MLXN_ERR_INVALID_ARG);
    mlxn_mlx_quant m = {MLXN_MLX_MXFP4, 4, 64, MLXN_TYPE_F8_E8M0};
    CHECK(mlxn_mlx_quantize_row(&m, x, w, buf, NULL, 64) == MLXN_ERR_UNSUPPORTED);
}

int main(void) {
    test_hand_32();
    test_hand_k();
    test_plain();
    test_roundtrip();
    test_mlx();
    test_nonfinite();
    test_errors();
    return tu_finish();
}
