/*
 * est.c: the JSON policy format (the reference's "EST"), out and in.
 *
 * Out: each policy becomes the object cedar-wasm's policyToJson/templateToJson
 * prints ({"effect","principal","action","resource","conditions","annotations"}),
 * n-ary chains (&&, ||, + -, *) as left-associative binary nodes, `unless`
 * as its own condition kind, `has a.b` expanded the way the reference does.
 * A set is {"staticPolicies":{id:est}, "templates":{id:est},
 * "templateLinks":[{"templateId","newId","values":{"?principal":uid,..}}]}.
 *
 * In: one EST object, an array of them, or the set form.  Every object is
 * checked for unknown keys (fail closed); expression depth is bounded by
 * LIMIT_CEDAR_EVAL_DEPTH (the evaluator's bound) (left-nested chains are read
 * iteratively and cost no depth).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"

static const char *const var_names[] = {"principal", "action", "resource", "context"};

/* ---- out ------------------------------------------------------------------ */

static json_t *jstr(struct cedar_str s)
{
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

/* {k: v}; consumes v (NULL in, NULL out). */
static json_t *obj1(const char *k, json_t *v)
{
    if (v == NULL) {
        return NULL;
    }
    json_t *o = json_object();
    if (o == NULL || json_object_set_new(o, k, v) != 0) {
        json_decref(o);
        if (o == NULL) {
            json_decref(v);
        }
        return NULL;
    }
    return o;
}

static json_t *uid_json(const struct cedar_uid *u)
{
    json_t *o = json_object();
    (void)(cedar_json_put(&o, "type", jstr(u->type)) && cedar_json_put(&o, "id", jstr(u->id)));
    return o;
}

/* {op: {"left": l, "right": r}}, consuming l and r. */
static json_t *lr(const char *op, json_t *l, json_t *r)
{
    json_t *in = json_object();
    if (l == NULL || r == NULL) {
        json_decref(l);
        json_decref(r);
        json_decref(in);
        return NULL;
    }
    if (!cedar_json_put(&in, "left", l)) {
        json_decref(r);
        return NULL;
    }
    cedar_json_put(&in, "right", r);
    return obj1(op, in);
}

static json_t *expr_json(const struct cedar_expr *x, unsigned depth);

static json_t *lit_json(const struct cedar_value *v)
{
    switch (v->kind) {
    case CEDAR_BOOL:
        return obj1("Value", json_boolean(v->u.b));
    case CEDAR_LONG:
        return obj1("Value", json_integer(v->u.l));
    case CEDAR_STRING:
        return obj1("Value", jstr(v->u.s));
    case CEDAR_ENTITY:
        return obj1("Value", obj1("__entity", uid_json(v->u.uid)));
    default:
        return NULL; /* the parser makes no other literal */
    }
}

/* Element i of a chain node as a left fold up to i. */
static json_t *chain_json(const struct cedar_expr *x, unsigned depth)
{
    json_t *acc = expr_json(x->a[0], depth + 1);
    for (size_t i = 1; i < x->n && acc != NULL; i++) {
        const char *op;
        switch (x->op) {
        case OP_AND:
            op = "&&";
            break;
        case OP_OR:
            op = "||";
            break;
        case OP_MUL:
            op = "*";
            break;
        case OP_SUB:
            op = "-";
            break;
        default:
            op = x->ops != NULL && x->ops[i] == '-' ? "-" : "+";
            break;
        }
        acc = lr(op, acc, expr_json(x->a[i], depth + 1));
    }
    return acc;
}

static json_t *pattern_json(const struct cedar_pattern *pat)
{
    json_t *arr = json_array();
    char buf[8];
    for (size_t i = 0; i < pat->n && arr != NULL;) {
        json_t *el;
        if (pat->elems[i] < 0) {
            el = json_string("Wildcard");
            i++;
        } else {
            /* one Literal per character (a UTF-8 sequence) */
            size_t k = 0;
            buf[k++] = (char)pat->elems[i++];
            while (i < pat->n && k < 4 && pat->elems[i] >= 0x80 && pat->elems[i] < 0xc0 &&
                   ((unsigned char)buf[0] & 0x80) != 0) {
                buf[k++] = (char)pat->elems[i++];
            }
            el = obj1("Literal", json_stringn(buf, k));
        }
        if (el == NULL || json_array_append_new(arr, el) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *args_array(const struct cedar_expr *x, unsigned depth)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < x->n && arr != NULL; i++) {
        json_t *el = expr_json(x->a[i], depth + 1);
        if (el == NULL || json_array_append_new(arr, el) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

static json_t *expr_json(const struct cedar_expr *x, unsigned depth)
{
    static const char *const cmp_names[] = {"==", "!=", "<", "<=", ">", ">=", "in"};
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return NULL;
    }
    switch (x->op) {
    case OP_LIT:
        return lit_json(&x->lit);
    case OP_VAR:
        return obj1("Var", json_string(var_names[x->var & 3]));
    case OP_SLOT:
        return obj1("Slot", json_string(x->var == 0 ? "?principal" : "?resource"));
    case OP_NOT:
        return obj1("!", obj1("arg", expr_json(x->a[0], depth + 1)));
    case OP_NEG:
        return obj1("neg", obj1("arg", expr_json(x->a[0], depth + 1)));
    case OP_AND:
    case OP_OR:
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
        return chain_json(x, depth);
    case OP_IF: {
        json_t *o = json_object();
        if (cedar_json_put(&o, "if", expr_json(x->a[0], depth + 1)) &&
            cedar_json_put(&o, "then", expr_json(x->a[1], depth + 1))) {
            cedar_json_put(&o, "else", expr_json(x->a[2], depth + 1));
        }
        return obj1("if-then-else", o);
    }
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
    case OP_IN:
        return lr(cmp_names[x->op - OP_EQ], expr_json(x->a[0], depth + 1),
                  expr_json(x->a[1], depth + 1));
    case OP_HAS:
    case OP_GETATTR: {
        json_t *o = json_object();
        (void)(cedar_json_put(&o, "left", expr_json(x->a[0], depth + 1)) &&
               cedar_json_put(&o, "attr", jstr(x->name)));
        return obj1(x->op == OP_HAS ? "has" : ".", o);
    }
    case OP_LIKE: {
        json_t *o = json_object();
        (void)(cedar_json_put(&o, "left", expr_json(x->a[0], depth + 1)) &&
               cedar_json_put(&o, "pattern", pattern_json(x->pat)));
        return obj1("like", o);
    }
    case OP_IS: {
        json_t *o = json_object();
        if (cedar_json_put(&o, "left", expr_json(x->a[0], depth + 1)) &&
            cedar_json_put(&o, "entity_type", jstr(x->name)) && x->n > 1) {
            cedar_json_put(&o, "in", expr_json(x->a[1], depth + 1));
        }
        return obj1("is", o);
    }
    case OP_SET:
        return obj1("Set", args_array(x, depth));
    case OP_RECORD: {
        json_t *o = json_object();
        for (size_t i = 0; i < x->n && o != NULL; i++) {
            json_t *v = expr_json(x->a[i], depth + 1);
            if (v == NULL || json_object_setn_new(o, x->names[i].ptr, x->names[i].len, v) != 0) {
                json_decref(o);
                o = NULL;
            }
        }
        return obj1("Record", o);
    }
    case OP_CALL: {
        if (x->var < 0 || (size_t)x->var >= CEDAR_NFNS) {
            return NULL;
        }
        const char *name = cedar_fns[x->var].name;
        if (x->var == FN_IS_EMPTY && x->n == 1) {
            return obj1(name, obj1("arg", expr_json(x->a[0], depth + 1)));
        }
        if (x->var < FN_IP && x->n == 2) {
            return lr(name, expr_json(x->a[0], depth + 1), expr_json(x->a[1], depth + 1));
        }
        return obj1(name, args_array(x, depth));
    }
    }
    return NULL;
}

static json_t *scope_json(const struct cedar_scope *s, int which)
{
    static const char *const slots[] = {"?principal", "?action", "?resource"};
    json_t *o = json_object();
    const char *op = "All";
    cedar_json_put(&o, "op", json_null()); /* first in the output; set below */
    switch (s->op) {
    case SCOPE_ANY:
        break;
    case SCOPE_EQ:
    case SCOPE_IN:
        op = s->op == SCOPE_EQ ? "==" : "in";
        if (s->slot || s->uid == NULL) {
            cedar_json_put(&o, "slot", json_string(slots[which]));
        } else {
            cedar_json_put(&o, "entity", uid_json(s->uid));
        }
        break;
    case SCOPE_IS:
    case SCOPE_IS_IN:
        op = "is";
        if (cedar_json_put(&o, "entity_type", jstr(s->type)) && s->op == SCOPE_IS_IN) {
            cedar_json_put(&o, "in",
                           s->slot || s->uid == NULL ? obj1("slot", json_string(slots[which]))
                                                     : obj1("entity", uid_json(s->uid)));
        }
        break;
    case SCOPE_IN_SET:
        op = "in";
        if (s->nuids == 1) {
            cedar_json_put(&o, "entity", uid_json(&s->uids[0]));
        } else {
            json_t *arr = json_array();
            for (size_t i = 0; i < s->nuids && arr != NULL; i++) {
                if (json_array_append_new(arr, uid_json(&s->uids[i])) != 0) {
                    json_decref(arr);
                    arr = NULL;
                }
            }
            cedar_json_put(&o, "entities", arr);
        }
        break;
    }
    cedar_json_put(&o, "op", json_string(op));
    return o;
}

static json_t *policy_json(const struct cedar_policy *p)
{
    json_t *o = json_object();
    if (!cedar_json_put(&o, "effect", json_string(p->forbid ? "forbid" : "permit")) ||
        !cedar_json_put(&o, "principal", scope_json(&p->principal, 0)) ||
        !cedar_json_put(&o, "action", scope_json(&p->action, 1)) ||
        !cedar_json_put(&o, "resource", scope_json(&p->resource, 2))) {
        return NULL;
    }
    json_t *conds = json_array();
    for (size_t i = 0; i < p->nconds && conds != NULL; i++) {
        const struct cedar_expr *x = p->conds[i];
        bool unless = x->op == OP_NOT && x->unless;
        json_t *c = json_object();
        if (!cedar_json_put(&c, "kind", json_string(unless ? "unless" : "when")) ||
            !cedar_json_put(&c, "body", expr_json(unless ? x->a[0] : x, 0)) ||
            json_array_append_new(conds, c) != 0) {
            json_decref(conds);
            conds = NULL;
        }
    }
    if (!cedar_json_put(&o, "conditions", conds)) {
        return NULL;
    }
    if (p->nannos > 0) {
        json_t *an = json_object();
        for (size_t i = 0; i < p->nannos && an != NULL; i++) {
            const struct cedar_annotation *a = &p->annos[i];
            json_t *v = a->has_value ? jstr(a->value) : json_null();
            if (v == NULL || json_object_setn_new(an, a->key.ptr, a->key.len, v) != 0) {
                json_decref(an);
                an = NULL;
            }
        }
        cedar_json_put(&o, "annotations", an);
    }
    return o;
}

int cedar_policy_to_json(const struct cedar_policyset *ps, size_t i, struct json_t **out,
                         struct err *e)
{
    *out = NULL;
    if (ps == NULL || i >= ps->n) {
        return err_set(e, ERR_NOTFOUND, "no policy %zu", i);
    }
    *out = policy_json(ps->pols[i]);
    if (*out == NULL) {
        return err_set(e, ERR_NOMEM, "%s: cannot convert to JSON (out of memory or too deep)",
                       ps->pols[i]->id);
    }
    return 0;
}

int cedar_policyset_to_json(const struct cedar_policyset *ps, struct json_t **out, struct err *e)
{
    *out = NULL;
    json_t *st = json_object(), *tp = json_object(), *links = json_array();
    json_t *o = json_object();
    int r = 0;
    if (st == NULL || tp == NULL || links == NULL || o == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ps->n && r == 0; i++) {
        const struct cedar_policy *p = ps->pols[i];
        json_t *v;
        if (p->template_id != NULL) {
            json_t *vals = json_object();
            if (p->link_principal != NULL) {
                cedar_json_put(&vals, "?principal", uid_json(p->link_principal));
            }
            if (p->link_resource != NULL) {
                cedar_json_put(&vals, "?resource", uid_json(p->link_resource));
            }
            v = json_object();
            if (!cedar_json_put(&v, "templateId", json_string(p->template_id)) ||
                !cedar_json_put(&v, "newId", json_string(p->id))) {
                json_decref(vals);
            } else {
                cedar_json_put(&v, "values", vals);
            }
            if (v == NULL || json_array_append_new(links, v) != 0) {
                r = err_set(e, ERR_NOMEM, "out of memory");
            }
            continue;
        }
        if ((r = cedar_policy_to_json(ps, i, &v, e)) != 0) {
            break;
        }
        if (json_object_set_new(p->is_template ? tp : st, p->id, v) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (r == 0) {
        json_object_set_new(o, "staticPolicies", st);
        json_object_set_new(o, "templates", tp);
        json_object_set_new(o, "templateLinks", links);
        st = tp = links = NULL;
        *out = o;
        o = NULL;
    }
out:
    json_decref(st);
    json_decref(tp);
    json_decref(links);
    json_decref(o);
    return r;
}

/* ---- in ------------------------------------------------------------------- */

struct rd {
    struct arena *a;
    struct err *e;
    const char *what; /* file name and policy id for messages */
    const char *id;
};

__attribute__((format(printf, 2, 3))) static int bad(struct rd *c, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(c->e, ERR_INVALID, "%s: policy %s: %s", c->what, c->id, msg);
}

static int nomem(struct rd *c)
{
    return err_set(c->e, ERR_NOMEM, "out of memory");
}

static int rd_str(struct rd *c, json_t *j, const char *what, struct cedar_str *out)
{
    if (!json_is_string(j)) {
        return bad(c, "%s: expected a string", what);
    }
    out->len = json_string_length(j);
    out->ptr = arena_strndup(c->a, json_string_value(j), out->len);
    return out->ptr == NULL ? nomem(c) : 0;
}

static int rd_type(struct rd *c, json_t *j, struct cedar_str *out)
{
    int r = rd_str(c, j, "entity type", out);
    if (r == 0 && !cedar_path_ok(out->ptr, out->len, false, true)) {
        return bad(c, "\"%s\" is not an entity type name", out->ptr);
    }
    return r;
}

static int rd_uid(struct rd *c, json_t *j, struct cedar_uid **out)
{
    struct cedar_uid *u = arena_calloc(c->a, 1, sizeof(*u));
    if (u == NULL) {
        return nomem(c);
    }
    struct err e2;
    err_clear(&e2);
    if (cedar_uid_from_jansson(j, c->a, u, &e2) != 0) {
        return bad(c, "%s", e2.msg);
    }
    if (!cedar_path_ok(u->type.ptr, u->type.len, false, true)) {
        return bad(c, "\"%s\" is not an entity type name", u->type.ptr);
    }
    *out = u;
    return 0;
}

static struct cedar_expr *mk(struct rd *c, enum cedar_op op, size_t n)
{
    struct cedar_expr *x = arena_calloc(c->a, 1, sizeof(*x));
    if (x == NULL) {
        return NULL;
    }
    x->op = op;
    x->n = n;
    if (n > 0 && (x->a = arena_calloc(c->a, n, sizeof(*x->a))) == NULL) {
        return NULL;
    }
    return x;
}

static int rd_expr(struct rd *c, json_t *j, unsigned depth, struct cedar_expr **out);

/* A {"Value": v} payload. */
static int rd_value(struct rd *c, json_t *v, unsigned depth, struct cedar_expr **out)
{
    struct cedar_expr *x;
    int r;
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return err_set(c->e, ERR_LIMIT, "%s: policy %s: expression too deep", c->what, c->id);
    }
    if (json_is_array(v)) {
        if ((x = mk(c, OP_SET, json_array_size(v))) == NULL) {
            return nomem(c);
        }
        for (size_t i = 0; i < x->n; i++) {
            if ((r = rd_value(c, json_array_get(v, i), depth + 1, &x->a[i])) != 0) {
                return r;
            }
        }
        *out = x;
        return 0;
    }
    if (json_is_object(v) && json_object_get(v, "__entity") == NULL &&
        json_object_get(v, "__extn") == NULL) {
        if ((x = mk(c, OP_RECORD, json_object_size(v))) == NULL ||
            (x->names = arena_calloc(c->a, x->n ? x->n : 1, sizeof(*x->names))) == NULL) {
            return nomem(c);
        }
        size_t i = 0, klen;
        const char *k;
        json_t *jv;
        json_object_keylen_foreach(v, k, klen, jv)
        {
            x->names[i].len = klen;
            if ((x->names[i].ptr = arena_strndup(c->a, k, x->names[i].len)) == NULL) {
                return nomem(c);
            }
            if ((r = rd_value(c, jv, depth + 1, &x->a[i])) != 0) {
                return r;
            }
            i++;
        }
        *out = x;
        return 0;
    }
    if ((x = mk(c, OP_LIT, 0)) == NULL) {
        return nomem(c);
    }
    if (json_is_boolean(v)) {
        x->lit = cedar_value_bool(json_is_true(v));
    } else if (json_is_integer(v)) {
        x->lit = cedar_value_long(json_integer_value(v));
    } else if (json_is_string(v)) {
        x->lit.kind = CEDAR_STRING;
        if ((r = rd_str(c, v, "value", &x->lit.u.s)) != 0) {
            return r;
        }
    } else if (json_is_object(v) && json_object_get(v, "__entity") != NULL) {
        struct cedar_uid *u;
        if ((r = rd_uid(c, v, &u)) != 0) {
            return r;
        }
        x->lit.kind = CEDAR_ENTITY;
        x->lit.u.uid = u;
    } else {
        return bad(
            c, "%s",
            "unsupported value (expected a boolean, integer, string, entity, set or record)");
    }
    *out = x;
    return 0;
}

static int rd_pattern(struct rd *c, json_t *arr, struct cedar_pattern **out)
{
    if (!json_is_array(arr)) {
        return bad(c, "%s", "like: pattern must be an array");
    }
    size_t total = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *el = json_array_get(arr, i);
        if (json_is_string(el) && strcmp(json_string_value(el), "Wildcard") == 0) {
            total++;
        } else if (json_is_object(el) && json_object_size(el) == 1 &&
                   json_is_string(json_object_get(el, "Literal"))) {
            total += json_string_length(json_object_get(el, "Literal"));
        } else {
            return bad(c, "%s", "like: pattern elements are \"Wildcard\" or {\"Literal\": str}");
        }
        if (total > LIMIT_CEDAR_STRING_LEN) {
            return err_set(c->e, ERR_LIMIT, "%s: policy %s: pattern too long", c->what, c->id);
        }
    }
    struct cedar_pattern *p = arena_alloc(c->a, sizeof(*p) + total * sizeof(p->elems[0]));
    if (p == NULL) {
        return nomem(c);
    }
    p->n = 0;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *el = json_array_get(arr, i);
        if (json_is_string(el)) {
            p->elems[p->n++] = -1;
            continue;
        }
        json_t *lit = json_object_get(el, "Literal");
        const unsigned char *s = (const unsigned char *)json_string_value(lit);
        for (size_t k = 0; k < json_string_length(lit); k++) {
            p->elems[p->n++] = s[k];
        }
    }
    *out = p;
    return 0;
}

static int find_est_fn(const char *k)
{
    for (size_t i = 0; i < CEDAR_NFNS; i++) {
        if (strcmp(cedar_fns[i].name, k) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* The binary operators read as {op: {"left","right"}}. */
static enum cedar_op binop(const char *k)
{
    static const struct {
        const char *k;
        enum cedar_op op;
    } t[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<", OP_LT},  {"<=", OP_LE},
             {">", OP_GT},  {">=", OP_GE}, {"in", OP_IN}, {"&&", OP_AND},
             {"||", OP_OR}, {"+", OP_ADD}, {"-", OP_ADD}, {"*", OP_MUL}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (strcmp(t[i].k, k) == 0) {
            return t[i].op;
        }
    }
    return OP_LIT; /* not one */
}

static int lr_parts(struct rd *c, json_t *body, const char *k, json_t **l, json_t **r)
{
    static const char *const keys[] = {"left", "right", NULL};
    if (!json_is_object(body) || !cedar_json_keys_ok(body, keys) ||
        (*l = json_object_get(body, "left")) == NULL ||
        (*r = json_object_get(body, "right")) == NULL) {
        return bad(c, "%s: expected {\"left\", \"right\"}", k);
    }
    return 0;
}

/* A chain (&&, ||, + and -, *): walks the left spine iteratively. */
static int rd_chain(struct rd *c, json_t *j, enum cedar_op op, unsigned depth,
                    struct cedar_expr **out)
{
    size_t n = 1;
    json_t *cur = j;
    for (;;) {
        const char *k = json_object_iter_key(json_object_iter(cur));
        json_t *l = NULL, *r = NULL;
        if (json_object_size(cur) != 1 || binop(k) != op) {
            break;
        }
        int rr = lr_parts(c, json_object_iter_value(json_object_iter(cur)), k, &l, &r);
        if (rr != 0) {
            return rr;
        }
        n++;
        cur = l;
        if (!json_is_object(cur)) {
            return bad(c, "%s", "expected an expression object");
        }
        if (n > LIMIT_CEDAR_SET_MAX) {
            return err_set(c->e, ERR_LIMIT, "%s: policy %s: chain too long", c->what, c->id);
        }
    }
    struct cedar_expr *x = mk(c, op, n);
    if (x == NULL || (op == OP_ADD && (x->ops = arena_alloc(c->a, n)) == NULL)) {
        return nomem(c);
    }
    int r = rd_expr(c, cur, depth + 1, &x->a[0]);
    if (r != 0) {
        return r;
    }
    if (x->ops) {
        x->ops[0] = '+';
    }
    cur = j;
    for (size_t i = n - 1; i >= 1; i--) {
        const char *k = json_object_iter_key(json_object_iter(cur));
        json_t *body = json_object_iter_value(json_object_iter(cur)), *l = NULL, *rt = NULL;
        (void)lr_parts(c, body, k, &l, &rt);
        if (x->ops) {
            x->ops[i] = k[0] == '-' ? '-' : '+';
        }
        if ((r = rd_expr(c, rt, depth + 1, &x->a[i])) != 0) {
            return r;
        }
        cur = l;
    }
    *out = x;
    return 0;
}

static int rd_expr(struct rd *c, json_t *j, unsigned depth, struct cedar_expr **out)
{
    static const char *const k_arg[] = {"arg", NULL};
    static const char *const k_attr[] = {"left", "attr", NULL};
    static const char *const k_is[] = {"left", "entity_type", "in", NULL};
    static const char *const k_like[] = {"left", "pattern", NULL};
    static const char *const k_ite[] = {"if", "then", "else", NULL};
    struct cedar_expr *x;
    int r;
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        return err_set(c->e, ERR_LIMIT, "%s: policy %s: expression too deep", c->what, c->id);
    }
    if (!json_is_object(j) || json_object_size(j) != 1) {
        return bad(c, "%s", "an expression is an object with exactly one key");
    }
    const char *k = json_object_iter_key(json_object_iter(j));
    json_t *b = json_object_iter_value(json_object_iter(j));
    if (strcmp(k, "Value") == 0) {
        return rd_value(c, b, depth, out);
    }
    if (strcmp(k, "Var") == 0) {
        for (int i = 0; i < 4; i++) {
            if (json_is_string(b) && strcmp(json_string_value(b), var_names[i]) == 0) {
                if ((x = mk(c, OP_VAR, 0)) == NULL) {
                    return nomem(c);
                }
                x->var = i;
                *out = x;
                return 0;
            }
        }
        return bad(c, "%s", "Var: expected principal, action, resource or context");
    }
    if (strcmp(k, "Slot") == 0 || strcmp(k, "Unknown") == 0) {
        return bad(c, "%s: only allowed in the policy scope here", k);
    }
    if (strcmp(k, "!") == 0 || strcmp(k, "neg") == 0 || strcmp(k, "isEmpty") == 0) {
        if (!json_is_object(b) || !cedar_json_keys_ok(b, k_arg) ||
            json_object_get(b, "arg") == NULL) {
            return bad(c, "%s: expected {\"arg\"}", k);
        }
        bool call = k[0] == 'i';
        if ((x = mk(c, call ? OP_CALL : k[0] == '!' ? OP_NOT : OP_NEG, 1)) == NULL) {
            return nomem(c);
        }
        x->var = call ? FN_IS_EMPTY : 0;
        if ((r = rd_expr(c, json_object_get(b, "arg"), depth + 1, &x->a[0])) != 0) {
            return r;
        }
        *out = x;
        return 0;
    }
    enum cedar_op op = binop(k);
    if (op == OP_AND || op == OP_OR || op == OP_ADD || op == OP_MUL) {
        return rd_chain(c, j, op, depth, out);
    }
    int fn = find_est_fn(k);
    if (op != OP_LIT || (fn >= 0 && fn < FN_IP && fn != FN_IS_EMPTY)) {
        json_t *l = NULL, *rt = NULL;
        if ((r = lr_parts(c, b, k, &l, &rt)) != 0) {
            return r;
        }
        if ((x = mk(c, op != OP_LIT ? op : OP_CALL, 2)) == NULL) {
            return nomem(c);
        }
        x->var = fn;
        if ((r = rd_expr(c, l, depth + 1, &x->a[0])) != 0 ||
            (r = rd_expr(c, rt, depth + 1, &x->a[1])) != 0) {
            return r;
        }
        *out = x;
        return 0;
    }
    if (fn >= FN_IP) {
        if (!json_is_array(b)) {
            return bad(c, "%s: expected an array of arguments", k);
        }
        if ((x = mk(c, OP_CALL, json_array_size(b))) == NULL) {
            return nomem(c);
        }
        x->var = fn;
        x->bad_arity = (int)x->n != cedar_fns[fn].argc + (cedar_fns[fn].method ? 1 : 0);
        if (x->bad_arity && cedar_fns[fn].method && x->n == 0) {
            return bad(c, "%s: a method needs its receiver", k);
        }
        for (size_t i = 0; i < x->n; i++) {
            if ((r = rd_expr(c, json_array_get(b, i), depth + 1, &x->a[i])) != 0) {
                return r;
            }
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "has") == 0 || strcmp(k, ".") == 0) {
        if (!json_is_object(b) || !cedar_json_keys_ok(b, k_attr) ||
            json_object_get(b, "left") == NULL) {
            return bad(c, "%s: expected {\"left\", \"attr\"}", k);
        }
        if ((x = mk(c, k[0] == 'h' ? OP_HAS : OP_GETATTR, 1)) == NULL) {
            return nomem(c);
        }
        if ((r = rd_str(c, json_object_get(b, "attr"), "attr", &x->name)) != 0 ||
            (r = rd_expr(c, json_object_get(b, "left"), depth + 1, &x->a[0])) != 0) {
            return r;
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "is") == 0) {
        if (!json_is_object(b) || !cedar_json_keys_ok(b, k_is) ||
            json_object_get(b, "left") == NULL) {
            return bad(c, "%s: expected {\"left\", \"entity_type\", \"in\"?}", k);
        }
        json_t *in = json_object_get(b, "in");
        if ((x = mk(c, OP_IS, in ? 2 : 1)) == NULL) {
            return nomem(c);
        }
        if ((r = rd_type(c, json_object_get(b, "entity_type"), &x->name)) != 0 ||
            (r = rd_expr(c, json_object_get(b, "left"), depth + 1, &x->a[0])) != 0 ||
            (in && (r = rd_expr(c, in, depth + 1, &x->a[1])) != 0)) {
            return r;
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "like") == 0) {
        if (!json_is_object(b) || !cedar_json_keys_ok(b, k_like) ||
            json_object_get(b, "left") == NULL) {
            return bad(c, "%s: expected {\"left\", \"pattern\"}", k);
        }
        if ((x = mk(c, OP_LIKE, 1)) == NULL) {
            return nomem(c);
        }
        if ((r = rd_pattern(c, json_object_get(b, "pattern"), &x->pat)) != 0 ||
            (r = rd_expr(c, json_object_get(b, "left"), depth + 1, &x->a[0])) != 0) {
            return r;
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "if-then-else") == 0) {
        if (!json_is_object(b) || !cedar_json_keys_ok(b, k_ite) || json_object_size(b) != 3) {
            return bad(c, "%s: expected {\"if\", \"then\", \"else\"}", k);
        }
        if ((x = mk(c, OP_IF, 3)) == NULL) {
            return nomem(c);
        }
        for (int i = 0; i < 3; i++) {
            if ((r = rd_expr(c, json_object_get(b, k_ite[i]), depth + 1, &x->a[i])) != 0) {
                return r;
            }
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "Set") == 0) {
        if (!json_is_array(b)) {
            return bad(c, "%s: expected an array", k);
        }
        if ((x = mk(c, OP_SET, json_array_size(b))) == NULL) {
            return nomem(c);
        }
        for (size_t i = 0; i < x->n; i++) {
            if ((r = rd_expr(c, json_array_get(b, i), depth + 1, &x->a[i])) != 0) {
                return r;
            }
        }
        *out = x;
        return 0;
    }
    if (strcmp(k, "Record") == 0) {
        if (!json_is_object(b)) {
            return bad(c, "%s: expected an object", k);
        }
        if ((x = mk(c, OP_RECORD, json_object_size(b))) == NULL ||
            (x->names = arena_calloc(c->a, x->n ? x->n : 1, sizeof(*x->names))) == NULL) {
            return nomem(c);
        }
        size_t i = 0, klen;
        const char *key;
        json_t *v;
        json_object_keylen_foreach(b, key, klen, v)
        {
            x->names[i].len = klen;
            if ((x->names[i].ptr = arena_strndup(c->a, key, x->names[i].len)) == NULL) {
                return nomem(c);
            }
            if ((r = rd_expr(c, v, depth + 1, &x->a[i])) != 0) {
                return r;
            }
            i++;
        }
        *out = x;
        return 0;
    }
    return bad(c, "unknown expression \"%s\"", k);
}

static int rd_scope_target(struct rd *c, json_t *o, int which, struct cedar_scope *s)
{
    static const char *const slots[] = {"?principal", "?action", "?resource"};
    json_t *ent = json_object_get(o, "entity"), *slot = json_object_get(o, "slot");
    if ((ent == NULL) == (slot == NULL)) {
        return bad(c, "%s: expected \"entity\" or \"slot\"",
                   which == 0   ? "principal"
                   : which == 1 ? "action"
                                : "resource");
    }
    if (slot != NULL) {
        if (which == 1 || !json_is_string(slot) ||
            strcmp(json_string_value(slot), slots[which]) != 0) {
            return bad(c, "%s", "wrong template slot here");
        }
        s->slot = true;
        return 0;
    }
    struct cedar_uid *u;
    int r = rd_uid(c, ent, &u);
    if (r != 0) {
        return r;
    }
    if (which == 1 && !cedar_is_action_type(&u->type)) {
        return bad(c, "%s", "expected an action entity in the action scope");
    }
    s->uid = u;
    return 0;
}

static int rd_scope(struct rd *c, json_t *o, int which, struct cedar_scope *s)
{
    static const char *const names[] = {"principal", "action", "resource"};
    static const char *const k_eq[] = {"op", "entity", "slot", NULL};
    static const char *const k_in[] = {"op", "entity", "slot", "entities", NULL};
    static const char *const k_is[] = {"op", "entity_type", "in", NULL};
    static const char *const k_all[] = {"op", NULL};
    static const char *const k_in2[] = {"entity", "slot", NULL};
    memset(s, 0, sizeof(*s));
    json_t *op = json_object_get(o, "op");
    if (!json_is_object(o) || !json_is_string(op)) {
        return bad(c, "%s: expected {\"op\": ...}", names[which]);
    }
    const char *ops = json_string_value(op);
    int r;
    if (strcmp(ops, "All") == 0 && cedar_json_keys_ok(o, k_all)) {
        s->op = SCOPE_ANY;
        return 0;
    }
    if (strcmp(ops, "==") == 0 && cedar_json_keys_ok(o, k_eq)) {
        s->op = SCOPE_EQ;
        return rd_scope_target(c, o, which, s);
    }
    if (strcmp(ops, "in") == 0 && cedar_json_keys_ok(o, k_in)) {
        json_t *ents = json_object_get(o, "entities");
        if (ents == NULL) {
            s->op = SCOPE_IN;
            return rd_scope_target(c, o, which, s);
        }
        if (which != 1 || !json_is_array(ents) || json_object_size(o) != 2) {
            return bad(c, "%s: \"entities\" only in the action scope", names[which]);
        }
        s->op = SCOPE_IN_SET;
        s->nuids = json_array_size(ents);
        struct cedar_uid *v = arena_calloc(c->a, s->nuids ? s->nuids : 1, sizeof(*v));
        if (v == NULL) {
            return nomem(c);
        }
        for (size_t i = 0; i < s->nuids; i++) {
            struct cedar_uid *u;
            if ((r = rd_uid(c, json_array_get(ents, i), &u)) != 0) {
                return r;
            }
            if (!cedar_is_action_type(&u->type)) {
                return bad(c, "%s", "expected action entities in the action scope");
            }
            v[i] = *u;
        }
        s->uids = v;
        return 0;
    }
    if (strcmp(ops, "is") == 0 && which != 1 && cedar_json_keys_ok(o, k_is)) {
        if ((r = rd_type(c, json_object_get(o, "entity_type"), &s->type)) != 0) {
            return r;
        }
        json_t *in = json_object_get(o, "in");
        s->op = in ? SCOPE_IS_IN : SCOPE_IS;
        if (in && (!json_is_object(in) || !cedar_json_keys_ok(in, k_in2))) {
            return bad(c, "%s: is ... in: expected {\"entity\"} or {\"slot\"}", names[which]);
        }
        return in ? rd_scope_target(c, in, which, s) : 0;
    }
    return bad(c, "%s: bad scope (unknown op or key)", names[which]);
}

static int rd_policy(struct rd *c, json_t *j, const char *id, struct cedar_policy **out)
{
    static const char *const keys[] = {"effect",     "principal",   "action", "resource",
                                       "conditions", "annotations", NULL};
    static const char *const ckeys[] = {"kind", "body", NULL};
    c->id = id;
    if (!json_is_object(j) || !cedar_json_keys_ok(j, keys)) {
        return bad(c, "%s",
                   "expected an object with effect, principal, action, resource, "
                   "conditions, annotations");
    }
    struct cedar_policy *p = arena_calloc(c->a, 1, sizeof(*p));
    if (p == NULL || (p->id = arena_strdup(c->a, id)) == NULL) {
        return nomem(c);
    }
    json_t *eff = json_object_get(j, "effect");
    if (!json_is_string(eff) || (strcmp(json_string_value(eff), "permit") != 0 &&
                                 strcmp(json_string_value(eff), "forbid") != 0)) {
        return bad(c, "%s", "effect: expected \"permit\" or \"forbid\"");
    }
    p->forbid = json_string_value(eff)[0] == 'f';
    int r;
    if ((r = rd_scope(c, json_object_get(j, "principal"), 0, &p->principal)) != 0 ||
        (r = rd_scope(c, json_object_get(j, "action"), 1, &p->action)) != 0 ||
        (r = rd_scope(c, json_object_get(j, "resource"), 2, &p->resource)) != 0) {
        return r;
    }
    p->is_template = p->principal.slot || p->resource.slot;
    json_t *conds = json_object_get(j, "conditions");
    if (!json_is_array(conds)) {
        return bad(c, "%s", "conditions: expected an array");
    }
    p->nconds = json_array_size(conds);
    if (p->nconds > 0 && (p->conds = arena_calloc(c->a, p->nconds, sizeof(*p->conds))) == NULL) {
        return nomem(c);
    }
    for (size_t i = 0; i < p->nconds; i++) {
        json_t *cj = json_array_get(conds, i), *kind = json_object_get(cj, "kind");
        if (!json_is_object(cj) || !cedar_json_keys_ok(cj, ckeys) || !json_is_string(kind) ||
            (strcmp(json_string_value(kind), "when") != 0 &&
             strcmp(json_string_value(kind), "unless") != 0)) {
            return bad(c, "%s", "conditions: expected {\"kind\": \"when\"|\"unless\", \"body\"}");
        }
        struct cedar_expr *x;
        if ((r = rd_expr(c, json_object_get(cj, "body"), 0, &x)) != 0) {
            return r;
        }
        if (json_string_value(kind)[0] == 'u') {
            struct cedar_expr *n = mk(c, OP_NOT, 1);
            if (n == NULL) {
                return nomem(c);
            }
            n->unless = true;
            n->a[0] = x;
            x = n;
        }
        p->conds[i] = x;
    }
    json_t *an = json_object_get(j, "annotations");
    if (an != NULL) {
        if (!json_is_object(an)) {
            return bad(c, "%s", "annotations: expected an object");
        }
        p->nannos = json_object_size(an);
        if (p->nannos > 0 &&
            (p->annos = arena_calloc(c->a, p->nannos, sizeof(*p->annos))) == NULL) {
            return nomem(c);
        }
        size_t i = 0;
        const char *k;
        json_t *v;
        json_object_foreach(an, k, v)
        {
            struct cedar_annotation *a = &p->annos[i++];
            if (!cedar_ident_ok(k, strlen(k))) {
                return bad(c, "annotation \"%s\": not an identifier", k);
            }
            a->key.len = strlen(k);
            if ((a->key.ptr = arena_strndup(c->a, k, a->key.len)) == NULL) {
                return nomem(c);
            }
            a->value.ptr = "";
            if (json_is_string(v)) {
                a->has_value = true;
                if ((r = rd_str(c, v, "annotation", &a->value)) != 0) {
                    return r;
                }
            } else if (!json_is_null(v)) {
                return bad(c, "annotation \"%s\": expected a string or null", k);
            }
        }
    }
    *out = p;
    return 0;
}

static int add(struct rd *c, struct cedar_policyset *ps, struct cedar_policy *p)
{
    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->pols[i]->id, p->id) == 0) {
            return err_set(c->e, ERR_CONFLICT, "%s: duplicate policy id \"%s\"", c->what, p->id);
        }
    }
    if (ps->n >= LIMIT_CEDAR_POLICIES) {
        return err_set(c->e, ERR_LIMIT, "%s: too many policies", c->what);
    }
    return cedar_ps_append(ps, p) == 0 ? 0 : nomem(c);
}

static int rd_map(struct rd *c, struct cedar_policyset *ps, json_t *m, bool templates)
{
    if (m == NULL) {
        return 0;
    }
    if (!json_is_object(m)) {
        return err_set(c->e, ERR_INVALID, "%s: %s: expected an object", c->what,
                       templates ? "templates" : "staticPolicies");
    }
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v)
    {
        struct cedar_policy *p;
        int r = rd_policy(c, v, k, &p);
        if (r == 0 && p->is_template != templates) {
            r = bad(c, "%s", templates ? "a template needs a slot" : "a static policy has no slot");
        }
        if (r != 0 || (r = add(c, ps, p)) != 0) {
            return r;
        }
    }
    return 0;
}

static int rd_links(struct rd *c, struct cedar_policyset *ps, json_t *links)
{
    static const char *const keys[] = {"templateId", "newId", "values", NULL};
    static const char *const vkeys[] = {"?principal", "?resource", NULL};
    if (links == NULL) {
        return 0;
    }
    if (!json_is_array(links)) {
        return err_set(c->e, ERR_INVALID, "%s: templateLinks: expected an array", c->what);
    }
    for (size_t i = 0; i < json_array_size(links); i++) {
        json_t *l = json_array_get(links, i);
        json_t *tid = json_object_get(l, "templateId"), *nid = json_object_get(l, "newId");
        json_t *vals = json_object_get(l, "values");
        if (!json_is_object(l) || !cedar_json_keys_ok(l, keys) || !json_is_string(tid) ||
            !json_is_string(nid) || !json_is_object(vals) || !cedar_json_keys_ok(vals, vkeys)) {
            return err_set(c->e, ERR_INVALID,
                           "%s: templateLinks[%zu]: expected {\"templateId\", \"newId\", "
                           "\"values\": {\"?principal\", \"?resource\"}}",
                           c->what, i);
        }
        c->id = json_string_value(nid);
        struct cedar_uid *pu = NULL, *ru = NULL;
        json_t *pj = json_object_get(vals, "?principal"), *rj = json_object_get(vals, "?resource");
        int r;
        if ((pj && (r = rd_uid(c, pj, &pu)) != 0) || (rj && (r = rd_uid(c, rj, &ru)) != 0)) {
            return r;
        }
        struct err e2;
        err_clear(&e2);
        r = cedar_policyset_link(ps, json_string_value(tid), json_string_value(nid), pu, ru, &e2);
        if (r != 0) {
            return err_set(c->e, r, "%s: templateLinks[%zu]: %s", c->what, i, e2.msg);
        }
    }
    return 0;
}

int cedar_policyset_from_jansson(const struct json_t *json, const char *filename,
                                 struct cedar_policyset **out, struct err *e)
{
    static const char *const skeys[] = {"staticPolicies", "templates", "templateLinks", NULL};
    *out = NULL;
    json_t *j = (json_t *)json;
    struct cedar_policyset *ps = cedar_ps_new();
    if (ps == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    struct rd c = {&ps->arena, e, filename ? filename : "<json>", ""};
    int r = 0;
    char idbuf[32];
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j) && r == 0; i++) {
            struct cedar_policy *p;
            snprintf(idbuf, sizeof(idbuf), "policy%zu", i);
            if ((r = rd_policy(&c, json_array_get(j, i), idbuf, &p)) == 0) {
                r = add(&c, ps, p);
            }
        }
    } else if (json_is_object(j) && json_object_get(j, "effect") != NULL) {
        struct cedar_policy *p;
        if ((r = rd_policy(&c, j, "policy0", &p)) == 0) {
            r = add(&c, ps, p);
        }
    } else if (json_is_object(j) && cedar_json_keys_ok(j, skeys)) {
        if ((r = rd_map(&c, ps, json_object_get(j, "staticPolicies"), false)) == 0 &&
            (r = rd_map(&c, ps, json_object_get(j, "templates"), true)) == 0) {
            r = rd_links(&c, ps, json_object_get(j, "templateLinks"));
        }
    } else {
        r = err_set(e, ERR_INVALID,
                    "%s: expected a policy ({\"effect\", ...}), an array of them, or "
                    "{\"staticPolicies\", \"templates\", \"templateLinks\"}",
                    c.what);
    }
    return cedar_ps_finish(ps, r, out, e);
}

int cedar_policyset_from_json(const char *text, size_t len, const char *filename,
                              struct cedar_policyset **out, struct err *e)
{
    *out = NULL;
    if (len > LIMIT_CEDAR_JSON_TEXT) {
        return err_set(e, ERR_LIMIT, "%s: JSON text too large", filename ? filename : "<json>");
    }
    json_t *j = cedar_json_load_depth(text, len, filename ? filename : "<json>",
                                      LIMIT_CEDAR_EST_JSON_DEPTH, e);
    if (j == NULL) {
        return e->code != 0 ? e->code : ERR_INVALID;
    }
    int r = cedar_policyset_from_jansson(j, filename, out, e);
    json_decref(j);
    return r;
}
