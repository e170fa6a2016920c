/*
 * qimen — 奇门 (Qimen), the Taobao ERP -> WMS standard:
 * taobao.qimen.deliveryorder.create.
 *
 * POST {endpoint}?method=taobao.qimen.deliveryorder.create&timestamp=...
 *      &format=xml&app_key=...&v=2.0&sign_method=md5&customerId=...&sign=...
 * with an XML body <request><deliveryOrder>...</deliveryOrder><orderLines>...
 * </orderLines></request>.
 *
 * sign = UPPER(hex(MD5(secret + k1v1k2v2... + body + secret))) over every
 * URL parameter except sign, sorted by key in byte order, with the raw
 * (not URL-encoded) values, and the exact body bytes sent.
 *
 * The answer is XML, <response><flag>success|failure</flag><code/>
 * <message/><deliveryOrderId/></response>, usually inside an HTTP 200: the
 * flag, not the status, says whether the order was taken. The warehouse
 * dedupes by deliveryOrderCode (our order_id) and answers a repeat with
 * success and the same deliveryOrderId, so a redelivery is accepted.
 *
 * Status callbacks: the WMS calls us with taobao.qimen.deliveryorder.confirm
 * (shipped, with packages) or taobao.qimen.orderprocess.report (each step),
 * signed with the same recipe and secret; see qimen_decode_callback().
 */
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/crypto.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define API_METHOD "taobao.qimen.deliveryorder.create"
#define API_VERSION "2.0"
#define TIME_PATTERN "yyyy-MM-dd HH:mm:ss"
#define DEFAULT_ORDER_TYPE "JYCK"
#define DEFAULT_TIME_ZONE "Asia/Shanghai"
#define CONTENT_TYPE "text/xml;charset=utf-8"

/* Failure codes that mean "try again" unless settings.retry_codes says
 * otherwise. A trailing '*' matches a prefix. isp.* are the TOP/Qimen
 * gateway's own errors (the WMS timed out, was unreachable or unavailable);
 * accesscontrol.* are its rate limits. */
static const char *const default_retry_codes[] = {"isp.*", "accesscontrol.*"};

struct codes {
    char **items;
    size_t n;
};

struct qimen {
    const struct ob_adapter_env *env;
    const char *app_key; /* the bridge's strings, valid until destroy */
    const char *secret;  /* never logged, never in a reason */
    char *customer_id;
    char *owner_code;
    char *warehouse_code;
    char *order_type;
    char *time_zone;
    struct codes retry_codes;
    struct codes duplicate_codes;
};

static void codes_free(struct codes *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i]);
    free(c->items);
    c->items = NULL;
    c->n = 0;
}

static void qimen_destroy(void *state)
{
    struct qimen *q = state;

    if (!q)
        return;
    free(q->customer_id);
    free(q->owner_code);
    free(q->warehouse_code);
    free(q->order_type);
    free(q->time_zone);
    codes_free(&q->retry_codes);
    codes_free(&q->duplicate_codes);
    free(q);
}

/* ------------------------------------------------------------------------ */
/* init                                                                      */

#define KNOWN_SETTINGS                                                                             \
    "customer_id, owner_code, warehouse_code, order_type, time_zone (strings), retry_codes, "      \
    "duplicate_codes (arrays of strings)"

/* A non-empty string setting into *dst (replacing a default). */
static int take_string(const char *key, const json_t *value, char **dst, char *errstr,
                       size_t errstr_size)
{
    if (!json_is_string(value) || json_string_length(value) == 0) {
        ob_strlcpyf(errstr, errstr_size, "settings.%s: must be a non-empty string", key);
        return -1;
    }
    if (strlen(json_string_value(value)) != json_string_length(value)) {
        ob_strlcpyf(errstr, errstr_size, "settings.%s: must not contain NUL characters", key);
        return -1;
    }
    free(*dst);
    *dst = strdup(json_string_value(value));
    if (!*dst) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

static int codes_set(struct codes *c, const char *const *items, size_t n)
{
    codes_free(c);
    if (n == 0)
        return 0;
    c->items = calloc(n, sizeof(*c->items));
    if (!c->items)
        return -1;
    for (; c->n < n; c->n++) {
        c->items[c->n] = strdup(items[c->n]);
        if (!c->items[c->n])
            return -1;
    }
    return 0;
}

/* An array of non-empty strings into *c (replacing the defaults). */
static int take_codes(const char *key, const json_t *value, struct codes *c, char *errstr,
                      size_t errstr_size)
{
    const char *items[256];
    size_t i;
    json_t *v;

    if (!json_is_array(value)) {
        ob_strlcpyf(errstr, errstr_size, "settings.%s: must be an array of strings", key);
        return -1;
    }
    if (json_array_size(value) > sizeof(items) / sizeof(items[0])) {
        ob_strlcpyf(errstr, errstr_size, "settings.%s: at most %zu codes", key,
                    sizeof(items) / sizeof(items[0]));
        return -1;
    }
    json_array_foreach(value, i, v) {
        if (!json_is_string(v) || json_string_length(v) == 0 ||
            strlen(json_string_value(v)) != json_string_length(v)) {
            ob_strlcpyf(errstr, errstr_size, "settings.%s[%zu]: must be a non-empty string", key,
                        i);
            return -1;
        }
        items[i] = json_string_value(v);
    }
    if (codes_set(c, items, json_array_size(value)) != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

static int qimen_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                      char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const char *app_key = env->credential(env, "app_key");
    const char *secret = env->credential(env, "secret");
    char probe[32];
    const char *key;
    json_t *value;
    struct qimen *q;

    if (!app_key || !*app_key) {
        ob_strlcpyf(errstr, errstr_size,
                    "credentials.app_key is required (env:NAME or file:PATH)");
        return -1;
    }
    if (!secret || !*secret) {
        ob_strlcpyf(errstr, errstr_size, "credentials.secret is required (env:NAME or file:PATH)");
        return -1;
    }
    /* Every URL parameter is signed; one already in the endpoint would be
     * sent but not signed. */
    if (!env->endpoint || strchr(env->endpoint, '?') || strchr(env->endpoint, '#')) {
        ob_strlcpyf(errstr, errstr_size,
                    "endpoint: must not contain a query or fragment (qimen signs every URL "
                    "parameter; give the gateway URL, e.g. https://host/router/qimen/service)");
        return -1;
    }
    if (settings && !json_is_object(settings)) {
        ob_strlcpyf(errstr, errstr_size, "settings: must be an object");
        return -1;
    }

    q = calloc(1, sizeof(*q));
    if (!q)
        goto oom;
    q->env = env;
    q->app_key = app_key;
    q->secret = secret;
    q->order_type = strdup(DEFAULT_ORDER_TYPE);
    q->time_zone = strdup(DEFAULT_TIME_ZONE);
    q->warehouse_code = strdup(env->warehouse ? env->warehouse : "");
    if (!q->order_type || !q->time_zone || !q->warehouse_code ||
        codes_set(&q->retry_codes, default_retry_codes,
                  sizeof(default_retry_codes) / sizeof(default_retry_codes[0])) != 0)
        goto oom;

    if (settings) {
        json_object_foreach((json_t *)settings, key, value) {
            int rc;

            if (strcmp(key, "customer_id") == 0)
                rc = take_string(key, value, &q->customer_id, errstr, errstr_size);
            else if (strcmp(key, "owner_code") == 0)
                rc = take_string(key, value, &q->owner_code, errstr, errstr_size);
            else if (strcmp(key, "warehouse_code") == 0)
                rc = take_string(key, value, &q->warehouse_code, errstr, errstr_size);
            else if (strcmp(key, "order_type") == 0)
                rc = take_string(key, value, &q->order_type, errstr, errstr_size);
            else if (strcmp(key, "time_zone") == 0)
                rc = take_string(key, value, &q->time_zone, errstr, errstr_size);
            else if (strcmp(key, "retry_codes") == 0)
                rc = take_codes(key, value, &q->retry_codes, errstr, errstr_size);
            else if (strcmp(key, "duplicate_codes") == 0)
                rc = take_codes(key, value, &q->duplicate_codes, errstr, errstr_size);
            else {
                ob_strlcpyf(errstr, errstr_size, "settings.%s: unknown setting (known: %s)", key,
                            KNOWN_SETTINGS);
                rc = -1;
            }
            if (rc != 0)
                goto fail;
        }
    }
    if (!q->customer_id) {
        ob_strlcpyf(errstr, errstr_size,
                    "settings.customer_id: required (the Qimen customerId routing to the WMS)");
        goto fail;
    }
    if (!q->owner_code) {
        ob_strlcpyf(errstr, errstr_size,
                    "settings.owner_code: required (the WMS owner code sent as ownerCode)");
        goto fail;
    }
    if (ob_time_format(0, q->time_zone, TIME_PATTERN, probe, sizeof(probe)) != 0) {
        ob_strlcpyf(errstr, errstr_size,
                    "settings.time_zone: \"%.64s\" is not a known zone (UTC, +08:00, "
                    "Asia/Shanghai, Asia/Hong_Kong, Asia/Taipei, Asia/Singapore, Asia/Tokyo, "
                    "Asia/Seoul)",
                    q->time_zone);
        goto fail;
    }
    /* The XML writer and the answer's parser share libxml2. */
    xmlInitParser();
    *state = q;
    return 0;
oom:
    ob_strlcpyf(errstr, errstr_size, "out of memory");
fail:
    qimen_destroy(q);
    return -1;
}

/* ------------------------------------------------------------------------ */
/* encode                                                                    */

static int two(const char *s, int *out)
{
    if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
        return -1;
    *out = (s[0] - '0') * 10 + (s[1] - '0');
    return 0;
}

/*
 * An RFC 3339 date-time (the order's created_at, already validated by the
 * bridge) to epoch milliseconds: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM).
 */
static int rfc3339_ms(const char *s, int64_t *out)
{
    int c, y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, sign = 0;
    size_t i = 19;
    struct tm tm;
    time_t t;

    if (!s || strlen(s) < 20 || two(s, &c) || two(s + 2, &y) || s[4] != '-' ||
        two(s + 5, &mo) || s[7] != '-' || two(s + 8, &d) || (s[10] != 'T' && s[10] != 't') ||
        two(s + 11, &h) || s[13] != ':' || two(s + 14, &mi) || s[16] != ':' ||
        two(s + 17, &sec))
        return -1;
    if (s[i] == '.') {
        int digits = 0;
        for (i++; isdigit((unsigned char)s[i]); i++, digits++)
            if (digits < 3)
                ms = ms * 10 + (s[i] - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            ms *= 10;
    }
    if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0') {
        sign = 0;
    } else if ((s[i] == '+' || s[i] == '-') && !two(s + i + 1, &oh) && s[i + 3] == ':' &&
               !two(s + i + 4, &om) && s[i + 6] == '\0') {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = c * 100 + y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = ((int64_t)t - (int64_t)sign * (oh * 3600 + om * 60)) * 1000 + ms;
    return 0;
}

/* Writes <name>text</name>; on failure names the order field in errstr. */
static int element(struct ob_xml *x, const char *name, const char *text, const char *field,
                   char *errstr, size_t errstr_size)
{
    if (ob_xml_element(x, name, text) != 0) {
        ob_strlcpyf(errstr, errstr_size,
                    "%s: cannot be carried in XML (invalid UTF-8 or a control character)", field);
        return -1;
    }
    return 0;
}

/* actualPrice: what one unit was sold for, (unit_price * quantity - line
 * discount) / quantity, rounded half up to the fen. Amounts come from
 * buyers and shops: every step is checked (SDK money arithmetic). */
static int actual_price(const struct ob_order_item *it, size_t i, char out[32], char *errstr,
                        size_t errstr_size)
{
    int64_t line, net, unit;

    if (it->unit_price.minor < 0 || it->discount.minor < 0) {
        ob_strlcpyf(errstr, errstr_size, "items[%zu]: a negative %s cannot be sent to Qimen", i,
                    it->unit_price.minor < 0 ? "unit_price" : "discount");
        return -1;
    }
    if (it->quantity <= 0 || ob_money_mul(it->unit_price.minor, it->quantity, &line) != 0 ||
        ob_money_sub(line, it->discount.minor, &net) != 0 ||
        ob_money_div_round(net, it->quantity, &unit) != 0) {
        ob_strlcpyf(errstr, errstr_size,
                    "items[%zu]: (unit_price * quantity - discount) / quantity out of range", i);
        return -1;
    }
    if (net < 0) {
        ob_strlcpyf(errstr, errstr_size,
                    "items[%zu]: discount %s exceeds unit_price %s x quantity %d", i,
                    it->discount.text ? it->discount.text : "0", it->unit_price.text, it->quantity);
        return -1;
    }
    ob_money_format(unit, out);
    return 0;
}

static int build_body(const struct qimen *q, const struct ob_order *order, struct ob_buf *body,
                      char *errstr, size_t errstr_size)
{
    const struct ob_address *a = &order->shipping_address;
    struct ob_xml *x = ob_xml_new();
    char create_time[32], price[32], qty[16], field[64];
    int64_t created_ms;
    int rc = -1;

    if (!x) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (rfc3339_ms(order->created_at, &created_ms) != 0 ||
        ob_time_format(created_ms, q->time_zone, TIME_PATTERN, create_time,
                       sizeof(create_time)) != 0) {
        ob_strlcpyf(errstr, errstr_size, "created_at: cannot convert \"%.64s\" to %s in %s",
                    order->created_at ? order->created_at : "", TIME_PATTERN, q->time_zone);
        goto out;
    }
    if (ob_xml_start(x, "request") || ob_xml_start(x, "deliveryOrder"))
        goto oom;
    if (element(x, "deliveryOrderCode", order->order_id, "order_id", errstr, errstr_size) ||
        element(x, "orderType", q->order_type, "settings.order_type", errstr, errstr_size) ||
        element(x, "warehouseCode", q->warehouse_code, "settings.warehouse_code", errstr,
                errstr_size) ||
        element(x, "createTime", create_time, "created_at", errstr, errstr_size))
        goto out;
    if (ob_xml_start(x, "receiverInfo"))
        goto oom;
    if (element(x, "name", a->name, "shipping_address.name", errstr, errstr_size) ||
        element(x, "mobile", a->phone, "shipping_address.phone", errstr, errstr_size) ||
        element(x, "province", a->province, "shipping_address.province", errstr, errstr_size) ||
        element(x, "city", a->city, "shipping_address.city", errstr, errstr_size) ||
        element(x, "area", a->district, "shipping_address.district", errstr, errstr_size) ||
        element(x, "detailAddress", a->street, "shipping_address.street", errstr, errstr_size))
        goto out;
    if (ob_xml_end(x)) /* receiverInfo */
        goto oom;
    if (order->remark &&
        element(x, "remark", order->remark, "remark", errstr, errstr_size))
        goto out;
    if (ob_xml_end(x) || ob_xml_start(x, "orderLines")) /* deliveryOrder */
        goto oom;
    for (size_t i = 0; i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];

        if (actual_price(it, i, price, errstr, errstr_size) != 0)
            goto out;
        snprintf(qty, sizeof(qty), "%d", it->quantity);
        if (ob_xml_start(x, "orderLine"))
            goto oom;
        snprintf(field, sizeof(field), "items[%zu].sku", i);
        if (element(x, "ownerCode", q->owner_code, "settings.owner_code", errstr, errstr_size) ||
            element(x, "itemCode", it->sku, field, errstr, errstr_size))
            goto out;
        snprintf(field, sizeof(field), "items[%zu].name", i);
        if (element(x, "itemName", it->name ? it->name : it->sku, field, errstr, errstr_size) ||
            element(x, "planQty", qty, "quantity", errstr, errstr_size) ||
            element(x, "actualPrice", price, "unit_price", errstr, errstr_size))
            goto out;
        if (ob_xml_end(x))
            goto oom;
    }
    /* finish closes orderLines and request */
    if (ob_xml_finish(x, 0, body) != 0)
        goto oom;
    rc = 0;
    goto out;
oom:
    ob_strlcpyf(errstr, errstr_size, "cannot build the XML body (out of memory)");
out:
    ob_xml_free(x);
    return rc;
}

/* The URL parameters in the order the recipe lists them, sign excluded. */
static int add_params(const struct qimen *q, const char *timestamp, struct ob_params *p)
{
    return ob_params_add(p, "method", API_METHOD) || ob_params_add(p, "timestamp", timestamp) ||
           ob_params_add(p, "format", "xml") || ob_params_add(p, "app_key", q->app_key) ||
           ob_params_add(p, "v", API_VERSION) || ob_params_add(p, "sign_method", "md5") ||
           ob_params_add(p, "customerId", q->customer_id)
               ? -1
               : 0;
}

/* UPPER(hex(MD5(secret + sorted k+v without sign + body + secret))) into
 * out[33]. Sorts `p` in place. */
static int sign(const char *secret, struct ob_params *p, const char *body, size_t body_len,
                char out[33])
{
    struct ob_buf b;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_params_sort(p);
    ob_buf_init(&b, OB_BUF_DEFAULT_MAX);
    if (ob_buf_appends(&b, secret) == 0 && ob_params_concat(p, "", "", "sign", &b) == 0 &&
        ob_buf_append(&b, body, body_len) == 0 && ob_buf_appends(&b, secret) == 0 &&
        ob_digest(OB_MD5, b.data, b.len, md, &md_len) == 0 && md_len == 16) {
        ob_hex_upper(md, md_len, out);
        rc = 0;
    }
    ob_buf_cleanse(&b); /* it holds the secret */
    return rc;
}

static int qimen_encode(void *state, const struct ob_order *order,
                        const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                        size_t errstr_size)
{
    struct qimen *q = state;
    struct ob_buf body, query;
    struct ob_params params = {0};
    char timestamp[32], signature[33];
    char *body_data;
    size_t body_len;
    int rc = -1;

    (void)delivery; /* Qimen dedupes by deliveryOrderCode, our order_id */

    /* Only creation is modelled; an update or a cancellation pushed as a
     * create would be answered "success" (the order exists) and wrongly
     * reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the qimen adapter yet",
                    order->event_name ? order->event_name : "(unknown)");
        return -1;
    }
    ob_buf_init(&body, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&query, OB_BUF_DEFAULT_MAX);
    if (build_body(q, order, &body, errstr, errstr_size) != 0)
        goto cleanup;
    if (ob_time_format(ob_time_now_ms(), q->time_zone, TIME_PATTERN, timestamp,
                       sizeof(timestamp)) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot format the timestamp in %s", q->time_zone);
        goto cleanup;
    }
    /* The query string in the recipe's order, then the sign over the
     * sorted parameters (sorting in place comes after forming). */
    if (add_params(q, timestamp, &params) != 0 ||
        ob_params_form(&params, OB_URL_RFC3986, &query) != 0 ||
        sign(q->secret, &params, body.data, body.len, signature) != 0 ||
        ob_buf_appends(&query, "&sign=") != 0 || ob_buf_appends(&query, signature) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot build the signed query (out of memory)");
        goto cleanup;
    }
    out->method = "POST";
    if (ob_request_set_url(out, "%s?%s", q->env->endpoint, query.data) != 0 ||
        ob_request_add_header(out, "Content-Type", CONTENT_TYPE) != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    body_data = ob_buf_steal(&body, &body_len);
    if (!body_data) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    ob_request_take_body(out, body_data, body_len);
    rc = 0;
cleanup:
    ob_params_free(&params);
    ob_buf_reset(&query);
    ob_buf_reset(&body);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* decode_response                                                           */

struct answer {
    char flag[32];
    char code[128];
    char message[256];
    char id[128];
    int has_flag;
};

/* The trimmed text of `node` into out (cut to fit). */
static void node_text(xmlNode *node, char *out, size_t size)
{
    xmlChar *content = xmlNodeGetContent(node);
    const char *s = content ? (const char *)content : "";
    size_t len;

    while (*s && isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len > INT32_MAX)
        len = INT32_MAX;
    ob_strlcpyf(out, size, "%.*s", (int)len, s);
    xmlFree(content);
}

/* 0 when the body is a Qimen <response>; -1 otherwise. */
static int parse_answer(const char *body, size_t len, struct answer *a)
{
    xmlDoc *doc;
    xmlNode *root, *n;

    memset(a, 0, sizeof(*a));
    doc = ob_xml_read(body, len, a->message, sizeof(a->message));
    if (!doc)
        return -1;
    root = xmlDocGetRootElement(doc);
    if (!root || xmlStrcmp(root->name, (const xmlChar *)"response") != 0) {
        xmlFreeDoc(doc);
        return -1;
    }
    for (n = root->children; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (xmlStrcmp(n->name, (const xmlChar *)"flag") == 0) {
            node_text(n, a->flag, sizeof(a->flag));
            a->has_flag = 1;
        } else if (xmlStrcmp(n->name, (const xmlChar *)"code") == 0) {
            node_text(n, a->code, sizeof(a->code));
        } else if (xmlStrcmp(n->name, (const xmlChar *)"message") == 0) {
            node_text(n, a->message, sizeof(a->message));
        } else if (xmlStrcmp(n->name, (const xmlChar *)"deliveryOrderId") == 0) {
            node_text(n, a->id, sizeof(a->id));
        }
    }
    xmlFreeDoc(doc);
    return 0;
}

/* `code` is listed: exactly, or by a prefix ending in '*'. */
static int listed(const struct codes *c, const char *code)
{
    for (size_t i = 0; i < c->n; i++) {
        size_t len = strlen(c->items[i]);

        if (len > 0 && c->items[i][len - 1] == '*') {
            if (strncmp(code, c->items[i], len - 1) == 0)
                return 1;
        } else if (strcmp(code, c->items[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* printf-safe bounded quote of a body for a reason: printable ASCII and
 * UTF-8 kept, control bytes as '.'. */
static void snippet(const char *body, size_t len, char *out, size_t size)
{
    size_t n = 0;

    for (size_t i = 0; body && i < len && n + 1 < size && n < 200; i++)
        out[n++] = (unsigned char)body[i] < 0x20 ? '.' : body[i];
    out[n] = '\0';
}

static void set_retry_after(const struct ob_response *resp, struct ob_outcome *out)
{
    long ms = ob_response_retry_after_ms(resp);

    out->retry_after_ms = ms > 0 ? (ms > INT32_MAX ? INT32_MAX : (int)ms) : 0;
}

static void qimen_decode_response(void *state, const struct ob_order *order,
                                  const struct ob_delivery *delivery,
                                  const struct ob_response *resp, struct ob_outcome *out)
{
    const struct qimen *q = state;
    struct answer a;
    char quote[256];
    int parsed;

    (void)order;
    (void)delivery;

    parsed = parse_answer(resp->body, resp->body_len, &a) == 0 && a.has_flag;
    if (ob_outcome_from_http(resp, out)) {
        /* A Qimen error answer names its code: more useful than the body. */
        if (resp->status != 0 && parsed && (a.code[0] || out->kind == OB_OUTCOME_PERMANENT))
            ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld: qimen %s: %s",
                        resp->status, a.code[0] ? a.code : "(no code)", a.message);
        else if (out->kind == OB_OUTCOME_PERMANENT) {
            snippet(resp->body, resp->body_len, quote, sizeof(quote));
            ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld: %s", resp->status, quote);
        }
        return;
    }

    /* 2xx: the flag decides. */
    if (!parsed || (strcasecmp(a.flag, "success") != 0 && strcasecmp(a.flag, "failure") != 0)) {
        /* Not a Qimen answer (a proxy's page, a cut body): whether the order
         * was created is unknown, and a retry is safe because a repeated
         * deliveryOrderCode answers success with the same id. */
        out->kind = OB_OUTCOME_RETRY;
        snippet(resp->body, resp->body_len, quote, sizeof(quote));
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "HTTP %ld: not a qimen <response> with flag success|failure%s%s: %s",
                    resp->status, parsed || !a.message[0] ? "" : ", ",
                    parsed ? "" : a.message, quote);
        return;
    }
    if (strcasecmp(a.flag, "success") == 0) {
        out->kind = OB_OUTCOME_ACCEPTED;
        ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s", a.id);
        if (a.code[0] && strcmp(a.code, "0") != 0)
            ob_strlcpyf(out->reason, sizeof(out->reason), "qimen success %s: %s", a.code,
                        a.message);
        return;
    }
    if (listed(&q->duplicate_codes, a.code)) {
        out->kind = OB_OUTCOME_ACCEPTED;
        ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s", a.id);
        ob_strlcpyf(out->reason, sizeof(out->reason), "already known to the warehouse: qimen %s: %s",
                    a.code, a.message);
        return;
    }
    if (listed(&q->retry_codes, a.code)) {
        out->kind = OB_OUTCOME_RETRY;
        set_retry_after(resp, out);
        ob_strlcpyf(out->reason, sizeof(out->reason), "qimen %s: %s", a.code, a.message);
        return;
    }
    out->kind = OB_OUTCOME_PERMANENT;
    ob_strlcpyf(out->reason, sizeof(out->reason), "qimen %s: %s",
                a.code[0] ? a.code : "(no code)", a.message);
}

/* ------------------------------------------------------------------------ */
/* status callbacks                                                          */

#define CB_CONFIRM "taobao.qimen.deliveryorder.confirm"
#define CB_REPORT "taobao.qimen.orderprocess.report"
#define CB_TOLERANCE_MS (10 * 60 * 1000) /* the Qimen gateway's rule for timestamp */
#define CB_MAX_PARAMS 64

/* processStatus (orderprocess.report) and deliveryOrder/status
 * (deliveryorder.confirm) share Qimen's vocabulary. Anything else (NEW,
 * PRINT, CHECK, PARTDELIVERED, ...) is kept as UNMAPPED. */
static const struct {
    const char *code;
    enum ob_fulfillment_status status;
} qimen_statuses[] = {
    {"ACCEPT", OB_STATUS_ALLOCATED},   {"PICK", OB_STATUS_PICKED},
    {"PACKAGE", OB_STATUS_PACKED},     {"DELIVERED", OB_STATUS_SHIPPED}, /* left the warehouse */
    {"EXCEPTION", OB_STATUS_EXCEPTION}, {"CANCELED", OB_STATUS_CANCELLED},
};

static enum ob_fulfillment_status status_of(const char *code)
{
    for (size_t i = 0; i < sizeof(qimen_statuses) / sizeof(qimen_statuses[0]); i++)
        if (strcmp(code, qimen_statuses[i].code) == 0)
            return qimen_statuses[i].status;
    return OB_STATUS_UNMAPPED;
}

static const char *param_value(const struct ob_params *p, const char *key)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->items[i].key, key) == 0)
            return p->items[i].value;
    return NULL;
}

static xmlNode *child_element(xmlNode *parent, const char *name)
{
    for (xmlNode *n = parent ? parent->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, (const xmlChar *)name) == 0)
            return n;
    return NULL;
}

/* The trimmed text of parent's first <name> into out, cut to fit at a
 * character boundary. Returns its whole length, or -1 when absent. */
static long child_text(xmlNode *parent, const char *name, char *out, size_t size)
{
    xmlNode *n = child_element(parent, name);
    xmlChar *content;
    const char *s;
    size_t len;

    out[0] = '\0';
    if (!n)
        return -1;
    content = xmlNodeGetContent(n);
    s = content ? (const char *)content : "";
    while (*s && isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len < size) {
        memcpy(out, s, len);
        out[len] = '\0';
    } else {
        char *copy = strndup(s, len);
        ob_strlcpy_utf8(out, size, copy ? copy : "");
        free(copy);
    }
    xmlFree(content);
    return len > LONG_MAX ? LONG_MAX : (long)len;
}

/* Our order id from <name>: required, and never cut (a cut id would name
 * another order). Returns 0, or -1 with out->reason set. */
static int order_id_from(xmlNode *parent, const char *path, const char *name,
                         struct ob_status_update *u, struct ob_callback_result *out)
{
    long len = child_text(parent, name, u->order_id, sizeof(u->order_id));

    if (len <= 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "%s/%s: required", path, name);
        return -1;
    }
    if ((size_t)len >= sizeof(u->order_id)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "%s/%s: longer than %zu bytes", path, name,
                    sizeof(u->order_id) - 1);
        return -1;
    }
    return 0;
}

/* An optional yyyy-MM-dd HH:mm:ss in the warehouse's zone; absent: 0. */
static int time_from(const struct qimen *q, xmlNode *parent, const char *path, const char *name,
                     struct ob_status_update *u, struct ob_callback_result *out)
{
    char text[64];

    if (child_text(parent, name, text, sizeof(text)) <= 0)
        return 0;
    if (ob_time_parse(text, q->time_zone, TIME_PATTERN, &u->occurred_at_ms) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "%s/%s: not %s", path, name, TIME_PATTERN);
        return -1;
    }
    return 0;
}

/* <request><deliveryOrder>...<status/>...</deliveryOrder><packages>
 * <package><logisticsCode/><expressCode/></package>...</packages></request>:
 * the order left the warehouse; the first package's carrier and waybill. */
static int read_confirm(const struct qimen *q, xmlNode *root, struct ob_status_update *u,
                        struct ob_callback_result *out)
{
    xmlNode *order = child_element(root, "deliveryOrder");
    xmlNode *package = child_element(child_element(root, "packages"), "package");

    if (!order) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "request/deliveryOrder: required");
        return -1;
    }
    if (order_id_from(order, "deliveryOrder", "deliveryOrderCode", u, out) != 0)
        return -1;
    if (child_text(order, "status", u->raw_code, sizeof(u->raw_code)) <= 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "deliveryOrder/status: required");
        return -1;
    }
    if (time_from(q, order, "deliveryOrder", "orderConfirmTime", u, out) != 0)
        return -1;
    child_text(order, "deliveryOrderId", u->warehouse_order_id, sizeof(u->warehouse_order_id));
    child_text(package, "logisticsCode", u->carrier, sizeof(u->carrier));
    child_text(package, "expressCode", u->tracking_no, sizeof(u->tracking_no));
    u->status = status_of(u->raw_code);
    return 0;
}

/* <request><order><orderCode/><orderId/>...</order><process><processStatus/>
 * <operateTime/><operateInfo/><remark/></process></request>. */
static int read_report(const struct qimen *q, xmlNode *root, struct ob_status_update *u,
                       struct ob_callback_result *out)
{
    xmlNode *order = child_element(root, "order");
    xmlNode *process = child_element(root, "process");
    char info[sizeof(u->raw_text)], remark[sizeof(u->reason)];

    if (!order || !process) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "request/%s: required",
                    order ? "process" : "order");
        return -1;
    }
    if (order_id_from(order, "order", "orderCode", u, out) != 0)
        return -1;
    if (child_text(process, "processStatus", u->raw_code, sizeof(u->raw_code)) <= 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "process/processStatus: required");
        return -1;
    }
    if (time_from(q, process, "process", "operateTime", u, out) != 0)
        return -1;
    child_text(order, "orderId", u->warehouse_order_id, sizeof(u->warehouse_order_id));
    child_text(process, "operateInfo", info, sizeof(info));
    child_text(process, "remark", remark, sizeof(remark));
    u->status = status_of(u->raw_code);
    ob_strlcpy_utf8(u->raw_text, sizeof(u->raw_text), info[0] ? info : remark);
    if (u->status == OB_STATUS_EXCEPTION || u->status == OB_STATUS_CANCELLED)
        ob_strlcpy_utf8(u->reason, sizeof(u->reason), remark[0] ? remark : info);
    return 0;
}

/* The body, already authenticated, into one update. */
static enum ob_callback_verdict read_callback_body(const struct qimen *q, const char *method,
                                                   const char *body, size_t len,
                                                   struct ob_callback_result *out)
{
    enum ob_callback_verdict v = OB_CALLBACK_MALFORMED;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc;

    doc = ob_xml_read(body, len, out->reason, sizeof(out->reason));
    if (!doc)
        return v;
    root = xmlDocGetRootElement(doc);
    if (xmlStrcmp(root->name, (const xmlChar *)"request") != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "body is not a <request> XML document");
        goto cleanup;
    }
    if (strcmp(method, CB_CONFIRM) == 0)
        rc = read_confirm(q, root, &out->updates[0], out);
    else
        rc = read_report(q, root, &out->updates[0], out);
    if (rc == 0) {
        out->n_updates = 1;
        v = OB_CALLBACK_OK;
    } else {
        memset(&out->updates[0], 0, sizeof(out->updates[0]));
    }
cleanup:
    xmlFreeDoc(doc);
    return v;
}

/*
 * Qimen signs a call to us the way we sign ours: the same sign() over the
 * URL parameters (decoded, sign left out) and the body bytes. app_key and
 * customerId must be ours, and the timestamp (gateway time, our time_zone)
 * within 10 minutes of arrival.
 */
static enum ob_callback_verdict qimen_decode_callback(void *state,
                                                      const struct ob_callback_request *req,
                                                      struct ob_callback_result *out)
{
    const struct qimen *q = state;
    enum ob_callback_verdict v = OB_CALLBACK_FORBIDDEN;
    struct ob_params params = {0};
    const char *got, *method, *format, *timestamp;
    char want[33], sign_upper[33];
    int64_t sent_ms, skew_ms;

    if (ob_params_parse_query(req->query, CB_MAX_PARAMS, &params) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "malformed or repeated query parameters");
        v = OB_CALLBACK_MALFORMED;
        goto cleanup;
    }
    got = param_value(&params, "sign");
    if (!got || strlen(got) != 32) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "sign: missing or not 32 hex digits");
        goto cleanup;
    }
    if (!param_value(&params, "sign_method") ||
        strcmp(param_value(&params, "sign_method"), "md5") != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "sign_method: only md5 is accepted");
        goto cleanup;
    }
    if (!param_value(&params, "app_key") ||
        strcmp(param_value(&params, "app_key"), q->app_key) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "app_key: not this warehouse's");
        goto cleanup;
    }
    if (!param_value(&params, "customerId") ||
        strcmp(param_value(&params, "customerId"), q->customer_id) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "customerId: not this warehouse's");
        goto cleanup;
    }
    for (size_t i = 0; i < 32; i++)
        sign_upper[i] = (char)toupper((unsigned char)got[i]);
    sign_upper[32] = '\0';
    /* sign() sorts the parameters; look values up by key from here on. */
    if (sign(q->secret, &params, req->body ? req->body : "", req->body_len, want) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "cannot check the sign (out of memory)");
        v = OB_CALLBACK_MALFORMED;
        goto cleanup;
    }
    if (CRYPTO_memcmp(want, sign_upper, 32) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "sign mismatch");
        goto cleanup;
    }
    timestamp = param_value(&params, "timestamp");
    if (!timestamp || ob_time_parse(timestamp, q->time_zone, TIME_PATTERN, &sent_ms) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "timestamp: missing or not %s",
                    TIME_PATTERN);
        goto cleanup;
    }
    skew_ms = req->now_ms - sent_ms;
    if (skew_ms > CB_TOLERANCE_MS || skew_ms < -CB_TOLERANCE_MS) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "timestamp %" PRId64 " s %s (tolerance %d s)",
                    (skew_ms < 0 ? -skew_ms : skew_ms) / 1000,
                    skew_ms > 0 ? "in the past" : "in the future", CB_TOLERANCE_MS / 1000);
        goto cleanup;
    }

    /* Authentic from here: what is not understood is MALFORMED. */
    v = OB_CALLBACK_MALFORMED;
    method = param_value(&params, "method");
    format = param_value(&params, "format");
    if (!method || (strcmp(method, CB_CONFIRM) != 0 && strcmp(method, CB_REPORT) != 0)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "method: \"%.64s\" is not %s or %s",
                    method ? method : "", CB_CONFIRM, CB_REPORT);
        goto cleanup;
    }
    if (format && strcasecmp(format, "xml") != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "format: only xml is accepted");
        goto cleanup;
    }
    v = read_callback_body(q, method, req->body, req->body_len, out);
cleanup:
    ob_params_free(&params);
    return v;
}

static void qimen_answer_callback(void *state, const struct ob_callback_request *req,
                                  enum ob_callback_verdict verdict, const char *reason,
                                  struct ob_callback_reply *out)
{
    const char *flag = "failure", *code, *message;

    (void)state;
    (void)req;
    (void)reason; /* never echoed: fixed messages tell an attacker nothing */

    switch (verdict) {
    case OB_CALLBACK_OK:
        flag = "success";
        code = "0";
        message = "ok";
        break;
    case OB_CALLBACK_FORBIDDEN:
        code = "sign-check-failure";
        message = "Illegal request";
        break;
    case OB_CALLBACK_MALFORMED:
        code = "malformed";
        message = "malformed request";
        break;
    case OB_CALLBACK_UNKNOWN_ORDER:
        code = "unknown-order";
        message = "unknown order";
        break;
    case OB_CALLBACK_TOO_LARGE:
        code = "too-large";
        message = "request too large";
        break;
    case OB_CALLBACK_RETRY:
    default: /* a verdict added later: have the warehouse send it again */
        code = "retry";
        message = "try again later";
        break;
    }
    /* Fixed ASCII: nothing to escape. */
    ob_strlcpyf(out->body, sizeof(out->body),
                "<?xml version=\"1.0\" encoding=\"utf-8\"?><response><flag>%s</flag><code>%s"
                "</code><message>%s</message></response>",
                flag, code, message);
    ob_strlcpyf(out->content_type, sizeof(out->content_type), "%s", CONTENT_TYPE);
}

static const struct ob_adapter qimen_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .flags = OB_ADAPTER_NO_DOC,
    .name = "qimen",
    .description = "Qimen (奇门) taobao.qimen.deliveryorder.create: XML body, MD5-signed query",
    .init = qimen_init,
    .encode = qimen_encode,
    .decode_response = qimen_decode_response,
    .destroy = qimen_destroy,
    .decode_callback = qimen_decode_callback,
    .answer_callback = qimen_answer_callback,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &qimen_adapter;
}
