/*
 * commitq.c: group commit for the check's audit records.
 *
 * A check is answered after its audit record (and its task's counter) is
 * durable.  With SQLite in WAL mode and synchronous=FULL each commit costs an
 * fsync (milliseconds), so one transaction per check caps the whole server
 * at a few hundred checks per second.  Here the checks waiting at the same
 * moment share one transaction: callers queue their work and sleep; one
 * writer thread runs every queued item inside a single store transaction,
 * commits once, and wakes them all.  If the shared transaction fails, each
 * item is retried in a transaction of its own, so one bad item cannot fail
 * its neighbours (item functions must therefore be safe to run again after a
 * rollback: they only write through the store handle they are given).
 *
 * Batches grow with the number of requests in flight (the server's worker
 * threads, `serve --threads`): with one thread there is no batching at all.
 * Everything queued while a commit (and its fsync) runs goes into the next
 * one.  Each waiter sleeps on its own condition variable and is woken alone
 * when its item is done (no herd of waiters rechecking on every commit).
 * The writer waits for checks still in flight to join a batch: up to
 * LIMIT_CHECK_COMMIT_WAIT_US while commits are slow (a sync takes
 * milliseconds), LIMIT_CHECK_COMMIT_WAIT_FAST_US when they are fast (the
 * store does not sync, `--audit-durability async`): even then each commit
 * writes every page it dirties to the WAL, so batches of one cost several
 * page writes per check.  Nobody waits when every caller in flight is queued.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/limits.h"
#include "util/log.h"

struct citem {
    int (*fn)(struct store *s, void *ctx, struct err *e);
    void *ctx;
    int rc;
    int done;
    struct err e;
    pthread_cond_t cv; /* signalled once done is set */
    struct citem *next;
};

struct commitq {
    struct store *s;
    pthread_mutex_t mu;
    pthread_cond_t work;
    struct citem *head, **tail;
    int stop;
    pthread_t th;
    unsigned long batches, items; /* for the log at stop */
    size_t queued;
    atomic_int inflight; /* callers between commitq_enter and commitq_leave */
    long last_commit_us; /* how long the last batch's commit took */
};

static long elapsed_us(const struct timespec *a, const struct timespec *b)
{
    return (long)(b->tv_sec - a->tv_sec) * 1000000L + (b->tv_nsec - a->tv_nsec) / 1000L;
}

struct batch {
    struct citem *items;
    size_t n;
};

static int batch_fn(struct store *s, void *ctx, struct err *e)
{
    struct batch *b = ctx;
    struct citem *it;
    size_t i;
    int r = 0;

    for (it = b->items, i = 0; it != NULL && i < b->n && r == 0; it = it->next, i++) {
        r = it->fn(s, it->ctx, e);
    }
    return r;
}

static void *writer(void *arg)
{
    struct commitq *q = arg;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct batch b = {NULL, 0};
        struct citem *it, *last = NULL, *next;
        struct timespec t0, t1;
        struct err e;
        int r;

        while (q->head == NULL && !q->stop) {
            pthread_cond_wait(&q->work, &q->mu);
        }
        if (q->head == NULL) {
            break; /* stopping, and nothing is left */
        }
        /* Callers still on their way (between enter and their queueing)
         * join this batch if they arrive within a short wait: one fsync for
         * all of them instead of one each.  Nobody waits when every caller
         * in flight is queued already (a lone check commits at once). */
        if (!q->stop && q->queued < (size_t)atomic_load(&q->inflight)) {
            long wait_us = q->last_commit_us >= LIMIT_CHECK_COMMIT_WAIT_US
                               ? LIMIT_CHECK_COMMIT_WAIT_US
                               : LIMIT_CHECK_COMMIT_WAIT_FAST_US;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += wait_us * 1000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            while (q->queued < (size_t)atomic_load(&q->inflight) &&
                   pthread_cond_timedwait(&q->work, &q->mu, &ts) == 0) {
            }
        }
        /* take up to a batch off the queue */
        b.items = q->head;
        for (it = q->head; it != NULL && b.n < LIMIT_CHECK_COMMIT_BATCH; it = it->next) {
            last = it;
            b.n++;
        }
        q->head = last->next;
        q->queued -= b.n;
        if (q->head == NULL) {
            q->tail = &q->head;
        }
        last->next = NULL;
        pthread_mutex_unlock(&q->mu);

        err_clear(&e);
        q->batches++;
        q->items += b.n;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        r = store_tx(q->s, batch_fn, &b, &e);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        for (it = b.items; it != NULL; it = it->next) {
            if (r == 0) {
                it->rc = 0;
            } else if (b.n == 1) {
                it->rc = r;
                it->e = e;
            } else {
                err_clear(&it->e);
                it->rc = store_tx(q->s, it->fn, it->ctx, &it->e);
            }
        }
        pthread_mutex_lock(&q->mu);
        q->last_commit_us = elapsed_us(&t0, &t1);
        for (it = b.items; it != NULL; it = next) {
            next = it->next; /* it belongs to its caller once done is set */
            it->done = 1;
            pthread_cond_signal(&it->cv);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int commitq_start(struct store *s, struct commitq **out, struct err *e)
{
    struct commitq *q = calloc(1, sizeof(*q));
    sigset_t all, old;
    int rc;

    *out = NULL;
    if (q == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    q->s = s;
    q->tail = &q->head;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    q->last_commit_us = LIMIT_CHECK_COMMIT_WAIT_US; /* until measured: assume a sync */
    /* The writer takes no signals (`serve` waits for them in its main
     * thread; the runtime may start before it blocks them). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&q->th, NULL, writer, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&q->mu);
        pthread_cond_destroy(&q->work);
        free(q);
        return err_set(e, ERR_INTERNAL, "commitq: cannot start the writer thread");
    }
    *out = q;
    return 0;
}

void commitq_stop(struct commitq *q)
{
    if (q == NULL) {
        return;
    }
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL); /* the writer drains the queue first */
    if (q->batches > 0) {
        char nb[24], ni[24];
        snprintf(nb, sizeof(nb), "%lu", q->batches);
        snprintf(ni, sizeof(ni), "%lu", q->items);
        log_event(LOG_INFO, "commitq", NULL, "msg", "group commit", "batches", nb, "items", ni,
                  (const char *)NULL);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->work);
    free(q);
}

void commitq_enter(struct commitq *q)
{
    if (q != NULL) {
        atomic_fetch_add(&q->inflight, 1);
    }
}

void commitq_leave(struct commitq *q)
{
    if (q != NULL) {
        atomic_fetch_sub(&q->inflight, 1);
    }
}

int commitq_run(struct commitq *q, struct store *s, int (*fn)(struct store *, void *, struct err *),
                void *ctx, struct err *e)
{
    struct citem it;

    if (q == NULL) {
        return store_tx(s, fn, ctx, e);
    }
    memset(&it, 0, sizeof(it));
    it.fn = fn;
    it.ctx = ctx;
    pthread_mutex_lock(&q->mu);
    if (q->stop) {
        pthread_mutex_unlock(&q->mu);
        return store_tx(s, fn, ctx, e);
    }
    pthread_cond_init(&it.cv, NULL);
    *q->tail = &it;
    q->tail = &it.next;
    q->queued++;
    pthread_cond_signal(&q->work);
    while (!it.done) {
        pthread_cond_wait(&it.cv, &q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    pthread_cond_destroy(&it.cv);
    if (it.rc != 0 && e != NULL) {
        *e = it.e;
    }
    return it.rc;
}
