#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#define EASY_POOL_MAX 1024

struct ob_dispatch {
    CURLM *multi;
    struct ob_http_call *running; /* list of calls in flight, for abort */
    CURL *pool[EASY_POOL_MAX]; /* idle easy handles, reused to save setup */
    size_t n_pool;
};

int ob_dispatch_create(const struct ob_dispatch_options *opt, struct ob_dispatch **out)
{
    struct ob_dispatch *d = calloc(1, sizeof(*d));

    *out = NULL;
    if (!d)
        return -1;
    d->multi = curl_multi_init();
    if (!d->multi) {
        free(d);
        return -1;
    }
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

int ob_dispatch_poll(struct ob_dispatch *d, int wake_fd, int timeout_ms)
{
    struct curl_waitfd extra = {.fd = wake_fd, .events = CURL_WAIT_POLLIN, .revents = 0};
    CURLMsg *msg;
    int running = 0, queued;

    if (curl_multi_poll(d->multi, wake_fd >= 0 ? &extra : NULL, wake_fd >= 0 ? 1 : 0, timeout_ms,
                        NULL) != CURLM_OK)
        return -1;
    if (curl_multi_perform(d->multi, &running) != CURLM_OK)
        return -1;
    for (;;) {
        msg = curl_multi_info_read(d->multi, &queued);
        if (!msg)
            break;
        if (msg->msg == CURLMSG_DONE)
            complete(d, msg->easy_handle, msg->data.result);
    }
    return (extra.revents & CURL_WAIT_POLLIN) ? 1 : 0;
}

void ob_http_call_reset(struct ob_http_call *call)
{
    ob_request_reset(&call->req);
    free(call->body);
    call->body = NULL;
    call->body_len = call->body_cap = 0;
    memset(&call->resp, 0, sizeof(call->resp));
}
