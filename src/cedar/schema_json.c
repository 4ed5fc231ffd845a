/*
 * schema_json.c: the JSON schema format (the reference's "JSON schema
 * syntax"), in and out.
 *
 * In: the JSON document is translated to the Cedar schema syntax and parsed
 * by cedar_schema_parse(), so both forms go through the same resolution and
 * checks (one implementation of the rules, not two).  Every name that becomes
 * an identifier in the text is checked to be one (no injection through a
 * JSON key), every string is escaped, built-in types are written __cedar::X so
 * that a common type cannot shadow them, and unknown keys are refused.
 *
 * Out: the parsed (resolved) schema as JSON: entity types and actions under
 * their namespaces, every type reference written out in full and qualified
 * (common types are inlined: the resolved form does not keep them).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/schema_int.h"
#include "util/buf.h"
#include "util/limits.h"

/* ---- out ------------------------------------------------------------------ */

static json_t *jstr(struct cedar_str s)
{
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

static json_t *annos_json(const struct cedar_annotation *a, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n && o != NULL; i++) {
        json_t *v = jstr(a[i].value);
        if (v == NULL || json_object_setn_new(o, a[i].key.ptr, a[i].key.len, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

static json_t *type_json(const struct cedar_stype *t, unsigned depth)
{
    static const char *const ext[] = {"ipaddr", "decimal", "datetime", "duration"};
    json_t *o = json_object();
    if (depth > LIMIT_CEDAR_SCHEMA_DEPTH * 4) {
        json_decref(o);
        return NULL;
    }
    switch (t->kind) {
    case CEDAR_ST_BOOL:
        cedar_json_put(&o, "type", json_string("Boolean"));
        break;
    case CEDAR_ST_LONG:
        cedar_json_put(&o, "type", json_string("Long"));
        break;
    case CEDAR_ST_STRING:
        cedar_json_put(&o, "type", json_string("String"));
        break;
    case CEDAR_ST_IP:
    case CEDAR_ST_DECIMAL:
    case CEDAR_ST_DATETIME:
    case CEDAR_ST_DURATION:
        if (cedar_json_put(&o, "type", json_string("Extension"))) {
            cedar_json_put(&o, "name", json_string(ext[t->kind - CEDAR_ST_IP]));
        }
        break;
    case CEDAR_ST_SET:
        if (cedar_json_put(&o, "type", json_string("Set"))) {
            cedar_json_put(&o, "element", type_json(t->elem, depth + 1));
        }
        break;
    case CEDAR_ST_RECORD: {
        json_t *attrs = json_object();
        for (size_t i = 0; i < t->nattrs && attrs != NULL; i++) {
            const struct cedar_sattr *a = &t->attrs[i];
            json_t *at = type_json(a->type, depth + 1);
            if (at != NULL && !a->required) {
                cedar_json_put(&at, "required", json_false());
            }
            if (at != NULL && a->nannos > 0) {
                cedar_json_put(&at, "annotations", annos_json(a->annos, a->nannos));
            }
            if (at == NULL || json_object_setn_new(attrs, a->name.ptr, a->name.len, at) != 0) {
                json_decref(attrs);
                attrs = NULL;
            }
        }
        if (cedar_json_put(&o, "type", json_string("Record"))) {
            cedar_json_put(&o, "attributes", attrs);
        } else {
            json_decref(attrs);
        }
        break;
    }
    case CEDAR_ST_ENTITY:
        if (cedar_json_put(&o, "type", json_string("Entity"))) {
            cedar_json_put(&o, "name", jstr(t->name));
        }
        break;
    default:
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Splits a qualified name at its last "::" into namespace and base name. */
static void split_name(struct cedar_str q, struct cedar_str *ns, struct cedar_str *base)
{
    size_t cut = 0;
    for (size_t i = 0; i + 1 < q.len; i++) {
        if (q.ptr[i] == ':' && q.ptr[i + 1] == ':') {
            cut = i + 2;
        }
    }
    ns->ptr = q.ptr;
    ns->len = cut >= 2 ? cut - 2 : 0;
    base->ptr = q.ptr + cut;
    base->len = q.len - cut;
}

/* The namespace object for ns in root (created on first use), and its
 * member object key ("entityTypes" / "actions"). */
static json_t *ns_member(json_t *root, struct cedar_str ns, const char *key)
{
    json_t *n = json_object_getn(root, ns.ptr ? ns.ptr : "", ns.len);
    if (n == NULL) {
        n = json_object();
        if (n == NULL || json_object_setn_new(root, ns.ptr ? ns.ptr : "", ns.len, n) != 0) {
            return NULL;
        }
        json_t *a = json_object(), *b = json_object();
        if (json_object_set_new(n, "entityTypes", a) != 0 ||
            json_object_set_new(n, "actions", b) != 0) {
            return NULL;
        }
    }
    return json_object_get(n, key);
}

static json_t *names_json(const struct cedar_str *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        if (json_array_append_new(arr, jstr(v[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

int cedar_schema_to_json(const struct cedar_schema *s, struct json_t **out, struct err *e)
{
    *out = NULL;
    json_t *root = json_object();
    bool ok = root != NULL;
    for (size_t i = 0; i < s->nnamespaces && ok; i++) {
        const struct cedar_snamespace *n = &s->namespaces[i];
        json_t *dummy = ns_member(root, n->name, "entityTypes");
        ok = dummy != NULL;
        if (ok && n->nannos > 0) {
            json_t *nj = json_object_getn(root, n->name.ptr ? n->name.ptr : "", n->name.len);
            ok = json_object_set_new(nj, "annotations", annos_json(n->annos, n->nannos)) == 0;
        }
    }
    for (size_t i = 0; i < s->nentities && ok; i++) {
        const struct cedar_sentity *en = &s->entities[i];
        struct cedar_str ns, base;
        split_name(en->name, &ns, &base);
        json_t *m = ns_member(root, ns, "entityTypes"), *o = json_object();
        if (en->nparents > 0) {
            cedar_json_put(&o, "memberOfTypes", names_json(en->parents, en->nparents));
        }
        if (en->is_enum) {
            cedar_json_put(&o, "enum", names_json(en->enum_ids, en->nenum));
        } else if (en->attrs != NULL && en->attrs->nattrs > 0) {
            cedar_json_put(&o, "shape", type_json(en->attrs, 0));
        }
        if (en->tags != NULL) {
            cedar_json_put(&o, "tags", type_json(en->tags, 0));
        }
        if (en->nannos > 0) {
            cedar_json_put(&o, "annotations", annos_json(en->annos, en->nannos));
        }
        ok = m != NULL && o != NULL && json_object_setn_new(m, base.ptr, base.len, o) == 0;
    }
    for (size_t i = 0; i < s->nactions && ok; i++) {
        const struct cedar_saction *a = &s->actions[i];
        struct cedar_str ns, base;
        split_name(a->uid.type, &ns, &base);
        json_t *m = ns_member(root, ns, "actions"), *o = json_object();
        if (a->nparents > 0) {
            json_t *arr = json_array();
            for (size_t k = 0; k < a->nparents && arr != NULL; k++) {
                json_t *u = json_object();
                if (!cedar_json_put(&u, "id", jstr(a->parents[k].id)) ||
                    !cedar_json_put(&u, "type", jstr(a->parents[k].type)) ||
                    json_array_append_new(arr, u)) {
                    json_decref(arr);
                    arr = NULL;
                }
            }
            cedar_json_put(&o, "memberOf", arr);
        }
        if (a->applies) {
            json_t *ap = json_object();
            if (cedar_json_put(&ap, "principalTypes", names_json(a->principals, a->nprincipals)) &&
                cedar_json_put(&ap, "resourceTypes", names_json(a->resources, a->nresources)) &&
                a->context != NULL && a->context->nattrs > 0) {
                cedar_json_put(&ap, "context", type_json(a->context, 0));
            }
            cedar_json_put(&o, "appliesTo", ap);
        }
        if (a->nannos > 0) {
            cedar_json_put(&o, "annotations", annos_json(a->annos, a->nannos));
        }
        ok =
            m != NULL && o != NULL && json_object_setn_new(m, a->uid.id.ptr, a->uid.id.len, o) == 0;
    }
    if (!ok) {
        json_decref(root);
        return err_set(e, ERR_NOMEM, "schema: cannot convert to JSON (out of memory)");
    }
    *out = root;
    return 0;
}

/* ---- in: JSON -> Cedar schema text ------------------------------------------- */

struct tw {
    struct buf b;
    int err;
    struct err *e;
    const char *what;
    json_t *root;   /* the whole document (common type lookups) */
    const char *ns; /* the namespace being written */
};

static void ws(struct tw *t, const char *s)
{
    if (t->err == 0) {
        t->err = buf_append(&t->b, s, strlen(s));
    }
}

__attribute__((format(printf, 3, 4))) static int tbad(struct tw *t, const char *where,
                                                      const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (t->err == 0) {
        t->err = err_set(t->e, ERR_INVALID, "%s: %s: %s", t->what, where, msg);
    }
    return t->err;
}

static void wq(struct tw *t, const char *s, size_t n)
{
    ws(t, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char tmp[16];
        if (ch == '"' || ch == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)ch;
            tmp[2] = 0;
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\u{%x}", ch);
        } else {
            tmp[0] = (char)ch;
            tmp[1] = 0;
        }
        if (ch == 0) {
            ws(t, "\\0");
        } else {
            ws(t, tmp);
        }
    }
    ws(t, "\"");
}

static void w_name(struct tw *t, json_t *j, const char *where)
{
    if (!json_is_string(j) ||
        !cedar_path_ok(json_string_value(j), json_string_length(j), true, true)) {
        tbad(t, where, "expected a type name (identifiers joined by ::)");
        return;
    }
    ws(t, json_string_value(j));
}

static void w_annos(struct tw *t, json_t *a, const char *where)
{
    if (a == NULL) {
        return;
    }
    if (!json_is_object(a)) {
        tbad(t, where, "annotations: expected an object");
        return;
    }
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(a, k, klen, v)
    {
        if (!cedar_ident_ok(k, klen) || !json_is_string(v)) {
            tbad(t, where, "annotations: names are identifiers, values strings");
            return;
        }
        ws(t, "@");
        ws(t, k);
        ws(t, "(");
        wq(t, json_string_value(v), json_string_length(v));
        ws(t, ") ");
    }
}

static void w_type(struct tw *t, json_t *j, unsigned depth, const char *where);

static void w_record(struct tw *t, json_t *j, unsigned depth, const char *where)
{
    static const char *const keys[] = {"type",     "attributes",  "additionalAttributes",
                                       "required", "annotations", NULL};
    json_t *attrs = json_object_get(j, "attributes");
    json_t *more = json_object_get(j, "additionalAttributes");
    if (!cedar_json_keys_ok(j, keys) || (attrs != NULL && !json_is_object(attrs)) ||
        (more != NULL && !json_is_false(more))) {
        tbad(t, where,
             "Record: expected {\"attributes\": {...}} (additionalAttributes: false only)");
        return;
    }
    ws(t, "{");
    const char *k;
    size_t klen;
    json_t *v;
    bool first = true;
    json_object_keylen_foreach(attrs, k, klen, v)
    {
        ws(t, first ? "" : ", ");
        first = false;
        json_t *req = json_is_object(v) ? json_object_get(v, "required") : NULL;
        if (req != NULL && !json_is_boolean(req)) {
            tbad(t, where, "\"required\" must be a boolean");
            return;
        }
        w_annos(t, json_is_object(v) ? json_object_get(v, "annotations") : NULL, where);
        wq(t, k, klen);
        ws(t, req != NULL && json_is_false(req) ? "?: " : ": ");
        w_type(t, v, depth + 1, where);
    }
    ws(t, "}");
}

static void w_type(struct tw *t, json_t *j, unsigned depth, const char *where)
{
    static const char *const k_plain[] = {"type", "required", "annotations", NULL};
    static const char *const k_named[] = {"type", "name", "required", "annotations", NULL};
    static const char *const k_set[] = {"type", "element", "required", "annotations", NULL};
    if (t->err != 0) {
        return;
    }
    if (depth > LIMIT_CEDAR_SCHEMA_DEPTH) {
        t->err = err_set(t->e, ERR_LIMIT, "%s: %s: types nested too deeply", t->what, where);
        return;
    }
    json_t *ty = json_is_object(j) ? json_object_get(j, "type") : NULL;
    if (!json_is_string(ty)) {
        tbad(t, where, "expected a type {\"type\": ...}");
        return;
    }
    const char *k = json_string_value(ty);
    if (strcmp(k, "Record") == 0) {
        w_record(t, j, depth, where);
        return;
    }
    if (strcmp(k, "Set") == 0) {
        if (!cedar_json_keys_ok(j, k_set) || json_object_get(j, "element") == NULL) {
            tbad(t, where, "Set: expected {\"element\": type}");
            return;
        }
        ws(t, "Set<");
        w_type(t, json_object_get(j, "element"), depth + 1, where);
        ws(t, ">");
        return;
    }
    if (strcmp(k, "Entity") == 0 || strcmp(k, "EntityOrCommon") == 0 ||
        strcmp(k, "Extension") == 0) {
        json_t *name = json_object_get(j, "name");
        if (!cedar_json_keys_ok(j, k_named)) {
            tbad(t, where, "%s: unexpected key", k);
            return;
        }
        if (k[1] == 'x') {
            if (!json_is_string(name) ||
                !cedar_ident_ok(json_string_value(name), json_string_length(name))) {
                tbad(t, where, "Extension: expected {\"name\": ipaddr|decimal|datetime|duration}");
                return;
            }
            ws(t, "__cedar::");
        }
        w_name(t, name, where);
        return;
    }
    if (!cedar_json_keys_ok(j, k_plain)) {
        tbad(t, where, "type \"%s\": unexpected key", k);
        return;
    }
    if (strcmp(k, "Long") == 0 || strcmp(k, "String") == 0) {
        ws(t, "__cedar::");
        ws(t, k);
    } else if (strcmp(k, "Boolean") == 0) {
        ws(t, "__cedar::Bool");
    } else {
        w_name(t, ty, where); /* a common type (or entity type) by name */
    }
}

/* The Cedar syntax wants a record type after `entity E =`: a shape that
 * names a common type of the same namespace is replaced by its definition
 * (followed through aliases).  Another namespace's is refused (its
 * unqualified names would resolve differently here). */
static json_t *resolve_shape(struct tw *t, json_t *shape, const char *where)
{
    if (shape == NULL) {
        return NULL;
    }
    for (int hops = 0; hops < LIMIT_CEDAR_SCHEMA_DEPTH; hops++) {
        json_t *ty = json_is_object(shape) ? json_object_get(shape, "type") : NULL;
        const char *k = json_is_string(ty) ? json_string_value(ty) : NULL;
        if (k == NULL || strcmp(k, "Record") == 0) {
            return shape; /* w_type reports what is wrong */
        }
        if (strcmp(k, "EntityOrCommon") == 0) {
            json_t *nm = json_object_get(shape, "name");
            k = json_is_string(nm) ? json_string_value(nm) : "";
        }
        size_t nl = strlen(t->ns), kl = strlen(k);
        const char *base = k;
        if (kl > nl + 2 && nl > 0 && strncmp(k, t->ns, nl) == 0 && k[nl] == ':' &&
            k[nl + 1] == ':') {
            base = k + nl + 2;
        }
        json_t *nsobj = json_object_get(t->root, t->ns);
        json_t *def = strstr(base, "::") == NULL
                          ? json_object_get(json_object_get(nsobj, "commonTypes"), base)
                          : NULL;
        if (def == NULL) {
            tbad(t, where,
                 "shape: expected a record type or a common type of this namespace "
                 "(\"%s\")",
                 k);
            return NULL;
        }
        shape = def;
    }
    tbad(t, where, "shape: common types alias each other too deeply");
    return NULL;
}

/* ` in [a, b]` from the array o[key] (o may be NULL), each element written by
 * w_elem; nothing when it is absent or empty.  False after an error. */
static bool w_in_list(struct tw *t, json_t *o, const char *key, const char *where,
                      void (*w_elem)(struct tw *t, json_t *j, const char *where))
{
    json_t *a = o ? json_object_get(o, key) : NULL;
    if (a == NULL) {
        return true;
    }
    if (!json_is_array(a)) {
        tbad(t, where, "%s: expected an array", key);
        return false;
    }
    if (json_array_size(a) > 0) {
        ws(t, " in [");
        for (size_t i = 0; i < json_array_size(a); i++) {
            ws(t, i ? ", " : "");
            w_elem(t, json_array_get(a, i), where);
        }
        ws(t, "]");
    }
    return true;
}

static void w_entity(struct tw *t, const char *name, size_t nlen, json_t *j)
{
    static const char *const keys[] = {"memberOfTypes", "shape",       "tags",
                                       "enum",          "annotations", NULL};
    if (!cedar_ident_ok(name, nlen) || !json_is_object(j) || !cedar_json_keys_ok(j, keys)) {
        tbad(t, "entityTypes",
             "\"%s\": expected an identifier and an object with memberOfTypes, "
             "shape, tags, enum, annotations",
             name);
        return;
    }
    w_annos(t, json_object_get(j, "annotations"), name);
    ws(t, "entity ");
    ws(t, name);
    if (!w_in_list(t, j, "memberOfTypes", name, w_name)) {
        return;
    }
    json_t *en = json_object_get(j, "enum");
    if (en != NULL) {
        if (!json_is_array(en) || json_object_get(j, "shape") || json_object_get(j, "tags")) {
            tbad(t, name, "enum: an array of strings, without shape or tags");
            return;
        }
        ws(t, " enum [");
        for (size_t i = 0; i < json_array_size(en); i++) {
            json_t *s = json_array_get(en, i);
            if (!json_is_string(s)) {
                tbad(t, name, "enum: expected strings");
                return;
            }
            ws(t, i ? ", " : "");
            wq(t, json_string_value(s), json_string_length(s));
        }
        ws(t, "]");
    }
    json_t *shape = resolve_shape(t, json_object_get(j, "shape"), name);
    if (shape != NULL) {
        ws(t, " = ");
        w_type(t, shape, 0, name);
    }
    json_t *tags = json_object_get(j, "tags");
    if (tags != NULL) {
        ws(t, " tags ");
        w_type(t, tags, 0, name);
    }
    ws(t, ";\n");
}

static void w_action_ref(struct tw *t, json_t *u, const char *where)
{
    static const char *const keys[] = {"id", "type", NULL};
    json_t *id = json_object_get(u, "id"), *ty = json_object_get(u, "type");
    if (!json_is_object(u) || !cedar_json_keys_ok(u, keys) || !json_is_string(id)) {
        tbad(t, where, "memberOf: expected {\"id\", \"type\"?}");
        return;
    }
    if (ty != NULL) {
        w_name(t, ty, where);
        ws(t, "::");
    }
    wq(t, json_string_value(id), json_string_length(id));
}

static void w_types_list(struct tw *t, json_t *l, const char *where)
{
    ws(t, "[");
    for (size_t i = 0; i < json_array_size(l); i++) {
        ws(t, i ? ", " : "");
        w_name(t, json_array_get(l, i), where);
    }
    ws(t, "]");
}

static void w_action(struct tw *t, const char *id, size_t idlen, json_t *j)
{
    static const char *const keys[] = {"memberOf", "appliesTo", "annotations", NULL};
    static const char *const akeys[] = {"principalTypes", "resourceTypes", "context", NULL};
    if (j == NULL || json_is_null(j)) {
        j = NULL;
    } else if (!json_is_object(j) || !cedar_json_keys_ok(j, keys)) {
        tbad(t, "actions", "\"%s\": expected an object with memberOf, appliesTo, annotations", id);
        return;
    }
    if (j != NULL) {
        w_annos(t, json_object_get(j, "annotations"), id);
    }
    ws(t, "action ");
    wq(t, id, idlen);
    if (!w_in_list(t, j, "memberOf", id, w_action_ref)) {
        return;
    }
    json_t *ap = j ? json_object_get(j, "appliesTo") : NULL;
    if (ap != NULL && !json_is_null(ap)) {
        json_t *pt = json_object_get(ap, "principalTypes");
        json_t *rt = json_object_get(ap, "resourceTypes");
        json_t *cx = json_object_get(ap, "context");
        if (!json_is_object(ap) || !cedar_json_keys_ok(ap, akeys) || (pt && !json_is_array(pt)) ||
            (rt && !json_is_array(rt))) {
            tbad(t, id,
                 "appliesTo: expected {\"principalTypes\": [..], \"resourceTypes\": [..], "
                 "\"context\"?}");
            return;
        }
        /* an empty list (or none) applies to nothing: the text form says so
         * by having no appliesTo */
        if (json_array_size(pt) > 0 && json_array_size(rt) > 0) {
            ws(t, " appliesTo { principal: ");
            w_types_list(t, pt, id);
            ws(t, ", resource: ");
            w_types_list(t, rt, id);
            if (cx != NULL) {
                ws(t, ", context: ");
                w_type(t, cx, 0, id);
            }
            ws(t, " }");
        }
    }
    ws(t, ";\n");
}

static void w_common(struct tw *t, const char *name, size_t nlen, json_t *j)
{
    if (!cedar_ident_ok(name, nlen)) {
        tbad(t, "commonTypes", "\"%s\": not an identifier", name);
        return;
    }
    w_annos(t, json_is_object(j) ? json_object_get(j, "annotations") : NULL, name);
    ws(t, "type ");
    ws(t, name);
    ws(t, " = ");
    w_type(t, j, 0, name);
    ws(t, ";\n");
}

static void w_namespace(struct tw *t, const char *ns, size_t nslen, json_t *j)
{
    static const char *const keys[] = {"commonTypes", "entityTypes", "actions", "annotations",
                                       NULL};
    if ((nslen > 0 && !cedar_path_ok(ns, nslen, true, true)) || !json_is_object(j) ||
        !cedar_json_keys_ok(j, keys)) {
        tbad(t, "namespace",
             "\"%s\": expected a name and {commonTypes, entityTypes, actions, "
             "annotations}",
             ns);
        return;
    }
    if (nslen > 0) {
        w_annos(t, json_object_get(j, "annotations"), ns);
        ws(t, "namespace ");
        ws(t, ns);
        ws(t, " {\n");
    } else if (json_object_get(j, "annotations") != NULL) {
        tbad(t, "namespace", "the empty namespace cannot carry annotations");
        return;
    }
    const char *sect[] = {"commonTypes", "entityTypes", "actions"};
    for (int s = 0; s < 3; s++) {
        json_t *m = json_object_get(j, sect[s]);
        if (m == NULL) {
            continue;
        }
        if (!json_is_object(m)) {
            tbad(t, ns, "%s: expected an object", sect[s]);
            return;
        }
        const char *k;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach(m, k, klen, v)
        {
            if (s == 0) {
                w_common(t, k, klen, v);
            } else if (s == 1) {
                w_entity(t, k, klen, v);
            } else {
                w_action(t, k, klen, v);
            }
        }
    }
    if (nslen > 0) {
        ws(t, "}\n");
    }
}

int cedar_schema_json_to_text(const struct json_t *json, const char *what, char **out,
                              size_t *outlen, struct err *e)
{
    *out = NULL;
    struct tw t = {.e = e, .what = what ? what : "schema"};
    buf_init(&t.b, LIMIT_CEDAR_SCHEMA_TEXT);
    json_t *j = (json_t *)json;
    if (!json_is_object(j)) {
        buf_free(&t.b);
        return err_set(e, ERR_INVALID, "%s: a JSON schema is an object of namespaces", t.what);
    }
    t.root = j;
    const char *k;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(j, k, klen, v)
    {
        t.ns = k;
        w_namespace(&t, k, klen, v);
    }
    if (t.err == 0 && t.b.data == NULL) {
        t.err = buf_append(&t.b, "", 0);
    }
    if (t.err != 0) {
        buf_free(&t.b);
        if (e->code == 0) {
            err_set(e, t.err, "%s: %s", t.what,
                    t.err == ERR_NOMEM ? "out of memory" : "the schema is too large");
        }
        return t.err;
    }
    *out = buf_steal(&t.b, outlen);
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

int cedar_schema_from_json(const char *text, size_t len, const char *filename,
                           struct cedar_schema **out, struct err *e)
{
    *out = NULL;
    const char *what = filename ? filename : "schema";
    json_t *j = cedar_json_load_depth(text, len, what, 4 * LIMIT_CEDAR_SCHEMA_DEPTH + 16, e);
    if (j == NULL) {
        return e->code != 0 ? e->code : ERR_INVALID;
    }
    char *ctext;
    size_t clen;
    int r = cedar_schema_json_to_text(j, what, &ctext, &clen, e);
    json_decref(j);
    if (r != 0) {
        return r;
    }
    char label[512];
    snprintf(label, sizeof(label), "%s (as Cedar schema text)", what);
    r = cedar_schema_parse(ctext, clen, label, out, e);
    free(ctext);
    return r;
}
