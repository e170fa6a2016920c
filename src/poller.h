/*
 * poller.h — asking warehouses without callbacks where their orders stand.
 *
 * For each warehouse with poll.interval_ms, a sweep walks its order tracks
 * in the ledger every interval and, for each order not yet terminal, sends
 * the adapter's query (poll_encode) with the bridge's HTTP client, at most
 * poll.per_second and poll.max_in_flight at once. The answer (poll_decode)
 * goes to the tracker like a callback, which emits only what is new.
 *
 * Runs on the bridge's loop thread; non-blocking.
 */
#ifndef OB_POLLER_H
#define OB_POLLER_H

#include <stdint.h>

#include "adapter.h"
#include "config.h"
#include "dispatch.h"
#include "ledger.h"
#include "metrics.h"
#include "tracker.h"

struct ob_poller;

/* NULL in *out (and 0) when no warehouse polls. -1 with errstr when a
 * warehouse polls but its adapter cannot. */
int ob_poller_create(const struct ob_config *cfg, struct ob_adapter_instance *const *adapters,
                     struct ob_ledger *ledger, struct ob_dispatch *dispatch,
                     struct ob_tracker *tracker, struct ob_metrics *metrics,
                     struct ob_poller **out, char *errstr, size_t errstr_size);

/* Send the queries that are due; now_us is the loop's monotonic clock.
 * Returns the monotonic ms when it wants to run again (0: nothing
 * scheduled). */
uint64_t ob_poller_run(struct ob_poller *p, uint64_t now_us);

/* Poll only the orders owns(arg, order_id) says are this instance's (the
 * owner of an order's partition polls it; with kafka.topics.state the
 * ledger also keeps orders of partitions that moved away). */
void ob_poller_set_owner(struct ob_poller *p, int (*owns)(void *arg, const char *order_id),
                         void *arg);

/* Abort queries in flight (their reports must be finished already) and
 * free. NULL is a no-op. */
void ob_poller_destroy(struct ob_poller *p);

#endif
