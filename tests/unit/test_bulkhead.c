/*
 * test_bulkhead.c — the token bucket, the circuit breaker and the concurrency limiter
 * (src/bulkhead.c). Time is a parameter, so every test drives the clock by
 * hand: no sleeps, fully deterministic.
 *
 * Expected waits are worked out by hand from the documented semantics, e.g.
 * rate 100/s with an empty bucket: ceil(1 / 100 * 1e6) = 10000 us.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bulkhead.h"

#define SEC_US 1000000u

/* ------------------------------------------------------------------------ */
/* Token bucket                                                              */

/* Take once; check it fails and return the wait. */
static uint64_t take_fails(struct ob_token_bucket *tb, uint64_t now_us)
{
    uint64_t wait = 0;
    assert_int_equal(ob_bucket_take(tb, now_us, &wait), 0);
    assert_true(wait >= 1);
    return wait;
}

static void take_ok(struct ob_token_bucket *tb, uint64_t now_us)
{
    uint64_t wait = 12345;
    assert_int_equal(ob_bucket_take(tb, now_us, &wait), 1);
    assert_int_equal(wait, 0);
}

static void test_bucket_burst_then_rate(void **state)
{
    (void)state;
    struct ob_token_bucket tb;
    uint64_t t = 5 * SEC_US; /* not zero: the base time must not matter */

    ob_bucket_init(&tb, 100, 10, t);
    for (int i = 0; i < 10; i++)
        take_ok(&tb, t);
    assert_int_equal(take_fails(&tb, t), 10000);
    /* One microsecond early is still too early, and says so. */
    assert_int_equal(take_fails(&tb, t + 9999), 1);
    take_ok(&tb, t + 10000);
    assert_int_equal(take_fails(&tb, t + 10000), 10000);
    /* Half a token accrued: half the wait left. */
    assert_int_equal(take_fails(&tb, t + 15000), 5000);
    take_ok(&tb, t + 20000);
}

/* Take whenever allowed for one simulated second: burst + rate succeed. */
static void test_bucket_one_second(void **state)
{
    (void)state;
    static const struct {
        double rate, burst;
    } cases[] = {{100, 10}, {7, 3}, {1000, 1}, {33.3, 5}};

    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        struct ob_token_bucket tb;
        uint64_t t = 0, wait;
        int ok = 0, calls = 0;

        ob_bucket_init(&tb, cases[c].rate, cases[c].burst, 0);
        while (t <= SEC_US) {
            calls++;
            if (ob_bucket_take(&tb, t, &wait))
                ok++;
            else
                t += wait;
        }
        int want = (int)(cases[c].rate + cases[c].burst); /* 33.3 + 5: 38 */
        if (ok < want - 1 || ok > want + 1)
            print_error("rate %g burst %g: %d taken, want about %d\n", cases[c].rate,
                        cases[c].burst, ok, want);
        assert_in_range(ok, want - 1, want + 1);
        /* Each wait lands on a token: no more than one failure per success. */
        assert_true(calls <= 2 * ok + 1);
    }
}

/* Whenever take says "wait w", it succeeds after exactly w and not before. */
static void test_bucket_wait_is_exact(void **state)
{
    (void)state;
    static const double rates[] = {0.1, 0.5, 3, 7.3, 100, 333.33, 1000};

    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        struct ob_token_bucket tb;
        uint64_t t = 123456789, wait;

        ob_bucket_init(&tb, rates[r], 2, t);
        take_ok(&tb, t);
        take_ok(&tb, t);
        for (int i = 0; i < 200; i++) {
            wait = take_fails(&tb, t);
            if (wait > 1)
                assert_int_equal(take_fails(&tb, t + wait - 1), 1);
            t += wait;
            take_ok(&tb, t);
        }
    }
}

static void test_bucket_refill_caps_at_burst(void **state)
{
    (void)state;
    struct ob_token_bucket tb;

    ob_bucket_init(&tb, 100, 10, 0);
    for (int i = 0; i < 10; i++)
        take_ok(&tb, 0);
    /* An hour idle refills to burst, no further. */
    uint64_t t = 3600ull * SEC_US;
    for (int i = 0; i < 10; i++)
        take_ok(&tb, t);
    assert_int_equal(take_fails(&tb, t), 10000);
}

static void test_bucket_unlimited(void **state)
{
    (void)state;
    static const double rates[] = {0, -1, -1000};

    for (size_t r = 0; r < sizeof rates / sizeof rates[0]; r++) {
        struct ob_token_bucket tb;

        ob_bucket_init(&tb, rates[r], 1, 1000);
        for (int i = 0; i < 10000; i++)
            take_ok(&tb, 1000);
        take_ok(&tb, 0); /* backwards too */
        take_ok(&tb, UINT64_MAX);
    }
}

static void test_bucket_backwards_time(void **state)
{
    (void)state;
    struct ob_token_bucket tb;
    uint64_t t = 10 * SEC_US;

    ob_bucket_init(&tb, 100, 2, t);
    take_ok(&tb, t);
    take_ok(&tb, t);
    /* Earlier than the last call: no tokens, and a sane wait (no underflow). */
    assert_int_equal(take_fails(&tb, t - 5 * SEC_US), 10000);
    assert_int_equal(take_fails(&tb, 0), 10000);
    assert_true(tb.tokens >= 0 && tb.tokens <= tb.burst);
    /* The backwards calls did not move last_us: the interval since t counts
     * once, not twice. */
    take_ok(&tb, t + 10000);
    assert_int_equal(take_fails(&tb, t + 10000), 10000);
    /* Partly refilled, then a backwards call: the half token stays. */
    assert_int_equal(take_fails(&tb, t + 15000), 5000);
    assert_int_equal(take_fails(&tb, t + 1000), 5000);
    take_ok(&tb, t + 20000);
}

static void test_bucket_fractional_rate(void **state)
{
    (void)state;
    struct ob_token_bucket tb;

    ob_bucket_init(&tb, 0.5, 1, 0);
    take_ok(&tb, 0);
    assert_int_equal(take_fails(&tb, 0), 2 * SEC_US);
    assert_int_equal(take_fails(&tb, SEC_US), SEC_US);
    assert_int_equal(take_fails(&tb, 2 * SEC_US - 1), 1);
    take_ok(&tb, 2 * SEC_US);

    /* A minute of taking whenever allowed: the first, then one per 2 s. */
    int ok = 0;
    uint64_t t = 0, wait;
    ob_bucket_init(&tb, 0.5, 1, 0);
    while (t <= 60 * SEC_US) {
        if (ob_bucket_take(&tb, t, &wait))
            ok++;
        else
            t += wait;
    }
    assert_int_equal(ok, 31);
}

static void test_bucket_burst_below_one(void **state)
{
    (void)state;
    static const double bursts[] = {0, 0.5, -3};

    for (size_t b = 0; b < sizeof bursts / sizeof bursts[0]; b++) {
        struct ob_token_bucket tb;

        ob_bucket_init(&tb, 10, bursts[b], 0);
        assert_true(tb.burst == 1);
        take_ok(&tb, 0);
        assert_int_equal(take_fails(&tb, 0), 100000);
        /* Long idle still holds only one token. */
        take_ok(&tb, 60 * SEC_US);
        take_fails(&tb, 60 * SEC_US);
    }
}

/* A rate so low that the wait does not fit: it saturates, it does not wrap. */
static void test_bucket_tiny_rate(void **state)
{
    (void)state;
    struct ob_token_bucket tb;

    ob_bucket_init(&tb, 1e-3, 1, 0); /* one token per 1000 s */
    take_ok(&tb, 0);
    assert_int_equal(take_fails(&tb, 0), 1000ull * SEC_US);

    ob_bucket_init(&tb, 1e-300, 1, 0);
    take_ok(&tb, 0);
    assert_int_equal(take_fails(&tb, 0), UINT64_MAX);
}

/* ------------------------------------------------------------------------ */
/* Circuit breaker                                                           */

static struct ob_breaker_conf conf_consecutive(int n)
{
    return (struct ob_breaker_conf){
        .consecutive_failures = n,
        .window_ms = 10000,
        .open_ms = 5000,
        .half_open_probes = 1,
    };
}

static struct ob_breaker_conf conf_rate(double rate, int min_requests, uint64_t window_ms)
{
    return (struct ob_breaker_conf){
        .error_rate = rate,
        .min_requests = min_requests,
        .window_ms = window_ms,
        .open_ms = 5000,
        .half_open_probes = 1,
    };
}

static void allowed(struct ob_breaker *br, uint64_t now_ms)
{
    uint64_t wait = 777;
    assert_int_equal(ob_breaker_allow(br, now_ms, &wait), 1);
    assert_int_equal(wait, 0);
}

/* allow() refuses; return its wait. */
static uint64_t refused(struct ob_breaker *br, uint64_t now_ms)
{
    uint64_t wait = 0;
    assert_int_equal(ob_breaker_allow(br, now_ms, &wait), 0);
    assert_true(wait >= 1);
    return wait;
}

static void record(struct ob_breaker *br, uint64_t now_ms, int failure,
                   enum ob_breaker_state want)
{
    enum ob_breaker_state got = ob_breaker_record(br, now_ms, failure ? OB_BREAKER_FAILURE
                                                                      : OB_BREAKER_SUCCESS);
    if (got != want)
        print_error("record(%s) at %llu: %s, want %s\n", failure ? "failure" : "success",
                    (unsigned long long)now_ms, ob_breaker_state_name(got),
                    ob_breaker_state_name(want));
    assert_int_equal(got, want);
    assert_int_equal(br->state, want);
}

/* Closed -> open with consecutive failures, at time t. */
static void open_it(struct ob_breaker *br, uint64_t t)
{
    int n = br->conf.consecutive_failures;
    assert_true(n > 0);
    for (int i = 1; i < n; i++)
        record(br, t, 1, OB_BREAKER_CLOSED);
    record(br, t, 1, OB_BREAKER_OPEN);
}

static void test_breaker_consecutive_opens(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(3);

    ob_breaker_init(&br, &c);
    assert_int_equal(br.state, OB_BREAKER_CLOSED);
    allowed(&br, 0);
    record(&br, 10, 1, OB_BREAKER_CLOSED);
    record(&br, 20, 1, OB_BREAKER_CLOSED);
    allowed(&br, 25);
    record(&br, 30, 1, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 1);
    assert_int_equal(br.opened_at_ms, 30);
    for (int i = 0; i < 10; i++) /* opening clears the window */
        assert_int_equal(br.bucket_total[i], 0);
    assert_int_equal(refused(&br, 30), 5000);
}

static void test_breaker_success_resets_consecutive(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(3);

    ob_breaker_init(&br, &c);
    for (int round = 0; round < 50; round++) {
        record(&br, 100, 1, OB_BREAKER_CLOSED);
        record(&br, 100, 1, OB_BREAKER_CLOSED);
        record(&br, 100, 0, OB_BREAKER_CLOSED);
    }
    record(&br, 100, 1, OB_BREAKER_CLOSED);
    record(&br, 100, 1, OB_BREAKER_CLOSED);
    record(&br, 100, 1, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 1);
}

static void test_breaker_error_rate_needs_min_requests(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(0.5, 10, 10000);

    /* F S F S F S F S F: 5 of 9 failed, but 9 < min_requests. */
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 9; i++)
        record(&br, 1000 + (uint64_t)i, i % 2 == 0, OB_BREAKER_CLOSED);
    /* The tenth makes 5 of 10 = 0.5: open. */
    record(&br, 1009, 0, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 1);

    /* F S S F S over and over: 2 in 5, never 0.5 at any point past 10. */
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 100; i++)
        record(&br, 1000 + (uint64_t)i, i % 5 == 0 || i % 5 == 3, OB_BREAKER_CLOSED);

    /* min_requests 0 is 1: one failure at rate 1.0 opens. */
    c = conf_rate(1.0, 0, 10000);
    ob_breaker_init(&br, &c);
    record(&br, 0, 0, OB_BREAKER_CLOSED);
    ob_breaker_init(&br, &c);
    record(&br, 0, 1, OB_BREAKER_OPEN);
}

/* Either trigger opens it: here the rate fires before the run of failures. */
static void test_breaker_both_triggers(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(0.5, 4, 10000);

    c.consecutive_failures = 5;
    ob_breaker_init(&br, &c);
    record(&br, 0, 1, OB_BREAKER_CLOSED);
    record(&br, 0, 0, OB_BREAKER_CLOSED);
    record(&br, 0, 1, OB_BREAKER_CLOSED);
    record(&br, 0, 0, OB_BREAKER_OPEN);

    /* And the run fires with the rate still under its minimum. */
    c.min_requests = 100;
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 4; i++)
        record(&br, 0, 1, OB_BREAKER_CLOSED);
    record(&br, 0, 1, OB_BREAKER_OPEN);
}

/* Window 1000 ms: ten buckets of 100 ms. */
static void test_breaker_window_ages_out(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(0.5, 4, 1000);

    /* Three failures in [300, 400), then a success: 3 of 4 while the
     * failures' bucket is still in the window (until 1300)... */
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 3; i++)
        record(&br, 300, 1, OB_BREAKER_CLOSED);
    record(&br, 1299, 0, OB_BREAKER_OPEN);

    /* ... but 1 of 1 once it has aged out. */
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 3; i++)
        record(&br, 300, 1, OB_BREAKER_CLOSED);
    record(&br, 1450, 0, OB_BREAKER_CLOSED);
    record(&br, 1450, 0, OB_BREAKER_CLOSED);
    record(&br, 1450, 1, OB_BREAKER_CLOSED);
    record(&br, 1450, 1, OB_BREAKER_OPEN); /* 2 of 4, all recent */

    /* A bucket slot reused a window later starts from zero. */
    ob_breaker_init(&br, &c);
    for (int i = 0; i < 3; i++)
        record(&br, 320, 1, OB_BREAKER_CLOSED);
    record(&br, 1350, 0, OB_BREAKER_CLOSED); /* same slot as 320 */
    record(&br, 1350, 0, OB_BREAKER_CLOSED);
    record(&br, 1350, 0, OB_BREAKER_CLOSED);
    record(&br, 1350, 1, OB_BREAKER_CLOSED); /* 1 of 4 */

    /* Sliding: failures spread over the window keep counting. */
    ob_breaker_init(&br, &c);
    record(&br, 0, 1, OB_BREAKER_CLOSED);
    record(&br, 250, 1, OB_BREAKER_CLOSED);
    record(&br, 500, 0, OB_BREAKER_CLOSED);
    record(&br, 999, 0, OB_BREAKER_OPEN); /* 2 of 4 within [0, 1000) */
}

/* A record stamped earlier than the last must not wipe a newer bucket. */
static void test_breaker_late_record(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(1.0, 2, 1000);

    ob_breaker_init(&br, &c);
    record(&br, 1500, 1, OB_BREAKER_CLOSED);
    record(&br, 500, 1, OB_BREAKER_CLOSED); /* slot of 1500; too old to count */
    record(&br, 1600, 1, OB_BREAKER_OPEN);  /* 1500 and 1600: 2 of 2 */

    /* Slightly out of order, inside the window: both count. */
    ob_breaker_init(&br, &c);
    record(&br, 800, 1, OB_BREAKER_CLOSED);
    record(&br, 650, 1, OB_BREAKER_OPEN);
}

static void test_breaker_open_half_open_close(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(2);

    c.half_open_probes = 3;
    ob_breaker_init(&br, &c);
    open_it(&br, 1000);

    assert_int_equal(refused(&br, 1000), 5000);
    assert_int_equal(refused(&br, 3500), 2500);
    assert_int_equal(refused(&br, 5999), 1);
    assert_int_equal(br.state, OB_BREAKER_OPEN);

    /* open_ms is up: half-open, three probes and no more. */
    allowed(&br, 6000);
    assert_int_equal(br.state, OB_BREAKER_HALF_OPEN);
    allowed(&br, 6001);
    allowed(&br, 6002);
    assert_int_equal(refused(&br, 6003), 100); /* min(100, 5000 / 10) */
    assert_int_equal(refused(&br, 6004), 100);

    record(&br, 6100, 0, OB_BREAKER_HALF_OPEN);
    record(&br, 6101, 0, OB_BREAKER_HALF_OPEN);
    refused(&br, 6102); /* the three slots stay taken until it closes */
    record(&br, 6103, 0, OB_BREAKER_CLOSED);
    assert_int_equal(br.opened_count, 1);

    /* Closed afresh: counters reset, so one failure is not two in a row. */
    allowed(&br, 6200);
    record(&br, 6200, 1, OB_BREAKER_CLOSED);
    allowed(&br, 6201);
    record(&br, 6201, 1, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 2);
}

/* The half-open wait is min(100, open_ms / 10), at least 1 ms. */
static void test_breaker_half_open_wait(void **state)
{
    (void)state;
    static const struct {
        uint64_t open_ms, want;
    } cases[] = {{5000, 100}, {1000, 100}, {500, 50}, {50, 5}, {9, 1}, {0, 1}};

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_breaker br;
        struct ob_breaker_conf c = conf_consecutive(1);

        c.open_ms = cases[i].open_ms;
        ob_breaker_init(&br, &c);
        open_it(&br, 100);
        allowed(&br, 100 + cases[i].open_ms);
        assert_int_equal(br.state, OB_BREAKER_HALF_OPEN);
        assert_int_equal(refused(&br, 100 + cases[i].open_ms), cases[i].want);
    }
}

static void test_breaker_failed_probe_reopens(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(1);

    c.open_ms = 1000;
    c.half_open_probes = 2;
    ob_breaker_init(&br, &c);
    open_it(&br, 0);
    allowed(&br, 1000);
    allowed(&br, 1000);
    record(&br, 1100, 0, OB_BREAKER_HALF_OPEN);
    /* One success does not save it: the other probe fails, and it is open
     * for a fresh open_ms from now. */
    record(&br, 1200, 1, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 2);
    assert_int_equal(br.opened_at_ms, 1200);
    assert_int_equal(refused(&br, 1300), 900);
    assert_int_equal(refused(&br, 2199), 1);

    /* Half-open again, with both probe slots free. */
    allowed(&br, 2200);
    allowed(&br, 2200);
    refused(&br, 2200);
    record(&br, 2300, 0, OB_BREAKER_HALF_OPEN);
    record(&br, 2300, 0, OB_BREAKER_CLOSED);
}

/* Outcomes of requests started before it opened change nothing. */
static void test_breaker_records_while_open(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(2);

    ob_breaker_init(&br, &c);
    open_it(&br, 1000);
    for (int i = 0; i < 20; i++)
        record(&br, 2000, 0, OB_BREAKER_OPEN);
    for (int i = 0; i < 20; i++)
        record(&br, 3000, 1, OB_BREAKER_OPEN);
    assert_int_equal(br.opened_count, 1);
    assert_int_equal(br.opened_at_ms, 1000); /* failures did not extend it */
    assert_int_equal(refused(&br, 4000), 2000);
    allowed(&br, 6000);
    assert_int_equal(br.state, OB_BREAKER_HALF_OPEN);
}

/* It closes only after half_open_probes probes were let through and came
 * back fine: extra successes (stragglers) beyond the probes out do not count. */
static void test_breaker_close_needs_the_probes(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(1);

    c.half_open_probes = 2;
    ob_breaker_init(&br, &c);
    open_it(&br, 0);
    allowed(&br, 5000); /* probe 1 */
    record(&br, 5001, 0, OB_BREAKER_HALF_OPEN);
    record(&br, 5002, 0, OB_BREAKER_HALF_OPEN); /* not a probe's */
    record(&br, 5003, 0, OB_BREAKER_HALF_OPEN);
    allowed(&br, 5004); /* probe 2 */
    refused(&br, 5004);
    record(&br, 5005, 0, OB_BREAKER_CLOSED);
}

static void test_breaker_disabled_never_opens(void **state)
{
    (void)state;
    static const struct ob_breaker_conf confs[] = {
        {.window_ms = 1000, .open_ms = 1000, .half_open_probes = 1},
        {.consecutive_failures = -1, .error_rate = -0.5, .min_requests = 1, .window_ms = 1000},
        {0},
    };

    for (size_t i = 0; i < sizeof confs / sizeof confs[0]; i++) {
        struct ob_breaker br;

        ob_breaker_init(&br, &confs[i]);
        for (uint64_t t = 0; t < 5000; t++) {
            allowed(&br, t);
            record(&br, t, 1, OB_BREAKER_CLOSED);
        }
        assert_int_equal(br.opened_count, 0);
    }
}

/* A full cycle, three times; opening and closing each clear the window. */
static void test_breaker_opened_count(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(0.5, 2, 60000);
    uint64_t t = 0;

    c.open_ms = 1000;
    ob_breaker_init(&br, &c);
    for (int cycle = 1; cycle <= 3; cycle++) {
        allowed(&br, t);
        /* Right after a close the window is empty: one failure is 1 of 1,
         * under min_requests; without the clear it would join old ones. */
        record(&br, t, 1, OB_BREAKER_CLOSED);
        record(&br, t, 0, OB_BREAKER_OPEN);
        assert_int_equal(br.opened_count, (uint64_t)cycle);
        t += 1000;
        allowed(&br, t);
        record(&br, t, 0, OB_BREAKER_CLOSED);
        t += 10;
    }
}

/* window_ms under 10 is 10 (buckets of 1 ms); half_open_probes under 1 is 1. */
static void test_breaker_conf_floors(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_rate(1.0, 3, 0);

    c.half_open_probes = 0;
    ob_breaker_init(&br, &c);
    record(&br, 0, 1, OB_BREAKER_CLOSED);
    record(&br, 5, 1, OB_BREAKER_CLOSED);
    record(&br, 10, 1, OB_BREAKER_CLOSED); /* 0 has left the 10 ms window */
    record(&br, 11, 1, OB_BREAKER_OPEN);   /* 5, 10, 11 */

    allowed(&br, 11 + 5000);
    refused(&br, 11 + 5000); /* one probe */
    record(&br, 5100, 0, OB_BREAKER_CLOSED);
}

/* Asked before opened_at (time went back): wait the whole time still left. */
static void test_breaker_backwards_time(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(1);

    ob_breaker_init(&br, &c);
    open_it(&br, 10000);
    assert_int_equal(refused(&br, 9900), 5100);
    assert_int_equal(refused(&br, 0), 15000);
    allowed(&br, 15000);

    /* A huge open_ms saturates instead of wrapping round to "expired". */
    c.open_ms = UINT64_MAX;
    ob_breaker_init(&br, &c);
    open_it(&br, 10000);
    assert_int_equal(refused(&br, 20000), UINT64_MAX - 20000);
}


/* Half-open with probe_success_rate 0.5 and 4 probes: 2 successes close
 * it whatever the other two do; a third failure reopens it. */
static void test_breaker_probe_success_rate(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(1);

    c.half_open_probes = 4;
    c.probe_success_rate = 0.5;
    ob_breaker_init(&br, &c);
    open_it(&br, 0);
    for (int i = 0; i < 4; i++)
        allowed(&br, 5000);
    refused(&br, 5000);
    record(&br, 5001, 1, OB_BREAKER_HALF_OPEN);
    record(&br, 5002, 0, OB_BREAKER_HALF_OPEN);
    record(&br, 5003, 1, OB_BREAKER_HALF_OPEN); /* 2 failed: 2 may still succeed */
    record(&br, 5004, 0, OB_BREAKER_CLOSED);
    assert_int_equal(br.opened_count, 1);

    open_it(&br, 6000);
    for (int i = 0; i < 4; i++)
        allowed(&br, 11000);
    record(&br, 11001, 1, OB_BREAKER_HALF_OPEN);
    record(&br, 11002, 0, OB_BREAKER_HALF_OPEN);
    record(&br, 11003, 1, OB_BREAKER_HALF_OPEN);
    record(&br, 11004, 1, OB_BREAKER_OPEN); /* 1 of 4 at most: below half */
    assert_int_equal(br.opened_at_ms, 11004);
}

/* Outcomes beyond the probes let through (stragglers from before it
 * opened) neither close nor reopen a half-open circuit. */
static void test_breaker_half_open_ignores_stragglers(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(1);

    c.half_open_probes = 2;
    c.probe_success_rate = 0.5;
    ob_breaker_init(&br, &c);
    open_it(&br, 0);
    allowed(&br, 5000); /* probe 1 */
    record(&br, 5001, 1, OB_BREAKER_HALF_OPEN); /* probe 1 failed: 1 of 2 still possible */
    record(&br, 5002, 1, OB_BREAKER_HALF_OPEN); /* a straggler */
    record(&br, 5003, 0, OB_BREAKER_HALF_OPEN); /* a straggler */
    allowed(&br, 5004); /* probe 2 */
    record(&br, 5005, 0, OB_BREAKER_CLOSED);
}

/* Failed first attempts never open it (nor break a run of failures); failed
 * retries do; a half-open circuit counts every failure. */
static void test_breaker_first_attempts(void **state)
{
    (void)state;
    struct ob_breaker br;
    struct ob_breaker_conf c = conf_consecutive(5);

    ob_breaker_init(&br, &c);
    for (int i = 0; i < 100; i++)
        assert_int_equal(ob_breaker_record(&br, 100, OB_BREAKER_FIRST_FAILURE), OB_BREAKER_CLOSED);
    for (int i = 0; i < 4; i++) {
        record(&br, 200, 1, OB_BREAKER_CLOSED);
        ob_breaker_record(&br, 200, OB_BREAKER_FIRST_FAILURE);
    }
    record(&br, 200, 1, OB_BREAKER_OPEN);

    allowed(&br, 200 + c.open_ms);
    assert_int_equal(ob_breaker_record(&br, 6000, OB_BREAKER_FIRST_FAILURE), OB_BREAKER_OPEN);
}

/* ---- adaptive concurrency ---- */

static struct ob_limiter_conf limiter_conf(void)
{
    return (struct ob_limiter_conf){
        .floor = 2, .ceiling = 64, .max_error_rate = 0.5, .latency_tolerance = 2};
}

/* `n` outcomes, one every ms from *t, `fail_every`-th failing (0: none),
 * each started at the limit when busy. */
static void feed(struct ob_limiter *l, uint64_t *t, int n, int fail_every, uint64_t lat_us,
                 int busy)
{
    for (int i = 1; i <= n; i++)
        ob_limiter_record(l, (*t)++, lat_us, fail_every && i % fail_every == 0, busy);
}

static void test_limiter_starts_at_the_ceiling(void **state)
{
    (void)state;
    struct ob_limiter l;
    struct ob_limiter_conf c = limiter_conf();
    uint64_t t = 0;

    ob_limiter_init(&l, &c);
    assert_int_equal(ob_limiter_limit(&l), 64);
    feed(&l, &t, 5000, 0, 2000, 1);
    assert_int_equal(ob_limiter_limit(&l), 64);
    assert_int_equal(l.shrunk, 0);
}

/* One attempt in two failing is not overload: the limit stays; more than
 * that shrinks it to the floor, not to zero; calm and busy, it grows back. */
static void test_limiter_errors(void **state)
{
    (void)state;
    struct ob_limiter l;
    struct ob_limiter_conf c = limiter_conf();
    uint64_t t = 0;

    ob_limiter_init(&l, &c);
    feed(&l, &t, 5000, 2, 2000, 1);
    assert_int_equal(ob_limiter_limit(&l), 64);

    feed(&l, &t, 5000, 1, 2000, 1); /* every request fails */
    assert_int_equal(ob_limiter_limit(&l), 2);
    assert_true(l.shrunk >= 10);

    /* Calm but idle (never at the limit): no reason to grow. */
    feed(&l, &t, 500, 0, 2000, 0);
    assert_int_equal(ob_limiter_limit(&l), 2);
    /* Calm and busy: back to the ceiling within a few hundred answers. */
    feed(&l, &t, 500, 0, 2000, 1);
    assert_int_equal(ob_limiter_limit(&l), 64);
}

/* Answers slowing to three times the usual shrink it; a warehouse that is
 * slow from the start (2 s) keeps its connections. */
static void test_limiter_latency(void **state)
{
    (void)state;
    struct ob_limiter l;
    struct ob_limiter_conf c = limiter_conf();
    uint64_t t = 0;

    ob_limiter_init(&l, &c);
    feed(&l, &t, 1000, 0, 2000000, 1);
    assert_int_equal(ob_limiter_limit(&l), 64);
    assert_int_equal(l.shrunk, 0);

    ob_limiter_init(&l, &c);
    feed(&l, &t, 1000, 0, 2000, 1);
    feed(&l, &t, 192, 0, 6000, 1);
    assert_true(ob_limiter_limit(&l) < 64);
    assert_true(l.shrunk >= 1);

    /* The same check off: latency is ignored. */
    c.latency_tolerance = 0;
    ob_limiter_init(&l, &c);
    feed(&l, &t, 1000, 0, 2000, 1);
    feed(&l, &t, 640, 0, 60000, 1);
    assert_int_equal(ob_limiter_limit(&l), 64);
}

/* A window closes after a second even with few answers: a trickle of
 * failures still shrinks it. */
static void test_limiter_slow_trickle(void **state)
{
    (void)state;
    struct ob_limiter l;
    struct ob_limiter_conf c = limiter_conf();
    uint64_t t = 0;

    ob_limiter_init(&l, &c);
    for (int i = 0; i < 8; i++) {
        ob_limiter_record(&l, t, 0, 1, 1);
        t += 200;
    }
    assert_int_equal(ob_limiter_limit(&l), 48);
}

/* Floors: a floor under 1 is 1; a ceiling under the floor is the floor. */
static void test_limiter_conf_floors(void **state)
{
    (void)state;
    struct ob_limiter l;
    struct ob_limiter_conf c = {.floor = 0, .ceiling = 0, .max_error_rate = 0.5};
    uint64_t t = 0;

    ob_limiter_init(&l, &c);
    assert_int_equal(ob_limiter_limit(&l), 1);
    feed(&l, &t, 100, 1, 0, 1);
    assert_int_equal(ob_limiter_limit(&l), 1);
}

static void test_breaker_state_name(void **state)
{
    (void)state;
    assert_string_equal(ob_breaker_state_name(OB_BREAKER_CLOSED), "closed");
    assert_string_equal(ob_breaker_state_name(OB_BREAKER_OPEN), "open");
    assert_string_equal(ob_breaker_state_name(OB_BREAKER_HALF_OPEN), "half-open");
    assert_string_equal(ob_breaker_state_name((enum ob_breaker_state)42), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_burst_then_rate),
        cmocka_unit_test(test_bucket_one_second),
        cmocka_unit_test(test_bucket_wait_is_exact),
        cmocka_unit_test(test_bucket_refill_caps_at_burst),
        cmocka_unit_test(test_bucket_unlimited),
        cmocka_unit_test(test_bucket_backwards_time),
        cmocka_unit_test(test_bucket_fractional_rate),
        cmocka_unit_test(test_bucket_burst_below_one),
        cmocka_unit_test(test_bucket_tiny_rate),
        cmocka_unit_test(test_breaker_consecutive_opens),
        cmocka_unit_test(test_breaker_success_resets_consecutive),
        cmocka_unit_test(test_breaker_error_rate_needs_min_requests),
        cmocka_unit_test(test_breaker_both_triggers),
        cmocka_unit_test(test_breaker_window_ages_out),
        cmocka_unit_test(test_breaker_late_record),
        cmocka_unit_test(test_breaker_open_half_open_close),
        cmocka_unit_test(test_breaker_half_open_wait),
        cmocka_unit_test(test_breaker_failed_probe_reopens),
        cmocka_unit_test(test_breaker_records_while_open),
        cmocka_unit_test(test_breaker_close_needs_the_probes),
        cmocka_unit_test(test_breaker_disabled_never_opens),
        cmocka_unit_test(test_breaker_opened_count),
        cmocka_unit_test(test_breaker_conf_floors),
        cmocka_unit_test(test_breaker_backwards_time),
        cmocka_unit_test(test_breaker_state_name),
        cmocka_unit_test(test_breaker_probe_success_rate),
        cmocka_unit_test(test_breaker_first_attempts),
        cmocka_unit_test(test_breaker_half_open_ignores_stragglers),
        cmocka_unit_test(test_limiter_starts_at_the_ceiling),
        cmocka_unit_test(test_limiter_errors),
        cmocka_unit_test(test_limiter_latency),
        cmocka_unit_test(test_limiter_slow_trickle),
        cmocka_unit_test(test_limiter_conf_floors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
