/*
 * metrics.h — the bridge's counters and its latency histogram.
 *
 * Written by the event loop, read from any thread (demo, signals, the HTTP
 * server's GET /metrics): plain relaxed atomics, no locks.
 */
#ifndef OB_METRICS_H
#define OB_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
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
    _Atomic uint64_t lane_waiting;    /* of them, waiting for a connection of their warehouse */
    _Atomic uint64_t parked;          /* orders put on the retry topic */
    _Atomic uint64_t state_migrated;  /* order states written from an older ledger at start */
    _Atomic uint64_t state_records;
    _Atomic uint64_t state_misplaced; /* state records in another partition than their order */   /* order states written to kafka.topics.state */
    _Atomic uint64_t state_restored;  /* state records read back on assignment */
    _Atomic uint64_t restore_ms;      /* time spent restoring */
    _Atomic uint64_t restore_bytes;   /* bytes of the state records read back */
    _Atomic uint64_t ledger_skipped;  /* orders already done: not pushed again */
    _Atomic uint64_t ledger_resent;   /* redelivered orders found in flight: resent, same key */
    _Atomic uint64_t breaker_opened;  /* times a warehouse's circuit breaker opened */
    _Atomic uint64_t stepped_aside;   /* new orders of a slow warehouse with a full lane, parked */
    _Atomic uint64_t concurrency_lowered; /* times a warehouse's concurrency limit was lowered */
    _Atomic uint64_t rate_limited;    /* pushes that waited for the rate limit */
    _Atomic uint64_t abandoned;       /* orders left uncommitted at revoke or stop */
    _Atomic uint64_t crash_suspects;  /* orders found with an adapter running when the bridge died */
    _Atomic uint64_t crashed;         /* orders that crashed the bridge max_crashes times (DLQ) */
    /* status after the push: callbacks and polls */
    _Atomic uint64_t callbacks;               /* callback requests received */
    _Atomic uint64_t callbacks_ok;            /* answered with success */
    _Atomic uint64_t callbacks_forbidden;     /* bad signature, token, timestamp or source */
    _Atomic uint64_t callbacks_malformed;     /* not understood */
    _Atomic uint64_t callbacks_too_large;     /* body over the limit */
    _Atomic uint64_t callbacks_unknown_order; /* named no order pushed to that warehouse */
    _Atomic uint64_t callbacks_retry;         /* not taken now (Kafka): the warehouse sends again */
    _Atomic uint64_t callbacks_forwarded;     /* verified, their records in kafka.topics.callbacks */
    _Atomic uint64_t callback_records_applied; /* records of kafka.topics.callbacks applied here */
    _Atomic uint64_t callback_records_refused; /* not orderbridge.callback.v1, or unknown warehouse */
    _Atomic uint64_t callback_records_unknown; /* their order unknown here for a minute: let go */
    _Atomic uint64_t callbacks_replayed;      /* a delivery id seen before: success, nothing emitted */
    _Atomic uint64_t polls;                   /* status queries sent */
    _Atomic uint64_t poll_errors;             /* queries without a usable answer */
    _Atomic uint64_t reports_emitted;         /* status events from callbacks and polls in Kafka */
    _Atomic uint64_t reports_repeated;        /* reports of a status already emitted: dropped */
    _Atomic uint64_t reports_late;            /* emitted, but the order was already further */
    _Atomic uint64_t reports_unmapped;        /* warehouse codes with no status: emitted raw */
    _Atomic uint64_t reports_unknown_order;   /* reports about an order unknown there */
    /* the HTTP server's refusals, copied from its own counters at each GET /metrics */
    _Atomic uint64_t http_server_refused_per_ip; /* connections over max_connections_per_ip */
    _Atomic uint64_t http_server_deadline_cut;   /* connections closed at request_timeout_ms */
    _Atomic uint64_t http_server_body_budget;    /* 503: max_body_memory_bytes reached */
    _Atomic uint64_t http_server_body_bytes;     /* bytes of request bodies held now */
    struct ob_histogram latency;      /* consumed -> outcome acknowledged by Kafka */
};

/* Every counter and the latency quantiles as Prometheus text (GET /metrics),
 * malloc()ed, length in *len; NULL when out of memory. Any thread. */
char *ob_metrics_text(const struct ob_metrics *m, size_t *len);

#define OB_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define OB_METRIC_GET(m, field) atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
