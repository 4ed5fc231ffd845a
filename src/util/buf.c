/* buf.c: growable buffer with a cap. */
#include "util/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/limits.h"
#include "util/wipe.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max ? max : LIMIT_BUF_DEFAULT_MAX;
}

static int reserve(struct buf *b, size_t extra)
{
    size_t want, cap;
    char *p;

    if (extra > b->max || b->len > b->max - extra) {
        return ERR_LIMIT;
    }
    want = b->len + extra + 1; /* room for the NUL */
    if (want <= b->cap) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap < want) {
        cap = cap > ((size_t)-1) / 2 ? want : cap * 2;
    }
    if (cap > b->max + 1) {
        cap = b->max + 1;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int r = reserve(b, n);

    if (r != 0) {
        return r;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
    }
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, r;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return ERR_INVALID;
    }
    r = reserve(b, (size_t)n);
    if (r != 0) {
        return r;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data != NULL) {
        b->data[0] = '\0';
    }
}

char *buf_steal(struct buf *b, size_t *lenp)
{
    char *p = b->data;

    if (lenp != NULL) {
        *lenp = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

void buf_free(struct buf *b)
{
    if (b == NULL) {
        return;
    }
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void buf_free_wipe(struct buf *b)
{
    if (b == NULL) {
        return;
    }
    if (b->data != NULL) {
        wipe(b->data, b->cap);
    }
    buf_free(b);
}
