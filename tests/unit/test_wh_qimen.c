/*
 * test_wh_qimen.c — the qimen adapter (adapters/qimen/qimen.c) loaded
 * through the real loader, as the bridge uses it: the request it builds for
 * contracts/example-order.json (every URL parameter, header and XML
 * element), the MD5 sign recomputed here independently and checked against
 * the official Qimen vector, how it classifies answers, what init refuses,
 * and a round trip against the simulator's qimen profile over real HTTP.
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

#define APP_KEY_ENV "OB_TEST_QIMEN_APP_KEY"
#define SECRET_ENV "OB_TEST_QIMEN_SECRET"
#define APP_KEY "23456789"
#define SECRET "qm-s3cr3t-5e7a9c"
#define ENDPOINT "https://qimen.api.taobao.com/router/qimen/service"
/* printf 'orderbridge.idem.v1\nQM-HZ-01\nSO20231111000123\norder.created\n1' | sha256sum */
#define IDEM_KEY "2b9cf36dd6553e4b23af8d237aaf1e8eb69f482323a8d8c6a6a0893972378319"

/* Two warehouses: HZ with the required settings only (defaults for the
 * rest), SG with every setting given. */
#define CONFIG                                                                                    \
    "{'kafka':{'bootstrap_servers':'k1:9092'},"                                                   \
    "'adapter_path':['" OB_BUILD_DIR "/adapters'],"                                               \
    "'warehouses':{"                                                                              \
    "'QM-HZ-01':{'adapter':'qimen','endpoint':'" ENDPOINT "',"                                    \
    "'credentials':{'app_key':'env:" APP_KEY_ENV "','secret':'env:" SECRET_ENV "'},"              \
    "'settings':{'customer_id':'c1702345678','owner_code':'SKECHERS'}},"                          \
    "'QM-SG-02':{'adapter':'qimen','endpoint':'http://wms-sg.example.com:8080/qimen/',"           \
    "'credentials':{'app_key':'env:" APP_KEY_ENV "','secret':'env:" SECRET_ENV "'},"              \
    "'settings':{'customer_id':'SG-C-9','owner_code':'OWN-SG','warehouse_code':'WH-SG',"          \
    "'order_type':'PTCK','time_zone':'UTC','retry_codes':['SYSTEM_BUSY','lock.*'],"               \
    "'duplicate_codes':['ORDER_EXISTS']}}}}"

/* The exact body for the example order at QM-HZ-01. */
#define EXAMPLE_BODY                                                                              \
    "<request><deliveryOrder><deliveryOrderCode>SO20231111000123</deliveryOrderCode>"             \
    "<orderType>JYCK</orderType><warehouseCode>QM-HZ-01</warehouseCode>"                          \
    "<createTime>2023-11-11 00:00:03</createTime><receiverInfo><name>张三</name>"                 \
    "<mobile>13800138000</mobile><province>上海市</province><city>上海市</city>"                  \
    "<area>闵行区</area><detailAddress>莘庄镇 春申路 1 号 2 单元 301</detailAddress>"             \
    "</receiverInfo><remark>双11 预售尾款 &amp; &lt;请勿&gt; 放快递柜</remark></deliveryOrder>"   \
    "<orderLines><orderLine><ownerCode>SKECHERS</ownerCode><itemCode>SKE-12345-BLK-42</itemCode>" \
    "<itemName>D'LITES 复古老爹鞋 黑 42</itemName><planQty>1</planQty>"                           \
    "<actualPrice>539.00</actualPrice></orderLine><orderLine><ownerCode>SKECHERS</ownerCode>"     \
    "<itemCode>SKE-SOCK-3P</itemCode><itemName>运动袜 3 双装</itemName><planQty>2</planQty>"      \
    "<actualPrice>49.00</actualPrice></orderLine></orderLines></request>"

struct fixture {
    struct ob_config *cfg;
    struct ob_adapter_instance *hz; /* required settings only */
    struct ob_adapter_instance *sg; /* every setting */
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
    if (setenv(APP_KEY_ENV, APP_KEY, 1) != 0 || setenv(SECRET_ENV, SECRET, 1) != 0)
        return -1;
    unsetenv("OB_ADAPTER_PATH");
    json = J(CONFIG);
    if (ob_config_parse(json, strlen(json), NULL, &fx.cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        return -1;
    }
    if (ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "QM-HZ-01"), &fx.hz, err,
                        sizeof err) != 0 ||
        ob_adapter_open(fx.cfg, ob_config_warehouse(fx.cfg, "QM-SG-02"), &fx.sg, err,
                        sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        return -1;
    }
    fx.example_text = read_file(OB_CONTRACTS_DIR "/example-order.json", &fx.example_len);
    if (!fx.example_text)
        return -1;
    fx.example = parse_order(fx.example_text, fx.example_len);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return fx.example ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ob_order_free(fx.example);
    free(fx.example_text);
    ob_adapter_close(fx.hz);
    ob_adapter_close(fx.sg);
    ob_config_destroy(fx.cfg);
    unsetenv(APP_KEY_ENV);
    unsetenv(SECRET_ENV);
    curl_global_cleanup();
    return 0;
}

static const struct ob_delivery delivery = {
    .warehouse = "QM-HZ-01",
    .idempotency_key = IDEM_KEY,
    .trace_id = "0-42",
    .attempt = 1,
};

static int try_encode(struct ob_adapter_instance *inst, const struct ob_order *order,
                      struct ob_request *req)
{
    memset(req, 0, sizeof *req);
    err[0] = '\0';
    return inst->plugin.vt.encode(inst->state, order, &delivery, req, err, sizeof err);
}

/* Encode `order` with `inst`; the request must be freed with ob_request_reset. */
static void encode(struct ob_adapter_instance *inst, const struct ob_order *order,
                   struct ob_request *req)
{
    if (try_encode(inst, order, req) != 0) {
        print_error("encode failed: %s\n", err);
        fail();
    }
}

/* ------------------------------------------------------------------------ */
/* the URL's query                                                           */

struct qparam {
    char key[64];
    char value[256]; /* percent-decoded */
    char raw[512];   /* as sent */
};

#define MAX_PARAMS 16

/* Splits the query of `url`, which must start with base + "?". */
static size_t parse_query(const char *url, const char *base, struct qparam *out)
{
    size_t n = 0, blen = strlen(base);
    const char *p;

    assert_int_equal(strncmp(url, base, blen), 0);
    assert_int_equal(url[blen], '?');
    p = url + blen + 1;
    while (*p) {
        const char *amp = strchr(p, '&'), *eq;
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        int klen, vlen;
        char *k, *v;

        assert_true(n < MAX_PARAMS);
        eq = memchr(p, '=', len);
        assert_non_null(eq);
        k = curl_easy_unescape(NULL, p, (int)(eq - p), &klen);
        v = curl_easy_unescape(NULL, eq + 1, (int)(len - (size_t)(eq - p) - 1), &vlen);
        assert_non_null(k);
        assert_non_null(v);
        assert_true((size_t)klen < sizeof out[n].key && (size_t)vlen < sizeof out[n].value);
        memcpy(out[n].key, k, (size_t)klen + 1);
        memcpy(out[n].value, v, (size_t)vlen + 1);
        snprintf(out[n].raw, sizeof out[n].raw, "%.*s", (int)(len - (size_t)(eq - p) - 1),
                 eq + 1);
        curl_free(k);
        curl_free(v);
        n++;
        p += len + (amp ? 1 : 0);
    }
    return n;
}

static const char *qvalue(const struct qparam *p, size_t n, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(p[i].key, key) == 0) {
            assert_null(found); /* exactly once */
            found = p[i].value;
        }
    }
    if (!found) {
        print_error("no URL parameter %s\n", key);
        fail();
    }
    return found;
}

static int cmp_param(const void *a, const void *b)
{
    return strcmp(((const struct qparam *)a)->key, ((const struct qparam *)b)->key);
}

/*
 * The Qimen sign, written here without the adapter's code path:
 * UPPER(hex(MD5(secret + k1v1k2v2... (every parameter but sign, sorted by
 * key in byte order, raw values) + body + secret))). MD5 is the SDK's
 * (known-answer tested in test_sdk), the rest is qsort and strcat.
 */
static void qimen_sign(const char *secret, const struct qparam *params, size_t n,
                       const char *body, size_t body_len, char out[33])
{
    struct qparam sorted[MAX_PARAMS];
    size_t m = 0;
    char *text;
    size_t cap = strlen(secret) * 2 + body_len + 1;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;

    for (size_t i = 0; i < n; i++) {
        if (strcmp(params[i].key, "sign") != 0)
            sorted[m++] = params[i];
        cap += strlen(params[i].key) + strlen(params[i].value);
    }
    qsort(sorted, m, sizeof sorted[0], cmp_param); /* keys are distinct */
    text = malloc(cap);
    assert_non_null(text);
    strcpy(text, secret);
    for (size_t i = 0; i < m; i++) {
        strcat(text, sorted[i].key);
        strcat(text, sorted[i].value);
    }
    size_t len = strlen(text);
    memcpy(text + len, body, body_len);
    len += body_len;
    memcpy(text + len, secret, strlen(secret));
    len += strlen(secret);
    assert_int_equal(ob_digest(OB_MD5, text, len, md, &md_len), 0);
    assert_int_equal(md_len, 16);
    ob_hex_upper(md, md_len, out);
    free(text);
}

static void set_param(struct qparam *p, const char *key, const char *value)
{
    memset(p, 0, sizeof *p);
    snprintf(p->key, sizeof p->key, "%s", key);
    snprintf(p->value, sizeof p->value, "%s", value);
}

/* The official vector (Qimen's documentation; also test_sdk's
 * test_qimen_sign), and one computed now with python3 for the example
 * order's exact body:
 *   hashlib.md5((secret + ''.join(k + p[k] for k in sorted(p)) + body
 *                + secret).encode()).hexdigest().upper() */
static void test_sign_vectors(void **state)
{
    (void)state;
    struct qparam p[8];
    char sig[33];
    static const char body[] =
        "<request><deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode></deliveryOrder>"
        "</request>";

    /* in no particular order, with a sign already present (ignored) */
    set_param(&p[0], "v", "2.0");
    set_param(&p[1], "timestamp", "2015-04-26 00:00:07");
    set_param(&p[2], "sign", "IGNORED");
    set_param(&p[3], "method", "taobao.qimen.deliveryorder.create");
    set_param(&p[4], "format", "xml");
    set_param(&p[5], "customerId", "stub-cust-code");
    set_param(&p[6], "sign_method", "md5");
    set_param(&p[7], "app_key", "testerp_appkey");
    qimen_sign("test", p, 8, body, strlen(body), sig);
    assert_string_equal(sig, "F040FCBBEADFF162EA428B96E353EC83");

    /* the example order's body, UTF-8 and escaped entities included */
    set_param(&p[0], "method", "taobao.qimen.deliveryorder.create");
    set_param(&p[1], "timestamp", "2023-11-11 00:00:05");
    set_param(&p[2], "format", "xml");
    set_param(&p[3], "app_key", APP_KEY);
    set_param(&p[4], "v", "2.0");
    set_param(&p[5], "sign_method", "md5");
    set_param(&p[6], "customerId", "c1702345678");
    qimen_sign(SECRET, p, 7, EXAMPLE_BODY, strlen(EXAMPLE_BODY), sig);
    assert_string_equal(sig, "9DF48E3FC38BEC8922C5D9C89411F35D");
}

/* ------------------------------------------------------------------------ */
/* encode: request line, headers, query, sign                                */

static void now_text(const char *tz, char out[32])
{
    assert_int_equal(ob_time_format(ob_time_now_ms(), tz, "yyyy-MM-dd HH:mm:ss", out, 32), 0);
}

static void check_request(struct ob_adapter_instance *inst, const char *base, const char *tz,
                          const char *customer_id)
{
    struct ob_request req;
    struct qparam p[MAX_PARAMS];
    char before[32], after[32], sig[33];
    static const char *const recipe_order[] = {"method", "timestamp", "format", "app_key",
                                               "v",      "sign_method", "customerId", "sign"};
    now_text(tz, before);
    encode(inst, &fx.example->order, &req);
    now_text(tz, after);

    assert_non_null(req.method);
    assert_string_equal(req.method, "POST");
    assert_int_equal(req.n_headers, 1);
    assert_string_equal(req_header(&req, "Content-Type"), "text/xml;charset=utf-8");

    size_t n = parse_query(req.url, base, p);
    assert_int_equal(n, 8);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(p[i].key, recipe_order[i]);
    assert_string_equal(qvalue(p, n, "method"), "taobao.qimen.deliveryorder.create");
    assert_string_equal(qvalue(p, n, "format"), "xml");
    assert_string_equal(qvalue(p, n, "app_key"), APP_KEY);
    assert_string_equal(qvalue(p, n, "v"), "2.0");
    assert_string_equal(qvalue(p, n, "sign_method"), "md5");
    assert_string_equal(qvalue(p, n, "customerId"), customer_id);

    /* timestamp: yyyy-MM-dd HH:mm:ss in the zone, taken during encode */
    const char *ts = qvalue(p, n, "timestamp");
    assert_int_equal(strlen(ts), 19);
    assert_true(strcmp(ts, before) >= 0 && strcmp(ts, after) <= 0);
    /* sent percent-encoded (RFC 3986: space %20, ':' %3A), never raw */
    assert_int_equal(strlen(p[1].raw), 25);
    assert_null(strchr(req.url, ' '));
    assert_null(strchr(req.url, '+'));
    char raw_expected[32];
    snprintf(raw_expected, sizeof raw_expected, "%.10s%%20%.2s%%3A%.2s%%3A%.2s", ts, ts + 11,
             ts + 14, ts + 17);
    assert_string_equal(p[1].raw, raw_expected);

    /* sign: 32 upper-case hex, recomputed here from what is sent */
    const char *sign = qvalue(p, n, "sign");
    assert_int_equal(strlen(sign), 32);
    assert_int_equal(strspn(sign, "0123456789ABCDEF"), 32);
    qimen_sign(SECRET, p, n, req.body, req.body_len, sig);
    assert_string_equal(sign, sig);
    /* it covers the body: one byte changed, another sign */
    req.body[req.body_len - 2] = 'X';
    qimen_sign(SECRET, p, n, req.body, req.body_len, sig);
    assert_string_not_equal(sign, sig);

    /* The secret is never sent. */
    assert_null(strstr(req.url, SECRET));
    assert_null(strstr(req.body, SECRET));
    assert_null(strstr(req.headers[0].value, SECRET));
    ob_request_reset(&req);
}

static void test_encode_request(void **state)
{
    (void)state;
    check_request(fx.hz, ENDPOINT, "Asia/Shanghai", "c1702345678");
    /* the trailing slash of the configured endpoint is dropped by the config */
    check_request(fx.sg, "http://wms-sg.example.com:8080/qimen", "UTC", "SG-C-9");
}

/* ------------------------------------------------------------------------ */
/* encode: the XML body                                                      */

static xmlDoc *parse_xml(const struct ob_request *req)
{
    assert_non_null(req->body);
    assert_int_equal(strlen(req->body), req->body_len);
    xmlDoc *doc = xmlReadMemory(req->body, (int)req->body_len, NULL, "UTF-8",
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        print_error("body is not XML: %s\n", req->body);
        fail();
    }
    return doc;
}

/* The element children of `parent`, whose names must be exactly `names`. */
static void children(xmlNode *parent, const char *const *names, size_t n, xmlNode **out)
{
    size_t i = 0;
    for (xmlNode *c = parent->children; c; c = c->next) {
        assert_int_equal(c->type, XML_ELEMENT_NODE); /* no stray text or comments */
        assert_true(i < n);
        assert_string_equal((const char *)c->name, names[i]);
        out[i++] = c;
    }
    if (i != n) {
        print_error("<%s> has %zu children, expected %zu\n", parent->name, i, n);
        fail();
    }
}

/* The text of a leaf element. */
static void assert_text(xmlNode *node, const char *expected)
{
    for (xmlNode *c = node->children; c; c = c->next)
        assert_int_equal(c->type, XML_TEXT_NODE);
    xmlChar *text = xmlNodeGetContent(node);
    assert_non_null(text);
    if (strcmp((const char *)text, expected) != 0) {
        print_error("<%s>: \"%s\", expected \"%s\"\n", node->name, text, expected);
        xmlFree(text);
        fail();
    }
    xmlFree(text);
}

struct expect_line {
    const char *sku, *name, *qty, *price;
};

struct expect {
    const char *code, *type, *warehouse, *create_time;
    const char *name, *mobile, *province, *city, *area, *street;
    const char *remark; /* NULL: no <remark> */
    const char *owner;
    const struct expect_line *lines;
    size_t n_lines;
};

static void check_body(const struct ob_request *req, const struct expect *e)
{
    static const char *const top[] = {"deliveryOrder", "orderLines"};
    static const char *const dord[] = {"deliveryOrderCode", "orderType", "warehouseCode",
                                       "createTime",        "receiverInfo", "remark"};
    static const char *const recv[] = {"name", "mobile", "province",
                                       "city", "area",   "detailAddress"};
    static const char *const line[] = {"ownerCode", "itemCode", "itemName", "planQty",
                                       "actualPrice"};
    xmlNode *t[2], *d[6], *r[6], *l[8], *f[5];
    xmlDoc *doc = parse_xml(req);
    xmlNode *root = xmlDocGetRootElement(doc);

    assert_non_null(root);
    assert_string_equal((const char *)root->name, "request");
    assert_null(root->ns);
    children(root, top, 2, t);
    children(t[0], dord, e->remark ? 6 : 5, d);
    assert_text(d[0], e->code);
    assert_text(d[1], e->type);
    assert_text(d[2], e->warehouse);
    assert_text(d[3], e->create_time);
    children(d[4], recv, 6, r);
    assert_text(r[0], e->name);
    assert_text(r[1], e->mobile);
    assert_text(r[2], e->province);
    assert_text(r[3], e->city);
    assert_text(r[4], e->area);
    assert_text(r[5], e->street);
    if (e->remark)
        assert_text(d[5], e->remark);

    const char *names[8];
    assert_true(e->n_lines <= 8);
    for (size_t i = 0; i < e->n_lines; i++)
        names[i] = "orderLine";
    children(t[1], names, e->n_lines, l);
    for (size_t i = 0; i < e->n_lines; i++) {
        children(l[i], line, 5, f);
        assert_text(f[0], e->owner);
        assert_text(f[1], e->lines[i].sku);
        assert_text(f[2], e->lines[i].name);
        assert_text(f[3], e->lines[i].qty);
        assert_text(f[4], e->lines[i].price);
    }
    xmlFreeDoc(doc);
}

static const struct expect_line example_lines[] = {
    {"SKE-12345-BLK-42", "D'LITES 复古老爹鞋 黑 42", "1", "539.00"}, /* 599.00 - 60.00 */
    {"SKE-SOCK-3P", "运动袜 3 双装", "2", "49.00"},
};

static void test_encode_body(void **state)
{
    (void)state;
    struct ob_request req;
    const struct expect hz = {
        .code = "SO20231111000123",
        .type = "JYCK",
        .warehouse = "QM-HZ-01", /* default: the warehouse's code in the config */
        .create_time = "2023-11-11 00:00:03", /* 2023-11-11T00:00:03.120+08:00 */
        .name = "张三",
        .mobile = "13800138000",
        .province = "上海市",
        .city = "上海市",
        .area = "闵行区",
        .street = "莘庄镇 春申路 1 号 2 单元 301",
        .remark = "双11 预售尾款 & <请勿> 放快递柜",
        .owner = "SKECHERS",
        .lines = example_lines,
        .n_lines = 2,
    };

    encode(fx.hz, &fx.example->order, &req);
    check_body(&req, &hz);
    /* byte for byte: no declaration, no whitespace, entities for & < > */
    assert_int_equal(req.body_len, strlen(EXAMPLE_BODY));
    assert_memory_equal(req.body, EXAMPLE_BODY, req.body_len);
    ob_request_reset(&req);

    /* SG: its own warehouse code, order type and zone (UTC: 8 hours earlier) */
    struct expect sg = hz;
    sg.type = "PTCK";
    sg.warehouse = "WH-SG";
    sg.create_time = "2023-11-10 16:00:03";
    sg.owner = "OWN-SG";
    encode(fx.sg, &fx.example->order, &req);
    check_body(&req, &sg);
    ob_request_reset(&req);
}

/* Every attempt sends the same body (only timestamp and sign change). */
static void test_encode_body_is_stable(void **state)
{
    (void)state;
    struct ob_request a, b;

    encode(fx.hz, &fx.example->order, &a);
    encode(fx.hz, &fx.example->order, &b);
    assert_int_equal(a.body_len, b.body_len);
    assert_memory_equal(a.body, b.body, a.body_len);
    ob_request_reset(&a);
    ob_request_reset(&b);
}

/* The example order with some fields replaced (json_t edits). */
static struct ob_parsed_order *example_edit(void (*edit)(json_t *doc, const void *arg),
                                            const void *arg)
{
    json_error_t jerr;
    json_t *doc = json_loadb(fx.example_text, fx.example_len, 0, &jerr);
    assert_non_null(doc);
    edit(doc, arg);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    assert_non_null(text);
    struct ob_parsed_order *po = parse_order(text, strlen(text));
    free(text);
    assert_non_null(po);
    return po;
}

static void set_path(json_t *doc, const char *obj, const char *key, json_t *value)
{
    json_t *target = obj ? json_object_get(doc, obj) : doc;
    assert_non_null(target);
    assert_int_equal(json_object_set_new(target, key, value), 0);
}

static json_t *item(json_t *doc, size_t i)
{
    json_t *it = json_array_get(json_object_get(doc, "items"), i);
    assert_non_null(it);
    return it;
}

static void edit_nasty(json_t *doc, const void *arg)
{
    const char *s = arg;
    set_path(doc, NULL, "remark", json_string(s));
    set_path(doc, "shipping_address", "name", json_string(s));
    set_path(doc, "shipping_address", "street", json_string(s));
    set_path(doc, "shipping_address", "city", json_string(s));
    assert_int_equal(json_object_set_new(item(doc, 0), "name", json_string(s)), 0);
    assert_int_equal(json_object_set_new(item(doc, 1), "sku", json_string(s)), 0);
}

/* The example's remark holds & < >; with " ' ]]> and entity-like text added
 * to every text field that goes into the body, the body is still one XML
 * document carrying the exact text, and the sign still matches. */
static void test_encode_special_characters(void **state)
{
    (void)state;
    const char *nasty = "双11 & <请勿> \"quoted\" 'single' ]]> &amp; <![CDATA[x]]> </request> 🚚";
    struct ob_request req;

    assert_non_null(strchr(fx.example->order.remark, '&'));
    assert_non_null(strchr(fx.example->order.remark, '<'));
    assert_non_null(strchr(fx.example->order.remark, '>'));

    struct ob_parsed_order *po = example_edit(edit_nasty, nasty);
    encode(fx.hz, &po->order, &req);
    const struct expect_line lines[] = {
        {"SKE-12345-BLK-42", nasty, "1", "539.00"},
        {nasty, "运动袜 3 双装", "2", "49.00"},
    };
    const struct expect e = {
        .code = "SO20231111000123", .type = "JYCK", .warehouse = "QM-HZ-01",
        .create_time = "2023-11-11 00:00:03", .name = nasty, .mobile = "13800138000",
        .province = "上海市", .city = nasty, .area = "闵行区", .street = nasty,
        .remark = nasty, .owner = "SKECHERS", .lines = lines, .n_lines = 2,
    };
    check_body(&req, &e);
    assert_null(strstr(req.body, "<请勿>"));
    assert_non_null(strstr(req.body, "&amp;amp;"));

    struct qparam p[MAX_PARAMS];
    char sig[33];
    size_t n = parse_query(req.url, ENDPOINT, p);
    qimen_sign(SECRET, p, n, req.body, req.body_len, sig);
    assert_string_equal(qvalue(p, n, "sign"), sig);
    ob_request_reset(&req);
    ob_order_free(po);
}

static void edit_optional(json_t *doc, const void *arg)
{
    (void)arg;
    assert_int_equal(json_object_del(doc, "remark"), 0);
    assert_int_equal(json_object_del(json_object_get(doc, "shipping_address"), "district"), 0);
    assert_int_equal(json_object_del(item(doc, 1), "name"), 0);
}

/* No remark: no <remark>; no district: <area/>; no item name: the SKU. */
static void test_encode_optional_fields(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_edit(edit_optional, NULL);
    struct ob_request req;

    encode(fx.hz, &po->order, &req);
    const struct expect_line lines[] = {
        {"SKE-12345-BLK-42", "D'LITES 复古老爹鞋 黑 42", "1", "539.00"},
        {"SKE-SOCK-3P", "SKE-SOCK-3P", "2", "49.00"},
    };
    const struct expect e = {
        .code = "SO20231111000123", .type = "JYCK", .warehouse = "QM-HZ-01",
        .create_time = "2023-11-11 00:00:03", .name = "张三", .mobile = "13800138000",
        .province = "上海市", .city = "上海市", .area = "", .street = "莘庄镇 春申路 1 号 2 单元 301",
        .remark = NULL, .owner = "SKECHERS", .lines = lines, .n_lines = 2,
    };
    check_body(&req, &e);
    assert_non_null(strstr(req.body, "<area/>"));
    assert_null(strstr(req.body, "remark"));
    ob_request_reset(&req);
    ob_order_free(po);
}

struct price_case {
    const char *unit, *discount; /* discount NULL: none */
    int qty;
    const char *actual; /* NULL: refused */
    const char *why;    /* when refused: a part of the reason */
};

static void edit_price(json_t *doc, const void *arg)
{
    const struct price_case *c = arg;
    json_t *it = item(doc, 0);
    assert_int_equal(json_object_set_new(it, "unit_price", json_string(c->unit)), 0);
    assert_int_equal(json_object_set_new(it, "quantity", json_integer(c->qty)), 0);
    if (c->discount)
        assert_int_equal(json_object_set_new(it, "discount", json_string(c->discount)), 0);
    else
        json_object_del(it, "discount");
}

/* actualPrice = (unit_price x quantity - line discount) / quantity, half up. */
static void test_encode_actual_price(void **state)
{
    (void)state;
    static const struct price_case cases[] = {
        {"599.00", "60.00", 1, "539.00", NULL},
        {"599.00", NULL, 1, "599.00", NULL},
        {"10.00", "0.01", 3, "10.00", NULL}, /* 29.99 / 3 = 9.9966... */
        {"10.00", "0.02", 3, "9.99", NULL},  /* 29.98 / 3 = 9.9933... */
        {"10.00", "0.05", 2, "9.98", NULL},  /* 19.95 / 2 = 9.975, half up */
        {"5", "10", 2, "0.00", NULL},        /* a free line */
        {"0.5", NULL, 7, "0.50", NULL},
        {"10.00", "20.01", 2, NULL, "discount"}, /* more discount than the line */
        /* Regression (issue 10): this order overflowed int64 in the
         * rounding and crashed a sanitized bridge on every restart. */
        {"0.01", "-92233720368547758.04", 3, NULL, "a negative discount"},
        {"-1.00", NULL, 1, NULL, "a negative unit_price"},
        {"92233720368547758.07", NULL, 2, NULL, "out of range"}, /* the product overflows */
        {"92233720368547758.07", NULL, 1, "92233720368547758.07", NULL},
        {"92233720368547758.07", "92233720368547758.07", 1, "0.00", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_parsed_order *po = example_edit(edit_price, &cases[i]);
        struct ob_request req;

        if (!cases[i].actual) {
            assert_int_equal(try_encode(fx.hz, &po->order, &req), -1);
            assert_contains(err, "items[0]");
            assert_contains(err, cases[i].why);
        } else {
            encode(fx.hz, &po->order, &req);
            char want[64];
            snprintf(want, sizeof want, "<actualPrice>%s</actualPrice>", cases[i].actual);
            assert_contains(req.body, want);
        }
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

static void edit_created_at(json_t *doc, const void *arg)
{
    set_path(doc, NULL, "created_at", json_string(arg));
}

/* createTime is created_at in the configured zone. */
static void test_encode_create_time(void **state)
{
    (void)state;
    static const struct {
        const char *created_at, *hz, *sg;
    } cases[] = {
        {"2023-11-10T16:00:03Z", "2023-11-11 00:00:03", "2023-11-10 16:00:03"},
        {"2023-11-10t16:00:03.999999z", "2023-11-11 00:00:03", "2023-11-10 16:00:03"},
        {"2023-11-11T00:00:03-05:00", "2023-11-11 13:00:03", "2023-11-11 05:00:03"},
        {"2024-02-29T23:59:59+05:30", "2024-03-01 02:29:59", "2024-02-29 18:29:59"},
        {"2023-12-31T20:00:00+00:00", "2024-01-01 04:00:00", "2023-12-31 20:00:00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_parsed_order *po = example_edit(edit_created_at, cases[i].created_at);
        struct ob_request req;
        char want[64];

        encode(fx.hz, &po->order, &req);
        snprintf(want, sizeof want, "<createTime>%s</createTime>", cases[i].hz);
        assert_contains(req.body, want);
        ob_request_reset(&req);
        encode(fx.sg, &po->order, &req);
        snprintf(want, sizeof want, "<createTime>%s</createTime>", cases[i].sg);
        assert_contains(req.body, want);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

static void edit_control(json_t *doc, const void *arg)
{
    (void)arg;
    assert_int_equal(json_object_set_new(item(doc, 1), "name", json_string("bad\x01name")), 0);
}

/* Text XML 1.0 cannot carry at all is refused, naming the field. */
static void test_encode_control_character(void **state)
{
    (void)state;
    struct ob_parsed_order *po = example_edit(edit_control, NULL);
    struct ob_request req;

    assert_int_equal(try_encode(fx.hz, &po->order, &req), -1);
    assert_contains(err, "items[1].name");
    ob_request_reset(&req);
    ob_order_free(po);
}

static void edit_event(json_t *doc, const void *arg)
{
    set_path(doc, NULL, "event", json_string(arg));
}

/* Only order.created is pushed; an update or a cancellation is refused
 * (the bridge dead-letters it) rather than sent as a create. */
static void test_encode_refuses_other_events(void **state)
{
    (void)state;
    static const char *const events[] = {"order.updated", "order.cancelled"};
    for (size_t i = 0; i < 2; i++) {
        struct ob_parsed_order *po = example_edit(edit_event, events[i]);
        struct ob_request req;
        char want[128];

        assert_int_equal(try_encode(fx.hz, &po->order, &req), -1);
        snprintf(want, sizeof want, "event %s is not supported by the qimen adapter yet",
                 events[i]);
        assert_string_equal(err, want);
        ob_request_reset(&req);
        ob_order_free(po);
    }
}

/* ------------------------------------------------------------------------ */
/* decode_response                                                           */

static struct ob_outcome decode_at(struct ob_adapter_instance *inst, long status,
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
    assert_true(strlen(out.reason) < sizeof out.reason);
    assert_null(strstr(out.reason, SECRET));
    return out;
}

static struct ob_outcome decode(long status, const char *body)
{
    return decode_at(fx.hz, status, body, NULL, 0);
}

#define FAILURE(code, msg)                                                                        \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>failure</flag><code>" code        \
    "</code><message>" msg "</message></response>"

static void test_decode_success(void **state)
{
    (void)state;
    struct ob_outcome o = decode(
        200, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<response>\n  <flag>success</flag>\n"
             "  <code>0</code>\n  <message>成功</message>\n"
             "  <deliveryOrderId> QM20231111000987 </deliveryOrderId>\n</response>\n");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "QM20231111000987");
    assert_string_equal(o.tracking_no, "");
    assert_string_equal(o.reason, "");

    /* no deliveryOrderId, no code: still accepted */
    o = decode(200, "<response><flag>SUCCESS</flag></response>");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "");

    /* a success with a non-zero code keeps it in the reason */
    o = decode(200, "<response><flag>success</flag><code>W01</code><message>已存在</message>"
                    "<deliveryOrderId>QM1</deliveryOrderId></response>");
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "QM1");
    assert_contains(o.reason, "W01");
}

/* A repeated deliveryOrderCode answers success with the same id: the
 * order already exists, ACCEPTED (also through a configured failure code). */
static void test_decode_duplicate(void **state)
{
    (void)state;
    const char *answer = "<response><flag>success</flag><code>0</code><message>单据已存在"
                         "</message><deliveryOrderId>QM77</deliveryOrderId></response>";
    struct ob_outcome first = decode(200, answer), again = decode(200, answer);
    assert_int_equal(first.kind, OB_OUTCOME_ACCEPTED);
    assert_int_equal(again.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(again.warehouse_order_id, "QM77");

    /* SG lists ORDER_EXISTS in duplicate_codes */
    struct ob_outcome o =
        decode_at(fx.sg, 200,
                  "<response><flag>failure</flag><code>ORDER_EXISTS</code><message>order "
                  "exists</message><deliveryOrderId>SG-5</deliveryOrderId></response>",
                  NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(o.warehouse_order_id, "SG-5");
    assert_contains(o.reason, "ORDER_EXISTS");
    /* HZ does not */
    o = decode(200, FAILURE("ORDER_EXISTS", "order exists"));
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
}

static void test_decode_permanent_codes(void **state)
{
    (void)state;
    static const struct {
        const char *body, *reason;
    } cases[] = {
        {FAILURE("sign-check-failure", "Illegal request"),
         "qimen sign-check-failure: Illegal request"},
        {FAILURE("invalid-parameter", "deliveryOrder.receiverInfo.mobile is required"),
         "qimen invalid-parameter: deliveryOrder.receiverInfo.mobile is required"},
        {FAILURE("isv.invalid-app-key", "Invalid app Key"),
         "qimen isv.invalid-app-key: Invalid app Key"},
        {FAILURE("ITEM_NOT_EXISTS", "商品 SKE-SOCK-3P 不存在 &amp; &lt;x&gt;"),
         "qimen ITEM_NOT_EXISTS: 商品 SKE-SOCK-3P 不存在 & <x>"},
        {"<response><flag>failure</flag></response>", "qimen (no code): "},
        {"<response><flag>Failure</flag><code>  E1 </code><message>\n m \n</message></response>",
         "qimen E1: m"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_outcome o = decode(200, cases[i].body);
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_string_equal(o.reason, cases[i].reason);
        assert_int_equal(o.retry_after_ms, 0);
    }
    /* SG replaced the retry codes: isp.* is permanent there */
    struct ob_outcome o =
        decode_at(fx.sg, 200, FAILURE("isp.top-remote-connection-timeout", "timeout"), NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);

    /* The reason is bounded, whatever the message. */
    char big[8192];
    int n = snprintf(big, sizeof big, "<response><flag>failure</flag><code>E</code><message>");
    memset(big + n, 'm', 6000);
    strcpy(big + n + 6000, "</message></response>");
    o = decode(200, big);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_true(strlen(o.reason) < 512);
}

static void test_decode_transient_codes(void **state)
{
    (void)state;
    struct ob_outcome o =
        decode(200, FAILURE("isp.top-remote-connection-timeout", "远程服务调用超时"));
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_string_equal(o.reason, "qimen isp.top-remote-connection-timeout: 远程服务调用超时");
    assert_int_equal(o.retry_after_ms, 0);

    struct ob_header h[] = {{.name = "Retry-After", .value = "4"}};
    o = decode_at(fx.hz, 200,
                  FAILURE("accesscontrol.limited-by-app-access-count", "App Call Limited"), h, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 4000);
    assert_contains(o.reason, "accesscontrol.limited-by-app-access-count");

    /* SG's own list: exact codes and a prefix */
    o = decode_at(fx.sg, 200, FAILURE("SYSTEM_BUSY", "busy"), NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    o = decode_at(fx.sg, 200, FAILURE("lock.order-locked", "locked"), NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    o = decode_at(fx.sg, 200, FAILURE("SYSTEM_BUSY_2", "busy"), NULL, 0);
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    /* HZ does not list SYSTEM_BUSY */
    o = decode(200, FAILURE("SYSTEM_BUSY", "busy"));
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
}

static void test_decode_http_transient(void **state)
{
    (void)state;
    static const long codes[] = {408, 429, 500, 502, 503, 504};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char want[16];
        struct ob_outcome o = decode(codes[i], "<html>busy</html>");
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "HTTP %ld", codes[i]);
        assert_string_equal(o.reason, want);
    }
    /* 5xx with a Qimen body: still RETRY, whatever the flag; the code is named */
    struct ob_outcome o = decode(502, FAILURE("sign-check-failure", "Illegal request"));
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_string_equal(o.reason, "HTTP 502: qimen sign-check-failure: Illegal request");
    o = decode(503, "<response><flag>success</flag><deliveryOrderId>X</deliveryOrderId></response>");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_string_equal(o.warehouse_order_id, "");
}

static void test_decode_retry_after(void **state)
{
    (void)state;
    struct ob_header h[] = {{.name = "retry-after", .value = "3"}};
    struct ob_outcome o = decode_at(fx.hz, 429, "", h, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 3000);
    assert_string_equal(o.reason, "HTTP 429");

    h[0].value = "120";
    o = decode_at(fx.hz, 503, "<html/>", h, 1);
    assert_int_equal(o.retry_after_ms, 120000);

    char date[64];
    time_t when = time(NULL) + 120;
    struct tm tm;
    gmtime_r(&when, &tm);
    assert_true(strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) > 0);
    h[0].value = date;
    o = decode_at(fx.hz, 429, "", h, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_in_range(o.retry_after_ms, 118000, 120000);

    h[0].value = "soon";
    o = decode_at(fx.hz, 429, "", h, 1);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_int_equal(o.retry_after_ms, 0);
}

static void test_decode_http_permanent(void **state)
{
    (void)state;
    static const long codes[] = {400, 401, 403, 404, 405, 409, 413, 422};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char want[64];
        struct ob_outcome o = decode(codes[i], "nope");
        assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
        assert_int_equal(o.retry_after_ms, 0);
        snprintf(want, sizeof want, "HTTP %ld: nope", codes[i]);
        assert_string_equal(o.reason, want);
    }
    /* a 4xx carrying a Qimen answer names its code, even a success flag */
    struct ob_outcome o = decode(400, FAILURE("invalid-parameter", "bad xml"));
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    assert_string_equal(o.reason, "HTTP 400: qimen invalid-parameter: bad xml");
    o = decode(403, "<response><flag>success</flag></response>");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    /* 3xx: redirects are not followed */
    o = decode(302, "");
    assert_int_equal(o.kind, OB_OUTCOME_PERMANENT);
    /* a binary body is quoted without control bytes, bounded */
    o = decode(400, "a\x01\nb");
    assert_string_equal(o.reason, "HTTP 400: a..b");
}

/* A 2xx that is not a Qimen answer: RETRY (the order may or may not exist;
 * a retry is safe because the warehouse answers a repeat with success). */
static void test_decode_malformed(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "",
        "OK",
        "{\"flag\":\"success\"}",
        "<html><body>502 Bad Gateway</body></html>",
        "<response><flag>success</flag>", /* cut */
        "<response><code>0</code><deliveryOrderId>X</deliveryOrderId></response>", /* no flag */
        "<response><flag>maybe</flag></response>",
        "<request><flag>success</flag></request>",
        "<response><result><flag>success</flag></result></response>", /* nested only */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ob_outcome o = decode(200, bodies[i]);
        assert_int_equal(o.kind, OB_OUTCOME_RETRY);
        assert_string_equal(o.warehouse_order_id, "");
        assert_contains(o.reason, "not a qimen <response>");
    }
    struct ob_outcome o = decode(200, NULL);
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);

    /* An answer with a DTD is not read at all (issue 10): no external
     * entity is fetched, no internal one expanded. */
    o = decode(200, "<?xml version=\"1.0\"?><!DOCTYPE response [<!ENTITY x SYSTEM "
                    "\"file:///etc/passwd\">]><response><flag>failure</flag><code>&x;</code>"
                    "<message>m</message></response>");
    assert_int_equal(o.kind, OB_OUTCOME_RETRY);
    assert_contains(o.reason, "not a qimen <response> with flag success|failure, XML refused: "
                              "a DTD or entity declaration is refused");
    assert_null(strstr(o.reason, "root:"));
}

static void test_decode_no_answer(void **state)
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

/* ------------------------------------------------------------------------ */
/* init                                                                      */

static const char *open_fails(const char *wh_body)
{
    char text[4096];
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'W9':{'adapter':'qimen','endpoint':'https://w9.example',%s}}}",
             OB_BUILD_DIR, wh_body);
    const char *json = J(text);
    if (ob_config_parse(json, strlen(json), NULL, &cfg, err, sizeof err) != 0) {
        print_error("config: %s\n", err);
        fail();
    }
    err[0] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    ob_config_destroy(cfg);
    assert_int_equal(strncmp(err, "$.warehouses.W9: adapter qimen: ", 32), 0);
    assert_null(strstr(err, SECRET));
    return err;
}

#define CREDS "'credentials':{'app_key':'env:" APP_KEY_ENV "','secret':'env:" SECRET_ENV "'}"
#define GOOD "'customer_id':'c1','owner_code':'o1'"

static void test_init_credentials(void **state)
{
    (void)state;
    assert_contains(open_fails("'settings':{" GOOD "}"), "credentials.app_key is required");
    assert_contains(open_fails("'credentials':{'app_key':'env:" APP_KEY_ENV "'},"
                               "'settings':{" GOOD "}"),
                    "credentials.secret is required");
    assert_contains(open_fails("'credentials':{'secret':'env:" SECRET_ENV "'},"
                               "'settings':{" GOOD "}"),
                    "credentials.app_key is required");
}

static void test_init_settings(void **state)
{
    (void)state;
    static const struct {
        const char *settings, *message;
    } cases[] = {
        {"", "settings.customer_id: required"},
        {"'owner_code':'o1'", "settings.customer_id: required"},
        {"'customer_id':'c1'", "settings.owner_code: required"},
        {"'customer_id':7,'owner_code':'o1'", "settings.customer_id: must be a non-empty string"},
        {"'customer_id':'','owner_code':'o1'", "settings.customer_id: must be a non-empty string"},
        {GOOD ",'warehouse_code':null", "settings.warehouse_code: must be a non-empty string"},
        {GOOD ",'order_type':['JYCK']", "settings.order_type: must be a non-empty string"},
        {GOOD ",'time_zone':'Europe/Paris'", "settings.time_zone: \"Europe/Paris\" is not a known zone"},
        {GOOD ",'time_zone':'+8'", "settings.time_zone: \"+8\" is not a known zone"},
        {GOOD ",'retry_codes':'isp.*'", "settings.retry_codes: must be an array of strings"},
        {GOOD ",'retry_codes':['a',2]", "settings.retry_codes[1]: must be a non-empty string"},
        {GOOD ",'duplicate_codes':['']", "settings.duplicate_codes[0]: must be a non-empty string"},
        {GOOD ",'colour':'blue'", "settings.colour: unknown setting (known: customer_id"},
        {GOOD ",'sign_method':'hmac'", "settings.sign_method: unknown setting"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[1024];
        snprintf(body, sizeof body, CREDS ",'settings':{%s}", cases[i].settings);
        assert_contains(open_fails(body), cases[i].message);
    }
    /* no settings at all */
    assert_contains(open_fails(CREDS), "settings.customer_id: required");
}

struct fake_host {
    const char *app_key, *secret;
};

static const char *fake_credential(const struct ob_adapter_env *env, const char *name)
{
    const struct fake_host *h = env->host;
    return strcmp(name, "app_key") == 0 ? h->app_key : strcmp(name, "secret") == 0 ? h->secret
                                                                                    : NULL;
}

/* What the config checker never lets through, the adapter refuses anyway:
 * empty credentials and an endpoint with a query (it would go unsigned). */
static void test_init_direct(void **state)
{
    (void)state;
    struct fake_host host = {.app_key = "k", .secret = ""};
    struct ob_adapter_env env = {
        .abi = OB_ADAPTER_ABI,
        .size = sizeof env,
        .warehouse = "W9",
        .endpoint = "https://w9.example/router",
        .credential = fake_credential,
        .host = &host,
    };
    json_t *settings = json_pack("{s:s, s:s}", "customer_id", "c", "owner_code", "o");
    void *st = NULL;

    err[0] = '\0';
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.secret");
    host.secret = "s";
    host.app_key = "";
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), -1);
    assert_contains(err, "credentials.app_key");
    host.app_key = "k";
    env.endpoint = "https://w9.example/router?x=1";
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), -1);
    assert_contains(err, "endpoint: must not contain a query");
    env.endpoint = "https://w9.example/router";
    json_t *array = json_array();
    assert_int_equal(fx.hz->plugin.vt.init(&env, array, &st, err, sizeof err), -1);
    assert_contains(err, "settings: must be an object");
    json_decref(array);
    assert_int_equal(fx.hz->plugin.vt.init(&env, settings, &st, err, sizeof err), 0);
    assert_non_null(st);
    fx.hz->plugin.vt.destroy(st);
    json_decref(settings);
}

/* ------------------------------------------------------------------------ */
/* against the simulator's qimen profile, over HTTP                          */

struct http_reply {
    long status;
    char body[8192];
    size_t len;
    char headers[4096];
    size_t hlen;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct http_reply *r = ud;
    size_t len = sz * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct http_reply *r = ud;
    size_t len = sz * n, room = sizeof(r->headers) - 1 - r->hlen;
    memcpy(r->headers + r->hlen, p, len < room ? len : room);
    r->hlen += len < room ? len : room;
    r->headers[r->hlen] = '\0';
    return len;
}

/* Sends `req` as the bridge would (method, URL, headers, body). */
static void send_request(const struct ob_request *req, struct http_reply *r)
{
    CURL *e = curl_easy_init();
    struct curl_slist *hdrs = NULL;

    assert_non_null(e);
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < req->n_headers; i++) {
        char line[1024];
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode rc = curl_easy_perform(e);
    if (rc != CURLE_OK) {
        print_error("curl: %s\n", curl_easy_strerror(rc));
        fail();
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
}

/* The adapter's verdict on the simulator's answer. */
static struct ob_outcome verdict(struct ob_adapter_instance *inst, const struct http_reply *r)
{
    struct ob_response resp = {.status = r->status, .body = r->body, .body_len = r->len};
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    inst->plugin.vt.decode_response(inst->state, &fx.example->order, &delivery, &resp, &out);
    return out;
}

/* An instance of the adapter pointed at the simulator. */
static struct ob_adapter_instance *open_at(unsigned short port, struct ob_config **cfg)
{
    char text[4096];
    struct ob_adapter_instance *inst = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},'adapter_path':['%s/adapters'],"
             "'warehouses':{'QM-SIM':{'adapter':'qimen',"
             "'endpoint':'http://127.0.0.1:%u/router/qimen/service'," CREDS ","
             "'settings':{'customer_id':'c1702345678','owner_code':'SKECHERS'}}}}",
             OB_BUILD_DIR, port);
    const char *json = J(text);
    assert_int_equal(ob_config_parse(json, strlen(json), NULL, cfg, err, sizeof err), 0);
    if (ob_adapter_open(*cfg, &(*cfg)->warehouses[0], &inst, err, sizeof err) != 0) {
        print_error("adapter: %s\n", err);
        fail();
    }
    return inst;
}

static struct ob_sim *start_sim_with(const struct ob_sim_secret *secrets)
{
    struct ob_sim_options o = {.profile = "qimen", .secrets = secrets};
    char e[256];
    struct ob_sim *sim = ob_sim_start(&o, e, sizeof e);
    if (!sim) {
        print_error("ob_sim_start: %s\n", e);
        fail();
    }
    return sim;
}

static const struct ob_sim_secret sim_secrets[] = {
    {"app_key", APP_KEY},
    {"secret", SECRET},
    {NULL, NULL},
};

static void replace_sign(struct ob_request *req, const char *sign)
{
    char *p = strstr(req->url, "&sign=");
    assert_non_null(p);
    assert_int_equal(strlen(p + 6), 32);
    assert_int_equal(strlen(sign), 32);
    memcpy(p + 6, sign, 32);
}

static void test_sim_round_trip(void **state)
{
    (void)state;
    struct ob_sim *sim = start_sim_with(sim_secrets);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = open_at(ob_sim_port(sim), &cfg);
    struct ob_request req;
    struct http_reply r;
    struct ob_sim_stats st;

    /* first push: created */
    encode(inst, &fx.example->order, &req);
    send_request(&req, &r);
    ob_request_reset(&req);
    assert_int_equal(r.status, 200);
    assert_contains(r.headers, "xml");
    struct ob_outcome first = verdict(inst, &r);
    if (first.kind != OB_OUTCOME_ACCEPTED)
        print_error("first: %s\n", r.body);
    assert_int_equal(first.kind, OB_OUTCOME_ACCEPTED);
    assert_true(strlen(first.warehouse_order_id) > 0);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    /* a redelivery (new timestamp and sign, same body): success, same id */
    encode(inst, &fx.example->order, &req);
    send_request(&req, &r);
    ob_request_reset(&req);
    struct ob_outcome again = verdict(inst, &r);
    assert_int_equal(again.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(again.warehouse_order_id, first.warehouse_order_id);
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 1);

    /* a tampered sign: refused by the sim, PERMANENT for the adapter */
    encode(inst, &fx.example->order, &req);
    replace_sign(&req, "0123456789ABCDEF0123456789ABCDEF");
    send_request(&req, &r);
    struct ob_outcome bad = verdict(inst, &r);
    assert_int_equal(bad.kind, OB_OUTCOME_PERMANENT);
    assert_contains(bad.reason, "sign-check-failure");
    ob_request_reset(&req);

    /* a body changed after signing (same length): refused the same way */
    encode(inst, &fx.example->order, &req);
    char *mobile = strstr(req.body, "13800138000");
    assert_non_null(mobile);
    mobile[10] = '1';
    send_request(&req, &r);
    ob_request_reset(&req);
    bad = verdict(inst, &r);
    assert_int_equal(bad.kind, OB_OUTCOME_PERMANENT);
    assert_contains(bad.reason, "sign-check-failure");

    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.created, 1);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(st.bad_signatures, 2);
    assert_int_equal(st.key_mismatches, 0);

    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

/* The sim checks the recipe as the warehouse would: the official vector's
 * sign is right (so the answer is about the body, not the sign); a body
 * changed after signing, or a wrong secret, is a bad signature. */
static void test_sim_checks(void **state)
{
    (void)state;
    static const struct ob_sim_secret vector_secrets[] = {
        {"app_key", "testerp_appkey"},
        {"secret", "test"},
        {NULL, NULL},
    };
    char url[512];
    struct ob_sim *sim = start_sim_with(vector_secrets);
    struct http_reply r;
    struct ob_sim_stats st;
    static char body[] =
        "<request><deliveryOrder><deliveryOrderCode>X1</deliveryOrderCode></deliveryOrder>"
        "</request>";

    snprintf(url, sizeof url,
             "http://127.0.0.1:%u/router/qimen/service?method=taobao.qimen.deliveryorder.create"
             "&timestamp=2015-04-26%%2000%%3A00%%3A07&format=xml&app_key=testerp_appkey&v=2.0"
             "&sign_method=md5&customerId=stub-cust-code&sign=F040FCBBEADFF162EA428B96E353EC83",
             ob_sim_port(sim));
    struct ob_request req = {.method = "POST", .url = url, .body = body,
                             .body_len = strlen(body)};
    send_request(&req, &r);
    struct ob_outcome out = verdict(fx.hz, &r);
    assert_int_equal(out.kind, OB_OUTCOME_PERMANENT);
    assert_contains(out.reason, "invalid-parameter"); /* the sign passed, the body is short */
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 0);
    assert_int_equal(st.bad_requests, 1);
    assert_int_equal(st.created, 0);

    /* the same sign over another body */
    body[strlen("<request><deliveryOrder><deliveryOrderCode>X")] = '2';
    send_request(&req, &r);
    out = verdict(fx.hz, &r);
    assert_int_equal(out.kind, OB_OUTCOME_PERMANENT);
    assert_contains(out.reason, "sign-check-failure");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.bad_signatures, 1);
    ob_sim_stop(sim);

    /* the adapter's request under another secret */
    struct ob_sim_secret other[] = {{"app_key", APP_KEY}, {"secret", "not-the-secret"}, {NULL, NULL}};
    sim = start_sim_with(other);
    struct ob_config *cfg = NULL;
    struct ob_adapter_instance *inst = open_at(ob_sim_port(sim), &cfg);
    struct ob_request mine;
    encode(inst, &fx.example->order, &mine);
    send_request(&mine, &r);
    ob_request_reset(&mine);
    out = verdict(inst, &r);
    assert_int_equal(out.kind, OB_OUTCOME_PERMANENT);
    assert_contains(out.reason, "sign-check-failure");
    assert_int_equal(ob_sim_created(sim, "SO20231111000123"), 0);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);

    /* another app_key: refused before the sign, PERMANENT too */
    struct ob_sim_secret other_key[] = {{"app_key", "99999999"}, {"secret", SECRET}, {NULL, NULL}};
    sim = start_sim_with(other_key);
    inst = open_at(ob_sim_port(sim), &cfg);
    encode(inst, &fx.example->order, &mine);
    send_request(&mine, &r);
    ob_request_reset(&mine);
    out = verdict(inst, &r);
    assert_int_equal(out.kind, OB_OUTCOME_PERMANENT);
    assert_string_equal(out.reason, "qimen isv.invalid-app-key: Invalid app Key");
    ob_sim_get_stats(sim, &st);
    assert_int_equal(st.unauthorized, 1);
    assert_int_equal(st.created, 0);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
    ob_sim_stop(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vectors),
        cmocka_unit_test(test_encode_request),
        cmocka_unit_test(test_encode_body),
        cmocka_unit_test(test_encode_body_is_stable),
        cmocka_unit_test(test_encode_special_characters),
        cmocka_unit_test(test_encode_optional_fields),
        cmocka_unit_test(test_encode_actual_price),
        cmocka_unit_test(test_encode_create_time),
        cmocka_unit_test(test_encode_control_character),
        cmocka_unit_test(test_encode_refuses_other_events),
        cmocka_unit_test(test_decode_success),
        cmocka_unit_test(test_decode_duplicate),
        cmocka_unit_test(test_decode_permanent_codes),
        cmocka_unit_test(test_decode_transient_codes),
        cmocka_unit_test(test_decode_http_transient),
        cmocka_unit_test(test_decode_retry_after),
        cmocka_unit_test(test_decode_http_permanent),
        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_no_answer),
        cmocka_unit_test(test_init_credentials),
        cmocka_unit_test(test_init_settings),
        cmocka_unit_test(test_init_direct),
        cmocka_unit_test(test_sim_round_trip),
        cmocka_unit_test(test_sim_checks),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
