/* test_broker.c: the registry, declaratively (data/registry_cases.json,
 * data/access_cases.json: one test per case, each change checked for its audit
 * record and each refusal for leaving none), and
 * API key authentication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/broker.h"

struct fx {
    char dir[64];
    struct store *s;
    struct broker b;
    struct arena a;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_sqlite_options o = {200, 1};
    struct store_human olga = {"olga", "o@corp.example", NULL, "offboarded", 1};
    char path[96];
    struct err e;
    json_t *out;

    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-broker-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/m.db", f->dir);
    assert_int_equal(store_sqlite_open(path, &o, &f->s, &e), 0);
    f->b.store = f->s;
    arena_init(&f->a, 0, 0);
    json_t *alice = json_pack("{s:s, s:s}", "id", "alice", "email", "alice@corp.example");
    assert_int_equal(broker_human_create(&f->b, NULL, alice, &f->a, &out, &e), 0);
    json_decref(alice);
    json_decref(out);
    assert_int_equal(f->s->ops->human_insert(f->s, &olga, &e), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    store_close(f->s);
    arena_free(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static const char *data_path(const char *name)
{
    static char p[512];
    const char *d = getenv("MANDATE_TEST_DATA");

    snprintf(p, sizeof(p), "%s/%s", d ? d : "tests/unit/data", name);
    return p;
}

static int64_t audit_count(struct fx *f)
{
    struct store_audit *v;
    size_t n = 0;
    struct err e;

    assert_int_equal(f->s->ops->audit_list(f->s, 0, 1000, &f->a, &v, &n, &e), 0);
    return (int64_t)n;
}

/* "admin", "security", "auditor", "owner:<human>", "owner" (no subject),
 * "system" (NULL). */
static const struct broker_caller *caller_for(const char *name, struct broker_caller *c)
{
    memset(c, 0, sizeof(*c));
    c->key_id = "testkey";
    c->request_id = "req-1";
    if (name == NULL || strcmp(name, "admin") == 0) {
        c->role = ROLE_ADMIN;
    } else if (strcmp(name, "system") == 0) {
        return NULL;
    } else if (strncmp(name, "owner", 5) == 0) {
        c->role = ROLE_OWNER;
        c->subject = name[5] == ':' ? name + 6 : NULL;
    } else {
        c->role = broker_role_parse(name);
    }
    return c;
}

static int run_op(struct fx *f, json_t *tc, json_t *body, json_t **out, struct err *e)
{
    const char *op = json_string_value(json_object_get(tc, "op"));
    const char *kind = json_string_value(json_object_get(tc, "kind"));
    const char *id = json_string_value(json_object_get(tc, "id"));
    const char *id2 = json_string_value(json_object_get(tc, "id2"));
    static const char *const kinds[] = {"human", "team", "agent", "issuer", "tool", "intent"};
    static const broker_create_fn creates[] = {broker_human_create, broker_team_create,
                                               broker_agent_create, broker_issuer_create,
                                               broker_tool_create,  broker_intent_create};
    struct broker_caller cb;
    const struct broker_caller *c =
        caller_for(json_string_value(json_object_get(tc, "caller")), &cb);
    size_t k;

    for (k = 0; kind && k < 6 && strcmp(kinds[k], kind) != 0; k++) {
    }
    if (op == NULL || strcmp(op, "create") == 0) {
        assert_true(k < 6);
        return creates[k](&f->b, c, body, &f->a, out, e);
    }
    if (strcmp(op, "get") == 0) {
        return broker_get(&f->b, c, (enum broker_kind)k, id, &f->a, out, e);
    }
    if (strcmp(op, "list") == 0) {
        return broker_list(&f->b, c, (enum broker_kind)k, NULL, 100, &f->a, out, e);
    }
    if (strcmp(op, "delete") == 0) {
        return broker_delete(&f->b, c, (enum broker_kind)k, id, e);
    }
    if (strcmp(op, "update") == 0) {
        return broker_intent_update(&f->b, c, id, body, &f->a, out, e);
    }
    if (strcmp(op, "agent_update") == 0) {
        return broker_agent_update(&f->b, c, id, body, &f->a, out, e);
    }
    if (strcmp(op, "status") == 0) {
        return broker_agent_set_status(&f->b, c, id, body, &f->a, out, e);
    }
    if (strcmp(op, "offboard") == 0) {
        return broker_human_offboard(&f->b, c, id, body, &f->a, out, e);
    }
    if (strcmp(op, "ent_add") == 0) {
        return broker_entitlement_add(&f->b, c, id, body, &f->a, out, e);
    }
    if (strcmp(op, "ent_remove") == 0) {
        return broker_entitlement_remove(&f->b, c, id, id2, e);
    }
    if (strcmp(op, "ent_list") == 0) {
        return broker_entitlement_list(&f->b, c, id, &f->a, out, e);
    }
    if (strcmp(op, "policy") == 0) {
        return broker_policy_create(&f->b, c, body, &f->a, out, e);
    }
    if (strcmp(op, "activate") == 0) {
        return broker_policy_activate(&f->b, c, strtoll(id, NULL, 10), &f->a, out, e);
    }
    if (strcmp(op, "policy_get") == 0) {
        return broker_policy_get(&f->b, id ? strtoll(id, NULL, 10) : 0, &f->a, out, e);
    }
    fail_msg("unknown op %s", op);
    return ERR_INTERNAL;
}

/* Members of want must equal those of got; "#n" checks an array's length. */
static void expect_members(const char *name, json_t *want, json_t *got)
{
    const char *k;
    json_t *v;

    json_object_foreach(want, k, v)
    {
        json_t *g = json_object_get(got, k[0] == '#' ? k + 1 : k);
        if (k[0] == '#') {
            if (json_array_size(g) != (size_t)json_integer_value(v)) {
                fail_msg("%s: %s has %zu items, expected %lld", name, k + 1, json_array_size(g),
                         (long long)json_integer_value(v));
            }
        } else if (g == NULL || !json_equal(g, v)) {
            char *gs = got ? json_dumps(got, JSON_COMPACT) : NULL;
            fail_msg("%s: member %s differs: %s", name, k, gs ? gs : "(none)");
        }
    }
}

static void run_case(struct fx *f, json_t *c)
{
    const char *name = json_string_value(json_object_get(c, "name"));
    const char *op = json_string_value(json_object_get(c, "op"));
    json_t *body = json_deep_copy(json_object_get(c, "body")), *want = json_object_get(c, "code");
    const char *field = json_string_value(json_object_get(c, "field"));
    json_t *out = NULL, *id = json_object_get(body, "id");
    int reads = op && (strstr(op, "get") || strstr(op, "list"));
    int64_t before = audit_count(f), after;
    char longid[130];
    struct err e;
    int r;

    memset(longid, 'x', 129);
    longid[129] = '\0';
    if (id && json_is_string(id) && strcmp(json_string_value(id), "LONG129") == 0) {
        json_object_set_new(body, "id", json_string(longid));
    }
    err_clear(&e);
    r = run_op(f, c, body, &out, &e);
    after = audit_count(f);
    if (json_is_integer(want)) {
        if (r != 0) {
            fail_msg("%s: expected success, got %s: %s", name, err_name(r), e.msg);
        }
        if (!reads && after <= before) {
            fail_msg("%s: a change without an audit record", name);
        }
        expect_members(name, json_object_get(c, "expect"), out);
    } else {
        if (strcmp(err_name(r), json_string_value(want)) != 0) {
            fail_msg("%s: expected %s, got %s: %s", name, json_string_value(want), err_name(r),
                     e.msg);
        }
        assert_null(out);
        if (after != before) {
            fail_msg("%s: a refused change left %lld audit records", name,
                     (long long)(after - before));
        }
        if (field != NULL && strncmp(e.msg, field, strlen(field)) != 0) {
            fail_msg("%s: message should start with field %s: %s", name, field, e.msg);
        }
    }
    if (reads && after != before) {
        fail_msg("%s: a read wrote the audit trail", name);
    }
    json_decref(out);
    json_decref(body);
}

/* The data files run as one cmocka test per case, in file order, against
 * one fixture per file (later cases see earlier ones' effects). */
static struct fx *group_fx;

static int group_setup(void **state)
{
    void *f = NULL;
    int r = setup(&f);

    group_fx = f;
    *state = NULL; /* each test's state is its case */
    return r;
}

static int group_teardown(void **state)
{
    void *f = group_fx;

    (void)state;
    group_fx = NULL;
    return teardown(&f);
}

static void data_case(void **state)
{
    run_case(group_fx, *state);
}

static int run_file(const char *group, const char *file)
{
    json_error_t je;
    json_t *cases = json_load_file(data_path(file), JSON_REJECT_DUPLICATES, &je), *c;
    struct CMUnitTest *tests;
    size_t i, n;
    int r;

    if (!json_is_array(cases)) {
        fprintf(stderr, "%s:%d: %s\n", file, je.line, je.text);
        return 1;
    }
    n = json_array_size(cases);
    tests = calloc(n, sizeof(*tests));
    json_array_foreach(cases, i, c)
    {
        tests[i].name = json_string_value(json_object_get(c, "name"));
        tests[i].test_func = data_case;
        tests[i].initial_state = c;
    }
    r = _cmocka_run_group_tests(group, tests, n, group_setup, group_teardown);
    free(tests);
    json_decref(cases);
    return r;
}

static void apikeys(void **state)
{
    struct fx *f = *state;
    struct broker_caller c;
    struct err e;
    char *key = NULL, bad[128];
    const char *id;
    size_t n;
    int64_t before = audit_count(f);

    assert_int_equal(
        broker_apikey_create(&f->b, NULL, "ops", ROLE_AUDITOR, "alice", &f->a, &key, &id, &e), 0);
    assert_int_equal(audit_count(f), before + 1); /* audited, once */
    n = strlen(key);
    assert_int_equal(broker_auth_apikey(&f->b, key, n, &f->a, &c, &e), 0);
    assert_int_equal(c.role, ROLE_AUDITOR);
    assert_string_equal(c.subject, "alice");
    assert_string_equal(c.key_id, id);
    /* one flipped secret character */
    memcpy(bad, key, n + 1);
    bad[n - 1] = bad[n - 1] == 'a' ? 'b' : 'a';
    assert_int_equal(broker_auth_apikey(&f->b, bad, n, &f->a, &c, &e), ERR_AUTH);
    assert_non_null(strstr(e.msg, "wrong secret"));
    /* unknown id */
    bad[4] = bad[4] == 'a' ? 'b' : 'a';
    assert_int_equal(broker_auth_apikey(&f->b, bad, n, &f->a, &c, &e), ERR_AUTH);
    /* malformed: short, wrong prefix, upper-case hex, trailing bytes */
    assert_int_equal(broker_auth_apikey(&f->b, key, n - 1, &f->a, &c, &e), ERR_AUTH);
    memcpy(bad, key, n + 1);
    bad[0] = 'x';
    assert_int_equal(broker_auth_apikey(&f->b, bad, n, &f->a, &c, &e), ERR_AUTH);
    memcpy(bad, key, n + 1);
    bad[10] = 'A';
    assert_int_equal(broker_auth_apikey(&f->b, bad, n, &f->a, &c, &e), ERR_AUTH);
    assert_int_equal(broker_auth_apikey(&f->b, "", 0, &f->a, &c, &e), ERR_AUTH);
    free(key);
    /* a key acting for an offboarded human no longer authenticates */
    assert_int_equal(
        broker_apikey_create(&f->b, NULL, "old", ROLE_OWNER, "olga", &f->a, &key, &id, &e), 0);
    assert_int_equal(broker_auth_apikey(&f->b, key, strlen(key), &f->a, &c, &e), ERR_AUTH);
    assert_non_null(strstr(e.msg, "offboarded"));
    free(key);
    assert_int_equal(
        broker_apikey_create(&f->b, NULL, "x", ROLE_NONE, NULL, &f->a, &key, &id, &e) == 0, 0);
    /* an owner key for a missing human: refused, nothing stored or audited */
    before = audit_count(f);
    assert_int_equal(
        broker_apikey_create(&f->b, NULL, "y", ROLE_OWNER, "ghost", &f->a, &key, &id, &e),
        ERR_CONFLICT);
    assert_int_equal(audit_count(f), before);
    free(key);
}

static void roles(void **state)
{
    (void)state;
    assert_int_equal(broker_role_parse("admin"), ROLE_ADMIN);
    assert_int_equal(broker_role_parse("pep"), ROLE_PEP);
    assert_int_equal(broker_role_parse("root"), ROLE_NONE);
    assert_string_equal(broker_role_name(ROLE_AUDITOR), "auditor");
}

static void list_pages(void **state)
{
    struct fx *f = *state;
    struct err e;
    json_t *page;

    assert_int_equal(broker_list(&f->b, NULL, BROKER_HUMAN, NULL, 1, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(page, "next")), "alice");
    json_decref(page);
    assert_int_equal(broker_list(&f->b, NULL, BROKER_HUMAN, "alice", 1, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    json_decref(page);
    assert_int_equal(broker_list(&f->b, NULL, BROKER_HUMAN, "olga", 10, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(apikeys, setup, teardown),
        cmocka_unit_test(roles),
        cmocka_unit_test_setup_teardown(list_pages, setup, teardown),
    };
    int r = cmocka_run_group_tests_name("broker", tests, NULL, NULL);

    r += run_file("registry_cases", "registry_cases.json");
    r += run_file("access_cases", "access_cases.json");
    return r;
}
