#include "log.h"

#include "redact.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Inputs longer than these are cut: the line stays one line of bounded
 * size whatever a warehouse answered. */
#define MSG_MAX 2048
#define FIELD_MAX 1024
/* Every escaped byte takes at most 6 ("\u00XX"); six strings, keys and
 * the time fit. */
#define LINE_MAX (6 * (MSG_MAX + 5 * FIELD_MAX) + 256)

static _Atomic int current_level = OB_LOG_INFO;
static _Atomic int current_format = OB_LOG_FORMAT_TEXT;
static const char *const level_names[] = {"error", "warn", "info", "debug"};

void ob_log_set_level(enum ob_log_level level)
{
    atomic_store(&current_level, (int)level);
}

int ob_log_level_parse(const char *name, enum ob_log_level *out)
{
    for (int i = 0; i <= OB_LOG_DEBUG; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum ob_log_level)i;
            return 0;
        }
    }
    return -1;
}

int ob_log_enabled(enum ob_log_level level)
{
    return (int)level <= atomic_load(&current_level);
}

void ob_log_set_format(enum ob_log_format format)
{
    atomic_store(&current_format, (int)format);
}

int ob_log_format_parse(const char *name, enum ob_log_format *out)
{
    if (strcmp(name, "text") == 0)
        *out = OB_LOG_FORMAT_TEXT;
    else if (strcmp(name, "json") == 0)
        *out = OB_LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

void ob_log_use_format(const char *name)
{
    enum ob_log_format format;

    if (name && ob_log_format_parse(name, &format) == 0)
        ob_log_set_format(format);
}

/*
 * Append `s` to line[*n..cap) with every control character (and DEL)
 * escaped, so no message can forge a log line or send a terminal escape
 * sequence: "\n" and "\t" as such, others as "\xNN", a backslash as "\\".
 * Stops where the next character would not fit.
 */
static void append_escaped(char *line, size_t *n, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = *n;

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[4];
        size_t k = 0;
        if (c == '\n' || c == '\t' || c == '\r' || c == '\\') {
            esc[k++] = '\\';
            esc[k++] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
        } else if (c < 0x20 || c == 0x7f) {
            esc[k++] = '\\';
            esc[k++] = 'x';
            esc[k++] = hex[c >> 4];
            esc[k++] = hex[c & 15];
        } else {
            esc[k++] = (char)c;
        }
        if (o + k >= cap)
            break;
        memcpy(line + o, esc, k);
        o += k;
    }
    *n = o;
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xe0 && s[0] <= 0xef) {
        unsigned lo = s[0] == 0xe0 ? 0xa0 : 0x80, hi = s[0] == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        unsigned lo = s[0] == 0xf0 ? 0x90 : 0x80, hi = s[0] == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4
                                                                                            : 0;
    }
    return 0;
}

/*
 * Append `s` as the body of a JSON string: quote and backslash escaped,
 * every control character (C0, DEL, C1) as \uXXXX or its short escape,
 * bytes that are not UTF-8 as U+FFFD, so the line is always valid JSON
 * and one line. Stops where the next character would not fit in cap.
 */
static void append_json(char *line, size_t *n, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = *n;

    while (*p) {
        char esc[8];
        size_t k = 0, used = 1;
        unsigned cp = *p;

        if (*p >= 0x80) {
            used = utf8_seq(p);
            if (used == 0) {
                used = 1;
                memcpy(esc, "\\ufffd", 6);
                k = 6;
            } else if (used == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
                cp = p[1]; /* C1 control: some terminals act on it */
            } else {
                memcpy(esc, p, used);
                k = used;
            }
        }
        if (k == 0) {
            if (cp == '"' || cp == '\\') {
                esc[k++] = '\\';
                esc[k++] = (char)cp;
            } else if (cp == '\n' || cp == '\t' || cp == '\r') {
                esc[k++] = '\\';
                esc[k++] = cp == '\n' ? 'n' : cp == '\t' ? 't' : 'r';
            } else if (cp < 0x20 || cp >= 0x7f) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[cp >> 4];
                esc[5] = hex[cp & 15];
                k = 6;
            } else {
                esc[k++] = (char)cp;
            }
        }
        if (o + k >= cap)
            break;
        memcpy(line + o, esc, k);
        o += k;
        p += used;
    }
    *n = o;
}

static void append_raw(char *line, size_t *n, size_t cap, const char *s)
{
    size_t k = strlen(s);

    if (*n + k < cap) {
        memcpy(line + *n, s, k);
        *n += k;
    }
}

/* `,"key":"value"` for a known field, redacted and cut to FIELD_MAX. */
static void append_member(char *line, size_t *n, size_t cap, const char *key, const char *value)
{
    char copy[FIELD_MAX];

    if (!value || !*value)
        return;
    snprintf(copy, sizeof(copy), "%s", value);
    ob_redact(copy);
    append_raw(line, n, cap, ",\"");
    append_raw(line, n, cap, key);
    append_raw(line, n, cap, "\":\"");
    append_json(line, n, cap - 2, copy);
    append_raw(line, n, cap, "\"");
}

static void vwrite(enum ob_log_level level, const struct ob_log_fields *f, const char *fmt,
                   va_list ap)
{
    static _Thread_local char line[LINE_MAX];
    char msg[MSG_MAX], ts[40];
    struct timespec now;
    struct tm tm;
    size_t n = 0;
    const char *trace_id = f ? f->trace_id : NULL;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    ob_redact(msg);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", now.tv_nsec / 1000000L);

    n = 0;
    if (atomic_load(&current_format) == OB_LOG_FORMAT_JSON) {
        n = (size_t)snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts,
                             level_names[level]);
        /* room for the fields after the message */
        append_json(line, &n, sizeof(line) - 6 * 5 * FIELD_MAX - 128, msg);
        append_raw(line, &n, sizeof(line), "\"");
        if (f) {
            append_member(line, &n, sizeof(line) - 2, "trace_id", f->trace_id);
            append_member(line, &n, sizeof(line) - 2, "order_id", f->order_id);
            append_member(line, &n, sizeof(line) - 2, "warehouse", f->warehouse);
            append_member(line, &n, sizeof(line) - 2, "event", f->event);
            append_member(line, &n, sizeof(line) - 2, "reason", f->reason);
        }
        line[n++] = '}';
    } else {
        n = (size_t)snprintf(line, sizeof(line), "%s %-5s ", ts, level_names[level]);
        if (trace_id) {
            char copy[FIELD_MAX];
            snprintf(copy, sizeof(copy), "%s", trace_id);
            ob_redact(copy);
            line[n++] = '[';
            append_escaped(line, &n, sizeof(line) - MSG_MAX * 4 - 8, copy);
            line[n++] = ']';
            line[n++] = ' ';
        }
        append_escaped(line, &n, sizeof(line) - 2, msg);
    }
    /* One fputs per line so lines from threads do not interleave. */
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
}

void ob_log_emit(enum ob_log_level level, const struct ob_log_fields *fields, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vwrite(level, fields, fmt, ap);
    va_end(ap);
}

void ob_log_write(enum ob_log_level level, const char *trace_id, const char *fmt, ...)
{
    struct ob_log_fields fields = {.trace_id = trace_id};
    va_list ap;

    va_start(ap, fmt);
    vwrite(level, &fields, fmt, ap);
    va_end(ap);
}

/* ---- repeated lines ----------------------------------------------------- */

/* FNV-1a of the line with each run of digits read as one '#'; never 0. */
static uint64_t line_key(const char *s)
{
    uint64_t h = 14695981039346656037ULL;

    while (*s) {
        unsigned char c = (unsigned char)*s++;
        if (c >= '0' && c <= '9') {
            while (*s >= '0' && *s <= '9')
                s++;
            c = '#';
        }
        h = (h ^ c) * 1099511628211ULL;
    }
    return h ? h : 1;
}

int ob_log_limit_admit(struct ob_log_limit *l, const char *line, int64_t now_ms,
                       unsigned long *held, int64_t *span_ms)
{
    uint64_t key = line_key(line);
    int admit = 1;
    size_t i, oldest = 0;

    *held = 0;
    *span_ms = 0;
    pthread_mutex_lock(&l->lock);
    if (!atomic_load(&l->active)) {
        l->first_ms = now_ms;
        atomic_store(&l->active, 1);
    }
    l->last_ms = now_ms;
    for (i = 0; i < OB_LOG_LIMIT_SLOTS; i++) {
        if (l->slot[i].key == key)
            break;
        if (l->slot[oldest].key != 0 &&
            (l->slot[i].key == 0 || l->slot[i].shown_ms < l->slot[oldest].shown_ms))
            oldest = i;
    }
    if (i == OB_LOG_LIMIT_SLOTS) {
        /* a new line: it takes a free slot, or the one written longest ago */
        i = oldest;
        l->evicted += l->slot[i].held;
        l->slot[i].key = key;
        l->slot[i].shown_ms = now_ms;
        l->slot[i].held = 0;
    } else if (now_ms - l->slot[i].shown_ms < l->window_ms) {
        l->slot[i].held++;
        admit = 0;
    } else {
        *held = l->slot[i].held;
        *span_ms = now_ms - l->slot[i].shown_ms;
        l->slot[i].shown_ms = now_ms;
        l->slot[i].held = 0;
    }
    pthread_mutex_unlock(&l->lock);
    return admit;
}

int ob_log_limit_clear(struct ob_log_limit *l, int64_t now_ms, int64_t *since_ms,
                       unsigned long *held)
{
    int cleared = 0;

    if (!atomic_load(&l->active))
        return 0;
    pthread_mutex_lock(&l->lock);
    if (atomic_load(&l->active) && now_ms - l->last_ms >= l->quiet_ms) {
        *since_ms = now_ms - l->first_ms;
        *held = l->evicted;
        for (size_t i = 0; i < OB_LOG_LIMIT_SLOTS; i++) {
            *held += l->slot[i].held;
            l->slot[i].key = 0;
            l->slot[i].held = 0;
        }
        l->evicted = 0;
        atomic_store(&l->active, 0);
        cleared = 1;
    }
    pthread_mutex_unlock(&l->lock);
    return cleared;
}
