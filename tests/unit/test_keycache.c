/* test_keycache.c: the fast check path's parts (P1), without HTTP:
 * - the API key cache: hits after the first store read; a revoked key, or
 *   one whose human is offboarded, fails at once; a store read racing with
 *   a change cannot put a stale entry back; entries expire; a wrong secret
 *   never hits;
 * - the store's read connections: a thread inside a write transaction reads
 *   its own writes, other threads see only what is committed, and a reader
 *   answers while another thread holds the write transaction open;
 * - group commit: many threads' items commit, each answered after its own,
 *   and a failing item does not fail its neighbours.
 * The same promises over HTTP: tests/node/perf-e2e.mjs. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/broker.h"
#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

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
    struct arena a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_sqlite_options o = {200, 1};
    struct store_human dana = {"dana", "dana@corp.example", NULL, "active", T0};
    struct err e;

    fake_now = T0;
    clock_set_wall(fake_clock);
    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-keycache-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
    assert_int_equal(store_sqlite_open(f->path, &o, &f->s, &e), 0);
    f->b.store = f->s;
    assert_int_equal(broker_keycache_start(&f->b, &e), 0);
    arena_init(&f->a, 0, 0);
    assert_int_equal(f->s->ops->human_insert(f->s, &dana, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    broker_keycache_stop(&f->b);
    broker_keycache_stop(&f->b); /* twice: a no-op */
    store_close(f->s);
    arena_free(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    clock_set_wall(NULL);
    free(f);
    return 0;
}

static char *new_key(struct fx *f, enum broker_role role, const char *subject, const char **id)
{
    char *key = NULL;
    struct err e;

    err_clear(&e);
    assert_int_equal(broker_apikey_create(&f->b, NULL, "k", role, subject, &f->a, &key, id, &e), 0);
    return key;
}

static int auth(struct fx *f, const char *key, struct broker_caller *c)
{
    struct err e;

    err_clear(&e);
    return broker_auth_apikey(&f->b, key, strlen(key), &f->a, c, &e);
}

static void test_hit_after_first_read(void **state)
{
    struct fx *f = *state;
    const char *id;
    char *key = new_key(f, ROLE_PEP, NULL, &id);
    struct broker_caller c;
    uint64_t hits, misses;

    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(c.role, ROLE_PEP);
    assert_string_equal(c.key_id, id);
    assert_null(c.subject);
    keycache_stats(&f->b, &hits, &misses);
    assert_int_equal(hits, 0);
    assert_int_equal(misses, 1);
    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(c.role, ROLE_PEP);
    assert_string_equal(c.key_id, id);
    keycache_stats(&f->b, &hits, &misses);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 1);
    free(key);
}

static void test_wrong_secret_never_hits(void **state)
{
    struct fx *f = *state;
    const char *id;
    char *key = new_key(f, ROLE_ADMIN, NULL, &id);
    char *bad = strdup(key);
    struct broker_caller c;
    size_t n = strlen(bad);

    assert_int_equal(auth(f, key, &c), 0); /* cached now */
    bad[n - 1] = bad[n - 1] == '0' ? '1' : '0';
    assert_int_equal(auth(f, bad, &c), ERR_AUTH);
    assert_int_equal(auth(f, bad, &c), ERR_AUTH);
    assert_int_equal(auth(f, key, &c), 0);
    free(bad);
    free(key);
}

static void test_revoked_fails_at_once(void **state)
{
    struct fx *f = *state;
    const char *id, *other_id;
    char *key = new_key(f, ROLE_PEP, NULL, &id);
    char *other = new_key(f, ROLE_AUDITOR, NULL, &other_id);
    struct broker_caller c, sec = {"x", ROLE_SECURITY, NULL, NULL},
                            aud = {"y", ROLE_AUDITOR, NULL, NULL};
    struct err e;

    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(auth(f, key, &c), 0); /* a hit */
    assert_int_equal(auth(f, other, &c), 0);
    err_clear(&e);
    assert_int_equal(broker_apikey_revoke(&f->b, &aud, id, &e), ERR_FORBIDDEN);
    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(broker_apikey_revoke(&f->b, &sec, id, &e), 0);
    assert_int_equal(auth(f, key, &c), ERR_AUTH);
    assert_int_equal(auth(f, other, &c), 0); /* the others still work */
    assert_int_equal(broker_apikey_revoke(&f->b, NULL, id, &e), ERR_NOTFOUND);
    assert_int_equal(broker_apikey_revoke(&f->b, NULL, "nothex", &e), ERR_NOTFOUND);
    assert_int_equal(broker_apikey_revoke(&f->b, NULL, "", &e), ERR_NOTFOUND);
    free(key);
    free(other);
}

static void test_offboarded_human_fails_at_once(void **state)
{
    struct fx *f = *state;
    const char *id;
    char *key = new_key(f, ROLE_OWNER, "dana", &id);
    struct broker_caller c;
    json_t *in = json_object(), *out = NULL;
    struct err e;

    assert_int_equal(auth(f, key, &c), 0);
    assert_int_equal(auth(f, key, &c), 0);
    assert_string_equal(c.subject, "dana");
    assert_int_equal(c.role, ROLE_OWNER);
    err_clear(&e);
    assert_int_equal(broker_human_offboard(&f->b, NULL, "dana", in, &f->a, &out, &e), 0);
    assert_int_equal(auth(f, key, &c), ERR_AUTH);
    json_decref(in);
    json_decref(out);
    free(key);
}

/* A reader that looked at the store before a change must not cache what
 * it saw after the change emptied the cache. */
static void test_stale_put_refused(void **state)
{
    struct fx *f = *state;
    unsigned char h[KEYCACHE_HASH_LEN];
    struct broker_caller c = {"abcdefabcdef", ROLE_ADMIN, NULL, NULL}, got;
    uint64_t gen;

    memset(h, 7, sizeof(h));
    assert_int_equal(keycache_get(&f->b, h, T0, &f->a, &got, &gen), 0);
    broker_keycache_invalidate(&f->b); /* a revocation committed meanwhile */
    keycache_put(&f->b, h, gen, T0, &c);
    assert_int_equal(keycache_get(&f->b, h, T0, &f->a, &got, &gen), 0);
    keycache_put(&f->b, h, gen, T0, &c);
    assert_int_equal(keycache_get(&f->b, h, T0, &f->a, &got, &gen), 1);
    assert_string_equal(got.key_id, "abcdefabcdef");
    /* expiry: the store is read again after the TTL */
    assert_int_equal(keycache_get(&f->b, h, T0 + LIMIT_APIKEY_CACHE_TTL_MS - 1, &f->a, &got, &gen),
                     1);
    assert_int_equal(keycache_get(&f->b, h, T0 + LIMIT_APIKEY_CACHE_TTL_MS, &f->a, &got, &gen), 0);
    /* a collision evicts, never answers for the other key */
    h[KEYCACHE_HASH_LEN - 1] ^= 1;
    assert_int_equal(keycache_get(&f->b, h, T0, &f->a, &got, &gen), 0);
    /* no cache: always a miss, puts are ignored */
    broker_keycache_stop(&f->b);
    keycache_put(&f->b, h, gen, T0, &c);
    assert_int_equal(keycache_get(&f->b, h, T0, &f->a, &got, &gen), 0);
    broker_keycache_invalidate(&f->b);
}

static void test_no_cache_still_authenticates(void **state)
{
    struct fx *f = *state;
    const char *id;
    char *key = new_key(f, ROLE_PEP, NULL, &id);
    struct broker_caller c;
    struct err e;

    broker_keycache_stop(&f->b);
    assert_int_equal(auth(f, key, &c), 0);
    err_clear(&e);
    assert_int_equal(broker_apikey_revoke(&f->b, NULL, id, &e), 0);
    assert_int_equal(auth(f, key, &c), ERR_AUTH);
    free(key);
}

/* ---- the store's readers ------------------------------------------------------------ */

struct tx_probe {
    int seen_inside;
};

static int tx_insert_then_read(struct store *s, void *ctx, struct err *e)
{
    struct tx_probe *p = ctx;
    struct store_team t = {"inside", NULL, T0};
    struct store_team got;
    struct arena a;
    int r;

    r = s->ops->team_insert(s, &t, e);
    if (r != 0) {
        return r;
    }
    arena_init(&a, 0, 0);
    p->seen_inside = s->ops->team_get(s, "inside", &a, &got, e) == 0;
    arena_free(&a);
    return 0;
}

struct held {
    struct store *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stage; /* 1: inside the transaction; 2: may commit */
};

static int hold_fn(struct store *s, void *ctx, struct err *e)
{
    struct held *h = ctx;
    struct store_team t = {"held", NULL, T0};
    int r = s->ops->team_insert(s, &t, e);

    pthread_mutex_lock(&h->mu);
    h->stage = 1;
    pthread_cond_broadcast(&h->cv);
    while (h->stage != 2) {
        pthread_cond_wait(&h->cv, &h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return r;
}

static void *hold_thread(void *arg)
{
    struct held *h = arg;
    struct err e;

    err_clear(&e);
    return (void *)(intptr_t)store_tx(h->s, hold_fn, h, &e);
}

static void test_readers(void **state)
{
    struct fx *f = *state;
    struct tx_probe p = {0};
    struct held h;
    struct store_team got;
    struct store_human hu;
    pthread_t th;
    void *rc;
    struct err e;

    err_clear(&e);
    assert_int_equal(store_tx(f->s, tx_insert_then_read, &p, &e), 0);
    assert_true(p.seen_inside); /* its own uncommitted write */
    assert_int_equal(f->s->ops->team_get(f->s, "inside", &f->a, &got, &e), 0);

    /* another thread holds a write transaction open: reads answer at once
     * and do not see its write */
    memset(&h, 0, sizeof(h));
    h.s = f->s;
    pthread_mutex_init(&h.mu, NULL);
    pthread_cond_init(&h.cv, NULL);
    assert_int_equal(pthread_create(&th, NULL, hold_thread, &h), 0);
    pthread_mutex_lock(&h.mu);
    while (h.stage != 1) {
        pthread_cond_wait(&h.cv, &h.mu);
    }
    pthread_mutex_unlock(&h.mu);
    assert_int_equal(f->s->ops->team_get(f->s, "held", &f->a, &got, &e), ERR_NOTFOUND);
    assert_int_equal(f->s->ops->human_get(f->s, "dana", &f->a, &hu, &e), 0);
    pthread_mutex_lock(&h.mu);
    h.stage = 2;
    pthread_cond_broadcast(&h.cv);
    pthread_mutex_unlock(&h.mu);
    pthread_join(th, &rc);
    assert_int_equal((int)(intptr_t)rc, 0);
    assert_int_equal(f->s->ops->team_get(f->s, "held", &f->a, &got, &e), 0); /* committed */
    pthread_mutex_destroy(&h.mu);
    pthread_cond_destroy(&h.cv);
    assert_int_equal(store_sqlite_set_async(f->s, 1, &e), 0);
    assert_int_equal(store_sqlite_set_async(f->s, 0, &e), 0);
}

/* The WAL is copied back by the checkpoint thread: after ~30 MiB of
 * commits it stays far below that (without checkpoints it would hold them
 * all). */
struct bulk {
    int tx;
    char *name;
};

static int bulk_fn(struct store *s, void *ctx, struct err *e)
{
    struct bulk *b = ctx;
    char id[32];
    int i, r = 0;

    for (i = 0; i < 100 && r == 0; i++) {
        struct store_team t = {id, b->name, T0};
        snprintf(id, sizeof(id), "bulk-%d-%d", b->tx, i);
        r = s->ops->team_insert(s, &t, e);
    }
    return r;
}

static void test_wal_checkpointed(void **state)
{
    struct fx *f = *state;
    struct bulk b;
    char wal[128];
    struct stat st;
    struct err e;
    int i;

    err_clear(&e);
    assert_int_equal(store_sqlite_set_async(f->s, 1, &e), 0); /* no fsync per commit */
    b.name = malloc(10000);
    memset(b.name, 'x', 9999);
    b.name[9999] = '\0';
    for (i = 0; i < 30; i++) {
        b.tx = i;
        assert_int_equal(store_tx(f->s, bulk_fn, &b, &e), 0);
        if (i % 10 == 9) {
            usleep(200 * 1000); /* let the checkpoint thread run */
        }
    }
    free(b.name);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    assert_int_equal(stat(wal, &st), 0);
    assert_true(st.st_size < 20 * 1024 * 1024);
}

/* ---- group commit ------------------------------------------------------------------ */

#define CQ_THREADS 8
#define CQ_ITEMS 40

struct cq_arg {
    struct commitq *q;
    struct store *s;
    int t;
    int fails;
};

static int cq_fn(struct store *s, void *ctx, struct err *e)
{
    const char *id = ctx;
    struct store_team t = {id, NULL, T0};

    return s->ops->team_insert(s, &t, e);
}

static void *cq_thread(void *arg)
{
    struct cq_arg *x = arg;
    char id[32];
    struct err e;
    int i;

    for (i = 0; i < CQ_ITEMS; i++) {
        /* every 10th item collides with an existing team: it alone fails */
        if (i % 10 == 9) {
            snprintf(id, sizeof(id), "inside");
        } else {
            snprintf(id, sizeof(id), "t%d-%d", x->t, i);
        }
        err_clear(&e);
        commitq_enter(x->q);
        if (commitq_run(x->q, x->s, cq_fn, id, &e) != 0) {
            x->fails++;
        }
        commitq_leave(x->q);
    }
    return NULL;
}

static void test_group_commit(void **state)
{
    struct fx *f = *state;
    struct store_team t = {"inside", NULL, T0}, *list;
    struct store_page pg = {NULL, 1000};
    struct cq_arg args[CQ_THREADS];
    pthread_t th[CQ_THREADS];
    struct commitq *q = NULL;
    size_t n;
    struct err e;
    int i;

    err_clear(&e);
    assert_int_equal(f->s->ops->team_insert(f->s, &t, &e), 0);
    assert_int_equal(commitq_start(f->s, &q, &e), 0);
    for (i = 0; i < CQ_THREADS; i++) {
        args[i] = (struct cq_arg){q, f->s, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, cq_thread, &args[i]), 0);
    }
    for (i = 0; i < CQ_THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].fails, CQ_ITEMS / 10);
    }
    commitq_stop(q);
    assert_int_equal(f->s->ops->team_list(f->s, &pg, &f->a, &list, &n, &e), 0);
    assert_int_equal(n, 1 + CQ_THREADS * (CQ_ITEMS - CQ_ITEMS / 10));
    commitq_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_hit_after_first_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_secret_never_hits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revoked_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offboarded_human_fails_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_put_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_still_authenticates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_checkpointed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
