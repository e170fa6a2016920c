/*
 * ob-restore-bench — how long an instance takes to restore order state
 * from the changelog (issue 13): N state records (one accepted delivery
 * and one track each, as the bridge writes them) in kafka.topics.state on
 * the embedded Kafka, read into an empty ledger by ob_restore(), then read
 * again by a warm restart of the same ledger (its checkpoint: nothing).
 *
 *     build/bench/ob-restore-bench [N [PARTITIONS]]   default 100000 32
 *
 * 32 partitions keep each under the embedded Kafka's ~5 MB per partition.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "ledger.h"
#include "log.h"
#include "mock.h"
#include "restore.h"
#include "state_record.h"

#define TOPIC "orderbridge.state"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "ob-restore-bench: %s\n", what);
    exit(1);
}

/* One order as the bridge leaves it after an accepted push. */
static void sample(struct ob_order_state *s, unsigned long i)
{
    memset(s, 0, sizeof(*s));
    snprintf(s->order_id, sizeof(s->order_id), "SO-2026111100-%08lu", i);
    s->n_deliveries = 1;
    snprintf(s->deliveries[0].key, sizeof(s->deliveries[0].key), "%016lx%048lu", i, i);
    s->deliveries[0].entry.state = OB_LEDGER_DONE;
    s->deliveries[0].entry.attempts = 1;
    s->deliveries[0].entry.first_attempt_ms = 1794355200000 + (int64_t)i;
    s->deliveries[0].entry.updated_ms = 1794355200100 + (int64_t)i;
    strcpy(s->deliveries[0].entry.status, "ACCEPTED");
    s->deliveries[0].entry.http_status = 200;
    snprintf(s->deliveries[0].entry.warehouse_order_id, 128, "WMS-%lu", i);
    s->n_tracks = 1;
    strcpy(s->tracks[0].warehouse, "SF-SZ-03");
    s->tracks[0].track.current = 1; /* ACCEPTED */
    s->tracks[0].track.emitted = 1u << 1;
    s->tracks[0].track.revision = 1;
    s->tracks[0].track.updated_ms = 1794355200100 + (int64_t)i;
    memcpy(s->tracks[0].track.idempotency_key, s->deliveries[0].key, 65);
    snprintf(s->tracks[0].track.warehouse_order_id, 128, "WMS-%lu", i);
}

static void produce(const char *bootstraps, unsigned long n, size_t *bytes)
{
    static struct ob_order_state s;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    rd_kafka_t *rk;

    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "linger.ms", "20", err, sizeof(err)) ||
        !(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))))
        die(err);
    *bytes = 0;
    for (unsigned long i = 0; i < n; i++) {
        size_t len;
        char *value;
        sample(&s, i);
        if (!(value = ob_state_encode(&s, &len)))
            die("encode");
        *bytes += len;
        while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(TOPIC),
                                 RD_KAFKA_V_KEY(s.order_id, strlen(s.order_id)),
                                 RD_KAFKA_V_VALUE(value, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(rk, 10);
        free(value);
        rd_kafka_poll(rk, 0);
    }
    if (rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("flush");
    rd_kafka_destroy(rk);
}

int main(int argc, char **argv)
{
    unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    int partitions = argc > 2 ? atoi(argv[2]) : 32;
    char dir[] = "/tmp/ob-restore-bench-XXXXXX", path[64], err[512];
    struct ob_config cfg;
    struct ob_mock *mock;
    struct ob_ledger *ledger;
    struct ob_restore_stats st;
    int32_t *parts = calloc((size_t)partitions, sizeof(*parts));
    size_t bytes;
    double t0;

    if (!parts || partitions < 1 || !mkdtemp(dir))
        die("usage: ob-restore-bench [N [PARTITIONS]]");
    ob_log_set_level(OB_LOG_WARN);
    if (ob_mock_start(1, &mock, err, sizeof(err)) != 0 ||
        ob_mock_create_topic(mock, TOPIC, partitions) != 0)
        die(err);
    t0 = now_s();
    produce(ob_mock_bootstraps(mock), n, &bytes);
    printf("restore-bench: %lu state records, %.1f MB, in %d partitions (produced in %.1f s)\n",
           n, (double)bytes / 1e6, partitions, now_s() - t0);

    memset(&cfg, 0, sizeof(cfg));
    cfg.kafka.bootstrap_servers = (char *)ob_mock_bootstraps(mock);
    cfg.kafka.topic_state = TOPIC;
    snprintf(path, sizeof(path), "%s/ledger", dir);
    struct ob_ledger_options lo = {.path = path, .max_bytes = (size_t)2 << 30};
    if (ob_ledger_open(&lo, &ledger, err, sizeof(err)) != 0)
        die(err);
    for (int p = 0; p < partitions; p++)
        parts[p] = p;
    if (ob_restore(&cfg, ledger, parts, (size_t)partitions, 600000, &st, err, sizeof(err)) != 0)
        die(err);
    printf("restore-bench: cold: %zu records in %.2f s = %.0f records/s; %.2f s per 100k orders "
           "of state; ledger %zu entries, %zu tracks\n",
           st.records, st.seconds, st.records / st.seconds, st.seconds * 100000.0 / st.records,
           ob_ledger_count(ledger), ob_ledger_track_count(ledger));
    if (st.records != n || ob_ledger_count(ledger) != n)
        die("not every record was restored");
    ob_ledger_close(ledger);

    if (ob_ledger_open(&lo, &ledger, err, sizeof(err)) != 0)
        die(err);
    if (ob_restore(&cfg, ledger, parts, (size_t)partitions, 600000, &st, err, sizeof(err)) != 0)
        die(err);
    printf("restore-bench: warm restart (checkpoints): %zu records read in %.3f s\n", st.records,
           st.seconds);
    ob_ledger_close(ledger);
    ob_mock_stop(mock);
    snprintf(err, sizeof(err), "rm -rf %s", dir);
    if (system(err) != 0)
        die("cannot remove the ledger");
    free(parts);
    return 0;
}
