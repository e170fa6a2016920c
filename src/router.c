#include "router.h"

#include <stdio.h>
#include <string.h>

static int warehouse_index(const struct ob_config *cfg, const char *code)
{
    for (size_t i = 0; i < cfg->n_warehouses; i++) {
        if (strcmp(cfg->warehouses[i].code, code) == 0)
            return (int)i;
    }
    return -1;
}

/* The order's value is one of the rule's values. An order without the
 * field matches no list. */
static int any_equal(const struct ob_route_values *v, const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->values[i], s) == 0)
            return 1;
    return 0;
}

static int any_prefix(const struct ob_route_values *v, const char *s)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (strncmp(s, v->values[i], v->lens[i]) == 0)
            return 1;
    return 0;
}

/* Every key the rule tests must match; the cheap ones first, the items
 * last. An order with no items (order.v1 requires one) matches no
 * sku_prefix: there is nothing to say the warehouse stocks. */
static int rule_matches(const struct ob_route_rule *r, const struct ob_order *o)
{
    const struct ob_route_values *m = r->match;
    if (m[OB_ROUTE_CHANNEL].n && !any_equal(&m[OB_ROUTE_CHANNEL], o->channel))
        return 0;
    if (m[OB_ROUTE_PRIORITY].n &&
        !any_equal(&m[OB_ROUTE_PRIORITY], o->priority ? o->priority : "normal"))
        return 0;
    if (m[OB_ROUTE_SHOP_ID].n && !any_equal(&m[OB_ROUTE_SHOP_ID], o->shop_id))
        return 0;
    if (m[OB_ROUTE_PROVINCE].n &&
        !any_equal(&m[OB_ROUTE_PROVINCE], o->shipping_address.province))
        return 0;
    if (m[OB_ROUTE_CITY].n && !any_equal(&m[OB_ROUTE_CITY], o->shipping_address.city))
        return 0;
    if (m[OB_ROUTE_SKU_PREFIX].n) {
        if (o->n_items == 0)
            return 0;
        for (size_t i = 0; i < o->n_items; i++)
            if (!any_prefix(&m[OB_ROUTE_SKU_PREFIX], o->items[i].sku))
                return 0;
    }
    return 1;
}

static int routed(const char **rule_name, const char *name, int idx)
{
    if (rule_name)
        *rule_name = name;
    return idx;
}

int ob_router_route(const struct ob_config *cfg, const struct ob_order *order,
                    const char **rule_name, char *reason, size_t reason_size)
{
    int idx;

    if (rule_name)
        *rule_name = NULL;

    /* An explicit choice wins, and an unknown one is never second-guessed. */
    if (order->warehouse) {
        idx = warehouse_index(cfg, order->warehouse);
        if (idx >= 0)
            return routed(rule_name, "warehouse field", idx);
        for (size_t i = 0; i < cfg->n_aliases; i++) {
            if (strcmp(cfg->aliases[i].name, order->warehouse) == 0)
                return routed(rule_name, "alias", cfg->aliases[i].index);
        }
        snprintf(reason, reason_size,
                 "warehouse \"%.64s\" is neither a configured warehouse nor an alias",
                 order->warehouse);
        return -1;
    }

    for (size_t i = 0; i < cfg->n_rules; i++) {
        if (rule_matches(&cfg->rules[i], order))
            return routed(rule_name, cfg->rules[i].name, cfg->rules[i].index);
    }
    if (cfg->default_warehouse)
        return routed(rule_name, "default", cfg->default_index);
    if (cfg->n_rules)
        snprintf(reason, reason_size,
                 "order names no warehouse, no routing rule matched it and routing.default is "
                 "not set");
    else
        snprintf(reason, reason_size, "order names no warehouse and routing.default is not set");
    return -1;
}
