/* callback_record.c — a verified status callback as a Kafka record (see callback_record.h). */
#include "callback_record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <orderbridge/sdk.h>

#include "order.h" /* ob_order_id_valid */
#include "track.h" /* ob_fulfillment_status_name */

/* --- encode ------------------------------------------------------------- */

/* The field holds a NUL: it is a string the writer can read. */
#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void member_str(struct ob_json *w, const char *name, const char *v)
{
    ob_json_key(w, name);
    ob_json_string(w, v); /* bytes that are not UTF-8 become '?' */
}

/* An optional string: left out when empty. */
static void member_opt(struct ob_json *w, const char *name, const char *v)
{
    if (v[0])
        member_str(w, name, v);
}

static void member_int(struct ob_json *w, const char *name, int64_t v)
{
    ob_json_key(w, name);
    ob_json_int(w, v);
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
    member_str(w, "order_id", u->order_id);
    member_str(w, "status", status);
    member_str(w, "raw_code", u->raw_code); /* required, even when empty */
    member_opt(w, "raw_text", u->raw_text);
    member_int(w, "occurred_at_ms", u->occurred_at_ms);
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
    ob_buf_init(&buf, OB_BUF_DEFAULT_MAX);
    ob_json_init(&w, &buf);
    ob_json_object_open(&w);
    member_str(&w, "schema", OB_CALLBACK_RECORD_SCHEMA);
    member_str(&w, "warehouse", r->warehouse);
    member_opt(&w, "delivery_id", r->delivery_id);
    member_int(&w, "received_ms", r->received_ms);
    ob_json_key(&w, "updates");
    ob_json_array_open(&w);
    for (size_t i = 0; !bad && i < r->n_updates; i++)
        bad = encode_update(&w, &r->updates[i], r->updates[0].order_id);
    ob_json_array_close(&w);
    ob_json_object_close(&w);
    if (bad || ob_json_done(&w) != 0) {
        ob_buf_reset(&buf);
        return NULL;
    }
    return ob_buf_steal(&buf, len);
}

/* --- decode ------------------------------------------------------------- */

struct reader {
    char *err;
    size_t size;
    int failed;
};

static void fail(struct reader *r, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (r->failed)
        return;
    r->failed = 1;
    n = snprintf(r->err, r->size, "%s: ", path);
    if (n < 0 || (size_t)n >= r->size)
        return;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->size - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Copy the string member `name` of o into buf; "" when absent and optional. */
static void get_str(struct reader *r, const json_t *o, const char *path, const char *name,
                    char *buf, size_t size, int required)
{
    const json_t *v = json_object_get(o, name);
    char at[96];

    snprintf(at, sizeof(at), "%s.%s", path, name);
    buf[0] = '\0';
    if (!v) {
        if (required)
            fail(r, at, "required field is missing");
        return;
    }
    if (!json_is_string(v)) {
        fail(r, at, "must be a string");
        return;
    }
    if (json_string_length(v) >= size) { /* jansson refused \u0000 already */
        fail(r, at, "must be a string of at most %zu bytes", size - 1);
        return;
    }
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
}

static long long get_int(struct reader *r, const json_t *o, const char *path, const char *name,
                         long long lo, long long hi, int required)
{
    const json_t *v = json_object_get(o, name);
    char at[96];

    snprintf(at, sizeof(at), "%s.%s", path, name);
    if (!v) {
        if (required)
            fail(r, at, "required field is missing");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        fail(r, at, "must be an integer from %lld to %lld", lo, hi);
        return 0;
    }
    return json_integer_value(v);
}

/* The status named `name` ("UNMAPPED" included), or -1; the SDK has no parse. */
static int status_number(const char *name)
{
    for (int s = 0; s < 32; s++) {
        const char *n = ob_fulfillment_status_name(s);
        if (!n)
            break;
        if (strcmp(n, name) == 0)
            return s;
    }
    return -1;
}

static void decode_update(struct reader *r, const json_t *o, const char *path, const char *key,
                          struct ob_status_update *u)
{
    const json_t *sv = json_object_get(o, "status");
    char at[96];
    int s;

    if (!json_is_object(o)) {
        fail(r, path, "must be an object");
        return;
    }
    get_str(r, o, path, "order_id", u->order_id, sizeof(u->order_id), 1);
    snprintf(at, sizeof(at), "%s.order_id", path);
    if (!r->failed && strcmp(u->order_id, key) != 0)
        fail(r, at, "does not match the record's key");
    snprintf(at, sizeof(at), "%s.status", path);
    if (!sv)
        fail(r, at, "required field is missing");
    else if (!json_is_string(sv) || json_string_length(sv) > 16) /* longer: no status */
        fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\"");
    else if ((s = status_number(json_string_value(sv))) < 0)
        fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\", got \"%s\"",
             json_string_value(sv));
    else
        u->status = (enum ob_fulfillment_status)s;
    /* Required, but may be empty: a poll-style adapter copies what it got. */
    get_str(r, o, path, "raw_code", u->raw_code, sizeof(u->raw_code), 1);
    get_str(r, o, path, "raw_text", u->raw_text, sizeof(u->raw_text), 0);
    u->occurred_at_ms = get_int(r, o, path, "occurred_at_ms", 0, INT64_MAX, 0);
    get_str(r, o, path, "warehouse_order_id", u->warehouse_order_id,
            sizeof(u->warehouse_order_id), 0);
    get_str(r, o, path, "carrier", u->carrier, sizeof(u->carrier), 0);
    get_str(r, o, path, "tracking_no", u->tracking_no, sizeof(u->tracking_no), 0);
    get_str(r, o, path, "reason", u->reason, sizeof(u->reason), 0);
}

int ob_callback_record_decode(const char *key, size_t key_len, const void *value,
                              size_t value_len, struct ob_callback_record *out, char *errstr,
                              size_t errstr_size)
{
    struct reader r = {.err = errstr, .size = errstr_size};
    const json_t *updates, *v;
    json_error_t jerr;
    json_t *o;
    char schema[32], order_id[65];
    size_t i;

    memset(out, 0, sizeof(*out));
    if (errstr_size)
        errstr[0] = '\0';
    if (!key || !ob_order_id_valid(key, key_len)) {
        fail(&r, "key", "must be an order_id (1 to 64 of A-Z a-z 0-9 _ . : -)");
        return -1;
    }
    memcpy(order_id, key, key_len);
    order_id[key_len] = '\0';
    if (!value) {
        fail(&r, "$", "a tombstone: a callback record always has a value");
        return -1;
    }
    o = json_loadb(value, value_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o) {
        fail(&r, "$", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
             jerr.text);
        return -1;
    }
    if (!json_is_object(o))
        fail(&r, "$", "must be an object");
    get_str(&r, o, "$", "schema", schema, sizeof(schema), 1);
    if (!r.failed && strcmp(schema, OB_CALLBACK_RECORD_SCHEMA) != 0)
        fail(&r, "$.schema", "must be \"%s\", got \"%s\"", OB_CALLBACK_RECORD_SCHEMA, schema);
    get_str(&r, o, "$", "warehouse", out->warehouse, sizeof(out->warehouse), 1);
    if (!r.failed && !out->warehouse[0])
        fail(&r, "$.warehouse", "must not be empty");
    get_str(&r, o, "$", "delivery_id", out->delivery_id, sizeof(out->delivery_id), 0);
    out->received_ms = get_int(&r, o, "$", "received_ms", 0, INT64_MAX, 1);
    updates = json_object_get(o, "updates");
    if (!r.failed && (!json_is_array(updates) || json_array_size(updates) < 1 ||
                      json_array_size(updates) > OB_CALLBACK_MAX_UPDATES))
        fail(&r, "$.updates", "must be an array of 1 to %d updates", OB_CALLBACK_MAX_UPDATES);
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
