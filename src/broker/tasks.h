/*
 * tasks.h: the access path after the exchange: the live task table, the
 * request-time check (POST /v1/check) with drift detection, the task
 * lifecycle (complete, revoke, expire), token introspection (RFC 7662) and
 * revocation (RFC 7009).
 *
 * The table (tasks.c) holds every task whose expiry is still ahead, live or
 * ended, by id and by the SHA-256 of its verified token, plus a min-heap on
 * expiry so that expiring a million tasks costs a million heap pops spread
 * over sweeps, never a scan on the check path.  Revocations are written to
 * the store before they are answered and reloaded, with the tasks, when the
 * process starts.  The check (taskcheck.c) verifies a token once and then
 * trusts the cached claims until the token's expiry.
 */
#ifndef MANDATE_BROKER_TASKS_H
#define MANDATE_BROKER_TASKS_H

#include <jansson.h>
#include <stdint.h>

#include "broker/access.h"
#include "broker/broker.h"
#include "util/arena.h"
#include "util/err.h"

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

/* One call as the enforcement point describes it (strings borrowed). */
struct broker_call {
    const char *tool;
    const char *action;
    const char *resource;   /* may be NULL */
    const char *downstream; /* may be NULL: not checked */
    const char *const *labels;
    size_t nlabels;
};

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

/* ---- check ------------------------------------------------------------------ */

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

/* ---- lifecycle ------------------------------------------------------------- */

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

#endif
