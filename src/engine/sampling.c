/* Token sampling: penalties over a ring of recent tokens, greedy or top-k / top-p / min-p /
 * temperature, and a draw from a seeded xoshiro256** generator. Every buffer is sized in
 * mlxn_sampler_new, so sampling allocates nothing. */
#include "core/status.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct { float l; int32_t id; } cand;   /* a candidate: logit, token id */

struct mlxn_sampler {
    mlxn_sampler_params p;
    uint64_t seed;
    int32_t n_vocab;
    float *lg;            /* (n_vocab) logits after penalties */
    cand *c;              /* (n_vocab) scratch candidates */
    int32_t *count;       /* (n_vocab) occurrences of each token in the window */
    uint32_t *mark;       /* (n_vocab) epoch stamp: penalty already applied this call */
    uint32_t epoch;
    int32_t *ring;        /* (penalty_last_n) the window, oldest overwritten first */
    int32_t ring_n, ring_pos;
    uint64_t rng[4];      /* xoshiro256** state */
};

/* ==========================================================================
 * RNG
 * ========================================================================== */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }   /* [0, 1) */

static void rng_seed(mlxn_sampler_t *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* ==========================================================================
 * Lifecycle
 * ========================================================================== */

mlxn_sampler_params mlxn_sampler_default_params(void) {
    return (mlxn_sampler_params){
        .temperature = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f, .repeat_penalty = 1.0f,
        .frequency_penalty = 0.0f, .presence_penalty = 0.0f, .penalty_last_n = 64, .seed = MLXN_SAMPLER_SEED_RANDOM,
    };
}

mlxn_status mlxn_sampler_new(const mlxn_sampler_params *p, int32_t n_vocab, mlxn_sampler_t **out) {
    if (!out) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: out is NULL");
    *out = NULL;
    if (!p) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: params is NULL");
    if (n_vocab <= 0) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: vocabulary size %d", (int)n_vocab);
    if (isnan(p->temperature) || isnan(p->frequency_penalty) || isnan(p->presence_penalty))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: temperature or penalty is NaN");
    if (!(p->top_p >= 0 && p->top_p <= 1) && !(p->top_p > 1))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: top_p %g is not in [0, 1]", (double)p->top_p);
    if (!(p->min_p <= 1) || isnan(p->min_p))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: min_p %g is not in [0, 1]", (double)p->min_p);
    if (!(p->repeat_penalty > 0))
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: repeat_penalty %g must be > 0", (double)p->repeat_penalty);
    if (p->penalty_last_n < 0)
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: penalty_last_n %d must be >= 0", (int)p->penalty_last_n);

    mlxn_sampler_t *s = calloc(1, sizeof *s);
    if (!s) return mlxn_fail(MLXN_ERR_NO_MEMORY, "sampler: out of memory");
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->lg = malloc((size_t)n_vocab * sizeof *s->lg);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->mark = calloc((size_t)n_vocab, sizeof *s->mark);
    s->ring = malloc((size_t)(p->penalty_last_n > 0 ? p->penalty_last_n : 1) * sizeof *s->ring);
    if (!s->c || !s->lg || !s->count || !s->mark || !s->ring) {
        mlxn_sampler_free(s);
        return mlxn_fail(MLXN_ERR_NO_MEMORY, "sampler: out of memory for %d tokens", (int)n_vocab);
    }
    s->seed = p->seed;
    if (s->seed == MLXN_SAMPLER_SEED_RANDOM) {
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        s->seed = ((uint64_t)ts.tv_sec * 1000000007ull) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)s;
        if (s->seed == MLXN_SAMPLER_SEED_RANDOM) s->seed--;
    }
    rng_seed(s);
    *out = s;
    return MLXN_OK;
}

void mlxn_sampler_free(mlxn_sampler_t *s) {
    if (!s) return;
    free(s->c), free(s->lg), free(s->count), free(s->mark), free(s->ring);
    free(s);
}

uint64_t mlxn_sampler_seed(const mlxn_sampler_t *s) { return s ? s->seed : 0; }

void mlxn_sampler_reset(mlxn_sampler_t *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->ring_n; i++) s->count[s->ring[i]] = 0;
    s->ring_n = s->ring_pos = 0;
    rng_seed(s);
}

void mlxn_sampler_accept(mlxn_sampler_t *s, int32_t token) {
    if (!s || token < 0 || token >= s->n_vocab || s->p.penalty_last_n == 0) return;
    int32_t cap = s->p.penalty_last_n;
    if (s->ring_n == cap) s->count[s->ring[s->ring_pos]]--;   /* the oldest leaves the window */
    else s->ring_n++;
    s->ring[s->ring_pos] = token;
    s->count[token]++;
    s->ring_pos = (s->ring_pos + 1) % cap;
}

/* ==========================================================================
 * Sampling
 * ========================================================================== */

/* a ranks before b: higher logit, then lower id (a total order, so results never depend on
 * the selection algorithm's visiting order). */
static inline bool before(const cand *a, const cand *b) { return a->l > b->l || (a->l == b->l && a->id < b->id); }

/* Moves the k best candidates of c[0..n) into c[0..k) (unordered), by quickselect. */
static void select_top(cand *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        /* median of three as pivot */
        int32_t mid = lo + (hi - lo) / 2;
        if (before(&c[mid], &c[lo])) { cand t = c[mid]; c[mid] = c[lo]; c[lo] = t; }
        if (before(&c[hi], &c[lo])) { cand t = c[hi]; c[hi] = c[lo]; c[lo] = t; }
        if (before(&c[hi], &c[mid])) { cand t = c[hi]; c[hi] = c[mid]; c[mid] = t; }
        cand pivot = c[mid];
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (before(&c[i], &pivot)) i++;
            while (before(&pivot, &c[j])) j--;
            if (i <= j) { cand t = c[i]; c[i] = c[j]; c[j] = t; i++, j--; }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

static int cmp_cand(const void *x, const void *y) {
    const cand *a = x, *b = y;
    return before(a, b) ? -1 : before(b, a) ? 1 : 0;
}

static void apply_penalties(mlxn_sampler_t *s) {
    const mlxn_sampler_params *p = &s->p;
    if (!s->ring_n || (p->repeat_penalty == 1.0f && p->frequency_penalty == 0 && p->presence_penalty == 0)) return;
    if (++s->epoch == 0) {   /* stamps wrapped: clear them once every 2^32 calls */
        memset(s->mark, 0, (size_t)s->n_vocab * sizeof *s->mark);
        s->epoch = 1;
    }
    for (int32_t i = 0; i < s->ring_n; i++) {
        int32_t t = s->ring[i];
        if (s->mark[t] == s->epoch) continue;
        s->mark[t] = s->epoch;
        float l = s->lg[t];
        l = l > 0 ? l / p->repeat_penalty : l * p->repeat_penalty;
        l -= (float)s->count[t] * p->frequency_penalty + p->presence_penalty;
        s->lg[t] = l;
    }
}

/* The k best of lg[0..n) into c[0..k) (unordered) in one pass: a heap whose root is the
 * worst kept candidate, so most logits cost one comparison. */
static void heap_top(const float *lg, int32_t n, int32_t k, cand *c) {
    for (int32_t i = 0; i < k; i++) c[i] = (cand){lg[i], i};
    /* heapify: parent is worse than (ranks after) its children */
    for (int32_t root = k / 2 - 1; root >= 0; root--)
        for (int32_t i = root;;) {
            int32_t a = 2 * i + 1, w = i;
            if (a < k && before(&c[w], &c[a])) w = a;
            if (a + 1 < k && before(&c[w], &c[a + 1])) w = a + 1;
            if (w == i) break;
            cand t = c[i]; c[i] = c[w]; c[w] = t;
            i = w;
        }
    for (int32_t j = k; j < n; j++) {
        cand x = {lg[j], j};
        if (!before(&x, &c[0])) continue;
        c[0] = x;
        for (int32_t i = 0;;) {
            int32_t a = 2 * i + 1, w = i;
            if (a < k && before(&c[w], &c[a])) w = a;
            if (a + 1 < k && before(&c[w], &c[a + 1])) w = a + 1;
            if (w == i) break;
            cand t = c[i]; c[i] = c[w]; c[w] = t;
            i = w;
        }
    }
}

mlxn_status mlxn_sampler_sample(mlxn_sampler_t *s, const float *logits, int32_t *token) {
    if (!s || !logits || !token) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: NULL argument");
    *token = -1;
    const mlxn_sampler_params *p = &s->p;
    int32_t n = s->n_vocab;
    float *lg = s->lg;
    cand *c = s->c;
    memcpy(lg, logits, (size_t)n * sizeof *lg);
    apply_penalties(s);

    int32_t best = 0;
    bool nan = false;
    for (int32_t i = 0; i < n; i++) {
        nan |= lg[i] != lg[i];
        if (lg[i] > lg[best]) best = i;   /* strict: the lowest id wins ties */
    }
    if (nan) {
        for (int32_t i = 0; i < n; i++)
            if (isnan(logits[i])) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: logit of token %d is NaN", (int)i);
        return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: a penalty made a logit NaN");
    }
    float lmax = lg[best];
    if (lmax == -INFINITY) return mlxn_fail(MLXN_ERR_INVALID_ARG, "sampler: every logit is -inf");
    if (!(p->temperature > 0) || p->top_k == 1) {
        *token = best;
        mlxn_sampler_accept(s, *token);
        return MLXN_OK;
    }

    int32_t m = n;
    if (p->top_k > 0 && p->top_k < n) {
        m = p->top_k;
        if (m <= 1024) {
            heap_top(lg, n, m, c);
        } else {
            for (int32_t i = 0; i < n; i++) c[i] = (cand){lg[i], i};
            select_top(c, n, m);
        }
    } else {
        for (int32_t i = 0; i < n; i++) c[i] = (cand){lg[i], i};
    }
    /* top-p and min-p both see the distribution left by top-k at temperature 1 */
    double z = 0;
    for (int32_t i = 0; i < m; i++) z += exp((double)c[i].l - lmax);
    if (p->min_p > 0) {   /* p_i >= min_p * p_max  <=>  l_i >= lmax + log(min_p) */
        double thr = (double)lmax + log((double)p->min_p);
        int32_t k = 0;
        for (int32_t i = 0; i < m; i++)
            if ((double)c[i].l >= thr) c[k++] = c[i];
        m = k;   /* the best candidate always stays */
    }
    if (p->top_p < 1) {
        qsort(c, (size_t)m, sizeof *c, cmp_cand);
        double cum = 0;
        for (int32_t i = 0; i < m; i++) {
            cum += exp((double)c[i].l - lmax) / z;
            if (cum >= p->top_p) { m = i + 1; break; }
        }
    }
    /* temperature, then one draw */
    double sum = 0, inv_t = 1.0 / p->temperature;
    for (int32_t i = 0; i < m; i++) sum += exp(((double)c[i].l - lmax) * inv_t);
    double u = rng_uniform(s->rng) * sum, acc = 0;
    int32_t pick = -1;
    for (int32_t i = 0; i < m; i++) {
        double w = exp(((double)c[i].l - lmax) * inv_t);
        if (w > 0) pick = i;
        acc += w;
        if (u < acc) break;
    }
    if (pick < 0) pick = 0;
    *token = c[pick].id;
    mlxn_sampler_accept(s, *token);
    return MLXN_OK;
}
