/*
 * broker.h: the one public header of src/broker, Mandate's domain: what the
 * HTTP edge, the CLI, the fuzzers and the benchmarks call.  Its sections:
 *   - the broker and its callers: roles, the broker handle, API keys;
 *   - the registry: humans, teams, agents, trust issuers, tools, intents,
 *     the agent and human lifecycle, standing entitlements;
 *   - policies: versioned Cedar policy sets;
 *   - the access path's runtime: start, stop, the issuer and its JWKS;
 *   - exchange, check, tasks: the token exchange, the request-time check,
 *     the task lifecycle, introspection and revocation;
 *   - the kill switch;
 *   - signing keys: rotation and revocation while serving;
 *   - audit: refusals, verification, checkpoints, retention, export,
 *     queries and traces.
 *
 * The broker validates every write (ids, SPIFFE IDs, references to owners
 * and teams) before it reaches the store.  Inputs arrive as parsed jansson
 * objects; the broker checks their shape (known field names, JSON types,
 * lengths) and their meaning, so no edge (HTTP, CLI) can skip a check.
 *
 * What only the broker's own files share (the runtime's structs, the task
 * table, the key cache, the delegation rules, the audit writer) is in
 * broker_int.h, which no other module includes.
 */
#ifndef MANDATE_BROKER_H
#define MANDATE_BROKER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "jose/jose.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

/* ==== the broker and its callers ======================================== */

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
    struct broker_runtime *rt;        /* the access path's runtime (broker_int.h), or NULL */
    struct broker_keycache *keycache; /* authenticated API keys (broker_int.h), or NULL */
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

/* ---- API key cache --------------------------------------------------------- */

/* The cache of authenticated API keys (keycache.c): a request does not read
 * the store to learn who calls it, and every registry change made through
 * this process empties it before the change's caller gets its answer.
 * Start makes b->keycache (empty); without one every request reads the
 * store. */
int broker_keycache_start(struct broker *b, struct err *e) MUST_CHECK;
/* Frees b->keycache (NULL fine) and sets it NULL. */
void broker_keycache_stop(struct broker *b);

/* ==== registry ========================================================== */

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

/* ==== policies ========================================================== */

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

/* ==== the access path's runtime ========================================= */

/* struct broker carries one pointer, rt, to the runtime made by
 * broker_runtime_start() and freed by broker_runtime_stop() (broker_int.h
 * has its parts): Mandate's signing keyring, the trust store, the active
 * policy snapshot, the DPoP replay cache, the live task table. */

/* The authorization_details type of a task (RFC 9396). */
#define BROKER_AUTHZ_TYPE "mandate_task"

struct broker_runtime_config {
    /* "iss" of task tokens, e.g. "http://127.0.0.1:8080"; required. */
    const char *issuer;
    /* The KEK: a file holding it (base64url, 32 bytes), else the environment
     * variable kek_env (NULL: "MANDATE_KEK").  One of them must exist. */
    const char *kek_file;
    const char *kek_env;
    /* 0 (default, fail closed): a policy that errors while deciding makes
     * the decision deny; 1: errors are ignored as plain Cedar does. */
    int policy_errors_allow;
    /* TTL of a task when the request names none (capped by the intent's
     * maximum); 0: LIMIT_ACCESS_DEFAULT_TTL_S. */
    int64_t default_ttl_s;
    /* Signing algorithm of new keys; JOSE_ALG_UNKNOWN: ES256. */
    enum jose_alg alg;
    /* Signed audit checkpoints every this many records or seconds (0: the
     * LIMIT_AUDIT_CHECKPOINT_* defaults; auditlog.c). */
    int64_t audit_checkpoint_records;
    int64_t audit_checkpoint_s;
    /* Audit records older than this many days are pruned (up to the newest
     * checkpoint before the cutoff) by the checkpoint thread; 0: kept
     * forever. */
    int64_t audit_retention_days;
    /* BENCHMARK ONLY (`serve --audit off`): checks are answered without an
     * audit record.  Breaks the trail's promise; never in production. */
    int audit_checks_off;
    /* Longest delegation chain (hops below the root task); 0:
     * LIMIT_DELEG_DEPTH_DEFAULT, at most LIMIT_DELEG_DEPTH_MAX. */
    int max_delegation_depth;
    /* Signing keys (keys.c): rotation age, pre-publication of the
     * successor, retention of a replaced key (longer than any token lives
     * and than audit checkpoints are verified); 0: the jose defaults
     * (7 days, none, 24 h).  keys_tick_s: how often the rotation thread
     * looks (0: LIMIT_KEYS_TICK_S; negative: no thread, tests). */
    int64_t key_rotate_s;
    int64_t key_prepublish_s;
    int64_t key_retain_s;
    int64_t keys_tick_s;
};

/* Builds the runtime of b (b->rt): KEK, keyring (loaded from the store, a
 * first key made and persisted when there is none), trust store and policy
 * snapshot from the registry, DPoP replay cache, task table
 * (broker_tasks_start).  Also sets b->hooks so that policy versions are
 * compiled with Cedar, inline JWKS parsed with jose, and activations and
 * registry changes swap the snapshot.  ERR_INVALID (config), ERR_AUTH (the
 * KEK does not open the stored keys), ERR_UNAVAILABLE (store). */
int broker_runtime_start(struct broker *b, const struct broker_runtime_config *cfg,
                         struct err *e) MUST_CHECK;

/* Frees b->rt (NULL fine) and sets it NULL. */
void broker_runtime_stop(struct broker *b);

/* Creates a new KEK file (0600, base64url of 32 random bytes) at path when
 * none exists; *created says whether it made one.  ERR_IO. */
int broker_kek_file_ensure(const char *path, int *created, struct err *e) MUST_CHECK;

/* The "iss" of task tokens (the configured issuer URL), or NULL when the
 * runtime is not running.  Borrowed from b->rt: valid until
 * broker_runtime_stop. */
const char *broker_issuer(const struct broker *b);

/* The public JWKS of Mandate's signing keys (current first) as JSON text
 * (free()). */
int broker_jwks_text(struct broker *b, char **out, struct err *e) MUST_CHECK;

/* ==== exchange, check, tasks ============================================ */

/* ---- token exchange (exchange.c) ------------------------------------------ */

/* The form parameters of POST /oauth2/token, as received (NULL: absent). */
struct broker_exchange_req {
    const char *grant_type;
    const char *subject_token;
    const char *subject_token_type;
    const char *actor_token;
    const char *actor_token_type;
    const char *requested_token_type;
    const char *authorization_details; /* JSON text */
    const char *audience;
    const char *dpop;      /* the DPoP header, or NULL */
    const char *htm, *htu; /* method and URL of this request, for the proof */
    /* A delegation's sub-agent key (RFC 9449 section 10's parameter): the
     * JWK thumbprint the child token is bound to; required when the parent
     * token is DPoP-bound (the DPoP proof is then the parent's).  Or NULL. */
    const char *dpop_jkt;
    const char *request_id;
};

struct broker_exchange_result {
    /* success */
    char *access_token;     /* in the arena */
    const char *token_type; /* "DPoP" or "Bearer" */
    int64_t expires_in;
    const char *task_id;
    json_t *authorization_details; /* granted (owned: decref) */
    /* failure: an OAuth error code ("invalid_request", "invalid_grant",
     * "access_denied", "invalid_dpop_proof", "unsupported_grant_type",
     * "invalid_target", "server_error", "temporarily_unavailable"), the
     * description, and the reasons (owned: decref; NULL on success) */
    const char *error;
    const char *error_description;
    json_t *reasons;
    unsigned http_status; /* 200, 400, 401, 403, 500, 503 */
    int64_t audit_seq;    /* the audit record of this exchange (0: none) */
};

/* Runs the decision chain and, on allow, issues the token, stores the task
 * (state active), registers it with the task table and writes the audit
 * record.  Always fills out (error or success); returns 0 when a token was
 * issued, else the error's code.  Nothing but the audit record is stored on
 * refusal. */
int broker_exchange(struct broker *b, const struct broker_exchange_req *rq, struct arena *a,
                    struct broker_exchange_result *out, struct err *e);
void broker_exchange_result_clear(struct broker_exchange_result *out);

/* ---- check and tasks (taskcheck.c, tasks.c) ------------------------------ */

/* After the exchange: the live task table, the request-time check
 * (POST /v1/check) with drift detection, the task lifecycle (complete,
 * revoke, expire), token introspection (RFC 7662) and revocation (RFC 7009).
 *
 * The table (tasks.c) holds every task whose expiry is still ahead, live or
 * ended, by id and by the SHA-256 of its verified token, plus a min-heap on
 * expiry so that expiring a million tasks costs a million heap pops spread
 * over sweeps, never a scan on the check path.  Revocations are written to
 * the store before they are answered and reloaded, with the tasks, when the
 * process starts.  The check (taskcheck.c) verifies a token once and then
 * trusts the cached claims until the token's expiry.
 */

/* One call as the enforcement point describes it (strings borrowed). */
struct broker_call {
    const char *tool;
    const char *action;
    const char *resource;   /* may be NULL */
    const char *downstream; /* may be NULL: not checked */
    const char *const *labels;
    size_t nlabels;
};

struct broker_check_req {
    const char *token; /* the agent's task token */
    size_t token_len;
    const char *dpop; /* its DPoP proof, or NULL */
    const char *htm;  /* method and URL of the agent's original call */
    const char *htu;
    struct broker_call call;
    const struct broker_caller *caller; /* the enforcement point */
};

struct broker_check_result {
    int allow;
    json_t *reasons;     /* owned: policy ids and drift/refusal codes */
    const char *task_id; /* in the arena; NULL when no task was found */
    const char *state;   /* the task's state after the check, or NULL */
    int revoked;         /* this check's drift revoked the task */
    int64_t audit_seq;   /* the audit record of this decision */
    int64_t policy_version;
};

/* Decides one call: token (cached by hash), DPoP, revocation, task state,
 * drift, then Cedar CallTool with the task, the call and its history; writes
 * the audit record (and the task's counter) before returning.  Returns 0 with
 * out filled for allow and deny alike; an error (the store is down, memory)
 * means the caller answers an error, which the enforcement point treats as
 * deny.  out->reasons must be released with broker_check_result_clear. */
int broker_check(struct broker *b, const struct broker_check_req *rq, struct arena *a,
                 struct broker_check_result *out, struct err *e) MUST_CHECK;
void broker_check_result_clear(struct broker_check_result *out);

/* The agent ends its task: token (with DPoP proof for htm/htu when bound)
 * must be the task's.  ERR_AUTH (token, proof), ERR_NOTFOUND (not its task),
 * ERR_CONFLICT (already ended).  *out: the task as JSON. */
int broker_task_complete(struct broker *b, const char *id, const char *token, size_t len,
                         const char *dpop, const char *htm, const char *htu, const char *request_id,
                         struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* Revokes a task (owner of its agent, security, admin; NULL caller: the
 * system).  Memory first, then the store (task state, revocation record,
 * audit) before returning.  ERR_NOTFOUND (or not visible to an owner),
 * ERR_CONFLICT (already ended). */
int broker_task_revoke(struct broker *b, const struct broker_caller *c, const char *id,
                       const char *reason, struct arena *a, json_t **out, struct err *e) MUST_CHECK;

/* A task as JSON (owners: only their agents' tasks, others ERR_NOTFOUND). */
int broker_task_get(struct broker *b, const struct broker_caller *c, const char *id,
                    struct arena *a, json_t **out, struct err *e) MUST_CHECK;
/* {"items":[...],"next":id|null}; agent (may be NULL) narrows. */
int broker_task_list(struct broker *b, const struct broker_caller *c, const char *agent,
                     const char *after, size_t limit, struct arena *a, json_t **out,
                     struct err *e) MUST_CHECK;

/* RFC 7662: {"active":false} for any token that does not verify, is revoked
 * or whose task is not active; else active with the claims, the task state
 * and the granted scope. */
int broker_token_introspect(struct broker *b, const char *token, size_t len, struct arena *a,
                            json_t **out, struct err *e) MUST_CHECK;

/* RFC 7009: a valid task token's task and token are revoked (memory, then
 * store).  An invalid or unknown token is not an error (0). */
int broker_token_revoke(struct broker *b, const char *token, size_t len, const char *request_id,
                        struct err *e) MUST_CHECK;

/* ==== kill switch ======================================================= */

/* Stop one agent, all agents of an owner, a team, or every agent,
 * mid-flight (issue 7).  Engaging revokes every live task in scope
 * (memory first, then one store transaction) before it answers, and refuses
 * new exchanges in scope until lifted.  The switch is stored (committed
 * with its audit record before the answer) and loaded again at startup, so
 * a restart never lifts it.  docs/delegation.md.
 */

/* scope: "agent", "owner", "team" (target: its id) or "all" (target NULL).
 * Revokes every live task in scope (and the tasks delegated below them)
 * and writes one audit record "killswitch.engage".  *out: {"scope",
 * "target", "reason", "engaged", "revoked": n, "elapsed_ms"}.  Engaging a
 * scope engaged already revokes again and keeps the first reason.
 * The switch is set in memory first and stays set when the store write
 * fails.  ERR_INVALID, ERR_LIMIT (too many switches), ERR_UNAVAILABLE. */
int broker_killswitch_engage(struct broker *b, const struct broker_caller *c, const char *scope,
                             const char *target, const char *reason, json_t **out,
                             struct err *e) MUST_CHECK;

/* Lifts one engaged switch: its row is removed with the "killswitch.lift"
 * record in one transaction, then it leaves memory (a failed store write
 * leaves it engaged).  ERR_NOTFOUND. */
int broker_killswitch_lift(struct broker *b, const struct broker_caller *c, const char *scope,
                           const char *target, json_t **out, struct err *e) MUST_CHECK;

/* {"engaged":[{"scope","target","reason","engaged","by"}...],"generation":n} */
int broker_killswitch_status(struct broker *b, json_t **out, struct err *e) MUST_CHECK;

/* ==== signing keys ====================================================== */

/* Mandate's token signing keys while the server runs (keys.c).
 *
 * The keyring (jose_keyring_*) knows keys and times; this part keeps it and
 * the store in step: a thread ticks every LIMIT_KEYS_TICK_S and rotates on
 * schedule (the successor is published ahead of use), deletes the envelopes
 * of keys past their retention, and follows the store (keys made or revoked
 * by another replica); rotation on demand and emergency revocation are
 * audited.  Every change of the published keys swaps the verifier of task
 * tokens atomically (docs/operations.md, "Signing keys").
 */

/* Rotation on demand: a new key that signs activate_in_s seconds from now
 * (0: at once; up to LIMIT_KEYS_ACTIVATE_MAX_S), persisted and audited
 * ("key.rotate").  *out: {"kid","activates","audit_id","keys":[...]}. */
int broker_keys_rotate(struct broker *b, const struct broker_caller *c, int64_t activate_in_s,
                       json_t **out, struct err *e) MUST_CHECK;

/* Emergency revocation of kid: its envelope is deleted and the revocation
 * audited ("key.revoke", with reason) in one transaction, the key leaves the
 * keyring and the JWKS at once, tokens it signed no longer verify, and the
 * live tasks created while it signed (one second of margin) are revoked with
 * their delegated children, so tokens the task table already verified and
 * cached fail too.  When it was the signing key, a new one signs at once
 * ("key.rotate").
 * ERR_NOTFOUND: no such key.  *out: {"kid","revoked","replaced_by"?,
 * "audit_id","keys":[...]}. */
int broker_keys_revoke(struct broker *b, const struct broker_caller *c, const char *kid,
                       const char *reason, json_t **out, struct err *e) MUST_CHECK;

/* {"keys":[{"kid","alg","activates","state","retires"?}...]} newest first,
 * times as RFC 3339. */
int broker_keys_list(struct broker *b, json_t **out, struct err *e) MUST_CHECK;

/* ==== audit ============================================================= */

/* Records a request the edge refused after authentication (a role that may
 * not use the endpoint): event "request.refused", decision "deny", the
 * method and path in detail.  Its own transaction. */
int broker_audit_refusal(struct broker *b, const struct broker_caller *c, const char *method,
                         const char *path, const char *reason, struct err *e) MUST_CHECK;

/* The tamper-evident trail (docs/audit.md): signed checkpoints of the hash
 * chain and the offline verifier. */

/* What broker_audit_verify found. */
struct broker_audit_verify {
    int64_t records;     /* records whose hash was recomputed */
    int64_t first_seq;   /* the first record (0: none) */
    int64_t last_seq;    /* the last record */
    int64_t checkpoints; /* checkpoints compared with the chain */
    int64_t signatures;  /* checkpoint signatures verified (with a verifier) */
    int64_t bad_seq;     /* 0: intact; else the first broken record (or checkpoint) seq */
    int bad_checkpoint;  /* bad_seq names a checkpoint rather than a record */
    char what[512];      /* the finding, for a person */
};

/* Walks the whole trail of s in seq order: each record's hash recomputed
 * (modified), linked to the one before (inserted, reordered), numbers
 * consecutive (deleted), and every checkpoint's head equal to the hash of
 * its record and not past the end (truncated).  With v (may be NULL) each
 * checkpoint's signature is verified too.  Returns 0 when intact, 1 when
 * broken (out->bad_seq, out->what), negative ERR_* when it could not read. */
int broker_audit_verify(struct store *s, const struct jose_verifier *v,
                        struct broker_audit_verify *out, struct err *e) MUST_CHECK;

/* GET /v1/audit/checkpoints: {"items":[{seq, head, time, jws}], "next"}. */
int broker_audit_checkpoint_list(struct broker *b, int64_t after, size_t limit, json_t **out,
                                 struct err *e) MUST_CHECK;

/* ---- retention (auditprune.c) ------------------------------------------------ */

/* What broker_audit_prune did. */
struct broker_audit_prune {
    int64_t checkpoint; /* the checkpoint pruned up to (its seq) */
    int64_t from_seq;   /* the first record deleted */
    int64_t deleted;    /* records deleted (0: nothing was older) */
    int64_t record;     /* seq of the audit.prune record (0: none written) */
};

/* Deletes the audit records up to the newest checkpoint with seq <=
 * before_seq made before before_ms (pass INT64_MAX for the bound not used),
 * never past it, in one transaction with an "audit.prune" record naming the
 * checkpoint (written first, so the chain goes on from the head).  The
 * checkpoint must match the chain (its record's hash), else ERR_CONFLICT
 * and nothing is deleted.  ERR_NOTFOUND (with a message for a person) when
 * no checkpoint is old enough.  Nothing older left: 0 with out->deleted 0
 * and no record.  c: the caller for the record (NULL: system). */
int broker_audit_prune(struct store *s, const struct broker_caller *c, int64_t before_seq,
                       int64_t before_ms, struct broker_audit_prune *out, struct err *e) MUST_CHECK;

/* ---- export (auditexport.c) --------------------------------------------------- */

/* The OCSF schema version the export writes (metadata.version). */
#define BROKER_OCSF_VERSION "1.3.0"

/* One record as a JSON object in the export's "jsonl" format: the columns
 * by name (JSON columns as JSON, NULL members left out, policy_version left
 * out when 0), prev_hash and hash included. */
json_t *broker_audit_record_jsonl(const struct store_audit *r);

/* One record as an OCSF 1.x event (docs/audit.md, "Export"): API Activity
 * (6003) for checks, administration and refusals, Authorize Session (3003)
 * for token exchanges; the record's seq, hash and prev_hash in metadata
 * (uid, sequence, extension) so a SIEM can resume and cross-check, what
 * OCSF has no place for in unmapped.  product_version: Mandate's version.
 * NULL when out of memory. */
json_t *broker_audit_record_ocsf(const struct store_audit *r, const char *product_version);

/* ---- queries (auditquery.c) ------------------------------------------------- */

/* Reading the audit trail by what it is about (docs/audit.md,
 * "Queries"): filtered pages of records and the trace of a task, from the
 * human and the intent through every delegation to every call.
 *
 * Both the HTTP API (GET /v1/audit, GET /v1/audit/trace/{task}) and the
 * offline CLI (`mandate audit query|trace` on the store file) call these,
 * so the parameters mean the same and the tree is built once.
 */

/* A query being parsed: the filter and the parameters seen so far. */
struct broker_audit_query {
    struct store_audit_filter f;
    unsigned seen; /* one bit per known parameter: a repeated one is refused */
};

/* Starts an empty query (every record, first page of LIMIT 100). */
void broker_audit_query_init(struct broker_audit_query *q);

/* Takes one parameter (name, value: slices, not NUL-terminated; value may
 * be NULL for "?agent" without "=").  Names: agent human task intent tool
 * downstream decision event (equal to the record's column), since until
 * (RFC 3339 or milliseconds since the epoch; since <= time < until), after
 * (a seq), limit (1..LIMIT_LIST_PAGE_MAX).  Strings are copied into a.
 * ERR_INVALID "<name>: why" for a bad value, a repeated or an unknown
 * parameter (the caller names the parameter to its user). */
int broker_audit_query_param(struct broker_audit_query *q, const char *name, size_t name_len,
                             const char *value, size_t value_len, struct arena *a,
                             struct err *e) MUST_CHECK;

/* Checks the parameters together (until after since).  ERR_INVALID. */
int broker_audit_query_done(const struct broker_audit_query *q, struct err *e) MUST_CHECK;

/* Scopes q to caller c: an owner (role owner) reads only the records whose
 * agent it owns (in the store query, so paging and `next` stay exact; an
 * agent= naming another owner's agent answers an empty page, as GET
 * /v1/tasks?agent= does).  Other roles (and c NULL: the offline CLI) read
 * everything.  ERR_FORBIDDEN for an owner key without a subject. */
int broker_audit_query_scope(struct broker_audit_query *q, const struct broker_caller *c,
                             struct err *e) MUST_CHECK;

/* Parses an RFC 3339 time ("2026-12-04T18:00:00Z", "...:00.5+01:00") or a
 * decimal count of milliseconds (1 .. year 9999) into *ms.  ERR_INVALID. */
int broker_audit_parse_time(const char *s, size_t n, int64_t *ms) MUST_CHECK;

/* One page of records matching q: {"items":[record...], "next": seq|null}
 * (next: the seq to pass as `after` for the following page; null when this
 * page is the last).  *out is new. */
int broker_audit_query_run(struct store *s, const struct broker_audit_query *q, struct arena *a,
                           json_t **out, struct err *e) MUST_CHECK;

/* The trace of task: {"task","agent","owner","human","intent","state",
 * "parent","depth","created","expires","ended","revoked":{reason,time}|null,
 * "events":[{seq,time,event,agent,tool,
 * action,resource,downstream,data_labels,decision,reasons,detail}...],
 * "events_next"?, "children":[same...]}, children being the tasks delegated
 * from it (recursively), events the records naming the task in seq order.
 * ERR_NOTFOUND for an unknown task; ERR_LIMIT past LIMIT_AUDIT_TRACE_DEPTH
 * or LIMIT_AUDIT_TRACE_TASKS (events past LIMIT_AUDIT_TRACE_EVENTS are cut,
 * with events_next).  *out is new. */
int broker_audit_trace(struct store *s, const char *task, struct arena *a, json_t **out,
                       struct err *e) MUST_CHECK;

/* broker_audit_trace for caller c (NULL: anyone).  An owner traces only a
 * task whose agent it owns (else ERR_NOTFOUND "no task", as GET
 * /v1/tasks/{id} answers); the tree below it is whole: tasks delegated to
 * agents of other owners appear with their ids, records and decisions (what
 * was done on the owner's task's behalf).  ERR_FORBIDDEN for an owner key
 * without a subject. */
int broker_audit_trace_as(struct store *s, const struct broker_caller *c, const char *task,
                          struct arena *a, json_t **out, struct err *e) MUST_CHECK;

#endif
