/*
 * watch.c — read topics back from the start and compare committed offsets
 * with end offsets; see watch.h.
 */
#include "watch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer.h" /* ob_kafka_log_cb */

struct ob_watch {
    rd_kafka_t *rk;
    rd_kafka_topic_partition_list_t *parts; /* every watched partition */
};

static rd_kafka_t *new_client(rd_kafka_type_t type, const char *bootstraps, const char *group,
                              char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;

    /* A broker that stops answering without closing the connection (the mock
     * cluster's broker_set_down does that) holds requests for socket.timeout.ms:
     * 10 s instead of 60 keeps the tests' own clients from stalling a run. */
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr, errstr_size) ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", "10000", errstr, errstr_size) ||
        (group && rd_kafka_conf_set(conf, "group.id", group, errstr, errstr_size)) ||
        (type == RD_KAFKA_CONSUMER &&
         (rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, errstr_size) ||
          /* A reset (offset out of range, a truncation seen after a leader
           * change) must read again, never skip unread records to the end. */
          rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", errstr, errstr_size))) ||
        (type == RD_KAFKA_PRODUCER &&
         (rd_kafka_conf_set(conf, "message.max.bytes", "33554432", errstr, errstr_size) ||
          rd_kafka_conf_set(conf, "linger.ms", "5", errstr, errstr_size) ||
          rd_kafka_conf_set(conf, "request.timeout.ms", "10000", errstr, errstr_size)))) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* OB_WATCH_DEBUG: librdkafka debug contexts (e.g. fetch,broker) for diagnosing a test */
    if (getenv("OB_WATCH_DEBUG") &&
        rd_kafka_conf_set(conf, "debug", getenv("OB_WATCH_DEBUG"), errstr, errstr_size)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    rk = rd_kafka_new(type, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

rd_kafka_t *ob_watch_producer(const char *bootstraps, char *errstr, size_t errstr_size)
{
    return new_client(RD_KAFKA_PRODUCER, bootstraps, NULL, errstr, errstr_size);
}

int ob_watch_partition_count(rd_kafka_t *rk, const char *topic)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;

    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (md->topic_cnt == 1 && md->topics[0].err == 0)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

int ob_watch_create(const char *bootstraps, const char *const *topics, size_t n_topics,
                    struct ob_watch **out, char *errstr, size_t errstr_size)
{
    struct ob_watch *w = calloc(1, sizeof(*w));
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(64);

    *out = NULL;
    if (!w)
        goto fail;
    w->rk = new_client(RD_KAFKA_CONSUMER, bootstraps, "orderbridge-watch", errstr, errstr_size);
    if (!w->rk)
        goto fail;
    rd_kafka_poll_set_consumer(w->rk);
    for (size_t t = 0; t < n_topics; t++) {
        int n = ob_watch_partition_count(w->rk, topics[t]);
        if (n < 0) {
            snprintf(errstr, errstr_size, "topic %s: no metadata", topics[t]);
            goto fail;
        }
        for (int p = 0; p < n; p++)
            rd_kafka_topic_partition_list_add(parts, topics[t], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    }
    if (rd_kafka_assign(w->rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(errstr, errstr_size, "assign failed");
        goto fail;
    }
    w->parts = parts;
    *out = w;
    return 0;
fail:
    rd_kafka_topic_partition_list_destroy(parts);
    ob_watch_destroy(w);
    return -1;
}

rd_kafka_message_t *ob_watch_next(struct ob_watch *w, int timeout_ms)
{
    for (;;) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(w->rk, timeout_ms);
        if (!msg || !msg->err)
            return msg;
        rd_kafka_message_destroy(msg); /* EOF and transient errors */
    }
}

void ob_watch_destroy(struct ob_watch *w)
{
    if (!w)
        return;
    if (w->rk) {
        rd_kafka_consumer_close(w->rk);
        rd_kafka_destroy(w->rk);
    }
    if (w->parts)
        rd_kafka_topic_partition_list_destroy(w->parts);
    free(w);
}

int ob_watch_caught_up(struct ob_watch *w)
{
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_copy(w->parts);
    char errstr[256], bootstraps[1024];
    size_t size = sizeof(bootstraps);
    rd_kafka_t *rk = NULL;
    int at_end = 1;

    /* Another client asks for the end offsets: on the watch's own connections
     * the question would wait behind its long-polling fetches. */
    if (rd_kafka_conf_get(rd_kafka_conf(w->rk), "bootstrap.servers", bootstraps, &size) !=
            RD_KAFKA_CONF_OK ||
        !(rk = new_client(RD_KAFKA_PRODUCER, bootstraps, NULL, errstr, sizeof(errstr))) ||
        rd_kafka_position(w->rk, pos) != RD_KAFKA_RESP_ERR_NO_ERROR)
        at_end = -1;
    for (int i = 0; i < pos->cnt && at_end == 1; i++) {
        const rd_kafka_topic_partition_t *p = &pos->elems[i];
        int64_t low = 0, high = 0;
        if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &low, &high, 5000))
            at_end = -1;
        else if (high > 0 && p->offset < high) /* also before the first record (offset < 0) */
            at_end = 0;
    }
    if (rk)
        rd_kafka_destroy(rk);
    rd_kafka_topic_partition_list_destroy(pos);
    return at_end;
}

int ob_watch_committed_lag(const char *bootstraps, const char *group, const char *topic,
                           int64_t *low_sum, char *report, size_t report_size)
{
    char errstr[256];
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, bootstraps, group, errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_t *parts = NULL;
    size_t used = 0;
    int n, lagging = 0;

    *low_sum = 0;
    if (report_size)
        report[0] = '\0';
    if (!rk)
        return -1;
    n = ob_watch_partition_count(rk, topic);
    if (n < 0) {
        lagging = -1;
        goto cleanup;
    }
    parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    if (rd_kafka_committed(rk, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        lagging = -1;
        goto cleanup;
    }
    for (int p = 0; p < n; p++) {
        int64_t low = 0, high = 0, committed = parts->elems[p].offset;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000)) {
            lagging = -1;
            goto cleanup;
        }
        *low_sum += low;
        /* An empty partition has nothing to commit. */
        if (high > 0 && committed != high) {
            lagging++;
            if (used < report_size)
                used += (size_t)snprintf(report + used, report_size - used,
                                         "%s [%d]: committed %" PRId64 ", end %" PRId64 "\n",
                                         topic, p, committed, high);
        }
    }
cleanup:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return lagging;
}

int ob_watch_committed_totals(const char *bootstraps, const char *group, const char *topic,
                              int64_t *committed_sum, int64_t *end_sum)
{
    char errstr[256];
    rd_kafka_t *rk = new_client(RD_KAFKA_CONSUMER, bootstraps, group, errstr, sizeof(errstr));
    rd_kafka_topic_partition_list_t *parts = NULL;
    int n, rc = -1;

    *committed_sum = *end_sum = 0;
    if (!rk)
        return -1;
    n = ob_watch_partition_count(rk, topic);
    if (n < 0)
        goto cleanup;
    parts = rd_kafka_topic_partition_list_new(n);
    for (int p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    if (rd_kafka_committed(rk, parts, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        goto cleanup;
    for (int p = 0; p < n; p++) {
        int64_t low = 0, high = 0, committed = parts->elems[p].offset;
        if (rd_kafka_query_watermark_offsets(rk, topic, p, &low, &high, 10000))
            goto cleanup;
        *committed_sum += committed >= 0 ? committed : low;
        *end_sum += high;
    }
    rc = 0;
cleanup:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return rc;
}
