/* test_broker.c: registry validation (cases in data/registry_cases.json) and
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
    assert_int_equal(broker_human_create(&f->b, alice, &f->a, &out, &e), 0);
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

static void registry_cases(void **state)
{
    struct fx *f = *state;
    json_error_t je;
    json_t *cases = json_load_file(data_path("registry_cases.json"), 0, &je), *c;
    size_t i;
    char longid[130];

    memset(longid, 'x', 129);
    longid[129] = '\0';
    assert_non_null(cases);
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        json_t *body = json_deep_copy(json_object_get(c, "body")),
               *want = json_object_get(c, "code");
        const char *field = json_string_value(json_object_get(c, "field"));
        json_t *out = NULL, *id = json_object_get(body, "id");
        struct err e;
        int r;

        if (id && json_is_string(id) && strcmp(json_string_value(id), "LONG129") == 0) {
            json_object_set_new(body, "id", json_string(longid));
        }
        err_clear(&e);
        if (strcmp(kind, "human") == 0) {
            r = broker_human_create(&f->b, body, &f->a, &out, &e);
        } else if (strcmp(kind, "team") == 0) {
            r = broker_team_create(&f->b, body, &f->a, &out, &e);
        } else {
            r = broker_agent_create(&f->b, body, &f->a, &out, &e);
        }
        if (json_is_integer(want)) {
            if (r != 0) {
                fail_msg("%s: expected success, got %s: %s", name, err_name(r), e.msg);
            }
            assert_non_null(out);
        } else {
            if (strcmp(err_name(r), json_string_value(want)) != 0) {
                fail_msg("%s: expected %s, got %s: %s", name, json_string_value(want), err_name(r),
                         e.msg);
            }
            assert_null(out);
            if (field != NULL && strncmp(e.msg, field, strlen(field)) != 0) {
                fail_msg("%s: message should start with field %s: %s", name, field, e.msg);
            }
        }
        json_decref(out);
        json_decref(body);
    }
    json_decref(cases);
}

static void apikeys(void **state)
{
    struct fx *f = *state;
    struct broker_caller c;
    struct err e;
    char *key = NULL, bad[128];
    const char *id;
    size_t n;

    assert_int_equal(
        broker_apikey_create(&f->b, "ops", ROLE_AUDITOR, "alice", &f->a, &key, &id, &e), 0);
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
    assert_int_equal(broker_apikey_create(&f->b, "x", ROLE_NONE, NULL, &f->a, &key, &id, &e) == 0,
                     0);
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

    assert_int_equal(broker_list(&f->b, BROKER_HUMAN, NULL, 1, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    assert_string_equal(json_string_value(json_object_get(page, "next")), "alice");
    json_decref(page);
    assert_int_equal(broker_list(&f->b, BROKER_HUMAN, "alice", 1, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 1);
    json_decref(page);
    assert_int_equal(broker_list(&f->b, BROKER_HUMAN, "olga", 10, &f->a, &page, &e), 0);
    assert_int_equal(json_array_size(json_object_get(page, "items")), 0);
    assert_true(json_is_null(json_object_get(page, "next")));
    json_decref(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registry_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(apikeys, setup, teardown),
        cmocka_unit_test(roles),
        cmocka_unit_test_setup_teardown(list_pages, setup, teardown),
    };
    return cmocka_run_group_tests_name("broker", tests, NULL, NULL);
}
