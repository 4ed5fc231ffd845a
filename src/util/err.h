/*
 * err.h: error codes and the error struct every fallible call fills in.
 *
 * Functions return 0 or a negative ERR_* code and put the human-readable
 * detail in the caller's struct err (OpenSSH ssherr.h style).  The message is
 * the private detail meant for logs and CLI output; the HTTP edge maps the code
 * to a public status and a public title.
 */
#ifndef MANDATE_UTIL_ERR_H
#define MANDATE_UTIL_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

enum err_code {
    ERR_OK = 0,
    ERR_INTERNAL = -1,    /* a bug or an impossible state */
    ERR_NOMEM = -2,       /* allocation failed */
    ERR_INVALID = -3,     /* bad input: syntax, type, range */
    ERR_LIMIT = -4,       /* input exceeds a limit in util/limits.h */
    ERR_NOTFOUND = -5,    /* the named object does not exist */
    ERR_CONFLICT = -6,    /* the object exists already, or a constraint fails */
    ERR_IO = -7,          /* a file or socket operation failed */
    ERR_UNAVAILABLE = -8, /* a dependency (the store) cannot serve now */
    ERR_AUTH = -9,        /* missing or wrong credentials */
    ERR_FORBIDDEN = -10,  /* authenticated but not allowed */
    ERR_UNSUPPORTED = -11 /* a valid request for something not implemented */
};

#define ERR_MSG_MAX 512

struct err {
    int code;
    char msg[ERR_MSG_MAX];
};

/* Clears e (code 0, empty message).  e may be NULL. */
void err_clear(struct err *e);

/* Records code and a printf-style message in e (may be NULL); returns code so
 * that callers can write `return err_set(e, ERR_INVALID, "...")`. */
int err_set(struct err *e, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
int err_setv(struct err *e, int code, const char *fmt, va_list ap) PRINTF_LIKE(3, 0);

/* Prefixes the existing message with a printf-style context ("file.cedar: ").
 * Returns e->code. */
int err_prefix(struct err *e, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* A stable lower-case name for a code ("invalid", "not_found", ...). */
const char *err_name(int code);

#endif
