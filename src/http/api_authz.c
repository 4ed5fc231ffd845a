/*
 * api_authz.c: the broker's own API authorised with Cedar.
 *
 * Each authenticated route passes two gates: its role mask in the route
 * table (coarse, a bit test), then this one: a Cedar decision over the
 * policies shipped in policies/api.cedar (schema policies/api.cedarschema),
 * built into the program by scripts/embed-text, or read from a directory
 * with `serve --api-policies DIR`.  They compile when the server starts; a
 * file that does not compile, or a route this file cannot name, refuses to
 * start.
 *
 * The request: principal MandateApi::Caller::"<key id>" (attributes role and
 * subject) in MandateApi::Role::"<role>"; action MandateApi::Action::"<name>"
 * from the table below; resource MandateApi::Agent::"<SPIFFE ID>" (owner,
 * exists: read from the registry) for routes naming an agent, else
 * MandateApi::Endpoint::"<area>"; context {method, path}.  Fail closed: an
 * evaluation error, a policy error or a missing mapping denies.  A denial is
 * 403, except for an owner asking about an agent: 404, as the broker answers
 * for agents it does not own (their existence is not revealed).  Every
 * 403 is recorded (request.refused, reason "policy"); the owner's 404 is
 * not, as the broker records none for its own owner scoping.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar.h"
#include "http/http_int.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/log.h"

/* One route's action: resource is the agent named by params[0] when endpoint
 * is NULL, else MandateApi::Endpoint::"<endpoint>". */
struct api_action {
    const char *method;
    const char *pattern;
    const char *action;
    const char *endpoint;
};

#define AGENT NULL

static const struct api_action actions[] = {
    {"GET", "/v1/humans", "registry.read", "registry"},
    {"POST", "/v1/humans", "registry.write", "registry"},
    {"GET", "/v1/humans/{id}", "registry.read", "registry"},
    {"DELETE", "/v1/humans/{id}", "registry.write", "registry"},
    {"POST", "/v1/humans/{id}/offboard", "human.offboard", "humans"},
    {"GET", "/v1/teams", "registry.read", "registry"},
    {"POST", "/v1/teams", "registry.write", "registry"},
    {"GET", "/v1/teams/{id}", "registry.read", "registry"},
    {"DELETE", "/v1/teams/{id}", "registry.write", "registry"},
    {"GET", "/v1/trust-issuers", "registry.read", "registry"},
    {"POST", "/v1/trust-issuers", "registry.write", "registry"},
    {"GET", "/v1/trust-issuers/{id}", "registry.read", "registry"},
    {"DELETE", "/v1/trust-issuers/{id}", "registry.write", "registry"},
    {"GET", "/v1/tools", "registry.read", "registry"},
    {"POST", "/v1/tools", "registry.write", "registry"},
    {"GET", "/v1/tools/{id}", "registry.read", "registry"},
    {"DELETE", "/v1/tools/{id}", "registry.write", "registry"},
    {"GET", "/v1/intents", "registry.read", "registry"},
    {"POST", "/v1/intents", "registry.write", "registry"},
    {"GET", "/v1/intents/{id}", "registry.read", "registry"},
    {"PATCH", "/v1/intents/{id}", "registry.write", "registry"},
    {"DELETE", "/v1/intents/{id}", "registry.write", "registry"},
    {"GET", "/v1/agents", "agent.list", "agents"},
    {"POST", "/v1/agents", "agent.create", "agents"},
    {"GET", "/v1/agents/{id*}", "agent.read", AGENT},
    {"PATCH", "/v1/agents/{id*}", "agent.update", AGENT},
    {"DELETE", "/v1/agents/{id*}", "agent.delete", AGENT},
    {"POST", "/v1/agents/{id*}/status", "agent.status", AGENT},
    {"GET", "/v1/agents/{id*}/entitlements", "agent.read", AGENT},
    {"POST", "/v1/agents/{id*}/entitlements", "entitlement.grant", AGENT},
    {"DELETE", "/v1/agents/{id*}/entitlements/{intent}", "entitlement.remove", AGENT},
    {"POST", "/v1/api-keys", "apikey.create", "apikeys"},
    {"POST", "/v1/api-keys/{id}/revoke", "apikey.revoke", "apikeys"},
    {"GET", "/v1/policies", "policy.read", "policies"},
    {"POST", "/v1/policies", "policy.write", "policies"},
    {"GET", "/v1/policies/active", "policy.read", "policies"},
    {"GET", "/v1/policies/{version}", "policy.read", "policies"},
    {"POST", "/v1/policies/{version}/activate", "policy.write", "policies"},
    {"GET", "/v1/audit", "audit.read", "audit"},
    {"GET", "/v1/audit/trace/{task}", "audit.trace", "audit"},
    {"POST", "/v1/check", "check", "check"},
    {"GET", "/v1/tasks", "task.read", "tasks"},
    {"GET", "/v1/tasks/{id}", "task.read", "tasks"},
    {"POST", "/v1/tasks/{id}/revoke", "task.revoke", "tasks"},
    {"POST", "/oauth2/introspect", "token.introspect", "tokens"},
    {"GET", "/v1/killswitch", "killswitch.read", "killswitch"},
    {"POST", "/v1/killswitch", "killswitch.engage", "killswitch"},
    {"DELETE", "/v1/killswitch", "killswitch.lift", "killswitch"},
    {"GET", "/v1/keys", "key.read", "keys"},
    {"POST", "/v1/keys/rotate", "key.rotate", "keys"},
    {"POST", "/v1/keys/{kid}/revoke", "key.revoke", "keys"},
};
#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

/* A route the table above does not name (added by someone who did not add
 * its action yet): only a caller the policies allow every action (admin)
 * may use it; the server warns at start (tests/node/api-authz-e2e.mjs fails
 * on that warning). */
static const struct api_action unmapped = {"", "", "unmapped", "unmapped"};

/* Route -> action, resolved once at load so a request compares pointers. */
struct route_action {
    const struct http_route *route;
    const struct api_action *act;
};

struct http_authz {
    struct cedar_policyset *ps;
    struct cedar_schema *schema; /* parsed to refuse a bad file; the validator comes later */
    struct route_action *map;
    size_t nmap;
};

/* The shipped policies (scripts/embed-text, from policies/). */
extern const char http_authz_builtin_policy[];
extern const size_t http_authz_builtin_policy_len;
extern const char http_authz_builtin_schema[];
extern const size_t http_authz_builtin_schema_len;

/* ---- loading ---------------------------------------------------------------- */

static int read_file(const char *path, size_t max, struct buf *out, struct err *e)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;

    buf_init(out, max);
    if (f == NULL) {
        return err_set(e, ERR_NOTFOUND, "%s: cannot open", path);
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(out, chunk, n) != 0) {
            fclose(f);
            return err_set(e, ERR_LIMIT, "%s: larger than %zu bytes", path, max);
        }
    }
    fclose(f);
    return buf_append(out, "", 1) != 0 ? err_set(e, ERR_LIMIT, "%s: too large", path) : 0;
}

/* Every authenticated route of every table must have an action: a route
 * added without one would otherwise be denied to everyone at run time. */
static int map_routes(struct http_authz *z, struct err *e)
{
    const struct {
        const struct http_route *t;
        const size_t *n;
    } tables[] = {{http_routes_system, &http_routes_system_n},
                  {http_routes_registry, &http_routes_registry_n},
                  {http_routes_policies, &http_routes_policies_n},
                  {http_routes_oauth, &http_routes_oauth_n},
                  {http_routes_check, &http_routes_check_n},
                  {http_routes_killswitch, &http_routes_killswitch_n},
                  {http_routes_keys, &http_routes_keys_n}};
    size_t i, j, k, total = 0;

    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        total += *tables[i].n;
    }
    z->map = calloc(total > 0 ? total : 1, sizeof(*z->map));
    if (z->map == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        for (j = 0; j < *tables[i].n; j++) {
            const struct http_route *r = &tables[i].t[j];
            if (r->roles == 0) {
                continue; /* authenticated by the handler (task tokens) or public */
            }
            for (k = 0; k < NACTIONS; k++) {
                if (strcmp(actions[k].method, r->method) == 0 &&
                    strcmp(actions[k].pattern, r->pattern) == 0) {
                    break;
                }
            }
            if (k == NACTIONS) {
                log_event(LOG_WARN, "api_policies_unmapped", NULL, "route", r->pattern, "method",
                          r->method, "detail", "no API action: admin only (src/http/api_authz.c)",
                          (const char *)NULL);
            }
            z->map[z->nmap].route = r;
            z->map[z->nmap++].act = k < NACTIONS ? &actions[k] : &unmapped;
        }
    }
    return 0;
}

int http_authz_load(const char *dir, struct http_authz **out, struct err *e)
{
    struct http_authz *z = NULL;
    struct buf pol, sch, ppath, spath;
    const char *pt = http_authz_builtin_policy, *st = http_authz_builtin_schema;
    size_t pl = http_authz_builtin_policy_len, sl = http_authz_builtin_schema_len;
    const char *pname = "policies/api.cedar", *sname = "policies/api.cedarschema";
    int r = ERR_NOMEM;

    *out = NULL;
    buf_init(&pol, 0);
    buf_init(&sch, 0);
    buf_init(&ppath, LIMIT_URL_LEN);
    buf_init(&spath, LIMIT_URL_LEN);
    if (dir != NULL) {
        if ((r = buf_printf(&ppath, "%s/api.cedar", dir)) != 0 ||
            (r = buf_printf(&spath, "%s/api.cedarschema", dir)) != 0) {
            r = err_set(e, ERR_LIMIT, "api policies: directory name too long");
            goto out;
        }
        if ((r = read_file(ppath.data, LIMIT_API_POLICY_TEXT, &pol, e)) != 0 ||
            (r = read_file(spath.data, LIMIT_API_POLICY_SCHEMA, &sch, e)) != 0) {
            goto out;
        }
        pt = pol.data, pl = pol.len - 1, st = sch.data, sl = sch.len - 1;
        pname = ppath.data, sname = spath.data;
    }
    z = calloc(1, sizeof(*z));
    if (z == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((r = cedar_schema_parse(st, sl, sname, &z->schema, e)) != 0 ||
        (r = cedar_policyset_parse(pt, pl, pname, CEDAR_PARSE_ID_ANNOTATION, &z->ps, e)) != 0 ||
        (r = map_routes(z, e)) != 0) {
        goto out;
    }
    *out = z;
    z = NULL;
    r = 0;
out:
    http_authz_free(z);
    buf_free(&pol);
    buf_free(&sch);
    buf_free(&ppath);
    buf_free(&spath);
    return r;
}

void http_authz_free(struct http_authz *z)
{
    if (z == NULL) {
        return;
    }
    cedar_policyset_put(z->ps);
    cedar_schema_free(z->schema);
    free(z->map);
    free(z);
}

/* ---- one request -------------------------------------------------------------- */

#define T_ROLE "MandateApi::Role"
#define T_CALLER "MandateApi::Caller"
#define T_AGENT "MandateApi::Agent"
#define T_ENDPOINT "MandateApi::Endpoint"
#define T_ACTION "MandateApi::Action"

static void uid(struct cedar_uid *u, const char *type, const char *id)
{
    cedar_uid_init(u, type, strlen(type), id, strlen(id));
}

static int str_attr(struct arena *a, struct cedar_attr *at, const char *key, const char *val)
{
    at->key.ptr = key;
    at->key.len = strlen(key);
    return cedar_value_string(a, val, strlen(val), &at->val);
}

/* The agent named by the route: its owner, or exists = false.  0, or the
 * store's error (the caller answers it: fail closed). */
static int agent_owner(struct http_req *rq, const char **owner, int *exists, struct err *e)
{
    json_t *j = NULL;
    int r;

    *owner = "";
    *exists = 0;
    r = broker_get(rq->broker, NULL, BROKER_AGENT, rq->params[0], &rq->arena, &j, e);
    if (r == ERR_NOTFOUND) {
        return 0;
    }
    if (r != 0) {
        return r;
    }
    *exists = 1;
    *owner = json_string_value(json_object_get(j, "owner"));
    *owner = arena_strdup(&rq->arena, *owner != NULL ? *owner : "");
    json_decref(j);
    return *owner != NULL ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

/* Adds the principal (and its role) and the resource to es; fills req. */
static int build(struct http_req *rq, const struct api_action *act, struct cedar_entities *es,
                 struct cedar_request *req, int *store_failed, struct err *e)
{
    struct arena *a = cedar_entities_arena(es);
    const char *role = broker_role_name(rq->caller.role), *owner = "";
    struct cedar_attr at[2], ctx[2];
    struct cedar_value attrs, rattrs;
    struct cedar_uid ru;
    int r, exists = 0;

    uid(&ru, T_ROLE, role != NULL ? role : "none");
    uid(&req->principal, T_CALLER, rq->caller.key_id != NULL ? rq->caller.key_id : "");
    uid(&req->action, T_ACTION, act->action);
    if ((r = str_attr(a, &at[0], "role", role != NULL ? role : "none")) != 0 ||
        (r = str_attr(a, &at[1], "subject", rq->caller.subject ? rq->caller.subject : "")) != 0 ||
        (r = cedar_value_record(a, at, 2, &attrs, e)) != 0 ||
        (r = cedar_entities_add(es, &ru, NULL, NULL, NULL, 0, false, e)) != 0 ||
        (r = cedar_entities_add(es, &req->principal, &attrs, NULL, &ru, 1, false, e)) != 0) {
        return r;
    }
    if (act->endpoint != AGENT) {
        uid(&req->resource, T_ENDPOINT, act->endpoint);
    } else {
        if ((r = agent_owner(rq, &owner, &exists, e)) != 0) {
            *store_failed = 1;
            return r;
        }
        uid(&req->resource, T_AGENT, rq->params[0]);
        at[1].key.ptr = "exists";
        at[1].key.len = 6;
        at[1].val = cedar_value_bool(exists != 0);
        if ((r = str_attr(a, &at[0], "owner", owner)) != 0 ||
            (r = cedar_value_record(a, at, 2, &rattrs, e)) != 0 ||
            (r = cedar_entities_add(es, &req->resource, &rattrs, NULL, NULL, 0, false, e)) != 0) {
            return r;
        }
    }
    if ((r = str_attr(&rq->arena, &ctx[0], "method", rq->method)) != 0 ||
        (r = str_attr(&rq->arena, &ctx[1], "path", rq->path)) != 0 ||
        (r = cedar_value_record(&rq->arena, ctx, 2, &req->context, e)) != 0) {
        return r;
    }
    return cedar_entities_finish(es, e);
}

/* The decision: 1 allow, 0 deny, or a negative error (deny too). */
static int decide(struct http_req *rq, const struct api_action *act, const char **why,
                  int *store_failed, struct err *e)
{
    struct cedar_entities *es = NULL;
    struct cedar_request req;
    struct cedar_response resp;
    int r;

    memset(&req, 0, sizeof(req));
    *why = "no_permit";
    if ((r = cedar_entities_new(&es)) != 0) {
        return err_set(e, r, "api policies: out of memory");
    }
    r = build(rq, act, es, &req, store_failed, e);
    if (r == 0) {
        r = cedar_authorize(rq->authz->ps, es, &req, &rq->arena, &resp, e);
    }
    if (r == 0 && resp.nerrors > 0) {
        /* Fail closed: a policy that errors denies, whatever the rest say. */
        *why = arena_printf(&rq->arena, "policy_error:%s", resp.errors[0].policy);
        r = 0;
    } else if (r == 0) {
        if (resp.decision != CEDAR_ALLOW && resp.nreasons > 0) {
            *why = resp.reasons[0];
        }
        r = resp.decision == CEDAR_ALLOW;
    }
    cedar_entities_free(es);
    return r;
}

int http_authz_check(struct http_req *rq, const struct http_route *route)
{
    const struct api_action *act = NULL;
    const char *why = "no_action";
    struct err e;
    size_t i;
    int r = 0, store_failed = 0;

    err_clear(&e);
    for (i = 0; rq->authz != NULL && i < rq->authz->nmap; i++) {
        if (rq->authz->map[i].route == route) {
            act = rq->authz->map[i].act;
            break;
        }
    }
    if (act != NULL) {
        r = decide(rq, act, &why, &store_failed, &e);
    }
    if (r == 1) {
        return 0;
    }
    if (r < 0 && store_failed) {
        http_reply_err(rq, &e); /* the store could not say who owns the agent: 503 */
        return -1;
    }
    log_event(LOG_INFO, "api_denied", rq->id, "action", act ? act->action : "none", "policy", why,
              "detail", r < 0 ? e.msg : "", (const char *)NULL);
    if (act != NULL && act->endpoint == AGENT && rq->caller.role == ROLE_OWNER) {
        /* As the broker answers for an agent an owner does not own: not
         * found, and (as there) not a trail record: the access log has it. */
        (void)err_set(&e, ERR_NOTFOUND, "no agent \"%s\"", rq->params[0]);
        http_reply_err(rq, &e);
    } else {
        if (broker_audit_refusal(rq->broker, &rq->caller, rq->method, rq->path, "policy", &e) !=
            0) {
            log_event(LOG_WARN, "audit_failed", rq->id, "detail", e.msg, (const char *)NULL);
        }
        http_reply_problem(rq, 403, "Forbidden",
                           "the API policy does not allow this caller to do this", NULL);
    }
    return -1;
}
