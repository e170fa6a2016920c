/* callbacks.c — warehouse status callbacks (see callbacks.h). */
#include "callbacks.h"

#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#include "callback_record.h"
#include "hash.h"
#include "http_server.h"
#include "log.h"
#include "order.h" /* ob_order_id_valid */
#include "status.h"

#define TAKE_BATCH 64
#define SEEN_SLOTS 65536 /* delivery ids remembered; a power of two */

struct callback;

/* One order's record of a callback forwarded to kafka.topics.callbacks,
 * the opaque of that Kafka record. */
struct forward {
    int tag; /* OB_CALLBACK_FORWARD_TAG */
    struct callback *cb;
};

/* One callback being handled. */
struct callback {
    struct ob_report report; /* first: done() gets it */
    struct ob_callbacks *owner;
    struct ob_http_pending *p;
    uint64_t id_hash; /* of the delivery id, 0 when none */
    struct ob_callback_result res;
    /* forwarded: records not yet acknowledged, one failed, the list of them all */
    size_t pending;
    int failed;
    struct callback *prev, *next;
    struct forward fwd[OB_CALLBACK_MAX_UPDATES];
};

struct ob_callbacks {
    const struct ob_config *cfg;
    struct ob_adapter_instance *const *adapters;
    struct ob_tracker *tracker;
    struct ob_producer *producer;
    struct ob_metrics *metrics;
    struct ob_wh_metrics **wh_metrics; /* by warehouse index */
    struct callback *forwarding; /* waiting for Kafka's acknowledgements */
    size_t n_forwarding;
    struct ob_http_server *server;
    struct ob_http_route *routes;
    /* Delivery ids answered with success lately (direct-mapped: a newer id
     * may push an older one out; the tracks still refuse its statuses). */
    uint64_t seen[SEEN_SLOTS];
};

static uint64_t id_hash(int wh, const char *id)
{
    uint64_t h = ob_fnv1a_str(ob_fnv1a(OB_FNV1A_OFFSET, &wh, sizeof wh), id);

    return h ? h : 1; /* 0 marks an empty slot */
}

static const char *verdict_name(enum ob_callback_verdict v)
{
    switch (v) {
    case OB_CALLBACK_OK: return "ok";
    case OB_CALLBACK_FORBIDDEN: return "forbidden";
    case OB_CALLBACK_MALFORMED: return "malformed";
    case OB_CALLBACK_UNKNOWN_ORDER: return "unknown order";
    case OB_CALLBACK_TOO_LARGE: return "too large";
    case OB_CALLBACK_RETRY: return "retry";
    }
    return "?";
}

static void count(struct ob_callbacks *c, int wh, enum ob_callback_verdict v)
{
    struct ob_metrics *m = c->metrics;

    if ((unsigned)v < OB_CALLBACK_RESULTS)
        OB_METRIC_ADD(c->wh_metrics[wh], callbacks[v], 1);
    switch (v) {
    case OB_CALLBACK_OK: OB_METRIC_ADD(m, callbacks_ok, 1); break;
    case OB_CALLBACK_FORBIDDEN: OB_METRIC_ADD(m, callbacks_forbidden, 1); break;
    case OB_CALLBACK_MALFORMED: OB_METRIC_ADD(m, callbacks_malformed, 1); break;
    case OB_CALLBACK_UNKNOWN_ORDER: OB_METRIC_ADD(m, callbacks_unknown_order, 1); break;
    case OB_CALLBACK_TOO_LARGE: OB_METRIC_ADD(m, callbacks_too_large, 1); break;
    case OB_CALLBACK_RETRY: OB_METRIC_ADD(m, callbacks_retry, 1); break;
    }
}

/* Answer in the warehouse's own words (the loader guarantees
 * answer_callback beside decode_callback), and forget the request. */
static void answer(struct ob_callbacks *c, struct ob_http_pending *p, enum ob_callback_verdict v,
                   const char *reason)
{
    const struct ob_adapter_instance *ad = c->adapters[p->route_id];
    struct ob_callback_reply reply;

    memset(&reply, 0, sizeof reply);
    ad->plugin.vt.answer_callback(ad->state, &p->req, v, reason ? reason : "", &reply);
    count(c, p->route_id, v);
    ob_http_server_answer(c->server, p, &reply);
}

static void refuse(struct ob_callbacks *c, struct ob_http_pending *p, enum ob_callback_verdict v,
                   const char *reason)
{
    /* never the path or query: a token may be in them */
    ob_log_event(OB_LOG_WARN,
                 OB_LOG_FIELDS(.warehouse = c->cfg->warehouses[p->route_id].code,
                               .event = "callback_refused", .reason = verdict_name(v)),
                 "callback from %s (%s) refused: %s%s%s", c->cfg->warehouses[p->route_id].code,
                 p->req.remote_addr ? p->req.remote_addr : "?", verdict_name(v),
                 reason && *reason ? ": " : "", reason ? reason : "");
    answer(c, p, v, reason);
}

static void on_report_done(struct ob_report *r)
{
    struct callback *cb = (struct callback *)r;
    struct ob_callbacks *c = cb->owner;

    if (r->verdict == OB_CALLBACK_OK && cb->id_hash)
        c->seen[cb->id_hash & (SEEN_SLOTS - 1)] = cb->id_hash;
    if (r->verdict == OB_CALLBACK_UNKNOWN_ORDER)
        refuse(c, cb->p, r->verdict, "no such order pushed to this warehouse");
    else
        answer(c, cb->p, r->verdict, r->verdict == OB_CALLBACK_RETRY ? "try again later" : "");
    free(cb);
}

/* ---- through Kafka (kafka.topics.callbacks) ------------------------------ */

/* Every record of cb is acknowledged, or one failed: answer the warehouse. */
static void forward_done(struct ob_callbacks *c, struct callback *cb)
{
    if (cb->prev)
        cb->prev->next = cb->next;
    else
        c->forwarding = cb->next;
    if (cb->next)
        cb->next->prev = cb->prev;
    c->n_forwarding--;
    if (cb->failed) {
        answer(c, cb->p, OB_CALLBACK_RETRY, "try again later");
    } else {
        if (cb->id_hash)
            c->seen[cb->id_hash & (SEEN_SLOTS - 1)] = cb->id_hash;
        OB_METRIC_ADD(c->metrics, callbacks_forwarded, 1);
        answer(c, cb->p, OB_CALLBACK_OK, "");
    }
    free(cb);
}

/* Any instance takes any callback: one record per order of it goes to the
 * callbacks topic, keyed and so partitioned like the order, and the owner
 * of that partition applies it to the order's state. The warehouse hears
 * success once Kafka has them all. */
static void forward(struct ob_callbacks *c, struct callback *cb)
{
    static struct ob_callback_record rec; /* the loop thread's */
    const struct ob_callback_result *res = &cb->res;
    unsigned char sent[OB_CALLBACK_MAX_UPDATES] = {0};
    size_t invalid = 0;

    /* No order of ours has such an id: nothing to send its owner. */
    for (size_t i = 0; i < res->n_updates; i++) {
        const char *id = res->updates[i].order_id;
        if (!ob_order_id_valid(id, strlen(id))) {
            sent[i] = 1;
            invalid++;
            OB_METRIC_ADD(c->metrics, reports_unknown_order, 1);
        }
    }
    if (invalid == res->n_updates) {
        refuse(c, cb->p, OB_CALLBACK_UNKNOWN_ORDER, "no such order pushed to this warehouse");
        free(cb);
        return;
    }
    cb->prev = NULL;
    cb->next = c->forwarding;
    if (c->forwarding)
        c->forwarding->prev = cb;
    c->forwarding = cb;
    c->n_forwarding++;
    cb->pending = 1; /* until every record is queued */
    for (size_t i = 0; i < res->n_updates && !cb->failed; i++) {
        const char *id = res->updates[i].order_id;
        size_t len;
        char *value;

        if (sent[i])
            continue;
        memset(&rec, 0, sizeof rec);
        ob_strlcpyf(rec.warehouse, sizeof rec.warehouse, "%s",
                    c->cfg->warehouses[cb->p->route_id].code);
        ob_strlcpyf(rec.delivery_id, sizeof rec.delivery_id, "%s", res->delivery_id);
        rec.received_ms = ob_now_epoch_ms();
        for (size_t j = i; j < res->n_updates; j++) {
            if (strcmp(res->updates[j].order_id, id) != 0)
                continue;
            rec.updates[rec.n_updates] = res->updates[j];
            if (rec.updates[rec.n_updates].occurred_at_ms < 0)
                rec.updates[rec.n_updates].occurred_at_ms = 0; /* before 1970: unknown */
            rec.n_updates++;
            sent[j] = 1;
        }
        value = ob_callback_record_encode(&rec, &len);
        cb->fwd[i] = (struct forward){.tag = OB_CALLBACK_FORWARD_TAG, .cb = cb};
        rd_kafka_resp_err_t err =
            value ? ob_producer_callback(c->producer, id, value, len, &cb->fwd[i])
                  : RD_KAFKA_RESP_ERR__BAD_MSG;
        free(value);
        if (err) {
            ob_log_event(OB_LOG_WARN, OB_LOG_FIELDS(.order_id = id, .event = "produce_failed"),
                         "cannot queue the callback record of order %s: %s", id,
                         rd_kafka_err2str(err));
            OB_METRIC_ADD(c->metrics, produce_errors, 1);
            cb->failed = 1;
        } else {
            cb->pending++;
        }
    }
    if (--cb->pending == 0)
        forward_done(c, cb);
}

void ob_callbacks_delivered(struct ob_callbacks *c, void *opaque, rd_kafka_resp_err_t err)
{
    struct callback *cb = ((struct forward *)opaque)->cb;

    if (err) {
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.order_id = cb->res.updates[0].order_id,
                                   .event = "produce_failed"),
                     "callback record of order %s not delivered: %s", cb->res.updates[0].order_id,
                     rd_kafka_err2str(err));
        OB_METRIC_ADD(c->metrics, produce_errors, 1);
        cb->failed = 1;
    }
    if (--cb->pending == 0)
        forward_done(c, cb);
}

size_t ob_callbacks_pending(const struct ob_callbacks *c)
{
    return c ? c->n_forwarding : 0;
}

static void handle(struct ob_callbacks *c, struct ob_http_pending *p)
{
    const struct ob_adapter_instance *ad = c->adapters[p->route_id];
    struct callback *cb;
    enum ob_callback_verdict v;

    OB_METRIC_ADD(c->metrics, callbacks, 1);
    if (p->preset) {
        refuse(c, p, p->preset,
               p->preset == OB_CALLBACK_TOO_LARGE ? "body over callback.max_body_bytes"
                                                  : "source address not in callback.allow_from");
        return;
    }
    cb = calloc(1, sizeof(*cb));
    if (!cb) {
        answer(c, p, OB_CALLBACK_RETRY, "out of memory");
        return;
    }
    v = ad->plugin.vt.decode_callback(ad->state, &p->req, &cb->res);
    if (v != OB_CALLBACK_OK) {
        refuse(c, p, v == OB_CALLBACK_FORBIDDEN ? v : OB_CALLBACK_MALFORMED, cb->res.reason);
        free(cb);
        return;
    }
    if (cb->res.n_updates > OB_CALLBACK_MAX_UPDATES) {
        refuse(c, p, OB_CALLBACK_MALFORMED, "the adapter returned too many updates");
        free(cb);
        return;
    }
    if (cb->res.delivery_id[0]) {
        cb->id_hash = id_hash(p->route_id, cb->res.delivery_id);
        if (c->seen[cb->id_hash & (SEEN_SLOTS - 1)] == cb->id_hash) {
            OB_METRIC_ADD(c->metrics, callbacks_replayed, 1);
            OB_METRIC_ADD(c->wh_metrics[p->route_id], callbacks[0], 1);
            answer(c, p, OB_CALLBACK_OK, "");
            free(cb);
            return;
        }
    }
    for (size_t i = 0; i < cb->res.n_updates; i++) {
        if (!cb->res.updates[i].order_id[0]) {
            refuse(c, p, OB_CALLBACK_MALFORMED, "a report without an order id");
            free(cb);
            return;
        }
    }
    cb->owner = c;
    cb->p = p;
    if (c->cfg->kafka.topic_callbacks) {
        forward(c, cb);
        return;
    }
    cb->report.wh = p->route_id;
    cb->report.source = "callback";
    cb->report.updates = cb->res.updates;
    cb->report.n_updates = cb->res.n_updates;
    cb->report.done = on_report_done;
    ob_tracker_submit(c->tracker, &cb->report);
}

void ob_callbacks_run(struct ob_callbacks *c)
{
    struct ob_http_pending *batch[TAKE_BATCH];
    size_t n;

    if (!c)
        return;
    do {
        n = ob_http_server_take(c->server, batch, TAKE_BATCH);
        for (size_t i = 0; i < n; i++)
            handle(c, batch[i]);
    } while (n == TAKE_BATCH);
}

unsigned short ob_callbacks_port(const struct ob_callbacks *c)
{
    return c ? ob_http_server_port(c->server) : 0;
}

void ob_callbacks_set_readiness(struct ob_callbacks *c, int ready, const char *text)
{
    if (c)
        ob_http_server_set_readiness(c->server, ready, text);
}

/* Counters only grow: two scrapes rendering at once must not put an older
 * copy over a newer one. */
static void raise_to(_Atomic uint64_t *counter, uint64_t value)
{
    uint64_t seen = atomic_load_explicit(counter, memory_order_relaxed);

    while (seen < value && !atomic_compare_exchange_weak_explicit(
                               counter, &seen, value, memory_order_relaxed, memory_order_relaxed))
        ;
}

/* GET /metrics, on a server thread: the server's counters join the bridge's. */
static char *render_metrics(void *arg, const struct ob_http_server_stats *http, size_t *len)
{
    struct ob_metrics *m = arg;

    raise_to(&m->http_server_refused_per_ip, http->refused_per_ip);
    raise_to(&m->http_server_deadline_cut, http->deadline_cut);
    raise_to(&m->http_server_body_budget, http->body_budget);
    atomic_store_explicit(&m->http_server_body_bytes, http->body_bytes, memory_order_relaxed);
    return ob_metrics_text(m, len);
}

/* GET /api/..., on a server thread: the recent failures; a trace is not
 * served yet (404). */
static char *render_api(void *arg, const char *path, int *http_status, size_t *len)
{
    struct ob_callbacks *c = arg;

    if (strcmp(path, "/api/failures") == 0)
        return ob_metrics_failures_json(c->metrics, len);
    *http_status = 404; /* /api/trace/<order_id> included */
    return NULL;
}

int ob_callbacks_create(const struct ob_config *cfg, struct ob_adapter_instance *const *adapters,
                        struct ob_tracker *tracker, struct ob_producer *producer,
                        struct ob_metrics *metrics, int wake_fd, struct ob_callbacks **out,
                        char *errstr, size_t errstr_size)
{
    struct ob_callbacks *c = calloc(1, sizeof(*c));
    size_t n = 0;

    *out = NULL;
    if (!c || !(c->routes = calloc(cfg->n_warehouses + 1, sizeof(*c->routes)))) {
        snprintf(errstr, errstr_size, "out of memory");
        free(c);
        return -1;
    }
    c->cfg = cfg;
    c->adapters = adapters;
    c->tracker = tracker;
    c->producer = producer;
    c->metrics = metrics;
    if (!(c->wh_metrics = calloc(cfg->n_warehouses + 1, sizeof(*c->wh_metrics)))) {
        snprintf(errstr, errstr_size, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < cfg->n_warehouses; i++)
        if (!(c->wh_metrics[i] = ob_metrics_warehouse(metrics, cfg->warehouses[i].code,
                                                      adapters[i]->plugin.vt.name))) {
            snprintf(errstr, errstr_size, "out of memory");
            goto fail;
        }
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        const struct ob_warehouse_conf *w = &cfg->warehouses[i];
        if (!w->callback.path)
            continue;
        if (!adapters[i]->plugin.vt.decode_callback) {
            snprintf(errstr, errstr_size,
                     "warehouses.%s.callback: adapter %s does not take status callbacks", w->code,
                     w->adapter);
            goto fail;
        }
        c->routes[n++] = (struct ob_http_route){
            .prefix = w->callback.path,
            .id = (int)i,
            .allow_from = (const char *const *)w->callback.allow_from,
            .n_allow_from = w->callback.n_allow_from,
            .max_body = (size_t)w->callback.max_body_bytes,
        };
    }
    struct ob_http_server_options opt = {
        .listen = cfg->http.listen,
        .tls_cert = cfg->http.tls_cert,
        .tls_key = cfg->http.tls_key,
        .routes = c->routes,
        .n_routes = n,
        .max_pending = (size_t)cfg->http.max_pending,
        .wake_fd = wake_fd,
        .metrics = render_metrics,
        .metrics_arg = metrics,
        .api = render_api,
        .api_arg = c,
        .ops_listen = cfg->http.ops_listen,
        .max_connections = (unsigned)cfg->http.max_connections,
        .max_connections_per_ip = (unsigned)cfg->http.max_connections_per_ip,
        .request_timeout_ms = (unsigned)cfg->http.request_timeout_ms,
        .max_body_memory = (size_t)cfg->http.max_body_memory_bytes,
    };
    if (ob_http_server_start(&opt, &c->server, errstr, errstr_size) != 0)
        goto fail;
    if (cfg->http.ops_listen)
        OB_INFO("HTTP server on %s (port %u): %zu callback path(s); /metrics, /healthz, /readyz, "
                "/dashboard on %s (port %u)", cfg->http.listen, ob_http_server_port(c->server), n,
                cfg->http.ops_listen, ob_http_server_ops_port(c->server));
    else
        OB_INFO("HTTP server on %s (port %u): %zu callback path(s), /metrics, /healthz, /readyz, "
                "/dashboard",
                cfg->http.listen, ob_http_server_port(c->server), n);
    *out = c;
    return 0;
fail:
    free(c->routes);
    free(c->wh_metrics);
    free(c);
    return -1;
}

void ob_callbacks_destroy(struct ob_callbacks *c)
{
    if (!c)
        return;
    /* Their records were purged: the server answers them 503. */
    while (c->forwarding) {
        struct callback *cb = c->forwarding;
        c->forwarding = cb->next;
        free(cb);
    }
    ob_http_server_stop(c->server);
    free(c->routes);
    free(c->wh_metrics);
    free(c);
}
