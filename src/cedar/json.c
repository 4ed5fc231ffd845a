/*
 * json.c: Cedar's JSON data formats (entities and request contexts) read into
 * the engine's values and entity store, with or without a schema.
 *
 * With a schema the parsing is schema-directed, as the reference's
 * ValueParser: the declared type of an attribute (or tag, or context field)
 * decides how a JSON value is read (a string where an extension type is
 * expected is that extension value; {"type","id"} where an entity is expected
 * is an entity reference), records must have exactly their declared
 * attributes (optional ones may be absent), and every value must have its
 * declared type.  Entity types, enum ids and parent types must conform, and
 * the action entities come from the schema's action declarations.  Without a
 * schema the reference's schemaless rules apply: {"__entity": uid} and
 * {"__extn": {"fn", "arg" | "args"}} escapes, other objects are records.
 * The small jansson helpers the JSON policy and schema formats share
 * (cedar_json_keys_ok, cedar_json_put, cedar_json_load_depth) live here too.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/ext.h"
#include "cedar/schema_int.h"
#include "util/limits.h"
#include "util/num.h"

/* An action entity found in the data (with a schema): kept to check that
 * it matches the schema's declaration once all entities are read. */
struct dact {
    struct cedar_uid uid;
    const struct cedar_uid *parents;
    size_t nparents;
};

struct jctx {
    const struct cedar_schema *schema;
    struct arena *a;
    struct err *e;
    unsigned depth;
    struct dact *acts; /* malloc'd */
    size_t nacts, capacts;
};

static int jerr(struct jctx *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int jerr(struct jctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_setv(c->e, ERR_INVALID, fmt, ap);
    va_end(ap);
    return ERR_INVALID;
}

static const char *jtype_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a non-integer number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const char *stype_name(const struct cedar_stype *t)
{
    static const char *const names[] = {"Bool",    "Long",     "String",   "ipaddr",
                                        "decimal", "datetime", "duration", "Set",
                                        "record",  "entity",   "?"};
    return names[t->kind];
}

/* ---- entity UIDs ---------------------------------------------------------- */

/* {"type": T, "id": I}; other keys are ignored, as the reference does. */
static int uid_fields(struct jctx *c, const json_t *j, struct arena *a, struct cedar_uid *out)
{
    const json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
    if (!json_is_string(t) || !json_is_string(id)) {
        return jerr(c, "an entity reference must be {\"type\": string, \"id\": string}");
    }
    size_t tl = json_string_length(t), il = json_string_length(id);
    /* as the reference parses a type name: identifiers joined by "::" with
     * nothing around them, no reserved word, no `__cedar` */
    if (!cedar_path_ok(json_string_value(t), tl, false, false)) {
        return jerr(c, "`%.*s` is not a valid entity type name", (int)(tl > 64 ? 64 : tl),
                    json_string_value(t));
    }
    char *ts = arena_strndup(a, json_string_value(t), tl);
    char *is = arena_strndup(a, json_string_value(id), il);
    if (ts == NULL || is == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    cedar_uid_init(out, ts, tl, is, il);
    return 0;
}

/* {"__entity": {"type","id"}} or {"type","id"}. */
static int parse_uid(struct jctx *c, const json_t *j, struct cedar_uid *out)
{
    if (!json_is_object(j)) {
        return jerr(c, "expected an entity reference, found %s", jtype_name(j));
    }
    /* as the reference's untagged reading: a well-formed __entity body, else
     * the object's own type and id (other keys ignored) */
    const json_t *inner = json_object_get(j, "__entity");
    if (json_is_object(inner) && json_is_string(json_object_get(inner, "type")) &&
        json_is_string(json_object_get(inner, "id"))) {
        return uid_fields(c, inner, c->a, out);
    }
    return uid_fields(c, j, c->a, out);
}

int cedar_uid_from_jansson(const struct json_t *json, struct arena *a, struct cedar_uid *out,
                           struct err *e)
{
    struct jctx c = {NULL, a, e, 0, NULL, 0, 0};
    memset(out, 0, sizeof(*out));
    return parse_uid(&c, json, out);
}

/* ---- extension calls -------------------------------------------------------- */

static int parse_untyped(struct jctx *c, const json_t *j, struct cedar_value *out);

/* Every extension function the reference accepts in an __extn escape
 * (constructors and methods alike), with its argument kinds. */
static const struct {
    const char *name;
    enum cedar_fn fn;
    size_t nargs;
    enum cedar_kind a0, a1;
} xfns[] = {
    {"ip", FN_IP, 1, CEDAR_STRING, 0},
    {"decimal", FN_DECIMAL, 1, CEDAR_STRING, 0},
    {"datetime", FN_DATETIME, 1, CEDAR_STRING, 0},
    {"duration", FN_DURATION, 1, CEDAR_STRING, 0},
    {"isIpv4", FN_IS_IPV4, 1, CEDAR_IP, 0},
    {"isIpv6", FN_IS_IPV6, 1, CEDAR_IP, 0},
    {"isLoopback", FN_IS_LOOPBACK, 1, CEDAR_IP, 0},
    {"isMulticast", FN_IS_MULTICAST, 1, CEDAR_IP, 0},
    {"isInRange", FN_IS_IN_RANGE, 2, CEDAR_IP, CEDAR_IP},
    {"lessThan", FN_LESS_THAN, 2, CEDAR_DECIMAL, CEDAR_DECIMAL},
    {"lessThanOrEqual", FN_LESS_THAN_OR_EQUAL, 2, CEDAR_DECIMAL, CEDAR_DECIMAL},
    {"greaterThan", FN_GREATER_THAN, 2, CEDAR_DECIMAL, CEDAR_DECIMAL},
    {"greaterThanOrEqual", FN_GREATER_THAN_OR_EQUAL, 2, CEDAR_DECIMAL, CEDAR_DECIMAL},
    {"offset", FN_OFFSET, 2, CEDAR_DATETIME, CEDAR_DURATION},
    {"durationSince", FN_DURATION_SINCE, 2, CEDAR_DATETIME, CEDAR_DATETIME},
    {"toDate", FN_TO_DATE, 1, CEDAR_DATETIME, 0},
    {"toTime", FN_TO_TIME, 1, CEDAR_DATETIME, 0},
    {"toDays", FN_TO_DAYS, 1, CEDAR_DURATION, 0},
    {"toHours", FN_TO_HOURS, 1, CEDAR_DURATION, 0},
    {"toMinutes", FN_TO_MINUTES, 1, CEDAR_DURATION, 0},
    {"toSeconds", FN_TO_SECONDS, 1, CEDAR_DURATION, 0},
    {"toMilliseconds", FN_TO_MILLISECONDS, 1, CEDAR_DURATION, 0},
};

/* Applies extension function `name` to args[0..n) (already values). */
static int ext_apply(struct jctx *c, const char *name, const struct cedar_value *args, size_t n,
                     struct cedar_value *out)
{
    size_t k = 0, nf = sizeof(xfns) / sizeof(xfns[0]);
    while (k < nf && strcmp(xfns[k].name, name) != 0) {
        k++;
    }
    if (k == nf) {
        return jerr(c, "unknown extension function `%s`", name);
    }
    if (n != xfns[k].nargs) {
        return jerr(c, "extension function %s: wrong number of arguments", name);
    }
    if (args[0].kind != xfns[k].a0 || (n == 2 && args[1].kind != xfns[k].a1)) {
        return jerr(c, "extension function %s: wrong argument type", name);
    }
    enum cedar_fn fn = xfns[k].fn;
    if (fn == FN_IP || fn == FN_DECIMAL || fn == FN_DATETIME || fn == FN_DURATION) {
        int r = cedar_ext_construct(fn, args[0].u.s.ptr, args[0].u.s.len, out, c->e);
        return r == 0 ? 0 : err_prefix(c->e, "%s(): ", name);
    }
    return cedar_ext_apply(fn, &args[0], n == 2 ? &args[1] : NULL, out, c->e);
}

/* True when j holds a non-integer number anywhere (depth-bounded). */
static bool has_real(const json_t *j, unsigned depth)
{
    const char *key;
    const json_t *v;
    size_t i;
    if (depth > LIMIT_JSON_DEPTH) {
        return true;
    }
    if (json_is_real(j)) {
        return true;
    }
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            if (has_real(v, depth + 1)) {
                return true;
            }
        }
    }
    if (json_is_object(j)) {
        json_object_foreach((json_t *)j, key, v)
        {
            if (has_real(v, depth + 1)) {
                return true;
            }
        }
    }
    return false;
}

static int parse_typed(struct jctx *c, const json_t *j, const struct cedar_stype *t,
                       struct cedar_value *out);

static enum cedar_stype_kind stype_of(enum cedar_kind k)
{
    switch (k) {
    case CEDAR_IP:
        return CEDAR_ST_IP;
    case CEDAR_DECIMAL:
        return CEDAR_ST_DECIMAL;
    case CEDAR_DATETIME:
        return CEDAR_ST_DATETIME;
    default:
        return CEDAR_ST_DURATION;
    }
}

/* {"__extn": {"fn": F, "arg": A}} or {"__extn": {"fn": F, "args": [A...]}}:
 * "arg" wins when both are there; other keys are ignored (as the reference). */
static int parse_extn(struct jctx *c, const json_t *inner, bool typed, struct cedar_value *out)
{
    const json_t *fn = json_object_get(inner, "fn");
    const json_t *arg = json_object_get(inner, "arg"), *args = json_object_get(inner, "args");
    if (!json_is_object(inner) || !json_is_string(fn) || (arg == NULL && !json_is_array(args))) {
        return jerr(c, "malformed __extn escape: expected {\"fn\": string, \"arg\": value} or "
                       "{\"fn\": string, \"args\": [values]}");
    }
    struct cedar_value vals[2];
    size_t n = arg ? 1 : json_array_size(args);
    if (n > 2) {
        return jerr(c, "extension function %s: wrong number of arguments", json_string_value(fn));
    }
    if (strlen(json_string_value(fn)) != json_string_length(fn)) {
        return jerr(c, "unknown extension function");
    }
    /* Other keys of the body are ignored; read without a schema their values
     * must still be JSON the reference can read as Cedar data (no
     * non-integer numbers). */
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)inner, key, v)
    {
        if (!typed && strcmp(key, "fn") != 0 && strcmp(key, "arg") != 0 &&
            strcmp(key, "args") != 0 && has_real(v, 0)) {
            return jerr(c, "a non-integer number is not a Cedar value");
        }
    }
    /* Where the schema expects an extension value the reference reads the
     * arguments with the types the function declares (so an argument may take
     * any form an extension-typed value may); without one, plainly. */
    size_t k = 0, nf = sizeof(xfns) / sizeof(xfns[0]);
    while (k < nf && strcmp(xfns[k].name, json_string_value(fn)) != 0) {
        k++;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *aj = arg ? arg : json_array_get(args, i);
        enum cedar_kind want =
            k < nf && i < xfns[k].nargs ? (i ? xfns[k].a1 : xfns[k].a0) : CEDAR_STRING;
        int r = !typed || want == CEDAR_STRING
                    ? parse_untyped(c, aj, &vals[i])
                    : parse_typed(c, aj, cedar_stype_builtin(stype_of(want)), &vals[i]);
        if (r != 0) {
            return r;
        }
    }
    return ext_apply(c, json_string_value(fn), vals, n, out);
}

/* ---- values ------------------------------------------------------------------ */

static int enter(struct jctx *c)
{
    if (++c->depth > LIMIT_JSON_DEPTH) {
        return err_set(c->e, ERR_LIMIT, "JSON value nested too deeply (limit %d)",
                       LIMIT_JSON_DEPTH);
    }
    return 0;
}

static int parse_set(struct jctx *c, const json_t *j, const struct cedar_stype *elem,
                     struct cedar_value *out);
static int check_uid(struct jctx *c, const struct cedar_uid *u, const struct cedar_sentity **out);
static int parse_typed(struct jctx *c, const json_t *j, const struct cedar_stype *t,
                       struct cedar_value *out);

/* An escape is an object with exactly that one key and a well-formed body;
 * anything else is a record (the reference reads these untagged). */
static bool is_entity_escape(const json_t *j)
{
    const json_t *in = json_object_get(j, "__entity");
    return json_object_size(j) == 1 && json_is_object(in) &&
           json_is_string(json_object_get(in, "type")) && json_is_string(json_object_get(in, "id"));
}

static bool is_extn_escape(const json_t *j)
{
    const json_t *in = json_object_get(j, "__extn");
    return json_object_size(j) == 1 && json_is_object(in) &&
           json_is_string(json_object_get(in, "fn")) &&
           (json_object_get(in, "arg") != NULL || json_is_array(json_object_get(in, "args")));
}

static int parse_untyped_record(struct jctx *c, const json_t *j, struct cedar_value *out)
{
    size_t n = json_object_size(j), i = 0, klen;
    const char *key;
    json_t *v;
    if (n > LIMIT_CEDAR_RECORD_MAX) {
        return err_set(c->e, ERR_LIMIT, "record has too many attributes");
    }
    struct cedar_attr *attrs = arena_calloc(c->a, n ? n : 1, sizeof(*attrs));
    if (attrs == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    json_object_keylen_foreach((json_t *)j, key, klen, v)
    {
        char *k = arena_strndup(c->a, key, klen);
        if (k == NULL) {
            return err_set(c->e, ERR_NOMEM, "out of memory");
        }
        attrs[i].key.ptr = k;
        attrs[i].key.len = klen;
        int r = parse_untyped(c, v, &attrs[i].val);
        if (r != 0) {
            return err_prefix(c->e, "attribute `%.*s`: ", (int)klen, key);
        }
        i++;
    }
    return cedar_value_record(c->a, attrs, i, out, c->e);
}

/* The reference's schemaless reading of a JSON value. */
static int parse_untyped(struct jctx *c, const json_t *j, struct cedar_value *out)
{
    int r = enter(c);
    if (r != 0) {
        return r;
    }
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        *out = cedar_value_bool(json_is_true(j));
        break;
    case JSON_INTEGER:
        *out = cedar_value_long((int64_t)json_integer_value(j));
        break;
    case JSON_STRING:
        if (json_string_length(j) > LIMIT_CEDAR_STRING_LEN) {
            return err_set(c->e, ERR_LIMIT, "string too long");
        }
        r = cedar_value_string(c->a, json_string_value(j), json_string_length(j), out);
        if (r != 0) {
            return err_set(c->e, r, "out of memory");
        }
        break;
    case JSON_ARRAY:
        r = parse_set(c, j, NULL, out);
        break;
    case JSON_OBJECT:
        /* As the reference's untagged reading: __expr, then an __entity escape
         * whose value has string type and id, then an __extn escape with a
         * string fn and arg or args; anything else is a record. */
        if (json_object_get(j, "__expr") != NULL && json_object_size(j) == 1) {
            return jerr(c, "the __expr escape is no longer supported");
        } else if (is_entity_escape(j)) {
            struct cedar_uid u;
            if ((r = parse_uid(c, j, &u)) == 0) {
                r = cedar_value_entity(c->a, u.type.ptr, u.type.len, u.id.ptr, u.id.len, out);
                if (r != 0) {
                    return err_set(c->e, r, "out of memory");
                }
            }
        } else if (is_extn_escape(j)) {
            r = parse_extn(c, json_object_get(j, "__extn"), false, out);
        } else {
            r = parse_untyped_record(c, j, out);
        }
        break;
    default:
        return jerr(c, "%s is not a Cedar value", jtype_name(j));
    }
    c->depth--;
    return r;
}

static int parse_set(struct jctx *c, const json_t *j, const struct cedar_stype *elem,
                     struct cedar_value *out)
{
    size_t n = json_array_size(j);
    if (n > LIMIT_CEDAR_SET_MAX) {
        return err_set(c->e, ERR_LIMIT, "set has more than %d elements", LIMIT_CEDAR_SET_MAX);
    }
    struct cedar_value *items = calloc(n ? n : 1, sizeof(*items));
    if (items == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        const json_t *v = json_array_get(j, i);
        r = elem ? parse_typed(c, v, elem, &items[i]) : parse_untyped(c, v, &items[i]);
    }
    if (r == 0) {
        r = cedar_value_set(c->a, items, n, out, c->e);
    }
    free(items);
    return r;
}

static const struct cedar_sattr *find_sattr(const struct cedar_stype *t, const char *key,
                                            size_t klen)
{
    size_t lo = 0, hi = t->nattrs;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = cedar_str_cmp((struct cedar_str){key, klen}, t->attrs[mid].name);
        if (cmp == 0) {
            return &t->attrs[mid];
        }
        if (cmp < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

/* A record of type t: every JSON attribute declared, every required one present. */
static int parse_record(struct jctx *c, const json_t *j, const struct cedar_stype *t,
                        struct cedar_value *out)
{
    if (!json_is_object(j)) {
        return jerr(c, "expected a record, found %s", jtype_name(j));
    }
    size_t n = json_object_size(j), i = 0, klen;
    const char *key;
    json_t *v;
    struct cedar_attr *attrs = arena_calloc(c->a, n ? n : 1, sizeof(*attrs));
    if (attrs == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    json_object_keylen_foreach((json_t *)j, key, klen, v)
    {
        const struct cedar_sattr *sa = find_sattr(t, key, klen);
        if (sa == NULL) {
            return jerr(c, "attribute `%.*s` is not declared in the schema", (int)klen, key);
        }
        char *k = arena_strndup(c->a, key, klen);
        if (k == NULL) {
            return err_set(c->e, ERR_NOMEM, "out of memory");
        }
        attrs[i].key.ptr = k;
        attrs[i].key.len = klen;
        int r = parse_typed(c, v, sa->type, &attrs[i].val);
        if (r != 0) {
            return err_prefix(c->e, "attribute `%.*s`: ", (int)klen, key);
        }
        i++;
    }
    for (size_t k = 0; k < t->nattrs; k++) {
        const struct cedar_sattr *sa = &t->attrs[k];
        if (sa->required && json_object_getn(j, sa->name.ptr, sa->name.len) == NULL) {
            return jerr(c, "required attribute `%.*s` is missing", (int)sa->name.len, sa->name.ptr);
        }
    }
    return cedar_value_record(c->a, attrs, i, out, c->e);
}

static enum cedar_kind ext_kind(enum cedar_stype_kind k)
{
    switch (k) {
    case CEDAR_ST_IP:
        return CEDAR_IP;
    case CEDAR_ST_DECIMAL:
        return CEDAR_DECIMAL;
    case CEDAR_ST_DATETIME:
        return CEDAR_DATETIME;
    case CEDAR_ST_DURATION:
        return CEDAR_DURATION;
    case CEDAR_ST_BOOL:
        return CEDAR_BOOL;
    case CEDAR_ST_LONG:
        return CEDAR_LONG;
    default:
        return CEDAR_STRING;
    }
}

/* Schema-directed reading of j as a value of type t. */
static int parse_typed(struct jctx *c, const json_t *j, const struct cedar_stype *t,
                       struct cedar_value *out)
{
    int r = enter(c);
    if (r != 0) {
        return r;
    }
    switch (t->kind) {
    case CEDAR_ST_ENTITY: {
        struct cedar_uid u;
        if ((r = parse_uid(c, j, &u)) != 0) {
            break;
        }
        if (u.type.len != t->name.len || memcmp(u.type.ptr, t->name.ptr, u.type.len) != 0) {
            return jerr(c, "expected an entity of type %.*s, found one of type %.*s",
                        (int)t->name.len, t->name.ptr, (int)u.type.len, u.type.ptr);
        }
        if (c->schema != NULL) { /* an enum entity must name one of its ids */
            const struct cedar_sentity *se;
            if ((r = check_uid(c, &u, &se)) != 0) {
                return r;
            }
        }
        r = cedar_value_entity(c->a, u.type.ptr, u.type.len, u.id.ptr, u.id.len, out);
        if (r != 0) {
            return err_set(c->e, r, "out of memory");
        }
        break;
    }
    case CEDAR_ST_IP:
    case CEDAR_ST_DECIMAL:
    case CEDAR_ST_DATETIME:
    case CEDAR_ST_DURATION:
        if (json_is_string(j)) {
            /* the implicit constructor call the reference makes */
            static const char *const ctor[] = {"ip", "decimal", "datetime", "duration"};
            struct cedar_value arg;
            r = cedar_value_string(c->a, json_string_value(j), json_string_length(j), &arg);
            if (r != 0) {
                return err_set(c->e, r, "out of memory");
            }
            r = ext_apply(c, ctor[t->kind - CEDAR_ST_IP], &arg, 1, out);
            break;
        }
        if (json_is_object(j) && json_object_get(j, "__expr") == NULL) {
            /* {"__extn": {fn, arg|args}, ...} or the implicit {fn, arg|args};
             * other keys are ignored, as the reference does here */
            const json_t *in = json_object_get(j, "__extn");
            const json_t *body = in != NULL ? in : j;
            if (!json_is_object(body) || !json_is_string(json_object_get(body, "fn")) ||
                (json_object_get(body, "arg") == NULL &&
                 !json_is_array(json_object_get(body, "args")))) {
                return jerr(c, "expected %s, found %s", stype_name(t), jtype_name(j));
            }
            if ((r = parse_extn(c, body, true, out)) == 0 && out->kind != ext_kind(t->kind)) {
                return jerr(c, "expected %s, found %s", stype_name(t), cedar_kind_name(out->kind));
            }
            break;
        }
        /* anything else is read plainly and must have the type */
        __attribute__((fallthrough));
    case CEDAR_ST_BOOL:
    case CEDAR_ST_LONG:
    case CEDAR_ST_STRING:
        if ((r = parse_untyped(c, j, out)) == 0 && out->kind != ext_kind(t->kind)) {
            return jerr(c, "expected %s, found %s", stype_name(t), cedar_kind_name(out->kind));
        }
        break;
    case CEDAR_ST_SET:
        if (!json_is_array(j)) {
            return jerr(c, "expected a set, found %s", jtype_name(j));
        }
        r = parse_set(c, j, t->elem, out);
        break;
    case CEDAR_ST_RECORD:
        r = parse_record(c, j, t, out);
        break;
    default:
        return err_set(c->e, ERR_INTERNAL, "unresolved schema type");
    }
    c->depth--;
    return r;
}

/* ---- entities -------------------------------------------------------------- */

static bool enum_has(const struct cedar_sentity *se, const struct cedar_str *id)
{
    for (size_t i = 0; i < se->nenum; i++) {
        if (se->enum_ids[i].len == id->len && memcmp(se->enum_ids[i].ptr, id->ptr, id->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Checks uid against the schema: a declared type, an allowed enum id. */
static int check_uid(struct jctx *c, const struct cedar_uid *u, const struct cedar_sentity **out)
{
    const struct cedar_sentity *se = cedar_schema_entity(c->schema, u->type.ptr, u->type.len);
    if (se == NULL) {
        return jerr(c, "entity type `%.*s` is not declared in the schema", (int)u->type.len,
                    u->type.ptr);
    }
    if (se->is_enum && !enum_has(se, &u->id)) {
        return jerr(c, "`%.*s` is not one of the ids of enum entity type `%.*s`", (int)u->id.len,
                    u->id.ptr, (int)u->type.len, u->type.ptr);
    }
    *out = se;
    return 0;
}

/* True when an entity of type se may have a parent of p's type: the
 * reference allows any type in the transitive closure of the declared parent
 * types (A in [B], B in [C]: an A may have a C parent). */
static bool parent_allowed(struct jctx *c, const struct cedar_sentity *se,
                           const struct cedar_uid *p)
{
    size_t n = c->schema->nentities, head = 0, tail = 0;
    const struct cedar_sentity **queue;
    bool *seen, found = false;
    for (size_t i = 0; i < se->nparents; i++) { /* the usual case, without allocating */
        if (se->parents[i].len == p->type.len &&
            memcmp(se->parents[i].ptr, p->type.ptr, p->type.len) == 0) {
            return true;
        }
    }
    queue = calloc(n + 1, sizeof(*queue));
    seen = calloc(n + 1, sizeof(*seen));
    if (queue == NULL || seen == NULL) {
        free(queue);
        free(seen);
        return false;
    }
    queue[tail++] = se;
    seen[se - c->schema->entities] = true;
    while (head < tail && !found) {
        const struct cedar_sentity *cur = queue[head++];
        for (size_t i = 0; i < cur->nparents && !found; i++) {
            const struct cedar_sentity *pe =
                cedar_schema_entity(c->schema, cur->parents[i].ptr, cur->parents[i].len);
            if (pe == NULL || seen[pe - c->schema->entities]) {
                continue;
            }
            found =
                pe->name.len == p->type.len && memcmp(pe->name.ptr, p->type.ptr, p->type.len) == 0;
            seen[pe - c->schema->entities] = true;
            queue[tail++] = pe;
        }
    }
    free(queue);
    free(seen);
    return found;
}

/* The action entities declared by the schema, with their groups as parents. */
static int add_schema_actions(struct jctx *c, struct cedar_entities *es)
{
    for (size_t i = 0; i < c->schema->nactions; i++) {
        const struct cedar_saction *sa = &c->schema->actions[i];
        int r =
            cedar_entities_add(es, &sa->uid, NULL, NULL, sa->parents, sa->nparents, false, c->e);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

static int parse_parents(struct jctx *c, const json_t *jp, const struct cedar_sentity *se,
                         bool action, struct cedar_uid **out, size_t *nout)
{
    size_t n = jp ? json_array_size(jp) : 0;
    if (jp != NULL && !json_is_array(jp)) {
        return jerr(c, "\"parents\" must be an array");
    }
    struct cedar_uid *ps = arena_calloc(c->a, n ? n : 1, sizeof(*ps));
    if (ps == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int r = parse_uid(c, json_array_get(jp, i), &ps[i]);
        if (r != 0) {
            return err_prefix(c->e, "parent %zu: ", i);
        }
        if (action) { /* an action's parents, with or without a schema */
            if (!cedar_is_action_type(&ps[i].type)) {
                return jerr(c, "an action cannot have a non-action parent `%.*s`",
                            (int)ps[i].type.len, ps[i].type.ptr);
            }
        } else if (c->schema != NULL) {
            const struct cedar_sentity *pse;
            if (!parent_allowed(c, se, &ps[i])) {
                return jerr(c, "an entity of this type cannot have a parent of type `%.*s`",
                            (int)ps[i].type.len, ps[i].type.ptr);
            }
            if ((r = check_uid(c, &ps[i], &pse)) != 0) {
                return r;
            }
        }
    }
    *out = ps;
    *nout = n;
    return 0;
}

static int parse_tags(struct jctx *c, const json_t *jt, const struct cedar_sentity *se,
                      struct cedar_value *out, bool *have)
{
    *have = false;
    if (jt == NULL) {
        return 0;
    }
    if (!json_is_object(jt)) {
        return jerr(c, "\"tags\" must be an object");
    }
    if (c->schema == NULL) {
        *have = true;
        return parse_untyped_record(c, jt, out);
    }
    if (se->tags == NULL) {
        if (json_object_size(jt) == 0) {
            return 0;
        }
        return jerr(c, "entity type `%.*s` has no tags in the schema", (int)se->name.len,
                    se->name.ptr);
    }
    /* every tag has the declared tag type: read as a record of that type */
    size_t n = json_object_size(jt), i = 0, klen;
    const char *key;
    json_t *v;
    struct cedar_attr *attrs = arena_calloc(c->a, n ? n : 1, sizeof(*attrs));
    if (attrs == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    json_object_keylen_foreach((json_t *)jt, key, klen, v)
    {
        char *k = arena_strndup(c->a, key, klen);
        if (k == NULL) {
            return err_set(c->e, ERR_NOMEM, "out of memory");
        }
        attrs[i].key.ptr = k;
        attrs[i].key.len = klen;
        int r = parse_typed(c, v, se->tags, &attrs[i].val);
        if (r != 0) {
            return err_prefix(c->e, "tag `%.*s`: ", (int)klen, key);
        }
        i++;
    }
    *have = true;
    return cedar_value_record(c->a, attrs, i, out, c->e);
}

static bool empty_or_absent(const json_t *j)
{
    return j == NULL || (json_is_object(j) && json_object_size(j) == 0);
}

/* An action entity in the data, with a schema: it must be declared, carry no
 * attributes or tags (schema actions have none) and name only actions as
 * parents; its ancestors are compared with the schema's once everything is
 * read (check_data_actions).  The schema's copy is the one kept. */
static int parse_data_action(struct jctx *c, const json_t *j, const struct cedar_uid *uid)
{
    struct cedar_uid *parents;
    size_t n;
    int r;
    if (cedar_schema_action(c->schema, uid) == NULL) {
        return jerr(c, "found an action entity that the schema does not declare");
    }
    if (!empty_or_absent(json_object_get(j, "attrs")) ||
        !empty_or_absent(json_object_get(j, "tags"))) {
        return jerr(c, "the definition of this action does not match its schema declaration");
    }
    if ((r = parse_parents(c, json_object_get(j, "parents"), NULL, true, &parents, &n)) != 0) {
        return r;
    }
    if (c->nacts == c->capacts) {
        size_t cap = c->capacts ? c->capacts * 2 : 16;
        struct dact *na = realloc(c->acts, cap * sizeof(*na));
        if (na == NULL) {
            return err_set(c->e, ERR_NOMEM, "out of memory");
        }
        c->acts = na;
        c->capacts = cap;
    }
    c->acts[c->nacts].uid = *uid;
    c->acts[c->nacts].parents = parents;
    c->acts[c->nacts].nparents = n;
    c->nacts++;
    return 0;
}

static const struct dact *find_dact(const struct jctx *c, const struct cedar_uid *u)
{
    for (size_t i = 0; i < c->nacts; i++) {
        if (cedar_uid_eq(&c->acts[i].uid, u)) {
            return &c->acts[i];
        }
    }
    return NULL;
}

/* Ancestors of start (excluding itself unless on a cycle), following the
 * data's action entities (data) or the schema's declarations (!data). */
static int action_ancestors(const struct jctx *c, const struct cedar_uid *start, bool data,
                            const struct cedar_uid ***out, size_t *nout)
{
    const struct cedar_uid **set = NULL;
    size_t n = 0, cap = 0, next = 0;
    const struct cedar_uid *cur = start;
    for (;;) {
        const struct cedar_uid *ps = NULL;
        size_t np = 0;
        if (data) {
            const struct dact *d = find_dact(c, cur);
            if (d != NULL) {
                ps = d->parents;
                np = d->nparents;
            }
        } else {
            const struct cedar_saction *sa = cedar_schema_action(c->schema, cur);
            if (sa != NULL) {
                ps = sa->parents;
                np = sa->nparents;
            }
        }
        for (size_t i = 0; i < np; i++) {
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++) {
                dup = cedar_uid_eq(set[k], &ps[i]);
            }
            if (dup) {
                continue;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                const struct cedar_uid **ns = realloc(set, cap * sizeof(*ns));
                if (ns == NULL) {
                    free(set);
                    return ERR_NOMEM;
                }
                set = ns;
            }
            set[n++] = &ps[i];
        }
        if (next == n) {
            break;
        }
        cur = set[next++];
    }
    *out = set;
    *nout = n;
    return 0;
}

/* Every action entity of the data must have the ancestors the schema gives
 * it (the reference compares the two entities after computing the data's
 * transitive closure). */
static int check_data_actions(struct jctx *c)
{
    for (size_t i = 0; i < c->nacts; i++) {
        const struct cedar_uid **da = NULL, **sa = NULL;
        size_t dn = 0, sn = 0;
        bool same;
        if (action_ancestors(c, &c->acts[i].uid, true, &da, &dn) != 0 ||
            action_ancestors(c, &c->acts[i].uid, false, &sa, &sn) != 0) {
            free(da);
            free(sa);
            return err_set(c->e, ERR_NOMEM, "out of memory");
        }
        same = dn == sn;
        for (size_t k = 0; k < dn && same; k++) {
            bool found = false;
            for (size_t m = 0; m < sn && !found; m++) {
                found = cedar_uid_eq(da[k], sa[m]);
            }
            same = found;
        }
        free(da);
        free(sa);
        if (!same) {
            const struct cedar_uid *u = &c->acts[i].uid;
            return jerr(c,
                        "entity %.*s::\"%.*s\": the definition of this action does not match "
                        "its schema declaration",
                        (int)u->type.len, u->type.ptr, (int)(u->id.len > 64 ? 64 : u->id.len),
                        u->id.ptr);
        }
    }
    return 0;
}

static bool uid_in(const struct cedar_uid *u, const struct cedar_uid *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (cedar_uid_eq(u, &set[i])) {
            return true;
        }
    }
    return false;
}

/* The reference accepts an entity given twice when both copies are equal. */
static bool same_entity(const struct cedar_entities *es, const struct cedar_uid *uid,
                        const struct cedar_value *attrs, const struct cedar_value *tags,
                        const struct cedar_uid *parents, size_t nparents)
{
    const struct cedar_entity *old = cedar_entities_find(es, uid);
    struct cedar_value oa = {.kind = CEDAR_RECORD}, ot = {.kind = CEDAR_RECORD};
    struct cedar_value empty = cedar_value_empty_record();
    if (old == NULL) {
        return false;
    }
    oa.u.rec = old->attrs;
    ot.u.rec = old->tags;
    if (cedar_value_cmp(&oa, attrs) != 0 || cedar_value_cmp(&ot, tags ? tags : &empty) != 0) {
        return false;
    }
    for (size_t i = 0; i < nparents; i++) {
        if (!uid_in(&parents[i], old->parents, old->nparents)) {
            return false;
        }
    }
    for (size_t i = 0; i < old->nparents; i++) {
        if (!uid_in(&old->parents[i], parents, nparents)) {
            return false;
        }
    }
    return true;
}

static int parse_entity(struct jctx *c, struct cedar_entities *es, const json_t *j)
{
    if (!json_is_object(j)) {
        return jerr(c, "an entity must be an object, found %s", jtype_name(j));
    }
    /* Other fields are ignored, as the reference does; attrs and parents are
     * required. */
    const json_t *juid = json_object_get(j, "uid");
    struct cedar_uid uid;
    struct cedar_uid *parents = NULL;
    size_t nparents = 0;
    json_t *none = NULL;
    int r;
    if (juid == NULL) {
        return jerr(c, "an entity needs a \"uid\"");
    }
    if ((r = parse_uid(c, juid, &uid)) != 0) {
        return err_prefix(c->e, "uid: ");
    }
    if (json_object_get(j, "attrs") == NULL || json_object_get(j, "parents") == NULL) {
        r = jerr(c, "an entity needs \"attrs\" and \"parents\"");
        goto prefix;
    }
    const struct cedar_sentity *se = NULL;
    if (c->schema != NULL && cedar_is_action_type(&uid.type)) {
        r = parse_data_action(c, j, &uid);
        goto prefix;
    }
    if (c->schema != NULL && (r = check_uid(c, &uid, &se)) != 0) {
        goto prefix;
    }
    const json_t *jattrs = json_object_get(j, "attrs");
    struct cedar_value attrs = cedar_value_empty_record(), tags = cedar_value_empty_record();
    if (jattrs == NULL && (jattrs = none = json_object()) == NULL) {
        return err_set(c->e, ERR_NOMEM, "out of memory");
    }
    if (!json_is_object(jattrs)) {
        r = jerr(c, "\"attrs\" must be an object");
        goto prefix;
    }
    r = se ? parse_record(c, jattrs, se->attrs, &attrs) : parse_untyped_record(c, jattrs, &attrs);
    if (r != 0) {
        goto prefix;
    }
    bool have_tags = false;
    if ((r = parse_parents(c, json_object_get(j, "parents"), se, cedar_is_action_type(&uid.type),
                           &parents, &nparents)) != 0 ||
        (r = parse_tags(c, json_object_get(j, "tags"), se, &tags, &have_tags)) != 0) {
        goto prefix;
    }
    r = cedar_entities_add(es, &uid, &attrs, have_tags ? &tags : NULL, parents, nparents, false,
                           c->e);
    if (r == ERR_CONFLICT) {
        r = same_entity(es, &uid, &attrs, have_tags ? &tags : NULL, parents, nparents)
                ? 0
                : jerr(c, "duplicate entity with a different definition");
    }
prefix:
    json_decref(none);
    if (r != 0) {
        err_prefix(c->e, "entity %.*s::\"%.*s\": ", (int)uid.type.len, uid.type.ptr,
                   (int)(uid.id.len > 64 ? 64 : uid.id.len), uid.id.ptr);
    }
    return r;
}

int cedar_entities_from_jansson(const struct json_t *json, const struct cedar_schema *schema,
                                struct cedar_entities **out, struct err *e)
{
    struct cedar_entities *es = NULL;
    int r;
    *out = NULL;
    if (!json_is_array(json)) {
        return err_set(e, ERR_INVALID, "entities: expected an array of entities");
    }
    if ((r = cedar_entities_new(&es)) != 0) {
        return err_set(e, r, "out of memory");
    }
    struct jctx c = {schema, cedar_entities_arena(es), e, 0, NULL, 0, 0};
    if (schema != NULL && (r = add_schema_actions(&c, es)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < json_array_size(json); i++) {
        c.depth = 0;
        if ((r = parse_entity(&c, es, json_array_get(json, i))) != 0) {
            goto out;
        }
    }
    if ((r = check_data_actions(&c)) != 0) {
        goto out;
    }
    if ((r = cedar_entities_finish(es, e)) != 0) {
        goto out;
    }
    *out = es;
    es = NULL;
out:
    free(c.acts);
    cedar_entities_free(es);
    return r;
}

/* ---- a JSON reader that keeps NUL bytes in object keys ----------------------
 *
 * Cedar data has attribute names and tag keys with "\u0000" in them (the
 * conformance corpus does), which jansson's decoder refuses in object keys
 * even with JSON_ALLOW_NUL, although jansson 2.14 objects can hold them
 * (json_object_setn).  So this strict RFC 8259 reader builds the jansson tree
 * itself: duplicate keys are refused, nesting is bounded, strings must be
 * UTF-8, lone surrogates are refused. */

struct jl {
    const char *s;
    size_t n, i;
    int line;
    size_t line_start;
    unsigned depth;
    struct err *e;
    const char *what;
    unsigned max_depth;
};

static int jl_err(struct jl *p, const char *msg)
{
    return err_set(p->e, ERR_INVALID, "%s:%d:%zu: %s", p->what, p->line, p->i - p->line_start + 1,
                   msg);
}

static void jl_ws(struct jl *p)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '\n') {
            p->line++;
            p->line_start = p->i + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
        p->i++;
    }
}

static int jl_hex4(struct jl *p, unsigned *out)
{
    unsigned v = 0;
    if (p->i + 4 > p->n) {
        return jl_err(p, "truncated \\u escape");
    }
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        int d = cedar_hexval(c);
        if (d < 0) {
            return jl_err(p, "invalid \\u escape");
        }
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 0;
}

/* Reads a string (p->i at the opening quote) into a malloc'd buffer. */
static int jl_string(struct jl *p, char **out, size_t *outlen)
{
    size_t start = ++p->i, end = start;
    while (end < p->n && p->s[end] != '"') {
        end += p->s[end] == '\\' ? 2 : 1;
    }
    if (end >= p->n) {
        return jl_err(p, "unterminated string");
    }
    char *o = malloc(end - start + 1); /* escapes never grow */
    size_t len = 0;
    if (o == NULL) {
        return err_set(p->e, ERR_NOMEM, "out of memory");
    }
    while (p->i < end) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c < 0x20) {
            free(o);
            return jl_err(p, "control character in string");
        }
        if (c != '\\') {
            o[len++] = (char)c;
            p->i++;
            continue;
        }
        char esc = p->s[p->i + 1];
        p->i += 2;
        const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
        const char *q = esc ? strchr(from, esc) : NULL;
        if (q != NULL) {
            o[len++] = to[q - from];
            continue;
        }
        unsigned cp, lo;
        if (esc != 'u' || jl_hex4(p, &cp) != 0) {
            free(o);
            return esc == 'u' ? ERR_INVALID : jl_err(p, "invalid escape in string");
        }
        if (cp >= 0xd800 && cp < 0xdc00) {
            if (p->i + 2 > end || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                free(o);
                return jl_err(p, "lone surrogate in \\u escape");
            }
            p->i += 2;
            if (jl_hex4(p, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff) {
                free(o);
                return jl_err(p, "lone surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            free(o);
            return jl_err(p, "lone surrogate in \\u escape");
        }
        len += cedar_utf8_put(o + len, cp);
    }
    p->i = end + 1;
    *out = o;
    *outlen = len;
    return 0;
}

static int jl_value(struct jl *p, json_t **out);

static int jl_number(struct jl *p, json_t **out)
{
    size_t start = p->i;
    bool frac = false;
    if (p->i < p->n && p->s[p->i] == '-') {
        p->i++;
    }
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9') {
        return jl_err(p, "invalid number");
    }
    if (p->s[p->i] == '0' && p->i + 1 < p->n && p->s[p->i + 1] >= '0' && p->s[p->i + 1] <= '9') {
        return jl_err(p, "leading zero in number");
    }
    while (p->i < p->n && ((p->s[p->i] >= '0' && p->s[p->i] <= '9') || p->s[p->i] == '.' ||
                           p->s[p->i] == 'e' || p->s[p->i] == 'E' ||
                           ((p->s[p->i] == '+' || p->s[p->i] == '-') &&
                            (p->s[p->i - 1] == 'e' || p->s[p->i - 1] == 'E')))) {
        frac |= p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E';
        p->i++;
    }
    char buf[64];
    size_t len = p->i - start;
    if (len >= sizeof(buf)) {
        return jl_err(p, "number too long");
    }
    memcpy(buf, p->s + start, len);
    buf[len] = '\0';
    if (!frac) {
        int64_t v;
        if (num_parse_i64(buf, len, INT64_MIN, INT64_MAX, &v) != 0) {
            return jl_err(p, "integer out of range");
        }
        *out = json_integer((json_int_t)v);
    } else {
        char *end;
        double d = strtod(buf, &end);
        if (*end != '\0') {
            return jl_err(p, "invalid number");
        }
        *out = json_real(d);
    }
    return *out ? 0 : err_set(p->e, ERR_NOMEM, "out of memory");
}

static int jl_object(struct jl *p, json_t **out)
{
    json_t *o = json_object();
    int r = 0;
    if (o == NULL) {
        return err_set(p->e, ERR_NOMEM, "out of memory");
    }
    p->i++;
    jl_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        *out = o;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        size_t klen = 0;
        json_t *v = NULL;
        jl_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"') {
            r = jl_err(p, "expected a string key");
            break;
        }
        if ((r = jl_string(p, &key, &klen)) != 0) {
            break;
        }
        jl_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            free(key);
            r = jl_err(p, "expected ':'");
            break;
        }
        p->i++;
        if ((r = jl_value(p, &v)) != 0) {
            free(key);
            break;
        }
        if (json_object_getn(o, key, klen) != NULL) {
            free(key);
            json_decref(v);
            r = jl_err(p, "duplicate object key");
            break;
        }
        if (json_object_setn_new(o, key, klen, v) != 0) { /* checks the key's UTF-8 */
            free(key);
            r = jl_err(p, "invalid UTF-8 in object key");
            break;
        }
        free(key);
        jl_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            break;
        }
        r = jl_err(p, "expected ',' or '}'");
        break;
    }
    if (r != 0) {
        json_decref(o);
        return r;
    }
    *out = o;
    return 0;
}

static int jl_array(struct jl *p, json_t **out)
{
    json_t *a = json_array();
    int r = 0;
    if (a == NULL) {
        return err_set(p->e, ERR_NOMEM, "out of memory");
    }
    p->i++;
    jl_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        *out = a;
        return 0;
    }
    for (;;) {
        json_t *v;
        if ((r = jl_value(p, &v)) != 0) {
            break;
        }
        if (json_array_append_new(a, v) != 0) {
            r = err_set(p->e, ERR_NOMEM, "out of memory");
            break;
        }
        jl_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            break;
        }
        r = jl_err(p, "expected ',' or ']'");
        break;
    }
    if (r != 0) {
        json_decref(a);
        return r;
    }
    *out = a;
    return 0;
}

static bool jl_word(struct jl *p, const char *w)
{
    size_t n = strlen(w);
    if (p->i + n <= p->n && memcmp(p->s + p->i, w, n) == 0) {
        p->i += n;
        return true;
    }
    return false;
}

static int jl_value(struct jl *p, json_t **out)
{
    int r;
    jl_ws(p);
    if (p->i >= p->n) {
        return jl_err(p, "unexpected end of input");
    }
    if (++p->depth > p->max_depth) {
        return err_set(p->e, ERR_LIMIT, "%s: JSON nested too deeply (limit %u)", p->what,
                       p->max_depth);
    }
    char c = p->s[p->i];
    if (c == '{') {
        r = jl_object(p, out);
    } else if (c == '[') {
        r = jl_array(p, out);
    } else if (c == '"') {
        char *s;
        size_t len;
        if ((r = jl_string(p, &s, &len)) == 0) {
            *out = json_stringn(s, len);
            free(s);
            r = *out ? 0 : jl_err(p, "invalid UTF-8 in string");
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        r = jl_number(p, out);
    } else if (jl_word(p, "true")) {
        *out = json_true();
        r = 0;
    } else if (jl_word(p, "false")) {
        *out = json_false();
        r = 0;
    } else if (jl_word(p, "null")) {
        *out = json_null();
        r = 0;
    } else {
        r = jl_err(p, "unexpected character");
    }
    p->depth--;
    return r;
}

struct json_t *cedar_json_load(const char *text, size_t len, const char *what, struct err *e)
{
    return cedar_json_load_depth(text, len, what, LIMIT_JSON_DEPTH, e);
}

bool cedar_json_put(struct json_t **o, const char *k, struct json_t *v)
{
    if (*o == NULL || v == NULL || json_object_set_new(*o, k, v) != 0) {
        if (*o == NULL) {
            json_decref(v);
        }
        json_decref(*o);
        *o = NULL;
        return false;
    }
    return true;
}

bool cedar_json_keys_ok(struct json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool found = false;
        for (size_t i = 0; keys[i] != NULL && !found; i++) {
            found = strcmp(k, keys[i]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

struct json_t *cedar_json_load_depth(const char *text, size_t len, const char *what,
                                     unsigned max_depth, struct err *e)
{
    struct jl p = {text, len, 0, 1, 0, 0, e, what ? what : "json", max_depth};
    json_t *j = NULL;
    if (len > LIMIT_CEDAR_JSON_TEXT) {
        err_set(e, ERR_LIMIT, "%s: larger than %d bytes", p.what, LIMIT_CEDAR_JSON_TEXT);
        return NULL;
    }
    if (jl_value(&p, &j) != 0) {
        return NULL;
    }
    jl_ws(&p);
    if (p.i != p.n) {
        jl_err(&p, "trailing characters after the JSON value");
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *load(const char *text, size_t len, const char *what, struct err *e)
{
    return cedar_json_load(text, len, what, e);
}

int cedar_entities_from_json(const char *text, size_t len, const char *filename,
                             const struct cedar_schema *schema, struct cedar_entities **out,
                             struct err *e)
{
    *out = NULL;
    const char *what = filename ? filename : "entities";
    json_t *j = load(text, len, what, e);
    if (j == NULL) {
        return e ? e->code : ERR_INVALID;
    }
    int r = cedar_entities_from_jansson(j, schema, out, e);
    json_decref(j);
    if (r != 0 && r != ERR_NOMEM) {
        err_prefix(e, "%s: ", what);
    }
    return r;
}

/* ---- contexts -------------------------------------------------------------- */

int cedar_context_from_jansson(const struct json_t *json, const struct cedar_schema *schema,
                               const struct cedar_uid *action, struct arena *a,
                               struct cedar_value *out, struct err *e)
{
    struct jctx c = {schema, a, e, 0, NULL, 0, 0};
    *out = cedar_value_empty_record();
    if (!json_is_object(json)) {
        return err_set(e, ERR_INVALID, "context: expected an object, found %s", jtype_name(json));
    }
    int r;
    if (schema == NULL) {
        r = parse_untyped_record(&c, json, out);
    } else {
        const struct cedar_saction *sa = action ? cedar_schema_action(schema, action) : NULL;
        if (sa == NULL) {
            return err_set(e, ERR_INVALID,
                           "context: action %.*s::\"%.*s\" is not declared in "
                           "the schema",
                           action ? (int)action->type.len : 0, action ? action->type.ptr : "",
                           action ? (int)action->id.len : 0, action ? action->id.ptr : "");
        }
        r = parse_record(&c, json, sa->context, out);
    }
    if (r != 0 && r != ERR_NOMEM) {
        err_prefix(e, "context: ");
    }
    return r;
}

int cedar_context_from_json(const char *text, size_t len, const struct cedar_schema *schema,
                            const struct cedar_uid *action, struct arena *a,
                            struct cedar_value *out, struct err *e)
{
    *out = cedar_value_empty_record();
    json_t *j = load(text, len, "context", e);
    if (j == NULL) {
        return e ? e->code : ERR_INVALID;
    }
    int r = cedar_context_from_jansson(j, schema, action, a, out, e);
    json_decref(j);
    return r;
}
