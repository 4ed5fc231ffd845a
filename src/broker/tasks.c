/*
 * tasks.c: the live task table, the task lifecycle and revocation.
 *
 * Every task whose expiry is ahead sits in memory, live or ended: by id, by
 * the SHA-256 of its verified token (the check's cache: a signature is
 * checked once per token), and in a min-heap on expiry.  Ended tasks stay
 * until their expiry so a check with their token is a cheap deny.  Expiry
 * pops the heap: a check pops at most LIMIT_TASKS_SWEEP_CHECK in passing and
 * the table's thread does the rest in batches, so a million tasks expiring
 * at once never turn a check into a scan (a known failure of lease-based
 * systems).
 *
 * Revocation is memory first (no check allows the token from that moment),
 * then the store (task state, revocation record, audit) before the revoke
 * call answers; a restart reloads tasks and revocations from the store.
 */
#include <limits.h>
#include <stdint.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

/* ---- a small hash map (chained, keys borrowed from the values) ------------ */

struct mnode {
    struct mnode *next;
    uint64_t h;
    const void *key;
    size_t klen;
    void *val;
};

struct map {
    struct mnode **b;
    size_t nb, n;
};

static uint64_t hbytes(const void *k, size_t n)
{
    const unsigned char *p = k;
    uint64_t h = 1469598103934665603ull;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h ^ (h >> 29);
}

static int map_init(struct map *m, size_t nb)
{
    m->b = calloc(nb, sizeof(*m->b));
    m->nb = nb;
    m->n = 0;
    return m->b ? 0 : ERR_NOMEM;
}

static void map_free(struct map *m)
{
    size_t i;

    for (i = 0; m->b && i < m->nb; i++) {
        struct mnode *x = m->b[i], *nx;
        for (; x; x = nx) {
            nx = x->next;
            free(x);
        }
    }
    free(m->b);
    m->b = NULL;
}

static struct mnode **map_slot(struct map *m, const void *k, size_t kl, uint64_t h)
{
    struct mnode **p = &m->b[h & (m->nb - 1)];

    for (; *p; p = &(*p)->next) {
        if ((*p)->h == h && (*p)->klen == kl && memcmp((*p)->key, k, kl) == 0) {
            break;
        }
    }
    return p;
}

static void *map_get(struct map *m, const void *k, size_t kl)
{
    struct mnode **p = map_slot(m, k, kl, hbytes(k, kl));

    return *p ? (*p)->val : NULL;
}

static void map_grow(struct map *m)
{
    size_t nb = m->nb * 2, i;
    struct mnode **b = calloc(nb, sizeof(*b));

    if (b == NULL) {
        return; /* longer chains, still correct */
    }
    for (i = 0; i < m->nb; i++) {
        struct mnode *x = m->b[i], *nx;
        for (; x; x = nx) {
            nx = x->next;
            x->next = b[x->h & (nb - 1)];
            b[x->h & (nb - 1)] = x;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Adds (or replaces) key -> val. */
static int map_put(struct map *m, const void *k, size_t kl, void *val)
{
    uint64_t h = hbytes(k, kl);
    struct mnode **p = map_slot(m, k, kl, h);

    if (*p) {
        (*p)->key = k;
        (*p)->val = val;
        return 0;
    }
    *p = malloc(sizeof(**p));
    if (*p == NULL) {
        return ERR_NOMEM;
    }
    **p = (struct mnode){NULL, h, k, kl, val};
    if (++m->n > m->nb) {
        map_grow(m);
    }
    return 0;
}

static void *map_del(struct map *m, const void *k, size_t kl)
{
    struct mnode **p = map_slot(m, k, kl, hbytes(k, kl)), *x = *p;
    void *val;

    if (x == NULL) {
        return NULL;
    }
    val = x->val;
    *p = x->next;
    free(x);
    m->n--;
    return val;
}

/* ---- the table ------------------------------------------------------------- */

struct revoked_jti {
    char *jti;
    int64_t expires_ms;
};

struct broker_tasks {
    pthread_rwlock_t lock;
    struct map by_id;   /* id -> btask */
    struct map by_tok;  /* token hash -> btask */
    struct map revoked; /* jti -> revoked_jti */
    struct btask **heap;
    size_t nheap, capheap;
    atomic_size_t live;
    atomic_size_t children; /* tasks with a parent in the table (delegations) */
    atomic_ullong verifies, hits;

    struct commitq *cq; /* group commit of check records */
    pthread_t thread;
    int thread_started;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv;
    int stop;
};

static struct broker_tasks *TT(struct broker *b)
{
    return b->rt ? b->rt->tasks : NULL;
}

static void btask_free(struct btask *t)
{
    free(t->id);
    free(t->agent);
    free(t->intent);
    free(t->human);
    free(t->parent);
    free(t->jkt);
    free(t->jti);
    free(t->scope_text);
    free(t->prev_tool);
    json_decref(t->granted);
    json_decref(t->tools_used);
    json_decref(t->labels_touched);
    json_decref(t->claims);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

void btask_put(struct btask *t)
{
    if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1) {
        btask_free(t);
    }
}

static const char *state_static(const char *s)
{
    static const char *const states[] = {"pending", "active", "completed", "revoked", "expired"};
    size_t i;

    for (i = 0; s && i < sizeof(states) / sizeof(states[0]); i++) {
        if (strcmp(s, states[i]) == 0) {
            return states[i];
        }
    }
    return "expired"; /* unknown: dead (fail closed) */
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* The granted mandate_task object from the stored scope (an array of
 * authorization_details or the object itself). */
static json_t *granted_from_scope(const char *text)
{
    json_t *j = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL, *g = NULL;
    size_t i;

    if (json_is_object(j)) {
        return j;
    }
    for (i = 0; json_is_array(j) && i < json_array_size(j); i++) {
        json_t *x = json_array_get(j, i);
        const char *ty = json_string_value(json_object_get(x, "type"));
        if (json_is_object(x) && ty && strcmp(ty, BROKER_AUTHZ_TYPE) == 0) {
            g = json_incref(x);
            break;
        }
    }
    json_decref(j);
    return g;
}

/* Builds a task from its store row and its intent's limits. */
static int btask_new(const struct store_task *row, const struct store_intent *in, const char *jti,
                     struct btask **out, struct err *e)
{
    struct btask *t = calloc(1, sizeof(*t));

    *out = NULL;
    if (t == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->refs, 1);
    t->heap_idx = SIZE_MAX;
    t->id = strdup(row->id);
    t->agent = strdup(row->agent);
    t->intent = strdup(row->intent);
    t->human = dup_or_null(row->on_behalf_of);
    t->parent = dup_or_null(row->parent);
    t->jkt = dup_or_null(row->jkt);
    t->jti = dup_or_null(jti);
    t->scope_text = strdup(row->scope);
    t->granted = granted_from_scope(row->scope);
    t->created_ms = row->created_ms;
    t->expires_ms = row->expires_ms;
    t->state = state_static(row->state);
    t->ended_ms = row->ended_ms;
    t->calls = row->calls;
    t->budget = row->budget > 0 ? row->budget : in ? in->call_budget : 0;
    t->carved = row->carved > 0 ? row->carved : 0;
    t->rate_per_min = in ? in->rate_per_min : 0;
    t->on_drift_revoke = in == NULL || in->on_drift == NULL || strcmp(in->on_drift, "deny") != 0;
    t->bucket_milli = t->rate_per_min * 1000;
    t->bucket_ms = clock_wall_ms();
    t->tools_used = json_array();
    t->labels_touched = json_array();
    if (t->id == NULL || t->agent == NULL || t->intent == NULL || t->scope_text == NULL ||
        (row->on_behalf_of && !t->human) || (row->parent && !t->parent) || (row->jkt && !t->jkt) ||
        (jti && !t->jti) || !t->tools_used || !t->labels_touched) {
        btask_free(t);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (t->granted == NULL) {
        /* A task whose scope cannot be read grants nothing: every call drifts. */
        t->granted = json_object();
    }
    *out = t;
    return 0;
}

/* ---- heap on expiry ---------------------------------------------------------- */

static void heap_set(struct broker_tasks *tt, size_t i, struct btask *t)
{
    tt->heap[i] = t;
    t->heap_idx = i;
}

static void heap_up(struct broker_tasks *tt, size_t i)
{
    struct btask *t = tt->heap[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (tt->heap[p]->expires_ms <= t->expires_ms) {
            break;
        }
        heap_set(tt, i, tt->heap[p]);
        i = p;
    }
    heap_set(tt, i, t);
}

static void heap_down(struct broker_tasks *tt, size_t i)
{
    struct btask *t = tt->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= tt->nheap) {
            break;
        }
        if (c + 1 < tt->nheap && tt->heap[c + 1]->expires_ms < tt->heap[c]->expires_ms) {
            c++;
        }
        if (tt->heap[c]->expires_ms >= t->expires_ms) {
            break;
        }
        heap_set(tt, i, tt->heap[c]);
        i = c;
    }
    heap_set(tt, i, t);
}

static int heap_push(struct broker_tasks *tt, struct btask *t)
{
    if (tt->nheap == tt->capheap) {
        size_t cap = tt->capheap ? tt->capheap * 2 : 1024;
        struct btask **h = realloc(tt->heap, cap * sizeof(*h));
        if (h == NULL) {
            return ERR_NOMEM;
        }
        tt->heap = h;
        tt->capheap = cap;
    }
    tt->heap[tt->nheap] = t;
    t->heap_idx = tt->nheap++;
    heap_up(tt, t->heap_idx);
    return 0;
}

static void heap_remove(struct broker_tasks *tt, struct btask *t)
{
    size_t i = t->heap_idx;
    struct btask *last;

    if (i == SIZE_MAX || i >= tt->nheap) {
        return;
    }
    last = tt->heap[--tt->nheap];
    t->heap_idx = SIZE_MAX;
    if (last != t) {
        heap_set(tt, i, last);
        heap_up(tt, i);
        heap_down(tt, last->heap_idx);
    }
}

/* ---- insert / remove (table write lock held) ---------------------------------- */

static int table_insert(struct broker_tasks *tt, struct btask *t, struct err *e)
{
    if (map_get(&tt->by_id, t->id, strlen(t->id)) != NULL) {
        return err_set(e, ERR_CONFLICT, "task \"%s\" is in the table already", t->id);
    }
    if (tt->by_id.n >= LIMIT_TASKS_MEMORY) {
        return err_set(e, ERR_LIMIT, "task table full (%d tasks)", LIMIT_TASKS_MEMORY);
    }
    if (heap_push(tt, t) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (map_put(&tt->by_id, t->id, strlen(t->id), t) != 0) {
        heap_remove(tt, t);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (t->state == state_static("active")) {
        atomic_fetch_add(&tt->live, 1);
    }
    if (t->parent != NULL) {
        atomic_fetch_add(&tt->children, 1);
    }
    return 0;
}

/* Removes t and drops the table's reference. */
static void table_remove(struct broker_tasks *tt, struct btask *t)
{
    map_del(&tt->by_id, t->id, strlen(t->id));
    if (t->has_tok) {
        map_del(&tt->by_tok, t->tok, TASK_TOKEN_HASH_LEN);
    }
    heap_remove(tt, t);
    if (t->parent != NULL) {
        atomic_fetch_sub(&tt->children, 1);
    }
    btask_put(t);
}

/* Pops up to max tasks expired at now_ms; write lock held. */
static size_t sweep_locked(struct broker_tasks *tt, int64_t now_ms, size_t max)
{
    size_t n = 0;

    while (n < max && tt->nheap > 0 && tt->heap[0]->expires_ms <= now_ms) {
        struct btask *t = tt->heap[0];
        pthread_mutex_lock(&t->mu);
        if (strcmp(t->state, "active") == 0 || strcmp(t->state, "pending") == 0) {
            t->state = state_static("expired");
            t->ended_ms = t->expires_ms;
            atomic_fetch_sub(&tt->live, 1);
        }
        pthread_mutex_unlock(&t->mu);
        table_remove(tt, t);
        n++;
    }
    return n;
}

size_t broker_tasks_sweep(struct broker *b, int64_t now_ms, size_t max)
{
    struct broker_tasks *tt = TT(b);
    size_t n;

    if (tt == NULL) {
        return 0;
    }
    pthread_rwlock_wrlock(&tt->lock);
    n = sweep_locked(tt, now_ms, max);
    pthread_rwlock_unlock(&tt->lock);
    return n;
}

/* In passing on the check path: only when something is due, and never wait
 * for the lock. */
static void sweep_in_passing(struct broker_tasks *tt, int64_t now_ms)
{
    int due;

    pthread_rwlock_rdlock(&tt->lock);
    due = tt->nheap > 0 && tt->heap[0]->expires_ms <= now_ms;
    pthread_rwlock_unlock(&tt->lock);
    if (due && pthread_rwlock_trywrlock(&tt->lock) == 0) {
        sweep_locked(tt, now_ms, LIMIT_TASKS_SWEEP_CHECK);
        pthread_rwlock_unlock(&tt->lock);
    }
}

static void revoked_sweep_locked(struct broker_tasks *tt, int64_t now_ms)
{
    size_t i;

    for (i = 0; i < tt->revoked.nb; i++) {
        struct mnode **p = &tt->revoked.b[i];
        while (*p) {
            struct revoked_jti *r = (*p)->val;
            if (r->expires_ms != 0 && r->expires_ms <= now_ms) {
                struct mnode *x = *p;
                *p = x->next;
                free(x);
                tt->revoked.n--;
                free(r->jti);
                free(r);
            } else {
                p = &(*p)->next;
            }
        }
    }
}

/* The table's thread: sweeps memory and the store's rows. */
static void *sweeper(void *arg)
{
    struct broker *b = arg;
    struct broker_tasks *tt = b->rt->tasks;
    int64_t last_jti_sweep = 0;

    pthread_mutex_lock(&tt->stop_mu);
    while (!tt->stop) {
        struct timespec ts;
        int64_t now, n;
        struct err e;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += LIMIT_TASKS_SWEEP_INTERVAL_MS / 1000;
        ts.tv_nsec += (LIMIT_TASKS_SWEEP_INTERVAL_MS % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&tt->stop_cv, &tt->stop_mu, &ts);
        if (tt->stop) {
            break;
        }
        pthread_mutex_unlock(&tt->stop_mu);
        now = clock_wall_ms();
        while (broker_tasks_sweep(b, now, LIMIT_TASKS_SWEEP_BATCH) == LIMIT_TASKS_SWEEP_BATCH) {
        }
        err_clear(&e);
        do {
            n = 0;
            if (b->store->ops->task_sweep(b->store, now, LIMIT_TASKS_SWEEP_BATCH, &n, &e) != 0) {
                log_event(LOG_WARN, "tasks", NULL, "msg", "store sweep failed", "detail", e.msg,
                          (const char *)NULL);
                break;
            }
        } while (n == LIMIT_TASKS_SWEEP_BATCH);
        if (now - last_jti_sweep > 60000) {
            pthread_rwlock_wrlock(&tt->lock);
            revoked_sweep_locked(tt, now);
            pthread_rwlock_unlock(&tt->lock);
            last_jti_sweep = now;
        }
        pthread_mutex_lock(&tt->stop_mu);
    }
    pthread_mutex_unlock(&tt->stop_mu);
    return NULL;
}

/* ---- loading ------------------------------------------------------------------ */

/* Builds a task from its row, reading its intent (the last one read is
 * reused: a reload walks many tasks of few intents). */
static int task_from_row(struct broker *b, const struct store_task *row, const char *jti,
                         struct arena *a, struct store_intent *icache, struct btask **out,
                         struct err *e)
{
    struct store_intent in;
    int r;

    if (icache != NULL && icache->id != NULL && strcmp(icache->id, row->intent) == 0) {
        in = *icache;
    } else {
        r = b->store->ops->intent_get(b->store, row->intent, a, &in, e);
        if (r == ERR_NOTFOUND) {
            /* The intent is gone: the task keeps no budget, every call is
             * refused as over budget (fail closed). */
            memset(&in, 0, sizeof(in));
            in.on_drift = "revoke";
        } else if (r != 0) {
            return r;
        }
        if (icache != NULL) {
            *icache = in;
        }
    }
    return btask_new(row, &in, jti, out, e);
}

static int load_tasks(struct broker *b, struct broker_tasks *tt, int64_t now, struct err *e)
{
    struct store_page p = {NULL, LIMIT_LIST_PAGE_MAX};
    struct store_intent icache;
    struct arena a;
    char *after = NULL;
    size_t total = 0;
    int r = 0;

    memset(&icache, 0, sizeof(icache));
    arena_init(&a, 64 * 1024, 0);
    for (;;) {
        struct store_task *v;
        size_t n, i;
        struct arena pa;

        arena_init(&pa, 64 * 1024, 0);
        p.after = after;
        r = b->store->ops->task_list_unexpired(b->store, now, &p, &pa, &v, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            struct btask *t;
            r = task_from_row(b, &v[i], NULL, &a, &icache, &t, e);
            if (r == 0 && (r = table_insert(tt, t, e)) != 0) {
                btask_free(t);
            }
        }
        free(after);
        after = r == 0 && n > 0 ? strdup(v[n - 1].id) : NULL;
        arena_free(&pa);
        total += n;
        if (r != 0 || n < LIMIT_LIST_PAGE_MAX) {
            break;
        }
        if (after == NULL) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            break;
        }
    }
    free(after);
    arena_free(&a);
    if (r == 0 && total > 0) {
        char cnt[24];
        snprintf(cnt, sizeof(cnt), "%zu", total);
        log_event(LOG_INFO, "tasks", NULL, "msg", "tasks reloaded", "count", cnt,
                  (const char *)NULL);
    }
    return r;
}

static int revoked_add_locked(struct broker_tasks *tt, const char *jti, int64_t expires_ms)
{
    struct revoked_jti *x;

    if (map_get(&tt->revoked, jti, strlen(jti)) != NULL) {
        return 0;
    }
    if (tt->revoked.n >= LIMIT_TASKS_REVOKED_JTI) {
        return ERR_LIMIT;
    }
    x = malloc(sizeof(*x));
    if (x == NULL || (x->jti = strdup(jti)) == NULL) {
        free(x);
        return ERR_NOMEM;
    }
    x->expires_ms = expires_ms;
    if (map_put(&tt->revoked, x->jti, strlen(x->jti), x) != 0) {
        free(x->jti);
        free(x);
        return ERR_NOMEM;
    }
    return 0;
}

static int load_revocations(struct broker *b, struct broker_tasks *tt, int64_t now, struct err *e)
{
    struct store_page p = {NULL, LIMIT_LIST_PAGE_MAX};
    char *after = NULL;
    int r = 0;

    for (;;) {
        struct store_revocation *v;
        size_t n, i;
        struct arena pa;

        arena_init(&pa, 64 * 1024, 0);
        p.after = after;
        r = b->store->ops->revocation_list(b->store, now, &p, &pa, &v, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            if (strcmp(v[i].kind, "token") == 0) {
                r = revoked_add_locked(tt, v[i].id, v[i].expires_ms);
                if (r != 0) {
                    err_set(e, r, "revocations: cannot hold \"%s\"", v[i].id);
                }
            } else {
                /* A task revocation: the task row says revoked too; make
                 * sure memory does even if the row write was lost. */
                struct btask *t = map_get(&tt->by_id, v[i].id, strlen(v[i].id));
                if (t != NULL && strcmp(t->state, "active") == 0) {
                    t->state = state_static("revoked");
                    t->ended_ms = v[i].time_ms;
                    atomic_fetch_sub(&tt->live, 1);
                }
            }
        }
        free(after);
        after = r == 0 && n > 0 ? strdup(v[n - 1].id) : NULL;
        arena_free(&pa);
        if (r != 0 || n < LIMIT_LIST_PAGE_MAX) {
            break;
        }
        if (after == NULL) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            break;
        }
    }
    free(after);
    return r;
}

/* ---- start / stop ------------------------------------------------------------- */

static void tasks_free(struct broker_tasks *tt)
{
    size_t i;

    if (tt == NULL) {
        return;
    }
    for (i = 0; i < tt->nheap; i++) {
        tt->heap[i]->heap_idx = SIZE_MAX;
        btask_put(tt->heap[i]);
    }
    free(tt->heap);
    for (i = 0; tt->revoked.b && i < tt->revoked.nb; i++) {
        struct mnode *x;
        for (x = tt->revoked.b[i]; x; x = x->next) {
            struct revoked_jti *r = x->val;
            free(r->jti);
            free(r);
        }
    }
    map_free(&tt->by_id);
    map_free(&tt->by_tok);
    map_free(&tt->revoked);
    pthread_rwlock_destroy(&tt->lock);
    pthread_mutex_destroy(&tt->stop_mu);
    pthread_cond_destroy(&tt->stop_cv);
    free(tt);
}

static atomic_int sweeper_on = 1;

void broker_tasks_set_sweeper(int on)
{
    atomic_store(&sweeper_on, on);
}

int broker_tasks_start(struct broker *b, struct err *e)
{
    struct broker_tasks *tt;
    int64_t now = clock_wall_ms();
    int r;

    if (b->rt == NULL) {
        return err_set(e, ERR_INTERNAL, "tasks: no runtime");
    }
    tt = calloc(1, sizeof(*tt));
    if (tt == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_rwlock_init(&tt->lock, NULL);
    pthread_mutex_init(&tt->stop_mu, NULL);
    pthread_cond_init(&tt->stop_cv, NULL);
    atomic_init(&tt->live, 0);
    atomic_init(&tt->children, 0);
    atomic_init(&tt->verifies, 0);
    atomic_init(&tt->hits, 0);
    if (map_init(&tt->by_id, 1024) != 0 || map_init(&tt->by_tok, 1024) != 0 ||
        map_init(&tt->revoked, 256) != 0) {
        tasks_free(tt);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    r = load_tasks(b, tt, now, e);
    r = r ? r : load_revocations(b, tt, now, e);
    if (r != 0) {
        tasks_free(tt);
        return err_prefix(e, "tasks: reload: ");
    }
    if (commitq_start(b->store, &tt->cq, e) != 0) {
        log_event(LOG_WARN, "tasks", NULL, "msg", "no group commit: one transaction per check",
                  "detail", e->msg, (const char *)NULL);
        err_clear(e);
    }
    b->rt->tasks = tt;
    if (!atomic_load(&sweeper_on)) {
        /* tests sweep by hand */
    } else if (pthread_create(&tt->thread, NULL, sweeper, b) == 0) {
        tt->thread_started = 1;
    } else {
        log_event(LOG_WARN, "tasks", NULL, "msg", "no sweeper thread: checks sweep alone",
                  (const char *)NULL);
    }
    return 0;
}

void broker_tasks_stop(struct broker *b)
{
    struct broker_tasks *tt = TT(b);

    if (tt == NULL) {
        return;
    }
    if (tt->thread_started) {
        pthread_mutex_lock(&tt->stop_mu);
        tt->stop = 1;
        pthread_cond_signal(&tt->stop_cv);
        pthread_mutex_unlock(&tt->stop_mu);
        pthread_join(tt->thread, NULL);
    }
    commitq_stop(tt->cq);
    b->rt->tasks = NULL;
    tasks_free(tt);
}

int broker_task_register(struct broker *b, const struct store_task *t, const char *jti,
                         int64_t token_exp_s, struct err *e)
{
    struct broker_tasks *tt = TT(b);
    struct btask *bt = NULL;
    struct arena a;
    int r;

    (void)token_exp_s; /* the task's expiry bounds its token's */
    if (tt == NULL) {
        return err_set(e, ERR_INTERNAL, "tasks: table not started");
    }
    arena_init(&a, 4096, 0);
    r = task_from_row(b, t, jti, &a, NULL, &bt, e);
    arena_free(&a);
    if (r != 0) {
        return r;
    }
    pthread_rwlock_wrlock(&tt->lock);
    r = table_insert(tt, bt, e);
    pthread_rwlock_unlock(&tt->lock);
    if (r != 0) {
        btask_free(bt);
    }
    return r;
}

/* ---- lookups ------------------------------------------------------------------- */

int tasks_get(struct broker *b, const char *id, struct btask **out, struct err *e)
{
    struct broker_tasks *tt = TT(b);
    struct store_task row;
    struct btask *t, *t2;
    struct arena a;
    int64_t now = clock_wall_ms();
    int r;

    *out = NULL;
    if (tt == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "tasks: table not started");
    }
    sweep_in_passing(tt, now);
    pthread_rwlock_rdlock(&tt->lock);
    t = map_get(&tt->by_id, id, strlen(id));
    if (t != NULL) {
        atomic_fetch_add(&t->refs, 1);
    }
    pthread_rwlock_unlock(&tt->lock);
    if (t != NULL) {
        *out = t;
        return 0;
    }
    /* Not in memory: expired and swept, or stored by a path that did not
     * register it.  The store decides. */
    arena_init(&a, 4096, 0);
    r = b->store->ops->task_get(b->store, id, &a, &row, e);
    r = r ? r : task_from_row(b, &row, NULL, &a, NULL, &t, e);
    arena_free(&a);
    if (r != 0) {
        return r;
    }
    if (t->expires_ms <= now) {
        /* Expired (its row may still say active until the store sweep):
         * handed out dead and outside the table, so callers deny with the
         * right reason and nothing holds it. */
        t->state = state_static("expired");
        if (t->ended_ms == 0) {
            t->ended_ms = t->expires_ms;
        }
        *out = t;
        return 0;
    }
    pthread_rwlock_wrlock(&tt->lock);
    t2 = map_get(&tt->by_id, id, strlen(id));
    if (t2 != NULL) {
        btask_free(t); /* another thread loaded it meanwhile */
        t = t2;
    } else if ((r = table_insert(tt, t, e)) != 0) {
        pthread_rwlock_unlock(&tt->lock);
        btask_free(t);
        return r;
    }
    atomic_fetch_add(&t->refs, 1);
    pthread_rwlock_unlock(&tt->lock);
    *out = t;
    return 0;
}

struct btask *tasks_find_token(struct broker *b, const uint8_t h[TASK_TOKEN_HASH_LEN],
                               const json_t **claims)
{
    struct broker_tasks *tt = TT(b);
    struct btask *t;

    *claims = NULL;
    if (tt == NULL) {
        return NULL;
    }
    sweep_in_passing(tt, clock_wall_ms());
    pthread_rwlock_rdlock(&tt->lock);
    t = map_get(&tt->by_tok, h, TASK_TOKEN_HASH_LEN);
    if (t != NULL) {
        atomic_fetch_add(&t->refs, 1);
        *claims = t->claims;
    }
    pthread_rwlock_unlock(&tt->lock);
    return t;
}

void tasks_cache_token(struct broker *b, struct btask *t, const uint8_t h[TASK_TOKEN_HASH_LEN],
                       json_t *claims)
{
    struct broker_tasks *tt = TT(b);

    if (tt == NULL) {
        return;
    }
    pthread_rwlock_wrlock(&tt->lock);
    /* Only a task still in the table (its entry removes the cache entry when
     * it goes), and only its first token. */
    if (!t->has_tok && t->heap_idx != SIZE_MAX &&
        map_get(&tt->by_tok, h, TASK_TOKEN_HASH_LEN) == NULL) {
        memcpy(t->tok, h, TASK_TOKEN_HASH_LEN);
        if (map_put(&tt->by_tok, t->tok, TASK_TOKEN_HASH_LEN, t) == 0) {
            t->claims = json_incref(claims);
            t->has_tok = 1;
        }
    }
    pthread_rwlock_unlock(&tt->lock);
}

int tasks_jti_revoked(struct broker *b, const char *jti)
{
    struct broker_tasks *tt = TT(b);
    struct revoked_jti *x;
    int r;

    if (tt == NULL || jti == NULL) {
        return 0;
    }
    pthread_rwlock_rdlock(&tt->lock);
    x = map_get(&tt->revoked, jti, strlen(jti));
    r = x != NULL && (x->expires_ms == 0 || x->expires_ms > clock_wall_ms());
    pthread_rwlock_unlock(&tt->lock);
    return r;
}

struct commitq *tasks_commitq(struct broker *b)
{
    struct broker_tasks *tt = TT(b);

    return tt ? tt->cq : NULL;
}

void tasks_count(struct broker *b, int cache_hit)
{
    struct broker_tasks *tt = TT(b);

    if (tt != NULL) {
        atomic_fetch_add(cache_hit ? &tt->hits : &tt->verifies, 1);
    }
}

void broker_tasks_stats(struct broker *b, struct broker_tasks_stats *out)
{
    struct broker_tasks *tt = TT(b);

    memset(out, 0, sizeof(*out));
    if (tt == NULL) {
        return;
    }
    pthread_rwlock_rdlock(&tt->lock);
    out->tasks = tt->by_id.n;
    out->tokens = tt->by_tok.n;
    out->revoked_jti = tt->revoked.n;
    pthread_rwlock_unlock(&tt->lock);
    out->live = atomic_load(&tt->live);
    out->verifies = atomic_load(&tt->verifies);
    out->cache_hits = atomic_load(&tt->hits);
}

/* ---- tokens --------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int tasks_token_resolve(struct broker *b, const char *token, size_t len, struct tasks_token *out,
                        const char **why, struct err *e)
{
    enum jose_reason jr = JOSE_R_OK;
    const char *task_id, *jti;
    json_t *claims = NULL;
    int r;

    memset(out, 0, sizeof(*out));
    *why = NULL;
    if (len == 0 || len > LIMIT_JOSE_TOKEN_MAX) {
        *why = "invalid_token:too_large";
        return err_set(e, ERR_AUTH, "token: empty or over %d bytes", LIMIT_JOSE_TOKEN_MAX);
    }
    SHA256((const unsigned char *)token, len, out->hash);
    out->task = tasks_find_token(b, out->hash, &out->claims);
    if (out->task != NULL) {
        int64_t exp = json_integer_value(json_object_get(out->claims, "exp"));
        out->cached = 1;
        tasks_count(b, 1);
        if (exp * 1000 <= clock_wall_ms()) {
            *why = "invalid_token:expired";
            return err_set(e, ERR_AUTH, "token: expired");
        }
        return 0;
    }
    tasks_count(b, 0);
    r = broker_token_verify(b, token, len, &claims, &jr, e);
    if (r != 0) {
        *why = jr == JOSE_R_EXPIRED     ? "invalid_token:expired"
               : jr == JOSE_R_SIGNATURE ? "invalid_token:signature"
               : r == ERR_AUTH          ? "invalid_token"
                                        : NULL;
        return r;
    }
    task_id = jstr(claims, "task");
    jti = jstr(claims, "jti");
    if (task_id == NULL || jti == NULL) {
        json_decref(claims);
        *why = "invalid_token:claims";
        return err_set(e, ERR_AUTH, "token: no task or jti claim");
    }
    if (tasks_jti_revoked(b, jti)) {
        json_decref(claims);
        *why = "token_revoked";
        return err_set(e, ERR_AUTH, "token: revoked");
    }
    r = tasks_get(b, task_id, &out->task, e);
    if (r == ERR_NOTFOUND) {
        json_decref(claims);
        *why = "unknown_task";
        return err_set(e, ERR_AUTH, "token: its task is unknown or expired");
    }
    if (r != 0) {
        json_decref(claims);
        return r;
    }
    /* The token must be the task's own: same agent and key binding. */
    {
        const char *act = jstr(json_object_get(claims, "act"), "sub");
        const char *jkt = jstr(json_object_get(claims, "cnf"), "jkt");
        const char *agent = act ? act : jstr(claims, "sub");
        if (agent == NULL || strcmp(agent, out->task->agent) != 0 ||
            (out->task->jkt == NULL) != (jkt == NULL) ||
            (jkt && strcmp(jkt, out->task->jkt) != 0) ||
            (out->task->jti && strcmp(out->task->jti, jti) != 0)) {
            json_decref(claims);
            *why = "invalid_token:task_mismatch";
            return err_set(e, ERR_AUTH, "token: does not match its task's record");
        }
    }
    if (out->task->jti != NULL) {
        tasks_cache_token(b, out->task, out->hash, claims);
    }
    out->own = claims;
    out->claims = claims;
    return 0;
}

void tasks_token_clear(struct tasks_token *tk)
{
    btask_put(tk->task);
    json_decref(tk->own);
    memset(tk, 0, sizeof(*tk));
}

/* ---- ending tasks ------------------------------------------------------------- */

void btask_row(const struct btask *t, struct store_task *row)
{
    memset(row, 0, sizeof(*row));
    row->id = t->id;
    row->agent = t->agent;
    row->intent = t->intent;
    row->on_behalf_of = t->human;
    row->scope = t->scope_text;
    row->parent = t->parent;
    row->state = t->state;
    row->created_ms = t->created_ms;
    row->expires_ms = t->expires_ms;
    row->jkt = t->jkt;
    row->calls = t->calls;
    row->ended_ms = t->ended_ms;
    row->budget = t->parent ? t->budget : 0; /* a root task's is its intent's */
    row->carved = t->carved;
}

struct end_ctx {
    struct btask *t;
    const char *reason;
    const struct broker_caller *c;
    struct broker_audit_event ev;
    int64_t seq;
};

static int end_tx(struct store *s, void *ctx, struct err *e)
{
    struct end_ctx *x = ctx;
    struct store_task row;
    int r;

    btask_row(x->t, &row);
    r = s->ops->task_update(s, &row, e);
    if (r == 0 && strcmp(x->t->state, "revoked") == 0) {
        struct store_revocation rv = {x->t->id, "task", x->reason ? x->reason : "revoked",
                                      x->t->ended_ms, x->t->expires_ms};
        r = s->ops->revocation_insert(s, &rv, e);
        if (r == 0 && x->t->jti != NULL) {
            struct store_revocation rj = {x->t->jti, "token", rv.reason, rv.time_ms, rv.expires_ms};
            r = s->ops->revocation_insert(s, &rj, e);
        }
        if (r == ERR_CONFLICT) {
            r = 0; /* revoked before (a lost row write): the record stands */
        }
    }
    return r ? r : broker_audit(s, x->c, &x->ev, &x->seq, e);
}

int tasks_end_locked(struct broker *b, struct btask *t, const char *state, const char *reason,
                     const struct broker_caller *c, const char *event, json_t *detail, int64_t *seq,
                     struct err *e)
{
    struct broker_tasks *tt = TT(b);
    struct end_ctx x;
    json_t *reasons = NULL;
    int64_t now = clock_wall_ms();
    int r;

    if (strcmp(t->state, "active") != 0 && strcmp(t->state, "pending") != 0) {
        return err_set(e, ERR_CONFLICT, "task \"%s\" is %s already", t->id, t->state);
    }
    if (t->expires_ms <= now) {
        return err_set(e, ERR_CONFLICT, "task \"%s\" has expired", t->id);
    }
    /* Memory first: from here no check allows this task's token. */
    t->state = state_static(state);
    t->ended_ms = now;
    if (tt != NULL) {
        atomic_fetch_sub(&tt->live, 1);
    }
    if (reason != NULL) {
        reasons = json_pack("[s]", reason);
    }
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.reason = reason;
    x.c = c;
    x.ev.event = event;
    x.ev.agent = t->agent;
    x.ev.human = t->human;
    x.ev.intent = t->intent;
    x.ev.task = t->id;
    x.ev.resource = NULL;
    x.ev.decision = "ok";
    x.ev.reasons = reasons;
    x.ev.detail = detail;
    if (c != NULL && c->role == ROLE_NONE) {
        /* The agent itself (its token): the actor chain names it. */
        x.ev.actor_chain = json_pack("[{s:s, s:s}]", "type", "agent", "sub", t->agent);
    }
    r = store_tx(b->store, end_tx, &x, e);
    json_decref(reasons);
    json_decref(x.ev.actor_chain);
    if (r != 0) {
        /* The task stays dead in memory (fail closed); the store row is
         * retried by nobody: log it loudly. */
        log_event(LOG_ERROR, "tasks", c ? c->request_id : NULL, "msg",
                  "task ended in memory but the store write failed", "task", t->id, "detail",
                  e->msg, (const char *)NULL);
        return r;
    }
    if (seq != NULL) {
        *seq = x.seq;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

json_t *btask_json_locked(const struct btask *t)
{
    json_t *scope = json_loads(t->scope_text, 0, NULL);
    json_t *hist = json_pack("{s:I, s:o, s:o, s:s?}", "calls", (json_int_t)t->calls, "tools",
                             json_deep_copy(t->tools_used), "data_labels",
                             json_deep_copy(t->labels_touched), "previous_tool", t->prev_tool);

    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?, s:I, s:I, s:o*, s:o*}",
                     "id", t->id, "agent", t->agent, "intent", t->intent, "on_behalf_of", t->human,
                     "parent", t->parent, "state", t->state, "created",
                     broker_time_json(t->created_ms), "expires", broker_time_json(t->expires_ms),
                     "ended", broker_time_json(t->ended_ms), "jkt", t->jkt, "calls",
                     (json_int_t)t->calls, "call_budget", (json_int_t)t->budget, "scope", scope,
                     "history", hist);
}

static json_t *row_json(const struct store_task *t)
{
    json_t *scope = json_loads(t->scope, 0, NULL);

    return json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:s, s:o, s:o, s:o, s:s?, s:I, s:o*}", "id",
                     t->id, "agent", t->agent, "intent", t->intent, "on_behalf_of", t->on_behalf_of,
                     "parent", t->parent, "state", t->state, "created",
                     broker_time_json(t->created_ms), "expires", broker_time_json(t->expires_ms),
                     "ended", broker_time_json(t->ended_ms), "jkt", t->jkt, "calls",
                     (json_int_t)t->calls, "scope", scope);
}

/* The JSON of a task from memory when it is there (fresher counters). */
static json_t *task_json_any(struct broker *b, const struct store_task *row)
{
    struct broker_tasks *tt = TT(b);
    struct btask *t = NULL;
    json_t *j;

    if (tt != NULL) {
        pthread_rwlock_rdlock(&tt->lock);
        t = map_get(&tt->by_id, row->id, strlen(row->id));
        if (t != NULL) {
            atomic_fetch_add(&t->refs, 1);
        }
        pthread_rwlock_unlock(&tt->lock);
    }
    if (t == NULL) {
        return row_json(row);
    }
    pthread_mutex_lock(&t->mu);
    j = btask_json_locked(t);
    pthread_mutex_unlock(&t->mu);
    btask_put(t);
    return j;
}

/* ---- lifecycle API ----------------------------------------------------------------- */

/* Loads the task row and checks c may see it (owners: their agents only). */
static int task_visible(struct broker *b, const struct broker_caller *c, const char *id,
                        struct arena *a, struct store_task *row, struct err *e)
{
    struct store_agent ag;
    int r = b->store->ops->task_get(b->store, id, a, row, e);

    if (r == 0 && c != NULL && c->role == ROLE_OWNER) {
        r = broker_agent_visible(b->store, c, row->agent, a, &ag, e);
        if (r == ERR_NOTFOUND) {
            r = err_set(e, ERR_NOTFOUND, "no task \"%s\"", id);
        }
    }
    return r;
}

int broker_task_get(struct broker *b, const struct broker_caller *c, const char *id,
                    struct arena *a, json_t **out, struct err *e)
{
    struct store_task row;
    int r;

    *out = NULL;
    r = task_visible(b, c, id, a, &row, e);
    return r ? r : broker_json_out(task_json_any(b, &row), out, e);
}

int broker_task_list(struct broker *b, const struct broker_caller *c, const char *agent,
                     const char *after, size_t limit, struct arena *a, json_t **out, struct err *e)
{
    struct store_page p = {after, limit};
    struct store_task *v;
    const char *owner = NULL;
    json_t *items, *page;
    size_t n, i;
    int r;

    *out = NULL;
    if (c != NULL && c->role == ROLE_OWNER) {
        if (c->subject == NULL) {
            return err_set(e, ERR_FORBIDDEN, "an owner key needs a subject");
        }
        owner = c->subject;
    }
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        p.limit = LIMIT_LIST_PAGE_MAX;
    }
    r = b->store->ops->task_list(b->store, owner, agent, &p, a, &v, &n, e);
    if (r != 0) {
        return r;
    }
    items = json_array();
    for (i = 0; items && i < n; i++) {
        if (json_array_append_new(items, task_json_any(b, &v[i])) != 0) {
            json_decref(items);
            items = NULL;
        }
    }
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    page = n == p.limit ? json_pack("{s:o, s:s}", "items", items, "next", v[n - 1].id)
                        : json_pack("{s:o, s:n}", "items", items, "next");
    return broker_json_out(page, out, e);
}

int broker_task_revoke(struct broker *b, const struct broker_caller *c, const char *id,
                       const char *reason, struct arena *a, json_t **out, struct err *e)
{
    struct store_task row;
    struct btask *t = NULL;
    json_t *detail;
    int r;

    *out = NULL;
    r = task_visible(b, c, id, a, &row, e);
    if (r == 0 && (strcmp(row.state, "active") != 0 && strcmp(row.state, "pending") != 0)) {
        r = err_set(e, ERR_CONFLICT, "task \"%s\" is %s already", id, row.state);
    }
    if (r == 0 && (r = tasks_get(b, id, &t, e)) == ERR_NOTFOUND) {
        r = err_set(e, ERR_CONFLICT, "task \"%s\" has expired", id);
    }
    if (r != 0) {
        return r;
    }
    detail = json_pack("{s:s}", "reason", reason ? reason : "revoked");
    pthread_mutex_lock(&t->mu);
    r = tasks_end_locked(b, t, "revoked", reason ? reason : "revoked", c, "task.revoke", detail,
                         NULL, e);
    if (r == 0) {
        *out = btask_json_locked(t);
    }
    pthread_mutex_unlock(&t->mu);
    json_decref(detail);
    if (r == 0) {
        tasks_end_subtree(b, t->id, c);
    }
    btask_put(t);
    if (r == 0 && *out == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    return r;
}

/* ---- agents that stopped being active --------------------------------------------- */

/* 1 active (with an active owner), 0 not, -1 the store could not say. */
static int agent_active(struct broker *b, const char *id, struct arena *a)
{
    struct store_agent ag;
    struct store_human h;
    struct err e;
    int r = b->store->ops->agent_get(b->store, id, a, &ag, &e);

    if (r == 0 && strcmp(ag.status, "active") == 0) {
        r = b->store->ops->human_get(b->store, ag.owner, a, &h, &e);
        if (r == 0) {
            return strcmp(h.status, "active") == 0;
        }
    } else if (r == 0) {
        return 0;
    }
    return r == ERR_NOTFOUND ? 0 : -1;
}

void broker_tasks_registry_changed(struct broker *b, const char *ev)
{
    struct broker_tasks *tt = TT(b);
    struct btask **live = NULL;
    struct map seen = {NULL, 0, 0};
    size_t n = 0, i;
    struct arena a;

    if (tt == NULL || ev == NULL ||
        (strcmp(ev, "agent.status") != 0 && strcmp(ev, "human.offboard") != 0 &&
         strcmp(ev, "agent.offboard") != 0)) {
        return;
    }
    /* Collect the live tasks (references), then look at their agents (each
     * once) without holding the table lock. */
    pthread_rwlock_rdlock(&tt->lock);
    live = calloc(tt->nheap ? tt->nheap : 1, sizeof(*live));
    for (i = 0; live && i < tt->nheap; i++) {
        struct btask *t = tt->heap[i];
        if (t->state == state_static("active")) {
            atomic_fetch_add(&t->refs, 1);
            live[n++] = t;
        }
    }
    pthread_rwlock_unlock(&tt->lock);
    if (live == NULL || map_init(&seen, 256) != 0) {
        log_event(LOG_ERROR, "tasks", NULL, "msg", "out of memory reconciling tasks",
                  (const char *)NULL);
        for (i = 0; i < n; i++) {
            btask_put(live[i]);
        }
        free(live);
        return;
    }
    arena_init(&a, 4096, 0);
    for (i = 0; i < n; i++) {
        struct btask *t = live[i];
        size_t kl = strlen(t->agent);
        intptr_t st = (intptr_t)map_get(&seen, t->agent, kl);
        struct err e;

        if (st == 0) {
            st = agent_active(b, t->agent, &a) + 2; /* 1 unknown, 2 inactive, 3 active */
            if (map_put(&seen, t->agent, kl, (void *)st) != 0) {
                st = 1;
            }
        }
        if (st == 2) {
            pthread_mutex_lock(&t->mu);
            if (strcmp(t->state, "active") == 0 &&
                tasks_end_locked(b, t, "revoked", "agent_inactive", NULL, "task.revoke", NULL, NULL,
                                 &e) != 0) {
                log_event(LOG_WARN, "tasks", NULL, "msg", "revoking a task failed", "task", t->id,
                          "detail", e.msg, (const char *)NULL);
            }
            pthread_mutex_unlock(&t->mu);
            tasks_end_subtree(b, t->id, NULL);
        } else if (st == 1) {
            log_event(LOG_WARN, "tasks", NULL, "msg", "agent status unknown: task kept", "task",
                      t->id, (const char *)NULL);
        }
    }
    /* references dropped after the map is done with their agent strings */
    for (i = 0; i < n; i++) {
        btask_put(live[i]);
    }
    map_free(&seen);
    arena_free(&a);
    free(live);
}

/* ---- introspection and RFC 7009 ------------------------------------------------------ */

int broker_token_introspect(struct broker *b, const char *token, size_t len, struct arena *a,
                            json_t **out, struct err *e)
{
    struct tasks_token tk;
    const char *why;
    json_t *j = NULL;
    int r;

    (void)a;
    *out = NULL;
    r = tasks_token_resolve(b, token, len, &tk, &why, e);
    if (r == ERR_AUTH) {
        tasks_token_clear(&tk);
        return broker_json_out(json_pack("{s:b}", "active", 0), out, e);
    }
    if (r != 0) {
        tasks_token_clear(&tk);
        return r;
    }
    pthread_mutex_lock(&tk.task->mu);
    if (strcmp(tk.task->state, "active") != 0 || tk.task->expires_ms <= clock_wall_ms()) {
        j = json_pack("{s:b, s:s, s:s}", "active", 0, "task", tk.task->id, "task_state",
                      tk.task->expires_ms <= clock_wall_ms() ? "expired" : tk.task->state);
    } else {
        j = json_deep_copy(tk.claims);
        if (j != NULL) {
            json_object_set_new(j, "active", json_true());
            json_object_set_new(j, "token_type", json_string(tk.task->jkt ? "DPoP" : "Bearer"));
            json_object_set_new(j, "client_id", json_string(tk.task->agent));
            json_object_set_new(j, "task_state", json_string(tk.task->state));
            json_object_set_new(j, "calls", json_integer(tk.task->calls));
            if (json_object_get(j, "authorization_details") == NULL) {
                json_object_set(j, "authorization_details", tk.task->granted);
            }
        }
    }
    pthread_mutex_unlock(&tk.task->mu);
    tasks_token_clear(&tk);
    return broker_json_out(j, out, e);
}

int broker_token_revoke(struct broker *b, const char *token, size_t len, const char *request_id,
                        struct err *e)
{
    struct broker_caller sys = {NULL, ROLE_NONE, NULL, request_id};
    struct broker_tasks *tt = TT(b);
    struct tasks_token tk;
    const char *why, *jti;
    json_t *detail;
    int r;

    r = tasks_token_resolve(b, token, len, &tk, &why, e);
    if (r == ERR_AUTH) {
        tasks_token_clear(&tk);
        return 0; /* RFC 7009 2.2: an invalid token is not an error */
    }
    if (r != 0) {
        tasks_token_clear(&tk);
        return r;
    }
    jti = jstr(tk.claims, "jti");
    if (tt != NULL && jti != NULL) {
        pthread_rwlock_wrlock(&tt->lock);
        if (revoked_add_locked(tt, jti, tk.task->expires_ms) != 0) {
            log_event(LOG_WARN, "tasks", request_id, "msg", "revoked jti set full",
                      (const char *)NULL);
        }
        pthread_rwlock_unlock(&tt->lock);
    }
    detail = json_pack("{s:s, s:s?}", "via", "oauth2/revoke", "jti", jti);
    pthread_mutex_lock(&tk.task->mu);
    r = tasks_end_locked(b, tk.task, "revoked", "token_revoked", &sys, "token.revoke", detail, NULL,
                         e);
    pthread_mutex_unlock(&tk.task->mu);
    if (r == 0) {
        tasks_end_subtree(b, tk.task->id, &sys);
    }
    json_decref(detail);
    tasks_token_clear(&tk);
    return r == ERR_CONFLICT ? 0 : r;
}

/* ---- delegation and bulk revocation (K1) ------------------------------------------- */

int tasks_carve(struct btask *t, int64_t n)
{
    int r = 0;

    pthread_mutex_lock(&t->mu);
    if (n > 0 && t->budget - t->calls - t->carved < n) {
        r = ERR_LIMIT;
    } else {
        t->carved += n;
        if (t->carved < 0) {
            t->carved = 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return r;
}

size_t tasks_collect_live(struct broker *b, int (*match)(const struct btask *, void *), void *ctx,
                          struct btask ***out)
{
    struct broker_tasks *tt = TT(b);
    struct btask **v;
    size_t n = 0, i;

    *out = NULL;
    if (tt == NULL) {
        return 0;
    }
    pthread_rwlock_rdlock(&tt->lock);
    v = calloc(tt->nheap ? tt->nheap : 1, sizeof(*v));
    for (i = 0; v != NULL && i < tt->nheap; i++) {
        struct btask *t = tt->heap[i];
        /* state is read without t->mu: a stale "active" only means one
         * more task is looked at (its end under the mutex decides). */
        if (t->state == state_static("active") && match(t, ctx)) {
            atomic_fetch_add(&t->refs, 1);
            v[n++] = t;
        }
    }
    pthread_rwlock_unlock(&tt->lock);
    *out = v;
    return v ? n : 0;
}

void tasks_put_all(struct btask **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        btask_put(v[i]); /* NULL fine */
    }
    free(v);
}

static int child_of(const struct btask *t, void *ctx)
{
    return t->parent != NULL && strcmp(t->parent, (const char *)ctx) == 0;
}

static void end_subtree(struct broker *b, const char *id, const struct broker_caller *c, int depth)
{
    struct broker_tasks *tt = TT(b);
    struct btask **v;
    size_t n, i;

    if (tt == NULL || atomic_load(&tt->children) == 0 || depth > LIMIT_DELEG_DEPTH_MAX) {
        return;
    }
    n = tasks_collect_live(b, child_of, (void *)id, &v);
    for (i = 0; i < n; i++) {
        struct btask *t = v[i];
        json_t *detail = json_pack("{s:s}", "parent_task", id);
        struct err e;
        int r;

        pthread_mutex_lock(&t->mu);
        r = strcmp(t->state, "active") == 0 ? tasks_end_locked(b, t, "revoked", "parent_ended", c,
                                                               "task.revoke", detail, NULL, &e)
                                            : 0;
        pthread_mutex_unlock(&t->mu);
        json_decref(detail);
        if (r != 0 && r != ERR_CONFLICT) {
            log_event(LOG_WARN, "tasks", c ? c->request_id : NULL, "msg",
                      "revoking a delegated task failed", "task", t->id, "detail", e.msg,
                      (const char *)NULL);
        }
        end_subtree(b, t->id, c, depth + 1);
    }
    tasks_put_all(v, n);
}

void tasks_end_subtree(struct broker *b, const char *id, const struct broker_caller *c)
{
    end_subtree(b, id, c, 0);
}

struct batch_ctx {
    struct btask **v;
    struct store_task *rows; /* snapshots taken under each task's mutex */
    size_t n;
    const char *reason;
    const struct broker_caller *c;
    const struct broker_audit_event *ev;
    int (*also)(struct store *, void *, struct err *);
    void *also_ctx;
    int64_t seq;
};

static int batch_tx(struct store *s, void *ctx, struct err *e)
{
    struct batch_ctx *x = ctx;
    size_t i;
    int r = 0;

    for (i = 0; r == 0 && i < x->n; i++) {
        struct btask *t = x->v[i];
        const struct store_task *row = &x->rows[i];
        if (t == NULL) {
            continue;
        }
        /* No task mutex here: a check holds its task's mutex while it
         * commits, so taking one inside this transaction would deadlock.
         * The snapshot is safe: once revoked, no check writes the row. */
        r = s->ops->task_update(s, row, e);
        if (r == 0) {
            struct store_revocation rv = {t->id, "task", x->reason, row->ended_ms, row->expires_ms};
            r = s->ops->revocation_insert(s, &rv, e);
            if (r == 0 && t->jti != NULL) {
                struct store_revocation rj = {t->jti, "token", x->reason, row->ended_ms,
                                              row->expires_ms};
                r = s->ops->revocation_insert(s, &rj, e);
            }
            r = r == ERR_CONFLICT ? 0 : r;
        }
    }
    r = r ? r : x->also ? x->also(s, x->also_ctx, e) : 0;
    return r ? r : x->ev ? broker_audit(s, x->c, x->ev, &x->seq, e) : 0;
}

size_t tasks_revoke_batch(struct broker *b, struct btask **v, size_t n, const char *reason,
                          const struct broker_caller *c, const struct broker_audit_event *ev,
                          int (*also)(struct store *, void *, struct err *), void *also_ctx,
                          int64_t *seq, struct err *e, int *rc)
{
    struct broker_tasks *tt = TT(b);
    struct batch_ctx x;
    struct store_task *rows = calloc(n ? n : 1, sizeof(*rows));
    int64_t now = clock_wall_ms();
    size_t i, done = 0;

    if (rows == NULL) {
        *rc = err_set(e, ERR_NOMEM, "out of memory");
        return 0;
    }

    /* Memory first: from here no check allows these tasks' tokens.  Tasks
     * that had ended are dropped from v (NULL) but keep their reference. */
    for (i = 0; i < n; i++) {
        struct btask *t = v[i];
        pthread_mutex_lock(&t->mu);
        if (strcmp(t->state, "active") == 0 && t->expires_ms > now) {
            t->state = state_static("revoked");
            t->ended_ms = now;
            if (tt != NULL) {
                atomic_fetch_sub(&tt->live, 1);
            }
            btask_row(t, &rows[i]);
            done++;
            pthread_mutex_unlock(&t->mu);
        } else {
            pthread_mutex_unlock(&t->mu);
            btask_put(t);
            v[i] = NULL;
        }
    }
    memset(&x, 0, sizeof(x));
    x.v = v;
    x.rows = rows;
    x.n = n;
    x.reason = reason;
    x.c = c;
    x.ev = ev;
    x.also = also;
    x.also_ctx = also_ctx;
    *rc = store_tx(b->store, batch_tx, &x, e);
    if (*rc != 0) {
        log_event(LOG_ERROR, "tasks", c ? c->request_id : NULL, "msg",
                  "tasks revoked in memory but the store write failed", "detail", e->msg,
                  (const char *)NULL);
    }
    if (seq != NULL) {
        *seq = x.seq;
    }
    free(rows);
    return done;
}
