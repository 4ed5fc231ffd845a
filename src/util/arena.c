/* arena.c: bump allocation in chained blocks, with cleanups. */
#include "util/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/limits.h"

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_BLOCK 8192

struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *data;
};

void arena_init(struct arena *a, size_t block_size, size_t max)
{
    a->head = NULL;
    a->cleanups = NULL;
    a->block_size = block_size ? block_size : ARENA_DEFAULT_BLOCK;
    a->total = 0;
    a->max = max;
}

static struct arena_block *new_block(size_t size)
{
    struct arena_block *b;

    if (size > LIMIT_ARENA_BLOCK_MAX) {
        return NULL;
    }
    b = malloc(sizeof(*b) + size);
    if (b == NULL) {
        return NULL;
    }
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_block *b = a->head;
    size_t need, off;

    if (n > LIMIT_ARENA_BLOCK_MAX) {
        return NULL;
    }
    need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0) {
        need = ARENA_ALIGN;
    }
    if (a->max != 0 && a->total + need > a->max) {
        return NULL;
    }
    if (b == NULL || b->size - b->used < need) {
        /* Big requests get a block of their own, chained behind the current
         * one so the current block's free space is not wasted. */
        if (need > a->block_size / 4 && b != NULL) {
            struct arena_block *big = new_block(need);
            if (big == NULL) {
                return NULL;
            }
            big->next = b->next;
            b->next = big;
            big->used = need;
            a->total += need;
            return big->data;
        }
        b = new_block(need > a->block_size ? need : a->block_size);
        if (b == NULL) {
            return NULL;
        }
        b->next = a->head;
        a->head = b;
    }
    off = b->used;
    b->used += need;
    a->total += need;
    return b->data + off;
}

void *arena_calloc(struct arena *a, size_t count, size_t size)
{
    void *p;

    if (size != 0 && count > SIZE_MAX / size) {
        return NULL;
    }
    p = arena_alloc(a, count * size);
    if (p != NULL) {
        memset(p, 0, count * size);
    }
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX) {
        return NULL;
    }
    p = arena_alloc(a, n + 1);
    if (p == NULL) {
        return NULL;
    }
    if (n > 0) {
        memcpy(p, s, n);
    }
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return NULL;
    }
    p = arena_alloc(a, (size_t)n + 1);
    if (p == NULL) {
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

int arena_cleanup_add(struct arena *a, void (*fn)(void *), void *data)
{
    struct arena_cleanup *c = malloc(sizeof(*c));

    if (c == NULL) {
        return ERR_NOMEM;
    }
    c->fn = fn;
    c->data = data;
    c->next = a->cleanups;
    a->cleanups = c;
    return 0;
}

void arena_free(struct arena *a)
{
    if (a == NULL) {
        return;
    }
    while (a->cleanups != NULL) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->data);
        free(c);
    }
    while (a->head != NULL) {
        struct arena_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->total = 0;
}
