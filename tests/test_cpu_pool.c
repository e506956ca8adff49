/* The CPU worker pool (src/backend/cpu/cpu_pool.h): every item of every job runs exactly once,
 * with 1..8 threads, item counts from 0 to past the serial limit, jobs back to back (workers
 * still spinning), jobs after a pause (workers asleep on the futex), two caller threads at once
 * (one of them runs serially), and a job started from inside an item. */
#include "backend/cpu/cpu_pool.h"
#include "testutil.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

typedef struct job {
    _Atomic int *hits;
    int64_t n;
    int nested;           /* run a nested job of this many items from item 0 */
    _Atomic int nested_hits;
} job;

static void item(void *arg, int64_t i) {
    job *J = arg;
    atomic_fetch_add(&J->hits[i], 1);
    /* a little uneven work so that items finish out of order */
    volatile double x = 0;
    for (int k = 0; k < (int)(i % 7) * 20; k++) x += k;
    if (i == 0 && J->nested) {
        job inner = {calloc((size_t)J->nested, sizeof(_Atomic int)), J->nested, 0, 0};
        mlxn_cpu_pool_run(4, J->nested, item, &inner);
        int ok = 1;
        for (int64_t k = 0; k < J->nested; k++) ok &= atomic_load(&inner.hits[k]) == 1;
        atomic_store(&J->nested_hits, ok);
        free((void *)inner.hits);
    }
}

/* Runs one job and returns how many items did not run exactly once. */
static int64_t run_job(int nt, int64_t n, int nested) {
    job J = {calloc((size_t)(n ? n : 1), sizeof(_Atomic int)), n, nested, 0};
    mlxn_cpu_pool_run(nt, n, item, &J);
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += atomic_load(&J.hits[i]) != 1;
    if (nested && !atomic_load(&J.nested_hits)) bad++;
    free((void *)J.hits);
    return bad;
}

static void *caller(void *arg) {
    int64_t *bad = arg;
    for (int r = 0; r < 300; r++) *bad += run_job(2 + r % 3, 1 + (r * 37) % 500, 0);
    return NULL;
}

int main(void) {
    const int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 4099};
    for (int nt = 1; nt <= 8; nt++)
        for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
            int64_t bad = run_job(nt, sizes[s], 0);
            CHECKF(bad == 0, "threads %d, %lld items: %lld items did not run exactly once", nt, (long long)sizes[s], (long long)bad);
        }

    /* past the pool's item limit: runs serially, still every item once */
    CHECK(run_job(2, (1 << 20) + 3, 0) == 0);

    /* back to back: workers spinning between jobs */
    int64_t bad = 0;
    for (int r = 0; r < 2000; r++) bad += run_job(2 + r % 2, 1 + r % 97, 0);
    CHECKF(bad == 0, "back-to-back jobs: %lld bad items", (long long)bad);

    /* after pauses: workers asleep */
    bad = 0;
    for (int r = 0; r < 5; r++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        bad += run_job(3, 100, 0);
    }
    CHECKF(bad == 0, "jobs after pauses: %lld bad items", (long long)bad);

    /* nested: the inner job runs serially on the item's thread */
    CHECK(run_job(3, 50, 33) == 0);

    /* two callers at once */
    pthread_t th[2];
    int64_t tb[2] = {0, 0};
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&th[i], NULL, caller, &tb[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECKF(tb[0] == 0 && tb[1] == 0, "concurrent callers: %lld and %lld bad items", (long long)tb[0], (long long)tb[1]);
    return tu_finish();
}
