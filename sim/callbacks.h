/*
 * callbacks.h — the simulator core's status-report sender (callbacks.c),
 * private to sim/. The public side is in sim.h.
 */
#ifndef OB_SIM_CALLBACKS_H
#define OB_SIM_CALLBACKS_H

#include <stddef.h>

#include "sim.h"

struct ob_sim__cb;

/*
 * The sender of a sim whose profile sends callbacks, its thread started.
 * *out is NULL (and 0 returned) when the profile sends none and no callback
 * URL is asked for. -1 with errstr on bad options or out of resources.
 */
int ob_sim__cb_create(struct ob_sim *sim, const struct ob_sim_profile *profile,
                      const struct ob_sim_options *opt, struct ob_sim__cb **out, char *errstr,
                      size_t errstr_size);

/* Stop sending and join the thread; callbacks in flight are abandoned. NULL: no-op. */
void ob_sim__cb_stop(struct ob_sim__cb *cb);

/* Free everything, after ob_sim__cb_stop() and once no profile can call in. NULL: no-op. */
void ob_sim__cb_destroy(struct ob_sim__cb *cb);

/* Fill the cb_* fields of *out (left alone for NULL). */
void ob_sim__cb_stats(struct ob_sim__cb *cb, struct ob_sim_stats *out);

/* The sender of a sim, or NULL (defined in sim.c). */
struct ob_sim__cb *ob_sim__cb_of(struct ob_sim *sim);

#endif
