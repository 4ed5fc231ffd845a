/*
 * test_cedar_schema.c: the Cedar schema parser (schema.c) and the
 * schema-directed entities/context JSON readers (json.c).
 *
 * Bad schemas are a table of (text, exact "file:line:col: message" prefix);
 * good ones are checked through the typed representation of schema_int.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "cedar/cedar.h"
#include "cedar/schema_int.h"
#include "util/limits.h"

static struct cedar_schema *parse_ok(const char *text)
{
    struct cedar_schema *s = NULL;
    struct err e;
    err_clear(&e);
    if (cedar_schema_parse(text, strlen(text), "t.cedarschema", &s, &e) != 0) {
        fail_msg("schema should parse: %s\n%s", e.msg, text);
    }
    return s;
}

static const struct cedar_sattr *attr(const struct cedar_stype *rec, const char *name)
{
    assert_int_equal(rec->kind, CEDAR_ST_RECORD);
    for (size_t i = 0; i < rec->nattrs; i++) {
        if (rec->attrs[i].name.len == strlen(name) &&
            memcmp(rec->attrs[i].name.ptr, name, strlen(name)) == 0) {
            return &rec->attrs[i];
        }
    }
    fail_msg("no attribute %s", name);
    return NULL;
}

static const struct cedar_sentity *ent(const struct cedar_schema *s, const char *name)
{
    const struct cedar_sentity *se = cedar_schema_entity(s, name, strlen(name));
    if (se == NULL) {
        fail_msg("no entity type %s", name);
    }
    return se;
}

static const struct cedar_saction *act(const struct cedar_schema *s, const char *type,
                                       const char *id)
{
    struct cedar_uid u;
    cedar_uid_init(&u, type, strlen(type), id, strlen(id));
    const struct cedar_saction *sa = cedar_schema_action(s, &u);
    if (sa == NULL) {
        fail_msg("no action %s::\"%s\"", type, id);
    }
    return sa;
}

static bool str_eq(struct cedar_str a, const char *b)
{
    return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

static void test_schema_basic(void **state)
{
    (void)state;
    struct cedar_schema *s =
        parse_ok("// a comment\n"
                 "entity Team, Org;\n"
                 "@doc(\"people\") entity User in [Team, Org] = {\n"
                 "  name: String, \"age\"?: Long, @x tags_: Set<Set<ipaddr>>,\n"
                 "  score: decimal, at: datetime, d: duration, ok: Bool,\n"
                 "  boss?: User, nested: { a: __cedar::Long, },\n"
                 "} tags String;\n"
                 "entity Color enum [\"red\", \"green\"];\n"
                 "entity Doc in Team { owner: User };\n"
                 "action read, \"write it\" appliesTo { principal: User, resource: [Doc, Team],\n"
                 "  context: { ip: ipaddr } };\n"
                 "action all;\n"
                 "action edit in [read, \"all\", Action::\"write it\"];\n");
    assert_int_equal(cedar_schema_entity_count(s), 5);
    assert_int_equal(cedar_schema_action_count(s), 4);
    const struct cedar_sentity *u = ent(s, "User");
    assert_int_equal(u->nparents, 2);
    assert_true(str_eq(u->parents[0], "Team"));
    assert_true(str_eq(u->parents[1], "Org"));
    assert_int_equal(u->nannos, 1);
    assert_true(str_eq(u->annos[0].key, "doc"));
    assert_true(str_eq(u->annos[0].value, "people"));
    assert_int_equal(attr(u->attrs, "name")->type->kind, CEDAR_ST_STRING);
    assert_true(attr(u->attrs, "name")->required);
    assert_false(attr(u->attrs, "age")->required);
    const struct cedar_stype *t = attr(u->attrs, "tags_")->type;
    assert_int_equal(t->kind, CEDAR_ST_SET);
    assert_int_equal(t->elem->kind, CEDAR_ST_SET);
    assert_int_equal(t->elem->elem->kind, CEDAR_ST_IP);
    assert_int_equal(attr(u->attrs, "tags_")->nannos, 1);
    assert_int_equal(attr(u->attrs, "score")->type->kind, CEDAR_ST_DECIMAL);
    assert_int_equal(attr(u->attrs, "at")->type->kind, CEDAR_ST_DATETIME);
    assert_int_equal(attr(u->attrs, "d")->type->kind, CEDAR_ST_DURATION);
    assert_int_equal(attr(u->attrs, "ok")->type->kind, CEDAR_ST_BOOL);
    assert_int_equal(attr(u->attrs, "boss")->type->kind, CEDAR_ST_ENTITY);
    assert_true(str_eq(attr(u->attrs, "boss")->type->name, "User"));
    assert_int_equal(attr(attr(u->attrs, "nested")->type, "a")->type->kind, CEDAR_ST_LONG);
    assert_int_equal(u->tags->kind, CEDAR_ST_STRING);
    const struct cedar_sentity *c = ent(s, "Color");
    assert_true(c->is_enum);
    assert_int_equal(c->nenum, 2);
    assert_true(str_eq(c->enum_ids[1], "green"));
    assert_null(ent(s, "Team")->tags);
    assert_int_equal(ent(s, "Team")->attrs->nattrs, 0);
    assert_int_equal(ent(s, "Doc")->nparents, 1);

    const struct cedar_saction *r = act(s, "Action", "read");
    assert_true(r->applies);
    assert_int_equal(r->nprincipals, 1);
    assert_int_equal(r->nresources, 2);
    assert_true(str_eq(r->resources[0], "Doc"));
    assert_int_equal(attr(r->context, "ip")->type->kind, CEDAR_ST_IP);
    assert_int_equal(act(s, "Action", "write it")->nprincipals, 1);
    const struct cedar_saction *a = act(s, "Action", "all");
    assert_false(a->applies);
    assert_int_equal(a->context->nattrs, 0);
    const struct cedar_saction *ed = act(s, "Action", "edit");
    assert_int_equal(ed->nparents, 3);
    assert_true(str_eq(ed->parents[2].id, "write it"));
    assert_true(cedar_schema_is_action_type(s, "Action", 6));
    assert_false(cedar_schema_is_action_type(s, "User", 4));
    cedar_schema_free(s);
}

/* The schema must not point into the caller's text: parse a heap copy,
 * scribble over it and free it, then read every name (ASan checks the rest). */
static void test_schema_owns_its_strings(void **state)
{
    (void)state;
    const char *text =
        "@k(\"v\") entity User { name: String };\n"
        "action view appliesTo { principal: User, "
        "resource: User, context: { flag: Bool } };\naction \"edit\" in [view];\ntype T = Long;";
    size_t n = strlen(text);
    char *copy = malloc(n);
    assert_non_null(copy);
    memcpy(copy, text, n);
    struct cedar_schema *s = NULL;
    struct err e;
    assert_int_equal(cedar_schema_parse(copy, n, "t", &s, &e), 0);
    memset(copy, 'X', n);
    free(copy);
    const struct cedar_sentity *u = ent(s, "User");
    assert_true(str_eq(u->annos[0].key, "k"));
    assert_true(str_eq(u->attrs->attrs[0].name, "name"));
    const struct cedar_saction *v = act(s, "Action", "view");
    assert_true(str_eq(v->context->attrs[0].name, "flag"));
    assert_true(str_eq(act(s, "Action", "edit")->parents[0].id, "view"));
    assert_true(str_eq(s->commons[0].name, "T"));
    cedar_schema_free(s);
}

/* As the reference (cedar-wasm 4.10 agrees): a record attribute declared
 * twice keeps its last declaration; the first is not even resolved. */
static void test_schema_duplicate_attribute(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok("entity A { x: Nope, y: Long, x?: String };");
    const struct cedar_sentity *a = ent(s, "A");
    assert_int_equal(a->attrs->nattrs, 2);
    assert_int_equal(attr(a->attrs, "x")->type->kind, CEDAR_ST_STRING);
    assert_false(attr(a->attrs, "x")->required);
    cedar_schema_free(s);
}

static void test_schema_resolution(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok(
        "type Shared = { x: Long };\n"
        "entity Top;\n"
        "@ns(\"n\") namespace A::B {\n"
        "  type Ctx = { s: Shared, t: Top, l: Long, th: Thing, q: A::B::Thing, dt: datetime };\n"
        "  entity Thing in [Top] { c: Ctx, o: __cedar::String };\n"
        "  type datetime = Long;\n"
        "  action go in [Action::\"base\", A::B::Action::\"base2\"] appliesTo {\n"
        "    principal: Thing, resource: Top, context: Ctx };\n"
        "  action base, base2;\n"
        "}\n"
        "namespace C { entity Thing; action \"x\" in A::B::Action::\"go\"; }\n");
    const struct cedar_sentity *th = ent(s, "A::B::Thing");
    assert_true(str_eq(th->parents[0], "Top"));
    const struct cedar_stype *ctx = attr(th->attrs, "c")->type;
    assert_int_equal(attr(attr(ctx, "s")->type, "x")->type->kind, CEDAR_ST_LONG);
    assert_true(str_eq(attr(ctx, "t")->type->name, "Top"));
    assert_int_equal(attr(ctx, "l")->type->kind, CEDAR_ST_LONG);
    /* an unqualified name finds the namespace's own declaration first */
    assert_true(str_eq(attr(ctx, "th")->type->name, "A::B::Thing"));
    assert_true(str_eq(attr(ctx, "q")->type->name, "A::B::Thing"));
    /* a common type named like a built-in extension type shadows it */
    assert_int_equal(attr(ctx, "dt")->type->kind, CEDAR_ST_LONG);
    const struct cedar_saction *go = act(s, "A::B::Action", "go");
    assert_true(str_eq(go->principals[0], "A::B::Thing"));
    assert_true(str_eq(go->resources[0], "Top"));
    assert_true(str_eq(go->parents[0].type, "A::B::Action"));
    assert_true(str_eq(go->parents[1].id, "base2"));
    assert_int_equal(go->context, ctx);
    assert_true(str_eq(act(s, "C::Action", "x")->parents[0].type, "A::B::Action"));
    assert_int_equal(s->nnamespaces, 2);
    assert_true(str_eq(s->namespaces[0].name, "A::B"));
    assert_int_equal(s->namespaces[0].nannos, 1);
    cedar_schema_free(s);
}

struct bad_case {
    const char *text;
    const char *msg; /* prefix of the error message */
};

static const struct bad_case bad_cases[] = {
    {"entity A", "t.cedarschema:1:9: expected ';'"},
    {"entity A;\nentity A;", "t.cedarschema:2:8: duplicate entity type `A`"},
    {"entity A { x: Nope };", "t.cedarschema:1:15: undeclared type `Nope`"},
    {"entity A in [B];", "t.cedarschema:1:14: undeclared entity type `B`"},
    {"type T = T;", "t.cedarschema:1:6: common type `T` refers to itself"},
    {"type T = { a: U }; type U = Set<T>;", "t.cedarschema:1:"},
    {"action a in [b];", "t.cedarschema:1:14: undeclared action `Action::\"b\"`"},
    {"action a in b; action b in a;", "t.cedarschema:1:"},
    {"action a appliesTo { principal: [X], resource: X };",
     "t.cedarschema:1:34: undeclared entity type `X`"},
    {"entity X; action a appliesTo { principal: [X] };",
     "t.cedarschema:1:20: appliesTo needs both `principal` and `resource`"},
    {"entity X; action a appliesTo { principal: [], resource: X };",
     "t.cedarschema:1:43: `principal` needs at least one entity type"},
    {"entity X; namespace N { entity X; }", "t.cedarschema:1:32: `N::X` would shadow `X`"},
    {"type X = Long; namespace N { type X = Bool; }", "t.cedarschema:1:35: `N::X` would shadow"},
    {"namespace N { } namespace N { }", "t.cedarschema:1:27: namespace `N` is declared twice"},
    {"entity X; action a appliesTo { principal: X, resource: X, context: Long };",
     "t.cedarschema:1:68: the context of action `a`"},
    {"entity X; action a appliesTo { principal: X, principal: X };",
     "t.cedarschema:1:46: duplicate `principal`"},
    {"action a appliesTo { other: [] };", "t.cedarschema:1:22: expected `principal`"},
    {"namespace A { namespace B {} }", "t.cedarschema:1:15: namespaces cannot be nested"},
    {"entity A { x: __cedar::Nope };", "t.cedarschema:1:15: unknown built-in type"},
    {"type Long = String;", "t.cedarschema:1:6: `Long` is a reserved name"},
    {"entity in;", "t.cedarschema:1:8: `in` is a reserved identifier"},
    {"namespace N { entity Action; }",
     "t.cedarschema:1:22: an entity type cannot be named `Action`"},
    {"action v in [];", "t.cedarschema:1:14: expected an action name"},
    {"entity A { if: Long };", "t.cedarschema:1:12: `if` is a reserved identifier"},
    {"namespace N::has { }", "t.cedarschema:1:14: `has` is a reserved identifier"},
    {"action like;", "t.cedarschema:1:8: `like` is a reserved identifier"},
    {"type then = Long;", "t.cedarschema:1:6: `then` is a reserved identifier"},
    {"namespace N::__cedar { }", "t.cedarschema:1:11: `__cedar` is a reserved namespace"},
    {"entity B; entity A in [B,];", "t.cedarschema:1:26: expected a name"},
    {"action v; action w in [v,];", "t.cedarschema:1:26: expected a name"},
    {"action a, a;", "t.cedarschema:1:11: duplicate action `a`"},
    {"entity A enum [];", "t.cedarschema:1:16: expected a string"},
    {"entity A { \"x\\q\": Long };", "t.cedarschema:1:12: invalid escape"},
    {"entity A { x: Long ", "t.cedarschema:1:20: expected ',' or '}'"},
    {"@a @a entity A;", "t.cedarschema:1:5: duplicate annotation @a"},
    {"@a(x) entity A;", "t.cedarschema:1:4: expected a string"},
    {"entity A { x: Set<Long };", "t.cedarschema:1:24: expected '>', found '}'"},
    {"entity \"A\";", "t.cedarschema:1:8: expected an entity type name"},
    {"foo A;", "t.cedarschema:1:1: expected `entity`, `action`, `type` or `namespace`"},
    {"entity A # ;", "t.cedarschema:1:10: unexpected character '#'"},
    {"entity A { x: \"unterminated };", "t.cedarschema:1:15: unterminated string"},
    {"namespace __cedar { entity A; }", "t.cedarschema:1:11: `__cedar` is a reserved"},
    {"action \"a\" attributes {};", "t.cedarschema:1:12: action attributes are not supported"},
};

static void test_schema_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct cedar_schema *s = NULL;
        struct err e;
        err_clear(&e);
        int r = cedar_schema_parse(bad_cases[i].text, strlen(bad_cases[i].text), "t.cedarschema",
                                   &s, &e);
        if (r != ERR_INVALID || s != NULL ||
            strncmp(e.msg, bad_cases[i].msg, strlen(bad_cases[i].msg)) != 0) {
            fail_msg("schema %s: got %d \"%s\", want \"%s...\"", bad_cases[i].text, r, e.msg,
                     bad_cases[i].msg);
        }
    }
}

static void test_schema_limits(void **state)
{
    (void)state;
    /* Set<Set<...>> nested past LIMIT_CEDAR_SCHEMA_DEPTH */
    char buf[8192];
    size_t n = 0;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "entity A { x: ");
    for (int i = 0; i < 1000; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "Set<");
    }
    struct cedar_schema *s = NULL;
    struct err e;
    err_clear(&e);
    assert_int_equal(cedar_schema_parse(buf, n, "deep", &s, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "nested too deeply"));
    /* a long action chain is fine (no recursion limit hit at 500) */
    n = 0;
    for (int i = 0; i < 500; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "action a%d in a%d;", i, i + 1);
        if (n > sizeof(buf) - 64) {
            break;
        }
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "action a500;");
    static char big[32768];
    n = 0;
    for (int i = 0; i < 500; i++) {
        n += (size_t)snprintf(big + n, sizeof(big) - n, "action a%d in a%d;\n", i, i + 1);
    }
    n += (size_t)snprintf(big + n, sizeof(big) - n, "action a500;");
    err_clear(&e);
    if (cedar_schema_parse(big, n, "chain", &s, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_int_equal(cedar_schema_action_count(s), 501);
    cedar_schema_free(s);
    /* over the text limit */
    assert_int_equal(cedar_schema_parse(big, (size_t)LIMIT_CEDAR_SCHEMA_TEXT + 1, "big", &s, &e),
                     ERR_LIMIT);
}

/* ---- JSON --------------------------------------------------------------- */

static const char *SCHEMA = "entity Team;\n"
                            "entity Color enum [\"red\", \"green\"];\n"
                            "entity User in [Team] { name: String, age?: Long, ip: ipaddr,\n"
                            "  score: decimal, at: datetime, d: duration, boss?: User,\n"
                            "  tagsx: Set<String>, color?: Color } tags decimal;\n"
                            "action view appliesTo { principal: User, resource: Team,\n"
                            "  context: { src: ipaddr, who: User, n?: Long } };\n"
                            "action all; action edit in [all];\n";

static int load_entities(struct cedar_schema *s, const char *json, struct cedar_entities **es,
                         struct err *e)
{
    err_clear(e);
    return cedar_entities_from_json(json, strlen(json), "e.json", s, es, e);
}

static const struct cedar_entity *find(struct cedar_entities *es, const char *type, const char *id)
{
    struct cedar_uid u;
    cedar_uid_init(&u, type, strlen(type), id, strlen(id));
    return cedar_entities_find(es, &u);
}

static void test_entities_schema_directed(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok(SCHEMA);
    struct cedar_entities *es = NULL;
    struct err e;
    const char *good =
        "[{\"uid\":{\"type\":\"User\",\"id\":\"a\\u0000b\"},\n"
        "  \"attrs\":{\"name\":\"Al\",\"ip\":\"10.0.0.1/24\",\"score\":\"1.5\",\n"
        "   \"at\":\"2024-10-15\",\"d\":{\"__extn\":{\"fn\":\"duration\",\"arg\":\"1h\"}},\n"
        "   \"boss\":{\"type\":\"User\",\"id\":\"b\"},\"tagsx\":[\"x\",\"x\"],\n"
        "   \"color\":{\"__entity\":{\"type\":\"Color\",\"id\":\"red\"}}},\n"
        "  \"parents\":[{\"type\":\"Team\",\"id\":\"t\"}],\"tags\":{\"k\\u0000\":\"0.5\"}},\n"
        " {\"uid\":{\"__entity\":{\"type\":\"Team\",\"id\":\"t\"}},\"attrs\":{},\"parents\":[]},\n"
        " {\"uid\":{\"type\":\"Action\",\"id\":\"edit\"},\"attrs\":{},\"parents\":[\n"
        "   {\"type\":\"Action\",\"id\":\"all\"}], \"ignored\": 1},\n"
        " {\"uid\":{\"type\":\"Team\",\"id\":\"t\"},\"attrs\":{},\"parents\":[]}]";
    if (load_entities(s, good, &es, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    const struct cedar_entity *u = find(es, "User", "a");
    assert_null(u); /* the id has a NUL in the middle */
    struct cedar_uid au;
    cedar_uid_init(&au, "User", 4, "a\0b", 3);
    u = cedar_entities_find(es, &au);
    assert_non_null(u);
    const struct cedar_value *v = cedar_record_get(u->attrs, "ip", 2);
    assert_int_equal(v->kind, CEDAR_IP);
    assert_int_equal(v->u.ip.prefix, 24);
    assert_int_equal(cedar_record_get(u->attrs, "score", 5)->u.l, 15000);
    assert_int_equal(cedar_record_get(u->attrs, "at", 2)->kind, CEDAR_DATETIME);
    assert_int_equal(cedar_record_get(u->attrs, "d", 1)->u.l, 3600000);
    assert_int_equal(cedar_record_get(u->attrs, "boss", 4)->kind, CEDAR_ENTITY);
    assert_int_equal(cedar_record_get(u->attrs, "tagsx", 5)->u.set->n, 1);
    assert_null(cedar_record_get(u->attrs, "age", 3));
    v = cedar_record_get(u->tags, "k\0", 2);
    assert_non_null(v);
    assert_int_equal(v->kind, CEDAR_DECIMAL);
    /* actions come from the schema, with their groups */
    struct cedar_uid edit, all;
    cedar_uid_init(&edit, "Action", 6, "edit", 4);
    cedar_uid_init(&all, "Action", 6, "all", 3);
    assert_non_null(cedar_entities_find(es, &all));
    assert_true(cedar_entities_in(es, &edit, &all));
    cedar_entities_free(es);
    cedar_schema_free(s);
}

struct ent_bad {
    const char *json;
    const char *msg; /* substring of the error */
};

#define U_OK "\"uid\":{\"type\":\"User\",\"id\":\"a\"}"
#define P_OK ",\"parents\":[]"
#define E_NONE ",\"attrs\":{},\"parents\":[]"
#define A_OK                                                                                       \
    "\"name\":\"n\",\"ip\":\"1.2.3.4\",\"score\":\"1.0\",\"at\":\"2024-01-01\",\"d\":\"1s\","      \
    "\"tagsx\":[]"

static const struct ent_bad ent_bad_cases[] = {
    {"{}", "expected an array"},
    {"[{\"uid\":{\"type\":\"Nope\",\"id\":\"a\"}" E_NONE "}]",
     "entity type `Nope` is not declared"},
    {"[{\"uid\":{\"type\":\"Color\",\"id\":\"blue\"}" E_NONE "}]", "not one of the ids"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"color\":{\"type\":\"Color\",\"id\":\"blue\"}}}]",
     "attribute `color`: `blue` is not one of the ids of enum entity type `Color`"},
    {"[{" U_OK ",\"attrs\":{" A_OK "}}]", "an entity needs \"attrs\" and \"parents\""},
    {"[{" U_OK P_OK "}]", "an entity needs \"attrs\" and \"parents\""},
    {"[{" U_OK P_OK ",\"attrs\":{\"name\":\"n\"}}]", "required attribute `at` is missing"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"zzz\":1}}]", "attribute `zzz` is not declared"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"age\":\"1\"}}]", "attribute `age`: expected Long"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"age\":1.5}}]",
     "a non-integer number is not a Cedar value"},
    {"[{" U_OK P_OK ",\"attrs\":{\"name\":\"n\",\"ip\":\"1.2.3\","
     "\"score\":\"1.0\",\"at\":\"2024-01-01\",\"d\":\"1s\",\"tagsx\":[]}}]",
     "ip(): invalid IP address"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"boss\":{\"type\":\"Team\",\"id\":\"t\"}}}]",
     "expected an entity of type User"},
    {"[{" U_OK ",\"attrs\":{" A_OK "},\"parents\":[{\"type\":\"User\",\"id\":\"b\"}]}]",
     "cannot have a parent of type `User`"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK "},\"tags\":{\"t\":\"x\"}}]", "tag `t`: decimal()"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"t\"}" E_NONE ",\"tags\":{\"t\":1}}]", "has no tags"},
    {"[{\"uid\":{\"type\":\"Action\",\"id\":\"nope\"}" E_NONE "}]",
     "found an action entity that the schema does not declare"},
    {"[{\"uid\":{\"type\":\"N::Action\",\"id\":\"nope\"}" E_NONE "}]",
     "found an action entity that the schema does not declare"},
    {"[{\"uid\":{\"type\":\"Action\",\"id\":\"edit\"}" E_NONE "}]",
     "Action::\"edit\": the definition of this action does not match its schema declaration"},
    {"[{\"uid\":{\"type\":\"Action\",\"id\":\"all\"},\"attrs\":{\"a\":1},\"parents\":[]}]",
     "the definition of this action does not match"},
    {"[{\"uid\":{\"type\":\"Action\",\"id\":\"edit\"},\"attrs\":{},"
     "\"parents\":[{\"type\":\"Team\",\"id\":\"all\"}]}]",
     "an action cannot have a non-action parent `Team`"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK "}},{" U_OK P_OK ",\"attrs\":{" A_OK ",\"age\":1}}]",
     "duplicate entity with a different definition"},
    {"[{" U_OK P_OK ",\"attrs\":{\"name\":\"n\",\"ip\":\"1.2.3.4\",\"score\":\"1.0\","
     "\"at\":\"2024-01-01\",\"tagsx\":[],\"d\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\"}}}}]",
     "attribute `d`: expected duration, found ipaddr"},
    {"[{" U_OK P_OK ",\"attrs\":{" A_OK ",\"boss\":{\"type\":\"User\",\"id\":1}}}]",
     "attribute `boss`: an entity reference must be"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"t\"},\"attrs\":{},\"attrs\":{}}]",
     "duplicate object key"},
    {"[{\"uid\":{\"type\":\"Team\"}}]", "an entity reference must be"},
    {"[{\"uid\":{\"type\":\"if\",\"id\":\"t\"}" E_NONE "}]",
     "`if` is not a valid entity type name"},
    {"[{\"uid\":{\"type\":\"A :: B\",\"id\":\"t\"}" E_NONE "}]", "not a valid entity type name"},
    {"[{\"uid\":{\"type\":\"__cedar::A\",\"id\":\"t\"}" E_NONE "}]", "not a valid entity type"},
    {"[{\"uid\":{\"type\":\"\",\"id\":\"t\"}" E_NONE "}]", "not a valid entity type name"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"t\"}" E_NONE "}] x",
     "e.json:1:60: trailing characters"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"\\ud800\"}}]", "lone surrogate"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"\xff\"}}]", "invalid UTF-8 in string"},
    {"[{\"uid\":{\"type\":\"Team\",\"id\":\"t\"},\"tags\":{\"\xc3\":1}}]",
     "invalid UTF-8 in object key"},
};

/* Where the schema expects an extension value, the reference also takes an
 * escape with extra keys and the implicit {fn, arg} form, and reads the
 * arguments with the function's types; a uid whose __entity body is not a
 * uid falls back to its own type and id. */
static void test_entities_typed_escapes(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok(SCHEMA);
    struct cedar_entities *es = NULL;
    struct err e;
    const char *json =
        "[{\"uid\":{\"type\":\"User\",\"id\":\"a\",\"__entity\":{\"x\":1}},\"parents\":[],"
        "\"attrs\":{\"name\":\"n\",\"ip\":{\"__extn\":{\"fn\":\"ip\",\"arg\":\"1.2.3.4\","
        "\"q\":1.5},\"zz\":1},\"score\":{\"fn\":\"decimal\",\"arg\":\"2.5\"},"
        "\"at\":{\"__extn\":{\"fn\":\"offset\",\"args\":[\"1970-01-01\",{\"__extn\":{\"fn\":"
        "\"duration\",\"arg\":\"1s\"},\"w\":0}]}},\"d\":\"1ms\",\"tagsx\":[]}}]";
    if (load_entities(s, json, &es, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    const struct cedar_entity *u = find(es, "User", "a");
    assert_non_null(u);
    assert_int_equal(cedar_record_get(u->attrs, "ip", 2)->kind, CEDAR_IP);
    assert_int_equal(cedar_record_get(u->attrs, "score", 5)->u.l, 25000);
    assert_int_equal(cedar_record_get(u->attrs, "at", 2)->u.l, 1000);
    cedar_entities_free(es);
    /* without a schema the same offset arguments are plain values: a type error */
    const char *untyped = "[{\"uid\":{\"type\":\"T\",\"id\":\"t\"},\"parents\":[],\"attrs\":{"
                          "\"at\":{\"__extn\":{\"fn\":\"offset\",\"args\":[\"1970-01-01\","
                          "\"1s\"]}}}}]";
    es = NULL;
    assert_int_equal(load_entities(NULL, untyped, &es, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "wrong argument type"));
    cedar_schema_free(s);
}

static void test_entities_errors(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok(SCHEMA);
    for (size_t i = 0; i < sizeof(ent_bad_cases) / sizeof(ent_bad_cases[0]); i++) {
        struct cedar_entities *es = NULL;
        struct err e;
        int r = load_entities(s, ent_bad_cases[i].json, &es, &e);
        if (r == 0 || es != NULL || strstr(e.msg, ent_bad_cases[i].msg) == NULL) {
            fail_msg("entities %s: got %d \"%s\", want \"...%s...\"", ent_bad_cases[i].json, r,
                     e.msg, ent_bad_cases[i].msg);
        }
    }
    cedar_schema_free(s);
}

static void test_entities_schemaless(void **state)
{
    (void)state;
    struct cedar_entities *es = NULL;
    struct err e;
    const char *json =
        "[{\"uid\":{\"type\":\"A::B\",\"id\":\"x\"},\"attrs\":{\"ip\":\"1.2.3.4\",\n"
        " \"e\":{\"__entity\":{\"type\":\"T\",\"id\":\"y\"}},\"r\":{\"type\":\"T\",\"id\":\"y\"},\n"
        " \"x\":{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__extn\":{\"fn\":\"datetime\",\n"
        "   \"arg\":\"1970-01-01\"}},{\"__extn\":{\"fn\":\"duration\",\"arg\":\"-1ms\"}}]}},\n"
        " \"s\":[1,true,\"a\"]},\"parents\":[{\"type\":\"T\",\"id\":\"y\"}]},\n"
        " {\"uid\":{\"type\":\"Action\",\"id\":\"a\"},\"attrs\":{},\"parents\":[]}]";
    if (load_entities(NULL, json, &es, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    const struct cedar_entity *x = find(es, "A::B", "x");
    assert_non_null(x);
    assert_int_equal(cedar_record_get(x->attrs, "ip", 2)->kind, CEDAR_STRING);
    assert_int_equal(cedar_record_get(x->attrs, "e", 1)->kind, CEDAR_ENTITY);
    assert_int_equal(cedar_record_get(x->attrs, "r", 1)->kind, CEDAR_RECORD);
    const struct cedar_value *dt = cedar_record_get(x->attrs, "x", 1);
    assert_int_equal(dt->kind, CEDAR_DATETIME);
    assert_int_equal(dt->u.l, -1);
    assert_int_equal(cedar_record_get(x->attrs, "s", 1)->u.set->n, 3);
    assert_non_null(find(es, "Action", "a"));
    struct cedar_uid y, xu;
    cedar_uid_init(&y, "T", 1, "y", 1);
    cedar_uid_init(&xu, "A::B", 4, "x", 1);
    assert_true(cedar_entities_in(es, &xu, &y));
    cedar_entities_free(es);

    /* the reference's untagged reading: malformed escapes are records, methods
     * are allowed in __extn, extra keys are ignored */
    const char *odd = "[{\"uid\":{\"type\":\"T\",\"id\":\"y\",\"x\":0},\"parents\":[],\"zz\":1,"
                      "\"attrs\":{\"r\":{\"__extn\":{\"fn\":\"ip\"}},"
                      "\"b\":{\"__extn\":{\"fn\":\"isIpv4\",\"arg\":{\"__extn\":{\"fn\":\"ip\","
                      "\"arg\":\"1.2.3.4\"}},\"args\":[]}},"
                      "\"e\":{\"__entity\":{\"type\":\"A\",\"id\":\"b\",\"q\":1},\"w\":2},"
                      "\"l\":{\"__extn\":{\"fn\":\"toDays\",\"args\":[{\"__extn\":{\"fn\":"
                      "\"duration\",\"arg\":\"-49h\"}}]}}}}]";
    es = NULL;
    if (load_entities(NULL, odd, &es, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    const struct cedar_entity *ty = find(es, "T", "y");
    assert_int_equal(cedar_record_get(ty->attrs, "r", 1)->kind, CEDAR_RECORD);
    assert_true(cedar_record_get(ty->attrs, "b", 1)->u.b);
    /* an escape object with a second key is a record */
    assert_int_equal(cedar_record_get(ty->attrs, "e", 1)->kind, CEDAR_RECORD);
    assert_int_equal(cedar_record_get(ty->attrs, "l", 1)->u.l, -2);
    cedar_entities_free(es);

    /* bad escapes without a schema */
    const char *bad[] = {
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"parents\":[],\"attrs\":{\"a\":{\"__extn\":{"
        "\"fn\":\"nope\","
        "\"arg\":\"\"}}}}]",
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"parents\":[],\"attrs\":{\"a\":{\"__expr\":\"1\"}"
        "}}]",
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"parents\":[],\"attrs\":{\"a\":null}}]",
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"parents\":[],\"attrs\":{\"a\":{\"__extn\":{"
        "\"fn\":\"offset\","
        "\"args\":[1,2]}}}}]",
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"parents\":[],\"attrs\":{\"a\":"
        "99999999999999999999}}]",
        /* an action's parents must be actions, with or without a schema */
        "[{\"uid\":{\"type\":\"Action\",\"id\":\"v\"},\"attrs\":{},"
        "\"parents\":[{\"type\":\"G\",\"id\":\"g\"}]}]",
        "[{\"uid\":{\"type\":\"T\",\"id\":\"y\"},\"attrs\":{},\"parents\":{}}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        es = NULL;
        if (load_entities(NULL, bad[i], &es, &e) == 0) {
            fail_msg("should fail: %s", bad[i]);
        }
        assert_null(es);
    }
}

static void test_context(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok(SCHEMA);
    struct arena a;
    arena_init(&a, 0, 0);
    struct cedar_uid view, all, nope;
    cedar_uid_init(&view, "Action", 6, "view", 4);
    cedar_uid_init(&all, "Action", 6, "all", 3);
    cedar_uid_init(&nope, "Action", 6, "nope", 4);
    struct cedar_value ctx;
    struct err e;
    const char *good = "{\"src\":\"10.1.1.1\",\"who\":{\"type\":\"User\",\"id\":\"u\"}}";
    if (cedar_context_from_json(good, strlen(good), s, &view, &a, &ctx, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    assert_int_equal(ctx.kind, CEDAR_RECORD);
    assert_int_equal(cedar_record_get(ctx.u.rec, "src", 3)->kind, CEDAR_IP);
    assert_int_equal(cedar_record_get(ctx.u.rec, "who", 3)->kind, CEDAR_ENTITY);
    const char *cases[][2] = {
        {"{\"src\":\"10.1.1.1\"}", "required attribute `who`"},
        {"{\"src\":\"10.1.1.1\",\"who\":{\"type\":\"User\",\"id\":\"u\"},\"z\":1}",
         "attribute `z` is not declared"},
        {"[]", "expected an object"},
        {"{\"src\":1,\"who\":{\"type\":\"User\",\"id\":\"u\"}}",
         "attribute `src`: expected ipaddr"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err_clear(&e);
        if (cedar_context_from_json(cases[i][0], strlen(cases[i][0]), s, &view, &a, &ctx, &e) ==
                0 ||
            strstr(e.msg, cases[i][1]) == NULL) {
            fail_msg("context %s: \"%s\", want \"%s\"", cases[i][0], e.msg, cases[i][1]);
        }
    }
    assert_int_equal(cedar_context_from_json("{}", 2, s, &all, &a, &ctx, &e), 0);
    assert_int_equal(cedar_context_from_json("{}", 2, s, &nope, &a, &ctx, &e), ERR_INVALID);
    /* schemaless */
    const char *free_form = "{\"a\":{\"b\":[1,2,2]},\"ip\":\"1.2.3.4\"}";
    assert_int_equal(
        cedar_context_from_json(free_form, strlen(free_form), NULL, NULL, &a, &ctx, &e), 0);
    assert_int_equal(cedar_record_get(ctx.u.rec, "ip", 2)->kind, CEDAR_STRING);
    /* NUL in keys, via the reader and a jansson tree */
    json_t *j = cedar_json_load("{\"\\u0000\":1}", 12, "ctx", &e);
    assert_non_null(j);
    assert_int_equal(cedar_context_from_jansson(j, NULL, NULL, &a, &ctx, &e), 0);
    assert_non_null(cedar_record_get(ctx.u.rec, "\0", 1));
    json_decref(j);
    struct cedar_uid u;
    j = cedar_json_load("{\"__entity\":{\"type\":\"A::B\",\"id\":\"\"}}", 36, "uid", &e);
    assert_non_null(j);
    assert_int_equal(cedar_uid_from_jansson(j, &a, &u, &e), 0);
    assert_int_equal(u.type.len, 4);
    assert_int_equal(u.id.len, 0);
    json_decref(j);
    /* depth limit */
    char deep[400];
    memset(deep, '[', 200);
    memset(deep + 200, ']', 200);
    assert_null(cedar_json_load(deep, sizeof(deep), "deep", &e));
    assert_int_equal(e.code, ERR_LIMIT);
    arena_free(&a);
    cedar_schema_free(s);
}

static void test_validate_request(void **state)
{
    (void)state;
    struct cedar_schema *s = parse_ok("entity U; entity C enum [\"a\"];\n"
                                      "action go appliesTo { principal: [U, C], resource: C };\n"
                                      "action bare;");
    const struct {
        const char *pt, *pid, *act, *rt, *rid;
        const char *err; /* NULL: valid */
    } t[] = {
        {"U", "x", "go", "C", "a", NULL},
        {"C", "a", "go", "C", "a", NULL},
        {"C", "b", "go", "C", "a", "request principal: `b` is not one of the ids"},
        {"U", "x", "go", "C", "z", "request resource: `z` is not one of the ids"},
        {"U", "x", "go", "U", "y", "resource type `U` is not valid for action `go`"},
        {"X", "x", "go", "C", "a", "principal type `X` is not valid"},
        {"U", "x", "nope", "C", "a", "action Action::\"nope\" is not declared"},
        {"U", "x", "bare", "C", "a", "principal type `U` is not valid for action `bare`"},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct cedar_request req;
        struct err e;
        err_clear(&e);
        cedar_uid_init(&req.principal, t[i].pt, strlen(t[i].pt), t[i].pid, strlen(t[i].pid));
        cedar_uid_init(&req.action, "Action", 6, t[i].act, strlen(t[i].act));
        cedar_uid_init(&req.resource, t[i].rt, strlen(t[i].rt), t[i].rid, strlen(t[i].rid));
        req.context = cedar_value_empty_record();
        int r = cedar_schema_validate_request(s, &req, &e);
        if (t[i].err == NULL ? r != 0 : (r != ERR_INVALID || strstr(e.msg, t[i].err) == NULL)) {
            fail_msg("case %zu: %d \"%s\"", i, r, e.msg);
        }
    }
    cedar_schema_free(s);
}

/* ---- --check: a helper mode for the differential test ----------------
 *
 * test_cedar_schema --check MODE FILE...  prints "ok" or "err<TAB>message"
 * per case, one line each:
 *   S schema                       parse a schema
 *   R schema                       parse a schema, print it resolved as JSON
 *   E schema entities              parse entities against the schema
 *   V schema request               parse a request {principal, action, resource,
 *                                  context} and validate it against the schema
 *   C schema context action        parse a context for the action, whose file
 *                                  holds "type\nid"
 * tests/node/cedar-schema-difftest.mjs compares the answers with cedar-wasm. */
static char *slurp_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    long len;
    *n = 0;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (b = malloc((size_t)len + 1)) == NULL) {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    *n = fread(b, 1, (size_t)len, f);
    b[*n] = '\0';
    fclose(f);
    return b;
}

/* Mode R: the resolved schema as canonical JSON (what the differential test
 * compares with cedar-wasm's schemaToJsonWithResolvedTypes). */
static json_t *type_json(const struct cedar_stype *t)
{
    static const char *const prim[] = {"Bool",    "Long",     "String",  "ipaddr",
                                       "decimal", "datetime", "duration"};
    if (t->kind <= CEDAR_ST_DURATION) {
        return json_string(prim[t->kind]);
    }
    if (t->kind == CEDAR_ST_SET) {
        return json_pack("{s:o}", "set", type_json(t->elem));
    }
    if (t->kind == CEDAR_ST_ENTITY) {
        return json_pack("{s:s%}", "entity", t->name.ptr, t->name.len);
    }
    json_t *attrs = json_object();
    for (size_t i = 0; i < t->nattrs; i++) {
        json_object_setn_new(attrs, t->attrs[i].name.ptr, t->attrs[i].name.len,
                             json_pack("[b,o]", t->attrs[i].required, type_json(t->attrs[i].type)));
    }
    return json_pack("{s:o}", "record", attrs);
}

static json_t *names_json(const struct cedar_str *names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_stringn(names[i].ptr, names[i].len));
    }
    return a;
}

static void print_resolved(const struct cedar_schema *s)
{
    json_t *ents = json_object(), *acts = json_object();
    for (size_t i = 0; i < s->nentities; i++) {
        const struct cedar_sentity *e = &s->entities[i];
        json_t *o =
            json_pack("{s:o,s:o,s:o,s:o}", "parents", names_json(e->parents, e->nparents), "attrs",
                      type_json(e->attrs), "tags", e->tags ? type_json(e->tags) : json_null(),
                      "enum", e->is_enum ? names_json(e->enum_ids, e->nenum) : json_null());
        json_object_setn_new(ents, e->name.ptr, e->name.len, o);
    }
    for (size_t i = 0; i < s->nactions; i++) {
        const struct cedar_saction *a = &s->actions[i];
        json_t *ps = json_array();
        for (size_t k = 0; k < a->nparents; k++) {
            char *u = NULL;
            if (asprintf(&u, "%.*s::%.*s", (int)a->parents[k].type.len, a->parents[k].type.ptr,
                         (int)a->parents[k].id.len, a->parents[k].id.ptr) > 0) {
                json_array_append_new(ps, json_string(u));
            }
            free(u);
        }
        char *key = NULL;
        if (asprintf(&key, "%.*s::%.*s", (int)a->uid.type.len, a->uid.type.ptr, (int)a->uid.id.len,
                     a->uid.id.ptr) < 0) {
            continue;
        }
        json_object_set_new(acts, key,
                            json_pack("{s:o,s:o,s:o,s:o}", "parents", ps, "principals",
                                      names_json(a->principals, a->nprincipals), "resources",
                                      names_json(a->resources, a->nresources), "context",
                                      type_json(a->context)));
        free(key);
    }
    json_t *all = json_pack("{s:o,s:o}", "entities", ents, "actions", acts);
    char *text = json_dumps(all, JSON_COMPACT | JSON_SORT_KEYS);
    printf("ok\t%s\n", text ? text : "null");
    free(text);
    json_decref(all);
}

static int check_one(char mode, char **files, struct err *e)
{
    size_t n = 0, m = 0, al = 0;
    char *st = slurp_file(files[0], &n), *dt = NULL, *at = NULL;
    struct cedar_schema *s = NULL;
    struct arena a;
    int r = ERR_IO;
    arena_init(&a, 0, 0);
    if (st == NULL) {
        goto out;
    }
    if ((r = cedar_schema_parse(st, n, "schema", &s, e)) != 0 || mode == 'S') {
        goto out;
    }
    if (mode == 'R') {
        print_resolved(s);
        r = 1; /* printed already */
        goto out;
    }
    if ((dt = slurp_file(files[1], &m)) == NULL) {
        r = ERR_IO;
        goto out;
    }
    if (mode == 'E') {
        struct cedar_entities *es = NULL;
        r = cedar_entities_from_json(dt, m, "entities", s, &es, e);
        cedar_entities_free(es);
        goto out;
    }
    if (mode == 'V') {
        json_t *j = cedar_json_load(dt, m, "request", e);
        struct cedar_request req;
        r = j ? 0 : ERR_INVALID;
        if (r == 0) {
            r = cedar_uid_from_jansson(json_object_get(j, "principal"), &a, &req.principal, e);
        }
        if (r == 0) {
            r = cedar_uid_from_jansson(json_object_get(j, "action"), &a, &req.action, e);
        }
        if (r == 0) {
            r = cedar_uid_from_jansson(json_object_get(j, "resource"), &a, &req.resource, e);
        }
        if (r == 0) {
            r = cedar_context_from_jansson(json_object_get(j, "context"), s, &req.action, &a,
                                           &req.context, e);
        }
        if (r == 0) {
            r = cedar_schema_validate_request(s, &req, e);
        }
        json_decref(j);
        goto out;
    }
    char *nl;
    if ((at = slurp_file(files[2], &al)) == NULL || (nl = memchr(at, '\n', al)) == NULL) {
        r = ERR_IO;
        goto out;
    }
    struct cedar_uid act;
    struct cedar_value v;
    cedar_uid_init(&act, at, (size_t)(nl - at), nl + 1, al - (size_t)(nl + 1 - at));
    r = cedar_context_from_json(dt, m, s, &act, &a, &v, e);
out:
    arena_free(&a);
    cedar_schema_free(s);
    free(st);
    free(dt);
    free(at);
    return r;
}

static int check_mode(int argc, char **argv)
{
    char mode = argv[2][0];
    int per = mode == 'S' || mode == 'R' ? 1 : mode == 'E' || mode == 'V' ? 2 : 3;
    for (int i = 3; i + per <= argc; i += per) {
        struct err e;
        err_clear(&e);
        int r = check_one(mode, argv + i, &e);
        if (r == 1) {
            continue;
        }
        if (r == 0) {
            puts("ok");
            continue;
        }
        for (char *q = e.msg; *q; q++) {
            if (*q == '\n' || *q == '\t') {
                *q = ' ';
            }
        }
        printf("err\t%s\n", e.msg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--check") == 0) {
        return check_mode(argc, argv);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_basic),
        cmocka_unit_test(test_schema_resolution),
        cmocka_unit_test(test_schema_duplicate_attribute),
        cmocka_unit_test(test_schema_owns_its_strings),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_schema_limits),
        cmocka_unit_test(test_entities_schema_directed),
        cmocka_unit_test(test_entities_typed_escapes),
        cmocka_unit_test(test_entities_errors),
        cmocka_unit_test(test_entities_schemaless),
        cmocka_unit_test(test_context),
        cmocka_unit_test(test_validate_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
