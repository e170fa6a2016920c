/*
 * test_rest.c — the rest adapter (adapters/rest/rest.c) loaded through the
 * real loader (ob_adapter_open), as the bridge uses it: the request it
 * builds for contracts/example-order.json and how it classifies answers.
 *
 * Config documents are written with single quotes and turned into JSON by
 * J(); no value here needs a real apostrophe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif
#ifndef OB_CONTRACTS_DIR
#error "OB_CONTRACTS_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define TOKEN_ENV "OB_TEST_REST_TOKEN"
#define TOKEN "rest-t0ken-9f8e7d"
/* printf 'orderbridge.idem.v1\nSF-SH-01\nSO20231111000123\norder.created\n1' | sha256sum */
#define IDEM_KEY "5484455c515c2030d527a911ca07d25965211af9b6967898ebf4ede2539aa282"

/* Two warehouses: SF with shipping settings, JD without any. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'SF-SH-01':{'adapter':'rest','endpoint':'https://wms-sh.example.com/api/v1/',"               \
    "'credentials':{'token':'env:" TOKEN_ENV "'},"                                                \
    "'settings':{'shipping_methods':{'express':'Expedited','normal':'Standard'},"                 \
    "'default_shipping_method':'Ground'}},"                                                       \
    "'JD-BJ-02':{'adapter':'rest','endpoint':'http://wms-bj.example.com:8080',"                   \
    "'credentials':{'token':'env:" TOKEN_ENV "'}}}}"

struct fixture {
    struct ob_config *cfg;
    struct ob_adapter_instance *sf; /* SF-SH-01, with settings */
    struct ob_adapter_instance *jd; /* JD-BJ-02, no settings */
    struct ob_parsed_order *example;
    char *example_text;
    size_t example_len;
};

static struct fixture fx;
static char err[2048];

static int setup(void **state)
{
    (void)state;
    const char *json;

    memset(&fx, 0, sizeof fx);
    if (setenv(TOKEN_ENV, TOKEN, 1) != 0)
        return -1;
    unsetenv("OB_ADAPTER_PATH");
    json = J(CONFIG);
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    if (ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "SF-SH-01"), &fx.sf, err,
                        sizeof err) != 0 ||
        ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "JD-BJ-02"), &fx.jd, err,
                        sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        return -1;
    }
    fx.example_text = read_file(OB_CONTRACTS_DIR "/example-order.json", &fx.example_len);
    if (!fx.example_text)
        return -1;
    fx.example = parse_order(fx.example_text, fx.example_len);
    return fx.example ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ob_order_free(fx.example);
    free(fx.example_text);
    ob_adapter_close(fx.sf);
    ob_adapter_close(fx.jd);
    ob_config_destroy(fx.cfg);
    unsetenv(TOKEN_ENV);
    return 0;
}

static const struct ob_delivery delivery = {
    .warehouse = "SF-SH-01",
    .idempotency_key = IDEM_KEY,
    .trace_id = "0-42",
    .attempt = 1,
};

/* Encode `order` with `inst`; the request must be freed with ob_request_reset. */
static void encode(struct ob_adapter_instance *inst, const struct ob_order *order,
                   struct ob_request *req)
{
    memset(req, 0, sizeof *req);
    err[0] = '\0';
    int rc = inst->plugin.vt.encode(inst->state, order, &delivery, req, err, sizeof err);
    if (rc != 0) {
        print_error("encode failed: %s\n", err);
        fail();
    }
}

static json_t *parse_body(const struct ob_request *req)
{
    json_error_t jerr;
    assert_non_null(req->body);
    assert_int_equal(strlen(req->body), req->body_len);
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        print_error("body is not JSON (%s at %d): %s\n", jerr.text, jerr.column, req->body);
        fail();
    }
    assert_true(json_is_object(doc));
    return doc;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        print_error("\"%s\" is not a string\n", key);
        fail();
    }
    return json_string_value(v);
}

/* ------------------------------------------------------------------------ */
/* encode                                                                    */

static void test_encode_request_line_and_headers(void **state)
{
    (void)state;
    struct ob_request req;

    encode(fx.sf, &fx.example->order, &req);
    assert_non_null(req.method);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://wms-sh.example.com/api/v1/orders");
    assert_int_equal(req.n_headers, 3);
    assert_string_equal(req_header(&req, "Authorization"), "Bearer " TOKEN);
    assert_string_equal(req_header(&req, "Idempotency-Key"), IDEM_KEY);
    assert_string_equal(req_header(&req, "Content-Type"), "application/json");
    /* The secret travels only in the Authorization header. */
    assert_null(strstr(req.url, TOKEN));
    assert_null(strstr(req.body, TOKEN));
    ob_request_reset(&req);

    encode(fx.jd, &fx.example->order, &req);
    assert_string_equal(req.url, "http://wms-bj.example.com:8080/orders");
    ob_request_reset(&req);
}

static void test_encode_body(void **state)
{
    (void)state;
    struct ob_request req;

    encode(fx.sf, &fx.example->order, &req);
    json_t *body = parse_body(&req);

    assert_int_equal(json_object_size(body), 4);
    assert_string_equal(str_at(body, "reference_id"), "SO20231111000123");
    assert_string_equal(str_at(body, "shipping_method"), "Expedited"); /* priority express */

    json_t *rcp = json_object_get(body, "recipient");
    assert_true(json_is_object(rcp));
    assert_int_equal(json_object_size(rcp), 4);
    assert_string_equal(str_at(rcp, "name"), "张三");
    assert_string_equal(str_at(rcp, "phone_number"), "13800138000");
    assert_string_equal(str_at(rcp, "email"), ""); /* the example buyer has none */

    json_t *addr = json_object_get(rcp, "address");
    assert_true(json_is_object(addr));
    assert_int_equal(json_object_size(addr), 6);
    assert_string_equal(str_at(addr, "address1"), "莘庄镇 春申路 1 号 2 单元 301");
    assert_string_equal(str_at(addr, "address2"), "闵行区");
    assert_string_equal(str_at(addr, "city"), "上海市");
    assert_string_equal(str_at(addr, "state"), "上海市");
    assert_string_equal(str_at(addr, "country"), "CN");
    assert_string_equal(str_at(addr, "zip_code"), "201100");

    json_t *products = json_object_get(body, "products");
    assert_true(json_is_array(products));
    assert_int_equal(json_array_size(products), 2);

    json_t *p0 = json_array_get(products, 0);
    assert_int_equal(json_object_size(p0), 4);
    assert_string_equal(str_at(p0, "reference_id"), "SKE-12345-BLK-42");
    assert_string_equal(str_at(p0, "name"), "D'LITES 复古老爹鞋 黑 42");
    assert_true(json_is_integer(json_object_get(p0, "quantity")));
    assert_int_equal(json_integer_value(json_object_get(p0, "quantity")), 1);
    assert_string_equal(str_at(p0, "unit_price"), "599.00"); /* decimal string, not a number */

    json_t *p1 = json_array_get(products, 1);
    assert_string_equal(str_at(p1, "reference_id"), "SKE-SOCK-3P");
    assert_string_equal(str_at(p1, "name"), "运动袜 3 双装");
    assert_int_equal(json_integer_value(json_object_get(p1, "quantity")), 2);
    assert_string_equal(str_at(p1, "unit_price"), "49.00");

    json_decref(body);
    ob_request_reset(&req);
}

/* The example order with some fields replaced; returns the parsed order. */
static struct ob_parsed_order *example_with(const char *priority, const char *text_field_value,
                                            int drop_item_name)
{
    json_error_t jerr;
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, &jerr);
    assert_non_null(doc);
    if (priority)
        assert_int_equal(json_object_set_new(doc, "priority", json_string(priority)), 0);
    if (text_field_value) {
        json_t *item0 = json_array_get(json_object_get(doc, "items"), 0);
        json_t *addr = json_object_get(doc, "shipping_address");
        assert_int_equal(json_object_set_new(doc, "remark", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(item0, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "street", json_string(text_field_value)), 0);
    }
    if (drop_item_name) {
        json_t *item1 = json_array_get(json_object_get(doc, "items"), 1);
        assert_int_equal(json_object_del(item1, "name"), 0);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(text);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    return po;
}

static void test_encode_shipping_method_per_priority(void **state)
{
    (void)state;
    static const struct {
        const char *priority;
        const char *sf; /* shipping_methods, else default_shipping_method "Ground" */
        const char *jd; /* no settings: "Standard" */
    } cases[] = {
        {"express", "Expedited", "Standard"},
        {"normal", "Standard", "Standard"},
        {"presale", "Ground", "Standard"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_parsed_order *po = example_with(cases[i].priority, NULL, 0);
        struct ob_request req;
        json_t *body;

        assert_string_equal(po->order.priority, cases[i].priority);
        encode(fx.sf, &po->order, &req);
        body = parse_body(&req);
        assert_string_equal(str_at(body, "shipping_method"), cases[i].sf);
        json_decref(body);
        ob_request_reset(&req);

        encode(fx.jd, &po->order, &req);
        body = parse_body(&req);
        assert_string_equal(str_at(body, "shipping_method"), cases[i].jd);
        json_decref(body);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* The example's remark holds & < >; with " ' and \ added to the remark and
 * to text fields that do go into the body, the body is still one JSON
 * document carrying the exact text. */
static void test_encode_special_characters(void **state)
{
    (void)state;
    const char *nasty = "双11 & <请勿> \"quoted\" 'single' back\\slash </script> {\"x\":1}";
    struct ob_request req;

    /* The example order itself. */
    assert_non_null(fx.example->order.remark);
    assert_non_null(strchr(fx.example->order.remark, '&'));
    assert_non_null(strchr(fx.example->order.remark, '<'));
    assert_non_null(strchr(fx.example->order.remark, '>'));
    encode(fx.sf, &fx.example->order, &req);
    json_decref(parse_body(&req));
    ob_request_reset(&req);

    struct ob_parsed_order *po = example_with(NULL, nasty, 0);
    assert_string_equal(po->order.remark, nasty);
    encode(fx.sf, &po->order, &req);
    json_t *body = parse_body(&req);
    json_t *rcp = json_object_get(body, "recipient");
    assert_string_equal(str_at(rcp, "name"), nasty);
    assert_string_equal(str_at(json_object_get(rcp, "address"), "address1"), nasty);
    assert_string_equal(str_at(json_array_get(json_object_get(body, "products"), 0), "name"),
                        nasty);
    assert_string_equal(str_at(body, "reference_id"), "SO20231111000123");
    json_decref(body);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* An item without a name is sent with its SKU as the name. */
static void test_encode_item_without_name(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, NULL, 1);
    struct ob_request req;

    assert_null(po->order.items[1].name);
    encode(fx.sf, &po->order, &req);
    json_t *body = parse_body(&req);
    json_t *products = json_object_get(body, "products");
    assert_int_equal(json_array_size(products), 2);
    assert_string_equal(str_at(json_array_get(products, 1), "name"), "SKE-SOCK-3P");
    json_decref(body);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* Only creation is pushed: an update or a cancellation sent as a create
 * would come back "duplicate" and be reported ACCEPTED. */
static void test_encode_refuses_other_events(void **state)
{
    (void)state;
    static const char *const events[] = {"order.updated", "order.cancelled"};

    for (size_t i = 0; i < 2; i++) {
        json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, NULL);
        assert_non_null(doc);
        assert_int_equal(json_object_set_new(doc, "event", json_string(events[i])), 0);
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        struct ob_parsed_order *po = parse_order(text, strlen(text));
        free(text);
        assert_non_null(po);

        struct ob_request req;
        char err[256] = "";
        memset(&req, 0, sizeof req);
        assert_int_equal(fx.sf->plugin.vt.encode(fx.sf->state, &po->order, &delivery, &req, err,
                                                 sizeof err),
                         -1);
        assert_non_null(strstr(err, events[i]));
        assert_non_null(strstr(err, "not supported"));
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* ------------------------------------------------------------------------ */
/* decode_response                                                           */

static struct ob_outcome decode_h(long status, const char *body, const struct ob_header *headers,
                                  size_t n_headers)
{
    struct ob_response resp = {
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .headers = headers,
        .n_headers = n_headers,
    };
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    fx.sf->plugin.vt.decode_response(fx.sf->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

static struct ob_outcome decode(long status, const char *body)
{
    return decode_h(status, body, NULL, 0);
}

static struct ob_outcome decode_retry_after(long status, const char *value)
{
    struct ob_header h[] = {
        {.name = "Content-Type", .value = "application/json"},
        {.name = "Retry-After", .value = (char *)value},
    };
    return decode_h(status, "{\"error\":\"slow down\"}", h, 2);
}

static void test_decode_created(void **state)
{
    (void)state;
    struct ob_outcome o = decode(201, "{\"id\":123456789012,\"status\":\"Processing\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "123456789012");

    o = decode(201, "{\"id\":\"WMS-SH-000981\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "WMS-SH-000981");

    o = decode(200, "{\"id\":77}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "77");
}

static void test_decode_accepted_without_id(void **state)
{
    (void)state;
    struct ob_outcome o = decode(201, "{\"order\":{\"id\":5}}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "");
}

/* A 2xx that is not a JSON object may not come from the warehouse at all
 * (a proxy's page, a cut-off body): resent with the same key, never
 * reported accepted. */
static void test_decode_unreadable_success_is_retried(void **state)
{
    (void)state;
    static const char *const bodies[] = {"OK", "", "<html>gateway</html>", "{\"id\":", "[1]"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        struct ob_outcome o = decode(200, bodies[i]);
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_contains(o.reason, "unreadable body");
    }
}

static void test_decode_duplicate_is_accepted(void **state)
{
    (void)state;
    struct ob_outcome o =
        decode(422, "{\"errors\":{\"reference_id\":[\"Duplicate reference ID\"]}}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "");
}

static void test_decode_permanent(void **state)
{
    (void)state;
    struct ob_outcome o = decode(422, "{\"errors\":{\"zip_code\":[\"invalid\"]}}");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "422");
    assert_contains(o.reason, "zip_code");

    static const long codes[] = {400, 401, 403, 404, 409};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char want[16];
        o = decode(codes[i], "{\"error\":\"nope\"}");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "%ld", codes[i]);
        assert_contains(o.reason, want);
    }

    /* The reason quotes a bounded part of a huge body. */
    char big[4096];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = decode(400, big);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_true(strlen(o.reason) < sizeof o.reason);
}

static void test_decode_retry_after_seconds(void **state)
{
    (void)state;
    struct ob_outcome o = decode_retry_after(429, "3");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 3000);
    assert_contains(o.reason, "429");

    o = decode_retry_after(503, "120");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 120000);

    /* Header names are case-insensitive. */
    struct ob_header lower[] = {{.name = "retry-after", .value = "7"}};
    o = decode_h(429, "", lower, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 7000);

    /* Unreadable: retry, the bridge picks the delay. */
    o = decode_retry_after(429, "soon");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);
}

static void test_decode_retry_after_http_date(void **state)
{
    (void)state;
    char date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;

    gmtime_r(&when, &tm);
    assert_true(strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    struct ob_outcome o = decode_retry_after(429, date);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    /* 120 s from when the date was made, give or take the second ticking. */
    assert_in_range(o.retry_after_ms, 118000, 120000);

    /* A date in the past: retry now. (RFC 7231's example date.) */
    o = decode_retry_after(503, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);
}

static void test_decode_transient_statuses(void **state)
{
    (void)state;
    static const long codes[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct ob_outcome o = decode(codes[i], "<html>busy</html>");
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_int_equal(o.retry_after_ms, 0);
        assert_string_equal(o.warehouse_order_id, "");
    }
}

static void test_decode_transport_error(void **state)
{
    (void)state;
    struct ob_response resp = {.status = 0, .transport_error = "Couldn't connect to server"};
    struct ob_outcome o;

    memset(&o, 0, sizeof o);
    fx.sf->plugin.vt.decode_response(fx.sf->state, &fx.example->order, &delivery, &resp, &o);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "Couldn't connect to server");

    o = decode(0, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_true(strlen(o.reason) > 0);
}

/* ------------------------------------------------------------------------ */
/* init                                                                      */

static const char *open_fails(const char *wh_body)
{
    char text[4096];
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'W9':{'adapter':'rest','endpoint':'https://w9.example',%s}}}",
             OB_BUILD_DIR, wh_body);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    ob_config_destroy(cfg);
    assert_int_equal(strncmp(err, "$.warehouses.W9: adapter rest: ", 31), 0);
    return err;
}

static void test_init_without_token(void **state)
{
    (void)state;
    assert_contains(open_fails("'max_attempts':3"), "credentials.token");
    /* Another credential is not the token. */
    assert_contains(open_fails("'credentials':{'api_key':'env:" TOKEN_ENV "'}"),
                    "credentials.token");
}

static const char *fake_credential(const struct ob_adapter_env *env, const char *name)
{
    (void)name;
    return env->host; /* the test's token for any name */
}

/* The config checker never resolves an empty secret, but the adapter must
 * not accept one from a host that does. */
static void test_init_empty_token(void **state)
{
    (void)state;
    static char empty_token[1] = "";
    struct ob_adapter_env env = {
        .abi = OB_ADAPTER_ABI,
        .size = sizeof env,
        .warehouse = "W9",
        .endpoint = "https://w9.example",
        .credential = fake_credential,
        .host = empty_token,
    };
    void *st = (void *)1;
    err[0] = '\0';
    assert_int_equal(fx.sf->plugin.vt.init(&env, NULL, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.token");

    env.host = NULL;
    err[0] = '\0';
    assert_int_equal(fx.sf->plugin.vt.init(&env, NULL, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.token");
}

static void test_init_bad_settings(void **state)
{
    (void)state;
    const char *e;

    e = open_fails("'credentials':{'token':'env:" TOKEN_ENV "'},'settings':{'colour':'blue'}");
    assert_contains(e, "settings.colour");

    e = open_fails("'credentials':{'token':'env:" TOKEN_ENV "'},"
                   "'settings':{'shipping_methods':{'express':1}}");
    assert_contains(e, "settings.shipping_methods.express");

    e = open_fails("'credentials':{'token':'env:" TOKEN_ENV "'},"
                   "'settings':{'shipping_methods':['Expedited']}");
    assert_contains(e, "settings.shipping_methods");

    e = open_fails("'credentials':{'token':'env:" TOKEN_ENV "'},"
                   "'settings':{'default_shipping_method':5}");
    assert_contains(e, "settings.default_shipping_method");

    /* No message may contain the secret. */
    assert_null(strstr(e, TOKEN));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_request_line_and_headers),
        cmocka_unit_test(test_encode_body),
        cmocka_unit_test(test_encode_shipping_method_per_priority),
        cmocka_unit_test(test_encode_special_characters),
        cmocka_unit_test(test_encode_item_without_name),
        cmocka_unit_test(test_encode_refuses_other_events),
        cmocka_unit_test(test_decode_created),
        cmocka_unit_test(test_decode_accepted_without_id),
        cmocka_unit_test(test_decode_unreadable_success_is_retried),
        cmocka_unit_test(test_decode_duplicate_is_accepted),
        cmocka_unit_test(test_decode_permanent),
        cmocka_unit_test(test_decode_retry_after_seconds),
        cmocka_unit_test(test_decode_retry_after_http_date),
        cmocka_unit_test(test_decode_transient_statuses),
        cmocka_unit_test(test_decode_transport_error),
        cmocka_unit_test(test_init_without_token),
        cmocka_unit_test(test_init_empty_token),
        cmocka_unit_test(test_init_bad_settings),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
