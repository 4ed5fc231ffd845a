/*
 * jwkcache.c: imported DPoP proof keys, by the full content of their JWK.
 *
 * Every DPoP proof carries its public key in the header.  Importing it
 * (jose_jwk_from_json: OpenSSL 3 key construction and the on-curve checks)
 * costs as much as verifying the signature, and a thumbprint costs an export
 * of the key again; an agent sends the same key with every call.  So the
 * imported key and its RFC 7638 thumbprint are kept here, found by SHA-256 of
 * the JWK's canonical text (every member, sorted, compact).  Keying by the
 * whole content, never by kid or thumbprint alone, means a proof can only
 * ever meet the key that its own bytes describe: a different alg, use or
 * key_ops member, or a different point, is a different entry, and nobody can
 * place a key under someone else's name.
 *
 * Bounded LRU (LIMIT_JOSE_DPOP_KEY_CACHE entries), one mutex held only for
 * the table work (imports run outside it).  Keys are shared by reference
 * count: an entry evicted while a verification uses it lives until released.
 * Only keys that imported cleanly are kept; a bad key costs its import every
 * time, as without a cache.
 */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"
#include "util/limits.h"

struct kc_entry {
    struct kc_entry *chain;         /* next in the bucket */
    struct kc_entry *newer, *older; /* LRU list */
    uint8_t hash[32];               /* SHA-256 of the canonical JWK text */
    struct jose_jwk *key;           /* one reference held by the cache */
    char jkt[JOSE_JKT_LEN + 1];
};

struct jose_jwkcache {
    pthread_mutex_t lock;
    struct kc_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count, max;
    struct kc_entry *newest, *oldest;
    unsigned long hits, misses;
};

int jose_jwkcache_new(size_t max_entries, struct jose_jwkcache **out, struct err *e)
{
    struct jose_jwkcache *c = calloc(1, sizeof(*c));
    size_t nb = 16;

    *out = NULL;
    if (c == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    c->max = max_entries == 0 || max_entries > LIMIT_JOSE_DPOP_KEY_CACHE ? LIMIT_JOSE_DPOP_KEY_CACHE
                                                                         : max_entries;
    while (nb < c->max) {
        nb *= 2;
    }
    c->nbuckets = nb;
    c->buckets = calloc(nb, sizeof(*c->buckets));
    if (c->buckets == NULL || pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->buckets);
        free(c);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = c;
    return 0;
}

void jose_jwkcache_free(struct jose_jwkcache *c)
{
    struct kc_entry *x, *n;

    if (c == NULL) {
        return;
    }
    for (x = c->newest; x != NULL; x = n) {
        n = x->older;
        jose_jwk_free(x->key);
        free(x);
    }
    pthread_mutex_destroy(&c->lock);
    free(c->buckets);
    free(c);
}

size_t jose_jwkcache_size(struct jose_jwkcache *c, unsigned long *hits, unsigned long *misses)
{
    size_t n;

    pthread_mutex_lock(&c->lock);
    n = c->count;
    if (hits != NULL) {
        *hits = c->hits;
    }
    if (misses != NULL) {
        *misses = c->misses;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static size_t bucket_of(const struct jose_jwkcache *c, const uint8_t h[32])
{
    return ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24) &
           (c->nbuckets - 1);
}

static void lru_unlink(struct jose_jwkcache *c, struct kc_entry *x)
{
    if (x->newer != NULL) {
        x->newer->older = x->older;
    } else {
        c->newest = x->older;
    }
    if (x->older != NULL) {
        x->older->newer = x->newer;
    } else {
        c->oldest = x->newer;
    }
    x->newer = x->older = NULL;
}

static void lru_push(struct jose_jwkcache *c, struct kc_entry *x)
{
    x->newer = NULL;
    x->older = c->newest;
    if (c->newest != NULL) {
        c->newest->newer = x;
    }
    c->newest = x;
    if (c->oldest == NULL) {
        c->oldest = x;
    }
}

static struct kc_entry *find(struct jose_jwkcache *c, const uint8_t h[32])
{
    struct kc_entry *x;

    for (x = c->buckets[bucket_of(c, h)]; x != NULL; x = x->chain) {
        if (memcmp(x->hash, h, 32) == 0) {
            return x;
        }
    }
    return NULL;
}

/* Drops the least recently used entry (lock held). */
static void evict_one(struct jose_jwkcache *c)
{
    struct kc_entry *x = c->oldest, **pp;

    if (x == NULL) {
        return;
    }
    for (pp = &c->buckets[bucket_of(c, x->hash)]; *pp != NULL; pp = &(*pp)->chain) {
        if (*pp == x) {
            *pp = x->chain;
            break;
        }
    }
    lru_unlink(c, x);
    c->count--;
    jose_jwk_free(x->key);
    free(x);
}

/* SHA-256 of the JWK's canonical text: every member, sorted, compact. */
static int content_hash(const json_t *jwk, uint8_t h[32], struct err *e)
{
    char *s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned int hl = 0;
    int ok;

    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    ok = EVP_Digest(s, strlen(s), h, &hl, EVP_sha256(), NULL) == 1 && hl == 32;
    free(s);
    return ok ? 0 : err_set(e, ERR_INTERNAL, "SHA-256 failed");
}

int jose_jwkcache_get(struct jose_jwkcache *c, const json_t *jwk, struct jose_jwk **key,
                      char jkt[JOSE_JKT_LEN + 1], struct err *e)
{
    struct jose_jwk *k = NULL;
    struct kc_entry *x;
    uint8_t h[32];
    int r;

    *key = NULL;
    jkt[0] = '\0';
    if (!json_is_object(jwk)) {
        return err_set(e, ERR_INVALID, "JWK: not a JSON object");
    }
    if (c != NULL) {
        if ((r = content_hash(jwk, h, e)) != 0) {
            return r;
        }
        pthread_mutex_lock(&c->lock);
        x = find(c, h);
        if (x != NULL) {
            lru_unlink(c, x);
            lru_push(c, x);
            c->hits++;
            *key = jose_jwk_ref(x->key);
            memcpy(jkt, x->jkt, JOSE_JKT_LEN + 1);
            pthread_mutex_unlock(&c->lock);
            return 0;
        }
        c->misses++;
        pthread_mutex_unlock(&c->lock);
    }
    /* A miss: import outside the lock (the expensive part). */
    if ((r = jose_jwk_from_json(jwk, &k, e)) != 0) {
        return r;
    }
    if ((r = jose_jwk_thumbprint(k, jkt, e)) != 0) {
        jose_jwk_free(k);
        return r;
    }
    if (c != NULL && (x = calloc(1, sizeof(*x))) != NULL) {
        memcpy(x->hash, h, 32);
        memcpy(x->jkt, jkt, JOSE_JKT_LEN + 1);
        pthread_mutex_lock(&c->lock);
        if (find(c, h) != NULL) {
            free(x); /* another thread imported the same key meanwhile */
        } else {
            size_t b = bucket_of(c, h);
            while (c->count >= c->max) {
                evict_one(c);
            }
            x->key = jose_jwk_ref(k);
            x->chain = c->buckets[b];
            c->buckets[b] = x;
            lru_push(c, x);
            c->count++;
        }
        pthread_mutex_unlock(&c->lock);
    }
    /* A failed calloc only means this key is not cached. */
    *key = k;
    return 0;
}
