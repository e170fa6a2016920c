#include "mock.h"

#include <stdio.h>
#include <stdlib.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "producer.h" /* ob_kafka_log_cb */

struct ob_mock {
    rd_kafka_t *rk; /* the mock cluster needs a handle to live in */
    rd_kafka_mock_cluster_t *cluster;
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
    *out = m;
    return 0;
}

const char *ob_mock_bootstraps(const struct ob_mock *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

int ob_mock_create_topic(struct ob_mock *m, const char *topic, int partitions)
{
    return rd_kafka_mock_topic_create(m->cluster, topic, partitions, 1) ? -1 : 0;
}

void ob_mock_stop(struct ob_mock *m)
{
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->rk);
    free(m);
}
