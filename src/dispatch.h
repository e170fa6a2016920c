/*
 * dispatch.h — HTTP pushes with libcurl's multi interface.
 *
 * Non-blocking: many calls in flight on one thread, connections kept alive
 * and reused per host. The bridge's event loop calls ob_dispatch_poll(),
 * which waits (epoll) on curl's sockets and one extra wake-up fd, advances
 * the transfers whose sockets or timers are due (curl_multi_socket_action),
 * and calls each finished call's done() callback.
 */
#ifndef OB_DISPATCH_H
#define OB_DISPATCH_H

#include <stddef.h>

#include <curl/curl.h>

#include <orderbridge/adapter.h>

#define OB_HTTP_MAX_BODY (1024 * 1024)
#define OB_HTTP_MAX_HEADERS 32
#define OB_HTTP_HEADER_ARENA 4096

/* A push to a warehouse with tls.insecure_skip_verify logs a WARN at most
 * this often (and the first one at once). */
#define OB_TLS_INSECURE_WARN_MS (10L * 60 * 1000)
/* A failed TLS handshake logs a WARN per warehouse at most this often; every
 * failure is in its call's transport_error anyway. */
#define OB_TLS_FAILURE_WARN_MS (60L * 1000)

struct ob_tls_conf; /* config.h */

struct ob_http_call {
    /* set by the caller before ob_dispatch_submit() */
    struct ob_request req; /* owned by the call until ob_http_call_reset() */
    long connect_timeout_ms;
    long timeout_ms;
    /* https://: what to verify against and the client certificate; its PEM
     * blobs are handed to curl uncopied, so it must outlive the dispatcher
     * (the config does). NULL: the system store, no client certificate.
     * Either way the peer and its host name are verified (unless
     * insecure_skip_verify) and TLS 1.2 is the least accepted. */
    const struct ob_tls_conf *tls;
    void (*done)(struct ob_http_call *call); /* called once per submit */

    /* valid inside done() until ob_http_call_reset() */
    struct ob_response resp;
    double total_seconds;

    /* private */
    struct ob_http_call *prev, *next;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    size_t body_len, body_cap;
    int body_truncated;
    /* from here on, set up by each submit: no need to zero on reuse */
    struct ob_header resp_headers[OB_HTTP_MAX_HEADERS];
    char header_arena[OB_HTTP_HEADER_ARENA];
    size_t arena_used;
    char errbuf[CURL_ERROR_SIZE];
    char tls_error[CURL_ERROR_SIZE + 8]; /* "TLS: " + errbuf, for a failed handshake */
};

struct ob_dispatch;

struct ob_dispatch_options {
    long max_host_connections; /* per host, default 64 */
    long max_total_connections; /* default 0 (unlimited) */
};

int ob_dispatch_create(const struct ob_dispatch_options *opt, struct ob_dispatch **out);
void ob_dispatch_destroy(struct ob_dispatch *d);

/* Start `call`. Returns 0, or -1 (resp.transport_error says why) when it
 * could not even start; done() is not called then. */
int ob_dispatch_submit(struct ob_dispatch *d, struct ob_http_call *call);

/* Wait up to timeout_ms for network activity or wake_fd to be readable,
 * then advance all transfers and complete the finished ones. Returns 1 when
 * wake_fd is readable, 0 otherwise, -1 on a curl failure. */
int ob_dispatch_poll(struct ob_dispatch *d, int wake_fd, int timeout_ms);

/* Free the request and response of a call so it can be reused. */
void ob_http_call_reset(struct ob_http_call *call);

/* Abort one call in flight (no-op when it is not); done() is not called. */
void ob_dispatch_abort(struct ob_dispatch *d, struct ob_http_call *call);

/* Abort every call in flight; their done() callbacks are not called. */
void ob_dispatch_abort_all(struct ob_dispatch *d);

#endif
