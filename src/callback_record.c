/* callback_record.c — a verified status callback as a Kafka record (see callback_record.h). */
#include "callback_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#include "json_record.h"
#include "order.h" /* ob_order_id_valid */
#include "track.h" /* ob_fulfillment_status_name */

/* --- encode ------------------------------------------------------------- */

/* The field holds a NUL: it is a string the writer can read. */
#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

/* An optional string: left out when empty. */
static void member_opt(struct ob_json *w, const char *name, const char *v)
{
    if (v[0])
        ob_jw_str(w, name, v);
}

static int encode_update(struct ob_json *w, const struct ob_status_update *u,
                         const char *order_id)
{
    const char *status = ob_fulfillment_status_name((int)u->status);

    if (!status || u->occurred_at_ms < 0 || !TERMINATED(u->order_id) ||
        !TERMINATED(u->warehouse_order_id) || !TERMINATED(u->raw_code) ||
        !TERMINATED(u->raw_text) || !TERMINATED(u->carrier) || !TERMINATED(u->tracking_no) ||
        !TERMINATED(u->reason))
        return -1;
    /* The decoder checks each against the key: one order per record. */
    if (!ob_order_id_valid(u->order_id, strlen(u->order_id)) || strcmp(u->order_id, order_id) != 0)
        return -1;
    ob_json_object_open(w);
    ob_jw_str(w, "order_id", u->order_id);
    ob_jw_str(w, "status", status);
    ob_jw_str(w, "raw_code", u->raw_code); /* required, even when empty */
    member_opt(w, "raw_text", u->raw_text);
    ob_jw_int(w, "occurred_at_ms", u->occurred_at_ms);
    member_opt(w, "warehouse_order_id", u->warehouse_order_id);
    member_opt(w, "carrier", u->carrier);
    member_opt(w, "tracking_no", u->tracking_no);
    member_opt(w, "reason", u->reason);
    ob_json_object_close(w);
    return 0;
}

char *ob_callback_record_encode(const struct ob_callback_record *r, size_t *len)
{
    struct ob_buf buf;
    struct ob_json w;
    int bad = 0;

    if (r->n_updates < 1 || r->n_updates > OB_CALLBACK_MAX_UPDATES ||
        !TERMINATED(r->warehouse) || !r->warehouse[0] || !TERMINATED(r->delivery_id) ||
        r->received_ms < 0 || !TERMINATED(r->updates[0].order_id))
        return NULL;
    ob_jw_begin(&w, &buf, OB_CALLBACK_RECORD_SCHEMA);
    ob_jw_str(&w, "warehouse", r->warehouse);
    member_opt(&w, "delivery_id", r->delivery_id);
    ob_jw_int(&w, "received_ms", r->received_ms);
    ob_json_key(&w, "updates");
    ob_json_array_open(&w);
    for (size_t i = 0; !bad && i < r->n_updates; i++)
        bad = encode_update(&w, &r->updates[i], r->updates[0].order_id);
    ob_json_array_close(&w);
    return ob_jw_end(&w, &buf, bad, len);
}

/* --- decode ------------------------------------------------------------- */

static void decode_update(struct ob_jreader *r, const json_t *o, const char *path, const char *key,
                          struct ob_status_update *u)
{
    const json_t *sv = json_object_get(o, "status");
    char at[96];
    int s;

    if (!json_is_object(o)) {
        ob_jr_fail(r, path, "must be an object");
        return;
    }
    ob_jr_str(r, o, path, "order_id", u->order_id, sizeof(u->order_id), 1);
    snprintf(at, sizeof(at), "%s.order_id", path);
    if (!r->failed && strcmp(u->order_id, key) != 0)
        ob_jr_fail(r, at, "does not match the record's key");
    snprintf(at, sizeof(at), "%s.status", path);
    if (!sv)
        ob_jr_fail(r, at, "required field is missing");
    else if (!json_is_string(sv) || json_string_length(sv) > 16) /* longer: no status */
        ob_jr_fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\"");
    else if ((s = ob_fulfillment_status_parse(json_string_value(sv))) < 0)
        ob_jr_fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\", got \"%s\"",
             json_string_value(sv));
    else
        u->status = (enum ob_fulfillment_status)s;
    /* Required, but may be empty: a poll-style adapter copies what it got. */
    ob_jr_str(r, o, path, "raw_code", u->raw_code, sizeof(u->raw_code), 1);
    ob_jr_str(r, o, path, "raw_text", u->raw_text, sizeof(u->raw_text), 0);
    u->occurred_at_ms = ob_jr_int(r, o, path, "occurred_at_ms", 0, INT64_MAX, 0);
    ob_jr_str(r, o, path, "warehouse_order_id", u->warehouse_order_id,
            sizeof(u->warehouse_order_id), 0);
    ob_jr_str(r, o, path, "carrier", u->carrier, sizeof(u->carrier), 0);
    ob_jr_str(r, o, path, "tracking_no", u->tracking_no, sizeof(u->tracking_no), 0);
    ob_jr_str(r, o, path, "reason", u->reason, sizeof(u->reason), 0);
}

int ob_callback_record_decode(const char *key, size_t key_len, const void *value,
                              size_t value_len, struct ob_callback_record *out, char *errstr,
                              size_t errstr_size)
{
    struct ob_jreader r = {.err = errstr, .size = errstr_size};
    const json_t *updates, *v;
    json_t *o;
    char schema[32], order_id[65];
    size_t i;

    memset(out, 0, sizeof(*out));
    if (errstr_size)
        errstr[0] = '\0';
    if (!key || !ob_order_id_valid(key, key_len)) {
        ob_jr_fail(&r, "key", "must be an order_id (1 to 64 of A-Z a-z 0-9 _ . : -)");
        return -1;
    }
    memcpy(order_id, key, key_len);
    order_id[key_len] = '\0';
    if (!value) {
        ob_jr_fail(&r, "$", "a tombstone: a callback record always has a value");
        return -1;
    }
    if (!(o = ob_jr_load(&r, value, value_len)))
        return -1;
    ob_jr_str(&r, o, "$", "schema", schema, sizeof(schema), 1);
    if (!r.failed && strcmp(schema, OB_CALLBACK_RECORD_SCHEMA) != 0)
        ob_jr_fail(&r, "$.schema", "must be \"%s\", got \"%s\"", OB_CALLBACK_RECORD_SCHEMA, schema);
    ob_jr_str(&r, o, "$", "warehouse", out->warehouse, sizeof(out->warehouse), 1);
    if (!r.failed && !out->warehouse[0])
        ob_jr_fail(&r, "$.warehouse", "must not be empty");
    ob_jr_str(&r, o, "$", "delivery_id", out->delivery_id, sizeof(out->delivery_id), 0);
    out->received_ms = ob_jr_int(&r, o, "$", "received_ms", 0, INT64_MAX, 1);
    updates = json_object_get(o, "updates");
    if (!r.failed && (!json_is_array(updates) || json_array_size(updates) < 1 ||
                      json_array_size(updates) > OB_CALLBACK_MAX_UPDATES))
        ob_jr_fail(&r, "$.updates", "must be an array of 1 to %d updates", OB_CALLBACK_MAX_UPDATES);
    json_array_foreach(updates, i, v) {
        char path[48];
        if (r.failed)
            break;
        snprintf(path, sizeof(path), "$.updates[%zu]", i);
        decode_update(&r, v, path, order_id, &out->updates[i]);
        out->n_updates = i + 1;
    }
    json_decref(o);
    if (r.failed) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}
