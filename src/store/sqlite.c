/*
 * sqlite.c: the embedded SQLite implementation of store.h.
 *
 * One writer connection, WAL journal, a busy timeout, foreign keys on,
 * guarded by a recursive mutex (a transaction holds it from BEGIN to COMMIT,
 * so other writers wait rather than interleave).  Reads outside a
 * transaction go to a small pool of read-only connections
 * (LIMIT_STORE_READERS): WAL lets them read the last committed state while
 * the writer holds its transaction and syncs, so a lookup never queues
 * behind a commit's fsync.  A thread inside a transaction reads through the
 * writer (it must see its own uncommitted writes).  Every connection keeps
 * its prepared statements (LIMIT_STORE_STMT_CACHE) instead of compiling the
 * same SQL on every call.  Registry tables are described by
 * column tables (struct table) and read and written by four generic
 * functions, so a new table is a description, not another copy of the SQL
 * plumbing.  Migrations are numbered SQL scripts applied in one transaction
 * each; the schema_version table records which ran and when.
 */
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

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
    /* 2: the access path's registry: trust issuers, tools, intents,
     * entitlements, versioned policies, tasks, revocations, the audit trail;
     * agents gain their attesting issuer and status transitions. */
    "CREATE TABLE trust_issuers ("
    "  id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('spiffe','oidc')),"
    "  principals TEXT NOT NULL CHECK (principals IN ('agents','humans')),"
    "  issuer TEXT NOT NULL,"
    "  jwks_source TEXT NOT NULL CHECK (jwks_source IN ('inline','file','url')),"
    "  jwks TEXT NOT NULL, audiences TEXT NOT NULL, algs TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  CHECK (kind = 'oidc' OR principals = 'agents'));"
    "CREATE UNIQUE INDEX trust_issuers_issuer ON trust_issuers(principals, issuer);"
    "ALTER TABLE agents ADD COLUMN issuer TEXT REFERENCES trust_issuers(id);"
    "ALTER TABLE agents ADD COLUMN subject TEXT;"
    "ALTER TABLE agents ADD COLUMN status_changed_ms INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE agents ADD COLUMN status_reason TEXT;"
    "CREATE UNIQUE INDEX agents_subject ON agents(issuer, subject) WHERE issuer IS NOT NULL;"
    "CREATE TABLE tools ("
    "  id TEXT PRIMARY KEY, downstream TEXT NOT NULL,"
    "  sensitivity INTEGER NOT NULL CHECK (sensitivity BETWEEN 0 AND 3),"
    "  tool_group TEXT, description TEXT, created_ms INTEGER NOT NULL);"
    "CREATE TABLE intents ("
    "  id TEXT PRIMARY KEY, description TEXT, tools TEXT NOT NULL, data_labels TEXT NOT NULL,"
    "  downstream TEXT NOT NULL, max_ttl_s INTEGER NOT NULL CHECK (max_ttl_s > 0),"
    "  call_budget INTEGER NOT NULL CHECK (call_budget > 0),"
    "  rate_per_min INTEGER NOT NULL CHECK (rate_per_min > 0),"
    "  dpop_required INTEGER NOT NULL CHECK (dpop_required IN (0,1)),"
    "  on_drift TEXT NOT NULL CHECK (on_drift IN ('deny','revoke')),"
    "  needs_approval INTEGER NOT NULL CHECK (needs_approval IN (0,1)),"
    "  created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
    "CREATE TABLE intent_tools ("
    "  intent TEXT NOT NULL REFERENCES intents(id) ON DELETE CASCADE,"
    "  tool TEXT NOT NULL REFERENCES tools(id), PRIMARY KEY (intent, tool));"
    "CREATE INDEX intent_tools_tool ON intent_tools(tool);"
    "CREATE TABLE agent_entitlements ("
    "  agent TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,"
    "  intent TEXT NOT NULL REFERENCES intents(id),"
    "  created_ms INTEGER NOT NULL, created_by TEXT, PRIMARY KEY (agent, intent));"
    "CREATE INDEX agent_entitlements_intent ON agent_entitlements(intent);"
    "CREATE TABLE policies ("
    "  version INTEGER PRIMARY KEY, cedar TEXT NOT NULL, schema TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL, created_by TEXT,"
    "  active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0,1)),"
    "  activated_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE UNIQUE INDEX policies_one_active ON policies(active) WHERE active = 1;"
    "CREATE TABLE tasks ("
    "  id TEXT PRIMARY KEY, agent TEXT NOT NULL REFERENCES agents(id),"
    "  intent TEXT NOT NULL REFERENCES intents(id), on_behalf_of TEXT REFERENCES humans(id),"
    "  scope TEXT NOT NULL, parent TEXT REFERENCES tasks(id),"
    "  state TEXT NOT NULL"
    "    CHECK (state IN ('pending','active','completed','revoked','expired')),"
    "  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, jkt TEXT,"
    "  calls INTEGER NOT NULL DEFAULT 0, ended_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX tasks_live_expiry ON tasks(expires_ms) WHERE state IN ('pending','active');"
    "CREATE INDEX tasks_agent ON tasks(agent);"
    "CREATE TABLE revocations ("
    "  id TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('token','task')),"
    "  reason TEXT NOT NULL, time_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE audit ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL, event TEXT NOT NULL,"
    "  request_id TEXT, caller TEXT, actor_chain TEXT NOT NULL, agent TEXT, human TEXT,"
    "  intent TEXT, task TEXT, tool TEXT, action TEXT, resource TEXT, data_labels TEXT,"
    "  downstream TEXT, decision TEXT NOT NULL, reasons TEXT NOT NULL,"
    "  policy_version INTEGER NOT NULL DEFAULT 0, detail TEXT, prev_hash TEXT, hash TEXT);"
    "CREATE INDEX audit_time ON audit(time_ms);"
    "CREATE INDEX audit_agent ON audit(agent, seq);"
    "CREATE INDEX audit_task ON audit(task, seq);",
    /* 3: Mandate's token signing keys, encrypted under the KEK (envelopes).
     * Parenthesised: one string, not two elements (clang -Wstring-concatenation). */
    ("CREATE TABLE signing_keys ("
     "  kid TEXT PRIMARY KEY, envelope TEXT NOT NULL, created_ms INTEGER NOT NULL);"),
    /* 4: signed checkpoints of the audit chain (docs/audit.md). */
    ("CREATE TABLE audit_checkpoints ("
     "  seq INTEGER PRIMARY KEY, head TEXT NOT NULL, time_ms INTEGER NOT NULL,"
     "  jws TEXT NOT NULL);"),
    /* 5: audit queries (GET /v1/audit filters, docs/audit.md) and traces.
     * Every filter is an equality on one column, answered in seq order from
     * `after` with a LIMIT: a composite (column, seq) index serves it as one
     * range scan that stops after `limit` rows, with no sort, however big the
     * trail (the seq in the index is what makes paging cheap).  human,
     * intent, tool and downstream are NULL in most non-task records (registry
     * and policy changes, refusals), so those indexes are partial (WHERE col
     * IS NOT NULL): smaller, and `col = ?` implies the condition, so SQLite
     * still uses them.  event and decision are never NULL: full indexes.
     * agent and task have theirs since migration 2; `since` may read
     * audit_time instead (audit_by_time says when).  tasks_parent: the children of
     * a task, for traces.  (EXPLAIN QUERY PLAN of each form:
     * test_audit_query.c, through store_sqlite_audit_sql.) */
    ("CREATE INDEX audit_human ON audit(human, seq) WHERE human IS NOT NULL;"
     "CREATE INDEX audit_intent ON audit(intent, seq) WHERE intent IS NOT NULL;"
     "CREATE INDEX audit_tool ON audit(tool, seq) WHERE tool IS NOT NULL;"
     "CREATE INDEX audit_downstream ON audit(downstream, seq) WHERE downstream IS NOT NULL;"
     "CREATE INDEX audit_event ON audit(event, seq);"
     "CREATE INDEX audit_decision ON audit(decision, seq);"
     "CREATE INDEX tasks_parent ON tasks(parent, id) WHERE parent IS NOT NULL;"),
    /* 6 (issue 7):
     * engaged kill switches survive a restart (fail closed), and a
     * delegated task's carved budget and the calls its parent handed on. */
    ("CREATE TABLE killswitches ("
     "  id TEXT PRIMARY KEY,"
     "  scope TEXT NOT NULL CHECK (scope IN ('agent','owner','team','all')),"
     "  target TEXT, reason TEXT NOT NULL, engaged_by TEXT, engaged_ms INTEGER NOT NULL,"
     "  CHECK ((scope = 'all') = (target IS NULL)));"
     "ALTER TABLE tasks ADD COLUMN budget INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE tasks ADD COLUMN carved INTEGER NOT NULL DEFAULT 0;"),
};

#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int store_sqlite_latest_version(void)
{
    return NMIGRATIONS;
}

/* ---- the handle ---------------------------------------------------------- */

/* A connection's prepared statements, found by their SQL text. */
struct stmt_slot {
    char *sql;
    uint64_t hash;
    sqlite3_stmt *st;
    uint64_t used; /* for least-recently-used eviction */
};

struct stmt_cache {
    struct stmt_slot slot[LIMIT_STORE_STMT_CACHE];
    size_t n;
    uint64_t tick;
};

/* A read-only connection of the pool, used by one thread at a time. */
struct sqlite_reader {
    pthread_mutex_t mu;
    sqlite3 *db;
    struct stmt_cache sc;
};

struct sqlite_store {
    struct store base;
    sqlite3 *db; /* the writer */
    pthread_mutex_t mu;
    struct stmt_cache sc; /* the writer's statements, under mu */
    int busy_timeout_ms;
    struct sqlite_reader *readers; /* NULL: every read goes to the writer */
    size_t nreaders;
    atomic_uint next_reader;
    /* the checkpoint thread (with the pool only) */
    char *path;
    pthread_t ckpt_th;
    int ckpt_started;
    pthread_mutex_t ckpt_mu;
    pthread_cond_t ckpt_cv;
    int ckpt_pending, ckpt_stop;
    unsigned long ckpts;
};

/* The store whose write transaction this thread is in, if any: its reads
 * must go through the writer to see its own writes. */
static _Thread_local struct sqlite_store *tx_owner;

static struct sqlite_store *S(struct store *s)
{
    return (struct sqlite_store *)s;
}

static uint64_t sql_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    }
    return h;
}

static void stmt_cache_free(struct stmt_cache *c)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        sqlite3_finalize(c->slot[i].st);
        free(c->slot[i].sql);
    }
    c->n = 0;
}

/* Maps an SQLite result to our codes.  Locks, read-only files, full disks
 * and I/O errors are "unavailable": the request may succeed later. */
static int fail_db(sqlite3 *db, int rc, struct err *e, const char *what)
{
    int prim = rc & 0xff;
    const char *msg = sqlite3_errmsg(db);

    switch (prim) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_READONLY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_PROTOCOL:
        log_event(LOG_WARN, "store_unavailable", NULL, "what", what, "detail", msg,
                  (const char *)NULL);
        return err_set(e, ERR_UNAVAILABLE, "store unavailable: %s: %s", what, msg);
    case SQLITE_CONSTRAINT:
        return err_set(e, ERR_CONFLICT, "%s: %s", what, msg);
    default:
        return err_set(e, ERR_INTERNAL, "store: %s: %s", what, msg);
    }
}

static int fail(struct sqlite_store *ss, int rc, struct err *e, const char *what)
{
    return fail_db(ss->db, rc, e, what);
}

static int exec(struct sqlite_store *ss, const char *sql, struct err *e)
{
    char *msg = NULL;
    int rc = sqlite3_exec(ss->db, sql, NULL, NULL, &msg);

    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : fail(ss, rc, e, sql);
}

/* The prepared statement for sql on db, from the cache when it is there
 * (reset, bindings cleared); give it back with stmt_put. */
static int stmt_get(sqlite3 *db, struct stmt_cache *c, const char *sql, sqlite3_stmt **st,
                    struct err *e)
{
    uint64_t h = sql_hash(sql);
    struct stmt_slot *victim;
    char *copy;
    size_t i;
    int rc;

    *st = NULL;
    c->tick++;
    for (i = 0; i < c->n; i++) {
        if (c->slot[i].hash == h && strcmp(c->slot[i].sql, sql) == 0) {
            c->slot[i].used = c->tick;
            *st = c->slot[i].st;
            return 0;
        }
    }
    rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return fail_db(db, rc, e, "prepare");
    }
    copy = strdup(sql);
    if (copy == NULL) {
        return 0; /* works uncached: stmt_put finalizes what it cannot find */
    }
    if (c->n < LIMIT_STORE_STMT_CACHE) {
        victim = &c->slot[c->n++];
    } else {
        victim = &c->slot[0];
        for (i = 1; i < c->n; i++) {
            if (c->slot[i].used < victim->used) {
                victim = &c->slot[i];
            }
        }
        sqlite3_finalize(victim->st);
        free(victim->sql);
    }
    victim->sql = copy;
    victim->hash = h;
    victim->st = *st;
    victim->used = c->tick;
    return 0;
}

/* Gives a statement back to the cache c (finalized when c does not hold
 * it); st may be NULL. */
static void stmt_put(struct stmt_cache *c, sqlite3_stmt *st)
{
    size_t i;

    if (st == NULL) {
        return;
    }
    for (i = 0; i < c->n; i++) {
        if (c->slot[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            return;
        }
    }
    sqlite3_finalize(st);
}

static int prepare(struct sqlite_store *ss, const char *sql, sqlite3_stmt **st, struct err *e)
{
    return stmt_get(ss->db, &ss->sc, sql, st, e);
}

/* A connection for one read: a free reader of the pool, or the writer when
 * this thread is inside a write transaction (or there is no pool). */
struct rconn {
    sqlite3 *db;
    struct stmt_cache *sc;
    pthread_mutex_t *mu;
};

static void read_begin(struct sqlite_store *ss, struct rconn *c)
{
    size_t i, start;

    if (ss->nreaders == 0 || tx_owner == ss) {
        pthread_mutex_lock(&ss->mu);
        c->db = ss->db;
        c->sc = &ss->sc;
        c->mu = &ss->mu;
        return;
    }
    start = atomic_fetch_add(&ss->next_reader, 1) % ss->nreaders;
    for (i = 0; i < ss->nreaders; i++) {
        struct sqlite_reader *r = &ss->readers[(start + i) % ss->nreaders];
        if (pthread_mutex_trylock(&r->mu) == 0) {
            c->db = r->db;
            c->sc = &r->sc;
            c->mu = &r->mu;
            return;
        }
    }
    pthread_mutex_lock(&ss->readers[start].mu);
    c->db = ss->readers[start].db;
    c->sc = &ss->readers[start].sc;
    c->mu = &ss->readers[start].mu;
}

static void read_end(struct rconn *c)
{
    pthread_mutex_unlock(c->mu);
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
    } else {
        tx_owner = ss;
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
    tx_owner = NULL;
    pthread_mutex_unlock(&ss->mu);
    return r;
}

static void tx_rollback(struct store *s)
{
    struct sqlite_store *ss = S(s);

    (void)exec(ss, "ROLLBACK", NULL);
    tx_owner = NULL;
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

/* COL_SEQ: an INTEGER PRIMARY KEY the store assigns (bound NULL when 0). */
enum col_type { COL_TEXT, COL_TEXT_NULL, COL_INT, COL_HASH, COL_SEQ };

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
    COL(store_agent, id, COL_TEXT),
    COL(store_agent, owner, COL_TEXT),
    COL(store_agent, team, COL_TEXT_NULL),
    COL(store_agent, purpose, COL_TEXT),
    COL(store_agent, environment, COL_TEXT),
    COL(store_agent, risk_tier, COL_INT),
    COL(store_agent, status, COL_TEXT),
    COL(store_agent, created_ms, COL_INT),
    COL(store_agent, issuer, COL_TEXT_NULL),
    COL(store_agent, subject, COL_TEXT_NULL),
    COL(store_agent, status_changed_ms, COL_INT),
    COL(store_agent, status_reason, COL_TEXT_NULL),
};
static const struct col issuer_cols[] = {
    COL(store_issuer, id, COL_TEXT),          COL(store_issuer, kind, COL_TEXT),
    COL(store_issuer, principals, COL_TEXT),  COL(store_issuer, issuer, COL_TEXT),
    COL(store_issuer, jwks_source, COL_TEXT), COL(store_issuer, jwks, COL_TEXT),
    COL(store_issuer, audiences, COL_TEXT),   COL(store_issuer, algs, COL_TEXT),
    COL(store_issuer, created_ms, COL_INT),
};
static const struct col tool_cols[] = {
    COL(store_tool, id, COL_TEXT),
    COL(store_tool, downstream, COL_TEXT),
    COL(store_tool, sensitivity, COL_INT),
    COL(store_tool, tool_group, COL_TEXT_NULL),
    COL(store_tool, description, COL_TEXT_NULL),
    COL(store_tool, created_ms, COL_INT),
};
static const struct col intent_cols[] = {
    COL(store_intent, id, COL_TEXT),
    COL(store_intent, description, COL_TEXT_NULL),
    COL(store_intent, tools, COL_TEXT),
    COL(store_intent, data_labels, COL_TEXT),
    COL(store_intent, downstream, COL_TEXT),
    COL(store_intent, max_ttl_s, COL_INT),
    COL(store_intent, call_budget, COL_INT),
    COL(store_intent, rate_per_min, COL_INT),
    COL(store_intent, dpop_required, COL_INT),
    COL(store_intent, on_drift, COL_TEXT),
    COL(store_intent, needs_approval, COL_INT),
    COL(store_intent, created_ms, COL_INT),
    COL(store_intent, updated_ms, COL_INT),
};
static const struct col entitlement_cols[] = {
    COL(store_entitlement, agent, COL_TEXT),
    COL(store_entitlement, intent, COL_TEXT),
    COL(store_entitlement, created_ms, COL_INT),
    COL(store_entitlement, created_by, COL_TEXT_NULL),
};
static const struct col policy_cols[] = {
    COL(store_policy, version, COL_SEQ),          COL(store_policy, cedar, COL_TEXT),
    COL(store_policy, schema, COL_TEXT),          COL(store_policy, created_ms, COL_INT),
    COL(store_policy, created_by, COL_TEXT_NULL), COL(store_policy, active, COL_INT),
    COL(store_policy, activated_ms, COL_INT),
};
static const struct col task_cols[] = {
    COL(store_task, id, COL_TEXT),        COL(store_task, agent, COL_TEXT),
    COL(store_task, intent, COL_TEXT),    COL(store_task, on_behalf_of, COL_TEXT_NULL),
    COL(store_task, scope, COL_TEXT),     COL(store_task, parent, COL_TEXT_NULL),
    COL(store_task, state, COL_TEXT),     COL(store_task, created_ms, COL_INT),
    COL(store_task, expires_ms, COL_INT), COL(store_task, jkt, COL_TEXT_NULL),
    COL(store_task, calls, COL_INT),      COL(store_task, ended_ms, COL_INT),
    COL(store_task, budget, COL_INT),     COL(store_task, carved, COL_INT),
};
static const struct col killswitch_cols[] = {
    COL(store_killswitch, id, COL_TEXT),
    COL(store_killswitch, scope, COL_TEXT),
    COL(store_killswitch, target, COL_TEXT_NULL),
    COL(store_killswitch, reason, COL_TEXT),
    COL(store_killswitch, engaged_by, COL_TEXT_NULL),
    COL(store_killswitch, engaged_ms, COL_INT),
};
static const struct col revocation_cols[] = {
    COL(store_revocation, id, COL_TEXT),        COL(store_revocation, kind, COL_TEXT),
    COL(store_revocation, reason, COL_TEXT),    COL(store_revocation, time_ms, COL_INT),
    COL(store_revocation, expires_ms, COL_INT),
};
static const struct col audit_cols[] = {
    COL(store_audit, seq, COL_SEQ),
    COL(store_audit, time_ms, COL_INT),
    COL(store_audit, event, COL_TEXT),
    COL(store_audit, request_id, COL_TEXT_NULL),
    COL(store_audit, caller, COL_TEXT_NULL),
    COL(store_audit, actor_chain, COL_TEXT),
    COL(store_audit, agent, COL_TEXT_NULL),
    COL(store_audit, human, COL_TEXT_NULL),
    COL(store_audit, intent, COL_TEXT_NULL),
    COL(store_audit, task, COL_TEXT_NULL),
    COL(store_audit, tool, COL_TEXT_NULL),
    COL(store_audit, action, COL_TEXT_NULL),
    COL(store_audit, resource, COL_TEXT_NULL),
    COL(store_audit, data_labels, COL_TEXT_NULL),
    COL(store_audit, downstream, COL_TEXT_NULL),
    COL(store_audit, decision, COL_TEXT),
    COL(store_audit, reasons, COL_TEXT),
    COL(store_audit, policy_version, COL_INT),
    COL(store_audit, detail, COL_TEXT_NULL),
    COL(store_audit, prev_hash, COL_TEXT_NULL),
    COL(store_audit, hash, COL_TEXT_NULL),
};
static const struct col checkpoint_cols[] = {
    COL(store_audit_checkpoint, seq, COL_INT),
    COL(store_audit_checkpoint, head, COL_TEXT),
    COL(store_audit_checkpoint, time_ms, COL_INT),
    COL(store_audit_checkpoint, jws, COL_TEXT),
};
static const struct col signing_key_cols[] = {
    COL(store_signing_key, kid, COL_TEXT),
    COL(store_signing_key, envelope, COL_TEXT),
    COL(store_signing_key, created_ms, COL_INT),
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
static const struct table T_ISSUERS =
    TABLE("trust_issuers", "trust issuer", issuer_cols, store_issuer);
static const struct table T_TOOLS = TABLE("tools", "tool", tool_cols, store_tool);
static const struct table T_INTENTS = TABLE("intents", "intent", intent_cols, store_intent);
static const struct table T_ENTITLEMENTS =
    TABLE("agent_entitlements", "entitlement", entitlement_cols, store_entitlement);
static const struct table T_POLICIES = TABLE("policies", "policy", policy_cols, store_policy);
static const struct table T_TASKS = TABLE("tasks", "task", task_cols, store_task);
static const struct table T_REVOCATIONS =
    TABLE("revocations", "revocation", revocation_cols, store_revocation);
static const struct table T_AUDIT = TABLE("audit", "audit record", audit_cols, store_audit);
static const struct table T_CHECKPOINTS =
    TABLE("audit_checkpoints", "audit checkpoint", checkpoint_cols, store_audit_checkpoint);
static const struct table T_SIGNING_KEYS =
    TABLE("signing_keys", "signing key", signing_key_cols, store_signing_key);
static const struct table T_KILLSWITCHES =
    TABLE("killswitches", "kill switch", killswitch_cols, store_killswitch);

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
        case COL_SEQ:
            rc = *(const int64_t *)f ? sqlite3_bind_int64(st, k, *(const int64_t *)f)
                                     : sqlite3_bind_null(st, k);
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
        case COL_SEQ:
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

/* INSERT one record; *rowid (may be NULL) gets the row id SQLite assigned. */
static int row_insert_id(struct store *s, const struct table *t, const void *rec, int64_t *rowid,
                         struct err *e)
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
            if (r == ERR_CONFLICT && t->cols[0].type != COL_SEQ) {
                err_set(e, ERR_CONFLICT, "%s \"%s\" already exists or names a missing record",
                        t->what, *(const char *const *)rec);
            }
        } else if (rowid != NULL) {
            *rowid = sqlite3_last_insert_rowid(ss->db);
        }
    }
    stmt_put(&ss->sc, st);
    pthread_mutex_unlock(&ss->mu);
    buf_free(&sql);
    return r;
}

static int row_insert(struct store *s, const struct table *t, const void *rec, struct err *e)
{
    return row_insert_id(s, t, rec, NULL, e);
}

/* UPDATE every column but the key (cols[0]) of the record the key names. */
static int row_update(struct store *s, const struct table *t, const void *rec, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct buf sql;
    size_t i;
    int r, rc;

    buf_init(&sql, 4096);
    r = buf_printf(&sql, "UPDATE %s SET ", t->name);
    for (i = 1; i < t->ncols && r == 0; i++) {
        r = buf_printf(&sql, "%s%s = ?%zu", i > 1 ? ", " : "", t->cols[i].name, i + 1);
    }
    r = r ? r : buf_printf(&sql, " WHERE %s = ?1", t->cols[0].name);
    if (r != 0) {
        buf_free(&sql);
        return err_set(e, ERR_INTERNAL, "store: building SQL failed");
    }
    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql.data, &st, e);
    if (r == 0) {
        rc = bind_cols(st, t, rec);
        rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
        if (rc != SQLITE_DONE) {
            r = fail(ss, rc, e, t->what);
        } else if (sqlite3_changes(ss->db) == 0) {
            r = err_set(e, ERR_NOTFOUND, "no %s \"%s\"", t->what, *(const char *const *)rec);
        }
    }
    stmt_put(&ss->sc, st);
    pthread_mutex_unlock(&ss->mu);
    buf_free(&sql);
    return r;
}

/* Runs one statement with text parameters ?1..?np (NULL binds NULL) and an
 * integer ?np+1 (when has_int); *changes (may be NULL) gets the rows changed. */
static int run_sql(struct store *s, const char *sql, const char *const *params, size_t np,
                   int has_int, int64_t iv, int64_t *changes, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    size_t i;
    int r, rc = SQLITE_OK;

    pthread_mutex_lock(&ss->mu);
    r = prepare(ss, sql, &st, e);
    if (r == 0) {
        for (i = 0; i < np && rc == SQLITE_OK; i++) {
            rc = params[i] ? sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC)
                           : sqlite3_bind_null(st, (int)i + 1);
        }
        if (rc == SQLITE_OK && has_int) {
            rc = sqlite3_bind_int64(st, (int)np + 1, iv);
        }
        rc = rc == SQLITE_OK ? sqlite3_step(st) : rc;
        if (rc != SQLITE_DONE) {
            r = fail(ss, rc, e, "statement");
        } else if (changes != NULL) {
            *changes = sqlite3_changes(ss->db);
        }
    }
    stmt_put(&ss->sc, st);
    pthread_mutex_unlock(&ss->mu);
    return r;
}

/* SELECT cols FROM t <tail>, binding text params ?1..?np and the row limit
 * as ?np+1; collects up to limit rows. */
static int row_select(struct store *s, const struct table *t, const char *tail,
                      const char *const *params, size_t np, int64_t limit, struct arena *a,
                      void **out, size_t *n, struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct rconn c;
    struct buf sql;
    char *items = NULL;
    size_t count = 0, i;
    int r, rc = SQLITE_OK;

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
    read_begin(ss, &c);
    r = stmt_get(c.db, c.sc, sql.data, &st, e);
    if (r == 0) {
        for (i = 0; i < np && rc == SQLITE_OK; i++) {
            rc = params[i] ? sqlite3_bind_text(st, (int)i + 1, params[i], -1, SQLITE_STATIC)
                           : sqlite3_bind_null(st, (int)i + 1);
        }
        if (rc == SQLITE_OK) {
            rc = sqlite3_bind_int64(st, (int)np + 1, limit);
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
            r = fail_db(c.db, rc, e, t->what);
        }
    }
    stmt_put(c.sc, st);
    read_end(&c);
    buf_free(&sql);
    if (r == 0) {
        *out = items;
        *n = count;
    }
    return r;
}

/* The first row of a select, or ERR_NOTFOUND naming `id`. */
static int row_one(struct store *s, const struct table *t, const char *tail,
                   const char *const *params, size_t np, const char *id, struct arena *a, void *out,
                   struct err *e)
{
    void *items;
    size_t n;
    int r = row_select(s, t, tail, params, np, 1, a, &items, &n, e);

    if (r != 0) {
        return r;
    }
    if (n == 0) {
        return err_set(e, ERR_NOTFOUND, "no %s \"%s\"", t->what, id);
    }
    memcpy(out, items, t->size);
    return 0;
}

static int row_get(struct store *s, const struct table *t, const char *id, struct arena *a,
                   void *out, struct err *e)
{
    return row_one(s, t, "WHERE id = ?1 LIMIT ?2", &id, 1, id, a, out, e);
}

static int row_list(struct store *s, const struct table *t, const struct store_page *p,
                    struct arena *a, void **out, size_t *n, struct err *e)
{
    size_t limit = p->limit == 0 || p->limit > LIMIT_LIST_PAGE_MAX ? LIMIT_LIST_PAGE_MAX : p->limit;

    return row_select(s, t, "WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2", &p->after, 1,
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
    stmt_put(&ss->sc, st);
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
ROW_OPS(issuer, T_ISSUERS, store_issuer)
ROW_OPS(tool, T_TOOLS, store_tool)
ROW_OPS(intent, T_INTENTS, store_intent)

static size_t page_limit(const struct store_page *p)
{
    return p->limit == 0 || p->limit > LIMIT_LIST_PAGE_MAX ? LIMIT_LIST_PAGE_MAX : p->limit;
}

/* ---- agents and humans (migration 2) ---------------------------------------- */

static int human_update(struct store *s, const struct store_human *h, struct err *e)
{
    return row_update(s, &T_HUMANS, h, e);
}

static int agent_update(struct store *s, const struct store_agent *ag, struct err *e)
{
    return row_update(s, &T_AGENTS, ag, e);
}

static int agent_list_owner(struct store *s, const char *owner, const struct store_page *p,
                            struct arena *a, struct store_agent **out, size_t *n, struct err *e)
{
    const char *params[] = {owner, p->after};

    return row_select(s, &T_AGENTS,
                      "WHERE owner = ?1 AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3", params,
                      2, (int64_t)page_limit(p), a, (void **)out, n, e);
}

static int agent_by_subject(struct store *s, const char *issuer, const char *subject,
                            struct arena *a, struct store_agent *out, struct err *e)
{
    const char *params[] = {issuer, subject};

    return row_one(s, &T_AGENTS, "WHERE issuer = ?1 AND subject = ?2 LIMIT ?3", params, 2, subject,
                   a, out, e);
}

/* ---- intents' tools and agents' entitlements --------------------------------- */

static int intent_update(struct store *s, const struct store_intent *x, struct err *e)
{
    return row_update(s, &T_INTENTS, x, e);
}

static int intent_tools_set(struct store *s, const char *intent, const char *const *tools, size_t n,
                            struct err *e)
{
    size_t i;
    int r = run_sql(s, "DELETE FROM intent_tools WHERE intent = ?1", &intent, 1, 0, 0, NULL, e);

    for (i = 0; i < n && r == 0; i++) {
        const char *params[] = {intent, tools[i]};
        r = run_sql(s, "INSERT INTO intent_tools (intent, tool) VALUES (?1, ?2)", params, 2, 0, 0,
                    NULL, e);
        if (r == ERR_CONFLICT) {
            r = err_set(e, ERR_CONFLICT, "intent \"%s\": tool \"%s\" is not registered", intent,
                        tools[i]);
        }
    }
    return r;
}

static int entitlement_insert(struct store *s, const struct store_entitlement *x, struct err *e)
{
    int r = row_insert(s, &T_ENTITLEMENTS, x, e);

    if (r == ERR_CONFLICT) {
        err_set(e, ERR_CONFLICT, "agent \"%s\" is already entitled to intent \"%s\"", x->agent,
                x->intent);
    }
    return r;
}

static int entitlement_delete(struct store *s, const char *agent, const char *intent, struct err *e)
{
    const char *params[] = {agent, intent};
    int64_t n = 0;
    int r = run_sql(s, "DELETE FROM agent_entitlements WHERE agent = ?1 AND intent = ?2", params, 2,
                    0, 0, &n, e);

    if (r == 0 && n == 0) {
        r = err_set(e, ERR_NOTFOUND, "agent \"%s\" has no entitlement to intent \"%s\"", agent,
                    intent);
    }
    return r;
}

static int entitlement_list(struct store *s, const char *agent, struct arena *a,
                            struct store_entitlement **out, size_t *n, struct err *e)
{
    return row_select(s, &T_ENTITLEMENTS, "WHERE agent = ?1 ORDER BY intent LIMIT ?2", &agent, 1,
                      LIMIT_LIST_PAGE_MAX, a, (void **)out, n, e);
}

static int entitlement_clear(struct store *s, const char *agent, int64_t *n, struct err *e)
{
    return run_sql(s, "DELETE FROM agent_entitlements WHERE agent = ?1", &agent, 1, 0, 0, n, e);
}

/* ---- policies ------------------------------------------------------------------ */

static int policy_insert(struct store *s, const struct store_policy *p, int64_t *version,
                         struct err *e)
{
    struct store_policy q = *p;

    q.version = 0; /* INTEGER PRIMARY KEY without AUTOINCREMENT: max + 1 */
    q.active = 0;
    q.activated_ms = 0;
    return row_insert_id(s, &T_POLICIES, &q, version, e);
}

static int policy_get(struct store *s, int64_t version, struct arena *a, struct store_policy *out,
                      struct err *e)
{
    char v[24];
    const char *pv = v;

    snprintf(v, sizeof(v), "%lld", (long long)version);
    return row_one(s, &T_POLICIES, "WHERE version = CAST(?1 AS INTEGER) LIMIT ?2", &pv, 1, v, a,
                   out, e);
}

static int policy_get_active(struct store *s, struct arena *a, struct store_policy *out,
                             struct err *e)
{
    return row_one(s, &T_POLICIES, "WHERE active = 1 LIMIT ?1", NULL, 0, "active", a, out, e);
}

static int policy_list(struct store *s, int64_t after, size_t limit, struct arena *a,
                       struct store_policy **out, size_t *n, struct err *e)
{
    char v[24];
    const char *pv = v;

    snprintf(v, sizeof(v), "%lld", (long long)after);
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    return row_select(s, &T_POLICIES,
                      "WHERE version > CAST(?1 AS INTEGER) ORDER BY version LIMIT ?2", &pv, 1,
                      (int64_t)limit, a, (void **)out, n, e);
}

/* Two statements; callers run it inside store_tx so no reader sees none active. */
static int policy_activate(struct store *s, int64_t version, int64_t now_ms, struct err *e)
{
    char v[24];
    const char *pv = v;
    int64_t n = 0;
    int r;

    snprintf(v, sizeof(v), "%lld", (long long)version);
    r = run_sql(s,
                "UPDATE policies SET active = 0 WHERE active = 1 AND version <> CAST(?1 AS "
                "INTEGER)",
                &pv, 1, 0, 0, NULL, e);
    r = r ? r
          : run_sql(s,
                    "UPDATE policies SET active = 1, activated_ms = ?2"
                    " WHERE version = CAST(?1 AS INTEGER)",
                    &pv, 1, 1, now_ms, &n, e);
    if (r == 0 && n == 0) {
        r = err_set(e, ERR_NOTFOUND, "no policy version %s", v);
    }
    return r;
}

/* ---- tasks and revocations -------------------------------------------------------- */

static int task_insert(struct store *s, const struct store_task *t, struct err *e)
{
    return row_insert(s, &T_TASKS, t, e);
}

static int task_get(struct store *s, const char *id, struct arena *a, struct store_task *out,
                    struct err *e)
{
    return row_get(s, &T_TASKS, id, a, out, e);
}

static int task_revoke_agent(struct store *s, const char *agent, const char *reason, int64_t now_ms,
                             int64_t *n, struct err *e)
{
    const char *params[] = {agent, reason};
    int r;

    *n = 0;
    r = run_sql(s,
                "INSERT OR IGNORE INTO revocations (id, kind, reason, time_ms, expires_ms)"
                " SELECT id, 'task', ?2, ?3, expires_ms FROM tasks"
                " WHERE agent = ?1 AND state IN ('pending','active')",
                params, 2, 1, now_ms, NULL, e);
    return r ? r
             : run_sql(s,
                       "UPDATE tasks SET state = 'revoked', ended_ms = ?2"
                       " WHERE agent = ?1 AND state IN ('pending','active')",
                       params, 1, 1, now_ms, n, e);
}

static int task_sweep(struct store *s, int64_t now_ms, size_t max, int64_t *n, struct err *e)
{
    char m[24];
    const char *pm = m;

    *n = 0;
    snprintf(m, sizeof(m), "%zu", max);
    return run_sql(s,
                   "UPDATE tasks SET state = 'expired', ended_ms = ?2 WHERE id IN ("
                   " SELECT id FROM tasks INDEXED BY tasks_live_expiry"
                   " WHERE state IN ('pending','active') AND expires_ms <= ?2"
                   " LIMIT CAST(?1 AS INTEGER))",
                   &pm, 1, 1, now_ms, n, e);
}

static int revocation_insert(struct store *s, const struct store_revocation *x, struct err *e)
{
    return row_insert(s, &T_REVOCATIONS, x, e);
}

static int revocation_get(struct store *s, const char *id, struct arena *a,
                          struct store_revocation *out, struct err *e)
{
    return row_get(s, &T_REVOCATIONS, id, a, out, e);
}

/* ---- task lifecycle (the access path) ------------------------------------------------ */

static int task_update(struct store *s, const struct store_task *t, struct err *e)
{
    return row_update(s, &T_TASKS, t, e);
}

static int task_set_calls(struct store *s, const char *id, int64_t calls, struct err *e)
{
    const char *params[] = {id};
    int64_t n = 0;
    int r = run_sql(s, "UPDATE tasks SET calls = ?2 WHERE id = ?1", params, 1, 1, calls, &n, e);

    return r ? r : n == 0 ? err_set(e, ERR_NOTFOUND, "no task \"%s\"", id) : 0;
}

static int task_list(struct store *s, const char *owner, const char *agent,
                     const struct store_page *p, struct arena *a, struct store_task **out,
                     size_t *n, struct err *e)
{
    const char *params[] = {owner, agent, p->after};

    return row_select(s, &T_TASKS,
                      "WHERE (?1 IS NULL OR agent IN (SELECT id FROM agents WHERE owner = ?1))"
                      " AND (?2 IS NULL OR agent = ?2) AND (?3 IS NULL OR id > ?3)"
                      " ORDER BY id LIMIT ?4",
                      params, 3, (int64_t)page_limit(p), a, (void **)out, n, e);
}

static int task_list_unexpired(struct store *s, int64_t now_ms, const struct store_page *p,
                               struct arena *a, struct store_task **out, size_t *n, struct err *e)
{
    char now[24];
    const char *params[] = {now, p->after};

    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    return row_select(s, &T_TASKS,
                      "WHERE expires_ms > CAST(?1 AS INTEGER) AND (?2 IS NULL OR id > ?2)"
                      " ORDER BY id LIMIT ?3",
                      params, 2, (int64_t)page_limit(p), a, (void **)out, n, e);
}

static int revocation_list(struct store *s, int64_t now_ms, const struct store_page *p,
                           struct arena *a, struct store_revocation **out, size_t *n, struct err *e)
{
    char now[24];
    const char *params[] = {now, p->after};

    snprintf(now, sizeof(now), "%lld", (long long)now_ms);
    return row_select(s, &T_REVOCATIONS,
                      "WHERE (expires_ms = 0 OR expires_ms > CAST(?1 AS INTEGER))"
                      " AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3",
                      params, 2, (int64_t)page_limit(p), a, (void **)out, n, e);
}

/* ---- signing keys (migration 3) ------------------------------------------------------ */

static int signing_key_insert(struct store *s, const struct store_signing_key *k, struct err *e)
{
    return row_insert(s, &T_SIGNING_KEYS, k, e);
}

static int signing_key_list(struct store *s, struct arena *a, struct store_signing_key **out,
                            size_t *n, struct err *e)
{
    return row_select(s, &T_SIGNING_KEYS, "ORDER BY created_ms, kid LIMIT ?1", NULL, 0,
                      LIMIT_LIST_PAGE_MAX, a, (void **)out, n, e);
}

/* ---- kill switches and carved budgets (migration 6) ---------------------------------- */

static int killswitch_insert(struct store *s, const struct store_killswitch *k, struct err *e)
{
    const char *params[] = {k->id, k->scope, k->target, k->reason, k->engaged_by};

    /* engaged already: the stored row (the first reason) stays */
    return run_sql(s,
                   "INSERT INTO killswitches (id, scope, target, reason, engaged_by, engaged_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
                   params, 5, 1, k->engaged_ms, NULL, e);
}

static int killswitch_delete(struct store *s, const char *id, struct err *e)
{
    return row_delete(s, &T_KILLSWITCHES, id, e);
}

static int killswitch_list(struct store *s, struct arena *a, struct store_killswitch **out,
                           size_t *n, struct err *e)
{
    return row_select(s, &T_KILLSWITCHES, "ORDER BY id LIMIT ?1", NULL, 0, LIMIT_LIST_PAGE_MAX, a,
                      (void **)out, n, e);
}

static int task_carved_raise(struct store *s, const char *id, int64_t carved, struct err *e)
{
    int64_t n = 0;
    int r = run_sql(s, "UPDATE tasks SET carved = MAX(carved, ?2) WHERE id = ?1", &id, 1, 1, carved,
                    &n, e);

    if (r == 0 && n == 0) {
        r = err_set(e, ERR_NOTFOUND, "no task \"%s\"", id);
    }
    return r;
}

static int signing_key_delete(struct store *s, const char *kid, struct err *e)
{
    int64_t n = 0;
    int r = run_sql(s, "DELETE FROM signing_keys WHERE kid = ?1", &kid, 1, 0, 0, &n, e);

    if (r == 0 && n == 0) {
        r = err_set(e, ERR_NOTFOUND, "no signing key \"%s\"", kid);
    }
    return r;
}

/* ---- audit ---------------------------------------------------------------------------- */

static int audit_head(struct store *s, int64_t *seq, char head[STORE_AUDIT_HASH_HEX + 1],
                      struct err *e)
{
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct rconn c;
    int r, rc;

    *seq = 0;
    head[0] = '\0';
    read_begin(ss, &c);
    r = stmt_get(c.db, c.sc, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st, e);
    if (r == 0) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *h = sqlite3_column_text(st, 1);
            *seq = sqlite3_column_int64(st, 0);
            if (h != NULL && sqlite3_column_bytes(st, 1) == STORE_AUDIT_HASH_HEX) {
                memcpy(head, h, STORE_AUDIT_HASH_HEX + 1);
            }
        } else if (rc != SQLITE_DONE) {
            r = fail_db(c.db, rc, e, "audit head");
        }
    }
    stmt_put(c.sc, st);
    read_end(&c);
    return r;
}

struct append_ctx {
    const struct store_audit *r;
    int64_t *seq;
};

/* Inside the writer's transaction (so in seq order, one at a time): the
 * record is linked to the current head and its hash set before commit. */
static int audit_append_in(struct store *s, void *ctx, struct err *e)
{
    struct append_ctx *x = ctx;
    struct store_audit q = *x->r;
    char prev[STORE_AUDIT_HASH_HEX + 1], h[STORE_AUDIT_HASH_HEX + 1];
    const char *params[1];
    int64_t last, id = 0;
    int r;

    r = audit_head(s, &last, prev, e);
    if (r != 0) {
        return r;
    }
    q.seq = 0; /* AUTOINCREMENT: never reused, even after a delete */
    q.prev_hash = last > 0 && prev[0] != '\0' ? prev : store_audit_genesis;
    q.hash = NULL;
    r = row_insert_id(s, &T_AUDIT, &q, &id, e);
    if (r != 0) {
        return r;
    }
    q.seq = id;
    if (store_audit_hash(&q, q.prev_hash, h) != 0) {
        return err_set(e, ERR_LIMIT, "audit record %lld: larger than %d bytes", (long long)id,
                       LIMIT_AUDIT_RECORD_MAX);
    }
    params[0] = h;
    r = run_sql(s, "UPDATE audit SET hash = ?1 WHERE seq = ?2", params, 1, 1, id, NULL, e);
    if (r == 0 && x->seq != NULL) {
        *x->seq = id;
    }
    return r;
}

static int audit_append(struct store *s, const struct store_audit *r, int64_t *seq, struct err *e)
{
    struct append_ctx x = {r, seq};

    if (tx_owner != S(s)) {
        return store_tx(s, audit_append_in, &x, e);
    }
    return audit_append_in(s, &x, e);
}

static int audit_checkpoint_insert(struct store *s, const struct store_audit_checkpoint *c,
                                   struct err *e)
{
    return row_insert(s, &T_CHECKPOINTS, c, e);
}

static int audit_checkpoint_list(struct store *s, int64_t after, size_t limit, struct arena *a,
                                 struct store_audit_checkpoint **out, size_t *n, struct err *e)
{
    char v[24];
    const char *pv = v;

    snprintf(v, sizeof(v), "%lld", (long long)after);
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    return row_select(s, &T_CHECKPOINTS, "WHERE seq > CAST(?1 AS INTEGER) ORDER BY seq LIMIT ?2",
                      &pv, 1, (int64_t)limit, a, (void **)out, n, e);
}

static int audit_checkpoint_last(struct store *s, struct arena *a,
                                 struct store_audit_checkpoint *out, struct err *e)
{
    return row_one(s, &T_CHECKPOINTS, "ORDER BY seq DESC LIMIT ?1", NULL, 0, "(last)", a, out, e);
}

static int audit_checkpoint_before(struct store *s, int64_t max_seq, int64_t before_ms,
                                   struct arena *a, struct store_audit_checkpoint *out,
                                   struct err *e)
{
    char v1[24], v2[24];
    const char *pv[2] = {v1, v2};

    snprintf(v1, sizeof(v1), "%lld", (long long)max_seq);
    snprintf(v2, sizeof(v2), "%lld", (long long)before_ms);
    return row_one(s, &T_CHECKPOINTS,
                   "WHERE seq <= CAST(?1 AS INTEGER) AND time_ms < CAST(?2 AS INTEGER)"
                   " ORDER BY seq DESC LIMIT ?3",
                   pv, 2, "(before the cutoff)", a, out, e);
}

static int audit_prune(struct store *s, int64_t upto, int64_t *deleted, struct err *e)
{
    return run_sql(s, "DELETE FROM audit WHERE seq <= ?1", NULL, 0, 1, upto, deleted, e);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

#define SCAN_MMAP_STR2(x) #x
#define SCAN_MMAP_STR(x) SCAN_MMAP_STR2(x)

/* One statement stepped in seq order, its columns handed over in place: no
 * copy and no allocation per record (`mandate audit verify` over millions). */
static int audit_scan(struct store *s, int64_t after, int64_t upto,
                      int (*fn)(void *ctx, const struct store_audit *r), void *ctx, struct err *e)
{
    static const char sql[] =
        "SELECT seq, time_ms, event, request_id, caller, actor_chain, agent, human, intent,"
        " task, tool, action, resource, data_labels, downstream, decision, reasons,"
        " policy_version, detail, prev_hash, hash FROM audit WHERE seq > ?1 AND seq <= ?2"
        " ORDER BY seq";
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct store_audit q;
    struct rconn c;
    int r, rc = SQLITE_DONE;

    read_begin(ss, &c);
    /* Pages mapped rather than copied in by read(2): the scan reads the
     * whole table once (about half the time of a plain scan).  Only for the
     * scan: the connection goes back to the pool as it was. */
    sqlite3_exec(c.db, "PRAGMA mmap_size = " SCAN_MMAP_STR(LIMIT_AUDIT_SCAN_MMAP), NULL, NULL,
                 NULL);
    r = stmt_get(c.db, c.sc, sql, &st, e);
    if (r == 0 && ((rc = sqlite3_bind_int64(st, 1, after)) != SQLITE_OK ||
                   (rc = sqlite3_bind_int64(st, 2, upto)) != SQLITE_OK)) {
        r = fail_db(c.db, rc, e, "audit scan");
    }
    while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        q.seq = sqlite3_column_int64(st, 0);
        q.time_ms = sqlite3_column_int64(st, 1);
        q.event = col_text(st, 2);
        q.request_id = col_text(st, 3);
        q.caller = col_text(st, 4);
        q.actor_chain = col_text(st, 5);
        q.agent = col_text(st, 6);
        q.human = col_text(st, 7);
        q.intent = col_text(st, 8);
        q.task = col_text(st, 9);
        q.tool = col_text(st, 10);
        q.action = col_text(st, 11);
        q.resource = col_text(st, 12);
        q.data_labels = col_text(st, 13);
        q.downstream = col_text(st, 14);
        q.decision = col_text(st, 15);
        q.reasons = col_text(st, 16);
        q.policy_version = sqlite3_column_int64(st, 17);
        q.detail = col_text(st, 18);
        q.prev_hash = col_text(st, 19);
        q.hash = col_text(st, 20);
        r = fn(ctx, &q);
        if (r != 0) {
            break;
        }
    }
    if (r == 0 && rc != SQLITE_DONE) {
        r = fail_db(c.db, rc, e, "audit scan");
    }
    stmt_put(c.sc, st);
    sqlite3_exec(c.db, "PRAGMA mmap_size = 0", NULL, NULL, NULL);
    read_end(&c);
    return r;
}

static int audit_list(struct store *s, int64_t after, size_t limit, struct arena *a,
                      struct store_audit **out, size_t *n, struct err *e)
{
    char v[24];
    const char *pv = v;

    snprintf(v, sizeof(v), "%lld", (long long)after);
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    return row_select(s, &T_AUDIT, "WHERE seq > CAST(?1 AS INTEGER) ORDER BY seq LIMIT ?2", &pv, 1,
                      (int64_t)limit, a, (void **)out, n, e);
}

/* The text parameters of a query's SQL, in order: `after`, the equality
 * values, `since`, `until` (decimal text, cast in SQL). */
struct audit_sql_params {
    const char *v[12];
    size_t n;
    char after[24], since[24], until[24];
};

/* The tail (after "FROM audit") of the SQL for filter f: one "AND col = ?k"
 * per set member; which index it reads is chosen here (below), the rest
 * SQLite's planner does with the migration 5 indexes. */
static int audit_query_sql(const struct store_audit_filter *f, int by_time, struct buf *sql,
                           struct audit_sql_params *p)
{
    const struct {
        const char *col;
        const char *v;
    } eq[] = {{"agent", f->agent},       {"human", f->human}, {"task", f->task},
              {"intent", f->intent},     {"tool", f->tool},   {"downstream", f->downstream},
              {"decision", f->decision}, {"event", f->event}};
    size_t i;
    int r;

    p->n = 0;
    snprintf(p->after, sizeof(p->after), "%lld", (long long)f->after);
    p->v[p->n++] = p->after;
    r = buf_append_str(sql, by_time ? "INDEXED BY audit_time WHERE seq > CAST(?1 AS INTEGER)"
                                    : "WHERE seq > CAST(?1 AS INTEGER)");
    for (i = 0; i < sizeof(eq) / sizeof(eq[0]) && r == 0; i++) {
        if (eq[i].v != NULL) {
            p->v[p->n++] = eq[i].v;
            r = buf_printf(sql, " AND %s = ?%zu", eq[i].col, p->n);
        }
    }
    if (r == 0 && f->owner != NULL) {
        /* agents_owner lists the owner's agents, audit_agent reads each
         * one's records after `after`, a bounded sorter keeps `limit` in seq
         * order (test_audit_query.c): paging by seq stays exact */
        p->v[p->n++] = f->owner;
        r = buf_printf(sql, " AND agent IN (SELECT id FROM agents WHERE owner = ?%zu)", p->n);
    }
    if (r == 0 && f->since_ms != 0) {
        snprintf(p->since, sizeof(p->since), "%lld", (long long)f->since_ms);
        p->v[p->n++] = p->since;
        r = buf_printf(sql, " AND time_ms >= CAST(?%zu AS INTEGER)", p->n);
    }
    if (r == 0 && f->until_ms != 0) {
        snprintf(p->until, sizeof(p->until), "%lld", (long long)f->until_ms);
        p->v[p->n++] = p->until;
        r = buf_printf(sql, " AND time_ms < CAST(?%zu AS INTEGER)", p->n);
    }
    return r ? r : buf_printf(sql, " ORDER BY seq LIMIT ?%zu", p->n + 1);
}

int store_sqlite_audit_sql(const struct store_audit_filter *f, int by_time, char *out, size_t n)
{
    struct audit_sql_params p;
    struct buf sql;
    int r;

    buf_init(&sql, 4096);
    r = buf_append_str(&sql, "SELECT * FROM audit ");
    r = r ? r : audit_query_sql(f, by_time, &sql, &p);
    if (r == 0 && sql.len < n) {
        memcpy(out, sql.data, sql.len);
        out[sql.len] = '\0';
    } else {
        r = ERR_LIMIT;
    }
    buf_free(&sql);
    return r;
}

/* Whether a query with `since` should read the time window from audit_time
 * (cost: the records in the window; a bounded sorter keeps `limit` of them
 * in seq order) rather than walk from `after` in seq order, on an equality
 * index or the rowid, through every record before the window (a million
 * `decision=allow` before yesterday's).  SQLite has no statistics to choose
 * (and picks the walk), so this compares the two sizes, estimated in
 * O(log n) from audit_time: the seq where the window starts and ends (time
 * is nearly, not strictly, in seq order: good enough to choose a plan; the
 * query itself stays exact).  A `task` has a bounded number of records (its
 * budget): always its index. */
static int audit_by_time(struct store *s, const struct store_audit_filter *f, int *by_time,
                         struct err *e)
{
    static const char sql[] =
        "SELECT (SELECT seq FROM audit INDEXED BY audit_time WHERE time_ms >= ?1"
        "        ORDER BY time_ms LIMIT 1),"
        "       (SELECT seq FROM audit INDEXED BY audit_time WHERE time_ms >= ?2"
        "        ORDER BY time_ms LIMIT 1),"
        "       (SELECT max(seq) FROM audit)";
    struct sqlite_store *ss = S(s);
    sqlite3_stmt *st = NULL;
    struct rconn c;
    int r, rc;

    *by_time = 0;
    if (f->since_ms == 0 || f->task != NULL) {
        return 0;
    }
    read_begin(ss, &c);
    r = stmt_get(c.db, c.sc, sql, &st, e);
    if (r == 0) {
        sqlite3_bind_int64(st, 1, f->since_ms);
        sqlite3_bind_int64(st, 2, f->until_ms ? f->until_ms : INT64_MAX);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t lo = sqlite3_column_int64(st, 0), max = sqlite3_column_int64(st, 2);
            int64_t hi =
                sqlite3_column_type(st, 1) == SQLITE_NULL ? max : sqlite3_column_int64(st, 1);
            int64_t before = lo > f->after ? lo - f->after : 0;
            /* an empty window (no record since) is read at no cost */
            *by_time = sqlite3_column_type(st, 0) == SQLITE_NULL || hi - lo < before;
        } else {
            r = fail_db(c.db, rc, e, "audit window");
        }
    }
    stmt_put(c.sc, st);
    read_end(&c);
    return r;
}

static int audit_query(struct store *s, const struct store_audit_filter *f, struct arena *a,
                       struct store_audit **out, size_t *n, struct err *e)
{
    struct store_audit_filter q = *f;
    struct audit_sql_params p;
    struct buf sql;
    int r, by_time = 0;

    *out = NULL;
    *n = 0;
    if (q.limit == 0 || q.limit > LIMIT_LIST_PAGE_MAX) {
        q.limit = LIMIT_LIST_PAGE_MAX;
    }
    r = audit_by_time(s, &q, &by_time, e);
    if (r != 0) {
        return r;
    }
    buf_init(&sql, 4096);
    r = audit_query_sql(&q, by_time, &sql, &p)
            ? err_set(e, ERR_INTERNAL, "store: building SQL failed")
            : row_select(s, &T_AUDIT, sql.data, p.v, p.n, (int64_t)q.limit, a, (void **)out, n, e);
    buf_free(&sql);
    return r;
}

static int task_children(struct store *s, const char *parent, size_t limit, struct arena *a,
                         struct store_task **out, size_t *n, struct err *e)
{
    return row_select(s, &T_TASKS, "WHERE parent = ?1 ORDER BY id LIMIT ?2", &parent, 1,
                      (int64_t)limit, a, (void **)out, n, e);
}

static int apikey_insert(struct store *s, const struct store_apikey *k, struct err *e)
{
    return row_insert(s, &T_APIKEYS, k, e);
}

static int apikey_get(struct store *s, const char *id, struct arena *a, struct store_apikey *out,
                      struct err *e)
{
    return row_get(s, &T_APIKEYS, id, a, out, e);
}

static int apikey_revoke(struct store *s, const char *id, int64_t now_ms, struct err *e)
{
    int64_t n = 0;
    int r = run_sql(s, "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0", &id,
                    1, 1, now_ms, &n, e);

    if (r == 0 && n == 0) {
        r = err_set(e, ERR_NOTFOUND, "no live API key \"%s\"", id);
    }
    return r;
}

static int scalar_i64(struct sqlite_store *ss, const char *sql, int64_t *out, struct err *e)
{
    sqlite3_stmt *st = NULL;
    struct rconn c;
    int r, rc;

    read_begin(ss, &c);
    r = stmt_get(c.db, c.sc, sql, &st, e);
    if (r == 0) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
        } else {
            r = fail_db(c.db, rc, e, sql);
        }
    }
    stmt_put(c.sc, st);
    read_end(&c);
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
    size_t i;

    if (ss->ckpt_started) {
        pthread_mutex_lock(&ss->ckpt_mu);
        ss->ckpt_stop = 1;
        pthread_cond_signal(&ss->ckpt_cv);
        pthread_mutex_unlock(&ss->ckpt_mu);
        pthread_join(ss->ckpt_th, NULL);
        pthread_mutex_destroy(&ss->ckpt_mu);
        pthread_cond_destroy(&ss->ckpt_cv);
    }
    free(ss->path);
    for (i = 0; i < ss->nreaders; i++) {
        stmt_cache_free(&ss->readers[i].sc);
        sqlite3_close_v2(ss->readers[i].db);
        pthread_mutex_destroy(&ss->readers[i].mu);
    }
    free(ss->readers);
    stmt_cache_free(&ss->sc);
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
    .human_update = human_update,
    .agent_update = agent_update,
    .agent_list_owner = agent_list_owner,
    .agent_by_subject = agent_by_subject,
    .issuer_insert = issuer_insert,
    .issuer_get = issuer_get,
    .issuer_list = issuer_list,
    .issuer_delete = issuer_delete,
    .tool_insert = tool_insert,
    .tool_get = tool_get,
    .tool_list = tool_list,
    .tool_delete = tool_delete,
    .intent_insert = intent_insert,
    .intent_get = intent_get,
    .intent_list = intent_list,
    .intent_delete = intent_delete,
    .intent_update = intent_update,
    .intent_tools_set = intent_tools_set,
    .entitlement_insert = entitlement_insert,
    .entitlement_delete = entitlement_delete,
    .entitlement_list = entitlement_list,
    .entitlement_clear = entitlement_clear,
    .policy_insert = policy_insert,
    .policy_get = policy_get,
    .policy_get_active = policy_get_active,
    .policy_list = policy_list,
    .policy_activate = policy_activate,
    .task_insert = task_insert,
    .task_get = task_get,
    .task_revoke_agent = task_revoke_agent,
    .task_sweep = task_sweep,
    .revocation_insert = revocation_insert,
    .revocation_get = revocation_get,
    .task_update = task_update,
    .task_set_calls = task_set_calls,
    .task_list = task_list,
    .task_list_unexpired = task_list_unexpired,
    .revocation_list = revocation_list,
    .audit_append = audit_append,
    .audit_list = audit_list,
    .audit_head = audit_head,
    .audit_checkpoint_insert = audit_checkpoint_insert,
    .audit_checkpoint_list = audit_checkpoint_list,
    .audit_checkpoint_last = audit_checkpoint_last,
    .audit_checkpoint_before = audit_checkpoint_before,
    .audit_prune = audit_prune,
    .audit_scan = audit_scan,
    .signing_key_insert = signing_key_insert,
    .signing_key_list = signing_key_list,
    .signing_key_delete = signing_key_delete,
    .apikey_revoke = apikey_revoke,
    .audit_query = audit_query,
    .task_children = task_children,
    .killswitch_insert = killswitch_insert,
    .killswitch_delete = killswitch_delete,
    .killswitch_list = killswitch_list,
    .task_carved_raise = task_carved_raise,
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

/* Checkpoints off the commit path: the writer's WAL hook (called after each
 * commit with the WAL's size) wakes this thread, which copies the WAL into
 * the database on a connection of its own (PASSIVE: it never blocks the
 * writer or the readers).  Replaces SQLite's automatic checkpoint, which
 * runs inside the commit that crosses the threshold. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct sqlite_store *ss = arg;

    (void)db;
    (void)name;
    if (pages >= LIMIT_STORE_CHECKPOINT_PAGES) {
        pthread_mutex_lock(&ss->ckpt_mu);
        ss->ckpt_pending = 1;
        pthread_cond_signal(&ss->ckpt_cv);
        pthread_mutex_unlock(&ss->ckpt_mu);
    }
    return SQLITE_OK;
}

static void *checkpointer(void *arg)
{
    struct sqlite_store *ss = arg;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(
        ss->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, NULL);

    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, ss->busy_timeout_ms);
        /* A connection learns the file is in WAL mode on its first read;
         * until then a checkpoint is a no-op. */
        rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
    }
    pthread_mutex_lock(&ss->ckpt_mu);
    for (;;) {
        while (!ss->ckpt_pending && !ss->ckpt_stop) {
            pthread_cond_wait(&ss->ckpt_cv, &ss->ckpt_mu);
        }
        if (ss->ckpt_stop) {
            break;
        }
        ss->ckpt_pending = 0;
        pthread_mutex_unlock(&ss->ckpt_mu);
        if (rc == SQLITE_OK) {
            (void)sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        } else {
            /* no connection of its own: the writer does it, as SQLite would */
            pthread_mutex_lock(&ss->mu);
            (void)sqlite3_wal_checkpoint_v2(ss->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
            pthread_mutex_unlock(&ss->mu);
        }
        pthread_mutex_lock(&ss->ckpt_mu);
        ss->ckpts++;
    }
    pthread_mutex_unlock(&ss->ckpt_mu);
    sqlite3_close_v2(db);
    return NULL;
}

static void start_checkpointer(struct sqlite_store *ss, const char *path)
{
    sigset_t all, old;
    int rc;

    ss->path = strdup(path);
    if (ss->path == NULL) {
        return; /* SQLite's automatic checkpoints stay */
    }
    pthread_mutex_init(&ss->ckpt_mu, NULL);
    pthread_cond_init(&ss->ckpt_cv, NULL);
    /* The thread takes no signals: `serve` waits for SIGTERM in its main
     * thread, and the store is opened before it blocks them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&ss->ckpt_th, NULL, checkpointer, ss);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&ss->ckpt_mu);
        pthread_cond_destroy(&ss->ckpt_cv);
        return;
    }
    ss->ckpt_started = 1;
    pthread_mutex_lock(&ss->mu);
    sqlite3_wal_hook(ss->db, wal_hook, ss);
    pthread_mutex_unlock(&ss->mu);
}

/* Opens the pool of read connections.  Without it (an in-memory or URI
 * path, or a reader that cannot open) every read goes through the writer,
 * which is correct, only slower under load. */
static void open_readers(struct sqlite_store *ss, const char *path)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
    struct sqlite_reader *rd;
    size_t i;

    if (path[0] == '\0' || strcmp(path, ":memory:") == 0 || strncmp(path, "file:", 5) == 0) {
        return;
    }
    rd = calloc(LIMIT_STORE_READERS, sizeof(*rd));
    if (rd == NULL) {
        return;
    }
    for (i = 0; i < LIMIT_STORE_READERS; i++) {
        /* NOMUTEX: each reader is used under its own mutex. */
        if (sqlite3_open_v2(path, &rd[i].db, flags, NULL) != SQLITE_OK ||
            sqlite3_exec(rd[i].db, "PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
            break;
        }
        sqlite3_extended_result_codes(rd[i].db, 1);
        sqlite3_busy_timeout(rd[i].db, ss->busy_timeout_ms);
        pthread_mutex_init(&rd[i].mu, NULL);
    }
    if (i < LIMIT_STORE_READERS) {
        size_t n = i;
        sqlite3_close_v2(rd[n].db);
        for (i = 0; i < n; i++) {
            sqlite3_close_v2(rd[i].db);
            pthread_mutex_destroy(&rd[i].mu);
        }
        free(rd);
        return;
    }
    ss->readers = rd;
    ss->nreaders = LIMIT_STORE_READERS;
    start_checkpointer(ss, path);
}

int store_sqlite_set_async(struct store *s, int async, struct err *e)
{
    struct sqlite_store *ss;
    int r;

    if (s == NULL || s->ops != &sqlite_ops) {
        return 0;
    }
    ss = S(s);
    /* FULL: the WAL is synced at every commit.  NORMAL: at checkpoints only,
     * so a commit survives the process dying but not the machine. */
    pthread_mutex_lock(&ss->mu);
    r = exec(ss, async ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL", e);
    pthread_mutex_unlock(&ss->mu);
    return r;
}

/* Once, before SQLite initialises: no memory statistics.  They take a
 * process-wide mutex around every allocation SQLite makes, which serialises
 * the read connections (and the writer) on it; nothing here reads them. */
static void sqlite_setup(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

int store_sqlite_open(const char *path, const struct store_sqlite_options *opts, struct store **out,
                      struct err *e)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct sqlite_store *ss;
    pthread_mutexattr_t ma;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
    int rc, r;

    *out = NULL;
    pthread_once(&once, sqlite_setup);
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
    open_readers(ss, path);
    *out = &ss->base;
    return 0;
}
