/*
 * trust.c: the trust store: which issuers may vouch for a workload, their
 * keys (from a file, a jwks_uri or OIDC discovery), cached and refreshed,
 * and the verification of a workload credential into a normalised identity.
 *
 * Routing: a token names its issuer in unverified claims; that only picks
 * whose keys to try.  An OIDC issuer is chosen when "iss" equals its name
 * exactly; otherwise a SPIFFE trust domain when "sub" is a SPIFFE ID in it.
 * The signature is then checked with that issuer's keys alone, so a token
 * cannot borrow another issuer's keys by lying about its iss.
 *
 * Key cache: each issuer holds one immutable keyset (a jose_verifier) with a
 * reference count, so verifications in flight keep theirs while a refresh
 * swaps in a new one.  One thread refreshes at a time (others keep using the
 * current set); refresh attempts are at least min_refresh_s apart, which
 * rate-limits both failing sources and unknown-kid refreshes.  When a
 * refresh fails, keys past their refresh time are served for stale_s more
 * seconds (stale-while-error), then the issuer fails closed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"
#include "jose/trust_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/spiffe.h"

/* JWT-SVID spec section 3: RS/ES/PS families; we support these of them. */
#define SPIFFE_ALGS                                                                                \
    (JOSE_ALG_BIT(JOSE_ALG_ES256) | JOSE_ALG_BIT(JOSE_ALG_ES384) | JOSE_ALG_BIT(JOSE_ALG_RS256) |  \
     JOSE_ALG_BIT(JOSE_ALG_PS256))

struct keyset {
    int refs; /* under the issuer's mutex */
    struct jose_verifier *v;
    int64_t loaded_s;
    int64_t refresh_s; /* effective interval (configured, or the bundle's hint) */
    int64_t sequence;  /* spiffe_sequence, -1 when absent */
};

struct issuer {
    enum jose_trust_kind kind;
    char *name;
    char *jwks_json;
    char *jwks_file;
    char *jwks_uri;
    int discovery;
    char **audiences; /* NULL-terminated */
    unsigned alg_mask;
    int64_t refresh_s, stale_s, min_refresh_s, skew_s, max_lifetime_s;
    struct jose_fetch_opts fetch;
    char *ca_file;

    pthread_mutex_t mu;
    pthread_cond_t loaded; /* signalled when a refresh ends */
    struct keyset *ks;
    int64_t last_attempt_s; /* 0: never tried */
    int refreshing;
    char last_error[ERR_MSG_MAX];
    struct jose_trust_stats stats;
};

struct jose_trust_store {
    pthread_rwlock_t lock;
    struct issuer **v;
    size_t n;
};

/* ---- small helpers ------------------------------------------------------ */

static char *dup_or_null(const char *s, int *bad)
{
    char *d;

    if (s == NULL) {
        return NULL;
    }
    d = strdup(s);
    if (d == NULL) {
        *bad = 1;
    }
    return d;
}

static int64_t pick(int64_t v, int64_t def)
{
    return v > 0 ? v : def;
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void keyset_unref(struct issuer *is, struct keyset *ks)
{
    int last;

    if (ks == NULL) {
        return;
    }
    pthread_mutex_lock(&is->mu);
    last = --ks->refs == 0;
    pthread_mutex_unlock(&is->mu);
    if (last) {
        jose_verifier_free(ks->v);
        free(ks);
    }
}

static void issuer_free(struct issuer *is)
{
    size_t i;

    if (is == NULL) {
        return;
    }
    if (is->ks != NULL) {
        jose_verifier_free(is->ks->v);
        free(is->ks);
    }
    for (i = 0; is->audiences != NULL && is->audiences[i] != NULL; i++) {
        free(is->audiences[i]);
    }
    free(is->audiences);
    free(is->name);
    free(is->jwks_json);
    free(is->jwks_file);
    free(is->jwks_uri);
    free(is->ca_file);
    pthread_cond_destroy(&is->loaded);
    pthread_mutex_destroy(&is->mu);
    free(is);
}

/* ---- loading keys ------------------------------------------------------- */

/* The configuration may lower the body cap, never raise it. */
static size_t body_max(const struct issuer *is)
{
    size_t m = is->fetch.max_body;

    return m > 0 && m < LIMIT_JOSE_FETCH_BODY_MAX ? m : LIMIT_JOSE_FETCH_BODY_MAX;
}

static int read_file(const char *path, struct buf *out, struct err *e)
{
    char chunk[4096];
    size_t n;
    int r = 0;
    FILE *f = fopen(path, "rb");

    if (f == NULL) {
        return err_set(e, ERR_IO, "%s: cannot open", path);
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        r = buf_append(out, chunk, n);
        if (r != 0) {
            r = err_set(e, r, "%s: %s", path, r == ERR_LIMIT ? "file too large" : "out of memory");
            break;
        }
    }
    if (r == 0 && ferror(f)) {
        r = err_set(e, ERR_IO, "%s: read error", path);
    }
    fclose(f);
    return r;
}

/* Duplicate members refused, depth limited, an object required. */
static json_t *load_json(const struct buf *b, const char *what, struct err *e)
{
    json_t *j = NULL;

    if (b->len == 0) {
        err_set(e, ERR_INVALID, "%s: empty document", what);
        return NULL;
    }
    if (jose_json_load_object(b->data, b->len, &j, e) != 0) {
        if (e != NULL) {
            e->code = ERR_INVALID;
        }
        err_prefix(e, "%s: ", what);
        return NULL;
    }
    return j;
}

/* OIDC discovery: <issuer>/.well-known/openid-configuration names jwks_uri;
 * its "issuer" must equal ours (OpenID Connect Discovery 1.0 section 4.3). */
static int discover(struct issuer *is, char **uri, struct err *e)
{
    struct buf b;
    char *url = NULL;
    size_t n = strlen(is->name);
    json_t *doc = NULL;
    const char *iss, *ju;
    int r;

    *uri = NULL;
    buf_init(&b, body_max(is));
    url = malloc(n + 40);
    if (url == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(url, is->name, n);
    if (n > 0 && url[n - 1] == '/') {
        n--;
    }
    memcpy(url + n, "/.well-known/openid-configuration", 34);
    r = jose_fetch_get(url, &is->fetch, &b, e);
    if (r != 0) {
        goto out;
    }
    doc = load_json(&b, url, e);
    if (doc == NULL) {
        r = e != NULL ? e->code : ERR_INVALID;
        goto out;
    }
    iss = json_string_value(json_object_get(doc, "issuer"));
    ju = json_string_value(json_object_get(doc, "jwks_uri"));
    if (iss == NULL || strcmp(iss, is->name) != 0) {
        r = err_set(e, ERR_INVALID, "%s: issuer %s does not match %s", url, iss ? iss : "(none)",
                    is->name);
        goto out;
    }
    if (ju == NULL) {
        r = err_set(e, ERR_INVALID, "%s: no jwks_uri", url);
        goto out;
    }
    *uri = strdup(ju);
    r = *uri == NULL ? err_set(e, ERR_NOMEM, "out of memory") : 0;
out:
    json_decref(doc);
    free(url);
    buf_free(&b);
    return r;
}

static int fetch_doc(struct issuer *is, struct buf *b, struct err *e)
{
    char *uri = NULL;
    int r;

    if (is->jwks_json != NULL) {
        r = buf_append_str(b, is->jwks_json);
        return r == 0 ? 0 : err_set(e, r, "inline JWKS too large");
    }
    if (is->jwks_file != NULL) {
        return read_file(is->jwks_file, b, e);
    }
    if (is->jwks_uri != NULL) {
        return jose_fetch_get(is->jwks_uri, &is->fetch, b, e);
    }
    r = discover(is, &uri, e);
    if (r == 0) {
        r = jose_fetch_get(uri, &is->fetch, b, e);
    }
    free(uri);
    return r;
}

/* An optional non-negative integer member. */
static int opt_int(const json_t *doc, const char *name, int64_t *out, struct err *e)
{
    const json_t *v = json_object_get(doc, name);

    if (v == NULL) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return err_set(e, ERR_INVALID, "bundle: %s must be a non-negative integer", name);
    }
    *out = json_integer_value(v);
    return 0;
}

/* SPIFFE bundle (SPIFFE Trust Domain and Bundle, section 4): keep the keys
 * whose use is "jwt-svid".  Keys of another or no use (4.2.2: unknown use
 * values make clients ignore the element) and jwt-svid keys without the kid
 * the JWT-SVID spec requires are skipped: they can never verify anything,
 * and one bad element must not take the whole trust domain down. */
static int spiffe_keys(const json_t *doc, json_t **out, struct err *e)
{
    const json_t *keys = json_object_get(doc, "keys"), *k;
    json_t *arr = json_array(), *set = NULL;
    size_t i;
    int r = ERR_NOMEM;

    *out = NULL;
    if (arr == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (!json_is_array(keys)) {
        r = err_set(e, ERR_INVALID, "bundle: keys must be an array");
        goto out;
    }
    json_array_foreach(keys, i, k)
    {
        const char *use = json_string_value(json_object_get(k, "use"));

        if (use == NULL || strcmp(use, "jwt-svid") != 0 ||
            json_string_value(json_object_get(k, "kid")) == NULL) {
            continue;
        }
        if (json_array_append(arr, (json_t *)k) != 0) {
            goto out;
        }
    }
    set = json_pack("{sO}", "keys", arr);
    if (set == NULL) {
        goto out;
    }
    *out = set;
    r = 0;
out:
    if (r == ERR_NOMEM) {
        err_set(e, r, "out of memory");
    }
    json_decref(arr);
    return r;
}

int jose_trust_parse_keys(enum jose_trust_kind kind, unsigned alg_mask, const char *text,
                          size_t len, int64_t prev_seq, struct jose_verifier **out, int64_t *hint,
                          int64_t *seq, struct err *e)
{
    json_t *doc = NULL, *set = NULL;
    struct jose_jwks *jwks = NULL;
    struct jose_verifier *v = NULL;
    struct buf b = {(char *)text, len, len, len};
    size_t skipped = 0;
    int r;

    *out = NULL;
    *hint = 0;
    *seq = -1;
    doc = load_json(&b, kind == JOSE_TRUST_SPIFFE ? "bundle" : "JWKS", e);
    if (doc == NULL) {
        return e != NULL && e->code != 0 ? e->code : ERR_INVALID;
    }
    if (kind == JOSE_TRUST_SPIFFE) {
        r = opt_int(doc, "spiffe_refresh_hint", hint, e);
        if (r == 0) {
            r = opt_int(doc, "spiffe_sequence", seq, e);
        }
        if (r == 0 && json_object_get(doc, "spiffe_sequence") == NULL) {
            *seq = -1;
        }
        if (r == 0 && *seq >= 0 && prev_seq >= 0 && *seq < prev_seq) {
            r = err_set(e, ERR_INVALID, "bundle: spiffe_sequence went back from %lld to %lld",
                        (long long)prev_seq, (long long)*seq);
        }
        if (r == 0) {
            r = spiffe_keys(doc, &set, e);
        }
    } else {
        set = json_incref(doc);
        r = 0;
    }
    if (r == 0) {
        r = jose_jwks_from_json(set, JOSE_JWKS_SKIP_UNSUPPORTED, &jwks, &skipped, e);
    }
    if (r == 0) {
        r = jose_verifier_new(jwks, alg_mask, &v, e);
    }
    if (r == 0 && kind == JOSE_TRUST_SPIFFE) {
        r = jose_verifier_set_use(v, "jwt-svid", e);
    }
    if (r == 0) {
        *out = v;
        v = NULL;
    }
    jose_verifier_free(v);
    jose_jwks_free(jwks);
    json_decref(set);
    json_decref(doc);
    return r;
}

/* Loads the issuer's keys into a new keyset (no lock held: may be slow). */
static int load_keyset(struct issuer *is, int64_t prev_seq, struct keyset **out, struct err *e)
{
    struct buf b;
    struct keyset *ks = NULL;
    int64_t hint = 0, seq = -1;
    int r;

    *out = NULL;
    buf_init(&b, body_max(is));
    r = fetch_doc(is, &b, e);
    if (r != 0) {
        goto out;
    }
    ks = calloc(1, sizeof *ks);
    if (ks == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = jose_trust_parse_keys(is->kind, is->alg_mask, b.data, b.len, prev_seq, &ks->v, &hint, &seq,
                              e);
    if (r != 0) {
        if (is->jwks_file != NULL) {
            err_prefix(e, "%s: ", is->jwks_file);
        }
        goto out;
    }
    ks->refs = 1;
    ks->loaded_s = clock_wall_s();
    if (is->jwks_json != NULL) {
        /* Inline keys cannot change: "refresh" only after a year, and the
         * stale window keeps them after that too. */
        ks->refresh_s = LIMIT_JOSE_TRUST_PERIOD_MAX_S;
        ks->sequence = seq;
        *out = ks;
        ks = NULL;
        r = 0;
        goto out;
    }
    /* The bundle's hint is clamped: a huge one must not keep keys forever. */
    ks->refresh_s = is->refresh_s > 0 ? is->refresh_s
                    : hint > 0 ? clamp(hint, is->min_refresh_s, LIMIT_JOSE_TRUST_PERIOD_MAX_S)
                               : LIMIT_JOSE_TRUST_REFRESH_S;
    ks->sequence = seq;
    *out = ks;
    ks = NULL;
    r = 0;
out:
    if (ks != NULL) {
        jose_verifier_free(ks->v);
        free(ks);
    }
    buf_free(&b);
    return r;
}

/* Refreshes when due (or forced) and allowed by the rate limit, then hands
 * out a reference to the keyset to use.  Called without the lock. */
static int acquire_keys(struct issuer *is, int force, struct keyset **out, struct err *e)
{
    struct keyset *ks, *fresh = NULL, *old = NULL;
    struct err le;
    int64_t now, prev_seq;
    int due, r;

    *out = NULL;
    err_clear(&le);
    pthread_mutex_lock(&is->mu);
    now = clock_wall_s();
    ks = is->ks;
    due = ks == NULL || now >= ks->loaded_s + ks->refresh_s || force;
    if (due && !is->refreshing &&
        (is->last_attempt_s == 0 || now - is->last_attempt_s >= is->min_refresh_s)) {
        is->refreshing = 1;
        is->last_attempt_s = now;
        if (force) {
            is->stats.kid_refreshes++;
        }
        prev_seq = ks != NULL ? ks->sequence : -1;
        pthread_mutex_unlock(&is->mu);
        r = load_keyset(is, prev_seq, &fresh, &le);
        pthread_mutex_lock(&is->mu);
        is->refreshing = 0;
        pthread_cond_broadcast(&is->loaded);
        if (r == 0) {
            old = is->ks;
            is->ks = fresh;
            is->stats.fetches++;
            is->last_error[0] = '\0';
        } else {
            is->stats.fetch_failures++;
            snprintf(is->last_error, sizeof is->last_error, "%s", le.msg);
            log_event(LOG_WARN, "trust_refresh_failed", NULL, "issuer", is->name, "error", le.msg,
                      (char *)NULL);
        }
    }
    /* No keys at all yet and another thread is fetching them: wait for it
     * (bounded by the fetch time limits) rather than fail the request. */
    while (is->ks == NULL && is->refreshing) {
        pthread_cond_wait(&is->loaded, &is->mu);
    }
    ks = is->ks;
    if (ks == NULL) {
        r = err_set(e, ERR_UNAVAILABLE, "no keys for issuer %s: %s", is->name,
                    is->last_error[0] ? is->last_error : "refresh in progress");
    } else if (now >= ks->loaded_s + ks->refresh_s + is->stale_s) {
        r = err_set(e, ERR_UNAVAILABLE, "keys of issuer %s are stale past %llds: %s", is->name,
                    (long long)is->stale_s, is->last_error);
    } else {
        if (now >= ks->loaded_s + ks->refresh_s) {
            is->stats.stale_served++;
        }
        ks->refs++;
        *out = ks;
        r = 0;
    }
    if (old != NULL && --old->refs > 0) {
        old = NULL; /* still used by a verification in flight */
    }
    pthread_mutex_unlock(&is->mu);
    if (old != NULL) {
        jose_verifier_free(old->v);
        free(old);
    }
    return r;
}

/* ---- handing loaded keys to a rebuilt store ------------------------------- */

static int str_eq(const char *a, const char *b)
{
    return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/* Same key source: keys loaded for one are the keys of the other. */
static int same_source(const struct issuer *a, const struct issuer *b)
{
    return a->kind == b->kind && strcmp(a->name, b->name) == 0 &&
           str_eq(a->jwks_json, b->jwks_json) && str_eq(a->jwks_file, b->jwks_file) &&
           str_eq(a->jwks_uri, b->jwks_uri) && a->discovery == b->discovery &&
           a->alg_mask == b->alg_mask && str_eq(a->ca_file, b->ca_file) &&
           a->fetch.allow_http == b->fetch.allow_http;
}

/* A keyset of its own for dst (refcounts are per issuer) sharing the keys. */
static struct keyset *keyset_copy(const struct keyset *from)
{
    struct keyset *ks = calloc(1, sizeof(*ks));

    if (ks == NULL || jose_verifier_new(from->v->set, from->v->alg_mask, &ks->v, NULL) != 0 ||
        jose_verifier_set_use(ks->v, from->v->use, NULL) != 0) {
        if (ks != NULL) {
            jose_verifier_free(ks->v);
        }
        free(ks);
        return NULL;
    }
    ks->refs = 1;
    ks->loaded_s = from->loaded_s;
    ks->refresh_s = from->refresh_s;
    ks->sequence = from->sequence;
    return ks;
}

size_t jose_trust_adopt_keys(struct jose_trust_store *dst, struct jose_trust_store *src)
{
    size_t i, j, n = 0;

    if (dst == NULL || src == NULL || dst == src) {
        return 0;
    }
    pthread_rwlock_rdlock(&dst->lock);
    pthread_rwlock_rdlock(&src->lock);
    for (i = 0; i < dst->n; i++) {
        struct issuer *d = dst->v[i], *s = NULL;
        struct keyset *from = NULL, *copy = NULL;

        for (j = 0; j < src->n && s == NULL; j++) {
            s = same_source(d, src->v[j]) ? src->v[j] : NULL;
        }
        if (s == NULL) {
            continue;
        }
        pthread_mutex_lock(&s->mu);
        if (s->ks != NULL) {
            from = s->ks;
            from->refs++;
        }
        pthread_mutex_unlock(&s->mu);
        copy = from != NULL ? keyset_copy(from) : NULL;
        keyset_unref(s, from);
        if (copy == NULL) {
            continue;
        }
        pthread_mutex_lock(&d->mu);
        if (d->ks == NULL) {
            d->ks = copy;
            d->last_attempt_s = s->last_attempt_s;
            copy = NULL;
            n++;
        }
        pthread_mutex_unlock(&d->mu);
        if (copy != NULL) {
            jose_verifier_free(copy->v);
            free(copy);
        }
    }
    pthread_rwlock_unlock(&src->lock);
    pthread_rwlock_unlock(&dst->lock);
    return n;
}

/* ---- store -------------------------------------------------------------- */

int jose_trust_store_new(struct jose_trust_store **out, struct err *e)
{
    struct jose_trust_store *ts = calloc(1, sizeof *ts);

    *out = NULL;
    if (ts == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (pthread_rwlock_init(&ts->lock, NULL) != 0) {
        free(ts);
        return err_set(e, ERR_INTERNAL, "pthread_rwlock_init failed");
    }
    *out = ts;
    return 0;
}

void jose_trust_store_free(struct jose_trust_store *ts)
{
    size_t i;

    if (ts == NULL) {
        return;
    }
    for (i = 0; i < ts->n; i++) {
        issuer_free(ts->v[i]);
    }
    free(ts->v);
    pthread_rwlock_destroy(&ts->lock);
    free(ts);
}

static struct issuer *find_issuer(struct jose_trust_store *ts, enum jose_trust_kind kind,
                                  const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < ts->n; i++) {
        struct issuer *is = ts->v[i];

        if (is->kind == kind && strlen(is->name) == n && memcmp(is->name, name, n) == 0) {
            return is;
        }
    }
    return NULL;
}

static int check_conf(const struct jose_trust_issuer *c, struct err *e)
{
    int sources;

    if (c->name == NULL || c->name[0] == '\0') {
        return err_set(e, ERR_INVALID, "trust issuer: name is required");
    }
    if (c->kind == JOSE_TRUST_SPIFFE) {
        if (spiffe_trust_domain_check(c->name, strlen(c->name), e) != 0) {
            return err_prefix(e, "trust issuer %s: ", c->name);
        }
        if (c->discovery) {
            return err_set(e, ERR_INVALID, "trust domain %s: discovery is for OIDC", c->name);
        }
    } else if (c->kind != JOSE_TRUST_OIDC) {
        return err_set(e, ERR_INVALID, "trust issuer %s: unknown kind", c->name);
    } else if (strlen(c->name) > LIMIT_JOSE_URL_LEN) {
        return err_set(e, ERR_INVALID, "issuer name too long");
    }
    sources = (c->jwks_json != NULL) + (c->jwks_file != NULL) + (c->jwks_uri != NULL) +
              (c->discovery != 0);
    if (sources != 1) {
        return err_set(e, ERR_INVALID,
                       "trust issuer %s: give exactly one of jwks_json, jwks_file, jwks_uri, "
                       "discovery",
                       c->name);
    }
    if (c->audiences == NULL || c->audiences[0] == NULL) {
        return err_set(e, ERR_INVALID, "trust issuer %s: at least one audience is required",
                       c->name);
    }
    return 0;
}

static int copy_conf(struct issuer *is, const struct jose_trust_issuer *c, struct err *e)
{
    size_t i, n = 0;
    int bad = 0;

    while (c->audiences[n] != NULL) {
        n++;
    }
    is->audiences = calloc(n + 1, sizeof *is->audiences);
    if (is->audiences == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        is->audiences[i] = dup_or_null(c->audiences[i], &bad);
    }
    is->kind = c->kind;
    is->name = dup_or_null(c->name, &bad);
    is->jwks_json = dup_or_null(c->jwks_json, &bad);
    is->jwks_file = dup_or_null(c->jwks_file, &bad);
    is->jwks_uri = dup_or_null(c->jwks_uri, &bad);
    is->ca_file = dup_or_null(c->fetch.ca_file, &bad);
    is->discovery = c->discovery;
    is->fetch = c->fetch;
    is->fetch.ca_file = is->ca_file;
    /* Periods are clamped so that time sums cannot overflow. */
    is->refresh_s = clamp(c->refresh_s, 0, LIMIT_JOSE_TRUST_PERIOD_MAX_S); /* 0: hint/default */
    is->stale_s =
        clamp(pick(c->stale_s, LIMIT_JOSE_TRUST_STALE_S), 1, LIMIT_JOSE_TRUST_PERIOD_MAX_S);
    is->min_refresh_s = clamp(pick(c->min_refresh_s, LIMIT_JOSE_TRUST_MIN_REFRESH_S), 1,
                              LIMIT_JOSE_TRUST_PERIOD_MAX_S);
    is->skew_s = clamp(pick(c->skew_s, LIMIT_JOSE_TRUST_SKEW_S), 0, LIMIT_JOSE_TRUST_PERIOD_MAX_S);
    is->max_lifetime_s = clamp(pick(c->max_lifetime_s, LIMIT_JOSE_TRUST_MAX_LIFETIME_S), 1,
                               LIMIT_JOSE_TRUST_PERIOD_MAX_S);
    if (bad) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    is->alg_mask = c->kind == JOSE_TRUST_SPIFFE ? SPIFFE_ALGS : JOSE_ALGS_ALL;
    if (c->algs != NULL) {
        unsigned m;
        int r = jose_alg_mask_parse(c->algs, &m, e);

        if (r != 0) {
            return err_prefix(e, "trust issuer %s: ", c->name);
        }
        if (c->kind == JOSE_TRUST_SPIFFE && (m & ~SPIFFE_ALGS) != 0) {
            return err_set(e, ERR_INVALID, "trust domain %s: JWT-SVIDs allow only %s", c->name,
                           "ES256, ES384, RS256, PS256");
        }
        is->alg_mask = m;
    }
    return 0;
}

int jose_trust_add(struct jose_trust_store *ts, const struct jose_trust_issuer *conf, int load_now,
                   struct err *e)
{
    struct issuer *is = NULL, **nv;
    int r;

    r = check_conf(conf, e);
    if (r != 0) {
        return r;
    }
    is = calloc(1, sizeof *is);
    if (is == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (pthread_mutex_init(&is->mu, NULL) != 0) {
        free(is);
        return err_set(e, ERR_INTERNAL, "pthread_mutex_init failed");
    }
    if (pthread_cond_init(&is->loaded, NULL) != 0) {
        pthread_mutex_destroy(&is->mu);
        free(is);
        return err_set(e, ERR_INTERNAL, "pthread_cond_init failed");
    }
    r = copy_conf(is, conf, e);
    if (r == 0 && load_now) {
        /* Report the load's own error (ERR_LIMIT, ERR_INVALID...). */
        r = load_keyset(is, -1, &is->ks, e);
        if (r == 0) {
            is->stats.fetches++;
            is->last_attempt_s = clock_wall_s();
        }
    }
    if (r != 0) {
        goto out;
    }
    pthread_rwlock_wrlock(&ts->lock);
    if (find_issuer(ts, is->kind, is->name, strlen(is->name)) != NULL) {
        r = err_set(e, ERR_CONFLICT, "trust issuer %s is configured already", is->name);
    } else if (ts->n >= LIMIT_JOSE_TRUST_ISSUERS) {
        r = err_set(e, ERR_LIMIT, "more than %d trust issuers", LIMIT_JOSE_TRUST_ISSUERS);
    } else if ((nv = realloc(ts->v, (ts->n + 1) * sizeof *nv)) == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    } else {
        ts->v = nv;
        ts->v[ts->n++] = is;
        is = NULL;
    }
    pthread_rwlock_unlock(&ts->lock);
out:
    issuer_free(is);
    return r;
}

int jose_trust_stats(struct jose_trust_store *ts, const char *name, struct jose_trust_stats *out)
{
    struct issuer *is;
    size_t n = strlen(name);

    pthread_rwlock_rdlock(&ts->lock);
    is = find_issuer(ts, JOSE_TRUST_OIDC, name, n);
    if (is == NULL) {
        is = find_issuer(ts, JOSE_TRUST_SPIFFE, name, n);
    }
    if (is != NULL) {
        pthread_mutex_lock(&is->mu);
        *out = is->stats;
        pthread_mutex_unlock(&is->mu);
    }
    pthread_rwlock_unlock(&ts->lock);
    return is != NULL ? 0 : ERR_NOTFOUND;
}

/* ---- verification ------------------------------------------------------- */

/* Reads the claims without verifying them, only to pick the issuer. */
static json_t *peek_claims(const char *token, size_t len, struct err *e)
{
    const char *d1 = memchr(token, '.', len), *d2;
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    json_t *j = NULL;

    if (d1 == NULL || (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) == NULL) {
        err_set(e, ERR_AUTH, "malformed: not a compact JWS");
        return NULL;
    }
    if (jose_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw, &rawlen, e) != 0) {
        err_set(e, ERR_AUTH, "malformed: payload is not base64url");
        return NULL;
    }
    if (jose_json_load_object((const char *)raw, rawlen, &j, NULL) != 0) {
        free(raw);
        err_set(e, ERR_AUTH, "malformed: payload is not a JSON object");
        return NULL;
    }
    free(raw);
    return j;
}

static struct issuer *route(struct jose_trust_store *ts, const json_t *claims, struct err *e)
{
    const char *iss = json_string_value(json_object_get(claims, "iss"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    struct spiffe_id id;
    struct issuer *is = NULL;

    pthread_rwlock_rdlock(&ts->lock);
    if (iss != NULL) {
        is = find_issuer(ts, JOSE_TRUST_OIDC, iss, strlen(iss));
    }
    if (is == NULL && sub != NULL && spiffe_id_parse(sub, strlen(sub), 1, &id, NULL) == 0) {
        is = find_issuer(ts, JOSE_TRUST_SPIFFE, id.td, id.td_len);
    }
    pthread_rwlock_unlock(&ts->lock);
    if (is == NULL) {
        err_set(e, ERR_AUTH, "untrusted issuer: iss %s, sub %s", iss ? iss : "(none)",
                sub != NULL && strncmp(sub, "spiffe://", 9) == 0 ? sub : "(not a SPIFFE ID)");
    }
    return is;
}

/* aud (string or array of strings) must hold one of the configured values. */
static const char *match_audience(const struct issuer *is, const json_t *aud)
{
    size_t i, j;

    for (i = 0; is->audiences[i] != NULL; i++) {
        if (json_is_string(aud) && strcmp(json_string_value(aud), is->audiences[i]) == 0) {
            return is->audiences[i];
        }
        if (json_is_array(aud)) {
            const json_t *a;

            json_array_foreach(aud, j, a)
            {
                if (json_is_string(a) && strcmp(json_string_value(a), is->audiences[i]) == 0) {
                    return is->audiences[i];
                }
            }
        }
    }
    return NULL;
}

/* JWT-SVID section 2/3 rules beyond signature and times. */
static int check_svid(const struct issuer *is, const json_t *hdr, const json_t *claims,
                      struct err *e)
{
    const char *typ = json_string_value(json_object_get(hdr, "typ"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    struct spiffe_id id;
    struct err se;

    if (json_object_get(hdr, "typ") != NULL &&
        (typ == NULL || (strcmp(typ, "JWT") != 0 && strcmp(typ, "JOSE") != 0))) {
        return err_set(e, ERR_AUTH, "typ: JWT-SVID typ must be JWT or JOSE");
    }
    if (sub == NULL || spiffe_id_parse(sub, strlen(sub), 1, &id, &se) != 0) {
        return err_set(e, ERR_AUTH, "missing_claim: sub is not a workload SPIFFE ID");
    }
    if (id.td_len != strlen(is->name) || memcmp(id.td, is->name, id.td_len) != 0) {
        return err_set(e, ERR_AUTH, "iss: sub %s is outside trust domain %s", sub, is->name);
    }
    return 0;
}

static int make_identity(const struct issuer *is, const char *aud, const json_t *hdr,
                         json_t *claims, struct jose_identity **out, struct err *e)
{
    struct jose_identity *id = calloc(1, sizeof *id);
    const char *kid = json_string_value(json_object_get(hdr, "kid"));
    const char *alg = json_string_value(json_object_get(hdr, "alg"));
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    int bad = 0;

    if (id == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    id->kind = is->kind;
    id->issuer = dup_or_null(is->name, &bad);
    id->subject = dup_or_null(sub != NULL ? sub : "", &bad);
    id->audience = dup_or_null(aud, &bad);
    id->kid = dup_or_null(kid, &bad);
    id->alg = dup_or_null(alg, &bad);
    id->exp = json_integer_value(json_object_get(claims, "exp"));
    id->claims = json_incref(claims);
    if (bad) {
        jose_identity_free(id);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = id;
    return 0;
}

static int verify_with(struct issuer *is, struct keyset *ks, const char *token, size_t len,
                       json_t **hdr, json_t **claims, enum jose_reason *why, struct err *e)
{
    static const char *const req_svid[] = {"sub", "aud", "exp", NULL};
    static const char *const req_oidc[] = {"iss", "sub", "aud", "exp", "iat", NULL};
    struct jose_jwt_opts o = {0};

    o.iss = is->kind == JOSE_TRUST_OIDC ? is->name : NULL;
    o.skew_s = is->skew_s;
    o.max_lifetime_s = is->max_lifetime_s;
    o.required = is->kind == JOSE_TRUST_SPIFFE ? req_svid : req_oidc;
    return jose_jwt_verify(ks->v, token, len, &o, hdr, claims, why, e);
}

int jose_trust_verify(struct jose_trust_store *ts, const char *token, size_t len,
                      struct jose_identity **out, struct err *e)
{
    json_t *peek = NULL, *hdr = NULL, *claims = NULL;
    struct keyset *ks = NULL;
    struct issuer *is;
    enum jose_reason why = JOSE_R_OK;
    const char *aud;
    int r;

    *out = NULL;
    if (len > LIMIT_JOSE_TOKEN_MAX) {
        return err_set(e, ERR_LIMIT, "too_large: token over %d bytes", LIMIT_JOSE_TOKEN_MAX);
    }
    peek = peek_claims(token, len, e);
    if (peek == NULL) {
        return ERR_AUTH;
    }
    is = route(ts, peek, e);
    json_decref(peek);
    if (is == NULL) {
        return ERR_AUTH;
    }
    r = acquire_keys(is, 0, &ks, e);
    if (r != 0) {
        return r;
    }
    r = verify_with(is, ks, token, len, &hdr, &claims, &why, e);
    if (r != 0 && why == JOSE_R_KEY_NOT_FOUND) {
        /* The issuer may have rotated: refresh once (rate-limited) and retry. */
        keyset_unref(is, ks);
        ks = NULL;
        r = acquire_keys(is, 1, &ks, e);
        if (r == 0) {
            r = verify_with(is, ks, token, len, &hdr, &claims, &why, e);
        }
    }
    if (r != 0) {
        if (r != ERR_NOMEM && r != ERR_UNAVAILABLE && r != ERR_LIMIT) {
            r = ERR_AUTH;
            if (e != NULL) {
                e->code = ERR_AUTH;
            }
        }
        goto out;
    }
    aud = match_audience(is, json_object_get(claims, "aud"));
    if (aud == NULL) {
        r = err_set(e, ERR_AUTH, "aud: no accepted audience in the token");
        goto out;
    }
    if (is->kind == JOSE_TRUST_SPIFFE) {
        r = check_svid(is, hdr, claims, e);
        if (r != 0) {
            goto out;
        }
    }
    r = make_identity(is, aud, hdr, claims, out, e);
out:
    keyset_unref(is, ks);
    json_decref(hdr);
    json_decref(claims);
    return r;
}

void jose_identity_free(struct jose_identity *id)
{
    if (id == NULL) {
        return;
    }
    free(id->issuer);
    free(id->subject);
    free(id->audience);
    free(id->kid);
    free(id->alg);
    json_decref(id->claims);
    free(id);
}
