#include "dispatch.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <orderbridge/sdk.h>

#include "config.h"
#include "log.h"
#include "status.h" /* ob_mono_ms */

#define EASY_POOL_MAX 1024
#define TLS_NOTES 32
#define EPOLL_BATCH 256

/* When a warehouse's TLS was last the subject of a WARN, to repeat it only
 * so often. Keyed by its struct ob_tls_conf (NULL: calls without one). */
struct tls_note {
    const struct ob_tls_conf *tls;
    uint64_t at_ms;
};

/*
 * curl is driven by curl_multi_socket_action(): it tells us which sockets
 * to watch (on_socket) and when to call it back (on_timer); one epoll set
 * holds those sockets and the caller's wake-up fd. Only sockets with news
 * are handed to curl, so a turn costs what happened, not what is open.
 */
struct ob_dispatch {
    CURLM *multi;
    int epfd;
    int wake_fd;     /* in the epoll set since the first poll, or -1 */
    int timer_armed; /* curl asked to be called at timer_due_ms */
    uint64_t timer_due_ms;
    struct ob_http_call *running; /* list of calls in flight, for abort */
    CURL *pool[EASY_POOL_MAX]; /* idle easy handles, reused to save setup */
    size_t n_pool;
    struct tls_note insecure[TLS_NOTES], failed[TLS_NOTES];
    size_t n_insecure, n_failed;
};

/* curl: watch `s` for `what`, or no longer. socketp is non-NULL once added. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct ob_dispatch *d = userp;
    struct epoll_event ev = {.data.fd = s};

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        /* ENOENT/EBADF when curl closed it already: epoll dropped it then */
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(d->multi, s, NULL);
        return 0;
    }
    ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
    /* A number curl closed and reused may still be, or no longer be, in the set. */
    if (epoll_ctl(d->epfd, socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &ev) != 0 &&
        epoll_ctl(d->epfd, socketp ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, s, &ev) != 0) {
        OB_ERR("epoll_ctl on an HTTP socket: %s", strerror(errno));
        return -1; /* curl fails the transfer: a retryable transport error */
    }
    if (!socketp)
        curl_multi_assign(d->multi, s, d);
    return 0;
}

/* curl: call curl_multi_socket_action(CURL_SOCKET_TIMEOUT) in timeout_ms (-1: never). */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct ob_dispatch *d = userp;

    (void)multi;
    d->timer_armed = timeout_ms >= 0;
    d->timer_due_ms = ob_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    return 0;
}

int ob_dispatch_create(const struct ob_dispatch_options *opt, struct ob_dispatch **out)
{
    struct ob_dispatch *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (!d)
        return -1;
    d->wake_fd = -1;
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->multi = d->epfd >= 0 ? curl_multi_init() : NULL;
    if (!d->multi) {
        if (d->epfd >= 0)
            close(d->epfd);
        free(d);
        return -1;
    }
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                      opt && opt->max_host_connections > 0 ? opt->max_host_connections : 64L);
    curl_multi_setopt(d->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
                      opt ? opt->max_total_connections : 0L);
    /* Keep every connection we opened: reconnecting at peak costs more. */
    curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, 4096L);
    *out = d;
    return 0;
}

static void unlink_call(struct ob_dispatch *d, struct ob_http_call *call)
{
    if (call->prev)
        call->prev->next = call->next;
    else
        d->running = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
}

void ob_dispatch_abort(struct ob_dispatch *d, struct ob_http_call *call)
{
    if (!call->easy)
        return;
    curl_multi_remove_handle(d->multi, call->easy);
    curl_easy_cleanup(call->easy);
    call->easy = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    unlink_call(d, call);
}

void ob_dispatch_abort_all(struct ob_dispatch *d)
{
    while (d->running)
        ob_dispatch_abort(d, d->running);
}

void ob_dispatch_destroy(struct ob_dispatch *d)
{
    if (!d)
        return;
    ob_dispatch_abort_all(d);
    for (size_t i = 0; i < d->n_pool; i++)
        curl_easy_cleanup(d->pool[i]);
    curl_multi_cleanup(d->multi);
    close(d->epfd);
    free(d);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct ob_http_call *call = userp;
    size_t len = size * nmemb;
    size_t room;

    if (call->body_len + len + 1 > call->body_cap && call->body_cap < OB_HTTP_MAX_BODY + 1) {
        size_t cap = call->body_cap ? call->body_cap : 1024;
        while (cap < call->body_len + len + 1 && cap < OB_HTTP_MAX_BODY + 1)
            cap *= 2;
        if (cap > OB_HTTP_MAX_BODY + 1)
            cap = OB_HTTP_MAX_BODY + 1;
        char *grown = realloc(call->body, cap);
        if (!grown)
            return 0; /* curl fails the transfer: a retryable transport error */
        call->body = grown;
        call->body_cap = cap;
    }
    /* A body past the limit is cut, not an error: the status still counts. */
    room = call->body_cap - 1 - call->body_len;
    if (len > room) {
        call->body_truncated = 1;
        len = room;
    }
    memcpy(call->body + call->body_len, data, len);
    call->body_len += len;
    call->body[call->body_len] = '\0';
    return size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct ob_http_call *call = userp;
    size_t len = size * nmemb;
    char *colon = memchr(data, ':', len);
    size_t name_len, value_len;
    const char *value;

    /* A new status line (after a redirect or 100 Continue) starts over. */
    if (len > 5 && memcmp(data, "HTTP/", 5) == 0) {
        call->resp.n_headers = 0;
        call->arena_used = 0;
        return len;
    }
    if (!colon || call->resp.n_headers >= OB_HTTP_MAX_HEADERS)
        return len;
    name_len = (size_t)(colon - data);
    value = colon + 1;
    value_len = len - name_len - 1;
    while (value_len && (*value == ' ' || *value == '\t')) {
        value++;
        value_len--;
    }
    while (value_len && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n' ||
                         value[value_len - 1] == ' '))
        value_len--;
    if (call->arena_used + name_len + value_len + 2 > sizeof(call->header_arena))
        return len;
    char *name_copy = call->header_arena + call->arena_used;
    memcpy(name_copy, data, name_len);
    name_copy[name_len] = '\0';
    char *value_copy = name_copy + name_len + 1;
    memcpy(value_copy, value, value_len);
    value_copy[value_len] = '\0';
    call->arena_used += name_len + value_len + 2;
    call->resp_headers[call->resp.n_headers].name = name_copy;
    call->resp_headers[call->resp.n_headers].value = value_copy;
    call->resp.n_headers++;
    return len;
}

/* 1 when `tls` was not noted in the last interval_ms; notes it then. */
static int note_due(struct tls_note *notes, size_t *n, const struct ob_tls_conf *tls,
                    uint64_t interval_ms)
{
    uint64_t now = ob_mono_ms();

    for (size_t i = 0; i < *n; i++) {
        if (notes[i].tls != tls)
            continue;
        if (now - notes[i].at_ms < interval_ms)
            return 0;
        notes[i].at_ms = now;
        return 1;
    }
    if (*n < TLS_NOTES)
        notes[(*n)++] = (struct tls_note){.tls = tls, .at_ms = now};
    return 1; /* more warehouses than notes: say it every time */
}

static const char *tls_name(const struct ob_tls_conf *tls)
{
    return tls && tls->warehouse ? tls->warehouse : "(no warehouse)";
}

/*
 * TLS for every transfer, https:// or not (curl ignores it for http://).
 * Set on each submit because curl_easy_reset() clears it. The PEM blobs were
 * read when the config was loaded and are handed over uncopied, so a push
 * never reads a file; curl parses them when it opens a connection, and
 * reuses connections only with the same TLS settings.
 */
static void set_tls(struct ob_dispatch *d, CURL *easy, const struct ob_tls_conf *tls)
{
    curl_easy_setopt(easy, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (tls && tls->insecure_skip_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
        if (note_due(d->insecure, &d->n_insecure, tls, OB_TLS_INSECURE_WARN_MS))
            OB_WARN("warehouse %s: TLS verification is OFF (tls.insecure_skip_verify): anyone "
                    "on the path can read and change its orders; for development only",
                    tls_name(tls));
    } else {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
    }
    if (!tls)
        return;
    if (tls->ca_pem) {
        struct curl_blob ca = {.data = tls->ca_pem, .len = tls->ca_len,
                               .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(easy, CURLOPT_CAINFO_BLOB, &ca);
        /* The bundle replaces the system store instead of adding to it. */
        curl_easy_setopt(easy, CURLOPT_CAINFO, (char *)NULL);
        curl_easy_setopt(easy, CURLOPT_CAPATH, (char *)NULL);
    }
    if (tls->cert_pem && tls->key_pem) {
        struct curl_blob cert = {.data = tls->cert_pem, .len = tls->cert_len,
                                 .flags = CURL_BLOB_NOCOPY};
        struct curl_blob key = {.data = tls->key_pem, .len = tls->key_len,
                                .flags = CURL_BLOB_NOCOPY};
        curl_easy_setopt(easy, CURLOPT_SSLCERT_BLOB, &cert);
        curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
        curl_easy_setopt(easy, CURLOPT_SSLKEY_BLOB, &key);
        curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }
}

static int is_tls_error(CURLcode result)
{
    switch (result) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return 1;
    default:
        return 0;
    }
}

int ob_dispatch_submit(struct ob_dispatch *d, struct ob_http_call *call)
{
    CURL *easy = d->n_pool ? d->pool[--d->n_pool] : curl_easy_init();
    char line[8192];

    memset(&call->resp, 0, sizeof(call->resp));
    call->body_len = 0;
    call->body_truncated = 0;
    call->arena_used = 0;
    call->errbuf[0] = '\0';
    call->resp.headers = call->resp_headers;
    if (!easy)
        goto fail;
    curl_easy_reset(easy);
    call->easy = easy;
    for (size_t i = 0; i < call->req.n_headers; i++) {
        int n = snprintf(line, sizeof(line), "%s: %s", call->req.headers[i].name,
                         call->req.headers[i].value);
        if (n < 0 || (size_t)n >= sizeof(line))
            goto fail; /* never send a header cut short */
        struct curl_slist *next = curl_slist_append(call->headers, line);
        if (!next)
            goto fail;
        call->headers = next;
    }
    /* curl would wait up to 1 s for "100 Continue" on larger bodies. */
    struct curl_slist *next = curl_slist_append(call->headers, "Expect:");
    if (!next)
        goto fail;
    call->headers = next;

    curl_easy_setopt(easy, CURLOPT_URL, call->req.url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, call->req.method);
    if (call->req.body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, call->req.body);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->req.body_len);
    } else if (strcmp(call->req.method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    }
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, call->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, call);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, call);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, call);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, call->errbuf);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, call->connect_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, call->timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "orderbridge/" OB_VERSION_STRING);
    set_tls(d, easy, call->tls);
    if (curl_multi_add_handle(d->multi, easy) != CURLM_OK)
        goto fail;
    call->prev = NULL;
    call->next = d->running;
    if (d->running)
        d->running->prev = call;
    d->running = call;
    return 0;
fail:
    if (easy) {
        if (d->n_pool < EASY_POOL_MAX)
            d->pool[d->n_pool++] = easy;
        else
            curl_easy_cleanup(easy);
    }
    call->easy = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    call->resp.transport_error = "cannot start the HTTP transfer";
    return -1;
}

static void complete(struct ob_dispatch *d, CURL *easy, CURLcode result)
{
    struct ob_http_call *call = NULL;

    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&call);
    curl_multi_remove_handle(d->multi, easy);
    unlink_call(d, call);
    if (result == CURLE_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &call->resp.status);
    } else {
        call->resp.status = 0;
        call->resp.transport_error = call->errbuf[0] ? call->errbuf : curl_easy_strerror(result);
        /* A failed handshake is a transport error like any other (the
         * adapter's answer to status 0: retry): a certificate the warehouse
         * is rotating heals by itself, a wrong CA does not, and the WARN
         * says which setting to look at. */
        if (is_tls_error(result)) {
            snprintf(call->tls_error, sizeof(call->tls_error), "TLS: %s",
                     call->resp.transport_error);
            call->resp.transport_error = call->tls_error;
            if (note_due(d->failed, &d->n_failed, call->tls, OB_TLS_FAILURE_WARN_MS))
                OB_WARN("warehouse %s: %s; its orders are retried (check the warehouse's "
                        "certificate and tls.ca_file / tls.client_cert)",
                        tls_name(call->tls), call->tls_error);
        }
    }
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME, &call->total_seconds);
    call->resp.body = call->body ? call->body : "";
    call->resp.body_len = call->body_len;
    if (d->n_pool < EASY_POOL_MAX)
        d->pool[d->n_pool++] = easy;
    else
        curl_easy_cleanup(easy);
    call->easy = NULL;
    curl_slist_free_all(call->headers);
    call->headers = NULL;
    call->done(call);
}

static void complete_finished(struct ob_dispatch *d)
{
    CURLMsg *msg;
    int queued;

    while ((msg = curl_multi_info_read(d->multi, &queued)))
        if (msg->msg == CURLMSG_DONE)
            complete(d, msg->easy_handle, msg->data.result);
}

int ob_dispatch_poll(struct ob_dispatch *d, int wake_fd, int timeout_ms)
{
    struct epoll_event evs[EPOLL_BATCH];
    int n, running, woke = 0;

    if (wake_fd != d->wake_fd) {
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = wake_fd};
        if (d->wake_fd >= 0)
            epoll_ctl(d->epfd, EPOLL_CTL_DEL, d->wake_fd, NULL);
        d->wake_fd = -1;
        if (wake_fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, wake_fd, &ev) != 0)
            return -1;
        d->wake_fd = wake_fd;
    }
    if (d->timer_armed) {
        uint64_t now = ob_mono_ms();
        int until = d->timer_due_ms <= now ? 0 : (int)(d->timer_due_ms - now);
        if (timeout_ms < 0 || until < timeout_ms)
            timeout_ms = until;
    }
    n = epoll_wait(d->epfd, evs, EPOLL_BATCH, timeout_ms);
    if (n < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd, flags = 0;
        if (fd == d->wake_fd) {
            woke = 1;
            continue;
        }
        if (evs[i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (evs[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (evs[i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        if (curl_multi_socket_action(d->multi, fd, flags, &running) != CURLM_OK)
            return -1;
    }
    /* on_timer may arm it again from inside the call */
    if (d->timer_armed && d->timer_due_ms <= ob_mono_ms()) {
        d->timer_armed = 0;
        if (curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running) != CURLM_OK)
            return -1;
    }
    complete_finished(d);
    return woke;
}

void ob_http_call_reset(struct ob_http_call *call)
{
    ob_request_reset(&call->req);
    free(call->body);
    call->body = NULL;
    call->body_len = call->body_cap = 0;
    memset(&call->resp, 0, sizeof(call->resp));
}
