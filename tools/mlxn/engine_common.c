/* Backend choice, model loading with a progress bar, and option parsing for the engine
 * subcommands. */
#include "engine_common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *tool_default_device(void) {
    for (int i = 0; i < mlxn_device_count(); i++) {
        mlxn_device_info di;
        if (mlxn_device_get_info(i, &di) == MLXN_OK && di.kind == MLXN_DEVICE_CUDA) return "cuda";
    }
    return "cpu";
}

int tool_open_backend(const char *cmd, const char *device, int n_threads, mlxn_backend_t **out) {
    const char *dev = device ? device : tool_default_device();
    mlxn_status st = mlxn_backend_open(dev, out);
    if (st != MLXN_OK) {
        fprintf(stderr, "mlxn %s: cannot open device '%s': %s: %s\n", cmd, dev, mlxn_status_str(st),
                mlxn_last_error());
        return 1;
    }
    if (n_threads > 0) {
        st = mlxn_backend_set_threads(*out, n_threads);
        if (st != MLXN_OK) {
            mlxn_backend_free(*out);
            *out = NULL;
            return tool_fail(cmd, st);
        }
    }
    return 0;
}

typedef struct bar { int last; } bar;

static void draw_bar(float f, void *user) {
    bar *b = user;
    int pct = (int)(f * 100.0f + 0.5f);
    if (pct == b->last) return;
    b->last = pct;
    int w = 40, fill = pct * w / 100;
    fprintf(stderr, "\rloading [");
    for (int i = 0; i < w; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %3d%%", pct);
    if (pct >= 100) fputc('\n', stderr);
    fflush(stderr);
}

int tool_load_model(const char *cmd, const char *path, mlxn_backend_t *be, bool quiet, mlxn_model_t **out) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "mlxn %s: cannot open model '%s': %s\n", cmd, path, strerror(errno));
        return 1;
    }
    mlxn_model_params mp = mlxn_model_default_params();
    bar b = {-1};
    if (!quiet && sb.st_size >= (64 << 20) && isatty(2)) {
        mp.progress = draw_bar;
        mp.progress_user = &b;
    }
    mlxn_status st = mlxn_model_load(path, be, &mp, out);
    if (b.last >= 0 && b.last < 100) fputc('\n', stderr);
    if (st != MLXN_OK) return tool_fail(cmd, st);
    return 0;
}

bool tool_parse_int(const char *cmd, const char *flag, const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "mlxn %s: %s wants an integer in [%ld, %ld], got '%s'\n", cmd, flag, lo, hi, s ? s : "");
        return false;
    }
    *out = (int)v;
    return true;
}

bool tool_parse_float(const char *cmd, const char *flag, const char *s, float *out) {
    char *end = NULL;
    errno = 0;
    float v = s ? strtof(s, &end) : 0;
    if (!s || !*s || *end || errno) {
        fprintf(stderr, "mlxn %s: %s wants a number, got '%s'\n", cmd, flag, s ? s : "");
        return false;
    }
    *out = v;
    return true;
}

double tool_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
