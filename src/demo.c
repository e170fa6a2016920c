/*
 * demo.c — `orderbridge demo`: the whole pipeline on one machine.
 *
 * Starts an embedded Kafka (librdkafka's mock cluster) and six simulated
 * warehouses (one of them flaky), produces realistic sample orders plus
 * malformed messages, runs the real bridge on them, reads the status and
 * dead-letter topics back like the mid-platform would, and exits 0 only
 * when every message is accounted for: each valid order ACCEPTED exactly
 * once and created exactly once at its warehouse, every bad or unroutable
 * message in the dead-letter topic, every offset committed, and every order
 * at a warehouse that reports status at its last status, no status twice.
 */
#include "demo.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/rand.h>

#include <orderbridge/sdk.h>

#include "bridge.h"
#include "config.h"
#include "log.h"
#include "mock.h"
#include "order.h"
#include "sample.h"
#include "sim.h"
#include "watch.h"

#define DEMO_GROUP "orderbridge-demo"
#define DEMO_TOPIC_STATE "orderbridge.state"
#define DEMO_TOPIC_CALLBACKS "orderbridge.callbacks"
#define UNROUTABLE_EVERY 997 /* one order in this many names an unknown warehouse */

static const char demo_help[] =
    "usage: orderbridge demo [--orders N] [--malformed M] [--seed S] [--partitions P]\n"
    "                        [--no-faults] [--no-status] [--verbose]\n"
    "                        [--listen HOST:PORT] [--stay]\n"
    "\n"
    "Run the whole pipeline on this machine: an embedded Kafka (librdkafka's mock\n"
    "cluster), six simulated warehouses, one per adapter (rest, mapping,\n"
    "sf_express, cainiao, qimen, ems), each checking its own signature scheme;\n"
    "REST-SH-01 answers 503, 429 and slowly now and then, and sometimes drops its\n"
    "answer after creating the order. Orders name their warehouse or are routed\n"
    "by rules; N realistic sample orders and M malformed messages. Then the\n"
    "warehouses report each order's progress: rest, sf_express and qimen by signed\n"
    "callbacks (a few forged, replayed, doubled or out of order), cainiao and ems\n"
    "when polled. As N instances would, the bridge keeps each order's state in\n"
    "the changelog orderbridge.state and passes each verified callback through\n"
    "orderbridge.callbacks to the owner of the order's partition. Prints a\n"
    "summary and exits 0 only when every message is accounted for and every\n"
    "order reached its last status exactly once.\n"
    "\n"
    "  --orders N      sample orders (default 5000)\n"
    "  --malformed M   malformed messages mixed in (default 30)\n"
    "  --seed S        sample seed (default 1111)\n"
    "  --partitions P  partitions of the orders topic (default 16); the embedded\n"
    "                  Kafka keeps ~5 MB per partition, so give large runs more\n"
    "  --no-faults     every warehouse answers promptly and correctly (benchmarks)\n"
    "  --no-status     warehouses report nothing after the push (no callbacks, no\n"
    "                  polling): the push path alone, for benchmarks\n"
    "  --verbose       the bridge's own log at info level\n"
    "  --listen HOST:PORT\n"
    "                  the bridge's HTTP server (callbacks, /metrics, the dashboard);\n"
    "                  an IPv4 address (default 127.0.0.1:0: any free port)\n"
    "  --stay          print the dashboard's URL; after the summary keep serving it\n"
    "                  (and /metrics) until SIGINT or SIGTERM\n";

/*
 * The demo's warehouses: one per adapter, each with a simulator of its
 * kind. Credentials are made up at start and handed to both sides, the
 * bridge through env: references as in production.
 */
/* How the demo learns what happens after the push. */
enum demo_status_source { NO_STATUS, BY_CALLBACK, BY_POLL };

struct demo_wh {
    const char *code, *adapter, *profile;
    const char *const *credentials; /* names; values are generated */
    const char *settings;           /* JSON; "%M" stands for the mappings folder */
    const char *const *sim_fixed;   /* name, value pairs the simulator also knows */
    int flaky;
    enum demo_status_source status;
    const char *final_status;       /* the last status its orders reach */
    struct ob_sim *sim;
    char sf_token[64];              /* sf_express: its callback path ends in it */
};

static const char *const cred_token[] = {"token", NULL};
static const char *const cred_rest[] = {"token", "webhook_secret", NULL};
static const char *const cred_sf[] = {"partner_id", "check_word", "callback_token", NULL};
static const char *const cred_cainiao[] = {"secret", NULL};
static const char *const cred_qimen[] = {"app_key", "secret", NULL};
static const char *const cred_ems[] = {"sender_no", "authorization", "sign_key", NULL};
static const char *const fixed_cainiao[] = {"logistic_provider_id", "LP-DEMO-01", NULL};
static const char *const fixed_qimen[] = {"customer_id", "c-demo-01", NULL};

#define N_WAREHOUSES 6
#define WH_EMS 5

static struct demo_wh warehouses[N_WAREHOUSES] = {
    {"REST-SH-01", "rest", "rest", cred_rest, "{\"shipping_methods\": {\"express\": \"Expedited\"}}",
     NULL, 1, BY_CALLBACK, "DELIVERED", NULL, ""},
    {"MAP-BJ-02", "mapping", "rest", cred_token,
     "{\"request\": {\"path\": \"/orders\", \"body\": \"%M/rest.json\","
     " \"content_type\": \"application/json\", \"headers\": {"
     " \"Authorization\": \"Bearer {{ @credential.token }}\","
     " \"Idempotency-Key\": \"{{ @idempotency_key }}\"}},"
     " \"answers\": [{\"status\": [201], \"outcome\": \"accepted\", \"warehouse_order_id\": \"id\"},"
     " {\"status\": [422], \"body_contains\": \"Duplicate reference ID\", \"outcome\": \"accepted\"}]}",
     NULL, 0, NO_STATUS, NULL, NULL, ""},
    {"SF-SZ-03", "sf_express", "sf_express", cred_sf, "{\"express_type_id\": 2}", NULL, 0,
     BY_CALLBACK, "DELIVERED", NULL, ""},
    {"CN-HZ-04", "cainiao", "cainiao", cred_cainiao, "{\"logistic_provider_id\": \"LP-DEMO-01\"}",
     fixed_cainiao, 0, BY_POLL, "DELIVERED", NULL, ""},
    {"QM-GZ-05", "qimen", "qimen", cred_qimen,
     "{\"customer_id\": \"c-demo-01\", \"owner_code\": \"DEMO\"}", fixed_qimen, 0,
     BY_CALLBACK, "SHIPPED", NULL, ""}, /* Qimen's last word is DELIVERED: left the warehouse */
    {"EMS-CD-06", "ems", "ems", cred_ems, "{}", NULL, 0, BY_POLL, "DELIVERED", NULL, ""},
};

struct demo {
    unsigned long orders, malformed, seed;
    int partitions, no_faults, no_status, stay;
    const char *listen;      /* http.listen */
    struct ob_mock *mock;
    struct ob_config *cfg;
    struct ob_bridge *bridge;
    unsigned long expect_accepted, expect_dlq, produced, expect_no_county;
    unsigned char *accepted; /* per order index: ACCEPTED events seen */
    uint16_t *seen;          /* per order index: statuses after ACCEPTED seen (bit per status) */
    char ledger_dir[64];     /* a fresh delivery ledger, removed at the end */
};

/* The ledger directory holds LMDB's two files. */
static void remove_ledger(const char *dir)
{
    char path[128];

    if (!dir[0])
        return;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/lock.mdb", dir);
    unlink(path);
    rmdir(dir);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Most orders name their warehouse; one in four leaves the choice to the
 * routing rules; a few name one that does not exist. */
static const char *demo_warehouse(unsigned long i)
{
    if (i % UNROUTABLE_EVERY == UNROUTABLE_EVERY - 1)
        return "XX-NOWHERE";
    if (i % 4 == 3)
        return NULL;
    return warehouses[(i / 4 * 3 + i % 4) % N_WAREHOUSES].code;
}

static void env_name(char *out, size_t size, const char *code, const char *cred)
{
    size_t n = (size_t)snprintf(out, size, "OB_DEMO_%s_%s", code, cred);

    for (size_t i = 0; i < n && i < size; i++)
        out[i] = out[i] == '-' ? '_' : (char)toupper((unsigned char)out[i]);
}

/* A fresh credential: 16 random bytes, as base64 for an SM4 key or (after
 * "whsec_") a Standard Webhooks secret, else hex. */
int ob_demo_make_secret(const char *name, char *out, size_t size)
{
    unsigned char raw[16];
    struct ob_buf b;
    int webhook = strcmp(name, "webhook_secret") == 0;

    if (RAND_bytes(raw, sizeof(raw)) != 1)
        return -1;
    if (strcmp(name, "sign_key") != 0 && !webhook) {
        ob_hex_lower(raw, sizeof(raw), out);
        return 0;
    }
    ob_buf_init(&b, size - 1);
    if (ob_base64_encode(raw, sizeof(raw), &b) != 0) {
        ob_buf_reset(&b);
        return -1;
    }
    snprintf(out, size, "%s%s", webhook ? "whsec_" : "", b.data);
    ob_buf_reset(&b);
    return 0;
}

static int start_sims(struct demo *d, char *err, size_t err_size)
{
    for (int w = 0; w < N_WAREHOUSES; w++) {
        struct demo_wh *wh = &warehouses[w];
        struct ob_sim_options opt = {.threads = w < 2 ? 2 : 1,
                                     .seed = d->seed + (unsigned long)w,
                                     .profile = wh->profile};
        struct ob_sim_secret secrets[8];
        char values[8][64];
        size_t n = 0;

        for (size_t c = 0; wh->credentials[c]; c++, n++) {
            char env[128];
            if (ob_demo_make_secret(wh->credentials[c], values[n], sizeof(values[n])) != 0)
                return -1;
            env_name(env, sizeof(env), wh->code, wh->credentials[c]);
            setenv(env, values[n], 1); /* the config refers to it as env:NAME */
            secrets[n] = (struct ob_sim_secret){wh->credentials[c], values[n]};
            if (strcmp(wh->credentials[c], "callback_token") == 0)
                snprintf(wh->sf_token, sizeof(wh->sf_token), "%s", values[n]);
        }
        for (size_t f = 0; wh->sim_fixed && wh->sim_fixed[f]; f += 2)
            secrets[n++] = (struct ob_sim_secret){wh->sim_fixed[f], wh->sim_fixed[f + 1]};
        secrets[n] = (struct ob_sim_secret){NULL, NULL};
        opt.secrets = secrets;
        if (wh->status == BY_CALLBACK && !d->no_faults) {
            opt.cb_tamper_rate = 0.01;
            opt.cb_replay_rate = 0.01;
            opt.cb_duplicate_rate = 0.02;
            opt.cb_reorder_rate = 0.02;
        }
        opt.cb_max_in_flight = 256;
        if (wh->flaky && !d->no_faults) {
            opt.fail_5xx_rate = 0.02;
            opt.fail_429_rate = 0.005;
            opt.reset_after_create_rate = 0.005;
            opt.slow_rate = 0.01;
            opt.slow_ms = 200;
            opt.retry_after_s = 1;
        }
        wh->sim = ob_sim_start(&opt, err, err_size);
        if (!wh->sim)
            return -1;
    }
    return 0;
}

/* The shipped mappings: installed beside the binary, or in the source tree
 * this binary was built from. */
const char *ob_demo_mappings_dir(char *buf, size_t size)
{
    char exe[4000];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, size, "%s/../share/orderbridge/mappings", exe);
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
    snprintf(buf, size, "%s", OB_SOURCE_MAPPINGS_DIR);
    return buf;
}

/* The demo's config, built as a document and parsed like any config file. */
static int make_config(struct demo *d, char *err, size_t err_size)
{
    char mappings[4096], env[128], ref[160];
    json_t *cfg, *whs, *settings;
    char *text;
    int rc;

    ob_demo_mappings_dir(mappings, sizeof(mappings));
    whs = json_object();
    for (int w = 0; w < N_WAREHOUSES; w++) {
        struct demo_wh *wh = &warehouses[w];
        json_t *creds = json_object();
        char endpoint[64], *settings_text = NULL;
        const char *m = strstr(wh->settings, "%M");

        for (size_t c = 0; wh->credentials[c]; c++) {
            env_name(env, sizeof(env), wh->code, wh->credentials[c]);
            snprintf(ref, sizeof(ref), "env:%s", env);
            json_object_set_new(creds, wh->credentials[c], json_string(ref));
        }
        if (m && asprintf(&settings_text, "%.*s%s%s", (int)(m - wh->settings), wh->settings,
                          mappings, m + 2) < 0)
            settings_text = NULL;
        settings = json_loads(settings_text ? settings_text : wh->settings, 0, NULL);
        free(settings_text);
        snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%u", ob_sim_port(wh->sim));
        json_object_set_new(whs, wh->code,
                            json_pack("{s:s, s:s, s:o, s:o, s:i, s:i, s:i, s:i, s:i, s:i}",
                                      "adapter", wh->adapter, "endpoint", endpoint, "credentials",
                                      creds, "settings", settings, "timeout_ms", 2000,
                                      "max_attempts", 8, "backoff_ms", 50, "max_connections", 32,
                                      "attempts_in_memory", 2, "park_ms", 300));
        if (wh->status == BY_CALLBACK && !d->no_status) {
            char path[64];
            snprintf(path, sizeof(path), "/callbacks/%s", wh->code);
            json_object_set_new(json_object_get(whs, wh->code), "callback",
                                json_pack("{s:s, s:[s]}", "path", path, "allow_from", "127.0.0.1"));
        } else if (wh->status == BY_POLL && !d->no_status) {
            json_object_set_new(json_object_get(whs, wh->code), "poll",
                                json_pack("{s:i, s:i, s:i}", "interval_ms", 500, "per_second",
                                          20000, "max_in_flight", 32));
        }
    }
    snprintf(d->ledger_dir, sizeof(d->ledger_dir), "/tmp/orderbridge-demo-ledger-XXXXXX");
    if (!mkdtemp(d->ledger_dir)) {
        d->ledger_dir[0] = '\0';
        snprintf(err, err_size, "cannot create a ledger directory in /tmp\n");
        return -1;
    }
    cfg = json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:i}, s:{s:i, s:i, s:i}, s:{s:s}, s:{s:s}, s:o,"
        " s:{s:[{s:s, s:{s:[s]}, s:s}, {s:s, s:{s:[s, s]}, s:s}, {s:s, s:{s:[s]}, s:s}],"
        "    s:{s:s}, s:s}}",
        "kafka", "bootstrap_servers", ob_mock_bootstraps(d->mock), "group_id", DEMO_GROUP,
        /* every simulator and the browser share 127.0.0.1: no per-address cap */
        "http", "listen", d->listen, "max_connections_per_ip", 0,
        "pipeline", "max_in_flight", 2048, "commit_interval_ms", 500, "shutdown_timeout_ms", 10000,
        "ledger", "path", d->ledger_dir,
        "log", "level",
        ob_log_enabled(OB_LOG_DEBUG) ? "debug" : ob_log_enabled(OB_LOG_INFO) ? "info" : "warn",
        "warehouses", whs,
        "routing", "rules",
        "name", "jd-channel", "match", "channel", "jd", "warehouse", "MAP-BJ-02",
        "name", "south", "match", "province", "广东省", "福建省", "warehouse", "SF-SZ-03",
        "name", "presale", "match", "priority", "presale", "warehouse", "QM-GZ-05",
        "aliases", "shanghai", "REST-SH-01", "default", "CN-HZ-04");
    /* The scale-out state (issue 13): each order's state in a changelog,
     * callbacks forwarded to the owner of the order's partition. */
    if (cfg)
        json_object_set_new(json_object_get(cfg, "kafka"), "topics",
                            json_pack("{s:s, s:s}", "state", DEMO_TOPIC_STATE, "callbacks",
                                      DEMO_TOPIC_CALLBACKS));
    text = cfg ? json_dumps(cfg, JSON_INDENT(1)) : NULL;
    json_decref(cfg);
    if (!text) {
        snprintf(err, err_size, "cannot build the demo config\n");
        return -1;
    }
    rc = ob_config_parse(text, strlen(text), "<demo>", &d->cfg, err, err_size);
    free(text);
    return rc;
}

/* The dashboard's address: the listen host (a wildcard one as loopback),
 * the port the bridge got. */
static void dashboard_url(const struct demo *d, char *out, size_t size)
{
    const char *colon = strrchr(d->listen, ':');
    int host_len = colon ? (int)(colon - d->listen) : 0;

    if (host_len == 0 || (host_len == 7 && strncmp(d->listen, "0.0.0.0", 7) == 0))
        snprintf(out, size, "http://127.0.0.1:%u/dashboard", ob_bridge_http_port(d->bridge));
    else
        snprintf(out, size, "http://%.*s:%u/dashboard", host_len, d->listen,
                 ob_bridge_http_port(d->bridge));
}

static int stay_pipe[2] = {-1, -1};

static void on_stay_signal(int sig)
{
    int saved = errno;
    ssize_t n = write(stay_pipe[1], "s", 1);

    (void)sig;
    (void)n; /* full: a byte is there already */
    errno = saved;
}

/* --stay: the bridge's loop has stopped, its HTTP server still answers
 * (/metrics, the dashboard); wait for SIGINT or SIGTERM. */
static void stay(const struct demo *d)
{
    struct sigaction sa;
    char url[160], byte;

    if (pipe2(stay_pipe, O_CLOEXEC) != 0) {
        perror("demo: pipe");
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stay_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    dashboard_url(d, url, sizeof(url));
    printf("\ndashboard          %s (serving until SIGINT or SIGTERM)\n", url);
    fflush(stdout);
    while (read(stay_pipe[0], &byte, 1) < 0 && errno == EINTR)
        ;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close(stay_pipe[0]);
    close(stay_pipe[1]);
    stay_pipe[0] = stay_pipe[1] = -1;
}

static void *bridge_thread(void *arg)
{
    struct ob_bridge *bridge = arg;

    pthread_setname_np(pthread_self(), "ob-bridge");
    ob_bridge_run(bridge);
    return NULL;
}

/* Produce the sample orders and malformed messages, interleaved. */
static int produce_orders(struct demo *d, char *err, size_t err_size)
{
    rd_kafka_t *rk = ob_watch_producer(ob_mock_bootstraps(d->mock), err, err_size);
    unsigned long total = d->orders + d->malformed;
    unsigned long every = d->malformed ? total / d->malformed : 0;
    unsigned long order_i = 0, bad_i = 0;

    if (!rk)
        return -1;
    for (unsigned long i = 0; i < total; i++) {
        size_t len = 0;
        char *value;
        char key[64];
        int bad = every && i % every == every - 1 && bad_i < d->malformed;
        if (!bad && order_i >= d->orders)
            bad = 1;
        if (bad) {
            value = ob_sample_malformed(bad_i, &len, NULL);
            snprintf(key, sizeof(key), "malformed-%lu", bad_i++);
            d->expect_dlq++;
        } else {
            const char *wh = demo_warehouse(order_i);
            value = ob_sample_order(d->seed, order_i, wh, &len);
            snprintf(key, sizeof(key), "DEMO-%lu-%08lu", d->seed, order_i);
            if (wh && strcmp(wh, "XX-NOWHERE") == 0)
                d->expect_dlq++;
            else if (value && wh && strcmp(wh, warehouses[WH_EMS].code) == 0 &&
                     !ob_sample_has_district(value, len))
                d->expect_dlq++, d->expect_no_county++; /* EMS requires a county */
            else
                d->expect_accepted++;
            order_i++;
        }
        if (!value)
            return -1;
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("orders"), RD_KAFKA_V_KEY(key, strlen(key)),
                                 RD_KAFKA_V_VALUE(value, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 100);
        d->produced++;
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 30000);
    if (rd_kafka_outq_len(rk) > 0) {
        snprintf(err, err_size, "could not produce every sample order");
        rd_kafka_destroy(rk);
        return -1;
    }
    rd_kafka_destroy(rk);
    return 0;
}

/* Index of "DEMO-<seed>-<index>" or -1. */
static long order_index(const struct demo *d, const char *order_id)
{
    char prefix[48];
    size_t n = (size_t)snprintf(prefix, sizeof(prefix), "DEMO-%lu-", d->seed);
    char *end;
    long idx;

    if (strncmp(order_id, prefix, n) != 0)
        return -1;
    idx = strtol(order_id + n, &end, 10);
    return *end == '\0' && idx >= 0 && (unsigned long)idx < d->orders ? idx : -1;
}

struct tally {
    unsigned long accepted_events, accepted_distinct, duplicate_accepts, other_events, dlq;
    unsigned long tracked;        /* accepted by a warehouse that reports status */
    unsigned long finished;       /* of those, orders that reached their final status */
    unsigned long later_events;   /* status events after ACCEPTED (callbacks, polls) */
    unsigned long unmapped_events;
    unsigned long duplicate_statuses; /* a status emitted twice for one order */
};

static const struct demo_wh *demo_wh_of(const char *code)
{
    for (int w = 0; code && w < N_WAREHOUSES; w++)
        if (strcmp(warehouses[w].code, code) == 0)
            return &warehouses[w];
    return NULL;
}

static const char *const later_statuses[] = {"ALLOCATED", "PICKED",    "PACKED",   "SHIPPED",
                                             "DELIVERED", "CANCELLED", "EXCEPTION"};

static void count_status(struct demo *d, const rd_kafka_message_t *msg, struct tally *t)
{
    json_t *doc = json_loadb(msg->payload, msg->len, 0, NULL);
    const char *status = json_string_value(json_object_get(doc, "status"));
    const char *order_id = json_string_value(json_object_get(doc, "order_id"));
    const char *source = json_string_value(json_object_get(doc, "source"));
    const struct demo_wh *wh = demo_wh_of(json_string_value(json_object_get(doc, "warehouse")));
    long idx = order_id ? order_index(d, order_id) : -1;

    if (status && order_id && strcmp(status, "ACCEPTED") == 0 && source &&
        strcmp(source, "push") == 0) {
        t->accepted_events++;
        if (idx >= 0 && d->accepted[idx]++ == 0) {
            t->accepted_distinct++;
            t->tracked += wh && wh->final_status && !d->no_status;
        } else if (idx >= 0) {
            t->duplicate_accepts++;
        }
    } else if (source && (strcmp(source, "callback") == 0 || strcmp(source, "poll") == 0)) {
        t->later_events++;
        if (json_is_true(json_object_get(doc, "unmapped"))) {
            t->unmapped_events++;
        } else if (idx >= 0 && status) {
            for (unsigned k = 0; k < sizeof(later_statuses) / sizeof(later_statuses[0]); k++) {
                if (strcmp(status, later_statuses[k]) != 0 || strcmp(status, "EXCEPTION") == 0)
                    continue;
                if (d->seen[idx] & (1u << k))
                    t->duplicate_statuses++;
                d->seen[idx] |= (uint16_t)(1u << k);
            }
            if (wh && wh->final_status &&
                (strcmp(status, wh->final_status) == 0 || strcmp(status, "CANCELLED") == 0))
                t->finished++;
        }
    } else {
        t->other_events++;
    }
    json_decref(doc);
}

static void print_summary(const struct demo *d, const struct tally *t, double secs,
                          double first_consume_s, double statuses_s, int ok)
{
    const struct ob_metrics *m = ob_bridge_metrics(d->bridge);
    unsigned long total = d->orders + d->malformed;

    printf("\norderbridge demo: %lu messages (%lu sample orders, %lu malformed)\n", total,
           d->orders, d->malformed);
    printf("  consumed           %" PRIu64 "\n", OB_METRIC_GET(m, consumed));
    printf("  accepted           %" PRIu64 " (distinct orders with an ACCEPTED event: %lu, "
           "duplicates: %lu)\n",
           OB_METRIC_GET(m, accepted), t->accepted_distinct, t->duplicate_accepts);
    printf("  rejected           %" PRIu64 "\n", OB_METRIC_GET(m, rejected));
    printf("  dead-lettered      %lu (invalid %" PRIu64 ", unroutable %" PRIu64
           ", failed %" PRIu64 ": %lu for EMS without a county)\n",
           t->dlq, OB_METRIC_GET(m, invalid), OB_METRIC_GET(m, unroutable),
           OB_METRIC_GET(m, failed), d->expect_no_county);
    printf("  status events      %lu (%lu ACCEPTED, %lu from callbacks and polls, %lu other)\n",
           t->accepted_events + t->later_events + t->other_events, t->accepted_events,
           t->later_events, t->other_events);
    printf("  after the push     %lu of %lu orders reached their last status (DELIVERED, "
           "Qimen SHIPPED, or CANCELLED); %lu raw codes kept unmapped; %lu statuses emitted "
           "twice\n",
           t->finished, t->tracked, t->unmapped_events, t->duplicate_statuses);
    printf("  callbacks          %" PRIu64 " received: %" PRIu64 " ok, %" PRIu64
           " forged or stale refused, %" PRIu64 " told to retry (before the push's ACCEPTED "
           "was in Kafka), %" PRIu64 " replays; %" PRIu64 " polls\n",
           OB_METRIC_GET(m, callbacks), OB_METRIC_GET(m, callbacks_ok),
           OB_METRIC_GET(m, callbacks_forbidden), OB_METRIC_GET(m, callbacks_retry),
           OB_METRIC_GET(m, callbacks_replayed), OB_METRIC_GET(m, polls));
    printf("  through Kafka      %" PRIu64 " callbacks forwarded to %s, %" PRIu64
           " records applied by the partition's owner; %" PRIu64 " order states written to "
           "%s\n",
           OB_METRIC_GET(m, callbacks_forwarded), DEMO_TOPIC_CALLBACKS,
           OB_METRIC_GET(m, callback_records_applied), OB_METRIC_GET(m, state_records),
           DEMO_TOPIC_STATE);
    printf("  HTTP pushes        %" PRIu64 " (%" PRIu64 " retries)\n",
           OB_METRIC_GET(m, http_requests), OB_METRIC_GET(m, http_retries));
    printf("  parked             %" PRIu64 " on orders.retry (attempts in memory used up, or a "
           "circuit open)\n",
           OB_METRIC_GET(m, parked));
    for (int w = 0; w < N_WAREHOUSES; w++) {
        struct ob_sim_stats st;
        ob_sim_get_stats(warehouses[w].sim, &st);
        printf("  %-10s %-10s created %5lu, duplicate answered %3lu, bad signature %lu, "
               "bad request %lu",
               warehouses[w].code, warehouses[w].adapter, st.created, st.duplicates,
               st.bad_signatures, st.bad_requests + st.unauthorized);
        if (warehouses[w].flaky)
            printf(", injected 503 %lu, 429 %lu, lost answers %lu", st.injected_5xx,
                   st.injected_429, st.resets_after_create);
        putchar('\n');
    }
    printf("  latency            p50 %.2f ms, p99 %.2f ms (consumed -> outcome in Kafka)\n",
           (double)ob_histogram_quantile(&m->latency, 0.50) / 1000.0,
           (double)ob_histogram_quantile(&m->latency, 0.99) / 1000.0);
    printf("  throughput         %.0f orders/s (%lu messages in %.2f s after the consumer "
           "group formed; %.1f s in all)\n",
           secs > 0 ? (double)total / secs : 0.0, total, secs, first_consume_s + secs);
    printf("  statuses           the last one %.2f s after the last push outcome (warehouses "
           "report every %u ms; cainiao and ems are polled every 500 ms)\n",
           statuses_s, ob_sim_status_step_ms(warehouses[0].sim));
    printf("  result             %s\n", ok ? "OK: every message accounted for"
                                          : "FAILED: see above");
}

static int run_demo(struct demo *d)
{
    static const char *const topics[] = {"fulfillment.status", "orders.dlq"};
    char err[8192];
    struct ob_watch *watch = NULL;
    struct tally t = {0};
    pthread_t thread;
    int bridge_started = 0, ok = 0;
    double start, first_consume = 0, done_at = 0, pushed_at = 0;
    char lag[2048];
    int64_t low_sum = 0;

    d->accepted = calloc(d->orders ? d->orders : 1, 1);
    d->seen = calloc(d->orders ? d->orders : 1, sizeof(*d->seen));
    if (!d->accepted || !d->seen) {
        free(d->accepted);
        free(d->seen);
        return 1;
    }
    if (ob_mock_start(1, &d->mock, err, sizeof(err)) != 0 ||
        ob_mock_create_topic(d->mock, "orders", d->partitions) != 0 ||
        ob_mock_create_topic(d->mock, "orders.retry", d->partitions) != 0 ||
        ob_mock_create_topic(d->mock, "fulfillment.status", 8) != 0 ||
        ob_mock_create_topic(d->mock, "orders.dlq", 4) != 0 ||
        ob_mock_create_topic(d->mock, DEMO_TOPIC_STATE, d->partitions) != 0 ||
        ob_mock_create_topic(d->mock, DEMO_TOPIC_CALLBACKS, d->partitions) != 0) {
        fprintf(stderr, "demo: embedded Kafka: %s\n", err);
        goto cleanup;
    }
    if (start_sims(d, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: simulator: %s\n", err);
        goto cleanup;
    }
    if (make_config(d, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: config:\n%s", err);
        goto cleanup;
    }
    printf("embedded Kafka at %s; simulated warehouses:", ob_mock_bootstraps(d->mock));
    for (int w = 0; w < N_WAREHOUSES; w++)
        printf(" %s (%s) :%u%s", warehouses[w].code, warehouses[w].adapter,
               ob_sim_port(warehouses[w].sim), warehouses[w].flaky ? " flaky" : "");
    putchar('\n');
    if (ob_bridge_create(d->cfg, &d->bridge, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        goto cleanup;
    }
    for (int w = 0; w < N_WAREHOUSES; w++) {
        char url[160];
        if (warehouses[w].status != BY_CALLBACK || d->no_status)
            continue;
        snprintf(url, sizeof(url), "http://127.0.0.1:%u/callbacks/%s%s%s",
                 ob_bridge_http_port(d->bridge), warehouses[w].code,
                 warehouses[w].sf_token[0] ? "/" : "", warehouses[w].sf_token);
        if (ob_sim_set_callback_url(warehouses[w].sim, url) != 0) {
            fprintf(stderr, "demo: cannot give %s its callback URL\n", warehouses[w].code);
            goto cleanup;
        }
    }
    if (d->stay) {
        char url[160];
        dashboard_url(d, url, sizeof(url));
        printf("dashboard          %s (live while the demo runs)\n", url);
        fflush(stdout);
    }
    if (ob_watch_create(ob_mock_bootstraps(d->mock), topics, 2, &watch, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        goto cleanup;
    }
    start = now_s();
    if (pthread_create(&thread, NULL, bridge_thread, d->bridge) != 0)
        goto cleanup;
    bridge_started = 1;
    printf("producing %lu orders and %lu malformed messages to topic orders...\n", d->orders,
           d->malformed);
    if (produce_orders(d, err, sizeof(err)) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        goto cleanup;
    }
    while (t.accepted_distinct < d->expect_accepted || t.dlq < d->expect_dlq ||
           t.finished < t.tracked) {
        rd_kafka_message_t *msg = ob_watch_next(watch, 200);
        if (!first_consume && OB_METRIC_GET(ob_bridge_metrics(d->bridge), consumed) > 0)
            first_consume = now_s();
        if (!pushed_at && t.accepted_distinct >= d->expect_accepted && t.dlq >= d->expect_dlq)
            pushed_at = now_s();
        if (now_s() - start > 180) {
            fprintf(stderr, "demo: timed out waiting for every outcome\n");
            break;
        }
        if (!msg)
            continue;
        if (strcmp(rd_kafka_topic_name(msg->rkt), "orders.dlq") == 0)
            t.dlq++;
        else
            count_status(d, msg, &t);
        rd_kafka_message_destroy(msg);
    }
    done_at = now_s();
    if (!pushed_at)
        pushed_at = done_at;
    ob_bridge_stop(d->bridge);
    pthread_join(thread, NULL);
    bridge_started = 0;
    /* Late duplicates would show up now. */
    for (;;) {
        rd_kafka_message_t *msg = ob_watch_next(watch, 300);
        if (!msg)
            break;
        if (strcmp(rd_kafka_topic_name(msg->rkt), "orders.dlq") == 0)
            t.dlq++;
        else
            count_status(d, msg, &t);
        rd_kafka_message_destroy(msg);
    }
    int lagging = ob_watch_committed_lag(ob_mock_bootstraps(d->mock), DEMO_GROUP, "orders",
                                         &low_sum, lag, sizeof(lag));
    unsigned long created = 0, refused = 0;
    for (int w = 0; w < N_WAREHOUSES; w++) {
        struct ob_sim_stats st;
        ob_sim_get_stats(warehouses[w].sim, &st);
        created += st.created;
        refused += st.bad_signatures + st.bad_requests + st.unauthorized + st.key_mismatches;
    }
    for (int w = 0; w < N_WAREHOUSES; w++) {
        struct ob_sim_stats st;
        ob_sim_get_stats(warehouses[w].sim, &st);
        if (st.cb_forged_accepted)
            fprintf(stderr, "demo: %s: %lu forged callbacks answered with success\n",
                    warehouses[w].code, st.cb_forged_accepted);
        refused += st.cb_forged_accepted;
    }
    ok = t.accepted_distinct == d->expect_accepted && t.duplicate_accepts == 0 &&
         t.finished == t.tracked && t.duplicate_statuses == 0 &&
         t.dlq == d->expect_dlq && created == d->expect_accepted && refused == 0 &&
         lagging == 0 && low_sum == 0;
    if (refused)
        fprintf(stderr, "demo: %lu requests refused by a warehouse's checks\n", refused);
    if (lagging != 0)
        fprintf(stderr, "demo: committed offsets behind the end:\n%s", lag);
    if (low_sum != 0)
        fprintf(stderr, "demo: the embedded Kafka dropped old records (low watermark %" PRId64
                        "): use fewer orders\n", low_sum);
    print_summary(d, &t, pushed_at - (first_consume ? first_consume : start),
                  (first_consume ? first_consume : start) - start, done_at - pushed_at, ok);
    if (d->stay)
        stay(d);
cleanup:
    if (bridge_started) {
        ob_bridge_stop(d->bridge);
        pthread_join(thread, NULL);
    }
    ob_watch_destroy(watch);
    ob_bridge_destroy(d->bridge);
    ob_config_destroy(d->cfg);
    for (int w = 0; w < N_WAREHOUSES; w++) {
        ob_sim_stop(warehouses[w].sim);
        warehouses[w].sim = NULL;
    }
    ob_mock_stop(d->mock);
    remove_ledger(d->ledger_dir);
    free(d->accepted);
    free(d->seen);
    return ok ? 0 : 1;
}

int ob_demo_main(int argc, char **argv)
{
    static const struct option opts[] = {{"orders", required_argument, NULL, 'n'},
                                         {"malformed", required_argument, NULL, 'm'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"partitions", required_argument, NULL, 'p'},
                                         {"no-faults", no_argument, NULL, 'f'},
                                         {"no-status", no_argument, NULL, 'S'},
                                         {"verbose", no_argument, NULL, 'v'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"stay", no_argument, NULL, 'y'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct demo d = {.orders = 5000, .malformed = 30, .seed = 1111, .partitions = 16,
                     .listen = "127.0.0.1:0"};
    int ch;

    ob_log_set_level(OB_LOG_WARN);
    optind = 1;
    for (;;) {
        ch = getopt_long(argc, argv, "", opts, NULL);
        if (ch == -1)
            break;
        switch (ch) {
        case 'n':
            d.orders = strtoul(optarg, NULL, 10);
            break;
        case 'm':
            d.malformed = strtoul(optarg, NULL, 10);
            break;
        case 's':
            d.seed = strtoul(optarg, NULL, 10);
            break;
        case 'p':
            d.partitions = atoi(optarg);
            break;
        case 'f':
            d.no_faults = 1;
            break;
        case 'S':
            d.no_status = 1;
            break;
        case 'l':
            d.listen = optarg;
            break;
        case 'y':
            d.stay = 1;
            break;
        case 'v':
            ob_log_set_level(getenv("OB_DEMO_DEBUG") ? OB_LOG_DEBUG : OB_LOG_INFO);
            break;
        case 'h':
            fputs(demo_help, stdout);
            return 0;
        default:
            fputs(demo_help, stderr);
            return 2;
        }
    }
    if (optind != argc || d.orders > 1000000 || d.partitions < 1 || d.partitions > 256) {
        fputs(demo_help, stderr);
        return 2;
    }
    return run_demo(&d);
}
