/* test_check.c: the request-time check's parts that need no signing keys:
 * scope drift (cases in data/drift_cases.json), the live task table (expiry
 * heap, bounded sweeps), revocation held in memory and in the store and
 * reloaded on restart, owner scoping, and agents that stop being active.
 * The whole check over HTTP is tests/node/access-check-e2e.mjs. */
#include <setjmp.h>
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
#define T0 1700000000000LL

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
    struct arena a;
};

static void open_store(struct fx *f)
{
    struct store_sqlite_options o = {200, 1};
    struct err e;

    assert_int_equal(store_sqlite_open(f->path, &o, &f->s, &e), 0);
    f->b.store = f->s;
}

static void start(struct fx *f)
{
    struct err e;

    memset(&f->rt, 0, sizeof(f->rt));
    f->b.rt = &f->rt;
    err_clear(&e);
    assert_int_equal(broker_tasks_start(&f->b, &e), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_human alice = {"alice", "alice@corp.example", NULL, "active", T0};
    struct store_human bob = {"bob", "bob@corp.example", NULL, "active", T0};
    struct store_agent ag = {AGENT, "alice", NULL, "refunds", "production", 1, "active",
                             T0,    NULL,    NULL, 0,         NULL};
    struct store_tool tool = {"payments.refund", "payments", 2, NULL, NULL, T0};
    struct store_intent in = {"refunds",
                              NULL,
                              "{\"payments.refund\":[\"create\"]}",
                              "[\"pii\"]",
                              "[\"payments\"]",
                              900,
                              3,
                              60,
                              1,
                              "revoke",
                              0,
                              T0,
                              T0};
    struct err e;

    fake_now = T0;
    clock_set_wall(fake_clock);
    broker_tasks_set_sweeper(0);
    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-check-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
    open_store(f);
    arena_init(&f->a, 0, 0);
    assert_int_equal(f->s->ops->human_insert(f->s, &alice, &e), 0);
    assert_int_equal(f->s->ops->human_insert(f->s, &bob, &e), 0);
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), 0);
    assert_int_equal(f->s->ops->tool_insert(f->s, &tool, &e), 0);
    assert_int_equal(f->s->ops->intent_insert(f->s, &in, &e), 0);
    start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    broker_tasks_stop(&f->b);
    store_close(f->s);
    arena_free(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    clock_set_wall(NULL);
    free(f);
    return 0;
}

static const char *data_path(const char *name)
{
    static char p[512];
    const char *d = getenv("MANDATE_TEST_DATA");

    snprintf(p, sizeof(p), "%s/%s", d ? d : "tests/unit/data", name);
    return p;
}

/* A stored, registered task expiring at exp. */
static void add_task(struct fx *f, const char *id, const char *jti, int64_t exp, int stored)
{
    struct store_task t = {id,
                           AGENT,
                           "refunds",
                           NULL,
                           "[{\"type\":\"mandate_task\",\"tools\":[{\"name\":\"payments.refund\","
                           "\"actions\":[\"create\"]}],\"data_labels\":[],\"downstream\":[]}]",
                           NULL,
                           "active",
                           T0,
                           exp,
                           "jkt-1",
                           0,
                           0,
                           0,
                           0};
    struct err e;

    err_clear(&e);
    if (stored) {
        assert_int_equal(f->s->ops->task_insert(f->s, &t, &e), 0);
    }
    assert_int_equal(broker_task_register(&f->b, &t, jti, exp / 1000, &e), 0);
}

/* ---- drift table ---------------------------------------------------------------- */

static void test_drift_table(void **state)
{
    json_error_t je;
    json_t *doc = json_load_file(data_path("drift_cases.json"), JSON_REJECT_DUPLICATES, &je);
    json_t *cases, *c, *empty = json_object();
    size_t i, failed = 0;

    (void)state;
    assert_non_null(doc);
    cases = json_object_get(doc, "cases");
    assert_true(json_array_size(cases) >= 10);
    json_array_foreach(cases, i, c)
    {
        const char *form = json_string_value(json_object_get(c, "form"));
        json_t *call = json_object_get(c, "call"), *labels = json_object_get(call, "data_labels");
        const json_t *granted = form == NULL ? json_object_get(doc, "granted")
                                : strcmp(form, "object") == 0
                                    ? json_object_get(doc, "granted_object_form")
                                    : empty;
        const char *ls[8];
        struct broker_call bc = {json_string_value(json_object_get(call, "tool")),
                                 json_string_value(json_object_get(call, "action")),
                                 NULL,
                                 json_string_value(json_object_get(call, "downstream")),
                                 ls,
                                 json_array_size(labels)};
        json_t *codes = json_array(), *v;
        size_t k;
        int n;

        json_array_foreach(labels, k, v)
        {
            ls[k] = json_string_value(v);
        }
        n = broker_drift_scope(granted, &bc, codes);
        if (n != (int)json_array_size(json_object_get(c, "codes")) ||
            !json_equal(codes, json_object_get(c, "codes"))) {
            char *got = json_dumps(codes, JSON_COMPACT);
            print_message("case \"%s\": got %s (n=%d)\n",
                          json_string_value(json_object_get(c, "name")), got, n);
            free(got);
            failed++;
        }
        json_decref(codes);
    }
    json_decref(empty);
    json_decref(doc);
    assert_int_equal(failed, 0);
}

static void test_drift_names(void **state)
{
    (void)state;
    assert_string_equal(broker_drift_name(DRIFT_BUDGET), "budget_exhausted");
    assert_string_equal(broker_drift_name(DRIFT_ANOTHER_KEY), "another_key");
    assert_string_equal(broker_drift_name(DRIFT_TASK_ENDED), "task_ended");
    assert_string_equal(broker_drift_name(DRIFT_COUNT), "none");
}

/* ---- table ---------------------------------------------------------------------- */

static void test_register_lookup(void **state)
{
    struct fx *f = *state;
    struct btask *t = NULL;
    struct broker_tasks_stats st;
    struct err e;

    add_task(f, "t1", "jti-1", T0 + 600000, 1);
    assert_int_equal(tasks_get(&f->b, "t1", &t, &e), 0);
    assert_string_equal(t->state, "active");
    assert_int_equal(t->budget, 3);
    assert_int_equal(t->rate_per_min, 60);
    assert_true(t->on_drift_revoke);
    assert_string_equal(t->jkt, "jkt-1");
    btask_put(t);
    /* twice is a conflict, nothing changes */
    {
        struct store_task x = {"t1", AGENT,     "refunds", NULL, "[]", NULL, "active",
                               T0,   T0 + 1000, NULL,      0,    0,    0,    0};
        assert_int_equal(broker_task_register(&f->b, &x, "j", 0, &e), ERR_CONFLICT);
    }
    assert_int_equal(tasks_get(&f->b, "nope", &t, &e), ERR_NOTFOUND);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, 1);
    assert_int_equal(st.live, 1);
}

static void test_revoke_store_and_reload(void **state)
{
    struct fx *f = *state;
    struct store_revocation rv;
    struct store_task row;
    struct btask *t = NULL;
    json_t *out = NULL;
    struct err e;

    add_task(f, "t2", "jti-2", T0 + 600000, 1);
    err_clear(&e);
    assert_int_equal(broker_task_revoke(&f->b, NULL, "t2", "kill switch", &f->a, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "state")), "revoked");
    json_decref(out);
    /* in memory at once */
    assert_int_equal(tasks_get(&f->b, "t2", &t, &e), 0);
    assert_string_equal(t->state, "revoked");
    btask_put(t);
    /* in the store: the row, a task and a token revocation */
    assert_int_equal(f->s->ops->task_get(f->s, "t2", &f->a, &row, &e), 0);
    assert_string_equal(row.state, "revoked");
    assert_int_equal(f->s->ops->revocation_get(f->s, "t2", &f->a, &rv, &e), 0);
    assert_string_equal(rv.kind, "task");
    assert_string_equal(rv.reason, "kill switch");
    assert_int_equal(f->s->ops->revocation_get(f->s, "jti-2", &f->a, &rv, &e), 0);
    assert_string_equal(rv.kind, "token");
    /* a second revoke is a conflict */
    assert_int_equal(broker_task_revoke(&f->b, NULL, "t2", NULL, &f->a, &out, &e), ERR_CONFLICT);
    /* a restart forgets nothing */
    broker_tasks_stop(&f->b);
    store_close(f->s);
    open_store(f);
    start(f);
    assert_int_equal(tasks_get(&f->b, "t2", &t, &e), 0);
    assert_string_equal(t->state, "revoked");
    btask_put(t);
    /* the token's own revocation record came back too */
    assert_int_equal(tasks_jti_revoked(&f->b, "jti-2"), 1);
    assert_int_equal(tasks_jti_revoked(&f->b, "jti-other"), 0);
}

static void test_reload_live_and_ended(void **state)
{
    struct fx *f = *state;
    struct btask *t = NULL;
    struct broker_tasks_stats st;
    struct err e;

    add_task(f, "live", "j-live", T0 + 600000, 1);
    add_task(f, "gone", "j-gone", T0 + 1000, 1);
    fake_now = T0 + 5000;
    broker_tasks_stop(&f->b);
    start(f);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, 1); /* the expired one is not loaded */
    assert_int_equal(st.live, 1);
    assert_int_equal(tasks_get(&f->b, "live", &t, &e), 0);
    assert_string_equal(t->state, "active");
    btask_put(t);
    /* from the store, handed out dead and not held */
    assert_int_equal(tasks_get(&f->b, "gone", &t, &e), 0);
    assert_string_equal(t->state, "expired");
    btask_put(t);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, 1);
}

static void test_owner_scoping(void **state)
{
    struct fx *f = *state;
    struct broker_caller alice = {"k1", ROLE_OWNER, "alice", NULL};
    struct broker_caller bob = {"k2", ROLE_OWNER, "bob", NULL};
    struct broker_caller aud = {"k3", ROLE_AUDITOR, NULL, NULL};
    json_t *out = NULL;
    struct err e;

    add_task(f, "t3", "jti-3", T0 + 600000, 1);
    assert_int_equal(broker_task_get(&f->b, &alice, "t3", &f->a, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "agent")), AGENT);
    json_decref(out);
    assert_int_equal(broker_task_get(&f->b, &bob, "t3", &f->a, &out, &e), ERR_NOTFOUND);
    assert_int_equal(broker_task_revoke(&f->b, &bob, "t3", NULL, &f->a, &out, &e), ERR_NOTFOUND);
    assert_int_equal(broker_task_list(&f->b, &bob, NULL, NULL, 10, &f->a, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    assert_int_equal(broker_task_list(&f->b, &aud, NULL, NULL, 10, &f->a, &out, &e), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    assert_int_equal(broker_task_revoke(&f->b, &alice, "t3", "mine", &f->a, &out, &e), 0);
    json_decref(out);
}

static void test_agent_suspended_kills_tasks(void **state)
{
    struct fx *f = *state;
    struct store_agent ag;
    struct store_task row;
    struct btask *t = NULL;
    struct err e;

    add_task(f, "t4", "jti-4", T0 + 600000, 1);
    assert_int_equal(f->s->ops->agent_get(f->s, AGENT, &f->a, &ag, &e), 0);
    ag.status = "suspended";
    assert_int_equal(f->s->ops->agent_update(f->s, &ag, &e), 0);
    broker_tasks_registry_changed(&f->b, "tool.create"); /* unrelated: nothing */
    assert_int_equal(tasks_get(&f->b, "t4", &t, &e), 0);
    assert_string_equal(t->state, "active");
    btask_put(t);
    broker_tasks_registry_changed(&f->b, "agent.status");
    assert_int_equal(tasks_get(&f->b, "t4", &t, &e), 0);
    assert_string_equal(t->state, "revoked");
    btask_put(t);
    assert_int_equal(f->s->ops->task_get(f->s, "t4", &f->a, &row, &e), 0);
    assert_string_equal(row.state, "revoked");
}

/* Many tasks expiring at once: a lookup pops a bounded number in passing;
 * the sweep removes exactly the due ones, in expiry order. */
static void test_sweep_bounded(void **state)
{
    struct fx *f = *state;
    struct broker_tasks_stats st;
    struct btask *t = NULL;
    struct err e;
    const size_t n = 20000;
    char id[32];
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "x%zu", i);
        /* expiries scattered over 1..n ms after T0 + 1000 */
        add_task(f, id, NULL, T0 + 1000 + (int64_t)((i * 7919) % n) + 1, 0);
    }
    add_task(f, "keeper", "jk", T0 + 3600000, 1);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, n + 1);
    fake_now = T0 + 1000 + (int64_t)n + 1; /* all x* are due */
    assert_int_equal(tasks_get(&f->b, "keeper", &t, &e), 0);
    btask_put(t);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, n + 1 - LIMIT_TASKS_SWEEP_CHECK);
    /* half of the rest by time: exactly those due */
    fake_now = T0 + 1000 + (int64_t)n / 2;
    assert_int_equal(broker_tasks_sweep(&f->b, fake_now, SIZE_MAX),
                     n / 2 - LIMIT_TASKS_SWEEP_CHECK);
    fake_now = T0 + 1000 + (int64_t)n + 1;
    assert_int_equal(broker_tasks_sweep(&f->b, fake_now, SIZE_MAX), n / 2);
    broker_tasks_stats(&f->b, &st);
    assert_int_equal(st.tasks, 1);
    assert_int_equal(st.live, 1);
    assert_int_equal(tasks_get(&f->b, "keeper", &t, &e), 0);
    assert_string_equal(t->state, "active");
    btask_put(t);
}

static void test_end_after_expiry_conflicts(void **state)
{
    struct fx *f = *state;
    json_t *out = NULL;
    struct err e;

    add_task(f, "t5", "jti-5", T0 + 1000, 1);
    fake_now = T0 + 2000;
    assert_int_equal(broker_task_revoke(&f->b, NULL, "t5", NULL, &f->a, &out, &e), ERR_CONFLICT);
    assert_null(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drift_table),
        cmocka_unit_test(test_drift_names),
        cmocka_unit_test_setup_teardown(test_register_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoke_store_and_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_live_and_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_scoping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_suspended_kills_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_after_expiry_conflicts, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
