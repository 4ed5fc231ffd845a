/*
 * api_check.c: the request-time check and the task lifecycle over HTTP.
 *
 *   POST /v1/check                 pep: one call of an agent -> allow/deny
 *   GET  /v1/tasks                 readers (owners: their agents' tasks)
 *   GET  /v1/tasks/{id}            readers (owners: their agents' tasks)
 *   POST /v1/tasks/{id}/complete   the agent: Authorization: DPoP <token>
 *                                  (or Bearer for an unbound task) + DPoP
 *   POST /v1/tasks/{id}/revoke     owner (own agents), security, admin
 *   POST /oauth2/introspect        pep, security, admin (RFC 7662, form)
 *   POST /oauth2/revoke            the token's holder (RFC 7009, form)
 *
 * Thin: parse, call the broker (broker/broker.h), map the answer.  A check
 * answers 200 for allow and deny alike (the decision is in the body); a
 * malformed check is 400; a store that cannot record the decision is 503,
 * which an enforcement point treats as deny.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"

/* ---- helpers -------------------------------------------------------------------- */

static void answer(struct http_req *rq, int r, const struct err *e, json_t *out)
{
    if (r != 0) {
        json_decref(out);
        http_reply_err(rq, e);
    } else {
        http_reply_json(rq, MHD_HTTP_OK, out);
    }
}

static int running(struct http_req *rq)
{
    if (rq->broker->rt == NULL) {
        http_reply_problem(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
                           "the access path is not running", NULL);
        return 0;
    }
    return 1;
}

/* A string member of at most max bytes (NULL when absent); -1 after
 * answering 400 for a wrong type or length. */
static int member_str(struct http_req *rq, json_t *in, const char *name, size_t max, int required,
                      const char **out)
{
    json_t *v = json_object_get(in, name);
    struct err e;

    *out = NULL;
    if (v == NULL) {
        if (!required) {
            return 0;
        }
        err_set(&e, ERR_INVALID, "%s: required", name);
        http_reply_err(rq, &e);
        return -1;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        err_set(&e, ERR_INVALID, "%s: must be a non-empty string of at most %zu bytes", name, max);
        http_reply_err(rq, &e);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

/* ---- POST /v1/check ------------------------------------------------------------------ */

static const char *const check_members[] = {
    "token", "dpop", "method", "url", "tool", "action", "resource", "data_labels", "downstream",
};

static int check_parse(struct http_req *rq, json_t *in, struct broker_check_req *c)
{
    const char *k;
    json_t *v, *labels;
    size_t i, n;
    struct err e;

    json_object_foreach(in, k, v)
    {
        for (i = 0; i < sizeof(check_members) / sizeof(check_members[0]); i++) {
            if (strcmp(k, check_members[i]) == 0) {
                break;
            }
        }
        if (i == sizeof(check_members) / sizeof(check_members[0])) {
            err_set(&e, ERR_INVALID, "%.64s: unknown member", k);
            http_reply_err(rq, &e);
            return -1;
        }
    }
    memset(c, 0, sizeof(*c));
    if (member_str(rq, in, "token", LIMIT_JOSE_TOKEN_MAX, 1, &c->token) != 0 ||
        member_str(rq, in, "dpop", LIMIT_JOSE_TOKEN_MAX, 0, &c->dpop) != 0 ||
        member_str(rq, in, "method", LIMIT_CHECK_METHOD_LEN, 0, &c->htm) != 0 ||
        member_str(rq, in, "url", LIMIT_URL_LEN, 0, &c->htu) != 0 ||
        member_str(rq, in, "tool", LIMIT_ID_LEN, 1, &c->call.tool) != 0 ||
        member_str(rq, in, "action", LIMIT_ID_LEN, 1, &c->call.action) != 0 ||
        member_str(rq, in, "resource", LIMIT_CHECK_RESOURCE_LEN, 0, &c->call.resource) != 0 ||
        member_str(rq, in, "downstream", LIMIT_ID_LEN, 0, &c->call.downstream) != 0) {
        return -1;
    }
    c->token_len = strlen(c->token);
    labels = json_object_get(in, "data_labels");
    if (labels != NULL) {
        const char **ls;
        n = json_array_size(labels);
        if (!json_is_array(labels) || n > LIMIT_CHECK_LABELS) {
            err_set(&e, ERR_INVALID, "data_labels: must be an array of at most %d strings",
                    LIMIT_CHECK_LABELS);
            http_reply_err(rq, &e);
            return -1;
        }
        ls = arena_calloc(&rq->arena, n ? n : 1, sizeof(*ls));
        if (ls == NULL) {
            err_set(&e, ERR_NOMEM, "out of memory");
            http_reply_err(rq, &e);
            return -1;
        }
        json_array_foreach(labels, i, v)
        {
            if (!json_is_string(v) || json_string_length(v) == 0 ||
                json_string_length(v) > LIMIT_ID_LEN) {
                err_set(&e, ERR_INVALID, "data_labels: must be an array of non-empty strings");
                http_reply_err(rq, &e);
                return -1;
            }
            ls[i] = json_string_value(v);
        }
        c->call.labels = ls;
        c->call.nlabels = n;
    }
    c->caller = &rq->caller;
    return 0;
}

static void check(struct http_req *rq)
{
    struct broker_check_req c;
    struct broker_check_result res;
    json_t *in, *j;
    struct err e;
    int r;

    if (!running(rq) || (in = http_body_json(rq)) == NULL) {
        return;
    }
    if (check_parse(rq, in, &c) != 0) {
        json_decref(in);
        return;
    }
    err_clear(&e);
    r = broker_check(rq->broker, &c, &rq->arena, &res, &e);
    json_decref(in);
    if (r != 0) {
        http_reply_err(rq, &e);
        return;
    }
    j = json_pack("{s:s, s:b, s:O, s:s?, s:s?, s:b, s:I, s:I}", "decision",
                  res.allow ? "allow" : "deny", "allow", res.allow, "reasons", res.reasons, "task",
                  res.task_id, "task_state", res.state, "revoked", res.revoked, "audit_id",
                  (json_int_t)res.audit_seq, "policy_version", (json_int_t)res.policy_version);
    broker_check_result_clear(&res);
    http_reply_json(rq, MHD_HTTP_OK, j);
}

/* ---- tasks ---------------------------------------------------------------------------- */

static void tasks_list(struct http_req *rq)
{
    const char *after, *agent = http_query(rq, "agent");
    size_t limit;
    json_t *out = NULL;
    struct err e;
    int r;

    if (http_page_params(rq, &after, &limit) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_task_list(rq->broker, &rq->caller, agent, after, limit, &rq->arena, &out, &e);
    answer(rq, r, &e, out);
}

static void task_get(struct http_req *rq)
{
    json_t *out = NULL;
    struct err e;
    int r;

    err_clear(&e);
    r = broker_task_get(rq->broker, &rq->caller, rq->params[0], &rq->arena, &out, &e);
    answer(rq, r, &e, out);
}

static void task_revoke(struct http_req *rq)
{
    const char *reason = NULL;
    json_t *in = NULL, *out = NULL;
    struct err e;
    int r;

    if (!running(rq)) {
        return;
    }
    if (rq->body.len > 0) {
        if ((in = http_body_json(rq)) == NULL) {
            return;
        }
        if (json_object_size(in) > (json_object_get(in, "reason") ? 1u : 0u)) {
            json_decref(in);
            err_set(&e, ERR_INVALID, "body: only \"reason\" is accepted");
            http_reply_err(rq, &e);
            return;
        }
        if (member_str(rq, in, "reason", LIMIT_TEXT_LEN, 0, &reason) != 0) {
            json_decref(in);
            return;
        }
    }
    err_clear(&e);
    r = broker_task_revoke(rq->broker, &rq->caller, rq->params[0], reason, &rq->arena, &out, &e);
    json_decref(in);
    answer(rq, r, &e, out);
}

/* The single value of a header; NULL when absent, "" when repeated. */
struct hdr_one {
    const char *name;
    int n;
    const char *value;
};

static enum MHD_Result hdr_one_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct hdr_one *h = cls;

    (void)kind;
    if (strcasecmp(key, h->name) == 0) {
        h->n++;
        h->value = value;
    }
    return MHD_YES;
}

static const char *header_once(struct http_req *rq, const char *name)
{
    struct hdr_one h = {name, 0, NULL};

    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, hdr_one_cb, &h);
    return h.n > 1 ? "" : h.value;
}

static void task_complete(struct http_req *rq)
{
    const char *auth = header_once(rq, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *dpop = header_once(rq, "DPoP"), *token = NULL, *htu;
    json_t *out = NULL;
    struct err e;
    int r;

    if (!running(rq)) {
        return;
    }
    if (auth != NULL && strncasecmp(auth, "DPoP ", 5) == 0) {
        token = auth + 5;
    } else if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0) {
        token = auth + 7;
    }
    if (token == NULL || token[0] == '\0' || (dpop != NULL && dpop[0] == '\0')) {
        rq->auth_failure = "no task token";
        http_reply_problem(rq, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
                           "send the task token as Authorization: DPoP <token> with a DPoP proof",
                           NULL);
        return;
    }
    htu = arena_printf(&rq->arena, "%s%s", broker_issuer(rq->broker), rq->path);
    err_clear(&e);
    r = broker_task_complete(rq->broker, rq->params[0], token, strlen(token), dpop, "POST", htu,
                             rq->id, &rq->arena, &out, &e);
    answer(rq, r, &e, out);
}

/* ---- OAuth: introspection and revocation (form-encoded) ------------------------------- */

/* token and token_type_hint from the form; -1 after answering 400. */
static int token_form(struct http_req *rq, const char **token)
{
    static const char *const names[] = {"token", "token_type_hint"};
    const char *ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type");
    const char *vals[2], *why = NULL;

    *token = NULL;
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        why = "send the parameters as application/x-www-form-urlencoded";
    } else if (http_form_parse(rq, names, 2, 2, vals, &why) != 0) {
        why = why != NULL ? why : "out of memory";
    } else if (vals[0] == NULL) {
        why = "the token parameter is required";
    }
    if (why != NULL) {
        http_reply_json(
            rq, MHD_HTTP_BAD_REQUEST,
            json_pack("{s:s, s:s}", "error", "invalid_request", "error_description", why));
        return -1;
    }
    *token = vals[0];
    return 0;
}

static void introspect(struct http_req *rq)
{
    const char *token;
    json_t *out = NULL;
    struct err e;
    int r;

    if (!running(rq) || token_form(rq, &token) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_token_introspect(rq->broker, token, strlen(token), &rq->arena, &out, &e);
    answer(rq, r, &e, out);
}

static void oauth_revoke(struct http_req *rq)
{
    const char *token;
    struct err e;
    int r;

    if (!running(rq) || token_form(rq, &token) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_token_revoke(rq->broker, token, strlen(token), rq->id, &e);
    if (r != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, json_object()); /* RFC 7009 2.2: 200, empty */
}

const struct http_route http_routes_check[] = {
    {"POST", "/v1/check", check, ROLE_PEP},
    {"GET", "/v1/tasks", tasks_list, ROLE_READERS},
    {"GET", "/v1/tasks/{id}", task_get, ROLE_READERS},
    {"POST", "/v1/tasks/{id}/complete", task_complete, 0},
    {"POST", "/v1/tasks/{id}/revoke", task_revoke, ROLE_ADMIN | ROLE_SECURITY | ROLE_OWNER},
    {"POST", "/oauth2/introspect", introspect, ROLE_PEP | ROLE_SECURITY | ROLE_ADMIN},
    {"POST", "/oauth2/revoke", oauth_revoke, 0},
};
const size_t http_routes_check_n = sizeof(http_routes_check) / sizeof(http_routes_check[0]);
