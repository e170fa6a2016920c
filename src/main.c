/*
 * main.c — the orderbridge command: run, demo, dev-broker, sim, check, convert, replay,
 * version.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/crypto.h>

#include <orderbridge/adapter.h>
#include <orderbridge/version.h>

#include "adapter.h"
#include "bridge.h"
#include "config.h"
#include "convert.h"
#include "demo.h"
#include "log.h"
#include "mock.h"
#include "producer.h"
#include "replay.h"
#include "sim_cli.h"

#define ERRBUF_SIZE 8192

static const char usage[] =
    "usage: orderbridge <command> [options]\n"
    "\n"
    "commands:\n"
    "  run -c FILE         run the bridge (Kafka orders -> warehouses -> status events)\n"
    "  demo                everything embedded: Kafka, simulated warehouses, sample orders\n"
    "                      (--stay: then keep serving its dashboard)\n"
    "  dev-broker          start an embedded Kafka for development and print its address\n"
    "  sim --profile NAME  start one simulated warehouse and print its config entry\n"
    "  check -c FILE       validate a config and load its adapters\n"
    "  convert -c FILE ORDER.json\n"
    "                      print the HTTP request an order becomes, without sending it\n"
    "  replay -c FILE --dlq [--warehouse W] [--since T]\n"
    "                      send dead-lettered orders through the bridge again\n"
    "  version             print versions\n"
    "\n"
    "`orderbridge <command> --help` describes each command.\n";

static volatile sig_atomic_t signalled;
static struct ob_bridge *running_bridge;

static void on_signal(int sig)
{
    signalled = sig;
    if (running_bridge)
        ob_bridge_stop(running_bridge);
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int want_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

/* -c FILE, the only option of run and check. */
static const char *config_arg(int argc, char **argv, const char *help)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL;
    int ch;

    optind = 1;
    for (;;) {
        ch = getopt_long(argc, argv, "c:", opts, NULL);
        if (ch == -1)
            break;
        if (ch == 'c') {
            path = optarg;
        } else {
            fputs(help, stderr);
            return NULL;
        }
    }
    if (!path || optind != argc) {
        fputs(help, stderr);
        return NULL;
    }
    return path;
}

static const char run_help[] =
    "usage: orderbridge run -c FILE\n"
    "\n"
    "Consume orders from Kafka, push each to its warehouse through the warehouse's\n"
    "adapter, and publish fulfillment status events. Offsets are committed only\n"
    "past orders whose outcome is final and in Kafka.\n"
    "\n"
    "  -c, --config FILE   the JSON config (see docs/configuration.md)\n"
    "\n"
    "SIGTERM or SIGINT stops fetching, lets in-flight orders finish (up to\n"
    "pipeline.shutdown_timeout_ms), commits and exits 0. Exit status 1 after a\n"
    "fatal Kafka error or a failed start, 2 for an invalid config.\n";

static int cmd_run(int argc, char **argv)
{
    char err[ERRBUF_SIZE];
    struct ob_config *cfg = NULL;
    struct ob_bridge *bridge = NULL;
    const char *path;
    int rc;

    if (want_help(argc, argv)) {
        fputs(run_help, stdout);
        return 0;
    }
    path = config_arg(argc, argv, run_help);
    if (!path)
        return 2;
    if (ob_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: invalid config:\n%s", path, err);
        return 2;
    }
    if (ob_bridge_create(cfg, &bridge, err, sizeof(err)) != 0) {
        fprintf(stderr, "orderbridge: %s\n", err);
        ob_config_destroy(cfg);
        return 1;
    }
    running_bridge = bridge;
    install_signals();
    rc = ob_bridge_run(bridge);
    running_bridge = NULL;
    {
        const struct ob_metrics *m = ob_bridge_metrics(bridge);
        OB_INFO("stopped: consumed %llu, accepted %llu, rejected %llu, invalid %llu, "
                "unroutable %llu, failed %llu, status events %llu, dead letters %llu, "
                "parked %llu, already done %llu, resent after a crash %llu, "
                "circuit opened %llu, left uncommitted %llu",
                (unsigned long long)OB_METRIC_GET(m, consumed),
                (unsigned long long)OB_METRIC_GET(m, accepted),
                (unsigned long long)OB_METRIC_GET(m, rejected),
                (unsigned long long)OB_METRIC_GET(m, invalid),
                (unsigned long long)OB_METRIC_GET(m, unroutable),
                (unsigned long long)OB_METRIC_GET(m, failed),
                (unsigned long long)OB_METRIC_GET(m, status_events),
                (unsigned long long)OB_METRIC_GET(m, dead_lettered),
                (unsigned long long)OB_METRIC_GET(m, parked),
                (unsigned long long)OB_METRIC_GET(m, ledger_skipped),
                (unsigned long long)OB_METRIC_GET(m, ledger_resent),
                (unsigned long long)OB_METRIC_GET(m, breaker_opened),
                (unsigned long long)OB_METRIC_GET(m, abandoned));
    }
    ob_bridge_destroy(bridge);
    ob_config_destroy(cfg);
    return rc == 0 ? 0 : 1;
}

static const char check_help[] =
    "usage: orderbridge check -c FILE\n"
    "\n"
    "Validate a config: every key, type and reference (credentials must resolve),\n"
    "the librdkafka properties; load and initialise every warehouse's adapter\n"
    "(which reads its mapping files) and render the contract's example order\n"
    "through it, checking the body is well-formed. Prints each problem with\n"
    "the JSON path it concerns; exits 0 when the config is good, 1 when not.\n";

static int cmd_check(int argc, char **argv)
{
    char err[ERRBUF_SIZE];
    struct ob_config *cfg = NULL;
    const char *path;
    int bad = 0;

    if (want_help(argc, argv)) {
        fputs(check_help, stdout);
        return 0;
    }
    path = config_arg(argc, argv, check_help);
    if (!path)
        return 2;
    if (ob_config_load(path, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: invalid config:\n%s", path, err);
        return 1;
    }
    if (ob_kafka_check_properties(cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        bad = 1;
    }
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        struct ob_adapter_instance *inst = NULL;
        if (ob_adapter_open(cfg, &cfg->warehouses[i], &inst, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            bad = 1;
            continue;
        }
        printf("warehouse %s: adapter %s (%s) from %s\n", cfg->warehouses[i].code,
               inst->plugin.vt.name, inst->plugin.vt.description ? inst->plugin.vt.description : "",
               inst->plugin.path);
        char summary[1024];
        if (ob_convert_check(inst, summary, sizeof(summary), err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", path, err);
            bad = 1;
        } else {
            printf("  %s\n", summary);
        }
        const struct ob_warehouse_conf *w = &cfg->warehouses[i];
        if (w->callback.path && !inst->plugin.vt.decode_callback) {
            fprintf(stderr, "%s: $.warehouses.%s.callback: adapter %s does not take status "
                            "callbacks\n", path, w->code, inst->plugin.vt.name);
            bad = 1;
        } else if (w->callback.path) {
            printf("  status callbacks on %s\n", w->callback.path);
        }
        if (w->poll.interval_ms && !inst->plugin.vt.poll_encode) {
            fprintf(stderr, "%s: $.warehouses.%s.poll: adapter %s cannot be polled\n", path,
                    w->code, inst->plugin.vt.name);
            bad = 1;
        } else if (w->poll.interval_ms) {
            printf("  status polled every %ld ms\n", w->poll.interval_ms);
        }
        if (w->tls.insecure_skip_verify) {
            printf("  TLS: NOT VERIFIED (insecure_skip_verify)\n");
            fprintf(stderr, "%s: WARNING: $.warehouses.%s.tls.insecure_skip_verify is true: its "
                            "certificate and host name are NOT verified; development only\n",
                    path, w->code);
        } else if (strncmp(w->endpoint, "https://", 8) == 0) {
            printf("  TLS 1.2+: verified against %s%s%s\n",
                   w->tls.ca_file ? w->tls.ca_file : "the system store",
                   w->tls.client_cert ? "; client certificate " : "",
                   w->tls.client_cert ? w->tls.client_cert : "");
        }
        ob_adapter_close(inst);
    }
    if (!bad)
        printf("%s: ok\n", path);
    ob_config_destroy(cfg);
    return bad;
}

static const char dev_broker_help[] =
    "usage: orderbridge dev-broker [--brokers N] [--partitions P] [--topic NAME[:P]]...\n"
    "\n"
    "Start an embedded Kafka (librdkafka's mock cluster) on localhost, print its\n"
    "bootstrap servers on stdout, and serve until SIGINT or SIGTERM. It speaks the\n"
    "real Kafka protocol: kcat, orderbridge run and any client can use it.\n"
    "Keeps only about 5 MB per partition: for development and tests only.\n"
    "\n"
    "  --brokers N        number of brokers (default 1)\n"
    "  --partitions P     partitions of the default topics (default 8)\n"
    "  --topic NAME[:P]   create a topic (repeatable); without any, creates\n"
    "                     orders, orders.retry, fulfillment.status, orders.dlq,\n"
    "                     and the internal orderbridge.state and\n"
    "                     orderbridge.callbacks (for kafka.topics.state and\n"
    "                     .callbacks)\n";

static int cmd_dev_broker(int argc, char **argv)
{
    static const struct option opts[] = {{"brokers", required_argument, NULL, 'b'},
                                         {"partitions", required_argument, NULL, 'p'},
                                         {"topic", required_argument, NULL, 't'},
                                         {NULL, 0, NULL, 0}};
    const char *topics[64];
    size_t n_topics = 0;
    int brokers = 1, partitions = 8, ch;
    char err[512];
    struct ob_mock *mock = NULL;

    if (want_help(argc, argv)) {
        fputs(dev_broker_help, stdout);
        return 0;
    }
    optind = 1;
    for (;;) {
        ch = getopt_long(argc, argv, "", opts, NULL);
        if (ch == -1)
            break;
        if (ch == 'b') {
            brokers = atoi(optarg);
        } else if (ch == 'p') {
            partitions = atoi(optarg);
        } else if (ch == 't' && n_topics < 64) {
            topics[n_topics++] = optarg;
        } else {
            fputs(dev_broker_help, stderr);
            return 2;
        }
    }
    if (brokers < 1 || brokers > 16 || partitions < 1 || partitions > 1024 || optind != argc) {
        fputs(dev_broker_help, stderr);
        return 2;
    }
    if (ob_mock_start(brokers, &mock, err, sizeof(err)) != 0) {
        fprintf(stderr, "dev-broker: %s\n", err);
        return 1;
    }
    if (n_topics == 0) {
        topics[n_topics++] = "orders";
        topics[n_topics++] = "orders.retry";
        topics[n_topics++] = "fulfillment.status";
        topics[n_topics++] = "orders.dlq";
        topics[n_topics++] = "orderbridge.state";     /* same partitions as orders */
        topics[n_topics++] = "orderbridge.callbacks"; /* same partitions as orders */
    }
    for (size_t i = 0; i < n_topics; i++) {
        char name[256];
        int parts = partitions;
        const char *colon = strrchr(topics[i], ':');
        snprintf(name, sizeof(name), "%.*s",
                 colon ? (int)(colon - topics[i]) : (int)strlen(topics[i]), topics[i]);
        if (colon)
            parts = atoi(colon + 1);
        if (parts < 1 || ob_mock_create_topic(mock, name, parts) != 0) {
            fprintf(stderr, "dev-broker: cannot create topic %s\n", topics[i]);
            ob_mock_stop(mock);
            return 1;
        }
        fprintf(stderr, "dev-broker: topic %s with %d partition(s)\n", name, parts);
    }
    printf("%s\n", ob_mock_bootstraps(mock));
    fflush(stdout);
    install_signals();
    while (!signalled)
        pause();
    fprintf(stderr, "dev-broker: stopping\n");
    ob_mock_stop(mock);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("orderbridge %s (adapter ABI %d)\n", OB_VERSION_STRING, OB_ADAPTER_ABI);
    printf("librdkafka %s, %s, jansson %s, %s\n", rd_kafka_version_str(),
           curl_version(), JANSSON_VERSION, OpenSSL_version(OPENSSL_VERSION));
    return 0;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int argc, char **argv);
    } commands[] = {
        {"run", cmd_run},
        {"demo", ob_demo_main},
        {"dev-broker", cmd_dev_broker},
        {"sim", ob_sim_cli_main},
        {"check", cmd_check},
        {"convert", ob_convert_main},
        {"replay", ob_replay_main},
        {"version", cmd_version},
    };
    int rc = 2;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            rc = commands[i].fn(argc - 1, argv + 1);
            curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "orderbridge: unknown command \"%s\"\n\n%s", argv[1], usage);
    curl_global_cleanup();
    return 2;
}
