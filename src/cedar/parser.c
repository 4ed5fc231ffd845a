/*
 * parser.c: recursive-descent parser for Cedar policies (Cedar 4.x grammar),
 * one function per grammar rule, building the AST of cedar_int.h in the
 * policy set's arena.  Expression nesting is bounded by LIMIT_CEDAR_DEPTH so
 * hostile input cannot overflow the stack.  Errors name the place:
 * "agents.cedar:12:7: expected ')' near 'when'".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"
#include "util/num.h"

struct parser {
    struct cedar_lexer lx;
    struct cedar_token tok;  /* current */
    struct cedar_token next; /* lookahead when has_next */
    bool has_next;
    struct cedar_policyset *ps;
    struct arena *a;
    struct err *e;
    unsigned depth;
    unsigned flags;
    bool in_scope; /* slots allowed */
};

static int perr(struct parser *p, const struct cedar_token *t, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static int perr(struct parser *p, const struct cedar_token *t, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (t->kind == TK_EOF) {
        return err_set(p->e, ERR_INVALID, "%s:%d:%d: %s near end of input",
                       p->lx.filename ? p->lx.filename : "<policy>", t->line, t->col, msg);
    }
    int n = t->len > 40 ? 40 : (int)t->len;
    return err_set(p->e, ERR_INVALID, "%s:%d:%d: %s near '%.*s'",
                   p->lx.filename ? p->lx.filename : "<policy>", t->line, t->col, msg, n, t->p);
}

static int advance(struct parser *p)
{
    if (p->has_next) {
        p->tok = p->next;
        p->has_next = false;
        return 0;
    }
    return cedar_lex_next(&p->lx, &p->tok, p->e);
}

static int peek(struct parser *p, const struct cedar_token **out)
{
    if (!p->has_next) {
        int r = cedar_lex_next(&p->lx, &p->next, p->e);
        if (r != 0) {
            return r;
        }
        p->has_next = true;
    }
    *out = &p->next;
    return 0;
}

static bool is_kw(const struct cedar_token *t, const char *kw)
{
    size_t n = strlen(kw);
    return t->kind == TK_IDENT && t->len == n && memcmp(t->p, kw, n) == 0;
}

static bool is_reserved(const struct cedar_token *t)
{
    return t->kind == TK_IDENT && (cedar_reserved_word(t->p, t->len) || is_kw(t, "__cedar"));
}

static const char *tok_name(enum cedar_tok k)
{
    switch (k) {
    case TK_LPAREN:
        return "'('";
    case TK_RPAREN:
        return "')'";
    case TK_LBRACE:
        return "'{'";
    case TK_RBRACE:
        return "'}'";
    case TK_LBRACKET:
        return "'['";
    case TK_RBRACKET:
        return "']'";
    case TK_COMMA:
        return "','";
    case TK_SEMI:
        return "';'";
    case TK_COLON:
        return "':'";
    case TK_STR:
        return "a string";
    case TK_IDENT:
        return "an identifier";
    default:
        return "a token";
    }
}

static int expect(struct parser *p, enum cedar_tok k)
{
    if (p->tok.kind != k) {
        return perr(p, &p->tok, "expected %s", tok_name(k));
    }
    return advance(p);
}

static int nomem(struct parser *p)
{
    return err_set(p->e, ERR_NOMEM, "out of memory");
}

static struct cedar_expr *node(struct parser *p, enum cedar_op op, const struct cedar_token *t,
                               size_t n)
{
    struct cedar_expr *x = arena_calloc(p->a, 1, sizeof(*x));
    if (x == NULL) {
        return NULL;
    }
    x->op = op;
    x->line = t->line;
    x->col = t->col;
    x->n = n;
    if (n) {
        x->a = arena_calloc(p->a, n, sizeof(*x->a));
        if (x->a == NULL) {
            return NULL;
        }
    }
    return x;
}

/* A growable list of expression pointers in the arena. */
struct xlist {
    struct cedar_expr **v;
    size_t n, cap;
};

static int xlist_push(struct parser *p, struct xlist *l, struct cedar_expr *x)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        struct cedar_expr **nv = arena_alloc(p->a, nc * sizeof(*nv));
        if (nv == NULL) {
            return nomem(p);
        }
        if (l->n) {
            memcpy(nv, l->v, l->n * sizeof(*nv));
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = x;
    return 0;
}

static int str_token(struct parser *p, const struct cedar_token *t, struct cedar_str *out)
{
    int r = cedar_unescape(p->a, t->p + 1, t->len - 2, out, p->e);
    if (r == ERR_INVALID) {
        char m[128];
        snprintf(m, sizeof(m), "%s", p->e->msg);
        return perr(p, t, "%s", m);
    }
    return r;
}

/* ---- names and entity literals ----------------------------------------- */

/* Path ::= IDENT {'::' IDENT}; stops before '::' STR.  On return p->tok is
 * the token after the path (possibly '::' followed by a string). */
static int parse_path(struct parser *p, struct cedar_str *out)
{
    /* Path ::= IDENT { '::' IDENT } */
    if (p->tok.kind != TK_IDENT) {
        return perr(p, &p->tok, "expected a name");
    }
    if (is_reserved(&p->tok)) {
        return perr(p, &p->tok, "'%.*s' is a reserved identifier", (int)p->tok.len, p->tok.p);
    }
    char *buf = arena_strndup(p->a, p->tok.p, p->tok.len);
    size_t n = p->tok.len;
    if (buf == NULL) {
        return nomem(p);
    }
    int r = advance(p);
    while (r == 0 && p->tok.kind == TK_COLONCOLON) {
        const struct cedar_token *nx;
        if ((r = peek(p, &nx)) != 0) {
            return r;
        }
        if (nx->kind != TK_IDENT) {
            break;
        }
        if (is_reserved(nx)) {
            return perr(p, nx, "'%.*s' is a reserved identifier", (int)nx->len, nx->p);
        }
        char *nb = arena_alloc(p->a, n + 2 + nx->len + 1);
        if (nb == NULL) {
            return nomem(p);
        }
        memcpy(nb, buf, n);
        memcpy(nb + n, "::", 2);
        memcpy(nb + n + 2, nx->p, nx->len);
        n += 2 + nx->len;
        nb[n] = '\0';
        buf = nb;
        if ((r = advance(p)) != 0 || (r = advance(p)) != 0) {
            return r;
        }
    }
    if (r != 0) {
        return r;
    }
    out->ptr = buf;
    out->len = n;
    return 0;
}

/* After a path, '::' STR makes an entity UID. */
static int parse_entity_tail(struct parser *p, const struct cedar_str *type, struct cedar_uid **out)
{
    /* Entity ::= Path '::' STR */
    int r = expect(p, TK_COLONCOLON);
    if (r != 0) {
        return r;
    }
    if (p->tok.kind != TK_STR) {
        return perr(p, &p->tok, "expected an entity id string");
    }
    struct cedar_str id;
    if ((r = str_token(p, &p->tok, &id)) != 0) {
        return r;
    }
    struct cedar_uid *u = arena_alloc(p->a, sizeof(*u));
    if (u == NULL) {
        return nomem(p);
    }
    cedar_uid_init(u, type->ptr, type->len, id.ptr, id.len);
    *out = u;
    return advance(p);
}

static int parse_entity(struct parser *p, struct cedar_uid **out)
{
    struct cedar_str type;
    int r = parse_path(p, &type);
    if (r != 0) {
        return r;
    }
    return parse_entity_tail(p, &type, out);
}

/* ---- expressions ------------------------------------------------------- */

static int parse_expr(struct parser *p, struct cedar_expr **out);

static int enter(struct parser *p)
{
    if (++p->depth > LIMIT_CEDAR_DEPTH) {
        return err_set(p->e, ERR_LIMIT, "%s:%d:%d: expression nested deeper than %d",
                       p->lx.filename ? p->lx.filename : "<policy>", p->tok.line, p->tok.col,
                       LIMIT_CEDAR_DEPTH);
    }
    return 0;
}

/* In enum cedar_fn order: the enum indexes it (cedar_int.h). */
const struct cedar_fninfo cedar_fns[CEDAR_NFNS] = {
    {"contains", FN_CONTAINS, true, 1},
    {"containsAll", FN_CONTAINS_ALL, true, 1},
    {"containsAny", FN_CONTAINS_ANY, true, 1},
    {"isEmpty", FN_IS_EMPTY, true, 0},
    {"getTag", FN_GET_TAG, true, 1},
    {"hasTag", FN_HAS_TAG, true, 1},
    {"ip", FN_IP, false, 1},
    {"decimal", FN_DECIMAL, false, 1},
    {"datetime", FN_DATETIME, false, 1},
    {"duration", FN_DURATION, false, 1},
    {"isIpv4", FN_IS_IPV4, true, 0},
    {"isIpv6", FN_IS_IPV6, true, 0},
    {"isLoopback", FN_IS_LOOPBACK, true, 0},
    {"isMulticast", FN_IS_MULTICAST, true, 0},
    {"isInRange", FN_IS_IN_RANGE, true, 1},
    {"lessThan", FN_LESS_THAN, true, 1},
    {"lessThanOrEqual", FN_LESS_THAN_OR_EQUAL, true, 1},
    {"greaterThan", FN_GREATER_THAN, true, 1},
    {"greaterThanOrEqual", FN_GREATER_THAN_OR_EQUAL, true, 1},
    {"offset", FN_OFFSET, true, 1},
    {"durationSince", FN_DURATION_SINCE, true, 1},
    {"toDate", FN_TO_DATE, true, 0},
    {"toTime", FN_TO_TIME, true, 0},
    {"toDays", FN_TO_DAYS, true, 0},
    {"toHours", FN_TO_HOURS, true, 0},
    {"toMinutes", FN_TO_MINUTES, true, 0},
    {"toSeconds", FN_TO_SECONDS, true, 0},
    {"toMilliseconds", FN_TO_MILLISECONDS, true, 0},
};

static const struct cedar_fninfo *find_fn(const char *s, size_t n)
{
    for (size_t i = 0; i < CEDAR_NFNS; i++) {
        if (strlen(cedar_fns[i].name) == n && memcmp(cedar_fns[i].name, s, n) == 0) {
            return &cedar_fns[i];
        }
    }
    return NULL;
}

/* '(' [Expr {',' Expr} [',']] ')' ; p->tok is '(' */
static int parse_args(struct parser *p, struct xlist *l, enum cedar_tok close)
{
    int r = advance(p);
    while (r == 0 && p->tok.kind != close) {
        struct cedar_expr *x = NULL;
        if ((r = parse_expr(p, &x)) != 0 || (r = xlist_push(p, l, x)) != 0) {
            return r;
        }
        if (p->tok.kind == TK_COMMA) {
            r = advance(p);
        } else if (p->tok.kind != close) {
            return perr(p, &p->tok, "expected ',' or %s", tok_name(close));
        }
    }
    if (r != 0) {
        return r;
    }
    return advance(p);
}

static int make_call(struct parser *p, const struct cedar_token *at, const struct cedar_fninfo *f,
                     struct cedar_expr *recv, struct xlist *args, struct cedar_expr **out)
{
    bool bad = (int)args->n != f->argc;
    if (bad && f->fn < FN_IP) {
        return perr(p, at, "call to '%s' takes %d argument%s, got %zu", f->name, f->argc,
                    f->argc == 1 ? "" : "s", args->n);
    }
    size_t n = args->n + (recv ? 1 : 0);
    struct cedar_expr *x = node(p, OP_CALL, at, n);
    if (x == NULL) {
        return nomem(p);
    }
    x->var = (int)f->fn;
    x->bad_arity = bad;
    size_t k = 0;
    if (recv) {
        x->a[k++] = recv;
    }
    for (size_t i = 0; i < args->n; i++) {
        x->a[k++] = args->v[i];
    }
    *out = x;
    return 0;
}

static int key_cmp(const void *x, const void *y)
{
    return cedar_str_cmp(*(const struct cedar_str *)x, *(const struct cedar_str *)y);
}

/* Sorting a copy keeps the duplicate check n log n for big literals. */
static bool has_dup_key(struct parser *p, const struct cedar_str *keys, size_t n)
{
    if (n < 2) {
        return false;
    }
    struct cedar_str *c = arena_alloc(p->a, n * sizeof(*c));
    if (c == NULL) {
        return true;
    }
    memcpy(c, keys, n * sizeof(*c));
    qsort(c, n, sizeof(*c), key_cmp);
    for (size_t i = 1; i < n; i++) {
        if (key_cmp(&c[i - 1], &c[i]) == 0) {
            return true;
        }
    }
    return false;
}

static int parse_record(struct parser *p, struct cedar_expr **out)
{
    /* Record ::= '{' [RecInit {',' RecInit} [',']] '}' ; RecInit ::= (IDENT|STR) ':' Expr */
    struct cedar_token at = p->tok;
    struct xlist vals = {0};
    struct cedar_str *keys = NULL;
    size_t kcap = 0;
    int r = advance(p);
    while (r == 0 && p->tok.kind != TK_RBRACE) {
        struct cedar_str k;
        if (p->tok.kind == TK_STR) {
            r = str_token(p, &p->tok, &k);
        } else if (p->tok.kind == TK_IDENT) {
            if (is_reserved(&p->tok)) {
                return perr(p, &p->tok, "'%.*s' is a reserved identifier", (int)p->tok.len,
                            p->tok.p);
            }
            k.ptr = arena_strndup(p->a, p->tok.p, p->tok.len);
            if (k.ptr == NULL) {
                return nomem(p);
            }
            k.len = p->tok.len;
        } else {
            return perr(p, &p->tok, "expected a record key");
        }
        struct cedar_expr *x;
        if (r != 0 || (r = advance(p)) != 0 || (r = expect(p, TK_COLON)) != 0 ||
            (r = parse_expr(p, &x)) != 0) {
            return r;
        }
        if (vals.n == kcap) {
            size_t nc = kcap ? kcap * 2 : 4;
            struct cedar_str *nk = arena_alloc(p->a, nc * sizeof(*nk));
            if (nk == NULL) {
                return nomem(p);
            }
            if (vals.n) {
                memcpy(nk, keys, vals.n * sizeof(*nk));
            }
            keys = nk;
            kcap = nc;
        }
        keys[vals.n] = k;
        if ((r = xlist_push(p, &vals, x)) != 0) {
            return r;
        }
        if (vals.n > LIMIT_CEDAR_RECORD_MAX) {
            return perr(p, &p->tok, "record literal too large");
        }
        if (p->tok.kind == TK_COMMA) {
            r = advance(p);
        } else if (p->tok.kind != TK_RBRACE) {
            return perr(p, &p->tok, "expected ',' or '}'");
        }
    }
    if (r != 0 || (r = advance(p)) != 0) {
        return r;
    }
    if (has_dup_key(p, keys, vals.n)) {
        return perr(p, &at, "duplicate key in record literal");
    }
    struct cedar_expr *x = node(p, OP_RECORD, &at, vals.n);
    if (x == NULL) {
        return nomem(p);
    }
    for (size_t i = 0; i < vals.n; i++) {
        x->a[i] = vals.v[i];
    }
    x->names = keys;
    *out = x;
    return 0;
}

static int parse_name_primary(struct parser *p, struct cedar_expr **out)
{
    /* Primary ::= Entity | VAR | ExtFun '(' [ExprList] ')' */
    struct cedar_token at = p->tok;
    static const char *const vars[] = {"principal", "action", "resource", "context"};
    const struct cedar_token *nx;
    int r = peek(p, &nx);
    if (r != 0) {
        return r;
    }
    if (nx->kind != TK_COLONCOLON && nx->kind != TK_LPAREN) {
        for (int i = 0; i < 4; i++) {
            if (is_kw(&at, vars[i])) {
                struct cedar_expr *x = node(p, OP_VAR, &at, 0);
                if (x == NULL) {
                    return nomem(p);
                }
                x->var = i;
                *out = x;
                return advance(p);
            }
        }
    }
    struct cedar_str path;
    if ((r = parse_path(p, &path)) != 0) {
        return r;
    }
    if (p->tok.kind == TK_LPAREN) {
        const struct cedar_fninfo *f = find_fn(path.ptr, path.len);
        if (f == NULL || f->method) {
            return perr(p, &at, "'%.*s' is not a function", (int)path.len, path.ptr);
        }
        struct xlist args = {0};
        if ((r = parse_args(p, &args, TK_RPAREN)) != 0) {
            return r;
        }
        return make_call(p, &at, f, NULL, &args, out);
    }
    if (p->tok.kind == TK_COLONCOLON) {
        struct cedar_uid *u;
        if ((r = parse_entity_tail(p, &path, &u)) != 0) {
            return r;
        }
        struct cedar_expr *x = node(p, OP_LIT, &at, 0);
        if (x == NULL) {
            return nomem(p);
        }
        x->lit.kind = CEDAR_ENTITY;
        x->lit.u.uid = u;
        *out = x;
        return 0;
    }
    return perr(p, &at, "unexpected name '%.*s'", (int)path.len, path.ptr);
}

static int parse_primary(struct parser *p, struct cedar_expr **out)
{
    /* Primary ::= LITERAL | VAR | Entity | ExtFun '(' [ExprList] ')' | '(' Expr ')'
     *           | '[' [ExprList] ']' | '{' [RecInits] '}' */
    struct cedar_token at = p->tok;
    struct cedar_expr *x;
    int r;
    switch (p->tok.kind) {
    case TK_INT: {
        int64_t v;
        if (num_parse_i64(at.p, at.len, INT64_MIN, INT64_MAX, &v) != 0) {
            if (at.len > 1 && at.p[0] == '0') {
                /* leading zeros are fine in Cedar: strip them */
                size_t i = 0;
                while (i + 1 < at.len && at.p[i] == '0') {
                    i++;
                }
                if (num_parse_i64(at.p + i, at.len - i, INT64_MIN, INT64_MAX, &v) == 0) {
                    goto ok;
                }
            }
            return perr(p, &at, "integer literal out of range");
        }
    ok:
        if ((x = node(p, OP_LIT, &at, 0)) == NULL) {
            return nomem(p);
        }
        x->lit = cedar_value_long(v);
        *out = x;
        return advance(p);
    }
    case TK_STR:
        if ((x = node(p, OP_LIT, &at, 0)) == NULL) {
            return nomem(p);
        }
        x->lit.kind = CEDAR_STRING;
        if ((r = str_token(p, &at, &x->lit.u.s)) != 0) {
            return r;
        }
        *out = x;
        return advance(p);
    case TK_SLOT:
        return perr(p, &at, "template slots are only allowed in the policy scope");
    case TK_LPAREN:
        if ((r = advance(p)) != 0 || (r = parse_expr(p, out)) != 0) {
            return r;
        }
        return expect(p, TK_RPAREN);
    case TK_LBRACKET: {
        struct xlist l = {0};
        if ((r = parse_args(p, &l, TK_RBRACKET)) != 0) {
            return r;
        }
        if ((x = node(p, OP_SET, &at, l.n)) == NULL) {
            return nomem(p);
        }
        for (size_t i = 0; i < l.n; i++) {
            x->a[i] = l.v[i];
        }
        *out = x;
        return 0;
    }
    case TK_LBRACE:
        return parse_record(p, out);
    case TK_IDENT:
        if (is_kw(&at, "true") || is_kw(&at, "false")) {
            if ((x = node(p, OP_LIT, &at, 0)) == NULL) {
                return nomem(p);
            }
            x->lit = cedar_value_bool(at.p[0] == 't');
            *out = x;
            return advance(p);
        }
        return parse_name_primary(p, out);
    default:
        return perr(p, &at, "expected an expression");
    }
}

static int parse_member(struct parser *p, struct cedar_expr **out)
{
    /* Member ::= Primary { Access } ; Access ::= '.' IDENT ['(' [ExprList] ')'] | '[' STR ']' */
    struct cedar_expr *x;
    unsigned depth0 = p->depth;
    int r = parse_primary(p, &x);
    while (r == 0) {
        struct cedar_token at = p->tok;
        if ((p->tok.kind == TK_DOT || p->tok.kind == TK_LBRACKET) && (r = enter(p)) != 0) {
            return r; /* each access nests the AST one level: it counts */
        }
        if (p->tok.kind == TK_DOT) {
            if ((r = advance(p)) != 0) {
                return r;
            }
            if (p->tok.kind != TK_IDENT) {
                return perr(p, &p->tok, "expected an attribute or method name");
            }
            struct cedar_token name = p->tok;
            if ((r = advance(p)) != 0) {
                return r;
            }
            if (p->tok.kind == TK_LPAREN) {
                const struct cedar_fninfo *f = find_fn(name.p, name.len);
                if (f == NULL || !f->method) {
                    return perr(p, &name, "'%.*s' is not a method", (int)name.len, name.p);
                }
                struct xlist args = {0};
                if ((r = parse_args(p, &args, TK_RPAREN)) != 0 ||
                    (r = make_call(p, &name, f, x, &args, &x)) != 0) {
                    return r;
                }
                continue;
            }
            if (is_reserved(&name)) {
                return perr(p, &name, "'%.*s' is a reserved identifier", (int)name.len, name.p);
            }
            struct cedar_expr *g = node(p, OP_GETATTR, &at, 1);
            if (g == NULL) {
                return nomem(p);
            }
            g->a[0] = x;
            g->name.ptr = arena_strndup(p->a, name.p, name.len);
            if (g->name.ptr == NULL) {
                return nomem(p);
            }
            g->name.len = name.len;
            x = g;
        } else if (p->tok.kind == TK_LBRACKET) {
            if ((r = advance(p)) != 0) {
                return r;
            }
            if (p->tok.kind != TK_STR) {
                return perr(p, &p->tok, "expected a string in '[...]'");
            }
            struct cedar_expr *g = node(p, OP_GETATTR, &at, 1);
            if (g == NULL) {
                return nomem(p);
            }
            if ((r = str_token(p, &p->tok, &g->name)) != 0 || (r = advance(p)) != 0 ||
                (r = expect(p, TK_RBRACKET)) != 0) {
                return r;
            }
            g->a[0] = x;
            x = g;
        } else {
            break;
        }
    }
    p->depth = depth0;
    if (r == 0) {
        *out = x;
    }
    return r;
}

static int parse_unary(struct parser *p, struct cedar_expr **out)
{
    /* Unary ::= ['!' | '-']x4 Member */
    struct cedar_token ops[8];
    size_t nops = 0;
    int r = 0;
    while (p->tok.kind == TK_BANG || p->tok.kind == TK_MINUS) {
        if (nops > 0 && p->tok.kind != ops[0].kind) {
            return perr(p, &p->tok, "mixed unary operators need parentheses");
        }
        if (nops == 4) {
            return perr(p, &p->tok, "too many unary operators (at most 4)");
        }
        ops[nops++] = p->tok;
        if ((r = advance(p)) != 0) {
            return r;
        }
    }
    struct cedar_expr *x = NULL;
    /* '-' directly before an integer literal is part of the literal, so that
     * -9223372036854775808 is valid */
    if (nops > 0 && ops[0].kind == TK_MINUS && p->tok.kind == TK_INT) {
        const struct cedar_token *nx;
        if ((r = peek(p, &nx)) != 0) {
            return r;
        }
        if (nx->kind != TK_DOT && nx->kind != TK_LBRACKET) {
            struct cedar_token at = p->tok;
            int64_t v;
            size_t i = 0;
            while (i + 1 < at.len && at.p[i] == '0') {
                i++;
            }
            char buf[32];
            if (at.len - i > 20) {
                return perr(p, &at, "integer literal out of range");
            }
            buf[0] = '-';
            memcpy(buf + 1, at.p + i, at.len - i);
            if (num_parse_i64(buf, at.len - i + 1, INT64_MIN, INT64_MAX, &v) != 0) {
                if (at.len - i == 1 && at.p[i] == '0') {
                    v = 0;
                } else {
                    return perr(p, &at, "integer literal out of range");
                }
            }
            if ((x = node(p, OP_LIT, &ops[nops - 1], 0)) == NULL) {
                return nomem(p);
            }
            x->lit = cedar_value_long(v);
            if ((r = advance(p)) != 0) {
                return r;
            }
            nops--;
            goto wrap;
        }
    }
    if ((r = parse_member(p, &x)) != 0) {
        return r;
    }
wrap:
    while (nops > 0) {
        nops--;
        struct cedar_expr *u = node(p, ops[nops].kind == TK_BANG ? OP_NOT : OP_NEG, &ops[nops], 1);
        if (u == NULL) {
            return nomem(p);
        }
        u->a[0] = x;
        x = u;
    }
    *out = x;
    return 0;
}

static int binary(struct parser *p, enum cedar_op op, const struct cedar_token *at,
                  struct cedar_expr *l, struct cedar_expr *rr, struct cedar_expr **out)
{
    struct cedar_expr *x = node(p, op, at, 2);
    if (x == NULL) {
        return nomem(p);
    }
    x->a[0] = l;
    x->a[1] = rr;
    *out = x;
    return 0;
}

typedef int (*operand_fn)(struct parser *p, struct cedar_expr **out);

/* A left-associative chain `x op x op x ...` as ONE n-ary node, so that a
 * 500-term `||` costs no nesting depth (the reference accepts long chains). */
static int parse_chain(struct parser *p, operand_fn operand, enum cedar_tok t1, enum cedar_tok t2,
                       enum cedar_op op, struct cedar_expr **out)
{
    struct xlist l = {0};
    struct cedar_expr *x;
    uint8_t *ops = NULL;
    size_t ocap = 0;
    struct cedar_token at = p->tok;
    int r = operand(p, &x);
    if (r != 0) {
        return r;
    }
    if (p->tok.kind != t1 && p->tok.kind != t2) {
        *out = x;
        return 0;
    }
    if ((r = xlist_push(p, &l, x)) != 0) {
        return r;
    }
    while (p->tok.kind == t1 || p->tok.kind == t2) {
        uint8_t o = p->tok.kind == TK_MINUS ? '-' : '+';
        if ((r = advance(p)) != 0 || (r = operand(p, &x)) != 0 || (r = xlist_push(p, &l, x)) != 0) {
            return r;
        }
        if (l.n > ocap) {
            size_t nc = ocap ? ocap * 2 : 8;
            uint8_t *no = arena_alloc(p->a, nc);
            if (no == NULL) {
                return nomem(p);
            }
            if (ocap) {
                memcpy(no, ops, ocap);
            }
            ops = no;
            ocap = nc;
        }
        ops[0] = '+';
        ops[l.n - 1] = o;
    }
    struct cedar_expr *c = node(p, op, &at, l.n);
    if (c == NULL) {
        return nomem(p);
    }
    memcpy(c->a, l.v, l.n * sizeof(*l.v));
    c->ops = ops;
    *out = c;
    return 0;
}

static int parse_mult(struct parser *p, struct cedar_expr **out)
{
    /* Mult ::= Unary { '*' Unary } */
    return parse_chain(p, parse_unary, TK_STAR, TK_STAR, OP_MUL, out);
}

static int parse_add(struct parser *p, struct cedar_expr **out)
{
    /* Add ::= Mult { ('+' | '-') Mult } */
    return parse_chain(p, parse_mult, TK_PLUS, TK_MINUS, OP_ADD, out);
}

static int parse_has(struct parser *p, struct cedar_expr *lhs, const struct cedar_token *at,
                     struct cedar_expr **out)
{
    /* Relation ::= Add 'has' (IDENT {'.' IDENT} | STR) */
    int r;
    struct cedar_str names[LIMIT_CEDAR_DEPTH];
    size_t n = 0;
    if (p->tok.kind == TK_STR) {
        if ((r = str_token(p, &p->tok, &names[0])) != 0) {
            return r;
        }
        n = 1;
        if ((r = advance(p)) != 0) {
            return r;
        }
    } else {
        for (;;) {
            if (p->tok.kind != TK_IDENT || is_reserved(&p->tok)) {
                return perr(p, &p->tok, "expected an attribute name after 'has'");
            }
            if (p->depth + n >= LIMIT_CEDAR_DEPTH) {
                /* the path nests the AST n levels: it counts against the depth */
                return perr(p, &p->tok, "attribute path too long");
            }
            names[n].ptr = arena_strndup(p->a, p->tok.p, p->tok.len);
            if (names[n].ptr == NULL) {
                return nomem(p);
            }
            names[n].len = p->tok.len;
            n++;
            if ((r = advance(p)) != 0) {
                return r;
            }
            if (p->tok.kind != TK_DOT) {
                break;
            }
            if ((r = advance(p)) != 0) {
                return r;
            }
        }
    }
    /* e has a.b.c  ==  e has a && e.a has b && e.a.b has c (one n-ary &&) */
    struct cedar_expr *all = n > 1 ? node(p, OP_AND, at, n) : NULL, *base = lhs;
    if (n > 1 && all == NULL) {
        return nomem(p);
    }
    for (size_t i = 0; i < n; i++) {
        struct cedar_expr *h = node(p, OP_HAS, at, 1);
        if (h == NULL) {
            return nomem(p);
        }
        h->a[0] = base;
        h->name = names[i];
        if (n == 1) {
            *out = h;
            return 0;
        }
        all->a[i] = h;
        struct cedar_expr *g = node(p, OP_GETATTR, at, 1);
        if (g == NULL) {
            return nomem(p);
        }
        g->a[0] = base;
        g->name = names[i];
        base = g;
    }
    *out = all;
    return 0;
}

static int parse_relation(struct parser *p, struct cedar_expr **out)
{
    /* Relation ::= Add [RELOP Add] | Add 'has' ... | Add 'like' PAT | Add 'is' Path ['in' Add] */
    struct cedar_expr *x = NULL, *y = NULL; /* set by parse_add (gcc -O3 cannot see it) */
    int r = parse_add(p, &x);
    if (r != 0) {
        return r;
    }
    struct cedar_token at = p->tok;
    enum cedar_op op;
    switch (at.kind) {
    case TK_EQ:
        op = OP_EQ;
        break;
    case TK_NE:
        op = OP_NE;
        break;
    case TK_LT:
        op = OP_LT;
        break;
    case TK_LE:
        op = OP_LE;
        break;
    case TK_GT:
        op = OP_GT;
        break;
    case TK_GE:
        op = OP_GE;
        break;
    case TK_ASSIGN:
        return perr(p, &at, "'=' is not an operator (use '==')");
    case TK_IDENT:
        if (is_kw(&at, "in")) {
            op = OP_IN;
            break;
        }
        if (is_kw(&at, "has")) {
            if ((r = advance(p)) != 0) {
                return r;
            }
            return parse_has(p, x, &at, out);
        }
        if (is_kw(&at, "like")) {
            if ((r = advance(p)) != 0) {
                return r;
            }
            if (p->tok.kind != TK_STR) {
                return perr(p, &p->tok, "expected a pattern string after 'like'");
            }
            struct cedar_expr *l = node(p, OP_LIKE, &at, 1);
            if (l == NULL) {
                return nomem(p);
            }
            l->a[0] = x;
            r = cedar_unescape_pattern(p->a, p->tok.p + 1, p->tok.len - 2, &l->pat, p->e);
            if (r == ERR_INVALID) {
                char m[128];
                snprintf(m, sizeof(m), "%s", p->e->msg);
                return perr(p, &p->tok, "%s", m);
            }
            if (r != 0 || (r = advance(p)) != 0) {
                return r;
            }
            *out = l;
            return 0;
        }
        if (is_kw(&at, "is")) {
            if ((r = advance(p)) != 0) {
                return r;
            }
            struct cedar_str type;
            if ((r = parse_path(p, &type)) != 0) {
                return r;
            }
            if (p->tok.kind == TK_COLONCOLON) {
                return perr(p, &p->tok, "expected an entity type after 'is'");
            }
            size_t n = 1;
            struct cedar_expr *rhs = NULL;
            if (is_kw(&p->tok, "in")) {
                if ((r = advance(p)) != 0 || (r = parse_add(p, &rhs)) != 0) {
                    return r;
                }
                n = 2;
            }
            struct cedar_expr *is = node(p, OP_IS, &at, n);
            if (is == NULL) {
                return nomem(p);
            }
            is->a[0] = x;
            if (rhs) {
                is->a[1] = rhs;
            }
            is->name = type;
            *out = is;
            return 0;
        }
        *out = x;
        return 0;
    default:
        *out = x;
        return 0;
    }
    if ((r = advance(p)) != 0 || (r = parse_add(p, &y)) != 0) {
        return r;
    }
    return binary(p, op, &at, x, y, out);
}

static int parse_and(struct parser *p, struct cedar_expr **out)
{
    /* And ::= Relation { '&&' Relation } */
    return parse_chain(p, parse_relation, TK_AND, TK_AND, OP_AND, out);
}

static int parse_or(struct parser *p, struct cedar_expr **out)
{
    /* Or ::= And { '||' And } */
    return parse_chain(p, parse_and, TK_OR, TK_OR, OP_OR, out);
}

static int parse_expr(struct parser *p, struct cedar_expr **out)
{
    /* Expr ::= Or | 'if' Expr 'then' Expr 'else' Expr */
    int r = enter(p);
    if (r != 0) {
        return r;
    }
    if (is_kw(&p->tok, "if")) {
        struct cedar_token at = p->tok;
        struct cedar_expr *c, *t, *f;
        if ((r = advance(p)) != 0 || (r = parse_expr(p, &c)) != 0) {
            return r;
        }
        if (!is_kw(&p->tok, "then")) {
            return perr(p, &p->tok, "expected 'then'");
        }
        if ((r = advance(p)) != 0 || (r = parse_expr(p, &t)) != 0) {
            return r;
        }
        if (!is_kw(&p->tok, "else")) {
            return perr(p, &p->tok, "expected 'else'");
        }
        if ((r = advance(p)) != 0 || (r = parse_expr(p, &f)) != 0) {
            return r;
        }
        struct cedar_expr *x = node(p, OP_IF, &at, 3);
        if (x == NULL) {
            return nomem(p);
        }
        x->a[0] = c;
        x->a[1] = t;
        x->a[2] = f;
        *out = x;
    } else if ((r = parse_or(p, out)) != 0) {
        return r;
    }
    p->depth--;
    return 0;
}

/* ---- policies ---------------------------------------------------------- */

static int parse_scope_target(struct parser *p, int which, struct cedar_scope *s)
{
    /* (Entity | Slot) */
    if (p->tok.kind == TK_SLOT) {
        bool want_principal = which == 0;
        if (which == 1 || (p->tok.len == 10) != want_principal) {
            return perr(p, &p->tok, "wrong template slot here");
        }
        s->slot = true;
        s->uid = NULL;
        return advance(p);
    }
    struct cedar_uid *u;
    int r = parse_entity(p, &u);
    if (r == 0) {
        s->uid = u;
    }
    return r;
}

static int parse_scope(struct parser *p, int which, struct cedar_scope *s)
{
    /* Principal ::= 'principal' [('is' PATH ['in' (Entity|Slot)]) | (('=='|'in') (Entity|Slot))]
     * Action ::= 'action' [('==' Entity) | ('in' ('[' EntList ']' | Entity))] */
    static const char *const names[] = {"principal", "action", "resource"};
    if (!is_kw(&p->tok, names[which])) {
        return perr(p, &p->tok, "expected '%s'", names[which]);
    }
    int r = advance(p);
    if (r != 0) {
        return r;
    }
    memset(s, 0, sizeof(*s));
    if (p->tok.kind == TK_EQ) {
        s->op = SCOPE_EQ;
        if ((r = advance(p)) != 0 || (r = parse_scope_target(p, which, s)) != 0) {
            return r;
        }
    } else if (is_kw(&p->tok, "in")) {
        s->op = SCOPE_IN;
        if ((r = advance(p)) != 0) {
            return r;
        }
        if (which == 1 && p->tok.kind == TK_LBRACKET) {
            s->op = SCOPE_IN_SET;
            struct cedar_uid *v = NULL;
            size_t cap = 0;
            struct cedar_token open = p->tok;
            r = advance(p);
            while (r == 0 && p->tok.kind != TK_RBRACKET) {
                struct cedar_uid *u;
                if ((r = parse_entity(p, &u)) != 0) {
                    return r;
                }
                if (!cedar_is_action_type(&u->type)) {
                    return perr(p, &open, "expected action entities in the action scope");
                }
                if (s->nuids == cap) {
                    size_t nc = cap ? cap * 2 : 4;
                    struct cedar_uid *nv = arena_alloc(p->a, nc * sizeof(*nv));
                    if (nv == NULL) {
                        return nomem(p);
                    }
                    if (s->nuids) {
                        memcpy(nv, v, s->nuids * sizeof(*nv));
                    }
                    v = nv;
                    cap = nc;
                }
                v[s->nuids++] = *u;
                if (p->tok.kind == TK_COMMA) {
                    r = advance(p);
                } else if (p->tok.kind != TK_RBRACKET) {
                    return perr(p, &p->tok, "expected ',' or ']'");
                }
            }
            if (r != 0 || (r = advance(p)) != 0) {
                return r;
            }
            s->uids = v;
        } else if ((r = parse_scope_target(p, which, s)) != 0) {
            return r;
        }
    } else if (is_kw(&p->tok, "is")) {
        if (which == 1) {
            return perr(p, &p->tok, "'is' is not allowed in the action scope");
        }
        s->op = SCOPE_IS;
        if ((r = advance(p)) != 0 || (r = parse_path(p, &s->type)) != 0) {
            return r;
        }
        if (is_kw(&p->tok, "in")) {
            s->op = SCOPE_IS_IN;
            if ((r = advance(p)) != 0 || (r = parse_scope_target(p, which, s)) != 0) {
                return r;
            }
        }
    }
    if (which == 1 && s->uid != NULL && !cedar_is_action_type(&s->uid->type)) {
        return perr(p, &p->tok, "expected an action entity in the action scope");
    }
    return 0;
}

static int parse_annotation(struct parser *p, struct cedar_annotation *an)
{
    /* Annotation ::= '@' IDENT ['(' STR ')'] */
    int r = advance(p);
    if (r != 0) {
        return r;
    }
    if (p->tok.kind != TK_IDENT) {
        return perr(p, &p->tok, "expected an annotation name");
    }
    an->key.ptr = arena_strndup(p->a, p->tok.p, p->tok.len);
    if (an->key.ptr == NULL) {
        return nomem(p);
    }
    an->key.len = p->tok.len;
    an->value.ptr = "";
    an->value.len = 0;
    an->has_value = false;
    if ((r = advance(p)) != 0) {
        return r;
    }
    if (p->tok.kind == TK_LPAREN) {
        if ((r = advance(p)) != 0) {
            return r;
        }
        if (p->tok.kind != TK_STR) {
            return perr(p, &p->tok, "expected a string");
        }
        an->has_value = true;
        if ((r = str_token(p, &p->tok, &an->value)) != 0 || (r = advance(p)) != 0) {
            return r;
        }
        return expect(p, TK_RPAREN);
    }
    return 0;
}

static int parse_policy(struct parser *p)
{
    /* Policy ::= {Annotation} ('permit' | 'forbid') '(' Scope ')' {Condition} ';' */
    struct cedar_policy *pol = arena_calloc(p->a, 1, sizeof(*pol));
    struct cedar_annotation annos[64];
    int r = 0;
    if (pol == NULL) {
        return nomem(p);
    }
    while (p->tok.kind == TK_AT) {
        if (pol->nannos == 64) {
            return perr(p, &p->tok, "too many annotations");
        }
        struct cedar_token at = p->tok;
        if ((r = parse_annotation(p, &annos[pol->nannos])) != 0) {
            return r;
        }
        for (size_t i = 0; i < pol->nannos; i++) {
            if (annos[i].key.len == annos[pol->nannos].key.len &&
                memcmp(annos[i].key.ptr, annos[pol->nannos].key.ptr, annos[i].key.len) == 0) {
                return perr(p, &at, "duplicate annotation");
            }
        }
        pol->nannos++;
    }
    pol->line = p->tok.line;
    pol->col = p->tok.col;
    if (is_kw(&p->tok, "permit")) {
        pol->forbid = false;
    } else if (is_kw(&p->tok, "forbid")) {
        pol->forbid = true;
    } else {
        return perr(p, &p->tok, "expected 'permit' or 'forbid'");
    }
    if ((r = advance(p)) != 0 || (r = expect(p, TK_LPAREN)) != 0) {
        return r;
    }
    struct cedar_scope *scopes[3] = {&pol->principal, &pol->action, &pol->resource};
    for (int i = 0; i < 3; i++) {
        if (i > 0 && (r = expect(p, TK_COMMA)) != 0) {
            return r;
        }
        if ((r = parse_scope(p, i, scopes[i])) != 0) {
            return r;
        }
    }
    /* the reference accepts a trailing comma after the resource */
    if (p->tok.kind == TK_COMMA && (r = advance(p)) != 0) {
        return r;
    }
    if ((r = expect(p, TK_RPAREN)) != 0) {
        return r;
    }
    pol->is_template = pol->principal.slot || pol->resource.slot;
    struct xlist conds = {0};
    while (is_kw(&p->tok, "when") || is_kw(&p->tok, "unless")) {
        struct cedar_token at = p->tok;
        bool unless = at.p[0] == 'u';
        struct cedar_expr *x;
        if ((r = advance(p)) != 0 || (r = expect(p, TK_LBRACE)) != 0) {
            return r;
        }
        if (p->tok.kind == TK_RBRACE) {
            return perr(p, &p->tok, "empty condition");
        }
        if ((r = parse_expr(p, &x)) != 0 || (r = expect(p, TK_RBRACE)) != 0) {
            return r;
        }
        if (unless) {
            struct cedar_expr *n = node(p, OP_NOT, &at, 1);
            if (n == NULL) {
                return nomem(p);
            }
            n->unless = true;
            n->a[0] = x;
            x = n;
        }
        if ((r = xlist_push(p, &conds, x)) != 0) {
            return r;
        }
    }
    if (p->tok.kind != TK_SEMI) {
        return perr(p, &p->tok, "expected ';'");
    }
    if ((r = advance(p)) != 0) {
        return r;
    }
    pol->conds = conds.v;
    pol->nconds = conds.n;
    if (pol->nannos) {
        pol->annos = arena_alloc(p->a, pol->nannos * sizeof(*pol->annos));
        if (pol->annos == NULL) {
            return nomem(p);
        }
        memcpy(pol->annos, annos, pol->nannos * sizeof(*annos));
    }
    const char *id = NULL;
    if (p->flags & CEDAR_PARSE_ID_ANNOTATION) {
        for (size_t i = 0; i < pol->nannos; i++) {
            if (pol->annos[i].key.len == 2 && memcmp(pol->annos[i].key.ptr, "id", 2) == 0) {
                id = arena_strndup(p->a, pol->annos[i].value.ptr, pol->annos[i].value.len);
            }
        }
    }
    if (id == NULL) {
        id = arena_printf(p->a, "policy%zu", p->ps->n);
    }
    if (id == NULL) {
        return nomem(p);
    }
    pol->id = id;
    if (p->ps->n >= LIMIT_CEDAR_POLICIES) {
        return err_set(p->e, ERR_LIMIT, "more than %d policies", LIMIT_CEDAR_POLICIES);
    }
    return cedar_ps_append(p->ps, pol) == 0 ? 0 : nomem(p);
}

int cedar_parse_into(struct cedar_policyset *ps, const char *text, size_t len, const char *filename,
                     unsigned flags, struct err *e)
{
    if (len > LIMIT_CEDAR_POLICY_TEXT) {
        return err_set(e, ERR_LIMIT, "%s: policy text of %zu bytes exceeds the limit of %d",
                       filename ? filename : "<policy>", len, LIMIT_CEDAR_POLICY_TEXT);
    }
    struct parser p = {0};
    p.lx.src = text;
    p.lx.len = len;
    p.lx.line = 1;
    p.lx.filename = filename;
    p.ps = ps;
    p.a = &ps->arena;
    p.e = e;
    p.flags = flags;
    int r = advance(&p);
    while (r == 0 && p.tok.kind != TK_EOF) {
        r = parse_policy(&p);
    }
    return r;
}
