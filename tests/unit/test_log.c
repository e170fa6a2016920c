/*
 * test_log.c — src/log.c: the JSON format (every line parses back, fields,
 * escaping, redaction), the text format unchanged, and the rate limit of
 * repeated lines (librdkafka's errors while a broker is down) on a fake
 * clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "log.h"
#include "producer.h"
#include "redact.h"

#include "support.h"

#define SECRET "s3cr3t-T0ken"

static int setup(void **state)
{
    (void)state;
    ob_redact_clear();
    ob_log_set_level(OB_LOG_DEBUG);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ob_redact_clear();
    ob_log_set_format(OB_LOG_FORMAT_TEXT);
    ob_log_set_level(OB_LOG_INFO);
    return 0;
}

/* Each line of `out` as a JSON object; asserts there are `n` of them. */
static json_t **parse_lines(const char *out, size_t n)
{
    json_t **lines = calloc(n + 1, sizeof(*lines));
    size_t i = 0;

    for (const char *p = out; *p; i++) {
        const char *nl = strchr(p, '\n');
        json_error_t err;
        assert_non_null(nl); /* every line ends in its newline */
        assert_true(i < n);
        lines[i] = json_loadb(p, (size_t)(nl - p), 0, &err);
        if (!lines[i])
            print_error("line %zu is not JSON (%s): %.*s\n", i, err.text, (int)(nl - p), p);
        assert_non_null(lines[i]);
        assert_true(json_is_object(lines[i]));
        p = nl + 1;
    }
    assert_int_equal(i, n);
    return lines;
}

static void free_lines(json_t **lines)
{
    for (size_t i = 0; lines[i]; i++)
        json_decref(lines[i]);
    free(lines);
}

static const char *member(json_t *line, const char *key)
{
    return json_string_value(json_object_get(line, key));
}

static void write_json_lines(void *arg)
{
    (void)arg;
    ob_log_set_format(OB_LOG_FORMAT_JSON);
    OB_INFO("plain %d", 1);
    ob_log_trace(OB_LOG_WARN, "3-17", "order %s parked", "SO1");
    ob_log_event(OB_LOG_WARN,
                 OB_LOG_FIELDS(.trace_id = "req-43", .order_id = "SO-REJ-1",
                               .warehouse = "SF-SH-01", .event = "dead_lettered",
                               .reason = "rejected"),
                 "order %s -> orders.dlq: rejected: %s", "SO-REJ-1",
                 "HTTP 400: {\"error\":\"bad\\zip\"}");
    ob_log_event(OB_LOG_ERROR, OB_LOG_FIELDS(.order_id = "SO\"2", .reason = "key " SECRET),
                 "hostile: %s",
                 "bad\n{\"ts\":\"forged\"}\r\t\x01\x1b[31m\x7f \xc2\x9b \xff\xfe caf\xc3\xa9 "
                 "\xe4\xb8\xad " SECRET);
    ob_log_event(OB_LOG_DEBUG, OB_LOG_FIELDS(.event = "", .warehouse = NULL), "empty fields");
    ob_log_set_format(OB_LOG_FORMAT_TEXT);
}

static void test_json_lines(void **state)
{
    (void)state;
    assert_int_equal(ob_redact_add(SECRET), 0);
    char *out = capture_stderr(write_json_lines, NULL);
    json_t **lines = parse_lines(out, 5);

    /* ts: RFC 3339 UTC with milliseconds */
    const char *ts = member(lines[0], "ts");
    assert_non_null(ts);
    assert_int_equal(strlen(ts), 24);
    assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' && ts[23] == 'Z');
    assert_string_equal(member(lines[0], "level"), "info");
    assert_string_equal(member(lines[0], "msg"), "plain 1");
    assert_int_equal(json_object_size(lines[0]), 3); /* no unknown field */

    /* ob_log_trace fills the trace id only */
    assert_string_equal(member(lines[1], "level"), "warn");
    assert_string_equal(member(lines[1], "trace_id"), "3-17");
    assert_string_equal(member(lines[1], "msg"), "order SO1 parked");
    assert_int_equal(json_object_size(lines[1]), 4);

    /* every field; quotes and backslashes come back as written */
    assert_string_equal(member(lines[2], "trace_id"), "req-43");
    assert_string_equal(member(lines[2], "order_id"), "SO-REJ-1");
    assert_string_equal(member(lines[2], "warehouse"), "SF-SH-01");
    assert_string_equal(member(lines[2], "event"), "dead_lettered");
    assert_string_equal(member(lines[2], "reason"), "rejected");
    assert_string_equal(member(lines[2], "msg"),
                        "order SO-REJ-1 -> orders.dlq: rejected: HTTP 400: "
                        "{\"error\":\"bad\\zip\"}");

    /* one line whatever the message holds; control characters (C0, DEL,
     * C1) escaped, bytes that are not UTF-8 replaced, UTF-8 kept, the
     * secret masked in the message and in a field */
    assert_string_equal(member(lines[3], "level"), "error");
    assert_string_equal(member(lines[3], "order_id"), "SO\"2");
    assert_string_equal(member(lines[3], "reason"), "key ****");
    assert_string_equal(member(lines[3], "msg"),
                        "hostile: bad\n{\"ts\":\"forged\"}\r\t\x01\x1b[31m\x7f \xc2\x9b "
                        "\xef\xbf\xbd\xef\xbf\xbd caf\xc3\xa9 \xe4\xb8\xad ****");
    assert_null(strstr(out, SECRET));
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x7f'));
    assert_null(strchr(out, '\r'));
    assert_null(strstr(out, "\xc2\x9b"));
    assert_contains(out, "\\u001b[31m\\u007f \\u009b");

    /* empty and NULL fields are left out */
    assert_string_equal(member(lines[4], "level"), "debug");
    assert_int_equal(json_object_size(lines[4]), 3);
    free_lines(lines);
    free(out);
}

/* A message longer than the line's room is cut, never the line's JSON. */
static void write_long(void *arg)
{
    (void)arg;
    static char big[10000];
    memset(big, '"', sizeof(big) - 1);
    ob_log_set_format(OB_LOG_FORMAT_JSON);
    ob_log_event(OB_LOG_INFO, OB_LOG_FIELDS(.reason = big, .order_id = "SO3"), "%s", big);
    ob_log_set_format(OB_LOG_FORMAT_TEXT);
}

static void test_json_long_line(void **state)
{
    (void)state;
    char *out = capture_stderr(write_long, NULL);
    json_t **lines = parse_lines(out, 1);
    assert_string_equal(member(lines[0], "order_id"), "SO3");
    assert_true(strlen(member(lines[0], "msg")) > 1000);
    assert_true(strlen(member(lines[0], "reason")) > 500);
    free_lines(lines);
    free(out);
}

/* The text format is what it was: fields other than the trace id are
 * not shown (the message says them). */
static void write_text(void *arg)
{
    (void)arg;
    ob_log_event(OB_LOG_WARN,
                 OB_LOG_FIELDS(.trace_id = "req-43", .order_id = "SO-REJ-1", .event = "rejected"),
                 "order %s -> %s", "SO-REJ-1", "orders.dlq");
    ob_log_trace(OB_LOG_WARN, "req-43", "order %s -> %s", "SO-REJ-1", "orders.dlq");
    ob_log_event(OB_LOG_INFO, OB_LOG_FIELDS(.event = "kafka_recovered"), "no trace");
}

static void test_text_unchanged(void **state)
{
    (void)state;
    char *out = capture_stderr(write_text, NULL);
    char *second = strchr(out, '\n') + 1, *third = strchr(second, '\n') + 1;

    static const char want[] = " warn  [req-43] order SO-REJ-1 -> orders.dlq\n";

    assert_memory_equal(out + 24, want, strlen(want));
    assert_memory_equal(second + 24, want, strlen(want));
    assert_memory_equal(third + 24, " info  no trace\n", 16);
    assert_null(strstr(out, "rejected"));
    free(out);
}

static void test_format_parse(void **state)
{
    (void)state;
    enum ob_log_format f = OB_LOG_FORMAT_TEXT;
    assert_int_equal(ob_log_format_parse("json", &f), 0);
    assert_int_equal(f, OB_LOG_FORMAT_JSON);
    assert_int_equal(ob_log_format_parse("text", &f), 0);
    assert_int_equal(f, OB_LOG_FORMAT_TEXT);
    assert_int_equal(ob_log_format_parse("JSON", &f), -1);
    assert_int_equal(ob_log_format_parse("", &f), -1);
}

/* ---- repeated lines ----------------------------------------------------- */

#define FAIL1 "127.0.0.1:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused"
#define FAIL2 "127.0.0.1:9093/2: Connect to ipv4#127.0.0.1:9093 failed: Connection refused"
#define OTHER "1/1 brokers are down"

static void test_limit_window(void **state)
{
    (void)state;
    struct ob_log_limit l = OB_LOG_LIMIT_INIT(30000, 10000);
    unsigned long held;
    int64_t span, since;
    int64_t t = 1000000;

    /* the first occurrence at once */
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t, &held, &span), 1);
    assert_int_equal(held, 0);
    assert_int_equal(span, 0);
    /* another kind too */
    assert_int_equal(ob_log_limit_admit(&l, OTHER, t + 5, &held, &span), 1);
    /* then held back for the window; the same line with other numbers
     * is the same line */
    for (int i = 1; i <= 56; i++)
        assert_int_equal(ob_log_limit_admit(&l, i % 2 ? FAIL1 : FAIL2, t + i * 500, &held, &span),
                         0);
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 29999, &held, &span), 0);
    /* the window over: written, with the count held back */
    assert_int_equal(ob_log_limit_admit(&l, FAIL2, t + 30000, &held, &span), 1);
    assert_int_equal(held, 57);
    assert_int_equal(span, 30000);
    /* a new window from there */
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 31000, &held, &span), 0);
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 65000, &held, &span), 1);
    assert_int_equal(held, 1);
    assert_int_equal(span, 35000);
    /* a repeat long after: nothing held in between */
    assert_int_equal(ob_log_limit_admit(&l, OTHER, t + 200000, &held, &span), 1);
    assert_int_equal(held, 0);
    assert_int_equal(span, 200000 - 5);

    /* working again: not while lines still come */
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 200500, &held, &span), 1);
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 201000, &held, &span), 0);
    assert_int_equal(ob_log_limit_clear(&l, t + 205000, &since, &held), 0);
    /* then once, with what was not reported */
    assert_int_equal(ob_log_limit_clear(&l, t + 211000, &since, &held), 1);
    assert_int_equal(since, 211000);
    assert_int_equal(held, 1);
    assert_int_equal(ob_log_limit_clear(&l, t + 212000, &since, &held), 0);
    /* and the next error is news again */
    assert_int_equal(ob_log_limit_admit(&l, FAIL1, t + 213000, &held, &span), 1);
    assert_int_equal(held, 0);
    assert_int_equal(ob_log_limit_clear(&l, t + 223000, &since, &held), 1);
    assert_int_equal(since, 10000);
    assert_int_equal(held, 0);
}

/* More kinds than slots: the one written longest ago makes room, and what
 * it held back is still reported when things work again. */
static void test_limit_many_kinds(void **state)
{
    (void)state;
    struct ob_log_limit l = OB_LOG_LIMIT_INIT(30000, 1000);
    unsigned long held;
    int64_t span, since;
    char line[64];

    assert_int_equal(ob_log_limit_admit(&l, "kind a", 0, &held, &span), 1);
    assert_int_equal(ob_log_limit_admit(&l, "kind a", 1, &held, &span), 0);
    for (int i = 0; i < OB_LOG_LIMIT_SLOTS; i++) {
        snprintf(line, sizeof line, "kind %c%c", 'b' + i / 26, 'a' + i % 26);
        assert_int_equal(ob_log_limit_admit(&l, line, 10 + i, &held, &span), 1);
    }
    /* "kind a" was evicted: written again at once */
    assert_int_equal(ob_log_limit_admit(&l, "kind a", 100, &held, &span), 1);
    assert_int_equal(held, 0);
    assert_int_equal(ob_log_limit_clear(&l, 2000, &since, &held), 1);
    assert_int_equal(held, 1);
}

struct hammer {
    struct ob_log_limit *l;
    int admitted;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    unsigned long held;
    int64_t span;

    for (int i = 0; i < 20000; i++)
        h->admitted += ob_log_limit_admit(h->l, i % 2 ? FAIL1 : OTHER, i / 100, &held, &span);
    return NULL;
}

/* librdkafka logs from its own threads: every line counted once. */
static void test_limit_threads(void **state)
{
    (void)state;
    struct ob_log_limit l = OB_LOG_LIMIT_INIT(1000000, 0);
    struct hammer h[4];
    pthread_t th[4];
    unsigned long held;
    int64_t since;
    int admitted = 0;

    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.l = &l};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        admitted += h[i].admitted;
    }
    assert_int_equal(admitted, 2); /* each kind once */
    assert_int_equal(ob_log_limit_clear(&l, 1000, &since, &held), 1);
    assert_int_equal(held, 4 * 20000 - 2);
}

/* Through librdkafka's log callback: a failed connection, its copy as an
 * error event and its repeats make one line; another error its own. */
static void kafka_outage(void *arg)
{
    rd_kafka_t *rk = arg;
    char copy[512];

    snprintf(copy, sizeof copy, "[thrd:app]: %s: 10.0.0.1:9092/1: Connect to ipv4#10.0.0.1:9092 "
             "failed: Connection refused (after 0ms in state CONNECT)", rd_kafka_name(rk));
    ob_kafka_log_cb(rk, 3, "FAIL", "[thrd:10.0.0.1:9092/1]: 10.0.0.1:9092/1: Connect to "
                    "ipv4#10.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)");
    ob_kafka_log_cb(rk, 3, "ERROR", copy);
    for (int i = 0; i < 50; i++)
        ob_kafka_log_cb(rk, 3, "FAIL", "[thrd:10.0.0.1:9092/1]: 10.0.0.1:9092/1: Connect to "
                        "ipv4#10.0.0.1:9092 failed: Connection refused (after 1ms in state "
                        "CONNECT, 4 identical error(s) suppressed)");
    ob_kafka_log_cb(rk, 3, "ERROR", "[thrd:10.0.0.1:9092/1]: 1/1 brokers are down");
    ob_kafka_log_cb(rk, 6, "CONFWARN", "an informational line is never held back");
    ob_kafka_log_cb(rk, 6, "CONFWARN", "an informational line is never held back");
    ob_kafka_log_ok(); /* errors came just now: not yet */
}

static void test_kafka_errors_held_back(void **state)
{
    (void)state;
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, rd_kafka_conf_new(), errstr, sizeof errstr);
    assert_non_null(rk);
    ob_log_set_level(OB_LOG_INFO);
    char *out = capture_stderr(kafka_outage, rk);
    int lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        lines++;
    assert_int_equal(lines, 4);
    assert_contains(out, "FAIL: [thrd:10.0.0.1:9092/1]: 10.0.0.1:9092/1: Connect to");
    assert_contains(out, "1/1 brokers are down");
    assert_null(strstr(out, "[thrd:app]"));
    assert_null(strstr(out, "working again"));
    free(out);
    rd_kafka_destroy(rk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_json_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_long_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_unchanged, setup, teardown),
        cmocka_unit_test(test_format_parse),
        cmocka_unit_test(test_limit_window),
        cmocka_unit_test(test_limit_many_kinds),
        cmocka_unit_test(test_limit_threads),
        cmocka_unit_test_setup_teardown(test_kafka_errors_held_back, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
