/*
 * access.c: what an agent may ever do: trust issuers (who vouches for
 * workloads and humans), tools, intents (approved behaviour profiles) and the
 * standing entitlements that tie agents to intents.
 *
 * An intent names registered tools only (the intent_tools table keeps the
 * foreign keys, so a tool in use cannot be deleted) and covers every
 * downstream system its tools reach.  An inline JWKS is checked for shape
 * here (public keys of known types, no private or symmetric members); the
 * cryptographic parse is jose's, through broker->hooks.jwks_check.
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/spiffe.h"

/* ---- trust issuers ------------------------------------------------------------ */

static const struct broker_field issuer_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"kind", JSON_STRING, 1, 16},
    {"for", JSON_STRING, 1, 16},
    {"trust_domain", JSON_STRING, 0, LIMIT_TRUST_DOMAIN_LEN},
    {"issuer", JSON_STRING, 0, LIMIT_URL_LEN},
    {"jwks", JSON_OBJECT, 0, 0},
    {"jwks_file", JSON_STRING, 0, LIMIT_URL_LEN},
    {"jwks_url", JSON_STRING, 0, LIMIT_URL_LEN},
    {"audiences", JSON_ARRAY, 1, 0},
    {"algs", JSON_ARRAY, 0, 0},
};

/* Asymmetric algorithms only: agents never hold shared secrets, and "none"
 * is never a signature. */
static const char *const known_algs[] = {"ES256", "ES384", "ES512", "RS256", "RS384",
                                         "RS512", "PS256", "PS384", "PS512", "EdDSA"};

/* https://host[:port][/path], or http for a loopback host (local tests);
 * no user info, query, fragment, spaces or control characters. */
static int url_check(const char *field, const char *u, struct err *e)
{
    const char *host;
    size_t i, hl;

    if (strncmp(u, "https://", 8) == 0) {
        host = u + 8;
    } else if (strncmp(u, "http://127.0.0.1", 16) == 0 || strncmp(u, "http://localhost", 16) == 0) {
        host = u + 7;
    } else {
        return err_set(e, ERR_INVALID, "%s: must be an https:// URL", field);
    }
    for (i = 0; u[i] != '\0'; i++) {
        unsigned char c = (unsigned char)u[i];
        if (c <= ' ' || c == 0x7f || c == '?' || c == '#' || c == '@' || c == '\\') {
            return err_set(e, ERR_INVALID, "%s: no spaces, query, fragment or user info", field);
        }
    }
    hl = strcspn(host, "/:");
    if (hl == 0) {
        return err_set(e, ERR_INVALID, "%s: no host", field);
    }
    if (strncmp(u, "http://", 7) == 0 && host[hl] != '\0' && host[hl] != '/' && host[hl] != ':') {
        return err_set(e, ERR_INVALID, "%s: must be an https:// URL", field);
    }
    if (strncmp(u, "http://", 7) == 0 && hl != 9 && hl != 10) {
        return err_set(e, ERR_INVALID, "%s: must be an https:// URL", field);
    }
    return 0;
}

static int algs_check(json_t *algs, struct err *e)
{
    size_t i, k;
    json_t *v;
    int r = broker_strings_check("algs", algs, LIMIT_ISSUER_ALGS, 16, 0, e);

    if (r != 0) {
        return r;
    }
    if (json_array_size(algs) == 0) {
        return err_set(e, ERR_INVALID, "algs: must name at least one algorithm");
    }
    json_array_foreach(algs, i, v)
    {
        for (k = 0; k < sizeof(known_algs) / sizeof(known_algs[0]); k++) {
            if (strcmp(json_string_value(v), known_algs[k]) == 0) {
                break;
            }
        }
        if (k == sizeof(known_algs) / sizeof(known_algs[0])) {
            return err_set(e, ERR_INVALID, "algs: \"%.32s\" is not an allowed asymmetric algorithm",
                           json_string_value(v));
        }
    }
    return 0;
}

static int alg_listed(json_t *algs, const char *alg)
{
    size_t i;
    json_t *v;

    json_array_foreach(algs, i, v)
    {
        if (strcmp(json_string_value(v), alg) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A JWKS of public keys: {"keys":[{"kty":"EC"|"RSA"|"OKP", ...}]}. */
static int jwks_shape_check(json_t *jwks, json_t *algs, struct err *e)
{
    static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"};
    json_t *keys = json_object_get(jwks, "keys"), *k;
    size_t i, j;

    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        return err_set(e, ERR_INVALID, "jwks: expected {\"keys\": [at least one key]}");
    }
    if (json_array_size(keys) > LIMIT_JWKS_KEYS) {
        return err_set(e, ERR_INVALID, "jwks: more than %d keys", LIMIT_JWKS_KEYS);
    }
    json_array_foreach(keys, i, k)
    {
        const char *kty = json_string_value(json_object_get(k, "kty"));
        json_t *alg = json_object_get(k, "alg");
        if (!json_is_object(k) || kty == NULL) {
            return err_set(e, ERR_INVALID, "jwks: key %zu has no \"kty\"", i);
        }
        if (strcmp(kty, "EC") != 0 && strcmp(kty, "RSA") != 0 && strcmp(kty, "OKP") != 0) {
            return err_set(e, ERR_INVALID, "jwks: key %zu: kty \"%.16s\" is not EC, RSA or OKP", i,
                           kty);
        }
        for (j = 0; j < sizeof(private_members) / sizeof(private_members[0]); j++) {
            if (json_object_get(k, private_members[j]) != NULL) {
                return err_set(e, ERR_INVALID,
                               "jwks: key %zu holds private member \"%s\": publish public keys "
                               "only",
                               i, private_members[j]);
            }
        }
        if (alg != NULL && (!json_is_string(alg) || !alg_listed(algs, json_string_value(alg)))) {
            return err_set(e, ERR_INVALID, "jwks: key %zu: its alg is not among algs", i);
        }
    }
    return 0;
}

/* Exactly one JWKS source; fills x->jwks_source and x->jwks. */
static int jwks_source(struct broker *b, json_t *in, json_t *algs, struct store_issuer *x,
                       struct arena *a, struct err *e)
{
    json_t *inl = json_object_get(in, "jwks");
    const char *file = broker_str(in, "jwks_file", NULL), *url = broker_str(in, "jwks_url", NULL);
    int r;

    if ((inl != NULL) + (file != NULL) + (url != NULL) != 1) {
        return err_set(e, ERR_INVALID, "jwks: give exactly one of jwks, jwks_file, jwks_url");
    }
    if (file != NULL) {
        if (file[0] != '/' || strstr(file, "/../") != NULL) {
            return err_set(e, ERR_INVALID, "jwks_file: must be an absolute path without ..");
        }
        x->jwks_source = "file";
        x->jwks = file;
        return 0;
    }
    if (url != NULL) {
        x->jwks_source = "url";
        x->jwks = url;
        return url_check("jwks_url", url, e);
    }
    if ((r = jwks_shape_check(inl, algs, e)) != 0) {
        return r;
    }
    x->jwks_source = "inline";
    x->jwks = broker_json_text(inl, a);
    if (x->jwks == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (strlen(x->jwks) > LIMIT_JWKS_TEXT) {
        return err_set(e, ERR_INVALID, "jwks: larger than %d bytes", LIMIT_JWKS_TEXT);
    }
    if (b->hooks.jwks_check != NULL) {
        r = b->hooks.jwks_check(b->hooks.ctx, x->jwks, algs, e);
        return r ? err_set(e, ERR_INVALID, "jwks: %s", e->msg) : 0;
    }
    return 0;
}

static int issuer_where(json_t *in, struct store_issuer *x, struct err *e)
{
    const char *td = broker_str(in, "trust_domain", NULL), *iss = broker_str(in, "issuer", NULL);

    if (strcmp(x->kind, "spiffe") == 0) {
        if (iss != NULL || td == NULL) {
            return err_set(e, ERR_INVALID,
                           "trust_domain: a spiffe issuer names a trust domain "
                           "(and no issuer URL)");
        }
        if (strcmp(x->principals, "agents") != 0) {
            return err_set(e, ERR_INVALID, "for: SPIFFE vouches for workloads (agents) only");
        }
        if (spiffe_trust_domain_check(td, strlen(td), e) != 0) {
            return err_prefix(e, "trust_domain: ");
        }
        x->issuer = td;
        return 0;
    }
    if (strcmp(x->kind, "oidc") != 0) {
        return err_set(e, ERR_INVALID, "kind: one of spiffe, oidc");
    }
    if (td != NULL || iss == NULL) {
        return err_set(e, ERR_INVALID,
                       "issuer: an oidc issuer names its issuer URL (and no "
                       "trust domain)");
    }
    x->issuer = iss;
    return url_check("issuer", iss, e);
}

json_t *broker_issuer_json(const struct store_issuer *x)
{
    int spiffe = strcmp(x->kind, "spiffe") == 0, inl = strcmp(x->jwks_source, "inline") == 0;
    const char *src = inl ? "jwks" : strcmp(x->jwks_source, "file") == 0 ? "jwks_file" : "jwks_url";

    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o}", "id", x->id, "kind", x->kind,
                     "for", x->principals, spiffe ? "trust_domain" : "issuer", x->issuer, src,
                     inl ? broker_json_parse(x->jwks) : json_string(x->jwks), "audiences",
                     broker_json_parse(x->audiences), "algs", broker_json_parse(x->algs), "created",
                     broker_time_json(x->created_ms));
}

static int issuer_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct store_issuer *x = ch->ctx;
    int r = s->ops->issuer_insert(s, x, e);

    if (r == ERR_CONFLICT) {
        return err_set(e, ERR_CONFLICT,
                       "trust issuer \"%s\" exists, or another issuer has %s for %s", x->id,
                       x->issuer, x->principals);
    }
    return r;
}

int broker_issuer_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e)
{
    struct store_issuer x;
    struct broker_change ch = {c, a, &x, issuer_apply, {.event = "issuer.create"}};
    json_t *algs = NULL, *aud;
    int r;

    *out = NULL;
    r = broker_fields_check(in, issuer_fields, BROKER_NFIELDS(issuer_fields), e);
    if (r != 0) {
        return r;
    }
    memset(&x, 0, sizeof(x));
    x.id = broker_str(in, "id", NULL);
    x.kind = broker_str(in, "kind", NULL);
    x.principals = broker_str(in, "for", NULL);
    x.created_ms = clock_wall_ms();
    aud = json_object_get(in, "audiences");
    algs = json_object_get(in, "algs");
    algs = algs ? json_incref(algs) : json_pack("[s]", "ES256");
    if ((r = broker_id_check("id", x.id, e)) != 0) {
        goto out;
    }
    if (strcmp(x.principals, "agents") != 0 && strcmp(x.principals, "humans") != 0) {
        r = err_set(e, ERR_INVALID, "for: one of agents, humans");
        goto out;
    }
    if ((r = issuer_where(in, &x, e)) != 0 || (r = algs_check(algs, e)) != 0 ||
        (r = broker_strings_check("audiences", aud, LIMIT_ISSUER_AUDIENCES, LIMIT_AUDIENCE_LEN, 0,
                                  e)) != 0) {
        goto out;
    }
    if (json_array_size(aud) == 0) {
        r = err_set(e, ERR_INVALID, "audiences: name at least one (Mandate's own)");
        goto out;
    }
    if ((r = jwks_source(b, in, algs, &x, a, e)) != 0) {
        goto out;
    }
    x.audiences = broker_json_text(aud, a);
    x.algs = broker_json_text(algs, a);
    if (x.audiences == NULL || x.algs == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    ch.ev.resource = arena_printf(a, "issuer:%s", x.id);
    r = broker_change_run(b, &ch, e);
    r = r ? r : broker_json_out(broker_issuer_json(&x), out, e);
out:
    json_decref(algs);
    return r;
}

/* ---- tools ---------------------------------------------------------------------- */

static const struct broker_field tool_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN},
    {"downstream", JSON_STRING, 1, LIMIT_ID_LEN},
    {"sensitivity", JSON_INTEGER, 0, 0},
    {"group", JSON_STRING, 0, LIMIT_ID_LEN},
    {"description", JSON_STRING, 0, LIMIT_TEXT_LEN},
};

json_t *broker_tool_json(const struct store_tool *x)
{
    return json_pack("{s:s, s:s, s:I, s:s?, s:s?, s:o}", "id", x->id, "downstream", x->downstream,
                     "sensitivity", (json_int_t)x->sensitivity, "group", x->tool_group,
                     "description", x->description, "created", broker_time_json(x->created_ms));
}

static int tool_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return s->ops->tool_insert(s, ch->ctx, e);
}

int broker_tool_create(struct broker *b, const struct broker_caller *c, json_t *in, struct arena *a,
                       json_t **out, struct err *e)
{
    struct store_tool x;
    struct broker_change ch = {c, a, &x, tool_apply, {.event = "tool.create"}};
    int r;

    *out = NULL;
    r = broker_fields_check(in, tool_fields, BROKER_NFIELDS(tool_fields), e);
    if (r != 0) {
        return r;
    }
    memset(&x, 0, sizeof(x));
    x.id = broker_str(in, "id", NULL);
    x.downstream = broker_str(in, "downstream", NULL);
    x.tool_group = broker_str(in, "group", NULL);
    x.description = broker_str(in, "description", NULL);
    x.created_ms = clock_wall_ms();
    if ((r = broker_id_check("id", x.id, e)) != 0 ||
        (r = broker_id_check("downstream", x.downstream, e)) != 0 ||
        (x.tool_group && (r = broker_id_check("group", x.tool_group, e)) != 0) ||
        (r = broker_int(in, "sensitivity", 1, 0, 3, &x.sensitivity, e)) != 0) {
        return r;
    }
    ch.ev.tool = x.id;
    ch.ev.downstream = x.downstream;
    ch.ev.resource = arena_printf(a, "tool:%s", x.id);
    r = broker_change_run(b, &ch, e);
    return r ? r : broker_json_out(broker_tool_json(&x), out, e);
}

/* ---- intents ---------------------------------------------------------------------- */

static const struct broker_field intent_fields[] = {
    {"id", JSON_STRING, 1, LIMIT_ID_LEN}, {"description", JSON_STRING, 0, LIMIT_TEXT_LEN},
    {"tools", JSON_OBJECT, 1, 0},         {"data_labels", JSON_ARRAY, 0, 0},
    {"downstream", JSON_ARRAY, 0, 0},     {"max_ttl_s", JSON_INTEGER, 0, 0},
    {"call_budget", JSON_INTEGER, 0, 0},  {"rate_per_min", JSON_INTEGER, 0, 0},
    {"dpop_required", JSON_TRUE, 0, 0},   {"on_drift", JSON_STRING, 0, 16},
    {"needs_approval", JSON_TRUE, 0, 0},
};

json_t *broker_intent_json(const struct store_intent *x)
{
    return json_pack("{s:s, s:s?, s:o, s:o, s:o, s:I, s:I, s:I, s:b, s:s, s:b, s:o, s:o}", "id",
                     x->id, "description", x->description, "tools", broker_json_parse(x->tools),
                     "data_labels", broker_json_parse(x->data_labels), "downstream",
                     broker_json_parse(x->downstream), "max_ttl_s", (json_int_t)x->max_ttl_s,
                     "call_budget", (json_int_t)x->call_budget, "rate_per_min",
                     (json_int_t)x->rate_per_min, "dpop_required", (int)x->dpop_required,
                     "on_drift", x->on_drift, "needs_approval", (int)x->needs_approval, "created",
                     broker_time_json(x->created_ms), "updated", broker_time_json(x->updated_ms));
}

struct intent_ctx {
    struct store_intent x;
    json_t *in;    /* the checked input (create) or the patch (update) */
    json_t *tools; /* borrowed from in */
    json_t *downstream;
    int update;
};

/* Shape and ranges, without the store. */
static int intent_shape(json_t *in, struct intent_ctx *ic, struct arena *a, struct err *e)
{
    struct store_intent *x = &ic->x;
    json_t *labels = json_object_get(in, "data_labels"), *v;
    const char *k;
    int r;

    x->id = broker_str(in, "id", NULL);
    x->description = broker_str(in, "description", NULL);
    x->on_drift = broker_str(in, "on_drift", "revoke");
    x->dpop_required = broker_bool(in, "dpop_required", 1);
    x->needs_approval = broker_bool(in, "needs_approval", 0);
    ic->tools = json_object_get(in, "tools");
    ic->downstream = json_object_get(in, "downstream");
    if ((r = broker_id_check("id", x->id, e)) != 0 ||
        (r = broker_int(in, "max_ttl_s", 900, 1, LIMIT_INTENT_TTL_MAX_S, &x->max_ttl_s, e)) != 0 ||
        (r = broker_int(in, "call_budget", 100, 1, LIMIT_INTENT_BUDGET_MAX, &x->call_budget, e)) !=
            0 ||
        (r = broker_int(in, "rate_per_min", 60, 1, LIMIT_INTENT_RATE_MAX, &x->rate_per_min, e)) !=
            0) {
        return r;
    }
    if (strcmp(x->on_drift, "deny") != 0 && strcmp(x->on_drift, "revoke") != 0) {
        return err_set(e, ERR_INVALID, "on_drift: one of deny, revoke");
    }
    if (json_object_size(ic->tools) == 0 || json_object_size(ic->tools) > LIMIT_INTENT_TOOLS) {
        return err_set(e, ERR_INVALID, "tools: name 1 to %d tools", LIMIT_INTENT_TOOLS);
    }
    json_object_foreach(ic->tools, k, v)
    {
        if (broker_id_check("tools", k, e) != 0 ||
            broker_strings_check("tools", v, LIMIT_TOOL_ACTIONS, 0, 1, e) != 0 ||
            json_array_size(v) == 0) {
            return err_set(e, ERR_INVALID,
                           "tools: \"%.128s\" must map to 1 to %d distinct actions (ids)", k,
                           LIMIT_TOOL_ACTIONS);
        }
    }
    if (labels != NULL &&
        (r = broker_strings_check("data_labels", labels, LIMIT_INTENT_LABELS, 0, 1, e)) != 0) {
        return r;
    }
    if (ic->downstream != NULL &&
        (r = broker_strings_check("downstream", ic->downstream, LIMIT_INTENT_DOWNSTREAM, 0, 1,
                                  e)) != 0) {
        return r;
    }
    x->tools = broker_json_text(ic->tools, a);
    x->data_labels = labels ? broker_json_text(labels, a) : "[]";
    return x->tools && x->data_labels ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

static int listed(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v)
    {
        if (strcmp(json_string_value(v), s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Every tool registered; downstream covers the tools' systems (or is them). */
static int intent_refs(struct store *s, struct intent_ctx *ic, struct arena *a, struct err *e)
{
    json_t *systems = json_array(), *v;
    const char **names = arena_calloc(a, json_object_size(ic->tools) + 1, sizeof(char *));
    const char *k;
    struct store_tool t;
    size_t n = 0;
    int r = 0;

    if (systems == NULL || names == NULL) {
        json_decref(systems);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    json_object_foreach(ic->tools, k, v)
    {
        r = s->ops->tool_get(s, k, a, &t, e);
        if (r == ERR_NOTFOUND) {
            r = err_set(e, ERR_NOTFOUND, "tools: no tool \"%.128s\" is registered", k);
        }
        if (r != 0) {
            break;
        }
        if (ic->downstream != NULL && !listed(ic->downstream, t.downstream)) {
            r = err_set(e, ERR_INVALID, "downstream: tool \"%s\" reaches \"%s\", not listed", k,
                        t.downstream);
            break;
        }
        if (!listed(systems, t.downstream)) {
            json_array_append_new(systems, json_string(t.downstream));
        }
        names[n++] = k;
    }
    if (r == 0) {
        ic->x.downstream = broker_json_text(ic->downstream ? ic->downstream : systems, a);
        r = ic->x.downstream ? 0 : err_set(e, ERR_NOMEM, "out of memory");
    }
    if (r == 0) {
        r = ic->update ? s->ops->intent_update(s, &ic->x, e) : s->ops->intent_insert(s, &ic->x, e);
    }
    r = r ? r : s->ops->intent_tools_set(s, ic->x.id, names, n, e);
    json_decref(systems);
    return r;
}

static int intent_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return intent_refs(s, ch->ctx, ch->a, e);
}

int broker_intent_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e)
{
    struct intent_ctx ic;
    struct broker_change ch = {c, a, &ic, intent_apply, {.event = "intent.create"}};
    int r;

    *out = NULL;
    memset(&ic, 0, sizeof(ic));
    r = broker_fields_check(in, intent_fields, BROKER_NFIELDS(intent_fields), e);
    r = r ? r : intent_shape(in, &ic, a, e);
    if (r != 0) {
        return r;
    }
    ic.x.created_ms = ic.x.updated_ms = clock_wall_ms();
    ch.ev.intent = ic.x.id;
    ch.ev.resource = arena_printf(a, "intent:%s", ic.x.id);
    r = broker_change_run(b, &ch, e);
    return r ? r : broker_json_out(broker_intent_json(&ic.x), out, e);
}

/* The update: current view + patch, checked whole, inside the transaction so
 * two patches cannot interleave. */
static int intent_update_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct intent_ctx *ic = ch->ctx;
    struct store_intent cur;
    json_t *merged, *changed = json_array();
    const char *k;
    json_t *v;
    int r;

    r = s->ops->intent_get(s, ic->x.id, ch->a, &cur, e);
    if (r != 0 || changed == NULL) {
        json_decref(changed);
        return r ? r : err_set(e, ERR_NOMEM, "out of memory");
    }
    merged = broker_intent_json(&cur);
    if (merged == NULL) {
        json_decref(changed);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    json_object_del(merged, "created");
    json_object_del(merged, "updated");
    json_object_foreach(ic->in, k, v)
    {
        if (!json_equal(json_object_get(merged, k), v)) {
            json_array_append_new(changed, json_string(k));
        }
        json_object_set(merged, k, v);
    }
    r = intent_shape(merged, ic, ch->a, e);
    if (r == 0) {
        ic->x.created_ms = cur.created_ms;
        ic->x.updated_ms = clock_wall_ms();
        ic->update = 1;
        r = intent_refs(s, ic, ch->a, e);
    }
    /* the record lives in merged, kept alive until the caller has its view */
    ic->in = merged;
    ch->ev.detail = changed;
    return r;
}

int broker_intent_update(struct broker *b, const struct broker_caller *c, const char *id,
                         json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct intent_ctx ic;
    struct broker_change ch = {c, a, &ic, intent_update_apply, {.event = "intent.update"}};
    json_t *patch = NULL;
    int r;

    *out = NULL;
    memset(&ic, 0, sizeof(ic));
    if (json_is_object(in) && json_object_get(in, "id") != NULL) {
        return err_set(e, ERR_INVALID, "id: an intent's id cannot change");
    }
    /* The patch is checked against the same table, with a placeholder id and
     * tools so that "required" does not apply to a partial update. */
    if (!json_is_object(in)) {
        return err_set(e, ERR_INVALID, "body: expected a JSON object");
    }
    patch = json_deep_copy(in);
    if (patch == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    json_object_set_new(patch, "id", json_string(id));
    if (json_object_get(patch, "tools") == NULL) {
        json_object_set_new(patch, "tools", json_object());
    }
    r = broker_fields_check(patch, intent_fields, BROKER_NFIELDS(intent_fields), e);
    json_decref(patch);
    if (r != 0) {
        return r;
    }
    ic.x.id = id;
    ic.in = in;
    ch.ev.intent = id;
    ch.ev.resource = arena_printf(a, "intent:%s", id);
    r = broker_change_run(b, &ch, e);
    if (r == 0) {
        r = broker_json_out(broker_intent_json(&ic.x), out, e);
    }
    if (ic.in != in) {
        json_decref(ic.in);
    }
    json_decref(ch.ev.detail);
    return r;
}

/* ---- standing entitlements ---------------------------------------------------------- */

struct ent_ctx {
    const char *agent;
    const char *intent;
    int add;
};

static int ent_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct ent_ctx *x = ch->ctx;
    struct store_agent ag;
    struct store_intent in;
    struct store_entitlement en;
    int r = broker_agent_visible(s, ch->c, x->agent, ch->a, &ag, e);

    if (r != 0) {
        return r;
    }
    ch->ev.human = arena_strdup(ch->a, ag.owner);
    if (!x->add) {
        return s->ops->entitlement_delete(s, x->agent, x->intent, e);
    }
    if (strcmp(ag.status, "offboarded") == 0) {
        return err_set(e, ERR_CONFLICT, "agent \"%s\" is offboarded", ag.id);
    }
    r = s->ops->intent_get(s, x->intent, ch->a, &in, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "intent: no intent \"%s\"", x->intent);
    }
    if (r != 0) {
        return r;
    }
    memset(&en, 0, sizeof(en));
    en.agent = x->agent;
    en.intent = x->intent;
    en.created_ms = clock_wall_ms();
    en.created_by = ch->c ? ch->c->key_id : NULL;
    return s->ops->entitlement_insert(s, &en, e);
}

static const struct broker_field ent_fields[] = {
    {"intent", JSON_STRING, 1, LIMIT_ID_LEN},
};

int broker_entitlement_add(struct broker *b, const struct broker_caller *c, const char *agent,
                           json_t *in, struct arena *a, json_t **out, struct err *e)
{
    struct ent_ctx x = {agent, NULL, 1};
    struct broker_change ch = {c, a, &x, ent_apply, {.event = "entitlement.add"}};
    int r;

    *out = NULL;
    r = broker_fields_check(in, ent_fields, BROKER_NFIELDS(ent_fields), e);
    if (r != 0) {
        return r;
    }
    x.intent = broker_str(in, "intent", NULL);
    if ((r = broker_id_check("intent", x.intent, e)) != 0) {
        return r;
    }
    ch.ev.agent = agent;
    ch.ev.intent = x.intent;
    ch.ev.resource = arena_printf(a, "agent:%s", agent);
    r = broker_change_run(b, &ch, e);
    return r ? r
             : broker_json_out(json_pack("{s:s, s:s}", "agent", agent, "intent", x.intent), out, e);
}

int broker_entitlement_remove(struct broker *b, const struct broker_caller *c, const char *agent,
                              const char *intent, struct err *e)
{
    struct ent_ctx x = {agent, intent, 0};
    struct arena a;
    struct broker_change ch = {c, &a, &x, ent_apply, {.event = "entitlement.remove"}};
    int r;

    arena_init(&a, 0, 0);
    ch.ev.agent = agent;
    ch.ev.intent = intent;
    r = broker_change_run(b, &ch, e);
    arena_free(&a);
    return r;
}

int broker_entitlement_list(struct broker *b, const struct broker_caller *c, const char *agent,
                            struct arena *a, json_t **out, struct err *e)
{
    struct store *s = b->store;
    struct store_entitlement *v;
    struct store_agent ag;
    json_t *items;
    size_t i, n;
    int r;

    *out = NULL;
    r = broker_agent_visible(s, c, agent, a, &ag, e);
    r = r ? r : s->ops->entitlement_list(s, agent, a, &v, &n, e);
    if (r != 0) {
        return r;
    }
    items = json_array();
    for (i = 0; items != NULL && i < n; i++) {
        if (json_array_append_new(items, json_pack("{s:s, s:o, s:s?}", "intent", v[i].intent,
                                                   "created", broker_time_json(v[i].created_ms),
                                                   "created_by", v[i].created_by)) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    return broker_json_out(items ? json_pack("{s:s, s:o}", "agent", agent, "items", items) : NULL,
                           out, e);
}
