#include "track.h"

#include <stddef.h>
#include <string.h>

#include "hash.h"

static const char *const names[] = {
    [OB_STATUS_UNMAPPED] = "UNMAPPED",   [OB_STATUS_ACCEPTED] = "ACCEPTED",
    [OB_STATUS_ALLOCATED] = "ALLOCATED", [OB_STATUS_PICKED] = "PICKED",
    [OB_STATUS_PACKED] = "PACKED",       [OB_STATUS_SHIPPED] = "SHIPPED",
    [OB_STATUS_DELIVERED] = "DELIVERED", [OB_STATUS_CANCELLED] = "CANCELLED",
    [OB_STATUS_EXCEPTION] = "EXCEPTION", [OB_STATUS_REJECTED] = "REJECTED",
};

const char *ob_fulfillment_status_name(int status)
{
    if (status < 0 || (size_t)status >= sizeof(names) / sizeof(names[0]))
        return NULL;
    return names[status];
}

int ob_fulfillment_status_parse(const char *name)
{
    for (int s = 0; s < 32; s++) {
        const char *n = ob_fulfillment_status_name(s);
        if (!n)
            break;
        if (strcmp(n, name) == 0)
            return s;
    }
    return -1;
}

int ob_fulfillment_status_terminal(int status)
{
    return status == OB_STATUS_DELIVERED || status == OB_STATUS_CANCELLED ||
           status == OB_STATUS_REJECTED;
}

/* A status that is a step of the order's progress (or its end). */
static int is_state(int status)
{
    return status >= OB_STATUS_ACCEPTED && status <= OB_STATUS_REJECTED &&
           status != OB_STATUS_EXCEPTION;
}

void ob_track_init(struct ob_track *t, int64_t revision, const char *idempotency_key,
                   const char *warehouse_order_id)
{
    memset(t, 0, sizeof *t);
    t->current = OB_STATUS_ACCEPTED;
    t->emitted = 1u << OB_STATUS_ACCEPTED;
    t->revision = revision;
    if (idempotency_key)
        strncpy(t->idempotency_key, idempotency_key, sizeof t->idempotency_key - 1);
    if (warehouse_order_id)
        strncpy(t->warehouse_order_id, warehouse_order_id, sizeof t->warehouse_order_id - 1);
}

/* A fingerprint of the fields that make an event report distinct, folded
 * to the 32 bits a track keeps. */
static uint32_t report_hash(const struct ob_status_update *u)
{
    int status = (int)u->status;
    uint64_t h = ob_fnv1a(OB_FNV1A_OFFSET, &status, sizeof status);
    uint32_t folded;

    h = ob_fnv1a(h, u->raw_code, strnlen(u->raw_code, sizeof u->raw_code));
    h = ob_fnv1a(h, "\0", 1);
    h = ob_fnv1a(h, &u->occurred_at_ms, sizeof u->occurred_at_ms);
    h = ob_fnv1a(h, u->reason, strnlen(u->reason, sizeof u->reason));
    folded = (uint32_t)(h ^ (h >> 32));
    return folded ? folded : 1; /* 0 marks an empty slot */
}

enum ob_track_verdict ob_track_apply(struct ob_track *t, const struct ob_status_update *u)
{
    int s = (int)u->status;

    if (!is_state(s)) {
        /* EXCEPTION or unmapped: an event, once per distinct report. */
        uint32_t h = report_hash(u);
        for (int i = 0; i < OB_TRACK_SEEN; i++)
            if (t->seen[i] == h)
                return OB_TRACK_REPEAT;
        t->seen[t->seen_next] = h;
        t->seen_next = (t->seen_next + 1) % OB_TRACK_SEEN;
        if (s == OB_STATUS_EXCEPTION)
            t->emitted |= 1u << OB_STATUS_EXCEPTION;
        return OB_TRACK_EMIT;
    }
    if (t->emitted & (1u << s))
        return OB_TRACK_REPEAT;
    t->emitted |= 1u << s;
    if (ob_fulfillment_status_terminal(t->current))
        return OB_TRACK_EMIT_LATE;
    if (ob_fulfillment_status_terminal(s) || s > t->current) {
        t->current = s;
        t->terminal = ob_fulfillment_status_terminal(s);
        return OB_TRACK_EMIT;
    }
    return OB_TRACK_EMIT_LATE;
}
