/*
 * callback_record.h — a verified warehouse status callback as a record of
 * the internal topic kafka.topics.callbacks: the instance whose callback
 * server received it produces one record per order of the callback, key =
 * order_id, value = that order's updates as the adapter decoded them, as
 * JSON (contracts/orderbridge.callback.v1.schema.json); the instance that
 * owns the key's partition reads it and applies it.
 *
 * The decoder reads what another instance, or another version, wrote:
 * fields it does not know are skipped (a newer writer during a rolling
 * upgrade); a record that is not valid JSON, names another schema or order,
 * has no value, or whose values do not fit is refused with a message naming
 * the field ("$.updates[0].status: ..."). Pure functions: no I/O.
 */
#ifndef OB_CALLBACK_RECORD_H
#define OB_CALLBACK_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <orderbridge/adapter.h>

#define OB_CALLBACK_RECORD_SCHEMA "orderbridge.callback.v1"

struct ob_callback_record {
    char warehouse[65];    /* the warehouse code (config key) whose route received it */
    char delivery_id[128]; /* the warehouse's webhook/delivery id, "" when none */
    int64_t received_ms;   /* epoch ms the bridge received the callback */
    size_t n_updates;      /* 1..OB_CALLBACK_MAX_UPDATES */
    struct ob_status_update updates[OB_CALLBACK_MAX_UPDATES]; /* all about the key's order */
};

/* The record value of `r` (compact JSON, NUL-terminated, malloc'd; *len
 * without the NUL, len may be NULL), or NULL when out of memory or when r
 * holds what the decoder would refuse: n_updates 0 or over
 * OB_CALLBACK_MAX_UPDATES, a status out of range, an empty warehouse, a
 * negative time, an update's order_id that is not a valid order id or not
 * that of the first update, a string without its NUL. Bytes that are not
 * UTF-8 are written as '?'. */
char *ob_callback_record_encode(const struct ob_callback_record *r, size_t *len);

/* Decode the record of `key` (key_len bytes, the order_id). A tombstone
 * (value NULL) is refused: this topic has none. Returns 0, or -1 with a
 * message in errstr and *out zeroed. */
int ob_callback_record_decode(const char *key, size_t key_len, const void *value,
                              size_t value_len, struct ob_callback_record *out, char *errstr,
                              size_t errstr_size);

#endif
