/*
 * config.c — parse and check the bridge's JSON config (see config.h and
 * docs/configuration.md).
 *
 * Table driven, in the spirit of Fluent Bit's config_map: every object level
 * has a static table of struct opt rows (key, type, required, default,
 * offsetof, min, max, description). One walker uses the tables for parsing,
 * defaults and unknown-key detection, so a new option is one table row.
 * Things a row cannot say (warehouse codes, credentials, cross-field rules)
 * are small functions of their own.
 *
 * Problems are collected, not returned one at a time: an operator fixing a
 * config wants the whole list. Every message names a JSON path. Secrets (the
 * resolved values of env:/file: references) are never formatted into a
 * message, and neither are strings that might be a literal secret.
 */
#include "config.h"

#include <orderbridge/sdk.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include "log.h"
#include "redact.h"

#define PATH_LEN 1024
#define MS_MAX 86400000L                 /* one day: keeps ms arithmetic far from overflow */
#define SECRET_FILE_MAX 65536            /* a token or a key, not a database */
#define CONFIG_FILE_MAX (16L * 1024 * 1024)
#define PEM_FILE_MAX (4L * 1024 * 1024)  /* a CA bundle; the system one is about 200 KiB */
#define SECRET_REF_MSG "must be a reference env:NAME or file:PATH; secrets are never written in config"

/* ------------------------------------------------------------------------ */
/* Problem collection                                                        */

struct ctx {
    char *buf; /* "<path>: <message>\n" lines, rendered into errbuf at the end */
    size_t len, cap;
    int n;   /* problems recorded */
    int oom; /* an allocation failed: the list may be incomplete */
    int refuse_shared_files; /* secrets.file_permissions is "refuse" */
    unsigned flags;          /* OB_CONFIG_* of ob_config_parse_ex() */
};

static void problem(struct ctx *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct ctx *c, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    c->n++;
    size_t need = strlen(path) + 2 + strlen(msg) + 1;
    if (c->len + need + 1 > c->cap) {
        size_t cap = (c->cap + need + 1) * 2;
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            c->oom = 1;
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    c->len += (size_t)sprintf(c->buf + c->len, "%s: %s\n", path, msg);
}

static char *xstrdup(struct ctx *c, const char *s)
{
    char *d = strdup(s);
    if (!d)
        c->oom = 1;
    return d;
}

static void *xcalloc(struct ctx *c, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        c->oom = 1;
    return p;
}

/* Length of the longest prefix of s, at most max bytes, that does not end
 * inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (s[n] == '\0')
        return n;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* Copy at most 80 bytes of user text, escaping quotes, backslashes and
 * control characters so a key or value cannot forge lines in errbuf. */
static void escape(char *dst, size_t size, const char *s)
{
    size_t n = utf8_cut(s, 80), o = 0;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            o += (size_t)sprintf(dst + o, "\\%c", ch);
        else if (ch < 0x20 || ch == 0x7f)
            o += (size_t)sprintf(dst + o, "\\x%02x", ch);
        else
            dst[o++] = (char)ch;
    }
    if (s[n] != '\0' && o + 4 < size)
        o += (size_t)sprintf(dst + o, "...");
    dst[o] = '\0';
}

/* parent + ".key", or parent + "[\"key\"]" when the key would make a dotted
 * path ambiguous ("security.protocol") or holds unusual characters. */
static void path_key(char *dst, size_t size, const char *parent, const char *key)
{
    int plain = *key != '\0' && strlen(key) <= 80;
    for (const char *p = key; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '_' || *p == '-';
    if (plain) {
        snprintf(dst, size, "%s.%s", parent, key);
    } else {
        char e[400];
        escape(e, sizeof e, key);
        snprintf(dst, size, "%s[\"%s\"]", parent, e);
    }
}

/* ------------------------------------------------------------------------ */
/* The option tables                                                         */

enum type {
    T_STR,     /* non-empty string -> char *, optional check()           */
    T_INT,     /* integer in [min, max] -> int                            */
    T_LONG,    /* integer in [min, max] -> long                           */
    T_DOUBLE,  /* number in [min, max] -> double                          */
    T_BLOCK,   /* nested object described by sub[]                        */
    T_KV,      /* object of scalars -> struct ob_kv[] + count (librdkafka) */
    T_STRLIST, /* array of non-empty strings -> char *[] + count          */
    T_JSON,    /* object kept as json_t *, incref'd                       */
    T_VALUES,  /* non-empty array of non-empty strings -> struct
                  ob_route_values, check() on each element               */
    T_CUSTOM,  /* parse() does it all                                      */
    T_BOOL,    /* true or false -> int                                    */
};

struct opt;
/* Checks a T_STR value (or one T_VALUES element), may normalize it in
 * place; returns NULL or a message. */
typedef const char *(*check_fn)(char *value);
typedef int (*parse_fn)(struct ctx *c, const char *path, json_t *v, void *base);

struct opt {
    const char *key;
    enum type type;
    int required;
    const char *def; /* default as text ("4096"); NULL: none */
    size_t off;      /* offsetof the field in the base struct */
    long min, max;
    const char *desc;
    size_t n_off;          /* T_KV, T_STRLIST: offsetof the element count */
    const struct opt *sub; /* T_BLOCK */
    check_fn check;        /* T_STR, T_VALUES */
    parse_fn parse;        /* T_CUSTOM */
    double dmin, dmax;     /* T_DOUBLE: its range (min and max, longs, would cut 0.01 to 0) */
};

#define C(f) offsetof(struct ob_config, f)
#define W(f) offsetof(struct ob_warehouse_conf, f)
#define R(f) offsetof(struct ob_route_rule, f)
#define REQ 1
#define STR(k, req, def, off, check, desc) {k, T_STR, req, def, off, 0, 0, desc, 0, NULL, check, NULL, 0, 0}
#define INT(k, def, off, min, max, desc) {k, T_INT, 0, def, off, min, max, desc, 0, NULL, NULL, NULL, 0, 0}
#define LONG(k, def, off, min, max, desc) {k, T_LONG, 0, def, off, min, max, desc, 0, NULL, NULL, NULL, 0, 0}
#define DOUBLE(k, def, off, min, max, desc) {k, T_DOUBLE, 0, def, off, 0, 0, desc, 0, NULL, NULL, NULL, min, max}
#define BLOCK(k, req, sub, desc) {k, T_BLOCK, req, NULL, 0, 0, 0, desc, 0, sub, NULL, NULL, 0, 0}
#define KV(k, off, n_off, desc) {k, T_KV, 0, NULL, off, 0, 0, desc, n_off, NULL, NULL, NULL, 0, 0}
#define STRLIST(k, off, n_off, desc) {k, T_STRLIST, 0, NULL, off, 0, 0, desc, n_off, NULL, NULL, NULL, 0, 0}
#define JSON(k, off, desc) {k, T_JSON, 0, NULL, off, 0, 0, desc, 0, NULL, NULL, NULL, 0, 0}
#define VALUES(k, off, check, desc) {k, T_VALUES, 0, NULL, off, 0, 0, desc, 0, NULL, check, NULL, 0, 0}
#define CUSTOM(k, req, parse, desc) {k, T_CUSTOM, req, NULL, 0, 0, 0, desc, 0, NULL, NULL, parse, 0, 0}
#define BOOL(k, def, off, desc) {k, T_BOOL, 0, def, off, 0, 0, desc, 0, NULL, NULL, NULL, 0, 0}
#define END {NULL, T_STR, 0, NULL, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0, 0}

static const char *check_topic(char *v);
static const char *check_instance_name(char *v);
static const char *check_listen(char *v);
static const char *check_level(char *v);
static const char *check_log_format(char *v);
static const char *check_file_permissions(char *v);
static const char *check_endpoint(char *v);
static const char *check_channel(char *v);
static const char *check_priority(char *v);
static const char *check_rule_name(char *v);
static const char *check_callback_path(char *v);
static int parse_warehouses(struct ctx *c, const char *path, json_t *v, void *base);
static int parse_credentials(struct ctx *c, const char *path, json_t *v, void *base);
static int parse_aliases(struct ctx *c, const char *path, json_t *v, void *base);
static int parse_rules(struct ctx *c, const char *path, json_t *v, void *base);

static const struct opt topics_opts[] = {
    STR("orders", 0, "orders", C(kafka.topic_orders), check_topic, "topic orders are consumed from"),
    STR("status", 0, "fulfillment.status", C(kafka.topic_status), check_topic,
        "topic fulfillment.v1 status events are produced to"),
    STR("dlq", 0, "orders.dlq", C(kafka.topic_dlq), check_topic,
        "dead-letter topic for orders that cannot be delivered"),
    STR("retry", 0, "orders.retry", C(kafka.topic_retry), check_topic,
        "topic orders wait on for a later retry; same partition count as orders"),
    STR("express", 0, NULL, C(kafka.topic_express), check_topic,
        "optional topic of express orders (order.v1), consumed ahead of the others so that "
        "they never wait behind a backlog; absent: none"),
    STR("state", 0, NULL, C(kafka.topic_state), check_topic,
        "optional compacted topic each order's state is written to (orderbridge.state.v1, key "
        "order_id), same partition count as orders; absent: none"),
    STR("callbacks", 0, NULL, C(kafka.topic_callbacks), check_topic,
        "optional topic verified status callbacks pass through (orderbridge.callback.v1, key "
        "order_id), so that any instance takes any callback and the owner of the order's "
        "partition applies it; same partition count as orders; needs state; absent: each "
        "instance applies the callbacks it receives"),
    END};

static const struct opt kafka_opts[] = {
    STR("bootstrap_servers", REQ, NULL, C(kafka.bootstrap_servers), NULL,
        "comma-separated host:port list of Kafka brokers"),
    STR("group_id", 0, "orderbridge", C(kafka.group_id), NULL, "consumer group of the bridge"),
    STR("instance_name", 0, NULL, C(kafka.instance_name), check_instance_name,
        "this instance's stable name in the group (Kafka static membership)"),
    BLOCK("topics", 0, topics_opts, "topic names"),
    KV("properties", C(kafka.properties), C(kafka.n_properties),
       "librdkafka properties for both consumer and producer"),
    KV("consumer", C(kafka.consumer), C(kafka.n_consumer), "librdkafka properties, consumer only"),
    KV("producer", C(kafka.producer), C(kafka.n_producer), "librdkafka properties, producer only"),
    END};

static const struct opt http_opts[] = {
    STR("listen", REQ, NULL, C(http.listen), check_listen, "host:port the bridge's HTTP server binds"),
    STR("tls_cert", 0, NULL, C(http.tls_cert), NULL, "PEM certificate file: serve HTTPS (with tls_key)"),
    STR("tls_key", 0, NULL, C(http.tls_key), NULL, "PEM private key file of tls_cert"),
    INT("max_pending", "4096", C(http.max_pending), 1, 1000000,
        "callbacks being handled at once; more are answered 503"),
    STR("ops_listen", 0, NULL, C(http.ops_listen), check_listen,
        "host:port serving /metrics, /healthz and /readyz instead of listen"),
    INT("max_connections", "10000", C(http.max_connections), 1, 1000000,
        "connections open at once; more are closed unanswered"),
    INT("max_connections_per_ip", "256", C(http.max_connections_per_ip), 0, 1000000,
        "connections open at once from one address; more are closed unanswered; 0: no cap"),
    LONG("request_timeout_ms", "10000", C(http.request_timeout_ms), 100, 3600000L,
         "a whole request (headers and body) must arrive within this; bytes do not extend it"),
    LONG("max_body_memory_bytes", "67108864", C(http.max_body_memory_bytes), 1, 1L << 40,
         "request bodies held at once; beyond, 503 with Retry-After"),
    END};

static const struct opt weight_opts[] = {
    INT("express", "8", C(pipeline.priority_weights[OB_PRIORITY_EXPRESS]), 1, 1000,
        "share of express orders"),
    INT("normal", "4", C(pipeline.priority_weights[OB_PRIORITY_NORMAL]), 1, 1000,
        "share of normal orders (and of orders without a priority)"),
    INT("presale", "1", C(pipeline.priority_weights[OB_PRIORITY_PRESALE]), 1, 1000,
        "share of presale orders"),
    END};

static const struct opt pipeline_opts[] = {
    INT("max_in_flight", "4096", C(pipeline.max_in_flight), 1, 1000000,
        "orders being processed at once"),
    LONG("commit_interval_ms", "1000", C(pipeline.commit_interval_ms), 1, MS_MAX,
         "how often finished offsets are committed"),
    LONG("max_order_bytes", "1048576", C(pipeline.max_order_bytes), 1, 1000000000L,
         "larger messages are dead-lettered unread"),
    LONG("shutdown_timeout_ms", "30000", C(pipeline.shutdown_timeout_ms), 1, MS_MAX,
         "how long a stop waits for in-flight orders"),
    INT("max_crashes", "2", C(pipeline.max_crashes), 1, 100,
        "an order whose adapter crashed the bridge this often (the last time running alone) is "
        "dead-lettered as \"crashed\"; needs the ledger"),
    BLOCK("priority_weights", 0, weight_opts,
          "how a warehouse's free connections are shared among the priorities waiting"),
    END};

static const struct opt ledger_opts[] = {
    STR("path", REQ, NULL, C(ledger.path), NULL, "directory of this instance's delivery ledger"),
    LONG("ttl_hours", "168", C(ledger.ttl_hours), 1, 100000, "entries older than this expire"),
    LONG("max_mb", "1024", C(ledger.max_mb), 1, 1048576, "hard size cap; when full, entries are evicted"),
    END};

static const struct opt tls_opts[] = {
    STR("ca_file", 0, NULL, C(tls.ca_file), NULL,
        "PEM CA bundle every warehouse verifies against unless it sets its own; "
        "absent: the system store"),
    END};

static const struct opt log_opts[] = {
    STR("level", 0, "info", C(log_level), check_level, "error, warn, info or debug"),
    STR("format", 0, "text", C(log_format), check_log_format,
        "\"text\" (one line for people) or \"json\" (one object per line)"),
    END};

static const struct opt secrets_opts[] = {
    STR("file_permissions", 0, "warn", C(secrets.file_permissions), check_file_permissions,
        "a file: secret that group or others may read or write: \"warn\" or \"refuse\""),
    END};

/* One key per enum ob_route_key; the router reads match[] by that enum. */
static const struct opt match_opts[] = {
    VALUES("channel", R(match[OB_ROUTE_CHANNEL]), check_channel, "order channels (order.v1 enum)"),
    VALUES("shop_id", R(match[OB_ROUTE_SHOP_ID]), NULL, "shop ids"),
    VALUES("province", R(match[OB_ROUTE_PROVINCE]), NULL, "shipping_address.province values"),
    VALUES("city", R(match[OB_ROUTE_CITY]), NULL, "shipping_address.city values"),
    VALUES("priority", R(match[OB_ROUTE_PRIORITY]), check_priority,
           "order priorities (order.v1 enum; an order without one is \"normal\")"),
    VALUES("sku_prefix", R(match[OB_ROUTE_SKU_PREFIX]), NULL,
           "every item's sku starts with one of these"),
    END};

static const struct opt rule_opts[] = {
    STR("name", 0, NULL, R(name), check_rule_name, "shown in logs; default \"rules[<i>]\""),
    BLOCK("match", REQ, match_opts, "order fields to test; {} matches every order"),
    STR("warehouse", REQ, NULL, R(warehouse), NULL, "configured warehouse code"),
    END};

static const struct opt routing_opts[] = {
    CUSTOM("rules", 0, parse_rules, "rules for orders without \"warehouse\"; first match wins"),
    CUSTOM("aliases", 0, parse_aliases, "order warehouse value -> configured warehouse code"),
    STR("default", 0, NULL, C(default_warehouse), NULL, "warehouse for orders without one"),
    END};

static const struct opt root_opts[] = {
    BLOCK("kafka", REQ, kafka_opts, "Kafka connection and topics"),
    BLOCK("http", 0, http_opts, "the bridge's own HTTP server; absent: none"),
    BLOCK("pipeline", 0, pipeline_opts, "processing limits"),
    BLOCK("ledger", 0, ledger_opts, "delivery ledger; absent: none (redeliveries are pushed again)"),
    STRLIST("adapter_path", C(adapter_path), C(n_adapter_path),
            "extra folders searched for ob-adapter-<name>.so"),
    BLOCK("log", 0, log_opts, "logging"),
    BLOCK("tls", 0, tls_opts, "defaults for the TLS of pushes and polls"),
    BLOCK("secrets", 0, secrets_opts, "how env:/file: secrets are checked"),
    CUSTOM("warehouses", REQ, parse_warehouses, "warehouse code -> warehouse"),
    BLOCK("routing", 0, routing_opts, "which warehouse an order goes to"),
    END};

static const struct opt rate_limit_opts[] = {
    DOUBLE("per_second", "0", W(rate_per_second), 0, 1000000, "requests per second; 0: unlimited"),
    INT("burst", "0", W(rate_burst), 0, 1000000, "requests allowed at once; 0: per_second"),
    END};

static const struct opt breaker_opts[] = {
    INT("consecutive_failures", "20", W(breaker.consecutive_failures), 0, 1000000,
        "open after this many failures in a row; 0: off"),
    DOUBLE("error_rate", "0.9", W(breaker.error_rate), 0, 1,
           "open when this share of the window's requests failed (the warehouse is down; "
           "a struggling one gets fewer requests, see concurrency); 0: off"),
    INT("min_requests", "20", W(breaker.min_requests), 1, 1000000,
        "requests the window needs before error_rate applies"),
    LONG("window_ms", "10000", W(breaker.window_ms), 10, MS_MAX, "error-rate window"),
    LONG("open_ms", "5000", W(breaker.open_ms), 1, MS_MAX, "how long it stays open"),
    INT("half_open_probes", "5", W(breaker.half_open_probes), 1, 1000,
        "requests let through half-open (orders that failed before go first)"),
    DOUBLE("probe_success_rate", "0.5", W(breaker.probe_success_rate), 0.01, 1,
           "share of the probes that must succeed to close it; 1: all"),
    END};

static const struct opt concurrency_opts[] = {
    INT("floor", "1", W(concurrency.floor), 1, INT_MAX,
        "requests at once a struggling warehouse still gets (at most max_connections)"),
    DOUBLE("max_error_rate", "0.5", W(concurrency.max_error_rate), 0, 1,
           "more failed requests than this share lowers the limit; 1: never"),
    DOUBLE("latency_tolerance", "2", W(concurrency.latency_tolerance), 0, 1000,
           "a median answer time above this many times the usual lowers the limit; 0: never"),
    END};

static const struct opt callback_opts[] = {
    STR("path", REQ, NULL, W(callback.path), check_callback_path,
        "URL path of the bridge's HTTP server this warehouse calls back on"),
    STRLIST("allow_from", W(callback.allow_from), W(callback.n_allow_from),
            "source addresses or CIDRs allowed to call back; absent: any"),
    LONG("max_body_bytes", "1048576", W(callback.max_body_bytes), 1, 1000000000L,
         "larger callbacks are refused unread"),
    END};

static const struct opt poll_opts[] = {
    LONG("interval_ms", "0", W(poll.interval_ms), 0, MS_MAX,
         "each order not yet delivered, cancelled or rejected is asked about this often; "
         "0: never"),
    DOUBLE("per_second", "20", W(poll.per_second), 0.01, 1000000, "queries per second at most"),
    INT("max_in_flight", "4", W(poll.max_in_flight), 1, 10000, "queries at once"),
    END};

/* Files are only named here; load_tls() reads and checks them. */
static const struct opt warehouse_tls_opts[] = {
    STR("ca_file", 0, NULL, W(tls.ca_file), NULL,
        "PEM CA bundle replacing the system store; default $.tls.ca_file"),
    STR("client_cert", 0, NULL, W(tls.client_cert), NULL,
        "PEM client certificate (chain) for mutual TLS; with client_key"),
    STR("client_key", 0, NULL, W(tls.client_key), NULL,
        "PEM private key of client_cert: a path, file:PATH or env:NAME; not encrypted"),
    BOOL("insecure_skip_verify", "false", W(tls.insecure_skip_verify),
         "development only: verify neither the certificate nor the host name (logged)"),
    END};

static const struct opt warehouse_opts[] = {
    STR("adapter", REQ, NULL, W(adapter), NULL, "adapter name (\"rest\") or path to a .so"),
    STR("endpoint", REQ, NULL, W(endpoint), check_endpoint, "base URL, http:// or https://"),
    CUSTOM("credentials", 0, parse_credentials, "name -> env:NAME or file:PATH"),
    LONG("connect_timeout_ms", "2000", W(connect_timeout_ms), 1, MS_MAX, "TCP+TLS connect timeout"),
    LONG("timeout_ms", "10000", W(timeout_ms), 1, MS_MAX, "whole-request timeout"),
    INT("max_attempts", "5", W(max_attempts), 1, INT_MAX, "tries before an order is dead-lettered"),
    LONG("backoff_ms", "200", W(backoff_ms), 1, MS_MAX, "first retry delay, doubles per attempt"),
    LONG("max_backoff_ms", "10000", W(max_backoff_ms), 1, MS_MAX, "retry delay cap"),
    INT("max_connections", "64", W(max_connections), 1, INT_MAX, "connections to the warehouse host"),
    INT("attempts_in_memory", "3", W(attempts_in_memory), 1, INT_MAX,
        "attempts before the order waits on the retry topic"),
    LONG("park_ms", "5000", W(park_ms), 1, MS_MAX, "first wait on the retry topic, doubles"),
    LONG("max_park_ms", "30000", W(max_park_ms), 1, MS_MAX,
         "the longest wait on the retry topic (an order comes back sooner when the "
         "warehouse's circuit closes)"),
    LONG("give_up_after_ms", "86400000", W(give_up_after_ms), 1, MS_MAX,
         "an order not delivered this long after it was first seen is dead-lettered"),
    BLOCK("rate_limit", 0, rate_limit_opts, "token bucket"),
    BLOCK("concurrency", 0, concurrency_opts,
          "adaptive limit on requests at once, between floor and max_connections"),
    BLOCK("circuit_breaker", 0, breaker_opts, "stop pushing to a warehouse that is down"),
    BLOCK("callback", 0, callback_opts, "status callbacks from this warehouse; absent: none"),
    BLOCK("poll", 0, poll_opts, "ask this warehouse for the status of its orders; absent: never"),
    BLOCK("tls", 0, warehouse_tls_opts, "https:// endpoints: verification and client certificate"),
    JSON("settings", W(settings), "adapter-specific object"),
    END};

#define FIELD(base, off, type) (*(type *)(void *)((char *)(base) + (off)))

/* ------------------------------------------------------------------------ */
/* String checks (T_STR)                                                     */

static const char *check_callback_path(char *v)
{
    size_t n = strlen(v);

    if (v[0] != '/' || n < 2 || v[n - 1] == '/' || strpbrk(v, "?#% ") ||
        strstr(v, "//") || strcmp(v, "/metrics") == 0 || strcmp(v, "/healthz") == 0 ||
        strcmp(v, "/readyz") == 0 || strncmp(v, "/dashboard", 10) == 0 ||
        strncmp(v, "/api/", 5) == 0 || strcmp(v, "/api") == 0)
        return "must be a path like \"/callbacks/SF-SH-01\" (starts with '/', no trailing "
               "'/', no '?', '#', '%', spaces; not /metrics, /healthz, /readyz, /dashboard... "
               "or /api/...)";
    return NULL;
}

static int kafka_name_ok(const char *v)
{
    size_t n = strlen(v);

    return n > 0 && n <= 249 &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static const char *check_topic(char *v)
{
    return kafka_name_ok(v) ? NULL
                            : "must be a Kafka topic name (1-249 characters of A-Z a-z 0-9 . _ -)";
}

static const char *check_instance_name(char *v)
{
    return kafka_name_ok(v) ? NULL : "must be 1-249 characters of A-Z a-z 0-9 . _ -";
}

static const char *check_listen(char *v)
{
    static const char *msg = "must be \"host:port\" with a port from 0 (any free one) to 65535";
    char *colon = strrchr(v, ':');
    if (!colon || colon == v || colon[1] == '\0' || strlen(colon + 1) > 5 ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return msg;
    long port = strtol(colon + 1, NULL, 10);
    if (port > 65535)
        return msg;
    /* An IPv6 host must be bracketed, or "::1:8080" would be ambiguous. */
    size_t hl = (size_t)(colon - v);
    if (v[0] == '[' ? v[hl - 1] != ']' || hl < 3 : memchr(v, ':', hl) != NULL)
        return "must be \"host:port\"; an IPv6 host is written in brackets: \"[::1]:8080\"";
    return NULL;
}

static const char *check_file_permissions(char *v)
{
    return strcmp(v, "warn") == 0 || strcmp(v, "refuse") == 0 ? NULL
                                                               : "must be \"warn\" or \"refuse\"";
}

static const char *check_level(char *v)
{
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
        if (strcmp(v, levels[i]) == 0)
            return NULL;
    return "must be one of error, warn, info, debug";
}

static const char *check_log_format(char *v)
{
    enum ob_log_format format;

    return ob_log_format_parse(v, &format) == 0 ? NULL : "must be \"text\" or \"json\"";
}

/* The value is never echoed: a URL may carry a password. */
static const char *check_endpoint(char *v)
{
    size_t scheme = strncmp(v, "https://", 8) == 0 ? 8 : strncmp(v, "http://", 7) == 0 ? 7 : 0;
    if (!scheme)
        return "must start with http:// or https://";
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "must not contain spaces or control characters";
    size_t authority = strcspn(v + scheme, "/");
    if (authority == 0)
        return "must name a host after the scheme";
    if (memchr(v + scheme, '@', authority))
        return "must not contain user:password@; put secrets in credentials";
    if (strpbrk(v, "?#"))
        return "must be a base URL without query or fragment";
    /* Adapters append "/path"; a trailing slash would double it. */
    for (size_t n = strlen(v); n > scheme + authority && v[n - 1] == '/'; n--)
        v[n - 1] = '\0';
    return NULL;
}

/* Routing rules test order fields against values; a channel or priority no
 * valid order can carry would make a rule that silently never matches. The
 * lists are the enums of contracts/order.v1.schema.json (src/order.c checks
 * orders against the same ones; test_config compares these messages with
 * the schema). */
static int in_enum(const char *v, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, list[i]) == 0)
            return 1;
    return 0;
}

static const char *check_channel(char *v)
{
    static const char *const channels[] = {"tmall", "jd",      "pdd",  "douyin",
                                           "wechat", "website", "store"};
    if (in_enum(v, channels, sizeof channels / sizeof *channels))
        return NULL;
    return "must be an order.v1 channel: tmall, jd, pdd, douyin, wechat, website, store";
}

static const char *check_priority(char *v)
{
    static const char *const priorities[] = {"normal", "express", "presale"};
    if (in_enum(v, priorities, sizeof priorities / sizeof *priorities))
        return NULL;
    return "must be an order.v1 priority: normal, express, presale";
}

/* A rule's name goes into log lines next to the router's other answers. */
static const char *check_rule_name(char *v)
{
    if (strlen(v) > 128)
        return "must be at most 128 bytes";
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "must not contain control characters";
    if (strcmp(v, "warehouse field") == 0 || strcmp(v, "alias") == 0 || strcmp(v, "default") == 0)
        return "must not be \"warehouse field\", \"alias\" or \"default\": the router reports "
               "those for orders no rule routed";
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Secrets                                                                   */

static int is_reference(json_t *v)
{
    const char *s = json_string_value(v); /* NULL when not a string */
    return s && (strncmp(s, "env:", 4) == 0 || strncmp(s, "file:", 5) == 0);
}

static void free_secret(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* Read a secret file; one trailing "\n" or "\r\n" is stripped because
 * `echo token > file` and editors add it. Messages name the path only. */
static int read_secret_file(struct ctx *c, const char *path, const char *file, char **out)
{
    char q[400];
    escape(q, sizeof q, file);
    char *buf = malloc(SECRET_FILE_MAX + 2);
    if (!buf) {
        c->oom = 1;
        return -1;
    }
    size_t n = 0;
    int err = 0, shared = 0;
    struct stat st;
    FILE *f = fopen(file, "rb");
    if (!f) {
        err = errno;
    } else {
        /* Anyone else on the machine who can read or replace the file has
         * the secret. */
        shared = fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
        if (!(shared && c->refuse_shared_files)) {
            n = fread(buf, 1, SECRET_FILE_MAX + 1, f);
            if (ferror(f))
                err = errno ? errno : EIO;
        }
        fclose(f);
    }
    if (shared && c->refuse_shared_files) {
        problem(c, path, "file \"%s\" is readable or writable by group or others (mode %04o); "
                "chmod 600 it", q, (unsigned)(st.st_mode & 07777));
        free(buf);
        return -1;
    }
    if (shared)
        OB_WARN("%s: file \"%s\" is readable or writable by group or others (mode %04o); chmod "
                "600 it (secrets.file_permissions \"refuse\" makes this an error)",
                path, q, (unsigned)(st.st_mode & 07777));

    const char *bad = NULL;
    if (err) {
        problem(c, path, "cannot read file \"%s\": %s", q, strerror(err));
    } else if (n > SECRET_FILE_MAX) {
        bad = "is larger than 65536 bytes";
    } else {
        if (n > 0 && buf[n - 1] == '\n')
            n -= (n > 1 && buf[n - 2] == '\r') ? 2 : 1;
        if (n == 0)
            bad = "is empty";
        else if (memchr(buf, '\0', n))
            bad = "contains a NUL byte";
    }
    if (bad)
        problem(c, path, "file \"%s\" %s", q, bad);
    if (err || bad) {
        OPENSSL_cleanse(buf, SECRET_FILE_MAX + 2);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    return 0;
}

/* Every resolved secret is masked in whatever leaves the process. */
static int keep_out_of_messages(struct ctx *c, const char *path, const char *value)
{
    int rc = ob_redact_add(value);
    if (rc < 0) {
        problem(c, path, "too many secrets to keep out of messages");
        return -1;
    }
    if (rc > 0)
        OB_WARN("%s: a secret shorter than %d bytes cannot be masked in messages", path,
                OB_REDACT_MIN);
    return 0;
}

/* Resolve "env:NAME" / "file:PATH" into *value (and copy the reference into
 * *ref when asked). Anything else may be a pasted secret: not echoed. */
static int resolve_secret(struct ctx *c, const char *path, json_t *v, char **ref, char **value)
{
    const char *s = json_string_value(v);
    if (!is_reference(v)) {
        problem(c, path, SECRET_REF_MSG);
        return -1;
    }
    if (ref && !(*ref = xstrdup(c, s)))
        return -1;
    if (s[0] == 'f') {
        if (s[5] == '\0') {
            problem(c, path, "file: reference needs a path");
            return -1;
        }
        if (read_secret_file(c, path, s + 5, value) != 0)
            return -1;
        return keep_out_of_messages(c, path, *value);
    }

    const char *name = s + 4;
    size_t len = strlen(name);
    if (len == 0 || len > 128 || (name[0] >= '0' && name[0] <= '9') ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len) {
        problem(c, path, "env: reference needs a variable name (A-Z a-z 0-9 _, not starting with a digit)");
        return -1;
    }
    const char *val = getenv(name);
    if (!val || !*val) {
        problem(c, path, "environment variable %s is %s", name, val ? "empty" : "not set");
        return -1;
    }
    *value = xstrdup(c, val);
    return *value ? keep_out_of_messages(c, path, *value) : -1;
}

/* ------------------------------------------------------------------------ */
/* The walker                                                                */

static int parse_block(struct ctx *c, const char *path, json_t *obj, const struct opt *tab,
                       void *base);

/* Classic edit distance, for "did you mean" on unknown keys. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void unknown_key(struct ctx *c, const char *path, const char *key, const struct opt *tab)
{
    const char *best = NULL;
    size_t best_d = 3; /* farther than two edits is a guess, not a typo */
    for (const struct opt *o = tab; o->key; o++) {
        size_t d = distance(key, o->key);
        if (d < best_d && d < strlen(o->key) / 2 + 1) {
            best = o->key;
            best_d = d;
        }
    }
    if (best)
        problem(c, path, "unknown key (did you mean \"%s\"?)", best);
    else
        problem(c, path, "unknown key");
}

static void set_default(struct ctx *c, const char *path, const struct opt *o, void *base)
{
    switch (o->type) {
    case T_STR:
        if (o->def && !FIELD(base, o->off, char *))
            FIELD(base, o->off, char *) = xstrdup(c, o->def);
        break;
    case T_INT:
        if (o->def)
            FIELD(base, o->off, int) = (int)strtol(o->def, NULL, 10);
        break;
    case T_LONG:
        if (o->def)
            FIELD(base, o->off, long) = strtol(o->def, NULL, 10);
        break;
    case T_DOUBLE:
        if (o->def)
            FIELD(base, o->off, double) = strtod(o->def, NULL);
        break;
    case T_BOOL:
        if (o->def)
            FIELD(base, o->off, int) = strcmp(o->def, "true") == 0;
        break;
    case T_BLOCK: /* an absent block still gets its defaults */
        parse_block(c, path, NULL, o->sub, base);
        break;
    default:
        break;
    }
}

/* librdkafka wants every property as a string. */
static char *scalar_text(struct ctx *c, json_t *v)
{
    char num[64];
    if (json_is_string(v))
        return xstrdup(c, json_string_value(v));
    if (json_is_integer(v))
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v)) {
        snprintf(num, sizeof num, "%.15g", json_real_value(v));
        if (strtod(num, NULL) != json_real_value(v)) /* shortest text that round-trips */
            snprintf(num, sizeof num, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v))
        strcpy(num, json_is_true(v) ? "true" : "false");
    else
        return NULL;
    return xstrdup(c, num);
}

/* librdkafka property names whose values are secrets: references only. */
static int is_secret_property(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") || strcmp(name, "ssl.key.pem") == 0;
}

static int parse_kv(struct ctx *c, const char *path, json_t *v, const struct opt *o, void *base)
{
    if (!json_is_object(v)) {
        problem(c, path, "must be an object of strings, numbers or booleans");
        return -1;
    }
    struct ob_kv *kv = xcalloc(c, json_object_size(v), sizeof *kv);
    if (!kv)
        return -1;
    FIELD(base, o->off, struct ob_kv *) = kv;
    size_t *n = &FIELD(base, o->n_off, size_t);

    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(v, key, val) {
        char p[PATH_LEN];
        path_key(p, sizeof p, path, key);
        /* These have keys of their own; two sources would silently disagree. */
        const char *owner = strcmp(key, "bootstrap.servers") == 0 ||
                                    strcmp(key, "metadata.broker.list") == 0
                                ? "$.kafka.bootstrap_servers"
                            : strcmp(key, "group.id") == 0 ? "$.kafka.group_id"
                            : strcmp(key, "group.instance.id") == 0 ? "$.kafka.instance_name"
                                                                    : NULL;
        char *value = NULL;
        if (owner) {
            problem(c, p, "is set by %s; remove it here", owner);
            rc = -1;
            continue;
        }
        if (is_secret_property(key) || is_reference(val)) {
            if (resolve_secret(c, p, val, NULL, &value) != 0) {
                rc = -1;
                continue;
            }
        } else if (!(value = scalar_text(c, val))) {
            if (!c->oom)
                problem(c, p, "must be a string, number or boolean");
            rc = -1;
            continue;
        }
        kv[*n].key = xstrdup(c, key);
        kv[*n].value = value;
        (*n)++;
    }
    return rc;
}

static int parse_strlist(struct ctx *c, const char *path, json_t *v, const struct opt *o, void *base)
{
    if (!json_is_array(v)) {
        problem(c, path, "must be an array of strings");
        return -1;
    }
    char **list = xcalloc(c, json_array_size(v), sizeof *list);
    if (!list)
        return -1;
    FIELD(base, o->off, char **) = list;
    size_t *n = &FIELD(base, o->n_off, size_t);

    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item) || json_string_length(item) == 0) {
            char p[PATH_LEN + 24];
            snprintf(p, sizeof p, "%s[%zu]", path, i);
            problem(c, p, "must be a non-empty string");
            rc = -1;
            continue;
        }
        list[(*n)++] = xstrdup(c, json_string_value(item));
    }
    return rc;
}

static int parse_values(struct ctx *c, const char *path, json_t *v, const struct opt *o, void *base)
{
    struct ob_route_values *rv = &FIELD(base, o->off, struct ob_route_values);
    if (!json_is_array(v) || json_array_size(v) == 0) {
        problem(c, path, "must be a non-empty array of strings");
        return -1;
    }
    rv->values = xcalloc(c, json_array_size(v), sizeof *rv->values);
    rv->lens = xcalloc(c, json_array_size(v), sizeof *rv->lens);
    if (!rv->values || !rv->lens)
        return -1;

    size_t i;
    json_t *item;
    int rc = 0;
    json_array_foreach(v, i, item) {
        char p[PATH_LEN + 24];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        /* A NUL inside would silently cut the value short. */
        if (!json_is_string(item) || json_string_length(item) == 0 ||
            strlen(json_string_value(item)) != json_string_length(item)) {
            problem(c, p, "must be a non-empty string");
            rc = -1;
            continue;
        }
        char *s = xstrdup(c, json_string_value(item));
        if (!s)
            return -1;
        rv->values[rv->n] = s;
        rv->lens[rv->n++] = strlen(s);
        const char *msg = o->check ? o->check(s) : NULL;
        if (msg) {
            problem(c, p, "%s", msg);
            rc = -1;
        }
    }
    return rc;
}

static int set_value(struct ctx *c, const char *path, const struct opt *o, json_t *v, void *base)
{
    switch (o->type) {
    case T_STR: {
        /* A NUL inside would silently cut the value short. */
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            problem(c, path, "must be a non-empty string");
            return -1;
        }
        char *s = xstrdup(c, json_string_value(v));
        FIELD(base, o->off, char *) = s;
        const char *msg = s && o->check ? o->check(s) : NULL;
        if (msg) {
            problem(c, path, "%s", msg);
            return -1;
        }
        return s ? 0 : -1;
    }
    case T_INT:
    case T_LONG: {
        json_int_t x = json_is_integer(v) ? json_integer_value(v) : 0;
        if (!json_is_integer(v) || x < o->min || x > o->max) {
            if (o->max == INT_MAX || o->max == LONG_MAX)
                problem(c, path, "must be an integer >= %ld", o->min);
            else
                problem(c, path, "must be an integer from %ld to %ld", o->min, o->max);
            return -1;
        }
        if (o->type == T_INT)
            FIELD(base, o->off, int) = (int)x;
        else
            FIELD(base, o->off, long) = (long)x;
        return 0;
    }
    case T_DOUBLE: {
        double x = json_number_value(v);
        if (!json_is_number(v) || x < o->dmin || x > o->dmax) {
            problem(c, path, "must be a number from %g to %g", o->dmin, o->dmax);
            return -1;
        }
        FIELD(base, o->off, double) = x;
        return 0;
    }
    case T_BLOCK:
        if (!json_is_object(v)) {
            problem(c, path, "must be an object");
            return -1;
        }
        return parse_block(c, path, v, o->sub, base);
    case T_KV:
        return parse_kv(c, path, v, o, base);
    case T_STRLIST:
        return parse_strlist(c, path, v, o, base);
    case T_VALUES:
        return parse_values(c, path, v, o, base);
    case T_JSON:
        if (!json_is_object(v)) {
            problem(c, path, "must be an object");
            return -1;
        }
        FIELD(base, o->off, json_t *) = json_incref(v);
        return 0;
    case T_CUSTOM:
        return o->parse(c, path, v, base);
    case T_BOOL:
        if (!json_is_boolean(v)) {
            problem(c, path, "must be true or false");
            return -1;
        }
        FIELD(base, o->off, int) = json_is_true(v);
        return 0;
    }
    return -1;
}

/* Walk one object level: keys in document order (known ones parsed, unknown
 * ones reported), then absent keys (required ones reported, defaults set).
 * obj == NULL means an absent optional block: defaults only. */
static int parse_block(struct ctx *c, const char *path, json_t *obj, const struct opt *tab,
                       void *base)
{
    const char *key;
    json_t *v;
    char p[PATH_LEN];
    int rc = 0;

    if (obj) {
        json_object_foreach(obj, key, v) {
            const struct opt *o = tab;
            while (o->key && strcmp(o->key, key) != 0)
                o++;
            path_key(p, sizeof p, path, key);
            if (!o->key) {
                unknown_key(c, p, key, tab);
                rc = -1;
            } else if (set_value(c, p, o, v, base) != 0) {
                /* Keep the default so later cross-field checks do not
                 * report a follow-on problem about this one. */
                set_default(c, p, o, base);
                rc = -1;
            }
        }
    }
    for (const struct opt *o = tab; o->key; o++) {
        if (obj && json_object_get(obj, o->key))
            continue;
        path_key(p, sizeof p, path, o->key);
        if (o->required && obj) {
            problem(c, p, "required");
            rc = -1;
        }
        set_default(c, p, o, base);
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Levels a table row cannot describe                                        */

static int valid_code(const char *code)
{
    size_t n = strlen(code);
    return n >= 1 && n <= 64 &&
           strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int parse_warehouses(struct ctx *c, const char *path, json_t *v, void *base)
{
    struct ob_config *cfg = base;
    if (!json_is_object(v) || json_object_size(v) == 0) {
        problem(c, path, "must be an object naming at least one warehouse");
        return -1;
    }
    if (!(cfg->warehouses = xcalloc(c, json_object_size(v), sizeof *cfg->warehouses)))
        return -1;

    const char *code;
    json_t *wv;
    int rc = 0;
    json_object_foreach(v, code, wv) {
        struct ob_warehouse_conf *w = &cfg->warehouses[cfg->n_warehouses++];
        char p[PATH_LEN], q[PATH_LEN];
        path_key(p, sizeof p, path, code);
        w->code = xstrdup(c, code);
        if (!valid_code(code)) {
            problem(c, p, "invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -");
            rc = -1;
        }
        if (!json_is_object(wv)) {
            problem(c, p, "must be an object");
            rc = -1;
            continue;
        }
        if (parse_block(c, p, wv, warehouse_opts, w) != 0)
            rc = -1;
        if (w->backoff_ms > w->max_backoff_ms) {
            path_key(q, sizeof q, p, "max_backoff_ms");
            problem(c, q, "must be >= backoff_ms (%ld)", w->backoff_ms);
            rc = -1;
        }
        if (w->connect_timeout_ms > w->timeout_ms) {
            path_key(q, sizeof q, p, "connect_timeout_ms");
            problem(c, q, "must be <= timeout_ms (%ld)", w->timeout_ms);
            rc = -1;
        }
        if (w->park_ms > w->max_park_ms) {
            path_key(q, sizeof q, p, "max_park_ms");
            problem(c, q, "must be >= park_ms (%ld)", w->park_ms);
            rc = -1;
        }
        if (w->concurrency.floor > w->max_connections) {
            path_key(q, sizeof q, p, "concurrency");
            problem(c, q, "floor must be <= max_connections (%d)", w->max_connections);
            rc = -1;
        }
        if (w->concurrency.latency_tolerance > 0 && w->concurrency.latency_tolerance < 1) {
            path_key(q, sizeof q, p, "concurrency");
            problem(c, q, "latency_tolerance must be 0 (off) or at least 1");
            rc = -1;
        }
    }
    return rc;
}

static int parse_credentials(struct ctx *c, const char *path, json_t *v, void *base)
{
    struct ob_warehouse_conf *w = base;
    if (!json_is_object(v)) {
        problem(c, path, "must be an object of env:NAME / file:PATH references");
        return -1;
    }
    if (c->flags & OB_CONFIG_NO_WAREHOUSE_SECRETS)
        return 0; /* neither read nor checked: the caller uses none */
    if (!(w->credentials = xcalloc(c, json_object_size(v), sizeof *w->credentials)))
        return -1;

    const char *name;
    json_t *ref;
    int rc = 0;
    json_object_foreach(v, name, ref) {
        struct ob_credential *cr = &w->credentials[w->n_credentials++];
        char p[PATH_LEN];
        path_key(p, sizeof p, path, name);
        cr->name = xstrdup(c, name);
        if (resolve_secret(c, p, ref, &cr->ref, &cr->value) != 0)
            rc = -1;
    }
    return rc;
}

/* Only stored here; that the targets exist is checked once every warehouse
 * is known (check_routing), whatever the key order in the file. */
static int parse_aliases(struct ctx *c, const char *path, json_t *v, void *base)
{
    struct ob_config *cfg = base;
    if (!json_is_object(v)) {
        problem(c, path, "must be an object of name -> warehouse code");
        return -1;
    }
    if (!(cfg->aliases = xcalloc(c, json_object_size(v), sizeof *cfg->aliases)))
        return -1;

    const char *name;
    json_t *target;
    int rc = 0;
    json_object_foreach(v, name, target) {
        char p[PATH_LEN];
        path_key(p, sizeof p, path, name);
        if (*name == '\0' || !json_is_string(target)) {
            problem(c, p, *name ? "must be a warehouse code (string)" : "alias name must not be empty");
            rc = -1;
            continue;
        }
        struct ob_route_alias *a = &cfg->aliases[cfg->n_aliases++];
        a->name = xstrdup(c, name);
        a->warehouse = xstrdup(c, json_string_value(target));
    }
    return rc;
}

/* The rules themselves are parsed by the table walker; here each gets its
 * default name, and names are checked for uniqueness (a log line naming a
 * rule must point at one rule). Warehouses are checked in check_routing. */
static int parse_rules(struct ctx *c, const char *path, json_t *v, void *base)
{
    struct ob_config *cfg = base;
    if (!json_is_array(v)) {
        problem(c, path, "must be an array of rule objects");
        return -1;
    }
    if (!(cfg->rules = xcalloc(c, json_array_size(v), sizeof *cfg->rules)))
        return -1;

    size_t i;
    json_t *rv;
    int rc = 0;
    json_array_foreach(v, i, rv) {
        struct ob_route_rule *r = &cfg->rules[cfg->n_rules++];
        char p[PATH_LEN + 24];
        snprintf(p, sizeof p, "%s[%zu]", path, i);
        r->index = -1;
        if (!json_is_object(rv)) {
            problem(c, p, "must be an object");
            rc = -1;
        } else if (parse_block(c, p, rv, rule_opts, r) != 0) {
            rc = -1;
        }
        if (!r->name) {
            char def[32];
            snprintf(def, sizeof def, "rules[%zu]", i);
            if (!(r->name = xstrdup(c, def)))
                return -1;
        }
    }

    for (size_t j = 1; j < cfg->n_rules; j++) {
        for (size_t k = 0; k < j; k++) {
            if (strcmp(cfg->rules[j].name, cfg->rules[k].name) != 0)
                continue;
            /* Report it where a name was written: j's, unless j has the
             * default name that k took explicitly. */
            char p[PATH_LEN + 32], q[400];
            escape(q, sizeof q, cfg->rules[j].name);
            if (json_object_get(json_array_get(v, j), "name")) {
                snprintf(p, sizeof p, "%s[%zu].name", path, j);
                problem(c, p, "\"%s\" is already the name of rules[%zu]", q, k);
            } else {
                snprintf(p, sizeof p, "%s[%zu].name", path, k);
                problem(c, p, "\"%s\" is the default name of rules[%zu]; choose another", q, j);
            }
            rc = -1;
            break;
        }
    }
    return rc;
}

static int warehouse_index(const struct ob_config *cfg, const char *code)
{
    const struct ob_warehouse_conf *w = ob_config_warehouse(cfg, code);
    return w ? (int)(w - cfg->warehouses) : -1;
}

/* The index of warehouse `code`, or -1 (reported) when it is not configured. */
static int check_target(struct ctx *c, const struct ob_config *cfg, const char *path,
                        const char *code)
{
    char q[400];
    int idx = warehouse_index(cfg, code);
    if (code && idx < 0) {
        escape(q, sizeof q, code);
        problem(c, path, "no warehouse \"%s\" is configured", q);
    }
    return idx;
}

/* Runs once every warehouse is known, whatever the key order in the file,
 * and resolves each routing target to its index so the router, which runs
 * for every order, never looks a code up. */
static void check_routing(struct ctx *c, struct ob_config *cfg)
{
    char p[PATH_LEN];
    for (size_t i = 0; i < cfg->n_aliases; i++) {
        struct ob_route_alias *a = &cfg->aliases[i];
        path_key(p, sizeof p, "$.routing.aliases", a->name ? a->name : "");
        /* An order naming a configured code always goes there; an alias
         * with the same name would make that rule ambiguous. */
        a->index = -1;
        if (a->name && ob_config_warehouse(cfg, a->name))
            problem(c, p, "is a configured warehouse code; an alias cannot redirect it");
        else
            a->index = check_target(c, cfg, p, a->warehouse);
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        struct ob_route_rule *r = &cfg->rules[i];
        r->index = warehouse_index(cfg, r->warehouse);
        if (r->warehouse && r->index < 0) {
            char q[400];
            escape(q, sizeof q, r->warehouse);
            snprintf(p, sizeof p, "$.routing.rules[%zu].warehouse", i);
            problem(c, p, "\"%s\" is not a configured warehouse", q);
        }
    }
    cfg->default_index = check_target(c, cfg, "$.routing.default", cfg->default_warehouse);
}

/* The consumer's partition.assignment.strategy starts with "range" (or is
 * librdkafka's default, "range,roundrobin"): co-partitioned topics then
 * go to the same member. */
static int range_assignor(const struct ob_config *cfg)
{
    static const char key[] = "partition.assignment.strategy";
    const char *strategy = ob_kv_get(cfg->kafka.consumer, cfg->kafka.n_consumer, key);

    if (!strategy)
        strategy = ob_kv_get(cfg->kafka.properties, cfg->kafka.n_properties, key);
    return !strategy || strncmp(strategy, "range", 5) == 0;
}

const char *ob_kv_get(const struct ob_kv *kv, size_t n, const char *key)
{
    const char *value = NULL;

    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            value = kv[i].value;
    return value;
}

/* `topic` is one of the config's other topics (NULLs skipped). */
static int clashes(const struct ob_config *cfg, const char *topic)
{
    const char *all[] = {cfg->kafka.topic_orders, cfg->kafka.topic_retry, cfg->kafka.topic_express,
                         cfg->kafka.topic_state,  cfg->kafka.topic_callbacks,
                         cfg->kafka.topic_status, cfg->kafka.topic_dlq};
    int same = 0;

    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        same += all[i] && strcmp(all[i], topic) == 0;
    return same > 1; /* itself, and another */
}

/* The bridge reads orders and writes status/DLQ: one topic doing two jobs
 * would feed its own output back in as orders. */
static void check_topics(struct ctx *c, const struct ob_config *cfg)
{
    const char *orders = cfg->kafka.topic_orders;
    if (orders && cfg->kafka.topic_status && strcmp(orders, cfg->kafka.topic_status) == 0)
        problem(c, "$.kafka.topics.status", "must differ from $.kafka.topics.orders");
    if (orders && cfg->kafka.topic_dlq && strcmp(orders, cfg->kafka.topic_dlq) == 0)
        problem(c, "$.kafka.topics.dlq", "must differ from $.kafka.topics.orders");
    const char *retry = cfg->kafka.topic_retry;
    if (retry && ((orders && strcmp(retry, orders) == 0) ||
                  (cfg->kafka.topic_status && strcmp(retry, cfg->kafka.topic_status) == 0) ||
                  (cfg->kafka.topic_dlq && strcmp(retry, cfg->kafka.topic_dlq) == 0)))
        problem(c, "$.kafka.topics.retry", "must differ from the orders, status and dlq topics");
    const char *express = cfg->kafka.topic_express;
    if (express && ((orders && strcmp(express, orders) == 0) ||
                    (retry && strcmp(express, retry) == 0) ||
                    (cfg->kafka.topic_status && strcmp(express, cfg->kafka.topic_status) == 0) ||
                    (cfg->kafka.topic_dlq && strcmp(express, cfg->kafka.topic_dlq) == 0)))
        problem(c, "$.kafka.topics.express",
                "must differ from the orders, retry, status and dlq topics");
    const char *state = cfg->kafka.topic_state;
    if (state && clashes(cfg, state))
        problem(c, "$.kafka.topics.state", "must differ from the other topics");
    if (state && !cfg->ledger.path)
        problem(c, "$.kafka.topics.state", "needs $.ledger (each order's state is kept there)");
    const char *cbs = cfg->kafka.topic_callbacks;
    if (cbs && clashes(cfg, cbs))
        problem(c, "$.kafka.topics.callbacks", "must differ from the other topics");
    if (cbs && !state)
        problem(c, "$.kafka.topics.callbacks",
                "needs $.kafka.topics.state (the owner of an order's partition applies its "
                "callbacks to the state it restored)");
    if (cbs && !range_assignor(cfg))
        problem(c, "$.kafka.topics.callbacks",
                "needs partition.assignment.strategy \"range\" (the default): only it gives "
                "partition N of orders and of the callbacks topic to the same instance");
}

/* Callbacks need the HTTP server and unique paths; callbacks and polling
 * need the ledger, where the bridge keeps each order's state. */
static void check_status_sources(struct ctx *c, const struct ob_config *cfg)
{
    char path[PATH_LEN];

    if ((cfg->http.tls_cert == NULL) != (cfg->http.tls_key == NULL))
        problem(c, "$.http", "tls_cert and tls_key go together");
    if (cfg->http.listen && cfg->http.ops_listen &&
        strcmp(cfg->http.listen, cfg->http.ops_listen) == 0)
        problem(c, "$.http.ops_listen", "must differ from listen");
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        const struct ob_warehouse_conf *w = &cfg->warehouses[i];

        if (!w->code || (!w->callback.path && !w->poll.interval_ms))
            continue;
        if (!cfg->ledger.path) {
            snprintf(path, sizeof path, "$.warehouses.%s", w->code);
            problem(c, path, "callback and poll need $.ledger (each order's state is kept there)");
        }
        if (w->callback.path && !cfg->http.listen) {
            snprintf(path, sizeof path, "$.warehouses.%s.callback", w->code);
            problem(c, path, "needs $.http.listen");
        }
        /* such a body could never be held: every one would be answered 503 */
        if (w->callback.path && cfg->http.listen &&
            w->callback.max_body_bytes >= cfg->http.max_body_memory_bytes) {
            snprintf(path, sizeof path, "$.warehouses.%s.callback.max_body_bytes", w->code);
            problem(c, path, "must be below $.http.max_body_memory_bytes (%ld)",
                    cfg->http.max_body_memory_bytes);
        }
        for (size_t j = 0; w->callback.path && j < i; j++) {
            if (cfg->warehouses[j].callback.path &&
                strcmp(cfg->warehouses[j].callback.path, w->callback.path) == 0) {
                snprintf(path, sizeof path, "$.warehouses.%s.callback.path", w->code);
                problem(c, path, "already used by warehouse %s", cfg->warehouses[j].code);
            }
        }
    }
}

/* ------------------------------------------------------------------------ */
/* TLS of pushes and polls                                                   */

/* Read a PEM file that is not a secret (a CA bundle, a certificate) whole,
 * NUL-terminated. */
static int read_pem_file(struct ctx *c, const char *path, const char *file, char **out,
                         size_t *len)
{
    struct ob_buf buf;
    char q[400];
    int rc = -1, err = 0;
    FILE *f = fopen(file, "rb");

    ob_buf_init(&buf, PEM_FILE_MAX);
    if (!f || ob_buf_read(&buf, f) != 0)
        err = errno ? errno : EIO;
    escape(q, sizeof q, file);
    if (err == EFBIG) {
        problem(c, path, "file \"%s\" is larger than 4 MiB", q);
    } else if (err) {
        problem(c, path, "cannot read file \"%s\": %s", q, strerror(err));
    } else if (buf.len == 0) {
        problem(c, path, "file \"%s\" is empty", q);
    } else {
        *out = ob_buf_steal(&buf, len);
        if (*out)
            rc = 0;
        else
            c->oom = 1;
    }
    if (f)
        fclose(f);
    ob_buf_reset(&buf);
    return rc;
}

/* The certificates in a PEM text: their number (0: none), or -1 when one of
 * them does not parse. The first is kept in *first when asked (X509_free). */
static int pem_certs(const char *pem, size_t len, X509 **first)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    int n = 0;

    if (first)
        *first = NULL;
    if (!bio)
        return -1;
    ERR_clear_error();
    for (;;) {
        X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (!x)
            break;
        if (first && !*first)
            *first = x;
        else
            X509_free(x);
        n++;
    }
    /* The loop ends at the text's end ("no start line") or at a block that
     * does not parse. */
    unsigned long e = ERR_peek_last_error();
    if (e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
        n = -1;
    ERR_clear_error();
    BIO_free(bio);
    if (n < 0 && first) {
        X509_free(*first);
        *first = NULL;
    }
    return n;
}

static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return -1; /* an encrypted key fails to load */
}

/* Read and check a CA bundle named at `path`: at least one certificate. */
static int load_ca(struct ctx *c, const char *path, const char *file, char **pem, size_t *len)
{
    char q[400];

    if (read_pem_file(c, path, file, pem, len) != 0)
        return -1;
    if (pem_certs(*pem, *len, NULL) <= 0) {
        escape(q, sizeof q, file);
        problem(c, path, "file \"%s\" holds no PEM certificate, or one that does not parse", q);
        return -1;
    }
    return 0;
}

/* client_cert and client_key: both readable, a certificate and an
 * unencrypted key that belong together. The key is read like a file:
 * secret (or resolved from env:/file:) and never appears in a message. */
static void load_client_cert(struct ctx *c, const char *path, struct ob_tls_conf *t)
{
    char p[PATH_LEN], q[400];
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;

    path_key(p, sizeof p, path, "client_cert");
    if (read_pem_file(c, p, t->client_cert, &t->cert_pem, &t->cert_len) != 0)
        goto cleanup;
    if (pem_certs(t->cert_pem, t->cert_len, &cert) <= 0) {
        escape(q, sizeof q, t->client_cert);
        problem(c, p, "file \"%s\" holds no PEM certificate, or one that does not parse", q);
        goto cleanup;
    }

    path_key(p, sizeof p, path, "client_key");
    if (strncmp(t->client_key, "env:", 4) == 0 || strncmp(t->client_key, "file:", 5) == 0) {
        json_t *ref = json_string(t->client_key);
        int rc = ref ? resolve_secret(c, p, ref, NULL, &t->key_pem) : -1;
        if (!ref)
            c->oom = 1;
        json_decref(ref);
        if (rc != 0)
            goto cleanup;
    } else if (read_secret_file(c, p, t->client_key, &t->key_pem) != 0 ||
               keep_out_of_messages(c, p, t->key_pem) != 0) {
        goto cleanup;
    }
    t->key_len = strlen(t->key_pem);
    bio = BIO_new_mem_buf(t->key_pem, (int)t->key_len);
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    ERR_clear_error();
    if (!key) {
        problem(c, p, strstr(t->key_pem, "ENCRYPTED")
                          ? "is an encrypted private key; passphrases are not supported"
                          : "is not a PEM private key");
        goto cleanup;
    }
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        problem(c, p, "does not belong to client_cert (the public keys differ)");
    }
cleanup:
    BIO_free(bio);
    EVP_PKEY_free(key);
    X509_free(cert);
}

/* Runs once the whole document is parsed, so a warehouse inherits
 * $.tls.ca_file whatever the key order. Every file is read here, once:
 * pushes and polls use the copies in memory. */
static void load_tls(struct ctx *c, struct ob_config *cfg)
{
    char *ca_pem = NULL;
    size_t ca_len = 0;
    char wp[PATH_LEN], p[PATH_LEN];

    if (cfg->tls.ca_file && load_ca(c, "$.tls.ca_file", cfg->tls.ca_file, &ca_pem, &ca_len) != 0) {
        free(ca_pem);
        ca_pem = NULL;
    }
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        struct ob_warehouse_conf *w = &cfg->warehouses[i];
        struct ob_tls_conf *t = &w->tls;

        if (!w->code)
            continue;
        t->warehouse = w->code;
        path_key(wp, sizeof wp, "$.warehouses", w->code);
        path_key(p, sizeof p, wp, "tls");
        if (w->endpoint && strncmp(w->endpoint, "http://", 7) == 0 &&
            (t->ca_file || t->client_cert || t->client_key || t->insecure_skip_verify))
            problem(c, p, "is set, but the endpoint is http://: TLS applies to https:// only");
        if (t->ca_file) {
            char cp[PATH_LEN];
            path_key(cp, sizeof cp, p, "ca_file");
            load_ca(c, cp, t->ca_file, &t->ca_pem, &t->ca_len);
        } else if (ca_pem) {
            t->ca_file = xstrdup(c, cfg->tls.ca_file);
            t->ca_pem = xcalloc(c, ca_len + 1, 1);
            if (t->ca_pem) {
                memcpy(t->ca_pem, ca_pem, ca_len);
                t->ca_len = ca_len;
            }
        }
        if ((t->client_cert == NULL) != (t->client_key == NULL))
            problem(c, p, "client_cert and client_key go together");
        else if (t->client_cert)
            load_client_cert(c, p, t);
    }
    free(ca_pem);
}

/* ------------------------------------------------------------------------ */
/* errbuf                                                                    */

/* Copy whole lines while they fit, keeping room for "(N more problems)"
 * after the last one; never half a line, unless not even the first fits.
 * Always NUL-terminated. */
static void render(const struct ctx *c, char *errbuf, size_t size)
{
    if (!errbuf || size == 0)
        return;
    /* After a failed allocation the list may be incomplete: say only that. */
    const char *text = c->oom ? "out of memory\n" : c->buf ? c->buf : "";
    int lines = 0;
    for (const char *p = text; (p = strchr(p, '\n')); p++)
        lines++;

    size_t used = 0;
    int kept = 0;
    char tail[64] = "";
    while (kept < lines) {
        size_t len = (size_t)(strchr(text + used, '\n') - (text + used)) + 1;
        char next_tail[64] = "";
        if (lines - kept - 1 > 0)
            snprintf(next_tail, sizeof next_tail, "(%d more problems)\n", lines - kept - 1);
        if (used + len + strlen(next_tail) + 1 > size)
            break;
        used += len;
        kept++;
        strcpy(tail, next_tail);
    }
    if (kept == 0 && lines > 0) { /* as much of the first line as fits */
        size_t first = (size_t)(strchr(text, '\n') - text) + 1;
        used = utf8_cut(text, first < size - 1 ? first : size - 1);
        tail[0] = '\0';
    }
    memcpy(errbuf, text, used);
    strcpy(errbuf + used, kept < lines ? tail : "");
}

/* ------------------------------------------------------------------------ */
/* API                                                                       */

int ob_config_parse(const char *text, size_t len, const char *origin, struct ob_config **out,
                    char *errbuf, size_t errbuf_size)
{
    return ob_config_parse_ex(text, len, origin, 0, out, errbuf, errbuf_size);
}

int ob_config_parse_ex(const char *text, size_t len, const char *origin, unsigned flags,
                       struct ob_config **out, char *errbuf, size_t errbuf_size)
{
    struct ctx c = {.flags = flags};
    struct ob_config *cfg = NULL;
    json_error_t jerr;
    json_t *root = NULL;

    *out = NULL;
    if (!origin)
        origin = "<embedded>";

    /* A duplicate key would silently replace the first one (two warehouses
     * with one code, say); jansson can refuse it. */
    root = json_loadb(text ? text : "", text ? len : 0, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson appends " near '<token>'", which can be part of a secret
         * pasted into the file; line and column point there anyway. A
         * duplicate's token is a key, and naming it helps. */
        char *near = strstr(jerr.text, " near '");
        if (near && strncmp(jerr.text, "duplicate object key", 20) != 0)
            *near = '\0';
        char where[PATH_LEN + 64];
        snprintf(where, sizeof where, "%s:%d:%d", origin, jerr.line, jerr.column);
        problem(&c, where, "%s", jerr.text);
        goto fail;
    }
    if (!(cfg = xcalloc(&c, 1, sizeof *cfg)) || !(cfg->origin = xstrdup(&c, origin)))
        goto fail;
    if (!json_is_object(root)) {
        problem(&c, "$", "must be an object");
        goto fail;
    }

    /* Read first: the walk resolves file: secrets in whatever order the
     * file has its keys. */
    const char *perms = json_string_value(
        json_object_get(json_object_get(root, "secrets"), "file_permissions"));
    c.refuse_shared_files = perms && strcmp(perms, "refuse") == 0;
    parse_block(&c, "$", root, root_opts, cfg);
    check_topics(&c, cfg);
    check_routing(&c, cfg);
    check_status_sources(&c, cfg);
    if (!(flags & OB_CONFIG_NO_WAREHOUSE_SECRETS))
        load_tls(&c, cfg);
    if (c.n || c.oom)
        goto fail;

    json_decref(root);
    free(c.buf);
    if (errbuf && errbuf_size)
        errbuf[0] = '\0';
    *out = cfg;
    return 0;

fail:
    render(&c, errbuf, errbuf_size);
    ob_config_destroy(cfg);
    json_decref(root);
    free(c.buf);
    return -1;
}

int ob_config_load(const char *path, struct ob_config **out, char *errbuf, size_t errbuf_size)
{
    return ob_config_load_ex(path, 0, out, errbuf, errbuf_size);
}

int ob_config_load_ex(const char *path, unsigned flags, struct ob_config **out, char *errbuf,
                      size_t errbuf_size)
{
    struct ob_buf text;
    int err = 0, rc = -1;
    FILE *f = fopen(path, "rb");

    *out = NULL;
    ob_buf_init(&text, CONFIG_FILE_MAX);
    if (!f)
        err = errno;
    else if (ob_buf_read(&text, f) != 0)
        err = errno;
    else
        rc = ob_config_parse_ex(text.data, text.len, path, flags, out, errbuf, errbuf_size);
    if (err && errbuf && errbuf_size)
        snprintf(errbuf, errbuf_size, "cannot read %s: %s\n", path,
                 err == EFBIG ? "larger than 16 MiB" : strerror(err));
    if (f)
        fclose(f);
    ob_buf_cleanse(&text); /* a rejected literal secret may be in this text */
    return rc;
}

static void free_kv(struct ob_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free_secret(kv[i].value); /* some properties are passwords */
    }
    free(kv);
}

void ob_config_destroy(struct ob_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->origin);
    free(cfg->kafka.bootstrap_servers);
    free(cfg->kafka.group_id);
    free(cfg->kafka.instance_name);
    free(cfg->kafka.topic_orders);
    free(cfg->kafka.topic_status);
    free(cfg->kafka.topic_dlq);
    free(cfg->kafka.topic_retry);
    free(cfg->kafka.topic_express);
    free(cfg->kafka.topic_state);
    free(cfg->kafka.topic_callbacks);
    free(cfg->ledger.path);
    free_kv(cfg->kafka.properties, cfg->kafka.n_properties);
    free_kv(cfg->kafka.consumer, cfg->kafka.n_consumer);
    free_kv(cfg->kafka.producer, cfg->kafka.n_producer);
    free(cfg->http.listen);
    free(cfg->http.tls_cert);
    free(cfg->http.tls_key);
    free(cfg->http.ops_listen);
    for (size_t i = 0; i < cfg->n_adapter_path; i++)
        free(cfg->adapter_path[i]);
    free(cfg->adapter_path);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->tls.ca_file);
    free(cfg->secrets.file_permissions);
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        struct ob_warehouse_conf *w = &cfg->warehouses[i];
        free(w->code);
        free(w->adapter);
        free(w->endpoint);
        for (size_t j = 0; j < w->n_credentials; j++) {
            free(w->credentials[j].name);
            free(w->credentials[j].ref);
            free_secret(w->credentials[j].value);
        }
        free(w->credentials);
        free(w->callback.path);
        for (size_t j = 0; j < w->callback.n_allow_from; j++)
            free(w->callback.allow_from[j]);
        free(w->callback.allow_from);
        free(w->tls.ca_file);
        free(w->tls.client_cert);
        free(w->tls.client_key);
        free(w->tls.ca_pem);
        free(w->tls.cert_pem);
        if (w->tls.key_pem) /* key_len may not be set yet when the load failed */
            OPENSSL_cleanse(w->tls.key_pem, strlen(w->tls.key_pem));
        free(w->tls.key_pem);
        json_decref(w->settings);
    }
    free(cfg->warehouses);
    for (size_t i = 0; i < cfg->n_aliases; i++) {
        free(cfg->aliases[i].name);
        free(cfg->aliases[i].warehouse);
    }
    free(cfg->aliases);
    for (size_t i = 0; i < cfg->n_rules; i++) {
        struct ob_route_rule *r = &cfg->rules[i];
        free(r->name);
        free(r->warehouse);
        for (size_t k = 0; k < OB_ROUTE_N_KEYS; k++) {
            for (size_t j = 0; j < r->match[k].n; j++)
                free(r->match[k].values[j]);
            free(r->match[k].values);
            free(r->match[k].lens);
        }
    }
    free(cfg->rules);
    free(cfg->default_warehouse);
    free(cfg);
}

const struct ob_warehouse_conf *ob_config_warehouse(const struct ob_config *cfg, const char *code)
{
    if (!cfg || !code)
        return NULL;
    for (size_t i = 0; i < cfg->n_warehouses; i++)
        if (cfg->warehouses[i].code && strcmp(cfg->warehouses[i].code, code) == 0)
            return &cfg->warehouses[i];
    return NULL;
}
