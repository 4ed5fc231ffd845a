/*
 * lifecycle.c: agent status transitions and human offboarding.
 *
 * active <-> suspended, and either -> offboarded, which is final.  Who may
 * do what is decided here, not at the HTTP edge, so every edge gets the same
 * answer: admin anything; security suspends or offboards any agent; an owner
 * suspends or offboards its own (reactivation is admin's, so an owner cannot
 * undo a security suspension).  Offboarding an agent removes its standing
 * entitlements and revokes its live tasks in the same transaction, and each
 * step leaves its own audit record as evidence.  Offboarding a human
 * suspends every active agent it owns: nothing keeps running unowned.
 */
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

static const struct broker_field status_fields[] = {
    {"status", JSON_STRING, 1, 16},
    {"reason", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

struct status_ctx {
    const char *id;
    const char *to;
    const char *reason;
    struct store_agent ag; /* after the change */
};

/* May c move an agent to `to`?  (Ownership was checked by visibility.) */
static int allowed(const struct broker_caller *c, const char *to, struct err *e)
{
    if (c == NULL || c->role == ROLE_ADMIN) {
        return 0;
    }
    if ((c->role == ROLE_SECURITY || c->role == ROLE_OWNER) && strcmp(to, "active") != 0) {
        return 0;
    }
    return err_set(e, ERR_FORBIDDEN, "the %s role may not set an agent %s",
                   broker_role_name(c->role), to);
}

static int transition_check(struct store *s, const struct store_agent *ag, const char *to,
                            struct arena *a, struct err *e)
{
    struct store_human owner;
    int r;

    if (strcmp(ag->status, "offboarded") == 0) {
        return err_set(e, ERR_CONFLICT, "agent \"%s\" is offboarded: that is final", ag->id);
    }
    if (strcmp(ag->status, to) == 0) {
        return err_set(e, ERR_CONFLICT, "agent \"%s\" is %s already", ag->id, to);
    }
    if (strcmp(to, "active") == 0) {
        r = s->ops->human_get(s, ag->owner, a, &owner, e);
        if (r != 0) {
            return r;
        }
        if (strcmp(owner.status, "active") != 0) {
            return err_set(e, ERR_CONFLICT,
                           "agent \"%s\": its owner \"%s\" is %s; reassign it before "
                           "reactivating",
                           ag->id, owner.id, owner.status);
        }
    }
    return 0;
}

/* Offboarding's further steps, each with its own audit record. */
static int offboard_steps(struct store *s, struct broker_change *ch, struct store_agent *ag,
                          struct err *e)
{
    struct broker_audit_event ev;
    int64_t n = 0;
    int r;

    r = s->ops->entitlement_clear(s, ag->id, &n, e);
    if (r != 0) {
        return r;
    }
    memset(&ev, 0, sizeof(ev));
    ev.event = "agent.entitlements_removed";
    ev.agent = ag->id;
    ev.human = ag->owner;
    ev.resource = ch->ev.resource;
    ev.detail = json_pack("{s:I, s:s}", "removed", (json_int_t)n, "cause", "offboarding");
    r = broker_audit(s, ch->c, &ev, NULL, e);
    json_decref(ev.detail);
    if (r != 0) {
        return r;
    }
    r = s->ops->task_revoke_agent(s, ag->id, "agent offboarded", clock_wall_ms(), &n, e);
    if (r != 0) {
        return r;
    }
    ev.event = "agent.tasks_revoked";
    ev.detail = json_pack("{s:I, s:s}", "revoked", (json_int_t)n, "cause", "offboarding");
    r = broker_audit(s, ch->c, &ev, NULL, e);
    json_decref(ev.detail);
    return r;
}

static int status_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct status_ctx *x = ch->ctx;
    struct store_agent *ag = &x->ag;
    const char *from;
    int r;

    r = broker_agent_visible(s, ch->c, x->id, ch->a, ag, e);
    r = r ? r : allowed(ch->c, x->to, e);
    r = r ? r : transition_check(s, ag, x->to, ch->a, e);
    if (r != 0) {
        return r;
    }
    from = ag->status;
    ag->status = x->to;
    ag->status_changed_ms = clock_wall_ms();
    ag->status_reason = x->reason;
    r = s->ops->agent_update(s, ag, e);
    if (r != 0) {
        return r;
    }
    ch->ev.human = ag->owner;
    ch->ev.detail = json_pack("{s:s, s:s, s:s?}", "from", from, "to", x->to, "reason", x->reason);
    if (ch->ev.detail == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return strcmp(x->to, "offboarded") == 0 ? offboard_steps(s, ch, ag, e) : 0;
}

int broker_agent_set_status(struct broker *b, const struct broker_caller *c, const char *id,
                            json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct status_ctx x;
    struct broker_change ch = {c, a, &x, status_apply, {.event = "agent.status"}};
    int r;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    r = broker_fields_check(in, status_fields, BROKER_NFIELDS(status_fields), e);
    if (r != 0) {
        return r;
    }
    x.id = id;
    x.to = broker_str(in, "status", NULL);
    x.reason = broker_str(in, "reason", NULL);
    if (strcmp(x.to, "active") != 0 && strcmp(x.to, "suspended") != 0 &&
        strcmp(x.to, "offboarded") != 0) {
        return err_set(e, ERR_INVALID, "status: one of active, suspended, offboarded");
    }
    ch.ev.agent = id;
    ch.ev.resource = arena_printf(a, "agent:%s", id);
    r = broker_change_run(b, &ch, e);
    if (r == 0) {
        r = broker_json_out(broker_agent_json(&x.ag), out, e);
    }
    json_decref(ch.ev.detail);
    return r;
}

/* ---- human offboarding -------------------------------------------------------- */

struct offboard_ctx {
    const char *id;
    const char *reason;
    struct store_human h;
    int64_t orphans;
};

/* Suspends one page of the human's active agents; *more when a full page. */
static int orphan_page(struct store *s, struct broker_change *ch, const char **after, int *more,
                       struct err *e)
{
    struct offboard_ctx *x = ch->ctx;
    struct store_page p = {*after, LIMIT_LIST_PAGE_MAX};
    struct broker_audit_event ev;
    struct store_agent *v;
    size_t i, n;
    int r = s->ops->agent_list_owner(s, x->id, &p, ch->a, &v, &n, e);

    *more = r == 0 && n == LIMIT_LIST_PAGE_MAX;
    for (i = 0; r == 0 && i < n; i++) {
        *after = v[i].id;
        if (strcmp(v[i].status, "active") != 0) {
            continue;
        }
        v[i].status = "suspended";
        v[i].status_changed_ms = clock_wall_ms();
        v[i].status_reason = "orphaned: owner offboarded";
        r = s->ops->agent_update(s, &v[i], e);
        if (r != 0) {
            break;
        }
        memset(&ev, 0, sizeof(ev));
        ev.event = "agent.status";
        ev.agent = v[i].id;
        ev.human = x->id;
        ev.resource = arena_printf(ch->a, "agent:%s", v[i].id);
        ev.detail = json_pack("{s:s, s:s, s:s}", "from", "active", "to", "suspended", "reason",
                              "orphaned: owner offboarded");
        r = broker_audit(s, ch->c, &ev, NULL, e);
        json_decref(ev.detail);
        x->orphans++;
    }
    return r;
}

static int offboard_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct offboard_ctx *x = ch->ctx;
    const char *after = NULL;
    int more = 1, r;

    r = s->ops->human_get(s, x->id, ch->a, &x->h, e);
    if (r != 0) {
        return r;
    }
    if (strcmp(x->h.status, "offboarded") == 0) {
        return err_set(e, ERR_CONFLICT, "human \"%s\" is offboarded already", x->id);
    }
    x->h.status = "offboarded";
    r = s->ops->human_update(s, &x->h, e);
    while (r == 0 && more) {
        r = orphan_page(s, ch, &after, &more, e);
    }
    if (r == 0) {
        ch->ev.detail = json_pack("{s:I, s:s?}", "agents_suspended", (json_int_t)x->orphans,
                                  "reason", x->reason);
    }
    return r;
}

static const struct broker_field offboard_fields[] = {
    {"reason", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

int broker_human_offboard(struct broker *b, const struct broker_caller *c, const char *id,
                          json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct offboard_ctx x;
    struct broker_change ch = {c, a, &x, offboard_apply, {.event = "human.offboard"}};
    int r;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    if (in != NULL &&
        (r = broker_fields_check(in, offboard_fields, BROKER_NFIELDS(offboard_fields), e)) != 0) {
        return r;
    }
    x.id = id;
    x.reason = in ? broker_str(in, "reason", NULL) : NULL;
    ch.ev.human = id;
    ch.ev.resource = arena_printf(a, "human:%s", id);
    r = broker_change_run(b, &ch, e);
    if (r == 0) {
        r = broker_json_out(json_pack("{s:s, s:s, s:I}", "id", id, "status", "offboarded",
                                      "agents_suspended", (json_int_t)x.orphans),
                            out, e);
    }
    json_decref(ch.ev.detail);
    return r;
}
