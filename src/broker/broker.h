/*
 * broker.h: Mandate's domain: the registry (humans, teams, agents, trust
 * issuers, tools, intents, standing entitlements, versioned policies), the
 * agent and human lifecycle, the audit function every change goes through,
 * and the authentication of callers of the broker's own API.
 *
 * The broker validates every write (ids, SPIFFE IDs, references to owners
 * and teams) before it reaches the store.  Inputs arrive as parsed jansson
 * objects; the broker checks their shape (known field names, JSON types,
 * lengths) and their meaning, so no edge (HTTP, CLI) can skip a check.
 */
#ifndef MANDATE_BROKER_H
#define MANDATE_BROKER_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

/* Roles of API callers (humans and services, never agents). */
enum broker_role {
    ROLE_NONE = 0,
    ROLE_ADMIN = 1 << 0,
    ROLE_SECURITY = 1 << 1,
    ROLE_OWNER = 1 << 2,
    ROLE_AUDITOR = 1 << 3,
    ROLE_PEP = 1 << 4,
};
#define ROLE_ANY (ROLE_ADMIN | ROLE_SECURITY | ROLE_OWNER | ROLE_AUDITOR | ROLE_PEP)
#define ROLE_READERS (ROLE_ADMIN | ROLE_SECURITY | ROLE_OWNER | ROLE_AUDITOR)

/* Parses "admin", "security", ...; ROLE_NONE when unknown. */
enum broker_role broker_role_parse(const char *s);
const char *broker_role_name(enum broker_role r);

/* Checks the broker cannot make itself yet, wired by whoever links the
 * engines (cedar, jose).  NULL hooks mean the broker checks shape only: a
 * policy version's text is lexically sound (balanced, statements start with
 * permit or forbid); an inline JWKS is a set of public keys of known types.
 * HOOK(lead): set policy_compile to compile + validate with cedar and keep the
 * snapshot; set jwks_check to parse with jose. */
struct broker_hooks {
    void *ctx;
    /* Compiles (and validates against the schema) a policy version (0: a
     * candidate about to be stored; N: version N about to be activated); an
     * error refuses it with e's message (ERR_INVALID). */
    int (*policy_compile)(void *ctx, int64_t version, const char *cedar, const char *schema,
                          struct err *e);
    /* Called after a version became active, outside the transaction: swap
     * the serving snapshot. */
    void (*policy_activated)(void *ctx, int64_t version);
    /* Parses an inline JWKS for an issuer allowing algs (a JSON array). */
    int (*jwks_check)(void *ctx, const char *jwks, json_t *algs, struct err *e);
    /* Called after any registry change committed (ev: its audit event name,
     * "agent.create", ...), outside the transaction: rebuild what is built
     * from the registry (resident Cedar entities, trust store). */
    void (*registry_changed)(void *ctx, const char *ev);
};

struct broker {
    struct store *store;
    struct broker_hooks hooks;        /* zero: shape checks only */
    struct broker_runtime *rt;        /* the access path's runtime (broker/access.h), or NULL */
    struct broker_keycache *keycache; /* authenticated API keys (keycache.h), or NULL */
};

/* The caller of one request.  A NULL caller (the CLI, the system itself) may
 * do everything and is audited as "system". */
struct broker_caller {
    const char *key_id; /* API key id */
    enum broker_role role;
    const char *subject;    /* the human behind the key, or NULL */
    const char *request_id; /* for the audit trail, or NULL */
};

/* ---- API keys ------------------------------------------------------------- */

/* API keys look like "mdk_<id>_<secret>": the id finds the record, the
 * secret's SHA-256 is compared in constant time with the stored hash.  Only
 * the hash is ever stored. */
#define BROKER_APIKEY_PREFIX "mdk_"

/* Authenticates a bearer key.  ERR_AUTH for a malformed, unknown, revoked or
 * wrong key (the message says which, for the log only); ERR_UNAVAILABLE when
 * the store cannot answer. */
int broker_auth_apikey(struct broker *b, const char *key, size_t len, struct arena *a,
                       struct broker_caller *out, struct err *e) MUST_CHECK;

/* Revokes a live key (admin, security): from the moment this returns no
 * request authenticates with it.  ERR_NOTFOUND when no live key has the id. */
int broker_apikey_revoke(struct broker *b, const struct broker_caller *c, const char *id,
                         struct err *e) MUST_CHECK;

/* Creates a key with a role; *key_out (malloc'd, wipe and free it) is the
 * full key, shown once.  *id_out is allocated in a. */
int broker_apikey_create(struct broker *b, const struct broker_caller *c, const char *name,
                         enum broker_role role, const char *subject, struct arena *a,
                         char **key_out, const char **id_out, struct err *e) MUST_CHECK;

/* ---- registry ------------------------------------------------------------- */

/* Each create takes a JSON object, checks its shape (unknown or missing
 * fields, wrong JSON types, over-long strings) and meaning (formats,
 * references), stores the record and its audit record in one transaction and
 * returns the record as JSON (*out, a new reference).  Errors: ERR_INVALID
 * (the message starts with the field name and a colon), ERR_NOTFOUND (a
 * referenced record), ERR_CONFLICT (exists), ERR_FORBIDDEN, ERR_UNAVAILABLE.
 * Nothing is stored on error.  c is the caller (NULL: the system). */
typedef int (*broker_create_fn)(struct broker *b, const struct broker_caller *c, json_t *in,
                                struct arena *a, json_t **out, struct err *e);

int broker_human_create(struct broker *b, const struct broker_caller *c, json_t *in,
                        struct arena *a, json_t **out, struct err *e) MUST_CHECK;
int broker_team_create(struct broker *b, const struct broker_caller *c, json_t *in, struct arena *a,
                       json_t **out, struct err *e) MUST_CHECK;
/* {"id": SPIFFE ID, "owner", "purpose", "team"?, "environment"?, "risk_tier"?,
 * "issuer"?, "subject"?}.  With a spiffe issuer the agent's trust domain must
 * be the issuer's and the subject is the agent id; an oidc issuer needs the
 * subject (its "sub" claim). */
int broker_agent_create(struct broker *b, const struct broker_caller *c, json_t *in,
                        struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* Changes some of an agent's "owner", "team", "purpose", "environment",
 * "risk_tier" (reassigning an orphan to an active owner, say).  The new owner
 * must be active; an offboarded agent cannot change (ERR_CONFLICT). */
int broker_agent_update(struct broker *b, const struct broker_caller *c, const char *id, json_t *in,
                        struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* {"id", "kind": "spiffe"|"oidc", "for": "agents"|"humans", "trust_domain" (spiffe)
 * or "issuer" (oidc URL), exactly one of "jwks" (object), "jwks_file",
 * "jwks_url", "audiences": [...], "algs"?: [...] (default ["ES256"])}. */
int broker_issuer_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* {"id", "downstream", "sensitivity"? 0-3, "group"?, "description"?}. */
int broker_tool_create(struct broker *b, const struct broker_caller *c, json_t *in, struct arena *a,
                       json_t **out, struct err *e) MUST_CHECK;
/* {"id", "tools": {"tool": ["action", ...]}, "data_labels"?, "downstream"?,
 * "max_ttl_s"?, "call_budget"?, "rate_per_min"?, "dpop_required"? (true),
 * "on_drift"? ("revoke"), "needs_approval"? (false), "description"?}.  Every
 * tool must be registered; every tool's downstream system must be among the
 * intent's (default: exactly the tools' systems). */
int broker_intent_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* Changes some fields of an intent (any but "id"); the result is checked as
 * a whole, as a create would be. */
int broker_intent_update(struct broker *b, const struct broker_caller *c, const char *id,
                         json_t *in, struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* Kinds of registry objects for the generic get/list/delete. */
enum broker_kind {
    BROKER_HUMAN,
    BROKER_TEAM,
    BROKER_AGENT,
    BROKER_ISSUER,
    BROKER_TOOL,
    BROKER_INTENT
};

/* Owner scoping: a caller with role owner sees and manages only the agents
 * whose owner is its subject; any other agent is ERR_NOTFOUND (its existence
 * is not revealed).  An owner key without a subject is ERR_FORBIDDEN. */
int broker_get(struct broker *b, const struct broker_caller *c, enum broker_kind k, const char *id,
               struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* A page: {"items":[...],"next":"<id>"|null}.  Owners list their own agents. */
int broker_list(struct broker *b, const struct broker_caller *c, enum broker_kind k,
                const char *after, size_t limit, struct arena *a, json_t **out,
                struct err *e) MUST_CHECK;
/* Deletes (audited); ERR_CONFLICT while something references the record. */
int broker_delete(struct broker *b, const struct broker_caller *c, enum broker_kind k,
                  const char *id, struct err *e) MUST_CHECK;

/* Checks a registry id (humans, teams, tools, intents): 1-128 of [A-Za-z0-9._@-]. */
int broker_id_check(const char *field, const char *s, struct err *e) MUST_CHECK;

/* ---- lifecycle -------------------------------------------------------------- */

/* {"status": "active"|"suspended"|"offboarded", "reason"?}.  Transitions:
 * active <-> suspended, either -> offboarded (final).  Admin: any; security:
 * suspend or offboard any agent; owner: suspend or offboard its own.
 * Reactivation needs an active owner.  Offboarding also removes the agent's
 * standing entitlements and revokes its live tasks, each step audited, in the
 * same transaction.  ERR_CONFLICT for a transition that is not allowed. */
int broker_agent_set_status(struct broker *b, const struct broker_caller *c, const char *id,
                            json_t *in, struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* {"reason"?}: the human becomes offboarded and every active agent it owns
 * is suspended as an orphan (status_reason says so), in one transaction. */
int broker_human_offboard(struct broker *b, const struct broker_caller *c, const char *id,
                          json_t *in, struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* ---- standing entitlements ------------------------------------------------ */

/* {"intent": id}: the agent may pursue the intent.  The agent must exist, be
 * visible to c and not be offboarded; the intent must exist. */
int broker_entitlement_add(struct broker *b, const struct broker_caller *c, const char *agent,
                           json_t *in, struct arena *a, json_t **out, struct err *e) MUST_CHECK;
int broker_entitlement_remove(struct broker *b, const struct broker_caller *c, const char *agent,
                              const char *intent, struct err *e) MUST_CHECK;
/* {"items":[{"intent","created","created_by"}...]} */
int broker_entitlement_list(struct broker *b, const struct broker_caller *c, const char *agent,
                            struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* ---- policies --------------------------------------------------------------- */

/* {"cedar": text, "schema": text, "activate"?: bool}: stores a new version
 * (checked by the shape check, then the compile hook when set); with
 * "activate": true it becomes the active one in the same transaction. */
int broker_policy_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* Makes a stored version the active one (compiled again first when the hook
 * is set: a version that no longer compiles is refused, the old stays). */
int broker_policy_activate(struct broker *b, const struct broker_caller *c, int64_t version,
                           struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* version 0: the active one (ERR_NOTFOUND when none is). */
int broker_policy_get(struct broker *b, int64_t version, struct arena *a, json_t **out,
                      struct err *e) MUST_CHECK;
/* {"items":[{"version","created","created_by","active"}...],"next":v|null}. */
int broker_policy_list(struct broker *b, int64_t after, size_t limit, struct arena *a, json_t **out,
                       struct err *e) MUST_CHECK;

/* Shape check of Cedar policy text: comments and strings skipped, brackets
 * balanced, every statement (after its annotations) starts with permit or
 * forbid and ends with ';', at least one statement.  Errors name line:col. */
int broker_policy_shape_check(const char *text, size_t len, struct err *e) MUST_CHECK;

/* ---- audit ------------------------------------------------------------------- */

/* One event for the trail.  Strings and JSON are borrowed; NULL members are
 * "not applicable".  actor_chain NULL: built from the caller. */
struct broker_audit_event {
    const char *event; /* "<kind>.<verb>": "agent.create", "policy.activate" */
    const char *agent;
    const char *human;
    const char *intent;
    const char *task;
    const char *tool;
    const char *action;
    const char *resource; /* "<kind>:<id>" of the object acted on */
    const char *downstream;
    const char *decision; /* NULL: "ok" */
    json_t *data_labels;
    json_t *reasons; /* NULL: [] */
    json_t *detail;
    json_t *actor_chain;
    int64_t policy_version;
};

/* THE audit function: writes one record through s, which the caller has
 * inside the transaction of the change it records, so the change and its
 * record commit or vanish together.  *seq (may be NULL) gets its number. */
int broker_audit(struct store *s, const struct broker_caller *c,
                 const struct broker_audit_event *ev, int64_t *seq, struct err *e) MUST_CHECK;

/* broker_audit in two halves, so that a caller handing its record to the
 * group-commit thread (commitq.c) does the JSON work on its own thread:
 * render turns ev into the record's columns (ev's strings must outlive x),
 * write stamps the time and appends it through s (it may run again after a
 * rollback).  Clear frees what render made; it accepts a cleared x. */
struct broker_audit_rendered {
    struct store_audit rec;
    char *chain_s, *reasons_s, *labels_s, *detail_s;
};
int broker_audit_render(const struct broker_caller *c, const struct broker_audit_event *ev,
                        struct broker_audit_rendered *x, struct err *e) MUST_CHECK;
int broker_audit_write(struct store *s, struct broker_audit_rendered *x, int64_t *seq,
                       struct err *e) MUST_CHECK;
void broker_audit_rendered_clear(struct broker_audit_rendered *x);

/* Records a request the edge refused after authentication (a role that may
 * not use the endpoint): event "request.refused", decision "deny", the
 * method and path in detail.  Its own transaction. */
int broker_audit_refusal(struct broker *b, const struct broker_caller *c, const char *method,
                         const char *path, const char *reason, struct err *e) MUST_CHECK;

/* {"items":[records...],"next":seq|null}: records after seq `after`. */
int broker_audit_list(struct broker *b, int64_t after, size_t limit, struct arena *a, json_t **out,
                      struct err *e) MUST_CHECK;

#endif
