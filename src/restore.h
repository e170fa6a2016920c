/*
 * restore.h — an instance takes over the state of the orders it is given
 * (issue 13): on assignment of partitions of orders, before any of their
 * orders is taken, the records of kafka.topics.state in the same
 * partitions are read into the ledger, from its checkpoint (what it
 * already holds) to the end the partition had when the restore began.
 * Each record replaces its order's state (ob_ledger_apply_state); the
 * checkpoint then moves to that end, so a warm restart reads only what
 * came after.
 */
#ifndef OB_RESTORE_H
#define OB_RESTORE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "ledger.h"

struct ob_restore_stats {
    size_t partitions; /* read (the others had nothing after their checkpoint) */
    size_t records;    /* read */
    size_t refused;    /* not a state record (logged, skipped) */
    size_t bytes;
    double seconds;
};

/* At start: kafka.topics.state must exist with the partition count of
 * the orders topic (co-partitioned: an order's state is in the partition
 * numbered like the order's). Returns 0; -1 with a message in errstr when
 * it does not; 0 with a WARN when Kafka cannot be asked now. */
int ob_restore_check_topics(const struct ob_config *cfg, char *errstr, size_t errstr_size);

/* Restore `parts` of kafka.topics.state within timeout_ms. Returns 0, or
 * -1 with a message in errstr when a partition could not be read to its
 * end (what was read is applied; its checkpoint stays). */
int ob_restore(const struct ob_config *cfg, struct ob_ledger *ledger, const int32_t *parts,
               size_t n, int timeout_ms, struct ob_restore_stats *st, char *errstr,
               size_t errstr_size);

#endif
