/*
 * sf_express — SF Express (顺丰) Open Platform 丰桥, order creation
 * (serviceCode EXP_RECE_CREATE_ORDER) through the unified endpoint
 * {endpoint}/std/service.
 *
 * The request is an application/x-www-form-urlencoded POST:
 *
 *   partnerID    顾客编码 (credential partner_id)
 *   requestID    a fresh UUID per HTTP request
 *   serviceCode  EXP_RECE_CREATE_ORDER
 *   timestamp    epoch milliseconds
 *   msgDigest    Base64(MD5(JavaURLEncode(msgData + timestamp + checkWord, UTF-8)))
 *   msgData      the order as a JSON string
 *
 * The answer is a JSON envelope {"apiResultCode":"A1000", "apiResultData":
 * "<JSON as a string>", ...}. Inside, errorCode "S0000" is a new order (the
 * waybill is msgData.waybillNoInfoList[].waybillNo) and "8016" (重复下单) means
 * SF already has an order with this orderId: accepted, not an error. SF
 * dedupes by orderId, which is our order_id, so a redelivered push is safe.
 * See README.md for the full classification table.
 *
 * Status callbacks are SF's route push (路由推送) in JSON mode, POSTed to
 * <callback.path>/<callback_token>: {"Body":{"WaybillRoute":[{"mailno":...,
 * "orderid":<our order_id>, "acceptTime":..., "remark":..., "opCode":"50"},
 * ...]}}, at most 10 routes, answered {"return_code":"0000"|"1000", ...}.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define SERVICE_CODE "EXP_RECE_CREATE_ORDER"
#define CONTENT_TYPE "application/x-www-form-urlencoded;charset=UTF-8"
#define DEFAULT_TIME_ZONE "Asia/Shanghai"
#define DEFAULT_EXPRESS_TYPE_ID 1 /* 顺丰特快 */
#define DEFAULT_PAY_METHOD 1      /* 寄方付 */
#define CONTACT_RECEIVER 2        /* contactType: 1 sender, 2 receiver */
#define BODY_MAX (4u * 1024 * 1024)

struct sf {
    const struct ob_adapter_env *env;
    const char *partner_id; /* the bridge's strings, valid until destroy; never logged */
    const char *check_word;
    const char *callback_token; /* NULL: route pushes refused; never logged */
    json_int_t express_type_id;
    json_int_t pay_method;
    char *monthly_card; /* NULL: not sent */
    char *time_zone;
};

static void sf_destroy(void *state)
{
    struct sf *s = state;

    if (!s)
        return;
    free(s->monthly_card);
    free(s->time_zone);
    free(s);
}

static const char *required_credential(const struct ob_adapter_env *env, const char *name,
                                       char *errstr, size_t errstr_size)
{
    const char *v = env->credential(env, name);

    if (!v || !*v) {
        ob_strlcpyf(errstr, errstr_size, "credentials.%s is required (env:NAME or file:PATH)",
                    name);
        return NULL;
    }
    return v;
}

#define KNOWN_SETTINGS                                                                            \
    "known: express_type_id integer, pay_method 1|2|3, monthly_card string, time_zone string"

static int sf_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                   char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const char *key;
    json_t *value;
    struct sf *s;

    const char *partner_id = required_credential(env, "partner_id", errstr, errstr_size);
    if (!partner_id)
        return -1;
    const char *check_word = required_credential(env, "check_word", errstr, errstr_size);
    if (!check_word)
        return -1;
    if (settings && !json_is_object(settings)) {
        ob_strlcpyf(errstr, errstr_size, "settings: must be an object (%s)", KNOWN_SETTINGS);
        return -1;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        goto oom;
    s->env = env;
    s->partner_id = partner_id;
    s->check_word = check_word;
    /* Optional: without it every route push is refused (FORBIDDEN). */
    s->callback_token = env->credential(env, "callback_token");
    if (s->callback_token && !*s->callback_token)
        s->callback_token = NULL;
    s->express_type_id = DEFAULT_EXPRESS_TYPE_ID;
    s->pay_method = DEFAULT_PAY_METHOD;
    s->time_zone = strdup(DEFAULT_TIME_ZONE);
    if (!s->time_zone)
        goto oom;
    if (settings) {
        json_object_foreach((json_t *)settings, key, value) {
            if (strcmp(key, "express_type_id") == 0) {
                if (!json_is_integer(value) || json_integer_value(value) < 1 ||
                    json_integer_value(value) > 999) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.express_type_id: must be an integer from 1 to 999 "
                                "(SF product code, e.g. 1 顺丰特快, 2 顺丰标快)");
                    goto fail;
                }
                s->express_type_id = json_integer_value(value);
            } else if (strcmp(key, "pay_method") == 0) {
                if (!json_is_integer(value) || json_integer_value(value) < 1 ||
                    json_integer_value(value) > 3) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.pay_method: must be 1 (sender pays), 2 (receiver pays) "
                                "or 3 (third party pays)");
                    goto fail;
                }
                s->pay_method = json_integer_value(value);
            } else if (strcmp(key, "monthly_card") == 0) {
                if (!json_is_string(value) || json_string_length(value) == 0) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.monthly_card: must be a non-empty string (月结卡号)");
                    goto fail;
                }
                free(s->monthly_card);
                s->monthly_card = strdup(json_string_value(value));
                if (!s->monthly_card)
                    goto oom;
            } else if (strcmp(key, "time_zone") == 0) {
                char probe[32];
                if (!json_is_string(value) ||
                    ob_time_format(0, json_string_value(value), "yyyy", probe, sizeof probe) != 0) {
                    ob_strlcpyf(errstr, errstr_size,
                                "settings.time_zone: must be \"UTC\", an offset such as "
                                "\"+08:00\" or a zone such as \"Asia/Shanghai\"");
                    goto fail;
                }
                free(s->time_zone);
                s->time_zone = strdup(json_string_value(value));
                if (!s->time_zone)
                    goto oom;
            } else {
                ob_strlcpyf(errstr, errstr_size, "settings.%s: unknown setting (%s)", key,
                            KNOWN_SETTINGS);
                goto fail;
            }
        }
    }
    *state = s;
    return 0;
oom:
    ob_strlcpyf(errstr, errstr_size, "out of memory");
fail:
    sf_destroy(s);
    return -1;
}

/* json_string() of a field that may be NULL. */
static json_t *str_or_empty(const char *s)
{
    return json_string(s ? s : "");
}

/* msgData: the order as SF's EXP_RECE_CREATE_ORDER JSON, compact. */
static char *build_msg_data(const struct sf *s, const struct ob_order *order, char *errstr,
                            size_t errstr_size)
{
    const struct ob_address *a = &order->shipping_address;
    json_t *doc = NULL, *cargo, *contacts;
    char *text = NULL;

    cargo = json_array();
    for (size_t i = 0; cargo && i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];
        /* json_array_append_new steals the item, even on failure */
        if (json_array_append_new(cargo, json_pack("{s:s, s:s, s:i}", "name",
                                                   it->name ? it->name : it->sku, "goodsCode",
                                                   it->sku, "count", it->quantity)) != 0) {
            ob_strlcpyf(errstr, errstr_size, "cannot build cargoDetails[%zu]", i);
            json_decref(cargo);
            return NULL;
        }
    }
    contacts = json_pack("[{s:i, s:o, s:o, s:o, s:o, s:o, s:o}]", "contactType",
                         CONTACT_RECEIVER, "contact", str_or_empty(a->name), "mobile",
                         str_or_empty(a->phone), "province", str_or_empty(a->province), "city",
                         str_or_empty(a->city), "county", str_or_empty(a->district), "address",
                         str_or_empty(a->street));
    doc = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I}", "orderId", order->order_id, "language",
                    "zh-CN", "contactInfoList", contacts, "cargoDetails", cargo, "expressTypeId",
                    (json_int_t)s->express_type_id, "payMethod", (json_int_t)s->pay_method);
    /* "o" steals contacts and cargo, even on failure */
    if (!doc) {
        ob_strlcpyf(errstr, errstr_size, "cannot build msgData");
        return NULL;
    }
    if ((s->monthly_card &&
         json_object_set_new(doc, "monthlyCard", json_string(s->monthly_card)) != 0) ||
        (order->remark && json_object_set_new(doc, "remark", json_string(order->remark)) != 0)) {
        ob_strlcpyf(errstr, errstr_size, "cannot build msgData");
        json_decref(doc);
        return NULL;
    }
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (!text)
        ob_strlcpyf(errstr, errstr_size, "cannot serialise msgData");
    return text;
}

/* msgDigest = Base64(MD5(JavaURLEncode(msgData + timestamp + checkWord))) into out. */
static int msg_digest(const char *msg_data, const char *timestamp, const char *check_word,
                      struct ob_buf *out)
{
    struct ob_buf raw, enc;
    unsigned char md[OB_DIGEST_MAX];
    size_t md_len = 0;
    int rc = -1;

    ob_buf_init(&raw, BODY_MAX);
    ob_buf_init(&enc, 3 * BODY_MAX);
    if (ob_buf_appends(&raw, msg_data) == 0 && ob_buf_appends(&raw, timestamp) == 0 &&
        ob_buf_appends(&raw, check_word) == 0 &&
        ob_url_encode(raw.data, raw.len, OB_URL_JAVA, &enc) == 0 &&
        ob_digest(OB_MD5, enc.data, enc.len, md, &md_len) == 0 &&
        ob_base64_encode(md, md_len, out) == 0)
        rc = 0;
    /* both hold the check word */
    ob_buf_cleanse(&raw);
    ob_buf_cleanse(&enc);
    return rc;
}

static int sf_encode(void *state, const struct ob_order *order, const struct ob_delivery *delivery,
                     struct ob_request *out, char *errstr, size_t errstr_size)
{
    struct sf *s = state;
    struct ob_params params = {0};
    struct ob_buf digest, body;
    char request_id[37], timestamp[32];
    char *msg_data = NULL;
    int rc = -1;

    (void)delivery; /* SF dedupes by orderId (= order_id); it has no idempotency-key field */
    ob_buf_init(&digest, 64);
    ob_buf_init(&body, 4 * BODY_MAX);
    /* Only creation is modelled; an update or a cancellation pushed as a
     * create would be answered 8016 (duplicate) and wrongly reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the sf_express adapter yet",
                    order->event_name);
        return -1;
    }
    msg_data = build_msg_data(s, order, errstr, errstr_size);
    if (!msg_data)
        goto cleanup;
    ob_strlcpyf(timestamp, sizeof timestamp, "%lld", (long long)ob_time_now_ms());
    if (ob_uuid4(request_id) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot make a requestID");
        goto cleanup;
    }
    if (msg_digest(msg_data, timestamp, s->check_word, &digest) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot compute msgDigest");
        goto cleanup;
    }
    if (ob_params_add(&params, "partnerID", s->partner_id) != 0 ||
        ob_params_add(&params, "requestID", request_id) != 0 ||
        ob_params_add(&params, "serviceCode", SERVICE_CODE) != 0 ||
        ob_params_add(&params, "timestamp", timestamp) != 0 ||
        ob_params_add(&params, "msgDigest", digest.data) != 0 ||
        ob_params_add(&params, "msgData", msg_data) != 0 ||
        ob_params_form(&params, OB_URL_JAVA, &body) != 0) {
        ob_strlcpyf(errstr, errstr_size, "cannot build the form body (out of memory or too big)");
        goto cleanup;
    }
    out->method = "POST";
    if (ob_request_set_url(out, "%s/std/service", s->env->endpoint) != 0 ||
        ob_request_add_header(out, "Content-Type", CONTENT_TYPE) != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    size_t len = 0;
    char *text = ob_buf_steal(&body, &len);
    if (!text) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    ob_request_take_body(out, text, len);
    rc = 0;
cleanup:
    free(msg_data);
    ob_params_free(&params);
    ob_buf_reset(&digest);
    ob_buf_reset(&body);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* the answer                                                                */

static const char *str_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The master waybill (waybillType 1), else the first waybill listed. */
static const char *waybill_no(const json_t *result)
{
    const json_t *list = json_object_get(json_object_get(result, "msgData"), "waybillNoInfoList");
    const char *first = NULL;
    size_t i;
    json_t *w;

    json_array_foreach(list, i, w) {
        const char *no = str_member(w, "waybillNo");
        json_t *type = json_object_get(w, "waybillType");
        if (!no || !*no)
            continue;
        if (json_is_integer(type) && json_integer_value(type) == 1)
            return no;
        if (!first)
            first = no;
    }
    return first;
}

/* apiResultData: a JSON string holding a JSON object (as SF sends it), or,
 * leniently, the object itself. NULL when it is neither. */
static json_t *result_data(const json_t *envelope)
{
    const json_t *d = json_object_get(envelope, "apiResultData");

    if (json_is_object(d))
        return json_incref((json_t *)d);
    if (json_is_string(d)) {
        json_t *doc = json_loadb(json_string_value(d), json_string_length(d), 0, NULL);
        if (json_is_object(doc))
            return doc;
        json_decref(doc);
    }
    return NULL;
}

static void classify_business(const json_t *result, struct ob_outcome *out)
{
    const char *code = str_member(result, "errorCode");
    const char *msg = str_member(result, "errorMsg");
    const json_t *success = json_object_get(result, "success");

    if ((code && strcmp(code, "S0000") == 0) || (!code && json_is_true(success))) {
        const char *waybill = waybill_no(result);
        out->kind = OB_OUTCOME_ACCEPTED;
        if (waybill) {
            ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s", waybill);
            ob_strlcpyf(out->tracking_no, sizeof(out->tracking_no), "%s", waybill);
            ob_strlcpyf(out->carrier, sizeof(out->carrier), "SF");
        }
    } else if (code && strcmp(code, "8016") == 0) {
        out->kind = OB_OUTCOME_ACCEPTED; /* 重复下单: SF already has this orderId */
        ob_strlcpyf(out->reason, sizeof(out->reason), "already known to SF: errorCode 8016: %.200s",
                    msg ? msg : "duplicate order");
    } else {
        out->kind = OB_OUTCOME_PERMANENT;
        ob_strlcpyf(out->reason, sizeof(out->reason), "SF errorCode %.32s: %.300s",
                    code ? code : "(none)", msg ? msg : "(no errorMsg)");
    }
}

static void sf_decode_response(void *state, const struct ob_order *order,
                               const struct ob_delivery *delivery, const struct ob_response *resp,
                               struct ob_outcome *out)
{
    (void)state;
    (void)order;
    (void)delivery;

    if (ob_outcome_from_http(resp, out))
        return;

    /* 2xx: the verdict is in the body. */
    json_t *envelope = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
    const char *api_code = str_member(envelope, "apiResultCode");
    if (!api_code) {
        /* Not SF's envelope (a proxy's page, a cut answer): SF may or may
         * not have the order, and a retry is safe (a repeat gets 8016). */
        out->kind = OB_OUTCOME_RETRY;
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "HTTP %ld: malformed answer (no apiResultCode): %.200s", resp->status,
                    resp->body ? resp->body : "");
    } else if (strcmp(api_code, "A1000") != 0) {
        const char *msg = str_member(envelope, "apiErrorMsg");
        /* A1005 (rate limited), A1009 (target service unreachable) and A1099
         * (system error) pass with time; dead-lettering them would park
         * whole batches of good orders at peak. The rest are refusals. */
        out->kind = strcmp(api_code, "A1005") == 0 || strcmp(api_code, "A1009") == 0 ||
                            strcmp(api_code, "A1099") == 0
                        ? OB_OUTCOME_RETRY
                        : OB_OUTCOME_PERMANENT;
        ob_strlcpyf(out->reason, sizeof(out->reason), "SF apiResultCode %.32s: %.300s", api_code,
                    msg && *msg ? msg : "(no apiErrorMsg)");
    } else {
        json_t *result = result_data(envelope);
        if (!result) {
            out->kind = OB_OUTCOME_RETRY;
            ob_strlcpyf(out->reason, sizeof(out->reason),
                        "SF apiResultCode A1000 with malformed apiResultData: %.200s",
                        resp->body ? resp->body : "");
        } else {
            classify_business(result, out);
            json_decref(result);
        }
    }
    json_decref(envelope);
}

/* ------------------------------------------------------------------------ */
/* status callbacks: the route push (路由推送), JSON mode                     */

#define CB_MAX_ROUTES 10 /* SF pushes at most 10 routes per request */
#define CB_CARRIER "SF"

/* Route opCodes (SF's 路由操作码) that mean something went wrong with the
 * shipment; see README.md "Status callbacks" for why these. */
static const char *const exception_codes[] = {
    "33",  /* 滞留: held (customer asked to deliver later, address problem, ...) */
    "70",  /* 派件不成功: delivery attempt failed */
    "99",  /* 退回: being returned to the sender */
    "648", /* 退回/转寄: returned or forwarded under a new waybill */
};

static enum ob_fulfillment_status route_status(const char *op_code)
{
    if (strcmp(op_code, "50") == 0) /* 顺丰已收取快件: collected */
        return OB_STATUS_SHIPPED;
    if (strcmp(op_code, "80") == 0) /* 已签收: signed for */
        return OB_STATUS_DELIVERED;
    for (size_t i = 0; i < sizeof(exception_codes) / sizeof(exception_codes[0]); i++)
        if (strcmp(op_code, exception_codes[i]) == 0)
            return OB_STATUS_EXCEPTION;
    return OB_STATUS_UNMAPPED;
}

/* A member that must be a string without NUL when present: 0 with *out
 * (NULL when absent or null), -1 for another type. */
static int opt_string(const json_t *obj, const char *key, const char **out)
{
    const json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* One WaybillRoute element into `u`. Returns 0, or -1 with out->reason. */
static int read_route(const struct sf *s, const json_t *route, size_t i,
                      struct ob_status_update *u, struct ob_callback_result *out)
{
    const char *mailno, *order_id, *op_code, *accept_time, *remark, *reason_name;

    if (!json_is_object(route)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "WaybillRoute[%zu]: not an object", i);
        return -1;
    }
    if (opt_string(route, "mailno", &mailno) != 0 || !mailno || !*mailno ||
        opt_string(route, "orderid", &order_id) != 0 || !order_id || !*order_id ||
        opt_string(route, "opCode", &op_code) != 0 || !op_code || !*op_code) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "WaybillRoute[%zu]: mailno, orderid and opCode must be non-empty strings", i);
        return -1;
    }
    if (strlen(order_id) >= sizeof(u->order_id)) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "WaybillRoute[%zu].orderid: longer than %zu bytes", i, sizeof(u->order_id) - 1);
        return -1;
    }
    if (opt_string(route, "acceptTime", &accept_time) != 0 ||
        (accept_time &&
         ob_time_parse(accept_time, s->time_zone, "yyyy-MM-dd HH:mm:ss", &u->occurred_at_ms) != 0)) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "WaybillRoute[%zu].acceptTime: not yyyy-MM-dd HH:mm:ss", i);
        return -1;
    }
    if (opt_string(route, "remark", &remark) != 0 ||
        opt_string(route, "reasonName", &reason_name) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "WaybillRoute[%zu]: remark and reasonName must be strings", i);
        return -1;
    }
    ob_strlcpy_utf8(u->order_id, sizeof(u->order_id), order_id);
    u->status = route_status(op_code);
    ob_strlcpy_utf8(u->raw_code, sizeof(u->raw_code), op_code);
    ob_strlcpy_utf8(u->raw_text, sizeof(u->raw_text), remark);
    /* SF's own id for the shipment is the waybill, as in the push answer. */
    ob_strlcpy_utf8(u->warehouse_order_id, sizeof(u->warehouse_order_id), mailno);
    ob_strlcpy_utf8(u->carrier, sizeof(u->carrier), CB_CARRIER);
    ob_strlcpy_utf8(u->tracking_no, sizeof(u->tracking_no), mailno);
    if (u->status == OB_STATUS_EXCEPTION)
        ob_strlcpy_utf8(u->reason, sizeof(u->reason),
                        remark && *remark ? remark : reason_name);
    return 0;
}

/*
 * SF documents no signature for route pushes, so the URL is the secret: the
 * warehouse is given <callback.path>/<callback_token> and the subpath must
 * be exactly "/<callback_token>".
 */
static enum ob_callback_verdict sf_decode_callback(void *state,
                                                   const struct ob_callback_request *req,
                                                   struct ob_callback_result *out)
{
    const struct sf *s = state;
    const char *sub = req->subpath ? req->subpath : "";
    enum ob_callback_verdict v = OB_CALLBACK_MALFORMED;
    json_t *doc = NULL;
    const json_t *routes;
    size_t token_len;

    if (!s->callback_token) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "callback_token not configured");
        return OB_CALLBACK_FORBIDDEN;
    }
    token_len = strlen(s->callback_token);
    if (sub[0] != '/' || strlen(sub + 1) != token_len ||
        CRYPTO_memcmp(sub + 1, s->callback_token, token_len) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "token in the path does not match");
        return OB_CALLBACK_FORBIDDEN;
    }

    doc = req->body ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    routes = json_object_get(json_object_get(doc, "Body"), "WaybillRoute");
    if (!json_is_array(routes)) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "body is not {\"Body\":{\"WaybillRoute\":[...]}}");
        goto cleanup;
    }
    if (json_array_size(routes) > CB_MAX_ROUTES) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "%zu routes (at most %d)",
                    json_array_size(routes), CB_MAX_ROUTES);
        goto cleanup;
    }
    for (size_t i = 0; i < json_array_size(routes); i++)
        if (read_route(s, json_array_get(routes, i), i, &out->updates[i], out) != 0)
            goto cleanup;
    out->n_updates = json_array_size(routes);
    v = OB_CALLBACK_OK;
cleanup:
    if (v != OB_CALLBACK_OK) {
        memset(out->updates, 0, sizeof(out->updates));
        out->n_updates = 0;
    }
    json_decref(doc);
    return v;
}

static void sf_answer_callback(void *state, const struct ob_callback_request *req,
                               enum ob_callback_verdict verdict, const char *reason,
                               struct ob_callback_reply *out)
{
    const char *msg;

    (void)state;
    (void)req;
    (void)reason; /* never echoed: fixed messages tell an attacker nothing */

    switch (verdict) {
    case OB_CALLBACK_OK:
        msg = NULL;
        break;
    case OB_CALLBACK_FORBIDDEN:
        msg = "forbidden";
        break;
    case OB_CALLBACK_MALFORMED:
        msg = "malformed";
        break;
    case OB_CALLBACK_UNKNOWN_ORDER:
        msg = "unknown order";
        break;
    case OB_CALLBACK_TOO_LARGE:
        msg = "too large";
        break;
    case OB_CALLBACK_RETRY:
    default: /* a verdict added later: have SF push it again */
        msg = "try again later";
        break;
    }
    /* Always HTTP 200: SF reads return_code, and pushes again on 1000. */
    out->status = 200;
    if (msg)
        ob_strlcpyf(out->body, sizeof(out->body),
                    "{\"return_code\":\"1000\",\"return_msg\":\"%s\"}", msg);
    else
        ob_strlcpyf(out->body, sizeof(out->body),
                    "{\"return_code\":\"0000\",\"return_msg\":\"成功\"}");
    ob_strlcpyf(out->content_type, sizeof(out->content_type), "application/json;charset=UTF-8");
}

static const struct ob_adapter sf_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .flags = OB_ADAPTER_NO_DOC,
    .name = "sf_express",
    .description = "SF Express 丰桥 EXP_RECE_CREATE_ORDER: form POST /std/service, MD5 msgDigest",
    .init = sf_init,
    .encode = sf_encode,
    .decode_response = sf_decode_response,
    .destroy = sf_destroy,
    .decode_callback = sf_decode_callback,
    .answer_callback = sf_answer_callback,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &sf_adapter;
}
