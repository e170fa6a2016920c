/*
 * profile_qimen.c — the simulator as a Qimen (奇门) WMS endpoint:
 * taobao.qimen.deliveryorder.create, as adapters/qimen sends it.
 *
 * POST <any path>?method=taobao.qimen.deliveryorder.create&timestamp=...
 *      &format=xml&app_key=...&v=2.0&sign_method=md5&customerId=...&sign=...
 * with an XML body <request><deliveryOrder>...</deliveryOrder><orderLines>
 * ...</orderLines></request>. Every answer is HTTP 200 with
 * <response><flag>success|failure</flag><code/><message/>
 * [<deliveryOrderId/>]</response>, in this order of checks:
 *
 *   1. a required URL parameter missing or repeated:   invalid-parameter      bad_requests
 *   2. app_key (or customerId) not the configured one:  isv.invalid-app-key /
 *                                                       isv.invalid-customer-id unauthorized
 *   3. sign_method not md5:                             invalid-parameter      bad_requests
 *   4. sign != UPPER(hex(MD5(secret + sorted k+v (all but sign, decoded) + body + secret))):
 *                                                       sign-check-failure     bad_signatures
 *   5. method, format, v or the timestamp's shape wrong: invalid-method /
 *                                                       invalid-parameter      bad_requests
 *   6. body not XML, or a required element missing or malformed:
 *                                                       invalid-parameter      bad_requests
 *   7. deliveryOrderCode seen before: success, the same deliveryOrderId
 *                                                       duplicates (+ key_mismatches when
 *                                                       the body differs from the first)
 *   8. new: success, deliveryOrderId QM<ob_sim_next_id> created
 *
 * Secrets (ob_sim_options.secrets): "secret" (no secret: the sign is not
 * checked), "app_key" and "customer_id" (each checked only when given).
 * Other methods than POST get 405 before the body is read. The timestamp is
 * checked for its shape only: the sim does not know the client's zone.
 *
 * Status reports (callbacks), signed with the same recipe as above:
 * POST <callback_url>?method=...&app_key=&customerId=&format=xml
 * &sign_method=md5&timestamp=<yyyy-MM-dd HH:mm:ss, Asia/Shanghai>&v=2.0&sign=
 * (app_key and customerId from the secrets, "" when not set; no "secret":
 * signed with ""). ACCEPT, PRINT, PICK, CHECK, PACKAGE (and EXCEPTION) go
 * as taobao.qimen.orderprocess.report, the shipment as
 * taobao.qimen.deliveryorder.confirm with status DELIVERED. Success is HTTP
 * 200 with <response><flag>success</flag>...; anything else is a failure.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <microhttpd.h>

#include <orderbridge/sdk.h>

#include "sim.h"

#define CONTENT_TYPE "text/xml;charset=utf-8"
#define API_METHOD "taobao.qimen.deliveryorder.create"
#define REPORT_METHOD "taobao.qimen.orderprocess.report"
#define CONFIRM_METHOD "taobao.qimen.deliveryorder.confirm"
#define TIME_ZONE "Asia/Shanghai"
#define TIME_PATTERN "yyyy-MM-dd HH:mm:ss"
#define MAX_PARAMS 32

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init(void)
{
    xmlInitParser();
}

/* ------------------------------------------------------------------------ */
/* answers                                                                   */

/* <response> with the given fields (escaped by the SDK's writer). */
static void answer(struct ob_sim_reply *reply, const char *flag, const char *code,
                   const char *message, const char *id)
{
    struct ob_xml *x = ob_xml_new();
    struct ob_buf b;
    size_t len;

    ob_buf_init(&b, 64 * 1024);
    reply->status = 200;
    reply->content_type = CONTENT_TYPE;
    if (x && ob_xml_start(x, "response") == 0 && ob_xml_element(x, "flag", flag) == 0 &&
        ob_xml_element(x, "code", code) == 0 && ob_xml_element(x, "message", message) == 0 &&
        (!id || ob_xml_element(x, "deliveryOrderId", id) == 0) && ob_xml_finish(x, 1, &b) == 0)
        reply->body = ob_buf_steal(&b, &len);
    ob_buf_reset(&b);
    ob_xml_free(x);
    if (!reply->body) {
        reply->status = 500;
        reply->body = strdup("<response><flag>failure</flag><code>isp.unknown-error</code>"
                             "<message>out of memory</message></response>");
    }
}

static void failure(struct ob_sim *sim, enum ob_sim_counter counter, struct ob_sim_reply *reply,
                    const char *code, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void failure(struct ob_sim *sim, enum ob_sim_counter counter, struct ob_sim_reply *reply,
                    const char *code, const char *fmt, ...)
{
    char message[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    ob_sim_count(sim, counter);
    answer(reply, "failure", code, message, NULL);
}

/* ------------------------------------------------------------------------ */
/* the query                                                                 */

/* One query component, decoded as servlet containers read a query: '+' is
 * a space, then %XX (MHD decodes). NULL on an embedded NUL. */
static char *url_decode(const char *s, size_t len)
{
    char *out = strndup(s, len);

    if (!out)
        return NULL;
    for (char *c = out; *c; c++)
        if (*c == '+')
            *c = ' ';
    if (MHD_http_unescape(out) != strlen(out)) {
        free(out);
        return NULL;
    }
    return out;
}

/* The query into `p` (decoded); -1 with a message on a malformed query or
 * a repeated key. */
static int parse_query(const char *query, struct ob_params *p, char *msg, size_t msg_size)
{
    const char *s = query ? query : "";

    while (*s) {
        size_t len = strcspn(s, "&");
        const char *eq = memchr(s, '=', len);
        char *k, *v;

        if (len > 0) {
            if (!eq) {
                snprintf(msg, msg_size, "malformed query near \"%.32s\"", s);
                return -1;
            }
            k = url_decode(s, (size_t)(eq - s));
            v = url_decode(eq + 1, len - (size_t)(eq - s) - 1);
            if (!k || !v || p->n >= MAX_PARAMS) {
                snprintf(msg, msg_size, "malformed query near \"%.32s\"", s);
                free(k);
                free(v);
                return -1;
            }
            for (size_t i = 0; i < p->n; i++) {
                if (strcmp(p->items[i].key, k) == 0) {
                    snprintf(msg, msg_size, "parameter %.64s is repeated", k);
                    free(k);
                    free(v);
                    return -1;
                }
            }
            if (ob_params_add(p, k, v) != 0) {
                snprintf(msg, msg_size, "out of memory");
                free(k);
                free(v);
                return -1;
            }
            free(k);
            free(v);
        }
        s += len + (s[len] == '&');
    }
    return 0;
}

static const char *param(const struct ob_params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].key, key) == 0)
            return p->items[i].value;
    return NULL;
}

/* "yyyy-MM-dd HH:mm:ss" by shape. */
static int time_shape(const char *s)
{
    static const char shape[] = "dddd-dd-dd dd:dd:dd";

    if (!s || strlen(s) != sizeof(shape) - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return 0;
    return 1;
}

/* UPPER(hex(MD5(secret + sorted k+v (all but sign) + body + secret))) into
 * hex[2 * OB_DIGEST_MAX + 1]; sorts p. 0, or -1. */
static int make_sign(const char *secret, struct ob_params *p, const char *body, size_t body_len,
                     char *hex)
{
    struct ob_buf b;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_params_sort(p);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    if (ob_buf_appends(&b, secret) == 0 && ob_params_concat(p, "", "", "sign", &b) == 0 &&
        ob_buf_append(&b, body, body_len) == 0 && ob_buf_appends(&b, secret) == 0 &&
        ob_digest(OB_MD5, b.data, b.len, md, &md_len) == 0) {
        ob_hex_upper(md, md_len, hex);
        rc = 0;
    }
    ob_buf_cleanse(&b);
    return rc;
}

/* 1 when the sign matches. */
static int sign_ok(const char *secret, struct ob_params *p, const char *body, size_t body_len,
                   const char *sign)
{
    char hex[2 * OB_DIGEST_MAX + 1];

    return make_sign(secret, p, body, body_len, hex) == 0 && strcmp(hex, sign) == 0;
}

/* ------------------------------------------------------------------------ */
/* the body                                                                  */

static xmlNode *child(xmlNode *parent, const char *name)
{
    for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

/* The text of parent/name into out; 0 when present and non-empty. */
static int text_of(xmlNode *parent, const char *name, char *out, size_t size)
{
    xmlNode *n = child(parent, name);
    xmlChar *t;
    int rc = -1;

    out[0] = '\0';
    if (!n)
        return -1;
    t = xmlNodeGetContent(n);
    if (t && t[0]) {
        snprintf(out, size, "%s", (const char *)t);
        rc = 0;
    }
    xmlFree(t);
    return rc;
}

/* Checks the required elements; 0, or -1 with the missing path in msg.
 * The deliveryOrderCode goes into code, the warehouseCode into wh. */
static int check_body(xmlDoc *doc, char *code, size_t code_size, char *wh, size_t wh_size,
                      char *msg, size_t msg_size)
{
    static const char *const order_fields[] = {"deliveryOrderCode", "orderType", "warehouseCode",
                                               "createTime"};
    static const char *const receiver_fields[] = {"name", "mobile", "province", "city",
                                                  "detailAddress"};
    static const char *const line_fields[] = {"ownerCode", "itemCode", "planQty", "actualPrice"};
    xmlNode *root = xmlDocGetRootElement(doc), *order, *receiver, *lines;
    char text[1024];
    size_t n_lines = 0;

    if (!root || strcmp((const char *)root->name, "request") != 0) {
        snprintf(msg, msg_size, "the body's root element must be <request>");
        return -1;
    }
    if (!(order = child(root, "deliveryOrder"))) {
        snprintf(msg, msg_size, "deliveryOrder is required");
        return -1;
    }
    for (size_t i = 0; i < sizeof(order_fields) / sizeof(order_fields[0]); i++) {
        if (text_of(order, order_fields[i], text, sizeof(text)) != 0) {
            snprintf(msg, msg_size, "deliveryOrder.%s is required", order_fields[i]);
            return -1;
        }
        if (i == 0)
            snprintf(code, code_size, "%s", text);
        if (i == 2)
            snprintf(wh, wh_size, "%s", text);
        if (i == 3 && !time_shape(text)) {
            snprintf(msg, msg_size, "deliveryOrder.createTime must be yyyy-MM-dd HH:mm:ss");
            return -1;
        }
    }
    if (!(receiver = child(order, "receiverInfo"))) {
        snprintf(msg, msg_size, "deliveryOrder.receiverInfo is required");
        return -1;
    }
    for (size_t i = 0; i < sizeof(receiver_fields) / sizeof(receiver_fields[0]); i++) {
        if (text_of(receiver, receiver_fields[i], text, sizeof(text)) != 0) {
            snprintf(msg, msg_size, "deliveryOrder.receiverInfo.%s is required",
                     receiver_fields[i]);
            return -1;
        }
    }
    if (!(lines = child(root, "orderLines"))) {
        snprintf(msg, msg_size, "orderLines is required");
        return -1;
    }
    for (xmlNode *l = lines->children; l; l = l->next) {
        if (l->type != XML_ELEMENT_NODE || strcmp((const char *)l->name, "orderLine") != 0)
            continue;
        for (size_t i = 0; i < sizeof(line_fields) / sizeof(line_fields[0]); i++) {
            if (text_of(l, line_fields[i], text, sizeof(text)) != 0) {
                snprintf(msg, msg_size, "orderLines.orderLine[%zu].%s is required", n_lines,
                         line_fields[i]);
                return -1;
            }
            if (i == 2) {
                char *end;
                long q = strtol(text, &end, 10);
                if (*end || q < 1 || text[0] < '0' || text[0] > '9') {
                    snprintf(msg, msg_size,
                             "orderLines.orderLine[%zu].planQty must be a positive integer",
                             n_lines);
                    return -1;
                }
            }
            if (i == 3) {
                int64_t minor;
                if (ob_money_parse(text, &minor) != 0 || minor < 0) {
                    snprintf(msg, msg_size,
                             "orderLines.orderLine[%zu].actualPrice must be a decimal >= 0",
                             n_lines);
                    return -1;
                }
            }
        }
        n_lines++;
    }
    if (n_lines == 0) {
        snprintf(msg, msg_size, "orderLines.orderLine is required");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */

static int screen(struct ob_sim *sim, const struct ob_sim_request *req,
                  struct ob_sim_reply *reply)
{
    (void)sim;
    if (strcmp(req->method, "POST") == 0)
        return 0;
    answer(reply, "failure", "invalid-method", "only POST is accepted", NULL);
    reply->status = 405;
    return 1;
}

static void handle(struct ob_sim *sim, const struct ob_sim_request *req,
                   struct ob_sim_reply *reply)
{
    static const char *const required[] = {"method", "timestamp", "format",     "app_key",
                                           "v",      "sign_method", "customerId", "sign"};
    const char *secret = ob_sim_secret(sim, "secret");
    const char *want_app_key = ob_sim_secret(sim, "app_key");
    const char *want_customer = ob_sim_secret(sim, "customer_id");
    struct ob_params p = {0};
    char msg[512], code[1024], wh[1024], id[64], value[192], existing[192], digest[65];
    xmlDoc *doc = NULL;
    const char *v;

    pthread_once(&xml_once, xml_init);

    /* 1. the URL parameters */
    if (parse_query(req->query, &p, msg, sizeof(msg)) != 0) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter", "%s", msg);
        goto out;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        v = param(&p, required[i]);
        if (!v || !*v) {
            failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter",
                    "missing parameter %s", required[i]);
            goto out;
        }
    }
    /* 2. who calls */
    if (want_app_key && *want_app_key && strcmp(param(&p, "app_key"), want_app_key) != 0) {
        failure(sim, OB_SIM_UNAUTHORIZED, reply, "isv.invalid-app-key", "Invalid app Key");
        goto out;
    }
    if (want_customer && *want_customer && strcmp(param(&p, "customerId"), want_customer) != 0) {
        failure(sim, OB_SIM_UNAUTHORIZED, reply, "isv.invalid-customer-id",
                "customerId is not routed to this warehouse");
        goto out;
    }
    /* 3, 4. the sign, over the bytes received */
    if (strcmp(param(&p, "sign_method"), "md5") != 0) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter",
                "sign_method must be md5");
        goto out;
    }
    if (secret && *secret) {
        char sign[65];
        snprintf(sign, sizeof(sign), "%s", param(&p, "sign"));
        if (!sign_ok(secret, &p, req->body, req->body_len, sign)) {
            failure(sim, OB_SIM_BAD_SIGNATURE, reply, "sign-check-failure", "Illegal request");
            goto out;
        }
    }
    /* 5. the call */
    if (strcmp(param(&p, "method"), API_METHOD) != 0) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-method",
                "method %.64s is not served here", param(&p, "method"));
        goto out;
    }
    if (strcmp(param(&p, "format"), "xml") != 0 || strcmp(param(&p, "v"), "2.0") != 0) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter",
                "format must be xml and v 2.0");
        goto out;
    }
    if (!time_shape(param(&p, "timestamp"))) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter",
                "timestamp must be yyyy-MM-dd HH:mm:ss");
        goto out;
    }
    /* 6. the body */
    if (req->body_len == 0 || req->body_len > 1 << 20 ||
        !(doc = xmlReadMemory(req->body, (int)req->body_len, NULL, "UTF-8",
                              XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING))) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter", "the body is not XML");
        goto out;
    }
    if (check_body(doc, code, sizeof(code), wh, sizeof(wh), msg, sizeof(msg)) != 0) {
        failure(sim, OB_SIM_BAD_REQUEST, reply, "invalid-parameter", "%s", msg);
        goto out;
    }
    /* 7, 8. dedupe by deliveryOrderCode; the body's digest tells a
     * redelivery of the same order from another order with the same code */
    if (ob_sha256_hex(req->body, req->body_len, digest) != 0) {
        reply->status = 500;
        goto out;
    }
    snprintf(id, sizeof(id), "QM%lu", ob_sim_next_id(sim));
    snprintf(value, sizeof(value), "%s %s", id, digest);
    switch (ob_sim_remember(sim, code, value, existing, sizeof(existing))) {
    case 1:
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1;
        ob_sim_order_created(sim, code, id, wh);
        answer(reply, "success", "0", "success", id);
        break;
    case 0: {
        char *space = strchr(existing, ' ');
        if (space) {
            *space = '\0';
            if (strcmp(space + 1, digest) != 0)
                ob_sim_count(sim, OB_SIM_KEY_MISMATCH);
        }
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        answer(reply, "success", "0", "order already exists", existing);
        break;
    }
    default:
        answer(reply, "failure", "isp.capacity-exceeded", "capacity exceeded", NULL);
        reply->status = 507;
        break;
    }
out:
    xmlFreeDoc(doc);
    ob_params_free(&p);
}

/* ------------------------------------------------------------------------ */
/* status reports                                                            */

static const struct ob_sim_status qimen_steps[] = {
    {"ACCEPT", "仓库接单"},
    {"PRINT", "打印面单"},
    {"PICK", "拣货完成"},
    {"CHECK", "复核完成"},
    {"PACKAGE", "打包完成"},
    {"DELIVERED", "已发货"}, /* sent as deliveryorder.confirm */
};

static const struct ob_sim_ladder qimen_ladder = {
    .steps = qimen_steps,
    .n_steps = sizeof(qimen_steps) / sizeof(qimen_steps[0]),
    .exception = {"EXCEPTION", "库存不足，等待补货"},
    .exception_after = 2, /* after PICK */
    .swap_at = 4,         /* PACKAGE <-> DELIVERED */
    .max_batch = 1,
    .cancel = {"CANCELED", "买家取消订单"},
    .cancel_after = 0, /* after ACCEPT */
};

static int report_body(const struct ob_sim_cb_item *it, const char *when, struct ob_buf *out)
{
    const char *code = it->status->code;
    struct ob_xml *x = ob_xml_new();
    int is_exception = it->status == &qimen_ladder.exception;
    int rc = -1;

    if (!x)
        return -1;
    if (strcmp(code, "DELIVERED") == 0) {
        char express[32];
        snprintf(express, sizeof(express), "SF1%012llu",
                 strtoull(it->warehouse_id + strcspn(it->warehouse_id, "0123456789"), NULL, 10));
        if (ob_xml_start(x, "request") == 0 && ob_xml_start(x, "deliveryOrder") == 0 &&
            ob_xml_element(x, "deliveryOrderCode", it->order_ref) == 0 &&
            ob_xml_element(x, "deliveryOrderId", it->warehouse_id) == 0 &&
            ob_xml_element(x, "warehouseCode", it->extra) == 0 &&
            ob_xml_element(x, "orderType", "JYCK") == 0 &&
            ob_xml_element(x, "status", "DELIVERED") == 0 &&
            ob_xml_element(x, "orderConfirmTime", when) == 0 && ob_xml_end(x) == 0 &&
            ob_xml_start(x, "packages") == 0 && ob_xml_start(x, "package") == 0 &&
            ob_xml_element(x, "logisticsCode", "SF") == 0 &&
            ob_xml_element(x, "expressCode", express) == 0 && ob_xml_finish(x, 1, out) == 0)
            rc = 0;
    } else {
        if (ob_xml_start(x, "request") == 0 && ob_xml_start(x, "order") == 0 &&
            ob_xml_element(x, "orderCode", it->order_ref) == 0 &&
            ob_xml_element(x, "orderId", it->warehouse_id) == 0 &&
            ob_xml_element(x, "orderType", "JYCK") == 0 &&
            ob_xml_element(x, "warehouseCode", it->extra) == 0 && ob_xml_end(x) == 0 &&
            ob_xml_start(x, "process") == 0 && ob_xml_element(x, "processStatus", code) == 0 &&
            ob_xml_element(x, "operateTime", when) == 0 &&
            ob_xml_element(x, "operateInfo", is_exception ? "异常" : it->status->meaning) == 0 &&
            ob_xml_element(x, "remark", is_exception ? it->status->meaning : "") == 0 &&
            ob_xml_finish(x, 1, out) == 0)
            rc = 0;
    }
    ob_xml_free(x);
    return rc;
}

static int qimen_build_callback(struct ob_sim *sim, const char *callback_url,
                                const struct ob_sim_cb_item *items, size_t n,
                                const char *delivery_id, int tamper,
                                struct ob_sim_cb_request *out)
{
    const struct ob_sim_cb_item *it = &items[0];
    const char *secret = ob_sim_secret(sim, "secret");
    const char *app_key = ob_sim_secret(sim, "app_key");
    const char *customer = ob_sim_secret(sim, "customer_id");
    struct ob_params p = {0}, all = {0};
    struct ob_buf body, query;
    char when[32], now[32], sign[2 * OB_DIGEST_MAX + 1], msg[128];
    size_t len;
    int rc = -1;

    (void)delivery_id; /* Qimen has no delivery id */
    ob_buf_init(&body, 64 * 1024);
    ob_buf_init(&query, 8 * 1024);
    if (n != 1 || ob_time_format(it->occurred_ms, TIME_ZONE, TIME_PATTERN, when, sizeof(when)) ||
        ob_time_format(ob_time_now_ms(), TIME_ZONE, TIME_PATTERN, now, sizeof(now)) ||
        report_body(it, when, &body) != 0)
        goto done;
    if (ob_params_add(&p, "method",
                      strcmp(it->status->code, "DELIVERED") == 0 ? CONFIRM_METHOD
                                                                 : REPORT_METHOD) != 0 ||
        ob_params_add(&p, "app_key", app_key ? app_key : "") != 0 ||
        ob_params_add(&p, "customerId", customer ? customer : "") != 0 ||
        ob_params_add(&p, "format", "xml") != 0 || ob_params_add(&p, "sign_method", "md5") != 0 ||
        ob_params_add(&p, "timestamp", now) != 0 || ob_params_add(&p, "v", "2.0") != 0)
        goto done;
    /* the sign covers every URL parameter, those already in callback_url too */
    const char *q = strchr(callback_url, '?');
    if (parse_query(q ? q + 1 : NULL, &all, msg, sizeof(msg)) != 0)
        goto done;
    for (size_t i = 0; i < p.n; i++)
        if (ob_params_add(&all, p.items[i].key, p.items[i].value) != 0)
            goto done;
    if (make_sign(secret ? secret : "", &all, body.data, body.len, sign) != 0)
        goto done;
    if (tamper)
        sign[0] = sign[0] == '0' ? '1' : '0'; /* still 32 upper hex, no longer the sign */
    if (ob_params_add(&p, "sign", sign) != 0 ||
        ob_buf_appends(&query, callback_url) != 0 ||
        ob_buf_appends(&query, strchr(callback_url, '?') ? "&" : "?") != 0 ||
        ob_params_form(&p, OB_URL_RFC3986, &query) != 0)
        goto done;
    out->body_len = body.len;
    out->body = ob_buf_steal(&body, &len);
    out->url = ob_buf_steal(&query, &len);
    out->headers[0] = strdup("Content-Type: " CONTENT_TYPE);
    if (out->body && out->url && out->headers[0])
        rc = 0;
done:
    ob_params_free(&p);
    ob_params_free(&all);
    ob_buf_reset(&body);
    ob_buf_reset(&query);
    return rc;
}

/* HTTP 200 and <response><flag>success</flag>. */
static int qimen_callback_ok(long http_status, const char *body, size_t body_len)
{
    xmlDoc *doc;
    char flag[32];
    int ok = 0;

    if (http_status != 200 || body_len == 0 || body_len > 1 << 20)
        return 0;
    pthread_once(&xml_once, xml_init);
    doc = xmlReadMemory(body, (int)body_len, NULL, "UTF-8",
                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return 0;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (root && strcmp((const char *)root->name, "response") == 0 &&
        text_of(root, "flag", flag, sizeof(flag)) == 0)
        ok = strcmp(flag, "success") == 0;
    xmlFreeDoc(doc);
    return ok;
}

const struct ob_sim_profile ob_sim_profile_qimen = {
    .name = "qimen",
    .handle = handle,
    .screen = screen,
    .ladder = &qimen_ladder,
    .build_callback = qimen_build_callback,
    .callback_ok = qimen_callback_ok,
};
