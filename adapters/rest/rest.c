/*
 * rest — a modern REST warehouse (ShipBob-like).
 *
 * POST {endpoint}/orders with a JSON body, "Authorization: Bearer <token>"
 * and "Idempotency-Key: <key>". The warehouse dedupes by reference_id (our
 * order_id) and answers a repeat with 422 "Duplicate reference ID", which
 * means it already has the order: accepted, not an error.
 *
 * Status callbacks follow Standard Webhooks (standardwebhooks.com): headers
 * webhook-id, webhook-timestamp (unix seconds) and webhook-signature, a
 * space-separated list of "v1,<Base64(HMAC-SHA256(key, id.timestamp.body))>"
 * where key is the Base64 after "whsec_" of credentials.webhook_secret. The
 * body is {"type":"order.picked", "timestamp":..., "data":{"reference_id":
 * <our order_id>, "id":..., "tracking":{...}, "reason":...}}.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define DEFAULT_SHIPPING_METHOD "Standard"
#define WEBHOOK_SECRET_PREFIX "whsec_"
#define WEBHOOK_TOLERANCE_MS (5 * 60 * 1000) /* Standard Webhooks' default */
#define WEBHOOK_KEY_MAX 256

struct rest {
    const struct ob_adapter_env *env;
    char *auth_header;   /* "Bearer <token>"; cleansed on destroy */
    json_t *shipping;    /* priority -> shipping method, from settings */
    char *default_method;
    unsigned char *webhook_key; /* decoded webhook_secret; NULL: callbacks refused */
    size_t webhook_key_len;
};

static void rest_destroy(void *state)
{
    struct rest *r = state;

    if (!r)
        return;
    if (r->auth_header) {
        memset(r->auth_header, 0, strlen(r->auth_header));
        free(r->auth_header);
    }
    json_decref(r->shipping);
    free(r->default_method);
    if (r->webhook_key) {
        OPENSSL_cleanse(r->webhook_key, r->webhook_key_len);
        free(r->webhook_key);
    }
    free(r);
}

/* The HMAC key of a Standard Webhooks secret: the Base64 after "whsec_" (a
 * secret without the prefix is taken as the Base64 itself, as the reference
 * libraries do). Returns 0, -1 when it is not Base64 or decodes to nothing,
 * -2 when out of memory. */
static int take_webhook_key(struct rest *r, const char *secret)
{
    struct ob_buf key;
    size_t prefix = strlen(WEBHOOK_SECRET_PREFIX);
    int rc = -1;

    if (strncmp(secret, WEBHOOK_SECRET_PREFIX, prefix) == 0)
        secret += prefix;
    ob_buf_init(&key, WEBHOOK_KEY_MAX);
    if (ob_base64_decode(secret, strlen(secret), &key) == 0 && key.len > 0) {
        r->webhook_key = malloc(key.len);
        rc = r->webhook_key ? 0 : -2;
        if (r->webhook_key) {
            memcpy(r->webhook_key, key.data, key.len);
            r->webhook_key_len = key.len;
        }
    }
    ob_buf_cleanse(&key);
    return rc;
}

static int rest_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                     char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const char *token = env->credential(env, "token");
    const char *webhook_secret = env->credential(env, "webhook_secret");
    const char *key;
    json_t *value;
    struct rest *r;
    int rc;

    if (!token || !*token) {
        ob_strlcpyf(errstr, errstr_size, "credentials.token is required (env:NAME or file:PATH)");
        return -1;
    }
    r = calloc(1, sizeof(*r));
    if (!r)
        goto oom;
    r->env = env;
    if (asprintf(&r->auth_header, "Bearer %s", token) < 0) {
        r->auth_header = NULL;
        goto oom;
    }
    r->default_method = strdup(DEFAULT_SHIPPING_METHOD);
    if (!r->default_method)
        goto oom;
    /* Optional: without it every callback is refused (FORBIDDEN). */
    rc = webhook_secret && *webhook_secret ? take_webhook_key(r, webhook_secret) : 0;
    if (rc == -2)
        goto oom;
    if (rc != 0) {
        ob_strlcpyf(errstr, errstr_size,
                    "credentials.webhook_secret: not a Standard Webhooks secret (whsec_ followed "
                    "by Base64, at most %d bytes decoded)",
                    WEBHOOK_KEY_MAX);
        goto fail;
    }
    if (settings) {
        json_object_foreach((json_t *)settings, key, value) {
            if (strcmp(key, "shipping_methods") == 0 && json_is_object(value)) {
                const char *prio;
                json_t *m;
                json_object_foreach(value, prio, m) {
                    if (strcmp(prio, "normal") != 0 && strcmp(prio, "express") != 0 &&
                        strcmp(prio, "presale") != 0) {
                        ob_strlcpyf(errstr, errstr_size,
                                    "settings.shipping_methods.%s: not an order priority (normal, "
                                    "express, presale)",
                                    prio);
                        goto fail;
                    }
                    if (!json_is_string(m)) {
                        ob_strlcpyf(errstr, errstr_size,
                                    "settings.shipping_methods.%s: must be a string", prio);
                        goto fail;
                    }
                }
                r->shipping = json_incref(value);
            } else if (strcmp(key, "default_shipping_method") == 0 && json_is_string(value)) {
                free(r->default_method);
                r->default_method = strdup(json_string_value(value));
                if (!r->default_method)
                    goto oom;
            } else {
                ob_strlcpyf(errstr, errstr_size,
                            "settings.%s: unknown setting or wrong type (known: shipping_methods "
                            "{priority: method}, default_shipping_method string)",
                            key);
                goto fail;
            }
        }
    }
    *state = r;
    return 0;
oom:
    ob_strlcpyf(errstr, errstr_size, "out of memory");
fail:
    rest_destroy(r);
    return -1;
}

static const char *shipping_method(const struct rest *r, const char *priority)
{
    const json_t *m = r->shipping ? json_object_get(r->shipping, priority) : NULL;

    return m ? json_string_value(m) : r->default_method;
}

/* "key": "value", "" for a field the order does not carry. */
static void member(struct ob_json *w, const char *key, const char *value)
{
    ob_json_key(w, key);
    ob_json_string(w, value ? value : "");
}

/* The body is written straight into the request: this runs once per order. */
static int rest_encode(void *state, const struct ob_order *order,
                       const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                       size_t errstr_size)
{
    struct rest *r = state;
    const struct ob_address *a = &order->shipping_address;
    struct ob_buf body;
    struct ob_json w;
    size_t len;
    char *text;

    /* Only creation is modelled; pushing an update or a cancellation as a
     * create would be answered "duplicate" and wrongly reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the rest adapter yet",
                    order->event_name);
        return -1;
    }
    ob_buf_init(&body, OB_BUF_DEFAULT_MAX);
    ob_json_init(&w, &body);
    ob_json_object_open(&w);
    member(&w, "reference_id", order->order_id);
    ob_json_key(&w, "recipient");
    ob_json_object_open(&w);
    member(&w, "name", a->name);
    member(&w, "phone_number", a->phone);
    member(&w, "email", order->buyer.email);
    ob_json_key(&w, "address");
    ob_json_object_open(&w);
    member(&w, "address1", a->street);
    member(&w, "address2", a->district);
    member(&w, "city", a->city);
    member(&w, "state", a->province);
    member(&w, "country", a->country);
    member(&w, "zip_code", a->postal_code);
    ob_json_object_close(&w);
    ob_json_object_close(&w);
    ob_json_key(&w, "products");
    ob_json_array_open(&w);
    for (size_t i = 0; i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];
        ob_json_object_open(&w);
        member(&w, "reference_id", it->sku);
        member(&w, "name", it->name ? it->name : it->sku);
        ob_json_key(&w, "quantity");
        ob_json_int(&w, it->quantity);
        member(&w, "unit_price", it->unit_price.text);
        ob_json_object_close(&w);
    }
    ob_json_array_close(&w);
    member(&w, "shipping_method", shipping_method(r, order->priority));
    ob_json_object_close(&w);
    if (ob_json_done(&w) != 0 || !(text = ob_buf_steal(&body, &len))) {
        ob_buf_reset(&body);
        ob_strlcpyf(errstr, errstr_size, "cannot build the JSON body (out of memory)");
        return -1;
    }
    out->method = "POST";
    if (ob_request_set_url(out, "%s/orders", r->env->endpoint) != 0 ||
        ob_request_add_header(out, "Authorization", r->auth_header) != 0 ||
        ob_request_add_header(out, "Idempotency-Key", delivery->idempotency_key) != 0 ||
        ob_request_add_header(out, "Content-Type", "application/json") != 0) {
        free(text);
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        return -1;
    }
    ob_request_take_body(out, text, len);
    return 0;
}

/* A success answer names the warehouse's order. One that cannot be read
 * (a proxy's page, a cut-off body) proves nothing: resending with the same
 * Idempotency-Key is safe, calling it accepted is not. Returns 0 or -1. */
static int take_id(const char *body, size_t len, struct ob_outcome *out)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    json_t *id = doc ? json_object_get(doc, "id") : NULL;

    if (!json_is_object(doc)) {
        json_decref(doc);
        return -1;
    }
    if (json_is_integer(id))
        ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%" JSON_INTEGER_FORMAT,
                    json_integer_value(id));
    else if (json_is_string(id))
        ob_strlcpyf(out->warehouse_order_id, sizeof(out->warehouse_order_id), "%s",
                    json_string_value(id));
    json_decref(doc);
    return 0;
}

static void rest_decode_response(void *state, const struct ob_order *order,
                                 const struct ob_delivery *delivery,
                                 const struct ob_response *resp, struct ob_outcome *out)
{
    (void)state;
    (void)order;
    (void)delivery;

    if (resp->status == 422 && resp->body && strstr(resp->body, "Duplicate reference ID")) {
        out->kind = OB_OUTCOME_ACCEPTED;
        ob_strlcpyf(out->reason, sizeof(out->reason), "already known to the warehouse");
        return;
    }
    if (ob_outcome_from_http(resp, out))
        return;
    if (take_id(resp->body, resp->body_len, out) != 0) {
        out->kind = OB_OUTCOME_RETRY;
        ob_strlcpyf(out->reason, sizeof(out->reason), "HTTP %ld with an unreadable body",
                    resp->status);
        return;
    }
    out->kind = OB_OUTCOME_ACCEPTED;
}

/* ------------------------------------------------------------------------ */
/* status callbacks                                                          */

struct event_type {
    const char *type;
    enum ob_fulfillment_status status;
};

static const struct event_type event_types[] = {
    {"order.allocated", OB_STATUS_ALLOCATED}, {"order.picked", OB_STATUS_PICKED},
    {"order.packed", OB_STATUS_PACKED},       {"order.shipped", OB_STATUS_SHIPPED},
    {"order.delivered", OB_STATUS_DELIVERED}, {"order.cancelled", OB_STATUS_CANCELLED},
    {"order.exception", OB_STATUS_EXCEPTION},
};

/* An unknown type is kept as UNMAPPED, never dropped. */
static enum ob_fulfillment_status status_of(const char *type)
{
    for (size_t i = 0; i < sizeof(event_types) / sizeof(event_types[0]); i++)
        if (strcmp(type, event_types[i].type) == 0)
            return event_types[i].status;
    return OB_STATUS_UNMAPPED;
}

/* webhook-timestamp: unix seconds, digits only. Returns 0 or -1. */
static int unix_seconds(const char *text, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;

    for (; text[n] >= '0' && text[n] <= '9'; n++) {
        if (n >= 12) /* past year 33658: not a timestamp */
            return -1;
        v = v * 10 + (text[n] - '0');
    }
    if (n == 0 || text[n] != '\0')
        return -1;
    *out = v;
    return 0;
}

/*
 * 1 when one "v1,<base64>" entry of the space-separated webhook-signature
 * list is the HMAC of `signed_text`; other versions are skipped, as the
 * specification asks. The Base64 text is compared, in constant time, as the
 * reference libraries do: a non-canonical encoding of the right MAC is not
 * the signature.
 */
static int signature_matches(const struct rest *r, const char *list,
                             const struct ob_buf *signed_text)
{
    unsigned char mac[OB_DIGEST_MAX];
    size_t mac_len = 0;
    struct ob_buf want;
    int found = 0;

    ob_buf_init(&want, 2 * OB_DIGEST_MAX);
    if (ob_hmac(OB_SHA256, r->webhook_key, r->webhook_key_len, signed_text->data,
                signed_text->len, mac, &mac_len) != 0 ||
        ob_base64_encode(mac, mac_len, &want) != 0)
        goto cleanup;
    while (*list) {
        size_t len = strcspn(list, " ");

        if (len == 3 + want.len && strncmp(list, "v1,", 3) == 0 &&
            CRYPTO_memcmp(list + 3, want.data, want.len) == 0)
            found = 1;
        list += len;
        while (*list == ' ')
            list++;
    }
cleanup:
    OPENSSL_cleanse(mac, sizeof(mac));
    ob_buf_cleanse(&want);
    return found;
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

/* The body, already authenticated, into one update. `sent_ms` is the
 * webhook-timestamp, used when the body gives no time. */
static enum ob_callback_verdict read_event(const char *body, size_t len, int64_t sent_ms,
                                           struct ob_callback_result *out)
{
    struct ob_status_update *u = &out->updates[0];
    json_t *doc = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *data, *id, *tracking;
    const char *type, *when, *reference, *carrier, *tracking_no, *reason;
    enum ob_callback_verdict v = OB_CALLBACK_MALFORMED;

    if (!json_is_object(doc)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "body is not a JSON object");
        goto cleanup;
    }
    data = json_object_get(doc, "data");
    if (opt_string(doc, "type", &type) != 0 || !type || !*type) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "type: a non-empty string is required");
        goto cleanup;
    }
    if (!json_is_object(data)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "data: an object is required");
        goto cleanup;
    }
    if (opt_string(data, "reference_id", &reference) != 0 || !reference || !*reference) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "data.reference_id: a non-empty string is required");
        goto cleanup;
    }
    if (strlen(reference) >= sizeof(u->order_id)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "data.reference_id: longer than %zu bytes",
                    sizeof(u->order_id) - 1);
        goto cleanup;
    }
    if (opt_string(doc, "timestamp", &when) != 0 ||
        (when && ob_time_parse_rfc3339(when, &u->occurred_at_ms) != 0)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "timestamp: not an RFC 3339 date-time");
        goto cleanup;
    }
    tracking = json_object_get(data, "tracking");
    if (tracking && !json_is_null(tracking) && !json_is_object(tracking)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "data.tracking: must be an object");
        goto cleanup;
    }
    if (opt_string(tracking, "carrier", &carrier) != 0 ||
        opt_string(tracking, "tracking_number", &tracking_no) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "data.tracking: carrier and tracking_number must be strings");
        goto cleanup;
    }
    if (opt_string(data, "reason", &reason) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "data.reason: must be a string");
        goto cleanup;
    }
    id = json_object_get(data, "id");
    if (json_is_integer(id)) {
        ob_strlcpyf(u->warehouse_order_id, sizeof(u->warehouse_order_id),
                    "%" JSON_INTEGER_FORMAT, json_integer_value(id));
    } else if (json_is_string(id) && strlen(json_string_value(id)) == json_string_length(id)) {
        ob_strlcpy_utf8(u->warehouse_order_id, sizeof(u->warehouse_order_id),
                        json_string_value(id));
    } else if (id && !json_is_null(id)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "data.id: must be an integer or a string");
        goto cleanup;
    }

    ob_strlcpy_utf8(u->order_id, sizeof(u->order_id), reference);
    u->status = status_of(type);
    ob_strlcpy_utf8(u->raw_code, sizeof(u->raw_code), type);
    if (!when)
        u->occurred_at_ms = sent_ms;
    ob_strlcpy_utf8(u->carrier, sizeof(u->carrier), carrier);
    ob_strlcpy_utf8(u->tracking_no, sizeof(u->tracking_no), tracking_no);
    ob_strlcpy_utf8(u->reason, sizeof(u->reason), reason);
    out->n_updates = 1;
    v = OB_CALLBACK_OK;
cleanup:
    if (v != OB_CALLBACK_OK)
        memset(u, 0, sizeof(*u));
    json_decref(doc);
    return v;
}

static enum ob_callback_verdict rest_decode_callback(void *state,
                                                     const struct ob_callback_request *req,
                                                     struct ob_callback_result *out)
{
    const struct rest *r = state;
    const char *id = ob_callback_header(req, "webhook-id");
    const char *timestamp = ob_callback_header(req, "webhook-timestamp");
    const char *signature = ob_callback_header(req, "webhook-signature");
    enum ob_callback_verdict v = OB_CALLBACK_FORBIDDEN;
    struct ob_buf signed_text;
    int64_t sent_s = 0, skew_ms;

    ob_buf_init(&signed_text, OB_BUF_DEFAULT_MAX);
    if (!r->webhook_key) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "webhook_secret not configured");
        goto cleanup;
    }
    if (!id || !*id || !timestamp || !signature) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "missing header %s",
                    !id || !*id ? "webhook-id" : !timestamp ? "webhook-timestamp"
                                                            : "webhook-signature");
        goto cleanup;
    }
    if (unix_seconds(timestamp, &sent_s) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "webhook-timestamp: not unix seconds");
        goto cleanup;
    }
    /* The signed content: id.timestamp.body, the body's exact bytes. */
    if (ob_buf_printf(&signed_text, "%s.%s.", id, timestamp) != 0 ||
        ob_buf_append(&signed_text, req->body ? req->body : "", req->body_len) != 0) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "cannot check the signature (body too "
                                                      "large or out of memory)");
        v = OB_CALLBACK_MALFORMED;
        goto cleanup;
    }
    if (!signature_matches(r, signature, &signed_text)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "signature mismatch");
        goto cleanup;
    }
    /* The window bounds replays of a captured callback; a replay within it
     * repeats a webhook-id the bridge answers without emitting again. */
    /* sent_s has at most 12 digits; an arrival time at the ends of int64 (a
     * caller's clock gone wrong) is out of the window, not an overflow */
    if (__builtin_sub_overflow(req->now_ms, sent_s * 1000, &skew_ms))
        skew_ms = req->now_ms < 0 ? INT64_MIN + 1 : INT64_MAX;
    if (skew_ms > WEBHOOK_TOLERANCE_MS || skew_ms < -WEBHOOK_TOLERANCE_MS) {
        ob_strlcpyf(out->reason, sizeof(out->reason),
                    "webhook-timestamp %" PRId64 " s %s (tolerance %d s)",
                    (skew_ms < 0 ? -skew_ms : skew_ms) / 1000,
                    skew_ms > 0 ? "in the past" : "in the future", WEBHOOK_TOLERANCE_MS / 1000);
        goto cleanup;
    }
    if (strlen(id) >= sizeof(out->delivery_id)) {
        ob_strlcpyf(out->reason, sizeof(out->reason), "webhook-id: longer than %zu bytes",
                    sizeof(out->delivery_id) - 1);
        v = OB_CALLBACK_MALFORMED;
        goto cleanup;
    }
    ob_strlcpyf(out->delivery_id, sizeof(out->delivery_id), "%s", id);
    v = read_event(req->body, req->body_len, sent_s * 1000, out);
cleanup:
    ob_buf_reset(&signed_text);
    return v;
}

static void rest_answer_callback(void *state, const struct ob_callback_request *req,
                                 enum ob_callback_verdict verdict, const char *reason,
                                 struct ob_callback_reply *out)
{
    (void)state;
    (void)req;
    (void)reason; /* never echoed: generic answers tell an attacker nothing */

    switch (verdict) {
    case OB_CALLBACK_OK:
        out->status = 200;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"ok\":true}");
        break;
    case OB_CALLBACK_FORBIDDEN:
        out->status = 401;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"error\":\"invalid signature\"}");
        break;
    case OB_CALLBACK_MALFORMED:
        out->status = 400;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"error\":\"malformed\"}");
        break;
    case OB_CALLBACK_UNKNOWN_ORDER:
        out->status = 404;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"error\":\"unknown order\"}");
        break;
    case OB_CALLBACK_TOO_LARGE:
        out->status = 413;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"error\":\"too large\"}");
        break;
    case OB_CALLBACK_RETRY:
    default: /* a verdict added later: have the warehouse send it again */
        out->status = 503;
        ob_strlcpyf(out->body, sizeof(out->body), "{\"error\":\"try again\"}");
        break;
    }
    ob_strlcpyf(out->content_type, sizeof(out->content_type), "application/json");
}

static const struct ob_adapter rest_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .flags = OB_ADAPTER_NO_DOC,
    .name = "rest",
    .description = "REST warehouse: JSON POST /orders, bearer token, Idempotency-Key header; "
                   "Standard Webhooks status callbacks",
    .init = rest_init,
    .encode = rest_encode,
    .decode_response = rest_decode_response,
    .destroy = rest_destroy,
    .decode_callback = rest_decode_callback,
    .answer_callback = rest_answer_callback,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &rest_adapter;
}
