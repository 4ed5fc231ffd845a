/*
 * api_policies.c: /v1/policies (versioned Cedar policy sets) and /v1/audit
 * (reading the trail).
 *
 * Versions are positive integers in the path; anything else is a 400 naming
 * "version".  Storing and activating are admin's; reading policies is for
 * the registry readers; reading the trail too (an owner: only its agents'
 * records and tasks); the audit handlers (filters, traces, the owner
 * scoping) are in api_audit.c.
 */
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"
#include "util/num.h"

static int version_param(struct http_req *rq, const char *s, int64_t *out)
{
    uint64_t v = 0;
    struct err e;

    if (num_parse_u64(s, strlen(s), INT64_MAX, &v) != 0 || v == 0) {
        err_set(&e, ERR_INVALID, "version: must be a positive integer");
        http_reply_err(rq, &e);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

static void policies_create(struct http_req *rq)
{
    http_create(rq, broker_policy_create);
}

/* One version (0: the active one): read, or made the active one. */
static void version_op(struct http_req *rq, int64_t v, int activate)
{
    json_t *out = NULL;
    struct err e;
    int r;

    err_clear(&e);
    r = activate ? broker_policy_activate(rq->broker, &rq->caller, v, &rq->arena, &out, &e)
                 : broker_policy_get(rq->broker, v, &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void policies_activate(struct http_req *rq)
{
    int64_t v = 0;

    if (version_param(rq, rq->params[0], &v) != 0) {
        return;
    }
    if (rq->body.len != 0) {
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Invalid request",
                           "body: activation takes no body", json_pack("{s:s}", "field", "body"));
        return;
    }
    version_op(rq, v, 1);
}

static void policies_get(struct http_req *rq)
{
    int64_t v = 0;

    if (version_param(rq, rq->params[0], &v) == 0) {
        version_op(rq, v, 0);
    }
}

static void policies_active(struct http_req *rq)
{
    version_op(rq, 0, 0);
}

/* ?after=N (a version or a sequence number) and ?limit. */
static int seq_page(struct http_req *rq, int64_t *after, size_t *limit)
{
    const char *a;
    uint64_t v = 0;
    struct err e;

    if (http_page_params(rq, &a, limit) != 0) {
        return -1;
    }
    if (a != NULL && num_parse_u64(a, strlen(a), INT64_MAX, &v) != 0) {
        err_set(&e, ERR_INVALID, "after: must be a non-negative integer");
        http_reply_err(rq, &e);
        return -1;
    }
    *after = (int64_t)v;
    return 0;
}

/* A list paged by a number (?after=N&limit=M): versions, trail records,
 * checkpoints. */
typedef int (*seq_list_fn)(struct broker *b, int64_t after, size_t limit, struct arena *a,
                           json_t **out, struct err *e);

static void seq_list(struct http_req *rq, seq_list_fn fn)
{
    json_t *out = NULL;
    int64_t after;
    size_t limit;
    struct err e;
    int r;

    if (seq_page(rq, &after, &limit) != 0) {
        return;
    }
    err_clear(&e);
    r = fn(rq->broker, after, limit, &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static int checkpoint_list(struct broker *b, int64_t after, size_t limit, struct arena *a,
                           json_t **out, struct err *e)
{
    (void)a;
    return broker_audit_checkpoint_list(b, after, limit, out, e);
}

static void policies_list(struct http_req *rq)
{
    seq_list(rq, broker_policy_list);
}

/* Public (no API key): a checkpoint holds only a seq, a hash and Mandate's
 * signature, nothing about any record, and an outside party must be able
 * to collect them to hold Mandate to its history (docs/audit.md). */
static void audit_checkpoints(struct http_req *rq)
{
    seq_list(rq, checkpoint_list);
}

const struct http_route http_routes_policies[] = {
    {"POST", "/v1/policies", policies_create, ROLE_ADMIN},
    {"GET", "/v1/policies", policies_list, ROLE_READERS},
    {"GET", "/v1/policies/active", policies_active, ROLE_READERS},
    {"GET", "/v1/policies/{version}", policies_get, ROLE_READERS},
    {"POST", "/v1/policies/{version}/activate", policies_activate, ROLE_ADMIN},
    {"GET", "/v1/audit", http_audit_query, ROLE_READERS},
    {"GET", "/v1/audit/trace/{task}", http_audit_trace, ROLE_READERS},
    {"GET", "/v1/audit/checkpoints", audit_checkpoints, 0},
};
const size_t http_routes_policies_n =
    sizeof(http_routes_policies) / sizeof(http_routes_policies[0]);
