/*
 * buf.h: a growable byte buffer that carries its own maximum.
 *
 * Appends past the maximum fail with ERR_LIMIT and leave the buffer as it
 * was (curl dynbuf "toobig").  The content is always NUL-terminated so it can
 * be handed to APIs that want a C string, but length is what counts.
 */
#ifndef MANDATE_UTIL_BUF_H
#define MANDATE_UTIL_BUF_H

#include <stddef.h>

#include "util/err.h"

struct buf {
    char *data; /* NULL until the first append */
    size_t len;
    size_t cap;
    size_t max; /* largest len allowed */
};

/* Initialises an empty buffer that may grow to max bytes (0: the default cap
 * LIMIT_BUF_DEFAULT_MAX). */
void buf_init(struct buf *b, size_t max);

/* Appends; 0, ERR_LIMIT past the maximum, ERR_NOMEM. */
int buf_append(struct buf *b, const void *p, size_t n) MUST_CHECK;
int buf_append_str(struct buf *b, const char *s) MUST_CHECK;
int buf_printf(struct buf *b, const char *fmt, ...) MUST_CHECK PRINTF_LIKE(2, 3);

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/* Hands the content to the caller (free() it), leaving b empty; NULL if the
 * buffer was never written to. */
char *buf_steal(struct buf *b, size_t *lenp);

/* Releases the memory; wipes it first when wipe is non-zero (secrets). */
void buf_free(struct buf *b);
void buf_free_wipe(struct buf *b);

#endif
