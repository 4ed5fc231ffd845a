/*
 * log.h: structured logging as JSON lines.
 *
 * Each line is one JSON object: {"ts":..., "level":..., "event":..., "req":...,
 * plus fields}.  Fields are given as alternating key and value C strings and
 * are escaped; messages never carry tokens or secrets (callers pass hashes).
 * Thread-safe: one write(2) per line.
 */
#ifndef MANDATE_UTIL_LOG_H
#define MANDATE_UTIL_LOG_H

#include "util/err.h"

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3, LOG_OFF = 4 };

/* Sets the minimum level and the file descriptor lines go to (default: info,
 * stderr). */
void log_setup(enum log_level min, int fd);

/* Parses "debug", "info", "warn", "error", "off"; ERR_INVALID otherwise. */
int log_level_parse(const char *s, enum log_level *out) MUST_CHECK;

/* Whether a line at this level would be written. */
int log_enabled(enum log_level level);

/* Writes one line: event is a short snake_case name, req the request id or
 * NULL, then NULL-terminated pairs of (key, value) strings.  A NULL value is
 * written as JSON null. */
void log_event(enum log_level level, const char *event, const char *req, ...)
    __attribute__((sentinel));

/* A free-form message line: {"event":"message","msg":"..."}. */
void log_msg(enum log_level level, const char *fmt, ...) PRINTF_LIKE(2, 3);

#endif
