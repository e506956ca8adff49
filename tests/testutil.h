/* Small test helpers shared by every C test: checks that count failures, a seeded RNG,
 * and the closing "N passed, N failed" line. */
#ifndef MLXN_TESTUTIL_H
#define MLXN_TESTUTIL_H
#include <stdint.h>
#include <stdio.h>

extern int tu_passed, tu_failed;

/* Records one check; prints the failing expression with file:line. Returns cond. */
int tu_check(int cond, const char *expr, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define CHECK(cond) tu_check(!!(cond), #cond, __FILE__, __LINE__, NULL)
#define CHECKF(cond, ...) tu_check(!!(cond), #cond, __FILE__, __LINE__, __VA_ARGS__)

/* Prints "N passed, N failed" and returns the process exit code. */
int tu_finish(void);

/* xorshift64* RNG: deterministic per seed. */
typedef struct { uint64_t s; } tu_rng;
void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rng_u64(tu_rng *r);
float tu_rng_uniform(tu_rng *r);            /* [0, 1) */
float tu_rng_normal(tu_rng *r);             /* N(0, 1) */

/* Path join helper: returns a static buffer "dir/rel". */
const char *tu_path(const char *dir, const char *rel);
#endif
