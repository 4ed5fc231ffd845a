/*
 * audit.c: the one function every registry change (and later every
 * exchange, decision and revocation) is recorded through.
 *
 * broker_audit() writes through the store handle of the transaction that
 * makes the change, so the change and its record commit together or not at
 * all.  The record keeps the whole actor chain (for an API caller: the key,
 * its role and the human behind it; for an agent: the delegation chain), the
 * objects touched, the decision and its reasons, the policy version and the
 * request id.  The tamper-evident trail adds prev_hash/hash on top of these
 * columns without changing them.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

static json_t *caller_chain(const struct broker_caller *c)
{
    if (c == NULL) {
        return json_pack("[{s:s}]", "type", "system");
    }
    return json_pack("[{s:s, s:s?, s:s, s:s?}]", "type", "api_key", "id", c->key_id, "role",
                     broker_role_name(c->role), "sub", c->subject);
}

void broker_audit_rendered_clear(struct broker_audit_rendered *x)
{
    if (x == NULL) {
        return;
    }
    free(x->chain_s);
    free(x->reasons_s);
    free(x->labels_s);
    free(x->detail_s);
    memset(x, 0, sizeof(*x));
}

int broker_audit_render(const struct broker_caller *c, const struct broker_audit_event *ev,
                        struct broker_audit_rendered *x, struct err *e)
{
    json_t *chain = ev->actor_chain ? json_incref(ev->actor_chain) : caller_chain(c);
    json_t *reasons = ev->reasons ? json_incref(ev->reasons) : json_array();
    struct store_audit *r = &x->rec;
    int rc = ERR_NOMEM;

    memset(x, 0, sizeof(*x));
    if (chain == NULL || reasons == NULL) {
        goto out;
    }
    x->chain_s = json_dumps(chain, JSON_COMPACT | JSON_SORT_KEYS);
    x->reasons_s = json_dumps(reasons, JSON_COMPACT | JSON_SORT_KEYS);
    x->labels_s =
        ev->data_labels ? json_dumps(ev->data_labels, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    x->detail_s = ev->detail ? json_dumps(ev->detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (x->chain_s == NULL || x->reasons_s == NULL || (ev->data_labels && x->labels_s == NULL) ||
        (ev->detail && x->detail_s == NULL)) {
        goto out;
    }
    r->event = ev->event;
    r->request_id = c ? c->request_id : NULL;
    r->caller = c ? c->key_id : NULL;
    r->actor_chain = x->chain_s;
    r->agent = ev->agent;
    r->human = ev->human;
    r->intent = ev->intent;
    r->task = ev->task;
    r->tool = ev->tool;
    r->action = ev->action;
    r->resource = ev->resource;
    r->data_labels = x->labels_s;
    r->downstream = ev->downstream;
    r->decision = ev->decision ? ev->decision : "ok";
    r->reasons = x->reasons_s;
    r->policy_version = ev->policy_version;
    r->detail = x->detail_s;
    rc = 0;
out:
    json_decref(chain);
    json_decref(reasons);
    if (rc != 0) {
        broker_audit_rendered_clear(x);
        err_set(e, ERR_NOMEM, "audit: out of memory");
    }
    return rc;
}

int broker_audit_write(struct store *s, struct broker_audit_rendered *x, int64_t *seq,
                       struct err *e)
{
    int rc;

    x->rec.time_ms = clock_wall_ms(); /* when it is written: in seq order */
    rc = s->ops->audit_append(s, &x->rec, seq, e);
    if (rc != 0) {
        err_prefix(e, "audit: ");
    }
    return rc;
}

int broker_audit(struct store *s, const struct broker_caller *c,
                 const struct broker_audit_event *ev, int64_t *seq, struct err *e)
{
    struct broker_audit_rendered x;
    int rc = broker_audit_render(c, ev, &x, e);

    rc = rc ? rc : broker_audit_write(s, &x, seq, e);
    broker_audit_rendered_clear(&x);
    return rc;
}

int broker_audit_refusal(struct broker *b, const struct broker_caller *c, const char *method,
                         const char *path, const char *reason, struct err *e)
{
    struct broker_audit_event ev;
    int r;

    memset(&ev, 0, sizeof(ev));
    ev.event = "request.refused";
    ev.decision = "deny";
    ev.reasons = json_pack("[s]", reason);
    ev.detail = json_pack("{s:s, s:s}", "method", method, "path", path);
    r = ev.reasons && ev.detail ? broker_audit(b->store, c, &ev, NULL, e)
                                : err_set(e, ERR_NOMEM, "out of memory");
    json_decref(ev.reasons);
    json_decref(ev.detail);
    return r;
}

json_t *broker_audit_record_json(const struct store_audit *r)
{
    json_t *j = json_pack(
        "{s:I, s:o, s:s, s:s?, s:s?, s:o, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:s?,"
        " s:s, s:o, s:I, s:o}",
        "seq", (json_int_t)r->seq, "time", broker_time_json(r->time_ms), "event", r->event,
        "request_id", r->request_id, "caller", r->caller, "actor_chain",
        broker_json_parse(r->actor_chain), "agent", r->agent, "human", r->human, "intent",
        r->intent, "task", r->task, "tool", r->tool, "action", r->action, "resource", r->resource,
        "data_labels", broker_json_parse(r->data_labels), "downstream", r->downstream, "decision",
        r->decision, "reasons", broker_json_parse(r->reasons), "policy_version",
        (json_int_t)r->policy_version, "detail", broker_json_parse(r->detail));

    return j;
}

int broker_audit_list(struct broker *b, int64_t after, size_t limit, struct arena *a, json_t **out,
                      struct err *e)
{
    struct store_audit *v;
    json_t *items = json_array(), *page;
    size_t i, n = 0;
    int r;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    r = b->store->ops->audit_list(b->store, after, limit, a, &v, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (json_array_append_new(items, broker_audit_record_json(&v[i])) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (r != 0) {
        json_decref(items);
        return r;
    }
    page = n == limit ? json_pack("{s:o, s:I}", "items", items, "next", (json_int_t)v[n - 1].seq)
                      : json_pack("{s:o, s:n}", "items", items, "next");
    return broker_json_out(page, out, e);
}
