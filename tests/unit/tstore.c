/* tstore.c: see tstore.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "tstore.h"

void tstore_open(struct tstore *t, const char *tag)
{
    struct store_sqlite_options o = {200, 1};
    struct err e;

    snprintf(t->dir, sizeof(t->dir), "/tmp/mandate-%s-XXXXXX", tag);
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/m.db", t->dir);
    if (store_sqlite_open(t->path, &o, &t->s, &e) != 0) {
        fail_msg("%s: %s", t->path, e.msg);
    }
}

void tstore_close(struct tstore *t)
{
    char cmd[128];

    store_close(t->s);
    t->s = NULL;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
}

void tstore_sql(const struct tstore *t, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(t->path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fail_msg("%s: %s", sql, msg);
    }
    sqlite3_close(db);
}
