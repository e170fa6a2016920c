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

/* ---- Status after the push (appended in 1.1) ---------------------------- */

/* The fulfillment.v1 statuses a warehouse can report after the push. */
enum ob_fulfillment_status {
    OB_STATUS_UNMAPPED = 0, /* a code the adapter does not map: kept in raw, counted */
    OB_STATUS_ACCEPTED,
    OB_STATUS_ALLOCATED,
    OB_STATUS_PICKED,
    OB_STATUS_PACKED,
    OB_STATUS_SHIPPED,
    OB_STATUS_DELIVERED,
    OB_STATUS_CANCELLED,
    OB_STATUS_EXCEPTION,
    OB_STATUS_REJECTED,
};

/* One report about one order. Strings are NUL-terminated, cut to fit. */
struct ob_status_update {
    char order_id[65];              /* the order_id the bridge pushed (the warehouse's
                                       reference / our order code); required */
    char warehouse_order_id[128];   /* the warehouse's own id, "" when not given */
    enum ob_fulfillment_status status;
    char raw_code[64];              /* the warehouse's own code, as sent: "order.picked",
                                       "PICK", "50"; required */
    char raw_text[256];             /* its description, when it gives one */
    int64_t occurred_at_ms;         /* epoch ms, when the warehouse says it happened;
                                       0: unknown (the bridge uses the time it learnt it) */
    char carrier[64];
    char tracking_no[128];
    char reason[256];               /* EXCEPTION / CANCELLED: why, when given */
};

#define OB_CALLBACK_MAX_UPDATES 16

/* An HTTP request a warehouse sent to the bridge's callback server. */
struct ob_callback_request {
    const char *method;          /* "POST", "GET", ... */
    const char *path;            /* the whole URL path, e.g. "/callbacks/SF-SH-01/t0k3n" */
    const char *subpath;         /* what follows the warehouse's configured path: "" or
                                    "/t0k3n" */
    const char *query;           /* raw query string without '?', or NULL */
    const struct ob_header *headers;
    size_t n_headers;
    const char *body;            /* NUL-terminated for convenience; may hold NULs */
    size_t body_len;
    const char *remote_addr;     /* "127.0.0.1", "::1" */
    int64_t now_ms;              /* epoch ms when it arrived, for timestamp checks */
};

enum ob_callback_verdict {
    OB_CALLBACK_OK = 1,        /* understood (updates may be 0) */
    OB_CALLBACK_FORBIDDEN,     /* signature, token, timestamp or source address refused */
    OB_CALLBACK_MALFORMED,     /* verified, or unverifiable, but not understood */
    OB_CALLBACK_UNKNOWN_ORDER, /* (bridge) names no order pushed to this warehouse */
    OB_CALLBACK_TOO_LARGE,     /* (bridge) body over the limit */
    OB_CALLBACK_RETRY,         /* (bridge) cannot take it now: the warehouse should send
                                  it again later */
};

struct ob_callback_result {
    char reason[256];    /* why it was refused, for the log; no secrets */
    char delivery_id[128]; /* the warehouse's id of this delivery (webhook-id), "" when
                              none: the bridge answers a repeat with success and emits
                              nothing */
    struct ob_status_update updates[OB_CALLBACK_MAX_UPDATES];
    size_t n_updates;
};

struct ob_callback_reply {
    int status;             /* HTTP status; 0: 200 */
    char content_type[64];  /* "": application/json */
    char body[1024];
};

/* An order the poller asks about. */
struct ob_poll_target {
    const char *order_id;
    const char *warehouse_order_id; /* "" when the push answer gave none */
    const char *idempotency_key;
    enum ob_fulfillment_status current; /* the order's state as the bridge knows it */
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

    /* ---- Appended in 1.1: status after the push (all optional) ---------
     * A warehouse reports what it does with an order either by calling the
     * bridge back (decode_callback + answer_callback) or by being asked
     * (poll_encode + poll_decode). The bridge normalizes the reports, keeps
     * each order's state, emits each status once and answers a callback
     * with success only after Kafka has the events. */

    /* Verify and parse one callback request (signature, token, timestamp:
     * the warehouse's own rules) into status updates. Return
     * OB_CALLBACK_OK with 0..OB_CALLBACK_MAX_UPDATES updates in `out`, or
     * OB_CALLBACK_FORBIDDEN / OB_CALLBACK_MALFORMED with out->reason set
     * (no secrets). `out` arrives zeroed. */
    enum ob_callback_verdict (*decode_callback)(void *state, const struct ob_callback_request *req,
                                                struct ob_callback_result *out);

    /* The answer the warehouse expects for `verdict` (its success or
     * failure document). `reason` may be "" and must not be echoed when it
     * could help an attacker. `out` arrives zeroed; status 0 means 200. */
    void (*answer_callback)(void *state, const struct ob_callback_request *req,
                            enum ob_callback_verdict verdict, const char *reason,
                            struct ob_callback_reply *out);

    /* Build the request asking the warehouse where `target` stands.
     * Return 0, or -1 with errstr set. */
    int (*poll_encode)(void *state, const struct ob_poll_target *target, struct ob_request *out,
                       char *errstr, size_t errstr_size);

    /* Parse the answer into status updates (all of them the warehouse
     * lists, oldest first; the bridge drops what it already emitted).
     * Return the number of updates written to out[0..max), or -1 with
     * errstr set when the answer is an error or unreadable (the order is
     * asked again next round). */
    int (*poll_decode)(void *state, const struct ob_poll_target *target,
                       const struct ob_response *resp, struct ob_status_update *out, size_t max,
                       char *errstr, size_t errstr_size);

    /* ---- Appended in 1.2 ------------------------------------------------ */

    /* OB_ADAPTER_* flags. Zero (and plugins built before 1.2) is the safe
     * default. */
    uint32_t flags;

    /* Members appended later go here. */
};

/* encode and decode_response never read order->doc: the bridge then does
 * not decode the whole order into a jansson tree (about 15 µs per order),
 * and order->doc is NULL. Without the flag order->doc is there as always. */
#define OB_ADAPTER_NO_DOC 0x1u

typedef const struct ob_adapter *(*ob_adapter_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
