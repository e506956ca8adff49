/* Sampling: greedy, temperature, top-k, top-p, min-p, penalties, determinism per seed,
 * frequencies against the exact distribution (chi-square), parameter and logit errors. */
#include "mlxn.h"
#include "testutil.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))
#define NV 8

static mlxn_sampler_params base(void) {
    mlxn_sampler_params p = mlxn_sampler_default_params();
    p.temperature = 1.0f, p.top_k = 0, p.top_p = 1.0f, p.min_p = 0.0f, p.seed = 42;
    return p;
}

/* The distribution the documented steps give, computed the plain way: sort everything,
 * cut by top-k, then top-p and min-p on the top-k softmax, then temperature. */
static void expected(const mlxn_sampler_params *p, const float *l, int n, double *prob) {
    int order[NV];
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = 0; i < n; i++)   /* selection sort by logit desc, id asc */
        for (int j = i + 1; j < n; j++)
            if (l[order[j]] > l[order[i]] || (l[order[j]] == l[order[i]] && order[j] < order[i])) {
                int t = order[i]; order[i] = order[j]; order[j] = t;
            }
    int keep = p->top_k > 0 && p->top_k < n ? p->top_k : n;
    double z = 0, pk[NV];
    for (int i = 0; i < keep; i++) z += exp(l[order[i]]);
    for (int i = 0; i < keep; i++) pk[i] = exp(l[order[i]]) / z;
    if (p->top_p < 1) {
        double cum = 0;
        for (int i = 0; i < keep; i++) {
            cum += pk[i];
            if (cum >= p->top_p) { keep = i + 1; break; }
        }
    }
    if (p->min_p > 0) {
        int k = 0;
        while (k < keep && pk[k] >= p->min_p * pk[0]) k++;
        keep = k;
    }
    double zt = 0;
    for (int i = 0; i < n; i++) prob[i] = 0;
    for (int i = 0; i < keep; i++) zt += exp(l[order[i]] / p->temperature);
    for (int i = 0; i < keep; i++) prob[order[i]] = exp(l[order[i]] / p->temperature) / zt;
}

static void test_distributions(void) {
    float l[NV];
    tu_rng r;
    tu_rng_seed(&r, 11);
    for (int i = 0; i < NV; i++) l[i] = 1.5f * tu_rng_normal(&r);
    static const struct { const char *name; float temp; int k; float top_p, min_p; } cases[] = {
        {"temperature 1", 1.0f, 0, 1.0f, 0.0f},
        {"temperature 0.5", 0.5f, 0, 1.0f, 0.0f},
        {"temperature 2", 2.0f, 0, 1.0f, 0.0f},
        {"top-k 3", 1.0f, 3, 1.0f, 0.0f},
        {"top-p 0.7", 1.0f, 0, 0.7f, 0.0f},
        {"min-p 0.2", 1.0f, 0, 1.0f, 0.2f},
        {"k5 p0.9 minp0.05 t0.7", 0.7f, 5, 0.9f, 0.05f},
    };
    const int N = 40000;
    for (size_t c = 0; c < N_OF(cases); c++) {
        mlxn_sampler_params p = base();
        p.temperature = cases[c].temp, p.top_k = cases[c].k, p.top_p = cases[c].top_p, p.min_p = cases[c].min_p;
        p.seed = 1000 + c;
        double prob[NV];
        expected(&p, l, NV, prob);
        mlxn_sampler_t *s = NULL;
        if (!CHECK(mlxn_sampler_new(&p, NV, &s) == MLXN_OK)) continue;
        int cnt[NV] = {0};
        bool ok = true;
        for (int i = 0; i < N && ok; i++) {
            int32_t t;
            ok = mlxn_sampler_sample(s, l, &t) == MLXN_OK && t >= 0 && t < NV;
            if (ok) cnt[t]++;
        }
        mlxn_sampler_free(s);
        if (!CHECKF(ok, "%s: sampling failed", cases[c].name)) continue;
        double chi2 = 0;
        int df = -1, outside = 0;
        for (int i = 0; i < NV; i++) {
            if (prob[i] == 0) { outside += cnt[i]; continue; }
            double e = prob[i] * N;
            chi2 += (cnt[i] - e) * (cnt[i] - e) / e;
            df++;
        }
        /* 40 is beyond the 1e-6 tail of chi-square for df <= 7 */
        CHECKF(outside == 0 && chi2 < 40, "%s: chi2 %.1f (df %d), %d draws outside the kept set", cases[c].name, chi2,
               df, outside);
    }
}

static void test_greedy_and_penalties(void) {
    mlxn_sampler_params p = base();
    p.temperature = 0;
    mlxn_sampler_t *s = NULL;
    const float tie[4] = {1.0f, 3.0f, 3.0f, -2.0f};
    int32_t t;
    if (CHECK(mlxn_sampler_new(&p, 4, &s) == MLXN_OK)) {
        CHECK(mlxn_sampler_sample(s, tie, &t) == MLXN_OK && t == 1);   /* argmax, lowest id on ties */
        mlxn_sampler_free(s);
    }
    /* top_k = 1 is greedy at any temperature */
    p = base();
    p.top_k = 1, p.temperature = 5;
    if (CHECK(mlxn_sampler_new(&p, 4, &s) == MLXN_OK)) {
        bool all = true;
        for (int i = 0; i < 100; i++) all &= mlxn_sampler_sample(s, tie, &t) == MLXN_OK && t == 1;
        CHECK(all);
        mlxn_sampler_free(s);
    }

    /* repeat penalty divides positive logits, multiplies negative ones; only inside the window */
    static const struct { float l[3]; int hist[4]; int nh; float rep, freq, pres; int last_n; int want; } cases[] = {
        {{2.0f, 1.5f, 0.0f}, {0}, 1, 2.0f, 0, 0, 64, 1},          /* 2/2 = 1 < 1.5 */
        {{2.0f, 1.5f, 0.0f}, {0}, 1, 1.2f, 0, 0, 64, 0},          /* 2/1.2 > 1.5 */
        {{-1.0f, -1.2f, -5.0f}, {0}, 1, 2.0f, 0, 0, 64, 1},       /* -1*2 = -2 < -1.2 */
        {{2.0f, 1.5f, 0.0f}, {0, 1, 1}, 3, 2.0f, 0, 0, 2, 0},     /* 0 left the 2-token window */
        {{2.0f, 1.5f, 0.0f}, {0}, 1, 2.0f, 0, 0, 0, 0},           /* window 0: no penalty */
        {{1.0f, 0.9f, 0.0f}, {0, 0}, 2, 1.0f, 0.06f, 0, 64, 1},   /* 1 - 2*0.06 = 0.88 */
        {{1.0f, 0.9f, 0.0f}, {0}, 1, 1.0f, 0.06f, 0, 64, 0},      /* 0.94 */
        {{1.0f, 0.9f, 0.0f}, {0}, 1, 1.0f, 0, 0.2f, 64, 1},       /* presence: 0.8 */
        {{1.0f, 0.9f, 0.0f}, {1, 1, 1, 1}, 4, 1.0f, 0, 0.2f, 64, 0},
    };
    for (size_t c = 0; c < N_OF(cases); c++) {
        p = base();
        p.temperature = 0, p.repeat_penalty = cases[c].rep, p.frequency_penalty = cases[c].freq;
        p.presence_penalty = cases[c].pres, p.penalty_last_n = cases[c].last_n;
        if (!CHECK(mlxn_sampler_new(&p, 3, &s) == MLXN_OK)) continue;
        for (int i = 0; i < cases[c].nh; i++) mlxn_sampler_accept(s, cases[c].hist[i]);
        CHECKF(mlxn_sampler_sample(s, cases[c].l, &t) == MLXN_OK && t == cases[c].want, "penalty case %zu: got %d",
               c, (int)t);
        mlxn_sampler_free(s);
    }
    /* the sampled token enters the history: greedy with a strong penalty alternates */
    p = base();
    p.temperature = 0, p.repeat_penalty = 10, p.penalty_last_n = 1;
    if (CHECK(mlxn_sampler_new(&p, 3, &s) == MLXN_OK)) {
        const float l[3] = {2.0f, 1.9f, 0.0f};
        int32_t seq[4];
        for (int i = 0; i < 4; i++) mlxn_sampler_sample(s, l, &seq[i]);
        CHECK(seq[0] == 0 && seq[1] == 1 && seq[2] == 0 && seq[3] == 1);
        mlxn_sampler_free(s);
    }
}

static void test_determinism(void) {
    enum { V = 300, STEPS = 500 };
    float *logits = malloc(sizeof(float) * V * STEPS);
    if (!logits) return;
    tu_rng r;
    tu_rng_seed(&r, 5);
    for (int i = 0; i < V * STEPS; i++) logits[i] = 2.0f * tu_rng_normal(&r);
    mlxn_sampler_params p = mlxn_sampler_default_params();
    p.repeat_penalty = 1.3f, p.frequency_penalty = 0.1f;
    int32_t a[STEPS], b[STEPS], c[STEPS], d[STEPS];
    int32_t *outs[] = {a, b, c, d};
    uint64_t seeds[] = {7, 7, 8, 7};
    for (int k = 0; k < 4; k++) {
        p.seed = seeds[k];
        mlxn_sampler_t *s = NULL;
        if (mlxn_sampler_new(&p, V, &s)) { free(logits); CHECK(0); return; }
        for (int i = 0; i < STEPS; i++) mlxn_sampler_sample(s, logits + (size_t)i * V, &outs[k][i]);
        if (k == 3) {   /* reset replays the same stream */
            mlxn_sampler_reset(s);
            for (int i = 0; i < STEPS; i++) mlxn_sampler_sample(s, logits + (size_t)i * V, &d[i]);
        }
        mlxn_sampler_free(s);
    }
    CHECK(!memcmp(a, b, sizeof a));
    CHECK(memcmp(a, c, sizeof a) != 0);
    CHECK(!memcmp(a, d, sizeof a));
    int distinct = 0;
    for (int i = 0; i < STEPS; i++) distinct += a[i] != a[0];
    CHECKF(distinct > STEPS / 2, "samples vary (%d of %d differ from the first)", distinct, STEPS);
    /* the clock seed is reported and is not the sentinel */
    p.seed = MLXN_SAMPLER_SEED_RANDOM;
    mlxn_sampler_t *s = NULL;
    if (CHECK(mlxn_sampler_new(&p, V, &s) == MLXN_OK)) CHECK(mlxn_sampler_seed(s) != MLXN_SAMPLER_SEED_RANDOM);
    mlxn_sampler_free(s);
    free(logits);
}

static void test_masks_and_errors(void) {
    mlxn_sampler_params p = base();
    mlxn_sampler_t *s = NULL;
    const float masked[4] = {-INFINITY, 0.0f, -INFINITY, 0.5f};
    if (CHECK(mlxn_sampler_new(&p, 4, &s) == MLXN_OK)) {
        int bad = 0;
        for (int i = 0; i < 5000; i++) {
            int32_t t;
            if (mlxn_sampler_sample(s, masked, &t) || (t != 1 && t != 3)) bad++;
        }
        CHECKF(bad == 0, "%d draws hit a -inf token", bad);
        const float nan_l[4] = {0, NAN, 0, 0}, all_inf[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
        int32_t t;
        CHECK(mlxn_sampler_sample(s, nan_l, &t) == MLXN_ERR_INVALID_ARG && strstr(mlxn_last_error(), "token 1"));
        CHECK(mlxn_sampler_sample(s, all_inf, &t) == MLXN_ERR_INVALID_ARG);
        CHECK(mlxn_sampler_sample(s, NULL, &t) == MLXN_ERR_INVALID_ARG);
        mlxn_sampler_free(s);
    }
    static const struct { float top_p, min_p, rep; int last_n, nv; } bad[] = {
        {NAN, 0, 1, 64, 10}, {-0.1f, 0, 1, 64, 10}, {1, 1.5f, 1, 64, 10}, {1, 0, 0, 64, 10}, {1, 0, 1, -1, 10},
        {1, 0, 1, 64, 0},
    };
    for (size_t i = 0; i < N_OF(bad); i++) {
        p = base();
        p.top_p = bad[i].top_p, p.min_p = bad[i].min_p, p.repeat_penalty = bad[i].rep, p.penalty_last_n = bad[i].last_n;
        CHECKF(mlxn_sampler_new(&p, bad[i].nv, &s) == MLXN_ERR_INVALID_ARG && s == NULL, "bad params %zu", i);
    }
    CHECK(mlxn_sampler_new(NULL, 10, &s) == MLXN_ERR_INVALID_ARG);
    mlxn_sampler_free(NULL);
}

static int cmp_desc(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x > y ? -1 : x < y;
}

/* top-k by heap (small k) and by quickselect (large k): every draw is among the k best, and
 * with many draws at high temperature nearly all k appear. */
static void test_top_k_paths(void) {
    enum { V = 5000 };
    static float l[V], sorted[V];
    static int seen[V];
    tu_rng r;
    tu_rng_seed(&r, 9);
    for (int i = 0; i < V; i++) l[i] = 0.01f * tu_rng_normal(&r);   /* nearly flat */
    memcpy(sorted, l, sizeof l);
    qsort(sorted, V, sizeof *sorted, cmp_desc);
    static const int ks[] = {50, 2000};
    for (size_t c = 0; c < N_OF(ks); c++) {
        int k = ks[c];
        float thr = sorted[k - 1];
        mlxn_sampler_params p = base();
        p.top_k = k, p.seed = 77;
        mlxn_sampler_t *s = NULL;
        if (!CHECK(mlxn_sampler_new(&p, V, &s) == MLXN_OK)) continue;
        memset(seen, 0, sizeof seen);
        int outside = 0, distinct = 0;
        for (int i = 0; i < 40 * k; i++) {
            int32_t t;
            if (mlxn_sampler_sample(s, l, &t) || l[t] < thr) outside++;
            else if (!seen[t]++) distinct++;
        }
        mlxn_sampler_free(s);
        CHECKF(outside == 0 && distinct > k * 95 / 100, "top-k %d: %d outside, %d distinct", k, outside, distinct);
    }
}

static void test_speed(void) {
    enum { V = 151936 };
    float *l = malloc(sizeof(float) * V);
    if (!l) return;
    tu_rng r;
    tu_rng_seed(&r, 3);
    for (int i = 0; i < V; i++) l[i] = 3.0f * tu_rng_normal(&r);
    mlxn_sampler_params p = mlxn_sampler_default_params();
    p.seed = 1, p.repeat_penalty = 1.1f;
    mlxn_sampler_t *s = NULL;
    if (CHECK(mlxn_sampler_new(&p, V, &s) == MLXN_OK)) {
        clock_t t0 = clock();
        int32_t t;
        for (int i = 0; i < 200; i++) mlxn_sampler_sample(s, l, &t);
        double ms = 1e3 * (double)(clock() - t0) / CLOCKS_PER_SEC / 200;
        printf("  sampling %d logits (default params): %.3f ms per token\n", V, ms);
        CHECKF(ms < 10, "%.3f ms per token", ms);
        mlxn_sampler_free(s);
    }
    free(l);
}

int main(void) {
    test_distributions();
    test_greedy_and_penalties();
    test_determinism();
    test_masks_and_errors();
    test_top_k_paths();
    test_speed();
    return tu_finish();
}
