/*
 * ledger.c — the delivery ledger on LMDB (see ledger.h).
 *
 * One environment; its named databases: "deliveries", idempotency key ->
 * struct ob_ledger_entry, encoded below; "orders", the tracks; "marks", the
 * crash guard's; "by_order", the index by order; "checkpoints", the state
 * changelog's; "meta", named values of the ledger itself. (Files written by
 * earlier versions also hold a "parked" database; it is never opened, and
 * LMDB ignores it.)
 *
 * Writes go into one write transaction that stays open across calls: the
 * first write of a loop iteration begins it, ob_ledger_flush() commits it.
 * Reads go through that transaction when there is one (so staged writes are
 * seen), otherwise through one long-lived read transaction that is renewed
 * before and reset after each read, so that it never pins old pages.
 *
 * Size. LMDB copies every page a transaction changes and reuses a freed
 * page only two commits later, so beside the data the map must keep about
 * three transactions' worth of pages free (random keys: a page per write).
 * After each flush, when the database leaves less than that (and at least
 * 1/16 of the map) free, a few entries are evicted: a run of consecutive
 * keys, continuing where the last eviction stopped. The keys are hashes, so
 * a run is a fair sample of ages, and deleting it empties whole pages;
 * deleting the oldest entries instead, one on every page, would free none.
 * Entries in flight or parked are kept. Should MDB_MAP_FULL come anyway (a
 * burst, or a reader pinning old pages), LMDB requires the transaction to be
 * aborted, and its staged writes go with it: acceptable, the ledger is an
 * optimisation and the warehouse dedupes by idempotency key. A quarter of
 * the entries is then evicted and the failed write tried once more. Losses
 * are logged once per episode.
 *
 * Durability (see ledger.h). With sync_interval_ms, a thread of our own calls
 * mdb_env_sync(), which only fdatasync()s the data file: it takes no lock and
 * no transaction, reads flags fixed at open, and so may run beside the write
 * transaction of the thread that uses the handle. It skips a turn when
 * nothing was committed since its last sync.
 *
 * A writable open that LMDB refuses as corrupt moves the directory aside and
 * starts over: the ledger only saves pushes, the warehouses dedupe.
 *
 * Not thread-safe: one thread uses a handle. Never use a handle after fork().
 */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <lmdb.h>

#include <orderbridge/sdk.h>

#include "log.h"
#include "state_record.h"
#include "status.h" /* ob_now_epoch_ms */

#define DEFAULT_MAX_BYTES ((size_t)1 << 30)
#define MIN_MAX_BYTES ((size_t)64 << 10) /* below this LMDB has no room to work */
#define DEFAULT_TTL_MS (7LL * 24 * 3600 * 1000)
#define KEY_MAX 511               /* LMDB's default maximum key size; ours at most */
#define LOG_KEY "%.80s"           /* keys are hashes or order ids; cap them in messages */

#define RESERVE_DIV 16            /* keep at least 1/16 of the map free */
#define EVICT_PERCENT 25          /* MDB_MAP_FULL evicts this share of the entries */
#define EVICT_BATCH 4096          /* deletions per transaction while evicting */
#define FULL_BACKOFF_MS 5000      /* after an eviction that did not help, none for this long */
#define CAP_LOG_MS (10 * 60 * 1000) /* "evicting before the TTL" at most this often */
#define READER_CHECK_MS 10000     /* clear the reader slots of dead processes this often */

/* Encoding of an entry, little-endian, version 3:
 *   u8 version, u8 state, i32 attempts, i64 first_attempt_ms, i64 updated_ms,
 *   i64 http_status, then status, warehouse_order_id, carrier, tracking_no
 *   and reason, each as u8 length + bytes (no NUL), then the crash guard:
 *   u64 adapter_running, u8 crashes, u8 alone; then the source message:
 *   u8 source, i32 source_partition, i64 source_offset.
 * Version 2 is version 3 without the source, version 1 also without the
 * crash guard; both are still read. */
#define ENTRY_V1 1
#define ENTRY_V2 2
#define ENTRY_V3 3
#define ENTRY_MIN (2 + 4 + 3 * 8 + 5)
#define ENTRY_MAX (ENTRY_MIN + 24 + 128 + 64 + 128 + 256 + 10 + 13)

/* Encoding of an order track ("orders" table), little-endian, version 1:
 *   u8 version, u8 current, u8 terminal, u8 seen_next, u32 emitted,
 *   i64 revision, i64 updated_ms, OB_TRACK_SEEN x u32 seen, then
 *   idempotency_key and warehouse_order_id as u8 length + bytes. */
#define TRACK_V1 1
#define TRACK_MIN (4 + 4 + 2 * 8 + 4 * OB_TRACK_SEEN + 2)
#define TRACK_MAX (TRACK_MIN + 64 + 127)

_Static_assert(sizeof(((struct ob_ledger_entry *)0)->reason) <= 256,
               "string lengths are encoded in one byte");

/* Where ob_ledger_expire() stopped in one table. */
struct expiry {
    unsigned char key[KEY_MAX];
    size_t len; /* 0: start from the first key */
};

struct ob_ledger {
    MDB_env *env;
    MDB_dbi deliveries;
    MDB_dbi tracks;
    MDB_dbi marks;  /* "marks": incarnation -> the keys its adapters run on */
    MDB_dbi by_order; /* "by_order": order_id \x1f 'd' key | 't' warehouse -> updated_ms */
    MDB_dbi checkpoints; /* "checkpoints": "<topic>:<partition>" -> next offset applied */
    MDB_dbi meta;   /* "meta": name -> i64 (ob_ledger_meta()) */
    int has_marks;
    int has_tracks; /* a read-only open of a file without the table: none */
    int has_by_order;
    int has_checkpoints;
    int has_meta;
    MDB_txn *wtxn;  /* the staged write transaction, or NULL */
    MDB_txn *rtxn;  /* long-lived read transaction, reset between reads */
    size_t staged;  /* writes in wtxn, for the message when they are lost */
    int read_only;
    size_t key_max; /* LMDB's maximum key size, at most KEY_MAX */
    int64_t ttl_ms;
    size_t map_bytes;      /* as LMDB has it: at least the data file's size */
    size_t map_pages;
    size_t peak_staged;    /* most writes one flush committed: pages a transaction dirties */
    size_t cap_evicted;    /* evicted for room since cap_log_ms was set */
    int64_t cap_log_ms;    /* when to report evictions for room next */
    int full;              /* in a map-full episode: losses are counted, not logged */
    size_t full_lost;      /* writes lost in this episode */
    int64_t full_until_ms; /* no map-full eviction before this */
    int64_t reader_check_ms; /* when to look for dead readers next */
    struct expiry exp_deliveries, exp_tracks, exp_by_order; /* where ob_ledger_expire() stopped */
    struct expiry evict_deliveries, evict_tracks, evict_by_order; /* where eviction looks next */
    struct expiry index_at; /* the track ob_ledger_index_tracks() looked at last */
    atomic_ulong lost; /* staged writes lost so far (ob_ledger_lost()) */
    atomic_ulong commits;  /* commits so far, for the syncer */
    /* The background syncer, when sync_ms > 0 and writable. */
    long sync_ms;
    int syncing;           /* the thread runs */
    int sync_stop;         /* under sync_mu: the thread is to end */
    pthread_t syncer;
    pthread_mutex_t sync_mu;
    pthread_cond_t sync_cv; /* on CLOCK_MONOTONIC */
};

/* ------------------------------------------------------------------------ */
/* Encoding                                                                  */

static unsigned char *put_u64(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap - 1); /* an unterminated array still ends at cap - 1 */

    *p++ = (unsigned char)n;
    memcpy(p, s, n);
    return p + n;
}

static size_t encode(const struct ob_ledger_entry *e, int64_t updated_ms,
                     unsigned char buf[ENTRY_MAX])
{
    unsigned char *p = buf;

    *p++ = ENTRY_V3;
    *p++ = (unsigned char)e->state;
    p = put_u64(p, (uint32_t)(int32_t)e->attempts, 4);
    p = put_u64(p, (uint64_t)e->first_attempt_ms, 8);
    p = put_u64(p, (uint64_t)updated_ms, 8);
    p = put_u64(p, (uint64_t)(int64_t)e->http_status, 8);
    p = put_str(p, e->status, sizeof e->status);
    p = put_str(p, e->warehouse_order_id, sizeof e->warehouse_order_id);
    p = put_str(p, e->carrier, sizeof e->carrier);
    p = put_str(p, e->tracking_no, sizeof e->tracking_no);
    p = put_str(p, e->reason, sizeof e->reason);
    p = put_u64(p, e->adapter_running, 8);
    *p++ = (unsigned char)(e->crashes < 0 ? 0 : e->crashes > 255 ? 255 : e->crashes);
    *p++ = (unsigned char)(e->alone != 0);
    *p++ = (unsigned char)(e->source >= 0 && e->source <= OB_SOURCE_EXPRESS ? e->source : 0);
    p = put_u64(p, (uint32_t)e->source_partition, 4);
    p = put_u64(p, (uint64_t)e->source_offset, 8);
    return (size_t)(p - buf);
}

struct reader {
    const unsigned char *p, *end;
    int bad;
};

static uint64_t get_u64(struct reader *r, int bytes)
{
    uint64_t v = 0;

    if (r->bad || r->end - r->p < bytes) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += bytes;
    return v;
}

static void get_str(struct reader *r, char *out, size_t cap)
{
    size_t n = (size_t)get_u64(r, 1);

    if (r->bad || n >= cap || (size_t)(r->end - r->p) < n || memchr(r->p, '\0', n)) {
        r->bad = 1;
        out[0] = '\0';
        return;
    }
    memcpy(out, r->p, n);
    out[n] = '\0';
    r->p += n;
}

/* Returns 0, or -1 when `v` is not a version 1, 2 or 3 entry. */
static int decode(const MDB_val *v, struct ob_ledger_entry *e)
{
    struct reader r = {v->mv_data, (const unsigned char *)v->mv_data + v->mv_size, 0};
    int64_t http;
    uint64_t version;

    memset(e, 0, sizeof *e);
    version = get_u64(&r, 1);
    if (version != ENTRY_V1 && version != ENTRY_V2 && version != ENTRY_V3)
        return -1;
    e->state = (enum ob_ledger_state)get_u64(&r, 1);
    e->attempts = (int32_t)(uint32_t)get_u64(&r, 4);
    e->first_attempt_ms = (int64_t)get_u64(&r, 8);
    e->updated_ms = (int64_t)get_u64(&r, 8);
    http = (int64_t)get_u64(&r, 8);
    get_str(&r, e->status, sizeof e->status);
    get_str(&r, e->warehouse_order_id, sizeof e->warehouse_order_id);
    get_str(&r, e->carrier, sizeof e->carrier);
    get_str(&r, e->tracking_no, sizeof e->tracking_no);
    get_str(&r, e->reason, sizeof e->reason);
    if (version >= ENTRY_V2) {
        e->adapter_running = get_u64(&r, 8);
        e->crashes = (int)get_u64(&r, 1);
        e->alone = (int)get_u64(&r, 1);
    }
    if (version >= ENTRY_V3) {
        e->source = (int)get_u64(&r, 1);
        e->source_partition = (int32_t)(uint32_t)get_u64(&r, 4);
        e->source_offset = (int64_t)get_u64(&r, 8);
        if (e->source > OB_SOURCE_EXPRESS)
            r.bad = 1;
    }
    if (r.bad || r.p != r.end || e->state < OB_LEDGER_IN_FLIGHT || e->state > OB_LEDGER_DONE ||
        http < LONG_MIN || http > LONG_MAX)
        return -1;
    e->http_status = (long)http;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Transactions                                                              */

static int check_key(const struct ob_ledger *l, const char *key, const char *what)
{
    if (!key || !*key) {
        OB_WARN("ledger: %s: empty key", what);
        return -1;
    }
    if (strnlen(key, l->key_max + 1) > l->key_max) {
        OB_WARN("ledger: %s: key longer than %zu bytes: " LOG_KEY "...", what, l->key_max, key);
        return -1;
    }
    return 0;
}

/* The transaction to read through: the staged one, else the renewed read
 * transaction. NULL on error (logged). Pair with read_end(). */
static MDB_txn *read_begin(struct ob_ledger *l)
{
    int rc;

    if (l->wtxn)
        return l->wtxn;
    rc = mdb_txn_renew(l->rtxn);
    if (rc != 0) {
        OB_WARN("ledger: read transaction: %s", mdb_strerror(rc));
        return NULL;
    }
    return l->rtxn;
}

static void read_end(struct ob_ledger *l, MDB_txn *txn)
{
    if (txn == l->rtxn)
        mdb_txn_reset(txn);
}

static int write_begin(struct ob_ledger *l)
{
    int rc;

    if (l->wtxn)
        return 0;
    rc = mdb_txn_begin(l->env, NULL, 0, &l->wtxn);
    if (rc != 0) {
        l->wtxn = NULL;
        OB_ERR("ledger: write transaction: %s", mdb_strerror(rc));
        return -1;
    }
    l->staged = 0;
    return 0;
}

/* Commit the staged transaction (freed, committed or not). */
static int write_commit(struct ob_ledger *l)
{
    int rc = mdb_txn_commit(l->wtxn);

    l->wtxn = NULL;
    atomic_fetch_add(&l->commits, 1); /* a failed commit may have written pages too */
    return rc;
}

/* Abort the staged transaction; LMDB requires it after a failed write. */
static void write_abort(struct ob_ledger *l, int rc)
{
    mdb_txn_abort(l->wtxn);
    l->wtxn = NULL;
    atomic_fetch_add(&l->lost, l->staged + 1); /* + 1: the write that failed */
    if (l->full)
        l->full_lost += l->staged;
    else if (l->staged)
        OB_WARN("ledger: %zu staged writes lost: %s", l->staged, mdb_strerror(rc));
    l->staged = 0;
}

static void full_begin(struct ob_ledger *l)
{
    if (!l->full)
        OB_ERR("ledger: map full (%zu bytes): evicting; staged writes are lost until there is room",
               l->map_bytes);
    l->full = 1;
}

/* A commit with writes went through. */
static void full_end(struct ob_ledger *l)
{
    if (l->full)
        OB_WARN("ledger: room again; %zu writes were lost while the map was full", l->full_lost);
    l->full = 0;
    l->full_lost = 0;
}

/* ------------------------------------------------------------------------ */
/* Room                                                                      */

/* Pages the database takes, and the entry count. -1 on error. */
static int usage(struct ob_ledger *l, size_t *pages, size_t *entries)
{
    MDB_txn *txn = read_begin(l);
    MDB_stat d;
    int rc;

    if (!txn)
        return -1;
    rc = mdb_stat(txn, l->deliveries, &d);
    for (int i = 0; i < 2 && rc == 0; i++) {
        MDB_stat t;
        if (!(i == 0 ? l->has_tracks : l->has_by_order))
            continue;
        rc = mdb_stat(txn, i == 0 ? l->tracks : l->by_order, &t);
        d.ms_branch_pages += t.ms_branch_pages;
        d.ms_leaf_pages += t.ms_leaf_pages;
        d.ms_overflow_pages += t.ms_overflow_pages;
        if (i == 0) /* the index's entries go with the records' (evict()) */
            d.ms_entries += t.ms_entries;
    }
    read_end(l, txn);
    if (rc != 0)
        return -1;
    *pages = d.ms_branch_pages + d.ms_leaf_pages + d.ms_overflow_pages;
    *entries = d.ms_entries;
    return 0;
}

int ob_ledger_usage(struct ob_ledger *l, uint64_t *bytes, uint64_t *entries)
{
    size_t pages, n;
    MDB_stat st;

    if (usage(l, &pages, &n) != 0 || mdb_env_stat(l->env, &st) != 0)
        return -1;
    *bytes = (uint64_t)pages * st.ms_psize;
    *entries = n;
    return 0;
}

/* Whether eviction may take the entry: a delivery not while it is in
 * flight or parked, a track only once its order is terminal. */
static int delivery_evictable(const MDB_val *v)
{
    const unsigned char *p = v->mv_data;

    return v->mv_size < ENTRY_MIN || (p[0] != ENTRY_V1 && p[0] != ENTRY_V2 && p[0] != ENTRY_V3) ||
           (p[1] != OB_LEDGER_IN_FLIGHT && p[1] != OB_LEDGER_PARKED);
}

static int track_evictable(const MDB_val *v)
{
    const unsigned char *p = v->mv_data;

    return v->mv_size < TRACK_MIN || p[0] != TRACK_V1 || p[2] != 0;
}

static int index_evictable(const MDB_val *v)
{
    (void)v;
    return 1;
}

static size_t table_entries(struct ob_ledger *l, MDB_dbi dbi)
{
    MDB_txn *txn = read_begin(l);
    MDB_stat st;
    size_t n = 0;

    if (txn && mdb_stat(txn, dbi, &st) == 0)
        n = st.ms_entries;
    if (txn)
        read_end(l, txn);
    return n;
}

/* Delete up to `target` entries of one table: consecutive keys from where
 * the last eviction stopped, wrapping around. Keys are hashes (or order ids
 * behind a warehouse code), so a run of them is a fair sample of ages, and
 * deleting one empties whole pages, which deleting the oldest entries,
 * scattered over every page, would not. EVICT_BATCH go per transaction,
 * fewer when that hits the end of the map. Nothing may be staged. Returns
 * how many went. */
static size_t evict_table(struct ob_ledger *l, MDB_dbi dbi, struct expiry *x,
                          int (*evictable)(const MDB_val *), size_t target)
{
    size_t total = table_entries(l, dbi), seen = 0, gone = 0, batch = EVICT_BATCH;

    if (l->wtxn)
        return 0;
    while (gone < target && seen < total) { /* one round at most */
        unsigned char next[KEY_MAX];
        size_t next_len = 0, n = 0, s = 0;
        MDB_cursor *cur;
        MDB_val k = {x->len, x->key}, v;
        int rc;

        if (write_begin(l) != 0)
            break;
        rc = mdb_cursor_open(l->wtxn, dbi, &cur);
        if (rc == 0) {
            rc = mdb_cursor_get(cur, &k, &v, x->len ? MDB_SET_RANGE : MDB_FIRST);
            if (rc == MDB_NOTFOUND)
                rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            while (rc == 0 && n < batch && gone + n < target && seen + s < total) {
                s++;
                if (evictable(&v)) {
                    rc = mdb_cursor_del(cur, 0);
                    if (rc != 0)
                        break;
                    n++;
                }
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                if (rc == MDB_NOTFOUND)
                    rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
            }
            if (rc == 0 && k.mv_size <= sizeof next) { /* the next one to look at */
                memcpy(next, k.mv_data, k.mv_size);
                next_len = k.mv_size;
            }
            mdb_cursor_close(cur);
        }
        if (rc == MDB_NOTFOUND) /* empty */
            rc = 0;
        if (rc == 0) {
            rc = write_commit(l);
        } else {
            mdb_txn_abort(l->wtxn);
            l->wtxn = NULL;
        }
        if (rc == MDB_MAP_FULL && batch > 1) {
            batch /= 2;
            continue;
        }
        if (rc != 0) {
            OB_WARN("ledger: evicting: %s", mdb_strerror(rc));
            break;
        }
        memcpy(x->key, next, next_len);
        x->len = next_len;
        gone += n;
        seen += s;
    }
    return gone;
}

/* Evict `target` entries from both tables, in proportion to their sizes;
 * what one table cannot give (tracks of orders still moving) the other
 * gives. */
static size_t evict(struct ob_ledger *l, size_t target)
{
    size_t d = table_entries(l, l->deliveries);
    size_t t = l->has_tracks ? table_entries(l, l->tracks) : 0;
    size_t want_t = d + t ? (size_t)((double)target * (double)t / (double)(d + t)) : 0;
    size_t gone = 0;

    if (want_t)
        gone += evict_table(l, l->tracks, &l->evict_tracks, track_evictable, want_t);
    gone += evict_table(l, l->deliveries, &l->evict_deliveries, delivery_evictable,
                        target - gone);
    if (gone < target && l->has_tracks)
        gone += evict_table(l, l->tracks, &l->evict_tracks, track_evictable, target - gone);
    /* The index by order, in proportion too: an entry without its record
     * is skipped when read, a record without its entry leaves the order's
     * state record (state_record.h) without it. */
    if (l->has_by_order) {
        size_t i = table_entries(l, l->by_order);
        size_t want_i = d + t ? (size_t)((double)target * (double)i / (double)(d + t)) : 0;
        if (want_i)
            evict_table(l, l->by_order, &l->evict_by_order, index_evictable, want_i);
    }
    return gone;
}

/* After MDB_MAP_FULL, with nothing staged. Returns 1 when entries went, 0
 * when trying again is pointless. */
static int make_room(struct ob_ledger *l)
{
    int64_t now = ob_now_epoch_ms();
    size_t pages, n, gone;

    if (now < l->full_until_ms || usage(l, &pages, &n) != 0)
        return 0;
    gone = evict(l, n * EVICT_PERCENT / 100 + 1);
    OB_WARN("ledger: map full: evicted %zu of %zu entries", gone, n);
    if (gone > 0)
        return 1;
    l->full_until_ms = now + FULL_BACKOFF_MS;
    return 0;
}

/* A reader killed inside a read transaction pins the pages it saw until its
 * slot is cleared. */
static void check_readers(struct ob_ledger *l, int64_t now)
{
    int dead = 0;

    if (now < l->reader_check_ms)
        return;
    l->reader_check_ms = now + READER_CHECK_MS;
    mdb_reader_check(l->env, &dead);
    if (dead > 0)
        OB_INFO("ledger: cleared %d reader slots of dead processes", dead);
}

/* After a flush that committed `written` writes: when the database leaves
 * LMDB too little room (see the top of the file), evict a step. */
static void check_room(struct ob_ledger *l, size_t written)
{
    size_t pages, entries, churn, reserve, step;
    int64_t now = ob_now_epoch_ms();

    check_readers(l, now);
    l->peak_staged = written > l->peak_staged ? written : l->peak_staged - l->peak_staged / 256;
    if (usage(l, &pages, &entries) != 0)
        return;
    churn = l->peak_staged < pages ? l->peak_staged : pages;
    reserve = 3 * churn + 16;
    if (reserve < l->map_pages / RESERVE_DIV)
        reserve = l->map_pages / RESERVE_DIV;
    if (pages + reserve <= l->map_pages)
        return;
    step = 2 * written + entries / 256;
    if (step > entries / 4)
        step = entries / 4;
    l->cap_evicted += evict(l, step ? step : 1);
    if (now >= l->cap_log_ms) {
        OB_WARN("ledger: at its size (%zu bytes): %zu entries evicted before their TTL%s",
                l->map_bytes, l->cap_evicted, l->cap_log_ms ? " in the last 10 minutes" : "");
        l->cap_log_ms = now + CAP_LOG_MS;
        l->cap_evicted = 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Background sync                                                           */

/* Every sync_ms, fdatasync the file if anything was committed since the
 * last sync. A failure is logged once until a sync succeeds. */
static void *syncer_main(void *arg)
{
    struct ob_ledger *l = arg;
    unsigned long synced = (unsigned long)-1; /* the first turn syncs */
    int failing = 0;

    pthread_mutex_lock(&l->sync_mu);
    while (!l->sync_stop) {
        struct timespec due;
        unsigned long n;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &due);
        due.tv_sec += l->sync_ms / 1000;
        due.tv_nsec += l->sync_ms % 1000 * 1000000L;
        if (due.tv_nsec >= 1000000000L) {
            due.tv_sec++;
            due.tv_nsec -= 1000000000L;
        }
        while (!l->sync_stop && pthread_cond_timedwait(&l->sync_cv, &l->sync_mu, &due) == 0)
            ; /* woken before the time: to stop, or spuriously */
        n = atomic_load(&l->commits);
        if (l->sync_stop || n == synced)
            continue;
        pthread_mutex_unlock(&l->sync_mu);
        rc = mdb_env_sync(l->env, 1);
        if (rc != 0 && !failing)
            OB_ERR("ledger: background sync: %s (not logged again until a sync succeeds)",
                   mdb_strerror(rc));
        failing = rc != 0;
        if (rc == 0)
            synced = n;
        pthread_mutex_lock(&l->sync_mu);
    }
    pthread_mutex_unlock(&l->sync_mu);
    return NULL;
}

/* Returns 0 or an errno. The thread takes no signals: they stay where the
 * process expects them. */
static int syncer_start(struct ob_ledger *l)
{
    pthread_condattr_t ca;
    sigset_t all, old;
    int rc;

    pthread_mutex_init(&l->sync_mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->sync_cv, &ca);
    pthread_condattr_destroy(&ca);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&l->syncer, NULL, syncer_main, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&l->sync_cv);
        pthread_mutex_destroy(&l->sync_mu);
        return rc;
    }
    pthread_setname_np(l->syncer, "ob-ledger-sync");
    l->syncing = 1;
    return 0;
}

static void syncer_stop(struct ob_ledger *l)
{
    if (!l->syncing)
        return;
    pthread_mutex_lock(&l->sync_mu);
    l->sync_stop = 1;
    pthread_cond_signal(&l->sync_cv);
    pthread_mutex_unlock(&l->sync_mu);
    pthread_join(l->syncer, NULL);
    pthread_cond_destroy(&l->sync_cv);
    pthread_mutex_destroy(&l->sync_mu);
    l->syncing = 0;
}

/* ------------------------------------------------------------------------ */
/* Opening                                                                   */

/* Create the directory (writable), open the environment and the database.
 * Returns 0, or an LMDB error or errno with nothing left open. */
static int open_env(struct ob_ledger *l, const char *path, int writemap)
{
    unsigned int flags = MDB_NOSYNC | MDB_NOTLS | (l->read_only ? MDB_RDONLY : 0) |
                         (writemap ? MDB_WRITEMAP : 0);
    MDB_txn *txn = NULL;
    int rc;

    if (!l->read_only && mkdir(path, 0700) != 0 && errno != EEXIST)
        return errno;
    rc = mdb_env_create(&l->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(l->env, 6);
    if (rc == 0 && !l->read_only)
        rc = mdb_env_set_mapsize(l->env, l->map_bytes); /* a reader takes the writer's size */
    if (rc == 0)
        rc = mdb_env_open(l->env, path, flags, 0600);
    /* The database in a transaction of its own: its handle outlives the commit. */
    if (rc == 0)
        rc = mdb_txn_begin(l->env, NULL, l->read_only ? MDB_RDONLY : 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open(txn, "deliveries", l->read_only ? 0 : MDB_CREATE, &l->deliveries);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "orders", l->read_only ? 0 : MDB_CREATE, &l->tracks);
        l->has_tracks = rc == 0;
        if (rc == MDB_NOTFOUND && l->read_only)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "marks", l->read_only ? 0 : MDB_CREATE, &l->marks);
        l->has_marks = rc == 0;
        if (rc == MDB_NOTFOUND && l->read_only)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "by_order", l->read_only ? 0 : MDB_CREATE, &l->by_order);
        l->has_by_order = rc == 0;
        if (rc == MDB_NOTFOUND && l->read_only)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "checkpoints", l->read_only ? 0 : MDB_CREATE, &l->checkpoints);
        l->has_checkpoints = rc == 0;
        if (rc == MDB_NOTFOUND && l->read_only)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", l->read_only ? 0 : MDB_CREATE, &l->meta);
        l->has_meta = rc == 0;
        if (rc == MDB_NOTFOUND && l->read_only)
            rc = 0;
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (rc == 0)
        rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &l->rtxn);
    if (rc == 0) {
        mdb_txn_reset(l->rtxn);
        return 0;
    }
    if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(l->env);
    l->env = NULL;
    return rc;
}

/*
 * With MDB_WRITEMAP a commit writes no pages: the map is the file. Random
 * keys dirty about a page per put, and pwrite()ing those at every commit
 * cost ~40 us an order. But a write into a hole of a sparse file on a full
 * disk is SIGBUS, not an error: the whole map is reserved on disk first
 * (fallocate, which never writes zeros), and where that fails the ledger
 * writes through pwrite(), slower, with a WARN. 0, or -1: reopen without.
 */
static int reserve_map(struct ob_ledger *l, const char *path)
{
    MDB_envinfo info;
    mdb_filehandle_t fd;
    struct statvfs vfs;
    struct stat st;
    const char *why;

    if (mdb_env_get_fd(l->env, &fd) != 0 || mdb_env_info(l->env, &info) != 0 ||
        fstat(fd, &st) != 0 || fstatvfs(fd, &vfs) != 0) {
        why = strerror(errno);
    } else if ((unsigned long long)info.me_mapsize > (unsigned long long)st.st_blocks * 512 +
                                                         (unsigned long long)vfs.f_bavail *
                                                             vfs.f_frsize) {
        /* never the blocks kept for root, never a disk filled halfway */
        why = "not that much free space";
    } else if (fallocate(fd, 0, 0, (off_t)info.me_mapsize) != 0) {
        why = strerror(errno);
    } else {
        return 0;
    }
    OB_WARN("ledger %s: cannot reserve its %zu bytes (max_bytes) on disk: %s; it writes through "
            "pwrite(), slower (about 40 us an order)",
            path, info.me_mapsize, why);
    return -1;
}

/* The errors of a file LMDB cannot make sense of. */
static int unreadable(int rc)
{
    return rc == MDB_INVALID || rc == MDB_CORRUPTED || rc == MDB_VERSION_MISMATCH ||
           rc == MDB_PAGE_NOTFOUND;
}

/* Rename the directory LMDB refused with `rc` to "<path>.corrupt-<epoch s>".
 * Returns 0, or -1 with a message in errstr. */
static int move_aside(const char *path, int rc, char *errstr, size_t errstr_size)
{
    size_t len = strlen(path);
    char to[PATH_MAX];
    int n;

    while (len > 1 && path[len - 1] == '/') /* "dir/" is renamed as "dir" */
        len--;
    n = snprintf(to, sizeof to, "%.*s.corrupt-%lld", (int)len, path,
                 (long long)(ob_now_epoch_ms() / 1000));
    if (n < 0 || (size_t)n >= sizeof to) {
        errno = ENAMETOOLONG;
    } else if (rename(path, to) == 0) {
        OB_ERR("ledger %s unreadable (%s): moved to %s, starting empty; repeats are absorbed by "
               "the warehouses' dedupe",
               path, mdb_strerror(rc), to);
        return 0;
    }
    snprintf(errstr, errstr_size, "ledger %s unreadable (%s), and cannot be moved aside: %s",
             path, mdb_strerror(rc), strerror(errno));
    return -1;
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

int ob_ledger_open(const struct ob_ledger_options *opt, struct ob_ledger **out, char *errstr,
                   size_t errstr_size)
{
    struct ob_ledger *l;
    int rc;

    *out = NULL;
    if (!opt || !opt->path || !*opt->path) {
        snprintf(errstr, errstr_size, "ledger: no path");
        return -1;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        snprintf(errstr, errstr_size, "ledger: out of memory");
        return -1;
    }
    l->read_only = opt->read_only != 0;
    l->map_bytes = opt->max_bytes ? opt->max_bytes : DEFAULT_MAX_BYTES;
    l->ttl_ms = opt->ttl_ms > 0 ? opt->ttl_ms : DEFAULT_TTL_MS;
    atomic_init(&l->commits, 0);
    atomic_init(&l->lost, 0);
    if (l->map_bytes < MIN_MAX_BYTES) {
        snprintf(errstr, errstr_size, "ledger: max_bytes %zu is below the minimum %zu",
                 l->map_bytes, MIN_MAX_BYTES);
        goto fail;
    }
    rc = open_env(l, opt->path, !l->read_only);
    if (rc != 0 && !unreadable(rc) && !l->read_only)
        rc = open_env(l, opt->path, 0); /* a map the file system cannot hold (EFBIG) */
    if (rc != 0 && unreadable(rc) && !l->read_only) {
        if (move_aside(opt->path, rc, errstr, errstr_size) != 0)
            goto fail;
        rc = open_env(l, opt->path, 1);
    }
    if (rc == 0 && !l->read_only && reserve_map(l, opt->path) != 0) {
        mdb_txn_abort(l->rtxn);
        l->rtxn = NULL;
        mdb_env_close(l->env);
        l->env = NULL;
        rc = open_env(l, opt->path, 0);
    }
    if (rc != 0) {
        snprintf(errstr, errstr_size, "ledger: cannot open %s: %s", opt->path, mdb_strerror(rc));
        goto fail;
    }
    l->key_max = (size_t)mdb_env_get_maxkeysize(l->env);
    if (l->key_max > KEY_MAX)
        l->key_max = KEY_MAX;
    if (!l->read_only) {
        MDB_envinfo info;
        MDB_stat st;

        check_readers(l, ob_now_epoch_ms());
        mdb_env_info(l->env, &info);
        mdb_env_stat(l->env, &st);
        l->map_bytes = info.me_mapsize;
        l->map_pages = info.me_mapsize / st.ms_psize;
        l->sync_ms = opt->sync_interval_ms;
        if (l->sync_ms > 0 && (rc = syncer_start(l)) != 0) {
            snprintf(errstr, errstr_size, "ledger: cannot start the sync thread: %s",
                     strerror(rc));
            mdb_txn_abort(l->rtxn);
            goto fail;
        }
    }
    *out = l;
    return 0;

fail:
    mdb_env_close(l->env);
    free(l);
    return -1;
}

void ob_ledger_close(struct ob_ledger *l)
{
    int rc;

    if (!l)
        return;
    ob_ledger_flush(l);
    syncer_stop(l);
    if (!l->read_only && (rc = mdb_env_sync(l->env, 1)) != 0)
        OB_ERR("ledger: sync at close: %s", mdb_strerror(rc));
    mdb_txn_abort(l->rtxn);
    mdb_env_close(l->env);
    free(l);
}

/* Read `k` of `dbi` and decode it; on success copy it to out[out_size]
 * (out NULL: only test for it). 1 found, 0 not found or unreadable, -1 on
 * error. Logs name it "<what> <name>". */
static int get_value(struct ob_ledger *l, MDB_dbi dbi, MDB_val *k,
                     int (*decode_fn)(const MDB_val *v, void *out), void *out, size_t out_size,
                     const char *what, const char *name)
{
    union {
        struct ob_ledger_entry e;
        struct ob_track t;
    } tmp;
    MDB_val v;
    MDB_txn *txn;
    int rc, found = -1;

    if (!(txn = read_begin(l)))
        return -1;
    rc = mdb_get(txn, dbi, k, &v);
    if (rc == MDB_NOTFOUND) {
        found = 0;
    } else if (rc != 0) {
        OB_WARN("ledger: get %s " LOG_KEY ": %s", what, name, mdb_strerror(rc));
    } else if (decode_fn(&v, &tmp) != 0) {
        OB_WARN("ledger: %s " LOG_KEY " is unreadable (%zu bytes); taken as absent", what, name,
                v.mv_size);
        found = 0;
    } else {
        if (out)
            memcpy(out, &tmp, out_size);
        found = 1;
    }
    read_end(l, txn);
    return found;
}

static int decode_entry(const MDB_val *v, void *out)
{
    return decode(v, out);
}

int ob_ledger_get(struct ob_ledger *l, const char *key, struct ob_ledger_entry *out)
{
    MDB_val k;

    if (!l || check_key(l, key, "get") != 0)
        return -1;
    k.mv_size = strlen(key);
    k.mv_data = (void *)key;
    return get_value(l, l->deliveries, &k, decode_entry, out, sizeof *out, "entry", key);
}

/* Staged in the write transaction; on MDB_MAP_FULL make room and try once
 * more in a fresh one. Any failure aborts the transaction. */
static int put_value(struct ob_ledger *l, MDB_dbi dbi, const char *key, MDB_val *k, MDB_val *v);

static int put_entry(struct ob_ledger *l, const char *order_id, const char *key,
                     const struct ob_ledger_entry *e, int64_t updated_ms);

int ob_ledger_put(struct ob_ledger *l, const char *key, const struct ob_ledger_entry *e)
{
    return put_entry(l, NULL, key, e, ob_now_epoch_ms());
}

static int put_value(struct ob_ledger *l, MDB_dbi dbi, const char *key, MDB_val *kp, MDB_val *vp)
{
    MDB_val k = *kp, v = *vp;
    int rc = 0;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (write_begin(l) != 0)
            return -1;
        rc = mdb_put(l->wtxn, dbi, &k, &v, 0);
        if (rc == 0) {
            l->staged++;
            return 0;
        }
        if (rc == MDB_MAP_FULL)
            full_begin(l);
        write_abort(l, rc);
        if (rc != MDB_MAP_FULL)
            break;
        if (attempt > 0) /* eviction did not help: do not scan again at once */
            l->full_until_ms = ob_now_epoch_ms() + FULL_BACKOFF_MS;
        else if (!make_room(l))
            break;
    }
    if (rc == MDB_MAP_FULL)
        l->full_lost++; /* logged when the episode ends */
    else
        OB_WARN("ledger: put " LOG_KEY ": %s", key, mdb_strerror(rc));
    return -1;
}

int ob_ledger_flush(struct ob_ledger *l)
{
    size_t n;
    int rc;

    if (!l || !l->wtxn)
        return 0;
    n = l->staged;
    rc = write_commit(l);
    l->staged = 0;
    if (rc == 0) {
        if (n > 0) {
            full_end(l);
            check_room(l, n);
        }
        return 0;
    }
    atomic_fetch_add(&l->lost, n + 1);
    if (rc != MDB_MAP_FULL) {
        OB_ERR("ledger: commit failed, %zu staged writes lost: %s", n, mdb_strerror(rc));
        return -1;
    }
    full_begin(l);
    l->full_lost += n;
    make_room(l);
    return -1;
}

static int64_t entry_updated(const MDB_val *v);
static int64_t track_updated(const MDB_val *v);
static int64_t index_updated(const MDB_val *v);

/* Delete up to `max` entries of `dbi` updated before cutoff, or unreadable
 * (updated() returns INT64_MIN), resuming after the key examined last and
 * wrapping around. Staged. Returns how many went, or -1 when the staged
 * transaction was lost. */
static long expire_table(struct ob_ledger *l, MDB_dbi dbi, struct expiry *x,
                         int64_t (*updated)(const MDB_val *), int64_t cutoff, size_t max,
                         size_t *bad)
{
    MDB_cursor *cur;
    MDB_stat st;
    MDB_val k, v;
    size_t limit, seen = 0, gone = 0;
    int rc;

    rc = mdb_stat(l->wtxn, dbi, &st);
    if (rc == 0)
        rc = mdb_cursor_open(l->wtxn, dbi, &cur);
    if (rc != 0) {
        OB_WARN("ledger: expire: %s", mdb_strerror(rc));
        return 0;
    }
    limit = st.ms_entries < max ? st.ms_entries : max; /* each entry at most once */

    k.mv_size = x->len;
    k.mv_data = x->key;
    rc = mdb_cursor_get(cur, &k, &v, x->len ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && x->len && k.mv_size == x->len && memcmp(k.mv_data, x->key, x->len) == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    if (rc == MDB_NOTFOUND)
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);

    while (rc == 0 && seen < limit) {
        int64_t when = updated(&v);

        seen++;
        if (k.mv_size <= sizeof x->key) {
            memcpy(x->key, k.mv_data, k.mv_size);
            x->len = k.mv_size;
        }
        if (when == INT64_MIN || when < cutoff) {
            rc = mdb_cursor_del(cur, 0);
            if (rc != 0)
                break;
            gone++;
            *bad += when == INT64_MIN;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        OB_WARN("ledger: expire: %s", mdb_strerror(rc));
        if (rc == MDB_MAP_FULL)
            full_begin(l);
        write_abort(l, rc);
        if (rc == MDB_MAP_FULL)
            make_room(l);
        return -1;
    }
    l->staged += gone;
    return (long)gone;
}

size_t ob_ledger_expire(struct ob_ledger *l, int64_t now_ms, size_t max)
{
    size_t bad = 0;
    long a, b = 0;
    int64_t cutoff;

    if (!l || l->read_only || max == 0 || write_begin(l) != 0)
        return 0;
    cutoff = now_ms < INT64_MIN + l->ttl_ms ? INT64_MIN + 1 : now_ms - l->ttl_ms;
    a = expire_table(l, l->deliveries, &l->exp_deliveries, entry_updated, cutoff, max, &bad);
    if (a >= 0 && l->has_tracks && write_begin(l) == 0)
        b = expire_table(l, l->tracks, &l->exp_tracks, track_updated, cutoff, max, &bad);
    if (a >= 0 && b >= 0 && l->has_by_order && write_begin(l) == 0)
        expire_table(l, l->by_order, &l->exp_by_order, index_updated, cutoff, max, &bad);
    if (bad)
        OB_WARN("ledger: expire deleted %zu unreadable entries", bad);
    return (size_t)(a > 0 ? a : 0) + (size_t)(b > 0 ? b : 0);
}

size_t ob_ledger_count(struct ob_ledger *l)
{
    return l ? table_entries(l, l->deliveries) : 0;
}

/* ------------------------------------------------------------------------ */
/* Order tracks                                                              */

#define TRACK_KEY_MAX 256

static int64_t entry_updated(const MDB_val *v)
{
    struct ob_ledger_entry e;

    return decode(v, &e) == 0 ? e.updated_ms : INT64_MIN;
}

static size_t track_encode(const struct ob_track *t, int64_t updated_ms,
                           unsigned char buf[TRACK_MAX])
{
    unsigned char *p = buf;

    *p++ = TRACK_V1;
    *p++ = (unsigned char)t->current;
    *p++ = (unsigned char)(t->terminal != 0);
    *p++ = (unsigned char)(t->seen_next % OB_TRACK_SEEN);
    p = put_u64(p, t->emitted, 4);
    p = put_u64(p, (uint64_t)t->revision, 8);
    p = put_u64(p, (uint64_t)updated_ms, 8);
    for (int i = 0; i < OB_TRACK_SEEN; i++)
        p = put_u64(p, t->seen[i], 4);
    p = put_str(p, t->idempotency_key, sizeof t->idempotency_key);
    p = put_str(p, t->warehouse_order_id, sizeof t->warehouse_order_id);
    return (size_t)(p - buf);
}

static int track_decode(const MDB_val *v, struct ob_track *t)
{
    struct reader r = {v->mv_data, (const unsigned char *)v->mv_data + v->mv_size, 0};

    memset(t, 0, sizeof *t);
    if (get_u64(&r, 1) != TRACK_V1)
        return -1;
    t->current = (int)get_u64(&r, 1);
    t->terminal = (int)get_u64(&r, 1);
    t->seen_next = (int)get_u64(&r, 1);
    t->emitted = (uint32_t)get_u64(&r, 4);
    t->revision = (int64_t)get_u64(&r, 8);
    t->updated_ms = (int64_t)get_u64(&r, 8);
    for (int i = 0; i < OB_TRACK_SEEN; i++)
        t->seen[i] = (uint32_t)get_u64(&r, 4);
    get_str(&r, t->idempotency_key, sizeof t->idempotency_key);
    get_str(&r, t->warehouse_order_id, sizeof t->warehouse_order_id);
    return r.bad || r.p != r.end || t->seen_next >= OB_TRACK_SEEN ? -1 : 0;
}

static int64_t track_updated(const MDB_val *v)
{
    struct ob_track t;

    return track_decode(v, &t) == 0 ? t.updated_ms : INT64_MIN;
}

/* "<warehouse>\x1f<order_id>": order ids never hold 0x1f (order.v1). */
static int track_key(const char *warehouse, const char *order_id, char out[TRACK_KEY_MAX],
                     MDB_val *k)
{
    int n = snprintf(out, TRACK_KEY_MAX, "%s\x1f%s", warehouse ? warehouse : "",
                     order_id ? order_id : "");

    if (!warehouse || !*warehouse || !order_id || n < 0 || n >= TRACK_KEY_MAX) {
        OB_WARN("ledger: track key too long or empty");
        return -1;
    }
    k->mv_size = (size_t)n;
    k->mv_data = out;
    return 0;
}

static int decode_track(const MDB_val *v, void *out)
{
    return track_decode(v, out);
}

int ob_ledger_track_get(struct ob_ledger *l, const char *warehouse, const char *order_id,
                        struct ob_track *out)
{
    char key[TRACK_KEY_MAX];
    MDB_val k;

    if (!l || !*order_id || track_key(warehouse, order_id, key, &k) != 0)
        return -1;
    if (!l->has_tracks)
        return 0;
    return get_value(l, l->tracks, &k, decode_track, out, sizeof *out, "the track of order",
                     order_id);
}

static int index_put(struct ob_ledger *l, const char *order_id, char kind, const char *name,
                     int64_t updated_ms);

int ob_ledger_track_put(struct ob_ledger *l, const char *warehouse, const char *order_id,
                        const struct ob_track *t)
{
    char key[TRACK_KEY_MAX];
    unsigned char buf[TRACK_MAX];
    MDB_val k, v = {0, buf};

    if (!l || !t || !*order_id || track_key(warehouse, order_id, key, &k) != 0)
        return -1;
    if (l->read_only || !l->has_tracks) {
        OB_WARN("ledger: track put: the ledger is open read-only");
        return -1;
    }
    v.mv_size = track_encode(t, ob_now_epoch_ms(), buf);
    if (put_value(l, l->tracks, order_id, &k, &v) != 0)
        return -1;
    return index_put(l, order_id, 't', warehouse, ob_now_epoch_ms());
}

int ob_ledger_track_next(struct ob_ledger *l, const char *warehouse, char order_id[65],
                         struct ob_track *out)
{
    char key[TRACK_KEY_MAX];
    size_t prefix;
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_txn *txn;
    int rc, found = 0;

    if (!l || track_key(warehouse, order_id, key, &k) != 0)
        return -1;
    if (!l->has_tracks)
        return 0;
    prefix = strlen(warehouse) + 1;
    if (!(txn = read_begin(l)))
        return -1;
    rc = mdb_cursor_open(txn, l->tracks, &cur);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        while (rc == 0) {
            if (k.mv_size < prefix || memcmp(k.mv_data, key, prefix) != 0) {
                rc = MDB_NOTFOUND; /* past this warehouse */
                break;
            }
            size_t id_len = k.mv_size - prefix;
            const char *id = (const char *)k.mv_data + prefix;
            if (id_len > 0 && id_len < 65 &&
                !(id_len == strlen(order_id) && memcmp(id, order_id, id_len) == 0) &&
                track_decode(&v, out) == 0) {
                memcpy(order_id, id, id_len);
                order_id[id_len] = '\0';
                found = 1;
                break;
            }
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
        mdb_cursor_close(cur);
    }
    read_end(l, txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        OB_WARN("ledger: track walk: %s", mdb_strerror(rc));
        return -1;
    }
    return found;
}

unsigned long ob_ledger_lost(const struct ob_ledger *l)
{
    return l ? atomic_load(&((struct ob_ledger *)l)->lost) : 0;
}

size_t ob_ledger_track_count(struct ob_ledger *l)
{
    return l && l->has_tracks ? table_entries(l, l->tracks) : 0;
}

/* ------------------------------------------------------------------------ */
/* Orders: everything the ledger holds for one order (state_record.h)        */

#define INDEX_KEY_MAX (64 + 2 + TRACK_KEY_MAX)
#define INDEX_SEP '\x1f' /* order ids never hold it (order.v1) */

/* "<order_id>\x1f<kind><name>"; 0, or -1 when it does not fit. */
static int index_key(const char *order_id, char kind, const char *name,
                     char out[INDEX_KEY_MAX], MDB_val *k)
{
    int n = snprintf(out, INDEX_KEY_MAX, "%s%c%c%s", order_id, INDEX_SEP, kind, name);

    if (!*order_id || !*name || n < 0 || (size_t)n >= INDEX_KEY_MAX || strlen(order_id) > 64)
        return -1;
    k->mv_size = (size_t)n;
    k->mv_data = out;
    return 0;
}

static int64_t index_updated(const MDB_val *v)
{
    struct reader r = {v->mv_data, (const unsigned char *)v->mv_data + v->mv_size, 0};
    int64_t when = (int64_t)get_u64(&r, 8);

    return r.bad || r.p != r.end ? INT64_MIN : when;
}

/* Staged: `name` (a delivery's key, kind 'd', or a warehouse, 't') is part of order_id's state. */
static int index_put(struct ob_ledger *l, const char *order_id, char kind, const char *name,
                     int64_t updated_ms)
{
    char key[INDEX_KEY_MAX];
    unsigned char buf[8];
    MDB_val k, v = {sizeof buf, buf};

    if (!l->has_by_order)
        return 0;
    if (index_key(order_id, kind, name, key, &k) != 0) {
        OB_WARN("ledger: order index: key too long or empty for order " LOG_KEY, order_id);
        return -1;
    }
    put_u64(buf, (uint64_t)updated_ms, 8);
    return put_value(l, l->by_order, order_id, &k, &v);
}

static int put_entry(struct ob_ledger *l, const char *order_id, const char *key,
                     const struct ob_ledger_entry *e, int64_t updated_ms)
{
    unsigned char buf[ENTRY_MAX];
    MDB_val k, v = {0, buf};

    if (!l || !e || check_key(l, key, "put") != 0)
        return -1;
    if (e->state < OB_LEDGER_IN_FLIGHT || e->state > OB_LEDGER_DONE) {
        OB_WARN("ledger: put " LOG_KEY ": bad state %d", key, (int)e->state);
        return -1;
    }
    if (l->read_only) {
        OB_WARN("ledger: put " LOG_KEY ": the ledger is open read-only", key);
        return -1;
    }
    k.mv_size = strlen(key);
    k.mv_data = (void *)key;
    v.mv_size = encode(e, updated_ms, buf);
    if (put_value(l, l->deliveries, key, &k, &v) != 0)
        return -1;
    return order_id ? index_put(l, order_id, 'd', key, updated_ms) : 0;
}

int ob_ledger_put_order(struct ob_ledger *l, const char *order_id, const char *key,
                        const struct ob_ledger_entry *e)
{
    if (!order_id || !*order_id)
        return -1;
    return put_entry(l, order_id, key, e, ob_now_epoch_ms());
}

/* Call fn for each index entry of order_id, in key order, through `txn`;
 * it stops the walk by returning non-zero. Returns 0, or an LMDB error. */
static int index_walk(struct ob_ledger *l, MDB_txn *txn, const char *order_id,
                      int (*fn)(void *arg, char kind, const char *name, size_t name_len),
                      void *arg)
{
    size_t prefix = strlen(order_id) + 1;
    char start[INDEX_KEY_MAX];
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;

    if (prefix > 65)
        return 0;
    memcpy(start, order_id, prefix - 1);
    start[prefix - 1] = INDEX_SEP;
    k.mv_size = prefix;
    k.mv_data = start;
    rc = mdb_cursor_open(txn, l->by_order, &cur);
    if (rc != 0)
        return rc;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        const char *key = k.mv_data;
        if (k.mv_size < prefix + 2 || memcmp(key, start, prefix) != 0) {
            rc = MDB_NOTFOUND; /* past this order */
            break;
        }
        if (fn(arg, key[prefix], key + prefix + 1, k.mv_size - prefix - 1) != 0)
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct gather {
    struct ob_ledger *l;
    MDB_txn *txn;
    const char *order_id;
    struct ob_order_state *out;
    size_t dropped;
};

static int gather_one(void *arg, char kind, const char *name, size_t name_len)
{
    struct gather *g = arg;
    struct ob_order_state *s = g->out;
    char tkey[TRACK_KEY_MAX];
    MDB_val k = {name_len, (void *)name}, v;

    if (kind == 'd' && name_len < sizeof s->deliveries[0].key) {
        struct ob_state_delivery *d = &s->deliveries[s->n_deliveries];
        if (s->n_deliveries == OB_STATE_MAX_DELIVERIES) {
            g->dropped++;
            return 0;
        }
        if (mdb_get(g->txn, g->l->deliveries, &k, &v) != 0 || decode(&v, &d->entry) != 0)
            return 0; /* expired or evicted since: not part of it any more */
        memcpy(d->key, name, name_len);
        d->key[name_len] = '\0';
        s->n_deliveries++;
    } else if (kind == 't' && name_len < sizeof s->tracks[0].warehouse && g->l->has_tracks) {
        struct ob_state_track *t = &s->tracks[s->n_tracks];
        if (s->n_tracks == OB_STATE_MAX_TRACKS) {
            g->dropped++;
            return 0;
        }
        memcpy(t->warehouse, name, name_len);
        t->warehouse[name_len] = '\0';
        if (track_key(t->warehouse, g->order_id, tkey, &k) != 0 ||
            mdb_get(g->txn, g->l->tracks, &k, &v) != 0 || track_decode(&v, &t->track) != 0)
            return 0;
        s->n_tracks++;
    }
    return 0;
}

int ob_ledger_order_state(struct ob_ledger *l, const char *order_id, struct ob_order_state *out)
{
    struct gather g = {.l = l, .order_id = order_id, .out = out};
    int rc;

    memset(out, 0, sizeof(*out));
    if (!l || !order_id || !*order_id || strlen(order_id) >= sizeof(out->order_id))
        return -1;
    memcpy(out->order_id, order_id, strlen(order_id) + 1);
    if (!l->has_by_order)
        return 0;
    if (!(g.txn = read_begin(l)))
        return -1;
    rc = index_walk(l, g.txn, order_id, gather_one, &g);
    read_end(l, g.txn);
    if (rc != 0) {
        OB_WARN("ledger: state of order " LOG_KEY ": %s", order_id, mdb_strerror(rc));
        return -1;
    }
    if (g.dropped)
        OB_WARN("ledger: order " LOG_KEY " has more than %d deliveries or %d tracks; %zu left "
                "out of its state record", order_id, OB_STATE_MAX_DELIVERIES,
                OB_STATE_MAX_TRACKS, g.dropped);
    return out->n_deliveries || out->n_tracks ? 1 : 0;
}

/* The index entries of one order, collected before any is deleted (no
 * deletes under a walking cursor). */
#define FORGET_BATCH 64
struct forget {
    size_t n;
    char kind[FORGET_BATCH];
    char name[FORGET_BATCH][TRACK_KEY_MAX];
};

static int forget_collect(void *arg, char kind, const char *name, size_t name_len)
{
    struct forget *f = arg;

    if (name_len < TRACK_KEY_MAX) {
        f->kind[f->n] = kind;
        memcpy(f->name[f->n], name, name_len);
        f->name[f->n][name_len] = '\0';
        f->n++;
    }
    return f->n == FORGET_BATCH;
}

/* Delete every record of the order and its index entries (staged).
 * Returns 0, or an LMDB error. */
static int forget_order(struct ob_ledger *l, const char *order_id)
{
    static struct forget f; /* the loop thread's: 16 KB off its stack */
    int rc;

    do {
        f.n = 0;
        rc = index_walk(l, l->wtxn, order_id, forget_collect, &f);
        for (size_t i = 0; rc == 0 && i < f.n; i++) {
            char key[INDEX_KEY_MAX];
            MDB_val k = {strlen(f.name[i]), f.name[i]};
            if (f.kind[i] == 'd')
                rc = mdb_del(l->wtxn, l->deliveries, &k, NULL);
            else if (f.kind[i] == 't' && l->has_tracks &&
                     track_key(f.name[i], order_id, key, &k) == 0)
                rc = mdb_del(l->wtxn, l->tracks, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            if (rc == 0 && index_key(order_id, f.kind[i], f.name[i], key, &k) == 0)
                rc = mdb_del(l->wtxn, l->by_order, &k, NULL);
            if (rc == MDB_NOTFOUND)
                rc = 0;
            l->staged += rc == 0;
        }
    } while (rc == 0 && f.n == FORGET_BATCH);
    return rc;
}

int ob_ledger_apply_state(struct ob_ledger *l, const struct ob_order_state *s)
{
    unsigned char buf[TRACK_MAX];
    int rc;

    if (!l || l->read_only || !l->has_by_order || !s->order_id[0] || write_begin(l) != 0)
        return -1;
    /* The record is the order's whole state: what it no longer names goes. */
    rc = forget_order(l, s->order_id);
    if (rc != 0) {
        OB_WARN("ledger: restoring order " LOG_KEY ": %s", s->order_id, mdb_strerror(rc));
        if (rc == MDB_MAP_FULL)
            full_begin(l);
        write_abort(l, rc);
        return -1;
    }
    for (size_t i = 0; i < s->n_deliveries; i++)
        if (put_entry(l, s->order_id, s->deliveries[i].key, &s->deliveries[i].entry,
                      s->deliveries[i].entry.updated_ms) != 0)
            return -1;
    for (size_t i = 0; i < s->n_tracks && l->has_tracks; i++) {
        const struct ob_state_track *t = &s->tracks[i];
        char key[TRACK_KEY_MAX];
        MDB_val k, v = {0, buf};
        if (track_key(t->warehouse, s->order_id, key, &k) != 0)
            return -1;
        v.mv_size = track_encode(&t->track, t->track.updated_ms, buf);
        if (put_value(l, l->tracks, s->order_id, &k, &v) != 0 ||
            index_put(l, s->order_id, 't', t->warehouse, t->track.updated_ms) != 0)
            return -1;
    }
    return 0;
}

/* Migration (ledger.h): index the tracks of files written before by_order. */

/* Read the track after x's key (the first when x->len is 0) and move x to
 * it. A cursor per track: a write in between may abort the transaction.
 * Returns 0, MDB_NOTFOUND past the last, or an LMDB error. */
static int next_track(struct ob_ledger *l, struct expiry *x, MDB_val *k, MDB_val *v)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(l->wtxn, l->tracks, &cur);

    if (rc != 0)
        return rc;
    k->mv_size = x->len;
    k->mv_data = x->key;
    rc = mdb_cursor_get(cur, k, v, x->len ? MDB_SET_RANGE : MDB_FIRST);
    if (rc == 0 && x->len && k->mv_size == x->len && memcmp(k->mv_data, x->key, x->len) == 0)
        rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
    mdb_cursor_close(cur);
    if (rc == 0 && k->mv_size <= sizeof x->key) {
        memcpy(x->key, k->mv_data, k->mv_size);
        x->len = k->mv_size;
    }
    return rc;
}

/* Split a track key at its last 0x1f (order ids never hold it). 0, or -1
 * when it names no warehouse or no order id that fits. */
static int track_key_split(const MDB_val *k, char warehouse[TRACK_KEY_MAX], char order_id[65])
{
    const char *p = k->mv_data;
    size_t at = k->mv_size;

    while (at > 0 && p[at - 1] != INDEX_SEP)
        at--;
    if (at < 2 || at - 1 >= TRACK_KEY_MAX || k->mv_size - at == 0 || k->mv_size - at > 64 ||
        memchr(p, '\0', k->mv_size))
        return -1;
    memcpy(warehouse, p, at - 1);
    warehouse[at - 1] = '\0';
    memcpy(order_id, p + at, k->mv_size - at);
    order_id[k->mv_size - at] = '\0';
    return 0;
}

/* Index `name` under order_id with `updated_ms` unless it is indexed there
 * already (staged). 1 indexed, 0 already was, -1 on error (logged). */
static int index_missing(struct ob_ledger *l, const char *order_id, char kind, const char *name,
                         int64_t updated_ms)
{
    char key[INDEX_KEY_MAX];
    MDB_val k, v;
    int rc;

    if (index_key(order_id, kind, name, key, &k) != 0)
        return 0; /* cannot be indexed (too long): left out, as put would */
    rc = mdb_get(l->wtxn, l->by_order, &k, &v);
    if (rc == 0)
        return 0;
    if (rc != MDB_NOTFOUND) {
        OB_WARN("ledger: indexing order " LOG_KEY ": %s", order_id, mdb_strerror(rc));
        return -1;
    }
    return index_put(l, order_id, kind, name, updated_ms) == 0 ? 1 : -1;
}

int ob_ledger_index_tracks(struct ob_ledger *l, size_t max, size_t *indexed)
{
    struct expiry from;
    unsigned long lost;
    size_t seen = 0, n = 0;
    int rc = 0, err = 0;

    if (indexed)
        *indexed = 0;
    if (!l || max == 0 || l->read_only || !l->has_tracks || !l->has_by_order) {
        OB_WARN("ledger: index tracks: no max, or the ledger is open read-only");
        return -1;
    }
    if (write_begin(l) != 0)
        return -1;
    from = l->index_at;
    lost = atomic_load(&l->lost);
    /* A failed write loses the staged writes, even when the retry after
     * eviction goes through: stop at once. */
    while (seen < max && !err && atomic_load(&l->lost) == lost) {
        char warehouse[TRACK_KEY_MAX], order_id[65];
        struct ob_ledger_entry e;
        struct ob_track t;
        MDB_val k, v;
        int added;

        if ((rc = next_track(l, &l->index_at, &k, &v)) != 0)
            break;
        seen++;
        if (track_key_split(&k, warehouse, order_id) != 0 || track_decode(&v, &t) != 0)
            continue; /* cannot be attributed; expire takes an unreadable one */
        added = index_missing(l, order_id, 't', warehouse, t.updated_ms);
        if (added < 0) {
            err = 1;
            break;
        }
        n += (size_t)added;
        /* Its delivery: the entry under the key the track was pushed with. */
        if (!t.idempotency_key[0] || strlen(t.idempotency_key) > l->key_max)
            continue;
        k.mv_size = strlen(t.idempotency_key);
        k.mv_data = t.idempotency_key;
        rc = mdb_get(l->wtxn, l->deliveries, &k, &v);
        if (rc == 0 && decode(&v, &e) == 0)
            err = index_missing(l, order_id, 'd', t.idempotency_key, e.updated_ms) < 0;
        else if (rc != 0 && rc != MDB_NOTFOUND)
            break;
        rc = 0; /* else none, or unreadable: nothing to index */
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        OB_WARN("ledger: index tracks: %s", mdb_strerror(rc));
        err = 1;
    }
    if (err || atomic_load(&l->lost) != lost) {
        l->index_at = from; /* the next call does this batch again */
        return -1;
    }
    if (indexed)
        *indexed = n;
    if (rc == MDB_NOTFOUND) {
        l->index_at.len = 0; /* done: a next call starts a new round */
        return 0;
    }
    return 1;
}

int ob_ledger_order_next(struct ob_ledger *l, char order_id[65])
{
    char start[66];
    size_t len;
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_txn *txn;
    int rc, found = 0;

    if (!l || !order_id || (len = strnlen(order_id, 65)) > 64)
        return -1;
    if (!l->has_by_order)
        return 0;
    /* Every key of order_id starts "<order_id>\x1f": the next order's keys
     * are at "<order_id>\x20" or after. */
    memcpy(start, order_id, len);
    start[len] = INDEX_SEP + 1;
    k.mv_size = len + 1;
    k.mv_data = start;
    if (!(txn = read_begin(l)))
        return -1;
    rc = mdb_cursor_open(txn, l->by_order, &cur);
    if (rc == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, len ? MDB_SET_RANGE : MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            const char *sep = memchr(k.mv_data, INDEX_SEP, k.mv_size);
            size_t id_len = sep ? (size_t)(sep - (const char *)k.mv_data) : 0;
            if (id_len > 0 && id_len < 65 && !memchr(k.mv_data, '\0', id_len)) {
                memcpy(order_id, k.mv_data, id_len);
                order_id[id_len] = '\0';
                found = 1;
                break;
            }
        }
        mdb_cursor_close(cur);
    }
    read_end(l, txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        OB_WARN("ledger: order walk: %s", mdb_strerror(rc));
        return -1;
    }
    return found;
}

/* ------------------------------------------------------------------------ */
/* Changelog checkpoints                                                     */

static int checkpoint_key(const char *topic, int32_t partition, char out[KEY_MAX], MDB_val *k)
{
    int n = snprintf(out, KEY_MAX, "%s:%d", topic, (int)partition);

    if (n < 0 || n >= KEY_MAX)
        return -1;
    k->mv_size = (size_t)n;
    k->mv_data = out;
    return 0;
}

int64_t ob_ledger_checkpoint(struct ob_ledger *l, const char *topic, int32_t partition)
{
    char key[KEY_MAX];
    MDB_val k, v;
    MDB_txn *txn;
    int64_t at = -1;

    if (!l || !l->has_checkpoints || checkpoint_key(topic, partition, key, &k) != 0 ||
        !(txn = read_begin(l)))
        return -1;
    if (mdb_get(txn, l->checkpoints, &k, &v) == 0) {
        struct reader r = {v.mv_data, (const unsigned char *)v.mv_data + v.mv_size, 0};
        at = (int64_t)get_u64(&r, 8);
        if (r.bad || r.p != r.end || at < 0)
            at = -1;
    }
    read_end(l, txn);
    return at;
}

int ob_ledger_set_checkpoint(struct ob_ledger *l, const char *topic, int32_t partition,
                             int64_t next_offset)
{
    char key[KEY_MAX];
    unsigned char buf[8];
    MDB_val k, v = {sizeof buf, buf};

    if (!l || l->read_only || !l->has_checkpoints ||
        checkpoint_key(topic, partition, key, &k) != 0)
        return -1;
    put_u64(buf, (uint64_t)next_offset, 8);
    return put_value(l, l->checkpoints, topic, &k, &v);
}

/* ------------------------------------------------------------------------ */
/* Named values                                                              */

int64_t ob_ledger_meta(struct ob_ledger *l, const char *name)
{
    MDB_val k, v;
    MDB_txn *txn;
    int64_t value = -1;

    if (!l || check_key(l, name, "meta") != 0 || !l->has_meta || !(txn = read_begin(l)))
        return -1;
    k.mv_size = strlen(name);
    k.mv_data = (void *)name;
    if (mdb_get(txn, l->meta, &k, &v) == 0) {
        struct reader r = {v.mv_data, (const unsigned char *)v.mv_data + v.mv_size, 0};
        value = (int64_t)get_u64(&r, 8);
        if (r.bad || r.p != r.end || value < 0)
            value = -1;
    }
    read_end(l, txn);
    return value;
}

int ob_ledger_set_meta(struct ob_ledger *l, const char *name, int64_t value)
{
    unsigned char buf[8];
    MDB_val k, v = {sizeof buf, buf};

    if (!l || check_key(l, name, "meta") != 0)
        return -1;
    if (l->read_only || !l->has_meta || value < 0) {
        OB_WARN("ledger: meta " LOG_KEY ": negative, or the ledger is open read-only", name);
        return -1;
    }
    k.mv_size = strlen(name);
    k.mv_data = (void *)name;
    put_u64(buf, (uint64_t)value, 8);
    return put_value(l, l->meta, name, &k, &v);
}

/* ------------------------------------------------------------------------ */
/* Crash-guard marks                                                         */

/* Value: alone (1 byte), then each key and a NUL. */
int ob_ledger_mark(struct ob_ledger *l, uint64_t incarnation, const char *const *keys, size_t n,
                   int alone)
{
    struct ob_buf buf;
    MDB_val k = {sizeof(incarnation), &incarnation}, v;
    unsigned char flag = alone ? 1 : 0;
    int rc;

    if (!l || l->read_only || !l->has_marks)
        return -1;
    ob_buf_init(&buf, OB_BUF_DEFAULT_MAX);
    ob_buf_append(&buf, &flag, 1);
    for (size_t i = 0; i < n; i++)
        ob_buf_append(&buf, keys[i], strlen(keys[i]) + 1);
    if (buf.failed) {
        ob_buf_reset(&buf);
        return -1;
    }
    v.mv_size = buf.len;
    v.mv_data = buf.data;
    rc = put_value(l, l->marks, "(mark)", &k, &v);
    ob_buf_reset(&buf);
    return rc;
}

int ob_ledger_unmark(struct ob_ledger *l, uint64_t incarnation)
{
    MDB_val k = {sizeof(incarnation), &incarnation};
    int rc;

    if (!l || l->read_only || !l->has_marks || write_begin(l) != 0)
        return -1;
    rc = mdb_del(l->wtxn, l->marks, &k, NULL);
    if (rc == 0)
        l->staged++;
    return rc == 0 || rc == MDB_NOTFOUND ? 0 : -1;
}

int ob_ledger_take_marks(struct ob_ledger *l, uint64_t incarnation,
                         void (*fn)(void *arg, const char *key, uint64_t dead, int alone),
                         void *arg)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc, n = 0;

    if (!l || l->read_only || !l->has_marks || write_begin(l) != 0)
        return -1;
    if (mdb_cursor_open(l->wtxn, l->marks, &cur) != 0)
        return -1;
    /* Collect first: fn writes entries through the same transaction. */
    struct ob_buf found;
    ob_buf_init(&found, (size_t)1 << 30);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t dead;
        uint32_t len = (uint32_t)v.mv_size;
        if (k.mv_size != sizeof(dead))
            continue;
        memcpy(&dead, k.mv_data, sizeof(dead));
        if (dead == incarnation)
            continue;
        ob_buf_append(&found, &dead, sizeof(dead));
        ob_buf_append(&found, &len, sizeof(len));
        ob_buf_append(&found, v.mv_data, v.mv_size);
    }
    mdb_cursor_close(cur);
    for (size_t at = 0; !found.failed && at + 12 <= found.len;) {
        uint64_t dead;
        uint32_t len;
        memcpy(&dead, found.data + at, sizeof(dead));
        memcpy(&len, found.data + at + 8, sizeof(len));
        const char *p = found.data + at + 12, *end = p + len;
        int alone = len > 0 && p[0] == 1;
        for (p += len > 0; p < end; p += strlen(p) + 1) {
            fn(arg, p, dead, alone);
            n++;
        }
        k.mv_size = sizeof(dead);
        k.mv_data = &dead;
        mdb_del(l->wtxn, l->marks, &k, NULL);
        l->staged++;
        at += 12 + len;
    }
    rc = found.failed ? -1 : n;
    ob_buf_reset(&found);
    return rc;
}
