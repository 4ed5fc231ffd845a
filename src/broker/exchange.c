/*
 * exchange.c: the token exchange (RFC 8693) of the access path: a workload
 * credential (and, on behalf of a person, that person's ID token) plus a
 * task described as RFC 9396 authorization_details of type mandate_task, and
 * optionally a DPoP proof (RFC 9449), become one task: a stored task record
 * and a short-lived task token bound to the agent's key.
 *
 * The decision chain, each step a stable reason when it refuses:
 *   request shape -> credential verifies and maps to an active agent with
 *   an active owner (and the human, if any, is active) -> DPoP proof ->
 *   environment -> intent among the standing entitlements -> requested scope
 *   inside the intent -> TTL within the intent's maximum -> Cedar StartTask
 *   -> issue.
 * Every exchange writes one audit record; a refusal stores nothing else.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

#define GT_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"
#define TT_JWT "urn:ietf:params:oauth:token-type:jwt"
#define TT_ID "urn:ietf:params:oauth:token-type:id_token"
#define TT_ACCESS "urn:ietf:params:oauth:token-type:access_token"

/* A delegation: subject_token is the parent's task token (TT_ACCESS), the
 * actor_token the sub-agent's workload credential. */

/* What the request asked for, checked for shape. */
struct task_req {
    const char *intent;
    json_t *tools; /* array of {"name","actions"} or NULL: the intent's */
    json_t *data_labels;
    json_t *downstream;
    const char *purpose;
    const char *environment;
    int64_t ttl_s;  /* 0: default */
    int64_t budget; /* 0: default (delegation only) */
};

/* The exchange in progress. */
struct xch {
    struct broker *b;
    const struct broker_exchange_req *rq;
    struct arena *a;
    struct broker_exchange_result *out;
    struct broker_workload wl;
    const char *human;
    const char *jkt;
    struct task_req tr;
    struct store_intent intent;
    json_t *granted; /* the granted mandate_task object */
    json_t *reasons;
    int64_t policy_version;
    struct store_task task;
    const char *jti;
    /* delegation */
    int deleg;
    struct tasks_token ptk; /* the parent's token and task */
    int64_t depth;          /* of the new task: 0 root, parent's + 1 */
    int64_t budget;         /* carved from the parent */
    int64_t parent_carved;  /* the parent's carved count with this carve */
    const char *parent_agent;
    const char *scope_reason; /* "scope_exceeds_intent" or "_parent" */
    int parent_pop;           /* the DPoP proof was the (bound) parent's */
};

/* ---- results ------------------------------------------------------------------- */

static int fail(struct xch *x, unsigned status, const char *error, const char *reason,
                const char *desc, int code)
{
    struct broker_exchange_result *o = x->out;

    o->http_status = status;
    o->error = error;
    o->error_description = arena_strdup(x->a, desc);
    if (x->reasons == NULL) {
        x->reasons = json_array();
    }
    if (reason != NULL && x->reasons != NULL) {
        json_array_append_new(x->reasons, json_string(reason));
    }
    return code;
}

void broker_exchange_result_clear(struct broker_exchange_result *out)
{
    if (out == NULL) {
        return;
    }
    json_decref(out->authorization_details);
    json_decref(out->reasons);
    memset(out, 0, sizeof(*out));
}

static char *random_id(struct arena *a, const char *prefix)
{
    unsigned char r[16];
    char *s = NULL, *out;
    size_t n;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
        jose_b64url_encode(r, sizeof(r), &s, &n) != 0) {
        return NULL;
    }
    out = arena_printf(a, "%s%s", prefix, s);
    free(s);
    return out;
}

/* ---- request shape ---------------------------------------------------------------- */

static int strings_ok(json_t *v, size_t max)
{
    size_t i;

    if (!json_is_array(v) || json_array_size(v) > max) {
        return 0;
    }
    for (i = 0; i < json_array_size(v); i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (s == NULL || s[0] == '\0' || strlen(s) > LIMIT_ID_LEN) {
            return 0;
        }
    }
    return 1;
}

static int tools_ok(json_t *v)
{
    size_t i;

    if (!json_is_array(v) || json_array_size(v) > LIMIT_INTENT_TOOLS) {
        return 0;
    }
    for (i = 0; i < json_array_size(v); i++) {
        json_t *t = json_array_get(v, i);
        const char *k;
        json_t *m;
        if (!json_is_object(t) || !json_is_string(json_object_get(t, "name")) ||
            !strings_ok(json_object_get(t, "actions"), LIMIT_TOOL_ACTIONS)) {
            return 0;
        }
        json_object_foreach(t, k, m)
        {
            if (strcmp(k, "name") != 0 && strcmp(k, "actions") != 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* Parses authorization_details into x->tr (references borrowed from doc). */
static int parse_details(struct xch *x, json_t *doc)
{
    static const char *const known[] = {"type",       "intent",  "tools",       "data_labels",
                                        "downstream", "purpose", "environment", "ttl",
                                        "locations",  "budget"};
    json_t *d, *v;
    const char *k;
    size_t i;

    if (!json_is_array(doc) || json_array_size(doc) == 0) {
        return fail(x, 400, "invalid_authorization_details", "malformed_details",
                    "authorization_details must be a non-empty JSON array", ERR_INVALID);
    }
    for (i = 0; i < json_array_size(doc); i++) {
        const char *type = json_string_value(json_object_get(json_array_get(doc, i), "type"));
        if (type == NULL || strcmp(type, BROKER_AUTHZ_TYPE) != 0) {
            return fail(x, 400, "invalid_authorization_details", "unknown_details_type",
                        "only authorization_details of type mandate_task are accepted",
                        ERR_INVALID);
        }
    }
    if (json_array_size(doc) > LIMIT_ACCESS_AUTHZ_ENTRIES) {
        return fail(x, 400, "invalid_authorization_details", "malformed_details",
                    "a task is exactly one mandate_task", ERR_INVALID);
    }
    d = json_array_get(doc, 0);
    json_object_foreach(d, k, v)
    {
        size_t j;
        for (j = 0; j < sizeof(known) / sizeof(known[0]) && strcmp(k, known[j]) != 0; j++) {
        }
        if (j == sizeof(known) / sizeof(known[0]) || strcmp(k, "locations") == 0) {
            char *m = arena_printf(x->a, "mandate_task: unknown member \"%.64s\"", k);
            return fail(x, 400, "invalid_authorization_details", "malformed_details",
                        m ? m : "mandate_task: unknown member", ERR_INVALID);
        }
    }
    x->tr.intent = json_string_value(json_object_get(d, "intent"));
    x->tr.purpose = json_string_value(json_object_get(d, "purpose"));
    x->tr.environment = json_string_value(json_object_get(d, "environment"));
    x->tr.tools = json_object_get(d, "tools");
    x->tr.data_labels = json_object_get(d, "data_labels");
    x->tr.downstream = json_object_get(d, "downstream");
    v = json_object_get(d, "ttl");
    if (x->tr.intent == NULL || broker_id_check("intent", x->tr.intent, &(struct err){0}) != 0 ||
        (json_object_get(d, "purpose") &&
         (x->tr.purpose == NULL || strlen(x->tr.purpose) > LIMIT_ACCESS_PURPOSE_LEN)) ||
        (json_object_get(d, "environment") &&
         (x->tr.environment == NULL || strlen(x->tr.environment) > LIMIT_ID_LEN)) ||
        (x->tr.tools && !tools_ok(x->tr.tools)) ||
        (x->tr.data_labels && !strings_ok(x->tr.data_labels, LIMIT_INTENT_LABELS)) ||
        (x->tr.downstream && !strings_ok(x->tr.downstream, LIMIT_INTENT_DOWNSTREAM)) ||
        (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
               json_integer_value(v) > LIMIT_INTENT_TTL_MAX_S))) {
        return fail(x, 400, "invalid_authorization_details", "malformed_details",
                    "mandate_task: intent (an id) is required; tools [{name, actions}], "
                    "data_labels, downstream (string arrays), purpose, environment (strings), "
                    "ttl (seconds, 1..86400) are optional",
                    ERR_INVALID);
    }
    x->tr.ttl_s = v ? (int64_t)json_integer_value(v) : 0;
    v = json_object_get(d, "budget");
    if (v != NULL &&
        (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT32_MAX)) {
        return fail(x, 400, "invalid_authorization_details", "malformed_details",
                    "mandate_task: budget is a number of calls (1 or more)", ERR_INVALID);
    }
    if (v != NULL && !x->deleg) {
        return fail(x, 400, "invalid_authorization_details", "malformed_details",
                    "mandate_task: budget is for delegations only (the intent sets a task's)",
                    ERR_INVALID);
    }
    x->tr.budget = v ? (int64_t)json_integer_value(v) : 0;
    return 0;
}

/* An RFC 7638 SHA-256 thumbprint: 43 base64url characters. */
static int jkt_ok(const char *s)
{
    size_t i, n = strlen(s);

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return 0;
        }
    }
    return n == JOSE_JKT_LEN;
}

static int check_form(struct xch *x)
{
    const struct broker_exchange_req *rq = x->rq;

    if (rq->grant_type == NULL) {
        return fail(x, 400, "invalid_request", "missing_parameter", "grant_type is required",
                    ERR_INVALID);
    }
    if (strcmp(rq->grant_type, GT_EXCHANGE) != 0) {
        return fail(x, 400, "unsupported_grant_type", "unsupported_grant_type",
                    "only " GT_EXCHANGE " is supported", ERR_INVALID);
    }
    if (rq->subject_token == NULL || rq->subject_token_type == NULL) {
        return fail(x, 400, "invalid_request", "missing_parameter",
                    "subject_token and subject_token_type are required", ERR_INVALID);
    }
    if ((rq->actor_token == NULL) != (rq->actor_token_type == NULL)) {
        return fail(x, 400, "invalid_request", "missing_parameter",
                    "actor_token and actor_token_type go together", ERR_INVALID);
    }
    if (rq->actor_token == NULL && strcmp(rq->subject_token_type, TT_JWT) != 0) {
        return fail(x, 400, "invalid_request", "unsupported_token_type",
                    "subject_token_type must be " TT_JWT " (the workload credential)", ERR_INVALID);
    }
    x->deleg = rq->actor_token != NULL && strcmp(rq->subject_token_type, TT_ACCESS) == 0;
    if (rq->actor_token != NULL && ((strcmp(rq->subject_token_type, TT_ID) != 0 &&
                                     strcmp(rq->subject_token_type, TT_ACCESS) != 0 &&
                                     strcmp(rq->subject_token_type, TT_JWT) != 0) ||
                                    strcmp(rq->actor_token_type, TT_JWT) != 0)) {
        return fail(x, 400, "invalid_request", "unsupported_token_type",
                    "on behalf of a human: subject_token_type " TT_ID
                    " (the human's ID token); a delegation: " TT_ACCESS
                    " (the parent's task token); and actor_token_type " TT_JWT,
                    ERR_INVALID);
    }
    if (rq->requested_token_type != NULL && strcmp(rq->requested_token_type, TT_ACCESS) != 0) {
        return fail(x, 400, "invalid_request", "unsupported_token_type",
                    "requested_token_type: only " TT_ACCESS, ERR_INVALID);
    }
    if (rq->authorization_details == NULL) {
        return fail(x, 400, "invalid_request", "missing_parameter",
                    "authorization_details (a mandate_task) is required", ERR_INVALID);
    }
    if (rq->dpop_jkt != NULL && (!x->deleg || !jkt_ok(rq->dpop_jkt))) {
        return fail(x, 400, "invalid_request", "invalid_dpop_jkt",
                    x->deleg ? "dpop_jkt: a JWK SHA-256 thumbprint (43 base64url characters)"
                             : "dpop_jkt names a sub-agent's key: delegations only (a task's own "
                               "key is proven with a DPoP proof)",
                    ERR_INVALID);
    }
    return 0;
}

static int deny(struct xch *x, const char *reason, const char *desc);

/* ---- credentials -------------------------------------------------------------------- */

/* The number of agents an act claim nests (1: a root task's token). */
static int64_t act_hops(const json_t *act)
{
    int64_t n = 0;

    while (json_is_object(act) && n <= LIMIT_DELEG_DEPTH_MAX + 1) {
        n++;
        act = json_object_get(act, "act");
    }
    return n;
}

json_t *broker_act_chain(const json_t *claims)
{
    const json_t *act = json_object_get(claims, "act");
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *root_agent = NULL;
    json_t *chain = json_array();
    int n = 0;

    while (chain != NULL && json_is_object(act) && n++ <= LIMIT_DELEG_DEPTH_MAX + 1) {
        const char *a = json_string_value(json_object_get(act, "sub"));
        if (a != NULL) {
            json_array_insert_new(chain, 0, json_pack("{s:s,s:s}", "kind", "agent", "id", a));
            root_agent = a;
        }
        act = json_object_get(act, "act");
    }
    if (chain != NULL && sub != NULL && (root_agent == NULL || strcmp(sub, root_agent) != 0)) {
        json_array_insert_new(chain, 0, json_pack("{s:s,s:s}", "kind", "human", "id", sub));
    }
    return chain;
}

/* Proof of possession of a DPoP-bound parent token (docs/delegation.md):
 * the request's DPoP proof must be signed by the parent's key (cnf.jkt),
 * carry ath = the hash of the parent token (RFC 9449 section 4.2: the
 * token it presents), name this endpoint (htm, htu), be fresh (iat) and
 * unseen (jti); the child's key comes as dpop_jkt.  A stolen parent token
 * alone cannot delegate.  A bearer parent: check_dpop as for a root task. */
static int check_parent_pop(struct xch *x, const struct btask *p, struct err *e)
{
    struct jose_dpop_opts o;
    struct jose_dpop_result res;
    enum jose_reason why = JOSE_R_OK;
    int r;

    if (p->jkt == NULL) {
        return 0;
    }
    if (x->rq->dpop == NULL) {
        return fail(x, 400, "invalid_dpop_proof", "dpop_parent_proof_required",
                    "the parent task token is DPoP-bound: send a DPoP proof by the parent's key",
                    ERR_AUTH);
    }
    if (x->rq->dpop_jkt == NULL) {
        return fail(x, 400, "invalid_request", "dpop_jkt_required",
                    "a task delegated from a DPoP-bound task is DPoP-bound: name the sub-agent's "
                    "key thumbprint in dpop_jkt",
                    ERR_INVALID);
    }
    memset(&o, 0, sizeof(o));
    o.htm = x->rq->htm;
    o.htu = x->rq->htu;
    o.access_token = x->rq->subject_token;
    o.replay = x->b->rt->dpop_replay;
    o.skew_s = -1;
    memset(&res, 0, sizeof(res));
    r = jose_dpop_verify(x->rq->dpop, strlen(x->rq->dpop), &o, &res, &why, e);
    if (r != 0) {
        const char *n = jose_reason_name(why);
        return fail(x, 400, "invalid_dpop_proof",
                    strncmp(n, "dpop_", 5) == 0 ? n : arena_printf(x->a, "dpop_%s", n),
                    arena_printf(x->a, "the parent's DPoP proof refused: %s", n), r);
    }
    r = strcmp(res.jkt, p->jkt);
    jose_dpop_result_clear(&res);
    if (r != 0) {
        return fail(x, 400, "invalid_dpop_proof", "dpop_not_parent_key",
                    "the DPoP proof is not signed by the key the parent task token is bound to",
                    ERR_AUTH);
    }
    x->parent_pop = 1;
    x->jkt = x->rq->dpop_jkt; /* syntax checked in check_form */
    return 0;
}

/* A delegation: the parent's task token must verify, its task be live; the
 * new task acts for the same human (or root agent). */
static int check_parent(struct xch *x, struct err *e)
{
    const char *why = NULL;
    struct btask *p;
    int r;

    r = tasks_token_resolve(x->b, x->rq->subject_token, strlen(x->rq->subject_token), &x->ptk, &why,
                            e);
    if (r == ERR_AUTH) {
        return fail(x, 400, "invalid_grant", "invalid_subject_token",
                    arena_printf(x->a, "subject_token (the parent's task token) refused: %s",
                                 why ? why : "invalid"),
                    r);
    }
    if (r != 0) {
        return fail(x, 503, "temporarily_unavailable", "unavailable",
                    "the parent task cannot be checked now", r);
    }
    p = x->ptk.task;
    if ((r = check_parent_pop(x, p, e)) != 0) {
        return r;
    }
    pthread_mutex_lock(&p->mu);
    r = strcmp(p->state, "active") == 0 && p->expires_ms > clock_wall_ms();
    pthread_mutex_unlock(&p->mu);
    if (!r) {
        return deny(x, "parent_task_ended", "the parent task is not active");
    }
    x->human = p->human;
    x->parent_agent = p->agent;
    x->depth = act_hops(json_object_get(x->ptk.claims, "act"));
    if (broker_attenuate_depth(x->depth, x->b->rt->max_delegation_depth) != NULL) {
        return deny(x, "depth_exceeded",
                    arena_printf(x->a, "delegation depth %lld is over the limit of %d",
                                 (long long)x->depth, x->b->rt->max_delegation_depth));
    }
    return 0;
}

/* No new task for an agent a kill switch covers (nor below a parent it
 * covers: that parent's task was revoked when the switch engaged). */
static int check_killswitch(struct xch *x)
{
    if (broker_killswitch_covers(x->b, x->wl.agent.id, x->wl.agent.owner, x->wl.agent.team)) {
        return deny(x, "killswitch_engaged", "a kill switch covers this agent");
    }
    return 0;
}

static int check_credentials(struct xch *x, struct err *e)
{
    const struct broker_exchange_req *rq = x->rq;
    const char *wtok = rq->actor_token ? rq->actor_token : rq->subject_token;
    const char *code = NULL;
    char *m;
    int r;

    r = broker_workload_verify(x->b, wtok, strlen(wtok), x->a, &x->wl, &code, e);
    if (r == ERR_AUTH) {
        m = arena_printf(x->a, "workload credential refused: %s", code);
        /* A known agent that may not act is a denial, not a bad grant. */
        if (strcmp(code, "agent_suspended") == 0 || strcmp(code, "agent_offboarded") == 0 ||
            strcmp(code, "owner_inactive") == 0) {
            return fail(x, 403, "access_denied", code, m, r);
        }
        return fail(x, 400, "invalid_grant", code, m, r);
    }
    if (r != 0) {
        return fail(x, 503, "temporarily_unavailable", "unavailable",
                    "the credential cannot be checked now", r);
    }
    if (rq->actor_token == NULL) {
        return 0;
    }
    if (x->deleg) {
        return check_parent(x, e);
    }
    r = broker_human_verify(x->b, rq->subject_token, strlen(rq->subject_token), x->a, &x->human,
                            &code, e);
    if (r == ERR_AUTH) {
        m = arena_printf(x->a, "subject_token (the human's ID token) refused: %s", code);
        return fail(x, strcmp(code, "human_inactive") == 0 ? 403 : 400,
                    strcmp(code, "human_inactive") == 0 ? "access_denied" : "invalid_grant", code,
                    m, r);
    }
    if (r != 0) {
        return fail(x, 503, "temporarily_unavailable", "unavailable",
                    "the credential cannot be checked now", r);
    }
    return 0;
}

static int check_dpop(struct xch *x, struct err *e)
{
    struct jose_dpop_opts o;
    struct jose_dpop_result res;
    enum jose_reason why = JOSE_R_OK;
    char *m;
    int r;

    if (x->parent_pop) {
        return 0; /* the proof was the parent's; the child's key is dpop_jkt */
    }
    if (x->rq->dpop == NULL && x->rq->dpop_jkt != NULL) {
        x->jkt = x->rq->dpop_jkt; /* bound to a key named, not proven (section 10) */
        return 0;
    }
    if (x->rq->dpop == NULL) {
        if (x->intent.dpop_required) {
            return fail(x, 400, "invalid_dpop_proof", "dpop_required",
                        "this intent requires a DPoP-bound token: send a DPoP proof", ERR_AUTH);
        }
        return 0;
    }
    memset(&o, 0, sizeof(o));
    o.htm = x->rq->htm;
    o.htu = x->rq->htu;
    o.replay = x->b->rt->dpop_replay;
    o.keys = x->b->rt->dpop_keys;
    o.skew_s = -1;
    memset(&res, 0, sizeof(res));
    r = jose_dpop_verify(x->rq->dpop, strlen(x->rq->dpop), &o, &res, &why, e);
    if (r != 0) {
        m = arena_printf(x->a, "DPoP proof refused: %s", jose_reason_name(why));
        return fail(x, 400, "invalid_dpop_proof",
                    arena_printf(x->a, "dpop_%s", jose_reason_name(why)), m, r);
    }
    r = x->rq->dpop_jkt != NULL && strcmp(x->rq->dpop_jkt, res.jkt) != 0;
    x->jkt = arena_strdup(x->a, res.jkt);
    jose_dpop_result_clear(&res);
    if (r) {
        /* RFC 9449 section 10: a proof and dpop_jkt must name one key */
        return fail(x, 400, "invalid_dpop_proof", "dpop_jkt_mismatch",
                    "dpop_jkt does not match the DPoP proof's key", ERR_AUTH);
    }
    return 0;
}

/* ---- scope ------------------------------------------------------------------------------ */

static int in_strings(json_t *arr, const char *s)
{
    size_t i;

    for (i = 0; i < json_array_size(arr); i++) {
        if (strcmp(json_string_value(json_array_get(arr, i)), s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "a,b" lists: is env one of them? */
static int env_in(const char *list, const char *env)
{
    size_t n = strlen(env);
    const char *p = list;

    while (p != NULL && *p != '\0') {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        while (l > 0 && *p == ' ') {
            p++;
            l--;
        }
        if (l == n && strncmp(p, env, n) == 0) {
            return 1;
        }
        p = c ? c + 1 : NULL;
    }
    return 0;
}

static int deny(struct xch *x, const char *reason, const char *desc)
{
    return fail(x, 403, "access_denied", reason, desc, ERR_FORBIDDEN);
}

static int check_entitled(struct xch *x, struct err *e)
{
    struct store *s = x->b->store;
    struct store_entitlement *ents;
    size_t n, i;
    int r;

    if (x->deleg) {
        const struct btask *p = x->ptk.task;
        const char *penv = json_string_value(json_object_get(p->granted, "environment"));
        if (strcmp(x->tr.intent, p->intent) != 0) {
            return deny(
                x, "intent_differs_from_parent",
                arena_printf(x->a, "a delegation carries the parent's intent (%s)", p->intent));
        }
        if (x->tr.environment != NULL && penv != NULL && strcmp(x->tr.environment, penv) != 0) {
            return deny(x, "environment_differs_from_parent",
                        "a delegation runs in the parent's environment");
        }
        if (x->tr.environment == NULL && penv != NULL) {
            x->tr.environment = arena_strdup(x->a, penv);
        }
    }
    if (x->tr.environment == NULL) {
        x->tr.environment = x->wl.agent.environment;
        if (strchr(x->tr.environment, ',') != NULL) {
            return fail(x, 400, "invalid_authorization_details", "missing_environment",
                        "mandate_task: environment is required (the agent has several)",
                        ERR_INVALID);
        }
    } else if (!env_in(x->wl.agent.environment, x->tr.environment)) {
        return deny(x, "wrong_environment",
                    arena_printf(x->a, "the agent is not registered for environment %s",
                                 x->tr.environment));
    }
    r = s->ops->entitlement_list(s, x->wl.agent.id, x->a, &ents, &n, e);
    if (r != 0) {
        return fail(x, 503, "temporarily_unavailable", "unavailable", "the store cannot answer", r);
    }
    for (i = 0; i < n && strcmp(ents[i].intent, x->tr.intent) != 0; i++) {
    }
    if (i == n) {
        return deny(x, "intent_not_entitled",
                    arena_printf(x->a, "intent %s is not among the agent's standing entitlements",
                                 x->tr.intent));
    }
    r = s->ops->intent_get(s, x->tr.intent, x->a, &x->intent, e);
    if (r == ERR_NOTFOUND) {
        return deny(x, "intent_not_entitled", "no such intent");
    }
    if (r != 0) {
        return fail(x, 503, "temporarily_unavailable", "unavailable", "the store cannot answer", r);
    }
    return 0;
}

/* Granted tools: the requested ones, each inside the intent; or the intent's. */
static int grant_tools(struct xch *x, json_t *itools, json_t *out)
{
    const char *name;
    json_t *acts;
    size_t i, j;

    if (x->tr.tools == NULL) {
        json_object_foreach(itools, name, acts)
        {
            json_array_append_new(out, json_pack("{s:s,s:O}", "name", name, "actions", acts));
        }
        return 0;
    }
    for (i = 0; i < json_array_size(x->tr.tools); i++) {
        json_t *t = json_array_get(x->tr.tools, i);
        json_t *ra = json_object_get(t, "actions");
        name = json_string_value(json_object_get(t, "name"));
        acts = json_object_get(itools, name);
        if (acts == NULL) {
            return deny(x, x->scope_reason,
                        arena_printf(x->a, "tool %.128s is not in intent %s", name, x->intent.id));
        }
        for (j = 0; j < json_array_size(ra); j++) {
            const char *ac = json_string_value(json_array_get(ra, j));
            if (!in_strings(acts, ac)) {
                return deny(x, x->scope_reason,
                            arena_printf(x->a, "action %.64s on tool %.128s is not in intent %s",
                                         ac, name, x->intent.id));
            }
        }
        json_array_append_new(out, json_pack("{s:s,s:O}", "name", name, "actions", ra));
    }
    return 0;
}

static int grant_strings(struct xch *x, json_t *req, json_t *allowed, const char *what,
                         json_t **out)
{
    size_t i;

    if (req == NULL) {
        *out = json_incref(allowed);
        return 0;
    }
    for (i = 0; i < json_array_size(req); i++) {
        const char *s = json_string_value(json_array_get(req, i));
        if (!in_strings(allowed, s)) {
            return deny(x, x->scope_reason,
                        arena_printf(x->a, "%s %.128s is not in intent %s", what, s, x->intent.id));
        }
    }
    *out = json_incref(req);
    return 0;
}

/* The downstream systems the granted tools reach (the default grant: a task
 * naming fewer tools reaches fewer systems). */
static int tools_downstream(struct xch *x, json_t *tools, json_t **out)
{
    struct err e;
    size_t i;

    *out = json_array();
    for (i = 0; *out != NULL && i < json_array_size(tools); i++) {
        const char *n = json_string_value(json_object_get(json_array_get(tools, i), "name"));
        struct store_tool t;
        err_clear(&e);
        if (x->b->store->ops->tool_get(x->b->store, n, x->a, &t, &e) != 0) {
            return fail(x, 503, "temporarily_unavailable", "unavailable", "the store cannot answer",
                        ERR_UNAVAILABLE);
        }
        if (!in_strings(*out, t.downstream)) {
            json_array_append_new(*out, json_string(t.downstream));
        }
    }
    return *out ? 0 : fail(x, 500, "server_error", "internal", "out of memory", ERR_NOMEM);
}

/* A delegation's ceiling: the parent's granted scope in the intent's shape
 * (tools as {name: actions}). */
static void parent_ceiling(struct xch *x, json_t **itools, json_t **ilabels, json_t **idown)
{
    const json_t *g = x->ptk.task->granted;
    json_t *pt = json_object_get(g, "tools");
    size_t i;

    *itools = json_object();
    for (i = 0; *itools && i < json_array_size(pt); i++) {
        json_t *t = json_array_get(pt, i);
        const char *n = json_string_value(json_object_get(t, "name"));
        json_t *acts = json_object_get(t, "actions");
        if (n != NULL && json_is_array(acts)) {
            json_object_set(*itools, n, acts);
        }
    }
    *ilabels = json_incref(json_object_get(g, "data_labels"));
    *idown = json_incref(json_object_get(g, "downstream"));
    if (*ilabels == NULL) {
        *ilabels = json_array();
    }
    if (*idown == NULL) {
        *idown = json_array();
    }
}

/* A delegation's expiry and budget: inside the parent's (attenuate.c). */
static int check_carve(struct xch *x)
{
    struct btask *p = x->ptk.task;
    int64_t left_s = p->expires_ms / 1000 - clock_wall_s(), avail, ttl, budget;
    const char *why;

    pthread_mutex_lock(&p->mu);
    avail = p->budget - p->calls - p->carved;
    pthread_mutex_unlock(&p->mu);
    why = broker_attenuate_carve(x->tr.ttl_s, x->tr.budget, left_s, avail, x->b->rt->default_ttl_s,
                                 &ttl, &budget);
    if (why == NULL) {
        x->tr.ttl_s = ttl;
        x->budget = budget;
        return 0;
    }
    if (strcmp(why, "expiry_exceeds_parent") == 0) {
        return deny(x, why,
                    arena_printf(x->a, "ttl %lld s would outlive the parent task (%lld s left)",
                                 (long long)x->tr.ttl_s, (long long)left_s));
    }
    if (strcmp(why, "budget_exceeds_parent") == 0) {
        return deny(x, why,
                    avail < 1
                        ? "the parent task has no calls left to hand on"
                        : arena_printf(x->a, "budget %lld is over the parent's %lld calls left",
                                       (long long)x->tr.budget, (long long)avail));
    }
    return deny(x, why, "the parent task has (almost) expired");
}

static int check_scope(struct xch *x)
{
    json_t *itools = NULL, *ilabels = NULL, *idown = NULL;
    json_t *tools = json_array(), *labels = NULL, *down = NULL;
    int r = 0;

    x->scope_reason = x->deleg ? "scope_exceeds_parent" : "scope_exceeds_intent";
    if (x->deleg) {
        const char *what, *item,
            *why = broker_attenuate_scope(x->ptk.task->granted, x->tr.tools, x->tr.data_labels,
                                          x->tr.downstream, &what, &item);
        if (why != NULL) {
            json_decref(tools);
            return deny(
                x, why,
                arena_printf(x->a, "%s %.128s is not in the parent task's scope", what, item));
        }
        parent_ceiling(x, &itools, &ilabels, &idown);
    } else {
        itools = json_loads(x->intent.tools, 0, NULL);
        ilabels = json_loads(x->intent.data_labels, 0, NULL);
        idown = json_loads(x->intent.downstream, 0, NULL);
    }
    if (itools == NULL || ilabels == NULL || idown == NULL || tools == NULL) {
        r = fail(x, 500, "server_error", "internal", "the intent cannot be read", ERR_INTERNAL);
    }
    r = r ? r : grant_tools(x, itools, tools);
    r = r ? r : grant_strings(x, x->tr.data_labels, ilabels, "data label", &labels);
    if (x->tr.downstream == NULL) {
        r = r ? r : tools_downstream(x, tools, &down);
        if (r == 0 && x->deleg) {
            /* never wider than the parent's downstream */
            size_t i = json_array_size(down);
            while (i-- > 0) {
                if (!in_strings(idown, json_string_value(json_array_get(down, i)))) {
                    json_array_remove(down, i);
                }
            }
        }
    } else {
        r = r ? r : grant_strings(x, x->tr.downstream, idown, "downstream system", &down);
    }
    r = r ? r : (x->deleg ? check_carve(x) : 0);
    if (r == 0 && x->tr.ttl_s > x->intent.max_ttl_s) {
        r = deny(x, "ttl_exceeds_max",
                 arena_printf(x->a, "ttl %lld s is over the intent's maximum of %lld s",
                              (long long)x->tr.ttl_s, (long long)x->intent.max_ttl_s));
    }
    if (r == 0) {
        int64_t ttl = x->tr.ttl_s ? x->tr.ttl_s : x->b->rt->default_ttl_s;
        x->tr.ttl_s = ttl < x->intent.max_ttl_s ? ttl : x->intent.max_ttl_s;
        x->granted = json_pack("{s:s,s:s,s:O,s:O,s:O,s:s,s:s}", "type", BROKER_AUTHZ_TYPE, "intent",
                               x->intent.id, "tools", tools, "data_labels", labels, "downstream",
                               down, "purpose", x->tr.purpose ? x->tr.purpose : x->wl.agent.purpose,
                               "environment", x->tr.environment);
        if (x->granted == NULL) {
            r = fail(x, 500, "server_error", "internal", "out of memory", ERR_NOMEM);
        }
    }
    json_decref(itools);
    json_decref(ilabels);
    json_decref(idown);
    json_decref(tools);
    json_decref(labels);
    json_decref(down);
    return r;
}

/* ---- Cedar -------------------------------------------------------------------------------- */

static json_t *task_context(struct xch *x)
{
    json_t *g = x->granted, *actions = json_array(), *names = json_array();
    json_t *tools = json_object_get(g, "tools");
    size_t i, j;

    for (i = 0; i < json_array_size(tools); i++) {
        json_t *t = json_array_get(tools, i);
        const char *n = json_string_value(json_object_get(t, "name"));
        json_t *acts = json_object_get(t, "actions");
        json_array_append_new(names, json_string(n));
        for (j = 0; j < json_array_size(acts); j++) {
            char *s = arena_printf(x->a, "%s:%s", n, json_string_value(json_array_get(acts, j)));
            json_array_append_new(actions, json_string(s ? s : ""));
        }
    }
    return json_pack(
        "{s:s,s:o,s:o,s:O,s:O,s:O,s:s,s:I,s:I,s:b,s:s,s:b,s:I}", "intent", x->intent.id, "tools",
        names, "actions", actions, "data_labels", json_object_get(g, "data_labels"), "downstream",
        json_object_get(g, "downstream"), "purpose", json_object_get(g, "purpose"), "environment",
        x->tr.environment, "ttl", (json_int_t)x->tr.ttl_s, "now", (json_int_t)clock_wall_s(),
        "delegated", x->human != NULL, "human", x->human ? x->human : "", "dpop", x->jkt != NULL,
        "depth", (json_int_t)x->depth);
}

static int check_policy(struct xch *x, struct err *e)
{
    struct broker_policy_snapshot *snap = broker_policy_acquire(x->b);
    struct broker_decision d;
    json_t *ctx = task_context(x);
    size_t i;
    int r = 0;

    if (ctx == NULL) {
        broker_policy_release(snap);
        return fail(x, 500, "server_error", "internal", "out of memory", ERR_NOMEM);
    }
    if (x->deleg) {
        /* The delegating agent hands on to the sub-agent... */
        r = broker_decide(x->b, snap, BROKER_CEDAR_AGENT, x->parent_agent, "Delegate",
                          BROKER_CEDAR_AGENT, x->wl.agent.id, ctx, x->a, &d, e);
        if (r == 0 && !d.allow) {
            goto decided;
        }
    }
    /* ...and the sub-agent (or the agent) may start the task. */
    r = r ? r
          : broker_decide(x->b, snap, BROKER_CEDAR_AGENT, x->wl.agent.id, "StartTask",
                          BROKER_CEDAR_INTENT, x->intent.id, ctx, x->a, &d, e);
decided:
    json_decref(ctx);
    x->policy_version = snap ? snap->version : 0;
    broker_policy_release(snap);
    if (r != 0) {
        log_event(LOG_WARN, "exchange", x->rq->request_id, "msg", "decision failed: deny", "code",
                  err_name(r), "error", e->msg, (const char *)NULL);
        return deny(x, "policy_error", "the policy could not decide (fail closed)");
    }
    if (d.allow) {
        return 0;
    }
    x->reasons = json_array();
    for (i = 0; i < d.nreasons; i++) {
        json_array_append_new(x->reasons, json_string(d.reasons[i]));
    }
    return deny(x, NULL,
                d.errored ? "a policy errored while deciding (fail closed)" : "denied by policy");
}

/* ---- issue ------------------------------------------------------------------------------------
 */

static json_t *token_claims(struct xch *x, int64_t now)
{
    json_t *aud = json_array(), *down = json_object_get(x->granted, "downstream");
    json_t *c;
    size_t i;

    json_array_append_new(aud, json_string(BROKER_TOKEN_AUD));
    for (i = 0; i < json_array_size(down) && i < LIMIT_ACCESS_AUDIENCES; i++) {
        json_array_append(aud, json_array_get(down, i));
    }
    c = json_pack("{s:s,s:s,s:{s:s},s:o,s:I,s:I,s:I,s:s,s:s,s:s,s:[O],s:s}", "iss",
                  x->b->rt->issuer, "sub", x->human ? x->human : x->wl.agent.id, "act", "sub",
                  x->wl.agent.id, "aud", aud, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
                  (json_int_t)(now + x->tr.ttl_s), "jti", x->jti, "task", x->task.id, "intent",
                  x->intent.id, "authorization_details", x->granted, "env", x->tr.environment);
    if (c != NULL && x->jkt != NULL) {
        json_object_set_new(c, "cnf", json_pack("{s:s}", "jkt", x->jkt));
    }
    if (c != NULL && x->deleg) {
        /* RFC 8693 4.1: the current actor outermost, the chain nested. */
        json_t *pc = (json_t *)x->ptk.claims;
        json_object_set(c, "sub", json_object_get(pc, "sub"));
        json_object_set_new(
            c, "act",
            json_pack("{s:s,s:O}", "sub", x->wl.agent.id, "act", json_object_get(pc, "act")));
        json_object_set_new(c, "parent_task", json_string(x->ptk.task->id));
    }
    return c;
}

struct audit_tx {
    struct xch *x;
    struct broker_audit_rendered *rec; /* made by the caller (broker_audit_render) */
    int store_task;
    int64_t seq;
};

static int audit_fn(struct store *s, void *ctx, struct err *e)
{
    struct audit_tx *t = ctx;
    int r = 0;

    if (t->store_task) {
        r = s->ops->task_insert(s, &t->x->task, e);
    }
    if (r == 0 && t->store_task && t->x->deleg) {
        /* the carve survives a restart, committed with the child */
        r = s->ops->task_carved_raise(s, t->x->ptk.task->id, t->x->parent_carved, e);
    }
    return r ? r : broker_audit_write(s, t->rec, &t->seq, e);
}

static int record(struct xch *x, int store_task, struct err *e)
{
    struct broker_audit_event ev;
    struct broker_audit_rendered rec;
    struct broker_caller c = {NULL, ROLE_NONE, NULL, x->rq->request_id};
    struct audit_tx t = {x, &rec, store_task, 0};
    json_t *chain = x->deleg && x->ptk.claims ? broker_act_chain(x->ptk.claims) : json_array();
    json_t *detail;
    int r;

    memset(&ev, 0, sizeof(ev));
    if (x->wl.agent.id != NULL) {
        json_array_append_new(chain, json_pack("{s:s,s:s}", "kind", "agent", "id", x->wl.agent.id));
    }
    if (x->human != NULL && !x->deleg) {
        json_array_insert_new(chain, 0, json_pack("{s:s,s:s}", "kind", "human", "id", x->human));
    }
    detail = json_pack("{s:s?,s:s?,s:s?}", "error", x->out->error, "description",
                       x->out->error_description, "jkt", x->jkt);
    if (detail != NULL && x->deleg && x->ptk.task != NULL) {
        json_object_set_new(detail, "parent_task", json_string(x->ptk.task->id));
        json_object_set_new(detail, "depth", json_integer(x->depth));
        json_object_set_new(detail, "parent_proof", json_boolean(x->parent_pop));
    }
    ev.event = "task.exchange";
    ev.agent = x->wl.agent.id;
    ev.human = x->human;
    ev.intent = x->intent.id ? x->intent.id : x->tr.intent;
    ev.task = store_task ? x->task.id : NULL;
    ev.action = x->deleg ? "Delegate" : "StartTask";
    ev.resource = ev.intent ? arena_printf(x->a, "intent:%s", ev.intent) : NULL;
    ev.decision = store_task ? "allow" : "deny";
    ev.reasons = x->reasons;
    ev.detail = detail;
    ev.actor_chain = chain;
    ev.data_labels = json_object_get(x->granted, "data_labels");
    ev.policy_version = x->policy_version;
    /* Group commit with the checks: one fsync for everything in flight; the
     * record's JSON is made here, not on the commit thread. */
    r = broker_audit_render(&c, &ev, &rec, e);
    r = r ? r : commitq_run(tasks_commitq(x->b), x->b->store, audit_fn, &t, e);
    broker_audit_rendered_clear(&rec);
    json_decref(chain);
    json_decref(detail);
    x->out->audit_seq = t.seq;
    return r;
}

static int issue(struct xch *x, struct err *e)
{
    int64_t now = clock_wall_s();
    json_t *claims;
    char *tok = NULL;
    int r;

    x->jti = random_id(x->a, "");
    x->task.id = random_id(x->a, "tsk_");
    if (x->jti == NULL || x->task.id == NULL) {
        return fail(x, 500, "server_error", "internal", "no randomness", ERR_INTERNAL);
    }
    x->task.agent = x->wl.agent.id;
    x->task.intent = x->intent.id;
    x->task.on_behalf_of = x->human;
    x->task.scope = broker_json_text(x->granted, x->a);
    x->task.state = "active";
    x->task.created_ms = now * 1000;
    x->task.expires_ms = (now + x->tr.ttl_s) * 1000;
    x->task.jkt = x->jkt;
    x->task.parent = x->deleg ? x->ptk.task->id : NULL;
    if (x->deleg && tasks_carve(x->ptk.task, x->budget) != 0) {
        return deny(x, "budget_exceeds_parent", "the parent task has no calls left to hand on");
    }
    if (x->deleg) {
        x->task.budget = x->budget;
        pthread_mutex_lock(&x->ptk.task->mu);
        x->parent_carved = x->ptk.task->carved;
        pthread_mutex_unlock(&x->ptk.task->mu);
    }
    claims = token_claims(x, now);
    r = claims && x->task.scope ? broker_token_sign(x->b, claims, &tok, e) : ERR_NOMEM;
    json_decref(claims);
    if (r != 0) {
        if (x->deleg) {
            (void)tasks_carve(x->ptk.task, -x->budget); /* give it back */
        }
        return fail(x, 500, "server_error", "internal", "the token could not be signed", r);
    }
    x->out->access_token = arena_strdup(x->a, tok);
    free(tok);
    r = record(x, 1, e);
    if (r != 0) {
        x->out->access_token = NULL;
        if (x->deleg) {
            (void)tasks_carve(x->ptk.task, -x->budget); /* give it back */
        }
        return fail(x, r == ERR_UNAVAILABLE ? 503 : 500,
                    r == ERR_UNAVAILABLE ? "temporarily_unavailable" : "server_error", "store",
                    "the task could not be stored", r);
    }
    /* a delegated task's budget is its row's (x->task.budget, the carve) */
    r = broker_task_register(x->b, &x->task, x->jti, now + x->tr.ttl_s, e);
    if (r == 0 &&
        broker_killswitch_covers(x->b, x->wl.agent.id, x->wl.agent.owner, x->wl.agent.team)) {
        /* A switch engaged while this exchange ran: its scan may have
         * missed the task registered just now, so end it here. */
        struct btask *t = NULL;
        struct err ke;
        err_clear(&ke);
        if (tasks_get(x->b, x->task.id, &t, &ke) == 0) {
            pthread_mutex_lock(&t->mu);
            if (tasks_end_locked(x->b, t, "revoked", "killswitch", NULL, "task.revoke", NULL, NULL,
                                 &ke) != 0) {
                log_event(LOG_WARN, "exchange", x->rq->request_id, "msg",
                          "revoking a task the kill switch covers failed", "task", x->task.id,
                          (const char *)NULL);
            }
            pthread_mutex_unlock(&t->mu);
            btask_put(t);
        }
        x->out->access_token = NULL;
        return deny(x, "killswitch_engaged", "a kill switch covers this agent");
    }
    if (r != 0) {
        log_event(LOG_ERROR, "exchange", x->rq->request_id, "msg",
                  "task stored but not registered in memory", "task", x->task.id, "error", e->msg,
                  (const char *)NULL);
    }
    x->out->http_status = 200;
    x->out->token_type = x->jkt ? "DPoP" : "Bearer";
    x->out->expires_in = x->tr.ttl_s;
    x->out->task_id = x->task.id;
    x->out->authorization_details = json_pack("[O]", x->granted);
    return 0;
}

/* ---- the chain
 * ------------------------------------------------------------------------------------ */

int broker_exchange(struct broker *b, const struct broker_exchange_req *rq, struct arena *a,
                    struct broker_exchange_result *out, struct err *e)
{
    struct xch x;
    json_t *doc = NULL;
    int r, audited = 0;

    memset(out, 0, sizeof(*out));
    memset(&x, 0, sizeof(x));
    x.b = b;
    x.rq = rq;
    x.a = a;
    x.out = out;
    if (b->rt == NULL) {
        r = fail(&x, 503, "temporarily_unavailable", "unavailable", "not ready", ERR_UNAVAILABLE);
        goto out;
    }
    r = check_form(&x);
    if (r == 0) {
        json_error_t je;
        doc = strlen(rq->authorization_details) > LIMIT_ACCESS_AUTHZ_TEXT
                  ? NULL
                  : json_loads(rq->authorization_details, JSON_REJECT_DUPLICATES, &je);
        r = doc ? parse_details(&x, doc)
                : fail(&x, 400, "invalid_authorization_details", "malformed_details",
                       "authorization_details is not JSON (or is too large)", ERR_INVALID);
    }
    r = r ? r : check_credentials(&x, e);
    r = r ? r : check_killswitch(&x);
    r = r ? r : check_entitled(&x, e);
    r = r ? r : check_dpop(&x, e);
    r = r ? r : check_scope(&x);
    r = r ? r : check_policy(&x, e);
    if (r == 0) {
        r = issue(&x, e);
        audited = r == 0;
    }
out:
    if (r != 0 && !audited && out->http_status != 503) {
        struct err ae;
        err_clear(&ae);
        if (record(&x, 0, &ae) != 0) {
            log_event(LOG_ERROR, "exchange", rq->request_id, "msg", "audit record failed", "error",
                      ae.msg, (const char *)NULL);
        }
    }
    if (r != 0) {
        out->reasons = x.reasons ? x.reasons : json_array();
        x.reasons = NULL;
        err_set(e, r, "%s: %s", out->error, out->error_description ? out->error_description : "");
    }
    tasks_token_clear(&x.ptk);
    json_decref(x.reasons);
    json_decref(x.granted);
    json_decref(doc);
    return r;
}
