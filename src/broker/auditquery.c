/*
 * auditquery.c: filtered pages of the audit trail and the trace of a task
 * (broker.h "audit", docs/audit.md "Queries").
 *
 * The parameters arrive as (pointer, length) slices from a URL query string
 * or from CLI flags; each is checked here once (known name, once only,
 * bounded length, no NUL, a known decision, a real time) so that the HTTP
 * API and the CLI refuse the same things with the same words.  The store
 * answers each filter from an index (migration 5).
 *
 * A trace starts at one task and walks down the delegation tree (the tasks
 * table's parent column, index tasks_parent), depth and size bounded by
 * limits.h; at each task it reads the records naming it (index audit_task).
 * The JSON tree is the one artefact: the API returns it, the CLI prints it.
 */
#include <stddef.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/limits.h"
#include "util/num.h"

/* ---- parameters ---------------------------------------------------------- */

/* Largest time we accept: 9999-12-31T23:59:59.999Z. */
#define TIME_MAX_MS 253402300799999LL

enum ptype { P_STR, P_DECISION, P_SINCE, P_UNTIL, P_AFTER, P_LIMIT };

static const struct param {
    const char *name;
    enum ptype type;
    size_t max; /* longest value (strings) */
    size_t off; /* the string member of struct store_audit_filter */
} params[] = {
#define STR(n, m)                                                                                  \
    {                                                                                              \
#n, P_STR, m, offsetof(struct store_audit_filter, n)                                       \
    }
    STR(agent, LIMIT_SPIFFE_ID_LEN),
    STR(human, LIMIT_ID_LEN),
    STR(task, LIMIT_ID_LEN),
    STR(intent, LIMIT_ID_LEN),
    STR(tool, LIMIT_ID_LEN),
    STR(downstream, LIMIT_ID_LEN),
    STR(event, LIMIT_ID_LEN),
#undef STR
    {"decision", P_DECISION, 16, offsetof(struct store_audit_filter, decision)},
    {"since", P_SINCE, LIMIT_AUDIT_QUERY_TIME_LEN, 0},
    {"until", P_UNTIL, LIMIT_AUDIT_QUERY_TIME_LEN, 0},
    {"after", P_AFTER, 20, 0},
    {"limit", P_LIMIT, 8, 0},
};
#define NPARAMS (sizeof(params) / sizeof(params[0]))

/* The decisions a record can carry (audit.c, check and exchange paths). */
static const char *const decisions[] = {"allow", "deny", "escalate", "ok"};

void broker_audit_query_init(struct broker_audit_query *q)
{
    memset(q, 0, sizeof(*q));
    q->f.limit = 100;
}

/* Two decimal digits at s; -1 when not digits. */
static int two(const char *s)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9') {
        return -1;
    }
    return (s[0] - '0') * 10 + (s[1] - '0');
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil): no timegm, no time zone, no locale. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int month_days(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/* date-time = full-date "T" partial-time time-offset (RFC 3339 section 5.6) */
static int parse_rfc3339(const char *s, size_t n, int64_t *ms)
{
    int y, mo, d, h, mi, sec, frac = 0, digits = 0, off = 0;
    size_t i = 19;

    if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':') {
        return -1;
    }
    y = two(s) * 100 + two(s + 2);
    mo = two(s + 5);
    d = two(s + 8);
    h = two(s + 11);
    mi = two(s + 14);
    sec = two(s + 17);
    if (two(s) < 0 || two(s + 2) < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 ||
        mi > 59 || sec < 0 || sec > 60 || d > month_days(y, mo)) {
        return -1;
    }
    if (s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (digits < 3) {
                frac = frac * 10 + (s[i] - '0');
            }
        }
        if (digits == 0 || digits > 9) {
            return -1;
        }
        for (; digits < 3; digits++) {
            frac *= 10;
        }
    }
    if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z')) {
        off = 0;
    } else if (i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
               two(s + i + 1) >= 0 && two(s + i + 1) <= 23 && two(s + i + 4) >= 0 &&
               two(s + i + 4) <= 59) {
        off = (two(s + i + 1) * 60 + two(s + i + 4)) * (s[i] == '-' ? -1 : 1);
    } else {
        return -1;
    }
    *ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) - (int64_t)off * 60) *
              1000 +
          frac;
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return n > 0;
}

int broker_audit_parse_time(const char *s, size_t n, int64_t *ms)
{
    uint64_t v = 0;

    *ms = 0;
    if (n <= 15 && all_digits(s, n)) {
        if (num_parse_u64(s, n, (uint64_t)TIME_MAX_MS, &v) != 0 || v == 0) {
            return ERR_INVALID;
        }
        *ms = (int64_t)v;
        return 0;
    }
    if (n > LIMIT_AUDIT_QUERY_TIME_LEN || parse_rfc3339(s, n, ms) != 0 || *ms < 1 ||
        *ms > TIME_MAX_MS) {
        *ms = 0;
        return ERR_INVALID;
    }
    return 0;
}

static int set_value(struct broker_audit_query *q, const struct param *p, const char *v, size_t n,
                     struct arena *a, struct err *e)
{
    uint64_t u = 0;
    size_t i;
    char *copy;

    switch (p->type) {
    case P_STR:
    case P_DECISION:
        if (p->type == P_DECISION) {
            for (i = 0; i < sizeof(decisions) / sizeof(decisions[0]); i++) {
                if (strlen(decisions[i]) == n && memcmp(decisions[i], v, n) == 0) {
                    break;
                }
            }
            if (i == sizeof(decisions) / sizeof(decisions[0])) {
                return err_set(e, ERR_INVALID, "decision: must be allow, deny, escalate or ok");
            }
        }
        if ((copy = arena_strndup(a, v, n)) == NULL) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        *(const char **)((char *)&q->f + p->off) = copy;
        return 0;
    case P_SINCE:
    case P_UNTIL:
        if (broker_audit_parse_time(v, n, p->type == P_SINCE ? &q->f.since_ms : &q->f.until_ms) !=
            0) {
            return err_set(e, ERR_INVALID,
                           "%s: must be an RFC 3339 time (2026-12-04T18:00:00Z) or milliseconds "
                           "since the epoch",
                           p->name);
        }
        return 0;
    case P_AFTER:
        if (num_parse_u64(v, n, INT64_MAX, &u) != 0) {
            return err_set(e, ERR_INVALID, "after: must be a non-negative integer (a seq)");
        }
        q->f.after = (int64_t)u;
        return 0;
    case P_LIMIT:
        if (num_parse_u64(v, n, LIMIT_LIST_PAGE_MAX, &u) != 0 || u == 0) {
            return err_set(e, ERR_INVALID, "limit: must be an integer from 1 to %d",
                           LIMIT_LIST_PAGE_MAX);
        }
        q->f.limit = (size_t)u;
        return 0;
    }
    return err_set(e, ERR_INTERNAL, "audit query: parameter type");
}

int broker_audit_query_param(struct broker_audit_query *q, const char *name, size_t name_len,
                             const char *value, size_t value_len, struct arena *a, struct err *e)
{
    const struct param *p = NULL;
    size_t i;

    for (i = 0; i < NPARAMS; i++) {
        if (strlen(params[i].name) == name_len && memcmp(params[i].name, name, name_len) == 0) {
            p = &params[i];
            break;
        }
    }
    if (p == NULL) {
        return err_set(e, ERR_INVALID, "unknown query parameter \"%.*s\"",
                       (int)(name_len > 64 ? 64 : name_len), name);
    }
    if (q->seen & (1u << i)) {
        return err_set(e, ERR_INVALID, "%s: given more than once", p->name);
    }
    q->seen |= 1u << i;
    if (value == NULL || value_len == 0) {
        return err_set(e, ERR_INVALID, "%s: must not be empty", p->name);
    }
    if (value_len > p->max) {
        return err_set(e, ERR_INVALID, "%s: longer than %zu bytes", p->name, p->max);
    }
    if (memchr(value, '\0', value_len) != NULL) {
        return err_set(e, ERR_INVALID, "%s: contains a NUL byte", p->name);
    }
    return set_value(q, p, value, value_len, a, e);
}

int broker_audit_query_done(const struct broker_audit_query *q, struct err *e)
{
    if (q->f.since_ms != 0 && q->f.until_ms != 0 && q->f.until_ms <= q->f.since_ms) {
        return err_set(e, ERR_INVALID, "until: must be later than since");
    }
    return 0;
}

int broker_audit_query_scope(struct broker_audit_query *q, const struct broker_caller *c,
                             struct err *e)
{
    if (c == NULL || c->role != ROLE_OWNER) {
        return 0;
    }
    if (c->subject == NULL || c->subject[0] == '\0') {
        return err_set(e, ERR_FORBIDDEN, "an owner key needs a subject");
    }
    q->f.owner = c->subject;
    return 0;
}

/* ---- a page of records --------------------------------------------------- */

int broker_audit_query_run(struct store *s, const struct broker_audit_query *q, struct arena *a,
                           json_t **out, struct err *e)
{
    struct store_audit_filter f = q->f;
    struct store_audit *v = NULL;
    json_t *items = json_array(), *page;
    size_t i, n = 0;
    int r;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (f.limit == 0 || f.limit > LIMIT_LIST_PAGE_MAX) {
        f.limit = LIMIT_LIST_PAGE_MAX;
    }
    r = s->ops->audit_query(s, &f, a, &v, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (json_array_append_new(items, broker_audit_record_json(&v[i])) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (r != 0) {
        json_decref(items);
        return r;
    }
    page = n == f.limit ? json_pack("{s:o, s:I}", "items", items, "next", (json_int_t)v[n - 1].seq)
                        : json_pack("{s:o, s:n}", "items", items, "next");
    return broker_json_out(page, out, e);
}

/* ---- the trace of a task ------------------------------------------------- */

/* Store records of one task live in a scratch arena only while its JSON is
 * built (the JSON copies what it keeps): a trace of 256 tasks does not hold
 * 256 pages of records at once. */
struct trace {
    struct store *s;
    size_t tasks;  /* tasks visited */
    size_t events; /* records returned */
};

static json_t *event_json(const struct store_audit *r)
{
    return json_pack("{s:I, s:o, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:o, s:s, s:o, s:o}", "seq",
                     (json_int_t)r->seq, "time", broker_time_json(r->time_ms), "event", r->event,
                     "agent", r->agent, "tool", r->tool, "action", r->action, "resource",
                     r->resource, "downstream", r->downstream, "data_labels",
                     broker_json_parse(r->data_labels), "decision", r->decision, "reasons",
                     broker_json_parse(r->reasons), "detail", broker_json_parse(r->detail));
}

/* node["events"] (and "events_next" when cut) for task id. */
static int trace_events(struct trace *t, const char *id, json_t *node, struct arena *a,
                        struct err *e)
{
    struct store_audit_filter f;
    struct store_audit *v = NULL;
    json_t *events = json_array();
    size_t i, n = 0, room = LIMIT_AUDIT_TRACE_EVENTS - t->events;
    int r = 0;

    if (events == NULL || json_object_set_new(node, "events", events) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    memset(&f, 0, sizeof(f));
    f.task = id;
    f.limit = room < LIMIT_AUDIT_TRACE_TASK_EVENTS ? room : LIMIT_AUDIT_TRACE_TASK_EVENTS;
    if (f.limit > 0) {
        r = t->s->ops->audit_query(t->s, &f, a, &v, &n, e);
    }
    for (i = 0; r == 0 && i < n; i++) {
        if (json_array_append_new(events, event_json(&v[i])) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    t->events += n;
    if (r == 0 && n == f.limit) {
        /* cut (or exactly full): page on from here with GET /v1/audit?task= */
        if (json_object_set_new(node, "events_next", json_integer(n ? v[n - 1].seq : 0)) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    return r;
}

/* The task's own members: who, for whom, what, its state and why it was
 * revoked, and its records. */
static int trace_head(struct trace *t, const struct store_task *task, int depth, json_t **out,
                      struct err *e)
{
    struct store_revocation rv;
    struct store_agent ag;
    struct arena a;
    const char *owner = NULL;
    json_t *node = NULL, *revoked = json_null();
    int r;

    *out = NULL;
    arena_init(&a, 0, 0);
    r = t->s->ops->agent_get(t->s, task->agent, &a, &ag, e);
    if (r == 0) {
        owner = ag.owner;
    } else if (r != ERR_NOTFOUND) {
        goto out; /* a deleted agent keeps its trail; anything else is an error */
    }
    /* Why it was revoked: a kill switch writes one record for all the tasks
     * it stops (killswitch.engage), not one naming each, so the reason comes
     * from the revocation list (gone once the task's expiry passed). */
    r = t->s->ops->revocation_get(t->s, task->id, &a, &rv, e);
    if (r == 0) {
        json_decref(revoked);
        revoked =
            json_pack("{s:s, s:o}", "reason", rv.reason, "time", broker_time_json(rv.time_ms));
    } else if (r != ERR_NOTFOUND) {
        goto out;
    }
    node = json_pack("{s:s, s:s, s:s?, s:s?, s:s, s:s, s:s?, s:i, s:o, s:o, s:o, s:O}", "task",
                     task->id, "agent", task->agent, "owner", owner, "human", task->on_behalf_of,
                     "intent", task->intent, "state", task->state, "parent", task->parent, "depth",
                     depth, "created", broker_time_json(task->created_ms), "expires",
                     broker_time_json(task->expires_ms), "ended", broker_time_json(task->ended_ms),
                     "revoked", revoked);
    r = node == NULL ? err_set(e, ERR_NOMEM, "out of memory")
                     : trace_events(t, task->id, node, &a, e);
    if (r == 0) {
        *out = node;
        node = NULL;
    }
out:
    json_decref(node);
    json_decref(revoked);
    arena_free(&a);
    return r;
}

static int trace_node(struct trace *t, const struct store_task *task, int depth, json_t **out,
                      struct err *e);

static int trace_children(struct trace *t, const char *id, int depth, json_t *node, struct err *e)
{
    struct store_task *kids = NULL;
    json_t *arr = json_array(), *child;
    struct arena a;
    size_t i, n = 0;
    int r;

    if (arr == NULL || json_object_set_new(node, "children", arr) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    arena_init(&a, 0, 0);
    r = t->s->ops->task_children(t->s, id, LIMIT_AUDIT_TRACE_TASKS + 1, &a, &kids, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        r = trace_node(t, &kids[i], depth + 1, &child, e);
        if (r == 0 && json_array_append_new(arr, child) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    arena_free(&a);
    return r;
}

/* One task, its records and (recursively, depth counted) its children. */
static int trace_node(struct trace *t, const struct store_task *task, int depth, json_t **out,
                      struct err *e)
{
    json_t *node;
    int r;

    *out = NULL;
    if (depth > LIMIT_AUDIT_TRACE_DEPTH) {
        return err_set(e, ERR_LIMIT, "trace: delegation deeper than %d levels below the task",
                       LIMIT_AUDIT_TRACE_DEPTH);
    }
    if (++t->tasks > LIMIT_AUDIT_TRACE_TASKS) {
        return err_set(e, ERR_LIMIT,
                       "trace: more than %d tasks; trace a sub-task, or page with "
                       "GET /v1/audit?task=",
                       LIMIT_AUDIT_TRACE_TASKS);
    }
    r = trace_head(t, task, depth, &node, e);
    r = r ? r : trace_children(t, task->id, depth, node, e);
    if (r != 0) {
        json_decref(node);
        return r;
    }
    *out = node;
    return 0;
}

int broker_audit_trace(struct store *s, const char *task, struct arena *a, json_t **out,
                       struct err *e)
{
    struct trace t = {s, 0, 0};
    struct store_task root;
    int r;

    *out = NULL;
    if (task == NULL || task[0] == '\0' || strlen(task) > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "task: must be a task id of 1 to %d bytes", LIMIT_ID_LEN);
    }
    r = s->ops->task_get(s, task, a, &root, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "no task \"%s\"", task);
    }
    return r ? r : trace_node(&t, &root, 0, out, e);
}

int broker_audit_trace_as(struct store *s, const struct broker_caller *c, const char *task,
                          struct arena *a, json_t **out, struct err *e)
{
    struct store_task root;
    struct store_agent ag;
    int r;

    *out = NULL;
    if (c == NULL || c->role != ROLE_OWNER) {
        return broker_audit_trace(s, task, a, out, e);
    }
    if (c->subject == NULL || c->subject[0] == '\0') {
        return err_set(e, ERR_FORBIDDEN, "an owner key needs a subject");
    }
    if (task == NULL || task[0] == '\0' || strlen(task) > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "task: must be a task id of 1 to %d bytes", LIMIT_ID_LEN);
    }
    /* The root's agent must be the caller's (a deleted agent has no owner
     * any more: not found, as for GET /v1/tasks/{id}). */
    r = s->ops->task_get(s, task, a, &root, e);
    if (r == 0) {
        r = s->ops->agent_get(s, root.agent, a, &ag, e);
        if (r == 0 && strcmp(ag.owner, c->subject) != 0) {
            r = ERR_NOTFOUND;
        }
    }
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_NOTFOUND, "no task \"%s\"", task);
    }
    return r ? r : broker_audit_trace(s, task, a, out, e);
}
