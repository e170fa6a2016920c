/*
 * mock.h — an embedded Kafka: librdkafka's mock cluster, which speaks the
 * real Kafka protocol on localhost ports (any client, kcat included, can
 * use it). For `orderbridge dev-broker`, the demo and the tests; never on
 * the production path. It keeps only ~5 MB per partition.
 */
#ifndef OB_MOCK_H
#define OB_MOCK_H

#include <stddef.h>

struct ob_mock;

int ob_mock_start(int brokers, struct ob_mock **out, char *errstr, size_t errstr_size);
const char *ob_mock_bootstraps(const struct ob_mock *m);
int ob_mock_create_topic(struct ob_mock *m, const char *topic, int partitions);
void ob_mock_stop(struct ob_mock *m);

#endif
