/* Implementation of the shared test helpers (see testutil.h). */
#define _POSIX_C_SOURCE 200809L   /* popen, strdup */
#include "testutil.h"
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

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

const char *tu_backend_name(void) {
    const char *e = getenv("MLXN_TEST_BACKEND");
    return e && *e ? e : "cpu";
}

char *tu_fetch_model(const char *source_dir) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "bash '%s/scripts/fetch-model.sh'", source_dir);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    char line[4096] = {0};
    if (!fgets(line, sizeof line, p)) line[0] = 0;
    int rc = pclose(p);
    line[strcspn(line, "\n")] = 0;
    if (rc != 0 || !line[0]) return NULL;
    return strdup(line);
}

cJSON *tu_load_json(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf) { fclose(f); return NULL; }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    buf[got] = 0;
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    return j;
}
