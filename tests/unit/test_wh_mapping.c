/*
 * test_wh_mapping — the generic mapping adapter: the REST warehouse
 * described by conf/rest-as-mapping.json (no C), against the REST simulator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"
#include "sim.h"
#include "support.h"

#define TOKEN "mapping-test-token"

static struct {
    struct ob_config *cfg;
    struct ob_adapter_instance *ad;
    struct ob_parsed_order *order;
    char *example;
} fx;

static const struct ob_delivery delivery = {
    .warehouse = "JD-BJ-02",
    .idempotency_key = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    .trace_id = "t",
    .attempt = 1,
};

static int setup(void **state)
{
    char err[2048];
    size_t len = 0;

    (void)state;
    setenv("JD_BJ_TOKEN", TOKEN, 1);
    setenv("OB_ADAPTER_PATH", OB_BUILD_DIR "/adapters", 1);
    if (ob_config_load(OB_SOURCE_DIR "/conf/rest-as-mapping.json", &fx.cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (ob_adapter_open(fx.cfg, &fx.cfg->warehouses[0], &fx.ad, err, sizeof err) != 0)
        fail_msg("%s", err);
    fx.example = read_file(OB_CONTRACTS_DIR "/example-order.json", &len);
    assert_non_null(fx.example);
    fx.order = parse_order(fx.example, len);
    assert_non_null(fx.order);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ob_order_free(fx.order);
    ob_adapter_close(fx.ad);
    ob_config_destroy(fx.cfg);
    free(fx.example);
    return 0;
}

static void encode(struct ob_request *req)
{
    char err[512] = "";

    memset(req, 0, sizeof *req);
    if (fx.ad->plugin.vt.encode(fx.ad->state, &fx.order->order, &delivery, req, err, sizeof err))
        fail_msg("encode: %s", err);
}

static void test_encode_matches_the_rest_contract(void **state)
{
    (void)state;
    struct ob_request req;

    encode(&req);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "http://127.0.0.1:18080/orders");
    assert_string_equal(req_header(&req, "Authorization"), "Bearer " TOKEN);
    assert_string_equal(req_header(&req, "Idempotency-Key"), delivery.idempotency_key);
    assert_string_equal(req_header(&req, "Content-Type"), "application/json");
    json_t *body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "reference_id")),
                        "SO20231111000123");
    json_t *rcp = json_object_get(body, "recipient");
    assert_string_equal(json_string_value(json_object_get(rcp, "name")), "张三");
    assert_string_equal(json_string_value(json_object_get(rcp, "phone_number")), "13800138000");
    json_t *addr = json_object_get(rcp, "address");
    assert_string_equal(json_string_value(json_object_get(addr, "state")), "上海市");
    assert_string_equal(json_string_value(json_object_get(addr, "zip_code")), "201100");
    json_t *products = json_object_get(body, "products");
    assert_int_equal(json_array_size(products), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(products, 1), "reference_id")),
                        "SKE-SOCK-3P");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(products, 1), "quantity")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(products, 0), "unit_price")),
                        "599.00");
    assert_string_equal(json_string_value(json_object_get(body, "shipping_method")), "Expedited");
    json_decref(body);
    ob_request_reset(&req);
}

static struct ob_outcome decode(long status, const char *body)
{
    struct ob_response resp = {.status = status, .body = body, .body_len = body ? strlen(body) : 0};
    struct ob_outcome out;

    memset(&out, 0, sizeof out);
    fx.ad->plugin.vt.decode_response(fx.ad->state, &fx.order->order, &delivery, &resp, &out);
    return out;
}

static void test_answer_rules(void **state)
{
    (void)state;
    struct ob_outcome o = decode(201, "{\"id\": 1000042}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "1000042");
    o = decode(422, "{\"errors\":{\"reference_id\":[\"Duplicate reference ID\"]}}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    o = decode(422, "{\"errors\":{\"recipient\":[\"is invalid\"]}}");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT); /* no rule: a 4xx is refused */
    o = decode(503, "busy");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    o = decode(0, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
}

/* A business answer inside an HTTP 200, read from a JSON field. */
static void test_json_field_rules(void **state)
{
    (void)state;
    char err[1024] = "";
    struct ob_adapter_instance *ad = NULL;
    struct ob_config *cfg = NULL;
    const char *text =
        "{\"kafka\": {\"bootstrap_servers\": \"x:1\"}, \"warehouses\": {\"W\": {"
        "\"adapter\": \"mapping\", \"endpoint\": \"http://h\","
        "\"settings\": {\"request\": {\"path\": \"/o\", \"body\": \"" OB_SOURCE_DIR "/mappings/rest.json\"},"
        "\"answers\": ["
        "{\"json\": {\"path\": \"result.code\", \"equals\": \"DUP\"}, \"outcome\": \"accepted\"},"
        "{\"json\": {\"path\": \"success\", \"equals\": \"true\"}, \"outcome\": \"accepted\", \"warehouse_order_id\": \"result.no\"},"
        "{\"json\": {\"path\": \"result.code\", \"equals\": \"BUSY\"}, \"outcome\": \"retry\"},"
        "{\"status\": [200], \"outcome\": \"permanent\"}]}}}}";

    if (ob_config_parse(text, strlen(text), "<test>", &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (ob_adapter_open(cfg, &cfg->warehouses[0], &ad, err, sizeof err) != 0)
        fail_msg("%s", err);
    struct {
        const char *body;
        enum ob_outcome_kind kind;
        const char *id;
    } cases[] = {
        {"{\"success\": true, \"result\": {\"no\": \"WB123\"}}", OB_OUTCOME_ACCEPTED, "WB123"},
        {"{\"success\": false, \"result\": {\"code\": \"DUP\"}}", OB_OUTCOME_ACCEPTED, ""},
        {"{\"success\": false, \"result\": {\"code\": \"BUSY\"}}", OB_OUTCOME_RETRY, ""},
        {"{\"success\": false, \"result\": {\"code\": \"BAD_ADDRESS\"}}", OB_OUTCOME_PERMANENT, ""},
        {"not json", OB_OUTCOME_PERMANENT, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ob_response resp = {.status = 200, .body = cases[i].body,
                                   .body_len = strlen(cases[i].body)};
        struct ob_outcome out;
        memset(&out, 0, sizeof out);
        ad->plugin.vt.decode_response(ad->state, &fx.order->order, &delivery, &resp, &out);
        assert_int_equal(out.kind, cases[i].kind);
        assert_string_equal(out.warehouse_order_id, cases[i].id);
    }
    ob_adapter_close(ad);
    ob_config_destroy(cfg);
}

static void test_bad_settings_are_named(void **state)
{
    (void)state;
    static const struct {
        const char *settings, *expect;
    } cases[] = {
        {"{}", "settings.request: required"},
        {"{\"request\": {\"path\": \"/o\"}}", "path and body are required"},
        {"{\"request\": {\"path\": \"/o\", \"body\": \"nowhere.json\"}}", "nowhere.json"},
        {"{\"request\": {\"path\": \"/o\", \"body\": \"" OB_SOURCE_DIR "/mappings/rest.json\"}, \"answers\": [{\"status\": [200]}]}",
         "settings.answers[0].outcome: required"},
        {"{\"request\": {\"path\": \"{{ nope | zz }}\", \"body\": \"x.json\"}}", "unknown filter 'zz'"},
        {"{\"colour\": 1, \"request\": {}}", "settings.colour: unknown setting"},
        {"{\"request\": {\"path\": \"/o\", \"body\": \"" OB_SOURCE_DIR "/mappings/rest.json\"},"
         " \"keys\": {\"k\": {\"cipher\": \"rot13\"}}}", "settings.keys.k.cipher: one of"},
        {"{\"request\": {\"path\": \"/o\", \"body\": \"" OB_SOURCE_DIR "/mappings/rest.json\"},"
         " \"keys\": {\"k\": {\"cipher\": \"aes-256-gcm\", \"credential\": \"nope\"}}}",
         "settings.keys.k.credential: names no configured credential"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048], err[1024] = "";
        struct ob_config *cfg = NULL;
        struct ob_adapter_instance *ad = NULL;
        snprintf(text, sizeof text,
                 "{\"kafka\": {\"bootstrap_servers\": \"x:1\"}, \"warehouses\": {\"W\": {"
                 "\"adapter\": \"mapping\", \"endpoint\": \"http://h\", \"settings\": %s}}}",
                 cases[i].settings);
        if (ob_config_parse(text, strlen(text), "<test>", &cfg, err, sizeof err) != 0)
            fail_msg("%s", err);
        assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &ad, err, sizeof err), -1);
        if (!strstr(err, cases[i].expect))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].expect);
        ob_config_destroy(cfg);
    }
}

static size_t collect(char *data, size_t size, size_t n, void *userp)
{
    ob_buf_append(userp, data, size * n);
    return size * n;
}

/* Send the encoded request to the REST simulator and classify its answer. */
static struct ob_outcome push(struct ob_sim *sim, const struct ob_request *req)
{
    char url[256];
    struct ob_buf body;
    struct curl_slist *headers = NULL;
    CURL *curl = curl_easy_init();
    long status = 0;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/orders", ob_sim_port(sim));
    for (size_t i = 0; i < req->n_headers; i++) {
        char line[512];
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        headers = curl_slist_append(headers, line);
    }
    ob_buf_init(&body, 1 << 20);
    ob_buf_append(&body, "", 0);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    struct ob_outcome out = decode(status, body.data);
    ob_buf_reset(&body);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return out;
}

static void test_round_trip_with_the_simulator(void **state)
{
    (void)state;
    char err[256];
    struct ob_sim_options opt = {.token = TOKEN, .threads = 1};
    struct ob_sim *sim = ob_sim_start(&opt, err, sizeof err);
    struct ob_request req;
    struct ob_sim_stats st;

    assert_non_null(sim);
    encode(&req);
    struct ob_outcome first = push(sim, &req);
    assert_int_equal(first.kind, OB_OUTCOME_ACCEPTED);
    assert_true(first.warehouse_order_id[0] != '\0');
    struct ob_outcome again = push(sim, &req);
    assert_int_equal(again.kind, OB_OUTCOME_ACCEPTED);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.bad_requests + st.unauthorized, 0);
    ob_request_reset(&req);
    ob_sim_stop(sim);
}

/* keys: a field encrypted with a named key from credentials; signature:
 * an HMAC of the body in a header. Both checked by decrypting and
 * recomputing with the SDK (whose primitives have known-answer tests). */
static void test_encrypted_fields_and_signature(void **state)
{
    (void)state;
    char err[1024] = "";
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *ad = NULL;
    struct ob_request req;
    /* 32 bytes and 16 bytes, base64 and hex */
    setenv("MAP_PII_KEY", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", 1);
    setenv("MAP_LEGACY_KEY", "00112233445566778899aabbccddeeff", 1);
    setenv("MAP_SIGN_KEY", "sign-secret", 1);
    const char *text =
        "{\"kafka\": {\"bootstrap_servers\": \"x:1\"}, \"warehouses\": {\"W\": {"
        "\"adapter\": \"mapping\", \"endpoint\": \"http://h\","
        "\"credentials\": {\"pii\": \"env:MAP_PII_KEY\", \"legacy\": \"env:MAP_LEGACY_KEY\","
        "  \"sign\": \"env:MAP_SIGN_KEY\"},"
        "\"settings\": {\"request\": {\"path\": \"/o\", \"body\": \"" OB_SOURCE_DIR
        "/tests/data/mappings/encrypted.json\", \"content_type\": \"application/json\"},"
        "\"keys\": {\"pii\": {\"cipher\": \"aes-256-gcm\", \"credential\": \"pii\"},"
        "  \"legacy\": {\"cipher\": \"sm4-ecb\", \"credential\": \"legacy\", \"key_encoding\": \"hex\","
        "   \"output\": \"hex\"}},"
        "\"signature\": {\"header\": \"X-Sign\", \"algorithm\": \"hmac-sha256\","
        "  \"credential\": \"sign\", \"key_encoding\": \"raw\", \"encoding\": \"base64\"}}}}}";

    if (ob_config_parse(text, strlen(text), "<test>", &cfg, err, sizeof err) != 0)
        fail_msg("%s", err);
    if (ob_adapter_open(cfg, &cfg->warehouses[0], &ad, err, sizeof err) != 0)
        fail_msg("%s", err);
    memset(&req, 0, sizeof req);
    if (ad->plugin.vt.encode(ad->state, &fx.order->order, &delivery, &req, err, sizeof err) != 0)
        fail_msg("%s", err);
    json_t *body = json_loadb(req.body, req.body_len, 0, NULL);
    assert_non_null(body);

    /* aes-256-gcm: base64(iv[12] | ciphertext | tag[16]) */
    const char *phone = json_string_value(json_object_get(body, "phone"));
    struct ob_buf raw, plain;
    ob_buf_init(&raw, 4096);
    ob_buf_init(&plain, 4096);
    assert_int_equal(ob_base64_decode(phone, strlen(phone), &raw), 0);
    assert_true(raw.len > 12 + 16);
    assert_int_equal(ob_decrypt(OB_AES_256_GCM, (const unsigned char *)"0123456789abcdef0123456789abcdef",
                                32, (const unsigned char *)raw.data, 12, NULL, 0, raw.data + 12,
                                raw.len - 12, &plain),
                     0);
    assert_int_equal(plain.len, strlen("13800138000"));
    assert_memory_equal(plain.data, "13800138000", plain.len);
    assert_string_not_equal(phone, "13800138000");
    ob_buf_reset(&raw);
    ob_buf_reset(&plain);

    /* sm4-ecb, hex output, no IV */
    const char *name = json_string_value(json_object_get(body, "name"));
    ob_buf_init(&raw, 4096);
    ob_buf_init(&plain, 4096);
    assert_int_equal(ob_hex_decode(name, strlen(name), &raw), 0);
    static const unsigned char legacy[16] = {0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                             0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};
    assert_int_equal(ob_decrypt(OB_SM4_ECB, legacy, 16, NULL, 0, NULL, 0, raw.data, raw.len, &plain), 0);
    assert_int_equal(plain.len, strlen("张三"));
    assert_memory_equal(plain.data, "张三", plain.len);
    ob_buf_reset(&raw);
    ob_buf_reset(&plain);

    /* the signature header: base64(HMAC-SHA256(key, body)) */
    unsigned char mac[OB_DIGEST_MAX];
    size_t mac_len = 0;
    struct ob_buf b64;
    assert_int_equal(ob_hmac(OB_SHA256, "sign-secret", 11, req.body, req.body_len, mac, &mac_len), 0);
    ob_buf_init(&b64, 256);
    assert_int_equal(ob_base64_encode(mac, mac_len, &b64), 0);
    assert_string_equal(req_header(&req, "X-Sign"), b64.data);
    ob_buf_reset(&b64);

    /* a fresh IV each time: the same field encrypts differently */
    struct ob_request again;
    memset(&again, 0, sizeof again);
    assert_int_equal(ad->plugin.vt.encode(ad->state, &fx.order->order, &delivery, &again, err,
                                          sizeof err), 0);
    json_t *body2 = json_loadb(again.body, again.body_len, 0, NULL);
    assert_string_not_equal(json_string_value(json_object_get(body2, "phone")), phone);
    json_decref(body2);
    ob_request_reset(&again);

    json_decref(body);
    ob_request_reset(&req);
    ob_adapter_close(ad);
    ob_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_matches_the_rest_contract),
        cmocka_unit_test(test_answer_rules),
        cmocka_unit_test(test_json_field_rules),
        cmocka_unit_test(test_bad_settings_are_named),
        cmocka_unit_test(test_round_trip_with_the_simulator),
        cmocka_unit_test(test_encrypted_fields_and_signature),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
