/*
 * registry.c: humans, teams and agents.
 *
 * Each kind has a field table (name, JSON type, required, maximum length)
 * checked before anything else: an unknown field is an error, not ignored,
 * because a misspelt "owner" silently dropped would create an agent nobody
 * meant.  Agents are created inside a store transaction that first checks
 * the owner (must exist and be active) and the team, so no agent is ever
 * stored with a dangling or offboarded owner.
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/spiffe.h"

/* ---- field checking -------------------------------------------------------- */

struct field {
    const char *name;
    json_type type;
    int required;
    size_t maxlen; /* strings only */
};

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int check_fields(json_t *in, const struct field *f, size_t n, struct err *e)
{
    const char *key;
    json_t *v;
    size_t i;

    if (!json_is_object(in)) {
        return err_set(e, ERR_INVALID, "body: expected a JSON object");
    }
    json_object_foreach(in, key, v)
    {
        for (i = 0; i < n && strcmp(f[i].name, key) != 0; i++) {
        }
        if (i == n) {
            return err_set(e, ERR_INVALID, "%.128s: unknown field", key);
        }
        if (json_typeof(v) != f[i].type) {
            return err_set(e, ERR_INVALID, "%s: expected %s", key, type_name(f[i].type));
        }
        if (f[i].type == JSON_STRING && json_string_length(v) > f[i].maxlen) {
            return err_set(e, ERR_INVALID, "%s: longer than %zu bytes", key, f[i].maxlen);
        }
        if (f[i].type == JSON_STRING && strlen(json_string_value(v)) != json_string_length(v)) {
            return err_set(e, ERR_INVALID, "%s: contains a NUL character", key);
        }
    }
    for (i = 0; i < n; i++) {
        if (f[i].required && json_object_get(in, f[i].name) == NULL) {
            return err_set(e, ERR_INVALID, "%s: missing required field", f[i].name);
        }
    }
    return 0;
}

static const char *str(json_t *in, const char *name, const char *dflt)
{
    json_t *v = json_object_get(in, name);

    return v ? json_string_value(v) : dflt;
}

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

static json_t *created(int64_t ms)
{
    char ts[32];

    clock_format_rfc3339(ms, ts);
    return json_string(ts);
}

/* ---- JSON views of records ------------------------------------------------ */

static json_t *human_json(const struct store_human *h)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:o}", "id", h->id, "email", h->email, "name", h->name,
                     "status", h->status, "created", created(h->created_ms));
}

static json_t *team_json(const struct store_team *t)
{
    return json_pack("{s:s, s:s?, s:o}", "id", t->id, "name", t->name, "created",
                     created(t->created_ms));
}

static json_t *agent_json(const struct store_agent *ag)
{
    return json_pack("{s:s, s:s, s:s?, s:s, s:s, s:I, s:s, s:o}", "id", ag->id, "owner", ag->owner,
                     "team", ag->team, "purpose", ag->purpose, "environment", ag->environment,
                     "risk_tier", (json_int_t)ag->risk_tier, "status", ag->status, "created",
                     created(ag->created_ms));
}

static int json_out(json_t *j, json_t **out, struct err *e)
{
    if (j == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

/* ---- humans and teams ----------------------------------------------------- */

static const struct field human_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"email", JSON_STRING, 1, LIMIT_TEXT_LEN},
    {"name", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

int broker_human_create(struct broker *b, json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct store_human h;
    int r;

    (void)a;
    *out = NULL;
    r = check_fields(in, human_fields, sizeof(human_fields) / sizeof(human_fields[0]), e);
    if (r != 0) {
        return r;
    }
    memset(&h, 0, sizeof(h));
    h.id = str(in, "id", NULL);
    h.email = str(in, "email", NULL);
    h.name = str(in, "name", NULL);
    h.status = "active";
    h.created_ms = clock_wall_ms();
    if ((r = broker_id_check("id", h.id, e)) != 0 || (r = email_check(h.email, e)) != 0) {
        return r;
    }
    r = b->store->ops->human_insert(b->store, &h, e);
    return r ? r : json_out(human_json(&h), out, e);
}

static const struct field team_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"name", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

int broker_team_create(struct broker *b, json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct store_team t;
    int r;

    (void)a;
    *out = NULL;
    r = check_fields(in, team_fields, sizeof(team_fields) / sizeof(team_fields[0]), e);
    if (r != 0) {
        return r;
    }
    memset(&t, 0, sizeof(t));
    t.id = str(in, "id", NULL);
    t.name = str(in, "name", NULL);
    t.created_ms = clock_wall_ms();
    if ((r = broker_id_check("id", t.id, e)) != 0) {
        return r;
    }
    r = b->store->ops->team_insert(b->store, &t, e);
    return r ? r : json_out(team_json(&t), out, e);
}

/* ---- agents --------------------------------------------------------------- */

static const struct field agent_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_SPIFFE_ID_LEN},   {"owner", JSON_STRING, 1, LIMIT_ID_LEN},
    {"team", JSON_STRING, 0, LIMIT_ID_LEN},        {"purpose", JSON_STRING, 1, LIMIT_TEXT_LEN},
    {"environment", JSON_STRING, 0, LIMIT_ID_LEN}, {"risk_tier", JSON_INTEGER, 0, 0},
};

/* Risk tiers: 0 (read-only, internal) to 3 (moves money, touches PII). */
#define RISK_TIER_MAX 3

struct agent_tx {
    struct store_agent ag;
    struct arena *a;
};

static int agent_insert_tx(struct store *s, void *ctx, struct err *e)
{
    struct agent_tx *t = ctx;
    struct store_human owner;
    struct store_team team;
    int r;

    r = s->ops->human_get(s, t->ag.owner, t->a, &owner, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "owner: no human \"%s\"", t->ag.owner);
    }
    if (r != 0) {
        return r;
    }
    if (strcmp(owner.status, "active") != 0) {
        return err_set(e, ERR_INVALID, "owner: human \"%s\" is %s, not active", owner.id,
                       owner.status);
    }
    if (t->ag.team != NULL) {
        r = s->ops->team_get(s, t->ag.team, t->a, &team, e);
        if (r == ERR_NOTFOUND) {
            return err_set(e, ERR_NOTFOUND, "team: no team \"%s\"", t->ag.team);
        }
        if (r != 0) {
            return r;
        }
    }
    return s->ops->agent_insert(s, &t->ag, e);
}

int broker_agent_create(struct broker *b, json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct agent_tx t;
    struct spiffe_id sid;
    json_t *risk;
    int r;

    *out = NULL;
    r = check_fields(in, agent_fields, sizeof(agent_fields) / sizeof(agent_fields[0]), e);
    if (r != 0) {
        return r;
    }
    memset(&t, 0, sizeof(t));
    t.a = a;
    t.ag.id = str(in, "id", NULL);
    t.ag.owner = str(in, "owner", NULL);
    t.ag.team = str(in, "team", NULL);
    t.ag.purpose = str(in, "purpose", NULL);
    t.ag.environment = str(in, "environment", "production");
    t.ag.risk_tier = 1;
    t.ag.status = "active";
    t.ag.created_ms = clock_wall_ms();
    risk = json_object_get(in, "risk_tier");
    if (risk != NULL) {
        if (json_integer_value(risk) < 0 || json_integer_value(risk) > RISK_TIER_MAX) {
            return err_set(e, ERR_INVALID, "risk_tier: must be 0 to %d", RISK_TIER_MAX);
        }
        t.ag.risk_tier = json_integer_value(risk);
    }
    r = spiffe_id_parse(t.ag.id, strlen(t.ag.id), 1, &sid, e);
    if (r != 0) {
        return err_prefix(e, "id: not a SPIFFE ID: ");
    }
    if ((r = broker_id_check("owner", t.ag.owner, e)) != 0 ||
        (t.ag.team && (r = broker_id_check("team", t.ag.team, e)) != 0) ||
        (r = broker_id_check("environment", t.ag.environment, e)) != 0) {
        return r;
    }
    if (t.ag.purpose[0] == '\0') {
        return err_set(e, ERR_INVALID, "purpose: must not be empty");
    }
    r = store_tx(b->store, agent_insert_tx, &t, e);
    return r ? r : json_out(agent_json(&t.ag), out, e);
}

/* ---- generic reads and deletes -------------------------------------------- */

int broker_get(struct broker *b, enum broker_kind k, const char *id, struct arena *a, json_t **out,
               struct err *e)
{
    struct store *s = b->store;
    int r;

    *out = NULL;
    switch (k) {
    case BROKER_HUMAN: {
        struct store_human h;
        r = s->ops->human_get(s, id, a, &h, e);
        return r ? r : json_out(human_json(&h), out, e);
    }
    case BROKER_TEAM: {
        struct store_team t;
        r = s->ops->team_get(s, id, a, &t, e);
        return r ? r : json_out(team_json(&t), out, e);
    }
    case BROKER_AGENT: {
        struct store_agent ag;
        r = s->ops->agent_get(s, id, a, &ag, e);
        return r ? r : json_out(agent_json(&ag), out, e);
    }
    }
    return err_set(e, ERR_INTERNAL, "unknown kind");
}

int broker_list(struct broker *b, enum broker_kind k, const char *after, size_t limit,
                struct arena *a, json_t **out, struct err *e)
{
    struct store *s = b->store;
    struct store_page p = {after, limit};
    json_t *items = json_array(), *page;
    const char *last = NULL;
    size_t i, n = 0;
    int r = ERR_INTERNAL;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (k == BROKER_HUMAN) {
        struct store_human *v;
        r = s->ops->human_list(s, &p, a, &v, &n, e);
        for (i = 0; r == 0 && i < n; i++, last = v[i - 1].id) {
            json_array_append_new(items, human_json(&v[i]));
        }
    } else if (k == BROKER_TEAM) {
        struct store_team *v;
        r = s->ops->team_list(s, &p, a, &v, &n, e);
        for (i = 0; r == 0 && i < n; i++, last = v[i - 1].id) {
            json_array_append_new(items, team_json(&v[i]));
        }
    } else if (k == BROKER_AGENT) {
        struct store_agent *v;
        r = s->ops->agent_list(s, &p, a, &v, &n, e);
        for (i = 0; r == 0 && i < n; i++, last = v[i - 1].id) {
            json_array_append_new(items, agent_json(&v[i]));
        }
    }
    if (r != 0) {
        json_decref(items);
        return r;
    }
    /* A full page may have more after it; a short one is the last. */
    page = json_pack("{s:o, s:s?}", "items", items, "next",
                     n == (limit ? limit : LIMIT_LIST_PAGE_MAX) ? last : NULL);
    return json_out(page, out, e);
}

int broker_delete(struct broker *b, enum broker_kind k, const char *id, struct err *e)
{
    struct store *s = b->store;

    switch (k) {
    case BROKER_HUMAN:
        return s->ops->human_delete(s, id, e);
    case BROKER_TEAM:
        return s->ops->team_delete(s, id, e);
    case BROKER_AGENT:
        return s->ops->agent_delete(s, id, e);
    }
    return err_set(e, ERR_INTERNAL, "unknown kind");
}
