/* tracker.c — status reports after the push (see tracker.h). */
#include "tracker.h"

#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#include "hash.h"
#include "log.h"
#include "state_record.h"
#include "status.h"
#include "track.h"

#define BUSY_BUCKETS 4096 /* a power of two */
#define KEY_LEN (64 + 1 + 65)

/* An order some report is emitting for, and the reports waiting for it. */
struct busy {
    struct busy *next;
    struct ob_report *holder;
    struct ob_report *wait_head, *wait_tail;
    char key[KEY_LEN]; /* "<warehouse>\x1f<order_id>" */
};

struct ob_tracker {
    const struct ob_config *cfg;
    struct ob_ledger *ledger;
    struct ob_producer *producer;
    struct ob_metrics *metrics;
    struct ob_wh_metrics **wh_metrics; /* by warehouse index */
    int (*in_flight)(void *arg, const char *order_id);
    void *arg;
    struct busy *buckets[BUSY_BUCKETS];
    struct ob_report *all;  /* not finished */
    size_t n_live;
    struct ob_report *finished_head, *finished_tail;
};

static const char *wh_code(const struct ob_tracker *t, int wh)
{
    return t->cfg->warehouses[wh].code;
}

static void busy_key(const struct ob_tracker *t, int wh, const char *order_id, char out[KEY_LEN])
{
    ob_strlcpyf(out, KEY_LEN, "%.64s\x1f%s", wh_code(t, wh), order_id);
}

static size_t key_bucket(const char *key)
{
    return ob_fnv1a_str(OB_FNV1A_OFFSET, key) & (BUSY_BUCKETS - 1);
}

static struct busy *busy_find(struct ob_tracker *t, const char *key)
{
    for (struct busy *b = t->buckets[key_bucket(key)]; b; b = b->next)
        if (strcmp(b->key, key) == 0)
            return b;
    return NULL;
}

int ob_tracker_create(const struct ob_config *cfg, struct ob_ledger *ledger,
                      struct ob_producer *producer, struct ob_metrics *metrics,
                      int (*in_flight)(void *arg, const char *order_id), void *arg,
                      struct ob_tracker **out)
{
    struct ob_tracker *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (!t)
        return -1;
    t->cfg = cfg;
    t->ledger = ledger;
    t->producer = producer;
    t->metrics = metrics;
    t->in_flight = in_flight;
    t->arg = arg;
    t->wh_metrics = calloc(cfg->n_warehouses + 1, sizeof(*t->wh_metrics));
    for (size_t i = 0; t->wh_metrics && i < cfg->n_warehouses; i++)
        if (!(t->wh_metrics[i] = ob_metrics_warehouse(metrics, cfg->warehouses[i].code, NULL)))
            break;
    if (!t->wh_metrics || (cfg->n_warehouses && !t->wh_metrics[cfg->n_warehouses - 1])) {
        free(t->wh_metrics);
        free(t);
        return -1;
    }
    *out = t;
    return 0;
}

void ob_tracker_accepted_track(struct ob_tracker *t, int wh, const char *order_id,
                               int64_t revision, const char *idempotency_key,
                               const char *warehouse_order_id, struct ob_track *out)
{
    if (ob_ledger_track_get(t->ledger, wh_code(t, wh), order_id, out) == 1) {
        /* a redelivery or a new revision: keep what was reported */
        out->revision = revision > out->revision ? revision : out->revision;
        if (warehouse_order_id && *warehouse_order_id)
            ob_strlcpyf(out->warehouse_order_id, sizeof out->warehouse_order_id, "%s",
                        warehouse_order_id);
    } else {
        ob_track_init(out, revision, idempotency_key, warehouse_order_id);
    }
}

void ob_tracker_accepted(struct ob_tracker *t, int wh, const char *order_id, int64_t revision,
                         const char *idempotency_key, const char *warehouse_order_id)
{
    struct ob_track track;

    if (!t || !t->ledger)
        return;
    ob_tracker_accepted_track(t, wh, order_id, revision, idempotency_key, warehouse_order_id,
                              &track);
    ob_ledger_track_put(t->ledger, wh_code(t, wh), order_id, &track);
}

/* ---- holding orders ------------------------------------------------------ */

/* Hold every order of r, or, when one is held by another report, join its
 * wait list and return 0. */
static int hold_orders(struct ob_tracker *t, struct ob_report *r)
{
    char key[KEY_LEN];

    for (size_t i = 0; i < r->n_updates; i++) {
        busy_key(t, r->wh, r->updates[i].order_id, key);
        struct busy *b = busy_find(t, key);
        if (b && b->holder != r) {
            r->next = NULL;
            if (b->wait_tail)
                b->wait_tail->next = r;
            else
                b->wait_head = r;
            b->wait_tail = r;
            return 0;
        }
    }
    for (size_t i = 0; i < r->n_updates; i++) {
        busy_key(t, r->wh, r->updates[i].order_id, key);
        if (busy_find(t, key))
            continue; /* a second update of the same order */
        struct busy *b = calloc(1, sizeof(*b));
        if (!b)
            continue; /* out of memory: that order is just not serialized */
        memcpy(b->key, key, sizeof key);
        b->holder = r;
        size_t h = key_bucket(key);
        b->next = t->buckets[h];
        t->buckets[h] = b;
    }
    r->held = 1;
    return 1;
}

static void start(struct ob_tracker *t, struct ob_report *r);

/* Let go of r's orders; the first report waiting on each starts again. */
static void release_orders(struct ob_tracker *t, struct ob_report *r)
{
    char key[KEY_LEN];
    struct ob_report *wake = NULL, **tail = &wake;

    if (!r->held)
        return;
    r->held = 0;
    for (size_t i = 0; i < r->n_updates; i++) {
        busy_key(t, r->wh, r->updates[i].order_id, key);
        struct busy **pp = &t->buckets[key_bucket(key)];
        while (*pp && strcmp((*pp)->key, key) != 0)
            pp = &(*pp)->next;
        struct busy *b = *pp;
        if (!b || b->holder != r)
            continue;
        *pp = b->next;
        /* every waiter tries again: the first one to run holds the order */
        *tail = b->wait_head;
        while (*tail)
            tail = &(*tail)->next;
        free(b);
    }
    while (wake) {
        struct ob_report *w = wake;
        wake = w->next;
        w->next = NULL;
        start(t, w);
    }
}

/* ---- one report ---------------------------------------------------------- */

static void finish(struct ob_tracker *t, struct ob_report *r)
{
    release_orders(t, r);
    if (r->failed)
        r->verdict = OB_CALLBACK_RETRY;
    else if (r->n_updates > 0 && r->unknown == r->n_updates)
        r->verdict = OB_CALLBACK_UNKNOWN_ORDER;
    else
        r->verdict = OB_CALLBACK_OK;
    if (r->all_prev)
        r->all_prev->all_next = r->all_next;
    else
        t->all = r->all_next;
    if (r->all_next)
        r->all_next->all_prev = r->all_prev;
    r->all_prev = r->all_next = NULL;
    t->n_live--;
    r->next = NULL;
    if (t->finished_tail)
        t->finished_tail->next = r;
    else
        t->finished_head = r;
    t->finished_tail = r;
}

static rd_kafka_resp_err_t emit(struct ob_tracker *t, struct ob_report *r, size_t i,
                                const struct ob_track *track)
{
    const struct ob_status_update *u = &r->updates[i];
    int unmapped = u->status == OB_STATUS_UNMAPPED;
    char when[32];
    struct ob_status_event ev = {
        .order_id = u->order_id,
        .revision = track->revision,
        .warehouse = wh_code(t, r->wh),
        .status = ob_fulfillment_status_name(unmapped ? track->current : (int)u->status),
        .occurred_at = NULL,
        .warehouse_order_id = u->warehouse_order_id[0] ? u->warehouse_order_id
                                                       : track->warehouse_order_id,
        .carrier = u->carrier,
        .tracking_no = u->tracking_no,
        .reason = u->reason,
        .source = r->source,
        .idempotency_key = track->idempotency_key,
        .raw_code = u->raw_code,
        .raw_text = u->raw_text,
        .unmapped = unmapped,
    };

    if (u->occurred_at_ms) {
        ob_format_time(u->occurred_at_ms, when);
        ev.occurred_at = when;
    }
    r->em[i] = (struct ob_emission){.tag = OB_TRACKER_TAG, .report = r, .index = i};
    return ob_producer_status(t->producer, &ev, &r->em[i]);
}

/* Decide every update against its order's track (staged writes included:
 * what earlier reports recorded) and emit what is new. */
static void start(struct ob_tracker *t, struct ob_report *r)
{
    struct ob_track track;

    if (!hold_orders(t, r))
        return; /* starts again when the order is let go */
    for (size_t i = 0; i < r->n_updates && !r->failed; i++) {
        const struct ob_status_update *u = &r->updates[i];
        const char *code = wh_code(t, r->wh);
        int found = ob_ledger_track_get(t->ledger, code, u->order_id, &track);

        if (found != 1) {
            if (t->in_flight && t->in_flight(t->arg, u->order_id)) {
                r->failed = 1; /* the push's answer is not in yet: ask again later */
                break;
            }
            r->unknown++;
            OB_METRIC_ADD(t->metrics, reports_unknown_order, 1);
            ob_log_event(OB_LOG_WARN,
                         OB_LOG_FIELDS(.order_id = u->order_id, .warehouse = code,
                                       .event = "unknown_order", .reason = r->source),
                         "%s report from %s names order %s, which this bridge did not push there",
                         r->source, code, u->order_id);
            continue;
        }
        /* What earlier emissions of this report did is in the ledger only
         * once acknowledged: replay them on the copy. */
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->updates[j].order_id, u->order_id) == 0)
                ob_track_apply(&track, &r->updates[j]);
        enum ob_track_verdict v = ob_track_apply(&track, u);
        if (v == OB_TRACK_REPEAT) {
            r->repeats++;
            OB_METRIC_ADD(t->metrics, reports_repeated, 1);
            continue;
        }
        if (v == OB_TRACK_EMIT_LATE)
            OB_METRIC_ADD(t->metrics, reports_late, 1);
        if (u->status == OB_STATUS_UNMAPPED)
            OB_METRIC_ADD(t->metrics, reports_unmapped, 1);
        rd_kafka_resp_err_t err = emit(t, r, i, &track);
        if (err) {
            ob_log_event(OB_LOG_WARN,
                         OB_LOG_FIELDS(.order_id = u->order_id, .warehouse = code,
                                       .event = "produce_failed"),
                         "cannot queue a status event of order %s: %s", u->order_id,
                         rd_kafka_err2str(err));
            OB_METRIC_ADD(t->metrics, produce_errors, 1);
            r->failed = 1;
            break;
        }
        r->pending++;
    }
    if (r->pending == 0)
        finish(t, r);
}

void ob_tracker_submit(struct ob_tracker *t, struct ob_report *r)
{
    r->verdict = 0;
    r->emitted = r->repeats = r->unknown = r->pending = 0;
    r->failed = r->held = r->marked = 0;
    memset(r->moved, 0, sizeof(r->moved));
    r->next = NULL;
    if (r->n_updates > OB_REPORT_MAX)
        r->n_updates = OB_REPORT_MAX;
    r->all_prev = NULL;
    r->all_next = t->all;
    if (t->all)
        t->all->all_prev = r;
    t->all = r;
    t->n_live++;
    if (!t->ledger) {
        r->unknown = r->n_updates;
        finish(t, r);
        return;
    }
    start(t, r);
}

/* With kafka.topics.state: once every event of r is in Kafka and its
 * tracks moved, the state of each order it moved goes to the changelog;
 * the warehouse hears success only once Kafka has those too, so a new
 * owner of the order knows what was emitted. Returns how many were queued. */
static size_t send_states(struct ob_tracker *t, struct ob_report *r)
{
    static struct ob_order_state s; /* the loop thread's */
    size_t queued = 0;

    if (!t->cfg->kafka.topic_state || r->failed)
        return 0;
    for (size_t i = 0; i < r->n_updates; i++) {
        const char *id = r->updates[i].order_id;
        size_t j = 0, len;
        char *value;
        if (!r->moved[i])
            continue;
        while (j < i && !(r->moved[j] && strcmp(r->updates[j].order_id, id) == 0))
            j++;
        if (j < i)
            continue; /* this order's record is queued already */
        if (ob_ledger_order_state(t->ledger, id, &s) < 0 || !(value = ob_state_encode(&s, &len))) {
            ob_log_event(OB_LOG_WARN, OB_LOG_FIELDS(.order_id = id, .event = "produce_failed"),
                         "the state record of order %s cannot be made; the warehouse is asked "
                         "to report again", id);
            r->failed = 1;
            break;
        }
        r->state_em[i] = (struct ob_emission){.tag = OB_TRACKER_TAG, .report = r, .index = i,
                                              .state = 1};
        rd_kafka_resp_err_t err = ob_producer_state(t->producer, id, value, len, &r->state_em[i]);
        free(value);
        if (err) {
            ob_log_event(OB_LOG_WARN, OB_LOG_FIELDS(.order_id = id, .event = "produce_failed"),
                         "cannot queue the state record of order %s: %s", id,
                         rd_kafka_err2str(err));
            OB_METRIC_ADD(t->metrics, produce_errors, 1);
            r->failed = 1;
            break;
        }
        queued++;
    }
    return queued;
}

static void state_delivered(struct ob_tracker *t, struct ob_emission *em,
                            rd_kafka_resp_err_t err, int32_t partition, int64_t offset)
{
    struct ob_report *r = em->report;

    if (err) {
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.order_id = r->updates[em->index].order_id,
                                   .event = "produce_failed"),
                     "state record of order %s not delivered: %s", r->updates[em->index].order_id,
                     rd_kafka_err2str(err));
        OB_METRIC_ADD(t->metrics, produce_errors, 1);
        r->failed = 1;
    } else {
        OB_METRIC_ADD(t->metrics, state_records, 1);
        ob_ledger_set_checkpoint(t->ledger, t->cfg->kafka.topic_state, partition, offset + 1);
    }
    if (--r->pending == 0)
        finish(t, r);
}

void ob_tracker_delivered(struct ob_tracker *t, struct ob_emission *em, rd_kafka_resp_err_t err,
                          int32_t partition, int64_t offset)
{
    struct ob_report *r = em->report;
    const struct ob_status_update *u = &r->updates[em->index];
    struct ob_track track;

    if (em->state) {
        state_delivered(t, em, err, partition, offset);
        return;
    }
    if (err) {
        ob_log_event(OB_LOG_WARN,
                     OB_LOG_FIELDS(.order_id = u->order_id, .warehouse = wh_code(t, r->wh),
                                   .event = "produce_failed"),
                     "status event of order %s not delivered: %s", u->order_id,
                     rd_kafka_err2str(err));
        OB_METRIC_ADD(t->metrics, produce_errors, 1);
        r->failed = 1;
    } else {
        /* In Kafka: now the track remembers it. A write the ledger loses
         * before its flush shows in ob_ledger_lost(): see ob_tracker_finish(). */
        if (!r->marked) {
            r->lost_mark = ob_ledger_lost(t->ledger);
            r->marked = 1;
        }
        if (ob_ledger_track_get(t->ledger, wh_code(t, r->wh), u->order_id, &track) == 1) {
            ob_track_apply(&track, u);
            if (ob_ledger_track_put(t->ledger, wh_code(t, r->wh), u->order_id, &track) != 0)
                r->failed = 1;
            else
                r->moved[em->index] = 1;
        }
        r->emitted++;
        ob_log_event(OB_LOG_DEBUG,
                     OB_LOG_FIELDS(.order_id = u->order_id, .warehouse = wh_code(t, r->wh),
                                   .event = "status_emitted", .reason = u->reason),
                     "status %s of order %s at %s emitted (%s code %s)",
                     ob_fulfillment_status_name((int)u->status), u->order_id, wh_code(t, r->wh),
                     r->source, u->raw_code);
        OB_METRIC_ADD(t->metrics, reports_emitted, 1);
        OB_METRIC_ADD(t->metrics, status_events, 1);
        OB_METRIC_ADD(t->wh_metrics[r->wh], statuses, 1);
    }
    if (--r->pending > 0)
        return;
    r->pending = send_states(t, r);
    if (r->pending == 0)
        finish(t, r);
}

void ob_tracker_finish(struct ob_tracker *t)
{
    while (t && t->finished_head) {
        struct ob_report *r = t->finished_head;
        t->finished_head = r->next;
        if (!t->finished_head)
            t->finished_tail = NULL;
        r->next = NULL;
        /* The events are in Kafka, but a track the ledger lost would let a
         * repeat of this report emit them again: let the warehouse send it
         * again, which emits only what the ledger does not have. */
        if (r->verdict == OB_CALLBACK_OK && r->marked && ob_ledger_lost(t->ledger) != r->lost_mark)
            r->verdict = OB_CALLBACK_RETRY;
        r->done(r);
    }
}

size_t ob_tracker_pending(const struct ob_tracker *t)
{
    return t ? t->n_live + (t->finished_head != NULL) : 0;
}

void ob_tracker_abort(struct ob_tracker *t)
{
    if (!t)
        return;
    /* Waiting reports hold nothing; emitting ones may have records queued,
     * which the caller has purged: finish them all as failed. */
    while (t->all) {
        struct ob_report *r = t->all;
        r->failed = 1;
        r->pending = 0;
        r->held = 0; /* the busy entries go below */
        finish(t, r);
    }
    for (size_t i = 0; i < BUSY_BUCKETS; i++) {
        while (t->buckets[i]) {
            struct busy *b = t->buckets[i];
            t->buckets[i] = b->next;
            free(b);
        }
    }
    ob_tracker_finish(t);
}

void ob_tracker_destroy(struct ob_tracker *t)
{
    if (!t)
        return;
    ob_tracker_abort(t);
    free(t->wh_metrics);
    free(t);
}
