/*
 * killswitch.c: the kill switch (broker.h "kill switch", broker_int.h).
 *
 * The engaged switches are a short array under a mutex with an atomic count
 * beside it, so the check path and the exchange pay one atomic load while
 * nothing is engaged.  Engaging sets the switch first and then revokes: an
 * exchange that registers its task after the switch is set sees it (it
 * looks again after registering), and one that registered before is found
 * by the revocation scan.
 *
 * Persistence (migration 6): an engaged switch is a row of the store's
 * killswitches table, written in the transaction of its engage record;
 * lifting removes the row in the transaction of the lift record, before
 * the switch leaves memory.  The runtime loads the rows at startup, before
 * the server answers anything, and revokes any live task they cover.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

struct ks_entry {
    char *scope, *target, *reason, *by;
    int64_t at_ms;
};

struct broker_killswitch {
    pthread_mutex_t mu;
    pthread_mutex_t change_mu; /* one engage or lift at a time (taken before mu) */
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

static int load(struct broker *b, struct broker_killswitch *ks, struct err *e);

int broker_killswitch_start(struct broker *b, struct err *e)
{
    struct broker_killswitch *ks = calloc(1, sizeof(*ks));

    if (ks == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&ks->mu, NULL);
    pthread_mutex_init(&ks->change_mu, NULL);
    atomic_init(&ks->engaged, 0);
    atomic_init(&ks->gen, 0);
    b->rt->ks = ks;
    return load(b, ks, e);
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
    pthread_mutex_destroy(&ks->change_mu);
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

int broker_killswitch_scope_matches(const char *scope, const char *target, const char *agent,
                                    const char *owner, const char *team)
{
    const char *v;

    if (scope == NULL) {
        return 0;
    }
    if (strcmp(scope, "all") == 0) {
        return 1;
    }
    if (strcmp(scope, "agent") == 0) {
        v = agent;
    } else if (strcmp(scope, "owner") == 0) {
        v = owner;
    } else if (strcmp(scope, "team") == 0) {
        v = team;
    } else {
        return 0;
    }
    return v != NULL && target != NULL && strcmp(target, v) == 0;
}

static int entry_matches(const struct ks_entry *x, const char *agent, const char *owner,
                         const char *team)
{
    return broker_killswitch_scope_matches(x->scope, x->target, agent, owner, team);
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
    } else {
        hit = broker_killswitch_scope_matches(x->scope, x->target, t->agent, ag.owner, ag.team);
    }
    json_object_set_new(x->agents, t->agent, json_boolean(hit));
    return hit;
}

static int child_of_revoked(const struct btask *t, void *p)
{
    struct scope_ctx *x = p;

    return t->parent != NULL && json_object_get(x->parents, t->parent) != NULL;
}

/* The store id of a switch: "<scope>" or "<scope>:<target>". */
static void ks_id(char *out, size_t n, const char *scope, const char *target)
{
    snprintf(out, n, "%s%s%s", scope, target ? ":" : "", target ? target : "");
}

/* Revokes every live task in scope, then the tasks delegated below them,
 * level by level.  The first batch's transaction also runs also() (the
 * switch's row) and writes the record `event` (when always, even with no
 * task in scope; otherwise only when there is one).  *revoked, *seq. */
static int revoke_scope(struct broker *b, const struct broker_caller *c, const char *scope,
                        const char *target, const char *reason, const char *event, int always,
                        int (*also)(struct store *, void *, struct err *), void *also_ctx,
                        size_t *revoked, int64_t *seq, struct err *e)
{
    struct broker_audit_event ev;
    struct scope_ctx sx;
    struct btask **v = NULL;
    size_t n, i;
    json_t *detail, *reasons;
    char *why;
    int r = 0, rc = 0, level;

    *revoked = 0;
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
    memset(&ev, 0, sizeof(ev));
    ev.event = event;
    ev.agent = strcmp(scope, "agent") == 0 ? target : NULL;
    ev.resource =
        arena_printf(&sx.a, "killswitch:%s%s%s", scope, target ? ":" : "", target ? target : "");
    ev.decision = "ok";
    ev.reasons = reasons;
    ev.detail = detail;
    if (sx.agents == NULL || sx.parents == NULL || why == NULL || detail == NULL ||
        reasons == NULL || ev.resource == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (level = 0; level <= LIMIT_DELEG_DEPTH_MAX + 1; level++) {
        int first = level == 0, with_ev;
        n = tasks_collect_live(b, first ? in_scope : child_of_revoked, &sx, &v);
        with_ev = first && (always || n > 0);
        if (n == 0 && !with_ev && !(first && also)) {
            tasks_put_all(v, 0);
            v = NULL;
            break;
        }
        json_object_clear(sx.parents);
        for (i = 0; i < n; i++) {
            json_object_set_new(sx.parents, v[i]->id, json_true());
        }
        if (first) {
            json_object_set_new(detail, "tasks_in_scope", json_integer((json_int_t)n));
        }
        *revoked += tasks_revoke_batch(b, v, n, why, c, with_ev ? &ev : NULL, first ? also : NULL,
                                       also_ctx, with_ev ? seq : NULL, e, &rc);
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
out:
    json_decref(sx.agents);
    json_decref(sx.parents);
    json_decref(detail);
    json_decref(reasons);
    arena_free(&sx.a);
    return r;
}

static int engage_fn(struct store *s, void *ctx, struct err *e)
{
    return s->ops->killswitch_insert(s, ctx, e);
}

/* Sets the switch in memory (first reason wins).  ERR_LIMIT, ERR_NOMEM. */
static int set_switch(struct broker_killswitch *ks, const char *scope, const char *target,
                      const char *reason, const char *by, int64_t at_ms, struct err *e)
{
    struct ks_entry *x;

    pthread_mutex_lock(&ks->mu);
    if (find_locked(ks, scope, target) != SIZE_MAX) {
        atomic_fetch_add(&ks->gen, 1);
        pthread_mutex_unlock(&ks->mu);
        return 0;
    }
    if (ks->n >= LIMIT_KILLSWITCH_ENTRIES) {
        pthread_mutex_unlock(&ks->mu);
        return err_set(e, ERR_LIMIT, "more than %d kill switches engaged: use a wider scope",
                       LIMIT_KILLSWITCH_ENTRIES);
    }
    x = &ks->v[ks->n];
    x->scope = strdup(scope);
    x->target = target ? strdup(target) : NULL;
    x->reason = strdup(reason);
    x->by = by ? strdup(by) : NULL;
    x->at_ms = at_ms;
    if (x->scope == NULL || x->reason == NULL || (target && x->target == NULL) ||
        (by && x->by == NULL)) {
        entry_free(x);
        pthread_mutex_unlock(&ks->mu);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    ks->n++;
    atomic_store(&ks->engaged, ks->n);
    atomic_fetch_add(&ks->gen, 1);
    pthread_mutex_unlock(&ks->mu);
    return 0;
}

int broker_killswitch_engage(struct broker *b, const struct broker_caller *c, const char *scope,
                             const char *target, const char *reason, json_t **out, struct err *e)
{
    struct broker_killswitch *ks = KS(b);
    struct store_killswitch row;
    char id[LIMIT_ID_LEN + 16];
    size_t revoked = 0;
    int64_t t0 = clock_wall_ms(), seq = 0;
    int r;

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
    /* 1. the switch in memory: new exchanges in scope are refused from here
     * (it stays set even if the store write below fails: fail closed) */
    pthread_mutex_lock(&ks->change_mu);
    if ((r = set_switch(ks, scope, target, reason, c ? c->key_id : NULL, t0, e)) != 0) {
        pthread_mutex_unlock(&ks->change_mu);
        return r;
    }
    /* 2. every live task in scope, the tasks below them; the switch's row and
     * the engage record commit with the first batch, before the answer */
    ks_id(id, sizeof(id), scope, target);
    memset(&row, 0, sizeof(row));
    row.id = id;
    row.scope = scope;
    row.target = target;
    row.reason = reason;
    row.engaged_by = c ? c->key_id : NULL;
    row.engaged_ms = t0;
    r = revoke_scope(b, c, scope, target, reason, "killswitch.engage", 1, engage_fn, &row, &revoked,
                     &seq, e);
    pthread_mutex_unlock(&ks->change_mu);
    if (r != 0) {
        return r;
    }
    *out = json_pack("{s:s, s:s?, s:s, s:I, s:I, s:I}", "scope", scope, "target", target, "reason",
                     reason, "revoked", (json_int_t)revoked, "elapsed_ms",
                     (json_int_t)(clock_wall_ms() - t0), "audit_id", (json_int_t)seq);
    if (*out == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    log_event(LOG_WARN, "killswitch", c ? c->request_id : NULL, "msg", "kill switch engaged",
              "scope", scope, "target", target ? target : "", "reason", reason, (const char *)NULL);
    return 0;
}

struct lift_tx {
    const struct broker_caller *c;
    const char *id;
    struct broker_audit_event ev;
    int64_t seq;
};

static int lift_fn(struct store *s, void *ctx, struct err *e)
{
    struct lift_tx *x = ctx;
    int r = s->ops->killswitch_delete(s, x->id, e);

    if (r == ERR_NOTFOUND) {
        /* set in memory, its engage never committed: nothing to remove */
        err_clear(e);
        r = 0;
    }
    return r ? r : broker_audit(s, x->c, &x->ev, &x->seq, e);
}

int broker_killswitch_lift(struct broker *b, const struct broker_caller *c, const char *scope,
                           const char *target, json_t **out, struct err *e)
{
    struct broker_killswitch *ks = KS(b);
    struct ks_entry gone;
    struct lift_tx x;
    json_t *detail = NULL;
    char res[LIMIT_ID_LEN + 32], id[LIMIT_ID_LEN + 16];
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
    /* The store first: the switch stays on in memory until the lift (the
     * row's removal and its record, one transaction) has committed, so a
     * failed lift leaves it engaged (fail closed).  The change mutex makes
     * engages and lifts one at a time: two racing lifts of one switch give
     * one 404, and an engage never lands between a lift's store write and
     * its removal from memory (it would answer yet be lifted). */
    pthread_mutex_lock(&ks->change_mu);
    pthread_mutex_lock(&ks->mu);
    k = find_locked(ks, scope, target);
    if (k != SIZE_MAX) {
        detail =
            json_pack("{s:s, s:s?, s:s, s:o}", "scope", ks->v[k].scope, "target", ks->v[k].target,
                      "reason", ks->v[k].reason, "engaged", broker_time_json(ks->v[k].at_ms));
    }
    pthread_mutex_unlock(&ks->mu);
    if (k == SIZE_MAX) {
        pthread_mutex_unlock(&ks->change_mu);
        return err_set(e, ERR_NOTFOUND, "no kill switch engaged for %s%s%s", scope,
                       target ? " " : "", target ? target : "");
    }
    memset(&x, 0, sizeof(x));
    ks_id(id, sizeof(id), scope, target);
    x.c = c;
    x.id = id;
    x.ev.event = "killswitch.lift";
    snprintf(res, sizeof(res), "killswitch:%s", id);
    x.ev.resource = res;
    x.ev.decision = "ok";
    x.ev.detail = detail;
    r = detail ? store_tx(b->store, lift_fn, &x, e) : err_set(e, ERR_NOMEM, "out of memory");
    json_decref(detail);
    if (r != 0) {
        pthread_mutex_unlock(&ks->change_mu);
        return r;
    }
    pthread_mutex_lock(&ks->mu);
    k = find_locked(ks, scope, target);
    memset(&gone, 0, sizeof(gone));
    if (k != SIZE_MAX) {
        gone = ks->v[k];
        ks->v[k] = ks->v[ks->n - 1];
        memset(&ks->v[ks->n - 1], 0, sizeof(ks->v[0]));
        ks->n--;
        atomic_store(&ks->engaged, ks->n);
        atomic_fetch_add(&ks->gen, 1);
    }
    pthread_mutex_unlock(&ks->mu);
    pthread_mutex_unlock(&ks->change_mu);
    entry_free(&gone);
    *out = json_pack("{s:s, s:s?, s:b, s:I}", "scope", scope, "target", target, "lifted", 1,
                     "audit_id", (json_int_t)x.seq);
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

/* ---- startup: the engaged switches come back before any request ------------------ */

/* Loads the stored switches, then revokes any live task one of them covers
 * (a task whose revocation did not reach the store before the process died,
 * or that an owner/team switch covers and the check path would not see):
 * the store says engaged, so nothing in scope runs (fail closed). */
static int load(struct broker *b, struct broker_killswitch *ks, struct err *e)
{
    struct store_killswitch *v = NULL;
    struct arena a;
    size_t n = 0, i, revoked;
    int64_t seq;
    int r;

    arena_init(&a, 4096, 0);
    r = b->store->ops->killswitch_list(b->store, &a, &v, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (scope_ok(v[i].scope, v[i].target, e) != 0) {
            r = err_set(e, ERR_INTERNAL, "stored kill switch \"%s\" is malformed", v[i].id);
            break;
        }
        r = set_switch(ks, v[i].scope, v[i].target, v[i].reason, v[i].engaged_by, v[i].engaged_ms,
                       e);
    }
    for (i = 0; r == 0 && i < n; i++) {
        r = revoke_scope(b, NULL, v[i].scope, v[i].target, v[i].reason, "killswitch.reapply", 0,
                         NULL, NULL, &revoked, &seq, e);
        if (r == 0 && revoked > 0) {
            log_event(LOG_WARN, "killswitch", NULL, "msg",
                      "live tasks under an engaged kill switch revoked at startup", "scope",
                      v[i].scope, "target", v[i].target ? v[i].target : "", (const char *)NULL);
        }
    }
    if (r == 0 && n > 0) {
        char cnt[24];
        snprintf(cnt, sizeof(cnt), "%zu", n);
        log_event(LOG_WARN, "killswitch", NULL, "msg", "kill switches engaged (from the store)",
                  "count", cnt, (const char *)NULL);
    }
    arena_free(&a);
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
