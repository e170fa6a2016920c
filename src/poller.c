/* poller.c — status polling (see poller.h). */
#include "poller.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#include "bulkhead.h"
#include "log.h"

#define WALK_PER_RUN 1000 /* tracks examined per warehouse per loop turn */

struct polled;

/* One query in flight, then its report. */
struct query {
    struct ob_report report; /* first: done() gets it */
    struct polled *w;
    struct query *prev, *next;
    char order_id[65];
    char warehouse_order_id[128];
    char idempotency_key[65];
    int current;
    struct ob_status_update updates[OB_REPORT_MAX];
    struct ob_http_call call; /* last: its buffers need no zeroing */
};

/* A warehouse that is polled. */
struct polled {
    struct ob_poller *p;
    int wh;
    const struct ob_warehouse_conf *conf;
    struct ob_adapter_instance *adapter;
    struct ob_wh_metrics *m;
    struct ob_token_bucket bucket;
    int in_flight;
    int sweeping;
    char cursor[65];      /* the order the sweep examined last */
    uint64_t next_sweep;  /* monotonic ms */
    uint64_t blocked_until; /* rate limit: monotonic ms */
};

struct ob_poller {
    struct ob_ledger *ledger;
    struct ob_dispatch *dispatch;
    struct ob_tracker *tracker;
    struct ob_metrics *metrics;
    struct polled *w;
    size_t n;
    struct query *queries; /* every live query */
    int (*owns)(void *arg, const char *order_id); /* NULL: every order is polled here */
    void *owns_arg;
};

static void query_free(struct query *q)
{
    struct ob_poller *p = q->w->p;

    if (q->prev)
        q->prev->next = q->next;
    else
        p->queries = q->next;
    if (q->next)
        q->next->prev = q->prev;
    q->w->in_flight--;
    ob_http_call_reset(&q->call);
    free(q);
}

static void on_report_done(struct ob_report *r)
{
    query_free((struct query *)r);
}

static void on_answer(struct ob_http_call *call)
{
    struct query *q = (struct query *)((char *)call - offsetof(struct query, call));
    struct polled *w = q->w;
    const struct ob_adapter_instance *ad = w->adapter;
    struct ob_poll_target target = {
        .order_id = q->order_id,
        .warehouse_order_id = q->warehouse_order_id,
        .idempotency_key = q->idempotency_key,
        .current = (enum ob_fulfillment_status)q->current,
    };
    char errstr[256] = "";
    int n;

    n = ad->plugin.vt.poll_decode(ad->state, &target, &call->resp, q->updates, OB_REPORT_MAX,
                                  errstr, sizeof errstr);
    if (n < 0) {
        OB_METRIC_ADD(w->p->metrics, poll_errors, 1);
        OB_METRIC_ADD(w->m, polls[1], 1);
        ob_log_event(OB_LOG_DEBUG,
                     OB_LOG_FIELDS(.order_id = q->order_id, .warehouse = w->conf->code,
                                   .event = "poll_failed",
                                   .reason = call->resp.status ? errstr
                                                               : call->resp.transport_error),
                     "status query of order %s at %s: %s", q->order_id, w->conf->code,
                     call->resp.status ? errstr : call->resp.transport_error);
        query_free(q);
        return;
    }
    OB_METRIC_ADD(w->m, polls[0], 1);
    if (n > OB_REPORT_MAX)
        n = OB_REPORT_MAX; /* the adapter broke its promise: keep what fits */
    for (int i = 0; i < n; i++) /* it is about this order, whatever the answer says */
        ob_strlcpyf(q->updates[i].order_id, sizeof q->updates[i].order_id, "%s", q->order_id);
    q->report.wh = w->wh;
    q->report.source = "poll";
    q->report.updates = q->updates;
    q->report.n_updates = (size_t)n;
    q->report.done = on_report_done;
    ob_tracker_submit(w->p->tracker, &q->report);
}

/* Start the query of one order. Returns 0, or -1 (logged) when it cannot. */
static int query_start(struct polled *w, const char *order_id, const struct ob_track *track)
{
    struct ob_poller *p = w->p;
    const struct ob_adapter_instance *ad = w->adapter;
    struct query *q = calloc(1, sizeof(*q));
    char errstr[256] = "";

    if (!q)
        return -1;
    q->w = w;
    ob_strlcpyf(q->order_id, sizeof q->order_id, "%s", order_id);
    ob_strlcpyf(q->warehouse_order_id, sizeof q->warehouse_order_id, "%s",
                track->warehouse_order_id);
    ob_strlcpyf(q->idempotency_key, sizeof q->idempotency_key, "%s", track->idempotency_key);
    q->current = track->current;
    struct ob_poll_target target = {
        .order_id = q->order_id,
        .warehouse_order_id = q->warehouse_order_id,
        .idempotency_key = q->idempotency_key,
        .current = (enum ob_fulfillment_status)q->current,
    };
    if (ad->plugin.vt.poll_encode(ad->state, &target, &q->call.req, errstr, sizeof errstr) != 0) {
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.order_id = order_id, .warehouse = w->conf->code,
                                   .event = "poll_failed", .reason = errstr),
                     "cannot build the status query of order %s for %s: %s", order_id,
                     w->conf->code, errstr);
        ob_http_call_reset(&q->call);
        free(q);
        return -1;
    }
    q->call.connect_timeout_ms = w->conf->connect_timeout_ms;
    q->call.timeout_ms = w->conf->timeout_ms;
    q->call.tls = &w->conf->tls;
    q->call.done = on_answer;
    q->next = p->queries;
    if (p->queries)
        p->queries->prev = q;
    p->queries = q;
    w->in_flight++;
    if (ob_dispatch_submit(p->dispatch, &q->call) != 0) {
        OB_METRIC_ADD(p->metrics, poll_errors, 1);
        OB_METRIC_ADD(w->m, polls[1], 1);
        query_free(q);
        return -1;
    }
    OB_METRIC_ADD(p->metrics, polls, 1);
    return 0;
}

static uint64_t run_one(struct polled *w, uint64_t now_us)
{
    uint64_t now_ms = now_us / 1000;
    struct ob_poller *p = w->p;
    struct ob_track track;
    size_t walked = 0;

    if (!w->sweeping) {
        if (now_ms < w->next_sweep)
            return w->next_sweep;
        w->sweeping = 1;
        w->cursor[0] = '\0';
        w->next_sweep = now_ms + (uint64_t)w->conf->poll.interval_ms;
    }
    if (now_ms < w->blocked_until)
        return w->blocked_until;
    while (w->in_flight < w->conf->poll.max_in_flight && walked < WALK_PER_RUN) {
        char next[65];
        uint64_t wait_us;

        memcpy(next, w->cursor, sizeof next);
        int rc = ob_ledger_track_next(p->ledger, w->conf->code, next, &track);
        if (rc <= 0) {
            w->sweeping = 0; /* done (or the ledger failed): again next interval */
            return w->next_sweep;
        }
        walked++;
        if (track.terminal || (p->owns && !p->owns(p->owns_arg, next))) {
            memcpy(w->cursor, next, sizeof next);
            continue;
        }
        if (!ob_bucket_take(&w->bucket, now_us, &wait_us)) {
            w->blocked_until = now_ms + wait_us / 1000 + 1;
            return w->blocked_until;
        }
        memcpy(w->cursor, next, sizeof next);
        query_start(w, next, &track);
    }
    /* full, or walked enough for one turn: come back soon */
    return w->in_flight < w->conf->poll.max_in_flight ? now_ms + 1 : 0;
}

uint64_t ob_poller_run(struct ob_poller *p, uint64_t now_us)
{
    uint64_t next = 0;

    for (size_t i = 0; p && i < p->n; i++) {
        uint64_t due = run_one(&p->w[i], now_us);
        if (due && (!next || due < next))
            next = due;
    }
    return next;
}

int ob_poller_create(const struct ob_config *cfg, struct ob_adapter_instance *const *adapters,
                     struct ob_ledger *ledger, struct ob_dispatch *dispatch,
                     struct ob_tracker *tracker, struct ob_metrics *metrics,
                     struct ob_poller **out, char *errstr, size_t errstr_size)
{
    struct ob_poller *p;
    size_t n = 0;

    *out = NULL;
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        const struct ob_warehouse_conf *w = &cfg->warehouses[i];
        if (!w->poll.interval_ms)
            continue;
        if (!adapters[i]->plugin.vt.poll_encode || !adapters[i]->plugin.vt.poll_decode) {
            snprintf(errstr, errstr_size, "warehouses.%s.poll: adapter %s cannot be polled",
                     w->code, w->adapter);
            return -1;
        }
        n++;
    }
    if (n == 0 || !ledger)
        return 0;
    p = calloc(1, sizeof(*p));
    if (!p || !(p->w = calloc(n, sizeof(*p->w)))) {
        free(p);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    p->ledger = ledger;
    p->dispatch = dispatch;
    p->tracker = tracker;
    p->metrics = metrics;
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        const struct ob_warehouse_conf *w = &cfg->warehouses[i];
        if (!w->poll.interval_ms)
            continue;
        struct polled *pw = &p->w[p->n++];
        pw->p = p;
        pw->wh = (int)i;
        pw->conf = w;
        pw->adapter = adapters[i];
        if (!(pw->m = ob_metrics_warehouse(metrics, w->code, adapters[i]->plugin.vt.name))) {
            ob_poller_destroy(p);
            snprintf(errstr, errstr_size, "out of memory");
            return -1;
        }
        /* full from the start; the first take brings the loop's clock */
        ob_bucket_init(&pw->bucket, w->poll.per_second,
                       w->poll.per_second > 1 ? w->poll.per_second : 1, 0);
    }
    *out = p;
    return 0;
}

void ob_poller_set_owner(struct ob_poller *p, int (*owns)(void *arg, const char *order_id),
                         void *arg)
{
    if (p) {
        p->owns = owns;
        p->owns_arg = arg;
    }
}

void ob_poller_destroy(struct ob_poller *p)
{
    if (!p)
        return;
    while (p->queries) {
        ob_dispatch_abort(p->dispatch, &p->queries->call);
        query_free(p->queries);
    }
    free(p->w);
    free(p);
}
