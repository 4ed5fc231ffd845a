/*
 * authz.c: policy sets (parse, link, refcount), the scope index, and the
 * authorizer.
 *
 * The index puts each policy in exactly one bucket: by the (principal UID,
 * resource UID) pair when both scopes name one (== or in), else by the one
 * that does, else by its action UIDs, else in the residual list.  A request
 * looks up its principal and resource and their ancestors (a `principal in
 * G` policy sits under G, and G is among the principal's ancestors; pairs
 * take the product of the two key lists, or a scan of the pair map when that
 * is smaller), its action and the action's groups, plus the residual list,
 * so it evaluates only policies that can
 * apply: cost stays flat as the set grows.  Decision: forbid overrides
 * permit, default deny; a policy whose evaluation errors is skipped and
 * reported.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"

/* ---- policy sets ------------------------------------------------------- */

struct cedar_policyset *cedar_ps_new(void)
{
    struct cedar_policyset *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        return NULL;
    }
    atomic_init(&ps->refs, 1);
    arena_init(&ps->arena, 64 * 1024, 0);
    return ps;
}

static void index_map_free(struct cedar_index_map *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].pols);
    }
    free(m->slots);
    memset(m, 0, sizeof(*m));
}

static void index_free(struct cedar_policyset *ps)
{
    index_map_free(&ps->by_pair);
    index_map_free(&ps->by_principal);
    index_map_free(&ps->by_resource);
    index_map_free(&ps->by_action);
    free(ps->residual);
    ps->residual = NULL;
    ps->nresidual = 0;
    ps->residual_cap = 0;
    ps->indexed = false;
}

void cedar_ps_free(struct cedar_policyset *ps)
{
    if (ps == NULL) {
        return;
    }
    index_free(ps);
    arena_free(&ps->arena);
    free(ps);
}

int cedar_ps_append(struct cedar_policyset *ps, struct cedar_policy *p)
{
    if (ps->n == ps->cap) {
        size_t nc = ps->cap ? ps->cap * 2 : 16;
        struct cedar_policy **nv = arena_alloc(&ps->arena, nc * sizeof(*nv));
        if (nv == NULL) {
            return ERR_NOMEM;
        }
        if (ps->n) {
            memcpy(nv, ps->pols, ps->n * sizeof(*nv));
        }
        ps->pols = nv;
        ps->cap = nc;
    }
    p->index = ps->n;
    ps->pols[ps->n++] = p;
    return 0;
}

int cedar_ps_finish(struct cedar_policyset *ps, int r, struct cedar_policyset **out, struct err *e)
{
    if (r == 0) {
        r = cedar_index_build(ps, e);
    }
    if (r != 0) {
        cedar_ps_free(ps);
        return r;
    }
    *out = ps;
    return 0;
}

int cedar_policyset_parse(const char *text, size_t len, const char *filename, unsigned flags,
                          struct cedar_policyset **out, struct err *e)
{
    *out = NULL;
    struct cedar_policyset *ps = cedar_ps_new();
    if (ps == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    int r = cedar_parse_into(ps, text, len, filename, flags, e);
    if (r == 0 && (flags & CEDAR_PARSE_ID_ANNOTATION)) {
        for (size_t i = 0; i < ps->n && r == 0; i++) {
            for (size_t j = 0; j < i; j++) {
                if (strcmp(ps->pols[i]->id, ps->pols[j]->id) == 0) {
                    r = err_set(e, ERR_CONFLICT, "%s: duplicate policy id \"%s\"",
                                filename ? filename : "<policy>", ps->pols[i]->id);
                    break;
                }
            }
        }
    }
    return cedar_ps_finish(ps, r, out, e);
}

struct cedar_policyset *cedar_policyset_get(struct cedar_policyset *ps)
{
    if (ps != NULL) {
        atomic_fetch_add(&ps->refs, 1);
    }
    return ps;
}

void cedar_policyset_put(struct cedar_policyset *ps)
{
    if (ps != NULL && atomic_fetch_sub(&ps->refs, 1) == 1) {
        cedar_ps_free(ps);
    }
}

size_t cedar_policyset_count(const struct cedar_policyset *ps)
{
    return ps ? ps->n : 0;
}

const char *cedar_policyset_id(const struct cedar_policyset *ps, size_t i)
{
    return (ps && i < ps->n) ? ps->pols[i]->id : NULL;
}

static int index_one(struct cedar_policyset *ps, size_t i);

int cedar_policyset_annotation(const struct cedar_policyset *ps, size_t i, const char *key,
                               struct cedar_str *out)
{
    out->ptr = NULL;
    out->len = 0;
    if (ps == NULL || i >= ps->n) {
        return ERR_NOTFOUND;
    }
    const struct cedar_policy *p = ps->pols[i];
    size_t kl = strlen(key);
    for (size_t k = 0; k < p->nannos; k++) {
        if (p->annos[k].key.len == kl && memcmp(p->annos[k].key.ptr, key, kl) == 0) {
            *out = p->annos[k].value;
            return 0;
        }
    }
    return ERR_NOTFOUND;
}

const char *cedar_policyset_template_of(const struct cedar_policyset *ps, size_t i)
{
    return ps != NULL && i < ps->n ? ps->pols[i]->template_id : NULL;
}

bool cedar_policyset_is_template(const struct cedar_policyset *ps, size_t i)
{
    return ps != NULL && i < ps->n && ps->pols[i]->is_template;
}

bool cedar_policyset_is_forbid(const struct cedar_policyset *ps, size_t i)
{
    return ps != NULL && i < ps->n && ps->pols[i]->forbid;
}

static int link_slot(struct cedar_policyset *ps, struct cedar_scope *s, const struct cedar_uid *u,
                     const char *name, struct err *e)
{
    if (!s->slot) {
        if (u != NULL) {
            return err_set(e, ERR_INVALID, "template has no %s slot", name);
        }
        return 0;
    }
    if (u == NULL) {
        return err_set(e, ERR_INVALID, "template needs a value for %s", name);
    }
    struct cedar_uid *d = cedar_uid_dup(&ps->arena, u);
    if (d == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    s->uid = d;
    s->slot = false;
    return 0;
}

int cedar_policyset_link(struct cedar_policyset *ps, const char *template_id, const char *new_id,
                         const struct cedar_uid *principal, const struct cedar_uid *resource,
                         struct err *e)
{
    const struct cedar_policy *t = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->pols[i]->id, new_id) == 0) {
            return err_set(e, ERR_CONFLICT, "policy id \"%s\" is in use", new_id);
        }
        if (ps->pols[i]->is_template && strcmp(ps->pols[i]->id, template_id) == 0) {
            t = ps->pols[i];
        }
    }
    if (t == NULL) {
        return err_set(e, ERR_NOTFOUND, "no template \"%s\"", template_id);
    }
    struct cedar_policy *p = arena_alloc(&ps->arena, sizeof(*p));
    char *id = arena_strdup(&ps->arena, new_id);
    if (p == NULL || id == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *p = *t;
    p->id = id;
    p->is_template = false;
    p->template_id = t->id;
    int r;
    if ((r = link_slot(ps, &p->principal, principal, "?principal", e)) != 0 ||
        (r = link_slot(ps, &p->resource, resource, "?resource", e)) != 0) {
        return r;
    }
    p->link_principal = t->principal.slot ? p->principal.uid : NULL;
    p->link_resource = t->resource.slot ? p->resource.uid : NULL;
    if (cedar_ps_append(ps, p) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    /* one more entry in the index, not a rebuild: linking n templates stays linear */
    if (ps->indexed && index_one(ps, p->index) != 0) {
        ps->indexed = false; /* fail closed: authorize refuses a half-indexed set */
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return 0;
}

int cedar_policyset_unlink(struct cedar_policyset *ps, const char *id, struct err *e)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->pols[i]->id, id) != 0) {
            continue;
        }
        if (ps->pols[i]->template_id == NULL) {
            return err_set(e, ERR_INVALID, "policy \"%s\" is not a linked policy", id);
        }
        /* the policy's memory stays in the arena until the set is freed */
        memmove(&ps->pols[i], &ps->pols[i + 1], (ps->n - i - 1) * sizeof(*ps->pols));
        ps->n--;
        for (size_t k = i; k < ps->n; k++) {
            ps->pols[k]->index = k;
        }
        return cedar_index_build(ps, e);
    }
    return err_set(e, ERR_NOTFOUND, "no policy \"%s\"", id);
}

/* ---- the index --------------------------------------------------------- */

static uint64_t pair_hash(const struct cedar_uid *a, const struct cedar_uid *b)
{
    return b ? a->hash ^ (b->hash * 0x9e3779b97f4a7c15ULL + 0x7f4a7c15ULL) : a->hash;
}

static bool key_eq(const struct cedar_index_entry *s, const struct cedar_uid *a,
                   const struct cedar_uid *b)
{
    return cedar_uid_eq(s->key, a) && (b == NULL || cedar_uid_eq(s->key2, b));
}

static struct cedar_index_entry *map_slot(const struct cedar_index_map *m,
                                          const struct cedar_uid *a, const struct cedar_uid *b,
                                          uint64_t h)
{
    size_t mask = m->cap - 1, i = (size_t)h & mask;
    while (m->slots[i].key != NULL && (m->slots[i].hash != h || !key_eq(&m->slots[i], a, b))) {
        i = (i + 1) & mask;
    }
    return &m->slots[i];
}

static const struct cedar_index_entry *
map_find(const struct cedar_index_map *m, const struct cedar_uid *a, const struct cedar_uid *b)
{
    if (m->count == 0) {
        return NULL;
    }
    const struct cedar_index_entry *s = map_slot(m, a, b, pair_hash(a, b));
    return s->key ? s : NULL;
}

static int map_grow(struct cedar_index_map *m)
{
    size_t nc = m->cap ? m->cap * 2 : 16;
    struct cedar_index_map n = {calloc(nc, sizeof(struct cedar_index_entry)), nc, m->count};
    if (n.slots == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
        const struct cedar_index_entry *o = &m->slots[i];
        if (o->key != NULL) {
            *map_slot(&n, o->key, o->key2, o->hash) = *o;
        }
    }
    free(m->slots);
    *m = n;
    return 0;
}

/* Appends pol to a growable list of policy numbers (first allocation:
 * first entries, then doubling): index buckets and the residual list. */
static int pol_push(uint32_t **v, size_t *n, size_t *cap, size_t first, uint32_t pol)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : first;
        uint32_t *nv = realloc(*v, nc * sizeof(*nv));
        if (nv == NULL) {
            return ERR_NOMEM;
        }
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = pol;
    return 0;
}

static int map_add(struct cedar_index_map *m, const struct cedar_uid *a, const struct cedar_uid *b,
                   uint32_t pol)
{
    if ((m->count + 1) * 2 > m->cap && map_grow(m) != 0) {
        return ERR_NOMEM;
    }
    uint64_t h = pair_hash(a, b);
    struct cedar_index_entry *s = map_slot(m, a, b, h);
    if (s->key == NULL) {
        s->key = a;
        s->key2 = b;
        s->hash = h;
        m->count++;
    }
    if (s->n > 0 && s->pols[s->n - 1] == pol) {
        return 0;
    }
    return pol_push(&s->pols, &s->n, &s->cap, 4, pol);
}

static bool scope_keyed(const struct cedar_scope *s)
{
    return (s->op == SCOPE_EQ || s->op == SCOPE_IN || s->op == SCOPE_IS_IN) && s->uid != NULL;
}

static int residual_add(struct cedar_policyset *ps, uint32_t pol)
{
    return pol_push(&ps->residual, &ps->nresidual, &ps->residual_cap, 16, pol);
}

/* Puts policy i in its one bucket (templates in none). */
static int index_one(struct cedar_policyset *ps, size_t i)
{
    const struct cedar_policy *p = ps->pols[i];
    int r = 0;
    if (p->is_template) {
        return 0;
    }
    bool pk = scope_keyed(&p->principal), rk = scope_keyed(&p->resource);
    if (pk && rk) {
        r = map_add(&ps->by_pair, p->principal.uid, p->resource.uid, (uint32_t)i);
    } else if (pk) {
        r = map_add(&ps->by_principal, p->principal.uid, NULL, (uint32_t)i);
    } else if (rk) {
        r = map_add(&ps->by_resource, p->resource.uid, NULL, (uint32_t)i);
    } else if (scope_keyed(&p->action)) {
        r = map_add(&ps->by_action, p->action.uid, NULL, (uint32_t)i);
    } else if (p->action.op == SCOPE_IN_SET) {
        /* `action in []` matches nothing and goes nowhere */
        for (size_t k = 0; k < p->action.nuids && r == 0; k++) {
            r = map_add(&ps->by_action, &p->action.uids[k], NULL, (uint32_t)i);
        }
    } else {
        r = residual_add(ps, (uint32_t)i);
    }
    return r;
}

int cedar_index_build(struct cedar_policyset *ps, struct err *e)
{
    index_free(ps);
    for (size_t i = 0; i < ps->n; i++) {
        if (index_one(ps, i) != 0) {
            index_free(ps);
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    ps->indexed = true;
    return 0;
}

/* ---- scope matching ---------------------------------------------------- */

static bool type_is(const struct cedar_uid *u, const struct cedar_str *t)
{
    return u->type.len == t->len && memcmp(u->type.ptr, t->ptr, t->len) == 0;
}

static bool scope_one(const struct cedar_entities *es, const struct cedar_scope *s,
                      const struct cedar_uid *u)
{
    switch (s->op) {
    case SCOPE_ANY:
        return true;
    case SCOPE_EQ:
        return s->uid != NULL && cedar_uid_eq(u, s->uid);
    case SCOPE_IN:
        return s->uid != NULL && cedar_entities_in(es, u, s->uid);
    case SCOPE_IS:
        return type_is(u, &s->type);
    case SCOPE_IS_IN:
        return s->uid != NULL && type_is(u, &s->type) && cedar_entities_in(es, u, s->uid);
    case SCOPE_IN_SET:
        for (size_t i = 0; i < s->nuids; i++) {
            if (cedar_entities_in(es, u, &s->uids[i])) {
                return true;
            }
        }
        return false;
    }
    return false;
}

bool cedar_scope_match(const struct cedar_entities *es, const struct cedar_policy *p,
                       const struct cedar_request *req)
{
    return scope_one(es, &p->principal, &req->principal) &&
           scope_one(es, &p->action, &req->action) && scope_one(es, &p->resource, &req->resource);
}

/* ---- authorization ----------------------------------------------------- */

struct cand {
    uint32_t *v;
    size_t n, cap;
    struct arena *a;
    bool oom;
};

static void cand_add_list(struct cand *c, const uint32_t *pols, size_t n)
{
    if (n == 0) {
        return;
    }
    if (c->n + n > c->cap) {
        size_t nc = c->cap ? c->cap : 32;
        while (nc < c->n + n) {
            nc *= 2;
        }
        uint32_t *nv = arena_alloc(c->a, nc * sizeof(*nv));
        if (nv == NULL) {
            c->oom = true;
            return;
        }
        if (c->n) {
            memcpy(nv, c->v, c->n * sizeof(*nv));
        }
        c->v = nv;
        c->cap = nc;
    }
    memcpy(c->v + c->n, pols, n * sizeof(*pols));
    c->n += n;
}

/* The keys a request UID reaches: itself and its ancestors. */
struct keys {
    const struct cedar_uid *self;
    const struct cedar_entity *ent; /* NULL: no ancestors */
};

static struct keys keys_of(const struct cedar_entities *es, const struct cedar_uid *u)
{
    struct keys k = {u, cedar_entities_find(es, u)};
    if (k.ent != NULL && k.ent->nanc == 0) {
        k.ent = NULL;
    }
    return k;
}

static size_t keys_n(const struct keys *k)
{
    return 1 + (k->ent ? k->ent->nanc : 0);
}

/* Calls fn for each key: slot -1 is self, then the ancestor hash slots. */
static const struct cedar_uid *keys_at(const struct keys *k, size_t *it)
{
    if (*it == 0) {
        (*it)++;
        return k->self;
    }
    while (k->ent != NULL && *it - 1 < k->ent->anc_cap) {
        const struct cedar_uid *u = k->ent->anc[*it - 1];
        (*it)++;
        if (u != NULL) {
            return u;
        }
    }
    return NULL;
}

static void cand_single(struct cand *c, const struct cedar_index_map *m,
                        const struct cedar_entities *es, const struct keys *k)
{
    if (m->count == 0) {
        return;
    }
    if (keys_n(k) <= m->count) {
        size_t it = 0;
        const struct cedar_uid *u;
        while ((u = keys_at(k, &it)) != NULL) {
            const struct cedar_index_entry *ent = map_find(m, u, NULL);
            if (ent) {
                cand_add_list(c, ent->pols, ent->n);
            }
        }
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key && cedar_entities_in(es, k->self, m->slots[i].key)) {
            cand_add_list(c, m->slots[i].pols, m->slots[i].n);
        }
    }
}

static void cand_pair(struct cand *c, const struct cedar_index_map *m,
                      const struct cedar_entities *es, const struct keys *pk, const struct keys *rk)
{
    if (m->count == 0) {
        return;
    }
    if (keys_n(pk) * keys_n(rk) <= 2 * m->count) {
        size_t i = 0;
        const struct cedar_uid *p;
        while ((p = keys_at(pk, &i)) != NULL) {
            size_t j = 0;
            const struct cedar_uid *r;
            while ((r = keys_at(rk, &j)) != NULL) {
                const struct cedar_index_entry *ent = map_find(m, p, r);
                if (ent) {
                    cand_add_list(c, ent->pols, ent->n);
                }
            }
        }
        return;
    }
    for (size_t i = 0; i < m->cap; i++) {
        const struct cedar_index_entry *s = &m->slots[i];
        if (s->key && cedar_entities_in(es, pk->self, s->key) &&
            cedar_entities_in(es, rk->self, s->key2)) {
            cand_add_list(c, s->pols, s->n);
        }
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b);

/* Puts ids in policy-set order (idx holds their positions). */
static void sort_ids(const struct cedar_policyset *ps, const char **ids, uint32_t *idx, size_t n)
{
    if (n < 2) {
        return;
    }
    qsort(idx, n, sizeof(*idx), cmp_u32);
    for (size_t i = 0; i < n; i++) {
        ids[i] = ps->pols[idx[i]]->id;
    }
}

struct err_at {
    uint32_t idx;
    const char *message;
};

static int cmp_err_at(const void *a, const void *b)
{
    return cmp_u32(&((const struct err_at *)a)->idx, &((const struct err_at *)b)->idx);
}

static int sort_errs(const struct cedar_policyset *ps, struct cedar_policy_error *v, uint32_t *idx,
                     size_t n, struct arena *a)
{
    if (n < 2) {
        return 0;
    }
    struct err_at *t = arena_alloc(a, n * sizeof(*t));
    if (t == NULL) {
        return ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        t[i].idx = idx[i];
        t[i].message = v[i].message;
    }
    qsort(t, n, sizeof(*t), cmp_err_at);
    for (size_t i = 0; i < n; i++) {
        v[i].policy = ps->pols[t[i].idx]->id;
        v[i].message = t[i].message;
    }
    return 0;
}

int cedar_authorize(const struct cedar_policyset *ps, const struct cedar_entities *es,
                    const struct cedar_request *req, struct arena *a, struct cedar_response *out,
                    struct err *e)
{
    memset(out, 0, sizeof(*out));
    out->decision = CEDAR_DENY;
    if (ps == NULL || !ps->indexed) {
        return err_set(e, ERR_INTERNAL, "policy set not ready");
    }
    if (es != NULL && !es->finished) {
        return err_set(e, ERR_INTERNAL, "entity store not finished");
    }
    struct cand c = {NULL, 0, 0, a, false};
    struct keys pk = keys_of(es, &req->principal), rk = keys_of(es, &req->resource);
    struct keys ak = keys_of(es, &req->action);
    cand_pair(&c, &ps->by_pair, es, &pk, &rk);
    cand_single(&c, &ps->by_principal, es, &pk);
    cand_single(&c, &ps->by_resource, es, &rk);
    size_t act_from = c.n;
    cand_single(&c, &ps->by_action, es, &ak);
    size_t act_to = c.n;
    cand_add_list(&c, ps->residual, ps->nresidual);
    if (c.oom) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (ak.ent != NULL && act_to - act_from > 1) {
        /* only a policy naming several actions can come twice: sort that
         * stretch and drop repeats (every other policy sits in one bucket) */
        uint32_t *v = c.v + act_from;
        size_t k = act_to - act_from, m = 1;
        qsort(v, k, sizeof(uint32_t), cmp_u32);
        for (size_t i = 1; i < k; i++) {
            if (v[i] != v[m - 1]) {
                v[m++] = v[i];
            }
        }
        memmove(v + m, c.v + act_to, (c.n - act_to) * sizeof(uint32_t));
        c.n -= k - m;
    }
    size_t n = c.n ? c.n : 1;
    const char **permits = arena_alloc(a, n * sizeof(char *));
    const char **forbids = arena_alloc(a, n * sizeof(char *));
    struct cedar_policy_error *errs = arena_alloc(a, n * sizeof(*errs));
    uint32_t *pidx = arena_alloc(a, 3 * n * sizeof(uint32_t));
    uint32_t *fidx = pidx + n, *eidx = pidx + 2 * n;
    if (permits == NULL || forbids == NULL || errs == NULL || pidx == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    size_t np = 0, nf = 0, ne = 0;
    struct err ee;
    for (size_t i = 0; i < c.n; i++) {
        const struct cedar_policy *p = ps->pols[c.v[i]];
        if (!cedar_scope_match(es, p, req)) {
            continue;
        }
        struct cedar_eval ev = {es, req, a, LIMIT_CEDAR_EVAL_STEPS, 0, &ee};
        bool sat = true;
        int r = 0;
        for (size_t k = 0; k < p->nconds && sat; k++) {
            struct cedar_value v;
            err_clear(&ee);
            r = cedar_eval_expr(&ev, p->conds[k], &v);
            if (r == ERR_NOMEM) {
                return err_set(e, ERR_NOMEM, "out of memory");
            }
            if (r == 0 && v.kind != CEDAR_BOOL) {
                r = err_set(&ee, ERR_INVALID, "type error: condition must be Bool, got %s",
                            cedar_kind_name(v.kind));
            }
            if (r != 0) {
                break;
            }
            sat = v.u.b;
        }
        if (r != 0) {
            errs[ne].policy = p->id;
            eidx[ne] = (uint32_t)p->index;
            errs[ne].message = arena_strdup(a, ee.msg);
            if (errs[ne].message == NULL) {
                return err_set(e, ERR_NOMEM, "out of memory");
            }
            ne++;
            continue;
        }
        if (sat) {
            if (p->forbid) {
                fidx[nf] = (uint32_t)p->index;
                forbids[nf++] = p->id;
            } else {
                pidx[np] = (uint32_t)p->index;
                permits[np++] = p->id;
            }
        }
    }
    /* answers list policies in policy-set order (the lists are short) */
    sort_ids(ps, permits, pidx, np);
    sort_ids(ps, forbids, fidx, nf);
    if (sort_errs(ps, errs, eidx, ne, a) != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (nf > 0) {
        out->decision = CEDAR_DENY;
        out->reasons = forbids;
        out->reason_index = fidx;
        out->nreasons = nf;
    } else if (np > 0) {
        out->decision = CEDAR_ALLOW;
        out->reasons = permits;
        out->reason_index = pidx;
        out->nreasons = np;
    } else {
        out->reasons = permits;
        out->reason_index = pidx;
    }
    out->errors = errs;
    out->nerrors = ne;
    return 0;
}
