/*
 * keys.c: Mandate's signing keys while serving (broker.h "signing keys", broker_int.h).
 *
 * The keyring in memory and the envelopes in the store must agree: a key
 * that signs must be persisted (or a restart loses it and the tokens it
 * signed), a revoked key must be gone from both (or a restart brings it
 * back).  Every change runs under one mutex (keys->mu): rotation by the
 * schedule, rotation on demand, revocation, and the tick that follows the
 * store, so two of them never interleave.  Signing does not take it: the
 * keyring has its own short lock and signs on a key reference.
 *
 * The verifier of task tokens is built from the published JWKS and swapped
 * under rt->verifier_lock held exclusively; verifications hold it shared for
 * their whole run, so none ever sees a freed or half-built key set.  A new
 * key is stored and in the verifier before it may sign (add_key).
 *
 * A revoked key takes the live tasks it signed with it (revoke_tasks): the
 * task table caches verified tokens by hash, so dropping the key alone would
 * not refuse a token already in use.  A replica that finds a key gone from
 * the store does the same for its own table (dropped).
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/broker_int.h"
#include "util/arena.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"

struct broker_keys {
    pthread_mutex_t mu; /* serialises changes of keyring + envelopes */
    pthread_mutex_t tmu;
    pthread_cond_t cv;
    int stop;
    int64_t tick_s;
    pthread_t th;
    int has_thread;
    char *published;   /* the published kids, space-separated: rebuild on change */
    enum jose_alg alg; /* of new keys */
};

#define KEYS(b) ((b)->rt != NULL ? (b)->rt->keys : NULL)

/* Why the tasks a revoked key signed end (their revocation records). */
#define KEYS_TASK_REASON "signing_key_revoked"

/* ---- the verifier of task tokens ------------------------------------------------- */

/* The published kids as one string (to notice a change); NULL: no memory. */
static char *kids_text(struct jose_keyring *kr, struct err *e)
{
    char **kids = NULL, *s = NULL;
    size_t n = 0, i, len = 1, at = 0;

    if (jose_keyring_kids(kr, &kids, &n, e) != 0) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        len += strlen(kids[i]) + 1;
    }
    s = calloc(1, len);
    for (i = 0; s != NULL && i < n; i++) {
        size_t l = strlen(kids[i]);
        memcpy(s + at, kids[i], l);
        s[at + l] = ' ';
        at += l + 1;
    }
    for (i = 0; i < n; i++) {
        free(kids[i]);
    }
    free(kids);
    if (s == NULL) {
        err_set(e, ERR_NOMEM, "out of memory");
    }
    return s;
}

/* The public keys of kr, appended to set (NULL: a new set). */
static int add_public(struct jose_keyring *kr, struct jose_jwks **set, struct err *e)
{
    struct jose_jwks *more = NULL;
    char *text = NULL;
    size_t i;
    int r;

    r = jose_keyring_jwks(kr, &text, e);
    r = r ? r : jose_jwks_parse(text, strlen(text), 0, *set == NULL ? set : &more, e);
    for (i = 0; r == 0 && more != NULL && i < jose_jwks_count(more); i++) {
        r = jose_jwks_add(*set, (struct jose_jwk *)jose_jwks_get(more, i), e);
    }
    jose_jwks_free(more);
    free(text);
    return r;
}

/* Rebuilds the verifier from the keyring's JWKS, plus the keys of extra (a
 * key about to join the keyring; NULL: none), when the published kids
 * changed (extra: always), and swaps it in. */
static int publish(struct broker *b, struct jose_keyring *extra, struct err *e)
{
    struct broker_runtime *rt = b->rt;
    struct broker_keys *k = rt->keys;
    struct jose_verifier *v = NULL, *old;
    struct jose_jwks *set = NULL;
    char *kids;
    int r;

    kids = kids_text(rt->keyring, e);
    if (kids == NULL) {
        return ERR_NOMEM;
    }
    if (extra == NULL && k->published != NULL && strcmp(kids, k->published) == 0) {
        free(kids);
        return 0;
    }
    r = add_public(rt->keyring, &set, e);
    r = r || extra == NULL ? r : add_public(extra, &set, e);
    r = r ? r : jose_verifier_new(set, 0, &v, e);
    jose_jwks_free(set);
    if (r != 0) {
        free(kids);
        return r;
    }
    pthread_rwlock_wrlock(&rt->verifier_lock);
    old = rt->token_verifier;
    rt->token_verifier = v;
    pthread_rwlock_unlock(&rt->verifier_lock);
    jose_verifier_free(old);
    free(k->published);
    k->published = extra == NULL ? kids : NULL; /* with extra: rebuilt once it joined */
    if (extra != NULL) {
        free(kids);
    } else {
        log_event(LOG_INFO, "keys_published", NULL, "kids", kids, (const char *)NULL);
    }
    return 0;
}

/* ---- store and audit --------------------------------------------------------------- */

struct key_tx {
    const struct broker_caller *c;
    const char *kid;
    const char *envelope; /* insert when set, else delete kid */
    struct broker_audit_event ev;
    int64_t seq;
};

static int key_tx_fn(struct store *s, void *ctx, struct err *e)
{
    struct key_tx *x = ctx;
    struct store_signing_key k;
    int r;

    if (x->envelope != NULL) {
        k.kid = x->kid;
        k.envelope = x->envelope;
        k.created_ms = clock_wall_ms();
        r = s->ops->signing_key_insert(s, &k, e);
    } else {
        r = s->ops->signing_key_delete(s, x->kid, e);
    }
    return r ? r : broker_audit(s, x->c, &x->ev, &x->seq, e);
}

/* One change of the stored keys and its audit record, in one transaction:
 * event "key.rotate" inserts env, "key.revoke" deletes kid; detail
 * {dkey: dval}.  *seq: the record. */
static int key_change(struct broker *b, const struct broker_caller *c, const char *event,
                      const char *kid, const char *env, const char *dkey, const char *dval,
                      int64_t *seq, struct err *e)
{
    struct key_tx x;
    char res[LIMIT_ID_LEN + 8];
    int r;

    memset(&x, 0, sizeof(x));
    x.c = c;
    x.kid = kid;
    x.envelope = env;
    x.ev.event = event;
    snprintf(res, sizeof(res), "key:%s", kid);
    x.ev.resource = res;
    x.ev.detail = json_pack("{s:s}", dkey, dval);
    r = store_tx(b->store, key_tx_fn, &x, e);
    json_decref(x.ev.detail);
    *seq = x.seq;
    return r;
}

/* The kid member of an envelope (JSON text) into kid[]. */
static int envelope_kid(const char *env, char *kid, size_t cap, struct err *e)
{
    json_t *j = json_loads(env, JSON_REJECT_DUPLICATES, NULL);
    const char *s = json_string_value(json_object_get(j, "kid"));
    int r = 0;

    if (s == NULL || strlen(s) >= cap) {
        r = err_set(e, ERR_INTERNAL, "keyring: envelope without kid");
    } else {
        memcpy(kid, s, strlen(s) + 1);
    }
    json_decref(j);
    return r;
}

/* Makes a key that signs from at_s, in the order that keeps every request
 * safe: sealed in a scratch keyring (same KEK and algorithm), persisted with
 * its audit record ("key.rotate", why in detail), added to the verifier,
 * and only then loaded into the keyring that signs, so no token ever
 * carries a kid this server cannot verify yet, nor one a restart would not
 * know.  kid[] gets its kid; *seq (may be NULL) the record. */
static int add_key(struct broker *b, const struct broker_caller *c, int64_t at_s, const char *why,
                   char *kid, size_t cap, int64_t *seq, struct err *e)
{
    struct jose_keyring_conf conf = {b->rt->keys->alg, 0, 0, 0};
    struct jose_keyring *tmp = NULL;
    char *env = NULL;
    int64_t sq = 0;
    int r;

    kid[0] = '\0';
    r = jose_keyring_new(&conf, b->rt->kek, &tmp, e);
    r = r ? r : jose_keyring_rotate_at(tmp, at_s, &env, e);
    r = r ? r : envelope_kid(env, kid, cap, e);
    r = r ? r : key_change(b, c, "key.rotate", kid, env, "why", why, &sq, e);
    r = r ? r : publish(b, tmp, e);
    /* stored and verifiable: now it may sign (should this fail, the next
     * tick loads it from the store) */
    r = r ? r : jose_keyring_load(b->rt->keyring, env, strlen(env), e);
    r = r ? r : publish(b, NULL, e);
    if (r == 0) {
        log_event(LOG_INFO, "key_rotated", c ? c->request_id : NULL, "kid", kid, "why", why,
                  (const char *)NULL);
    }
    if (seq != NULL) {
        *seq = sq;
    }
    free(env);
    jose_keyring_free(tmp);
    return r;
}

/* ---- following the store ----------------------------------------------------------- */

static int in_list(char **v, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(v[i], s) == 0) {
            return 1;
        }
    }
    return 0;
}

static void free_list(char **v, size_t n)
{
    size_t i;

    for (i = 0; v != NULL && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static int signing_window(struct broker *b, const char *kid, int64_t *from, int64_t *to,
                          struct err *e);
static int revoke_tasks(struct broker *b, const struct broker_caller *c, const char *kid,
                        int64_t from_s, int64_t to_s, size_t *n, struct err *e);

/* A held key whose envelope is gone: another replica revoked it.  It leaves
 * the keyring, and the tasks it signed that this replica holds end here
 * too (the store has them revoked already; this replica's memory may not). */
static void dropped(struct broker *b, const char *kid)
{
    int64_t from = 0, to = 0;
    size_t n = 0;
    int cur, window;
    struct err e;

    err_clear(&e);
    window = signing_window(b, kid, &from, &to, &e) == 0;
    if (jose_keyring_revoke(b->rt->keyring, kid, &cur, &e) != 0) {
        return;
    }
    err_clear(&e);
    if (window && revoke_tasks(b, NULL, kid, from, to, &n, &e) != 0) {
        log_event(LOG_ERROR, "keys", NULL, "msg", "ending the tasks of a revoked key failed", "kid",
                  kid, "error", e.msg, (const char *)NULL);
    }
    log_event(LOG_WARN, "key_revoked", NULL, "kid", kid, "msg",
              "gone from the store (revoked elsewhere)", (const char *)NULL);
}

/* Loads stored keys the keyring lacks (made by another replica; at start,
 * all), drops held keys the store lost (revoked elsewhere), deletes the
 * envelopes of keys past retention.  strict: a load error fails (start);
 * else it is logged and the key skipped (a running server keeps serving). */
static int follow_store(struct broker *b, int strict, struct err *e)
{
    struct jose_keyring *kr = b->rt->keyring;
    struct store_signing_key *ks = NULL;
    char **held = NULL, *known = NULL;
    size_t n = 0, nheld = 0, i;
    struct arena a;
    int r;

    arena_init(&a, 0, 0);
    r = b->store->ops->signing_key_list(b->store, &a, &ks, &n, e);
    r = r ? r : jose_keyring_kids(kr, &held, &nheld, e);
    /* known[i]: ks[i] is (or was, this pass) in the keyring; only those may
     * retire: an envelope that does not open is never deleted */
    known = r == 0 ? calloc(n ? n : 1, 1) : NULL;
    if (r == 0 && known == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; r == 0 && i < n; i++) {
        known[i] = 1;
        if (in_list(held, nheld, ks[i].kid)) {
            continue;
        }
        r = jose_keyring_load(kr, ks[i].envelope, strlen(ks[i].envelope), e);
        if (r != 0) {
            known[i] = 0;
            err_prefix(e, "signing key %s (is this the store's KEK?): ", ks[i].kid);
            if (!strict) {
                log_event(LOG_ERROR, "keys", NULL, "msg", e->msg, (const char *)NULL);
                r = 0;
            }
        }
    }
    for (i = 0; r == 0 && i < nheld; i++) {
        int found = 0;
        size_t j;
        for (j = 0; j < n && !found; j++) {
            found = strcmp(ks[j].kid, held[i]) == 0;
        }
        if (!found) {
            dropped(b, held[i]);
        }
    }
    free_list(held, nheld);
    held = NULL;
    nheld = 0;
    /* the keyring prunes retired keys when listing: their envelopes go */
    r = r ? r : jose_keyring_kids(kr, &held, &nheld, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (known[i] && !in_list(held, nheld, ks[i].kid) &&
            b->store->ops->signing_key_delete(b->store, ks[i].kid, e) == 0) {
            log_event(LOG_INFO, "key_retired", NULL, "kid", ks[i].kid, (const char *)NULL);
        }
    }
    free_list(held, nheld);
    free(known);
    arena_free(&a);
    return r;
}

/* Under k->mu: follow the store, rotate when due, republish. */
static int tick_locked(struct broker *b, int strict, struct err *e)
{
    char kid[LIMIT_ID_LEN + 1];
    int64_t at = 0;
    int r;

    r = follow_store(b, strict, e);
    if (r == 0 && jose_keyring_due(b->rt->keyring, &at)) {
        r = add_key(b, NULL, at, "schedule", kid, sizeof(kid), NULL, e);
    }
    return r ? r : publish(b, NULL, e);
}

int broker_keys_tick(struct broker *b, struct err *e)
{
    struct broker_keys *k = KEYS(b);
    int r;

    if (k == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    pthread_mutex_lock(&k->mu);
    r = tick_locked(b, 0, e);
    pthread_mutex_unlock(&k->mu);
    return r;
}

/* ---- thread -------------------------------------------------------------------- */

static void *keys_thread(void *arg)
{
    struct broker *b = arg;
    struct broker_keys *k = b->rt->keys;
    struct err e;

    pthread_mutex_lock(&k->tmu);
    while (!k->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += k->tick_s;
        pthread_cond_timedwait(&k->cv, &k->tmu, &ts);
        if (k->stop) {
            break;
        }
        pthread_mutex_unlock(&k->tmu);
        err_clear(&e);
        if (broker_keys_tick(b, &e) != 0) {
            log_event(LOG_ERROR, "keys", NULL, "msg", "key maintenance failed; retrying", "error",
                      e.msg, (const char *)NULL);
        }
        pthread_mutex_lock(&k->tmu);
    }
    pthread_mutex_unlock(&k->tmu);
    return NULL;
}

int broker_keys_start(struct broker *b, enum jose_alg alg, int64_t tick_s, struct err *e)
{
    struct broker_keys *k;
    sigset_t all, old;
    int r, rc;

    if (b->rt == NULL || b->rt->keyring == NULL || b->rt->keys != NULL) {
        return err_set(e, ERR_INTERNAL, "keys: no keyring, or started already");
    }
    k = calloc(1, sizeof(*k));
    if (k == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&k->mu, NULL);
    pthread_mutex_init(&k->tmu, NULL);
    pthread_cond_init(&k->cv, NULL);
    k->tick_s = tick_s;
    k->alg = alg;
    b->rt->keys = k;
    pthread_mutex_lock(&k->mu);
    r = tick_locked(b, 1, e);
    pthread_mutex_unlock(&k->mu);
    if (r != 0 || tick_s <= 0) {
        return r;
    }
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&k->th, NULL, keys_thread, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        return err_set(e, ERR_INTERNAL, "keys: cannot start the rotation thread");
    }
    k->has_thread = 1;
    return 0;
}

void broker_keys_stop(struct broker *b)
{
    struct broker_keys *k = KEYS(b);

    if (k == NULL) {
        return;
    }
    if (k->has_thread) {
        pthread_mutex_lock(&k->tmu);
        k->stop = 1;
        pthread_cond_signal(&k->cv);
        pthread_mutex_unlock(&k->tmu);
        pthread_join(k->th, NULL);
    }
    pthread_mutex_destroy(&k->mu);
    pthread_mutex_destroy(&k->tmu);
    pthread_cond_destroy(&k->cv);
    free(k->published);
    free(k);
    b->rt->keys = NULL;
}

/* ---- on demand ----------------------------------------------------------------- */

/* [{"kid","alg","activates","state","retires"?}] with RFC 3339 times. */
static int keys_json(struct broker *b, json_t **out, struct err *e)
{
    json_t *o, *t;
    size_t i;
    int r = jose_keyring_describe(b->rt->keyring, out, e);

    json_array_foreach(r == 0 ? *out : NULL, i, o)
    {
        t = json_object_get(o, "activates");
        json_object_set_new(o, "activates", broker_time_json(json_integer_value(t) * 1000));
        t = json_object_get(o, "retires");
        if (t != NULL) {
            json_object_set_new(o, "retires", broker_time_json(json_integer_value(t) * 1000));
        }
    }
    return r;
}

int broker_keys_list(struct broker *b, json_t **out, struct err *e)
{
    json_t *arr = NULL;
    int r;

    *out = NULL;
    if (KEYS(b) == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    r = keys_json(b, &arr, e);
    return r ? r : broker_json_out(json_pack("{s:o}", "keys", arr), out, e);
}

int broker_keys_rotate(struct broker *b, const struct broker_caller *c, int64_t activate_in_s,
                       json_t **out, struct err *e)
{
    struct broker_keys *k = KEYS(b);
    char kid[LIMIT_ID_LEN + 1];
    int64_t at = clock_wall_s() + activate_in_s, seq = 0;
    json_t *keys = NULL;
    int r;

    *out = NULL;
    if (k == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    if (activate_in_s < 0 || activate_in_s > LIMIT_KEYS_ACTIVATE_MAX_S) {
        return err_set(e, ERR_INVALID, "activate_in_s: 0 to %d", LIMIT_KEYS_ACTIVATE_MAX_S);
    }
    pthread_mutex_lock(&k->mu);
    r = add_key(b, c, at, "on demand", kid, sizeof(kid), &seq, e);
    r = r ? r : keys_json(b, &keys, e);
    pthread_mutex_unlock(&k->mu);
    if (r != 0) {
        return r;
    }
    return broker_json_out(json_pack("{s:s, s:o, s:I, s:o}", "kid", kid, "activates",
                                     broker_time_json(at * 1000), "audit_id", (json_int_t)seq,
                                     "keys", keys),
                           out, e);
}

/* When kid signed: [from, to) in Unix seconds, from the keyring's times
 * (to: the next newer key's activation; INT64_MAX for the current key).
 * ERR_NOTFOUND when the keyring does not hold kid. */
static int signing_window(struct broker *b, const char *kid, int64_t *from, int64_t *to,
                          struct err *e)
{
    json_t *arr = NULL, *o, *newer = NULL;
    size_t i;
    int r = jose_keyring_describe(b->rt->keyring, &arr, e);

    *from = 0;
    *to = INT64_MAX;
    json_array_foreach(r == 0 ? arr : NULL, i, o)
    {
        const char *k = json_string_value(json_object_get(o, "kid"));
        if (k != NULL && strcmp(k, kid) == 0) {
            *from = json_integer_value(json_object_get(o, "activates"));
            if (newer != NULL) {
                *to = json_integer_value(json_object_get(newer, "activates"));
            }
            json_decref(arr);
            return 0;
        }
        newer = o;
    }
    json_decref(arr);
    return r ? r : ERR_NOTFOUND;
}

/* Tasks created in [lo_ms, hi_ms). */
struct window {
    int64_t lo_ms, hi_ms;
};

static int in_window(const struct btask *t, void *p)
{
    const struct window *w = p;

    return t->created_ms >= w->lo_ms && t->created_ms < w->hi_ms;
}

/* Ends every live task whose token the revoked key signed: tasks are
 * created and their token signed in the same second, so the tasks created
 * while the key was current (one second of margin each side: a task of the
 * neighbouring key may go too, never one of this key stays).  The task
 * table caches tokens it verified once, so refusing the key alone would not
 * stop a token already in use.  Like the kill switch: in memory at once,
 * then one store transaction with one audit record ("task.revoke" on
 * key:<kid>, the count in detail); delegated children follow.  *n: ended. */
static int revoke_tasks(struct broker *b, const struct broker_caller *c, const char *kid,
                        int64_t from_s, int64_t to_s, size_t *n, struct err *e)
{
    struct window w = {(from_s - 1) * 1000, to_s == INT64_MAX ? INT64_MAX : (to_s + 1) * 1000};
    struct broker_audit_event ev;
    struct btask **v = NULL;
    char res[LIMIT_ID_LEN + 8];
    size_t m, i;
    int rc = 0;

    m = tasks_collect_live(b, in_window, &w, &v);
    memset(&ev, 0, sizeof(ev));
    ev.event = "task.revoke";
    snprintf(res, sizeof(res), "key:%s", kid);
    ev.resource = res;
    ev.detail = json_pack("{s:s, s:I}", "reason", KEYS_TASK_REASON, "tasks", (json_int_t)m);
    *n =
        m > 0 ? tasks_revoke_batch(b, v, m, KEYS_TASK_REASON, c, &ev, NULL, NULL, NULL, e, &rc) : 0;
    json_decref(ev.detail);
    for (i = 0; i < m; i++) {
        if (v[i] != NULL) {
            tasks_end_subtree(b, v[i]->id, c);
        }
    }
    tasks_put_all(v, m);
    return rc;
}

/* Under k->mu: the envelope and the audit record in one transaction, then
 * the keyring; a new signing key when the revoked one signed. */
static int revoke_locked(struct broker *b, const struct broker_caller *c, const char *kid,
                         const char *reason, int64_t *seq, char *newkid, size_t cap, size_t *ntasks,
                         struct err *e)
{
    int64_t from = 0, to = 0;
    int window;
    int r, rp, cur = 0, held;
    struct err e2;

    /* not held: nothing it signed can verify here, no tasks to end */
    window = signing_window(b, kid, &from, &to, e) == 0;
    r = key_change(b, c, "key.revoke", kid, NULL, "reason", reason, seq, e);
    if (r != 0 && r != ERR_NOTFOUND) {
        return r; /* the key stays: a revocation that a restart undoes is none */
    }
    err_clear(&e2);
    held = jose_keyring_revoke(b->rt->keyring, kid, &cur, &e2) == 0;
    if (r != 0 && !held) {
        return r; /* neither stored nor held: ERR_NOTFOUND */
    }
    newkid[0] = '\0';
    r = 0;
    /* the revoked key leaves the verifier at once */
    err_clear(&e2);
    rp = publish(b, NULL, &e2);
    if (cur) {
        r = add_key(b, c, clock_wall_s(), "the signing key was revoked", newkid, cap, NULL, e);
    }
    if (r == 0 && rp != 0) {
        *e = e2;
        r = rp;
    }
    if (held && window) {
        err_clear(&e2);
        rp = revoke_tasks(b, c, kid, from, to, ntasks, &e2);
        if (r == 0 && rp != 0) {
            *e = e2;
            r = rp;
        }
    }
    return r;
}

int broker_keys_revoke(struct broker *b, const struct broker_caller *c, const char *kid,
                       const char *reason, json_t **out, struct err *e)
{
    struct broker_keys *k = KEYS(b);
    char newkid[LIMIT_ID_LEN + 1];
    int64_t seq = 0;
    size_t ntasks = 0;
    json_t *keys = NULL;
    int r;

    *out = NULL;
    if (k == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    if (kid == NULL || kid[0] == '\0' || strlen(kid) > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "kid: required, at most %d bytes", LIMIT_ID_LEN);
    }
    if (reason == NULL || reason[0] == '\0' || strlen(reason) > LIMIT_KEYS_REASON_LEN) {
        return err_set(e, ERR_INVALID, "reason: required, at most %d bytes", LIMIT_KEYS_REASON_LEN);
    }
    pthread_mutex_lock(&k->mu);
    r = revoke_locked(b, c, kid, reason, &seq, newkid, sizeof(newkid), &ntasks, e);
    r = r ? r : keys_json(b, &keys, e);
    pthread_mutex_unlock(&k->mu);
    if (r != 0) {
        return r;
    }
    log_event(LOG_WARN, "key_revoked", c ? c->request_id : NULL, "kid", kid, "replaced_by",
              newkid[0] ? newkid : "-", (const char *)NULL);
    return broker_json_out(json_pack("{s:s, s:b, s:s?, s:I, s:I, s:o}", "kid", kid, "revoked", 1,
                                     "replaced_by", newkid[0] ? newkid : NULL, "tasks_revoked",
                                     (json_int_t)ntasks, "audit_id", (json_int_t)seq, "keys", keys),
                           out, e);
}
