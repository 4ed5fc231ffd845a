/*
 * auditquery.h: reading the audit trail by what it is about (docs/audit.md,
 * "Queries"): filtered pages of records and the trace of a task, from the
 * human and the intent through every delegation to every call.
 *
 * Both the HTTP API (GET /v1/audit, GET /v1/audit/trace/{task}) and the
 * offline CLI (`mandate audit query|trace` on the store file) call these,
 * so the parameters mean the same and the tree is built once.
 */
#ifndef MANDATE_BROKER_AUDITQUERY_H
#define MANDATE_BROKER_AUDITQUERY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

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

#endif
