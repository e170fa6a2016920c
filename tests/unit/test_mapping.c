/*
 * test_mapping — the declarative mapping engine: every format, the
 * filters, and that no order field can break a document.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>

#include <orderbridge/mapping.h>

#ifndef OB_SOURCE_DIR
#define OB_SOURCE_DIR "."
#endif
#define MAPPINGS OB_SOURCE_DIR "/mappings"
#define EXAMPLE OB_SOURCE_DIR "/contracts/example-order.json"

/* 2023-11-14T22:13:20.123Z */
#define NOW_MS 1700000000123LL

static json_t *example(void)
{
    json_error_t err;
    json_t *doc = json_load_file(EXAMPLE, 0, &err);

    assert_non_null(doc);
    return doc;
}

static const char *variable(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "credential.partner_id") == 0)
        return "PARTNER-1";
    return NULL;
}

static struct ob_mapping_context context(const json_t *order)
{
    struct ob_mapping_context ctx = {
        .order_doc = order,
        .warehouse = "WH-1",
        .idempotency_key = "abc123",
        .attempt = 2,
        .now_ms = NOW_MS,
        .variable = variable,
    };
    return ctx;
}

/* Render `text` as `format` against `order`; returns malloc()ed output or NULL with err. */
static char *render(const char *text, enum ob_mapping_format format, const json_t *order,
                    char *err, size_t err_size)
{
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = context(order);
    struct ob_buf out;
    char *result = NULL;

    err[0] = '\0';
    if (ob_mapping_parse(text, strlen(text), format, "test", NULL, &m, err, err_size) != 0)
        return NULL;
    ob_buf_init(&out, 1 << 20);
    ob_buf_append(&out, "", 0);
    if (ob_mapping_render(m, &ctx, &out, err, err_size) == 0)
        result = ob_buf_steal(&out, NULL);
    ob_buf_reset(&out);
    ob_mapping_free(m);
    return result;
}

static void test_json_values_and_filters(void **state)
{
    (void)state;
    json_t *order = example();
    char err[512];
    char *text = render("{\"id\": {{ order_id }}, \"rev\": {{ revision }}, "
                        "\"fen\": {{ items[0].unit_price | fen }}, "
                        "\"price\": {{ items[0].unit_price | number }}, "
                        "\"missing\": {{ shipping_address.nowhere }}, "
                        "\"dflt\": {{ buyer.email | default:'none' }}, "
                        "\"yuan\": {{ amounts.paid | fen | yuan }}, "
                        "\"mapped\": {{ priority | map:'normal=N,express=E' }}, "
                        "\"upper\": {{ channel | upper }}, "
                        "\"date\": {{ created_at | date:'yyyy-MM-dd HH:mm:ss' }}, "
                        "\"now\": {{ @now_ms | date:'yyyyMMddHHmmssSSS' }}, "
                        "\"wh\": {{ @warehouse }}, \"key\": {{ @idempotency_key }}, "
                        "\"attempt\": {{ @attempt }}, \"var\": {{ @credential.partner_id }}, "
                        "\"short\": {{ remark | truncate:4 }}, "
                        "\"skus\": [{{#each items ','}}{{ sku }}{{/each}}], "
                        "\"lines\": [{{#each items ', '}}{{ @number }}{{/each}}], "
                        "\"root\": [{{#each items ','}}{{ $.order_id }}{{/each}}]}",
                        OB_MAPPING_JSON, order, err, sizeof err);
    assert_non_null(text);
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    if (!doc)
        fail_msg("not JSON (%s): %s", jerr.text, text);
    assert_string_equal(json_string_value(json_object_get(doc, "id")), "SO20231111000123");
    assert_int_equal(json_integer_value(json_object_get(doc, "rev")), 1);
    assert_int_equal(json_integer_value(json_object_get(doc, "fen")), 59900);
    /* "599.00" written as the number 599.00: the decimal text, never a float */
    assert_non_null(strstr(text, "\"price\": 599.00"));
    assert_true(json_is_null(json_object_get(doc, "missing")));
    assert_string_equal(json_string_value(json_object_get(doc, "dflt")), "none");
    assert_string_equal(json_string_value(json_object_get(doc, "yuan")), "637.00");
    assert_string_equal(json_string_value(json_object_get(doc, "mapped")), "E");
    assert_string_equal(json_string_value(json_object_get(doc, "upper")), "TMALL");
    /* created_at 2023-11-11T00:00:03.120+08:00 in Asia/Shanghai */
    assert_string_equal(json_string_value(json_object_get(doc, "date")), "2023-11-11 00:00:03");
    /* 2023-11-14T22:13:20.123Z is 06:13:20 next day in Shanghai */
    assert_string_equal(json_string_value(json_object_get(doc, "now")), "20231115061320123");
    assert_string_equal(json_string_value(json_object_get(doc, "wh")), "WH-1");
    assert_string_equal(json_string_value(json_object_get(doc, "key")), "abc123");
    assert_int_equal(json_integer_value(json_object_get(doc, "attempt")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "var")), "PARTNER-1");
    /* four code points of "双11 预售…", not four bytes */
    assert_string_equal(json_string_value(json_object_get(doc, "short")), "双11 ");
    json_t *skus = json_object_get(doc, "skus");
    assert_int_equal(json_array_size(skus), 2);
    assert_string_equal(json_string_value(json_array_get(skus, 1)), "SKE-SOCK-3P");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(doc, "lines"), 1)), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(doc, "root"), 1)),
                        "SO20231111000123");
    json_decref(doc);
    free(text);
    json_decref(order);
}

/* Values that would close a string, an element or a document arrive as
 * the same text after parsing. */
static void test_no_field_breaks_the_document(void **state)
{
    (void)state;
    static const char *const nasty[] = {
        "\"}]},{\"x\":\"y", "</name><evil/>", "a & b < c > d \" e ' f", "\\\"\\", "line\nbreak\ttab\x01",
        "{{ order_id }}", "双11 预售尾款 & <请勿> 放快递柜 😀",
    };
    char err[512];

    for (size_t i = 0; i < sizeof nasty / sizeof *nasty; i++) {
        json_t *order = example();
        json_object_set_new(order, "remark", json_string(nasty[i]));

        char *text = render("{\"r\": {{ remark }}}", OB_MAPPING_JSON, order, err, sizeof err);
        assert_non_null(text);
        json_t *doc = json_loads(text, 0, NULL);
        assert_non_null(doc);
        assert_string_equal(json_string_value(json_object_get(doc, "r")), nasty[i]);
        json_decref(doc);
        free(text);

        text = render("<a><r>{{ remark }}</r></a>", OB_MAPPING_XML, order, err, sizeof err);
        if (strchr(nasty[i], '\x01')) {
            /* XML 1.0 cannot carry U+0001 at all: refused, never sent broken. */
            assert_null(text);
            assert_non_null(strstr(err, "cannot be written in XML"));
            json_decref(order);
            continue;
        }
        assert_non_null(text);
        xmlDocPtr xml = xmlReadMemory(text, (int)strlen(text), "t.xml", "UTF-8", XML_PARSE_NONET);
        assert_non_null(xml);
        xmlNodePtr root = xmlDocGetRootElement(xml);
        assert_string_equal((const char *)root->name, "a");
        assert_non_null(root->children);
        assert_null(root->children->next); /* one child: no injected element */
        xmlChar *content = xmlNodeGetContent(root->children);
        assert_string_equal((char *)content, nasty[i]);
        xmlFree(content);
        xmlFreeDoc(xml);
        free(text);
        json_decref(order);
    }
}

/* Expected values from Python's base64 and urllib.parse.quote(safe='-._~'). */
static void test_encoding_filters(void **state)
{
    (void)state;
    json_t *order = example();
    char err[512];

    json_object_set_new(order, "remark", json_string("SKE-SOCK-3P & 运动袜"));
    char *text = render("{{ order_id | base64 }}|{{ remark | url }}", OB_MAPPING_TEXT, order, err,
                        sizeof err);
    assert_non_null(text);
    assert_string_equal(text, "U08yMDIzMTExMTAwMDEyMw==|SKE-SOCK-3P%20%26%20%E8%BF%90%E5%8A%A8%E8%A2%9C");
    free(text);
    assert_null(render("{{ revision | base64 }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "base64 needs a string"));
    json_decref(order);
}

static void test_if_else(void **state)
{
    (void)state;
    json_t *order = example();
    char err[512];
    char *text = render("{{#if buyer.email}}mail{{else}}no mail{{/if}}/"
                        "{{#if remark}}remark{{/if}}/{{#if logistics.carrier}}{{ logistics.carrier }}{{/if}}",
                        OB_MAPPING_TEXT, order, err, sizeof err);
    assert_non_null(text);
    assert_string_equal(text, "no mail/remark/SF");
    free(text);
    json_decref(order);
}

static void test_parse_errors_name_file_and_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum ob_mapping_format format;
        const char *expect;
    } cases[] = {
        {"a\nb {{ order_id | fenn }}", OB_MAPPING_TEXT, "test:2: unknown filter 'fenn'"},
        {"{{#each items}}x", OB_MAPPING_TEXT, "is not closed with {{/each}}"},
        {"x {{ order_id", OB_MAPPING_TEXT, "'{{' without '}}'"},
        {"{\"a\": \"{{ order_id }}\"}", OB_MAPPING_JSON, "without quotes around the placeholder"},
        {"{{ truncate }}{{ remark | truncate }}", OB_MAPPING_TEXT, "truncate takes 1 to 1"},
        {"{{> other.json }}", OB_MAPPING_TEXT, "only a file in the mapping's own folder"},
        {"{{/if}}", OB_MAPPING_TEXT, "unexpected {{/if}}"},
        {"k {{ x }}", OB_MAPPING_FORM, "expected 'key = template'"},
    };
    char err[512];

    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ob_mapping *m = NULL;
        int rc = ob_mapping_parse(cases[i].text, strlen(cases[i].text), cases[i].format, "test",
                                  NULL, &m, err, sizeof err);
        if (rc == 0 || !strstr(err, cases[i].expect))
            fail_msg("case %zu: rc %d, error \"%s\", expected \"%s\"", i, rc, err, cases[i].expect);
        assert_null(m);
    }
}

static void test_render_errors(void **state)
{
    (void)state;
    json_t *order = example();
    char err[512];

    assert_null(render("{{ buyer.email | required }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "required value is missing"));
    assert_null(render("{{ priority | map:'normal=N' }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "no mapping for \"express\""));
    assert_null(render("{{ remark | fen }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "is not decimal money"));
    assert_null(render("{{ shipping_address }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "is an object or array"));
    assert_null(render("{{ @secret }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "unknown variable"));
    /* Regression (issue 10): a render error quoted the value, and variables
     * are credentials. Order values are still quoted. */
    static const char *const on_secret[] = {
        "{{ @credential.partner_id | fen }}", "{{ @credential.partner_id | number }}",
        "{{ @credential.partner_id | map:'a=b' }}", "{{ @credential.partner_id | yuan }}"};
    for (size_t i = 0; i < sizeof on_secret / sizeof *on_secret; i++) {
        assert_null(render(on_secret[i], OB_MAPPING_JSON, order, err, sizeof err));
        if (strstr(err, "PARTNER-1") || !strstr(err, "(value withheld)"))
            fail_msg("%s: %s", on_secret[i], err);
    }
    assert_null(render("{{ @index }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "outside {{#each}}"));
    assert_null(render("{{ remark | encrypt:pii }}", OB_MAPPING_TEXT, order, err, sizeof err));
    assert_non_null(strstr(err, "offers no keys"));
    json_decref(order);
}

static int reverse_encrypt(void *arg, const char *key, const char *in, size_t len,
                           struct ob_buf *out, char *err, size_t err_size)
{
    (void)arg;
    if (strcmp(key, "pii") != 0) {
        snprintf(err, err_size, "no key %s", key);
        return -1;
    }
    for (size_t i = len; i > 0; i--)
        ob_buf_append(out, in + i - 1, 1);
    return 0;
}

static void test_encrypt_uses_the_context_key(void **state)
{
    (void)state;
    json_t *order = example();
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = context(order);
    struct ob_buf out;
    char err[256];
    const char *one = "{{ buyer.phone | encrypt:pii }}";
    const char *text = "{{ buyer.phone | encrypt:pii }}|{{ buyer.phone | encrypt:other }}";

    ctx.encrypt = reverse_encrypt;
    assert_int_equal(ob_mapping_parse(one, strlen(one), OB_MAPPING_TEXT, "t",
                                      NULL, &m, err, sizeof err),
                     0);
    ob_buf_init(&out, 1024);
    assert_int_equal(ob_mapping_render(m, &ctx, &out, err, sizeof err), 0);
    assert_string_equal(out.data, "00083100831");
    ob_buf_reset(&out);
    ob_mapping_free(m);

    assert_int_equal(ob_mapping_parse(text, strlen(text), OB_MAPPING_TEXT, "t", NULL, &m, err,
                                      sizeof err),
                     0);
    assert_int_equal(ob_mapping_render(m, &ctx, &out, err, sizeof err), -1);
    assert_non_null(strstr(err, "encrypt:other: no key other"));
    ob_buf_reset(&out);
    ob_mapping_free(m);
    json_decref(order);
}

/* The shipped mappings render the example order into valid documents. */
static void test_shipped_rest_json(void **state)
{
    (void)state;
    json_t *order = example();
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = context(order);
    struct ob_buf out;
    char err[512];

    if (ob_mapping_load(MAPPINGS "/rest.json", &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    ob_buf_init(&out, 1 << 20);
    assert_int_equal(ob_mapping_render(m, &ctx, &out, err, sizeof err), 0);
    json_t *doc = json_loadb(out.data, out.len, 0, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "reference_id")), "SO20231111000123");
    json_t *products = json_object_get(doc, "products");
    assert_int_equal(json_array_size(products), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(products, 0), "unit_price")),
                        "599.00");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(products, 1), "quantity")), 2);
    assert_string_equal(json_string_value(json_object_get(doc, "shipping_method")), "Expedited");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_object_get(doc, "recipient"), "address"), "address2")),
        "闵行区");
    json_decref(doc);
    ob_buf_reset(&out);
    ob_mapping_free(m);
    json_decref(order);
}

static void test_shipped_cainiao_xml_keeps_the_remark(void **state)
{
    (void)state;
    json_t *order = example();
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = context(order);
    struct ob_buf out;
    char err[512];

    if (ob_mapping_load(MAPPINGS "/cainiao.xml", &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    ob_buf_init(&out, 1 << 20);
    assert_int_equal(ob_mapping_render(m, &ctx, &out, err, sizeof err), 0);
    xmlDocPtr xml = xmlReadMemory(out.data, (int)out.len, "c.xml", "UTF-8", XML_PARSE_NONET);
    assert_non_null(xml);
    xmlXPathContextPtr xp = xmlXPathNewContext(xml);
    static const struct {
        const char *xpath, *value;
    } expect[] = {
        {"string(/request/logisticsOrderCode)", "SO20231111000123"},
        {"string(/request/receiverInfo/name)", "张三"},
        {"string(/request/receiverInfo/area)", "闵行区"},
        {"string(/request/items/item[2]/itemCode)", "SKE-SOCK-3P"},
        {"string(/request/items/item[2]/itemQuantity)", "2"},
        {"string(/request/items/item[1]/itemName)", "D'LITES 复古老爹鞋 黑 42"},
        {"string(/request/remark)", "双11 预售尾款 & <请勿> 放快递柜"},
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expect[i].xpath, xp);
        assert_non_null(r);
        assert_string_equal((const char *)r->stringval, expect[i].value);
        xmlXPathFreeObject(r);
    }
    xmlXPathFreeContext(xp);
    xmlFreeDoc(xml);
    ob_buf_reset(&out);
    ob_mapping_free(m);
    json_decref(order);
}

/* A form mapping renders parameters; an included JSON mapping becomes one
 * parameter holding that JSON text (SF Express's msgData). */
static void test_shipped_sf_express_form(void **state)
{
    (void)state;
    json_t *order = example();
    struct ob_mapping *m = NULL;
    struct ob_mapping_context ctx = context(order);
    struct ob_params params = {0};
    char err[512];

    if (ob_mapping_load(MAPPINGS "/sf_express.form", &m, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(ob_mapping_format_of(m), OB_MAPPING_FORM);
    if (ob_mapping_render_params(m, &ctx, &params, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(params.n, 5);
    assert_string_equal(params.items[0].key, "partnerID");
    assert_string_equal(params.items[0].value, "PARTNER-1");
    assert_int_equal(strlen(params.items[1].value), 36); /* a UUID */
    assert_string_equal(params.items[2].value, "EXP_RECE_CREATE_ORDER");
    assert_string_equal(params.items[3].value, "1700000000123");
    assert_string_equal(params.items[4].key, "msgData");
    json_t *msg = json_loads(params.items[4].value, 0, NULL);
    assert_non_null(msg);
    assert_string_equal(json_string_value(json_object_get(msg, "orderId")), "SO20231111000123");
    assert_int_equal(json_integer_value(json_object_get(msg, "expressTypeId")), 1);
    json_t *contact = json_array_get(json_object_get(msg, "contactInfoList"), 0);
    assert_int_equal(json_integer_value(json_object_get(contact, "contactType")), 2);
    assert_string_equal(json_string_value(json_object_get(contact, "county")), "闵行区");
    json_t *cargo = json_array_get(json_object_get(msg, "cargoDetails"), 1);
    assert_string_equal(json_string_value(json_object_get(cargo, "goodsCode")), "SKE-SOCK-3P");
    assert_int_equal(json_integer_value(json_object_get(cargo, "count")), 2);
    assert_string_equal(json_string_value(json_object_get(msg, "remark")),
                        "双11 预售尾款 & <请勿> 放快递柜");
    json_decref(msg);
    ob_params_free(&params);
    ob_mapping_free(m);
    json_decref(order);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_values_and_filters),
        cmocka_unit_test(test_no_field_breaks_the_document),
        cmocka_unit_test(test_encoding_filters),
        cmocka_unit_test(test_if_else),
        cmocka_unit_test(test_parse_errors_name_file_and_line),
        cmocka_unit_test(test_render_errors),
        cmocka_unit_test(test_encrypt_uses_the_context_key),
        cmocka_unit_test(test_shipped_rest_json),
        cmocka_unit_test(test_shipped_cainiao_xml_keeps_the_remark),
        cmocka_unit_test(test_shipped_sf_express_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
