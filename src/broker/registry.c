/*
 * registry.c: humans, teams and agents, and the generic get, list and
 * delete of every registry kind.
 *
 * Agents are created inside a store transaction that first checks the owner
 * (must exist and be active), the team and the attesting trust issuer, so no
 * agent is ever stored with a dangling or offboarded owner.  Every create and
 * delete is one broker_change: the write and its audit record commit
 * together.  Owners see only their own agents (broker_agent_visible).
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/spiffe.h"

int broker_id_check(const char *field, const char *s, struct err *e)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "%s: must be 1 to %d characters", field, LIMIT_ID_LEN);
    }
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-')) {
            return err_set(e, ERR_INVALID, "%s: only letters, digits and . _ @ - are allowed",
                           field);
        }
    }
    return 0;
}

static int email_check(const char *s, struct err *e)
{
    const char *at = strchr(s, '@');
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) {
            return err_set(e, ERR_INVALID, "email: contains a space or control character");
        }
    }
    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL ||
        strchr(at + 1, '.') == NULL) {
        return err_set(e, ERR_INVALID, "email: not an address like name@example.com");
    }
    return 0;
}

/* ---- JSON views of records ------------------------------------------------ */

static json_t *human_json(const struct store_human *h)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:o}", "id", h->id, "email", h->email, "name", h->name,
                     "status", h->status, "created", broker_time_json(h->created_ms));
}

static json_t *team_json(const struct store_team *t)
{
    return json_pack("{s:s, s:s?, s:o}", "id", t->id, "name", t->name, "created",
                     broker_time_json(t->created_ms));
}

json_t *broker_agent_json(const struct store_agent *ag)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I, s:s, s:o, s:s?, s:s?, s:o, s:s?}", "id",
                     ag->id, "owner", ag->owner, "team", ag->team, "purpose", ag->purpose,
                     "environment", ag->environment, "risk_tier", (json_int_t)ag->risk_tier,
                     "status", ag->status, "created", broker_time_json(ag->created_ms), "issuer",
                     ag->issuer, "subject", ag->subject, "status_changed",
                     broker_time_json(ag->status_changed_ms), "status_reason", ag->status_reason);
}

/* ---- humans and teams ----------------------------------------------------- */

static int human_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return s->ops->human_insert(s, ch->ctx, e);
}

static const struct broker_field human_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"email", JSON_STRING, 1, LIMIT_TEXT_LEN},
    {"name", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

int broker_human_create(struct broker *b, const struct broker_caller *c, json_t *in,
                        struct arena *a, json_t **out, struct err *e)
{
    struct store_human h;
    struct broker_change ch = {c, a, &h, human_apply, {.event = "human.create"}};
    int r;

    *out = NULL;
    r = broker_fields_check(in, human_fields, BROKER_NFIELDS(human_fields), e);
    if (r != 0) {
        return r;
    }
    memset(&h, 0, sizeof(h));
    h.id = broker_str(in, "id", NULL);
    h.email = broker_str(in, "email", NULL);
    h.name = broker_str(in, "name", NULL);
    h.status = "active";
    h.created_ms = clock_wall_ms();
    if ((r = broker_id_check("id", h.id, e)) != 0 || (r = email_check(h.email, e)) != 0) {
        return r;
    }
    ch.ev.human = h.id;
    ch.ev.resource = arena_printf(a, "human:%s", h.id);
    r = broker_change_run(b, &ch, e);
    return r ? r : broker_json_out(human_json(&h), out, e);
}

static int team_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return s->ops->team_insert(s, ch->ctx, e);
}

static const struct broker_field team_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"name", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

int broker_team_create(struct broker *b, const struct broker_caller *c, json_t *in, struct arena *a,
                       json_t **out, struct err *e)
{
    struct store_team t;
    struct broker_change ch = {c, a, &t, team_apply, {.event = "team.create"}};
    int r;

    *out = NULL;
    r = broker_fields_check(in, team_fields, BROKER_NFIELDS(team_fields), e);
    if (r != 0) {
        return r;
    }
    memset(&t, 0, sizeof(t));
    t.id = broker_str(in, "id", NULL);
    t.name = broker_str(in, "name", NULL);
    t.created_ms = clock_wall_ms();
    if ((r = broker_id_check("id", t.id, e)) != 0) {
        return r;
    }
    ch.ev.resource = arena_printf(a, "team:%s", t.id);
    r = broker_change_run(b, &ch, e);
    return r ? r : broker_json_out(team_json(&t), out, e);
}

/* ---- agents --------------------------------------------------------------- */

static const struct broker_field agent_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_SPIFFE_ID_LEN},   {"owner", JSON_STRING, 1, LIMIT_ID_LEN},
    {"team", JSON_STRING, 0, LIMIT_ID_LEN},        {"purpose", JSON_STRING, 1, LIMIT_TEXT_LEN},
    {"environment", JSON_STRING, 0, LIMIT_ID_LEN}, {"risk_tier", JSON_INTEGER, 0, 0},
    {"issuer", JSON_STRING, 0, LIMIT_ID_LEN},      {"subject", JSON_STRING, 0, LIMIT_SPIFFE_ID_LEN},
};

/* Risk tiers: 0 (read-only, internal) to 3 (moves money, touches PII). */
#define RISK_TIER_MAX 3

/* Path segments that name sub-resources of an agent in the HTTP API
 * (/v1/agents/{id}/status, .../entitlements): an agent id holding one as a
 * segment would be shadowed by those routes, so it is refused. */
static const char *const reserved_segments[] = {"status", "entitlements"};

static int agent_path_check(const struct spiffe_id *sid, struct err *e)
{
    const char *p = sid->path, *end = sid->path + sid->path_len;
    size_t i;

    while (p < end) {
        const char *seg = p + 1, *next = memchr(seg, '/', (size_t)(end - seg));
        size_t n = next ? (size_t)(next - seg) : (size_t)(end - seg);
        for (i = 0; i < sizeof(reserved_segments) / sizeof(reserved_segments[0]); i++) {
            if (strlen(reserved_segments[i]) == n && memcmp(seg, reserved_segments[i], n) == 0) {
                return err_set(e, ERR_INVALID, "id: the path segment \"%s\" is reserved",
                               reserved_segments[i]);
            }
        }
        p = seg + n;
    }
    return 0;
}

/* The attesting issuer: exists, vouches for agents; a SPIFFE issuer's trust
 * domain is the agent's, and the subject is the agent's SPIFFE ID. */
static int agent_issuer_check(struct store *s, struct store_agent *ag, struct arena *a,
                              struct err *e)
{
    struct store_issuer is;
    struct spiffe_id sid;
    int r;

    if (ag->issuer == NULL) {
        return ag->subject ? err_set(e, ERR_INVALID, "subject: needs an issuer") : 0;
    }
    r = s->ops->issuer_get(s, ag->issuer, a, &is, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "issuer: no trust issuer \"%s\"", ag->issuer);
    }
    if (r != 0) {
        return r;
    }
    if (strcmp(is.principals, "agents") != 0) {
        return err_set(e, ERR_INVALID, "issuer: \"%s\" vouches for humans, not agents", is.id);
    }
    if (strcmp(is.kind, "spiffe") == 0) {
        if (spiffe_id_parse(ag->id, strlen(ag->id), 1, &sid, NULL) != 0 ||
            strlen(is.issuer) != sid.td_len || memcmp(is.issuer, sid.td, sid.td_len) != 0) {
            return err_set(e, ERR_INVALID, "issuer: trust domain %s is not the agent's", is.issuer);
        }
        if (ag->subject != NULL && strcmp(ag->subject, ag->id) != 0) {
            return err_set(e, ERR_INVALID, "subject: a SPIFFE agent's subject is its id");
        }
        ag->subject = ag->id;
    } else if (ag->subject == NULL || ag->subject[0] == '\0') {
        return err_set(e, ERR_INVALID, "subject: an oidc issuer needs the agent's subject");
    }
    return 0;
}

static int agent_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct store_agent *ag = ch->ctx;
    struct store_human owner;
    struct store_team team;
    int r;

    r = s->ops->human_get(s, ag->owner, ch->a, &owner, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "owner: no human \"%s\"", ag->owner);
    }
    if (r != 0) {
        return r;
    }
    if (strcmp(owner.status, "active") != 0) {
        return err_set(e, ERR_INVALID, "owner: human \"%s\" is %s, not active", owner.id,
                       owner.status);
    }
    if (ag->team != NULL) {
        r = s->ops->team_get(s, ag->team, ch->a, &team, e);
        if (r == ERR_NOTFOUND) {
            return err_set(e, ERR_NOTFOUND, "team: no team \"%s\"", ag->team);
        }
        if (r != 0) {
            return r;
        }
    }
    r = agent_issuer_check(s, ag, ch->a, e);
    if (r != 0) {
        return r;
    }
    r = s->ops->agent_insert(s, ag, e);
    if (r == ERR_CONFLICT && ag->issuer != NULL &&
        s->ops->agent_by_subject(s, ag->issuer, ag->subject, ch->a, &(struct store_agent){0},
                                 NULL) == 0) {
        return err_set(e, ERR_CONFLICT, "subject: another agent has this issuer's subject");
    }
    return r;
}

int broker_agent_create(struct broker *b, const struct broker_caller *c, json_t *in,
                        struct arena *a, json_t **out, struct err *e)
{
    struct store_agent ag;
    struct broker_change ch = {c, a, &ag, agent_apply, {.event = "agent.create"}};
    struct spiffe_id sid;
    int r;

    *out = NULL;
    r = broker_fields_check(in, agent_fields, BROKER_NFIELDS(agent_fields), e);
    if (r != 0) {
        return r;
    }
    memset(&ag, 0, sizeof(ag));
    ag.id = broker_str(in, "id", NULL);
    ag.owner = broker_str(in, "owner", NULL);
    ag.team = broker_str(in, "team", NULL);
    ag.purpose = broker_str(in, "purpose", NULL);
    ag.environment = broker_str(in, "environment", "production");
    ag.issuer = broker_str(in, "issuer", NULL);
    ag.subject = broker_str(in, "subject", NULL);
    ag.status = "active";
    ag.created_ms = clock_wall_ms();
    if ((r = broker_int(in, "risk_tier", 1, 0, RISK_TIER_MAX, &ag.risk_tier, e)) != 0) {
        return r;
    }
    r = spiffe_id_parse(ag.id, strlen(ag.id), 1, &sid, e);
    if (r != 0) {
        return err_prefix(e, "id: not a SPIFFE ID: ");
    }
    if ((r = agent_path_check(&sid, e)) != 0 || (r = broker_id_check("owner", ag.owner, e)) != 0 ||
        (ag.team && (r = broker_id_check("team", ag.team, e)) != 0) ||
        (ag.issuer && (r = broker_id_check("issuer", ag.issuer, e)) != 0) ||
        (r = broker_id_check("environment", ag.environment, e)) != 0) {
        return r;
    }
    if (ag.purpose[0] == '\0') {
        return err_set(e, ERR_INVALID, "purpose: must not be empty");
    }
    ch.ev.agent = ag.id;
    ch.ev.human = ag.owner;
    ch.ev.resource = arena_printf(a, "agent:%s", ag.id);
    r = broker_change_run(b, &ch, e);
    return r ? r : broker_json_out(broker_agent_json(&ag), out, e);
}

/* ---- agent updates (reassignment) ------------------------------------------- */

static const struct broker_field agent_update_fields[] = {
    {"owner", JSON_STRING, 0, LIMIT_ID_LEN},     {"team", JSON_STRING, 0, LIMIT_ID_LEN},
    {"purpose", JSON_STRING, 0, LIMIT_TEXT_LEN}, {"environment", JSON_STRING, 0, LIMIT_ID_LEN},
    {"risk_tier", JSON_INTEGER, 0, 0},
};

struct agent_update_ctx {
    const char *id;
    json_t *in;
    struct store_agent ag;
};

static int agent_update_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct agent_update_ctx *x = ch->ctx;
    struct store_agent *ag = &x->ag;
    struct store_human owner;
    struct store_team team;
    int r = broker_agent_visible(s, ch->c, x->id, ch->a, ag, e);

    if (r != 0) {
        return r;
    }
    if (strcmp(ag->status, "offboarded") == 0) {
        return err_set(e, ERR_CONFLICT, "agent \"%s\" is offboarded", ag->id);
    }
    ag->owner = broker_str(x->in, "owner", ag->owner);
    ag->team = broker_str(x->in, "team", ag->team);
    ag->purpose = broker_str(x->in, "purpose", ag->purpose);
    ag->environment = broker_str(x->in, "environment", ag->environment);
    r = broker_int(x->in, "risk_tier", ag->risk_tier, 0, RISK_TIER_MAX, &ag->risk_tier, e);
    r = r ? r : broker_id_check("owner", ag->owner, e);
    r = r ? r : broker_id_check("environment", ag->environment, e);
    r = r || ag->team == NULL ? r : broker_id_check("team", ag->team, e);
    if (r == 0 && ag->purpose[0] == '\0') {
        r = err_set(e, ERR_INVALID, "purpose: must not be empty");
    }
    if (r != 0) {
        return r;
    }
    r = s->ops->human_get(s, ag->owner, ch->a, &owner, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "owner: no human \"%s\"", ag->owner);
    }
    if (r == 0 && strcmp(owner.status, "active") != 0) {
        return err_set(e, ERR_INVALID, "owner: human \"%s\" is %s, not active", owner.id,
                       owner.status);
    }
    if (r == 0 && ag->team != NULL) {
        r = s->ops->team_get(s, ag->team, ch->a, &team, e);
        if (r == ERR_NOTFOUND) {
            return err_set(e, ERR_NOTFOUND, "team: no team \"%s\"", ag->team);
        }
    }
    r = r ? r : s->ops->agent_update(s, ag, e);
    ch->ev.human = ag->owner;
    ch->ev.detail = json_deep_copy(x->in);
    return r;
}

int broker_agent_update(struct broker *b, const struct broker_caller *c, const char *id, json_t *in,
                        struct arena *a, json_t **out, struct err *e)
{
    struct agent_update_ctx x;
    struct broker_change ch = {c, a, &x, agent_update_apply, {.event = "agent.update"}};
    int r;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    r = broker_fields_check(in, agent_update_fields, BROKER_NFIELDS(agent_update_fields), e);
    if (r != 0) {
        return r;
    }
    if (json_object_size(in) == 0) {
        return err_set(e, ERR_INVALID, "body: name at least one field to change");
    }
    if (c != NULL && c->role != ROLE_ADMIN) {
        return err_set(e, ERR_FORBIDDEN, "only admin reassigns or changes an agent");
    }
    x.id = id;
    x.in = in;
    ch.ev.agent = id;
    ch.ev.resource = arena_printf(a, "agent:%s", id);
    r = broker_change_run(b, &ch, e);
    json_decref(ch.ev.detail);
    return r ? r : broker_json_out(broker_agent_json(&x.ag), out, e);
}

/* ---- generic reads ------------------------------------------------------------ */

int broker_get(struct broker *b, const struct broker_caller *c, enum broker_kind k, const char *id,
               struct arena *a, json_t **out, struct err *e)
{
    struct store *s = b->store;
    int r;

    *out = NULL;
    switch (k) {
    case BROKER_HUMAN: {
        struct store_human x;
        r = s->ops->human_get(s, id, a, &x, e);
        return r ? r : broker_json_out(human_json(&x), out, e);
    }
    case BROKER_TEAM: {
        struct store_team x;
        r = s->ops->team_get(s, id, a, &x, e);
        return r ? r : broker_json_out(team_json(&x), out, e);
    }
    case BROKER_AGENT: {
        struct store_agent x;
        r = broker_agent_visible(s, c, id, a, &x, e);
        return r ? r : broker_json_out(broker_agent_json(&x), out, e);
    }
    case BROKER_ISSUER: {
        struct store_issuer x;
        r = s->ops->issuer_get(s, id, a, &x, e);
        return r ? r : broker_json_out(broker_issuer_json(&x), out, e);
    }
    case BROKER_TOOL: {
        struct store_tool x;
        r = s->ops->tool_get(s, id, a, &x, e);
        return r ? r : broker_json_out(broker_tool_json(&x), out, e);
    }
    case BROKER_INTENT: {
        struct store_intent x;
        r = s->ops->intent_get(s, id, a, &x, e);
        return r ? r : broker_json_out(broker_intent_json(&x), out, e);
    }
    }
    return err_set(e, ERR_INTERNAL, "unknown kind");
}

/* Appends the JSON views of n records of one kind; *last is the last id. */
#define APPEND_ALL(v, n, tojson, items, last, r)                                                   \
    do {                                                                                           \
        size_t i_;                                                                                 \
        for (i_ = 0; (r) == 0 && i_ < (n); i_++) {                                                 \
            if (json_array_append_new((items), tojson(&(v)[i_])) != 0) {                           \
                (r) = ERR_NOMEM;                                                                   \
            }                                                                                      \
            (last) = (v)[i_].id;                                                                   \
        }                                                                                          \
    } while (0)

static int list_agents(struct store *s, const struct broker_caller *c, const struct store_page *p,
                       struct arena *a, json_t *items, const char **last, size_t *n, struct err *e)
{
    struct store_agent *v;
    int r;

    if (c != NULL && c->role == ROLE_OWNER) {
        if (c->subject == NULL) {
            return err_set(e, ERR_FORBIDDEN, "this owner key names no human (subject)");
        }
        r = s->ops->agent_list_owner(s, c->subject, p, a, &v, n, e);
    } else {
        r = s->ops->agent_list(s, p, a, &v, n, e);
    }
    APPEND_ALL(v, *n, broker_agent_json, items, *last, r);
    return r;
}

int broker_list(struct broker *b, const struct broker_caller *c, enum broker_kind k,
                const char *after, size_t limit, struct arena *a, json_t **out, struct err *e)
{
    struct store *s = b->store;
    struct store_page p = {after, limit};
    json_t *items = json_array(), *page;
    const char *last = NULL;
    size_t n = 0;
    int r = ERR_INTERNAL;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (k == BROKER_HUMAN) {
        struct store_human *v;
        r = s->ops->human_list(s, &p, a, &v, &n, e);
        APPEND_ALL(v, n, human_json, items, last, r);
    } else if (k == BROKER_TEAM) {
        struct store_team *v;
        r = s->ops->team_list(s, &p, a, &v, &n, e);
        APPEND_ALL(v, n, team_json, items, last, r);
    } else if (k == BROKER_AGENT) {
        r = list_agents(s, c, &p, a, items, &last, &n, e);
    } else if (k == BROKER_ISSUER) {
        struct store_issuer *v;
        r = s->ops->issuer_list(s, &p, a, &v, &n, e);
        APPEND_ALL(v, n, broker_issuer_json, items, last, r);
    } else if (k == BROKER_TOOL) {
        struct store_tool *v;
        r = s->ops->tool_list(s, &p, a, &v, &n, e);
        APPEND_ALL(v, n, broker_tool_json, items, last, r);
    } else if (k == BROKER_INTENT) {
        struct store_intent *v;
        r = s->ops->intent_list(s, &p, a, &v, &n, e);
        APPEND_ALL(v, n, broker_intent_json, items, last, r);
    }
    if (r != 0) {
        json_decref(items);
        return r == ERR_NOMEM ? err_set(e, ERR_NOMEM, "out of memory") : r;
    }
    /* A full page may have more after it; a short one is the last. */
    page = json_pack("{s:o, s:s?}", "items", items, "next",
                     n == (limit ? limit : LIMIT_LIST_PAGE_MAX) ? last : NULL);
    return broker_json_out(page, out, e);
}

/* ---- deletes ----------------------------------------------------------------- */

struct del_ctx {
    enum broker_kind k;
    const char *id;
};

static int del_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct del_ctx *d = ch->ctx;
    struct store_agent ag;
    int r;

    switch (d->k) {
    case BROKER_HUMAN:
        return s->ops->human_delete(s, d->id, e);
    case BROKER_TEAM:
        return s->ops->team_delete(s, d->id, e);
    case BROKER_AGENT:
        r = broker_agent_visible(s, ch->c, d->id, ch->a, &ag, e);
        ch->ev.human = r == 0 ? ag.owner : NULL;
        return r ? r : s->ops->agent_delete(s, d->id, e);
    case BROKER_ISSUER:
        return s->ops->issuer_delete(s, d->id, e);
    case BROKER_TOOL:
        return s->ops->tool_delete(s, d->id, e);
    case BROKER_INTENT:
        return s->ops->intent_delete(s, d->id, e);
    }
    return err_set(e, ERR_INTERNAL, "unknown kind");
}

int broker_delete(struct broker *b, const struct broker_caller *c, enum broker_kind k,
                  const char *id, struct err *e)
{
    static const char *const kinds[] = {"human", "team", "agent", "issuer", "tool", "intent"};
    struct del_ctx d = {k, id};
    struct arena a;
    struct broker_change ch;
    int r;

    if ((size_t)k >= sizeof(kinds) / sizeof(kinds[0])) {
        return err_set(e, ERR_INTERNAL, "unknown kind");
    }
    arena_init(&a, 0, 0);
    memset(&ch, 0, sizeof(ch));
    ch.c = c;
    ch.a = &a;
    ch.ctx = &d;
    ch.apply = del_apply;
    ch.ev.event = arena_printf(&a, "%s.delete", kinds[k]);
    ch.ev.resource = arena_printf(&a, "%s:%s", kinds[k], id);
    ch.ev.agent = k == BROKER_AGENT ? id : NULL;
    ch.ev.human = k == BROKER_HUMAN ? id : NULL;
    ch.ev.intent = k == BROKER_INTENT ? id : NULL;
    ch.ev.tool = k == BROKER_TOOL ? id : NULL;
    r = ch.ev.event && ch.ev.resource ? broker_change_run(b, &ch, e)
                                      : err_set(e, ERR_NOMEM, "out of memory");
    arena_free(&a);
    return r;
}
