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

int ob_router_route(const struct ob_config *cfg, const struct ob_order *order, char *reason,
                    size_t reason_size)
{
    int idx;

    if (!order->warehouse) {
        if (cfg->default_warehouse)
            return warehouse_index(cfg, cfg->default_warehouse);
        snprintf(reason, reason_size, "order names no warehouse and routing.default is not set");
        return -1;
    }
    idx = warehouse_index(cfg, order->warehouse);
    if (idx >= 0)
        return idx;
    for (size_t i = 0; i < cfg->n_aliases; i++) {
        if (strcmp(cfg->aliases[i].name, order->warehouse) == 0)
            return warehouse_index(cfg, cfg->aliases[i].warehouse);
    }
    snprintf(reason, reason_size, "warehouse \"%.64s\" is neither a configured warehouse nor an alias",
             order->warehouse);
    return -1;
}
