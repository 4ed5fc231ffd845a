/*
 * killswitch.c: the kill switch (killswitch.h).
 *
 * The engaged switches are a short array under a mutex with an atomic count
 * beside it, so the check path and the exchange pay one atomic load while
 * nothing is engaged.  Engaging sets the switch first and then revokes: an
 * exchange that registers its task after the switch is set sees it (it
 * looks again after registering), and one that registered before is found
 * by the revocation scan.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "broker/access.h"
#include "broker/broker_int.h"
#include "broker/killswitch.h"
#include "broker/tasks_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

struct ks_entry {
    char *scope, *target, *reason, *by;
    int64_t at_ms;
};

struct broker_killswitch {
    pthread_mutex_t mu;
    struct ks_entry v[LIMIT_KILLSWITCH_ENTRIES];
    size_t n;
    atomic_size_t engaged; /* n, readable without the mutex */
    atomic_ullong gen;     /* bumped on every engage and lift */
};

static struct broker_killswitch *KS(struct broker *b)
{
    return b->rt ? b->rt->ks : NULL;
}

static void entry_free(struct ks_entry *x)
{
    free(x->scope);
    free(x->target);
    free(x->reason);
    free(x->by);
    memset(x, 0, sizeof(*x));
}

int broker_killswitch_start(struct broker *b, struct err *e)
{
    struct broker_killswitch *ks = calloc(1, sizeof(*ks));

    if (ks == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&ks->mu, NULL);
    atomic_init(&ks->engaged, 0);
    atomic_init(&ks->gen, 0);
    b->rt->ks = ks;
    return 0;
}

void broker_killswitch_stop(struct broker *b)
{
    struct broker_killswitch *ks = KS(b);
    size_t i;

    if (ks == NULL) {
        return;
    }
    for (i = 0; i < ks->n; i++) {
        entry_free(&ks->v[i]);
    }
    pthread_mutex_destroy(&ks->mu);
    free(ks);
    b->rt->ks = NULL;
}

static int scope_ok(const char *scope, const char *target, struct err *e)
{
    if (scope == NULL || (strcmp(scope, "agent") != 0 && strcmp(scope, "owner") != 0 &&
                          strcmp(scope, "team") != 0 && strcmp(scope, "all") != 0)) {
        return err_set(e, ERR_INVALID, "scope: agent, owner, team or all");
    }
    if (strcmp(scope, "all") == 0) {
        if (target != NULL && target[0] != '\0') {
            return err_set(e, ERR_INVALID, "scope all takes no target");
        }
        return 0;
    }
    if (target == NULL || target[0] == '\0' || strlen(target) > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "scope %s needs a target id (at most %d bytes)", scope,
                       LIMIT_ID_LEN);
    }
    return 0;
}

static int entry_matches(const struct ks_entry *x, const char *agent, const char *owner,
                         const char *team)
{
    if (strcmp(x->scope, "all") == 0) {
        return 1;
    }
    if (strcmp(x->scope, "agent") == 0) {
        return agent != NULL && strcmp(x->target, agent) == 0;
    }
    if (strcmp(x->scope, "owner") == 0) {
        return owner != NULL && strcmp(x->target, owner) == 0;
    }
    return team != NULL && strcmp(x->target, team) == 0;
}

int broker_killswitch_covers(struct broker *b, const char *agent, const char *owner,
                             const char *team)
{
    struct broker_killswitch *ks = KS(b);
    size_t i;
    int hit = 0;

    if (ks == NULL || atomic_load(&ks->engaged) == 0) {
        return 0;
    }
    pthread_mutex_lock(&ks->mu);
    for (i = 0; i < ks->n && !hit; i++) {
        hit = entry_matches(&ks->v[i], agent, owner, team);
    }
    pthread_mutex_unlock(&ks->mu);
    return hit;
}

static size_t find_locked(struct broker_killswitch *ks, const char *scope, const char *target)
{
    size_t i;

    for (i = 0; i < ks->n; i++) {
        if (strcmp(ks->v[i].scope, scope) == 0 &&
            strcmp(ks->v[i].target ? ks->v[i].target : "", target ? target : "") == 0) {
            return i;
        }
    }
    return SIZE_MAX;
}

static json_t *entry_json(const struct ks_entry *x)
{
    return json_pack("{s:s, s:s?, s:s, s:o, s:s?}", "scope", x->scope, "target", x->target,
                     "reason", x->reason, "engaged", broker_time_json(x->at_ms), "by", x->by);
}

/* ---- which live tasks are in scope ----------------------------------------------- */

struct scope_ctx {
    struct broker *b;
    const char *scope, *target;
    json_t *agents;  /* agent id -> true/false (in scope), looked up once each */
    json_t *parents; /* task ids revoked so far: their children follow */
    struct arena a;
};

static int in_scope(const struct btask *t, void *p)
{
    struct scope_ctx *x = p;
    json_t *known;
    struct store_agent ag;
    struct err e;
    int hit;

    if (strcmp(x->scope, "all") == 0) {
        return 1;
    }
    if (strcmp(x->scope, "agent") == 0) {
        return strcmp(t->agent, x->target) == 0;
    }
    known = json_object_get(x->agents, t->agent);
    if (known != NULL) {
        return json_is_true(known);
    }
    /* owner or team: the registry says (a store read per distinct agent;
     * an agent the store cannot show is treated as in scope: fail closed) */
    if (x->b->store->ops->agent_get(x->b->store, t->agent, &x->a, &ag, &e) != 0) {
        hit = 1;
    } else if (strcmp(x->scope, "owner") == 0) {
        hit = ag.owner != NULL && strcmp(ag.owner, x->target) == 0;
    } else {
        hit = ag.team != NULL && strcmp(ag.team, x->target) == 0;
    }
    json_object_set_new(x->agents, t->agent, json_boolean(hit));
    return hit;
}

static int child_of_revoked(const struct btask *t, void *p)
{
    struct scope_ctx *x = p;

    return t->parent != NULL && json_object_get(x->parents, t->parent) != NULL;
}

int broker_killswitch_engage(struct broker *b, const struct broker_caller *c, const char *scope,
                             const char *target, const char *reason, json_t **out, struct err *e)
{
    struct broker_killswitch *ks = KS(b);
    struct broker_audit_event ev;
    struct scope_ctx sx;
    struct btask **v = NULL;
    size_t n, i, revoked = 0, k;
    int64_t t0 = clock_wall_ms(), seq = 0;
    json_t *detail = NULL, *reasons = NULL;
    char *why = NULL;
    int r = 0, rc = 0, level;

    *out = NULL;
    if (ks == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access path is not running");
    }
    if ((r = scope_ok(scope, target, e)) != 0) {
        return r;
    }
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > LIMIT_KILLSWITCH_REASON_LEN) {
        return err_set(e, ERR_INVALID, "reason: required, at most %d bytes",
                       LIMIT_KILLSWITCH_REASON_LEN);
    }
    if (strcmp(scope, "all") == 0) {
        target = NULL;
    }
    /* 1. the switch: new exchanges in scope are refused from here */
    pthread_mutex_lock(&ks->mu);
    k = find_locked(ks, scope, target);
    if (k == SIZE_MAX) {
        struct ks_entry *x;
        if (ks->n >= LIMIT_KILLSWITCH_ENTRIES) {
            pthread_mutex_unlock(&ks->mu);
            return err_set(e, ERR_LIMIT, "more than %d kill switches engaged: use a wider scope",
                           LIMIT_KILLSWITCH_ENTRIES);
        }
        x = &ks->v[ks->n];
        x->scope = strdup(scope);
        x->target = target ? strdup(target) : NULL;
        x->reason = strdup(reason);
        x->by = c && c->key_id ? strdup(c->key_id) : NULL;
        x->at_ms = t0;
        if (x->scope == NULL || x->reason == NULL || (target && x->target == NULL)) {
            entry_free(x);
            pthread_mutex_unlock(&ks->mu);
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        ks->n++;
        atomic_store(&ks->engaged, ks->n);
    }
    atomic_fetch_add(&ks->gen, 1);
    pthread_mutex_unlock(&ks->mu);

    /* 2. every live task in scope, then the tasks delegated below them */
    memset(&sx, 0, sizeof(sx));
    sx.b = b;
    sx.scope = scope;
    sx.target = target;
    sx.agents = json_object();
    sx.parents = json_object();
    arena_init(&sx.a, 4096, 0);
    why = arena_printf(&sx.a, "killswitch: %s", reason);
    detail = json_pack("{s:s, s:s?, s:s}", "scope", scope, "target", target, "reason", reason);
    reasons = json_pack("[s]", "killswitch");
    if (sx.agents == NULL || sx.parents == NULL || why == NULL || detail == NULL ||
        reasons == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    memset(&ev, 0, sizeof(ev));
    ev.event = "killswitch.engage";
    ev.agent = strcmp(scope, "agent") == 0 ? target : NULL;
    ev.resource =
        arena_printf(&sx.a, "killswitch:%s%s%s", scope, target ? ":" : "", target ? target : "");
    ev.decision = "ok";
    ev.reasons = reasons;
    ev.detail = detail;
    for (level = 0; level <= LIMIT_DELEG_DEPTH_MAX + 1; level++) {
        size_t got;
        n = tasks_collect_live(b, level == 0 ? in_scope : child_of_revoked, &sx, &v);
        if (n == 0 && level > 0) {
            tasks_put_all(v, 0);
            v = NULL;
            break;
        }
        /* level 0 with nothing live still writes the engage record below */
        json_object_clear(sx.parents);
        for (i = 0; i < n; i++) {
            json_object_set_new(sx.parents, v[i]->id, json_true());
        }
        if (level == 0) {
            /* the engage record goes in the first batch's transaction, with
             * the count filled in afterwards in the answer */
            json_object_set_new(detail, "tasks_in_scope", json_integer((json_int_t)n));
        }
        got = tasks_revoke_batch(b, v, n, why, c, level == 0 ? &ev : NULL, level == 0 ? &seq : NULL,
                                 e, &rc);
        revoked += got;
        tasks_put_all(v, n);
        v = NULL;
        if (rc != 0) {
            r = rc;
            goto out;
        }
        if (n == 0) {
            break;
        }
    }
    *out = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I}", "scope", scope, "target", target, "reason",
                     reason, "revoked", (json_int_t)revoked, "elapsed_ms",
                     (json_int_t)(clock_wall_ms() - t0), "audit_id", (json_int_t)seq);
    if (*out == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    log_event(LOG_WARN, "killswitch", c ? c->request_id : NULL, "msg", "kill switch engaged",
              "scope", scope, "target", target ? target : "", "reason", reason, (const char *)NULL);
out:
    json_decref(sx.agents);
    json_decref(sx.parents);
    json_decref(detail);
    json_decref(reasons);
    arena_free(&sx.a);
    return r;
}

struct lift_tx {
    const struct broker_caller *c;
    struct broker_audit_event ev;
    int64_t seq;
};

static int lift_fn(struct store *s, void *ctx, struct err *e)
{
    struct lift_tx *x = ctx;

    return broker_audit(s, x->c, &x->ev, &x->seq, e);
}

int broker_killswitch_lift(struct broker *b, const struct broker_caller *c, const char *scope,
                           const char *target, json_t **out, struct err *e)
{
    struct broker_killswitch *ks = KS(b);
    struct ks_entry gone;
    struct lift_tx x;
    json_t *detail;
    char res[LIMIT_ID_LEN + 32];
    size_t k;
    int r;

    *out = NULL;
    if (ks == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access path is not running");
    }
    if ((r = scope_ok(scope, target, e)) != 0) {
        return r;
    }
    if (strcmp(scope, "all") == 0) {
        target = NULL;
    }
    pthread_mutex_lock(&ks->mu);
    k = find_locked(ks, scope, target);
    if (k == SIZE_MAX) {
        pthread_mutex_unlock(&ks->mu);
        return err_set(e, ERR_NOTFOUND, "no kill switch engaged for %s%s%s", scope,
                       target ? " " : "", target ? target : "");
    }
    gone = ks->v[k];
    ks->v[k] = ks->v[ks->n - 1];
    memset(&ks->v[ks->n - 1], 0, sizeof(ks->v[0]));
    ks->n--;
    atomic_store(&ks->engaged, ks->n);
    atomic_fetch_add(&ks->gen, 1);
    pthread_mutex_unlock(&ks->mu);

    detail = json_pack("{s:s, s:s?, s:s, s:o}", "scope", gone.scope, "target", gone.target,
                       "reason", gone.reason, "engaged", broker_time_json(gone.at_ms));
    memset(&x, 0, sizeof(x));
    x.c = c;
    x.ev.event = "killswitch.lift";
    snprintf(res, sizeof(res), "killswitch:%s%s%s", scope, target ? ":" : "", target ? target : "");
    x.ev.resource = res;
    x.ev.decision = "ok";
    x.ev.detail = detail;
    r = store_tx(b->store, lift_fn, &x, e);
    if (r == 0) {
        *out = json_pack("{s:s, s:s?, s:b, s:I}", "scope", scope, "target", target, "lifted", 1,
                         "audit_id", (json_int_t)x.seq);
    }
    json_decref(detail);
    entry_free(&gone);
    if (r == 0 && *out == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    return r;
}

int broker_killswitch_status(struct broker *b, json_t **out, struct err *e)
{
    struct broker_killswitch *ks = KS(b);
    json_t *arr = json_array();
    size_t i;

    *out = NULL;
    if (ks == NULL) {
        json_decref(arr);
        return err_set(e, ERR_UNAVAILABLE, "the access path is not running");
    }
    pthread_mutex_lock(&ks->mu);
    for (i = 0; arr != NULL && i < ks->n; i++) {
        json_array_append_new(arr, entry_json(&ks->v[i]));
    }
    pthread_mutex_unlock(&ks->mu);
    *out = json_pack("{s:o, s:I}", "engaged", arr ? arr : json_array(), "generation",
                     (json_int_t)atomic_load(&ks->gen));
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}
