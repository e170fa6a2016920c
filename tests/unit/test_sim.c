/*
 * test_sim.c — the warehouse simulator over real HTTP (libcurl easy/multi).
 * The status-report tests run a small receiver (libmicrohttpd) in place of the
 * bridge, which checks signatures and tokens itself and answers as scripted.
 */
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <microhttpd.h>
#include <openssl/evp.h>

#include <orderbridge/sdk.h>

#include "sim.h"

#define TOKEN "s3cret-token"
#define KEY_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

struct reply {
    CURLcode rc;
    long status;
    long connects; /* new connections this transfer needed (0: reused) */
    char body[4096];
    size_t len;
    char retry_after[32];
};

struct call {
    const char *method; /* default POST */
    const char *path;   /* default /orders */
    const char *token;  /* NULL: no Authorization header */
    const char *key;    /* NULL: no Idempotency-Key */
    const char *ctype;  /* NULL: application/json; "" : none */
    const char *body;
    size_t body_len; /* 0: strlen(body) */
    CURL *easy;      /* reuse a handle (keep-alive); NULL: a fresh one */
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = sz * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct reply *r = ud;
    size_t len = sz * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        size_t i = 12, j = 0;
        while (i < len && p[i] == ' ')
            i++;
        while (i < len && p[i] != '\r' && p[i] != '\n' && j + 1 < sizeof(r->retry_after))
            r->retry_after[j++] = p[i++];
        r->retry_after[j] = '\0';
    }
    return len;
}

static CURL *prepare(unsigned short port, const struct call *c, struct reply *r,
                     struct curl_slist **hdrs)
{
    char url[2048], h[256];
    CURL *e = c->easy ? c->easy : curl_easy_init();
    assert_non_null(e);

    memset(r, 0, sizeof(*r));
    *hdrs = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, c->path ? c->path : "/orders");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (c->token) {
        snprintf(h, sizeof(h), "Authorization: Bearer %s", c->token);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    if (c->key) {
        snprintf(h, sizeof(h), "Idempotency-Key: %s", c->key);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    if (c->ctype == NULL)
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
    else if (c->ctype[0] != '\0') {
        snprintf(h, sizeof(h), "Content-Type: %s", c->ctype);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);

    const char *method = c->method ? c->method : "POST";
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        const char *body = c->body ? c->body : "";
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(c->body_len ? c->body_len : strlen(body)));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    }
    return e;
}

static void finish_call(CURL *e, const struct call *c, struct reply *r, struct curl_slist *hdrs)
{
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &r->connects);
    if (c->easy == NULL)
        curl_easy_cleanup(e);
    else
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
}

static void http(unsigned short port, const struct call *c, struct reply *r)
{
    struct curl_slist *hdrs;
    CURL *e = prepare(port, c, r, &hdrs);
    r->rc = curl_easy_perform(e);
    finish_call(e, c, r, hdrs);
}

static char *order_json(const char *ref)
{
    static char buf[1024];
    snprintf(buf, sizeof(buf),
             "{\"reference_id\":\"%s\",\"recipient\":{\"name\":\"Zhang San\","
             "\"phone_number\":\"13800138000\",\"email\":\"z@example.com\",\"address\":{"
             "\"address1\":\"1 Chunshen Rd\",\"city\":\"Shanghai\",\"state\":\"SH\","
             "\"country\":\"CN\",\"zip_code\":\"201100\"}},\"products\":[{\"reference_id\":"
             "\"SKE-12345-BLK-42\",\"name\":\"D'LITES 42\",\"quantity\":1,\"unit_price\":599.0}],"
             "\"shipping_method\":\"Standard\"}",
             ref);
    return buf;
}

static long post_order(unsigned short port, const char *ref, const char *key, struct reply *r)
{
    struct call c = {.token = TOKEN, .key = key, .body = order_json(ref)};
    http(port, &c, r);
    assert_int_equal(r->rc, CURLE_OK);
    return r->status;
}

static struct ob_sim *start(struct ob_sim_options *o)
{
    char err[256] = "";
    if (o->token == NULL)
        o->token = TOKEN;
    struct ob_sim *sim = ob_sim_start(o, err, sizeof(err));
    if (sim == NULL)
        fail_msg("ob_sim_start: %s", err);
    assert_int_not_equal(ob_sim_port(sim), 0);
    return sim;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- tests ------------------------------------------------------------- */

static void test_unauthorized(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;

    struct call none = {.key = KEY_A, .body = order_json("A-1")};
    http(ob_sim_port(sim), &none, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.body, "{\"error\":\"unauthorized\"}");

    struct call wrong = {.token = "nope", .key = KEY_A, .body = order_json("A-1")};
    http(ob_sim_port(sim), &wrong, &r);
    assert_int_equal(r.status, 401);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 2);
    assert_int_equal(st.created, 0);
    assert_int_equal(ob_sim_created(sim, "A-1"), 0);
    ob_sim_stop(sim);
}

static void test_create_then_duplicate(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    unsigned short port = ob_sim_port(sim);
    struct ob_sim_stats st;
    struct reply r;

    assert_int_equal(post_order(port, "SO-1", KEY_A, &r), 201);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1000001);
    assert_string_equal(json_string_value(json_object_get(j, "reference_id")), "SO-1");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "Processing");
    json_decref(j);

    /* same order, same key: a plain duplicate */
    assert_int_equal(post_order(port, "SO-1", KEY_A, &r), 422);
    assert_string_equal(r.body, "{\"errors\":{\"reference_id\":[\"Duplicate reference ID\"]}}");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.key_mismatches, 0);

    /* same order, another key: still 422, and counted as a key mismatch */
    assert_int_equal(post_order(port, "SO-1", KEY_B, &r), 422);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.key_mismatches, 1);

    assert_int_equal(post_order(port, "SO-2", KEY_B, &r), 201);
    j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1000002);
    json_decref(j);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 2);
    assert_int_equal(st.requests, 4);
    assert_int_equal(ob_sim_created(sim, "SO-1"), 1);
    assert_int_equal(ob_sim_created(sim, "SO-2"), 1);
    assert_int_equal(ob_sim_created(sim, "SO-3"), 0);
    ob_sim_stop(sim);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    unsigned short port = ob_sim_port(sim);
    struct ob_sim_stats st;
    struct reply r;
    static const char *bodies[] = {
        "{not json",
        "[1,2]",
        "{\"recipient\":{},\"products\":[{}]}",
        "{\"reference_id\":\"\",\"recipient\":{},\"products\":[{}]}",
        "{\"reference_id\":7,\"recipient\":{},\"products\":[{}]}",
        "{\"reference_id\":\"X\",\"products\":[{}]}",
        "{\"reference_id\":\"X\",\"recipient\":{}}",
        "{\"reference_id\":\"X\",\"recipient\":{},\"products\":[]}",
        "",
    };

    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct call c = {.token = TOKEN, .key = KEY_A, .body = bodies[i]};
        http(port, &c, &r);
        assert_int_equal(r.rc, CURLE_OK);
        if (r.status != 400)
            fail_msg("body %zu: status %ld", i, r.status);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "error")), "bad request");
        assert_true(json_is_string(json_object_get(j, "detail")));
        json_decref(j);
    }

    /* Idempotency-Key missing, uppercase, short */
    const char *keys[] = {NULL, "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
                          "abc"};
    for (size_t i = 0; i < 3; i++) {
        struct call c = {.token = TOKEN, .key = keys[i], .body = order_json("K-1")};
        http(port, &c, &r);
        assert_int_equal(r.status, 400);
        assert_non_null(strstr(r.body, "Idempotency-Key"));
    }

    /* a form-encoded body (libcurl's default Content-Type) is refused */
    struct call form = {.token = TOKEN, .key = KEY_A, .ctype = "", .body = order_json("K-1")};
    http(port, &form, &r);
    assert_int_equal(r.status, 415);
    struct call charset = {.token = TOKEN, .key = KEY_A,
                           .ctype = "application/json; charset=utf-8", .body = order_json("K-1")};
    http(port, &charset, &r);
    assert_int_equal(r.status, 201);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_requests, sizeof(bodies) / sizeof(bodies[0]) + 3 + 1);
    assert_int_equal(st.created, 1);
    assert_int_equal(ob_sim_created(sim, "X"), 0);
    ob_sim_stop(sim);
}

static void test_too_large(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    struct reply r;
    size_t n = (1u << 20) + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[n] = '\0';

    struct call c = {.token = TOKEN, .key = KEY_A, .body = big, .body_len = n};
    http(ob_sim_port(sim), &c, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 413);

    /* exactly 1 MiB of whitespace is accepted, and fails as JSON instead */
    c.body_len = n - 1;
    http(ob_sim_port(sim), &c, &r);
    assert_int_equal(r.status, 400);
    free(big);
    ob_sim_stop(sim);
}

static void test_not_found(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    struct reply r;
    struct call calls[] = {
        {.method = "GET", .path = "/nope", .token = TOKEN},
        {.method = "GET", .path = "/orders", .token = TOKEN},
        {.method = "DELETE", .path = "/orders", .token = TOKEN},
        {.method = "POST", .path = "/orders/1", .token = TOKEN, .key = KEY_A, .body = "{}"},
        {.method = "POST", .path = "/stats", .token = TOKEN, .body = "{}"},
    };
    for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
        http(ob_sim_port(sim), &calls[i], &r);
        assert_int_equal(r.rc, CURLE_OK);
        if (r.status != 404)
            fail_msg("call %zu: status %ld", i, r.status);
    }
    ob_sim_stop(sim);
}

static void test_injected_5xx(void **state)
{
    (void)state;
    struct ob_sim_options o = {.fail_5xx_rate = 1.0};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;

    assert_int_equal(post_order(ob_sim_port(sim), "F-1", KEY_A, &r), 503);
    assert_string_equal(r.body, "{\"error\":\"unavailable\"}");
    assert_int_equal(post_order(ob_sim_port(sim), "F-1", KEY_A, &r), 503);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_5xx, 2);
    assert_int_equal(st.created, 0);
    assert_int_equal(ob_sim_created(sim, "F-1"), 0);

    /* bad token still wins over fault injection */
    struct call c = {.token = "bad", .key = KEY_A, .body = order_json("F-1")};
    http(ob_sim_port(sim), &c, &r);
    assert_int_equal(r.status, 401);
    ob_sim_stop(sim);
}

static void test_injected_429(void **state)
{
    (void)state;
    struct ob_sim_options o = {.fail_429_rate = 1.0, .retry_after_s = 7};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;

    assert_int_equal(post_order(ob_sim_port(sim), "T-1", KEY_A, &r), 429);
    assert_string_equal(r.retry_after, "7");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_429, 1);
    assert_int_equal(st.created, 0);
    ob_sim_stop(sim);

    struct ob_sim_options d = {.fail_429_rate = 1.0}; /* default Retry-After: 1 */
    sim = start(&d);
    assert_int_equal(post_order(ob_sim_port(sim), "T-1", KEY_A, &r), 429);
    assert_string_equal(r.retry_after, "1");
    ob_sim_stop(sim);
}

static void test_injected_reset(void **state)
{
    (void)state;
    struct ob_sim_options o = {.reset_rate = 1.0};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;
    struct call c = {.token = TOKEN, .key = KEY_A, .body = order_json("R-1")};

    http(ob_sim_port(sim), &c, &r);
    assert_int_not_equal(r.rc, CURLE_OK);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_resets, 1);
    assert_int_equal(st.created, 0);
    assert_int_equal(ob_sim_created(sim, "R-1"), 0);
    ob_sim_stop(sim);
}

static void test_reset_after_create(void **state)
{
    (void)state;
    struct ob_sim_options o = {.reset_after_create_rate = 1.0};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;
    struct call c = {.token = TOKEN, .key = KEY_A, .body = order_json("L-1")};

    http(ob_sim_port(sim), &c, &r);
    assert_int_not_equal(r.rc, CURLE_OK); /* typically CURLE_GOT_NOTHING */
    assert_int_equal(ob_sim_created(sim, "L-1"), 1);

    /* the client's retry must learn the order exists */
    http(ob_sim_port(sim), &c, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 422);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.resets_after_create, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(ob_sim_created(sim, "L-1"), 1);
    ob_sim_stop(sim);
}

static void test_slow(void **state)
{
    (void)state;
    struct ob_sim_options o = {.slow_rate = 1.0, .slow_ms = 300, .threads = 1};
    struct ob_sim *sim = start(&o);
    struct reply r;

    double t0 = now_ms();
    assert_int_equal(post_order(ob_sim_port(sim), "S-1", KEY_A, &r), 201);
    double took = now_ms() - t0;
    assert_true(took >= 290.0);

    /* a parked answer does not block the (single) worker thread */
    struct call stats = {.method = "GET", .path = "/stats"};
    CURLM *m = curl_multi_init();
    struct curl_slist *hdrs;
    struct call slow = {.token = TOKEN, .key = KEY_A, .body = order_json("S-2")};
    struct reply sr;
    CURL *e = prepare(ob_sim_port(sim), &slow, &sr, &hdrs);
    curl_multi_add_handle(m, e);
    int running = 1;
    t0 = now_ms();
    while (ob_sim_created(sim, "S-2") == 0 && now_ms() - t0 < 2000) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    assert_int_equal(ob_sim_created(sim, "S-2"), 1);
    t0 = now_ms();
    http(ob_sim_port(sim), &stats, &r);
    assert_int_equal(r.status, 200);
    assert_true(now_ms() - t0 < 200.0);
    while (running) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &sr.status);
    assert_int_equal(sr.status, 201);
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(m);
    ob_sim_stop(sim);
}

/* ob_sim_stop() while an answer is parked must not hang or abort */
static void test_stop_while_parked(void **state)
{
    (void)state;
    struct ob_sim_options o = {.slow_rate = 1.0, .slow_ms = 30000};
    struct ob_sim *sim = start(&o);
    struct call slow = {.token = TOKEN, .key = KEY_A, .body = order_json("P-1")};
    struct reply sr;
    struct curl_slist *hdrs;
    CURLM *m = curl_multi_init();
    CURL *e = prepare(ob_sim_port(sim), &slow, &sr, &hdrs);
    int running = 1;

    curl_multi_add_handle(m, e);
    double t0 = now_ms();
    while (ob_sim_created(sim, "P-1") == 0 && now_ms() - t0 < 2000) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    assert_int_equal(ob_sim_created(sim, "P-1"), 1);
    t0 = now_ms();
    ob_sim_stop(sim);
    assert_true(now_ms() - t0 < 5000.0);
    while (running) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 10, NULL);
    }
    curl_multi_remove_handle(m, e);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    curl_multi_cleanup(m);
}

static void test_stats_json(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    struct reply r;

    assert_int_equal(post_order(ob_sim_port(sim), "J-1", KEY_A, &r), 201);
    assert_int_equal(post_order(ob_sim_port(sim), "J-1", KEY_B, &r), 422);
    struct call bad = {.key = KEY_A, .body = "{}"};
    http(ob_sim_port(sim), &bad, &r);

    struct call c = {.method = "GET", .path = "/stats"}; /* no auth needed */
    http(ob_sim_port(sim), &c, &r);
    assert_int_equal(r.status, 200);
    json_error_t err;
    json_t *j = json_loads(r.body, 0, &err);
    if (j == NULL)
        fail_msg("stats not JSON: %s: %s", err.text, r.body);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "requests")), st.requests);
    assert_int_equal(json_integer_value(json_object_get(j, "created")), st.created);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicates")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "key_mismatches")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "unauthorized")), 1);
    const char *names[] = {"bad_requests", "injected_5xx", "injected_429", "injected_resets",
                           "resets_after_create", "stored", "capacity"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_true(json_is_integer(json_object_get(j, names[i])));
    json_decref(j);
    ob_sim_stop(sim);
}

static void test_capacity(void **state)
{
    (void)state;
    struct ob_sim_options o = {.capacity = 2};
    struct ob_sim *sim = start(&o);
    struct reply r;

    assert_int_equal(post_order(ob_sim_port(sim), "C-1", KEY_A, &r), 201);
    assert_int_equal(post_order(ob_sim_port(sim), "C-2", KEY_A, &r), 201);
    assert_int_equal(post_order(ob_sim_port(sim), "C-3", KEY_A, &r), 507);
    assert_int_equal(post_order(ob_sim_port(sim), "C-1", KEY_A, &r), 422);
    assert_int_equal(ob_sim_created(sim, "C-3"), 0);
    ob_sim_stop(sim);
}

static void test_keep_alive(void **state)
{
    (void)state;
    struct ob_sim_options o = {.fail_5xx_rate = 0.5, .seed = 42};
    struct ob_sim *sim = start(&o);
    struct reply r;
    CURL *e = curl_easy_init();
    char ref[32];

    /* 201/422/503/401 all keep the connection: one connect for 20 requests */
    long connects = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(ref, sizeof(ref), "KA-%d", i % 5);
        struct call c = {.token = i % 7 ? TOKEN : "bad", .key = KEY_A, .body = order_json(ref),
                         .easy = e};
        http(ob_sim_port(sim), &c, &r);
        assert_int_equal(r.rc, CURLE_OK);
        connects += r.connects;
    }
    assert_int_equal(connects, 1);
    curl_easy_cleanup(e);
    ob_sim_stop(sim);
}

static void statuses(unsigned long seed, long out[40])
{
    struct ob_sim_options o = {.fail_5xx_rate = 0.3, .fail_429_rate = 0.3, .seed = seed};
    struct ob_sim *sim = start(&o);
    struct reply r;
    char ref[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "D-%d", i);
        out[i] = post_order(ob_sim_port(sim), ref, KEY_A, &r);
    }
    ob_sim_stop(sim);
}

static void test_seed_is_deterministic(void **state)
{
    (void)state;
    long a[40], b[40], c[40];
    statuses(7, a);
    statuses(7, b);
    statuses(8, c);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
    int n201 = 0, n429 = 0, n503 = 0;
    for (int i = 0; i < 40; i++) {
        n201 += a[i] == 201;
        n429 += a[i] == 429;
        n503 += a[i] == 503;
    }
    assert_int_equal(n201 + n429 + n503, 40);
    assert_true(n201 > 0 && n429 > 0 && n503 > 0);
}

struct worker {
    unsigned short port;
    int offset;
    int n201, n422, other;
};

#define CONC_THREADS 8
#define CONC_REFS 50
#define CONC_ROUNDS 3

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    CURL *e = curl_easy_init();
    struct reply r;
    char ref[32];

    for (int i = 0; i < CONC_REFS * CONC_ROUNDS; i++) {
        snprintf(ref, sizeof(ref), "CC-%d", (i + w->offset) % CONC_REFS);
        /* not order_json(): its static buffer is not thread-safe */
        char body[256];
        snprintf(body, sizeof(body),
                 "{\"reference_id\":\"%s\",\"recipient\":{\"name\":\"n\"},\"products\":[{}]}",
                 ref);
        struct call c = {.token = TOKEN, .key = KEY_A, .body = body, .easy = e};
        http(w->port, &c, &r);
        if (r.rc == CURLE_OK && r.status == 201)
            w->n201++;
        else if (r.rc == CURLE_OK && r.status == 422)
            w->n422++;
        else
            w->other++;
    }
    curl_easy_cleanup(e);
    return NULL;
}

static void test_concurrent_dedupe(void **state)
{
    (void)state;
    struct ob_sim_options o = {.threads = 4};
    struct ob_sim *sim = start(&o);
    struct ob_sim_stats st;
    pthread_t th[CONC_THREADS];
    struct worker w[CONC_THREADS];
    int n201 = 0, n422 = 0, other = 0;

    for (int i = 0; i < CONC_THREADS; i++) {
        w[i] = (struct worker){.port = ob_sim_port(sim), .offset = i * 7};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join(th[i], NULL);
        n201 += w[i].n201;
        n422 += w[i].n422;
        other += w[i].other;
    }
    assert_int_equal(other, 0);
    assert_int_equal(n201, CONC_REFS);
    assert_int_equal(n422, CONC_THREADS * CONC_REFS * CONC_ROUNDS - CONC_REFS);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, CONC_REFS);
    for (int i = 0; i < CONC_REFS; i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "CC-%d", i);
        assert_int_equal(ob_sim_created(sim, ref), 1);
    }
    ob_sim_stop(sim);
}

static void test_start_errors(void **state)
{
    (void)state;
    char err[256] = "";
    struct ob_sim_options o = {.token = TOKEN};
    struct ob_sim *sim = start(&o);

    struct ob_sim_options same = {.token = TOKEN, .port = ob_sim_port(sim)};
    assert_null(ob_sim_start(&same, err, sizeof(err)));
    assert_true(err[0] != '\0');

    struct ob_sim_options rate = {.token = TOKEN, .fail_5xx_rate = 1.5};
    err[0] = '\0';
    assert_null(ob_sim_start(&rate, err, sizeof(err)));
    assert_true(err[0] != '\0');

    struct ob_sim_options addr = {.token = TOKEN, .bind_addr = "not-an-ip"};
    err[0] = '\0';
    assert_null(ob_sim_start(&addr, err, sizeof(err)));
    assert_true(err[0] != '\0');

    ob_sim_stop(sim);
    ob_sim_stop(NULL);
}

/* ---- the profile API ----------------------------------------------------- */

static void test_profile_lookup(void **state)
{
    (void)state;
    char err[256] = "";
    struct reply r;

    struct ob_sim_options bad = {.token = TOKEN, .profile = "no_such_profile"};
    assert_null(ob_sim_start(&bad, err, sizeof(err)));
    if (strncmp(err, "unknown simulator profile no_such_profile", 41) != 0)
        fail_msg("errstr: %s", err);
    assert_non_null(strstr(err, "rest")); /* the available ones are listed */

    /* naming "rest" is the same as leaving it out */
    struct ob_sim_options rest = {.profile = "rest"};
    struct ob_sim *sim = start(&rest);
    assert_int_equal(post_order(ob_sim_port(sim), "PR-1", KEY_A, &r), 201);
    struct call c = {.method = "GET", .path = "/stats"};
    http(ob_sim_port(sim), &c, &r);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "profile")), "rest");
    json_decref(j);
    ob_sim_stop(sim);

    /* the token given twice */
    const struct ob_sim_secret twice[] = {{"token", "x"}, {NULL, NULL}};
    struct ob_sim_options both = {.token = TOKEN, .secrets = twice};
    err[0] = '\0';
    assert_null(ob_sim_start(&both, err, sizeof(err)));
    assert_non_null(strstr(err, "token"));
}

static void test_remember_and_next_id(void **state)
{
    (void)state;
    struct ob_sim_options o = {.capacity = 4};
    struct ob_sim *sim = start(&o);
    struct reply r;
    char buf[16], small[4];

    assert_int_equal(ob_sim_remember(sim, "k1", "v1", buf, sizeof(buf)), 1);
    assert_int_equal(ob_sim_created(sim, "k1"), 1);
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(ob_sim_remember(sim, "k1", "other", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "v1"); /* the first value stays */
    assert_int_equal(ob_sim_remember(sim, "k1", "other", NULL, 0), 0);

    assert_int_equal(ob_sim_remember(sim, "k2", "longvalue", NULL, 0), 1);
    assert_int_equal(ob_sim_remember(sim, "k2", "x", small, sizeof(small)), 0);
    assert_string_equal(small, "lon"); /* truncated, NUL-terminated */
    assert_int_equal(ob_sim_remember(sim, "k3", NULL, NULL, 0), 1);
    assert_int_equal(ob_sim_remember(sim, "k3", "y", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "");
    assert_int_equal(ob_sim_remember(sim, NULL, "v", buf, sizeof(buf)), -1);
    assert_int_equal(ob_sim_remember(NULL, "k", "v", buf, sizeof(buf)), -1);

    assert_int_equal(ob_sim_next_id(sim), 1000001);
    assert_int_equal(ob_sim_next_id(sim), 1000002);

    /* the REST profile shares both: its id is the next one, and it stores
     * the Idempotency-Key under the reference_id */
    assert_int_equal(post_order(ob_sim_port(sim), "RM-1", KEY_A, &r), 201);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 1000003);
    json_decref(j);
    char key[65];
    assert_int_equal(ob_sim_remember(sim, "RM-1", KEY_B, key, sizeof(key)), 0);
    assert_string_equal(key, KEY_A);

    /* 4 keys stored: full */
    assert_int_equal(ob_sim_remember(sim, "k4", "v", buf, sizeof(buf)), -1);
    assert_int_equal(ob_sim_created(sim, "k4"), 0);
    assert_int_equal(post_order(ob_sim_port(sim), "RM-2", KEY_A, &r), 507);
    assert_int_equal(post_order(ob_sim_port(sim), "RM-1", KEY_A, &r), 422);
    assert_int_equal(ob_sim_next_id(sim), 1000004);
    assert_int_equal(ob_sim_next_id(NULL), 0);
    ob_sim_stop(sim);
}

#define ID_THREADS 4
#define IDS_EACH 5000
#define SHARED_KEYS 1000

struct id_worker {
    struct ob_sim *sim;
    unsigned long ids[IDS_EACH];
    int fresh, dup, full;
};

static void *id_worker_main(void *arg)
{
    struct id_worker *w = arg;
    char key[32];
    for (int i = 0; i < IDS_EACH; i++) {
        w->ids[i] = ob_sim_next_id(w->sim);
        snprintf(key, sizeof(key), "SK-%d", i % SHARED_KEYS);
        int rc = ob_sim_remember(w->sim, key, "v", NULL, 0);
        w->fresh += rc == 1;
        w->dup += rc == 0;
        w->full += rc < 0;
    }
    return NULL;
}

static int cmp_ulong(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return (x > y) - (x < y);
}

static void test_remember_and_next_id_concurrent(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    pthread_t th[ID_THREADS];
    struct id_worker *w = calloc(ID_THREADS, sizeof(*w));
    unsigned long *all = calloc(ID_THREADS * IDS_EACH, sizeof(*all));
    int fresh = 0, dup = 0, full = 0;
    assert_non_null(w);
    assert_non_null(all);

    for (int i = 0; i < ID_THREADS; i++) {
        w[i].sim = sim;
        assert_int_equal(pthread_create(&th[i], NULL, id_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < ID_THREADS; i++) {
        pthread_join(th[i], NULL);
        memcpy(all + i * IDS_EACH, w[i].ids, sizeof(w[i].ids));
        fresh += w[i].fresh;
        dup += w[i].dup;
        full += w[i].full;
    }
    /* every id handed out once, none skipped */
    qsort(all, ID_THREADS * IDS_EACH, sizeof(*all), cmp_ulong);
    for (int i = 0; i < ID_THREADS * IDS_EACH; i++)
        assert_int_equal(all[i], 1000001UL + (unsigned long)i);
    /* every key stored once */
    assert_int_equal(fresh, SHARED_KEYS);
    assert_int_equal(dup, ID_THREADS * IDS_EACH - SHARED_KEYS);
    assert_int_equal(full, 0);
    free(all);
    free(w);
    ob_sim_stop(sim);
}

static void test_secrets_and_counters(void **state)
{
    (void)state;
    char err[256] = "";
    char value[] = "abc";
    struct ob_sim_secret secrets[] = {{"check_word", value}, {"token", TOKEN}, {NULL, NULL}};
    struct ob_sim_options o = {.secrets = secrets};
    struct ob_sim *sim = ob_sim_start(&o, err, sizeof(err));
    struct ob_sim_stats st;
    struct reply r;
    if (sim == NULL)
        fail_msg("ob_sim_start: %s", err);

    value[0] = 'X'; /* copied at start */
    secrets[0].name = "changed";
    assert_string_equal(ob_sim_secret(sim, "check_word"), "abc");
    assert_string_equal(ob_sim_secret(sim, "token"), TOKEN);
    assert_null(ob_sim_secret(sim, "partner_id"));
    assert_null(ob_sim_secret(NULL, "token"));

    /* the "token" secret is the REST profile's bearer token */
    assert_int_equal(post_order(ob_sim_port(sim), "SC-1", KEY_A, &r), 201);
    struct call wrong = {.token = "nope", .key = KEY_A, .body = order_json("SC-2")};
    http(ob_sim_port(sim), &wrong, &r);
    assert_int_equal(r.status, 401);

    ob_sim_get_stats(sim, &st);
    struct ob_sim_stats before = st;
    ob_sim_count(sim, OB_SIM_CREATED);
    ob_sim_count(sim, OB_SIM_DUPLICATE);
    ob_sim_count(sim, OB_SIM_UNAUTHORIZED);
    ob_sim_count(sim, OB_SIM_BAD_SIGNATURE);
    ob_sim_count(sim, OB_SIM_BAD_SIGNATURE);
    ob_sim_count(sim, OB_SIM_BAD_REQUEST);
    ob_sim_count(sim, OB_SIM_KEY_MISMATCH);
    ob_sim_count(NULL, OB_SIM_CREATED);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, before.created + 1);
    assert_int_equal(st.duplicates, before.duplicates + 1);
    assert_int_equal(st.unauthorized, before.unauthorized + 1);
    assert_int_equal(st.bad_signatures, 2);
    assert_int_equal(st.bad_requests, before.bad_requests + 1);
    assert_int_equal(st.key_mismatches, before.key_mismatches + 1);
    assert_int_equal(st.requests, before.requests);

    struct call c = {.method = "GET", .path = "/stats"};
    http(ob_sim_port(sim), &c, &r);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "bad_signatures")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "created")), st.created);
    json_decref(j);
    ob_sim_stop(sim);
}

/* A query string does not change the route, and any body size up to the limit reaches the
 * profile intact (the core NUL-terminates it behind the profile's back). */
static void test_query_and_body_sizes(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    struct reply r;

    struct call q = {.path = "/orders?a=1&b=%20", .token = TOKEN, .key = KEY_A,
                     .body = order_json("Q-1")};
    http(ob_sim_port(sim), &q, &r);
    assert_int_equal(r.status, 201);

    /* a valid order padded with whitespace to sizes around the growth steps */
    static const size_t sizes[] = {4095, 4096, 4097, 8192, 65536, (1u << 20)};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "BS-%zu", i);
        const char *json = order_json(ref);
        size_t n = sizes[i], jl = strlen(json);
        char *body = malloc(n + 1);
        assert_non_null(body);
        memset(body, ' ', n);
        memcpy(body, json, jl);
        body[n] = '\0';
        struct call c = {.token = TOKEN, .key = KEY_A, .body = body, .body_len = n};
        http(ob_sim_port(sim), &c, &r);
        if (r.status != 201)
            fail_msg("body of %zu bytes: status %ld %s", n, r.status, r.body);
        free(body);
    }
    ob_sim_stop(sim);
}

/* ---- faults changed at run time, garbage answers --------------------------- */

static void test_set_faults(void **state)
{
    (void)state;
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start(&o);
    unsigned short port = ob_sim_port(sim);
    struct ob_sim_stats st;
    struct reply r;

    assert_int_equal(post_order(port, "SF-1", KEY_A, &r), 201);

    /* fall sick; fields other than the rates and slow_ms are ignored */
    struct ob_sim_options sick = {.fail_5xx_rate = 1.0, .token = "ignored", .capacity = 1};
    assert_int_equal(ob_sim_set_faults(sim, &sick), 0);
    assert_int_equal(post_order(port, "SF-2", KEY_A, &r), 503);
    assert_int_equal(post_order(port, "SF-2", KEY_A, &r), 503);

    /* a rate out of range changes nothing */
    struct ob_sim_options bad = {.fail_5xx_rate = 0.0, .garbage_rate = 1.5};
    assert_int_equal(ob_sim_set_faults(sim, &bad), -1);
    struct ob_sim_options not_a_number = {.slow_rate = NAN};
    assert_int_equal(ob_sim_set_faults(sim, &not_a_number), -1);
    assert_int_equal(ob_sim_set_faults(sim, NULL), -1);
    assert_int_equal(ob_sim_set_faults(NULL, &sick), -1);
    assert_int_equal(post_order(port, "SF-2", KEY_A, &r), 503);

    /* 429 instead, then slow, then well again */
    struct ob_sim_options busy = {.fail_429_rate = 1.0};
    assert_int_equal(ob_sim_set_faults(sim, &busy), 0);
    assert_int_equal(post_order(port, "SF-2", KEY_A, &r), 429);
    struct ob_sim_options slow = {.slow_rate = 1.0, .slow_ms = 150};
    assert_int_equal(ob_sim_set_faults(sim, &slow), 0);
    double t0 = now_ms();
    assert_int_equal(post_order(port, "SF-2", KEY_A, &r), 201);
    assert_true(now_ms() - t0 >= 140.0);
    struct ob_sim_options well = {0};
    assert_int_equal(ob_sim_set_faults(sim, &well), 0);
    t0 = now_ms();
    assert_int_equal(post_order(port, "SF-3", KEY_A, &r), 201);
    assert_true(now_ms() - t0 < 140.0);
    struct ob_sim_options reset = {.reset_rate = 1.0};
    assert_int_equal(ob_sim_set_faults(sim, &reset), 0);
    struct call c = {.token = TOKEN, .key = KEY_A, .body = order_json("SF-4")};
    http(port, &c, &r);
    assert_int_not_equal(r.rc, CURLE_OK);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_5xx, 3);
    assert_int_equal(st.injected_429, 1);
    assert_int_equal(st.slow_answers, 1);
    assert_int_equal(st.injected_resets, 1);
    assert_int_equal(st.created, 3);
    assert_int_equal(ob_sim_created(sim, "SF-4"), 0);
    ob_sim_stop(sim);
}

static int is_garbage(const struct reply *r)
{
    return r->status == 200 &&
           (strstr(r->body, "502 Bad Gateway") != NULL || strcmp(r->body, "{\"id\":10000") == 0 ||
            r->len == 0 || strcmp(r->body, "OK") == 0);
}

static void garbage_run(unsigned long seed, long statuses[40], int created[40])
{
    struct ob_sim_options o = {.garbage_rate = 0.5, .seed = seed};
    struct ob_sim *sim = start(&o);
    struct reply r;
    char ref[32];

    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "G-%d", i);
        statuses[i] = post_order(ob_sim_port(sim), ref, KEY_A, &r);
        if (statuses[i] == 200)
            assert_true(is_garbage(&r));
        else
            assert_int_equal(statuses[i], 201);
        created[i] = ob_sim_created(sim, ref);
    }
    ob_sim_stop(sim);
}

static void test_garbage(void **state)
{
    (void)state;
    struct ob_sim_options o = {.garbage_rate = 1.0, .seed = 3};
    struct ob_sim *sim = start(&o);
    unsigned short port = ob_sim_port(sim);
    struct ob_sim_stats st;
    struct reply r;
    char ref[32];
    int kinds[4] = {0}, created = 0;

    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "GA-%d", i);
        assert_int_equal(post_order(port, ref, KEY_A, &r), 200);
        assert_true(is_garbage(&r));
        kinds[strstr(r.body, "Bad Gateway") ? 0 : r.len == 0 ? 1 : r.body[0] == '{' ? 2 : 3]++;
        created += ob_sim_created(sim, ref);
    }
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_garbage, 40);
    assert_int_equal(st.requests, 40);
    /* about half processed first: those orders exist */
    assert_int_equal(st.garbage_after_create, (unsigned long)created);
    assert_int_equal(st.created, (unsigned long)created);
    assert_true(created > 5 && created < 35);
    for (int k = 0; k < 4; k++)
        assert_true(kinds[k] > 0); /* every body shows up */

    /* a retry after a garbage answer is deduplicated like any other */
    struct ob_sim_options well = {0};
    ob_sim_set_faults(sim, &well);
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "GA-%d", i);
        int had = ob_sim_created(sim, ref);
        assert_int_equal(post_order(port, ref, KEY_A, &r), had ? 422 : 201);
    }
    /* 401 and 404 come before fault injection: never garbage */
    struct ob_sim_options bad = {.garbage_rate = 1.0};
    ob_sim_set_faults(sim, &bad);
    struct call c = {.token = "nope", .key = KEY_A, .body = order_json("GA-X")};
    http(port, &c, &r);
    assert_int_equal(r.status, 401);
    struct call nf = {.path = "/nowhere", .token = TOKEN, .key = KEY_A, .body = "{}"};
    http(port, &nf, &r);
    assert_int_equal(r.status, 404);
    ob_sim_stop(sim);

    /* the same seed, the same answers */
    long a[40], b[40];
    int ca[40], cb[40];
    garbage_run(11, a, ca);
    garbage_run(11, b, cb);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_equal(ca, cb, sizeof(ca));
}

/* ---- status reports: a receiver standing in for the bridge ---------------- */

#define WEBHOOK_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define QM_SECRET "qm-secret-0123"
#define QM_APP_KEY "qm-app-key"
#define QM_CUSTOMER "c-test-01"
#define SF_TOKEN "sf-cb-token-0123456789"
#define RX_MAX 4096

enum rx_mode { RX_REST, RX_QIMEN, RX_SF };

/* One report the receiver got (one per route for SF). */
struct rx_event {
    int req;       /* request number, from 0 */
    int batch;     /* reports in that request */
    int valid;     /* signature or token right */
    int answered_ok;
    long long arrived_ms; /* epoch */
    char ref[64], code[32], id[80], fp[65], method[64], wh_id[32], extra[64], tracking[64],
        carrier[16], ts[32];
    int has_reason, has_tracking;
    long long occurred_ms;
};

struct rx {
    struct MHD_Daemon *daemon;
    unsigned short port;
    enum rx_mode mode;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rx_event ev[RX_MAX];
    int n, requests;
    int fail_first;    /* answer the first N well-signed requests with a failure */
    int accept_forged; /* answer badly signed ones with success too (a buggy bridge) */
    int hold_first, holding, released;
};

struct rx_body {
    char *data;
    size_t len;
};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static long long epoch_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "yyyy-MM-dd HH:mm:ss[.SSS]" (T or space), at UTC + offset_h, to epoch ms; -1 if not. */
static long long parse_time(const char *s, int offset_h)
{
    int y, mo, d, h, mi, sec, ms = 0, n = 0;
    char sep;
    if (sscanf(s, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &sec, &n) != 7)
        return -1;
    if (s[n] == '.')
        sscanf(s + n + 1, "%3d", &ms);
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    return ((long long)timegm(&tm) - offset_h * 3600LL) * 1000 + ms;
}

static void fingerprint(const char *a, const char *b, size_t blen, char out[65])
{
    size_t la = strlen(a);
    char *all = malloc(la + blen + 1);
    assert_non_null(all);
    memcpy(all, a, la);
    memcpy(all + la, b, blen);
    assert_int_equal(ob_sha256_hex(all, la + blen, out), 0);
    free(all);
}

struct kv {
    char k[64], v[256];
};
struct kvs {
    struct kv item[32];
    int n;
};

static enum MHD_Result take_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    struct kvs *p = cls;
    (void)kind;
    if (p->n < 32) {
        snprintf(p->item[p->n].k, sizeof(p->item[0].k), "%s", key);
        snprintf(p->item[p->n].v, sizeof(p->item[0].v), "%s", value ? value : "");
        p->n++;
    }
    return MHD_YES;
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct kv *)a)->k, ((const struct kv *)b)->k);
}

static const char *kv_get(const struct kvs *p, const char *k)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->item[i].k, k) == 0)
            return p->item[i].v;
    return NULL;
}

/* The Qimen sign, written here from the documented recipe. */
static void qimen_sign(const char *secret, struct kvs *p, const char *body, size_t len,
                       char out[33])
{
    struct kvs sorted = *p;
    char buf[8192];
    size_t n = 0;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    qsort(sorted.item, (size_t)sorted.n, sizeof(sorted.item[0]), kv_cmp);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", secret);
    for (int i = 0; i < sorted.n; i++)
        if (strcmp(sorted.item[i].k, "sign") != 0)
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", sorted.item[i].k,
                                  sorted.item[i].v);
    assert_true(n + len + strlen(secret) < sizeof(buf));
    memcpy(buf + n, body, len);
    n += len;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s", secret);
    assert_int_equal(EVP_Digest(buf, n, md, &mdlen, EVP_md5(), NULL), 1);
    for (unsigned i = 0; i < mdlen; i++)
        sprintf(out + 2 * i, "%02X", md[i]);
}

static xmlNode *xml_find(xmlNode *n, const char *name)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0)
            return n;
        xmlNode *c = xml_find(n->children, name);
        if (c)
            return c;
    }
    return NULL;
}

static void xml_text(xmlDoc *doc, const char *name, char *out, size_t size)
{
    xmlNode *n = xml_find(xmlDocGetRootElement(doc), name);
    xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
    snprintf(out, size, "%s", t ? (const char *)t : "");
    xmlFree(t);
}

/* Verify and parse one request into events (lock held); returns the count added. */
static int rx_parse(struct rx *rx, struct MHD_Connection *c, const char *url, const char *body,
                    size_t len, int *valid)
{
    struct rx_event e = {.req = rx->requests, .arrived_ms = epoch_ms(), .occurred_ms = -1};
    int added = 0;

    if (rx->mode == RX_REST) {
        const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-id");
        const char *ts = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-timestamp");
        const char *sig = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "webhook-signature");
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        char want[64], head[512];
        *valid = id && ts && sig && ct && strcmp(ct, "application/json") == 0 &&
                 ob_sim_webhook_sign(WEBHOOK_SECRET, id, ts, body, len, want, sizeof(want)) == 0 &&
                 strcmp(want, sig) == 0 && llabs(atoll(ts) * 1000 - epoch_ms()) < 300000;
        snprintf(head, sizeof(head), "%s|%s|%s|%s|", url, id ? id : "", ts ? ts : "",
                 sig ? sig : "");
        fingerprint(head, body, len, e.fp);
        snprintf(e.id, sizeof(e.id), "%s", id ? id : "");
        snprintf(e.ts, sizeof(e.ts), "%s", ts ? ts : "");
        json_t *j = json_loadb(body, len, 0, NULL), *data = json_object_get(j, "data");
        json_t *tr = json_object_get(data, "tracking");
        snprintf(e.code, sizeof(e.code), "%s", or_empty(json_string_value(json_object_get(j, "type"))));
        snprintf(e.ref, sizeof(e.ref), "%s",
                 or_empty(json_string_value(json_object_get(data, "reference_id"))));
        snprintf(e.wh_id, sizeof(e.wh_id), "%lld",
                 (long long)json_integer_value(json_object_get(data, "id")));
        const char *when = json_string_value(json_object_get(j, "timestamp"));
        if (when && strlen(when) == 24 && when[10] == 'T' && when[23] == 'Z')
            e.occurred_ms = parse_time(when, 0);
        e.has_tracking = tr != NULL;
        snprintf(e.carrier, sizeof(e.carrier), "%s",
                 or_empty(json_string_value(json_object_get(tr, "carrier"))));
        snprintf(e.tracking, sizeof(e.tracking), "%s",
                 or_empty(json_string_value(json_object_get(tr, "tracking_number"))));
        e.has_reason = json_is_string(json_object_get(data, "reason"));
        json_decref(j);
        e.batch = 1;
        rx->ev[rx->n++] = e;
        added = 1;
    } else if (rx->mode == RX_QIMEN) {
        struct kvs args = {.n = 0};
        char want[33] = "", all[2048] = "";
        MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, take_arg, &args);
        const char *sign = kv_get(&args, "sign"), *ct;
        qimen_sign(QM_SECRET, &args, body, len, want);
        ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        *valid = sign && strcmp(sign, want) == 0 && ct && strncmp(ct, "text/xml", 8) == 0 &&
                 kv_get(&args, "app_key") && strcmp(kv_get(&args, "app_key"), QM_APP_KEY) == 0 &&
                 kv_get(&args, "customerId") &&
                 strcmp(kv_get(&args, "customerId"), QM_CUSTOMER) == 0 &&
                 kv_get(&args, "format") && strcmp(kv_get(&args, "format"), "xml") == 0 &&
                 kv_get(&args, "v") && strcmp(kv_get(&args, "v"), "2.0") == 0 &&
                 kv_get(&args, "sign_method") && strcmp(kv_get(&args, "sign_method"), "md5") == 0 &&
                 kv_get(&args, "timestamp") &&
                 llabs(parse_time(kv_get(&args, "timestamp"), 8) - epoch_ms()) < 300000;
        for (int i = 0; i < args.n; i++)
            snprintf(all + strlen(all), sizeof(all) - strlen(all), "%s=%s&", args.item[i].k,
                     args.item[i].v);
        fingerprint(all, body, len, e.fp);
        snprintf(e.method, sizeof(e.method), "%s", or_empty(kv_get(&args, "method")));
        snprintf(e.ts, sizeof(e.ts), "%s", or_empty(kv_get(&args, "timestamp")));
        xmlDoc *doc = xmlReadMemory(body, (int)len, NULL, "UTF-8", XML_PARSE_NONET);
        char when[64];
        if (doc && strcmp(e.method, "taobao.qimen.deliveryorder.confirm") == 0) {
            xml_text(doc, "deliveryOrderCode", e.ref, sizeof(e.ref));
            xml_text(doc, "status", e.code, sizeof(e.code));
            xml_text(doc, "deliveryOrderId", e.wh_id, sizeof(e.wh_id));
            xml_text(doc, "warehouseCode", e.extra, sizeof(e.extra));
            xml_text(doc, "expressCode", e.tracking, sizeof(e.tracking));
            xml_text(doc, "logisticsCode", e.carrier, sizeof(e.carrier));
            xml_text(doc, "orderConfirmTime", when, sizeof(when));
            e.occurred_ms = parse_time(when, 8);
        } else if (doc) {
            char remark[256];
            xml_text(doc, "orderCode", e.ref, sizeof(e.ref));
            xml_text(doc, "processStatus", e.code, sizeof(e.code));
            xml_text(doc, "orderId", e.wh_id, sizeof(e.wh_id));
            xml_text(doc, "warehouseCode", e.extra, sizeof(e.extra));
            xml_text(doc, "operateTime", when, sizeof(when));
            xml_text(doc, "remark", remark, sizeof(remark));
            e.has_reason = remark[0] != '\0';
            e.occurred_ms = parse_time(when, 8);
        }
        xmlFreeDoc(doc);
        e.batch = 1;
        rx->ev[rx->n++] = e;
        added = 1;
    } else {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        size_t ul = strlen(url), tl = strlen(SF_TOKEN);
        *valid = ul > tl && url[ul - tl - 1] == '/' && strcmp(url + ul - tl, SF_TOKEN) == 0 &&
                 ct && strcmp(ct, "application/json") == 0;
        fingerprint(url, body, len, e.fp);
        json_t *j = json_loadb(body, len, 0, NULL), *route;
        json_t *routes = json_object_get(json_object_get(j, "Body"), "WaybillRoute");
        size_t i;
        e.batch = (int)json_array_size(routes);
        json_array_foreach(routes, i, route) {
            if (rx->n >= RX_MAX)
                break;
            struct rx_event r = e;
            snprintf(r.ref, sizeof(r.ref), "%s",
                     or_empty(json_string_value(json_object_get(route, "orderid"))));
            snprintf(r.code, sizeof(r.code), "%s",
                     or_empty(json_string_value(json_object_get(route, "opCode"))));
            snprintf(r.wh_id, sizeof(r.wh_id), "%s",
                     or_empty(json_string_value(json_object_get(route, "mailno"))));
            const char *when = json_string_value(json_object_get(route, "acceptTime"));
            r.occurred_ms = when ? parse_time(when, 8) : -1;
            r.has_reason = json_is_string(json_object_get(route, "remark")) &&
                           strcmp(or_empty(json_string_value(
                                      json_object_get(route, "acceptAddress"))),
                                  "Shenzhen") == 0;
            rx->ev[rx->n++] = r;
            added++;
        }
        json_decref(j);
    }
    return added;
}

static void rx_answer(const struct rx *rx, int ok, int *status, const char **body)
{
    switch (rx->mode) {
    case RX_REST:
        *status = ok ? 200 : 503;
        *body = ok ? "{}" : "{\"error\":\"try later\"}";
        break;
    case RX_QIMEN:
        *status = 200;
        *body = ok ? "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>success</flag>"
                     "<code>0</code><message>ok</message></response>"
                   : "<response><flag>failure</flag><code>isp.busy</code><message>busy"
                     "</message></response>";
        break;
    case RX_SF:
        *status = 200;
        *body = ok ? "{\"return_code\":\"0000\",\"return_msg\":\"成功\"}"
                   : "{\"return_code\":\"1000\",\"return_msg\":\"系统异常\"}";
        break;
    }
}

static enum MHD_Result rx_handle(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls)
{
    struct rx *rx = cls;
    struct rx_body *b = *con_cls;
    (void)version;

    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *con_cls = b;
        return b ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        char *p = realloc(b->data, b->len + *upload_size + 1);
        if (p == NULL)
            return MHD_NO;
        b->data = p;
        memcpy(b->data + b->len, upload, *upload_size);
        b->len += *upload_size;
        b->data[b->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    int valid = 0, status = 500, ok;
    const char *answer = "";
    pthread_mutex_lock(&rx->mu);
    int first = rx->requests == 0;
    int added = strcmp(method, "POST") == 0
                    ? rx_parse(rx, c, url, b->data ? b->data : "", b->len, &valid)
                    : 0;
    ok = rx->accept_forged || valid;
    if (ok && valid && rx->fail_first > 0) {
        rx->fail_first--;
        ok = 0;
    }
    for (int i = rx->n - added; i < rx->n; i++) {
        rx->ev[i].valid = valid;
        rx->ev[i].answered_ok = ok;
    }
    rx->requests++;
    pthread_cond_broadcast(&rx->cv);
    if (first && rx->hold_first) {
        rx->holding = 1;
        pthread_cond_broadcast(&rx->cv);
        while (!rx->released)
            pthread_cond_wait(&rx->cv, &rx->mu);
    }
    pthread_mutex_unlock(&rx->mu);

    if (rx->mode == RX_REST && !valid && !ok) {
        status = 401;
        answer = "{\"error\":\"bad signature\"}";
    } else {
        rx_answer(rx, ok, &status, &answer);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(answer), (void *)answer, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type",
                            rx->mode == RX_QIMEN ? "text/xml;charset=utf-8" : "application/json");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void rx_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    struct rx_body *b = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (b) {
        free(b->data);
        free(b);
    }
    *con_cls = NULL;
}

static struct rx *rx_start(enum rx_mode mode)
{
    struct rx *rx = calloc(1, sizeof(*rx));
    struct sockaddr_in sin = {.sin_family = AF_INET};
    assert_non_null(rx);
    rx->mode = mode;
    pthread_mutex_init(&rx->mu, NULL);
    pthread_cond_init(&rx->cv, NULL);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* a thread per connection: a held answer blocks only its own */
    rx->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                  0, NULL, NULL, rx_handle, rx, MHD_OPTION_SOCK_ADDR, &sin,
                                  MHD_OPTION_NOTIFY_COMPLETED, rx_done, rx, MHD_OPTION_END);
    assert_non_null(rx->daemon);
    rx->port = MHD_get_daemon_info(rx->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return rx;
}

static void rx_stop(struct rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    rx->released = 1;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
    MHD_stop_daemon(rx->daemon);
    pthread_cond_destroy(&rx->cv);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

/* Wait (condition variable, bounded) until the receiver has had n requests. */
static void rx_wait_requests(struct rx *rx, int n)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&rx->mu);
    while (rx->requests < n && pthread_cond_timedwait(&rx->cv, &rx->mu, &until) == 0)
        ;
    int got = rx->requests;
    pthread_mutex_unlock(&rx->mu);
    if (got < n)
        fail_msg("the receiver got %d requests, wanted %d", got, n);
}

static char *rx_url(const struct rx *rx, const char *path)
{
    static char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", rx->port, path);
    return url;
}

/* ob_sim_reports() into a list */
struct seen {
    char ref[64], code[32], kind[16], url[96];
    int ok, http;
    long long occurred;
};
struct seen_list {
    struct seen v[RX_MAX];
    int n;
};

static void collect(const struct ob_sim_report *r, void *arg)
{
    struct seen_list *l = arg;
    if (l->n >= RX_MAX)
        return;
    struct seen *s = &l->v[l->n++];
    snprintf(s->ref, sizeof(s->ref), "%s", r->order_ref);
    snprintf(s->code, sizeof(s->code), "%s", r->code);
    snprintf(s->kind, sizeof(s->kind), "%s", r->kind);
    snprintf(s->url, sizeof(s->url), "%s", or_empty(r->url));
    s->ok = r->answered_ok;
    s->http = r->http_status;
    s->occurred = r->occurred_ms;
}

static struct seen_list *reports_of(struct ob_sim *sim)
{
    struct seen_list *l = calloc(1, sizeof(*l));
    assert_non_null(l);
    ob_sim_reports(sim, collect, l);
    return l;
}

/* "code code code" of one order: its reports of `kind` (NULL: all, as kind:code) answered
 * with success (or all, when only_ok is 0) */
static void codes_of(const struct seen_list *l, const char *ref, const char *kind, int only_ok,
                     char *out, size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < l->n; i++) {
        const struct seen *s = &l->v[i];
        if (strcmp(s->ref, ref) != 0 || (kind && strcmp(s->kind, kind) != 0) ||
            (only_ok && !s->ok))
            continue;
        size_t n = strlen(out);
        if (kind)
            snprintf(out + n, size - n, "%s%s", n ? " " : "", s->code);
        else
            snprintf(out + n, size - n, "%s%s:%s%s", n ? " " : "", s->kind, s->code,
                     s->ok ? "" : "!");
    }
}

static void expected_ladder(const char *const *steps, size_t n, size_t exc_after, const char *exc,
                            size_t swap_at, int exception, int swapped, char *out, size_t size,
                            const char *cancel, int cancelled)
{
    const char *seq[16];
    size_t k = 0, a = 0, b = 0;
    if (cancel && cancelled) { /* the first step, then the cancellation, the end */
        snprintf(out, size, "%s %s", steps[0], cancel);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (i == swap_at)
            a = k;
        if (i == swap_at + 1)
            b = k;
        seq[k++] = steps[i];
        if (exception && i == exc_after)
            seq[k++] = exc;
    }
    if (swapped) {
        const char *t = seq[a];
        seq[a] = seq[b];
        seq[b] = t;
    }
    out[0] = '\0';
    for (size_t i = 0; i < k; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", seq[i]);
}

static const char *const REST_STEPS[] = {"order.allocated", "order.picked", "order.packed",
                                         "order.shipped", "order.delivered"};
static const char *const QM_STEPS[] = {"ACCEPT", "PRINT", "PICK", "CHECK", "PACKAGE", "DELIVERED"};
static const char *const SF_STEPS[] = {"50", "30", "44", "80"};

static void test_webhook_signature(void **state)
{
    (void)state;
    char sig[64];
    const char *body = "{\"test\": 2432232314}";

    /* the Standard Webhooks specification's example */
    assert_int_equal(ob_sim_webhook_sign(WEBHOOK_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                         "1614265330", body, strlen(body), sig, sizeof(sig)),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* the prefix is optional */
    assert_int_equal(ob_sim_webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                                         "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body,
                                         strlen(body), sig, sizeof(sig)),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* another byte anywhere, another signature */
    assert_int_equal(ob_sim_webhook_sign(WEBHOOK_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                         "1614265331", body, strlen(body), sig, sizeof(sig)),
                     0);
    assert_string_not_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    assert_int_equal(ob_sim_webhook_sign("whsec_not base64!", "i", "1", "b", 1, sig, sizeof(sig)),
                     -1);
    assert_int_equal(ob_sim_webhook_sign(WEBHOOK_SECRET, "i", "1", "b", 1, sig, 20), -1);

    /* 1 order in 20 gets an exception, whatever the seed */
    int exceptions = 0;
    char ref[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(ref, sizeof(ref), "SO-%d", i);
        exceptions += ob_sim_status_exception(ref);
    }
    assert_true(exceptions > 800 && exceptions < 1200);
    assert_int_equal(ob_sim_status_exception(NULL), 0);
}

static struct ob_sim *start_cb(struct ob_sim_options *o, const char *profile, const char *url)
{
    static const struct ob_sim_secret rest[] = {{"token", TOKEN},
                                                {"webhook_secret", WEBHOOK_SECRET},
                                                {NULL, NULL}};
    static const struct ob_sim_secret qimen[] = {{"secret", QM_SECRET},
                                                 {"app_key", QM_APP_KEY},
                                                 {"customer_id", QM_CUSTOMER},
                                                 {NULL, NULL}};
    static const struct ob_sim_secret sf[] = {{"partner_id", "partner"},
                                              {"check_word", "check-word-01"},
                                              {NULL, NULL}};
    char err[256] = "";
    o->profile = profile;
    o->secrets = strcmp(profile, "rest") == 0 ? rest : strcmp(profile, "qimen") == 0 ? qimen : sf;
    o->callback_url = url;
    if (o->status_step_ms == 0)
        o->status_step_ms = 5;
    struct ob_sim *sim = ob_sim_start(o, err, sizeof(err));
    if (sim == NULL)
        fail_msg("ob_sim_start: %s", err);
    return sim;
}

static void test_cb_rest_ladder(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_REST);
    struct ob_sim_options o = {.seed = 1};
    struct ob_sim *sim = start_cb(&o, "rest", rx_url(rx, "/callbacks/REST-1"));
    struct ob_sim_stats st;
    struct reply r;
    char ref[32], ids[60][16], want[512], got[512];
    int exceptions = 0, cancellations = 0;

    for (int i = 0; i < 60; i++) {
        snprintf(ref, sizeof(ref), "CB-%d", i);
        assert_int_equal(post_order(ob_sim_port(sim), ref, KEY_A, &r), 201);
        json_t *j = json_loads(r.body, 0, NULL);
        snprintf(ids[i], sizeof(ids[i]), "%lld",
                 (long long)json_integer_value(json_object_get(j, "id")));
        json_decref(j);
        exceptions += ob_sim_status_exception(ref);
        cancellations += ob_sim_status_cancelled(ref);
    }
    assert_true(exceptions > 0 && cancellations > 0); /* CB-0..59 hold some of each */
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    assert_int_equal(ob_sim_reports_done(sim), 1);

    struct seen_list *l = reports_of(sim);
    pthread_mutex_lock(&rx->mu);
    for (int i = 0; i < 60; i++) {
        snprintf(ref, sizeof(ref), "CB-%d", i);
        int exc = ob_sim_status_exception(ref);
        expected_ladder(REST_STEPS, 5, 1, "order.exception", 2, exc, 0, want, sizeof(want),
                        "order.cancelled", ob_sim_status_cancelled(ref));
        codes_of(l, ref, "report", 1, got, sizeof(got));
        assert_string_equal(got, want);
        /* the receiver saw the same, well signed, each status one step after the other */
        long long prev = -1;
        int n = 0;
        got[0] = '\0';
        for (int k = 0; k < rx->n; k++) {
            struct rx_event *e = &rx->ev[k];
            if (strcmp(e->ref, ref) != 0)
                continue;
            assert_true(e->valid);
            assert_string_equal(e->wh_id, ids[i]);
            assert_true(strncmp(e->id, "msg_", 4) == 0);
            assert_true(e->occurred_ms > 0 && e->arrived_ms >= e->occurred_ms); /* not early */
            if (prev >= 0)
                assert_int_equal(e->occurred_ms - prev, 5);
            prev = e->occurred_ms;
            int shipped = strcmp(e->code, "order.shipped") == 0 ||
                          strcmp(e->code, "order.delivered") == 0;
            assert_int_equal(e->has_tracking, shipped);
            if (shipped) {
                assert_string_equal(e->carrier, "UPS");
                assert_int_equal(strlen(e->tracking), 18);
                assert_true(strncmp(e->tracking, "1Z", 2) == 0);
            }
            assert_int_equal(e->has_reason, strcmp(e->code, "order.exception") == 0);
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", n++ ? " " : "",
                     e->code);
        }
        assert_string_equal(got, want);
    }
    /* webhook ids: one per delivery */
    for (int a = 0; a < rx->n; a++)
        for (int b = a + 1; b < rx->n; b++)
            assert_string_not_equal(rx->ev[a].id, rx->ev[b].id);
    int events = rx->n;
    pthread_mutex_unlock(&rx->mu);
    /* occurred_ms as reported = what the callback said */
    for (int i = 0; i < l->n; i++)
        assert_true(l->v[i].ok && strcmp(l->v[i].kind, "report") == 0 && l->v[i].http == 200);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.cb_sent, (unsigned long)events);
    assert_int_equal(st.cb_ok, (unsigned long)events);
    assert_int_equal(st.cb_refused, 0);
    assert_int_equal(st.cb_errors, 0);
    assert_int_equal(st.cb_forged_accepted, 0);
    assert_int_equal(st.cb_pending, 0);
    assert_int_equal(events, 60 * 5 + exceptions - 3 * cancellations); /* 2 steps, not 5 */
    struct call c = {.method = "GET", .path = "/stats"};
    http(ob_sim_port(sim), &c, &r);
    json_t *j = json_loads(r.body, 0, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "cb_sent")), events);
    assert_int_equal(json_integer_value(json_object_get(j, "cb_ok")), events);
    const char *names[] = {"cb_refused", "cb_errors", "cb_forged_accepted", "cb_pending"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        assert_int_equal(json_integer_value(json_object_get(j, names[i])), 0);
    json_decref(j);
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* A failure answer is retried with a back-off, under the same webhook-id. */
static void test_cb_retry(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_REST);
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start_cb(&o, "rest", rx_url(rx, "/cb"));
    struct ob_sim_stats st;
    char got[512];

    rx->fail_first = 3;
    ob_sim_order_created(sim, "RT-1", "1000001", NULL);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    codes_of(l, "RT-1", NULL, 0, got, sizeof(got));
    assert_string_equal(got, "report:order.allocated! report:order.allocated! "
                             "report:order.allocated! report:order.allocated report:order.picked "
                             "report:order.packed report:order.shipped report:order.delivered");
    assert_int_equal(l->v[0].http, 503);
    pthread_mutex_lock(&rx->mu);
    assert_int_equal(rx->n, 8);
    for (int i = 1; i < 4; i++) {
        assert_string_equal(rx->ev[i].id, rx->ev[0].id); /* a retry, not a new delivery */
        long long gap = rx->ev[i].arrived_ms - rx->ev[i - 1].arrived_ms;
        assert_true(gap >= (25LL << i) - 5); /* 50, 100, 200 ms */
    }
    pthread_mutex_unlock(&rx->mu);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.cb_sent, 8);
    assert_int_equal(st.cb_refused, 3);
    assert_int_equal(st.cb_ok, 5);
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* What ob_sim_options.on_request and .on_callback are told (`orderbridge sim` logs it). */
struct observed {
    pthread_mutex_t mu;
    size_t n, n_cb;
    char line[16][160];
    char cb[16][64];
};

static void observe_request(void *arg, const struct ob_sim_request_event *ev)
{
    struct observed *o = arg;
    pthread_mutex_lock(&o->mu);
    if (o->n < 16)
        snprintf(o->line[o->n++], sizeof(o->line[0]), "%s %s %d %s %s %x %d", ev->method,
                 ev->path, ev->status, ev->fault ? ev->fault : "-",
                 ev->order_ref[0] ? ev->order_ref : "-", ev->counted, ev->looked_up);
    pthread_mutex_unlock(&o->mu);
}

static void observe_callback(void *arg, const struct ob_sim_report *r)
{
    struct observed *o = arg;
    pthread_mutex_lock(&o->mu);
    if (o->n_cb < 16)
        snprintf(o->cb[o->n_cb++], sizeof(o->cb[0]), "%s %s %s %d %d", r->order_ref, r->code,
                 r->kind, r->answered_ok, r->http_status);
    pthread_mutex_unlock(&o->mu);
}

static void test_observers(void **state)
{
    (void)state;
    struct observed seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct ob_sim_options o = {.on_request = observe_request, .observer_arg = &seen};
    struct ob_sim *sim = start(&o);
    unsigned short port = ob_sim_port(sim);
    struct ob_sim_options sick = {.fail_5xx_rate = 1.0}, well = {0};
    struct reply r;

    struct call wrong = {.token = "nope", .key = KEY_A, .body = order_json("OB-1")};
    http(port, &wrong, &r);
    assert_int_equal(post_order(port, "OB-1", KEY_A, &r), 201);
    assert_int_equal(post_order(port, "OB-1", KEY_B, &r), 422);
    struct call nope = {.method = "GET", .path = "/nope?token=" TOKEN, .token = TOKEN};
    http(port, &nope, &r);
    assert_int_equal(ob_sim_set_faults(sim, &sick), 0);
    assert_int_equal(post_order(port, "OB-2", KEY_A, &r), 503);
    assert_int_equal(ob_sim_set_faults(sim, &well), 0);
    ob_sim_stop(sim);

    /* counted: 1u << enum ob_sim_counter; the query string never shows */
    assert_int_equal(seen.n, 5);
    assert_string_equal(seen.line[0], "POST /orders 401 - - 4 0");
    assert_string_equal(seen.line[1], "POST /orders 201 - OB-1 1 0");
    assert_string_equal(seen.line[2], "POST /orders 422 - OB-1 22 0");
    assert_string_equal(seen.line[3], "GET /nope 404 - - 0 0");
    assert_string_equal(seen.line[4], "POST /orders 503 unavailable - 0 0");

    struct rx *rx = rx_start(RX_REST);
    struct ob_sim_options c = {.on_callback = observe_callback, .observer_arg = &seen};
    sim = start_cb(&c, "rest", rx_url(rx, "/cb"));
    rx->fail_first = 1;
    ob_sim_order_created(sim, "OB-3", "1000001", NULL);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    ob_sim_stop(sim);
    rx_stop(rx);
    assert_int_equal(seen.n_cb, 6);
    assert_string_equal(seen.cb[0], "OB-3 order.allocated report 0 503");
    assert_string_equal(seen.cb[1], "OB-3 order.allocated report 1 200");
    assert_string_equal(seen.cb[5], "OB-3 order.delivered report 1 200");
}

/* Every fault at once on rest: tamper, report, replay, duplicate for each status, and
 * shipped before packed. */
static void test_cb_rest_faults(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_REST);
    struct ob_sim_options o = {.cb_tamper_rate = 1, .cb_replay_rate = 1,
                               .cb_duplicate_rate = 1, .cb_reorder_rate = 1};
    struct ob_sim *sim = start_cb(&o, "rest", rx_url(rx, "/cb"));
    struct ob_sim_stats st;
    char want[1024], got[1024], ref[32];
    int n_orders = 0, n_tamper = 0;

    for (int i = 0; n_orders < 4; i++) { /* 3 plain orders and one with an exception */
        snprintf(ref, sizeof(ref), "FX-%d", i);
        if (ob_sim_status_exception(ref) != (n_orders == 3))
            continue;
        ob_sim_order_created(sim, ref, "1000001", NULL);
        n_orders++;
    }
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    for (int i = 0; i < l->n; i++)
        n_tamper += strcmp(l->v[i].kind, "tamper") == 0;
    pthread_mutex_lock(&rx->mu);
    for (int i = 0; i < l->n; i += 4) {
        /* per status: refused tamper, report, replay, duplicate */
        assert_string_equal(l->v[i].kind, "tamper");
        assert_false(l->v[i].ok);
        assert_int_equal(l->v[i].http, 401);
        assert_string_equal(l->v[i + 1].kind, "report");
        assert_string_equal(l->v[i + 2].kind, "replay");
        assert_string_equal(l->v[i + 3].kind, "duplicate");
        for (int k = 1; k < 4; k++) {
            assert_true(l->v[i + k].ok);
            assert_string_equal(l->v[i + k].code, l->v[i].code);
            assert_true(l->v[i + k].occurred == l->v[i].occurred);
        }
    }
    /* the receiver's side: the same four deliveries in a row per status, per order */
    for (int i = 0; i < l->n; i += 4) {
        int at[4], k = 0, skip = 0;
        for (int j = 0; j < i; j++)
            skip += strcmp(l->v[j].ref, l->v[i].ref) == 0;
        for (int j = 0; j < rx->n && k < 4; j++)
            if (strcmp(rx->ev[j].ref, l->v[i].ref) == 0 && skip-- <= 0)
                at[k++] = j;
        assert_int_equal(k, 4);
        const struct rx_event *t = &rx->ev[at[0]], *rep = &rx->ev[at[1]], *rpl = &rx->ev[at[2]],
                              *dup = &rx->ev[at[3]];
        assert_false(t->valid);
        assert_true(rep->valid && rpl->valid && dup->valid);
        assert_string_equal(rpl->fp, rep->fp); /* byte for byte */
        assert_string_equal(rpl->id, rep->id);
        assert_string_not_equal(dup->id, rep->id);
        assert_string_equal(t->id, rep->id); /* a copy, but for the signature */
        assert_string_not_equal(t->fp, rep->fp);
        assert_string_equal(dup->code, rep->code);
        assert_true(dup->occurred_ms == rep->occurred_ms);
    }
    pthread_mutex_unlock(&rx->mu);
    for (int i = 0; n_orders > 0 && i < 64; i++) {
        snprintf(ref, sizeof(ref), "FX-%d", i);
        codes_of(l, ref, "report", 1, got, sizeof(got));
        if (got[0] == '\0')
            continue;
        int exc = ob_sim_status_exception(ref);
        expected_ladder(REST_STEPS, 5, 1, "order.exception", 2, exc, 1, want, sizeof(want),
                        "order.cancelled", ob_sim_status_cancelled(ref));
        assert_string_equal(got, want);
        if (ob_sim_status_cancelled(ref))
            continue; /* nothing was swapped */
        /* swapped in sending, not in time: shipped says it happened after packed */
        long long packed = 0, shipped = 0;
        for (int k = 0; k < l->n; k++) {
            if (strcmp(l->v[k].ref, ref) != 0)
                continue;
            if (strcmp(l->v[k].code, "order.packed") == 0)
                packed = l->v[k].occurred;
            if (strcmp(l->v[k].code, "order.shipped") == 0)
                shipped = l->v[k].occurred;
        }
        assert_int_equal(shipped - packed, 5);
        n_orders--;
    }
    assert_int_equal(n_orders, 0);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.cb_forged_accepted, 0);
    assert_int_equal(st.cb_refused, (unsigned long)n_tamper);
    assert_int_equal(st.cb_sent, (unsigned long)l->n);
    free(l);
    ob_sim_stop(sim);

    /* a receiver that takes a bad signature: counted as forged and accepted */
    rx->accept_forged = 1;
    struct ob_sim_options t = {.cb_tamper_rate = 1};
    sim = start_cb(&t, "rest", rx_url(rx, "/cb"));
    ob_sim_order_created(sim, "FX-forged", "1000001", NULL);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    ob_sim_get_stats(sim, &st);
    int steps = 5 + ob_sim_status_exception("FX-forged");
    assert_int_equal(st.cb_forged_accepted, (unsigned long)steps);
    assert_int_equal(st.cb_sent, (unsigned long)steps * 2);
    ob_sim_stop(sim);
    rx_stop(rx);
}

static void kinds_by_ref(unsigned long seed, const char *profile, char out[40][256])
{
    struct rx *rx = rx_start(strcmp(profile, "rest") == 0 ? RX_REST : RX_SF);
    struct ob_sim_options o = {.seed = seed, .cb_tamper_rate = 0.3, .cb_replay_rate = 0.3,
                               .cb_duplicate_rate = 0.3, .cb_reorder_rate = 0.3};
    struct ob_sim *sim = start_cb(&o, profile, rx_url(rx, "/cb/" SF_TOKEN));
    char ref[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "DT-%d", i);
        ob_sim_order_created(sim, ref, "1000001", NULL);
    }
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    for (int i = 0; i < 40; i++) {
        snprintf(ref, sizeof(ref), "DT-%d", i);
        codes_of(l, ref, NULL, 0, out[i], 256);
    }
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* Faults fall on the same orders and statuses on every run with the same seed. */
static void test_cb_faults_deterministic(void **state)
{
    (void)state;
    static char a[40][256], b[40][256], c[40][256], d[40][256];
    kinds_by_ref(5, "rest", a);
    kinds_by_ref(5, "rest", b);
    kinds_by_ref(6, "rest", c);
    kinds_by_ref(5, "sf_express", d);
    assert_memory_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, c, sizeof(a));
    int tamper = 0, replay = 0, dup = 0, sf_tamper = 0;
    for (int i = 0; i < 40; i++) {
        tamper += strstr(a[i], "tamper") != NULL;
        replay += strstr(a[i], "replay") != NULL;
        dup += strstr(a[i], "duplicate") != NULL;
        sf_tamper += strstr(d[i], "tamper") != NULL;
    }
    assert_true(tamper > 10 && replay > 10 && dup > 10 && sf_tamper > 10);
}

/* A Qimen create request, signed, through the profile: the hook takes the
 * deliveryOrderCode and warehouseCode from it. */
static void qimen_create(unsigned short port, const char *code, const char *warehouse)
{
    char body[2048], url[1024], ts[32], sign[33];
    struct kvs p = {.n = 0};
    time_t now = time(NULL) + 8 * 3600;
    struct tm tm;
    struct reply r;

    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(body, sizeof(body),
             "<request><deliveryOrder><deliveryOrderCode>%s</deliveryOrderCode>"
             "<orderType>JYCK</orderType><warehouseCode>%s</warehouseCode>"
             "<createTime>%s</createTime><receiverInfo><name>Zhang San</name>"
             "<mobile>13800138000</mobile><province>Shanghai</province><city>Shanghai</city>"
             "<detailAddress>1 Chunshen Rd</detailAddress></receiverInfo></deliveryOrder>"
             "<orderLines><orderLine><ownerCode>OW</ownerCode><itemCode>SKU-1</itemCode>"
             "<planQty>1</planQty><actualPrice>599.00</actualPrice></orderLine></orderLines>"
             "</request>",
             code, warehouse, ts);
    const char *kv[][2] = {{"method", "taobao.qimen.deliveryorder.create"},
                           {"timestamp", ts}, {"format", "xml"}, {"app_key", QM_APP_KEY},
                           {"v", "2.0"}, {"sign_method", "md5"}, {"customerId", QM_CUSTOMER}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        snprintf(p.item[p.n].k, sizeof(p.item[0].k), "%s", kv[i][0]);
        snprintf(p.item[p.n].v, sizeof(p.item[0].v), "%s", kv[i][1]);
        p.n++;
    }
    qimen_sign(QM_SECRET, &p, body, strlen(body), sign);
    char ts_q[40];
    snprintf(ts_q, sizeof(ts_q), "%.10s%%20%s", ts, ts + 11);
    snprintf(url, sizeof(url),
             "/router/qimen/service?method=taobao.qimen.deliveryorder.create&timestamp=%s"
             "&format=xml&app_key=%s&v=2.0&sign_method=md5&customerId=%s&sign=%s",
             ts_q, QM_APP_KEY, QM_CUSTOMER, sign);
    struct call c = {.path = url, .ctype = "text/xml;charset=utf-8", .body = body};
    http(port, &c, &r);
    assert_int_equal(r.status, 200);
    if (strstr(r.body, "<flag>success</flag>") == NULL)
        fail_msg("qimen create: %s", r.body);
}

static void test_cb_qimen(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_QIMEN);
    struct ob_sim_options o = {.cb_tamper_rate = 1, .cb_reorder_rate = 1};
    struct ob_sim *sim = start_cb(&o, "qimen", rx_url(rx, "/callbacks/QM-1?x=1"));
    char want[512], got[512], ref[32];
    const char *exc_ref = NULL;

    rx->fail_first = 1; /* flag failure: sent again */
    qimen_create(ob_sim_port(sim), "QC-0", "WH-SH-01");
    for (int i = 1; exc_ref == NULL; i++) { /* and one with an exception */
        snprintf(ref, sizeof(ref), "QC-%d", i);
        if (ob_sim_status_exception(ref)) {
            qimen_create(ob_sim_port(sim), ref, "WH-SH-02");
            exc_ref = ref;
        }
    }
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    const char *refs[] = {"QC-0", exc_ref};
    int failures = 0, prev_k = 0;
    pthread_mutex_lock(&rx->mu);
    for (int i = 0; i < 2; i++) {
        expected_ladder(QM_STEPS, 6, 2, "EXCEPTION", 4, i == 1, 1, want, sizeof(want), "CANCELED",
                        ob_sim_status_cancelled(refs[i]));
        codes_of(l, refs[i], "report", 1, got, sizeof(got));
        assert_string_equal(got, want);
        long long prev = 0;
        int j = 0;
        for (int k = 0; k < rx->n; k++) {
            struct rx_event *e = &rx->ev[k];
            if (strcmp(e->ref, refs[i]) != 0)
                continue;
            /* first a tampered copy, refused; then the report (once failed, sent again) */
            int tampered = !e->valid;
            if (tampered) {
                assert_true(j == 0 || rx->ev[prev_k].valid);
                assert_false(e->answered_ok);
            } else if (!e->answered_ok) {
                failures++;
            }
            prev_k = k;
            j++;
            assert_string_equal(e->extra, i == 0 ? "WH-SH-01" : "WH-SH-02");
            assert_true(strncmp(e->wh_id, "QM100000", 8) == 0);
            assert_true(e->occurred_ms > 0 && e->occurred_ms % 1000 == 0);
            assert_true(e->occurred_ms >= prev - 1000);
            prev = e->occurred_ms;
            if (strcmp(e->code, "DELIVERED") == 0) {
                assert_string_equal(e->method, "taobao.qimen.deliveryorder.confirm");
                assert_string_equal(e->carrier, "SF");
                assert_true(strncmp(e->tracking, "SF1", 3) == 0);
            } else {
                assert_string_equal(e->method, "taobao.qimen.orderprocess.report");
                assert_int_equal(e->has_reason, strcmp(e->code, "EXCEPTION") == 0);
            }
        }
    }
    assert_int_equal(failures, 1);
    assert_int_equal(rx->n, 2 * 6 + 2 * 7 + 1);
    pthread_mutex_unlock(&rx->mu);
    struct ob_sim_stats st;
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.cb_forged_accepted, 0);
    assert_int_equal(st.cb_ok, 6 + 7);
    assert_int_equal(st.cb_refused, 6 + 7 + 1); /* the tampered ones, and the one failure */
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* An SF order through the profile: the hook takes the orderId and the waybill. */
static void sf_create(unsigned short port, const char *order_id)
{
    char data[1024], ts[32], form[4096];
    struct ob_buf raw, enc, b64, f1, f2;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len;
    struct reply r;

    snprintf(data, sizeof(data),
             "{\"orderId\":\"%s\",\"contactInfoList\":[{\"contactType\":2,\"address\":\"1 Rd\","
             "\"contact\":\"Zhang San\",\"mobile\":\"13800138000\"}],"
             "\"cargoDetails\":[{\"name\":\"shoes\"}]}",
             order_id);
    snprintf(ts, sizeof(ts), "%lld", epoch_ms());
    ob_buf_init(&raw, 1 << 16);
    ob_buf_init(&enc, 1 << 16);
    ob_buf_init(&b64, 1 << 10);
    ob_buf_init(&f1, 1 << 16);
    ob_buf_init(&f2, 1 << 10);
    ob_buf_appends(&raw, data);
    ob_buf_appends(&raw, ts);
    ob_buf_appends(&raw, "check-word-01");
    assert_int_equal(ob_url_encode(raw.data, raw.len, OB_URL_JAVA, &enc), 0);
    assert_int_equal(ob_digest(OB_MD5, enc.data, enc.len, md, &md_len), 0);
    assert_int_equal(ob_base64_encode(md, md_len, &b64), 0);
    assert_int_equal(ob_url_encode(data, strlen(data), OB_URL_JAVA, &f1), 0);
    assert_int_equal(ob_url_encode(b64.data, b64.len, OB_URL_JAVA, &f2), 0);
    snprintf(form, sizeof(form),
             "partnerID=partner&requestID=0a1b2c3d-0000-4000-8000-000000000001&serviceCode="
             "EXP_RECE_CREATE_ORDER&timestamp=%s&msgDigest=%s&msgData=%s",
             ts, f2.data, f1.data);
    struct call c = {.path = "/std/service", .ctype = "application/x-www-form-urlencoded",
                     .body = form};
    http(port, &c, &r);
    assert_int_equal(r.status, 200);
    if (strstr(r.body, "S0000") == NULL)
        fail_msg("sf create: %s", r.body);
    ob_buf_reset(&raw);
    ob_buf_reset(&enc);
    ob_buf_reset(&b64);
    ob_buf_reset(&f1);
    ob_buf_reset(&f2);
}

/* Routes of different orders due together share a push, 10 at most; an order's routes
 * still go one after the other. */
static void test_cb_sf_batches(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_SF);
    struct ob_sim_options o = {.cb_max_in_flight = 1, .status_step_ms = 2};
    struct ob_sim *sim = start_cb(&o, "sf_express", rx_url(rx, "/callbacks/SF-1/" SF_TOKEN));
    char ref[32], want[256], got[256];

    rx->hold_first = 1;
    sf_create(ob_sim_port(sim), "SB-0");
    /* the first push is held at the receiver: the sender (one transfer at a time) waits */
    pthread_mutex_lock(&rx->mu);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    while (!rx->holding && pthread_cond_timedwait(&rx->cv, &rx->mu, &until) == 0)
        ;
    assert_true(rx->holding);
    pthread_mutex_unlock(&rx->mu);
    for (int i = 1; i <= 24; i++) {
        snprintf(ref, sizeof(ref), "SB-%d", i);
        ob_sim_order_created(sim, ref, "SF0001000000001", NULL);
    }
    /* their first routes fall due status_step_ms after creation: wait for that
     * moment on the clock (the schedule being waited for, not another thread) */
    struct timespec due;
    clock_gettime(CLOCK_MONOTONIC, &due);
    due.tv_nsec += 20 * 1000000L;
    if (due.tv_nsec >= 1000000000L) {
        due.tv_sec++;
        due.tv_nsec -= 1000000000L;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) != 0)
        ;
    pthread_mutex_lock(&rx->mu);
    rx->released = 1;
    pthread_cond_broadcast(&rx->cv);
    pthread_mutex_unlock(&rx->mu);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);

    struct seen_list *l = reports_of(sim);
    pthread_mutex_lock(&rx->mu);
    int max_batch = 0;
    for (int k = 0; k < rx->n; k++) {
        const struct rx_event *e = &rx->ev[k];
        assert_true(e->valid && e->answered_ok);
        assert_true(e->batch >= 1 && e->batch <= 10);
        max_batch = e->batch > max_batch ? e->batch : max_batch;
        assert_true(e->has_reason); /* remark and acceptAddress are there */
        /* one route per order in a push */
        for (int m = k + 1; m < rx->n && rx->ev[m].req == e->req; m++)
            assert_string_not_equal(rx->ev[m].ref, e->ref);
    }
    assert_int_equal(max_batch, 10);
    assert_int_equal(rx->ev[0].batch, 1);
    assert_true(strncmp(rx->ev[0].wh_id, "SF", 2) == 0 && strlen(rx->ev[0].wh_id) == 15);
    /* the second push: 10 of the 24 first routes waiting */
    assert_int_equal(rx->ev[1].batch, 10);
    pthread_mutex_unlock(&rx->mu);
    for (int i = 0; i <= 24; i++) {
        snprintf(ref, sizeof(ref), "SB-%d", i);
        expected_ladder(SF_STEPS, 4, 1, "33", 2, ob_sim_status_exception(ref), 0, want,
                        sizeof(want), NULL, 0);
        codes_of(l, ref, "report", 1, got, sizeof(got));
        assert_string_equal(got, want);
    }
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* Tampered: the token in the path replaced; reordered: 80 before 44; "1000": again. */
static void test_cb_sf_faults(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_SF);
    struct ob_sim_options o = {.cb_tamper_rate = 1, .cb_reorder_rate = 1, .cb_replay_rate = 1};
    struct ob_sim *sim = start_cb(&o, "sf_express", rx_url(rx, "/callbacks/SF-1/" SF_TOKEN));
    char want[256], got[512];

    rx->fail_first = 2;
    ob_sim_order_created(sim, "SX-1", "SF0001000000002", NULL);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    expected_ladder(SF_STEPS, 4, 1, "33", 2, ob_sim_status_exception("SX-1"), 1, want,
                    sizeof(want), NULL, 0);
    codes_of(l, "SX-1", "report", 1, got, sizeof(got));
    assert_string_equal(got, want);
    codes_of(l, "SX-1", NULL, 0, got, sizeof(got));
    const char *start = "tamper:50! report:50! report:50! report:50 replay:50 tamper:30! ";
    if (strncmp(got, start, strlen(start)) != 0)
        fail_msg("SX-1: %s", got);
    pthread_mutex_lock(&rx->mu);
    assert_false(rx->ev[0].valid);
    assert_true(rx->ev[1].valid);
    assert_string_equal(rx->ev[4].fp, rx->ev[3].fp); /* the replay: the same URL and body */
    assert_string_not_equal(rx->ev[0].fp, rx->ev[3].fp);
    pthread_mutex_unlock(&rx->mu);
    struct ob_sim_stats st;
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.cb_forged_accepted, 0);
    free(l);
    ob_sim_stop(sim);
    rx_stop(rx);
}

/* No URL: nothing is reported until one is set; a profile without callbacks refuses
 * one; stop does not wait for a bridge that never says yes; unreachable URLs count as
 * errors. */
static void test_cb_url_and_stop(void **state)
{
    (void)state;
    struct rx *rx = rx_start(RX_REST);
    struct ob_sim_options o = {0};
    struct ob_sim *sim = start_cb(&o, "rest", NULL);
    struct ob_sim_stats st;
    char err[256] = "";

    ob_sim_order_created(sim, "U-1", "1", NULL); /* no URL: not reported */
    assert_int_equal(ob_sim_reports_done(sim), 1);
    assert_int_equal(ob_sim_set_callback_url(sim, rx_url(rx, "/cb")), 0);
    ob_sim_order_created(sim, "U-2", "2", NULL);
    assert_int_equal(ob_sim_reports_done(sim), 0);
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    struct seen_list *l = reports_of(sim);
    for (int i = 0; i < l->n; i++)
        assert_string_equal(l->v[i].ref, "U-2");
    int sent = l->n;
    assert_int_equal(sent, 5 + ob_sim_status_exception("U-2"));
    free(l);

    /* a bridge that always refuses: retried until stop, which returns promptly */
    rx->fail_first = 1 << 30;
    ob_sim_order_created(sim, "U-3", "3", NULL);
    rx_wait_requests(rx, sent + 4);
    assert_int_equal(ob_sim_wait_reports_done(sim, 10), 0);
    ob_sim_get_stats(sim, &st);
    assert_true(st.cb_refused >= 3);
    assert_int_equal(st.cb_pending, 5 + (unsigned long)ob_sim_status_exception("U-3"));
    double t0 = now_ms();
    ob_sim_stop(sim);
    assert_true(now_ms() - t0 < 2000.0);

    /* nobody listening: transport errors, retried */
    unsigned short dead = rx->port;
    rx_stop(rx);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/cb", dead);
    struct ob_sim_options d = {0};
    sim = start_cb(&d, "rest", url);
    ob_sim_order_created(sim, "U-4", "4", NULL);
    for (int i = 0; i < 500; i++) { /* poll the counter, bounded */
        ob_sim_get_stats(sim, &st);
        if (st.cb_errors >= 2)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(st.cb_errors >= 2);
    assert_int_equal(st.cb_ok + st.cb_refused, 0);
    ob_sim_stop(sim);

    /* profiles without callbacks */
    struct ob_sim_options ems = {.profile = "ems", .callback_url = "http://127.0.0.1:1/x"};
    assert_null(ob_sim_start(&ems, err, sizeof(err)));
    assert_non_null(strstr(err, "callback"));
    struct ob_sim_options bad = {.token = TOKEN, .cb_replay_rate = 2};
    assert_null(ob_sim_start(&bad, err, sizeof(err)));
    struct ob_sim_options plain = {.profile = "ems"};
    sim = ob_sim_start(&plain, err, sizeof(err));
    if (sim != NULL) { /* ems may not be in this build */
        assert_int_equal(ob_sim_set_callback_url(sim, "http://127.0.0.1:1/x"), -1);
        assert_int_equal(ob_sim_reports_done(sim), 1);
        ob_sim_order_created(sim, "E-1", "1", NULL); /* a no-op */
        ob_sim_stop(sim);
    }
}

/* The callback codes of `ref` that rx took (valid and answered with success), appended
 * to ev_out with when they happened; returns how many. */
static int rx_codes_of(struct rx *rx, const char *ref, struct rx_event *ev_out, int at)
{
    int n = 0;
    pthread_mutex_lock(&rx->mu);
    for (int k = 0; k < rx->n; k++) {
        const struct rx_event *e = &rx->ev[k];
        if (strcmp(e->ref, ref) != 0)
            continue;
        assert_true(e->valid && e->answered_ok);
        ev_out[at + n++] = *e;
    }
    pthread_mutex_unlock(&rx->mu);
    return n;
}

static int by_occurred(const void *a, const void *b)
{
    const struct rx_event *x = a, *y = b;
    return x->occurred_ms < y->occurred_ms ? -1 : x->occurred_ms > y->occurred_ms;
}

static int rx_requests(struct rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    int n = rx->requests;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

/* Orders LB-0..n-1 through a sim sending to `urls`; every ladder complete over the
 * receivers. The URL each attempt went to, per order in creation order, in picks. */
static void lb_run(const char *urls, unsigned long seed, int n, struct rx **rx, int n_rx,
                   char *picks, size_t picks_size, struct ob_sim_stats *st)
{
    struct ob_sim_options o = {.seed = seed, .status_step_ms = 1};
    struct ob_sim *sim = start_cb(&o, "rest", urls);
    struct rx_event ev[64];
    char ref[32], want[512], got[512];

    for (int r = 0; r < n_rx; r++) { /* the receivers start afresh */
        pthread_mutex_lock(&rx[r]->mu);
        rx[r]->n = rx[r]->requests = 0;
        pthread_mutex_unlock(&rx[r]->mu);
    }
    for (int i = 0; i < n; i++) {
        snprintf(ref, sizeof(ref), "LB-%d", i);
        ob_sim_order_created(sim, ref, "1000001", NULL);
    }
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    ob_sim_get_stats(sim, st);
    struct seen_list *l = reports_of(sim);
    picks[0] = '\0';
    for (int i = 0; i < l->n; i++) {
        size_t len = strlen(picks);
        snprintf(picks + len, picks_size - len, "%s %s%s\n", l->v[i].ref, l->v[i].url,
                 l->v[i].ok ? "" : " !");
    }
    /* nothing lost, nothing twice: each order's ladder once over all receivers */
    for (int i = 0; i < n; i++) {
        snprintf(ref, sizeof(ref), "LB-%d", i);
        int k = 0;
        for (int r = 0; r < n_rx; r++)
            k += rx_codes_of(rx[r], ref, ev, k);
        qsort(ev, (size_t)k, sizeof(ev[0]), by_occurred);
        got[0] = '\0';
        for (int j = 0; j < k; j++)
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", j ? " " : "",
                     ev[j].code);
        expected_ladder(REST_STEPS, 5, 1, "order.exception", 2, ob_sim_status_exception(ref), 0,
                        want, sizeof(want), "order.cancelled", ob_sim_status_cancelled(ref));
        assert_string_equal(got, want);
    }
    free(l);
    ob_sim_stop(sim);
}

/* Several callback URLs (bridge instances behind one load-balanced address): each attempt
 * goes to one of them, by the seed; with one instance down, its attempts are retried until
 * they reach the live one. */
static void test_cb_several_urls(void **state)
{
    (void)state;
    struct rx *rx[2] = {rx_start(RX_REST), rx_start(RX_REST)};
    struct ob_sim_stats st;
    char urls[256], url[2][96], picks[2][16384];
    int n = 24;

    for (int r = 0; r < 2; r++)
        snprintf(url[r], sizeof(url[r]), "http://127.0.0.1:%u/cb/WH-1", rx[r]->port);
    snprintf(urls, sizeof(urls), "%s %s", url[0], url[1]);

    lb_run(urls, 7, n, rx, 2, picks[0], sizeof(picks[0]), &st);
    int got[2] = {rx_requests(rx[0]), rx_requests(rx[1])};
    assert_true(got[0] > 0 && got[1] > 0); /* both instances had some */
    assert_int_equal(st.cb_sent, (unsigned long)(got[0] + got[1]));
    assert_int_equal(st.cb_ok, st.cb_sent);
    assert_int_equal(st.cb_refused + st.cb_errors + st.cb_pending, 0);
    /* the sim's account says which went where, as the receivers saw it */
    for (int r = 0; r < 2; r++) {
        int told = 0;
        for (const char *p = picks[0]; (p = strstr(p, url[r])) != NULL; p++)
            told++;
        assert_int_equal(told, got[r]);
    }
    /* the same seed, the same URLs for the same attempts */
    lb_run(urls, 7, n, rx, 2, picks[1], sizeof(picks[1]), &st);
    assert_string_equal(picks[1], picks[0]);

    /* a replay is the report's bytes again, to the instance picked for it */
    struct ob_sim_options ro = {.seed = 7, .status_step_ms = 1, .cb_replay_rate = 1};
    struct ob_sim *sim = start_cb(&ro, "rest", NULL);
    char err[256] = "";
    assert_int_equal(ob_sim_set_callback_url(sim, "   "), -1); /* no URL in it */
    assert_int_equal(ob_sim_set_callback_url(sim, urls), 0);
    for (int r = 0; r < 2; r++) {
        pthread_mutex_lock(&rx[r]->mu);
        rx[r]->n = rx[r]->requests = 0;
        pthread_mutex_unlock(&rx[r]->mu);
    }
    for (int i = 0; i < 6; i++) {
        char ref[32];
        snprintf(ref, sizeof(ref), "LR-%d", i);
        ob_sim_order_created(sim, ref, "1000001", NULL);
    }
    assert_int_equal(ob_sim_wait_reports_done(sim, 20000), 1);
    ob_sim_stop(sim);
    int pairs = 0, crossed = 0;
    pthread_mutex_lock(&rx[0]->mu);
    pthread_mutex_lock(&rx[1]->mu);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < rx[r]->n; i++) {
            const struct rx_event *e = &rx[r]->ev[i];
            int same = 0;
            assert_true(e->valid && e->answered_ok);
            for (int q = 0; q < 2; q++)
                for (int j = 0; j < rx[q]->n; j++) {
                    const struct rx_event *f = &rx[q]->ev[j];
                    if (f == e || strcmp(f->id, e->id) != 0)
                        continue;
                    assert_string_equal(f->fp, e->fp); /* URL path, headers, body */
                    same++;
                    crossed += q != r;
                }
            assert_int_equal(same, 1); /* each report once, replayed once */
            pairs++;
        }
    pthread_mutex_unlock(&rx[1]->mu);
    pthread_mutex_unlock(&rx[0]->mu);
    assert_true(pairs > 0 && crossed > 0); /* some replays went to the other instance */
    struct ob_sim_options blank = {.callback_url = "  "};
    assert_null(ob_sim_start(&blank, err, sizeof(err)));
    assert_non_null(strstr(err, "callback_url"));

    /* one instance down (its port closed): every callback still reaches the other */
    rx_stop(rx[1]);
    rx_stop(rx[0]);
    struct rx *live[1] = {rx_start(RX_REST)};
    char live_url[96];
    snprintf(live_url, sizeof(live_url), "http://127.0.0.1:%u/cb/WH-1", live[0]->port);
    if (strcmp(live_url, url[1]) == 0) { /* the closed port was taken again */
        rx_stop(live[0]);
        skip();
    }
    snprintf(urls, sizeof(urls), "%s %s", url[1], live_url);
    /* Each refused attempt backs off (50 ms doubling to 1 s), so how long this takes
     * depends on how many times in a row an order picks the dead one: 0.5 s to 7 s over
     * seeds 1..40. The picks hang on the seed, the references and the attempt numbers
     * only, so seed 3 (about 25 refused attempts, half a second) is the same every run. */
    lb_run(urls, 3, 8, live, 1, picks[0], sizeof(picks[0]), &st);
    int refused = 0;
    for (const char *p = picks[0]; (p = strstr(p, url[1])) != NULL; p++) {
        refused++;
        assert_true(strncmp(p + strlen(url[1]), " !\n", 3) == 0); /* no answer from it */
    }
    assert_true(refused > 0);
    assert_int_equal(st.cb_errors, (unsigned long)refused); /* failed attempts, retried */
    assert_int_equal(st.cb_ok, (unsigned long)rx_requests(live[0]));
    assert_int_equal(st.cb_sent, st.cb_ok + st.cb_errors);
    assert_int_equal(st.cb_refused + st.cb_pending, 0);
    rx_stop(live[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unauthorized),
        cmocka_unit_test(test_create_then_duplicate),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_injected_5xx),
        cmocka_unit_test(test_injected_429),
        cmocka_unit_test(test_injected_reset),
        cmocka_unit_test(test_reset_after_create),
        cmocka_unit_test(test_slow),
        cmocka_unit_test(test_stop_while_parked),
        cmocka_unit_test(test_stats_json),
        cmocka_unit_test(test_capacity),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_seed_is_deterministic),
        cmocka_unit_test(test_concurrent_dedupe),
        cmocka_unit_test(test_start_errors),
        cmocka_unit_test(test_profile_lookup),
        cmocka_unit_test(test_remember_and_next_id),
        cmocka_unit_test(test_remember_and_next_id_concurrent),
        cmocka_unit_test(test_secrets_and_counters),
        cmocka_unit_test(test_query_and_body_sizes),
        cmocka_unit_test(test_set_faults),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_webhook_signature),
        cmocka_unit_test(test_cb_rest_ladder),
        cmocka_unit_test(test_cb_retry),
        cmocka_unit_test(test_observers),
        cmocka_unit_test(test_cb_rest_faults),
        cmocka_unit_test(test_cb_faults_deterministic),
        cmocka_unit_test(test_cb_qimen),
        cmocka_unit_test(test_cb_sf_batches),
        cmocka_unit_test(test_cb_sf_faults),
        cmocka_unit_test(test_cb_url_and_stop),
        cmocka_unit_test(test_cb_several_urls),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
