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

/* Commit what is done (synchronously), leave the group, free. */
void ob_consumer_close(struct ob_consumer *c);

/* The next message, or NULL when none is waiting (never blocks). Serves
 * rebalances. Consumer errors are logged, not returned. The caller owns
 * the message and must ob_consumer_done() its ticket exactly once. */
rd_kafka_message_t *ob_consumer_next(struct ob_consumer *c, struct ob_ticket *ticket);

/* The message of `ticket` is finished: its outcome is final and in Kafka. */
void ob_consumer_done(struct ob_consumer *c, const struct ob_ticket *ticket);

/* Messages handed out whose offsets are not yet committable. */
size_t ob_consumer_outstanding(const struct ob_consumer *c);

/* Commit every partition whose committable offset moved. */
void ob_consumer_commit(struct ob_consumer *c, int sync);

/* Stop / restart fetching on every assigned partition (backpressure). */
void ob_consumer_pause(struct ob_consumer *c);
void ob_consumer_resume(struct ob_consumer *c);
int ob_consumer_paused(const struct ob_consumer *c);

#endif
