/*
 * chaos — the chaos suite: real `orderbridge run` processes against an
 * embedded Kafka and simulated warehouses, while things break. One
 * scenario per run, chosen by argv:
 *
 *   chaos kill9      SIGKILL the bridge again and again at random moments (after a random
 *                    number of ACCEPTED orders, status events or committed offsets), now
 *                    and then in the middle of a graceful stop; restart it each time, with
 *                    static membership (kafka.instance_name), and time the restarts
 *   chaos warehouse  simulators answering 503, 429 with Retry-After, too slowly, with reset
 *                    connections, with lost answers after creating the order and with
 *                    unreadable 200 bodies; plus graceful restarts (SIGTERM)
 *   chaos broker     three brokers, replicated topics: request errors on Produce, Fetch and
 *                    OffsetCommit, leaders moving, a broker down and up, a slow broker, a
 *                    failover
 *   chaos group      three bridges in one consumer group; one is SIGKILLed mid-run, the
 *                    other two take over its partitions, then it comes back. With --state
 *                    the order state lives in orderbridge.state and the warehouses' status
 *                    callbacks go to a random instance, through orderbridge.callbacks to
 *                    the owner of the order's partition: every delivered status emitted,
 *                    twice only as a copy from the second before the kill
 *   chaos bulkhead   five warehouses, one sick (503 to everything, then hanging): the other
 *                    four finish about as fast as without it, the breaker spares the sick
 *                    one, and its orders are delivered once it recovers
 *   chaos brownout   four warehouses struggling in different ways (lost answers to every
 *                    first attempt, 30% 503, 2 s answers, one well): each one's orders/s
 *                    against a healthy run
 *   chaos outage     one of two warehouses down (503) for 20 s at 200 orders/s (--full: 10
 *                    min at 20/s): the other keeps delivering; the backlog is delivered
 *                    within seconds of it coming back
 *
 * Every run but bulkhead mixes into the orders malformed messages, orders
 * naming an unknown warehouse, and orders sent twice. At the end: every
 * valid order created exactly once at its warehouse and ACCEPTED; every
 * message that belongs in the DLQ dead-lettered with its reason and a
 * DELIVERY_FAILED event, and nothing else dead-lettered; every order's
 * events in agreement; offsets of orders and orders.retry committed to the
 * end; nothing lost. The figures are printed.
 *
 * Options: --full (the full sizes), --seed N, --orders N, --kills N, --quick-restart
 * (group: the killed instance restarts at once, before its old session expired), --state
 * (kafka.topics.state; in group also kafka.topics.callbacks and the status callbacks).
 * Without --full a reduced form runs (CI). The seed decides the moments
 * of the faults and the simulators' fault draws; timing decides the rest.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

#define DEFAULT_SEED 20261123UL /* odd: the full group scenario rebalances cooperatively */

/* Breaker and retry-topic settings of the chaos warehouses; park_ms is short so that parked
 * orders come back within the run. */
#define BREAKER                                                                                    \
    "\"circuit_breaker\": {\"consecutive_failures\": 20, \"error_rate\": 0.5,"                     \
    " \"min_requests\": 20, \"window_ms\": 10000, \"open_ms\": 1000, \"half_open_probes\": 3}"
#define ISSUE4_WAREHOUSE "{\"attempts_in_memory\": 3, \"park_ms\": 300, " BREAKER "}"
/* Every failed push parks the order: plenty on the retry topic when a fault strikes. */
#define ISSUE4_PARKING "{\"attempts_in_memory\": 1, \"park_ms\": 200, " BREAKER "}"
/* The same, parked long enough that a rebalance finds retry partitions waiting (held). */
#define ISSUE4_PARKING_LONG "{\"attempts_in_memory\": 1, \"park_ms\": 2000, " BREAKER "}"

struct opts {
    int full;
    unsigned long seed, orders;
    int kills;
    int quick_restart; /* group: restart the killed instance at once, as a supervisor would */
    int state;         /* kafka.topics.state: order state in the changelog, restored on assignment */
};

static uint64_t prng;
static double t0; /* when the scenario started */

/* One line of progress, with the time since the start. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    va_list ap;

    printf("  [%5.1f s] ", h_now() - t0);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

/* ---- waiting for a moment ------------------------------------------------------ */

/* What the next fault waits for; the h_await() conditions below read it. */
static struct {
    unsigned long accepted, events;
    int64_t committed;
    double until, next_poll;
} target;

/* Counted since h_mark(): written by the bridge after it, not merely read after it. */
static int accepted_reached(struct h_run *r)
{
    return r->since_accepted >= target.accepted;
}

static int events_reached(struct h_run *r)
{
    return r->since_events >= target.events;
}

static int committed_reached(struct h_run *r)
{
    double now = h_now();

    if (now < target.next_poll)
        return 0;
    target.next_poll = now + 0.25;
    return h_committed_sum(r) >= target.committed;
}

static int time_passed(struct h_run *r)
{
    (void)r;
    return h_now() >= target.until;
}

/* A stop under way: done when instance 0 exited, or target.events were written. */
static int exited_status;
static int stopped_or_events(struct h_run *r)
{
    return h_bridge_exited(r, 0, &exited_status) ? 2 : r->since_events >= target.events;
}

/* Wait until `n` orders were ACCEPTED by events written since the last h_mark(). */
static int await_accepted(struct h_run *r, unsigned long n, const char *why)
{
    target.accepted = n;
    return h_await(r, accepted_reached, 120, why);
}

/* Keep a fault in place for `seconds` while orders flow (a fault's length, not a sync). */
static void hold(struct h_run *r, double seconds)
{
    target.until = h_now() + seconds;
    h_await(r, time_passed, seconds + 1, "a fault's duration");
}

/*
 * Moments: the orders are supplied in `parts` equal parts, the next one
 * produced after each fault (restart, broker fault), so that orders still
 * flow at every fault however fast the bridge works. A moment is then at
 * most half a part of work written after the fault (h_mark), which the new
 * part guarantees.
 */
static unsigned long supply(struct h_run *r, int parts)
{
    unsigned long part = r->n_valid / (unsigned long)parts;

    r->feed_window = r->n_valid;
    r->feed_limit = r->produced_valid + part;
    return h_rand_range(&prng, 1, part / 2 > 1 ? part / 2 : 1);
}

/* ---- the end of every run ---------------------------------------------------------- */

static unsigned long dlq_distinct(const struct h_run *r)
{
    unsigned long n = 0;

    for (unsigned long j = 0; j < r->n_bad; j++)
        n += r->bad[j].dlq > 0;
    return n;
}

/* Wait for every outcome (and with callbacks, every status the warehouses were told was
 * taken: the owner emits it after its record is in Kafka, after a restore when the owner
 * was killed) and the commits, stop, read to the end, check, print. A run that failed
 * already waits briefly: the report matters more than the wait. */
static unsigned long finish(struct h_run *r, double deadline_s, unsigned long *repeats,
                            struct h_cb_figures *cb)
{
    int failed = h_failures > 0;

    CHECK(h_await(r, h_all_done, failed ? 20 : deadline_s, "every order's outcome"),
          "outcomes missing");
    if (r->callbacks_topic)
        CHECK(h_await(r, h_callbacks_done, failed || h_failures ? 20 : 120,
                      "every delivered callback status in the status topic"),
              "statuses missing");
    CHECK(h_await_committed(r, failed || h_failures ? 10 : 60), "offsets not committed to the end");
    h_stop_all(r);
    h_await_caught_up(r, 60);
    h_check_outcome(r, repeats);
    h_check_callbacks(r, cb);
    CHECK(r->foreign_events == 0 && r->foreign_dlq == 0,
          "%lu status events and %lu dead letters for ids never produced", r->foreign_events,
          r->foreign_dlq);
    return h_lost(r);
}

static void summary(struct h_run *r, const char *name, unsigned long restarts, double start)
{
    struct h_cb_figures cb;
    unsigned long repeats = 0, lost = finish(r, 300, &repeats, &cb);

    CHECK(lost == 0, "%lu orders lost", lost);
    printf("chaos %s: produced %lu accepted %lu repeats_absorbed %lu lost %lu restarts %lu "
           "dlq %lu/%lu in %.1f s\n",
           name, r->produced_valid, r->accepted, repeats, lost, restarts, dlq_distinct(r), r->n_bad,
           h_now() - start);
    note("status events %lu (ACCEPTED %lu, DELIVERY_FAILED %lu), dead letters %lu, "
         "parked records %lu",
         r->events, r->accepted_events, r->failed_events, r->dlq_records, r->retry_records);
    if (r->callbacks_topic)
        printf("chaos %s statuses: callbacks sent %lu ok %lu refused %lu no_answer %lu; "
               "statuses delivered %lu emitted %lu repeats %lu (outside a kill's second %lu) "
               "lost %lu extra %lu\n",
               name, cb.sent, cb.ok, cb.refused, cb.no_answer, cb.delivered, cb.emitted,
               cb.repeats, cb.repeats_outside, cb.lost, cb.extra);
}

static void print_sim(const struct h_run *r, size_t w)
{
    struct ob_sim_stats st;

    ob_sim_get_stats(r->wh[w].s, &st);
    note("%s: %lu requests, %lu created, %lu duplicates, 503 %lu, 429 %lu, resets %lu, "
         "lost answers %lu, garbage %lu (%lu after creating), slow %lu",
         r->wh[w].code, st.requests, st.created, st.duplicates, st.injected_5xx,
         st.injected_429, st.injected_resets, st.resets_after_create, st.injected_garbage,
         st.garbage_after_create, st.slow_answers);
}

static void common(struct h_run *r, const struct opts *o, unsigned long reduced,
                   unsigned long full)
{
    r->seed = o->seed;
    r->n_valid = o->orders ? o->orders : o->full ? full : reduced;
    r->n_bad = r->n_valid / 400 > 7 ? r->n_valid / 400 : 7; /* every kind, unroutable too */
    r->dup_every = 100;
    r->partitions = r->n_valid > 8000 ? 16 : 8; /* the mock keeps ~5 MB per partition */
    r->out_partitions = 8;
    r->name_warehouse = 1;
    r->feed_window = r->n_valid / 4 > 500 ? r->n_valid / 4 : 500;
    r->state_topic = o->state;
}

/* ---- a. kill -9 --------------------------------------------------------------------- */

/* The restarted process wrote a status event, or took every order waiting
 * for it: a redelivered order that is done emits nothing again. */
static int resumed(struct h_run *r)
{
    return r->since_events > 0 || h_committed_to_end(r);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void scenario_kill9(const struct opts *o)
{
    struct h_run r = {.name = "kill9", .n_wh = 2, .n_bridges = 1, .static_members = 1};
    int kills = o->kills ? o->kills : o->full ? 20 : 3;
    unsigned long restarts = 0;
    double start = h_now(), resume_s[64];
    size_t n_resume = 0;

    common(&r, o, 4000, 20000);
    for (size_t w = 0; w < r.n_wh; w++) {
        /* Enough trouble that orders are retrying and parked when the kill comes. */
        r.wh[w].sim.slow_rate = 0.05;
        r.wh[w].sim.slow_ms = 100;
        r.wh[w].sim.fail_5xx_rate = 0.03;
        r.wh[w].sim.reset_after_create_rate = 0.01;
        r.wh[w].max_attempts = 30;
        r.wh[w].issue4 = w == 0 ? ISSUE4_PARKING : ISSUE4_WAREHOUSE;
    }
    h_setup(&r);
    for (int k = 0; k < kills; k++) {
        unsigned long n = supply(&r, kills + 1);
        const char *what;
        int ok, timed;
        switch (h_rand(&prng) % 3) {
        case 0:
            what = "orders ACCEPTED";
            ok = await_accepted(&r, n, "ACCEPTED orders before a kill");
            break;
        case 1:
            /* repeats count too: this kill may come while redeliveries are pushed */
            what = "status events";
            target.events = n;
            ok = h_await(&r, events_reached, 120, "status events before a kill");
            break;
        default:
            what = "committed offsets";
            target.committed = h_committed_sum(&r) + (int64_t)n;
            target.next_poll = 0;
            ok = h_await(&r, committed_reached, 120, "committed offsets before a kill");
            break;
        }
        if (!ok)
            break;
        if (h_rand(&prng) % 4 == 0) {
            /* An impatient supervisor: SIGTERM, then SIGKILL in the middle of the stop. */
            unsigned long m = h_rand_range(&prng, 1, 50);
            h_bridge_term(&r, 0);
            h_mark(&r);
            target.events = m;
            if (h_await(&r, stopped_or_events, 60, "a graceful stop or events during it") &&
                !r.br[0].pid) {
                CHECK(WIFEXITED(exited_status) && WEXITSTATUS(exited_status) == 0,
                      "the bridge did not exit 0 on SIGTERM (status %d)", exited_status);
                note("kill %d/%d: SIGTERM after %lu more %s; it stopped before %lu more events",
                     k + 1, kills, n, what, m);
            } else {
                h_bridge_kill(&r, 0);
                note("kill %d/%d: SIGTERM after %lu more %s, SIGKILL %lu events into the stop",
                     k + 1, kills, n, what, m);
            }
        } else {
            h_bridge_kill(&r, 0);
            note("kill %d/%d after %lu more %s (accepted %lu of %lu, produced %lu)", k + 1,
                 kills, n, what, r.accepted, r.n_valid, r.produced_valid);
        }
        restarts++;
        /* Time the restart when it has work: offsets left uncommitted (all the orders
         * supplied so far may be done; then the next part gives it some). */
        timed = !h_committed_to_end(&r);
        h_mark(&r); /* the next moment is counted in the new process's work */
        h_bridge_start(&r, 0);
        /* How long until the new process writes its first status event (or commits
         * what waited for it). */
        if (timed && h_await(&r, resumed, 60, "the restarted bridge's first status event or commit") &&
            n_resume < sizeof(resume_s) / sizeof(resume_s[0]))
            resume_s[n_resume++] = h_now() - r.br[0].started_at;
    }
    r.feed_limit = 0; /* the rest */
    if (n_resume) {
        qsort(resume_s, n_resume, sizeof(resume_s[0]), cmp_double);
        note("restart to first status event or commit: median %.2f s, slowest %.2f s over %zu restarts "
             "(static membership: kafka.instance_name)",
             resume_s[n_resume / 2], resume_s[n_resume - 1], n_resume);
    }
    CHECK(restarts == (unsigned long)kills, "%lu restarts of %d", restarts, kills);
    summary(&r, "kill9", restarts, start);
    for (size_t w = 0; w < r.n_wh; w++)
        print_sim(&r, w);
    h_teardown(&r);
}

/* ---- b. sick warehouses ------------------------------------------------------------ */

static void scenario_warehouse(const struct opts *o)
{
    /* At debug level every push is logged: the token must still not appear. */
    struct h_run r = {.name = "warehouse", .n_wh = 3, .n_bridges = 1, .log_level = "debug"};
    int restarts = o->kills ? o->kills : o->full ? 3 : 1;
    double start = h_now(), worst_stop = 0;

    common(&r, o, 3000, 20000);
    /* WH-1: refusals. WH-2: slowness and lost answers. WH-3: unreadable answers. */
    r.wh[0].sim.fail_5xx_rate = 0.06;
    r.wh[0].sim.fail_429_rate = 0.03;
    r.wh[0].sim.retry_after_s = 1;
    r.wh[0].sim.reset_rate = 0.03;
    r.wh[1].sim.slow_rate = 0.05;
    r.wh[1].sim.slow_ms = 1500; /* longer than timeout_ms: the retry races the answer */
    r.wh[1].sim.reset_after_create_rate = 0.05;
    r.wh[2].sim.garbage_rate = 0.06;
    r.wh[2].sim.fail_5xx_rate = 0.02;
    r.wh[2].sim.slow_rate = 0.02;
    r.wh[2].sim.slow_ms = 1500;
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].timeout_ms = 500;
        r.wh[w].max_attempts = 40;
        r.wh[w].issue4 = ISSUE4_WAREHOUSE;
    }
    h_setup(&r);
    for (int k = 0; k < restarts; k++) {
        unsigned long n = supply(&r, restarts + 1);
        if (!await_accepted(&r, n, "ACCEPTED orders before a graceful restart"))
            break;
        double took = h_bridge_stop(&r, 0);
        if (took > worst_stop)
            worst_stop = took;
        note("SIGTERM %d/%d after %lu more orders ACCEPTED (accepted %lu of %lu): stopped in "
             "%.2f s",
             k + 1, restarts, n, r.accepted, r.n_valid, took);
        /* shutdown_timeout_ms, then up to 10 s for the producer, then the Kafka close */
        CHECK(took < (double)r.shutdown_timeout_ms / 1000.0 + 12.0,
              "the graceful stop took %.1f s", took);
        h_mark(&r);
        h_bridge_start(&r, 0);
    }
    r.feed_limit = 0;
    summary(&r, "warehouse", r.br[0].stops, start);
    for (size_t w = 0; w < r.n_wh; w++)
        print_sim(&r, w);
    /* The run must have met every fault it is about. */
    struct ob_sim_stats a, b, c;
    ob_sim_get_stats(r.wh[0].s, &a);
    ob_sim_get_stats(r.wh[1].s, &b);
    ob_sim_get_stats(r.wh[2].s, &c);
    CHECK(a.injected_5xx && a.injected_429 && a.injected_resets && b.slow_answers &&
              b.resets_after_create && c.injected_garbage && c.garbage_after_create &&
              c.injected_garbage > c.garbage_after_create,
          "a fault was never injected: the run tested less than it claims");
    note("slowest graceful stop %.2f s", worst_stop);
    h_teardown(&r);
}

/* ---- c. broker faults ------------------------------------------------------------- */

/* Errors for every broker's requests of one type; waits until `need` of them were answered. */
static void inject(struct h_run *r, int16_t api, const char *api_name, const int *errs, size_t n,
                   long need)
{
    int brokers = ob_mock_brokers(r->mock);
    long pushed = (long)n * brokers, left = pushed;
    double deadline = h_now() + 60;

    for (int b = 1; b <= brokers; b++)
        if (ob_mock_push_broker_errors(r->mock, b, api, n, errs, 0) != 0)
            h_die("cannot push %s errors", api_name);
    while (left > pushed - need) {
        h_drain(r, 100);
        left = 0;
        for (int b = 1; b <= brokers; b++)
            left += ob_mock_broker_errors_left(r->mock, b, api);
        if (h_now() > deadline) {
            CHECK(0, "only %ld of %ld injected %s errors were met within 60 s", pushed - left,
                  need, api_name);
            return;
        }
    }
    note("%ld %s errors met (accepted %lu of %lu)", pushed - left, api_name, r->accepted,
         r->n_valid);
}

static const char *const topics[] = {"orders", H_TOPIC_RETRY, "fulfillment.status",
                                     "orders.dlq"};

/* Give every partition a random leader other than `avoid` (0: any). */
static void move_leaders(struct h_run *r, int avoid)
{
    int brokers = ob_mock_brokers(r->mock);

    for (size_t t = 0; t < sizeof(topics) / sizeof(topics[0]); t++) {
        int parts = t < 2 ? r->partitions : r->out_partitions;
        for (int p = 0; p < parts; p++) {
            int b;
            do
                b = 1 + (int)(h_rand(&prng) % (uint64_t)brokers);
            while (b == avoid);
            if (ob_mock_set_leader(r->mock, topics[t], p, b) != 0)
                h_die("cannot move the leader of %s [%d]", topics[t], p);
        }
    }
}

static void scenario_broker(const struct opts *o)
{
    /* Retriable errors only: the bridge must ride them out, not stop. */
    static const int produce_errs[] = {6, 7, 19, 5, 6, 7}; /* NOT_LEADER, TIMED_OUT, ... */
    static const int fetch_errs[] = {6, 5, 7};             /* NOT_LEADER, LEADER_NOT_AVAILABLE */
    static const int commit_errs[] = {7, 15, 16, 14};      /* TIMED_OUT, COORDINATOR_* */
    struct h_run r = {.name = "broker", .n_wh = 2, .n_bridges = 1, .brokers = 3,
                      .replication = 3, .log_level = "debug"}; /* debug: pauses and resumes */
    double start = h_now(), down_s;
    int steps = 7;

    common(&r, o, 3000, 20000);
    down_s = o->full ? 6 : 3;
    r.coordinator = 1 + (int)(h_rand(&prng) % 3);
    r.max_in_flight = 128; /* small: an outage fills it, and backpressure pauses the bridge */
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].sim.slow_rate = 0.02;
        r.wh[w].sim.slow_ms = 50;
        r.wh[w].issue4 = ISSUE4_WAREHOUSE;
    }
    h_setup(&r);
    unsigned long n = supply(&r, steps + 1);
    for (int step = 0; step < steps; step++) {
        if (!await_accepted(&r, n, "ACCEPTED orders before a broker fault"))
            break;
        /* the next part flows through the fault (into it, for the coordinator's outage) */
        if (step != 4) {
            n = supply(&r, steps + 1);
            h_mark(&r);
        }
        switch (step) {
        case 0:
            inject(&r, OB_MOCK_API_PRODUCE, "Produce", produce_errs, 6, 6);
            break;
        case 1:
            inject(&r, OB_MOCK_API_FETCH, "Fetch", fetch_errs, 3, 3);
            break;
        case 2:
            /* Only the bridge commits: these reach it. */
            inject(&r, OB_MOCK_API_OFFSET_COMMIT, "OffsetCommit", commit_errs, 4, 4);
            break;
        case 3:
            move_leaders(&r, 0);
            note("leaders moved (accepted %lu of %lu)", r.accepted, r.n_valid);
            break;
        case 4:
            /* It leads the output topics too: outcomes wait, the bridge fills up and pauses.
             * Down longer than session.timeout.ms (6 s): the bridge loses its partitions,
             * drains, joins again and gets them back. */
            for (size_t t = 1; t < sizeof(topics) / sizeof(topics[0]); t++)
                for (int p = 0; p < (t == 1 ? r.partitions : r.out_partitions); p++)
                    ob_mock_set_leader(r.mock, topics[t], p, r.coordinator);
            ob_mock_broker_down(r.mock, r.coordinator);
            n = supply(&r, steps + 1);
            h_mark(&r);
            note("broker %d, the group coordinator and leader of the output topics, down for "
                 "8 s (accepted %lu of %lu)",
                 r.coordinator, r.accepted, r.n_valid);
            hold(&r, 8);
            ob_mock_broker_up(r.mock, r.coordinator);
            break;
        case 5: {
            int b = 1 + (int)(h_rand(&prng) % 3);
            ob_mock_broker_rtt(r.mock, b, 800);
            note("broker %d answers after 800 ms for %.0f s (accepted %lu of %lu)", b, down_s,
                 r.accepted, r.n_valid);
            hold(&r, down_s);
            ob_mock_broker_rtt(r.mock, b, 0);
            break;
        }
        default: {
            int b = 1 + (int)(h_rand(&prng) % 3);
            ob_mock_broker_down(r.mock, b);
            move_leaders(&r, b);
            note("broker %d down for %.0f s, its partitions led elsewhere (accepted %lu of "
                 "%lu)",
                 b, down_s, r.accepted, r.n_valid);
            hold(&r, down_s);
            ob_mock_broker_up(r.mock, b);
            move_leaders(&r, 0);
            break;
        }
        }
    }
    r.feed_limit = 0;
    summary(&r, "broker", 0, start);
    h_teardown(&r);
}

/* ---- d. a consumer group losing a member ------------------------------------------ */

/* Every other instance was assigned partitions since the kill of group_victim. */
static int group_victim;
static unsigned long group_before[H_MAX_BRIDGES];
static int taken_over(struct h_run *r)
{
    for (int i = 0; i < r->n_bridges; i++)
        if (i != group_victim && h_log_count(r, i, " assigned ") <= group_before[i])
            return 0;
    return 1;
}

/* With callbacks: status events from callbacks written since the start. */
static unsigned long group_statuses;
static int statuses_flowing(struct h_run *r)
{
    return r->cb_events >= group_statuses;
}

/* Every running instance owns partitions. */
static int all_owning(struct h_run *r)
{
    for (int i = 0; i < r->n_bridges; i++)
        if (r->br[i].pid && h_log_owned(r, i) <= 0)
            return 0;
    return 1;
}

static void scenario_group(const struct opts *o)
{
    struct h_run r = {.name = "group", .n_wh = 2, .n_bridges = 3};
    unsigned long n, part;
    double start = h_now();
    int victim;

    common(&r, o, 3000, 20000);
    r.partitions = 12;
    /* The full form: both rebalance protocols, by the seed's parity. The reduced one (CI)
     * rebalances eagerly: with cooperative-sticky, librdkafka 2.0.2's mock cluster now and
     * then falls into a rebalance every 10 s that never settles (2 of 5 runs, before and
     * after issue 12), and the offsets are never committed to the end. With --state
     * (callbacks through Kafka) always range: the bridge refuses another assignor, which
     * would not give partition N of orders and of the callbacks topic to one instance. */
    r.assignment = o->full && o->seed % 2 && !o->state ? "cooperative-sticky" : "range,roundrobin";
    /* --state: the statuses after the push too. Each warehouse calls back with every
     * order's statuses, each attempt to one of the three instances at random (the dead one
     * refuses: the warehouse tries again); the instance forwards it through
     * orderbridge.callbacks to the owner of the order's partition, which emits it. Some
     * callbacks come tampered, replayed, twice or out of order. */
    r.callbacks_topic = o->state;
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].sim.slow_rate = 0.03;
        r.wh[w].sim.slow_ms = 100;
        r.wh[w].sim.fail_5xx_rate = 0.03;
        r.wh[w].issue4 = w == 0 ? ISSUE4_PARKING_LONG : ISSUE4_WAREHOUSE;
        if (o->state) {
            r.wh[w].sim.cb_tamper_rate = 0.02;
            r.wh[w].sim.cb_replay_rate = 0.05;
            r.wh[w].sim.cb_duplicate_rate = 0.05;
            r.wh[w].sim.cb_reorder_rate = 0.05;
        }
    }
    part = r.n_valid / 3;
    h_setup(&r);
    note("3 instances, partition.assignment.strategy %s%s", r.assignment,
         o->state ? "; order state in orderbridge.state, callbacks through "
                    "orderbridge.callbacks to a random instance" : "");
    /* With callbacks the first part flows at a steady pace: statuses follow their orders
     * by a second or more, and the kill must find both pushes and statuses in flight. */
    if (r.callbacks_topic)
        r.feed_rate = (double)part / 8.0;
    n = supply(&r, 3);
    CHECK(h_await(&r, all_owning, 90, "all three instances owning partitions"),
          "the group never shared the partitions");
    victim = (int)(h_rand(&prng) % 3);
    await_accepted(&r, n, "ACCEPTED orders before the kill");
    if (r.callbacks_topic) {
        /* The first ACCEPTED orders come before any state is in the changelog (a status's
         * state record follows its ack, a callback waits for its order's push to finish):
         * the kill waits for statuses from callbacks too, so that it strikes while the
         * victim's state is in the changelog and statuses flow. */
        group_statuses = h_rand_range(&prng, 200, 1500);
        CHECK(h_await(&r, statuses_flowing, 60, "statuses from callbacks before the kill"),
              "no statuses from callbacks");
    }
    /* It must own partitions when it dies, or nothing is taken over. */
    CHECK(h_await(&r, all_owning, 60, "the victim owning partitions"), "no partitions to take");
    note("instance %d killed after %lu orders ACCEPTED%s, owning %d partition(s)", victim,
         r.accepted, r.callbacks_topic ? " and statuses flowing" : "", h_log_owned(&r, victim));
    if (r.callbacks_topic)
        note("status events from callbacks so far %lu (the kill waited for %lu)", r.cb_events,
             group_statuses);
    h_bridge_kill(&r, victim);
    h_mark(&r);
    r.feed_rate = 0;
    group_victim = victim;
    for (int i = 0; i < 3; i++)
        group_before[i] = h_log_count(&r, i, " assigned ");

    /* The other two take its partitions over (after session.timeout.ms) and go on. With
     * --quick-restart it is back before its old session expired instead. */
    n = supply(&r, 3);
    if (!o->quick_restart) {
        CHECK(h_await(&r, taken_over, 60, "the other two taking the partitions over"),
              "the dead instance's partitions were not taken over");
        await_accepted(&r, n, "ACCEPTED orders after the kill");
        note("partitions taken over; %lu orders ACCEPTED by the other two since the kill",
             r.since_accepted);
    }

    /* It comes back while the last part flows at a steady pace: partitions move again,
     * and the instances giving them up drain them first. */
    r.feed_limit = 0;
    r.feed_rate = (double)part / 8.0;
    h_bridge_start(&r, victim);
    CHECK(h_await(&r, all_owning, 90, "the restarted instance owning partitions"),
          "the restarted instance got no partitions");
    note("instance %d back, owning %d partition(s) (accepted %lu of %lu, produced %lu)", victim,
         h_log_owned(&r, victim), r.accepted, r.n_valid, r.produced_valid);
    r.feed_rate = 0;
    summary(&r, "group", 1, start);
    h_teardown(&r);
}

/* ---- bulkhead ----------------------------------------------------------------------- */

enum sickness { HEALTHY, ERRORS, HANGS };

/* Warehouses 0-3 are the healthy ones; 4, when there, is the sick one. */
static int healthy_done(struct h_run *r)
{
    for (size_t w = 0; w < 4; w++)
        if (r->wh_accepted[w] < r->wh_orders[w])
            return 0;
    return 1;
}

/* Five warehouses (four without the sick one), 1000 orders each, all named by the orders.
 * Returns the seconds from the first status event to the last healthy order ACCEPTED. */
static double bulkhead_run(enum sickness sick, double baseline, unsigned long seed)
{
    static const char *const names[] = {"baseline", "sick-503", "sick-hang"};
    struct h_run r = {.name = names[sick], .n_wh = sick == HEALTHY ? 4 : 5, .n_bridges = 1,
                      .seed = seed, .name_warehouse = 1};
    size_t s = 4; /* the sick one */
    double healthy_s, recovered_at;

    r.n_valid = 1000 * r.n_wh;
    r.partitions = 8;
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].timeout_ms = 500;
        r.wh[w].max_connections = 16;
        r.wh[w].max_attempts = 100; /* its orders must outlive the sickness */
        r.wh[w].issue4 = "{\"attempts_in_memory\": 3, \"park_ms\": 1000, \"circuit_breaker\": {"
                         "\"consecutive_failures\": 20, \"error_rate\": 0.5, \"min_requests\": 20,"
                         " \"window_ms\": 10000, \"open_ms\": 2000, \"half_open_probes\": 3}}";
    }
    if (sick == ERRORS)
        r.wh[s].sim.fail_5xx_rate = 1.0;
    if (sick == HANGS) {
        r.wh[s].sim.slow_rate = 1.0;
        r.wh[s].sim.slow_ms = 10000; /* twenty times the timeout */
    }
    h_setup(&r);
    h_produce_all(&r);
    CHECK(h_await(&r, healthy_done, 90, "the healthy warehouses' orders ACCEPTED"),
          "healthy orders stuck behind the sick warehouse");
    /* By the bridge's own clock (the events' Kafka timestamps): from its first outcome to
     * the last healthy order's ACCEPTED. */
    healthy_s = 0;
    for (size_t w = 0; w < 4; w++)
        if ((double)(r.wh_last_ms[w] - r.first_event_ms) / 1000.0 > healthy_s)
            healthy_s = (double)(r.wh_last_ms[w] - r.first_event_ms) / 1000.0;
    if (sick == HEALTHY) {
        printf("bulkhead baseline: 4 warehouses, %lu orders ACCEPTED in %.2f s\n", r.n_valid,
               healthy_s);
        unsigned long lost = finish(&r, 60, NULL, NULL);
        CHECK(lost == 0, "%lu orders lost", lost);
        h_teardown(&r);
        return healthy_s;
    }

    struct ob_sim_stats st;
    unsigned long sick_orders = r.wh_orders[s], limit = sick_orders / 4;
    double allowed = 2 * baseline + 2;
    ob_sim_get_stats(r.wh[s].s, &st);
    printf("bulkhead %s: 4000 healthy orders ACCEPTED in %.2f s (baseline %.2f s, limit %.2f s); "
           "the sick warehouse got %lu requests for %lu orders (limit %lu)\n",
           names[sick], healthy_s, baseline, allowed, st.requests, sick_orders, limit);
    CHECK(healthy_s <= allowed, "the healthy warehouses took %.2f s, more than 2 x %.2f + 2 s",
          healthy_s, baseline);
    CHECK(st.requests <= limit,
          "the sick warehouse got %lu requests for %lu orders: no breaker held them back",
          st.requests, sick_orders);
    CHECK(r.wh_accepted[s] == 0, "%lu orders ACCEPTED by a warehouse that accepts nothing",
          r.wh_accepted[s]);

    /* Recovery: the parked orders come back, the breaker lets probes through and closes. */
    struct ob_sim_options well = {0};
    ob_sim_set_faults(r.wh[s].s, &well);
    recovered_at = h_now();
    unsigned long lost = finish(&r, 120, NULL, NULL);
    CHECK(lost == 0, "%lu orders lost", lost);
    ob_sim_get_stats(r.wh[s].s, &st);
    note("recovered: its %lu orders ACCEPTED %.1f s after it recovered; %lu requests in all, "
         "%lu duplicates; %lu records parked",
         sick_orders, r.wh_done_at[s] - recovered_at, st.requests, st.duplicates,
         r.retry_records);
    h_teardown(&r);
    return healthy_s;
}

static void scenario_bulkhead(const struct opts *o)
{
    double baseline = bulkhead_run(HEALTHY, 0, o->seed);

    bulkhead_run(ERRORS, baseline, o->seed);
    bulkhead_run(HANGS, baseline, o->seed);
}

/* ---- brownout ------------------------------------------------------------------------ */

/* Orders 0, 1, 2 of every 10 go to WH-1, 3-5 to WH-2, 6-8 to WH-3, 9 to WH-4: the slow
 * one gets a tenth, or it would take minutes. */
static int brownout_route(const struct h_run *r, unsigned long i)
{
    (void)r;
    return i % 10 == 9 ? 3 : (int)(i % 10 / 3);
}

static int under_sanitizer(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return 1;
#else
    return 0;
#endif
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* A warehouse's orders a second: 95% of its orders over the time from the run's first
 * status event to when 95% of them were ACCEPTED, by the bridge's clock (Kafka
 * timestamps). The last ones are orders that failed three times in a row (0.3^3 = 2.7%
 * of WH-2's) and waited on the retry topic: the tail, not the rate. */
static double wh_rate(const struct h_run *r, size_t w, double *seconds)
{
    int64_t *t = malloc(r->n_valid * sizeof(*t));
    size_t n = 0, k;

    for (unsigned long i = 0; t && i < r->n_valid; i++)
        if (r->valid[i].wh == w && r->valid[i].accepted_ms)
            t[n++] = r->valid[i].accepted_ms;
    if (!n) {
        free(t);
        *seconds = 0;
        return 0;
    }
    qsort(t, n, sizeof(*t), cmp_i64);
    k = n * 95 / 100;
    *seconds = (double)(t[k ? k - 1 : 0] - r->first_event_ms) / 1000.0;
    free(t);
    return *seconds > 0 ? (double)k / *seconds : 0;
}

/*
 * Four warehouses under the default breaker and concurrency settings.
 * Healthy: all four well, the baseline. Browned out: WH-1 loses the answer
 * to the first attempt of every order (it creates the order, the
 * connection drops; the retry is answered as a duplicate), WH-2 answers
 * 503 to 30% of the requests at random, WH-4 answers every request after
 * 2 s; WH-3 stays well. Fills rate[] with each warehouse's orders/s.
 */
static void brownout_run(int browned, const struct opts *o, const double *baseline,
                         const double *base_took, double *rate, double *took_out)
{
    struct h_run r = {.name = browned ? "brownout" : "brownout-baseline", .n_wh = 4,
                      .n_bridges = 1, .seed = o->seed, .name_warehouse = 1,
                      .route = brownout_route};
    static const char *const what[] = {"first attempt of every order lost", "30% 503",
                                       "well", "every answer after 2 s"};
    double took;

    r.n_valid = o->orders ? o->orders : o->full ? 40000 : 4000;
    r.partitions = r.n_valid > 8000 ? 16 : 8;
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].timeout_ms = 5000;
        r.wh[w].max_connections = 64;
        r.wh[w].backoff_ms = 50;
        r.wh[w].issue4 = "{}"; /* the bridge's defaults: breaker, concurrency, parking */
    }
    if (browned) {
        r.wh[0].sim.reset_after_create_rate = 1.0;
        r.wh[1].sim.fail_5xx_rate = 0.3;
        r.wh[3].sim.slow_rate = 1.0;
        r.wh[3].sim.slow_ms = 2000;
    }
    h_setup(&r);
    h_produce_all(&r);
    CHECK(h_await(&r, h_all_done, o->full ? 1200 : 240, "every order ACCEPTED"),
          "orders missing");
    for (size_t w = 0; w < r.n_wh; w++) {
        rate[w] = wh_rate(&r, w, &took);
        took_out[w] = took;
        if (browned)
            note("%s (%s): 95%% of %lu orders in %.1f s, %.0f orders/s (healthy %.0f/s, %.0f%%)",
                 r.wh[w].code, what[w], r.wh_orders[w], took, rate[w], baseline[w],
                 baseline[w] > 0 ? 100.0 * rate[w] / baseline[w] : 0);
        else
            note("%s healthy: 95%% of %lu orders in %.1f s, %.0f orders/s", r.wh[w].code,
                 r.wh_orders[w], took, rate[w]);
    }
    if (browned) {
        for (size_t w = 0; w < r.n_wh; w++)
            print_sim(&r, w);
    }
    if (browned && under_sanitizer()) {
        /* Rates are a benchmark's business: under ASan the bridge runs several times
         * slower and its rates swing (33% to 63% for WH-1 in CI). Everything else holds. */
        note("rates not checked under a sanitizer; the plain build checks them");
    } else if (browned) {
        /* A third of the healthy rate, or within half a second of three times the
         * healthy time. A reduced run's warehouses finish in 0.2-0.4 s healthy and about
         * 0.3 s later browned out, on a fast machine as on a slow one: a fixed cost
         * (likely the slow warehouse's full lane holding messages in Kafka until its
         * orders step aside; not measured yet) that a ratio of sub-second times turns
         * into a flaky check. A full run's seconds make the allowance small. */
        static const char *const how[] = {"accepting one attempt in two", "30% 503",
                                          "healthy"};
        for (size_t w = 0; w < 3; w++)
            CHECK(rate[w] >= baseline[w] / 3 || took_out[w] <= 3 * base_took[w] + 0.5,
                  "%s (%s) delivered %.0f orders/s in %.2f s: under a third of its healthy "
                  "%.0f/s, and over 3 x %.2f s + 0.5 s", r.wh[w].code, how[w], rate[w],
                  took_out[w], baseline[w], base_took[w]);
    }
    summary(&r, r.name, 0, t0);
    h_teardown(&r);
}

static void scenario_brownout(const struct opts *o)
{
    double baseline[4] = {0}, browned[4], base_took[4] = {0}, took[4];

    brownout_run(0, o, NULL, NULL, baseline, base_took);
    brownout_run(1, o, baseline, base_took, browned, took);
}

/* ---- outage ------------------------------------------------------------------------- */

static unsigned long outage_upto; /* valid orders produced when WH-1 came back */

/* Every WH-1 order produced before it came back is ACCEPTED. */
static int backlog_delivered(struct h_run *r)
{
    for (unsigned long i = 0; i < outage_upto; i++)
        if (r->valid[i].wh == 0 && r->valid[i].status != H_ACCEPTED)
            return 0;
    return 1;
}

static unsigned long wh2_mark;
static int wh2_flowing(struct h_run *r)
{
    return r->wh_accepted[1] >= wh2_mark;
}

/*
 * WH-1 answers 503 to everything for a while (20 s reduced, 10 min full)
 * while orders keep coming at a steady rate for it and for WH-2, under the
 * default breaker and parking settings (max_attempts raised: probes count
 * as attempts). WH-2 must keep delivering; once WH-1 is back, its backlog
 * (parked on the retry topic, up to max_park_ms away) must be delivered
 * within seconds: the circuit closes after open_ms and its parked orders
 * come back at once.
 */
static void scenario_outage(const struct opts *o)
{
    struct h_run r = {.name = "outage", .n_wh = 2, .n_bridges = 1, .seed = o->seed,
                      .name_warehouse = 1};
    /* Full: 20 orders/s, since each parked order is parked again every max_park_ms (30 s)
     * while the warehouse is down, and the embedded Kafka keeps ~5 MB per partition: at
     * 200/s for 10 minutes the retry topic would outgrow it and drop copies. */
    double down_s = o->full ? 600 : 20, rate = o->full ? 20 : 200, up_at, recovered_s;
    double start = h_now();
    struct ob_sim_options down = {.fail_5xx_rate = 1.0}, well = {0};
    unsigned long before;

    r.n_valid = o->orders ? o->orders : (unsigned long)(rate * (down_s + 15));
    r.partitions = o->full ? 64 : 8;
    for (size_t w = 0; w < r.n_wh; w++) {
        r.wh[w].max_attempts = 1000;
        r.wh[w].issue4 = "{}"; /* the bridge's defaults */
    }
    h_setup(&r);
    r.feed_window = r.n_valid;
    r.feed_rate = rate;
    CHECK(await_accepted(&r, (unsigned long)(rate * 3), "orders flowing"), "no orders flowing");
    ob_sim_set_faults(r.wh[0].s, &down);
    note("WH-1 down (503 to everything) for %.0f s; %lu orders ACCEPTED so far", down_s,
         r.accepted);
    target.until = h_now() + down_s;
    before = r.wh_accepted[1];
    h_await(&r, time_passed, down_s + 1, "the outage");
    wh2_mark = before + 1;
    CHECK(wh2_flowing(&r), "WH-2 delivered nothing during WH-1's outage");
    note("outage over: WH-2 delivered %lu orders meanwhile; WH-1 %lu of %lu", 
         r.wh_accepted[1] - before, r.wh_accepted[0], r.wh_orders[0]);
    ob_sim_set_faults(r.wh[0].s, &well);
    up_at = h_now();
    outage_upto = r.produced_valid;
    CHECK(h_await(&r, backlog_delivered, 120, "WH-1's backlog delivered"), "backlog stuck");
    recovered_s = h_now() - up_at;
    note("WH-1 back: its %lu orders from before delivered %.1f s later", r.wh_accepted[0],
         recovered_s);
    CHECK(recovered_s < 15, "WH-1's backlog took %.1f s after it came back", recovered_s);
    print_sim(&r, 0);
    r.feed_rate = 0;
    summary(&r, "outage", 0, start);
    printf("outage: WH-1 down %.0f s under %.0f orders/s; its backlog delivered %.1f s after it "
           "came back\n", down_s, rate, recovered_s);
    h_teardown(&r);
}

/* ---- main --------------------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr, "usage: chaos kill9|warehouse|broker|group|bulkhead|brownout|outage [--full] [--seed N] "
                    "[--orders N] [--kills N] [--quick-restart] [--state]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {.seed = DEFAULT_SEED};
    const char *scenario;

    if (argc < 2)
        return usage();
    scenario = argv[1];
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--full") == 0)
            o.full = 1;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            o.seed = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--orders") == 0 && i + 1 < argc)
            o.orders = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--kills") == 0 && i + 1 < argc)
            o.kills = atoi(argv[++i]);
        else if (strcmp(argv[i], "--quick-restart") == 0)
            o.quick_restart = 1;
        else if (strcmp(argv[i], "--state") == 0)
            o.state = 1;
        else
            return usage();
    }
    if (!o.seed)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress shows as it happens */
    prng = o.seed;
    t0 = h_now();
    printf("chaos %s (%s, seed %lu; again: chaos %s%s%s%s --seed %lu)\n", scenario,
           o.full ? "full" : "reduced", o.seed, scenario, o.full ? " --full" : "",
           o.state ? " --state" : "", o.quick_restart ? " --quick-restart" : "", o.seed);
    fflush(stdout);
    if (strcmp(scenario, "kill9") == 0)
        scenario_kill9(&o);
    else if (strcmp(scenario, "warehouse") == 0)
        scenario_warehouse(&o);
    else if (strcmp(scenario, "broker") == 0)
        scenario_broker(&o);
    else if (strcmp(scenario, "group") == 0)
        scenario_group(&o);
    else if (strcmp(scenario, "bulkhead") == 0)
        scenario_bulkhead(&o);
    else if (strcmp(scenario, "brownout") == 0)
        scenario_brownout(&o);
    else if (strcmp(scenario, "outage") == 0)
        scenario_outage(&o);
    else
        return usage();
    printf("%d passed, %d failed\n", h_checks - h_failures, h_failures);
    return h_failures ? 1 : 0;
}
