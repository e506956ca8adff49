/* tool_quant: the block codecs as a filter over raw files, for the Python oracle tests.
 *   tool_quant deq TYPE N IN OUT        raw blocks of type id TYPE -> N f32
 *   tool_quant q TYPE N IN OUT          N f32 -> raw blocks
 *   tool_quant mlxq MODE BITS GROUP STYPE ROWS N IN W S B     f32 [ROWS, N] -> words, scales, biases
 *   tool_quant mlxdeq MODE BITS GROUP STYPE ROWS N W S B OUT  -> f32 [ROWS, N]
 * MODE 0 = affine, 1 = mxfp4; STYPE is a type id (1 f16, 30 bf16, 71 e8m0). Exit 1 on error. */
#include "mlxn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *slurp(const char *path, size_t want) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "cannot open %s\n", path); exit(1); }
    void *p = calloc(1, want ? want : 1);
    if (fread(p, 1, want, f) != want) { fprintf(stderr, "%s: short read (want %zu)\n", path, want); exit(1); }
    fclose(f);
    return p;
}
static void spill(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
    fclose(f);
}
static void die_st(mlxn_status st) {
    if (st != MLXN_OK) { fprintf(stderr, "error: %s: %s\n", mlxn_status_str(st), mlxn_last_error()); exit(1); }
}

int main(int argc, char **argv) {
    if (argc == 6 && (!strcmp(argv[1], "deq") || !strcmp(argv[1], "q"))) {
        mlxn_type t = (mlxn_type)atoi(argv[2]);
        long long n = atoll(argv[3]);
        size_t rs = mlxn_row_size(t, n);
        if (!rs) { fprintf(stderr, "bad type/size\n"); return 1; }
        if (!strcmp(argv[1], "deq")) {
            void *in = slurp(argv[4], rs);
            float *out = malloc((size_t)n * 4);
            die_st(mlxn_dequantize_row(t, in, out, n));
            spill(argv[5], out, (size_t)n * 4);
            free(in), free(out);
        } else {
            float *in = slurp(argv[4], (size_t)n * 4);
            void *out = malloc(rs);
            die_st(mlxn_quantize_row(t, in, out, n));
            spill(argv[5], out, rs);
            free(in), free(out);
        }
        return 0;
    }
    if (argc == 12 && (!strcmp(argv[1], "mlxq") || !strcmp(argv[1], "mlxdeq"))) {
        mlxn_mlx_quant q = {(mlxn_mlx_mode)atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), (mlxn_type)atoi(argv[5])};
        long long rows = atoll(argv[6]), n = atoll(argv[7]);
        if (rows <= 0 || n <= 0 || n % q.group_size || q.bits <= 0) { fprintf(stderr, "bad shape\n"); return 1; }
        size_t wb = (size_t)(n * q.bits / 32) * 4, ng = (size_t)(n / q.group_size);
        size_t sb = ng * (q.mode == MLXN_MLX_MXFP4 ? 1 : 2);
        uint8_t *w, *s, *b;
        float *x;
        if (!strcmp(argv[1], "mlxq")) {
            x = slurp(argv[8], (size_t)(rows * n) * 4);
            w = malloc(wb * rows), s = malloc(sb * rows), b = malloc(sb * rows);
            for (long long r = 0; r < rows; r++)
                die_st(mlxn_mlx_quantize_row(&q, x + r * n, (uint32_t *)(w + r * wb), s + r * sb, b + r * sb, n));
            spill(argv[9], w, wb * rows), spill(argv[10], s, sb * rows);
            if (q.mode == MLXN_MLX_AFFINE) spill(argv[11], b, sb * rows);
        } else {
            w = slurp(argv[8], wb * rows), s = slurp(argv[9], sb * rows);
            b = q.mode == MLXN_MLX_AFFINE ? slurp(argv[10], sb * rows) : NULL;
            x = malloc((size_t)(rows * n) * 4);
            for (long long r = 0; r < rows; r++)
                die_st(mlxn_mlx_dequantize_row(&q, (const uint32_t *)(w + r * wb), s + r * sb, b ? b + r * sb : NULL,
                                               x + r * n, n));
            spill(argv[11], x, (size_t)(rows * n) * 4);
        }
        free(w), free(s), free(b), free(x);
        return 0;
    }
    fprintf(stderr, "usage: see the comment at the top of tests/tool_quant.c\n");
    return 1;
}
