#include "producer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "redact.h"

#define OUTPUT_TOPICS 5 /* status, dlq, retry, state, callbacks */

struct ob_producer {
    rd_kafka_t *rk;
    rd_kafka_queue_t *main_queue;
    const struct ob_config *cfg;
    ob_delivery_cb cb;
    void *cb_arg;
    rd_kafka_topic_t *known[OUTPUT_TOPICS]; /* looked up at start */
};

int ob_kafka_conf_apply(rd_kafka_conf_t *conf, const struct ob_kv *kv, size_t n, const char *where,
                        char *errstr, size_t errstr_size)
{
    char msg[256];

    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i].key, kv[i].value, msg, sizeof(msg)) != RD_KAFKA_CONF_OK) {
            snprintf(errstr, errstr_size, "%s[\"%s\"]: %s", where, kv[i].key, msg);
            return -1;
        }
    }
    return 0;
}

int ob_kafka_check_properties(const struct ob_config *cfg, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *consumer = rd_kafka_conf_new(), *producer = rd_kafka_conf_new();
    int rc = -1;

    if (ob_kafka_conf_apply(consumer, cfg->kafka.properties, cfg->kafka.n_properties,
                            "$.kafka.properties", errstr, errstr_size) == 0 &&
        ob_kafka_conf_apply(consumer, cfg->kafka.consumer, cfg->kafka.n_consumer,
                            "$.kafka.consumer", errstr, errstr_size) == 0 &&
        ob_kafka_conf_apply(producer, cfg->kafka.producer, cfg->kafka.n_producer,
                            "$.kafka.producer", errstr, errstr_size) == 0)
        rc = 0;
    rd_kafka_conf_destroy(consumer);
    rd_kafka_conf_destroy(producer);
    return rc;
}

/* While a broker is down librdkafka reports each failed attempt, from
 * each client (and each error twice: from the broker's thread, and again
 * as an error event): its errors and warnings are held back per kind. */
#define KAFKA_LOG_WINDOW_MS 30000
#define KAFKA_LOG_QUIET_MS 10000

static struct ob_log_limit kafka_limit = OB_LOG_LIMIT_INIT(KAFKA_LOG_WINDOW_MS, KAFKA_LOG_QUIET_MS);

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What makes two librdkafka messages the same kind: the text without the
 * thread ("[thrd:app]: "), the client's name, and the tail that counts
 * time and earlier repeats ("(after 0ms in state CONNECT, 1 identical
 * error(s) suppressed)"). */
static void kafka_log_kind(const rd_kafka_t *rk, const char *buf, char *out, size_t size)
{
    const char *name = rd_kafka_name(rk), *end;
    size_t name_len = strlen(name);

    if (strncmp(buf, "[thrd:", 6) == 0 && (end = strstr(buf, "]: ")))
        buf = end + 3;
    if (strncmp(buf, name, name_len) == 0 && strncmp(buf + name_len, ": ", 2) == 0)
        buf += name_len + 2;
    end = strstr(buf, " (after ");
    snprintf(out, size, "%.*s", end ? (int)(end - buf) : (int)strlen(buf), buf);
}

void ob_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    enum ob_log_level ours = level <= 3 ? OB_LOG_ERROR
                             : level == 4 ? OB_LOG_WARN
                             : level <= 6 ? OB_LOG_INFO
                                          : OB_LOG_DEBUG;
    unsigned long held = 0;
    int64_t span_ms = 0;
    char kind[512];

    if (!ob_log_enabled(ours))
        return;
    if (ours <= OB_LOG_WARN) {
        kafka_log_kind(rk, buf, kind, sizeof(kind));
        if (!ob_log_limit_admit(&kafka_limit, kind, mono_ms(), &held, &span_ms))
            return;
    }
    if (held)
        ob_log_event(ours, OB_LOG_FIELDS(.event = "kafka_error"),
                     "kafka %s %s: %s (repeated %lu times in %lld s)", rd_kafka_name(rk), fac,
                     buf, held, (long long)(span_ms / 1000));
    else
        ob_log_event(ours, OB_LOG_FIELDS(.event = ours <= OB_LOG_WARN ? "kafka_error" : NULL),
                     "kafka %s %s: %s", rd_kafka_name(rk), fac, buf);
}

void ob_kafka_log_ok(void)
{
    int64_t since_ms;
    unsigned long held;

    if (ob_log_limit_clear(&kafka_limit, mono_ms(), &since_ms, &held))
        ob_log_event(OB_LOG_INFO, OB_LOG_FIELDS(.event = "kafka_recovered"),
                     "kafka: working again, no error for %d s (the first came %lld s ago; %lu "
                     "repeated line(s) not shown)",
                     KAFKA_LOG_QUIET_MS / 1000, (long long)(since_ms / 1000), held);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    struct ob_producer *p = opaque;

    (void)rk;
    if (!msg->err)
        ob_kafka_log_ok();
    p->cb(msg->_private, msg->err, msg->partition, msg->offset, p->cb_arg);
}

int ob_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                      size_t errstr_size)
{
    if (rd_kafka_conf_set(conf, key, value, errstr, errstr_size) == RD_KAFKA_CONF_OK)
        return 0;
    /* librdkafka quotes the value it refused, and it may be a secret */
    if (errstr_size)
        ob_redact(errstr);
    return -1;
}

int ob_producer_create(const struct ob_config *cfg, int wake_fd, ob_delivery_cb cb, void *arg,
                       struct ob_producer **out, char *errstr, size_t errstr_size)
{
    struct ob_producer *p = calloc(1, sizeof(*p));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char queue_max[32];

    *out = NULL;
    if (!p)
        goto fail;
    p->cfg = cfg;
    p->cb = cb;
    p->cb_arg = arg;
    /* Each order in flight queues at most two records: never "queue full". */
    snprintf(queue_max, sizeof(queue_max), "%d", 2 * cfg->pipeline.max_in_flight + 1024);
    if (ob_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "enable.idempotence", "true", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "linger.ms", "5", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "queue.buffering.max.messages", queue_max, errstr, errstr_size) ||
        /* The DLQ keeps originals as large as the orders topic accepted. */
        ob_kafka_conf_set(conf, "message.max.bytes", "33554432", errstr, errstr_size) ||
        ob_kafka_conf_set(conf, "client.id", "orderbridge-producer", errstr, errstr_size))
        goto fail;
    if (ob_kafka_conf_apply(conf, cfg->kafka.properties, cfg->kafka.n_properties,
                            "$.kafka.properties", errstr, errstr_size) ||
        ob_kafka_conf_apply(conf, cfg->kafka.producer, cfg->kafka.n_producer, "$.kafka.producer",
                            errstr, errstr_size))
        goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, p);
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!p->rk)
        goto fail;
    conf = NULL; /* owned by rk now */
    p->main_queue = rd_kafka_queue_get_main(p->rk);
    if (wake_fd >= 0)
        rd_kafka_queue_io_event_enable(p->main_queue, wake_fd, "p", 1);
    /* A topic's first record otherwise waits for its metadata to be
     * fetched: ask for all of them now, in the background. */
    const char *topics[OUTPUT_TOPICS] = {cfg->kafka.topic_status, cfg->kafka.topic_dlq,
                                         cfg->kafka.topic_retry, cfg->kafka.topic_state,
                                         cfg->kafka.topic_callbacks};
    for (int i = 0; i < OUTPUT_TOPICS; i++)
        if (topics[i])
            p->known[i] = rd_kafka_topic_new(p->rk, topics[i], NULL);
    *out = p;
    return 0;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return -1;
}

void ob_producer_destroy(struct ob_producer *p)
{
    if (!p)
        return;
    rd_kafka_queue_io_event_enable(p->main_queue, -1, NULL, 0);
    rd_kafka_queue_destroy(p->main_queue);
    for (int i = 0; i < OUTPUT_TOPICS; i++)
        if (p->known[i])
            rd_kafka_topic_destroy(p->known[i]);
    rd_kafka_destroy(p->rk);
    free(p);
}

rd_kafka_resp_err_t ob_producer_status(struct ob_producer *p, const struct ob_status_event *ev,
                                       void *opaque)
{
    size_t len = 0;
    char *json = ob_status_event_json(ev, &len);

    if (!json)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p->rk, RD_KAFKA_V_TOPIC(p->cfg->kafka.topic_status),
        RD_KAFKA_V_KEY(ev->order_id, strlen(ev->order_id)), RD_KAFKA_V_VALUE(json, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err)
        free(json); /* not taken on failure */
    return err;
}

static void add_header(rd_kafka_headers_t *h, const char *name, const char *value)
{
    if (value)
        rd_kafka_header_add(h, name, -1, value, -1);
}

/* A header of free text (an error, a warehouse's words): secrets masked. */
static void add_text_header(rd_kafka_headers_t *h, const char *name, const char *text)
{
    char *copy = ob_redact_dup(text);

    if (copy) {
        rd_kafka_header_add(h, name, -1, copy, -1);
    } else if (text) {
        rd_kafka_header_add(h, name, -1, "(out of memory)", -1);
    }
    free(copy);
}

static void add_time_header(rd_kafka_headers_t *h, const char *name, int64_t epoch_ms)
{
    char text[32];

    if (epoch_ms <= 0)
        return;
    ob_format_time(epoch_ms, text);
    add_header(h, name, text);
}

const char *ob_header_text(const rd_kafka_message_t *msg, const char *name, char *buf,
                           size_t size)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *value;
    size_t len;

    if (rd_kafka_message_headers(msg, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(hdrs, name, &value, &len) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        !value || len >= size)
        return NULL;
    memcpy(buf, value, len);
    buf[len] = '\0';
    return buf;
}

rd_kafka_headers_t *ob_headers_foreign(const rd_kafka_message_t *orig)
{
    rd_kafka_headers_t *from = NULL, *h = rd_kafka_headers_new(12);
    const char *name;
    const void *value;
    size_t size;

    if (rd_kafka_message_headers(orig, &from) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return h;
    for (size_t i = 0; rd_kafka_header_get_all(from, i, &name, &value, &size) == 0; i++)
        if (strncmp(name, "ob.", 3) != 0)
            rd_kafka_header_add(h, name, -1, value, (ssize_t)size);
    return h;
}

static void add_int_header(rd_kafka_headers_t *h, const char *name, int64_t v)
{
    char num[32];

    snprintf(num, sizeof(num), "%" PRId64, v);
    add_header(h, name, num);
}

rd_kafka_resp_err_t ob_producer_park(struct ob_producer *p, const rd_kafka_message_t *orig,
                                     const struct ob_park_info *info, void *opaque)
{
    rd_kafka_headers_t *h = ob_headers_foreign(orig);
    rd_kafka_resp_err_t err;

    add_int_header(h, "ob.not_before", info->not_before_ms);
    add_int_header(h, "ob.parked_at", info->parked_ms);
    if (info->warehouse)
        add_header(h, "ob.warehouse", info->warehouse);
    add_int_header(h, "ob.attempts", info->attempts);
    add_int_header(h, "ob.parks", info->parks);
    add_int_header(h, "ob.first_seen", info->first_seen_ms);
    if (info->first_attempt_ms > 0)
        add_int_header(h, "ob.first_attempt", info->first_attempt_ms);
    add_header(h, "ob.topic", info->topic);
    add_int_header(h, "ob.partition", info->partition);
    add_int_header(h, "ob.offset", info->offset);
    add_text_header(h, "ob.error", info->reason);
    if (info->replay)
        add_header(h, "ob.replay", "1");
    err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->cfg->kafka.topic_retry),
                            RD_KAFKA_V_KEY(orig->key, orig->key_len),
                            RD_KAFKA_V_VALUE(orig->payload, orig->len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(h);
    return err;
}

/* A record keyed by order_id on one of the bridge's own topics. */
static rd_kafka_resp_err_t produce_keyed(struct ob_producer *p, const char *topic,
                                         const char *order_id, const char *value, size_t len,
                                         void *opaque)
{
    if (!topic)
        return RD_KAFKA_RESP_ERR__INVALID_ARG;
    return rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic),
                             RD_KAFKA_V_KEY(order_id, strlen(order_id)),
                             RD_KAFKA_V_VALUE((void *)value, value ? len : 0),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque),
                             RD_KAFKA_V_END);
}

rd_kafka_resp_err_t ob_producer_state(struct ob_producer *p, const char *order_id,
                                      const char *value, size_t len, void *opaque)
{
    return produce_keyed(p, p->cfg->kafka.topic_state, order_id, value, len, opaque);
}

rd_kafka_resp_err_t ob_producer_callback(struct ob_producer *p, const char *order_id,
                                         const char *value, size_t len, void *opaque)
{
    return produce_keyed(p, p->cfg->kafka.topic_callbacks, order_id, value, len, opaque);
}

rd_kafka_resp_err_t ob_producer_dead_letter(struct ob_producer *p, const rd_kafka_message_t *orig,
                                            const struct ob_dlq_info *info, int drop_payload,
                                            void *opaque)
{
    rd_kafka_headers_t *h = ob_headers_foreign(orig);
    char num[32];
    rd_kafka_resp_err_t err;

    add_header(h, "ob.reason", info->reason_class);
    add_text_header(h, "ob.error", info->message);
    add_header(h, "ob.warehouse", info->warehouse);
    add_header(h, "ob.topic", info->topic);
    snprintf(num, sizeof(num), "%" PRId32, info->partition);
    add_header(h, "ob.partition", num);
    snprintf(num, sizeof(num), "%" PRId64, info->offset);
    add_header(h, "ob.offset", num);
    snprintf(num, sizeof(num), "%d", info->attempts);
    add_header(h, "ob.attempts", num);
    if (info->http_status > 0) {
        snprintf(num, sizeof(num), "%ld", info->http_status);
        add_header(h, "ob.http_status", num);
    }
    add_time_header(h, "ob.first_attempt", info->first_attempt_ms);
    add_time_header(h, "ob.last_attempt", info->last_attempt_ms);
    add_time_header(h, "ob.dead_lettered_at", ob_now_epoch_ms());
    if (drop_payload)
        add_header(h, "ob.payload_dropped",
                   "the dead-letter topic refused a record this large; the original stays at "
                   "ob.topic/ob.partition/ob.offset");

    void *value = drop_payload ? NULL : orig->payload;
    size_t len = drop_payload ? 0 : orig->len;
    err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->cfg->kafka.topic_dlq),
                            RD_KAFKA_V_KEY(orig->key, orig->key_len), RD_KAFKA_V_VALUE(value, len),
                            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(h),
                            RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(h); /* taken only on success */
    return err;
}

void ob_producer_poll(struct ob_producer *p)
{
    rd_kafka_poll(p->rk, 0);
}

int ob_producer_flush(struct ob_producer *p, int timeout_ms)
{
    rd_kafka_flush(p->rk, timeout_ms);
    return rd_kafka_outq_len(p->rk);
}

void ob_producer_purge(struct ob_producer *p)
{
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(p->rk, 0);
}

rd_kafka_resp_err_t ob_producer_fatal(struct ob_producer *p, char *errstr, size_t errstr_size)
{
    return rd_kafka_fatal_error(p->rk, errstr, errstr_size);
}

/* The partition librdkafka's `partitioner` (as configured for the
 * producer; its default, consistent_random) gives `key` among n. */
int32_t ob_kafka_partition_of(const struct ob_config *cfg, const char *key, int32_t n)
{
    static const struct {
        const char *name;
        int32_t (*fn)(const rd_kafka_topic_t *, const void *, size_t, int32_t, void *, void *);
    } fns[] = {
        {"consistent", rd_kafka_msg_partitioner_consistent},
        {"consistent_random", rd_kafka_msg_partitioner_consistent_random},
        {"murmur2", rd_kafka_msg_partitioner_murmur2},
        {"murmur2_random", rd_kafka_msg_partitioner_murmur2_random},
        {"fnv1a", rd_kafka_msg_partitioner_fnv1a},
        {"fnv1a_random", rd_kafka_msg_partitioner_fnv1a_random},
    };
    const char *name = ob_kv_get(cfg->kafka.producer, cfg->kafka.n_producer, "partitioner");

    if (!name)
        name = ob_kv_get(cfg->kafka.properties, cfg->kafka.n_properties, "partitioner");
    if (!name)
        name = "consistent_random"; /* librdkafka's default */
    if (n <= 0 || !key || !*key)
        return -1;
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
        if (strcmp(fns[i].name, name) == 0)
            return fns[i].fn(NULL, key, strlen(key), n, NULL, NULL);
    return -1; /* "random": no partition of its own */
}
