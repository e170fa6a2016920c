/*
 * callback_apply.h — the owner's side of callbacks through Kafka
 * (kafka.topics.callbacks): each record of a partition this instance owns
 * (the same partition of orders is ours, so is the order's state) goes to
 * the tracker as a callback report. Its offset becomes committable once
 * the report is done: its events and the order's state record are in
 * Kafka, its track on disk.
 *
 * A report answered "retry" (the order's push is still in flight here) is
 * tried again after a second; one naming an order unknown here (its push
 * answer was lost and the order waits to be pushed again, say) for a
 * minute, then it is logged, counted and let go: the record stays in the
 * topic at its offset. A record that is not orderbridge.callback.v1, or
 * names a warehouse this config lacks, is logged, counted and let go.
 *
 * Runs on the bridge's loop thread.
 */
#ifndef OB_CALLBACK_APPLY_H
#define OB_CALLBACK_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "consumer.h"
#include "metrics.h"
#include "tracker.h"

struct ob_callback_apply;

struct ob_callback_apply *ob_callback_apply_create(const struct ob_config *cfg,
                                                   struct ob_tracker *tracker,
                                                   struct ob_consumer *consumer,
                                                   struct ob_metrics *metrics);

/* Take a record of the callbacks topic (msg and ticket are ours now). */
void ob_callback_apply_take(struct ob_callback_apply *a, rd_kafka_message_t *msg,
                            const struct ob_ticket *ticket);

/* Submit again the reports that are due; returns the monotonic ms of the
 * next one (0: none). */
uint64_t ob_callback_apply_run(struct ob_callback_apply *a, uint64_t now_ms);

/* Reports in the tracker whose partition is being revoked: the revoke
 * waits for them, so that the next owner restores what they wrote. */
size_t ob_callback_apply_draining(const struct ob_callback_apply *a);

/* End of a revoke: records of draining partitions that still wait are let
 * go uncommitted (the next owner applies them), reports still in the
 * tracker lose their ticket. */
void ob_callback_apply_revoked(struct ob_callback_apply *a);

/* Stopping: a report that finishes is not tried again. */
void ob_callback_apply_stop(struct ob_callback_apply *a);

/* Free every record (reports in the tracker must be finished: abort it
 * first). NULL is a no-op. */
void ob_callback_apply_destroy(struct ob_callback_apply *a);

#endif
