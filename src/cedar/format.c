/*
 * format.c: prints policies as Cedar text in one canonical layout (what
 * `mandate policy format` writes and `policy from-json` prints).
 *
 * The text is printed from the AST, so parsing the output gives back the same
 * AST (and the same JSON form): parentheses are added exactly where the tree
 * needs them, `has a.b` comes out as its expansion, comments are not kept (the
 * CLI refuses to reformat a file that has any).  Layout, close to the
 * reference's formatter:
 *
 *   @id("x")
 *   permit (
 *     principal == User::"a",
 *     action in [Action::"read", Action::"list"],
 *     resource
 *   )
 *   when { context.mfa };
 *
 * (`permit (principal, action, resource)` on one line when the scope is
 * unconstrained, as the reference does.)
 * A condition longer than a line is broken at its top-level `&&` / `||`
 * operands, one per line, indented by two.  Policies are separated by a
 * blank line.
 */
#include <stdio.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/buf.h"
#include "util/limits.h"

struct w {
    struct buf *b;
    int err;
};

static void wn(struct w *w, const char *p, size_t n)
{
    if (w->err == 0 && n > 0) {
        w->err = buf_append(w->b, p, n);
    }
}

static void ws(struct w *w, const char *s)
{
    wn(w, s, strlen(s));
}

/* Escapes s as the body of a Cedar string literal; star: also escape '*'
 * (a literal star in a `like` pattern). */
static void w_esc(struct w *w, const char *s, size_t n, bool star)
{
    static const char *const named[128] = {
        ['"'] = "\\\"", ['\\'] = "\\\\", ['\n'] = "\\n",
        ['\r'] = "\\r", ['\t'] = "\\t",  ['\0'] = "\\0",
    };
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char tmp[16];
        if (ch < 128 && named[ch] != NULL) {
            ws(w, named[ch]);
        } else if (ch == '*' && star) {
            ws(w, "\\*");
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u{%x}", ch);
            ws(w, tmp);
        } else {
            wn(w, (const char *)&s[i], 1);
        }
    }
}

static void w_qstr(struct w *w, struct cedar_str s)
{
    ws(w, "\"");
    w_esc(w, s.ptr, s.len, false);
    ws(w, "\"");
}

/* A name that can be printed bare (else it is quoted). */
static bool plain_ident(struct cedar_str s)
{
    return cedar_ident_ok(s.ptr, s.len) && !cedar_reserved_word(s.ptr, s.len) &&
           !(s.len == 7 && memcmp(s.ptr, "__cedar", 7) == 0);
}

static void w_uid(struct w *w, const struct cedar_uid *u)
{
    wn(w, u->type.ptr, u->type.len);
    ws(w, "::");
    w_qstr(w, u->id);
}

/* Precedence: 0 if, 1 ||, 2 &&, 3 relation, 4 + -, 5 *, 6 unary, 7 member/primary. */
static int prec(const struct cedar_expr *x)
{
    switch (x->op) {
    case OP_IF:
        return 0;
    case OP_OR:
        return 1;
    case OP_AND:
        return 2;
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
    case OP_IN:
    case OP_HAS:
    case OP_LIKE:
    case OP_IS:
        return 3;
    case OP_ADD:
    case OP_SUB:
        return 4;
    case OP_MUL:
        return 5;
    case OP_NOT:
    case OP_NEG:
        return 6;
    case OP_LIT:
        return x->lit.kind == CEDAR_LONG && x->lit.u.l < 0 ? 6 : 7;
    default:
        return 7;
    }
}

static void w_expr(struct w *w, const struct cedar_expr *x, unsigned depth);

/* x, in parentheses when paren. */
static void w_paren(struct w *w, const struct cedar_expr *x, bool paren, unsigned depth)
{
    if (paren) {
        ws(w, "(");
    }
    w_expr(w, x, depth + 1);
    if (paren) {
        ws(w, ")");
    }
}

/* x, parenthesized unless its precedence is at least min. */
static void w_sub(struct w *w, const struct cedar_expr *x, int min, unsigned depth)
{
    w_paren(w, x, prec(x) < min, depth);
}

static void w_receiver(struct w *w, const struct cedar_expr *x, unsigned depth)
{
    /* an integer literal is parenthesized: `1.foo` would not lex as a member access */
    w_paren(w, x, prec(x) < 7 || (x->op == OP_LIT && x->lit.kind == CEDAR_LONG), depth);
}

/* An attribute name: bare when it can be, else a string literal. */
static void w_name(struct w *w, struct cedar_str s)
{
    if (plain_ident(s)) {
        wn(w, s.ptr, s.len);
    } else {
        w_qstr(w, s);
    }
}

static void w_list(struct w *w, struct cedar_expr *const *a, size_t n, unsigned depth)
{
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            ws(w, ", ");
        }
        w_expr(w, a[i], depth + 1);
    }
}

static void w_expr(struct w *w, const struct cedar_expr *x, unsigned depth)
{
    static const char *const vars[] = {"principal", "action", "resource", "context"};
    static const char *const rel[] = {" == ", " != ", " < ", " <= ", " > ", " >= ", " in "};
    char tmp[32];
    if (depth > LIMIT_CEDAR_EVAL_DEPTH) {
        w->err = ERR_LIMIT;
        return;
    }
    switch (x->op) {
    case OP_LIT:
        switch (x->lit.kind) {
        case CEDAR_BOOL:
            ws(w, x->lit.u.b ? "true" : "false");
            break;
        case CEDAR_LONG:
            snprintf(tmp, sizeof(tmp), "%lld", (long long)x->lit.u.l);
            ws(w, tmp);
            break;
        case CEDAR_STRING:
            w_qstr(w, x->lit.u.s);
            break;
        case CEDAR_ENTITY:
            w_uid(w, x->lit.u.uid);
            break;
        default:
            w->err = ERR_INTERNAL;
        }
        return;
    case OP_VAR:
        ws(w, vars[x->var & 3]);
        return;
    case OP_SLOT:
        ws(w, x->var == 0 ? "?principal" : "?resource");
        return;
    case OP_NOT:
    case OP_NEG: {
        ws(w, x->op == OP_NOT ? "!" : "-");
        /* `-5` would read back as the literal -5, and `!!x`/`--x` need the
         * same operator: anything below member level is parenthesized */
        bool long_lit = x->a[0]->op == OP_LIT && x->a[0]->lit.kind == CEDAR_LONG;
        w_paren(w, x->a[0], prec(x->a[0]) < 7 || (x->op == OP_NEG && long_lit), depth);
        return;
    }
    case OP_AND:
    case OP_OR:
    case OP_ADD:
    case OP_SUB:
    case OP_MUL: {
        int p = prec(x);
        for (size_t i = 0; i < x->n; i++) {
            if (i > 0) {
                const char *op = x->op == OP_AND                                   ? " && "
                                 : x->op == OP_OR                                  ? " || "
                                 : x->op == OP_MUL                                 ? " * "
                                 : x->op == OP_SUB || (x->ops && x->ops[i] == '-') ? " - "
                                                                                   : " + ";
                ws(w, op);
            }
            w_sub(w, x->a[i], p + 1, depth);
        }
        return;
    }
    case OP_IF:
        /* a nested if is parenthesized (readability; the tree is the same) */
        ws(w, "if ");
        w_sub(w, x->a[0], 1, depth);
        ws(w, " then ");
        w_sub(w, x->a[1], 1, depth);
        ws(w, " else ");
        w_sub(w, x->a[2], 1, depth);
        return;
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
    case OP_IN:
        w_sub(w, x->a[0], 4, depth);
        ws(w, rel[x->op - OP_EQ]);
        w_sub(w, x->a[1], 4, depth);
        return;
    case OP_HAS:
        w_sub(w, x->a[0], 4, depth);
        ws(w, " has ");
        w_name(w, x->name);
        return;
    case OP_GETATTR:
        w_receiver(w, x->a[0], depth);
        if (plain_ident(x->name)) {
            ws(w, ".");
            wn(w, x->name.ptr, x->name.len);
        } else {
            ws(w, "[");
            w_qstr(w, x->name);
            ws(w, "]");
        }
        return;
    case OP_LIKE:
        w_sub(w, x->a[0], 4, depth);
        ws(w, " like \"");
        for (size_t i = 0; i < x->pat->n; i++) {
            if (x->pat->elems[i] < 0) {
                ws(w, "*");
            } else {
                char ch = (char)x->pat->elems[i];
                w_esc(w, &ch, 1, true);
            }
        }
        ws(w, "\"");
        return;
    case OP_IS:
        w_sub(w, x->a[0], 4, depth);
        ws(w, " is ");
        wn(w, x->name.ptr, x->name.len);
        if (x->n > 1) {
            ws(w, " in ");
            w_sub(w, x->a[1], 4, depth);
        }
        return;
    case OP_SET:
        ws(w, "[");
        w_list(w, x->a, x->n, depth);
        ws(w, "]");
        return;
    case OP_RECORD:
        ws(w, "{");
        for (size_t i = 0; i < x->n; i++) {
            ws(w, i > 0 ? ", " : "");
            w_name(w, x->names[i]);
            ws(w, ": ");
            w_expr(w, x->a[i], depth + 1);
        }
        ws(w, "}");
        return;
    case OP_CALL: {
        const char *name = cedar_fns[x->var].name;
        bool method = cedar_fns[x->var].method;
        if (method && x->n > 0) {
            w_receiver(w, x->a[0], depth);
            ws(w, ".");
            ws(w, name);
            ws(w, "(");
            w_list(w, x->a + 1, x->n - 1, depth);
        } else {
            ws(w, name);
            ws(w, "(");
            w_list(w, x->a, x->n, depth);
        }
        ws(w, ")");
        return;
    }
    }
    w->err = ERR_INTERNAL;
}

/* The entity a scope names: its slot in a template, else its UID. */
static void w_scope_uid(struct w *w, const struct cedar_scope *s, const char *slot)
{
    if (s->slot || s->uid == NULL) {
        ws(w, slot);
    } else {
        w_uid(w, s->uid);
    }
}

static void w_scope(struct w *w, const struct cedar_scope *s, const char *var, const char *slot)
{
    ws(w, "  ");
    ws(w, var);
    switch (s->op) {
    case SCOPE_ANY:
        return;
    case SCOPE_EQ:
    case SCOPE_IN:
        ws(w, s->op == SCOPE_EQ ? " == " : " in ");
        w_scope_uid(w, s, slot);
        return;
    case SCOPE_IS:
    case SCOPE_IS_IN:
        ws(w, " is ");
        wn(w, s->type.ptr, s->type.len);
        if (s->op == SCOPE_IS_IN) {
            ws(w, " in ");
            w_scope_uid(w, s, slot);
        }
        return;
    case SCOPE_IN_SET:
        ws(w, " in [");
        for (size_t i = 0; i < s->nuids; i++) {
            ws(w, i > 0 ? ", " : "");
            w_uid(w, &s->uids[i]);
        }
        ws(w, "]");
        return;
    }
}

/* One condition: on one line when it fits in 80 columns, else its top-level
 * chain one operand per line. */
static void w_cond(struct w *w, const struct cedar_expr *x, const char *kw)
{
    struct buf tmp;
    buf_init(&tmp, LIMIT_CEDAR_POLICY_TEXT);
    struct w t = {&tmp, 0};
    w_expr(&t, x, 0);
    if (t.err != 0) {
        w->err = t.err;
        buf_free(&tmp);
        return;
    }
    ws(w, "\n");
    ws(w, kw);
    if (tmp.len + strlen(kw) + 5 <= 80 || (x->op != OP_AND && x->op != OP_OR)) {
        ws(w, " { ");
        wn(w, tmp.data, tmp.len);
        ws(w, " }");
    } else {
        ws(w, "\n{\n");
        for (size_t i = 0; i < x->n; i++) {
            ws(w, "  ");
            w_sub(w, x->a[i], prec(x) + 1, 0);
            if (i + 1 < x->n) {
                ws(w, x->op == OP_AND ? " &&" : " ||");
            }
            ws(w, "\n");
        }
        ws(w, "}");
    }
    buf_free(&tmp);
}

int cedar_policy_format(const struct cedar_policyset *ps, size_t i, struct buf *out, struct err *e)
{
    if (ps == NULL || i >= ps->n) {
        return err_set(e, ERR_NOTFOUND, "no policy %zu", i);
    }
    const struct cedar_policy *p = ps->pols[i];
    struct w w = {out, 0};
    for (size_t k = 0; k < p->nannos; k++) {
        ws(&w, "@");
        wn(&w, p->annos[k].key.ptr, p->annos[k].key.len);
        if (p->annos[k].has_value) {
            ws(&w, "(");
            w_qstr(&w, p->annos[k].value);
            ws(&w, ")");
        }
        ws(&w, "\n");
    }
    ws(&w, p->forbid ? "forbid (" : "permit (");
    if (p->principal.op == SCOPE_ANY && p->action.op == SCOPE_ANY && p->resource.op == SCOPE_ANY) {
        ws(&w, "principal, action, resource)"); /* as the reference: one line */
    } else {
        ws(&w, "\n");
        w_scope(&w, &p->principal, "principal", "?principal");
        ws(&w, ",\n");
        w_scope(&w, &p->action, "action", "?action");
        ws(&w, ",\n");
        w_scope(&w, &p->resource, "resource", "?resource");
        ws(&w, "\n)");
    }
    for (size_t k = 0; k < p->nconds; k++) {
        const struct cedar_expr *x = p->conds[k];
        if (x->op == OP_NOT && x->unless) {
            w_cond(&w, x->a[0], "unless");
        } else {
            w_cond(&w, x, "when");
        }
    }
    ws(&w, ";\n");
    if (w.err != 0) {
        return err_set(e, w.err, "%s: cannot format (%s)", p->id,
                       w.err == ERR_NOMEM ? "out of memory" : "too large or too deep");
    }
    return 0;
}

int cedar_policyset_format(const struct cedar_policyset *ps, struct buf *out, struct err *e)
{
    bool first = true;
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->pols[i]->template_id != NULL) {
            continue; /* a linked policy has no text form: its template has */
        }
        if (!first && buf_append(out, "\n", 1) != 0) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        first = false;
        int r = cedar_policy_format(ps, i, out, e);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}
