/*
 * store.h: Mandate's persistent state behind one interface.
 *
 * The interface is a table of functions (struct store_ops) so that a
 * PostgreSQL implementation can be added without touching callers; SQLite is
 * the embedded default (sqlite.c).  Records come back with their strings
 * allocated in the caller's arena.  Every call returns 0 or an ERR_* code:
 * ERR_NOTFOUND, ERR_CONFLICT (duplicate id, a reference that would dangle),
 * ERR_UNAVAILABLE (the store is locked, read-only, full or gone: the caller
 * answers 503), ERR_INTERNAL.
 *
 * A store handle may be used from several threads.  store_tx() runs a
 * function inside one write transaction; writes outside store_tx() are
 * transactions of their own.
 */
#ifndef MANDATE_STORE_H
#define MANDATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

#define STORE_KEY_HASH_LEN 32 /* SHA-256 */

struct store_human {
    const char *id;
    const char *email;
    const char *name;   /* may be NULL */
    const char *status; /* "active" or "offboarded" */
    int64_t created_ms;
};

struct store_team {
    const char *id;
    const char *name; /* may be NULL */
    int64_t created_ms;
};

struct store_agent {
    const char *id;    /* a SPIFFE ID */
    const char *owner; /* human id */
    const char *team;  /* team id or NULL */
    const char *purpose;
    const char *environment;
    int64_t risk_tier;
    const char *status; /* "active", "suspended", "offboarded" */
    int64_t created_ms;
    /* migration 2 */
    const char *issuer;        /* trust issuer id that attests it, or NULL */
    const char *subject;       /* its subject at that issuer, or NULL */
    int64_t status_changed_ms; /* last status transition; 0: never changed */
    const char *status_reason; /* why the last transition, or NULL */
};

/* A trust issuer: who may vouch for a workload (kind "spiffe": a trust
 * domain; "oidc": an issuer URL) or for a human ("oidc" only). */
struct store_issuer {
    const char *id;
    const char *kind;        /* "spiffe" or "oidc" */
    const char *principals;  /* "agents" or "humans" */
    const char *issuer;      /* trust domain (spiffe) or issuer URL (oidc) */
    const char *jwks_source; /* "inline", "file" or "url" */
    const char *jwks;        /* the JWKS JSON text, a file path or a URL */
    const char *audiences;   /* JSON array of strings */
    const char *algs;        /* JSON array of JWS alg names */
    int64_t created_ms;
};

struct store_tool {
    const char *id; /* "payments.refund" */
    const char *downstream;
    int64_t sensitivity;     /* 0..3 */
    const char *tool_group;  /* or NULL */
    const char *description; /* or NULL */
    int64_t created_ms;
};

/* An intent: an approved behaviour profile.  The JSON members are stored as
 * canonical (compact, sorted) JSON text. */
struct store_intent {
    const char *id;
    const char *description; /* or NULL */
    const char *tools;       /* JSON object: tool id -> array of actions */
    const char *data_labels; /* JSON array of strings */
    const char *downstream;  /* JSON array of strings */
    int64_t max_ttl_s;
    int64_t call_budget;
    int64_t rate_per_min;
    int64_t dpop_required; /* 0 or 1 */
    const char *on_drift;  /* "deny" or "revoke" */
    int64_t needs_approval;
    int64_t created_ms;
    int64_t updated_ms;
};

/* A standing entitlement: an intent an agent may pursue. */
struct store_entitlement {
    const char *agent;
    const char *intent;
    int64_t created_ms;
    const char *created_by; /* API key id, or NULL */
};

struct store_policy {
    int64_t version; /* 1, 2, ...: assigned by policy_insert */
    const char *cedar;
    const char *schema;
    int64_t created_ms;
    const char *created_by; /* API key id, or NULL */
    int64_t active;         /* 1 for exactly one version once any is active */
    int64_t activated_ms;
};

struct store_task {
    const char *id;
    const char *agent;
    const char *intent;
    const char *on_behalf_of; /* human id or NULL */
    const char *scope;        /* granted authorization_details, JSON */
    const char *parent;       /* parent task id or NULL */
    const char *state;        /* pending, active, completed, revoked, expired */
    int64_t created_ms;
    int64_t expires_ms;
    const char *jkt; /* DPoP key thumbprint or NULL */
    int64_t calls;
    int64_t ended_ms; /* 0 while live */
    /* migration 6 (delegation, issue 7) */
    int64_t budget; /* calls: 0 means the intent's (a delegated child's carve otherwise) */
    int64_t carved; /* calls this task handed on to delegated children */
};

/* An engaged kill switch (migration 6).  id is "<scope>" or
 * "<scope>:<target>": one row per engaged scope. */
struct store_killswitch {
    const char *id;
    const char *scope;  /* "agent", "owner", "team", "all" */
    const char *target; /* or NULL (scope "all") */
    const char *reason;
    const char *engaged_by; /* API key id, or NULL */
    int64_t engaged_ms;
};

struct store_revocation {
    const char *id;   /* a token jti or a task id */
    const char *kind; /* "token" or "task" */
    const char *reason;
    int64_t time_ms;
    int64_t expires_ms; /* after this the entry may be forgotten; 0: never */
};

/* One audit record.  seq is assigned by audit_append, strictly increasing.
 * JSON members are text; NULL members mean "not applicable".  prev_hash and
 * hash form the tamper-evident chain (store_audit_hash, docs/audit.md):
 * audit_append sets both, inside the writer's transaction, in seq order. */
struct store_audit {
    int64_t seq;
    int64_t time_ms;
    const char *event;       /* "agent.create", "policy.activate", "check", ... */
    const char *request_id;  /* or NULL */
    const char *caller;      /* API key id, or NULL (CLI, system) */
    const char *actor_chain; /* JSON array, outermost actor first */
    const char *agent;
    const char *human;
    const char *intent;
    const char *task;
    const char *tool;
    const char *action;
    const char *resource;    /* the object acted on ("intent:refunds") */
    const char *data_labels; /* JSON array or NULL */
    const char *downstream;
    const char *decision;   /* "allow", "deny", "escalate", "ok" (admin change) */
    const char *reasons;    /* JSON array */
    int64_t policy_version; /* 0: none */
    const char *detail;     /* JSON object: what changed */
    const char *prev_hash;
    const char *hash;
};

#define STORE_AUDIT_HASH_HEX 64
/* The prev_hash of the first record: 64 '0'. */
extern const char store_audit_genesis[STORE_AUDIT_HASH_HEX + 1];

/* out = lower-case hex SHA-256 of the record's canonical encoding (v1,
 * docs/audit.md) with prev_hash (r->prev_hash and r->hash are ignored).
 * ERR_LIMIT when the record exceeds LIMIT_AUDIT_RECORD_MAX, ERR_NOMEM. */
int store_audit_hash(const struct store_audit *r, const char *prev_hash,
                     char out[STORE_AUDIT_HASH_HEX + 1]) MUST_CHECK;

/* The encoding (v1) of r with prev_hash written to dst[0..cap): *len gets
 * its length.  ERR_LIMIT when it is longer than cap (*len then says how
 * long) or than LIMIT_AUDIT_RECORD_MAX. */
int store_audit_encode(const struct store_audit *r, const char *prev_hash, char *dst, size_t cap,
                       size_t *len) MUST_CHECK;

/* A reusable hasher for verifiers: SHA-256 fetched once, one digest
 * context, one encoding buffer: no allocation per record once it has grown.
 * One thread at a time. */
struct store_audit_hasher;
int store_audit_hasher_new(struct store_audit_hasher **out) MUST_CHECK;
void store_audit_hasher_free(struct store_audit_hasher *h); /* h may be NULL */
/* store_audit_hash through h. */
int store_audit_hasher_hash(struct store_audit_hasher *h, const struct store_audit *r,
                            const char *prev_hash, char out[STORE_AUDIT_HASH_HEX + 1]) MUST_CHECK;
/* out = hex SHA-256 of the n bytes at p (an encoding made by
 * store_audit_encode). */
int store_audit_hasher_digest(struct store_audit_hasher *h, const void *p, size_t n,
                              char out[STORE_AUDIT_HASH_HEX + 1]) MUST_CHECK;

/* A signed checkpoint of the audit chain: the record seq and its hash,
 * signed by Mandate's key as a compact JWS (payload {"seq", "head", "iat"}). */
struct store_audit_checkpoint {
    int64_t seq;
    const char *head; /* hash of record seq */
    int64_t time_ms;
    const char *jws;
};

/* One of Mandate's token signing keys: its private part encrypted under the
 * KEK as a jose keyring envelope (JSON text); the store never sees it clear. */
struct store_signing_key {
    const char *kid;
    const char *envelope;
    int64_t created_ms;
};

struct store_apikey {
    const char *id; /* public part of the key, used to look it up */
    const char *name;
    const char *role;                       /* admin, security, owner, auditor, pep */
    const char *subject;                    /* the human the key acts for, or NULL */
    unsigned char hash[STORE_KEY_HASH_LEN]; /* SHA-256 of the secret part */
    int64_t created_ms;
    int64_t revoked_ms; /* 0 when live */
};

/* A page of a list: items after the id `after` (NULL: from the start), in id
 * order, at most `limit`. */
struct store_page {
    const char *after;
    size_t limit;
};

/* A query of the audit trail (GET /v1/audit, `mandate audit query`): every
 * non-NULL string must equal its column; since_ms <= time_ms < until_ms
 * where set (0: unbounded); seq > after; ascending seq, at most limit
 * (0 or more than LIMIT_LIST_PAGE_MAX: LIMIT_LIST_PAGE_MAX). */
struct store_audit_filter {
    const char *agent;
    const char *human;
    const char *task;
    const char *intent;
    const char *tool;
    const char *downstream;
    const char *decision;
    const char *event;
    /* Not an equality: only records whose agent is owned by this human (an
     * owner reading the trail; a deleted agent's records are then not
     * returned, as its owner can no longer be known). */
    const char *owner;
    int64_t since_ms;
    int64_t until_ms;
    int64_t after;
    size_t limit;
};

struct store;

struct store_ops {
    const char *kind;
    void (*close)(struct store *s);
    /* Checks the store answers; with write_probe, that it can take a write lock
     * now.  ERR_UNAVAILABLE with the reason otherwise. */
    int (*ping)(struct store *s, int write_probe, struct err *e);
    int (*schema_version)(struct store *s, int *out, struct err *e);
    int (*tx_begin)(struct store *s, struct err *e);
    int (*tx_commit)(struct store *s, struct err *e);
    void (*tx_rollback)(struct store *s);

    int (*human_insert)(struct store *s, const struct store_human *h, struct err *e);
    int (*human_get)(struct store *s, const char *id, struct arena *a, struct store_human *out,
                     struct err *e);
    int (*human_list)(struct store *s, const struct store_page *p, struct arena *a,
                      struct store_human **out, size_t *n, struct err *e);
    int (*human_delete)(struct store *s, const char *id, struct err *e);

    int (*team_insert)(struct store *s, const struct store_team *t, struct err *e);
    int (*team_get)(struct store *s, const char *id, struct arena *a, struct store_team *out,
                    struct err *e);
    int (*team_list)(struct store *s, const struct store_page *p, struct arena *a,
                     struct store_team **out, size_t *n, struct err *e);
    int (*team_delete)(struct store *s, const char *id, struct err *e);

    int (*agent_insert)(struct store *s, const struct store_agent *ag, struct err *e);
    int (*agent_get)(struct store *s, const char *id, struct arena *a, struct store_agent *out,
                     struct err *e);
    int (*agent_list)(struct store *s, const struct store_page *p, struct arena *a,
                      struct store_agent **out, size_t *n, struct err *e);
    int (*agent_delete)(struct store *s, const char *id, struct err *e);

    int (*apikey_insert)(struct store *s, const struct store_apikey *k, struct err *e);
    int (*apikey_get)(struct store *s, const char *id, struct arena *a, struct store_apikey *out,
                      struct err *e);
    int (*apikey_count)(struct store *s, int64_t *out, struct err *e);

    /* ---- migration 2 ---- */
    /* Updates every column of the record named by its id; ERR_NOTFOUND. */
    int (*human_update)(struct store *s, const struct store_human *h, struct err *e);
    int (*agent_update)(struct store *s, const struct store_agent *ag, struct err *e);
    /* Agents of one owner, in id order after p->after. */
    int (*agent_list_owner)(struct store *s, const char *owner, const struct store_page *p,
                            struct arena *a, struct store_agent **out, size_t *n, struct err *e);
    /* The agent an issuer's subject maps to; ERR_NOTFOUND. */
    int (*agent_by_subject)(struct store *s, const char *issuer, const char *subject,
                            struct arena *a, struct store_agent *out, struct err *e);

    int (*issuer_insert)(struct store *s, const struct store_issuer *x, struct err *e);
    int (*issuer_get)(struct store *s, const char *id, struct arena *a, struct store_issuer *out,
                      struct err *e);
    int (*issuer_list)(struct store *s, const struct store_page *p, struct arena *a,
                       struct store_issuer **out, size_t *n, struct err *e);
    int (*issuer_delete)(struct store *s, const char *id, struct err *e);

    int (*tool_insert)(struct store *s, const struct store_tool *x, struct err *e);
    int (*tool_get)(struct store *s, const char *id, struct arena *a, struct store_tool *out,
                    struct err *e);
    int (*tool_list)(struct store *s, const struct store_page *p, struct arena *a,
                     struct store_tool **out, size_t *n, struct err *e);
    int (*tool_delete)(struct store *s, const char *id, struct err *e);

    int (*intent_insert)(struct store *s, const struct store_intent *x, struct err *e);
    int (*intent_get)(struct store *s, const char *id, struct arena *a, struct store_intent *out,
                      struct err *e);
    int (*intent_list)(struct store *s, const struct store_page *p, struct arena *a,
                       struct store_intent **out, size_t *n, struct err *e);
    int (*intent_delete)(struct store *s, const char *id, struct err *e);
    int (*intent_update)(struct store *s, const struct store_intent *x, struct err *e);
    /* Replaces the set of tools an intent names (the foreign keys that keep
     * a tool from being deleted while an intent uses it). */
    int (*intent_tools_set)(struct store *s, const char *intent, const char *const *tools, size_t n,
                            struct err *e);

    int (*entitlement_insert)(struct store *s, const struct store_entitlement *x, struct err *e);
    int (*entitlement_delete)(struct store *s, const char *agent, const char *intent,
                              struct err *e);
    /* Entitlements of one agent in intent order (at most LIMIT_LIST_PAGE_MAX). */
    int (*entitlement_list)(struct store *s, const char *agent, struct arena *a,
                            struct store_entitlement **out, size_t *n, struct err *e);
    /* Removes every entitlement of an agent; *n how many. */
    int (*entitlement_clear)(struct store *s, const char *agent, int64_t *n, struct err *e);

    /* Stores p as a new version (p->version and p->active are ignored: the
     * new version is max + 1 and inactive); *version is the one assigned. */
    int (*policy_insert)(struct store *s, const struct store_policy *p, int64_t *version,
                         struct err *e);
    int (*policy_get)(struct store *s, int64_t version, struct arena *a, struct store_policy *out,
                      struct err *e);
    /* ERR_NOTFOUND when no version is active yet. */
    int (*policy_get_active)(struct store *s, struct arena *a, struct store_policy *out,
                             struct err *e);
    /* Versions after `after` (0: from the first), ascending. */
    int (*policy_list)(struct store *s, int64_t after, size_t limit, struct arena *a,
                       struct store_policy **out, size_t *n, struct err *e);
    /* Makes version the only active one; ERR_NOTFOUND. */
    int (*policy_activate)(struct store *s, int64_t version, int64_t now_ms, struct err *e);

    int (*task_insert)(struct store *s, const struct store_task *t, struct err *e);
    int (*task_get)(struct store *s, const char *id, struct arena *a, struct store_task *out,
                    struct err *e);
    /* Revokes an agent's live (pending or active) tasks, writing a revocation
     * for each; *n how many. */
    int (*task_revoke_agent)(struct store *s, const char *agent, const char *reason, int64_t now_ms,
                             int64_t *n, struct err *e);
    /* Marks at most max live tasks whose expiry is <= now_ms as expired
     * (uses the expiry index: cost is the number swept); *n how many. */
    int (*task_sweep)(struct store *s, int64_t now_ms, size_t max, int64_t *n, struct err *e);

    int (*revocation_insert)(struct store *s, const struct store_revocation *r, struct err *e);
    int (*revocation_get)(struct store *s, const char *id, struct arena *a,
                          struct store_revocation *out, struct err *e);

    /* ---- the access path: task lifecycle (tasks.c) ---- */
    /* Rewrites every column of the task named by t->id (state, calls,
     * ended_ms change); ERR_NOTFOUND. */
    int (*task_update)(struct store *s, const struct store_task *t, struct err *e);
    /* Sets only the calls counter of task id (an allowed check: the hot
     * path, so no other column, index or foreign key is touched);
     * ERR_NOTFOUND. */
    int (*task_set_calls)(struct store *s, const char *id, int64_t calls, struct err *e);
    /* Tasks in id order after p->after; owner (the agents' owner) and agent
     * narrow the list when non-NULL. */
    int (*task_list)(struct store *s, const char *owner, const char *agent,
                     const struct store_page *p, struct arena *a, struct store_task **out,
                     size_t *n, struct err *e);
    /* Tasks of any state whose expiry is after now_ms, in id order after
     * p->after: what a restart loads back into memory. */
    int (*task_list_unexpired)(struct store *s, int64_t now_ms, const struct store_page *p,
                               struct arena *a, struct store_task **out, size_t *n, struct err *e);
    /* Revocations that may not be forgotten yet (expires_ms 0 or after
     * now_ms), in id order after p->after. */
    int (*revocation_list)(struct store *s, int64_t now_ms, const struct store_page *p,
                           struct arena *a, struct store_revocation **out, size_t *n,
                           struct err *e);

    /* Appends one record; *seq (may be NULL) gets its sequence number. */
    int (*audit_append)(struct store *s, const struct store_audit *r, int64_t *seq, struct err *e);
    /* Records after seq `after`, ascending, at most limit. */
    int (*audit_list)(struct store *s, int64_t after, size_t limit, struct arena *a,
                      struct store_audit **out, size_t *n, struct err *e);

    /* The last record's seq and hash (*seq 0, head "" when empty). */
    int (*audit_head)(struct store *s, int64_t *seq, char head[STORE_AUDIT_HASH_HEX + 1],
                      struct err *e);
    /* ---- migration 4: signed checkpoints of the audit chain ---- */
    int (*audit_checkpoint_insert)(struct store *s, const struct store_audit_checkpoint *c,
                                   struct err *e);
    /* Checkpoints with seq > after, ascending, at most limit. */
    int (*audit_checkpoint_list)(struct store *s, int64_t after, size_t limit, struct arena *a,
                                 struct store_audit_checkpoint **out, size_t *n, struct err *e);
    /* The newest checkpoint; ERR_NOTFOUND when there is none. */
    int (*audit_checkpoint_last)(struct store *s, struct arena *a,
                                 struct store_audit_checkpoint *out, struct err *e);
    /* ---- retention and fast reads of the audit trail (docs/audit.md) ---- */
    /* The newest checkpoint with seq <= max_seq made before before_ms;
     * ERR_NOTFOUND when there is none. */
    int (*audit_checkpoint_before)(struct store *s, int64_t max_seq, int64_t before_ms,
                                   struct arena *a, struct store_audit_checkpoint *out,
                                   struct err *e);
    /* Deletes the records with seq <= upto (inside the caller's transaction:
     * broker_audit_prune); *deleted (may be NULL) gets how many. */
    int (*audit_prune)(struct store *s, int64_t upto, int64_t *deleted, struct err *e);
    /* Calls fn for each record with after < seq <= upto, ascending, from one
     * read snapshot and one prepared statement; the record's strings live
     * only during the call.  A non-zero return of fn stops the scan and is
     * returned.  Two scans may run at once on two threads. */
    int (*audit_scan)(struct store *s, int64_t after, int64_t upto,
                      int (*fn)(void *ctx, const struct store_audit *r), void *ctx, struct err *e);

    /* ---- migration 3: Mandate's signing keys (broker/runtime.c) ---- */
    int (*signing_key_insert)(struct store *s, const struct store_signing_key *k, struct err *e);
    /* Every stored key, oldest first (at most LIMIT_LIST_PAGE_MAX). */
    int (*signing_key_list)(struct store *s, struct arena *a, struct store_signing_key **out,
                            size_t *n, struct err *e);
    /* Deletes a key's envelope (revoked, or past its retention);
     * ERR_NOTFOUND when there is none. */
    int (*signing_key_delete)(struct store *s, const char *kid, struct err *e);

    /* Sets a live API key's revoked_ms; ERR_NOTFOUND when no live key has
     * the id. */
    int (*apikey_revoke)(struct store *s, const char *id, int64_t now_ms, struct err *e);

    /* ---- migration 5: audit queries and traces (docs/audit.md) ---- */
    /* Records matching f, ascending seq (each filter served by an index). */
    int (*audit_query)(struct store *s, const struct store_audit_filter *f, struct arena *a,
                       struct store_audit **out, size_t *n, struct err *e);
    /* Tasks delegated directly from `parent`, in id order, at most limit. */
    int (*task_children)(struct store *s, const char *parent, size_t limit, struct arena *a,
                         struct store_task **out, size_t *n, struct err *e);
    /* ---- migration 6: the kill switch and delegation budgets (issue 7) ---- */
    /* Stores an engaged switch; a row with the same id already there is kept
     * (the first reason wins) and is not an error. */
    int (*killswitch_insert)(struct store *s, const struct store_killswitch *k, struct err *e);
    /* Removes the switch id; ERR_NOTFOUND when none is stored. */
    int (*killswitch_delete)(struct store *s, const char *id, struct err *e);
    /* Every engaged switch, in id order (at most LIMIT_LIST_PAGE_MAX). */
    int (*killswitch_list)(struct store *s, struct arena *a, struct store_killswitch **out,
                           size_t *n, struct err *e);
    /* Raises the carved count of task id to at least carved (carves only
     * grow once committed: concurrent carves may commit in any order). */
    int (*task_carved_raise)(struct store *s, const char *id, int64_t carved, struct err *e);
};

struct store {
    const struct store_ops *ops;
};

struct store_sqlite_options {
    int busy_timeout_ms; /* how long a write waits for a lock; 0: 5000 */
    int create;          /* create the file when missing (mandate init) */
};

/* Opens (and with opts->create, creates) the SQLite store at path, applying
 * pending migrations in a transaction.  Refuses a store whose schema is newer
 * than this program knows (ERR_UNSUPPORTED). */
int store_sqlite_open(const char *path, const struct store_sqlite_options *opts, struct store **out,
                      struct err *e) MUST_CHECK;

/* How a commit reaches the disk.  0 (the default): a commit returns once it
 * is on the disk (synchronous=FULL, one fsync).  1: commits are not synced
 * (synchronous=NORMAL): a commit survives the process dying but not a power
 * loss or an OS crash (`serve --audit-durability async`).  No-op for a store
 * that is not SQLite. */
int store_sqlite_set_async(struct store *s, int async, struct err *e) MUST_CHECK;

/* The newest schema version this program knows. */
int store_sqlite_latest_version(void);

/* The SQL ("SELECT * FROM audit ...", parameters as ?N) audit_query runs for
 * filter f, into out (n bytes): by_time, the form reading the time window
 * from the audit_time index (chosen for a `since` whose window is smaller
 * than the trail before it), else the seq-order walk.  For EXPLAIN QUERY
 * PLAN in tests and by operators.  ERR_LIMIT when it does not fit. */
int store_sqlite_audit_sql(const struct store_audit_filter *f, int by_time, char *out,
                           size_t n) MUST_CHECK;

/* Closes the store; s may be NULL. */
void store_close(struct store *s);

/* Runs fn(s, ctx, e) inside a write transaction: committed when fn returns 0,
 * rolled back otherwise.  Returns fn's code, or the commit's. */
int store_tx(struct store *s, int (*fn)(struct store *s, void *ctx, struct err *e), void *ctx,
             struct err *e) MUST_CHECK;

#endif
