/* CUDA runtime glue: devices, memory (with an out-of-memory message), streams, events, graph
 * capture/replay, the device error flag and the scratch arena. Every call is checked. */
#include "backend/cuda/common.cuh"
#include <stdio.h>
#include <string.h>

#define MLXN_CUDA_MAX_DEV 16
/* Small host<->device copies go through pinned staging memory: an upload of at most STAGE_SLOT
 * bytes is copied into one of STAGE_N pinned slots and queued without waiting (the slot is
 * reused once its event says the copy is done); a download of at most DOWN_BYTES lands in a
 * pinned buffer together with the error flag, one wait for both. The decode loop's per-token
 * id/position upload and argmax download then cost one round trip instead of three. */
enum { STAGE_N = 32, STAGE_SLOT = 4096, DOWN_BYTES = 1 << 20 };
static struct {
    int *flag;           /* device int: error bits raised by kernels */
    void *scratch;       /* arena */
    size_t scratch_size;
    int stage_state;     /* 0 not set up, 1 ready, -1 unavailable (plain copies) */
    unsigned char *up;   /* pinned: STAGE_N x STAGE_SLOT */
    cudaEvent_t up_ev[STAGE_N];
    unsigned up_next;
    unsigned char *down; /* pinned: an int (the flag) then DOWN_BYTES */
} g_dev[MLXN_CUDA_MAX_DEV];

extern "C" int mlxn_cuda_ndev(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) { cudaGetLastError(); return 0; }
    return n;
}

extern "C" mlxn_status mlxn_cuda_info(int dev, mlxn_device_info *out) {
    cudaDeviceProp p;
    CU_TRY(cudaGetDeviceProperties(&p, dev));
    memset(out, 0, sizeof *out);
    out->kind = MLXN_DEVICE_CUDA;
    out->index = dev;
    snprintf(out->name, sizeof out->name, "%.127s", p.name);
    out->total_memory = p.totalGlobalMem;
    int cur = 0;
    CU_TRY(cudaGetDevice(&cur));
    CU_TRY(cudaSetDevice(dev));
    size_t fr = 0, tot = 0;
    cudaError_t e = cudaMemGetInfo(&fr, &tot);
    cudaSetDevice(cur);
    if (e != cudaSuccess) return mlxn_cuda_fail(e, "cudaMemGetInfo", __FILE__, __LINE__);
    out->free_memory = fr;
    out->sm_count = p.multiProcessorCount;
    out->cc_major = p.major;
    out->cc_minor = p.minor;
    out->l2_bytes = (size_t)p.l2CacheSize;
    out->smem_per_block = p.sharedMemPerBlockOptin;
    return MLXN_OK;
}

extern "C" mlxn_status mlxn_cuda_set_device(int dev) { CU_TRY(cudaSetDevice(dev)); return MLXN_OK; }

/* Per-device attribute cache for launch sizing (a value of 0 means "not read yet"). */
#define MLXN_CUDA_MAX_DEVICES 64
static int cached_attr(cudaDeviceAttr attr, int (*cache)[MLXN_CUDA_MAX_DEVICES]) {
    int dev = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || dev < 0 || dev >= MLXN_CUDA_MAX_DEVICES) { cudaGetLastError(); return 0; }
    if (!(*cache)[dev] && cudaDeviceGetAttribute(&(*cache)[dev], attr, dev) != cudaSuccess) {
        cudaGetLastError();
        (*cache)[dev] = 0;
    }
    return (*cache)[dev];
}
extern "C" int mlxn_cuda_sm_count(void) {
    static int cache[MLXN_CUDA_MAX_DEVICES];
    return cached_attr(cudaDevAttrMultiProcessorCount, &cache);
}
extern "C" int mlxn_cuda_smem_per_sm(void) {
    static int cache[MLXN_CUDA_MAX_DEVICES];
    return cached_attr(cudaDevAttrMaxSharedMemoryPerMultiprocessor, &cache);
}

extern "C" mlxn_status mlxn_cuda_malloc(void **p, size_t n) {
    *p = NULL;
    cudaError_t e = cudaMalloc(p, n + 256);
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        return mlxn_fail(e == cudaErrorMemoryAllocation ? MLXN_ERR_DEVICE_MEMORY : MLXN_ERR_DEVICE,
                         "cudaMalloc of %zu bytes failed: %s (%zu of %zu bytes free) at %s:%d", n,
                         cudaGetErrorString(e), fr, tot, __FILE__, __LINE__);
    }
    return MLXN_OK;
}
extern "C" void mlxn_cuda_free(void *p) { if (p) cudaFree(p); }

static int cur_dev(void);
/* The pinned staging of the current device (sets it up on first use); NULL when unavailable or
 * while the stream is being captured (a staged copy must not become a graph node). */
static int staging(void *st) {
    int d = cur_dev();
    if (g_dev[d].stage_state == 0) {
        g_dev[d].stage_state = -1;
        void *u = NULL, *w = NULL;
        if (cudaMallocHost(&u, (size_t)STAGE_N * STAGE_SLOT) != cudaSuccess ||
            cudaMallocHost(&w, 16 + (size_t)DOWN_BYTES) != cudaSuccess) {
            cudaGetLastError();
            if (u) cudaFreeHost(u);
            return -1;
        }
        for (int i = 0; i < STAGE_N; i++)
            if (cudaEventCreateWithFlags(&g_dev[d].up_ev[i], cudaEventDisableTiming) != cudaSuccess) {
                cudaGetLastError();
                for (int j = 0; j < i; j++) cudaEventDestroy(g_dev[d].up_ev[j]);
                cudaFreeHost(u);
                cudaFreeHost(w);
                return -1;
            }
        g_dev[d].up = (unsigned char *)u;
        g_dev[d].down = (unsigned char *)w;
        g_dev[d].stage_state = 1;
    }
    if (g_dev[d].stage_state != 1) return -1;
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(CU_STREAM(st), &cs) != cudaSuccess) { cudaGetLastError(); return -1; }
    return cs == cudaStreamCaptureStatusNone ? d : -1;
}
/* Bumped by every launch check, copy and fill: what the quantized-column hand-over
 * (mlxn_cuda_xq_offer / take) uses to know that nothing ran in between. */
static unsigned long long g_launch_seq;
extern "C" mlxn_status mlxn_cuda_memcpy_h2d(void *d, const void *s, size_t n, void *st) {
    g_launch_seq++;
    int dev;
    if (n <= STAGE_SLOT && (dev = staging(st)) >= 0) {   /* staged: returns without waiting */
        const unsigned i = g_dev[dev].up_next++ % STAGE_N;
        CU_TRY(cudaEventSynchronize(g_dev[dev].up_ev[i]));   /* the slot's last copy is done */
        unsigned char *slot = g_dev[dev].up + (size_t)i * STAGE_SLOT;
        memcpy(slot, s, n);
        CU_TRY(cudaMemcpyAsync(d, slot, n, cudaMemcpyHostToDevice, CU_STREAM(st)));
        CU_TRY(cudaEventRecord(g_dev[dev].up_ev[i], CU_STREAM(st)));
        return MLXN_OK;
    }
    CU_TRY(cudaMemcpyAsync(d, s, n, cudaMemcpyHostToDevice, CU_STREAM(st)));
    CU_TRY(cudaStreamSynchronize(CU_STREAM(st)));   /* src may be reused on return */
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_memcpy_d2h(void *d, const void *s, size_t n, void *st) {
    CU_TRY(cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToHost, CU_STREAM(st)));
    CU_TRY(cudaStreamSynchronize(CU_STREAM(st)));
    return MLXN_OK;
}
static mlxn_status flag_error(int h, void *s);
/* A download followed by the error-flag check (mlxn_buffer_download): small ones with one wait. */
extern "C" mlxn_status mlxn_cuda_download_checked(void *d, const void *s, size_t n, void *st) {
    int dev;
    if (n <= DOWN_BYTES && (dev = staging(st)) >= 0) {
        unsigned char *w = g_dev[dev].down;
        *(int *)w = 0;
        CU_TRY(cudaMemcpyAsync(w + 16, s, n, cudaMemcpyDeviceToHost, CU_STREAM(st)));
        if (g_dev[dev].flag) CU_TRY(cudaMemcpyAsync(w, g_dev[dev].flag, sizeof(int), cudaMemcpyDeviceToHost, CU_STREAM(st)));
        CU_TRY(cudaStreamSynchronize(CU_STREAM(st)));
        memcpy(d, w + 16, n);
        return flag_error(*(int *)w, st);
    }
    MLXN_TRY(mlxn_cuda_memcpy_d2h(d, s, n, st));
    return mlxn_cuda_check_flag(st);
}
extern "C" mlxn_status mlxn_cuda_memcpy_d2d(void *d, const void *s, size_t n, void *st) {
    g_launch_seq++;
    CU_TRY(cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, CU_STREAM(st)));
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_memset(void *d, int byte, size_t n, void *st) {
    g_launch_seq++;
    CU_TRY(cudaMemsetAsync(d, byte, n, CU_STREAM(st)));
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_stream_create(void **s) {
    cudaStream_t st;
    CU_TRY(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    *s = st;
    return MLXN_OK;
}
extern "C" void mlxn_cuda_stream_destroy(void *s) { if (s) cudaStreamDestroy(CU_STREAM(s)); }
extern "C" mlxn_status mlxn_cuda_stream_sync(void *s) {
    CU_TRY(cudaStreamSynchronize(CU_STREAM(s)));
    return mlxn_cuda_check_flag(s);
}
extern "C" mlxn_status mlxn_cuda_event_create(void **e) {
    cudaEvent_t ev;
    CU_TRY(cudaEventCreate(&ev));
    *e = ev;
    return MLXN_OK;
}
extern "C" void mlxn_cuda_event_destroy(void *e) { if (e) cudaEventDestroy((cudaEvent_t)e); }
extern "C" mlxn_status mlxn_cuda_event_record(void *e, void *s) {
    CU_TRY(cudaEventRecord((cudaEvent_t)e, CU_STREAM(s)));
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_event_elapsed(void *a, void *b, float *ms) {
    CU_TRY(cudaEventSynchronize((cudaEvent_t)b));
    CU_TRY(cudaEventElapsedTime(ms, (cudaEvent_t)a, (cudaEvent_t)b));
    return MLXN_OK;
}

/* ---- graphs: stream capture; parameters that change per replay live in device memory ---- */
extern "C" mlxn_status mlxn_cuda_graph_begin(void *s) {
    /* Make sure the arena and the flag exist before capture (no cudaMalloc while capturing). */
    int *f;
    MLXN_TRY(mlxn_cuda_err_flag(&f));
    MLXN_TRY(mlxn_cuda_attn_reserve(s));
    CU_TRY(cudaStreamBeginCapture(CU_STREAM(s), cudaStreamCaptureModeThreadLocal));
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_graph_end(void *s, void **exec) {
    cudaGraph_t g = NULL;
    *exec = NULL;
    CU_TRY(cudaStreamEndCapture(CU_STREAM(s), &g));
    cudaGraphExec_t ge = NULL;
    cudaError_t e = cudaGraphInstantiate(&ge, g, 0);
    cudaGraphDestroy(g);
    if (e != cudaSuccess) return mlxn_cuda_fail(e, "cudaGraphInstantiate", __FILE__, __LINE__);
    *exec = ge;
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_graph_launch(void *exec, void *s) {
    CU_TRY(cudaGraphLaunch((cudaGraphExec_t)exec, CU_STREAM(s)));
    return MLXN_OK;
}
extern "C" void mlxn_cuda_graph_destroy(void *exec) { if (exec) cudaGraphExecDestroy((cudaGraphExec_t)exec); }

/* ---- error flag and scratch arena ---------------------------------------------------------- */
static int cur_dev(void) {
    int d = 0;
    if (cudaGetDevice(&d) != cudaSuccess || d < 0 || d >= MLXN_CUDA_MAX_DEV) d = 0;
    return d;
}
extern "C" mlxn_status mlxn_cuda_err_flag(int **flag) {
    int d = cur_dev();
    if (!g_dev[d].flag) {
        void *p;
        MLXN_TRY(mlxn_cuda_malloc(&p, sizeof(int)));
        CU_TRY(cudaMemset(p, 0, sizeof(int)));
        g_dev[d].flag = (int *)p;
    }
    *flag = g_dev[d].flag;
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_check_flag(void *s) {
    int d = cur_dev();
    if (!g_dev[d].flag) return MLXN_OK;
    int h = 0;
    CU_TRY(cudaMemcpyAsync(&h, g_dev[d].flag, sizeof h, cudaMemcpyDeviceToHost, CU_STREAM(s)));
    CU_TRY(cudaStreamSynchronize(CU_STREAM(s)));
    return flag_error(h, s);
}
/* h: the flag's value read after a wait; not 0: clears the flag and names the errors */
static mlxn_status flag_error(int h, void *s) {
    if (!h) return MLXN_OK;
    int d = cur_dev();
    CU_TRY(cudaMemsetAsync(g_dev[d].flag, 0, sizeof(int), CU_STREAM(s)));
    CU_TRY(cudaStreamSynchronize(CU_STREAM(s)));
    return mlxn_fail(MLXN_ERR_INVALID_ARG, "a CUDA kernel saw bad input:%s%s%s",
                     (h & 1) ? " expert id out of range" : "", (h & 2) ? " row id out of range" : "",
                     (h & 4) ? " position out of range" : "");
}
extern "C" mlxn_status mlxn_cuda_scratch(size_t n, void **p, void *stream) {
    int d = cur_dev();
    if (n <= g_dev[d].scratch_size) { *p = g_dev[d].scratch; return MLXN_OK; }
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    CU_TRY(cudaStreamIsCapturing(CU_STREAM(stream), &cs));
    if (cs != cudaStreamCaptureStatusNone)
        return mlxn_fail(MLXN_ERR_DEVICE_MEMORY, "CUDA scratch arena must grow to %zu bytes during graph "
                         "capture; run the same ops once before capturing", n);
    /* Growing needs a device-wide sync (work in flight may use the old arena). */
    CU_TRY(cudaDeviceSynchronize());
    size_t sz = n + n / 4 + (1u << 20);
    void *q;
    MLXN_TRY(mlxn_cuda_malloc(&q, sz));
    if (g_dev[d].scratch) cudaFree(g_dev[d].scratch);
    g_dev[d].scratch = q;
    g_dev[d].scratch_size = sz;
    *p = q;
    return MLXN_OK;
}
extern "C" unsigned long long mlxn_cuda_launch_seq(void) { return g_launch_seq; }
extern "C" mlxn_status mlxn_cuda_check_launch(const char *what, const char *file, int line) {
    g_launch_seq++;
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return mlxn_cuda_fail(e, what, file, line);
    return MLXN_OK;
}
extern "C" mlxn_status mlxn_cuda_device_sync(void) {
    CU_TRY(cudaDeviceSynchronize());
    return mlxn_cuda_check_flag(0);
}
