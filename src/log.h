/*
 * log.h — the bridge's one logging family: printf-checked, leveled, one
 * line per call on stderr, with the order's trace id where there is one.
 */
#ifndef OB_LOG_H
#define OB_LOG_H

#include <orderbridge/adapter.h>

void ob_log_set_level(enum ob_log_level level);
int ob_log_level_parse(const char *name, enum ob_log_level *out);
int ob_log_enabled(enum ob_log_level level);

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

#define OB_ERR(...) ob_log(OB_LOG_ERROR, __VA_ARGS__)
#define OB_WARN(...) ob_log(OB_LOG_WARN, __VA_ARGS__)
#define OB_INFO(...) ob_log(OB_LOG_INFO, __VA_ARGS__)
#define OB_DEBUG(...) ob_log(OB_LOG_DEBUG, __VA_ARGS__)

#endif
