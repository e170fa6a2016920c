/*
 * test_redact.c — nothing leaves the process raw (issue 10, item 6): log
 * lines with control characters escaped, secret values masked in every
 * form whichever library wrote the message, file: secrets others may read
 * warned about or refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <orderbridge/sdk.h>

#include "config.h"
#include "log.h"
#include "producer.h"
#include "redact.h"
#include "status.h"

#include "support.h"

#define SECRET "s3cr3t/K+y=="

static int setup(void **state)
{
    (void)state;
    ob_redact_clear();
    return 0;
}

static void test_every_form_masked(void **state)
{
    (void)state;
    struct ob_buf url, b64;
    char text[512];

    assert_int_equal(ob_redact_add(SECRET), 0);
    assert_int_equal(ob_redact_add(SECRET), 0); /* twice is once */
    assert_int_equal(ob_redact_add("abc"), 1);  /* too short to mask */
    ob_buf_init(&url, 256);
    ob_buf_init(&b64, 256);
    assert_int_equal(ob_url_encode(SECRET, strlen(SECRET), OB_URL_RFC3986, &url), 0);
    assert_int_equal(ob_base64_encode(SECRET, strlen(SECRET), &b64), 0);
    snprintf(text, sizeof text, "raw %s url %s b64 %s abc", SECRET, url.data, b64.data);
    size_t n = ob_redact(text);
    assert_int_equal(n, strlen(text));
    assert_string_equal(text, "raw **** url **** b64 **** abc");
    ob_buf_reset(&url);
    ob_buf_reset(&b64);
}

static void log_hostile(void *arg)
{
    (void)arg;
    ob_log_write(OB_LOG_ERROR, "tr\nace", "warehouse answered: %s",
                 "bad\n2026-01-01T00:00:00.000Z error forged line\x1b[31m red \x7f " SECRET);
}

/* Regression: a warehouse's error body or an order's field with a newline
 * and an escape sequence forged log lines (src/log.c wrote messages raw). */
static void test_log_line_escaped_and_redacted(void **state)
{
    (void)state;
    assert_int_equal(ob_redact_add(SECRET), 0);
    char *out = capture_stderr(log_hostile, NULL);
    /* one line, ending in its only newline */
    assert_non_null(strchr(out, '\n'));
    assert_int_equal(strchr(out, '\n') - out, (ptrdiff_t)strlen(out) - 1);
    assert_null(strchr(out, '\x1b'));
    assert_null(strchr(out, '\x7f'));
    assert_contains(out, "[tr\\nace] warehouse answered: bad\\n2026-01-01T00:00:00.000Z error "
                         "forged line\\x1b[31m red \\x7f ****");
    assert_null(strstr(out, SECRET));
    free(out);
}

/* Regression: librdkafka's "Invalid value ... for configuration property"
 * carried a resolved secret into `check` and the log. */
static void test_librdkafka_message_redacted(void **state)
{
    (void)state;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();

    assert_int_equal(ob_redact_add(SECRET), 0);
    assert_int_equal(ob_kafka_conf_set(conf, "security.protocol", SECRET, errstr, sizeof errstr),
                     -1);
    assert_null(strstr(errstr, SECRET));
    assert_contains(errstr, "****");
    rd_kafka_conf_destroy(conf);
}

/* A warehouse echoing our key in its refusal: the status event's reason
 * and raw text leave the process on Kafka. */
static void test_status_event_redacted(void **state)
{
    (void)state;
    size_t len;
    assert_int_equal(ob_redact_add(SECRET), 0);
    struct ob_status_event ev = {.order_id = "SO1", .warehouse = "W", .status = "REJECTED",
                                 .source = "push", .reason = "bad sign for key " SECRET,
                                 .raw_code = "E1", .raw_text = "key=" SECRET};
    char *json = ob_status_event_json(&ev, &len);
    assert_non_null(json);
    assert_null(strstr(json, SECRET));
    assert_contains(json, "\"reason\":\"bad sign for key ****\"");
    assert_contains(json, "\"text\":\"key=****\"");
    free(json);
}

/* The config registers what it resolves; a shared secret file warns, or
 * is refused with secrets.file_permissions "refuse". */
struct parse_args {
    const char *text;
    int rc;
    char err[2048];
};

static void parse_config(void *arg)
{
    struct parse_args *a = arg;
    struct ob_config *cfg = NULL;
    a->rc = ob_config_parse(a->text, strlen(a->text), NULL, &cfg, a->err, sizeof a->err);
    ob_config_destroy(cfg);
}

static void test_secret_files(void **state)
{
    (void)state;
    char path[] = "/tmp/ob-test-secret-XXXXXX", text[2048];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
    close(fd);
    static const char fmt[] =
        "{'kafka':{'bootstrap_servers':'k:9092'},%s"
        "'warehouses':{'W':{'adapter':'rest','endpoint':'http://127.0.0.1:1',"
        "'credentials':{'key':'file:%s'}}}}";

    /* 0600: silent, and the value is masked from then on */
    snprintf(text, sizeof text, fmt, "", path);
    struct parse_args a = {.text = J(text)};
    char *out = capture_stderr(parse_config, &a);
    assert_int_equal(a.rc, 0);
    assert_string_equal(out, "");
    free(out);
    char probe[64] = "x " SECRET " y";
    ob_redact(probe);
    assert_string_equal(probe, "x **** y");

    /* 0644: a warning naming the path and mode, never the value */
    assert_int_equal(chmod(path, 0644), 0);
    out = capture_stderr(parse_config, &a);
    assert_int_equal(a.rc, 0);
    assert_contains(out, "$.warehouses.W.credentials.key: file \"");
    assert_contains(out, "is readable or writable by group or others (mode 0644)");
    assert_null(strstr(out, SECRET));
    free(out);

    /* refused when asked */
    snprintf(text, sizeof text, fmt, "'secrets':{'file_permissions':'refuse'},", path);
    a.text = J(text);
    out = capture_stderr(parse_config, &a);
    assert_int_equal(a.rc, -1);
    assert_contains(a.err, "$.warehouses.W.credentials.key: file \"");
    assert_contains(a.err, "(mode 0644); chmod 600 it");
    free(out);

    /* and a typo in the option is caught */
    snprintf(text, sizeof text, fmt, "'secrets':{'file_permissions':'deny'},", path);
    a.text = J(text);
    out = capture_stderr(parse_config, &a);
    assert_int_equal(a.rc, -1);
    assert_contains(a.err, "$.secrets.file_permissions: must be \"warn\" or \"refuse\"");
    free(out);
    unlink(path);
}

static void value_masked(const char *text, const char *secret, const char *want)
{
    size_t len = 0;
    char *out = ob_redact_value(text, strlen(text), secret, &len);
    assert_non_null(out);
    assert_int_equal(len, strlen(out));
    if (strcmp(out, want) != 0)
        print_error("secret \"%s\" in\n  %s\nmasked as\n  %s\nnot\n  %s\n", secret, text, out,
                    want);
    assert_string_equal(out, want);
    free(out);
}

/* convert: a credential is masked where it is a value of its own (issue
 * 14, item 10: a 1-character token masked that letter in host names). */
static void test_value_masked_whole(void **state)
{
    (void)state;
    /* the letter of the host and path stays; the values go */
    value_masked("POST http://q.qimen.example/router/qm?app_key=q&v=2.0", "q",
                 "POST http://q.qimen.example/router/qm?app_key=****&v=2.0");
    value_masked("{\"key\":\"q\",\"name\":\"quinn q\"}", "q",
                 "{\"key\":\"****\",\"name\":\"quinn ****\"}");
    value_masked("q", "q", "****");
    value_masked("<key>q</key><name>quinn</name>", "q", "<key>****</key><name>quinn</name>");
    value_masked("Bearer q", "q", "Bearer ****");
    /* a word of the host name is not a value of its own */
    value_masked("https://wms1.example.com/api?token=wms1", "wms1",
                 "https://wms1.example.com/api?token=****");
    /* inside a longer token or number: not this secret */
    value_masked("sender=11000990&id=1100099", "1100099", "sender=11000990&id=****");
    value_masked("x=abc-def&y=abc_&z=abc", "abc", "x=abc-def&y=abc_&z=****");
    /* URL-encoded (both flavours) and base64 forms, as values */
    value_masked("a=K7%2Bgq%2FZp&b=K7%2Bgq%2FZp%3D", "K7+gq/Zp", "a=****&b=K7%2Bgq%2FZp%3D");
    value_masked("auth=a+b&x=a%20b", "a b", "auth=****&x=****");
    value_masked("basic YWJj", "abc", "basic ****");
    /* 16 bytes or more: wherever it appears */
    value_masked("sig=prefix_0123456789abcdef_suffix", "0123456789abcdef",
                 "sig=prefix_****_suffix");
    /* NUL bytes delimit too; nothing to mask */
    size_t len = 0;
    char *out = ob_redact_value("k\0k", 3, "k", &len);
    assert_int_equal(len, 9);
    assert_memory_equal(out, "****\0****", 9);
    free(out);
    value_masked("nothing here", "", "nothing here");
    value_masked("", "q", "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_every_form_masked, setup),
        cmocka_unit_test_setup(test_log_line_escaped_and_redacted, setup),
        cmocka_unit_test_setup(test_librdkafka_message_redacted, setup),
        cmocka_unit_test_setup(test_status_event_redacted, setup),
        cmocka_unit_test_setup(test_secret_files, setup),
        cmocka_unit_test_setup(test_value_masked_whole, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
