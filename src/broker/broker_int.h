/*
 * broker_int.h: the one private header of src/broker: what only the
 * broker's .c files share.  Its sections: the audit writer; field tables,
 * JSON helpers, owner scoping and the "change" that runs a mutation and its
 * audit record in one store transaction; the API key cache; the access
 * path's runtime (its structs, the policy snapshot and decisions, trust);
 * the task table and the request-time check's internals; group commit; the
 * delegation rules; the kill switch's and the signing keys' threads.
 *
 * Not for use outside src/broker/, with one exception: the unit tests of
 * these internals (tests/unit/test_*.c) may include it.  scripts/checksrc
 * refuses any other file outside src/broker that includes it.
 */
#ifndef MANDATE_BROKER_INT_H
#define MANDATE_BROKER_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "cedar/cedar.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

/* ==== the audit writer (audit.c, auditlog.c) ============================ */

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

/* {"items":[records...],"next":seq|null}: records after seq `after`. */
int broker_audit_list(struct broker *b, int64_t after, size_t limit, struct arena *a, json_t **out,
                      struct err *e) MUST_CHECK;

/* One audit record as GET /v1/audit shows it (audit.c). */
json_t *broker_audit_record_json(const struct store_audit *r);

/* The typ header of a checkpoint JWS. */
#define BROKER_CHECKPOINT_TYP "mandate-audit-checkpoint+jwt"

/* Makes a signed checkpoint at the current head when it is newer than the
 * last one (needs the runtime's keyring).  *seq (may be NULL): the seq
 * checkpointed, 0 when nothing was due. */
int broker_audit_checkpoint(struct broker *b, int64_t *seq, struct err *e) MUST_CHECK;

/* Starts (stops) the thread that checkpoints every `records` records or
 * `seconds` seconds (0: the LIMIT_AUDIT_CHECKPOINT_* defaults); stop makes a
 * last checkpoint.  Called by broker_runtime_start/stop. */
int broker_audit_checkpoints_start(struct broker *b, int64_t records, int64_t seconds,
                                   struct err *e) MUST_CHECK;
void broker_audit_checkpoints_stop(struct broker *b);

/* ==== fields, JSON, owner scoping, changes ============================== */

/* One member of an input object: JSON type, required, maximum length (strings). */
struct broker_field {
    const char *name;
    json_type type; /* JSON_TRUE stands for "a boolean" */
    int required;
    size_t maxlen;
};

#define BROKER_NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* Checks in is an object with only known members of the right types and
 * lengths, and every required one.  ERR_INVALID "<field>: ...". */
int broker_fields_check(json_t *in, const struct broker_field *f, size_t n,
                        struct err *e) MUST_CHECK;

/* The string member name, or dflt. */
const char *broker_str(json_t *in, const char *name, const char *dflt);

/* An integer member within [min, max], or dflt when absent. */
int broker_int(json_t *in, const char *name, int64_t dflt, int64_t min, int64_t max, int64_t *out,
               struct err *e) MUST_CHECK;

/* A boolean member, or dflt when absent. */
int broker_bool(json_t *in, const char *name, int dflt);

/* Checks an array of 0..max_items distinct strings, each an id
 * (broker_id_check) when ids, else 1..maxlen bytes without control
 * characters. */
int broker_strings_check(const char *field, json_t *v, size_t max_items, size_t maxlen, int ids,
                         struct err *e) MUST_CHECK;

/* Compact, key-sorted JSON text of j in a (NULL on allocation failure). */
char *broker_json_text(json_t *j, struct arena *a);

/* Parses stored JSON text (NULL text: JSON null); never NULL for valid text. */
json_t *broker_json_parse(const char *text);

/* Hands j to *out; ERR_NOMEM when j is NULL. */
int broker_json_out(json_t *j, json_t **out, struct err *e) MUST_CHECK;

/* An RFC 3339 time string, or JSON null for 0. */
json_t *broker_time_json(int64_t ms);

/* Checks a registry id (humans, teams, tools, intents): 1-128 of [A-Za-z0-9._@-]. */
int broker_id_check(const char *field, const char *s, struct err *e) MUST_CHECK;

json_t *broker_agent_json(const struct store_agent *ag);
json_t *broker_issuer_json(const struct store_issuer *x);
json_t *broker_tool_json(const struct store_tool *x);
json_t *broker_intent_json(const struct store_intent *x);

/* Loads agent id if c may see it (owners: only their own; others are
 * ERR_NOTFOUND). */
int broker_agent_visible(struct store *s, const struct broker_caller *c, const char *id,
                         struct arena *a, struct store_agent *out, struct err *e) MUST_CHECK;

/* A mutation and its audit record: apply runs inside the transaction; then
 * ev (which apply may fill in further) is written through broker_audit. */
struct broker_change {
    const struct broker_caller *c;
    struct arena *a;
    void *ctx;
    int (*apply)(struct store *s, struct broker_change *ch, struct err *e);
    struct broker_audit_event ev;
};

int broker_change_run(struct broker *b, struct broker_change *ch, struct err *e) MUST_CHECK;

/* ==== the API key cache (keycache.c) ==================================== */

/* Authenticated API keys kept in memory, so a request does not read the
 * store to learn who calls it.
 *
 * An entry maps SHA-256 of the whole presented key to the caller it
 * authenticated (role, key id, subject).  A lookup compares the full hash in
 * constant time.  Entries live at most LIMIT_APIKEY_CACHE_TTL_MS; every
 * registry change made through this process (a key revoked, a human
 * offboarded, anything) empties the cache before the change's caller gets
 * its answer, so a revoked key fails at once.  A lookup that raced with a
 * change cannot put a stale answer back (the generation check below).
 */

#define KEYCACHE_HASH_LEN 32

/* Forgets every entry (b or its cache may be NULL). */
void broker_keycache_invalidate(struct broker *b);

/* 1 and *out filled (strings in a) when h is cached and fresh; 0 on a miss,
 * with *gen the generation to hand to keycache_put after reading the store. */
int keycache_get(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], int64_t now_ms,
                 struct arena *a, struct broker_caller *out, uint64_t *gen);
/* Remembers c for h unless the cache was invalidated since keycache_get
 * returned gen. */
void keycache_put(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], uint64_t gen,
                  int64_t now_ms, const struct broker_caller *c);

/* Hits and misses so far (tests, logs). */
void keycache_stats(struct broker *b, uint64_t *hits, uint64_t *misses);

/* ==== the access path's runtime (runtime.c ...) ========================= */

/* The access path's runtime: what the token exchange (A1) and the
 * request-time check and task lifecycle (A2) share in memory.
 *
 * struct broker carries one pointer, rt, to a struct broker_runtime made by
 * broker_runtime_start() and freed by broker_runtime_stop().  It holds:
 *   - Mandate's signing keyring (private keys persisted in the store as
 *     AES-256-GCM envelopes under a KEK read from a file or the environment)
 *     and a verifier for the task tokens it issues;
 *   - the trust store built from the registry's trust issuers;
 *   - the active policy snapshot: the Cedar policy set and schema of the
 *     active version plus the resident entities built from the registry
 *     (agents, humans, teams, intents, tools, tool groups), immutable and
 *     refcounted, rebuilt when a version is activated or the registry changes
 *     and swapped atomically: a request that acquired a snapshot keeps it;
 *   - the DPoP replay cache (shared by exchange and check: a proof's jti is
 *     seen once whichever endpoint saw it);
 *   - the live task table (tasks.c; its section below).
 *
 * Cedar names: namespace "Mandate"; entity types Mandate::Agent, ::Human,
 * ::Team, ::Intent, ::Tool, ::ToolGroup; actions Mandate::Action::"StartTask",
 * "CallTool" (see examples/schema.cedarschema for the attributes).
 */

#define BROKER_CEDAR_AGENT "Mandate::Agent"
#define BROKER_CEDAR_HUMAN "Mandate::Human"
#define BROKER_CEDAR_TEAM "Mandate::Team"
#define BROKER_CEDAR_INTENT "Mandate::Intent"
#define BROKER_CEDAR_TOOL "Mandate::Tool"
#define BROKER_CEDAR_TOOLGROUP "Mandate::ToolGroup"
#define BROKER_CEDAR_ACTION "Mandate::Action"

/* The audience every task token carries (besides the downstream systems). */
#define BROKER_TOKEN_AUD "mandate"
/* The JWT typ of task tokens (RFC 9068). */
#define BROKER_TOKEN_TYP "at+jwt"

struct broker_policy_snapshot; /* policy snapshot, below */
struct broker_trust;           /* trust_registry.c: a refcounted jose trust store */
struct broker_tasks;           /* A2 (tasks.c): live tasks, revocations, expiry */
struct broker_killswitch;      /* killswitch.c: engaged scopes */

struct broker_runtime {
    char *issuer;
    int policy_errors_allow;
    int64_t default_ttl_s;
    struct jose_kek *kek;
    struct jose_keyring *keyring;
    struct jose_replay *dpop_replay;
    struct jose_jwkcache *dpop_keys; /* imported proof keys (jose jwkcache.c) */
    struct broker_tasks *tasks;      /* A2: made by broker_tasks_start */
    int max_delegation_depth;
    struct broker_killswitch *ks; /* killswitch.c */

    pthread_mutex_t lock; /* guards the members below (swaps, rebuilds) */
    struct broker_policy_snapshot *policy;
    struct broker_trust *trust;
    /* Mandate's public keys: held shared by every verification, swapped
     * under it held exclusively when the published keys change (keys.c). */
    pthread_rwlock_t verifier_lock;
    struct jose_verifier *token_verifier;
    struct broker_keys *keys;     /* keys.c: rotation thread, changes of the keyring */
    atomic_int registry_dirty;    /* entities/trust to rebuild */
    struct broker_ckpt *ckpt;     /* audit checkpoints (auditlog.c) */
    int64_t audit_retention_days; /* 0: keep forever (auditlog.c) */
    int audit_checks_off;         /* bench only: checks not audited */
};

/* Signs claims as a task token (typ at+jwt, kid of the current key).
 * *out: free(). */
int broker_token_sign(struct broker *b, const json_t *claims, char **out, struct err *e) MUST_CHECK;

/* Verifies a task token issued by this Mandate: signature (current or
 * previous key), typ at+jwt, iss, aud "mandate", exp/nbf/iat.  *claims (a new
 * reference) on success; why gets the jose reason.  ERR_AUTH when refused. */
int broker_token_verify(struct broker *b, const char *token, size_t len, json_t **claims,
                        enum jose_reason *why, struct err *e) MUST_CHECK;

/* ---- policy snapshot and decisions --------------------------------------- */

struct broker_policy_snapshot {
    int64_t version;                  /* the active policy version; 0: none (everything denies) */
    struct cedar_policyset *policies; /* NULL when version 0 */
    struct cedar_schema *schema;      /* NULL when version 0 */
    struct cedar_entities *entities;  /* resident registry entities, finished */
    char *text;                       /* the policy and schema text: the parsed */
    char *schema_text;                /* forms point into them */
    int64_t built_ms;
    atomic_long refs;
};

/* The current snapshot with a reference taken (never NULL while the runtime
 * runs; NULL when b->rt is NULL).  Rebuilds first when the registry changed. */
struct broker_policy_snapshot *broker_policy_acquire(struct broker *b);
/* Drops a reference; NULL fine. */
void broker_policy_release(struct broker_policy_snapshot *snap);

/* Recompiles the active version and the resident entities now and swaps them
 * in.  On error the old snapshot keeps serving. */
int broker_policy_reload(struct broker *b, struct err *e) MUST_CHECK;

struct broker_decision {
    int allow;              /* 1 allow, 0 deny */
    int64_t policy_version; /* the version that decided */
    /* Reasons, strings allocated in the arena: the ids of the determining
     * policies (allow: the permits; deny: the forbids), or "no_permit" when
     * nothing permitted, plus "policy_error:<id>" for each policy that
     * errored (which denies unless policy_errors_allow). */
    const char **reasons;
    size_t nreasons;
    int errored; /* some policy errored */
};

/* One Cedar decision against snap (from broker_policy_acquire).
 * principal/resource are entity type ("Mandate::Agent") and id; action the
 * action id ("StartTask", "CallTool"); context a JSON object in Cedar's
 * schemaless JSON form (entities as {"__entity":{"type","id"}}; NULL: {}).
 * Returns 0 with out filled (allow or deny), or an error, which the caller
 * must treat as deny.  Everything in out is allocated in a. */
int broker_decide(struct broker *b, const struct broker_policy_snapshot *snap,
                  const char *principal_type, const char *principal_id, const char *action,
                  const char *resource_type, const char *resource_id, json_t *context,
                  struct arena *a, struct broker_decision *out, struct err *e) MUST_CHECK;

/* The decision's reasons as a JSON array of strings (new reference). */
json_t *broker_decision_reasons_json(const struct broker_decision *d);

/* ---- trust --------------------------------------------------------------- */

/* Who a workload credential proves: an active agent with an active owner. */
struct broker_workload {
    struct store_agent agent; /* strings in the caller's arena */
    const char *issuer_id;    /* registry trust issuer id */
    int64_t exp_s;            /* credential expiry */
};

/* Verifies a workload credential against the trust issuers "for":"agents"
 * and maps it to its agent (by issuer and subject).  Refusals are ERR_AUTH
 * with *code set to a stable reason: "untrusted_issuer", "invalid_credential"
 * (signature, alg, audience, expiry: e says which), "unknown_agent",
 * "agent_suspended", "agent_offboarded", "owner_inactive". */
int broker_workload_verify(struct broker *b, const char *token, size_t len, struct arena *a,
                           struct broker_workload *out, const char **code,
                           struct err *e) MUST_CHECK;

/* Verifies a human's ID token against the trust issuers "for":"humans";
 * the "sub" (or "email" when sub is no registered human) must name an active
 * human.  *human_id in a.  Codes: "untrusted_issuer", "invalid_credential",
 * "unknown_human", "human_inactive". */
int broker_human_verify(struct broker *b, const char *token, size_t len, struct arena *a,
                        const char **human_id, const char **code, struct err *e) MUST_CHECK;

/* Builds the trust stores (agents and humans) from the registry's issuers
 * (an inline JWKS goes to jose as jwks_json: never refreshed). */
int access_trust_build(struct store *s, struct broker_trust **out, struct err *e) MUST_CHECK;
/* Reference counting of a trust snapshot; put frees at zero (NULL fine). */
struct broker_trust *access_trust_get(struct broker_trust *t);
void access_trust_put(struct broker_trust *t);
/* Hands the keys old has loaded to the issuers of t with the same key
 * source (jose_trust_adopt_keys), both stores; old may be NULL. */
void access_trust_adopt(struct broker_trust *t, struct broker_trust *old);
/* The current trust snapshot with a reference (rebuilds first when dirty). */
struct broker_trust *access_trust_acquire(struct broker *b);

/* Compiles one policy version (text + schema); *ps and *schema are new
 * (schema NULL when the text is empty). */
int access_policy_compile(int64_t version, const char *cedar, const char *schema,
                          struct cedar_policyset **ps, struct cedar_schema **sc,
                          struct err *e) MUST_CHECK;

/* Rebuilds whatever is dirty (entities, trust) under the runtime lock. */
void access_rebuild_if_dirty(struct broker *b);

/* ---- the task table (tasks.c) -------------------------------------------- */

/* Creates b->rt->tasks (loading live tasks and revocations from the store);
 * called by broker_runtime_start. */
int broker_tasks_start(struct broker *b, struct err *e) MUST_CHECK;
/* Frees b->rt->tasks; called by broker_runtime_stop. */
void broker_tasks_stop(struct broker *b);
/* A new task was stored (state active) and its token issued with this jti
 * and expiry (seconds): hold it live.  Called by the exchange after the
 * store transaction committed. */
int broker_task_register(struct broker *b, const struct store_task *t, const char *jti,
                         int64_t token_exp_s, struct err *e) MUST_CHECK;

/* ==== tasks and the check (tasks.c, taskcheck.c) ======================== */

/* ---- drift codes ----------------------------------------------------------- */

/* Why a check denies outside Cedar.  Stable names (broker_drift_name) go in
 * the answer's reasons and the audit record.  The DRIFT_* kinds are drift in
 * the sense: the intent's on_drift rule applies to them. */
enum broker_drift {
    DRIFT_NONE = 0,
    DRIFT_TOOL,        /* "tool_not_granted" */
    DRIFT_ACTION,      /* "action_not_granted" */
    DRIFT_DATA_LABEL,  /* "data_label_not_granted" */
    DRIFT_DOWNSTREAM,  /* "downstream_not_granted" */
    DRIFT_BUDGET,      /* "budget_exhausted" */
    DRIFT_RATE,        /* "rate_exceeded" */
    DRIFT_TASK_ENDED,  /* "task_ended": a call after complete, revoke or expiry */
    DRIFT_ANOTHER_KEY, /* "another_key": DPoP proof by a key other than cnf.jkt */
    DRIFT_COUNT
};

const char *broker_drift_name(enum broker_drift d);

/* Compares a call with a granted mandate_task object ({"tools":[{"name",
 * "actions"}], "data_labels", "downstream", ...}).  Appends the scope drift
 * codes (tool, action, data label, downstream) to codes (a JSON array);
 * returns how many it appended, or ERR_NOMEM.  Pure: no state. */
int broker_drift_scope(const json_t *granted, const struct broker_call *call, json_t *codes);

/* ---- the table ------------------------------------------------------------- */

/* Called from the runtime's registry_changed hook: on agent status changes
 * and human offboarding, tasks of agents no longer active are revoked in
 * memory and in the store before the registry call answers. */
void broker_tasks_registry_changed(struct broker *b, const char *ev);

/* Marks at most max tasks whose expiry is <= now_ms expired and drops them
 * (with their cached tokens) from memory; returns how many.  The store's
 * rows are swept by the table's own thread. */
size_t broker_tasks_sweep(struct broker *b, int64_t now_ms, size_t max);

/* Tests: 0 keeps broker_tasks_start from starting the sweeper thread, so
 * that sweeps happen only where the test calls them.  Default 1. */
void broker_tasks_set_sweeper(int on);

/* Numbers for tests and /metrics. */
struct broker_tasks_stats {
    size_t tasks;       /* held in memory (live and ended, not yet expired) */
    size_t live;        /* of which active */
    size_t tokens;      /* verified tokens cached */
    size_t revoked_jti; /* revoked token ids held */
    uint64_t verifies;  /* full token verifications done by checks */
    uint64_t cache_hits;
};
void broker_tasks_stats(struct broker *b, struct broker_tasks_stats *out);

/* ---- shared by tasks.c and taskcheck.c ------------------------------------ */

/* What tasks.c (the table, the lifecycle) and taskcheck.c (the request-time
 * check) share.
 *
 * Locking: the table's rwlock guards its maps and heap; each task's mutex
 * guards its mutable members (state, counters, history).  A task's store row
 * is written only while its mutex is held, from a snapshot taken under it,
 * so a check's counter update can never write an old state over a
 * revocation.  Never take the table lock while holding a task's mutex.
 */

#define TASK_TOKEN_HASH_LEN 32

struct btask {
    /* immutable once in the table */
    char *id, *agent, *intent, *human, *parent, *jkt, *jti, *scope_text;
    json_t *granted; /* the mandate_task object */
    int64_t created_ms, expires_ms;
    int64_t budget, rate_per_min;
    int on_drift_revoke;

    pthread_mutex_t mu; /* guards the members below */
    const char *state;  /* static strings: "active", "completed", ... */
    int64_t ended_ms;
    int64_t calls;
    int64_t carved;       /* calls handed on to delegated children */
    int64_t bucket_milli; /* rate token bucket, in thousandths of a call */
    int64_t bucket_ms;
    json_t *tools_used;     /* distinct tools, in first-use order */
    json_t *labels_touched; /* distinct data labels */
    char *prev_tool;

    /* token cache: set once, under the table's write lock */
    int has_tok;
    uint8_t tok[TASK_TOKEN_HASH_LEN];
    json_t *claims;

    size_t heap_idx; /* table's heap position; SIZE_MAX when out */
    atomic_int refs;
};

/* Drops a reference (the table holds one); frees at zero.  NULL fine. */
void btask_put(struct btask *t);

/* The task with this id, with a reference, from memory or (when not there)
 * loaded from the store and added.  An expired task comes back in state
 * "expired" without entering the table.  ERR_NOTFOUND when no such task. */
int tasks_get(struct broker *b, const char *id, struct btask **out, struct err *e) MUST_CHECK;

/* The task whose token hashes to h, and its cached claims (borrowed, valid
 * while the reference is held); NULL on a miss. */
struct btask *tasks_find_token(struct broker *b, const uint8_t h[TASK_TOKEN_HASH_LEN],
                               const json_t **claims);

/* Caches a verified token's claims on its task (first token only). */
void tasks_cache_token(struct broker *b, struct btask *t, const uint8_t h[TASK_TOKEN_HASH_LEN],
                       json_t *claims);

/* 1 when the token id was revoked (RFC 7009) and not yet expired. */
int tasks_jti_revoked(struct broker *b, const char *jti);

/* A verified token for a task: hash, cache, claims and the task (with a
 * reference).  why: "invalid_token:<reason>", "unknown_task", ... for the
 * answer when the token is refused (return ERR_AUTH). */
struct tasks_token {
    uint8_t hash[TASK_TOKEN_HASH_LEN];
    const json_t *claims; /* borrowed from the task's cache or from own */
    json_t *own;          /* claims not cached (decref'd by tasks_token_clear) */
    struct btask *task;
    int cached; /* the signature check was skipped */
};
int tasks_token_resolve(struct broker *b, const char *token, size_t len, struct tasks_token *out,
                        const char **why, struct err *e) MUST_CHECK;
void tasks_token_clear(struct tasks_token *tk);

/* Ends a live task: state ("completed", "revoked") in memory at once, then
 * the store row, a revocation record (revoked only), and the audit record
 * (event, caller c) in one transaction.  The caller holds t->mu.
 * ERR_CONFLICT when the task had ended already.  *seq gets the audit seq. */
int tasks_end_locked(struct broker *b, struct btask *t, const char *state, const char *reason,
                     const struct broker_caller *c, const char *event, json_t *detail, int64_t *seq,
                     struct err *e) MUST_CHECK;

/* The store row of t as it is now (strings borrowed from t).  Caller holds
 * t->mu. */
void btask_row(const struct btask *t, struct store_task *row);

/* The task as JSON (caller holds t->mu). */
json_t *btask_json_locked(const struct btask *t);

/* Group commit (commitq.c): runs fn inside a store transaction shared with
 * the other callers waiting at the same moment, returning once it committed.
 * fn may run twice (alone, after a shared transaction failed). */
struct commitq;
int commitq_start(struct store *s, struct commitq **out, struct err *e) MUST_CHECK;
void commitq_stop(struct commitq *q); /* drains the queue first; NULL fine */
int commitq_run(struct commitq *q, struct store *s, int (*fn)(struct store *, void *, struct err *),
                void *ctx, struct err *e) MUST_CHECK; /* q NULL: store_tx */
/* A caller that will (probably) queue soon: the writer waits a little for
 * callers in flight before committing a batch.  NULL fine. */
void commitq_enter(struct commitq *q);
void commitq_leave(struct commitq *q);
/* The table's queue (NULL when none). */
struct commitq *tasks_commitq(struct broker *b);

/* ---- delegation (K1) ---- */

/* Carves n calls out of t's budget for a child (n < 0 gives them back).
 * ERR_LIMIT when fewer than n are left.  Takes t->mu. */
int tasks_carve(struct btask *t, int64_t n);
/* Revokes, in memory and in the store, every live task below the task id
 * (its children, their children, ...), reason "parent_ended".  Call without
 * holding any task's mutex. */
void tasks_end_subtree(struct broker *b, const char *id, const struct broker_caller *c);
/* The live tasks match()es, each with a reference (scan of the table under
 * its read lock); release with tasks_put_all. */
size_t tasks_collect_live(struct broker *b, int (*match)(const struct btask *, void *), void *ctx,
                          struct btask ***out);
void tasks_put_all(struct btask **v, size_t n);
/* Revokes the tasks in v at once (kill switch): each still active is
 * marked revoked in memory, then one store transaction writes their rows,
 * revocation records (reason), also(s, also_ctx) (may be NULL: the kill
 * switch's own row) and ev (may be NULL) as one audit record.
 * Entries that had ended are released and set NULL; the rest keep their
 * reference (tasks_put_all skips NULL).  Returns how many it revoked; *rc
 * the store's result (the tasks stay dead in memory either way). */
size_t tasks_revoke_batch(struct broker *b, struct btask **v, size_t n, const char *reason,
                          const struct broker_caller *c, const struct broker_audit_event *ev,
                          int (*also)(struct store *, void *, struct err *), void *also_ctx,
                          int64_t *seq, struct err *e, int *rc);
/* The actor chain of a task token's claims, root first:
 * [{"kind":"human","id"}?, {"kind":"agent","id"}, ...]  (new reference). */
json_t *broker_act_chain(const json_t *claims);

/* Counts a full token verification or a cache hit (stats). */
void tasks_count(struct broker *b, int cache_hit);

/* ==== delegation rules (attenuate.c) ==================================== */

/* The rules of a delegation (issue 7), as pure functions of the parent's
 * grant and the request, so that they are tested as tables
 * (tests/unit/test_deleg.c) and exchange.c applies exactly these.  A child
 * may only narrow: tools and actions, data labels and downstream systems are
 * subsets of the parent's granted scope; its expiry is no later than the
 * parent's; its budget is carved out of what the parent has left; its depth
 * stays under the limit.  docs/delegation.md.
 */

/* Does the request fit inside parent (a granted mandate_task object:
 * "tools" [{name, actions}], "data_labels", "downstream")?  req_tools is
 * an array of {name, actions} or NULL (the parent's), req_labels and
 * req_down arrays of strings or NULL.  Returns NULL when it fits, else
 * "scope_exceeds_parent" with *what ("tool", "action", "data label",
 * "downstream system") and *item (borrowed from the request) naming the
 * first thing outside.  A malformed parent grants nothing. */
const char *broker_attenuate_scope(const json_t *parent, const json_t *req_tools,
                                   const json_t *req_labels, const json_t *req_down,
                                   const char **what, const char **item);

/* Expiry and budget.  ttl_s and budget as requested (0: default),
 * left_s the parent's seconds left, avail its calls left (budget - calls -
 * carved), default_ttl_s the server's.  Returns NULL and sets *ttl_out (the
 * default capped by left_s) and *budget_out (the default: half of avail,
 * rounded up), or "parent_task_ended" (under a second left),
 * "expiry_exceeds_parent", "budget_exceeds_parent" (over avail, or nothing
 * left to hand on). */
const char *broker_attenuate_carve(int64_t ttl_s, int64_t budget, int64_t left_s, int64_t avail,
                                   int64_t default_ttl_s, int64_t *ttl_out, int64_t *budget_out);

/* depth: the new task's hops below its root task.  NULL when it is at most
 * max, else "depth_exceeded". */
const char *broker_attenuate_depth(int64_t depth, int64_t max);

/* ==== kill switch (killswitch.c) ======================================== */

/* Made and freed by the runtime (broker_runtime_start/stop).  Start loads
 * the stored switches and revokes the live tasks they cover (record
 * "killswitch.reapply"); an unreadable store fails the start (closed). */
int broker_killswitch_start(struct broker *b, struct err *e) MUST_CHECK;
void broker_killswitch_stop(struct broker *b);

/* 1 when an engaged switch covers this agent.  owner and team may be NULL
 * (then only "all" and "agent" switches are looked at: the check path,
 * whose tasks in owner/team scope were revoked when the switch engaged).
 * One atomic load when nothing is engaged. */
int broker_killswitch_covers(struct broker *b, const char *agent, const char *owner,
                             const char *team);

/* The rule itself: 1 when a switch (scope, target) covers an agent with
 * this owner and team (each may be NULL: then no owner/team switch covers
 * it).  "all" covers every agent; an unknown scope covers none (scopes are
 * checked when engaged). */
int broker_killswitch_scope_matches(const char *scope, const char *target, const char *agent,
                                    const char *owner, const char *team);

/* ==== signing keys (keys.c) ============================================= */

struct broker_keys;

/* Loads every stored envelope into b->rt->keyring (ERR_AUTH: wrong KEK or a
 * tampered envelope), makes and persists a first key when due, builds the
 * token verifier, then starts the rotation thread (tick 0 = no thread, for
 * tests that call broker_keys_tick themselves).  alg: of new keys
 * (JOSE_ALG_UNKNOWN: ES256). */
int broker_keys_start(struct broker *b, enum jose_alg alg, int64_t tick_s,
                      struct err *e) MUST_CHECK;

/* Stops the thread and frees the state (the keyring stays: runtime.c). */
void broker_keys_stop(struct broker *b);

/* One tick: follow the store, rotate when due, drop retired keys, republish.
 * 0 or an error (logged by the thread). */
int broker_keys_tick(struct broker *b, struct err *e) MUST_CHECK;

#endif
