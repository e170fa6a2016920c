/*
 * test_state_record.c — an order's state as a changelog record
 * (src/state_record.c): what is written reads back the same, what another
 * writer adds is skipped, what is wrong is refused by name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contract.h"

#include "state_record.h"
#include "track.h"

/* An order with a created event accepted and tracked, a cancel in flight
 * after a crash of its adapter, and a second warehouse's track. */
static void sample(struct ob_order_state *s)
{
    memset(s, 0, sizeof(*s));
    strcpy(s->order_id, "SO-20261111-0001");
    s->n_deliveries = 2;
    struct ob_state_delivery *d = &s->deliveries[0];
    memset(d->key, 'a', 64);
    d->entry.state = OB_LEDGER_DONE;
    d->entry.attempts = 2;
    d->entry.first_attempt_ms = 1794355200123;
    d->entry.updated_ms = 1794355200456;
    strcpy(d->entry.status, "ACCEPTED");
    d->entry.http_status = 201;
    strcpy(d->entry.warehouse_order_id, "WMS-88");
    strcpy(d->entry.carrier, "SF");
    strcpy(d->entry.tracking_no, "SF1234567890");
    strcpy(d->entry.reason, "created \"at once\"\n\xe4\xb8\xad");
    d->entry.source = OB_SOURCE_RETRY;
    d->entry.source_partition = 31;
    d->entry.source_offset = 9007199254740993; /* over 2^53: kept exact */
    d = &s->deliveries[1];
    memset(d->key, 'b', 64);
    d->entry.state = OB_LEDGER_IN_FLIGHT;
    d->entry.attempts = 1;
    d->entry.first_attempt_ms = 1794355300000;
    d->entry.updated_ms = 1794355300001;
    d->entry.adapter_running = 0x7fffffff12345678ull;
    d->entry.crashes = 1;
    d->entry.alone = 1;
    s->n_tracks = 2;
    struct ob_state_track *t = &s->tracks[0];
    strcpy(t->warehouse, "SF-SZ-03");
    t->track.current = OB_STATUS_SHIPPED;
    t->track.emitted = (1u << OB_STATUS_ACCEPTED) | (1u << OB_STATUS_PICKED) |
                       (1u << OB_STATUS_SHIPPED) | (1u << OB_STATUS_UNMAPPED);
    for (int i = 0; i < OB_TRACK_SEEN; i++)
        t->track.seen[i] = i < 3 ? 0xdeadbeefu - (uint32_t)i : 0;
    t->track.seen_next = 3;
    t->track.revision = -1;
    t->track.updated_ms = 1794355400000;
    memset(t->track.idempotency_key, 'a', 64);
    strcpy(t->track.warehouse_order_id, "WMS-88");
    t = &s->tracks[1];
    strcpy(t->warehouse, "EMS-CD-06");
    t->track.current = OB_STATUS_DELIVERED;
    t->track.emitted = 1u << OB_STATUS_DELIVERED;
    t->track.terminal = 1;
    t->track.revision = 7;
    memset(t->track.idempotency_key, 'c', 64);
}

static void decode_ok(const char *key, const char *value, struct ob_order_state *out)
{
    char err[256];
    int rc = ob_state_decode(key, strlen(key), value, value ? strlen(value) : 0, out, err,
                             sizeof(err));
    if (rc != 0)
        fail_msg("decode failed: %s\n%s", err, value);
}

static void test_round_trip(void **state)
{
    struct ob_order_state in, out;
    size_t len = 0;
    char *text;

    (void)state;
    sample(&in);
    text = ob_state_encode(&in, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    decode_ok(in.order_id, text, &out);
    assert_string_equal(out.order_id, in.order_id);
    assert_int_equal(out.n_deliveries, 2);
    assert_int_equal(out.n_tracks, 2);
    for (size_t i = 0; i < 2; i++) {
        const struct ob_ledger_entry *a = &in.deliveries[i].entry, *b = &out.deliveries[i].entry;
        assert_string_equal(out.deliveries[i].key, in.deliveries[i].key);
        assert_int_equal(b->state, a->state);
        assert_int_equal(b->attempts, a->attempts);
        assert_true(b->first_attempt_ms == a->first_attempt_ms);
        assert_true(b->updated_ms == a->updated_ms);
        assert_string_equal(b->status, a->status);
        assert_int_equal(b->http_status, a->http_status);
        assert_string_equal(b->warehouse_order_id, a->warehouse_order_id);
        assert_string_equal(b->carrier, a->carrier);
        assert_string_equal(b->tracking_no, a->tracking_no);
        assert_string_equal(b->reason, a->reason);
        assert_true(b->adapter_running == a->adapter_running);
        assert_int_equal(b->crashes, a->crashes);
        assert_int_equal(b->alone, a->alone);
        assert_int_equal(b->source, a->source);
        assert_int_equal(b->source_partition, a->source_partition);
        assert_true(b->source_offset == a->source_offset);
    }
    for (size_t i = 0; i < 2; i++) {
        const struct ob_track *a = &in.tracks[i].track, *b = &out.tracks[i].track;
        assert_string_equal(out.tracks[i].warehouse, in.tracks[i].warehouse);
        assert_int_equal(b->current, a->current);
        assert_int_equal(b->emitted, a->emitted);
        assert_memory_equal(b->seen, a->seen, sizeof(a->seen));
        assert_int_equal(b->seen_next, a->seen_next);
        assert_int_equal(b->terminal, a->terminal);
        assert_true(b->revision == a->revision);
        assert_true(b->updated_ms == a->updated_ms);
        assert_string_equal(b->idempotency_key, a->idempotency_key);
        assert_string_equal(b->warehouse_order_id, a->warehouse_order_id);
    }
    free(text);
}

/* The record is plain JSON a person can read with kcat: named states and
 * statuses, not numbers. */
static void test_readable(void **state)
{
    struct ob_order_state in;
    json_t *o;
    char *text;

    (void)state;
    sample(&in);
    text = ob_state_encode(&in, NULL);
    assert_non_null(text);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "schema")), "orderbridge.state.v1");
    json_t *d = json_array_get(json_object_get(o, "deliveries"), 0);
    assert_string_equal(json_string_value(json_object_get(d, "state")), "done");
    json_t *t = json_array_get(json_object_get(o, "tracks"), 0);
    assert_string_equal(json_string_value(json_object_get(t, "current")), "SHIPPED");
    assert_int_equal(json_array_size(json_object_get(t, "emitted")), 4);
    json_decref(o);
    free(text);
}

static void test_contract(void **state)
{
    struct ob_order_state in;
    json_error_t jerr;
    json_t *schema = json_load_file(OB_CONTRACTS_DIR "/orderbridge.state.v1.schema.json", 0, &jerr);
    json_t *o, *v;
    char *text;
    size_t i;

    (void)state;
    if (!schema)
        fail_msg("contract: %s", jerr.text);
    sample(&in);
    text = ob_state_encode(&in, NULL);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    members_in_schema(o, schema);
    const json_t *props = json_object_get(schema, "properties");
    json_array_foreach(json_object_get(o, "deliveries"), i, v)
        members_in_schema(v, json_object_get(json_object_get(props, "deliveries"), "items"));
    json_array_foreach(json_object_get(o, "tracks"), i, v)
        members_in_schema(v, json_object_get(json_object_get(props, "tracks"), "items"));
    json_decref(o);
    json_decref(schema);
    free(text);
}

/* A byte that is not UTF-8 (a warehouse's reason cut short) is written as
 * '?': the record stays valid JSON. */
static void test_not_utf8(void **state)
{
    struct ob_order_state in, out;
    char *text;

    (void)state;
    sample(&in);
    strcpy(in.deliveries[0].entry.reason, "cut \xe4\xb8");
    text = ob_state_encode(&in, NULL);
    assert_non_null(text);
    decode_ok(in.order_id, text, &out);
    assert_null(strchr(out.deliveries[0].entry.reason, '\xe4'));
    assert_non_null(strstr(out.deliveries[0].entry.reason, "cut "));
    free(text);
}

static void test_tombstone(void **state)
{
    struct ob_order_state out;

    (void)state;
    decode_ok("SO-1", NULL, &out);
    assert_string_equal(out.order_id, "SO-1");
    assert_int_equal(out.n_deliveries, 0);
    assert_int_equal(out.n_tracks, 0);
}

/* A newer writer's fields are skipped (a rolling upgrade). */
static void test_unknown_fields(void **state)
{
    struct ob_order_state out;

    (void)state;
    decode_ok("SO-1",
              "{\"schema\":\"orderbridge.state.v1\",\"order_id\":\"SO-1\",\"next\":{\"x\":1},"
              "\"deliveries\":[{\"key\":\"k1\",\"state\":\"parked\",\"attempts\":3,"
              "\"first_attempt_ms\":1,\"updated_ms\":2,\"lane\":\"express\"}],"
              "\"tracks\":[]}",
              &out);
    assert_int_equal(out.n_deliveries, 1);
    assert_int_equal(out.deliveries[0].entry.state, OB_LEDGER_PARKED);
    assert_int_equal(out.deliveries[0].entry.attempts, 3);
}

static void refused(const char *key, const char *value, const char *expect)
{
    struct ob_order_state out;
    char err[256];

    memset(&out, 0x5a, sizeof(out));
    if (ob_state_decode(key, strlen(key), value, strlen(value), &out, err, sizeof(err)) == 0)
        fail_msg("accepted: %s", value);
    if (!strstr(err, expect))
        fail_msg("error '%s' does not say '%s'", err, expect);
    assert_int_equal(out.n_deliveries, 0);
    assert_int_equal(out.n_tracks, 0);
}

#define HEAD "{\"schema\":\"orderbridge.state.v1\",\"order_id\":\"SO-1\","
#define DELIVERY(extra) "{\"key\":\"k\",\"state\":\"done\",\"attempts\":1,\"first_attempt_ms\":1," \
                        "\"updated_ms\":2,\"status\":\"ACCEPTED\"" extra "}"
#define TRACK(extra) "{\"warehouse\":\"W\",\"current\":\"ACCEPTED\",\"emitted\":[\"ACCEPTED\"]," \
                     "\"seen\":[],\"seen_next\":0,\"revision\":1,\"updated_ms\":5," \
                     "\"idempotency_key\":\"k\"" extra "}"

static void test_refused(void **state)
{
    (void)state;
    refused("SO-1", "{\"schema\":", "$: invalid JSON");
    refused("SO-1", "[]", "$: must be an object");
    refused("SO-1", "{\"schema\":\"orderbridge.state.v2\",\"order_id\":\"SO-1\"}",
            "$.schema: must be \"orderbridge.state.v1\", got \"orderbridge.state.v2\"");
    refused("SO-2", HEAD "\"deliveries\":[],\"tracks\":[]}",
            "$.order_id: does not match the record's key");
    refused("SO-1", HEAD "\"tracks\":[]}", "$.deliveries: must be an array");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY(",\"http_status\":\"200\"") "],\"tracks\":[]}",
            "$.deliveries[0].http_status: must be an integer");
    refused("SO-1", HEAD "\"deliveries\":[{\"key\":\"k\",\"state\":\"lost\"}],\"tracks\":[]}",
            "$.deliveries[0].state: must be \"in_flight\", \"parked\" or \"done\"");
    refused("SO-1", HEAD "\"deliveries\":[{\"key\":\"k\",\"state\":\"done\",\"attempts\":1,"
                         "\"first_attempt_ms\":1,\"updated_ms\":2}],\"tracks\":[]}",
            "$.deliveries[0].status: required field is missing");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY(",\"carrier\":\"" \
            "0123456789012345678901234567890123456789012345678901234567890123456789\"") "],"
            "\"tracks\":[]}",
            "$.deliveries[0].carrier: must be a string of at most 63 bytes");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY(",\"source\":\"elsewhere\",\"source_partition\":1,"
                                           "\"source_offset\":2") "],\"tracks\":[]}",
            "$.deliveries[0].source: must be \"orders\", \"retry\" or \"express\"");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY(",\"source\":\"orders\",\"source_partition\":1") "],"
                         "\"tracks\":[]}",
            "$.deliveries[0].source_offset: required field is missing");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY(",\"reason\":\"a\\u0000b\"") "],\"tracks\":[]}",
            "\\u0000 is not allowed");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[" TRACK(",\"current\":\"LOST\"") "]}",
            "duplicate");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[" TRACK("") ",{\"warehouse\":\"W2\","
                         "\"current\":\"PICKED\",\"emitted\":[],\"seen\":[],\"seen_next\":32}]}",
            "$.tracks[1].seen_next: must be an integer from 0 to 31");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[{\"warehouse\":\"W\",\"current\":\"LOST\"}]}",
            "$.tracks[0].current: must be a fulfillment.v1 status or \"UNMAPPED\", got \"LOST\"");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[{\"warehouse\":\"W\",\"current\":\"PICKED\","
                         "\"emitted\":[\"PICKED\",3]}]}",
            "$.tracks[0].emitted[1]: must be a fulfillment.v1 status");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[{\"warehouse\":\"W\",\"current\":\"PICKED\","
                         "\"emitted\":[],\"seen\":[-1]}]}",
            "$.tracks[0].seen[0]: must be an integer from 0 to 4294967295");
    refused("SO-1", HEAD "\"deliveries\":[" DELIVERY("") "," DELIVERY("") "],\"tracks\":[]}",
            "$.deliveries[1]: key repeats that of $.deliveries[0]");
    refused("SO-1", HEAD "\"deliveries\":[],\"tracks\":[" TRACK("") "," TRACK("") "]}",
            "$.tracks[1]: warehouse repeats that of $.tracks[0]");
    refused("", "{}", "key: must be an order_id");
    refused("SO 1", "{}", "key: must be an order_id");
}

/* More deliveries than a record holds are refused by name, not cut. */
static void test_too_many(void **state)
{
    char value[8192];
    size_t n;

    (void)state;
    n = (size_t)snprintf(value, sizeof(value), HEAD "\"deliveries\":[");
    for (int i = 0; i <= OB_STATE_MAX_DELIVERIES; i++)
        n += (size_t)snprintf(value + n, sizeof(value) - n, "%s" DELIVERY(""), i ? "," : "");
    snprintf(value + n, sizeof(value) - n, "],\"tracks\":[]}");
    refused("SO-1", value, "$.deliveries: must be an array of at most 16 entries");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_readable),
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_not_utf8),       cmocka_unit_test(test_tombstone),
        cmocka_unit_test(test_unknown_fields), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
