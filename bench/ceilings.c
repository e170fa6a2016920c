/*
 * ceilings.c — what each part can do alone on this machine: the adapters'
 * encode in process, a plain librdkafka consumer and kcat draining the
 * orders topic, wrk POSTing the rest adapter's own request to a simulator.
 */
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "bench.h"
#include "config.h"
#include "idempotency.h"
#include "mock.h"
#include "order.h"
#include "sample.h"

extern char **environ;

/* ---- helpers ---------------------------------------------------------------- */

/* Run argv with stdout to `out` (NULL: /dev/null), stderr to /dev/null;
 * its exit status, or -1. */
static int run_tool(char *const argv[], const char *out)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null",
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0)
        pid = 0;
    posix_spawn_file_actions_destroy(&fa);
    if (pid && waitpid(pid, &status, 0) == pid && WIFEXITED(status))
        return WEXITSTATUS(status);
    return -1;
}

static int have_tool(const char *name)
{
    char *argv[] = {"sh", "-c", NULL, NULL};
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "command -v %s", name);
    argv[2] = cmd;
    return run_tool(argv, NULL) == 0;
}

/* An in-process config with every warehouse (their simulators' ports when
 * they run), its adapters opened as the bridge opens them. */
static struct ob_config *open_adapters(struct ob_adapter_instance *inst[N_WH])
{
    json_t *doc = wh_config("127.0.0.1:9", (1u << N_WH) - 1, NULL);
    char *text = doc ? json_dumps(doc, 0) : NULL;
    struct ob_config *cfg = NULL;
    char err[4096];

    json_decref(doc);
    if (!text || ob_config_parse(text, strlen(text), "<bench>", &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: config: %s\n", text ? err : "cannot build it");
        free(text);
        return NULL;
    }
    free(text);
    for (int w = 0; w < N_WH; w++)
        if (ob_adapter_open(cfg, ob_config_warehouse(cfg, wh_code(w)), &inst[w], err,
                            sizeof(err)) != 0) {
            fprintf(stderr, "bench: adapter %s: %s\n", wh_adapter(w), err);
            while (w-- > 0)
                ob_adapter_close(inst[w]);
            ob_config_destroy(cfg);
            return NULL;
        }
    return cfg;
}

static void close_adapters(struct ob_config *cfg, struct ob_adapter_instance *inst[N_WH])
{
    for (int w = 0; w < N_WH; w++)
        ob_adapter_close(inst[w]);
    ob_config_destroy(cfg);
}

/* Parse, derive the key, encode: what the bridge does per order before the
 * push. encode_us gets the encode alone. 0, or -1 when it fails. */
static int encode_one(struct ob_adapter_instance *inst, const char *doc, size_t len,
                      double *encode_us, struct ob_request *req)
{
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    char idem[65], err[512];
    double t;
    int rc = -1;

    /* as the bridge: the jansson document only for an adapter that reads it */
    if (ob_order_parse_lean(doc, len, 1 << 20, &po, &problem) != 0 ||
        (!(inst->plugin.vt.flags & OB_ADAPTER_NO_DOC) && ob_order_doc(po, err, sizeof(err)) != 0)) {
        ob_order_free(po);
        return -1;
    }
    if (ob_idempotency_key(inst->wh->code, po->order.order_id, po->order.event_name,
                           po->order.revision, idem) == 0) {
        struct ob_delivery d = {.warehouse = inst->wh->code, .idempotency_key = idem,
                                .trace_id = "bench", .attempt = 1};
        t = bench_now();
        rc = inst->plugin.vt.encode(inst->state, &po->order, &d, req, err, sizeof(err));
        *encode_us += (bench_now() - t) * 1e6;
    }
    ob_order_free(po);
    return rc;
}

/* ---- encode cost ------------------------------------------------------------ */

static int encode_adapter(struct ob_adapter_instance *inst, int w, char **docs, size_t *lens,
                          unsigned long k, struct encode_cost *out)
{
    double encode_us = 0, start = bench_now();

    for (unsigned long i = 0; i < k; i++) {
        struct ob_request req = {0};
        int rc = encode_one(inst, docs[i], lens[i], &encode_us, &req);
        ob_request_reset(&req);
        if (rc != 0) {
            fprintf(stderr, "bench: %s cannot encode sample order %lu\n", wh_adapter(w), i);
            return -1;
        }
    }
    out->orders = k;
    out->encode_us = encode_us / (double)k;
    out->parse_encode_us = (bench_now() - start) * 1e6 / (double)k;
    return 0;
}

int ceiling_encode(unsigned long k, struct encode_cost out[N_WH])
{
    struct ob_adapter_instance *inst[N_WH] = {0};
    struct ob_config *cfg = open_adapters(inst);
    char **docs = calloc(k, sizeof(*docs));
    size_t *lens = calloc(k, sizeof(*lens));
    unsigned long n = 0, index = 0;
    int rc = cfg && docs && lens ? 0 : -1;

    /* orders with a county, so that every adapter (EMS too) takes them */
    while (rc == 0 && n < k) {
        docs[n] = bench_order(77, index++, WH_REST, &lens[n]);
        if (!docs[n])
            rc = -1;
        else if (ob_sample_has_district(docs[n], lens[n]))
            n++;
        else
            free(docs[n]);
    }
    for (int w = 0; rc == 0 && w < N_WH; w++)
        rc = encode_adapter(inst[w], w, docs, lens, k, &out[w]);
    for (unsigned long i = 0; docs && i < n; i++)
        free(docs[i]);
    free(docs);
    free(lens);
    if (cfg)
        close_adapters(cfg, inst);
    return rc;
}

/* ---- Kafka ------------------------------------------------------------------ */

static int produce_samples(const char *bootstraps, unsigned long n)
{
    char err[512], key[64];
    rd_kafka_t *rk = bench_producer(bootstraps, err, sizeof(err));
    int rc = rk ? 0 : -1;

    for (unsigned long i = 0; rc == 0 && i < n; i++) {
        size_t len = 0;
        char *doc = bench_order(99, i, WH_REST, &len);
        snprintf(key, sizeof(key), "DEMO-99-%08lu", i);
        rc = doc ? bench_produce(rk, "orders", key, doc, len, 0) : -1;
    }
    if (rk) {
        rd_kafka_flush(rk, 60000);
        rc = rc || rd_kafka_outq_len(rk) > 0 ? -1 : 0;
        rd_kafka_destroy(rk);
    }
    return rc;
}

/* Seconds a plain consumer takes to read n records, -1 on failure. */
static double drain(const char *bootstraps, unsigned long n)
{
    char err[512];
    rd_kafka_t *rk = bench_consumer(bootstraps, "orders", err, sizeof(err));
    double start = bench_now(), last = start;
    unsigned long got = 0;

    if (!rk)
        return -1;
    while (got < n && bench_now() - last < 10) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        got += !m->err;
        last = bench_now();
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? last - start : -1;
}

/* kcat reading the topic to its end; -1 when it fails or is missing. */
static double kcat(const char *bootstraps)
{
    char *argv[] = {"kcat", "-C", "-b", (char *)bootstraps, "-t", "orders", "-o", "beginning",
                    "-e", "-q", NULL};
    double start = bench_now();

    if (!have_tool("kcat") || run_tool(argv, NULL) != 0)
        return -1;
    return bench_now() - start;
}

int ceiling_kafka(const struct bench_opts *o, unsigned long n, double *consumer_per_s,
                  double *kcat_per_s)
{
    struct ob_mock *mock = NULL;
    char err[512];
    double t;

    *consumer_per_s = *kcat_per_s = -1;
    if (ob_mock_start(1, &mock, err, sizeof(err)) != 0 ||
        ob_mock_create_topic(mock, "orders", partitions_for(o, n)) != 0 ||
        produce_samples(ob_mock_bootstraps(mock), n) != 0) {
        fprintf(stderr, "bench: kafka ceiling: cannot set up the topic\n");
        ob_mock_stop(mock);
        return -1;
    }
    if ((t = drain(ob_mock_bootstraps(mock), n)) > 0)
        *consumer_per_s = (double)n / t;
    if ((t = kcat(ob_mock_bootstraps(mock))) > 0)
        *kcat_per_s = (double)n / t;
    ob_mock_stop(mock);
    return *consumer_per_s > 0 ? 0 : -1;
}

/* ---- HTTP ------------------------------------------------------------------- */

/* A Lua long string that `s` cannot end early. */
static void lua_string(FILE *f, const char *s, size_t len)
{
    fprintf(f, "[=====[\n");
    fwrite(s, 1, len, f);
    fprintf(f, "]=====]");
}

/* The wrk script: the request as the bridge sends it, its reference_id
 * (the order id) made unique per request so that every one creates. */
static int write_lua(const char *path, const struct ob_request *req, const char *order_id)
{
    const char *at = req->body ? strstr(req->body, order_id) : NULL;
    size_t id_len = strlen(order_id);
    FILE *f;

    if (!at || id_len < 8 || !(f = fopen(path, "w")))
        return -1;
    fprintf(f, "wrk.method = \"%s\"\n", req->method);
    for (size_t i = 0; i < req->n_headers; i++) {
        fprintf(f, "wrk.headers[\"%s\"] = ", req->headers[i].name);
        lua_string(f, req->headers[i].value, strlen(req->headers[i].value));
        fputc('\n', f);
    }
    fputs("local pre = ", f);
    lua_string(f, req->body, (size_t)(at - req->body));
    fputs("\nlocal post = ", f);
    lua_string(f, at + id_len, req->body_len - (size_t)(at - req->body) - id_len);
    fprintf(f, "\nlocal threads, n = 0, 0\n"
               "function setup(thread) thread:set(\"tid\", threads); threads = threads + 1 end\n"
               "function request()\n"
               "  n = n + 1\n"
               "  return wrk.format(nil, nil, nil, pre .. string.format(\"W%%d-%%0%zud\", tid, n)"
               " .. post)\n"
               "end\n",
            id_len - 3);
    return fclose(f) == 0 ? 0 : -1;
}

/* The rest adapter's request for one sample order, to the running sim. */
static int rest_request(struct ob_request *req, char *order_id, size_t id_size)
{
    struct ob_adapter_instance *inst[N_WH] = {0};
    struct ob_config *cfg = open_adapters(inst);
    size_t len = 0;
    char *doc = bench_order(55, 1, WH_REST, &len);
    double unused = 0;
    int rc = cfg && doc ? encode_one(inst[WH_REST], doc, len, &unused, req) : -1;

    static char method[16]; /* the adapter's static string goes with it */

    snprintf(order_id, id_size, "DEMO-55-%08d", 1);
    if (rc == 0 && req->method) {
        snprintf(method, sizeof(method), "%s", req->method);
        req->method = method;
    }
    free(doc);
    if (cfg)
        close_adapters(cfg, inst);
    return rc;
}

/* Requests/sec from wrk's output; -1 when not there. */
static double wrk_rate(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[256];
    double rate = -1;
    unsigned long non2xx = 0;

    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        sscanf(line, "Requests/sec: %lf", &rate);
        sscanf(line, "  Non-2xx or 3xx responses: %lu", &non2xx);
    }
    fclose(f);
    if (non2xx) {
        fprintf(stderr, "bench: wrk: %lu answers were not 2xx\n", non2xx);
        return -1;
    }
    return rate;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int ceiling_http(const struct bench_opts *o, double *req_per_s)
{
    char dir[] = "/tmp/ob-bench-wrk-XXXXXX", lua[64], out[64], url[256], err[512], id[32];
    char *argv[] = {"wrk", "-t2", "-c64", "-d5s", "-s", lua, url, NULL};
    struct ob_request req = {0};
    unsigned long created, refused;
    int rc = -1;

    *req_per_s = -1;
    if (!have_tool("wrk") || !mkdtemp(dir))
        return -1;
    snprintf(lua, sizeof(lua), "%s/post.lua", dir);
    snprintf(out, sizeof(out), "%s/wrk.out", dir);
    if (wh_start_sims(1u << WH_REST, o, 4u << 20, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench: simulator: %s\n", err);
        goto done;
    }
    if (rest_request(&req, id, sizeof(id)) != 0 || write_lua(lua, &req, id) != 0) {
        fprintf(stderr, "bench: cannot build the wrk script\n");
        goto done;
    }
    snprintf(url, sizeof(url), "%s", req.url);
    if (run_tool(argv, out) == 0 && (*req_per_s = wrk_rate(out)) > 0)
        rc = 0;
    wh_sim_totals(&created, &refused);
    if (refused) {
        fprintf(stderr, "bench: wrk: the simulator refused %lu requests\n", refused);
        *req_per_s = -1;
        rc = -1;
    }
    if (o->verbose)
        fprintf(stderr, "bench: wrk: %lu orders created, body %zu bytes\n", created,
                req.body_len);
done:
    ob_request_reset(&req);
    wh_stop_sims();
    if (!o->keep)
        nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return rc;
}
