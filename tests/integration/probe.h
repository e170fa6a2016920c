/* probe.h — what the integration tests ask a running bridge. */
#ifndef OB_TEST_PROBE_H
#define OB_TEST_PROBE_H

#include <stdint.h>

/* A TCP port on 127.0.0.1 that was free a moment ago. */
unsigned short h_free_port(void);
/* The value of orderbridge_<name> in GET /metrics on `port`; UINT64_MAX
 * when it cannot be read. */
uint64_t h_metric_at(unsigned short port, const char *name);

#endif
