/*
 * rest — a modern REST warehouse (ShipBob-like).
 *
 * POST {endpoint}/orders with a JSON body, "Authorization: Bearer <token>"
 * and "Idempotency-Key: <key>". The warehouse dedupes by reference_id (our
 * order_id) and answers a repeat with 422 "Duplicate reference ID", which
 * means it already has the order: accepted, not an error.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/adapter.h>
#include <orderbridge/sdk.h>

#define DEFAULT_SHIPPING_METHOD "Standard"

struct rest {
    const struct ob_adapter_env *env;
    char *auth_header;   /* "Bearer <token>"; cleansed on destroy */
    json_t *shipping;    /* priority -> shipping method, from settings */
    char *default_method;
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
    free(r);
}

static int rest_init(const struct ob_adapter_env *env, const void *settings_v, void **state,
                     char *errstr, size_t errstr_size)
{
    const json_t *settings = settings_v;
    const char *token = env->credential(env, "token");
    const char *key;
    json_t *value;
    struct rest *r;

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

/* json_string() of a field that may be NULL; jansson rejects NULL with NULL. */
static json_t *str_or_empty(const char *s)
{
    return json_string(s ? s : "");
}

static const char *shipping_method(const struct rest *r, const char *priority)
{
    const json_t *m = r->shipping ? json_object_get(r->shipping, priority) : NULL;

    return m ? json_string_value(m) : r->default_method;
}

static int rest_encode(void *state, const struct ob_order *order,
                       const struct ob_delivery *delivery, struct ob_request *out, char *errstr,
                       size_t errstr_size)
{
    struct rest *r = state;
    const struct ob_address *a = &order->shipping_address;
    json_t *body = NULL, *products;
    char *text = NULL;
    int rc = -1;

    /* Only creation is modelled; pushing an update or a cancellation as a
     * create would be answered "duplicate" and wrongly reported ACCEPTED. */
    if (order->event != OB_EVENT_CREATED) {
        ob_strlcpyf(errstr, errstr_size, "event %s is not supported by the rest adapter yet",
                    order->event_name);
        return -1;
    }
    products = json_array();
    for (size_t i = 0; products && i < order->n_items; i++) {
        const struct ob_order_item *it = &order->items[i];
        /* json_array_append_new steals the item, even on failure */
        if (json_array_append_new(products,
                                  json_pack("{s:s, s:s, s:i, s:s}", "reference_id", it->sku,
                                            "name", it->name ? it->name : it->sku, "quantity",
                                            it->quantity, "unit_price", it->unit_price.text)) != 0) {
            ob_strlcpyf(errstr, errstr_size, "cannot build products[%zu]", i);
            goto cleanup;
        }
    }
    body = json_pack(
        "{s:s, s:{s:o, s:o, s:o, s:{s:o, s:o, s:o, s:o, s:o, s:o}}, s:o, s:s}", "reference_id",
        order->order_id, "recipient", "name", str_or_empty(a->name), "phone_number",
        str_or_empty(a->phone), "email", str_or_empty(order->buyer.email), "address", "address1",
        str_or_empty(a->street), "address2", str_or_empty(a->district), "city",
        str_or_empty(a->city), "state", str_or_empty(a->province), "country",
        str_or_empty(a->country), "zip_code", str_or_empty(a->postal_code), "products", products,
        "shipping_method", shipping_method(r, order->priority));
    products = NULL; /* stolen by json_pack's "o", even on failure */
    if (!body) {
        ob_strlcpyf(errstr, errstr_size, "cannot build the JSON body");
        goto cleanup;
    }
    text = json_dumps(body, JSON_COMPACT);
    if (!text) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    out->method = "POST";
    if (ob_request_set_url(out, "%s/orders", r->env->endpoint) != 0 ||
        ob_request_add_header(out, "Authorization", r->auth_header) != 0 ||
        ob_request_add_header(out, "Idempotency-Key", delivery->idempotency_key) != 0 ||
        ob_request_add_header(out, "Content-Type", "application/json") != 0) {
        ob_strlcpyf(errstr, errstr_size, "out of memory");
        goto cleanup;
    }
    ob_request_take_body(out, text, strlen(text));
    text = NULL;
    rc = 0;
cleanup:
    free(text);
    json_decref(body);
    json_decref(products);
    return rc;
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

static const struct ob_adapter rest_adapter = {
    .abi = OB_ADAPTER_ABI,
    .size = sizeof(struct ob_adapter),
    .name = "rest",
    .description = "REST warehouse: JSON POST /orders, bearer token, Idempotency-Key header",
    .init = rest_init,
    .encode = rest_encode,
    .decode_response = rest_decode_response,
    .destroy = rest_destroy,
};

OB_ADAPTER_EXPORT const struct ob_adapter *ob_adapter_entry(void)
{
    return &rest_adapter;
}
