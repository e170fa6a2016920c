/*
 * test_router.c — which warehouse an order goes to (src/router.c), with
 * configs parsed by ob_config_parse. Config documents are written with
 * single quotes and turned into JSON by J().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "order.h"
#include "router.h"

#define KAFKA "'kafka':{'bootstrap_servers':'k1:9092'}"
#define WAREHOUSES                                                                                \
    "'warehouses':{"                                                                              \
    "'SF-SH-01':{'adapter':'rest','endpoint':'https://sh.example'},"                              \
    "'JD-BJ-02':{'adapter':'rest','endpoint':'https://bj.example'},"                              \
    "'GZ-03':{'adapter':'rest','endpoint':'https://gz.example'}}"
#define ALIASES "'aliases':{'shanghai':'SF-SH-01','beijing':'JD-BJ-02'}"

static struct ob_config *parse(const char *text)
{
    static char doc[8192];
    char err[2048] = "";
    struct ob_config *cfg = NULL;
    size_t n = strlen(text);

    assert_true(n < sizeof doc);
    for (size_t i = 0; i <= n; i++)
        doc[i] = text[i] == '\'' ? '"' : text[i];
    if (ob_config_parse(doc, n, NULL, &cfg, err, sizeof err) != 0) {
        print_error("config does not parse:\n%s\n%s\n", doc, err);
        fail();
    }
    return cfg;
}

/* The code of the warehouse `order_warehouse` routes to, or NULL with the
 * reason in *reason. */
static const char *route(const struct ob_config *cfg, const char *order_warehouse,
                         const char **reason)
{
    static char why[256];
    struct ob_order order;

    memset(&order, 0, sizeof order);
    order.order_id = "SO1";
    order.warehouse = order_warehouse;
    memset(why, 'X', sizeof why);
    why[sizeof why - 1] = '\0';
    int idx = ob_router_route(cfg, &order, why, sizeof why);
    *reason = why;
    if (idx == -1) {
        assert_true(why[0] != 'X');
        return NULL;
    }
    assert_in_range(idx, 0, cfg->n_warehouses - 1);
    return cfg->warehouses[idx].code;
}

static void assert_routes(const struct ob_config *cfg, const char *order_warehouse,
                          const char *want)
{
    const char *reason;
    const char *got = route(cfg, order_warehouse, &reason);
    if (!got) {
        print_error("\"%s\" not routed: %s\n", order_warehouse ? order_warehouse : "(none)",
                    reason);
        fail();
    }
    assert_string_equal(got, want);
}

/* Must be unroutable; returns the reason. */
static const char *unroutable(const struct ob_config *cfg, const char *order_warehouse)
{
    const char *reason;
    const char *got = route(cfg, order_warehouse, &reason);
    if (got) {
        print_error("\"%s\" routed to %s, expected unroutable\n",
                    order_warehouse ? order_warehouse : "(none)", got);
        fail();
    }
    assert_true(strlen(reason) > 0);
    return reason;
}

static void test_configured_code(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" ALIASES
                                  ",'default':'SF-SH-01'}}");
    assert_routes(cfg, "SF-SH-01", "SF-SH-01");
    assert_routes(cfg, "JD-BJ-02", "JD-BJ-02");
    assert_routes(cfg, "GZ-03", "GZ-03");
    ob_config_destroy(cfg);

    /* No routing block at all. */
    cfg = parse("{" KAFKA "," WAREHOUSES "}");
    assert_routes(cfg, "JD-BJ-02", "JD-BJ-02");
    ob_config_destroy(cfg);
}

static void test_alias(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" ALIASES
                                  ",'default':'GZ-03'}}");
    assert_routes(cfg, "shanghai", "SF-SH-01");
    assert_routes(cfg, "beijing", "JD-BJ-02"); /* the alias, not the default */
    ob_config_destroy(cfg);
}

static void test_no_warehouse_goes_to_default(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" ALIASES
                                  ",'default':'JD-BJ-02'}}");
    assert_routes(cfg, NULL, "JD-BJ-02");
    ob_config_destroy(cfg);

    cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'default':'GZ-03'}}");
    assert_routes(cfg, NULL, "GZ-03");
    ob_config_destroy(cfg);
}

static void test_no_warehouse_no_default(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" ALIASES "}}");
    const char *reason = unroutable(cfg, NULL);
    assert_non_null(strstr(reason, "routing.default"));
    ob_config_destroy(cfg);

    cfg = parse("{" KAFKA "," WAREHOUSES "}");
    reason = unroutable(cfg, NULL);
    assert_non_null(strstr(reason, "routing.default"));
    ob_config_destroy(cfg);
}

/* A name the bridge does not know is never sent to the default. */
static void test_unknown_warehouse_never_default(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" ALIASES
                                  ",'default':'SF-SH-01'}}");
    const char *reason = unroutable(cfg, "CD-99");
    assert_non_null(strstr(reason, "\"CD-99\""));

    /* Matching is exact and case-sensitive. */
    assert_non_null(strstr(unroutable(cfg, "sf-sh-01"), "\"sf-sh-01\""));
    assert_non_null(strstr(unroutable(cfg, "Shanghai"), "\"Shanghai\""));
    assert_non_null(strstr(unroutable(cfg, "SF-SH-01 "), "\"SF-SH-01 \""));
    /* An empty name is a name, not "no warehouse". */
    assert_non_null(unroutable(cfg, ""));
    ob_config_destroy(cfg);
}

static void test_reason_bounded(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES "}");
    char name[300];
    char small[24];
    struct ob_order order;

    memset(name, 'W', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    memset(&order, 0, sizeof order);
    order.warehouse = name;
    memset(small, 'X', sizeof small);
    assert_int_equal(ob_router_route(cfg, &order, small, sizeof small), -1);
    assert_int_equal(strlen(small), sizeof small - 1); /* truncated, terminated */
    ob_config_destroy(cfg);
}

/* The parsed example order (warehouse "SF-SH-01") routes to its code. */
static void test_example_order(void **state)
{
    (void)state;
    FILE *f = fopen(OB_CONTRACTS_DIR "/example-order.json", "rb");
    char buf[8192];
    size_t n;
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;
    char why[128];

    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 0 && n < sizeof buf);
    assert_int_equal(ob_order_parse(buf, n, sizeof buf, &po, &problem), 0);

    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'default':'GZ-03'}}");
    int idx = ob_router_route(cfg, &po->order, why, sizeof why);
    assert_true(idx >= 0);
    assert_string_equal(cfg->warehouses[idx].code, "SF-SH-01");
    ob_config_destroy(cfg);
    ob_order_free(po);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_configured_code),
        cmocka_unit_test(test_alias),
        cmocka_unit_test(test_no_warehouse_goes_to_default),
        cmocka_unit_test(test_no_warehouse_no_default),
        cmocka_unit_test(test_unknown_warehouse_never_default),
        cmocka_unit_test(test_reason_bounded),
        cmocka_unit_test(test_example_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
