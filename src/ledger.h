/*
 * ledger.h — the delivery ledger: an embedded, crash-safe store (LMDB)
 * mapping an idempotency key to what happened to that push, so that a
 * redelivered order that is done is not pushed again, and one found in
 * flight after a crash is resent with the same key.
 *
 * One process writes (the bridge's loop thread); other processes (replay)
 * may read at the same time. Writes are staged in one write transaction
 * and made durable by ob_ledger_flush(), which the loop calls once per
 * iteration, before it commits offsets. The environment is opened with
 * MDB_NOSYNC: a killed process loses nothing it flushed; a power loss may
 * lose the last flushes, which the warehouse's dedupe by idempotency key
 * then absorbs. ob_ledger_sync() forces the data to disk.
 *
 * Size is bounded twice: entries older than the TTL are deleted a few at a
 * time by ob_ledger_expire(), and the map size is a hard cap; when it is
 * reached the oldest entries go first.
 */
#ifndef OB_LEDGER_H
#define OB_LEDGER_H

#include <stddef.h>
#include <stdint.h>

enum ob_ledger_state {
    OB_LEDGER_IN_FLIGHT = 1, /* a push was started and has no final outcome yet */
    OB_LEDGER_PARKED = 2,    /* waiting on the retry topic */
    OB_LEDGER_DONE = 3,      /* final outcome decided and in Kafka */
};

struct ob_ledger_entry {
    enum ob_ledger_state state;
    int attempts;                 /* HTTP attempts so far */
    int64_t first_attempt_ms;     /* epoch ms, 0 when none */
    int64_t updated_ms;           /* epoch ms of the last put; set by ob_ledger_put() */
    /* DONE only: the outcome that was reported */
    char status[24];              /* "ACCEPTED", "REJECTED", "DELIVERY_FAILED" */
    long http_status;
    char warehouse_order_id[128];
    char carrier[64];
    char tracking_no[128];
    char reason[256];
};

struct ob_ledger_options {
    const char *path;    /* a directory; created (mode 0700) if missing */
    size_t max_bytes;    /* LMDB map size, the hard cap; default 1 GiB */
    int64_t ttl_ms;      /* entries not updated for this long expire; default 7 days */
    int read_only;       /* open for reading only (replay, inspection) */
};

struct ob_ledger;

/* Returns 0, or -1 with a message in errstr. */
int ob_ledger_open(const struct ob_ledger_options *opt, struct ob_ledger **out, char *errstr,
                   size_t errstr_size);

/* Flush and close; NULL is a no-op. */
void ob_ledger_close(struct ob_ledger *l);

/* Look `key` up (staged writes included). Returns 1 found, 0 not found,
 * -1 on error (logged; the caller treats it as not found). */
int ob_ledger_get(struct ob_ledger *l, const char *key, struct ob_ledger_entry *out);

/* Stage `e` under `key` (updated_ms is set to now). Durable after the next
 * ob_ledger_flush(). Returns 0, or -1 (logged) when it cannot be stored. */
int ob_ledger_put(struct ob_ledger *l, const char *key, const struct ob_ledger_entry *e);

/* Count of the events of `order_id` now parked on the retry topic: +1 when
 * one is parked, -1 when one comes back and is finished. Staged like put.
 * ob_ledger_parked() returns the current count (0 when none). */
int ob_ledger_parked_add(struct ob_ledger *l, const char *order_id, int delta);
int ob_ledger_parked(struct ob_ledger *l, const char *order_id);

/* Commit the staged writes. Returns 0, or -1 (logged; they are lost). */
int ob_ledger_flush(struct ob_ledger *l);

/* fsync the environment (on shutdown and every few seconds). */
int ob_ledger_sync(struct ob_ledger *l);

/* Delete up to `max` entries whose updated_ms is older than now - ttl,
 * resuming where the previous call stopped. Returns how many went. */
size_t ob_ledger_expire(struct ob_ledger *l, int64_t now_ms, size_t max);

/* Entries stored now (for metrics and tests). */
size_t ob_ledger_count(struct ob_ledger *l);

#endif
