/*
 * config.h — the bridge's one JSON config file (jansson), parsed and checked.
 *
 * Every problem is reported with the JSON path it concerns ("$.warehouses.
 * SF-SH-01.timeout_ms: must be an integer >= 1"); unknown keys and missing
 * required keys are errors. Credentials are references ("env:NAME",
 * "file:PATH") resolved at load time; their values never appear in a
 * message.
 */
#ifndef OB_CONFIG_H
#define OB_CONFIG_H

#include <stddef.h>

#include <jansson.h>

struct ob_kv {
    char *key;
    char *value;
};

/* The value of the last `key` in kv[0..n), or NULL. */
const char *ob_kv_get(const struct ob_kv *kv, size_t n, const char *key);

struct ob_credential {
    char *name;  /* key in the "credentials" object */
    char *ref;   /* "env:NAME" or "file:PATH", as written */
    char *value; /* resolved secret; OPENSSL_cleanse()d on destroy */
};

/* TLS towards one warehouse (every push and poll). The PEM files are read
 * and checked once, at load, so no request touches the file system. */
struct ob_tls_conf {
    char *ca_file;     /* CA bundle replacing the system store; default $.tls.ca_file; NULL:
                          the system store */
    char *client_cert; /* PEM certificate (chain) presented to the warehouse (mTLS); NULL: none */
    char *client_key;  /* its private key: a path, "file:PATH" or "env:NAME", as written */
    int insecure_skip_verify; /* 1: neither the peer nor the host name is verified (dev only) */
    const char *warehouse;    /* the warehouse code, for log lines */
    /* read at load; NUL-terminated; key_pem is OPENSSL_cleanse()d on destroy */
    char *ca_pem, *cert_pem, *key_pem;
    size_t ca_len, cert_len, key_len;
};

struct ob_warehouse_conf {
    char *code;     /* the key under "warehouses" */
    char *adapter;  /* adapter name ("rest") or a path to a .so */
    char *endpoint; /* base URL, trailing '/' removed */
    struct ob_credential *credentials;
    size_t n_credentials;
    long connect_timeout_ms; /* default 2000 */
    long timeout_ms;         /* total per request, default 10000 */
    int max_attempts;        /* default 5 */
    long backoff_ms;         /* first retry delay, doubles, default 200 */
    long max_backoff_ms;     /* default 10000 */
    int max_connections;     /* per warehouse host, default 64 */
    int attempts_in_memory;  /* attempts before the order is parked on the retry topic, default 3 */
    long park_ms;            /* first not-before delay on the retry topic, doubles, default 5000 */
    long max_park_ms;        /* the longest such delay, default 30000 */
    long give_up_after_ms;   /* since first seen: then dead-lettered, default 86400000 */
    double rate_per_second;  /* token bucket; 0: unlimited */
    int rate_burst;          /* bucket size; 0: max(1, rate_per_second) */
    struct {
        int consecutive_failures; /* default 20; 0: off */
        double error_rate;        /* default 0.9; 0: off */
        int min_requests;         /* default 20 */
        long window_ms;           /* default 10000 */
        long open_ms;             /* default 5000 */
        int half_open_probes;     /* default 5 */
        double probe_success_rate; /* default 0.5 */
    } breaker;
    struct {
        int floor;                /* default 1 */
        double max_error_rate;    /* default 0.5 */
        double latency_tolerance; /* default 2; 0: off */
    } concurrency;
    struct {
        char *path;           /* URL path the warehouse calls back on; NULL: no callbacks */
        char **allow_from;    /* source CIDRs; none: any address */
        size_t n_allow_from;
        long max_body_bytes;  /* default 1048576 */
    } callback;
    struct {
        long interval_ms;     /* each order not yet terminal is asked this often; 0: no polling */
        double per_second;    /* queries per second at most, default 20 */
        int max_in_flight;    /* queries at once, default 4 */
    } poll;
    struct ob_tls_conf tls;  /* "tls": verification, CA bundle, client certificate */
    json_t *settings;        /* adapter-specific "settings" object, or NULL; owned */
};

struct ob_route_alias {
    char *name;      /* a value of the order's "warehouse" field */
    char *warehouse; /* a configured warehouse code */
    int index;       /* that warehouse's index in cfg->warehouses, set at load */
};

/* The order fields a routing rule can test, in routing.rules[].match. */
enum ob_route_key {
    OB_ROUTE_CHANNEL,    /* "channel": the order's channel */
    OB_ROUTE_SHOP_ID,    /* "shop_id" */
    OB_ROUTE_PROVINCE,   /* "province": shipping_address.province */
    OB_ROUTE_CITY,       /* "city": shipping_address.city */
    OB_ROUTE_PRIORITY,   /* "priority": the order's priority, "normal" when left out */
    OB_ROUTE_SKU_PREFIX, /* "sku_prefix": every item's sku starts with one of them */
    OB_ROUTE_N_KEYS
};

/* The accepted values of one match key (ORed). n == 0: the rule does not
 * test this key. */
struct ob_route_values {
    char **values; /* non-empty strings */
    size_t *lens;  /* strlen(values[i]), so prefixes are not measured per order */
    size_t n;
};

/* One routing rule: every key it tests must match (AND). */
struct ob_route_rule {
    char *name;      /* as written, or "rules[<i>]"; unique */
    char *warehouse; /* a configured warehouse code */
    int index;       /* that warehouse's index in cfg->warehouses, set at load */
    struct ob_route_values match[OB_ROUTE_N_KEYS];
};

/* An order's "priority", as the lanes order them. */
enum ob_priority { OB_PRIORITY_EXPRESS, OB_PRIORITY_NORMAL, OB_PRIORITY_PRESALE, N_PRIORITIES };

struct ob_config {
    char *origin; /* file path, or "<embedded>" */

    struct {
        char *bootstrap_servers; /* required */
        char *group_id;          /* default "orderbridge" */
        char *instance_name;     /* static membership (group.instance.id); NULL: none */
        char *topic_orders;      /* default "orders" */
        char *topic_status;      /* default "fulfillment.status" */
        char *topic_dlq;         /* default "orders.dlq" */
        char *topic_retry;       /* default "orders.retry" */
        char *topic_express;     /* express orders published apart; NULL: none */
        char *topic_state;       /* the order-state changelog (issue 13); NULL: none */
        char *topic_callbacks;   /* verified callbacks, to the order's owner; NULL: none */
        struct ob_kv *properties; /* "properties": passed to both clients */
        size_t n_properties;
        struct ob_kv *consumer; /* "consumer": consumer only */
        size_t n_consumer;
        struct ob_kv *producer; /* "producer": producer only */
        size_t n_producer;
    } kafka;

    struct {
        char *listen; /* "127.0.0.1:8080"; NULL when the block is absent */
        char *tls_cert; /* PEM file; with tls_key: HTTPS */
        char *tls_key;
        int max_pending; /* callbacks being handled at once, default 4096 */
        char *ops_listen; /* /metrics, /healthz, /readyz here instead; NULL: on listen */
        int max_connections;        /* open at once, default 10000 */
        int max_connections_per_ip; /* open at once from one address, default 64; 0: no cap */
        long request_timeout_ms;    /* a whole request, default 10000 */
        long max_body_memory_bytes; /* request bodies held at once, default 64 MiB */
    } http;

    struct {
        int max_in_flight;         /* orders being processed at once, default 4096 */
        long commit_interval_ms;   /* default 1000 */
        long max_order_bytes;      /* larger messages are dead-lettered, default 1048576 */
        long shutdown_timeout_ms;  /* default 30000 */
        int max_crashes;           /* an order that crashed the bridge this often is dead-lettered, default 2 */
        int priority_weights[N_PRIORITIES]; /* share of a busy lane, default 8, 4, 1 */
    } pipeline;

    struct {
        char *path;       /* LMDB directory; NULL when the block is absent (no ledger) */
        long ttl_hours;   /* default 168 */
        long max_mb;      /* map size, default 1024 */
    } ledger;

    char **adapter_path; /* extra folders searched for ob-adapter-<name>.so */
    size_t n_adapter_path;

    char *log_level; /* "error", "warn", "info" (default), "debug" */
    char *log_format; /* "text" (default) or "json" */

    struct {
        char *ca_file; /* default CA bundle of every warehouse's tls.ca_file; NULL: none */
    } tls;

    struct {
        char *file_permissions; /* "warn" (default) or "refuse" a file: secret others may read */
    } secrets;

    struct ob_warehouse_conf *warehouses;
    size_t n_warehouses;

    /* routing: an order naming a configured warehouse code goes there; an
     * alias maps other names; anything else it names is unroutable
     * (dead-lettered). An order without "warehouse" goes to the first rule
     * that matches it, else to default_warehouse, else it is unroutable.
     * Every warehouse index below is resolved when the config is parsed. */
    struct ob_route_alias *aliases;
    size_t n_aliases;
    struct ob_route_rule *rules; /* in file order: the first match wins */
    size_t n_rules;
    char *default_warehouse; /* may be NULL */
    int default_index;       /* its index in warehouses; -1 when NULL */
};

/*
 * Parse and check a config document. On success returns 0 and *out (free
 * with ob_config_destroy). On failure returns -1, *out stays NULL, and
 * errbuf holds one line per problem ("<path>: <message>\n"), truncated to
 * errbuf_size.
 */
int ob_config_parse(const char *text, size_t len, const char *origin, struct ob_config **out,
                    char *errbuf, size_t errbuf_size);

/* Read FILE and ob_config_parse() it; errors as above ("cannot read ..."). */
int ob_config_load(const char *path, struct ob_config **out, char *errbuf, size_t errbuf_size);

/* Flags of the _ex variants. OB_CONFIG_NO_WAREHOUSE_SECRETS: for a command
 * that talks to Kafka only (replay): warehouse credentials are not read
 * (each warehouse gets none, n_credentials 0) and warehouse TLS files are
 * neither read nor checked; Kafka's own secrets still are. */
#define OB_CONFIG_NO_WAREHOUSE_SECRETS 1u

int ob_config_parse_ex(const char *text, size_t len, const char *origin, unsigned flags,
                       struct ob_config **out, char *errbuf, size_t errbuf_size);
int ob_config_load_ex(const char *path, unsigned flags, struct ob_config **out, char *errbuf,
                      size_t errbuf_size);

void ob_config_destroy(struct ob_config *cfg);

const struct ob_warehouse_conf *ob_config_warehouse(const struct ob_config *cfg, const char *code);

#endif
