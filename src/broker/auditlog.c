/*
 * auditlog.c: signed checkpoints of the audit hash chain and its verifier
 * (docs/audit.md).
 *
 * The chain itself is written by the store (store_audit_hash, set inside the
 * writer's transaction).  A chain alone shows edits but not a rewrite: whoever
 * can write the file can recompute every hash after the record they change.
 * Checkpoints close that: every N records or T seconds the head (seq and
 * hash) is signed with Mandate's signing key and stored; the checkpoints are
 * public (GET /v1/audit/checkpoints), so an outside party that kept one can
 * hold Mandate to everything up to it, and a verifier given Mandate's JWKS
 * detects a rewritten or truncated chain.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_int.h"
#include "jose/jose_trust.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

/* ---- verification ---------------------------------------------------------- */

static int broken(struct broker_audit_verify *out, int64_t seq, int cp, const char *fmt, ...)
    PRINTF_LIKE(4, 5);

static int broken(struct broker_audit_verify *out, int64_t seq, int cp, const char *fmt, ...)
{
    va_list ap;

    out->bad_seq = seq;
    out->bad_checkpoint = cp;
    va_start(ap, fmt);
    vsnprintf(out->what, sizeof(out->what), fmt, ap);
    va_end(ap);
    return 1;
}

/* The payload of a checkpoint JWS must carry the row's seq and head; with a
 * verifier the signature must verify.  0 ok, 1 broken. */
static int check_jws(const struct store_audit_checkpoint *c, const struct jose_verifier *v,
                     struct broker_audit_verify *out)
{
    const char *d1 = strchr(c->jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    uint8_t *pl = NULL;
    size_t plen = 0;
    json_t *j = NULL;
    json_int_t seq = 0;
    const char *head = NULL;
    struct err e;
    int r = 0;

    err_clear(&e);
    if (d1 == NULL || d2 == NULL) {
        return broken(out, c->seq, 1, "checkpoint %lld: not a compact JWS", (long long)c->seq);
    }
    if (v != NULL) {
        if (jose_jws_verify(v, c->jws, strlen(c->jws), NULL, &pl, &plen, NULL, &e) != 0) {
            return broken(out, c->seq, 1, "checkpoint %lld: signature does not verify: %s",
                          (long long)c->seq, e.msg);
        }
        out->signatures++;
    } else if (jose_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl, &plen, NULL) != 0) {
        return broken(out, c->seq, 1, "checkpoint %lld: payload is not base64url",
                      (long long)c->seq);
    }
    j = json_loadb((const char *)pl, plen, JSON_REJECT_DUPLICATES, NULL);
    if (j == NULL || json_unpack(j, "{s:I, s:s}", "seq", &seq, "head", &head) != 0 ||
        seq != c->seq || strcmp(head, c->head) != 0) {
        r = broken(out, c->seq, 1,
                   "checkpoint %lld: the signed payload does not match the stored seq and head",
                   (long long)c->seq);
    }
    json_decref(j);
    free(pl);
    return r;
}

struct cp_cursor {
    struct store *s;
    struct arena a;
    struct store_audit_checkpoint *v;
    size_t n, i;
    int64_t after;
    int done;
};

/* The next checkpoint (NULL at the end). */
static int cp_peek(struct cp_cursor *c, struct store_audit_checkpoint **out, struct err *e)
{
    *out = NULL;
    if (c->i == c->n && !c->done) {
        int r;
        arena_free(&c->a);
        arena_init(&c->a, 0, 0);
        c->i = 0;
        r = c->s->ops->audit_checkpoint_list(c->s, c->after, LIMIT_AUDIT_VERIFY_PAGE, &c->a, &c->v,
                                             &c->n, e);
        if (r != 0) {
            return r;
        }
        if (c->n < LIMIT_AUDIT_VERIFY_PAGE) {
            c->done = 1;
        }
        if (c->n > 0) {
            c->after = c->v[c->n - 1].seq;
        }
    }
    if (c->i < c->n) {
        *out = &c->v[c->i];
    }
    return 0;
}

/* The walk's state: the chain so far and the checkpoint cursor. */
struct vstate {
    struct cp_cursor cc;
    const struct jose_verifier *v;
    struct broker_audit_verify *out;
    struct store_audit_hasher *h;
    int boundary; /* the second half of a split walk: its first record's link is
                     checked against the first half's end afterwards */
    char first_prev[STORE_AUDIT_HASH_HEX + 1];
    char prev[STORE_AUDIT_HASH_HEX + 1];
    int64_t last;
    struct err *e;
};

/* The checkpoints up to record x: checked, and a pruned start taken from
 * the one just before it.  0 go on, 1 broken, negative ERR_*. */
static int verify_checkpoints(struct vstate *vs, const struct store_audit *x)
{
    struct broker_audit_verify *out = vs->out;
    struct store_audit_checkpoint *cp;
    int r;

    for (;;) {
        r = cp_peek(&vs->cc, &cp, vs->e);
        if (r != 0) {
            return r;
        }
        if (cp == NULL || cp->seq > x->seq) {
            return 0;
        }
        if (check_jws(cp, vs->v, out) != 0) {
            return 1;
        }
        if (cp->seq < x->seq && vs->last == 0 && x->seq == cp->seq + 1 &&
            strcmp(cp->head, x->prev_hash) == 0) {
            /* pruned up to this checkpoint: the chain starts from it */
            memcpy(vs->prev, cp->head, sizeof(vs->prev));
        } else if (cp->seq < x->seq && vs->last != 0) {
            return broken(out, cp->seq, 1, "checkpoint %lld: its record is missing (deleted)",
                          (long long)cp->seq);
        } else if (cp->seq == x->seq && strcmp(cp->head, x->hash) != 0) {
            return broken(out, cp->seq, 1,
                          "checkpoint %lld: does not match the chain (head %.16s..., "
                          "record %.16s...): rewritten from here or before",
                          (long long)cp->seq, cp->head, x->hash);
        }
        out->checkpoints++;
        vs->cc.i++;
    }
}

/* Everything about record x but its own hash: checkpoints, numbering and
 * the link to the record before.  0 go on, 1 broken, negative ERR_*. */
static int verify_links(struct vstate *vs, const struct store_audit *x)
{
    struct broker_audit_verify *out = vs->out;
    int r = verify_checkpoints(vs, x);

    if (r != 0) {
        return r;
    }
    if (vs->last == 0 && vs->boundary) {
        if (strlen(x->prev_hash) != STORE_AUDIT_HASH_HEX) {
            return broken(out, x->seq, 0, "record %lld: not linked", (long long)x->seq);
        }
        memcpy(vs->first_prev, x->prev_hash, sizeof(vs->first_prev));
        out->first_seq = x->seq;
    } else if (vs->last == 0) {
        if (x->seq == 1 && strcmp(x->prev_hash, store_audit_genesis) != 0) {
            return broken(out, x->seq, 0, "record 1: does not start the chain");
        }
        if (x->seq != 1 && strcmp(vs->prev, x->prev_hash) != 0) {
            return broken(out, x->seq, 0,
                          "record %lld: records before it are missing and no checkpoint "
                          "covers them",
                          (long long)x->seq);
        }
        out->first_seq = x->seq;
    } else if (x->seq != vs->last + 1) {
        return broken(out, vs->last + 1, 0, "records %lld..%lld: missing (deleted)",
                      (long long)(vs->last + 1), (long long)(x->seq - 1));
    } else if (strcmp(x->prev_hash, vs->prev) != 0) {
        return broken(out, x->seq, 0,
                      "record %lld: does not link to record %lld (inserted or reordered)",
                      (long long)x->seq, (long long)vs->last);
    }
    memcpy(vs->prev, x->hash, sizeof(vs->prev));
    vs->last = x->seq;
    out->last_seq = x->seq;
    out->records++;
    return 0;
}

static int no_hash(struct vstate *vs, const struct store_audit *x)
{
    if (x->hash == NULL || x->prev_hash == NULL) {
        return broken(vs->out, x->seq, 0, "record %lld: no hash (written outside the chain)",
                      (long long)x->seq);
    }
    return 0;
}

/* One record, in seq order (the sequential walk, which names the first
 * finding exactly): 0 go on, 1 broken, negative ERR_*. */
static int verify_one(void *ctx, const struct store_audit *x)
{
    struct vstate *vs = ctx;
    char h[STORE_AUDIT_HASH_HEX + 1];

    if (no_hash(vs, x) != 0) {
        return 1;
    }
    if (store_audit_hasher_hash(vs->h, x, x->prev_hash, h) != 0 || strcmp(h, x->hash) != 0) {
        return broken(vs->out, x->seq, 0,
                      "record %lld: modified (its hash does not match its content)",
                      (long long)x->seq);
    }
    return verify_links(vs, x);
}

/* After the last record: a checkpoint past it means a truncated tail. */
static int verify_tail(struct vstate *vs, struct err *e)
{
    struct store_audit_checkpoint *cp;
    int r = cp_peek(&vs->cc, &cp, e);

    if (r == 0 && cp != NULL) {
        if (check_jws(cp, vs->v, vs->out) == 0) {
            broken(vs->out, cp->seq, 1,
                   "checkpoint %lld: past the end of the trail (last record %lld): the tail "
                   "was truncated",
                   (long long)cp->seq, (long long)vs->last);
        }
        r = 1;
    }
    return r;
}

/* ---- the fast walk: two halves on two threads --------------------------------
 * A long trail is cut at the middle seq; each half is walked by its own
 * thread (its own read connection, hasher and checkpoint cursor), and the
 * halves must meet: the second starts right after the first ends and links
 * to its last hash.  Any finding at all sends the caller back to the
 * sequential walk, which names the first one exactly: the fast walk only
 * has to say "intact". */

struct half {
    struct store *s;
    struct vstate vs;
    struct broker_audit_verify out;
    int64_t after, upto;
    int r;
    struct err e;
};

static void *half_thread(void *arg)
{
    struct half *hf = arg;

    hf->r = hf->s->ops->audit_scan(hf->s, hf->after, hf->upto, verify_one, &hf->vs, &hf->e);
    return NULL;
}

static int half_init(struct half *hf, struct store *s, const struct jose_verifier *v, int64_t after,
                     int64_t upto)
{
    memset(hf, 0, sizeof(*hf));
    hf->s = s;
    hf->after = after;
    hf->upto = upto;
    hf->vs.cc.s = s;
    hf->vs.cc.after = after; /* checkpoints of this half only */
    hf->vs.v = v;
    hf->vs.out = &hf->out;
    hf->vs.e = &hf->e;
    hf->vs.boundary = after > 0;
    arena_init(&hf->vs.cc.a, 0, 0);
    err_clear(&hf->e);
    return store_audit_hasher_new(&hf->vs.h);
}

static void half_free(struct half *hf)
{
    arena_free(&hf->vs.cc.a);
    store_audit_hasher_free(hf->vs.h);
}

/* The first and last seq in the store (0, 0 when empty). */
static int seq_range(struct store *s, int64_t *lo, int64_t *hi, struct err *e)
{
    char head[STORE_AUDIT_HASH_HEX + 1];
    struct store_audit *v;
    struct arena a;
    size_t n = 0;
    int r;

    *lo = *hi = 0;
    arena_init(&a, 0, 0);
    r = s->ops->audit_list(s, 0, 1, &a, &v, &n, e);
    if (r == 0 && n == 1) {
        *lo = v[0].seq;
        r = s->ops->audit_head(s, hi, head, e);
    }
    arena_free(&a);
    return r;
}

/* 0: the trail is intact (out filled in); 1: something is not, or the
 * trail is short, or no second thread: walk it sequentially. */
static int verify_fast(struct store *s, const struct jose_verifier *v,
                       struct broker_audit_verify *out, struct err *e)
{
    struct half h1, h2;
    sigset_t all, old;
    pthread_t th;
    int64_t lo, hi, mid;
    int r = 1, rc;

    if (seq_range(s, &lo, &hi, e) != 0 || hi - lo < 2 * LIMIT_AUDIT_VERIFY_SPLIT_MIN) {
        err_clear(e);
        return 1;
    }
    mid = lo + (hi - lo) / 2;
    rc = half_init(&h1, s, v, 0, mid);
    rc |= half_init(&h2, s, v, mid, INT64_MAX);
    if (rc != 0) {
        half_free(&h1);
        half_free(&h2);
        return 1;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&th, NULL, half_thread, &h2);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        half_thread(&h1);
        pthread_join(th, NULL);
        /* both intact, and the halves meet */
        if (h1.r == 0 && h2.r == 0 && h1.out.records > 0 && h2.out.records > 0 &&
            h2.out.first_seq == h1.vs.last + 1 &&
            memcmp(h2.vs.first_prev, h1.vs.prev, STORE_AUDIT_HASH_HEX) == 0 &&
            verify_tail(&h2.vs, e) == 0) {
            *out = h1.out;
            out->records += h2.out.records;
            out->last_seq = h2.out.last_seq;
            out->checkpoints += h2.out.checkpoints;
            out->signatures += h2.out.signatures;
            r = 0;
        }
    }
    half_free(&h1);
    half_free(&h2);
    err_clear(e);
    return r;
}

/* For a store without audit_scan: pages of audit_list. */
static int verify_pages(struct store *s, struct vstate *vs, struct err *e)
{
    struct store_audit *recs;
    struct arena a;
    int64_t after = 0;
    size_t n, i;
    int r = 0;

    arena_init(&a, 0, 0);
    for (;;) {
        arena_free(&a);
        arena_init(&a, 0, 0);
        r = s->ops->audit_list(s, after, LIMIT_AUDIT_VERIFY_PAGE, &a, &recs, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            r = verify_one(vs, &recs[i]);
        }
        if (r != 0 || n < LIMIT_AUDIT_VERIFY_PAGE) {
            break;
        }
        after = recs[n - 1].seq;
    }
    arena_free(&a);
    return r;
}

static void vstate_init(struct vstate *vs, struct store *s, const struct jose_verifier *v,
                        struct broker_audit_verify *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    memset(vs, 0, sizeof(*vs));
    vs->cc.s = s;
    vs->v = v;
    vs->out = out;
    vs->e = e;
    arena_init(&vs->cc.a, 0, 0);
}

int broker_audit_verify(struct store *s, const struct jose_verifier *v,
                        struct broker_audit_verify *out, struct err *e)
{
    struct vstate vs;
    int r;

    vstate_init(&vs, s, v, out, e);
    if (s->ops->audit_checkpoint_list == NULL) {
        r = err_set(e, ERR_UNSUPPORTED, "this store keeps no audit checkpoints");
        goto out;
    }
    if (s->ops->audit_scan != NULL && verify_fast(s, v, out, e) == 0) {
        r = 0; /* intact */
        goto out;
    }
    /* a finding (or a short trail): the sequential walk names the first */
    arena_free(&vs.cc.a);
    vstate_init(&vs, s, v, out, e);
    r = store_audit_hasher_new(&vs.h);
    if (r != 0) {
        r = err_set(e, r, "out of memory");
        goto out;
    }
    r = s->ops->audit_scan != NULL ? s->ops->audit_scan(s, 0, INT64_MAX, verify_one, &vs, e)
                                   : verify_pages(s, &vs, e);
    r = r == 0 ? verify_tail(&vs, e) : r;
out:
    arena_free(&vs.cc.a);
    store_audit_hasher_free(vs.h);
    return r;
}

/* ---- making checkpoints ------------------------------------------------------- */

int broker_audit_checkpoint(struct broker *b, int64_t *seq, struct err *e)
{
    struct store_audit_checkpoint c, lastc;
    char head[STORE_AUDIT_HASH_HEX + 1];
    struct arena a;
    json_t *claims = NULL;
    char *jws = NULL;
    int64_t hs = 0;
    int r;

    if (seq != NULL) {
        *seq = 0;
    }
    if (b->rt == NULL || b->rt->keyring == NULL) {
        return err_set(e, ERR_UNSUPPORTED, "audit checkpoints need the runtime's signing key");
    }
    arena_init(&a, 0, 0);
    r = b->store->ops->audit_head(b->store, &hs, head, e);
    if (r != 0 || hs == 0 || head[0] == '\0') {
        goto out;
    }
    r = b->store->ops->audit_checkpoint_last(b->store, &a, &lastc, e);
    if (r == 0 && lastc.seq >= hs) {
        goto out; /* nothing new */
    }
    if (r != 0 && r != ERR_NOTFOUND) {
        goto out;
    }
    memset(&c, 0, sizeof(c));
    c.seq = hs;
    c.head = head;
    c.time_ms = clock_wall_ms();
    claims = json_pack("{s:s, s:I, s:s, s:I}", "iss", b->rt->issuer ? b->rt->issuer : "mandate",
                       "seq", (json_int_t)hs, "head", head, "iat", (json_int_t)(c.time_ms / 1000));
    if (claims == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = jose_keyring_sign(b->rt->keyring, claims, BROKER_CHECKPOINT_TYP, &jws, e);
    if (r == 0) {
        c.jws = jws;
        r = b->store->ops->audit_checkpoint_insert(b->store, &c, e);
    }
    if (r == 0 && seq != NULL) {
        *seq = hs;
    }
out:
    json_decref(claims);
    free(jws);
    arena_free(&a);
    return r;
}

struct broker_ckpt {
    struct broker *b;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int64_t records, seconds;
};

static void ckpt_once(struct broker_ckpt *k, int64_t *last_ms, int force)
{
    struct broker *b = k->b;
    struct store_audit_checkpoint lastc;
    char head[STORE_AUDIT_HASH_HEX + 1];
    struct arena a;
    struct err e;
    int64_t hs = 0, cs = 0, now = clock_wall_ms(), got = 0;

    err_clear(&e);
    arena_init(&a, 0, 0);
    if (b->store->ops->audit_head(b->store, &hs, head, &e) == 0 &&
        b->store->ops->audit_checkpoint_last(b->store, &a, &lastc, &e) == 0) {
        cs = lastc.seq;
    }
    if (hs > cs && (force || hs - cs >= k->records || now - *last_ms >= k->seconds * 1000)) {
        if (broker_audit_checkpoint(b, &got, &e) != 0) {
            log_event(LOG_WARN, "audit", NULL, "msg", "checkpoint failed", "error", e.msg,
                      (const char *)NULL);
        }
        *last_ms = now;
    } else if (hs == cs) {
        *last_ms = now;
    }
    arena_free(&a);
}

/* The first record's seq (0 when empty). */
static int first_seq(struct store *s, int64_t *seq, struct err *e)
{
    struct store_audit *v;
    struct arena a;
    size_t n = 0;
    int r;

    *seq = 0;
    arena_init(&a, 0, 0);
    r = s->ops->audit_list(s, 0, 1, &a, &v, &n, e);
    if (r == 0 && n == 1) {
        *seq = v[0].seq;
    }
    arena_free(&a);
    return r;
}

/* Retention (serve --audit-retention-days): at most every
 * LIMIT_AUDIT_PRUNE_INTERVAL_S, right after a checkpoint had its chance. */
static void retention_once(struct broker_ckpt *k, int64_t *last_prune_ms)
{
    struct broker *b = k->b;
    struct broker_audit_prune p;
    int64_t now = clock_wall_ms(), days = b->rt->audit_retention_days;
    struct err e;
    char n[24], cp[24];
    int64_t first = 0;
    int r;

    if (days <= 0 ||
        (*last_prune_ms != 0 && now - *last_prune_ms < LIMIT_AUDIT_PRUNE_INTERVAL_S * 1000)) {
        return;
    }
    *last_prune_ms = now;
    err_clear(&e);
    /* at most LIMIT_AUDIT_PRUNE_BATCH records a transaction: checks wait
     * for the writer meanwhile; what is left goes on at the next tick */
    r = first_seq(b->store, &first, &e);
    r = r ? r
          : broker_audit_prune(b->store, NULL, first + LIMIT_AUDIT_PRUNE_BATCH,
                               now - days * 86400000, &p, &e);
    if (r == ERR_NOTFOUND) { /* checkpoints further apart than a batch */
        r = broker_audit_prune(b->store, NULL, INT64_MAX, now - days * 86400000, &p, &e);
    }
    if (r != 0) {
        if (r != ERR_NOTFOUND) {
            log_event(LOG_WARN, "audit", NULL, "msg", "retention: prune failed", "error", e.msg,
                      (const char *)NULL);
        }
        return;
    }
    if (p.deleted > 0) {
        *last_prune_ms = 0; /* maybe more: again at the next tick */
        snprintf(n, sizeof(n), "%lld", (long long)p.deleted);
        snprintf(cp, sizeof(cp), "%lld", (long long)p.checkpoint);
        log_event(LOG_INFO, "audit", NULL, "msg", "retention: records pruned", "deleted", n,
                  "checkpoint", cp, (const char *)NULL);
    }
}

static void *ckpt_thread(void *arg)
{
    struct broker_ckpt *k = arg;
    int64_t last_ms = clock_wall_ms(), last_prune_ms = 0;

    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&k->cv, &k->mu, &ts);
        if (k->stop) {
            break;
        }
        pthread_mutex_unlock(&k->mu);
        ckpt_once(k, &last_ms, 0);
        retention_once(k, &last_prune_ms);
        pthread_mutex_lock(&k->mu);
    }
    pthread_mutex_unlock(&k->mu);
    ckpt_once(k, &last_ms, 1); /* the last records of this run */
    return NULL;
}

int broker_audit_checkpoints_start(struct broker *b, int64_t records, int64_t seconds,
                                   struct err *e)
{
    struct broker_ckpt *k;
    sigset_t all, old;
    int rc;

    if (b->rt == NULL || b->rt->ckpt != NULL) {
        return err_set(e, ERR_INTERNAL, "audit checkpoints: no runtime, or started already");
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    k->b = b;
    k->records = records > 0 ? records : LIMIT_AUDIT_CHECKPOINT_RECORDS;
    k->seconds = seconds > 0 ? seconds : LIMIT_AUDIT_CHECKPOINT_S;
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cv, NULL);
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&k->th, NULL, ckpt_thread, k);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_destroy(&k->mu);
        pthread_cond_destroy(&k->cv);
        free(k);
        return err_set(e, ERR_INTERNAL, "audit checkpoints: cannot start the thread");
    }
    b->rt->ckpt = k;
    return 0;
}

void broker_audit_checkpoints_stop(struct broker *b)
{
    struct broker_ckpt *k;

    if (b == NULL || b->rt == NULL || b->rt->ckpt == NULL) {
        return;
    }
    k = b->rt->ckpt;
    pthread_mutex_lock(&k->mu);
    k->stop = 1;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->th, NULL);
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cv);
    free(k);
    b->rt->ckpt = NULL;
}

int broker_audit_checkpoint_list(struct broker *b, int64_t after, size_t limit, json_t **out,
                                 struct err *e)
{
    struct store_audit_checkpoint *v;
    struct arena a;
    json_t *items = json_array(), *page;
    size_t i, n = 0;
    int r;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    arena_init(&a, 0, 0);
    r = b->store->ops->audit_checkpoint_list(b->store, after, limit, &a, &v, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (json_array_append_new(items, json_pack("{s:I, s:s, s:o, s:s}", "seq",
                                                   (json_int_t)v[i].seq, "head", v[i].head, "time",
                                                   broker_time_json(v[i].time_ms), "jws",
                                                   v[i].jws)) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (r != 0) {
        json_decref(items);
        arena_free(&a);
        return r;
    }
    page = n == limit ? json_pack("{s:o, s:I}", "items", items, "next", (json_int_t)v[n - 1].seq)
                      : json_pack("{s:o, s:n}", "items", items, "next");
    arena_free(&a);
    return broker_json_out(page, out, e);
}
