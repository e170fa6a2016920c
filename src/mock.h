/*
 * mock.h — an embedded Kafka: librdkafka's mock cluster, which speaks the
 * real Kafka protocol on localhost ports (any client, kcat included, can
 * use it). For `orderbridge dev-broker`, the demo and the tests; never on
 * the production path. It keeps only ~5 MB per partition.
 *
 * The fault helpers below are for the chaos tests: brokers going down and
 * up, errors injected into protocol requests, partition leaders moving.
 * Brokers are numbered 1..brokers.
 */
#ifndef OB_MOCK_H
#define OB_MOCK_H

#include <stddef.h>
#include <stdint.h>

struct ob_mock;

int ob_mock_start(int brokers, struct ob_mock **out, char *errstr, size_t errstr_size);
const char *ob_mock_bootstraps(const struct ob_mock *m);
int ob_mock_create_topic(struct ob_mock *m, const char *topic, int partitions);
/* The same with a replication factor (at most the number of brokers). */
int ob_mock_create_topic_rf(struct ob_mock *m, const char *topic, int partitions,
                            int replication_factor);
void ob_mock_stop(struct ob_mock *m);

/* Kafka protocol request types, for ob_mock_push_errors(). */
enum {
    OB_MOCK_API_PRODUCE = 0,
    OB_MOCK_API_FETCH = 1,
    OB_MOCK_API_LIST_OFFSETS = 2,
    OB_MOCK_API_METADATA = 3,
    OB_MOCK_API_OFFSET_COMMIT = 8,
    OB_MOCK_API_OFFSET_FETCH = 9,
    OB_MOCK_API_FIND_COORDINATOR = 10,
    OB_MOCK_API_JOIN_GROUP = 11,
    OB_MOCK_API_HEARTBEAT = 12,
    OB_MOCK_API_SYNC_GROUP = 14,
};

int ob_mock_brokers(const struct ob_mock *m);

/* Close the broker's connections and refuse new ones (up: accept again). It
 * keeps leading its partitions: clients wait for it, as for a broker that
 * is restarting. Returns 0, or -1 for an unknown broker. */
int ob_mock_broker_down(struct ob_mock *m, int broker_id);
int ob_mock_broker_up(struct ob_mock *m, int broker_id);

/* The next `cnt` requests of type `api_key`, to any broker, fail with
 * errors[0], errors[1], ... (rd_kafka_resp_err_t values; -195, the
 * transport error, disconnects the client instead). */
void ob_mock_push_errors(struct ob_mock *m, int16_t api_key, size_t cnt, const int *errors);
/* The same for the requests of type `api_key` that reach one broker, each
 * answered after rtt_ms; the broker's own errors go before the cluster's. */
int ob_mock_push_broker_errors(struct ob_mock *m, int broker_id, int16_t api_key, size_t cnt,
                               const int *errors, int rtt_ms);
/* Errors still pushed on a broker for `api_key` (-1 for an unknown broker). */
long ob_mock_broker_errors_left(struct ob_mock *m, int broker_id, int16_t api_key);
/* Forget the cluster-wide errors still pushed for `api_key`. */
void ob_mock_clear_errors(struct ob_mock *m, int16_t api_key);

/* Make `broker_id` the leader of topic/partition (-1: leaderless). */
int ob_mock_set_leader(struct ob_mock *m, const char *topic, int partition, int broker_id);

/* Make `broker_id` the coordinator of consumer group `group` (clients that
 * ask from now on are sent there). */
int ob_mock_set_group_coordinator(struct ob_mock *m, const char *group, int broker_id);

/* Delay every answer of a broker (-1: all) by rtt_ms. */
int ob_mock_broker_rtt(struct ob_mock *m, int broker_id, int rtt_ms);

#endif
