/*
 * sqlite.c: the embedded SQLite implementation of store.h.
 *
 * One connection, WAL journal, a busy timeout, foreign keys on, guarded by a
 * recursive mutex (a transaction holds it from BEGIN to COMMIT, so other
 * threads wait rather than interleave).  Registry tables are described by
 * column tables (struct table) and read and written by four generic
 * functions, so a new table is a description, not another copy of the SQL
 * plumbing.  Migrations are numbered SQL scripts applied in one transaction
 * each; the schema_version table records which ran and when.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"

/* ---- migrations ---------------------------------------------------------- */

static const char *const migrations[] = {
    /* 1: the registry's first tables and API keys */
    "CREATE TABLE humans ("
    "  id TEXT PRIMARY KEY, email TEXT NOT NULL, name TEXT,"
    "  status TEXT NOT NULL CHECK (status IN ('active','offboarded')),"
    "  created_ms INTEGER NOT NULL);"
    "CREATE TABLE teams (id TEXT PRIMARY KEY, name TEXT, created_ms INTEGER NOT NULL);"
    "CREATE TABLE agents ("
    "  id TEXT PRIMARY KEY, owner TEXT NOT NULL REFERENCES humans(id),"
    "  team TEXT REFERENCES teams(id), purpose TEXT NOT NULL, environment TEXT NOT NULL,"
    "  risk_tier INTEGER NOT NULL,"
    "  status TEXT NOT NULL CHECK (status IN ('active','suspended','offboarded')),"
    "  created_ms INTEGER NOT NULL);"
    "CREATE INDEX agents_owner ON agents(owner);"
    "CREATE TABLE api_keys ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL,"
    "  subject TEXT REFERENCES humans(id), hash BLOB NOT NULL CHECK (length(hash) = 32),"
    "  created_ms INTEGER NOT NULL, revoked_ms INTEGER NOT NULL DEFAULT 0);",
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_sqlite_latest_version(void)
{
    return NMIGRATIONS;
}

/* ---- the handle ---------------------------------------------------------- */

struct sqlite_store {
    struct store base;
    sqlite3 *db;
    pthread_mutex_t mu;
    int busy_timeout_ms;
};

static struct sqlite_store *S(struct store *s)
{
    return (struct sqlite_store *)s;
}

/* Maps an SQLite result to our codes.  Locks, read-only files, full disks
 * and I/O errors are "unavailable": the request may succeed later. */
static int fail(struct sqlite_store *ss, int rc, struct err *e, const char *what)
{
    int prim = rc & 0xff;
    const char *msg = sqlite3_errmsg(ss->db);

    switch (prim) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
        return err_set(e, ERR_UNAVAILABLE, "store unavailable: %s: %s", what, msg);
    case SQLITE_CONSTRAINT:
        return err_set(e, ERR_CONFLICT, "%s: %s", what, msg);
    default:
        return err_set(e, ERR_INTERNAL, "store: %s: %s", what, msg);
    }
}

static int exec(struct sqlite_store *ss, const char *sql, struct err *e)
{
    char *msg = NULL;
    int rc = sqlite3_exec(ss->db, sql, NULL, NULL, &msg);

    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : fail(ss, rc, e, sql);
}

static int prepare(struct sqlite_store *ss, const char *sql, sqlite3_stmt **st, struct err *e)
{
    int rc = sqlite3_prepare_v2(ss->db, sql, -1, st, NULL);

    return rc == SQLITE_OK ? 0 : fail(ss, rc, e, "prepare");
}

/* ---- transactions -------------------------------------------------------- */

static int tx_begin(struct store *s, struct err *e)
{
    struct sqlite_store *ss = S(s);
    int r;

    pthread_mutex_lock(&ss->mu);
    r = exec(ss, "BEGIN IMMEDIATE", e);
    if (r != 0) {
        pthread_mutex_unlock(&ss->mu);
    }
    return r;
}

static int tx_commit(struct store *s, struct err *e)
{
    struct sqlite_store *ss = S(s);
    int r = exec(ss, "COMMIT", e);

    if (r != 0) {
        (void)exec(ss, "ROLLBACK", NULL);
    }
    pthread_mutex_unlock(&ss->mu);
    return r;
}

static void tx_rollback(struct store *s)
{
    struct sqlite_store *ss = S(s);

    (void)exec(ss, "ROLLBACK", NULL);
    pthread_mutex_unlock(&ss->mu);
}

int store_tx(struct store *s, int (*fn)(struct store *s, void *ctx, struct err *e), void *ctx,
             struct err *e)
{
    int r = s->ops->tx_begin(s, e);

    if (r != 0) {
        return r;
    }
    r = fn(s, ctx, e);
    if (r != 0) {
        s->ops->tx_rollback(s);
        return r;
    }
    return s->ops->tx_commit(s, e);
}

/* ---- generic rows -------------------------------------------------------- */

enum col_type { COL_TEXT, COL_TEXT_NULL, COL_INT, COL_HASH };

struct col {
    const char *name;
    enum col_type type;
    size_t off;
};

struct table {
    const char *name;
    const char *what;       /* for messages: "human" */
    const struct col *cols; /* cols[0] is the primary key "id" */
    size_t ncols;
    size_t size; /* sizeof the record struct */
};

#define COL(st, f, t)                                                                              \
    {                                                                                              \
#f, t, offsetof(struct st, f)                                                              \
    }

static const struct col human_cols[] = {
    COL(store_human, id, COL_TEXT),        COL(store_human, email, COL_TEXT),
    COL(store_human, name, COL_TEXT_NULL), COL(store_human, status, COL_TEXT),
    COL(store_human, created_ms, COL_INT),
};
static const struct col team_cols[] = {
    COL(store_team, id, COL_TEXT),
    COL(store_team, name, COL_TEXT_NULL),
    COL(store_team, created_ms, COL_INT),
};
static const struct col agent_cols[] = {
    COL(store_agent, id, COL_TEXT),          COL(store_agent, owner, COL_TEXT),
    COL(store_agent, team, COL_TEXT_NULL),   COL(store_agent, purpose, COL_TEXT),
    COL(store_agent, environment, COL_TEXT), COL(store_agent, risk_tier, COL_INT),
    COL(store_agent, status, COL_TEXT),      COL(store_agent, created_ms, COL_INT),
};
static const struct col apikey_cols[] = {
    COL(store_apikey, id, COL_TEXT),        COL(store_apikey, name, COL_TEXT),
    COL(store_apikey, role, COL_TEXT),      COL(store_apikey, subject, COL_TEXT_NULL),
    COL(store_apikey, hash, COL_HASH),      COL(store_apikey, created_ms, COL_INT),
    COL(store_apikey, revoked_ms, COL_INT),
};

#define TABLE(n, w, c, st)                                                                         \
    {                                                                                              \
        n, w, c, sizeof(c) / sizeof(c[0]), sizeof(struct st)                                       \
    }
static const struct table T_HUMANS = TABLE("humans", "human", human_cols, store_human);
static const struct table T_TEAMS = TABLE("teams", "team", team_cols, store_team);
static const struct table T_AGENTS = TABLE("agents", "agent", agent_cols, store_agent);
static const struct table T_APIKEYS = TABLE("api_keys", "API key", apikey_cols, store_apikey);

/* "a, b, c" of the table's columns */
static int col_list(const struct table *t, struct buf *b)
{
    size_t i;
    int r = 0;

    for (i = 0; i < t->ncols && r == 0; i++) {
        r = buf_printf(b, "%s%s", i ? ", " : "", t->cols[i].name);
    }
    return r;
}

static int bind_cols(sqlite3_stmt *st, const struct table *t, const void *rec)
{
    const char *base = rec;
    size_t i;
    int rc = SQLITE_OK;

    for (i = 0; i < t->ncols && rc == SQLITE_OK; i++) {
        const void *f = base + t->cols[i].off;
        int k = (int)i + 1;
        switch (t->cols[i].type) {
        case COL_TEXT:
        case COL_TEXT_NULL: {
            const char *v = *(const char *const *)f;
            rc = v ? sqlite3_bind_text(st, k, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, k);
            break;
        }
        case COL_INT:
            rc = sqlite3_bind_int64(st, k, *(const int64_t *)f);
            break;
        case COL_HASH:
            rc = sqlite3_bind_blob(st, k, f, STORE_KEY_HASH_LEN, SQLITE_STATIC);
            break;
        }
    }
    return rc;
}

static int read_cols(sqlite3_stmt *st, const struct table *t, struct arena *a, void *rec)
{
    char *base = rec;
    size_t i;

    for (i = 0; i < t->ncols; i++) {
        void *f = base + t->cols[i].off;
        int k = (int)i;
        switch (t->cols[i].type) {
        case COL_TEXT:
        case COL_TEXT_NULL: {
            const unsigned char *v = sqlite3_column_text(st, k);
            char *copy = NULL;
            if (v != NULL) {
                copy = arena_strndup(a, (const char *)v, (size_t)sqlite3_column_bytes(st, k));
                if (copy == NULL) {
                    return ERR_NOMEM;
                }
            }
            *(char **)f = copy;
            break;
        }
        case COL_INT:
            *(int64_t *)f = sqlite3_column_int64(st, k);
            break;
        case COL_HASH:
            if (sqlite3_column_bytes(st, k) != STORE_KEY_HASH_LEN) {
                return ERR_INTERNAL;
            }
            memcpy(f, sqlite3_column_blob(st, k), STORE_KEY_HASH_LEN);
            break;
        }
    }
    return 0;
}

static int row_insert(struct store *s, const struct table *t, const void *rec, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct buf sql;
    size_t i;
    int r, rc;

    buf_init(&sql, 4096);
    r = buf_printf(&sql, "INSERT INTO %s (", t->name);
    r = r ? r : col_list(t, &sql);
    r = r ? r : buf_append_str(&sql, ") VALUES (");
    for (i = 0; i < t->ncols && r == 0; i++) {
        r = buf_append_str(&sql, i ? ", ?" : "?");
    }
    r = r ? r : buf_append_str(&sql, ")");
    if (r != 0) {
        buf_free(&sql);
        return err_set(e, ERR_INTERNAL, "store: building SQL failed");
    }
    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql.data, &st, e);
    if (r == 0) {
        rc = bind_cols(st, t, rec);
        if (rc == SQLITE_OK) {
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE) {
            r = fail(ss, rc, e, t->what);
            if (r == ERR_CONFLICT) {
                err_set(e, ERR_CONFLICT, "%s \"%s\" already exists or names a missing record",
                        t->what, *(const char *const *)rec);
            }
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    buf_free(&sql);
    return r;
}

/* SELECT cols FROM t <tail>, binding text params; collects up to max rows. */
static int row_select(struct store *s, const struct table *t, const char *tail, const char *p1,
                      int64_t limit, struct arena *a, void **out, size_t *n, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct buf sql;
    char *items = NULL;
    size_t count = 0;
    int r, rc;

    *out = NULL;
    *n = 0;
    buf_init(&sql, 4096);
    r = buf_append_str(&sql, "SELECT ");
    r = r ? r : col_list(t, &sql);
    r = r ? r : buf_printf(&sql, " FROM %s %s", t->name, tail);
    if (r != 0) {
        buf_free(&sql);
        return err_set(e, ERR_INTERNAL, "store: building SQL failed");
    }
    items = arena_calloc(a, (size_t)limit, t->size);
    if (items == NULL && limit > 0) {
        buf_free(&sql);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql.data, &st, e);
    if (r == 0) {
        rc = p1 ? sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC) : sqlite3_bind_null(st, 1);
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_int64(st, 2, limit);
        }
        while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW && count < (size_t)limit) {
            if (read_cols(st, t, a, items + count * t->size) != 0) {
                r = err_set(e, ERR_NOMEM, "out of memory");
                break;
            }
            count++;
            rc = SQLITE_OK;
        }
        if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_OK && rc != SQLITE_ROW) {
            r = fail(ss, rc, e, t->what);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    buf_free(&sql);
    if (r == 0) {
        *out = items;
        *n = count;
    }
    return r;
}

static int row_get(struct store *s, const struct table *t, const char *id, struct arena *a,
                   void *out, struct err *e)
{
    void *items;
    size_t n;
    int r = row_select(s, t, "WHERE id = ?1 LIMIT ?2", id, 1, a, &items, &n, e);

    if (r != 0) {
        return r;
    }
    if (n == 0) {
        return err_set(e, ERR_NOTFOUND, "no %s \"%s\"", t->what, id);
    }
    memcpy(out, items, t->size);
    return 0;
}

static int row_list(struct store *s, const struct table *t, const struct store_page *p,
                    struct arena *a, void **out, size_t *n, struct err *e)
{
    size_t limit = p->limit == 0 || p->limit > LIMIT_LIST_PAGE_MAX ? LIMIT_LIST_PAGE_MAX : p->limit;

    return row_select(s, t, "WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2", p->after,
                      (int64_t)limit, a, out, n, e);
}

static int row_delete(struct store *s, const struct table *t, const char *id, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    char sql[128];
    int r, rc;

    snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE id = ?1", t->name);
    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql, &st, e);
    if (r == 0) {
        rc = sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
        if (rc != SQLITE_DONE) {
            r = fail(ss, rc, e, t->what);
            if (r == ERR_CONFLICT) {
                err_set(e, ERR_CONFLICT, "%s \"%s\" is still referenced", t->what, id);
            }
        } else if (sqlite3_changes(ss->db) == 0) {
            r = err_set(e, ERR_NOTFOUND, "no %s \"%s\"", t->what, id);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    return r;
}

/* The typed entry points of the ops table are thin casts over the generic
 * rows; a macro writes the four of each table. */
#define ROW_OPS(prefix, T, st)                                                                     \
    static int prefix##_insert(struct store *s, const struct st *x, struct err *e)                 \
    {                                                                                              \
        return row_insert(s, &T, x, e);                                                            \
    }                                                                                              \
    static int prefix##_get(struct store *s, const char *id, struct arena *a, struct st *out,      \
                            struct err *e)                                                         \
    {                                                                                              \
        return row_get(s, &T, id, a, out, e);                                                      \
    }                                                                                              \
    static int prefix##_list(struct store *s, const struct store_page *p, struct arena *a,         \
                             struct st **out, size_t *n, struct err *e)                            \
    {                                                                                              \
        return row_list(s, &T, p, a, (void **)out, n, e);                                          \
    }                                                                                              \
    static int prefix##_delete(struct store *s, const char *id, struct err *e)                     \
    {                                                                                              \
        return row_delete(s, &T, id, e);                                                           \
    }

ROW_OPS(human, T_HUMANS, store_human)
ROW_OPS(team, T_TEAMS, store_team)
ROW_OPS(agent, T_AGENTS, store_agent)

static int apikey_insert(struct store *s, const struct store_apikey *k, struct err *e)
{
    return row_insert(s, &T_APIKEYS, k, e);
}

static int apikey_get(struct store *s, const char *id, struct arena *a, struct store_apikey *out,
                      struct err *e)
{
    return row_get(s, &T_APIKEYS, id, a, out, e);
}

static int scalar_i64(struct sqlite_store *ss, const char *sql, int64_t *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    int r, rc;

    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql, &st, e);
    if (r == 0) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
        } else {
            r = fail(ss, rc, e, sql);
        }
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&ss->mu);
    return r;
}

static int apikey_count(struct store *s, int64_t *out, struct err *e)
{
    return scalar_i64(S(s), "SELECT count(*) FROM api_keys WHERE revoked_ms = 0", out, e);
}

/* ---- health -------------------------------------------------------------- */

static int schema_version(struct store *s, int *out, struct err *e)
{
    int64_t v = 0;
    int r = scalar_i64(S(s), "SELECT coalesce(max(version), 0) FROM schema_version", &v, e);

    *out = (int)v;
    return r;
}

static int ping(struct store *s, int write_probe, struct err *e)
{
    struct sqlite_store *ss = S(s);
    int v, r;

    r = schema_version(s, &v, e);
    if (r != 0 || !write_probe) {
        return r;
    }
    if (sqlite3_db_readonly(ss->db, "main") == 1) {
        return err_set(e, ERR_UNAVAILABLE, "store is read-only");
    }
    /* Take the write lock without waiting out the busy timeout: readiness
     * must answer quickly. */
    pthread_mutex_lock(&ss->mu);
    sqlite3_busy_timeout(ss->db, 50);
    r = exec(ss, "BEGIN IMMEDIATE", e);
    if (r == 0) {
        (void)exec(ss, "ROLLBACK", NULL);
    }
    sqlite3_busy_timeout(ss->db, ss->busy_timeout_ms);
    pthread_mutex_unlock(&ss->mu);
    return r;
}

/* ---- open, migrate, close ------------------------------------------------ */

static void sqlite_close(struct store *s)
{
    struct sqlite_store *ss = S(s);

    if (ss->db != NULL) {
        /* Checkpoint so the main file is whole without the WAL. */
        (void)sqlite3_wal_checkpoint_v2(ss->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close_v2(ss->db);
    }
    pthread_mutex_destroy(&ss->mu);
    free(ss);
}

void store_close(struct store *s)
{
    if (s != NULL) {
        s->ops->close(s);
    }
}

static const struct store_ops sqlite_ops = {
    .kind = "sqlite",
    .close = sqlite_close,
    .ping = ping,
    .schema_version = schema_version,
    .tx_begin = tx_begin,
    .tx_commit = tx_commit,
    .tx_rollback = tx_rollback,
    .human_insert = human_insert,
    .human_get = human_get,
    .human_list = human_list,
    .human_delete = human_delete,
    .team_insert = team_insert,
    .team_get = team_get,
    .team_list = team_list,
    .team_delete = team_delete,
    .agent_insert = agent_insert,
    .agent_get = agent_get,
    .agent_list = agent_list,
    .agent_delete = agent_delete,
    .apikey_insert = apikey_insert,
    .apikey_get = apikey_get,
    .apikey_count = apikey_count,
};

static int migrate(struct sqlite_store *ss, struct err *e)
{
    int v, r, i;
    char sql[160];

    r = exec(ss,
             "CREATE TABLE IF NOT EXISTS schema_version ("
             " version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
             e);
    if (r != 0) {
        return r;
    }
    r = schema_version(&ss->base, &v, e);
    if (r != 0) {
        return r;
    }
    if (v > NMIGRATIONS) {
        return err_set(e, ERR_UNSUPPORTED,
                       "store schema version %d is newer than this program knows (%d): "
                       "upgrade mandate",
                       v, NMIGRATIONS);
    }
    for (i = v; i < NMIGRATIONS; i++) {
        r = tx_begin(&ss->base, e);
        if (r != 0) {
            return r;
        }
        snprintf(sql, sizeof(sql), "INSERT INTO schema_version VALUES (%d, %lld)", i + 1,
                 (long long)clock_wall_ms());
        r = exec(ss, migrations[i], e);
        r = r ? r : exec(ss, sql, e);
        if (r != 0) {
            tx_rollback(&ss->base);
            return err_prefix(e, "migration %d: ", i + 1);
        }
        r = tx_commit(&ss->base, e);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

int store_sqlite_open(const char *path, const struct store_sqlite_options *opts, struct store **out,
                      struct err *e)
{
    struct sqlite_store *ss;
    pthread_mutexattr_t ma;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
    int rc, r;

    *out = NULL;
    ss = calloc(1, sizeof(*ss));
    if (ss == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    ss->base.ops = &sqlite_ops;
    ss->busy_timeout_ms = opts && opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&ss->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    if (opts && opts->create) {
        flags |= SQLITE_OPEN_CREATE;
    }
    rc = sqlite3_open_v2(path, &ss->db, flags, NULL);
    if (rc != SQLITE_OK) {
        r = err_set(e, ERR_UNAVAILABLE, "cannot open store %s: %s%s", path,
                    ss->db ? sqlite3_errmsg(ss->db) : sqlite3_errstr(rc),
                    opts && opts->create ? "" : " (run `mandate init` first)");
        sqlite_close(&ss->base);
        return r;
    }
    sqlite3_extended_result_codes(ss->db, 1);
    sqlite3_busy_timeout(ss->db, ss->busy_timeout_ms);
    r = exec(ss, "PRAGMA foreign_keys = ON", e);
    r = r ? r : exec(ss, "PRAGMA journal_mode = WAL", e);
    r = r ? r : exec(ss, "PRAGMA synchronous = FULL", e);
    r = r ? r : migrate(ss, e);
    if (r != 0) {
        err_prefix(e, "%s: ", path);
        sqlite_close(&ss->base);
        return r;
    }
    *out = &ss->base;
    return 0;
}
