/*
 * harness.h — what the integration (it_pipeline) and chaos tests share: an
 * embedded Kafka (librdkafka's mock cluster, real protocol on localhost),
 * warehouse simulators (real HTTP servers), real `orderbridge run`
 * processes started with posix_spawn, a producer feeding the orders topic
 * from a plan of valid and malformed messages, and a reader that accounts
 * for every message from what the bridge wrote back: status events, dead
 * letters and parked records.
 *
 * Every wait is for an event (a record, a committed offset, a process
 * exit) with a deadline and a message saying what did not happen.
 *
 * Environment:
 *   OB_TEST_BINARY          the orderbridge binary to run (default: the build's)
 *   OB_TEST_LEGACY_CONFIG=1 leave out the issue-4 config keys (ledger, retry
 *                           topic, breaker, ...) for a bridge without them
 *   OB_TEST_KEEP=1          keep the run's directory (configs, logs, ledgers)
 *   OB_TEST_KAFKA_DEBUG=... librdkafka debug contexts for the bridges' consumers
 *                           (e.g. cgrp,fetch), written to their logs
 *
 * With h_run.callbacks_topic (issue 13) the "rest" warehouses also call
 * back: after the push, each simulator sends every order's statuses, each
 * attempt to one of the bridges at random (a killed one refuses: the
 * simulator tries again, maybe elsewhere); whichever instance takes it
 * forwards it through kafka.topics.callbacks to the owner of the order's
 * partition, which emits the status event. The reader collects those
 * events per order (struct h_cb_event) and h_check_callbacks() holds them
 * against what the simulators say they delivered.
 */
#ifndef OB_TEST_HARNESS_H
#define OB_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "mock.h"
#include "probe.h"
#include "sim.h"
#include "watch.h"

#define H_MAX_WH 8
#define H_MAX_BRIDGES 4
#define H_TOKEN "it-secret-token-0123456789" /* every warehouse's bearer token */
#define H_TOPIC_RETRY "orders.retry"
#define H_TOPIC_EXPRESS "orders.express"
#define H_TOPIC_STATE "orderbridge.state"
#define H_TOPIC_CALLBACKS "orderbridge.callbacks"
/* the rest warehouses' Standard Webhooks signing secret (with callbacks_topic) */
#define H_WEBHOOK_SECRET "whsec_aXQtY2hhb3Mtd2ViaG9vay1zZWNyZXQtMDEyMzQ1"
#define H_MAX_KILLS 64 /* SIGKILLs whose moments are kept (kill_ms) */
#define H_UNKNOWN_WH "WH-NOWHERE" /* named by the unroutable orders of the plan */

extern int h_checks, h_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        h_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            h_failures++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

double h_now(void); /* monotonic seconds */
_Noreturn void h_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A seeded PRNG (splitmix64) for the tests' own random choices. */
uint64_t h_rand(uint64_t *state);
/* Uniform in [lo, hi]. */
unsigned long h_rand_range(uint64_t *state, unsigned long lo, unsigned long hi);

enum h_status { H_NONE, H_ACCEPTED, H_REJECTED, H_DELIVERY_FAILED, H_OTHER };

struct h_warehouse {
    char code[32];
    struct ob_sim_options sim; /* token, seed and threads are filled in when 0 */
    struct ob_sim *s;
    long timeout_ms;          /* default 2000 */
    long connect_timeout_ms;  /* default min(timeout_ms, 1000) */
    long max_attempts;        /* default 10 */
    long backoff_ms;          /* default 20 */
    long max_backoff_ms;      /* default 200 */
    long max_connections;     /* default 32 */
    const char *adapter;      /* a name or a .so path; default "rest" */
    const char *issue4;       /* JSON object text merged into the warehouse block
                                 (attempts_in_memory, park_ms, rate_limit, circuit_breaker);
                                 left out in legacy mode */
};

struct h_bridge {
    pid_t pid; /* 0: not running */
    int stopping;    /* h_bridge_term() sent SIGTERM */
    int exited;      /* reaped, exit_status not yet collected by h_bridge_exited() */
    int exit_status;
    char config[256], ledger[256], log[256];
    unsigned short port; /* its HTTP server with h_run.http, else 0 */
    unsigned starts, kills, stops;
    double started_at;
};

/* A status event from a warehouse's callback (source "callback"), as read back. */
struct h_cb_event {
    char status[16];
    char code[32];       /* raw.code: what the warehouse sent */
    int64_t occurred_ms; /* occurred_at, epoch ms (-1: unreadable) */
    int64_t kafka_ms;    /* the record's timestamp (set by the bridge's producer) */
};

/* What was read back about one planned message. */
struct h_msg {
    unsigned char status;    /* enum h_status of its first revision-1 status event */
    unsigned char wh;        /* warehouse index (valid orders) */
    unsigned char conflicts; /* events that contradict the first */
    unsigned events;         /* revision-1 status events */
    unsigned dlq;            /* dead letters */
    int64_t accepted_ms;     /* Kafka timestamp of its first ACCEPTED event, 0 before */
    char key[65];            /* idempotency_key of the first event, "" when it had none */
    char warehouse[32];      /* warehouse of the first event */
    struct h_cb_event *cb;   /* with callbacks_topic: its callback status events, in the order
                                read (one partition: the order they were written in) */
    unsigned n_cb, cap_cb;
};

/* What h_check_callbacks() found. */
struct h_cb_figures {
    unsigned long sent, ok, refused, no_answer; /* the simulators' callback requests */
    unsigned long delivered;  /* distinct statuses the warehouses were told were taken */
    unsigned long emitted;    /* callback status events in the status topic */
    unsigned long repeats;    /* of those, identical copies of an earlier one */
    unsigned long repeats_outside; /* repeats whose first copy is not from the second before a
                                      SIGKILL */
    unsigned long lost;       /* delivered statuses never emitted */
    unsigned long extra;      /* emitted statuses no warehouse delivered */
    unsigned long wrong;      /* emitted with another status than the code's, or a state
                                 emitted twice with another code or time */
    unsigned long forged_ok;  /* tampered callbacks answered with success */
};

struct h_run {
    /* ---- set before h_setup() ---- */
    const char *name;
    unsigned long seed;        /* order ids are DEMO-<seed>-<index>; also seeds the sims */
    int brokers;               /* default 1 */
    int replication;           /* default 1 */
    int partitions;            /* orders and orders.retry, default 8 */
    int out_partitions;        /* fulfillment.status and orders.dlq, default 4 */
    const char *group;         /* default "it-orderbridge" */
    int n_bridges;             /* instances h_setup() starts, default 1 */
    long max_in_flight;        /* default 512 */
    long commit_interval_ms;   /* default 200 */
    long shutdown_timeout_ms;  /* default 5000 */
    const char *log_level;     /* default "info" */
    const char *assignment;    /* partition.assignment.strategy; NULL: librdkafka's default */
    const char *partitioner;   /* the bridges' kafka.producer.partitioner; NULL: the default
                                  (that of the test's own producer) */
    int coordinator;           /* broker coordinating the group (0: the mock's choice) */
    int name_warehouse;        /* orders carry their warehouse's code; else routing.default */
    size_t n_wh;               /* default 1 (WH-1 with a clean simulator) */
    struct h_warehouse wh[H_MAX_WH];
    unsigned long n_valid;     /* valid orders in the plan */
    unsigned long n_bad;       /* messages for the DLQ mixed in: ob_sample_malformed's kinds, and
                                  every 7th a valid order naming an unknown warehouse */
    unsigned long feed_window; /* 0: produce the whole plan at once; else keep at most this many
                                  valid orders produced ahead of the accepted ones */
    unsigned long feed_limit;  /* with feed_window: produce no more valid orders than this for
                                  now (0: all) */
    double feed_rate;          /* with feed_window: valid orders a second at most (0: no limit) */
    unsigned long dup_every;   /* every dup_every-th valid order is sent twice (0: none) */
    unsigned long express_every; /* every express_every-th valid order goes to orders.express,
                                    which the bridge consumes first (0: no such topic) */
    /* warehouse index of valid order i; default i % n_wh */
    int (*route)(const struct h_run *r, unsigned long i);
    int plain_config;          /* 1: no issue-4 keys at all (the bridge's defaults apply) */
    int http;                  /* 1: each bridge listens on a free port (GET /metrics) */
    int static_members;        /* 1: bridge i has kafka.instance_name "it-bridge-<i>" */
    int state_topic;           /* 1: kafka.topics.state, created with the orders' partitions */
    int state_partitions;      /* with state_topic: its partitions instead (0: the orders') */
    int callbacks_topic;       /* 1 (needs state_topic; implies http): kafka.topics.callbacks,
                                  created with the orders' partitions; the warehouses of the
                                  "rest" adapter and profile get a callback block (path
                                  /callbacks/<code>, allow_from 127.0.0.0/8) and a
                                  webhook_secret, and their simulators call back every
                                  bridge, one picked at random per attempt */

    /* ---- state ---- */
    int new_keys; /* the issue-4 keys are written (not OB_TEST_LEGACY_CONFIG) */
    const char *binary;
    char dir[128];
    struct ob_mock *mock;
    rd_kafka_t *producer;
    struct ob_watch *watch;
    struct h_bridge br[H_MAX_BRIDGES];
    double started_at;
    int64_t first_event_ms;  /* earliest Kafka timestamp of a status event (ms), 0 before */
    unsigned long next_msg; /* position in the plan */
    double rate_since;      /* feed_rate bookkeeping */
    unsigned long rate_base;
    unsigned long dup_messages; /* orders sent twice */
    unsigned long produced_valid, produced_bad;
    struct h_msg *valid, *bad;
    unsigned long wh_orders[H_MAX_WH], wh_accepted[H_MAX_WH];
    double wh_done_at[H_MAX_WH]; /* when its last order was seen ACCEPTED (h_now()), 0 before */
    int64_t wh_last_ms[H_MAX_WH]; /* latest Kafka timestamp of its orders' first ACCEPTED events */
    json_t *dlq_reasons;         /* dead-letter key -> ob.reason, every dead letter */
    int64_t kill_ms[H_MAX_KILLS]; /* wall-clock ms of each h_bridge_kill() (the first ones) */
    unsigned n_kills;
    double cb_next_check;        /* h_callbacks_done() bookkeeping */

    /* ---- counters, from what was read back ---- */
    unsigned long accepted;        /* valid orders with an ACCEPTED event */
    unsigned long bad_done;        /* malformed messages with a dead letter and an event */
    unsigned long events, accepted_events, failed_events, rejected_events;
    unsigned long dlq_records, retry_records;
    unsigned long unexpected;      /* events or dead letters that should not exist */
    unsigned long conflicts;       /* events contradicting an earlier one of the same order */
    unsigned long foreign_events;  /* events for ids outside the plan (custom messages) */
    unsigned long foreign_dlq;     /* dead letters with keys outside the plan */
    int64_t mark_ms;               /* h_mark(): wall-clock ms */
    unsigned long since_events;    /* status events the bridge wrote since the mark */
    unsigned long since_accepted;  /* orders whose first ACCEPTED was written since the mark */
    unsigned long cb_events;       /* callback status events (source "callback") */
};

/* Fill in defaults, start Kafka, the simulators, the producer, the reader
 * and r->n_bridges bridges. Dies when something cannot start. */
void h_setup(struct h_run *r);
/* Stop what still runs (bridges with SIGTERM, checking exit 0) and free. */
void h_teardown(struct h_run *r);

/* ---- bridges ---- */
void h_bridge_start(struct h_run *r, int i);
/* SIGKILL; returns after the process is gone. Its moment goes to kill_ms. */
void h_bridge_kill(struct h_run *r, int i);
/* SIGTERM, then wait up to shutdown_timeout_ms + 20 s; checks exit 0 and
 * returns the seconds it took (SIGKILL and a failed check on a hang). */
double h_bridge_stop(struct h_run *r, int i);
void h_stop_all(struct h_run *r);
/* SIGTERM without waiting: h_await() then does not count its exit as a
 * failure; collect it with h_bridge_exited(). */
void h_bridge_term(struct h_run *r, int i);
/* 1 (and its wait status) once instance i has exited; 0 while it runs. */
int h_bridge_exited(struct h_run *r, int i, int *status);
/* Lines of instance i's log (all its runs) that contain `needle`. */
unsigned long h_log_count(const struct h_run *r, int i, const char *needle);
/* Partitions instance i owns by its log since its last start: the sum of
 * its "assigned N partition(s)" lines less its "revoked N" lines (eager
 * and cooperative rebalancing alike); -1 before the first of them. */
int h_log_owned(const struct h_run *r, int i);

/* ---- producing ---- */
/* Produce up to `count` more messages of the plan; returns how many. */
unsigned long h_produce(struct h_run *r, unsigned long count);
void h_produce_all(struct h_run *r);
void h_produce_raw(struct h_run *r, const char *key, const void *value, size_t len);
void h_flush(struct h_run *r);
void h_order_id(const struct h_run *r, unsigned long i, char *buf, size_t size);
void h_bad_id(unsigned long j, char *buf, size_t size);
int h_bad_unroutable(unsigned long j); /* the plan's j-th DLQ message is an unroutable order */

/* ---- reading back ---- */
/* Read the records that are there (a batch of at most 64), waiting up to
 * timeout_ms for the first. */
void h_drain(struct h_run *r, int timeout_ms);
/* Read (and feed the plan) until done(r) or the deadline; then 1, or 0
 * with a failed check naming `what` and what is missing. Also fails at
 * once when a bridge exits on its own. */
int h_await(struct h_run *r, int (*done)(struct h_run *r), double seconds, const char *what);
/* Every planned message produced and accounted for. */
int h_all_done(struct h_run *r);
/* Committed offsets of the group at the end offsets of orders and orders.retry. */
int h_committed_to_end(struct h_run *r);
int h_await_committed(struct h_run *r, double seconds);
/* Sum of the group's committed offsets of the orders topic (-1 on error). */
int64_t h_committed_sum(struct h_run *r);
/* Read until every watched partition is read to its end (after the bridges stopped). */
int h_await_caught_up(struct h_run *r, double seconds);

/* Start counting since_events and since_accepted: what the bridge writes
 * from now on (by the records' timestamps), not what is still being read. */
void h_mark(struct h_run *r);

/* ---- verdict ---- */
/* The checks every run ends with: each valid order created exactly once at
 * its warehouse (and nowhere else) and ACCEPTED, every malformed message
 * dead-lettered and DELIVERY_FAILED, every order's events in agreement,
 * nothing else dead-lettered, offsets committed to the end, nothing
 * dropped by the embedded Kafka, no refused request, no secret in the
 * logs. Call after h_stop_all() and h_await_caught_up(). Fills *repeats
 * with the duplicates the warehouses absorbed. */
void h_check_outcome(struct h_run *r, unsigned long *repeats);
/* Valid orders without an ACCEPTED event or never created at their warehouse, plus
 * malformed ones without their dead letter and event. */
unsigned long h_lost(const struct h_run *r);
/* With callbacks_topic, an h_await() condition: every simulator has sent its orders'
 * whole status sequences, and each status it was told was taken (answered with success)
 * is in the status topic as read so far. Looks at most every 250 ms. */
int h_callbacks_done(struct h_run *r);
/* With callbacks_topic, after h_await_caught_up(): for every order a simulator created,
 * each status delivered with success was emitted (none lost), with the status its code
 * maps to; nothing was emitted that no warehouse delivered; a status in the topic twice is
 * an identical copy (status, raw code, occurred_at) whose first copy was produced within
 * the second before a SIGKILL (h_bridge_kill): the window between a status event's ack
 * and its state record's. No tampered callback was taken. Fills *f (may be NULL). */
void h_check_callbacks(struct h_run *r, struct h_cb_figures *f);
/* Print the last lines of every bridge log (after a failure). */
void h_dump_logs(const struct h_run *r, int lines);

#endif
