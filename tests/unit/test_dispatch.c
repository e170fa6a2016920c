/*
 * test_dispatch.c — the HTTP dispatcher (src/dispatch.c): curl driven by
 * curl_multi_socket_action() on an epoll set, against the rest simulator.
 *
 * Every call submitted is completed exactly once, promptly: thousands in
 * flight over a bounded set of connections, two dispatchers on two threads
 * against one single-threaded warehouse (where two bridges once sat in
 * poll() for 10 s with answers unread), a timeout that only a timer can
 * notice, and the caller's wake-up fd.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <orderbridge/sdk.h>

#include "dispatch.h"
#include "http_server.h"
#include "sim.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct run;

/* One call and its bookkeeping, side by side. */
struct push {
    struct ob_http_call call;
    struct run *run;
    double started_ms;
    int in_use;
};

/* A dispatcher making `total` calls to one server, `window` at a time:
 * orders POSTed to a warehouse, or GET `path`. */
struct run {
    unsigned short port;
    const char *path; /* NULL: POST /orders, answered 201; else `path`, answered 200 */
    int post;         /* with path: POST the order there, else GET */
    const char *prefix; /* makes each run's references its own */
    unsigned long total, submitted, done, created, failed;
    unsigned window;
    double worst_ms;
    struct push *pushes;
    char first_error[CURL_ERROR_SIZE + 64];
};

static void push_done(struct ob_http_call *call)
{
    struct push *p = (struct push *)(void *)call;
    struct run *r = p->run;
    double took = now_ms() - p->started_ms;

    if (took > r->worst_ms)
        r->worst_ms = took;
    if (call->resp.status == (r->path ? 200 : 201)) {
        r->created++;
    } else {
        if (!r->failed++)
            snprintf(r->first_error, sizeof(r->first_error), "HTTP %ld: %s", call->resp.status,
                     call->resp.transport_error ? call->resp.transport_error : call->resp.body);
    }
    r->done++;
    p->in_use = 0;
    ob_http_call_reset(call);
}

static void submit(struct ob_dispatch *d, struct run *r, struct push *p)
{
    char body[512];
    int len = snprintf(body, sizeof(body),
                       "{\"reference_id\":\"%s-%lu\",\"recipient\":{\"name\":\"Zhang San\","
                       "\"address\":{\"address1\":\"1 Chunshen Rd\",\"city\":\"Shanghai\","
                       "\"country\":\"CN\"}},\"products\":[{\"reference_id\":\"SKU-1\","
                       "\"quantity\":1,\"unit_price\":599.0}],\"shipping_method\":\"Standard\"}",
                       r->prefix, r->submitted);

    memset(&p->call, 0, sizeof(p->call));
    p->run = r;
    p->in_use = 1;
    if (r->path && !r->post) {
        assert_int_equal(ob_request_set_url(&p->call.req, "http://127.0.0.1:%u%s", r->port,
                                            r->path),
                         0);
        p->call.req.method = "GET";
    } else {
        assert_int_equal(ob_request_set_url(&p->call.req, "http://127.0.0.1:%u%s", r->port,
                                            r->path ? r->path : "/orders"),
                         0);
        p->call.req.method = "POST";
        assert_int_equal(ob_request_set_body(&p->call.req, body, (size_t)len), 0);
        assert_int_equal(ob_request_add_header(&p->call.req, "Content-Type", "application/json"),
                         0);
        assert_int_equal(ob_request_add_header(&p->call.req, "Idempotency-Key", KEY), 0);
    }
    p->call.connect_timeout_ms = 5000;
    p->call.timeout_ms = 10000;
    p->call.done = push_done;
    p->started_ms = now_ms();
    r->submitted++;
    assert_int_equal(ob_dispatch_submit(d, &p->call), 0);
}

/* Push every order of `r` through a dispatcher of its own; a free slot is
 * refilled at once, so `window` calls are in flight until the end. */
static void *run_pushes(void *arg)
{
    struct run *r = arg;
    struct ob_dispatch_options opt = {.max_host_connections = 64};
    struct ob_dispatch *d = NULL;
    double deadline = now_ms() + 60000;

    r->pushes = calloc(r->window, sizeof(*r->pushes));
    if (!r->pushes || ob_dispatch_create(&opt, &d) != 0)
        return NULL;
    while (r->done < r->total && now_ms() < deadline) {
        for (unsigned i = 0; i < r->window && r->submitted < r->total; i++)
            if (!r->pushes[i].in_use)
                submit(d, r, &r->pushes[i]);
        if (ob_dispatch_poll(d, -1, 1000) < 0)
            break;
    }
    ob_dispatch_destroy(d);
    free(r->pushes);
    return NULL;
}

static struct ob_sim *start_sim(void)
{
    struct ob_sim_options o = {.threads = 1, .profile = "rest", .token = ""};
    char err[256] = "";
    struct ob_sim *sim = ob_sim_start(&o, err, sizeof(err));

    if (!sim)
        fail_msg("ob_sim_start: %s", err);
    return sim;
}

static void expect_all_answered(const struct run *r)
{
    if (r->failed)
        fail_msg("%s %s: %lu of %lu failed, the first: %s", r->prefix,
                 r->path ? r->path : "/orders", r->failed, r->total, r->first_error);
    assert_int_equal(r->done, r->total);
    assert_int_equal(r->created, r->total);
    /* a local warehouse answers in milliseconds: seconds mean a transfer sat unserved */
    if (r->worst_ms > 3000)
        fail_msg("%s %s: the slowest call took %.0f ms", r->prefix,
                 r->path ? r->path : "/orders", r->worst_ms);
}

/* 3000 orders, 256 in flight over at most 64 connections: the rest wait
 * in curl for a connection and are served as connections free up. */
static void test_many_in_flight(void **state)
{
    struct ob_sim *sim = start_sim();
    struct run r = {.port = ob_sim_port(sim), .prefix = "MANY", .total = 3000, .window = 256};
    struct ob_sim_stats st;

    (void)state;
    run_pushes(&r);
    expect_all_answered(&r);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, r.total);
    ob_sim_stop(sim);
}

/* Two dispatchers on two threads, 64 connections each, 128 calls in
 * flight each, against one single-threaded server on `port`. */
static void two_clients(unsigned short port, const char *path, int post)
{
    struct run a = {.port = port, .path = path, .post = post, .prefix = "A", .total = 4000,
                    .window = 128};
    struct run b = {.port = port, .path = path, .post = post, .prefix = "B", .total = 4000,
                    .window = 128};
    pthread_t ta, tb;

    assert_int_equal(pthread_create(&ta, NULL, run_pushes, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, run_pushes, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    expect_all_answered(&a);
    expect_all_answered(&b);
}

/* Here libmicrohttpd 0.9.75 in epoll mode left requests unread in its
 * sockets' receive queues until the clients' 10 s timeouts (issue 11's
 * "lost wake-up"); in poll mode every one is served. */
static void test_two_dispatchers_one_warehouse(void **state)
{
    struct ob_sim *sim = start_sim();
    struct ob_sim_stats st;

    (void)state;
    two_clients(ob_sim_port(sim), NULL, 0);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 8000);
    ob_sim_stop(sim);
}

/* The loop's side of the bridge's server: take each request handed over
 * and answer it 200, until told to stop. */
struct answerer {
    struct ob_http_server *s;
    int wake[2];
    volatile int stop;
};

static void *answer_requests(void *arg)
{
    struct answerer *a = arg;
    struct ob_callback_reply reply = {.status = 200};
    struct ob_http_pending *taken[64];
    char drain[64];

    snprintf(reply.body, sizeof(reply.body), "{\"ok\":true}");
    while (!a->stop) {
        struct pollfd pfd = {.fd = a->wake[0], .events = POLLIN};
        size_t n;
        poll(&pfd, 1, 100);
        while (read(a->wake[0], drain, sizeof(drain)) > 0)
            ;
        do {
            n = ob_http_server_take(a->s, taken, 64);
            for (size_t i = 0; i < n; i++)
                ob_http_server_answer(a->s, taken[i], &reply);
        } while (n == 64);
    }
    return NULL;
}

/* The same against the bridge's own server: /healthz answered by the
 * server thread, callbacks answered by the loop. */
static void test_two_clients_one_server_thread(void **state)
{
    const struct ob_http_route routes[] = {{.prefix = "/cb", .id = 0}};
    struct ob_http_server_options opt = {.listen = "127.0.0.1:0", .threads = 1,
                                         .routes = routes, .n_routes = 1};
    struct answerer a = {0};
    char err[256] = "";
    pthread_t t;

    (void)state;
    assert_int_equal(pipe2(a.wake, O_NONBLOCK | O_CLOEXEC), 0);
    opt.wake_fd = a.wake[1];
    if (ob_http_server_start(&opt, &a.s, err, sizeof(err)) != 0)
        fail_msg("ob_http_server_start: %s", err);
    assert_int_equal(pthread_create(&t, NULL, answer_requests, &a), 0);
    two_clients(ob_http_server_port(a.s), "/healthz", 0);
    two_clients(ob_http_server_port(a.s), "/cb/WH-1", 1);
    a.stop = 1;
    pthread_join(t, NULL);
    ob_http_server_stop(a.s);
    close(a.wake[0]);
    close(a.wake[1]);
}

/* A listener that never accepts: connections complete in its backlog and
 * no answer ever comes. Returns its port; *fd to close. */
static unsigned short silent_listener(int *fd)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    *fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(*fd, 16), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &len), 0);
    return ntohs(a.sin_port);
}

static void silent_done(struct ob_http_call *call)
{
    struct push *p = (struct push *)(void *)call;
    p->in_use = 0;
}

/* Nothing happens on the socket: only curl's timer can end the call, so
 * its timeout proves the timer is honoured. The caller's wake-up fd ends
 * a long wait at once, while the call is still in flight. */
static void test_timeout_and_wake_fd(void **state)
{
    struct ob_dispatch *d = NULL;
    struct push p = {0};
    int lfd, pipefd[2];
    unsigned short port = silent_listener(&lfd);
    double t0, took;

    (void)state;
    assert_int_equal(pipe(pipefd), 0);
    assert_int_equal(ob_dispatch_create(NULL, &d), 0);
    assert_int_equal(ob_request_set_url(&p.call.req, "http://127.0.0.1:%u/orders", port), 0);
    p.call.req.method = "POST";
    assert_int_equal(ob_request_set_body(&p.call.req, "{}", 2), 0);
    p.call.connect_timeout_ms = 5000;
    p.call.timeout_ms = 400;
    p.call.done = silent_done;
    p.in_use = 1;
    t0 = now_ms();
    assert_int_equal(ob_dispatch_submit(d, &p.call), 0);

    /* the wake-up fd, written while the call waits */
    assert_int_equal(write(pipefd[1], "w", 1), 1);
    assert_int_equal(ob_dispatch_poll(d, pipefd[0], 5000), 1);
    assert_true(now_ms() - t0 < 300);
    assert_true(p.in_use);
    {
        char c;
        assert_int_equal(read(pipefd[0], &c, 1), 1);
    }

    while (p.in_use && now_ms() - t0 < 5000)
        assert_true(ob_dispatch_poll(d, pipefd[0], 5000) >= 0);
    took = now_ms() - t0;
    assert_false(p.in_use);
    assert_int_equal(p.call.resp.status, 0);
    assert_non_null(p.call.resp.transport_error);
    if (took < 350 || took > 1500)
        fail_msg("a 400 ms timeout ended the call after %.0f ms", took);
    ob_http_call_reset(&p.call);
    ob_dispatch_destroy(d);
    close(lfd);
    close(pipefd[0]);
    close(pipefd[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_in_flight),
        cmocka_unit_test(test_two_dispatchers_one_warehouse),
        cmocka_unit_test(test_two_clients_one_server_thread),
        cmocka_unit_test(test_timeout_and_wake_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
