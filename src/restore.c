/* restore.c — the order-state changelog read into the ledger (see restore.h). */
#include "restore.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "log.h"
#include "producer.h"
#include "state_record.h"

#define QUERY_TIMEOUT_MS 5000 /* the watermarks of one partition */
#define FLUSH_EVERY 4096      /* records applied per ledger transaction */

struct part {
    int32_t id;
    int64_t end; /* the high watermark when the restore began */
    int done;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A consumer outside the group: assign() only, nothing committed. */
static rd_kafka_t *reader_new(const struct ob_config *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    if (ob_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          errstr_size) ||
        ob_kafka_conf_set(conf, "group.id", "orderbridge-restore", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "client.id", "orderbridge-restore", errstr, errstr_size) ||
        ob_kafka_conf_apply(conf, cfg->kafka.properties, cfg->kafka.n_properties,
                            "$.kafka.properties", errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Partitions of `topic`: > 0, 0 when it does not exist, -1 when Kafka
 * did not answer. */
static int partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t err = rkt ? rd_kafka_metadata(rk, 0, rkt, &md, QUERY_TIMEOUT_MS)
                                  : RD_KAFKA_RESP_ERR__INVALID_ARG;
    int n = -1;

    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (!err && md->topic_cnt == 1)
        n = md->topics[0].err ? 0 : md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    return n;
}

/* `topic` (the config's `path`) must have `orders` partitions. */
static int check_copartitioned(rd_kafka_t *rk, const struct ob_config *cfg, const char *path,
                               const char *topic, const char *how, int orders, char *errstr,
                               size_t errstr_size)
{
    int n = partition_count(rk, topic);

    if (orders < 0 || n < 0) {
        OB_WARN("cannot check the partitions of %s and %s now (Kafka did not answer): they "
                "must be equal", cfg->kafka.topic_orders, topic);
    } else if (n == 0) {
        snprintf(errstr, errstr_size,
                 "%s: topic %s does not exist; create it%s with the %d partitions of %s", path,
                 topic, how, orders, cfg->kafka.topic_orders);
        return -1;
    } else if (orders > 0 && n != orders) {
        snprintf(errstr, errstr_size,
                 "%s: topic %s has %d partitions and %s %d: they must be equal (an order's "
                 "state and callbacks are kept in the partition numbered like the order's)",
                 path, topic, n, cfg->kafka.topic_orders, orders);
        return -1;
    }
    return 0;
}

int ob_restore_check_topics(const struct ob_config *cfg, int *orders_partitions, char *errstr,
                            size_t errstr_size)
{
    rd_kafka_t *rk = reader_new(cfg, errstr, errstr_size);
    int orders, rc;

    *orders_partitions = 0;
    if (!rk)
        return -1;
    orders = partition_count(rk, cfg->kafka.topic_orders);
    rc = check_copartitioned(rk, cfg, "$.kafka.topics.state", cfg->kafka.topic_state,
                             " compacted,", orders, errstr, errstr_size);
    if (rc == 0 && cfg->kafka.topic_callbacks)
        rc = check_copartitioned(rk, cfg, "$.kafka.topics.callbacks",
                                 cfg->kafka.topic_callbacks, "", orders, errstr, errstr_size);
    if (orders > 0)
        *orders_partitions = orders;
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static struct part *find(struct part *ps, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ps[i].id == id)
            return &ps[i];
    return NULL;
}

static void apply(struct ob_ledger *ledger, const rd_kafka_message_t *msg,
                  struct ob_restore_stats *st)
{
    static struct ob_order_state s; /* the loop thread's: off its stack */
    char err[256];

    st->records++;
    st->bytes += msg->len;
    if (ob_state_decode(msg->key, msg->key_len, msg->payload, msg->len, &s, err,
                        sizeof(err)) != 0) {
        st->refused++;
        OB_WARN("restore: %s [%d] offset %" PRId64 ": not a state record, skipped: %s",
                rd_kafka_topic_name(msg->rkt), (int)msg->partition, msg->offset, err);
        return;
    }
    ob_ledger_apply_state(ledger, &s);
    /* Transactions of bounded size: a large restore never meets the map's
     * end inside one, where eviction would drop what it staged. */
    if (st->records % FLUSH_EVERY == 0)
        ob_ledger_flush(ledger);
}

int ob_restore(const struct ob_config *cfg, struct ob_ledger *ledger, const int32_t *parts,
               size_t n, int timeout_ms, struct ob_restore_stats *st, char *errstr,
               size_t errstr_size)
{
    const char *topic = cfg->kafka.topic_state;
    double start = now_s(), deadline = start + timeout_ms / 1000.0;
    struct part *ps = calloc(n ? n : 1, sizeof(*ps));
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    rd_kafka_t *rk = NULL;
    size_t left = 0;
    int rc = -1;

    memset(st, 0, sizeof(*st));
    errstr[0] = '\0';
    if (!ps || !list || !(rk = reader_new(cfg, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < n; i++) {
        int64_t low = 0, high = 0, from = ob_ledger_checkpoint(ledger, topic, parts[i]);
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(rk, topic, parts[i], &low,
                                                                   &high, QUERY_TIMEOUT_MS);
        if (err) {
            snprintf(errstr, errstr_size, "%s [%d]: %s", topic, (int)parts[i],
                     rd_kafka_err2str(err));
            goto out;
        }
        ps[i] = (struct part){.id = parts[i], .end = high, .done = 1};
        if (from < low) /* never read, or compacted away before it */
            from = low;
        if (from >= high)
            continue; /* nothing after what the ledger holds */
        ps[i].done = 0;
        left++;
        rd_kafka_topic_partition_list_add(list, topic, parts[i])->offset = from;
    }
    st->partitions = left;
    if (left && rd_kafka_assign(rk, list) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "%s: cannot assign the partitions", topic);
        goto out;
    }
    while (left && now_s() < deadline) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        struct part *p;
        if (!msg)
            continue;
        p = find(ps, n, msg->partition);
        if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p && !p->done) {
                p->done = 1;
                left--;
            }
        } else if (msg->err) {
            OB_WARN("restore: %s", rd_kafka_message_errstr(msg));
        } else if (p && !p->done) {
            apply(ledger, msg, st);
            if (msg->offset + 1 >= p->end) {
                p->done = 1;
                left--;
            }
        }
        rd_kafka_message_destroy(msg);
    }
    /* What was read to its end is held: the next restore starts there. */
    for (size_t i = 0; i < n; i++)
        if (ps[i].done && ps[i].end > 0)
            ob_ledger_set_checkpoint(ledger, topic, ps[i].id, ps[i].end);
    ob_ledger_flush(ledger);
    if (left) {
        snprintf(errstr, errstr_size, "%s: %zu partition(s) not read to their end within %d ms",
                 topic, left, timeout_ms);
        goto out;
    }
    rc = 0;
out:
    st->seconds = now_s() - start;
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    if (list)
        rd_kafka_topic_partition_list_destroy(list);
    free(ps);
    return rc;
}

/* ---- migration of an older ledger ----------------------------------------- */

#define MIGRATED "state_changelog" /* the ledger's meta name: 1 once migrated */
#define MIGRATE_BATCH 4096
#define MIGRATE_FLUSH_MS 60000

struct migration {
    size_t failed;
    rd_kafka_resp_err_t err;
};

static void migrated_one(void *opaque, rd_kafka_resp_err_t err, int32_t partition,
                         int64_t offset, void *arg)
{
    struct migration *m = arg;

    (void)opaque;
    (void)partition;
    (void)offset;
    if (err) {
        m->failed++;
        m->err = err;
    }
}

int ob_restore_migrate(const struct ob_config *cfg, struct ob_ledger *ledger, size_t *orders,
                       char *errstr, size_t errstr_size)
{
    static struct ob_order_state s; /* the loop thread's: off its stack */
    struct migration m = {0};
    struct ob_producer *p = NULL;
    char id[65] = "";
    size_t indexed = 0, n = 0;
    double start = now_s();
    int rc;

    *orders = 0;
    if (ob_ledger_meta(ledger, MIGRATED) == 1)
        return 0;
    do { /* bounded transactions */
        size_t k = 0;
        rc = ob_ledger_index_tracks(ledger, MIGRATE_BATCH, &k);
        indexed += k;
        if (rc >= 0 && ob_ledger_flush(ledger) != 0)
            rc = -1;
    } while (rc == 1);
    if (rc < 0) {
        snprintf(errstr, errstr_size, "migrating the ledger: indexing its orders failed");
        return -1;
    }
    /* A new ledger (the common case) holds no order: no producer for it. */
    rc = ob_ledger_order_next(ledger, id);
    if (rc == 1 && ob_producer_create(cfg, -1, migrated_one, &m, &p, errstr, errstr_size) != 0)
        return -1;
    for (; rc == 1; rc = ob_ledger_order_next(ledger, id)) {
        size_t len;
        char *value;
        if (ob_ledger_order_state(ledger, id, &s) != 1)
            continue; /* its records have gone since */
        if (!(value = ob_state_encode(&s, &len))) {
            OB_WARN("migrating the ledger: the state of order %s cannot be encoded, skipped", id);
            continue;
        }
        rd_kafka_resp_err_t err;
        while ((err = ob_producer_state(p, id, value, len, NULL)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            ob_producer_flush(p, 100);
        free(value);
        if (err) {
            m.failed++;
            m.err = err;
            break;
        }
        n++;
    }
    if (p && ob_producer_flush(p, MIGRATE_FLUSH_MS) > 0 && !m.failed) {
        m.err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        m.failed = 1;
    }
    ob_producer_destroy(p);
    if (rc < 0 || m.failed) {
        snprintf(errstr, errstr_size, "migrating the ledger: %zu of %zu order states not written "
                 "to %s: %s", m.failed, n, cfg->kafka.topic_state,
                 rc < 0 ? "the ledger cannot be read" : rd_kafka_err2str(m.err));
        return -1;
    }
    if (ob_ledger_set_meta(ledger, MIGRATED, 1) != 0 || ob_ledger_flush(ledger) != 0) {
        snprintf(errstr, errstr_size, "migrating the ledger: cannot mark it done");
        return -1;
    }
    *orders = n;
    if (n || indexed)
        OB_INFO("ledger migrated to %s: %zu order states written (%zu tracks indexed) in %.2f s",
                cfg->kafka.topic_state, n, indexed, now_s() - start);
    return 0;
}
