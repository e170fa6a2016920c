/*
 * router.h — which configured warehouse fulfils an order.
 *
 * An order naming a configured warehouse code goes there; a name listed in
 * routing.aliases goes to its target; an order naming anything else is
 * unroutable: parking it is better than sending it to the wrong warehouse,
 * so neither a rule nor the default ever applies to it. An order without a
 * "warehouse" field goes to the warehouse of the first routing rule that
 * matches it, else to routing.default, else it is unroutable.
 *
 * Routing runs for every order: it allocates nothing, and every code it
 * returns was resolved to an index when the config was parsed.
 */
#ifndef OB_ROUTER_H
#define OB_ROUTER_H

#include <stddef.h>

#include <orderbridge/order.h>

#include "config.h"

/*
 * Index into cfg->warehouses, or -1 with a reason written to `reason`
 * (truncated to reason_size, always terminated when reason_size > 0).
 *
 * When rule_name is not NULL it is set to what chose the warehouse: the
 * matching rule's name (owned by cfg), "warehouse field" (the order named
 * a configured code), "alias" or "default"; NULL when the order is
 * unroutable.
 */
int ob_router_route(const struct ob_config *cfg, const struct ob_order *order,
                    const char **rule_name, char *reason, size_t reason_size);

#endif
