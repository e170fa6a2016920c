/*
 * orderbridge adapter ABI — the one header a warehouse plugin needs.
 *
 * A plugin is a shared object (ob-adapter-<name>.so) that exports exactly one
 * symbol, ob_adapter_entry(), returning a static struct ob_adapter. The
 * bridge dlopen()s it, checks abi and size, and copies only the members it
 * knows. Built-in adapters are loaded the same way.
 *
 * Versioning: struct ob_adapter is append-only. A new member goes at the end
 * and OB_ADAPTER_ABI stays the same as long as older plugins keep working
 * (the loader reads `size` to know which members a plugin has). A change an
 * old plugin cannot survive bumps OB_ADAPTER_ABI, and the loader refuses
 * plugins built for another ABI.
 *
 * Threading: the bridge calls one adapter state from one thread at a time.
 * Calls must not block: no network or disk I/O in encode/decode.
 */
#ifndef ORDERBRIDGE_ADAPTER_H
#define ORDERBRIDGE_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include <orderbridge/order.h>
#include <orderbridge/version.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OB_ADAPTER_ABI 1

#define OB_ADAPTER_ENTRY_SYMBOL "ob_adapter_entry"

#if defined(__GNUC__)
#define OB_ADAPTER_EXPORT __attribute__((visibility("default")))
#else
#define OB_ADAPTER_EXPORT
#endif

enum ob_log_level { OB_LOG_ERROR = 0, OB_LOG_WARN, OB_LOG_INFO, OB_LOG_DEBUG };

/* What the bridge knows about the warehouse an adapter instance serves. */
struct ob_adapter_env {
    uint32_t abi;          /* OB_ADAPTER_ABI of the bridge */
    uint32_t size;         /* sizeof(struct ob_adapter_env) of the bridge */
    const char *warehouse; /* warehouse code from config, e.g. "SF-SH-01" */
    const char *endpoint;  /* base URL from config, no trailing slash */

    /* A credential named in the warehouse's "credentials" block, resolved
     * from its env:/file: reference; NULL when not configured. The string
     * belongs to the bridge and stays valid until destroy(). Never log it. */
    const char *(*credential)(const struct ob_adapter_env *env, const char *name);

    /* Log through the bridge (secrets must never be passed here). */
    void (*log)(const struct ob_adapter_env *env, enum ob_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;

    void *host; /* the bridge's own; do not touch */

    /* The folder of the config file ("." when the config has no file):
     * relative paths in settings (mapping files) are read from here. */
    const char *config_dir;
};

/* One push of one order to one warehouse. */
struct ob_delivery {
    const char *warehouse;       /* warehouse code */
    const char *idempotency_key; /* 64 lower-case hex chars, stable across redeliveries */
    const char *trace_id;
    int attempt; /* 1 for the first try */
};

#define OB_REQUEST_MAX_HEADERS 16

struct ob_header {
    char *name;  /* owned by the request */
    char *value; /* owned by the request */
};

/*
 * The HTTP request an adapter builds. Fill it with the ob_request_*()
 * functions of the SDK (sdk.h), which own the memory; the bridge frees it.
 */
struct ob_request {
    const char *method; /* static string: "POST", "GET", "PUT" */
    char *url;
    struct ob_header headers[OB_REQUEST_MAX_HEADERS];
    size_t n_headers;
    char *body;
    size_t body_len;
};

/* The warehouse's answer as the bridge received it. */
struct ob_response {
    long status;            /* HTTP status; 0 when there was no answer */
    const char *body;       /* NUL-terminated for convenience; may hold NULs */
    size_t body_len;
    const struct ob_header *headers;
    size_t n_headers;
    const char *transport_error; /* curl's message when status == 0 */
};

enum ob_outcome_kind {
    OB_OUTCOME_ACCEPTED = 1,  /* the warehouse has the order (new or already known) */
    OB_OUTCOME_RETRY = 2,     /* transient: try again with the same idempotency key */
    OB_OUTCOME_PERMANENT = 3, /* the warehouse refuses it: REJECTED + dead-letter */
};

struct ob_outcome {
    enum ob_outcome_kind kind;
    char warehouse_order_id[128];
    char carrier[64];
    char tracking_no[128];
    char reason[512];   /* human readable, no secrets */
    int retry_after_ms; /* > 0 when the warehouse said when to come back */
};

struct ob_adapter {
    uint32_t abi;  /* OB_ADAPTER_ABI when built */
    uint32_t size; /* sizeof(struct ob_adapter) when built */
    const char *name;
    const char *description;

    /* Create an instance for one warehouse. `settings` is the warehouse's
     * "settings" object from config (a jansson json_t *, may be NULL),
     * borrowed for the duration of the call. On failure return -1 and write
     * a message naming the setting to errstr. */
    int (*init)(const struct ob_adapter_env *env, const void *settings, void **state, char *errstr,
                size_t errstr_size);

    /* Build the request pushing `order`. Return 0, or -1 with errstr set
     * when the order cannot be expressed for this warehouse (permanent). */
    int (*encode)(void *state, const struct ob_order *order, const struct ob_delivery *delivery,
                  struct ob_request *out, char *errstr, size_t errstr_size);

    /* Classify the answer. `out` arrives zeroed. Must always decide. */
    void (*decode_response)(void *state, const struct ob_order *order,
                            const struct ob_delivery *delivery, const struct ob_response *resp,
                            struct ob_outcome *out);

    void (*destroy)(void *state);

    /* Members appended after ABI 1 go here. */
};

typedef const struct ob_adapter *(*ob_adapter_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
