/* The v6 mat-vec's per-type pieces (src/backend/cuda/mmv6.cuh) run on the host: the activation
 * quantization and its shared-memory layout, and every type's unit dot, composed exactly as the
 * kernel composes them (blocks at the same alignment as in the kernel's stage, every unit of
 * every block of a row). Checked against a double-precision dot of the dequantized weights
 * (mlxn_dequantize_row) with (a) the int8 activations the layout holds (tight: the decoders'
 * arithmetic) and (b) the original f32 activations (loose: int8 rounding). Built and run where
 * nvcc is available (CI compiles CUDA); needs no GPU. */
#include "backend/cuda/mmv6.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <vector>
extern "C" {
#include "testutil.h"
}

/* The kernel's stage_x, on the host: per 32-group, amax over the 8 chunks of 4, quant4, sum. */
static void host_stage_x(int lay, const float *x, int k, uint8_t *X) {
    if (lay == v6::FLT) {
        memcpy(X, x, sizeof(float) * (size_t)k);
        return;
    }
    float *DS = (float *)(X + k);
    for (int g = 0; g < k / 32; g++) {
        float a = 0.f;
        for (int i = 0; i < 32; i++) a = fmaxf(a, fabsf(x[32 * g + i]));
        const float d = a / 127.f;
        int tot = 0, first = 0;
        for (int c = 0; c < 8; c++) {
            const int e = 32 * g + 4 * c;
            float4 v = make_float4(x[e], x[e + 1], x[e + 2], x[e + 3]);
            int s;
            uint32_t pk = v6::quant4(v, d, &s);
            tot += s;
            if (c < 4) first += s;
            memcpy(X + v6::xpos(lay, (uint32_t)e, (uint32_t)k), &pk, 4);
        }
        DS[4 * g] = d;
        DS[4 * g + 1] = d * (float)tot;
        DS[4 * g + 2] = d * (float)first;
        DS[4 * g + 3] = d * (float)(tot - first);
    }
}
/* The int8 value the layout holds for element e (or the f32 value for FLT). */
static double host_xval(int lay, const uint8_t *X, int k, int e) {
    if (lay == v6::FLT) return ((const float *)X)[e];
    const float *DS = (const float *)(X + k);
    int8_t q = (int8_t)X[v6::xpos(lay, (uint32_t)(e & ~3), (uint32_t)k) + (e & 3)];
    return (double)DS[4 * (e / 32)] * q;
}

template <int T> static void check_type(mlxn_type t, int k, int rows, int row_offset, tu_rng *rng) {
    typedef v6::Tr<T> Q;
    const int nb = k / Q::QK;
    const size_t rb = (size_t)nb * Q::BB;
    /* rows start at row_offset bytes into a 16-aligned buffer: 0 (aligned) or the kernel's
     * unaligned-stage case (the slot keeps the global alignment mod 16) */
    std::vector<uint8_t> wbuf(rb * rows + 64 + 16);
    uint8_t *base = (uint8_t *)(((uintptr_t)wbuf.data() + 15) & ~(uintptr_t)15) + row_offset;
    std::vector<float> wf((size_t)k), deq((size_t)k), x((size_t)k);
    for (int i = 0; i < k; i++) x[i] = tu_rng_normal(rng) * (i % 7 == 3 ? 3.f : 1.f);
    std::vector<uint8_t> xs((size_t)v6::xbytes(Q::LAY, k) + 16);
    uint8_t *X = (uint8_t *)(((uintptr_t)xs.data() + 15) & ~(uintptr_t)15);
    host_stage_x(Q::LAY, x.data(), k, X);
    const float *DS = (const float *)(X + k);
    const int G = (int)Q::LAY == (int)v6::FLT ? k / 8 : k / 32;
    double worst_tight = 0, worst_loose = 0;
    for (int r = 0; r < rows; r++) {
        for (int i = 0; i < k; i++) wf[i] = tu_rng_normal(rng);
        uint8_t *rowp = base + rb * r;
        if (mlxn_quantize_row(t, wf.data(), rowp, k) != MLXN_OK || mlxn_dequantize_row(t, rowp, deq.data(), k) != MLXN_OK) {
            CHECKF(0, "%s: quantize/dequantize failed", mlxn_type_name(t));
            return;
        }
        double got = 0;
        for (int b = 0; b < nb; b++)
            for (int u = 0; u < Q::UPB; u++) got += v6::Unit<T>::run(rowp + (size_t)b * Q::BB, u, X, DS, b, G);
        double ref_q = 0, ref_f = 0, mag = 0;
        for (int e = 0; e < k; e++) {
            ref_q += (double)deq[e] * host_xval(Q::LAY, X, k, e);
            ref_f += (double)deq[e] * x[e];
            mag += fabs((double)deq[e] * x[e]);
        }
        double et = fabs(got - ref_q) / (mag > 0 ? mag : 1), el = fabs(got - ref_f) / (mag > 0 ? mag : 1);
        if (!(et <= worst_tight)) worst_tight = et;    /* NaN sticks */
        if (!(el <= worst_loose)) worst_loose = el;
    }
    CHECKF(worst_tight < 2e-6, "%s k=%d offset %d: unit dots vs int8 reference: %.3g", mlxn_type_name(t), k, row_offset, worst_tight);
    CHECKF(worst_loose < ((int)Q::LAY == (int)v6::FLT ? 2e-6 : 2e-2), "%s k=%d offset %d: vs f32 activations: %.3g",
           mlxn_type_name(t), k, row_offset, worst_loose);
    printf("%-7s k=%-5d offset %d: rel err vs int8 activations %.2e, vs f32 %.2e\n", mlxn_type_name(t), k, row_offset,
           worst_tight, worst_loose);
}

/* Layout: every element has its own byte, and each lane's reads of a pass are contiguous. */
static void check_layout(int lay, int k) {
    std::vector<int> seen((size_t)k, 0);
    int bad = 0;
    for (int e = 0; e < k; e += 4) {
        uint32_t p = v6::xpos(lay, (uint32_t)e, (uint32_t)k);
        if (p % 4 || p + 4 > (uint32_t)k) { bad++; continue; }
        for (int j = 0; j < 4; j++) seen[p + j]++;
    }
    for (int i = 0; i < k; i++) bad += seen[i] != 1;
    CHECKF(bad == 0, "layout %d k=%d is not a permutation (%d bad)", lay, k, bad);
}

/* The pre-staging kernel's per-group writer (stage_group) leaves the same bytes as stage_x. */
static void check_stage_group(int lay, int k, tu_rng *rng) {
    std::vector<float> x((size_t)k);
    for (int i = 0; i < k; i++) x[i] = tu_rng_normal(rng) * (i % 5 == 1 ? 4.f : 1.f);
    const size_t nb = (size_t)v6::xbytes(lay, k);
    std::vector<uint8_t> a(nb + 16, 0xA5), b(nb + 16, 0x5A);
    uint8_t *A = (uint8_t *)(((uintptr_t)a.data() + 15) & ~(uintptr_t)15), *B = (uint8_t *)(((uintptr_t)b.data() + 15) & ~(uintptr_t)15);
    host_stage_x(lay, x.data(), k, A);
    for (int g = 0; g < k / 32; g++) v6::stage_group(lay, x.data() + 32 * g, (uint32_t)g, (uint32_t)k, B);
    CHECKF(memcmp(A, B, nb) == 0, "layout %d k=%d: stage_group's bytes differ from stage_x's", lay, k);
}

int main(void) {
    tu_rng rng;
    tu_rng_seed(&rng, 1234);
    for (int lay = v6::LEG; lay <= v6::K8; lay++) { check_layout(lay, 4096); check_layout(lay, 1024); }
    check_layout(v6::LEG, 576);
    for (int lay = v6::LEG; lay <= v6::K8; lay++) { check_stage_group(lay, 4096, &rng); check_stage_group(lay, 768, &rng); }
    check_stage_group(v6::LEG, 576, &rng);
    const int ks[2] = {1024, 2304};
    for (int ki = 0; ki < 2; ki++) {
        const int k = ks[ki];
        check_type<MLXN_TYPE_Q4_0>(MLXN_TYPE_Q4_0, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q4_1>(MLXN_TYPE_Q4_1, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q5_0>(MLXN_TYPE_Q5_0, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q5_1>(MLXN_TYPE_Q5_1, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q8_0>(MLXN_TYPE_Q8_0, k, 6, 0, &rng);
        check_type<MLXN_TYPE_IQ4_NL>(MLXN_TYPE_IQ4_NL, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q2_K>(MLXN_TYPE_Q2_K, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q3_K>(MLXN_TYPE_Q3_K, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q4_K>(MLXN_TYPE_Q4_K, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q5_K>(MLXN_TYPE_Q5_K, k, 6, 0, &rng);
        check_type<MLXN_TYPE_Q6_K>(MLXN_TYPE_Q6_K, k, 6, 0, &rng);
        check_type<MLXN_TYPE_IQ4_XS>(MLXN_TYPE_IQ4_XS, k, 6, 0, &rng);
        check_type<MLXN_TYPE_F16>(MLXN_TYPE_F16, k, 6, 0, &rng);
        check_type<MLXN_TYPE_BF16>(MLXN_TYPE_BF16, k, 6, 0, &rng);
    }
    /* rows that are not 16-byte aligned (the plain mat-vec's unaligned stages), e.g. k = 576 */
    check_type<MLXN_TYPE_Q4_0>(MLXN_TYPE_Q4_0, 576, 5, 2, &rng);
    check_type<MLXN_TYPE_Q4_1>(MLXN_TYPE_Q4_1, 576, 5, 8, &rng);
    check_type<MLXN_TYPE_Q8_0>(MLXN_TYPE_Q8_0, 576, 5, 6, &rng);
    check_type<MLXN_TYPE_Q5_0>(MLXN_TYPE_Q5_0, 576, 5, 10, &rng);
    check_type<MLXN_TYPE_Q6_K>(MLXN_TYPE_Q6_K, 768, 5, 2, &rng);
    check_type<MLXN_TYPE_Q3_K>(MLXN_TYPE_Q3_K, 768, 5, 14, &rng);
    check_type<MLXN_TYPE_Q2_K>(MLXN_TYPE_Q2_K, 768, 5, 4, &rng);
    return tu_finish();
}
