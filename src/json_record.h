/*
 * json_record.h — the pieces the bridge's own Kafka records (state_record.c,
 * callback_record.c) are written and read with: members for the SDK's
 * streaming writer, and a strict reader of jansson members that names the
 * first field it refuses ("$.tracks[0].current: ...") and ignores the rest.
 */
#ifndef OB_JSON_RECORD_H
#define OB_JSON_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <orderbridge/sdk.h>

/* Start a record's object in buf, its first member "schema": schema. */
void ob_jw_begin(struct ob_json *w, struct ob_buf *buf, const char *schema);

/* Close it: the value (NUL-terminated, malloc'd; *len without the NUL), or
 * NULL when `bad` or the writer failed (buf is then emptied). */
char *ob_jw_end(struct ob_json *w, struct ob_buf *buf, int bad, size_t *len);

/* "name": v (bytes that are not UTF-8 become '?') / "name": v */
void ob_jw_str(struct ob_json *w, const char *name, const char *v);
void ob_jw_int(struct ob_json *w, const char *name, int64_t v);

/* The first problem found, as "<path>: <message>" in err; later ones are dropped. */
struct ob_jreader {
    char *err;
    size_t size;
    int failed;
};

void ob_jr_fail(struct ob_jreader *r, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The document in value (duplicate keys refused), or NULL after a failure. */
json_t *ob_jr_load(struct ob_jreader *r, const void *value, size_t len);

/* Copy the string member `name` of o into buf (size bytes with the NUL);
 * "" when absent and optional. */
void ob_jr_str(struct ob_jreader *r, const json_t *o, const char *path, const char *name,
               char *buf, size_t size, int required);

/* The integer member `name` of o, within [lo, hi]; 0 when absent and optional. */
long long ob_jr_int(struct ob_jreader *r, const json_t *o, const char *path, const char *name,
                    long long lo, long long hi, int required);

/* The boolean member `name` of o; 0 when absent. */
int ob_jr_bool(struct ob_jreader *r, const json_t *o, const char *path, const char *name);

#endif
