/*
 * test_cedar_tools.c: the Cedar tooling: JSON policy format (est.c), the
 * formatter (format.c), template link/unlink, the JSON schema syntax
 * (schema_json.c).
 *
 * Round trips over a table of tricky policies (text -> JSON -> policy ->
 * JSON; text -> formatted text -> policy -> JSON; formatting twice), the
 * readers' refusals (unknown keys, slots out of place, names that would
 * inject text), and linked policies deciding requests.
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
#include "util/buf.h"

static const char *const policies[] = {
    "permit(principal, action, resource);",
    "@id(\"x\") @flag forbid(principal == User::\"a\", action in [Action::\"r\", "
    "NS::Action::\"w\"], resource is NS::Doc in Folder::\"f\") when { true } unless { false };",
    "permit(principal is User, action in Action::\"g\", resource == Doc::\"d\\n\\\"q\\\"\");",
    "permit(principal in ?principal, action, resource is Doc in ?resource);",
    "permit(principal, action, resource) when { principal.x + 1 - 2 * 3 < -5 && !(context "
    "has a.b.c) || -(1) == --1 && !!true };",
    "permit(principal, action, resource) when { [1, {a: \"s\", \"b c\": [true]}].contains(ip("
    "\"1.2.3.4\")) && resource.isIpv4() && principal like \"a*\\*\\u{e9}\\0\" };",
    "permit(principal, action, resource) when { (if context.a then 1 else 2) == 1 && principal "
    "is T in X::\"y\" && principal.getTag(\"a\") && principal.hasTag(\"b\") };",
    "permit(principal, action, resource) when { -9223372036854775808 == (-1).foo && "
    "decimal(\"1.0\").lessThan(decimal(\"2.0\")) && [].isEmpty() && context[\"if\"] && "
    "context has \"then\" && {\"\": 1}[\"\"] == 1 };",
    "permit(principal, action, resource) when { a::b::C::\"x\" in [A::\"b\"] && (1 + (2 + 3)) "
    "* (4 * 5) == 1 && (true && false) && (true || false) || (false || true) };",
    "permit(principal, action, resource) when { datetime(\"2020-01-01\").offset(duration(\"1h"
    "\")).toDate() > datetime(\"2020-01-01\") && ip(\"1\", \"2\") };",
};

#define NPOL (sizeof(policies) / sizeof(policies[0]))

static json_t *to_json(struct cedar_policyset *ps)
{
    json_t *j = NULL;
    struct err e;
    assert_int_equal(cedar_policyset_to_json(ps, &j, &e), 0);
    return j;
}

static void test_est_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPOL; i++) {
        struct err e;
        struct cedar_policyset *ps = NULL, *back = NULL;
        if (cedar_policyset_parse(policies[i], strlen(policies[i]), "t", 0, &ps, &e) != 0) {
            fail_msg("policy %zu: %s", i, e.msg);
        }
        json_t *j = to_json(ps);
        char *txt = json_dumps(j, JSON_COMPACT);
        assert_non_null(txt);
        if (cedar_policyset_from_json(txt, strlen(txt), "t.json", &back, &e) != 0) {
            fail_msg("policy %zu: %s\n%s", i, e.msg, txt);
        }
        json_t *j2 = to_json(back);
        if (!json_equal(j, j2)) {
            char *t2 = json_dumps(j2, JSON_COMPACT);
            fail_msg("policy %zu changed:\n%s\n%s", i, txt, t2);
        }
        free(txt);
        json_decref(j);
        json_decref(j2);
        cedar_policyset_put(ps);
        cedar_policyset_put(back);
    }
}

static void test_format(void **state)
{
    (void)state;
    for (size_t i = 0; i < NPOL; i++) {
        struct err e;
        struct cedar_policyset *ps = NULL, *back = NULL;
        struct buf b1, b2;
        buf_init(&b1, 1 << 20);
        buf_init(&b2, 1 << 20);
        assert_int_equal(cedar_policyset_parse(policies[i], strlen(policies[i]), "t", 0, &ps, &e),
                         0);
        assert_int_equal(cedar_policyset_format(ps, &b1, &e), 0);
        if (cedar_policyset_parse(b1.data, b1.len, "fmt", 0, &back, &e) != 0) {
            fail_msg("policy %zu: formatted text does not parse: %s\n%.*s", i, e.msg, (int)b1.len,
                     b1.data);
        }
        assert_int_equal(cedar_policyset_format(back, &b2, &e), 0);
        assert_int_equal(b1.len, b2.len);
        assert_memory_equal(b1.data, b2.data, b1.len);
        json_t *j = to_json(ps), *j2 = to_json(back);
        if (!json_equal(j, j2)) {
            fail_msg("policy %zu: formatting changed the policy:\n%.*s", i, (int)b1.len, b1.data);
        }
        json_decref(j);
        json_decref(j2);
        buf_free(&b1);
        buf_free(&b2);
        cedar_policyset_put(ps);
        cedar_policyset_put(back);
    }
}

static void test_format_layout(void **state)
{
    (void)state;
    const char *in = "@id(\"a\")  permit(principal==User::\"u\",action,resource)"
                     "when{context.x&&context.y};";
    const char *want = "@id(\"a\")\npermit (\n  principal == User::\"u\",\n  action,\n  "
                       "resource\n)\nwhen { context.x && context.y };\n";
    struct err e;
    struct cedar_policyset *ps = NULL;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(cedar_policyset_parse(in, strlen(in), "t", 0, &ps, &e), 0);
    assert_int_equal(cedar_policyset_format(ps, &b, &e), 0);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    buf_free(&b);
    cedar_policyset_put(ps);
}

/* JSON the reader must refuse, and a piece of the message. */
static const struct {
    const char *json;
    int code;
    const char *msg;
} refused[] = {
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"All\"},"
     "\"resource\":{\"op\":\"All\"},\"conditions\":[],\"extra\":1}",
     ERR_INVALID, "expected an object"},
    {"{\"effect\":\"allow\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"All\"},"
     "\"resource\":{\"op\":\"All\"},\"conditions\":[]}",
     ERR_INVALID, "effect"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"==\",\"slot\":\"?resource\"},\"action\":{"
     "\"op\":\"All\"},\"resource\":{\"op\":\"All\"},\"conditions\":[]}",
     ERR_INVALID, "slot"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"==\","
     "\"entity\":{\"type\":\"User\",\"id\":\"a\"}},\"resource\":{\"op\":\"All\"},"
     "\"conditions\":[]}",
     ERR_INVALID, "action entit"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"All\"},"
     "\"resource\":{\"op\":\"All\"},\"conditions\":[{\"kind\":\"when\",\"body\":{\"Slot\":"
     "\"?principal\"}}]}",
     ERR_INVALID, "Slot"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"All\"},"
     "\"resource\":{\"op\":\"All\"},\"conditions\":[{\"kind\":\"when\",\"body\":{\"frob\":[]}}]}",
     ERR_INVALID, "unknown expression"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"is\",\"entity_type\":\"A B\"},\"action\":{"
     "\"op\":\"All\"},\"resource\":{\"op\":\"All\"},\"conditions\":[]}",
     ERR_INVALID, "entity type"},
    {"{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},\"action\":{\"op\":\"All\"},"
     "\"resource\":{\"op\":\"All\"},\"conditions\":[{\"kind\":\"when\",\"body\":{\"like\":{"
     "\"left\":{\"Value\":\"a\"},\"pattern\":[\"Star\"]}}}]}",
     ERR_INVALID, "pattern"},
    {"{\"staticPolicies\":{\"t\":{\"effect\":\"permit\",\"principal\":{\"op\":\"==\",\"slot\":"
     "\"?principal\"},\"action\":{\"op\":\"All\"},\"resource\":{\"op\":\"All\"},\"conditions\":"
     "[]}}}",
     ERR_INVALID, "static policy has no slot"},
    {"{\"templateLinks\":[{\"templateId\":\"nope\",\"newId\":\"x\",\"values\":{}}]}", ERR_NOTFOUND,
     "no template"},
    {"[1]", ERR_INVALID, "expected an object"},
    {"{\"effect\":\"permit\",\"effect\":\"forbid\"}", ERR_INVALID, "duplicate"},
};

static void test_est_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct err e;
        err_clear(&e);
        struct cedar_policyset *ps = NULL;
        int r =
            cedar_policyset_from_json(refused[i].json, strlen(refused[i].json), "t.json", &ps, &e);
        if (r != refused[i].code || strstr(e.msg, refused[i].msg) == NULL) {
            fail_msg("case %zu: got %d \"%s\", want %d \"%s\"", i, r, e.msg, refused[i].code,
                     refused[i].msg);
        }
        assert_null(ps);
    }
}

static void test_est_deep(void **state)
{
    (void)state;
    /* 3,000 nested negations: the reader refuses (limit), no crash */
    struct buf b;
    buf_init(&b, 1 << 24);
    assert_int_equal(buf_append_str(&b, "{\"effect\":\"permit\",\"principal\":{\"op\":\"All\"},"
                                        "\"action\":{\"op\":\"All\"},\"resource\":{\"op\":\"All\"},"
                                        "\"conditions\":[{\"kind\":\"when\",\"body\":"),
                     0);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(buf_append_str(&b, "{\"!\":{\"arg\":"), 0);
    }
    assert_int_equal(buf_append_str(&b, "{\"Value\":true}"), 0);
    for (int i = 0; i < 3000; i++) {
        assert_int_equal(buf_append_str(&b, "}}"), 0);
    }
    assert_int_equal(buf_append_str(&b, "}]}"), 0);
    struct err e;
    struct cedar_policyset *ps = NULL;
    assert_int_equal(cedar_policyset_from_json(b.data, b.len, "deep", &ps, &e), ERR_LIMIT);
    buf_free(&b);

    /* a 5,000-term && chain is flat: accepted, and evaluates */
    buf_init(&b, 1 << 24);
    assert_int_equal(buf_append_str(&b, "permit(principal, action, resource) when { true"), 0);
    for (int i = 0; i < 5000; i++) {
        assert_int_equal(buf_append_str(&b, " && true"), 0);
    }
    assert_int_equal(buf_append_str(&b, " };"), 0);
    assert_int_equal(cedar_policyset_parse(b.data, b.len, "chain", 0, &ps, &e), 0);
    json_t *j = to_json(ps);
    cedar_policyset_put(ps);
    char *txt = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    /* nests 10,000 JSON levels: beyond the reader's JSON depth bound */
    assert_int_equal(cedar_policyset_from_json(txt, strlen(txt), "chain.json", &ps, &e), ERR_LIMIT);
    free(txt);
    buf_free(&b);
}

static void test_link_unlink(void **state)
{
    (void)state;
    const char *text = "@id(\"grant\") permit(principal == ?principal, action, resource in "
                       "?resource);";
    struct err e;
    struct cedar_policyset *ps = NULL;
    assert_int_equal(
        cedar_policyset_parse(text, strlen(text), "t", CEDAR_PARSE_ID_ANNOTATION, &ps, &e), 0);
    struct cedar_uid alice, docs, bob;
    cedar_uid_init(&alice, "User", 4, "alice", 5);
    cedar_uid_init(&bob, "User", 4, "bob", 3);
    cedar_uid_init(&docs, "Folder", 6, "docs", 4);
    assert_int_equal(cedar_policyset_link(ps, "grant", "g1", &alice, &docs, &e), 0);
    assert_int_equal(cedar_policyset_link(ps, "grant", "g1", &bob, &docs, &e), ERR_CONFLICT);
    assert_int_equal(cedar_policyset_link(ps, "grant", "g2", &bob, NULL, &e), ERR_INVALID);
    assert_int_equal(cedar_policyset_link(ps, "grant", "g2", &bob, &docs, &e), 0);
    assert_string_equal(cedar_policyset_template_of(ps, 1), "grant");
    assert_true(cedar_policyset_is_template(ps, 0));

    /* JSON round trip keeps the links */
    json_t *j = to_json(ps);
    assert_int_equal(json_array_size(json_object_get(j, "templateLinks")), 2);
    struct cedar_policyset *back = NULL;
    assert_int_equal(cedar_policyset_from_jansson(j, "j", &back, &e), 0);
    json_t *j2 = to_json(back);
    assert_true(json_equal(j, j2));
    json_decref(j);
    json_decref(j2);

    struct arena a;
    arena_init(&a, 4096, 0);
    struct cedar_request req = {0};
    cedar_uid_init(&req.principal, "User", 4, "bob", 3);
    cedar_uid_init(&req.action, "Action", 6, "read", 4);
    cedar_uid_init(&req.resource, "Folder", 6, "docs", 4);
    req.context = cedar_value_empty_record();
    struct cedar_response resp;
    assert_int_equal(cedar_authorize(back, NULL, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_ALLOW);
    assert_int_equal(resp.nreasons, 1);
    assert_string_equal(resp.reasons[0], "g2");

    assert_int_equal(cedar_policyset_unlink(back, "g2", &e), 0);
    assert_int_equal(cedar_policyset_unlink(back, "g2", &e), ERR_NOTFOUND);
    assert_int_equal(cedar_policyset_unlink(back, "grant", &e), ERR_INVALID);
    assert_int_equal(cedar_policyset_count(back), 2);
    assert_int_equal(cedar_authorize(back, NULL, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_DENY);
    cedar_uid_init(&req.principal, "User", 4, "alice", 5);
    assert_int_equal(cedar_authorize(back, NULL, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_ALLOW);
    arena_free(&a);
    cedar_policyset_put(back);
    cedar_policyset_put(ps);
}

static const char *const schema_text =
    "@doc(\"app\") namespace App {\n"
    "  type Addr = { city: String, zip?: Long };\n"
    "  entity Team;\n"
    "  entity User in [Team] = { name: String, @doc(\"n\") nick?: String, addr: Addr,\n"
    "    labels: Set<String>, ip: ipaddr, when: datetime, \"odd key\": Bool } tags String;\n"
    "  entity Color enum [\"red\", \"blue\"];\n"
    "  action group;\n"
    "  action view in [group] appliesTo { principal: [User], resource: [Team],\n"
    "    context: { d: decimal, t: duration } };\n"
    "}\n"
    "entity Root = { owner: App::User };\n"
    "action \"top\" appliesTo { principal: [Root], resource: [Root] };\n";

static json_t *schema_json(const struct cedar_schema *s)
{
    json_t *j = NULL;
    struct err e;
    assert_int_equal(cedar_schema_to_json(s, &j, &e), 0);
    return j;
}

static void test_schema_json(void **state)
{
    (void)state;
    struct err e;
    struct cedar_schema *s = NULL, *back = NULL;
    if (cedar_schema_parse(schema_text, strlen(schema_text), "s", &s, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    json_t *j = schema_json(s);
    char *txt = json_dumps(j, JSON_COMPACT);
    if (cedar_schema_from_json(txt, strlen(txt), "s.json", &back, &e) != 0) {
        fail_msg("%s\n%s", e.msg, txt);
    }
    json_t *j2 = schema_json(back);
    if (!json_equal(j, j2)) {
        char *t2 = json_dumps(j2, JSON_COMPACT);
        fail_msg("schema changed:\n%s\n%s", txt, t2);
    }
    assert_int_equal(cedar_schema_entity_count(back), 4);
    assert_int_equal(cedar_schema_action_count(back), 3);
    free(txt);
    json_decref(j);
    json_decref(j2);
    cedar_schema_free(s);
    cedar_schema_free(back);

    /* the reference's own shapes: common types by name, EntityOrCommon */
    const char *ref = "{\"NS\":{\"commonTypes\":{\"C\":{\"type\":\"Record\",\"attributes\":{"
                      "\"a\":{\"type\":\"EntityOrCommon\",\"name\":\"Long\"}}}},"
                      "\"entityTypes\":{\"U\":{\"shape\":{\"type\":\"C\"}}},\"actions\":{\"a\":{"
                      "\"appliesTo\":{\"principalTypes\":[\"U\"],\"resourceTypes\":[\"U\"]}}}}}";
    if (cedar_schema_from_json(ref, strlen(ref), "r.json", &back, &e) != 0) {
        fail_msg("%s", e.msg);
    }
    cedar_schema_free(back);
}

static void test_schema_json_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        /* names that would inject declarations into the Cedar text */
        "{\"\":{\"entityTypes\":{\"A; entity B\":{}}}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"memberOfTypes\":[\"B]; entity C in [D\"]}}}}",
        "{\"X { entity Y; } namespace Z\":{}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"annotations\":{\"x(\\\"\\\") @y\":\"v\"}}}}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"shape\":{\"type\":\"Extension\",\"name\":\"ip\\\"\"}}}}}",
        /* unknown keys, wrong shapes */
        "{\"\":{\"entityTypes\":{\"A\":{\"extra\":1}}}}",
        "{\"\":{\"entities\":{}}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"shape\":{\"type\":\"Record\",\"attributes\":{},"
        "\"additionalAttributes\":true}}}}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"shape\":{\"type\":\"Set\"}}}}}",
        "{\"\":{\"entityTypes\":{\"A\":{\"shape\":{\"type\":\"Record\",\"attributes\":{\"a\":{"
        "\"type\":\"Nope\"}}}}}}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct err e;
        struct cedar_schema *s = NULL;
        int r = cedar_schema_from_json(bad[i], strlen(bad[i]), "bad.json", &s, &e);
        if (r == 0) {
            fail_msg("case %zu accepted: %s", i, bad[i]);
        }
        assert_null(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_est_round_trip), cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_layout),  cmocka_unit_test(test_est_refused),
        cmocka_unit_test(test_est_deep),       cmocka_unit_test(test_link_unlink),
        cmocka_unit_test(test_schema_json),    cmocka_unit_test(test_schema_json_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
