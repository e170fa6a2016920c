/*
 * test_wh_sf_express.c — the sf_express adapter (adapters/sf_express/) loaded
 * through the real loader (ob_adapter_open), as the bridge uses it: the form
 * request it builds for contracts/example-order.json, SF's msgDigest
 * (official vector and an independent recomputation), how it classifies SF's
 * answers, its settings, and a round trip through the sf_express simulator
 * profile (sim/profile_sf_express.c).
 *
 * Config documents are written with single quotes and turned into JSON by
 * J(); no value here needs a real apostrophe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include <orderbridge/sdk.h>

#include "adapter.h"
#include "config.h"
#include "order.h"
#include "sim.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif
#ifndef OB_CONTRACTS_DIR
#error "OB_CONTRACTS_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define PARTNER_ENV "OB_TEST_SF_PARTNER_ID"
#define CHECK_ENV "OB_TEST_SF_CHECK_WORD"
#define PARTNER "SKE_OB_0001"
/* A check word with characters the Java URL encoding treats specially. */
#define CHECK_WORD "cHk-W0rd_~*.sf 9"
/* printf 'orderbridge.idem.v1\nSF-SH-01\nSO20231111000123\norder.created\n1' | sha256sum */
#define IDEM_KEY "5484455c515c2030d527a911ca07d25965211af9b6967898ebf4ede2539aa282"
#define EXAMPLE_REMARK "双11 预售尾款 & <请勿> 放快递柜"

/* Two warehouses: SF-SH-01 with every setting, SF-SZ-02 with the defaults. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'SF-SH-01':{'adapter':'sf_express','endpoint':'https://sfapi-sbox.sf-express.com/',"         \
    "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_ENV "'},"        \
    "'settings':{'express_type_id':2,'pay_method':3,'monthly_card':'7551234567',"                 \
    "'time_zone':'+08:00'}},"                                                                     \
    "'SF-SZ-02':{'adapter':'sf_express','endpoint':'http://127.0.0.1:8080/sf',"                   \
    "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_ENV "'}}}}"

struct fixture {
    struct ob_config *cfg;
    struct ob_adapter_instance *sh; /* SF-SH-01, every setting */
    struct ob_adapter_instance *sz; /* SF-SZ-02, defaults */
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
    if (setenv(PARTNER_ENV, PARTNER, 1) != 0 || setenv(CHECK_ENV, CHECK_WORD, 1) != 0)
        return -1;
    unsetenv("OB_ADAPTER_PATH");
    json = J(CONFIG);
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    if (ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "SF-SH-01"), &fx.sh, err,
                        sizeof err) != 0 ||
        ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "SF-SZ-02"), &fx.sz, err,
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
    ob_adapter_close(fx.sh);
    ob_adapter_close(fx.sz);
    ob_config_destroy(fx.cfg);
    unsetenv(PARTNER_ENV);
    unsetenv(CHECK_ENV);
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

/* ------------------------------------------------------------------------ */
/* the form body, decoded here independently of the SDK                      */

#define MAX_FIELDS 16

struct form {
    size_t n;
    char *key[MAX_FIELDS];
    char *value[MAX_FIELDS];
    char *raw_value[MAX_FIELDS]; /* as it was on the wire */
};

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* application/x-www-form-urlencoded: '+' is a space, %XX a byte (upper-case
 * hex, as Java writes it). Anything else malformed fails the test. */
static char *form_decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t n = 0;

    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[n++] = ' ';
        } else if (s[i] == '%') {
            assert_true(i + 2 < len);
            assert_true(hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0);
            out[n++] = (char)(hexval((unsigned char)s[i + 1]) << 4 | hexval((unsigned char)s[i + 2]));
            i += 2;
        } else {
            /* Java's URLEncoder leaves only these bytes as they are. */
            assert_true(isalnum((unsigned char)s[i]) || strchr(".-*_", s[i]));
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

static void form_parse(const char *body, size_t len, struct form *f)
{
    const char *p = body, *end = body + len;

    memset(f, 0, sizeof *f);
    assert_int_equal(strlen(body), len);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        assert_non_null(eq);
        assert_true(f->n < MAX_FIELDS);
        f->key[f->n] = form_decode(p, (size_t)(eq - p));
        f->value[f->n] = form_decode(eq + 1, (size_t)(stop - eq - 1));
        f->raw_value[f->n] = strndup(eq + 1, (size_t)(stop - eq - 1));
        f->n++;
        p = amp ? amp + 1 : end;
    }
}

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->value[i]);
        free(f->raw_value[i]);
    }
    memset(f, 0, sizeof *f);
}

static const char *form_get(const struct form *f, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->key[i], key) == 0) {
            assert_null(found); /* exactly once */
            found = f->value[i];
        }
    }
    if (!found) {
        print_error("form field %s missing\n", key);
        fail();
    }
    return found;
}

/* ------------------------------------------------------------------------ */
/* msgDigest, recomputed with SDK primitives (known-answer tested in test_sdk) */

static void sf_digest(const char *msg_data, const char *timestamp, const char *check_word,
                      char out[64])
{
    struct ob_buf raw, enc, b64;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;

    ob_buf_init(&raw, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&enc, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&b64, 64);
    assert_int_equal(ob_buf_printf(&raw, "%s%s%s", msg_data, timestamp, check_word), 0);
    assert_int_equal(ob_url_encode(raw.data, raw.len, OB_URL_JAVA, &enc), 0);
    assert_int_equal(ob_digest(OB_MD5, enc.data, enc.len, md, &md_len), 0);
    assert_int_equal(md_len, 16);
    assert_int_equal(ob_base64_encode(md, md_len, &b64), 0);
    assert_int_equal(b64.len, 24);
    memcpy(out, b64.data, b64.len + 1);
    ob_buf_reset(&raw);
    ob_buf_reset(&enc);
    ob_buf_reset(&b64);
}

/* SF's published example, and the value SF's docs warn about (no URL encoding). */
static void test_official_vector(void **state)
{
    (void)state;
    char d[64];

    sf_digest("{\"language\":\"zh-CN\",\"orderId\":\"QIAO-20200618-004\"}", "12312334453453",
              "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci", d);
    assert_string_equal(d, "IIKJtuLVzoFTu4kHI8M8vA==");
    assert_string_not_equal(d, "OwYXm3XG9fjHK7A+/t7Ckw==");
}

/* A second vector with UTF-8, spaces, & < >, '~' and '*', computed with
 * Python (hashlib.md5 over a byte-wise java.net.URLEncoder clone):
 *   keep A-Z a-z 0-9 . - * _, space -> '+', else %XX upper case. */
static void test_digest_vector_utf8(void **state)
{
    (void)state;
    char d[64];

    sf_digest("{\"orderId\":\"SO~1*2\",\"remark\":\"" EXAMPLE_REMARK "\"}", "1699632003120",
              "sf-check-word-~*", d);
    assert_string_equal(d, "n5nNFYr8ZPrOCOm3nZJ+mQ==");
}

/* ------------------------------------------------------------------------ */
/* encode                                                                    */

static const char *const field_order[] = {"partnerID", "requestID", "serviceCode",
                                          "timestamp", "msgDigest", "msgData"};

static int is_uuid4(const char *s)
{
    if (strlen(s) != 36)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i])) {
            return 0;
        }
    }
    return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

/* Checks the form around msgData and returns msgData parsed. */
static json_t *check_form(const struct ob_request *req, struct form *f, int64_t before,
                          int64_t after)
{
    json_error_t jerr;

    form_parse(req->body, req->body_len, f);
    assert_int_equal(f->n, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(f->key[i], field_order[i]);
    assert_string_equal(form_get(f, "partnerID"), PARTNER);
    assert_true(is_uuid4(form_get(f, "requestID")));
    assert_string_equal(form_get(f, "serviceCode"), "EXP_RECE_CREATE_ORDER");

    const char *ts = form_get(f, "timestamp");
    assert_true(strlen(ts) == 13 && strspn(ts, "0123456789") == 13); /* epoch ms */
    long long t = atoll(ts);
    assert_true(t >= before && t <= after);

    const char *msg_data = form_get(f, "msgData");
    char want[64];
    sf_digest(msg_data, ts, CHECK_WORD, want);
    assert_string_equal(form_get(f, "msgDigest"), want);

    /* Every raw value is exactly the Java URL encoding of the decoded one. */
    for (size_t i = 0; i < f->n; i++) {
        struct ob_buf b;
        ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
        assert_int_equal(ob_url_encode(f->value[i], strlen(f->value[i]), OB_URL_JAVA, &b), 0);
        assert_string_equal(f->raw_value[i], b.data);
        ob_buf_reset(&b);
    }

    json_t *doc = json_loads(msg_data, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        print_error("msgData is not JSON: %s\n%s\n", jerr.text, msg_data);
        fail();
    }
    assert_true(json_is_object(doc));
    return doc;
}

static const char *str_at(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        print_error("\"%s\" is not a string\n", key);
        fail();
    }
    return json_string_value(v);
}

static json_int_t int_at(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) {
        print_error("\"%s\" is not an integer\n", key);
        fail();
    }
    return json_integer_value(v);
}

static void test_encode_request_line_and_headers(void **state)
{
    (void)state;
    struct ob_request req;

    encode(fx.sh, &fx.example->order, &req);
    assert_non_null(req.method);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://sfapi-sbox.sf-express.com/std/service");
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded;charset=UTF-8");
    ob_request_reset(&req);

    encode(fx.sz, &fx.example->order, &req);
    assert_string_equal(req.url, "http://127.0.0.1:8080/sf/std/service");
    ob_request_reset(&req);
}

static void test_encode_form_and_msg_data(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;

    int64_t before = ob_time_now_ms();
    encode(fx.sh, &fx.example->order, &req);
    int64_t after = ob_time_now_ms();
    json_t *m = check_form(&req, &f, before, after);

    assert_int_equal(json_object_size(m), 8);
    assert_string_equal(str_at(m, "orderId"), "SO20231111000123");
    assert_string_equal(str_at(m, "language"), "zh-CN");
    assert_int_equal(int_at(m, "expressTypeId"), 2); /* settings */
    assert_int_equal(int_at(m, "payMethod"), 3);
    assert_string_equal(str_at(m, "monthlyCard"), "7551234567");
    assert_string_equal(str_at(m, "remark"), EXAMPLE_REMARK);

    json_t *contacts = json_object_get(m, "contactInfoList");
    assert_true(json_is_array(contacts));
    assert_int_equal(json_array_size(contacts), 1);
    json_t *rcv = json_array_get(contacts, 0);
    assert_int_equal(json_object_size(rcv), 7);
    assert_int_equal(int_at(rcv, "contactType"), 2); /* receiver */
    assert_string_equal(str_at(rcv, "contact"), "张三");
    assert_string_equal(str_at(rcv, "mobile"), "13800138000");
    assert_string_equal(str_at(rcv, "province"), "上海市");
    assert_string_equal(str_at(rcv, "city"), "上海市");
    assert_string_equal(str_at(rcv, "county"), "闵行区");
    assert_string_equal(str_at(rcv, "address"), "莘庄镇 春申路 1 号 2 单元 301");

    json_t *cargo = json_object_get(m, "cargoDetails");
    assert_true(json_is_array(cargo));
    assert_int_equal(json_array_size(cargo), 2);
    json_t *c0 = json_array_get(cargo, 0);
    assert_int_equal(json_object_size(c0), 3);
    assert_string_equal(str_at(c0, "name"), "D'LITES 复古老爹鞋 黑 42");
    assert_string_equal(str_at(c0, "goodsCode"), "SKE-12345-BLK-42");
    assert_int_equal(int_at(c0, "count"), 1);
    json_t *c1 = json_array_get(cargo, 1);
    assert_int_equal(json_object_size(c1), 3);
    assert_string_equal(str_at(c1, "name"), "运动袜 3 双装");
    assert_string_equal(str_at(c1, "goodsCode"), "SKE-SOCK-3P");
    assert_int_equal(int_at(c1, "count"), 2);

    /* The check word never travels; the partner id only as partnerID. */
    assert_null(strstr(req.body, "cHk-W0rd"));
    assert_null(strstr(req.url, "cHk-W0rd"));
    assert_null(strstr(req.url, PARTNER));
    assert_null(strstr(form_get(&f, "msgData"), PARTNER));

    json_decref(m);
    form_free(&f);
    ob_request_reset(&req);
}

/* Without settings: expressTypeId 1 (顺丰特快), payMethod 1 (sender), no monthlyCard. */
static void test_encode_defaults(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;

    int64_t before = ob_time_now_ms();
    encode(fx.sz, &fx.example->order, &req);
    json_t *m = check_form(&req, &f, before, ob_time_now_ms());
    assert_int_equal(json_object_size(m), 7);
    assert_int_equal(int_at(m, "expressTypeId"), 1);
    assert_int_equal(int_at(m, "payMethod"), 1);
    assert_null(json_object_get(m, "monthlyCard"));
    assert_string_equal(str_at(m, "orderId"), "SO20231111000123");
    json_decref(m);
    form_free(&f);
    ob_request_reset(&req);
}

/* Every attempt is a new HTTP request for SF: a fresh requestID and
 * timestamp (hence digest), the same msgData. */
static void test_encode_each_attempt(void **state)
{
    (void)state;
    struct ob_request r1, r2;
    struct form f1, f2;

    int64_t before = ob_time_now_ms();
    encode(fx.sh, &fx.example->order, &r1);
    encode(fx.sh, &fx.example->order, &r2);
    int64_t after = ob_time_now_ms();
    json_decref(check_form(&r1, &f1, before, after));
    json_decref(check_form(&r2, &f2, before, after));
    assert_string_not_equal(form_get(&f1, "requestID"), form_get(&f2, "requestID"));
    assert_string_equal(form_get(&f1, "msgData"), form_get(&f2, "msgData"));
    form_free(&f1);
    form_free(&f2);
    ob_request_reset(&r1);
    ob_request_reset(&r2);
}

/* The example order with some fields replaced; returns the parsed order. */
static struct ob_parsed_order *example_with(const char *event, const char *text_field_value,
                                            int drop_optional)
{
    json_error_t jerr;
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, &jerr);
    assert_non_null(doc);
    if (event)
        assert_int_equal(json_object_set_new(doc, "event", json_string(event)), 0);
    if (text_field_value) {
        json_t *item0 = json_array_get(json_object_get(doc, "items"), 0);
        json_t *addr = json_object_get(doc, "shipping_address");
        assert_int_equal(json_object_set_new(doc, "remark", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(item0, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(item0, "sku", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "street", json_string(text_field_value)), 0);
    }
    if (drop_optional) {
        json_t *item1 = json_array_get(json_object_get(doc, "items"), 1);
        assert_int_equal(json_object_del(item1, "name"), 0);
        assert_int_equal(json_object_del(json_object_get(doc, "shipping_address"), "district"), 0);
        assert_int_equal(json_object_del(doc, "remark"), 0);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(text);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    return po;
}

/* The example's remark holds & < >; with " ' \ = + % and more added to every
 * text field, the form still splits into the same six fields, msgData is one
 * JSON document carrying the exact text, and the digest still verifies. */
static void test_encode_special_characters(void **state)
{
    (void)state;
    const char *nasty = "双11 & <请勿> \"q\" 'single' back\\slash a=b&c=d+e%20f ~* </x> {\"x\":1}";
    struct ob_request req;
    struct form f;

    assert_non_null(strchr(fx.example->order.remark, '&'));
    assert_non_null(strchr(fx.example->order.remark, '<'));
    assert_non_null(strchr(fx.example->order.remark, '>'));

    struct ob_parsed_order *po = example_with(NULL, nasty, 0);
    int64_t before = ob_time_now_ms();
    encode(fx.sh, &po->order, &req);
    json_t *m = check_form(&req, &f, before, ob_time_now_ms());
    assert_string_equal(str_at(m, "remark"), nasty);
    json_t *rcv = json_array_get(json_object_get(m, "contactInfoList"), 0);
    assert_string_equal(str_at(rcv, "contact"), nasty);
    assert_string_equal(str_at(rcv, "address"), nasty);
    json_t *c0 = json_array_get(json_object_get(m, "cargoDetails"), 0);
    assert_string_equal(str_at(c0, "name"), nasty);
    assert_string_equal(str_at(c0, "goodsCode"), nasty);
    assert_string_equal(str_at(m, "orderId"), "SO20231111000123");
    /* No raw separator or space leaked into the body. */
    assert_null(strchr(req.body, ' '));
    assert_null(strchr(req.body, '<'));
    assert_null(strchr(req.body, '"'));
    json_decref(m);
    form_free(&f);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* An item without a name is sent with its SKU as the name; no district is
 * an empty county; no remark, no remark member. */
static void test_encode_optional_fields_absent(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, NULL, 1);
    struct ob_request req;
    struct form f;

    assert_null(po->order.items[1].name);
    int64_t before = ob_time_now_ms();
    encode(fx.sh, &po->order, &req);
    json_t *m = check_form(&req, &f, before, ob_time_now_ms());
    assert_null(json_object_get(m, "remark"));
    json_t *c1 = json_array_get(json_object_get(m, "cargoDetails"), 1);
    assert_string_equal(str_at(c1, "name"), "SKE-SOCK-3P");
    assert_string_equal(str_at(c1, "goodsCode"), "SKE-SOCK-3P");
    json_t *rcv = json_array_get(json_object_get(m, "contactInfoList"), 0);
    assert_string_equal(str_at(rcv, "county"), "");
    json_decref(m);
    form_free(&f);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* Updates and cancellations are refused (the bridge dead-letters them)
 * rather than pushed as a second create. */
static void test_encode_refuses_other_events(void **state)
{
    (void)state;
    static const char *const events[] = {"order.updated", "order.cancelled"};

    for (size_t i = 0; i < 2; i++) {
        struct ob_parsed_order *po = example_with(events[i], NULL, 0);
        struct ob_request req;
        char want[128];

        memset(&req, 0, sizeof req);
        err[0] = '\0';
        assert_int_equal(
            fx.sh->plugin.vt.encode(fx.sh->state, &po->order, &delivery, &req, err, sizeof err),
            -1);
        snprintf(want, sizeof want, "event %s is not supported by the sf_express adapter yet",
                 events[i]);
        assert_string_equal(err, want);
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
    fx.sh->plugin.vt.decode_response(fx.sh->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

static struct ob_outcome decode(long status, const char *body)
{
    return decode_h(status, body, NULL, 0);
}

/* SF's envelope with apiResultData as a JSON string, built with jansson. */
static char *envelope(const char *api_code, const char *api_msg, const char *result_data)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "apiResultCode", api_code, "apiErrorMsg",
                          api_msg ? api_msg : "", "apiResponseID",
                          "000189E1C5D73A3FE1A8B0A0C2D2B33F");
    assert_non_null(e);
    assert_int_equal(json_object_set_new(e, "apiResultData",
                                         result_data ? json_string(result_data) : json_null()),
                     0);
    char *text = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    assert_non_null(text);
    return text;
}

#define SUCCESS_DATA                                                                              \
    "{\"success\":true,\"errorCode\":\"S0000\",\"errorMsg\":null,\"msgData\":{"                   \
    "\"orderId\":\"SO20231111000123\",\"originCode\":\"755\",\"destCode\":\"021\","               \
    "\"filterResult\":2,\"waybillNoInfoList\":["                                                  \
    "{\"waybillType\":2,\"waybillNo\":\"SF1400000000002\"},"                                      \
    "{\"waybillType\":1,\"waybillNo\":\"SF1400000000001\"}]}}"

static void test_decode_created(void **state)
{
    (void)state;
    char *body = envelope("A1000", "", SUCCESS_DATA);
    struct ob_outcome o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "SF1400000000001"); /* the master waybill */
    assert_string_equal(o.warehouse_order_id, "SF1400000000001");
    assert_string_equal(o.carrier, "SF");
    assert_int_equal(o.retry_after_ms, 0);
    free(body);

    /* No waybillType: the first waybill. */
    body = envelope("A1000", "",
                    "{\"success\":true,\"errorCode\":\"S0000\",\"msgData\":{\"waybillNoInfoList\":"
                    "[{\"waybillNo\":\"SF7444400031887\"},{\"waybillNo\":\"SF7444400031888\"}]}}");
    o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "SF7444400031887");
    free(body);

    /* Accepted without a waybill (filterResult pending): no tracking number. */
    body = envelope("A1000", "", "{\"success\":true,\"errorCode\":\"S0000\",\"msgData\":null}");
    o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "");
    assert_string_equal(o.warehouse_order_id, "");
    assert_string_equal(o.carrier, "");
    free(body);

    /* apiResultData as an object instead of a string: read the same. */
    o = decode(200, "{\"apiResultCode\":\"A1000\",\"apiErrorMsg\":\"\",\"apiResultData\":"
                    SUCCESS_DATA "}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "SF1400000000001");
}

static void test_decode_duplicate_is_accepted(void **state)
{
    (void)state;
    char *body = envelope("A1000", "",
                          "{\"success\":false,\"errorCode\":\"8016\",\"errorMsg\":\"重复下单\","
                          "\"msgData\":null}");
    struct ob_outcome o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_contains(o.reason, "8016");
    assert_contains(o.reason, "重复下单");
    assert_string_equal(o.tracking_no, "");
    free(body);
}

/* Every apiResultCode but A1000 is a refusal, except the three that pass
 * with time (rate limit, service unreachable, system error); each is named
 * in the reason with SF's message. */
static void test_decode_api_result_codes(void **state)
{
    (void)state;
    static const struct {
        const char *code, *msg;
        enum ob_outcome_kind kind;
    } cases[] = {
        {"A1001", "必传参数不可为空", OB_OUTCOME_PERMANENT},
        {"A1002", "请求时效已过期", OB_OUTCOME_PERMANENT},
        {"A1003", "IP无效", OB_OUTCOME_PERMANENT},
        {"A1004", "无对应服务权限", OB_OUTCOME_PERMANENT},
        {"A1005", "流量受控", OB_OUTCOME_RETRY},
        {"A1006", "数字签名无效", OB_OUTCOME_PERMANENT},
        {"A1007", "重复请求", OB_OUTCOME_PERMANENT},
        {"A1008", "数据解密失败", OB_OUTCOME_PERMANENT},
        {"A1009", "目标服务异常或不可达", OB_OUTCOME_RETRY},
        {"A1099", "系统异常", OB_OUTCOME_RETRY},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *body = envelope(cases[i].code, cases[i].msg, NULL);
        struct ob_outcome o = decode(200, body);
        assert_int_equal(o.kind, cases[i].kind);
        assert_int_equal(o.retry_after_ms, 0);
        assert_contains(o.reason, cases[i].code);
        assert_contains(o.reason, cases[i].msg);
        assert_string_equal(o.tracking_no, "");
        free(body);
    }
    /* Without a message. */
    struct ob_outcome o = decode(200, "{\"apiResultCode\":\"A1006\"}");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "A1006");
}

/* A business error inside A1000 (other than 8016) is SF refusing the order. */
static void test_decode_business_errors(void **state)
{
    (void)state;
    static const struct {
        const char *code, *msg;
    } cases[] = {
        {"1010", "寄件地址不能为空"},
        {"1014", "到件地址不能为空"},
        {"8114", "传入了不可发货的月结卡号"},
        {"20052", "月结卡号不匹配"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char data[256];
        snprintf(data, sizeof data,
                 "{\"success\":false,\"errorCode\":\"%s\",\"errorMsg\":\"%s\",\"msgData\":null}",
                 cases[i].code, cases[i].msg);
        char *body = envelope("A1000", "", data);
        struct ob_outcome o = decode(200, body);
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_contains(o.reason, cases[i].code);
        assert_contains(o.reason, cases[i].msg);
        free(body);
    }
    /* success false without any code is a refusal too. */
    char *body = envelope("A1000", "", "{\"success\":false}");
    struct ob_outcome o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "errorCode");
    free(body);
}

/* Not SF's envelope at all, or apiResultData unreadable: SF may or may not
 * have the order; a retry is safe (a repeat is answered 8016). */
static void test_decode_malformed_is_retry(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "", "<html><body>502 Bad Gateway</body></html>", "{\"apiResultCode\":", "[]",
        "{\"result\":\"ok\"}", "{\"apiResultCode\":1000}",
        "{\"apiResultCode\":\"A1000\"}",
        "{\"apiResultCode\":\"A1000\",\"apiResultData\":\"{not json\"}",
        "{\"apiResultCode\":\"A1000\",\"apiResultData\":\"[1,2]\"}",
        "{\"apiResultCode\":\"A1000\",\"apiResultData\":null}",
    };

    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ob_outcome o = decode(200, bodies[i]);
        if (o.kind != OB_OUTCOME_RETRY) {
            print_error("body %s: kind %d\n", bodies[i], o.kind);
            fail();
        }
        assert_true(strlen(o.reason) > 0);
    }
    struct ob_outcome o = decode(200, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "malformed");

    /* The reason quotes a bounded part of a huge body. */
    char big[4096];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = decode(200, big);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_true(strlen(o.reason) < 300);
}

static void test_decode_http_errors(void **state)
{
    (void)state;
    static const long transient[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        char want[16];
        /* even with an A1000 success envelope: the status decides first */
        char *body = envelope("A1000", "", SUCCESS_DATA);
        struct ob_outcome o = decode(transient[i], body);
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_int_equal(o.retry_after_ms, 0);
        assert_string_equal(o.tracking_no, "");
        snprintf(want, sizeof want, "HTTP %ld", transient[i]);
        assert_contains(o.reason, want);
        free(body);
    }
    static const long permanent[] = {400, 401, 403, 404, 405, 413, 415};
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++) {
        char want[16];
        struct ob_outcome o = decode(permanent[i], "{\"error\":\"nope\"}");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        snprintf(want, sizeof want, "HTTP %ld", permanent[i]);
        assert_contains(o.reason, want);
        assert_contains(o.reason, "nope");
    }
}

static void test_decode_retry_after(void **state)
{
    (void)state;
    struct ob_header h[] = {
        {.name = "Content-Type", .value = "application/json"},
        {.name = "Retry-After", .value = "3"},
    };
    struct ob_outcome o = decode_h(429, "", h, 2);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 3000);
    assert_contains(o.reason, "429");

    h[1].value = "120";
    o = decode_h(503, "busy", h, 2);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 120000);

    /* An HTTP date two minutes ahead. */
    char date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    assert_true(strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    h[1].value = date;
    o = decode_h(429, "", h, 2);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_in_range(o.retry_after_ms, 118000, 120000);

    /* Unreadable: retry, the bridge picks the delay. */
    h[1].value = "soon";
    o = decode_h(429, "", h, 2);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);
}

static void test_decode_transport_error(void **state)
{
    (void)state;
    struct ob_response resp = {.status = 0, .transport_error = "Couldn't connect to server"};
    struct ob_outcome o;

    memset(&o, 0, sizeof o);
    fx.sh->plugin.vt.decode_response(fx.sh->state, &fx.example->order, &delivery, &resp, &o);
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
    static const char prefix[] = "$.warehouses.W9: adapter sf_express: ";

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'W9':{'adapter':'sf_express','endpoint':'https://w9.example',%s}}}",
             OB_BUILD_DIR, wh_body);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    ob_config_destroy(cfg);
    if (strncmp(err, prefix, sizeof prefix - 1) != 0) {
        print_error("unexpected message: %s\n", err);
        fail();
    }
    /* No message may contain a secret. */
    assert_null(strstr(err, CHECK_WORD));
    assert_null(strstr(err, PARTNER));
    return err;
}

#define CREDS "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_ENV "'}"

static void test_init_credentials(void **state)
{
    (void)state;
    assert_contains(open_fails("'max_attempts':3"), "credentials.partner_id is required");
    assert_contains(open_fails("'credentials':{'partner_id':'env:" PARTNER_ENV "'}"),
                    "credentials.check_word is required");
    assert_contains(open_fails("'credentials':{'check_word':'env:" CHECK_ENV "'}"),
                    "credentials.partner_id is required");
    /* Another credential name is not the check word. */
    assert_contains(open_fails("'credentials':{'partner_id':'env:" PARTNER_ENV "',"
                               "'checkword':'env:" CHECK_ENV "'}"),
                    "credentials.check_word");
}

static const char *fake_credential(const struct ob_adapter_env *env, const char *name)
{
    return strcmp(name, "partner_id") == 0 ? PARTNER : env->host;
}

/* The config checker never resolves an empty secret, but the adapter must
 * not accept one from a host that does; nor settings that are no object. */
static void test_init_direct(void **state)
{
    (void)state;
    static char empty[1] = "";
    static char check_word[] = CHECK_WORD;
    struct ob_adapter_env env = {
        .abi = OB_ADAPTER_ABI,
        .size = sizeof env,
        .warehouse = "W9",
        .endpoint = "https://w9.example",
        .credential = fake_credential,
        .host = empty,
    };
    void *st = NULL;

    err[0] = '\0';
    assert_int_equal(fx.sh->plugin.vt.init(&env, NULL, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.check_word");

    env.host = check_word;
    json_t *array = json_array();
    err[0] = '\0';
    assert_int_equal(fx.sh->plugin.vt.init(&env, array, &st, err, sizeof err), -1);
    assert_contains(err, "settings: must be an object");
    json_decref(array);

    /* NULL settings: the defaults. */
    st = NULL;
    assert_int_equal(fx.sh->plugin.vt.init(&env, NULL, &st, err, sizeof err), 0);
    assert_non_null(st);
    fx.sh->plugin.vt.destroy(st);
}

static void test_init_bad_settings(void **state)
{
    (void)state;
    static const struct {
        const char *settings, *want;
    } cases[] = {
        {"{'colour':'blue'}", "settings.colour: unknown setting"},
        {"{'express_type_id':'1'}", "settings.express_type_id: must be an integer"},
        {"{'express_type_id':0}", "settings.express_type_id: must be an integer"},
        {"{'express_type_id':1.5}", "settings.express_type_id: must be an integer"},
        {"{'pay_method':4}", "settings.pay_method: must be 1"},
        {"{'pay_method':0}", "settings.pay_method: must be 1"},
        {"{'pay_method':'1'}", "settings.pay_method: must be 1"},
        {"{'monthly_card':7551234567}", "settings.monthly_card: must be a non-empty string"},
        {"{'monthly_card':''}", "settings.monthly_card: must be a non-empty string"},
        {"{'time_zone':'Mars/Olympus'}", "settings.time_zone: must be"},
        {"{'time_zone':8}", "settings.time_zone: must be"},
        {"{'check_word':'x'}", "settings.check_word: unknown setting"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, CREDS ",'settings':%s", cases[i].settings);
        assert_contains(open_fails(body), cases[i].want);
    }
}

/* Good settings of every kind load. */
static void test_init_good_settings(void **state)
{
    (void)state;
    static const char *const settings[] = {
        "{}",
        "{'time_zone':'Asia/Shanghai'}",
        "{'time_zone':'UTC'}",
        "{'express_type_id':231,'pay_method':2}",
    };

    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        char text[4096];
        struct ob_config *cfg = NULL;
        struct ob_adapter_instance *inst = NULL;
        snprintf(text, sizeof text,
                 "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
                 "'warehouses':{'W9':{'adapter':'sf_express','endpoint':'https://w9.example',"
                 CREDS ",'settings':%s}}}",
                 OB_BUILD_DIR, settings[i]);
        const char *json = J(text);
        assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
        if (ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err) != 0) {
            print_error("%s: %s\n", settings[i], err);
            fail();
        }
        assert_string_equal(inst->plugin.vt.name, "sf_express");
        ob_adapter_close(inst);
        ob_config_destroy(cfg);
    }
}

/* ------------------------------------------------------------------------ */
/* against the simulator's sf_express profile, over real HTTP                */

struct http_answer {
    long status;
    struct ob_buf body;
};

static size_t collect(char *data, size_t size, size_t n, void *userdata)
{
    struct http_answer *a = userdata;
    return ob_buf_append(&a->body, data, size * n) == 0 ? size * n : 0;
}

/* POST `body` to the sim with the given headers; returns the answer. */
static void http_post(unsigned short port, const char *path, const struct ob_header *headers,
                      size_t n_headers, const char *body, size_t body_len, struct http_answer *a)
{
    char url[256];
    struct curl_slist *hl = NULL;
    CURL *e = curl_easy_init();

    assert_non_null(e);
    memset(a, 0, sizeof *a);
    ob_buf_init(&a->body, 1 << 20);
    assert_int_equal(ob_buf_append(&a->body, "", 0), 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    for (size_t i = 0; i < n_headers; i++) {
        char line[512];
        snprintf(line, sizeof line, "%s: %s", headers[i].name, headers[i].value);
        hl = curl_slist_append(hl, line);
        assert_non_null(hl);
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        print_error("curl: %s\n", curl_easy_strerror(rc));
        fail();
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(e);
}

/* Send what the adapter built, as the bridge would, and classify the answer. */
static struct ob_outcome push(unsigned short port, const struct ob_request *req,
                              struct http_answer *a)
{
    char prefix[64];
    struct ob_outcome o;

    snprintf(prefix, sizeof prefix, "http://127.0.0.1:%u", port);
    assert_int_equal(strncmp(req->url, prefix, strlen(prefix)), 0);
    assert_string_equal(req->method, "POST");
    http_post(port, req->url + strlen(prefix), req->headers, req->n_headers, req->body,
              req->body_len, a);
    struct ob_response resp = {.status = a->status, .body = a->body.data,
                               .body_len = a->body.len};
    memset(&o, 0, sizeof o);
    fx.sh->plugin.vt.decode_response(fx.sh->state, &fx.example->order, &delivery, &resp, &o);
    return o;
}

/* An sf_express adapter instance whose endpoint is the sim. */
static struct ob_adapter_instance *open_for_sim(unsigned short port, struct ob_config **cfg)
{
    char text[2048];
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'SF-SIM':{'adapter':'sf_express','endpoint':'http://127.0.0.1:%u',"
             "'credentials':{'partner_id':'env:" PARTNER_ENV "','check_word':'env:" CHECK_ENV
             "'}}}}",
             OB_BUILD_DIR, port);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, cfg, err, sizeof err), 0);
    if (ob_adapter_open(*cfg, &(*cfg)->warehouses[0], &inst, err, sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        fail();
    }
    return inst;
}

static struct ob_sim *start_sim(const char *partner, const char *check_word)
{
    const struct ob_sim_secret secrets[] = {
        {"partner_id", partner},
        {"check_word", check_word},
        {NULL, NULL},
    };
    struct ob_sim_options o = {.profile = "sf_express", .secrets = secrets};
    char e[256];
    struct ob_sim *sim = ob_sim_start(&o, e, sizeof e);
    if (!sim) {
        print_error("sim: %s\n", e);
        fail();
    }
    return sim;
}

static void encode_with(struct ob_adapter_instance *inst, const struct ob_order *order,
                        struct ob_request *req)
{
    memset(req, 0, sizeof *req);
    err[0] = '\0';
    if (inst->plugin.vt.encode(inst->state, order, &delivery, req, err, sizeof err) != 0) {
        print_error("encode failed: %s\n", err);
        fail();
    }
}

/* The answer's envelope code and, inside A1000, the business errorCode. */
static void answer_codes(const struct http_answer *a, char *api, char *code)
{
    json_t *env = json_loadb(a->body.data, a->body.len, 0, NULL);
    assert_true(json_is_object(env));
    snprintf(api, 16, "%s", str_at(env, "apiResultCode"));
    code[0] = '\0';
    json_t *d = json_object_get(env, "apiResultData");
    if (json_is_string(d)) {
        json_t *r = json_loads(json_string_value(d), 0, NULL);
        assert_true(json_is_object(r));
        snprintf(code, 16, "%s", str_at(r, "errorCode"));
        json_decref(r);
    } else {
        assert_true(json_is_null(d));
    }
    json_decref(env);
}

static void test_sim_create_then_duplicate(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(PARTNER, CHECK_WORD);
    unsigned short port = ob_sim_port(sim);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = open_for_sim(port, &cfg);
    struct ob_request req;
    struct http_answer a;
    struct ob_sim_stats st;
    char api[16], code[16];

    /* first push: created, the waybill comes back */
    encode_with(inst, &fx.example->order, &req);
    struct ob_outcome o = push(port, &req, &a);
    assert_int_equal(a.status, 200);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1000");
    assert_string_equal(code, "S0000");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.tracking_no, "SF0000001000001");
    assert_string_equal(o.warehouse_order_id, "SF0000001000001");
    assert_string_equal(o.carrier, "SF");
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);
    ob_buf_reset(&a.body);
    ob_request_reset(&req);

    /* a redelivery: a new request (requestID, timestamp), 8016, still accepted */
    encode_with(inst, &fx.example->order, &req);
    o = push(port, &req, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1000");
    assert_string_equal(code, "8016");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_contains(o.reason, "8016");
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);
    ob_buf_reset(&a.body);
    ob_request_reset(&req);

    /* the remark with & < > survived the trip: the sim verified the digest
     * over the decoded msgData, so a byte changed on the way would be A1006 */
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.bad_requests, 0);
    assert_int_equal(st.unauthorized, 0);

    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* Replace the value of form field `key` in the request body. */
static void replace_field(struct ob_request *req, const char *key, const char *new_raw)
{
    struct ob_buf b;
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    char *start = strstr(req->body, pat);
    assert_non_null(start);
    start += strlen(pat);
    char *end = strchr(start, '&');
    if (!end)
        end = req->body + req->body_len;
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_buf_append(&b, req->body, (size_t)(start - req->body)), 0);
    assert_int_equal(ob_buf_appends(&b, new_raw), 0);
    assert_int_equal(ob_buf_appends(&b, end), 0);
    size_t len = 0;
    char *body = ob_buf_steal(&b, &len);
    assert_non_null(body);
    ob_request_take_body(req, body, len);
}

static void test_sim_refuses_tampering(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(PARTNER, CHECK_WORD);
    unsigned short port = ob_sim_port(sim);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = open_for_sim(port, &cfg);
    struct ob_request req;
    struct http_answer a;
    struct ob_sim_stats st;
    char api[16], code[16];

    /* another digest */
    encode_with(inst, &fx.example->order, &req);
    replace_field(&req, "msgDigest", "OwYXm3XG9fjHK7A%2B%2Ft7Ckw%3D%3D");
    struct ob_outcome o = push(port, &req, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1006");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "A1006");
    assert_contains(o.reason, "数字签名无效");
    ob_buf_reset(&a.body);
    ob_request_reset(&req);

    /* msgData changed after signing (another orderId) */
    encode_with(inst, &fx.example->order, &req);
    char *p = strstr(req.body, "SO20231111000123");
    assert_non_null(p);
    p[strlen("SO2023111100012")] = '4';
    o = push(port, &req, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1006");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    ob_buf_reset(&a.body);
    ob_request_reset(&req);

    /* the timestamp changed after signing */
    encode_with(inst, &fx.example->order, &req);
    {
        struct form f;
        char ts[32];
        form_parse(req.body, req.body_len, &f);
        snprintf(ts, sizeof ts, "%lld", atoll(form_get(&f, "timestamp")) + 1);
        replace_field(&req, "timestamp", ts);
        form_free(&f);
    }
    o = push(port, &req, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1006");
    ob_buf_reset(&a.body);
    ob_request_reset(&req);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 3);
    assert_int_equal(st.created, 0);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    assert_int_equal(ob_sim_created(sim, "SO20231111000124"), 0);

    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);

    /* a sim that knows another check word refuses the adapter's requests */
    sim = start_sim(PARTNER, "another-check-word");
    port = ob_sim_port(sim);
    inst = open_for_sim(port, &cfg);
    encode_with(inst, &fx.example->order, &req);
    o = push(port, &req, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1006");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 1);
    ob_buf_reset(&a.body);
    ob_request_reset(&req);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* A form built here, signed with sf_digest() unless `digest` is given. */
static void post_form(unsigned short port, const char *partner, const char *service,
                      const char *timestamp, const char *msg_data, const char *check_word,
                      const char *digest, struct http_answer *a)
{
    struct ob_params p = {0};
    struct ob_buf body;
    char d[64];
    static const struct ob_header ct[] = {
        {.name = "Content-Type", .value = "application/x-www-form-urlencoded"}};

    if (!digest) {
        sf_digest(msg_data, timestamp, check_word, d);
        digest = d;
    }
    ob_buf_init(&body, OB_BUF_DEFAULT_MAX);
    assert_int_equal(ob_params_add(&p, "partnerID", partner), 0);
    assert_int_equal(ob_params_add(&p, "requestID", "7b1c3e0a-2f4d-4a8b-9c1d-0e2f3a4b5c6d"), 0);
    assert_int_equal(ob_params_add(&p, "serviceCode", service), 0);
    assert_int_equal(ob_params_add(&p, "timestamp", timestamp), 0);
    assert_int_equal(ob_params_add(&p, "msgDigest", digest), 0);
    assert_int_equal(ob_params_add(&p, "msgData", msg_data), 0);
    assert_int_equal(ob_params_form(&p, OB_URL_JAVA, &body), 0);
    http_post(port, "/std/service", ct, 1, body.data, body.len, a);
    ob_buf_reset(&body);
    ob_params_free(&p);
}

/* The sim checks SF's official vector: the digest verifies (so the answer
 * is A1002 for the vector's timestamp from the year 2360, not A1006). */
static void test_sim_official_vector(void **state)
{
    (void)state;
    static const char msg_data[] = "{\"language\":\"zh-CN\",\"orderId\":\"QIAO-20200618-004\"}";
    struct ob_sim *sim = start_sim("QIAO", "fjcg5PGKaNpPSHFAZ4QsCOkV71R3zVci");
    unsigned short port = ob_sim_port(sim);
    struct http_answer a;
    struct ob_sim_stats st;
    char api[16], code[16];

    post_form(port, "QIAO", "EXP_RECE_CREATE_ORDER", "12312334453453", msg_data, NULL,
              "IIKJtuLVzoFTu4kHI8M8vA==", &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1002");
    ob_buf_reset(&a.body);

    post_form(port, "QIAO", "EXP_RECE_CREATE_ORDER", "12312334453453", msg_data, NULL,
              "OwYXm3XG9fjHK7A+/t7Ckw==", &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1006");
    ob_buf_reset(&a.body);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 1);
    assert_int_equal(st.bad_requests, 1);
    ob_sim_stop(sim);
}

/* The sim's other checks, each with the answer the adapter then classifies. */
static void test_sim_checks(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(PARTNER, CHECK_WORD);
    unsigned short port = ob_sim_port(sim);
    struct http_answer a;
    struct ob_sim_stats st;
    char api[16], code[16], now[32];
    static const char good[] =
        "{\"orderId\":\"SIM-1\",\"language\":\"zh-CN\",\"contactInfoList\":[{\"contactType\":2,"
        "\"contact\":\"李四\",\"mobile\":\"13900000000\",\"province\":\"广东省\",\"city\":"
        "\"深圳市\",\"county\":\"南山区\",\"address\":\"科技园\"}],\"cargoDetails\":[{\"name\":"
        "\"鞋\",\"goodsCode\":\"S1\",\"count\":1}],\"expressTypeId\":1,\"payMethod\":1}";
    static const struct {
        const char *msg_data, *code;
    } business[] = {
        {"{\"orderId\":\"SIM-2\",\"contactInfoList\":[],\"cargoDetails\":[{\"name\":\"x\"}]}",
         "1014"},
        {"{\"orderId\":\"SIM-3\",\"contactInfoList\":[{\"contactType\":2,\"address\":\"a\","
         "\"mobile\":\"1\"}],\"cargoDetails\":[{\"name\":\"x\"}]}",
         "1015"},
        {"{\"orderId\":\"SIM-4\",\"contactInfoList\":[{\"contactType\":2,\"address\":\"a\","
         "\"contact\":\"c\",\"mobile\":\"\"}],\"cargoDetails\":[{\"name\":\"x\"}]}",
         "1016"},
        {"{\"orderId\":\"SIM-5\",\"contactInfoList\":[{\"contactType\":2,\"address\":\"a\","
         "\"contact\":\"c\",\"mobile\":\"1\"}],\"cargoDetails\":[{\"goodsCode\":\"x\"}]}",
         "1023"},
    };
    snprintf(now, sizeof now, "%lld", (long long)ob_time_now_ms());

    post_form(port, PARTNER, "EXP_RECE_CREATE_ORDER", now, good, CHECK_WORD, NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(code, "S0000");
    ob_buf_reset(&a.body);

    /* another partner */
    post_form(port, "SOMEONE_ELSE", "EXP_RECE_CREATE_ORDER", now, good, CHECK_WORD, NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1004");
    struct ob_outcome o = decode(a.status, a.body.data);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "A1004");
    ob_buf_reset(&a.body);

    /* another service */
    post_form(port, PARTNER, "EXP_RECE_SEARCH_ORDER_RESP", now, good, CHECK_WORD, NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1004");
    ob_buf_reset(&a.body);

    /* an old timestamp, correctly signed */
    post_form(port, PARTNER, "EXP_RECE_CREATE_ORDER", "1600000000000", good, CHECK_WORD, NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1002");
    ob_buf_reset(&a.body);

    /* msgData without orderId, or not JSON */
    post_form(port, PARTNER, "EXP_RECE_CREATE_ORDER", now, "{\"language\":\"zh-CN\"}", CHECK_WORD,
              NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1001");
    ob_buf_reset(&a.body);
    post_form(port, PARTNER, "EXP_RECE_CREATE_ORDER", now, "orderId=1", CHECK_WORD, NULL, &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1001");
    ob_buf_reset(&a.body);

    /* business errors, permanent for the adapter */
    for (size_t i = 0; i < sizeof business / sizeof business[0]; i++) {
        post_form(port, PARTNER, "EXP_RECE_CREATE_ORDER", now, business[i].msg_data, CHECK_WORD,
                  NULL, &a);
        answer_codes(&a, api, code);
        assert_string_equal(api, "A1000");
        assert_string_equal(code, business[i].code);
        o = decode(a.status, a.body.data);
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_contains(o.reason, business[i].code);
        ob_buf_reset(&a.body);
    }

    /* a missing field, and a body that is not a form */
    static const struct ob_header form_ct[] = {
        {.name = "Content-Type", .value = "application/x-www-form-urlencoded;charset=UTF-8"}};
    static const struct ob_header json_ct[] = {
        {.name = "Content-Type", .value = "application/json"}};
    static const char partial[] = "partnerID=" PARTNER "&serviceCode=EXP_RECE_CREATE_ORDER";
    http_post(port, "/std/service", form_ct, 1, partial, strlen(partial), &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1001");
    ob_buf_reset(&a.body);
    http_post(port, "/std/service", json_ct, 1, good, strlen(good), &a);
    answer_codes(&a, api, code);
    assert_string_equal(api, "A1001");
    ob_buf_reset(&a.body);

    /* another path */
    http_post(port, "/orders", form_ct, 1, partial, strlen(partial), &a);
    assert_int_equal(a.status, 404);
    o = decode(a.status, a.body.data);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    ob_buf_reset(&a.body);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.unauthorized, 1);
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.bad_requests, 4 + 4 + 2);
    assert_int_equal(ob_sim_created(sim, "SIM-1"), 1);
    assert_int_equal(ob_sim_created(sim, "SIM-2"), 0);
    ob_sim_stop(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_official_vector),
        cmocka_unit_test(test_digest_vector_utf8),
        cmocka_unit_test(test_encode_request_line_and_headers),
        cmocka_unit_test(test_encode_form_and_msg_data),
        cmocka_unit_test(test_encode_defaults),
        cmocka_unit_test(test_encode_each_attempt),
        cmocka_unit_test(test_encode_special_characters),
        cmocka_unit_test(test_encode_optional_fields_absent),
        cmocka_unit_test(test_encode_refuses_other_events),
        cmocka_unit_test(test_decode_created),
        cmocka_unit_test(test_decode_duplicate_is_accepted),
        cmocka_unit_test(test_decode_api_result_codes),
        cmocka_unit_test(test_decode_business_errors),
        cmocka_unit_test(test_decode_malformed_is_retry),
        cmocka_unit_test(test_decode_http_errors),
        cmocka_unit_test(test_decode_retry_after),
        cmocka_unit_test(test_decode_transport_error),
        cmocka_unit_test(test_init_credentials),
        cmocka_unit_test(test_init_direct),
        cmocka_unit_test(test_init_bad_settings),
        cmocka_unit_test(test_init_good_settings),
        cmocka_unit_test(test_sim_create_then_duplicate),
        cmocka_unit_test(test_sim_refuses_tampering),
        cmocka_unit_test(test_sim_official_vector),
        cmocka_unit_test(test_sim_checks),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return failed;
}
