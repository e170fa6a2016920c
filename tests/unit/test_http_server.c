/*
 * test_http_server.c — the bridge's HTTP server over real sockets: libcurl
 * (multi) is the client; the test thread is also the "loop", waiting on the
 * wake pipe beside curl's sockets with curl_multi_poll().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http_server.h"

#define MAX_XFERS 256
#define MAX_TAKEN 512
#define RUN_LIMIT_MS 20000 /* a run that takes longer has hung: fail */

/* ---- client side ---------------------------------------------------------- */

struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    bool done;
    CURLcode rc;
    long status;
    long connects;
    double seconds;
    char ctype[128];
    char headers[4096]; /* the response's header lines */
    size_t headers_len;
    char body[8192];
    size_t len;
    /* a body produced by the read callback: up_total bytes of `fill` */
    size_t up_total, up_sent;
    char fill;
    char url[512];
    char errbuf[CURL_ERROR_SIZE];
};

struct spec {
    const char *scheme_host; /* default "http://127.0.0.1" */
    const char *method;      /* default POST */
    const char *path;        /* with the query, as sent */
    const char *body;        /* copied by curl */
    size_t body_len;         /* 0: strlen(body) */
    const char *const *headers; /* NULL-terminated */
    size_t stream_len;       /* > 0: send this many bytes through the read callback */
    bool chunked;            /* ... chunked (no Content-Length) */
    unsigned short port;     /* 0: the server's main port */
    long timeout_ms;         /* 0: none */
};

struct fx {
    int wake[2];
    struct ob_http_server *s;
    unsigned short port;
    CURLM *multi;
    struct xfer *xfers[MAX_XFERS];
    size_t n_xfers;
    bool take;                      /* take what is handed over (else leave it queued) */
    void (*on_take)(struct fx *f, struct ob_http_pending *p); /* NULL: keep in taken[] */
    struct ob_http_pending *taken[MAX_TAKEN];
    size_t n_taken;
    size_t answered;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n, room = sizeof(x->body) - 1 - x->len;
    memcpy(x->body + x->len, p, len < room ? len : room);
    x->len += len < room ? len : room;
    x->body[x->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = sz * n, room = sizeof(x->headers) - 1 - x->headers_len;
    memcpy(x->headers + x->headers_len, p, len < room ? len : room);
    x->headers_len += len < room ? len : room;
    x->headers[x->headers_len] = '\0';
    return len;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t want = sz * n, left = x->up_total - x->up_sent;
    if (want > left)
        want = left;
    memset(buf, x->fill, want);
    x->up_sent += want;
    return want;
}

static void fx_start(struct fx *f, const struct ob_http_server_options *opt_in)
{
    struct ob_http_server_options opt = *opt_in;
    char err[256] = "";

    memset(f, 0, sizeof(*f));
    f->take = true;
    assert_int_equal(pipe2(f->wake, O_NONBLOCK | O_CLOEXEC), 0);
    opt.wake_fd = f->wake[1];
    if (opt.listen == NULL)
        opt.listen = "127.0.0.1:0";
    if (ob_http_server_start(&opt, &f->s, err, sizeof(err)) != 0) {
        print_error("start: %s\n", err);
        fail();
    }
    f->port = ob_http_server_port(f->s);
    assert_true(f->port > 0);
    f->multi = curl_multi_init();
    assert_non_null(f->multi);
}

static void fx_free(struct fx *f)
{
    ob_http_server_stop(f->s);
    f->s = NULL;
    for (size_t i = 0; i < f->n_xfers; i++) {
        struct xfer *x = f->xfers[i];
        curl_multi_remove_handle(f->multi, x->easy);
        curl_easy_cleanup(x->easy);
        curl_slist_free_all(x->hdrs);
        free(x);
    }
    curl_multi_cleanup(f->multi);
    close(f->wake[0]);
    close(f->wake[1]);
}

static struct xfer *add(struct fx *f, const struct spec *sp)
{
    struct xfer *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    assert_true(f->n_xfers < MAX_XFERS);
    f->xfers[f->n_xfers++] = x;
    x->easy = curl_easy_init();
    assert_non_null(x->easy);
    snprintf(x->url, sizeof(x->url), "%s:%u%s",
             sp->scheme_host ? sp->scheme_host : "http://127.0.0.1",
             sp->port ? sp->port : f->port, sp->path);
    if (sp->timeout_ms > 0)
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, sp->timeout_ms);
    curl_easy_setopt(x->easy, CURLOPT_URL, x->url);
    curl_easy_setopt(x->easy, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(x->easy, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    const char *method = sp->method ? sp->method : "POST";
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    } else if (sp->stream_len > 0) {
        x->up_total = sp->stream_len;
        x->fill = 'z';
        curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
        if (sp->chunked)
            x->hdrs = curl_slist_append(x->hdrs, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)sp->stream_len);
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
    } else {
        const char *body = sp->body ? sp->body : "";
        size_t len = sp->body_len ? sp->body_len : strlen(body);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)len);
        curl_easy_setopt(x->easy, CURLOPT_COPYPOSTFIELDS, body);
        curl_easy_setopt(x->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    for (const char *const *h = sp->headers; h != NULL && *h != NULL; h++)
        x->hdrs = curl_slist_append(x->hdrs, *h);
    if (x->hdrs != NULL)
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    assert_int_equal(curl_multi_add_handle(f->multi, x->easy), CURLM_OK);
    return x;
}

static void collect(struct fx *f)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct xfer *x = NULL;
        char *ct = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        x->done = true;
        x->rc = m->data.result;
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
        curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &x->connects);
        curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME, &x->seconds);
        if (curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct != NULL)
            snprintf(x->ctype, sizeof(x->ctype), "%s", ct);
    }
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Drive curl and play the loop until `until` holds: wait on curl's sockets
 * and the wake pipe together; when the pipe is readable, drain it and take
 * (or, with f->take off, only re-arm the wake-up with take(.., 0)).
 */
static void run(struct fx *f, bool (*until)(struct fx *f, void *arg), void *arg)
{
    int64_t deadline = mono_ms() + RUN_LIMIT_MS;

    for (;;) {
        int running;
        assert_int_equal(curl_multi_perform(f->multi, &running), CURLM_OK);
        collect(f);
        if (until(f, arg))
            return;
        if (mono_ms() > deadline) {
            print_error("run: timed out\n");
            fail();
        }
        struct curl_waitfd wfd = {.fd = f->wake[0], .events = CURL_WAIT_POLLIN};
        assert_int_equal(curl_multi_poll(f->multi, &wfd, 1, 1000, NULL), CURLM_OK);
        if (!(wfd.revents & CURL_WAIT_POLLIN) || f->s == NULL)
            continue;
        char buf[64];
        while (read(f->wake[0], buf, sizeof(buf)) > 0)
            ;
        if (!f->take) {
            ob_http_server_take(f->s, NULL, 0);
            continue;
        }
        struct ob_http_pending *batch[16];
        size_t n;
        do {
            n = ob_http_server_take(f->s, batch, 16);
            for (size_t i = 0; i < n; i++) {
                if (f->on_take != NULL) {
                    f->on_take(f, batch[i]);
                } else {
                    assert_true(f->n_taken < MAX_TAKEN);
                    f->taken[f->n_taken++] = batch[i];
                }
            }
        } while (n == 16);
    }
}

static bool all_done(struct fx *f, void *arg)
{
    (void)arg;
    for (size_t i = 0; i < f->n_xfers; i++)
        if (!f->xfers[i]->done)
            return false;
    return true;
}

static bool taken_at_least(struct fx *f, void *arg)
{
    return f->n_taken >= *(size_t *)arg;
}

static bool handed_at_least(struct fx *f, void *arg)
{
    struct ob_http_server_stats st;
    ob_http_server_get_stats(f->s, &st);
    return st.handed_over >= *(uint64_t *)arg;
}

static void wait_taken(struct fx *f, size_t n)
{
    run(f, taken_at_least, &n);
}

static void wait_done(struct fx *f)
{
    run(f, all_done, NULL);
}

static void answer(struct fx *f, struct ob_http_pending *p, int status, const char *ct,
                   const char *body)
{
    struct ob_callback_reply reply;
    memset(&reply, 0, sizeof(reply));
    reply.status = status;
    snprintf(reply.content_type, sizeof(reply.content_type), "%s", ct);
    snprintf(reply.body, sizeof(reply.body), "%s", body);
    ob_http_server_answer(f->s, p, &reply);
    f->answered++;
}

static const char *header(const struct ob_http_pending *p, const char *name)
{
    for (size_t i = 0; i < p->req.n_headers; i++)
        if (strcasecmp(p->req.headers[i].name, name) == 0)
            return p->req.headers[i].value;
    return NULL;
}

static void expect_status(const struct xfer *x, long status)
{
    if (x->rc != CURLE_OK || x->status != status) {
        print_error("%s: curl %d (%s), status %ld, expected %ld\n", x->url, (int)x->rc,
                    x->errbuf, x->status, status);
        fail();
    }
}

static int64_t epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_round_trip(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {
        {.prefix = "/callbacks", .id = 1},
        {.prefix = "/callbacks/SF-SH-01", .id = 7},
    };
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 2};
    struct fx f;
    static const char body[] = "{\"a\":1}\0tail"; /* a NUL inside */
    const char *const hdrs[] = {"X-Sign: abc=", "Content-Type: application/json", NULL};

    fx_start(&f, &opt);
    int64_t before = epoch_ms();
    struct xfer *a = add(&f, &(struct spec){.path = "/callbacks/SF-SH-01/t0k3n?sign=a%2Bb+c&ts=1&x",
                                            .body = body, .body_len = sizeof(body) - 1,
                                            .headers = hdrs});
    wait_taken(&f, 1);
    struct ob_http_pending *p = f.taken[0];
    assert_int_equal(p->route_id, 7);
    assert_int_equal(p->preset, 0);
    assert_string_equal(p->req.method, "POST");
    assert_string_equal(p->req.path, "/callbacks/SF-SH-01/t0k3n");
    assert_string_equal(p->req.subpath, "/t0k3n");
    assert_string_equal(p->req.query, "sign=a%2Bb+c&ts=1&x"); /* raw, undecoded */
    assert_int_equal(p->req.body_len, sizeof(body) - 1);
    assert_memory_equal(p->req.body, body, sizeof(body) - 1);
    assert_int_equal(p->req.body[p->req.body_len], '\0');
    assert_string_equal(p->req.remote_addr, "127.0.0.1");
    assert_non_null(header(p, "X-Sign"));
    assert_string_equal(header(p, "X-Sign"), "abc=");
    bool exact_name = false;
    for (size_t i = 0; i < p->req.n_headers; i++)
        exact_name |= strcmp(p->req.headers[i].name, "X-Sign") == 0; /* names as received */
    assert_true(exact_name);
    assert_string_equal(header(p, "Content-Type"), "application/json");
    assert_true(p->req.now_ms >= before && p->req.now_ms <= epoch_ms());
    assert_false(a->done);
    answer(&f, p, 202, "text/xml", "<ok/>");
    wait_done(&f);
    expect_status(a, 202);
    assert_string_equal(a->ctype, "text/xml");
    assert_string_equal(a->body, "<ok/>");

    /* the exact prefix, no query, no body; the default reply; keep-alive */
    struct xfer *b = add(&f, &(struct spec){.path = "/callbacks/SF-SH-01"});
    /* the longest prefix wins only at a '/' boundary */
    struct xfer *c = add(&f, &(struct spec){.method = "GET", .path = "/callbacks/SF-SH-012/x?"});
    wait_taken(&f, 3);
    for (size_t i = 1; i < 3; i++) {
        p = f.taken[i];
        if (p->route_id == 7) {
            assert_string_equal(p->req.path, "/callbacks/SF-SH-01");
            assert_string_equal(p->req.subpath, "");
            assert_null(p->req.query);
            assert_int_equal(p->req.body_len, 0);
            assert_string_equal(p->req.body, "");
            ob_http_server_answer(f.s, p, &(struct ob_callback_reply){0});
        } else {
            assert_int_equal(p->route_id, 1);
            assert_string_equal(p->req.method, "GET");
            assert_string_equal(p->req.subpath, "/SF-SH-012/x");
            assert_string_equal(p->req.query, "");
            answer(&f, p, 400, "", "{\"bad\":true}");
        }
    }
    wait_done(&f);
    expect_status(b, 200);
    assert_string_equal(b->ctype, "application/json");
    assert_int_equal(b->len, 0);
    assert_int_equal(b->connects, 0); /* reused a's connection */
    expect_status(c, 400);
    assert_string_equal(c->body, "{\"bad\":true}");

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.handed_over, 3);
    assert_int_equal(st.not_found + st.busy + st.too_large + st.forbidden_source, 0);
    fx_free(&f);
}

static char *metrics_text(void *arg, const struct ob_http_server_stats *http, size_t *len)
{
    (void)http;
    if (*(int *)arg)
        return NULL;
    *len = strlen("ob_up 1\n");
    return strdup("ob_up 1\n");
}

static void test_local_answers(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/callbacks/A/", .id = 1}};
    int broken = 0;
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1,
                                         .metrics = metrics_text, .metrics_arg = &broken};
    struct fx f;

    fx_start(&f, &opt);
    struct xfer *health = add(&f, &(struct spec){.method = "GET", .path = "/healthz"});
    struct xfer *metrics = add(&f, &(struct spec){.method = "GET", .path = "/metrics"});
    struct xfer *nowhere = add(&f, &(struct spec){.path = "/nothing", .body = "x"});
    struct xfer *near = add(&f, &(struct spec){.path = "/callbacks/Ax/y", .body = "x"});
    struct xfer *root = add(&f, &(struct spec){.method = "GET", .path = "/"});
    wait_done(&f);
    expect_status(health, 200);
    assert_string_equal(health->body, "ok\n");
    expect_status(metrics, 200);
    assert_string_equal(metrics->body, "ob_up 1\n");
    assert_non_null(strstr(metrics->ctype, "text/plain"));
    expect_status(nowhere, 404);
    expect_status(near, 404);
    expect_status(root, 404);
    broken = 1;
    struct xfer *failing = add(&f, &(struct spec){.method = "GET", .path = "/metrics"});
    wait_done(&f);
    expect_status(failing, 500);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.not_found, 3);
    assert_int_equal(st.handed_over, 0);
    assert_int_equal(f.n_taken, 0);
    fx_free(&f);

    /* no metrics callback: no /metrics */
    opt.metrics = NULL;
    fx_start(&f, &opt);
    struct xfer *none = add(&f, &(struct spec){.method = "GET", .path = "/metrics"});
    wait_done(&f);
    expect_status(none, 404);
    fx_free(&f);
}

static void test_too_large_announced(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 3, .max_body = 1024}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1};
    struct fx f;

    fx_start(&f, &opt);
    /* 10 MB announced: handed over before any of it is read */
    struct xfer *big = add(&f, &(struct spec){.path = "/cb/x", .stream_len = 10u << 20});
    wait_taken(&f, 1);
    struct ob_http_pending *p = f.taken[0];
    assert_int_equal(p->preset, OB_CALLBACK_TOO_LARGE);
    assert_int_equal(p->route_id, 3);
    assert_int_equal(p->req.body_len, 0);
    assert_string_equal(p->req.body, "");
    answer(&f, p, 413, "", "{\"error\":\"too large\"}");
    wait_done(&f);
    expect_status(big, 413);
    assert_string_equal(big->body, "{\"error\":\"too large\"}");
    assert_true(big->up_sent < 1024 * 1024); /* curl was never asked for the body */
    assert_true(big->seconds < 5.0);         /* not after its 10 s Expect timeout */

    /* exactly the limit is fine */
    struct xfer *edge = add(&f, &(struct spec){.path = "/cb", .stream_len = 1024});
    wait_taken(&f, 2);
    p = f.taken[1];
    assert_int_equal(p->preset, 0);
    assert_int_equal(p->req.body_len, 1024);
    assert_int_equal(p->req.body[0], 'z');
    assert_int_equal(p->req.body[1023], 'z');
    assert_int_equal(p->req.body[1024], '\0');
    answer(&f, p, 0, "", "{}");
    wait_done(&f);
    expect_status(edge, 200);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.too_large, 1);
    assert_int_equal(st.handed_over, 2);
    fx_free(&f);
}

static void test_too_large_chunked(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 3, .max_body = 1024}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1};
    struct fx f;

    fx_start(&f, &opt);
    struct xfer *big = add(&f, &(struct spec){.path = "/cb", .stream_len = 256 * 1024,
                                              .chunked = true});
    wait_taken(&f, 1);
    struct ob_http_pending *p = f.taken[0];
    assert_int_equal(p->preset, OB_CALLBACK_TOO_LARGE);
    assert_int_equal(p->req.body_len, 0);
    assert_int_equal(big->up_sent, 256 * 1024); /* handed over once complete */
    answer(&f, p, 413, "", "{}");
    wait_done(&f);
    expect_status(big, 413);

    /* chunked within the limit arrives whole */
    struct xfer *ok = add(&f, &(struct spec){.path = "/cb/y", .stream_len = 1000, .chunked = true});
    wait_taken(&f, 2);
    p = f.taken[1];
    assert_int_equal(p->preset, 0);
    assert_int_equal(p->req.body_len, 1000);
    assert_int_equal(p->req.body[999], 'z');
    assert_int_equal(p->req.body[1000], '\0');
    answer(&f, p, 0, "", "{}");
    wait_done(&f);
    expect_status(ok, 200);
    fx_free(&f);
}

static void test_allowlist(void **state)
{
    (void)state;
    const char *const local[] = {"127.0.0.1"};
    const char *const elsewhere[] = {"10.0.0.0/8", "::1/128"};
    const char *const loopback_net[] = {"192.168.0.0/16", "127.0.0.0/8"};
    const struct ob_http_route routes[] = {
        {.prefix = "/a", .id = 1, .allow_from = local, .n_allow_from = 1},
        {.prefix = "/b", .id = 2, .allow_from = elsewhere, .n_allow_from = 2},
        {.prefix = "/c", .id = 3, .allow_from = loopback_net, .n_allow_from = 2},
    };
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 3};
    struct fx f;

    fx_start(&f, &opt);
    struct xfer *xa = add(&f, &(struct spec){.path = "/a", .body = "hello a"});
    struct xfer *xb = add(&f, &(struct spec){.path = "/b", .body = "hello b"});
    struct xfer *xc = add(&f, &(struct spec){.path = "/c", .body = "hello c"});
    wait_taken(&f, 3);
    for (size_t i = 0; i < 3; i++) {
        struct ob_http_pending *p = f.taken[i];
        assert_string_equal(p->req.remote_addr, "127.0.0.1");
        if (p->route_id == 2) {
            assert_int_equal(p->preset, OB_CALLBACK_FORBIDDEN);
            assert_int_equal(p->req.body_len, 0); /* never read */
            answer(&f, p, 403, "", "{\"error\":\"forbidden\"}");
        } else {
            assert_int_equal(p->preset, 0);
            assert_int_equal(p->req.body_len, 7);
            answer(&f, p, 200, "", p->route_id == 1 ? "a" : "c");
        }
    }
    wait_done(&f);
    expect_status(xa, 200);
    assert_string_equal(xa->body, "a");
    expect_status(xb, 403);
    assert_string_equal(xb->body, "{\"error\":\"forbidden\"}");
    expect_status(xc, 200);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.forbidden_source, 1);
    assert_int_equal(st.handed_over, 3);
    fx_free(&f);
}

static void test_ipv6(void **state)
{
    (void)state;
    const char *const v6[] = {"::1"};
    const char *const v4[] = {"127.0.0.1/32"};
    const struct ob_http_route routes[] = {
        {.prefix = "/six", .id = 6, .allow_from = v6, .n_allow_from = 1},
        {.prefix = "/four", .id = 4, .allow_from = v4, .n_allow_from = 1},
    };
    struct ob_http_server_options opt = {.listen = "[::1]:0", .routes = routes, .n_routes = 2};
    struct ob_http_server *probe = NULL;
    char err[256];
    struct fx f;

    opt.wake_fd = -1;
    if (ob_http_server_start(&opt, &probe, err, sizeof(err)) != 0) {
        print_message("no IPv6 loopback here (%s): skipped\n", err);
        skip();
    }
    ob_http_server_stop(probe);

    fx_start(&f, &opt);
    struct xfer *six = add(&f, &(struct spec){.scheme_host = "http://[::1]", .path = "/six/t"});
    struct xfer *four = add(&f, &(struct spec){.scheme_host = "http://[::1]", .path = "/four"});
    wait_taken(&f, 2);
    for (size_t i = 0; i < 2; i++) {
        struct ob_http_pending *p = f.taken[i];
        assert_string_equal(p->req.remote_addr, "::1");
        assert_int_equal(p->preset, p->route_id == 6 ? 0 : OB_CALLBACK_FORBIDDEN);
        answer(&f, p, p->route_id == 6 ? 200 : 403, "", "{}");
    }
    wait_done(&f);
    expect_status(six, 200);
    expect_status(four, 403);
    fx_free(&f);
}

static bool xfer_done(struct fx *f, void *arg)
{
    (void)f;
    return ((struct xfer *)arg)->done;
}

/* A third request is answered 503 at once while two are out. */
static void test_max_pending(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1, .max_pending = 2};
    struct fx f;

    fx_start(&f, &opt);
    struct xfer *one = add(&f, &(struct spec){.path = "/cb", .body = "1"});
    struct xfer *two = add(&f, &(struct spec){.path = "/cb", .body = "2"});
    wait_taken(&f, 2); /* taken, not answered: still pending */
    struct xfer *three = add(&f, &(struct spec){.path = "/cb", .body = "3"});
    run(&f, xfer_done, three);
    expect_status(three, 503);
    assert_string_equal(three->body, "{\"error\":\"busy\"}");
    assert_false(one->done);
    assert_false(two->done);
    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.busy, 1);
    assert_int_equal(st.handed_over, 2);

    answer(&f, f.taken[0], 200, "", "{}");
    answer(&f, f.taken[1], 200, "", "{}");
    wait_done(&f);
    expect_status(one, 200);
    expect_status(two, 200);

    /* room again */
    struct xfer *four = add(&f, &(struct spec){.path = "/cb", .body = "4"});
    wait_taken(&f, 3);
    assert_string_equal(f.taken[2]->req.body, "4");
    answer(&f, f.taken[2], 201, "", "{}");
    wait_done(&f);
    expect_status(four, 201);
    fx_free(&f);
}

static void expect_start_error(const struct ob_http_server_options *opt, const char *needle,
                               const char *secret)
{
    struct ob_http_server *s = (struct ob_http_server *)&s; /* must be reset */
    char err[512] = "";

    assert_int_equal(ob_http_server_start(opt, &s, err, sizeof(err)), -1);
    assert_null(s);
    if (strstr(err, needle) == NULL) {
        print_error("expected \"%s\" in the error \"%s\"\n", needle, err);
        fail();
    }
    if (secret != NULL)
        assert_null(strstr(err, secret));
}

static void test_bad_config(void **state)
{
    (void)state;
    static const char *const bad_listen[] = {
        NULL, "", "127.0.0.1", "localhost:8080", "127.0.0.1:99999", "127.0.0.1:http",
        "::1:80", "[::1:80", "[::1]80", "[127.0.0.1]:80", "1.2.3:80", ":8080", "127.0.0.1:",
    };
    for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
        struct ob_http_server_options opt = {.listen = bad_listen[i], .wake_fd = -1};
        expect_start_error(&opt, "listen", NULL);
    }

    static const char *const bad_cidr[] = {"10.0.0.0/33", "bogus", "::1/129", "10.0.0.0/",
                                           "10.0.0.0/8x", "/8", "10.0.0.0/-1", ""};
    for (size_t i = 0; i < sizeof(bad_cidr) / sizeof(bad_cidr[0]); i++) {
        const char *const allow[] = {"127.0.0.1", bad_cidr[i]};
        const struct ob_http_route routes[] = {
            {.prefix = "/callbacks/s3cr3t-token", .id = 5, .allow_from = allow, .n_allow_from = 2},
        };
        struct ob_http_server_options opt = {.listen = "127.0.0.1:0", .wake_fd = -1,
                                             .routes = routes, .n_routes = 1};
        expect_start_error(&opt, "allow_from[1]", "s3cr3t");
    }

    const struct ob_http_route dup[] = {{.prefix = "/x", .id = 1}, {.prefix = "/x/", .id = 2}};
    struct ob_http_server_options opt = {.listen = "127.0.0.1:0", .wake_fd = -1, .routes = dup,
                                         .n_routes = 2};
    expect_start_error(&opt, "same path", NULL);
    const struct ob_http_route relative[] = {{.prefix = "x", .id = 1}};
    opt.routes = relative;
    opt.n_routes = 1;
    expect_start_error(&opt, "must start with '/'", NULL);

    opt.routes = NULL;
    opt.n_routes = 0;
    opt.tls_cert = "/nonexistent/cert.pem";
    expect_start_error(&opt, "both tls_cert and tls_key", NULL);
    opt.tls_key = "/nonexistent/key.pem";
    expect_start_error(&opt, "/nonexistent/cert.pem", NULL);
    opt.tls_cert = opt.tls_key = NULL;

    /* the port in use */
    struct ob_http_server *first = NULL;
    char err[256], listen[64];
    assert_int_equal(ob_http_server_start(&opt, &first, err, sizeof(err)), 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ob_http_server_port(first));
    opt.listen = listen;
    expect_start_error(&opt, "in use", NULL);
    expect_start_error(&opt, listen, NULL);
    ob_http_server_stop(first);
    ob_http_server_stop(NULL);
}

static void test_stop_with_pending(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1};
    struct fx f;
    uint64_t three = 3;

    fx_start(&f, &opt);
    f.take = false; /* leave them on the FIFO */
    struct xfer *x[3];
    for (size_t i = 0; i < 3; i++)
        x[i] = add(&f, &(struct spec){.path = "/cb", .body = "pending"});
    run(&f, handed_at_least, &three);
    for (size_t i = 0; i < 3; i++)
        assert_false(x[i]->done);
    ob_http_server_stop(f.s);
    f.s = NULL;
    wait_done(&f);
    for (size_t i = 0; i < 3; i++) {
        expect_status(x[i], 503);
        assert_string_equal(x[i]->body, "{\"error\":\"shutting down\"}");
    }
    fx_free(&f);
}

/* A self-signed P-256 certificate for 127.0.0.1 and its key, as PEM files. */
static void make_cert(const char *cert_path, const char *key_path)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"127.0.0.1", -1, -1, 0),
                     1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);

    FILE *cf = fopen(cert_path, "w"), *kf = fopen(key_path, "w");
    assert_non_null(cf);
    assert_non_null(kf);
    assert_int_equal(PEM_write_X509(cf, x), 1);
    assert_int_equal(PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL), 1);
    fclose(cf);
    fclose(kf);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_tls(void **state)
{
    (void)state;
    char dir[] = "/tmp/ob-http-tls-XXXXXX", cert[64], key[64];
    assert_non_null(mkdtemp(dir));
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    make_cert(cert, key);

    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 9}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1, .tls_cert = cert,
                                         .tls_key = key};
    struct fx f;
    fx_start(&f, &opt);
    struct xfer *x = add(&f, &(struct spec){.scheme_host = "https://127.0.0.1",
                                            .path = "/cb/tok?sig=1", .body = "{\"tls\":1}"});
    struct xfer *health = add(&f, &(struct spec){.scheme_host = "https://127.0.0.1",
                                                 .method = "GET", .path = "/healthz"});
    wait_taken(&f, 1);
    struct ob_http_pending *p = f.taken[0];
    assert_int_equal(p->route_id, 9);
    assert_string_equal(p->req.subpath, "/tok");
    assert_string_equal(p->req.query, "sig=1");
    assert_string_equal(p->req.body, "{\"tls\":1}");
    answer(&f, p, 200, "", "{\"ok\":true}");
    wait_done(&f);
    expect_status(x, 200);
    assert_string_equal(x->body, "{\"ok\":true}");
    expect_status(health, 200);
    fx_free(&f);

    /* a key that is not a key */
    FILE *kf = fopen(key, "w");
    assert_non_null(kf);
    fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", kf);
    fclose(kf);
    opt.listen = "127.0.0.1:0";
    opt.wake_fd = -1;
    expect_start_error(&opt, "cannot listen", NULL);

    unlink(cert);
    unlink(key);
    rmdir(dir);
}

/* Answer every request at once with its own body, so each client can check
 * it got its own answer. */
static void echo(struct fx *f, struct ob_http_pending *p)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"echo\":\"%s\",\"sub\":\"%s\"}", p->req.body, p->req.subpath);
    answer(f, p, 200, "", body);
}

static void test_many_concurrent(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1, .threads = 4};
    struct fx f;
    enum { N = 200 };

    fx_start(&f, &opt);
    f.on_take = echo;
    for (int i = 0; i < N; i++) {
        char path[32], body[32];
        snprintf(path, sizeof(path), "/cb/%d", i);
        snprintf(body, sizeof(body), "req-%d", i);
        add(&f, &(struct spec){.path = path, .body = body});
    }
    wait_done(&f);
    for (int i = 0; i < N; i++) {
        char want[96];
        snprintf(want, sizeof(want), "{\"echo\":\"req-%d\",\"sub\":\"/%d\"}", i, i);
        expect_status(f.xfers[i], 200);
        assert_string_equal(f.xfers[i]->body, want);
    }
    assert_int_equal(f.answered, N);
    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.handed_over, N);
    assert_int_equal(st.busy, 0);
    fx_free(&f);
}

/* ---- hostile clients: raw sockets ----------------------------------------- */

/* A blocking TCP connection from `src` (any 127.0.0.0/8 address: Linux
 * routes all of it to lo) to 127.0.0.1:port. */
static int raw_connect(const char *src, unsigned short port)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
    assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &to.sin_addr), 1);
    to.sin_port = htons(port);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0);
    return fd;
}

static void raw_send(int fd, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Read until the server closes (true) or `ms` pass (false); what was read
 * goes to buf (NUL-terminated, truncated). */
static bool raw_read_to_close(int fd, int ms, char *buf, size_t size)
{
    int64_t end = mono_ms() + ms;
    size_t n = 0;

    buf[0] = '\0';
    for (;;) {
        int64_t left = end - mono_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        char tmp[4096];
        ssize_t got = recv(fd, tmp, sizeof(tmp), 0);
        if (got <= 0)
            return true; /* end of file, or reset */
        size_t keep = (size_t)got < size - 1 - n ? (size_t)got : size - 1 - n;
        memcpy(buf + n, tmp, keep);
        n += keep;
        buf[n] = '\0';
    }
}

static bool await_stats(struct ob_http_server *s, bool (*ok)(const struct ob_http_server_stats *,
                                                            uint64_t), uint64_t want)
{
    int64_t end = mono_ms() + 5000;
    struct ob_http_server_stats st;

    do {
        ob_http_server_get_stats(s, &st);
        if (ok(&st, want))
            return true;
        usleep(2000); /* polling a counter: the server offers no event for it */
    } while (mono_ms() < end);
    return false;
}

static bool answered_at_least(struct fx *f, void *arg)
{
    return f->answered >= *(size_t *)arg;
}

static bool body_bytes_are(const struct ob_http_server_stats *st, uint64_t want)
{
    return st->body_bytes == want;
}

static char *metrics_stats(void *arg, const struct ob_http_server_stats *http, size_t *len)
{
    char text[256];
    (void)arg;
    *len = (size_t)snprintf(text, sizeof(text), "refused_per_ip %llu\ndeadline_cut %llu\n"
                            "body_budget %llu\n", (unsigned long long)http->refused_per_ip,
                            (unsigned long long)http->deadline_cut,
                            (unsigned long long)http->body_budget);
    return strdup(text);
}

/* The (cap+1)th connection from one address is closed unanswered; other
 * addresses are not affected; the refusal is counted and on /metrics. */
static void test_per_ip_cap(void **state)
{
    (void)state;
    enum { CAP = 4 };
    /* One server thread: with a pool, two threads accept the 4th and the 5th
     * connection at once, and either may be counted 5th. */
    struct ob_http_server_options opt = {.max_connections_per_ip = CAP, .metrics = metrics_stats,
                                         .threads = 1};
    struct fx f;
    int held[CAP];
    char buf[2048];

    fx_start(&f, &opt);
    for (int i = 0; i < CAP; i++)
        held[i] = raw_connect("127.0.0.1", f.port);
    int over = raw_connect("127.0.0.1", f.port); /* the kernel accepts; the server closes */
    assert_true(raw_read_to_close(over, 5000, buf, sizeof(buf)));
    assert_string_equal(buf, ""); /* not a word */
    close(over);

    /* the ones within the cap are served ... */
    for (int i = 0; i < CAP; i++) {
        raw_send(held[i], "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_true(raw_read_to_close(held[i], 5000, buf, sizeof(buf)));
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
    }
    /* ... and so is another address while 127.0.0.1 was at the cap */
    int other = raw_connect("127.0.0.2", f.port);
    raw_send(other, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_true(raw_read_to_close(other, 5000, buf, sizeof(buf)));
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    assert_non_null(strstr(buf, "refused_per_ip 1\n"));
    close(other);
    for (int i = 0; i < CAP; i++)
        close(held[i]);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.refused_per_ip, 1);
    fx_free(&f);
}

/* Send `prefix`, then one byte of `drip` every 200 ms until the server
 * closes; returns the seconds from connect to close, -1 if it never did
 * within 5 s. *dripped: the bytes trickled. */
static double drip_until_cut(unsigned short port, const char *prefix, const char *drip,
                             size_t *dripped)
{
    int64_t start = mono_ms();
    int fd = raw_connect("127.0.0.1", port);
    double took = -1;

    *dripped = 0;
    if (prefix[0] != '\0')
        raw_send(fd, prefix);
    while (mono_ms() - start < 5000) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) > 0) {
            char tmp[512];
            if (recv(fd, tmp, sizeof(tmp), 0) <= 0) {
                took = (double)(mono_ms() - start) / 1000.0;
                break;
            }
            continue;
        }
        if (drip[0] != '\0') {
            if (send(fd, &drip[*dripped % strlen(drip)], 1, MSG_NOSIGNAL) != 1) {
                took = (double)(mono_ms() - start) / 1000.0;
                break;
            }
            (*dripped)++;
        }
    }
    close(fd);
    return took;
}

/* request_timeout_ms is a deadline for the whole request: bytes trickling
 * in (headers or body) do not extend it, and a silent connection gets the
 * same. The time the loop holds a request is not counted. */
static void test_request_deadline(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1,
                                         .request_timeout_ms = 1000};
    struct fx f;
    size_t dripped;

    fx_start(&f, &opt);
    double body = drip_until_cut(f.port, "POST /cb HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n",
                                 "z", &dripped);
    print_message("body drip: cut after %.2f s, %zu bytes dripped\n", body, dripped);
    assert_true(body >= 0.9 && body < 2.0);
    assert_true(dripped >= 3); /* it kept sending until the end */
    double headers = drip_until_cut(f.port, "POST /cb HTTP/1.1\r\nHost: x\r\n", "X-Slow: a\r\n",
                                    &dripped);
    print_message("header drip: cut after %.2f s\n", headers);
    assert_true(headers >= 0.9 && headers < 2.0);
    double line = drip_until_cut(f.port, "", "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &dripped);
    assert_true(line >= 0.9 && line < 2.0);
    double silent = drip_until_cut(f.port, "", "", &dripped);
    print_message("request line drip %.2f s, silent %.2f s\n", line, silent);
    assert_true(silent >= 0.9 && silent < 2.0);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.deadline_cut, 4);
    assert_int_equal(st.handed_over, 0);

    /* a request the loop holds past the deadline is still answered, and
     * its kept-alive connection gets a fresh deadline for the next one */
    struct xfer *held = add(&f, &(struct spec){.path = "/cb", .body = "held"});
    wait_taken(&f, 1);
    usleep(1300 * 1000); /* the thing under test: longer than the deadline */
    answer(&f, f.taken[0], 200, "", "{}");
    wait_done(&f);
    expect_status(held, 200);
    struct xfer *next = add(&f, &(struct spec){.path = "/cb", .body = "next"});
    wait_taken(&f, 2);
    answer(&f, f.taken[1], 200, "", "{}");
    wait_done(&f);
    expect_status(next, 200);
    assert_int_equal(next->connects, 0); /* the same connection */
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.deadline_cut, 4);
    fx_free(&f);
}

/* Bodies held at once never pass max_body_memory: near-complete bodies
 * beyond it are answered 503 (Retry-After) without being read. */
static void test_body_budget(void **state)
{
    (void)state;
    enum { BODY = 16000, N = 10, FIT = 4 };
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0, .max_body = BODY}};
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1,
                                         .max_body_memory = 64 * 1024};
    static char chunk[BODY];
    char head[128], buf[2048];
    int fds[N];
    struct fx f;

    memset(chunk, 'b', sizeof(chunk));
    fx_start(&f, &opt);
    f.on_take = echo;
    snprintf(head, sizeof(head), "POST /cb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
             "Content-Length: %d\r\n\r\n", BODY);
    for (int i = 0; i < N; i++) {
        fds[i] = raw_connect("127.0.0.1", f.port);
        raw_send(fds[i], head);
        if (i < FIT) {
            /* all but the last byte; the whole body is reserved at once */
            assert_int_equal(send(fds[i], chunk, BODY - 1, MSG_NOSIGNAL), BODY - 1);
            assert_true(await_stats(f.s, body_bytes_are, (uint64_t)(i + 1) * (BODY + 1)));
            continue;
        }
        assert_true(raw_read_to_close(fds[i], 5000, buf, sizeof(buf)));
        assert_non_null(strstr(buf, "HTTP/1.1 503"));
        assert_non_null(strstr(buf, "Retry-After: 1"));
    }
    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.body_budget, N - FIT);
    assert_int_equal(st.body_bytes, FIT * (BODY + 1));

    /* a chunked body outgrowing what is left: dropped, then 503 */
    struct xfer *chunked = add(&f, &(struct spec){.path = "/cb", .stream_len = 3000,
                                                  .chunked = true});
    run(&f, xfer_done, chunked);
    expect_status(chunked, 503);
    ob_http_server_get_stats(f.s, &st);
    assert_int_equal(st.body_budget, N - FIT + 1);
    assert_int_equal(st.body_bytes, FIT * (BODY + 1));

    /* the held ones complete and are answered; the budget is free again */
    for (int i = 0; i < FIT; i++)
        raw_send(fds[i], "b");
    size_t fit = FIT;
    run(&f, answered_at_least, &fit); /* echo() answers each at once */
    for (int i = 0; i < FIT; i++) {
        assert_true(raw_read_to_close(fds[i], 5000, buf, sizeof(buf)));
        assert_non_null(strstr(buf, "HTTP/1.1 200"));
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    assert_true(await_stats(f.s, body_bytes_are, 0));
    struct xfer *after = add(&f, &(struct spec){.path = "/cb", .stream_len = BODY});
    wait_done(&f);
    expect_status(after, 200);
    fx_free(&f);
}

/* With ops_listen, /metrics, /healthz and /readyz are there alone. */
static void test_ops_listener(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    int broken = 0;
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1,
                                         .ops_listen = "127.0.0.1:0", .metrics = metrics_text,
                                         .metrics_arg = &broken};
    struct fx f;

    fx_start(&f, &opt);
    unsigned short ops = ob_http_server_ops_port(f.s);
    assert_true(ops > 0 && ops != f.port);
    f.on_take = echo;
    struct xfer *metrics = add(&f, &(struct spec){.method = "GET", .path = "/metrics", .port = ops});
    struct xfer *health = add(&f, &(struct spec){.method = "GET", .path = "/healthz", .port = ops});
    struct xfer *unready = add(&f, &(struct spec){.method = "GET", .path = "/readyz", .port = ops});
    struct xfer *cb_on_ops = add(&f, &(struct spec){.path = "/cb", .body = "x", .port = ops});
    struct xfer *main_metrics = add(&f, &(struct spec){.method = "GET", .path = "/metrics"});
    struct xfer *main_health = add(&f, &(struct spec){.method = "GET", .path = "/healthz"});
    struct xfer *main_ready = add(&f, &(struct spec){.method = "GET", .path = "/readyz"});
    struct xfer *cb = add(&f, &(struct spec){.path = "/cb", .body = "x"});
    wait_done(&f);
    expect_status(metrics, 200);
    assert_string_equal(metrics->body, "ob_up 1\n");
    expect_status(health, 200);
    expect_status(unready, 503);
    expect_status(cb_on_ops, 404);
    expect_status(main_metrics, 404);
    expect_status(main_health, 404);
    expect_status(main_ready, 404);
    expect_status(cb, 200);
    ob_http_server_set_ready(f.s, 1);
    struct xfer *ready = add(&f, &(struct spec){.method = "GET", .path = "/readyz", .port = ops});
    wait_done(&f);
    expect_status(ready, 200);
    assert_string_equal(ready->body, "ready\n");
    fx_free(&f);

    /* without ops_listen: all on the main listener, as before */
    opt.ops_listen = NULL;
    fx_start(&f, &opt);
    assert_int_equal(ob_http_server_ops_port(f.s), 0);
    struct xfer *m = add(&f, &(struct spec){.method = "GET", .path = "/metrics"});
    struct xfer *r = add(&f, &(struct spec){.method = "GET", .path = "/readyz"});
    wait_done(&f);
    expect_status(m, 200);
    expect_status(r, 503);
    fx_free(&f);

    /* a bad ops address fails the start */
    struct ob_http_server_options bad = {.listen = "127.0.0.1:0", .ops_listen = "localhost:1",
                                         .wake_fd = -1};
    expect_start_error(&bad, "ops_listen", NULL);
}

/* GET /api/...: /api/failures answers, /api/trace/<id> answers for "A/B"
 * (the path arrives decoded), 404 for others, /api/boom has no answer. */
static char *api_json(void *arg, const char *path, int *http_status, size_t *len)
{
    int *calls = arg;
    char *body = NULL;

    (*calls)++;
    if (strcmp(path, "/api/failures") == 0)
        body = strdup("{\"failures\":[]}");
    else if (strcmp(path, "/api/trace/A/B") == 0)
        body = strdup("{\"order_id\":\"A/B\"}");
    else if (strncmp(path, "/api/trace/", 11) == 0)
        *http_status = 404;
    if (body != NULL)
        *len = strlen(body);
    return body;
}

static void expect_header(const struct xfer *x, const char *line)
{
    if (strstr(x->headers, line) == NULL) {
        print_error("%s: no \"%s\" in\n%s\n", x->url, line, x->headers);
        fail();
    }
}

/* The dashboard's files and the JSON API: ops paths, GET and HEAD only; a
 * callback route under /api is still a callback. */
static void test_dashboard_and_api(void **state)
{
    (void)state;
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0},
                                           {.prefix = "/api/cb", .id = 1}};
    int calls = 0;
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 2, .api = api_json,
                                         .api_arg = &calls};
    struct fx f;

    fx_start(&f, &opt);
    f.on_take = echo;
    struct xfer *page = add(&f, &(struct spec){.method = "GET", .path = "/dashboard"});
    struct xfer *slash = add(&f, &(struct spec){.method = "GET", .path = "/dashboard/"});
    struct xfer *js = add(&f, &(struct spec){.method = "GET", .path = "/dashboard/app.js"});
    struct xfer *css = add(&f, &(struct spec){.method = "GET", .path = "/dashboard/style.css"});
    struct xfer *missing = add(&f, &(struct spec){.method = "GET", .path = "/dashboard/no.js"});
    struct xfer *up = add(&f, &(struct spec){.method = "GET", .path = "/dashboard/../metrics"});
    struct xfer *other = add(&f, &(struct spec){.method = "GET", .path = "/dashboardx"});
    struct xfer *post = add(&f, &(struct spec){.path = "/dashboard", .body = "x"});
    struct xfer *failures = add(&f, &(struct spec){.method = "GET", .path = "/api/failures"});
    struct xfer *trace = add(&f, &(struct spec){.method = "GET", .path = "/api/trace/A%2FB"});
    struct xfer *unknown = add(&f, &(struct spec){.method = "GET", .path = "/api/trace/C"});
    struct xfer *boom = add(&f, &(struct spec){.method = "GET", .path = "/api/boom"});
    struct xfer *nul = add(&f, &(struct spec){.method = "GET", .path = "/api/trace/x%00y"});
    struct xfer *bad = add(&f, &(struct spec){.method = "GET", .path = "/api/trace/x%zz"});
    struct xfer *api_post = add(&f, &(struct spec){.path = "/api/failures", .body = "x"});
    struct xfer *cb = add(&f, &(struct spec){.path = "/api/cb/1", .body = "y"});
    wait_done(&f);
    expect_status(page, 200);
    assert_string_equal(page->ctype, "text/html; charset=utf-8");
    assert_non_null(strstr(page->body, "<script src=\"/dashboard/app.js\""));
    expect_header(page, "Content-Security-Policy: default-src 'self'\r\n");
    expect_header(page, "X-Content-Type-Options: nosniff\r\n");
    expect_status(slash, 200);
    assert_string_equal(slash->body, page->body);
    expect_status(js, 200);
    assert_string_equal(js->ctype, "text/javascript; charset=utf-8");
    expect_header(js, "Content-Security-Policy: default-src 'self'\r\n");
    expect_status(css, 200);
    assert_string_equal(css->ctype, "text/css; charset=utf-8");
    expect_status(missing, 404);
    expect_status(up, 404);
    expect_status(other, 404);
    expect_status(post, 404);
    expect_status(failures, 200);
    assert_string_equal(failures->body, "{\"failures\":[]}");
    assert_string_equal(failures->ctype, "application/json");
    expect_header(failures, "Cache-Control: no-store\r\n");
    expect_status(trace, 200);
    assert_string_equal(trace->body, "{\"order_id\":\"A/B\"}");
    expect_status(unknown, 404);
    expect_status(boom, 500);
    expect_status(nul, 404);
    expect_status(bad, 404);
    expect_status(api_post, 404);
    expect_status(cb, 200);
    assert_string_equal(cb->body, "{\"echo\":\"y\",\"sub\":\"/1\"}");
    assert_int_equal(calls, 4); /* never for %00, %zz or a POST */
    fx_free(&f);

    /* with ops_listen: there alone; without an api callback: 404 */
    opt.ops_listen = "127.0.0.1:0";
    opt.api = NULL;
    fx_start(&f, &opt);
    unsigned short ops = ob_http_server_ops_port(f.s);
    struct xfer *ops_page = add(&f, &(struct spec){.method = "GET", .path = "/dashboard",
                                                   .port = ops});
    struct xfer *ops_api = add(&f, &(struct spec){.method = "GET", .path = "/api/failures",
                                                  .port = ops});
    struct xfer *main_page = add(&f, &(struct spec){.method = "GET", .path = "/dashboard"});
    struct xfer *main_api = add(&f, &(struct spec){.method = "GET", .path = "/api/failures"});
    wait_done(&f);
    expect_status(ops_page, 200);
    expect_status(ops_api, 404);
    expect_status(main_page, 404);
    expect_status(main_api, 404);
    fx_free(&f);
}

/* ---- attack: slowloris, body hoarding and a connection flood at once ------ */

enum attack_kind { SLOW, HOARD, FLOOD };

struct attacker {
    enum attack_kind kind;
    char src[16];
    int fd;             /* -1: closed; reconnect at next_ms */
    int64_t next_ms;    /* SLOW: next byte; closed: reconnect */
    size_t sent;        /* HOARD: body bytes sent */
    bool answered_503;
};

struct attack {
    unsigned short port;
    struct attacker *a;
    size_t n;
    atomic_bool stop;
    /* results */
    uint64_t connects, closed_by_server, got_503;
    uint64_t closed[3]; /* by enum attack_kind */
};

#define HOARD_BODY 1000000
#define HOARD_SENT (HOARD_BODY - 1000) /* nearly complete, then silence */

static void attacker_open(struct attack *at, struct attacker *a, int64_t now)
{
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return;
    inet_pton(AF_INET, a->src, &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons(at->port);
    if (bind(fd, (struct sockaddr *)&from, sizeof(from)) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
        close(fd);
        a->next_ms = now + 100;
        return;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    at->connects++;
    a->fd = fd;
    a->sent = 0;
    a->next_ms = now;
    const char *head = a->kind == SLOW ? "POST /cb HTTP/1.1\r\nHost: x\r\n"
                       : a->kind == HOARD ? "POST /cb HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                            "1000000\r\n\r\n"
                                          : "";
    if (head[0] != '\0' && send(fd, head, strlen(head), MSG_NOSIGNAL) < 0) {
        /* seen as closed below */
    }
}

static void *attack_main(void *arg)
{
    struct attack *at = arg;
    static char junk[65536];
    struct pollfd *pfd = calloc(at->n, sizeof(*pfd));

    assert_non_null(pfd);
    memset(junk, 'h', sizeof(junk));
    while (!atomic_load(&at->stop)) {
        int64_t now = mono_ms();
        for (size_t i = 0; i < at->n; i++) {
            struct attacker *a = &at->a[i];
            if (a->fd < 0 && now >= a->next_ms)
                attacker_open(at, a, now);
            if (a->fd < 0)
                continue;
            if (a->kind == SLOW && now >= a->next_ms) {
                if (send(a->fd, "X", 1, MSG_NOSIGNAL) < 0 && errno != EAGAIN) {
                    /* seen as closed below */
                }
                a->next_ms = now + 300; /* one byte every 300 ms */
            } else if (a->kind == HOARD && a->sent < HOARD_SENT) {
                size_t want = HOARD_SENT - a->sent;
                ssize_t n = send(a->fd, junk, want < sizeof(junk) ? want : sizeof(junk),
                                 MSG_NOSIGNAL);
                if (n > 0)
                    a->sent += (size_t)n;
            }
        }
        for (size_t i = 0; i < at->n; i++)
            pfd[i] = (struct pollfd){.fd = at->a[i].fd, .events = POLLIN};
        if (poll(pfd, at->n, 20) <= 0)
            continue;
        now = mono_ms();
        for (size_t i = 0; i < at->n; i++) {
            struct attacker *a = &at->a[i];
            if (a->fd < 0 || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[1024];
            ssize_t n = recv(a->fd, tmp, sizeof(tmp) - 1, 0);
            if (n > 0) {
                tmp[n] = '\0';
                if (strstr(tmp, " 503 ") != NULL && !a->answered_503) {
                    a->answered_503 = true;
                    at->got_503++;
                }
                continue;
            }
            if (n < 0 && errno == EAGAIN)
                continue;
            close(a->fd);
            a->fd = -1;
            a->answered_503 = false;
            a->next_ms = now + 100; /* and come back */
            at->closed_by_server++;
            at->closed[a->kind]++;
        }
    }
    for (size_t i = 0; i < at->n; i++)
        if (at->a[i].fd >= 0)
            close(at->a[i].fd);
    free(pfd);
    return NULL;
}

static long rss_kib(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(fp);
    return kib;
}

/*
 * Hundreds of slowloris connections (from ten loopback addresses, each
 * under the per-address cap), 40 clients hoarding near-complete 1 MB
 * bodies and one address opening far more connections than its cap, all
 * at once and reconnecting when cut, for 6 s. Meanwhile a legitimate
 * client sends a callback every 200 ms: each must be answered in < 2 s.
 */
static void test_attack(void **state)
{
    (void)state;
    enum { SLOW_ADDRS = 10, SLOW_PER_ADDR = 30, HOARD_ADDRS = 4, HOARD_PER_ADDR = 10,
           FLOOD_N = 100, CAP = 32, ATTACK_MS = 6000, LEGIT_EVERY_MS = 200 };
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    const size_t budget = 8u << 20;
    struct ob_http_server_options opt = {.routes = routes, .n_routes = 1,
                                         .max_connections_per_ip = CAP,
                                         .request_timeout_ms = 1500,
                                         .max_body_memory = budget};
    struct attack at = {.n = SLOW_ADDRS * SLOW_PER_ADDR + HOARD_ADDRS * HOARD_PER_ADDR + FLOOD_N};
    struct fx f;

    at.a = calloc(at.n, sizeof(*at.a));
    assert_non_null(at.a);
    size_t k = 0;
    for (int i = 0; i < SLOW_ADDRS; i++)
        for (int j = 0; j < SLOW_PER_ADDR; j++, k++)
            at.a[k] = (struct attacker){.kind = SLOW, .fd = -1};
    for (int i = 0; i < HOARD_ADDRS; i++)
        for (int j = 0; j < HOARD_PER_ADDR; j++, k++)
            at.a[k] = (struct attacker){.kind = HOARD, .fd = -1};
    for (int j = 0; j < FLOOD_N; j++, k++)
        at.a[k] = (struct attacker){.kind = FLOOD, .fd = -1};
    k = 0;
    for (int i = 0; i < SLOW_ADDRS; i++)
        for (int j = 0; j < SLOW_PER_ADDR; j++)
            snprintf(at.a[k++].src, sizeof(at.a[0].src), "127.0.0.%d", 2 + i);
    for (int i = 0; i < HOARD_ADDRS; i++)
        for (int j = 0; j < HOARD_PER_ADDR; j++)
            snprintf(at.a[k++].src, sizeof(at.a[0].src), "127.0.1.%d", 2 + i);
    for (int j = 0; j < FLOOD_N; j++)
        snprintf(at.a[k++].src, sizeof(at.a[0].src), "127.0.2.2");

    long rss_before = rss_kib();
    fx_start(&f, &opt);
    f.on_take = echo;
    at.port = f.port;
    pthread_t attacker;
    assert_int_equal(pthread_create(&attacker, NULL, attack_main, &at), 0);

    int64_t start = mono_ms();
    double worst = 0, sum = 0;
    uint64_t peak_body = 0;
    size_t legit = 0;
    long rss_peak = rss_before;
    while (mono_ms() - start < ATTACK_MS) {
        int64_t sent_at = mono_ms();
        char body[32];
        snprintf(body, sizeof(body), "legit-%zu", legit);
        struct xfer *x = add(&f, &(struct spec){.path = "/cb/legit", .body = body,
                                                .timeout_ms = 2000});
        run(&f, xfer_done, x);
        expect_status(x, 200);
        assert_non_null(strstr(x->body, body));
        double took = (double)(mono_ms() - sent_at) / 1000.0;
        worst = took > worst ? took : worst;
        sum += took;
        legit++;
        struct ob_http_server_stats st;
        ob_http_server_get_stats(f.s, &st);
        peak_body = st.body_bytes > peak_body ? st.body_bytes : peak_body;
        assert_true(st.body_bytes <= budget);
        long rss = rss_kib();
        rss_peak = rss > rss_peak ? rss : rss_peak;
        /* pacing the legitimate client, not waiting for an event */
        int64_t next = sent_at + LEGIT_EVERY_MS;
        while (mono_ms() < next)
            usleep((useconds_t)((next - mono_ms()) * 1000));
    }
    atomic_store(&at.stop, true);
    pthread_join(attacker, NULL);

    struct ob_http_server_stats st;
    ob_http_server_get_stats(f.s, &st);
    print_message("attack: %zu legit callbacks, worst %.3f s, mean %.3f s; attacker connects "
                  "%llu, closed by the server %llu, 503 seen %llu\n",
                  legit, worst, sum / (double)legit, (unsigned long long)at.connects,
                  (unsigned long long)at.closed_by_server, (unsigned long long)at.got_503);
    print_message("attack: closed by the server: slow %llu, hoarding %llu, flood %llu\n",
                  (unsigned long long)at.closed[SLOW], (unsigned long long)at.closed[HOARD],
                  (unsigned long long)at.closed[FLOOD]);
    print_message("attack: refused_per_ip %llu, deadline_cut %llu, body_budget %llu, peak body "
                  "bytes %llu of %zu; RSS %ld -> peak %ld KiB\n",
                  (unsigned long long)st.refused_per_ip, (unsigned long long)st.deadline_cut,
                  (unsigned long long)st.body_budget, (unsigned long long)peak_body, budget,
                  rss_before, rss_peak);
    assert_true(legit >= ATTACK_MS / LEGIT_EVERY_MS / 2);
    assert_true(worst < 2.0);
    assert_true(st.refused_per_ip > 0);
    assert_true(st.deadline_cut > 0);
    assert_true(st.body_budget > 0);
    /* every trickling connection was cut at least once (deadline 1.5 s) */
    assert_true(at.closed[SLOW] >= SLOW_ADDRS * SLOW_PER_ADDR);
    fx_free(&f);
    free(at.a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_local_answers),
        cmocka_unit_test(test_too_large_announced),
        cmocka_unit_test(test_too_large_chunked),
        cmocka_unit_test(test_allowlist),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_max_pending),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_stop_with_pending),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_many_concurrent),
        cmocka_unit_test(test_per_ip_cap),
        cmocka_unit_test(test_request_deadline),
        cmocka_unit_test(test_body_budget),
        cmocka_unit_test(test_ops_listener),
        cmocka_unit_test(test_dashboard_and_api),
        cmocka_unit_test(test_attack),
    };
    curl_global_init(CURL_GLOBAL_ALL);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
