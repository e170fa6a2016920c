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
 * it does not; 0 with a WARN when Kafka cannot be asked now. The same for
 * kafka.topics.callbacks when set. *orders_partitions gets the partition
 * count of orders (0 when Kafka could not be asked). */
int ob_restore_check_topics(const struct ob_config *cfg, int *orders_partitions, char *errstr,
                            size_t errstr_size);

/* Restore `parts` of kafka.topics.state within timeout_ms. Returns 0, or
 * -1 with a message in errstr when a partition could not be read to its
 * end (what was read is applied; its checkpoint stays). */
int ob_restore(const struct ob_config *cfg, struct ob_ledger *ledger, const int32_t *parts,
               size_t n, int timeout_ms, struct ob_restore_stats *st, char *errstr,
               size_t errstr_size);

/* Upgrade of a ledger written before kafka.topics.state (once per ledger,
 * at start, before the group is joined): every accepted order it knows
 * (a track, with its delivery) is indexed by order and its state written
 * to the changelog, so the instance that owns it next restores it. Orders
 * that were not accepted (rejected, dead-lettered) keep their delivery
 * entry here only: nothing in it names their order. Returns 0 (also when
 * done before; *orders is then 0), or -1 with errstr (run again at the
 * next start). */
int ob_restore_migrate(const struct ob_config *cfg, struct ob_ledger *ledger, size_t *orders,
                       char *errstr, size_t errstr_size);

#endif
