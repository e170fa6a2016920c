/*
 * test_cb_sf_express.c — status callbacks of the sf_express adapter: SF's
 * route push (路由推送) in JSON mode to <callback.path>/<callback_token>,
 * loaded through the real loader as the bridge uses it. Times are converted
 * here with timegm().
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

#define PARTNER_ENV "OB_TEST_CB_SF_PARTNER"
#define CHECK_WORD_ENV "OB_TEST_CB_SF_CHECK_WORD"
#define TOKEN_ENV "OB_TEST_CB_SF_TOKEN"
#define TOKEN "sf-cb-t0ken-5d41402abc4b2a76"

/* SF-1 takes route pushes; SF-2 has no callback_token; SF-3 reads times in
 * UTC. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'SF-1':{'adapter':'sf_express','endpoint':'https://sfapi-sbox.sf-express.com',"              \
    "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_WORD_ENV "',"    \
    "'callback_token':'env:" TOKEN_ENV "'}},"                                                     \
    "'SF-2':{'adapter':'sf_express','endpoint':'https://sfapi-sbox.sf-express.com',"              \
    "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_WORD_ENV "'}},"  \
    "'SF-3':{'adapter':'sf_express','endpoint':'https://sfapi-sbox.sf-express.com',"              \
    "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_WORD_ENV "',"    \
    "'callback_token':'env:" TOKEN_ENV "'},'settings':{'time_zone':'UTC'}}}}"

static struct ob_config *cfg;
static struct ob_adapter_instance *sf1, *sf2, *sf3;

static int setup(void **state)
{
    (void)state;
    if (setenv(PARTNER_ENV, "partner-1", 1) != 0 ||
        setenv(CHECK_WORD_ENV, "check-word-1", 1) != 0 || setenv(TOKEN_ENV, TOKEN, 1) != 0)
        return -1;
    return open_adapters(J(CONFIG), &cfg, (const char *const[]){"SF-1", "SF-2", "SF-3"},
                         (struct ob_adapter_instance **const[]){&sf1, &sf2, &sf3}, 3);
}

static int teardown(void **state)
{
    (void)state;
    close_adapters(cfg, (struct ob_adapter_instance *const[]){sf1, sf2, sf3}, 3);
    unsetenv(PARTNER_ENV);
    unsetenv(CHECK_WORD_ENV);
    unsetenv(TOKEN_ENV);
    return 0;
}

/* epoch ms of "yyyy-MM-dd HH:mm:ss" at `offset_h` hours east of UTC. */
static int64_t ms_at(const char *text, int offset_h)
{
    struct tm tm;

    memset(&tm, 0, sizeof tm);
    assert_int_equal(sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                            &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
                     6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return ((int64_t)timegm(&tm) - offset_h * 3600) * 1000;
}

struct call {
    struct ob_callback_request req;
    struct ob_callback_result res;
};

static enum ob_callback_verdict push_to(struct ob_adapter_instance *inst, struct call *c,
                                        const char *subpath, const char *body)
{
    static const struct ob_header headers[] = {{"Content-Type", "application/json"}};
    char path[256];
    enum ob_callback_verdict v;

    snprintf(path, sizeof path, "/callbacks/SF-1%s", subpath ? subpath : "");
    memset(c, 0, sizeof *c);
    c->req = (struct ob_callback_request){
        .method = "POST",
        .path = path,
        .subpath = subpath,
        .headers = headers,
        .n_headers = 1,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .remote_addr = "127.0.0.1",
        .now_ms = ms_at("2026-11-22 10:00:00", 8),
    };
    assert_non_null(inst->plugin.vt.decode_callback);
    v = inst->plugin.vt.decode_callback(inst->state, &c->req, &c->res);
    /* the token never appears in a reason */
    assert_null(strstr(c->res.reason, TOKEN));
    assert_null(strstr(c->res.reason, "t0ken"));
    if (v != OB_CALLBACK_OK) {
        assert_true(c->res.reason[0] != '\0');
        assert_int_equal(c->res.n_updates, 0);
    }
    return v;
}

static enum ob_callback_verdict push(struct call *c, const char *body)
{
    return push_to(sf1, c, "/" TOKEN, body);
}

static void route(char *out, size_t size, const char *mailno, const char *order_id,
                  const char *op_code, const char *remark)
{
    snprintf(out, size,
             "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"%s\",\"orderid\":\"%s\","
             "\"acceptTime\":\"2026-11-22 09:41:07\",\"acceptAddress\":\"深圳市\","
             "\"remark\":\"%s\",\"opCode\":\"%s\",\"id\":\"158918741444476\","
             "\"reasonCode\":\"\",\"reasonName\":\"\"}]}}",
             mailno, order_id, remark, op_code);
}

/* ---- the mapping table ----------------------------------------------------- */

static void test_every_code(void **state)
{
    (void)state;
    static const struct {
        const char *op_code;
        enum ob_fulfillment_status status;
    } table[] = {
        {"50", OB_STATUS_SHIPPED},    /* 顺丰已收取快件 */
        {"80", OB_STATUS_DELIVERED},  /* 已签收 */
        {"33", OB_STATUS_EXCEPTION},  /* 滞留 */
        {"70", OB_STATUS_EXCEPTION},  /* 派件不成功 */
        {"99", OB_STATUS_EXCEPTION},  /* 退回 */
        {"648", OB_STATUS_EXCEPTION}, /* 退回/转寄 */
        {"30", OB_STATUS_UNMAPPED},   {"31", OB_STATUS_UNMAPPED}, {"36", OB_STATUS_UNMAPPED},
        {"44", OB_STATUS_UNMAPPED},   {"54", OB_STATUS_UNMAPPED}, {"8000", OB_STATUS_UNMAPPED},
        {"500", OB_STATUS_UNMAPPED},  {"5", OB_STATUS_UNMAPPED},  {"800", OB_STATUS_UNMAPPED},
    };
    char body[1024], remark[64];
    struct call c;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        snprintf(remark, sizeof remark, "备注 %s", table[i].op_code);
        route(body, sizeof body, "SF1234567890123", "SO20231111000123", table[i].op_code,
              remark);
        assert_int_equal(push(&c, body), OB_CALLBACK_OK);
        assert_int_equal(c.res.n_updates, 1);
        const struct ob_status_update *u = &c.res.updates[0];
        assert_int_equal(u->status, table[i].status);
        assert_string_equal(u->raw_code, table[i].op_code);
        assert_string_equal(u->raw_text, remark);
        assert_string_equal(u->order_id, "SO20231111000123");
        assert_string_equal(u->carrier, "SF");
        assert_string_equal(u->tracking_no, "SF1234567890123");
        assert_string_equal(u->warehouse_order_id, "SF1234567890123");
        assert_int_equal(u->occurred_at_ms, ms_at("2026-11-22 09:41:07", 8));
        if (u->status == OB_STATUS_EXCEPTION)
            assert_string_equal(u->reason, remark);
        else
            assert_string_equal(u->reason, "");
        assert_string_equal(c.res.delivery_id, "");
    }
}

/* An exception without a remark takes SF's reasonName. */
static void test_exception_reason_name(void **state)
{
    (void)state;
    struct call c;

    assert_int_equal(push(&c, "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\","
                              "\"opCode\":\"70\",\"reasonCode\":\"14\",\"reasonName\":\"客户不在\"}]}}"),
                     OB_CALLBACK_OK);
    assert_int_equal(c.res.updates[0].status, OB_STATUS_EXCEPTION);
    assert_string_equal(c.res.updates[0].reason, "客户不在");
    assert_string_equal(c.res.updates[0].raw_text, "");
    assert_int_equal(c.res.updates[0].occurred_at_ms, 0); /* no acceptTime */
}

/* Up to 10 routes, in order; they may name several orders. */
static void test_ten_routes(void **state)
{
    (void)state;
    char body[8192], order_id[32];
    struct call c;
    size_t o = 0;
    static const char *const codes[] = {"50", "30", "31", "36", "44", "33", "70", "80", "99", "648"};

    o += (size_t)snprintf(body + o, sizeof body - o, "{\"Body\":{\"WaybillRoute\":[");
    for (int i = 0; i < 10; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"mailno\":\"SF%d\",\"orderid\":\"SO-%d\",\"acceptTime\":"
                              "\"2026-11-22 09:0%d:00\",\"remark\":\"r%d\",\"opCode\":\"%s\"}",
                              i ? "," : "", i, i, i, i, codes[i]);
    snprintf(body + o, sizeof body - o, "]}}");
    assert_int_equal(push(&c, body), OB_CALLBACK_OK);
    assert_int_equal(c.res.n_updates, 10);
    for (int i = 0; i < 10; i++) {
        char when[32];
        snprintf(order_id, sizeof order_id, "SO-%d", i);
        snprintf(when, sizeof when, "2026-11-22 09:0%d:00", i);
        assert_string_equal(c.res.updates[i].order_id, order_id);
        assert_string_equal(c.res.updates[i].raw_code, codes[i]);
        assert_int_equal(c.res.updates[i].occurred_at_ms, ms_at(when, 8));
    }
    assert_int_equal(c.res.updates[0].status, OB_STATUS_SHIPPED);
    assert_int_equal(c.res.updates[7].status, OB_STATUS_DELIVERED);

    /* an empty list is understood: nothing to report */
    assert_int_equal(push(&c, "{\"Body\":{\"WaybillRoute\":[]}}"), OB_CALLBACK_OK);
    assert_int_equal(c.res.n_updates, 0);
}

static void test_time_zone_setting(void **state)
{
    (void)state;
    char body[1024];
    struct call c;

    route(body, sizeof body, "SF1", "SO-1", "80", "");
    assert_int_equal(push_to(sf3, &c, "/" TOKEN, body), OB_CALLBACK_OK);
    assert_int_equal(c.res.updates[0].occurred_at_ms, ms_at("2026-11-22 09:41:07", 0));
}

/* ---- the token ----------------------------------------------------------------- */

static void test_token(void **state)
{
    (void)state;
    char body[1024];
    struct call c;
    static const char *const wrong[] = {
        "",
        "/",
        TOKEN,                      /* no slash */
        "/" TOKEN "/",              /* one more byte */
        "/" TOKEN "x",
        "/sf-cb-t0ken-5d41402abc4b2a7", /* one byte short */
        "/sf-cb-t0ken-5d41402abc4b2a77", /* same length, last byte */
        "/SF-CB-T0KEN-5D41402ABC4B2A76", /* case */
        "/wrong-token",
        "//" TOKEN,
    };

    route(body, sizeof body, "SF1", "SO-1", "80", "");
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        if (push_to(sf1, &c, wrong[i], body) != OB_CALLBACK_FORBIDDEN) {
            print_error("subpath %s accepted\n", wrong[i]);
            fail();
        }
    }
    assert_int_equal(push_to(sf1, &c, NULL, body), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "token in the path does not match");
    /* no callback_token configured: refused whatever the path */
    assert_int_equal(push_to(sf2, &c, "/" TOKEN, body), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "callback_token not configured");
    assert_int_equal(push_to(sf2, &c, "", body), OB_CALLBACK_FORBIDDEN);
    /* the token is checked before the body is read */
    assert_int_equal(push_to(sf1, &c, "/wrong", "not json"), OB_CALLBACK_FORBIDDEN);
}

/* ---- malformed --------------------------------------------------------------- */

static void test_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "not json",
        "[1,2",
        "[]",
        "{}",
        "{\"Body\":{}}",
        "{\"Body\":[]}",
        "{\"Body\":{\"WaybillRoute\":{}}}",
        "{\"Body\":{\"WaybillRoute\":\"x\"}}",
        "{\"Body\":{\"WaybillRoute\":[1]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"orderid\":\"SO-1\",\"opCode\":\"50\"}]}}", /* no mailno */
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"opCode\":\"50\"}]}}",   /* no orderid */
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\"}]}}", /* no opCode */
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\",\"opCode\":50}]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"\",\"opCode\":\"50\"}]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":1,\"orderid\":\"SO-1\",\"opCode\":\"50\"}]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\",\"opCode\":\"50\","
        "\"acceptTime\":\"2026-11-22T09:41:07\"}]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\",\"opCode\":\"50\","
        "\"acceptTime\":1763775667000}]}}",
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\",\"opCode\":\"50\","
        "\"remark\":[]}]}}",
        /* one good route and one bad: the whole push is refused, SF sends it again */
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"orderid\":\"SO-1\",\"opCode\":\"50\"},"
        "{\"mailno\":\"SF1\",\"opCode\":\"80\"}]}}",
        /* 65 bytes: would be cut into another order's id */
        "{\"Body\":{\"WaybillRoute\":[{\"mailno\":\"SF1\",\"opCode\":\"50\",\"orderid\":"
        "\"12345678901234567890123456789012345678901234567890123456789012345\"}]}}",
    };
    struct call c;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (push(&c, bad[i]) != OB_CALLBACK_MALFORMED) {
            print_error("body %zu not refused: %s\n", i, bad[i]);
            fail();
        }
    }
    assert_int_equal(push_to(sf1, &c, "/" TOKEN, NULL), OB_CALLBACK_MALFORMED);
}

static void test_more_than_ten_routes(void **state)
{
    (void)state;
    char body[8192];
    struct call c;
    size_t o = 0;

    o += (size_t)snprintf(body + o, sizeof body - o, "{\"Body\":{\"WaybillRoute\":[");
    for (int i = 0; i < 11; i++)
        o += (size_t)snprintf(body + o, sizeof body - o,
                              "%s{\"mailno\":\"SF%d\",\"orderid\":\"SO-%d\",\"opCode\":\"30\"}",
                              i ? "," : "", i, i);
    snprintf(body + o, sizeof body - o, "]}}");
    assert_int_equal(push(&c, body), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "11 routes");
}

/* ---- answers ---------------------------------------------------------------- */

static void test_answers(void **state)
{
    (void)state;
    static const struct {
        enum ob_callback_verdict verdict;
        const char *code, *msg;
    } table[] = {
        {OB_CALLBACK_OK, "0000", "成功"},
        {OB_CALLBACK_FORBIDDEN, "1000", "forbidden"},
        {OB_CALLBACK_MALFORMED, "1000", "malformed"},
        {OB_CALLBACK_UNKNOWN_ORDER, "1000", "unknown order"},
        {OB_CALLBACK_TOO_LARGE, "1000", "too large"},
        {OB_CALLBACK_RETRY, "1000", "try again later"},
    };
    struct ob_callback_request req = {
        .method = "POST", .path = "/callbacks/SF-1/" TOKEN, .subpath = "/" TOKEN};
    struct ob_callback_reply reply;

    assert_non_null(sf1->plugin.vt.answer_callback);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        memset(&reply, 0, sizeof reply);
        sf1->plugin.vt.answer_callback(sf1->state, &req, table[i].verdict,
                                       "token in the path does not match " TOKEN, &reply);
        assert_true(reply.status == 0 || reply.status == 200);
        assert_contains(reply.content_type, "application/json");
        assert_null(strstr(reply.body, TOKEN));
        json_t *doc = json_loads(reply.body, JSON_REJECT_DUPLICATES, NULL);
        assert_true(json_is_object(doc));
        assert_int_equal(json_object_size(doc), 2);
        assert_string_equal(json_string_value(json_object_get(doc, "return_code")),
                            table[i].code);
        assert_string_equal(json_string_value(json_object_get(doc, "return_msg")), table[i].msg);
        json_decref(doc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code),
        cmocka_unit_test(test_exception_reason_name),
        cmocka_unit_test(test_ten_routes),
        cmocka_unit_test(test_time_zone_setting),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_more_than_ten_routes),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
