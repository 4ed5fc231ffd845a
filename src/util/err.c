/* err.c: the error struct and the names of the codes. */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

void err_clear(struct err *e)
{
    if (e == NULL) {
        return;
    }
    e->code = 0;
    e->msg[0] = '\0';
}

int err_setv(struct err *e, int code, const char *fmt, va_list ap)
{
    if (e == NULL) {
        return code;
    }
    e->code = code;
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    return code;
}

int err_set(struct err *e, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_setv(e, code, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
    char pre[ERR_MSG_MAX], old[ERR_MSG_MAX];
    va_list ap;

    if (e == NULL) {
        return ERR_INTERNAL;
    }
    va_start(ap, fmt);
    vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    snprintf(e->msg, sizeof(e->msg), "%s%s", pre, old);
    return e->code;
}

const char *err_name(int code)
{
    static const char *const names[] = {
        "ok",       "internal", "no_memory",   "invalid", "limit",     "not_found",
        "conflict", "io",       "unavailable", "auth",    "forbidden", "unsupported",
    };
    int i = -code;

    if (i < 0 || (size_t)i >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }
    return names[i];
}
