/*
 * it_pipeline — the real `orderbridge run` binary against an embedded Kafka
 * (librdkafka's mock cluster, real protocol on localhost) and a simulated
 * warehouse (a real HTTP server), read back with a Kafka client.
 *
 *   it_pipeline clean      N orders -> N created once, N ACCEPTED, offsets committed
 *   it_pipeline faults     the same through 503s, 429s, timeouts and lost answers
 *   it_pipeline malformed  bad messages (invalid JSON, no order_id, float money,
 *                          not UTF-8, empty, 4 MB) land in the DLQ with their reasons while
 *                          the valid orders around them still arrive
 *   it_pipeline crash      the bridge is killed (SIGKILL) mid-run and restarted:
 *                          still every order created exactly once
 *   it_pipeline ordered    two events of each order back to back, the first often
 *                          failing once: the warehouse still sees them in order
 *
 * Every wait is for an event (a record, a counter, a committed offset) with
 * a deadline; none is a fixed sleep.
 */
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "idempotency.h"
#include "mock.h"
#include "sample.h"
#include "sim.h"
#include "watch.h"

#ifndef OB_BINARY
#define OB_BINARY "orderbridge"
#endif

#define GROUP "it-orderbridge"
#define SEED 4242
#define TOKEN "it-secret-token-0123456789"

extern char **environ;

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        checks++;                                                                                  \
        if (!(cond)) {                                                                             \
            failures++;                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct run {
    const char *scenario;
    unsigned long orders;
    struct ob_mock *mock;
    struct ob_sim *sim;
    char config_path[64];
    pid_t bridge;
    rd_kafka_t *producer;
    struct ob_watch *watch;
    unsigned *accepted; /* ACCEPTED events per order index */
    unsigned long accepted_distinct, accepted_events, failed_events, dlq;
    json_t *dlq_reasons; /* key -> ob.reason header */
};

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("it_pipeline: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void write_config(struct run *r, long timeout_ms)
{
    FILE *f;
    int fd;

    snprintf(r->config_path, sizeof(r->config_path), "/tmp/it-orderbridge-XXXXXX");
    fd = mkstemp(r->config_path);
    if (fd < 0 || !(f = fdopen(fd, "w")))
        die("cannot write the config");
    fprintf(f,
            "{\"kafka\": {\"bootstrap_servers\": \"%s\", \"group_id\": \"" GROUP "\","
            "  \"consumer\": {\"fetch.wait.max.ms\": \"10\", \"session.timeout.ms\": \"6000\","
            "   \"max.poll.interval.ms\": \"10000\"}},"
            " \"pipeline\": {\"max_in_flight\": 512, \"commit_interval_ms\": 200,"
            "  \"shutdown_timeout_ms\": 5000},"
            " \"log\": {\"level\": \"warn\"},"
            " \"warehouses\": {\"WH-1\": {\"adapter\": \"rest\", \"endpoint\": \"http://127.0.0.1:%u/\","
            "   \"credentials\": {\"token\": \"env:IT_WH_TOKEN\"}, \"timeout_ms\": %ld,"
            "   \"connect_timeout_ms\": %ld, \"max_attempts\": 10, \"backoff_ms\": 20,"
            "   \"max_backoff_ms\": 200, \"max_connections\": 32}},"
            " \"routing\": {\"default\": \"WH-1\"}}\n",
            ob_mock_bootstraps(r->mock), ob_sim_port(r->sim), timeout_ms,
            timeout_ms < 1000 ? timeout_ms : 1000);
    fclose(f);
}

static void start_bridge(struct run *r)
{
    char *argv[] = {OB_BINARY, "run", "-c", r->config_path, NULL};

    setenv("IT_WH_TOKEN", TOKEN, 1);
    if (posix_spawn(&r->bridge, OB_BINARY, NULL, NULL, argv, environ) != 0)
        die("cannot start %s", OB_BINARY);
}

static int stop_bridge(struct run *r, int sig)
{
    int status = 0;

    kill(r->bridge, sig);
    waitpid(r->bridge, &status, 0);
    r->bridge = 0;
    return status;
}

static int exited_ok(int status)
{
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void produce(struct run *r, const char *key, const void *value, size_t len)
{
    rd_kafka_resp_err_t err = rd_kafka_producev(
        r->producer, RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (err)
        die("produce: %s", rd_kafka_err2str(err));
    rd_kafka_poll(r->producer, 0);
}

static void produce_order(struct run *r, unsigned long i)
{
    size_t len = 0;
    char key[64];
    char *value = ob_sample_order(SEED, i, NULL, &len);

    snprintf(key, sizeof(key), "DEMO-%d-%08lu", SEED, i);
    produce(r, key, value, len);
    free(value);
}

static long order_index(const char *order_id)
{
    char prefix[32];
    size_t n = (size_t)snprintf(prefix, sizeof(prefix), "DEMO-%d-", SEED);

    if (!order_id || strncmp(order_id, prefix, n) != 0)
        return -1;
    return strtol(order_id + n, NULL, 10);
}

static const char *header(const rd_kafka_message_t *msg, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *value = NULL;
    size_t len = 0;

    buf[0] = '\0';
    if (rd_kafka_message_headers(msg, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(hdrs, name, &value, &len) == RD_KAFKA_RESP_ERR_NO_ERROR && value)
        snprintf(buf, size, "%.*s", (int)len, (const char *)value);
    return buf;
}

/* Read what the bridge wrote; returns after timeout_ms without a record. */
static void drain(struct run *r, int timeout_ms)
{
    for (;;) {
        rd_kafka_message_t *msg = ob_watch_next(r->watch, timeout_ms);
        char reason[128], key[128];

        if (!msg)
            return;
        if (strcmp(rd_kafka_topic_name(msg->rkt), "orders.dlq") == 0) {
            r->dlq++;
            snprintf(key, sizeof(key), "%.*s", (int)msg->key_len,
                     msg->key ? (const char *)msg->key : "");
            json_object_set_new(r->dlq_reasons, key,
                                json_string(header(msg, "ob.reason", reason, sizeof(reason))));
            char topic[64], offset[32];
            CHECK(strcmp(header(msg, "ob.topic", topic, sizeof(topic)), "orders") == 0,
                  "dead letter of %s names topic '%s'", key, topic);
            CHECK(header(msg, "ob.offset", offset, sizeof(offset))[0] != '\0',
                  "dead letter of %s has no ob.offset", key);
        } else {
            json_t *doc = json_loadb(msg->payload, msg->len, 0, NULL);
            const char *status = json_string_value(json_object_get(doc, "status"));
            const char *order_id = json_string_value(json_object_get(doc, "order_id"));
            long idx = order_index(order_id);
            CHECK(doc && json_is_string(json_object_get(doc, "occurred_at")) &&
                      strcmp(json_string_value(json_object_get(doc, "schema")), "fulfillment.v1") == 0,
                  "status event is not fulfillment.v1: %.*s", (int)msg->len, (char *)msg->payload);
            CHECK(order_id && msg->key_len == strlen(order_id) &&
                      memcmp(msg->key, order_id, msg->key_len) == 0,
                  "status event key is not its order_id");
            if (status && strcmp(status, "ACCEPTED") == 0 && idx >= 0 &&
                (unsigned long)idx < r->orders) {
                r->accepted_events++;
                if (r->accepted[idx]++ == 0)
                    r->accepted_distinct++;
            } else if (status && strcmp(status, "DELIVERY_FAILED") == 0) {
                r->failed_events++;
            }
            json_decref(doc);
        }
        rd_kafka_message_destroy(msg);
    }
}

/* Wait until `done(r)` or the deadline; false on timeout. */
static int await(struct run *r, int (*done)(const struct run *), double seconds, const char *what)
{
    double deadline = now_s() + seconds;

    while (!done(r)) {
        if (now_s() > deadline) {
            fprintf(stderr, "it_pipeline: timed out waiting for %s\n", what);
            return 0;
        }
        drain(r, 100);
    }
    return 1;
}

static unsigned long expected_dlq;

static int all_accepted(const struct run *r)
{
    return r->accepted_distinct == r->orders && r->dlq >= expected_dlq;
}

static int committed_to_end(const struct run *r)
{
    char report[1024];
    int64_t low = 0;

    return ob_watch_committed_lag(ob_mock_bootstraps(r->mock), GROUP, "orders", &low, report,
                                  sizeof(report)) == 0;
}

static int await_committed(struct run *r, double seconds)
{
    double deadline = now_s() + seconds;

    while (!committed_to_end(r)) {
        if (now_s() > deadline)
            return 0;
        drain(r, 200);
    }
    return 1;
}

static void check_outcome(struct run *r, int allow_repeated_events)
{
    struct ob_sim_stats st;
    char report[2048];
    int64_t low = 0;
    unsigned long missing = 0;

    ob_sim_get_stats(r->sim, &st);
    CHECK(r->accepted_distinct == r->orders, "%lu of %lu orders have an ACCEPTED event",
          r->accepted_distinct, r->orders);
    if (!allow_repeated_events)
        CHECK(r->accepted_events == r->orders, "%lu ACCEPTED events for %lu orders",
              r->accepted_events, r->orders);
    CHECK(st.created == r->orders, "warehouse created %lu orders, expected %lu", st.created,
          r->orders);
    for (unsigned long i = 0; i < r->orders; i++) {
        char id[64];
        snprintf(id, sizeof(id), "DEMO-%d-%08lu", SEED, i);
        if (ob_sim_created(r->sim, id) != 1)
            missing++;
    }
    CHECK(missing == 0, "%lu orders not created exactly once at the warehouse", missing);
    CHECK(st.key_mismatches == 0, "%lu repeats came with another Idempotency-Key",
          st.key_mismatches);
    CHECK(st.unauthorized == 0 && st.bad_requests == 0, "unauthorized %lu, bad requests %lu",
          st.unauthorized, st.bad_requests);
    CHECK(ob_watch_committed_lag(ob_mock_bootstraps(r->mock), GROUP, "orders", &low, report,
                                 sizeof(report)) == 0,
          "committed offsets behind the end:\n%s", report);
    CHECK(low == 0, "the embedded Kafka dropped records (low watermarks sum %" PRId64 ")", low);
    printf("  warehouse: %lu requests, %lu created, %lu duplicates answered, %lu 503, %lu 429, "
           "%lu lost answers\n",
           st.requests, st.created, st.duplicates, st.injected_5xx, st.injected_429,
           st.resets_after_create);
}

static void setup(struct run *r, const struct ob_sim_options *sim_opt, long timeout_ms)
{
    static const char *const topics[] = {"fulfillment.status", "orders.dlq"};
    char err[512];

    if (ob_mock_start(1, &r->mock, err, sizeof(err)) != 0 ||
        ob_mock_create_topic(r->mock, "orders", 8) != 0 ||
        ob_mock_create_topic(r->mock, "fulfillment.status", 4) != 0 ||
        ob_mock_create_topic(r->mock, "orders.dlq", 4) != 0)
        die("mock cluster: %s", err);
    r->sim = ob_sim_start(sim_opt, err, sizeof(err));
    if (!r->sim)
        die("simulator: %s", err);
    r->accepted = calloc(r->orders, sizeof(*r->accepted));
    r->dlq_reasons = json_object();
    r->producer = ob_watch_producer(ob_mock_bootstraps(r->mock), err, sizeof(err));
    if (!r->producer || !r->accepted)
        die("producer: %s", err);
    if (ob_watch_create(ob_mock_bootstraps(r->mock), topics, 2, &r->watch, err, sizeof(err)) != 0)
        die("watch: %s", err);
    write_config(r, timeout_ms);
    start_bridge(r);
}

static void teardown(struct run *r)
{
    if (r->bridge) {
        int status = stop_bridge(r, SIGTERM);
        CHECK(exited_ok(status), "orderbridge did not exit 0 on SIGTERM (status %d)", status);
    }
    rd_kafka_flush(r->producer, 5000);
    rd_kafka_destroy(r->producer);
    ob_watch_destroy(r->watch);
    ob_sim_stop(r->sim);
    ob_mock_stop(r->mock);
    unlink(r->config_path);
    json_decref(r->dlq_reasons);
    free(r->accepted);
}

static void scenario_orders(struct run *r)
{
    for (unsigned long i = 0; i < r->orders; i++)
        produce_order(r, i);
    rd_kafka_flush(r->producer, 10000);
    CHECK(await(r, all_accepted, 90, "every order ACCEPTED"), "orders missing");
    CHECK(await_committed(r, 30), "offsets not committed to the end");
    /* Stop first so that any late duplicate event would be read below. */
    CHECK(exited_ok(stop_bridge(r, SIGTERM)), "orderbridge did not exit 0 on SIGTERM");
    drain(r, 500);
    check_outcome(r, 0);
}

/* Malformed messages, each between valid orders; the 4 MB one goes last
 * so that the mock's 5 MB-per-partition limit cannot hide an earlier
 * dead letter before it was read. */
static void scenario_malformed(struct run *r)
{
    static const struct {
        const char *key, *value, *reason;
    } bad[] = {
        {"bad-json", "{\"schema\": \"order.v1\", \"order_id\": ", "invalid_json"},
        {"bad-missing-id", NULL, "invalid_order"},
        {"bad-float-money", NULL, "invalid_order"},
        {"bad-utf8", "{\"schema\": \"order.v1\", \"remark\": \"\xd5\xc5\xc8\xfd\"}", "not_utf8"},
        {"bad-empty", "", "empty"},
    };
    char *example;
    size_t n_bad = sizeof(bad) / sizeof(bad[0]);
    unsigned long per = r->orders / (n_bad + 1), next = 0;

    expected_dlq = n_bad;
    for (size_t b = 0; b < n_bad; b++) {
        for (unsigned long k = 0; k < per; k++)
            produce_order(r, next++);
        if (bad[b].value) {
            produce(r, bad[b].key, bad[b].value, strlen(bad[b].value));
        } else {
            /* A valid sample order, broken in one field. */
            size_t len = 0;
            char *doc = ob_sample_order(SEED + 1, b, NULL, &len);
            json_t *j = json_loads(doc, 0, NULL);
            if (strcmp(bad[b].key, "bad-missing-id") == 0)
                json_object_del(j, "order_id");
            else
                json_object_set_new(json_array_get(json_object_get(j, "items"), 0), "unit_price",
                                    json_real(599.0));
            example = json_dumps(j, JSON_COMPACT);
            produce(r, bad[b].key, example, strlen(example));
            free(example);
            json_decref(j);
            free(doc);
        }
    }
    while (next < r->orders)
        produce_order(r, next++);
    rd_kafka_flush(r->producer, 10000);
    CHECK(await(r, all_accepted, 90, "valid orders and dead letters"), "outcomes missing");

    /* Far larger than pipeline.max_order_bytes (1 MiB by default). Not the
     * 10 MB an operator might see: the mock cluster keeps at most 5 MB per
     * partition and evicts a larger record as it appends it, so no client
     * could read one back. ob_order_parse's own test covers 10 MB. */
    size_t big_len = 4u * 1024 * 1024;
    char *big = malloc(big_len);
    memset(big, 'x', big_len);
    memcpy(big, "{\"remark\": \"", 12);
    produce(r, "bad-4mb", big, big_len);
    free(big);
    rd_kafka_flush(r->producer, 30000);
    expected_dlq = n_bad + 1;
    CHECK(await(r, all_accepted, 60, "the 4 MB dead letter"), "4 MB message not dead-lettered");
    CHECK(await_committed(r, 30), "offsets not committed to the end");
    CHECK(exited_ok(stop_bridge(r, SIGTERM)), "orderbridge did not exit 0 on SIGTERM");
    drain(r, 500);

    for (size_t b = 0; b < n_bad; b++) {
        const char *got = json_string_value(json_object_get(r->dlq_reasons, bad[b].key));
        CHECK(got && strcmp(got, bad[b].reason) == 0, "%s: dead-letter reason '%s', expected '%s'",
              bad[b].key, got ? got : "(none)", bad[b].reason);
    }
    const char *got = json_string_value(json_object_get(r->dlq_reasons, "bad-4mb"));
    CHECK(got && strcmp(got, "too_large") == 0, "bad-4mb: dead-letter reason '%s'",
          got ? got : "(none)");
    CHECK(r->dlq == n_bad + 1, "%lu dead letters, expected %zu", r->dlq, n_bad + 1);
    /* Float money keeps a readable order_id: the mid-platform is told. */
    CHECK(r->failed_events >= 1, "no DELIVERY_FAILED event for the float-money order");
    check_outcome(r, 0);
}

/* SIGKILL while orders are in flight, then a fresh process: redelivered
 * orders are pushed again with the same idempotency key, the warehouse
 * answers "duplicate", and nothing is created twice. */
static int half_accepted(const struct run *r)
{
    return r->accepted_distinct >= r->orders / 2;
}

static void scenario_crash(struct run *r)
{
    for (unsigned long i = 0; i < r->orders; i++)
        produce_order(r, i);
    rd_kafka_flush(r->producer, 10000);
    CHECK(await(r, half_accepted, 90, "half the orders"), "no progress before the crash");
    stop_bridge(r, SIGKILL);
    start_bridge(r);
    CHECK(await(r, all_accepted, 90, "every order ACCEPTED after restart"), "orders missing");
    CHECK(await_committed(r, 30), "offsets not committed to the end");
    CHECK(exited_ok(stop_bridge(r, SIGTERM)), "orderbridge did not exit 0 on SIGTERM");
    drain(r, 500);
    check_outcome(r, 1);
}

/* Revision 1 and revision 2 of each order, consecutive in one partition.
 * The simulator drops a third of the connections before doing anything,
 * so a first event is often retried: were the second allowed to overtake
 * it, the warehouse would see revision 2 first. It must not. */
static void scenario_ordered(struct run *r)
{
    unsigned long out_of_order = 0;

    for (unsigned long i = 0; i < r->orders; i++) {
        size_t len = 0;
        char key[64];
        char *doc = ob_sample_order(SEED, i, NULL, &len);
        json_t *j = json_loads(doc, 0, NULL);
        snprintf(key, sizeof(key), "DEMO-%d-%08lu", SEED, i);
        produce(r, key, doc, len);
        json_object_set_new(j, "revision", json_integer(2));
        char *rev2 = json_dumps(j, JSON_COMPACT);
        produce(r, key, rev2, strlen(rev2));
        free(rev2);
        json_decref(j);
        free(doc);
    }
    rd_kafka_flush(r->producer, 10000);
    CHECK(await(r, all_accepted, 90, "every order ACCEPTED"), "orders missing");
    CHECK(await_committed(r, 30), "offsets not committed to the end");
    CHECK(exited_ok(stop_bridge(r, SIGTERM)), "orderbridge did not exit 0 on SIGTERM");
    drain(r, 500);
    for (unsigned long i = 0; i < r->orders; i++) {
        char id[64], first[128] = "", rev1[65];
        snprintf(id, sizeof(id), "DEMO-%d-%08lu", SEED, i);
        ob_idempotency_key("WH-1", id, "order.created", 1, rev1);
        ob_sim_remember(r->sim, id, "", first, sizeof(first));
        if (strcmp(first, rev1) != 0)
            out_of_order++;
    }
    CHECK(out_of_order == 0, "%lu orders reached the warehouse revision 2 first", out_of_order);
    CHECK(r->accepted_events == 2 * r->orders, "%lu ACCEPTED events for %lu events",
          r->accepted_events, 2 * r->orders);
    struct ob_sim_stats st;
    ob_sim_get_stats(r->sim, &st);
    CHECK(st.created == r->orders, "warehouse created %lu orders, expected %lu", st.created,
          r->orders);
    CHECK(st.injected_resets > 0, "no connection was dropped: the scenario tested nothing");
    printf("  warehouse: %lu requests, %lu created, %lu duplicates, %lu dropped connections\n",
           st.requests, st.created, st.duplicates, st.injected_resets);
}

int main(int argc, char **argv)
{
    struct run r = {.orders = 2000};
    struct ob_sim_options sim = {.token = TOKEN, .threads = 2, .seed = SEED};
    long timeout_ms = 2000;

    if (argc != 2) {
        fprintf(stderr, "usage: it_pipeline clean|faults|malformed|crash|ordered\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    r.scenario = argv[1];
    if (strcmp(r.scenario, "faults") == 0) {
        sim.fail_5xx_rate = 0.05;
        sim.fail_429_rate = 0.01;
        sim.reset_rate = 0.02;
        sim.reset_after_create_rate = 0.03;
        sim.slow_rate = 0.02;
        sim.slow_ms = 700; /* longer than the bridge's timeout: a retry races the answer */
        sim.retry_after_s = 1;
        timeout_ms = 300;
    } else if (strcmp(r.scenario, "crash") == 0) {
        r.orders = 4000;
        sim.slow_rate = 0.05;
        sim.slow_ms = 100;
    } else if (strcmp(r.scenario, "ordered") == 0) {
        r.orders = 500;
        sim.reset_rate = 0.33;
    } else if (strcmp(r.scenario, "clean") != 0 && strcmp(r.scenario, "malformed") != 0) {
        fprintf(stderr, "unknown scenario %s\n", r.scenario);
        return 2;
    }
    setup(&r, &sim, timeout_ms);
    double start = now_s();
    if (strcmp(r.scenario, "malformed") == 0)
        scenario_malformed(&r);
    else if (strcmp(r.scenario, "crash") == 0)
        scenario_crash(&r);
    else if (strcmp(r.scenario, "ordered") == 0)
        scenario_ordered(&r);
    else
        scenario_orders(&r);
    printf("  %s: %lu orders, %lu ACCEPTED events, %lu dead letters in %.1f s\n", r.scenario,
           r.orders, r.accepted_events, r.dlq, now_s() - start);
    teardown(&r);
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
