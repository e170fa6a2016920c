/*
 * test_callback_record.c — a verified status callback as a record of the
 * internal callbacks topic (src/callback_record.c): what is written reads
 * back the same, what another writer adds is skipped, what is wrong is
 * refused by name, on either side.
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

#include "callback_record.h"
#include "track.h"

/* The longest order id there is. */
#define ORDER "SO-20261111-" "0123456789012345678901234567890123456789012345678901"

/* A callback of 16 reports about one order: every status, UNMAPPED among
 * them, every field set, the last update's strings as long as they fit. */
static void sample(struct ob_callback_record *r)
{
    memset(r, 0, sizeof(*r));
    memset(r->warehouse, 'W', 64);
    strcpy(r->delivery_id, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W");
    r->received_ms = 1794355200123;
    r->n_updates = OB_CALLBACK_MAX_UPDATES;
    for (size_t i = 0; i < r->n_updates; i++) {
        struct ob_status_update *u = &r->updates[i];
        strcpy(u->order_id, ORDER);
        u->status = (enum ob_fulfillment_status)(i % (OB_STATUS_REJECTED + 1));
        snprintf(u->raw_code, sizeof(u->raw_code), "order.step%zu", i);
        snprintf(u->raw_text, sizeof(u->raw_text), "step %zu \"quoted\"\n\t\xe4\xb8\xad\x01", i);
        u->occurred_at_ms = 1794355200000 + (int64_t)i;
        snprintf(u->warehouse_order_id, sizeof(u->warehouse_order_id), "WMS-%zu", i);
        strcpy(u->carrier, "SF");
        snprintf(u->tracking_no, sizeof(u->tracking_no), "SF12345678%02zu", i);
        snprintf(u->reason, sizeof(u->reason), "reason \\ %zu", i);
    }
    struct ob_status_update *u = &r->updates[OB_CALLBACK_MAX_UPDATES - 1];
    memset(u->warehouse_order_id, 'w', sizeof(u->warehouse_order_id) - 1);
    memset(u->raw_code, 'c', sizeof(u->raw_code) - 1);
    memset(u->raw_text, 't', sizeof(u->raw_text) - 1);
    memset(u->carrier, 'k', sizeof(u->carrier) - 1);
    memset(u->tracking_no, 'n', sizeof(u->tracking_no) - 1);
    memset(u->reason, 'r', sizeof(u->reason) - 1);
    u->occurred_at_ms = INT64_MAX;
}

static void decode_ok(const char *key, const char *value, struct ob_callback_record *out)
{
    char err[256];
    int rc = ob_callback_record_decode(key, strlen(key), value, strlen(value), out, err,
                                       sizeof(err));
    if (rc != 0)
        fail_msg("decode failed: %s\n%s", err, value);
}

static void assert_same(const struct ob_callback_record *a, const struct ob_callback_record *b)
{
    assert_string_equal(b->warehouse, a->warehouse);
    assert_string_equal(b->delivery_id, a->delivery_id);
    assert_true(b->received_ms == a->received_ms);
    assert_int_equal(b->n_updates, a->n_updates);
    for (size_t i = 0; i < a->n_updates; i++) {
        const struct ob_status_update *x = &a->updates[i], *y = &b->updates[i];
        assert_string_equal(y->order_id, x->order_id);
        assert_int_equal(y->status, x->status);
        assert_string_equal(y->raw_code, x->raw_code);
        assert_string_equal(y->raw_text, x->raw_text);
        assert_true(y->occurred_at_ms == x->occurred_at_ms);
        assert_string_equal(y->warehouse_order_id, x->warehouse_order_id);
        assert_string_equal(y->carrier, x->carrier);
        assert_string_equal(y->tracking_no, x->tracking_no);
        assert_string_equal(y->reason, x->reason);
    }
}

static void test_round_trip(void **state)
{
    struct ob_callback_record in, out;
    unsigned statuses = 0;
    size_t len = 0;
    char *text;

    (void)state;
    sample(&in);
    for (size_t i = 0; i < in.n_updates; i++)
        statuses |= 1u << in.updates[i].status;
    assert_int_equal(statuses, (1u << (OB_STATUS_REJECTED + 1)) - 1); /* each, UNMAPPED too */
    text = ob_callback_record_encode(&in, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    decode_ok(in.updates[0].order_id, text, &out);
    assert_same(&in, &out);
    free(text);
}

/* Only what a record needs: the optional fields read as "" and 0, and the
 * encoder leaves the empty ones out (raw_code stays: it is required). */
static void test_minimal(void **state)
{
    struct ob_callback_record out, again;
    char *text;
    json_t *o, *u;

    (void)state;
    decode_ok("SO-1",
              "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"SF-SH-01\","
              "\"received_ms\":0,\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"UNMAPPED\","
              "\"raw_code\":\"\"}]}",
              &out);
    assert_string_equal(out.warehouse, "SF-SH-01");
    assert_string_equal(out.delivery_id, "");
    assert_int_equal(out.n_updates, 1);
    assert_int_equal(out.updates[0].status, OB_STATUS_UNMAPPED);
    assert_string_equal(out.updates[0].raw_code, "");
    assert_true(out.updates[0].occurred_at_ms == 0);
    assert_string_equal(out.updates[0].reason, "");
    text = ob_callback_record_encode(&out, NULL);
    assert_non_null(text);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_null(json_object_get(o, "delivery_id"));
    u = json_array_get(json_object_get(o, "updates"), 0);
    assert_string_equal(json_string_value(json_object_get(u, "raw_code")), "");
    assert_null(json_object_get(u, "raw_text"));
    assert_null(json_object_get(u, "carrier"));
    assert_null(json_object_get(u, "reason"));
    assert_int_equal(json_object_size(u), 4); /* order_id, status, raw_code, occurred_at_ms */
    decode_ok("SO-1", text, &again);
    assert_same(&out, &again);
    json_decref(o);
    free(text);
}

/* The record is plain JSON a person can read with kcat: named statuses. */
static void test_readable(void **state)
{
    struct ob_callback_record in;
    json_t *o, *u;
    char *text;

    (void)state;
    sample(&in);
    in.updates[3].status = OB_STATUS_PICKED;
    in.updates[4].status = OB_STATUS_UNMAPPED;
    text = ob_callback_record_encode(&in, NULL);
    assert_non_null(text);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "schema")), "orderbridge.callback.v1");
    u = json_array_get(json_object_get(o, "updates"), 3);
    assert_string_equal(json_string_value(json_object_get(u, "status")), "PICKED");
    u = json_array_get(json_object_get(o, "updates"), 4);
    assert_string_equal(json_string_value(json_object_get(u, "status")), "UNMAPPED");
    assert_int_equal(json_array_size(json_object_get(o, "updates")), 16);
    json_decref(o);
    free(text);
}

static void test_contract(void **state)
{
    struct ob_callback_record in;
    json_error_t jerr;
    json_t *schema =
        json_load_file(OB_CONTRACTS_DIR "/orderbridge.callback.v1.schema.json", 0, &jerr);
    json_t *o, *v;
    char *text;
    size_t i;

    (void)state;
    if (!schema)
        fail_msg("contract: %s", jerr.text);
    sample(&in);
    text = ob_callback_record_encode(&in, NULL);
    o = json_loads(text, 0, NULL);
    assert_non_null(o);
    members_in_schema(o, schema);
    const json_t *items =
        json_object_get(json_object_get(json_object_get(schema, "properties"), "updates"), "items");
    json_array_foreach(json_object_get(o, "updates"), i, v)
        members_in_schema(v, items);
    /* the statuses the contract lists are the ones the codec names */
    const json_t *names = json_object_get(json_object_get(json_object_get(items, "properties"),
                                                          "status"), "enum");
    assert_int_equal(json_array_size(names), OB_STATUS_REJECTED + 1);
    json_array_foreach(names, i, v) {
        int found = 0;
        for (int s = 0; s <= OB_STATUS_REJECTED; s++)
            found |= strcmp(json_string_value(v), ob_fulfillment_status_name(s)) == 0;
        if (!found)
            fail_msg("contract status %s is not a status", json_string_value(v));
    }
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(schema, "properties"), "schema"),
                            "const")),
                        OB_CALLBACK_RECORD_SCHEMA);
    json_decref(o);
    json_decref(schema);
    free(text);
}

/* A byte that is not UTF-8 (a warehouse's text cut short) is written as
 * '?': the record stays valid JSON. */
static void test_not_utf8(void **state)
{
    struct ob_callback_record in, out;
    char *text;

    (void)state;
    sample(&in);
    strcpy(in.updates[0].reason, "cut \xe4\xb8");
    strcpy(in.warehouse, "W\xff");
    text = ob_callback_record_encode(&in, NULL);
    assert_non_null(text);
    decode_ok(in.updates[0].order_id, text, &out);
    assert_string_equal(out.updates[0].reason, "cut ??");
    assert_string_equal(out.warehouse, "W?");
    free(text);
}

/* What the decoder would refuse is not written: no record that poisons
 * the topic for its reader. */
static void test_encode_refuses(void **state)
{
    struct ob_callback_record in;

    (void)state;
    sample(&in);
    in.n_updates = 0;
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.n_updates = OB_CALLBACK_MAX_UPDATES + 1;
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.updates[2].status = (enum ob_fulfillment_status)(OB_STATUS_REJECTED + 1);
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.updates[2].status = (enum ob_fulfillment_status)-1;
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    strcpy(in.updates[5].order_id, "SO-2");
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    for (size_t i = 0; i < in.n_updates; i++)
        strcpy(in.updates[i].order_id, "SO 1");
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.warehouse[0] = '\0';
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.received_ms = -1;
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    in.updates[7].occurred_at_ms = -1;
    assert_null(ob_callback_record_encode(&in, NULL));
    sample(&in);
    memset(in.updates[1].carrier, 'c', sizeof(in.updates[1].carrier)); /* no NUL */
    assert_null(ob_callback_record_encode(&in, NULL));
}

/* A newer writer's fields are skipped (a rolling upgrade). */
static void test_unknown_fields(void **state)
{
    struct ob_callback_record out;

    (void)state;
    decode_ok("SO-1",
              "{\"schema\":\"orderbridge.callback.v1\",\"next\":{\"x\":[1,2]},\"warehouse\":\"W\","
              "\"received_ms\":5,\"trace_id\":\"t\",\"updates\":[{\"order_id\":\"SO-1\","
              "\"status\":\"SHIPPED\",\"raw_code\":\"30\",\"lane\":\"express\",\"weight\":1.5,"
              "\"occurred_at_ms\":7}]}",
              &out);
    assert_string_equal(out.warehouse, "W");
    assert_true(out.received_ms == 5);
    assert_int_equal(out.n_updates, 1);
    assert_int_equal(out.updates[0].status, OB_STATUS_SHIPPED);
    assert_string_equal(out.updates[0].raw_code, "30");
    assert_true(out.updates[0].occurred_at_ms == 7);
}

/* value NULL: a tombstone */
static void refused(const char *key, const char *value, const char *expect)
{
    struct ob_callback_record out;
    char err[256];

    memset(&out, 0x5a, sizeof(out));
    if (ob_callback_record_decode(key, strlen(key), value, value ? strlen(value) : 0, &out, err,
                                  sizeof(err)) == 0)
        fail_msg("accepted: %s", value ? value : "(tombstone)");
    if (!strstr(err, expect))
        fail_msg("error '%s' does not say '%s'", err, expect);
    assert_int_equal(out.n_updates, 0);
    assert_string_equal(out.warehouse, "");
}

#define HEAD "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"W\",\"received_ms\":1,"
#define UPDATE(extra) "{\"order_id\":\"SO-1\",\"status\":\"PICKED\",\"raw_code\":\"P\"" extra "}"
#define LONG64 "0123456789012345678901234567890123456789012345678901234567890123"

static void test_refused(void **state)
{
    (void)state;
    refused("SO-1", "{\"schema\":", "$: invalid JSON");
    refused("SO-1", "", "$: invalid JSON");
    refused("SO-1", "[]", "$: must be an object");
    refused("SO-1", "{\"warehouse\":\"W\"}", "$.schema: required field is missing");
    refused("SO-1", "{\"schema\":\"orderbridge.state.v1\",\"warehouse\":\"W\"}",
            "$.schema: must be \"orderbridge.callback.v1\", got \"orderbridge.state.v1\"");
    refused("SO-2", HEAD "\"updates\":[" UPDATE("") "]}",
            "$.updates[0].order_id: does not match the record's key");
    refused("SO-1", HEAD "\"updates\":[" UPDATE("") ",{\"order_id\":\"SO-10\",\"status\":\"PICKED\","
                         "\"raw_code\":\"P\"}]}",
            "$.updates[1].order_id: does not match the record's key");
    refused("SO-1", HEAD "\"updates\":[{\"status\":\"PICKED\",\"raw_code\":\"P\"}]}",
            "$.updates[0].order_id: required field is missing");
    refused("SO-1", HEAD "\"updates\":[]}", "$.updates: must be an array of 1 to 16 updates");
    refused("SO-1", HEAD "\"updates\":{}}", "$.updates: must be an array of 1 to 16 updates");
    refused("SO-1", HEAD "\"x\":1}", "$.updates: must be an array of 1 to 16 updates");
    refused("SO-1", HEAD "\"updates\":[3]}", "$.updates[0]: must be an object");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"status\":\"PICKED\"") "]}", "duplicate");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"LOST\",\"raw_code\":\"P\"}]}",
            "$.updates[0].status: must be a fulfillment.v1 status or \"UNMAPPED\", got \"LOST\"");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"picked\",\"raw_code\":\"P\"}]}",
            "$.updates[0].status: must be a fulfillment.v1 status or \"UNMAPPED\", got \"picked\"");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"DELIVERY_FAILED\","
                         "\"raw_code\":\"P\"}]}",
            "$.updates[0].status: must be a fulfillment.v1 status or \"UNMAPPED\"");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":3,\"raw_code\":\"P\"}]}",
            "$.updates[0].status: must be a fulfillment.v1 status or \"UNMAPPED\"");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"" LONG64 "\","
                         "\"raw_code\":\"P\"}]}",
            "$.updates[0].status: must be a fulfillment.v1 status or \"UNMAPPED\"");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"raw_code\":\"P\"}]}",
            "$.updates[0].status: required field is missing");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"PICKED\"}]}",
            "$.updates[0].raw_code: required field is missing");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"PICKED\",\"raw_code\":null}]}",
            "$.updates[0].raw_code: must be a string");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"carrier\":\"" LONG64 "\"") "]}",
            "$.updates[0].carrier: must be a string of at most 63 bytes");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"raw_code\":\"" LONG64 "\"") "]}", "duplicate");
    refused("SO-1", HEAD "\"updates\":[{\"order_id\":\"SO-1\",\"status\":\"PICKED\",\"raw_code\":\"" LONG64
                         "\"}]}",
            "$.updates[0].raw_code: must be a string of at most 63 bytes");
    refused("SO-1", "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"" LONG64 "X\","
                    "\"received_ms\":1,\"updates\":[" UPDATE("") "]}",
            "$.warehouse: must be a string of at most 64 bytes");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"reason\":\"a\\u0000b\"") "]}",
            "\\u0000 is not allowed");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"occurred_at_ms\":-1") "]}",
            "$.updates[0].occurred_at_ms: must be an integer from 0 to 9223372036854775807");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"occurred_at_ms\":1.5") "]}",
            "$.updates[0].occurred_at_ms: must be an integer");
    refused("SO-1", HEAD "\"updates\":[" UPDATE(",\"occurred_at_ms\":\"7\"") "]}",
            "$.updates[0].occurred_at_ms: must be an integer");
    refused("SO-1", "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"W\",\"received_ms\":-5,"
                    "\"updates\":[" UPDATE("") "]}",
            "$.received_ms: must be an integer from 0 to");
    refused("SO-1", "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"W\","
                    "\"updates\":[" UPDATE("") "]}",
            "$.received_ms: required field is missing");
    refused("SO-1", "{\"schema\":\"orderbridge.callback.v1\",\"received_ms\":1,"
                    "\"updates\":[" UPDATE("") "]}",
            "$.warehouse: required field is missing");
    refused("SO-1", "{\"schema\":\"orderbridge.callback.v1\",\"warehouse\":\"\",\"received_ms\":1,"
                    "\"updates\":[" UPDATE("") "]}",
            "$.warehouse: must not be empty");
    refused("SO-1", HEAD "\"delivery_id\":7,\"updates\":[" UPDATE("") "]}",
            "$.delivery_id: must be a string");
    refused("", "{}", "key: must be an order_id");
    refused("SO 1", "{}", "key: must be an order_id");
    refused(LONG64 "X", "{}", "key: must be an order_id");
    refused("SO-1", NULL, "$: a tombstone");
}

/* Sixteen updates are a record; more are refused by name, not cut. */
static void test_too_many(void **state)
{
    struct ob_callback_record out;
    char value[8192];
    size_t n;

    (void)state;
    for (int max = OB_CALLBACK_MAX_UPDATES; max <= OB_CALLBACK_MAX_UPDATES + 1; max++) {
        n = (size_t)snprintf(value, sizeof(value), HEAD "\"updates\":[");
        for (int i = 0; i < max; i++)
            n += (size_t)snprintf(value + n, sizeof(value) - n, "%s" UPDATE(""), i ? "," : "");
        snprintf(value + n, sizeof(value) - n, "]}");
        if (max == OB_CALLBACK_MAX_UPDATES) {
            decode_ok("SO-1", value, &out);
            assert_int_equal(out.n_updates, OB_CALLBACK_MAX_UPDATES);
        } else {
            refused("SO-1", value, "$.updates: must be an array of 1 to 16 updates");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_readable),       cmocka_unit_test(test_contract),
        cmocka_unit_test(test_not_utf8),       cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_unknown_fields), cmocka_unit_test(test_refused),
        cmocka_unit_test(test_too_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
