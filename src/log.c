#include "log.h"

#include "redact.h"

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

void ob_log_write(enum ob_log_level level, const char *trace_id, const char *fmt, ...)
{
    char msg[2048], line[4096];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ob_redact(msg);

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %-5s ", ts.tv_nsec / 1000000L,
                          level_names[level]);
    if (trace_id) {
        line[n++] = '[';
        append_escaped(line, &n, sizeof(line) - 64, trace_id);
        line[n++] = ']';
        line[n++] = ' ';
    }
    append_escaped(line, &n, sizeof(line) - 1, msg);
    /* One fputs per line so lines from threads do not interleave. */
    line[n++] = '\n';
    line[n] = '\0';
    fputs(line, stderr);
}
