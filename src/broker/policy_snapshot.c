/*
 * policy_snapshot.c: the active policy snapshot and broker_decide.
 *
 * A snapshot is the compiled active policy version (Cedar policy set and
 * schema) plus the resident entities built from the registry (humans, teams,
 * agents, intents, tools and tool groups), immutable once built and
 * refcounted.  It is rebuilt when a version is activated (the policy hooks)
 * or the registry changed (the registry_changed hook marks it dirty; the
 * next acquire rebuilds), and swapped under the runtime lock: a request that
 * acquired the old one finishes with it.  Nothing is loaded per request.
 *
 * Decisions fail closed: an evaluation error of any policy denies (unless the
 * runtime was configured to ignore errors as plain Cedar does), a context
 * that does not parse denies, no active version denies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

/* ---- resident entities ------------------------------------------------------ */

static json_t *uid_json(const char *type, const char *id)
{
    return json_pack("{s:s,s:s}", "type", type, "id", id);
}

static json_t *ref_json(const char *type, const char *id)
{
    return json_pack("{s:o}", "__entity", uid_json(type, id));
}

static int push(json_t *arr, const char *type, const char *id, json_t *attrs, json_t *parents)
{
    json_t *o =
        json_pack("{s:o,s:o,s:o}", "uid", uid_json(type, id), "attrs",
                  attrs ? attrs : json_object(), "parents", parents ? parents : json_array());

    return o == NULL || json_array_append_new(arr, o) != 0 ? ERR_NOMEM : 0;
}

static json_t *parents1(const char *type, const char *id)
{
    json_t *p = json_array();

    if (p != NULL && id != NULL) {
        json_array_append_new(p, uid_json(type, id));
    }
    return p;
}

#define PAGE 500

static int add_humans(struct store *s, json_t *arr, struct arena *a, struct err *e)
{
    struct store_page pg = {NULL, PAGE};
    struct store_human *h;
    size_t n, i;
    int r;

    do {
        r = s->ops->human_list(s, &pg, a, &h, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            r = push(arr, BROKER_CEDAR_HUMAN, h[i].id,
                     json_pack("{s:s,s:s}", "email", h[i].email, "status", h[i].status), NULL);
            pg.after = h[i].id;
        }
    } while (r == 0 && n == PAGE);
    return r;
}

static int add_teams(struct store *s, json_t *arr, struct arena *a, struct err *e)
{
    struct store_page pg = {NULL, PAGE};
    struct store_team *t;
    size_t n, i;
    int r;

    do {
        r = s->ops->team_list(s, &pg, a, &t, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            r = push(arr, BROKER_CEDAR_TEAM, t[i].id, NULL, NULL);
            pg.after = t[i].id;
        }
    } while (r == 0 && n == PAGE);
    return r;
}

static int add_agents(struct store *s, json_t *arr, struct arena *a, struct err *e)
{
    struct store_page pg = {NULL, PAGE};
    struct store_agent *g;
    size_t n, i;
    int r;

    do {
        r = s->ops->agent_list(s, &pg, a, &g, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            json_t *at = json_pack("{s:o,s:s,s:I,s:s,s:s}", "owner",
                                   ref_json(BROKER_CEDAR_HUMAN, g[i].owner), "env",
                                   g[i].environment, "risk", (json_int_t)g[i].risk_tier, "status",
                                   g[i].status, "purpose", g[i].purpose);
            r = push(arr, BROKER_CEDAR_AGENT, g[i].id, at, parents1(BROKER_CEDAR_TEAM, g[i].team));
            pg.after = g[i].id;
        }
    } while (r == 0 && n == PAGE);
    return r;
}

static int add_intents(struct store *s, json_t *arr, struct arena *a, struct err *e)
{
    struct store_page pg = {NULL, PAGE};
    struct store_intent *x;
    size_t n, i;
    int r;

    do {
        r = s->ops->intent_list(s, &pg, a, &x, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            json_t *at =
                json_pack("{s:I,s:b,s:I,s:I,s:b,s:s}", "maxTtl", (json_int_t)x[i].max_ttl_s,
                          "needsApproval", (int)x[i].needs_approval, "callBudget",
                          (json_int_t)x[i].call_budget, "ratePerMin", (json_int_t)x[i].rate_per_min,
                          "dpopRequired", (int)x[i].dpop_required, "onDrift", x[i].on_drift);
            r = push(arr, BROKER_CEDAR_INTENT, x[i].id, at, NULL);
            pg.after = x[i].id;
        }
    } while (r == 0 && n == PAGE);
    return r;
}

static int add_tools(struct store *s, json_t *arr, struct arena *a, struct err *e)
{
    struct store_page pg = {NULL, PAGE};
    struct store_tool *t;
    json_t *groups = json_object();
    const char *g;
    json_t *v;
    size_t n, i;
    int r = groups ? 0 : ERR_NOMEM;

    do {
        r = r ? r : s->ops->tool_list(s, &pg, a, &t, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            json_t *at = json_pack("{s:s,s:I}", "system", t[i].downstream, "sensitivity",
                                   (json_int_t)t[i].sensitivity);
            r = push(arr, BROKER_CEDAR_TOOL, t[i].id, at,
                     parents1(BROKER_CEDAR_TOOLGROUP, t[i].tool_group));
            if (t[i].tool_group != NULL) {
                json_object_set_new(groups, t[i].tool_group, json_true());
            }
            pg.after = t[i].id;
        }
    } while (r == 0 && n == PAGE);
    json_object_foreach(groups, g, v)
    {
        r = r ? r : push(arr, BROKER_CEDAR_TOOLGROUP, g, NULL, NULL);
    }
    json_decref(groups);
    return r;
}

static int entities_build(struct store *s, struct cedar_entities **out, struct err *e)
{
    struct arena a;
    json_t *arr = json_array();
    int r = arr ? 0 : err_set(e, ERR_NOMEM, "out of memory");

    arena_init(&a, 0, 0);
    r = r ? r : add_humans(s, arr, &a, e);
    r = r ? r : add_teams(s, arr, &a, e);
    r = r ? r : add_agents(s, arr, &a, e);
    r = r ? r : add_intents(s, arr, &a, e);
    r = r ? r : add_tools(s, arr, &a, e);
    if (r == ERR_NOMEM && e->code == 0) {
        err_set(e, ERR_NOMEM, "out of memory building entities");
    }
    r = r ? r : cedar_entities_from_jansson(arr, NULL, out, e);
    json_decref(arr);
    arena_free(&a);
    return r;
}

/* ---- compile ------------------------------------------------------------------ */

struct first_diag {
    char msg[ERR_MSG_MAX / 2];
    size_t n;
};

static void keep_first(void *ud, const char *policy, const char *message)
{
    struct first_diag *d = ud;

    (void)policy;
    if (d->n++ == 0) {
        snprintf(d->msg, sizeof(d->msg), "%s", message);
    }
}

/* A version whose policies do not validate against its schema in strict
 * mode is refused: a typo in an attribute name would otherwise make a permit
 * never match or, worse, a forbid never fire. */
static int validate(const struct cedar_policyset *ps, const struct cedar_schema *sc,
                    int64_t version, struct err *e)
{
    struct first_diag d = {"", 0};
    char name[48];
    int r;

    snprintf(name, sizeof(name), "policy-v%lld.cedar", (long long)version);
    r = cedar_validate(ps, sc, name, keep_first, &d, NULL, e);
    if (r == ERR_INVALID && d.n > 0) {
        return err_set(e, ERR_INVALID, "policies do not validate against the schema: %s%s", d.msg,
                       d.n > 1 ? " (and more)" : "");
    }
    return r;
}

int access_policy_compile(int64_t version, const char *cedar, const char *schema,
                          struct cedar_policyset **ps, struct cedar_schema **sc, struct err *e)
{
    char name[48];
    int r;

    *ps = NULL;
    *sc = NULL;
    snprintf(name, sizeof(name), "policy-v%lld.cedar", (long long)version);
    r = cedar_policyset_parse(cedar, strlen(cedar), name, CEDAR_PARSE_ID_ANNOTATION, ps, e);
    if (r == 0 && schema != NULL && schema[0] != '\0') {
        snprintf(name, sizeof(name), "policy-v%lld.cedarschema", (long long)version);
        r = cedar_schema_parse(schema, strlen(schema), name, sc, e);
        if (r == 0) {
            r = validate(*ps, *sc, version, e);
        }
    }
    if (r != 0) {
        cedar_schema_free(*sc);
        *sc = NULL;
        cedar_policyset_put(*ps);
        *ps = NULL;
    }
    return r;
}

/* ---- snapshots ------------------------------------------------------------------ */

void broker_policy_release(struct broker_policy_snapshot *snap)
{
    if (snap == NULL || atomic_fetch_sub(&snap->refs, 1) != 1) {
        return;
    }
    cedar_policyset_put(snap->policies);
    cedar_schema_free(snap->schema);
    cedar_entities_free(snap->entities);
    free(snap->text);
    free(snap->schema_text);
    free(snap);
}

/* Swaps in a new snapshot (lock held). */
static void swap(struct broker_runtime *rt, struct broker_policy_snapshot *snap)
{
    struct broker_policy_snapshot *old = rt->policy;

    rt->policy = snap;
    broker_policy_release(old);
}

/* Builds a snapshot: with ps/sc given (references taken over), else from the
 * store's active version. */
static int snapshot_build(struct broker *b, int from_store, struct broker_policy_snapshot **out,
                          struct err *e)
{
    struct broker_policy_snapshot *snap = calloc(1, sizeof(*snap));
    struct broker_policy_snapshot *cur = b->rt->policy;
    struct store_policy p;
    struct arena a;
    int r = 0;

    *out = NULL;
    if (snap == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    arena_init(&a, 0, 0);
    atomic_init(&snap->refs, 1);
    snap->built_ms = clock_wall_ms();
    if (from_store) {
        r = b->store->ops->policy_get_active(b->store, &a, &p, e);
        if (r == 0) {
            snap->version = p.version;
            snap->text = strdup(p.cedar);
            snap->schema_text = strdup(p.schema);
            r = snap->text && snap->schema_text ? 0 : err_set(e, ERR_NOMEM, "out of memory");
            r = r ? r
                  : access_policy_compile(p.version, snap->text, snap->schema_text, &snap->policies,
                                          &snap->schema, e);
        } else if (r == ERR_NOTFOUND) {
            r = 0; /* no version active yet: everything denies */
        }
    } else if (cur != NULL) {
        /* Same version, new entities.  The parsed policies point into their
         * text, so the new snapshot takes its own copy and parses again. */
        snap->version = cur->version;
        snap->text = cur->text ? strdup(cur->text) : NULL;
        snap->schema_text = cur->schema_text ? strdup(cur->schema_text) : NULL;
        if ((cur->text && !snap->text) || (cur->schema_text && !snap->schema_text)) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        } else if (snap->text != NULL) {
            r = access_policy_compile(snap->version, snap->text,
                                      snap->schema_text ? snap->schema_text : "", &snap->policies,
                                      &snap->schema, e);
        }
    }
    r = r ? r : entities_build(b->store, &snap->entities, e);
    arena_free(&a);
    if (r != 0) {
        broker_policy_release(snap);
        return r;
    }
    *out = snap;
    return 0;
}

int broker_policy_reload(struct broker *b, struct err *e)
{
    struct broker_policy_snapshot *snap = NULL;
    int r;

    if (b->rt == NULL) {
        return err_set(e, ERR_INTERNAL, "the access runtime is not running");
    }
    pthread_mutex_lock(&b->rt->lock);
    r = snapshot_build(b, 1, &snap, e);
    if (r == 0) {
        swap(b->rt, snap);
    }
    pthread_mutex_unlock(&b->rt->lock);
    return r;
}

/* Rebuilds the entities of the snapshot (lock held). */
static void rebuild_entities(struct broker *b)
{
    struct broker_policy_snapshot *snap = NULL;
    struct err e;

    err_clear(&e);
    if (snapshot_build(b, 0, &snap, &e) != 0) {
        log_event(LOG_WARN, "policy_snapshot", NULL, "msg", "rebuild failed, old one serves",
                  "error", e.msg, (const char *)NULL);
        atomic_store(&b->rt->registry_dirty, 1); /* retry on the next acquire */
        return;
    }
    swap(b->rt, snap);
}

struct broker_policy_snapshot *broker_policy_acquire(struct broker *b)
{
    struct broker_policy_snapshot *snap;

    if (b == NULL || b->rt == NULL) {
        return NULL;
    }
    access_rebuild_if_dirty(b);
    pthread_mutex_lock(&b->rt->lock);
    snap = b->rt->policy;
    if (snap != NULL) {
        atomic_fetch_add(&snap->refs, 1);
    }
    pthread_mutex_unlock(&b->rt->lock);
    return snap;
}

void access_rebuild_if_dirty(struct broker *b)
{
    struct broker_trust *t = NULL, *old;
    struct err e;

    if (atomic_load(&b->rt->registry_dirty) == 0) {
        return;
    }
    pthread_mutex_lock(&b->rt->lock);
    if (atomic_exchange(&b->rt->registry_dirty, 0) != 0) {
        rebuild_entities(b);
        err_clear(&e);
        if (access_trust_build(b->store, &t, &e) == 0) {
            old = b->rt->trust;
            access_trust_adopt(t, old); /* loaded keys carry over: no fetch waits */
            b->rt->trust = t;
            access_trust_put(old);
        } else {
            log_event(LOG_WARN, "trust", NULL, "msg", "rebuild failed, old one serves", "error",
                      e.msg, (const char *)NULL);
            atomic_store(&b->rt->registry_dirty, 1);
        }
    }
    pthread_mutex_unlock(&b->rt->lock);
}

/* ---- decide ---------------------------------------------------------------------- */

static int add_reason(struct arena *a, struct broker_decision *d, size_t cap, const char *s)
{
    if (d->nreasons >= cap) {
        return 0;
    }
    d->reasons[d->nreasons] = arena_strdup(a, s);
    if (d->reasons[d->nreasons] == NULL) {
        return ERR_NOMEM;
    }
    d->nreasons++;
    return 0;
}

int broker_decide(struct broker *b, const struct broker_policy_snapshot *snap,
                  const char *principal_type, const char *principal_id, const char *action,
                  const char *resource_type, const char *resource_id, json_t *context,
                  struct arena *a, struct broker_decision *out, struct err *e)
{
    struct cedar_request req;
    struct cedar_response resp;
    json_t *empty = NULL;
    size_t cap, i;
    int r;

    memset(out, 0, sizeof(*out));
    cap = 2;
    out->reasons = arena_calloc(a, cap, sizeof(char *));
    if (out->reasons == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (snap == NULL || snap->policies == NULL) {
        out->policy_version = snap ? snap->version : 0;
        return add_reason(a, out, cap, "no_active_policy");
    }
    out->policy_version = snap->version;
    memset(&req, 0, sizeof(req));
    cedar_uid_init(&req.principal, principal_type, strlen(principal_type), principal_id,
                   strlen(principal_id));
    cedar_uid_init(&req.action, BROKER_CEDAR_ACTION, strlen(BROKER_CEDAR_ACTION), action,
                   strlen(action));
    cedar_uid_init(&req.resource, resource_type, strlen(resource_type), resource_id,
                   strlen(resource_id));
    if (context == NULL) {
        context = empty = json_object();
    }
    r = cedar_context_from_jansson(context, NULL, NULL, a, &req.context, e);
    json_decref(empty);
    if (r != 0) {
        return err_prefix(e, "context: ");
    }
    r = cedar_authorize(snap->policies, snap->entities, &req, a, &resp, e);
    if (r != 0) {
        return r;
    }
    cap = resp.nreasons + resp.nerrors + 1;
    out->reasons = arena_calloc(a, cap, sizeof(char *));
    if (out->reasons == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    out->allow = resp.decision == CEDAR_ALLOW;
    out->errored = resp.nerrors > 0;
    for (i = 0; i < resp.nreasons; i++) {
        if (add_reason(a, out, cap, resp.reasons[i]) != 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (!out->allow && resp.nreasons == 0 &&
        add_reason(a, out, cap, resp.nerrors ? "policy_error" : "no_permit") != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < resp.nerrors; i++) {
        char *s = arena_printf(a, "policy_error:%s", resp.errors[i].policy);
        log_event(LOG_WARN, "policy_error", NULL, "policy", resp.errors[i].policy, "action", action,
                  "error", resp.errors[i].message, (const char *)NULL);
        if (s == NULL || add_reason(a, out, cap, s) != 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (out->errored && !b->rt->policy_errors_allow) {
        out->allow = 0;
    }
    return 0;
}

json_t *broker_decision_reasons_json(const struct broker_decision *d)
{
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr != NULL && i < d->nreasons; i++) {
        json_array_append_new(arr, json_string(d->reasons[i]));
    }
    return arr;
}
