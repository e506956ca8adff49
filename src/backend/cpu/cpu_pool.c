/* Worker pool of cpu_pool.h. The job word packs (generation 24 bits | next item 20 bits |
 * item count 20 bits) so that one compare-and-swap both claims an item and checks that it
 * belongs to the job the claimant saw announced: a worker that wakes after its job finished
 * cannot take an item of the next job. fn and arg are written before the word is published and
 * stay valid while any item is unfinished, which is the only time a claim can succeed. */
#define _GNU_SOURCE
#include "backend/cpu/cpu_pool.h"
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IDX_BITS 20
#define N_MASK ((1ull << IDX_BITS) - 1)
#define GEN_SHIFT (2 * IDX_BITS)

enum { SPIN_ROUNDS = 4000 };   /* pause loops a worker spins for the next job (~0.1 ms) */

static struct {
    pthread_mutex_t lock;          /* held by the caller for one job */
    pthread_mutex_t start_lock;    /* guards starting workers */
    _Atomic uint64_t job;          /* gen | next | n */
    _Atomic uint32_t gen;          /* futex word: bumped per job */
    _Atomic int64_t done;          /* items finished in the current job */
    _Atomic int want;              /* workers allowed in the current job */
    _Atomic int sleepers;          /* workers in (or entering) FUTEX_WAIT */
    mlxn_pool_fn fn;
    void *arg;
    int n_workers;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .start_lock = PTHREAD_MUTEX_INITIALIZER};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Claims and runs items of job generation g until none is left. */
static void work(uint64_t g) {
    uint64_t v = atomic_load_explicit(&P.job, memory_order_acquire);
    for (;;) {
        if ((v >> GEN_SHIFT) != g) return;
        uint64_t idx = (v >> IDX_BITS) & N_MASK, n = v & N_MASK;
        if (idx >= n) return;
        if (!atomic_compare_exchange_weak_explicit(&P.job, &v, v + (1ull << IDX_BITS), memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        P.fn(P.arg, (int64_t)idx);
        atomic_fetch_add_explicit(&P.done, 1, memory_order_release);
        v = atomic_load_explicit(&P.job, memory_order_acquire);
    }
}

static void *worker_main(void *p) {
    int id = (int)(intptr_t)p;
    uint32_t seen = atomic_load_explicit(&P.gen, memory_order_acquire);
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen) {
            if (spins < SPIN_ROUNDS) {
                spins++;
                cpu_relax();
            } else {
                atomic_fetch_add(&P.sleepers, 1);   /* before the futex re-checks gen */
                syscall(SYS_futex, &P.gen, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
                atomic_fetch_sub(&P.sleepers, 1);
            }
        }
        seen = g;
        if (id < atomic_load_explicit(&P.want, memory_order_relaxed)) work(g & ((1u << 24) - 1));
    }
    return NULL;
}

static void start_workers(int n) {
    if (n > MLXN_POOL_MAX_WORKERS) n = MLXN_POOL_MAX_WORKERS;
    pthread_mutex_lock(&P.start_lock);
    while (P.n_workers < n) {
        pthread_t t;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &a, worker_main, (void *)(intptr_t)P.n_workers);
        pthread_attr_destroy(&a);
        if (rc) break;   /* fewer workers: the caller does more items itself */
        P.n_workers++;
    }
    pthread_mutex_unlock(&P.start_lock);
}

void mlxn_cpu_pool_run(int nt, int64_t n, mlxn_pool_fn fn, void *arg) {
    if (nt <= 1 || n <= 1 || n > (int64_t)N_MASK || pthread_mutex_trylock(&P.lock)) {
        for (int64_t i = 0; i < n; i++) fn(arg, i);
        return;
    }
    if (P.n_workers < nt - 1) start_workers(nt - 1);
    P.fn = fn;
    P.arg = arg;
    atomic_store_explicit(&P.done, 0, memory_order_relaxed);
    atomic_store_explicit(&P.want, nt - 1, memory_order_relaxed);
    uint32_t g = (atomic_load_explicit(&P.gen, memory_order_relaxed) + 1) & ((1u << 24) - 1);
    atomic_store_explicit(&P.job, ((uint64_t)g << GEN_SHIFT) | (uint64_t)n, memory_order_release);
    atomic_store(&P.gen, g);   /* seq_cst: ordered before the sleepers load */
    if (atomic_load(&P.sleepers) > 0) syscall(SYS_futex, &P.gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    work(g);
    /* every item is claimed; wait for the ones still running elsewhere */
    for (int spins = 0; atomic_load_explicit(&P.done, memory_order_acquire) < n; spins++) {
        if (spins < 2000) cpu_relax();
        else sched_yield();
    }
    pthread_mutex_unlock(&P.lock);
}
