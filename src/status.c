#include "status.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "redact.h"

int64_t ob_now_epoch_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    size_t n;
    unsigned cp;

    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* A reason may quote a warehouse's answer cut at any byte: replace what is
 * not UTF-8 with '?' so the event stays valid JSON. Returns malloc()ed. */
static char *utf8_clean(const char *in)
{
    size_t len = strlen(in), i = 0, o = 0;
    char *out = malloc(len + 1);

    if (!out)
        return NULL;
    while (i < len) {
        size_t n = utf8_seq((const unsigned char *)in + i, len - i);
        if (n == 0) {
            out[o++] = '?';
            i++;
        } else {
            memcpy(out + o, in + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    return out;
}

/* Set a string member. Values that come from a warehouse's answer may be
 * cut at any byte: what is not UTF-8 becomes '?' so the event stays valid
 * JSON. Returns 0, or -1 when out of memory. */
static int set_string(json_t *obj, const char *key, const char *value)
{
    json_t *str = json_string(value);

    if (!str) {
        char *clean = utf8_clean(value);
        str = clean ? json_string(clean) : NULL;
        free(clean);
    }
    return str ? json_object_set_new(obj, key, str) : -1; /* steals str */
}

/* Optional members are left out when NULL or empty. */
static int set_optional(json_t *obj, const char *key, const char *value)
{
    return value && *value ? set_string(obj, key, value) : 0;
}

/* Free text (a reason, a warehouse's words) may quote a secret a warehouse
 * echoed back: masked, like everything that leaves the process. */
static int set_text(json_t *obj, const char *key, const char *value)
{
    char *copy;
    int rc;

    if (!value || !*value)
        return 0;
    if (!(copy = ob_redact_dup(value)))
        return -1;
    rc = set_string(obj, key, copy);
    free(copy);
    return rc;
}

char *ob_status_event_json(const struct ob_status_event *ev, size_t *len)
{
    char now[32];
    json_t *doc;
    char *text = NULL;
    int rc = 0;

    if (!ev->order_id || !ev->warehouse || !ev->status || !ev->source)
        return NULL;
    if (!ev->occurred_at)
        ob_format_time(ob_now_epoch_ms(), now);
    doc = json_object();
    if (!doc)
        return NULL;
    rc |= set_string(doc, "schema", "fulfillment.v1");
    rc |= set_string(doc, "order_id", ev->order_id);
    if (ev->revision > 0)
        rc |= json_object_set_new(doc, "revision", json_integer(ev->revision));
    rc |= set_string(doc, "warehouse", ev->warehouse);
    rc |= set_string(doc, "status", ev->status);
    rc |= set_string(doc, "occurred_at", ev->occurred_at ? ev->occurred_at : now);
    rc |= set_optional(doc, "warehouse_order_id", ev->warehouse_order_id);
    rc |= set_optional(doc, "carrier", ev->carrier);
    rc |= set_optional(doc, "tracking_no", ev->tracking_no);
    rc |= set_text(doc, "reason", ev->reason);
    rc |= set_string(doc, "source", ev->source);
    if (ev->raw_code && *ev->raw_code) {
        json_t *raw = json_object();
        rc |= raw ? 0 : -1;
        if (raw) {
            rc |= set_string(raw, "code", ev->raw_code);
            rc |= set_text(raw, "text", ev->raw_text);
            rc |= json_object_set_new(doc, "raw", raw);
        }
    }
    if (ev->unmapped)
        rc |= json_object_set_new(doc, "unmapped", json_true());
    rc |= set_optional(doc, "idempotency_key", ev->idempotency_key);
    rc |= set_optional(doc, "trace_id", ev->trace_id);
    if (rc == 0)
        text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text)
        *len = strlen(text);
    return text;
}
