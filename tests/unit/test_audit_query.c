/* test_audit_query.c: audit queries and traces (broker/broker.h, the
 * store's audit_query and task_children, migration 5): the filters against
 * a brute-force scan of known records, paging, the parameter parser and its
 * refusals, the query plans (every filter on an index, no sort), and the
 * trace tree with its depth, size and event limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "broker/broker.h"
#include "store/store.h"
#include "tstore.h"
#include "util/limits.h"

#define NREC 120

struct fx {
    struct tstore ts;
    struct arena a;
    struct store_audit rec[NREC]; /* what was appended, seq = index + 1 */
};

static const char *const agents[] = {"spiffe://t/a0", "spiffe://t/a1", "spiffe://t/a2"};
static const char *const humans[] = {"alice", NULL, "bob"};
static const char *const tasks[] = {"t0", "t1", "t2", "t3", NULL};
static const char *const decisions[] = {"allow", "deny", "ok", "escalate"};
static const char *const events[] = {"check", "check", "task.exchange", "task.revoke",
                                     "agent.create"};
static const char *const tools[] = {"orders.read", NULL, "payments.refund"};
static const char *const downs[] = {"orders-api", NULL, "payments-api", NULL};

static int append_all(struct store *s, void *ctx, struct err *e)
{
    struct fx *f = ctx;
    int64_t seq;
    int i, r;

    for (i = 0; i < NREC; i++) {
        r = s->ops->audit_append(s, &f->rec[i], &seq, e);
        if (r != 0 || seq != i + 1) {
            return r ? r : ERR_INTERNAL;
        }
    }
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err e;
    int i;

    tstore_open(&f->ts, "aq");
    arena_init(&f->a, 0, 0);
    for (i = 0; i < NREC; i++) {
        struct store_audit *r = &f->rec[i];
        r->time_ms = 1000000 + i * 10;
        r->event = events[i % 5];
        r->actor_chain = "[]";
        r->agent = agents[i % 3];
        r->human = humans[i % 3 == 1 ? 1 : (i / 3) % 2 ? 2 : 0];
        r->intent = i % 7 == 0 ? NULL : "refunds";
        r->task = tasks[i % 5];
        r->tool = tools[i % 3];
        r->action = "read";
        r->downstream = downs[i % 4];
        r->decision = decisions[i % 4];
        r->reasons = "[]";
    }
    assert_int_equal(store_tx(f->ts.s, append_all, f, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    tstore_close(&f->ts);
    arena_free(&f->a);
    free(f);
    return 0;
}

static int eq(const char *want, const char *have)
{
    return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

static int matches(const struct store_audit_filter *q, const struct store_audit *r, int64_t seq)
{
    return seq > q->after && eq(q->agent, r->agent) && eq(q->human, r->human) &&
           eq(q->task, r->task) && eq(q->intent, r->intent) && eq(q->tool, r->tool) &&
           eq(q->downstream, r->downstream) && eq(q->decision, r->decision) &&
           eq(q->event, r->event) && (q->since_ms == 0 || r->time_ms >= q->since_ms) &&
           (q->until_ms == 0 || r->time_ms < q->until_ms);
}

/* Pages through q (limit 7) and compares with a scan of f->rec. */
static void check_filter(struct fx *f, struct store_audit_filter q)
{
    int64_t want[NREC], got[NREC];
    size_t nw = 0, ng = 0, n, i;
    struct store_audit *v;
    struct err e;
    int pages = 0;

    for (i = 0; i < NREC; i++) {
        if (matches(&q, &f->rec[i], (int64_t)i + 1)) {
            want[nw++] = (int64_t)i + 1;
        }
    }
    q.limit = 7;
    do {
        assert_int_equal(f->ts.s->ops->audit_query(f->ts.s, &q, &f->a, &v, &n, &e), 0);
        assert_true(n <= 7);
        for (i = 0; i < n; i++) {
            assert_true(ng < NREC);
            assert_true(matches(&q, &v[i], v[i].seq));
            got[ng++] = v[i].seq;
        }
        if (n > 0) {
            q.after = v[n - 1].seq;
        }
        assert_true(++pages < NREC);
    } while (n == 7);
    assert_int_equal(ng, nw);
    for (i = 0; i < nw; i++) {
        assert_int_equal(got[i], want[i]);
    }
}

static void filters_match_a_scan(void **state)
{
    struct fx *f = *state;
    const struct store_audit_filter cases[] = {
        {0},
        {.agent = "spiffe://t/a1"},
        {.human = "alice"},
        {.human = "bob", .decision = "deny"},
        {.task = "t2"},
        {.task = "t3", .agent = "spiffe://t/a0"},
        {.intent = "refunds", .event = "check"},
        {.tool = "payments.refund"},
        {.downstream = "orders-api", .tool = "orders.read"},
        {.decision = "escalate"},
        {.event = "task.revoke"},
        {.since_ms = 1000500},
        {.until_ms = 1000300},
        {.since_ms = 1000200, .until_ms = 1000800},
        {.since_ms = 1000200, .until_ms = 1000800, .event = "check"},
        /* windows smaller than the trail before them: read by time */
        {.since_ms = 1001000},
        {.since_ms = 1001000, .decision = "deny"},
        {.since_ms = 1000900, .until_ms = 1001100, .agent = "spiffe://t/a1"},
        {.since_ms = 1001000, .task = "t1"},
        {.since_ms = 1000700, .after = 90, .human = "alice"},
        {.since_ms = 9000000},
        {.agent = "spiffe://t/a2", .after = 50},
        {.agent = "nobody"},
        {.human = "alice", .task = "t1", .tool = "orders.read", .decision = "allow"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        check_filter(f, cases[i]);
    }
}

/* ---- the plans -------------------------------------------------------------- */

/* The plan of the SQL the store runs for filter f (store_sqlite_audit_sql):
 * want_index in it, and a temporary sort only when want_sort. */
static void plan_of(sqlite3 *db, const struct store_audit_filter *f, int by_time,
                    const char *want_index, int want_sort)
{
    char sql[600], plan[2048] = "";
    sqlite3_stmt *st;
    size_t used = 0;

    memcpy(sql, "EXPLAIN QUERY PLAN ", 19);
    assert_int_equal(store_sqlite_audit_sql(f, by_time, sql + 19, sizeof(sql) - 19), 0);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && used < sizeof(plan) - 1) {
        int w = snprintf(plan + used, sizeof(plan) - used, "%s\n", sqlite3_column_text(st, 3));
        used += w > 0 ? (size_t)w : 0;
    }
    sqlite3_finalize(st);
    if (strstr(plan, want_index) == NULL || (strstr(plan, "TEMP B-TREE") != NULL) != want_sort) {
        fail_msg("%s\nplan:\n%swanted %s%s", sql, plan, want_index, want_sort ? " + sort" : "");
    }
}

static void every_filter_uses_an_index(void **state)
{
    struct fx *f = *state;
    static const char *const cols[] = {"agent", "human",      "task",     "intent",
                                       "tool",  "downstream", "decision", "event"};
    const size_t off[] = {offsetof(struct store_audit_filter, agent),
                          offsetof(struct store_audit_filter, human),
                          offsetof(struct store_audit_filter, task),
                          offsetof(struct store_audit_filter, intent),
                          offsetof(struct store_audit_filter, tool),
                          offsetof(struct store_audit_filter, downstream),
                          offsetof(struct store_audit_filter, decision),
                          offsetof(struct store_audit_filter, event)};
    struct store_audit_filter q;
    char idx[64];
    sqlite3 *db;
    size_t i;

    assert_int_equal(sqlite3_open_v2(f->ts.path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (i = 0; i < sizeof(cols) / sizeof(cols[0]); i++) {
        memset(&q, 0, sizeof(q));
        *(const char **)((char *)&q + off[i]) = "x";
        q.after = 5;
        /* the (column, seq) index from `after`, in seq order: no sort */
        snprintf(idx, sizeof(idx), "USING INDEX audit_%s (%s=? AND seq>?)", cols[i], cols[i]);
        plan_of(db, &q, 0, idx, 0);
        q.until_ms = 2000000;
        plan_of(db, &q, 0, idx, 0);
        /* a window smaller than what precedes it: read from audit_time */
        q.since_ms = 1000000;
        plan_of(db, &q, 0, idx, 0);
        plan_of(db, &q, 1, "USING INDEX audit_time (time_ms>? AND time_ms<?)", 1);
    }
    memset(&q, 0, sizeof(q));
    q.since_ms = 1000000;
    plan_of(db, &q, 1, "USING INDEX audit_time (time_ms>?)", 1);
    plan_of(db, &q, 0, "USING INTEGER PRIMARY KEY (rowid>?)", 0);
    q.agent = "x";
    q.decision = "deny";
    plan_of(db, &q, 1, "USING INDEX audit_time (time_ms>?)", 1);
    memset(&q, 0, sizeof(q));
    q.until_ms = 1000000;
    plan_of(db, &q, 0, "USING INTEGER PRIMARY KEY (rowid>?)", 0);
    q.until_ms = 0;
    plan_of(db, &q, 0, "USING INTEGER PRIMARY KEY (rowid>?)", 0);
    q.agent = "x";
    q.decision = "deny";
    plan_of(db, &q, 0, "(", 0); /* one of the two equality indexes, no sort */
    /* an owner's view: the owner's agents from agents_owner, each agent's
     * records from audit_agent after `after`, a bounded sort to seq order
     * (cost: the owner's records after `after`, not the trail's); with
     * agent= that agent's index alone, no sort */
    memset(&q, 0, sizeof(q));
    q.owner = "alice";
    q.after = 5;
    plan_of(db, &q, 0, "USING INDEX agents_owner (owner=?)", 1);
    plan_of(db, &q, 0, "USING INDEX audit_agent (agent=? AND seq>?)", 1);
    q.agent = "x";
    plan_of(db, &q, 0, "USING INDEX audit_agent (agent=? AND seq>?)", 0);
    sqlite3_close(db);
}

/* ---- parameters ------------------------------------------------------------- */

static void params_parse_and_refuse(void **state)
{
    static const struct {
        const char *name, *value; /* value NULL: "?name" without "=" */
        int code;
        const char *msg; /* prefix of the error */
    } cases[] = {
        {"agent", "spiffe://corp.example/agents/x", 0, NULL},
        {"decision", "deny", 0, NULL},
        {"decision", "Deny", ERR_INVALID, "decision: must be"},
        {"since", "2026-12-04T18:00:00Z", 0, NULL},
        {"since", "2026-12-04t18:00:00.123456789+01:30", 0, NULL},
        {"since", "1764871200000", 0, NULL},
        {"since", "0", ERR_INVALID, "since: must be an RFC 3339"},
        {"since", "2026-02-29T00:00:00Z", ERR_INVALID, "since:"},
        {"since", "2024-02-29T00:00:00Z", 0, NULL},
        {"since", "2026-12-04T24:00:00Z", ERR_INVALID, "since:"},
        {"since", "2026-12-04T18:00:00", ERR_INVALID, "since:"},
        {"since", "2026-12-04T18:00:00.Z", ERR_INVALID, "since:"},
        {"since", "2026-12-04T18:00:00Z ", ERR_INVALID, "since:"},
        {"until", "99999999999999999999", ERR_INVALID, "until:"},
        {"until", "-5", ERR_INVALID, "until:"},
        {"after", "18446744073709551615", ERR_INVALID, "after: must be"},
        {"after", "0", 0, NULL},
        {"limit", "1000", 0, NULL},
        {"limit", "1001", ERR_INVALID, "limit: must be"},
        {"limit", "0", ERR_INVALID, "limit:"},
        {"limit", "1e3", ERR_INVALID, "limit:"},
        {"task", "", ERR_INVALID, "task: must not be empty"},
        {"task", NULL, ERR_INVALID, "task: must not be empty"},
        {"Agent", "x", ERR_INVALID, "unknown query parameter \"Agent\""},
        {"seq", "1", ERR_INVALID, "unknown query parameter"},
    };
    struct arena a;
    struct err e;
    size_t i;

    (void)state;
    arena_init(&a, 0, 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct broker_audit_query q;
        int r;
        broker_audit_query_init(&q);
        err_clear(&e);
        r = broker_audit_query_param(&q, cases[i].name, strlen(cases[i].name), cases[i].value,
                                     cases[i].value ? strlen(cases[i].value) : 0, &a, &e);
        if (r != cases[i].code ||
            (cases[i].msg && strncmp(e.msg, cases[i].msg, strlen(cases[i].msg)) != 0)) {
            fail_msg("case %zu %s=%s: got %d \"%s\"", i, cases[i].name,
                     cases[i].value ? cases[i].value : "(none)", r, e.msg);
        }
    }
    {
        struct broker_audit_query q;
        int64_t ms;
        broker_audit_query_init(&q);
        assert_int_equal(broker_audit_query_param(&q, "tool", 4, "a\0b", 3, &a, &e), ERR_INVALID);
        broker_audit_query_init(&q);
        assert_int_equal(broker_audit_query_param(&q, "event", 5, "check", 5, &a, &e), 0);
        assert_int_equal(broker_audit_query_param(&q, "event", 5, "check", 5, &a, &e), ERR_INVALID);
        assert_string_equal(e.msg, "event: given more than once");
        assert_int_equal(broker_audit_query_param(&q, "since", 5, "2000", 4, &a, &e), 0);
        assert_int_equal(broker_audit_query_param(&q, "until", 5, "2000", 4, &a, &e), 0);
        assert_int_equal(broker_audit_query_done(&q, &e), ERR_INVALID);
        assert_int_equal(broker_audit_parse_time("1970-01-01T00:00:01Z", 20, &ms), 0);
        assert_int_equal(ms, 1000);
        assert_int_equal(broker_audit_parse_time("2026-12-04T18:00:00.5+01:00", 27, &ms), 0);
        assert_int_equal(ms, 1796403600500LL);
        assert_int_equal(broker_audit_parse_time("9999-12-31T23:59:59.999Z", 24, &ms), 0);
        assert_int_equal(ms, 253402300799999LL);
        assert_int_equal(broker_audit_parse_time("2000-01-01T00:00:00-00:30", 25, &ms), 0);
        assert_int_equal(ms, 946686600000LL);
    }
    arena_free(&a);
}

static void query_run_pages(void **state)
{
    struct fx *f = *state;
    struct broker_audit_query q;
    json_t *page = NULL;
    struct err e;

    broker_audit_query_init(&q);
    assert_int_equal(broker_audit_query_param(&q, "agent", 5, "spiffe://t/a0", 13, &f->a, &e), 0);
    assert_int_equal(broker_audit_query_param(&q, "limit", 5, "40", 2, &f->a, &e), 0);
    assert_int_equal(broker_audit_query_run(f->ts.s, &q, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 40);
    assert_int_equal(json_integer_value(json_object_get(page, "next")), 118);
    json_decref(page);
    q.f.after = 118;
    assert_int_equal(broker_audit_query_run(f->ts.s, &q, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
}

/* ---- traces ------------------------------------------------------------------ */

static void add_task(struct fx *f, const char *id, const char *parent)
{
    struct store_task t = {.id = id,
                           .agent = "spiffe://t/bot",
                           .intent = "refunds",
                           .on_behalf_of = "alice",
                           .scope = "[]",
                           .parent = parent,
                           .state = "active",
                           .created_ms = 1,
                           .expires_ms = 2};
    struct err e;

    assert_int_equal(f->ts.s->ops->task_insert(f->ts.s, &t, &e), 0);
}

static void add_registry(struct fx *f)
{
    struct store_human h = {"alice", "a@example.com", NULL, "active", 1};
    struct store_agent ag = {.id = "spiffe://t/bot",
                             .owner = "alice",
                             .purpose = "p",
                             .environment = "production",
                             .status = "active",
                             .created_ms = 1};
    struct store_intent in = {.id = "refunds",
                              .tools = "{}",
                              .data_labels = "[]",
                              .downstream = "[]",
                              .max_ttl_s = 60,
                              .call_budget = 1,
                              .rate_per_min = 1,
                              .dpop_required = 1,
                              .on_drift = "revoke",
                              .created_ms = 1,
                              .updated_ms = 1};
    struct err e;

    assert_int_equal(f->ts.s->ops->human_insert(f->ts.s, &h, &e), 0);
    assert_int_equal(f->ts.s->ops->agent_insert(f->ts.s, &ag, &e), 0);
    assert_int_equal(f->ts.s->ops->intent_insert(f->ts.s, &in, &e), 0);
}

struct many {
    const char *task;
    int n;
};

static int append_many(struct store *s, void *ctx, struct err *e)
{
    struct many *m = ctx;
    struct store_audit r = {.time_ms = 5,
                            .event = "check",
                            .actor_chain = "[]",
                            .task = m->task,
                            .decision = "allow",
                            .reasons = "[]"};
    int i, rc = 0;

    for (i = 0; i < m->n && rc == 0; i++) {
        rc = s->ops->audit_append(s, &r, NULL, e);
    }
    return rc;
}

static void trace_tree_and_limits(void **state)
{
    struct fx *f = *state;
    struct many m;
    json_t *t = NULL, *kids;
    struct err e;
    char id[32], parent[32];
    int i;

    add_registry(f);
    add_task(f, "t0", NULL);
    add_task(f, "t1", "t0");
    add_task(f, "t2", "t1");
    add_task(f, "t3", "t0");
    {
        struct store_revocation rv = {"t2", "task", "killswitch: incident 42", 7000, 0};
        assert_int_equal(f->ts.s->ops->revocation_insert(f->ts.s, &rv, &e), 0);
    }
    assert_int_equal(broker_audit_trace(f->ts.s, "t0", &f->a, &t, &e), 0);
    assert_true(json_is_null(json_object_get(t, "revoked")));
    assert_string_equal(json_string_value(json_object_get(t, "human")), "alice");
    assert_string_equal(json_string_value(json_object_get(t, "owner")), "alice");
    /* the fixture's records: task t0 is every 5th */
    assert_int_equal(json_array_size(json_object_get(t, "events")), NREC / 5);
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(json_object_get(t, "events"), 1), "seq")),
        6);
    kids = json_object_get(t, "children");
    assert_int_equal(json_array_size(kids), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(kids, 0), "task")), "t1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(kids, 1), "task")), "t3");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(kids, 1), "depth")), 1);
    kids = json_object_get(json_array_get(kids, 0), "children");
    assert_string_equal(json_string_value(json_object_get(json_array_get(kids, 0), "task")), "t2");
    assert_string_equal(json_string_value(json_object_get(json_array_get(kids, 0), "parent")),
                        "t1");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(kids, 0), "depth")), 2);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(kids, 0), "revoked"), "reason")),
                        "killswitch: incident 42");
    assert_null(json_object_get(t, "events_next"));
    json_decref(t);

    assert_int_equal(broker_audit_trace(f->ts.s, "nope", &f->a, &t, &e), ERR_NOTFOUND);
    assert_string_equal(e.msg, "no task \"nope\"");
    assert_null(t);
    assert_int_equal(broker_audit_trace(f->ts.s, "", &f->a, &t, &e), ERR_INVALID);

    /* more records than a task shows: the first ones and where to page on */
    m.task = "t3";
    m.n = LIMIT_AUDIT_TRACE_TASK_EVENTS + 5;
    assert_int_equal(store_tx(f->ts.s, append_many, &m, &e), 0);
    assert_int_equal(broker_audit_trace(f->ts.s, "t3", &f->a, &t, &e), 0);
    assert_int_equal(json_array_size(json_object_get(t, "events")), LIMIT_AUDIT_TRACE_TASK_EVENTS);
    assert_int_equal(
        json_integer_value(json_object_get(t, "events_next")),
        json_integer_value(json_object_get(
            json_array_get(json_object_get(t, "events"), LIMIT_AUDIT_TRACE_TASK_EVENTS - 1),
            "seq")));
    json_decref(t);

    /* a chain deeper than the limit: refused, not followed forever */
    snprintf(parent, sizeof(parent), "t2");
    for (i = 0; i < LIMIT_AUDIT_TRACE_DEPTH - 1; i++) {
        snprintf(id, sizeof(id), "deep%d", i);
        add_task(f, id, parent);
        snprintf(parent, sizeof(parent), "%s", id);
    }
    assert_int_equal(broker_audit_trace(f->ts.s, "t1", &f->a, &t, &e),
                     0); /* deepest: 16 below t1 */
    json_decref(t);
    assert_int_equal(broker_audit_trace(f->ts.s, "t0", &f->a, &t, &e), ERR_LIMIT);
    assert_non_null(strstr(e.msg, "deeper than"));
    assert_null(t);

    /* too many tasks: refused */
    for (i = 0; i < LIMIT_AUDIT_TRACE_TASKS; i++) {
        snprintf(id, sizeof(id), "wide%d", i);
        add_task(f, id, "t3");
    }
    assert_int_equal(broker_audit_trace(f->ts.s, "t3", &f->a, &t, &e), ERR_LIMIT);
    assert_non_null(strstr(e.msg, "more than"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(filters_match_a_scan, setup, teardown),
        cmocka_unit_test_setup_teardown(every_filter_uses_an_index, setup, teardown),
        cmocka_unit_test(params_parse_and_refuse),
        cmocka_unit_test_setup_teardown(query_run_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(trace_tree_and_limits, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
