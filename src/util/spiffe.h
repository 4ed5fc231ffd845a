/*
 * spiffe.h: SPIFFE ID syntax (SPIFFE standard, "SPIFFE-ID.md" section 2).
 *
 * spiffe://<trust-domain>/<path>: the trust domain is lower-case letters,
 * digits, '.', '-' and '_'; each path segment is non-empty, is not "." or
 * "..", and holds letters, digits, '.', '-' and '_'; no query, fragment,
 * port, user info or percent-encoding; at most 2048 bytes.  Used by the
 * registry (agent ids) and by jose (JWT-SVID subjects).
 */
#ifndef MANDATE_UTIL_SPIFFE_H
#define MANDATE_UTIL_SPIFFE_H

#include <stddef.h>

#include "util/err.h"

struct spiffe_id {
    const char *td; /* trust domain, points into the input */
    size_t td_len;
    const char *path; /* "" or "/a/b", points into the input */
    size_t path_len;
};

/* Parses s[0..n) as a SPIFFE ID.  require_path: an ID naming a workload must
 * have a path; a trust domain's own ID has none.  On error, e says what is
 * wrong and where. */
int spiffe_id_parse(const char *s, size_t n, int require_path, struct spiffe_id *out,
                    struct err *e) MUST_CHECK;

/* Checks a bare trust domain name ("corp.example"). */
int spiffe_trust_domain_check(const char *s, size_t n, struct err *e) MUST_CHECK;

#endif
