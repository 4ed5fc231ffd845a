/*
 * keycache.c: the API key cache (broker_int.h).
 *
 * A direct-mapped table of LIMIT_APIKEY_CACHE slots indexed by the key's
 * hash: a collision evicts, which only costs the next request one store
 * read.  One mutex guards it; the work under it is a hash compare and a few
 * copies.  Invalidation bumps a generation: entries of an older generation
 * are misses, so emptying the cache is O(1).
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/limits.h"
#include "util/wipe.h"

#define KEY_ID_MAX 32

struct kentry {
    unsigned char h[KEYCACHE_HASH_LEN];
    uint64_t gen; /* 0: empty */
    int64_t expires_ms;
    enum broker_role role;
    char key_id[KEY_ID_MAX + 1];
    char subject[LIMIT_ID_LEN + 1];
    int has_subject;
};

struct broker_keycache {
    pthread_mutex_t mu;
    uint64_t gen; /* starts at 1 */
    uint64_t hits, misses;
    struct kentry slot[LIMIT_APIKEY_CACHE];
};

int broker_keycache_start(struct broker *b, struct err *e)
{
    struct broker_keycache *kc = calloc(1, sizeof(*kc));

    if (kc == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_init(&kc->mu, NULL);
    kc->gen = 1;
    b->keycache = kc;
    return 0;
}

void broker_keycache_stop(struct broker *b)
{
    struct broker_keycache *kc = b ? b->keycache : NULL;

    if (kc == NULL) {
        return;
    }
    b->keycache = NULL;
    pthread_mutex_destroy(&kc->mu);
    wipe(kc->slot, sizeof(kc->slot));
    free(kc);
}

void broker_keycache_invalidate(struct broker *b)
{
    struct broker_keycache *kc = b ? b->keycache : NULL;

    if (kc == NULL) {
        return;
    }
    pthread_mutex_lock(&kc->mu);
    kc->gen++;
    pthread_mutex_unlock(&kc->mu);
}

static size_t slot_of(const unsigned char h[KEYCACHE_HASH_LEN])
{
    uint64_t v;

    memcpy(&v, h, sizeof(v));
    return (size_t)(v % LIMIT_APIKEY_CACHE);
}

int keycache_get(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], int64_t now_ms,
                 struct arena *a, struct broker_caller *out, uint64_t *gen)
{
    struct broker_keycache *kc = b->keycache;
    struct kentry *k;
    const char *id = NULL, *sub = NULL;
    int hit = 0;

    *gen = 0;
    if (kc == NULL) {
        return 0;
    }
    pthread_mutex_lock(&kc->mu);
    k = &kc->slot[slot_of(h)];
    *gen = kc->gen;
    if (k->gen == kc->gen && now_ms < k->expires_ms &&
        CRYPTO_memcmp(k->h, h, KEYCACHE_HASH_LEN) == 0) {
        id = arena_strdup(a, k->key_id);
        sub = k->has_subject ? arena_strdup(a, k->subject) : NULL;
        if (id != NULL && (!k->has_subject || sub != NULL)) {
            memset(out, 0, sizeof(*out));
            out->role = k->role;
            out->key_id = id;
            out->subject = sub;
            hit = 1;
        }
    }
    if (hit) {
        kc->hits++;
    } else {
        kc->misses++;
    }
    pthread_mutex_unlock(&kc->mu);
    return hit;
}

void keycache_put(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], uint64_t gen,
                  int64_t now_ms, const struct broker_caller *c)
{
    struct broker_keycache *kc = b->keycache;
    struct kentry *k;
    size_t il, sl = 0;

    if (kc == NULL || c->key_id == NULL) {
        return;
    }
    il = strlen(c->key_id);
    if (c->subject != NULL) {
        sl = strlen(c->subject);
    }
    if (il > KEY_ID_MAX || sl > LIMIT_ID_LEN) {
        return; /* not cacheable: the store answers every time */
    }
    pthread_mutex_lock(&kc->mu);
    if (gen == kc->gen) {
        k = &kc->slot[slot_of(h)];
        memcpy(k->h, h, KEYCACHE_HASH_LEN);
        k->gen = gen;
        k->expires_ms = now_ms + LIMIT_APIKEY_CACHE_TTL_MS;
        k->role = c->role;
        memcpy(k->key_id, c->key_id, il + 1);
        k->has_subject = c->subject != NULL;
        if (c->subject != NULL) {
            memcpy(k->subject, c->subject, sl + 1);
        } else {
            k->subject[0] = '\0';
        }
    }
    pthread_mutex_unlock(&kc->mu);
}

void keycache_stats(struct broker *b, uint64_t *hits, uint64_t *misses)
{
    struct broker_keycache *kc = b ? b->keycache : NULL;

    *hits = *misses = 0;
    if (kc == NULL) {
        return;
    }
    pthread_mutex_lock(&kc->mu);
    *hits = kc->hits;
    *misses = kc->misses;
    pthread_mutex_unlock(&kc->mu);
}
