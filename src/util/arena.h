/*
 * arena.h: a bump allocator for work that ends all at once.
 *
 * One arena per request (nginx pools): allocations are never freed one by
 * one; arena_free() releases them together and runs the cleanups registered
 * with arena_cleanup_add() in reverse order (keys to wipe, statements to
 * finalise).  Not thread-safe: an arena belongs to one thread at a time.
 */
#ifndef MANDATE_UTIL_ARENA_H
#define MANDATE_UTIL_ARENA_H

#include <stddef.h>

#include "util/err.h"

struct arena_block;
struct arena_cleanup;

struct arena {
    struct arena_block *head; /* current block; older ones chained behind */
    struct arena_cleanup *cleanups;
    size_t block_size; /* size of ordinary blocks */
    size_t total;      /* bytes handed out, for limits and stats */
    size_t max;        /* 0: no cap beyond LIMIT_ARENA_BLOCK_MAX */
};

/* Initialises a with ordinary blocks of block_size bytes (0: 8 KiB) and a cap
 * on the total it may hand out (0: none).  Allocates nothing yet. */
void arena_init(struct arena *a, size_t block_size, size_t max);

/* Returns n bytes aligned for any type, or NULL when memory or the cap runs
 * out.  n == 0 returns a valid unique pointer. */
void *arena_alloc(struct arena *a, size_t n);

/* As arena_alloc, zeroed; checks count * size for overflow. */
void *arena_calloc(struct arena *a, size_t count, size_t size);

/* Copies s[0..n) into the arena and adds a NUL; NULL on failure. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);

/* printf into the arena; NULL on failure. */
char *arena_printf(struct arena *a, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Registers fn(data) to run when the arena is freed.  Returns 0 or ERR_NOMEM
 * (in which case fn has not been registered and the caller must clean up). */
int arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data) MUST_CHECK;

/* Runs the cleanups, releases every block and leaves a reusable empty arena.
 * a may be NULL. */
void arena_free(struct arena *a);

#endif
