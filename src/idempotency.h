/*
 * idempotency.h — the key a warehouse dedupes one delivery by.
 *
 * SHA-256 over (warehouse code, order_id, event, revision), lower-case hex.
 * The same inputs give the same key in every process, on every machine and
 * after every restart, which is what makes redelivery safe.
 */
#ifndef OB_IDEMPOTENCY_H
#define OB_IDEMPOTENCY_H

#include <stdint.h>

/* Writes 64 hex chars + NUL to out. Returns 0, or -1 if a field is too long. */
int ob_idempotency_key(const char *warehouse, const char *order_id, const char *event,
                       int64_t revision, char out[65]);

#endif
