/*
 * entities.c: the entity store.  Entities sit in an open-addressed hash table
 * keyed by UID; cedar_entities_finish() computes each entity's ancestor set
 * once (a small hash set of UID pointers) so `in` is one lookup at request
 * time, never a walk.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"

int cedar_entities_new(struct cedar_entities **out)
{
    *out = NULL;
    struct cedar_entities *es = calloc(1, sizeof(*es));
    if (es == NULL) {
        return ERR_NOMEM;
    }
    arena_init(&es->arena, 64 * 1024, 0);
    *out = es;
    return 0;
}

void cedar_entities_free(struct cedar_entities *es)
{
    if (es == NULL) {
        return;
    }
    arena_free(&es->arena);
    free(es->slots);
    free(es);
}

struct arena *cedar_entities_arena(struct cedar_entities *es)
{
    return &es->arena;
}

size_t cedar_entities_count(const struct cedar_entities *es)
{
    return es ? es->count : 0;
}

static size_t find_slot(struct cedar_entity **slots, size_t cap, const struct cedar_uid *u)
{
    size_t mask = cap - 1, i = (size_t)u->hash & mask;
    while (slots[i] != NULL && !cedar_uid_eq(&slots[i]->uid, u)) {
        i = (i + 1) & mask;
    }
    return i;
}

static int grow(struct cedar_entities *es)
{
    size_t ncap = es->cap ? es->cap * 2 : 64;
    struct cedar_entity **ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < es->cap; i++) {
        if (es->slots[i] != NULL) {
            ns[find_slot(ns, ncap, &es->slots[i]->uid)] = es->slots[i];
        }
    }
    free(es->slots);
    es->slots = ns;
    es->cap = ncap;
    return 0;
}

const struct cedar_entity *cedar_entities_find(const struct cedar_entities *es,
                                               const struct cedar_uid *uid)
{
    if (es == NULL || es->cap == 0) {
        return NULL;
    }
    return es->slots[find_slot(es->slots, es->cap, uid)];
}

static const struct cedar_record *rec_or_empty(const struct cedar_value *v)
{
    static const struct cedar_record empty = {0};
    return (v != NULL && v->kind == CEDAR_RECORD && v->u.rec != NULL) ? v->u.rec : &empty;
}

int cedar_entities_add(struct cedar_entities *es, const struct cedar_uid *uid,
                       const struct cedar_value *attrs, const struct cedar_value *tags,
                       const struct cedar_uid *parents, size_t nparents, bool replace,
                       struct err *e)
{
    if ((attrs != NULL && attrs->kind != CEDAR_RECORD) ||
        (tags != NULL && tags->kind != CEDAR_RECORD)) {
        return err_set(e, ERR_INVALID, "entity attrs and tags must be records");
    }
    if (es->count >= LIMIT_CEDAR_ENTITIES) {
        return err_set(e, ERR_LIMIT, "more than %d entities", LIMIT_CEDAR_ENTITIES);
    }
    if ((es->count + 1) * 2 > es->cap && grow(es) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    size_t slot = find_slot(es->slots, es->cap, uid);
    if (es->slots[slot] != NULL && !replace) {
        return err_set(e, ERR_CONFLICT, "duplicate entity %.*s::\"%.*s\"", (int)uid->type.len,
                       uid->type.ptr, (int)(uid->id.len > 64 ? 64 : uid->id.len), uid->id.ptr);
    }
    struct cedar_entity *ent = arena_calloc(&es->arena, 1, sizeof(*ent));
    struct cedar_uid *u = cedar_uid_dup(&es->arena, uid);
    struct cedar_uid *ps = arena_calloc(&es->arena, nparents ? nparents : 1, sizeof(*ps));
    if (ent == NULL || u == NULL || ps == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < nparents; i++) {
        struct cedar_uid *p = cedar_uid_dup(&es->arena, &parents[i]);
        if (p == NULL) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        ps[i] = *p;
    }
    ent->uid = *u;
    ent->attrs = rec_or_empty(attrs);
    ent->tags = rec_or_empty(tags);
    ent->parents = ps;
    ent->nparents = nparents;
    if (es->slots[slot] == NULL) {
        es->count++;
    }
    es->slots[slot] = ent;
    es->finished = false;
    return 0;
}

/* ---- closure ----------------------------------------------------------- */

static bool anc_has(const struct cedar_entity *ent, const struct cedar_uid *u)
{
    if (ent->anc_cap == 0) {
        return false;
    }
    size_t mask = ent->anc_cap - 1, i = (size_t)u->hash & mask;
    while (ent->anc[i] != NULL) {
        if (cedar_uid_eq(ent->anc[i], u)) {
            return true;
        }
        i = (i + 1) & mask;
    }
    return false;
}

/* Collects the ancestors of ent into a growing list (DFS with an explicit
 * stack), then stores them as a hash set in the arena. */
struct ulist {
    const struct cedar_uid **v;
    size_t n, cap;
};

static int ulist_push(struct ulist *l, const struct cedar_uid *u)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        const struct cedar_uid **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            return ERR_NOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = u;
    return 0;
}

/* A scratch hash set of UIDs reused for every entity: a slot is live when
 * its generation is the current one, so clearing is free. */
struct seen {
    const struct cedar_uid **u;
    uint32_t *gen;
    size_t cap;
    uint32_t cur;
};

static int seen_grow(struct seen *s, const struct ulist *found)
{
    size_t nc = s->cap ? s->cap * 2 : 64;
    const struct cedar_uid **nu = calloc(nc, sizeof(*nu));
    uint32_t *ng = calloc(nc, sizeof(*ng));
    if (nu == NULL || ng == NULL) {
        free(nu);
        free(ng);
        return ERR_NOMEM;
    }
    free(s->u);
    free(s->gen);
    s->u = nu;
    s->gen = ng;
    s->cap = nc;
    s->cur = 1;
    for (size_t i = 0; i < found->n; i++) {
        size_t j = (size_t)found->v[i]->hash & (nc - 1);
        while (ng[j] == s->cur) {
            j = (j + 1) & (nc - 1);
        }
        ng[j] = s->cur;
        nu[j] = found->v[i];
    }
    return 0;
}

/* Adds u; returns 1 when new, 0 when present, ERR_NOMEM. */
static int seen_add(struct seen *s, struct ulist *found, const struct cedar_uid *u)
{
    if ((found->n + 1) * 2 > s->cap && seen_grow(s, found) != 0) {
        return ERR_NOMEM;
    }
    size_t mask = s->cap - 1, j = (size_t)u->hash & mask;
    while (s->gen[j] == s->cur) {
        if (cedar_uid_eq(s->u[j], u)) {
            return 0;
        }
        j = (j + 1) & mask;
    }
    s->gen[j] = s->cur;
    s->u[j] = u;
    return 1;
}

static int closure_one(struct cedar_entities *es, struct cedar_entity *ent, struct ulist *found,
                       struct ulist *stack, struct seen *seen, struct err *e)
{
    found->n = 0;
    stack->n = 0;
    if (++seen->cur == 0) { /* generations wrapped: really clear */
        if (seen->cap) {
            memset(seen->gen, 0, seen->cap * sizeof(*seen->gen));
        }
        seen->cur = 1;
    }
    for (size_t i = 0; i < ent->nparents; i++) {
        if (ulist_push(stack, &ent->parents[i]) != 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    while (stack->n > 0) {
        const struct cedar_uid *u = stack->v[--stack->n];
        if (cedar_uid_eq(u, &ent->uid)) {
            /* the reference refuses hierarchies with cycles (they must be DAGs) */
            return err_set(e, ERR_INVALID, "entity hierarchy has a cycle through %.*s::\"%.*s\"",
                           (int)(u->type.len > 64 ? 64 : u->type.len), u->type.ptr,
                           (int)(u->id.len > 64 ? 64 : u->id.len), u->id.ptr);
        }
        int added = seen_add(seen, found, u);
        if (added < 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        if (added == 0) {
            continue;
        }
        if (found->n >= LIMIT_CEDAR_ANCESTORS) {
            return err_set(e, ERR_LIMIT, "entity has more than %d ancestors",
                           LIMIT_CEDAR_ANCESTORS);
        }
        if (ulist_push(found, u) != 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        const struct cedar_entity *p = cedar_entities_find(es, u);
        if (p == NULL) {
            continue;
        }
        for (size_t i = 0; i < p->nparents; i++) {
            if (ulist_push(stack, &p->parents[i]) != 0) {
                return err_set(e, ERR_NOMEM, "out of memory");
            }
        }
    }
    size_t cap = 0;
    if (found->n) {
        cap = 4;
        while (cap < found->n * 2) {
            cap *= 2;
        }
    }
    ent->anc = NULL;
    ent->anc_cap = 0;
    ent->nanc = found->n;
    if (cap) {
        ent->anc = arena_calloc(&es->arena, cap, sizeof(*ent->anc));
        if (ent->anc == NULL) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        ent->anc_cap = cap;
        for (size_t i = 0; i < found->n; i++) {
            size_t mask = cap - 1, j = (size_t)found->v[i]->hash & mask;
            while (ent->anc[j] != NULL) {
                j = (j + 1) & mask;
            }
            ent->anc[j] = found->v[i];
        }
    }
    return 0;
}

int cedar_entities_finish(struct cedar_entities *es, struct err *e)
{
    struct ulist found = {0}, stack = {0};
    struct seen seen = {0};
    int r = 0;
    size_t total = 0;
    for (size_t i = 0; i < es->cap && r == 0; i++) {
        if (es->slots[i] != NULL) {
            r = closure_one(es, es->slots[i], &found, &stack, &seen, e);
            total += es->slots[i]->nanc;
            if (r == 0 && total > LIMIT_CEDAR_CLOSURE_TOTAL) {
                r = err_set(e, ERR_LIMIT, "entity hierarchy too large: more than %d ancestor links",
                            LIMIT_CEDAR_CLOSURE_TOTAL);
            }
        }
    }
    free(found.v);
    free(stack.v);
    free(seen.u);
    free(seen.gen);
    if (r == 0) {
        es->finished = true;
    }
    return r;
}

bool cedar_entities_in(const struct cedar_entities *es, const struct cedar_uid *a,
                       const struct cedar_uid *b)
{
    if (cedar_uid_eq(a, b)) {
        return true;
    }
    const struct cedar_entity *ent = cedar_entities_find(es, a);
    return ent != NULL && anc_has(ent, b);
}
