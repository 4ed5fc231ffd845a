/*
 * eval.c: the Cedar expression evaluator (Cedar 4.10 semantics).
 *
 * A tree walk over the AST of parser.c.  An evaluation error (type error,
 * overflow, missing attribute or entity, bad extension literal, exhausted
 * budget) returns ERR_INVALID/ERR_LIMIT with a message in ev->e; the
 * authorizer then skips that policy and reports it, as Cedar does.  `&&`,
 * `||` and if-then-else short-circuit.  Temporary values (sets and records
 * built at run time) go to the request arena.  Each node costs one step of
 * LIMIT_CEDAR_EVAL_STEPS and recursion depth is counted.
 */
#include <stdio.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/ext.h"
#include "util/limits.h"

static int type_err(struct cedar_eval *ev, const char *what, enum cedar_kind got)
{
    return err_set(ev->e, ERR_INVALID, "type error: %s, got %s", what, cedar_kind_name(got));
}

static int eval(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out);

static int eval_kind(struct cedar_eval *ev, const struct cedar_expr *x, enum cedar_kind k,
                     const char *what, struct cedar_value *out)
{
    int r = eval(ev, x, out);
    if (r == 0 && out->kind != k) {
        return type_err(ev, what, out->kind);
    }
    return r;
}

static int uid_str(const struct cedar_uid *u, char *buf, size_t cap)
{
    int tl = (int)(u->type.len > 64 ? 64 : u->type.len);
    int il = (int)(u->id.len > 64 ? 64 : u->id.len);
    return snprintf(buf, cap, "%.*s::\"%.*s\"", tl, u->type.ptr, il, u->id.ptr);
}

/* ---- arithmetic and comparison ---------------------------------------- */

/* An n-ary chain: a[0] (+|-|*) a[1] ... left to right, overflow checked. */
static int arith(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a, b;
    int r;
    if ((r = eval_kind(ev, x->a[0], CEDAR_LONG, "arithmetic needs Long", &a)) != 0) {
        return r;
    }
    int64_t acc = a.u.l;
    for (size_t i = 1; i < x->n; i++) {
        if ((r = eval_kind(ev, x->a[i], CEDAR_LONG, "arithmetic needs Long", &b)) != 0) {
            return r;
        }
        bool ovf;
        if (x->op == OP_MUL) {
            ovf = __builtin_mul_overflow(acc, b.u.l, &acc);
        } else if (x->op == OP_SUB || (x->ops != NULL && x->ops[i] == '-')) {
            ovf = __builtin_sub_overflow(acc, b.u.l, &acc);
        } else {
            ovf = __builtin_add_overflow(acc, b.u.l, &acc);
        }
        if (ovf) {
            return err_set(ev->e, ERR_INVALID, "integer overflow");
        }
    }
    *out = cedar_value_long(acc);
    return 0;
}

static int compare(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a, b;
    int r;
    if ((r = eval(ev, x->a[0], &a)) != 0 || (r = eval(ev, x->a[1], &b)) != 0) {
        return r;
    }
    bool ok = a.kind == b.kind &&
              (a.kind == CEDAR_LONG || a.kind == CEDAR_DATETIME || a.kind == CEDAR_DURATION);
    if (!ok) {
        if (a.kind != CEDAR_LONG && a.kind != CEDAR_DATETIME && a.kind != CEDAR_DURATION) {
            return type_err(ev, "comparison needs Long, datetime or duration", a.kind);
        }
        return type_err(ev, "comparison operands must have the same type", b.kind);
    }
    bool v;
    switch (x->op) {
    case OP_LT:
        v = a.u.l < b.u.l;
        break;
    case OP_LE:
        v = a.u.l <= b.u.l;
        break;
    case OP_GT:
        v = a.u.l > b.u.l;
        break;
    default:
        v = a.u.l >= b.u.l;
        break;
    }
    *out = cedar_value_bool(v);
    return 0;
}

/* ---- hierarchy, attributes -------------------------------------------- */

/* `a in b` once both sides are evaluated (the `in` of `is ... in` too):
 * b an entity, or a set of entities (every element is type-checked, even
 * after a match, as the reference does). */
static int in_value(struct cedar_eval *ev, const struct cedar_uid *a, const struct cedar_value *b,
                    struct cedar_value *out)
{
    if (b->kind == CEDAR_ENTITY) {
        *out = cedar_value_bool(cedar_entities_in(ev->es, a, b->u.uid));
        return 0;
    }
    if (b->kind != CEDAR_SET) {
        return type_err(ev, "'in' needs an entity or a set of entities on the right", b->kind);
    }
    bool found = false;
    for (size_t i = 0; i < b->u.set->n; i++) {
        const struct cedar_value *v = &b->u.set->items[i];
        if (v->kind != CEDAR_ENTITY) {
            return type_err(ev, "'in' needs a set of entities", v->kind);
        }
        if (!found && cedar_entities_in(ev->es, a, v->u.uid)) {
            found = true;
        }
    }
    *out = cedar_value_bool(found);
    return 0;
}

static int eval_in(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a, b;
    int r;
    if ((r = eval_kind(ev, x->a[0], CEDAR_ENTITY, "'in' needs an entity on the left", &a)) != 0 ||
        (r = eval(ev, x->a[1], &b)) != 0) {
        return r;
    }
    return in_value(ev, a.u.uid, &b, out);
}

static int eval_has(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a;
    int r = eval(ev, x->a[0], &a);
    if (r != 0) {
        return r;
    }
    if (a.kind == CEDAR_RECORD) {
        *out = cedar_value_bool(cedar_record_get(a.u.rec, x->name.ptr, x->name.len) != NULL);
        return 0;
    }
    if (a.kind == CEDAR_ENTITY) {
        const struct cedar_entity *ent = cedar_entities_find(ev->es, a.u.uid);
        *out = cedar_value_bool(ent != NULL &&
                                cedar_record_get(ent->attrs, x->name.ptr, x->name.len) != NULL);
        return 0;
    }
    return type_err(ev, "'has' needs an entity or a record", a.kind);
}

static int eval_getattr(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a;
    int r = eval(ev, x->a[0], &a);
    if (r != 0) {
        return r;
    }
    const struct cedar_record *rec;
    char where[160] = "record";
    if (a.kind == CEDAR_RECORD) {
        rec = a.u.rec;
    } else if (a.kind == CEDAR_ENTITY) {
        const struct cedar_entity *ent = cedar_entities_find(ev->es, a.u.uid);
        if (ent == NULL) {
            char b[160];
            uid_str(a.u.uid, b, sizeof(b));
            return err_set(ev->e, ERR_INVALID, "entity %s does not exist", b);
        }
        rec = ent->attrs;
        uid_str(a.u.uid, where, sizeof(where));
    } else {
        return type_err(ev, "attribute access needs an entity or a record", a.kind);
    }
    const struct cedar_value *v = cedar_record_get(rec, x->name.ptr, x->name.len);
    if (v == NULL) {
        int n = (int)(x->name.len > 64 ? 64 : x->name.len);
        return err_set(ev->e, ERR_INVALID, "%s does not have the attribute '%.*s'", where, n,
                       x->name.ptr);
    }
    *out = *v;
    return 0;
}

/* Wildcard matching with one backtrack point (the last star): O(n * m) in the
 * worst case, so every step is charged to the evaluation budget.  Returns 1
 * match, 0 no match, -1 budget exhausted. */
static int like_match(struct cedar_eval *ev, const struct cedar_pattern *p, const char *s, size_t n)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < n) {
        if (ev->steps == 0) {
            return -1;
        }
        ev->steps--;
        if (pi < p->n && p->elems[pi] == -1) {
            star_p = pi++;
            star_s = si;
        } else if (pi < p->n && p->elems[pi] == (unsigned char)s[si]) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < p->n && p->elems[pi] == -1) {
        pi++;
    }
    return pi == p->n;
}

static int eval_is(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a;
    int r = eval_kind(ev, x->a[0], CEDAR_ENTITY, "'is' needs an entity", &a);
    if (r != 0) {
        return r;
    }
    const struct cedar_str *t = &a.u.uid->type;
    bool v = t->len == x->name.len && memcmp(t->ptr, x->name.ptr, t->len) == 0;
    if (!v || x->n == 1) {
        *out = cedar_value_bool(v);
        return 0;
    }
    struct cedar_value b;
    if ((r = eval(ev, x->a[1], &b)) != 0) {
        return r;
    }
    return in_value(ev, a.u.uid, &b, out);
}

/* ---- literals built at run time ---------------------------------------- */

static int eval_set(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value *items = arena_alloc(ev->a, (x->n ? x->n : 1) * sizeof(*items));
    if (items == NULL) {
        return err_set(ev->e, ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < x->n; i++) {
        int r = eval(ev, x->a[i], &items[i]);
        if (r != 0) {
            return r;
        }
    }
    return cedar_value_set(ev->a, items, x->n, out, ev->e);
}

static int eval_record(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_attr *attrs = arena_alloc(ev->a, (x->n ? x->n : 1) * sizeof(*attrs));
    if (attrs == NULL) {
        return err_set(ev->e, ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < x->n; i++) {
        attrs[i].key = x->names[i];
        int r = eval(ev, x->a[i], &attrs[i].val);
        if (r != 0) {
            return r;
        }
    }
    return cedar_value_record(ev->a, attrs, x->n, out, ev->e);
}

/* ---- functions and methods --------------------------------------------- */

static bool set_has(const struct cedar_set *s, const struct cedar_value *v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cedar_value_cmp(&s->items[mid], v);
        if (c == 0) {
            return true;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

int cedar_ext_construct(enum cedar_fn fn, const char *s, size_t n, struct cedar_value *out,
                        struct err *e)
{
    int r;
    switch (fn) {
    case FN_IP: {
        struct cedar_ip ip;
        if ((r = cedar_ip_parse(s, n, &ip, e)) == 0) {
            *out = cedar_value_ip(&ip);
        }
        return r;
    }
    case FN_DECIMAL: {
        struct cedar_decimal d;
        if ((r = cedar_decimal_parse(s, n, &d, e)) == 0) {
            *out = cedar_value_decimal(d.value);
        }
        return r;
    }
    case FN_DATETIME: {
        struct cedar_datetime d;
        if ((r = cedar_datetime_parse(s, n, &d, e)) == 0) {
            *out = cedar_value_datetime(d.ms);
        }
        return r;
    }
    case FN_DURATION: {
        struct cedar_duration d;
        if ((r = cedar_duration_parse(s, n, &d, e)) == 0) {
            *out = cedar_value_duration(d.ms);
        }
        return r;
    }
    default:
        return err_set(e, ERR_INTERNAL, "not an extension constructor");
    }
}

static int ext_ctor(struct cedar_eval *ev, int fn, const struct cedar_value *arg,
                    struct cedar_value *out)
{
    if (arg->kind != CEDAR_STRING) {
        return type_err(ev, "extension constructor needs a string", arg->kind);
    }
    int r = cedar_ext_construct((enum cedar_fn)fn, arg->u.s.ptr, arg->u.s.len, out, ev->e);
    return r == 0 ? 0 : ERR_INVALID;
}

struct sig {
    enum cedar_kind recv;
    int arg; /* -1 any, else a kind */
    const char *what;
};

static const struct sig sigs[] = {
    [FN_CONTAINS] = {CEDAR_SET, -1, "contains"},
    [FN_CONTAINS_ALL] = {CEDAR_SET, CEDAR_SET, "containsAll"},
    [FN_CONTAINS_ANY] = {CEDAR_SET, CEDAR_SET, "containsAny"},
    [FN_IS_EMPTY] = {CEDAR_SET, -1, "isEmpty"},
    [FN_GET_TAG] = {CEDAR_ENTITY, CEDAR_STRING, "getTag"},
    [FN_HAS_TAG] = {CEDAR_ENTITY, CEDAR_STRING, "hasTag"},
    [FN_IP] = {CEDAR_STRING, -1, "ip"},
    [FN_DECIMAL] = {CEDAR_STRING, -1, "decimal"},
    [FN_DATETIME] = {CEDAR_STRING, -1, "datetime"},
    [FN_DURATION] = {CEDAR_STRING, -1, "duration"},
    [FN_IS_IPV4] = {CEDAR_IP, -1, "isIpv4"},
    [FN_IS_IPV6] = {CEDAR_IP, -1, "isIpv6"},
    [FN_IS_LOOPBACK] = {CEDAR_IP, -1, "isLoopback"},
    [FN_IS_MULTICAST] = {CEDAR_IP, -1, "isMulticast"},
    [FN_IS_IN_RANGE] = {CEDAR_IP, CEDAR_IP, "isInRange"},
    [FN_LESS_THAN] = {CEDAR_DECIMAL, CEDAR_DECIMAL, "lessThan"},
    [FN_LESS_THAN_OR_EQUAL] = {CEDAR_DECIMAL, CEDAR_DECIMAL, "lessThanOrEqual"},
    [FN_GREATER_THAN] = {CEDAR_DECIMAL, CEDAR_DECIMAL, "greaterThan"},
    [FN_GREATER_THAN_OR_EQUAL] = {CEDAR_DECIMAL, CEDAR_DECIMAL, "greaterThanOrEqual"},
    [FN_OFFSET] = {CEDAR_DATETIME, CEDAR_DURATION, "offset"},
    [FN_DURATION_SINCE] = {CEDAR_DATETIME, CEDAR_DATETIME, "durationSince"},
    [FN_TO_DATE] = {CEDAR_DATETIME, -1, "toDate"},
    [FN_TO_TIME] = {CEDAR_DATETIME, -1, "toTime"},
    [FN_TO_DAYS] = {CEDAR_DURATION, -1, "toDays"},
    [FN_TO_HOURS] = {CEDAR_DURATION, -1, "toHours"},
    [FN_TO_MINUTES] = {CEDAR_DURATION, -1, "toMinutes"},
    [FN_TO_SECONDS] = {CEDAR_DURATION, -1, "toSeconds"},
    [FN_TO_MILLISECONDS] = {CEDAR_DURATION, -1, "toMilliseconds"},
};

static int tag_op(struct cedar_eval *ev, int fn, const struct cedar_value *a,
                  const struct cedar_value *b, struct cedar_value *out)
{
    const struct cedar_entity *ent = cedar_entities_find(ev->es, a->u.uid);
    const struct cedar_value *v = ent ? cedar_record_get(ent->tags, b->u.s.ptr, b->u.s.len) : NULL;
    if (fn == FN_HAS_TAG) {
        *out = cedar_value_bool(v != NULL);
        return 0;
    }
    if (ent == NULL) {
        char buf[160];
        uid_str(a->u.uid, buf, sizeof(buf));
        return err_set(ev->e, ERR_INVALID, "entity %s does not exist", buf);
    }
    if (v == NULL) {
        int n = (int)(b->u.s.len > 64 ? 64 : b->u.s.len);
        char buf[160];
        uid_str(a->u.uid, buf, sizeof(buf));
        return err_set(ev->e, ERR_INVALID, "%s does not have the tag '%.*s'", buf, n, b->u.s.ptr);
    }
    *out = *v;
    return 0;
}

static int set_op(int fn, const struct cedar_value *a, const struct cedar_value *b,
                  struct cedar_value *out)
{
    const struct cedar_set *s = a->u.set;
    switch (fn) {
    case FN_CONTAINS:
        *out = cedar_value_bool(set_has(s, b));
        return 0;
    case FN_IS_EMPTY:
        *out = cedar_value_bool(s->n == 0);
        return 0;
    case FN_CONTAINS_ALL:
        for (size_t i = 0; i < b->u.set->n; i++) {
            if (!set_has(s, &b->u.set->items[i])) {
                *out = cedar_value_bool(false);
                return 0;
            }
        }
        *out = cedar_value_bool(true);
        return 0;
    default:
        for (size_t i = 0; i < b->u.set->n; i++) {
            if (set_has(s, &b->u.set->items[i])) {
                *out = cedar_value_bool(true);
                return 0;
            }
        }
        *out = cedar_value_bool(false);
        return 0;
    }
}

int cedar_ext_apply(enum cedar_fn fn, const struct cedar_value *a, const struct cedar_value *b,
                    struct cedar_value *out, struct err *e)
{
    struct cedar_datetime dt = {a->u.l};
    struct cedar_duration du = {a->u.l};
    int r = 0;
    switch (fn) {
    case FN_IS_IPV4:
        *out = cedar_value_bool(cedar_ip_is_ipv4(&a->u.ip));
        break;
    case FN_IS_IPV6:
        *out = cedar_value_bool(cedar_ip_is_ipv6(&a->u.ip));
        break;
    case FN_IS_LOOPBACK:
        *out = cedar_value_bool(cedar_ip_is_loopback(&a->u.ip));
        break;
    case FN_IS_MULTICAST:
        *out = cedar_value_bool(cedar_ip_is_multicast(&a->u.ip));
        break;
    case FN_IS_IN_RANGE:
        *out = cedar_value_bool(cedar_ip_is_in_range(&a->u.ip, &b->u.ip));
        break;
    case FN_LESS_THAN:
        *out = cedar_value_bool(a->u.l < b->u.l);
        break;
    case FN_LESS_THAN_OR_EQUAL:
        *out = cedar_value_bool(a->u.l <= b->u.l);
        break;
    case FN_GREATER_THAN:
        *out = cedar_value_bool(a->u.l > b->u.l);
        break;
    case FN_GREATER_THAN_OR_EQUAL:
        *out = cedar_value_bool(a->u.l >= b->u.l);
        break;
    case FN_OFFSET: {
        struct cedar_datetime o;
        struct cedar_duration d = {b->u.l};
        if ((r = cedar_datetime_offset(dt, d, &o, e)) == 0) {
            *out = cedar_value_datetime(o.ms);
        }
        break;
    }
    case FN_DURATION_SINCE: {
        struct cedar_duration o;
        struct cedar_datetime d = {b->u.l};
        if ((r = cedar_datetime_duration_since(dt, d, &o, e)) == 0) {
            *out = cedar_value_duration(o.ms);
        }
        break;
    }
    case FN_TO_DATE: {
        struct cedar_datetime o;
        if ((r = cedar_datetime_to_date(dt, &o, e)) == 0) {
            *out = cedar_value_datetime(o.ms);
        }
        break;
    }
    case FN_TO_TIME:
        *out = cedar_value_duration(cedar_datetime_to_time(dt).ms);
        break;
    case FN_TO_DAYS:
        *out = cedar_value_long(cedar_duration_to_days(du));
        break;
    case FN_TO_HOURS:
        *out = cedar_value_long(cedar_duration_to_hours(du));
        break;
    case FN_TO_MINUTES:
        *out = cedar_value_long(cedar_duration_to_minutes(du));
        break;
    case FN_TO_SECONDS:
        *out = cedar_value_long(cedar_duration_to_seconds(du));
        break;
    case FN_TO_MILLISECONDS:
        *out = cedar_value_long(cedar_duration_to_milliseconds(du));
        break;
    default:
        return err_set(e, ERR_INTERNAL, "not an extension method");
    }
    return r;
}

static int eval_call(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    int fn = x->var;
    const struct sig *sg = &sigs[fn];
    struct cedar_value a, b = {0};
    int r;
    for (size_t i = 0; i < x->n; i++) {
        if ((r = eval(ev, x->a[i], i == 0 ? &a : &b)) != 0) {
            return r;
        }
    }
    if (x->bad_arity || x->n == 0) {
        return err_set(ev->e, ERR_INVALID, "wrong number of arguments to '%s'", sg->what);
    }
    if (fn == FN_IP || fn == FN_DECIMAL || fn == FN_DATETIME || fn == FN_DURATION) {
        return ext_ctor(ev, fn, &a, out);
    }
    if (a.kind != sg->recv) {
        char m[96];
        snprintf(m, sizeof(m), "'%s' needs a %s receiver", sg->what, cedar_kind_name(sg->recv));
        return type_err(ev, m, a.kind);
    }
    if (x->n > 1 && sg->arg >= 0 && (int)b.kind != sg->arg) {
        char m[96];
        snprintf(m, sizeof(m), "'%s' needs a %s argument", sg->what,
                 cedar_kind_name((enum cedar_kind)sg->arg));
        return type_err(ev, m, b.kind);
    }
    switch (fn) {
    case FN_CONTAINS:
    case FN_CONTAINS_ALL:
    case FN_CONTAINS_ANY:
    case FN_IS_EMPTY:
        return set_op(fn, &a, &b, out);
    case FN_GET_TAG:
    case FN_HAS_TAG:
        return tag_op(ev, fn, &a, &b, out);
    default:
        return cedar_ext_apply((enum cedar_fn)fn, &a, &b, out, ev->e) == 0 ? 0 : ERR_INVALID;
    }
}

/* ---- the walk ---------------------------------------------------------- */

/* n-ary && / ||: left to right, stopping at the first false / true. */
static int eval_bool_op(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    const char *what = x->op == OP_AND ? "'&&' needs Bool operands" : "'||' needs Bool operands";
    bool stop = x->op == OP_OR;
    for (size_t i = 0; i < x->n; i++) {
        int r = eval_kind(ev, x->a[i], CEDAR_BOOL, what, out);
        if (r != 0 || out->u.b == stop) {
            return r;
        }
    }
    return 0;
}

static int eval_var(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    const struct cedar_request *q = ev->req;
    out->kind = CEDAR_ENTITY;
    switch (x->var) {
    case 0:
        out->u.uid = &q->principal;
        return 0;
    case 1:
        out->u.uid = &q->action;
        return 0;
    case 2:
        out->u.uid = &q->resource;
        return 0;
    default:
        *out = q->context;
        if (out->kind != CEDAR_RECORD) {
            *out = cedar_value_empty_record();
        }
        return 0;
    }
}

static int eval_node(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    struct cedar_value a, b;
    int r;
    switch (x->op) {
    case OP_LIT:
        *out = x->lit;
        return 0;
    case OP_VAR:
        return eval_var(ev, x, out);
    case OP_SLOT:
        return err_set(ev->e, ERR_INVALID, "unlinked template slot");
    case OP_NOT:
        if ((r = eval_kind(ev, x->a[0], CEDAR_BOOL, "'!' needs Bool", &a)) != 0) {
            return r;
        }
        *out = cedar_value_bool(!a.u.b);
        return 0;
    case OP_NEG:
        if ((r = eval_kind(ev, x->a[0], CEDAR_LONG, "'-' needs Long", &a)) != 0) {
            return r;
        }
        if (a.u.l == INT64_MIN) {
            return err_set(ev->e, ERR_INVALID, "integer overflow");
        }
        *out = cedar_value_long(-a.u.l);
        return 0;
    case OP_AND:
    case OP_OR:
        return eval_bool_op(ev, x, out);
    case OP_IF:
        if ((r = eval_kind(ev, x->a[0], CEDAR_BOOL, "'if' needs a Bool condition", &a)) != 0) {
            return r;
        }
        return eval(ev, x->a[a.u.b ? 1 : 2], out);
    case OP_EQ:
    case OP_NE:
        if ((r = eval(ev, x->a[0], &a)) != 0 || (r = eval(ev, x->a[1], &b)) != 0) {
            return r;
        }
        *out = cedar_value_bool((cedar_value_cmp(&a, &b) == 0) == (x->op == OP_EQ));
        return 0;
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        return compare(ev, x, out);
    case OP_IN:
        return eval_in(ev, x, out);
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
        return arith(ev, x, out);
    case OP_HAS:
        return eval_has(ev, x, out);
    case OP_GETATTR:
        return eval_getattr(ev, x, out);
    case OP_LIKE:
        if ((r = eval_kind(ev, x->a[0], CEDAR_STRING, "'like' needs a string", &a)) != 0) {
            return r;
        }
        r = like_match(ev, x->pat, a.u.s.ptr, a.u.s.len);
        if (r < 0) {
            return err_set(ev->e, ERR_LIMIT, "evaluation step budget exhausted");
        }
        *out = cedar_value_bool(r == 1);
        return 0;
    case OP_IS:
        return eval_is(ev, x, out);
    case OP_SET:
        return eval_set(ev, x, out);
    case OP_RECORD:
        return eval_record(ev, x, out);
    case OP_CALL:
        return eval_call(ev, x, out);
    }
    return err_set(ev->e, ERR_INTERNAL, "unknown expression node");
}

static int eval(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    if (ev->steps == 0) {
        return err_set(ev->e, ERR_LIMIT, "evaluation step budget exhausted");
    }
    ev->steps--;
    if (++ev->depth > LIMIT_CEDAR_EVAL_DEPTH) {
        ev->depth--;
        return err_set(ev->e, ERR_LIMIT, "evaluation nested too deeply");
    }
    int r = eval_node(ev, x, out);
    ev->depth--;
    return r;
}

int cedar_eval_expr(struct cedar_eval *ev, const struct cedar_expr *x, struct cedar_value *out)
{
    return eval(ev, x, out);
}
