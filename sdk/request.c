/* request.c — building an adapter's HTTP request; the request owns its memory. */
#include <orderbridge/sdk.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int ob_request_set_url(struct ob_request *req, const char *fmt, ...)
{
    va_list ap;
    char *url = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&url, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    free(req->url);
    req->url = url;
    return 0;
}

int ob_request_add_header(struct ob_request *req, const char *name, const char *value)
{
    struct ob_header *h;

    if (req->n_headers >= OB_REQUEST_MAX_HEADERS)
        return -1;
    h = &req->headers[req->n_headers];
    h->name = strdup(name);
    h->value = strdup(value);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        h->name = h->value = NULL;
        return -1;
    }
    req->n_headers++;
    return 0;
}

int ob_request_set_body(struct ob_request *req, const void *body, size_t len)
{
    char *copy = malloc(len + 1);

    if (!copy)
        return -1;
    memcpy(copy, body, len);
    copy[len] = '\0';
    ob_request_take_body(req, copy, len);
    return 0;
}

void ob_request_take_body(struct ob_request *req, char *body, size_t len)
{
    free(req->body);
    req->body = body;
    req->body_len = len;
}

void ob_request_reset(struct ob_request *req)
{
    free(req->url);
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->body);
    memset(req, 0, sizeof(*req));
}

const char *ob_response_header(const struct ob_response *resp, const char *name)
{
    for (size_t i = 0; i < resp->n_headers; i++) {
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    }
    return NULL;
}

void ob_strlcpyf(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(dst, size, fmt, ap);
    va_end(ap);
}

long ob_response_retry_after_ms(const struct ob_response *resp)
{
    const char *v = ob_response_header(resp, "Retry-After");
    struct tm tm;
    char *end;
    long secs;

    if (!v)
        return -1;
    while (*v == ' ')
        v++;
    secs = strtol(v, &end, 10);
    if (end != v && (*end == '\0' || *end == ' ') && secs >= 0)
        return secs > 86400 ? 86400000L : secs * 1000L;
    memset(&tm, 0, sizeof(tm));
    end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end)
        return -1;
    secs = (long)(timegm(&tm) - time(NULL));
    return secs <= 0 ? 0 : (secs > 86400 ? 86400000L : secs * 1000L);
}

int ob_outcome_from_http(const struct ob_response *resp, struct ob_outcome *out)
{
    if (resp->status == 0) {
        out->kind = OB_OUTCOME_RETRY;
        ob_strlcpyf(out->reason, sizeof(out->reason), "no answer: %s",
                    resp->transport_error ? resp->transport_error : "transport error");
        return 1;
    }
    if (resp->status == 408 || resp->status == 429 || resp->status >= 500) {
        long after = ob_response_retry_after_ms(resp);
        out->kind = OB_OUTCOME_RETRY;
        out->retry_after_ms = after > 0 ? (int)(after < INT_MAX ? after : INT_MAX) : 0;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld", resp->status);
        return 1;
    }
    if (resp->status < 200 || resp->status >= 300) {
        out->kind = OB_OUTCOME_PERMANENT;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld: %.300s", resp->status,
                    resp->body ? resp->body : "");
        return 1;
    }
    return 0;
}
