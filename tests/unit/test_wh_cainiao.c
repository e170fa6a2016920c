/*
 * test_wh_cainiao.c — the cainiao adapter (adapters/cainiao/cainiao.c), the
 * Cainiao LINK gateway, loaded through the real loader (ob_adapter_open) as
 * the bridge uses it: the form request it builds for
 * contracts/example-order.json (every form field, every element of the
 * logistics_interface XML, the data_digest recomputed here), the official
 * digest vector, how it classifies answers, and its settings checks; then
 * end to end over real HTTP (libcurl easy) against the simulator's cainiao
 * profile (sim/profile_cainiao.c): created, duplicate, bad signatures,
 * refusals, a throttled answer.
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

#include <curl/curl.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

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

#define SECRET_ENV "OB_TEST_CAINIAO_SECRET"
/* Chosen so that the example order's digest holds both '+' and '/'. */
#define SECRET "LINK-s3cret-1"
#define PROVIDER_ID "LP-SKECHERS-01"
#define TO_CODE "CN_WMS_HZ01"
/* printf 'orderbridge.idem.v1\nCN-HZ-01\nSO20231111000123\norder.created\n1' | sha256sum */
#define IDEM_KEY "4955476b4a0a8c4b5777e80794cc01d1da292fa65136f55e66932cc16b1aa0e5"

/* The logistics_interface of contracts/example-order.json, byte for byte
 * (no XML declaration; ' and " need no escaping in text). */
#define EXAMPLE_XML                                                                               \
    "<request><logisticsOrderCode>SO20231111000123</logisticsOrderCode><receiverInfo>"            \
    "<name>张三</name><mobile>13800138000</mobile><province>上海市</province>"                    \
    "<city>上海市</city><area>闵行区</area><address>莘庄镇 春申路 1 号 2 单元 301</address>"      \
    "</receiverInfo><items><item><itemCode>SKE-12345-BLK-42</itemCode>"                           \
    "<itemName>D'LITES 复古老爹鞋 黑 42</itemName><itemQuantity>1</itemQuantity></item>"          \
    "<item><itemCode>SKE-SOCK-3P</itemCode><itemName>运动袜 3 双装</itemName>"                    \
    "<itemQuantity>2</itemQuantity></item></items></request>"
/* (printf '%s' "$EXAMPLE_XML"; printf 'LINK-s3cret-1') | openssl md5 -binary | base64 */
#define EXAMPLE_DIGEST "+vDBjA+BZmku/In6mDVhSg=="
#define EXAMPLE_DIGEST_FORM "data_digest=%2BvDBjA%2BBZmku%2FIn6mDVhSg%3D%3D"

/* The whole body for CN-HZ-01, as java.net.URLEncoder (and Python's
 * urllib.parse.urlencode) writes it: space as '+', '+' of the digest as %2B. */
#define EXAMPLE_BODY                                                                              \
    "msg_type=WMS_CONSIGN_ORDER_NOTIFY&logistic_provider_id=LP-SKECHERS-01&logistics_interfac" \
    "e=%3Crequest%3E%3ClogisticsOrderCode%3ESO20231111000123%3C%2FlogisticsOrderCode%3E%3Crec" \
    "eiverInfo%3E%3Cname%3E%E5%BC%A0%E4%B8%89%3C%2Fname%3E%3Cmobile%3E13800138000%3C%2Fmobile" \
    "%3E%3Cprovince%3E%E4%B8%8A%E6%B5%B7%E5%B8%82%3C%2Fprovince%3E%3Ccity%3E%E4%B8%8A%E6%B5%B" \
    "7%E5%B8%82%3C%2Fcity%3E%3Carea%3E%E9%97%B5%E8%A1%8C%E5%8C%BA%3C%2Farea%3E%3Caddress%3E%E" \
    "8%8E%98%E5%BA%84%E9%95%87+%E6%98%A5%E7%94%B3%E8%B7%AF+1+%E5%8F%B7+2+%E5%8D%95%E5%85%83+3" \
    "01%3C%2Faddress%3E%3C%2FreceiverInfo%3E%3Citems%3E%3Citem%3E%3CitemCode%3ESKE-12345-BLK-" \
    "42%3C%2FitemCode%3E%3CitemName%3ED%27LITES+%E5%A4%8D%E5%8F%A4%E8%80%81%E7%88%B9%E9%9E%8B" \
    "+%E9%BB%91+42%3C%2FitemName%3E%3CitemQuantity%3E1%3C%2FitemQuantity%3E%3C%2Fitem%3E%3Cit" \
    "em%3E%3CitemCode%3ESKE-SOCK-3P%3C%2FitemCode%3E%3CitemName%3E%E8%BF%90%E5%8A%A8%E8%A2%9C" \
    "+3+%E5%8F%8C%E8%A3%85%3C%2FitemName%3E%3CitemQuantity%3E2%3C%2FitemQuantity%3E%3C%2Fitem" \
    "%3E%3C%2Fitems%3E%3C%2Frequest%3E&data_digest=%2BvDBjA%2BBZmku%2FIn6mDVhSg%3D%3D&to_code" \
    "=CN_WMS_HZ01"

/* Two warehouses: production with to_code, a sandbox without. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'CN-HZ-01':{'adapter':'cainiao','endpoint':'https://link.cainiao.com/',"                     \
    "'credentials':{'secret':'env:" SECRET_ENV "'},"                                              \
    "'settings':{'logistic_provider_id':'" PROVIDER_ID "','to_code':'" TO_CODE "',"               \
    "'time_zone':'Asia/Shanghai'}},"                                                              \
    "'CN-SANDBOX':{'adapter':'cainiao','endpoint':'http://linkdaily.tbsandbox.com:8080',"         \
    "'credentials':{'secret':'env:" SECRET_ENV "'},"                                              \
    "'settings':{'logistic_provider_id':'LP-SANDBOX','retry_codes':['SYSTEM_BUSY']}}}}"

struct fixture {
    struct ob_config *cfg;
    struct ob_adapter_instance *hz; /* CN-HZ-01: to_code, default retry codes */
    struct ob_adapter_instance *sb; /* CN-SANDBOX: no to_code, retry_codes SYSTEM_BUSY */
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
    if (setenv(SECRET_ENV, SECRET, 1) != 0)
        return -1;
    unsetenv("OB_ADAPTER_PATH");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json = J(CONFIG);
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    if (ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "CN-HZ-01"), &fx.hz, err,
                        sizeof err) != 0 ||
        ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "CN-SANDBOX"), &fx.sb, err,
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
    ob_adapter_close(fx.hz);
    ob_adapter_close(fx.sb);
    ob_config_destroy(fx.cfg);
    unsetenv(SECRET_ENV);
    curl_global_cleanup();
    return 0;
}

static const struct ob_delivery delivery = {
    .warehouse = "CN-HZ-01",
    .idempotency_key = IDEM_KEY,
    .trace_id = "0-42",
    .attempt = 1,
};

/* Encode `order` with `inst`; the request must be freed with ob_request_reset. */
static void encode_d(struct ob_adapter_instance *inst, const struct ob_order *order,
                     const struct ob_delivery *d, struct ob_request *req)
{
    memset(req, 0, sizeof *req);
    err[0] = '\0';
    int rc = inst->plugin.vt.encode(inst->state, order, d, req, err, sizeof err);
    if (rc != 0) {
        print_error("encode failed: %s\n", err);
        fail();
    }
}

static void encode(struct ob_adapter_instance *inst, const struct ob_order *order,
                   struct ob_request *req)
{
    encode_d(inst, order, &delivery, req);
}

/* ------------------------------------------------------------------------ */
/* an application/x-www-form-urlencoded body, decoded independently of the  */
/* SDK (curl_easy_unescape after '+' -> ' ')                                 */

#define MAX_FIELDS 16

struct form {
    size_t n;
    char *key[MAX_FIELDS];
    char *value[MAX_FIELDS];
};

static char *form_unescape(const char *s, size_t len)
{
    char *plus = strndup(s, len);
    assert_non_null(plus);
    for (char *p = plus; *p; p++)
        if (*p == '+')
            *p = ' ';
    int out_len = 0;
    char *raw = curl_easy_unescape(NULL, plus, (int)strlen(plus), &out_len);
    assert_non_null(raw);
    assert_int_equal(strlen(raw), (size_t)out_len); /* no %00 */
    char *copy = strdup(raw);
    curl_free(raw);
    free(plus);
    return copy;
}

static void form_parse(const struct ob_request *req, struct form *f)
{
    const char *p, *end;

    memset(f, 0, sizeof *f);
    assert_non_null(req->body);
    assert_int_equal(strlen(req->body), req->body_len);
    /* strictly form-encoded: nothing but unreserved characters, %XX and '+' */
    for (p = req->body; *p; p++) {
        if (*p == '%') {
            assert_true(strchr("0123456789ABCDEF", p[1]) && p[1]);
            assert_true(strchr("0123456789ABCDEF", p[2]) && p[2]);
        } else if (!strchr("&=+.-*_", *p) && !(*p >= '0' && *p <= '9') &&
                   !(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z')) {
            print_error("unencoded byte 0x%02x in the form body\n", (unsigned char)*p);
            fail();
        }
    }
    for (p = req->body; *p; p = *end ? end + 1 : end) {
        end = strchr(p, '&');
        if (!end)
            end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        assert_non_null(eq);
        assert_true(f->n < MAX_FIELDS);
        f->key[f->n] = form_unescape(p, (size_t)(eq - p));
        f->value[f->n] = form_unescape(eq + 1, (size_t)(end - eq - 1));
        f->n++;
    }
}

/* The value of `key`, which must occur exactly once; NULL when absent. */
static const char *form_get(const struct form *f, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->key[i], key) == 0) {
            assert_null(found);
            found = f->value[i];
        }
    return found;
}

static void form_free(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->key[i]);
        free(f->value[i]);
    }
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------------ */
/* the digest, recomputed: Base64(MD5(content + secret)) with SDK primitives */

static void link_digest(const char *content, const char *secret, char *out, size_t out_size)
{
    struct ob_buf text, b64;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;

    ob_buf_init(&text, 1 << 20);
    ob_buf_init(&b64, 64);
    assert_int_equal(ob_buf_appends(&text, content), 0);
    assert_int_equal(ob_buf_appends(&text, secret), 0);
    assert_int_equal(ob_digest(OB_MD5, text.data, text.len, md, &md_len), 0);
    assert_int_equal(md_len, 16);
    assert_int_equal(ob_base64_encode(md, md_len, &b64), 0);
    assert_true(b64.len < out_size);
    memcpy(out, b64.data, b64.len + 1);
    ob_buf_reset(&text);
    ob_buf_reset(&b64);
}

/* ------------------------------------------------------------------------ */
/* the logistics_interface document                                          */

static xmlDocPtr parse_xml(const char *text)
{
    xmlDocPtr doc = xmlReadMemory(text, (int)strlen(text), "logistics_interface.xml", "UTF-8",
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        print_error("logistics_interface is not well-formed XML:\n%s\n", text);
        fail();
    }
    return doc;
}

/* The element children of `node`, which must be exactly `names` in order
 * (and no text or other nodes between them). */
static void assert_children(xmlNodePtr node, const char *const *names, size_t n,
                            xmlNodePtr *out)
{
    size_t i = 0;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        assert_int_equal(c->type, XML_ELEMENT_NODE);
        assert_true(i < n);
        assert_string_equal((const char *)c->name, names[i]);
        assert_null(c->properties); /* no attributes */
        if (out)
            out[i] = c;
        i++;
    }
    assert_int_equal(i, n);
}

/* The text of a leaf element: one text node (or none for ""). */
static void assert_text(xmlNodePtr el, const char *want)
{
    for (xmlNodePtr c = el->children; c; c = c->next)
        assert_int_equal(c->type, XML_TEXT_NODE);
    xmlChar *got = xmlNodeGetContent(el);
    assert_non_null(got);
    if (strcmp((const char *)got, want) != 0) {
        print_error("<%s>: got \"%s\", want \"%s\"\n", el->name, got, want);
        xmlFree(got);
        fail();
    }
    xmlFree(got);
}

struct want_item {
    const char *code, *name, *quantity;
};

struct want_doc {
    const char *order_code, *name, *mobile, *province, *city, *area, *address;
    const struct want_item *items;
    size_t n_items;
};

/* Every element of the document, its order and its text. */
static void check_document(const char *xml, const struct want_doc *w)
{
    static const char *const top[] = {"logisticsOrderCode", "receiverInfo", "items"};
    static const char *const receiver_names[] = {"name", "mobile", "province",
                                                 "city", "area",   "address"};
    static const char *const item_names[] = {"itemCode", "itemName", "itemQuantity"};
    xmlNodePtr t[3], r[6], it[3];

    assert_null(strstr(xml, "<?xml")); /* the recipe's document has no declaration */
    xmlDocPtr doc = parse_xml(xml);
    xmlNodePtr root = xmlDocGetRootElement(doc);
    assert_non_null(root);
    assert_string_equal((const char *)root->name, "request");
    assert_null(root->next);
    assert_null(root->ns);
    assert_children(root, top, 3, t);
    assert_text(t[0], w->order_code);
    assert_children(t[1], receiver_names, 6, r);
    assert_text(r[0], w->name);
    assert_text(r[1], w->mobile);
    assert_text(r[2], w->province);
    assert_text(r[3], w->city);
    assert_text(r[4], w->area);
    assert_text(r[5], w->address);

    size_t n = 0;
    for (xmlNodePtr c = t[2]->children; c; c = c->next, n++) {
        assert_int_equal(c->type, XML_ELEMENT_NODE);
        assert_string_equal((const char *)c->name, "item");
        assert_true(n < w->n_items);
        assert_children(c, item_names, 3, it);
        assert_text(it[0], w->items[n].code);
        assert_text(it[1], w->items[n].name);
        assert_text(it[2], w->items[n].quantity);
    }
    assert_int_equal(n, w->n_items);
    xmlFreeDoc(doc);
}

static const struct want_item example_items[] = {
    {"SKE-12345-BLK-42", "D'LITES 复古老爹鞋 黑 42", "1"},
    {"SKE-SOCK-3P", "运动袜 3 双装", "2"},
};

static const struct want_doc example_doc = {
    .order_code = "SO20231111000123",
    .name = "张三",
    .mobile = "13800138000",
    .province = "上海市",
    .city = "上海市",
    .area = "闵行区",
    .address = "莘庄镇 春申路 1 号 2 单元 301",
    .items = example_items,
    .n_items = 2,
};

/* ------------------------------------------------------------------------ */
/* encode                                                                    */

static void test_encode_request_line_and_headers(void **state)
{
    (void)state;
    struct ob_request req;

    encode(fx.hz, &fx.example->order, &req);
    assert_non_null(req.method);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://link.cainiao.com/gateway/link.do");
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded; charset=UTF-8");
    /* The secret travels nowhere: only its digest does. */
    assert_null(strstr(req.url, SECRET));
    assert_null(strstr(req.body, SECRET));
    assert_null(strstr(req.headers[0].value, SECRET));
    ob_request_reset(&req);

    encode(fx.sb, &fx.example->order, &req);
    assert_string_equal(req.url, "http://linkdaily.tbsandbox.com:8080/gateway/link.do");
    ob_request_reset(&req);
}

static void test_encode_form_fields(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;

    encode(fx.hz, &fx.example->order, &req);
    form_parse(&req, &f);
    assert_int_equal(f.n, 5);
    /* in this order */
    assert_string_equal(f.key[0], "msg_type");
    assert_string_equal(f.key[1], "logistic_provider_id");
    assert_string_equal(f.key[2], "logistics_interface");
    assert_string_equal(f.key[3], "data_digest");
    assert_string_equal(f.key[4], "to_code");
    assert_string_equal(form_get(&f, "msg_type"), "WMS_CONSIGN_ORDER_NOTIFY");
    assert_string_equal(form_get(&f, "logistic_provider_id"), PROVIDER_ID);
    assert_string_equal(form_get(&f, "logistics_interface"), EXAMPLE_XML);
    assert_string_equal(form_get(&f, "data_digest"), EXAMPLE_DIGEST);
    assert_string_equal(form_get(&f, "to_code"), TO_CODE);
    form_free(&f);
    /* byte for byte (computed with Python's urllib.parse.urlencode) */
    assert_string_equal(req.body, EXAMPLE_BODY);
    ob_request_reset(&req);

    /* No to_code setting: no to_code field. */
    encode(fx.sb, &fx.example->order, &req);
    form_parse(&req, &f);
    assert_int_equal(f.n, 4);
    assert_string_equal(form_get(&f, "msg_type"), "WMS_CONSIGN_ORDER_NOTIFY");
    assert_string_equal(form_get(&f, "logistic_provider_id"), "LP-SANDBOX");
    assert_string_equal(form_get(&f, "logistics_interface"), EXAMPLE_XML);
    assert_string_equal(form_get(&f, "data_digest"), EXAMPLE_DIGEST);
    assert_null(form_get(&f, "to_code"));
    form_free(&f);
    ob_request_reset(&req);
}

static void test_encode_document(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;

    encode(fx.hz, &fx.example->order, &req);
    form_parse(&req, &f);
    check_document(form_get(&f, "logistics_interface"), &example_doc);
    form_free(&f);
    ob_request_reset(&req);
}

/* The official vector of the LINK documentation, through the digest this
 * test uses to check the adapter's. */
static void test_digest_official_vector(void **state)
{
    (void)state;
    char d[64];

    link_digest("hello1234", "key123", d, sizeof d);
    assert_string_equal(d, "ufYU7rvXhHY3IDyZgyt6SA==");
}

/* data_digest is Base64(MD5(the logistics_interface bytes sent + secret)),
 * and its '+' and '/' survive form encoding as %2B and %2F. */
static void test_encode_digest(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;
    char d[64];

    encode(fx.hz, &fx.example->order, &req);
    form_parse(&req, &f);
    link_digest(form_get(&f, "logistics_interface"), SECRET, d, sizeof d);
    assert_string_equal(form_get(&f, "data_digest"), d);
    /* (computed with openssl, see EXAMPLE_DIGEST) */
    assert_string_equal(d, EXAMPLE_DIGEST);
    assert_non_null(strchr(d, '+'));
    assert_contains(req.body, EXAMPLE_DIGEST_FORM);
    /* a '+' decoded as a space would break the check on the gateway */
    assert_null(strstr(req.body, "data_digest=+"));
    /* another secret, another digest */
    link_digest(form_get(&f, "logistics_interface"), "key123", d, sizeof d);
    assert_string_not_equal(form_get(&f, "data_digest"), d);
    form_free(&f);
    ob_request_reset(&req);
}

/* Every attempt is the same request. */
static void test_encode_same_on_every_attempt(void **state)
{
    (void)state;
    struct ob_delivery again = delivery;
    struct ob_request a, b;

    again.attempt = 3;
    encode(fx.hz, &fx.example->order, &a);
    encode_d(fx.hz, &fx.example->order, &again, &b);
    assert_string_equal(a.url, b.url);
    assert_int_equal(a.body_len, b.body_len);
    assert_memory_equal(a.body, b.body, a.body_len);
    ob_request_reset(&a);
    ob_request_reset(&b);
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
        assert_int_equal(json_object_set_new(addr, "name", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "street", json_string(text_field_value)), 0);
        assert_int_equal(json_object_set_new(addr, "district", json_string(text_field_value)),
                         0);
    }
    if (drop_optional) {
        json_t *item1 = json_array_get(json_object_get(doc, "items"), 1);
        assert_int_equal(json_object_del(item1, "name"), 0);
        assert_int_equal(json_object_del(json_object_get(doc, "shipping_address"), "district"),
                         0);
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(text);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    return po;
}

/* The example's remark holds & < >. The recipe's document has no remark
 * element, so its text (and " ' ]]> and an entity lookalike) goes into every
 * free-text field the document does carry: they arrive intact after form
 * decoding and XML parsing, and the digest still matches. */
static void test_encode_special_characters(void **state)
{
    (void)state;
    const char *remark = fx.example->order.remark;
    struct ob_request req;
    struct form f;
    char d[64];

    assert_string_equal(remark, "双11 预售尾款 & <请勿> 放快递柜");
    static const char *extra = " \"quoted\" 'single' ]]> &amp; a+b=c&d %41";
    char nasty[256];
    snprintf(nasty, sizeof nasty, "%s%s", remark, extra);

    struct ob_parsed_order *po = example_with(NULL, nasty, 0);
    encode(fx.hz, &po->order, &req);
    form_parse(&req, &f);
    const char *xml = form_get(&f, "logistics_interface");
    assert_null(strstr(xml, "<请勿>")); /* escaped, not markup */
    const struct want_item items[] = {{"SKE-12345-BLK-42", nasty, "1"},
                                      {"SKE-SOCK-3P", "运动袜 3 双装", "2"}};
    const struct want_doc want = {
        .order_code = "SO20231111000123",
        .name = nasty,
        .mobile = "13800138000",
        .province = "上海市",
        .city = "上海市",
        .area = nasty,
        .address = nasty,
        .items = items,
        .n_items = 2,
    };
    check_document(xml, &want);
    link_digest(xml, SECRET, d, sizeof d);
    assert_string_equal(form_get(&f, "data_digest"), d);
    assert_string_equal(form_get(&f, "msg_type"), "WMS_CONSIGN_ORDER_NOTIFY");
    form_free(&f);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* An item without a name is sent with its SKU as the name; an address
 * without a district gives an empty <area/>. */
static void test_encode_optional_fields_absent(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, NULL, 1);
    struct ob_request req;
    struct form f;

    assert_null(po->order.items[1].name);
    assert_null(po->order.shipping_address.district);
    encode(fx.hz, &po->order, &req);
    form_parse(&req, &f);
    const struct want_item items[] = {{"SKE-12345-BLK-42", "D'LITES 复古老爹鞋 黑 42", "1"},
                                      {"SKE-SOCK-3P", "SKE-SOCK-3P", "2"}};
    struct want_doc want = example_doc;
    want.area = "";
    want.items = items;
    check_document(form_get(&f, "logistics_interface"), &want);
    assert_contains(form_get(&f, "logistics_interface"), "<area/>");
    form_free(&f);
    ob_request_reset(&req);
    ob_order_free(po);
}

/* A control character cannot be XML 1.0 text even escaped: the order is
 * refused (permanent) with the field named, not sent altered. */
static void test_encode_control_character(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_with(NULL, "bell\x07", 0);
    struct ob_request req;

    memset(&req, 0, sizeof req);
    err[0] = '\0';
    assert_int_equal(fx.hz->plugin.vt.encode(fx.hz->state, &po->order, &delivery, &req, err,
                                             sizeof err),
                     -1);
    assert_contains(err, "shipping_address.name");
    ob_request_reset(&req);
    ob_order_free(po);
}

/* order.updated and order.cancelled are not pushed as a create. */
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
        assert_int_equal(fx.hz->plugin.vt.encode(fx.hz->state, &po->order, &delivery, &req, err,
                                                 sizeof err),
                         -1);
        snprintf(want, sizeof want, "event %s is not supported by the cainiao adapter yet",
                 events[i]);
        assert_string_equal(err, want);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* ------------------------------------------------------------------------ */
/* decode_response                                                           */

static struct ob_outcome decode_on(struct ob_adapter_instance *inst, long status,
                                   const char *body, const struct ob_header *headers,
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
    inst->plugin.vt.decode_response(inst->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

static struct ob_outcome decode(long status, const char *body)
{
    return decode_on(fx.hz, status, body, NULL, 0);
}

static struct ob_outcome decode_retry_after(long status, const char *body, const char *value)
{
    struct ob_header h[] = {
        {.name = "Content-Type", .value = "application/json"},
        {.name = "Retry-After", .value = (char *)value},
    };
    return decode_on(fx.hz, status, body, h, 2);
}

static void test_decode_success(void **state)
{
    (void)state;
    struct ob_outcome o = decode(200, "{\"success\":\"true\",\"errorCode\":\"\",\"errorMsg\":\"\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "");
    assert_string_equal(o.tracking_no, "");
    assert_string_equal(o.reason, "");
    assert_int_equal(o.retry_after_ms, 0);

    /* the warehouse's order code and waybill when the answer has them */
    o = decode(200, "{\"success\":\"true\",\"orderCode\":\"LBX0123456789\",\"mailNo\":"
                    "\"YT9876543210\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "LBX0123456789");
    assert_string_equal(o.tracking_no, "YT9876543210");

    /* a JSON boolean, as some LINK services answer */
    o = decode(200, "{\"success\":true}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
}

static void test_decode_duplicate_is_accepted(void **state)
{
    (void)state;
    struct ob_outcome o = decode(200, "{\"success\":\"false\",\"errorCode\":\"ORDER_EXISTS\","
                                      "\"errorMsg\":\"订单已存在\",\"orderCode\":\"LBX42\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "LBX42");
    assert_contains(o.reason, "already known");
    assert_contains(o.reason, "ORDER_EXISTS");
    assert_contains(o.reason, "订单已存在");

    o = decode(200, "{\"success\":false,\"errorCode\":\"ORDER_EXISTS\"}");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "");
}

static void test_decode_permanent_codes(void **state)
{
    (void)state;
    static const char *const bodies[][2] = {
        {"{\"success\":\"false\",\"errorCode\":\"S01\",\"errorMsg\":\"非法的XML格式\"}", "S01"},
        {"{\"success\":\"false\",\"errorCode\":\"S02\",\"errorMsg\":\"digest check failed\"}",
         "S02"},
        /* the gateway's own form, success as a boolean */
        {"{\"success\":false,\"errorCode\":\"S02\",\"errorMsg\":\"验签或加密失败:digist sign "
         "check not pass\"}",
         "验签或加密失败"},
        /* any other business refusal */
        {"{\"success\":\"false\",\"errorCode\":\"B0042\",\"errorMsg\":\"item not found\"}",
         "B0042: item not found"},
        {"{\"success\":\"false\"}", "(no errorCode)"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ob_outcome o = decode(200, bodies[i][0]);
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_int_equal(o.retry_after_ms, 0);
        assert_contains(o.reason, "cainiao ");
        assert_contains(o.reason, bodies[i][1]);
        assert_string_equal(o.warehouse_order_id, "");
    }
    struct ob_outcome o = decode(200, bodies[1][0]);
    assert_string_equal(o.reason, "cainiao S02: digest check failed");

    /* S01/S02 stay permanent on a warehouse with its own retry_codes */
    o = decode_on(fx.sb, 200, bodies[1][0], NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
}

static void test_decode_transient_codes(void **state)
{
    (void)state;
    struct ob_outcome o =
        decode(200, "{\"success\":\"false\",\"errorCode\":\"S07\",\"errorMsg\":\"系统异常,请重试\"}");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);
    assert_string_equal(o.reason, "cainiao S07: 系统异常,请重试");

    o = decode_retry_after(200, "{\"success\":\"false\",\"errorCode\":\"S06\"}", "5");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 5000);
    assert_contains(o.reason, "S06");

    /* settings.retry_codes replaces the default list */
    o = decode_on(fx.sb, 200, "{\"success\":\"false\",\"errorCode\":\"SYSTEM_BUSY\"}", NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    o = decode_on(fx.sb, 200, "{\"success\":\"false\",\"errorCode\":\"S07\"}", NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    o = decode(200, "{\"success\":\"false\",\"errorCode\":\"SYSTEM_BUSY\"}");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
}

/* An HTTP 200 without a LINK result: RETRY (the gateway dedupes by
 * logisticsOrderCode, so a retry cannot create the order twice). */
static void test_decode_malformed_is_retry(void **state)
{
    (void)state;
    static const char *const bodies[][2] = {
        {"<html><body>502 Bad Gateway</body></html>", "not JSON"},
        {"", "not JSON"},
        {"{\"success\":\"tr", "not JSON"},
        {"[\"success\"]", "not a JSON object"},
        {"{}", "no \"success\""},
        {"{\"errorCode\":\"ORDER_EXISTS\"}", "no \"success\""},
        {"{\"success\":\"yes\"}", "neither"},
        {"{\"success\":1}", "neither"},
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ob_outcome o = decode(200, bodies[i][0]);
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_contains(o.reason, "HTTP 200 but no LINK result");
        assert_contains(o.reason, bodies[i][1]);
    }
    struct ob_outcome o = decode(200, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    o = decode(204, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "HTTP 204");
}

static void test_decode_http_errors(void **state)
{
    (void)state;
    static const long transient[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof transient / sizeof transient[0]; i++) {
        struct ob_outcome o = decode(transient[i], "<html>busy</html>");
        char want[16];
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "HTTP %ld", transient[i]);
        assert_string_equal(o.reason, want);
    }
    /* a 5xx is retried whatever its body says */
    struct ob_outcome o = decode(503, "{\"success\":\"false\",\"errorCode\":\"S02\"}");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);

    static const long refused[] = {301, 400, 401, 403, 404, 405, 413};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char want[16];
        o = decode(refused[i], "{\"error\":\"nope\"}");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "HTTP %ld: ", refused[i]);
        assert_contains(o.reason, want);
        assert_contains(o.reason, "nope");
    }
}

static void test_decode_retry_after(void **state)
{
    (void)state;
    struct ob_outcome o = decode_retry_after(429, "", "3");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 3000);
    assert_contains(o.reason, "429");

    o = decode_retry_after(503, "", "120");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 120000);

    /* Header names are case-insensitive. */
    struct ob_header lower[] = {{.name = "retry-after", .value = "7"}};
    o = decode_on(fx.hz, 429, "", lower, 1);
    assert_int_equal(o.retry_after_ms, 7000);

    /* Unreadable: retry, the bridge picks the delay. */
    o = decode_retry_after(429, "", "soon");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);

    /* An HTTP date 120 s ahead, give or take the second ticking. */
    char date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    assert_true(strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    o = decode_retry_after(429, "", date);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_in_range(o.retry_after_ms, 118000, 120000);
}

static void test_decode_transport_error(void **state)
{
    (void)state;
    struct ob_response resp = {.status = 0, .transport_error = "Couldn't connect to server"};
    struct ob_outcome o;

    memset(&o, 0, sizeof o);
    fx.hz->plugin.vt.decode_response(fx.hz->state, &fx.example->order, &delivery, &resp, &o);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_string_equal(o.reason, "no answer: Couldn't connect to server");

    o = decode(0, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_true(strlen(o.reason) > 0);
}

/* A huge errorMsg is quoted in part, never cut inside a UTF-8 character. */
static void test_decode_reason_bounded(void **state)
{
    (void)state;
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body,
                                "{\"success\":\"false\",\"errorCode\":\"B1\",\"errorMsg\":\"x");
    while (n + 8 < sizeof body) {
        memcpy(body + n, "错", 3); /* three bytes each, 1 + 3k never lands on 300 */
        n += 3;
    }
    memcpy(body + n, "\"}", 3);
    struct ob_outcome o = decode(200, body);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_true(strlen(o.reason) < sizeof o.reason);
    assert_true(strlen(o.reason) > 200);
    assert_int_equal(xmlCheckUTF8((const xmlChar *)o.reason), 1);

    char big[4096];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    o = decode(400, big);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_true(strlen(o.reason) < sizeof o.reason);
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
             "'warehouses':{'W9':{'adapter':'cainiao','endpoint':'https://w9.example',%s}}}",
             OB_BUILD_DIR, wh_body);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
    err[0] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    ob_config_destroy(cfg);
    assert_int_equal(strncmp(err, "$.warehouses.W9: adapter cainiao: ", 34), 0);
    assert_null(strstr(err, SECRET));
    return err;
}

#define CRED "'credentials':{'secret':'env:" SECRET_ENV "'}"

static void test_init_without_secret(void **state)
{
    (void)state;
    assert_contains(open_fails("'settings':{'logistic_provider_id':'LP1'}"),
                    "credentials.secret is required");
    /* Another credential is not the secret. */
    assert_contains(open_fails("'credentials':{'token':'env:" SECRET_ENV "'},"
                               "'settings':{'logistic_provider_id':'LP1'}"),
                    "credentials.secret is required");
}

static const char *fake_credential(const struct ob_adapter_env *env, const char *name)
{
    (void)name;
    return env->host; /* the test's secret for any name */
}

/* The config checker never resolves an empty secret, but the adapter must
 * not accept one from a host that does. */
static void test_init_empty_secret(void **state)
{
    (void)state;
    static char empty[1] = "";
    struct ob_adapter_env env = {
        .abi = OB_ADAPTER_ABI,
        .size = sizeof env,
        .warehouse = "W9",
        .endpoint = "https://w9.example",
        .credential = fake_credential,
        .host = empty,
    };
    json_t *settings = json_pack("{s:s}", "logistic_provider_id", "LP1");
    void *st = (void *)1;
    err[0] = '\0';
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.secret");

    env.host = NULL;
    err[0] = '\0';
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.secret");

    /* settings that are not an object */
    static char secret[] = SECRET;
    env.host = secret;
    json_t *arr = json_array();
    err[0] = '\0';
    assert_int_equal(fx.hz->plugin.vt.init(&env, arr, &st, err, sizeof err), -1);
    assert_contains(err, "settings: must be an object");
    json_decref(arr);

    /* and with everything right, the state is made and destroyed */
    st = NULL;
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), 0);
    assert_non_null(st);
    fx.hz->plugin.vt.destroy(st);
    json_decref(settings);
}

static void test_init_bad_settings(void **state)
{
    (void)state;

    assert_contains(open_fails(CRED), "settings.logistic_provider_id: required");
    assert_contains(open_fails(CRED ",'settings':{'to_code':'X'}"),
                    "settings.logistic_provider_id: required");
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':''}"),
                    "settings.logistic_provider_id: must be a non-empty string");
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':7}"),
                    "settings.logistic_provider_id: must be a non-empty string");
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','to_code':null}"),
                    "settings.to_code: must be a non-empty string");
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','colour':'blue'}"),
                    "settings.colour: unknown setting");
    /* the secret never comes from settings */
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','secret':'x'}"),
                    "settings.secret: unknown setting");
    assert_contains(
        open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','time_zone':'Europe/Paris'}"),
        "settings.time_zone: unknown time zone \"Europe/Paris\"");
    assert_contains(open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','time_zone':8}"),
                    "settings.time_zone: must be a non-empty string");
    assert_contains(
        open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','retry_codes':'S07'}"),
        "settings.retry_codes: must be an array");
    assert_contains(
        open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','retry_codes':['S07',5]}"),
        "settings.retry_codes[1]: must be a non-empty string");
    assert_contains(
        open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','retry_codes':['S02']}"),
        "settings.retry_codes[0]: S02 is a permanent refusal");
    assert_contains(
        open_fails(CRED ",'settings':{'logistic_provider_id':'LP1','retry_codes':['ORDER_EXISTS']}"),
        "settings.retry_codes[0]: ORDER_EXISTS means the order is accepted");
}

/* Accepted settings: a fixed offset, an empty retry_codes list. */
static void test_init_good_settings(void **state)
{
    (void)state;
    char text[4096];
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'W9':{'adapter':'cainiao','endpoint':'https://w9.example'," CRED
             ",'settings':{'logistic_provider_id':'LP1','time_zone':'+08:00','retry_codes':[]}}}}",
             OB_BUILD_DIR);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err), 0);
    if (ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err) != 0) {
        print_error("%s\n", err);
        fail();
    }
    /* no retry codes: S07 is a refusal */
    struct ob_outcome o = decode_on(inst, 200, "{\"success\":\"false\",\"errorCode\":\"S07\"}",
                                    NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
}

/* ------------------------------------------------------------------------ */
/* end to end against the simulator's cainiao profile over real HTTP         */

#define MAX_RESP_HEADERS 32

/* A warehouse answer as the bridge would hand it to decode_response. */
struct http_answer {
    long status;
    char body[8192];
    size_t len;
    struct ob_header headers[MAX_RESP_HEADERS];
    size_t n_headers;
    char hdr_store[MAX_RESP_HEADERS][2][256];
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct http_answer *a = ud;
    size_t len = sz * n, room = sizeof(a->body) - 1 - a->len;
    memcpy(a->body + a->len, p, len < room ? len : room);
    a->len += len < room ? len : room;
    a->body[a->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct http_answer *a = ud;
    size_t len = sz * n;
    const char *colon = memchr(p, ':', len);
    if (colon && a->n_headers < MAX_RESP_HEADERS) {
        size_t k = a->n_headers++;
        const char *v = colon + 1, *end = p + len;
        while (v < end && *v == ' ')
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n'))
            end--;
        snprintf(a->hdr_store[k][0], 256, "%.*s", (int)(colon - p), p);
        snprintf(a->hdr_store[k][1], 256, "%.*s", (int)(end - v), v);
        a->headers[k].name = a->hdr_store[k][0];
        a->headers[k].value = a->hdr_store[k][1];
    }
    return len;
}

/* Send `req` as the bridge would (libcurl easy) and fill `a`. */
static void send_request(const struct ob_request *req, struct http_answer *a)
{
    CURL *e = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char line[512];

    assert_non_null(e);
    memset(a, 0, sizeof *a);
    for (size_t i = 0; i < req->n_headers; i++) {
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        print_error("curl: %s\n", curl_easy_strerror(rc));
        fail();
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
}

static struct ob_outcome decode_answer(struct ob_adapter_instance *inst,
                                       const struct http_answer *a)
{
    struct ob_response resp = {
        .status = a->status,
        .body = a->body,
        .body_len = a->len,
        .headers = a->headers,
        .n_headers = a->n_headers,
    };
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    inst->plugin.vt.decode_response(inst->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

/* One adapter instance pointed at the simulator, with its own secret and
 * provider id. */
struct sim_wh {
    struct ob_config *cfg;
    struct ob_adapter_instance *inst;
};

static void sim_wh_open(struct sim_wh *w, unsigned short port, const char *secret_env,
                        const char *provider)
{
    char text[2048];
    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'CN-SIM':{'adapter':'cainiao','endpoint':'http://127.0.0.1:%u',"
             "'credentials':{'secret':'env:%s'},'settings':{'logistic_provider_id':'%s'}}}}",
             OB_BUILD_DIR, port, secret_env, provider);
    const char *json = J(text);
    memset(w, 0, sizeof *w);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, &w->cfg, err, sizeof err), 0);
    if (ob_adapter_open(w->cfg, &w->cfg->warehouses[0], &w->inst, err, sizeof err) != 0) {
        print_error("%s\n", err);
        fail();
    }
}

static void sim_wh_close(struct sim_wh *w)
{
    ob_adapter_close(w->inst);
    ob_config_destroy(w->cfg);
}

static const struct ob_sim_secret sim_secrets[] = {
    {"secret", SECRET},
    {"logistic_provider_id", "LP-SIM"},
    {NULL, NULL},
};

static struct ob_sim *start_sim(const struct ob_sim_options *extra)
{
    struct ob_sim_options o;
    char e[256];

    if (extra)
        o = *extra;
    else
        memset(&o, 0, sizeof o);
    o.profile = "cainiao";
    o.secrets = sim_secrets;
    struct ob_sim *sim = ob_sim_start(&o, e, sizeof e);
    if (!sim) {
        print_error("ob_sim_start: %s\n", e);
        fail();
    }
    return sim;
}

/* Encode `order` with `inst`, send it to the simulator, decode the answer. */
static struct ob_outcome push(struct ob_adapter_instance *inst, const struct ob_order *order,
                              struct http_answer *a)
{
    struct ob_request req;
    encode(inst, order, &req);
    send_request(&req, a);
    ob_request_reset(&req);
    return decode_answer(inst, a);
}

static void test_sim_created_then_duplicate(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(NULL);
    struct sim_wh w;
    struct http_answer a;
    struct ob_sim_stats st;

    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-SIM");

    struct ob_outcome o = push(w.inst, &fx.example->order, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.reason, "");
    assert_int_equal(strncmp(o.warehouse_order_id, "LBX", 3), 0);
    char first_id[128];
    strcpy(first_id, o.warehouse_order_id);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    /* the same order again (a redelivery): the gateway's duplicate answer */
    o = push(w.inst, &fx.example->order, &a);
    assert_int_equal(a.status, 200);
    assert_contains(a.body, "ORDER_EXISTS");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_contains(o.reason, "ORDER_EXISTS");
    assert_string_equal(o.warehouse_order_id, first_id);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.requests, 2);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.key_mismatches, 0); /* the same document both times */
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.bad_requests, 0);

    /* The remark's & < > (in every free-text field) through the gateway. */
    char nasty[256];
    snprintf(nasty, sizeof nasty, "%s \"q\" 'a' a+b=c&d %%41", fx.example->order.remark);
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, NULL);
    json_object_set_new(doc, "order_id", json_string("SO-NASTY-1"));
    json_object_set_new(json_object_get(doc, "shipping_address"), "name", json_string(nasty));
    json_object_set_new(json_object_get(doc, "shipping_address"), "street", json_string(nasty));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    o = push(w.inst, &po->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.reason, "");
    assert_string_not_equal(o.warehouse_order_id, first_id);
    assert_int_equal(ob_sim_created(sim, "SO-NASTY-1"), 1);
    ob_order_free(po);

    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* A wrong digest is refused by the gateway (S02) and is PERMANENT: a wrong
 * secret, a digest changed in transit, a document changed in transit. */
static void test_sim_bad_signature(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim(NULL);
    struct sim_wh good, wrong;
    struct http_answer a;
    struct ob_request req;
    struct ob_sim_stats st;

    setenv("OB_TEST_CAINIAO_WRONG", "not-the-secret", 1);
    sim_wh_open(&good, ob_sim_port(sim), SECRET_ENV, "LP-SIM");
    sim_wh_open(&wrong, ob_sim_port(sim), "OB_TEST_CAINIAO_WRONG", "LP-SIM");

    /* 1. signed with another secret */
    struct ob_outcome o = push(wrong.inst, &fx.example->order, &a);
    assert_int_equal(a.status, 200);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "cainiao S02");

    /* 2. the digest tampered with: its first character changed */
    encode(good.inst, &fx.example->order, &req);
    char *d = strstr(req.body, "data_digest=");
    assert_non_null(d);
    d += strlen("data_digest=");
    *d = *d == 'A' ? 'B' : 'A';
    send_request(&req, &a);
    ob_request_reset(&req);
    o = decode_answer(good.inst, &a);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "cainiao S02");

    /* 3. the document tampered with, the digest kept: quantity 1 -> 9 */
    encode(good.inst, &fx.example->order, &req);
    char *q = strstr(req.body, "%3CitemQuantity%3E1%3C");
    assert_non_null(q);
    q[strlen("%3CitemQuantity%3E")] = '9';
    send_request(&req, &a);
    ob_request_reset(&req);
    o = decode_answer(good.inst, &a);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_contains(o.reason, "S02");

    /* nothing was created */
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 3);
    assert_int_equal(st.created, 0);

    /* and the right digest still goes through */
    o = push(good.inst, &fx.example->order, &a);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    sim_wh_close(&good);
    sim_wh_close(&wrong);
    unsetenv("OB_TEST_CAINIAO_WRONG");
    ob_sim_stop(sim);
}

/* A hand-made form request (not the adapter's) to the simulator. */
static void post_form(unsigned short port, const char *path, const char *body,
                      struct http_answer *a)
{
    char url[128];
    struct ob_request req;

    memset(&req, 0, sizeof req);
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    req.method = "POST";
    assert_int_equal(ob_request_set_url(&req, "%s", url), 0);
    assert_int_equal(ob_request_add_header(&req, "Content-Type",
                                           "application/x-www-form-urlencoded"),
                     0);
    assert_int_equal(ob_request_set_body(&req, body, strlen(body)), 0);
    send_request(&req, a);
    ob_request_reset(&req);
}

/* The simulator checks the digest exactly as the official vector says:
 * content "hello1234", secret "key123" -> ufYU7rvXhHY3IDyZgyt6SA== passes
 * the digest check (and then fails as a document, S01), one character off
 * fails it (S02). Its other refusals: unknown provider, missing fields. */
static void test_sim_official_vector_and_refusals(void **state)
{
    (void)state;
    static const struct ob_sim_secret vector_secrets[] = {{"secret", "key123"}, {NULL, NULL}};
    struct ob_sim_options o;
    char e[256];
    struct http_answer a;
    struct ob_sim_stats st;

    memset(&o, 0, sizeof o);
    o.profile = "cainiao";
    o.secrets = vector_secrets;
    struct ob_sim *sim = ob_sim_start(&o, e, sizeof e);
    assert_non_null(sim);
    unsigned short port = ob_sim_port(sim);

    post_form(port, "/gateway/link.do",
              "msg_type=WMS_CONSIGN_ORDER_NOTIFY&logistic_provider_id=ANY&"
              "logistics_interface=hello1234&data_digest=ufYU7rvXhHY3IDyZgyt6SA%3D%3D",
              &a);
    assert_int_equal(a.status, 200);
    assert_contains(a.body, "\"S01\"");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.bad_requests, 1);

    post_form(port, "/gateway/link.do",
              "msg_type=WMS_CONSIGN_ORDER_NOTIFY&logistic_provider_id=ANY&"
              "logistics_interface=hello1235&data_digest=ufYU7rvXhHY3IDyZgyt6SA%3D%3D",
              &a);
    assert_contains(a.body, "\"S02\"");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 1);

    /* a well-signed document without logisticsOrderCode: S05, PERMANENT */
    const char *doc = "<request><receiverInfo><name>a</name></receiverInfo></request>";
    char digest[64], body[1024];
    struct ob_buf enc;
    link_digest(doc, "key123", digest, sizeof digest);
    ob_buf_init(&enc, 4096);
    assert_int_equal(ob_url_encode(doc, strlen(doc), OB_URL_JAVA, &enc), 0);
    assert_int_equal(ob_buf_appends(&enc, "&data_digest="), 0);
    assert_int_equal(ob_url_encode(digest, strlen(digest), OB_URL_JAVA, &enc), 0);
    snprintf(body, sizeof body,
             "msg_type=WMS_CONSIGN_ORDER_NOTIFY&logistic_provider_id=ANY&logistics_interface=%s",
             enc.data);
    ob_buf_reset(&enc);
    post_form(port, "/gateway/link.do", body, &a);
    assert_contains(a.body, "\"S05\"");
    assert_contains(a.body, "logisticsOrderCode");
    struct ob_outcome oc = decode_answer(fx.hz, &a);
    assert_int_equal(oc.kind, OB_OUTCOME_PERMANENT);
    assert_contains(oc.reason, "cainiao S05");

    /* a parameter missing */
    post_form(port, "/gateway/link.do", "msg_type=WMS_CONSIGN_ORDER_NOTIFY", &a);
    assert_contains(a.body, "\"S01\"");
    assert_contains(a.body, "logistic_provider_id");

    /* another path: 404, PERMANENT */
    post_form(port, "/orders", "x=1", &a);
    assert_int_equal(a.status, 404);
    oc = decode_answer(fx.hz, &a);
    assert_int_equal(oc.kind, OB_OUTCOME_PERMANENT);
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 0);
    ob_sim_stop(sim);

    /* a provider id the gateway does not know (the sim expects LP-SIM) */
    sim = start_sim(NULL);
    struct sim_wh w;
    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-OTHER");
    oc = push(w.inst, &fx.example->order, &a);
    assert_int_equal(oc.kind, OB_OUTCOME_PERMANENT);
    assert_contains(oc.reason, "cainiao S03");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 1);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* The simulator's injected 429 with Retry-After, through the adapter. */
static void test_sim_throttled(void **state)
{
    (void)state;
    struct ob_sim_options o;
    struct http_answer a;
    struct sim_wh w;

    memset(&o, 0, sizeof o);
    o.fail_429_rate = 1.0;
    o.retry_after_s = 2;
    struct ob_sim *sim = start_sim(&o);
    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-SIM");
    struct ob_outcome oc = push(w.inst, &fx.example->order, &a);
    assert_int_equal(a.status, 429);
    assert_int_equal(oc.kind, OB_OUTCOME_RETRY);
    assert_int_equal(oc.retry_after_ms, 2000);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* ------------------------------------------------------------------------ */
/* status polling: WMS_ORDER_STATUS_QUERY (poll_encode / poll_decode)        */

#define QUERY_MSG_TYPE "WMS_ORDER_STATUS_QUERY"
#define MAX_UPDATES 32

static struct ob_poll_target poll_target(const char *order_id, const char *warehouse_order_id)
{
    struct ob_poll_target t = {
        .order_id = order_id,
        .warehouse_order_id = warehouse_order_id,
        .idempotency_key = IDEM_KEY,
        .current = OB_STATUS_ACCEPTED,
    };
    return t;
}

static int poll_decode_on(struct ob_adapter_instance *inst, const struct ob_poll_target *t,
                          long status, const char *body, struct ob_status_update *out,
                          size_t max)
{
    struct ob_response resp = {
        .status = status,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .transport_error = status == 0 ? "Connection refused" : NULL,
    };
    err[0] = '\0';
    memset(out, 0xA5, max * sizeof *out); /* the adapter must fill what it returns */
    return inst->plugin.vt.poll_decode(inst->state, t, &resp, out, max, err, sizeof err);
}

/* A canned answer about the example order. */
static int poll_decode_body(const char *body, struct ob_status_update *out, size_t max)
{
    struct ob_poll_target t = poll_target("SO20231111000123", "LBX0000001000001");
    return poll_decode_on(fx.hz, &t, 200, body, out, max);
}

/* Ask the simulator where `t` stands: poll_encode, HTTP, poll_decode. */
static int poll_sim(struct ob_adapter_instance *inst, const struct ob_poll_target *t,
                    struct http_answer *a, struct ob_status_update *out, size_t max)
{
    struct ob_request req;

    memset(&req, 0, sizeof req);
    err[0] = '\0';
    if (inst->plugin.vt.poll_encode(inst->state, t, &req, err, sizeof err) != 0) {
        print_error("poll_encode failed: %s\n", err);
        fail();
    }
    send_request(&req, a);
    ob_request_reset(&req);
    struct ob_response resp = {
        .status = a->status,
        .body = a->body,
        .body_len = a->len,
        .headers = a->headers,
        .n_headers = a->n_headers,
    };
    err[0] = '\0';
    return inst->plugin.vt.poll_decode(inst->state, t, &resp, out, max, err, sizeof err);
}

/* The simulator's timeline runs on the wall clock: wait until it has passed
 * `ms` (epoch). A wait for a time computed from the clock, not for an event. */
static void wait_past(int64_t ms)
{
    while (ob_time_now_ms() <= ms) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

struct want_step {
    const char *code;
    enum ob_fulfillment_status status;
};

static const struct want_step sim_ladder[] = {
    {"WMS_ACCEPT", OB_STATUS_ALLOCATED}, {"WMS_PRINT", OB_STATUS_UNMAPPED},
    {"WMS_PICK", OB_STATUS_PICKED},      {"WMS_PACKAGE", OB_STATUS_PACKED},
    {"WMS_CONSIGN", OB_STATUS_SHIPPED},  {"TMS_SIGN", OB_STATUS_DELIVERED},
};
static const struct want_step sim_exception = {"WMS_EXCEPTION", OB_STATUS_EXCEPTION};

/* The whole ladder of `order_id` in the simulator; returns its length. */
static size_t sim_steps(const char *order_id, struct want_step *out)
{
    static const struct want_step cancel = {"WMS_CANCEL", OB_STATUS_CANCELLED};
    size_t n = 0;
    if (ob_sim_status_cancelled(order_id)) { /* accepted, then cancelled: the end */
        out[0] = sim_ladder[0];
        out[1] = cancel;
        return 2;
    }
    for (size_t i = 0; i < sizeof sim_ladder / sizeof sim_ladder[0]; i++) {
        out[n++] = sim_ladder[i];
        if (i == 2 && ob_sim_status_exception(order_id))
            out[n++] = sim_exception;
    }
    return n;
}

/* The request asks for the order with the same signing as the push. */
static void test_poll_encode_request(void **state)
{
    (void)state;
    struct ob_request req;
    struct form f;
    struct ob_poll_target t = poll_target("SO20231111000123", "LBX0000001000001");
    char digest[64];

    memset(&req, 0, sizeof req);
    assert_int_equal(fx.hz->plugin.vt.poll_encode(fx.hz->state, &t, &req, err, sizeof err), 0);
    assert_string_equal(req.method, "POST");
    assert_string_equal(req.url, "https://link.cainiao.com/gateway/link.do");
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"),
                        "application/x-www-form-urlencoded; charset=UTF-8");
    assert_null(strstr(req.body, SECRET));
    form_parse(&req, &f);
    assert_int_equal(f.n, 5);
    assert_string_equal(f.key[0], "msg_type");
    assert_string_equal(f.key[1], "logistic_provider_id");
    assert_string_equal(f.key[2], "logistics_interface");
    assert_string_equal(f.key[3], "data_digest");
    assert_string_equal(f.key[4], "to_code");
    assert_string_equal(form_get(&f, "msg_type"), QUERY_MSG_TYPE);
    assert_string_equal(form_get(&f, "logistic_provider_id"), PROVIDER_ID);
    assert_string_equal(form_get(&f, "logistics_interface"),
                        "{\"logisticsOrderCode\":\"SO20231111000123\","
                        "\"orderCode\":\"LBX0000001000001\"}");
    link_digest(form_get(&f, "logistics_interface"), SECRET, digest, sizeof digest);
    assert_string_equal(form_get(&f, "data_digest"), digest);
    assert_string_equal(form_get(&f, "to_code"), TO_CODE);
    form_free(&f);
    ob_request_reset(&req);

    /* no warehouse order id (the push answer was lost): the order code only;
     * no to_code setting: no to_code field */
    t = poll_target("SO20231111000123", "");
    assert_int_equal(fx.sb->plugin.vt.poll_encode(fx.sb->state, &t, &req, err, sizeof err), 0);
    assert_string_equal(req.url, "http://linkdaily.tbsandbox.com:8080/gateway/link.do");
    form_parse(&req, &f);
    assert_int_equal(f.n, 4);
    assert_string_equal(form_get(&f, "logistic_provider_id"), "LP-SANDBOX");
    assert_string_equal(form_get(&f, "logistics_interface"),
                        "{\"logisticsOrderCode\":\"SO20231111000123\"}");
    link_digest(form_get(&f, "logistics_interface"), SECRET, digest, sizeof digest);
    assert_string_equal(form_get(&f, "data_digest"), digest);
    assert_null(form_get(&f, "to_code"));
    form_free(&f);
    ob_request_reset(&req);

    /* JSON escapes what it must */
    t = poll_target("SO-\"q\"&<x>\\", NULL);
    assert_int_equal(fx.hz->plugin.vt.poll_encode(fx.hz->state, &t, &req, err, sizeof err), 0);
    form_parse(&req, &f);
    json_t *doc = json_loads(form_get(&f, "logistics_interface"), JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "logisticsOrderCode")),
                        "SO-\"q\"&<x>\\");
    assert_null(json_object_get(doc, "orderCode"));
    json_decref(doc);
    form_free(&f);
    ob_request_reset(&req);

    /* an order id that is not UTF-8 cannot be sent */
    t = poll_target("SO-\xff", "");
    assert_int_equal(fx.hz->plugin.vt.poll_encode(fx.hz->state, &t, &req, err, sizeof err), -1);
    assert_contains(err, "invalid UTF-8");
    assert_null(strstr(err, SECRET));
    ob_request_reset(&req);
}

/* Every code of the mapping table, with what each entry carries. */
static void test_poll_decode_mapping(void **state)
{
    (void)state;
    struct ob_status_update u[MAX_UPDATES];
    const char *body =
        "{\"success\":\"true\",\"errorCode\":\"\",\"errorMsg\":\"\","
        "\"orderCode\":\"LBX0000001000001\",\"logisticsOrderCode\":\"SO20231111000123\","
        "\"orderStatusList\":["
        "{\"status\":\"WMS_ACCEPT\",\"statusDesc\":\"仓库接单\",\"operateTime\":\"2026-11-11 10:00:00\"},"
        "{\"status\":\"WMS_PRINT\",\"statusDesc\":\"打印面单\",\"operateTime\":\"2026-11-11 10:00:01\"},"
        "{\"status\":\"WMS_PICK\",\"statusDesc\":\"拣货完成\",\"operateTime\":\"2026-11-11 10:00:02\"},"
        "{\"status\":\"WMS_EXCEPTION\",\"statusDesc\":\"仓库作业异常\",\"operateTime\":"
        "\"2026-11-11 10:00:03\",\"remark\":\"库存不足\"},"
        "{\"status\":\"WMS_PACKAGE\",\"statusDesc\":\"打包完成\",\"operateTime\":\"2026-11-11 10:00:04\"},"
        "{\"status\":\"WMS_CONSIGN\",\"statusDesc\":\"仓库已发货\",\"operateTime\":"
        "\"2026-11-11 10:00:05\",\"tmsCode\":\"YTO\",\"tmsOrderCode\":\"YT0000001000001\"},"
        "{\"status\":\"TMS_SIGN\",\"statusDesc\":\"买家已签收\",\"operateTime\":\"2026-11-11 10:00:06\"},"
        "{\"status\":\"WMS_CANCEL\",\"statusDesc\":\"取消\",\"operateTime\":\"2026-11-11 10:00:07\","
        "\"remark\":\"买家取消\"},"
        "{\"status\":\"WMS_REJECT\",\"statusDesc\":\"拒单\",\"operateTime\":\"2026-11-11 10:00:08\","
        "\"remark\":\"地址不全\"},"
        "{\"status\":\"WMS_CHECK\",\"statusDesc\":\"复核\",\"operateTime\":\"yesterday\","
        "\"remark\":\"not a reason\"}]}";
    static const struct want_step want[] = {
        {"WMS_ACCEPT", OB_STATUS_ALLOCATED},   {"WMS_PRINT", OB_STATUS_UNMAPPED},
        {"WMS_PICK", OB_STATUS_PICKED},        {"WMS_EXCEPTION", OB_STATUS_EXCEPTION},
        {"WMS_PACKAGE", OB_STATUS_PACKED},     {"WMS_CONSIGN", OB_STATUS_SHIPPED},
        {"TMS_SIGN", OB_STATUS_DELIVERED},     {"WMS_CANCEL", OB_STATUS_CANCELLED},
        {"WMS_REJECT", OB_STATUS_REJECTED},    {"WMS_CHECK", OB_STATUS_UNMAPPED},
    };
    const int64_t t0 = 1794362400000; /* 2026-11-11T02:00:00Z = 10:00:00 in Shanghai */

    assert_int_equal(poll_decode_body(body, u, MAX_UPDATES), 10);
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(u[i].order_id, "SO20231111000123");
        assert_string_equal(u[i].warehouse_order_id, "LBX0000001000001");
        assert_string_equal(u[i].raw_code, want[i].code);
        assert_int_equal(u[i].status, want[i].status);
        assert_true(u[i].raw_text[0] != '\0');
        if (i < 9)
            assert_int_equal(u[i].occurred_at_ms, t0 + (int64_t)i * 1000);
        if (i != 5) {
            assert_string_equal(u[i].carrier, "");
            assert_string_equal(u[i].tracking_no, "");
        }
    }
    assert_string_equal(u[0].raw_text, "仓库接单");
    assert_int_equal(u[9].occurred_at_ms, 0); /* unreadable time: unknown */
    assert_string_equal(u[5].carrier, "YTO");
    assert_string_equal(u[5].tracking_no, "YT0000001000001");
    assert_string_equal(u[3].reason, "库存不足");
    assert_string_equal(u[7].reason, "买家取消");
    assert_string_equal(u[8].reason, "地址不全");
    assert_string_equal(u[0].reason, "");
    assert_string_equal(u[9].reason, ""); /* a remark is a reason only for those three */

    /* success as a JSON boolean; no orderCode in the answer: the target's;
     * mailNo read when there is no tmsOrderCode */
    assert_int_equal(poll_decode_body("{\"success\":true,\"orderStatusList\":[{\"status\":"
                                      "\"WMS_CONSIGN\",\"mailNo\":\"YT42\"}]}",
                                      u, MAX_UPDATES),
                     1);
    assert_string_equal(u[0].warehouse_order_id, "LBX0000001000001");
    assert_string_equal(u[0].tracking_no, "YT42");
    assert_int_equal(u[0].occurred_at_ms, 0);

    /* nothing yet: an empty, absent or null list */
    assert_int_equal(poll_decode_body("{\"success\":\"true\",\"orderStatusList\":[]}", u, 4), 0);
    assert_int_equal(poll_decode_body("{\"success\":\"true\"}", u, 4), 0);
    assert_int_equal(poll_decode_body("{\"success\":\"true\",\"orderStatusList\":null}", u, 4), 0);

    /* long text is cut on a character boundary */
    char long_desc[1024] = "";
    for (int i = 0; i < 200; i++)
        strcat(long_desc, "é");
    char long_body[2 * sizeof long_desc + 128];
    snprintf(long_body, sizeof long_body,
             "{\"success\":\"true\",\"orderStatusList\":[{\"status\":\"WMS_EXCEPTION\","
             "\"statusDesc\":\"%s\",\"remark\":\"%s\"}]}",
             long_desc, long_desc);
    assert_int_equal(poll_decode_body(long_body, u, MAX_UPDATES), 1);
    assert_int_equal(strlen(u[0].raw_text), 254);
    assert_int_equal(strlen(u[0].reason), 254);
    assert_int_equal(strncmp(u[0].raw_text, long_desc, 254), 0);
}

/* More entries than fit: unmapped ones go first, then the oldest. */
static void test_poll_decode_more_than_max(void **state)
{
    (void)state;
    struct ob_status_update u[MAX_UPDATES];
    const char *body = "{\"success\":\"true\",\"orderStatusList\":["
                       "{\"status\":\"WMS_ACCEPT\"},{\"status\":\"WMS_PRINT\"},"
                       "{\"status\":\"WMS_PICK\"},{\"status\":\"WMS_CHECK\"},"
                       "{\"status\":\"WMS_PACKAGE\"},{\"status\":\"WMS_CONSIGN\"},"
                       "{\"status\":\"X1\"},{\"status\":\"X2\"},{\"status\":\"X3\"},"
                       "{\"status\":\"TMS_SIGN\"}]}";

    assert_int_equal(poll_decode_body(body, u, 10), 10);
    assert_int_equal(poll_decode_body(body, u, 7), 7); /* X1 X2 X3 ... kept: the newest */
    assert_string_equal(u[0].raw_code, "WMS_ACCEPT");
    assert_string_equal(u[1].raw_code, "WMS_PICK");
    assert_string_equal(u[2].raw_code, "WMS_PACKAGE");
    assert_string_equal(u[3].raw_code, "WMS_CONSIGN");
    assert_string_equal(u[4].raw_code, "X2");
    assert_string_equal(u[6].raw_code, "TMS_SIGN");
    assert_int_equal(poll_decode_body(body, u, 5), 5);
    static const char *const mapped[] = {"WMS_ACCEPT", "WMS_PICK", "WMS_PACKAGE", "WMS_CONSIGN",
                                         "TMS_SIGN"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(u[i].raw_code, mapped[i]);
    assert_int_equal(poll_decode_body(body, u, 2), 2);
    assert_string_equal(u[0].raw_code, "WMS_CONSIGN");
    assert_string_equal(u[1].raw_code, "TMS_SIGN");
    assert_int_equal(poll_decode_body(body, u, 0), 0);
}

/* Errors and answers that cannot be read: -1, a message, no secret. */
static void test_poll_decode_unreadable(void **state)
{
    (void)state;
    struct ob_status_update u[4];
    struct ob_poll_target t = poll_target("SO20231111000123", "LBX0000001000001");
    static const struct {
        long status;
        const char *body, *want;
    } cases[] = {
        {0, NULL, "no answer: Connection refused"},
        {502, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
         "HTTP 502"},
        {404, "{\"error\":\"not found\"}", "HTTP 404"},
        {200, "<html><head><title>502 Bad Gateway</title></head></html>", "not JSON"},
        {200, "garbage", "not JSON"},
        {200, "", "not JSON"},
        {200, "{\"success\":\"true\",\"orderStatusList\":[{\"status\":\"WMS_AC", "not JSON"},
        {200, "[1,2]", "not a JSON object"},
        {200, "{\"orderStatusList\":[]}", "no \"success\""},
        {200, "{\"success\":\"maybe\"}", "neither"},
        {200, "{\"success\":\"true\",\"orderStatusList\":{}}", "not an array"},
        {200, "{\"success\":\"true\",\"orderStatusList\":[{\"statusDesc\":\"x\"}]}",
         "orderStatusList[0] has no status"},
        {200, "{\"success\":\"true\",\"orderStatusList\":[{\"status\":\"WMS_ACCEPT\"},7]}",
         "orderStatusList[1] has no status"},
        {200, "{\"success\":\"true\",\"logisticsOrderCode\":\"SO-OTHER\",\"orderStatusList\":[]}",
         "another order"},
        {200, "{\"success\":\"false\",\"errorCode\":\"ORDER_NOT_FOUND\",\"errorMsg\":\"x\"}",
         "ORDER_NOT_FOUND"},
        {200, "{\"success\":\"false\",\"errorCode\":\"S02\",\"errorMsg\":\"digest check failed\"}",
         "cainiao S02: digest check failed"},
        {200, "{\"success\":\"false\"}", "(no errorCode)"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = poll_decode_on(fx.hz, &t, cases[i].status, cases[i].body, u, 4);
        if (n != -1 || !strstr(err, cases[i].want)) {
            print_error("case %zu: %d, \"%s\" (want -1, \"%s\")\n", i, n, err, cases[i].want);
            fail();
        }
        assert_null(strstr(err, SECRET));
    }
}

/* Against the simulator: push, then every step of the ladder (all due at
 * once with a 1 ms step), with the same answer whether or not the query
 * names the warehouse's order code. */
static void test_poll_sim_ladder(void **state)
{
    (void)state;
    struct ob_sim_options o;
    struct sim_wh w;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct want_step want[8];
    struct ob_sim_stats st;

    memset(&o, 0, sizeof o);
    o.status_step_ms = 1;
    struct ob_sim *sim = start_sim(&o);
    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-SIM");

    int64_t t0 = ob_time_now_ms();
    struct ob_outcome oc = push(w.inst, &fx.example->order, &a);
    int64_t t1 = ob_time_now_ms();
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    size_t n_want = sim_steps("SO20231111000123", want);
    assert_int_equal(n_want, 6); /* the example order is not in the exception share */
    wait_past(t1 + (int64_t)n_want * 1);

    struct ob_poll_target t = poll_target("SO20231111000123", oc.warehouse_order_id);
    for (int round = 0; round < 2; round++) {
        int n = poll_sim(w.inst, &t, &a, u, MAX_UPDATES);
        if (n != (int)n_want) {
            print_error("%d updates (%s): %s\n", n, err, a.body);
            fail();
        }
        for (size_t i = 0; i < n_want; i++) {
            assert_string_equal(u[i].order_id, "SO20231111000123");
            assert_string_equal(u[i].warehouse_order_id, oc.warehouse_order_id);
            assert_string_equal(u[i].raw_code, want[i].code);
            assert_int_equal(u[i].status, want[i].status);
            assert_true(u[i].raw_text[0] != '\0');
            /* whole seconds, Shanghai time, read back to epoch ms */
            assert_true(u[i].occurred_at_ms >= t0 - t0 % 1000);
            assert_true(u[i].occurred_at_ms <= t1 + (int64_t)(i + 1));
            assert_int_equal(u[i].occurred_at_ms % 1000, 0);
            if (i > 0)
                assert_true(u[i].occurred_at_ms >= u[i - 1].occurred_at_ms);
        }
        assert_string_equal(u[4].carrier, "YTO");
        assert_string_equal(u[4].tracking_no, "YT0000001000001");
        assert_string_equal(oc.warehouse_order_id, "LBX0000001000001");
        t.warehouse_order_id = ""; /* round 2: by the order code alone */
    }

    /* a warehouse order code that is not the order's: not found */
    t.warehouse_order_id = "LBX0000009999999";
    assert_int_equal(poll_sim(w.inst, &t, &a, u, MAX_UPDATES), -1);
    assert_contains(a.body, "ORDER_NOT_FOUND");
    assert_contains(err, "ORDER_NOT_FOUND");

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.requests, 4);
    assert_int_equal(st.created, 1); /* queries create nothing */
    assert_int_equal(st.duplicates, 0);
    assert_int_equal(st.bad_requests, 0);
    assert_int_equal(st.bad_signatures, 0);
    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* Step timing: step n is due at created + n * step; bounds from the clock
 * read around the push and the query (the only waits are for the clock). */
static void test_poll_sim_step_timing(void **state)
{
    (void)state;
    const int64_t step = 40;
    struct ob_sim_options o;
    struct sim_wh w;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];

    memset(&o, 0, sizeof o);
    o.status_step_ms = (unsigned)step;
    struct ob_sim *sim = start_sim(&o);
    assert_int_equal(ob_sim_status_step_ms(sim), step);
    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-SIM");

    int64_t p0 = ob_time_now_ms();
    struct ob_outcome oc = push(w.inst, &fx.example->order, &a);
    int64_t p1 = ob_time_now_ms();
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    struct ob_poll_target t = poll_target("SO20231111000123", oc.warehouse_order_id);

    int64_t waits[] = {0, 2 * step + 1, 4 * step + 1, 7 * step};
    for (size_t k = 0; k < sizeof waits / sizeof waits[0]; k++) {
        wait_past(p1 + waits[k]);
        int64_t q0 = ob_time_now_ms();
        int n = poll_sim(w.inst, &t, &a, u, MAX_UPDATES);
        int64_t q1 = ob_time_now_ms();
        /* created in [p0, p1], answered in [q0, q1]: step i due when
         * created + i * step <= answered */
        int64_t lo = (q0 - p1) / step, hi = (q1 - p0) / step;
        if (lo > 6)
            lo = 6;
        if (hi > 6)
            hi = 6;
        if (n < lo || n > hi) {
            print_error("round %zu: %d steps, want %lld..%lld (%s)\n", k, n, (long long)lo,
                        (long long)hi, err);
            fail();
        }
        for (int i = 0; i < n; i++) {
            int64_t due_lo = p0 + (i + 1) * step, due_hi = p1 + (i + 1) * step;
            assert_string_equal(u[i].raw_code, sim_ladder[i].code);
            assert_true(u[i].occurred_at_ms >= due_lo - due_lo % 1000);
            assert_true(u[i].occurred_at_ms <= due_hi);
        }
        if (k == sizeof waits / sizeof waits[0] - 1)
            assert_int_equal(n, 6); /* the whole ladder, nothing after TMS_SIGN */
    }
    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* The orders ob_sim_status_exception() names (1 in 20, by a hash of the
 * order code) get WMS_EXCEPTION after WMS_PICK, and then go on to TMS_SIGN. */
static void test_poll_sim_exception_share(void **state)
{
    (void)state;
    enum { ORDERS = 40 };
    struct ob_sim_options o;
    struct sim_wh w;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct want_step want[8];
    char ids[ORDERS][32], wh_ids[ORDERS][128];
    int exceptions = 0, expected = 0;

    memset(&o, 0, sizeof o);
    o.status_step_ms = 1;
    struct ob_sim *sim = start_sim(&o);
    sim_wh_open(&w, ob_sim_port(sim), SECRET_ENV, "LP-SIM");

    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, NULL);
    assert_non_null(doc);
    for (int i = 0; i < ORDERS; i++) {
        snprintf(ids[i], sizeof ids[i], "SO-POLL-%03d", i);
        json_object_set_new(doc, "order_id", json_string(ids[i]));
        char *text = json_dumps(doc, JSON_COMPACT);
        struct ob_parsed_order *po = parse_order(text, strlen(text));
        free(text);
        assert_non_null(po);
        struct ob_outcome oc = push(w.inst, &po->order, &a);
        ob_order_free(po);
        assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
        snprintf(wh_ids[i], sizeof wh_ids[i], "%s", oc.warehouse_order_id);
    }
    json_decref(doc);
    wait_past(ob_time_now_ms() + 7);

    for (int i = 0; i < ORDERS; i++) {
        struct ob_poll_target t = poll_target(ids[i], wh_ids[i]);
        size_t n_want = sim_steps(ids[i], want);
        expected += ob_sim_status_exception(ids[i]);
        int n = poll_sim(w.inst, &t, &a, u, MAX_UPDATES);
        assert_int_equal(n, (int)n_want);
        for (size_t k = 0; k < n_want; k++) {
            assert_string_equal(u[k].raw_code, want[k].code);
            assert_int_equal(u[k].status, want[k].status);
        }
        if (n_want == 7) {
            exceptions++;
            assert_int_equal(u[3].status, OB_STATUS_EXCEPTION);
            assert_true(u[3].reason[0] != '\0');
            assert_int_equal(u[6].status, OB_STATUS_DELIVERED);
        }
    }
    assert_int_equal(exceptions, expected); /* SO-POLL-004 and SO-POLL-030 today */
    assert_true(expected > 0); /* the share must show among these orders */
    sim_wh_close(&w);
    ob_sim_stop(sim);
}

/* An order the warehouse does not know, a wrong secret, an unknown
 * provider, garbage answers: -1 every time. */
static void test_poll_sim_refusals(void **state)
{
    (void)state;
    struct ob_sim_stats st;
    struct sim_wh good, wrong, stranger;
    struct http_answer a;
    struct ob_status_update u[MAX_UPDATES];
    struct ob_sim_options o;

    memset(&o, 0, sizeof o);
    o.status_step_ms = 1;
    struct ob_sim *sim = start_sim(&o);
    setenv("OB_TEST_CAINIAO_WRONG", "not-the-secret", 1);
    sim_wh_open(&good, ob_sim_port(sim), SECRET_ENV, "LP-SIM");
    sim_wh_open(&wrong, ob_sim_port(sim), "OB_TEST_CAINIAO_WRONG", "LP-SIM");
    sim_wh_open(&stranger, ob_sim_port(sim), SECRET_ENV, "LP-OTHER");

    /* never pushed */
    struct ob_poll_target t = poll_target("SO-NEVER-PUSHED", "");
    assert_int_equal(poll_sim(good.inst, &t, &a, u, MAX_UPDATES), -1);
    assert_contains(a.body, "\"ORDER_NOT_FOUND\"");
    assert_contains(err, "ORDER_NOT_FOUND");
    assert_int_equal(ob_sim_created(sim, "SO-NEVER-PUSHED"), 0); /* asking stores nothing */

    struct ob_outcome oc = push(good.inst, &fx.example->order, &a);
    assert_int_equal(oc.kind, OB_OUTCOME_ACCEPTED);
    t = poll_target("SO20231111000123", oc.warehouse_order_id);

    /* signed with another secret: S02, counted */
    assert_int_equal(poll_sim(wrong.inst, &t, &a, u, MAX_UPDATES), -1);
    assert_contains(a.body, "\"S02\"");
    assert_contains(err, "cainiao S02");
    assert_null(strstr(err, SECRET));
    assert_null(strstr(err, "not-the-secret"));
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 1);

    /* the query's document tampered with, the digest kept */
    struct ob_request req;
    memset(&req, 0, sizeof req);
    assert_int_equal(good.inst->plugin.vt.poll_encode(good.inst->state, &t, &req, err, sizeof err),
                     0);
    char *c = strstr(req.body, "SO20231111000123");
    assert_non_null(c);
    c[2] = '3';
    send_request(&req, &a);
    ob_request_reset(&req);
    assert_contains(a.body, "\"S02\"");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 2);

    /* a provider id the gateway does not know: S03 */
    assert_int_equal(poll_sim(stranger.inst, &t, &a, u, MAX_UPDATES), -1);
    assert_contains(err, "cainiao S03");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 1);

    /* and the right one still answers */
    wait_past(ob_time_now_ms() + 7);
    assert_int_equal(poll_sim(good.inst, &t, &a, u, MAX_UPDATES), 6);

    /* the gateway's answers replaced by garbage (HTML 502 page, cut JSON,
     * empty, "OK"): unreadable, -1 */
    o.garbage_rate = 1.0;
    assert_int_equal(ob_sim_set_faults(sim, &o), 0);
    for (int i = 0; i < 8; i++) {
        int n = poll_sim(good.inst, &t, &a, u, MAX_UPDATES);
        assert_int_equal(a.status, 200);
        if (n != -1) {
            print_error("garbage answer read as %d updates: %s\n", n, a.body);
            fail();
        }
    }
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.injected_garbage, 8);
    assert_int_equal(st.created, 1);

    sim_wh_close(&good);
    sim_wh_close(&wrong);
    sim_wh_close(&stranger);
    unsetenv("OB_TEST_CAINIAO_WRONG");
    ob_sim_stop(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_request_line_and_headers),
        cmocka_unit_test(test_encode_form_fields),
        cmocka_unit_test(test_encode_document),
        cmocka_unit_test(test_digest_official_vector),
        cmocka_unit_test(test_encode_digest),
        cmocka_unit_test(test_encode_same_on_every_attempt),
        cmocka_unit_test(test_encode_special_characters),
        cmocka_unit_test(test_encode_optional_fields_absent),
        cmocka_unit_test(test_encode_control_character),
        cmocka_unit_test(test_encode_refuses_other_events),
        cmocka_unit_test(test_decode_success),
        cmocka_unit_test(test_decode_duplicate_is_accepted),
        cmocka_unit_test(test_decode_permanent_codes),
        cmocka_unit_test(test_decode_transient_codes),
        cmocka_unit_test(test_decode_malformed_is_retry),
        cmocka_unit_test(test_decode_http_errors),
        cmocka_unit_test(test_decode_retry_after),
        cmocka_unit_test(test_decode_transport_error),
        cmocka_unit_test(test_decode_reason_bounded),
        cmocka_unit_test(test_init_without_secret),
        cmocka_unit_test(test_init_empty_secret),
        cmocka_unit_test(test_init_bad_settings),
        cmocka_unit_test(test_init_good_settings),
        cmocka_unit_test(test_sim_created_then_duplicate),
        cmocka_unit_test(test_sim_bad_signature),
        cmocka_unit_test(test_sim_official_vector_and_refusals),
        cmocka_unit_test(test_sim_throttled),
        cmocka_unit_test(test_poll_encode_request),
        cmocka_unit_test(test_poll_decode_mapping),
        cmocka_unit_test(test_poll_decode_more_than_max),
        cmocka_unit_test(test_poll_decode_unreadable),
        cmocka_unit_test(test_poll_sim_ladder),
        cmocka_unit_test(test_poll_sim_step_timing),
        cmocka_unit_test(test_poll_sim_exception_share),
        cmocka_unit_test(test_poll_sim_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
