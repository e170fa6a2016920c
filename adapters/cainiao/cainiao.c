/*
 * cainiao — the Cainiao LINK gateway (菜鸟 LINK), message WMS_CONSIGN_ORDER_NOTIFY.
 *
 * POST {endpoint}/gateway/link.do, an application/x-www-form-urlencoded body:
 *
 *   msg_type             = WMS_CONSIGN_ORDER_NOTIFY
 *   logistic_provider_id = settings.logistic_provider_id
 *   logistics_interface  = <request>…</request>   (XML, UTF-8, no declaration)
 *   data_digest          = Base64(MD5(logistics_interface + secret))
 *   to_code              = settings.to_code       (only when set)
 *
 * The gateway answers HTTP 200 with {"success":"true"|"false","errorCode",
 * "errorMsg"}: the business outcome is in the body. It dedupes by
 * logisticsOrderCode (our order_id) and answers a repeat with errorCode
 * ORDER_EXISTS, which means it already has the order: accepted.
 *
 * Status after the push is polled: the same form with msg_type
 * WMS_ORDER_STATUS_QUERY and logistics_interface = {"logisticsOrderCode",
 * "orderCode"?} (JSON), answered with orderStatusList, the order's statuses
 * oldest first (README.md "Status polling").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define MSG_TYPE "WMS_CONSIGN_ORDER_NOTIFY"
#define GATEWAY_PATH "/gateway/link.do"
#define DEFAULT_TIME_ZONE "Asia/Shanghai"
#define CODE_EXISTS "ORDER_EXISTS"
#define QUERY_MSG_TYPE "WMS_ORDER_STATUS_QUERY"
#define CODE_NOT_FOUND "ORDER_NOT_FOUND"
#define MAX_QUOTE 300 /* bytes of a warehouse message quoted in a reason */

/* Business codes that mean "try again later" unless settings.retry_codes
 * says otherwise: S06 gateway timeout, S07 system error, please retry. */
static const char *const default_retry_codes[] = {"S06", "S07"};

/* Business codes that refuse the request itself; never retried, whatever
 * retry_codes says: S01 malformed logistics_interface, S02 digest check
 * failed (wrong secret or logistic_provider_id). */
static const char *const permanent_codes[] = {"S01", "S02"};

struct cainiao {
    const struct ob_adapter_env *env;
    const char *secret; /* the bridge's string, valid until destroy; never logged */
    char *provider_id;
    char *to_code; /* NULL: not sent */
    char *time_zone;
    char **retry_codes;
    size_t n_retry_codes;
};

static void cainiao_destroy(void *state)
{
    struct cainiao *c = state;

    if (!c)
        return;
    free(c->provider_id);
    free(c->to_code);
    free(c->time_zone);
    for (size_t i = 0; i < c->n_retry_codes; i++)
        free(c->retry_codes[i]);
    free(c->retry_codes);
    free(c);
}

/* A non-empty string setting, copied into *out. */
static int string_setting(const char *key, json_t *value, char **out, char *errstr,
                          size_t errstr_size)
{
    if (!json_is_string(value) || json_string_length(value) == 0 ||
        strlen(json_string_value(value)) != json_string_length(value)) {
        ob_strlcpyf(errstr, errstr_size, "settings.%s: must be a non-empty string", key);
        return -1;
    }
    free(*out);
    *out = strdup(json_string_value(value));
    if (!*out) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    return 0;
}

static int add_retry_code(struct cainiao *c, const char *code)
{
    char **codes = realloc(c->retry_codes, (c->n_retry_codes + 1) * sizeof(*codes));

    if (!codes)
        return -1;
    c->retry_codes = codes;
    if (!(codes[c->n_retry_codes] = strdup(code)))
        return -1;
    c->n_retry_codes++;
    return 0;
}

static int retry_codes_setting(struct cainiao *c, json_t *value, char *errstr,
                               size_t errstr_size)
{
    size_t i;
    json_t *code;

    if (!json_is_array(value)) {
        ob_strlcpyf(errstr, errstr_size,
                    "settings.retry_codes: must be an array of errorCode strings");
        return -1;
    }
    json_array_foreach(value, i, code) {
        const char *s = json_string_value(code);

        if (!s || !*s) {
            ob_strlcpyf(errstr, errstr_size, "settings.retry_codes[%zu]: must be a non-empty string",
                        i);
            return -1;
        }
        for (size_t k = 0; k < sizeof permanent_codes / sizeof permanent_codes[0]; k++)
            if (strcmp(s, permanent_codes[k]) == 0) {
                ob_strlcpyf(errstr, errstr_size,
                            "settings.retry_codes[%zu]: %s is a permanent refusal (S01 malformed "
                            "document, S02 digest check failed) and cannot be retried",
                            i, s);
                return -1;
            }
        if (strcmp(s, CODE_EXISTS) == 0) {
            ob_strlcpyf(errstr, errstr_size,
                        "settings.retry_codes[%zu]: " CODE_EXISTS " means the order is accepted",
                        i);
            return -1;
        }
        if (add_retry_code(c, s) != 0) {
            ob_strlcpyf(errstr, errstr_size, "out of memory");
            return -1;
        }
    }
    return 0;
}

static int cainiao_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                        char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const char *secret = env->credential(env, "secret");
    int have_retry_codes = 0;
    const char *key;
    json_t *value;
    struct cainiao *c;
    char probe[8];

    if (!secret || !*secret) {
        ob_strlcpyf(errstr, errstr_size,
                    "credentials.secret is required (the LINK secret key; env:NAME or file:PATH)");
        return -1;
    }
    if (settings && !json_is_object(settings)) {
        ob_strlcpyf(errstr, errstr_size, "settings: must be an object");
        return -1;
    }
    c = calloc(1, sizeof(*c));
    if (!c)
        goto oom;
    c->env = env;
    c->secret = secret;
    if (settings) {
        json_object_foreach((json_t *)settings, key, value) {
            if (strcmp(key, "logistic_provider_id") == 0) {
                if (string_setting(key, value, &c->provider_id, errstr, errstr_size) != 0)
                    goto fail;
            } else if (strcmp(key, "to_code") == 0) {
                if (string_setting(key, value, &c->to_code, errstr, errstr_size) != 0)
                    goto fail;
            } else if (strcmp(key, "time_zone") == 0) {
                if (string_setting(key, value, &c->time_zone, errstr, errstr_size) != 0)
                    goto fail;
                if (ob_time_format(0, c->time_zone, "yyyy", probe, sizeof probe) != 0) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.time_zone: unknown time zone \"%.64s\" (UTC, a fixed "
                                "offset such as +08:00, or Asia/Shanghai and other zones "
                                "without daylight saving time)",
                                c->time_zone);
                    goto fail;
                }
            } else if (strcmp(key, "retry_codes") == 0) {
                if (retry_codes_setting(c, value, errstr, errstr_size) != 0)
                    goto fail;
                have_retry_codes = 1;
            } else {
                ob_strlcpyf(errstr, errstr_size,
                            "settings.%s: unknown setting (known: logistic_provider_id, to_code, "
                            "time_zone, retry_codes)",
                            key);
                goto fail;
            }
        }
    }
    if (!c->provider_id) {
        ob_strlcpyf(errstr, errstr_size,
                    "settings.logistic_provider_id: required (the LINK logistic_provider_id "
                    "issued with the secret)");
        goto fail;
    }
    if (!c->time_zone && !(c->time_zone = strdup(DEFAULT_TIME_ZONE)))
        goto oom;
    for (size_t i = 0; !have_retry_codes && i < sizeof default_retry_codes /
                                                    sizeof default_retry_codes[0]; i++)
        if (add_retry_code(c, default_retry_codes[i]) != 0)
            goto oom;
    *state = c;
    return 0;
oom:
    ob_strlcpyf(errstr, errstr_size, "out of memory");
fail:
    cainiao_destroy(c);
    return -1;
}

/* <name>text</name>; errstr names the order field that cannot be XML text. */
static int element(struct ob_xml *x, const char *name, const char *text, const char *field,
                   char *errstr, size_t errstr_size)
{
    if (ob_xml_element(x, name, text) == 0)
        return 0;
    ob_strlcpyf(errstr, errstr_size,
                "%s cannot be written as XML text (invalid UTF-8 or a control character)", field);
    return -1;
}

/* The logistics_interface document, appended to `out`. */
static int build_document(const struct ob_order *order, struct ob_buf *out, char *errstr,
                          size_t errstr_size)
{
    const struct ob_address *a = &order->shipping_address;
    struct ob_xml *x = ob_xml_new();
    char field[64], qty[16];
    int rc = -1;

    if (errstr_size > 0)
        errstr[0] = '\0';
    if (!x) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (ob_xml_start(x, "request") != 0 ||
        element(x, "logisticsOrderCode", order->order_id, "order_id", errstr, errstr_size) != 0 ||
        ob_xml_start(x, "receiverInfo") != 0 ||
        element(x, "name", a->name, "shipping_address.name", errstr, errstr_size) != 0 ||
        element(x, "mobile", a->phone, "shipping_address.phone", errstr, errstr_size) != 0 ||
        element(x, "province", a->province, "shipping_address.province", errstr, errstr_size) != 0 ||
        element(x, "city", a->city, "shipping_address.city", errstr, errstr_size) != 0 ||
        element(x, "area", a->district, "shipping_address.district", errstr, errstr_size) != 0 ||
        element(x, "address", a->street, "shipping_address.street", errstr, errstr_size) != 0 ||
        ob_xml_end(x) != 0 || ob_xml_start(x, "items") != 0)
        goto done;
    for (size_t i = 0; i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];

        snprintf(qty, sizeof qty, "%d", it->quantity);
        if (ob_xml_start(x, "item") != 0)
            goto done;
        snprintf(field, sizeof field, "items[%zu].sku", i);
        if (element(x, "itemCode", it->sku, field, errstr, errstr_size) != 0)
            goto done;
        snprintf(field, sizeof field, "items[%zu].name", i);
        if (element(x, "itemName", it->name ? it->name : it->sku, field, errstr, errstr_size) != 0 ||
            ob_xml_element(x, "itemQuantity", qty) != 0 || ob_xml_end(x) != 0)
            goto done;
    }
    if (ob_xml_end(x) != 0 || ob_xml_end(x) != 0 || ob_xml_finish(x, 0, out) != 0)
        goto done;
    rc = 0;
done:
    if (rc != 0 && errstr_size > 0 && !errstr[0])
        ob_strlcpyf(errstr, errstr_size, "cannot build the logistics_interface XML");
    ob_xml_free(x);
    return rc;
}

/* Base64(MD5(content + secret)) into `out`. The concatenation is wiped. */
static int data_digest(const char *content, size_t len, const char *secret, struct ob_buf *out)
{
    struct ob_buf signed_text;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_buf_init(&signed_text, OB_BUF_DEFAULT_MAX);
    if (ob_buf_append(&signed_text, content, len) == 0 &&
        ob_buf_appends(&signed_text, secret) == 0 &&
        ob_digest(OB_MD5, signed_text.data, signed_text.len, md, &md_len) == 0 &&
        ob_base64_encode(md, md_len, out) == 0)
        rc = 0;
    ob_buf_cleanse(&signed_text);
    return rc;
}

/* The signed LINK request carrying `content` as message `msg_type`, into
 * `out`. Returns 0, or -1 with errstr set. */
static int link_request(const struct cainiao *c, const char *msg_type, const char *content,
                        size_t content_len, struct ob_request *out, char *errstr,
                        size_t errstr_size)
{
    struct ob_buf digest, body;
    struct ob_params params = {0};
    char *text;
    size_t len;
    int rc = -1;

    ob_buf_init(&digest, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&body, OB_BUF_DEFAULT_MAX);
    if (data_digest(content, content_len, c->secret, &digest) != 0 ||
        ob_params_add(&params, "msg_type", msg_type) != 0 ||
        ob_params_add(&params, "logistic_provider_id", c->provider_id) != 0 ||
        ob_params_add(&params, "logistics_interface", content) != 0 ||
        ob_params_add(&params, "data_digest", digest.data) != 0 ||
        (c->to_code && ob_params_add(&params, "to_code", c->to_code) != 0) ||
        /* java.net.URLEncoder, as LINK's own clients: '+' of the digest -> %2B */
        ob_params_form(&params, OB_URL_JAVA, &body) != 0 || !(text = ob_buf_steal(&body, &len))) {
        ob_strlcpyf(errstr, errstr_size, "cannot build the request (out of memory or too large)");
        goto cleanup;
    }
    ob_request_take_body(out, text, len);
    out->method = "POST";
    if (ob_request_set_url(out, "%s" GATEWAY_PATH, c->env->endpoint) != 0 ||
        ob_request_add_header(out, "Content-Type",
                              "application/x-www-form-urlencoded; charset=UTF-8") != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup; /* the bridge frees what was built so far */
    }
    rc = 0;
cleanup:
    ob_params_free(&params);
    ob_buf_reset(&digest);
    ob_buf_reset(&body);
    return rc;
}

static int cainiao_encode(void *state, const struct ob_order *order,
                          const struct ob_delivery *delivery, struct ob_request *out,
                          char *errstr, size_t errstr_size)
{
    struct cainiao *c = state;
    struct ob_buf doc;
    int rc = -1;

    (void)delivery; /* LINK dedupes by logisticsOrderCode; it has no field for the key */
    /* Only creation is modelled; an update or a cancellation pushed as a
     * create would be answered ORDER_EXISTS and wrongly reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the cainiao adapter yet",
                    order->event_name);
        return -1;
    }
    ob_buf_init(&doc, OB_BUF_DEFAULT_MAX);
    if (build_document(order, &doc, errstr, errstr_size) != 0)
        goto cleanup;
    rc = link_request(c, MSG_TYPE, doc.data, doc.len, out, errstr, errstr_size);
cleanup:
    ob_buf_reset(&doc);
    return rc;
}

/* Bytes of `s` to quote: at most MAX_QUOTE, never cutting a UTF-8 sequence. */
static int quote_len(const char *s)
{
    size_t n = strlen(s);

    if (n <= MAX_QUOTE)
        return (int)n;
    n = MAX_QUOTE;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return (int)n;
}

static int is_retry_code(const struct cainiao *c, const char *code)
{
    for (size_t i = 0; i < c->n_retry_codes; i++)
        if (strcmp(code, c->retry_codes[i]) == 0)
            return 1;
    return 0;
}

static const char *member(json_t *doc, const char *key)
{
    const char *s = json_string_value(json_object_get(doc, key));

    return s ? s : "";
}

/* The LINK result of a 2xx answer. */
static void classify_body(const struct cainiao *c, const struct ob_response *resp,
                          struct ob_outcome *out)
{
    json_t *doc = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    json_t *success = json_object_get(doc, "success");
    const char *s = json_string_value(success);
    int ok;

    if (json_is_boolean(success))
        ok = json_is_true(success);
    else if (s && strcmp(s, "true") == 0)
        ok = 1;
    else if (s && strcmp(s, "false") == 0)
        ok = 0;
    else {
        /* A proxy's error page, a cut answer: the order may or may not be
         * there. Retrying is safe, the gateway dedupes by logisticsOrderCode. */
        const char *body = resp->body ? resp->body : "";
        out->kind = OB_OUTCOME_RETRY;
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "HTTP %ld but no LINK result (%s): %.*s", resp->status,
                    !doc               ? "not JSON"
                    : !json_is_object(doc) ? "not a JSON object"
                    : success          ? "\"success\" is neither \"true\" nor \"false\""
                                       : "no \"success\"",
                    quote_len(body), body);
        json_decref(doc);
        return;
    }

    const char *code = member(doc, "errorCode"), *msg = member(doc, "errorMsg");
    ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s",
                member(doc, "orderCode"));
    ob_strlcpyf(out->tracking_no, sizeof(out->tracking_no), "%s", member(doc, "mailNo"));
    if (ok) {
        out->kind = OB_OUTCOME_ACCEPTED;
    } else if (strcmp(code, CODE_EXISTS) == 0) {
        out->kind = OB_OUTCOME_ACCEPTED;
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "already known to the warehouse (cainiao " CODE_EXISTS ": %.*s)",
                    quote_len(msg), msg);
    } else {
        out->kind = is_retry_code(c, code) ? OB_OUTCOME_RETRY : OB_OUTCOME_PERMANENT;
        if (out->kind == OB_OUTCOME_RETRY) {
            long ms = ob_response_retry_after_ms(resp);
            out->retry_after_ms = ms > 0 ? (int)ms : 0;
        }
        ob_strlcpyf(out->reason, sizeof(out->reason), "cainiao %s: %.*s",
                    *code ? code : "(no errorCode)", quote_len(msg), msg);
    }
    json_decref(doc);
}

static void cainiao_decode_response(void *state, const struct ob_order *order,
                                    const struct ob_delivery *delivery,
                                    const struct ob_response *resp, struct ob_outcome *out)
{
    const struct cainiao *c = state;
    (void)order;
    (void)delivery;

    if (!ob_outcome_from_http(resp, out))
        classify_body(c, resp, out);
}

/* ------------------------------------------------------------------------ */
/* status polling: WMS_ORDER_STATUS_QUERY                                    */

/* What each status code of the query answer means (anything else: UNMAPPED,
 * kept in raw_code). */
static const struct {
    const char *code;
    enum ob_fulfillment_status status;
} status_map[] = {
    {"WMS_ACCEPT", OB_STATUS_ALLOCATED}, {"WMS_PICK", OB_STATUS_PICKED},
    {"WMS_PACKAGE", OB_STATUS_PACKED},   {"WMS_CONSIGN", OB_STATUS_SHIPPED},
    {"TMS_SIGN", OB_STATUS_DELIVERED},   {"WMS_EXCEPTION", OB_STATUS_EXCEPTION},
    {"WMS_CANCEL", OB_STATUS_CANCELLED}, {"WMS_REJECT", OB_STATUS_REJECTED},
};

static enum ob_fulfillment_status map_status(const char *code)
{
    for (size_t i = 0; i < sizeof status_map / sizeof status_map[0]; i++)
        if (strcmp(code, status_map[i].code) == 0)
            return status_map[i].status;
    return OB_STATUS_UNMAPPED;
}

static int cainiao_poll_encode(void *state, const struct ob_poll_target *target,
                               struct ob_request *out, char *errstr, size_t errstr_size)
{
    const struct cainiao *c = state;
    json_t *query = json_object();
    char *text = NULL;
    int rc = -1;

    /* json_string() refuses invalid UTF-8: NULL here, so the set fails */
    if (!query ||
        json_object_set_new(query, "logisticsOrderCode", json_string(target->order_id)) != 0 ||
        (target->warehouse_order_id && *target->warehouse_order_id &&
         json_object_set_new(query, "orderCode", json_string(target->warehouse_order_id)) != 0)) {
        ob_strlcpyf(errstr, errstr_size,
                    "cannot write the order ids as JSON text (out of memory or invalid UTF-8)");
        goto cleanup;
    }
    if (!(text = json_dumps(query, JSON_COMPACT))) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    rc = link_request(c, QUERY_MSG_TYPE, text, strlen(text), out, errstr, errstr_size);
cleanup:
    free(text);
    json_decref(query);
    return rc;
}

/* One entry of orderStatusList into `u`. */
static void status_update(const struct cainiao *c, const struct ob_poll_target *target,
                          const char *order_code, json_t *entry, struct ob_status_update *u)
{
    const char *code = member(entry, "status"), *when = member(entry, "operateTime");
    const char *tracking = member(entry, "tmsOrderCode");

    memset(u, 0, sizeof *u);
    ob_strlcpy_utf8(u->order_id, sizeof u->order_id, target->order_id);
    ob_strlcpy_utf8(u->warehouse_order_id, sizeof u->warehouse_order_id,
                    *order_code ? order_code
                                : target->warehouse_order_id ? target->warehouse_order_id : "");
    u->status = map_status(code);
    ob_strlcpy_utf8(u->raw_code, sizeof u->raw_code, code);
    ob_strlcpy_utf8(u->raw_text, sizeof u->raw_text, member(entry, "statusDesc"));
    /* unreadable or absent: 0, the bridge uses the time it learnt it */
    if (!*when || ob_time_parse(when, c->time_zone, "yyyy-MM-dd HH:mm:ss", &u->occurred_at_ms) != 0)
        u->occurred_at_ms = 0;
    ob_strlcpy_utf8(u->carrier, sizeof u->carrier, member(entry, "tmsCode"));
    ob_strlcpy_utf8(u->tracking_no, sizeof u->tracking_no,
                    *tracking ? tracking : member(entry, "mailNo"));
    if (u->status == OB_STATUS_EXCEPTION || u->status == OB_STATUS_CANCELLED ||
        u->status == OB_STATUS_REJECTED)
        ob_strlcpy_utf8(u->reason, sizeof u->reason, member(entry, "remark"));
}

static int cainiao_poll_decode(void *state, const struct ob_poll_target *target,
                               const struct ob_response *resp, struct ob_status_update *out,
                               size_t max, char *errstr, size_t errstr_size)
{
    const struct cainiao *c = state;
    json_t *doc = NULL, *success, *list, *entry;
    const char *s, *code, *about;
    size_t i, n, unmapped = 0, written = 0;
    struct ob_history_fit fit;
    int ok, rc = -1;

    if (resp->status == 0) {
        ob_strlcpyf(errstr, errstr_size, "no answer: %s",
                    resp->transport_error ? resp->transport_error : "(no detail)");
        return -1;
    }
    if (resp->status < 200 || resp->status > 299) {
        ob_strlcpyf(errstr, errstr_size, "HTTP %ld", resp->status);
        return -1;
    }
    doc = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    success = json_object_get(doc, "success");
    s = json_string_value(success);
    if (json_is_boolean(success))
        ok = json_is_true(success);
    else if (s && (strcmp(s, "true") == 0 || strcmp(s, "false") == 0))
        ok = strcmp(s, "true") == 0;
    else {
        ob_strlcpyf(errstr, errstr_size, "HTTP %ld but no LINK result (%s)", resp->status,
                    !doc                   ? "not JSON"
                    : !json_is_object(doc) ? "not a JSON object"
                    : success              ? "\"success\" is neither \"true\" nor \"false\""
                                           : "no \"success\"");
        goto cleanup;
    }
    code = member(doc, "errorCode");
    if (!ok) {
        if (strcmp(code, CODE_NOT_FOUND) == 0)
            ob_strlcpyf(errstr, errstr_size,
                        "cainiao " CODE_NOT_FOUND ": the warehouse does not know the order");
        else
            ob_strlcpyf(errstr, errstr_size, "cainiao %s: %.*s", *code ? code : "(no errorCode)",
                        quote_len(member(doc, "errorMsg")), member(doc, "errorMsg"));
        goto cleanup;
    }
    about = member(doc, "logisticsOrderCode");
    if (*about && strcmp(about, target->order_id) != 0) {
        ob_strlcpyf(errstr, errstr_size, "the answer is about another order");
        goto cleanup;
    }
    list = json_object_get(doc, "orderStatusList");
    if (!list || json_is_null(list)) { /* nothing to report yet */
        rc = 0;
        goto cleanup;
    }
    if (!json_is_array(list)) {
        ob_strlcpyf(errstr, errstr_size, "orderStatusList is not an array");
        goto cleanup;
    }
    n = json_array_size(list);
    json_array_foreach(list, i, entry) {
        if (!json_is_object(entry) || !*member(entry, "status")) {
            ob_strlcpyf(errstr, errstr_size, "orderStatusList[%zu] has no status", i);
            goto cleanup;
        }
        unmapped += map_status(member(entry, "status")) == OB_STATUS_UNMAPPED;
    }
    /* More than fit: drop the oldest unmapped entries first, then the
     * oldest of the rest (likely emitted already). */
    ob_history_fit_init(&fit, n, unmapped, max);
    json_array_foreach(list, i, entry) {
        if (!ob_history_fit_keep(&fit,
                                 map_status(member(entry, "status")) == OB_STATUS_UNMAPPED))
            continue;
        status_update(c, target, member(doc, "orderCode"), entry, &out[written++]);
    }
    rc = (int)written;
cleanup:
    json_decref(doc);
    return rc;
}

static const struct ob_adapter cainiao_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .flags = OB_ADAPTER_NO_DOC,
    .name = "cainiao",
    .description = "Cainiao LINK gateway: form POST /gateway/link.do, " MSG_TYPE
                   " XML, data_digest Base64(MD5(content+secret)); status polled with "
                   QUERY_MSG_TYPE,
    .init = cainiao_init,
    .encode = cainiao_encode,
    .decode_response = cainiao_decode_response,
    .destroy = cainiao_destroy,
    .poll_encode = cainiao_poll_encode,
    .poll_decode = cainiao_poll_decode,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &cainiao_adapter;
}
