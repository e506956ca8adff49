/* mlxn tokenize: prints the token ids of one or more texts with a GGUF file's tokenizer or a
 * Hugging Face tokenizer.json, one line per text, for checking the tokenizer against other
 * implementations. */
#include "tools_common.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void tokenize_usage(FILE *f) {
    fprintf(f,
            "usage: mlxn tokenize -m FILE (-p TEXT | -f FILE [--separator LINE]) [--special]\n"
            "\n"
            "Prints the token ids of each text on one line, separated by spaces.\n"
            "\n"
            "  -m, --model FILE      GGUF file whose tokenizer.ggml.* metadata is used, or a\n"
            "                        Hugging Face tokenizer: a folder holding tokenizer.json\n"
            "                        (tokenizer_config.json beside it is read too) or a file\n"
            "                        whose name ends in .json\n"
            "  -p, --prompt TEXT     tokenize TEXT (one text)\n"
            "  -f, --file FILE       tokenize the bytes of FILE (one text, newlines included)\n"
            "  --separator LINE      with -f: FILE holds several texts, split at lines equal to\n"
            "                        LINE; a text is the lines between two separators, the\n"
            "                        newline before a separator line not included (the layout\n"
            "                        of the tokenizer test vectors: --separator __ggml_vocab_test__)\n"
            "  --special             add BOS/EOS as the file's metadata asks (add_bos_token,\n"
            "                        add_eos_token) and turn control tokens written in the text\n"
            "                        (such as <|im_start|>) into their ids; without it control\n"
            "                        tokens are tokenized as plain text\n"
            "  --pieces              after each id print '=' and the token's vocabulary text,\n"
            "                        quoted (for reading, not for comparing)\n"
            "  --decode              after the ids print a tab and the hex of the bytes the ids\n"
            "                        detokenize to (control tokens as text with --special; the\n"
            "                        SentencePiece prefix space dropped)\n"
            "  -h, --help            show this help\n");
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *p = realloc(buf, cap *= 2);
            if (!p) { free(buf); buf = NULL; break; }
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (buf && ferror(f)) { free(buf); buf = NULL; }
    fclose(f);
    *len = n;
    return buf;
}

static void print_quoted(const char *s, size_t n) {
    putchar('\'');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\'' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

static int print_decoded(const mlxn_tokenizer_t *tok, const int32_t *ids, size_t n, bool special) {
    unsigned flags = MLXN_DETOK_STRIP_PREFIX | (special ? MLXN_DETOK_SPECIAL : 0);
    size_t len = 0;
    mlxn_status st = mlxn_detokenize(tok, ids, n, flags, NULL, 0, &len);
    if (st && st != MLXN_ERR_INVALID_ARG) return tool_fail("detokenize", st);
    char *buf = malloc(len + 1);
    if (!buf) return tool_fail("detokenize", MLXN_ERR_NO_MEMORY);
    st = mlxn_detokenize(tok, ids, n, flags, buf, len + 1, &len);
    if (st) { free(buf); return tool_fail("detokenize", st); }
    putchar('\t');
    for (size_t i = 0; i < len; i++) printf("%02x", (unsigned char)buf[i]);
    free(buf);
    return 0;
}

static int print_ids(const mlxn_tokenizer_t *tok, const char *text, size_t len, bool special, bool pieces,
                     bool decode) {
    size_t n = 0;
    mlxn_status st = mlxn_tokenize(tok, text, len, special, special, NULL, 0, &n);
    if (st && st != MLXN_ERR_INVALID_ARG) return tool_fail("tokenize", st);
    int32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids) return tool_fail("tokenize", MLXN_ERR_NO_MEMORY);
    st = mlxn_tokenize(tok, text, len, special, special, ids, n, &n);
    if (st) { free(ids); return tool_fail("tokenize", st); }
    for (size_t i = 0; i < n; i++) {
        printf(i ? " %d" : "%d", (int)ids[i]);
        if (pieces) {
            mlxn_str s = mlxn_tokenizer_token_text(tok, ids[i]);
            putchar('=');
            print_quoted(s.ptr, (size_t)s.len);
        }
    }
    if (decode && print_decoded(tok, ids, n, special)) { free(ids); return 1; }
    putchar('\n');
    free(ids);
    return 0;
}

/* Texts of a separated file: the lines between separator lines, joined by '\n'. */
static int print_separated(const mlxn_tokenizer_t *tok, const char *buf, size_t len, const char *sep, bool special,
                           bool pieces, bool decode) {
    size_t sl = strlen(sep), start = 0, pos = 0;
    bool has_lines = false;   /* the current text has at least one line */
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (end - pos == sl && !memcmp(buf + pos, sep, sl)) {
            size_t tend = pos > start ? pos - 1 : start;   /* drop the newline before the separator */
            int rc = print_ids(tok, buf + start, has_lines ? tend - start : 0, special, pieces, decode);
            if (rc) return rc;
            has_lines = false;
            start = nl ? end + 1 : len;
        } else {
            has_lines = true;
        }
        pos = nl ? end + 1 : len;
    }
    if (has_lines) {   /* a last text with no separator after it */
        size_t tend = len > start && buf[len - 1] == '\n' ? len - 1 : len;
        return print_ids(tok, buf + start, tend - start, special, pieces, decode);
    }
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL, *prompt = NULL, *file = NULL, *sep = NULL;
    bool special = false, pieces = false, decode = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { tokenize_usage(stdout); return 0; }
        else if ((!strcmp(a, "-m") || !strcmp(a, "--model")) && has_val) model = argv[++i];
        else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_val) prompt = argv[++i];
        else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_val) file = argv[++i];
        else if (!strcmp(a, "--separator") && has_val) sep = argv[++i];
        else if (!strcmp(a, "--special")) special = true;
        else if (!strcmp(a, "--pieces")) pieces = true;
        else if (!strcmp(a, "--decode")) decode = true;
        else {
            fprintf(stderr, "mlxn tokenize: unknown or incomplete option '%s'\n", a);
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (!model || (!prompt == !file) || (sep && !file) || (sep && !*sep)) {
        fprintf(stderr, "mlxn tokenize: need -m and exactly one of -p or -f (--separator only with -f, not empty)\n");
        tokenize_usage(stderr);
        return 2;
    }

    mlxn_tokenizer_t *tok = NULL;
    struct stat sb;
    size_t ml = strlen(model);
    bool hf = (stat(model, &sb) == 0 && S_ISDIR(sb.st_mode)) || (ml >= 5 && !strcmp(model + ml - 5, ".json"));
    mlxn_status st;
    if (hf) {
        st = mlxn_tokenizer_load_hf(model, &tok);
    } else {
        mlxn_gguf_t *g = NULL;
        st = mlxn_gguf_open(model, &g);
        if (st) return tool_fail("tokenize", st);
        st = mlxn_tokenizer_from_gguf(g, &tok);
        mlxn_gguf_free(g);
    }
    if (st) return tool_fail("tokenize", st);

    int rc = 0;
    if (prompt) {
        rc = print_ids(tok, prompt, strlen(prompt), special, pieces, decode);
    } else {
        size_t len = 0;
        char *buf = read_file(file, &len);
        if (!buf) {
            fprintf(stderr, "mlxn tokenize: cannot read '%s'\n", file);
            rc = 1;
        } else {
            rc = sep ? print_separated(tok, buf, len, sep, special, pieces, decode)
                     : print_ids(tok, buf, len, special, pieces, decode);
            free(buf);
        }
    }
    mlxn_tokenizer_free(tok);
    if (fflush(stdout) != 0 && !rc) rc = 1;
    return rc;
}
