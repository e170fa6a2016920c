/*
 * bulkhead.c — the per-warehouse token bucket, concurrency limit and
 * circuit breaker.
 *
 * Pure functions of the state and the time passed in: no clock, no
 * allocation, no logging. The caller serialises calls on one object.
 */
#include "bulkhead.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Token bucket                                                              */

/* Refill in several steps can land a hair under a whole token after waiting
 * exactly the time we asked for; that counts as whole. */
#define TOKEN_SLACK 1e-12

static int whole(double tokens)
{
    return tokens >= 1 - TOKEN_SLACK;
}

/* Written as !(x > 0) so that NaN also reads as "unlimited". */
static int unlimited(const struct ob_token_bucket *tb)
{
    return !(tb->rate > 0);
}

static double capacity(const struct ob_token_bucket *tb)
{
    return tb->burst >= 1 ? tb->burst : 1;
}

/* ceil(us), at least 1, saturated: a tiny rate must not overflow the
 * conversion. Done by hand so that ob-core needs no libm. */
static uint64_t ceil_us(double us)
{
    if (!(us < 18446744073709551616.0)) /* 2^64; also NaN */
        return UINT64_MAX;
    if (!(us > 1))
        return 1;
    uint64_t u = (uint64_t)us;
    return (double)u < us ? u + 1 : u;
}

void ob_bucket_init(struct ob_token_bucket *tb, double rate_per_s, double burst, uint64_t now_us)
{
    tb->rate = rate_per_s;
    tb->burst = burst >= 1 ? burst : 1;
    tb->tokens = tb->burst;
    tb->last_us = now_us;
}

int ob_bucket_take(struct ob_token_bucket *tb, uint64_t now_us, uint64_t *wait_us)
{
    double cap = capacity(tb);

    *wait_us = 0;
    if (unlimited(tb))
        return 1;
    /* A time before last_us adds nothing and leaves last_us alone, so that
     * the interval is not counted twice once time is past last_us again. */
    if (now_us > tb->last_us) {
        double t = tb->tokens + (double)(now_us - tb->last_us) / 1e6 * tb->rate;
        tb->tokens = t < cap ? t : cap;
        tb->last_us = now_us;
    }
    if (tb->tokens > cap) /* burst lowered by hand since the last call */
        tb->tokens = cap;
    if (!(tb->tokens >= 0)) /* never negative; NaN from a bad struct resets */
        tb->tokens = 0;

    if (whole(tb->tokens)) {
        tb->tokens = tb->tokens >= 1 ? tb->tokens - 1 : 0;
        return 1;
    }
    /* The least wait whose refill, computed as above, makes a whole token:
     * the division may round either way by a microsecond. */
    uint64_t w = ceil_us((1 - tb->tokens) / tb->rate * 1e6);
    if (w < UINT64_MAX) {
        if (!whole(tb->tokens + (double)w / 1e6 * tb->rate))
            w++;
        else if (w > 1 && whole(tb->tokens + (double)(w - 1) / 1e6 * tb->rate))
            w--;
    }
    *wait_us = w;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Circuit breaker                                                           */

#define N_BUCKETS 10

static uint64_t bucket_width(const struct ob_breaker *br)
{
    return br->conf.window_ms / N_BUCKETS; /* window_ms >= 10 after init */
}

static void window_clear(struct ob_breaker *br)
{
    memset(br->bucket_start_ms, 0, sizeof br->bucket_start_ms);
    memset(br->bucket_total, 0, sizeof br->bucket_total);
    memset(br->bucket_failed, 0, sizeof br->bucket_failed);
}

/* Count one outcome in the bucket of now_ms. */
static void window_add(struct ob_breaker *br, uint64_t now_ms, int failure)
{
    uint64_t w = bucket_width(br);
    uint64_t start = now_ms / w * w;
    size_t i = (size_t)(now_ms / w % N_BUCKETS);

    if (br->bucket_start_ms[i] > start)
        return; /* a record so late that its slot already holds a newer bucket */
    if (br->bucket_start_ms[i] < start) {
        br->bucket_start_ms[i] = start;
        br->bucket_total[i] = 0;
        br->bucket_failed[i] = 0;
    }
    if (br->bucket_total[i] < UINT32_MAX) {
        br->bucket_total[i]++;
        if (failure)
            br->bucket_failed[i]++;
    }
}

/* Outcomes in the window ending at now_ms. Buckets stamped after now_ms (a
 * record with an older time than the last one) are recent, so they count. */
static void window_sum(const struct ob_breaker *br, uint64_t now_ms, uint64_t *total,
                       uint64_t *failed)
{
    uint64_t span = bucket_width(br) * N_BUCKETS;

    *total = *failed = 0;
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (br->bucket_start_ms[i] + span > now_ms) {
            *total += br->bucket_total[i];
            *failed += br->bucket_failed[i];
        }
    }
}

static void trip(struct ob_breaker *br, uint64_t now_ms)
{
    br->state = OB_BREAKER_OPEN;
    br->opened_at_ms = now_ms;
    br->opened_count++;
    br->consecutive = 0;
    br->probes_started = br->probes_ok = br->probes_failed = 0;
    window_clear(br);
}

static int should_trip(const struct ob_breaker *br, uint64_t now_ms)
{
    const struct ob_breaker_conf *c = &br->conf;

    if (c->consecutive_failures > 0 && br->consecutive >= c->consecutive_failures)
        return 1;
    if (c->error_rate > 0) {
        uint64_t total, failed;
        window_sum(br, now_ms, &total, &failed);
        if (total >= (uint64_t)c->min_requests && (double)failed >= c->error_rate * (double)total)
            return 1;
    }
    return 0;
}

void ob_breaker_init(struct ob_breaker *br, const struct ob_breaker_conf *conf)
{
    memset(br, 0, sizeof *br);
    br->conf = *conf;
    br->state = OB_BREAKER_CLOSED;
    /* The floors the semantics promise, applied once here. */
    if (br->conf.window_ms < N_BUCKETS)
        br->conf.window_ms = N_BUCKETS;
    if (br->conf.min_requests < 1)
        br->conf.min_requests = 1;
    if (br->conf.half_open_probes < 1)
        br->conf.half_open_probes = 1;
    if (!(br->conf.probe_success_rate > 0 && br->conf.probe_success_rate <= 1))
        br->conf.probe_success_rate = 1;
}

/* Probe successes that close it: probe_success_rate of the probes, at least one. */
static int probes_needed(const struct ob_breaker *br)
{
    double n = br->conf.probe_success_rate * br->conf.half_open_probes;
    int need = (int)n;

    if ((double)need < n)
        need++;
    return need < 1 ? 1 : need;
}

int ob_breaker_allow(struct ob_breaker *br, uint64_t now_ms, uint64_t *wait_ms)
{
    *wait_ms = 0;
    if (br->state == OB_BREAKER_OPEN) {
        uint64_t until = br->opened_at_ms + br->conf.open_ms;
        if (until < br->opened_at_ms)
            until = UINT64_MAX;
        if (now_ms < until) {
            *wait_ms = until - now_ms;
            return 0;
        }
        br->state = OB_BREAKER_HALF_OPEN;
        br->probes_started = br->probes_ok = br->probes_failed = 0;
    }
    if (br->state == OB_BREAKER_HALF_OPEN) {
        if (br->probes_started < br->conf.half_open_probes) {
            br->probes_started++;
            return 1;
        }
        /* Every probe is out: ask again soon, when their outcomes may be in. */
        uint64_t w = br->conf.open_ms / 10;
        *wait_ms = w > 100 ? 100 : w < 1 ? 1 : w;
        return 0;
    }
    return 1;
}

enum ob_breaker_state ob_breaker_record(struct ob_breaker *br, uint64_t now_ms,
                                        enum ob_breaker_outcome outcome)
{
    int failure = outcome != OB_BREAKER_SUCCESS;

    switch (br->state) {
    case OB_BREAKER_CLOSED:
        if (outcome == OB_BREAKER_FIRST_FAILURE)
            break;
        br->consecutive = failure ? br->consecutive + 1 : 0;
        window_add(br, now_ms, failure);
        if (should_trip(br, now_ms))
            trip(br, now_ms);
        break;
    case OB_BREAKER_OPEN:
        /* A request started before it opened: it can neither close it nor
         * keep it open longer. */
        break;
    case OB_BREAKER_HALF_OPEN:
        /* Only outcomes a probe could have produced count, so a straggler
         * from before it opened can neither close nor reopen it. */
        if (br->probes_ok + br->probes_failed >= br->probes_started)
            break;
        if (failure) {
            if (++br->probes_failed > br->conf.half_open_probes - probes_needed(br))
                trip(br, now_ms);
        } else if (++br->probes_ok >= probes_needed(br)) {
            br->state = OB_BREAKER_CLOSED;
            br->consecutive = 0;
            br->probes_started = br->probes_ok = br->probes_failed = 0;
            window_clear(br);
        }
        break;
    }
    return br->state;
}

const char *ob_breaker_state_name(enum ob_breaker_state s)
{
    switch (s) {
    case OB_BREAKER_CLOSED:
        return "closed";
    case OB_BREAKER_OPEN:
        return "open";
    case OB_BREAKER_HALF_OPEN:
        return "half-open";
    }
    return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Adaptive concurrency                                                      */

#define LIMITER_WINDOW_MS 1000
#define LIMITER_MIN_WINDOW 8 /* outcomes */

void ob_limiter_init(struct ob_limiter *l, const struct ob_limiter_conf *conf)
{
    memset(l, 0, sizeof *l);
    l->conf = *conf;
    if (l->conf.floor < 1)
        l->conf.floor = 1;
    if (l->conf.ceiling < l->conf.floor)
        l->conf.ceiling = l->conf.floor;
    if (!(l->conf.max_error_rate >= 0 && l->conf.max_error_rate <= 1))
        l->conf.max_error_rate = 1;
    if (!(l->conf.latency_tolerance >= 1))
        l->conf.latency_tolerance = 0;
    l->limit = l->conf.ceiling; /* healthy until shown otherwise */
}

int ob_limiter_limit(const struct ob_limiter *l)
{
    return (int)l->limit;
}

/* Integer square root, rounded down; ob-core has no libm. */
static double isqrt(double v)
{
    double r = 1;

    while ((r + 1) * (r + 1) <= v)
        r++;
    return r;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static void limiter_judge(struct ob_limiter *l)
{
    const struct ob_limiter_conf *c = &l->conf;
    int overloaded = (double)l->failed > c->max_error_rate * (double)l->total;

    if (l->n_lat > 0 && c->latency_tolerance >= 1) {
        double median;
        qsort(l->lat_us, l->n_lat, sizeof(l->lat_us[0]), cmp_u32);
        median = (double)l->lat_us[l->n_lat / 2];
        if (l->usual_us > 0 && median > c->latency_tolerance * l->usual_us)
            overloaded = 1;
        /* The lowest median seen, rising by 1/16 of the gap per window, so
         * that a warehouse that became slower for good is not held down for
         * ever. */
        if (l->usual_us == 0 || median < l->usual_us)
            l->usual_us = median;
        else
            l->usual_us += (median - l->usual_us) / 16;
    }
    if (overloaded) {
        l->limit = l->limit * 3 / 4;
        if (l->limit < c->floor)
            l->limit = c->floor;
        l->shrunk++;
    } else if (l->busy * 2 >= l->total && l->limit < c->ceiling) {
        /* Only a limit that was used is known to be too low. */
        l->limit += isqrt(l->limit);
        if (l->limit > c->ceiling)
            l->limit = c->ceiling;
    }
}

void ob_limiter_record(struct ob_limiter *l, uint64_t now_ms, uint64_t latency_us, int failure,
                       int at_limit)
{
    if (l->total == 0)
        l->window_start_ms = now_ms;
    l->total++;
    l->failed += failure != 0;
    l->busy += at_limit != 0;
    if (!failure) {
        uint32_t v = latency_us > UINT32_MAX ? UINT32_MAX : (uint32_t)latency_us;
        if (l->usual_us == 0) /* a first guess, until the first window is judged */
            l->usual_us = v;
        if (l->n_lat < OB_LIMITER_SAMPLES)
            l->lat_us[l->n_lat++] = v;
        else /* a sample spread over the window */
            l->lat_us[l->total % OB_LIMITER_SAMPLES] = v;
    }
    if (l->total >= LIMITER_MIN_WINDOW &&
        (l->total >= (uint32_t)l->limit || now_ms - l->window_start_ms >= LIMITER_WINDOW_MS)) {
        limiter_judge(l);
        l->total = l->failed = l->busy = l->n_lat = 0;
    }
}
