/*
 * router.h — which configured warehouse fulfils an order.
 *
 * An order naming a configured warehouse code goes there; a name listed in
 * routing.aliases goes to its target; an order without a "warehouse" field
 * goes to routing.default. An order naming anything else is unroutable:
 * parking it is better than sending it to the wrong warehouse.
 */
#ifndef OB_ROUTER_H
#define OB_ROUTER_H

#include <stddef.h>

#include <orderbridge/order.h>

#include "config.h"

/* Index into cfg->warehouses, or -1 with a reason written to `reason`. */
int ob_router_route(const struct ob_config *cfg, const struct ob_order *order, char *reason,
                    size_t reason_size);

#endif
