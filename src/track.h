/*
 * track.h — one state machine for an order's fulfillment status.
 *
 * The fulfillment.v1 statuses after the push, in the order a warehouse
 * works: ACCEPTED < ALLOCATED < PICKED < PACKED < SHIPPED < DELIVERED.
 * DELIVERED, CANCELLED and REJECTED are terminal. EXCEPTION is an event,
 * not a state: it is reported, and the order keeps its state.
 *
 * Every report is decided against the order's track (ledger.h):
 * - a status already in Kafka is a repeat: nothing is emitted;
 * - a new status is emitted with its own occurred_at, even when it comes
 *   late (PACKED after SHIPPED); the order's state only moves forward, and
 *   never out of a terminal state;
 * - EXCEPTION and codes the adapter does not map are emitted once per
 *   distinct report (code, time, reason); an unmapped code is emitted with
 *   the order's current state as its status and unmapped: true.
 * Pure functions: no I/O.
 */
#ifndef OB_TRACK_H
#define OB_TRACK_H

#include <orderbridge/adapter.h>

#include "ledger.h"

/* "ACCEPTED", ...; "UNMAPPED" for OB_STATUS_UNMAPPED; NULL when out of range. */
const char *ob_fulfillment_status_name(int status);

/* The status named `name` ("UNMAPPED" included), or -1. */
int ob_fulfillment_status_parse(const char *name);

int ob_fulfillment_status_terminal(int status);

/* A new track for an order the warehouse accepted. */
void ob_track_init(struct ob_track *t, int64_t revision, const char *idempotency_key,
                   const char *warehouse_order_id);

enum ob_track_verdict {
    OB_TRACK_REPEAT = 0, /* already in Kafka: emit nothing */
    OB_TRACK_EMIT,       /* new, and it moves the order forward (or is an event) */
    OB_TRACK_EMIT_LATE,  /* new, but the order is already further: its state stays */
};

/* Decide `u` against `t` and, unless it is a repeat, record it in `t`
 * (so that the same report is a repeat next time). */
enum ob_track_verdict ob_track_apply(struct ob_track *t, const struct ob_status_update *u);

#endif
