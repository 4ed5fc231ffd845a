/*
 * api_audit.c: reading the trail by what it is about (docs/audit.md,
 * "Queries"): GET /v1/audit with filters and GET /v1/audit/trace/{task}.
 *
 * Thin: every query parameter goes through broker_audit_query_param (the
 * same checks as `mandate audit query`); an unknown, repeated or bad one is
 * a 400 problem naming it in "field".  For admin, security, auditor and
 * owner (route table in api_policies.c, policy api-owner-read); an owner
 * reads only its agents' records and traces only its agents' tasks
 * (broker_audit_query_scope, broker_audit_trace_as).
 */
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"

struct qctx {
    struct http_req *rq;
    struct broker_audit_query q;
    struct err e;
    int failed;
    const char *field; /* the parameter that failed (in the arena) */
};

static enum MHD_Result one_param(void *cls, enum MHD_ValueKind kind, const char *key,
                                 size_t key_size, const char *value, size_t value_size)
{
    struct qctx *x = cls;

    (void)kind;
    if (broker_audit_query_param(&x->q, key, key_size, value, value_size, &x->rq->arena, &x->e) !=
        0) {
        x->failed = 1;
        x->field = arena_strndup(&x->rq->arena, key, key_size > 64 ? 64 : key_size);
        return MHD_NO;
    }
    return MHD_YES;
}

void http_audit_query(struct http_req *rq)
{
    struct qctx x;
    json_t *out = NULL;
    int r;

    memset(&x, 0, sizeof(x));
    x.rq = rq;
    broker_audit_query_init(&x.q);
    err_clear(&x.e);
    MHD_get_connection_values_n(rq->conn, MHD_GET_ARGUMENT_KIND, one_param, &x);
    if (!x.failed && broker_audit_query_done(&x.q, &x.e) != 0) {
        x.failed = 1;
        x.field = "until";
    }
    if (!x.failed && broker_audit_query_scope(&x.q, &rq->caller, &x.e) != 0) {
        http_reply_err(rq, &x.e);
        return;
    }
    if (x.failed) {
        if (x.e.code != ERR_INVALID) {
            http_reply_err(rq, &x.e);
            return;
        }
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Invalid request", x.e.msg,
                           json_pack("{s:s}", "field", x.field ? x.field : "query"));
        return;
    }
    r = broker_audit_query_run(rq->broker->store, &x.q, &rq->arena, &out, &x.e);
    if (r != 0) {
        http_reply_err(rq, &x.e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

void http_audit_trace(struct http_req *rq)
{
    json_t *out = NULL;
    struct err e;

    err_clear(&e);
    if (MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0) {
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Invalid request",
                           "query: a trace takes no query parameters",
                           json_pack("{s:s}", "field", "query"));
        return;
    }
    if (broker_audit_trace_as(rq->broker->store, &rq->caller, rq->params[0], &rq->arena, &out,
                              &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}
