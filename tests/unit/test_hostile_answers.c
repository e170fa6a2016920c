/*
 * test_hostile_answers.c — every adapter against answers built to hurt
 * (issue 10): XML entity expansion (billion laughs, the quadratic blowup
 * that once took 1.6 GB and minutes), external entities (XXE), XML and JSON
 * nested a million deep, an answer as large as the dispatcher keeps. Each
 * adapter's decode_response, and poll_decode where it has one, must come
 * back (CTest's timeout catches a stall), must decide, must not take the
 * answer as an acceptance where it reads the body, and must not quote what
 * an external entity would have read.
 *
 * The adapters are opened by the fuzz targets' fixture (tests/fuzz/harness.c):
 * the same eight warehouses, the same test credentials.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h" /* OB_HTTP_MAX_BODY: the most of an answer the bridge keeps */
#include "fuzz.h"
#include "support.h"

struct bomb {
    const char *name;
    char *body;
    size_t len;
    const char *content_type;
    int may_accept; /* well-formed: whether it is a success is the warehouse's scheme */
};

static struct bomb bombs[8];
static size_t n_bombs;

static void add(const char *name, char *body, size_t len, const char *content_type)
{
    assert_true(n_bombs < sizeof bombs / sizeof bombs[0]);
    bombs[n_bombs++] = (struct bomb){name, body, len, content_type, 0};
}

static char *text(const char *s, size_t *len)
{
    char *copy = strdup(s);
    assert_non_null(copy);
    *len = strlen(copy);
    return copy;
}

/* `open` n times, then `close` n times. */
static char *nest(const char *head, const char *open, const char *close, const char *tail,
                  size_t n, size_t *len)
{
    size_t cap = strlen(head) + n * (strlen(open) + strlen(close)) + strlen(tail) + 1, o = 0;
    char *doc = malloc(cap);
    assert_non_null(doc);
    o += (size_t)snprintf(doc, cap, "%s", head);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s", open);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(doc + o, cap - o, "%s", close);
    o += (size_t)snprintf(doc + o, cap - o, "%s", tail);
    *len = o;
    return doc;
}

static int setup(void **state)
{
    (void)state;
    size_t len;
    char *b;

    fuzz_open_adapters();
    add("billion laughs",
        text("<?xml version=\"1.0\"?><!DOCTYPE response [<!ENTITY a \"aaaaaaaaaa\">"
             "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
             "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
             "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]>"
             "<response><flag>success</flag><code>&g;</code><message>&g;</message>"
             "<deliveryOrderId>&g;</deliveryOrderId></response>", &len),
        len, "text/xml");

    /* one 40 KB entity referenced 40,000 times: 160 KB that expanded to 1.6 GB */
    b = quadratic_xml("<response><flag>success</flag><message>", "</message></response>", 40000,
                      40000, &len);
    add("quadratic blowup", b, len, "text/xml");

    add("external entity",
        text("<?xml version=\"1.0\"?><!DOCTYPE response [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
             "<response><flag>success</flag><code>&x;</code><message>&x;</message>"
             "<deliveryOrderId>&x;</deliveryOrderId></response>", &len),
        len, "text/xml");
    b = nest("<?xml version=\"1.0\"?>", "<response>", "</response>", "", 1000000, &len);
    add("XML a million deep", b, len, "text/xml");
    b = nest("", "[", "]", "", 1000000, &len);
    add("JSON a million deep", b, len, "application/json");
    b = nest("{\"success\":true,\"data\":", "{\"a\":", "}", "}", 100000, &len);
    add("JSON object 100000 deep", b, len, "application/json");

    /* as much as the dispatcher keeps of an answer, one string of escapes */
    b = malloc(OB_HTTP_MAX_BODY + 1);
    assert_non_null(b);
    size_t o = (size_t)sprintf(b, "{\"success\":\"");
    while (o + 6 + 2 < OB_HTTP_MAX_BODY)
        o += (size_t)sprintf(b + o, "\\u0041");
    o += (size_t)sprintf(b + o, "\"}");
    add("1 MiB of escapes", b, o, "application/json");
    bombs[n_bombs - 1].may_accept = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_bombs; i++)
        free(bombs[i].body);
    return 0;
}

static struct ob_response response(const struct bomb *bomb, struct ob_header *ct)
{
    *ct = (struct ob_header){"Content-Type", (char *)bomb->content_type};
    return (struct ob_response){.status = 200, .body = bomb->body, .body_len = bomb->len,
                                .headers = ct, .n_headers = 1};
}

static void test_answers(void **state)
{
    (void)state;
    const struct ob_parsed_order *example = fuzz_example_order();

    for (int wh = 0; wh < FUZZ_N_WH; wh++) {
        struct ob_adapter_instance *inst = fuzz_adapter((enum fuzz_wh)wh);
        struct ob_delivery delivery = fuzz_delivery((enum fuzz_wh)wh);
        for (size_t i = 0; i < n_bombs; i++) {
            struct ob_header ct;
            struct ob_response resp = response(&bombs[i], &ct);
            struct ob_outcome out;
            memset(&out, 0, sizeof out);
            inst->plugin.vt.decode_response(inst->state, &example->order, &delivery, &resp, &out);
            /* Whether a 200 is a success is the warehouse's scheme (a mapping may
             * take any 200); an adapter that reads the body must not be fooled. */
            int reads_body = wh == FUZZ_QIMEN || wh == FUZZ_REST || wh == FUZZ_SF_EXPRESS ||
                             wh == FUZZ_CAINIAO || wh == FUZZ_EMS;
            if ((out.kind == OB_OUTCOME_ACCEPTED && reads_body && !bombs[i].may_accept) ||
                (out.kind != OB_OUTCOME_ACCEPTED && out.kind != OB_OUTCOME_RETRY &&
                 out.kind != OB_OUTCOME_PERMANENT))
                fail_msg("%s, %s: outcome %d (%s)", fuzz_wh_name((enum fuzz_wh)wh), bombs[i].name,
                         (int)out.kind, out.reason);
            assert_non_null(memchr(out.reason, '\0', sizeof out.reason));
            if (strstr(out.reason, "root:"))
                fail_msg("%s, %s: an external entity was read into the reason: %s",
                         fuzz_wh_name((enum fuzz_wh)wh), bombs[i].name, out.reason);
            assert_null(strstr(out.warehouse_order_id, "root:"));
            assert_null(strstr(out.warehouse_order_id, "aaaaaaaaaa")); /* an expanded &g; */
        }
    }
}

static void test_polls(void **state)
{
    (void)state;
    static const enum fuzz_wh polled[] = {FUZZ_CAINIAO, FUZZ_EMS};
    const struct ob_parsed_order *example = fuzz_example_order();

    for (size_t p = 0; p < sizeof polled / sizeof polled[0]; p++) {
        struct ob_adapter_instance *inst = fuzz_adapter(polled[p]);
        struct ob_poll_target target = {
            .order_id = example->order.order_id,
            .warehouse_order_id = "LBX0000001000001",
            .idempotency_key = fuzz_delivery(polled[p]).idempotency_key,
            .current = OB_STATUS_ACCEPTED,
        };
        assert_non_null(inst->plugin.vt.poll_decode);
        for (size_t i = 0; i < n_bombs; i++) {
            struct ob_header ct;
            struct ob_response resp = response(&bombs[i], &ct);
            struct ob_status_update out[32];
            char err[256] = "";
            int n = inst->plugin.vt.poll_decode(inst->state, &target, &resp, out, 32, err,
                                                sizeof err);
            if (n > 0)
                fail_msg("%s, %s: %d updates read from a hostile answer",
                         fuzz_wh_name(polled[p]), bombs[i].name, n);
            assert_null(strstr(err, "root:"));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_polls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
