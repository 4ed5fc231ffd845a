/*
 * schema.c: parser for the Cedar schema syntax (.cedarschema), Cedar 4.10.
 *
 * Two phases.  The parser (one function per grammar rule) reads namespaces,
 * entity, action and common type declarations with their annotations into
 * parse-time lists, keeping every type reference as written (CEDAR_ST_REF).
 * The resolver then sorts the declarations, rejects duplicates, resolves each
 * reference the way the reference does (RFC 24: for an unqualified name, the
 * current namespace, then the empty namespace, then __cedar; at each step a
 * common type before an entity type), inlines common types (refusing cycles)
 * and resolves action groups (refusing undeclared actions and cycles).  The
 * result is the immutable struct cedar_schema of schema_int.h.
 */
#include "cedar/schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/limits.h"

/* ---- lexer --------------------------------------------------------------- */

enum stok {
    S_EOF = 0,
    S_IDENT,
    S_STR,
    S_LBRACE,
    S_RBRACE,
    S_LBRACKET,
    S_RBRACKET,
    S_LT,
    S_GT,
    S_COMMA,
    S_SEMI,
    S_COLON,
    S_COLONCOLON,
    S_QUESTION,
    S_EQ,
    S_AT,
    S_LPAREN,
    S_RPAREN
};

struct stoken {
    enum stok kind;
    const char *p;
    size_t len;
    int line, col;
};

/* Parse-time lists: arrays of pointers grown with realloc, freed at the end. */
struct vec {
    void **p;
    size_t n, cap;
};

struct aref {              /* an action reference in `in [..]`, as written */
    struct cedar_str path; /* "" when only the name was given */
    struct cedar_str id;
    int line, col;
};

struct pentity {
    struct cedar_sentity ent;
    struct cedar_stype **parents; /* REF */
    size_t nparents;
};

struct paction {
    struct cedar_saction act;
    struct cedar_str ns;
    struct aref *refs;
    size_t nrefs;
    struct cedar_stype **principals, **resources; /* REF */
    int state;                                    /* cycle check: 0 new, 1 on stack, 2 done */
};

struct pcommon {
    struct cedar_scommon com;
    struct cedar_stype *raw;
    int state; /* 0 unresolved, 1 resolving, 2 resolved */
    int line, col;
};

struct sp {
    const char *src;
    size_t len, pos;
    int line;
    size_t line_start;
    const char *filename;
    struct stoken tok; /* current token */
    struct arena *a;
    struct err *e;
    unsigned depth;
    struct vec ents, acts, coms, nss;
    struct cedar_str ns; /* namespace being parsed */
    struct cedar_schema *s;
};

static int vec_push(struct sp *p, struct vec *v, void *x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        void **np = realloc(v->p, cap * sizeof(*np));
        if (np == NULL) {
            return err_set(p->e, ERR_NOMEM, "out of memory");
        }
        v->p = np;
        v->cap = cap;
    }
    v->p[v->n++] = x;
    return 0;
}

static int perr(struct sp *p, int line, int col, const char *fmt, ...) PRINTF_LIKE(4, 5);
static int perr(struct sp *p, int line, int col, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(p->e, ERR_INVALID, "%s:%d:%d: %s", p->filename, line, col, msg);
}

static int nomem(struct sp *p)
{
    return err_set(p->e, ERR_NOMEM, "out of memory");
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
    return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Skips white space and // comments. */
static void skip_space(struct sp *p)
{
    while (p->pos < p->len) {
        char c = p->src[p->pos];
        if (c == '\n') {
            p->pos++;
            p->line++;
            p->line_start = p->pos;
        } else if (c == ' ' || c == '\t' || c == '\r') {
            p->pos++;
        } else if (c == '/' && p->pos + 1 < p->len && p->src[p->pos + 1] == '/') {
            while (p->pos < p->len && p->src[p->pos] != '\n') {
                p->pos++;
            }
        } else {
            return;
        }
    }
}

static const char *tok_desc(const struct stoken *t, char *buf, size_t cap)
{
    if (t->kind == S_EOF) {
        return "end of input";
    }
    snprintf(buf, cap, "'%.*s'", (int)(t->len > 32 ? 32 : t->len), t->p);
    return buf;
}

/* Reads the next token into p->tok. */
static int next(struct sp *p)
{
    skip_space(p);
    struct stoken *t = &p->tok;
    t->p = p->src + p->pos;
    t->line = p->line;
    t->col = (int)(p->pos - p->line_start) + 1;
    t->len = 1;
    if (p->pos >= p->len) {
        t->kind = S_EOF;
        t->len = 0;
        return 0;
    }
    char c = p->src[p->pos];
    if (is_ident_start(c)) {
        size_t i = p->pos + 1;
        while (i < p->len && is_ident_char(p->src[i])) {
            i++;
        }
        t->kind = S_IDENT;
        t->len = i - p->pos;
        p->pos = i;
        return 0;
    }
    if (c == '"') {
        size_t i = p->pos + 1;
        while (i < p->len && p->src[i] != '"') {
            if (p->src[i] == '\n') {
                p->line++;
                p->line_start = i + 1;
            }
            i += (p->src[i] == '\\' && i + 1 < p->len) ? 2 : 1;
        }
        if (i >= p->len) {
            return perr(p, t->line, t->col, "unterminated string");
        }
        t->kind = S_STR;
        t->len = i + 1 - p->pos;
        p->pos = i + 1;
        return 0;
    }
    static const struct {
        char c;
        enum stok k;
    } punct[] = {{'{', S_LBRACE},   {'}', S_RBRACE}, {'[', S_LBRACKET}, {']', S_RBRACKET},
                 {'<', S_LT},       {'>', S_GT},     {',', S_COMMA},    {';', S_SEMI},
                 {'?', S_QUESTION}, {'=', S_EQ},     {'@', S_AT},       {'(', S_LPAREN},
                 {')', S_RPAREN}};
    if (c == ':') {
        bool two = p->pos + 1 < p->len && p->src[p->pos + 1] == ':';
        t->kind = two ? S_COLONCOLON : S_COLON;
        t->len = two ? 2 : 1;
        p->pos += t->len;
        return 0;
    }
    for (size_t i = 0; i < sizeof(punct) / sizeof(punct[0]); i++) {
        if (punct[i].c == c) {
            t->kind = punct[i].k;
            p->pos++;
            return 0;
        }
    }
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
        return perr(p, t->line, t->col, "unexpected character 0x%02x", (unsigned char)c);
    }
    return perr(p, t->line, t->col, "unexpected character '%c'", c);
}

static bool is_kw(const struct sp *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->tok.kind == S_IDENT && p->tok.len == n && memcmp(p->tok.p, kw, n) == 0;
}

static int expect(struct sp *p, enum stok k, const char *what)
{
    if (p->tok.kind != k) {
        char b[48];
        return perr(p, p->tok.line, p->tok.col, "expected %s, found %s", what,
                    tok_desc(&p->tok, b, sizeof(b)));
    }
    return next(p);
}

/* The current token must be an identifier usable as a name. */
static int name_ident(struct sp *p, const char *what)
{
    if (p->tok.kind != S_IDENT) {
        return expect(p, S_IDENT, what);
    }
    /* reserved words cannot name anything (entity and common types,
     * attributes, namespaces, actions), as in the reference */
    if (cedar_reserved_word(p->tok.p, p->tok.len)) {
        return perr(p, p->tok.line, p->tok.col, "`%.*s` is a reserved identifier", (int)p->tok.len,
                    p->tok.p);
    }
    if (p->tok.len == 7 && memcmp(p->tok.p, "__cedar", 7) == 0) {
        return perr(p, p->tok.line, p->tok.col, "`__cedar` is reserved");
    }
    return 0;
}

/* The value of the current string token (escapes decoded) into *out. */
static int str_value(struct sp *p, struct cedar_str *out)
{
    struct err e2;
    err_clear(&e2);
    if (cedar_unescape(p->a, p->tok.p + 1, p->tok.len - 2, out, &e2) != 0) {
        if (e2.code == ERR_NOMEM) {
            return nomem(p);
        }
        return perr(p, p->tok.line, p->tok.col, "%s", e2.msg);
    }
    return 0;
}

/* The current token's text, copied into the arena: the schema must not
 * point into the caller's text.  ptr is NULL when memory runs out. */
static struct cedar_str tok_str(const struct sp *p)
{
    struct cedar_str s = {arena_strndup(p->a, p->tok.p, p->tok.len), p->tok.len};
    return s;
}

/* "ns::name" (or name when ns is empty) in the arena. */
static int qualify(struct sp *p, struct cedar_str ns, struct cedar_str name, struct cedar_str *out)
{
    size_t n = ns.len ? ns.len + 2 + name.len : name.len;
    char *b = arena_alloc(p->a, n + 1);
    if (b == NULL) {
        return nomem(p);
    }
    if (ns.len) {
        memcpy(b, ns.ptr, ns.len);
        memcpy(b + ns.len, "::", 2);
    }
    memcpy(b + n - name.len, name.ptr, name.len);
    b[n] = '\0';
    out->ptr = b;
    out->len = n;
    return 0;
}

static bool str_is(struct cedar_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && memcmp(s.ptr, lit, n) == 0;
}

/* ---- parser: annotations, names, types ------------------------------------ */

/* Annotations := {'@' IDENT ['(' STR ')']} */
static int parse_annotations(struct sp *p, const struct cedar_annotation **out, size_t *nout)
{
    struct cedar_annotation *arr = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    *out = NULL;
    *nout = 0;
    while (p->tok.kind == S_AT) {
        if ((r = next(p)) != 0) {
            return r;
        }
        if (p->tok.kind != S_IDENT) {
            return expect(p, S_IDENT, "an annotation name");
        }
        if (n == LIMIT_CEDAR_SCHEMA_ANNOTATIONS) {
            return perr(p, p->tok.line, p->tok.col, "too many annotations (limit %d)",
                        LIMIT_CEDAR_SCHEMA_ANNOTATIONS);
        }
        struct cedar_annotation an = {tok_str(p), {"", 0}, false};
        if (an.key.ptr == NULL) {
            return nomem(p);
        }
        for (size_t i = 0; i < n; i++) {
            if (cedar_str_cmp(arr[i].key, an.key) == 0) {
                return perr(p, p->tok.line, p->tok.col, "duplicate annotation @%.*s",
                            (int)an.key.len, an.key.ptr);
            }
        }
        if ((r = next(p)) != 0) {
            return r;
        }
        if (p->tok.kind == S_LPAREN) {
            if ((r = next(p)) != 0) {
                return r;
            }
            if (p->tok.kind != S_STR) {
                return expect(p, S_STR, "a string");
            }
            an.has_value = true;
            if ((r = str_value(p, &an.value)) != 0 || (r = next(p)) != 0 ||
                (r = expect(p, S_RPAREN, "')'")) != 0) {
                return r;
            }
        }
        if (n == cap) { /* grow in the arena: annotations are few */
            size_t ncap = cap ? cap * 2 : 8;
            struct cedar_annotation *na = arena_calloc(p->a, ncap, sizeof(*na));
            if (na == NULL) {
                return nomem(p);
            }
            if (n) {
                memcpy(na, arr, n * sizeof(*na));
            }
            arr = na;
            cap = ncap;
        }
        arr[n++] = an;
    }
    *out = arr;
    *nout = n;
    return 0;
}

/* Path := IDENT {'::' IDENT}; the text span as written.  When stop_at_str,
 * a '::' followed by a string is left unread (action references). */
static int parse_path(struct sp *p, struct cedar_str *out, int *line, int *col)
{
    if (p->tok.kind != S_IDENT) {
        return expect(p, S_IDENT, "a name");
    }
    if (cedar_reserved_word(p->tok.p, p->tok.len)) {
        return name_ident(p, "a name");
    }
    const char *start = p->tok.p;
    *line = p->tok.line;
    *col = p->tok.col;
    size_t end = (size_t)(p->tok.p + p->tok.len - p->src);
    int r = next(p);
    while (r == 0 && p->tok.kind == S_COLONCOLON) {
        size_t save_pos = p->pos, save_ls = p->line_start;
        int save_line = p->line;
        struct stoken save = p->tok;
        if ((r = next(p)) != 0) {
            return r;
        }
        if (p->tok.kind == S_IDENT && cedar_reserved_word(p->tok.p, p->tok.len)) {
            return name_ident(p, "a name");
        }
        if (p->tok.kind != S_IDENT) {
            /* leave "::" for the caller (e.g. Action::"id") */
            p->pos = save_pos;
            p->line = save_line;
            p->line_start = save_ls;
            p->tok = save;
            break;
        }
        end = (size_t)(p->tok.p + p->tok.len - p->src);
        r = next(p);
    }
    if (r != 0) {
        return r;
    }
    /* Strip white space and comments between the parts: rebuild "A::B". */
    size_t n = 0;
    char *b = arena_alloc(p->a, (size_t)(p->src + end - start) + 1);
    if (b == NULL) {
        return nomem(p);
    }
    for (const char *q = start; q < p->src + end;) {
        if (*q == '/' && q + 1 < p->src + end && q[1] == '/') {
            while (q < p->src + end && *q != '\n') {
                q++;
            }
        } else if (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n') {
            q++;
        } else {
            b[n++] = *q++;
        }
    }
    b[n] = '\0';
    out->ptr = b;
    out->len = n;
    return 0;
}

static struct cedar_stype *new_type(struct sp *p, enum cedar_stype_kind k)
{
    struct cedar_stype *t = arena_calloc(p->a, 1, sizeof(*t));
    if (t != NULL) {
        t->kind = k;
    }
    return t;
}

static int parse_type(struct sp *p, struct cedar_stype **out);

struct iattr {
    const struct cedar_sattr *a;
    size_t idx; /* declaration order */
};

static int iattr_cmp(const void *x, const void *y)
{
    const struct iattr *a = x, *b = y;
    int c = cedar_str_cmp(a->a->name, b->a->name);
    return c ? c : (a->idx < b->idx ? -1 : 1);
}

/* RecType := '{' [AttrDecls] '}'
 * AttrDecls := Annotations Name ['?'] ':' Type [',' | ',' AttrDecls] */
static int parse_record(struct sp *p, struct cedar_stype **out)
{
    int line = p->tok.line, col = p->tok.col, r;
    struct vec attrs = {0};
    if ((r = expect(p, S_LBRACE, "'{'")) != 0) {
        return r;
    }
    while (p->tok.kind != S_RBRACE) {
        struct cedar_sattr *at = arena_calloc(p->a, 1, sizeof(*at));
        if (at == NULL) {
            r = nomem(p);
            goto out;
        }
        if ((r = parse_annotations(p, &at->annos, &at->nannos)) != 0) {
            goto out;
        }
        if (p->tok.kind == S_STR) {
            r = str_value(p, &at->name);
        } else if (p->tok.kind == S_IDENT) {
            if ((r = name_ident(p, "an attribute name")) == 0) {
                at->name = tok_str(p);
                r = at->name.ptr ? 0 : nomem(p);
            }
        } else {
            r = expect(p, S_IDENT, "an attribute name or '}'");
        }
        if (r != 0 || (r = next(p)) != 0) {
            goto out;
        }
        at->required = true;
        if (p->tok.kind == S_QUESTION) {
            at->required = false;
            if ((r = next(p)) != 0) {
                goto out;
            }
        }
        struct cedar_stype *t;
        if ((r = expect(p, S_COLON, "':'")) != 0 || (r = parse_type(p, &t)) != 0) {
            goto out;
        }
        at->type = t;
        if (attrs.n >= LIMIT_CEDAR_RECORD_MAX) {
            r = perr(p, line, col, "record type has too many attributes");
            goto out;
        }
        if ((r = vec_push(p, &attrs, at)) != 0) {
            goto out;
        }
        if (p->tok.kind != S_COMMA) {
            break;
        }
        if ((r = next(p)) != 0) {
            goto out;
        }
    }
    if ((r = expect(p, S_RBRACE, "',' or '}'")) != 0) {
        goto out;
    }
    struct cedar_stype *t = new_type(p, CEDAR_ST_RECORD);
    struct cedar_sattr *arr = arena_calloc(p->a, attrs.n ? attrs.n : 1, sizeof(*arr));
    if (t == NULL || arr == NULL) {
        r = nomem(p);
        goto out;
    }
    /* A name declared twice keeps its last declaration, as the reference
     * (which collects the attributes into a map) does. */
    struct iattr *ia = calloc(attrs.n ? attrs.n : 1, sizeof(*ia));
    if (ia == NULL) {
        r = nomem(p);
        goto out;
    }
    for (size_t i = 0; i < attrs.n; i++) {
        ia[i].a = attrs.p[i];
        ia[i].idx = i;
    }
    if (attrs.n > 1) {
        qsort(ia, attrs.n, sizeof(*ia), iattr_cmp);
    }
    size_t k = 0;
    for (size_t i = 0; i < attrs.n; i++) {
        if (i + 1 < attrs.n && cedar_str_cmp(ia[i].a->name, ia[i + 1].a->name) == 0) {
            continue; /* a later declaration of the same name follows */
        }
        arr[k++] = *ia[i].a;
    }
    free(ia);
    t->attrs = arr;
    t->nattrs = k;
    *out = t;
    r = 0;
out:
    free(attrs.p);
    return r;
}

/* Type := Path | 'Set' '<' Type '>' | RecType */
/* True when the token after the current one is '<' (`Set<..>` rather than
 * a type named Set). */
static bool set_follows_lt(const struct sp *p)
{
    size_t i = p->pos;
    for (;;) {
        while (i < p->len &&
               (p->src[i] == ' ' || p->src[i] == '\t' || p->src[i] == '\r' || p->src[i] == '\n')) {
            i++;
        }
        if (i + 1 < p->len && p->src[i] == '/' && p->src[i + 1] == '/') {
            while (i < p->len && p->src[i] != '\n') {
                i++;
            }
            continue;
        }
        return i < p->len && p->src[i] == '<';
    }
}

static int parse_type(struct sp *p, struct cedar_stype **out)
{
    int r;
    if (++p->depth > LIMIT_CEDAR_SCHEMA_DEPTH) {
        return perr(p, p->tok.line, p->tok.col, "types nested too deeply (limit %d)",
                    LIMIT_CEDAR_SCHEMA_DEPTH);
    }
    if (p->tok.kind == S_LBRACE) {
        r = parse_record(p, out);
    } else if (is_kw(p, "Set") && p->pos < p->len && set_follows_lt(p)) {
        struct cedar_stype *t = new_type(p, CEDAR_ST_SET), *elem;
        if (t == NULL) {
            return nomem(p);
        }
        if ((r = next(p)) != 0 || (r = expect(p, S_LT, "'<'")) != 0 ||
            (r = parse_type(p, &elem)) != 0 || (r = expect(p, S_GT, "'>'")) != 0) {
            return r;
        }
        t->elem = elem;
        *out = t;
    } else {
        struct cedar_stype *t = new_type(p, CEDAR_ST_REF);
        if (t == NULL) {
            return nomem(p);
        }
        if ((r = parse_path(p, &t->name, &t->line, &t->col)) != 0) {
            return r;
        }
        t->ns = p->ns;
        *out = t;
    }
    p->depth--;
    return r;
}

/* EntOrTyps := Path | '[' [Path {',' Path}] ']'  (into an arena array of REFs) */
static int parse_ent_types(struct sp *p, struct cedar_stype ***out, size_t *nout)
{
    struct vec v = {0};
    int r;
    bool list = p->tok.kind == S_LBRACKET;
    if (list && (r = next(p)) != 0) {
        return r;
    }
    /* no trailing comma: after a comma an element must follow */
    bool more = !list || p->tok.kind != S_RBRACKET;
    while (more) {
        struct cedar_stype *t = new_type(p, CEDAR_ST_REF);
        if (t == NULL) {
            r = nomem(p);
            goto out;
        }
        if ((r = parse_path(p, &t->name, &t->line, &t->col)) != 0 ||
            (r = vec_push(p, &v, t)) != 0) {
            goto out;
        }
        t->ns = p->ns;
        if (!list || p->tok.kind != S_COMMA) {
            break;
        }
        if ((r = next(p)) != 0) {
            goto out;
        }
    }
    if (list && (r = expect(p, S_RBRACKET, "',' or ']'")) != 0) {
        goto out;
    }
    *out = arena_calloc(p->a, v.n ? v.n : 1, sizeof(**out));
    if (*out == NULL) {
        r = nomem(p);
        goto out;
    }
    for (size_t i = 0; i < v.n; i++) {
        (*out)[i] = v.p[i];
    }
    *nout = v.n;
    r = 0;
out:
    free(v.p);
    return r;
}

/* ---- parser: declarations ----------------------------------------------- */

static bool reserved_type_name(struct cedar_str s)
{
    static const char *const names[] = {"Bool", "Boolean", "Entity", "Extension",
                                        "Long", "Record",  "Set",    "String"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (str_is(s, names[i])) {
            return true;
        }
    }
    return false;
}

/* Entity := Annotations 'entity' Idents ['in' EntOrTyps] [['='] RecType]
 *           ['tags' Type] ';'
 *         | Annotations 'entity' Idents 'enum' '[' STR {',' STR} ']' ';' */
static int parse_entity(struct sp *p, const struct cedar_annotation *annos, size_t nannos)
{
    struct vec names = {0}, ids = {0};
    struct cedar_stype **parents = NULL, *attrs = NULL, *tags = NULL;
    size_t nparents = 0;
    bool is_enum = false;
    int r = next(p); /* 'entity' */
    while (r == 0) {
        if ((r = name_ident(p, "an entity type name")) != 0) {
            goto out;
        }
        if (p->tok.len == 6 && memcmp(p->tok.p, "Action", 6) == 0) {
            r = perr(p, p->tok.line, p->tok.col,
                     "an entity type cannot be named `Action` (the type of actions)");
            goto out;
        }
        struct stoken *t = arena_alloc(p->a, sizeof(*t));
        if (t == NULL) {
            r = nomem(p);
            goto out;
        }
        *t = p->tok;
        if ((r = vec_push(p, &names, t)) != 0 || (r = next(p)) != 0) {
            goto out;
        }
        if (p->tok.kind != S_COMMA) {
            break;
        }
        r = next(p);
    }
    if (r != 0) {
        goto out;
    }
    if (is_kw(p, "enum")) {
        is_enum = true;
        if ((r = next(p)) != 0 || (r = expect(p, S_LBRACKET, "'['")) != 0) {
            goto out;
        }
        for (;;) {
            struct cedar_str *s = arena_alloc(p->a, sizeof(*s));
            if (s == NULL) {
                r = nomem(p);
                goto out;
            }
            if (p->tok.kind != S_STR) {
                r = expect(p, S_STR, "a string");
                goto out;
            }
            if ((r = str_value(p, s)) != 0 || (r = vec_push(p, &ids, s)) != 0 ||
                (r = next(p)) != 0) {
                goto out;
            }
            if (p->tok.kind != S_COMMA) {
                break;
            }
            if ((r = next(p)) != 0) {
                goto out;
            }
        }
        if ((r = expect(p, S_RBRACKET, "',' or ']'")) != 0) {
            goto out;
        }
    } else {
        if (is_kw(p, "in")) {
            if ((r = next(p)) != 0 || (r = parse_ent_types(p, &parents, &nparents)) != 0) {
                goto out;
            }
        }
        if (p->tok.kind == S_EQ && (r = next(p)) != 0) {
            goto out;
        }
        if (p->tok.kind == S_LBRACE && (r = parse_record(p, &attrs)) != 0) {
            goto out;
        }
        if (is_kw(p, "tags")) {
            if ((r = next(p)) != 0 || (r = parse_type(p, &tags)) != 0) {
                goto out;
            }
        }
    }
    if ((r = expect(p, S_SEMI, "';'")) != 0) {
        goto out;
    }
    struct cedar_str *idarr = arena_calloc(p->a, ids.n ? ids.n : 1, sizeof(*idarr));
    if (idarr == NULL) {
        r = nomem(p);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        idarr[i] = *(struct cedar_str *)ids.p[i];
    }
    if (attrs == NULL && (attrs = new_type(p, CEDAR_ST_RECORD)) == NULL) {
        r = nomem(p);
        goto out;
    }
    for (size_t i = 0; i < names.n; i++) {
        struct stoken *t = names.p[i];
        struct pentity *pe = arena_calloc(p->a, 1, sizeof(*pe));
        struct cedar_str nm = {t->p, t->len};
        if (pe == NULL) {
            r = nomem(p);
            goto out;
        }
        if ((r = qualify(p, p->ns, nm, &pe->ent.name)) != 0) {
            goto out;
        }
        pe->ent.line = t->line;
        pe->ent.col = t->col;
        pe->ent.attrs = attrs;
        pe->ent.tags = tags;
        pe->ent.is_enum = is_enum;
        pe->ent.enum_ids = idarr;
        pe->ent.nenum = ids.n;
        pe->ent.annos = annos;
        pe->ent.nannos = nannos;
        pe->parents = parents;
        pe->nparents = nparents;
        if ((r = vec_push(p, &p->ents, pe)) != 0) {
            goto out;
        }
    }
    r = 0;
out:
    free(names.p);
    free(ids.p);
    return r;
}

/* Ref := Path '::' STR | Name        (Name := IDENT | STR) */
static int parse_action_ref(struct sp *p, struct aref *ref)
{
    int r;
    memset(ref, 0, sizeof(*ref));
    ref->line = p->tok.line;
    ref->col = p->tok.col;
    if (p->tok.kind == S_STR) {
        if ((r = str_value(p, &ref->id)) != 0) {
            return r;
        }
        return next(p);
    }
    struct cedar_str path;
    int l, c;
    if ((r = parse_path(p, &path, &l, &c)) != 0) {
        return r;
    }
    if (p->tok.kind != S_COLONCOLON) {
        if (memchr(path.ptr, ':', path.len) != NULL) {
            return expect(p, S_COLONCOLON, "'::' and an action name");
        }
        ref->id = path; /* an unquoted action name */
        return 0;
    }
    if ((r = next(p)) != 0) {
        return r;
    }
    if (p->tok.kind != S_STR) {
        return expect(p, S_STR, "a quoted action name");
    }
    ref->path = path;
    if ((r = str_value(p, &ref->id)) != 0) {
        return r;
    }
    return next(p);
}

/* AppliesTo := 'appliesTo' '{' AppDecls '}'
 * AppDecls := ('principal' | 'resource') ':' EntOrTyps [',' | ',' AppDecls]
 *           | 'context' ':' (Path | RecType) [',' | ',' AppDecls] */
static int parse_applies(struct sp *p, struct paction *pa)
{
    bool seen[3] = {false, false, false};
    int line = p->tok.line, col = p->tok.col;
    int r = next(p);
    if (r != 0 || (r = expect(p, S_LBRACE, "'{'")) != 0) {
        return r;
    }
    pa->act.applies = true;
    while (p->tok.kind != S_RBRACE) {
        int which = is_kw(p, "principal")  ? 0
                    : is_kw(p, "resource") ? 1
                    : is_kw(p, "context")  ? 2
                                           : -1;
        if (which < 0) {
            char b[48];
            return perr(p, p->tok.line, p->tok.col,
                        "expected `principal`, `resource` or `context`, found %s",
                        tok_desc(&p->tok, b, sizeof(b)));
        }
        if (seen[which]) {
            return perr(p, p->tok.line, p->tok.col, "duplicate `%.*s` in appliesTo",
                        (int)p->tok.len, p->tok.p);
        }
        seen[which] = true;
        if ((r = next(p)) != 0 || (r = expect(p, S_COLON, "':'")) != 0) {
            return r;
        }
        if (which < 2 && p->tok.kind == S_LBRACKET) {
            /* `[]` is refused: the list must name at least one type */
            size_t save_pos = p->pos, save_ls = p->line_start;
            int save_line = p->line;
            struct stoken save = p->tok;
            if ((r = next(p)) != 0) {
                return r;
            }
            if (p->tok.kind == S_RBRACKET) {
                return perr(p, save.line, save.col, "`%s` needs at least one entity type",
                            which == 0 ? "principal" : "resource");
            }
            p->pos = save_pos;
            p->line = save_line;
            p->line_start = save_ls;
            p->tok = save;
        }
        if (which == 0) {
            r = parse_ent_types(p, &pa->principals, &pa->act.nprincipals);
        } else if (which == 1) {
            r = parse_ent_types(p, &pa->resources, &pa->act.nresources);
        } else {
            struct cedar_stype *t;
            r = parse_type(p, &t);
            if (r == 0 && t->kind == CEDAR_ST_SET) {
                return perr(p, p->tok.line, p->tok.col, "context must be a record type");
            }
            pa->act.context = t;
        }
        if (r != 0) {
            return r;
        }
        if (p->tok.kind != S_COMMA) {
            break;
        }
        if ((r = next(p)) != 0) {
            return r;
        }
    }
    if ((r = expect(p, S_RBRACE, "',' or '}'")) != 0) {
        return r;
    }
    if (!seen[0] || !seen[1]) {
        return perr(p, line, col, "appliesTo needs both `principal` and `resource`");
    }
    return 0;
}

/* Action := Annotations 'action' Names ['in' RefOrRefs] [AppliesTo] ';'
 * RefOrRefs := Ref | '[' [Ref {',' Ref}] ']' */
static int parse_action(struct sp *p, const struct cedar_annotation *annos, size_t nannos)
{
    struct vec names = {0}, refs = {0};
    struct paction proto;
    memset(&proto, 0, sizeof(proto));
    int r = next(p); /* 'action' */
    while (r == 0) {
        struct stoken *t = arena_alloc(p->a, sizeof(*t) + sizeof(struct cedar_str));
        if (t == NULL) {
            r = nomem(p);
            goto out;
        }
        *t = p->tok;
        struct cedar_str *nm = (struct cedar_str *)(t + 1);
        if (p->tok.kind == S_STR) {
            r = str_value(p, nm);
        } else if (p->tok.kind == S_IDENT) {
            if ((r = name_ident(p, "an action name")) == 0) {
                *nm = tok_str(p);
                r = nm->ptr ? 0 : nomem(p);
            }
        } else {
            r = expect(p, S_STR, "an action name");
        }
        if (r != 0 || (r = vec_push(p, &names, t)) != 0 || (r = next(p)) != 0) {
            goto out;
        }
        if (p->tok.kind != S_COMMA) {
            break;
        }
        r = next(p);
    }
    if (r != 0) {
        goto out;
    }
    if (is_kw(p, "in")) {
        if ((r = next(p)) != 0) {
            goto out;
        }
        bool list = p->tok.kind == S_LBRACKET;
        if (list && (r = next(p)) != 0) {
            goto out;
        }
        /* no trailing comma: after a comma an element must follow */
        if (list && p->tok.kind == S_RBRACKET) { /* the reference refuses `in []` */
            r = expect(p, S_STR, "an action name");
            goto out;
        }
        bool more = true;
        while (more) {
            struct aref *ref = arena_alloc(p->a, sizeof(*ref));
            if (ref == NULL) {
                r = nomem(p);
                goto out;
            }
            if ((r = parse_action_ref(p, ref)) != 0 || (r = vec_push(p, &refs, ref)) != 0) {
                goto out;
            }
            if (!list || p->tok.kind != S_COMMA) {
                break;
            }
            if ((r = next(p)) != 0) {
                goto out;
            }
        }
        if (list && (r = expect(p, S_RBRACKET, "',' or ']'")) != 0) {
            goto out;
        }
    }
    if (is_kw(p, "appliesTo") && (r = parse_applies(p, &proto)) != 0) {
        goto out;
    }
    if (is_kw(p, "attributes")) {
        r = perr(p, p->tok.line, p->tok.col, "action attributes are not supported");
        goto out;
    }
    if ((r = expect(p, S_SEMI, "';'")) != 0) {
        goto out;
    }
    proto.refs = arena_calloc(p->a, refs.n ? refs.n : 1, sizeof(*proto.refs));
    if (proto.refs == NULL) {
        r = nomem(p);
        goto out;
    }
    for (size_t i = 0; i < refs.n; i++) {
        proto.refs[i] = *(struct aref *)refs.p[i];
    }
    proto.nrefs = refs.n;
    proto.ns = p->ns;
    proto.act.annos = annos;
    proto.act.nannos = nannos;
    struct cedar_str atype, action = {"Action", 6};
    if ((r = qualify(p, p->ns, action, &atype)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < names.n; i++) {
        struct stoken *t = names.p[i];
        struct cedar_str *nm = (struct cedar_str *)(t + 1);
        struct paction *pa = arena_alloc(p->a, sizeof(*pa));
        if (pa == NULL) {
            r = nomem(p);
            goto out;
        }
        *pa = proto;
        cedar_uid_init(&pa->act.uid, atype.ptr, atype.len, nm->ptr, nm->len);
        pa->act.line = t->line;
        pa->act.col = t->col;
        if ((r = vec_push(p, &p->acts, pa)) != 0) {
            goto out;
        }
    }
    r = 0;
out:
    free(names.p);
    free(refs.p);
    return r;
}

/* TypeDecl := Annotations 'type' IDENT '=' Type ';' */
static int parse_common(struct sp *p, const struct cedar_annotation *annos, size_t nannos)
{
    int r = next(p); /* 'type' */
    if (r != 0) {
        return r;
    }
    if ((r = name_ident(p, "a type name")) != 0) {
        return r;
    }
    struct pcommon *pc = arena_calloc(p->a, 1, sizeof(*pc));
    if (pc == NULL) {
        return nomem(p);
    }
    struct cedar_str nm = tok_str(p);
    if (nm.ptr == NULL) {
        return nomem(p);
    }
    pc->line = p->tok.line;
    pc->col = p->tok.col;
    if (reserved_type_name(nm) || str_is(nm, "__cedar")) {
        return perr(p, pc->line, pc->col, "`%.*s` is a reserved name", (int)nm.len, nm.ptr);
    }
    if ((r = qualify(p, p->ns, nm, &pc->com.name)) != 0 || (r = next(p)) != 0 ||
        (r = expect(p, S_EQ, "'='")) != 0 || (r = parse_type(p, &pc->raw)) != 0 ||
        (r = expect(p, S_SEMI, "';'")) != 0) {
        return r;
    }
    pc->com.annos = annos;
    pc->com.nannos = nannos;
    return vec_push(p, &p->coms, pc);
}

/* Decl := Entity | Action | TypeDecl */
static int parse_decl(struct sp *p)
{
    const struct cedar_annotation *annos;
    size_t nannos;
    int r = parse_annotations(p, &annos, &nannos);
    if (r != 0) {
        return r;
    }
    if (is_kw(p, "entity")) {
        return parse_entity(p, annos, nannos);
    }
    if (is_kw(p, "action")) {
        return parse_action(p, annos, nannos);
    }
    if (is_kw(p, "type")) {
        return parse_common(p, annos, nannos);
    }
    if (is_kw(p, "namespace")) {
        return perr(p, p->tok.line, p->tok.col, "namespaces cannot be nested");
    }
    char b[48];
    return perr(p, p->tok.line, p->tok.col,
                "expected `entity`, `action`, `type` or `namespace`, found %s",
                tok_desc(&p->tok, b, sizeof(b)));
}

static bool has_cedar_component(struct cedar_str s)
{
    size_t i = 0;
    while (i < s.len) {
        size_t j = i;
        while (j < s.len && s.ptr[j] != ':') {
            j++;
        }
        if (j - i == 7 && memcmp(s.ptr + i, "__cedar", 7) == 0) {
            return true;
        }
        i = j + 2;
    }
    return false;
}

/* Schema := {Namespace}
 * Namespace := Annotations 'namespace' Path '{' {Decl} '}' | Decl */
static int parse_schema(struct sp *p)
{
    int r = next(p);
    while (r == 0 && p->tok.kind != S_EOF) {
        size_t save_pos = p->pos, save_ls = p->line_start;
        int save_line = p->line;
        struct stoken save = p->tok;
        const struct cedar_annotation *annos;
        size_t nannos;
        if ((r = parse_annotations(p, &annos, &nannos)) != 0) {
            return r;
        }
        if (!is_kw(p, "namespace")) {
            /* a declaration in the empty namespace: reparse its annotations */
            p->pos = save_pos;
            p->line = save_line;
            p->line_start = save_ls;
            p->tok = save;
            r = parse_decl(p);
            continue;
        }
        struct cedar_snamespace *ns = arena_calloc(p->a, 1, sizeof(*ns));
        int l, c;
        if (ns == NULL) {
            return nomem(p);
        }
        if ((r = next(p)) != 0 || (r = parse_path(p, &ns->name, &l, &c)) != 0) {
            return r;
        }
        if (has_cedar_component(ns->name)) {
            return perr(p, l, c, "`__cedar` is a reserved namespace");
        }
        for (size_t i = 0; i < p->nss.n; i++) {
            if (cedar_str_cmp(((struct cedar_snamespace *)p->nss.p[i])->name, ns->name) == 0) {
                return perr(p, l, c, "namespace `%.*s` is declared twice", (int)ns->name.len,
                            ns->name.ptr);
            }
        }
        ns->annos = annos;
        ns->nannos = nannos;
        if ((r = vec_push(p, &p->nss, ns)) != 0 || (r = expect(p, S_LBRACE, "'{'")) != 0) {
            return r;
        }
        p->ns = ns->name;
        while (r == 0 && p->tok.kind != S_RBRACE && p->tok.kind != S_EOF) {
            r = parse_decl(p);
        }
        if (r == 0) {
            r = expect(p, S_RBRACE, "'}'");
        }
        p->ns.ptr = "";
        p->ns.len = 0;
    }
    return r;
}

/* ---- resolution ------------------------------------------------------------ */

static const struct cedar_stype builtin_types[] = {
    {.kind = CEDAR_ST_BOOL},     {.kind = CEDAR_ST_LONG},    {.kind = CEDAR_ST_STRING},
    {.kind = CEDAR_ST_IP},       {.kind = CEDAR_ST_DECIMAL}, {.kind = CEDAR_ST_DATETIME},
    {.kind = CEDAR_ST_DURATION},
};

const struct cedar_stype *cedar_stype_builtin(enum cedar_stype_kind k)
{
    if ((int)k < 0 || k > CEDAR_ST_DURATION) {
        return NULL;
    }
    return &builtin_types[k];
}

static const struct cedar_stype *builtin_named(struct cedar_str s)
{
    static const struct {
        const char *name;
        enum cedar_stype_kind k;
    } names[] = {{"Bool", CEDAR_ST_BOOL},        {"Long", CEDAR_ST_LONG},
                 {"String", CEDAR_ST_STRING},    {"ipaddr", CEDAR_ST_IP},
                 {"decimal", CEDAR_ST_DECIMAL},  {"datetime", CEDAR_ST_DATETIME},
                 {"duration", CEDAR_ST_DURATION}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (str_is(s, names[i].name)) {
            return &builtin_types[names[i].k];
        }
    }
    return NULL;
}

static int pent_cmp(const void *x, const void *y)
{
    return cedar_str_cmp((*(struct pentity *const *)x)->ent.name,
                         (*(struct pentity *const *)y)->ent.name);
}

static int pcom_cmp(const void *x, const void *y)
{
    return cedar_str_cmp((*(struct pcommon *const *)x)->com.name,
                         (*(struct pcommon *const *)y)->com.name);
}

static int uid_cmp(const struct cedar_uid *a, const struct cedar_uid *b)
{
    int c = cedar_str_cmp(a->type, b->type);
    return c ? c : cedar_str_cmp(a->id, b->id);
}

static int pact_cmp(const void *x, const void *y)
{
    return uid_cmp(&(*(struct paction *const *)x)->act.uid,
                   &(*(struct paction *const *)y)->act.uid);
}

/* The element of a sorted array (n elements of size bytes) for which
 * cmp(key, element) is 0, or NULL: the one binary search behind every
 * name and UID lookup of this file. */
static const void *find_sorted(const void *key, const void *base, size_t n, size_t size,
                               int (*cmp)(const void *key, const void *elem))
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const void *el = (const char *)base + mid * size;
        int c = cmp(key, el);
        if (c == 0) {
            return el;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

static int pent_key_cmp(const void *key, const void *elem)
{
    const struct pentity *pe = *(void *const *)elem;
    return cedar_str_cmp(*(const struct cedar_str *)key, pe->ent.name);
}

static int pcom_key_cmp(const void *key, const void *elem)
{
    const struct pcommon *pc = *(void *const *)elem;
    return cedar_str_cmp(*(const struct cedar_str *)key, pc->com.name);
}

static int pact_key_cmp(const void *key, const void *elem)
{
    const struct paction *pa = *(void *const *)elem;
    return uid_cmp(key, &pa->act.uid);
}

static struct pentity *find_pent(struct sp *p, struct cedar_str name)
{
    void *const *e = find_sorted(&name, p->ents.p, p->ents.n, sizeof(*p->ents.p), pent_key_cmp);
    return e != NULL ? *e : NULL;
}

static struct pcommon *find_pcom(struct sp *p, struct cedar_str name)
{
    void *const *c = find_sorted(&name, p->coms.p, p->coms.n, sizeof(*p->coms.p), pcom_key_cmp);
    return c != NULL ? *c : NULL;
}

static struct paction *find_pact(struct sp *p, const struct cedar_uid *uid)
{
    void *const *a = find_sorted(uid, p->acts.p, p->acts.n, sizeof(*p->acts.p), pact_key_cmp);
    return a != NULL ? *a : NULL;
}

static int resolve_type(struct sp *p, const struct cedar_stype *t, const struct cedar_stype **out);

static int resolve_common(struct sp *p, struct pcommon *pc, const struct cedar_stype **out)
{
    if (pc->state == 1) {
        return perr(p, pc->line, pc->col, "common type `%.*s` refers to itself",
                    (int)pc->com.name.len, pc->com.name.ptr);
    }
    if (pc->state == 0) {
        pc->state = 1;
        int r = resolve_type(p, pc->raw, &pc->com.type);
        if (r != 0) {
            return r;
        }
        pc->state = 2;
    }
    *out = pc->com.type;
    return 0;
}

/* Candidate qualified names for a reference written as `name` in `ns`:
 * ns::name, name (and __cedar::name, handled by the caller). */
static int candidates(struct sp *p, struct cedar_str ns, struct cedar_str name,
                      struct cedar_str cand[2], size_t *n)
{
    *n = 0;
    if (memchr(name.ptr, ':', name.len) != NULL || ns.len == 0) {
        cand[(*n)++] = name;
        return 0;
    }
    int r = qualify(p, ns, name, &cand[0]);
    if (r != 0) {
        return r;
    }
    cand[1] = name;
    *n = 2;
    return 0;
}

static int resolve_ref(struct sp *p, const struct cedar_stype *t, const struct cedar_stype **out)
{
    if (t->name.len > 9 && memcmp(t->name.ptr, "__cedar::", 9) == 0) {
        struct cedar_str rest = {t->name.ptr + 9, t->name.len - 9};
        if ((*out = builtin_named(rest)) != NULL) {
            return 0;
        }
        return perr(p, t->line, t->col, "unknown built-in type `%.*s`", (int)t->name.len,
                    t->name.ptr);
    }
    struct cedar_str cand[2];
    size_t n;
    int r = candidates(p, t->ns, t->name, cand, &n);
    if (r != 0) {
        return r;
    }
    for (size_t i = 0; i < n; i++) {
        struct pcommon *pc = find_pcom(p, cand[i]);
        if (pc != NULL) {
            return resolve_common(p, pc, out);
        }
        struct pentity *pe = find_pent(p, cand[i]);
        if (pe != NULL) {
            struct cedar_stype *et = new_type(p, CEDAR_ST_ENTITY);
            if (et == NULL) {
                return nomem(p);
            }
            et->name = pe->ent.name;
            *out = et;
            return 0;
        }
    }
    if (memchr(t->name.ptr, ':', t->name.len) == NULL && (*out = builtin_named(t->name)) != NULL) {
        return 0;
    }
    return perr(p, t->line, t->col, "undeclared type `%.*s`", (int)t->name.len, t->name.ptr);
}

static int resolve_type(struct sp *p, const struct cedar_stype *t, const struct cedar_stype **out)
{
    int r = 0;
    if (++p->depth > 4 * LIMIT_CEDAR_SCHEMA_DEPTH) {
        return perr(p, 1, 1, "types nested too deeply");
    }
    switch (t->kind) {
    case CEDAR_ST_REF:
        r = resolve_ref(p, t, out);
        break;
    case CEDAR_ST_SET: {
        struct cedar_stype *s = (struct cedar_stype *)t; /* still ours: parse-time node */
        const struct cedar_stype *elem;
        if ((r = resolve_type(p, t->elem, &elem)) == 0) {
            s->elem = elem;
            *out = s;
        }
        break;
    }
    case CEDAR_ST_RECORD: {
        struct cedar_sattr *attrs = (struct cedar_sattr *)t->attrs;
        for (size_t i = 0; i < t->nattrs && r == 0; i++) {
            const struct cedar_stype *at;
            if ((r = resolve_type(p, attrs[i].type, &at)) == 0) {
                attrs[i].type = at;
            }
        }
        *out = t;
        break;
    }
    default:
        *out = t;
        break;
    }
    p->depth--;
    return r;
}

/* Resolves entity-type references (parents, principals, resources) into
 * qualified names: ns::name then name, entity types only. */
static int resolve_ent_refs(struct sp *p, struct cedar_stype **refs, size_t n,
                            const struct cedar_str **out)
{
    struct cedar_str *names = arena_calloc(p->a, n ? n : 1, sizeof(*names));
    if (names == NULL) {
        return nomem(p);
    }
    for (size_t i = 0; i < n; i++) {
        struct cedar_str cand[2];
        size_t nc;
        int r = candidates(p, refs[i]->ns, refs[i]->name, cand, &nc);
        if (r != 0) {
            return r;
        }
        struct pentity *pe = NULL;
        for (size_t k = 0; k < nc && pe == NULL; k++) {
            pe = find_pent(p, cand[k]);
        }
        if (pe == NULL) {
            return perr(p, refs[i]->line, refs[i]->col, "undeclared entity type `%.*s`",
                        (int)refs[i]->name.len, refs[i]->name.ptr);
        }
        names[i] = pe->ent.name;
    }
    *out = names;
    return 0;
}

static int resolve_action_parents(struct sp *p, struct paction *pa)
{
    struct cedar_uid *uids = arena_calloc(p->a, pa->nrefs ? pa->nrefs : 1, sizeof(*uids));
    if (uids == NULL) {
        return nomem(p);
    }
    for (size_t i = 0; i < pa->nrefs; i++) {
        struct aref *ref = &pa->refs[i];
        struct cedar_str cand[2], action = {"Action", 6};
        size_t nc;
        int r;
        if (ref->path.len == 0) { /* the namespace's action, else the empty namespace's */
            r = candidates(p, pa->ns, action, cand, &nc);
        } else {
            r = candidates(p, pa->ns, ref->path, cand, &nc);
        }
        if (r != 0) {
            return r;
        }
        struct paction *found = NULL;
        for (size_t k = 0; k < nc && found == NULL; k++) {
            struct cedar_uid u;
            cedar_uid_init(&u, cand[k].ptr, cand[k].len, ref->id.ptr, ref->id.len);
            found = find_pact(p, &u);
        }
        if (found == NULL) {
            return perr(p, ref->line, ref->col, "undeclared action `%.*s::\"%.*s\"`",
                        (int)cand[0].len, cand[0].ptr, (int)ref->id.len, ref->id.ptr);
        }
        uids[i] = found->act.uid;
    }
    pa->act.parents = uids;
    pa->act.nparents = pa->nrefs;
    return 0;
}

/* Depth-first search for a cycle in the action hierarchy. */
static int action_cycle(struct sp *p, struct paction *pa, unsigned depth)
{
    if (pa->state == 2) {
        return 0;
    }
    if (pa->state == 1) {
        return perr(p, pa->act.line, pa->act.col, "cycle in the action hierarchy at `%.*s`",
                    (int)pa->act.uid.id.len, pa->act.uid.id.ptr);
    }
    if (depth > LIMIT_CEDAR_SCHEMA_ACTION_DEPTH) {
        return perr(p, pa->act.line, pa->act.col, "action hierarchy too deep");
    }
    pa->state = 1;
    for (size_t i = 0; i < pa->act.nparents; i++) {
        int r = action_cycle(p, find_pact(p, &pa->act.parents[i]), depth + 1);
        if (r != 0) {
            return r;
        }
    }
    pa->state = 2;
    return 0;
}

static int check_dups(struct sp *p)
{
    for (size_t i = 1; i < p->ents.n; i++) {
        struct pentity *a = p->ents.p[i - 1], *b = p->ents.p[i];
        if (cedar_str_cmp(a->ent.name, b->ent.name) == 0) {
            return perr(p, b->ent.line, b->ent.col, "duplicate entity type `%.*s`",
                        (int)b->ent.name.len, b->ent.name.ptr);
        }
    }
    for (size_t i = 1; i < p->coms.n; i++) {
        struct pcommon *a = p->coms.p[i - 1], *b = p->coms.p[i];
        if (cedar_str_cmp(a->com.name, b->com.name) == 0) {
            return perr(p, b->line, b->col, "duplicate common type `%.*s`", (int)b->com.name.len,
                        b->com.name.ptr);
        }
    }
    for (size_t i = 0; i < p->ents.n + p->coms.n; i++) {
        struct cedar_str nm;
        int line, col;
        if (i < p->ents.n) {
            struct pentity *pe = p->ents.p[i];
            nm = pe->ent.name;
            line = pe->ent.line;
            col = pe->ent.col;
        } else {
            struct pcommon *pc = p->coms.p[i - p->ents.n];
            nm = pc->com.name;
            line = pc->line;
            col = pc->col;
        }
        size_t k = nm.len;
        while (k > 0 && nm.ptr[k - 1] != ':') {
            k--;
        }
        if (k == 0) {
            continue; /* declared in the empty namespace */
        }
        struct cedar_str base = {nm.ptr + k, nm.len - k};
        if (find_pent(p, base) != NULL || find_pcom(p, base) != NULL) {
            return perr(p, line, col, "`%.*s` would shadow `%.*s` declared in the empty namespace",
                        (int)nm.len, nm.ptr, (int)base.len, base.ptr);
        }
    }
    for (size_t i = 1; i < p->acts.n; i++) {
        struct paction *a = p->acts.p[i - 1], *b = p->acts.p[i];
        if (uid_cmp(&a->act.uid, &b->act.uid) == 0) {
            return perr(p, b->act.line, b->act.col, "duplicate action `%.*s`",
                        (int)b->act.uid.id.len, b->act.uid.id.ptr);
        }
    }
    return 0;
}

static int resolve_all(struct sp *p)
{
    if (p->ents.n > 1) {
        qsort(p->ents.p, p->ents.n, sizeof(void *), pent_cmp);
    }
    if (p->coms.n > 1) {
        qsort(p->coms.p, p->coms.n, sizeof(void *), pcom_cmp);
    }
    if (p->acts.n > 1) {
        qsort(p->acts.p, p->acts.n, sizeof(void *), pact_cmp);
    }
    int r = check_dups(p);
    for (size_t i = 0; i < p->coms.n && r == 0; i++) {
        const struct cedar_stype *t;
        r = resolve_common(p, p->coms.p[i], &t);
    }
    for (size_t i = 0; i < p->ents.n && r == 0; i++) {
        struct pentity *pe = p->ents.p[i];
        const struct cedar_stype *t;
        if ((r = resolve_type(p, pe->ent.attrs, &t)) != 0) {
            break;
        }
        pe->ent.attrs = t;
        if (pe->ent.tags != NULL && (r = resolve_type(p, pe->ent.tags, &t)) == 0) {
            pe->ent.tags = t;
        }
        if (r == 0) {
            r = resolve_ent_refs(p, pe->parents, pe->nparents, &pe->ent.parents);
            pe->ent.nparents = pe->nparents;
        }
    }
    for (size_t i = 0; i < p->acts.n && r == 0; i++) {
        struct paction *pa = p->acts.p[i];
        if ((r = resolve_ent_refs(p, pa->principals, pa->act.nprincipals, &pa->act.principals)) !=
                0 ||
            (r = resolve_ent_refs(p, pa->resources, pa->act.nresources, &pa->act.resources)) != 0 ||
            (r = resolve_action_parents(p, pa)) != 0) {
            break;
        }
        if (pa->act.context == NULL) {
            struct cedar_stype *empty = new_type(p, CEDAR_ST_RECORD);
            if (empty == NULL) {
                return nomem(p);
            }
            pa->act.context = empty;
        } else {
            const struct cedar_stype *t;
            int line = pa->act.context->line, col = pa->act.context->col;
            if ((r = resolve_type(p, pa->act.context, &t)) != 0) {
                break;
            }
            if (t->kind != CEDAR_ST_RECORD) {
                return perr(p, line ? line : pa->act.line, line ? col : pa->act.col,
                            "the context of action `%.*s` must be a record type",
                            (int)pa->act.uid.id.len, pa->act.uid.id.ptr);
            }
            pa->act.context = t;
        }
    }
    for (size_t i = 0; i < p->acts.n && r == 0; i++) {
        r = action_cycle(p, p->acts.p[i], 0);
    }
    return r;
}

/* Copies the resolved declarations into the schema's sorted arrays. */
static int build_schema(struct sp *p)
{
    struct cedar_schema *s = p->s;
    struct cedar_sentity *ents = arena_calloc(p->a, p->ents.n + 1, sizeof(*ents));
    struct cedar_saction *acts = arena_calloc(p->a, p->acts.n + 1, sizeof(*acts));
    struct cedar_scommon *coms = arena_calloc(p->a, p->coms.n + 1, sizeof(*coms));
    struct cedar_snamespace *nss = arena_calloc(p->a, p->nss.n + 1, sizeof(*nss));
    if (ents == NULL || acts == NULL || coms == NULL || nss == NULL) {
        return nomem(p);
    }
    for (size_t i = 0; i < p->ents.n; i++) {
        ents[i] = ((struct pentity *)p->ents.p[i])->ent;
    }
    for (size_t i = 0; i < p->acts.n; i++) {
        acts[i] = ((struct paction *)p->acts.p[i])->act;
    }
    for (size_t i = 0; i < p->coms.n; i++) {
        coms[i] = ((struct pcommon *)p->coms.p[i])->com;
    }
    for (size_t i = 0; i < p->nss.n; i++) {
        nss[i] = *(struct cedar_snamespace *)p->nss.p[i];
    }
    s->entities = ents;
    s->nentities = p->ents.n;
    s->actions = acts;
    s->nactions = p->acts.n;
    s->commons = coms;
    s->ncommons = p->coms.n;
    s->namespaces = nss;
    s->nnamespaces = p->nss.n;
    return 0;
}

int cedar_schema_parse(const char *text, size_t len, const char *filename,
                       struct cedar_schema **out, struct err *e)
{
    int r = ERR_INTERNAL;
    struct sp p;
    *out = NULL;
    memset(&p, 0, sizeof(p));
    if (len > LIMIT_CEDAR_SCHEMA_TEXT) {
        return err_set(e, ERR_LIMIT, "%s: schema larger than %d bytes",
                       filename ? filename : "schema", LIMIT_CEDAR_SCHEMA_TEXT);
    }
    struct cedar_schema *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    arena_init(&s->arena, 0, 0);
    p.src = text;
    p.len = len;
    p.line = 1;
    p.filename = filename ? filename : "schema";
    p.a = &s->arena;
    p.e = e;
    p.ns.ptr = "";
    p.s = s;
    if ((r = parse_schema(&p)) != 0 || (r = resolve_all(&p)) != 0 || (r = build_schema(&p)) != 0) {
        goto out;
    }
    *out = s;
    s = NULL;
    r = 0;
out:
    free(p.ents.p);
    free(p.acts.p);
    free(p.coms.p);
    free(p.nss.p);
    cedar_schema_free(s);
    return r;
}

void cedar_schema_free(struct cedar_schema *s)
{
    if (s == NULL) {
        return;
    }
    arena_free(&s->arena);
    free(s);
}

static int sentity_key_cmp(const void *key, const void *elem)
{
    return cedar_str_cmp(*(const struct cedar_str *)key,
                         ((const struct cedar_sentity *)elem)->name);
}

static int saction_key_cmp(const void *key, const void *elem)
{
    return uid_cmp(key, &((const struct cedar_saction *)elem)->uid);
}

const struct cedar_sentity *cedar_schema_entity(const struct cedar_schema *s, const char *name,
                                                size_t len)
{
    struct cedar_str key = {name, len};
    return find_sorted(&key, s->entities, s->nentities, sizeof(*s->entities), sentity_key_cmp);
}

const struct cedar_saction *cedar_schema_action(const struct cedar_schema *s,
                                                const struct cedar_uid *uid)
{
    return find_sorted(uid, s->actions, s->nactions, sizeof(*s->actions), saction_key_cmp);
}

bool cedar_schema_is_action_type(const struct cedar_schema *s, const char *type, size_t len)
{
    struct cedar_str t = {type, len};
    size_t lo = 0, hi = s->nactions;
    while (lo < hi) { /* first action whose type >= t */
        size_t mid = (lo + hi) / 2;
        if (cedar_str_cmp(s->actions[mid].uid.type, t) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < s->nactions && cedar_str_cmp(s->actions[lo].uid.type, t) == 0;
}

size_t cedar_schema_entity_count(const struct cedar_schema *s)
{
    return s ? s->nentities : 0;
}

size_t cedar_schema_action_count(const struct cedar_schema *s)
{
    return s ? s->nactions : 0;
}

/* ---- request validation ------------------------------------------------------ */

static bool type_listed(const struct cedar_str *types, size_t n, const struct cedar_uid *u)
{
    for (size_t i = 0; i < n; i++) {
        if (cedar_str_cmp(types[i], u->type) == 0) {
            return true;
        }
    }
    return false;
}

static int check_enum_uid(const struct cedar_schema *s, const struct cedar_uid *u, const char *what,
                          struct err *e)
{
    const struct cedar_sentity *se = cedar_schema_entity(s, u->type.ptr, u->type.len);
    if (se == NULL || !se->is_enum) {
        return 0;
    }
    for (size_t i = 0; i < se->nenum; i++) {
        if (cedar_str_cmp(se->enum_ids[i], u->id) == 0) {
            return 0;
        }
    }
    return err_set(e, ERR_INVALID, "%s: `%.*s` is not one of the ids of enum entity type `%.*s`",
                   what, (int)u->id.len, u->id.ptr, (int)u->type.len, u->type.ptr);
}

int cedar_schema_validate_request(const struct cedar_schema *s, const struct cedar_request *req,
                                  struct err *e)
{
    const struct cedar_saction *sa = cedar_schema_action(s, &req->action);
    if (sa == NULL) {
        return err_set(e, ERR_INVALID,
                       "request: action %.*s::\"%.*s\" is not declared in the schema",
                       (int)req->action.type.len, req->action.type.ptr, (int)req->action.id.len,
                       req->action.id.ptr);
    }
    if (!type_listed(sa->principals, sa->nprincipals, &req->principal)) {
        return err_set(e, ERR_INVALID,
                       "request: principal type `%.*s` is not valid for action `%.*s`",
                       (int)req->principal.type.len, req->principal.type.ptr, (int)sa->uid.id.len,
                       sa->uid.id.ptr);
    }
    if (!type_listed(sa->resources, sa->nresources, &req->resource)) {
        return err_set(e, ERR_INVALID,
                       "request: resource type `%.*s` is not valid for action `%.*s`",
                       (int)req->resource.type.len, req->resource.type.ptr, (int)sa->uid.id.len,
                       sa->uid.id.ptr);
    }
    int r = check_enum_uid(s, &req->principal, "request principal", e);
    if (r == 0) {
        r = check_enum_uid(s, &req->resource, "request resource", e);
    }
    return r;
}
