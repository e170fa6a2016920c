/*
 * http_server.h — the bridge's own HTTP server (libmicrohttpd): warehouse
 * status callbacks, GET /metrics, /healthz, /readyz, the dashboard and its
 * JSON API.
 *
 * The server runs on threads of its own and never decides what a callback
 * means. A complete callback request (headers and body) is parked: its
 * connection is suspended, the request goes on a bounded FIFO and one byte
 * is written to wake_fd. The bridge's loop thread takes requests with
 * ob_http_server_take(), has the warehouse's adapter verify and decode
 * them, and answers each with ob_http_server_answer(), which sends the
 * reply and resumes the connection.
 *
 * The server answers by itself only what needs no adapter: 404 for a path
 * no route knows, 503 when max_pending requests are already handed over or
 * when the bodies being held would pass max_body_memory, and the operations
 * endpoints /metrics, /healthz, /readyz, the dashboard (/dashboard and its
 * files, embedded at build time) and /api/... (on their own listener when
 * ops_listen is set, 404 on the callback listener then; a callback route
 * under /dashboard or /api is served as a callback). What the server
 * can judge alone but the warehouse should hear in its own words (a source
 * address not allowed, a body over the limit) is handed over with a preset
 * verdict.
 *
 * Hostile clients: every listener caps connections in total and per source
 * address, and every request must have arrived whole (headers and body)
 * within request_timeout_ms of the moment the server began waiting for it
 * (the connection was accepted, or the previous answer on it went out);
 * bytes do not extend that deadline. A connection past it is closed,
 * whatever it is sending.
 *
 * Secrets travel in callback paths and queries (tokens): neither this
 * module nor libmicrohttpd's own messages ever reach a log; errstr names
 * routes by index and id, never by path.
 */
#ifndef OB_HTTP_SERVER_H
#define OB_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <orderbridge/adapter.h>

#define OB_HTTP_SERVER_MAX_HEADERS 64 /* request headers kept; the rest are ignored */
#define OB_HTTP_SERVER_DEFAULT_BODY ((size_t)1 << 20)
#define OB_HTTP_SERVER_DEFAULT_PENDING 4096
#define OB_HTTP_SERVER_DEFAULT_CONNECTIONS 10000u
#define OB_HTTP_SERVER_DEFAULT_REQUEST_TIMEOUT_MS 10000u
#define OB_HTTP_SERVER_DEFAULT_BODY_MEMORY ((size_t)64 << 20)

/* Requests to `prefix` (exactly, or followed by '/') go to the loop with
 * route_id = id. The longest matching prefix wins. */
struct ob_http_route {
    const char *prefix;             /* "/callbacks/SF-SH-01"; starts with '/'; compared with the
                                       raw (not percent-decoded) path */
    int id;                         /* the caller's: the warehouse index */
    const char *const *allow_from;  /* "10.0.0.0/8", "127.0.0.1", "::1/128"; n_allow_from 0:
                                       any source */
    size_t n_allow_from;
    size_t max_body;                /* bytes; 0: OB_HTTP_SERVER_DEFAULT_BODY */
};

struct ob_http_server_stats {
    uint64_t busy;             /* answered 503: max_pending reached, or stopping */
    uint64_t too_large;        /* handed over as OB_CALLBACK_TOO_LARGE */
    uint64_t forbidden_source; /* handed over as OB_CALLBACK_FORBIDDEN */
    uint64_t not_found;        /* answered 404: no route */
    uint64_t handed_over;      /* every request handed over, presets included */
    uint64_t refused_per_ip;   /* connections closed at once: their address had
                                  max_connections_per_ip open already */
    uint64_t deadline_cut;     /* connections closed: no whole request within
                                  request_timeout_ms */
    uint64_t body_budget;      /* answered 503: the body would pass max_body_memory */
    uint64_t body_bytes;       /* now: bytes reserved for request bodies (a gauge) */
};

struct ob_http_server_options {
    const char *listen;    /* "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:8080", "[::]:8080"
                              (IPv6 and IPv4); port 0 picks a free one */
    const char *ops_listen; /* the same forms: serve /metrics, /healthz, /readyz, the
                               dashboard and /api there (plain HTTP) and not on `listen`;
                               NULL: on `listen` */
    const char *tls_cert;  /* PEM file paths; both NULL: plain HTTP */
    const char *tls_key;
    const struct ob_http_route *routes; /* copied at start */
    size_t n_routes;
    size_t max_pending;    /* handed over and not answered yet; beyond: 503 at once;
                              0: OB_HTTP_SERVER_DEFAULT_PENDING */
    int wake_fd;           /* a non-blocking pipe's write end: one byte is written when
                              requests wait to be taken */
    /* GET /metrics: a malloc()ed body (text/plain) and its length, freed by
     * the server; NULL: 500. `http` is this server's counters at the time
     * of the call (for the caller to render beside its own). Called on a
     * server thread, so it must be safe to call beside the loop. metrics
     * NULL: /metrics is 404. */
    char *(*metrics)(void *arg, const struct ob_http_server_stats *http, size_t *len);
    void *metrics_arg;
    /* GET /api/...: a malloc()ed JSON body (freed by the server) and its
     * length; `path` is percent-decoded ("/api/trace/DEMO-1"). *http_status
     * is 200 on entry; the callee may set another (404 for an unknown
     * order). NULL: *http_status if it is 4xx or 5xx (a canned body), else
     * 500. Served with Cache-Control: no-store. Called on a server thread
     * like metrics. api NULL: /api/... is 404. */
    char *(*api)(void *arg, const char *path, int *http_status, size_t *len);
    void *api_arg;
    unsigned threads;      /* server threads; 0: 2 */
    unsigned max_connections;        /* open at once on `listen`; beyond, MHD closes new ones
                                        unanswered; 0: OB_HTTP_SERVER_DEFAULT_CONNECTIONS */
    unsigned max_connections_per_ip; /* open at once from one address, per listener; beyond,
                                        new ones are closed unanswered; 0: no cap (behind a
                                        proxy every client has the proxy's address) */
    unsigned request_timeout_ms;     /* see the top of this file; 0:
                                        OB_HTTP_SERVER_DEFAULT_REQUEST_TIMEOUT_MS */
    size_t max_body_memory;          /* bytes of request bodies held at once (read, or handed
                                        over and not answered); a body that would pass it is
                                        answered 503 with Retry-After; 0:
                                        OB_HTTP_SERVER_DEFAULT_BODY_MEMORY */
};

/* One callback request handed to the loop thread. The server owns it; every
 * pointer in it stays valid until ob_http_server_answer(). */
struct ob_http_pending {
    int route_id;
    /* 0: the loop decodes the request. OB_CALLBACK_FORBIDDEN: the source
     * address is not in allow_from (the body was not read);
     * OB_CALLBACK_TOO_LARGE: the body is over max_body (it was dropped). The
     * loop only formats the warehouse's answer then (403 / 413 typically). */
    enum ob_callback_verdict preset;
    struct ob_callback_request req; /* path and query raw, as sent (not percent-decoded);
                                       body "" when preset */
    /* the server's private state follows */
};

struct ob_http_server;

/* Listen and serve. Returns 0 with *out set, or -1 with errstr set (a bad
 * listen address, a bad CIDR, an unreadable TLS file, TLS not built into
 * libmicrohttpd, the port in use, ...). */
int ob_http_server_start(const struct ob_http_server_options *opt, struct ob_http_server **out,
                         char *errstr, size_t errstr_size);

/* The port listened on (the one picked when the option said 0). */
unsigned short ob_http_server_port(const struct ob_http_server *s);

/* The port of ops_listen; 0 when there is none. */
unsigned short ob_http_server_ops_port(const struct ob_http_server *s);

/* GET /readyz answers 200 while ready, else 503; a new server is not
 * ready. Any thread. */
void ob_http_server_set_ready(struct ob_http_server *s, int ready);

/* The same, with the body GET /readyz answers (what is not ready); text
 * NULL: "ready" or "not ready". Copied. Any thread. */
void ob_http_server_set_readiness(struct ob_http_server *s, int ready, const char *text);

/* Loop thread: move up to `max` waiting requests to out[]; returns how
 * many. Call it until it returns less than `max`: wake_fd is written again
 * only for requests that arrive after this call (max 0 just does that).
 * Reading wake_fd is the caller's business (it is shared). */
size_t ob_http_server_take(struct ob_http_server *s, struct ob_http_pending **out, size_t max);

/* Loop thread: answer a taken request (status 0: 200; content_type "":
 * application/json; the body up to its NUL). `reply` is copied; `p` must
 * not be used afterwards. Every taken request is answered exactly once. */
void ob_http_server_answer(struct ob_http_server *s, struct ob_http_pending *p,
                           const struct ob_callback_reply *reply);

void ob_http_server_get_stats(const struct ob_http_server *s, struct ob_http_server_stats *out);

/* Hand nothing more to the loop (callbacks get 503 from now on), answer
 * 503 to every request not taken yet (waiting up to a second for those
 * answers to go out), then stop listening, close every connection and free
 * the server. Taken requests must have been answered before. NULL is a
 * no-op. */
void ob_http_server_stop(struct ob_http_server *s);

#endif
