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
    int idx = ob_router_route(cfg, &order, NULL, why, sizeof why);
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
    assert_int_equal(ob_router_route(cfg, &order, NULL, small, sizeof small), -1);
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
    int idx = ob_router_route(cfg, &po->order, NULL, why, sizeof why);
    assert_true(idx >= 0);
    assert_string_equal(cfg->warehouses[idx].code, "SF-SH-01");
    ob_config_destroy(cfg);
    ob_order_free(po);
}

/* ------------------------------------------------------------------------ */
/* Routing rules (orders without a "warehouse" field)                        */

/* The fields of a test order that routing can look at; NULL leaves a field
 * out of the document. skus is a comma-separated list, one item each. */
struct spec {
    const char *warehouse, *channel, *shop_id, *province, *city, *priority, *skus;
};
#define ORDER(...) (&(const struct spec){__VA_ARGS__})

static void add_field(char *buf, size_t size, const char *key, const char *value)
{
    size_t n = strlen(buf);
    if (value)
        snprintf(buf + n, size - n, "\"%s\":\"%s\",", key, value);
}

/* A valid order.v1 document with those fields, parsed by ob_order_parse.
 * province and city are required by order.v1: "北京市" unless given; one
 * item "GEN-1" unless skus says otherwise. */
static struct ob_parsed_order *make_order(const struct spec *s)
{
    char doc[4096] = "{\"schema\":\"order.v1\",\"event\":\"order.created\",\"order_id\":\"SO1\","
                     "\"revision\":1,\"created_at\":\"2023-11-11T00:00:03+08:00\",";
    char skus[512];
    struct ob_parsed_order *po = NULL;
    struct ob_order_problem problem;

    add_field(doc, sizeof doc, "warehouse", s->warehouse);
    add_field(doc, sizeof doc, "channel", s->channel);
    add_field(doc, sizeof doc, "shop_id", s->shop_id);
    add_field(doc, sizeof doc, "priority", s->priority);
    size_t n = strlen(doc);
    snprintf(doc + n, sizeof doc - n,
             "\"shipping_address\":{\"name\":\"张三\",\"phone\":\"13800138000\","
             "\"province\":\"%s\",\"city\":\"%s\",\"street\":\"春申路 1 号\"},"
             "\"amounts\":{\"currency\":\"CNY\",\"paid\":\"1.00\"},\"items\":[",
             s->province ? s->province : "北京市", s->city ? s->city : "北京市");
    snprintf(skus, sizeof skus, "%s", s->skus ? s->skus : "GEN-1");
    int line = 1;
    for (char *save = NULL, *sku = strtok_r(skus, ",", &save); sku;
         sku = strtok_r(NULL, ",", &save), line++) {
        n = strlen(doc);
        snprintf(doc + n, sizeof doc - n,
                 "%s{\"line_no\":%d,\"sku\":\"%s\",\"quantity\":1,\"unit_price\":\"1.00\"}",
                 line > 1 ? "," : "", line, sku);
    }
    n = strlen(doc);
    snprintf(doc + n, sizeof doc - n, "]}");
    assert_true(strlen(doc) < sizeof doc - 1);
    if (ob_order_parse(doc, strlen(doc), sizeof doc, &po, &problem) != 0) {
        print_error("test order does not parse: %s\n%s\n", problem.message, doc);
        fail();
    }
    return po;
}

/* Route a struct ob_order; returns the warehouse code or NULL. *rule gets
 * the router's rule_name, *reason the reason when unroutable. */
static const char *route_order(const struct ob_config *cfg, const struct ob_order *order,
                               const char **rule, const char **reason)
{
    static char why[256];
    memset(why, 'X', sizeof why);
    why[sizeof why - 1] = '\0';
    *rule = "untouched";
    int idx = ob_router_route(cfg, order, rule, why, sizeof why);
    *reason = why;
    if (idx < 0) {
        assert_int_equal(idx, -1);
        assert_null(*rule);
        assert_true(why[0] != 'X');
        return NULL;
    }
    assert_in_range(idx, 0, cfg->n_warehouses - 1);
    assert_non_null(*rule);
    return cfg->warehouses[idx].code;
}

/* The order described by s must go to want_code, chosen by want_rule; or,
 * with want_code NULL, be unroutable with want_rule inside its reason. */
static void expect_route(const struct ob_config *cfg, const struct spec *s, const char *want_code,
                         const char *want_rule)
{
    struct ob_parsed_order *po = make_order(s);
    const char *rule, *reason;
    const char *got = route_order(cfg, &po->order, &rule, &reason);
    if (want_code && (!got || strcmp(got, want_code) != 0 || strcmp(rule, want_rule) != 0)) {
        print_error("expected %s by \"%s\", got %s by \"%s\" (%s)\n", want_code, want_rule,
                    got ? got : "unroutable", rule ? rule : "-", got ? "" : reason);
        fail();
    }
    if (!want_code && got) {
        print_error("expected unroutable, got %s by \"%s\"\n", got, rule);
        fail();
    }
    if (!want_code && !strstr(reason, want_rule)) {
        print_error("reason \"%s\" does not contain \"%s\"\n", reason, want_rule);
        fail();
    }
    ob_order_free(po);
}

/* The rules of docs/configuration.md and conf/example.json, with skechers
 * sent to GZ-03 so that it cannot be mistaken for the default. */
#define BRIEF_RULES                                                                               \
    "'rules':["                                                                                   \
    "{'name':'presale-east','match':{'priority':['presale'],"                                     \
    "  'province':['上海市','浙江省','江苏省']},'warehouse':'SF-SH-01'},"                         \
    "{'name':'jd-channel','match':{'channel':['jd']},'warehouse':'JD-BJ-02'},"                    \
    "{'name':'skechers','match':{'sku_prefix':['SKE-'],'shop_id':['skechers-flagship']},"         \
    "  'warehouse':'GZ-03'}]"

static void test_rules_documented_example(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" BRIEF_RULES "," ALIASES
                                  ",'default':'SF-SH-01'}}");
    expect_route(cfg, ORDER(.priority = "presale", .province = "浙江省"), "SF-SH-01",
                 "presale-east");
    expect_route(cfg, ORDER(.channel = "jd"), "JD-BJ-02", "jd-channel");
    expect_route(cfg, ORDER(.shop_id = "skechers-flagship", .skus = "SKE-1,SKE-2"), "GZ-03",
                 "skechers");
    /* presale outside the east, not jd, no Skechers: the default. */
    expect_route(cfg, ORDER(.priority = "presale", .province = "广东省"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(), "SF-SH-01", "default");
    ob_config_destroy(cfg);
}

/* Rules are tried in file order; the first that matches wins, even when a
 * later one matches too. */
static void test_rules_first_match_wins(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
                                  "{'name':'jd','match':{'channel':['jd']},'warehouse':'JD-BJ-02'},"
                                  "{'name':'sh','match':{'province':['上海市']},'warehouse':'SF-SH-01'},"
                                  "{'name':'all','match':{},'warehouse':'GZ-03'}]}}");
    expect_route(cfg, ORDER(.channel = "jd", .province = "上海市"), "JD-BJ-02", "jd");
    expect_route(cfg, ORDER(.channel = "tmall", .province = "上海市"), "SF-SH-01", "sh");
    expect_route(cfg, ORDER(.channel = "tmall"), "GZ-03", "all");
    ob_config_destroy(cfg);

    /* The same rules, the first two swapped. */
    cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
                "{'name':'sh','match':{'province':['上海市']},'warehouse':'SF-SH-01'},"
                "{'name':'jd','match':{'channel':['jd']},'warehouse':'JD-BJ-02'},"
                "{'name':'all','match':{},'warehouse':'GZ-03'}]}}");
    expect_route(cfg, ORDER(.channel = "jd", .province = "上海市"), "SF-SH-01", "sh");
    expect_route(cfg, ORDER(.channel = "jd", .province = "广东省"), "JD-BJ-02", "jd");
    ob_config_destroy(cfg);
}

/* Keys within one match are ANDed. */
static void test_rules_keys_and(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
              "{'name':'r','match':{'channel':['jd'],'province':['上海市'],'city':['上海市'],"
              "  'shop_id':['s1'],'priority':['express']},'warehouse':'JD-BJ-02'}],"
              "'default':'GZ-03'}}");
#define ALL .channel = "jd", .province = "上海市", .city = "上海市", .shop_id = "s1"
    expect_route(cfg, ORDER(ALL, .priority = "express"), "JD-BJ-02", "r");
    /* Any one key not matching and the rule does not apply. */
    expect_route(cfg, ORDER(ALL, .priority = "normal"), "GZ-03", "default");
    expect_route(cfg, ORDER(ALL), "GZ-03", "default"); /* priority left out: "normal" */
    expect_route(cfg, ORDER(.channel = "tmall", .province = "上海市", .city = "上海市",
                            .shop_id = "s1", .priority = "express"),
                 "GZ-03", "default");
    expect_route(cfg, ORDER(.channel = "jd", .province = "浙江省", .city = "上海市",
                            .shop_id = "s1", .priority = "express"),
                 "GZ-03", "default");
    expect_route(cfg, ORDER(.channel = "jd", .province = "上海市", .city = "杭州市",
                            .shop_id = "s1", .priority = "express"),
                 "GZ-03", "default");
    expect_route(cfg, ORDER(.channel = "jd", .province = "上海市", .city = "上海市",
                            .shop_id = "s2", .priority = "express"),
                 "GZ-03", "default");
    /* An order without the field does not match a key that tests it. */
    expect_route(cfg, ORDER(.province = "上海市", .city = "上海市", .shop_id = "s1",
                            .priority = "express"),
                 "GZ-03", "default");
    expect_route(cfg, ORDER(.channel = "jd", .province = "上海市", .city = "上海市",
                            .priority = "express"),
                 "GZ-03", "default");
#undef ALL
    ob_config_destroy(cfg);
}

/* Values within one key are ORed; matching is exact and case-sensitive. */
static void test_rules_values_or(void **state)
{
    (void)state;
    struct ob_config *cfg = parse(
        "{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
        "{'name':'east','match':{'province':['上海市','浙江省','江苏省']},'warehouse':'SF-SH-01'},"
        "{'name':'shops','match':{'shop_id':['a','b']},'warehouse':'JD-BJ-02'},"
        "{'name':'fast','match':{'priority':['express','presale']},'warehouse':'GZ-03'}]}}");
    expect_route(cfg, ORDER(.province = "上海市"), "SF-SH-01", "east");
    expect_route(cfg, ORDER(.province = "浙江省"), "SF-SH-01", "east");
    expect_route(cfg, ORDER(.province = "江苏省"), "SF-SH-01", "east");
    expect_route(cfg, ORDER(.shop_id = "a"), "JD-BJ-02", "shops");
    expect_route(cfg, ORDER(.shop_id = "b"), "JD-BJ-02", "shops");
    expect_route(cfg, ORDER(.priority = "express"), "GZ-03", "fast");
    expect_route(cfg, ORDER(.priority = "presale"), "GZ-03", "fast");
    /* Not a value of any rule: nothing matches, and there is no default. */
    const char *none = "no routing rule matched";
    expect_route(cfg, ORDER(.province = "上海"), NULL, none);   /* not "上海市" */
    expect_route(cfg, ORDER(.shop_id = "A"), NULL, none);       /* case-sensitive */
    expect_route(cfg, ORDER(.shop_id = "ab"), NULL, none);      /* whole value */
    expect_route(cfg, ORDER(.priority = "normal"), NULL, none);
    ob_config_destroy(cfg);
}

/* sku_prefix: every item's sku must start with one of the prefixes. */
static void test_rules_sku_prefix(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
              "{'name':'ske','match':{'sku_prefix':['SKE-','ACC-']},'warehouse':'GZ-03'}],"
              "'default':'SF-SH-01'}}");
    expect_route(cfg, ORDER(.skus = "SKE-12345-BLK-42"), "GZ-03", "ske");
    expect_route(cfg, ORDER(.skus = "SKE-1,SKE-2,SKE-3"), "GZ-03", "ske");
    /* Each item may match a different prefix. */
    expect_route(cfg, ORDER(.skus = "SKE-1,ACC-SOCK,SKE-2"), "GZ-03", "ske");
    /* A prefix is a whole sku too. */
    expect_route(cfg, ORDER(.skus = "SKE-"), "GZ-03", "ske");
    /* One item that does not match, wherever it is, and the rule does not
     * apply: that warehouse could not ship the whole order. */
    expect_route(cfg, ORDER(.skus = "NIKE-1,SKE-1,SKE-2"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.skus = "SKE-1,NIKE-1,SKE-2"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.skus = "SKE-1,SKE-2,NIKE-1"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.skus = "NIKE-1"), "SF-SH-01", "default");
    /* Shorter than the prefix, different case, prefix in the middle. */
    expect_route(cfg, ORDER(.skus = "SKE"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.skus = "ske-1"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.skus = "X-SKE-1"), "SF-SH-01", "default");
    ob_config_destroy(cfg);
}

/* "match": {} matches every order: later rules and the default are never
 * reached by an order without a warehouse. */
static void test_rules_empty_match(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
                                  "{'match':{'channel':['jd']},'warehouse':'JD-BJ-02'},"
                                  "{'name':'rest','match':{},'warehouse':'GZ-03'},"
                                  "{'name':'never','match':{'channel':['tmall']},'warehouse':'SF-SH-01'}],"
                                  "'default':'SF-SH-01'}}");
    expect_route(cfg, ORDER(.channel = "jd"), "JD-BJ-02", "rules[0]"); /* default name */
    expect_route(cfg, ORDER(.channel = "tmall"), "GZ-03", "rest");
    expect_route(cfg, ORDER(), "GZ-03", "rest");
    expect_route(cfg, ORDER(.priority = "presale", .skus = "A,B,C"), "GZ-03", "rest");
    ob_config_destroy(cfg);
}

/* An order naming a warehouse keeps its choice: configured code, then
 * alias; the rules are not even consulted. */
static void test_rules_explicit_warehouse_wins(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{" BRIEF_RULES "," ALIASES
                                  ",'default':'GZ-03'}}");
    expect_route(cfg, ORDER(.warehouse = "GZ-03", .channel = "jd"), "GZ-03", "warehouse field");
    expect_route(cfg, ORDER(.warehouse = "JD-BJ-02", .priority = "presale",
                            .province = "上海市"),
                 "JD-BJ-02", "warehouse field");
    expect_route(cfg, ORDER(.warehouse = "beijing", .priority = "presale", .province = "上海市"),
                 "JD-BJ-02", "alias");
    expect_route(cfg, ORDER(.warehouse = "shanghai", .channel = "jd"), "SF-SH-01", "alias");
    ob_config_destroy(cfg);
}

/* An unknown name is unroutable, even when a rule would match the order
 * and a default exists. */
static void test_rules_never_for_unknown_warehouse(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
              "{'name':'jd','match':{'channel':['jd']},'warehouse':'JD-BJ-02'},"
              "{'name':'all','match':{},'warehouse':'GZ-03'}]," ALIASES ",'default':'SF-SH-01'}}");
    expect_route(cfg, ORDER(.warehouse = "CD-99", .channel = "jd"), NULL,
                 "warehouse \"CD-99\" is neither a configured warehouse nor an alias");
    expect_route(cfg, ORDER(.warehouse = "CD-99"), NULL, "\"CD-99\"");
    expect_route(cfg, ORDER(.warehouse = "", .channel = "jd"), NULL, "\"\"");
    expect_route(cfg, ORDER(.warehouse = "Shanghai"), NULL, "\"Shanghai\"");
    ob_config_destroy(cfg);
}

/* No rule matches and there is no default: unroutable, and the reason says
 * that no rule matched. */
static void test_rules_no_match_no_default(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{" KAFKA "," WAREHOUSES ",'routing':{" BRIEF_RULES "," ALIASES "}}");
    expect_route(cfg, ORDER(.channel = "tmall"), NULL,
                 "order names no warehouse, no routing rule matched it and routing.default is "
                 "not set");
    expect_route(cfg, ORDER(.channel = "jd"), "JD-BJ-02", "jd-channel");
    ob_config_destroy(cfg);

    /* An empty list of rules is no rules. */
    cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':[]}}");
    expect_route(cfg, ORDER(), NULL, "order names no warehouse and routing.default is not set");
    ob_config_destroy(cfg);
}

/* What rule_name says for each way of routing; NULL is accepted. */
static void test_rule_name_output(void **state)
{
    (void)state;
    struct ob_config *cfg = parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
                                  "{'match':{'channel':['pdd']},'warehouse':'GZ-03'},"
                                  "{'match':{'channel':['jd']},'warehouse':'JD-BJ-02'}],"
                                  ALIASES ",'default':'SF-SH-01'}}");
    expect_route(cfg, ORDER(.channel = "pdd"), "GZ-03", "rules[0]");
    expect_route(cfg, ORDER(.channel = "jd"), "JD-BJ-02", "rules[1]");
    expect_route(cfg, ORDER(.channel = "tmall"), "SF-SH-01", "default");
    expect_route(cfg, ORDER(.warehouse = "GZ-03"), "GZ-03", "warehouse field");
    expect_route(cfg, ORDER(.warehouse = "beijing"), "JD-BJ-02", "alias");

    struct ob_parsed_order *po = make_order(ORDER(.channel = "jd"));
    char why[64];
    assert_int_equal(ob_router_route(cfg, &po->order, NULL, why, sizeof why), 1);
    ob_order_free(po);
    ob_config_destroy(cfg);
}

/* Orders built by hand (struct ob_order), as an adapter test might: a NULL
 * priority is "normal"; a NULL field or sku never matches; no items match no
 * sku_prefix (order.v1 requires at least one). */
static void test_rules_struct_order(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{" KAFKA "," WAREHOUSES ",'routing':{'rules':["
              "{'name':'normal','match':{'priority':['normal'],'channel':['jd']},'warehouse':'JD-BJ-02'},"
              "{'name':'ske','match':{'sku_prefix':['SKE-']},'warehouse':'GZ-03'}],"
              "'default':'SF-SH-01'}}");
    struct ob_order_item items[2];
    struct ob_order order;
    const char *rule, *reason;

    memset(items, 0, sizeof items);
    memset(&order, 0, sizeof order);
    order.order_id = "SO1";
    order.channel = "jd";
    assert_string_equal(route_order(cfg, &order, &rule, &reason), "JD-BJ-02");
    assert_string_equal(rule, "normal");

    order.channel = NULL;
    assert_string_equal(route_order(cfg, &order, &rule, &reason), "SF-SH-01");
    assert_string_equal(rule, "default"); /* no items */

    items[0].sku = "SKE-1";
    items[1].sku = "SKE-2";
    order.items = items;
    order.n_items = 2;
    assert_string_equal(route_order(cfg, &order, &rule, &reason), "GZ-03");
    assert_string_equal(rule, "ske");
    items[1].sku = NULL;
    assert_string_equal(route_order(cfg, &order, &rule, &reason), "SF-SH-01");
    ob_config_destroy(cfg);
}

/* Targets resolve whatever the order of keys in the file, and with many
 * warehouses the index is the right one. */
static void test_rules_before_warehouses(void **state)
{
    (void)state;
    struct ob_config *cfg =
        parse("{'routing':{'default':'JD-BJ-02','rules':["
              "{'name':'gz','match':{'channel':['store']},'warehouse':'GZ-03'},"
              "{'name':'sh','match':{'channel':['wechat']},'warehouse':'SF-SH-01'}]},"
              KAFKA "," WAREHOUSES "}");
    expect_route(cfg, ORDER(.channel = "store"), "GZ-03", "gz");
    expect_route(cfg, ORDER(.channel = "wechat"), "SF-SH-01", "sh");
    expect_route(cfg, ORDER(.channel = "douyin"), "JD-BJ-02", "default");
    ob_config_destroy(cfg);
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
        cmocka_unit_test(test_rules_documented_example),
        cmocka_unit_test(test_rules_first_match_wins),
        cmocka_unit_test(test_rules_keys_and),
        cmocka_unit_test(test_rules_values_or),
        cmocka_unit_test(test_rules_sku_prefix),
        cmocka_unit_test(test_rules_empty_match),
        cmocka_unit_test(test_rules_explicit_warehouse_wins),
        cmocka_unit_test(test_rules_never_for_unknown_warehouse),
        cmocka_unit_test(test_rules_no_match_no_default),
        cmocka_unit_test(test_rule_name_output),
        cmocka_unit_test(test_rules_struct_order),
        cmocka_unit_test(test_rules_before_warehouses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
