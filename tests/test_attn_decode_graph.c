/* The decode step's rope_kv -> attention pair inside a recorded graph, replayed token after token
 * as the engine does: attention runs with MLXN_ATTN_HISTORY_READY, which lets a backend read the
 * cache rows before q_pos before the previous op (rope_kv, which writes the row q_pos) has ended.
 * Every replay's outputs are compared with the reference backend's direct calls on the same
 * inputs; the cache starts poisoned (NaN), so an early read of the row q_pos shows as NaN or a
 * wrong value. Two shapes (SmolLM2's head 64, 9/3 heads; the 8B's head 128, 32/8 heads), three
 * layers each (the last with a sliding window of 7), f16 caches, positions 0..NPOS-1, with the
 * flag and without it (the same graph shape, recorded twice).
 *
 *   test_attn_decode_graph [-b BACKEND] */
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NCTX = 96, NPOS = 40, LAYERS = 3, WIN = 7 };

typedef struct shape { int hd, nh, nkv; } shape;

typedef struct side {
    mlxn_backend_t *be;
    mlxn_buffer_t *slot, *pos, *kv, *out;   /* per layer: slot f32 {QKV}; K, V f16 {hd, NCTX, nkv}; out f32 {hd nh} */
} side;

static size_t qkv_n(const shape *s) { return (size_t)(s->nh + 2 * s->nkv) * s->hd; }
static size_t cache_bytes(const shape *s) { return (size_t)s->hd * NCTX * s->nkv * 2; }

static int open_side(side *d, const char *name, const shape *s) {
    if (mlxn_backend_open(name, &d->be) != MLXN_OK) return 0;
    size_t kvb = 2 * cache_bytes(s) * LAYERS;
    if (mlxn_buffer_alloc(d->be, qkv_n(s) * 4 * LAYERS, &d->slot) || mlxn_buffer_alloc(d->be, 4, &d->pos) ||
        mlxn_buffer_alloc(d->be, kvb, &d->kv) || mlxn_buffer_alloc(d->be, (size_t)s->hd * s->nh * 4 * LAYERS, &d->out))
        return 0;
    return mlxn_buffer_fill(d->kv, 0, 0xff, kvb) == MLXN_OK &&   /* poisoned: NaN */
           mlxn_buffer_fill(d->out, 0, 0xff, (size_t)s->hd * s->nh * 4 * LAYERS) == MLXN_OK;
}

static void close_side(side *d) {
    mlxn_buffer_free(d->slot);
    mlxn_buffer_free(d->pos);
    mlxn_buffer_free(d->kv);
    mlxn_buffer_free(d->out);
    mlxn_backend_free(d->be);
}

static const mlxn_rope_params RP = {MLXN_ROPE_NEOX, 0, 10000.0f, 1.0f};

/* One step: per layer rope_kv (q in place, k|v rows at pos into the caches), then attention. */
static mlxn_status step_ops(side *d, const shape *s, uint32_t flags) {
    const int hd = s->hd, nh = s->nh, nkv = s->nkv;
    const size_t Q = (size_t)qkv_n(s) * 4;
    mlxn_tensor pos = tu_view3(d->pos, 0, MLXN_TYPE_I32, 1, 1, 1, 4, 4);
    pos.d.n_dims = 1;
    mlxn_rope_params rp = RP;
    rp.n_rot = hd;
    for (int l = 0; l < LAYERS; l++) {
        size_t so = Q * l, ko = 2 * cache_bytes(s) * (size_t)l;
        mlxn_tensor q = tu_view3(d->slot, so, MLXN_TYPE_F32, hd, nh, 1, (size_t)hd * 4, Q);
        mlxn_tensor k = tu_view3(d->slot, so + (size_t)nh * hd * 4, MLXN_TYPE_F32, hd, nkv, 1, (size_t)hd * 4, Q);
        mlxn_tensor v = tu_view3(d->slot, so + (size_t)(nh + nkv) * hd * 4, MLXN_TYPE_F32, hd, nkv, 1, (size_t)hd * 4, Q);
        mlxn_tensor kc = tu_view3(d->kv, ko, MLXN_TYPE_F16, hd, NCTX, nkv, (size_t)hd * 2, (size_t)hd * 2 * NCTX);
        mlxn_tensor vc = tu_view3(d->kv, ko + cache_bytes(s), MLXN_TYPE_F16, hd, NCTX, nkv, (size_t)hd * 2, (size_t)hd * 2 * NCTX);
        mlxn_tensor o = tu_view3(d->out, (size_t)hd * nh * 4 * l, MLXN_TYPE_F32, hd, nh, 1, (size_t)hd * 4, (size_t)hd * nh * 4);
        mlxn_status st = mlxn_op_rope_kv(d->be, &q, &k, &v, &pos, NULL, &rp, &q, &kc, &vc);
        if (st != MLXN_OK) return st;
        mlxn_attn_params ap = {1.0f / sqrtf((float)hd), 0.0f, l == LAYERS - 1 ? WIN : 0, flags};
        st = mlxn_op_attention(d->be, &q, &kc, &vc, &pos, &ap, &o);
        if (st != MLXN_OK) return st;
    }
    return MLXN_OK;
}

static void run_shape(const char *name, const shape *s, uint32_t flags, uint64_t seed) {
    _Static_assert(NPOS < NCTX, "the warm-up row must stay unread");
    side t = {0}, r = {0};
    if (!CHECKF(open_side(&t, name, s) && open_side(&r, "ref", s), "open %s: %s", name, mlxn_last_error())) return;
    /* one direct step first (backends size their scratch on first use, not while capturing), at
     * the last row, which no replay reads (NPOS < NCTX) */
    mlxn_graph_t *g = NULL;
    const int32_t warm = NCTX - 1;
    mlxn_buffer_upload(t.pos, 0, &warm, 4);
    mlxn_status st = step_ops(&t, s, flags);
    if (st == MLXN_OK) st = mlxn_backend_sync(t.be);
    if (st == MLXN_OK) st = mlxn_graph_begin(t.be);
    if (st == MLXN_OK) {
        st = step_ops(&t, s, flags);
        mlxn_status st2 = mlxn_graph_end(t.be, &g);
        if (st == MLXN_OK) st = st2;
    }
    if (!CHECKF(st == MLXN_OK && g, "%s: record: %s", name, mlxn_last_error())) {
        mlxn_graph_free(g);
        close_side(&t);
        close_side(&r);
        return;
    }
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    const size_t nq = qkv_n(s) * LAYERS, no = (size_t)s->hd * s->nh * LAYERS;
    float *slot = malloc(nq * 4), *a = malloc(no * 4), *b = malloc(no * 4);
    double worst = 0;
    int nan = 0, bad = 0;
    for (int32_t p = 0; p < NPOS; p++) {
        for (size_t i = 0; i < nq; i++) slot[i] = tu_rng_normal(&rng);
        mlxn_buffer_upload(t.slot, 0, slot, nq * 4);
        mlxn_buffer_upload(t.pos, 0, &p, 4);
        CHECKF(mlxn_graph_replay(g) == MLXN_OK, "%s: replay at %d: %s", name, p, mlxn_last_error());
        mlxn_buffer_upload(r.slot, 0, slot, nq * 4);
        mlxn_buffer_upload(r.pos, 0, &p, 4);
        CHECKF(step_ops(&r, s, 0) == MLXN_OK, "ref: %s", mlxn_last_error());
        CHECKF(mlxn_buffer_download(t.out, 0, a, no * 4) == MLXN_OK, "%s: download: %s", name, mlxn_last_error());
        mlxn_buffer_download(r.out, 0, b, no * 4);
        for (int l = 0; l < LAYERS; l++) {
            double err = 0, ref2 = 0;
            for (size_t i = (size_t)l * no / LAYERS; i < (size_t)(l + 1) * no / LAYERS; i++) {
                if (a[i] != a[i]) nan++;
                err += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
                ref2 += (double)b[i] * b[i];
            }
            double e = ref2 > 0 ? err / ref2 : err;
            if (!(e <= 1e-5)) bad++;
            if (e > worst || e != e) worst = e;
        }
    }
    CHECKF(nan == 0, "%s hd %d flags %u: %d NaN outputs (a cache row read before it was written?)", name, s->hd, flags, nan);
    CHECKF(bad == 0, "%s hd %d flags %u: %d of %d layer outputs beyond nmse 1e-5 (worst %.3g)", name, s->hd, flags, bad,
           NPOS * LAYERS, worst);
    printf("%s hd %d %d/%d heads flags %u: %d replays x %d layers, worst nmse %.3g against ref\n", name, s->hd, s->nh,
           s->nkv, flags, NPOS, LAYERS, worst);
    free(slot);
    free(a);
    free(b);
    mlxn_graph_free(g);
    close_side(&t);
    close_side(&r);
}

int main(int argc, char **argv) {
    const char *name = "cpu";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-b") && i + 1 < argc) name = argv[++i];
        else {
            fprintf(stderr, "usage: test_attn_decode_graph [-b BACKEND]\n");
            return 2;
        }
    }
    static const shape S[2] = {{64, 9, 3}, {128, 32, 8}};
    for (int i = 0; i < 2; i++) {
        run_shape(name, &S[i], MLXN_ATTN_HISTORY_READY, 11 + i);
        run_shape(name, &S[i], 0, 21 + i);
    }
    return tu_finish();
}
