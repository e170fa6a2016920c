/*
 * bulkhead.h — what keeps one sick warehouse from hurting the others: a
 * token-bucket rate limit, an adaptive concurrency limit and a circuit
 * breaker, one of each per warehouse.
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
    int half_open_probes;     /* requests let through half-open */
    double probe_success_rate; /* closes once this share of them succeeded, reopens once it
                                  no longer can; 0 or more than 1: 1 (all must succeed) */
};

struct ob_breaker {
    struct ob_breaker_conf conf;
    enum ob_breaker_state state;
    int consecutive;
    uint64_t opened_at_ms;
    int probes_started, probes_ok, probes_failed;
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

/* What a request allowed by ob_breaker_allow() came to. A failure: the
 * warehouse did not answer usefully (transport error, timeout, 5xx, 429).
 * The failure of an order's first attempt does not count towards opening
 * the circuit: a warehouse that loses the answer to every first attempt
 * (and takes the retry) is struggling, not down; a warehouse that is down
 * fails the retries too. */
enum ob_breaker_outcome {
    OB_BREAKER_SUCCESS = 0,
    OB_BREAKER_FAILURE = 1,
    OB_BREAKER_FIRST_FAILURE = 2,
};

/* Returns the state after it, so the caller can log transitions. */
enum ob_breaker_state ob_breaker_record(struct ob_breaker *br, uint64_t now_ms,
                                        enum ob_breaker_outcome outcome);

const char *ob_breaker_state_name(enum ob_breaker_state s);

/*
 * Adaptive concurrency: how many requests a warehouse gets at once, between
 * a floor and a ceiling (max_connections). Outcomes are judged a window at
 * a time (about `limit` of them, or a second): a window in which more than
 * max_error_rate of the requests failed, or whose median latency exceeds
 * latency_tolerance times the warehouse's usual one, shrinks the limit by a
 * quarter; a calm window in which the limit was used grows it by its
 * square root. A warehouse that struggles gets fewer requests, not none;
 * one that is merely slow, or fails a share of requests at random, keeps
 * its connections.
 */
struct ob_limiter_conf {
    int floor;                /* >= 1 */
    int ceiling;              /* >= floor */
    double max_error_rate;    /* 0..1; 1: failures never shrink it */
    double latency_tolerance; /* >= 1; 0: latency never shrinks it */
};

#define OB_LIMITER_SAMPLES 64

struct ob_limiter {
    struct ob_limiter_conf conf;
    double limit;
    uint64_t window_start_ms;
    uint32_t total, failed, busy; /* outcomes in the window; busy: at the limit when started */
    uint32_t n_lat, lat_us[OB_LIMITER_SAMPLES]; /* latencies of its successes (a sample) */
    double usual_us; /* the usual median latency: lowest seen, drifting up slowly */
    uint64_t shrunk; /* times it was lowered, for metrics */
};

void ob_limiter_init(struct ob_limiter *l, const struct ob_limiter_conf *conf);

/* Requests allowed at once now. */
int ob_limiter_limit(const struct ob_limiter *l);

/* The outcome of a request: its latency (successes), whether it failed
 * (transport error, timeout, 5xx, 429), and whether the requests in
 * flight when it started had reached the limit. */
void ob_limiter_record(struct ob_limiter *l, uint64_t now_ms, uint64_t latency_us, int failure,
                       int at_limit);

#endif
