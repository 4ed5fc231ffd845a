/*
 * test_cedar_validate.c: the strict-mode validator (validate.c).
 *
 * One schema, and a table of (policy text, valid?, expected piece of the
 * first diagnostic).  Each rule of the validator has cases on both sides:
 * the guarded form that validates and the unguarded one that must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/cedar.h"

static const char *const schema_text =
    "namespace App {\n"
    "  type Addr = { city: String, zip?: Long };\n"
    "  entity Team;\n"
    "  entity User in [Team] = { name: String, age: Long, nick?: String, addr: Addr,\n"
    "                            labels: Set<String>, boss?: User, ip: ipaddr } tags String;\n"
    "  entity Doc in [Team] = { owner: User, level: Long, meta?: { a: Long } };\n"
    "  entity Color enum [\"red\", \"blue\"];\n"
    "  action view appliesTo { principal: [User], resource: [Doc],\n"
    "    context: { ip: ipaddr, n: Long, flag?: Bool, when: datetime } };\n"
    "  action edit in [view] appliesTo { principal: [User], resource: [Doc, Team],\n"
    "    context: { ip: ipaddr, n: Long, flag?: Bool, when: datetime } };\n"
    "  action group;\n"
    "}\n";

#define P "permit(principal, action, resource) when { "
#define PV "permit(principal, action == App::Action::\"view\", resource) when { "

struct vcase {
    const char *policy;
    bool valid;
    const char *diag; /* a piece of the first diagnostic (invalid cases) */
};

static const struct vcase cases[] = {
    /* scope and names */
    {"permit(principal, action == App::Action::\"view\", resource);", true, NULL},
    {"permit(principal in App::Team::\"t\", action in [App::Action::\"view\"], resource);", true,
     NULL},
    {"permit(principal is App::Doc, action == App::Action::\"view\", resource);", false,
     "never apply"},
    {"permit(principal, action == App::Action::\"group\", resource);", false, "never apply"},
    {"permit(principal, action == App::Action::\"nope\", resource);", false, "unrecognized action"},
    {"permit(principal == App::Nope::\"x\", action, resource);", false, "unrecognized entity type"},
    {P "principal is App::Nope };", false, "unrecognized entity type `App::Nope`"},
    {P "false && App::Nope::\"x\" == principal };", false, "unrecognized entity type"},
    {P "App::Color::\"green\" == App::Color::\"red\" };", false, "enum"},
    {P "App::Color::\"red\" != App::Color::\"blue\" };", true, NULL},
    {"permit(principal == ?principal, action, resource) when { principal.age > 1 };", true, NULL},
    /* attributes */
    {P "principal.name == \"x\" };", true, NULL},
    {P "principal.nosuch == \"x\" };", false, "attribute `nosuch` not found"},
    {P "principal.nick == \"x\" };", false, "optional"},
    {P "principal has nick && principal.nick == \"x\" };", true, NULL},
    {P "if principal has nick then principal.nick == \"a\" else false };", true, NULL},
    {P "principal has nick || principal.nick == \"a\" };", false, "optional"},
    {P "principal.addr.zip > 1 };", false, "optional"},
    {P "principal.addr has zip && principal.addr.zip > 1 };", true, NULL},
    {P "principal has boss && principal.boss.name == \"a\" };", true, NULL},
    {P "principal has boss && principal.boss.nick == \"a\" };", false, "optional"},
    {P "context.flag };", false, "optional"},
    {P "context has flag && context.flag };", true, NULL},
    {"permit(principal, action, resource) when { principal has nick } when { principal.nick == "
     "\"a\" };",
     true, NULL},
    {"permit(principal, action, resource) unless { principal.nick == \"a\" };", false, "optional"},
    {P "false && principal.nick == \"x\" };", true, NULL},
    {P "true || principal.nick == \"x\" };", true, NULL},
    {P "resource.meta.a > 0 };", false, "optional"},
    {P "{a: 1, b: \"x\"}.a + 1 > 0 };", true, NULL},
    {P "{a: 1}.b == 1 };", false, "attribute `b` not found"},
    {P "principal.age.x == 1 };", false, "expected an entity or a record"},
    /* tags */
    {P "principal.getTag(\"k\") == \"v\" };", false, "hasTag"},
    {P "principal.hasTag(\"k\") && principal.getTag(\"k\") == \"v\" };", true, NULL},
    {P "principal.hasTag(\"k\") && principal.getTag(\"j\") == \"v\" };", false, "hasTag"},
    {P "resource.hasTag(\"k\") || true };", true, NULL},
    {P "resource.getTag(\"k\") == \"v\" };", false, "no tags"},
    {P "principal.hasTag(1) };", false, "expected String"},
    /* types of operators */
    {P "principal.age == \"a\" };", false, "incompatible types"},
    {P "1 == \"a\" || true };", true, NULL},
    {P "principal == resource };", true, NULL}, /* entity types differ: false, not an error */
    {P "principal == 1 };", false, "incompatible types"},
    {P "[principal, resource].contains(principal) };", false, "set elements"},
    /* `has` of a required entity attribute is not known true (the entity may be missing) */
    {"permit(principal, action, resource) unless { principal has name } when { principal.nick == "
     "\"x\" };",
     false, "optional"},
    {P "!({a: 1} has a) && principal.nick == \"x\" };", true, NULL},
    {P "principal.age + 1 > context.n };", true, NULL},
    {P "principal.name + 1 > 0 };", false, "expected Long"},
    {P "-principal.age < 0 && principal.age * 2 > 0 };", true, NULL},
    {P "principal.name like \"a*\" };", true, NULL},
    {P "principal.age like \"a\" };", false, "expected String"},
    {P "!principal.age };", false, "expected Bool"},
    {P "principal.age };", false, "expected Bool"},
    {P "principal.name < \"b\" };", false, "comparison"},
    {P "principal is App::User };", true, NULL},
    {P "principal is App::User in App::Team::\"t\" };", true, NULL},
    {P "principal in App::Team::\"t\" };", true, NULL},
    {P "resource in principal || true };", true, NULL},
    {P "principal in principal.age };", false, "right of `in`"},
    {P "1 in App::Team::\"t\" };", false, "left of `in`"},
    /* if */
    {P "(if true then 1 else \"a\") == 1 };", true, NULL},
    {P "(if principal.age > 1 then 1 else \"a\") == 1 };", false, "branches of `if`"},
    {P "if principal.age then true else false };", false, "condition of `if`"},
    /* sets and records */
    {P "[1, \"a\"].contains(1) };", false, "set elements"},
    {P "[].isEmpty() };", false, "empty set"},
    {P "[1, 2].contains(1) && [1].containsAll([2]) };", true, NULL},
    {P "principal.labels.containsAny([\"a\"]) };", true, NULL},
    {P "principal.labels.contains(1) };", false, "contains"},
    {P "principal.labels.containsAll([1]) };", false, "containsAll"},
    {P "principal.age.contains(1) };", false, "expected a set"},
    {P "[{a: 1}, {a: 2}].contains({a: 3}) };", true, NULL},
    {P "[{a: 1}, {b: 2}].contains({a: 3}) };", false, "set elements"},
    {P "[App::Team::\"a\", App::Doc::\"b\"].contains(resource) };", false, "set elements"},
    /* extensions */
    {P "context.ip.isInRange(ip(\"10.0.0.0/8\")) || context.ip.isLoopback() };", true, NULL},
    {P "ip(principal.name).isIpv4() };", false, "string literal"},
    {P "decimal(\"1.23456\").lessThan(decimal(\"1.0\")) };", false, "invalid extension literal"},
    {P "decimal(\"1.2345\").lessThan(decimal(\"1.0\")) };", true, NULL},
    {P "datetime(\"2020-01-01\").offset(duration(\"1h\")) < context.when };", true, NULL},
    {P "context.when.toTime().toHours() > 1 };", true, NULL},
    {P "context.when < duration(\"1h\") };", false, "comparison"},
    {P "context.ip.isInRange(\"10.0.0.0/8\") };", false, "expected ipaddr"},
    {P "principal.ip.isIpv4(1) };", false, "wrong number of arguments"},
    {P "ip(\"1.2.3.4\") == \"1.2.3.4\" };", false, "incompatible"},
    /* action knowledge */
    {PV "action in [App::Action::\"edit\"] && principal.nick == \"x\" };", true, NULL},
    {PV "action in [App::Action::\"view\"] && principal.nick == \"x\" };", false, "optional"},
    {"permit(principal, action == App::Action::\"edit\", resource) when { "
     "if action in action then true else resource.nick };",
     true, NULL},
};

static void collect(void *ud, const char *policy, const char *message)
{
    (void)policy;
    char *first = ud;
    if (first[0] == '\0') {
        snprintf(first, 512, "%s", message);
    }
}

static struct cedar_schema *schema(void)
{
    struct cedar_schema *s = NULL;
    struct err e;
    err_clear(&e);
    if (cedar_schema_parse(schema_text, strlen(schema_text), "t.cedarschema", &s, &e) != 0) {
        fail_msg("schema: %s", e.msg);
    }
    return s;
}

static void test_validate_table(void **state)
{
    (void)state;
    struct cedar_schema *s = schema();
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct vcase *c = &cases[i];
        struct cedar_policyset *ps = NULL;
        struct err e;
        err_clear(&e);
        if (cedar_policyset_parse(c->policy, strlen(c->policy), "t.cedar", 0, &ps, &e) != 0) {
            printf("case %zu does not parse: %s\n", i, e.msg);
            bad++;
            continue;
        }
        char first[512] = "";
        size_t n = 99;
        int r = cedar_validate(ps, s, "t.cedar", collect, first, &n, &e);
        bool ok = c->valid ? (r == 0 && n == 0)
                           : (r == ERR_INVALID && n > 0 && strstr(first, c->diag) != NULL &&
                              strncmp(first, "t.cedar:", 8) == 0);
        if (!ok) {
            printf("case %zu: %s\n  expected %s%s%s, got r=%d n=%zu: %s\n", i, c->policy,
                   c->valid ? "valid" : "invalid with '", c->valid ? "" : c->diag,
                   c->valid ? "" : "'", r, n, first);
            bad++;
        }
        cedar_policyset_put(ps);
    }
    cedar_schema_free(s);
    assert_int_equal(bad, 0);
}

/* Every invalid policy of a set is reported; one error in several
 * environments is reported once. */
static void test_validate_several(void **state)
{
    (void)state;
    struct cedar_schema *s = schema();
    const char *text = P "principal.nick == \"a\" };\n" P "true };\n" P "resource.nope };\n";
    struct cedar_policyset *ps = NULL;
    struct err e;
    err_clear(&e);
    assert_int_equal(cedar_policyset_parse(text, strlen(text), "t.cedar", 0, &ps, &e), 0);
    char first[512] = "";
    size_t n = 0;
    assert_int_equal(cedar_validate(ps, s, "t.cedar", collect, first, &n, &e), ERR_INVALID);
    /* policy0 once (the same error for view and edit); policy2 for Doc and Team */
    assert_int_equal(n, 3);
    assert_non_null(strstr(first, "t.cedar:1:"));
    assert_non_null(strstr(first, "policy0"));
    assert_non_null(strstr(e.msg, "3 validation errors"));
    cedar_policyset_put(ps);
    /* scope errors point at the policy's permit/forbid */
    const char *t2 =
        "// x\n@id(\"a\")\n  forbid(principal, action == App::Action::\"no\", resource);";
    ps = NULL;
    assert_int_equal(cedar_policyset_parse(t2, strlen(t2), "t.cedar", 0, &ps, &e), 0);
    first[0] = '\0';
    assert_int_equal(cedar_validate(ps, s, "t.cedar", collect, first, &n, &e), ERR_INVALID);
    assert_int_equal(n, 1);
    assert_non_null(strstr(first, "t.cedar:3:3: policy0: unrecognized action"));
    /* NULL callback and count */
    assert_int_equal(cedar_validate(ps, s, NULL, NULL, NULL, NULL, &e), ERR_INVALID);
    cedar_policyset_put(ps);
    cedar_schema_free(s);
}

/* Deep nesting is bounded: an error or a verdict, never a crash. */
static void test_validate_deep(void **state)
{
    (void)state;
    struct cedar_schema *s = schema();
    size_t depth = 120;
    size_t cap = depth * 2 + 256;
    char *text = malloc(cap);
    assert_non_null(text);
    size_t k = (size_t)snprintf(text, cap, "%s", P);
    for (size_t i = 0; i < depth; i++) {
        text[k++] = '(';
    }
    k += (size_t)snprintf(text + k, cap - k, "true");
    for (size_t i = 0; i < depth; i++) {
        text[k++] = ')';
    }
    snprintf(text + k, cap - k, " };");
    struct cedar_policyset *ps = NULL;
    struct err e;
    err_clear(&e);
    if (cedar_policyset_parse(text, strlen(text), "t.cedar", 0, &ps, &e) == 0) {
        assert_int_equal(cedar_validate(ps, s, "t.cedar", NULL, NULL, NULL, &e), 0);
    }
    cedar_policyset_put(ps);
    free(text);
    cedar_schema_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_table),
        cmocka_unit_test(test_validate_several),
        cmocka_unit_test(test_validate_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
