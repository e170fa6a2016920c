/*
 * sim.h — an in-process REST warehouse simulator (ShipBob-like POST /orders).
 *
 * A real HTTP server (libmicrohttpd, epoll, thread pool, keep-alive) used by
 * the tests and by `orderbridge demo`. It checks the bearer token, dedupes
 * orders by reference_id and can inject faults (5xx, 429, connection resets,
 * "created but the answer was lost", slow answers) with a seeded PRNG, so the
 * bridge's retry and idempotency logic can be exercised end to end.
 * See sim/README.md for the exact behaviour.
 */
#ifndef OB_SIM_H
#define OB_SIM_H

#include <stddef.h>

struct ob_sim_options {
    unsigned short port;      /* 0: pick a free port */
    const char *bind_addr;    /* default "127.0.0.1" (IPv4 or IPv6 literal) */
    const char *token;        /* expected bearer token (copied); NULL or "": no auth check */
    unsigned threads;         /* default 2 */
    size_t capacity;          /* max distinct reference_ids kept, default 1<<20 */
    double fail_5xx_rate, fail_429_rate, reset_rate, reset_after_create_rate, slow_rate;
    unsigned slow_ms;
    unsigned retry_after_s;   /* default 1 */
    unsigned long seed;
};

struct ob_sim_stats { unsigned long requests, created, duplicates, unauthorized, bad_requests,
                      injected_5xx, injected_429, injected_resets, resets_after_create, key_mismatches; };

struct ob_sim;

/* Start listening; returns NULL with a message in errstr on failure. */
struct ob_sim *ob_sim_start(const struct ob_sim_options *opt, char *errstr, size_t errstr_size);

/* The port actually bound (useful with port 0). */
unsigned short ob_sim_port(const struct ob_sim *sim);

void ob_sim_get_stats(struct ob_sim *sim, struct ob_sim_stats *out);

/* how many times reference_id was created: 0 or 1 (the dedupe guarantees it) */
int ob_sim_created(struct ob_sim *sim, const char *reference_id);

void ob_sim_stop(struct ob_sim *sim);   /* NULL is a no-op */

#endif
