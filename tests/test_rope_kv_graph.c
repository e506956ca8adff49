/* rope_kv inside a recorded graph, as the engine's decode step uses it (SmolLM2's heads: hd 64,
 * 9 query and 3 kv heads, f16 caches): the positions are read from their buffer at every replay,
 * so replays with new positions fill new cache rows, each equal to what ref writes for that
 * position, and nothing else. With --bench (timing, for the GPU machine) a graph of 30 layers'
 * worth of the old pair (rope on q|k, one kv_write for k|v) and one of 30 rope_kv calls are
 * replayed alternately; prints microseconds per layer for each.
 *
 *   test_rope_kv_graph [-b BACKEND] [--bench] */
#include "backend/cpu/ref_util.h"
#include "testutil.h"
#include <stdlib.h>
#include <string.h>

enum { HD = 64, NH = 9, NKV = 3, NCTX = 64, QKV = (NH + 2 * NKV) * HD, LAYERS = 30 };

typedef struct side {
    mlxn_backend_t *be;
    mlxn_buffer_t *slot, *pos, *kv;   /* slot f32 {QKV}; pos i32 {1}; per layer K then V {HD, NCTX, NKV} f16 */
} side;

static size_t cache_bytes(void) { return (size_t)HD * NCTX * NKV * 2; }

static int open_side(side *s, const char *name, int layers, const float *slot) {
    if (mlxn_backend_open(name, &s->be) != MLXN_OK) return 0;
    size_t kvb = 2 * cache_bytes() * (size_t)layers;
    if (mlxn_buffer_alloc(s->be, QKV * 4, &s->slot) || mlxn_buffer_alloc(s->be, 4, &s->pos) || mlxn_buffer_alloc(s->be, kvb, &s->kv))
        return 0;
    mlxn_buffer_upload(s->slot, 0, slot, QKV * 4);
    mlxn_buffer_fill(s->kv, 0, 0xff, kvb);   /* poisoned: NaN */
    return 1;
}

static const mlxn_rope_params RP = {MLXN_ROPE_NORM, HD, 100000.0f, 1.0f};

/* Layer l's ops: rope_kv, or (old) rope on q|k in place and one kv_write of k|v into {HD, NCTX, 2 NKV}. */
static mlxn_status layer_ops(side *s, int l, int old) {
    size_t koff = 2 * cache_bytes() * (size_t)l;
    mlxn_tensor pos = tu_view3(s->pos, 0, MLXN_TYPE_I32, 1, 1, 1, 4, 4);
    pos.d.n_dims = 1;
    if (old) {
        mlxn_tensor qk = tu_view3(s->slot, 0, MLXN_TYPE_F32, HD, NH + NKV, 1, HD * 4, QKV * 4);
        mlxn_tensor kv = tu_view3(s->slot, NH * HD * 4, MLXN_TYPE_F32, HD, 2 * NKV, 1, HD * 4, QKV * 4);
        mlxn_tensor both = tu_view3(s->kv, koff, MLXN_TYPE_F16, HD, NCTX, 2 * NKV, HD * 2, (size_t)HD * 2 * NCTX);
        MLXN_TRY(mlxn_op_rope(s->be, &qk, &pos, NULL, &RP, &qk));
        return mlxn_op_kv_write(s->be, &kv, &pos, &both);
    }
    mlxn_tensor q = tu_view3(s->slot, 0, MLXN_TYPE_F32, HD, NH, 1, HD * 4, QKV * 4);
    mlxn_tensor k = tu_view3(s->slot, NH * HD * 4, MLXN_TYPE_F32, HD, NKV, 1, HD * 4, QKV * 4);
    mlxn_tensor v = tu_view3(s->slot, (NH + NKV) * HD * 4, MLXN_TYPE_F32, HD, NKV, 1, HD * 4, QKV * 4);
    mlxn_tensor kc = tu_view3(s->kv, koff, MLXN_TYPE_F16, HD, NCTX, NKV, HD * 2, (size_t)HD * 2 * NCTX);
    mlxn_tensor vc = tu_view3(s->kv, koff + cache_bytes(), MLXN_TYPE_F16, HD, NCTX, NKV, HD * 2, (size_t)HD * 2 * NCTX);
    return mlxn_op_rope_kv(s->be, &q, &k, &v, &pos, NULL, &RP, &q, &kc, &vc);
}

static mlxn_graph_t *record(side *s, int layers, int old) {
    mlxn_graph_t *g = NULL;
    if (mlxn_graph_begin(s->be) != MLXN_OK) return NULL;
    mlxn_status st = MLXN_OK;
    for (int l = 0; l < layers && st == MLXN_OK; l++) st = layer_ops(s, l, old);
    mlxn_status st2 = mlxn_graph_end(s->be, &g);
    if (st != MLXN_OK || st2 != MLXN_OK) {
        mlxn_graph_free(g);
        return NULL;
    }
    return g;
}

/* Replays with positions 5, 17, 40, 63: each fills its rows of layer 0's caches like ref's
 * direct call; the other rows stay poisoned. */
static void check_replays(const char *name, const float *slot) {
    side t = {0}, r = {0};
    if (!CHECKF(open_side(&t, name, 1, slot) && open_side(&r, "ref", 1, slot), "open %s: %s", name, mlxn_last_error())) return;
    mlxn_graph_t *g = record(&t, 1, 0);
    if (!CHECKF(g != NULL, "record on %s: %s", name, mlxn_last_error())) return;
    static const int32_t P[4] = {5, 17, 40, 63};
    for (int i = 0; i < 4; i++) {
        mlxn_buffer_upload(t.pos, 0, &P[i], 4);
        CHECKF(mlxn_graph_replay(g) == MLXN_OK, "replay %d: %s", i, mlxn_last_error());
        mlxn_buffer_upload(r.pos, 0, &P[i], 4);
        mlxn_buffer_upload(r.slot, 0, slot, QKV * 4);   /* ref: k and v as recorded (rope_kv leaves them) */
        CHECKF(layer_ops(&r, 0, 0) == MLXN_OK, "ref: %s", mlxn_last_error());
    }
    CHECKF(mlxn_backend_sync(t.be) == MLXN_OK, "sync: %s", mlxn_last_error());
    size_t n = 2 * cache_bytes();
    uint16_t *a = malloc(n), *b = malloc(n);
    mlxn_buffer_download(t.kv, 0, a, n);
    mlxn_buffer_download(r.kv, 0, b, n);
    int bad_rows = 0, stray = 0;
    double err = 0, ref2 = 0;
    for (int c = 0; c < 2 * NKV; c++)   /* K heads, then V heads */
        for (int p = 0; p < NCTX; p++) {
            int written = p == 5 || p == 17 || p == 40 || p == 63;
            for (int i = 0; i < HD; i++) {
                size_t o = ((size_t)c * NCTX + (size_t)p) * HD + (size_t)i;
                if (!written) {
                    stray += a[o] != 0xffff;
                    continue;
                }
                float x = mlxn_fp16_to_f32(a[o]), y = mlxn_fp16_to_f32(b[o]);
                if (x != x) bad_rows++;
                err += ((double)x - y) * ((double)x - y);
                ref2 += (double)y * y;
            }
        }
    CHECKF(bad_rows == 0, "%s: %d cache values of replayed positions unwritten", name, bad_rows);
    CHECKF(stray == 0, "%s: %d cache values of other positions changed", name, stray);
    CHECKF(err <= 1e-6 * ref2, "%s: cache rows after replays differ from ref: nmse %.3g", name, err / ref2);
    printf("%s: 4 replays, cache rows nmse %.3g against ref\n", name, err / ref2);
    free(a);
    free(b);
    mlxn_graph_free(g);
    mlxn_backend_free(t.be);
    mlxn_backend_free(r.be);
}

/* Microseconds per layer of the old pair and of rope_kv: graphs of LAYERS layers replayed reps
 * times, alternating, 5 rounds; the median round of each. */
static void bench(const char *name, const float *slot) {
    side s = {0};
    if (!CHECKF(open_side(&s, name, LAYERS, slot), "open %s: %s", name, mlxn_last_error())) return;
    int32_t p0 = 11;
    mlxn_buffer_upload(s.pos, 0, &p0, 4);
    mlxn_graph_t *g[2] = {record(&s, LAYERS, 1), record(&s, LAYERS, 0)};
    if (!CHECKF(g[0] && g[1], "record: %s", mlxn_last_error())) return;
    mlxn_event_t *e0, *e1;
    mlxn_event_create(s.be, &e0);
    mlxn_event_create(s.be, &e1);
    enum { ROUNDS = 5, REPS = 200 };
    double us[2][ROUNDS];
    for (int w = 0; w < 20; w++) { mlxn_graph_replay(g[0]); mlxn_graph_replay(g[1]); }
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 2; k++) {
            mlxn_event_record(e0);
            for (int i = 0; i < REPS; i++) mlxn_graph_replay(g[k]);
            mlxn_event_record(e1);
            float ms = 0;
            mlxn_event_elapsed_ms(e0, e1, &ms);
            us[k][r] = ms * 1000.0 / REPS / LAYERS;
        }
    CHECKF(mlxn_backend_sync(s.be) == MLXN_OK, "sync: %s", mlxn_last_error());
    for (int k = 0; k < 2; k++)   /* median of the rounds */
        for (int i = 0; i < ROUNDS; i++)
            for (int j = i + 1; j < ROUNDS; j++)
                if (us[k][j] < us[k][i]) { double x = us[k][i]; us[k][i] = us[k][j]; us[k][j] = x; }
    printf("%s: per layer (graph of %d layers, %d replays x %d rounds, median): rope + kv_write %.2f us, rope_kv %.2f us (min %.2f / %.2f)\n",
           name, LAYERS, REPS, ROUNDS, us[0][ROUNDS / 2], us[1][ROUNDS / 2], us[0][0], us[1][0]);
    mlxn_event_free(e0);
    mlxn_event_free(e1);
    mlxn_graph_free(g[0]);
    mlxn_graph_free(g[1]);
    mlxn_backend_free(s.be);
}

int main(int argc, char **argv) {
    const char *name = "cpu";
    int do_bench = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--bench")) do_bench = 1;
        else {
            fprintf(stderr, "usage: test_rope_kv_graph [-b BACKEND] [--bench]\n");
            return 2;
        }
    }
    tu_rng rng;
    tu_rng_seed(&rng, 5);
    float *slot = malloc(QKV * 4);
    for (int i = 0; i < QKV; i++) slot[i] = tu_rng_normal(&rng);
    check_replays(name, slot);
    if (do_bench) bench(name, slot);
    free(slot);
    return tu_finish();
}
