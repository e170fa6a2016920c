/*
 * bridge.h — the pipeline: consume, validate, route, encode, push, classify,
 * report, commit. One event loop on one thread, no blocking I/O in it.
 */
#ifndef OB_BRIDGE_H
#define OB_BRIDGE_H

#include <stddef.h>

#include "config.h"
#include "metrics.h"

struct ob_bridge;

/* Load every warehouse's adapter and create the Kafka clients. `cfg` must
 * outlive the bridge. Returns 0, or -1 with errstr. */
int ob_bridge_create(const struct ob_config *cfg, struct ob_bridge **out, char *errstr,
                     size_t errstr_size);

/* Run until ob_bridge_stop(); then stop fetching, let in-flight orders
 * finish (up to pipeline.shutdown_timeout_ms), commit and flush. Returns 0,
 * or -1 after a fatal Kafka error. */
int ob_bridge_run(struct ob_bridge *b);

/* Ask the loop to stop. Async-signal-safe, callable from any thread. */
void ob_bridge_stop(struct ob_bridge *b);

/* Live counters, readable from any thread. */
const struct ob_metrics *ob_bridge_metrics(const struct ob_bridge *b);

/* The port of the bridge's HTTP server (callbacks, /metrics), 0 when it
 * has none; useful with http.listen "host:0". */
unsigned short ob_bridge_http_port(const struct ob_bridge *b);

void ob_bridge_destroy(struct ob_bridge *b);

#endif
