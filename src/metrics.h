/*
 * metrics.h — the bridge's counters, gauges and latency histograms, and
 * their Prometheus text.
 *
 * Written by the event loop, read from any thread (demo, signals, the HTTP
 * server's GET /metrics): plain relaxed atomics. Only the list of
 * warehouses and the Kafka figures (both change rarely) sit behind a mutex.
 */
#ifndef OB_METRICS_H
#define OB_METRICS_H

#include <pthread.h>
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

/* A Prometheus histogram: fixed bounds (OB_PROM_BOUNDS_US), exact counts. */
#define OB_PROM_BUCKETS 15
struct ob_prom_histogram {
    _Atomic uint64_t counts[OB_PROM_BUCKETS + 1]; /* by bucket, not cumulative; last: +Inf */
    _Atomic uint64_t sum_us;
};

void ob_prom_histogram_record(struct ob_prom_histogram *h, uint64_t micros);

/* How a push ended, as the adapter judged the answer. */
enum ob_push_result { OB_PUSH_ACCEPTED, OB_PUSH_REJECTED, OB_PUSH_ERROR, OB_PUSH_RESULTS };

/* Why an order of this warehouse went to the dead-letter topic. */
enum ob_dead_letter_reason {
    OB_DL_REJECTED,
    OB_DL_RETRIES_EXHAUSTED,
    OB_DL_ENCODE_FAILED,
    OB_DL_CRASHED,
    OB_DL_OTHER,
    OB_DL_REASONS
};
enum ob_dead_letter_reason ob_dead_letter_reason_of(const char *dlq_class);

/* Indexed by enum ob_callback_verdict (1..6); 0 counts replays. */
#define OB_CALLBACK_RESULTS 7

/* One warehouse's figures, labelled {warehouse, adapter}. Created once per
 * warehouse code and kept until ob_metrics_free(), so the loop, the HTTP
 * server and the poller hold plain pointers to it. */
struct ob_wh_metrics {
    char warehouse[64];
    char adapter[64];
    _Atomic uint64_t pushes[OB_PUSH_RESULTS];
    _Atomic uint64_t retries;       /* pushes that were a retry */
    _Atomic uint64_t parked;        /* its orders acknowledged on the retry topic */
    _Atomic uint64_t rate_limited;  /* pushes that waited for its rate limit */
    _Atomic uint64_t stepped_aside; /* new orders parked because its lane stayed full */
    _Atomic uint64_t dead_letters[OB_DL_REASONS];
    _Atomic uint64_t callbacks[OB_CALLBACK_RESULTS];
    _Atomic uint64_t polls[2]; /* answered: [0] usable, [1] not */
    _Atomic uint64_t statuses; /* status events from its callbacks and polls, in Kafka */
    /* gauges, published by the loop about once a second */
    _Atomic uint64_t in_flight;         /* pushes in curl */
    _Atomic uint64_t queued;            /* orders waiting in its lane */
    _Atomic uint64_t concurrency_limit; /* pushes allowed at once now */
    _Atomic int circuit;                /* enum ob_breaker_state */
    struct ob_prom_histogram push_seconds;    /* one HTTP push */
    struct ob_prom_histogram outcome_seconds; /* consumed -> outcome in Kafka */
};

/* One of the recent failures the dashboard lists (GET /api/failures). */
#define OB_RECENT_FAILURES 100
struct ob_failure {
    int64_t at_ms; /* epoch */
    char order_id[65];
    char warehouse[64];
    char outcome[16]; /* "rejected", "dead_lettered", "parked", "error" */
    char reason[240];
};

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
    _Atomic uint64_t state_records;   /* order states written to kafka.topics.state */
    _Atomic uint64_t state_misplaced; /* state records in another partition than their order */
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
    _Atomic uint64_t ledger_bytes;    /* gauge: the ledger file's pages in use */
    _Atomic uint64_t ledger_entries;  /* gauge: records in the ledger */
    struct ob_histogram latency;      /* consumed -> outcome acknowledged by Kafka (quantiles) */
    struct ob_prom_histogram outcome_seconds; /* the same, for Prometheus */

    pthread_mutex_t mu; /* guards what follows */
    struct ob_wh_metrics **wh;
    size_t n_wh, cap_wh;
    char *kafka_text; /* lag and broker series from librdkafka's statistics, or NULL */
    struct ob_failure failures[OB_RECENT_FAILURES]; /* a ring, the newest at failures_next - 1 */
    size_t failures_next, n_failures;
};

void ob_metrics_init(struct ob_metrics *m);
void ob_metrics_free(struct ob_metrics *m);

/* The figures of warehouse `code`, created on first use (adapter NULL:
 * keep the name it has); NULL when out of memory. The loop's thread. */
struct ob_wh_metrics *ob_metrics_warehouse(struct ob_metrics *m, const char *code,
                                           const char *adapter);

/* Take librdkafka's statistics JSON (a consumer's stats_cb): consumer lag
 * per partition, broker states. Returns the number of brokers up, or -1
 * when the JSON is not understood. */
int ob_metrics_kafka_stats(struct ob_metrics *m, const char *json, size_t len);

/* Remember a failure for GET /api/failures (the last OB_RECENT_FAILURES).
 * Strings are copied, cut to fit; NULL is "". Any thread. */
void ob_metrics_failure(struct ob_metrics *m, const char *order_id, const char *warehouse,
                        const char *outcome, const char *reason);

/* {"failures":[{"time", "order_id", "warehouse", "outcome", "reason"}, ...]},
 * newest first, malloc()ed; NULL when out of memory. Any thread. */
char *ob_metrics_failures_json(struct ob_metrics *m, size_t *len);

/* Everything as Prometheus text (GET /metrics), malloc()ed, length in
 * *len; NULL when out of memory. Any thread. */
char *ob_metrics_text(struct ob_metrics *m, size_t *len);

#define OB_METRIC_ADD(m, field, n) atomic_fetch_add_explicit(&(m)->field, (n), memory_order_relaxed)
#define OB_METRIC_GET(m, field) atomic_load_explicit(&(m)->field, memory_order_relaxed)

#endif
