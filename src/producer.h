/*
 * producer.h — the bridge's Kafka producer: status events and dead letters.
 *
 * One idempotent producer (enable.idempotence=true) for both topics. Every
 * record carries an opaque pointer that comes back in the delivery report,
 * served from the event loop by ob_producer_poll(); only a report without
 * error means the record is in Kafka.
 */
#ifndef OB_PRODUCER_H
#define OB_PRODUCER_H

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "status.h"

/* A record's delivery report: where it went (partition, offset) once acknowledged. */
typedef void (*ob_delivery_cb)(void *opaque, rd_kafka_resp_err_t err, int32_t partition,
                              int64_t offset, void *arg);

struct ob_producer;

/* wake_fd is written when delivery reports are waiting. */
int ob_producer_create(const struct ob_config *cfg, int wake_fd, ob_delivery_cb cb, void *arg,
                       struct ob_producer **out, char *errstr, size_t errstr_size);
void ob_producer_destroy(struct ob_producer *p);

/* Queue a fulfillment.v1 event on the status topic, key = order_id. */
rd_kafka_resp_err_t ob_producer_status(struct ob_producer *p, const struct ob_status_event *ev,
                                       void *opaque);

/* Queue the original record `orig` on the dead-letter topic with its key,
 * value and headers, plus ob.* headers from `info`. With drop_payload the
 * value is left out and ob.payload_dropped says why (the DLQ topic refused
 * a record that large). */
rd_kafka_resp_err_t ob_producer_dead_letter(struct ob_producer *p, const rd_kafka_message_t *orig,
                                            const struct ob_dlq_info *info, int drop_payload,
                                            void *opaque);

/* Where an order waiting on the retry topic stands; carried in ob.* headers. */
struct ob_park_info {
    int64_t not_before_ms;    /* epoch ms: not to be pushed before */
    int64_t parked_ms;        /* epoch ms: parked now */
    const char *warehouse;    /* the warehouse it waits for, or NULL */
    int attempts;             /* HTTP attempts so far */
    int parks;                /* times parked, this one included */
    int64_t first_seen_ms;    /* epoch ms the bridge first took the order */
    int64_t first_attempt_ms; /* 0 when none yet */
    const char *topic;        /* where the order was first consumed */
    int32_t partition;
    int64_t offset;
    const char *reason;       /* why it waits */
    int replay;               /* it came from `orderbridge replay` */
};

/* Queue the original record `orig` on the retry topic: same key, value and
 * headers (minus our own ob.* ones), plus `info` as ob.* headers. */
rd_kafka_resp_err_t ob_producer_park(struct ob_producer *p, const rd_kafka_message_t *orig,
                                     const struct ob_park_info *info, void *opaque);

/* Queue an order's state record (state_record.h) on kafka.topics.state,
 * key = order_id, partitioned by key like the orders (NULL value: a
 * tombstone). The value is copied. */
rd_kafka_resp_err_t ob_producer_state(struct ob_producer *p, const char *order_id,
                                      const char *value, size_t len, void *opaque);

/* Queue a verified callback's record (callback_record.h) on
 * kafka.topics.callbacks, key = order_id, partitioned like the orders. */
rd_kafka_resp_err_t ob_producer_callback(struct ob_producer *p, const char *order_id,
                                         const char *value, size_t len, void *opaque);

/* The last header `name` of `msg` as a string in buf, or NULL when absent
 * or not shorter than size. */
const char *ob_header_text(const rd_kafka_message_t *msg, const char *name, char *buf,
                           size_t size);

/* A copy of `orig`'s headers without our own ob.* ones. */
rd_kafka_headers_t *ob_headers_foreign(const rd_kafka_message_t *orig);

/* The partition (of n) the producer's configured partitioner gives a
 * non-empty key, or -1 when it is "random". */
int32_t ob_kafka_partition_of(const struct ob_config *cfg, const char *key, int32_t n);

/* Serve delivery reports (non-blocking). */
void ob_producer_poll(struct ob_producer *p);

/* Wait until every queued record is delivered or timeout_ms passed;
 * returns the number still queued. */
int ob_producer_flush(struct ob_producer *p, int timeout_ms);

/* Drop every queued record; their delivery reports (with an error) are
 * served before this returns. */
void ob_producer_purge(struct ob_producer *p);

/* A fatal producer error (e.g. the idempotence guarantee broke), or 0. */
rd_kafka_resp_err_t ob_producer_fatal(struct ob_producer *p, char *errstr, size_t errstr_size);

/* rd_kafka_conf_set() as 0 / -1 with errstr. */
int ob_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *errstr,
                      size_t errstr_size);

/* Apply config's properties + extra to a librdkafka conf; -1 with errstr on
 * an unknown property or bad value. Shared with the consumer. */
int ob_kafka_conf_apply(rd_kafka_conf_t *conf, const struct ob_kv *kv, size_t n, const char *where,
                        char *errstr, size_t errstr_size);

/* Check every librdkafka property of the config against librdkafka itself
 * (both clients' sets), without connecting. Returns 0, or -1 with errstr. */
int ob_kafka_check_properties(const struct ob_config *cfg, char *errstr, size_t errstr_size);

/* Route librdkafka's own logs into ours. */
void ob_kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Kafka answered (a record delivered, offsets committed, partitions
 * assigned): logs once that it works again when its errors were held back
 * (ob_kafka_log_cb) and none came for a while. Thread-safe, cheap. */
void ob_kafka_log_ok(void);

#endif
