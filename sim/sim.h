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
 * token, dedupe by reference_id) is the default.
 * See sim/README.md for the exact behaviour and how to write a profile.
 */
#ifndef OB_SIM_H
#define OB_SIM_H

#include <stddef.h>

struct ob_sim_secret { const char *name, *value; };

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
};

struct ob_sim_stats { unsigned long requests, created, duplicates, unauthorized, bad_requests,
                      injected_5xx, injected_429, injected_resets, resets_after_create, key_mismatches,
                      bad_signatures, injected_garbage, garbage_after_create,
                      slow_answers; };

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

/* 1 when `key` is in the dedupe store (for "rest": the reference_id was created), else 0.
 * The dedupe guarantees a key is stored at most once. */
int ob_sim_created(struct ob_sim *sim, const char *reference_id);

void ob_sim_stop(struct ob_sim *sim);   /* NULL is a no-op */

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
/*   (The core counts requests, injected faults, resets_after_create and 413s itself; everything
 *   in this enum is the profile's to count, OB_SIM_CREATED too: reply->created does not count.) */

#endif
