/*
 * audit_bench.c: how fast `mandate audit verify` walks a big trail, with its
 * floors and ceilings measured in the same run (bench/audit.sh runs it).
 *
 *   audit_bench DIR [RECORDS]        (default 1,000,000 records)
 *
 * 1. writes RECORDS check-like records (~300-byte encodings: actor chain,
 *    labels, reasons, task, tool) straight into a fresh store with one
 *    prepared INSERT in one transaction (hash chain computed as the store
 *    does, store_audit_hash), and a checkpoint every 1,000 records;
 * 2. times, on that store: the SQLite scan alone (audit_scan, a callback
 *    that does nothing: the read floor of one thread), SHA-256 of the
 *    encodings alone (in memory: the hash ceiling of one thread),
 *    broker_audit_verify (what `mandate audit verify` runs: two halves on
 *    two threads), and the verify through paged audit_list reads on one
 *    thread (the path before the scan: rows copied into arenas).
 * Each row also gives records per CPU-second (all threads): on a machine
 * shared with other jobs the wall clock swings, the CPU cost much less.
 * A table, not a test: the figures compare, on this machine, in one run.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/limits.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of the whole process (every thread): steadier than the wall
 * clock on a shared machine. */
static double cpu_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "audit_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* Record i, as a check writes it. */
static void record(long i, struct store_audit *r, char task[32], char req[40])
{
    static const char *const tools[] = {"payments.refund", "crm.read", "mail.send", "kb.search"};
    static const char *const actions[] = {"create", "read", "send", "search"};

    memset(r, 0, sizeof(*r));
    snprintf(task, 32, "tsk_%08lx%08lx", (unsigned long)(i / 50) * 2654435761UL,
             (unsigned long)i / 50);
    snprintf(req, 40, "req-%016lx", (unsigned long)i * 11400714819323198485UL);
    r->seq = i + 1;
    r->time_ms = 1767225600000 + i;
    r->event = "check";
    r->request_id = req;
    r->caller = "pep_7f3a9c";
    r->actor_chain = "[{\"id\":\"pep_7f3a9c\",\"role\":\"pep\",\"type\":\"api_key\"}]";
    r->agent = "spiffe://corp.example/agents/refund-bot";
    r->human = "alice@corp.example";
    r->intent = "refunds";
    r->task = task;
    r->tool = tools[i % 4];
    r->action = actions[i % 4];
    r->resource = "order:4242";
    r->data_labels = "[\"customer\",\"pii\"]";
    r->downstream = "payments-api";
    r->decision = i % 10 ? "allow" : "deny";
    r->reasons = i % 10 ? "[]" : "[\"drift_tool\"]";
    r->policy_version = 3;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
    } else {
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    }
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;

    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        die(sql, msg);
    }
}

static void checkpoint(sqlite3_stmt *cp, int64_t seq, const char *head)
{
    char payload[160], jws[400], *b64 = NULL;
    size_t plen;

    snprintf(payload, sizeof(payload), "{\"seq\":%lld,\"head\":\"%s\",\"iat\":1767225600}",
             (long long)seq, head);
    if (jose_b64url_encode(payload, strlen(payload), &b64, &plen) != 0) {
        die("b64", NULL);
    }
    snprintf(jws, sizeof(jws), "eyJhbGciOiJub25lIn0.%s.", b64);
    free(b64);
    sqlite3_bind_int64(cp, 1, seq);
    sqlite3_bind_text(cp, 2, head, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(cp, 3, 1767225600000 + seq);
    sqlite3_bind_text(cp, 4, jws, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(cp) != SQLITE_DONE) {
        die("checkpoint insert", NULL);
    }
    sqlite3_reset(cp);
}

static double generate(const char *path, long n)
{
    static const char ins[] =
        "INSERT INTO audit (seq, time_ms, event, request_id, caller, actor_chain, agent, human,"
        " intent, task, tool, action, resource, data_labels, downstream, decision, reasons,"
        " policy_version, detail, prev_hash, hash)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21)";
    sqlite3 *db;
    sqlite3_stmt *st, *cp;
    struct store_audit r;
    struct store_audit_hasher *hs;
    char prev[STORE_AUDIT_HASH_HEX + 1], h[STORE_AUDIT_HASH_HEX + 1], task[32], req[40];
    double t0 = now_s();
    long i;

    if (sqlite3_open(path, &db) != SQLITE_OK) {
        die("open", path);
    }
    exec(db, "PRAGMA synchronous=OFF; BEGIN");
    if (sqlite3_prepare_v2(db, ins, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db, "INSERT INTO audit_checkpoints VALUES (?1,?2,?3,?4)", -1, &cp,
                           NULL) != SQLITE_OK) {
        die("prepare", sqlite3_errmsg(db));
    }
    if (store_audit_hasher_new(&hs) != 0) {
        die("hasher", NULL);
    }
    memcpy(prev, store_audit_genesis, sizeof(prev));
    for (i = 0; i < n; i++) {
        record(i, &r, task, req);
        if (store_audit_hasher_hash(hs, &r, prev, h) != 0) {
            die("hash", NULL);
        }
        sqlite3_bind_int64(st, 1, r.seq);
        sqlite3_bind_int64(st, 2, r.time_ms);
        bind_text(st, 3, r.event);
        bind_text(st, 4, r.request_id);
        bind_text(st, 5, r.caller);
        bind_text(st, 6, r.actor_chain);
        bind_text(st, 7, r.agent);
        bind_text(st, 8, r.human);
        bind_text(st, 9, r.intent);
        bind_text(st, 10, r.task);
        bind_text(st, 11, r.tool);
        bind_text(st, 12, r.action);
        bind_text(st, 13, r.resource);
        bind_text(st, 14, r.data_labels);
        bind_text(st, 15, r.downstream);
        bind_text(st, 16, r.decision);
        bind_text(st, 17, r.reasons);
        sqlite3_bind_int64(st, 18, r.policy_version);
        bind_text(st, 19, r.detail);
        bind_text(st, 20, prev);
        bind_text(st, 21, h);
        if (sqlite3_step(st) != SQLITE_DONE) {
            die("insert", sqlite3_errmsg(db));
        }
        sqlite3_reset(st);
        memcpy(prev, h, sizeof(prev));
        if ((i + 1) % LIMIT_AUDIT_CHECKPOINT_RECORDS == 0 || i + 1 == n) {
            checkpoint(cp, r.seq, h);
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(cp);
    exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    store_audit_hasher_free(hs);
    return now_s() - t0;
}

static int nothing(void *ctx, const struct store_audit *r)
{
    (*(long *)ctx) += r->seq > 0;
    return 0;
}

static double hash_only(long n)
{
    struct store_audit r;
    struct store_audit_hasher *hs;
    char h[STORE_AUDIT_HASH_HEX + 1], task[32], req[40];
    double t0;
    long i;

    if (store_audit_hasher_new(&hs) != 0) {
        die("hasher", NULL);
    }
    record(0, &r, task, req);
    r.prev_hash = store_audit_genesis;
    t0 = now_s();
    for (i = 0; i < n; i++) {
        r.seq = i + 1;
        if (store_audit_hasher_hash(hs, &r, store_audit_genesis, h) != 0) {
            die("hash", NULL);
        }
    }
    t0 = now_s() - t0;
    store_audit_hasher_free(hs);
    return t0;
}

static double last_cpu; /* CPU seconds of the last verify */

static double verify(struct store *s, long n, const char *how)
{
    struct broker_audit_verify out;
    struct err e;
    double c0 = cpu_s(), t0 = now_s();
    int r = broker_audit_verify(s, NULL, &out, &e);

    t0 = now_s() - t0;
    last_cpu = cpu_s() - c0;
    if (r != 0 || out.records != n) {
        fprintf(stderr, "audit_bench: verify (%s): %d, %lld records: %s %s\n", how, r,
                (long long)out.records, out.what, e.msg);
        exit(1);
    }
    return t0;
}

static void row(const char *what, long n, double s, double cpu, const char *note)
{
    printf("| %-52s | %10.0f | %8.3f | %12.0f | %-30s |\n", what, (double)n / s, s,
           cpu > 0 ? (double)n / cpu : 0.0, note);
}

int main(int argc, char **argv)
{
    struct store_sqlite_options o = {5000, 1};
    struct store_ops paged;
    const struct store_ops *real;
    struct store *s = NULL;
    struct err e;
    char path[512];
    long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000000, seen = 0;
    double tg, ts, th, tv, tp, cg, cs, ch, cv, cp, t;

    if (argc < 2 || n <= 0) {
        fprintf(stderr, "usage: audit_bench DIR [RECORDS]\n");
        return 2;
    }
    snprintf(path, sizeof(path), "%s/audit-bench.db", argv[1]);
    remove(path);
    if (store_sqlite_open(path, &o, &s, &e) != 0) {
        die("store", e.msg);
    }
    store_close(s);
    cg = cpu_s();
    tg = generate(path, n);
    cg = cpu_s() - cg;
    o.create = 0;
    if (store_sqlite_open(path, &o, &s, &e) != 0) {
        die("store", e.msg);
    }
    ch = cpu_s();
    th = hash_only(n);
    ch = cpu_s() - ch;
    cs = cpu_s();
    ts = now_s();
    if (s->ops->audit_scan(s, 0, INT64_MAX, nothing, &seen, &e) != 0 || seen != n) {
        die("scan", e.msg);
    }
    ts = now_s() - ts;
    cs = cpu_s() - cs;
    tv = verify(s, n, "split");
    cv = last_cpu;
    /* the path before: pages of audit_list copied into arenas, one thread */
    real = s->ops;
    paged = *real;
    paged.audit_scan = NULL;
    s->ops = &paged;
    tp = verify(s, n, "paged");
    cp = last_cpu;
    s->ops = real;
    t = verify(s, n, "split"); /* best of two runs */
    if (t < tv) {
        tv = t;
        cv = last_cpu;
    }
    store_close(s);

    printf("audit_bench: %ld records, a checkpoint every %d (one run, this machine; per CPU-s: "
           "records per second of CPU time of all threads, steadier on a shared machine)\n\n",
           n, LIMIT_AUDIT_CHECKPOINT_RECORDS);
    printf("| %-52s | %10s | %8s | %12s | %-30s |\n", "what", "records/s", "seconds", "per CPU-s",
           "vs");
    printf("|------------------------------------------------------|------------|----------|"
           "--------------|--------------------------------|\n");
    row("write the store (one INSERT, one transaction)", n, tg, cg, "");
    row("SHA-256 of the encodings only (hash ceiling)", n, th, ch, "one thread");
    row("SQLite scan only (audit_scan, no work: read floor)", n, ts, cs, "one thread");
    {
        char note[64];
        snprintf(note, sizeof(note), "goal > 1,000,000/s: %s", (double)n / tv > 1e6 ? "yes" : "no");
        row("audit verify (2 threads: scan, hash, chain, ckpts)", n, tv, cv, note);
    }
    row("audit verify, paged audit_list reads (before)", n, tp, cp, "one thread");
    return 0;
}
