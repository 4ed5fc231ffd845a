/*
 * trust_int.h: private pieces of the trust store (trust.c) and its HTTP
 * fetcher (fetch.c).  Not part of the public jose.h API.
 */
#ifndef MANDATE_JOSE_TRUST_INT_H
#define MANDATE_JOSE_TRUST_INT_H

#include <stddef.h>

#include "util/buf.h"
#include "util/err.h"

struct jose_fetch_opts;

/* GETs url into out (initialised by the caller; its max is the body cap).
 * Refuses anything but https:// unless opts->allow_http, follows no
 * redirects, enforces the connect and total time limits and the size cap
 * (ERR_LIMIT, even when the server lies about Content-Length), and wants a
 * 200 answer.  Returns 0, ERR_INVALID (bad URL or scheme), ERR_LIMIT,
 * ERR_UNAVAILABLE (network, timeout, non-200), ERR_NOMEM. */
int jose_fetch_get(const char *url, const struct jose_fetch_opts *opts, struct buf *out,
                   struct err *e) MUST_CHECK;

#endif
