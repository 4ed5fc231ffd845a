/*
 * api_registry.c: /v1/humans, /v1/teams, /v1/agents (with their status and
 * standing entitlements), /v1/trust-issuers, /v1/tools, /v1/intents and
 * /v1/api-keys.
 *
 * Thin: parse the body, call the broker with the caller, map its answer.
 * The route table says which roles may call at all; the broker decides the
 * rest (an owner's view is limited to its own agents).  Readers are admin,
 * security, owner and auditor; writers are admin, except where a route says
 * otherwise.  The pep role reads nothing here.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/limits.h"
#include "util/num.h"
#include "util/wipe.h"

int http_page_params(struct http_req *rq, const char **after, size_t *limit)
{
    const char *lim = http_query(rq, "limit");
    uint64_t v = 100;
    struct err e;

    *after = http_query(rq, "after");
    if (lim != NULL && (num_parse_u64(lim, strlen(lim), LIMIT_LIST_PAGE_MAX, &v) != 0 || v == 0)) {
        err_set(&e, ERR_INVALID, "limit: must be an integer from 1 to %d", LIMIT_LIST_PAGE_MAX);
        http_reply_err(rq, &e);
        return -1;
    }
    *limit = (size_t)v;
    return 0;
}

void http_answer(struct http_req *rq, int r, const struct err *e, unsigned status, json_t *out)
{
    if (r != 0) {
        json_decref(out);
        http_reply_err(rq, e);
    } else if (out == NULL) {
        http_reply_empty(rq, status);
    } else {
        http_reply_json(rq, status, out);
    }
}

void http_create(struct http_req *rq, broker_create_fn fn)
{
    json_t *in = http_body_json(rq), *out = NULL;
    struct err e;
    int r;

    if (in == NULL) {
        return;
    }
    err_clear(&e);
    r = fn(rq->broker, &rq->caller, in, &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_CREATED, out);
    json_decref(in);
}

static void get(struct http_req *rq, enum broker_kind k)
{
    json_t *out = NULL;
    struct err e;
    int r;

    err_clear(&e);
    r = broker_get(rq->broker, &rq->caller, k, rq->params[0], &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void list(struct http_req *rq, enum broker_kind k)
{
    const char *after;
    size_t limit;
    json_t *out = NULL;
    struct err e;
    int r;

    if (http_page_params(rq, &after, &limit) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_list(rq->broker, &rq->caller, k, after, limit, &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void del(struct http_req *rq, enum broker_kind k)
{
    struct err e;
    int r;

    err_clear(&e);
    r = broker_delete(rq->broker, &rq->caller, k, rq->params[0], &e);
    http_answer(rq, r, &e, MHD_HTTP_NO_CONTENT, NULL);
}

#define KIND_HANDLERS(name, K, createfn)                                                           \
    static void name##_create(struct http_req *rq)                                                 \
    {                                                                                              \
        http_create(rq, createfn);                                                                 \
    }                                                                                              \
    static void name##_get(struct http_req *rq)                                                    \
    {                                                                                              \
        get(rq, K);                                                                                \
    }                                                                                              \
    static void name##_list(struct http_req *rq)                                                   \
    {                                                                                              \
        list(rq, K);                                                                               \
    }                                                                                              \
    static void name##_delete(struct http_req *rq)                                                 \
    {                                                                                              \
        del(rq, K);                                                                                \
    }

KIND_HANDLERS(humans, BROKER_HUMAN, broker_human_create)
KIND_HANDLERS(teams, BROKER_TEAM, broker_team_create)
KIND_HANDLERS(agents, BROKER_AGENT, broker_agent_create)
KIND_HANDLERS(issuers, BROKER_ISSUER, broker_issuer_create)
KIND_HANDLERS(tools, BROKER_TOOL, broker_tool_create)
KIND_HANDLERS(intents, BROKER_INTENT, broker_intent_create)

/* Handlers that act on one object named by params[0] with a JSON body. */
typedef int (*object_fn)(struct broker *, const struct broker_caller *, const char *, json_t *,
                         struct arena *, json_t **, struct err *);

static void on_object(struct http_req *rq, object_fn fn, unsigned status, int body_optional)
{
    json_t *in = NULL, *out = NULL;
    struct err e;
    int r;

    if (!(body_optional && rq->body.len == 0) && (in = http_body_json(rq)) == NULL) {
        return;
    }
    err_clear(&e);
    r = fn(rq->broker, &rq->caller, rq->params[0], in, &rq->arena, &out, &e);
    http_answer(rq, r, &e, status, out);
    json_decref(in);
}

static void intents_patch(struct http_req *rq)
{
    on_object(rq, broker_intent_update, MHD_HTTP_OK, 0);
}

static void agents_patch(struct http_req *rq)
{
    on_object(rq, broker_agent_update, MHD_HTTP_OK, 0);
}

static void agents_status(struct http_req *rq)
{
    on_object(rq, broker_agent_set_status, MHD_HTTP_OK, 0);
}

static void humans_offboard(struct http_req *rq)
{
    on_object(rq, broker_human_offboard, MHD_HTTP_OK, 1);
}

static void entitlements_add(struct http_req *rq)
{
    on_object(rq, broker_entitlement_add, MHD_HTTP_CREATED, 0);
}

static void entitlements_list(struct http_req *rq)
{
    json_t *out = NULL;
    struct err e;
    int r;

    err_clear(&e);
    r = broker_entitlement_list(rq->broker, &rq->caller, rq->params[0], &rq->arena, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void entitlements_remove(struct http_req *rq)
{
    struct err e;
    int r;

    err_clear(&e);
    r = broker_entitlement_remove(rq->broker, &rq->caller, rq->params[0], rq->params[1], &e);
    http_answer(rq, r, &e, MHD_HTTP_NO_CONTENT, NULL);
}

/* POST /v1/api-keys {"name":..., "role":..., "subject":...}: the key is in
 * the answer once and never again. */
static void apikey_create(struct http_req *rq)
{
    json_t *in = http_body_json(rq), *v;
    const char *name, *role, *subject = NULL, *key_id, *k;
    char *key = NULL;
    struct err e;
    enum broker_role ro;

    if (in == NULL) {
        return;
    }
    err_clear(&e);
    json_object_foreach(in, k, v)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "role") != 0 && strcmp(k, "subject") != 0) {
            err_set(&e, ERR_INVALID, "%.64s: unknown field", k);
            goto out;
        }
        if (!json_is_string(v) || json_string_length(v) > LIMIT_ID_LEN) {
            err_set(&e, ERR_INVALID, "%s: expected a string of at most %d bytes", k, LIMIT_ID_LEN);
            goto out;
        }
    }
    name = json_string_value(json_object_get(in, "name"));
    role = json_string_value(json_object_get(in, "role"));
    v = json_object_get(in, "subject");
    subject = v ? json_string_value(v) : NULL;
    if (name == NULL || role == NULL) {
        err_set(&e, ERR_INVALID, "%s: missing required field", name ? "role" : "name");
        goto out;
    }
    ro = broker_role_parse(role);
    if (ro == ROLE_NONE) {
        err_set(&e, ERR_INVALID, "role: one of admin, security, owner, auditor, pep");
        goto out;
    }
    if (ro == ROLE_OWNER && subject == NULL) {
        err_set(&e, ERR_INVALID, "subject: an owner key names the human it acts for");
        goto out;
    }
    if (broker_apikey_create(rq->broker, &rq->caller, name, ro, subject, &rq->arena, &key, &key_id,
                             &e) == 0) {
        http_reply_json(rq, MHD_HTTP_CREATED,
                        json_pack("{s:s, s:s, s:s, s:s}", "id", key_id, "name", name, "role", role,
                                  "key", key));
    }
out:
    if (e.code != 0) {
        http_reply_err(rq, &e);
    }
    json_decref(in);
    wipe_free_str(key);
}

/* POST /v1/api-keys/{id}/revoke: no request authenticates with the key
 * once this has answered. */
static void apikey_revoke(struct http_req *rq)
{
    struct err e;
    int r;

    err_clear(&e);
    r = broker_apikey_revoke(rq->broker, &rq->caller, rq->params[0], &e);
    http_answer(rq, r, &e, MHD_HTTP_OK,
                r == 0 ? json_pack("{s:s, s:b}", "id", rq->params[0], "revoked", 1) : NULL);
}

#define ADMIN ROLE_ADMIN
#define READERS ROLE_READERS

/* The four routes of a kind made by KIND_HANDLERS: create and delete for
 * admin, list and get for the readers ({id} is one path segment; a 405
 * lists the allowed methods in table order). */
/* clang-format off */
#define KIND_ROUTES(path, name)                                                                    \
    {"POST", path, name##_create, ADMIN},                                                          \
    {"GET", path, name##_list, READERS},                                                           \
    {"GET", path "/{id}", name##_get, READERS},                                                    \
    {"DELETE", path "/{id}", name##_delete, ADMIN}
/* clang-format on */

/* Order matters where patterns overlap: the agent's sub-resources come before
 * "/v1/agents/{id*}" (agent ids cannot hold the reserved segments). */
const struct http_route http_routes_registry[] = {
    KIND_ROUTES("/v1/humans", humans),
    {"POST", "/v1/humans/{id}/offboard", humans_offboard, ADMIN | ROLE_SECURITY},
    KIND_ROUTES("/v1/teams", teams),
    {"POST", "/v1/agents", agents_create, ADMIN},
    {"GET", "/v1/agents", agents_list, READERS},
    {"POST", "/v1/agents/{id*}/status", agents_status, ADMIN | ROLE_SECURITY | ROLE_OWNER},
    {"POST", "/v1/agents/{id*}/entitlements", entitlements_add, ADMIN},
    {"GET", "/v1/agents/{id*}/entitlements", entitlements_list, READERS},
    {"DELETE", "/v1/agents/{id*}/entitlements/{intent}", entitlements_remove,
     ADMIN | ROLE_SECURITY | ROLE_OWNER},
    {"GET", "/v1/agents/{id*}", agents_get, READERS},
    {"PATCH", "/v1/agents/{id*}", agents_patch, ADMIN},
    {"DELETE", "/v1/agents/{id*}", agents_delete, ADMIN | ROLE_OWNER},
    KIND_ROUTES("/v1/trust-issuers", issuers),
    KIND_ROUTES("/v1/tools", tools),
    {"POST", "/v1/intents", intents_create, ADMIN},
    {"GET", "/v1/intents", intents_list, READERS},
    {"GET", "/v1/intents/{id}", intents_get, READERS},
    {"PATCH", "/v1/intents/{id}", intents_patch, ADMIN}, /* Allow lists methods in this order */
    {"DELETE", "/v1/intents/{id}", intents_delete, ADMIN},
    {"POST", "/v1/api-keys", apikey_create, ADMIN},
    {"POST", "/v1/api-keys/{id}/revoke", apikey_revoke, ADMIN | ROLE_SECURITY},
};
const size_t http_routes_registry_n =
    sizeof(http_routes_registry) / sizeof(http_routes_registry[0]);
