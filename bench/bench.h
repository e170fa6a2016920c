/*
 * bench.h — what the parts of ob-bench share (see BENCHMARKS.md).
 *
 * warehouses.c: the warehouses, their credentials, simulators and the
 * bridge's config; ceilings.c: what Kafka, HTTP and the adapters can do
 * alone; session.c: a bridge run against a fresh embedded Kafka, closed
 * loop (everything produced first) or open loop (produced at a rate).
 */
#ifndef OB_BENCH_H
#define OB_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

/* Warehouse indexes: the five reference adapters, then mapping. */
enum { WH_REST, WH_SF, WH_CAINIAO, WH_QIMEN, WH_EMS, WH_MAPPING, N_WH };
#define N_REFERENCE 5 /* a mix run spreads its orders over the first five */
#define WH_MIX (-1)

#define BENCH_MAX_INSTANCES 8
#define ORDER_BYTES 1100 /* a sample order's size, roughly (for partition counts) */

struct bench_opts {
    const char *binary;   /* the orderbridge to run */
    unsigned sim_threads; /* each simulator's worker threads */
    int partitions;       /* 0: from the order count */
    int instances;        /* bridges in the group */
    int keep;             /* keep the temp dirs */
    int state;            /* runs with a ledger write the order-state changelog too */
    int verbose;
};

double bench_now(void);     /* monotonic seconds */
int64_t bench_wall_ms(void); /* epoch ms, as Kafka timestamps are */

/* ---- warehouses.c ---- */
const char *wh_adapter(int wh);
const char *wh_code(int wh);
int wh_by_name(const char *adapter); /* index, WH_MIX for "mix", -1 unknown */
/* Put every warehouse's credentials in the environment (the config names
 * them as env:). */
void wh_set_credentials(void);
/* Start a simulator for each warehouse in `mask` (bit per index). */
int wh_start_sims(unsigned mask, const struct bench_opts *o, size_t capacity, char *err,
                  size_t err_size);
void wh_stop_sims(void);
unsigned short wh_port(int wh); /* 0: no simulator */
/* Counters summed over the running simulators. */
void wh_sim_totals(unsigned long *created, unsigned long *refused);
/* The bridge's config for the warehouses in `mask` (NULL ledger: none). */
json_t *wh_config(const char *bootstraps, unsigned mask, const char *ledger_dir);

/* ---- ceilings.c ---- */
struct encode_cost {
    double encode_us, parse_encode_us; /* per order */
    unsigned long orders;
};
/* In process, each adapter in turn: K sample orders through encode. */
int ceiling_encode(unsigned long k, struct encode_cost out[N_WH]);
/* librdkafka consumer and kcat reading n orders; -1 for n/a. */
int ceiling_kafka(const struct bench_opts *o, unsigned long n, double *consumer_per_s,
                  double *kcat_per_s);
/* wrk against a rest simulator, with the rest adapter's own request; -1 n/a. */
int ceiling_http(const struct bench_opts *o, double *req_per_s);

/* ---- session.c ---- */
struct run_result {
    double rate;          /* orders/s, first outcome to last */
    double rate_startup;  /* orders/s, bridge start to last outcome */
    double wall_s;        /* bridge start until every outcome was read */
    double cpu_us;        /* the bridge's CPU per order */
    double bench_cpu_us;  /* ob-bench's (embedded broker, simulators, reader) per order */
    double rss_mb;        /* the bridge's peak RSS */
    double rss_file_mb;   /* of its RSS at the end, file pages: the ledger's map, the code */
    unsigned long orders, accepted, other, duplicates, missing;
    int ok;
};
int run_closed(const struct bench_opts *o, int wh, int ledger, unsigned long n,
               struct run_result *out);

struct latency {
    double rate, achieved; /* asked and produced orders/s */
    unsigned long orders;
    double p50, p99, p999, max; /* ms */
    double cpu_us;              /* the bridge's CPU per order */
    double mock_cpu_us;         /* the embedded Kafka's thread, per order; -1: unknown */
};
int run_open(const struct bench_opts *o, const double *rates, size_t n_rates, double seconds,
             struct latency *out);

struct burst_result {
    unsigned long orders, express; /* the burst's orders; express orders measured */
    double rate;                   /* the burst's orders/s, first outcome to last */
    double p50, p99, max;          /* express: produce -> outcome in Kafka, ms */
    double rss_mb;                 /* the bridge's peak RSS */
    int ok;                        /* every order ACCEPTED once */
};
int run_burst(const struct bench_opts *o, unsigned long n, double express_rate, int apart,
              struct burst_result *out);

/* Orders topic partitions for n orders: the embedded Kafka keeps ~5 MB each. */
int partitions_for(const struct bench_opts *o, unsigned long n);

/* Samples and their keys: order id "DEMO-<seed>-<8 digits>". */
char *bench_order(unsigned long seed, unsigned long index, int wh, size_t *len);
rd_kafka_t *bench_producer(const char *bootstraps, char *err, size_t err_size);
rd_kafka_t *bench_consumer(const char *bootstraps, const char *topic, char *err,
                           size_t err_size);
/* Produce one record (waits while the queue is full); takes `value`. */
int bench_produce(rd_kafka_t *rk, const char *topic, const char *key, char *value, size_t len,
                  int64_t timestamp_ms);

#endif
