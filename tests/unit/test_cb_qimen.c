/*
 * test_cb_qimen.c — status callbacks of the qimen adapter
 * (taobao.qimen.deliveryorder.confirm and taobao.qimen.orderprocess.report),
 * loaded through the real loader as the bridge uses it. The sign is made
 * here independently (qsort, OpenSSL's MD5) and checked against the official
 * Qimen vector first; times are converted here with timegm().
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

#include <openssl/evp.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define APP_KEY_ENV "OB_TEST_CB_QIMEN_APP_KEY"
#define SECRET_ENV "OB_TEST_CB_QIMEN_SECRET"
#define VEC_APP_KEY_ENV "OB_TEST_CB_QIMEN_VEC_APP_KEY"
#define VEC_SECRET_ENV "OB_TEST_CB_QIMEN_VEC_SECRET"
#define APP_KEY "23456789"
#define SECRET "qm-cb-s3cr3t-71d0"
#define CUSTOMER "c1702345678"

#define CONFIRM "taobao.qimen.deliveryorder.confirm"
#define REPORT "taobao.qimen.orderprocess.report"

/* QM-HZ: Asia/Shanghai (default); QM-UTC: time_zone UTC; QM-VEC: the
 * official vector's credentials. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'QM-HZ':{'adapter':'qimen','endpoint':'https://qimen.example.com/router/qimen/service',"     \
    "'credentials':{'app_key':'env:" APP_KEY_ENV "','secret':'env:" SECRET_ENV "'},"              \
    "'settings':{'customer_id':'" CUSTOMER "','owner_code':'OWN'}},"                              \
    "'QM-UTC':{'adapter':'qimen','endpoint':'https://qimen.example.com/router/qimen/service',"    \
    "'credentials':{'app_key':'env:" APP_KEY_ENV "','secret':'env:" SECRET_ENV "'},"              \
    "'settings':{'customer_id':'" CUSTOMER "','owner_code':'OWN','time_zone':'UTC'}},"            \
    "'QM-VEC':{'adapter':'qimen','endpoint':'https://qimen.example.com/router/qimen/service',"    \
    "'credentials':{'app_key':'env:" VEC_APP_KEY_ENV "','secret':'env:" VEC_SECRET_ENV "'},"      \
    "'settings':{'customer_id':'stub-cust-code','owner_code':'OWN'}}}}"

static struct ob_config *cfg;
static struct ob_adapter_instance *hz, *utc, *vec;

static int setup(void **state)
{
    (void)state;
    if (setenv(APP_KEY_ENV, APP_KEY, 1) != 0 || setenv(SECRET_ENV, SECRET, 1) != 0 ||
        setenv(VEC_APP_KEY_ENV, "testerp_appkey", 1) != 0 || setenv(VEC_SECRET_ENV, "test", 1) != 0)
        return -1;
    return open_adapters(J(CONFIG), &cfg, (const char *const[]){"QM-HZ", "QM-UTC", "QM-VEC"},
                         (struct ob_adapter_instance **const[]){&hz, &utc, &vec}, 3);
}

static int teardown(void **state)
{
    (void)state;
    close_adapters(cfg, (struct ob_adapter_instance *const[]){hz, utc, vec}, 3);
    unsetenv(APP_KEY_ENV);
    unsetenv(SECRET_ENV);
    unsetenv(VEC_APP_KEY_ENV);
    unsetenv(VEC_SECRET_ENV);
    return 0;
}

/* ---- the test's own signer ------------------------------------------------ */

struct qparam {
    const char *key, *value;
};

static int by_key(const void *a, const void *b)
{
    return strcmp(((const struct qparam *)a)->key, ((const struct qparam *)b)->key);
}

/* UPPER(hex(MD5(secret + sorted k+v (sign left out) + body + secret))). */
static void qimen_sign(const char *secret, const struct qparam *params, size_t n, const char *body,
                       char out[33])
{
    struct qparam sorted[16];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    assert_true(n <= 16);
    memcpy(sorted, params, n * sizeof *params);
    qsort(sorted, n, sizeof *sorted, by_key);
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestInit_ex(ctx, EVP_md5(), NULL), 1);
    EVP_DigestUpdate(ctx, secret, strlen(secret));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(sorted[i].key, "sign") == 0)
            continue;
        EVP_DigestUpdate(ctx, sorted[i].key, strlen(sorted[i].key));
        EVP_DigestUpdate(ctx, sorted[i].value, strlen(sorted[i].value));
    }
    EVP_DigestUpdate(ctx, body, strlen(body));
    EVP_DigestUpdate(ctx, secret, strlen(secret));
    assert_int_equal(EVP_DigestFinal_ex(ctx, md, &md_len), 1);
    EVP_MD_CTX_free(ctx);
    assert_int_equal(md_len, 16);
    for (unsigned i = 0; i < md_len; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
}

/* RFC 3986 percent-encoding of a value for the query. */
static void encode(const char *in, char *out, size_t size)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < size; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~')
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, size - o, "%%%02X", *p);
    }
    out[o] = '\0';
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

/* ---- one callback ------------------------------------------------------------ */

#define TS "2026-11-22 10:00:00" /* the gateway's timestamp in the tests */

struct call {
    struct qparam params[16];
    size_t n;
    char sign[33];
    char query[2048];
    const char *body;
    int64_t now_ms;
    struct ob_callback_request req;
    struct ob_callback_result res;
};

static void add(struct call *c, const char *key, const char *value)
{
    c->params[c->n++] = (struct qparam){key, value};
}

/* The usual parameters for `method`, signed with `secret`; now = TS in
 * Shanghai. */
static void prepare(struct call *c, const char *method, const char *body, const char *secret)
{
    memset(c, 0, sizeof *c);
    add(c, "method", method);
    add(c, "app_key", APP_KEY);
    add(c, "customerId", CUSTOMER);
    add(c, "format", "xml");
    add(c, "sign_method", "md5");
    add(c, "timestamp", TS);
    add(c, "v", "2.0");
    c->body = body;
    c->now_ms = ms_at(TS, 8);
    qimen_sign(secret, c->params, c->n, body, c->sign);
}

/* The query from the parameters, with `sign` (NULL: left out). */
static void build_query(struct call *c, const char *sign)
{
    char value[512];
    size_t o = 0;

    c->query[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        encode(c->params[i].value, value, sizeof value);
        o += (size_t)snprintf(c->query + o, sizeof c->query - o, "%s%s=%s", i ? "&" : "",
                              c->params[i].key, value);
    }
    if (sign)
        snprintf(c->query + o, sizeof c->query - o, "&sign=%s", sign);
}

static void assert_clean_reason(const struct call *c)
{
    assert_null(strstr(c->res.reason, SECRET));
    assert_null(strstr(c->res.reason, c->sign));
    assert_null(strstr(c->res.reason, "s3cr3t"));
}

/* Send c->query as it is. */
static enum ob_callback_verdict send_raw(struct ob_adapter_instance *inst, struct call *c)
{
    enum ob_callback_verdict v;
    static const struct ob_header headers[] = {{"Content-Type", "text/xml;charset=utf-8"}};

    memset(&c->res, 0, sizeof c->res);
    c->req = (struct ob_callback_request){
        .method = "POST",
        .path = "/callbacks/QM-HZ",
        .subpath = "",
        .query = c->query,
        .headers = headers,
        .n_headers = 1,
        .body = c->body,
        .body_len = strlen(c->body),
        .remote_addr = "127.0.0.1",
        .now_ms = c->now_ms,
    };
    assert_non_null(inst->plugin.vt.decode_callback);
    v = inst->plugin.vt.decode_callback(inst->state, &c->req, &c->res);
    assert_clean_reason(c);
    if (v == OB_CALLBACK_OK) {
        assert_int_equal(c->res.n_updates, 1);
        assert_true(c->res.updates[0].raw_code[0] != '\0');
    } else {
        assert_int_equal(c->res.n_updates, 0);
        assert_true(c->res.reason[0] != '\0');
    }
    return v;
}

/* Build the query with the computed sign and send it. */
static enum ob_callback_verdict send_signed(struct ob_adapter_instance *inst, struct call *c)
{
    build_query(c, c->sign);
    return send_raw(inst, c);
}

/* A correctly signed callback of `method` and `body` to QM-HZ. */
static enum ob_callback_verdict signed_call(struct call *c, const char *method, const char *body)
{
    prepare(c, method, body, SECRET);
    return send_signed(hz, c);
}

/* ---- the official vector ----------------------------------------------------- */

static void test_official_vector(void **state)
{
    (void)state;
    struct call c;
    static const char body[] =
        "<request><deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode></deliveryOrder>"
        "</request>";

    memset(&c, 0, sizeof c);
    add(&c, "v", "2.0");
    add(&c, "timestamp", "2015-04-26 00:00:07");
    add(&c, "sign", "IGNORED");
    add(&c, "method", "taobao.qimen.deliveryorder.create");
    add(&c, "format", "xml");
    add(&c, "customerId", "stub-cust-code");
    add(&c, "sign_method", "md5");
    add(&c, "app_key", "testerp_appkey");
    qimen_sign("test", c.params, c.n, body, c.sign);
    assert_string_equal(c.sign, "F040FCBBEADFF162EA428B96E353EC83");

    /* The vector as a callback, as its query would arrive: the sign passes,
     * so the verdict is about the method (a push method, not a callback). */
    snprintf(c.query, sizeof c.query,
             "method=taobao.qimen.deliveryorder.create&timestamp=2015-04-26%%2000%%3A00%%3A07"
             "&format=xml&app_key=testerp_appkey&v=2.0&sign_method=md5&customerId=stub-cust-code"
             "&sign=F040FCBBEADFF162EA428B96E353EC83");
    c.body = body;
    c.now_ms = ms_at("2015-04-26 00:00:07", 8);
    assert_int_equal(send_raw(vec, &c), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "method");
    /* '+' for the space, lower-case hex: the same parameters */
    snprintf(c.query, sizeof c.query,
             "method=taobao.qimen.deliveryorder.create&timestamp=2015-04-26+00:00:07"
             "&format=xml&app_key=testerp_appkey&v=2.0&sign_method=md5&customerId=stub-cust-code"
             "&sign=f040fcbbeadff162ea428b96e353ec83");
    assert_int_equal(send_raw(vec, &c), OB_CALLBACK_MALFORMED);
    /* a sign one digit off */
    snprintf(c.query, sizeof c.query,
             "method=taobao.qimen.deliveryorder.create&timestamp=2015-04-26%%2000%%3A00%%3A07"
             "&format=xml&app_key=testerp_appkey&v=2.0&sign_method=md5&customerId=stub-cust-code"
             "&sign=F040FCBBEADFF162EA428B96E353EC84");
    assert_int_equal(send_raw(vec, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "sign mismatch");
}

/* ---- deliveryorder.confirm ------------------------------------------------- */

static void confirm_body(char *out, size_t size, const char *status, const char *extra_packages)
{
    snprintf(out, size,
             "<request><deliveryOrder><deliveryOrderCode>SO20231111000123</deliveryOrderCode>"
             "<deliveryOrderId>QM000042</deliveryOrderId><warehouseCode>HZ01</warehouseCode>"
             "<orderType>JYCK</orderType><status>%s</status>"
             "<orderConfirmTime>2026-11-22 09:58:30</orderConfirmTime></deliveryOrder>"
             "<packages><package><logisticsCode>SF</logisticsCode>"
             "<expressCode>SF1234567890123</expressCode></package>%s</packages></request>",
             status, extra_packages);
}

static void test_confirm_statuses(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        enum ob_fulfillment_status status;
    } table[] = {
        {"DELIVERED", OB_STATUS_SHIPPED}, /* left the warehouse */
        {"ACCEPT", OB_STATUS_ALLOCATED},
        {"PICK", OB_STATUS_PICKED},
        {"PACKAGE", OB_STATUS_PACKED},
        {"EXCEPTION", OB_STATUS_EXCEPTION},
        {"CANCELED", OB_STATUS_CANCELLED},
        {"PARTDELIVERED", OB_STATUS_UNMAPPED},
        {"NEW", OB_STATUS_UNMAPPED},
        {"delivered", OB_STATUS_UNMAPPED}, /* codes are exact */
    };
    char body[2048];
    struct call c;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        confirm_body(body, sizeof body, table[i].code,
                     "<package><logisticsCode>YTO</logisticsCode><expressCode>YT9</expressCode>"
                     "</package>");
        assert_int_equal(signed_call(&c, CONFIRM, body), OB_CALLBACK_OK);
        const struct ob_status_update *u = &c.res.updates[0];
        assert_int_equal(u->status, table[i].status);
        assert_string_equal(u->raw_code, table[i].code);
        assert_string_equal(u->order_id, "SO20231111000123");
        assert_string_equal(u->warehouse_order_id, "QM000042");
        assert_int_equal(u->occurred_at_ms, ms_at("2026-11-22 09:58:30", 8));
        /* the first package */
        assert_string_equal(u->carrier, "SF");
        assert_string_equal(u->tracking_no, "SF1234567890123");
        assert_string_equal(c.res.delivery_id, "");
    }
}

/* Optional parts left out: no packages, no confirm time, no id. */
static void test_confirm_minimal(void **state)
{
    (void)state;
    struct call c;
    static const char body[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<request>\n  <deliveryOrder>\n"
        "    <deliveryOrderCode> SO-7 </deliveryOrderCode>\n    <status>DELIVERED</status>\n"
        "  </deliveryOrder>\n</request>\n";

    assert_int_equal(signed_call(&c, CONFIRM, body), OB_CALLBACK_OK);
    assert_string_equal(c.res.updates[0].order_id, "SO-7");
    assert_int_equal(c.res.updates[0].status, OB_STATUS_SHIPPED);
    assert_int_equal(c.res.updates[0].occurred_at_ms, 0);
    assert_string_equal(c.res.updates[0].carrier, "");
    assert_string_equal(c.res.updates[0].tracking_no, "");
    assert_string_equal(c.res.updates[0].warehouse_order_id, "");
}

/* ---- orderprocess.report --------------------------------------------------- */

static void report_body(char *out, size_t size, const char *status, const char *info,
                        const char *remark)
{
    snprintf(out, size,
             "<request><order><orderCode>SO20231111000123</orderCode><orderId>QM000042</orderId>"
             "<orderType>JYCK</orderType><warehouseCode>HZ01</warehouseCode></order>"
             "<process><processStatus>%s</processStatus>"
             "<operateTime>2026-11-22 09:59:59</operateTime>%s%s</process></request>",
             status, info, remark);
}

static void test_report_statuses(void **state)
{
    (void)state;
    static const struct {
        const char *code;
        enum ob_fulfillment_status status;
    } table[] = {
        {"ACCEPT", OB_STATUS_ALLOCATED},    {"PICK", OB_STATUS_PICKED},
        {"PACKAGE", OB_STATUS_PACKED},      {"DELIVERED", OB_STATUS_SHIPPED},
        {"EXCEPTION", OB_STATUS_EXCEPTION}, {"CANCELED", OB_STATUS_CANCELLED},
        {"PRINT", OB_STATUS_UNMAPPED},      {"CHECK", OB_STATUS_UNMAPPED},
        {"WEIGH", OB_STATUS_UNMAPPED},      {"SIGN", OB_STATUS_UNMAPPED},
        {"SOMETHING_NEW", OB_STATUS_UNMAPPED},
    };
    char body[2048];
    struct call c;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        report_body(body, sizeof body, table[i].code, "<operateInfo>操作说明</operateInfo>",
                    "<remark>缺货 &amp; 待补</remark>");
        assert_int_equal(signed_call(&c, REPORT, body), OB_CALLBACK_OK);
        const struct ob_status_update *u = &c.res.updates[0];
        assert_int_equal(u->status, table[i].status);
        assert_string_equal(u->raw_code, table[i].code);
        assert_string_equal(u->raw_text, "操作说明");
        assert_string_equal(u->order_id, "SO20231111000123");
        assert_string_equal(u->warehouse_order_id, "QM000042");
        assert_int_equal(u->occurred_at_ms, ms_at("2026-11-22 09:59:59", 8));
        if (u->status == OB_STATUS_EXCEPTION || u->status == OB_STATUS_CANCELLED)
            assert_string_equal(u->reason, "缺货 & 待补");
        else
            assert_string_equal(u->reason, "");
    }

    /* the reason falls back to operateInfo, raw_text to the remark */
    report_body(body, sizeof body, "EXCEPTION", "<operateInfo>库存不足</operateInfo>", "");
    assert_int_equal(signed_call(&c, REPORT, body), OB_CALLBACK_OK);
    assert_string_equal(c.res.updates[0].reason, "库存不足");
    report_body(body, sizeof body, "CANCELED", "", "<remark>买家取消</remark>");
    assert_int_equal(signed_call(&c, REPORT, body), OB_CALLBACK_OK);
    assert_string_equal(c.res.updates[0].reason, "买家取消");
    assert_string_equal(c.res.updates[0].raw_text, "买家取消");
}

/* A long Chinese remark is cut at a character boundary. */
static void test_long_text_cut_whole_characters(void **state)
{
    (void)state;
    char remark[2048], body[4096];
    struct call c;
    size_t o = 0;

    o += (size_t)snprintf(remark, sizeof remark, "<remark>a");
    for (int i = 0; i < 200; i++)
        o += (size_t)snprintf(remark + o, sizeof remark - o, "缺");
    snprintf(remark + o, sizeof remark - o, "</remark>");
    report_body(body, sizeof body, "EXCEPTION", "", remark);
    assert_int_equal(signed_call(&c, REPORT, body), OB_CALLBACK_OK);
    const char *r = c.res.updates[0].reason;
    size_t len = strlen(r);
    assert_true(len > 200 && len < sizeof c.res.updates[0].reason);
    assert_int_equal((len - 1) % 3, 0); /* "a" + whole 3-byte characters */
}

/* ---- authentication -------------------------------------------------------- */

static const char *good_body(void)
{
    static char body[2048];
    report_body(body, sizeof body, "PICK", "", "");
    return body;
}

static void test_tampered(void **state)
{
    (void)state;
    struct call c;
    char body[2048];

    assert_int_equal(signed_call(&c, REPORT, good_body()), OB_CALLBACK_OK);
    /* the body changed after signing */
    report_body(body, sizeof body, "CANCELED", "", "");
    c.body = body;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_string_equal(c.res.reason, "sign mismatch");
    /* a parameter changed after signing */
    c.body = good_body();
    c.params[6].value = "2.1"; /* v */
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    /* a parameter added after signing */
    c.params[6].value = "2.0";
    add(&c, "extra", "1");
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    /* a parameter signed but not sent */
    prepare(&c, REPORT, good_body(), SECRET);
    add(&c, "partner_id", "top-sdk");
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    c.n--;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    /* extra signed parameters are fine */
    c.n++;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_OK);
}

static void test_wrong_or_missing_sign(void **state)
{
    (void)state;
    struct call c;

    /* another secret */
    prepare(&c, REPORT, good_body(), "not-the-secret");
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    /* no sign, an empty one, a short one */
    prepare(&c, REPORT, good_body(), SECRET);
    build_query(&c, NULL);
    assert_int_equal(send_raw(hz, &c), OB_CALLBACK_FORBIDDEN);
    build_query(&c, "");
    assert_int_equal(send_raw(hz, &c), OB_CALLBACK_FORBIDDEN);
    build_query(&c, "ABCDEF");
    assert_int_equal(send_raw(hz, &c), OB_CALLBACK_FORBIDDEN);
    /* lower-case hex is the same sign */
    for (char *p = c.sign; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_OK);

    /* sign_method other than md5, or none */
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[4].value = "hmac";
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "sign_method");
    c.params[4] = c.params[--c.n];
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);

    /* another app_key or customerId, correctly signed */
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[1].value = "99999999";
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "app_key");
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[2].value = "c-other";
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "customerId");
    /* customerId missing */
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[2] = c.params[--c.n];
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
}

static void test_timestamp_window(void **state)
{
    (void)state;
    struct call c;
    int64_t sent = ms_at(TS, 8);

    prepare(&c, REPORT, good_body(), SECRET);
    /* exactly 10 minutes either way is inside */
    c.now_ms = sent + 600000;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_OK);
    c.now_ms = sent - 600000;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_OK);
    /* stale, future */
    c.now_ms = sent + 601000;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "past");
    c.now_ms = sent - 601000;
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "future");
    /* the zone is the warehouse's time_zone: 10:00 in UTC is 8 hours later */
    c.now_ms = sent;
    assert_int_equal(send_signed(utc, &c), OB_CALLBACK_FORBIDDEN);
    c.now_ms = ms_at(TS, 0);
    assert_int_equal(send_signed(utc, &c), OB_CALLBACK_OK);
    /* body times in the warehouse's zone too */
    assert_int_equal(c.res.updates[0].occurred_at_ms, ms_at("2026-11-22 09:59:59", 0));

    /* unreadable or missing timestamp, correctly signed */
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[5].value = "2026/11/22 10:00:00";
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
    assert_contains(c.res.reason, "timestamp");
    c.params[5] = c.params[--c.n];
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_FORBIDDEN);
}

/* ---- malformed --------------------------------------------------------------- */

static void test_unknown_method_and_format(void **state)
{
    (void)state;
    struct call c;

    assert_int_equal(signed_call(&c, "taobao.qimen.entryorder.confirm", good_body()),
                     OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "method");
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[0] = c.params[--c.n]; /* no method at all */
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_MALFORMED);
    prepare(&c, REPORT, good_body(), SECRET);
    c.params[3].value = "json";
    qimen_sign(SECRET, c.params, c.n, c.body, c.sign);
    assert_int_equal(send_signed(hz, &c), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "format");
}

static void test_malformed_query(void **state)
{
    (void)state;
    struct call c;
    char query[2048];
    static const char *const suffixes[] = {"&v=2.0", "&x", "&=1", "&bad=%G1", "&bad=%0", "&nul=%00"};

    prepare(&c, REPORT, good_body(), SECRET);
    build_query(&c, c.sign);
    snprintf(query, sizeof query, "%s", c.query);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(c.query, sizeof c.query, "%s%s", query, suffixes[i]);
        assert_int_equal(send_raw(hz, &c), OB_CALLBACK_MALFORMED);
    }
    c.query[0] = '\0';
    assert_int_equal(send_raw(hz, &c), OB_CALLBACK_FORBIDDEN); /* no parameters: no sign */
}

static void test_malformed_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *method, *body;
    } bad[] = {
        {REPORT, ""},
        {REPORT, "not xml"},
        {REPORT, "{\"order\":1}"},
        {REPORT, "<request><order><orderCode>SO-1</orderCode></order>"}, /* cut */
        {REPORT, "<response><order><orderCode>SO-1</orderCode></order><process><processStatus>"
                 "PICK</processStatus></process></response>"},            /* root */
        {REPORT, "<request><process><processStatus>PICK</processStatus></process></request>"},
        {REPORT, "<request><order><orderCode>SO-1</orderCode></order></request>"},
        {REPORT, "<request><order><orderCode></orderCode></order><process><processStatus>PICK"
                 "</processStatus></process></request>"},
        {REPORT, "<request><order><orderCode>SO-1</orderCode></order><process><processStatus>"
                 "</processStatus></process></request>"},
        {REPORT, "<request><order><orderCode>SO-1</orderCode></order><process><processStatus>PICK"
                 "</processStatus><operateTime>yesterday</operateTime></process></request>"},
        {REPORT, "<request><order><orderCode>SO-1</orderCode></order><process><processStatus>PICK"
                 "</processStatus><operateTime>2026-02-30 10:00:00</operateTime></process>"
                 "</request>"},
        /* 65 bytes: would be cut into another order's id */
        {REPORT, "<request><order><orderCode>"
                 "12345678901234567890123456789012345678901234567890123456789012345"
                 "</orderCode></order><process><processStatus>PICK</processStatus></process>"
                 "</request>"},
        /* entities: a DTD is refused outright */
        {REPORT, "<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY x \"SO-1\">]><request><order>"
                 "<orderCode>&x;</orderCode></order><process><processStatus>PICK</processStatus>"
                 "</process></request>"},
        {REPORT, "<?xml version=\"1.0\"?><!DOCTYPE request SYSTEM \"file:///etc/passwd\"><request>"
                 "<order><orderCode>SO-1</orderCode></order><process><processStatus>PICK"
                 "</processStatus></process></request>"},
        {CONFIRM, "<request><deliveryOrder><status>DELIVERED</status></deliveryOrder></request>"},
        {CONFIRM, "<request><deliveryOrder><deliveryOrderCode>SO-1</deliveryOrderCode>"
                  "</deliveryOrder></request>"},
        {CONFIRM, "<request><packages/></request>"},
        {CONFIRM, "<request><deliveryOrder><deliveryOrderCode>SO-1</deliveryOrderCode><status>"
                  "DELIVERED</status><orderConfirmTime>2026-11-22T10:00:00Z</orderConfirmTime>"
                  "</deliveryOrder></request>"},
        /* the other method's body */
        {CONFIRM, "<request><order><orderCode>SO-1</orderCode></order><process><processStatus>"
                  "PICK</processStatus></process></request>"},
    };
    struct call c;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (signed_call(&c, bad[i].method, bad[i].body) != OB_CALLBACK_MALFORMED) {
            print_error("body %zu not refused: %s\n", i, bad[i].body);
            fail();
        }
    }
    /* Correctly signed bombs (issue 10): refused before anything expands. */
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE request [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]>"
        "<request><order><orderCode>SO-1</orderCode></order><process><processStatus>&e;"
        "</processStatus><remark>&e;</remark></process></request>";
    assert_int_equal(signed_call(&c, REPORT, laughs), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "DTD");
    size_t o;
    char *quad = quadratic_xml("<request><order><orderCode>SO-1</orderCode></order><process>"
                               "<processStatus>PICK</processStatus><remark>",
                               "</remark></process></request>", 40000, 40000, &o);
    assert_int_equal(signed_call(&c, REPORT, quad), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "DTD");
    free(quad);
    char *deep = malloc(100 * 10 + 200);
    assert_non_null(deep);
    o = (size_t)sprintf(deep, "<request><order><orderCode>SO-1</orderCode></order>");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(deep + o, "<x>");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(deep + o, "</x>");
    sprintf(deep + o, "</request>");
    assert_int_equal(signed_call(&c, REPORT, deep), OB_CALLBACK_MALFORMED);
    assert_contains(c.res.reason, "deeper than 64");
    free(deep);
    /* 64 bytes fit */
    assert_int_equal(signed_call(&c, REPORT,
                                 "<request><order><orderCode>"
                                 "1234567890123456789012345678901234567890123456789012345678901234"
                                 "</orderCode></order><process><processStatus>PICK</processStatus>"
                                 "</process></request>"),
                     OB_CALLBACK_OK);
    assert_int_equal(strlen(c.res.updates[0].order_id), 64);
}

/* ---- answers ---------------------------------------------------------------- */

static void test_answers(void **state)
{
    (void)state;
#define ANSWER(flag, code, message)                                                               \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>" flag "</flag><code>" code        \
    "</code><message>" message "</message></response>"
    static const struct {
        enum ob_callback_verdict verdict;
        const char *body;
    } table[] = {
        {OB_CALLBACK_OK, ANSWER("success", "0", "ok")},
        {OB_CALLBACK_FORBIDDEN, ANSWER("failure", "sign-check-failure", "Illegal request")},
        {OB_CALLBACK_MALFORMED, ANSWER("failure", "malformed", "malformed request")},
        {OB_CALLBACK_UNKNOWN_ORDER, ANSWER("failure", "unknown-order", "unknown order")},
        {OB_CALLBACK_TOO_LARGE, ANSWER("failure", "too-large", "request too large")},
        {OB_CALLBACK_RETRY, ANSWER("failure", "retry", "try again later")},
    };
#undef ANSWER
    struct ob_callback_request req = {.method = "POST", .path = "/callbacks/QM-HZ", .subpath = ""};
    struct ob_callback_reply reply;

    assert_non_null(hz->plugin.vt.answer_callback);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        memset(&reply, 0, sizeof reply);
        hz->plugin.vt.answer_callback(hz->state, &req, table[i].verdict, "sign mismatch " SECRET,
                                      &reply);
        assert_true(reply.status == 0 || reply.status == 200);
        assert_string_equal(reply.body, table[i].body);
        assert_string_equal(reply.content_type, "text/xml;charset=utf-8");
        assert_null(strstr(reply.body, SECRET));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_vector),
        cmocka_unit_test(test_confirm_statuses),
        cmocka_unit_test(test_confirm_minimal),
        cmocka_unit_test(test_report_statuses),
        cmocka_unit_test(test_long_text_cut_whole_characters),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_wrong_or_missing_sign),
        cmocka_unit_test(test_timestamp_window),
        cmocka_unit_test(test_unknown_method_and_format),
        cmocka_unit_test(test_malformed_query),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
