/* mlxn: the command-line tool. Dispatches to one cmd_*.c file per subcommand. */
#include "tools_common.h"
#include <stdio.h>
#include <string.h>

/* Each subcommand lives in its own file (tools/mlxn/cmd_<name>.c). */
#define CMD(name) int cmd_##name(int argc, char **argv);
CMD(info) CMD(tokenize) CMD(run) CMD(bench) CMD(bench_ops) CMD(synth)
#undef CMD

typedef int (*cmd_fn)(int, char **);
static cmd_fn lookup(const char *name, const char **help) {
    static const char *names[] = {"info", "tokenize", "run", "bench", "bench-ops", "synth"};
    static const char *helps[] = {
        "print metadata, tensors and tokenizer of a GGUF file, safetensors file or model folder",
        "print the token ids of a text with a model's tokenizer",
        "generate text from a prompt (or chat interactively)",
        "measure prefill and decode speed (tokens/s)",
        "benchmark kernels against the memory-bandwidth ceiling",
        "write a synthetic GGUF model with real shapes and random weights",
    };
    cmd_fn fns[] = {cmd_info, cmd_tokenize, cmd_run, cmd_bench, cmd_bench_ops, cmd_synth};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!name) { printf("  %-10s %s\n", names[i], helps[i]); continue; }
        if (!strcmp(name, names[i])) { if (help) *help = helps[i]; return fns[i]; }
    }
    return NULL;
}

static void usage(void) {
    printf("usage: mlxn COMMAND [options]   (mlxn COMMAND --help for each command's flags)\n\ncommands:\n");
    lookup(NULL, NULL);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage();
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("mlxn %s\n", MLXN_VERSION_STRING); return 0; }
    cmd_fn fn = lookup(argv[1], NULL);
    if (!fn) {
        fprintf(stderr, "mlxn: unknown command '%s'\n", argv[1]);
        usage();
        return 2;
    }
    return fn(argc - 1, argv + 1);
}
