/*
 * session.c — one bridge run: a fresh embedded Kafka, fresh simulators, a
 * temp dir (config, ledger, log), `orderbridge run` as a child process, and
 * a reader of the status topic that accounts for every order by its key.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "mock.h"
#include "order.h"
#include "sample.h"
#include "watch.h"

#define SEED 2024
#define GROUP "ob-bench"
#define STALL_S 60.0 /* no new outcome for this long: the run failed */

extern char **environ;

enum { ST_NONE, ST_EXPECTED, ST_ACCEPTED, ST_OTHER };

/* One `orderbridge run` of the group (--instances: several, each with its
 * own config, ledger and log). */
struct bridge {
    char config[128], log[128], ledger[128];
    pid_t pid;
};

struct session {
    const struct bench_opts *o;
    char dir[64];
    struct ob_mock *mock;
    rd_kafka_t *producer, *reader;
    struct bridge br[BENCH_MAX_INSTANCES];
    int n_br;
    double spawned_at;
    int64_t spawned_ms;
    size_t cap;              /* order indexes in use: [0, cap) */
    unsigned char *state;    /* ST_* per index */
    int64_t *sent_ms;        /* open loop: when each order was produced */
    int64_t *lat_ms;         /* open loop: its outcome's timestamp less sent_ms */
    unsigned long next;      /* next order index */
    unsigned long expected, outcomes, accepted, other, duplicates, foreign;
    int64_t first_ms, last_ms; /* Kafka timestamps of the first and last outcome */
    int express;               /* the bridge consumes orders.express too */
    double last_progress;
};

double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int64_t bench_wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int partitions_for(const struct bench_opts *o, unsigned long n)
{
    unsigned long p = (n * ORDER_BYTES + (4ul << 20) - 1) / (4ul << 20);

    if (o->partitions > 0)
        return o->partitions;
    return p < 64 ? 64 : (int)p;
}

/* ---- Kafka clients ------------------------------------------------------- */

static rd_kafka_conf_t *client_conf(const char *bootstraps, char *err, size_t err_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, err_size) ||
        rd_kafka_conf_set(conf, "log_level", "4", err, err_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* linger.ms 1: a paced order waits at most 1 ms in the bench. */
rd_kafka_t *bench_producer(const char *bootstraps, char *err, size_t err_size)
{
    rd_kafka_conf_t *conf = client_conf(bootstraps, err, err_size);
    rd_kafka_t *rk;

    if (!conf)
        return NULL;
    if (rd_kafka_conf_set(conf, "linger.ms", "1", err, err_size) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", err, err_size) ||
        rd_kafka_conf_set(conf, "batch.num.messages", "10000", err, err_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, err_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Every partition of `topic` from the beginning, no group (as watch.c). */
rd_kafka_t *bench_consumer(const char *bootstraps, const char *topic, char *err,
                           size_t err_size)
{
    rd_kafka_conf_t *conf = client_conf(bootstraps, err, err_size);
    rd_kafka_topic_partition_list_t *parts;
    rd_kafka_t *rk;
    int n;

    if (!conf)
        return NULL;
    if (rd_kafka_conf_set(conf, "group.id", "ob-bench-reader", err, err_size) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, err_size) ||
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, err_size) ||
        !(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, err_size))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    if ((n = ob_watch_partition_count(rk, topic)) < 0) {
        snprintf(err, err_size, "topic %s: no metadata", topic);
        rd_kafka_destroy(rk);
        return NULL;
    }
    parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    if (rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, err_size, "cannot assign %s", topic);
        rd_kafka_destroy(rk);
        rk = NULL;
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return rk;
}

int bench_produce(rd_kafka_t *rk, const char *topic, const char *key, char *value, size_t len,
                  int64_t timestamp_ms)
{
    rd_kafka_resp_err_t err;

    while ((err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE(value, len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE),
                                    RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(rk, 10);
    if (err)
        free(value);
    rd_kafka_poll(rk, 0);
    return err ? -1 : 0;
}

/* ---- orders ---------------------------------------------------------------- */

char *bench_order(unsigned long seed, unsigned long index, int wh, size_t *len)
{
    return ob_sample_order(seed, index, wh_code(wh), len);
}

/* The next order for warehouse `wh`: EMS needs a county, so sample orders
 * without one (1 in 20) are skipped, their indexes left unused. */
static char *next_order(struct session *s, int wh, char *key, size_t key_size, size_t *len)
{
    for (;;) {
        unsigned long i = s->next++;
        char *doc;
        if (i >= s->cap)
            return NULL;
        doc = bench_order(SEED, i, wh, len);
        if (doc && wh == WH_EMS && !ob_sample_has_district(doc, *len)) {
            free(doc);
            continue;
        }
        if (doc) {
            s->state[i] = ST_EXPECTED;
            s->expected++;
            snprintf(key, key_size, "DEMO-%d-%08lu", SEED, i);
        }
        return doc;
    }
}

/* Produce `n` orders to `topic` now; `wh` may be WH_MIX (spread over the five). */
static int produce_to(struct session *s, const char *topic, int wh, unsigned long n)
{
    for (unsigned long k = 0; k < n; k++) {
        int w = wh == WH_MIX ? (int)(k % N_REFERENCE) : wh;
        char key[64];
        size_t len = 0;
        char *doc = next_order(s, w, key, sizeof(key), &len);
        int64_t now = bench_wall_ms();
        if (!doc)
            return -1;
        if (s->sent_ms)
            s->sent_ms[s->next - 1] = now;
        if (bench_produce(s->producer, topic, key, doc, len, now) != 0)
            return -1;
    }
    return 0;
}

static int produce_orders(struct session *s, int wh, unsigned long n)
{
    return produce_to(s, "orders", wh, n);
}

static int flush_orders(struct session *s)
{
    rd_kafka_flush(s->producer, 60000);
    return rd_kafka_outq_len(s->producer) > 0 ? -1 : 0;
}

/* ---- the status topic ------------------------------------------------------ */

/* Index of a "DEMO-<SEED>-<8 digits>" key, or -1. */
static long key_index(const struct session *s, const rd_kafka_message_t *m)
{
    char id[32], prefix[24], *end;
    int n = snprintf(prefix, sizeof(prefix), "DEMO-%d-", SEED);
    unsigned long i;

    if (!m->key || m->key_len >= sizeof(id) || m->key_len <= (size_t)n)
        return -1;
    memcpy(id, m->key, m->key_len);
    id[m->key_len] = '\0';
    if (strncmp(id, prefix, (size_t)n) != 0)
        return -1;
    i = strtoul(id + n, &end, 10);
    return *end == '\0' && i < s->cap ? (long)i : -1;
}

static void count_outcome(struct session *s, const rd_kafka_message_t *m)
{
    static const char accepted[] = "\"status\":\"ACCEPTED\"";
    long i = key_index(s, m);
    int64_t ts = rd_kafka_message_timestamp(m, NULL);

    if (i < 0 || s->state[i] == ST_NONE) {
        s->foreign++;
        return;
    }
    if (s->state[i] != ST_EXPECTED) {
        s->duplicates++;
        return;
    }
    if (m->payload && memmem(m->payload, m->len, accepted, sizeof(accepted) - 1)) {
        s->state[i] = ST_ACCEPTED;
        s->accepted++;
    } else {
        s->state[i] = ST_OTHER;
        if (s->other++ < 3)
            fprintf(stderr, "bench: not ACCEPTED: %.*s\n", (int)m->len, (const char *)m->payload);
    }
    s->outcomes++;
    if (!s->first_ms || ts < s->first_ms)
        s->first_ms = ts;
    if (ts > s->last_ms)
        s->last_ms = ts;
    if (s->lat_ms)
        s->lat_ms[i] = ts - s->sent_ms[i];
    s->last_progress = bench_now();
}

/* Read what is there, waiting up to timeout_ms for the first record. */
static void read_outcomes(struct session *s, int timeout_ms)
{
    for (int k = 0; k < 4096; k++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->reader, k ? 0 : timeout_ms);
        if (!m)
            return;
        if (!m->err)
            count_outcome(s, m);
        rd_kafka_message_destroy(m);
    }
}

/* ---- the bridge process ------------------------------------------------------ */

static int spawn_one(struct session *s, struct bridge *br)
{
    char *argv[] = {(char *)s->o->binary, "run", "-c", br->config, NULL};
    posix_spawn_file_actions_t fa;
    int rc;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, br->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    rc = posix_spawn(&br->pid, s->o->binary, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "bench: cannot start %s: %s\n", s->o->binary, strerror(rc));
        br->pid = 0;
        return -1;
    }
    if (s->o->verbose)
        fprintf(stderr, "bench: bridge pid %d, log %s\n", (int)br->pid, br->log);
    return 0;
}

static int bridge_spawn(struct session *s)
{
    s->spawned_at = bench_now();
    s->spawned_ms = bench_wall_ms();
    for (int i = 0; i < s->n_br; i++)
        if (spawn_one(s, &s->br[i]) != 0)
            return -1;
    return 0;
}

/* utime + stime of a process, in µs (-1: unreadable). */
/* A small /proc file into buf, NUL-terminated; -1 when unreadable. */
static int read_small(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, size - 1, f);
    fclose(f);
    buf[n] = '\0';
    return 0;
}

/* utime + stime of a /proc .../stat file, in µs (-1: unreadable). */
static double stat_cpu_us(const char *path)
{
    char buf[2048], *p;
    unsigned long ut, st;

    if (read_small(path, buf, sizeof(buf)) != 0 || !(p = strrchr(buf, ')')) ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_us(pid_t pid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    return stat_cpu_us(path);
}

/* A "Name:  N kB" line of /proc/PID/status in MB, e.g. VmHWM (-1: unreadable). */
static double proc_status_mb(pid_t pid, const char *name)
{
    char path[64], line[256], want[40];
    size_t n = (size_t)snprintf(want, sizeof(want), "%s:", name);
    double mb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, want, n) == 0)
            mb = strtod(line + n, NULL) / 1024.0;
    fclose(f);
    return mb;
}

/* Summed over the group's bridges. */
static double bridges_cpu_us(const struct session *s)
{
    double sum = 0;

    for (int i = 0; i < s->n_br; i++) {
        double c = s->br[i].pid ? proc_cpu_us(s->br[i].pid) : -1;
        if (c > 0)
            sum += c;
    }
    return sum;
}

/* proc_status_mb(name) summed over the group's bridges. */
static double bridges_mb(const struct session *s, const char *name)
{
    double sum = 0;

    for (int i = 0; i < s->n_br; i++) {
        double mb = s->br[i].pid ? proc_status_mb(s->br[i].pid, name) : -1;
        if (mb > 0)
            sum += mb;
    }
    return sum;
}

/* A bridge that exited on its own: its index, or -1. */
static int bridge_exited(struct session *s, int *status)
{
    for (int i = 0; i < s->n_br; i++)
        if (s->br[i].pid && waitpid(s->br[i].pid, status, WNOHANG) == s->br[i].pid) {
            s->br[i].pid = 0;
            return i;
        }
    return -1;
}

static int any_bridge(const struct session *s)
{
    for (int i = 0; i < s->n_br; i++)
        if (s->br[i].pid)
            return 1;
    return 0;
}

static double self_cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* SIGTERM to every bridge, wait up to 40 s (then SIGKILL); 0 when all exited 0. */
static int bridge_stop(struct session *s)
{
    double deadline = bench_now() + 40;
    int rc = 0;

    for (int i = 0; i < s->n_br; i++)
        if (s->br[i].pid)
            kill(s->br[i].pid, SIGTERM);
    for (int i = 0; i < s->n_br; i++) {
        struct bridge *br = &s->br[i];
        int status = 0;
        if (!br->pid)
            continue;
        while (waitpid(br->pid, &status, WNOHANG) == 0) {
            if (bench_now() > deadline) {
                fprintf(stderr, "bench: the bridge did not stop within 40 s of SIGTERM\n");
                kill(br->pid, SIGKILL);
                waitpid(br->pid, &status, 0);
                break;
            }
            read_outcomes(s, 50);
        }
        br->pid = 0;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "bench: the bridge exited with status %d (log %s)\n", status,
                    br->log);
            rc = -1;
        }
    }
    return rc;
}

static void print_log_tail(const struct session *s)
{
    char cmd[192];

    for (int i = 0; i < s->n_br; i++) {
        fprintf(stderr, "bench: last lines of %s:\n", s->br[i].log);
        snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", s->br[i].log);
        if (system(cmd) != 0)
            fprintf(stderr, "bench: (cannot show it)\n");
    }
}

/* ---- setup and teardown ------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void session_end(struct session *s)
{
    for (int i = 0; i < s->n_br; i++)
        if (s->br[i].pid) {
            kill(s->br[i].pid, SIGKILL);
            waitpid(s->br[i].pid, NULL, 0);
        }
    if (s->reader) {
        rd_kafka_consumer_close(s->reader);
        rd_kafka_destroy(s->reader);
    }
    if (s->producer)
        rd_kafka_destroy(s->producer);
    wh_stop_sims();
    ob_mock_stop(s->mock);
    if (s->dir[0] && !s->o->keep)
        nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(s->state);
    free(s->sent_ms);
    free(s->lat_ms);
}

static int create_topics(struct session *s, int partitions)
{
    return ob_mock_create_topic(s->mock, "orders", partitions) ||
           ob_mock_create_topic(s->mock, "orders.express", 4) ||
           ob_mock_create_topic(s->mock, "orders.retry", partitions) ||
           ob_mock_create_topic(s->mock, "fulfillment.status", partitions) ||
           ob_mock_create_topic(s->mock, "orders.dlq", 4) ||
           ob_mock_create_topic(s->mock, "orderbridge.state", partitions);
}

static int write_config(struct session *s, const struct bridge *br, unsigned mask, int ledger)
{
    json_t *cfg = wh_config(ob_mock_bootstraps(s->mock), mask, ledger ? br->ledger : NULL);
    char dir[PATH_MAX];
    struct stat st;

    /* another build's bridge (--binary) loads that build's adapters, built
     * against its own SDK */
    snprintf(dir, sizeof(dir), "%s", s->o->binary);
    if (cfg && strrchr(dir, '/')) {
        strcpy(strrchr(dir, '/'), "/adapters");
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            json_object_set_new(cfg, "adapter_path", json_pack("[s]", dir));
    }
    if (cfg && (s->express || (s->o->state && ledger))) {
        json_t *topics = json_object();
        if (s->express)
            json_object_set_new(topics, "express", json_string("orders.express"));
        if (s->o->state && ledger)
            json_object_set_new(topics, "state", json_string("orderbridge.state"));
        json_object_set_new(json_object_get(cfg, "kafka"), "topics", topics);
    }
    int rc = cfg ? json_dump_file(cfg, br->config, JSON_INDENT(2)) : -1;

    json_decref(cfg);
    return rc;
}

/* Everything but the bridge, for up to `cap` orders. */
static int session_start(struct session *s, const struct bench_opts *o, unsigned mask,
                         int ledger, size_t cap, int partitions)
{
    char err[512];
    int express = s->express;

    memset(s, 0, sizeof(*s));
    s->express = express;
    s->o = o;
    s->cap = cap;
    snprintf(s->dir, sizeof(s->dir), "/tmp/ob-bench-XXXXXX");
    if (!mkdtemp(s->dir) || !(s->state = calloc(cap, 1))) {
        s->dir[0] = '\0';
        fprintf(stderr, "bench: cannot create a temp dir\n");
        return -1;
    }
    s->n_br = o->instances > 0 ? o->instances : 1;
    for (int i = 0; i < s->n_br; i++) {
        struct bridge *br = &s->br[i];
        const char *sfx = s->n_br > 1 ? "-" : "";
        char n[16] = "";
        if (s->n_br > 1)
            snprintf(n, sizeof(n), "%d", i + 1);
        snprintf(br->config, sizeof(br->config), "%s/config%s%s.json", s->dir, sfx, n);
        snprintf(br->log, sizeof(br->log), "%s/bridge%s%s.log", s->dir, sfx, n);
        snprintf(br->ledger, sizeof(br->ledger), "%s/ledger%s%s", s->dir, sfx, n);
    }
    if (ob_mock_start(1, &s->mock, err, sizeof(err)) != 0 || create_topics(s, partitions) != 0 ||
        wh_start_sims(mask, o, cap + 65536, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: setup: %s\n", err);
        return -1;
    }
    for (int i = 0; i < s->n_br; i++)
        if (write_config(s, &s->br[i], mask, ledger) != 0) {
            fprintf(stderr, "bench: cannot write %s\n", s->br[i].config);
            return -1;
        }
    if (!(s->producer = bench_producer(ob_mock_bootstraps(s->mock), err, sizeof(err))) ||
        !(s->reader = bench_consumer(ob_mock_bootstraps(s->mock), "fulfillment.status", err,
                                     sizeof(err)))) {
        fprintf(stderr, "bench: setup: %s\n", err);
        return -1;
    }
    return 0;
}

/* Read until `want` outcomes; -1 when none came for STALL_S. */
static int await_outcomes(struct session *s, unsigned long want)
{
    s->last_progress = bench_now();
    while (s->outcomes < want) {
        int status;
        read_outcomes(s, 100);
        if (bridge_exited(s, &status) >= 0) {
            fprintf(stderr, "bench: the bridge exited on its own (status %d)\n", status);
            return -1;
        }
        if (bench_now() - s->last_progress > STALL_S) {
            fprintf(stderr, "bench: FAILED: %lu of %lu orders have no outcome after %.0f s "
                            "without progress\n", want - s->outcomes, want, STALL_S);
            return -1;
        }
    }
    return 0;
}

/* Offsets committed to the end, nothing dropped by the embedded Kafka. */
static int check_kafka(struct session *s)
{
    char report[2048];
    int64_t low = 0;
    int lag = ob_watch_committed_lag(ob_mock_bootstraps(s->mock), GROUP, "orders", &low, report,
                                     sizeof(report));

    if (lag != 0)
        fprintf(stderr, "bench: committed offsets behind the end (%d):\n%s", lag, report);
    if (low != 0)
        fprintf(stderr, "bench: the embedded Kafka dropped orders (low watermarks %" PRId64
                        "): give more --partitions\n", low);
    return lag == 0 && low == 0 ? 0 : -1;
}

static unsigned wh_mask(int wh)
{
    return wh == WH_MIX ? (1u << N_REFERENCE) - 1 : 1u << wh;
}

/* ---- closed loop ---------------------------------------------------------- */

static void closed_result(struct session *s, double cpu0, double bench_cpu0,
                          struct run_result *r)
{
    double spread = (double)(s->last_ms - s->first_ms) / 1000.0;
    double from_start = (double)(s->last_ms - s->spawned_ms) / 1000.0;

    r->orders = s->expected;
    r->rate = spread > 0 ? (double)s->expected / spread : 0;
    r->rate_startup = from_start > 0 ? (double)s->expected / from_start : 0;
    r->wall_s = bench_now() - s->spawned_at;
    r->cpu_us = (bridges_cpu_us(s) - cpu0) / (double)s->expected;
    r->bench_cpu_us = (self_cpu_us() - bench_cpu0) / (double)s->expected;
    r->rss_mb = bridges_mb(s, "VmHWM");
    r->rss_file_mb = bridges_mb(s, "RssFile");
}

int run_closed(const struct bench_opts *o, int wh, int ledger, unsigned long n,
               struct run_result *out)
{
    struct session s;
    double cpu0, bench_cpu0;
    unsigned long created, refused;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (session_start(&s, o, wh_mask(wh), ledger, n + n / 8 + 64, partitions_for(o, n)) != 0 ||
        produce_orders(&s, wh, n) != 0 || flush_orders(&s) != 0) {
        fprintf(stderr, "bench: cannot produce the orders\n");
        goto done;
    }
    bench_cpu0 = self_cpu_us();
    if (bridge_spawn(&s) != 0)
        goto done;
    cpu0 = bridges_cpu_us(&s);
    if (await_outcomes(&s, s.expected) != 0) {
        print_log_tail(&s);
        goto done;
    }
    closed_result(&s, cpu0, bench_cpu0, out);
    rc = bridge_stop(&s);
    read_outcomes(&s, 300); /* late duplicates */
    wh_sim_totals(&created, &refused);
    out->accepted = s.accepted;
    out->other = s.other;
    out->duplicates = s.duplicates + s.foreign;
    out->missing = s.expected - s.outcomes;
    out->ok = rc == 0 && check_kafka(&s) == 0 && out->accepted == n && out->other == 0 &&
              out->duplicates == 0 && created == n && refused == 0;
    if (created != n || refused)
        fprintf(stderr, "bench: warehouses created %lu of %lu orders, refused %lu requests\n",
                created, n, refused);
    rc = 0;
done:
    session_end(&s);
    return rc;
}

/* ---- open loop ------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* Latency quantiles of orders [from, to) that have an outcome. */
static void quantiles(const struct session *s, unsigned long from, unsigned long to,
                      struct latency *l)
{
    int64_t *v = malloc((to - from + 1) * sizeof(*v));
    size_t n = 0;

    for (unsigned long i = from; v && i < to; i++)
        if (s->state[i] == ST_ACCEPTED || s->state[i] == ST_OTHER)
            v[n++] = s->lat_ms[i];
    l->orders = n;
    if (v && n) {
        qsort(v, n, sizeof(*v), cmp_i64);
        l->p50 = (double)v[n * 50 / 100];
        l->p99 = (double)v[n * 99 / 100];
        l->p999 = (double)v[n * 999 / 1000];
        l->max = (double)v[n - 1];
    }
    free(v);
}

static void sleep_until(double t)
{
    double left = t - bench_now();
    struct timespec ts;

    if (left <= 0)
        return;
    ts.tv_sec = (time_t)left;
    ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

/* Produce at `rate` for `seconds`, one tick a millisecond, reading outcomes
 * in between; then wait for the rest of them. */
static int paced_phase(struct session *s, double rate, double seconds, struct latency *l)
{
    unsigned long from = s->next, target = (unsigned long)(rate * seconds), sent = 0;
    double start = bench_now(), tick = start, cpu0 = bridges_cpu_us(s);

    while (sent < target) {
        unsigned long due = (unsigned long)((bench_now() - start) * rate) + 1;
        if (due > target)
            due = target;
        if (due > sent && produce_orders(s, WH_REST, due - sent) != 0)
            return -1;
        sent = due > sent ? due : sent;
        read_outcomes(s, 0);
        tick += 0.001;
        sleep_until(tick);
    }
    l->rate = rate;
    l->achieved = (double)sent / (bench_now() - start);
    if (flush_orders(s) != 0 || await_outcomes(s, s->expected) != 0)
        return -1;
    quantiles(s, from, s->next, l);
    l->cpu_us = (bridges_cpu_us(s) - cpu0) / (double)(s->next - from);
    return 0;
}

/* CPU of this process's thread named `name` (the mock cluster's "rdk:mock"),
 * in µs; -1 when there is none. */
static double thread_cpu_us(const char *name)
{
    char path[300], comm[64];
    double total = -1, cpu;
    struct dirent *de;
    DIR *d = opendir("/proc/self/task");

    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
        if (read_small(path, comm, sizeof(comm)) != 0)
            continue;
        comm[strcspn(comm, "\n")] = '\0';
        if (strcmp(comm, name) != 0)
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/stat", de->d_name);
        if ((cpu = stat_cpu_us(path)) >= 0)
            total = (total < 0 ? 0 : total) + cpu;
    }
    if (d)
        closedir(d);
    return total;
}

/* One rate on a cluster and a bridge of its own: the mock cluster's fetch
 * walks a partition's whole log (librdkafka 2.0's rd_kafka_mock_msgset_find
 * has no index), so a log left by an earlier rate would slow this one. */
static int open_rate(const struct bench_opts *o, double rate, double seconds, struct latency *l)
{
    struct session s;
    unsigned long total = 2000 + (unsigned long)(rate * seconds) + 1;
    double mock0;
    int rc = -1;

    if (session_start(&s, o, 1u << WH_REST, 1, total + 64, partitions_for(o, total)) != 0 ||
        !(s.sent_ms = calloc(s.cap, sizeof(*s.sent_ms))) ||
        !(s.lat_ms = calloc(s.cap, sizeof(*s.lat_ms))) || bridge_spawn(&s) != 0)
        goto done;
    /* warm up: the group formed, connections open, the bridge caught up */
    if (produce_orders(&s, WH_REST, 2000) != 0 || flush_orders(&s) != 0 ||
        await_outcomes(&s, s.expected) != 0)
        goto done;
    mock0 = thread_cpu_us("rdk:mock");
    if (paced_phase(&s, rate, seconds, l) != 0)
        goto done;
    l->mock_cpu_us = mock0 < 0 ? -1 : (thread_cpu_us("rdk:mock") - mock0) / (double)l->orders;
    if (s.other || s.duplicates) {
        fprintf(stderr, "bench: open loop: %lu orders not ACCEPTED, %lu duplicates\n", s.other,
                s.duplicates);
        goto done;
    }
    rc = bridge_stop(&s);
done:
    if (rc != 0 && any_bridge(&s))
        print_log_tail(&s);
    session_end(&s);
    return rc;
}

int run_open(const struct bench_opts *o, const double *rates, size_t n_rates, double seconds,
             struct latency *out)
{
    for (size_t r = 0; r < n_rates; r++)
        if (open_rate(o, rates[r], seconds, &out[r]) != 0)
            return -1;
    return 0;
}

/* ---- a burst queued, express orders during its drain -------------------------- */

/* `n` orders queued, then the bridge started; while it drains them,
 * `express_rate` orders a second go to orders.express (apart: the bridge
 * consumes that topic first) or, `apart` 0, to orders behind the backlog. */
int run_burst(const struct bench_opts *o, unsigned long n, double express_rate, int apart,
              struct burst_result *out)
{
    struct session s = {.express = apart};
    struct latency l = {0};
    unsigned long sent = 0, from;
    double start, tick;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    if (session_start(&s, o, 1u << WH_REST, 1, n + n / 8 + 100000, partitions_for(o, n)) != 0 ||
        !(s.sent_ms = calloc(s.cap, sizeof(*s.sent_ms))) ||
        !(s.lat_ms = calloc(s.cap, sizeof(*s.lat_ms))) || produce_orders(&s, WH_REST, n) != 0 ||
        flush_orders(&s) != 0) {
        fprintf(stderr, "bench: cannot produce the burst\n");
        goto done;
    }
    from = s.next;
    /* the producer learns where orders.express lives now, not at its first express order */
    if (apart) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(s.producer, "orders.express", NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (t && rd_kafka_metadata(s.producer, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
    }
    if (bridge_spawn(&s) != 0)
        goto done;
    /* from the first outcome: the bridge has joined the group and is draining */
    while (!s.outcomes) {
        int status;
        read_outcomes(&s, 100);
        if (bridge_exited(&s, &status) >= 0 || bench_now() - s.spawned_at > STALL_S) {
            fprintf(stderr, "bench: the bridge never started draining\n");
            goto done;
        }
    }
    start = tick = bench_now();
    /* express orders until the backlog is drained, a tick every 10 ms */
    while (s.outcomes < n - n / 100) {
        unsigned long due = (unsigned long)((bench_now() - start) * express_rate);
        int status;
        if (due > sent && produce_to(&s, apart ? "orders.express" : "orders", WH_REST,
                                     due - sent) != 0)
            goto done;
        sent = due > sent ? due : sent;
        read_outcomes(&s, 0);
        if (bridge_exited(&s, &status) >= 0) {
            fprintf(stderr, "bench: the bridge exited on its own (status %d)\n", status);
            goto done;
        }
        if (bench_now() - s.last_progress > STALL_S && s.outcomes) {
            fprintf(stderr, "bench: FAILED: no outcome for %.0f s\n", STALL_S);
            goto done;
        }
        tick += 0.01;
        sleep_until(tick);
    }
    if (flush_orders(&s) != 0 || await_outcomes(&s, s.expected) != 0)
        goto done;
    out->orders = n;
    out->rate = s.last_ms > s.first_ms ? (double)s.expected / ((double)(s.last_ms - s.first_ms) / 1000.0) : 0;
    out->rss_mb = bridges_mb(&s, "VmHWM");
    quantiles(&s, from, s.next, &l);
    out->express = l.orders;
    out->p50 = l.p50;
    out->p99 = l.p99;
    out->max = l.max;
    out->ok = s.accepted == s.expected && s.other == 0 && s.duplicates == 0;
    rc = bridge_stop(&s);
done:
    if (rc != 0 && any_bridge(&s))
        print_log_tail(&s);
    session_end(&s);
    return rc;
}
