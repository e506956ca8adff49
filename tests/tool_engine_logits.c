/* tool_engine_logits: runs token ids through a model and writes every position's logits, for
 * the Python architecture tests (tests/py/test_engine_arch.py).
 *   tool_engine_logits MODEL OUT.f32 [--backend NAME] [--kv f32|f16] [--batch N] ID...
 * OUT gets n_tokens * n_vocab little-endian f32. Exit 1 with the error on failure. */
#include "mlxn.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what) {
    fprintf(stderr, "tool_engine_logits: %s: %s\n", what, mlxn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: tool_engine_logits MODEL OUT [--backend B] [--kv f32|f16] [--batch N] ID...\n");
        return 2;
    }
    const char *backend = "cpu";
    mlxn_context_params cp = mlxn_context_default_params();
    int32_t *ids = malloc(sizeof *ids * (size_t)argc);
    int n = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
        else if (!strcmp(argv[i], "--kv") && i + 1 < argc) {
            i++;
            cp.kv_type = !strcmp(argv[i], "f32") ? MLXN_TYPE_F32 : MLXN_TYPE_F16;
        } else if (!strcmp(argv[i], "--batch") && i + 1 < argc) cp.n_batch = atoi(argv[++i]);
        else ids[n++] = atoi(argv[i]);
    }
    mlxn_backend_t *be = NULL;
    mlxn_model_t *m = NULL;
    mlxn_context_t *c = NULL;
    if (mlxn_backend_open(backend, &be) != MLXN_OK) return die("backend");
    if (mlxn_model_load(argv[1], be, NULL, &m) != MLXN_OK) return die("load");
    cp.n_ctx = n + 8;
    if (mlxn_context_new(m, &cp, &c) != MLXN_OK) return die("context");
    int V = mlxn_model_get_info(m)->n_vocab;
    float *lg = malloc(sizeof *lg * (size_t)n * (size_t)V);
    if (mlxn_decode_all(c, ids, n, lg) != MLXN_OK) return die("decode");
    FILE *f = fopen(argv[2], "wb");
    if (!f || fwrite(lg, sizeof *lg, (size_t)n * V, f) != (size_t)n * V) return die("write");
    fclose(f);
    free(lg);
    free(ids);
    mlxn_context_free(c);
    mlxn_model_free(m);
    mlxn_backend_free(be);
    return 0;
}
