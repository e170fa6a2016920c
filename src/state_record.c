/* state_record.c — one order's state as a changelog record (see state_record.h). */
#include "state_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <orderbridge/sdk.h>

#include "json_record.h"
#include "order.h" /* ob_order_id_valid */
#include "track.h"

static const char *const ledger_states[] = {NULL, "in_flight", "parked", "done"};
static const char *const sources[] = {NULL, "orders", "retry", "express"};

/* --- encode ------------------------------------------------------------- */

static int encode_delivery(struct ob_json *w, const struct ob_state_delivery *d)
{
    const struct ob_ledger_entry *e = &d->entry;

    if (e->state < OB_LEDGER_IN_FLIGHT || e->state > OB_LEDGER_DONE)
        return -1;
    ob_json_object_open(w);
    ob_jw_str(w, "key", d->key);
    ob_jw_str(w, "state", ledger_states[e->state]);
    ob_jw_int(w, "attempts", e->attempts);
    ob_jw_int(w, "first_attempt_ms", e->first_attempt_ms);
    ob_jw_int(w, "updated_ms", e->updated_ms);
    if (e->state == OB_LEDGER_DONE) {
        ob_jw_str(w, "status", e->status);
        ob_jw_int(w, "http_status", e->http_status);
        ob_jw_str(w, "warehouse_order_id", e->warehouse_order_id);
        ob_jw_str(w, "carrier", e->carrier);
        ob_jw_str(w, "tracking_no", e->tracking_no);
        ob_jw_str(w, "reason", e->reason);
        if (e->source > OB_SOURCE_UNKNOWN && e->source <= OB_SOURCE_EXPRESS) {
            ob_jw_str(w, "source", sources[e->source]);
            ob_jw_int(w, "source_partition", e->source_partition);
            ob_jw_int(w, "source_offset", e->source_offset);
        }
    }
    if (e->adapter_running || e->crashes || e->alone) {
        ob_jw_int(w, "adapter_running", (int64_t)e->adapter_running);
        ob_jw_int(w, "crashes", e->crashes);
        ob_json_key(w, "alone");
        ob_json_bool(w, e->alone);
    }
    ob_json_object_close(w);
    return 0;
}

static int encode_track(struct ob_json *w, const struct ob_state_track *st)
{
    const struct ob_track *t = &st->track;
    const char *current = ob_fulfillment_status_name(t->current);

    if (!current || t->seen_next < 0 || t->seen_next >= OB_TRACK_SEEN)
        return -1;
    ob_json_object_open(w);
    ob_jw_str(w, "warehouse", st->warehouse);
    ob_jw_str(w, "current", current);
    ob_json_key(w, "emitted");
    ob_json_array_open(w);
    for (int s = 0; s < 32; s++) {
        if (!(t->emitted & (1u << s)))
            continue;
        const char *name = ob_fulfillment_status_name(s);
        if (!name)
            return -1;
        ob_json_string(w, name);
    }
    ob_json_array_close(w);
    ob_json_key(w, "seen");
    ob_json_array_open(w);
    for (int i = 0; i < OB_TRACK_SEEN; i++)
        ob_json_int(w, t->seen[i]);
    ob_json_array_close(w);
    ob_jw_int(w, "seen_next", t->seen_next);
    ob_json_key(w, "terminal");
    ob_json_bool(w, t->terminal);
    ob_jw_int(w, "revision", t->revision);
    ob_jw_int(w, "updated_ms", t->updated_ms);
    ob_jw_str(w, "idempotency_key", t->idempotency_key);
    ob_jw_str(w, "warehouse_order_id", t->warehouse_order_id);
    ob_json_object_close(w);
    return 0;
}

char *ob_state_encode(const struct ob_order_state *s, size_t *len)
{
    struct ob_buf buf;
    struct ob_json w;
    int bad = s->n_deliveries > OB_STATE_MAX_DELIVERIES || s->n_tracks > OB_STATE_MAX_TRACKS;

    ob_jw_begin(&w, &buf, OB_STATE_SCHEMA);
    ob_jw_str(&w, "order_id", s->order_id);
    ob_json_key(&w, "deliveries");
    ob_json_array_open(&w);
    for (size_t i = 0; !bad && i < s->n_deliveries; i++)
        bad = encode_delivery(&w, &s->deliveries[i]);
    ob_json_array_close(&w);
    ob_json_key(&w, "tracks");
    ob_json_array_open(&w);
    for (size_t i = 0; !bad && i < s->n_tracks; i++)
        bad = encode_track(&w, &s->tracks[i]);
    ob_json_array_close(&w);
    return ob_jw_end(&w, &buf, bad, len);
}

/* --- decode ------------------------------------------------------------- */

static void decode_delivery(struct ob_jreader *r, const json_t *o, const char *path,
                            struct ob_state_delivery *d)
{
    struct ob_ledger_entry *e = &d->entry;
    char state[16];

    if (!json_is_object(o)) {
        ob_jr_fail(r, path, "must be an object");
        return;
    }
    ob_jr_str(r, o, path, "key", d->key, sizeof(d->key), 1);
    if (!r->failed && !d->key[0])
        ob_jr_fail(r, path, "key must not be empty");
    ob_jr_str(r, o, path, "state", state, sizeof(state), 1);
    for (int s = OB_LEDGER_IN_FLIGHT; s <= OB_LEDGER_DONE; s++)
        if (strcmp(state, ledger_states[s]) == 0)
            e->state = (enum ob_ledger_state)s;
    if (!r->failed && !e->state) {
        char at[96];
        snprintf(at, sizeof(at), "%s.state", path);
        ob_jr_fail(r, at, "must be \"in_flight\", \"parked\" or \"done\"");
    }
    e->attempts = (int)ob_jr_int(r, o, path, "attempts", 0, 1000000, 1);
    e->first_attempt_ms = ob_jr_int(r, o, path, "first_attempt_ms", 0, INT64_MAX, 1);
    e->updated_ms = ob_jr_int(r, o, path, "updated_ms", 0, INT64_MAX, 1);
    ob_jr_str(r, o, path, "status", e->status, sizeof(e->status), e->state == OB_LEDGER_DONE);
    e->http_status = (long)ob_jr_int(r, o, path, "http_status", 0, 999, 0);
    ob_jr_str(r, o, path, "warehouse_order_id", e->warehouse_order_id,
            sizeof(e->warehouse_order_id), 0);
    ob_jr_str(r, o, path, "carrier", e->carrier, sizeof(e->carrier), 0);
    ob_jr_str(r, o, path, "tracking_no", e->tracking_no, sizeof(e->tracking_no), 0);
    ob_jr_str(r, o, path, "reason", e->reason, sizeof(e->reason), 0);
    e->adapter_running = (uint64_t)ob_jr_int(r, o, path, "adapter_running", 0, INT64_MAX, 0);
    e->crashes = (int)ob_jr_int(r, o, path, "crashes", 0, 1000000, 0);
    e->alone = ob_jr_bool(r, o, path, "alone");
    if (e->state == OB_LEDGER_DONE && json_object_get(o, "source")) {
        char source[16];
        ob_jr_str(r, o, path, "source", source, sizeof(source), 1);
        for (int k = OB_SOURCE_ORDERS; k <= OB_SOURCE_EXPRESS; k++)
            if (strcmp(source, sources[k]) == 0)
                e->source = k;
        if (!r->failed && !e->source) {
            char at[96];
            snprintf(at, sizeof(at), "%s.source", path);
            ob_jr_fail(r, at, "must be \"orders\", \"retry\" or \"express\"");
        }
        e->source_partition = (int32_t)ob_jr_int(r, o, path, "source_partition", 0, INT32_MAX, 1);
        e->source_offset = ob_jr_int(r, o, path, "source_offset", 0, INT64_MAX, 1);
    }
}

static void decode_track(struct ob_jreader *r, const json_t *o, const char *path,
                         struct ob_state_track *st)
{
    struct ob_track *t = &st->track;
    const json_t *emitted, *seen, *v;
    char current[24], at[96];
    size_t i;

    if (!json_is_object(o)) {
        ob_jr_fail(r, path, "must be an object");
        return;
    }
    ob_jr_str(r, o, path, "warehouse", st->warehouse, sizeof(st->warehouse), 1);
    if (!r->failed && !st->warehouse[0])
        ob_jr_fail(r, path, "warehouse must not be empty");
    ob_jr_str(r, o, path, "current", current, sizeof(current), 1);
    if (!r->failed && (t->current = ob_fulfillment_status_parse(current)) < 0) {
        snprintf(at, sizeof(at), "%s.current", path);
        ob_jr_fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\", got \"%s\"", current);
    }
    emitted = json_object_get(o, "emitted");
    snprintf(at, sizeof(at), "%s.emitted", path);
    if (!json_is_array(emitted))
        ob_jr_fail(r, at, "must be an array of statuses");
    json_array_foreach(emitted, i, v) {
        int s = json_is_string(v) ? ob_fulfillment_status_parse(json_string_value(v)) : -1;
        if (s < 0) {
            snprintf(at, sizeof(at), "%s.emitted[%zu]", path, i);
            ob_jr_fail(r, at, "must be a fulfillment.v1 status or \"UNMAPPED\"");
            break;
        }
        t->emitted |= 1u << s;
    }
    seen = json_object_get(o, "seen");
    snprintf(at, sizeof(at), "%s.seen", path);
    if (!json_is_array(seen) || json_array_size(seen) > OB_TRACK_SEEN)
        ob_jr_fail(r, at, "must be an array of at most %d integers", OB_TRACK_SEEN);
    json_array_foreach(seen, i, v) {
        if (i >= OB_TRACK_SEEN)
            break;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > UINT32_MAX) {
            snprintf(at, sizeof(at), "%s.seen[%zu]", path, i);
            ob_jr_fail(r, at, "must be an integer from 0 to %u", UINT32_MAX);
            break;
        }
        t->seen[i] = (uint32_t)json_integer_value(v);
    }
    t->seen_next = (int)ob_jr_int(r, o, path, "seen_next", 0, OB_TRACK_SEEN - 1, 1);
    t->terminal = ob_jr_bool(r, o, path, "terminal");
    t->revision = ob_jr_int(r, o, path, "revision", INT64_MIN, INT64_MAX, 1);
    t->updated_ms = ob_jr_int(r, o, path, "updated_ms", 0, INT64_MAX, 1);
    ob_jr_str(r, o, path, "idempotency_key", t->idempotency_key, sizeof(t->idempotency_key), 1);
    ob_jr_str(r, o, path, "warehouse_order_id", t->warehouse_order_id,
            sizeof(t->warehouse_order_id), 0);
}

int ob_state_decode(const char *key, size_t key_len, const void *value, size_t value_len,
                    struct ob_order_state *out, char *errstr, size_t errstr_size)
{
    struct ob_jreader r = {.err = errstr, .size = errstr_size};
    const json_t *deliveries, *tracks, *v;
    json_t *o;
    char schema[32], order_id[sizeof(out->order_id)];
    size_t i;

    memset(out, 0, sizeof(*out));
    if (errstr_size)
        errstr[0] = '\0';
    if (!key || !ob_order_id_valid(key, key_len)) {
        ob_jr_fail(&r, "key", "must be an order_id (1 to 64 of A-Z a-z 0-9 _ . : -)");
        return -1;
    }
    memcpy(out->order_id, key, key_len);
    if (!value)
        return 0; /* a tombstone: the order's state is gone */
    if (!(o = ob_jr_load(&r, value, value_len)))
        return -1;
    ob_jr_str(&r, o, "$", "schema", schema, sizeof(schema), 1);
    if (!r.failed && strcmp(schema, OB_STATE_SCHEMA) != 0)
        ob_jr_fail(&r, "$.schema", "must be \"%s\", got \"%s\"", OB_STATE_SCHEMA, schema);
    ob_jr_str(&r, o, "$", "order_id", order_id, sizeof(order_id), 1);
    if (!r.failed && strcmp(order_id, out->order_id) != 0)
        ob_jr_fail(&r, "$.order_id", "does not match the record's key");
    deliveries = json_object_get(o, "deliveries");
    if (!r.failed && (!json_is_array(deliveries) ||
                      json_array_size(deliveries) > OB_STATE_MAX_DELIVERIES))
        ob_jr_fail(&r, "$.deliveries", "must be an array of at most %d entries",
             OB_STATE_MAX_DELIVERIES);
    json_array_foreach(deliveries, i, v) {
        char path[48];
        if (r.failed)
            break;
        snprintf(path, sizeof(path), "$.deliveries[%zu]", i);
        decode_delivery(&r, v, path, &out->deliveries[i]);
        for (size_t j = 0; j < i && !r.failed; j++)
            if (strcmp(out->deliveries[j].key, out->deliveries[i].key) == 0)
                ob_jr_fail(&r, path, "key repeats that of $.deliveries[%zu]", j);
        out->n_deliveries = i + 1;
    }
    tracks = json_object_get(o, "tracks");
    if (!r.failed && (!json_is_array(tracks) || json_array_size(tracks) > OB_STATE_MAX_TRACKS))
        ob_jr_fail(&r, "$.tracks", "must be an array of at most %d entries", OB_STATE_MAX_TRACKS);
    json_array_foreach(tracks, i, v) {
        char path[48];
        if (r.failed)
            break;
        snprintf(path, sizeof(path), "$.tracks[%zu]", i);
        decode_track(&r, v, path, &out->tracks[i]);
        for (size_t j = 0; j < i && !r.failed; j++)
            if (strcmp(out->tracks[j].warehouse, out->tracks[i].warehouse) == 0)
                ob_jr_fail(&r, path, "warehouse repeats that of $.tracks[%zu]", j);
        out->n_tracks = i + 1;
    }
    json_decref(o);
    if (r.failed) {
        char keep[sizeof(out->order_id)];
        memcpy(keep, out->order_id, sizeof(keep));
        memset(out, 0, sizeof(*out));
        memcpy(out->order_id, keep, sizeof(keep));
        return -1;
    }
    return 0;
}
