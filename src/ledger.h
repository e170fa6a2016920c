/*
 * ledger.h — the delivery ledger: an embedded store (LMDB) mapping an
 * idempotency key to what happened to that push, so that a redelivered
 * order that is done is not pushed again, and one found in flight after a
 * crash is resent with the same key.
 *
 * One process writes (the bridge's loop thread); other processes (replay)
 * may read at the same time. Writes are staged in one write transaction and
 * committed by ob_ledger_flush(), which the loop calls once per iteration,
 * before it commits offsets.
 *
 * Durability. The environment is opened with MDB_NOSYNC: a commit does not
 * fsync. A killed process loses nothing it flushed. A power loss or OS crash
 * may lose the entries flushed since the last sync (a background thread syncs
 * every sync_interval_ms; close syncs too) and, since LMDB with MDB_NOSYNC
 * does not order its data and meta writes, may leave the file damaged; when
 * LMDB then refuses to open it, the next writable open moves the directory
 * aside and starts empty. Either way the warehouses' dedupe by idempotency
 * key absorbs the repeats, so nothing is lost or doubled at the warehouse.
 *
 * Size is bounded twice: entries not updated for the TTL are deleted a few
 * at a time by ob_ledger_expire(), and the map size is a hard cap. Near it,
 * entries are evicted a run of consecutive keys at a time (keys are hashes,
 * so their ages are random); entries in flight or parked are kept.
 *
 * Keys are non-empty strings of at most 511 bytes (LMDB's key limit); get
 * and put refuse others (-1, logged).
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
    /* The crash guard (bridge.c): an adapter about to run on this order
     * marks the entry, durably, and clears the mark when it returns. */
    uint64_t adapter_running; /* the marking process's incarnation; 0: no adapter running */
    int crashes;              /* times a process died with the mark set */
    int alone;                /* the mark was made with no other adapter run in between */
    /* DONE: the message it is the outcome of, so that the same message read
     * again (a redelivery after a crash or a rebalance) is told from the
     * same order sent again (a new message). source 0: unknown. */
    int source;               /* enum ob_ledger_source */
    int32_t source_partition;
    int64_t source_offset;
};

enum ob_ledger_source {
    OB_SOURCE_UNKNOWN = 0,
    OB_SOURCE_ORDERS = 1,
    OB_SOURCE_RETRY = 2,
    OB_SOURCE_EXPRESS = 3,
};

struct ob_ledger_options {
    const char *path;      /* a directory; created (mode 0700) if missing */
    size_t max_bytes;      /* LMDB map size, the hard cap; default 1 GiB */
    int64_t ttl_ms;        /* entries not updated for this long expire; default 7 days */
    int read_only;         /* open for reading only (replay, inspection) */
    long sync_interval_ms; /* a writer fsyncs in the background this often; <= 0: only at close */
};

struct ob_ledger;

/* Returns 0, or -1 with a message in errstr. A writable open of a directory
 * LMDB finds corrupt renames it to "<path>.corrupt-<epoch seconds>" (logged)
 * and starts an empty ledger; a read-only open fails. */
int ob_ledger_open(const struct ob_ledger_options *opt, struct ob_ledger **out, char *errstr,
                   size_t errstr_size);

/* Flush, stop the background sync, fsync and close; NULL is a no-op. */
void ob_ledger_close(struct ob_ledger *l);

/* Look `key` up (staged writes included); `out` may be NULL to test for it.
 * Returns 1 found, 0 not found (also for an unreadable entry), -1 on error
 * (logged; the caller treats it as not found). */
int ob_ledger_get(struct ob_ledger *l, const char *key, struct ob_ledger_entry *out);

/* Stage `e` under `key` (updated_ms is set to now). Committed by the next
 * ob_ledger_flush(). Returns 0, or -1 (logged) when it cannot be stored. */
int ob_ledger_put(struct ob_ledger *l, const char *key, const struct ob_ledger_entry *e);

/* Commit the staged writes. Returns 0, or -1 (logged; they are lost). */
int ob_ledger_flush(struct ob_ledger *l);

/* Delete up to `max` entries whose updated_ms is older than now - ttl,
 * resuming where the previous call stopped. Staged like put. Returns how
 * many went. */
size_t ob_ledger_expire(struct ob_ledger *l, int64_t now_ms, size_t max);

/* Entries stored now, staged writes included (for metrics and tests). */
size_t ob_ledger_count(struct ob_ledger *l);

/* Bytes of the pages in use and records held (deliveries and tracks), for
 * metrics. 0, or -1 on error. */
int ob_ledger_usage(struct ob_ledger *l, uint64_t *bytes, uint64_t *entries);

/* Staged writes lost so far (a failed write or commit drops every write
 * staged since the last flush, though their put() returned 0). It only
 * grows: whoever must know a write reached the file compares it before
 * the put and after the flush. */
unsigned long ob_ledger_lost(const struct ob_ledger *l);

/*
 * Order tracks: what the bridge knows about an accepted order after its
 * push, for status callbacks and polling (track.h decides with them). Kept
 * in a second table of the same environment, keyed by warehouse code and
 * order_id, staged and flushed with the deliveries, expired by the same TTL
 * (since the last update); evicted for room like deliveries, but only once
 * the order is terminal.
 */
#define OB_TRACK_SEEN 32

struct ob_track {
    int current;        /* enum ob_fulfillment_status: the state the order has reached */
    uint32_t emitted;   /* bit (1u << status) per status already in Kafka */
    uint32_t seen[OB_TRACK_SEEN]; /* hashes of EXCEPTION and unmapped reports in Kafka (ring) */
    int seen_next;
    int terminal;       /* no more polling */
    int64_t revision;
    int64_t updated_ms; /* set by put */
    char idempotency_key[65];
    char warehouse_order_id[128];
};

/* 1 found, 0 not found (or unreadable), -1 on error (logged). */
int ob_ledger_track_get(struct ob_ledger *l, const char *warehouse, const char *order_id,
                        struct ob_track *out);

/* Stage a track (updated_ms set to now). 0, or -1 (logged). */
int ob_ledger_track_put(struct ob_ledger *l, const char *warehouse, const char *order_id,
                        const struct ob_track *t);

/* The track of `warehouse` that follows order_id (in key order; "" for the
 * first) into order_id/out. Returns 1, 0 when there is none after it, -1
 * on error. order_id has room for 65 bytes. */
int ob_ledger_track_next(struct ob_ledger *l, const char *warehouse, char order_id[65],
                         struct ob_track *out);

/* Tracks stored now, staged writes included. */
size_t ob_ledger_track_count(struct ob_ledger *l);

/*
 * Orders (issue 13): everything the ledger holds for one order, as one
 * state (state_record.h), to write to the state changelog and to restore
 * from it. A third table indexes deliveries (put with their order) and
 * tracks by order_id; it expires and is evicted with the records.
 */
struct ob_order_state;

/* ob_ledger_put(), and the entry is part of order_id's state. */
int ob_ledger_put_order(struct ob_ledger *l, const char *order_id, const char *key,
                        const struct ob_ledger_entry *e);

/* Every delivery put with order_id and every track of it (staged writes
 * included) into out. Returns 1 when there is any, 0 when none, -1 on
 * error (logged). Past OB_STATE_MAX_DELIVERIES or _TRACKS, the rest are
 * left out (logged). */
int ob_ledger_order_state(struct ob_ledger *l, const char *order_id,
                          struct ob_order_state *out);

/* Make `s` the order's whole state (staged): what the ledger holds for it
 * and `s` does not name is deleted, the rest written with the updated_ms
 * the record carries. An empty state (a tombstone) deletes the order.
 * Returns 0, or -1 (logged; the staged writes are lost). */
int ob_ledger_apply_state(struct ob_ledger *l, const struct ob_order_state *s);

/* The next order id in the index after order_id ("" for the first), in
 * key order, into order_id (staged writes included): 1, 0 when there is
 * none after it, -1 on error. An order whose records have all gone since
 * may still be named (its state is then empty). order_id has room for 65
 * bytes. */
int ob_ledger_order_next(struct ob_ledger *l, char order_id[65]);

/* Migration of files written before the index, whose deliveries and tracks
 * are in no order's state: index every track not indexed yet, and the
 * delivery under its idempotency_key when there is one and it is not
 * indexed for that order yet, each with its record's updated_ms (records
 * are not rewritten). Deliveries without a track (rejected, dead-lettered)
 * stay unindexed: nothing names their order. Looks at up to `max` tracks
 * per call (staged; flush between calls), resuming where the previous call
 * stopped; *indexed (may be NULL) gets how many tracks this call indexed.
 * Returns 1 when more remain, 0 when done (a next call starts over, and
 * indexes nothing new), -1 on error (logged; the call's writes are lost and
 * the next call does its batch again). A flush that fails loses a batch
 * too: the migration is complete when every call and flush succeeded;
 * running it again is harmless. */
int ob_ledger_index_tracks(struct ob_ledger *l, size_t max, size_t *indexed);

/* Changelog checkpoints: the offset of `topic`'s `partition` up to which
 * the ledger holds what the changelog says (the next one to read), so a
 * restore reads only what came after. -1 when there is none. */
int64_t ob_ledger_checkpoint(struct ob_ledger *l, const char *topic, int32_t partition);
/* Staged; 0, or -1 (logged). */
int ob_ledger_set_checkpoint(struct ob_ledger *l, const char *topic, int32_t partition,
                             int64_t next_offset);

/* Named values of the ledger itself (e.g. a migration done), in a table of
 * their own that expiry and eviction leave alone. A name is a key (see
 * above); a value is >= 0. ob_ledger_meta() returns it, staged writes
 * included, or -1 when there is none; ob_ledger_set_meta() stages it: 0, or
 * -1 (logged). */
int64_t ob_ledger_meta(struct ob_ledger *l, const char *name);
int ob_ledger_set_meta(struct ob_ledger *l, const char *name, int64_t value);

/*
 * Crash-guard marks (bridge.c): before a batch of adapter runs, one record
 * names every order key of the batch under this process's incarnation;
 * staged like the rest and made durable by a flush. ob_ledger_unmark()
 * removes it (staged). At start, ob_ledger_take_marks() hands every key
 * marked by another incarnation, one that died, to fn and removes those
 * records; returns how many keys, or -1.
 */
int ob_ledger_mark(struct ob_ledger *l, uint64_t incarnation, const char *const *keys, size_t n,
                   int alone);
int ob_ledger_unmark(struct ob_ledger *l, uint64_t incarnation);
int ob_ledger_take_marks(struct ob_ledger *l, uint64_t incarnation,
                         void (*fn)(void *arg, const char *key, uint64_t dead, int alone),
                         void *arg);

#endif
