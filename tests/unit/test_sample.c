/*
 * test_sample.c — the sample order generator produces valid, varied,
 * deterministic order.v1 documents, and malformed ones that fail as named.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "order.h"
#include "sample.h"

#define N_ORDERS 10000
#define MAX_BYTES (1u << 20)

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Which of & < > " ' and a 4-byte character occur in s. */
enum { HAS_AMP = 1, HAS_LT = 2, HAS_GT = 4, HAS_QUOT = 8, HAS_APOS = 16, HAS_EMOJI = 32 };

static unsigned specials(const char *s)
{
    unsigned m = 0;
    if (!s)
        return 0;
    for (; *s; s++) {
        switch (*s) {
        case '&': m |= HAS_AMP; break;
        case '<': m |= HAS_LT; break;
        case '>': m |= HAS_GT; break;
        case '"': m |= HAS_QUOT; break;
        case '\'': m |= HAS_APOS; break;
        default:
            if (((unsigned char)*s & 0xF8) == 0xF0)
                m |= HAS_EMOJI;
        }
    }
    return m;
}

static void test_orders_valid_unique_varied(void **state)
{
    (void)state;
    char **ids = calloc(N_ORDERS, sizeof *ids);
    size_t seen[6] = {0}, with_warehouse = 0, remark_1024 = 0, max_remark = 0, multi_item = 0;
    size_t events[4] = {0}, channels = 0, express = 0, html_escaped = 0, ascii_escaped = 0;
    assert_non_null(ids);

    for (unsigned long i = 0; i < N_ORDERS; i++) {
        size_t len = 0;
        const char *wh = i % 3 == 0 ? NULL : "SF-SH-01";
        char *doc = ob_sample_order(20231111, i, wh, &len);
        assert_non_null(doc);
        assert_int_equal(strlen(doc), len);
        if (strstr(doc, "\\u003c") || strstr(doc, "\\u0026"))
            html_escaped++;
        if (strstr(doc, "\\u5"))
            ascii_escaped++;

        struct ob_parsed_order *po;
        struct ob_order_problem p;
        if (ob_order_parse(doc, len, MAX_BYTES, &po, &p) != 0)
            fail_msg("order %lu invalid: %s: %s\n%s", i, ob_order_error_name(p.code), p.message, doc);
        const struct ob_order *o = &po->order;

        char want[64];
        snprintf(want, sizeof want, "DEMO-20231111-%08lu", i);
        assert_string_equal(o->order_id, want);
        ids[i] = strdup(o->order_id);
        if (wh)
            assert_string_equal(o->warehouse, wh), with_warehouse++;
        else
            assert_null(o->warehouse);

        /* amounts are consistent */
        int64_t goods = 0;
        for (size_t k = 0; k < o->n_items; k++) {
            assert_int_equal(o->items[k].line_no, (int)k + 1);
            goods += o->items[k].unit_price.minor * o->items[k].quantity;
            assert_true(o->items[k].discount.minor >= 0);
        }
        assert_in_range(o->n_items, 1, 5);
        multi_item += o->n_items > 1;
        if (o->amounts.goods.text)
            assert_int_equal(o->amounts.goods.minor, goods);
        assert_int_equal(o->amounts.paid.minor,
                         goods - o->amounts.discount.minor + o->amounts.shipping.minor);
        assert_true(o->amounts.paid.minor >= 0);

        unsigned m = specials(o->remark) | specials(o->buyer.nick) | specials(o->shipping_address.street);
        for (size_t k = 0; k < o->n_items; k++)
            m |= specials(o->items[k].name);
        for (int b = 0; b < 6; b++)
            seen[b] += (m >> b) & 1;
        if (o->remark) {
            size_t cp = code_points(o->remark);
            remark_1024 += cp == 1024;
            if (cp > max_remark)
                max_remark = cp;
        }
        events[o->event]++;
        channels += o->channel != NULL;
        express += strcmp(o->priority, "express") == 0;
        ob_order_free(po);
        free(doc);
    }

    qsort(ids, N_ORDERS, sizeof *ids, cmp_str);
    for (size_t i = 1; i < N_ORDERS; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0)
            fail_msg("duplicate order_id %s", ids[i]);
    for (size_t i = 0; i < N_ORDERS; i++)
        free(ids[i]);
    free(ids);

    static const char *const names[6] = {"&", "<", ">", "\"", "'", "emoji"};
    for (int b = 0; b < 6; b++) {
        print_message("orders with %s: %zu\n", names[b], seen[b]);
        if (seen[b] < 10)
            fail_msg("only %zu orders contain %s", seen[b], names[b]);
    }
    print_message("remarks at 1024 code points: %zu (max %zu); html-escaped %zu, ascii-escaped %zu\n",
                  remark_1024, max_remark, html_escaped, ascii_escaped);
    assert_true(remark_1024 > 0);
    assert_int_equal(max_remark, 1024);
    assert_true(html_escaped > 0 && ascii_escaped > 0);
    assert_true(multi_item > N_ORDERS / 4);
    /* each sample is a new order */
    assert_int_equal(events[OB_EVENT_CREATED], N_ORDERS);
    assert_true(channels > N_ORDERS / 2 && express > 0);
    assert_true(with_warehouse > 0);
}

static void test_deterministic(void **state)
{
    (void)state;
    for (unsigned long i = 0; i < 200; i++) {
        size_t la, lb, lc;
        char *a = ob_sample_order(7, i, "WH", &la), *b = ob_sample_order(7, i, "WH", &lb);
        char *c = ob_sample_order(8, i, "WH", &lc);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        assert_true(la != lc || memcmp(a, c, la) != 0);
        free(a);
        free(b);
        free(c);
    }
    /* large seeds and indices still give valid ids (<= 64 characters) */
    size_t len;
    char *d = ob_sample_order(~0UL, ~0UL, NULL, &len);
    struct ob_parsed_order *po;
    struct ob_order_problem p;
    assert_int_equal(ob_order_parse(d, len, MAX_BYTES, &po, &p), 0);
    ob_order_free(po);
    free(d);
    d = ob_sample_order(1, 2, NULL, NULL); /* len may be NULL */
    assert_non_null(d);
    free(d);
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *kind;
        enum ob_order_error code;
    } want[OB_SAMPLE_MALFORMED_KINDS] = {
        {"invalid_json", OB_ORDER_INVALID_JSON}, {"missing_order_id", OB_ORDER_INVALID},
        {"float_money", OB_ORDER_INVALID},       {"not_utf8", OB_ORDER_NOT_UTF8},
        {"empty", OB_ORDER_EMPTY},               {"wrong_schema", OB_ORDER_INVALID},
    };
    for (unsigned long i = 0; i < 600; i++) {
        size_t len = 99;
        const char *kind = NULL;
        char *msg = ob_sample_malformed(i, &len, &kind);
        unsigned k = (unsigned)(i % OB_SAMPLE_MALFORMED_KINDS);
        assert_non_null(msg);
        assert_string_equal(kind, want[k].kind);

        struct ob_parsed_order *po = (void *)1;
        struct ob_order_problem p;
        assert_int_equal(ob_order_parse(msg, len, MAX_BYTES, &po, &p), -1);
        assert_null(po);
        if (p.code != want[k].code)
            fail_msg("malformed %lu (%s): got %s: %s", i, kind, ob_order_error_name(p.code), p.message);
        switch (k) {
        case 1:
            assert_string_equal(p.message, "$.order_id: required field is missing");
            assert_string_equal(p.order_id, "");
            break;
        case 2:
            assert_string_equal(p.message, "$.items[0].unit_price: must be a decimal string, got a number");
            assert_true(starts_with(p.order_id, "BAD-"));
            break;
        case 4:
            assert_int_equal(len, 0);
            break;
        case 5:
            assert_true(starts_with(p.message, "$.schema: must be \"order.v1\", got "));
            assert_true(starts_with(p.order_id, "BAD-"));
            break;
        default:
            break;
        }
        free(msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_valid_unique_varied),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
