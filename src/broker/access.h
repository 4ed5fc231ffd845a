/*
 * access.h: the access path's runtime: what the token exchange (A1) and the
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
 *   - the live task table (A2's, opaque here).
 *
 * Cedar names: namespace "Mandate"; entity types Mandate::Agent, ::Human,
 * ::Team, ::Intent, ::Tool, ::ToolGroup; actions Mandate::Action::"StartTask",
 * "CallTool" (see examples/schema.cedarschema for the attributes).
 */
#ifndef MANDATE_BROKER_ACCESS_H
#define MANDATE_BROKER_ACCESS_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "broker/broker.h"
#include "cedar/cedar.h"
#include "jose/jose.h"
#include "util/arena.h"
#include "util/err.h"

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
/* The authorization_details type of a task (RFC 9396). */
#define BROKER_AUTHZ_TYPE "mandate_task"

/* ---- runtime ------------------------------------------------------------- */

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
     * LIMIT_AUDIT_CHECKPOINT_* defaults; broker/auditlog.h). */
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
    /* Signing keys (broker/keys.h): rotation age, pre-publication of the
     * successor, retention of a replaced key (longer than any token lives
     * and than audit checkpoints are verified); 0: the jose defaults
     * (7 days, none, 24 h).  keys_tick_s: how often the rotation thread
     * looks (0: LIMIT_KEYS_TICK_S; negative: no thread, tests). */
    int64_t key_rotate_s;
    int64_t key_prepublish_s;
    int64_t key_retain_s;
    int64_t keys_tick_s;
};

struct broker_policy_snapshot; /* below */
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

/* ---- the task table (A2 implements, tasks.c) ------------------------------- */

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

#endif
