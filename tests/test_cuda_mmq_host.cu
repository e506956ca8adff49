/* The MoE prefill tile kernels' fragment addressing (src/backend/cuda/mmq.cu) on the host: the
 * shared-memory offsets each lane loads its mma.m16n8k32 / m16n8k16 .s8 fragments from, and the
 * ldmatrix.x4 row addresses of v4..v7, checked against the fragment layouts of the PTX ISA with an
 * emulated mma and an emulated ldmatrix, and compared with a plain loop over the tiles. Built where
 * nvcc is available (CI compiles CUDA); needs no GPU. */
#define MMQ_HOST_TEST
#include "backend/cuda/mmq.cu"
#include <stdlib.h>
#include <string.h>
extern "C" {
#include "testutil.h"
}

static int8_t sw[MMQ_BM * MMQ_LD], sx[MMQ_BN * MMQ_LD];   /* weight tile {KC, BM}, pair tile {KC, BN} */

static int byte_of(int reg, int j) { return (int8_t)((uint32_t)reg >> (8 * j)); }
static int ld32(const int8_t *p) { int v; memcpy(&v, p, 4); return v; }

/* m16n8k32 .s8 per the PTX ISA: A element i (0..15) of lane l sits in register i/4, byte i%4, at
 * row g (i < 4 or 8 <= i < 12) else g+8, column 4t + (i & 3) + 16*(i >= 8); B element i (0..7) in
 * register i/4 at row 4t + (i & 3) + 16*(i >= 4), column g; C element i at row g + 8*(i >= 2),
 * column 2t + (i & 1). D += A B. */
static void mma_k32_ref(const int A[32][4], const int B[32][2], int D[32][4]) {
    int Am[16][32], Bm[32][8];
    for (int l = 0; l < 32; l++) {
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < 16; i++)
            Am[(i < 4 || (i >= 8 && i < 12)) ? g : g + 8][4 * t + (i & 3) + (i >= 8 ? 16 : 0)] = byte_of(A[l][i >> 2], i & 3);
        for (int i = 0; i < 8; i++) Bm[4 * t + (i & 3) + (i >= 4 ? 16 : 0)][g] = byte_of(B[l][i >> 2], i & 3);
    }
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 4; i++) {
            const int row = (l >> 2) + (i >= 2 ? 8 : 0), col = 2 * (l & 3) + (i & 1);
            int s = 0;
            for (int k = 0; k < 32; k++) s += Am[row][k] * Bm[k][col];
            D[l][i] += s;
        }
}
/* m16n8k16 .s8: A register 0 row g, register 1 row g+8, columns 4t..4t+3; B register 0 rows
 * 4t..4t+3, column g. */
static void mma_k16_ref(const int A[32][2], const int B[32], int D[32][4]) {
    int Am[16][16], Bm[16][8];
    for (int l = 0; l < 32; l++) {
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < 8; i++) Am[i < 4 ? g : g + 8][4 * t + (i & 3)] = byte_of(A[l][i >> 2], i & 3);
        for (int i = 0; i < 4; i++) Bm[4 * t + i][g] = byte_of(B[l], i);
    }
    for (int l = 0; l < 32; l++)
        for (int i = 0; i < 4; i++) {
            const int row = (l >> 2) + (i >= 2 ? 8 : 0), col = 2 * (l & 3) + (i & 1);
            int s = 0;
            for (int k = 0; k < 16; k++) s += Am[row][k] * Bm[k][col];
            D[l][i] += s;
        }
}

int main(void) {
    srand(7);
    for (size_t i = 0; i < sizeof sw; i++) sw[i] = (int8_t)(rand() % 256 - 128);
    for (size_t i = 0; i < sizeof sx; i++) sx[i] = (int8_t)(rand() % 256 - 128);
    int bad32 = 0, bad16 = 0, badld = 0, n = 0;
    /* every 32-group of a chunk, every warp tile (2 x 2 warps of 32 rows x 16 pairs), every m16n8 tile */
    for (int g = 0; g < MMQ_KC / 32; g++)
        for (int wm = 0; wm < 2; wm++)
            for (int wn = 0; wn < 2; wn++)
                for (int mi = 0; mi < 2; mi++)
                    for (int ni = 0; ni < 2; ni++) {
                        const int8_t *ab = sw + (32 * wm + 16 * mi) * MMQ_LD + 32 * g;
                        const int8_t *bb = sx + (16 * wn + 8 * ni) * MMQ_LD + 32 * g;
                        int A[32][4], B[32][2], D[32][4] = {}, A0[32][2], A1[32][2], B0[32], B1[32];
                        int Dlo[32][4] = {}, Dhi[32][4] = {};
                        for (int l = 0; l < 32; l++) {
                            for (int r = 0; r < 4; r++) A[l][r] = ld32(ab + mmq_a_off(l, r));
                            for (int r = 0; r < 2; r++) B[l][r] = ld32(bb + mmq_b_off(l, r));
                            A0[l][0] = A[l][0]; A0[l][1] = A[l][1]; A1[l][0] = A[l][2]; A1[l][1] = A[l][3];
                            B0[l] = B[l][0]; B1[l] = B[l][1];
                        }
                        mma_k32_ref(A, B, D);
                        mma_k16_ref(A0, B0, Dlo);   /* Q6_K: k 0..15 and 16..31 with their own scales */
                        mma_k16_ref(A1, B1, Dhi);
                        for (int l = 0; l < 32; l++)
                            for (int i = 0; i < 4; i++) {
                                const int row = 32 * wm + 16 * mi + mmq_c_row(l, i);
                                const int col = 16 * wn + 8 * ni + mmq_c_col(l, i);
                                int lo = 0, hi = 0;
                                for (int k = 0; k < 32; k++) {
                                    const int v = sw[row * MMQ_LD + 32 * g + k] * sx[col * MMQ_LD + 32 * g + k];
                                    if (k < 16) lo += v; else hi += v;
                                }
                                n++;
                                bad32 += D[l][i] != lo + hi;
                                bad16 += Dlo[l][i] != lo || Dhi[l][i] != hi;
                            }
                        /* ldmatrix.x4: lanes 8m..8m+7 address matrix m's rows; lane l receives row
                         * l >> 2, bytes 4(l & 3).. of matrix m in register m */
                        for (int l = 0; l < 32; l++)
                            for (int m = 0; m < 4; m++) {
                                const int src = 8 * m + (l >> 2), off = 4 * (l & 3);
                                if (mi == 0) badld += ld32(ab + mmq_ldsm_a_off(src) + off) != A[l][m];
                                if (ni == 0) {
                                    const int8_t *b16 = sx + 16 * wn * MMQ_LD + 32 * g;   /* both n8 tiles */
                                    const int want = ld32(b16 + 8 * (m >> 1) * MMQ_LD + mmq_b_off(l, m & 1));
                                    badld += ld32(b16 + mmq_ldsm_b_off(src) + off) != want;
                                }
                            }
                    }
    CHECKF(bad32 == 0, "m16n8k32 fragments: %d of %d tile entries differ from the plain loop", bad32, n);
    CHECKF(bad16 == 0, "m16n8k16 halves: %d of %d tile entries differ", bad16, n);
    CHECKF(badld == 0, "ldmatrix.x4 row addresses: %d fragment registers differ", badld);
    /* fragment loads of one register hit 32 distinct banks; ldmatrix rows are 16-byte aligned */
    int conflicts = 0, misaligned = 0;
    for (int r = 0; r < 4; r++) {
        int used[32] = {0};
        for (int l = 0; l < 32; l++) used[(mmq_a_off(l, r) / 4) % 32]++;
        for (int b = 0; b < 32; b++) conflicts += used[b] > 1;
    }
    for (int l = 0; l < 32; l++) misaligned += ((mmq_ldsm_a_off(l) | mmq_ldsm_b_off(l)) & 15) != 0;
    CHECKF(conflicts == 0, "A fragment loads: %d shared-memory banks hit twice", conflicts);
    CHECKF(misaligned == 0, "ldmatrix: %d lanes give a row address that is not 16-byte aligned", misaligned);
    printf("mmq fragments: %d tile entries checked\n", n);
    return tu_finish();
}
