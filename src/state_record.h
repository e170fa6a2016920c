/*
 * state_record.h — one order's state as a record of the state changelog
 * (issue 13, kafka.topics.state, compacted): key = order_id, value = every
 * delivery entry and track the ledger holds for that order, as JSON
 * (contracts/orderbridge.state.v1.schema.json). A record replaces the
 * previous one of its key whole; a tombstone (no value) deletes it.
 *
 * The decoder reads what another instance, or another version, wrote:
 * fields it does not know are skipped (a newer writer during a rolling
 * upgrade); a record that is not valid JSON, names another schema or order,
 * or whose values do not fit is refused with a message naming the field.
 * Pure functions: no I/O.
 */
#ifndef OB_STATE_RECORD_H
#define OB_STATE_RECORD_H

#include <stddef.h>

#include "ledger.h"

#define OB_STATE_SCHEMA "orderbridge.state.v1"
#define OB_STATE_MAX_DELIVERIES 16 /* events of one order the ledger remembers (created, cancel, ...) */
#define OB_STATE_MAX_TRACKS 4      /* warehouses one order was accepted by */

struct ob_state_delivery {
    char key[65]; /* the idempotency key: the delivery's ledger key */
    struct ob_ledger_entry entry;
};

struct ob_state_track {
    char warehouse[65]; /* the warehouse code */
    struct ob_track track;
};

struct ob_order_state {
    char order_id[65];
    size_t n_deliveries;
    struct ob_state_delivery deliveries[OB_STATE_MAX_DELIVERIES];
    size_t n_tracks;
    struct ob_state_track tracks[OB_STATE_MAX_TRACKS];
};

/* The record value of `s` (compact JSON, NUL-terminated, malloc'd; *len
 * without the NUL), or NULL when out of memory or when s holds a value the
 * schema cannot carry (a state or status out of range). */
char *ob_state_encode(const struct ob_order_state *s, size_t *len);

/* Decode the record of `key` (key_len bytes). A tombstone (value NULL)
 * decodes to the empty state of that order. Returns 0, or -1 with a
 * message in errstr ("$.tracks[0].current: ..."). */
int ob_state_decode(const char *key, size_t key_len, const void *value, size_t value_len,
                    struct ob_order_state *out, char *errstr, size_t errstr_size);

#endif
