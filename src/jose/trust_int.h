/*
 * trust_int.h: private pieces of the trust store (trust.c) and its HTTP
 * fetcher (fetch.c).  Not part of the public jose.h API.
 */
#ifndef MANDATE_JOSE_TRUST_INT_H
#define MANDATE_JOSE_TRUST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "jose/jose.h"

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

/* Parses a JWKS (OIDC) or a SPIFFE bundle from text[0..len) into a verifier
 * over its usable keys (SPIFFE: only use "jwt-svid" keys, verifier limited to
 * that use).  *hint and *seq get spiffe_refresh_hint (0 when absent) and
 * spiffe_sequence (-1 when absent); a sequence below prev_seq (when both are
 * >= 0) is refused as a rollback.  Separate from loading so it can be fuzzed. */
int jose_trust_parse_keys(enum jose_trust_kind kind, unsigned alg_mask, const char *text,
                          size_t len, int64_t prev_seq, struct jose_verifier **out, int64_t *hint,
                          int64_t *seq, struct err *e) MUST_CHECK;

#endif
