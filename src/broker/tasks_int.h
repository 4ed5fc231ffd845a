/*
 * tasks_int.h: what tasks.c (the table, the lifecycle) and taskcheck.c (the
 * request-time check) share.  Not for use outside src/broker/.
 *
 * Locking: the table's rwlock guards its maps and heap; each task's mutex
 * guards its mutable members (state, counters, history).  A task's store row
 * is written only while its mutex is held, from a snapshot taken under it,
 * so a check's counter update can never write an old state over a
 * revocation.  Never take the table lock while holding a task's mutex.
 */
#ifndef MANDATE_BROKER_TASKS_INT_H
#define MANDATE_BROKER_TASKS_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "broker/tasks.h"

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
/* Sets the budget of a task just registered (a delegated child's carve). */
void tasks_set_budget(struct broker *b, const char *id, int64_t budget);
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
struct broker_audit_event;
size_t tasks_revoke_batch(struct broker *b, struct btask **v, size_t n, const char *reason,
                          const struct broker_caller *c, const struct broker_audit_event *ev,
                          int (*also)(struct store *, void *, struct err *), void *also_ctx,
                          int64_t *seq, struct err *e, int *rc);
/* The actor chain of a task token's claims, root first:
 * [{"kind":"human","id"}?, {"kind":"agent","id"}, ...]  (new reference). */
json_t *broker_act_chain(const json_t *claims);

/* Counts a full token verification or a cache hit (stats). */
void tasks_count(struct broker *b, int cache_hit);

#endif
