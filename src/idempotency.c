#include "idempotency.h"

#include <inttypes.h>
#include <stdio.h>

#include <orderbridge/sdk.h>

int ob_idempotency_key(const char *warehouse, const char *order_id, const char *event,
                       int64_t revision, char out[65])
{
    char preimage[512];
    int n;

    /* Fields are separated by '\n', which none of them may contain (codes,
     * ids and event names are validated), so distinct tuples never collide.
     * The "v1" prefix lets a future scheme coexist with this one. */
    n = snprintf(preimage, sizeof(preimage), "orderbridge.idem.v1\n%s\n%s\n%s\n%" PRId64, warehouse,
                 order_id, event, revision);
    if (n < 0 || (size_t)n >= sizeof(preimage))
        return -1;
    return ob_sha256_hex(preimage, (size_t)n, out);
}
