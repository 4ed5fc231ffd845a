/*
 * cedar_int.h: the Cedar engine's private structures (lexer, AST, entity
 * store, policy set, index) shared by lexer.c, parser.c, value.c, eval.c,
 * entities.c, authz.c and the JSON/schema code.
 *
 * Value representation (see cedar.h): struct cedar_value is a small tagged
 * union passed by value.  Strings are (ptr, len) slices; entity UIDs,
 * sets and records are pointers to immutable, arena-allocated data.  Sets are
 * sorted (cedar_value_cmp) and deduplicated; records are sorted by key.  Whoever
 * builds a value chooses the arena that owns it: the entity store's arena for
 * entity data, the policy set's for literals, the request arena during
 * evaluation.  Nothing is freed one by one.
 */
#ifndef MANDATE_CEDAR_INT_H
#define MANDATE_CEDAR_INT_H

#include <stdatomic.h>
#include <string.h>

#include "cedar/cedar.h"

/* ---- strings ----------------------------------------------------------- */

/* Byte-wise equality and order of two slices (shorter first on a common
 * prefix): the one string comparison of the module.  Inline: values,
 * records and sets compare strings in their inner loops. */
static inline bool cedar_str_eq(struct cedar_str a, struct cedar_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline int cedar_str_cmp(struct cedar_str a, struct cedar_str b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c != 0) {
        return c;
    }
    return a.len < b.len ? -1 : a.len > b.len ? 1 : 0;
}

/* The reference treats every entity type whose last name component is
 * `Action` as an action type (policies, their JSON form, entity data). */
static inline bool cedar_is_action_type(const struct cedar_str *t)
{
    return (t->len == 6 && memcmp(t->ptr, "Action", 6) == 0) ||
           (t->len > 8 && memcmp(t->ptr + t->len - 8, "::Action", 8) == 0);
}

/* ---- entities ---------------------------------------------------------- */

struct cedar_entity {
    struct cedar_uid uid;
    const struct cedar_record *attrs; /* never NULL (empty record) */
    const struct cedar_record *tags;  /* never NULL (empty record) */
    const struct cedar_uid *parents;  /* direct parents */
    size_t nparents;
    /* Ancestors (transitive, excluding itself): open-addressed hash set of
     * pointers, anc_cap a power of two (0 when none). */
    const struct cedar_uid **anc;
    size_t anc_cap;
    size_t nanc;
};

struct cedar_entities {
    struct arena arena;
    struct cedar_entity **slots; /* open addressing by uid hash, cap power of 2 */
    size_t cap;
    size_t count;
    bool finished;
};

/* ---- lexer ------------------------------------------------------------- */

enum cedar_tok {
    TK_EOF = 0,
    TK_IDENT,
    TK_INT,
    TK_STR,
    TK_SLOT, /* ?principal / ?resource */
    TK_LPAREN,
    TK_RPAREN,
    TK_LBRACE,
    TK_RBRACE,
    TK_LBRACKET,
    TK_RBRACKET,
    TK_COMMA,
    TK_SEMI,
    TK_COLON,
    TK_COLONCOLON,
    TK_DOT,
    TK_AT,
    TK_EQ, /* == */
    TK_NE, /* != */
    TK_LT,
    TK_LE,
    TK_GT,
    TK_GE,
    TK_AND,  /* && */
    TK_OR,   /* || */
    TK_BANG, /* ! */
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_ASSIGN /* = (only to give a good error) */
};

struct cedar_token {
    enum cedar_tok kind;
    const char *p; /* start in the source */
    size_t len;
    int line, col;
};

struct cedar_lexer {
    const char *src;
    size_t len;
    size_t pos;
    int line;
    size_t line_start;
    const char *filename;
};

/* Reads the next token; ERR_INVALID with a positioned message on bad input. */
int cedar_lex_next(struct cedar_lexer *lx, struct cedar_token *t, struct err *e) MUST_CHECK;

/* Identifier checks on a (pointer, length) slice, shared by every reader
 * and writer that must decide whether a name can stand in Cedar text:
 * cedar_ident_ok: [A-Za-z_][A-Za-z0-9_]*;
 * cedar_reserved_word: true, false, if, then, else, in, is, like, has (not
 * __cedar, which callers treat as they need);
 * cedar_path_ok: identifiers joined by "::"; reserved words refused as
 * components unless reserved_ok, `__cedar` unless cedar_ok. */
bool cedar_ident_ok(const char *s, size_t n);
bool cedar_reserved_word(const char *s, size_t n);
bool cedar_path_ok(const char *s, size_t n, bool reserved_ok, bool cedar_ok);

/* The value of a hex digit, or -1 (escapes in policy text and JSON, IPv6
 * groups).  Inline: it sits in per-character loops. */
static inline int cedar_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Writes code point cp (at most 0x10ffff, the caller checks) as UTF-8 to o
 * (room for 4 bytes); returns the number of bytes written. */
size_t cedar_utf8_put(char *o, unsigned long cp);

/* Decodes a string literal's body (between the quotes) into a; like
 * patterns keep \* as the pair (0x5c,'*') marker in *star_escaped form: when
 * pattern is true, returns an array of pattern elements instead (see
 * struct cedar_pattern).  ERR_INVALID on a bad escape (message without
 * position; the caller adds it). */
int cedar_unescape(struct arena *a, const char *s, size_t n, struct cedar_str *out,
                   struct err *e) MUST_CHECK;

/* A `like` pattern: elements are literal bytes or wildcards. */
struct cedar_pattern {
    size_t n;
    /* each element: c >= 0 a literal byte, -1 a wildcard '*' */
    int16_t elems[];
};
int cedar_unescape_pattern(struct arena *a, const char *s, size_t n, struct cedar_pattern **out,
                           struct err *e) MUST_CHECK;

/* ---- AST --------------------------------------------------------------- */

enum cedar_op {
    OP_LIT,  /* value */
    OP_VAR,  /* var: 0 principal 1 action 2 resource 3 context */
    OP_SLOT, /* var: 0 ?principal 2 ?resource (only in scope) */
    OP_NOT,
    OP_NEG,
    OP_AND, /* n-ary: a[0] && a[1] && ... (chains are flat, not deep) */
    OP_OR,
    OP_IF,
    OP_EQ,
    OP_NE,
    OP_LT,
    OP_LE,
    OP_GT,
    OP_GE,
    OP_IN,
    OP_ADD, /* n-ary: a[0] ops[1] a[1] ops[2] a[2] ... */
    OP_SUB,
    OP_MUL,     /* n-ary */
    OP_HAS,     /* a[0] has name */
    OP_GETATTR, /* a[0].name */
    OP_LIKE,    /* a[0] like pattern */
    OP_IS,      /* a[0] is type ; a[1] optional `in` operand */
    OP_SET,     /* [a...] */
    OP_RECORD,  /* {names: a...} */
    OP_CALL     /* fn(a...) / a[0].fn(a[1..]) */
};

/* Built-in functions and methods. */
enum cedar_fn {
    FN_CONTAINS,
    FN_CONTAINS_ALL,
    FN_CONTAINS_ANY,
    FN_IS_EMPTY,
    FN_GET_TAG,
    FN_HAS_TAG,
    FN_IP,
    FN_DECIMAL,
    FN_DATETIME,
    FN_DURATION,
    FN_IS_IPV4,
    FN_IS_IPV6,
    FN_IS_LOOPBACK,
    FN_IS_MULTICAST,
    FN_IS_IN_RANGE,
    FN_LESS_THAN,
    FN_LESS_THAN_OR_EQUAL,
    FN_GREATER_THAN,
    FN_GREATER_THAN_OR_EQUAL,
    FN_OFFSET,
    FN_DURATION_SINCE,
    FN_TO_DATE,
    FN_TO_TIME,
    FN_TO_DAYS,
    FN_TO_HOURS,
    FN_TO_MINUTES,
    FN_TO_SECONDS,
    FN_TO_MILLISECONDS
};
#define CEDAR_NFNS (FN_TO_MILLISECONDS + 1)

/* parser.c: every built-in's name, whether it is a method (else a function),
 * and its argument count besides the receiver, indexed by enum cedar_fn:
 * the parser, the JSON policy format and the formatter read this one table. */
struct cedar_fninfo {
    const char *name;
    enum cedar_fn fn; /* its own index */
    bool method;
    int argc;
};
extern const struct cedar_fninfo cedar_fns[CEDAR_NFNS];

/* eval.c: the value of extension constructor fn (FN_IP, FN_DECIMAL,
 * FN_DATETIME or FN_DURATION) applied to the string (s, n): what evaluation,
 * the validator's literal check and the JSON `__extn` reader all build.
 * 0, or the extension parser's error in e. */
int cedar_ext_construct(enum cedar_fn fn, const char *s, size_t n, struct cedar_value *out,
                        struct err *e) MUST_CHECK;

/* eval.c: extension method fn (FN_IS_IPV4 .. FN_TO_MILLISECONDS) on a and,
 * for the two-argument ones, b (read only for those: may be NULL otherwise);
 * the kinds are the caller's to check.  What evaluation and the JSON `__extn`
 * reader both compute.  0, or an overflow error in e. */
int cedar_ext_apply(enum cedar_fn fn, const struct cedar_value *a, const struct cedar_value *b,
                    struct cedar_value *out, struct err *e) MUST_CHECK;

struct cedar_expr {
    enum cedar_op op;
    int line, col;
    int var;                   /* OP_VAR / OP_SLOT; OP_CALL: enum cedar_fn */
    bool bad_arity;            /* OP_CALL: extension call with the wrong arity (a run-time error) */
    bool unless;               /* OP_NOT: the wrapper of an `unless` condition (EST, formatter) */
    struct cedar_value lit;    /* OP_LIT */
    struct cedar_str name;     /* HAS/GETATTR attr; IS type */
    struct cedar_str *names;   /* OP_RECORD keys (n of them) */
    struct cedar_pattern *pat; /* OP_LIKE */
    uint8_t *ops;              /* OP_ADD chains: ops[i] '+' or '-' for child i >= 1 */
    size_t n;                  /* number of children */
    struct cedar_expr **a;     /* children */
};

/* ---- policies ---------------------------------------------------------- */

enum cedar_scope_op {
    SCOPE_ANY = 0,
    SCOPE_EQ,    /* == uid */
    SCOPE_IN,    /* in uid */
    SCOPE_IS,    /* is type */
    SCOPE_IS_IN, /* is type in uid */
    SCOPE_IN_SET /* action in [uids] */
};

struct cedar_scope {
    enum cedar_scope_op op;
    bool slot;                    /* the uid is a template slot (?principal/?resource) */
    struct cedar_str type;        /* IS, IS_IN */
    const struct cedar_uid *uid;  /* EQ, IN, IS_IN (NULL while a slot is unlinked) */
    const struct cedar_uid *uids; /* IN_SET */
    size_t nuids;
};

struct cedar_annotation {
    struct cedar_str key;
    struct cedar_str value;
    bool has_value; /* false for `@key` without a value (EST: null) */
};

struct cedar_policy {
    const char *id;
    bool forbid;
    bool is_template;
    struct cedar_scope principal, action, resource;
    struct cedar_expr **conds; /* each: when -> as is; unless -> wrapped in OP_NOT */
    size_t nconds;
    struct cedar_annotation *annos;
    size_t nannos;
    size_t index;  /* position in the set */
    int line, col; /* of its `permit`/`forbid` keyword (validator diagnostics) */
    /* a linked policy: its template's id and the values of its slots (else NULL) */
    const char *template_id;
    const struct cedar_uid *link_principal, *link_resource;
};

/* The index: buckets keyed by one UID, or by a (principal, resource) pair. */
struct cedar_index_entry {
    const struct cedar_uid *key;
    const struct cedar_uid *key2; /* pair maps only */
    uint64_t hash;
    uint32_t *pols; /* policy indices, ascending */
    size_t n;
    size_t cap;
};
struct cedar_index_map {
    struct cedar_index_entry *slots; /* open addressing, cap power of 2 */
    size_t cap;
    size_t count;
};

struct cedar_policyset {
    atomic_long refs;
    struct arena arena;
    struct cedar_policy **pols;
    size_t n;
    size_t cap;
    /* index (rebuilt after parse/link); templates never enter it */
    /* each policy sits in exactly one place: by_pair when both its principal
     * and resource scopes name a UID, else by_principal, by_resource,
     * by_action (one entry per action it names), else residual */
    struct cedar_index_map by_pair, by_principal, by_resource, by_action;
    uint32_t *residual;
    size_t nresidual, residual_cap;
    bool indexed;
};

/* parser.c: parses every policy of text into ps (appends). */
int cedar_parse_into(struct cedar_policyset *ps, const char *text, size_t len, const char *filename,
                     unsigned flags, struct err *e) MUST_CHECK;

/* json.c: cedar_json_load with another nesting bound (the JSON policy format
 * nests two or three levels per AST level). */
struct json_t *cedar_json_load_depth(const char *text, size_t len, const char *what,
                                     unsigned max_depth, struct err *e);

/* json.c: true when every key of JSON object o is among keys (NULL-terminated):
 * the JSON policy and schema readers refuse unknown keys with it. */
bool cedar_json_keys_ok(struct json_t *o, const char *const *keys);

/* json.c: *o[k] = v, consuming v; on failure (either NULL, or out of memory)
 * releases both, sets *o to NULL and returns false, so a JSON writer chains
 * calls with && and checks once. */
bool cedar_json_put(struct json_t **o, const char *k, struct json_t *v);

/* authz.c: a new empty set (refcount 1) and its destruction. */
struct cedar_policyset *cedar_ps_new(void);
void cedar_ps_free(struct cedar_policyset *ps);

/* authz.c: appends p to ps->pols (in ps's arena; p->index is set): what the
 * text parser, the JSON reader and linking add policies with.  0 or
 * ERR_NOMEM. */
int cedar_ps_append(struct cedar_policyset *ps, struct cedar_policy *p) MUST_CHECK;

/* authz.c: the last step of building a set: r is the builder's result so
 * far.  r == 0: indexes ps and hands it to *out; otherwise (or when
 * indexing fails) frees ps.  Returns r, or the index error. */
int cedar_ps_finish(struct cedar_policyset *ps, int r, struct cedar_policyset **out,
                    struct err *e) MUST_CHECK;

/* authz.c: (re)builds the index of ps. */
int cedar_index_build(struct cedar_policyset *ps, struct err *e) MUST_CHECK;

/* ---- evaluation -------------------------------------------------------- */

struct cedar_eval {
    const struct cedar_entities *es;
    const struct cedar_request *req;
    struct arena *a;
    uint64_t steps; /* budget left */
    unsigned depth;
    struct err *e; /* message of the last error */
};

/* Evaluates x; 0 with *out, or a negative ERR_* (an evaluation error: the
 * message is in ev->e). */
int cedar_eval_expr(struct cedar_eval *ev, const struct cedar_expr *x,
                    struct cedar_value *out) MUST_CHECK;

/* Whether policy p's scope matches the request (no errors possible). */
bool cedar_scope_match(const struct cedar_entities *es, const struct cedar_policy *p,
                       const struct cedar_request *req);

/* A readable type name for messages. */
const char *cedar_kind_name(enum cedar_kind k);

#endif
