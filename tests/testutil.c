/* Implementation of the shared test helpers (see testutil.h). */
#include "testutil.h"
#include <math.h>
#include <stdarg.h>
#include <string.h>

int tu_passed, tu_failed;

int tu_check(int cond, const char *expr, const char *file, int line, const char *fmt, ...) {
    if (cond) { tu_passed++; return 1; }
    tu_failed++;
    fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(" -- ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    return 0;
}

int tu_finish(void) {
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed == 0 && tu_passed > 0 ? 0 : 1;
}

void tu_rng_seed(tu_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 1; }
uint64_t tu_rng_u64(tu_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1Dull;
}
float tu_rng_uniform(tu_rng *r) { return (float)((tu_rng_u64(r) >> 40) * (1.0 / 16777216.0)); }
float tu_rng_normal(tu_rng *r) {
    double u1 = ((tu_rng_u64(r) >> 11) + 1) * (1.0 / 9007199254740993.0);
    double u2 = (tu_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

const char *tu_path(const char *dir, const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", dir, rel);
    return buf;
}

mlxn_tensor tu_view3(mlxn_buffer_t *b, size_t off, mlxn_type t, int64_t ne0, int64_t ne1, int64_t ne2, size_t nb1,
                     size_t nb2) {
    mlxn_tensor x;
    memset(&x, 0, sizeof x);
    x.buf = b; x.offset = off;
    x.d.type = t; x.d.n_dims = 3;
    x.d.ne[0] = ne0; x.d.ne[1] = ne1; x.d.ne[2] = ne2; x.d.ne[3] = 1;
    x.d.nb[0] = mlxn_row_size(t, 1); x.d.nb[1] = nb1; x.d.nb[2] = nb2; x.d.nb[3] = nb2 * (size_t)ne2;
    return x;
}
