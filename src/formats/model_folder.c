/* Hugging Face / mlx-lm model folders: config.json plus one safetensors file or shards
 * (model.safetensors.index.json), opened together behind one tensor lookup by name. */
#define _POSIX_C_SOURCE 200809L
#include "core/status.h"
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct { int32_t shard; int64_t idx; int64_t g; const char *name; } tref;  /* g: folder index */

struct mlxn_folder {
    char *dir;
    mlxn_hf_config_t *cfg;
    char **shard_names;      /* [n_shards] file names */
    mlxn_st_t **shards;      /* [n_shards] */
    int32_t n_shards;
    tref *t;                 /* [n] shard by shard, file order within each */
    tref *by_name;           /* [n] sorted by name */
    int64_t n;
    mlxn_errbuf err;
};

void mlxn_folder_free(mlxn_folder_t *f) {
    if (!f) return;
    for (int32_t i = 0; i < f->n_shards; i++) {
        if (f->shards) mlxn_st_free(f->shards[i]);
        free(f->shard_names[i]);
    }
    free(f->shards);
    free(f->shard_names);
    free(f->t);
    free(f->by_name);
    mlxn_hf_config_free(f->cfg);
    free(f->dir);
    free(f);
}

static mlxn_status join(char *buf, size_t cap, const char *dir, const char *name) {
    int n = snprintf(buf, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: path too long", dir);
    return MLXN_OK;
}

static bool is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }
static int cmp_tref(const void *a, const void *b) { return strcmp(((const tref *)a)->name, ((const tref *)b)->name); }

/* Appends name to the shard list (duplicates are removed by dedup_shards). */
static mlxn_status add_shard_name(mlxn_folder_t *f, const char *name, int32_t *cap) {
    if (f->n_shards == INT32_MAX) return mlxn_fail(MLXN_ERR_FORMAT, "%s: too many shards", f->dir);
    if (f->n_shards == *cap) {
        int32_t nc = *cap ? (*cap > INT32_MAX / 2 ? INT32_MAX : *cap * 2) : 8;
        char **p = realloc(f->shard_names, (size_t)nc * sizeof *p);
        if (!p) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", f->dir);
        f->shard_names = p;
        *cap = nc;
    }
    if (!(f->shard_names[f->n_shards] = strdup(name))) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", f->dir);
    f->n_shards++;
    return MLXN_OK;
}

/* Sorts the shard names and drops repeats (a weight_map names each shard many times). */
static void dedup_shards(mlxn_folder_t *f) {
    qsort(f->shard_names, (size_t)f->n_shards, sizeof *f->shard_names, cmp_str);
    int32_t k = 0;
    for (int32_t i = 0; i < f->n_shards; i++) {
        if (k && !strcmp(f->shard_names[k - 1], f->shard_names[i])) free(f->shard_names[i]);
        else f->shard_names[k++] = f->shard_names[i];
    }
    f->n_shards = k;
}

/* A shard named by the index must be a plain file name inside the folder. */
static bool safe_file_name(const char *s) {
    return s[0] && strcmp(s, ".") && strcmp(s, "..") && !strchr(s, '/');
}

static mlxn_status read_index(mlxn_folder_t *f, const char *path, cJSON **out_root, int32_t *cap) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return mlxn_fail(MLXN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t max = 256u << 20, len = 0, bufcap = 1 << 16;
    char *buf = malloc(bufcap);
    while (buf) {
        size_t got = fread(buf + len, 1, bufcap - len, fp);
        len += got;
        if (len < bufcap) break;
        if (bufcap >= max) { free(buf); fclose(fp); return mlxn_fail(MLXN_ERR_FORMAT, "%s: larger than 256 MB", path); }
        char *nb = realloc(buf, bufcap * 2);
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        bufcap *= 2;
    }
    fclose(fp);
    if (!buf) return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", path);
    cJSON *root = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (!root) return mlxn_fail(MLXN_ERR_FORMAT, "%s: JSON does not parse", path);
    *out_root = root;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(wm)) return mlxn_fail(MLXN_ERR_FORMAT, "%s: no \"weight_map\" object", path);
    for (const cJSON *x = wm->child; x; x = x->next) {
        if (!cJSON_IsString(x))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: weight_map entry '%.200s' is not a file name string", path, x->string);
        if (!safe_file_name(x->valuestring))
            return mlxn_fail(MLXN_ERR_FORMAT, "%s: weight_map entry '%.200s' names '%.200s', not a file in the folder", path,
                             x->string, x->valuestring);
        MLXN_TRY(add_shard_name(f, x->valuestring, cap));
    }
    if (!f->n_shards) return mlxn_fail(MLXN_ERR_FORMAT, "%s: weight_map is empty", path);
    return MLXN_OK;
}

static mlxn_status scan_safetensors(mlxn_folder_t *f, int32_t *cap) {
    DIR *d = opendir(f->dir);
    if (!d) return mlxn_fail(MLXN_ERR_IO, "%s: cannot list: %s", f->dir, strerror(errno));
    mlxn_status rc = MLXN_OK;
    struct dirent *de;
    while (rc == MLXN_OK && (de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 12 && !strcmp(de->d_name + n - 12, ".safetensors")) rc = add_shard_name(f, de->d_name, cap);
    }
    closedir(d);
    if (rc == MLXN_OK && !f->n_shards)
        rc = mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: no model.safetensors, model.safetensors.index.json or *.safetensors",
                       f->dir);
    return rc;
}

static mlxn_status build(mlxn_folder_t *f) {
    char path[4096];
    MLXN_TRY(join(path, sizeof path, f->dir, "config.json"));
    if (!is_file(path)) return mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: no config.json in the folder", f->dir);
    MLXN_TRY(mlxn_hf_config_load(path, &f->cfg));

    int32_t cap = 0;
    cJSON *index = NULL;
    mlxn_status rc;
    MLXN_TRY(join(path, sizeof path, f->dir, "model.safetensors.index.json"));
    if (is_file(path)) {
        rc = read_index(f, path, &index, &cap);
    } else {
        MLXN_TRY(join(path, sizeof path, f->dir, "model.safetensors"));
        rc = is_file(path) ? add_shard_name(f, "model.safetensors", &cap) : scan_safetensors(f, &cap);
    }
    if (rc != MLXN_OK) goto done;
    dedup_shards(f);

    f->shards = calloc((size_t)f->n_shards, sizeof *f->shards);
    if (!f->shards) { rc = mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", f->dir); goto done; }
    int64_t total = 0;
    for (int32_t i = 0; i < f->n_shards; i++) {
        if ((rc = join(path, sizeof path, f->dir, f->shard_names[i])) != MLXN_OK) goto done;
        if ((rc = mlxn_st_open(path, &f->shards[i])) != MLXN_OK) goto done;
        total += mlxn_st_tensor_count(f->shards[i]);
    }
    f->t = calloc((size_t)total + 1, sizeof *f->t);
    f->by_name = calloc((size_t)total + 1, sizeof *f->by_name);
    if (!f->t || !f->by_name) { rc = mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", f->dir); goto done; }
    for (int32_t s = 0; s < f->n_shards; s++) {
        for (int64_t k = 0; k < mlxn_st_tensor_count(f->shards[s]); k++) {
            mlxn_st_tensor t;
            mlxn_st_get_tensor(f->shards[s], k, &t);
            f->t[f->n] = (tref){s, k, f->n, t.name};
            f->n++;
        }
    }
    memcpy(f->by_name, f->t, (size_t)f->n * sizeof *f->t);
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_tref);
    for (int64_t i = 1; i < f->n; i++) {
        if (!strcmp(f->by_name[i].name, f->by_name[i - 1].name)) {
            int32_t a = f->by_name[i - 1].shard, b = f->by_name[i].shard;
            rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: tensor '%.200s' is in both '%s' and '%s'", f->dir, f->by_name[i].name,
                           f->shard_names[a < b ? a : b], f->shard_names[a < b ? b : a]);
            goto done;
        }
    }
    if (index) {
        const cJSON *wm = cJSON_GetObjectItemCaseSensitive(index, "weight_map");
        for (const cJSON *x = wm->child; x; x = x->next) {
            int64_t i = mlxn_folder_find_tensor(f, x->string);
            if (i < 0) {
                rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: model.safetensors.index.json lists tensor '%.200s' in '%.200s' but "
                                                "it is not there", f->dir, x->string, x->valuestring);
                goto done;
            }
            if (strcmp(f->shard_names[f->t[i].shard], x->valuestring)) {
                rc = mlxn_fail(MLXN_ERR_FORMAT, "%s: model.safetensors.index.json lists tensor '%.200s' in '%.200s' but "
                                                "it is in '%s'", f->dir, x->string, x->valuestring,
                               f->shard_names[f->t[i].shard]);
                goto done;
            }
        }
        if (cJSON_GetArraySize(wm) != f->n)
            mlxn_log(MLXN_LOG_WARN, "%s: shards hold %lld tensors, weight_map lists %d", f->dir, (long long)f->n,
                     cJSON_GetArraySize(wm));
    }
    rc = MLXN_OK;
done:
    cJSON_Delete(index);
    return rc;
}

mlxn_status mlxn_folder_open(const char *dir, mlxn_folder_t **out) {
    if (!dir || !out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "folder_open: NULL argument");
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return mlxn_fail(errno == ENOENT ? MLXN_ERR_NOT_FOUND : MLXN_ERR_IO, "%s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: not a folder", dir);
    mlxn_folder_t *f = calloc(1, sizeof *f);
    if (!f || !(f->dir = strdup(dir))) {
        free(f);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "%s: out of memory", dir);
    }
    size_t n = strlen(f->dir);
    while (n > 1 && f->dir[n - 1] == '/') f->dir[--n] = 0;
    mlxn_status rc = build(f);
    if (rc != MLXN_OK) { mlxn_folder_free(f); return rc; }
    *out = f;
    return MLXN_OK;
}

const char *mlxn_folder_last_error(const mlxn_folder_t *f) { return f ? f->err.msg : ""; }
const char *mlxn_folder_path(const mlxn_folder_t *f) { return f ? f->dir : NULL; }
const mlxn_hf_config *mlxn_folder_config(const mlxn_folder_t *f) { return f ? mlxn_hf_config_get(f->cfg) : NULL; }
const mlxn_hf_config_t *mlxn_folder_config_handle(const mlxn_folder_t *f) { return f ? f->cfg : NULL; }
int32_t mlxn_folder_shard_count(const mlxn_folder_t *f) { return f ? f->n_shards : 0; }
const mlxn_st_t *mlxn_folder_shard(const mlxn_folder_t *f, int32_t i) {
    return f && i >= 0 && i < f->n_shards ? f->shards[i] : NULL;
}
const char *mlxn_folder_shard_name(const mlxn_folder_t *f, int32_t i) {
    return f && i >= 0 && i < f->n_shards ? f->shard_names[i] : NULL;
}
int64_t mlxn_folder_tensor_count(const mlxn_folder_t *f) { return f ? f->n : 0; }

int64_t mlxn_folder_find_tensor(const mlxn_folder_t *f, const char *name) {
    if (!f || !name) return -1;
    int64_t lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, f->by_name[mid].name);
        if (!c) return f->by_name[mid].g;
        if (c < 0) hi = mid - 1; else lo = mid + 1;
    }
    return -1;
}

mlxn_status mlxn_folder_get_tensor(const mlxn_folder_t *f, int64_t i, mlxn_st_tensor *out, int32_t *shard) {
    if (!f || !out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "folder_get_tensor: NULL argument");
    if (i < 0 || i >= f->n)
        return mlxn_errbuf_save((mlxn_errbuf *)&f->err, mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: tensor index %lld outside 0..%lld",
                                                                 f->dir, (long long)i, (long long)f->n - 1));
    if (shard) *shard = f->t[i].shard;
    return mlxn_st_get_tensor(f->shards[f->t[i].shard], f->t[i].idx, out);
}

mlxn_status mlxn_folder_tensor(const mlxn_folder_t *f, const char *name, mlxn_st_tensor *out) {
    if (!f || !name || !out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "folder_tensor: NULL argument");
    int64_t i = mlxn_folder_find_tensor(f, name);
    if (i < 0)
        return mlxn_errbuf_save((mlxn_errbuf *)&f->err,
                                mlxn_fail(MLXN_ERR_NOT_FOUND, "%s: no tensor '%.200s'", f->dir, name));
    return mlxn_folder_get_tensor(f, i, out, NULL);
}

/* ---- quantized modules ---------------------------------------------------------------------- */

static bool same_lead(const mlxn_st_tensor *a, const mlxn_st_tensor *b) {
    if (a->n_dims != b->n_dims || a->n_dims < 1) return false;
    for (int i = 0; i + 1 < a->n_dims; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}

mlxn_status mlxn_folder_module_quant(const mlxn_folder_t *f, const char *module, mlxn_mlx_quant *q, bool *quantized) {
    if (!f || !module || !q || !quantized) return mlxn_fail(MLXN_ERR_INVALID_ARG, "folder_module_quant: NULL argument");
    mlxn_errbuf *eb = (mlxn_errbuf *)&f->err;
    char nm[1024];
    mlxn_st_tensor w, s = {0}, b;
    if ((size_t)snprintf(nm, sizeof nm, "%s.scales", module) >= sizeof nm)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "module path too long");
    int64_t si = mlxn_folder_find_tensor(f, nm);
    if (si >= 0) mlxn_folder_get_tensor(f, si, &s, NULL);
    mlxn_status rc = mlxn_hf_config_module_quant(f->cfg, module, si >= 0, si >= 0 ? s.type : MLXN_TYPE_F16, q, quantized);
    if (rc != MLXN_OK) return mlxn_errbuf_save(eb, rc);
    if (!*quantized) return MLXN_OK;

    snprintf(nm, sizeof nm, "%s.weight", module);
    if (mlxn_folder_find_tensor(f, nm) < 0)
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: '%.200s.scales' exists but '%.200s' does not", f->dir,
                                              module, nm));
    mlxn_folder_tensor(f, nm, &w);
    if (w.type != MLXN_TYPE_U32)
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: quantized weight '%.200s' is %s, not U32", f->dir, nm,
                                              w.dtype));
    if (!same_lead(&w, &s))
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: '%.200s' and its scales have different leading "
                                                              "dimensions", f->dir, nm));
    int64_t packed = w.shape[w.n_dims - 1], groups = s.shape[s.n_dims - 1];
    int64_t in = packed * 32 / q->bits;
    if (packed * 32 % q->bits || in != groups * q->group_size)
        return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: '%.200s' has %lld packed words per row (%lld inputs at "
                                                              "%d bits) but scales have %lld groups of %d", f->dir, nm,
                                              (long long)packed, (long long)in, q->bits, (long long)groups,
                                              q->group_size));
    if (q->mode == MLXN_MLX_AFFINE) {
        snprintf(nm, sizeof nm, "%s.biases", module);
        if (mlxn_folder_tensor(f, nm, &b) != MLXN_OK)
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: affine module '%.200s' has no biases tensor",
                                                  f->dir, module));
        if (b.type != s.type || b.n_dims != s.n_dims || memcmp(b.shape, s.shape, sizeof b.shape))
            return mlxn_errbuf_save(eb, mlxn_fail(MLXN_ERR_FORMAT, "%s: '%.200s' differs from the scales in dtype or shape",
                                                  f->dir, nm));
    }
    return MLXN_OK;
}
