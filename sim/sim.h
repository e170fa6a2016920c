/*
 * sim.h — in-process warehouse simulators.
 *
 * A real HTTP server (libmicrohttpd, epoll, thread pool, keep-alive) used by
 * the tests and by `orderbridge demo`. The core (sim.c) owns the server, the
 * body limits, fault injection (5xx, 429, connection resets, "created but
 * the answer was lost", slow answers, from a seeded PRNG), the counters,
 * GET /stats and a sharded dedupe store. A *profile* (sim/profile_<name>.c)
 * models one warehouse API on top of it: it checks credentials and the
 * request, dedupes and answers. "rest" (ShipBob-like POST /orders, bearer
 * token, dedupe by reference_id) is the default. After the push, rest, qimen
 * and sf_express send each order's statuses back to a callback URL (sent by
 * callbacks.c, formatted and signed by the profile), with faults; to one URL,
 * or to one of several picked per attempt (instances behind a load balancer).
 * See sim/README.md for the exact behaviour and how to write a profile.
 */
#ifndef OB_SIM_H
#define OB_SIM_H

#include <stddef.h>

struct ob_sim_secret { const char *name, *value; };

struct ob_sim_report;

/* One request as the sim answered it, for ob_sim_options.on_request. Valid during the
 * call only. Carries nothing secret: no query string, header or body. */
struct ob_sim_request_event {
    const char *method;
    const char *path;      /* without the query */
    int status;            /* HTTP status answered; 0: connection closed unanswered */
    const char *fault;     /* NULL, or the fault injected: "unavailable" (503), "throttled"
                              (429), "reset" (closed before anything happened), "garbage"
                              (an unreadable 200), "lost answer" (processed, maybe created,
                              then closed), "slow" (processed, answered after slow_ms) */
    const char *order_ref; /* the dedupe key the profile stored or looked up, or "" */
    unsigned counted;      /* bit 1u << c for each enum ob_sim_counter the profile counted */
    int looked_up;         /* 1: the profile looked an order up (a status query) */
};

struct ob_sim_options {
    unsigned short port;      /* 0: pick a free port */
    const char *bind_addr;    /* default "127.0.0.1" (IPv4 or IPv6 literal) */
    const char *token;        /* expected bearer token (copied); NULL or "": no auth check.
                                 Shorthand for the secret "token" (setting both fails). */
    unsigned threads;         /* default 2 */
    size_t capacity;          /* max distinct dedupe keys kept, default 1<<20 */
    double fail_5xx_rate, fail_429_rate, reset_rate, reset_after_create_rate, slow_rate;
    unsigned slow_ms;
    unsigned retry_after_s;   /* default 1 */
    unsigned long seed;
    const char *profile;                 /* "rest" (default), "sf_express", "cainiao", "qimen", "ems" */
    const struct ob_sim_secret *secrets; /* profile credentials, NULL-terminated by name == NULL; copied */
    double garbage_rate;      /* HTTP 200 with a body that is not the profile's answer (not JSON,
                                 cut short or empty); half of them after the request was
                                 processed (the order may be created), half before it */

    /* Status after the push (sim/README.md "Status reports"). An order created at t has
     * the n-th status of its sequence (n = 1, 2, ...) at t + n * status_step_ms. */
    unsigned status_step_ms;  /* default 100 */
    const char *callback_url; /* rest, qimen, sf_express: where statuses are sent (the
                                 bridge's callback URL for this warehouse, copied); NULL
                                 or "": none (see ob_sim_set_callback_url). Several URLs
                                 separated by spaces: each attempt goes to one of them at
                                 random, as through a load balancer. Start fails for a
                                 profile that sends none, or for only spaces */
    /* Callback faults, in [0, 1], decided from seed + the order's reference (+ the step),
     * so the same orders get the same faults on every run: */
    double cb_tamper_rate;    /* per report: a copy with a broken signature/token first */
    double cb_replay_rate;    /* per report: the same bytes again after its success */
    double cb_duplicate_rate; /* per report: delivered twice, as two deliveries (new ids) */
    double cb_reorder_rate;   /* per order: PACKED and SHIPPED (or the profile's pair) sent
                                 swapped */
    unsigned cb_max_in_flight; /* callbacks in flight at once, default 64 */

    /* HTTPS (sim/README.md "TLS"). PEM texts, not file names; copied. */
    const char *tls_cert;       /* with tls_key: serve HTTPS only (certificate chain) */
    const char *tls_key;        /* unencrypted private key of tls_cert */
    const char *tls_client_ca;  /* with TLS: every request needs a client certificate this CA
                                   signed; without one the connection is closed unanswered
                                   (counted in tls_refused). NULL: none asked for */
    const char *tls_priorities; /* GnuTLS priority string, e.g. "NORMAL:-VERS-ALL:+VERS-TLS1.1"
                                   for a server stuck on TLS 1.1; NULL: MHD's "NORMAL" */

    /* Observers (NULL: none), e.g. for a log line per request. They run on the sim's
     * threads, concurrently, and must be quick and not call the sim. */
    void (*on_request)(void *arg, const struct ob_sim_request_event *ev); /* every request
                                   but GET /stats and TLS refusals, once its answer is decided */
    void (*on_callback)(void *arg, const struct ob_sim_report *report); /* every callback
                                   attempt once over, one call per order it carried; the
                                   sender's lock is held. report->url may hold a secret
                                   (sf_express's token) */
    void *observer_arg;
};

struct ob_sim_stats { unsigned long requests, created, duplicates, unauthorized, bad_requests,
                      injected_5xx, injected_429, injected_resets, resets_after_create, key_mismatches,
                      bad_signatures, injected_garbage, garbage_after_create,
                      slow_answers;
                      /* callbacks: HTTP requests sent; answered with the warehouse's success;
                       * answered otherwise; no answer (connect error, timeout); tampered
                       * ones answered with success (a bridge bug); real reports not yet
                       * delivered with success (including those not due yet) */
                      unsigned long cb_sent, cb_ok, cb_refused, cb_errors, cb_forged_accepted,
                      cb_pending;
                      /* requests refused for want of a valid client certificate (tls_client_ca) */
                      unsigned long tls_refused; };

struct ob_sim;

/* Start listening; returns NULL with a message in errstr on failure. */
struct ob_sim *ob_sim_start(const struct ob_sim_options *opt, char *errstr, size_t errstr_size);

/* The port actually bound (useful with port 0). */
unsigned short ob_sim_port(const struct ob_sim *sim);

void ob_sim_get_stats(struct ob_sim *sim, struct ob_sim_stats *out);

/* Change the fault rates (fail_5xx_rate, fail_429_rate, reset_rate, reset_after_create_rate,
 * slow_rate, garbage_rate) and slow_ms of a running sim, e.g. to make a warehouse fall sick
 * or recover mid-test; every other field of `opt` is ignored. Requests already past fault
 * injection keep their decisions. Returns 0, or -1 (nothing changed) for a rate outside [0, 1]. */
int ob_sim_set_faults(struct ob_sim *sim, const struct ob_sim_options *opt);

/* The status step of a running sim (status_step_ms, default applied). */
unsigned ob_sim_status_step_ms(const struct ob_sim *sim);

/* 1 when `key` is in the dedupe store (for "rest": the reference_id was created), else 0.
 * The dedupe guarantees a key is stored at most once. */
int ob_sim_created(struct ob_sim *sim, const char *reference_id);

void ob_sim_stop(struct ob_sim *sim);   /* NULL is a no-op; also stops and joins the
                                           callback sender (nothing is sent after it) */

/* ---- status reports (callbacks) ------------------------------------------
 * rest, qimen and sf_express call the bridge back with each order's statuses
 * (sim/README.md "Status reports"). Only orders created while a callback URL
 * is set are reported. */

/* Set (or replace) the callback URL of a running sim, e.g. once the bridge's
 * port is known; copied. NULL or "": orders created from now on are not
 * reported (those already known wait for a URL). Several URLs separated by
 * spaces ("http://127.0.0.1:1001/cb/WH-1 http://127.0.0.1:1002/cb/WH-1"):
 * bridge instances behind one load-balanced address. Every HTTP attempt (the
 * first, each retry, a replay) goes to one of them picked at random from the
 * seed, the order's reference and its attempt number (the same seed, the same
 * picks); the profile builds and signs each attempt for the URL picked. One
 * that refuses or cannot be reached is a failed attempt, retried like any
 * other (maybe to another URL). Returns 0, or -1 (nothing changed) when the
 * profile sends no callbacks, `url` is only spaces, or out of memory. */
int ob_sim_set_callback_url(struct ob_sim *sim, const char *url);

/* One callback as the sim sent it. Strings live as long as the sim. */
struct ob_sim_report {
    const char *order_ref;   /* the order's reference as the bridge pushed it */
    const char *code;        /* the warehouse code sent: "order.picked", "PICK", "DELIVERED", "50" */
    const char *kind;        /* "report", "tamper", "replay", "duplicate" */
    int answered_ok;         /* the bridge answered with the warehouse's success */
    long long occurred_ms;   /* epoch ms the status happened (what the callback says) */
    int http_status;         /* the answer's status; 0: no answer */
    const char *url;         /* the callback URL it went to: one of those set, as set
                                (what the profile appended, e.g. a query, left out) */
};

/* Every callback sent so far (each attempt, retries too), per order in send order,
 * orders in creation order, to fn. A snapshot: fn runs without the sim's locks held
 * and may call the sim. */
void ob_sim_reports(struct ob_sim *sim, void (*fn)(const struct ob_sim_report *r, void *arg),
                    void *arg);

/* 1 when every order reported so far has had its whole sequence sent (each report
 * delivered with success, the faulty copies sent), else 0. */
int ob_sim_reports_done(struct ob_sim *sim);

/* Wait until ob_sim_reports_done() (1) or timeout_ms passed (0). */
int ob_sim_wait_reports_done(struct ob_sim *sim, int timeout_ms);

/* 1 when the order with this reference gets an exception in its sequence: the same
 * for every profile, seed and run (1 order in 20, by hash; see sim/README.md). */
int ob_sim_status_exception(const char *order_ref);
/* 1 when the order is cancelled by the warehouse after its first step (1 in 25 of the
 * orders without an exception, by another hash of the reference), for profiles with a
 * cancel status (all but sf_express). */
int ob_sim_status_cancelled(const char *order_ref);

/* The Standard Webhooks signature "v1,<base64>" of id.timestamp.body with `secret`
 * ("whsec_<base64>", or plain base64) into out. Returns 0, or -1 (bad secret, out too
 * small: 48 bytes are enough). */
int ob_sim_webhook_sign(const char *secret, const char *id, const char *timestamp,
                        const char *body, size_t body_len, char *out, size_t out_size);

/* ---- profiles ------------------------------------------------------------
 * A profile is one file, sim/profile_<name>.c, defining
 *     const struct ob_sim_profile ob_sim_profile_<name> = {.name = "<name>", .handle = ...};
 * and listed in the table in sim.c. See sim/README.md. */

struct ob_sim_request {
    const char *method;       /* "POST" */
    const char *path;         /* URL path without the query, e.g. "/orders" */
    const char *query;        /* raw query string without '?', or NULL */
    const char *body;         /* NUL-terminated, body_len bytes */
    size_t body_len;
    const void *conn;         /* core's, for ob_sim_header() */
};

struct ob_sim_reply {
    int status;               /* HTTP status, default 200 */
    char *body;               /* malloc()ed by the profile; the core frees it */
    const char *content_type; /* static string; default "application/json" */
    int created;              /* set to 1 when this request created an order (enables reset_after_create) */
    const char *retry_after;  /* static string for a Retry-After header, or NULL */
};

/* A status a warehouse reports after the push. */
struct ob_sim_status {
    const char *code;    /* the warehouse's code: "order.picked", "PICK", "50" */
    const char *meaning; /* a short description the profile may send along */
};

#define OB_SIM_LADDER_MAX 15 /* steps of one order's sequence, exception included */

/* What every order of a profile goes through after it was created. */
struct ob_sim_ladder {
    const struct ob_sim_status *steps; /* in the order they happen, at most OB_SIM_LADDER_MAX - 1 */
    size_t n_steps;
    struct ob_sim_status exception;    /* inserted after steps[exception_after] for the orders
                                          ob_sim_status_exception() names */
    size_t exception_after;
    size_t swap_at;                    /* cb_reorder_rate: steps[swap_at] and steps[swap_at + 1]
                                          are sent swapped */
    unsigned max_batch;                /* > 1: due reports of different orders share a callback */
    struct ob_sim_status cancel;       /* code NULL: none. Otherwise the orders
                                          ob_sim_status_cancelled() names end with it, right
                                          after steps[cancel_after] */
    size_t cancel_after;
};

/* One report inside a callback. */
struct ob_sim_cb_item {
    const char *order_ref;    /* as given to ob_sim_order_created() */
    const char *warehouse_id;
    const char *extra;        /* "" when none */
    const struct ob_sim_status *status;
    long long occurred_ms;    /* epoch ms */
};

#define OB_SIM_CB_MAX_HEADERS 8

/* A callback request, built by the profile. */
struct ob_sim_cb_request {
    char *url;                             /* malloc()ed */
    char *headers[OB_SIM_CB_MAX_HEADERS];  /* "Name: value", malloc()ed; unused: NULL */
    char *body;                            /* malloc()ed */
    size_t body_len;
};

struct ob_sim_profile {
    const char *name;
    /* Answer one request that fault injection decided to answer normally. Runs on any MHD pool thread, concurrently. */
    void (*handle)(struct ob_sim *sim, const struct ob_sim_request *req, struct ob_sim_reply *reply);
    /* Optional (NULL: none). Screens a request as soon as its request line and headers are
     * in, before fault injection and before the body is read (req->body is "", body_len 0).
     * Return 1 to answer with `reply` at once (e.g. 404 for an unknown path, 401 for a bad
     * token): no fault applies, the body is read and dropped, handle() is not called and
     * reply->created is ignored. Return 0 (leaving `reply` alone) to go on: fault
     * injection, then the body, then handle(). Same threading as handle(). */
    int (*screen)(struct ob_sim *sim, const struct ob_sim_request *req, struct ob_sim_reply *reply);

    /* ---- appended: status reports (all three set, or none: no callbacks) ---- */
    const struct ob_sim_ladder *ladder;
    /* Build one callback carrying items[0..n) (n > 1 only when ladder->max_batch > 1;
     * then of n different orders) into `out` (zeroed; everything malloc()ed, the core
     * frees it). delivery_id is unique per status delivery: the same for its tampered
     * copy, the report and its retries, another for the duplicate.
     * tamper: break the signature or token. Runs on the sender thread. 0, or -1.
     * Called for every HTTP attempt, retries included, with the one callback URL
     * picked for it (of several: they differ in host:port, see ob_sim_set_callback_url);
     * A replay resends a report's bytes to the URL picked then: callback_url swapped
     * for it at the start of out->url (a report whose out->url does not start with
     * callback_url is replayed where it went). */
    int (*build_callback)(struct ob_sim *sim, const char *callback_url,
                          const struct ob_sim_cb_item *items, size_t n, const char *delivery_id,
                          int tamper, struct ob_sim_cb_request *out);
    /* 1 when the answer is the warehouse's success, else 0. */
    int (*callback_ok)(long http_status, const char *body, size_t body_len);
};

/* A request header (case-insensitive), or NULL. */
const char *ob_sim_header(const struct ob_sim_request *req, const char *name);
/* A configured secret by name, or NULL. */
const char *ob_sim_secret(const struct ob_sim *sim, const char *name);
/* Dedupe store: if `key` is new, store `value` with it and return 1; if it exists, copy its stored value into existing (may be NULL) and return 0; -1 when full. Thread-safe. */
int ob_sim_remember(struct ob_sim *sim, const char *key, const char *value, char *existing, size_t existing_size);
/*   (`existing` gets at most existing_size - 1 bytes and a NUL; a NULL value is stored as "";
 *   -1 also when out of memory or key is NULL. Keys are never forgotten while the sim runs.) */
/* Next warehouse-side id (1000001, 1000002, ...), thread-safe. */
unsigned long ob_sim_next_id(struct ob_sim *sim);
enum ob_sim_counter { OB_SIM_CREATED, OB_SIM_DUPLICATE, OB_SIM_UNAUTHORIZED, OB_SIM_BAD_SIGNATURE, OB_SIM_BAD_REQUEST, OB_SIM_KEY_MISMATCH };
void ob_sim_count(struct ob_sim *sim, enum ob_sim_counter counter);
/* A profile that sends callbacks calls this when a request created an order (with
 * reply->created = 1): its status sequence starts now. order_ref is what the bridge
 * knows the order by, warehouse_id the warehouse's id for it, extra whatever else
 * build_callback needs (may be NULL); all copied. A no-op when no callback URL is set
 * or the profile sends no callbacks. Thread-safe. */
void ob_sim_order_created(struct ob_sim *sim, const char *order_ref, const char *warehouse_id,
                          const char *extra);
/*   (The core counts requests, injected faults, resets_after_create and 413s itself; everything
 *   in this enum is the profile's to count, OB_SIM_CREATED too: reply->created does not count.) */

#endif
