/* test_deleg.c: the rules of a delegation and the kill switch, as tables
 * (data/deleg_cases.json): scope attenuation (tools, actions, data labels,
 * downstream), expiry and budget carving, depth, and kill switch scope
 * matching (agent, owner, team, all).  Then persistence (migration 6): an
 * engaged switch and carved budgets survive a restart of the runtime, a
 * switch stored but whose tasks were not revoked is reapplied at startup,
 * and a lift is durable.  Last, the race: threads deciding checks while an
 * owner switch engages; none allows once the engage call has answered.
 * End to end: tests/node/deleg-e2e.mjs. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/broker.h"
#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

#define AGENT "spiffe://corp.example/agents/refund-bot"
#define OTHER "spiffe://corp.example/agents/research"
#define T0 1700000000000LL

static const char *data_path(const char *name)
{
    static char p[512];
    const char *d = getenv("MANDATE_TEST_DATA");

    snprintf(p, sizeof(p), "%s/%s", d ? d : "tests/unit/data", name);
    return p;
}

static json_t *cases(const char *table)
{
    json_error_t je;
    json_t *doc = json_load_file(data_path("deleg_cases.json"), JSON_REJECT_DUPLICATES, &je);
    json_t *t;

    if (doc == NULL) {
        fail_msg("deleg_cases.json:%d:%d: %s", je.line, je.column, je.text);
    }
    t = json_incref(json_object_get(doc, table));
    if (strcmp(table, "scope") == 0) {
        /* each case carries the default parent unless it names its own */
        size_t i;
        json_t *c;
        json_array_foreach(t, i, c)
        {
            if (json_object_get(c, "parent") == NULL) {
                json_object_set(c, "parent", json_object_get(doc, "parent"));
            }
        }
    }
    json_decref(doc);
    assert_true(json_array_size(t) > 0);
    return t;
}

static const char *str(const json_t *c, const char *k)
{
    return json_string_value(json_object_get(c, k));
}

static int64_t num(const json_t *c, const char *k)
{
    return (int64_t)json_integer_value(json_object_get(c, k));
}

/* ---- the tables ------------------------------------------------------------------ */

static void test_scope_table(void **state)
{
    json_t *t = cases("scope"), *c;
    size_t i;

    (void)state;
    json_array_foreach(t, i, c)
    {
        const char *what = "x", *item = "x";
        const char *why = broker_attenuate_scope(
            json_object_get(c, "parent"), json_object_get(c, "tools"),
            json_object_get(c, "data_labels"), json_object_get(c, "downstream"), &what, &item);
        int ok = json_is_true(json_object_get(c, "ok"));
        if (ok != (why == NULL)) {
            fail_msg("scope case \"%s\": want %s, got %s", str(c, "name"), ok ? "fits" : "refused",
                     why ? why : "fits");
        }
        if (!ok) {
            assert_string_equal(why, "scope_exceeds_parent");
            if (strcmp(what, str(c, "what")) != 0 || strcmp(item, str(c, "item")) != 0) {
                fail_msg("scope case \"%s\": names %s %s, want %s %s", str(c, "name"), what, item,
                         str(c, "what"), str(c, "item"));
            }
        } else {
            assert_null(what);
            assert_null(item);
        }
    }
    json_decref(t);
}

static void test_carve_table(void **state)
{
    json_t *t = cases("carve"), *c;
    size_t i;

    (void)state;
    json_array_foreach(t, i, c)
    {
        int64_t ttl = -1, budget = -1;
        const char *why =
            broker_attenuate_carve(num(c, "ttl"), num(c, "budget"), num(c, "left_s"),
                                   num(c, "avail"), num(c, "default_ttl"), &ttl, &budget);
        const char *want = str(c, "why");
        if (want != NULL) {
            if (why == NULL || strcmp(why, want) != 0) {
                fail_msg("carve case \"%s\": want %s, got %s", str(c, "name"), want,
                         why ? why : "issued");
            }
            assert_int_equal(ttl, 0);
            assert_int_equal(budget, 0);
            continue;
        }
        if (why != NULL) {
            fail_msg("carve case \"%s\": refused %s", str(c, "name"), why);
        }
        if (ttl != num(c, "want_ttl") || budget != num(c, "want_budget")) {
            fail_msg("carve case \"%s\": ttl %lld budget %lld, want %lld %lld", str(c, "name"),
                     (long long)ttl, (long long)budget, (long long)num(c, "want_ttl"),
                     (long long)num(c, "want_budget"));
        }
        /* whatever is granted stays inside the parent */
        assert_true(ttl <= num(c, "left_s"));
        assert_true(budget <= num(c, "avail"));
    }
    json_decref(t);
}

static void test_depth_table(void **state)
{
    json_t *t = cases("depth"), *c;
    size_t i;

    (void)state;
    json_array_foreach(t, i, c)
    {
        const char *why = broker_attenuate_depth(num(c, "depth"), num(c, "max"));
        if (json_is_true(json_object_get(c, "ok")) != (why == NULL)) {
            fail_msg("depth %lld max %lld: got %s", (long long)num(c, "depth"),
                     (long long)num(c, "max"), why ? why : "ok");
        }
        if (why != NULL) {
            assert_string_equal(why, "depth_exceeded");
        }
    }
    json_decref(t);
}

static void test_killswitch_scope_table(void **state)
{
    json_t *t = cases("killswitch"), *c;
    size_t i;

    (void)state;
    json_array_foreach(t, i, c)
    {
        int hit = broker_killswitch_scope_matches(str(c, "scope"), str(c, "target"),
                                                  str(c, "agent"), str(c, "owner"), str(c, "team"));
        if (hit != json_is_true(json_object_get(c, "hit"))) {
            fail_msg("killswitch case %zu (%s %s, agent %s owner %s team %s): got %d", i,
                     str(c, "scope"), str(c, "target") ? str(c, "target") : "-", str(c, "agent"),
                     str(c, "owner") ? str(c, "owner") : "-", str(c, "team") ? str(c, "team") : "-",
                     hit);
        }
    }
    json_decref(t);
}

/* ---- persistence (migration 6) ------------------------------------------------------- */

static int64_t fake_now = T0;
static int64_t fake_clock(void)
{
    return fake_now;
}

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    struct broker b;
    struct broker_runtime rt;
};

static void up(struct fx *f)
{
    struct store_sqlite_options o = {200, 1};
    struct err e;

    err_clear(&e);
    assert_int_equal(store_sqlite_open(f->path, &o, &f->s, &e), 0);
    f->b.store = f->s;
    memset(&f->rt, 0, sizeof(f->rt));
    f->b.rt = &f->rt;
    assert_int_equal(broker_tasks_start(&f->b, &e), 0);
    if (broker_killswitch_start(&f->b, &e) != 0) {
        fail_msg("killswitch start: %s", e.msg);
    }
}

static void down(struct fx *f)
{
    broker_killswitch_stop(&f->b);
    broker_tasks_stop(&f->b);
    store_close(f->s);
    f->s = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_human alice = {"alice", "alice@corp.example", NULL, "active", T0};
    struct store_human bob = {"bob", "bob@corp.example", NULL, "active", T0};
    struct store_agent ag = {AGENT, "alice", NULL, "refunds", "production", 1, "active",
                             T0,    NULL,    NULL, 0,         NULL};
    struct store_agent other = {OTHER, "bob", NULL, "research", "production", 1, "active",
                                T0,    NULL,  NULL, 0,          NULL};
    struct store_tool tool = {"payments.refund", "payments", 2, NULL, NULL, T0};
    struct store_intent in = {"refunds", NULL, "{\"payments.refund\":[\"create\"]}",
                              "[]",      "[]", 900,
                              10,        60,   1,
                              "revoke",  0,    T0,
                              T0};
    struct err e;

    fake_now = T0;
    clock_set_wall(fake_clock);
    broker_tasks_set_sweeper(0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-deleg-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
    up(f);
    assert_int_equal(f->s->ops->human_insert(f->s, &alice, &e), 0);
    assert_int_equal(f->s->ops->human_insert(f->s, &bob, &e), 0);
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), 0);
    assert_int_equal(f->s->ops->agent_insert(f->s, &other, &e), 0);
    assert_int_equal(f->s->ops->tool_insert(f->s, &tool, &e), 0);
    assert_int_equal(f->s->ops->intent_insert(f->s, &in, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    if (f->s != NULL) {
        down(f);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    clock_set_wall(NULL);
    free(f);
    return 0;
}

/* A live task stored and registered (parent may be NULL). */
static void add_task(struct fx *f, const char *id, const char *agent, const char *parent,
                     int64_t budget)
{
    struct store_task t;
    struct err e;

    memset(&t, 0, sizeof(t));
    t.id = id;
    t.agent = agent;
    t.intent = "refunds";
    t.scope = "[{\"type\":\"mandate_task\",\"tools\":[{\"name\":\"payments.refund\","
              "\"actions\":[\"create\"]}],\"data_labels\":[],\"downstream\":[]}]";
    t.parent = parent;
    t.state = "active";
    t.created_ms = T0;
    t.expires_ms = T0 + 600000;
    t.budget = budget;
    assert_int_equal(f->s->ops->task_insert(f->s, &t, &e), 0);
    assert_int_equal(broker_task_register(&f->b, &t, NULL, (T0 + 600000) / 1000, &e), 0);
}

static const char *stored_state(struct fx *f, const char *id, struct arena *a)
{
    struct store_task t;
    struct err e;

    assert_int_equal(f->s->ops->task_get(f->s, id, a, &t, &e), 0);
    return t.state;
}

static void test_killswitch_survives_restart(void **state)
{
    struct fx *f = *state;
    struct store_killswitch *v;
    struct arena a;
    json_t *out = NULL;
    size_t n;
    struct err e;

    arena_init(&a, 0, 0);
    add_task(f, "t-alice", AGENT, NULL, 0);
    add_task(f, "t-bob", OTHER, NULL, 0);
    assert_int_equal(
        broker_killswitch_engage(&f->b, NULL, "owner", "alice", "incident 7", &out, &e), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "revoked")), 1);
    json_decref(out);
    /* durable before the answer: the row is there */
    assert_int_equal(f->s->ops->killswitch_list(f->s, &a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "owner:alice");
    assert_string_equal(v[0].reason, "incident 7");
    assert_string_equal(stored_state(f, "t-alice", &a), "revoked");
    assert_string_equal(stored_state(f, "t-bob", &a), "active");

    down(f);
    up(f);
    assert_true(broker_killswitch_covers(&f->b, AGENT, "alice", NULL));
    assert_false(broker_killswitch_covers(&f->b, OTHER, "bob", NULL));
    assert_int_equal(broker_killswitch_status(&f->b, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "engaged")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "engaged"), 0), "reason")),
                        "incident 7");
    json_decref(out);

    /* engaging again keeps the first reason, in memory and in the store */
    assert_int_equal(broker_killswitch_engage(&f->b, NULL, "owner", "alice", "again", &out, &e), 0);
    json_decref(out);
    assert_int_equal(f->s->ops->killswitch_list(f->s, &a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].reason, "incident 7");

    /* lift: durable, and a restart does not bring it back */
    assert_int_equal(broker_killswitch_lift(&f->b, NULL, "owner", "alice", &out, &e), 0);
    json_decref(out);
    assert_false(broker_killswitch_covers(&f->b, AGENT, "alice", NULL));
    assert_int_equal(f->s->ops->killswitch_list(f->s, &a, &v, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(broker_killswitch_lift(&f->b, NULL, "owner", "alice", &out, &e), ERR_NOTFOUND);
    down(f);
    up(f);
    assert_false(broker_killswitch_covers(&f->b, AGENT, "alice", NULL));
    arena_free(&a);
}

static void test_killswitch_reapplied_at_startup(void **state)
{
    struct fx *f = *state;
    struct store_killswitch k = {"team:none", "team", "none", "x", NULL, T0};
    struct store_killswitch all = {"all", "all", NULL, "everything", "key-1", T0};
    struct arena a;
    struct err e;

    arena_init(&a, 0, 0);
    /* A switch whose tasks never got revoked in the store (the process died
     * between the two, or the row came from elsewhere): at startup the
     * runtime revokes what it covers before anything is answered. */
    add_task(f, "t-live", AGENT, NULL, 0);
    add_task(f, "t-child", OTHER, "t-live", 2);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &k, &e), 0);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &all, &e), 0);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &all, &e), 0); /* twice: kept once */
    down(f);
    up(f);
    assert_true(broker_killswitch_covers(&f->b, AGENT, NULL, NULL));
    assert_string_equal(stored_state(f, "t-live", &a), "revoked");
    assert_string_equal(stored_state(f, "t-child", &a), "revoked");
    arena_free(&a);
}

static void test_carve_survives_restart(void **state)
{
    struct fx *f = *state;
    struct btask *t = NULL;
    struct store_task row;
    struct arena a;
    struct err e;

    arena_init(&a, 0, 0);
    add_task(f, "t-parent", AGENT, NULL, 0);
    add_task(f, "t-kid", OTHER, "t-parent", 4);
    /* carves only grow in the store (concurrent carves commit in any order) */
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "t-parent", 4, &e), 0);
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "t-parent", 3, &e), 0);
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "nope", 3, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->task_get(f->s, "t-parent", &a, &row, &e), 0);
    assert_int_equal(row.carved, 4);
    assert_int_equal(row.budget, 0);
    down(f);
    up(f);
    assert_int_equal(tasks_get(&f->b, "t-parent", &t, &e), 0);
    assert_int_equal(t->budget, 10); /* a root task: its intent's */
    assert_int_equal(t->carved, 4);
    assert_int_equal(tasks_carve(t, 7), ERR_LIMIT); /* 10 - 4 = 6 left */
    assert_int_equal(tasks_carve(t, 6), 0);
    btask_put(t);
    assert_int_equal(tasks_get(&f->b, "t-kid", &t, &e), 0);
    assert_int_equal(t->budget, 4); /* the child's carve, not the intent's 10 */
    btask_put(t);
    arena_free(&a);
}

/* ---- the race: checks from several threads while the switch engages ------------------ */

#define RACE_TASKS 64
#define RACE_THREADS 4

struct race {
    struct fx *f;
    struct btask *v[RACE_TASKS];
    atomic_int answered; /* the engage call has returned */
    atomic_int stop;
    atomic_long before, late, after_rounds;
};

/* What a check decides about a task's state: the switch (agent, all) and
 * the task's state under its mutex (taskcheck.c does both). */
static int would_allow(struct race *x, struct btask *t)
{
    int live;

    if (broker_killswitch_covers(&x->f->b, t->agent, NULL, NULL)) {
        return 0;
    }
    pthread_mutex_lock(&t->mu);
    live = strcmp(t->state, "active") == 0;
    pthread_mutex_unlock(&t->mu);
    return live;
}

static void *checker(void *p)
{
    struct race *x = p;
    size_t i = 0;

    while (!atomic_load(&x->stop)) {
        int after = atomic_load(&x->answered); /* read before the check starts */
        int allow = would_allow(x, x->v[i++ % RACE_TASKS]);
        if (after) {
            atomic_fetch_add(&x->after_rounds, 1);
            if (allow) {
                atomic_fetch_add(&x->late, 1);
            }
        } else if (allow) {
            atomic_fetch_add(&x->before, 1);
        }
    }
    return NULL;
}

static void test_killswitch_race(void **state)
{
    struct fx *f = *state;
    struct race x;
    pthread_t th[RACE_THREADS];
    json_t *out = NULL;
    char id[32];
    struct err e;
    int i;

    memset(&x, 0, sizeof(x));
    x.f = f;
    for (i = 0; i < RACE_TASKS; i++) {
        snprintf(id, sizeof(id), "t-race-%d", i);
        add_task(f, id, AGENT, NULL, 0);
        assert_int_equal(tasks_get(&f->b, id, &x.v[i], &e), 0);
    }
    for (i = 0; i < RACE_THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, checker, &x), 0);
    }
    while (atomic_load(&x.before) < 1000) {
        sched_yield();
    }
    /* the owner scope: resolved from the registry, not by the check path */
    assert_int_equal(broker_killswitch_engage(&f->b, NULL, "owner", "alice", "race", &out, &e), 0);
    atomic_store(&x.answered, 1);
    while (atomic_load(&x.after_rounds) < 20000) {
        sched_yield();
    }
    atomic_store(&x.stop, 1);
    for (i = 0; i < RACE_THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(json_integer_value(json_object_get(out, "revoked")), RACE_TASKS);
    json_decref(out);
    if (atomic_load(&x.late) != 0) {
        fail_msg("%ld checks allowed after the engage call answered", atomic_load(&x.late));
    }
    for (i = 0; i < RACE_TASKS; i++) {
        btask_put(x.v[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scope_table),
        cmocka_unit_test(test_carve_table),
        cmocka_unit_test(test_depth_table),
        cmocka_unit_test(test_killswitch_scope_table),
        cmocka_unit_test_setup_teardown(test_killswitch_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killswitch_reapplied_at_startup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_carve_survives_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_killswitch_race, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
