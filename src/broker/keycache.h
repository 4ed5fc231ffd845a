/*
 * keycache.h: authenticated API keys kept in memory, so a request does not
 * read the store to learn who calls it.
 *
 * An entry maps SHA-256 of the whole presented key to the caller it
 * authenticated (role, key id, subject).  A lookup compares the full hash in
 * constant time.  Entries live at most LIMIT_APIKEY_CACHE_TTL_MS; every
 * registry change made through this process (a key revoked, a human
 * offboarded, anything) empties the cache before the change's caller gets
 * its answer, so a revoked key fails at once.  A lookup that raced with a
 * change cannot put a stale answer back (the generation check below).
 */
#ifndef MANDATE_BROKER_KEYCACHE_H
#define MANDATE_BROKER_KEYCACHE_H

#include <stdint.h>

#include "broker/broker.h"

#define KEYCACHE_HASH_LEN 32

/* Makes b->keycache (empty); without one every request reads the store. */
int broker_keycache_start(struct broker *b, struct err *e) MUST_CHECK;
/* Frees b->keycache (NULL fine) and sets it NULL. */
void broker_keycache_stop(struct broker *b);
/* Forgets every entry (b or its cache may be NULL). */
void broker_keycache_invalidate(struct broker *b);

/* 1 and *out filled (strings in a) when h is cached and fresh; 0 on a miss,
 * with *gen the generation to hand to keycache_put after reading the store. */
int keycache_get(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], int64_t now_ms,
                 struct arena *a, struct broker_caller *out, uint64_t *gen);
/* Remembers c for h unless the cache was invalidated since keycache_get
 * returned gen. */
void keycache_put(struct broker *b, const unsigned char h[KEYCACHE_HASH_LEN], uint64_t gen,
                  int64_t now_ms, const struct broker_caller *c);

/* Hits and misses so far (tests, logs). */
void keycache_stats(struct broker *b, uint64_t *hits, uint64_t *misses);

#endif
