/*
 * replay.c — `orderbridge replay`: send dead letters back through the
 * bridge once their cause is fixed.
 *
 * Reads the dead-letter topic from the start up to its end at launch, keeps
 * the letters the filters select, and produces each original order back to
 * the orders topic with its key and headers plus `ob.replay: 1`. The
 * running bridge then pushes it through its ledger: an order the ledger
 * knows as ACCEPTED is not pushed again (its status is re-emitted); a
 * failed one gets a fresh set of attempts. When the ledger is on this
 * machine, replay reads it too and leaves accepted orders out up front.
 *
 * Letters whose order can never succeed (not JSON, not UTF-8, empty, too
 * large, invalid against order.v1) are skipped and counted: replaying them
 * would only dead-letter them again.
 */
#include "replay.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "config.h"
#include "idempotency.h"
#include "ledger.h"
#include "log.h"
#include "order.h"
#include "producer.h"
#include "router.h"

static const char replay_help[] =
    "usage: orderbridge replay -c FILE --dlq [--warehouse CODE] [--since TIME] [--reason CLASS]\n"
    "                          [--dry-run]\n"
    "\n"
    "Send dead-lettered orders back to the orders topic, marked ob.replay, for the\n"
    "running bridge to push again through its delivery ledger (an order already\n"
    "accepted is never pushed twice). Reads the dead-letter topic from its start to\n"
    "its end at launch.\n"
    "\n"
    "  -c, --config FILE   the bridge's config (Kafka, topics, ledger)\n"
    "      --dlq           replay from the dead-letter topic (the only source)\n"
    "      --warehouse W   only letters for warehouse W (their ob.warehouse header)\n"
    "      --since TIME    only letters dead-lettered at or after TIME: RFC 3339\n"
    "                      (2026-11-11T00:00:00Z), a date (2026-11-11, UTC), or an\n"
    "                      age (90m, 12h, 2d)\n"
    "      --reason CLASS  only letters with this ob.reason (rejected,\n"
    "                      retries_exhausted, encode_failed, crashed, unroutable)\n"
    "      --dry-run       print what would be replayed, send nothing\n"
    "\n"
    "Exit status: 0 every selected letter was replayed (or would be); 1 a Kafka\n"
    "error; 2 usage or config error.\n";

/* Reasons that depend on the warehouse or the config, which may have been
 * fixed since. The others are about the message itself. */
static const char *const replayable[] = {"rejected", "retries_exhausted", "encode_failed",
                                         "crashed", "unroutable"};

struct replay {
    const struct ob_config *cfg;
    const char *warehouse, *reason;
    int64_t since_ms; /* 0: no limit */
    int dry_run;
    struct ob_ledger *ledger;
    rd_kafka_t *consumer, *producer;
    json_t *seen; /* order_id/event/revision already replayed in this run */
    unsigned long read, selected, replayed, accepted_already, duplicates, not_replayable,
        delivered, failed;
};

/* RFC 3339 (Z or +hh:mm), a bare date, or an age like 90m / 12h / 2d. */
static int parse_since(const char *s, int64_t *out_ms)
{
    struct tm tm = {0};
    char *end;
    const char *rest;

    if (*s >= '0' && *s <= '9') {
        long n = strtol(s, &end, 10);
        int64_t unit = *end == 'm' ? 60 : *end == 'h' ? 3600 : *end == 'd' ? 86400 : 0;
        if (unit && end[1] == '\0' && n >= 0) {
            *out_ms = ((int64_t)time(NULL) - n * unit) * 1000;
            return 0;
        }
    }
    rest = strptime(s, "%Y-%m-%d", &tm);
    if (rest && *rest == '\0') {
        *out_ms = (int64_t)timegm(&tm) * 1000;
        return 0;
    }
    rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    if (*rest == '.')
        for (rest++; *rest >= '0' && *rest <= '9'; rest++)
            ;
    int64_t t = (int64_t)timegm(&tm);
    if ((*rest == 'Z' || *rest == 'z') && rest[1] == '\0') {
        *out_ms = t * 1000;
        return 0;
    }
    int hh, mm;
    if ((*rest == '+' || *rest == '-') && sscanf(rest + 1, "%2d:%2d", &hh, &mm) == 2 &&
        strlen(rest) == 6) {
        int64_t off = (int64_t)(hh * 3600 + mm * 60);
        *out_ms = (*rest == '+' ? t - off : t + off) * 1000;
        return 0;
    }
    return -1;
}

static int is_replayable(const char *reason)
{
    for (size_t i = 0; i < sizeof(replayable) / sizeof(replayable[0]); i++)
        if (strcmp(reason, replayable[i]) == 0)
            return 1;
    return 0;
}

/* Already accepted, by this machine's ledger? */
static int accepted_in_ledger(struct replay *r, const struct ob_order *order, const char *wh)
{
    struct ob_ledger_entry e;
    char key[65];

    if (!r->ledger || !wh || ob_idempotency_key(wh, order->order_id, order->event_name,
                                                order->revision, key) != 0)
        return 0;
    return ob_ledger_get(r->ledger, key, &e) == 1 && e.state == OB_LEDGER_DONE &&
           strcmp(e.status, "ACCEPTED") == 0;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct replay *r = opaque;

    (void)rk;
    if (msg->err) {
        r->failed++;
        OB_ERR("replay of %.*s not delivered: %s", (int)msg->key_len, (const char *)msg->key,
               rd_kafka_err2str(msg->err));
    } else {
        r->delivered++;
    }
}

static void consider(struct replay *r, const rd_kafka_message_t *msg)
{
    char reason[64], wh[128], dedupe[256];
    const char *whp;
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(msg, &tstype);

    r->read++;
    if (!ob_header_text(msg, "ob.reason", reason, sizeof(reason)))
        snprintf(reason, sizeof(reason), "unknown");
    whp = ob_header_text(msg, "ob.warehouse", wh, sizeof(wh));
    if (r->warehouse && (!whp || strcmp(whp, r->warehouse) != 0))
        return;
    if (r->reason && strcmp(reason, r->reason) != 0)
        return;
    if (r->since_ms && ts >= 0 && ts < r->since_ms)
        return;
    r->selected++;
    if (!is_replayable(reason) || !msg->payload ||
        ob_order_parse(msg->payload, msg->len, (size_t)r->cfg->pipeline.max_order_bytes, &po,
                       &problem) != 0) {
        r->not_replayable++;
        return;
    }
    snprintf(dedupe, sizeof(dedupe), "%s/%s/%" PRId64, po->order.order_id, po->order.event_name,
             (int64_t)po->order.revision);
    if (json_object_get(r->seen, dedupe)) {
        r->duplicates++;
    } else if (accepted_in_ledger(r, &po->order, whp)) {
        r->accepted_already++;
    } else if (r->dry_run) {
        json_object_set_new(r->seen, dedupe, json_true());
        printf("would replay %s (%s, %s)\n", dedupe, reason, whp ? whp : "-");
        r->replayed++;
    } else {
        rd_kafka_headers_t *h = ob_headers_foreign(msg);
        rd_kafka_resp_err_t err;
        rd_kafka_header_add(h, "ob.replay", -1, "1", 1);
        err = rd_kafka_producev(r->producer, RD_KAFKA_V_TOPIC(r->cfg->kafka.topic_orders),
                                RD_KAFKA_V_KEY(msg->key, msg->key_len),
                                RD_KAFKA_V_VALUE(msg->payload, msg->len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                                RD_KAFKA_V_END);
        if (err) {
            rd_kafka_headers_destroy(h);
            r->failed++;
            OB_ERR("cannot queue the replay of %s: %s", dedupe, rd_kafka_err2str(err));
        } else {
            json_object_set_new(r->seen, dedupe, json_true());
            r->replayed++;
        }
        rd_kafka_poll(r->producer, 0);
    }
    ob_order_free(po);
}

static rd_kafka_t *make_client(const struct ob_config *cfg, rd_kafka_type_t type, void *opaque,
                               char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const struct ob_kv *own = type == RD_KAFKA_CONSUMER ? cfg->kafka.consumer : cfg->kafka.producer;
    size_t n_own = type == RD_KAFKA_CONSUMER ? cfg->kafka.n_consumer : cfg->kafka.n_producer;
    rd_kafka_t *rk;

    if (ob_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          errstr_size) ||
        ob_kafka_conf_apply(conf, cfg->kafka.properties, cfg->kafka.n_properties,
                            "$.kafka.properties", errstr, errstr_size) ||
        ob_kafka_conf_apply(conf, own, n_own,
                            type == RD_KAFKA_CONSUMER ? "$.kafka.consumer" : "$.kafka.producer",
                            errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (type == RD_KAFKA_CONSUMER) {
        /* No group: plain assignment, nothing committed. */
        rd_kafka_conf_set(conf, "group.id", "orderbridge-replay", NULL, 0);
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", NULL, 0);
    } else {
        rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
        rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
        rd_kafka_conf_set_opaque(conf, opaque);
    }
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    rk = rd_kafka_new(type, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Assign every partition of the DLQ topic from its start; returns the
 * number of partitions with something to read (their end offsets are
 * stored in *ends), or -1. */
static int assign_dlq(struct replay *r, int64_t **ends, char *errstr, size_t errstr_size)
{
    const char *topic = r->cfg->kafka.topic_dlq;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->consumer, topic, NULL);
    rd_kafka_resp_err_t err = rd_kafka_metadata(r->consumer, 0, rkt, &md, 10000);
    rd_kafka_topic_partition_list_t *list;
    int open = 0, n;

    rd_kafka_topic_destroy(rkt);
    if (err || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(errstr, errstr_size, "cannot read topic %s: %s", topic,
                 rd_kafka_err2str(err ? err : md->topic_cnt ? md->topics[0].err
                                                             : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    n = md->topics[0].partition_cnt;
    *ends = calloc((size_t)(n > 0 ? n : 1), sizeof(**ends));
    list = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t low = 0, high = 0;
        if (id < 0 || id >= n ||
            rd_kafka_query_watermark_offsets(r->consumer, topic, id, &low, &high, 10000)) {
            snprintf(errstr, errstr_size, "cannot read the offsets of %s [%d]", topic, (int)id);
            open = -1;
            break;
        }
        (*ends)[id] = high;
        if (high > low) {
            rd_kafka_topic_partition_list_add(list, topic, id)->offset = low;
            open++;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (open > 0 && rd_kafka_assign(r->consumer, list) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "cannot assign %s", topic);
        open = -1;
    }
    rd_kafka_topic_partition_list_destroy(list);
    return open;
}

static int run_replay(struct replay *r)
{
    char errstr[512];
    int64_t *ends = NULL;
    int open, rc = 1;

    r->consumer = make_client(r->cfg, RD_KAFKA_CONSUMER, r, errstr, sizeof(errstr));
    r->producer = r->consumer && !r->dry_run
                      ? make_client(r->cfg, RD_KAFKA_PRODUCER, r, errstr, sizeof(errstr))
                      : NULL;
    if (!r->consumer || (!r->dry_run && !r->producer)) {
        fprintf(stderr, "orderbridge replay: %s\n", errstr);
        goto out;
    }
    open = assign_dlq(r, &ends, errstr, sizeof(errstr));
    if (open < 0) {
        fprintf(stderr, "orderbridge replay: %s\n", errstr);
        goto out;
    }
    while (open > 0) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(r->consumer, 10000);
        if (!msg) {
            fprintf(stderr, "orderbridge replay: no progress reading %s for 10 s\n",
                    r->cfg->kafka.topic_dlq);
            goto out;
        }
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end offsets above say when we are done */
        } else if (msg->err) {
            fprintf(stderr, "orderbridge replay: %s\n", rd_kafka_message_errstr(msg));
            rd_kafka_message_destroy(msg);
            goto out;
        } else {
            /* Only up to the end at launch: replays that fail again are
             * dead-lettered after it and not read in this run. */
            if (msg->offset < ends[msg->partition])
                consider(r, msg);
            if (msg->offset + 1 == ends[msg->partition])
                open--;
        }
        rd_kafka_message_destroy(msg);
    }
    if (r->producer && rd_kafka_flush(r->producer, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fprintf(stderr, "orderbridge replay: %d record(s) not delivered in 30 s\n",
                rd_kafka_outq_len(r->producer));
    else if (r->failed == 0)
        rc = 0;
    printf("replay: read %lu dead letters, %lu selected: %s %lu, already accepted %lu, "
           "repeated %lu, not replayable %lu",
           r->read, r->selected, r->dry_run ? "would replay" : "replayed", r->replayed,
           r->accepted_already, r->duplicates, r->not_replayable);
    if (!r->dry_run)
        printf(", delivered %lu, failed %lu", r->delivered, r->failed);
    printf("\n");
out:
    free(ends);
    if (r->consumer) {
        rd_kafka_consumer_close(r->consumer);
        rd_kafka_destroy(r->consumer);
    }
    if (r->producer)
        rd_kafka_destroy(r->producer);
    return rc;
}

int ob_replay_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"dlq", no_argument, NULL, 'd'},
        {"warehouse", required_argument, NULL, 'w'}, {"since", required_argument, NULL, 's'},
        {"reason", required_argument, NULL, 'r'}, {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct replay r = {0};
    const char *path = NULL;
    struct ob_config *cfg = NULL;
    char errbuf[8192];
    int dlq = 0, opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'd':
            dlq = 1;
            break;
        case 'w':
            r.warehouse = optarg;
            break;
        case 's':
            if (parse_since(optarg, &r.since_ms) != 0) {
                fprintf(stderr, "orderbridge replay: --since: cannot read \"%s\"\n\n%s", optarg,
                        replay_help);
                return 2;
            }
            break;
        case 'r':
            r.reason = optarg;
            break;
        case 'n':
            r.dry_run = 1;
            break;
        case 'h':
            fputs(replay_help, stdout);
            return 0;
        default:
            fputs(replay_help, stderr);
            return 2;
        }
    }
    if (!path || !dlq || optind != argc) {
        fprintf(stderr, "orderbridge replay: %s\n\n%s",
                !path ? "-c FILE is required" : !dlq ? "--dlq is required (the only source)"
                                                     : "unexpected argument",
                replay_help);
        return 2;
    }
    /* Kafka and topics only: the warehouses' secrets need not be here. */
    if (ob_config_load_ex(path, OB_CONFIG_NO_WAREHOUSE_SECRETS, &cfg, errbuf, sizeof(errbuf)) !=
        0) {
        fprintf(stderr, "orderbridge replay: %s:\n%s", path, errbuf);
        return 2;
    }
    if (r.warehouse && !ob_config_warehouse(cfg, r.warehouse))
        OB_WARN("--warehouse %s is not in the config; letters may still name it", r.warehouse);
    r.cfg = cfg;
    r.seen = json_object();
    if (cfg->ledger.path) {
        struct ob_ledger_options lo = {.path = cfg->ledger.path, .read_only = 1};
        if (ob_ledger_open(&lo, &r.ledger, errbuf, sizeof(errbuf)) != 0) {
            OB_INFO("ledger %s not readable here (%s): the bridge's own ledger still guards "
                    "against a second push",
                    cfg->ledger.path, errbuf);
            r.ledger = NULL;
        }
    }
    rc = run_replay(&r);
    ob_ledger_close(r.ledger);
    json_decref(r.seen);
    ob_config_destroy(cfg);
    return rc;
}
