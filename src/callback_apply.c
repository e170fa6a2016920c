/* callback_apply.c — records of the callbacks topic applied by the owner (see callback_apply.h). */
#include "callback_apply.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "callback_record.h"
#include "log.h"
#include "status.h" /* ob_mono_ms */

#define RETRY_MS 1000           /* the order's push is still in flight here */
#define UNKNOWN_RETRY_MS 5000   /* the order is unknown here: ask again ... */
#define UNKNOWN_GIVE_UP_MS 60000 /* ... for this long, */
#define UNKNOWN_MAX 10000        /* ... while fewer than this many wait so */

struct applied {
    struct ob_report report; /* first: done() gets it */
    struct ob_callback_apply *a;
    rd_kafka_message_t *msg;
    struct ob_ticket ticket;
    int in_tracker;
    uint64_t unknown_since; /* monotonic ms of the first "unknown order", 0: none */
    uint64_t due_ms;        /* when not in the tracker: submit again then */
    struct applied *prev, *next;
    struct ob_status_update updates[]; /* the record's: most have one */
};

struct ob_callback_apply {
    const struct ob_config *cfg;
    struct ob_tracker *tracker;
    struct ob_consumer *consumer;
    struct ob_metrics *metrics;
    struct applied *all;
    size_t n_unknown; /* waiting because their order is unknown here */
    int stopping;
};

struct ob_callback_apply *ob_callback_apply_create(const struct ob_config *cfg,
                                                   struct ob_tracker *tracker,
                                                   struct ob_consumer *consumer,
                                                   struct ob_metrics *metrics)
{
    struct ob_callback_apply *a = calloc(1, sizeof(*a));

    if (a) {
        a->cfg = cfg;
        a->tracker = tracker;
        a->consumer = consumer;
        a->metrics = metrics;
    }
    return a;
}

/* Forget ap; its offset is committable only when `done`. */
static void release(struct applied *ap, int done)
{
    struct ob_callback_apply *a = ap->a;

    if (ap->unknown_since)
        a->n_unknown--;
    if (done)
        ob_consumer_done(a->consumer, &ap->ticket);
    if (ap->prev)
        ap->prev->next = ap->next;
    else
        a->all = ap->next;
    if (ap->next)
        ap->next->prev = ap->prev;
    rd_kafka_message_destroy(ap->msg);
    free(ap);
}

static void on_report_done(struct ob_report *r)
{
    struct applied *ap = (struct applied *)r;
    struct ob_callback_apply *a = ap->a;
    uint64_t now = ob_mono_ms();

    ap->in_tracker = 0;
    if (r->verdict == OB_CALLBACK_OK) {
        OB_METRIC_ADD(a->metrics, callback_records_applied, 1);
        release(ap, 1);
        return;
    }
    if (a->stopping || !ap->ticket.part || ob_ticket_draining(&ap->ticket)) {
        release(ap, 0); /* uncommitted: its next owner applies it */
        return;
    }
    if (r->verdict == OB_CALLBACK_RETRY) {
        ap->due_ms = now + RETRY_MS;
        return;
    }
    if (!ap->unknown_since) {
        ap->unknown_since = now;
        a->n_unknown++;
    }
    if (now - ap->unknown_since < UNKNOWN_GIVE_UP_MS && a->n_unknown <= UNKNOWN_MAX) {
        ap->due_ms = now + UNKNOWN_RETRY_MS;
        return;
    }
    ob_log_event(OB_LOG_WARN,
                 OB_LOG_FIELDS(.order_id = ap->updates[0].order_id,
                               .warehouse = a->cfg->warehouses[r->wh].code,
                               .event = "unknown_order", .reason = "callback"),
                 "callback from %s about order %s: the order is unknown here after %.1f s%s; left "
                 "at %s [%" PRId32 "] offset %" PRId64,
                 a->cfg->warehouses[r->wh].code, ap->updates[0].order_id,
                 (double)(now - ap->unknown_since) / 1000,
                 a->n_unknown > UNKNOWN_MAX ? " (too many such callbacks wait)" : "",
                 rd_kafka_topic_name(ap->msg->rkt), ap->msg->partition, ap->msg->offset);
    OB_METRIC_ADD(a->metrics, callback_records_unknown, 1);
    release(ap, 1);
}

static int warehouse_index(const struct ob_config *cfg, const char *code)
{
    for (size_t i = 0; i < cfg->n_warehouses; i++)
        if (strcmp(cfg->warehouses[i].code, code) == 0)
            return (int)i;
    return -1;
}

static void submit(struct applied *ap)
{
    ap->in_tracker = 1;
    ob_tracker_submit(ap->a->tracker, &ap->report);
}

void ob_callback_apply_take(struct ob_callback_apply *a, rd_kafka_message_t *msg,
                            const struct ob_ticket *ticket)
{
    static struct ob_callback_record rec; /* the loop thread's: decoded here, then copied */
    struct applied *ap;
    char err[256];
    int wh = -1, decoded;

    decoded = ob_callback_record_decode(msg->key, msg->key_len, msg->payload, msg->len, &rec, err,
                                        sizeof(err)) == 0;
    if (decoded && (wh = warehouse_index(a->cfg, rec.warehouse)) < 0)
        snprintf(err, sizeof(err), "warehouse %s is not in this config", rec.warehouse);
    if (wh < 0) {
        ob_log_event(OB_LOG_WARN, OB_LOG_FIELDS(.event = "callback_record_refused", .reason = err),
                     "%s [%" PRId32 "] offset %" PRId64 ": callback record refused, left there: %s",
                     rd_kafka_topic_name(msg->rkt), msg->partition, msg->offset, err);
        OB_METRIC_ADD(a->metrics, callback_records_refused, 1);
        ob_consumer_done(a->consumer, ticket);
        rd_kafka_message_destroy(msg);
        return;
    }
    ap = calloc(1, sizeof(*ap) + rec.n_updates * sizeof(rec.updates[0]));
    if (!ap) {
        /* uncommitted: it comes back after a restart */
        OB_ERR("out of memory taking a callback record");
        rd_kafka_message_destroy(msg);
        return;
    }
    memcpy(ap->updates, rec.updates, rec.n_updates * sizeof(rec.updates[0]));
    ap->a = a;
    ap->msg = msg;
    ap->ticket = *ticket;
    ap->next = a->all;
    if (a->all)
        a->all->prev = ap;
    a->all = ap;
    ap->report.wh = wh;
    ap->report.source = "callback";
    ap->report.updates = ap->updates;
    ap->report.n_updates = rec.n_updates;
    ap->report.done = on_report_done;
    submit(ap);
}

uint64_t ob_callback_apply_run(struct ob_callback_apply *a, uint64_t now_ms)
{
    uint64_t next = 0;

    if (!a || a->stopping)
        return 0;
    for (struct applied *ap = a->all; ap; ap = ap->next) {
        if (ap->in_tracker)
            continue;
        if (ap->due_ms <= now_ms)
            submit(ap); /* done() comes later, from ob_tracker_finish() */
        else if (!next || ap->due_ms < next)
            next = ap->due_ms;
    }
    return next;
}

size_t ob_callback_apply_draining(const struct ob_callback_apply *a)
{
    size_t n = 0;

    for (const struct applied *ap = a ? a->all : NULL; ap; ap = ap->next)
        if (ap->in_tracker && ob_ticket_draining(&ap->ticket))
            n++;
    return n;
}

void ob_callback_apply_revoked(struct ob_callback_apply *a)
{
    struct applied *ap = a ? a->all : NULL;

    while (ap) {
        struct applied *next = ap->next;
        if (ob_ticket_draining(&ap->ticket)) {
            if (ap->in_tracker)
                ap->ticket.part = NULL;
            else
                release(ap, 0);
        }
        ap = next;
    }
}

void ob_callback_apply_stop(struct ob_callback_apply *a)
{
    if (a)
        a->stopping = 1;
}

void ob_callback_apply_destroy(struct ob_callback_apply *a)
{
    if (!a)
        return;
    while (a->all)
        release(a->all, 0);
    free(a);
}
