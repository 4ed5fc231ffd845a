/* test_store.c: the SQLite store: migrations, records, pages, constraints,
 * transactions, and a locked store answering "unavailable". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/store.h"

struct fx {
    char dir[64];
    char path[96];
    struct store *s;
    struct arena a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_sqlite_options o = {200, 1};
    struct err e;

    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
    assert_int_equal(store_sqlite_open(f->path, &o, &f->s, &e), 0);
    arena_init(&f->a, 0, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];

    store_close(f->s);
    arena_free(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void add_human(struct fx *f, const char *id)
{
    struct store_human h = {id, "x@example.com", NULL, "active", 1};
    struct err e;

    assert_int_equal(f->s->ops->human_insert(f->s, &h, &e), 0);
}

static void migrations_and_versions(void **state)
{
    struct fx *f = *state;
    struct store_sqlite_options o = {200, 0};
    struct store *s2;
    sqlite3 *db;
    struct err e;
    int v;

    assert_int_equal(f->s->ops->schema_version(f->s, &v, &e), 0);
    assert_int_equal(v, store_sqlite_latest_version());
    /* reopening applies nothing and works */
    assert_int_equal(store_sqlite_open(f->path, &o, &s2, &e), 0);
    store_close(s2);
    /* a store from the future is refused */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "INSERT INTO schema_version VALUES (999, 0)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_sqlite_open(f->path, &o, &s2, &e), ERR_UNSUPPORTED);
    assert_non_null(strstr(e.msg, "newer"));
    assert_null(s2);
    /* a missing file is not created without create */
    assert_int_equal(store_sqlite_open("/tmp/definitely/not/here.db", &o, &s2, &e),
                     ERR_UNAVAILABLE);
}

static void records_and_constraints(void **state)
{
    struct fx *f = *state;
    struct store_agent ag = {.id = "spiffe://td/a",
                             .owner = "alice",
                             .purpose = "p",
                             .environment = "prod",
                             .risk_tier = 1,
                             .status = "active",
                             .created_ms = 5};
    struct store_agent got;
    struct store_human h;
    struct err e;

    add_human(f, "alice");
    assert_int_equal(f->s->ops->human_get(f->s, "alice", &f->a, &h, &e), 0);
    assert_string_equal(h.email, "x@example.com");
    assert_null(h.name);
    assert_int_equal(f->s->ops->human_get(f->s, "bob", &f->a, &h, &e), ERR_NOTFOUND);
    /* duplicate id */
    h.id = "alice";
    assert_int_equal(f->s->ops->human_insert(f->s, &h, &e), ERR_CONFLICT);
    /* an agent naming a missing owner is refused by the foreign key */
    ag.owner = "nobody";
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), ERR_CONFLICT);
    ag.owner = "alice";
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), 0);
    assert_int_equal(f->s->ops->agent_get(f->s, "spiffe://td/a", &f->a, &got, &e), 0);
    assert_string_equal(got.owner, "alice");
    assert_int_equal(got.risk_tier, 1);
    /* the owner cannot be deleted while it owns an agent */
    assert_int_equal(f->s->ops->human_delete(f->s, "alice", &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->agent_delete(f->s, "spiffe://td/a", &e), 0);
    assert_int_equal(f->s->ops->agent_delete(f->s, "spiffe://td/a", &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->human_delete(f->s, "alice", &e), 0);
}

static void pages(void **state)
{
    struct fx *f = *state;
    struct store_human *v;
    struct store_page p = {NULL, 2};
    struct err e;
    size_t n;

    add_human(f, "c");
    add_human(f, "a");
    add_human(f, "b");
    assert_int_equal(f->s->ops->human_list(f->s, &p, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, "a");
    assert_string_equal(v[1].id, "b");
    p.after = "b";
    assert_int_equal(f->s->ops->human_list(f->s, &p, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].id, "c");
}

static int fail_after_insert(struct store *s, void *ctx, struct err *e)
{
    struct store_human h = {"ghost", "g@example.com", NULL, "active", 1};

    (void)ctx;
    assert_int_equal(s->ops->human_insert(s, &h, e), 0);
    return err_set(e, ERR_INVALID, "changed my mind");
}

static void tx_rolls_back(void **state)
{
    struct fx *f = *state;
    struct store_human h;
    struct err e;

    assert_int_equal(store_tx(f->s, fail_after_insert, NULL, &e), ERR_INVALID);
    assert_int_equal(f->s->ops->human_get(f->s, "ghost", &f->a, &h, &e), ERR_NOTFOUND);
}

static void locked_store_is_unavailable(void **state)
{
    struct fx *f = *state;
    struct store_human h = {"late", "l@example.com", NULL, "active", 1}, got;
    sqlite3 *other;
    struct err e;

    add_human(f, "early");
    assert_int_equal(sqlite3_open(f->path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    /* writes fail as unavailable after the busy timeout; reads still work */
    assert_int_equal(f->s->ops->human_insert(f->s, &h, &e), ERR_UNAVAILABLE);
    assert_int_equal(f->s->ops->ping(f->s, 1, &e), ERR_UNAVAILABLE);
    assert_int_equal(f->s->ops->ping(f->s, 0, &e), 0);
    assert_int_equal(f->s->ops->human_get(f->s, "early", &f->a, &got, &e), 0);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    assert_int_equal(f->s->ops->human_insert(f->s, &h, &e), 0);
    assert_int_equal(f->s->ops->ping(f->s, 1, &e), 0);
}

/* ---- migration 2 ------------------------------------------------------------ */

static void add_agent(struct fx *f, const char *id, const char *owner)
{
    struct store_agent ag = {.id = id,
                             .owner = owner,
                             .purpose = "p",
                             .environment = "prod",
                             .risk_tier = 1,
                             .status = "active",
                             .created_ms = 5};
    struct err e;

    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), 0);
}

static void add_task(struct fx *f, const char *id, const char *agent, const char *state,
                     int64_t expires)
{
    struct store_task t = {.id = id,
                           .agent = agent,
                           .intent = "i",
                           .scope = "[]",
                           .state = state,
                           .created_ms = 1,
                           .expires_ms = expires};
    struct err e;

    assert_int_equal(f->s->ops->task_insert(f->s, &t, &e), 0);
}

static void add_intent(struct fx *f, const char *id)
{
    struct store_tool t = {
        .id = "crm.read", .downstream = "crm", .sensitivity = 1, .created_ms = 1};
    struct store_intent in = {.id = id,
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

    (void)f->s->ops->tool_insert(f->s, &t, &e);
    assert_int_equal(f->s->ops->intent_insert(f->s, &in, &e), 0);
}

static void updates_and_owner_lists(void **state)
{
    struct fx *f = *state;
    struct store_agent got, *v;
    struct store_human h;
    struct store_page p = {NULL, 10};
    struct err e;
    size_t n;

    add_human(f, "alice");
    add_human(f, "bob");
    add_agent(f, "spiffe://td/a", "alice");
    add_agent(f, "spiffe://td/b", "bob");
    add_agent(f, "spiffe://td/c", "alice");
    assert_int_equal(f->s->ops->agent_list_owner(f->s, "alice", &p, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[1].id, "spiffe://td/c");
    p.after = "spiffe://td/a";
    assert_int_equal(f->s->ops->agent_list_owner(f->s, "alice", &p, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    /* a full-row update, and a missing row */
    assert_int_equal(f->s->ops->agent_get(f->s, "spiffe://td/a", &f->a, &got, &e), 0);
    got.status = "suspended";
    got.status_reason = "why";
    got.status_changed_ms = 77;
    assert_int_equal(f->s->ops->agent_update(f->s, &got, &e), 0);
    assert_int_equal(f->s->ops->agent_get(f->s, "spiffe://td/a", &f->a, &got, &e), 0);
    assert_string_equal(got.status, "suspended");
    assert_string_equal(got.status_reason, "why");
    assert_int_equal(got.status_changed_ms, 77);
    got.id = "spiffe://td/zzz";
    assert_int_equal(f->s->ops->agent_update(f->s, &got, &e), ERR_NOTFOUND);
    /* the CHECK constraint still guards the status */
    got.id = "spiffe://td/a";
    got.status = "sleeping";
    assert_int_equal(f->s->ops->agent_update(f->s, &got, &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->human_get(f->s, "bob", &f->a, &h, &e), 0);
    h.status = "offboarded";
    assert_int_equal(f->s->ops->human_update(f->s, &h, &e), 0);
    assert_int_equal(f->s->ops->human_get(f->s, "bob", &f->a, &h, &e), 0);
    assert_string_equal(h.status, "offboarded");
}

static void issuer_subjects_unique(void **state)
{
    struct fx *f = *state;
    struct store_issuer is = {"corp",         "spiffe",      "agents",
                              "corp.example", "url",         "https://x/j",
                              "[\"m\"]",      "[\"ES256\"]", 1};
    struct store_issuer bad = is;
    struct store_agent ag = {.id = "spiffe://corp.example/a",
                             .owner = "alice",
                             .purpose = "p",
                             .environment = "prod",
                             .status = "active",
                             .issuer = "corp",
                             .subject = "spiffe://corp.example/a"};
    struct store_agent got;
    struct err e;

    add_human(f, "alice");
    assert_int_equal(f->s->ops->issuer_insert(f->s, &is, &e), 0);
    bad.id = "corp2"; /* same trust domain for agents */
    assert_int_equal(f->s->ops->issuer_insert(f->s, &bad, &e), ERR_CONFLICT);
    bad.kind = "spiffe";
    bad.principals = "humans"; /* SPIFFE for humans: CHECK */
    bad.issuer = "other.example";
    assert_int_equal(f->s->ops->issuer_insert(f->s, &bad, &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), 0);
    assert_int_equal(
        f->s->ops->agent_by_subject(f->s, "corp", "spiffe://corp.example/a", &f->a, &got, &e), 0);
    assert_string_equal(got.id, "spiffe://corp.example/a");
    assert_int_equal(
        f->s->ops->agent_by_subject(f->s, "corp", "spiffe://corp.example/b", &f->a, &got, &e),
        ERR_NOTFOUND);
    ag.id = "spiffe://corp.example/b"; /* same subject again */
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), ERR_CONFLICT);
    ag.issuer = "nobody";
    ag.subject = "s";
    assert_int_equal(f->s->ops->agent_insert(f->s, &ag, &e), ERR_CONFLICT);
    /* the issuer is referenced */
    assert_int_equal(f->s->ops->issuer_delete(f->s, "corp", &e), ERR_CONFLICT);
}

static void intents_tools_entitlements(void **state)
{
    struct fx *f = *state;
    const char *tools[] = {"crm.read"}, *missing[] = {"nope"};
    struct store_entitlement en = {"spiffe://td/a", "refunds", 1, "k"}, *v;
    struct store_intent in;
    struct err e;
    size_t n;
    int64_t cleared = 0;

    add_human(f, "alice");
    add_agent(f, "spiffe://td/a", "alice");
    add_intent(f, "refunds");
    assert_int_equal(f->s->ops->intent_tools_set(f->s, "refunds", tools, 1, &e), 0);
    assert_int_equal(f->s->ops->intent_tools_set(f->s, "refunds", missing, 1, &e), ERR_CONFLICT);
    assert_non_null(strstr(e.msg, "nope"));
    assert_int_equal(f->s->ops->intent_tools_set(f->s, "refunds", tools, 1, &e), 0);
    assert_int_equal(f->s->ops->tool_delete(f->s, "crm.read", &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->intent_get(f->s, "refunds", &f->a, &in, &e), 0);
    in.call_budget = 9;
    assert_int_equal(f->s->ops->intent_update(f->s, &in, &e), 0);
    assert_int_equal(f->s->ops->intent_get(f->s, "refunds", &f->a, &in, &e), 0);
    assert_int_equal(in.call_budget, 9);
    assert_int_equal(f->s->ops->entitlement_insert(f->s, &en, &e), 0);
    assert_int_equal(f->s->ops->entitlement_insert(f->s, &en, &e), ERR_CONFLICT);
    en.intent = "ghost";
    assert_int_equal(f->s->ops->entitlement_insert(f->s, &en, &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->entitlement_list(f->s, "spiffe://td/a", &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].created_by, "k");
    assert_int_equal(f->s->ops->intent_delete(f->s, "refunds", &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->entitlement_delete(f->s, "spiffe://td/a", "ghost", &e),
                     ERR_NOTFOUND);
    assert_int_equal(f->s->ops->entitlement_clear(f->s, "spiffe://td/a", &cleared, &e), 0);
    assert_int_equal(cleared, 1);
    /* with no entitlement left the intent goes, and its tool links with it */
    assert_int_equal(f->s->ops->intent_delete(f->s, "refunds", &e), 0);
    assert_int_equal(f->s->ops->tool_delete(f->s, "crm.read", &e), 0);
}

static void policies_one_active(void **state)
{
    struct fx *f = *state;
    struct store_policy p = {.cedar = "permit(principal, action, resource);",
                             .schema = "",
                             .created_ms = 1,
                             .active = 1},
                        got, *v;
    struct err e;
    int64_t v1 = 0, v2 = 0;
    size_t n;

    assert_int_equal(f->s->ops->policy_get_active(f->s, &f->a, &got, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->policy_insert(f->s, &p, &v1, &e), 0);
    assert_int_equal(f->s->ops->policy_insert(f->s, &p, &v2, &e), 0);
    assert_int_equal(v1, 1);
    assert_int_equal(v2, 2);
    /* inserting never activates, whatever the record says */
    assert_int_equal(f->s->ops->policy_get_active(f->s, &f->a, &got, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->policy_activate(f->s, 2, 50, &e), 0);
    assert_int_equal(f->s->ops->policy_activate(f->s, 1, 60, &e), 0);
    assert_int_equal(f->s->ops->policy_activate(f->s, 1, 70, &e), 0);
    assert_int_equal(f->s->ops->policy_get_active(f->s, &f->a, &got, &e), 0);
    assert_int_equal(got.version, 1);
    assert_int_equal(got.activated_ms, 70);
    assert_int_equal(f->s->ops->policy_get(f->s, 2, &f->a, &got, &e), 0);
    assert_int_equal(got.active, 0);
    assert_int_equal(f->s->ops->policy_activate(f->s, 3, 80, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->policy_get(f->s, 3, &f->a, &got, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->policy_list(f->s, 1, 10, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].version, 2);
}

static void tasks_sweep_and_revoke(void **state)
{
    struct fx *f = *state;
    struct store_revocation rv = {"jti-1", "token", "logout", 5, 0}, got;
    struct store_task t;
    struct err e;
    int64_t n = 0;

    add_human(f, "alice");
    add_agent(f, "spiffe://td/a", "alice");
    add_agent(f, "spiffe://td/b", "alice");
    add_intent(f, "i");
    add_task(f, "t1", "spiffe://td/a", "active", 100);
    add_task(f, "t2", "spiffe://td/a", "active", 300);
    add_task(f, "t3", "spiffe://td/a", "completed", 50);
    add_task(f, "t4", "spiffe://td/b", "pending", 150);
    add_task(f, "t5", "spiffe://td/b", "active", 400);
    /* a bad state is refused */
    t = (struct store_task){.id = "t9",
                            .agent = "spiffe://td/a",
                            .intent = "i",
                            .scope = "[]",
                            .state = "zombie",
                            .expires_ms = 1};
    assert_int_equal(f->s->ops->task_insert(f->s, &t, &e), ERR_CONFLICT);
    /* sweep at 200, at most 1 then the rest: t1 and t4 expire, t3 stays completed */
    assert_int_equal(f->s->ops->task_sweep(f->s, 200, 1, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->s->ops->task_sweep(f->s, 200, 100, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(f->s->ops->task_sweep(f->s, 200, 100, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(f->s->ops->task_get(f->s, "t4", &f->a, &t, &e), 0);
    assert_string_equal(t.state, "expired");
    assert_int_equal(t.ended_ms, 200);
    assert_int_equal(f->s->ops->task_get(f->s, "t3", &f->a, &t, &e), 0);
    assert_string_equal(t.state, "completed");
    /* revoking an agent's live tasks: only t2 is live for a */
    assert_int_equal(f->s->ops->task_revoke_agent(f->s, "spiffe://td/a", "offboarded", 250, &n, &e),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(f->s->ops->task_get(f->s, "t2", &f->a, &t, &e), 0);
    assert_string_equal(t.state, "revoked");
    assert_int_equal(f->s->ops->revocation_get(f->s, "t2", &f->a, &got, &e), 0);
    assert_string_equal(got.kind, "task");
    assert_string_equal(got.reason, "offboarded");
    assert_int_equal(got.expires_ms, 300);
    assert_int_equal(f->s->ops->revocation_get(f->s, "t1", &f->a, &got, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->task_get(f->s, "t5", &f->a, &t, &e), 0);
    assert_string_equal(t.state, "active");
    /* the check's counter: only calls changes */
    assert_int_equal(f->s->ops->task_set_calls(f->s, "t5", 7, &e), 0);
    assert_int_equal(f->s->ops->task_get(f->s, "t5", &f->a, &t, &e), 0);
    assert_int_equal(t.calls, 7);
    assert_string_equal(t.state, "active");
    assert_int_equal(t.expires_ms, 400);
    assert_int_equal(f->s->ops->task_set_calls(f->s, "t2", 3, &e), 0);
    assert_int_equal(f->s->ops->task_get(f->s, "t2", &f->a, &t, &e), 0);
    assert_string_equal(t.state, "revoked"); /* a counter never revives a task */
    assert_int_equal(f->s->ops->task_set_calls(f->s, "nope", 1, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->revocation_insert(f->s, &rv, &e), 0);
    assert_int_equal(f->s->ops->revocation_insert(f->s, &rv, &e), ERR_CONFLICT);
    assert_int_equal(f->s->ops->revocation_get(f->s, "jti-1", &f->a, &got, &e), 0);
    assert_string_equal(got.reason, "logout");
}

static void audit_sequence(void **state)
{
    struct fx *f = *state;
    struct store_audit r = {.time_ms = 1,
                            .event = "x.create",
                            .actor_chain = "[]",
                            .decision = "ok",
                            .reasons = "[]",
                            .agent = "spiffe://td/a"},
                       *v;
    struct err e;
    int64_t s1 = 0, s2 = 0;
    size_t n;
    sqlite3 *db;

    assert_int_equal(f->s->ops->audit_append(f->s, &r, &s1, &e), 0);
    r.seq = 999; /* ignored: the store numbers */
    assert_int_equal(f->s->ops->audit_append(f->s, &r, &s2, &e), 0);
    assert_int_equal(s2, s1 + 1);
    /* sequence numbers are never reused, even after a (forbidden) delete */
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM audit WHERE seq = 2", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(f->s->ops->audit_append(f->s, &r, &s2, &e), 0);
    assert_int_equal(s2, 3);
    assert_int_equal(f->s->ops->audit_list(f->s, 1, 10, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_int_equal(v[0].seq, 3);
    assert_string_equal(v[0].agent, "spiffe://td/a");
    /* the chain: record 3 links to the head at its append (record 1) */
    assert_non_null(v[0].hash);
    assert_int_equal(strlen(v[0].hash), STORE_AUDIT_HASH_HEX);
    {
        struct store_audit *w;
        size_t m;
        char h[STORE_AUDIT_HASH_HEX + 1];
        assert_int_equal(f->s->ops->audit_list(f->s, 0, 1, &f->a, &w, &m, &e), 0);
        assert_int_equal(m, 1);
        assert_string_equal(w[0].prev_hash, store_audit_genesis);
        assert_string_equal(v[0].prev_hash, w[0].hash);
        assert_int_equal(store_audit_hash(&v[0], v[0].prev_hash, h), 0);
        assert_string_equal(h, v[0].hash);
    }
    /* a record without its decision is refused (NOT NULL) */
    r.decision = NULL;
    assert_int_equal(f->s->ops->audit_append(f->s, &r, NULL, &e), ERR_CONFLICT);
}

/* A store made by migration 1 with data upgrades in place. */
static void migration_2_upgrades_data(void **state)
{
    struct fx *f = *state;
    struct store_sqlite_options o = {200, 0};
    struct store *s2;
    struct store_agent got;
    struct err e;
    sqlite3 *db;
    char path[128];
    int v;

    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                     " applied_ms INTEGER NOT NULL);"
                     "INSERT INTO schema_version VALUES (1, 0);"
                     "CREATE TABLE humans (id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT,"
                     " status TEXT NOT NULL CHECK (status IN ('active','offboarded')),"
                     " created_ms INTEGER NOT NULL);"
                     "CREATE TABLE teams (id TEXT PRIMARY KEY, name TEXT, created_ms INTEGER NOT "
                     "NULL);"
                     "CREATE TABLE agents (id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES "
                     "humans(id), team TEXT REFERENCES teams(id), purpose TEXT NOT NULL,"
                     " environment TEXT NOT NULL, risk_tier INTEGER NOT NULL,"
                     " status TEXT NOT NULL CHECK (status IN ('active','suspended','offboarded')),"
                     " created_ms INTEGER NOT NULL);"
                     "CREATE INDEX agents_owner ON agents(owner);"
                     "CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT "
                     "NOT NULL, subject TEXT REFERENCES humans(id), hash BLOB NOT NULL CHECK "
                     "(length(hash) = 32), created_ms INTEGER NOT NULL, revoked_ms INTEGER NOT "
                     "NULL DEFAULT 0);"
                     "INSERT INTO humans VALUES ('al', 'a@x.io', NULL, 'active', 1);"
                     "INSERT INTO agents VALUES ('spiffe://td/old', 'al', NULL, 'p', 'prod', 1,"
                     " 'active', 2);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_sqlite_open(path, &o, &s2, &e), 0);
    assert_int_equal(s2->ops->schema_version(s2, &v, &e), 0);
    assert_int_equal(v, store_sqlite_latest_version());
    assert_int_equal(s2->ops->agent_get(s2, "spiffe://td/old", &f->a, &got, &e), 0);
    assert_null(got.issuer);
    assert_int_equal(got.status_changed_ms, 0);
    assert_string_equal(got.status, "active");
    store_close(s2);
}

/* Migration 6: engaged kill switches (first reason wins, deletes are exact,
 * the CHECKs refuse a malformed row) and a task's budget and carve. */
static void killswitches_and_carves(void **state)
{
    struct fx *f = *state;
    struct store_killswitch a = {"owner:alice", "owner", "alice", "incident 7", "key-1", 10};
    struct store_killswitch again = {"owner:alice", "owner", "alice", "later", NULL, 20};
    struct store_killswitch all = {"all", "all", NULL, "everything", NULL, 30};
    struct store_killswitch bad_scope = {"planet:x", "planet", "x", "r", NULL, 1};
    struct store_killswitch all_target = {"all:x", "all", "x", "r", NULL, 1};
    struct store_killswitch agent_none = {"agent", "agent", NULL, "r", NULL, 1};
    struct store_killswitch *v;
    struct store_task t, got;
    struct err e;
    size_t n;

    assert_int_equal(f->s->ops->killswitch_list(f->s, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &a, &e), 0);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &again, &e), 0);
    assert_int_equal(f->s->ops->killswitch_insert(f->s, &all, &e), 0);
    assert_int_not_equal(f->s->ops->killswitch_insert(f->s, &bad_scope, &e), 0);
    assert_int_not_equal(f->s->ops->killswitch_insert(f->s, &all_target, &e), 0);
    assert_int_not_equal(f->s->ops->killswitch_insert(f->s, &agent_none, &e), 0);
    assert_int_equal(f->s->ops->killswitch_list(f->s, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_equal(v[0].id, "all");
    assert_null(v[0].target);
    assert_string_equal(v[1].id, "owner:alice");
    assert_string_equal(v[1].reason, "incident 7");
    assert_string_equal(v[1].engaged_by, "key-1");
    assert_int_equal(v[1].engaged_ms, 10);
    assert_int_equal(f->s->ops->killswitch_delete(f->s, "owner:alice", &e), 0);
    assert_int_equal(f->s->ops->killswitch_delete(f->s, "owner:alice", &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->killswitch_delete(f->s, "owner", &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->killswitch_list(f->s, &f->a, &v, &n, &e), 0);
    assert_int_equal(n, 1);

    add_human(f, "alice");
    add_agent(f, "spiffe://td/a", "alice");
    add_intent(f, "i");
    add_task(f, "p", "spiffe://td/a", "active", 100);
    t = (struct store_task){.id = "c",
                            .agent = "spiffe://td/a",
                            .intent = "i",
                            .scope = "[]",
                            .parent = "p",
                            .state = "active",
                            .expires_ms = 100,
                            .budget = 3};
    assert_int_equal(f->s->ops->task_insert(f->s, &t, &e), 0);
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "p", 3, &e), 0);
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "p", 2, &e), 0); /* never lowered */
    assert_int_equal(f->s->ops->task_carved_raise(f->s, "nope", 2, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->task_get(f->s, "p", &f->a, &got, &e), 0);
    assert_int_equal(got.carved, 3);
    assert_int_equal(got.budget, 0);
    assert_int_equal(f->s->ops->task_get(f->s, "c", &f->a, &got, &e), 0);
    assert_int_equal(got.budget, 3);
    assert_int_equal(got.carved, 0);
    /* a full-row update writes them back as given */
    got.carved = 1;
    assert_int_equal(f->s->ops->task_update(f->s, &got, &e), 0);
    assert_int_equal(f->s->ops->task_get(f->s, "c", &f->a, &got, &e), 0);
    assert_int_equal(got.carved, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(records_and_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(pages, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_store_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(updates_and_owner_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(issuer_subjects_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(intents_tools_entitlements, setup, teardown),
        cmocka_unit_test_setup_teardown(policies_one_active, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_sweep_and_revoke, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(migration_2_upgrades_data, setup, teardown),
        cmocka_unit_test_setup_teardown(killswitches_and_carves, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
