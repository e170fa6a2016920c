/*
 * test_order.c — ob_order_parse / ob_money_parse against contracts/order.v1.
 *
 * Usage: test_order [EXAMPLE]  — EXAMPLE is contracts/example-order.json or
 * the folder holding it; default OB_CONTRACTS_DIR "/example-order.json".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <jansson.h>

#include "order.h"

#ifndef OB_CONTRACTS_DIR
#define OB_CONTRACTS_DIR "contracts"
#endif

#define MAX_BYTES (1u << 20)

static char g_path[4096];
static char *g_text;
static size_t g_len;

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */

static int load_example(void **state)
{
    (void)state;
    FILE *f = fopen(g_path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", g_path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    g_text = malloc((size_t)n + 1);
    if (!g_text || fread(g_text, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        return -1;
    }
    fclose(f);
    g_text[n] = '\0';
    g_len = (size_t)n;
    return 0;
}

static int free_example(void **state)
{
    (void)state;
    free(g_text);
    return 0;
}

static json_t *example(void)
{
    json_error_t err;
    json_t *doc = json_loadb(g_text, g_len, 0, &err);
    assert_non_null(doc);
    return doc;
}

static json_t *sub(json_t *doc, const char *key)
{
    json_t *v = json_object_get(doc, key);
    assert_non_null(v);
    return v;
}

static json_t *item(json_t *doc, size_t i)
{
    json_t *v = json_array_get(sub(doc, "items"), i);
    assert_non_null(v);
    return v;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Serialize `doc` (consumed) and parse it. */
static int parse_doc(json_t *doc, struct ob_order_problem *p)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    struct ob_parsed_order *po = (void *)1;
    json_decref(doc);
    assert_non_null(text);
    int rc = ob_order_parse(text, strlen(text), MAX_BYTES, &po, p);
    if (rc == 0) {
        assert_non_null(po);
        assert_int_equal(p->code, OB_ORDER_OK);
        ob_order_free(po);
    } else {
        assert_int_equal(rc, -1);
        assert_null(po);
        assert_int_not_equal(p->code, OB_ORDER_OK);
    }
    free(text);
    return rc;
}

static void expect_ok(json_t *doc)
{
    struct ob_order_problem p;
    int rc = parse_doc(doc, &p);
    if (rc != 0)
        fail_msg("expected a valid order, got %s: %s", ob_order_error_name(p.code), p.message);
}

/* Invalid order whose message is exactly `message`. */
static void expect_invalid(json_t *doc, const char *message)
{
    struct ob_order_problem p;
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_int_equal(p.code, OB_ORDER_INVALID);
    assert_string_equal(p.message, message);
}

/* Invalid order whose message starts with `prefix`. */
static void expect_invalid_prefix(json_t *doc, const char *prefix)
{
    struct ob_order_problem p;
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_int_equal(p.code, OB_ORDER_INVALID);
    if (!starts_with(p.message, prefix))
        fail_msg("message \"%s\" does not start with \"%s\"", p.message, prefix);
}

static int parse_bytes(const char *bytes, size_t len, struct ob_order_problem *p)
{
    struct ob_parsed_order *po = (void *)1;
    int rc = ob_order_parse(bytes, len, MAX_BYTES, &po, p);
    if (rc == 0)
        ob_order_free(po);
    else
        assert_null(po);
    return rc;
}

/* The example text with `insert` placed right after the first `after`. */
static char *splice(const char *after, const char *insert, size_t *len)
{
    const char *at = strstr(g_text, after);
    assert_non_null(at);
    size_t head = (size_t)(at - g_text) + strlen(after), ins = strlen(insert);
    char *s = malloc(g_len + ins + 1);
    assert_non_null(s);
    memcpy(s, g_text, head);
    memcpy(s + head, insert, ins);
    memcpy(s + head + ins, g_text + head, g_len - head + 1);
    *len = g_len + ins;
    return s;
}

/* A string of n copies of the UTF-8 character `ch`. */
static char *repeat(const char *ch, size_t n)
{
    size_t l = strlen(ch);
    char *s = malloc(l * n + 1);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * l, ch, l);
    s[l * n] = '\0';
    return s;
}

/* ------------------------------------------------------------------------ */
/* The example                                                               */

static void test_example_every_field(void **state)
{
    (void)state;
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem p;
    assert_int_equal(ob_order_parse(g_text, g_len, MAX_BYTES, &po, &p), 0);
    assert_non_null(po);
    assert_int_equal(p.code, OB_ORDER_OK);
    assert_string_equal(p.order_id, "SO20231111000123");

    const struct ob_order *o = &po->order;
    assert_int_equal(o->event, OB_EVENT_CREATED);
    assert_string_equal(o->event_name, "order.created");
    assert_string_equal(o->order_id, "SO20231111000123");
    assert_int_equal(o->revision, 1);
    assert_string_equal(o->channel, "tmall");
    assert_string_equal(o->shop_id, "skechers-flagship");
    assert_string_equal(o->created_at, "2023-11-11T00:00:03.120+08:00");
    assert_string_equal(o->warehouse, "SF-SH-01");
    assert_string_equal(o->priority, "express");

    assert_string_equal(o->buyer.id, "u-88231");
    assert_string_equal(o->buyer.nick, "跑鞋控");
    assert_string_equal(o->buyer.phone, "13800138000");
    assert_null(o->buyer.email);

    assert_string_equal(o->shipping_address.name, "张三");
    assert_string_equal(o->shipping_address.phone, "13800138000");
    assert_string_equal(o->shipping_address.country, "CN");
    assert_string_equal(o->shipping_address.province, "上海市");
    assert_string_equal(o->shipping_address.city, "上海市");
    assert_string_equal(o->shipping_address.district, "闵行区");
    assert_string_equal(o->shipping_address.street, "莘庄镇 春申路 1 号 2 单元 301");
    assert_string_equal(o->shipping_address.postal_code, "201100");

    assert_int_equal(o->n_items, 2);
    assert_ptr_equal(o->items, po->items);
    const struct ob_order_item *a = &o->items[0], *b = &o->items[1];
    assert_int_equal(a->line_no, 1);
    assert_string_equal(a->sku, "SKE-12345-BLK-42");
    assert_string_equal(a->barcode, "6901234567892");
    assert_string_equal(a->name, "D'LITES 复古老爹鞋 黑 42");
    assert_int_equal(a->quantity, 1);
    assert_string_equal(a->unit_price.text, "599.00");
    assert_int_equal(a->unit_price.minor, 59900);
    assert_string_equal(a->discount.text, "60.00");
    assert_int_equal(a->discount.minor, 6000);
    assert_int_equal(b->line_no, 2);
    assert_string_equal(b->sku, "SKE-SOCK-3P");
    assert_null(b->barcode);
    assert_string_equal(b->name, "运动袜 3 双装");
    assert_int_equal(b->quantity, 2);
    assert_string_equal(b->unit_price.text, "49.00");
    assert_int_equal(b->unit_price.minor, 4900);
    assert_null(b->discount.text);
    assert_int_equal(b->discount.minor, 0);

    assert_string_equal(o->amounts.currency, "CNY");
    assert_string_equal(o->amounts.goods.text, "697.00");
    assert_int_equal(o->amounts.goods.minor, 69700);
    assert_string_equal(o->amounts.shipping.text, "0.00");
    assert_int_equal(o->amounts.shipping.minor, 0);
    assert_string_equal(o->amounts.discount.text, "60.00");
    assert_int_equal(o->amounts.discount.minor, 6000);
    assert_string_equal(o->amounts.paid.text, "637.00");
    assert_int_equal(o->amounts.paid.minor, 63700);

    assert_string_equal(o->payment.method, "alipay");
    assert_string_equal(o->payment.paid_at, "2023-11-11T00:00:05+08:00");
    assert_string_equal(o->payment.transaction_id, "2023111122001400001");
    assert_string_equal(o->logistics.carrier, "SF");
    assert_string_equal(o->logistics.service, "next_morning");
    assert_string_equal(o->remark, "双11 预售尾款 & <请勿> 放快递柜");

    assert_non_null(o->doc);
    assert_ptr_equal(o->doc, po->doc);
    assert_true(json_is_object((const json_t *)o->doc));
    ob_order_free(po);
}

static void test_defaults_and_absent_optionals(void **state)
{
    (void)state;
    json_t *doc = example();
    static const char *const top[] = {"channel", "shop_id", "warehouse", "priority", "buyer",
                                      "payment", "logistics", "remark"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        json_object_del(doc, top[i]);
    json_object_del(sub(doc, "shipping_address"), "country");
    json_object_del(sub(doc, "shipping_address"), "district");
    json_object_del(sub(doc, "shipping_address"), "postal_code");
    json_object_del(sub(doc, "amounts"), "currency");
    json_object_del(sub(doc, "amounts"), "goods");
    json_object_del(sub(doc, "amounts"), "shipping");
    json_object_del(sub(doc, "amounts"), "discount");
    json_object_del(item(doc, 0), "barcode");
    json_object_del(item(doc, 0), "name");
    json_object_del(item(doc, 0), "discount");
    json_object_set_new(doc, "event", json_string("order.cancelled"));
    json_object_set_new(doc, "revision", json_integer(7));

    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct ob_parsed_order *po;
    struct ob_order_problem p;
    assert_int_equal(ob_order_parse(text, strlen(text), MAX_BYTES, &po, &p), 0);
    const struct ob_order *o = &po->order;
    assert_int_equal(o->event, OB_EVENT_CANCELLED);
    assert_string_equal(o->event_name, "order.cancelled");
    assert_int_equal(o->revision, 7);
    assert_string_equal(o->priority, "normal");
    assert_string_equal(o->shipping_address.country, "CN");
    assert_string_equal(o->amounts.currency, "CNY");
    assert_null(o->channel);
    assert_null(o->shop_id);
    assert_null(o->warehouse);
    assert_null(o->buyer.id);
    assert_null(o->buyer.nick);
    assert_null(o->buyer.phone);
    assert_null(o->buyer.email);
    assert_null(o->shipping_address.district);
    assert_null(o->shipping_address.postal_code);
    assert_null(o->items[0].barcode);
    assert_null(o->items[0].name);
    assert_null(o->items[0].discount.text);
    assert_int_equal(o->items[0].discount.minor, 0);
    assert_null(o->amounts.goods.text);
    assert_null(o->amounts.shipping.text);
    assert_null(o->amounts.discount.text);
    assert_int_equal(o->amounts.paid.minor, 63700);
    assert_null(o->payment.method);
    assert_null(o->payment.paid_at);
    assert_null(o->payment.transaction_id);
    assert_null(o->logistics.carrier);
    assert_null(o->logistics.service);
    assert_null(o->remark);
    ob_order_free(po);
    free(text);
}

static void test_event_updated_and_unknown_fields(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_set_new(doc, "event", json_string("order.updated"));
    json_object_set_new(doc, "x_future_field", json_pack("{s:[i,i]}", "a", 1, 2));
    json_object_set_new(item(doc, 0), "color", json_string("black"));
    json_object_set_new(sub(doc, "shipping_address"), "lat", json_real(31.1));
    expect_ok(doc);
}

static void test_problem_may_be_null(void **state)
{
    (void)state;
    struct ob_parsed_order *po;
    assert_int_equal(ob_order_parse(g_text, g_len, MAX_BYTES, &po, NULL), 0);
    ob_order_free(po);
    assert_int_equal(ob_order_parse("{", 1, MAX_BYTES, &po, NULL), -1);
    assert_null(po);
    ob_order_free(NULL);
}

/* ------------------------------------------------------------------------ */
/* Message-level failures                                                    */

static void test_empty(void **state)
{
    (void)state;
    struct ob_order_problem p;
    struct ob_parsed_order *po = (void *)1;
    assert_int_equal(ob_order_parse(NULL, 0, MAX_BYTES, &po, &p), -1);
    assert_null(po);
    assert_int_equal(p.code, OB_ORDER_EMPTY);
    assert_string_equal(ob_order_error_name(p.code), "empty");
    assert_string_equal(p.order_id, "");
    assert_int_equal(ob_order_parse("", 0, MAX_BYTES, &po, &p), -1);
    assert_int_equal(p.code, OB_ORDER_EMPTY);
}

static void test_too_large(void **state)
{
    (void)state;
    struct ob_order_problem p;
    struct ob_parsed_order *po;
    assert_int_equal(ob_order_parse(g_text, g_len, g_len - 1, &po, &p), -1);
    assert_int_equal(p.code, OB_ORDER_TOO_LARGE);
    assert_string_equal(ob_order_error_name(p.code), "too_large");
    assert_non_null(strstr(p.message, "limit"));
    /* exactly at the limit is fine */
    assert_int_equal(ob_order_parse(g_text, g_len, g_len, &po, &p), 0);
    ob_order_free(po);
    /* checked before parsing: garbage and bad bytes are just too large */
    assert_int_equal(ob_order_parse("not json \xff", 10, 4, &po, &p), -1);
    assert_int_equal(p.code, OB_ORDER_TOO_LARGE);

    /* a 10 MB message against the default 1 MiB limit (the mock broker
     * cannot hold one, so the integration test sends 4 MB) */
    size_t big_len = 10u * 1024 * 1024;
    char *big = malloc(big_len);
    assert_non_null(big);
    memset(big, ' ', big_len);
    memcpy(big, g_text, g_len);
    assert_int_equal(ob_order_parse(big, big_len, 1048576, &po, &p), -1);
    assert_int_equal(p.code, OB_ORDER_TOO_LARGE);
    assert_null(po);
    free(big);
}

static void test_invalid_json(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{",
        "{\"schema\":\"order.v1\",}",
        "not json",
        "{\"a\":1} trailing",
        "{\"a\":1}{\"a\":1}",
        "{'a':1}",
        "{\"a\":NaN}",
        "{\"order_id\":\"A\",\"order_id\":\"B\"}", /* duplicate keys are refused */
        "{\"a\":\"\\u0000\"}",                    /* NUL inside a string */
        "{\"a\":\"line\nbreak\"}",                /* raw control character */
        "{\"a\":\"\\ud800\"}",                    /* lone surrogate escape */
        "{\"revision\":99999999999999999999}",    /* beyond int64 */
        "{\"a\":1,\v\"b\":2}",                    /* \v is not JSON white space */
        "{\"a\":1,\f\"b\":2}",                    /* nor is \f */
        "{\"a\":\"\\udc00\"}",                    /* a low surrogate alone */
        "{\"a\":\"\\ud800\\u0041\"}",              /* a high one before no low one */
        "{\"a\":1}\"x",                          /* trailing garbage, a token cut short */
        "{\"a\":1}\"x}",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_order_problem p;
        assert_int_equal(parse_bytes(cases[i], strlen(cases[i]), &p), -1);
        if (p.code != OB_ORDER_INVALID_JSON)
            fail_msg("case %zu %s: got %s: %s", i, cases[i], ob_order_error_name(p.code), p.message);
        assert_string_equal(ob_order_error_name(p.code), "invalid_json");
        assert_non_null(strstr(p.message, "line 1, column"));
        assert_string_equal(p.order_id, "");
    }
    /* a NUL byte within the length */
    struct ob_order_problem p;
    assert_int_equal(parse_bytes("{\"a\":1}\0", 8, &p), -1);
    assert_int_equal(p.code, OB_ORDER_INVALID_JSON);
}

static void test_not_object(void **state)
{
    (void)state;
    static const struct {
        const char *text, *message;
    } cases[] = {
        {"[1,2]", "$: must be an object, got an array"},
        {"42", "$: must be an object, got a number"},
        {"\"order\"", "$: must be an object, got a string"},
        {"null", "$: must be an object, got null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_order_problem p;
        assert_int_equal(parse_bytes(cases[i].text, strlen(cases[i].text), &p), -1);
        assert_int_equal(p.code, OB_ORDER_INVALID);
        assert_string_equal(p.message, cases[i].message);
    }
}

static void test_not_utf8(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xd5\xc5\xc8\xfd", /* GBK "张三" */
        "\xe4\xb8",         /* truncated sequence */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        char *s = splice("\"remark\":\"", bad[i], &len);
        struct ob_order_problem p;
        assert_int_equal(parse_bytes(s, len, &p), -1);
        if (p.code != OB_ORDER_NOT_UTF8)
            fail_msg("case %zu: got %s: %s", i, ob_order_error_name(p.code), p.message);
        assert_string_equal(ob_order_error_name(p.code), "not_utf8");
        assert_non_null(strstr(p.message, "offset"));
        free(s);
    }
    /* bad bytes outside strings, and behind an earlier syntax error */
    struct ob_order_problem p;
    assert_int_equal(parse_bytes("{\xff}", 3, &p), -1);
    assert_int_equal(p.code, OB_ORDER_NOT_UTF8);
    assert_int_equal(parse_bytes("{,\"a\":\"\xff\"}", 10, &p), -1);
    assert_int_equal(p.code, OB_ORDER_NOT_UTF8);
    /* valid 4-byte UTF-8 (emoji) is of course fine */
    size_t len;
    char *s = splice("\"remark\":\"", "\xf0\x9f\x93\xa6", &len);
    assert_int_equal(parse_bytes(s, len, &p), 0);
    free(s);
}

/* ------------------------------------------------------------------------ */
/* order_id                                                                  */

static void test_missing_order_id(void **state)
{
    (void)state;
    json_t *doc = example();
    struct ob_order_problem p;
    json_object_del(doc, "order_id");
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_int_equal(p.code, OB_ORDER_INVALID);
    assert_string_equal(ob_order_error_name(p.code), "invalid_order");
    assert_string_equal(p.message, "$.order_id: required field is missing");
    assert_string_equal(p.order_id, "");
}

static void test_order_id_pattern(void **state)
{
    (void)state;
    static const char *const bad[] = {"SO 123", "SO/123", "订单123", "SO#1", "SO123\t", "a+b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = example();
        struct ob_order_problem p;
        json_object_set_new(doc, "order_id", json_string(bad[i]));
        assert_int_equal(parse_doc(doc, &p), -1);
        assert_int_equal(p.code, OB_ORDER_INVALID);
        static const char want[] = "$.order_id: must match ^[A-Za-z0-9_.:-]+$, got \"";
        if (!starts_with(p.message, want))
            fail_msg("case %zu: %s", i, p.message);
        assert_string_equal(p.order_id, "");
    }

    json_t *doc = example();
    json_object_set_new(doc, "order_id", json_string(""));
    expect_invalid(doc, "$.order_id: must be 1 to 64 characters, got 0");

    char *id65 = repeat("A", 65);
    doc = example();
    json_object_set_new(doc, "order_id", json_string(id65));
    expect_invalid(doc, "$.order_id: must be 1 to 64 characters, got 65");
    free(id65);

    doc = example();
    json_object_set_new(doc, "order_id", json_integer(123));
    expect_invalid(doc, "$.order_id: must be a string, got a number");

    /* the edges that are valid */
    char *id64 = repeat("z", 64);
    static const char *const good[] = {"a", "A-z_0.9:x", "tmall:SO-2023.11_11"};
    doc = example();
    json_object_set_new(doc, "order_id", json_string(id64));
    expect_ok(doc);
    free(id64);
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        doc = example();
        json_object_set_new(doc, "order_id", json_string(good[i]));
        expect_ok(doc);
    }
}

/*
 * Regression (issue 10): quoting a field made of control characters for the
 * message wrote past its 80-byte buffer; "AAAA" then 20 DEL bytes crashed the
 * bridge under AddressSanitizer, on every restart. Every prefix length and
 * run of DELs or other control bytes must give a clear, bounded message.
 */
static void test_quoted_control_bytes(void **state)
{
    (void)state;
    static const char ctl[] = {0x7f, 0x01, 0x1b};
    for (size_t c = 0; c < sizeof ctl; c++) {
        for (size_t prefix = 0; prefix <= 8; prefix++) {
            for (size_t run = 1; prefix + run <= 64; run++) {
                char payload[1024];
                size_t n = (size_t)snprintf(payload, sizeof payload,
                                            "{\"schema\":\"order.v1\",\"event\":\"order.created\",\"order_id\":\"");
                memset(payload + n, 'A', prefix);
                n += prefix;
                for (size_t i = 0; i < run; i++)
                    n += (size_t)snprintf(payload + n, sizeof payload - n,
                                          ctl[c] == 0x7f ? "\x7f" : "\\u%04x", ctl[c]);
                n += (size_t)snprintf(payload + n, sizeof payload - n, "\"}");
                struct ob_parsed_order *po = NULL;
                struct ob_order_problem p;
                assert_int_equal(ob_order_parse(payload, n, 1 << 20, &po, &p), -1);
                assert_null(po);
                assert_int_equal(p.code, OB_ORDER_INVALID);
                static const char want[] = "$.order_id: must match ^[A-Za-z0-9_.:-]+$, got \"";
                if (!starts_with(p.message, want))
                    fail_msg("prefix %zu run %zu: %s", prefix, run, p.message);
                /* escaped, never raw */
                for (const char *m = p.message; *m; m++)
                    assert_true((unsigned char)*m >= 0x20 && (unsigned char)*m != 0x7f);
                assert_non_null(strstr(p.message, "\\u00"));
            }
        }
    }
}

static void test_problem_order_id_on_invalid_order(void **state)
{
    (void)state;
    struct ob_order_problem p;
    /* the first problem comes before order_id in schema order */
    json_t *doc = example();
    json_object_set_new(doc, "schema", json_string("order.v2"));
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_string_equal(p.message, "$.schema: must be \"order.v1\", got \"order.v2\"");
    assert_string_equal(p.order_id, "SO20231111000123");

    /* ... and after it */
    doc = example();
    json_object_set_new(item(doc, 1), "unit_price", json_real(49.0));
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_string_equal(p.order_id, "SO20231111000123");

    doc = example();
    json_object_del(doc, "amounts");
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_string_equal(p.message, "$.amounts: required field is missing");
    assert_string_equal(p.order_id, "SO20231111000123");

    /* a 64-character id fills the buffer exactly */
    char *id64 = repeat("9", 64);
    doc = example();
    json_object_set_new(doc, "order_id", json_string(id64));
    json_object_set_new(doc, "revision", json_integer(0));
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_string_equal(p.order_id, id64);
    free(id64);
}

/* ------------------------------------------------------------------------ */
/* revision, items                                                           */

static void test_revision(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_set_new(doc, "revision", json_integer(0));
    expect_invalid(doc, "$.revision: must be an integer >= 1, got 0");

    doc = example();
    json_object_set_new(doc, "revision", json_integer(-3));
    expect_invalid(doc, "$.revision: must be an integer >= 1, got -3");

    doc = example();
    json_object_set_new(doc, "revision", json_real(1.5));
    expect_invalid(doc, "$.revision: must be an integer, got a real number 1.5");

    doc = example();
    json_object_set_new(doc, "revision", json_real(1.0)); /* still a real */
    expect_invalid_prefix(doc, "$.revision: must be an integer, got a real number");

    doc = example();
    json_object_set_new(doc, "revision", json_string("1"));
    expect_invalid(doc, "$.revision: must be an integer, got a string");

    doc = example();
    json_object_set_new(doc, "revision", json_null());
    expect_invalid(doc, "$.revision: must be an integer, got null");

    doc = example();
    json_object_del(doc, "revision");
    expect_invalid(doc, "$.revision: required field is missing");

    struct ob_order_problem p;
    const char *big = "{\"schema\":\"order.v1\",\"revision\":9223372036854775807}";
    assert_int_equal(parse_bytes(big, strlen(big), &p), -1);
    assert_string_equal(p.message, "$.event: required field is missing"); /* revision itself was fine */
}

static void test_items_count(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_set_new(doc, "items", json_array());
    expect_invalid(doc, "$.items: must hold 1 to 500 items, got 0");

    for (int n = 500; n <= 501; n++) {
        doc = example();
        json_t *items = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(items, json_pack("{s:i,s:s,s:i,s:s}", "line_no", i + 1, "sku", "SKU-1",
                                                   "quantity", 1, "unit_price", "1.00"));
        json_object_set_new(doc, "items", items);
        if (n == 500)
            expect_ok(doc);
        else
            expect_invalid(doc, "$.items: must hold 1 to 500 items, got 501");
    }

    doc = example();
    json_object_set_new(doc, "items", json_object());
    expect_invalid(doc, "$.items: must be an array, got an object");

    doc = example();
    json_object_del(doc, "items");
    expect_invalid(doc, "$.items: required field is missing");
}

static void test_item_fields(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_set_new(item(doc, 1), "quantity", json_integer(0));
    expect_invalid(doc, "$.items[1].quantity: must be an integer from 1 to 2147483647, got 0");

    doc = example();
    json_object_set_new(item(doc, 0), "quantity", json_integer(-2));
    expect_invalid(doc, "$.items[0].quantity: must be an integer from 1 to 2147483647, got -2");

    doc = example();
    json_object_set_new(item(doc, 0), "quantity", json_integer(2147483648LL));
    expect_invalid(doc, "$.items[0].quantity: must be an integer from 1 to 2147483647, got 2147483648");

    doc = example();
    json_object_set_new(item(doc, 0), "quantity", json_real(2.0));
    expect_invalid(doc, "$.items[0].quantity: must be an integer, got a real number 2.0");

    doc = example();
    json_object_set_new(item(doc, 0), "line_no", json_integer(0));
    expect_invalid(doc, "$.items[0].line_no: must be an integer from 1 to 2147483647, got 0");

    doc = example();
    json_object_set_new(item(doc, 1), "sku", json_string(""));
    expect_invalid(doc, "$.items[1].sku: must not be empty");

    doc = example();
    json_object_del(item(doc, 1), "sku");
    expect_invalid(doc, "$.items[1].sku: required field is missing");

    doc = example();
    json_object_del(item(doc, 0), "unit_price");
    expect_invalid(doc, "$.items[0].unit_price: required field is missing");

    doc = example();
    json_array_set_new(sub(doc, "items"), 1, json_string("SKE-SOCK-3P"));
    expect_invalid(doc, "$.items[1]: must be an object, got a string");

    doc = example();
    json_object_set_new(item(doc, 0), "barcode", json_integer(6901234567892LL));
    expect_invalid(doc, "$.items[0].barcode: must be a string, got a number");

    /* the first bad item wins */
    doc = example();
    json_object_set_new(item(doc, 0), "quantity", json_integer(0));
    json_object_set_new(item(doc, 1), "quantity", json_integer(0));
    expect_invalid_prefix(doc, "$.items[0].quantity:");
}

/* ------------------------------------------------------------------------ */
/* money                                                                     */

static void test_float_money(void **state)
{
    (void)state;
    struct ob_order_problem p;
    json_t *doc = example();
    json_object_set_new(item(doc, 1), "unit_price", json_real(599.0));
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_int_equal(p.code, OB_ORDER_INVALID);
    assert_string_equal(p.message, "$.items[1].unit_price: must be a decimal string, got a number");
    assert_string_equal(p.order_id, "SO20231111000123");

    /* the literal text, as a producer would send it */
    const char *raw = strstr(g_text, "\"unit_price\":\"599.00\"");
    assert_non_null(raw);
    char *t = strdup(g_text);
    memcpy(t + (raw - g_text), "\"unit_price\":599.0   ", 21); /* same length */
    assert_int_equal(parse_bytes(t, g_len, &p), -1);
    assert_string_equal(p.message, "$.items[0].unit_price: must be a decimal string, got a number");
    free(t);

    doc = example();
    json_object_set_new(item(doc, 0), "unit_price", json_integer(599));
    expect_invalid(doc, "$.items[0].unit_price: must be a decimal string, got a number");

    doc = example();
    json_object_set_new(item(doc, 0), "discount", json_real(60.5));
    expect_invalid(doc, "$.items[0].discount: must be a decimal string, got a number");

    doc = example();
    json_object_set_new(sub(doc, "amounts"), "paid", json_real(637.0));
    expect_invalid(doc, "$.amounts.paid: must be a decimal string, got a number");

    doc = example();
    json_object_set_new(sub(doc, "amounts"), "goods", json_null());
    expect_invalid(doc, "$.amounts.goods: must be a decimal string, got null");
}

static void test_bad_money_strings(void **state)
{
    (void)state;
    static const char *const bad[] = {"1.234", "1.", ".5", "+1", "1e2", "", " 1", "1 ", "1,50", "¥1", "1.5.0", "-", "--1", "0x10"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = example();
        struct ob_order_problem p;
        json_object_set_new(item(doc, 0), "unit_price", json_string(bad[i]));
        assert_int_equal(parse_doc(doc, &p), -1);
        assert_int_equal(p.code, OB_ORDER_INVALID);
        if (!starts_with(p.message, "$.items[0].unit_price: must be a decimal string like \"12.34\""))
            fail_msg("case %zu \"%s\": %s", i, bad[i], p.message);
    }
    json_t *doc = example();
    json_object_set_new(sub(doc, "amounts"), "paid", json_string("92233720368547758.08"));
    expect_invalid(doc, "$.amounts.paid: amount out of range, got \"92233720368547758.08\"");

    doc = example();
    json_object_set_new(sub(doc, "amounts"), "discount", json_string("1.234"));
    expect_invalid(doc, "$.amounts.discount: must be a decimal string like \"12.34\" (at most 2 decimals), got \"1.234\"");

    /* the pattern admits these */
    static const struct {
        const char *text;
        int64_t minor;
    } good[] = {{"1", 100}, {"1.5", 150}, {"-0.01", -1}, {"007.10", 710}, {"-5", -500}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        doc = example();
        json_object_set_new(item(doc, 0), "unit_price", json_string(good[i].text));
        char *text = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        struct ob_parsed_order *po;
        struct ob_order_problem p;
        assert_int_equal(ob_order_parse(text, strlen(text), MAX_BYTES, &po, &p), 0);
        assert_string_equal(po->order.items[0].unit_price.text, good[i].text);
        assert_int_equal(po->order.items[0].unit_price.minor, good[i].minor);
        ob_order_free(po);
        free(text);
    }
}

static void test_amounts(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_del(sub(doc, "amounts"), "paid");
    expect_invalid(doc, "$.amounts.paid: required field is missing");

    doc = example();
    json_object_set_new(sub(doc, "amounts"), "currency", json_integer(156));
    expect_invalid(doc, "$.amounts.currency: must be a string, got a number");

    doc = example();
    json_object_set_new(doc, "amounts", json_string("637.00"));
    expect_invalid(doc, "$.amounts: must be an object, got a string");
}

static void test_money_parse(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t minor;
    } good[] = {
        {"0", 0},
        {"-0", 0},
        {"1", 100},
        {"1.5", 150},
        {"1.50", 150},
        {"-0.01", -1},
        {"599.00", 59900},
        {"007", 700},
        {"0.1", 10},
        {"92233720368547758.07", INT64_MAX},
        {"92233720368547758", 9223372036854775800LL},
        {"-92233720368547758.08", INT64_MIN},
        {"00000000000000000000000000001.23", 123},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = 42;
        if (ob_money_parse(good[i].text, &v) != 0)
            fail_msg("\"%s\" refused", good[i].text);
        assert_int_equal(v, good[i].minor);
    }
    static const char *const bad[] = {
        "1.",      ".5",   "1.234", "+1",   "",   "-",    "1 ",  " 1",   "1,5",
        "1.5.0",   "0x10", "1e2",   "-.5",  "--1", "1-",  "NaN", "inf", "１",
        "92233720368547758.08",  /* INT64_MAX + 1 */
        "-92233720368547758.09", /* INT64_MIN - 1 */
        "92233720368547759",     /* overflows in the scaling */
        "99999999999999999999",  /* overflows in the digits */
        "184467440737095516.16", /* UINT64_MAX + 1: wraps in a naive parser */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        if (ob_money_parse(bad[i], &v) != -1)
            fail_msg("\"%s\" accepted as %lld", bad[i], (long long)v);
    }
    int64_t v;
    assert_int_equal(ob_money_parse(NULL, &v), -1);
    assert_int_equal(ob_money_parse("12.34", NULL), 0);
}

/* ------------------------------------------------------------------------ */
/* remark, created_at, enums, address, types                                 */

static void test_remark_length(void **state)
{
    (void)state;
    static const char *const chars[] = {"中", "\xf0\x9f\x98\x80" /* 😀 */, "a"};
    for (size_t i = 0; i < sizeof chars / sizeof chars[0]; i++) {
        char *ok = repeat(chars[i], 1024), *long1 = repeat(chars[i], 1025);
        json_t *doc = example();
        json_object_set_new(doc, "remark", json_string(ok));
        expect_ok(doc);
        doc = example();
        json_object_set_new(doc, "remark", json_string(long1));
        expect_invalid(doc, "$.remark: must be at most 1024 characters, got 1025");
        free(ok);
        free(long1);
    }
    json_t *doc = example();
    json_object_set_new(doc, "remark", json_string(""));
    expect_ok(doc);
    doc = example();
    json_object_set_new(doc, "remark", json_integer(1));
    expect_invalid(doc, "$.remark: must be a string, got a number");
}

static void test_created_at(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "2023-11-11",
        "2023-11-11T00:00:03",         /* no offset */
        "2023-11-11 00:00:03+08:00",   /* space separator */
        "2023-11-11T00:00:03+0800",    /* offset without colon */
        "2023-11-11T00:00:03+08",      /* short offset */
        "2023-11-11T00:00:03.Z",       /* empty fraction */
        "2023-11-11T00:00:03Z ",       /* trailing space */
        " 2023-11-11T00:00:03Z",       /* leading space */
        "23-11-11T00:00:03Z",          /* two-digit year */
        "2023-1-11T00:00:03Z",         /* one-digit month */
        "2023/11/11T00:00:03Z",        /* wrong separators */
        "2023-00-11T00:00:03Z",        /* month 0 */
        "2023-13-01T00:00:00Z",        /* month 13 */
        "2023-11-00T00:00:00Z",        /* day 0 */
        "2023-02-29T00:00:00Z",        /* not a leap year */
        "1900-02-29T00:00:00Z",        /* century, not a leap year */
        "2023-04-31T00:00:00Z",        /* April has 30 days */
        "2023-11-11T24:00:00Z",        /* hour 24 */
        "2023-11-11T23:60:00Z",        /* minute 60 */
        "2023-11-11T23:59:61Z",        /* second 61 */
        "2023-11-11T12:00:60Z",        /* leap second not at 23:59 UTC */
        "2023-11-11T00:00:03+24:00",   /* offset hour 24 */
        "2023-11-11T00:00:03+08:60",   /* offset minute 60 */
        "2023-11-11T00:00:03X",        /* unknown zone */
        "2023-11-11T00:00:03+08:00Z",  /* two zones */
        "2023-11-11T0:00:03Z",         /* one-digit hour */
        "1699632003",                  /* epoch seconds as a string */
        "２０２３-11-11T00:00:03Z",     /* full-width digits */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *doc = example();
        struct ob_order_problem p;
        json_object_set_new(doc, "created_at", json_string(bad[i]));
        assert_int_equal(parse_doc(doc, &p), -1);
        assert_int_equal(p.code, OB_ORDER_INVALID);
        if (!starts_with(p.message, "$.created_at: must be an RFC 3339 date-time ("))
            fail_msg("case %zu \"%s\": %s", i, bad[i], p.message);
    }
    static const char *const good[] = {
        "2023-11-11T00:00:03+08:00",
        "2023-11-11T00:00:03.120+08:00",
        "2023-11-11T00:00:03.123456789-05:30",
        "2023-11-11T00:00:03Z",
        "2023-11-11t00:00:03z", /* RFC 3339 5.6 allows lower case */
        "2024-02-29T00:00:00Z",
        "2000-02-29T00:00:00Z",
        "2016-12-31T23:59:60Z",      /* a leap second */
        "2017-01-01T07:59:60+08:00", /* the same leap second in Beijing */
        "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59.9-23:59",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *doc = example();
        json_object_set_new(doc, "created_at", json_string(good[i]));
        expect_ok(doc);
    }
    json_t *doc = example();
    json_object_set_new(doc, "created_at", json_integer(1699632003));
    expect_invalid(doc, "$.created_at: must be a string, got a number");
    doc = example();
    json_object_del(doc, "created_at");
    expect_invalid(doc, "$.created_at: required field is missing");
}

static void test_enums(void **state)
{
    (void)state;
    json_t *doc = example();
    json_object_set_new(doc, "event", json_string("order.deleted"));
    expect_invalid(doc, "$.event: must be one of \"order.created\", \"order.updated\", \"order.cancelled\", got "
                        "\"order.deleted\"");

    doc = example();
    json_object_set_new(doc, "event", json_integer(1));
    expect_invalid(doc, "$.event: must be one of \"order.created\", \"order.updated\", \"order.cancelled\", got a "
                        "number");

    doc = example();
    json_object_set_new(doc, "event", json_string("ORDER.CREATED")); /* case matters */
    expect_invalid_prefix(doc, "$.event: must be one of");

    doc = example();
    json_object_set_new(doc, "channel", json_string("taobao"));
    expect_invalid(doc, "$.channel: must be one of \"tmall\", \"jd\", \"pdd\", \"douyin\", \"wechat\", \"website\", "
                        "\"store\", got \"taobao\"");

    doc = example();
    json_object_set_new(doc, "priority", json_string("urgent"));
    expect_invalid(doc, "$.priority: must be one of \"normal\", \"express\", \"presale\", got \"urgent\"");

    doc = example();
    json_object_set_new(sub(doc, "logistics"), "service", json_string("overnight"));
    expect_invalid(doc, "$.logistics.service: must be one of \"standard\", \"express\", \"same_day\", "
                        "\"next_morning\", got \"overnight\"");

    doc = example();
    json_object_set_new(doc, "schema", json_string("order.v2"));
    expect_invalid(doc, "$.schema: must be \"order.v1\", got \"order.v2\"");

    doc = example();
    json_object_set_new(doc, "schema", json_integer(1));
    expect_invalid(doc, "$.schema: must be \"order.v1\", got a number");

    doc = example();
    json_object_del(doc, "schema");
    expect_invalid(doc, "$.schema: required field is missing");

    doc = example();
    json_object_del(doc, "event");
    expect_invalid(doc, "$.event: required field is missing");

    /* quoting in messages: escapes and truncation */
    doc = example();
    json_object_set_new(doc, "channel", json_string("a\"b\\c\nd"));
    expect_invalid_prefix(doc, "$.channel: must be one of");
    doc = example();
    char *longv = repeat("渠道", 100);
    json_object_set_new(doc, "channel", json_string(longv));
    struct ob_order_problem p;
    assert_int_equal(parse_doc(doc, &p), -1);
    assert_non_null(strstr(p.message, "...\""));
    assert_true(strlen(p.message) < 300);
    free(longv);

    /* every valid value */
    static const char *const events[] = {"order.created", "order.updated", "order.cancelled"};
    static const char *const channels[] = {"tmall", "jd", "pdd", "douyin", "wechat", "website", "store"};
    static const char *const services[] = {"standard", "express", "same_day", "next_morning"};
    static const char *const priorities[] = {"normal", "express", "presale"};
    for (size_t i = 0; i < 3; i++) {
        doc = example();
        json_object_set_new(doc, "event", json_string(events[i]));
        json_object_set_new(doc, "priority", json_string(priorities[i]));
        expect_ok(doc);
    }
    for (size_t i = 0; i < 7; i++) {
        doc = example();
        json_object_set_new(doc, "channel", json_string(channels[i]));
        json_object_set_new(sub(doc, "logistics"), "service", json_string(services[i % 4]));
        expect_ok(doc);
    }
}

static void test_shipping_address(void **state)
{
    (void)state;
    static const char *const required[] = {"name", "phone", "province", "city", "street"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[128];
        json_t *doc = example();
        json_object_del(sub(doc, "shipping_address"), required[i]);
        snprintf(want, sizeof want, "$.shipping_address.%s: required field is missing", required[i]);
        expect_invalid(doc, want);
    }
    json_t *doc = example();
    json_object_del(sub(doc, "shipping_address"), "city");
    expect_invalid(doc, "$.shipping_address.city: required field is missing");

    doc = example();
    json_object_del(doc, "shipping_address");
    expect_invalid(doc, "$.shipping_address: required field is missing");

    doc = example();
    json_object_set_new(doc, "shipping_address", json_array());
    expect_invalid(doc, "$.shipping_address: must be an object, got an array");

    doc = example();
    json_object_set_new(sub(doc, "shipping_address"), "phone", json_integer(13800138000LL));
    expect_invalid(doc, "$.shipping_address.phone: must be a string, got a number");

    doc = example();
    json_object_set_new(sub(doc, "shipping_address"), "postal_code", json_integer(201100));
    expect_invalid(doc, "$.shipping_address.postal_code: must be a string, got a number");
}

static void test_wrong_types(void **state)
{
    (void)state;
    static const struct {
        const char *object, *key; /* object NULL: top level */
        const char *json, *message;
    } cases[] = {
        {NULL, "shop_id", "1", "$.shop_id: must be a string, got a number"},
        {NULL, "warehouse", "null", "$.warehouse: must be a string, got null"},
        {NULL, "buyer", "\"u-1\"", "$.buyer: must be an object, got a string"},
        {"buyer", "phone", "13800138000", "$.buyer.phone: must be a string, got a number"},
        {"buyer", "email", "[]", "$.buyer.email: must be a string, got an array"},
        {"buyer", "nick", "true", "$.buyer.nick: must be a string, got a boolean"},
        {NULL, "payment", "[]", "$.payment: must be an object, got an array"},
        {"payment", "paid_at", "1699632005", "$.payment.paid_at: must be a string, got a number"},
        {"payment", "transaction_id", "2023111122001400001", "$.payment.transaction_id: must be a string, got a number"},
        {NULL, "logistics", "\"SF\"", "$.logistics: must be an object, got a string"},
        {"logistics", "carrier", "false", "$.logistics.carrier: must be a string, got a boolean"},
        {"shipping_address", "country", "{}", "$.shipping_address.country: must be a string, got an object"},
        {"amounts", "currency", "null", "$.amounts.currency: must be a string, got null"},
        {NULL, "remark", "null", "$.remark: must be a string, got null"},
        {NULL, "items", "\"none\"", "$.items: must be an array, got a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *doc = example();
        json_t *target = cases[i].object ? sub(doc, cases[i].object) : doc;
        json_object_set_new(target, cases[i].key, json_loads(cases[i].json, JSON_DECODE_ANY, NULL));
        expect_invalid(doc, cases[i].message);
    }
    json_t *doc = example();
    json_object_set_new(item(doc, 1), "name", json_null());
    expect_invalid(doc, "$.items[1].name: must be a string, got null");
}

static void test_first_problem_in_schema_order(void **state)
{
    (void)state;
    /* schema order: schema, event, order_id, revision, channel, shop_id,
     * created_at, warehouse, priority, buyer, shipping_address, items,
     * amounts, payment, logistics, remark */
    json_t *doc = example();
    json_object_set_new(doc, "remark", json_integer(1));
    json_object_set_new(doc, "items", json_array());
    json_object_set_new(doc, "created_at", json_string("yesterday"));
    expect_invalid_prefix(doc, "$.created_at:");

    doc = example();
    json_object_set_new(doc, "remark", json_integer(1));
    json_object_del(sub(doc, "amounts"), "paid");
    json_object_set_new(sub(doc, "shipping_address"), "street", json_null());
    expect_invalid(doc, "$.shipping_address.street: must be a string, got null");

    const char *min = "{}";
    struct ob_order_problem p;
    assert_int_equal(parse_bytes(min, strlen(min), &p), -1);
    assert_string_equal(p.message, "$.schema: required field is missing");
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(ob_order_error_name(OB_ORDER_OK), "ok");
    assert_string_equal(ob_order_error_name(OB_ORDER_EMPTY), "empty");
    assert_string_equal(ob_order_error_name(OB_ORDER_TOO_LARGE), "too_large");
    assert_string_equal(ob_order_error_name(OB_ORDER_NOT_UTF8), "not_utf8");
    assert_string_equal(ob_order_error_name(OB_ORDER_INVALID_JSON), "invalid_json");
    assert_string_equal(ob_order_error_name(OB_ORDER_INVALID), "invalid_order");
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    struct stat st;
    if (argc > 1 && stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(g_path, sizeof g_path, "%s/example-order.json", argv[1]);
    else if (argc > 1)
        snprintf(g_path, sizeof g_path, "%s", argv[1]);
    else
        snprintf(g_path, sizeof g_path, "%s/example-order.json", OB_CONTRACTS_DIR);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_every_field),
        cmocka_unit_test(test_defaults_and_absent_optionals),
        cmocka_unit_test(test_event_updated_and_unknown_fields),
        cmocka_unit_test(test_problem_may_be_null),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_not_utf8),
        cmocka_unit_test(test_missing_order_id),
        cmocka_unit_test(test_order_id_pattern),
        cmocka_unit_test(test_quoted_control_bytes),
        cmocka_unit_test(test_problem_order_id_on_invalid_order),
        cmocka_unit_test(test_revision),
        cmocka_unit_test(test_items_count),
        cmocka_unit_test(test_item_fields),
        cmocka_unit_test(test_float_money),
        cmocka_unit_test(test_bad_money_strings),
        cmocka_unit_test(test_amounts),
        cmocka_unit_test(test_money_parse),
        cmocka_unit_test(test_remark_length),
        cmocka_unit_test(test_created_at),
        cmocka_unit_test(test_enums),
        cmocka_unit_test(test_shipping_address),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_first_problem_in_schema_order),
        cmocka_unit_test(test_error_names),
    };
    return cmocka_run_group_tests(tests, load_example, free_example);
}
