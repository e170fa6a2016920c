/*
 * harness.c — the shared harness of it_pipeline and chaos; see harness.h.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <orderbridge/sdk.h> /* ob_time_parse_rfc3339 */

#include "idempotency.h"
#include "sample.h"

#ifndef OB_BINARY
#define OB_BINARY "orderbridge"
#endif

#define TOKEN_ENV "IT_WH_TOKEN"
#define WEBHOOK_ENV "IT_WH_WEBHOOK_SECRET"
#define MAX_REPORTED 10 /* problems of one kind printed in full; the rest are counted */

extern char **environ;

int h_checks, h_failures;

/* The run whose bridges die with this process (SIGTERM/SIGINT, e.g. a test timeout). */
static struct h_run *volatile current;

static void on_signal(int sig)
{
    struct h_run *r = current;

    for (int i = 0; r && i < H_MAX_BRIDGES; i++)
        if (r->br[i].pid > 0)
            kill(r->br[i].pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static const char *const watched[] = {"fulfillment.status", "orders.dlq", H_TOPIC_RETRY};

double h_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void h_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("harness: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

uint64_t h_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

unsigned long h_rand_range(uint64_t *state, unsigned long lo, unsigned long hi)
{
    return hi <= lo ? lo : lo + (unsigned long)(h_rand(state) % (hi - lo + 1));
}

/* ---- ids ------------------------------------------------------------------ */

void h_order_id(const struct h_run *r, unsigned long i, char *buf, size_t size)
{
    snprintf(buf, size, "DEMO-%lu-%08lu", r->seed, i);
}

void h_bad_id(unsigned long j, char *buf, size_t size)
{
    snprintf(buf, size, "BAD-%08lu", j); /* ob_sample_malformed's own order_id */
}

int h_bad_unroutable(unsigned long j)
{
    return j % 7 == 6;
}

/* Index of "<prefix><8 digits>" below n, or -1. */
static long parse_id(const char *id, const char *prefix, unsigned long n)
{
    size_t plen = strlen(prefix);
    char *end;

    if (!id || strncmp(id, prefix, plen) != 0 || strlen(id + plen) != 8)
        return -1;
    unsigned long i = strtoul(id + plen, &end, 10);
    return *end == '\0' && i < n ? (long)i : -1;
}

static long valid_index(const struct h_run *r, const char *id)
{
    char prefix[32];

    snprintf(prefix, sizeof(prefix), "DEMO-%lu-", r->seed);
    return parse_id(id, prefix, r->n_valid);
}

static long bad_index(const struct h_run *r, const char *id)
{
    return parse_id(id, "BAD-", r->n_bad);
}

/* ---- config and processes ---------------------------------------------------- */

/* With callbacks_topic: a warehouse of the rest adapter and simulator profile calls back. */
static int calls_back(const struct h_run *r, const struct h_warehouse *wh)
{
    return r->callbacks_topic && (!wh->adapter || strcmp(wh->adapter, "rest") == 0) &&
           (!wh->sim.profile || strcmp(wh->sim.profile, "rest") == 0);
}

/* Every simulator that calls back sends each attempt to one of the bridges with a port
 * (running or not: a dead one refuses, and the simulator tries again), as through one
 * load-balanced address. A restarted instance keeps its port (its config is written once). */
static void set_callback_urls(struct h_run *r)
{
    for (size_t w = 0; w < r->n_wh; w++) {
        char urls[H_MAX_BRIDGES * 96] = "";
        if (!calls_back(r, &r->wh[w]))
            continue;
        for (int i = 0; i < H_MAX_BRIDGES; i++)
            if (r->br[i].port)
                snprintf(urls + strlen(urls), sizeof(urls) - strlen(urls),
                         "%shttp://127.0.0.1:%u/callbacks/%s", urls[0] ? " " : "",
                         r->br[i].port, r->wh[w].code);
        if (urls[0] && ob_sim_set_callback_url(r->wh[w].s, urls) != 0)
            h_die("%s: cannot set the callback URLs %s", r->wh[w].code, urls);
    }
}

static void write_config(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];
    json_t *whs = json_object(), *routing = json_object(), *consumer, *cfg;

    for (size_t w = 0; w < r->n_wh; w++) {
        struct h_warehouse *wh = &r->wh[w];
        char url[64];
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ob_sim_port(wh->s));
        json_t *block = json_pack(
            "{s:s, s:s, s:{s:s}, s:I, s:I, s:I, s:I, s:I, s:I}", "adapter", wh->adapter ? wh->adapter : "rest", "endpoint", url,
            "credentials", "token", "env:" TOKEN_ENV, "timeout_ms", (json_int_t)wh->timeout_ms,
            "connect_timeout_ms", (json_int_t)wh->connect_timeout_ms, "max_attempts",
            (json_int_t)wh->max_attempts, "backoff_ms", (json_int_t)wh->backoff_ms,
            "max_backoff_ms", (json_int_t)wh->max_backoff_ms, "max_connections",
            (json_int_t)wh->max_connections);
        if (calls_back(r, wh)) {
            char path[64];
            snprintf(path, sizeof(path), "/callbacks/%s", wh->code);
            json_object_set_new(json_object_get(block, "credentials"), "webhook_secret",
                                json_string("env:" WEBHOOK_ENV));
            json_object_set_new(block, "callback", json_pack("{s:s, s:[s]}", "path", path,
                                                             "allow_from", "127.0.0.0/8"));
        }
        if (r->new_keys && wh->issue4) {
            json_error_t err;
            json_t *extra = json_loads(wh->issue4, 0, &err);
            if (!json_is_object(extra))
                h_die("%s: issue4 settings are not a JSON object: %s", wh->code, err.text);
            json_object_update(block, extra);
            json_decref(extra);
        }
        json_object_set_new(whs, wh->code, block);
    }
    if (!r->name_warehouse)
        json_object_set_new(routing, "default", json_string(r->wh[0].code));
    consumer = json_pack("{s:s, s:s, s:s, s:s}", "fetch.wait.max.ms", "10", "session.timeout.ms",
                         "6000", "heartbeat.interval.ms", "1000", "max.poll.interval.ms", "10000");
    if (r->assignment)
        json_object_set_new(consumer, "partition.assignment.strategy", json_string(r->assignment));
    if (getenv("OB_TEST_KAFKA_DEBUG")) /* librdkafka's debug contexts, into the bridge's log */
        json_object_set_new(consumer, "debug", json_string(getenv("OB_TEST_KAFKA_DEBUG")));
    const char *level = getenv("OB_TEST_KAFKA_DEBUG") ? "debug" : r->log_level;
    cfg = json_pack("{s:{s:s, s:s, s:o}, s:{s:I, s:I, s:I}, s:{s:s}, s:o, s:o}", "kafka",
                    "bootstrap_servers", ob_mock_bootstraps(r->mock), "group_id", r->group,
                    "consumer", consumer, "pipeline", "max_in_flight",
                    (json_int_t)r->max_in_flight, "commit_interval_ms",
                    (json_int_t)r->commit_interval_ms, "shutdown_timeout_ms",
                    (json_int_t)r->shutdown_timeout_ms, "log", "level", level,
                    "warehouses", whs, "routing", routing);
    if (!cfg)
        h_die("cannot build the config");
    if (r->express_every || r->state_topic) {
        json_t *topics = json_object();
        if (r->express_every)
            json_object_set_new(topics, "express", json_string(H_TOPIC_EXPRESS));
        if (r->state_topic)
            json_object_set_new(topics, "state", json_string(H_TOPIC_STATE));
        if (r->callbacks_topic)
            json_object_set_new(topics, "callbacks", json_string(H_TOPIC_CALLBACKS));
        json_object_set_new(json_object_get(cfg, "kafka"), "topics", topics);
    }
    if (r->static_members) {
        char name[32];
        snprintf(name, sizeof(name), "it-bridge-%d", i);
        json_object_set_new(json_object_get(cfg, "kafka"), "instance_name", json_string(name));
    }
    if (r->partitioner)
        json_object_set_new(json_object_get(cfg, "kafka"), "producer",
                            json_pack("{s:s}", "partitioner", r->partitioner));
    if (b->port) {
        char listen[32];
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", b->port);
        json_object_set_new(cfg, "http", json_pack("{s:s}", "listen", listen));
        /* The simulators call back from 127.0.0.1 with up to 64 connections each: as
         * behind a proxy, no cap per address. */
        if (r->callbacks_topic)
            json_object_set_new(json_object_get(cfg, "http"), "max_connections_per_ip",
                                json_integer(0));
    }
    if (r->new_keys)
        json_object_set_new(cfg, "ledger",
                            json_pack("{s:s, s:i, s:i}", "path", b->ledger, "ttl_hours", 168,
                                      "max_mb", 256));
    if (json_dump_file(cfg, b->config, JSON_INDENT(2)) != 0)
        h_die("cannot write %s", b->config);
    json_decref(cfg);
}

/* Instance i's files and port, once: a restart keeps them. */
static void prepare_bridge(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];

    if (b->config[0])
        return;
    snprintf(b->config, sizeof(b->config), "%s/bridge-%d.json", r->dir, i);
    snprintf(b->ledger, sizeof(b->ledger), "%s/ledger-%d", r->dir, i);
    snprintf(b->log, sizeof(b->log), "%s/bridge-%d.log", r->dir, i);
    b->port = r->http ? h_free_port() : 0;
    write_config(r, i);
    if (r->callbacks_topic && r->wh[0].s)
        set_callback_urls(r); /* one more instance behind the address */
}

void h_bridge_start(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];
    char *argv[] = {(char *)r->binary, "run", "-c", b->config, NULL};
    posix_spawn_file_actions_t fa;
    FILE *f;

    if (b->pid)
        h_die("instance %d is already running", i);
    prepare_bridge(r, i);
    if ((f = fopen(b->log, "a"))) {
        fprintf(f, "=== harness: start %u of instance %d at %.3f s\n", b->starts + 1, i,
                h_now() - r->started_at);
        fclose(f);
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, b->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 2, 1);
    if (posix_spawn(&b->pid, r->binary, &fa, NULL, argv, environ) != 0)
        h_die("cannot start %s", r->binary);
    posix_spawn_file_actions_destroy(&fa);
    b->starts++;
    b->started_at = h_now();
}

void h_bridge_kill(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];
    int status;

    if (!b->pid)
        return;
    if (r->n_kills < H_MAX_KILLS) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->kill_ms[r->n_kills++] = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    kill(b->pid, SIGKILL);
    waitpid(b->pid, &status, 0);
    b->pid = 0;
    b->stopping = 0;
    b->kills++;
}

static void describe_status(int status, char *buf, size_t size)
{
    if (WIFEXITED(status))
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, size, "status %d", status);
}

double h_bridge_stop(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];
    double start = h_now(), deadline = start + (double)r->shutdown_timeout_ms / 1000.0 + 20.0;
    int status = 0;
    char what[64];

    if (!b->pid && !b->exited)
        return 0;
    if (!b->stopping)
        h_bridge_term(r, i);
    while (!h_bridge_exited(r, i, &status)) {
        if (h_now() > deadline) {
            CHECK(0, "instance %d did not stop within shutdown_timeout_ms + 20 s of SIGTERM", i);
            h_bridge_kill(r, i);
            return h_now() - start;
        }
        h_drain(r, 50);
    }
    describe_status(status, what, sizeof(what));
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
          "instance %d did not exit 0 on SIGTERM: %s (log %s)", i, what, b->log);
    return h_now() - start;
}

void h_bridge_term(struct h_run *r, int i)
{
    struct h_bridge *b = &r->br[i];

    if (!b->pid || b->stopping)
        return;
    b->stopping = 1;
    kill(b->pid, SIGTERM);
}

int h_bridge_exited(struct h_run *r, int i, int *status)
{
    struct h_bridge *b = &r->br[i];

    if (b->pid && waitpid(b->pid, &b->exit_status, WNOHANG) == b->pid) {
        b->pid = 0;
        b->stops++;
        b->exited = 1;
    }
    if (!b->exited)
        return 0;
    *status = b->exit_status;
    b->exited = b->stopping = 0;
    return 1;
}

void h_stop_all(struct h_run *r)
{
    /* Signal all first: instances of one group stop together, as in a deploy. */
    for (int i = 0; i < H_MAX_BRIDGES; i++)
        h_bridge_term(r, i);
    for (int i = 0; i < H_MAX_BRIDGES; i++)
        h_bridge_stop(r, i);
}

/* A bridge that exited without being told to: fails the run. One told to
 * stop (h_bridge_term) is left for h_bridge_exited(). */
static int bridges_alive(struct h_run *r)
{
    int alive = 1;

    for (int i = 0; i < H_MAX_BRIDGES; i++) {
        struct h_bridge *b = &r->br[i];
        int status;
        char what[64];
        if (!b->pid || b->stopping || waitpid(b->pid, &status, WNOHANG) != b->pid)
            continue;
        b->pid = 0;
        describe_status(status, what, sizeof(what));
        CHECK(0, "instance %d stopped on its own after %.1f s: %s (log %s)", i,
              h_now() - b->started_at, what, b->log);
        alive = 0;
    }
    return alive;
}

unsigned long h_log_count(const struct h_run *r, int i, const char *needle)
{
    FILE *f = fopen(r->br[i].log, "r");
    char line[4096];
    unsigned long n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

int h_log_owned(const struct h_run *r, int i)
{
    FILE *f = fopen(r->br[i].log, "r");
    char line[4096];
    int owned = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        const char *a = strstr(line, " assigned "), *v = strstr(line, " revoked ");
        if (strstr(line, "=== harness: start"))
            owned = -1;
        else if (a)
            owned = (owned < 0 ? 0 : owned) + atoi(a + 10);
        else if (v)
            owned = (owned < 0 ? 0 : owned) - atoi(v + 9);
    }
    fclose(f);
    return owned;
}

void h_dump_logs(const struct h_run *r, int lines)
{
    for (int i = 0; i < H_MAX_BRIDGES; i++) {
        const struct h_bridge *b = &r->br[i];
        char cmd[512];
        if (!b->starts)
            continue;
        fprintf(stderr, "---- last %d lines of %s ----\n", lines, b->log);
        fflush(stderr);
        snprintf(cmd, sizeof(cmd), "tail -n %d '%s' >&2", lines, b->log);
        if (system(cmd) != 0)
            fprintf(stderr, "(cannot show it)\n");
    }
}

/* ---- producing --------------------------------------------------------------- */

static void produce_to(struct h_run *r, const char *topic, const char *key, const void *value,
                       size_t len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(r->producer, 100);
            continue;
        }
        if (err)
            h_die("produce: %s", rd_kafka_err2str(err));
        rd_kafka_poll(r->producer, 0);
        return;
    }
}

void h_produce_raw(struct h_run *r, const char *key, const void *value, size_t len)
{
    produce_to(r, "orders", key, value, len);
}

void h_flush(struct h_run *r)
{
    if (rd_kafka_flush(r->producer, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        h_die("the orders were not all acknowledged by Kafka within 60 s");
}

static int route_of(const struct h_run *r, unsigned long i)
{
    int w = r->route ? r->route(r, i) : (int)(i % r->n_wh);

    if (w < 0 || (size_t)w >= r->n_wh)
        h_die("route of order %lu is warehouse %d of %zu", i, w, r->n_wh);
    return w;
}

/* The plan spreads the malformed messages evenly among the valid ones. */
static int next_is_bad(const struct h_run *r)
{
    unsigned long every = r->n_bad ? (r->n_valid + r->n_bad) / r->n_bad : 0;

    return r->produced_bad < r->n_bad &&
           (r->next_msg % every == every - 1 || r->produced_valid == r->n_valid);
}

/* A well-formed order naming a warehouse nobody configured, with the order id `id`. */
static char *unroutable_order(const struct h_run *r, unsigned long j, const char *id, size_t *len)
{
    char *doc = ob_sample_order(r->seed + 1, j, H_UNKNOWN_WH, NULL), *out;
    json_t *o = doc ? json_loads(doc, 0, NULL) : NULL;

    if (!o || json_object_set_new(o, "order_id", json_string(id)) != 0)
        h_die("cannot build an unroutable order");
    out = json_dumps(o, JSON_COMPACT);
    *len = out ? strlen(out) : 0;
    json_decref(o);
    free(doc);
    return out;
}

unsigned long h_produce(struct h_run *r, unsigned long count)
{
    unsigned long total = r->n_valid + r->n_bad, n = 0;
    char key[64];

    while (n < count && r->next_msg < total) {
        size_t len = 0;
        char *value;
        int twice = 0;
        const char *topic = "orders";
        if (next_is_bad(r)) {
            unsigned long j = r->produced_bad++;
            h_bad_id(j, key, sizeof(key));
            value = h_bad_unroutable(j) ? unroutable_order(r, j, key, &len)
                                        : ob_sample_malformed(j, &len, NULL);
        } else {
            unsigned long i = r->produced_valid++;
            const struct h_warehouse *wh = &r->wh[r->valid[i].wh];
            value = ob_sample_order(r->seed, i, r->name_warehouse ? wh->code : NULL, &len);
            h_order_id(r, i, key, sizeof(key));
            twice = r->dup_every && i % r->dup_every == r->dup_every - 1;
            if (r->express_every && i % r->express_every == 0)
                topic = H_TOPIC_EXPRESS;
        }
        if (!value)
            h_die("out of memory");
        produce_to(r, topic, key, value, len);
        if (twice) { /* as an at-least-once producer upstream sends it now and then */
            produce_to(r, topic, key, value, len);
            r->dup_messages++;
        }
        free(value);
        r->next_msg++;
        n++;
    }
    return n;
}

void h_produce_all(struct h_run *r)
{
    h_produce(r, r->n_valid + r->n_bad);
    h_flush(r);
}

/* Keep feed_window valid orders ahead of the accepted ones, up to feed_limit, at most
 * feed_rate a second. */
static void feed(struct h_run *r)
{
    unsigned long limit = r->feed_limit && r->feed_limit < r->n_valid ? r->feed_limit : r->n_valid;

    if (!r->feed_window)
        return;
    if (r->feed_rate > 0) {
        double now = h_now();
        if (r->rate_since == 0) {
            r->rate_since = now;
            r->rate_base = r->produced_valid;
        }
        unsigned long due = r->rate_base + (unsigned long)((now - r->rate_since) * r->feed_rate);
        if (due < limit)
            limit = due;
    } else {
        r->rate_since = 0;
    }
    /* a malformed message due next goes out even at the limit: it is not an order */
    while (r->produced_valid - r->accepted < r->feed_window &&
           (r->produced_valid < limit || next_is_bad(r)))
        if (!h_produce(r, 1))
            break;
    rd_kafka_poll(r->producer, 0);
}

/* ---- reading back ------------------------------------------------------------ */

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

static enum h_status status_of(const char *s)
{
    if (!s)
        return H_NONE;
    if (strcmp(s, "ACCEPTED") == 0)
        return H_ACCEPTED;
    if (strcmp(s, "REJECTED") == 0)
        return H_REJECTED;
    if (strcmp(s, "DELIVERY_FAILED") == 0)
        return H_DELIVERY_FAILED;
    return H_OTHER;
}

static const char *status_name(int s)
{
    static const char *const names[] = {"none", "ACCEPTED", "REJECTED", "DELIVERY_FAILED", "other"};
    return s >= 0 && s <= H_OTHER ? names[s] : "?";
}

static void unexpected(struct h_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void unexpected(struct h_run *r, const char *fmt, ...)
{
    va_list ap;

    if (r->unexpected++ >= MAX_REPORTED)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "%s: unexpected: ", r->name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void bad_progress(struct h_run *r, struct h_msg *x, int new_event, int new_dlq)
{
    /* accounted once it has both its dead letter and its event */
    if ((new_event && x->events == 1 && x->dlq > 0) || (new_dlq && x->dlq == 1 && x->events > 0))
        r->bad_done++;
}

static void add_cb_event(struct h_msg *x, json_t *doc, int64_t kafka_ms)
{
    const char *status = json_string_value(json_object_get(doc, "status"));
    const char *code = json_string_value(json_object_get(json_object_get(doc, "raw"), "code"));
    const char *occurred = json_string_value(json_object_get(doc, "occurred_at"));
    struct h_cb_event *e;

    if (x->n_cb == x->cap_cb) {
        unsigned cap = x->cap_cb ? 2 * x->cap_cb : 8;
        struct h_cb_event *more = realloc(x->cb, cap * sizeof(*more));
        if (!more)
            h_die("out of memory");
        x->cb = more;
        x->cap_cb = cap;
    }
    e = &x->cb[x->n_cb++];
    snprintf(e->status, sizeof(e->status), "%s", status ? status : "");
    snprintf(e->code, sizeof(e->code), "%s", code ? code : "");
    if (!occurred || ob_time_parse_rfc3339(occurred, &e->occurred_ms) != 0)
        e->occurred_ms = -1;
    e->kafka_ms = kafka_ms;
}

static void on_status(struct h_run *r, const rd_kafka_message_t *msg)
{
    json_t *doc = json_loadb(msg->payload, msg->len, 0, NULL);
    const char *order_id = json_string_value(json_object_get(doc, "order_id"));
    const char *schema = json_string_value(json_object_get(doc, "schema"));
    const char *key = json_string_value(json_object_get(doc, "idempotency_key"));
    const char *wh = json_string_value(json_object_get(doc, "warehouse"));
    json_t *rev = json_object_get(doc, "revision");
    enum h_status st = status_of(json_string_value(json_object_get(doc, "status")));
    const char *source = json_string_value(json_object_get(doc, "source"));
    int64_t ts = rd_kafka_message_timestamp(msg, NULL); /* set by the bridge's producer */
    long vi, bi;
    struct h_msg *x;

    r->events++;
    if (ts > 0 && (r->first_event_ms == 0 || ts < r->first_event_ms))
        r->first_event_ms = ts;
    if (ts >= r->mark_ms)
        r->since_events++;
    CHECK(doc && schema && strcmp(schema, "fulfillment.v1") == 0 &&
              json_is_string(json_object_get(doc, "occurred_at")),
          "status event is not fulfillment.v1: %.*s", (int)msg->len, (const char *)msg->payload);
    CHECK(order_id && msg->key_len == strlen(order_id) &&
              memcmp(msg->key, order_id, msg->key_len) == 0,
          "status event key is not its order_id: %.*s", (int)msg->len, (const char *)msg->payload);
    if (r->callbacks_topic && source && strcmp(source, "callback") == 0) {
        /* A status after the push: collected for h_check_callbacks(). */
        r->cb_events++;
        vi = valid_index(r, order_id);
        if (vi >= 0)
            add_cb_event(&r->valid[vi], doc, ts);
        else if (bad_index(r, order_id) >= 0)
            unexpected(r, "malformed %s got a callback status: %.*s", order_id, (int)msg->len,
                       (const char *)msg->payload);
        else
            r->foreign_events++;
        goto out;
    }
    if (st == H_ACCEPTED)
        r->accepted_events++;
    else if (st == H_DELIVERY_FAILED)
        r->failed_events++;
    else if (st == H_REJECTED)
        r->rejected_events++;
    vi = valid_index(r, order_id);
    bi = bad_index(r, order_id);
    if (vi < 0 && bi < 0) {
        r->foreign_events++;
        goto out;
    }
    /* Later revisions (it_pipeline's ordered scenario) are only counted. */
    if (json_is_integer(rev) && json_integer_value(rev) != 1)
        goto out;
    x = vi >= 0 ? &r->valid[vi] : &r->bad[bi];
    if (x->events == 0) {
        x->status = (unsigned char)st;
        snprintf(x->key, sizeof(x->key), "%s", key ? key : "");
        snprintf(x->warehouse, sizeof(x->warehouse), "%s", wh ? wh : "");
    } else if (x->status != st || strcmp(x->key, key ? key : "") != 0 ||
               strcmp(x->warehouse, wh ? wh : "") != 0) {
        x->conflicts++;
        if (r->conflicts++ < MAX_REPORTED)
            fprintf(stderr,
                    "%s: %s: event %u contradicts the first (%s, key %s, warehouse %s): %.*s\n",
                    r->name, order_id, x->events + 1, status_name(x->status), x->key, x->warehouse,
                    (int)msg->len, (const char *)msg->payload);
    }
    x->events++;
    if (vi >= 0) {
        const char *code = r->wh[x->wh].code;
        char expect[65];
        ob_idempotency_key(code, order_id, "order.created", 1, expect);
        if (st != H_ACCEPTED)
            unexpected(r, "order %s (to %s) ended %s: %.*s", order_id, code, status_name(st),
                       (int)msg->len, (const char *)msg->payload);
        else if (!key || strcmp(key, expect) != 0 || !wh || strcmp(wh, code) != 0)
            unexpected(r, "order %s: ACCEPTED with key %s at %s, expected key %s at %s", order_id,
                       key ? key : "(none)", wh ? wh : "(none)", expect, code);
        if (st == H_ACCEPTED && x->events == 1) {
            r->accepted++;
            if (ts >= r->mark_ms)
                r->since_accepted++;
            if (ts > r->wh_last_ms[x->wh])
                r->wh_last_ms[x->wh] = ts;
            x->accepted_ms = ts;
            if (++r->wh_accepted[x->wh] == r->wh_orders[x->wh])
                r->wh_done_at[x->wh] = h_now();
        }
    } else {
        if (st != H_DELIVERY_FAILED)
            unexpected(r, "malformed %s got a %s event", order_id, status_name(st));
        bad_progress(r, x, 1, 0);
    }
out:
    json_decref(doc);
}

static void on_dead_letter(struct h_run *r, const rd_kafka_message_t *msg)
{
    char key[128], reason[128], topic[64], offset[32];
    long vi, bi;

    r->dlq_records++;
    snprintf(key, sizeof(key), "%.*s", (int)msg->key_len, msg->key ? (const char *)msg->key : "");
    header(msg, "ob.reason", reason, sizeof(reason));
    json_object_set_new(r->dlq_reasons, key, json_string(reason));
    header(msg, "ob.topic", topic, sizeof(topic));
    CHECK(strcmp(topic, "orders") == 0 || strcmp(topic, H_TOPIC_RETRY) == 0 ||
              strcmp(topic, H_TOPIC_EXPRESS) == 0,
          "dead letter of %s names topic '%s'", key, topic);
    CHECK(header(msg, "ob.offset", offset, sizeof(offset))[0] != '\0',
          "dead letter of %s has no ob.offset", key);
    vi = valid_index(r, key);
    bi = bad_index(r, key);
    if (vi >= 0) {
        char error[512];
        r->valid[vi].dlq++;
        unexpected(r, "valid order %s dead-lettered: %s: %s", key, reason,
                   header(msg, "ob.error", error, sizeof(error)));
    } else if (bi >= 0) {
        /* ob_sample_malformed's kinds, in its order, and the class each must get */
        static const char *const want[OB_SAMPLE_MALFORMED_KINDS] = {
            "invalid_json", "invalid_order", "invalid_order", "not_utf8", "empty", "invalid_order"};
        const char *expect = h_bad_unroutable((unsigned long)bi)
                                 ? "unroutable"
                                 : want[bi % OB_SAMPLE_MALFORMED_KINDS];
        if (strcmp(reason, expect) != 0)
            unexpected(r, "malformed %s dead-lettered as '%s', expected '%s'", key, reason, expect);
        r->bad[bi].dlq++;
        bad_progress(r, &r->bad[bi], 0, 1);
    } else {
        r->foreign_dlq++;
    }
}

void h_drain(struct h_run *r, int timeout_ms)
{
    rd_kafka_message_t *msg;
    int n = 0;

    /* A bounded batch, so that callers see every moment they wait for. */
    while (n++ < 64 && (msg = ob_watch_next(r->watch, timeout_ms))) {
        const char *topic = rd_kafka_topic_name(msg->rkt);
        if (strcmp(topic, "orders.dlq") == 0)
            on_dead_letter(r, msg);
        else if (strcmp(topic, H_TOPIC_RETRY) == 0)
            r->retry_records++;
        else
            on_status(r, msg);
        rd_kafka_message_destroy(msg);
        timeout_ms = timeout_ms < 10 ? timeout_ms : 10; /* drain what is there, then return soon */
        if (r->feed_window)
            feed(r);
    }
    rd_kafka_poll(r->producer, 0);
}

void h_mark(struct h_run *r)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    r->mark_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    r->since_events = r->since_accepted = 0;
}

int h_all_done(struct h_run *r)
{
    return r->produced_valid == r->n_valid && r->produced_bad == r->n_bad &&
           r->accepted == r->n_valid && r->bad_done == r->n_bad;
}

static int lag_of(const struct h_run *r, const char *topic, int64_t *low, char *report, size_t size)
{
    return ob_watch_committed_lag(ob_mock_bootstraps(r->mock), r->group, topic, low, report, size);
}

static void report_missing(struct h_run *r)
{
    unsigned long missing = 0;
    char id[64];

    for (unsigned long i = 0; i < r->produced_valid; i++) {
        const struct h_msg *x = &r->valid[i];
        if (x->status == H_ACCEPTED)
            continue;
        if (missing++ < 5) {
            h_order_id(r, i, id, sizeof(id));
            fprintf(stderr, "  e.g. %s to %s: %u events (first %s), %u dead letters, created %d\n",
                    id, r->wh[x->wh].code, x->events, status_name(x->status), x->dlq,
                    ob_sim_created(r->wh[x->wh].s, id));
        }
    }
    for (unsigned long j = 0; j < r->produced_bad; j++) {
        const struct h_msg *x = &r->bad[j];
        if (x->events && x->dlq)
            continue;
        if (missing++ < 10) {
            h_bad_id(j, id, sizeof(id));
            fprintf(stderr, "  e.g. malformed %s: %u events, %u dead letters\n", id, x->events,
                    x->dlq);
        }
    }
    fprintf(stderr, "  produced %lu + %lu of %lu + %lu; accepted %lu, malformed accounted %lu, "
            "%lu unaccounted\n",
            r->produced_valid, r->produced_bad, r->n_valid, r->n_bad, r->accepted, r->bad_done,
            missing);
    /* Whose is the stall: the bridge's (offsets behind) or this reader's (topics unread)? */
    char report[2048];
    int64_t low;
    int lag = lag_of(r, "orders", &low, report, sizeof(report));
    fprintf(stderr, "  the reader has %s the status and DLQ topics; orders committed %s\n%s",
            ob_watch_caught_up(r->watch) == 1 ? "read all of" : "NOT read all of",
            lag == 0 ? "to the end" : lag < 0 ? "(cannot tell)" : "behind:", lag > 0 ? report : "");
    /* A record acknowledged and never read: did the embedded Kafka drop the
     * start of a log (low watermark above 0)? */
    for (size_t t = 0; t < sizeof(watched) / sizeof(watched[0]); t++) {
        int n = strcmp(watched[t], H_TOPIC_RETRY) == 0 ? r->partitions : r->out_partitions;
        for (int p = 0; p < n; p++) {
            int64_t lo = 0, hi = 0;
            if (rd_kafka_query_watermark_offsets(r->producer, watched[t], p, &lo, &hi, 5000) == 0)
                fprintf(stderr, "  %s [%d]: offsets %" PRId64 " to %" PRId64 "\n", watched[t], p,
                        lo, hi);
        }
    }
}

int h_await(struct h_run *r, int (*done)(struct h_run *r), double seconds, const char *what)
{
    double deadline = h_now() + seconds;

    feed(r);
    while (!done(r)) {
        if (!bridges_alive(r)) {
            fprintf(stderr, "%s: a bridge died while waiting for %s\n", r->name, what);
            report_missing(r);
            return 0;
        }
        if (h_now() > deadline) {
            CHECK(0, "%s: timed out after %.0f s waiting for %s", r->name, seconds, what);
            report_missing(r);
            return 0;
        }
        h_drain(r, 100);
        feed(r);
    }
    return 1;
}


int h_committed_to_end(struct h_run *r)
{
    char report[1024];
    int64_t low;

    return lag_of(r, "orders", &low, report, sizeof(report)) == 0 &&
           lag_of(r, H_TOPIC_RETRY, &low, report, sizeof(report)) == 0 &&
           (!r->express_every || lag_of(r, H_TOPIC_EXPRESS, &low, report, sizeof(report)) == 0);
}

int h_await_committed(struct h_run *r, double seconds)
{
    double deadline = h_now() + seconds;
    char report[2048] = "", more[1024] = "";
    int64_t low;

    while (!h_committed_to_end(r)) {
        if (h_now() > deadline || !bridges_alive(r)) {
            lag_of(r, "orders", &low, report, sizeof(report));
            lag_of(r, H_TOPIC_RETRY, &low, more, sizeof(more));
            CHECK(0, "%s: offsets not committed to the end within %.0f s:\n%s%s", r->name, seconds,
                  report, more);
            return 0;
        }
        h_drain(r, 200);
    }
    return 1;
}

int64_t h_committed_sum(struct h_run *r)
{
    int64_t committed, end;

    if (ob_watch_committed_totals(ob_mock_bootstraps(r->mock), r->group, "orders", &committed,
                                  &end) != 0)
        return -1;
    return committed;
}

int h_await_caught_up(struct h_run *r, double seconds)
{
    double deadline = h_now() + seconds;

    for (;;) {
        h_drain(r, 100);
        if (ob_watch_caught_up(r->watch) == 1) /* positions are past what we were handed */
            return 1;
        if (h_now() > deadline) {
            CHECK(0, "%s: the reader did not reach the end of the topics within %.0f s", r->name,
                  seconds);
            return 0;
        }
    }
}

/* ---- verdict ------------------------------------------------------------------ */

unsigned long h_lost(const struct h_run *r)
{
    unsigned long lost = 0;
    char id[64];

    for (unsigned long i = 0; i < r->n_valid; i++) {
        h_order_id(r, i, id, sizeof(id));
        lost += r->valid[i].status != H_ACCEPTED || !ob_sim_created(r->wh[r->valid[i].wh].s, id);
    }
    for (unsigned long j = 0; j < r->n_bad; j++)
        lost += !(r->bad[j].dlq && r->bad[j].events);
    return lost;
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[8192];
    int found = 0;

    if (!f)
        return 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void h_check_outcome(struct h_run *r, unsigned long *repeats)
{
    unsigned long not_once = 0, elsewhere = 0, sum_dup = 0;
    char id[64], report[2048];
    int64_t low = 0;

    CHECK(r->produced_valid == r->n_valid && r->produced_bad == r->n_bad,
          "%s: produced %lu + %lu of %lu + %lu messages", r->name, r->produced_valid,
          r->produced_bad, r->n_valid, r->n_bad);
    for (unsigned long i = 0; i < r->n_valid; i++) {
        int w = r->valid[i].wh;
        h_order_id(r, i, id, sizeof(id));
        if (ob_sim_created(r->wh[w].s, id) != 1 && not_once++ < MAX_REPORTED)
            fprintf(stderr, "%s: %s not created at %s\n", r->name, id, r->wh[w].code);
        for (size_t o = 0; o < r->n_wh; o++)
            if ((int)o != w && ob_sim_created(r->wh[o].s, id) && elsewhere++ < MAX_REPORTED)
                fprintf(stderr, "%s: %s (for %s) created at %s\n", r->name, id, r->wh[w].code,
                        r->wh[o].code);
    }
    CHECK(not_once == 0, "%s: %lu valid orders not created at their warehouse", r->name, not_once);
    CHECK(elsewhere == 0, "%s: %lu orders created at another warehouse", r->name, elsewhere);
    CHECK(r->accepted == r->n_valid, "%s: %lu of %lu valid orders have an ACCEPTED event", r->name,
          r->accepted, r->n_valid);
    CHECK(r->bad_done == r->n_bad,
          "%s: %lu of %lu malformed messages have both a dead letter and a DELIVERY_FAILED event",
          r->name, r->bad_done, r->n_bad);
    if (r->dup_every) {
        unsigned long short_of = 0;
        for (unsigned long i = r->dup_every - 1; i < r->n_valid; i += r->dup_every)
            short_of += r->valid[i].events < 2;
        CHECK(short_of == 0, "%s: %lu orders sent twice have fewer than two status events",
              r->name, short_of);
    }
    CHECK(r->conflicts == 0, "%s: %lu status events contradict an earlier event of their order",
          r->name, r->conflicts);
    CHECK(r->unexpected == 0, "%s: %lu unexpected events or dead letters", r->name, r->unexpected);
    CHECK(lag_of(r, "orders", &low, report, sizeof(report)) == 0,
          "%s: committed offsets behind the end:\n%s", r->name, report);
    CHECK(low == 0, "%s: the embedded Kafka dropped orders (low watermarks sum %" PRId64 ")",
          r->name, low);
    CHECK(lag_of(r, H_TOPIC_RETRY, &low, report, sizeof(report)) == 0,
          "%s: committed offsets of %s behind the end:\n%s", r->name, H_TOPIC_RETRY, report);
    if (r->express_every)
        CHECK(lag_of(r, H_TOPIC_EXPRESS, &low, report, sizeof(report)) == 0,
              "%s: committed offsets of %s behind the end:\n%s", r->name, H_TOPIC_EXPRESS,
              report);
    for (size_t w = 0; w < r->n_wh; w++) {
        struct ob_sim_stats st;
        ob_sim_get_stats(r->wh[w].s, &st);
        sum_dup += st.duplicates;
        CHECK(st.key_mismatches == 0, "%s: %s: %lu repeats came with another Idempotency-Key",
              r->name, r->wh[w].code, st.key_mismatches);
        CHECK(st.unauthorized == 0 && st.bad_requests == 0,
              "%s: %s: unauthorized %lu, bad requests %lu", r->name, r->wh[w].code,
              st.unauthorized, st.bad_requests);
    }
    for (int i = 0; i < H_MAX_BRIDGES; i++) {
        if (!r->br[i].starts)
            continue;
        CHECK(!file_contains(r->br[i].log, H_TOKEN), "%s: the token appears in %s", r->name,
              r->br[i].log);
        CHECK(!file_contains(r->br[i].log, H_WEBHOOK_SECRET + 6),
              "%s: the webhook secret appears in %s", r->name, r->br[i].log);
        CHECK(!file_contains(r->br[i].log, "runtime error:") &&
                  !file_contains(r->br[i].log, "Sanitizer"),
              "%s: a sanitizer report in %s", r->name, r->br[i].log);
    }
    if (repeats)
        *repeats = sum_dup;
}

/* ---- statuses after the push (callbacks_topic) ------------------------------------ */

/* The status a rest warehouse's code means (from the issue's mapping, not the adapter). */
static const char *rest_status(const char *code)
{
    static const char *const map[][2] = {
        {"order.allocated", "ALLOCATED"}, {"order.picked", "PICKED"},
        {"order.packed", "PACKED"},       {"order.shipped", "SHIPPED"},
        {"order.delivered", "DELIVERED"}, {"order.cancelled", "CANCELLED"},
        {"order.exception", "EXCEPTION"}};

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], code) == 0)
            return map[i][1];
    return "UNMAPPED";
}

/* A status that is a step of the order (emitted once), not an EXCEPTION or unmapped
 * event (emitted once per code and time). */
static int is_state_status(const char *status)
{
    return strcmp(status, "EXCEPTION") != 0 && strcmp(status, "UNMAPPED") != 0;
}

/* The first of x's callback events for this report (code and time), or -1. */
static int find_cb(const struct h_msg *x, const char *code, long long occurred_ms)
{
    for (unsigned k = 0; k < x->n_cb; k++)
        if (x->cb[k].occurred_ms == occurred_ms && strcmp(x->cb[k].code, code) == 0)
            return (int)k;
    return -1;
}

struct cb_scan {
    struct h_run *r;
    unsigned long missing;
};

static void scan_missing(const struct ob_sim_report *rep, void *arg)
{
    struct cb_scan *sc = arg;
    long vi;

    if (!rep->answered_ok || strcmp(rep->kind, "tamper") == 0)
        return;
    vi = valid_index(sc->r, rep->order_ref);
    if (vi >= 0 && find_cb(&sc->r->valid[vi], rep->code, rep->occurred_ms) < 0)
        sc->missing++;
}

int h_callbacks_done(struct h_run *r)
{
    struct cb_scan sc = {.r = r};
    double now = h_now();

    if (!r->callbacks_topic)
        return 1;
    if (now < r->cb_next_check) /* a scan of every callback sent: not after every batch */
        return 0;
    r->cb_next_check = now + 0.25;
    for (size_t w = 0; w < r->n_wh; w++)
        if (calls_back(r, &r->wh[w]) && !ob_sim_reports_done(r->wh[w].s))
            return 0;
    for (size_t w = 0; w < r->n_wh; w++)
        if (calls_back(r, &r->wh[w]))
            ob_sim_reports(r->wh[w].s, scan_missing, &sc);
    return sc.missing == 0;
}

/* The distinct statuses (code and time) delivered with success, per order. */
#define CB_EXPECT_MAX 16 /* a ladder has at most OB_SIM_LADDER_MAX steps */
struct cb_expected {
    unsigned char n, overflow;
    struct {
        const char *code; /* lives as long as the simulator */
        long long occurred_ms;
    } e[CB_EXPECT_MAX];
};

struct cb_collect {
    struct h_run *r;
    struct cb_expected *exp;
    unsigned long forged_ok, unplanned;
};

static void collect_delivered(const struct ob_sim_report *rep, void *arg)
{
    struct cb_collect *c = arg;
    struct cb_expected *x;
    long vi;

    if (strcmp(rep->kind, "tamper") == 0) {
        c->forged_ok += rep->answered_ok != 0;
        return;
    }
    if (!rep->answered_ok)
        return;
    vi = valid_index(c->r, rep->order_ref);
    if (vi < 0) {
        c->unplanned++;
        return;
    }
    x = &c->exp[vi];
    for (unsigned k = 0; k < x->n; k++)
        if (x->e[k].occurred_ms == rep->occurred_ms && strcmp(x->e[k].code, rep->code) == 0)
            return; /* a retry, replay or duplicate of a status already counted */
    if (x->n == CB_EXPECT_MAX) {
        x->overflow = 1;
        return;
    }
    x->e[x->n].code = rep->code;
    x->e[x->n].occurred_ms = rep->occurred_ms;
    x->n++;
}

/* 1 when the first copy (at first_ms) was produced within the second before a SIGKILL. */
static int before_a_kill(const struct h_run *r, int64_t first_ms)
{
    for (unsigned k = 0; k < r->n_kills; k++)
        if (first_ms <= r->kill_ms[k] && first_ms >= r->kill_ms[k] - 1000)
            return 1;
    return 0;
}

void h_check_callbacks(struct h_run *r, struct h_cb_figures *out)
{
    struct h_cb_figures f = {0};
    struct cb_collect c = {.r = r};
    unsigned long overflow = 0;
    char id[64];

    if (!r->callbacks_topic) {
        if (out)
            *out = f;
        return;
    }
    c.exp = calloc(r->n_valid ? r->n_valid : 1, sizeof(*c.exp));
    if (!c.exp)
        h_die("out of memory");
    for (size_t w = 0; w < r->n_wh; w++) {
        struct ob_sim_stats st;
        if (!calls_back(r, &r->wh[w]))
            continue;
        ob_sim_get_stats(r->wh[w].s, &st);
        f.sent += st.cb_sent;
        f.ok += st.cb_ok;
        f.refused += st.cb_refused;
        f.no_answer += st.cb_errors;
        CHECK(st.cb_pending == 0, "%s: %s: %lu statuses never delivered with success", r->name,
              r->wh[w].code, st.cb_pending);
        ob_sim_reports(r->wh[w].s, collect_delivered, &c);
    }
    f.forged_ok = c.forged_ok;
    for (unsigned long i = 0; i < r->n_valid; i++) {
        const struct h_msg *x = &r->valid[i];
        const struct cb_expected *e = &c.exp[i];
        h_order_id(r, i, id, sizeof(id));
        overflow += e->overflow;
        f.delivered += e->n;
        f.emitted += x->n_cb;
        /* none lost, each with the status its code means */
        for (unsigned k = 0; k < e->n; k++) {
            int at = find_cb(x, e->e[k].code, e->e[k].occurred_ms);
            if (at < 0) {
                if (f.lost++ < MAX_REPORTED)
                    fprintf(stderr, "%s: %s: %s (occurred at %lld ms) delivered, never emitted "
                            "(%u callback statuses in the topic)\n", r->name, id,
                            e->e[k].code, e->e[k].occurred_ms, x->n_cb);
            } else if (strcmp(x->cb[at].status, rest_status(e->e[k].code)) != 0 &&
                       f.wrong++ < MAX_REPORTED) {
                fprintf(stderr, "%s: %s: %s emitted as %s, expected %s\n", r->name, id,
                        e->e[k].code, x->cb[at].status, rest_status(e->e[k].code));
            }
        }
        /* nothing else, and a status twice only as a copy from just before a kill */
        for (unsigned j = 0; j < x->n_cb; j++) {
            const struct h_cb_event *ev = &x->cb[j];
            int first = -1, same_state = -1;
            for (unsigned k = 0; k < j && first < 0; k++) {
                if (strcmp(x->cb[k].status, ev->status) != 0)
                    continue;
                if (strcmp(x->cb[k].code, ev->code) == 0 &&
                    x->cb[k].occurred_ms == ev->occurred_ms)
                    first = (int)k;
                else if (same_state < 0 && is_state_status(ev->status))
                    same_state = (int)k;
            }
            if (first >= 0) {
                f.repeats++;
                if (!before_a_kill(r, x->cb[first].kafka_ms) &&
                    f.repeats_outside++ < MAX_REPORTED)
                    fprintf(stderr, "%s: %s: %s (%s, occurred at %" PRId64 " ms) in the topic "
                            "again at %" PRId64 " ms; its first copy at %" PRId64 " ms is not "
                            "from the second before a kill\n", r->name, id, ev->status,
                            ev->code, ev->occurred_ms, ev->kafka_ms, x->cb[first].kafka_ms);
                continue;
            }
            if (same_state >= 0 && f.wrong++ < MAX_REPORTED)
                fprintf(stderr, "%s: %s: %s emitted twice, as %s at %" PRId64 " ms and as %s "
                        "at %" PRId64 " ms\n", r->name, id, ev->status, x->cb[same_state].code,
                        x->cb[same_state].occurred_ms, ev->code, ev->occurred_ms);
            int delivered = 0;
            for (unsigned k = 0; k < e->n && !delivered; k++)
                delivered = e->e[k].occurred_ms == ev->occurred_ms &&
                            strcmp(e->e[k].code, ev->code) == 0;
            if (!delivered && !e->overflow && f.extra++ < MAX_REPORTED)
                fprintf(stderr, "%s: %s: %s (%s, occurred at %" PRId64 " ms) emitted, but no "
                        "warehouse delivered it\n", r->name, id, ev->status, ev->code,
                        ev->occurred_ms);
        }
    }
    CHECK(overflow == 0 && c.unplanned == 0,
          "%s: %lu orders with more distinct statuses than a ladder has; %lu callbacks about "
          "orders outside the plan", r->name, overflow, c.unplanned);
    CHECK(f.delivered > 0, "%s: no callback status was delivered: status untested", r->name);
    CHECK(f.lost == 0, "%s: %lu delivered statuses never emitted", r->name, f.lost);
    CHECK(f.extra == 0, "%s: %lu statuses emitted that no warehouse delivered", r->name,
          f.extra);
    CHECK(f.wrong == 0, "%s: %lu statuses emitted wrong (another status, or a state twice "
          "with another code or time)", r->name, f.wrong);
    CHECK(f.repeats_outside == 0, "%s: %lu of %lu repeated statuses are not copies of one "
          "emitted within the second before a kill", r->name, f.repeats_outside, f.repeats);
    CHECK(f.forged_ok == 0, "%s: %lu tampered callbacks answered with success", r->name,
          f.forged_ok);
    free(c.exp);
    if (out)
        *out = f;
}

/* ---- setup and teardown -------------------------------------------------------- */

static void defaults(struct h_run *r)
{
    const char *legacy = getenv("OB_TEST_LEGACY_CONFIG");

    r->binary = getenv("OB_TEST_BINARY") ? getenv("OB_TEST_BINARY") : OB_BINARY;
    r->new_keys = !r->plain_config && !(legacy && strcmp(legacy, "1") == 0);
    if (!r->name)
        r->name = "run";
    if (!r->brokers)
        r->brokers = 1;
    if (!r->replication)
        r->replication = 1;
    if (!r->partitions)
        r->partitions = 8;
    if (!r->out_partitions)
        r->out_partitions = 4;
    if (!r->group)
        r->group = "it-orderbridge";
    if (!r->max_in_flight)
        r->max_in_flight = 512;
    if (!r->commit_interval_ms)
        r->commit_interval_ms = 200;
    if (!r->shutdown_timeout_ms)
        r->shutdown_timeout_ms = 5000;

    if (!r->log_level)
        r->log_level = "info";
    if (!r->n_wh)
        r->n_wh = 1;
    if (r->n_wh > H_MAX_WH || r->n_bridges > H_MAX_BRIDGES)
        h_die("too many warehouses or bridges");
    if (r->callbacks_topic && !r->state_topic)
        h_die("callbacks_topic needs state_topic");
    if (r->callbacks_topic)
        r->http = 1; /* the callbacks' address */
    for (size_t w = 0; w < r->n_wh; w++) {
        struct h_warehouse *wh = &r->wh[w];
        if (!wh->code[0])
            snprintf(wh->code, sizeof(wh->code), "WH-%zu", w + 1);
        if (!wh->sim.token)
            wh->sim.token = H_TOKEN;
        if (!wh->sim.seed)
            wh->sim.seed = r->seed + w;
        if (!wh->timeout_ms)
            wh->timeout_ms = 2000;
        if (!wh->connect_timeout_ms)
            wh->connect_timeout_ms = wh->timeout_ms < 1000 ? wh->timeout_ms : 1000;
        if (!wh->max_attempts)
            wh->max_attempts = 10;
        if (!wh->backoff_ms)
            wh->backoff_ms = 20;
        if (!wh->max_backoff_ms)
            wh->max_backoff_ms = 200;
        if (!wh->max_connections)
            wh->max_connections = 32;
        if (calls_back(r, wh) && !wh->sim.secrets) {
            /* the bearer token stays sim.token; the simulator signs with this */
            static const struct ob_sim_secret webhook[] = {
                {"webhook_secret", H_WEBHOOK_SECRET}, {NULL, NULL}};
            wh->sim.secrets = webhook;
        }
    }
}

void h_setup(struct h_run *r)
{
    char err[512];

    defaults(r);
    snprintf(r->dir, sizeof(r->dir), "/tmp/ob-%s-XXXXXX", r->name);
    if (!mkdtemp(r->dir))
        h_die("cannot create %s: %s", r->dir, strerror(errno));
    setenv(TOKEN_ENV, H_TOKEN, 1);
    setenv(WEBHOOK_ENV, H_WEBHOOK_SECRET, 1);
    if (ob_mock_start(r->brokers, &r->mock, err, sizeof(err)) != 0)
        h_die("mock cluster: %s", err);
    if (ob_mock_create_topic_rf(r->mock, "orders", r->partitions, r->replication) != 0 ||
        ob_mock_create_topic_rf(r->mock, H_TOPIC_RETRY, r->partitions, r->replication) != 0 ||
        ob_mock_create_topic_rf(r->mock, "fulfillment.status", r->out_partitions,
                                r->replication) != 0 ||
        ob_mock_create_topic_rf(r->mock, "orders.dlq", r->out_partitions, r->replication) != 0 ||
        (r->express_every &&
         ob_mock_create_topic_rf(r->mock, H_TOPIC_EXPRESS, r->partitions, r->replication) != 0) ||
        (r->state_topic &&
         ob_mock_create_topic_rf(r->mock, H_TOPIC_STATE,
                                 r->state_partitions ? r->state_partitions : r->partitions,
                                 r->replication) != 0) ||
        (r->callbacks_topic &&
         ob_mock_create_topic_rf(r->mock, H_TOPIC_CALLBACKS, r->partitions, r->replication) != 0))
        h_die("cannot create the topics");
    if (r->coordinator && ob_mock_set_group_coordinator(r->mock, r->group, r->coordinator) != 0)
        h_die("cannot make broker %d the coordinator", r->coordinator);
    for (size_t w = 0; w < r->n_wh; w++) {
        r->wh[w].s = ob_sim_start(&r->wh[w].sim, err, sizeof(err));
        if (!r->wh[w].s)
            h_die("simulator %s: %s", r->wh[w].code, err);
    }
    r->valid = calloc(r->n_valid ? r->n_valid : 1, sizeof(*r->valid));
    r->bad = calloc(r->n_bad ? r->n_bad : 1, sizeof(*r->bad));
    r->dlq_reasons = json_object();
    if (!r->valid || !r->bad || !r->dlq_reasons)
        h_die("out of memory");
    for (unsigned long i = 0; i < r->n_valid; i++) {
        r->valid[i].wh = (unsigned char)route_of(r, i);
        r->wh_orders[r->valid[i].wh]++;
    }
    r->producer = ob_watch_producer(ob_mock_bootstraps(r->mock), err, sizeof(err));
    if (!r->producer)
        h_die("producer: %s", err);
    if (ob_watch_create(ob_mock_bootstraps(r->mock), watched, sizeof(watched) / sizeof(watched[0]),
                        &r->watch, err, sizeof(err)) != 0)
        h_die("watch: %s", err);
    r->started_at = h_now();
    current = r;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    /* Every instance's port before the first order: the simulators report only the
     * orders created while they have a callback URL. */
    for (int i = 0; i < r->n_bridges; i++)
        prepare_bridge(r, i);
    for (int i = 0; i < r->n_bridges; i++)
        h_bridge_start(r, i);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void h_teardown(struct h_run *r)
{
    const char *keep = getenv("OB_TEST_KEEP");

    h_stop_all(r);
    current = NULL;
    if (h_failures)
        h_dump_logs(r, 30);
    rd_kafka_flush(r->producer, 5000);
    rd_kafka_destroy(r->producer);
    ob_watch_destroy(r->watch);
    for (size_t w = 0; w < r->n_wh; w++) {
        ob_sim_stop(r->wh[w].s);
        r->wh[w].s = NULL;
    }
    ob_mock_stop(r->mock);
    json_decref(r->dlq_reasons);
    for (unsigned long i = 0; i < r->n_valid; i++)
        free(r->valid[i].cb);
    free(r->valid);
    free(r->bad);
    if (h_failures || (keep && strcmp(keep, "1") == 0))
        fprintf(stderr, "%s: configs, logs and ledgers kept in %s\n", r->name, r->dir);
    else
        nftw(r->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
