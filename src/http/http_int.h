/*
 * http_int.h: what the server, the router and the api_<area>.c handlers
 * share.  Not for use outside src/http/.
 */
#ifndef MANDATE_HTTP_INT_H
#define MANDATE_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>

#include "broker/broker.h"
#include "util/arena.h"
#include "util/buf.h"

#define HTTP_MAX_PARAMS 4

/* One request, from its first byte to its access-log line.  Everything it
 * allocates lives in its arena. */
struct http_req {
    struct arena arena;
    struct MHD_Connection *conn;
    struct broker *broker;
    char id[33]; /* request id: 16 random bytes, hex */
    const char *method;
    const char *path;
    struct buf body;
    int body_too_big;
    size_t discarded; /* body bytes dropped after the cap */
    int64_t start_ns;
    struct broker_caller caller;
    const struct http_authz *authz;      /* the API policies (api_authz.c) */
    const char *params[HTTP_MAX_PARAMS]; /* path parameters in route order */
    /* the answer */
    unsigned status;
    char *resp_body; /* malloc'd; handed to MHD */
    size_t resp_len;
    const char *resp_type;
    const char *allow;         /* Allow header for 405 */
    const char *cache_control; /* NULL: no-store (every answer but public key sets) */
    const char *auth_failure;  /* why authentication failed, for the log */
};

typedef void (*http_handler)(struct http_req *rq);

struct http_route {
    const char *method;
    const char *pattern; /* "/v1/agents/{id*}": {x} one segment, {x*} the rest */
    http_handler handler;
    unsigned roles; /* enum broker_role bits allowed; 0: no authentication */
};

/* Finds the route for method and path; fills rq->params.  Returns the route,
 * or NULL with *status 404 (no path matches) or 405 (*allow lists methods). */
const struct http_route *http_route_find(const struct http_route *routes, size_t n,
                                         struct http_req *rq, unsigned *status, const char **allow);

/* The route tables of each area. */
extern const struct http_route http_routes_system[];
extern const size_t http_routes_system_n;
extern const struct http_route http_routes_registry[];
extern const size_t http_routes_registry_n;
extern const struct http_route http_routes_policies[];
extern const size_t http_routes_policies_n;
extern const struct http_route http_routes_oauth[];
extern const size_t http_routes_oauth_n;
extern const struct http_route http_routes_check[];
extern const size_t http_routes_check_n;
extern const struct http_route http_routes_killswitch[];
extern const size_t http_routes_killswitch_n;
extern const struct http_route http_routes_keys[];
extern const size_t http_routes_keys_n;

/* GET /v1/audit (filters) and GET /v1/audit/trace/{task} (api_audit.c),
 * routed from api_policies.c's table. */
void http_audit_query(struct http_req *rq);
void http_audit_trace(struct http_req *rq);

/* ---- the API policies (api_authz.c) ------------------------------------------ */

struct http_authz; /* compiled policies/api.cedar + the route -> action map */

/* Compiles the API policies: the built-in ones (dir NULL) or dir/api.cedar
 * and dir/api.cedarschema.  ERR_INVALID with file:line:col when they do not
 * compile.  A route without an API action is admin-only (and logged).  *out: free
 * with http_authz_free (NULL accepted). */
int http_authz_load(const char *dir, struct http_authz **out, struct err *e) MUST_CHECK;
void http_authz_free(struct http_authz *z);

/* The second gate after the route's role mask: 0 when the API policies
 * allow the caller the route's action on its resource; -1 after answering
 * (403; 404 for an owner and an agent it does not own; 503 when the store
 * cannot answer), the refusal recorded. */
int http_authz_check(struct http_req *rq, const struct http_route *r) MUST_CHECK;

/* ---- answers (response.c) -------------------------------------------------- */

/* Answers with JSON (steals j). */
void http_reply_json(struct http_req *rq, unsigned status, json_t *j);

/* Answers with an RFC 9457 problem: title is the public short text, detail the
 * specific one; extra (stolen, may be NULL) members are merged in. */
void http_reply_problem(struct http_req *rq, unsigned status, const char *title, const char *detail,
                        json_t *extra);

/* Maps a broker/store error to a problem answer (400, 401, 403, 404, 409,
 * 503, 500).  Internal details are logged, not sent. */
void http_reply_err(struct http_req *rq, const struct err *e);

/* Answers 204 No Content. */
void http_reply_empty(struct http_req *rq, unsigned status);

/* Parses the request body as one JSON object (duplicate keys refused).
 * Returns NULL after answering 400 (with the byte offset) itself. */
json_t *http_body_json(struct http_req *rq);

/* Parses the ?after= and ?limit= of a list (limit 1..LIMIT_LIST_PAGE_MAX,
 * default 100); answers 400 itself and returns -1 on a bad limit. */
int http_page_params(struct http_req *rq, const char **after, size_t *limit);

/* Answers a broker call's result (api_registry.c): out as JSON with status
 * (no body when out is NULL), or the error of e when r != 0 (out dropped). */
void http_answer(struct http_req *rq, int r, const struct err *e, unsigned status, json_t *out);

/* POST of a new object (api_registry.c): the body as JSON to fn, 201 with
 * its answer. */
void http_create(struct http_req *rq, broker_create_fn fn);

/* A query parameter or NULL. */
const char *http_query(struct http_req *rq, const char *name);

/* form.c: an application/x-www-form-urlencoded body.  Decodes s[0..n) into
 * the arena ('+' a space, %XX a byte); NULL for a NUL byte, a control
 * character or a broken escape (or out of memory). */
char *http_form_decode(struct arena *a, const char *s, size_t n);
/* Parses rq's body into vals[i] for names[i] (NULL when absent): at most
 * max_params pairs, each name known, given once, with a non-empty value.
 * -1 with *why (a description for error_description; NULL when out of
 * memory) on anything else. */
int http_form_parse(struct http_req *rq, const char *const *names, size_t n, size_t max_params,
                    const char **vals, const char **why);

#endif
