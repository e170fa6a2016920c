/*
 * tracker.h — status reports after the push (callbacks and polls): each is
 * decided against its order's track (track.h), what is new is emitted to
 * the status topic (key = order_id), and the track records an event only
 * once Kafka has acknowledged it.
 *
 * Reports about one order are handled one at a time, in arrival order: a
 * report naming an order another report is still emitting for waits for
 * it. So a status is never emitted twice by two deliveries of the same
 * callback arriving together.
 *
 * Runs on the bridge's loop thread only.
 */
#ifndef OB_TRACKER_H
#define OB_TRACKER_H

#include <stddef.h>

#include <orderbridge/adapter.h>

#include "config.h"
#include "ledger.h"
#include "metrics.h"
#include "producer.h"

/* The first member of a tracker record's opaque: tells the bridge's
 * delivery callback to hand the report to ob_tracker_delivered(). */
#define OB_TRACKER_TAG 0x7472616b

#define OB_REPORT_MAX 32

struct ob_report;

/* One emission of a report, the opaque of its Kafka record. */
struct ob_emission {
    int tag; /* OB_TRACKER_TAG */
    struct ob_report *report;
    size_t index; /* into updates[] */
    int state;    /* the order's state record (kafka.topics.state), not a status event */
};

struct ob_report {
    int wh;             /* warehouse index */
    const char *source; /* "callback" or "poll" */
    struct ob_status_update *updates;
    size_t n_updates;   /* at most OB_REPORT_MAX */
    void (*done)(struct ob_report *r); /* once, from ob_tracker_finish() */

    /* results, valid in done() */
    enum ob_callback_verdict verdict; /* OK, UNKNOWN_ORDER or RETRY */
    size_t emitted, repeats, unknown;

    /* private */
    struct ob_report *next;               /* in a wait list or the finished list */
    struct ob_report *all_prev, *all_next; /* every report not yet finished */
    size_t pending; /* emissions not yet acknowledged */
    int failed;
    int held;       /* holds its orders */
    int marked;     /* lost_mark is set */
    unsigned long lost_mark; /* ob_ledger_lost() before its first track write */
    unsigned char moved[OB_REPORT_MAX]; /* updates[i]'s event is in Kafka, its track changed */
    struct ob_emission em[OB_REPORT_MAX], state_em[OB_REPORT_MAX];
};

struct ob_tracker;

/* in_flight(arg, order_id): 1 when the bridge is still pushing that order
 * (a callback may overtake the push's own answer: it is then answered
 * "retry", not "unknown order"). */
int ob_tracker_create(const struct ob_config *cfg, struct ob_ledger *ledger,
                      struct ob_producer *producer, struct ob_metrics *metrics,
                      int (*in_flight)(void *arg, const char *order_id), void *arg,
                      struct ob_tracker **out);

/* Free; reports not finished are finished as RETRY first. */
void ob_tracker_destroy(struct ob_tracker *t);

/* An order was accepted by warehouse `wh` and the ACCEPTED event is in
 * Kafka: start (or refresh) its track. */
void ob_tracker_accepted(struct ob_tracker *t, int wh, const char *order_id, int64_t revision,
                         const char *idempotency_key, const char *warehouse_order_id);

/* The track ob_tracker_accepted() would store, into out (nothing stored). */
void ob_tracker_accepted_track(struct ob_tracker *t, int wh, const char *order_id,
                               int64_t revision, const char *idempotency_key,
                               const char *warehouse_order_id, struct ob_track *out);

/* Start handling `r` (its updates stay the caller's until done()). */
void ob_tracker_submit(struct ob_tracker *t, struct ob_report *r);

/* The delivery report of an emission (partition and offset: where it went). */
void ob_tracker_delivered(struct ob_tracker *t, struct ob_emission *em, rd_kafka_resp_err_t err,
                          int32_t partition, int64_t offset);

/* Call done() of the reports finished so far. The loop calls it right
 * after flushing the ledger, so a warehouse hears "success" only once the
 * event is in Kafka and its track on disk. */
void ob_tracker_finish(struct ob_tracker *t);

/* Reports not finished yet. */
size_t ob_tracker_pending(const struct ob_tracker *t);

/* Finish every report at once as RETRY (shutdown). */
void ob_tracker_abort(struct ob_tracker *t);

#endif
