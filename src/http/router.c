/*
 * router.c: method + path to handler, with path parameters.
 *
 * Patterns are literal segments, "{name}" (one segment) and a final
 * "{name*}" (the rest of the path, slashes included: agent ids are SPIFFE
 * IDs, which contain slashes).  Tables are short, so matching is linear.
 */
#include <string.h>

#include "http/http_int.h"
#include "util/limits.h"

/* Matches path s against pattern p from parameter np on; on success stores
 * parameters (arena copies) in rq->params.  A "{x*}" followed by more
 * pattern takes the longest run of the path that lets the rest match
 * ("/v1/agents/{id*}/entitlements/{intent}"); recursion is bounded by
 * HTTP_MAX_PARAMS. */
static int match_at(const char *p, const char *s, struct http_req *rq, int np)
{
    while (*p != '\0') {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t n;
            if (close == NULL || np >= HTTP_MAX_PARAMS) {
                return 0;
            }
            if (close[-1] == '*') {
                for (n = strlen(s); n > 0; n--) {
                    if (match_at(close + 1, s + n, rq, np + 1)) {
                        rq->params[np] = arena_strndup(&rq->arena, s, n);
                        return rq->params[np] != NULL;
                    }
                }
                return 0;
            }
            {
                const char *slash = strchr(s, '/');
                n = slash ? (size_t)(slash - s) : strlen(s);
            }
            if (n == 0) {
                return 0;
            }
            rq->params[np++] = arena_strndup(&rq->arena, s, n);
            s += n;
            p = close + 1;
        } else {
            if (*p != *s) {
                return 0;
            }
            p++;
            s++;
        }
    }
    return *s == '\0';
}

static int match(const char *pattern, const char *path, struct http_req *rq)
{
    return match_at(pattern, path, rq, 0);
}

const struct http_route *http_route_find(const struct http_route *routes, size_t n,
                                         struct http_req *rq, unsigned *status, const char **allow)
{
    char methods[64] = "";
    size_t i, used = 0;
    int path_found = 0;

    *allow = NULL;
    if (strlen(rq->path) > LIMIT_HTTP_PATH_LEN) {
        *status = MHD_HTTP_URI_TOO_LONG;
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (!match(routes[i].pattern, rq->path, rq)) {
            continue;
        }
        if (strcmp(routes[i].method, rq->method) == 0) {
            return &routes[i];
        }
        path_found = 1;
        if (used + strlen(routes[i].method) + 3 < sizeof(methods)) {
            used += (size_t)snprintf(methods + used, sizeof(methods) - used, "%s%s",
                                     used ? ", " : "", routes[i].method);
        }
    }
    memset(rq->params, 0, sizeof(rq->params));
    if (path_found) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        *allow = arena_strdup(&rq->arena, methods);
    } else {
        *status = MHD_HTTP_NOT_FOUND;
    }
    return NULL;
}
