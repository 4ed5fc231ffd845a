/*
 * test_cedar.c: unit tests of the Cedar engine core (parser, evaluator,
 * entity store, index, authorizer, limits), with entities built in C.
 * The conformance suites (tests/cedar) cover the language broadly; these
 * pin down the API and the limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>

#include "cedar/cedar.h"
#include "util/limits.h"

static struct cedar_uid uid(const char *t, const char *id)
{
    struct cedar_uid u;
    cedar_uid_init(&u, t, strlen(t), id, strlen(id));
    return u;
}

/* A small store: alice in admins in staff; bob; doc1 with owner alice. */
static struct cedar_entities *store(void)
{
    struct cedar_entities *es;
    struct err e;
    assert_int_equal(cedar_entities_new(&es), 0);
    struct arena *a = cedar_entities_arena(es);
    struct cedar_uid admins = uid("Group", "admins"), staff = uid("Group", "staff");
    struct cedar_uid alice = uid("User", "alice"), bob = uid("User", "bob");
    struct cedar_uid doc = uid("Doc", "doc1");
    struct cedar_attr at[2];
    struct cedar_value attrs, tags, v;
    at[0].key.ptr = "age";
    at[0].key.len = 3;
    at[0].val = cedar_value_long(42);
    at[1].key.ptr = "name";
    at[1].key.len = 4;
    assert_int_equal(cedar_value_string(a, "Alice", 5, &at[1].val), 0);
    assert_int_equal(cedar_value_record(a, at, 2, &attrs, &e), 0);
    struct cedar_attr tg = {{"env", 3}, cedar_value_long(1)};
    assert_int_equal(cedar_value_string(a, "prod", 4, &tg.val), 0);
    assert_int_equal(cedar_value_record(a, &tg, 1, &tags, &e), 0);
    assert_int_equal(cedar_entities_add(es, &alice, &attrs, &tags, &admins, 1, false, &e), 0);
    assert_int_equal(cedar_entities_add(es, &admins, NULL, NULL, &staff, 1, false, &e), 0);
    assert_int_equal(cedar_entities_add(es, &staff, NULL, NULL, NULL, 0, false, &e), 0);
    assert_int_equal(cedar_entities_add(es, &bob, NULL, NULL, NULL, 0, false, &e), 0);
    assert_int_equal(cedar_value_entity(a, "User", 4, "alice", 5, &v), 0);
    struct cedar_attr da = {{"owner", 5}, v};
    assert_int_equal(cedar_value_record(a, &da, 1, &attrs, &e), 0);
    assert_int_equal(cedar_entities_add(es, &doc, &attrs, NULL, NULL, 0, false, &e), 0);
    assert_int_equal(cedar_entities_finish(es, &e), 0);
    return es;
}

/* Authorizes (principal, action, resource) against text; returns the
 * decision and fills reasons/errors as "id,id" strings. */
static void app(char *dst, const char *s)
{
    size_t n = strlen(dst), m = strlen(s);
    memcpy(dst + n, s, m + 1);
}

static int decide(const char *text, const char *p, const char *r, char *reasons, char *errors)
{
    struct cedar_policyset *ps;
    struct err e;
    err_clear(&e);
    int rc = cedar_policyset_parse(text, strlen(text), "t.cedar", 0, &ps, &e);
    if (rc != 0) {
        fprintf(stderr, "%s\n", e.msg);
    }
    assert_int_equal(rc, 0);
    struct cedar_entities *es = store();
    struct cedar_request req = {uid("User", p), uid("Action", "view"), uid("Doc", r),
                                cedar_value_empty_record()};
    struct arena a;
    arena_init(&a, 0, 0);
    struct cedar_response resp;
    assert_int_equal(cedar_authorize(ps, es, &req, &a, &resp, &e), 0);
    reasons[0] = errors[0] = '\0';
    for (size_t i = 0; i < resp.nreasons; i++) {
        app(reasons, i ? "," : "");
        app(reasons, resp.reasons[i]);
    }
    for (size_t i = 0; i < resp.nerrors; i++) {
        app(errors, i ? "," : "");
        app(errors, resp.errors[i].policy);
    }
    int d = resp.decision;
    arena_free(&a);
    cedar_entities_free(es);
    cedar_policyset_put(ps);
    return d;
}

static void test_forbid_overrides(void **state)
{
    (void)state;
    char r[256], e[256];
    const char *t = "permit(principal, action, resource);\n"
                    "forbid(principal == User::\"bob\", action, resource);\n"
                    "permit(principal in Group::\"staff\", action, resource);\n";
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    assert_string_equal(r, "policy0,policy2");
    assert_int_equal(decide(t, "bob", "doc1", r, e), CEDAR_DENY);
    assert_string_equal(r, "policy1");
}

static void test_hierarchy_and_attrs(void **state)
{
    (void)state;
    char r[256], e[256];
    const char *t = "permit(principal in Group::\"staff\", action, resource) when {\n"
                    "  resource.owner == principal && principal.age > 40 &&\n"
                    "  principal has name && principal.name like \"Al*e\" &&\n"
                    "  principal.hasTag(\"env\") && principal.getTag(\"env\") == \"prod\" };\n";
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    assert_string_equal(r, "policy0");
    assert_int_equal(decide(t, "bob", "doc1", r, e), CEDAR_DENY);
    assert_string_equal(e, "");
}

static void test_errors_skip_policy(void **state)
{
    (void)state;
    char r[256], e[256];
    /* missing entity attribute, overflow, type error: each policy errors */
    const char *t = "permit(principal, action, resource) when { principal.nope == 1 };\n"
                    "permit(principal, action, resource) when { 9223372036854775807 + 1 > 0 };\n"
                    "permit(principal, action, resource) when { 1 && true };\n"
                    "permit(principal, action, resource) unless { 1 == \"1\" };\n";
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    assert_string_equal(r, "policy3");
    assert_string_equal(e, "policy0,policy1,policy2");
    /* an unknown entity: attribute access is an error, has is false */
    const char *u = "permit(principal, action, resource) when { principal has age };\n"
                    "permit(principal, action, resource) when { resource.x };\n";
    assert_int_equal(decide(u, "carol", "nodoc", r, e), CEDAR_DENY);
    assert_string_equal(e, "policy1");
}

static void test_parse_errors(void **state)
{
    (void)state;
    struct cedar_policyset *ps = NULL;
    struct err e;
    const char *bad[] = {
        "permit(principal, action, resource) when { 1 + };",
        "permit(principal, action, resource) when { \"\\q\" };",
        "permit(principal, action, resource)",
        "permit(principal, action, resource) when { 1 < 2 < 3 };",
        "permit(principal, action, resource) when { 9223372036854775808 };",
        "permit(principal, action, resource) when { [1].contains(1, 2) };",
        "permit(principal, action, resource) when { {a: 1, a: 2} };",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(cedar_policyset_parse(bad[i], strlen(bad[i]), "x.cedar", 0, &ps, &e),
                         ERR_INVALID);
        assert_non_null(strstr(e.msg, "x.cedar:1:"));
        assert_null(ps);
    }
    const char *t = "permit(principal, action, resource);\n\npermit(principal,\n  action) when {};";
    err_clear(&e);
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "agents.cedar", 0, &ps, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "agents.cedar:4:9: expected ','"));
    /* valid edge cases */
    const char *ok = "@id(\"a\") @x permit(principal, action in [], resource) when {\n"
                     "  -9223372036854775808 < 0 && \"\\u{1F600}\\0\\x41\" != \"\" && !!!!true };";
    err_clear(&e);
    assert_int_equal(
        cedar_policyset_parse(ok, strlen(ok), "ok.cedar", CEDAR_PARSE_ID_ANNOTATION, &ps, &e), 0);
    assert_string_equal(cedar_policyset_id(ps, 0), "a");
    cedar_policyset_put(ps);
}

static void test_templates(void **state)
{
    (void)state;
    const char *t = "permit(principal == ?principal, action, resource in ?resource);";
    struct cedar_policyset *ps;
    struct err e;
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "t.cedar", 0, &ps, &e), 0);
    struct cedar_uid p = uid("User", "alice"), r = uid("Doc", "doc1");
    assert_int_equal(cedar_policyset_link(ps, "policy0", "link0", &p, NULL, &e), ERR_INVALID);
    assert_int_equal(cedar_policyset_link(ps, "nope", "link0", &p, &r, &e), ERR_NOTFOUND);
    assert_int_equal(cedar_policyset_link(ps, "policy0", "link0", &p, &r, &e), 0);
    assert_int_equal(cedar_policyset_link(ps, "policy0", "link0", &p, &r, &e), ERR_CONFLICT);
    struct cedar_entities *es = store();
    struct arena a;
    arena_init(&a, 0, 0);
    struct cedar_response resp;
    struct cedar_request req = {uid("User", "alice"), uid("Action", "view"), uid("Doc", "doc1"),
                                cedar_value_empty_record()};
    assert_int_equal(cedar_authorize(ps, es, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_ALLOW);
    assert_string_equal(resp.reasons[0], "link0");
    req.principal = uid("User", "bob");
    assert_int_equal(cedar_authorize(ps, es, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_DENY);
    arena_free(&a);
    cedar_entities_free(es);
    struct cedar_policyset *ps2 = cedar_policyset_get(ps);
    cedar_policyset_put(ps);
    cedar_policyset_put(ps2);
}

static void test_entities(void **state)
{
    (void)state;
    struct cedar_entities *es = store();
    struct err e;
    struct cedar_uid bob = uid("User", "bob"), admins = uid("Group", "admins");
    assert_int_equal(cedar_entities_add(es, &bob, NULL, NULL, NULL, 0, false, &e), ERR_CONFLICT);
    assert_int_equal(cedar_entities_add(es, &bob, NULL, NULL, &admins, 1, true, &e), 0);
    assert_int_equal(cedar_entities_finish(es, &e), 0);
    struct cedar_uid staff = uid("Group", "staff");
    assert_true(cedar_entities_in(es, &bob, &staff));
    assert_true(cedar_entities_in(es, &staff, &staff));
    assert_false(cedar_entities_in(es, &staff, &bob));
    assert_int_equal(cedar_entities_count(es), 5);
    cedar_entities_free(es);
    cedar_entities_free(NULL);

    /* a chain of 1500 groups: closure once; closing it into a cycle is refused */
    assert_int_equal(cedar_entities_new(&es), 0);
    char id[32], pid[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(id, sizeof(id), "g%d", i);
        snprintf(pid, sizeof(pid), "g%d", i + 1);
        struct cedar_uid u = uid("G", id), pu = uid("G", pid);
        assert_int_equal(cedar_entities_add(es, &u, NULL, NULL, &pu, 1, false, &e), 0);
    }
    assert_int_equal(cedar_entities_finish(es, &e), 0);
    struct cedar_uid first = uid("G", "g0"), last = uid("G", "g1499"), other = uid("G", "x");
    struct cedar_uid top = uid("G", "g1500");
    assert_true(cedar_entities_in(es, &first, &last));
    assert_true(cedar_entities_in(es, &first, &top));
    assert_false(cedar_entities_in(es, &last, &first));
    assert_false(cedar_entities_in(es, &first, &other));
    assert_int_equal(cedar_entities_add(es, &top, NULL, NULL, &first, 1, false, &e), 0);
    assert_int_equal(cedar_entities_finish(es, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "cycle"));
    cedar_entities_free(es);
    /* a self-loop too */
    assert_int_equal(cedar_entities_new(&es), 0);
    assert_int_equal(cedar_entities_add(es, &other, NULL, NULL, &other, 1, false, &e), 0);
    assert_int_equal(cedar_entities_finish(es, &e), ERR_INVALID);
    cedar_entities_free(es);

    /* a chain of 3000 makes 4.5M ancestor links: over LIMIT_CEDAR_CLOSURE_TOTAL */
    assert_int_equal(cedar_entities_new(&es), 0);
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof(id), "g%d", i);
        snprintf(pid, sizeof(pid), "g%d", i + 1);
        struct cedar_uid u = uid("G", id), pu = uid("G", pid);
        assert_int_equal(cedar_entities_add(es, &u, NULL, NULL, &pu, 1, false, &e), 0);
    }
    assert_int_equal(cedar_entities_finish(es, &e), ERR_LIMIT);
    cedar_entities_free(es);

    /* one entity with more direct parents than LIMIT_CEDAR_ANCESTORS */
    assert_int_equal(cedar_entities_new(&es), 0);
    struct arena *a = cedar_entities_arena(es);
    size_t np = LIMIT_CEDAR_ANCESTORS + 1;
    struct cedar_uid *ps = calloc(np, sizeof(*ps));
    assert_non_null(ps);
    for (size_t i = 0; i < np; i++) {
        char *pid2 = arena_printf(a, "p%zu", i);
        assert_non_null(pid2);
        ps[i] = uid("G", pid2);
    }
    struct cedar_uid kid = uid("G", "kid");
    assert_int_equal(cedar_entities_add(es, &kid, NULL, NULL, ps, np, false, &e), 0);
    free(ps);
    assert_int_equal(cedar_entities_finish(es, &e), ERR_LIMIT);
    assert_non_null(strstr(e.msg, "ancestors"));
    cedar_entities_free(es);
}

static char *repeat_policy(const char *head, const char *unit, size_t n, const char *tail)
{
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++) {
        memcpy(s + hl + i * ul, unit, ul);
    }
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void test_limits(void **state)
{
    (void)state;
    struct cedar_policyset *ps = NULL;
    struct err e;
    /* nesting depth */
    char *deep = repeat_policy("permit(principal, action, resource) when { ", "(",
                               LIMIT_CEDAR_DEPTH + 10, "true");
    assert_int_equal(cedar_policyset_parse(deep, strlen(deep), "d", 0, &ps, &e), ERR_LIMIT);
    free(deep);
    deep = repeat_policy("permit(principal, action, resource) when { ", "[", LIMIT_CEDAR_DEPTH + 10,
                         "");
    assert_int_equal(cedar_policyset_parse(deep, strlen(deep), "d", 0, &ps, &e), ERR_LIMIT);
    free(deep);
    /* policy text size */
    size_t big = (size_t)LIMIT_CEDAR_POLICY_TEXT + 1;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, ' ', big);
    assert_int_equal(cedar_policyset_parse(text, big, "b", 0, &ps, &e), ERR_LIMIT);
    free(text);
    /* string length */
    char *str = repeat_policy("permit(principal, action, resource) when { \"", "a",
                              LIMIT_CEDAR_STRING_LEN + 1, "\" == \"\" };");
    assert_int_equal(cedar_policyset_parse(str, strlen(str), "s", 0, &ps, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "too long"));
    free(str);
    /* set size: the policy errors, the others still count */
    char *set =
        repeat_policy("permit(principal, action, resource) when { [", "1,", LIMIT_CEDAR_SET_MAX + 1,
                      "1].contains(1) };\n"
                      "permit(principal, action, resource);");
    char r[256], er[256];
    assert_int_equal(decide(set, "alice", "doc1", r, er), CEDAR_ALLOW);
    assert_string_equal(r, "policy1");
    assert_string_equal(er, "policy0");
    free(set);
    /* evaluation steps */
    char *steps = repeat_policy("permit(principal, action, resource) when { [", "[1,1,1,1,1],",
                                LIMIT_CEDAR_EVAL_STEPS / 5, "1] == [] };");
    assert_int_equal(decide(steps, "alice", "doc1", r, er), CEDAR_DENY);
    assert_string_equal(er, "policy0");
    free(steps);
    /* like: the O(n*m) worst case is charged to the step budget */
    size_t big_n = 200000;
    char *like = malloc(2 * big_n + 200);
    assert_non_null(like);
    size_t k = (size_t)snprintf(like, 100, "permit(principal, action, resource) when { \"");
    memset(like + k, 'a', big_n / 2);
    k += big_n / 2;
    k += (size_t)snprintf(like + k, 100, "\" like \"");
    like[k++] = '*';
    for (size_t i = 0; i < big_n / 4; i++) {
        like[k++] = 'a';
    }
    snprintf(like + k, 100, "b\" };");
    assert_int_equal(decide(like, "alice", "doc1", r, er), CEDAR_DENY);
    assert_string_equal(er, "policy0");
    free(like);
    /* set values built in C */
    struct arena a;
    arena_init(&a, 0, 0);
    struct cedar_value v;
    struct cedar_value *items = calloc(LIMIT_CEDAR_SET_MAX + 1, sizeof(*items));
    assert_non_null(items);
    assert_int_equal(cedar_value_set(&a, items, LIMIT_CEDAR_SET_MAX + 1, &v, &e), ERR_LIMIT);
    free(items);
    struct cedar_attr *attrs = calloc(LIMIT_CEDAR_RECORD_MAX + 1, sizeof(*attrs));
    assert_non_null(attrs);
    assert_int_equal(cedar_value_record(&a, attrs, LIMIT_CEDAR_RECORD_MAX + 1, &v, &e), ERR_LIMIT);
    free(attrs);
    arena_free(&a);
}

static void test_values(void **state)
{
    (void)state;
    struct arena a;
    struct err e;
    arena_init(&a, 0, 0);
    struct cedar_value items[4] = {cedar_value_long(3), cedar_value_long(1), cedar_value_long(3),
                                   cedar_value_bool(true)};
    struct cedar_value s1, s2;
    assert_int_equal(cedar_value_set(&a, items, 4, &s1, &e), 0);
    assert_int_equal(s1.u.set->n, 3);
    assert_int_equal(cedar_value_set(&a, items + 1, 3, &s2, &e), 0);
    assert_int_equal(cedar_value_cmp(&s1, &s2), 0);
    struct cedar_attr at[2] = {{{"k", 1}, cedar_value_long(1)}, {{"k", 1}, cedar_value_long(2)}};
    assert_int_equal(cedar_value_record(&a, at, 2, &s1, &e), ERR_CONFLICT);
    struct cedar_value l = cedar_value_long(1), d = cedar_value_decimal(10000);
    assert_int_not_equal(cedar_value_cmp(&l, &d), 0);
    arena_free(&a);
}

/* Annotations of the determining policies (Mandate's @escalate). */
static void test_annotations(void **state)
{
    (void)state;
    const char *t = "permit(principal, action, resource);\n"
                    "@escalate(\"owner\") @quiet forbid(principal == User::\"bob\", action, "
                    "resource);";
    struct cedar_policyset *ps;
    struct err e;
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "t", 0, &ps, &e), 0);
    struct cedar_entities *es = store();
    struct arena a;
    arena_init(&a, 0, 0);
    struct cedar_request req = {uid("User", "bob"), uid("Action", "view"), uid("Doc", "doc1"),
                                cedar_value_empty_record()};
    struct cedar_response resp;
    assert_int_equal(cedar_authorize(ps, es, &req, &a, &resp, &e), 0);
    assert_int_equal(resp.decision, CEDAR_DENY);
    assert_int_equal(resp.nreasons, 1);
    assert_int_equal(resp.reason_index[0], 1);
    assert_true(cedar_policyset_is_forbid(ps, resp.reason_index[0]));
    struct cedar_str v;
    assert_int_equal(cedar_policyset_annotation(ps, resp.reason_index[0], "escalate", &v), 0);
    assert_int_equal(v.len, 5);
    assert_memory_equal(v.ptr, "owner", 5);
    assert_int_equal(cedar_policyset_annotation(ps, 1, "quiet", &v), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(cedar_policyset_annotation(ps, 0, "escalate", &v), ERR_NOTFOUND);
    assert_int_equal(cedar_policyset_annotation(ps, 9, "escalate", &v), ERR_NOTFOUND);
    arena_free(&a);
    cedar_entities_free(es);
    cedar_policyset_put(ps);
}

/* Long && / || / + chains are flat: no nesting limit, as the reference. */
static void test_long_chains(void **state)
{
    (void)state;
    char r[256], e[256];
    char *t = repeat_policy("permit(principal, action, resource) when { ",
                            "principal == User::\"nobody\" || ", 2000, "principal.age == 42 };");
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    free(t);
    t = repeat_policy("permit(principal, action, resource) when { 0", " + 1 - 1 + 1", 2000,
                      " == 2000 && true && true };");
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    free(t);
    t = repeat_policy("permit(principal, action, resource) when { 2", " * 2", 61,
                      " > 0 };\npermit(principal, action, resource) when { 2 * 2 * 2 * "
                      "4611686018427387904 > 0 };");
    assert_int_equal(decide(t, "alice", "doc1", r, e), CEDAR_ALLOW);
    assert_string_equal(e, "policy1");
    free(t);
    /* a member chain nests: it counts against the depth limit */
    t = repeat_policy("permit(principal, action, resource) when { context", ".a",
                      LIMIT_CEDAR_DEPTH + 1, " };");
    struct cedar_policyset *ps = NULL;
    struct err er;
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "m", 0, &ps, &er), ERR_LIMIT);
    free(t);
}

/* One shared snapshot and store, four threads deciding at once: no locks,
 * same answers. */
struct shared {
    struct cedar_policyset *ps;
    struct cedar_entities *es;
    int allows;
};

static void *worker(void *arg)
{
    struct shared *sh = arg;
    struct arena a;
    struct err e;
    arena_init(&a, 0, 0);
    sh->allows = 0;
    for (int i = 0; i < 20000; i++) {
        struct cedar_request req = {uid("User", i % 2 ? "alice" : "bob"), uid("Action", "view"),
                                    uid("Doc", "doc1"), cedar_value_empty_record()};
        struct cedar_response resp;
        if (cedar_authorize(sh->ps, sh->es, &req, &a, &resp, &e) == 0 &&
            resp.decision == CEDAR_ALLOW) {
            sh->allows++;
        }
        arena_free(&a);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *t = "permit(principal in Group::\"admins\", action, resource)\n"
                    "when { resource.owner == principal && [1,2,3].contains(principal.age - 41) };";
    struct cedar_policyset *ps;
    struct err e;
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "t", 0, &ps, &e), 0);
    struct shared sh[4];
    pthread_t th[4];
    struct cedar_entities *es = store();
    for (int i = 0; i < 4; i++) {
        sh[i].ps = cedar_policyset_get(ps);
        sh[i].es = es;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &sh[i]), 0);
    }
    cedar_policyset_put(ps); /* the workers hold their own references */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(sh[i].allows, 10000);
        cedar_policyset_put(sh[i].ps);
    }
    cedar_entities_free(es);
}

/* Out of memory in the request arena, at every size: an error, never a crash
 * or a wrong allow. */
static void test_alloc_failure(void **state)
{
    (void)state;
    const char *t = "permit(principal, action, resource) when { [principal, resource].contains("
                    "principal) && {a: [1, 2], b: \"x\"}.a.contains(2) };\n"
                    "permit(principal, action, resource) when { principal.nope };";
    struct cedar_policyset *ps;
    struct err e;
    assert_int_equal(cedar_policyset_parse(t, strlen(t), "t", 0, &ps, &e), 0);
    struct cedar_entities *es = store();
    struct cedar_request req = {uid("User", "alice"), uid("Action", "view"), uid("Doc", "doc1"),
                                cedar_value_empty_record()};
    int ok = 0;
    for (size_t cap = 1; cap < 4096; cap += 8) {
        struct arena a;
        struct cedar_response resp;
        arena_init(&a, 64, cap);
        int r = cedar_authorize(ps, es, &req, &a, &resp, &e);
        if (r == 0) {
            ok++;
            assert_int_equal(resp.decision, CEDAR_ALLOW);
            assert_int_equal(resp.nerrors, 1);
        } else {
            assert_int_equal(r, ERR_NOMEM);
        }
        arena_free(&a);
    }
    assert_true(ok > 0);
    cedar_entities_free(es);
    cedar_policyset_put(ps);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forbid_overrides),
        cmocka_unit_test(test_hierarchy_and_attrs),
        cmocka_unit_test(test_errors_skip_policy),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_entities),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_long_chains),
        cmocka_unit_test(test_annotations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
