/* log.c: JSON-lines logger. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/limits.h"

static enum log_level min_level = LOG_INFO;
static int log_fd = 2;

void log_setup(enum log_level min, int fd)
{
    min_level = min;
    log_fd = fd;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    int i;

    for (i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return ERR_INVALID;
}

int log_enabled(enum log_level level)
{
    return level >= min_level && min_level != LOG_OFF;
}

/* Appends s as a JSON string; stops quietly when the line is full. */
static void put_str(char *line, size_t *len, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;
    const size_t room = LIMIT_LOG_LINE - 8; /* keep space for the closing "}\n" */

    if (n < room) {
        line[n++] = '"';
    }
    for (; *s != '\0' && n < room; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            line[n++] = '\\';
            line[n++] = (char)c;
        } else if (c < 0x20) {
            line[n++] = '\\';
            line[n++] = 'u';
            line[n++] = '0';
            line[n++] = '0';
            line[n++] = hex[c >> 4];
            line[n++] = hex[c & 15];
        } else {
            line[n++] = (char)c;
        }
    }
    if (n < room + 1) {
        line[n++] = '"';
    }
    *len = n;
}

static void put_raw(char *line, size_t *len, const char *s)
{
    size_t n = strlen(s);

    if (*len + n < LIMIT_LOG_LINE - 8) {
        memcpy(line + *len, s, n);
        *len += n;
    }
}

static const char *level_name(enum log_level level)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    return names[level];
}

static void emit(enum log_level level, const char *event, const char *req, va_list ap)
{
    char line[LIMIT_LOG_LINE];
    char ts[32];
    size_t len = 0;
    const char *k;

    clock_format_rfc3339(clock_wall_ms(), ts);
    put_raw(line, &len, "{\"ts\":");
    put_str(line, &len, ts);
    put_raw(line, &len, ",\"level\":");
    put_str(line, &len, level_name(level));
    put_raw(line, &len, ",\"event\":");
    put_str(line, &len, event);
    if (req != NULL) {
        put_raw(line, &len, ",\"req\":");
        put_str(line, &len, req);
    }
    while ((k = va_arg(ap, const char *)) != NULL) {
        const char *v = va_arg(ap, const char *);
        put_raw(line, &len, ",");
        put_str(line, &len, k);
        put_raw(line, &len, ":");
        if (v == NULL) {
            put_raw(line, &len, "null");
        } else {
            put_str(line, &len, v);
        }
    }
    line[len++] = '}';
    line[len++] = '\n';
    /* One write per line keeps lines whole across threads. */
    if (write(log_fd, line, len) < 0) {
        /* nowhere left to report it */
    }
}

void log_event(enum log_level level, const char *event, const char *req, ...)
{
    va_list ap;

    if (!log_enabled(level)) {
        return;
    }
    va_start(ap, req);
    emit(level, event, req, ap);
    va_end(ap);
}

static void emit_msg(enum log_level level, const char *msg, ...)
{
    va_list ap;

    va_start(ap, msg);
    emit(level, "message", NULL, ap);
    va_end(ap);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char msg[LIMIT_LOG_LINE / 2];
    va_list ap;

    if (!log_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    emit_msg(level, msg, "msg", msg, (const char *)NULL);
}
