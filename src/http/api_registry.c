/*
 * api_registry.c: /v1/humans, /v1/teams, /v1/agents and /v1/api-keys.
 *
 * Thin: parse the body, call the broker, map its answer.  Readers are admin,
 * security, owner and auditor; writers are admin.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/limits.h"
#include "util/num.h"
#include "util/wipe.h"

typedef int (*create_fn)(struct broker *, json_t *, struct arena *, json_t **, struct err *);

static void create(struct http_req *rq, create_fn fn)
{
    json_t *in = http_body_json(rq), *out = NULL;
    struct err e;

    if (in == NULL) {
        return;
    }
    err_clear(&e);
    if (fn(rq->broker, in, &rq->arena, &out, &e) != 0) {
        http_reply_err(rq, &e);
    } else {
        http_reply_json(rq, MHD_HTTP_CREATED, out);
    }
    json_decref(in);
}

static void get(struct http_req *rq, enum broker_kind k)
{
    json_t *out = NULL;
    struct err e;

    err_clear(&e);
    if (broker_get(rq->broker, k, rq->params[0], &rq->arena, &out, &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

static void list(struct http_req *rq, enum broker_kind k)
{
    const char *after = http_query(rq, "after"), *lim = http_query(rq, "limit");
    uint64_t limit = 100;
    json_t *out = NULL;
    struct err e;

    err_clear(&e);
    if (lim != NULL && num_parse_u64(lim, strlen(lim), LIMIT_LIST_PAGE_MAX, &limit) != 0) {
        err_set(&e, ERR_INVALID, "limit: must be an integer from 1 to %d", LIMIT_LIST_PAGE_MAX);
        http_reply_err(rq, &e);
        return;
    }
    if (limit == 0) {
        limit = 1;
    }
    if (broker_list(rq->broker, k, after, (size_t)limit, &rq->arena, &out, &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

static void del(struct http_req *rq, enum broker_kind k)
{
    struct err e;

    err_clear(&e);
    if (broker_delete(rq->broker, k, rq->params[0], &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_empty(rq, MHD_HTTP_NO_CONTENT);
}

#define KIND_HANDLERS(name, K, createfn)                                                           \
    static void name##_create(struct http_req *rq)                                                 \
    {                                                                                              \
        create(rq, createfn);                                                                      \
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
    if (broker_apikey_create(rq->broker, name, ro, subject, &rq->arena, &key, &key_id, &e) == 0) {
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

const struct http_route http_routes_registry[] = {
    {"POST", "/v1/humans", humans_create, ROLE_ADMIN},
    {"GET", "/v1/humans", humans_list, ROLE_READERS},
    {"GET", "/v1/humans/{id}", humans_get, ROLE_READERS},
    {"DELETE", "/v1/humans/{id}", humans_delete, ROLE_ADMIN},
    {"POST", "/v1/teams", teams_create, ROLE_ADMIN},
    {"GET", "/v1/teams", teams_list, ROLE_READERS},
    {"GET", "/v1/teams/{id}", teams_get, ROLE_READERS},
    {"DELETE", "/v1/teams/{id}", teams_delete, ROLE_ADMIN},
    {"POST", "/v1/agents", agents_create, ROLE_ADMIN},
    {"GET", "/v1/agents", agents_list, ROLE_READERS},
    {"GET", "/v1/agents/{id*}", agents_get, ROLE_READERS},
    {"DELETE", "/v1/agents/{id*}", agents_delete, ROLE_ADMIN},
    {"POST", "/v1/api-keys", apikey_create, ROLE_ADMIN},
};
const size_t http_routes_registry_n =
    sizeof(http_routes_registry) / sizeof(http_routes_registry[0]);
