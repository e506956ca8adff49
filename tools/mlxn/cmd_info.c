/* mlxn info: what is inside a GGUF file, a safetensors file or a model folder -- format,
 * metadata (arrays summarised), config.json and quantization, the tensor table, totals and
 * (GGUF) a tokenizer summary. Text for people by default, one JSON object with --json. */
#define _POSIX_C_SOURCE 200809L
#include "tools_common.h"
#include "core/status.h"
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct info_opts {
    bool tensors;      /* print the tensor table */
    bool keys_only;    /* metadata only */
    bool json;
    int max_array;     /* array elements shown */
    int max_str;       /* string bytes shown */
} info_opts;

static void usage(FILE *fp) {
    fprintf(fp,
        "usage: mlxn info [options] PATH\n"
        "\n"
        "Prints what a model file holds. PATH is one of:\n"
        "  - a GGUF file: version, alignment, architecture, every metadata key with its value\n"
        "    (arrays as type, count and the first elements; long strings cut), the tensor table,\n"
        "    totals, and a tokenizer summary (model, pre-tokenizer, vocab size, merges, special\n"
        "    token ids with their text, add_bos/add_eos, chat template and its first line);\n"
        "  - a .safetensors file: header size, __metadata__, the tensor table and totals;\n"
        "  - a model folder (config.json + model.safetensors, or shards listed by\n"
        "    model.safetensors.index.json): the shards, a config.json summary (sizes, heads,\n"
        "    rope, MoE, sliding window, layer types, dtype), the MLX quantization block with its\n"
        "    per-module overrides and how many modules are quantized at which bits, the tensor\n"
        "    table (with each tensor's shard) and totals.\n"
        "\n"
        "Tensor table columns: name, type, shape, bytes. GGUF shapes are listed ne0 first (the\n"
        "contiguous dimension, as ggml does); safetensors shapes as stored (outermost first).\n"
        "Totals: tensor count, bytes, parameters and bits per weight. For MLX-quantized folders\n"
        "the parameters are the logical weights (packed words x 32/bits; scales and biases are\n"
        "not counted), so bits/weight includes the scale/bias overhead.\n"
        "\n"
        "options:\n"
        "  --no-tensors     leave out the tensor table (totals are still printed)\n"
        "  --keys           metadata / config only: no tensor table, totals or tokenizer summary\n"
        "  --max-array N    array elements shown per metadata array (default 8)\n"
        "  --max-str N      bytes shown of long strings (default 96)\n"
        "  --json           print one JSON object instead of text (same content; arrays summarised\n"
        "                   as {type, count, head})\n"
        "  -h, --help       this text\n"
        "\n"
        "Exit status: 0 on success, 1 if the path cannot be read or is malformed (the message\n"
        "names the problem and the offset or tensor), 2 on a usage error.\n");
}

/* ---- small printing helpers ---------------------------------------------------------- */

/* How many bytes of s (len bytes) to show: at most max, not splitting a UTF-8 sequence. */
static uint64_t cut_len(const char *s, uint64_t len, int max) {
    if (len <= (uint64_t)max) return len;
    uint64_t n = (uint64_t)max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    return n;
}

/* Prints s (len bytes, not NUL-terminated) quoted, escaping control bytes, cut at max. */
static void put_str(const char *s, uint64_t len, int max) {
    putchar('"');
    uint64_t n = cut_len(s, len, max);
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('"');
    if (len > n) printf("...(%llu bytes)", (unsigned long long)len);
}

/* A NUL-terminated copy of at most max bytes of s (for JSON). */
static char *dup_n(const char *s, uint64_t len, int max) {
    size_t n = (size_t)cut_len(s, len, max);
    char *r = malloc(n + 1);
    if (!r) return NULL;
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* Exact JSON integers: beyond 2^53 a double would round, so the digits go in raw. */
static cJSON *json_u64(uint64_t v) {
    if (v <= (1ull << 53)) return cJSON_CreateNumber((double)v);
    char b[32];
    snprintf(b, sizeof b, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(b);
}
static cJSON *json_i64(int64_t v) {
    if (v >= -(1ll << 53) && v <= (1ll << 53)) return cJSON_CreateNumber((double)v);
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return cJSON_CreateRaw(b);
}

static void add_str_n(cJSON *obj, const char *key, const char *s, uint64_t len, int max) {
    char *c = dup_n(s, len, max);
    cJSON_AddStringToObject(obj, key, c ? c : "");
    free(c);
}

static void human_bytes(uint64_t b, char *buf, size_t cap) {
    if (b >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", b / 1073741824.0);
    else if (b >= (1ull << 20)) snprintf(buf, cap, "%.2f MiB", b / 1048576.0);
    else if (b >= 1024) snprintf(buf, cap, "%.2f KiB", b / 1024.0);
    else snprintf(buf, cap, "%llu B", (unsigned long long)b);
}

static void print_totals(int64_t count, uint64_t bytes, uint64_t params, const char *note) {
    char hb[32];
    human_bytes(bytes, hb, sizeof hb);
    printf("totals: %lld tensors, %llu bytes (%s), %llu parameters", (long long)count, (unsigned long long)bytes, hb,
           (unsigned long long)params);
    if (params) printf(", %.3f bits/weight", (double)bytes * 8.0 / (double)params);
    if (note) printf(" %s", note);
    putchar('\n');
}

static void totals_json(cJSON *root, int64_t count, uint64_t bytes, uint64_t params) {
    cJSON *t = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(t, "tensors", (double)count);
    cJSON_AddNumberToObject(t, "bytes", (double)bytes);
    cJSON_AddNumberToObject(t, "params", (double)params);
    cJSON_AddNumberToObject(t, "bits_per_weight", params ? (double)bytes * 8.0 / (double)params : 0);
}

static int emit_json(cJSON *root) {
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) { fprintf(stderr, "mlxn info: out of memory printing JSON\n"); return 1; }
    puts(s);
    free(s);
    return 0;
}

/* ==========================================================================
 * GGUF
 * ========================================================================== */

static const char *vtype_name(mlxn_gguf_vtype t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < 13 ? n[t] : "?";
}

static bool vtype_is_int(mlxn_gguf_vtype t) {
    return t == MLXN_GGUF_U8 || t == MLXN_GGUF_I8 || t == MLXN_GGUF_U16 || t == MLXN_GGUF_I16 || t == MLXN_GGUF_U32 ||
           t == MLXN_GGUF_I32 || t == MLXN_GGUF_U64 || t == MLXN_GGUF_I64;
}

/* One scalar value, as text or as a JSON node. */
static void gguf_scalar(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype t, const info_opts *o, cJSON **node) {
    int64_t iv;
    uint64_t uv;
    double fv;
    bool bv;
    mlxn_str sv;
    if (t == MLXN_GGUF_STRING && mlxn_gguf_get_str(g, key, &sv) == MLXN_OK) {
        if (node) { char *c = dup_n(sv.ptr, sv.len, o->max_str); *node = cJSON_CreateString(c ? c : ""); free(c); }
        else put_str(sv.ptr, sv.len, o->max_str);
    } else if (t == MLXN_GGUF_BOOL && mlxn_gguf_get_bool(g, key, &bv) == MLXN_OK) {
        if (node) *node = cJSON_CreateBool(bv);
        else fputs(bv ? "true" : "false", stdout);
    } else if (t == MLXN_GGUF_U64 && mlxn_gguf_get_uint(g, key, &uv) == MLXN_OK) {
        if (node) *node = json_u64(uv);
        else printf("%llu", (unsigned long long)uv);
    } else if (vtype_is_int(t) && mlxn_gguf_get_int(g, key, &iv) == MLXN_OK) {
        if (node) *node = json_i64(iv);
        else printf("%lld", (long long)iv);
    } else if (mlxn_gguf_get_float(g, key, &fv) == MLXN_OK) {
        if (node) *node = cJSON_CreateNumber(fv);
        else printf("%.9g", fv);
    } else {
        if (node) *node = cJSON_CreateNull();
        else fputs("(unreadable)", stdout);
    }
}

static void gguf_array_elem(const mlxn_gguf_t *g, const char *key, mlxn_gguf_vtype et, uint64_t i, const info_opts *o,
                            cJSON *arr) {
    int64_t iv;
    uint64_t uv;
    double fv;
    mlxn_str sv;
    if (et == MLXN_GGUF_STRING && mlxn_gguf_arr_str(g, key, i, &sv) == MLXN_OK) {
        if (arr) { char *c = dup_n(sv.ptr, sv.len, o->max_str); cJSON_AddItemToArray(arr, cJSON_CreateString(c ? c : "")); free(c); }
        else put_str(sv.ptr, sv.len, o->max_str);
    } else if (et == MLXN_GGUF_U64 && mlxn_gguf_arr_uint(g, key, i, &uv) == MLXN_OK) {
        if (arr) cJSON_AddItemToArray(arr, json_u64(uv));
        else printf("%llu", (unsigned long long)uv);
    } else if ((vtype_is_int(et) || et == MLXN_GGUF_BOOL) && mlxn_gguf_arr_int(g, key, i, &iv) == MLXN_OK) {
        if (arr) cJSON_AddItemToArray(arr, et == MLXN_GGUF_BOOL ? cJSON_CreateBool(iv != 0) : json_i64(iv));
        else if (et == MLXN_GGUF_BOOL) fputs(iv ? "true" : "false", stdout);
        else printf("%lld", (long long)iv);
    } else if (mlxn_gguf_arr_float(g, key, i, &fv) == MLXN_OK) {
        if (arr) cJSON_AddItemToArray(arr, cJSON_CreateNumber(fv));
        else printf("%.9g", fv);
    } else {
        if (arr) cJSON_AddItemToArray(arr, cJSON_CreateNull());
        else fputs("?", stdout);
    }
}

/* Prints (or adds to meta) one key and its value; arrays summarised. */
static void gguf_kv(const mlxn_gguf_t *g, int64_t i, const info_opts *o, cJSON *meta) {
    const char *key = mlxn_gguf_kv_key(g, i);
    mlxn_gguf_vtype t = mlxn_gguf_kv_type(g, i);
    if (!key) return;
    if (t == MLXN_GGUF_ARRAY) {
        mlxn_gguf_vtype et = MLXN_GGUF_U8;
        uint64_t n = 0;
        mlxn_gguf_get_arr(g, key, &et, &n);
        uint64_t show = n < (uint64_t)o->max_array ? n : (uint64_t)o->max_array;
        if (meta) {
            cJSON *a = cJSON_AddObjectToObject(meta, key);
            cJSON_AddStringToObject(a, "type", vtype_name(et));
            cJSON_AddNumberToObject(a, "count", (double)n);
            cJSON *head = cJSON_AddArrayToObject(a, "head");
            for (uint64_t k = 0; k < show; k++) gguf_array_elem(g, key, et, k, o, head);
            return;
        }
        printf("  %-44s arr[%s] %llu: [", key, vtype_name(et), (unsigned long long)n);
        for (uint64_t k = 0; k < show; k++) {
            if (k) fputs(", ", stdout);
            gguf_array_elem(g, key, et, k, o, NULL);
        }
        printf("%s]\n", n > show ? ", ..." : "");
        return;
    }
    if (meta) {
        cJSON *v = NULL;
        gguf_scalar(g, key, t, o, &v);
        cJSON_AddItemToObject(meta, key, v);
        return;
    }
    printf("  %-44s %-8s ", key, vtype_name(t));
    gguf_scalar(g, key, t, o, NULL);
    putchar('\n');
}

/* Text of token id from tokenizer.ggml.tokens (or NULL). */
static bool token_text(const mlxn_gguf_t *g, int64_t id, mlxn_str *s) {
    return id >= 0 && mlxn_gguf_arr_str(g, "tokenizer.ggml.tokens", (uint64_t)id, s) == MLXN_OK;
}

static void gguf_tokenizer(const mlxn_gguf_t *g, const info_opts *o, cJSON *root) {
    static const struct { const char *label, *key; } ids[] = {
        {"bos", "tokenizer.ggml.bos_token_id"},     {"eos", "tokenizer.ggml.eos_token_id"},
        {"eot", "tokenizer.ggml.eot_token_id"},     {"eom", "tokenizer.ggml.eom_token_id"},
        {"unk", "tokenizer.ggml.unknown_token_id"}, {"pad", "tokenizer.ggml.padding_token_id"},
        {"sep", "tokenizer.ggml.seperator_token_id"}, {"mask", "tokenizer.ggml.mask_token_id"},
    };
    cJSON *tj = root ? cJSON_AddObjectToObject(root, "tokenizer") : NULL;
    mlxn_str model = {0}, pre = {0}, tmpl = {0};
    bool has_model = mlxn_gguf_get_str(g, "tokenizer.ggml.model", &model) == MLXN_OK;
    bool has_pre = mlxn_gguf_get_str(g, "tokenizer.ggml.pre", &pre) == MLXN_OK;
    mlxn_gguf_vtype et;
    uint64_t vocab = 0, merges = 0;
    bool has_vocab = mlxn_gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &vocab) == MLXN_OK;
    bool has_merges = mlxn_gguf_get_arr(g, "tokenizer.ggml.merges", &et, &merges) == MLXN_OK;
    if (!has_model && !has_vocab) {
        if (tj) cJSON_AddBoolToObject(tj, "present", false);
        else printf("tokenizer: none\n");
        return;
    }
    if (tj) {
        cJSON_AddBoolToObject(tj, "present", true);
        if (has_model) add_str_n(tj, "model", model.ptr, model.len, o->max_str);
        if (has_pre) add_str_n(tj, "pre", pre.ptr, pre.len, o->max_str);
        cJSON_AddNumberToObject(tj, "vocab_size", (double)vocab);
        cJSON_AddNumberToObject(tj, "merges", (double)merges);
    } else {
        printf("tokenizer:\n  model: ");
        if (has_model) put_str(model.ptr, model.len, o->max_str); else fputs("(none)", stdout);
        printf("   pre: ");
        if (has_pre) put_str(pre.ptr, pre.len, o->max_str); else fputs("(none)", stdout);
        printf("\n  vocab size: %llu   merges: %s%llu\n", (unsigned long long)vocab, has_merges ? "" : "(none) ",
               (unsigned long long)merges);
    }
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        int64_t id;
        if (mlxn_gguf_get_int(g, ids[i].key, &id) != MLXN_OK) continue;
        mlxn_str s;
        bool have = token_text(g, id, &s);
        if (tj) {
            cJSON *x = cJSON_AddObjectToObject(tj, ids[i].label);
            cJSON_AddNumberToObject(x, "id", (double)id);
            if (have) add_str_n(x, "text", s.ptr, s.len, o->max_str);
        } else {
            printf("  %-5s %lld ", ids[i].label, (long long)id);
            if (have) put_str(s.ptr, s.len, o->max_str); else fputs("(id outside the vocabulary)", stdout);
            putchar('\n');
        }
    }
    static const char *flags[] = {"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"};
    for (int i = 0; i < 2; i++) {
        bool b;
        if (mlxn_gguf_get_bool(g, flags[i], &b) != MLXN_OK) continue;
        if (tj) cJSON_AddBoolToObject(tj, i ? "add_eos" : "add_bos", b);
        else printf("  %s: %s\n", i ? "add_eos" : "add_bos", b ? "true" : "false");
    }
    bool has_tmpl = mlxn_gguf_get_str(g, "tokenizer.chat_template", &tmpl) == MLXN_OK;
    uint64_t l1 = 0;
    while (has_tmpl && l1 < tmpl.len && tmpl.ptr[l1] != '\n') l1++;
    if (tj) {
        cJSON_AddBoolToObject(tj, "chat_template", has_tmpl);
        if (has_tmpl) add_str_n(tj, "chat_template_first_line", tmpl.ptr, l1, o->max_str);
    } else if (has_tmpl) {
        printf("  chat template: present (%llu bytes), first line: ", (unsigned long long)tmpl.len);
        put_str(tmpl.ptr, l1, o->max_str);
        putchar('\n');
    } else {
        printf("  chat template: none\n");
    }
}

static int info_gguf(const char *path, const info_opts *o) {
    mlxn_gguf_t *g = NULL;
    mlxn_status st = mlxn_gguf_open(path, &g);
    if (st != MLXN_OK) return tool_fail("info", st);
    cJSON *root = o->json ? cJSON_CreateObject() : NULL;
    mlxn_str arch = {0};
    bool has_arch = mlxn_gguf_get_str(g, "general.architecture", &arch) == MLXN_OK;
    int64_t nkv = mlxn_gguf_kv_count(g), nt = mlxn_gguf_tensor_count(g);
    if (root) {
        cJSON_AddStringToObject(root, "path", path);
        cJSON_AddStringToObject(root, "format", "gguf");
        cJSON_AddNumberToObject(root, "version", mlxn_gguf_version(g));
        cJSON_AddNumberToObject(root, "alignment", mlxn_gguf_alignment(g));
        cJSON_AddNumberToObject(root, "data_offset", (double)mlxn_gguf_data_offset(g));
        if (has_arch) add_str_n(root, "architecture", arch.ptr, arch.len, 256);
        cJSON *meta = cJSON_AddObjectToObject(root, "metadata");
        for (int64_t i = 0; i < nkv; i++) gguf_kv(g, i, o, meta);
    } else {
        printf("file: %s\nformat: GGUF version %u, alignment %u, data section at offset %llu\n", path,
               mlxn_gguf_version(g), mlxn_gguf_alignment(g), (unsigned long long)mlxn_gguf_data_offset(g));
        printf("architecture: ");
        if (has_arch) printf("%.*s\n", (int)(arch.len > 256 ? 256 : arch.len), arch.ptr); else printf("(none)\n");
        printf("metadata (%lld keys):\n", (long long)nkv);
        for (int64_t i = 0; i < nkv; i++) gguf_kv(g, i, o, NULL);
    }
    if (!o->keys_only) {
        uint64_t bytes = 0, params = 0;
        cJSON *tarr = root && o->tensors ? cJSON_AddArrayToObject(root, "tensors") : NULL;
        if (!root && o->tensors && nt) printf("tensors (%lld; shape ne0 first):\n  %-40s %-8s %-26s %s\n", (long long)nt,
                                              "name", "type", "shape", "bytes");
        for (int64_t i = 0; i < nt; i++) {
            mlxn_gguf_tensor t;
            if ((st = mlxn_gguf_get_tensor(g, i, &t)) != MLXN_OK) { cJSON_Delete(root); mlxn_gguf_free(g); return tool_fail("info", st); }
            int64_t numel = 1;
            for (int d = 0; d < t.n_dims; d++) numel *= t.ne[d];
            bytes += t.nbytes;
            params += (uint64_t)numel;
            if (tarr) {
                cJSON *x = cJSON_CreateObject();
                cJSON_AddStringToObject(x, "name", t.name);
                cJSON_AddStringToObject(x, "type", mlxn_type_name(t.type));
                cJSON *sh = cJSON_AddArrayToObject(x, "ne");
                for (int d = 0; d < t.n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t.ne[d]));
                cJSON_AddNumberToObject(x, "bytes", (double)t.nbytes);
                cJSON_AddNumberToObject(x, "offset", (double)t.offset);
                cJSON_AddItemToArray(tarr, x);
            } else if (!root && o->tensors) {
                char shape[128];
                int n = 0;
                for (int d = 0; d < t.n_dims && n < (int)sizeof shape - 24; d++)
                    n += snprintf(shape + n, sizeof shape - (size_t)n, "%s%lld", d ? ", " : "[", (long long)t.ne[d]);
                snprintf(shape + n, sizeof shape - (size_t)n, "]");
                printf("  %-40s %-8s %-26s %llu\n", t.name, mlxn_type_name(t.type), shape, (unsigned long long)t.nbytes);
            }
        }
        if (root) totals_json(root, nt, bytes, params);
        else print_totals(nt, bytes, params, NULL);
        gguf_tokenizer(g, o, root);
    }
    mlxn_gguf_free(g);
    return root ? emit_json(root) : 0;
}

/* ==========================================================================
 * safetensors files and model folders
 * ========================================================================== */

static void shape_text(const mlxn_st_tensor *t, char *buf, size_t cap) {
    int n = snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && n < (int)cap - 24; d++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    snprintf(buf + n, cap - (size_t)n, "]");
}

static cJSON *tensor_json(const mlxn_st_tensor *t, int32_t shard) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "name", t->name);
    cJSON_AddStringToObject(x, "dtype", t->dtype);
    cJSON_AddStringToObject(x, "type", t->type == MLXN_ST_TYPE_NONE ? "none" : mlxn_type_name(t->type));
    cJSON *sh = cJSON_AddArrayToObject(x, "shape");
    for (int d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
    cJSON_AddNumberToObject(x, "bytes", (double)t->nbytes);
    cJSON_AddNumberToObject(x, "offset", (double)t->offset);
    if (shard >= 0) cJSON_AddNumberToObject(x, "shard", shard);
    return x;
}

static void tensor_row(const mlxn_st_tensor *t, const char *shard) {
    char shape[160];
    shape_text(t, shape, sizeof shape);
    printf("  %-48s %-8s %-24s %12llu", t->name, t->dtype, shape, (unsigned long long)t->nbytes);
    if (shard) printf("  %s", shard);
    putchar('\n');
}

static void st_metadata(const mlxn_st_t *st, const info_opts *o, cJSON *obj) {
    int64_t n = mlxn_st_meta_count(st);
    if (obj) {
        cJSON *m = cJSON_AddObjectToObject(obj, "metadata");
        for (int64_t i = 0; i < n; i++) {
            const char *v = mlxn_st_meta_value(st, i);
            add_str_n(m, mlxn_st_meta_key(st, i), v, strlen(v), o->max_str);
        }
        return;
    }
    printf("metadata (__metadata__, %lld keys):\n", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const char *v = mlxn_st_meta_value(st, i);
        printf("  %-32s ", mlxn_st_meta_key(st, i));
        put_str(v, strlen(v), o->max_str);
        putchar('\n');
    }
}

static int info_safetensors(const char *path, const info_opts *o) {
    mlxn_st_t *st = NULL;
    mlxn_status rc = mlxn_st_open(path, &st);
    if (rc != MLXN_OK) return tool_fail("info", rc);
    int64_t n = mlxn_st_tensor_count(st);
    cJSON *root = o->json ? cJSON_CreateObject() : NULL;
    if (root) {
        cJSON_AddStringToObject(root, "path", path);
        cJSON_AddStringToObject(root, "format", "safetensors");
        cJSON_AddNumberToObject(root, "header_bytes", (double)mlxn_st_header_size(st));
        cJSON_AddNumberToObject(root, "data_offset", (double)mlxn_st_data_offset(st));
        st_metadata(st, o, root);
    } else {
        printf("file: %s\nformat: safetensors, header %llu bytes, data buffer at offset %llu, %lld tensors\n", path,
               (unsigned long long)mlxn_st_header_size(st), (unsigned long long)mlxn_st_data_offset(st), (long long)n);
        st_metadata(st, o, NULL);
    }
    if (!o->keys_only) {
        uint64_t bytes = 0, params = 0;
        cJSON *tarr = root && o->tensors ? cJSON_AddArrayToObject(root, "tensors") : NULL;
        if (!root && o->tensors && n) printf("tensors (%lld; shape outermost first):\n  %-48s %-8s %-24s %12s\n",
                                             (long long)n, "name", "dtype", "shape", "bytes");
        for (int64_t i = 0; i < n; i++) {
            mlxn_st_tensor t;
            mlxn_st_get_tensor(st, i, &t);
            bytes += t.nbytes;
            params += (uint64_t)t.numel;
            if (tarr) cJSON_AddItemToArray(tarr, tensor_json(&t, -1));
            else if (!root && o->tensors) tensor_row(&t, NULL);
        }
        if (root) totals_json(root, n, bytes, params);
        else print_totals(n, bytes, params, NULL);
    }
    mlxn_st_free(st);
    return root ? emit_json(root) : 0;
}

static void config_text(const mlxn_hf_config *c) {
    printf("config.json:\n  model_type: %s", c->model_type[0] ? c->model_type : "(none)");
    if (c->architecture[0]) printf("   architectures: %s%s", c->architecture, c->n_architectures > 1 ? ", ..." : "");
    if (c->has_text_config) printf("   text_config: %s", c->text_model_type[0] ? c->text_model_type : "yes");
    printf("\n  hidden_size %lld, intermediate_size %lld, layers %lld, heads %lld, kv heads %lld, head_dim %lld\n",
           (long long)c->hidden_size, (long long)c->intermediate_size, (long long)c->num_hidden_layers,
           (long long)c->num_attention_heads, (long long)c->num_key_value_heads, (long long)c->head_dim);
    printf("  vocab_size %lld, max_position_embeddings %lld, rms_norm_eps %g, rope_theta %g\n", (long long)c->vocab_size,
           (long long)c->max_position_embeddings, c->rms_norm_eps, c->rope_theta);
    if (c->rope_scaling.present) {
        const mlxn_hf_rope_scaling *r = &c->rope_scaling;
        printf("  rope_scaling: %s, factor %g", r->type[0] ? r->type : "(no type)", r->factor);
        if (r->low_freq_factor || r->high_freq_factor)
            printf(", low_freq_factor %g, high_freq_factor %g", r->low_freq_factor, r->high_freq_factor);
        if (r->original_max_position_embeddings)
            printf(", original_max_position_embeddings %lld", (long long)r->original_max_position_embeddings);
        putchar('\n');
    }
    printf("  tie_word_embeddings: %s, torch_dtype: %s\n",
           c->tie_word_embeddings < 0 ? "(absent)" : c->tie_word_embeddings ? "true" : "false",
           c->torch_dtype[0] ? c->torch_dtype : "(absent)");
    if (c->num_experts)
        printf("  MoE: %lld experts, %lld per token, moe_intermediate_size %lld, norm_topk_prob %s\n",
               (long long)c->num_experts, (long long)c->num_experts_per_tok, (long long)c->moe_intermediate_size,
               c->norm_topk_prob < 0 ? "(absent)" : c->norm_topk_prob ? "true" : "false");
    if (c->sliding_window) printf("  sliding_window: %lld\n", (long long)c->sliding_window);
    if (c->n_layer_types) {
        int64_t cnt[3] = {0, 0, 0};
        for (int64_t i = 0; i < c->n_layer_types; i++) cnt[c->layer_types[i] < 3 ? c->layer_types[i] : 2]++;
        printf("  layer_types: %lld (%lld full_attention, %lld sliding_attention, %lld other)\n",
               (long long)c->n_layer_types, (long long)cnt[0], (long long)cnt[1], (long long)cnt[2]);
    }
}

static void config_json(cJSON *root, const mlxn_hf_config *c) {
    cJSON *j = cJSON_AddObjectToObject(root, "config");
    cJSON_AddStringToObject(j, "model_type", c->model_type);
    cJSON_AddStringToObject(j, "architecture", c->architecture);
    cJSON_AddStringToObject(j, "text_model_type", c->text_model_type);
    static const struct { const char *k; size_t off; } ints[] = {
        {"hidden_size", offsetof(mlxn_hf_config, hidden_size)},
        {"intermediate_size", offsetof(mlxn_hf_config, intermediate_size)},
        {"num_hidden_layers", offsetof(mlxn_hf_config, num_hidden_layers)},
        {"num_attention_heads", offsetof(mlxn_hf_config, num_attention_heads)},
        {"num_key_value_heads", offsetof(mlxn_hf_config, num_key_value_heads)},
        {"head_dim", offsetof(mlxn_hf_config, head_dim)},
        {"vocab_size", offsetof(mlxn_hf_config, vocab_size)},
        {"max_position_embeddings", offsetof(mlxn_hf_config, max_position_embeddings)},
        {"num_experts", offsetof(mlxn_hf_config, num_experts)},
        {"num_experts_per_tok", offsetof(mlxn_hf_config, num_experts_per_tok)},
        {"moe_intermediate_size", offsetof(mlxn_hf_config, moe_intermediate_size)},
        {"sliding_window", offsetof(mlxn_hf_config, sliding_window)},
        {"n_layer_types", offsetof(mlxn_hf_config, n_layer_types)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        cJSON_AddNumberToObject(j, ints[i].k, (double)*(const int64_t *)((const char *)c + ints[i].off));
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddNumberToObject(j, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddNumberToObject(j, "norm_topk_prob", c->norm_topk_prob);
    cJSON_AddStringToObject(j, "torch_dtype", c->torch_dtype);
    if (c->rope_scaling.present) {
        cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddStringToObject(r, "type", c->rope_scaling.type);
        cJSON_AddNumberToObject(r, "factor", c->rope_scaling.factor);
        cJSON_AddNumberToObject(r, "low_freq_factor", c->rope_scaling.low_freq_factor);
        cJSON_AddNumberToObject(r, "high_freq_factor", c->rope_scaling.high_freq_factor);
        cJSON_AddNumberToObject(r, "original_max_position_embeddings",
                                (double)c->rope_scaling.original_max_position_embeddings);
    }
}

static int info_folder(const char *path, const info_opts *o) {
    mlxn_folder_t *f = NULL;
    mlxn_status rc = mlxn_folder_open(path, &f);
    if (rc != MLXN_OK) return tool_fail("info", rc);
    const mlxn_hf_config *c = mlxn_folder_config(f);
    int64_t n = mlxn_folder_tensor_count(f);
    int32_t ns = mlxn_folder_shard_count(f);
    cJSON *root = o->json ? cJSON_CreateObject() : NULL;

    /* Quantized modules: every "<module>.scales", resolved through the config. */
    uint64_t bits_hist[9] = {0}, mxfp4 = 0, nq = 0, logical_params = 0, bytes = 0, stored_params = 0;
    for (int64_t i = 0; i < n; i++) {
        mlxn_st_tensor t;
        mlxn_folder_get_tensor(f, i, &t, NULL);
        bytes += t.nbytes;
        stored_params += (uint64_t)t.numel;
        size_t len = strlen(t.name);
        if (len > 7 && !strcmp(t.name + len - 7, ".scales")) continue;
        if (len > 7 && !strcmp(t.name + len - 7, ".biases")) {
            char sc[1024];
            snprintf(sc, sizeof sc, "%.*s.scales", (int)(len - 7), t.name);
            if (mlxn_folder_find_tensor(f, sc) >= 0) continue;
        }
        uint64_t p = (uint64_t)t.numel;
        if (len > 7 && !strcmp(t.name + len - 7, ".weight") && len < 1000) {
            char mod[1024];
            snprintf(mod, sizeof mod, "%.*s", (int)(len - 7), t.name);
            mlxn_mlx_quant q;
            bool quantized = false;
            rc = mlxn_folder_module_quant(f, mod, &q, &quantized);
            if (rc != MLXN_OK) { cJSON_Delete(root); mlxn_folder_free(f); return tool_fail("info", rc); }
            if (quantized) {
                nq++;
                if (q.mode == MLXN_MLX_MXFP4) mxfp4++; else bits_hist[q.bits]++;
                p = (uint64_t)t.numel * 32u / (uint64_t)q.bits;
            }
        }
        logical_params += p;
    }
    const mlxn_hf_quant *hq = &c->quant;
    if (root) {
        cJSON_AddStringToObject(root, "path", path);
        cJSON_AddStringToObject(root, "format", "folder");
        cJSON *sh = cJSON_AddArrayToObject(root, "shards");
        for (int32_t i = 0; i < ns; i++) cJSON_AddItemToArray(sh, cJSON_CreateString(mlxn_folder_shard_name(f, i)));
        config_json(root, c);
        cJSON *q = cJSON_AddObjectToObject(root, "quantization");
        cJSON_AddBoolToObject(q, "present", hq->present);
        cJSON_AddBoolToObject(q, "mlx", hq->mlx);
        cJSON_AddStringToObject(q, "mode", hq->mode);
        cJSON_AddNumberToObject(q, "group_size", hq->group_size);
        cJSON_AddNumberToObject(q, "bits", hq->bits);
        cJSON_AddNumberToObject(q, "overrides", (double)hq->n_overrides);
        cJSON_AddNumberToObject(q, "quantized_modules", (double)nq);
        cJSON *bh = cJSON_AddObjectToObject(q, "modules_by_bits");
        for (int b = 1; b <= 8; b++)
            if (bits_hist[b]) { char k[8]; snprintf(k, sizeof k, "%d", b); cJSON_AddNumberToObject(bh, k, (double)bits_hist[b]); }
        if (mxfp4) cJSON_AddNumberToObject(bh, "mxfp4", (double)mxfp4);
    } else {
        printf("folder: %s\nshards (%d):", path, ns);
        for (int32_t i = 0; i < ns; i++) printf(" %s", mlxn_folder_shard_name(f, i));
        putchar('\n');
        config_text(c);
        if (!hq->present) printf("quantization: none\n");
        else if (!hq->mlx) printf("quantization: %s (not an MLX block)\n", hq->mode[0] ? hq->mode : "(unknown)");
        else {
            printf("quantization: %s, %d bits, group_size %d, %lld per-module overrides\n", hq->mode, hq->bits,
                   hq->group_size, (long long)hq->n_overrides);
            printf("  quantized modules: %llu (", (unsigned long long)nq);
            const char *sep = "";
            for (int b = 1; b <= 8; b++)
                if (bits_hist[b]) { printf("%s%d-bit: %llu", sep, b, (unsigned long long)bits_hist[b]); sep = ", "; }
            if (mxfp4) printf("%smxfp4: %llu", sep, (unsigned long long)mxfp4);
            printf(")\n");
        }
    }
    if (!o->keys_only) {
        cJSON *tarr = root && o->tensors ? cJSON_AddArrayToObject(root, "tensors") : NULL;
        if (!root && o->tensors && n)
            printf("tensors (%lld; shape outermost first):\n  %-48s %-8s %-24s %12s  %s\n", (long long)n, "name", "dtype",
                   "shape", "bytes", "shard");
        for (int64_t i = 0; o->tensors && i < n; i++) {
            mlxn_st_tensor t;
            int32_t s;
            mlxn_folder_get_tensor(f, i, &t, &s);
            if (tarr) cJSON_AddItemToArray(tarr, tensor_json(&t, s));
            else if (!root) tensor_row(&t, mlxn_folder_shard_name(f, s));
        }
        if (root) {
            totals_json(root, n, bytes, logical_params);
            cJSON_AddNumberToObject(cJSON_GetObjectItem(root, "totals"), "stored_elements", (double)stored_params);
        } else {
            print_totals(n, bytes, logical_params, nq ? "(logical weights; packed words counted 32/bits each)" : NULL);
        }
    }
    mlxn_folder_free(f);
    return root ? emit_json(root) : 0;
}

/* ==========================================================================
 * entry
 * ========================================================================== */

int cmd_info(int argc, char **argv) {
    info_opts o = {.tensors = true, .max_array = 8, .max_str = 96};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--no-tensors")) o.tensors = false;
        else if (!strcmp(a, "--keys")) o.keys_only = true;
        else if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--max-array") || !strcmp(a, "--max-str")) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (i + 1 >= argc || !end || *end || v < 0 || v > 1000000) {
                fprintf(stderr, "mlxn info: %s needs a number (0..1000000)\n", a);
                return 2;
            }
            if (a[6] == 'a') o.max_array = (int)v; else o.max_str = (int)v;
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "mlxn info: unknown option '%s' (see mlxn info --help)\n", a);
            return 2;
        } else if (path) {
            fprintf(stderr, "mlxn info: more than one PATH ('%s', '%s')\n", path, a);
            return 2;
        } else path = a;
    }
    if (!path) { usage(stderr); return 2; }

    struct stat sb;
    if (stat(path, &sb) != 0)
        return tool_fail("info", mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: no such file or folder", path));
    if (S_ISDIR(sb.st_mode)) return info_folder(path, &o);
    unsigned char head[9] = {0};
    FILE *fp = fopen(path, "rb");
    size_t got = fp ? fread(head, 1, sizeof head, fp) : 0;
    if (fp) fclose(fp);
    if (!fp) return tool_fail("info", mlxn_fail(MLXN_ERR_IO, "%s: cannot open", path));
    if (got >= 4 && !memcmp(head, "GGUF", 4)) return info_gguf(path, &o);
    size_t n = strlen(path);
    if ((got == 9 && head[8] == '{') || (n > 12 && !strcmp(path + n - 12, ".safetensors")))
        return info_safetensors(path, &o);
    return tool_fail("info", mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: neither a GGUF file (magic 'GGUF'), a safetensors file nor a model folder", path));
}
