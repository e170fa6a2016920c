/*
 * metrics.h — the bridge's counters and its latency histogram.
 *
 * Written by the event loop, read from any thread (demo, signals, a future
 * /metrics endpoint): plain relaxed atomics, no locks.
 */
#ifndef OB_METRICS_H
#define OB_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

/* Log-linear buckets over microseconds: 16 per power of two, up to ~2^36 us. */
#define OB_HIST_SUB 16
#define OB_HIST_BUCKETS (37 * OB_HIST_SUB)

struct ob_histogram {
    _Atomic uint64_t counts[OB_HIST_BUCKETS];
    _Atomic uint64_t total;
};

void ob_histogram_record(struct ob_histogram *h, uint64_t micros);
/* The value (us) below which `quantile` (0..1) of the samples fall; 0 if empty. */
uint64_t ob_histogram_quantile(const struct ob_histogram *h, double quantile);

struct ob_metrics {
    _Atomic uint64_t consumed;        /* messages taken from the orders and retry topics */
    _Atomic uint64_t accepted;        /* ACCEPTED by a warehouse */
    _Atomic uint64_t rejected;        /* refused by a warehouse (REJECTED + DLQ) */
    _Atomic uint64_t invalid;         /* not a valid order.v1 (DLQ) */
    _Atomic uint64_t unroutable;      /* no warehouse for it (DLQ) */
    _Atomic uint64_t failed;          /* retries exhausted or not encodable (DLQ) */
    _Atomic uint64_t dead_lettered;   /* records acknowledged on the DLQ topic */
    _Atomic uint64_t status_events;   /* records acknowledged on the status topic */
    _Atomic uint64_t http_requests;   /* pushes sent */
    _Atomic uint64_t http_retries;    /* pushes that were a retry */
    _Atomic uint64_t produce_errors;  /* delivery reports with an error (re-sent) */
    _Atomic uint64_t finished;        /* orders whose outcome is final and in Kafka */
    _Atomic uint64_t in_flight;       /* orders being worked on now */
    _Atomic uint64_t parked;          /* orders put on the retry topic */
    _Atomic uint64_t ledger_skipped;  /* redelivered orders already done: status re-emitted */
    _Atomic uint64_t ledger_resent;   /* redelivered orders found in flight: resent, same key */
    _Atomic uint64_t breaker_opened;  /* times a warehouse's circuit breaker opened */
    _Atomic uint64_t rate_limited;    /* pushes that waited for the rate limit */
    _Atomic uint64_t abandoned;       /* orders left uncommitted at revoke or stop */
    struct ob_histogram latency;      /* consumed -> outcome acknowledged by Kafka */
};

#define OB_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define OB_METRIC_GET(m, field) atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
