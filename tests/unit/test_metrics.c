/*
 * test_metrics.c — the Prometheus text of src/metrics.c: per-warehouse
 * series, histogram buckets, label escaping, librdkafka's statistics.
 * Expected values are worked out by hand from the bounds in metrics.c
 * (0.001, 0.0025, 0.005 ... 60 s, then +Inf).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <orderbridge/adapter.h>

#include "metrics.h"

static char *render(struct ob_metrics *m)
{
    size_t len = 0;
    char *text = ob_metrics_text(m, &len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    return text;
}

/* The value of the sample line that starts with `series` + " ". */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);

    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    fail_msg("no sample %s", series);
    return -1;
}

static void test_warehouse_histogram(void **state)
{
    struct ob_metrics m = {0};
    (void)state;

    ob_metrics_init(&m);
    struct ob_wh_metrics *w = ob_metrics_warehouse(&m, "SF-01", "sf_express");
    assert_non_null(w);
    ob_prom_histogram_record(&w->push_seconds, 999);      /* <= 0.001 */
    ob_prom_histogram_record(&w->push_seconds, 1000);     /* <= 0.001: the bound is inclusive */
    ob_prom_histogram_record(&w->push_seconds, 1001);     /* <= 0.0025 */
    ob_prom_histogram_record(&w->push_seconds, 70000000); /* over 60 s: +Inf only */
    char *text = render(&m);
#define WH "{warehouse=\"SF-01\",adapter=\"sf_express\""
    assert_true(sample(text, "orderbridge_warehouse_push_duration_seconds_bucket" WH
                             ",le=\"0.001\"}") == 2);
    assert_true(sample(text, "orderbridge_warehouse_push_duration_seconds_bucket" WH
                             ",le=\"0.0025\"}") == 3);
    assert_true(sample(text, "orderbridge_warehouse_push_duration_seconds_bucket" WH
                             ",le=\"60\"}") == 3);
    assert_true(sample(text, "orderbridge_warehouse_push_duration_seconds_bucket" WH
                             ",le=\"+Inf\"}") == 4);
    assert_true(sample(text, "orderbridge_warehouse_push_duration_seconds_count" WH "}") == 4);
    assert_float_equal(sample(text, "orderbridge_warehouse_push_duration_seconds_sum" WH "}"),
                       70.003, 1e-9);
    assert_true(sample(text, "orderbridge_warehouse_outcome_duration_seconds_count" WH "}") == 0);
#undef WH
    free(text);
    ob_metrics_free(&m);
}

static void test_warehouse_counters(void **state)
{
    struct ob_metrics m = {0};
    (void)state;

    ob_metrics_init(&m);
    struct ob_wh_metrics *w = ob_metrics_warehouse(&m, "REST-1", "rest");
    assert_ptr_equal(ob_metrics_warehouse(&m, "REST-1", NULL), w); /* found, name kept */
    assert_string_equal(w->adapter, "rest");
    OB_METRIC_ADD(w, pushes[OB_PUSH_ACCEPTED], 7);
    OB_METRIC_ADD(w, pushes[OB_PUSH_ERROR], 2);
    OB_METRIC_ADD(w, dead_letters[ob_dead_letter_reason_of("retries_exhausted")], 1);
    OB_METRIC_ADD(w, dead_letters[ob_dead_letter_reason_of("something new")], 1);
    OB_METRIC_ADD(w, callbacks[OB_CALLBACK_FORBIDDEN], 3);
    OB_METRIC_ADD(w, callbacks[0], 1); /* replayed */
    atomic_store(&w->circuit, 2);     /* half open */
    atomic_store(&w->concurrency_limit, 16);
    char *text = render(&m);
#define WH "{warehouse=\"REST-1\",adapter=\"rest\""
    assert_true(sample(text, "orderbridge_warehouse_pushes_total" WH ",outcome=\"accepted\"}") == 7);
    assert_true(sample(text, "orderbridge_warehouse_pushes_total" WH ",outcome=\"rejected\"}") == 0);
    assert_true(sample(text, "orderbridge_warehouse_pushes_total" WH ",outcome=\"error\"}") == 2);
    assert_true(sample(text, "orderbridge_warehouse_dead_lettered_total" WH
                             ",reason=\"retries_exhausted\"}") == 1);
    assert_true(sample(text, "orderbridge_warehouse_dead_lettered_total" WH
                             ",reason=\"other\"}") == 1);
    assert_true(sample(text, "orderbridge_warehouse_callbacks_total" WH
                             ",result=\"forbidden\"}") == 3);
    assert_true(sample(text, "orderbridge_warehouse_callbacks_total" WH
                             ",result=\"replayed\"}") == 1);
    assert_true(sample(text, "orderbridge_warehouse_circuit_state" WH ",state=\"half_open\"}") == 1);
    assert_true(sample(text, "orderbridge_warehouse_circuit_state" WH ",state=\"closed\"}") == 0);
    assert_true(sample(text, "orderbridge_warehouse_concurrency_limit" WH "}") == 16);
#undef WH
    free(text);
    ob_metrics_free(&m);
}

/* Label values escape \ " and newline; a code cannot end its label early. */
static void test_label_escaping(void **state)
{
    struct ob_metrics m = {0};
    (void)state;

    ob_metrics_init(&m);
    assert_non_null(ob_metrics_warehouse(&m, "a\"b\\c\nd", "rest"));
    char *text = render(&m);
    assert_true(sample(text, "orderbridge_warehouse_retries_total{warehouse=\"a\\\"b\\\\c\\nd\","
                             "adapter=\"rest\"}") == 0);
    free(text);
    ob_metrics_free(&m);
}

/* Every family has HELP and TYPE once, before its samples, and each
 * sample belongs to the family declared last (the text format wants a
 * family's samples together). */
static void test_families_well_formed(void **state)
{
    struct ob_metrics m = {0};
    char family[160] = "", type[32] = "";
    (void)state;

    ob_metrics_init(&m);
    assert_non_null(ob_metrics_warehouse(&m, "A", "rest"));
    assert_non_null(ob_metrics_warehouse(&m, "B", "ems"));
    char *text = render(&m), *save = NULL, *seen = calloc(1, strlen(text) + 2);
    assert_non_null(seen);
    strcpy(seen, "\n");
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[160];
        if (sscanf(line, "# HELP %159s", name) == 1) {
            char key[170];
            snprintf(key, sizeof key, "\n%s\n", name);
            assert_null(strstr(seen, key)); /* declared once */
            strcat(seen, name + 0);
            strcat(seen, "\n");
            snprintf(family, sizeof family, "%s", name);
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            assert_int_equal(sscanf(line, "# TYPE %159s %31s", name, type), 2);
            assert_string_equal(name, family);
            continue;
        }
        size_t n = strcspn(line, "{ ");
        snprintf(name, sizeof name, "%.*s", (int)n, line);
        if (strcmp(type, "histogram") == 0) {
            size_t f = strlen(family);
            assert_memory_equal(name, family, f);
            assert_true(strcmp(name + f, "_bucket") == 0 || strcmp(name + f, "_sum") == 0 ||
                        strcmp(name + f, "_count") == 0);
        } else {
            assert_string_equal(name, family);
        }
        if (strcmp(type, "counter") == 0)
            assert_non_null(strstr(family, "_total"));
    }
    free(seen);
    free(text);
    ob_metrics_free(&m);
}

static const char stats_json[] =
    "{\"name\":\"c#1\",\"brokers\":{"
    "\"127.0.0.1:9092/bootstrap\":{\"nodeid\":-1,\"state\":\"INIT\"},"
    "\"127.0.0.1:9092/1\":{\"nodeid\":1,\"state\":\"UP\",\"source\":\"learned\"},"
    "\"GroupCoordinator\":{\"nodeid\":1,\"state\":\"UP\",\"source\":\"logical\"},"
    "\"127.0.0.1:9093/2\":{\"nodeid\":2,\"state\":\"DOWN\"}},"
    "\"topics\":{\"orders\":{\"partitions\":{"
    "\"0\":{\"partition\":0,\"consumer_lag\":5},"
    "\"1\":{\"partition\":1,\"consumer_lag\":-1},"
    "\"-1\":{\"partition\":-1,\"consumer_lag\":-1}}}}}";

static void test_kafka_stats(void **state)
{
    struct ob_metrics m = {0};
    (void)state;

    ob_metrics_init(&m);
    assert_int_equal(ob_metrics_kafka_stats(&m, stats_json, strlen(stats_json)), 1);
    char *text = render(&m);
    assert_true(sample(text, "orderbridge_kafka_broker_up{broker=\"127.0.0.1:9092/1\"}") == 1);
    assert_true(sample(text, "orderbridge_kafka_broker_up{broker=\"127.0.0.1:9093/2\"}") == 0);
    assert_null(strstr(text, "bootstrap"));
    assert_null(strstr(text, "GroupCoordinator"));
    assert_true(sample(text, "orderbridge_kafka_consumer_lag{topic=\"orders\",partition=\"0\"}") == 5);
    assert_null(strstr(text, "partition=\"1\""));
    assert_null(strstr(text, "partition=\"-1\""));
    free(text);
    /* JSON it cannot read changes nothing */
    assert_int_equal(ob_metrics_kafka_stats(&m, "{\"brokers\":", 11), -1);
    text = render(&m);
    assert_true(sample(text, "orderbridge_kafka_consumer_lag{topic=\"orders\",partition=\"0\"}") == 5);
    free(text);
    ob_metrics_free(&m);
}

static json_t *failures(struct ob_metrics *m)
{
    size_t len = 0;
    char *text = ob_metrics_failures_json(m, &len);

    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(doc);
    return doc;
}

/* Newest first, at most OB_RECENT_FAILURES, strings cut on a character
 * boundary, bytes that are not UTF-8 named as such. */
static void test_recent_failures(void **state)
{
    struct ob_metrics m = {0};
    char long_reason[400] = "";
    (void)state;

    ob_metrics_init(&m);
    json_t *doc = failures(&m);
    assert_int_equal(json_array_size(json_object_get(doc, "failures")), 0);
    json_decref(doc);

    for (int i = 0; i < OB_RECENT_FAILURES + 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "O-%d", i);
        ob_metrics_failure(&m, id, "SF-01", "error", "HTTP 503");
    }
    while (strlen(long_reason) + 3 < sizeof(long_reason))
        strcat(long_reason, "\xe4\xbb\x93"); /* 仓, 3 bytes: the cut lands inside one */
    ob_metrics_failure(&m, "O-last", "SF-01", "dead_lettered", long_reason);
    ob_metrics_failure(&m, "\xff\xfe", "SF-01", "rejected", "bad id");
    doc = failures(&m);
    json_t *list = json_object_get(doc, "failures");
    assert_int_equal(json_array_size(list), OB_RECENT_FAILURES);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "order_id")),
                        "(not UTF-8)");
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "reason")),
                        "bad id");
    json_t *cut = json_array_get(list, 1);
    assert_string_equal(json_string_value(json_object_get(cut, "order_id")), "O-last");
    assert_string_equal(json_string_value(json_object_get(cut, "outcome")), "dead_lettered");
    const char *reason = json_string_value(json_object_get(cut, "reason"));
    assert_true(strlen(reason) > 200 && strlen(reason) % 3 == 0);
    assert_memory_equal(reason, long_reason, strlen(reason));
    /* the oldest 7 (O-0 .. O-6) are gone: 105 + 2 were added */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(list, OB_RECENT_FAILURES - 1),
                                          "order_id")),
        "O-7");
    assert_non_null(json_string_value(json_object_get(cut, "time")));
    json_decref(doc);
    ob_metrics_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_warehouse_histogram),
        cmocka_unit_test(test_warehouse_counters),
        cmocka_unit_test(test_label_escaping),
        cmocka_unit_test(test_families_well_formed),
        cmocka_unit_test(test_kafka_stats),
        cmocka_unit_test(test_recent_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
