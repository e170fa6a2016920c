/*
 * mock.c — the embedded Kafka (librdkafka's mock cluster) and its fault
 * helpers; see mock.h.
 */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "producer.h" /* ob_kafka_log_cb */

struct ob_mock {
    rd_kafka_t *rk; /* the mock cluster needs a handle to live in */
    rd_kafka_mock_cluster_t *cluster;
    int brokers;
};

int ob_mock_start(int brokers, struct ob_mock **out, char *errstr, size_t errstr_size)
{
    struct ob_mock *m = calloc(1, sizeof(*m));
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    *out = NULL;
    if (!m) {
        rd_kafka_conf_destroy(conf);
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    rd_kafka_conf_set_log_cb(conf, ob_kafka_log_cb);
    /* This handle only hosts the cluster: its "no bootstrap.servers" notice is noise. */
    rd_kafka_conf_set(conf, "log_level", "4", NULL, 0);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, errstr_size);
    if (!m->rk) {
        rd_kafka_conf_destroy(conf);
        free(m);
        return -1;
    }
    m->cluster = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->cluster) {
        snprintf(errstr, errstr_size, "cannot start the mock Kafka cluster");
        rd_kafka_destroy(m->rk);
        free(m);
        return -1;
    }
    m->brokers = brokers;
    *out = m;
    return 0;
}

const char *ob_mock_bootstraps(const struct ob_mock *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

int ob_mock_create_topic(struct ob_mock *m, const char *topic, int partitions)
{
    return ob_mock_create_topic_rf(m, topic, partitions, 1);
}

int ob_mock_create_topic_rf(struct ob_mock *m, const char *topic, int partitions,
                            int replication_factor)
{
    return rd_kafka_mock_topic_create(m->cluster, topic, partitions, replication_factor) ? -1 : 0;
}

int ob_mock_brokers(const struct ob_mock *m)
{
    return m->brokers;
}

int ob_mock_broker_down(struct ob_mock *m, int broker_id)
{
    return rd_kafka_mock_broker_set_down(m->cluster, broker_id) ? -1 : 0;
}

int ob_mock_broker_up(struct ob_mock *m, int broker_id)
{
    return rd_kafka_mock_broker_set_up(m->cluster, broker_id) ? -1 : 0;
}

void ob_mock_push_errors(struct ob_mock *m, int16_t api_key, size_t cnt, const int *errors)
{
    rd_kafka_resp_err_t errs[64];

    while (cnt > 0) {
        size_t n = cnt < 64 ? cnt : 64;
        for (size_t i = 0; i < n; i++)
            errs[i] = (rd_kafka_resp_err_t)errors[i];
        rd_kafka_mock_push_request_errors_array(m->cluster, api_key, n, errs);
        errors += n;
        cnt -= n;
    }
}

int ob_mock_push_broker_errors(struct ob_mock *m, int broker_id, int16_t api_key, size_t cnt,
                               const int *errors, int rtt_ms)
{
    for (size_t i = 0; i < cnt; i++)
        if (rd_kafka_mock_broker_push_request_error_rtts(m->cluster, broker_id, api_key, 1,
                                                         (rd_kafka_resp_err_t)errors[i], rtt_ms))
            return -1;
    return 0;
}

long ob_mock_broker_errors_left(struct ob_mock *m, int broker_id, int16_t api_key)
{
    size_t cnt = 0;

    if (rd_kafka_mock_broker_error_stack_cnt(m->cluster, broker_id, api_key, &cnt))
        return -1;
    return (long)cnt;
}

void ob_mock_clear_errors(struct ob_mock *m, int16_t api_key)
{
    rd_kafka_mock_clear_request_errors(m->cluster, api_key);
}

int ob_mock_set_leader(struct ob_mock *m, const char *topic, int partition, int broker_id)
{
    return rd_kafka_mock_partition_set_leader(m->cluster, topic, partition, broker_id) ? -1 : 0;
}

int ob_mock_set_group_coordinator(struct ob_mock *m, const char *group, int broker_id)
{
    return rd_kafka_mock_coordinator_set(m->cluster, "group", group, broker_id) ? -1 : 0;
}

int ob_mock_broker_rtt(struct ob_mock *m, int broker_id, int rtt_ms)
{
    return rd_kafka_mock_broker_set_rtt(m->cluster, broker_id, rtt_ms) ? -1 : 0;
}

void ob_mock_stop(struct ob_mock *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->rk);
    free(m);
}
