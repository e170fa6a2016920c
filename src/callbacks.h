/*
 * callbacks.h — warehouse status callbacks: from the bridge's HTTP server,
 * through the warehouse's adapter (verify, parse), to the tracker, and the
 * warehouse's own answer back once the events are in Kafka.
 *
 * Runs on the bridge's loop thread; the HTTP server has threads of its own
 * and wakes the loop through wake_fd.
 */
#ifndef OB_CALLBACKS_H
#define OB_CALLBACKS_H

#include "adapter.h"
#include "config.h"
#include "metrics.h"
#include "producer.h"
#include "tracker.h"

/* The first member of a forwarded callback record's opaque: the bridge's
 * delivery callback hands it to ob_callbacks_delivered(). */
#define OB_CALLBACK_FORWARD_TAG 0x63626677

struct ob_callbacks;

/* Start the HTTP server on cfg->http.listen with a route per warehouse
 * that has a callback path (adapters[i] serves cfg->warehouses[i]), and
 * GET /metrics, /healthz, /readyz (on cfg->http.ops_listen when set).
 * Returns 0, or -1 with errstr. */
int ob_callbacks_create(const struct ob_config *cfg, struct ob_adapter_instance *const *adapters,
                        struct ob_tracker *tracker, struct ob_producer *producer,
                        struct ob_metrics *metrics, int wake_fd, struct ob_callbacks **out,
                        char *errstr, size_t errstr_size);

/* With kafka.topics.callbacks, a verified callback is not applied here: one
 * record per order goes to that topic (the owner of the order's partition
 * applies it) and the warehouse is answered once Kafka acknowledged them
 * all. The delivery report of such a record (tagged OB_CALLBACK_FORWARD_TAG). */
void ob_callbacks_delivered(struct ob_callbacks *c, void *opaque, rd_kafka_resp_err_t err);

/* Callbacks waiting for Kafka's acknowledgements. */
size_t ob_callbacks_pending(const struct ob_callbacks *c);

/* Handle the callbacks that arrived (non-blocking). */
void ob_callbacks_run(struct ob_callbacks *c);

/* The port the server listens on. */
unsigned short ob_callbacks_port(const struct ob_callbacks *c);

/* GET /readyz: 200 while ready (the bridge consumes), else 503, with
 * `text` (what is not ready) as the body; NULL: "ready" or "not ready". A
 * new server is not ready. c NULL is a no-op. */
void ob_callbacks_set_readiness(struct ob_callbacks *c, int ready, const char *text);

/* Stop the server; callbacks not answered get 503. NULL is a no-op. The
 * tracker must have finished (or aborted) their reports first. */
void ob_callbacks_destroy(struct ob_callbacks *c);

#endif
