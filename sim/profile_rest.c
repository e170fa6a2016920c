/*
 * profile_rest.c — the "rest" simulator profile: a ShipBob-like REST
 * warehouse, POST /orders with a bearer token, an Idempotency-Key header and
 * a JSON order deduplicated by reference_id. The default profile; the
 * table of checks and answers is in sim/README.md.
 *
 * Everything here goes through the public profile API in sim.h, so this
 * file is also the example to copy when writing a new profile.
 */
#include "sim.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

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

const struct ob_sim_profile ob_sim_profile_rest = {
    .name = "rest",
    .handle = rest_handle,
    .screen = rest_screen,
};
