#include "metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <orderbridge/sdk.h>

#include "bulkhead.h"
#include "status.h"

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
    {"ledger_bytes", offsetof(struct ob_metrics, ledger_bytes), "gauge", "bytes of the delivery ledger's file in use"},
    {"ledger_entries", offsetof(struct ob_metrics, ledger_entries), "gauge", "records in the delivery ledger (deliveries, tracks, index)"},
};

static const uint64_t prom_bounds_us[OB_PROM_BUCKETS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000, 60000000,
};

void ob_prom_histogram_record(struct ob_prom_histogram *h, uint64_t micros)
{
    unsigned i = 0;

    while (i < OB_PROM_BUCKETS && micros > prom_bounds_us[i])
        i++;
    atomic_fetch_add_explicit(&h->counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, micros, memory_order_relaxed);
}

enum ob_dead_letter_reason ob_dead_letter_reason_of(const char *dlq_class)
{
    static const char *const names[] = {"rejected", "retries_exhausted", "encode_failed",
                                        "crashed"};

    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (dlq_class && strcmp(dlq_class, names[i]) == 0)
            return (enum ob_dead_letter_reason)i;
    }
    return OB_DL_OTHER;
}

void ob_metrics_init(struct ob_metrics *m)
{
    pthread_mutex_init(&m->mu, NULL);
}

void ob_metrics_free(struct ob_metrics *m)
{
    for (size_t i = 0; i < m->n_wh; i++)
        free(m->wh[i]);
    free(m->wh);
    free(m->kafka_text);
    m->wh = NULL;
    m->n_wh = m->cap_wh = 0;
    m->kafka_text = NULL;
    pthread_mutex_destroy(&m->mu);
}

struct ob_wh_metrics *ob_metrics_warehouse(struct ob_metrics *m, const char *code,
                                           const char *adapter)
{
    struct ob_wh_metrics *w = NULL;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_wh; i++) {
        if (strcmp(m->wh[i]->warehouse, code) == 0) {
            w = m->wh[i];
            break;
        }
    }
    if (!w && m->n_wh == m->cap_wh) {
        size_t cap = m->cap_wh ? m->cap_wh * 2 : 8;
        struct ob_wh_metrics **grown = realloc(m->wh, cap * sizeof(*grown));
        if (grown) {
            m->wh = grown;
            m->cap_wh = cap;
        }
    }
    if (!w && m->n_wh < m->cap_wh && (w = calloc(1, sizeof(*w))))
        m->wh[m->n_wh++] = w;
    if (w) {
        snprintf(w->warehouse, sizeof w->warehouse, "%s", code);
        if (adapter)
            snprintf(w->adapter, sizeof w->adapter, "%s", adapter);
    }
    pthread_mutex_unlock(&m->mu);
    return w;
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void put_label(struct ob_buf *o, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            ob_buf_printf(o, "\\%c", *v);
        else if (*v == '\n')
            ob_buf_appends(o, "\\n");
        else
            ob_buf_append(o, v, 1);
    }
}

static void family(struct ob_buf *o, const char *name, const char *type, const char *help)
{
    ob_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{warehouse="..",adapter=".."[,key="value"]} value */
static void wh_sample(struct ob_buf *o, const char *name, const struct ob_wh_metrics *w,
                      const char *key, const char *value, uint64_t n)
{
    ob_buf_printf(o, "%s{warehouse=\"", name);
    put_label(o, w->warehouse);
    ob_buf_appends(o, "\",adapter=\"");
    put_label(o, w->adapter);
    if (key)
        ob_buf_printf(o, "\",%s=\"%s", key, value);
    ob_buf_printf(o, "\"} %llu\n", (unsigned long long)n);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static void histogram(struct ob_buf *o, const char *name, const struct ob_wh_metrics *w,
                      const struct ob_prom_histogram *h)
{
    uint64_t cumulative = 0;
    char series[160], le[32];

    snprintf(series, sizeof series, "%s_bucket", name);
    for (unsigned i = 0; i <= OB_PROM_BUCKETS; i++) {
        cumulative += LOAD(h->counts[i]);
        if (i < OB_PROM_BUCKETS)
            snprintf(le, sizeof le, "%g", (double)prom_bounds_us[i] / 1e6);
        else
            snprintf(le, sizeof le, "+Inf");
        if (w) {
            wh_sample(o, series, w, "le", le, cumulative);
        } else {
            ob_buf_printf(o, "%s{le=\"%s\"} %llu\n", series, le, (unsigned long long)cumulative);
        }
    }
    /* _count is the +Inf bucket: both from the same loads */
    if (w) {
        ob_buf_printf(o, "%s_sum{warehouse=\"", name);
        put_label(o, w->warehouse);
        ob_buf_appends(o, "\",adapter=\"");
        put_label(o, w->adapter);
        ob_buf_printf(o, "\"} %.6f\n", (double)LOAD(h->sum_us) / 1e6);
        snprintf(series, sizeof series, "%s_count", name);
        wh_sample(o, series, w, NULL, NULL, cumulative);
    } else {
        ob_buf_printf(o, "%s_sum %.6f\n%s_count %llu\n", name, (double)LOAD(h->sum_us) / 1e6,
                      name, (unsigned long long)cumulative);
    }
}

static void warehouse_families(struct ob_buf *o, struct ob_wh_metrics *const *wh, size_t n)
{
    static const char *const push_names[OB_PUSH_RESULTS] = {"accepted", "rejected", "error"};
    static const char *const dl_names[OB_DL_REASONS] = {"rejected", "retries_exhausted",
                                                        "encode_failed", "crashed", "other"};
    static const char *const cb_names[OB_CALLBACK_RESULTS] = {
        "replayed", "ok", "forbidden", "malformed", "unknown_order", "too_large", "retry"};
    static const char *const circuit_names[] = {"closed", "open", "half_open"};
    static const struct {
        const char *name, *help;
        size_t offset;
        int gauge;
    } plain[] = {
        {"orderbridge_warehouse_retries_total", "pushes that were a retry",
         offsetof(struct ob_wh_metrics, retries), 0},
        {"orderbridge_warehouse_parked_total", "orders put on the retry topic",
         offsetof(struct ob_wh_metrics, parked), 0},
        {"orderbridge_warehouse_rate_limited_total", "pushes that waited for the rate limit",
         offsetof(struct ob_wh_metrics, rate_limited), 0},
        {"orderbridge_warehouse_stepped_aside_total",
         "new orders parked because the warehouse's lane stayed full",
         offsetof(struct ob_wh_metrics, stepped_aside), 0},
        {"orderbridge_warehouse_statuses_total",
         "status events from the warehouse's callbacks and polls, in Kafka",
         offsetof(struct ob_wh_metrics, statuses), 0},
        {"orderbridge_warehouse_in_flight", "pushes sent and not answered yet",
         offsetof(struct ob_wh_metrics, in_flight), 1},
        {"orderbridge_warehouse_queued", "orders waiting for a connection to the warehouse",
         offsetof(struct ob_wh_metrics, queued), 1},
        {"orderbridge_warehouse_concurrency_limit", "pushes allowed at once now (adaptive)",
         offsetof(struct ob_wh_metrics, concurrency_limit), 1},
    };

    static const char *const poll_names[2] = {"ok", "error"};
    static const struct {
        const char *name, *help, *key;
        const char *const *values;
        unsigned n;
        size_t offset; /* of an array of n counters */
    } labelled[] = {
        {"orderbridge_warehouse_pushes_total",
         "pushes answered, by outcome (error: no usable answer: timeout, 5xx, 429, transport)",
         "outcome", push_names, OB_PUSH_RESULTS, offsetof(struct ob_wh_metrics, pushes)},
        {"orderbridge_warehouse_dead_lettered_total",
         "orders of the warehouse sent to the dead-letter topic, by reason", "reason", dl_names,
         OB_DL_REASONS, offsetof(struct ob_wh_metrics, dead_letters)},
        {"orderbridge_warehouse_callbacks_total",
         "callback requests of the warehouse, by result (replayed: a delivery seen before)",
         "result", cb_names, OB_CALLBACK_RESULTS, offsetof(struct ob_wh_metrics, callbacks)},
        {"orderbridge_warehouse_polls_total",
         "status queries sent to the warehouse, by result (error: no usable answer)", "result",
         poll_names, 2, offsetof(struct ob_wh_metrics, polls)},
    };

    for (size_t f = 0; f < sizeof(labelled) / sizeof(labelled[0]); f++) {
        family(o, labelled[f].name, "counter", labelled[f].help);
        for (size_t i = 0; i < n; i++) {
            const _Atomic uint64_t *v =
                (const _Atomic uint64_t *)(const void *)((const char *)wh[i] + labelled[f].offset);
            for (unsigned k = 0; k < labelled[f].n; k++)
                wh_sample(o, labelled[f].name, wh[i], labelled[f].key, labelled[f].values[k],
                          LOAD(v[k]));
        }
    }
    for (size_t f = 0; f < sizeof(plain) / sizeof(plain[0]); f++) {
        family(o, plain[f].name, plain[f].gauge ? "gauge" : "counter", plain[f].help);
        for (size_t i = 0; i < n; i++) {
            const _Atomic uint64_t *v =
                (const _Atomic uint64_t *)(const void *)((const char *)wh[i] + plain[f].offset);
            wh_sample(o, plain[f].name, wh[i], NULL, NULL, LOAD(*v));
        }
    }
    family(o, "orderbridge_warehouse_circuit_state", "gauge",
           "1 for the state the warehouse's circuit breaker is in");
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            wh_sample(o, "orderbridge_warehouse_circuit_state", wh[i], "state", circuit_names[k],
                      LOAD(wh[i]->circuit) == k);
    family(o, "orderbridge_warehouse_push_duration_seconds", "histogram",
           "time of one HTTP push to the warehouse, sent to answered");
    for (size_t i = 0; i < n; i++)
        histogram(o, "orderbridge_warehouse_push_duration_seconds", wh[i], &wh[i]->push_seconds);
    family(o, "orderbridge_warehouse_outcome_duration_seconds", "histogram",
           "time from an order consumed to its outcome acknowledged by Kafka");
    for (size_t i = 0; i < n; i++)
        histogram(o, "orderbridge_warehouse_outcome_duration_seconds", wh[i],
                  &wh[i]->outcome_seconds);
}

int ob_metrics_kafka_stats(struct ob_metrics *m, const char *json, size_t len)
{
    json_t *root = json_loadb(json, len, 0, NULL), *topics, *brokers, *t, *b;
    const char *name;
    struct ob_buf o;
    int up = 0, lags = 0;

    if (!root)
        return -1;
    ob_buf_init(&o, OB_BUF_DEFAULT_MAX);
    brokers = json_object_get(root, "brokers");
    family(&o, "orderbridge_kafka_broker_up", "gauge",
           "1 when the consumer's connection to the broker is up");
    json_object_foreach(brokers, name, b) {
        /* bootstrap entries (nodeid -1) are replaced by the brokers they named;
         * the group coordinator ("logical") is one of those brokers again */
        const char *source = json_string_value(json_object_get(b, "source"));
        if (json_integer_value(json_object_get(b, "nodeid")) < 0 ||
            (source && strcmp(source, "logical") == 0))
            continue;
        const char *state = json_string_value(json_object_get(b, "state"));
        int is_up = state && strcmp(state, "UP") == 0;
        up += is_up;
        ob_buf_appends(&o, "orderbridge_kafka_broker_up{broker=\"");
        put_label(&o, name);
        ob_buf_printf(&o, "\"} %d\n", is_up);
    }
    topics = json_object_get(root, "topics");
    json_object_foreach(topics, name, t) {
        const char *pname;
        json_t *p;
        json_object_foreach(json_object_get(t, "partitions"), pname, p) {
            json_int_t id = json_integer_value(json_object_get(p, "partition"));
            json_int_t lag = json_integer_value(json_object_get(p, "consumer_lag"));
            if (id < 0 || !json_is_integer(json_object_get(p, "consumer_lag")) || lag < 0)
                continue; /* not assigned here, or no committed offset yet */
            if (lags++ == 0)
                family(&o, "orderbridge_kafka_consumer_lag", "gauge",
                       "messages of the partition after its committed offset");
            ob_buf_appends(&o, "orderbridge_kafka_consumer_lag{topic=\"");
            put_label(&o, name);
            ob_buf_printf(&o, "\",partition=\"%lld\"} %lld\n", (long long)id, (long long)lag);
        }
    }
    json_decref(root);
    size_t n;
    char *text = ob_buf_steal(&o, &n);
    pthread_mutex_lock(&m->mu);
    free(m->kafka_text);
    m->kafka_text = text;
    pthread_mutex_unlock(&m->mu);
    return up;
}

/* Copy src into dst, cut at a character boundary when it does not fit. */
static void copy_cut(char *dst, size_t size, const char *src)
{
    size_t n, i;

    snprintf(dst, size, "%s", src ? src : "");
    n = strlen(dst);
    if (!src || n == strlen(src) || n == 0)
        return;
    for (i = n - 1; i > 0 && ((unsigned char)dst[i] & 0xC0) == 0x80; i--)
        ;
    unsigned char lead = (unsigned char)dst[i];
    size_t want = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (i + want > n)
        dst[i] = '\0';
}

void ob_metrics_failure(struct ob_metrics *m, const char *order_id, const char *warehouse,
                        const char *outcome, const char *reason)
{
    int64_t now = ob_now_epoch_ms();

    pthread_mutex_lock(&m->mu);
    struct ob_failure *f = &m->failures[m->failures_next];
    f->at_ms = now;
    copy_cut(f->order_id, sizeof f->order_id, order_id);
    copy_cut(f->warehouse, sizeof f->warehouse, warehouse);
    copy_cut(f->outcome, sizeof f->outcome, outcome);
    copy_cut(f->reason, sizeof f->reason, reason);
    m->failures_next = (m->failures_next + 1) % OB_RECENT_FAILURES;
    if (m->n_failures < OB_RECENT_FAILURES)
        m->n_failures++;
    pthread_mutex_unlock(&m->mu);
}

char *ob_metrics_failures_json(struct ob_metrics *m, size_t *len)
{
    json_t *list = json_array(), *doc = json_pack("{s:o}", "failures", list);
    char *text = NULL;

    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; doc && i < m->n_failures; i++) {
        const struct ob_failure *f =
            &m->failures[(m->failures_next + OB_RECENT_FAILURES - 1 - i) % OB_RECENT_FAILURES];
        char when[32];
        ob_format_time(f->at_ms, when);
        const char *names[] = {"order_id", "warehouse", "outcome", "reason"};
        const char *values[] = {f->order_id, f->warehouse, f->outcome, f->reason};
        json_t *o = json_pack("{s:s}", "time", when);
        for (int k = 0; o && k < 4; k++) {
            json_t *v = json_string(values[k]); /* NULL: not UTF-8 (an id, an answer) */
            json_object_set_new(o, names[k], v ? v : json_string("(not UTF-8)"));
        }
        if (o)
            json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&m->mu);
    if (doc)
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text)
        *len = strlen(text);
    return text;
}

char *ob_metrics_text(struct ob_metrics *m, size_t *len)
{
    struct ob_buf o;

    ob_buf_init(&o, OB_BUF_DEFAULT_MAX);
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
        const _Atomic uint64_t *v =
            (const _Atomic uint64_t *)(const void *)((const char *)m + counters[i].offset);
        const char *suffix = strcmp(counters[i].type, "counter") == 0 ? "_total" : "";
        ob_buf_printf(&o,
                      "# HELP orderbridge_%s%s %s\n# TYPE orderbridge_%s%s %s\n"
                      "orderbridge_%s%s %llu\n",
                      counters[i].name, suffix, counters[i].help, counters[i].name, suffix,
                      counters[i].type, counters[i].name, suffix, (unsigned long long)LOAD(*v));
    }
    family(&o, "orderbridge_outcome_duration_seconds", "histogram",
           "time from an order consumed to its outcome acknowledged by Kafka, all warehouses");
    histogram(&o, "orderbridge_outcome_duration_seconds", NULL, &m->outcome_seconds);
    pthread_mutex_lock(&m->mu);
    warehouse_families(&o, m->wh, m->n_wh);
    if (m->kafka_text)
        ob_buf_appends(&o, m->kafka_text);
    pthread_mutex_unlock(&m->mu);
    return ob_buf_steal(&o, len);
}
