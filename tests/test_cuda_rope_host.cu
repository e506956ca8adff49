/* The rope / rope_kv kernel's per-thread items (src/backend/cuda/rope.cuh) run on the host, every
 * item of a launch, and the results are checked against the ref backend (double angles): q_out,
 * the rotated k rows and the v rows in the caches (f32, f16, bf16), nothing else of the poisoned
 * caches touched, a position outside the cache flagged and its rows left alone; both angle paths
 * (fixed-point turns, the default, and f64), with and without freq factors, at positions up to
 * 1e6. Host sine/cosine stand in for sincospif (both within an ulp or two of f32). Built and run
 * where nvcc is available; needs no GPU. */
#include "backend/cuda/rope.cuh"
#include <stdio.h>
#include <stdlib.h>
#include <vector>
extern "C" {
#include "testutil.h"
#include "core/half.h"
}

struct Case {
    int64_t hd, n_rot, nh, nkv, hd_v, nt, n_ctx;
    int mode, ff, ct, f64, bad_pos, big_pos;
};

static float load_c(int ct, const std::vector<uint8_t> &b, size_t i) {
    if (ct == MLXN_TYPE_F32) { float v; memcpy(&v, &b[4 * i], 4); return v; }
    uint16_t h; memcpy(&h, &b[2 * i], 2);
    return ct == MLXN_TYPE_F16 ? mlxn_fp16_to_f32(h) : mlxn_bf16_to_f32(h);
}

template <int N, bool F64> static void run_items(const rk::Args &a) {
    rk::Turns<N> tab;
    rk::turns_host(&tab, a.n_rot, a.base, a.fscale, a.ff != NULL);
    const int64_t n = rk::per_tok(a) * a.nt;
    for (int64_t i = n - 1; i >= 0; i--) rk::item<N, F64>(a, tab, i);   /* any order: items are independent */
}
/* The launcher's choice of table (elementwise.cu, rope_kv_go). */
static void run_kernel(const rk::Args &a, bool f64) {
    int half = a.n_rot / 2;
    if (f64) run_items<1, true>(a);
    else if (half <= 32) run_items<32, false>(a);
    else if (half <= 64) run_items<64, false>(a);
    else if (half <= 128) run_items<128, false>(a);
    else if (half <= 256) run_items<256, false>(a);
    else run_items<0, false>(a);
}

static mlxn_buffer_t *up(mlxn_backend_t *be, const void *p, size_t n) {
    mlxn_buffer_t *b;
    if (mlxn_buffer_alloc(be, n, &b) != MLXN_OK || mlxn_buffer_upload(b, 0, p, n) != MLXN_OK) {
        fprintf(stderr, "ref buffer: %s\n", mlxn_last_error());
        exit(2);
    }
    return b;
}

static void check_case(mlxn_backend_t *ref, const Case &c, tu_rng *rng) {
    char name[200];
    snprintf(name, sizeof name, "hd=%lld n_rot=%lld heads %lld/%lld hd_v=%lld n=%lld n_ctx=%lld %s%s %s %s%s%s",
             (long long)c.hd, (long long)c.n_rot, (long long)c.nh, (long long)c.nkv, (long long)c.hd_v, (long long)c.nt,
             (long long)c.n_ctx, c.mode ? "neox" : "norm", c.ff ? " ff" : "", mlxn_type_name((mlxn_type)c.ct), c.f64 ? "f64" : "turns",
             c.bad_pos ? " bad pos" : "", c.big_pos ? " big pos" : "");
    const bool rope_only = c.nkv == 0;
    const int64_t Q = c.nh * c.hd, K = c.nkv * c.hd, V = c.nkv * c.hd_v, col = Q + K + V + 3;   /* padded column */
    std::vector<float> slot((size_t)(col * c.nt)), out;
    for (auto &v : slot) v = tu_rng_normal(rng);
    std::vector<int32_t> pos((size_t)c.nt);
    for (int64_t t = 0; t < c.nt; t++) pos[t] = c.big_pos ? (int32_t)(t % 2 ? 131071 - 5 * t : 1000003 * (t + 1)) : (int32_t)(c.n_ctx - 1 - 3 * t);
    if (c.bad_pos) pos[c.nt / 2] = (int32_t)c.n_ctx;
    std::vector<float> ff((size_t)(c.n_rot / 2));
    for (size_t j = 0; j < ff.size(); j++) ff[j] = 1.0f + 7.0f * (float)j / (float)ff.size();
    const size_t es = mlxn_row_size((mlxn_type)c.ct, 1), kpos = (size_t)c.hd + 2, vpos = (size_t)c.hd_v;   /* k cache rows padded */
    const size_t kbytes = rope_only ? 0 : kpos * (size_t)c.n_ctx * (size_t)c.nkv * es, vbytes = vpos * (size_t)c.n_ctx * (size_t)c.nkv * es;
    std::vector<uint8_t> kc(kbytes, 0xff), vc(rope_only ? 0 : vbytes, 0xff);
    int err = 0;
    /* q rotated in place in the slot; rope alone writes to a separate output */
    std::vector<float> qo(rope_only ? (size_t)(Q * c.nt) : 0, NAN);

    rk::Args a;
    memset(&a, 0, sizeof a);
    std::vector<float> s2 = slot;
    a.q = s2.data(); a.q_head = c.hd; a.q_tok = col;
    if (rope_only) { a.qo = qo.data(); a.qo_head = c.hd; a.qo_tok = Q; }
    else { a.qo = s2.data(); a.qo_head = c.hd; a.qo_tok = col; }
    a.k = s2.data() + Q; a.k_head = c.hd; a.k_tok = col;
    a.v = s2.data() + Q + K; a.v_head = c.hd_v; a.v_tok = col;
    a.kc = kc.data(); a.kc_pos = (int64_t)kpos; a.kc_head = (int64_t)(kpos * c.n_ctx);
    a.vc = vc.data(); a.vc_pos = (int64_t)vpos; a.vc_head = (int64_t)(vpos * c.n_ctx);
    a.pos = pos.data(); a.ff = c.ff ? ff.data() : NULL; a.err = &err;
    a.ct = c.ct; a.mode = c.mode; a.n_rot = (int)c.n_rot; a.base = c.ff ? 500000.0f : 10000.0f; a.fscale = c.ff ? 1.0f : 0.5f;
    a.hd = c.hd; a.hd_v = c.hd_v; a.nh = c.nh; a.nkv = c.nkv; a.nt = c.nt; a.n_ctx = c.n_ctx;
    run_kernel(a, c.f64 != 0);

    if (c.bad_pos) {   /* flagged; that token's rows untouched (every byte still 0xff is checked below) */
        CHECKF(err == 4, "%s: error flag %d, want 4", name, err);
    } else {
        CHECKF(err == 0, "%s: error flag %d", name, err);
    }
    /* the ref backend on the same inputs */
    mlxn_buffer_t *bs = up(ref, slot.data(), slot.size() * 4), *bp = up(ref, pos.data(), pos.size() * 4);
    mlxn_buffer_t *bf = up(ref, ff.data(), ff.size() * 4);
    std::vector<uint8_t> kc0(kbytes, 0xff), vc0(vc.size(), 0xff);
    mlxn_tensor tq = tu_view3(bs, 0, MLXN_TYPE_F32, c.hd, c.nh, c.nt, (size_t)c.hd * 4, (size_t)col * 4);
    mlxn_tensor tpos = tu_view3(bp, 0, MLXN_TYPE_I32, c.nt, 1, 1, (size_t)c.nt * 4, (size_t)c.nt * 4);
    tpos.d.n_dims = 1;
    mlxn_tensor tff = tu_view3(bf, 0, MLXN_TYPE_F32, c.n_rot / 2, 1, 1, (size_t)c.n_rot * 2, (size_t)c.n_rot * 2);
    tff.d.n_dims = 1;
    mlxn_rope_params rp = {c.mode ? MLXN_ROPE_NEOX : MLXN_ROPE_NORM, (int)c.n_rot, a.base, a.fscale};
    std::vector<float> slot_ref(slot.size());
    std::vector<uint8_t> kref(kbytes), vref(vc.size());
    if (rope_only) {
        mlxn_buffer_t *bo = up(ref, qo.data(), qo.size() * 4);
        mlxn_tensor to = tu_view3(bo, 0, MLXN_TYPE_F32, c.hd, c.nh, c.nt, (size_t)c.hd * 4, (size_t)Q * 4);
        CHECKF(mlxn_op_rope(ref, &tq, &tpos, c.ff ? &tff : NULL, &rp, &to) == MLXN_OK, "%s: ref rope: %s", name, mlxn_last_error());
        std::vector<float> qref(qo.size());
        mlxn_buffer_download(bo, 0, qref.data(), qref.size() * 4);
        double e = 0, r2 = 0;
        for (size_t i = 0; i < qo.size(); i++) { e += ((double)qo[i] - qref[i]) * ((double)qo[i] - qref[i]); r2 += (double)qref[i] * qref[i]; }
        CHECKF(e / r2 < 1e-12, "%s: q_out nmse %.3g", name, e / r2);
        mlxn_buffer_free(bo);
    } else {
        mlxn_buffer_t *bk = up(ref, kc0.data(), kbytes), *bv = up(ref, vc0.data(), vc0.size());
        mlxn_tensor tk = tu_view3(bs, (size_t)Q * 4, MLXN_TYPE_F32, c.hd, c.nkv, c.nt, (size_t)c.hd * 4, (size_t)col * 4);
        mlxn_tensor tv = tu_view3(bs, (size_t)(Q + K) * 4, MLXN_TYPE_F32, c.hd_v, c.nkv, c.nt, (size_t)c.hd_v * 4, (size_t)col * 4);
        mlxn_tensor tkc = tu_view3(bk, 0, (mlxn_type)c.ct, c.hd, c.n_ctx, c.nkv, kpos * es, kpos * es * (size_t)c.n_ctx);
        mlxn_tensor tvc = tu_view3(bv, 0, (mlxn_type)c.ct, c.hd_v, c.n_ctx, c.nkv, vpos * es, vpos * es * (size_t)c.n_ctx);
        mlxn_status st = mlxn_op_rope_kv(ref, &tq, &tk, &tv, &tpos, c.ff ? &tff : NULL, &rp, &tq, &tkc, &tvc);
        if (c.bad_pos) {
            CHECKF(st != MLXN_OK, "%s: ref accepted the bad position", name);
        } else {
            CHECKF(st == MLXN_OK, "%s: ref rope_kv: %s", name, mlxn_last_error());
        }
        mlxn_buffer_download(bs, 0, slot_ref.data(), slot_ref.size() * 4);
        mlxn_buffer_download(bk, 0, kref.data(), kbytes);
        mlxn_buffer_download(bv, 0, vref.data(), vref.size());
        mlxn_buffer_free(bk);
        mlxn_buffer_free(bv);
        /* the slot: q rotated, k and v (and the padding) as they were */
        double e = 0, r2 = 0;
        int k_changed = 0;
        for (int64_t t = 0; t < c.nt; t++)
            for (int64_t i = 0; i < col; i++) {
                double g = s2[(size_t)(t * col + i)], w = c.bad_pos ? slot[(size_t)(t * col + i)] : slot_ref[(size_t)(t * col + i)];
                if (i < Q) {
                    if (c.bad_pos) continue;   /* ref refused the whole call */
                    e += (g - w) * (g - w);
                    r2 += w * w;
                } else k_changed += g != slot[(size_t)(t * col + i)];
            }
        if (!c.bad_pos) CHECKF(e / r2 < 1e-12, "%s: q nmse %.3g", name, e / r2);
        CHECKF(k_changed == 0, "%s: %d values of k, v or padding in the slot changed", name, k_changed);
        /* caches: rows of good positions match ref; every other byte untouched */
        for (int which = 0; which < 2; which++) {
            std::vector<uint8_t> &got = which ? vc : kc, &want = which ? vref : kref;
            const size_t rowlen = which ? (size_t)c.hd_v : (size_t)c.hd, rp_ = which ? vpos : kpos;
            std::vector<uint8_t> mine(got.size(), 0);
            double ce = 0, cr = 0;
            for (int64_t t = 0; t < c.nt; t++) {
                if (pos[t] < 0 || pos[t] >= c.n_ctx) continue;
                for (int64_t h = 0; h < c.nkv; h++) {
                    size_t base = ((size_t)h * (size_t)c.n_ctx + (size_t)pos[t]) * rp_;
                    memset(&mine[base * es], 1, rowlen * es);
                    if (c.bad_pos) continue;
                    for (size_t i = 0; i < rowlen; i++) {
                        double g = load_c(c.ct, got, base + i), w = load_c(c.ct, want, base + i);
                        ce += (g - w) * (g - w);
                        cr += w * w;
                    }
                }
            }
            double bound = which ? 0.0 : c.ct == MLXN_TYPE_F32 ? 1e-12 : 1e-6;
            if (!c.bad_pos) CHECKF(ce <= bound * cr, "%s: %s cache nmse %.3g", name, which ? "v" : "k", ce / cr);
            int stray = 0, unwritten = 0;
            for (size_t i = 0; i < got.size(); i++) {
                if (!mine[i]) stray += got[i] != 0xff;
                else if (i % es == 0) {   /* a written element: not all of its bytes still 0xff */
                    bool all = true;
                    for (size_t b = 0; b < es; b++) all = all && got[i + b] == 0xff;
                    unwritten += all;
                }
            }
            CHECKF(stray == 0, "%s: %d bytes of the %s cache outside the written rows changed", name, stray, which ? "v" : "k");
            CHECKF(unwritten == 0, "%s: %d elements of the %s cache left unwritten", name, unwritten, which ? "v" : "k");
        }
    }
    mlxn_buffer_free(bs);
    mlxn_buffer_free(bp);
    mlxn_buffer_free(bf);
}

int main(void) {
    mlxn_backend_t *ref;
    if (mlxn_backend_open("ref", &ref) != MLXN_OK) {
        fprintf(stderr, "ref: %s\n", mlxn_last_error());
        return 2;
    }
    tu_rng rng;
    tu_rng_seed(&rng, 77);
    static const int64_t shapes[][5] = {{64, 64, 9, 3, 64}, {128, 128, 8, 2, 128}, {80, 32, 4, 4, 64}, {128, 64, 6, 2, 128}, {640, 576, 2, 1, 64}};
    static const int cts[3] = {MLXN_TYPE_F32, MLXN_TYPE_F16, MLXN_TYPE_BF16};
    int n = 0;
    for (int s = 0; s < 5; s++)
        for (int v = 0; v < 8; v++) {
            const int64_t *sh = shapes[s];
            Case c = {sh[0], sh[1], sh[2], sh[3], sh[4], v & 4 ? 7 : 1, 0, v & 1, (v >> 1) & 1, cts[(s + v) % 3], 0, 0, 0};
            c.n_ctx = 3 * c.nt + 4;
            check_case(ref, c, &rng);
            n++;
        }
    for (int f = 0; f < 2; f++)
        for (int m = 0; m < 2; m++) {   /* the first version's f64 angles; rope alone (no k, v) */
            Case c = {64, 64, 9, 3, 64, 7, 25, m, f, MLXN_TYPE_F16, 1, 0, 0};
            check_case(ref, c, &rng);
            Case r = {128, 96, 5, 0, 128, 7, 25, m, f, MLXN_TYPE_F32, f, 0, 1};   /* big positions */
            check_case(ref, r, &rng);
            n += 2;
        }
    Case bad = {64, 64, 4, 2, 64, 5, 16, 0, 1, MLXN_TYPE_BF16, 0, 1, 0};
    check_case(ref, bad, &rng);
    Case big = {64, 64, 2, 1, 64, 3, 1 << 17, 1, 1, MLXN_TYPE_F16, 0, 0, 0};   /* positions near 128k in a 128k cache */
    check_case(ref, big, &rng);
    printf("%d cases\n", n + 2);
    mlxn_backend_free(ref);
    return tu_finish();
}
