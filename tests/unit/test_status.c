/*
 * test_status.c — fulfillment.v1 events and timestamps (src/status.c), the
 * idempotency key (src/idempotency.c) and the latency histogram
 * (src/metrics.c).
 *
 * Expected values are literals computed outside the code under test:
 * timestamps with `date -u -d @SECONDS`, digests with `sha256sum`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "idempotency.h"
#include "metrics.h"
#include "status.h"

/* printf 'orderbridge.idem.v1\nSF-SH-01\nSO20231111000123\norder.created\n1' | sha256sum */
#define KEY_REV1 "5484455c515c2030d527a911ca07d25965211af9b6967898ebf4ede2539aa282"
/* printf 'orderbridge.idem.v1\nSF-SH-01\nSO20231111000123\norder.created\n2' | sha256sum */
#define KEY_REV2 "f6cde025a0b1ee1dbe415bf8dca6efbf65cc46de7898d4bb47ae6241fca43b2b"

/* Produce the event, check it is one valid JSON object, return it. */
static json_t *event_doc(const struct ob_status_event *ev)
{
    size_t len = (size_t)-1;
    json_error_t jerr;
    char *text = ob_status_event_json(ev, &len);

    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    /* Compact, one line: it is one Kafka record value. */
    int one_line = strchr(text, '\n') == NULL;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        print_error("not JSON (%s): %s\n", jerr.text, text);
    free(text);
    assert_non_null(doc);
    assert_true(one_line);
    assert_true(json_is_object(doc));
    return doc;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) {
        print_error("\"%s\" is missing or not a string\n", key);
        fail();
    }
    return json_string_value(v);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static int rfc3339_ms_utc(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
    if (strlen(s) != sizeof shape - 1)
        return 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
            return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* ob_format_time                                                            */

static void test_format_time_known_values(void **state)
{
    (void)state;
    static const struct {
        int64_t ms;
        const char *want; /* date -u -d @<ms/1000> +%FT%T, then .mmmZ */
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {999, "1970-01-01T00:00:00.999Z"},
        {1700000000123, "2023-11-14T22:13:20.123Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {1699632003120, "2023-11-10T16:00:03.120Z"},
        {4102444799999, "2099-12-31T23:59:59.999Z"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[32];
        memset(out, 'X', sizeof out);
        ob_format_time(cases[i].ms, out);
        assert_string_equal(out, cases[i].want);
    }
}

static void test_now_epoch_ms(void **state)
{
    (void)state;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = ob_now_epoch_ms();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000;
    assert_true(now >= before && now <= after);
}

/* ------------------------------------------------------------------------ */
/* ob_status_event_json                                                      */

static void test_event_all_fields(void **state)
{
    (void)state;
    struct ob_status_event ev = {
        .order_id = "SO20231111000123",
        .revision = 3,
        .warehouse = "SF-SH-01",
        .status = "ACCEPTED",
        .occurred_at = "2023-11-11T00:00:05.000Z",
        .warehouse_order_id = "WMS-981",
        .carrier = "SF",
        .tracking_no = "SF1234567890",
        .reason = "already known to the warehouse",
        .source = "push",
        .idempotency_key = KEY_REV1,
        .trace_id = "3-1042",
    };
    json_t *doc = event_doc(&ev);

    assert_int_equal(json_object_size(doc), 13);
    assert_string_equal(str_at(doc, "schema"), "fulfillment.v1");
    assert_string_equal(str_at(doc, "order_id"), "SO20231111000123");
    assert_true(json_is_integer(json_object_get(doc, "revision")));
    assert_int_equal(json_integer_value(json_object_get(doc, "revision")), 3);
    assert_string_equal(str_at(doc, "warehouse"), "SF-SH-01");
    assert_string_equal(str_at(doc, "status"), "ACCEPTED");
    assert_string_equal(str_at(doc, "occurred_at"), "2023-11-11T00:00:05.000Z");
    assert_string_equal(str_at(doc, "warehouse_order_id"), "WMS-981");
    assert_string_equal(str_at(doc, "carrier"), "SF");
    assert_string_equal(str_at(doc, "tracking_no"), "SF1234567890");
    assert_string_equal(str_at(doc, "reason"), "already known to the warehouse");
    assert_string_equal(str_at(doc, "source"), "push");
    assert_string_equal(str_at(doc, "idempotency_key"), KEY_REV1);
    assert_string_equal(str_at(doc, "trace_id"), "3-1042");
    json_decref(doc);
}

/* Only the required fields: the optional ones are absent, occurred_at is now. */
static void test_event_minimal(void **state)
{
    (void)state;
    struct ob_status_event ev = {
        .order_id = "SO1",
        .warehouse = "",
        .status = "DELIVERY_FAILED",
        .source = "bridge",
    };
    time_t before = time(NULL);
    json_t *doc = event_doc(&ev);
    /* + 1: time() reads the coarse clock, which lags the one events are stamped
     * with by up to a tick (the same slack as test_now_epoch_ms) */
    time_t after = time(NULL) + 1;

    assert_int_equal(json_object_size(doc), 6);
    assert_string_equal(str_at(doc, "schema"), "fulfillment.v1");
    assert_string_equal(str_at(doc, "order_id"), "SO1");
    assert_string_equal(str_at(doc, "warehouse"), ""); /* required, even when empty */
    assert_string_equal(str_at(doc, "status"), "DELIVERY_FAILED");
    assert_string_equal(str_at(doc, "source"), "bridge");
    static const char *absent[] = {"revision", "warehouse_order_id", "carrier", "tracking_no",
                                   "reason", "idempotency_key", "trace_id"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        assert_null(json_object_get(doc, absent[i]));

    const char *at = str_at(doc, "occurred_at");
    assert_true(rfc3339_ms_utc(at));
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    assert_non_null(strptime(at, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t t = timegm(&tm);
    assert_true(t >= before && t <= after);
    json_decref(doc);
}

static void test_event_empty_optionals_absent(void **state)
{
    (void)state;
    struct ob_status_event ev = {
        .order_id = "SO1",
        .warehouse = "W1",
        .status = "REJECTED",
        .occurred_at = "2023-11-11T00:00:05.000Z",
        .warehouse_order_id = "",
        .carrier = "",
        .tracking_no = "",
        .reason = "",
        .source = "push",
    };
    json_t *doc = event_doc(&ev);
    assert_int_equal(json_object_size(doc), 6);
    assert_null(json_object_get(doc, "warehouse_order_id"));
    assert_null(json_object_get(doc, "carrier"));
    assert_null(json_object_get(doc, "tracking_no"));
    assert_null(json_object_get(doc, "reason"));
    json_decref(doc);
}

static void test_event_revision_only_when_positive(void **state)
{
    (void)state;
    static const int64_t absent[] = {0, -1, INT64_MIN};
    struct ob_status_event ev = {
        .order_id = "SO1", .warehouse = "W1", .status = "ACCEPTED", .source = "push"};

    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        ev.revision = absent[i];
        json_t *doc = event_doc(&ev);
        assert_null(json_object_get(doc, "revision"));
        json_decref(doc);
    }
    static const int64_t present[] = {1, 2, 9007199254740993LL, INT64_MAX};
    for (size_t i = 0; i < sizeof present / sizeof present[0]; i++) {
        ev.revision = present[i];
        json_t *doc = event_doc(&ev);
        json_t *rev = json_object_get(doc, "revision");
        assert_true(json_is_integer(rev));
        assert_true(json_integer_value(rev) == present[i]);
        json_decref(doc);
    }
}

static void test_event_reason_invalid_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"bad \xff\xfe end", "bad ?? end"},
        {"cut \xe4\xb8", "cut ??"},                     /* 3-byte sequence cut after 2 */
        {"cut \xe4\xb8 mid", "cut ?? mid"},             /* ... in the middle */
        {"\xe4\xb8\xad\xe6\x96\x87 ok", "中文 ok"},      /* valid multi-byte kept */
        {"overlong \xc0\xaf", "overlong ??"},           /* "/" in 2 bytes */
        {"surrogate \xed\xa0\x80", "surrogate ???"},    /* U+D800 */
        {"emoji \xf0\x9f\x93\xa6", "emoji \xf0\x9f\x93\xa6"}, /* U+1F4E6 */
        {"too big \xf4\x90\x80\x80", "too big ????"},   /* U+110000 */
        {"lone \x80 cont", "lone ? cont"},
        {"quote \" and \\ and \x01", "quote \" and \\ and \x01"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ob_status_event ev = {.order_id = "SO1",
                                     .warehouse = "W1",
                                     .status = "REJECTED",
                                     .source = "push",
                                     .reason = cases[i].in};
        json_t *doc = event_doc(&ev);
        assert_string_equal(str_at(doc, "reason"), cases[i].want);
        json_decref(doc);
    }
}

static void test_event_missing_required(void **state)
{
    (void)state;
    const struct ob_status_event full = {
        .order_id = "SO1", .warehouse = "W1", .status = "ACCEPTED", .source = "push"};
    struct ob_status_event ev;
    size_t len = 12345;

    ev = full;
    ev.order_id = NULL;
    assert_null(ob_status_event_json(&ev, &len));
    ev = full;
    ev.warehouse = NULL;
    assert_null(ob_status_event_json(&ev, &len));
    ev = full;
    ev.status = NULL;
    assert_null(ob_status_event_json(&ev, &len));
    ev = full;
    ev.source = NULL;
    assert_null(ob_status_event_json(&ev, &len));

    /* And the complete one works (the failures above are the field's). */
    char *text = ob_status_event_json(&full, &len);
    assert_non_null(text);
    free(text);
}

/* ------------------------------------------------------------------------ */
/* ob_idempotency_key                                                        */

static int lower_hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void test_idempotency_known_value(void **state)
{
    (void)state;
    char key[65];

    assert_int_equal(ob_idempotency_key("SF-SH-01", "SO20231111000123", "order.created", 1, key), 0);
    assert_string_equal(key, KEY_REV1);
    assert_int_equal(ob_idempotency_key("SF-SH-01", "SO20231111000123", "order.created", 2, key), 0);
    assert_string_equal(key, KEY_REV2);
}

static void test_idempotency_deterministic_and_distinct(void **state)
{
    (void)state;
    char base[65], again[65], k[65];

    assert_int_equal(ob_idempotency_key("SF-SH-01", "SO1", "order.created", 1, base), 0);
    assert_true(lower_hex64(base));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ob_idempotency_key("SF-SH-01", "SO1", "order.created", 1, again), 0);
        assert_string_equal(again, base);
    }

    static const struct {
        const char *wh, *id, *event;
        int64_t rev;
    } other[] = {
        {"JD-BJ-02", "SO1", "order.created", 1},
        {"SF-SH-01", "SO2", "order.created", 1},
        {"SF-SH-01", "SO1", "order.updated", 1},
        {"SF-SH-01", "SO1", "order.created", 2},
        {"SF-SH-01", "SO1", "order.created", 0},
        {"sf-sh-01", "SO1", "order.created", 1},
        /* shifting text between fields must not collide */
        {"SF-SH-01S", "O1", "order.created", 1},
    };
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        assert_int_equal(
            ob_idempotency_key(other[i].wh, other[i].id, other[i].event, other[i].rev, k), 0);
        assert_true(lower_hex64(k));
        assert_string_not_equal(k, base);
        for (size_t j = 0; j < i; j++) {
            char prev[65];
            assert_int_equal(ob_idempotency_key(other[j].wh, other[j].id, other[j].event,
                                                other[j].rev, prev),
                             0);
            assert_string_not_equal(k, prev);
        }
    }
}

static void test_idempotency_too_long(void **state)
{
    (void)state;
    char longid[600];
    char k[65];

    memset(longid, 'A', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    assert_int_equal(ob_idempotency_key("SF-SH-01", longid, "order.created", 1, k), -1);
    /* 64-char codes and ids (the documented maxima) fit. */
    char id64[65], code64[65];
    memset(id64, 'I', 64);
    id64[64] = '\0';
    memset(code64, 'C', 64);
    code64[64] = '\0';
    assert_int_equal(ob_idempotency_key(code64, id64, "order.cancelled", INT64_MAX, k), 0);
    assert_true(lower_hex64(k));
}

/* ------------------------------------------------------------------------ */
/* ob_histogram                                                              */

static struct ob_histogram *hist_new(void)
{
    struct ob_histogram *h = calloc(1, sizeof *h);
    assert_non_null(h);
    return h;
}

/* The histogram reports a bucket's upper bound: never below the true
 * quantile, and above it by at most one bucket width (1/16 of the value). */
static void assert_quantile(const struct ob_histogram *h, double q, uint64_t exact)
{
    uint64_t got = ob_histogram_quantile(h, q);
    if (got < exact || got > exact + exact / 16) {
        print_error("quantile %.4f: got %llu, want %llu..%llu\n", q, (unsigned long long)got,
                    (unsigned long long)exact, (unsigned long long)(exact + exact / 16));
        fail();
    }
}

static void test_histogram_empty(void **state)
{
    (void)state;
    struct ob_histogram *h = hist_new();
    assert_int_equal(ob_histogram_quantile(h, 0.5), 0);
    assert_int_equal(ob_histogram_quantile(h, 0.99), 0);
    free(h);
}

static void test_histogram_uniform(void **state)
{
    (void)state;
    struct ob_histogram *h = hist_new();

    /* 1..10000 us once each: the q-quantile is ceil(q * 10000). */
    for (uint64_t v = 1; v <= 10000; v++)
        ob_histogram_record(h, v);
    assert_int_equal(atomic_load(&h->total), 10000);
    assert_quantile(h, 0.5, 5000);
    assert_quantile(h, 0.9, 9000);
    assert_quantile(h, 0.99, 9900);
    assert_quantile(h, 0.999, 9990);
    assert_quantile(h, 1.0, 10000);
    assert_quantile(h, 0.0001, 1);
    free(h);
}

static void test_histogram_small_values_exact(void **state)
{
    (void)state;
    struct ob_histogram *h = hist_new();

    /* Below 32 us every value has its own bucket. */
    for (uint64_t v = 0; v < 32; v++)
        ob_histogram_record(h, v);
    for (uint64_t v = 1; v < 32; v++)
        assert_int_equal(ob_histogram_quantile(h, (double)(v + 1) / 32.0), v);
    free(h);
}

static void test_histogram_bimodal(void **state)
{
    (void)state;
    struct ob_histogram *h = hist_new();

    /* 900 fast (1.5 ms) and 100 slow (2.5 s) requests. */
    for (int i = 0; i < 900; i++)
        ob_histogram_record(h, 1500);
    for (int i = 0; i < 100; i++)
        ob_histogram_record(h, 2500000);
    assert_quantile(h, 0.5, 1500);
    assert_quantile(h, 0.9, 1500);
    assert_quantile(h, 0.91, 2500000);
    assert_quantile(h, 0.99, 2500000);
    free(h);
}

/* Powers of two and their neighbours land in the right buckets. */
static void test_histogram_single_values(void **state)
{
    (void)state;
    static const uint64_t values[] = {16,       17,        31,          32,         33,
                                      63,       64,        100,         1023,       1024,
                                      1025,     65535,     65536,       999999,     1000000,
                                      12345678, 987654321, 60000000000ULL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        struct ob_histogram *h = hist_new();
        ob_histogram_record(h, values[i]);
        assert_quantile(h, 0.5, values[i]);
        assert_quantile(h, 1.0, values[i]);
        free(h);
    }
}

/* Values beyond the last bucket are counted there, not lost. */
static void test_histogram_overflow(void **state)
{
    (void)state;
    struct ob_histogram *h = hist_new();
    ob_histogram_record(h, 10);
    ob_histogram_record(h, UINT64_MAX);
    assert_int_equal(atomic_load(&h->total), 2);
    assert_int_equal(ob_histogram_quantile(h, 0.5), 10);
    assert_true(ob_histogram_quantile(h, 1.0) >= (1ULL << 36));
    free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_time_known_values),
        cmocka_unit_test(test_now_epoch_ms),
        cmocka_unit_test(test_event_all_fields),
        cmocka_unit_test(test_event_minimal),
        cmocka_unit_test(test_event_empty_optionals_absent),
        cmocka_unit_test(test_event_revision_only_when_positive),
        cmocka_unit_test(test_event_reason_invalid_utf8),
        cmocka_unit_test(test_event_missing_required),
        cmocka_unit_test(test_idempotency_known_value),
        cmocka_unit_test(test_idempotency_deterministic_and_distinct),
        cmocka_unit_test(test_idempotency_too_long),
        cmocka_unit_test(test_histogram_empty),
        cmocka_unit_test(test_histogram_uniform),
        cmocka_unit_test(test_histogram_small_values_exact),
        cmocka_unit_test(test_histogram_bimodal),
        cmocka_unit_test(test_histogram_single_values),
        cmocka_unit_test(test_histogram_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
