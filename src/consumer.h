/*
 * consumer.h — the orders consumer: a balanced consumer group whose offsets
 * advance only past finished orders.
 *
 * Auto-commit is off. Each message handed out gets a ticket; an offset
 * becomes committable once that message and every one before it in its
 * partition is done (gap-safe), so a crash replays unfinished orders and
 * never skips one. Commits are asynchronous while running and synchronous
 * on revoke and close.
 */
#ifndef OB_CONSUMER_H
#define OB_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "config.h"

struct ob_partition;

struct ob_ticket {
    struct ob_partition *part;
    uint64_t seq;
};

struct ob_consumer;

int ob_consumer_create(const struct ob_config *cfg, int wake_fd, struct ob_consumer **out,
                       char *errstr, size_t errstr_size);

/* Commit what is done, leave the group, free, all within timeout_ms (then
 * it goes without leaving the group). The revoke callback runs once more
 * for every partition still assigned. */
void ob_consumer_close(struct ob_consumer *c, int timeout_ms);

/* The next message, or NULL when none is waiting (never blocks). Serves
 * rebalances. Consumer errors are logged, not returned. The caller owns
 * the message and must ob_consumer_done() its ticket exactly once. */
rd_kafka_message_t *ob_consumer_next(struct ob_consumer *c, struct ob_ticket *ticket);

/* The same, from the express topic (kafka.topics.express) only: NULL when
 * none is waiting or none is configured. Served first, and never paused. */
rd_kafka_message_t *ob_consumer_next_express(struct ob_consumer *c, struct ob_ticket *ticket);

/* The message of `ticket` is finished: its outcome is final and in Kafka. */
void ob_consumer_done(struct ob_consumer *c, const struct ob_ticket *ticket);

/* Messages handed out whose offsets are not yet committable. */
size_t ob_consumer_outstanding(const struct ob_consumer *c);

/* Commit every partition whose committable offset moved. */
void ob_consumer_commit(struct ob_consumer *c, int sync);

/* Keep the ticket's partition paused (hold = 1) until as many hold = 0
 * calls: a message there waits for its not-before time, and so do the
 * ones behind it. Other partitions go on. */
void ob_consumer_hold(struct ob_consumer *c, const struct ob_ticket *t, int hold);

/* Called from inside the consumer's poll every 5 s (librdkafka's
 * statistics.interval.ms, overridable in kafka.consumer) with librdkafka's
 * statistics JSON. */
void ob_consumer_on_stats(struct ob_consumer *c,
                          void (*fn)(void *opaque, const char *json, size_t len), void *opaque);

/* Partitions (of every topic consumed) assigned to this member now. */
size_t ob_consumer_assigned(const struct ob_consumer *c);

/* Called from inside ob_consumer_next() when partitions are assigned,
 * with those of the orders topic, before anything of them is fetched: the
 * bridge restores their order state there (restore.h). */
void ob_consumer_on_assign(struct ob_consumer *c,
                           void (*fn)(void *opaque, const int32_t *orders_parts, size_t n),
                           void *opaque);

/*
 * Called from inside ob_consumer_next() when partitions are revoked, after
 * their tickets are marked draining and before their offsets are committed.
 * The callback finishes or parks what it can; when it returns, nobody may
 * use a draining ticket again (set ticket->part = NULL to keep a job alive
 * without it): the partitions are freed.
 */
void ob_consumer_on_revoke(struct ob_consumer *c, void (*fn)(void *opaque), void *opaque);

/* The ticket's partition is being revoked (or the consumer stops). */
int ob_ticket_draining(const struct ob_ticket *t);

/* The ticket's message came from the retry topic. */
int ob_ticket_from_retry(const struct ob_ticket *t);

/* The ticket's message came from the express topic. */
int ob_ticket_express(const struct ob_ticket *t);

/* The ticket's message came from the callbacks topic (kafka.topics.callbacks). */
int ob_ticket_callback(const struct ob_ticket *t);

/* Partition `partition` of the orders topic is assigned here. */
int ob_consumer_owns(const struct ob_consumer *c, int32_t partition);

/* Stop / restart fetching on every assigned partition (backpressure). */
void ob_consumer_pause(struct ob_consumer *c);
void ob_consumer_resume(struct ob_consumer *c);
int ob_consumer_paused(const struct ob_consumer *c);

#endif
