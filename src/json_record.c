/* json_record.c — writing and reading the bridge's own records (see json_record.h). */
#include "json_record.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ob_jw_begin(struct ob_json *w, struct ob_buf *buf, const char *schema)
{
    ob_buf_init(buf, OB_BUF_DEFAULT_MAX);
    ob_json_init(w, buf);
    ob_json_object_open(w);
    ob_jw_str(w, "schema", schema);
}

char *ob_jw_end(struct ob_json *w, struct ob_buf *buf, int bad, size_t *len)
{
    ob_json_object_close(w);
    if (bad || ob_json_done(w) != 0) {
        ob_buf_reset(buf);
        return NULL;
    }
    return ob_buf_steal(buf, len);
}

void ob_jw_str(struct ob_json *w, const char *name, const char *v)
{
    ob_json_key(w, name);
    ob_json_string(w, v);
}

void ob_jw_int(struct ob_json *w, const char *name, int64_t v)
{
    ob_json_key(w, name);
    ob_json_int(w, v);
}

void ob_jr_fail(struct ob_jreader *r, const char *path, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (r->failed)
        return;
    r->failed = 1;
    n = snprintf(r->err, r->size, "%s: ", path);
    if (n < 0 || (size_t)n >= r->size)
        return;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->size - (size_t)n, fmt, ap);
    va_end(ap);
}

json_t *ob_jr_load(struct ob_jreader *r, const void *value, size_t len)
{
    json_error_t jerr;
    json_t *o = json_loadb(value, len, JSON_REJECT_DUPLICATES, &jerr);

    if (!o)
        ob_jr_fail(r, "$", "invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                   jerr.text);
    else if (!json_is_object(o))
        ob_jr_fail(r, "$", "must be an object");
    return o;
}

void ob_jr_str(struct ob_jreader *r, const json_t *o, const char *path, const char *name,
               char *buf, size_t size, int required)
{
    const json_t *v = json_object_get(o, name);
    char at[96];

    snprintf(at, sizeof(at), "%s.%s", path, name);
    buf[0] = '\0';
    if (!v) {
        if (required)
            ob_jr_fail(r, at, "required field is missing");
        return;
    }
    if (!json_is_string(v)) {
        ob_jr_fail(r, at, "must be a string");
        return;
    }
    if (json_string_length(v) >= size) { /* jansson refused \u0000 already */
        ob_jr_fail(r, at, "must be a string of at most %zu bytes", size - 1);
        return;
    }
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
}

long long ob_jr_int(struct ob_jreader *r, const json_t *o, const char *path, const char *name,
                    long long lo, long long hi, int required)
{
    const json_t *v = json_object_get(o, name);
    char at[96];

    snprintf(at, sizeof(at), "%s.%s", path, name);
    if (!v) {
        if (required)
            ob_jr_fail(r, at, "required field is missing");
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        ob_jr_fail(r, at, "must be an integer from %lld to %lld", lo, hi);
        return 0;
    }
    return json_integer_value(v);
}

int ob_jr_bool(struct ob_jreader *r, const json_t *o, const char *path, const char *name)
{
    const json_t *v = json_object_get(o, name);
    char at[96];

    if (!v)
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(at, sizeof(at), "%s.%s", path, name);
        ob_jr_fail(r, at, "must be true or false");
        return 0;
    }
    return json_is_true(v);
}
