/* Backend front-end: device enumeration, opening backends by name, buffers and views, streams,
 * events, graphs (native or the generic recorded call list), and the op dispatcher every op
 * front-end in src/ops/ ends with. */
#define _GNU_SOURCE
#include "backend/backend.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The CUDA backend is linked in when built (see backend.h, "CUDA hooks"). */
#if defined(MLXN_WITH_CUDA) && defined(__has_include)
#if __has_include("backend/cuda/cuda_backend.h")
#include "backend/cuda/cuda_backend.h"
#define MLXN_CUDA_LINKED 1
#endif
#endif

struct mlxn_backend {
    const mlxn_backend_vtbl *vt;
    void *ctx;                    /* the backend's private state */
    char name[32];                /* "cpu", "cuda:0", ... */
    mlxn_errbuf err;
    mlxn_stream_t *stream;        /* current stream; NULL = default */
    bool recording;               /* between graph_begin and graph_end */
    mlxn_op_call *rec;            /* generic recorder: calls so far (rec_n of rec_cap) */
    size_t rec_n, rec_cap;
    struct prof_entry *prof;      /* MLXN_PROFILE=1: time per op kind (see "Profiling") */
    int prof_n;
};

enum { PROF_MAX = 96 };   /* profile entries kept */
struct prof_entry {
    mlxn_op op;
    mlxn_type wtype;              /* mul_mat / mul_mat_id / get_rows weight type, else -1 */
    int64_t rows, k;              /* weight shape, else ne[0], ne[1] of the first tensor */
    bool multi;                   /* more than one token column */
    long long calls;
    double ns;
};
enum { BUF_OWNED, BUF_WRAPPED, BUF_VIEW };
struct mlxn_buffer {
    mlxn_backend_t *be;
    unsigned char *base;          /* device pointer (host pointer for CPU backends) */
    size_t size;
    int kind;
};

struct mlxn_stream { mlxn_backend_t *be; void *impl; };
struct mlxn_event { mlxn_backend_t *be; void *impl; double host_ms; bool recorded; };
struct mlxn_graph {
    mlxn_backend_t *be;
    void *impl;                   /* native graph, or NULL */
    mlxn_op_call *calls;          /* generic graph: n validated calls */
    size_t n;
};

/* ==========================================================================
 * Devices
 * ========================================================================== */

static int cuda_count(void) {
#ifdef MLXN_CUDA_LINKED
    int n = mlxn_cuda_device_count();
    return n > 0 ? n : 0;
#else
    return 0;
#endif
}

int mlxn_device_count(void) { return 1 + cuda_count(); }

static void cpu_model_name(char *out, size_t n) {
    snprintf(out, n, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *p = strchr(line, ':');
        if (!p) break;
        p++;
        while (*p == ' ' || *p == '\t') p++;
        snprintf(out, n, "%s", p);
        out[strcspn(out, "\n")] = 0;
        break;
    }
    fclose(f);
}

mlxn_status mlxn_device_get_info(int i, mlxn_device_info *out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "device_get_info: out is NULL");
    int n = mlxn_device_count();
    if (i < 0 || i >= n) return mlxn_fail(MLXN_ERR_NO_DEVICE, "device_get_info: device %d does not exist (%d devices)", i, n);
    memset(out, 0, sizeof *out);
    if (i == 0) {
        out->kind = MLXN_DEVICE_CPU;
        cpu_model_name(out->name, sizeof out->name);
        long page = sysconf(_SC_PAGESIZE), total = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
        if (page > 0 && total > 0) out->total_memory = (size_t)page * (size_t)total;
        if (page > 0 && avail > 0) out->free_memory = (size_t)page * (size_t)avail;
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        out->sm_count = cores > 0 ? (int)cores : 1;
        return MLXN_OK;
    }
#ifdef MLXN_CUDA_LINKED
    return mlxn_cuda_device_info(i - 1, out);
#else
    return mlxn_fail(MLXN_ERR_NO_DEVICE, "device_get_info: device %d does not exist", i);
#endif
}

/* ==========================================================================
 * Backends
 * ========================================================================== */

mlxn_status mlxn_backend_fail(mlxn_backend_t *be, mlxn_status code) {
    if (be && code != MLXN_OK) mlxn_errbuf_save(&be->err, code);
    return code;
}

mlxn_status mlxn_backend_open(const char *name, mlxn_backend_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_open: out is NULL");
    *out = NULL;
    if (!name) return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_open: name is NULL");
    const mlxn_backend_vtbl *vt = NULL;
    int device = 0;
    if (!strcmp(name, "ref")) vt = mlxn_ref_backend_vtbl();
    else if (!strcmp(name, "cpu")) vt = mlxn_cpu_backend_vtbl();
    else if (!strncmp(name, "cuda", 4) && (name[4] == 0 || name[4] == ':')) {
        if (name[4] == ':') {
            char *end;
            long d = strtol(name + 5, &end, 10);
            if (end == name + 5 || *end || d < 0 || d > 1024)
                return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_open: bad CUDA device in '%s' (want cuda:N)", name);
            device = (int)d;
        }
        int n = cuda_count();
        if (device >= n)
            return mlxn_fail(MLXN_ERR_NO_DEVICE, "backend_open: '%s': %d CUDA device(s) visible%s", name, n,
#ifdef MLXN_CUDA_LINKED
                             ""
#else
                             " (library built without CUDA)"
#endif
            );
#ifdef MLXN_CUDA_LINKED
        vt = mlxn_cuda_backend_vtbl();
#endif
    }
    if (!vt) return mlxn_fail(MLXN_ERR_NOT_FOUND, "backend_open: unknown backend '%s' (ref, cpu, cuda, cuda:N)", name);

    mlxn_backend_t *be = calloc(1, sizeof *be);
    if (!be) return mlxn_fail(MLXN_ERR_NO_MEMORY, "backend_open: out of memory");
    be->vt = vt;
    if (vt->kind == MLXN_DEVICE_CUDA) snprintf(be->name, sizeof be->name, "cuda:%d", device);
    else snprintf(be->name, sizeof be->name, "%s", vt->name);
    mlxn_status st = vt->init ? vt->init(device, &be->ctx) : MLXN_OK;
    if (st != MLXN_OK) { free(be); return st; }
    const char *prof = getenv("MLXN_PROFILE");
    if (prof && *prof && strcmp(prof, "0")) be->prof = calloc(PROF_MAX, sizeof *be->prof);   /* no memory: no profile */
    *out = be;
    return MLXN_OK;
}

void mlxn_backend_free(mlxn_backend_t *be) {
    if (!be) return;
    mlxn_backend_profile_report(be);
    if (be->vt->release) be->vt->release(be->ctx);
    free(be->prof);
    free(be->rec);
    free(be);
}

const char *mlxn_backend_name(const mlxn_backend_t *be) { return be ? be->name : "(null)"; }
mlxn_device_kind mlxn_backend_device_kind(const mlxn_backend_t *be) { return be ? be->vt->kind : MLXN_DEVICE_CPU; }
const char *mlxn_backend_last_error(const mlxn_backend_t *be) { return be ? be->err.msg : ""; }

mlxn_status mlxn_backend_set_threads(mlxn_backend_t *be, int n_threads) {
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_set_threads: backend is NULL");
    if (n_threads < 0)
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_set_threads: %d threads", n_threads));
    if (be->vt->set_threads) be->vt->set_threads(be->ctx, n_threads);
    return MLXN_OK;
}

mlxn_status mlxn_backend_sync(mlxn_backend_t *be) {
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_sync: backend is NULL");
    return be->vt->sync ? mlxn_backend_fail(be, be->vt->sync(be->ctx)) : MLXN_OK;
}

/* Whether the backend has an entry for op at all. */
static bool has_entry(const mlxn_backend_vtbl *vt, mlxn_op op) {
    switch (op) {
    case MLXN_OP_MUL_MAT: return vt->mul_mat;
    case MLXN_OP_MUL_MAT_ID: return vt->mul_mat_id;
    case MLXN_OP_RMS_NORM: return vt->rms_norm;
    case MLXN_OP_ADD_RMS_NORM: return vt->add_rms_norm;
    case MLXN_OP_ADD: return vt->add;
    case MLXN_OP_MUL: return vt->mul;
    case MLXN_OP_SCALE: return vt->scale;
    case MLXN_OP_ROPE: return vt->rope;
    case MLXN_OP_KV_WRITE: return vt->kv_write;
    case MLXN_OP_ATTENTION: return vt->attention;
    case MLXN_OP_SOFTMAX: return vt->softmax;
    case MLXN_OP_UNARY: return vt->unary;
    case MLXN_OP_GLU: return vt->glu;
    case MLXN_OP_GET_ROWS: return vt->get_rows;
    case MLXN_OP_MOE_ROUTE: return vt->moe_route;
    case MLXN_OP_MOE_COMBINE: return vt->moe_combine;
    case MLXN_OP_ARGMAX: return vt->argmax;
    case MLXN_OP_TOP_K: return vt->top_k;
    case MLXN_OP_COPY: return vt->copy;
    case MLXN_OP_MUL_MAT_FUSED: return vt->mul_mat_fused;
    case MLXN_OP_ROPE_KV: return vt->rope_kv;
    case MLXN_OP_ARGMAX_ADVANCE: return vt->argmax_advance;
    case MLXN_OP_COUNT: break;
    }
    return false;
}

bool mlxn_backend_supports(const mlxn_backend_t *be, mlxn_op op, mlxn_type type) {
    if (!be || (int)op < 0 || op >= MLXN_OP_COUNT || !has_entry(be->vt, op)) return false;
    return be->vt->supports ? be->vt->supports(be->ctx, op, type) : true;
}

/* ==========================================================================
 * Buffers
 * ========================================================================== */

static mlxn_status buffer_new(mlxn_backend_t *be, unsigned char *base, size_t size, int kind, mlxn_buffer_t **out) {
    mlxn_buffer_t *b = calloc(1, sizeof *b);
    if (!b) return mlxn_fail(MLXN_ERR_NO_MEMORY, "buffer: out of memory");
    b->be = be;
    b->base = base;
    b->size = size;
    b->kind = kind;
    *out = b;
    return MLXN_OK;
}

mlxn_status mlxn_buffer_alloc(mlxn_backend_t *be, size_t size, mlxn_buffer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_alloc: out is NULL");
    *out = NULL;
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_alloc: backend is NULL");
    if (size == 0) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_alloc: size 0"));
    void *p = NULL;
    mlxn_status st = be->vt->buffer_alloc(be->ctx, size, &p);
    if (st != MLXN_OK) return mlxn_backend_fail(be, st);
    st = buffer_new(be, p, size, BUF_OWNED, out);
    if (st != MLXN_OK) be->vt->buffer_free(be->ctx, p);
    return mlxn_backend_fail(be, st);
}

mlxn_status mlxn_buffer_wrap_host(mlxn_backend_t *be, void *ptr, size_t size, mlxn_buffer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_wrap_host: out is NULL");
    *out = NULL;
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_wrap_host: backend is NULL");
    if (!be->vt->host_memory)
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_UNSUPPORTED, "buffer_wrap_host: backend '%s' has device memory; "
                                               "allocate and upload instead", be->name));
    if (!ptr || size == 0)
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_wrap_host: NULL pointer or size 0"));
    return mlxn_backend_fail(be, buffer_new(be, ptr, size, BUF_WRAPPED, out));
}

mlxn_status mlxn_buffer_view(mlxn_buffer_t *parent, size_t offset, size_t size, mlxn_buffer_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_view: out is NULL");
    *out = NULL;
    if (!parent) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_view: parent is NULL");
    if (offset > parent->size || size > parent->size - offset || size == 0)
        return mlxn_backend_fail(parent->be, mlxn_fail(MLXN_ERR_SHAPE, "buffer_view: [%zu, +%zu) outside the parent's %zu bytes",
                                                       offset, size, parent->size));
    return mlxn_backend_fail(parent->be, buffer_new(parent->be, parent->base + offset, size, BUF_VIEW, out));
}

void mlxn_buffer_free(mlxn_buffer_t *b) {
    if (!b) return;
    if (b->kind == BUF_OWNED) b->be->vt->buffer_free(b->be->ctx, b->base);
    free(b);
}

size_t mlxn_buffer_size(const mlxn_buffer_t *b) { return b ? b->size : 0; }
mlxn_backend_t *mlxn_buffer_backend(const mlxn_buffer_t *b) { return b ? b->be : NULL; }
void *mlxn_buffer_host_ptr(const mlxn_buffer_t *b) { return b && b->be->vt->host_memory ? b->base : NULL; }

static mlxn_status range_check(const mlxn_buffer_t *b, size_t offset, size_t n, const char *what) {
    if (offset > b->size || n > b->size - offset)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: bytes [%zu, %zu + %zu) outside the buffer's %zu bytes", what, offset, offset, n,
                         b->size);
    return MLXN_OK;
}

mlxn_status mlxn_buffer_upload(mlxn_buffer_t *b, size_t offset, const void *src, size_t n) {
    if (!b || (!src && n)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_upload: NULL buffer or source");
    MLXN_TRY(mlxn_backend_fail(b->be, range_check(b, offset, n, "buffer_upload")));
    return n ? mlxn_backend_fail(b->be, b->be->vt->buffer_upload(b->be->ctx, b->base + offset, src, n)) : MLXN_OK;
}

mlxn_status mlxn_buffer_download(mlxn_buffer_t *b, size_t offset, void *dst, size_t n) {
    if (!b || (!dst && n)) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_download: NULL buffer or destination");
    MLXN_TRY(mlxn_backend_fail(b->be, range_check(b, offset, n, "buffer_download")));
    return n ? mlxn_backend_fail(b->be, b->be->vt->buffer_download(b->be->ctx, dst, b->base + offset, n)) : MLXN_OK;
}

mlxn_status mlxn_buffer_fill(mlxn_buffer_t *b, size_t offset, uint8_t byte, size_t n) {
    if (!b) return mlxn_fail(MLXN_ERR_INVALID_ARG, "buffer_fill: NULL buffer");
    MLXN_TRY(mlxn_backend_fail(b->be, range_check(b, offset, n, "buffer_fill")));
    return n ? mlxn_backend_fail(b->be, b->be->vt->buffer_fill(b->be->ctx, b->base + offset, byte, n)) : MLXN_OK;
}

/* ==========================================================================
 * Streams and events
 * ========================================================================== */

mlxn_status mlxn_stream_create(mlxn_backend_t *be, mlxn_stream_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "stream_create: out is NULL");
    *out = NULL;
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "stream_create: backend is NULL");
    mlxn_stream_t *s = calloc(1, sizeof *s);
    if (!s) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_NO_MEMORY, "stream_create: out of memory"));
    s->be = be;
    if (be->vt->stream_create) {
        mlxn_status st = be->vt->stream_create(be->ctx, &s->impl);
        if (st != MLXN_OK) { free(s); return mlxn_backend_fail(be, st); }
    }
    *out = s;
    return MLXN_OK;
}

void mlxn_stream_free(mlxn_stream_t *s) {
    if (!s) return;
    if (s->be->stream == s) mlxn_backend_set_stream(s->be, NULL);
    if (s->be->vt->stream_free) s->be->vt->stream_free(s->be->ctx, s->impl);
    free(s);
}

mlxn_status mlxn_stream_sync(mlxn_stream_t *s) {
    if (!s) return mlxn_fail(MLXN_ERR_INVALID_ARG, "stream_sync: stream is NULL");
    if (!s->be->vt->stream_sync) return MLXN_OK;   /* in-order synchronous backend */
    return mlxn_backend_fail(s->be, s->be->vt->stream_sync(s->be->ctx, s->impl));
}

mlxn_status mlxn_backend_set_stream(mlxn_backend_t *be, mlxn_stream_t *s) {
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_set_stream: backend is NULL");
    if (s && s->be != be)
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_set_stream: stream belongs to backend '%s', not '%s'",
                                               s->be->name, be->name));
    if (be->recording)
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "backend_set_stream: a graph is being recorded"));
    if (be->vt->stream_select) MLXN_TRY(mlxn_backend_fail(be, be->vt->stream_select(be->ctx, s ? s->impl : NULL)));
    be->stream = s;
    return MLXN_OK;
}

static double host_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

mlxn_status mlxn_event_create(mlxn_backend_t *be, mlxn_event_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "event_create: out is NULL");
    *out = NULL;
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "event_create: backend is NULL");
    mlxn_event_t *e = calloc(1, sizeof *e);
    if (!e) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_NO_MEMORY, "event_create: out of memory"));
    e->be = be;
    if (be->vt->event_create) {
        mlxn_status st = be->vt->event_create(be->ctx, &e->impl);
        if (st != MLXN_OK) { free(e); return mlxn_backend_fail(be, st); }
    }
    *out = e;
    return MLXN_OK;
}

void mlxn_event_free(mlxn_event_t *e) {
    if (!e) return;
    if (e->be->vt->event_free) e->be->vt->event_free(e->be->ctx, e->impl);
    free(e);
}

mlxn_status mlxn_event_record(mlxn_event_t *e) {
    if (!e) return mlxn_fail(MLXN_ERR_INVALID_ARG, "event_record: event is NULL");
    if (e->be->vt->event_record) MLXN_TRY(mlxn_backend_fail(e->be, e->be->vt->event_record(e->be->ctx, e->impl)));
    else e->host_ms = host_ms();   /* synchronous backend: the work before it is done */
    e->recorded = true;
    return MLXN_OK;
}

mlxn_status mlxn_event_elapsed_ms(mlxn_event_t *start, mlxn_event_t *end, float *ms) {
    if (!start || !end || !ms) return mlxn_fail(MLXN_ERR_INVALID_ARG, "event_elapsed_ms: NULL argument");
    if (start->be != end->be)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "event_elapsed_ms: events belong to different backends");
    if (!start->recorded || !end->recorded)
        return mlxn_backend_fail(start->be, mlxn_fail(MLXN_ERR_INVALID_ARG, "event_elapsed_ms: %s event was never recorded",
                                                      start->recorded ? "end" : "start"));
    if (start->be->vt->event_elapsed_ms)
        return mlxn_backend_fail(start->be, start->be->vt->event_elapsed_ms(start->be->ctx, start->impl, end->impl, ms));
    *ms = (float)(end->host_ms - start->host_ms);
    return MLXN_OK;
}

/* ==========================================================================
 * Graphs
 * ========================================================================== */

static bool native_graphs(const mlxn_backend_t *be) { return be->vt->graph_begin && be->vt->graph_end && be->vt->graph_replay; }

mlxn_status mlxn_graph_begin(mlxn_backend_t *be) {
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_begin: backend is NULL");
    if (be->recording) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_begin: already recording"));
    if (native_graphs(be)) MLXN_TRY(mlxn_backend_fail(be, be->vt->graph_begin(be->ctx)));
    be->rec_n = 0;
    be->recording = true;
    return MLXN_OK;
}

mlxn_status mlxn_graph_end(mlxn_backend_t *be, mlxn_graph_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_end: out is NULL");
    *out = NULL;
    if (!be) return mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_end: backend is NULL");
    if (!be->recording) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_end: no graph_begin"));
    be->recording = false;
    mlxn_graph_t *g = calloc(1, sizeof *g);
    if (!g) {
        if (native_graphs(be)) {
            void *impl = NULL;
            if (be->vt->graph_end(be->ctx, &impl) == MLXN_OK && be->vt->graph_free) be->vt->graph_free(be->ctx, impl);
        }
        return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_NO_MEMORY, "graph_end: out of memory"));
    }
    g->be = be;
    if (native_graphs(be)) {
        mlxn_status st = be->vt->graph_end(be->ctx, &g->impl);
        if (st != MLXN_OK) { free(g); return mlxn_backend_fail(be, st); }
    } else {
        g->calls = be->rec;   /* hand the recorded list over */
        g->n = be->rec_n;
        be->rec = NULL;
        be->rec_n = be->rec_cap = 0;
    }
    *out = g;
    return MLXN_OK;
}

static mlxn_status run_call(mlxn_backend_t *be, const mlxn_op_call *c);

mlxn_status mlxn_graph_replay(mlxn_graph_t *g) {
    if (!g) return mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_replay: graph is NULL");
    mlxn_backend_t *be = g->be;
    if (be->recording) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_INVALID_ARG, "graph_replay: a graph is being recorded"));
    if (g->impl) return mlxn_backend_fail(be, be->vt->graph_replay(be->ctx, g->impl));
    for (size_t i = 0; i < g->n; i++) {
        mlxn_status st = run_call(be, &g->calls[i]);
        if (st != MLXN_OK) return mlxn_backend_fail(be, st);
    }
    return MLXN_OK;
}

void mlxn_graph_free(mlxn_graph_t *g) {
    if (!g) return;
    if (g->impl && g->be->vt->graph_free) g->be->vt->graph_free(g->be->ctx, g->impl);
    free(g->calls);
    free(g);
}

/* ==========================================================================
 * Profiling: with MLXN_PROFILE=1 in the environment when the backend is opened, every dispatched
 * call is timed by the host clock (synchronous backends only: an asynchronous backend's time is
 * its launch cost) and accumulated per (op, weight type, shape class, single/multi-token). The
 * table goes to mlxn_log (INFO) from mlxn_backend_profile_report and when the backend is freed.
 * ========================================================================== */


static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void prof_add(mlxn_backend_t *be, const mlxn_op_call *c, double ns) {
    bool w = c->op == MLXN_OP_MUL_MAT || c->op == MLXN_OP_MUL_MAT_ID || c->op == MLXN_OP_GET_ROWS ||
             c->op == MLXN_OP_MUL_MAT_FUSED;
    mlxn_type wt = w ? c->W.w.d.type : (mlxn_type)-1;
    int64_t rows = w ? c->W.w.d.ne[1] : c->t[0].d.ne[0], k = w ? c->W.w.d.ne[0] : 0;
    int64_t cols = c->op == MLXN_OP_MUL_MAT || c->op == MLXN_OP_MUL_MAT_FUSED ? c->t[0].d.ne[1] : c->op == MLXN_OP_GET_ROWS ? c->t[0].d.ne[0]
                   : c->op == MLXN_OP_ATTENTION || c->op == MLXN_OP_ROPE || c->op == MLXN_OP_KV_WRITE || c->op == MLXN_OP_ROPE_KV ? c->t[0].d.ne[2]
                   : c->t[0].d.ne[1];
    bool multi = cols > 1;
    for (int i = 0; i < be->prof_n; i++) {
        struct prof_entry *e = &be->prof[i];
        if (e->op == c->op && e->wtype == wt && e->rows == rows && e->k == k && e->multi == multi) {
            e->calls++;
            e->ns += ns;
            return;
        }
    }
    if (be->prof_n == PROF_MAX) return;
    be->prof[be->prof_n++] = (struct prof_entry){c->op, wt, rows, k, multi, 1, ns};
}

static int prof_cmp(const void *a, const void *b) {
    double x = ((const struct prof_entry *)a)->ns, y = ((const struct prof_entry *)b)->ns;
    return x < y ? 1 : x > y ? -1 : 0;
}

void mlxn_backend_profile_report(mlxn_backend_t *be) {
    if (!be || !be->prof || !be->prof_n) return;
    qsort(be->prof, (size_t)be->prof_n, sizeof *be->prof, prof_cmp);
    double total = 0;
    long long calls = 0;
    for (int i = 0; i < be->prof_n; i++) total += be->prof[i].ns, calls += be->prof[i].calls;
    mlxn_log(MLXN_LOG_INFO, "profile '%s': %lld calls, %.3f ms in ops", be->name, calls, total / 1e6);
    for (int i = 0; i < be->prof_n; i++) {
        const struct prof_entry *e = &be->prof[i];
        char shape[64];
        if ((int)e->wtype >= 0) snprintf(shape, sizeof shape, "%s %lldx%lld", mlxn_type_name(e->wtype), (long long)e->rows, (long long)e->k);
        else snprintf(shape, sizeof shape, "ne0 %lld", (long long)e->rows);
        mlxn_log(MLXN_LOG_INFO, "profile %-13s %-22s %-6s %8lld calls %10.3f ms %7.2f us/call %5.1f%%", mlxn_op_name(e->op), shape,
                 e->multi ? "multi" : "single", e->calls, e->ns / 1e6, e->ns / 1e3 / (double)e->calls, 100.0 * e->ns / total);
    }
}

void mlxn_backend_profile_reset(mlxn_backend_t *be) {
    if (be) be->prof_n = 0;
}

/* ==========================================================================
 * Tensors and dispatch
 * ========================================================================== */

mlxn_status mlxn_tensor_resolve(mlxn_backend_t *be, const mlxn_tensor *t, const char *op, const char *what, mlxn_tview *out) {
    if (!t) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s: tensor is NULL", op, what);
    if (!t->buf) return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s: tensor has no buffer", op, what);
    if (t->buf->be != be)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "%s: %s: tensor's buffer belongs to backend '%s', not '%s'", op, what, t->buf->be->name,
                         be->name);
    const mlxn_tensor_desc *d = &t->d;
    const mlxn_type_traits *tt = mlxn_type_info(d->type);
    if (!tt) return mlxn_fail(MLXN_ERR_TYPE, "%s: %s: unknown type id %d", op, what, (int)d->type);
    if (d->n_dims < 1 || d->n_dims > MLXN_MAX_DIMS) return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: n_dims %d outside 1..4", op, what, d->n_dims);
    for (int i = 0; i < MLXN_MAX_DIMS; i++) {
        if (d->ne[i] <= 0) return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: ne[%d] = %lld is not positive", op, what, i, (long long)d->ne[i]);
        if (i >= d->n_dims && d->ne[i] != 1)
            return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: ne[%d] = %lld beyond n_dims %d", op, what, i, (long long)d->ne[i], d->n_dims);
    }
    if (d->ne[0] % tt->block_elems)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: ne[0] = %lld is not a multiple of %s's block of %lld", op, what, (long long)d->ne[0],
                         tt->name, (long long)tt->block_elems);
    if (d->nb[0] != tt->block_bytes)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: nb[0] = %zu, rows must be contiguous (%s element/block = %zu bytes)", op, what, d->nb[0],
                         tt->name, tt->block_bytes);
    /* extent: one row plus the furthest start of any other row */
    size_t extent = mlxn_row_size(d->type, d->ne[0]);
    for (int i = 1; i < MLXN_MAX_DIMS; i++) {
        size_t step;
        if (__builtin_mul_overflow((size_t)(d->ne[i] - 1), d->nb[i], &step) || __builtin_add_overflow(extent, step, &extent))
            return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: strides overflow", op, what);
    }
    if (t->offset > t->buf->size || extent > t->buf->size - t->offset)
        return mlxn_fail(MLXN_ERR_SHAPE, "%s: %s: bytes [%zu, %zu + %zu) lie outside the buffer's %zu bytes", op, what, t->offset,
                         t->offset, extent, t->buf->size);
    out->data = t->buf->base + t->offset;
    out->d = *d;
    return MLXN_OK;
}

#define CALL(entry, ...) (be->vt->entry ? be->vt->entry(be->ctx, __VA_ARGS__) : unsupported(be, c->op))
#define T(i) (c->has[i] ? &c->t[i] : NULL)

static mlxn_status unsupported(const mlxn_backend_t *be, mlxn_op op) {
    return mlxn_fail(MLXN_ERR_UNSUPPORTED, "%s: not supported by backend '%s'", mlxn_op_name(op), be->name);
}

static mlxn_status run_call_untimed(mlxn_backend_t *be, const mlxn_op_call *c) {
    switch (c->op) {
    case MLXN_OP_MUL_MAT: return CALL(mul_mat, &c->W, T(0), T(1));
    case MLXN_OP_MUL_MAT_ID: return CALL(mul_mat_id, &c->W, T(0), T(1), T(2));
    case MLXN_OP_RMS_NORM: return CALL(rms_norm, T(0), T(1), c->f0, T(2));
    case MLXN_OP_ADD_RMS_NORM: return CALL(add_rms_norm, T(0), T(1), T(2), c->f0, T(3), T(4));
    case MLXN_OP_ADD: return CALL(add, T(0), T(1), T(2));
    case MLXN_OP_MUL: return CALL(mul, T(0), T(1), T(2));
    case MLXN_OP_SCALE: return CALL(scale, T(0), c->f0, T(1));
    case MLXN_OP_ROPE: return CALL(rope, T(0), T(1), T(2), &c->rope, T(3));
    case MLXN_OP_KV_WRITE: return CALL(kv_write, T(0), T(1), T(2));
    case MLXN_OP_ATTENTION: return CALL(attention, T(0), T(1), T(2), T(3), &c->attn, T(4));
    case MLXN_OP_SOFTMAX: return CALL(softmax, T(0), T(1), c->f0, c->f1, T(2));
    case MLXN_OP_UNARY: return CALL(unary, (mlxn_unary)c->i0, T(0), T(1));
    case MLXN_OP_GLU: return CALL(glu, (mlxn_glu)c->i0, T(0), T(1), T(2));
    case MLXN_OP_GET_ROWS: return CALL(get_rows, &c->W, T(0), T(1));
    case MLXN_OP_MOE_ROUTE: return CALL(moe_route, T(0), &c->route, T(1), T(2), T(3));
    case MLXN_OP_MOE_COMBINE: return CALL(moe_combine, T(0), T(1), T(2), T(3));
    case MLXN_OP_ARGMAX: return CALL(argmax, T(0), T(1));
    case MLXN_OP_TOP_K: return CALL(top_k, T(0), c->i0, T(1), T(2));
    case MLXN_OP_COPY: return CALL(copy, T(0), T(1));
    case MLXN_OP_MUL_MAT_FUSED: return CALL(mul_mat_fused, &c->W, T(0), T(1), c->f0, T(2), (mlxn_glu)c->i0, T(3), T(4));
    case MLXN_OP_ROPE_KV: return CALL(rope_kv, T(0), T(1), T(2), T(3), T(4), &c->rope, T(5), T(6), T(7));
    case MLXN_OP_ARGMAX_ADVANCE: return CALL(argmax_advance, T(0), T(1), T(2));
    case MLXN_OP_COUNT: break;
    }
    return mlxn_fail(MLXN_ERR_INVALID_ARG, "dispatch: unknown op %d", (int)c->op);
}
#undef CALL
#undef T

static mlxn_status run_call(mlxn_backend_t *be, const mlxn_op_call *c) {
    if (!be->prof) return run_call_untimed(be, c);
    double t0 = now_ns();
    mlxn_status st = run_call_untimed(be, c);
    prof_add(be, c, now_ns() - t0);
    return st;
}

mlxn_status mlxn_backend_dispatch(mlxn_backend_t *be, const mlxn_op_call *c) {
    if (be->recording && !native_graphs(be)) {
        if (be->rec_n == be->rec_cap) {
            size_t cap = be->rec_cap ? be->rec_cap * 2 : 64;
            mlxn_op_call *p = realloc(be->rec, cap * sizeof *p);
            if (!p) return mlxn_backend_fail(be, mlxn_fail(MLXN_ERR_NO_MEMORY, "graph: out of memory recording %s", mlxn_op_name(c->op)));
            be->rec = p;
            be->rec_cap = cap;
        }
        be->rec[be->rec_n++] = *c;
        return MLXN_OK;
    }
    return mlxn_backend_fail(be, run_call(be, c));
}
