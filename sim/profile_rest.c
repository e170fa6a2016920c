/*
 * profile_rest.c — the "rest" simulator profile: a ShipBob-like REST
 * warehouse, POST /orders with a bearer token, an Idempotency-Key header and
 * a JSON order deduplicated by reference_id. The default profile; the
 * table of checks and answers is in sim/README.md.
 *
 * Everything here goes through the public profile API in sim.h, so this
 * file is also the example to copy when writing a new profile.
 *
 * Status reports: Standard Webhooks (https://www.standardwebhooks.com/).
 * POST <callback_url>, Content-Type application/json, headers webhook-id
 * (msg_<unique>, the same on retries), webhook-timestamp (unix seconds of
 * the attempt) and webhook-signature "v1,<Base64(HMAC-SHA256(key, id.ts.body))>",
 * the key being the Base64-decoded secret "webhook_secret" without its
 * "whsec_" prefix (no secret: no signature header). Body
 * {"type":"order.<status>","timestamp":"<RFC 3339 UTC, ms>","data":{
 * "reference_id":..,"id":<number>[,"tracking":{"carrier":"UPS",
 * "tracking_number":"1Z..."}][,"reason":..]}}. Any 2xx is success.
 */
#include "sim.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include <orderbridge/sdk.h>

#define JSON_CT "application/json"
#define KEY_HEX 64 /* Idempotency-Key: 64 lowercase hex digits */

/* A fixed answer. Out of memory: status 0, which makes the core drop the connection. */
static void answer(struct ob_sim_reply *reply, int status, const char *body)
{
    reply->body = strdup(body);
    reply->status = reply->body != NULL ? status : 0;
}

static void bad_request(struct ob_sim *sim, struct ob_sim_reply *reply, const char *detail)
{
    ob_sim_count(sim, OB_SIM_BAD_REQUEST);
    json_t *j = json_pack("{s:s, s:s}", "error", "bad request", "detail", detail);
    reply->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    reply->status = reply->body != NULL ? 400 : 0;
}

static bool authorized(struct ob_sim *sim, const struct ob_sim_request *req)
{
    const char *token = ob_sim_secret(sim, "token");
    if (token == NULL || token[0] == '\0')
        return true; /* auth off */
    const char *v = ob_sim_header(req, "Authorization");
    if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
        return false;
    v += 7;
    while (*v == ' ')
        v++;
    return strcmp(v, token) == 0;
}

static bool json_content_type(const char *v)
{
    if (v == NULL || strncasecmp(v, JSON_CT, strlen(JSON_CT)) != 0)
        return false;
    v += strlen(JSON_CT);
    return *v == '\0' || *v == ';' || *v == ' '; /* "; charset=utf-8" is fine */
}

/* Uppercase is rejected on purpose: the contract says lowercase. */
static bool valid_key(const char *v)
{
    if (v == NULL || strlen(v) != KEY_HEX)
        return false;
    for (size_t i = 0; i < KEY_HEX; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
            return false;
    return true;
}

/* Before faults and before the body: route, then the bearer token. */
static int rest_screen(struct ob_sim *sim, const struct ob_sim_request *req,
                       struct ob_sim_reply *reply)
{
    if (strcmp(req->path, "/orders") != 0 || strcmp(req->method, "POST") != 0) {
        answer(reply, 404, "{\"error\":\"not found\"}");
        return 1;
    }
    if (!authorized(sim, req)) {
        ob_sim_count(sim, OB_SIM_UNAUTHORIZED);
        answer(reply, 401, "{\"error\":\"unauthorized\"}");
        return 1;
    }
    return 0;
}

/* POST /orders with an authorized token, not hit by a fault: validate, dedupe, create. */
static void rest_handle(struct ob_sim *sim, const struct ob_sim_request *req,
                        struct ob_sim_reply *reply)
{
    json_error_t jerr;
    char detail[256];

    if (!json_content_type(ob_sim_header(req, "Content-Type"))) {
        ob_sim_count(sim, OB_SIM_BAD_REQUEST);
        answer(reply, 415, "{\"error\":\"unsupported media type\","
                           "\"detail\":\"Content-Type must be application/json\"}");
        return;
    }
    const char *key = ob_sim_header(req, "Idempotency-Key");
    if (!valid_key(key)) {
        bad_request(sim, reply, "Idempotency-Key header missing or not 64 lowercase hex digits");
        return;
    }
    /* jansson refuses \u0000 in strings by default, so reference_id is a C string */
    json_t *doc = json_loadb(req->body, req->body_len, 0, &jerr);
    if (doc == NULL) {
        snprintf(detail, sizeof(detail), "invalid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        bad_request(sim, reply, detail);
        return;
    }
    json_t *ref = json_object_get(doc, "reference_id");
    json_t *products = json_object_get(doc, "products");
    if (!json_is_object(doc)) {
        bad_request(sim, reply, "body must be a JSON object");
        goto out;
    }
    if (!json_is_string(ref) || json_string_length(ref) == 0) {
        bad_request(sim, reply, "reference_id must be a non-empty string");
        goto out;
    }
    if (!json_is_object(json_object_get(doc, "recipient"))) {
        bad_request(sim, reply, "recipient must be an object");
        goto out;
    }
    if (!json_is_array(products) || json_array_size(products) == 0) {
        bad_request(sim, reply, "products must be a non-empty array");
        goto out;
    }

    char stored_key[KEY_HEX + 1];
    switch (ob_sim_remember(sim, json_string_value(ref), key, stored_key, sizeof(stored_key))) {
    case 0:
        ob_sim_count(sim, OB_SIM_DUPLICATE);
        if (strcmp(stored_key, key) != 0)
            ob_sim_count(sim, OB_SIM_KEY_MISMATCH);
        answer(reply, 422, "{\"errors\":{\"reference_id\":[\"Duplicate reference ID\"]}}");
        break;
    case 1: {
        ob_sim_count(sim, OB_SIM_CREATED);
        reply->created = 1; /* the core may now lose the answer (reset_after_create) */
        unsigned long id = ob_sim_next_id(sim);
        char id_text[32];
        snprintf(id_text, sizeof(id_text), "%lu", id);
        ob_sim_order_created(sim, json_string_value(ref), id_text, NULL);
        json_t *j = json_pack("{s:I, s:O, s:s}", "id", (json_int_t)id, "reference_id", ref,
                              "status", "Processing");
        reply->body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        reply->status = reply->body != NULL ? 201 : 0;
        break;
    }
    default: /* capacity reached, or out of memory */
        answer(reply, 507, "{\"error\":\"capacity exceeded\"}");
        break;
    }
out:
    json_decref(doc);
}

/* ---- status reports ------------------------------------------------------ */

static const struct ob_sim_status rest_steps[] = {
    {"order.allocated", "inventory allocated"},
    {"order.picked", "picked"},
    {"order.packed", "packed"},
    {"order.shipped", "shipped with UPS"},
    {"order.delivered", "delivered"},
};

static const struct ob_sim_ladder rest_ladder = {
    .steps = rest_steps,
    .n_steps = sizeof(rest_steps) / sizeof(rest_steps[0]),
    .exception = {"order.exception", "inventory shortage, waiting for restock"},
    .exception_after = 1, /* after order.picked */
    .swap_at = 2,         /* order.packed <-> order.shipped */
    .max_batch = 1,
    .cancel = {"order.cancelled", "cancelled at the customer's request"},
    .cancel_after = 0, /* after order.allocated */
};

int ob_sim_webhook_sign(const char *secret, const char *id, const char *timestamp,
                        const char *body, size_t body_len, char *out, size_t out_size)
{
    struct ob_buf key, msg, b64;
    unsigned char mac[OB_DIGEST_MAX];
    size_t mac_len = 0;
    int rc = -1;

    if (secret == NULL || id == NULL || timestamp == NULL || (body == NULL && body_len > 0) ||
        out == NULL)
        return -1;
    if (strncmp(secret, "whsec_", 6) == 0)
        secret += 6;
    ob_buf_init(&key, 4096);
    ob_buf_init(&msg, OB_BUF_DEFAULT_MAX);
    ob_buf_init(&b64, 128);
    if (ob_base64_decode(secret, strlen(secret), &key) == 0 && key.len > 0 &&
        ob_buf_appends(&msg, id) == 0 && ob_buf_appends(&msg, ".") == 0 &&
        ob_buf_appends(&msg, timestamp) == 0 && ob_buf_appends(&msg, ".") == 0 &&
        ob_buf_append(&msg, body, body_len) == 0 &&
        ob_hmac(OB_SHA256, key.data, key.len, msg.data, msg.len, mac, &mac_len) == 0 &&
        ob_base64_encode(mac, mac_len, &b64) == 0 && b64.len + 4 <= out_size) {
        snprintf(out, out_size, "v1,%s", b64.data);
        rc = 0;
    }
    ob_buf_cleanse(&key);
    ob_buf_reset(&msg);
    ob_buf_reset(&b64);
    return rc;
}

static char *header(const char *name, const char *value)
{
    char *h = NULL;
    if (asprintf(&h, "%s: %s", name, value) < 0)
        return NULL;
    return h;
}

static int rest_build_callback(struct ob_sim *sim, const char *callback_url,
                               const struct ob_sim_cb_item *items, size_t n,
                               const char *delivery_id, int tamper, struct ob_sim_cb_request *out)
{
    const struct ob_sim_cb_item *it = &items[0];
    const char *code = it->status->code;
    const char *secret = ob_sim_secret(sim, "webhook_secret");
    char when[40], id[64], ts[24], sig[64], tracking[24];
    json_t *body = NULL, *data;
    int rc = -1;

    if (n != 1 ||
        ob_time_format(it->occurred_ms, "UTC", "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'", when,
                       sizeof(when)) != 0)
        return -1;
    data = json_pack("{s:s, s:I}", "reference_id", it->order_ref, "id",
                     (json_int_t)strtoll(it->warehouse_id, NULL, 10));
    if (strcmp(code, "order.shipped") == 0 || strcmp(code, "order.delivered") == 0) {
        /* UPS: 1Z + 6 shipper + 2 service + 8 package */
        snprintf(tracking, sizeof(tracking), "1ZOB4R1003%08llu",
                 strtoull(it->warehouse_id, NULL, 10) % 100000000ULL);
        json_object_set_new(data, "tracking", json_pack("{s:s, s:s}", "carrier", "UPS",
                                                        "tracking_number", tracking));
    }
    if (it->status == &rest_ladder.exception)
        json_object_set_new(data, "reason", json_string(it->status->meaning));
    body = json_pack("{s:s, s:s, s:o}", "type", code, "timestamp", when, "data", data);
    if (body == NULL || (out->body = json_dumps(body, JSON_COMPACT)) == NULL)
        goto done;
    out->body_len = strlen(out->body);

    snprintf(id, sizeof(id), "msg_%s", delivery_id);
    snprintf(ts, sizeof(ts), "%lld", (long long)(ob_time_now_ms() / 1000));
    if (secret != NULL && secret[0] != '\0') {
        if (ob_sim_webhook_sign(secret, id, ts, out->body, out->body_len, sig, sizeof(sig)) != 0)
            goto done;
    } else {
        snprintf(sig, sizeof(sig), "%s", tamper ? "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" : "");
    }
    if (tamper && sig[3] != '\0')
        sig[3] = sig[3] == 'A' ? 'B' : 'A'; /* still Base64, no longer the signature */
    out->url = strdup(callback_url);
    out->headers[0] = header("Content-Type", JSON_CT);
    out->headers[1] = header("webhook-id", id);
    out->headers[2] = header("webhook-timestamp", ts);
    if (sig[0] != '\0')
        out->headers[3] = header("webhook-signature", sig);
    if (out->url == NULL || out->headers[0] == NULL || out->headers[1] == NULL ||
        out->headers[2] == NULL || (sig[0] != '\0' && out->headers[3] == NULL))
        goto done;
    rc = 0;
done:
    json_decref(body);
    return rc; /* on failure the core frees what is in out */
}

static int rest_callback_ok(long http_status, const char *body, size_t body_len)
{
    (void)body;
    (void)body_len;
    return http_status >= 200 && http_status <= 299;
}

const struct ob_sim_profile ob_sim_profile_rest = {
    .name = "rest",
    .handle = rest_handle,
    .screen = rest_screen,
    .ladder = &rest_ladder,
    .build_callback = rest_build_callback,
    .callback_ok = rest_callback_ok,
};
