/*
 * policies.c: versioned Cedar policy sets.
 *
 * Each POST stores a new version (text and schema as given, never edited);
 * activating one makes it the only active version in one transaction, so a
 * reader sees the old or the new, never none.  Until the Cedar engine is
 * linked in, a version is checked for shape here (the lexical skeleton of
 * Cedar: comments, strings, balanced brackets, statements that start with
 * permit or forbid after their annotations and end with ';'); the compile
 * and validate step is broker->hooks.policy_compile, and the snapshot swap
 * broker->hooks.policy_activated.
 */
#include <stdio.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

/* ---- the shape check ------------------------------------------------------------ */

struct lex {
    const char *p, *end;
    const char *tok; /* the last token's first byte */
    int line, col;
};

enum tok { T_END, T_IDENT, T_STRING, T_PUNCT, T_OTHER, T_ERROR };

static void adv(struct lex *l)
{
    if (*l->p == '\n') {
        l->line++;
        l->col = 1;
    } else {
        l->col++;
    }
    l->p++;
}

static int is_ident(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

/* The next token; *c is its first character, *line and *col its position. */
static enum tok next(struct lex *l, char *c, int *line, int *col, struct err *e)
{
    for (;;) {
        while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\n' || *l->p == '\r')) {
            adv(l);
        }
        if (l->p + 1 < l->end && l->p[0] == '/' && l->p[1] == '/') {
            while (l->p < l->end && *l->p != '\n') {
                adv(l);
            }
            continue;
        }
        break;
    }
    *line = l->line;
    *col = l->col;
    if (l->p >= l->end) {
        return T_END;
    }
    *c = *l->p;
    l->tok = l->p;
    if (*c == '"') {
        adv(l);
        while (l->p < l->end && *l->p != '"') {
            if (*l->p == '\\' && l->p + 1 < l->end) {
                adv(l);
            }
            adv(l);
        }
        if (l->p >= l->end) {
            err_set(e, ERR_INVALID, "cedar: %d:%d: unterminated string", *line, *col);
            return T_ERROR;
        }
        adv(l);
        return T_STRING;
    }
    if (is_ident(*c, 1)) {
        while (l->p < l->end && is_ident(*l->p, 0)) {
            adv(l);
        }
        return T_IDENT;
    }
    adv(l);
    return strchr("()[]{};@", *c) != NULL ? T_PUNCT : T_OTHER;
}

/* Statement states at bracket depth 0. */
enum st { S_START, S_ANN_NAME, S_ANN_AFTER, S_BODY };

int broker_policy_shape_check(const char *text, size_t len, struct err *e)
{
    struct lex l = {text, text + len, text, 1, 1};
    char stack[LIMIT_POLICY_NESTING], c = 0;
    int depth = 0, line, col, count = 0;
    enum st st = S_START;
    enum tok t;

    while ((t = next(&l, &c, &line, &col, e)) != T_END) {
        if (t == T_ERROR) {
            return ERR_INVALID;
        }
        if (t == T_PUNCT && strchr("([{", c) != NULL) {
            if (depth == LIMIT_POLICY_NESTING) {
                return err_set(e, ERR_INVALID, "cedar: %d:%d: nested deeper than %d", line, col,
                               LIMIT_POLICY_NESTING);
            }
            if (depth == 0 && st == S_START) {
                return err_set(e, ERR_INVALID, "cedar: %d:%d: expected permit or forbid", line,
                               col);
            }
            stack[depth++] = c == '(' ? ')' : c == '[' ? ']' : '}';
            continue;
        }
        if (t == T_PUNCT && strchr(")]}", c) != NULL) {
            if (depth == 0 || stack[depth - 1] != c) {
                return err_set(e, ERR_INVALID, "cedar: %d:%d: unbalanced '%c'", line, col, c);
            }
            if (--depth == 0 && st == S_ANN_AFTER) {
                st = S_START;
            }
            continue;
        }
        if (depth > 0) {
            continue;
        }
        if (st == S_ANN_AFTER) {
            st = S_START; /* an annotation without a value */
        }
        if (st == S_START) {
            if (t == T_PUNCT && c == '@') {
                st = S_ANN_NAME;
            } else if (t == T_IDENT && l.p - l.tok == 6 &&
                       (memcmp(l.tok, "permit", 6) == 0 || memcmp(l.tok, "forbid", 6) == 0)) {
                st = S_BODY;
            } else {
                return err_set(e, ERR_INVALID,
                               "cedar: %d:%d: expected permit, forbid or an annotation", line, col);
            }
        } else if (st == S_ANN_NAME) {
            if (t != T_IDENT) {
                return err_set(e, ERR_INVALID, "cedar: %d:%d: expected an annotation name", line,
                               col);
            }
            st = S_ANN_AFTER;
        } else if (t == T_PUNCT && c == ';') {
            st = S_START;
            count++;
        }
    }
    if (depth > 0) {
        return err_set(e, ERR_INVALID, "cedar: %d:%d: '%c' expected before the end", line, col,
                       stack[depth - 1]);
    }
    if (st != S_START) {
        return err_set(e, ERR_INVALID, "cedar: %d:%d: the last statement has no ';'", line, col);
    }
    if (count == 0) {
        return err_set(e, ERR_INVALID, "cedar: no policy statement (permit or forbid)");
    }
    return 0;
}

/* A schema: JSON (an object) or the human-readable form (balanced brackets,
 * terminated strings). */
static int schema_check(const char *s, size_t n, struct err *e)
{
    struct lex l = {s, s + n, s, 1, 1};
    json_error_t je;
    json_t *j;
    char c = 0;
    int depth = 0, line, col;
    enum tok t;

    while (l.p < l.end && strchr(" \t\r\n", *l.p) != NULL) {
        adv(&l);
    }
    if (l.p < l.end && *l.p == '{') {
        j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &je);
        if (!json_is_object(j)) {
            json_decref(j);
            return err_set(e, ERR_INVALID, "schema: %d:%d: not a JSON schema: %s", je.line,
                           je.column, j ? "not an object" : je.text);
        }
        json_decref(j);
        return 0;
    }
    while ((t = next(&l, &c, &line, &col, e)) != T_END) {
        if (t == T_ERROR) {
            return err_prefix(e, "schema: ");
        }
        if (t == T_PUNCT && strchr("([{", c) != NULL && ++depth > LIMIT_POLICY_NESTING) {
            return err_set(e, ERR_INVALID, "schema: %d:%d: nested too deep", line, col);
        }
        if (t == T_PUNCT && strchr(")]}", c) != NULL && --depth < 0) {
            return err_set(e, ERR_INVALID, "schema: %d:%d: unbalanced '%c'", line, col, c);
        }
    }
    return depth == 0 ? 0 : err_set(e, ERR_INVALID, "schema: unbalanced brackets at the end");
}

/* ---- versions -------------------------------------------------------------------- */

static json_t *policy_json(const struct store_policy *p, int with_text)
{
    json_t *j = json_pack("{s:I, s:o, s:s?, s:b, s:o}", "version", (json_int_t)p->version,
                          "created", broker_time_json(p->created_ms), "created_by", p->created_by,
                          "active", (int)p->active, "activated", broker_time_json(p->activated_ms));

    if (j != NULL && with_text) {
        json_object_set_new(j, "cedar", json_string(p->cedar));
        json_object_set_new(j, "schema", json_string(p->schema));
    }
    return j;
}

static const struct broker_field policy_fields[] = {
    {"cedar", JSON_STRING, 1, LIMIT_POLICY_TEXT},
    {"schema", JSON_STRING, 0, LIMIT_POLICY_SCHEMA},
    {"activate", JSON_TRUE, 0, 0},
};

struct policy_ctx {
    struct store_policy p;
    int activate;
    int64_t previous;
};

static int activate_in(struct store *s, struct broker_change *ch, struct policy_ctx *x,
                       struct err *e)
{
    struct store_policy cur;
    int r = s->ops->policy_get_active(s, ch->a, &cur, e);

    if (r != 0 && r != ERR_NOTFOUND) {
        return r;
    }
    x->previous = r == 0 ? cur.version : 0;
    r = s->ops->policy_activate(s, x->p.version, clock_wall_ms(), e);
    x->p.active = r == 0;
    return r;
}

static int policy_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct policy_ctx *x = ch->ctx;
    int r = s->ops->policy_insert(s, &x->p, &x->p.version, e);

    if (r == 0 && x->activate) {
        r = activate_in(s, ch, x, e);
    }
    ch->ev.policy_version = x->p.version;
    ch->ev.detail = json_pack("{s:I, s:I, s:I, s:b}", "version", (json_int_t)x->p.version,
                              "cedar_bytes", (json_int_t)strlen(x->p.cedar), "schema_bytes",
                              (json_int_t)strlen(x->p.schema), "activated", x->activate);
    return r;
}

static int compile(struct broker *b, int64_t version, const char *cedar, const char *schema,
                   struct err *e)
{
    int r;

    if (b->hooks.policy_compile == NULL) {
        return 0;
    }
    r = b->hooks.policy_compile(b->hooks.ctx, version, cedar, schema, e);
    if (r != 0) {
        err_prefix(e, "cedar: "); /* the field the edge names */
        e->code = ERR_INVALID;
        return ERR_INVALID;
    }
    return 0;
}

int broker_policy_create(struct broker *b, const struct broker_caller *c, json_t *in,
                         struct arena *a, json_t **out, struct err *e)
{
    struct policy_ctx x;
    struct broker_change ch = {c, a, &x, policy_apply, {.event = "policy.create"}};
    int r;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    r = broker_fields_check(in, policy_fields, BROKER_NFIELDS(policy_fields), e);
    if (r != 0) {
        return r;
    }
    x.p.cedar = broker_str(in, "cedar", NULL);
    x.p.schema = broker_str(in, "schema", "");
    x.p.created_ms = clock_wall_ms();
    x.p.created_by = c ? c->key_id : NULL;
    x.activate = broker_bool(in, "activate", 0);
    if ((r = broker_policy_shape_check(x.p.cedar, strlen(x.p.cedar), e)) != 0 ||
        (x.p.schema[0] != '\0' && (r = schema_check(x.p.schema, strlen(x.p.schema), e)) != 0) ||
        (r = compile(b, 0, x.p.cedar, x.p.schema, e)) != 0) {
        return r;
    }
    ch.ev.resource = "policies";
    r = broker_change_run(b, &ch, e);
    json_decref(ch.ev.detail);
    if (r == 0 && x.activate && b->hooks.policy_activated != NULL) {
        b->hooks.policy_activated(b->hooks.ctx, x.p.version);
    }
    return r ? r : broker_json_out(policy_json(&x.p, 0), out, e);
}

static int activate_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    struct policy_ctx *x = ch->ctx;
    int r = activate_in(s, ch, x, e);

    ch->ev.detail = json_pack("{s:I, s:I}", "version", (json_int_t)x->p.version, "previous",
                              (json_int_t)x->previous);
    return r;
}

int broker_policy_activate(struct broker *b, const struct broker_caller *c, int64_t version,
                           struct arena *a, json_t **out, struct err *e)
{
    struct policy_ctx x;
    struct broker_change ch = {c, a, &x, activate_apply, {.event = "policy.activate"}};
    int r;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    r = b->store->ops->policy_get(b->store, version, a, &x.p, e);
    if (r != 0) {
        return r == ERR_NOTFOUND
                   ? err_set(e, ERR_NOTFOUND, "no policy version %lld", (long long)version)
                   : r;
    }
    /* Compiled again: the engine may have changed since it was stored; a
     * version that fails is refused and the active one keeps serving. */
    if ((r = compile(b, version, x.p.cedar, x.p.schema, e)) != 0) {
        return r;
    }
    ch.ev.policy_version = version;
    ch.ev.resource = "policies";
    r = broker_change_run(b, &ch, e);
    json_decref(ch.ev.detail);
    if (r != 0) {
        return r;
    }
    if (b->hooks.policy_activated != NULL) {
        b->hooks.policy_activated(b->hooks.ctx, version);
    }
    x.p.active = 1;
    x.p.activated_ms = clock_wall_ms();
    return broker_json_out(policy_json(&x.p, 0), out, e);
}

int broker_policy_get(struct broker *b, int64_t version, struct arena *a, json_t **out,
                      struct err *e)
{
    struct store_policy p;
    int r;

    *out = NULL;
    r = version == 0 ? b->store->ops->policy_get_active(b->store, a, &p, e)
                     : b->store->ops->policy_get(b->store, version, a, &p, e);
    if (r == ERR_NOTFOUND) {
        return version == 0
                   ? err_set(e, ERR_NOTFOUND, "no policy version is active")
                   : err_set(e, ERR_NOTFOUND, "no policy version %lld", (long long)version);
    }
    return r ? r : broker_json_out(policy_json(&p, 1), out, e);
}

int broker_policy_list(struct broker *b, int64_t after, size_t limit, struct arena *a, json_t **out,
                       struct err *e)
{
    struct store_policy *v;
    json_t *items = json_array(), *page;
    size_t i, n = 0;
    int r;

    *out = NULL;
    if (items == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (limit == 0 || limit > LIMIT_LIST_PAGE_MAX) {
        limit = LIMIT_LIST_PAGE_MAX;
    }
    r = b->store->ops->policy_list(b->store, after, limit, a, &v, &n, e);
    for (i = 0; r == 0 && i < n; i++) {
        if (json_array_append_new(items, policy_json(&v[i], 0)) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    if (r != 0) {
        json_decref(items);
        return r;
    }
    page = n == limit
               ? json_pack("{s:o, s:I}", "items", items, "next", (json_int_t)v[n - 1].version)
               : json_pack("{s:o, s:n}", "items", items, "next");
    return broker_json_out(page, out, e);
}
