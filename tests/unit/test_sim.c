/*
 * test_sim.c — the warehouse simulator over real HTTP (libcurl easy/multi).
 */
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
    char url[128], h[256];
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
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
