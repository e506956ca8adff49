/* A small process-wide worker pool for the CPU backend's hot ops, built for shared machines
 * where libgomp's fork/join is costly: a parallel region wakes every team thread and waits for
 * each one at the join, even a thread the OS has not scheduled yet (passive wait: a futex
 * round-trip per region and per barrier; the default active wait: spinning threads that take
 * the core the working thread needs).
 *
 * mlxn_cpu_pool_run(nt, n, fn, arg) runs fn(arg, i) for every i < n on the calling thread and up
 * to nt - 1 pool workers. Items are claimed one at a time from a shared counter; the caller
 * claims too, and returns as soon as every item has finished, without waiting for workers that
 * never woke up (a late worker finds nothing left and goes back to sleep). Workers spin briefly
 * after a job (back-to-back ops in a decode step), then sleep on a futex.
 *
 * One job runs at a time; a call made while another thread's job is running (or from inside fn)
 * runs its items serially on its own thread. nt <= 1 or n <= 1 runs serially without touching
 * the pool. n must be below 2^20 (larger n runs serially: callers pass blocks, not elements). */
#ifndef MLXN_BACKEND_CPU_POOL_H
#define MLXN_BACKEND_CPU_POOL_H
#include <stdint.h>

typedef void (*mlxn_pool_fn)(void *arg, int64_t item);

void mlxn_cpu_pool_run(int n_threads, int64_t n_items, mlxn_pool_fn fn, void *arg);

/* Workers the pool may use at most (threads besides the caller). */
enum { MLXN_POOL_MAX_WORKERS = 63 };
#endif
