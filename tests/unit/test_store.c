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
    struct store_agent ag = {.id = "spiffe://td/a", .owner = "alice", .purpose = "p",
                             .environment = "prod", .risk_tier = 1, .status = "active",
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(migrations_and_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(records_and_constraints, setup, teardown),
        cmocka_unit_test_setup_teardown(pages, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_store_is_unavailable, setup, teardown),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
