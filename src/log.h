/*
 * log.h — the bridge's one logging family: printf-checked, leveled, one
 * line per call on stderr, with the order's trace id where there is one.
 *
 * Two formats (config log.format): "text", for people, and "json", one
 * object per line with the structured fields of struct ob_log_fields, for
 * log pipelines. Either way every control character is escaped (no message
 * can forge a line) and every registered secret is masked (redact.h).
 */
#ifndef OB_LOG_H
#define OB_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <orderbridge/adapter.h>

enum ob_log_format { OB_LOG_FORMAT_TEXT, OB_LOG_FORMAT_JSON };

void ob_log_set_level(enum ob_log_level level);
int ob_log_level_parse(const char *name, enum ob_log_level *out);
int ob_log_enabled(enum ob_log_level level);

void ob_log_set_format(enum ob_log_format format);
/* "text" or "json" into *out: 0, or -1 for anything else. */
int ob_log_format_parse(const char *name, enum ob_log_format *out);
/* Use the format named (config log.format); NULL or an unknown name
 * changes nothing. */
void ob_log_use_format(const char *name);

/* What a line is about. Each member NULL or "" when not known; the JSON
 * format writes the others as members of the same name, the text format
 * shows trace_id only (the message already says the rest). */
struct ob_log_fields {
    const char *trace_id;  /* the order's trace id */
    const char *order_id;
    const char *warehouse; /* a warehouse code */
    const char *event;     /* what happened, a snake_case verb listed in docs/operations.md */
    const char *reason;    /* why: a dead-letter class, a verdict, an error */
};

/* A struct ob_log_fields for ob_log_event(), e.g.
 * OB_LOG_FIELDS(.order_id = id, .event = "accepted"). */
#define OB_LOG_FIELDS(...) (&(const struct ob_log_fields){__VA_ARGS__})

void ob_log_emit(enum ob_log_level level, const struct ob_log_fields *fields, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ob_log_write(enum ob_log_level level, const char *trace_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define ob_log(level, ...)                                                                         \
    do {                                                                                           \
        if (ob_log_enabled(level))                                                                 \
            ob_log_write(level, NULL, __VA_ARGS__);                                                \
    } while (0)
#define ob_log_trace(level, trace, ...)                                                            \
    do {                                                                                           \
        if (ob_log_enabled(level))                                                                 \
            ob_log_write(level, trace, __VA_ARGS__);                                               \
    } while (0)
/* The fields are evaluated only when the level is enabled. */
#define ob_log_event(level, fields, ...)                                                           \
    do {                                                                                           \
        if (ob_log_enabled(level))                                                                 \
            ob_log_emit(level, fields, __VA_ARGS__);                                               \
    } while (0)

#define OB_ERR(...) ob_log(OB_LOG_ERROR, __VA_ARGS__)
#define OB_WARN(...) ob_log(OB_LOG_WARN, __VA_ARGS__)
#define OB_INFO(...) ob_log(OB_LOG_INFO, __VA_ARGS__)
#define OB_DEBUG(...) ob_log(OB_LOG_DEBUG, __VA_ARGS__)

/*
 * Repeated lines held back: for a library that logs every failed attempt
 * while its server is down (librdkafka). A line is written at once the
 * first time, then at most once per window; the line that ends a window
 * says how many like it were held back. Lines that differ only in their
 * numbers (a port, a time, a count) count as the same line.
 *
 * Thread-safe; time comes from the caller (tests pass their own).
 */
#define OB_LOG_LIMIT_SLOTS 64

struct ob_log_limit {
    pthread_mutex_t lock;
    int64_t window_ms; /* a line like one written less than this ago is held back */
    int64_t quiet_ms;  /* ob_log_limit_clear() needs this long without a line */
    atomic_int active; /* lines came since the last successful ob_log_limit_clear() */
    int64_t first_ms, last_ms; /* when the first and the last of them came */
    unsigned long evicted; /* held back by slots since reused for other lines */
    struct {
        uint64_t key;       /* 0: free */
        int64_t shown_ms;   /* when it was last written */
        unsigned long held; /* held back since */
    } slot[OB_LOG_LIMIT_SLOTS];
};

#define OB_LOG_LIMIT_INIT(window, quiet)                                                           \
    {                                                                                              \
        .lock = PTHREAD_MUTEX_INITIALIZER, .window_ms = (window), .quiet_ms = (quiet)              \
    }

/* Write `line` now? 1: yes, and *held lines like it were held back in the
 * *span_ms before now (both 0 the first time). 0: hold it back. */
int ob_log_limit_admit(struct ob_log_limit *l, const char *line, int64_t now_ms,
                       unsigned long *held, int64_t *span_ms);

/* Things work again (the caller saw a success). When lines came, the last
 * of them at least quiet_ms ago, returns 1 with how long ago the first came
 * (*since_ms) and how many were held back and not yet reported (*held),
 * and forgets them all: the next line is written at once. Otherwise 0.
 * Cheap (one atomic load) when no line came. */
int ob_log_limit_clear(struct ob_log_limit *l, int64_t now_ms, int64_t *since_ms,
                       unsigned long *held);

#endif
