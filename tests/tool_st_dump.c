/* tool_st_dump: test helper that prints every tensor of a safetensors file or model folder, as
 * read by mlxn, as JSON lines {name, dtype, shape, offset, hex} so Python oracles can compare
 * bytes and shapes with what the reference package wrote. Exit 1 with the error otherwise. */
#include "mlxn.h"
#include <stdio.h>
#include <sys/stat.h>

/* s as a JSON string (UTF-8 passes through; quotes, backslashes, control bytes escaped). */
static void jstr(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static void dump(const mlxn_st_tensor *t) {
    printf("{\"name\": ");
    jstr(t->name);
    printf(", \"dtype\": \"%s\", \"type\": \"%s\", \"shape\": [", t->dtype,
           t->type == MLXN_ST_TYPE_NONE ? "none" : mlxn_type_name(t->type));
    for (int d = 0; d < t->n_dims; d++) printf("%s%lld", d ? ", " : "", (long long)t->shape[d]);
    printf("], \"offset\": %llu, \"hex\": \"", (unsigned long long)t->offset);
    const unsigned char *p = t->data;
    for (uint64_t i = 0; i < t->nbytes; i++) printf("%02x", p[i]);
    printf("\"}\n");
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: tool_st_dump FILE.safetensors|FOLDER\n"); return 2; }
    struct stat sb;
    mlxn_status rc;
    mlxn_st_tensor t;
    if (stat(argv[1], &sb) == 0 && S_ISDIR(sb.st_mode)) {
        mlxn_folder_t *f = NULL;
        if ((rc = mlxn_folder_open(argv[1], &f)) != MLXN_OK) goto fail;
        for (int64_t i = 0; i < mlxn_folder_tensor_count(f); i++)
            if (mlxn_folder_get_tensor(f, i, &t, NULL) == MLXN_OK) dump(&t);
        mlxn_folder_free(f);
        return 0;
    }
    mlxn_st_t *st = NULL;
    if ((rc = mlxn_st_open(argv[1], &st)) != MLXN_OK) goto fail;
    for (int64_t i = 0; i < mlxn_st_tensor_count(st); i++)
        if (mlxn_st_get_tensor(st, i, &t) == MLXN_OK) dump(&t);
    for (int64_t i = 0; i < mlxn_st_meta_count(st); i++)
    {
        printf("{\"meta\": ");
        jstr(mlxn_st_meta_key(st, i));
        printf(", \"value\": ");
        jstr(mlxn_st_meta_value(st, i));
        printf("}\n");
    }
    mlxn_st_free(st);
    return 0;
fail:
    fprintf(stderr, "tool_st_dump: %s: %s\n", mlxn_status_str(rc), mlxn_last_error());
    return 1;
}
