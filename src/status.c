#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <orderbridge/sdk.h>

#include "redact.h"

int64_t ob_now_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ob_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ob_format_time(int64_t epoch_ms, char out[32])
{
    /* Floor division, so that times before 1970 format correctly too. */
    int64_t ms = ((epoch_ms % 1000) + 1000) % 1000;
    time_t secs = (time_t)((epoch_ms - ms) / 1000);
    struct tm tm;
    size_t n;

    gmtime_r(&secs, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)ms);
}

/* Optional members are left out when NULL or empty. */
static void optional(struct ob_json *w, const char *key, const char *value)
{
    if (value && *value) {
        ob_json_key(w, key);
        ob_json_string(w, value);
    }
}

/* Free text (a reason, a warehouse's words) may quote a secret a warehouse
 * echoed back: masked, like everything that leaves the process. */
static void text(struct ob_json *w, const char *key, const char *value)
{
    char *copy;

    if (!value || !*value)
        return;
    copy = ob_redact_dup(value);
    if (!copy) {
        w->out->failed = 1;
        return;
    }
    optional(w, key, copy);
    free(copy);
}

/* Written member by member, no tree: this runs once per order. Strings
 * from a warehouse may be cut at any byte; what is not UTF-8 becomes '?'. */
char *ob_status_event_json(const struct ob_status_event *ev, size_t *len)
{
    char now[32];
    struct ob_buf buf;
    struct ob_json w;

    if (!ev->order_id || !ev->warehouse || !ev->status || !ev->source)
        return NULL;
    if (!ev->occurred_at)
        ob_format_time(ob_now_epoch_ms(), now);
    ob_buf_init(&buf, OB_BUF_DEFAULT_MAX);
    ob_json_init(&w, &buf);
    ob_json_object_open(&w);
    ob_json_key(&w, "schema");
    ob_json_string(&w, "fulfillment.v1");
    ob_json_key(&w, "order_id");
    ob_json_string(&w, ev->order_id);
    if (ev->revision > 0) {
        ob_json_key(&w, "revision");
        ob_json_int(&w, ev->revision);
    }
    ob_json_key(&w, "warehouse");
    ob_json_string(&w, ev->warehouse);
    ob_json_key(&w, "status");
    ob_json_string(&w, ev->status);
    ob_json_key(&w, "occurred_at");
    ob_json_string(&w, ev->occurred_at ? ev->occurred_at : now);
    optional(&w, "warehouse_order_id", ev->warehouse_order_id);
    optional(&w, "carrier", ev->carrier);
    optional(&w, "tracking_no", ev->tracking_no);
    text(&w, "reason", ev->reason);
    ob_json_key(&w, "source");
    ob_json_string(&w, ev->source);
    if (ev->raw_code && *ev->raw_code) {
        ob_json_key(&w, "raw");
        ob_json_object_open(&w);
        ob_json_key(&w, "code");
        ob_json_string(&w, ev->raw_code);
        text(&w, "text", ev->raw_text);
        ob_json_object_close(&w);
    }
    if (ev->unmapped) {
        ob_json_key(&w, "unmapped");
        ob_json_bool(&w, 1);
    }
    optional(&w, "idempotency_key", ev->idempotency_key);
    optional(&w, "trace_id", ev->trace_id);
    ob_json_object_close(&w);
    if (ob_json_done(&w) != 0) {
        ob_buf_reset(&buf);
        return NULL;
    }
    return ob_buf_steal(&buf, len);
}
