#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int current_level = OB_LOG_INFO;
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

void ob_log_write(enum ob_log_level level, const char *trace_id, const char *fmt, ...)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                          level_names[level]);
    if (trace_id && n < sizeof(line))
        n += (size_t)snprintf(line + n, sizeof(line) - n, "[%s] ", trace_id);
    if (n < sizeof(line)) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
    }
    /* One fputs per line so lines from threads do not interleave. */
    line[sizeof(line) - 2] = '\0';
    strcat(line, "\n");
    fputs(line, stderr);
}
