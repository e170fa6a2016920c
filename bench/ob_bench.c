/*
 * ob_bench.c — throughput and latency of the bridge on this machine, next
 * to what Kafka and HTTP can do alone (BENCHMARKS.md says how to read it).
 *
 * In one process: the adapters' encode cost in process; ceilings (a plain
 * librdkafka consumer and kcat draining the orders topic, wrk POSTing the
 * rest adapter's request to a simulator); closed-loop runs of the real
 * `orderbridge run` as a child, one per (size, adapter, ledger); an
 * open-loop latency run at fixed rates. The last line sums it up.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "log.h"

#ifndef OB_BINARY
#error "OB_BINARY must be defined (bench/CMakeLists.txt)"
#endif

#define MAX_LIST 16
#define ENCODE_K 20000

static const char help[] =
    "usage: ob-bench [--quick] [--orders N,N..] [--adapters A,A..] [--ledger on,off]\n"
    "                [--latency-seconds S] [--rate R] [--no-latency] [--no-ceilings]\n"
    "                [--partitions P] [--sim-threads T] [--instances N] [--binary PATH]\n"
    "                [--keep] [--verbose] [--state] [--burst N [--express-rate R]]\n"
    "\n"
    "Measure orderbridge on this machine (see BENCHMARKS.md).\n"
    "\n"
    "  --orders LIST       closed-loop sizes (default 10000,100000,1000000)\n"
    "  --adapters LIST     rest, sf_express, cainiao, qimen, ems, mapping, mix (orders\n"
    "                      spread over the first five); default all but mapping\n"
    "  --ledger LIST       on, off (default both)\n"
    "  --quick             rest and mix, ledger on and off, 10000 and 100000 orders\n"
    "  --latency-seconds S each open-loop rate lasts S seconds (default 10)\n"
    "  --rate R            the 100% of the open-loop rates (default: the rest,\n"
    "                      ledger-on run at the largest size)\n"
    "  --no-latency        skip the open-loop run\n"
    "  --no-ceilings       skip the encode, Kafka and HTTP ceilings\n"
    "  --partitions P      orders topic partitions (default: 64, more for large runs;\n"
    "                      the embedded Kafka keeps ~5 MB per partition)\n"
    "  --sim-threads T     worker threads of each simulator (default 1)\n"
    "  --instances N       N bridges in one consumer group, each with its own ledger\n"
    "                      (default 1; CPU and RSS are their sums)\n"
    "  --binary PATH       the orderbridge to run (default: this build's)\n"
    "  --keep              keep the temp dirs (config, ledger, bridge log)\n"
    "  --state             runs with a ledger also write kafka.topics.state (issue 13)\n"
    "  --verbose           the bridge's pid and log, wrk's counts\n"
    "  --burst N           only this: N orders queued, then the bridge started; while it\n"
    "                      drains them, express orders at --express-rate a second (default\n"
    "                      100) to orders.express, then again behind the backlog in orders;\n"
    "                      their p99 (produce -> outcome in Kafka), the drain rate, RSS\n";

struct plan {
    unsigned long sizes[MAX_LIST];
    int adapters[MAX_LIST], ledgers[MAX_LIST];
    size_t n_sizes, n_adapters, n_ledgers;
    double latency_s, rate;
    int latency, ceilings;
    unsigned long burst;
    double express_rate;
};

struct run {
    int wh, ledger;
    unsigned long n;
    struct run_result r;
    int failed;
};

/* ---- options ------------------------------------------------------------ */

/* Split a comma list; each item through parse(), -1 on a bad item. */
static int parse_list(const char *text, size_t *n, int (*parse)(const char *item, size_t i,
                                                                  void *arg), void *arg)
{
    char *copy = strdup(text), *save = NULL;
    int rc = copy ? 0 : -1;

    *n = 0;
    for (char *t = strtok_r(copy, ",", &save); rc == 0 && t; t = strtok_r(NULL, ",", &save))
        rc = *n < MAX_LIST ? parse(t, (*n)++, arg) : -1;
    free(copy);
    return rc == 0 && *n > 0 ? 0 : -1;
}

static int parse_size(const char *item, size_t i, void *arg)
{
    char *end;
    unsigned long v = strtoul(item, &end, 10);

    ((unsigned long *)arg)[i] = v;
    return *end || v == 0 || v > 5000000 ? -1 : 0;
}

static int parse_adapter(const char *item, size_t i, void *arg)
{
    int wh = wh_by_name(item);

    ((int *)arg)[i] = wh;
    return wh < WH_MIX ? -1 : 0;
}

static int parse_ledger(const char *item, size_t i, void *arg)
{
    ((int *)arg)[i] = strcmp(item, "on") == 0;
    return strcmp(item, "on") == 0 || strcmp(item, "off") == 0 ? 0 : -1;
}

static void default_plan(struct plan *p, int quick)
{
    static const int all[] = {WH_REST, WH_SF, WH_CAINIAO, WH_QIMEN, WH_EMS, WH_MIX};

    p->n_sizes = quick ? 2 : 3;
    p->sizes[0] = 10000, p->sizes[1] = 100000, p->sizes[2] = 1000000;
    p->n_adapters = quick ? 2 : 6;
    for (size_t i = 0; i < p->n_adapters; i++)
        p->adapters[i] = quick ? (i ? WH_MIX : WH_REST) : all[i];
    p->n_ledgers = 2;
    p->ledgers[0] = 1, p->ledgers[1] = 0;
}

static int parse_options(int argc, char **argv, struct plan *p, struct bench_opts *o)
{
    static const struct option opts[] = {
        {"orders", required_argument, NULL, 'n'},    {"adapters", required_argument, NULL, 'a'},
        {"ledger", required_argument, NULL, 'l'},    {"quick", no_argument, NULL, 'q'},
        {"latency-seconds", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},      {"no-latency", no_argument, NULL, 'L'},
        {"no-ceilings", no_argument, NULL, 'C'},     {"partitions", required_argument, NULL, 'p'},
        {"sim-threads", required_argument, NULL, 't'}, {"binary", required_argument, NULL, 'b'},
        {"instances", required_argument, NULL, 'i'},
        {"burst", required_argument, NULL, 'B'}, {"express-rate", required_argument, NULL, 'E'},
        {"keep", no_argument, NULL, 'k'},            {"verbose", no_argument, NULL, 'v'},
        {"state", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0}};
    const char *sizes = NULL, *adapters = NULL, *ledgers = NULL;
    int ch, quick = 0, bad = 0;

    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'n': sizes = optarg; break;
        case 'a': adapters = optarg; break;
        case 'l': ledgers = optarg; break;
        case 'q': quick = 1; break;
        case 's': p->latency_s = atof(optarg); break;
        case 'r': p->rate = atof(optarg); break;
        case 'L': p->latency = 0; break;
        case 'C': p->ceilings = 0; break;
        case 'p': o->partitions = atoi(optarg); break;
        case 't': o->sim_threads = (unsigned)atoi(optarg); break;
        case 'b': o->binary = optarg; break;
        case 'i': o->instances = atoi(optarg); break;
        case 'B': p->burst = strtoul(optarg, NULL, 10); break;
        case 'E': p->express_rate = atof(optarg); break;
        case 'k': o->keep = 1; break;
        case 'S': o->state = 1; break;
        case 'v': o->verbose = 1; break;
        case 'h': fputs(help, stdout); exit(0);
        default: bad = 1;
        }
    }
    default_plan(p, quick);
    bad |= sizes && parse_list(sizes, &p->n_sizes, parse_size, p->sizes) != 0;
    bad |= adapters && parse_list(adapters, &p->n_adapters, parse_adapter, p->adapters) != 0;
    bad |= ledgers && parse_list(ledgers, &p->n_ledgers, parse_ledger, p->ledgers) != 0;
    bad |= optind != argc || p->latency_s <= 0 || o->sim_threads < 1 || o->partitions < 0 ||
           o->instances < 1 || o->instances > BENCH_MAX_INSTANCES;
    if (bad)
        fputs(help, stderr);
    return bad ? -1 : 0;
}

/* ---- output ----------------------------------------------------------------- */

/* v with `fmt` (one double), or "n/a" when v < 0. */
static void fmt_num(char *buf, size_t size, double v, const char *fmt)
{
    if (v < 0)
        snprintf(buf, size, "n/a");
    else
        snprintf(buf, size, fmt, v);
}

static void print_machine(const struct bench_opts *o)
{
    char model[256] = "unknown", line[512], date[32];
    FILE *f = fopen("/proc/cpuinfo", "r");
    time_t now = time(NULL);

    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "model name : %255[^\n]", model) == 1)
            break;
    if (f)
        fclose(f);
    strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
    printf("ob-bench: %ld CPUs (%s), %s\n  bridge %s", sysconf(_SC_NPROCESSORS_ONLN), model,
           date, o->binary);
    if (o->instances > 1)
        printf(" x %d instances (one consumer group)", o->instances);
    printf("\n");
}

static void print_encode(const struct encode_cost c[N_WH])
{
    printf("adapter cost, in process (%d sample orders each):\n", ENCODE_K);
    for (int w = 0; w < N_WH; w++)
        printf("  %-10s encode %6.1f us/order   parse+key+encode %6.1f us/order\n",
               wh_adapter(w), c[w].encode_us, c[w].parse_encode_us);
}

static void print_run(const struct run *r)
{
    if (r->failed) {
        printf("run %-10s ledger=%-3s n=%-7lu FAILED (see above)\n", wh_adapter(r->wh),
               r->ledger ? "on" : "off", r->n);
        fflush(stdout);
        return;
    }
    printf("run %-10s ledger=%-3s n=%-7lu %6.0f orders/s (%6.0f with startup)  wall %6.1f s  "
           "cpu %5.0f us/order (bench %4.0f)  rss %6.1f MB (file %5.1f)  ACCEPTED %lu/%lu%s",
           wh_adapter(r->wh), r->ledger ? "on" : "off", r->n, r->r.rate, r->r.rate_startup,
           r->r.wall_s, r->r.cpu_us, r->r.bench_cpu_us, r->r.rss_mb, r->r.rss_file_mb,
           r->r.accepted, r->n,
           r->r.ok ? " OK" : "");
    if (!r->r.ok)
        printf(" MISMATCH (other %lu, duplicates %lu, missing %lu)", r->r.other,
               r->r.duplicates, r->r.missing);
    putchar('\n');
    fflush(stdout);
}

static void print_table(const struct run *runs, size_t n)
{
    printf("\n| adapter | ledger | orders | orders/s | with startup | bridge CPU us/order "
           "| bench CPU us/order | peak RSS MB | file-backed MB | result |\n"
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
    for (size_t i = 0; i < n; i++) {
        const struct run *r = &runs[i];
        if (r->failed)
            printf("| %s | %s | %lu | | | | | | | FAILED |\n", wh_adapter(r->wh),
                   r->ledger ? "on" : "off", r->n);
        else
            printf("| %s | %s | %lu | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %s |\n",
                   wh_adapter(r->wh), r->ledger ? "on" : "off", r->n, r->r.rate,
                   r->r.rate_startup, r->r.cpu_us, r->r.bench_cpu_us, r->r.rss_mb,
                   r->r.rss_file_mb,
                   r->r.ok ? "OK" : "MISMATCH");
    }
}

/* ---- the plan ----------------------------------------------------------------- */

static unsigned long largest(const struct plan *p)
{
    unsigned long n = 0;

    for (size_t i = 0; i < p->n_sizes; i++)
        n = p->sizes[i] > n ? p->sizes[i] : n;
    return n;
}

/* The rest, ledger-on run at the largest size run (NULL: none). */
static const struct run *headline(const struct run *runs, size_t n)
{
    const struct run *best = NULL;

    for (size_t i = 0; i < n; i++)
        if (runs[i].wh == WH_REST && runs[i].ledger && !runs[i].failed &&
            (!best || runs[i].n >= best->n))
            best = &runs[i];
    return best;
}

static size_t closed_loops(const struct plan *p, const struct bench_opts *o, struct run *runs)
{
    size_t n = 0;

    printf("\nclosed loop (every order produced first, then the bridge started):\n");
    fflush(stdout);
    for (size_t s = 0; s < p->n_sizes; s++)
        for (size_t a = 0; a < p->n_adapters; a++)
            for (size_t l = 0; l < p->n_ledgers; l++) {
                struct run *r = &runs[n++];
                r->wh = p->adapters[a], r->ledger = p->ledgers[l], r->n = p->sizes[s];
                r->failed = run_closed(o, r->wh, r->ledger, r->n, &r->r) != 0;
                print_run(r);
            }
    return n;
}

/* p99 at 50% of `max` (-1: not run or failed). */
static double open_loop(const struct plan *p, const struct bench_opts *o, double max)
{
    static const double fractions[] = {0.25, 0.50, 0.75};
    struct latency l[3] = {0};
    double rates[3];

    if (!p->latency || max <= 0)
        return -1;
    for (int i = 0; i < 3; i++)
        rates[i] = fractions[i] * max;
    printf("\nopen loop (rest, ledger on, %.0f s per rate of %.0f orders/s; produce -> outcome "
           "in Kafka, by the records' timestamps, ms):\n", p->latency_s, max);
    fflush(stdout);
    if (run_open(o, rates, 3, p->latency_s, l) != 0) {
        printf("  FAILED (see above)\n");
        return -1;
    }
    for (int i = 0; i < 3; i++)
        printf("  %2.0f%%  %6.0f orders/s (produced %6.0f/s, %lu orders): p50 %4.0f  p99 %4.0f  "
               "p999 %4.0f  max %4.0f  bridge cpu %3.0f us/order, embedded Kafka %3.0f\n",
               fractions[i] * 100, l[i].rate, l[i].achieved, l[i].orders, l[i].p50, l[i].p99,
               l[i].p999, l[i].max, l[i].cpu_us, l[i].mock_cpu_us);
    return l[1].p99;
}

static void ceilings(const struct plan *p, const struct bench_opts *o, double *wrk,
                     double *kcat)
{
    struct encode_cost cost[N_WH] = {0};
    double consumer = -1;
    unsigned long n = largest(p);
    char a[32], b[32], c[32];

    *wrk = *kcat = -1;
    if (!p->ceilings)
        return;
    if (ceiling_encode(ENCODE_K, cost) == 0)
        print_encode(cost);
    ceiling_http(o, wrk);
    ceiling_kafka(o, n, &consumer, kcat);
    fmt_num(a, sizeof(a), consumer, "%.0f");
    fmt_num(b, sizeof(b), *kcat, "%.0f");
    fmt_num(c, sizeof(c), *wrk, "%.0f");
    printf("ceilings:\n  kafka  %lu orders: librdkafka consumer %s msgs/s, kcat %s msgs/s\n"
           "  http   wrk -t2 -c64 -d5s, the rest adapter's POST to a rest simulator: %s req/s\n",
           n, a, b, c);
    fflush(stdout);
}

static void summary(const struct run *best, double wrk, double kcat, double p99)
{
    double rate = best ? best->r.rate : -1;
    char n[32], m[32], ratio[32], by_kcat[32], l[32], s[32];

    fmt_num(n, sizeof(n), rate, "%.0f");
    fmt_num(m, sizeof(m), wrk, "%.0f");
    fmt_num(ratio, sizeof(ratio), rate > 0 && wrk > 0 ? rate / wrk : -1, "%.2f");
    fmt_num(by_kcat, sizeof(by_kcat), rate > 0 && kcat > 0 ? rate / kcat : -1, "%.3f");
    fmt_num(l, sizeof(l), p99, "%.0f");
    fmt_num(s, sizeof(s), best ? best->r.rss_mb : -1, "%.1f");
    printf("\nratios (rest, ledger on, %lu orders):\n  bridge / kcat  %s\n"
           "  bridge / wrk   %s\n", best ? best->n : 0ul, by_kcat, ratio);
    printf("bench: orders_per_s=%s wrk_req_per_s=%s ratio=%s p99_ms_at_half=%s rss_mb=%s\n", n, m,
           ratio, l, s);
}

/* --burst: express orders apart (orders.express), then behind the backlog. */
static int burst(const struct plan *p, const struct bench_opts *o)
{
    struct burst_result r[2];
    int failed = 0;

    printf("\nburst: %lu orders queued, then the bridge started; %.0f express orders/s during "
           "the drain (produce -> outcome in Kafka, ms):\n", p->burst, p->express_rate);
    for (int apart = 1; apart >= 0; apart--) {
        if (run_burst(o, p->burst, p->express_rate, apart, &r[apart]) != 0 || !r[apart].ok) {
            printf("  %s: FAILED (see above)\n", apart ? "orders.express" : "behind, in orders");
            failed = 1;
            continue;
        }
        printf("  express %-17s %5lu orders: p50 %6.0f  p99 %6.0f  max %6.0f   the burst drained "
               "at %6.0f orders/s, peak RSS %.1f MB\n",
               apart ? "in orders.express" : "behind, in orders", r[apart].express, r[apart].p50,
               r[apart].p99, r[apart].max, r[apart].rate, r[apart].rss_mb);
        fflush(stdout);
    }
    if (!failed)
        printf("bench: burst=%lu orders_per_s=%.0f express_p99_ms=%.0f "
               "express_p99_ms_behind=%.0f rss_mb=%.1f\n",
               p->burst, r[1].rate, r[1].p99, r[0].p99, r[1].rss_mb);
    return failed;
}

int main(int argc, char **argv)
{
    struct plan p = {.latency_s = 10, .latency = 1, .ceilings = 1, .express_rate = 100};
    struct bench_opts o = {.binary = getenv("OB_BENCH_BINARY"), .sim_threads = 1, .instances = 1};
    static struct run runs[MAX_LIST * MAX_LIST * MAX_LIST];
    const struct run *best;
    double wrk, kcat, p99;
    size_t n;
    int failed = 0;

    if (!o.binary)
        o.binary = OB_BINARY;
    if (parse_options(argc, argv, &p, &o) != 0)
        return 2;
    ob_log_set_level(OB_LOG_WARN);
    wh_set_credentials();
    print_machine(&o);
    if (p.burst)
        return burst(&p, &o);
    ceilings(&p, &o, &wrk, &kcat);
    n = closed_loops(&p, &o, runs);
    for (size_t i = 0; i < n; i++)
        failed |= runs[i].failed || !runs[i].r.ok;
    best = headline(runs, n);
    p99 = open_loop(&p, &o, p.rate > 0 ? p.rate : best ? best->r.rate : -1);
    print_table(runs, n);
    summary(best, wrk, kcat, p99);
    if (failed)
        fprintf(stderr, "bench: FAILED: some orders were not ACCEPTED exactly once\n");
    return failed ? 1 : 0;
}
