/*
 * validate.c: the Cedar strict-mode validator (Cedar 4.10 semantics).
 *
 * For each policy: every entity type and action the policy names must be
 * declared (enum entities must name declared ids); the request environments
 * its scope admits are enumerated from the schema (each action's appliesTo,
 * action groups, `==`/`in`/`is` constraints) and there must be at least one;
 * then the condition (the `when`/`unless` clauses as one `&&` chain) is
 * type-checked in each environment.  Types carry Bool singletons (True/False)
 * so that `&&`, `||` and `if` skip what can never run, as the reference does;
 * "capabilities" record which optional attributes and tags a `has`/`hasTag`
 * guard makes safe to read.  Strict mode: set elements, `==` operands, `if`
 * branches and `contains` arguments must have a least upper bound without
 * mixing entity types, and empty set literals are refused.
 *
 * Everything a run allocates lives in one arena, freed at the end.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cedar/cedar.h"
#include "cedar/cedar_int.h"
#include "cedar/ext.h"
#include "cedar/schema_int.h"
#include "util/limits.h"

/* ---- types --------------------------------------------------------------- */

enum vk {
    VK_NEVER = 0, /* no value (element of an empty set) */
    VK_BOOL,
    VK_LONG,
    VK_STRING,
    VK_ENTITY,
    VK_SET,
    VK_RECORD,
    VK_IP,
    VK_DECIMAL,
    VK_DATETIME,
    VK_DURATION
};

enum vb { VB_ANY = 0, VB_TRUE, VB_FALSE };

struct vtype;

struct vattr {
    struct cedar_str name;
    const struct vtype *t;
    bool required;
};

struct vtype {
    enum vk k;
    enum vb b;                   /* BOOL */
    struct cedar_str ent;        /* ENTITY: type name */
    const struct cedar_uid *uid; /* ENTITY: the exact entity when known (literal, action) */
    const struct vtype *elem;    /* SET */
    const struct vattr *attrs;   /* RECORD: sorted by name */
    size_t n;
};

/* A capability: `on has attr` (tagkey NULL) or `on.hasTag(tagkey)` is known true. */
struct cap {
    const struct cedar_expr *on;
    struct cedar_str attr;
    const struct cedar_expr *tagkey;
    const struct cap *next;
};

struct tres {
    const struct vtype *t;
    const struct cap *caps; /* facts that hold when the expression is true */
};

struct venv {
    struct cedar_str ptype, rtype;
    const struct cedar_saction *act;
};

struct seen {
    const char *msg;
    const struct seen *next;
};

/* Converted schema record types of the current policy, by address. */
#define VC_CACHE 512

struct vc {
    const struct cedar_stype *ckey[VC_CACHE];
    const struct vtype *cval[VC_CACHE];
    const struct seen *seen; /* diagnostics of the current policy */
    const struct cedar_schema *s;
    const struct cedar_policy *pol;
    const char *filename;
    const struct venv *env;
    struct arena a;
    struct err *e;
    void (*cb)(void *ud, const char *policy, const char *message);
    void *ud;
    size_t ndiags;
};

static const struct vtype T_NEVER = {.k = VK_NEVER};
static const struct vtype T_BOOL = {.k = VK_BOOL, .b = VB_ANY};
static const struct vtype T_TRUE = {.k = VK_BOOL, .b = VB_TRUE};
static const struct vtype T_FALSE = {.k = VK_BOOL, .b = VB_FALSE};
static const struct vtype T_LONG = {.k = VK_LONG};
static const struct vtype T_STRING = {.k = VK_STRING};
static const struct vtype T_IP = {.k = VK_IP};
static const struct vtype T_DECIMAL = {.k = VK_DECIMAL};
static const struct vtype T_DATETIME = {.k = VK_DATETIME};
static const struct vtype T_DURATION = {.k = VK_DURATION};

/* Writes a readable type into buf. */
static void type_name(const struct vtype *t, char *buf, size_t cap)
{
    switch (t->k) {
    case VK_NEVER:
        snprintf(buf, cap, "an empty set's element");
        return;
    case VK_BOOL:
        snprintf(buf, cap, "%s",
                 t->b == VB_TRUE    ? "Bool (true)"
                 : t->b == VB_FALSE ? "Bool (false)"
                                    : "Bool");
        return;
    case VK_LONG:
        snprintf(buf, cap, "Long");
        return;
    case VK_STRING:
        snprintf(buf, cap, "String");
        return;
    case VK_ENTITY:
        snprintf(buf, cap, "entity of type `%.*s`", (int)(t->ent.len > 80 ? 80 : t->ent.len),
                 t->ent.ptr);
        return;
    case VK_SET: {
        char in[160];
        type_name(t->elem, in, sizeof(in));
        snprintf(buf, cap, "Set<%s>", in);
        return;
    }
    case VK_RECORD:
        snprintf(buf, cap, "record with %zu attribute%s", t->n, t->n == 1 ? "" : "s");
        return;
    case VK_IP:
        snprintf(buf, cap, "ipaddr");
        return;
    case VK_DECIMAL:
        snprintf(buf, cap, "decimal");
        return;
    case VK_DATETIME:
        snprintf(buf, cap, "datetime");
        return;
    case VK_DURATION:
        snprintf(buf, cap, "duration");
        return;
    }
    snprintf(buf, cap, "?");
}

/* Reports one diagnostic at x (or the policy when x is NULL); returns ERR_INVALID. */
static int diag(struct vc *v, const struct cedar_expr *x, const char *fmt, ...) PRINTF_LIKE(3, 4);
static int diag(struct vc *v, const struct cedar_expr *x, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char full[ERR_MSG_MAX + 256];
    char envs[200] = "";
    if (v->env) {
        snprintf(envs, sizeof(envs), " (for principal `%.*s`, action `%.*s`, resource `%.*s`)",
                 (int)(v->env->ptype.len > 40 ? 40 : v->env->ptype.len), v->env->ptype.ptr,
                 (int)(v->env->act->uid.id.len > 40 ? 40 : v->env->act->uid.id.len),
                 v->env->act->uid.id.ptr, (int)(v->env->rtype.len > 40 ? 40 : v->env->rtype.len),
                 v->env->rtype.ptr);
    }
    const char *file = v->filename ? v->filename : "policy";
    if ((x ? x->line : v->pol->line) <= 0) {
        /* read from the JSON policy format: no text position */
        snprintf(full, sizeof(full), "%s: %s: %s", file, v->pol->id, msg);
    } else if (x) {
        snprintf(full, sizeof(full), "%s:%d:%d: %s: %s", file, x->line, x->col, v->pol->id, msg);
    } else {
        snprintf(full, sizeof(full), "%s:%d:%d: %s: %s", file, v->pol->line, v->pol->col,
                 v->pol->id, msg);
    }
    /* the same error in several environments is reported once, with the first */
    for (const struct seen *sn = v->seen; sn; sn = sn->next) {
        if (strcmp(sn->msg, full) == 0) {
            return ERR_INVALID;
        }
    }
    struct seen *sn = arena_alloc(&v->a, sizeof(*sn));
    if (sn && (sn->msg = arena_strdup(&v->a, full)) != NULL) {
        sn->next = v->seen;
        v->seen = sn;
    }
    size_t fl = strlen(full);
    snprintf(full + fl, sizeof(full) - fl, "%s", envs);
    v->ndiags++;
    if (v->cb) {
        v->cb(v->ud, v->pol->id, full);
    }
    return ERR_INVALID;
}

static int nomem(struct vc *v)
{
    return err_set(v->e, ERR_NOMEM, "validator: out of memory");
}

static struct vtype *new_type(struct vc *v, enum vk k)
{
    struct vtype *t = arena_calloc(&v->a, 1, sizeof(*t));
    if (t) {
        t->k = k;
    }
    return t;
}

static const struct vtype *entity_type(struct vc *v, struct cedar_str name,
                                       const struct cedar_uid *uid)
{
    struct vtype *t = new_type(v, VK_ENTITY);
    if (t) {
        t->ent = name;
        t->uid = uid;
    }
    return t;
}

/* Converts a schema type. */
static const struct vtype *from_stype(struct vc *v, const struct cedar_stype *st, unsigned depth)
{
    if (st == NULL || depth > LIMIT_CEDAR_SCHEMA_DEPTH + 2) {
        return NULL;
    }
    switch (st->kind) {
    case CEDAR_ST_BOOL:
        return &T_BOOL;
    case CEDAR_ST_LONG:
        return &T_LONG;
    case CEDAR_ST_STRING:
        return &T_STRING;
    case CEDAR_ST_IP:
        return &T_IP;
    case CEDAR_ST_DECIMAL:
        return &T_DECIMAL;
    case CEDAR_ST_DATETIME:
        return &T_DATETIME;
    case CEDAR_ST_DURATION:
        return &T_DURATION;
    case CEDAR_ST_ENTITY:
        return entity_type(v, st->name, NULL);
    case CEDAR_ST_SET: {
        struct vtype *t = new_type(v, VK_SET);
        if (t == NULL || (t->elem = from_stype(v, st->elem, depth + 1)) == NULL) {
            return NULL;
        }
        return t;
    }
    case CEDAR_ST_RECORD: {
        size_t slot = ((uintptr_t)st >> 4) % VC_CACHE;
        if (v->ckey[slot] == st) {
            return v->cval[slot];
        }
        struct vtype *t = new_type(v, VK_RECORD);
        struct vattr *at = t ? arena_calloc(&v->a, st->nattrs + 1, sizeof(*at)) : NULL;
        if (at == NULL) {
            return NULL;
        }
        for (size_t i = 0; i < st->nattrs; i++) {
            at[i].name = st->attrs[i].name;
            at[i].required = st->attrs[i].required;
            if ((at[i].t = from_stype(v, st->attrs[i].type, depth + 1)) == NULL) {
                return NULL;
            }
        }
        t->attrs = at;
        t->n = st->nattrs;
        v->ckey[slot] = st;
        v->cval[slot] = t;
        return t;
    }
    case CEDAR_ST_REF:
        break;
    }
    return NULL;
}

static const struct vattr *rec_find(const struct vtype *t, struct cedar_str name)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cedar_str_cmp(t->attrs[mid].name, name);
        if (c == 0) {
            return &t->attrs[mid];
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Strict least upper bound; NULL (no error set) when there is none, or on
 * allocation failure (then *oom is set). */
static const struct vtype *lub(struct vc *v, const struct vtype *a, const struct vtype *b,
                               bool *oom, unsigned depth)
{
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return NULL;
    }
    if (a->k == VK_NEVER) {
        return b;
    }
    if (b->k == VK_NEVER) {
        return a;
    }
    if (a->k != b->k) {
        return NULL;
    }
    switch (a->k) {
    case VK_BOOL:
        return a->b == b->b ? a : &T_BOOL;
    case VK_ENTITY:
        if (!cedar_str_eq(a->ent, b->ent)) {
            return NULL;
        }
        if (a->uid && b->uid && cedar_uid_eq(a->uid, b->uid)) {
            return a;
        }
        if (a->uid == NULL) {
            return a;
        }
        if (b->uid == NULL) {
            return b;
        }
        {
            const struct vtype *t = entity_type(v, a->ent, NULL);
            if (t == NULL) {
                *oom = true;
            }
            return t;
        }
    case VK_SET: {
        const struct vtype *el = lub(v, a->elem, b->elem, oom, depth + 1);
        if (el == NULL) {
            return NULL;
        }
        if (el == a->elem) {
            return a;
        }
        if (el == b->elem) {
            return b;
        }
        struct vtype *t = new_type(v, VK_SET);
        if (t == NULL) {
            *oom = true;
            return NULL;
        }
        t->elem = el;
        return t;
    }
    case VK_RECORD: {
        if (a->n != b->n) {
            return NULL;
        }
        struct vattr *at = arena_calloc(&v->a, a->n + 1, sizeof(*at));
        struct vtype *t = new_type(v, VK_RECORD);
        if (at == NULL || t == NULL) {
            *oom = true;
            return NULL;
        }
        for (size_t i = 0; i < a->n; i++) {
            if (!cedar_str_eq(a->attrs[i].name, b->attrs[i].name) ||
                a->attrs[i].required != b->attrs[i].required) {
                return NULL;
            }
            at[i] = a->attrs[i];
            if ((at[i].t = lub(v, a->attrs[i].t, b->attrs[i].t, oom, depth + 1)) == NULL) {
                return NULL;
            }
        }
        t->attrs = at;
        t->n = a->n;
        return t;
    }
    default:
        return a;
    }
}

/* ---- schema questions ------------------------------------------------------ */

static bool is_action_type(struct vc *v, struct cedar_str t)
{
    return cedar_schema_is_action_type(v->s, t.ptr, t.len);
}

static bool entity_type_known(struct vc *v, struct cedar_str t)
{
    return cedar_schema_entity(v->s, t.ptr, t.len) != NULL || is_action_type(v, t);
}

/* True when an entity of type child can be `in` an entity of type parent
 * (reflexive, transitive over the schema's `in` lists). */
static bool type_can_be_in(struct vc *v, struct cedar_str child, struct cedar_str parent)
{
    if (cedar_str_eq(child, parent)) {
        return true;
    }
    if (is_action_type(v, child)) {
        /* actions are in action groups of (possibly) other action types */
        for (size_t i = 0; i < v->s->nactions; i++) {
            const struct cedar_saction *sa = &v->s->actions[i];
            if (!cedar_str_eq(sa->uid.type, child)) {
                continue;
            }
            for (size_t j = 0; j < sa->nparents; j++) {
                if (cedar_str_eq(sa->parents[j].type, parent)) {
                    return true;
                }
            }
        }
        return false;
    }
    /* breadth-first over entity types; the schema is small, bound the walk */
    size_t n = v->s->nentities;
    const struct cedar_sentity *se = cedar_schema_entity(v->s, child.ptr, child.len);
    if (se == NULL) {
        return false;
    }
    const struct cedar_sentity **q = arena_calloc(&v->a, n + 1, sizeof(*q));
    bool *seen = arena_calloc(&v->a, n + 1, sizeof(*seen));
    if (q == NULL || seen == NULL) {
        return true; /* fail open on memory here only widens the type to Bool */
    }
    size_t head = 0, tail = 0;
    q[tail++] = se;
    seen[se - v->s->entities] = true;
    while (head < tail) {
        const struct cedar_sentity *c = q[head++];
        for (size_t i = 0; i < c->nparents; i++) {
            if (cedar_str_eq(c->parents[i], parent)) {
                return true;
            }
            const struct cedar_sentity *p =
                cedar_schema_entity(v->s, c->parents[i].ptr, c->parents[i].len);
            if (p && !seen[p - v->s->entities] && tail < n) {
                seen[p - v->s->entities] = true;
                q[tail++] = p;
            }
        }
    }
    return false;
}

/* True when action a is b or a member (transitively) of group b. */
static bool action_in(struct vc *v, const struct cedar_uid *a, const struct cedar_uid *b,
                      unsigned depth)
{
    if (cedar_uid_eq(a, b)) {
        return true;
    }
    if (depth > LIMIT_CEDAR_SCHEMA_ACTION_DEPTH) {
        return false;
    }
    const struct cedar_saction *sa = cedar_schema_action(v->s, a);
    if (sa == NULL) {
        return false;
    }
    for (size_t i = 0; i < sa->nparents; i++) {
        if (action_in(v, &sa->parents[i], b, depth + 1)) {
            return true;
        }
    }
    return false;
}

/* ---- names the policy uses ------------------------------------------------- */

static int check_uid(struct vc *v, const struct cedar_expr *x, const struct cedar_uid *u)
{
    if (is_action_type(v, u->type)) {
        if (cedar_schema_action(v->s, u) == NULL) {
            return diag(v, x, "unrecognized action `%.*s::\"%.*s\"`", (int)u->type.len, u->type.ptr,
                        (int)(u->id.len > 80 ? 80 : u->id.len), u->id.ptr);
        }
        return 0;
    }
    const struct cedar_sentity *se = cedar_schema_entity(v->s, u->type.ptr, u->type.len);
    if (se == NULL) {
        return diag(v, x, "unrecognized entity type `%.*s`", (int)u->type.len, u->type.ptr);
    }
    if (se->is_enum) {
        for (size_t i = 0; i < se->nenum; i++) {
            if (cedar_str_eq(se->enum_ids[i], u->id)) {
                return 0;
            }
        }
        return diag(v, x, "`%.*s::\"%.*s\"` is not one of the declared ids of enum entity type",
                    (int)u->type.len, u->type.ptr, (int)(u->id.len > 80 ? 80 : u->id.len),
                    u->id.ptr);
    }
    return 0;
}

static int check_names(struct vc *v, const struct cedar_expr *x, unsigned depth)
{
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return err_set(v->e, ERR_LIMIT, "validator: expression too deep");
    }
    int bad = 0, r;
    if (x->op == OP_LIT && x->lit.kind == CEDAR_ENTITY) {
        if ((r = check_uid(v, x, x->lit.u.uid)) != 0) {
            if (r != ERR_INVALID) {
                return r;
            }
            bad = r;
        }
    }
    if (x->op == OP_IS && !entity_type_known(v, x->name)) {
        bad = diag(v, x, "unrecognized entity type `%.*s`", (int)x->name.len, x->name.ptr);
    }
    for (size_t i = 0; i < x->n; i++) {
        if ((r = check_names(v, x->a[i], depth + 1)) != 0) {
            if (r != ERR_INVALID) {
                return r;
            }
            bad = r;
        }
    }
    return bad;
}

static int check_scope_names(struct vc *v, const struct cedar_scope *sc, bool action)
{
    int bad = 0, r;
    if ((sc->op == SCOPE_IS || sc->op == SCOPE_IS_IN) && !entity_type_known(v, sc->type)) {
        bad = diag(v, NULL, "unrecognized entity type `%.*s` in the scope", (int)sc->type.len,
                   sc->type.ptr);
    }
    if (sc->uid && (r = check_uid(v, NULL, sc->uid)) != 0) {
        bad = r;
    }
    for (size_t i = 0; i < sc->nuids; i++) {
        if ((r = check_uid(v, NULL, &sc->uids[i])) != 0) {
            bad = r;
        }
    }
    if (action && bad == 0) {
        const struct cedar_uid *us = sc->uid ? sc->uid : sc->uids;
        size_t n = sc->uid ? 1 : sc->nuids;
        for (size_t i = 0; i < n; i++) {
            if (!is_action_type(v, us[i].type)) {
                bad = diag(v, NULL, "the action scope names `%.*s`, which is not an action",
                           (int)us[i].type.len, us[i].type.ptr);
            }
        }
    }
    return bad;
}

/* ---- expression equality (for capabilities) --------------------------------- */

static bool expr_eq(const struct cedar_expr *a, const struct cedar_expr *b, unsigned depth)
{
    if (a == b) {
        return true;
    }
    if (depth > LIMIT_CEDAR_EVAL_DEPTH || a->op != b->op || a->n != b->n || a->var != b->var) {
        return false;
    }
    switch (a->op) {
    case OP_LIT:
        if (a->lit.kind != b->lit.kind || cedar_value_cmp(&a->lit, &b->lit) != 0) {
            return false;
        }
        break;
    case OP_HAS:
    case OP_GETATTR:
    case OP_IS:
        if (!cedar_str_eq(a->name, b->name)) {
            return false;
        }
        break;
    case OP_RECORD:
        for (size_t i = 0; i < a->n; i++) {
            if (!cedar_str_eq(a->names[i], b->names[i])) {
                return false;
            }
        }
        break;
    case OP_LIKE:
        if (a->pat->n != b->pat->n ||
            memcmp(a->pat->elems, b->pat->elems, a->pat->n * sizeof(a->pat->elems[0])) != 0) {
            return false;
        }
        break;
    case OP_ADD:
    case OP_SUB:
        if (a->ops && b->ops && a->n > 0 && memcmp(a->ops, b->ops, a->n) != 0) {
            return false;
        }
        break;
    default:
        break;
    }
    for (size_t i = 0; i < a->n; i++) {
        if (!expr_eq(a->a[i], b->a[i], depth + 1)) {
            return false;
        }
    }
    return true;
}

static bool cap_has(const struct cap *c, const struct cedar_expr *on, struct cedar_str attr,
                    const struct cedar_expr *tagkey)
{
    for (; c; c = c->next) {
        if ((c->tagkey == NULL) != (tagkey == NULL)) {
            continue;
        }
        if (tagkey == NULL && !cedar_str_eq(c->attr, attr)) {
            continue;
        }
        if (tagkey && !expr_eq(c->tagkey, tagkey, 0)) {
            continue;
        }
        if (expr_eq(c->on, on, 0)) {
            return true;
        }
    }
    return false;
}

static const struct cap *cap_add(struct vc *v, const struct cap *list, const struct cedar_expr *on,
                                 struct cedar_str attr, const struct cedar_expr *tagkey)
{
    struct cap *c = arena_alloc(&v->a, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->on = on;
    c->attr = attr;
    c->tagkey = tagkey;
    c->next = list;
    return c;
}

/* a ∪ b (a's entries prepended to b). */
static const struct cap *cap_union(struct vc *v, const struct cap *a, const struct cap *b,
                                   bool *oom)
{
    const struct cap *out = b;
    for (; a; a = a->next) {
        if ((out = cap_add(v, out, a->on, a->attr, a->tagkey)) == NULL) {
            *oom = true;
            return NULL;
        }
    }
    return out;
}

/* a ∩ b. */
static const struct cap *cap_inter(struct vc *v, const struct cap *a, const struct cap *b,
                                   bool *oom)
{
    const struct cap *out = NULL;
    for (; a; a = a->next) {
        if (cap_has(b, a->on, a->attr, a->tagkey)) {
            if ((out = cap_add(v, out, a->on, a->attr, a->tagkey)) == NULL) {
                *oom = true;
                return NULL;
            }
        }
    }
    return out;
}

/* ---- type checking ------------------------------------------------------------ */

static int tc(struct vc *v, const struct cedar_expr *x, const struct cap *caps, struct tres *out,
              unsigned depth);

static int expect_kind(struct vc *v, const struct cedar_expr *x, const struct vtype *t, enum vk k,
                       const char *what)
{
    if (t->k == k) {
        return 0;
    }
    char got[200];
    type_name(t, got, sizeof(got));
    return diag(v, x, "%s: expected %s, got %s", what,
                k == VK_BOOL       ? "Bool"
                : k == VK_LONG     ? "Long"
                : k == VK_STRING   ? "String"
                : k == VK_ENTITY   ? "an entity"
                : k == VK_SET      ? "a set"
                : k == VK_RECORD   ? "a record"
                : k == VK_IP       ? "ipaddr"
                : k == VK_DECIMAL  ? "decimal"
                : k == VK_DATETIME ? "datetime"
                                   : "duration",
                got);
}

static int tc_kind(struct vc *v, const struct cedar_expr *x, const struct cap *caps, enum vk k,
                   const char *what, struct tres *out, unsigned depth)
{
    int r = tc(v, x, caps, out, depth);
    if (r == 0) {
        r = expect_kind(v, x, out->t, k, what);
    }
    return r;
}

static int incompatible(struct vc *v, const struct cedar_expr *x, const char *what,
                        const struct vtype *a, const struct vtype *b)
{
    char an[200], bn[200];
    type_name(a, an, sizeof(an));
    type_name(b, bn, sizeof(bn));
    return diag(v, x, "%s: incompatible types %s and %s (strict mode needs one type)", what, an,
                bn);
}

static const struct vtype *neg_bool(const struct vtype *t)
{
    return t->b == VB_TRUE ? &T_FALSE : t->b == VB_FALSE ? &T_TRUE : &T_BOOL;
}

/* Collects the entity UIDs of a literal or a set of literals; false otherwise. */
static bool literal_uids(const struct cedar_expr *x, const struct cedar_uid **one,
                         const struct cedar_expr *const **many, size_t *n)
{
    if (x->op == OP_LIT && x->lit.kind == CEDAR_ENTITY) {
        *one = x->lit.u.uid;
        *n = 1;
        return true;
    }
    if (x->op == OP_SET) {
        for (size_t i = 0; i < x->n; i++) {
            if (x->a[i]->op != OP_LIT || x->a[i]->lit.kind != CEDAR_ENTITY) {
                return false;
            }
        }
        *one = NULL;
        *many = (const struct cedar_expr *const *)x->a;
        *n = x->n;
        return true;
    }
    return false;
}

static int tc_in(struct vc *v, const struct cedar_expr *x, const struct cedar_expr *lx,
                 const struct cedar_expr *rx, const struct cap *caps, struct tres *out,
                 unsigned depth)
{
    struct tres l, rr;
    int r;
    if ((r = tc_kind(v, lx, caps, VK_ENTITY, "left of `in`", &l, depth)) != 0 ||
        (r = tc(v, rx, caps, &rr, depth)) != 0) {
        return r;
    }
    const struct vtype *rt = rr.t;
    if (rt->k == VK_SET) {
        rt = rt->elem;
        if (rt->k == VK_NEVER) {
            out->t = &T_FALSE;
            out->caps = NULL;
            return 0;
        }
    }
    if (rt->k != VK_ENTITY) {
        char got[200];
        type_name(rr.t, got, sizeof(got));
        return diag(v, x, "right of `in`: expected an entity or a set of entities, got %s", got);
    }
    out->caps = NULL;
    /* an action known exactly against action literals: decide */
    const struct cedar_uid *one = NULL;
    const struct cedar_expr *const *many = NULL;
    size_t n = 0;
    if (l.t->uid && is_action_type(v, l.t->ent) && rr.t->k == VK_ENTITY && rr.t->uid) {
        out->t = action_in(v, l.t->uid, rr.t->uid, 0) ? &T_TRUE : &T_FALSE;
        return 0;
    }
    if (l.t->uid && is_action_type(v, l.t->ent) && literal_uids(rx, &one, &many, &n)) {
        bool any = false;
        for (size_t i = 0; i < n && !any; i++) {
            const struct cedar_uid *u = one ? one : many[i]->lit.u.uid;
            any = action_in(v, l.t->uid, u, 0);
        }
        out->t = any ? &T_TRUE : &T_FALSE;
        return 0;
    }
    out->t = type_can_be_in(v, l.t->ent, rt->ent) ? &T_BOOL : &T_FALSE;
    return 0;
}

static int tc_attr_base(struct vc *v, const struct cedar_expr *x, const struct vtype *t,
                        const struct vtype **rec, bool *is_entity)
{
    *rec = NULL;
    *is_entity = false;
    if (t->k == VK_RECORD) {
        *rec = t;
        return 0;
    }
    if (t->k == VK_ENTITY) {
        *is_entity = true;
        const struct cedar_sentity *se = cedar_schema_entity(v->s, t->ent.ptr, t->ent.len);
        if (se == NULL) {
            return 0; /* actions have no attributes */
        }
        if ((*rec = from_stype(v, se->attrs, 0)) == NULL) {
            return nomem(v);
        }
        return 0;
    }
    char got[200];
    type_name(t, got, sizeof(got));
    return diag(v, x, "attribute access: expected an entity or a record, got %s", got);
}

static const struct cedar_sentity *tag_entity(struct vc *v, const struct vtype *t)
{
    const struct cedar_sentity *se = cedar_schema_entity(v->s, t->ent.ptr, t->ent.len);
    return se && se->tags ? se : NULL;
}

/* Checks an extension constructor's literal argument. */
static int check_ext_literal(struct vc *v, const struct cedar_expr *x, enum cedar_fn fn,
                             const struct cedar_expr *arg)
{
    if (arg->op != OP_LIT || arg->lit.kind != CEDAR_STRING) {
        return diag(v, x, "extension constructor: strict mode needs a string literal argument");
    }
    struct err e2;
    err_clear(&e2);
    struct cedar_value ignored;
    if (cedar_ext_construct(fn, arg->lit.u.s.ptr, arg->lit.u.s.len, &ignored, &e2) != 0) {
        return diag(v, x, "invalid extension literal: %s", e2.msg);
    }
    return 0;
}

struct fnsig {
    enum vk recv; /* VK_NEVER: a function, not a method */
    enum vk arg;  /* VK_NEVER: no argument */
    const struct vtype *ret;
    const char *name;
};

static const struct fnsig ext_sigs[] = {
    [FN_IP] = {VK_NEVER, VK_STRING, &T_IP, "ip"},
    [FN_DECIMAL] = {VK_NEVER, VK_STRING, &T_DECIMAL, "decimal"},
    [FN_DATETIME] = {VK_NEVER, VK_STRING, &T_DATETIME, "datetime"},
    [FN_DURATION] = {VK_NEVER, VK_STRING, &T_DURATION, "duration"},
    [FN_IS_IPV4] = {VK_IP, VK_NEVER, &T_BOOL, "isIpv4"},
    [FN_IS_IPV6] = {VK_IP, VK_NEVER, &T_BOOL, "isIpv6"},
    [FN_IS_LOOPBACK] = {VK_IP, VK_NEVER, &T_BOOL, "isLoopback"},
    [FN_IS_MULTICAST] = {VK_IP, VK_NEVER, &T_BOOL, "isMulticast"},
    [FN_IS_IN_RANGE] = {VK_IP, VK_IP, &T_BOOL, "isInRange"},
    [FN_LESS_THAN] = {VK_DECIMAL, VK_DECIMAL, &T_BOOL, "lessThan"},
    [FN_LESS_THAN_OR_EQUAL] = {VK_DECIMAL, VK_DECIMAL, &T_BOOL, "lessThanOrEqual"},
    [FN_GREATER_THAN] = {VK_DECIMAL, VK_DECIMAL, &T_BOOL, "greaterThan"},
    [FN_GREATER_THAN_OR_EQUAL] = {VK_DECIMAL, VK_DECIMAL, &T_BOOL, "greaterThanOrEqual"},
    [FN_OFFSET] = {VK_DATETIME, VK_DURATION, &T_DATETIME, "offset"},
    [FN_DURATION_SINCE] = {VK_DATETIME, VK_DATETIME, &T_DURATION, "durationSince"},
    [FN_TO_DATE] = {VK_DATETIME, VK_NEVER, &T_DATETIME, "toDate"},
    [FN_TO_TIME] = {VK_DATETIME, VK_NEVER, &T_DURATION, "toTime"},
    [FN_TO_DAYS] = {VK_DURATION, VK_NEVER, &T_LONG, "toDays"},
    [FN_TO_HOURS] = {VK_DURATION, VK_NEVER, &T_LONG, "toHours"},
    [FN_TO_MINUTES] = {VK_DURATION, VK_NEVER, &T_LONG, "toMinutes"},
    [FN_TO_SECONDS] = {VK_DURATION, VK_NEVER, &T_LONG, "toSeconds"},
    [FN_TO_MILLISECONDS] = {VK_DURATION, VK_NEVER, &T_LONG, "toMilliseconds"},
};

static int tc_call(struct vc *v, const struct cedar_expr *x, const struct cap *caps,
                   struct tres *out, unsigned depth)
{
    enum cedar_fn fn = (enum cedar_fn)x->var;
    struct tres a0, a1;
    int r;
    bool oom = false;
    out->caps = NULL;
    switch (fn) {
    case FN_CONTAINS:
    case FN_CONTAINS_ALL:
    case FN_CONTAINS_ANY: {
        if ((r = tc_kind(v, x->a[0], caps, VK_SET, "receiver of a set method", &a0, depth)) != 0) {
            return r;
        }
        if (fn == FN_CONTAINS) {
            if ((r = tc(v, x->a[1], caps, &a1, depth)) != 0) {
                return r;
            }
            if (lub(v, a0.t->elem, a1.t, &oom, 0) == NULL) {
                return oom ? nomem(v) : incompatible(v, x, "contains", a0.t->elem, a1.t);
            }
        } else {
            if ((r = tc_kind(v, x->a[1], caps, VK_SET, "argument of containsAll/containsAny", &a1,
                             depth)) != 0) {
                return r;
            }
            if (lub(v, a0.t->elem, a1.t->elem, &oom, 0) == NULL) {
                return oom ? nomem(v)
                           : incompatible(v, x,
                                          fn == FN_CONTAINS_ALL ? "containsAll" : "containsAny",
                                          a0.t, a1.t);
            }
        }
        out->t = &T_BOOL;
        return 0;
    }
    case FN_IS_EMPTY:
        if ((r = tc_kind(v, x->a[0], caps, VK_SET, "receiver of isEmpty", &a0, depth)) != 0) {
            return r;
        }
        out->t = &T_BOOL;
        return 0;
    case FN_GET_TAG:
    case FN_HAS_TAG: {
        const char *nm = fn == FN_GET_TAG ? "getTag" : "hasTag";
        if ((r = tc_kind(v, x->a[0], caps, VK_ENTITY, nm, &a0, depth)) != 0 ||
            (r = tc_kind(v, x->a[1], caps, VK_STRING, nm, &a1, depth)) != 0) {
            return r;
        }
        const struct cedar_sentity *se = tag_entity(v, a0.t);
        bool known = cap_has(caps, x->a[0], (struct cedar_str){0}, x->a[1]);
        if (fn == FN_HAS_TAG) {
            if (se == NULL) {
                out->t = &T_FALSE;
            } else if (known) {
                out->t = &T_TRUE;
            } else {
                out->t = &T_BOOL;
                if ((out->caps = cap_add(v, NULL, x->a[0], (struct cedar_str){0}, x->a[1])) ==
                    NULL) {
                    return nomem(v);
                }
            }
            return 0;
        }
        if (se == NULL) {
            return diag(v, x, "getTag: entity type `%.*s` has no tags", (int)a0.t->ent.len,
                        a0.t->ent.ptr);
        }
        if (!known) {
            return diag(v, x, "getTag: the tag may be absent; guard it with hasTag first");
        }
        if ((out->t = from_stype(v, se->tags, 0)) == NULL) {
            return nomem(v);
        }
        return 0;
    }
    default:
        break;
    }
    if ((size_t)fn >= sizeof(ext_sigs) / sizeof(ext_sigs[0]) || ext_sigs[fn].name == NULL) {
        return diag(v, x, "unknown function");
    }
    const struct fnsig *sg = &ext_sigs[fn];
    size_t want = (sg->recv != VK_NEVER) + (sg->arg != VK_NEVER);
    if (x->bad_arity || x->n != want) {
        return diag(v, x, "`%s` called with the wrong number of arguments", sg->name);
    }
    size_t k = 0;
    if (sg->recv != VK_NEVER &&
        (r = tc_kind(v, x->a[k++], caps, sg->recv, sg->name, &a0, depth)) != 0) {
        return r;
    }
    if (sg->arg != VK_NEVER &&
        (r = tc_kind(v, x->a[k], caps, sg->arg, sg->name, &a1, depth)) != 0) {
        return r;
    }
    if (sg->recv == VK_NEVER && (r = check_ext_literal(v, x, fn, x->a[0])) != 0) {
        return r;
    }
    out->t = sg->ret;
    return 0;
}

static int tc_and(struct vc *v, const struct cedar_expr *const *xs, size_t n,
                  const struct cap *caps, struct tres *out, unsigned depth)
{
    /* ((xs[0] && xs[1]) && xs[2]) ...: a false operand ends the chain (what
     * follows is not checked); the facts of a `true` left side are dropped
     * when the right one is not a constant, as the reference does */
    const struct vtype *acc = &T_TRUE;
    const struct cap *got = NULL;
    bool oom = false;
    for (size_t i = 0; i < n; i++) {
        struct tres t;
        const struct cap *in = cap_union(v, got, caps, &oom);
        if (oom) {
            return nomem(v);
        }
        int r = tc_kind(v, xs[i], in, VK_BOOL, "operand of `&&`", &t, depth);
        if (r != 0) {
            return r;
        }
        if (t.t->b == VB_FALSE) {
            out->t = &T_FALSE;
            out->caps = NULL;
            return 0;
        }
        if (i == 0) {
            acc = t.t;
            got = t.caps;
        } else if (t.t->b == VB_TRUE) {
            if ((got = cap_union(v, t.caps, got, &oom)) == NULL && oom) {
                return nomem(v);
            }
        } else if (acc->b == VB_TRUE) {
            acc = t.t;
            got = t.caps;
        } else {
            acc = &T_BOOL;
            if ((got = cap_union(v, t.caps, got, &oom)) == NULL && oom) {
                return nomem(v);
            }
        }
    }
    out->t = acc;
    out->caps = got;
    return 0;
}

static int tc_or(struct vc *v, const struct cedar_expr *x, const struct cap *caps, struct tres *out,
                 unsigned depth)
{
    bool oom = false;
    bool have = false;
    struct tres acc = {&T_FALSE, NULL};
    for (size_t i = 0; i < x->n; i++) {
        struct tres t;
        int r = tc_kind(v, x->a[i], caps, VK_BOOL, "operand of `||`", &t, depth);
        if (r != 0) {
            return r;
        }
        if (t.t->b == VB_TRUE) {
            out->t = &T_TRUE;
            out->caps = have ? NULL : t.caps;
            if (have) {
                /* previous operands may be true: only common facts */
                out->caps = cap_inter(v, acc.caps, t.caps, &oom);
                if (oom) {
                    return nomem(v);
                }
            }
            return 0;
        }
        if (t.t->b == VB_FALSE) {
            continue;
        }
        if (!have) {
            acc = t;
            have = true;
        } else {
            acc.t = &T_BOOL;
            acc.caps = cap_inter(v, acc.caps, t.caps, &oom);
            if (oom) {
                return nomem(v);
            }
        }
    }
    *out = acc;
    return 0;
}

static int tc(struct vc *v, const struct cedar_expr *x, const struct cap *caps, struct tres *out,
              unsigned depth)
{
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return err_set(v->e, ERR_LIMIT, "validator: expression too deep");
    }
    depth++;
    struct tres a, b;
    int r;
    bool oom = false;
    out->caps = NULL;
    switch (x->op) {
    case OP_LIT:
        switch (x->lit.kind) {
        case CEDAR_BOOL:
            out->t = x->lit.u.b ? &T_TRUE : &T_FALSE;
            return 0;
        case CEDAR_LONG:
            out->t = &T_LONG;
            return 0;
        case CEDAR_STRING:
            out->t = &T_STRING;
            return 0;
        case CEDAR_ENTITY:
            out->t = entity_type(v, x->lit.u.uid->type, x->lit.u.uid);
            return out->t ? 0 : nomem(v);
        default:
            return diag(v, x, "unexpected literal");
        }
    case OP_VAR:
        switch (x->var) {
        case 0:
            out->t = entity_type(v, v->env->ptype, NULL);
            break;
        case 1:
            out->t = entity_type(v, v->env->act->uid.type, &v->env->act->uid);
            break;
        case 2:
            out->t = entity_type(v, v->env->rtype, NULL);
            break;
        default:
            out->t = from_stype(v, v->env->act->context, 0);
            break;
        }
        return out->t ? 0 : nomem(v);
    case OP_SLOT:
        out->t = entity_type(v, x->var == 0 ? v->env->ptype : v->env->rtype, NULL);
        return out->t ? 0 : nomem(v);
    case OP_NOT:
        if ((r = tc_kind(v, x->a[0], caps, VK_BOOL, "operand of `!`", &a, depth)) != 0) {
            return r;
        }
        out->t = neg_bool(a.t);
        return 0;
    case OP_NEG:
        if ((r = tc_kind(v, x->a[0], caps, VK_LONG, "operand of unary `-`", &a, depth)) != 0) {
            return r;
        }
        out->t = &T_LONG;
        return 0;
    case OP_AND:
        return tc_and(v, (const struct cedar_expr *const *)x->a, x->n, caps, out, depth);
    case OP_OR:
        return tc_or(v, x, caps, out, depth);
    case OP_IF: {
        struct tres g;
        if ((r = tc_kind(v, x->a[0], caps, VK_BOOL, "condition of `if`", &g, depth)) != 0) {
            return r;
        }
        const struct cap *tcaps = cap_union(v, g.caps, caps, &oom);
        if (oom) {
            return nomem(v);
        }
        if (g.t->b == VB_TRUE) {
            if ((r = tc(v, x->a[1], tcaps, &a, depth)) != 0) {
                return r;
            }
            out->t = a.t;
            out->caps = cap_union(v, g.caps, a.caps, &oom);
            return oom ? nomem(v) : 0;
        }
        if (g.t->b == VB_FALSE) {
            return tc(v, x->a[2], caps, out, depth);
        }
        if ((r = tc(v, x->a[1], tcaps, &a, depth)) != 0 ||
            (r = tc(v, x->a[2], caps, &b, depth)) != 0) {
            return r;
        }
        if ((out->t = lub(v, a.t, b.t, &oom, 0)) == NULL) {
            return oom ? nomem(v) : incompatible(v, x, "branches of `if`", a.t, b.t);
        }
        const struct cap *thenc = cap_union(v, g.caps, a.caps, &oom);
        if (!oom) {
            out->caps = cap_inter(v, thenc, b.caps, &oom);
        }
        return oom ? nomem(v) : 0;
    }
    case OP_EQ:
    case OP_NE: {
        if ((r = tc(v, x->a[0], caps, &a, depth)) != 0 ||
            (r = tc(v, x->a[1], caps, &b, depth)) != 0) {
            return r;
        }
        const struct vtype *t = &T_BOOL;
        if (x->a[0]->op == OP_LIT && x->a[1]->op == OP_LIT) {
            /* two literals: decided here, whatever their types */
            t = x->a[0]->lit.kind == x->a[1]->lit.kind &&
                        cedar_value_cmp(&x->a[0]->lit, &x->a[1]->lit) == 0
                    ? &T_TRUE
                    : &T_FALSE;
        } else if (a.t->k == VK_ENTITY && b.t->k == VK_ENTITY &&
                   !cedar_str_eq(a.t->ent, b.t->ent)) {
            /* entities of different types are never equal (not an error) */
            t = &T_FALSE;
        } else if (lub(v, a.t, b.t, &oom, 0) == NULL) {
            return oom ? nomem(v) : incompatible(v, x, "operands of `==`", a.t, b.t);
        }

        out->t = x->op == OP_EQ ? t : neg_bool(t);
        return 0;
    }
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE: {
        if ((r = tc(v, x->a[0], caps, &a, depth)) != 0 ||
            (r = tc(v, x->a[1], caps, &b, depth)) != 0) {
            return r;
        }
        bool ok = (a.t->k == VK_LONG || a.t->k == VK_DATETIME || a.t->k == VK_DURATION) &&
                  a.t->k == b.t->k;
        if (!ok) {
            char an[200], bn[200];
            type_name(a.t, an, sizeof(an));
            type_name(b.t, bn, sizeof(bn));
            return diag(v, x,
                        "comparison: expected two Longs, datetimes or durations, got %s and %s", an,
                        bn);
        }
        out->t = &T_BOOL;
        return 0;
    }
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
        for (size_t i = 0; i < x->n; i++) {
            if ((r = tc_kind(v, x->a[i], caps, VK_LONG, "arithmetic operand", &a, depth)) != 0) {
                return r;
            }
        }
        out->t = &T_LONG;
        return 0;
    case OP_IN:
        return tc_in(v, x, x->a[0], x->a[1], caps, out, depth);
    case OP_HAS:
    case OP_GETATTR: {
        const struct vtype *rec;
        bool is_ent;
        if ((r = tc(v, x->a[0], caps, &a, depth)) != 0 ||
            (r = tc_attr_base(v, x, a.t, &rec, &is_ent)) != 0) {
            return r;
        }
        const struct vattr *at = rec ? rec_find(rec, x->name) : NULL;
        bool capped = at && cap_has(caps, x->a[0], x->name, NULL);
        bool known = at && (at->required || capped);
        if (x->op == OP_HAS && is_ent && !capped) {
            /* an entity may be missing from the data: `has` of a required
             * attribute is not known true, as in the reference */
            known = false;
        }
        if (x->op == OP_HAS) {
            if (at == NULL) {
                out->t = &T_FALSE;
            } else if (known) {
                out->t = &T_TRUE;
            } else {
                out->t = &T_BOOL;
                if ((out->caps = cap_add(v, NULL, x->a[0], x->name, NULL)) == NULL) {
                    return nomem(v);
                }
            }
            return 0;
        }
        if (at == NULL) {
            char got[200];
            type_name(a.t, got, sizeof(got));
            return diag(v, x, "attribute `%.*s` not found on %s", (int)x->name.len, x->name.ptr,
                        got);
        }
        if (!known) {
            return diag(v, x, "attribute `%.*s` is optional; guard the access with `has` first",
                        (int)x->name.len, x->name.ptr);
        }
        out->t = at->t;
        return 0;
    }
    case OP_LIKE:
        if ((r = tc_kind(v, x->a[0], caps, VK_STRING, "left of `like`", &a, depth)) != 0) {
            return r;
        }
        out->t = &T_BOOL;
        return 0;
    case OP_IS: {
        if ((r = tc_kind(v, x->a[0], caps, VK_ENTITY, "left of `is`", &a, depth)) != 0) {
            return r;
        }
        if (!cedar_str_eq(a.t->ent, x->name)) {
            out->t = &T_FALSE;
            return 0;
        }
        if (x->n < 2) {
            out->t = &T_TRUE;
            return 0;
        }
        return tc_in(v, x, x->a[0], x->a[1], caps, out, depth);
    }
    case OP_SET: {
        if (x->n == 0) {
            return diag(v, x, "empty set literal: its element type cannot be known (strict mode)");
        }
        const struct vtype *el = &T_NEVER;
        for (size_t i = 0; i < x->n; i++) {
            if ((r = tc(v, x->a[i], caps, &a, depth)) != 0) {
                return r;
            }
            const struct vtype *nl = lub(v, el, a.t, &oom, 0);
            if (nl == NULL) {
                return oom ? nomem(v) : incompatible(v, x->a[i], "set elements", el, a.t);
            }
            el = nl;
        }
        struct vtype *t = new_type(v, VK_SET);
        if (t == NULL) {
            return nomem(v);
        }
        t->elem = el;
        out->t = t;
        return 0;
    }
    case OP_RECORD: {
        struct vtype *t = new_type(v, VK_RECORD);
        struct vattr *at = t ? arena_calloc(&v->a, x->n + 1, sizeof(*at)) : NULL;
        if (at == NULL) {
            return nomem(v);
        }
        for (size_t i = 0; i < x->n; i++) {
            if ((r = tc(v, x->a[i], caps, &a, depth)) != 0) {
                return r;
            }
            /* insertion sort by name (records are small) */
            size_t j = i;
            while (j > 0 && cedar_str_cmp(at[j - 1].name, x->names[i]) > 0) {
                at[j] = at[j - 1];
                j--;
            }
            at[j].name = x->names[i];
            at[j].t = a.t;
            at[j].required = true;
        }
        t->attrs = at;
        t->n = x->n;
        out->t = t;
        return 0;
    }
    case OP_CALL:
        return tc_call(v, x, caps, out, depth);
    }
    return diag(v, x, "unexpected expression");
}

/* ---- environments ------------------------------------------------------------------ */

static bool scope_admits(struct vc *v, const struct cedar_scope *sc, struct cedar_str type)
{
    switch (sc->op) {
    case SCOPE_ANY:
        return true;
    case SCOPE_EQ:
        return sc->uid == NULL || cedar_str_eq(sc->uid->type, type);
    case SCOPE_IN:
        return sc->uid == NULL || type_can_be_in(v, type, sc->uid->type);
    case SCOPE_IS:
        return cedar_str_eq(sc->type, type);
    case SCOPE_IS_IN:
        return cedar_str_eq(sc->type, type) &&
               (sc->uid == NULL || type_can_be_in(v, type, sc->uid->type));
    case SCOPE_IN_SET:
        for (size_t i = 0; i < sc->nuids; i++) {
            if (type_can_be_in(v, type, sc->uids[i].type)) {
                return true;
            }
        }
        return false;
    }
    return false;
}

static bool action_admits(struct vc *v, const struct cedar_scope *sc,
                          const struct cedar_saction *sa)
{
    switch (sc->op) {
    case SCOPE_ANY:
        return true;
    case SCOPE_EQ:
        return cedar_uid_eq(&sa->uid, sc->uid);
    case SCOPE_IN:
        return action_in(v, &sa->uid, sc->uid, 0);
    case SCOPE_IN_SET:
        for (size_t i = 0; i < sc->nuids; i++) {
            if (action_in(v, &sa->uid, &sc->uids[i], 0)) {
                return true;
            }
        }
        return false;
    default:
        return false;
    }
}

static int validate_policy(struct vc *v, const struct cedar_policy *p)
{
    v->pol = p;
    v->env = NULL;
    v->seen = NULL;
    int bad = 0, r;
    if ((r = check_scope_names(v, &p->principal, false)) != 0 ||
        (r = check_scope_names(v, &p->action, true)) != 0 ||
        (r = check_scope_names(v, &p->resource, false)) != 0) {
        if (r != ERR_INVALID) {
            return r;
        }
        bad = r;
    }
    for (size_t i = 0; i < p->nconds; i++) {
        if ((r = check_names(v, p->conds[i], 0)) != 0) {
            if (r != ERR_INVALID) {
                return r;
            }
            bad = r;
        }
    }
    if (bad) {
        return bad;
    }
    size_t nenv = 0;
    for (size_t ai = 0; ai < v->s->nactions; ai++) {
        const struct cedar_saction *sa = &v->s->actions[ai];
        if (!action_admits(v, &p->action, sa)) {
            continue;
        }
        for (size_t pi = 0; pi < sa->nprincipals; pi++) {
            if (!scope_admits(v, &p->principal, sa->principals[pi])) {
                continue;
            }
            for (size_t ri = 0; ri < sa->nresources; ri++) {
                if (!scope_admits(v, &p->resource, sa->resources[ri])) {
                    continue;
                }
                struct venv env = {sa->principals[pi], sa->resources[ri], sa};
                v->env = &env;
                nenv++;
                struct tres t;
                r = tc_and(v, (const struct cedar_expr *const *)p->conds, p->nconds, NULL, &t, 0);
                v->env = NULL;
                if (r != 0) {
                    if (r != ERR_INVALID) {
                        return r;
                    }
                    bad = r;
                }
            }
        }
    }
    if (nenv == 0) {
        bad = diag(v, NULL,
                   "no (principal, action, resource) combination of the schema matches the "
                   "policy's scope: it can never apply");
    }
    return bad;
}

int cedar_validate(const struct cedar_policyset *ps, const struct cedar_schema *s,
                   const char *filename,
                   void (*cb)(void *ud, const char *policy, const char *message), void *ud,
                   size_t *ndiags, struct err *e)
{
    struct vc v = {.s = s, .filename = filename, .e = e, .cb = cb, .ud = ud};
    arena_init(&v.a, 64 * 1024, 0);
    int r = 0;
    for (size_t i = 0; i < ps->n; i++) {
        r = validate_policy(&v, ps->pols[i]);
        if (r != 0 && r != ERR_INVALID) {
            break;
        }
        r = 0;
        arena_free(&v.a);
        memset(v.ckey, 0, sizeof(v.ckey));
    }
    arena_free(&v.a);
    if (ndiags) {
        *ndiags = v.ndiags;
    }
    if (r == 0 && v.ndiags > 0) {
        r = err_set(e, ERR_INVALID, "%zu validation error%s", v.ndiags, v.ndiags == 1 ? "" : "s");
    }
    return r;
}
