#include "metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned bucket_of(uint64_t v)
{
    unsigned msb, idx;

    if (v < OB_HIST_SUB)
        return (unsigned)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    /* msb >= 4: the top bit picks the group, the next 4 bits the bucket. */
    idx = (msb - 3) * OB_HIST_SUB + (unsigned)((v >> (msb - 4)) & (OB_HIST_SUB - 1));
    return idx < OB_HIST_BUCKETS ? idx : OB_HIST_BUCKETS - 1;
}

/* The upper bound of bucket idx (inverse of bucket_of). */
static uint64_t bucket_top(unsigned idx)
{
    unsigned group = idx / OB_HIST_SUB, sub = idx % OB_HIST_SUB, msb;

    if (group == 0)
        return idx;
    msb = group + 3;
    return ((uint64_t)(OB_HIST_SUB + sub + 1) << (msb - 4)) - 1;
}

void ob_histogram_record(struct ob_histogram *h, uint64_t micros)
{
    atomic_fetch_add_explicit(&h->counts[bucket_of(micros)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->total, 1, memory_order_relaxed);
}

uint64_t ob_histogram_quantile(const struct ob_histogram *h, double quantile)
{
    uint64_t total = atomic_load_explicit(&h->total, memory_order_relaxed);
    uint64_t want, seen = 0;

    if (total == 0)
        return 0;
    want = (uint64_t)(quantile * (double)total);
    if (want == 0)
        want = 1;
    for (unsigned i = 0; i < OB_HIST_BUCKETS; i++) {
        seen += atomic_load_explicit(&h->counts[i], memory_order_relaxed);
        if (seen >= want)
            return bucket_top(i);
    }
    return bucket_top(OB_HIST_BUCKETS - 1);
}

/* Every counter, for the Prometheus text of GET /metrics. */
static const struct {
    const char *name;
    size_t offset;
    const char *type;
    const char *help;
} counters[] = {
    {"consumed", offsetof(struct ob_metrics, consumed), "counter", "messages taken from the orders and retry topics"},
    {"accepted", offsetof(struct ob_metrics, accepted), "counter", "ACCEPTED by a warehouse"},
    {"rejected", offsetof(struct ob_metrics, rejected), "counter", "refused by a warehouse (REJECTED + DLQ)"},
    {"invalid", offsetof(struct ob_metrics, invalid), "counter", "not a valid order.v1 (DLQ)"},
    {"unroutable", offsetof(struct ob_metrics, unroutable), "counter", "no warehouse for it (DLQ)"},
    {"failed", offsetof(struct ob_metrics, failed), "counter", "retries exhausted or not encodable (DLQ)"},
    {"dead_lettered", offsetof(struct ob_metrics, dead_lettered), "counter", "records acknowledged on the DLQ topic"},
    {"status_events", offsetof(struct ob_metrics, status_events), "counter", "records acknowledged on the status topic"},
    {"http_requests", offsetof(struct ob_metrics, http_requests), "counter", "pushes sent"},
    {"http_retries", offsetof(struct ob_metrics, http_retries), "counter", "pushes that were a retry"},
    {"produce_errors", offsetof(struct ob_metrics, produce_errors), "counter", "delivery reports with an error (re-sent)"},
    {"finished", offsetof(struct ob_metrics, finished), "counter", "orders whose outcome is final and in Kafka"},
    {"in_flight", offsetof(struct ob_metrics, in_flight), "gauge", "orders being worked on now"},
    {"lane_waiting", offsetof(struct ob_metrics, lane_waiting), "gauge", "orders waiting for a connection of their warehouse"},
    {"parked", offsetof(struct ob_metrics, parked), "counter", "orders put on the retry topic"},
    {"state_migrated", offsetof(struct ob_metrics, state_migrated), "counter", "order states written to the state changelog from a ledger older than it, at start"},
    {"state_misplaced", offsetof(struct ob_metrics, state_misplaced), "counter", "state records that went to another partition than their order's (the producers partition keys differently: see the log)"},
    {"state_records", offsetof(struct ob_metrics, state_records), "counter", "order states written to the state changelog (kafka.topics.state)"},
    {"state_restored", offsetof(struct ob_metrics, state_restored), "counter", "state changelog records read back when partitions were assigned"},
    {"restore_ms", offsetof(struct ob_metrics, restore_ms), "counter", "milliseconds spent restoring order state on assignment"},
    {"restore_bytes", offsetof(struct ob_metrics, restore_bytes), "counter", "bytes of state changelog records read back when partitions were assigned"},
    {"ledger_skipped", offsetof(struct ob_metrics, ledger_skipped), "counter", "orders already done: not pushed again (the same message read again: nothing more; the order in a new message: its status again)"},
    {"ledger_resent", offsetof(struct ob_metrics, ledger_resent), "counter", "redelivered orders found in flight: resent, same key"},
    {"breaker_opened", offsetof(struct ob_metrics, breaker_opened), "counter", "times a warehouse's circuit breaker opened"},
    {"stepped_aside", offsetof(struct ob_metrics, stepped_aside), "counter", "new orders of a slow warehouse with a full lane, parked until it drains"},
    {"concurrency_lowered", offsetof(struct ob_metrics, concurrency_lowered), "counter", "times a warehouse's concurrency limit was lowered (errors or slow answers)"},
    {"rate_limited", offsetof(struct ob_metrics, rate_limited), "counter", "pushes that waited for the rate limit"},
    {"abandoned", offsetof(struct ob_metrics, abandoned), "counter", "orders left uncommitted at revoke or stop"},
    {"crash_suspects", offsetof(struct ob_metrics, crash_suspects), "counter", "orders found with an adapter running when the bridge died: run alone"},
    {"crashed", offsetof(struct ob_metrics, crashed), "counter", "orders that crashed the bridge pipeline.max_crashes times: dead-lettered"},
    {"callbacks", offsetof(struct ob_metrics, callbacks), "counter", "callback requests received"},
    {"callbacks_ok", offsetof(struct ob_metrics, callbacks_ok), "counter", "answered with success"},
    {"callbacks_forbidden", offsetof(struct ob_metrics, callbacks_forbidden), "counter", "bad signature, token, timestamp or source"},
    {"callbacks_malformed", offsetof(struct ob_metrics, callbacks_malformed), "counter", "not understood"},
    {"callbacks_too_large", offsetof(struct ob_metrics, callbacks_too_large), "counter", "body over the limit"},
    {"callbacks_unknown_order", offsetof(struct ob_metrics, callbacks_unknown_order), "counter", "named no order pushed to that warehouse"},
    {"callbacks_retry", offsetof(struct ob_metrics, callbacks_retry), "counter", "not taken now (Kafka): the warehouse sends again"},
    {"callbacks_forwarded", offsetof(struct ob_metrics, callbacks_forwarded), "counter", "verified callbacks whose records are in kafka.topics.callbacks (any instance takes any callback)"},
    {"callback_records_applied", offsetof(struct ob_metrics, callback_records_applied), "counter", "records of kafka.topics.callbacks applied by this instance, the owner of their partition"},
    {"callback_records_refused", offsetof(struct ob_metrics, callback_records_refused), "counter", "records of kafka.topics.callbacks that are not orderbridge.callback.v1 or name a warehouse not configured here"},
    {"callback_records_unknown", offsetof(struct ob_metrics, callback_records_unknown), "counter", "records of kafka.topics.callbacks whose order stayed unknown here for a minute"},
    {"callbacks_replayed", offsetof(struct ob_metrics, callbacks_replayed), "counter", "a delivery id seen before: success, nothing emitted"},
    {"polls", offsetof(struct ob_metrics, polls), "counter", "status queries sent"},
    {"poll_errors", offsetof(struct ob_metrics, poll_errors), "counter", "queries without a usable answer"},
    {"reports_emitted", offsetof(struct ob_metrics, reports_emitted), "counter", "status events from callbacks and polls in Kafka"},
    {"reports_repeated", offsetof(struct ob_metrics, reports_repeated), "counter", "reports of a status already emitted: dropped"},
    {"reports_late", offsetof(struct ob_metrics, reports_late), "counter", "emitted, but the order was already further"},
    {"reports_unmapped", offsetof(struct ob_metrics, reports_unmapped), "counter", "warehouse codes with no status: emitted raw"},
    {"reports_unknown_order", offsetof(struct ob_metrics, reports_unknown_order), "counter", "reports about an order unknown there"},
    {"http_server_refused_per_ip", offsetof(struct ob_metrics, http_server_refused_per_ip), "counter", "connections closed at once: their address had http.max_connections_per_ip open"},
    {"http_server_deadline_cut", offsetof(struct ob_metrics, http_server_deadline_cut), "counter", "connections closed: no whole request within http.request_timeout_ms"},
    {"http_server_body_budget", offsetof(struct ob_metrics, http_server_body_budget), "counter", "requests answered 503: their body would pass http.max_body_memory_bytes"},
    {"http_server_body_bytes", offsetof(struct ob_metrics, http_server_body_bytes), "gauge", "bytes of request bodies the HTTP server holds now"},
};

char *ob_metrics_text(const struct ob_metrics *m, size_t *len)
{
    size_t cap = 256 + sizeof(counters) / sizeof(counters[0]) * 256, n = 0;
    char *out = malloc(cap);
    static const double quantiles[] = {0.5, 0.9, 0.99};

    if (!out)
        return NULL;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        const _Atomic uint64_t *v =
            (const _Atomic uint64_t *)(const void *)((const char *)m + counters[i].offset);
        const char *suffix = strcmp(counters[i].type, "counter") == 0 ? "_total" : "";
        int w = snprintf(out + n, cap - n,
                         "# HELP orderbridge_%s%s %s\n# TYPE orderbridge_%s%s %s\n"
                         "orderbridge_%s%s %llu\n",
                         counters[i].name, suffix, counters[i].help, counters[i].name, suffix,
                         counters[i].type, counters[i].name, suffix,
                         (unsigned long long)atomic_load_explicit(v, memory_order_relaxed));
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    for (size_t i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]); i++) {
        int w = snprintf(out + n, cap - n, "orderbridge_latency_seconds{quantile=\"%g\"} %.6f\n",
                         quantiles[i], (double)ob_histogram_quantile(&m->latency, quantiles[i]) / 1e6);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    *len = n;
    return out;
}
