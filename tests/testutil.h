/* Small test helpers shared by every C test: checks that count failures, a seeded RNG,
 * the closing "N passed, N failed" line, and a strided 3-d tensor view. */
#ifndef MLXN_TESTUTIL_H
#define MLXN_TESTUTIL_H
#include <stdint.h>
#include <stdio.h>
#include "mlxn.h"

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

/* The backend the engine tests run on: MLXN_TEST_BACKEND, else "cpu". */
const char *tu_backend_name(void);
/* The SmolLM2 model file that scripts/fetch-model.sh (under source_dir) fetches or finds: its
 * path (malloc'd), or NULL. */
char *tu_fetch_model(const char *source_dir);
/* A JSON file parsed (cJSON_Delete it), or NULL. */
struct cJSON *tu_load_json(const char *path);

/* Path join helper: returns a static buffer "dir/rel". */
const char *tu_path(const char *dir, const char *rel);

/* A 3-d view {ne0, ne1, ne2} of type t at byte offset off of b: nb[0] one element, nb[1] and
 * nb[2] as given, nb[3] = nb2 * ne2. */
mlxn_tensor tu_view3(mlxn_buffer_t *b, size_t off, mlxn_type t, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1,
                     size_t nb2);
#endif
