/*
 * test_track.c — the order status state machine (src/track.c) and order
 * tracks in the ledger (src/ledger.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ledger.h"
#include "track.h"

static struct ob_status_update upd(enum ob_fulfillment_status s, const char *code, int64_t at)
{
    struct ob_status_update u;

    memset(&u, 0, sizeof u);
    strcpy(u.order_id, "SO1");
    u.status = s;
    snprintf(u.raw_code, sizeof u.raw_code, "%s", code);
    u.occurred_at_ms = at;
    return u;
}

static enum ob_track_verdict apply(struct ob_track *t, enum ob_fulfillment_status s,
                                   const char *code, int64_t at)
{
    struct ob_status_update u = upd(s, code, at);
    return ob_track_apply(t, &u);
}

static void test_forward_once(void **state)
{
    (void)state;
    struct ob_track t;

    ob_track_init(&t, 3, "k", "W1");
    assert_int_equal(t.current, OB_STATUS_ACCEPTED);
    assert_int_equal(t.revision, 3);
    /* the push already reported ACCEPTED */
    assert_int_equal(apply(&t, OB_STATUS_ACCEPTED, "x", 1), OB_TRACK_REPEAT);
    const enum ob_fulfillment_status ladder[] = {OB_STATUS_ALLOCATED, OB_STATUS_PICKED,
                                                 OB_STATUS_PACKED, OB_STATUS_SHIPPED,
                                                 OB_STATUS_DELIVERED};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(apply(&t, ladder[i], "c", (int64_t)i), OB_TRACK_EMIT);
        assert_int_equal(t.current, ladder[i]);
        /* a repeat of any status already emitted, whatever its time */
        assert_int_equal(apply(&t, ladder[i], "c", 99), OB_TRACK_REPEAT);
    }
    assert_true(t.terminal);
}

static void test_late_never_backwards(void **state)
{
    (void)state;
    struct ob_track t;

    ob_track_init(&t, 1, "k", "");
    assert_int_equal(apply(&t, OB_STATUS_SHIPPED, "shipped", 50), OB_TRACK_EMIT);
    assert_int_equal(apply(&t, OB_STATUS_PACKED, "packed", 40), OB_TRACK_EMIT_LATE);
    assert_int_equal(t.current, OB_STATUS_SHIPPED);
    assert_int_equal(apply(&t, OB_STATUS_PACKED, "packed", 40), OB_TRACK_REPEAT);
    assert_int_equal(apply(&t, OB_STATUS_DELIVERED, "d", 60), OB_TRACK_EMIT);
    /* out of a terminal state nothing moves, but late news is still told */
    assert_int_equal(apply(&t, OB_STATUS_PICKED, "p", 30), OB_TRACK_EMIT_LATE);
    assert_int_equal(apply(&t, OB_STATUS_CANCELLED, "c", 70), OB_TRACK_EMIT_LATE);
    assert_int_equal(t.current, OB_STATUS_DELIVERED);
    assert_false(t.emitted & (1u << OB_STATUS_ALLOCATED));
}

static void test_cancel_is_terminal(void **state)
{
    (void)state;
    struct ob_track t;

    ob_track_init(&t, 1, "k", "");
    assert_int_equal(apply(&t, OB_STATUS_ALLOCATED, "a", 1), OB_TRACK_EMIT);
    assert_int_equal(apply(&t, OB_STATUS_CANCELLED, "c", 2), OB_TRACK_EMIT);
    assert_int_equal(t.current, OB_STATUS_CANCELLED);
    assert_true(t.terminal);
    assert_int_equal(apply(&t, OB_STATUS_SHIPPED, "s", 3), OB_TRACK_EMIT_LATE);
    assert_int_equal(t.current, OB_STATUS_CANCELLED);
}

static void test_events_once_per_report(void **state)
{
    (void)state;
    struct ob_track t;
    struct ob_status_update u;

    ob_track_init(&t, 1, "k", "");
    assert_int_equal(apply(&t, OB_STATUS_PICKED, "PICK", 1), OB_TRACK_EMIT);
    /* an exception does not move the state; the same report twice is one */
    u = upd(OB_STATUS_EXCEPTION, "EXCEPTION", 5);
    strcpy(u.reason, "damaged");
    assert_int_equal(ob_track_apply(&t, &u), OB_TRACK_EMIT);
    assert_int_equal(ob_track_apply(&t, &u), OB_TRACK_REPEAT);
    assert_int_equal(t.current, OB_STATUS_PICKED);
    /* another exception (other time or reason) is news */
    strcpy(u.reason, "address");
    assert_int_equal(ob_track_apply(&t, &u), OB_TRACK_EMIT);
    /* unmapped codes: once per code and time */
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "30", 10), OB_TRACK_EMIT);
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "30", 10), OB_TRACK_REPEAT);
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "30", 11), OB_TRACK_EMIT);
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "31", 10), OB_TRACK_EMIT);
    assert_int_equal(t.current, OB_STATUS_PICKED);
    /* the ring remembers OB_TRACK_SEEN reports */
    for (int i = 0; i < OB_TRACK_SEEN - 1; i++)
        assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "44", 100 + i), OB_TRACK_EMIT);
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "44", 100 + OB_TRACK_SEEN - 2), OB_TRACK_REPEAT);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ob_fulfillment_status_name(OB_STATUS_SHIPPED), "SHIPPED");
    assert_string_equal(ob_fulfillment_status_name(OB_STATUS_UNMAPPED), "UNMAPPED");
    assert_string_equal(ob_fulfillment_status_name(OB_STATUS_REJECTED), "REJECTED");
    assert_null(ob_fulfillment_status_name(-1));
    assert_null(ob_fulfillment_status_name(99));
    assert_true(ob_fulfillment_status_terminal(OB_STATUS_DELIVERED));
    assert_false(ob_fulfillment_status_terminal(OB_STATUS_EXCEPTION));
}

static void test_ledger_tracks(void **state)
{
    (void)state;
    char dir[] = "/tmp/ob-track-XXXXXX", order_id[65];
    struct ob_ledger *l;
    struct ob_ledger_options opt = {.path = dir, .max_bytes = 8u << 20};
    struct ob_track t, got;
    char errstr[256];

    assert_non_null(mkdtemp(dir));
    assert_int_equal(ob_ledger_open(&opt, &l, errstr, sizeof errstr), 0);
    assert_int_equal(ob_ledger_track_get(l, "W1", "SO1", &got), 0);
    ob_track_init(&t, 2, "abc", "WH-9");
    assert_int_equal(apply(&t, OB_STATUS_UNMAPPED, "30", 7), OB_TRACK_EMIT);
    assert_int_equal(ob_ledger_track_put(l, "W1", "SO1", &t), 0);
    assert_int_equal(ob_ledger_track_put(l, "W1", "SO3", &t), 0);
    assert_int_equal(ob_ledger_track_put(l, "W2", "SO2", &t), 0);
    assert_int_equal(ob_ledger_track_put(l, "W10", "SO0", &t), 0);
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_int_equal(ob_ledger_track_get(l, "W1", "SO1", &got), 1);
    assert_int_equal(got.current, OB_STATUS_ACCEPTED);
    assert_int_equal(got.revision, 2);
    assert_string_equal(got.idempotency_key, "abc");
    assert_string_equal(got.warehouse_order_id, "WH-9");
    assert_int_equal(apply(&got, OB_STATUS_UNMAPPED, "30", 7), OB_TRACK_REPEAT);
    assert_true(got.updated_ms > 0);
    assert_int_equal(ob_ledger_track_get(l, "W2", "SO1", &got), 0);
    assert_int_equal(ob_ledger_track_count(l), 4);

    /* walking W1 gives its orders only, in key order */
    order_id[0] = '\0';
    assert_int_equal(ob_ledger_track_next(l, "W1", order_id, &got), 1);
    assert_string_equal(order_id, "SO1");
    assert_int_equal(ob_ledger_track_next(l, "W1", order_id, &got), 1);
    assert_string_equal(order_id, "SO3");
    assert_int_equal(ob_ledger_track_next(l, "W1", order_id, &got), 0);
    /* expiry takes tracks older than the TTL */
    assert_int_equal(ob_ledger_expire(l, got.updated_ms + 8LL * 24 * 3600 * 1000, 100), 4);
    assert_int_equal(ob_ledger_track_count(l), 0);
    ob_ledger_close(l);

    /* a reader of the file */
    opt.read_only = 1;
    assert_int_equal(ob_ledger_open(&opt, &l, errstr, sizeof errstr), 0);
    assert_int_equal(ob_ledger_track_get(l, "W1", "SO1", &got), 0);
    ob_ledger_close(l);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* A small map filled with order tracks: tracks of terminal orders are
 * evicted for room, those of orders still moving are kept. */
static void test_tracks_evicted_when_terminal(void **state)
{
    (void)state;
    char dir[] = "/tmp/ob-track-evict-XXXXXX", id[65], errstr[256];
    struct ob_ledger_options opt = {.path = dir, .max_bytes = 256u << 10};
    struct ob_ledger *l;
    struct ob_track t, done;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(ob_ledger_open(&opt, &l, errstr, sizeof errstr), 0);
    ob_track_init(&t, 1, "k", "");
    ob_track_init(&done, 1, "k", "");
    assert_int_equal(apply(&done, OB_STATUS_DELIVERED, "d", 1), OB_TRACK_EMIT);
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "MOVING-%02d", i);
        assert_int_equal(ob_ledger_track_put(l, "W1", id, &t), 0);
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "DONE-%05d", i);
        assert_int_equal(ob_ledger_track_put(l, "W1", id, &done), 0);
        if (i % 32 == 31)
            assert_int_equal(ob_ledger_flush(l), 0);
    }
    assert_int_equal(ob_ledger_flush(l), 0);
    assert_true(ob_ledger_track_count(l) < 3000); /* room was made */
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "MOVING-%02d", i);
        assert_int_equal(ob_ledger_track_get(l, "W1", id, NULL), 1);
    }
    ob_ledger_close(l);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

/* Writes staged and then lost (one transaction bigger than the map) show in
 * ob_ledger_lost(), though each put returned 0. */
static void test_lost_writes_counted(void **state)
{
    (void)state;
    char dir[] = "/tmp/ob-track-lost-XXXXXX", id[65], errstr[256];
    struct ob_ledger_options opt = {.path = dir, .max_bytes = 128u << 10};
    struct ob_ledger *l;
    struct ob_track t;
    int ok = 0;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(ob_ledger_open(&opt, &l, errstr, sizeof errstr), 0);
    ob_track_init(&t, 1, "k", "");
    assert_int_equal(ob_ledger_lost(l), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "SO-%05d", i);
        ok += ob_ledger_track_put(l, "W1", id, &t) == 0;
    }
    ob_ledger_flush(l);
    assert_true(ok > 0);
    assert_true(ob_ledger_lost(l) > 0);
    assert_true(ob_ledger_track_count(l) < (size_t)ok);
    ob_ledger_close(l);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_once),         cmocka_unit_test(test_late_never_backwards),
        cmocka_unit_test(test_cancel_is_terminal),   cmocka_unit_test(test_events_once_per_report),
        cmocka_unit_test(test_names),                cmocka_unit_test(test_ledger_tracks),
        cmocka_unit_test(test_tracks_evicted_when_terminal),
        cmocka_unit_test(test_lost_writes_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
