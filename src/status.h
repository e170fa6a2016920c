/*
 * status.h — fulfillment.v1 events and dead-letter headers (contracts/).
 *
 * Pure functions: they build documents, the producer sends them.
 */
#ifndef OB_STATUS_H
#define OB_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* One fulfillment.v1 event. NULL fields are left out. */
struct ob_status_event {
    const char *order_id;   /* required */
    int64_t revision;       /* 0: unknown, left out */
    const char *warehouse;  /* required; "" when no warehouse could be chosen */
    const char *status;     /* "ACCEPTED", "REJECTED", ..., "DELIVERY_FAILED" */
    const char *occurred_at; /* NULL: now */
    const char *warehouse_order_id;
    const char *carrier;
    const char *tracking_no;
    const char *reason;
    const char *source; /* "push", "callback", "poll", "bridge" */
    const char *raw_code; /* the warehouse's own code (callback, poll); NULL: no "raw" */
    const char *raw_text;
    int unmapped;         /* raw_code maps to no status: `status` is the order's state */
    const char *idempotency_key;
    const char *trace_id;
};

/* The event as compact UTF-8 JSON, malloc()ed, length in *len; NULL on
 * failure (a required field missing, out of memory). */
char *ob_status_event_json(const struct ob_status_event *ev, size_t *len);

/* Why an order went to the dead-letter topic; becomes the record's headers. */
struct ob_dlq_info {
    const char *reason_class; /* "invalid_json", "invalid_order", "unroutable", "rejected", ... */
    const char *message;
    const char *warehouse; /* may be NULL */
    int attempts;          /* HTTP attempts made */
    long http_status;      /* last status, 0 when none */
    const char *topic;     /* where the original came from */
    int32_t partition;
    int64_t offset;
    int64_t first_attempt_ms; /* epoch ms, 0 when no attempt */
    int64_t last_attempt_ms;
};

/* RFC 3339 UTC with milliseconds, "2026-11-22T02:30:00.123Z", of epoch ms. */
void ob_format_time(int64_t epoch_ms, char out[32]);

/* Current wall-clock time in epoch ms. */
int64_t ob_now_epoch_ms(void);

/* Monotonic milliseconds, for deadlines and timers. */
uint64_t ob_mono_ms(void);

#endif
