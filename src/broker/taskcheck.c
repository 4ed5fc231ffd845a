/*
 * taskcheck.c: the request-time check (POST /v1/check) and the agent's
 * "complete".
 *
 * A check runs fixed steps, each able to deny with a stable code:
 *   token      verified once, then found by its SHA-256 until it expires
 *   DPoP       the proof for the agent's original method and URL, its ath,
 *              the replay cache, the key bound in cnf.jkt ("another_key")
 *   task       its state: a call after complete, revoke or expiry
 *   drift      tool, action, data label, downstream outside the granted
 *              scope; budget; rate (a token bucket per task)
 *   Cedar      CallTool on the Tool with the task, the call and the task's
 *              history so far in the context (fail closed on errors)
 * then the audit record (and, on allow, the task's counter in the same
 * transaction) is written before the answer.  Drift applies the intent's
 * rule: with "revoke" the task is dead in memory and in the store before
 * the answer leaves.
 *
 * A call reserves its place in the budget and the rate bucket under the
 * task's mutex before Cedar runs and gives it back on deny, so concurrent
 * checks of one task cannot overspend; the final state check and the store
 * write happen under the same mutex as revocations, so a revoke that has
 * answered is seen by every later decision.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

static const char *const drift_names[DRIFT_COUNT] = {
    [DRIFT_NONE] = "none",
    [DRIFT_TOOL] = "tool_not_granted",
    [DRIFT_ACTION] = "action_not_granted",
    [DRIFT_DATA_LABEL] = "data_label_not_granted",
    [DRIFT_DOWNSTREAM] = "downstream_not_granted",
    [DRIFT_BUDGET] = "budget_exhausted",
    [DRIFT_RATE] = "rate_exceeded",
    [DRIFT_TASK_ENDED] = "task_ended",
    [DRIFT_ANOTHER_KEY] = "another_key",
};

const char *broker_drift_name(enum broker_drift d)
{
    return d > DRIFT_NONE && d < DRIFT_COUNT ? drift_names[d] : "none";
}

/* ---- scope drift (pure) ------------------------------------------------------ */

static int str_in(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        const char *x = json_string_value(v);
        if (x != NULL && strcmp(x, s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The actions granted for tool: from [{"name","actions"}] or {"tool":[...]};
 * NULL when the tool is not granted. */
static const json_t *granted_actions(const json_t *tools, const char *tool)
{
    size_t i;
    json_t *v;

    if (json_is_object(tools)) {
        return json_object_get(tools, tool);
    }
    json_array_foreach(tools, i, v)
    {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (name != NULL && strcmp(name, tool) == 0) {
            json_t *acts = json_object_get(v, "actions");
            return acts ? acts : json_null();
        }
    }
    return NULL;
}

static int add_code(json_t *codes, enum broker_drift d)
{
    return json_array_append_new(codes, json_string(broker_drift_name(d))) == 0 ? 1 : ERR_NOMEM;
}

int broker_drift_scope(const json_t *granted, const struct broker_call *call, json_t *codes)
{
    const json_t *acts, *labels = json_object_get(granted, "data_labels");
    const json_t *down = json_object_get(granted, "downstream");
    int n = 0, r;
    size_t i;

    acts = call->tool ? granted_actions(json_object_get(granted, "tools"), call->tool) : NULL;
    if (acts == NULL) {
        if ((r = add_code(codes, DRIFT_TOOL)) < 0) {
            return r;
        }
        n++;
    } else if (call->action == NULL || !json_is_array(acts) || !str_in(acts, call->action)) {
        if ((r = add_code(codes, DRIFT_ACTION)) < 0) {
            return r;
        }
        n++;
    }
    for (i = 0; i < call->nlabels; i++) {
        if (!json_is_array(labels) || !str_in(labels, call->labels[i])) {
            if ((r = add_code(codes, DRIFT_DATA_LABEL)) < 0) {
                return r;
            }
            n++;
            break;
        }
    }
    if (call->downstream != NULL && (!json_is_array(down) || !str_in(down, call->downstream))) {
        if ((r = add_code(codes, DRIFT_DOWNSTREAM)) < 0) {
            return r;
        }
        n++;
    }
    return n;
}

/* ---- helpers --------------------------------------------------------------- */

static void refill(struct btask *t, int64_t now)
{
    int64_t cap = t->rate_per_min * 1000, dt = now - t->bucket_ms;

    if (dt > 0) {
        /* rate_per_min calls per 60000 ms, in thousandths of a call */
        int64_t add = dt > 60000 ? cap : dt * t->rate_per_min / 60;
        t->bucket_milli = t->bucket_milli + add > cap ? cap : t->bucket_milli + add;
        t->bucket_ms = now;
    }
}

static json_t *labels_json(const struct broker_call *c)
{
    json_t *j = json_array();
    size_t i;

    for (i = 0; j && i < c->nlabels; i++) {
        if (json_array_append_new(j, json_string(c->labels[i])) != 0) {
            json_decref(j);
            return NULL;
        }
    }
    return j;
}

static json_t *granted_tool_names(const json_t *tools)
{
    json_t *j = json_array(), *v;
    const char *k;
    size_t i;

    if (json_is_object(tools)) {
        json_object_foreach((json_t *)tools, k, v)
        {
            json_array_append_new(j, json_string(k));
        }
    } else {
        json_array_foreach(tools, i, v)
        {
            const char *name = json_string_value(json_object_get(v, "name"));
            if (name != NULL) {
                json_array_append_new(j, json_string(name));
            }
        }
    }
    return j;
}

static json_t *or_empty(const json_t *v)
{
    return json_is_array(v) ? json_deep_copy(v) : json_array();
}

/* The Cedar context of a call (task's mutex held: reads its history). */
static json_t *call_context(const struct btask *t, const struct broker_call *c, int64_t now,
                            const json_t *claims)
{
    const json_t *g = t->granted;
    const char *env = json_string_value(json_object_get(g, "environment"));
    json_t *task =
        json_pack("{s:s, s:s, s:s*, s:I, s:I, s:s, s:b, s:o, s:o, s:o}", "id", t->id, "intent",
                  t->intent, "human", t->human, "calls", (json_int_t)(t->calls - 1), "budget",
                  (json_int_t)t->budget, "env", env ? env : "", "delegated", t->human != NULL,
                  "tools", granted_tool_names(json_object_get(g, "tools")), "data_labels",
                  or_empty(json_object_get(g, "data_labels")), "downstream",
                  or_empty(json_object_get(g, "downstream")));

    /* The delegation chain (root first): depth 0 for a root task. */
    json_t *chain = broker_act_chain(claims), *agents = json_array();
    const char *root = "";
    size_t i;

    for (i = 0; chain && agents && i < json_array_size(chain); i++) {
        json_t *h = json_array_get(chain, i);
        const char *kind = json_string_value(json_object_get(h, "kind"));
        const char *id = json_string_value(json_object_get(h, "id"));
        if (kind && id && strcmp(kind, "agent") == 0) {
            json_array_append_new(agents, json_string(id));
        }
        if (i == 0 && id) {
            root = id;
        }
    }
    json_t *deleg =
        json_pack("{s:I, s:s, s:s, s:o, s:s}", "depth",
                  (json_int_t)(json_array_size(agents) > 0 ? json_array_size(agents) - 1 : 0),
                  "root", root, "root_human", t->human ? t->human : "", "agents",
                  agents ? agents : json_array(), "parent_task", t->parent ? t->parent : "");
    json_decref(chain);

    /* Names follow CallContext in examples/schema.cedarschema; the call
     * being checked is not in the history yet. */
    return json_pack(
        "{s:o, s:o, s:{s:s, s:s, s:s, s:o, s:s}, s:{s:I, s:I, s:o, s:s, s:o}, s:I}", "task", task,
        "delegation", deleg, "call", "tool", c->tool, "action", c->action, "resource",
        c->resource ? c->resource : "", "data_labels", labels_json(c), "downstream",
        c->downstream ? c->downstream : "", "history", "calls", (json_int_t)(t->calls - 1),
        "distinct_tools", (json_int_t)json_array_size(t->tools_used), "tools",
        json_deep_copy(t->tools_used), "previous_tool", t->prev_tool ? t->prev_tool : "",
        "data_labels", json_deep_copy(t->labels_touched), "now", (json_int_t)(now / 1000));
}

/* Records the allowed call in the task's history (mutex held). */
static void history_add(struct btask *t, const struct broker_call *c)
{
    size_t i;

    if (!str_in(t->tools_used, c->tool) && json_array_size(t->tools_used) < LIMIT_INTENT_TOOLS) {
        json_array_append_new(t->tools_used, json_string(c->tool));
    }
    for (i = 0; i < c->nlabels; i++) {
        if (!str_in(t->labels_touched, c->labels[i]) &&
            json_array_size(t->labels_touched) < LIMIT_INTENT_LABELS) {
            json_array_append_new(t->labels_touched, json_string(c->labels[i]));
        }
    }
    if (t->prev_tool == NULL || strcmp(t->prev_tool, c->tool) != 0) {
        char *p = strdup(c->tool);
        if (p != NULL) {
            free(t->prev_tool);
            t->prev_tool = p;
        }
    }
}

/* ---- the audit record (and the counter) --------------------------------------- */

struct check_tx {
    const struct broker_check_req *rq;
    struct btask *t; /* NULL: no task known */
    const char *agent;
    struct broker_audit_event ev;
    struct broker_audit_rendered rec; /* ev's columns, made before queueing */
    int write_row;
    int no_audit; /* `serve --audit off` (benchmarks only) */
    int64_t seq;
};

static int check_tx_fn(struct store *s, void *ctx, struct err *e)
{
    struct check_tx *x = ctx;
    int r = 0;

    if (x->write_row) {
        /* only the counter: a full-row rewrite cost more than the audit
         * insert (every column, both task indexes, four foreign keys) */
        r = s->ops->task_set_calls(s, x->t->id, x->t->calls, e);
    }
    return r || x->no_audit ? r : broker_audit_write(s, &x->rec, &x->seq, e);
}

static int audit_check(struct broker *b, const struct broker_check_req *rq, struct btask *t,
                       const char *agent, int allow, json_t *reasons, int64_t policy_version,
                       int write_row, const json_t *claims, int64_t *seq, struct err *e)
{
    struct check_tx x;
    json_t *labels = labels_json(&rq->call);
    int r;

    memset(&x, 0, sizeof(x));
    x.rq = rq;
    x.t = t;
    x.write_row = write_row;
    x.ev.event = "check";
    x.ev.agent = t ? t->agent : agent;
    x.ev.human = t ? t->human : NULL;
    x.ev.intent = t ? t->intent : NULL;
    x.ev.task = t ? t->id : NULL;
    x.ev.tool = rq->call.tool;
    x.ev.action = rq->call.action;
    x.ev.resource = rq->call.resource;
    x.ev.downstream = rq->call.downstream;
    x.ev.decision = allow ? "allow" : "deny";
    x.ev.data_labels = labels;
    x.ev.reasons = reasons;
    x.ev.policy_version = policy_version;
    if (t != NULL && t->parent != NULL && claims != NULL) {
        /* a delegated task's call names every hop up to the human */
        x.ev.actor_chain = broker_act_chain(claims);
    }
    x.no_audit = b->rt != NULL && b->rt->audit_checks_off;
    r = x.no_audit ? 0 : broker_audit_render(rq->caller, &x.ev, &x.rec, e);
    if (r == 0 && (!x.no_audit || write_row)) {
        r = commitq_run(tasks_commitq(b), b->store, check_tx_fn, &x, e);
    }
    broker_audit_rendered_clear(&x.rec);
    json_decref(x.ev.actor_chain);
    json_decref(labels);
    *seq = x.seq;
    return r;
}

/* ---- the check ----------------------------------------------------------------- */

static int reason(json_t *reasons, const char *s)
{
    return json_array_append_new(reasons, json_string(s)) == 0 ? 0 : ERR_NOMEM;
}

/* DPoP for a bound task: 0 ok, else a refusal code in *why (drift
 * another_key sets *drift). */
static int dpop_check(struct broker *b, const struct broker_check_req *rq, const struct btask *t,
                      const char **why, enum broker_drift *drift)
{
    struct jose_dpop_opts o;
    struct jose_dpop_result res;
    enum jose_reason jr = JOSE_R_OK;
    struct err e;
    int r;

    if (t->jkt == NULL) {
        return 0; /* a bearer task (the intent did not require DPoP) */
    }
    if (rq->dpop == NULL || rq->htm == NULL || rq->htu == NULL) {
        *why = rq->dpop == NULL ? "dpop_missing" : "invalid_request:method_and_url_required";
        return -1;
    }
    memset(&o, 0, sizeof(o));
    memset(&res, 0, sizeof(res));
    o.htm = rq->htm;
    o.htu = rq->htu;
    o.access_token = rq->token;
    o.skew_s = -1;
    o.replay = b->rt->dpop_replay;
    o.keys = b->rt->dpop_keys;
    r = jose_dpop_verify(rq->dpop, strlen(rq->dpop), &o, &res, &jr, &e);
    if (r != 0) {
        static const char *const names[] = {
            [JOSE_R_DPOP_REPLAY] = "dpop_replay",  [JOSE_R_DPOP_HTM] = "dpop_htm",
            [JOSE_R_DPOP_HTU] = "dpop_htu",        [JOSE_R_DPOP_ATH] = "dpop_ath",
            [JOSE_R_SIGNATURE] = "dpop_signature", [JOSE_R_IAT] = "dpop_iat",
            [JOSE_R_DPOP_JWK] = "dpop_jwk",        [JOSE_R_TYP] = "dpop_typ",
        };
        *why = (size_t)jr < sizeof(names) / sizeof(names[0]) && names[jr] ? names[jr]
                                                                          : "invalid_dpop_proof";
        return -1;
    }
    r = strcmp(res.jkt, t->jkt);
    jose_dpop_result_clear(&res);
    if (r != 0) {
        *why = broker_drift_name(DRIFT_ANOTHER_KEY);
        *drift = DRIFT_ANOTHER_KEY;
        return -1;
    }
    return 0;
}

/* Drift of the call against the task (mutex held); on none, reserves the
 * call in the budget and the rate bucket. */
static enum broker_drift drift_locked(struct btask *t, const struct broker_call *c, int64_t now,
                                      json_t *reasons)
{
    int n;

    if ((strcmp(t->state, "active") != 0 || t->expires_ms <= now)) {
        reason(reasons, t->expires_ms <= now ? "task_expired" : t->state);
        return DRIFT_TASK_ENDED;
    }
    n = broker_drift_scope(t->granted, c, reasons);
    if (n != 0) {
        /* The first code names the kind. */
        const char *first = json_string_value(
            json_array_get(reasons, json_array_size(reasons) - (size_t)(n > 0 ? n : 0)));
        size_t d;
        for (d = DRIFT_TOOL; first && d < DRIFT_COUNT; d++) {
            if (strcmp(first, drift_names[d]) == 0) {
                return (enum broker_drift)d;
            }
        }
        return DRIFT_TOOL;
    }
    if (t->calls + t->carved >= t->budget) {
        return DRIFT_BUDGET;
    }
    refill(t, now);
    if (t->bucket_milli < 1000) {
        return DRIFT_RATE;
    }
    t->calls++;
    t->bucket_milli -= 1000;
    return DRIFT_NONE;
}

static int check_input(const struct broker_check_req *rq, struct err *e)
{
    size_t i;

    if (rq->call.tool == NULL || rq->call.action == NULL) {
        return err_set(e, ERR_INVALID, "tool and action are required");
    }
    if (rq->call.nlabels > LIMIT_CHECK_LABELS) {
        return err_set(e, ERR_LIMIT, "data_labels: more than %d", LIMIT_CHECK_LABELS);
    }
    for (i = 0; i < rq->call.nlabels; i++) {
        if (rq->call.labels[i] == NULL) {
            return err_set(e, ERR_INVALID, "data_labels: strings only");
        }
    }
    return 0;
}

static int check_inner(struct broker *b, const struct broker_check_req *rq, struct arena *a,
                       struct broker_check_result *out, struct err *e)
{
    struct tasks_token tk;
    struct broker_policy_snapshot *snap = NULL;
    struct broker_decision d;
    enum broker_drift drift = DRIFT_NONE;
    const char *why = NULL;
    json_t *reasons = json_array(), *ctx = NULL;
    int64_t now = clock_wall_ms();
    int r, reserved = 0, counted = 0, allow = 0;
    struct btask *t;

    memset(out, 0, sizeof(*out));
    memset(&tk, 0, sizeof(tk));
    memset(&d, 0, sizeof(d));
    if (reasons == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (b->rt == NULL || b->rt->tasks == NULL) {
        json_decref(reasons);
        return err_set(e, ERR_UNAVAILABLE, "check: the access path is not running");
    }
    if ((r = check_input(rq, e)) != 0) {
        json_decref(reasons);
        return r;
    }
    /* 1. the token */
    r = tasks_token_resolve(b, rq->token, rq->token_len, &tk, &why, e);
    if (r != 0 && r != ERR_AUTH) {
        goto fail;
    }
    if (r == ERR_AUTH) {
        reason(reasons, why ? why : "invalid_token");
        r = audit_check(b, rq, tk.task, NULL, 0, reasons, 0, 0, NULL, &out->audit_seq, e);
        if (r != 0) {
            goto fail;
        }
        goto answer;
    }
    t = tk.task;
    out->task_id = arena_strdup(a, t->id);
    /* 2. DPoP */
    if (dpop_check(b, rq, t, &why, &drift) != 0) {
        reason(reasons, why);
    }
    /* 3-4. task state and drift, reserving the call */
    if (why == NULL && broker_killswitch_covers(b, t->agent, NULL, NULL)) {
        why = "killswitch"; /* belt and braces: the engage revoked it */
        reason(reasons, why);
    }
    pthread_mutex_lock(&t->mu);
    if (why == NULL) {
        drift = drift_locked(t, &rq->call, now, reasons);
        if (drift == DRIFT_BUDGET || drift == DRIFT_RATE || drift == DRIFT_TASK_ENDED) {
            reason(reasons, broker_drift_name(drift));
        }
        reserved = drift == DRIFT_NONE;
        if (reserved) {
            ctx = call_context(t, &rq->call, now, tk.claims);
        }
    }
    pthread_mutex_unlock(&t->mu);
    /* 5. drift applies the intent's rule before anything is answered */
    if (drift != DRIFT_NONE && drift != DRIFT_TASK_ENDED && t->on_drift_revoke) {
        json_t *detail = json_pack("{s:s, s:s, s:s}", "drift", broker_drift_name(drift), "tool",
                                   rq->call.tool, "action", rq->call.action);
        pthread_mutex_lock(&t->mu);
        r = tasks_end_locked(b, t, "revoked", broker_drift_name(drift), rq->caller, "task.revoke",
                             detail, NULL, e);
        pthread_mutex_unlock(&t->mu);
        json_decref(detail);
        if (r == 0) {
            tasks_end_subtree(b, t->id, rq->caller);
            out->revoked = 1;
            reason(reasons, "task_revoked");
        } else if (r != ERR_CONFLICT) {
            goto fail; /* the task is dead in memory; the store did not take it */
        }
    }
    /* 6. Cedar */
    if (reserved) {
        snap = broker_policy_acquire(b);
        if (ctx == NULL) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        } else if (snap == NULL) {
            r = err_set(e, ERR_UNAVAILABLE, "no policy snapshot");
        } else {
            r = broker_decide(b, snap, BROKER_CEDAR_AGENT, t->agent, "CallTool", BROKER_CEDAR_TOOL,
                              rq->call.tool, ctx, a, &d, e);
        }
        if (r == 0) {
            size_t i;
            allow = d.allow;
            out->policy_version = d.policy_version;
            for (i = 0; i < d.nreasons; i++) {
                reason(reasons, d.reasons[i]);
            }
        } else {
            log_event(LOG_WARN, "check", rq->caller ? rq->caller->request_id : NULL, "msg",
                      "policy evaluation failed: deny", "detail", e->msg, (const char *)NULL);
            reason(reasons, "policy_error");
            out->policy_version = snap ? snap->version : 0;
        }
    }
    /* 7. the answer is final under the task's mutex: a revoke that answered
     * meanwhile wins; the audit record (and counter) is written first */
    pthread_mutex_lock(&t->mu);
    if (allow && (strcmp(t->state, "active") != 0 || t->expires_ms <= clock_wall_ms())) {
        allow = 0;
        reason(reasons, "task_ended");
    }
    /* A reservation moved the counter, and another check's commit may have
     * stored it meanwhile (commits store the live count): a released one
     * writes the count back too, so the store never keeps a call that was
     * not allowed (perf-e2e: the counter in the file = the allowed calls). */
    counted = reserved;
    if (reserved && !allow) {
        t->calls--;
        t->bucket_milli += 1000;
        reserved = 0;
    }
    r = audit_check(b, rq, t, NULL, allow, reasons, out->policy_version, allow || counted,
                    tk.claims, &out->audit_seq, e);
    if (r != 0 && reserved) {
        t->calls--;
        t->bucket_milli += 1000;
    } else if (allow) {
        history_add(t, &rq->call);
    }
    out->state = arena_strdup(a, t->state);
    pthread_mutex_unlock(&t->mu);
    if (r != 0) {
        goto fail;
    }
answer:
    out->allow = allow;
    out->reasons = reasons;
    reasons = NULL;
    r = 0;
fail:
    json_decref(reasons);
    json_decref(ctx);
    broker_policy_release(snap);
    tasks_token_clear(&tk);
    return r;
}

int broker_check(struct broker *b, const struct broker_check_req *rq, struct arena *a,
                 struct broker_check_result *out, struct err *e)
{
    struct commitq *q = tasks_commitq(b);
    int r;

    commitq_enter(q);
    r = check_inner(b, rq, a, out, e);
    commitq_leave(q);
    return r;
}

void broker_check_result_clear(struct broker_check_result *out)
{
    json_decref(out->reasons);
    memset(out, 0, sizeof(*out));
}

/* ---- complete ------------------------------------------------------------------- */

int broker_task_complete(struct broker *b, const char *id, const char *token, size_t len,
                         const char *dpop, const char *htm, const char *htu, const char *request_id,
                         struct arena *a, json_t **out, struct err *e)
{
    struct broker_caller agent = {NULL, ROLE_NONE, NULL, request_id};
    struct broker_check_req rq;
    enum broker_drift drift = DRIFT_NONE;
    struct tasks_token tk;
    const char *why = NULL;
    int r;

    (void)a;
    *out = NULL;
    if (b->rt == NULL || b->rt->tasks == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access path is not running");
    }
    r = tasks_token_resolve(b, token, len, &tk, &why, e);
    if (r != 0) {
        tasks_token_clear(&tk);
        return r == ERR_AUTH ? err_set(e, ERR_AUTH, "%s", why ? why : "invalid_token") : r;
    }
    if (strcmp(tk.task->id, id) != 0) {
        tasks_token_clear(&tk);
        return err_set(e, ERR_FORBIDDEN, "the token is not this task's");
    }
    memset(&rq, 0, sizeof(rq));
    rq.token = token;
    rq.token_len = len;
    rq.dpop = dpop;
    rq.htm = htm;
    rq.htu = htu;
    if (dpop_check(b, &rq, tk.task, &why, &drift) != 0) {
        tasks_token_clear(&tk);
        return err_set(e, ERR_AUTH, "%s", why);
    }
    pthread_mutex_lock(&tk.task->mu);
    r = tasks_end_locked(b, tk.task, "completed", NULL, &agent, "task.complete", NULL, NULL, e);
    if (r == 0) {
        *out = btask_json_locked(tk.task);
    }
    pthread_mutex_unlock(&tk.task->mu);
    if (r == 0) {
        tasks_end_subtree(b, tk.task->id, &agent); /* a child never outlives it */
    }
    tasks_token_clear(&tk);
    if (r == 0 && *out == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    return r;
}
