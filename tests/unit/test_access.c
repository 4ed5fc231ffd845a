/* test_access.c: the access path's runtime (A1): KEK file, keyring persisted
 * in the store and refused under another KEK, task token sign/verify,
 * the policy snapshot and broker_decide (fail closed on errors, rebuilt on a
 * registry change), and the token exchange's request checks (table-driven;
 * the full chain runs end to end in tests/node/access-e2e.mjs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "broker/broker.h"
#include "broker/broker_int.h"
#include "util/clock.h"

#define KEK1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define KEK2 "HxAREhMUFRYXGBkaGxwdHgABAgMEBQYHCAkKCwwNDg8"
#define ISS "http://127.0.0.1:8080"

struct fx {
    char dir[64];
    char db[96];
    struct store *s;
    struct broker b;
    struct arena a;
};

static int open_store(struct fx *f)
{
    struct store_sqlite_options o = {200, 1};
    struct err e;

    return store_sqlite_open(f->db, &o, &f->s, &e);
}

static int start(struct fx *f, int errors_allow)
{
    struct broker_runtime_config c;
    struct err e;

    memset(&c, 0, sizeof(c));
    c.issuer = ISS;
    c.kek_env = "TEST_ACCESS_KEK";
    c.policy_errors_allow = errors_allow;
    err_clear(&e);
    return broker_runtime_start(&f->b, &c, &e);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-access-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/m.db", f->dir);
    assert_int_equal(open_store(f), 0);
    f->b.store = f->s;
    arena_init(&f->a, 0, 0);
    setenv("TEST_ACCESS_KEK", KEK1, 1);
    assert_int_equal(start(f, 0), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    broker_runtime_stop(&f->b);
    store_close(f->s);
    arena_free(&f->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- keys -------------------------------------------------------------------------- */

static void kek_file_made_once_0600(void **state)
{
    struct fx *f = *state;
    char path[128];
    struct stat st;
    struct err e;
    int created = 0;

    snprintf(path, sizeof(path), "%s/kek", f->dir);
    assert_int_equal(broker_kek_file_ensure(path, &created, &e), 0);
    assert_int_equal(created, 1);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(st.st_size >= 43);
    assert_int_equal(broker_kek_file_ensure(path, &created, &e), 0);
    assert_int_equal(created, 0);
}

static char *first_kid(struct broker *b)
{
    char *text = NULL;
    struct err e;
    json_t *j;
    char *kid;

    assert_int_equal(broker_jwks_text(b, &text, &e), 0);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "d"));
    kid = strdup(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "kid")));
    json_decref(j);
    free(text);
    return kid;
}

static void keyring_persists_and_needs_its_kek(void **state)
{
    struct fx *f = *state;
    char *k1 = first_kid(&f->b), *k2;

    broker_runtime_stop(&f->b);
    assert_null(f->b.rt);
    assert_int_equal(start(f, 0), 0);
    k2 = first_kid(&f->b);
    assert_string_equal(k1, k2); /* loaded from the store, not made anew */
    broker_runtime_stop(&f->b);
    setenv("TEST_ACCESS_KEK", KEK2, 1);
    assert_int_equal(start(f, 0), ERR_AUTH); /* another KEK does not open the keys */
    assert_null(f->b.rt);
    unsetenv("TEST_ACCESS_KEK");
    assert_int_not_equal(start(f, 0), 0); /* no KEK at all */
    setenv("TEST_ACCESS_KEK", KEK1, 1);
    assert_int_equal(start(f, 0), 0);
    free(k1);
    free(k2);
}

static void token_sign_verify(void **state)
{
    struct fx *f = *state;
    int64_t now = clock_wall_s();
    json_t *c =
        json_pack("{s:s,s:s,s:[s],s:I,s:I,s:s}", "iss", ISS, "sub", "spiffe://x/y", "aud",
                  "mandate", "iat", (json_int_t)now, "exp", (json_int_t)(now + 60), "jti", "j1");
    json_t *bad = json_deep_copy(c), *out = NULL;
    enum jose_reason why;
    char *tok = NULL, *tok2 = NULL;
    struct err e;

    assert_int_equal(broker_token_sign(&f->b, c, &tok, &e), 0);
    assert_int_equal(broker_token_verify(&f->b, tok, strlen(tok), &out, &why, &e), 0);
    assert_string_equal(json_string_value(json_object_get(out, "jti")), "j1");
    json_decref(out);
    out = NULL;
    tok[strlen(tok) - 3] ^= 1; /* flip a bit of the signature */
    assert_int_equal(broker_token_verify(&f->b, tok, strlen(tok), &out, &why, &e), ERR_AUTH);
    json_object_set_new(bad, "iss", json_string("http://evil.example"));
    assert_int_equal(broker_token_sign(&f->b, bad, &tok2, &e), 0);
    assert_int_equal(broker_token_verify(&f->b, tok2, strlen(tok2), &out, &why, &e), ERR_AUTH);
    assert_int_equal(why, JOSE_R_ISS);
    json_decref(c);
    json_decref(bad);
    free(tok);
    free(tok2);
}

/* ---- decide ---------------------------------------------------------------------------- */

static void add(struct fx *f,
                int (*fn)(struct broker *, const struct broker_caller *, json_t *, struct arena *,
                          json_t **, struct err *),
                json_t *in)
{
    json_t *out = NULL;
    struct err e;

    err_clear(&e);
    assert_non_null(in);
    if (fn(&f->b, NULL, in, &f->a, &out, &e) != 0) {
        fail_msg("create: %s", e.msg);
    }
    json_decref(in);
    json_decref(out);
}

static void policy(struct fx *f, const char *cedar)
{
    add(f, broker_policy_create,
        json_pack("{s:s,s:s,s:b}", "cedar", cedar, "schema", "", "activate", 1));
}

static int decide(struct fx *f, const char *agent, json_t *ctx, struct broker_decision *d)
{
    struct broker_policy_snapshot *snap = broker_policy_acquire(&f->b);
    struct err e;
    int r;

    err_clear(&e);
    r = broker_decide(&f->b, snap, BROKER_CEDAR_AGENT, agent, "StartTask", BROKER_CEDAR_INTENT,
                      "refunds", ctx, &f->a, d, &e);
    broker_policy_release(snap);
    json_decref(ctx);
    return r;
}

static void registry(struct fx *f)
{
    add(f, broker_human_create, json_pack("{s:s,s:s}", "id", "alice", "email", "a@corp.example"));
    add(f, broker_agent_create,
        json_pack("{s:s,s:s,s:s,s:s,s:i}", "id", "spiffe://corp.example/a/bot", "owner", "alice",
                  "purpose", "refunds", "environment", "production", "risk_tier", 2));
}

static void decide_no_policy_denies(void **state)
{
    struct fx *f = *state;
    struct broker_decision d;

    assert_int_equal(decide(f, "x", NULL, &d), 0);
    assert_false(d.allow);
    assert_int_equal(d.policy_version, 0);
    assert_string_equal(d.reasons[0], "no_active_policy");
}

static void decide_uses_resident_entities_and_ids(void **state)
{
    struct fx *f = *state;
    struct broker_decision d;
    json_t *r;

    registry(f);
    policy(f, "@id(\"low-risk\") permit (principal, action, resource) when "
              "{ principal.risk < 3 && principal.owner == Mandate::Human::\"alice\" && "
              "context.env == \"production\" };\n"
              "@id(\"no-ml\") forbid (principal, action, resource) when "
              "{ context.labels.contains(\"ml\") };");
    assert_int_equal(decide(f, "spiffe://corp.example/a/bot",
                            json_pack("{s:s,s:[s]}", "env", "production", "labels", "x"), &d),
                     0);
    assert_true(d.allow);
    assert_int_equal(d.policy_version, 1);
    assert_int_equal(d.nreasons, 1);
    assert_string_equal(d.reasons[0], "low-risk");
    assert_int_equal(decide(f, "spiffe://corp.example/a/bot",
                            json_pack("{s:s,s:[s]}", "env", "production", "labels", "ml"), &d),
                     0);
    assert_false(d.allow);
    assert_string_equal(d.reasons[0], "no-ml");
    r = broker_decision_reasons_json(&d);
    assert_string_equal(json_string_value(json_array_get(r, 0)), "no-ml");
    json_decref(r);
    /* A registry change reaches the resident entities: risk 2 -> unknown agent */
    assert_int_equal(decide(f, "spiffe://corp.example/a/other",
                            json_pack("{s:s,s:[s]}", "env", "production", "labels", "x"), &d),
                     0);
    assert_false(d.allow);
    assert_true(d.errored); /* principal.risk of an entity that does not exist */
}

static void decide_errors_fail_closed(void **state)
{
    struct fx *f = *state;
    struct broker_decision d;

    registry(f);
    policy(f, "@id(\"p\") permit (principal, action, resource);\n"
              "@id(\"broken\") forbid (principal, action, resource) when { context.nope == 1 };");
    assert_int_equal(decide(f, "spiffe://corp.example/a/bot", NULL, &d), 0);
    assert_false(d.allow); /* plain Cedar would allow: the erroring forbid is skipped */
    assert_true(d.errored);
    assert_string_equal(d.reasons[d.nreasons - 1], "policy_error:broken");
    broker_runtime_stop(&f->b);
    assert_int_equal(start(f, 1), 0); /* --policy-errors ignore */
    assert_int_equal(decide(f, "spiffe://corp.example/a/bot", NULL, &d), 0);
    assert_true(d.allow);
}

static void bad_version_keeps_old_snapshot(void **state)
{
    struct fx *f = *state;
    struct broker_policy_snapshot *s1, *s2;
    json_t *in = json_pack("{s:s,s:s,s:b}", "cedar",
                           "permit (principal, action, resource) when "
                           "{ 1 + };",
                           "schema", "", "activate", 1),
           *out = NULL;
    struct err e;

    policy(f, "permit (principal, action, resource);");
    s1 = broker_policy_acquire(&f->b);
    assert_int_equal(broker_policy_create(&f->b, NULL, in, &f->a, &out, &e), ERR_INVALID);
    s2 = broker_policy_acquire(&f->b);
    assert_int_equal(s2->version, s1->version);
    broker_policy_release(s1);
    broker_policy_release(s2);
    json_decref(in);
}

/* ---- exchange: request checks, table-driven ---------------------------------------------- */

#define GT "urn:ietf:params:oauth:grant-type:token-exchange"
#define JWT "urn:ietf:params:oauth:token-type:jwt"

#define RQ(gt, st, stt, at, att, ad)                                                               \
    {                                                                                              \
        .grant_type = gt, .subject_token = st, .subject_token_type = stt, .actor_token = at,       \
        .actor_token_type = att, .authorization_details = ad                                       \
    }

static const struct {
    const char *name;
    struct broker_exchange_req rq;
    unsigned status;
    const char *error;
    const char *reason;
} xcases[] = {
    {"no grant_type", RQ(NULL, NULL, NULL, NULL, NULL, NULL), 400, "invalid_request",
     "missing_parameter"},
    {"other grant", RQ("password", NULL, NULL, NULL, NULL, NULL), 400, "unsupported_grant_type",
     "unsupported_grant_type"},
    {"no subject", RQ(GT, NULL, NULL, NULL, NULL, NULL), 400, "invalid_request",
     "missing_parameter"},
    {"bad token type", RQ(GT, "t", "urn:x", NULL, NULL, NULL), 400, "invalid_request",
     "unsupported_token_type"},
    {"actor type alone", RQ(GT, "t", JWT, NULL, JWT, NULL), 400, "invalid_request",
     "missing_parameter"},
    {"no details", RQ(GT, "t", JWT, NULL, NULL, NULL), 400, "invalid_request", "missing_parameter"},
    {"details not JSON", RQ(GT, "t", JWT, NULL, NULL, "[{"), 400, "invalid_authorization_details",
     "malformed_details"},
    {"details type", RQ(GT, "t", JWT, NULL, NULL, "[{\"type\":\"x\"}]"), 400,
     "invalid_authorization_details", "unknown_details_type"},
    {"details no intent", RQ(GT, "t", JWT, NULL, NULL, "[{\"type\":\"mandate_task\"}]"), 400,
     "invalid_authorization_details", "malformed_details"},
    {"details bad ttl",
     RQ(GT, "t", JWT, NULL, NULL, "[{\"type\":\"mandate_task\",\"intent\":\"i\",\"ttl\":0}]"), 400,
     "invalid_authorization_details", "malformed_details"},
    {"garbage credential",
     RQ(GT, "t.t.t", JWT, NULL, NULL, "[{\"type\":\"mandate_task\",\"intent\":\"i\"}]"), 400,
     "invalid_grant", "invalid_credential"},
};

static void exchange_request_checks(void **state)
{
    struct fx *f = *state;
    size_t i;

    for (i = 0; i < sizeof(xcases) / sizeof(xcases[0]); i++) {
        struct broker_exchange_result res;
        struct err e;
        int r;

        err_clear(&e);
        r = broker_exchange(&f->b, &xcases[i].rq, &f->a, &res, &e);
        if (r == 0 || res.http_status != xcases[i].status ||
            strcmp(res.error, xcases[i].error) != 0 ||
            strcmp(json_string_value(json_array_get(res.reasons, 0)), xcases[i].reason) != 0) {
            fail_msg("%s: r=%d status=%u error=%s", xcases[i].name, r, res.http_status,
                     res.error ? res.error : "(none)");
        }
        assert_true(res.audit_seq > 0); /* every exchange leaves its record */
        assert_null(res.access_token);
        broker_exchange_result_clear(&res);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kek_file_made_once_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(keyring_persists_and_needs_its_kek, setup, teardown),
        cmocka_unit_test_setup_teardown(token_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(decide_no_policy_denies, setup, teardown),
        cmocka_unit_test_setup_teardown(decide_uses_resident_entities_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(decide_errors_fail_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_version_keeps_old_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(exchange_request_checks, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
