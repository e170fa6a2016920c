/*
 * test_adapter.c — the plugin loader (src/adapter.c): ob_plugin_open() by
 * path and by name, the refusal of broken plugins, forward compatibility
 * with longer structs, and ob_adapter_open() binding a plugin to a
 * configured warehouse.
 *
 * The broken plugins are built from tests/plugins/plugin.c into
 * OB_BUILD_DIR/test-plugins; the real rest adapter into OB_BUILD_DIR/adapters.
 * Config documents are written with single quotes and turned into JSON by
 * J(); no value here needs a real apostrophe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"
#include "config.h"

#include "support.h"

#ifndef OB_BUILD_DIR
#error "OB_BUILD_DIR must be defined (tests/CMakeLists.txt)"
#endif

#define ADAPTER_DIR OB_BUILD_DIR "/adapters"
#define PLUGIN_DIR OB_BUILD_DIR "/test-plugins"
#define REST_SO ADAPTER_DIR "/ob-adapter-rest.so"
#define TOKEN_ENV "OB_TEST_ADAPTER_TOKEN"
#define TOKEN_VALUE "tok-123-secret"

/* Mirror of struct probe_state in tests/plugins/plugin.c: keep in sync. */
struct probe_state {
    uint32_t env_abi;
    uint32_t env_size;
    char warehouse[64];
    char endpoint[256];
    char token[128];
    int unknown_credential_is_null;
    int settings_was_null;
    int destroyed_marker;
};

static char err[2048];

static int is_zeroed(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* ob_plugin_open() that must fail: returns the message, checks `out` was left
 * empty (nothing to close, nothing leaked). */
static const char *open_fails(const char *name_or_path, char *const *search, size_t n_search)
{
    struct ob_plugin p;
    memset(&p, 0x77, sizeof p);
    memset(err, 'X', sizeof err);
    err[sizeof err - 1] = '\0';
    assert_int_equal(ob_plugin_open(name_or_path, search, n_search, &p, err, sizeof err), -1);
    assert_null(p.dl);
    assert_null(p.path);
    assert_true(strlen(err) > 0);
    assert_true(err[0] != 'X');
    ob_plugin_close(&p); /* must be harmless on a failed open */
    return err;
}

static void assert_is_rest(const struct ob_plugin *p)
{
    assert_non_null(p->dl);
    assert_int_equal(p->vt.abi, 1);
    assert_int_equal(p->vt.size, sizeof(struct ob_adapter));
    assert_string_equal(p->vt.name, "rest");
    assert_non_null(p->vt.description);
    assert_true(strlen(p->vt.description) > 0);
    assert_non_null(p->vt.init);
    assert_non_null(p->vt.encode);
    assert_non_null(p->vt.decode_response);
    assert_non_null(p->vt.destroy);
}

/* ------------------------------------------------------------------------ */
/* ob_plugin_open                                                            */

static void test_abi_is_one(void **state)
{
    (void)state;
    /* The messages checked below spell out ABI numbers; this file is
     * written for ABI 1. */
    assert_int_equal(OB_ADAPTER_ABI, 1);
    assert_string_equal(OB_ADAPTER_ENTRY_SYMBOL, "ob_adapter_entry");
}

static void test_open_rest_by_path(void **state)
{
    (void)state;
    struct ob_plugin p;

    assert_int_equal(ob_plugin_open(REST_SO, NULL, 0, &p, err, sizeof err), 0);
    assert_is_rest(&p);
    assert_string_equal(p.path, REST_SO);
    ob_plugin_close(&p);
    assert_true(is_zeroed(&p, sizeof p));
}

static void test_open_rest_by_name(void **state)
{
    (void)state;
    char *search[] = {"/nonexistent/orderbridge-test-dir", ADAPTER_DIR};
    struct ob_plugin p;

    assert_int_equal(ob_plugin_open("rest", search, 2, &p, err, sizeof err), 0);
    assert_is_rest(&p);
    assert_string_equal(p.path, REST_SO);
    ob_plugin_close(&p);
}

static void test_open_twice(void **state)
{
    (void)state;
    char *search[] = {ADAPTER_DIR};
    struct ob_plugin a, b;

    assert_int_equal(ob_plugin_open("rest", search, 1, &a, err, sizeof err), 0);
    assert_int_equal(ob_plugin_open(REST_SO, NULL, 0, &b, err, sizeof err), 0);
    assert_ptr_equal(a.vt.init, b.vt.init);
    ob_plugin_close(&a);
    /* b still works after a is closed (dlopen reference counting). */
    assert_string_equal(b.vt.name, "rest");
    ob_plugin_close(&b);
}

/* The first folder of the search path holding ob-adapter-<name>.so wins. */
static void test_search_path_order(void **state)
{
    (void)state;
    char dir[] = "/tmp/ob-test-adapter-XXXXXX";
    char link_path[PATH_MAX];
    struct ob_plugin p;

    assert_non_null(mkdtemp(dir));
    snprintf(link_path, sizeof link_path, "%s/ob-adapter-rest.so", dir);
    assert_int_equal(symlink(PLUGIN_DIR "/ob-adapter-future.so", link_path), 0);

    char *first_tmp[] = {dir, ADAPTER_DIR};
    assert_int_equal(ob_plugin_open("rest", first_tmp, 2, &p, err, sizeof err), 0);
    assert_string_equal(p.vt.name, "future");
    assert_string_equal(p.path, link_path);
    ob_plugin_close(&p);

    char *first_real[] = {ADAPTER_DIR, dir};
    assert_int_equal(ob_plugin_open("rest", first_real, 2, &p, err, sizeof err), 0);
    assert_string_equal(p.vt.name, "rest");
    assert_string_equal(p.path, REST_SO);
    ob_plugin_close(&p);

    assert_int_equal(unlink(link_path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* $OB_ADAPTER_PATH is searched after the explicit search path. */
static void test_env_adapter_path(void **state)
{
    (void)state;
    struct ob_plugin p;

    assert_int_equal(setenv("OB_ADAPTER_PATH", PLUGIN_DIR, 1), 0);
    assert_int_equal(ob_plugin_open("future", NULL, 0, &p, err, sizeof err), 0);
    assert_string_equal(p.vt.name, "future");
    assert_string_equal(p.path, PLUGIN_DIR "/ob-adapter-future.so");
    ob_plugin_close(&p);

    assert_int_equal(unsetenv("OB_ADAPTER_PATH"), 0);
    open_fails("future", NULL, 0);
}

static void test_not_found_names_the_search(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR, ADAPTER_DIR};

    assert_int_equal(unsetenv("OB_ADAPTER_PATH"), 0);
    const char *e = open_fails("nosuch", search, 2);
    assert_contains(e, "\"nosuch\"");
    assert_contains(e, "ob-adapter-nosuch.so");
    assert_contains(e, "not found");
    /* every folder searched, in order */
    assert_contains(e, "not found in " PLUGIN_DIR ", " ADAPTER_DIR ", ");

    /* Without any explicit folder too. */
    e = open_fails("nosuch", NULL, 0);
    assert_contains(e, "ob-adapter-nosuch.so not found");
}

static void test_nonexistent_path(void **state)
{
    (void)state;
    const char *e = open_fails("/nonexistent/dir/ob-adapter-x.so", NULL, 0);
    assert_contains(e, "/nonexistent/dir/ob-adapter-x.so");
}

static void test_not_a_shared_object(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("garbage", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-garbage.so");
}

static void test_wrong_abi(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("badabi", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-badabi.so: ");
    assert_contains(e, "built for adapter ABI 2");
    assert_contains(e, "speaks ABI 1");
    assert_contains(e, "rebuild");

    /* Same refusal when opened by path. */
    e = open_fails(PLUGIN_DIR "/ob-adapter-badabi.so", NULL, 0);
    assert_contains(e, "ABI 2");
}

static void test_short_struct(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    char want[128];
    /* The plugin's struct: abi, size, then name, description, init, encode,
     * decode_response (5 pointers) and no destroy. ABI 1 needs destroy too. */
    size_t short_size = 2 * sizeof(uint32_t) + 5 * sizeof(void *);
    size_t min_size = 2 * sizeof(uint32_t) + 6 * sizeof(void *);

    const char *e = open_fails("short", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-short.so: ");
    snprintf(want, sizeof want, "is %zu bytes", short_size);
    assert_contains(e, want);
    snprintf(want, sizeof want, "ABI 1 needs at least %zu", min_size);
    assert_contains(e, want);
}

static void test_missing_entry_symbol(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("noentry", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-noentry.so: ");
    assert_contains(e, "no symbol ob_adapter_entry");
    assert_contains(e, "not an orderbridge adapter");
}

static void test_entry_returns_null(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("nullentry", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-nullentry.so: ");
    assert_contains(e, "ob_adapter_entry() returned NULL");
}

static void test_missing_function(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("nofunc", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-nofunc.so: ");
    assert_contains(e, "required function");
}

static void test_missing_name(void **state)
{
    (void)state;
    char *search[] = {PLUGIN_DIR};
    const char *e = open_fails("noname", search, 1);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-noname.so: ");
    assert_contains(e, "lacks a name");
}

/* A plugin built against a later ABI-1 header, whose struct has members
 * appended after destroy(), loads; the loader copies only the members it
 * knows. The plugin's extra bytes are 'Z'; a guard after the host's struct
 * would catch an over-long copy. */
static void test_larger_struct_loads(void **state)
{
    (void)state;
    struct {
        struct ob_plugin p;
        unsigned char guard[256];
    } box;
    char *search[] = {PLUGIN_DIR};

    memset(box.guard, 0xA5, sizeof box.guard);
    assert_int_equal(ob_plugin_open("future", search, 1, &box.p, err, sizeof err), 0);
    for (size_t i = 0; i < sizeof box.guard; i++)
        assert_int_equal(box.guard[i], 0xA5);

    /* The plugin's struct: struct ob_adapter + a function pointer + 128 bytes. */
    assert_int_equal(box.p.vt.abi, 1);
    assert_true(box.p.vt.size >= sizeof(struct ob_adapter) + sizeof(void *) + 128);
    assert_string_equal(box.p.vt.name, "future");
    assert_string_equal(box.p.path, PLUGIN_DIR "/ob-adapter-future.so");
    assert_string_equal(box.p.vt.description,
                        "ABI-1 plugin built against a newer, longer struct ob_adapter");

    /* The known members are the plugin's own: calling through them works. */
    struct ob_response resp = {.status = 201};
    struct ob_outcome out;
    memset(&out, 0, sizeof out);
    box.p.vt.decode_response(NULL, NULL, NULL, &resp, &out);
    assert_int_equal(out.kind, OB_OUTCOME_ACCEPTED);
    assert_string_equal(out.reason, "probe 201");

    ob_plugin_close(&box.p);
    assert_true(is_zeroed(&box.p, sizeof box.p));
    for (size_t i = 0; i < sizeof box.guard; i++)
        assert_int_equal(box.guard[i], 0xA5);
}

/* ------------------------------------------------------------------------ */
/* ob_adapter_open: a plugin bound to a configured warehouse                 */

/* A config whose only warehouse is W1 = `wh` (an object body, single
 * quotes); adapters are found in the test plugin and adapter folders. */
static struct ob_config *config_with(const char *wh)
{
    char text[8192];
    char cerr[2048] = "";
    struct ob_config *cfg = NULL;

    snprintf(text, sizeof text,
             "{'kafka':{'bootstrap_servers':'k1:9092'},"
             "'adapter_path':['%s','%s'],"
             "'warehouses':{'W1':{%s}}}",
             PLUGIN_DIR, ADAPTER_DIR, wh);
    const char *json = J(text);
    if (ob_config_parse(json, strlen(json), NULL, &cfg, cerr, sizeof cerr) != 0) {
        print_error("config does not parse:\n%s\n%s\n", json, cerr);
        fail();
    }
    assert_int_equal(cfg->n_warehouses, 1);
    return cfg;
}

static int setup_token(void **state)
{
    (void)state;
    unsetenv("OB_ADAPTER_PATH");
    return setenv(TOKEN_ENV, TOKEN_VALUE, 1);
}

static int teardown_token(void **state)
{
    (void)state;
    return unsetenv(TOKEN_ENV);
}

static const char *adapter_open_fails(const struct ob_config *cfg)
{
    struct ob_adapter_instance *inst = (struct ob_adapter_instance *)1;
    memset(err, 'X', sizeof err);
    err[sizeof err - 1] = '\0';
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), -1);
    assert_null(inst);
    assert_true(err[0] != 'X');
    return err;
}

static void test_adapter_open_rest(void **state)
{
    (void)state;
    struct ob_config *cfg = config_with(
        "'adapter':'rest','endpoint':'https://wms.example/api/',"
        "'credentials':{'token':'env:" TOKEN_ENV "'},"
        "'settings':{'shipping_methods':{'express':'Expedited'},'default_shipping_method':'Ground'}");
    struct ob_adapter_instance *inst = NULL;

    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), 0);
    assert_non_null(inst);
    assert_is_rest(&inst->plugin);
    assert_string_equal(inst->plugin.path, REST_SO);
    assert_ptr_equal(inst->wh, &cfg->warehouses[0]);
    assert_non_null(inst->state);
    assert_int_equal(inst->env.abi, 1);
    assert_int_equal(inst->env.size, sizeof(struct ob_adapter_env));
    assert_string_equal(inst->env.warehouse, "W1");
    assert_string_equal(inst->env.endpoint, "https://wms.example/api");
    assert_string_equal(inst->env.credential(&inst->env, "token"), TOKEN_VALUE);
    assert_null(inst->env.credential(&inst->env, "password"));
    ob_adapter_close(inst);
    ob_adapter_close(NULL); /* harmless */
    ob_config_destroy(cfg);
}

static void test_adapter_open_by_path(void **state)
{
    (void)state;
    struct ob_config *cfg = config_with("'adapter':'" REST_SO "','endpoint':'https://wms.example',"
                                        "'credentials':{'token':'env:" TOKEN_ENV "'}");
    struct ob_adapter_instance *inst = NULL;

    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), 0);
    assert_string_equal(inst->plugin.vt.name, "rest");
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
}

static void test_adapter_open_unknown_setting(void **state)
{
    (void)state;
    struct ob_config *cfg =
        config_with("'adapter':'rest','endpoint':'https://wms.example',"
                    "'credentials':{'token':'env:" TOKEN_ENV "'},'settings':{'colour':'blue'}");

    const char *e = adapter_open_fails(cfg);
    assert_contains(e, "$.warehouses.W1");
    assert_int_equal(strncmp(e, "$.warehouses.W1: adapter rest: ", 31), 0);
    assert_contains(e, "settings.colour");
    assert_contains(e, "unknown setting");
    ob_config_destroy(cfg);
}

static void test_adapter_open_no_token(void **state)
{
    (void)state;
    struct ob_config *cfg = config_with("'adapter':'rest','endpoint':'https://wms.example'");

    const char *e = adapter_open_fails(cfg);
    assert_int_equal(strncmp(e, "$.warehouses.W1: adapter rest: ", 31), 0);
    assert_contains(e, "credentials.token");
    ob_config_destroy(cfg);
}

/* The env the loader hands to init(), as a plugin sees it. */
static void test_adapter_env_seen_by_plugin(void **state)
{
    (void)state;
    struct ob_config *cfg =
        config_with("'adapter':'future','endpoint':'https://probe.example/api//',"
                    "'credentials':{'token':'env:" TOKEN_ENV "'}");
    struct ob_adapter_instance *inst = NULL;

    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), 0);
    const struct probe_state *s = inst->state;
    assert_non_null(s);
    assert_int_equal(s->env_abi, 1);
    assert_int_equal(s->env_size, sizeof(struct ob_adapter_env));
    assert_string_equal(s->warehouse, "W1");
    assert_string_equal(s->endpoint, "https://probe.example/api");
    assert_string_equal(s->token, TOKEN_VALUE);
    assert_int_equal(s->unknown_credential_is_null, 1);
    assert_int_equal(s->settings_was_null, 1);
    assert_int_equal(s->destroyed_marker, 0x0b0b0b0b);
    ob_adapter_close(inst);
    ob_config_destroy(cfg);

    cfg = config_with("'adapter':'future','endpoint':'https://probe.example','settings':{}");
    assert_int_equal(ob_adapter_open(cfg, &cfg->warehouses[0], &inst, err, sizeof err), 0);
    s = inst->state;
    assert_int_equal(s->settings_was_null, 0);
    assert_string_equal(s->token, "(null)"); /* no credentials configured */
    ob_adapter_close(inst);
    ob_config_destroy(cfg);
}

static void test_adapter_init_failure(void **state)
{
    (void)state;
    struct ob_config *cfg =
        config_with("'adapter':'future','endpoint':'https://probe.example/fail-with-message'");
    assert_string_equal(adapter_open_fails(cfg),
                        "$.warehouses.W1: adapter future: settings.fail: probe refused to start");
    ob_config_destroy(cfg);

    cfg = config_with("'adapter':'future','endpoint':'https://probe.example/fail-silently'");
    assert_string_equal(adapter_open_fails(cfg), "$.warehouses.W1: adapter future: init failed");
    ob_config_destroy(cfg);
}

static void test_adapter_open_not_found(void **state)
{
    (void)state;
    struct ob_config *cfg = config_with("'adapter':'nosuch','endpoint':'https://wms.example'");

    const char *e = adapter_open_fails(cfg);
    assert_int_equal(strncmp(e, "$.warehouses.W1.adapter: ", 25), 0);
    assert_contains(e, "ob-adapter-nosuch.so not found");
    ob_config_destroy(cfg);
}

static void test_adapter_open_broken_plugin(void **state)
{
    (void)state;
    struct ob_config *cfg = config_with("'adapter':'badabi','endpoint':'https://wms.example'");

    const char *e = adapter_open_fails(cfg);
    assert_int_equal(strncmp(e, "$.warehouses.W1.adapter: ", 25), 0);
    assert_contains(e, PLUGIN_DIR "/ob-adapter-badabi.so");
    assert_contains(e, "ABI 2");
    ob_config_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abi_is_one),
        cmocka_unit_test(test_open_rest_by_path),
        cmocka_unit_test(test_open_rest_by_name),
        cmocka_unit_test(test_open_twice),
        cmocka_unit_test(test_search_path_order),
        cmocka_unit_test(test_env_adapter_path),
        cmocka_unit_test(test_not_found_names_the_search),
        cmocka_unit_test(test_nonexistent_path),
        cmocka_unit_test(test_not_a_shared_object),
        cmocka_unit_test(test_wrong_abi),
        cmocka_unit_test(test_short_struct),
        cmocka_unit_test(test_missing_entry_symbol),
        cmocka_unit_test(test_entry_returns_null),
        cmocka_unit_test(test_missing_function),
        cmocka_unit_test(test_missing_name),
        cmocka_unit_test(test_larger_struct_loads),
        cmocka_unit_test_setup_teardown(test_adapter_open_rest, setup_token, teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_open_by_path, setup_token, teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_open_unknown_setting, setup_token,
                                        teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_open_no_token, setup_token, teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_env_seen_by_plugin, setup_token,
                                        teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_init_failure, setup_token, teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_open_not_found, setup_token, teardown_token),
        cmocka_unit_test_setup_teardown(test_adapter_open_broken_plugin, setup_token,
                                        teardown_token),
    };
    unsetenv("OB_ADAPTER_PATH");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
