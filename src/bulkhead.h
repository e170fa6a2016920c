/*
 * bulkhead.h — what keeps one sick warehouse from hurting the others: a
 * token-bucket rate limit and a circuit breaker, one of each per warehouse
 * (the lane in bridge.c adds the concurrency cap).
 *
 * Pure logic, no clock of its own: every call takes the monotonic time, so
 * the tests drive time by hand.
 */
#ifndef OB_BULKHEAD_H
#define OB_BULKHEAD_H

#include <stdint.h>

/* Requests per second with bursts. rate <= 0: unlimited. */
struct ob_token_bucket {
    double rate;    /* tokens per second */
    double burst;   /* capacity, >= 1 */
    double tokens;
    uint64_t last_us;
};

void ob_bucket_init(struct ob_token_bucket *tb, double rate_per_s, double burst, uint64_t now_us);

/* Take one token. Returns 1 when taken; 0 when empty, with *wait_us set to
 * the time until the next token. */
int ob_bucket_take(struct ob_token_bucket *tb, uint64_t now_us, uint64_t *wait_us);

enum ob_breaker_state { OB_BREAKER_CLOSED, OB_BREAKER_OPEN, OB_BREAKER_HALF_OPEN };

struct ob_breaker_conf {
    int consecutive_failures; /* open after this many failures in a row; 0: off */
    double error_rate;        /* open when failures/requests in the window reach this; 0: off */
    int min_requests;         /* ... and the window has at least this many outcomes */
    uint64_t window_ms;       /* sliding window for the error rate */
    uint64_t open_ms;         /* stay open this long, then half-open */
    int half_open_probes;     /* requests let through half-open; all must succeed to close */
};

struct ob_breaker {
    struct ob_breaker_conf conf;
    enum ob_breaker_state state;
    int consecutive;
    uint64_t opened_at_ms;
    int probes_started, probes_ok;
    /* the window: 10 buckets of window_ms / 10 each */
    uint64_t bucket_start_ms[10];
    uint32_t bucket_total[10], bucket_failed[10];
    uint64_t opened_count; /* times it opened, for metrics */
};

void ob_breaker_init(struct ob_breaker *br, const struct ob_breaker_conf *conf);

/* May a request start now? Returns 1 (in HALF_OPEN this takes a probe
 * slot), or 0 with *wait_ms set to when to ask again. Every request it
 * allowed must get exactly one ob_breaker_record(), or a half-open
 * breaker waits for its probe for ever. */
int ob_breaker_allow(struct ob_breaker *br, uint64_t now_ms, uint64_t *wait_ms);

/* The outcome of a request allowed by ob_breaker_allow(). failure: the
 * warehouse did not answer usefully (transport error, timeout, 5xx, 429).
 * Returns the state after it, so the caller can log transitions. */
enum ob_breaker_state ob_breaker_record(struct ob_breaker *br, uint64_t now_ms, int failure);

const char *ob_breaker_state_name(enum ob_breaker_state s);

#endif
