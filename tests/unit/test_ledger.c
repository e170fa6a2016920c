/*
 * test_ledger.c — the delivery ledger (src/ledger.c) on a real LMDB
 * environment in a fresh temporary directory per test.
 *
 * LMDB forbids opening one environment twice in a process, so the tests of a
 * second process (a reader next to the writer, a writer killed mid-flight)
 * fork(); a child reports through its exit status and never calls a cmocka
 * assertion (a failing one would longjmp into the parent's test loop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "ledger.h"
#include "state_record.h"
#include "status.h" /* ob_now_epoch_ms */
#include "support.h"

#define TTL_MS 60000

struct fixture {
    char dir[64];   /* from mkdtemp */
    char path[128]; /* dir/ledger: the ledger creates it */
};

/* Remove an environment directory: its two files, then itself. */
static void remove_env(const char *path)
{
    char file[512];

    snprintf(file, sizeof file, "%s/data.mdb", path);
    unlink(file);
    snprintf(file, sizeof file, "%s/lock.mdb", path);
    unlink(file);
    rmdir(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/ob-test-ledger-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/ledger", f->dir);
    *state = f;
    return 0;
}

/* Removes every environment in the directory: the ledger and any that was
 * moved aside. */
static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *de;
    char path[sizeof f->dir + sizeof de->d_name + 1];
    int rc = 0;

    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", f->dir, de->d_name);
        remove_env(path);
    }
    if (d)
        closedir(d);
    if (rmdir(f->dir) != 0) {
        print_error("%s is not empty\n", f->dir);
        rc = -1;
    }
    free(f);
    return rc;
}

static struct ob_ledger *open_sync(const char *path, size_t max_bytes, int read_only,
                                   long sync_ms)
{
    struct ob_ledger_options o = {path, max_bytes, TTL_MS, read_only, sync_ms};
    struct ob_ledger *l = NULL;
    char err[256] = "";

    if (ob_ledger_open(&o, &l, err, sizeof err) != 0)
        print_error("open: %s\n", err);
    return l;
}

static struct ob_ledger *open_opts(const char *path, size_t max_bytes, int read_only)
{
    return open_sync(path, max_bytes, read_only, 0);
}

static struct ob_ledger *open_ledger(struct fixture *f)
{
    struct ob_ledger *l = open_opts(f->path, 0, 0);
    assert_non_null(l);
    return l;
}

static struct ob_ledger_entry entry(enum ob_ledger_state state)
{
    struct ob_ledger_entry e;

    memset(&e, 0, sizeof e);
    e.state = state;
    e.attempts = 3;
    e.first_attempt_ms = 1700000000123;
    strcpy(e.status, "ACCEPTED");
    e.http_status = 201;
    strcpy(e.warehouse_order_id, "WH-778");
    strcpy(e.carrier, "SF");
    strcpy(e.tracking_no, "SF1234567890");
    e.source = OB_SOURCE_EXPRESS;
    e.source_partition = 7;
    e.source_offset = 123456789012;
    return e;
}

static void put_ok(struct ob_ledger *l, const char *key)
{
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
    assert_int_equal(ob_ledger_put(l, key, &e), 0);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Wait for the child and return its exit status; -1 when it did not exit. */
static int child_status(pid_t pid)
{
    int st;

    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Raw LMDB access, for what the ledger's API cannot do: plant a value (the
 * database is created if missing), read the bytes stored, count a database.
 * No ledger may be open meanwhile. */
struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
};

static void raw_begin(struct raw *r, const char *path, const char *db)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 2), 0);
    assert_int_equal(mdb_env_open(r->env, path, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, db, MDB_CREATE, &r->dbi), 0);
}

static void raw_end(struct raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

static void raw_put(struct raw *r, const char *key, const void *val, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    assert_int_equal(mdb_put(r->txn, r->dbi, &k, &v, 0), 0);
}

static size_t raw_entries(const char *path, const char *db)
{
    struct raw r;
    MDB_stat st;

    raw_begin(&r, path, db);
    assert_int_equal(mdb_stat(r.txn, r.dbi, &st), 0);
    raw_end(&r);
    return st.ms_entries;
}

/* ------------------------------------------------------------------------ */

static void test_round_trip_all_fields(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    struct ob_ledger_entry in, out;
    struct stat st;
    int64_t before = ob_now_epoch_ms(), after;

    /* The directory is created, private. */
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);

    memset(&in, 0, sizeof in);
    in.state = OB_LEDGER_DONE;
    in.attempts = 7;
    in.first_attempt_ms = INT64_MAX - 1;
    in.updated_ms = 5; /* ignored: put sets it */
    strcpy(in.status, "DELIVERY_FAILED");
    in.http_status = -42;
    strcpy(in.warehouse_order_id, "WO-仓库-1");
    strcpy(in.carrier, "ZTO");
    strcpy(in.tracking_no, "75312345678901");
    strcpy(in.reason, "HTTP 503 \"busy\"\nretry later");
    assert_int_equal(ob_ledger_put(l, "key-1", &in), 0);
    after = ob_now_epoch_ms();

    memset(&out, 0x5a, sizeof out);
    assert_int_equal(ob_ledger_get(l, "key-1", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_DONE);
    assert_int_equal(out.attempts, 7);
    assert_true(out.first_attempt_ms == INT64_MAX - 1);
    assert_in_range(out.updated_ms, before, after);
    assert_string_equal(out.status, "DELIVERY_FAILED");
    assert_int_equal(out.http_status, -42);
    assert_string_equal(out.warehouse_order_id, "WO-仓库-1");
    assert_string_equal(out.carrier, "ZTO");
    assert_string_equal(out.tracking_no, "75312345678901");
    assert_string_equal(out.reason, "HTTP 503 \"busy\"\nretry later");

    /* The other states, empty strings and zeros. */
    memset(&in, 0, sizeof in);
    in.state = OB_LEDGER_IN_FLIGHT;
    assert_int_equal(ob_ledger_put(l, "key-2", &in), 0);
    in.state = OB_LEDGER_PARKED;
    in.attempts = 1;
    in.first_attempt_ms = -1;
    assert_int_equal(ob_ledger_put(l, "key-3", &in), 0);
    assert_int_equal(ob_ledger_get(l, "key-2", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_IN_FLIGHT);
    assert_int_equal(out.attempts, 0);
    assert_string_equal(out.status, "");
    assert_string_equal(out.reason, "");
    assert_int_equal(ob_ledger_get(l, "key-3", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_PARKED);
    assert_int_equal(out.attempts, 1);
    assert_true(out.first_attempt_ms == -1);

    /* Overwrite in place; a missing key is not found; out may be NULL. */
    in = entry(OB_LEDGER_DONE);
    assert_int_equal(ob_ledger_put(l, "key-2", &in), 0);
    assert_int_equal(ob_ledger_get(l, "key-2", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_DONE);
    assert_string_equal(out.tracking_no, "SF1234567890");
    assert_int_equal(ob_ledger_get(l, "key-2", NULL), 1);
    assert_int_equal(ob_ledger_get(l, "key-4", &out), 0);
    assert_int_equal(ob_ledger_count(l), 3);
    ob_ledger_close(l);
}

/* Strings that fill their arrays with no terminator come back cut at the
 * array size - 1, terminated. */
static void test_full_arrays_truncated(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    struct ob_ledger_entry in, out;
    char want[256];

    memset(&in, 'x', sizeof in);
    in.state = OB_LEDGER_DONE;
    in.attempts = 1;
    in.first_attempt_ms = 2;
    in.http_status = 200;
    assert_int_equal(ob_ledger_put(l, "k", &in), 0);
    assert_int_equal(ob_ledger_get(l, "k", &out), 1);

    memset(want, 'x', sizeof want);
    want[sizeof out.status - 1] = '\0';
    assert_string_equal(out.status, want);
    want[sizeof out.status - 1] = 'x';
    want[sizeof out.warehouse_order_id - 1] = '\0';
    assert_string_equal(out.warehouse_order_id, want);
    assert_string_equal(out.tracking_no, want);
    want[sizeof out.warehouse_order_id - 1] = 'x';
    want[sizeof out.carrier - 1] = '\0';
    assert_string_equal(out.carrier, want);
    want[sizeof out.carrier - 1] = 'x';
    want[sizeof out.reason - 1] = '\0';
    assert_string_equal(out.reason, want);
    ob_ledger_close(l);
}

/* Before a flush, get and count see the staged writes; after close and
 * reopen, what was flushed is there. */
static void test_staged_then_durable(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    struct ob_ledger_entry e = entry(OB_LEDGER_IN_FLIGHT), out;

    assert_int_equal(ob_ledger_count(l), 0);
    assert_int_equal(ob_ledger_put(l, "a", &e), 0);
    assert_int_equal(ob_ledger_get(l, "a", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_IN_FLIGHT);
    assert_int_equal(ob_ledger_count(l), 1);

    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_flush(l), 0); /* nothing staged: fine */
    /* Reads between flushes go through the read transaction. */
    assert_int_equal(ob_ledger_get(l, "a", &out), 1);
    assert_int_equal(ob_ledger_count(l), 1);

    e.state = OB_LEDGER_DONE;
    assert_int_equal(ob_ledger_put(l, "a", &e), 0);
    assert_int_equal(ob_ledger_put(l, "b", &e), 0);
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);

    l = open_ledger(f);
    assert_int_equal(ob_ledger_count(l), 2);
    assert_int_equal(ob_ledger_get(l, "a", &out), 1);
    assert_int_equal(out.state, OB_LEDGER_DONE);
    assert_int_equal(ob_ledger_get(l, "b", &out), 1);

    /* close flushes what is staged */
    assert_int_equal(ob_ledger_put(l, "c", &e), 0);
    ob_ledger_close(l);
    l = open_ledger(f);
    assert_int_equal(ob_ledger_get(l, "c", &out), 1);
    ob_ledger_close(l);
}

/* A writer killed with a write staged: the reopened ledger has what was
 * flushed and not what was staged. */
static void test_crash_loses_unflushed(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l;
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct ob_ledger *w = open_opts(f->path, 0, 0);
        struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
        if (!w || ob_ledger_put(w, "A", &e) != 0 || ob_ledger_flush(w) != 0 ||
            ob_ledger_put(w, "B", &e) != 0)
            _exit(2);
        kill(getpid(), SIGKILL); /* with B's write transaction open */
        _exit(3);
    }
    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);

    l = open_ledger(f);
    assert_int_equal(ob_ledger_get(l, "A", NULL), 1);
    assert_int_equal(ob_ledger_get(l, "B", NULL), 0);
    assert_int_equal(ob_ledger_count(l), 1);
    /* The dead writer's lock is recovered: writing works. */
    put_ok(l, "C");
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);
}

/* The same while a reader (replay) keeps the environment open, so that the
 * lock file is not reset: the next writer must still get the write lock the
 * dead one held. That writer runs in a child under alarm(), so that a hang
 * fails the test instead of stalling it. */
static void test_crash_next_to_reader(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    int go[2], ready[2];
    pid_t reader, pid;
    char c;

    ob_ledger_close(l); /* the directory and databases exist */
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(ready), 0);
    fflush(NULL);
    reader = fork();
    if (reader == 0) {
        struct ob_ledger *r = open_opts(f->path, 0, 1);
        close(go[1]);
        if (!r || write(ready[1], "r", 1) != 1)
            _exit(2);
        while (read(go[0], &c, 1) > 0) /* until the parent closes it */
            ;
        _exit(ob_ledger_get(r, "A", NULL) == 1 && ob_ledger_get(r, "B", NULL) == 0 &&
                      ob_ledger_get(r, "C", NULL) == 1
                  ? 0
                  : 3);
    }
    assert_true(reader > 0);
    close(go[0]);
    close(ready[1]); /* a reader that fails closes its end: read() sees 0 */
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);

    pid = fork();
    if (pid == 0) {
        struct ob_ledger *w = open_opts(f->path, 0, 0);
        struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
        if (!w || ob_ledger_put(w, "A", &e) != 0 || ob_ledger_flush(w) != 0 ||
            ob_ledger_put(w, "B", &e) != 0)
            _exit(2);
        kill(getpid(), SIGKILL); /* holding the write lock */
        _exit(3);
    }
    assert_int_equal(child_status(pid), -1);

    pid = fork();
    if (pid == 0) {
        struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
        struct ob_ledger *w;
        alarm(10);
        w = open_opts(f->path, 0, 0);
        if (!w || ob_ledger_get(w, "A", NULL) != 1 || ob_ledger_get(w, "B", NULL) != 0)
            _exit(2);
        if (ob_ledger_put(w, "C", &e) != 0 || ob_ledger_flush(w) != 0)
            _exit(3);
        ob_ledger_close(w);
        _exit(0);
    }
    assert_int_equal(child_status(pid), 0);
    close(go[1]);
    assert_int_equal(child_status(reader), 0);
}

/* A file from before, with a "parked" database beside "deliveries": it
 * opens, works, and the other database is left as it was. */
static void test_legacy_parked_db(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    struct raw r;

    put_ok(l, "a");
    ob_ledger_close(l);
    raw_begin(&r, f->path, "parked");
    raw_put(&r, "order-1", "\x02\x00\x00\x00", 4);
    raw_end(&r);

    l = open_ledger(f);
    assert_int_equal(ob_ledger_get(l, "a", NULL), 1);
    assert_int_equal(ob_ledger_count(l), 1);
    put_ok(l, "b");
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_count(l), 2);
    ob_ledger_close(l);
    assert_int_equal(raw_entries(f->path, "parked"), 1);
    assert_int_equal(raw_entries(f->path, "deliveries"), 2);

    l = open_opts(f->path, 0, 1); /* read-only too */
    assert_non_null(l);
    assert_int_equal(ob_ledger_get(l, "b", NULL), 1);
    ob_ledger_close(l);
}

static void test_expire_by_age(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    char key[16];
    int64_t now;

    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        put_ok(l, key);
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    now = ob_now_epoch_ms();

    /* Written less than a second ago: not older than now - ttl. */
    assert_int_equal(ob_ledger_expire(l, now + TTL_MS - 1000, 100), 0);
    assert_int_equal(ob_ledger_expire(l, now, 0), 0);
    assert_int_equal(ob_ledger_count(l), 10);
    /* All of them, whatever the previous call left the cursor at. */
    assert_int_equal(ob_ledger_expire(l, now + TTL_MS + 1, 100), 10);
    assert_int_equal(ob_ledger_count(l), 0);
    assert_int_equal(ob_ledger_get(l, "k3", NULL), 0);
    assert_int_equal(ob_ledger_expire(l, now + TTL_MS + 1, 100), 0);
    ob_ledger_close(l); /* flushes the deletions */

    l = open_ledger(f);
    assert_int_equal(ob_ledger_count(l), 0);
    ob_ledger_close(l);
}

/* Five old entries under "b*" behind five new ones under "a*": calls of at
 * most 3 resume where the last stopped and wrap at the end. */
static void test_expire_resumes(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    char key[16];
    int64_t mid;

    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "b%d", i);
        put_ok(l, key);
    }
    sleep_ms(10);
    mid = ob_now_epoch_ms();
    sleep_ms(10);
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "a%d", i);
        put_ok(l, key);
    }
    assert_int_equal(ob_ledger_flush(l), 0);

    /* now - ttl == mid: the b's are older, the a's are not */
    assert_int_equal(ob_ledger_expire(l, mid + TTL_MS, 3), 0); /* a1 a2 a3 */
    assert_int_equal(ob_ledger_expire(l, mid + TTL_MS, 3), 1); /* a4 a5 b1 */
    assert_int_equal(ob_ledger_expire(l, mid + TTL_MS, 3), 3); /* b2 b3 b4 */
    assert_int_equal(ob_ledger_expire(l, mid + TTL_MS, 3), 1); /* b5 a1 a2 */
    assert_int_equal(ob_ledger_expire(l, mid + TTL_MS, 3), 0); /* a3 a4 a5 */
    assert_int_equal(ob_ledger_count(l), 5);
    for (int i = 1; i <= 5; i++) {
        snprintf(key, sizeof key, "a%d", i);
        assert_int_equal(ob_ledger_get(l, key, NULL), 1);
        snprintf(key, sizeof key, "b%d", i);
        assert_int_equal(ob_ledger_get(l, key, NULL), 0);
    }
    ob_ledger_close(l);
}

/* Keys like idempotency keys: hex, in no particular order. */
static void hash_key(char key[17], uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    snprintf(key, 17, "%016llx", (unsigned long long)*x);
}

/* A 256 KiB map holds a few hundred entries: writing thousands, a flush every
 * 32, evicts as it goes. Every write succeeds, the count stays bounded,
 * entries in flight or parked are kept, and the ledger still works. */
static void test_full_map_evicts(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_opts(f->path, 256 << 10, 0);
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE), keep = entry(OB_LEDGER_IN_FLIGHT);
    uint64_t x = 88172645463325252ULL;
    size_t most = 0;
    char key[17];

    assert_non_null(l);
    assert_int_equal(ob_ledger_put(l, "00-in-flight", &keep), 0);
    keep.state = OB_LEDGER_PARKED;
    assert_int_equal(ob_ledger_put(l, "zz-parked", &keep), 0);
    for (int i = 0; i < 5000; i++) {
        hash_key(key, &x);
        assert_int_equal(ob_ledger_put(l, key, &e), 0);
        if (i % 32 == 31) {
            assert_int_equal(ob_ledger_flush(l), 0);
            size_t c = ob_ledger_count(l);
            most = c > most ? c : most;
        }
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_in_range(most, 50, 1000); /* an entry takes over 100 bytes */
    assert_int_equal(ob_ledger_get(l, "00-in-flight", NULL), 1);
    assert_int_equal(ob_ledger_get(l, "zz-parked", NULL), 1);
    put_ok(l, "after");
    assert_int_equal(ob_ledger_get(l, "after", NULL), 1);
    ob_ledger_close(l);
}

/* One transaction larger than the whole map: the write that hits
 * MDB_MAP_FULL loses the staged ones, evicts and is tried again. Puts fail or
 * succeed, never crash; afterwards the ledger works. */
static void test_map_full_in_one_transaction(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_opts(f->path, 256 << 10, 0);
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
    uint64_t x = 2463534242ULL;
    int ok = 0;
    char key[17];

    assert_non_null(l);
    for (int i = 0; i < 200; i++) { /* something to evict */
        hash_key(key, &x);
        put_ok(l, key);
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    for (int i = 0; i < 3000; i++) {
        hash_key(key, &x);
        ok += ob_ledger_put(l, key, &e) == 0;
    }
    assert_true(ok > 0);
    ob_ledger_flush(l); /* whatever is staged: may fail too */
    assert_true(ob_ledger_count(l) < 1000);

    put_ok(l, "after");
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_get(l, "after", NULL), 1);
    ob_ledger_close(l);
    l = open_opts(f->path, 256 << 10, 0);
    assert_non_null(l);
    assert_int_equal(ob_ledger_get(l, "after", NULL), 1);
    ob_ledger_close(l);
}

/* A second process opens the ledger read-only while the writer has a write
 * staged: it sees what was flushed, only that, and cannot write. */
static void test_read_only_next_to_writer(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *w = open_ledger(f);
    char err[256];
    pid_t pid;

    put_ok(w, "A");
    assert_int_equal(ob_ledger_flush(w), 0);
    put_ok(w, "B"); /* staged, write transaction open */

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct ob_ledger *r = open_opts(f->path, 0, 1);
        struct ob_ledger_entry e = entry(OB_LEDGER_DONE), out;
        if (!r)
            _exit(2);
        if (ob_ledger_get(r, "A", &out) != 1 || strcmp(out.tracking_no, "SF1234567890") != 0)
            _exit(3);
        if (ob_ledger_get(r, "B", NULL) != 0 || ob_ledger_count(r) != 1)
            _exit(4);
        if (ob_ledger_put(r, "C", &e) != -1 || ob_ledger_expire(r, INT64_MAX, 10) != 0 ||
            ob_ledger_flush(r) != 0)
            _exit(5);
        ob_ledger_close(r);
        _exit(0);
    }
    assert_int_equal(child_status(pid), 0);

    /* After the flush a new reader sees B. */
    assert_int_equal(ob_ledger_flush(w), 0);
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct ob_ledger *r = open_opts(f->path, 0, 1);
        _exit(!r || ob_ledger_get(r, "B", NULL) != 1 || ob_ledger_count(r) != 2);
    }
    assert_int_equal(child_status(pid), 0);
    ob_ledger_close(w);

    /* A read-only open creates nothing. */
    struct ob_ledger_options o = {"/tmp/ob-test-ledger-none/x", 0, 0, 1, 0};
    struct ob_ledger *r = (struct ob_ledger *)1;
    assert_int_equal(ob_ledger_open(&o, &r, err, sizeof err), -1);
    assert_null(r);
    assert_true(strstr(err, "/tmp/ob-test-ledger-none/x") != NULL);
}

/* Values that are not a well-formed entry read as not found, and the
 * expiry walk deletes them. */
static void test_corrupt_values(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    unsigned char good[1024], bad[1024];
    struct raw r;
    MDB_val k = {4, "good"}, v;
    size_t n;

    put_ok(l, "good");
    struct ob_ledger_entry marked = entry(OB_LEDGER_IN_FLIGHT);
    marked.adapter_running = 0x0123456789abcdefULL;
    marked.crashes = 3;
    marked.alone = 1;
    assert_int_equal(ob_ledger_put(l, "marked", &marked), 0);
    ob_ledger_close(l);

    raw_begin(&r, f->path, "deliveries");
    assert_int_equal(mdb_get(r.txn, r.dbi, &k, &v), 0);
    n = v.mv_size;
    assert_true(n > 31 && n < sizeof good);
    memcpy(good, v.mv_data, n);
    assert_int_equal(good[0], 3); /* version */
    assert_int_equal(good[1], OB_LEDGER_DONE);
    /* version 2, written before the source message: version 3 less its last 13 bytes */
    memcpy(bad, good, n);
    bad[0] = 2;
    raw_put(&r, "v2", bad, n - 13);
    /* version 1, written before the crash guard: version 2 less its last 10 bytes */
    bad[0] = 1;
    raw_put(&r, "v1", bad, n - 23);
    memcpy(bad, good, n);
    bad[n - 13] = 9; /* no such source topic */
    raw_put(&r, "source", bad, n);

    raw_put(&r, "short", good, n - 1);
    memcpy(bad, good, n);
    bad[n] = 0;
    raw_put(&r, "long", bad, n + 1);
    bad[0] = 99;
    raw_put(&r, "version", bad, n);
    memcpy(bad, good, n);
    bad[1] = 9;
    raw_put(&r, "state", bad, n);
    memcpy(bad, good, n);
    bad[30] = 200; /* status length (after 2 + 4 + 3 * 8 bytes) beyond its array */
    raw_put(&r, "strlen", bad, n);
    memcpy(bad, good, n);
    bad[31] = '\0'; /* a NUL inside "ACCEPTED" */
    raw_put(&r, "nul", bad, n);
    raw_put(&r, "garbage", "\xff\xfe\x00garbage", 10);
    raw_put(&r, "empty", "", 0);
    raw_end(&r);

    l = open_ledger(f);
    struct ob_ledger_entry got;
    assert_int_equal(ob_ledger_get(l, "good", &got), 1);
    assert_int_equal(got.source, OB_SOURCE_EXPRESS);
    assert_int_equal(got.source_partition, 7);
    assert_true(got.source_offset == 123456789012);
    assert_int_equal(ob_ledger_get(l, "v1", &got), 1);
    assert_int_equal(got.state, OB_LEDGER_DONE);
    assert_string_equal(got.status, "ACCEPTED");
    assert_true(got.adapter_running == 0 && got.crashes == 0 && got.alone == 0);
    assert_int_equal(got.source, OB_SOURCE_UNKNOWN);
    assert_int_equal(ob_ledger_get(l, "v2", &got), 1);
    assert_string_equal(got.status, "ACCEPTED");
    assert_int_equal(got.source, OB_SOURCE_UNKNOWN);
    assert_int_equal(ob_ledger_get(l, "marked", &got), 1);
    assert_true(got.adapter_running == 0x0123456789abcdefULL);
    assert_int_equal(got.crashes, 3);
    assert_int_equal(got.alone, 1);
    static const char *const corrupt[] = {"short", "long",    "version", "state", "strlen",
                                          "nul",   "source", "garbage", "empty"};
    for (size_t i = 0; i < sizeof corrupt / sizeof *corrupt; i++) {
        struct ob_ledger_entry out;
        if (ob_ledger_get(l, corrupt[i], &out) != 0) {
            print_error("\"%s\" was read\n", corrupt[i]);
            fail();
        }
    }

    assert_int_equal(ob_ledger_count(l), 13);
    assert_int_equal(ob_ledger_expire(l, ob_now_epoch_ms(), 100), 9);
    assert_int_equal(ob_ledger_count(l), 4);
    assert_int_equal(ob_ledger_get(l, "good", NULL), 1);
    ob_ledger_close(l);
}

/* Threads of this process named "ob-ledger-sync", from /proc. */
static int syncers(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *de;
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char path[300], name[32] = "";
        FILE *fp;

        snprintf(path, sizeof path, "/proc/self/task/%s/comm", de->d_name);
        fp = fopen(path, "r");
        if (!fp)
            continue;
        n += fgets(name, sizeof name, fp) && strcmp(name, "ob-ledger-sync\n") == 0;
        fclose(fp);
    }
    closedir(d);
    return n;
}

/* Whether there are `want` within a second: a joined thread may linger in
 * /proc for a moment. */
static int syncers_become(int want)
{
    for (int i = 0; i < 100; i++) {
        if (syncers() == want)
            return 1;
        sleep_ms(10);
    }
    print_error("%d sync threads, not %d\n", syncers(), want);
    return 0;
}

/* The sync thread starts with a writable open, and close stops it at once,
 * also in the middle of a long wait. */
static void test_sync_thread_start_stop(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l;
    int64_t t0;
    char key[16];

    assert_int_equal(syncers(), 0);
    for (int i = 0; i < 50; i++) {
        l = open_sync(f->path, 0, 0, 1 + i % 3);
        assert_non_null(l);
        if (i % 2) {
            snprintf(key, sizeof key, "k%d", i);
            put_ok(l, key);
            assert_int_equal(ob_ledger_flush(l), 0);
        }
        if (i % 10 == 0)
            sleep_ms(5); /* a few turns of the thread */
        ob_ledger_close(l);
    }
    assert_true(syncers_become(0));

    l = open_sync(f->path, 0, 0, 60000);
    assert_non_null(l);
    assert_true(syncers_become(1));
    t0 = ob_now_epoch_ms();
    ob_ledger_close(l);
    assert_true(ob_now_epoch_ms() - t0 < 1000);
    assert_true(syncers_become(0));

    /* No thread without an interval, nor for a reader. */
    l = open_sync(f->path, 0, 0, 0);
    assert_non_null(l);
    assert_int_equal(syncers(), 0);
    ob_ledger_close(l);
    l = open_sync(f->path, 0, 1, 10);
    assert_non_null(l);
    assert_int_equal(syncers(), 0);
    assert_int_equal(ob_ledger_count(l), 25);
    ob_ledger_close(l);
}

/* Puts, flushes, evictions and expiry on this thread while the sync thread
 * syncs every millisecond: all flushed entries are there after reopening. */
static void test_sync_beside_writer(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_sync(f->path, 0, 0, 1);
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
    uint64_t x = 362436069ULL;
    char key[17], first[17];

    assert_non_null(l);
    for (int i = 0; i < 3000; i++) {
        hash_key(key, &x);
        if (i == 0)
            strcpy(first, key);
        assert_int_equal(ob_ledger_put(l, key, &e), 0);
        if (i % 10 == 9)
            assert_int_equal(ob_ledger_flush(l), 0);
        if (i % 300 == 0) {
            assert_int_equal(ob_ledger_get(l, first, NULL), 1);
            assert_int_equal(ob_ledger_expire(l, ob_now_epoch_ms(), 50), 0);
            sleep_ms(2);
        }
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    sleep_ms(5); /* more than the interval */
    ob_ledger_close(l);

    l = open_ledger(f);
    assert_non_null(l);
    assert_int_equal(ob_ledger_count(l), 3000);
    ob_ledger_close(l);
}

/* Evictions commit outside flush; they run beside the sync thread too. */
static void test_sync_beside_eviction(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_sync(f->path, 256 << 10, 0, 1);
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
    uint64_t x = 521288629ULL;
    char key[17];

    assert_non_null(l);
    for (int i = 0; i < 3000; i++) {
        hash_key(key, &x);
        assert_int_equal(ob_ledger_put(l, key, &e), 0);
        if (i % 32 == 31)
            assert_int_equal(ob_ledger_flush(l), 0);
    }
    put_ok(l, "last");
    ob_ledger_close(l);
    l = open_opts(f->path, 256 << 10, 0);
    assert_non_null(l);
    assert_int_equal(ob_ledger_get(l, "last", NULL), 1);
    assert_true(ob_ledger_count(l) < 1000);
    ob_ledger_close(l);
}

/* A directory whose data.mdb is 64 KiB of 0xAB. */
static void plant_garbage(const char *path)
{
    unsigned char junk[64 << 10];
    char file[192];
    int fd;

    memset(junk, 0xab, sizeof junk);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(file, sizeof file, "%s/data.mdb", path);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
}

/* The directory moved aside from `path` (dir/name) as dir/name.corrupt-<s>,
 * with s in [lo, hi], holding the garbage. */
static void assert_moved_aside(const struct fixture *f, const char *name, int64_t lo, int64_t hi)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    size_t n = strlen(name);
    int found = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        char file[400], *end;
        unsigned char c = 0;
        struct stat st;
        long long s;
        FILE *fp;

        if (strncmp(de->d_name, name, n) != 0 || strncmp(de->d_name + n, ".corrupt-", 9) != 0)
            continue;
        s = strtoll(de->d_name + n + 9, &end, 10);
        assert_true(*end == '\0' && s >= lo && s <= hi);
        snprintf(file, sizeof file, "%s/%s/data.mdb", f->dir, de->d_name);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_size, 64 << 10);
        fp = fopen(file, "rb");
        assert_non_null(fp);
        assert_int_equal(fread(&c, 1, 1, fp), 1);
        fclose(fp);
        assert_int_equal(c, 0xab);
        found++;
    }
    closedir(d);
    assert_int_equal(found, 1);
}

/* A file LMDB cannot read: a read-only open fails and touches nothing; a
 * writable one moves the directory aside and starts empty. */
static void test_corrupt_file_moved_aside(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger_options o = {f->path, 0, TTL_MS, 1, 0};
    struct ob_ledger *l = (struct ob_ledger *)1;
    char err[256], other[160], slash[170];
    int64_t t0 = ob_now_epoch_ms() / 1000, t1;
    struct stat st;

    plant_garbage(f->path);
    assert_int_equal(ob_ledger_open(&o, &l, err, sizeof err), -1);
    assert_null(l);
    assert_non_null(strstr(err, f->path));
    assert_non_null(strstr(err, "MDB_INVALID"));
    assert_int_equal(stat(f->path, &st), 0);

    l = open_ledger(f);
    assert_int_equal(ob_ledger_count(l), 0);
    put_ok(l, "k");
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_get(l, "k", NULL), 1);
    ob_ledger_close(l);
    l = open_ledger(f);
    assert_int_equal(ob_ledger_get(l, "k", NULL), 1);
    ob_ledger_close(l);
    t1 = ob_now_epoch_ms() / 1000;
    assert_moved_aside(f, "ledger", t0, t1);

    /* A path ending in '/' is renamed as the directory, with a sync thread. */
    snprintf(other, sizeof other, "%s/other", f->dir);
    snprintf(slash, sizeof slash, "%s/", other);
    plant_garbage(other);
    l = open_sync(slash, 0, 0, 1);
    assert_non_null(l);
    put_ok(l, "k");
    ob_ledger_close(l);
    assert_moved_aside(f, "other", t0, ob_now_epoch_ms() / 1000);
}

struct taken {
    char keys[8][65];
    uint64_t dead[8];
    int alone[8];
    int n;
};

static void take(void *arg, const char *key, uint64_t dead, int alone)
{
    struct taken *t = arg;
    if (t->n < 8) {
        snprintf(t->keys[t->n], sizeof t->keys[t->n], "%s", key);
        t->dead[t->n] = dead;
        t->alone[t->n] = alone;
    }
    t->n++;
}

/* The crash guard's marks: a flushed mark outlives a kill; an unmarked one
 * does not; the taker sees only other incarnations' marks, once. */
static void test_marks(void **state)
{
    struct fixture *f = *state;
    const char *batch[] = {"K1", "K2", "K3"}, *lone[] = {"K9"};
    struct ob_ledger *l = open_ledger(f);
    struct taken t = {0};

    assert_int_equal(ob_ledger_mark(l, 7, batch, 3, 0), 0);
    assert_int_equal(ob_ledger_mark(l, 8, lone, 1, 1), 0);
    assert_int_equal(ob_ledger_mark(l, 9, batch, 1, 0), 0);
    assert_int_equal(ob_ledger_unmark(l, 9), 0);
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);

    l = open_ledger(f);
    assert_int_equal(ob_ledger_take_marks(l, 8, take, &t), 3); /* 8 is "ours": kept */
    assert_int_equal(t.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(t.keys[i], batch[i]);
        assert_true(t.dead[i] == 7);
        assert_int_equal(t.alone[i], 0);
    }
    memset(&t, 0, sizeof t);
    assert_int_equal(ob_ledger_take_marks(l, 1, take, &t), 1); /* 7's is gone, 8's left */
    assert_string_equal(t.keys[0], "K9");
    assert_true(t.dead[0] == 8);
    assert_int_equal(t.alone[0], 1);
    assert_int_equal(ob_ledger_flush(l), 0);
    memset(&t, 0, sizeof t);
    assert_int_equal(ob_ledger_take_marks(l, 1, take, &t), 0);
    ob_ledger_close(l);
}

/* Bytes the data file holds on disk (not its apparent size). */
static long long on_disk(const char *path)
{
    char file[256];
    struct stat st;

    snprintf(file, sizeof file, "%s/data.mdb", path);
    assert_int_equal(stat(file, &st), 0);
    return (long long)st.st_blocks * 512;
}

/* The ledger writes into its map (MDB_WRITEMAP): the whole map is reserved
 * on disk at open, so that a full disk can never turn a write into SIGBUS. */
static void test_map_reserved_on_disk(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_opts(f->path, 8u << 20, 0);

    assert_non_null(l);
    assert_true(on_disk(f->path) >= 8LL << 20);
    put_ok(l, "A");
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_get(l, "A", NULL), 1);
    ob_ledger_close(l);
}

struct open_args {
    const char *path;
    size_t max_bytes;
    struct ob_ledger *l;
};

static void open_quietly(void *arg)
{
    struct open_args *a = arg;
    a->l = open_opts(a->path, a->max_bytes, 0);
}

/* A map larger than the free space: not reserved, a WARN says so, and the
 * ledger works on, writing through pwrite(). */
static void test_map_not_reservable(void **state)
{
    struct fixture *f = *state;
    struct statvfs vfs;
    struct open_args a = {.path = f->path};
    char *err;

    assert_int_equal(statvfs(f->dir, &vfs), 0);
    a.max_bytes = (size_t)vfs.f_bavail * vfs.f_frsize + (256u << 20);
    if (a.max_bytes > (8ULL << 40)) {
        skip(); /* more than 8 TiB free: a larger map is no test of this */
        return;
    }
    err = capture_stderr(open_quietly, &a);
    assert_non_null(a.l);
    if (!strstr(err, "cannot reserve"))
        fail_msg("no WARN: \"%s\"", err);
    free(err);
    assert_true(on_disk(f->path) < 64LL << 20);
    put_ok(a.l, "A");
    assert_int_equal(ob_ledger_flush(a.l), 0);
    assert_int_equal(ob_ledger_get(a.l, "A", NULL), 1);
    ob_ledger_close(a.l);
}

static void test_bad_arguments(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger_options o = {NULL, 0, 0, 0, 0};
    struct ob_ledger_entry e = entry(OB_LEDGER_DONE);
    struct ob_ledger *l = (struct ob_ledger *)1;
    char err[256], big[600];

    assert_int_equal(ob_ledger_open(NULL, &l, err, sizeof err), -1);
    assert_null(l);
    assert_int_equal(ob_ledger_open(&o, &l, err, sizeof err), -1);
    o.path = "";
    assert_int_equal(ob_ledger_open(&o, &l, err, sizeof err), -1);
    o.path = f->path;
    o.max_bytes = 4096;
    assert_int_equal(ob_ledger_open(&o, &l, err, sizeof err), -1);
    assert_true(strstr(err, "max_bytes") != NULL);
    o.path = "/proc/ob-test-ledger"; /* cannot be created */
    o.max_bytes = 0;
    assert_int_equal(ob_ledger_open(&o, &l, err, sizeof err), -1);

    /* NULL handle */
    ob_ledger_close(NULL);
    assert_int_equal(ob_ledger_get(NULL, "k", NULL), -1);
    assert_int_equal(ob_ledger_put(NULL, "k", &e), -1);
    assert_int_equal(ob_ledger_flush(NULL), 0);
    assert_int_equal(ob_ledger_expire(NULL, 0, 10), 0);
    assert_int_equal(ob_ledger_count(NULL), 0);

    /* Refused writes do not disturb the staged ones. */
    l = open_ledger(f);
    put_ok(l, "staged");
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(ob_ledger_put(l, NULL, &e), -1);
    assert_int_equal(ob_ledger_put(l, "", &e), -1);
    assert_int_equal(ob_ledger_put(l, big, &e), -1);
    assert_int_equal(ob_ledger_put(l, "k", NULL), -1);
    e.state = 0;
    assert_int_equal(ob_ledger_put(l, "k", &e), -1);
    e.state = 4;
    assert_int_equal(ob_ledger_put(l, "k", &e), -1);
    assert_int_equal(ob_ledger_get(l, NULL, NULL), -1);
    assert_int_equal(ob_ledger_get(l, big, NULL), -1);
    assert_int_equal(ob_ledger_get(l, "", NULL), -1);
    big[511] = '\0'; /* the longest key */
    e.state = OB_LEDGER_DONE;
    assert_int_equal(ob_ledger_put(l, big, &e), 0);
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_get(l, "staged", NULL), 1);
    assert_int_equal(ob_ledger_get(l, big, NULL), 1);
    assert_int_equal(ob_ledger_count(l), 2);
    ob_ledger_close(l);
}

/* ------------------------------------------------------------------------ */
/* Orders: one order's whole state, for the state changelog (issue 13)      */

static struct ob_track track_of(int current, int64_t revision)
{
    struct ob_track t;

    memset(&t, 0, sizeof t);
    t.current = current;
    t.emitted = 1u << current;
    t.revision = revision;
    t.seen[0] = 0xfeedu;
    t.seen_next = 1;
    strcpy(t.idempotency_key, "k1");
    strcpy(t.warehouse_order_id, "WH-778");
    return t;
}

/* SO-1: two deliveries and a track; SO-10 (its id starts with SO-1's): one
 * delivery and a track of its own. */
static void two_orders(struct ob_ledger *l)
{
    struct ob_ledger_entry done = entry(OB_LEDGER_DONE), busy = entry(OB_LEDGER_IN_FLIGHT);
    struct ob_track t1 = track_of(5, 1), t10 = track_of(1, 2);

    busy.adapter_running = 42;
    assert_int_equal(ob_ledger_put_order(l, "SO-1", "k1", &done), 0);
    assert_int_equal(ob_ledger_put_order(l, "SO-1", "k2", &busy), 0);
    assert_int_equal(ob_ledger_put_order(l, "SO-10", "k3", &done), 0);
    assert_int_equal(ob_ledger_track_put(l, "W1", "SO-1", &t1), 0);
    assert_int_equal(ob_ledger_track_put(l, "W1", "SO-10", &t10), 0);
}

static void check_so1(const struct ob_order_state *s)
{
    assert_string_equal(s->order_id, "SO-1");
    assert_int_equal(s->n_deliveries, 2);
    assert_string_equal(s->deliveries[0].key, "k1");
    assert_int_equal(s->deliveries[0].entry.state, OB_LEDGER_DONE);
    assert_string_equal(s->deliveries[0].entry.tracking_no, "SF1234567890");
    assert_string_equal(s->deliveries[1].key, "k2");
    assert_int_equal(s->deliveries[1].entry.state, OB_LEDGER_IN_FLIGHT);
    assert_true(s->deliveries[1].entry.adapter_running == 42);
    assert_int_equal(s->n_tracks, 1);
    assert_string_equal(s->tracks[0].warehouse, "W1");
    assert_int_equal(s->tracks[0].track.current, 5);
    assert_true(s->tracks[0].track.revision == 1);
    assert_int_equal(s->tracks[0].track.seen[0], 0xfeedu);
}

static void test_order_state(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    static struct ob_order_state s;

    two_orders(l);
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 1); /* staged */
    check_so1(&s);
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 1);
    check_so1(&s);
    assert_int_equal(ob_ledger_order_state(l, "SO-10", &s), 1);
    assert_int_equal(s.n_deliveries, 1);
    assert_string_equal(s.deliveries[0].key, "k3");
    assert_int_equal(s.n_tracks, 1);
    assert_int_equal(s.tracks[0].track.current, 1);
    assert_int_equal(ob_ledger_order_state(l, "SO-2", &s), 0);
    assert_int_equal(s.n_deliveries + s.n_tracks, 0);
    /* A delivery put without its order is in no order's state. */
    put_ok(l, "k4");
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 1);
    assert_int_equal(s.n_deliveries, 2);
    ob_ledger_close(l);
}

/* A state read from one ledger, applied to an empty one: the same entries,
 * with the times they carry; a smaller state takes away what it no longer
 * names; a tombstone takes the order away; the other order stays. */
static void test_apply_state(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *a = open_ledger(f), *b;
    static struct ob_order_state s, got, smaller;
    struct ob_ledger_entry e;
    struct ob_track t;
    char other[sizeof f->path + 8];

    two_orders(a);
    assert_int_equal(ob_ledger_flush(a), 0);
    assert_int_equal(ob_ledger_order_state(a, "SO-1", &s), 1);
    ob_ledger_close(a);
    s.deliveries[0].entry.updated_ms = 1700000000999; /* as the record carries it */

    snprintf(other, sizeof other, "%s-b", f->path);
    b = open_opts(other, 0, 0);
    assert_non_null(b);
    assert_int_equal(ob_ledger_apply_state(b, &s), 0);
    assert_int_equal(ob_ledger_flush(b), 0);
    assert_int_equal(ob_ledger_order_state(b, "SO-1", &got), 1);
    check_so1(&got);
    assert_int_equal(ob_ledger_get(b, "k1", &e), 1);
    assert_true(e.updated_ms == 1700000000999);
    assert_int_equal(ob_ledger_track_get(b, "W1", "SO-1", &t), 1);
    assert_int_equal(t.current, 5);

    /* SO-10 lives in b too; SO-1 shrinks to k2 alone. */
    {
        struct ob_ledger_entry done = entry(OB_LEDGER_DONE);
        assert_int_equal(ob_ledger_put_order(b, "SO-10", "k3", &done), 0);
    }
    smaller = s;
    smaller.deliveries[0] = s.deliveries[1];
    smaller.n_deliveries = 1;
    smaller.n_tracks = 0;
    assert_int_equal(ob_ledger_apply_state(b, &smaller), 0);
    assert_int_equal(ob_ledger_get(b, "k1", NULL), 0);
    assert_int_equal(ob_ledger_get(b, "k2", NULL), 1);
    assert_int_equal(ob_ledger_track_get(b, "W1", "SO-1", NULL), 0);
    assert_int_equal(ob_ledger_order_state(b, "SO-1", &got), 1);
    assert_int_equal(got.n_deliveries, 1);
    assert_int_equal(got.n_tracks, 0);

    memset(&smaller, 0, sizeof smaller);
    strcpy(smaller.order_id, "SO-1");
    assert_int_equal(ob_ledger_apply_state(b, &smaller), 0);
    assert_int_equal(ob_ledger_flush(b), 0);
    assert_int_equal(ob_ledger_order_state(b, "SO-1", &got), 0);
    assert_int_equal(ob_ledger_get(b, "k2", NULL), 0);
    assert_int_equal(ob_ledger_get(b, "k3", NULL), 1);
    ob_ledger_close(b);
    assert_int_equal(raw_entries(other, "by_order"), 1); /* SO-10's k3 */
    remove_env(other);
}

/* The index expires with the records it points at. */
static void test_order_index_expires(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);
    static struct ob_order_state s;
    int64_t now;

    two_orders(l);
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);
    assert_int_equal(raw_entries(f->path, "by_order"), 5);
    l = open_ledger(f);
    now = ob_now_epoch_ms();
    assert_int_equal(ob_ledger_expire(l, now + TTL_MS + 1000, 100), 5);
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 0);
    ob_ledger_close(l);
    assert_int_equal(raw_entries(f->path, "by_order"), 0);
}

/* ------------------------------------------------------------------------ */
/* Migration: a file written before the index by order                      */

/* Delete database `db` whole, as a file of a version without it. */
static void raw_drop(const char *path, const char *db)
{
    struct raw r;

    raw_begin(&r, path, db);
    assert_int_equal(mdb_drop(r.txn, r.dbi, 1), 0);
    raw_end(&r);
}

/* The updated_ms an index entry holds; -1 when there is none. */
static int64_t raw_index(const char *path, const char *order_id, char kind, const char *name)
{
    char key[256];
    struct raw r;
    MDB_val k, v;
    int64_t when = -1;

    snprintf(key, sizeof key, "%s\x1f%c%s", order_id, kind, name);
    k.mv_size = strlen(key);
    k.mv_data = key;
    raw_begin(&r, path, "by_order");
    if (mdb_get(r.txn, r.dbi, &k, &v) == 0) {
        assert_int_equal(v.mv_size, 8);
        when = 0;
        for (int i = 7; i >= 0; i--)
            when = when << 8 | ((const unsigned char *)v.mv_data)[i];
    }
    raw_end(&r);
    return when;
}

/* Tracks of the old file: warehouse, order, the key it was pushed with
 * (a delivery, except "gone" and ""). */
static const struct {
    const char *wh, *order_id, *key;
} old_tracks[] = {
    {"W1", "SO-1", "k1"}, {"W2", "SO-1", "k2"}, {"W1", "SO-10", "k10"}, {"W1", "SO-2", "gone"},
    {"W2", "SO-3", ""},   {"W1", "SO-4", "k4"}, {"W1", "SO-5", "k5"},   {"W1", "SO-6", "k6"},
};
static const char *const old_deliveries[] = {"k1", "k2", "k10", "k4", "k5", "k6",
                                             "kr" /* rejected: no track */};
#define N_OLD_TRACKS (sizeof old_tracks / sizeof old_tracks[0])
#define N_OLD_DELIVERIES (sizeof old_deliveries / sizeof old_deliveries[0])

/* Write the records with the API (put without an order; the track puts
 * index), then take the index away: what an older version left. */
static void old_ledger(struct fixture *f)
{
    struct ob_ledger *l = open_ledger(f);

    for (size_t i = 0; i < N_OLD_DELIVERIES; i++)
        put_ok(l, old_deliveries[i]);
    for (size_t i = 0; i < N_OLD_TRACKS; i++) {
        struct ob_track t = track_of(3, (int64_t)i);
        strcpy(t.idempotency_key, old_tracks[i].key);
        assert_int_equal(ob_ledger_track_put(l, old_tracks[i].wh, old_tracks[i].order_id, &t), 0);
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);
    raw_drop(f->path, "by_order");
}

static int has_delivery(const struct ob_order_state *s, const char *key)
{
    for (size_t i = 0; i < s->n_deliveries; i++)
        if (strcmp(s->deliveries[i].key, key) == 0)
            return 1;
    return 0;
}

static int has_track(const struct ob_order_state *s, const char *wh)
{
    for (size_t i = 0; i < s->n_tracks; i++)
        if (strcmp(s->tracks[i].warehouse, wh) == 0)
            return 1;
    return 0;
}

/* Every track is indexed under its order with its delivery, in batches;
 * the records keep their times and the index carries them; a delivery
 * without a track stays out; a second run indexes nothing. */
static void test_index_tracks(void **state)
{
    struct fixture *f = *state;
    static struct ob_order_state s;
    struct ob_ledger *l;
    struct ob_ledger_entry e;
    struct ob_track t;
    int64_t t_ms[N_OLD_TRACKS], d_ms[N_OLD_DELIVERIES];
    size_t n, total = 0, calls = 0;
    int rc;

    old_ledger(f);
    l = open_ledger(f);
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 0); /* nothing indexed */
    /* SO-5's track was indexed since (put again by a new version); its
     * delivery was not. */
    assert_int_equal(ob_ledger_track_get(l, "W1", "SO-5", &t), 1);
    assert_int_equal(ob_ledger_track_put(l, "W1", "SO-5", &t), 0);
    assert_int_equal(ob_ledger_flush(l), 0);
    for (size_t i = 0; i < N_OLD_TRACKS; i++) {
        assert_int_equal(ob_ledger_track_get(l, old_tracks[i].wh, old_tracks[i].order_id, &t), 1);
        t_ms[i] = t.updated_ms;
    }
    for (size_t i = 0; i < N_OLD_DELIVERIES; i++) {
        assert_int_equal(ob_ledger_get(l, old_deliveries[i], &e), 1);
        d_ms[i] = e.updated_ms;
    }
    sleep_ms(20); /* a record rewritten now would show it */

    do {
        rc = ob_ledger_index_tracks(l, 3, &n);
        assert_true(rc >= 0);
        assert_true(n <= 3);
        assert_int_equal(ob_ledger_flush(l), 0);
        total += n;
        calls++;
    } while (rc == 1);
    assert_int_equal(calls, 3); /* 3 + 3 + 2 tracks */
    assert_int_equal(total, N_OLD_TRACKS - 1); /* all but SO-5's */

    for (size_t i = 0; i < N_OLD_TRACKS; i++) {
        const char *key = old_tracks[i].key;
        int with_delivery = *key && strcmp(key, "gone") != 0;
        assert_int_equal(ob_ledger_order_state(l, old_tracks[i].order_id, &s), 1);
        assert_true(has_track(&s, old_tracks[i].wh));
        assert_int_equal(has_delivery(&s, key), with_delivery);
    }
    assert_int_equal(ob_ledger_order_state(l, "SO-1", &s), 1);
    assert_int_equal(s.n_deliveries, 2);
    assert_int_equal(s.n_tracks, 2);
    assert_int_equal(ob_ledger_order_state(l, "SO-2", &s), 1);
    assert_int_equal(s.n_deliveries, 0);
    assert_int_equal(s.n_tracks, 1);
    /* Nothing rewritten. */
    for (size_t i = 0; i < N_OLD_TRACKS; i++) {
        assert_int_equal(ob_ledger_track_get(l, old_tracks[i].wh, old_tracks[i].order_id, &t), 1);
        assert_true(t.updated_ms == t_ms[i]);
    }
    for (size_t i = 0; i < N_OLD_DELIVERIES; i++) {
        assert_int_equal(ob_ledger_get(l, old_deliveries[i], &e), 1);
        assert_true(e.updated_ms == d_ms[i]);
    }

    /* Again: nothing new, in one call or in batches. */
    assert_int_equal(ob_ledger_index_tracks(l, 100, &n), 0);
    assert_int_equal(n, 0);
    total = 0;
    do {
        rc = ob_ledger_index_tracks(l, 3, &n);
        assert_true(rc >= 0);
        total += n;
    } while (rc == 1);
    assert_int_equal(total, 0);
    assert_int_equal(ob_ledger_index_tracks(l, 0, &n), -1);
    ob_ledger_close(l);

    /* 8 tracks and the 6 deliveries they name; not "kr". The index holds
     * the records' times. */
    assert_int_equal(raw_entries(f->path, "by_order"), N_OLD_TRACKS + 6);
    assert_true(raw_index(f->path, "SO-1", 't', "W2") == t_ms[1]);
    assert_true(raw_index(f->path, "SO-1", 'd', "k2") == d_ms[1]);
    assert_true(raw_index(f->path, "SO-6", 'd', "k6") == d_ms[5]);
    assert_true(raw_index(f->path, "SO-5", 'd', "k5") == d_ms[4]);

    l = open_opts(f->path, 0, 1); /* read-only: no migration */
    assert_non_null(l);
    assert_int_equal(ob_ledger_index_tracks(l, 3, &n), -1);
    ob_ledger_close(l);
}

/* Each order once, in key order ("SO-1" before "SO-10" before "SO-2"),
 * staged writes included. */
static void test_order_next(void **state)
{
    struct fixture *f = *state;
    static const char *const want[] = {"SO-1", "SO-10", "SO-2", "SO-3", "SO-4", "SO-5", "SO-6"};
    struct ob_ledger *l;
    struct ob_ledger_entry done = entry(OB_LEDGER_DONE);
    char id[65] = "";
    size_t n = 0;

    l = open_ledger(f);
    assert_int_equal(ob_ledger_order_next(l, id), 0); /* empty */
    ob_ledger_close(l);
    old_ledger(f);
    l = open_ledger(f);
    assert_int_equal(ob_ledger_order_next(l, id), 0); /* nothing indexed yet */
    while (ob_ledger_index_tracks(l, 3, NULL) == 1)
        ;
    assert_int_equal(ob_ledger_flush(l), 0);
    while (ob_ledger_order_next(l, id) == 1) {
        assert_true(n < sizeof want / sizeof want[0]);
        assert_string_equal(id, want[n]);
        n++;
    }
    assert_int_equal(n, sizeof want / sizeof want[0]);
    assert_int_equal(ob_ledger_order_next(l, id), 0);
    assert_string_equal(id, "SO-6"); /* left as it was */

    /* Staged: an order before the others, and one between SO-1 and SO-10. */
    assert_int_equal(ob_ledger_put_order(l, "SO-0", "k0", &done), 0);
    assert_int_equal(ob_ledger_put_order(l, "SO-1 ", "k0b", &done), 0);
    id[0] = '\0';
    assert_int_equal(ob_ledger_order_next(l, id), 1);
    assert_string_equal(id, "SO-0");
    assert_int_equal(ob_ledger_order_next(l, id), 1);
    assert_string_equal(id, "SO-1");
    assert_int_equal(ob_ledger_order_next(l, id), 1);
    assert_string_equal(id, "SO-1 ");
    assert_int_equal(ob_ledger_order_next(l, id), 1);
    assert_string_equal(id, "SO-10");
    ob_ledger_close(l);
}

/* Named values: staged, durable, kept by expiry, readable read-only; a
 * file without the table has none. */
static void test_meta(void **state)
{
    struct fixture *f = *state;
    struct ob_ledger *l = open_ledger(f);

    assert_true(ob_ledger_meta(l, "tracks_indexed") == -1);
    assert_int_equal(ob_ledger_set_meta(l, "tracks_indexed", 1), 0);
    assert_int_equal(ob_ledger_set_meta(l, "other", 1700000000123LL), 0);
    assert_true(ob_ledger_meta(l, "tracks_indexed") == 1); /* staged */
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_true(ob_ledger_meta(l, "tracks_indexed") == 1);
    assert_int_equal(ob_ledger_set_meta(l, "x", -1), -1);
    assert_int_equal(ob_ledger_set_meta(l, "", 1), -1);
    assert_true(ob_ledger_meta(l, "") == -1);
    put_ok(l, "k1");
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_expire(l, ob_now_epoch_ms() + 10 * TTL_MS, 1000), 1);
    assert_int_equal(ob_ledger_flush(l), 0);
    ob_ledger_close(l);

    l = open_ledger(f);
    assert_true(ob_ledger_meta(l, "tracks_indexed") == 1);
    assert_true(ob_ledger_meta(l, "other") == 1700000000123LL);
    assert_int_equal(ob_ledger_set_meta(l, "tracks_indexed", 2), 0);
    ob_ledger_close(l); /* flushes */

    l = open_opts(f->path, 0, 1);
    assert_non_null(l);
    assert_true(ob_ledger_meta(l, "tracks_indexed") == 2);
    assert_int_equal(ob_ledger_set_meta(l, "tracks_indexed", 3), -1);
    ob_ledger_close(l);

    raw_drop(f->path, "meta");
    l = open_opts(f->path, 0, 1);
    assert_non_null(l);
    assert_true(ob_ledger_meta(l, "tracks_indexed") == -1);
    ob_ledger_close(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_all_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_arrays_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staged_then_durable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_loses_unflushed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_next_to_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_parked_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_by_age, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_map_evicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_full_in_one_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_next_to_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_thread_start_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_beside_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sync_beside_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_file_moved_aside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_reserved_on_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_not_reservable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_index_expires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_tracks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_order_next, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
