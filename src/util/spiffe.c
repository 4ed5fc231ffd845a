/* spiffe.c: SPIFFE ID validation, exactly the rules of the SPIFFE standard. */
#include "util/spiffe.h"

#include <string.h>

#include "util/limits.h"

static int td_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

static int path_char(unsigned char c)
{
    return td_char(c) || (c >= 'A' && c <= 'Z');
}

int spiffe_trust_domain_check(const char *s, size_t n, struct err *e)
{
    size_t i;

    if (n == 0) {
        return err_set(e, ERR_INVALID, "trust domain is empty");
    }
    if (n > LIMIT_TRUST_DOMAIN_LEN) {
        return err_set(e, ERR_INVALID, "trust domain is longer than %d bytes",
                       LIMIT_TRUST_DOMAIN_LEN);
    }
    for (i = 0; i < n; i++) {
        if (!td_char((unsigned char)s[i])) {
            return err_set(e, ERR_INVALID,
                           "trust domain has a character not allowed at byte %zu "
                           "(lower-case letters, digits, '.', '-', '_')",
                           i);
        }
    }
    return 0;
}

static int check_path(const char *p, size_t n, struct err *e)
{
    size_t i = 0;

    while (i < n) {
        size_t start = ++i; /* skip the '/' */
        while (i < n && p[i] != '/') {
            if (!path_char((unsigned char)p[i])) {
                return err_set(e, ERR_INVALID,
                               "path has a character not allowed at byte %zu "
                               "(letters, digits, '.', '-', '_')",
                               i);
            }
            i++;
        }
        if (i == start) {
            return err_set(e, ERR_INVALID, "path has an empty segment or a trailing '/'");
        }
        if ((i - start == 1 && p[start] == '.') ||
            (i - start == 2 && p[start] == '.' && p[start + 1] == '.')) {
            return err_set(e, ERR_INVALID, "path has a '.' or '..' segment");
        }
    }
    return 0;
}

int spiffe_id_parse(const char *s, size_t n, int require_path, struct spiffe_id *out, struct err *e)
{
    static const char scheme[] = "spiffe://";
    const size_t sl = sizeof(scheme) - 1;
    const char *td, *slash;
    size_t td_len;
    int r;

    memset(out, 0, sizeof(*out));
    if (n > LIMIT_SPIFFE_ID_LEN) {
        return err_set(e, ERR_INVALID, "SPIFFE ID is longer than %d bytes", LIMIT_SPIFFE_ID_LEN);
    }
    if (n < sl || memcmp(s, scheme, sl) != 0) {
        return err_set(e, ERR_INVALID, "SPIFFE ID must start with \"spiffe://\"");
    }
    td = s + sl;
    slash = memchr(td, '/', n - sl);
    td_len = slash ? (size_t)(slash - td) : n - sl;
    r = spiffe_trust_domain_check(td, td_len, e);
    if (r != 0) {
        return r;
    }
    out->td = td;
    out->td_len = td_len;
    out->path = slash ? slash : td + td_len;
    out->path_len = n - sl - td_len;
    if (out->path_len == 0 && require_path) {
        return err_set(e, ERR_INVALID, "SPIFFE ID of a workload needs a path");
    }
    return check_path(out->path, out->path_len, e);
}
