/* The quantized-column hand-over's rules (src/backend/cuda/mmv.cu: mlxn_cuda_xq_offer / take /
 * wanted), which decide whether a mat-vec may skip its own quantization and read bytes another
 * kernel wrote: taken only by the next mat-vec on the same column, k and stream with nothing
 * launched, copied or filled in between; an untaken column is not quantized again. Host-side
 * state only: needs no GPU (the launch check that voids an offer is called directly; without a
 * device its CUDA status is an error, which does not matter here). */
#include "backend/cuda/cuda_internal.h"
#include <stdio.h>
#include <stdlib.h>
extern "C" {
#include "testutil.h"
}

int main(void) {
    if (getenv("MLXN_CUDA_XQ")) unsetenv("MLXN_CUDA_XQ");
    static float col[64][8];   /* distinct column addresses */
    void *s1 = (void *)&col[60], *s2 = (void *)&col[61];   /* two stream handles (only compared) */
    const int64_t k = 576;

    CHECK(mlxn_cuda_xq_enabled() == 1);
    CHECK(mlxn_cuda_xq_wanted(col[0], k) == 1);

    /* the plain case: offered, then taken once */
    mlxn_cuda_xq_offer(col[0], k, s1);
    CHECK(mlxn_cuda_xq_take(col[0], k, s1) == 1);
    CHECK(mlxn_cuda_xq_take(col[0], k, s1) == 0);   /* consumed */
    CHECK(mlxn_cuda_xq_wanted(col[0], k) == 1);     /* it was taken: still wanted */

    /* another column asked for: not taken, and the offered one is no longer quantized */
    mlxn_cuda_xq_offer(col[1], k, s1);
    CHECK(mlxn_cuda_xq_take(col[2], k, s1) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[1], k) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[2], k) == 1);
    CHECK(mlxn_cuda_xq_take(col[1], k, s1) == 0);   /* the offer is gone */

    /* a launch in between voids it */
    mlxn_cuda_xq_offer(col[3], k, s1);
    (void)mlxn_cuda_check_launch("test", __FILE__, __LINE__);
    CHECK(mlxn_cuda_xq_take(col[3], k, s1) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[3], k) == 0);

    /* another stream, another k */
    mlxn_cuda_xq_offer(col[4], k, s1);
    CHECK(mlxn_cuda_xq_take(col[4], k, s2) == 0);
    mlxn_cuda_xq_offer(col[5], k, s1);
    CHECK(mlxn_cuda_xq_take(col[5], 2 * k, s1) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[5], k) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[5], 2 * k) == 1);   /* the entry is per (column, k) */

    /* an offer replaced by the next one: the first counts as untaken, the second is taken */
    mlxn_cuda_xq_offer(col[6], k, s1);
    mlxn_cuda_xq_offer(col[7], k, s1);
    CHECK(mlxn_cuda_xq_take(col[7], k, s1) == 1);
    CHECK(mlxn_cuda_xq_wanted(col[6], k) == 0);
    CHECK(mlxn_cuda_xq_wanted(col[7], k) == 1);

    /* the untaken list is a ring of 16: the oldest entries are forgotten (wanted again), the
     * newest remembered */
    for (int i = 0; i < 16; i++) {
        mlxn_cuda_xq_offer(col[10 + i], k, s1);
        CHECK(mlxn_cuda_xq_take(col[40], k, s1) == 0);
    }
    CHECK(mlxn_cuda_xq_wanted(col[1], k) == 1);
    for (int i = 0; i < 16; i++) CHECKF(mlxn_cuda_xq_wanted(col[10 + i], k) == 0, "column %d", 10 + i);
    return tu_finish();
}
