/*
 * test_config.c — unit tests for src/config.c (cmocka).
 *
 * Config documents are written with single quotes and turned into JSON by
 * J() so they stay readable here; no test value needs a real apostrophe.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "producer.h" /* ob_kafka_partition_of */

#include "support.h"

#ifndef OB_SOURCE_DIR
#define OB_SOURCE_DIR "."
#endif

#define KAFKA "'kafka':{'bootstrap_servers':'k1:9092'}"
#define KAFKA_WITH(more) "'kafka':{'bootstrap_servers':'k1:9092'," more "}"
#define WH "'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example/api/'}}"
#define MIN "{" KAFKA "," WH "}"

static struct ob_config *parse(const char *text, char *err, size_t size)
{
    struct ob_config *cfg = (struct ob_config *)1;
    const char *json = J(text);
    int rc = ob_config_parse(json, strlen(json), NULL, &cfg, err, size);
    if (rc == 0) {
        assert_non_null(cfg);
        if (size)
            assert_string_equal(err, "");
    } else {
        assert_int_equal(rc, -1);
        assert_null(cfg);
    }
    return cfg;
}

/* Parse a document that must fail; returns errbuf. */
static const char *fails(const char *text)
{
    static char err[8192];
    memset(err, 'X', sizeof err);
    assert_null(parse(text, err, sizeof err));
    assert_true(strlen(err) > 0);
    return err;
}

/* One whole line of errbuf must be exactly `line`. */
static void has_line(const char *err, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = err; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len == n && memcmp(p, line, n) == 0)
            return;
        p += len + (nl != NULL);
    }
    print_error("expected line:\n  %s\nin errbuf:\n%s", line, err);
    fail();
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void fails_with(const char *text, const char *line)
{
    has_line(fails(text), line);
}

static char *write_temp(const char *content, size_t len)
{
    static char paths[8][64];
    static int next;
    char *path = paths[next++ % 8];
    strcpy(path, "/tmp/ob-test-config-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, len), (ssize_t)len);
    close(fd);
    return path;
}

/* ------------------------------------------------------------------------ */

static void test_minimal_defaults(void **state)
{
    (void)state;
    char err[256];
    struct ob_config *cfg = parse(MIN, err, sizeof err);

    assert_string_equal(cfg->origin, "<embedded>");
    assert_string_equal(cfg->kafka.bootstrap_servers, "k1:9092");
    assert_string_equal(cfg->kafka.group_id, "orderbridge");
    assert_string_equal(cfg->kafka.topic_orders, "orders");
    assert_string_equal(cfg->kafka.topic_status, "fulfillment.status");
    assert_string_equal(cfg->kafka.topic_dlq, "orders.dlq");
    assert_null(cfg->kafka.instance_name);
    assert_int_equal(cfg->kafka.n_properties, 0);
    assert_int_equal(cfg->kafka.n_consumer, 0);
    assert_int_equal(cfg->kafka.n_producer, 0);
    assert_null(cfg->http.listen);
    assert_int_equal(cfg->pipeline.max_in_flight, 4096);
    assert_int_equal(cfg->pipeline.commit_interval_ms, 1000);
    assert_int_equal(cfg->pipeline.max_order_bytes, 1048576);
    assert_int_equal(cfg->pipeline.shutdown_timeout_ms, 30000);
    assert_int_equal(cfg->n_adapter_path, 0);
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->n_aliases, 0);
    assert_null(cfg->default_warehouse);

    assert_int_equal(cfg->n_warehouses, 1);
    const struct ob_warehouse_conf *w = &cfg->warehouses[0];
    assert_string_equal(w->code, "W1");
    assert_string_equal(w->adapter, "rest");
    assert_string_equal(w->endpoint, "https://w1.example/api");
    assert_int_equal(w->n_credentials, 0);
    assert_int_equal(w->connect_timeout_ms, 2000);
    assert_int_equal(w->timeout_ms, 10000);
    assert_int_equal(w->max_attempts, 5);
    assert_int_equal(w->backoff_ms, 200);
    assert_int_equal(w->max_backoff_ms, 10000);
    assert_int_equal(w->max_connections, 64);
    assert_null(w->settings);
    ob_config_destroy(cfg);
}

static void test_full_round_trip(void **state)
{
    (void)state;
    char err[1024];
    setenv("OB_TEST_TOKEN", "tok-123", 1);
    setenv("OB_TEST_SASL", "sasl-pw", 1);
    char *keyfile = write_temp("key-456\n", 8);
    char text[4096];
    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'a:1,b:2','group_id':'g1',"
             "  'topics':{'orders':'o.in','status':'s.out','dlq':'o.dead'},"
             "  'properties':{'security.protocol':'sasl_ssl','sasl.password':'env:OB_TEST_SASL',"
             "                'socket.keepalive.enable':true,'retries':3,'ratio':0.25},"
             "  'consumer':{'fetch.wait.max.ms':10},'producer':{'linger.ms':5,'acks':'all'}},"
             " 'http':{'listen':'[::1]:8081'},"
             " 'pipeline':{'max_in_flight':100,'commit_interval_ms':250,'max_order_bytes':2048,"
             "             'shutdown_timeout_ms':5000},"
             " 'adapter_path':['/opt/a','/opt/b'],"
             " 'log':{'level':'debug'},"
             " 'warehouses':{"
             "   'SF-SH-01':{'adapter':'rest','endpoint':'http://wms.example.com///',"
             "     'credentials':{'token':'env:OB_TEST_TOKEN','key':'file:%s'},"
             "     'connect_timeout_ms':1500,'timeout_ms':9000,'max_attempts':7,'backoff_ms':100,"
             "     'max_backoff_ms':8000,'max_connections':16,"
             "     'settings':{'path':'/orders','nested':{'x':[1,2]}}},"
             "   'JD_BJ.2':{'adapter':'/opt/ob-adapter-jd.so','endpoint':'https://jd.example'}},"
             " 'routing':{'aliases':{'shanghai':'SF-SH-01','beijing':'JD_BJ.2'},'default':'SF-SH-01'}}",
             keyfile);
    struct ob_config *cfg = parse(text, err, sizeof err);

    assert_string_equal(cfg->kafka.bootstrap_servers, "a:1,b:2");
    assert_string_equal(cfg->kafka.group_id, "g1");
    assert_string_equal(cfg->kafka.topic_orders, "o.in");
    assert_string_equal(cfg->kafka.topic_status, "s.out");
    assert_string_equal(cfg->kafka.topic_dlq, "o.dead");
    assert_int_equal(cfg->kafka.n_properties, 5);
    const char *props[][2] = {{"security.protocol", "sasl_ssl"},
                              {"sasl.password", "sasl-pw"},
                              {"socket.keepalive.enable", "true"},
                              {"retries", "3"},
                              {"ratio", "0.25"}};
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(cfg->kafka.properties[i].key, props[i][0]);
        assert_string_equal(cfg->kafka.properties[i].value, props[i][1]);
    }
    assert_int_equal(cfg->kafka.n_consumer, 1);
    assert_string_equal(cfg->kafka.consumer[0].key, "fetch.wait.max.ms");
    assert_string_equal(cfg->kafka.consumer[0].value, "10");
    assert_int_equal(cfg->kafka.n_producer, 2);
    assert_string_equal(cfg->kafka.producer[1].key, "acks");
    assert_string_equal(cfg->kafka.producer[1].value, "all");
    assert_string_equal(cfg->http.listen, "[::1]:8081");
    assert_int_equal(cfg->pipeline.max_in_flight, 100);
    assert_int_equal(cfg->pipeline.commit_interval_ms, 250);
    assert_int_equal(cfg->pipeline.max_order_bytes, 2048);
    assert_int_equal(cfg->pipeline.shutdown_timeout_ms, 5000);
    assert_int_equal(cfg->n_adapter_path, 2);
    assert_string_equal(cfg->adapter_path[0], "/opt/a");
    assert_string_equal(cfg->adapter_path[1], "/opt/b");
    assert_string_equal(cfg->log_level, "debug");

    assert_int_equal(cfg->n_warehouses, 2);
    const struct ob_warehouse_conf *w = ob_config_warehouse(cfg, "SF-SH-01");
    assert_ptr_equal(w, &cfg->warehouses[0]);
    assert_string_equal(w->adapter, "rest");
    assert_string_equal(w->endpoint, "http://wms.example.com");
    assert_int_equal(w->n_credentials, 2);
    assert_string_equal(w->credentials[0].name, "token");
    assert_string_equal(w->credentials[0].ref, "env:OB_TEST_TOKEN");
    assert_string_equal(w->credentials[0].value, "tok-123");
    assert_string_equal(w->credentials[1].name, "key");
    assert_string_equal(w->credentials[1].value, "key-456");
    assert_int_equal(w->connect_timeout_ms, 1500);
    assert_int_equal(w->timeout_ms, 9000);
    assert_int_equal(w->max_attempts, 7);
    assert_int_equal(w->backoff_ms, 100);
    assert_int_equal(w->max_backoff_ms, 8000);
    assert_int_equal(w->max_connections, 16);
    assert_true(json_is_object(w->settings));
    assert_string_equal(json_string_value(json_object_get(w->settings, "path")), "/orders");
    assert_int_equal(json_array_size(json_object_get(json_object_get(w->settings, "nested"), "x")), 2);

    w = ob_config_warehouse(cfg, "JD_BJ.2");
    assert_ptr_equal(w, &cfg->warehouses[1]);
    assert_string_equal(w->adapter, "/opt/ob-adapter-jd.so");
    assert_string_equal(w->endpoint, "https://jd.example");
    assert_null(w->settings);

    assert_int_equal(cfg->n_aliases, 2);
    assert_string_equal(cfg->aliases[0].name, "shanghai");
    assert_string_equal(cfg->aliases[0].warehouse, "SF-SH-01");
    assert_string_equal(cfg->aliases[1].name, "beijing");
    assert_string_equal(cfg->aliases[1].warehouse, "JD_BJ.2");
    assert_string_equal(cfg->default_warehouse, "SF-SH-01");

    /* settings is owned by the config, not by the parsed document. */
    json_t *settings = json_incref(cfg->warehouses[0].settings);
    ob_config_destroy(cfg);
    assert_int_equal(settings->refcount, 1);
    json_decref(settings);
    unlink(keyfile);
}

/* log.format: "text" by default, "json" on request, nothing else. */
static void test_log_format(void **state)
{
    (void)state;
    char err[256];
    struct ob_config *cfg = parse(MIN, err, sizeof err);
    assert_string_equal(cfg->log_format, "text");
    ob_config_destroy(cfg);

    cfg = parse("{" KAFKA "," WH ",'log':{'format':'json'}}", err, sizeof err);
    assert_string_equal(cfg->log_format, "json");
    assert_string_equal(cfg->log_level, "info");
    ob_config_destroy(cfg);
    cfg = parse("{" KAFKA "," WH ",'log':{'level':'warn','format':'text'}}", err, sizeof err);
    assert_string_equal(cfg->log_format, "text");
    ob_config_destroy(cfg);

    fails_with("{" KAFKA "," WH ",'log':{'format':'JSON'}}",
               "$.log.format: must be \"text\" or \"json\"");
    fails_with("{" KAFKA "," WH ",'log':{'format':'logfmt'}}",
               "$.log.format: must be \"text\" or \"json\"");
    fails_with("{" KAFKA "," WH ",'log':{'format':''}}", "$.log.format: must be a non-empty string");
    fails_with("{" KAFKA "," WH ",'log':{'format':true}}", "$.log.format: must be a non-empty string");
    fails_with("{" KAFKA "," WH ",'log':{'fromat':'json'}}",
               "$.log.fromat: unknown key (did you mean \"format\"?)");
}

/* OB_CONFIG_NO_WAREHOUSE_SECRETS (replay): warehouse credentials and TLS
 * files are not read, Kafka's secrets still are, the rest is checked. */
static void test_without_warehouse_secrets(void **state)
{
    (void)state;
    char err[2048];
    struct ob_config *cfg = NULL;
    const char *text =
        J("{'kafka':{'bootstrap_servers':'k1:9092','properties':{'sasl.password':'env:OB_TEST_KPW'}},"
          " 'ledger':{'path':'/tmp/x'},"
          " 'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
          "   'credentials':{'token':'env:OB_TEST_UNSET_TOKEN','key':'file:/nonexistent/k',"
          "                  'empty':''},"
          "   'tls':{'ca_file':'/nonexistent/ca.pem','client_cert':'/nonexistent/c.pem',"
          "          'client_key':'/nonexistent/k.pem'}}}}");

    unsetenv("OB_TEST_UNSET_TOKEN");
    setenv("OB_TEST_KPW", "kafka-pw", 1);
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, err, sizeof err), -1);
    assert_contains(err, "OB_TEST_UNSET_TOKEN");
    assert_contains(err, "ca.pem");

    assert_int_equal(ob_config_parse_ex(text, strlen(text), NULL, OB_CONFIG_NO_WAREHOUSE_SECRETS,
                                        &cfg, err, sizeof err),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(cfg->warehouses[0].n_credentials, 0);
    assert_null(cfg->warehouses[0].tls.ca_pem);
    assert_string_equal(ob_kv_get(cfg->kafka.properties, cfg->kafka.n_properties, "sasl.password"),
                        "kafka-pw");
    assert_string_equal(cfg->ledger.path, "/tmp/x");
    ob_config_destroy(cfg);

    /* Kafka's own secret is still needed, and a bad config is still bad */
    unsetenv("OB_TEST_KPW");
    cfg = NULL;
    assert_int_equal(ob_config_parse_ex(text, strlen(text), NULL, OB_CONFIG_NO_WAREHOUSE_SECRETS,
                                        &cfg, err, sizeof err),
                     -1);
    has_line(err, "$.kafka.properties[\"sasl.password\"]: environment variable OB_TEST_KPW is not set");
    assert_int_equal(count_lines(err), 1);
    text = J("{" KAFKA ",'warehouses':{'W1':{'adapter':'rest','endpoint':'h','credentials':{}}}}");
    assert_int_equal(ob_config_parse_ex(text, strlen(text), NULL, OB_CONFIG_NO_WAREHOUSE_SECRETS,
                                        &cfg, err, sizeof err),
                     -1);
    has_line(err, "$.warehouses.W1.endpoint: must start with http:// or https://");
}

static void test_unknown_keys(void **state)
{
    (void)state;
    const char *err = fails("{'kafka':{'bootstrap_servers':'k','grop_id':'g','topics':{'order':'x'}},"
                            " 'http':{'listen':'h:1','port':2},"
                            " 'pipeline':{'max_inflight':1},"
                            " 'log':{'level':'info','file':'x'},"
                            " 'warehouses':{'SF-SH-01':{'adapter':'rest','endpoint':'http://h',"
                            "                           'timout_ms':5}},"
                            " 'routing':{'alias':{}},"
                            " 'metrics':{}, 'extra':1}");
    has_line(err, "$.kafka.grop_id: unknown key (did you mean \"group_id\"?)");
    has_line(err, "$.kafka.topics.order: unknown key (did you mean \"orders\"?)");
    has_line(err, "$.http.port: unknown key");
    has_line(err, "$.pipeline.max_inflight: unknown key (did you mean \"max_in_flight\"?)");
    has_line(err, "$.log.file: unknown key");
    has_line(err, "$.warehouses.SF-SH-01.timout_ms: unknown key (did you mean \"timeout_ms\"?)");
    has_line(err, "$.routing.alias: unknown key (did you mean \"aliases\"?)");
    has_line(err, "$.metrics: unknown key");
    has_line(err, "$.extra: unknown key");
    assert_int_equal(count_lines(err), 9);

    /* A dotted key is bracketed, or the path would be ambiguous. */
    fails_with("{'kafka':{'bootstrap.servers':'k'}," WH "}",
               "$.kafka[\"bootstrap.servers\"]: unknown key (did you mean \"bootstrap_servers\"?)");

    /* Free-form levels accept any key. */
    char err2[256];
    struct ob_config *cfg =
        parse("{'kafka':{'bootstrap_servers':'k','properties':{'whatever.x':1},"
              "'consumer':{'y':2},'producer':{'z':3}},"
              "'warehouses':{'W':{'adapter':'a','endpoint':'http://h','settings':{'anything':[]}}}}",
              err2, sizeof err2);
    ob_config_destroy(cfg);
}

static void test_missing_required(void **state)
{
    (void)state;
    const char *err = fails("{}");
    has_line(err, "$.kafka: required");
    has_line(err, "$.warehouses: required");
    assert_int_equal(count_lines(err), 2); /* nothing about keys inside the missing block */

    err = fails("{'kafka':{},'http':{},'warehouses':{'W':{}}}");
    has_line(err, "$.kafka.bootstrap_servers: required");
    has_line(err, "$.http.listen: required");
    has_line(err, "$.warehouses.W.adapter: required");
    has_line(err, "$.warehouses.W.endpoint: required");
    assert_int_equal(count_lines(err), 4);

    fails_with("{" KAFKA ",'warehouses':{}}",
               "$.warehouses: must be an object naming at least one warehouse");
}

static void test_wrong_types(void **state)
{
    (void)state;
    const char *err = fails("{'kafka':{'bootstrap_servers':9092,'group_id':'','topics':[],"
                            "          'properties':[],'consumer':{'a':null},'producer':{'b':{}}},"
                            " 'http':'127.0.0.1:8080',"
                            " 'pipeline':{'max_in_flight':'10','commit_interval_ms':1.5,"
                            "             'max_order_bytes':true,'shutdown_timeout_ms':null},"
                            " 'adapter_path':'/opt','log':{'level':'verbose'},"
                            " 'warehouses':{'W':{'adapter':['rest'],'endpoint':'http://h','credentials':[],"
                            "   'max_attempts':'5','settings':'x'},'V':7},"
                            " 'routing':{'aliases':{'x':1},'default':false}}");
    has_line(err, "$.kafka.bootstrap_servers: must be a non-empty string");
    has_line(err, "$.kafka.group_id: must be a non-empty string");
    has_line(err, "$.kafka.topics: must be an object");
    has_line(err, "$.kafka.properties: must be an object of strings, numbers or booleans");
    has_line(err, "$.kafka.consumer.a: must be a string, number or boolean");
    has_line(err, "$.kafka.producer.b: must be a string, number or boolean");
    has_line(err, "$.http: must be an object");
    has_line(err, "$.pipeline.max_in_flight: must be an integer from 1 to 1000000");
    has_line(err, "$.pipeline.commit_interval_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.pipeline.max_order_bytes: must be an integer from 1 to 1000000000");
    has_line(err, "$.pipeline.shutdown_timeout_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.adapter_path: must be an array of strings");
    has_line(err, "$.log.level: must be one of error, warn, info, debug");
    has_line(err, "$.warehouses.W.adapter: must be a non-empty string");
    has_line(err, "$.warehouses.W.credentials: must be an object of env:NAME / file:PATH references");
    has_line(err, "$.warehouses.W.max_attempts: must be an integer >= 1");
    has_line(err, "$.warehouses.W.settings: must be an object");
    has_line(err, "$.warehouses.V: must be an object");
    has_line(err, "$.routing.aliases.x: must be a warehouse code (string)");
    has_line(err, "$.routing.default: must be a non-empty string");
    assert_int_equal(count_lines(err), 20);

    fails_with("{" KAFKA "," WH ",'adapter_path':['/a',2,'']}", "$.adapter_path[1]: must be a non-empty string");
    fails_with("{" KAFKA "," WH ",'adapter_path':['/a',2,'']}", "$.adapter_path[2]: must be a non-empty string");
    fails_with("{" KAFKA ",'warehouses':[]}", "$.warehouses: must be an object naming at least one warehouse");
    fails_with("[1,2]", "$: must be an object");
}

static void test_out_of_range(void **state)
{
    (void)state;
    const char *err = fails("{" KAFKA ",'pipeline':{'max_in_flight':0,'commit_interval_ms':-5,"
                            "  'max_order_bytes':1000000001,'shutdown_timeout_ms':86400001},"
                            " 'warehouses':{'W':{'adapter':'rest','endpoint':'http://h',"
                            "   'connect_timeout_ms':0,'timeout_ms':99999999999,'max_attempts':0,"
                            "   'backoff_ms':-1,'max_backoff_ms':0,'max_connections':2147483648}}}");
    has_line(err, "$.pipeline.max_in_flight: must be an integer from 1 to 1000000");
    has_line(err, "$.pipeline.commit_interval_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.pipeline.max_order_bytes: must be an integer from 1 to 1000000000");
    has_line(err, "$.pipeline.shutdown_timeout_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.warehouses.W.connect_timeout_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.warehouses.W.timeout_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.warehouses.W.max_attempts: must be an integer >= 1");
    has_line(err, "$.warehouses.W.backoff_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.warehouses.W.max_backoff_ms: must be an integer from 1 to 86400000");
    has_line(err, "$.warehouses.W.max_connections: must be an integer >= 1");
    /* No follow-on cross-field complaints about values already reported. */
    assert_int_equal(count_lines(err), 10);

    fails_with("{" KAFKA ",'pipeline':{'max_in_flight':1000001}," WH "}",
               "$.pipeline.max_in_flight: must be an integer from 1 to 1000000");

    /* Boundaries are accepted. */
    char e[256];
    ob_config_destroy(parse("{" KAFKA ",'pipeline':{'max_in_flight':1000000,'commit_interval_ms':1}," WH "}",
                            e, sizeof e));
    ob_config_destroy(parse("{" KAFKA ",'pipeline':{'max_in_flight':1}," WH "}", e, sizeof e));

    /* Cross-field rules. */
    err = fails("{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'http://h',"
                "  'connect_timeout_ms':5000,'timeout_ms':4000,'backoff_ms':500,'max_backoff_ms':400}}}");
    has_line(err, "$.warehouses.W.max_backoff_ms: must be >= backoff_ms (500)");
    has_line(err, "$.warehouses.W.connect_timeout_ms: must be <= timeout_ms (4000)");
    assert_int_equal(count_lines(err), 2);
    /* Against a default too. */
    fails_with("{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'http://h','backoff_ms':20000}}}",
               "$.warehouses.W.max_backoff_ms: must be >= backoff_ms (20000)");
}

static void test_status_sources(void **state)
{
    (void)state;
    char err[1024];
    struct ob_config *cfg = parse(
        "{" KAFKA ",'http':{'listen':'127.0.0.1:0','max_pending':10},'ledger':{'path':'/tmp/l'},"
        "'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
        "'callback':{'path':'/cb/W1','allow_from':['10.0.0.0/8','::1']}},"
        "'W2':{'adapter':'ems','endpoint':'https://w2.example','poll':{'interval_ms':60000}}}}",
        err, sizeof err);
    const struct ob_warehouse_conf *w1 = ob_config_warehouse(cfg, "W1");
    const struct ob_warehouse_conf *w2 = ob_config_warehouse(cfg, "W2");
    assert_string_equal(w1->callback.path, "/cb/W1");
    assert_int_equal(w1->callback.n_allow_from, 2);
    assert_string_equal(w1->callback.allow_from[1], "::1");
    assert_int_equal(w1->callback.max_body_bytes, 1048576);
    assert_int_equal(w1->poll.interval_ms, 0);
    assert_null(w2->callback.path);
    assert_int_equal(w2->poll.interval_ms, 60000);
    assert_true(w2->poll.per_second == 20.0);
    assert_int_equal(w2->poll.max_in_flight, 4);
    assert_int_equal(cfg->http.max_pending, 10);
    ob_config_destroy(cfg);

    /* a fractional minimum holds (it was cut to 0 by a long) */
    fails_with("{" KAFKA ",'ledger':{'path':'/tmp/l'},'warehouses':{'W2':{'adapter':'ems',"
               "'endpoint':'https://w2.example','poll':{'interval_ms':1000,'per_second':0}}}}",
               "$.warehouses.W2.poll.per_second: must be a number from 0.01 to 1e+06");

    /* callbacks need the server and the ledger; polling the ledger */
    fails_with("{" KAFKA ",'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
               "'callback':{'path':'/cb/W1'}}}}",
               "$.warehouses.W1.callback: needs $.http.listen");
    fails_with("{" KAFKA ",'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
               "'poll':{'interval_ms':1000}}}}",
               "$.warehouses.W1: callback and poll need $.ledger (each order's state is kept there)");
    /* one path per warehouse; a path is a path */
    fails_with("{" KAFKA ",'http':{'listen':'127.0.0.1:0'},'ledger':{'path':'/tmp/l'},"
               "'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
               "'callback':{'path':'/cb'}},'W2':{'adapter':'rest','endpoint':'https://w2.example',"
               "'callback':{'path':'/cb'}}}}",
               "$.warehouses.W2.callback.path: already used by warehouse W1");
    static const char *const bad_paths[] = {"cb", "/", "/cb/", "/a//b", "/cb?x=1", "/metrics",
                                            "/a b", "/readyz", "/dashboard", "/dashboard/cb",
                                            "/api", "/api/cb"};
    for (size_t i = 0; i < sizeof bad_paths / sizeof *bad_paths; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{" KAFKA ",'http':{'listen':'127.0.0.1:0'},'ledger':{'path':'/tmp/l'},"
                 "'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example',"
                 "'callback':{'path':'%s'}}}}", bad_paths[i]);
        fails(text);
    }
    fails_with("{" KAFKA ",'http':{'listen':'127.0.0.1:0','tls_cert':'/c.pem'}," WH "}",
               "$.http: tls_cert and tls_key go together");
}

static void test_listen(void **state)
{
    (void)state;
    static const char *good[] = {"127.0.0.1:8080", "0.0.0.0:1", "localhost:65535", "[::1]:8080",
                                 "[::]:80"};
    static const char *bad[] = {"127.0.0.1", "127.0.0.1:65536", ":8080",
                                "h:", "h:80a", "h:-1", "h:+80", "h:123456", "h:99999"};
    char text[512], err[512];
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        snprintf(text, sizeof text, "{" KAFKA "," WH ",'http':{'listen':'%s'}}", good[i]);
        struct ob_config *cfg = parse(text, err, sizeof err);
        assert_string_equal(cfg->http.listen, good[i]);
        ob_config_destroy(cfg);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(text, sizeof text, "{" KAFKA "," WH ",'http':{'listen':'%s'}}", bad[i]);
        fails_with(text, "$.http.listen: must be \"host:port\" with a port from 0 (any free one) to 65535");
    }
    fails_with("{" KAFKA "," WH ",'http':{'listen':'::1:8080'}}",
               "$.http.listen: must be \"host:port\"; an IPv6 host is written in brackets: \"[::1]:8080\"");
}

static void test_bad_endpoint(void **state)
{
    (void)state;
    static const struct {
        const char *url, *msg;
    } cases[] = {
        {"ftp://h", "must start with http:// or https://"},
        {"wms.example.com", "must start with http:// or https://"},
        {"HTTPS//h", "must start with http:// or https://"},
        {"https://", "must name a host after the scheme"},
        {"https:///path", "must name a host after the scheme"},
        {"https://h/a b", "must not contain spaces or control characters"},
        {"https://user:pw@h/api", "must not contain user:password@; put secrets in credentials"},
        {"https://h/api?key=1", "must be a base URL without query or fragment"},
        {"https://h/api#x", "must be a base URL without query or fragment"},
    };
    char text[512], line[256];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text, "{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'%s'}}}",
                 cases[i].url);
        snprintf(line, sizeof line, "$.warehouses.W.endpoint: %s", cases[i].msg);
        fails_with(text, line);
    }

    /* '@' after the host is a path character, not userinfo. */
    char err[256];
    struct ob_config *cfg = parse("{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'https://h/@v1/'}}}",
                                  err, sizeof err);
    assert_string_equal(cfg->warehouses[0].endpoint, "https://h/@v1");
    ob_config_destroy(cfg);
    cfg = parse("{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'http://h:8080//'}}}", err, sizeof err);
    assert_string_equal(cfg->warehouses[0].endpoint, "http://h:8080");
    ob_config_destroy(cfg);
}

static void test_bad_code(void **state)
{
    (void)state;
    char long_code[70];
    memset(long_code, 'A', 65);
    long_code[65] = '\0';
    char text[512], line[256];
    const char *codes[] = {"SF SH", "a/b", "仓库", long_code};
    const char *paths[] = {"$.warehouses[\"SF SH\"]", "$.warehouses[\"a/b\"]", "$.warehouses[\"仓库\"]", NULL};
    for (size_t i = 0; i < 4; i++) {
        snprintf(text, sizeof text, "{" KAFKA ",'warehouses':{'%s':{'adapter':'rest','endpoint':'http://h'}}}",
                 codes[i]);
        if (paths[i])
            snprintf(line, sizeof line, "%s: invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -",
                     paths[i]);
        else
            snprintf(line, sizeof line, "$.warehouses.%s: invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -",
                     long_code);
        fails_with(text, line);
    }
    fails_with("{" KAFKA ",'warehouses':{'':{'adapter':'rest','endpoint':'http://h'}}}",
               "$.warehouses[\"\"]: invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -");
    /* A control character cannot forge a line in errbuf. */
    fails_with("{" KAFKA ",'warehouses':{'a\\nb':{'adapter':'rest','endpoint':'http://h'}}}",
               "$.warehouses[\"a\\x0ab\"]: invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -");

    /* 64 characters is fine. */
    long_code[64] = '\0';
    char err[256];
    snprintf(text, sizeof text, "{" KAFKA ",'warehouses':{'%s':{'adapter':'rest','endpoint':'http://h'}}}",
             long_code);
    ob_config_destroy(parse(text, err, sizeof err));
}

static void test_routing(void **state)
{
    (void)state;
    const char *err = fails("{" KAFKA "," WH ",'routing':{'aliases':{'shanghai':'W1','beijing':'W9',"
                            " '上海':'W\\n2','W1':'W1','':'W1'},'default':'W2'}}");
    has_line(err, "$.routing.aliases.beijing: no warehouse \"W9\" is configured");
    has_line(err, "$.routing.aliases[\"上海\"]: no warehouse \"W\\x0a2\" is configured");
    has_line(err, "$.routing.aliases.W1: is a configured warehouse code; an alias cannot redirect it");
    has_line(err, "$.routing.aliases[\"\"]: alias name must not be empty");
    has_line(err, "$.routing.default: no warehouse \"W2\" is configured");
    assert_int_equal(count_lines(err), 5);

    /* Routing may come before the warehouses it names. */
    char e[256];
    struct ob_config *cfg =
        parse("{'routing':{'aliases':{'sh':'W1'},'default':'W1'}," KAFKA "," WH "}", e, sizeof e);
    assert_string_equal(cfg->aliases[0].warehouse, "W1");
    ob_config_destroy(cfg);
    /* Codes are case-sensitive. */
    fails_with("{" KAFKA "," WH ",'routing':{'default':'w1'}}",
               "$.routing.default: no warehouse \"w1\" is configured");
}

/* ------------------------------------------------------------------------ */
/* routing.rules                                                             */

#define WH3                                                                                       \
    "'warehouses':{'W1':{'adapter':'rest','endpoint':'https://w1.example'},"                      \
    "'W2':{'adapter':'rest','endpoint':'https://w2.example'},"                                    \
    "'W3':{'adapter':'rest','endpoint':'https://w3.example'}}"

/* A config whose routing block is `routing` (single-quoted JSON). */
#define ROUTING(routing) "{" KAFKA "," WH3 ",'routing':{" routing "}}"

static void test_rules_parsed(void **state)
{
    (void)state;
    char e[512];
    /* Routing first: rule targets resolve once every warehouse is known. */
    struct ob_config *cfg = parse(
        "{'routing':{'rules':["
        "  {'name':'presale-east','match':{'priority':['presale'],'province':['上海市','浙江省']},"
        "   'warehouse':'W2'},"
        "  {'match':{},'warehouse':'W3'},"
        "  {'warehouse':'W1','match':{'sku_prefix':['SKE-','A'],'channel':['jd','tmall'],"
        "   'shop_id':['s'],'city':['杭州市']},'name':'华东 鞋'}],"
        " 'aliases':{'sh':'W3'}},"
        KAFKA "," WH3 "}",
        e, sizeof e);
    assert_int_equal(cfg->n_rules, 3);

    const struct ob_route_rule *r = &cfg->rules[0];
    assert_string_equal(r->name, "presale-east");
    assert_string_equal(r->warehouse, "W2");
    assert_int_equal(r->index, 1);
    assert_int_equal(r->match[OB_ROUTE_PRIORITY].n, 1);
    assert_string_equal(r->match[OB_ROUTE_PRIORITY].values[0], "presale");
    assert_int_equal(r->match[OB_ROUTE_PROVINCE].n, 2);
    assert_string_equal(r->match[OB_ROUTE_PROVINCE].values[1], "浙江省");
    assert_int_equal(r->match[OB_ROUTE_PROVINCE].lens[1], strlen("浙江省"));
    assert_int_equal(r->match[OB_ROUTE_CHANNEL].n, 0);
    assert_int_equal(r->match[OB_ROUTE_SKU_PREFIX].n, 0);

    r = &cfg->rules[1];
    assert_string_equal(r->name, "rules[1]"); /* the default name */
    assert_int_equal(r->index, 2);
    for (int k = 0; k < OB_ROUTE_N_KEYS; k++)
        assert_int_equal(r->match[k].n, 0); /* {}: every order */

    r = &cfg->rules[2];
    assert_string_equal(r->name, "华东 鞋");
    assert_int_equal(r->index, 0);
    assert_int_equal(r->match[OB_ROUTE_SKU_PREFIX].n, 2);
    assert_string_equal(r->match[OB_ROUTE_SKU_PREFIX].values[0], "SKE-");
    assert_int_equal(r->match[OB_ROUTE_SKU_PREFIX].lens[0], 4);
    assert_int_equal(r->match[OB_ROUTE_SKU_PREFIX].lens[1], 1);
    assert_int_equal(r->match[OB_ROUTE_CHANNEL].n, 2);
    assert_string_equal(r->match[OB_ROUTE_CHANNEL].values[1], "tmall");
    assert_string_equal(r->match[OB_ROUTE_SHOP_ID].values[0], "s");
    assert_string_equal(r->match[OB_ROUTE_CITY].values[0], "杭州市");

    /* The alias and default targets are resolved too. */
    assert_int_equal(cfg->aliases[0].index, 2);
    assert_null(cfg->default_warehouse);
    assert_int_equal(cfg->default_index, -1);
    ob_config_destroy(cfg);

    cfg = parse(ROUTING("'default':'W2','rules':[]"), e, sizeof e);
    assert_int_equal(cfg->n_rules, 0);
    assert_int_equal(cfg->default_index, 1);
    ob_config_destroy(cfg);

    /* No routing block at all. */
    cfg = parse(MIN, e, sizeof e);
    assert_int_equal(cfg->n_rules, 0);
    assert_null(cfg->rules);
    assert_int_equal(cfg->default_index, -1);
    ob_config_destroy(cfg);
}

static void test_rules_errors(void **state)
{
    (void)state;
    const char *err = fails(ROUTING(
        "'rules':["
        /* 0 */ "{'match':{'channel':['jd']},'warehouse':'X'},"
        /* 1 */ "{'match':{'chanel':['jd']},'warehouse':'W1'},"
        /* 2 */ "{'match':{'channel':[]},'warehouse':'W1'},"
        /* 3 */ "{'match':{'province':'上海市','city':['a','',5],'shop_id':{}},'warehouse':'W1'},"
        /* 4 */ "{'match':{'channel':['jd','JD','wechat'],'priority':['urgent','presale']},"
        "       'warehouse':'W1'},"
        /* 5 */ "'W1',"
        /* 6 */ "{},"
        /* 7 */ "{'match':[],'warehose':'W1'},"
        /* 8 */ "{'match':{'sku_prefix':['SKE-',null]},'warehouse':'shanghai'},"
        /* 9 */ "{'match':{},'warehouse':''}"
        "],'aliases':{'shanghai':'W1'}"));
    const char *expect =
        "$.routing.rules[1].match.chanel: unknown key (did you mean \"channel\"?)\n"
        "$.routing.rules[2].match.channel: must be a non-empty array of strings\n"
        "$.routing.rules[3].match.province: must be a non-empty array of strings\n"
        "$.routing.rules[3].match.city[1]: must be a non-empty string\n"
        "$.routing.rules[3].match.city[2]: must be a non-empty string\n"
        "$.routing.rules[3].match.shop_id: must be a non-empty array of strings\n"
        "$.routing.rules[4].match.channel[1]: must be an order.v1 channel: tmall, jd, pdd, douyin, "
        "wechat, website, store\n"
        "$.routing.rules[4].match.priority[0]: must be an order.v1 priority: normal, express, "
        "presale\n"
        "$.routing.rules[5]: must be an object\n"
        "$.routing.rules[6].match: required\n"
        "$.routing.rules[6].warehouse: required\n"
        "$.routing.rules[7].match: must be an object\n"
        "$.routing.rules[7].warehose: unknown key (did you mean \"warehouse\"?)\n"
        "$.routing.rules[7].warehouse: required\n"
        "$.routing.rules[8].match.sku_prefix[1]: must be a non-empty string\n"
        "$.routing.rules[9].warehouse: must be a non-empty string\n"
        "$.routing.rules[0].warehouse: \"X\" is not a configured warehouse\n"
        /* An alias is a name orders use, not a warehouse. */
        "$.routing.rules[8].warehouse: \"shanghai\" is not a configured warehouse\n";
    assert_string_equal(err, expect);

    fails_with(ROUTING("'rules':{'a':{}}"), "$.routing.rules: must be an array of rule objects");
    fails_with(ROUTING("'rules':null"), "$.routing.rules: must be an array of rule objects");
    fails_with(ROUTING("'rules':[{'match':{},'warehouse':'w1'}]"),
               "$.routing.rules[0].warehouse: \"w1\" is not a configured warehouse");
    fails_with(ROUTING("'rules':[{'match':{},'warehouse':'W\\n9'}]"),
               "$.routing.rules[0].warehouse: \"W\\x0a9\" is not a configured warehouse");
    fails_with(ROUTING("'rules':[{'match':{'channel':['jd']},'warehouse':'W1','when':1}]"),
               "$.routing.rules[0].when: unknown key");
    fails_with(ROUTING("'rules':[{'match':{'sku':['A']},'warehouse':'W1'}]"),
               "$.routing.rules[0].match.sku: unknown key");
}

static void test_rule_names(void **state)
{
    (void)state;
    const char *err = fails(ROUTING("'rules':["
                                    "{'name':'a','match':{},'warehouse':'W1'},"
                                    "{'name':'b','match':{},'warehouse':'W1'},"
                                    "{'name':'a','match':{},'warehouse':'W1'},"
                                    "{'name':'b','match':{},'warehouse':'W1'}]"));
    has_line(err, "$.routing.rules[2].name: \"a\" is already the name of rules[0]");
    has_line(err, "$.routing.rules[3].name: \"b\" is already the name of rules[1]");
    assert_int_equal(count_lines(err), 2);

    /* Default names count: reported where a name was written. */
    fails_with(ROUTING("'rules':[{'name':'rules[1]','match':{},'warehouse':'W1'},"
                       "{'match':{},'warehouse':'W1'}]"),
               "$.routing.rules[0].name: \"rules[1]\" is the default name of rules[1]; choose "
               "another");
    fails_with(ROUTING("'rules':[{'match':{},'warehouse':'W1'},"
                       "{'name':'rules[0]','match':{},'warehouse':'W1'}]"),
               "$.routing.rules[1].name: \"rules[0]\" is already the name of rules[0]");

    /* The router's own answers cannot be rule names. */
    const char *reserved = "must not be \"warehouse field\", \"alias\" or \"default\": the router "
                           "reports those for orders no rule routed";
    const char *names[] = {"default", "alias", "warehouse field"};
    for (size_t i = 0; i < 3; i++) {
        char text[512], line[512];
        snprintf(text, sizeof text, ROUTING("'rules':[{'name':'%s','match':{},'warehouse':'W1'}]"),
                 names[i]);
        snprintf(line, sizeof line, "$.routing.rules[0].name: %s", reserved);
        fails_with(text, line);
    }

    fails_with(ROUTING("'rules':[{'name':'a\\nb','match':{},'warehouse':'W1'}]"),
               "$.routing.rules[0].name: must not contain control characters");
    fails_with(ROUTING("'rules':[{'name':'','match':{},'warehouse':'W1'}]"),
               "$.routing.rules[0].name: must be a non-empty string");
    fails_with(ROUTING("'rules':[{'name':7,'match':{},'warehouse':'W1'}]"),
               "$.routing.rules[0].name: must be a non-empty string");

    char text[1024], name[130];
    memset(name, 'n', 129);
    name[129] = '\0';
    snprintf(text, sizeof text, ROUTING("'rules':[{'name':'%s','match':{},'warehouse':'W1'}]"), name);
    fails_with(text, "$.routing.rules[0].name: must be at most 128 bytes");
    name[128] = '\0';
    snprintf(text, sizeof text, ROUTING("'rules':[{'name':'%s','match':{},'warehouse':'W1'}]"), name);
    char e[256];
    struct ob_config *cfg = parse(text, e, sizeof e);
    assert_string_equal(cfg->rules[0].name, name);
    ob_config_destroy(cfg);

    /* Names that only look alike are different names. */
    cfg = parse(ROUTING("'rules':[{'name':'Default','match':{},'warehouse':'W1'},"
                        "{'name':'a ','match':{},'warehouse':'W1'},"
                        "{'name':'a','match':{},'warehouse':'W1'}]"),
                e, sizeof e);
    assert_int_equal(cfg->n_rules, 3);
    ob_config_destroy(cfg);
}

/* The values of one enum of contracts/order.v1.schema.json, joined with
 * `sep`, each between `quote`s. Returns how many. */
static size_t schema_enum(json_t *schema, const char *field, const char *sep, const char *quote,
                          char *out, size_t size)
{
    json_t *list = json_object_get(json_object_get(json_object_get(schema, "properties"), field),
                                   "enum");
    size_t i;
    json_t *v;
    assert_true(json_is_array(list) && json_array_size(list) > 0);
    out[0] = '\0';
    json_array_foreach(list, i, v) {
        size_t n = strlen(out);
        snprintf(out + n, size - n, "%s%s%s%s", i ? sep : "", quote, json_string_value(v), quote);
    }
    return json_array_size(list);
}

/* channel and priority accept exactly the values order.v1 allows, and say
 * which ones those are. */
static void test_rule_enums_follow_contract(void **state)
{
    (void)state;
    json_error_t jerr;
    json_t *schema = json_load_file(OB_CONTRACTS_DIR "/order.v1.schema.json", 0, &jerr);
    assert_non_null(schema);
    const char *fields[] = {"channel", "priority"};
    const enum ob_route_key keys[] = {OB_ROUTE_CHANNEL, OB_ROUTE_PRIORITY};
    for (size_t f = 0; f < 2; f++) {
        char values[512], text[2048], line[1024], e[256];

        /* A value outside the enum: the message lists the enum. */
        schema_enum(schema, fields[f], ", ", "", values, sizeof values);
        snprintf(text, sizeof text,
                 ROUTING("'rules':[{'match':{'%s':['nope']},'warehouse':'W1'}]"), fields[f]);
        snprintf(line, sizeof line, "$.routing.rules[0].match.%s[0]: must be an order.v1 %s: %s",
                 fields[f], fields[f], values);
        fails_with(text, line);

        /* Every value of the enum is accepted. */
        size_t n = schema_enum(schema, fields[f], ",", "'", values, sizeof values);
        snprintf(text, sizeof text, ROUTING("'rules':[{'match':{'%s':[%s]},'warehouse':'W1'}]"),
                 fields[f], values);
        struct ob_config *cfg = parse(text, e, sizeof e);
        assert_int_equal(cfg->rules[0].match[keys[f]].n, n);
        ob_config_destroy(cfg);
    }
    json_decref(schema);
}

static void test_topics(void **state)
{
    (void)state;
    const char *err = fails("{'kafka':{'bootstrap_servers':'k','topics':{'orders':'a','status':'a','dlq':'a'}}," WH "}");
    has_line(err, "$.kafka.topics.status: must differ from $.kafka.topics.orders");
    has_line(err, "$.kafka.topics.dlq: must differ from $.kafka.topics.orders");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'dlq':'orders'}}," WH "}",
               "$.kafka.topics.dlq: must differ from $.kafka.topics.orders");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'express':'orders.retry'}}," WH "}",
               "$.kafka.topics.express: must differ from the orders, retry, status and dlq topics");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'express':'orders'}}," WH "}",
               "$.kafka.topics.express: must differ from the orders, retry, status and dlq topics");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'state':'fulfillment.status'}}," WH "}",
               "$.kafka.topics.state: must differ from the other topics");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'orders':'bad topic'}}," WH "}",
               "$.kafka.topics.orders: must be a Kafka topic name (1-249 characters of A-Z a-z 0-9 . _ -)");
    /* callbacks through Kafka: another topic, the state changelog, the range assignor */
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'state':'s','callbacks':'s'}},"
               "'ledger':{'path':'/tmp/x'}," WH "}",
               "$.kafka.topics.callbacks: must differ from the other topics");
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'callbacks':'c'}}," WH "}",
               "$.kafka.topics.callbacks: needs $.kafka.topics.state (the owner of an order's "
               "partition applies its callbacks to the state it restored)");
    const char *assignor =
        "$.kafka.topics.callbacks: needs partition.assignment.strategy \"range\" (the default): "
        "only it gives partition N of orders and of the callbacks topic to the same instance";
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'state':'s','callbacks':'c'},"
               "'consumer':{'partition.assignment.strategy':'cooperative-sticky'}},"
               "'ledger':{'path':'/tmp/x'}," WH "}", assignor);
    fails_with("{'kafka':{'bootstrap_servers':'k','topics':{'state':'s','callbacks':'c'},"
               "'properties':{'partition.assignment.strategy':'roundrobin'}},"
               "'ledger':{'path':'/tmp/x'}," WH "}", assignor);
    char buf[512];
    struct ob_config *cfg = parse("{'kafka':{'bootstrap_servers':'k','topics':{'state':'s',"
                                  "'callbacks':'c'},'consumer':{'partition.assignment.strategy':"
                                  "'range,roundrobin'}},'ledger':{'path':'/tmp/x'}," WH "}",
                                  buf, sizeof buf);
    assert_non_null(cfg);
    assert_string_equal(cfg->kafka.topic_callbacks, "c");
    ob_config_destroy(cfg);
}

/* The partition the producer's configured partitioner gives a key (the
 * poller's "is this order mine"): librdkafka's own functions, by name. */
static void test_partition_of(void **state)
{
    (void)state;
    char err[512];
    struct ob_config *cfg = parse(MIN, err, sizeof err);
    int32_t p = ob_kafka_partition_of(cfg, "SO-20261111-000123", 32);
    assert_int_equal(p, rd_kafka_msg_partitioner_consistent(NULL, "SO-20261111-000123", 18, 32,
                                                            NULL, NULL));
    assert_int_equal(ob_kafka_partition_of(cfg, "", 32), -1);
    assert_int_equal(ob_kafka_partition_of(cfg, "SO-1", 0), -1);
    ob_config_destroy(cfg);
    cfg = parse("{" KAFKA_WITH("'producer':{'partitioner':'murmur2_random'}") "," WH "}", err,
                sizeof err);
    int same = 0;
    for (int i = 0; i < 64; i++) {
        char key[32];
        snprintf(key, sizeof key, "SO-%d", i);
        p = ob_kafka_partition_of(cfg, key, 12);
        assert_int_equal(p, rd_kafka_msg_partitioner_murmur2(NULL, key, strlen(key), 12, NULL,
                                                             NULL));
        same += p == rd_kafka_msg_partitioner_consistent(NULL, key, strlen(key), 12, NULL, NULL);
    }
    assert_true(same < 64); /* the two partitioners differ: the name is honoured */
    ob_config_destroy(cfg);
    cfg = parse("{" KAFKA_WITH("'properties':{'partitioner':'random'}") "," WH "}", err,
                sizeof err);
    assert_int_equal(ob_kafka_partition_of(cfg, "SO-1", 12), -1);
    ob_config_destroy(cfg);
}

static void test_properties(void **state)
{
    (void)state;
    const char *err = fails("{'kafka':{'bootstrap_servers':'k','group_id':'g',"
                            " 'properties':{'bootstrap.servers':'x','group.id':'y'},"
                            " 'consumer':{'metadata.broker.list':'z'}}," WH "}");
    has_line(err, "$.kafka.properties[\"bootstrap.servers\"]: is set by $.kafka.bootstrap_servers; remove it here");
    has_line(err, "$.kafka.properties[\"group.id\"]: is set by $.kafka.group_id; remove it here");
    has_line(err, "$.kafka.consumer[\"metadata.broker.list\"]: is set by $.kafka.bootstrap_servers; remove it here");

    /* Static membership has a key of its own. */
    err = fails("{'kafka':{'bootstrap_servers':'k','instance_name':'bridge 1',"
                " 'consumer':{'group.instance.id':'b1'}}," WH "}");
    has_line(err, "$.kafka.instance_name: must be 1-249 characters of A-Z a-z 0-9 . _ -");
    has_line(err, "$.kafka.consumer[\"group.instance.id\"]: is set by $.kafka.instance_name; remove it here");
    char e1[256];
    struct ob_config *c1 = parse("{'kafka':{'bootstrap_servers':'k','instance_name':'bridge-1.dc2'}," WH "}",
                                 e1, sizeof e1);
    assert_string_equal(c1->kafka.instance_name, "bridge-1.dc2");
    ob_config_destroy(c1);

    /* Password-like librdkafka properties follow the credentials rule. */
    err = fails("{'kafka':{'bootstrap_servers':'k','properties':{'sasl.password':'hunter2',"
                " 'ssl.key.pem':'-----BEGIN'},'producer':{'sasl.oauthbearer.client.secret':'env:OB_TEST_NOPE_X'}}," WH "}");
    has_line(err, "$.kafka.properties[\"sasl.password\"]: must be a reference env:NAME or file:PATH; "
                  "secrets are never written in config");
    has_line(err, "$.kafka.properties[\"ssl.key.pem\"]: must be a reference env:NAME or file:PATH; "
                  "secrets are never written in config");
    has_line(err, "$.kafka.producer[\"sasl.oauthbearer.client.secret\"]: environment variable "
                  "OB_TEST_NOPE_X is not set");
    assert_null(strstr(err, "hunter2"));
    assert_null(strstr(err, "BEGIN"));

    /* Any property written as a reference is resolved, secret or not. */
    char e0[256];
    setenv("OB_TEST_KUSER", "bridge-user", 1);
    struct ob_config *c0 = parse("{'kafka':{'bootstrap_servers':'k','properties':{'sasl.username':"
                                 "'env:OB_TEST_KUSER'}}," WH "}",
                                 e0, sizeof e0);
    assert_string_equal(c0->kafka.properties[0].value, "bridge-user");
    ob_config_destroy(c0);

    /* Number formatting: integers exactly, reals shortest round-trip. */
    char e[256];
    struct ob_config *cfg = parse("{'kafka':{'bootstrap_servers':'k','properties':{'a':-9007199254740993,"
                                  "'b':0.1,'c':1e300,'d':false,'e':''}}," WH "}",
                                  e, sizeof e);
    assert_string_equal(cfg->kafka.properties[0].value, "-9007199254740993");
    assert_string_equal(cfg->kafka.properties[1].value, "0.1");
    assert_string_equal(cfg->kafka.properties[2].value, "1e+300");
    assert_string_equal(cfg->kafka.properties[3].value, "false");
    assert_string_equal(cfg->kafka.properties[4].value, "");
    ob_config_destroy(cfg);
}

static const char *cred_doc(const char *creds)
{
    static char text[2048];
    snprintf(text, sizeof text,
             "{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'http://h','credentials':{%.1800s}}}}",
             creds);
    return text;
}

static void test_secret_errors(void **state)
{
    (void)state;
    unsetenv("OB_TEST_UNSET");
    setenv("OB_TEST_EMPTY", "", 1);
    char *empty = write_temp("\n", 1);
    char *nul = write_temp("ab\0cd", 5);
    char big[65538];
    memset(big, 'x', sizeof big);
    char *large = write_temp(big, sizeof big);
    char creds[1024];
    snprintf(creds, sizeof creds,
             "'literal':'s3cr3t-literal','num':12345,'unset':'env:OB_TEST_UNSET','empty_env':'env:OB_TEST_EMPTY',"
             "'badname':'env:1abc','noname':'env:','missing':'file:/nonexistent/ob-test/k',"
             "'dir':'file:/tmp','empty_file':'file:%s','nul':'file:%s','large':'file:%s','nopath':'file:'",
             empty, nul, large);
    const char *err = fails(cred_doc(creds));
    const char *ref_msg = "must be a reference env:NAME or file:PATH; secrets are never written in config";
    char line[512];
    snprintf(line, sizeof line, "$.warehouses.W.credentials.literal: %s", ref_msg);
    has_line(err, line);
    snprintf(line, sizeof line, "$.warehouses.W.credentials.num: %s", ref_msg);
    has_line(err, line);
    has_line(err, "$.warehouses.W.credentials.unset: environment variable OB_TEST_UNSET is not set");
    has_line(err, "$.warehouses.W.credentials.empty_env: environment variable OB_TEST_EMPTY is empty");
    has_line(err, "$.warehouses.W.credentials.badname: env: reference needs a variable name "
                  "(A-Z a-z 0-9 _, not starting with a digit)");
    has_line(err, "$.warehouses.W.credentials.noname: env: reference needs a variable name "
                  "(A-Z a-z 0-9 _, not starting with a digit)");
    has_line(err, "$.warehouses.W.credentials.missing: cannot read file \"/nonexistent/ob-test/k\": "
                  "No such file or directory");
    has_line(err, "$.warehouses.W.credentials.dir: cannot read file \"/tmp\": Is a directory");
    snprintf(line, sizeof line, "$.warehouses.W.credentials.empty_file: file \"%s\" is empty", empty);
    has_line(err, line);
    snprintf(line, sizeof line, "$.warehouses.W.credentials.nul: file \"%s\" contains a NUL byte", nul);
    has_line(err, line);
    snprintf(line, sizeof line, "$.warehouses.W.credentials.large: file \"%s\" is larger than 65536 bytes", large);
    has_line(err, line);
    has_line(err, "$.warehouses.W.credentials.nopath: file: reference needs a path");
    assert_int_equal(count_lines(err), 12);
    assert_null(strstr(err, "s3cr3t-literal"));
    assert_null(strstr(err, "12345"));
    assert_null(strstr(err, "xxxx"));

    /* Unreadable for permissions (skipped as root, who reads anything). */
    if (geteuid() != 0) {
        char *locked = write_temp("secret", 6);
        chmod(locked, 0);
        snprintf(creds, sizeof creds, "'k':'file:%s'", locked);
        snprintf(line, sizeof line, "$.warehouses.W.credentials.k: cannot read file \"%s\": Permission denied",
                 locked);
        fails_with(cred_doc(creds), line);
        unlink(locked);
    }
    unlink(empty);
    unlink(nul);
    unlink(large);
}

static void test_secret_resolution(void **state)
{
    (void)state;
    setenv("OB_TEST_SECRET_A", "value with spaces\n", 1);
    char *crlf = write_temp("tok-crlf\r\n", 10);
    char *two = write_temp("pem line 1\npem line 2\n\n", 23);
    char *bare = write_temp("bare", 4);
    char creds[1024], err[256];
    snprintf(creds, sizeof creds, "'a':'env:OB_TEST_SECRET_A','b':'file:%s','c':'file:%s','d':'file:%s'", crlf,
             two, bare);
    struct ob_config *cfg = parse(cred_doc(creds), err, sizeof err);
    const struct ob_warehouse_conf *w = ob_config_warehouse(cfg, "W");
    assert_int_equal(w->n_credentials, 4);
    assert_string_equal(w->credentials[0].value, "value with spaces\n"); /* env is taken as is */
    assert_string_equal(w->credentials[1].value, "tok-crlf");
    assert_string_equal(w->credentials[2].value, "pem line 1\npem line 2\n"); /* only one newline goes */
    assert_string_equal(w->credentials[3].value, "bare");
    snprintf(creds, sizeof creds, "file:%s", crlf);
    assert_string_equal(w->credentials[1].ref, creds);
    ob_config_destroy(cfg);
    unlink(crlf);
    unlink(two);
    unlink(bare);
}

static void no_leak(const char *text, const char *secret)
{
    const char *err = fails(text);
    if (strstr(err, secret) || strstr(err, "l3ak")) {
        print_error("leaked into errbuf:\n%s", err);
        fail();
    }
}

/* The secret must stay out of errbuf however the config is broken. */
static void test_secret_never_in_errbuf(void **state)
{
    (void)state;
    const char *secret = "S3CR3T-d0nt-l3ak";
    setenv("OB_TEST_LEAK", secret, 1);
    char content[64];
    snprintf(content, sizeof content, "%s\n", secret);
    char *good = write_temp(content, strlen(content));
    char nulc[64];
    size_t nl = (size_t)snprintf(nulc, sizeof nulc, "%s", secret);
    nulc[nl++] = '\0';
    char *nul = write_temp(nulc, nl);

    char text[1024];
    /* Resolved fine, but the config fails elsewhere. */
    snprintf(text, sizeof text,
             "{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'ftp://x',"
             "'credentials':{'a':'env:OB_TEST_LEAK','b':'file:%s'}}},'bogus':1}",
             good);
    no_leak(text, secret);
    /* The file is broken in another way. */
    snprintf(text, sizeof text, "'a':'file:%s'", nul);
    no_leak(cred_doc(text), secret);
    /* Pasted as a literal, in credentials and in a Kafka property. */
    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k','properties':{'sasl.password':'%s'}},"
             "'warehouses':{'W':{'adapter':'rest','endpoint':'http://h','credentials':{'t':'%s'}}}}",
             secret, secret);
    no_leak(text, secret);
    /* Pasted after a prefix, so it is not a valid variable name. */
    no_leak(cred_doc("'t':'env:S3CR3T-d0nt-l3ak'"), secret);
    no_leak(cred_doc("'t':'ENV:S3CR3T-d0nt-l3ak'"), secret);
    /* Inside the endpoint as userinfo. */
    no_leak("{" KAFKA ",'warehouses':{'W':{'adapter':'rest','endpoint':'https://u:S3CR3T-d0nt-l3ak@h'}}}",
            secret);
    /* JSON syntax errors inside or right after the secret (jansson quotes the token). */
    no_leak(cred_doc("'t':'S3CR3T-d0nt-l3ak\\q'"), secret);
    no_leak(cred_doc("'t':S3CR3T-d0nt-l3ak"), secret);
    no_leak(cred_doc("'t':'S3CR3T-d0nt-l3ak"), secret);
    unlink(good);
    unlink(nul);
}

static void test_many_problems_together(void **state)
{
    (void)state;
    unsetenv("OB_TEST_UNSET");
    const char *err = fails("{'kafka':{'group_id':5},"
                            " 'pipeline':{'max_in_flight':0},"
                            " 'warehouses':{'bad code':{'adapter':'rest','endpoint':'ftp://x',"
                            "   'credentials':{'t':'literal','u':'env:OB_TEST_UNSET'},'timout_ms':1}},"
                            " 'routing':{'default':'nowhere'},"
                            " 'colour':'blue'}");
    const char *expect =
        "$.kafka.group_id: must be a non-empty string\n"
        "$.kafka.bootstrap_servers: required\n"
        "$.pipeline.max_in_flight: must be an integer from 1 to 1000000\n"
        "$.warehouses[\"bad code\"]: invalid warehouse code: 1-64 characters of A-Z a-z 0-9 _ . -\n"
        "$.warehouses[\"bad code\"].endpoint: must start with http:// or https://\n"
        "$.warehouses[\"bad code\"].credentials.t: must be a reference env:NAME or file:PATH; secrets are never "
        "written in config\n"
        "$.warehouses[\"bad code\"].credentials.u: environment variable OB_TEST_UNSET is not set\n"
        "$.warehouses[\"bad code\"].timout_ms: unknown key (did you mean \"timeout_ms\"?)\n"
        "$.colour: unknown key\n"
        "$.routing.default: no warehouse \"nowhere\" is configured\n";
    assert_string_equal(err, expect);
}

static void test_syntax_error(void **state)
{
    (void)state;
    char err[512];
    struct ob_config *cfg = (struct ob_config *)1;
    const char *text = "{\n  \"kafka\": {,\n}";
    assert_int_equal(ob_config_parse(text, strlen(text), "/etc/ob.json", &cfg, err, sizeof err), -1);
    assert_null(cfg);
    assert_string_equal(err, "/etc/ob.json:2:13: string or '}' expected\n");

    text = "{\"a\": 1,\n \"a\": 2}";
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, err, sizeof err), -1);
    assert_string_equal(err, "<embedded>:2:4: duplicate object key near '\"a\"'\n");

    assert_int_equal(ob_config_parse("", 0, "x.json", &cfg, err, sizeof err), -1);
    assert_string_equal(err, "x.json:1:0: '[' or '{' expected near end of file\n");
    assert_int_equal(ob_config_parse(NULL, 0, "x.json", &cfg, err, sizeof err), -1);

    /* len is honoured: a valid document followed by bytes outside it. */
    char buf[sizeof MIN + 16];
    const char *min = J(MIN);
    size_t min_len = strlen(min);
    assert_true(min_len + sizeof " garbage" <= sizeof buf);
    memcpy(buf, min, min_len);
    memcpy(buf + min_len, " garbage", sizeof " garbage");
    assert_int_equal(ob_config_parse(buf, min_len, NULL, &cfg, err, sizeof err), 0);
    ob_config_destroy(cfg);
}

static void test_truncation(void **state)
{
    (void)state;
    const char *text = J("{'a':1,'b':2,'c':3,'dddddddddddddddddddddddddddddddd':4}");
    char full[1024];
    struct ob_config *cfg;
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, full, sizeof full), -1);
    size_t full_len = strlen(full);
    assert_int_equal(count_lines(full), 6); /* 4 unknown + kafka + warehouses */

    /* Every size: NUL-terminated inside the buffer, never past it (ASan
     * guards the heap copy), and either whole lines or the first line cut. */
    for (size_t size = 1; size <= full_len + 2; size++) {
        char *err = malloc(size);
        assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, err, size), -1);
        size_t len = strnlen(err, size);
        assert_true(len < size);
        if (size > full_len) {
            assert_string_equal(err, full);
        } else if (len > 0 && err[len - 1] == '\n') {
            /* Whole lines: a prefix of the full text, then maybe a count. */
            const char *more = strstr(err, "more problems)\n");
            size_t kept = more ? (size_t)(strrchr(err, '(') - err) : len;
            assert_memory_equal(err, full, kept);
            assert_true(more || kept == (size_t)(strchr(full, '\n') - full) + 1);
        } else {
            assert_memory_equal(err, full, len); /* a cut first line */
            assert_true(len <= (size_t)(strchr(full, '\n') - full));
        }
        free(err);
    }

    char small[40];
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, small, sizeof small), -1);
    assert_string_equal(small, "$.a: unknown key\n(5 more problems)\n");

    char tiny[4];
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, tiny, sizeof tiny), -1);
    assert_string_equal(tiny, "$.a");

    /* A cut never splits a UTF-8 character (仓 is 3 bytes). */
    const char *utf = J("{'仓仓':1}");
    char u[8];
    assert_int_equal(ob_config_parse(utf, strlen(utf), NULL, &cfg, u, sizeof u), -1);
    assert_string_equal(u, "$[\"仓");

    /* No buffer at all is allowed. */
    assert_int_equal(ob_config_parse(text, strlen(text), NULL, &cfg, NULL, 0), -1);
    assert_null(cfg);
}

static void test_load(void **state)
{
    (void)state;
    char err[512];
    struct ob_config *cfg = (struct ob_config *)1;
    const char *json = J(MIN);
    char *path = write_temp(json, strlen(json));
    assert_int_equal(ob_config_load(path, &cfg, err, sizeof err), 0);
    assert_string_equal(cfg->origin, path);
    assert_string_equal(err, "");
    ob_config_destroy(cfg);
    unlink(path);

    path = write_temp("{\n\n   oops}", 11);
    assert_int_equal(ob_config_load(path, &cfg, err, sizeof err), -1);
    char line[256];
    snprintf(line, sizeof line, "%s:3:7: string or '}' expected", path);
    has_line(err, line);
    unlink(path);

    assert_int_equal(ob_config_load("/nonexistent/ob.json", &cfg, err, sizeof err), -1);
    assert_null(cfg);
    assert_string_equal(err, "cannot read /nonexistent/ob.json: No such file or directory\n");
    assert_int_equal(ob_config_load("/tmp", &cfg, err, sizeof err), -1);
    assert_string_equal(err, "cannot read /tmp: Is a directory\n");
}

static void test_lookup_and_destroy(void **state)
{
    (void)state;
    char err[256];
    struct ob_config *cfg =
        parse("{" KAFKA ",'warehouses':{'A':{'adapter':'r','endpoint':'http://a'},"
              "'B':{'adapter':'r','endpoint':'http://b'}}}",
              err, sizeof err);
    assert_ptr_equal(ob_config_warehouse(cfg, "B"), &cfg->warehouses[1]);
    assert_string_equal(ob_config_warehouse(cfg, "A")->endpoint, "http://a");
    assert_null(ob_config_warehouse(cfg, "C"));
    assert_null(ob_config_warehouse(cfg, "a"));
    assert_null(ob_config_warehouse(cfg, NULL));
    assert_null(ob_config_warehouse(NULL, "A"));
    ob_config_destroy(cfg);
    ob_config_destroy(NULL);
}

/* conf/example.json is documentation; it must keep passing the parser. */
static void test_example_config(void **state)
{
    (void)state;
    setenv("SF_SH_TOKEN", "example-token-sh", 1);
    setenv("SF_SH_WEBHOOK_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("JD_BJ_TOKEN", "example-token-bj", 1);
    setenv("KAFKA_SASL_PASSWORD", "example-kafka", 1);
    char err[4096];
    struct ob_config *cfg = NULL;
    int rc = ob_config_load(OB_SOURCE_DIR "/conf/example.json", &cfg, err, sizeof err);
    if (rc != 0)
        print_error("%s", err);
    assert_int_equal(rc, 0);
    assert_int_equal(cfg->n_warehouses, 2);
    assert_string_equal(cfg->warehouses[1].credentials[0].value, "example-token-bj");
    assert_non_null(cfg->default_warehouse);
    assert_int_equal(cfg->n_rules, 3);
    assert_string_equal(cfg->rules[1].name, "jd-channel");
    assert_non_null(cfg->http.listen);
    assert_string_equal(cfg->warehouses[0].callback.path, "/callbacks/SF-SH-01");
    ob_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_full_round_trip),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_without_warehouse_secrets),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_status_sources),
        cmocka_unit_test(test_bad_endpoint),
        cmocka_unit_test(test_bad_code),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_rules_parsed),
        cmocka_unit_test(test_rules_errors),
        cmocka_unit_test(test_rule_names),
        cmocka_unit_test(test_rule_enums_follow_contract),
        cmocka_unit_test(test_topics),
        cmocka_unit_test(test_partition_of),
        cmocka_unit_test(test_properties),
        cmocka_unit_test(test_secret_errors),
        cmocka_unit_test(test_secret_resolution),
        cmocka_unit_test(test_secret_never_in_errbuf),
        cmocka_unit_test(test_many_problems_together),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_lookup_and_destroy),
        cmocka_unit_test(test_example_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
