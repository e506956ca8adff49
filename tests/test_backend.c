/* Backend objects on the CPU backends: devices, buffers (alloc, wrap, views, upload/download/
 * fill), streams, events, and graphs (ops recorded, not run, until replay; replay reads the
 * current buffer contents, so a changed position takes effect). */
#include "backend/backend.h"
#include "testutil.h"
#include <math.h>
#include <string.h>

static void test_devices(void) {
    int n = mlxn_device_count();
    CHECK(n >= 1);
    mlxn_device_info d;
    CHECK(mlxn_device_get_info(0, &d) == MLXN_OK);
    CHECK(d.kind == MLXN_DEVICE_CPU && d.sm_count >= 1 && d.total_memory > 0 && d.name[0]);
    for (int i = 1; i < n; i++) CHECKF(mlxn_device_get_info(i, &d) == MLXN_OK && d.kind == MLXN_DEVICE_CUDA, "device %d", i);
}

static void test_buffers(const char *name) {
    mlxn_backend_t *be;
    if (!CHECK(mlxn_backend_open(name, &be) == MLXN_OK)) return;
    CHECK(!strcmp(mlxn_backend_name(be), name) && mlxn_backend_device_kind(be) == MLXN_DEVICE_CPU);
    CHECK(mlxn_backend_set_threads(be, 2) == MLXN_OK);
    mlxn_buffer_t *b, *v;
    CHECK(mlxn_buffer_alloc(be, 256, &b) == MLXN_OK && mlxn_buffer_size(b) == 256 && mlxn_buffer_backend(b) == be);
    unsigned char src[64], dst[64];
    for (int i = 0; i < 64; i++) src[i] = (unsigned char)(i * 7 + 1);
    CHECK(mlxn_buffer_upload(b, 100, src, 64) == MLXN_OK);
    CHECK(mlxn_buffer_view(b, 96, 128, &v) == MLXN_OK && mlxn_buffer_size(v) == 128);
    CHECK(mlxn_buffer_download(v, 4, dst, 64) == MLXN_OK && !memcmp(src, dst, 64));
    CHECK(mlxn_buffer_fill(v, 4, 0xab, 2) == MLXN_OK);
    CHECK(mlxn_buffer_download(b, 100, dst, 3) == MLXN_OK && dst[0] == 0xab && dst[1] == 0xab && dst[2] == src[2]);
    CHECK((unsigned char *)mlxn_buffer_host_ptr(v) == (unsigned char *)mlxn_buffer_host_ptr(b) + 96);
    mlxn_buffer_free(v);
    mlxn_buffer_free(b);

    float host[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    mlxn_buffer_t *w;
    CHECK(mlxn_buffer_wrap_host(be, host, sizeof host, &w) == MLXN_OK && mlxn_buffer_host_ptr(w) == host);
    mlxn_tensor t;
    CHECK(mlxn_tensor_init(&t, w, 0, MLXN_TYPE_F32, 1, (int64_t[]){8}) == MLXN_OK);
    CHECK(mlxn_op_scale(be, &t, 2.0f, &t) == MLXN_OK && host[7] == 16.0f);   /* in place, no copy */
    mlxn_buffer_free(w);
    mlxn_buffer_free(NULL);

    /* streams and events: in order, host clock */
    mlxn_stream_t *s;
    mlxn_event_t *e0, *e1;
    CHECK(mlxn_stream_create(be, &s) == MLXN_OK && mlxn_backend_set_stream(be, s) == MLXN_OK);
    CHECK(mlxn_event_create(be, &e0) == MLXN_OK && mlxn_event_create(be, &e1) == MLXN_OK);
    float ms = -1;
    CHECK(mlxn_event_elapsed_ms(e0, e1, &ms) == MLXN_ERR_INVALID_ARG);   /* never recorded */
    CHECK(mlxn_event_record(e0) == MLXN_OK && mlxn_event_record(e1) == MLXN_OK);
    CHECK(mlxn_event_elapsed_ms(e0, e1, &ms) == MLXN_OK && ms >= 0 && ms < 1000);
    CHECK(mlxn_stream_sync(s) == MLXN_OK && mlxn_backend_sync(be) == MLXN_OK);
    CHECK(mlxn_backend_set_stream(be, NULL) == MLXN_OK);
    mlxn_event_free(e0);
    mlxn_event_free(e1);
    mlxn_stream_free(s);
    mlxn_backend_free(be);
    mlxn_backend_free(NULL);
}

/* A two-op graph: y = rope(x, pos) then z = y * 3. Recording runs nothing; each replay uses
 * the buffers' contents at that time. */
static void test_graph(const char *name) {
    mlxn_backend_t *be;
    if (!CHECK(mlxn_backend_open(name, &be) == MLXN_OK)) return;
    mlxn_buffer_t *b;
    CHECK(mlxn_buffer_alloc(be, 4096, &b) == MLXN_OK);
    float *base = mlxn_buffer_host_ptr(b);
    mlxn_tensor x, y, z, pos;
    CHECK(mlxn_tensor_init(&x, b, 0, MLXN_TYPE_F32, 3, (int64_t[]){4, 1, 1}) == MLXN_OK);
    CHECK(mlxn_tensor_init(&y, b, 64, MLXN_TYPE_F32, 3, (int64_t[]){4, 1, 1}) == MLXN_OK);
    CHECK(mlxn_tensor_init(&z, b, 128, MLXN_TYPE_F32, 3, (int64_t[]){4, 1, 1}) == MLXN_OK);
    CHECK(mlxn_tensor_init(&pos, b, 192, MLXN_TYPE_I32, 1, (int64_t[]){1}) == MLXN_OK);
    float *xv = base, *yv = base + 16, *zv = base + 32;
    int32_t *pv = (int32_t *)(base + 48);
    for (int i = 0; i < 4; i++) xv[i] = 1.0f, yv[i] = zv[i] = -7.0f;
    *pv = 0;
    mlxn_rope_params rp = {MLXN_ROPE_NORM, 4, 10000.0f, 1.0f};
    mlxn_graph_t *g = NULL;
    CHECK(mlxn_graph_begin(be) == MLXN_OK);
    CHECK(mlxn_graph_begin(be) == MLXN_ERR_INVALID_ARG);   /* nested */
    CHECK(mlxn_op_rope(be, &x, &pos, NULL, &rp, &y) == MLXN_OK);
    CHECK(mlxn_op_scale(be, &y, 3.0f, &z) == MLXN_OK);
    CHECK(mlxn_op_scale(be, &x, 3.0f, &pos) != MLXN_OK);    /* validation still applies while recording */
    CHECK(zv[0] == -7.0f && yv[0] == -7.0f);                 /* recorded, not run */
    CHECK(mlxn_graph_end(be, &g) == MLXN_OK && g);
    CHECK(mlxn_graph_replay(g) == MLXN_OK);
    CHECK(zv[0] == 3.0f && zv[1] == 3.0f);                   /* pos 0: identity rotation */
    *pv = 1;                                                 /* next token */
    CHECK(mlxn_graph_replay(g) == MLXN_OK);
    CHECKF(fabsf(zv[0] - 3.0f * (cosf(1.0f) - sinf(1.0f))) < 1e-5f, "z0 = %g", zv[0]);
    *pv = -3;                                                /* data errors surface at replay */
    CHECK(mlxn_graph_replay(g) == MLXN_OK);                  /* rope does not bound positions */
    mlxn_graph_free(g);
    mlxn_graph_t *g2 = NULL;
    CHECK(mlxn_graph_end(be, &g2) == MLXN_ERR_INVALID_ARG && g2 == NULL);   /* no begin */
    mlxn_graph_free(NULL);
    mlxn_buffer_free(b);
    mlxn_backend_free(be);
}

int main(void) {
    test_devices();
    for (int i = 0; i < 2; i++) {
        const char *name = i ? "cpu" : "ref";
        test_buffers(name);
        test_graph(name);
    }
    return tu_finish();
}
