/* test_keyring.c: the signing keys' schedule on a clock the test moves.
 *
 * jose: the keyring's rotation schedule (a table of times: when the
 * successor is made, published ahead as pending, becomes current, and when
 * the replaced key leaves the JWKS; a late start), rotation at a given time,
 * emergency revocation (of the current, a previous, a pending key), the
 * configuration checks, a pending key kept pending across an envelope
 * round trip, and concurrent signers during rotations and revocations.
 * broker (keys.c): the same schedule against a real SQLite store: envelopes
 * persisted when a key is made and deleted when it retires, task tokens of
 * the old key verifying until then, a key revoked by another replica (its
 * envelope gone) dropped at the next tick, a key made by another replica
 * loaded, an envelope under another KEK kept but not loaded, the state
 * surviving a restart, and requests signing and verifying in threads while
 * the keys rotate. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/broker.h"
#include "broker/broker_int.h"
#include "jose/jose.h"
#include "util/clock.h"
#include "util/limits.h"

#define KEK1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define KEK2 "HxAREhMUFRYXGBkaGxwdHgABAgMEBQYHCAkKCwwNDg8"
#define ISS "http://127.0.0.1:8080"
#define T0 1800000000LL

static _Atomic int64_t now_s = T0;

static int64_t fake_ms(void)
{
    return atomic_load(&now_s) * 1000;
}

static struct jose_kek *kek(void)
{
    struct jose_kek *k = NULL;
    struct err e;

    assert_int_equal(jose_kek_from_text(KEK1, strlen(KEK1), &k, &e), 0);
    return k;
}

/* The kid in a compact JWS's header (static buffer). */
static const char *kid_of(const char *jws)
{
    static char kid[128];
    const char *dot = strchr(jws, '.');
    uint8_t *raw = NULL;
    size_t n = 0;
    json_t *h;

    assert_non_null(dot);
    assert_int_equal(jose_b64url_decode(jws, (size_t)(dot - jws), &raw, &n, NULL), 0);
    h = json_loadb((const char *)raw, n, 0, NULL);
    assert_non_null(h);
    snprintf(kid, sizeof(kid), "%s", json_string_value(json_object_get(h, "kid")));
    json_decref(h);
    free(raw);
    return kid;
}

static char *sign(struct jose_keyring *kr)
{
    json_t *c = json_pack("{s:s}", "sub", "agent");
    char *tok = NULL;
    struct err e;

    assert_int_equal(jose_keyring_sign(kr, c, NULL, &tok, &e), 0);
    json_decref(c);
    return tok;
}

/* The states newest first, one letter each: P pending, C current, p previous. */
static void states(struct jose_keyring *kr, char *out, size_t cap)
{
    json_t *arr = NULL, *o;
    struct err e;
    size_t i, n = 0;

    assert_int_equal(jose_keyring_describe(kr, &arr, &e), 0);
    json_array_foreach(arr, i, o)
    {
        const char *s = json_string_value(json_object_get(o, "state"));
        assert_true(n + 1 < cap);
        out[n++] = strcmp(s, "pending") == 0 ? 'P' : strcmp(s, "current") == 0 ? 'C' : 'p';
    }
    out[n] = '\0';
    json_decref(arr);
}

/* The kid of the key in state st (first match), copied into out. */
static void kid_in_state(struct jose_keyring *kr, const char *st, char *out, size_t cap)
{
    json_t *arr = NULL, *o;
    struct err e;
    size_t i;

    out[0] = '\0';
    assert_int_equal(jose_keyring_describe(kr, &arr, &e), 0);
    json_array_foreach(arr, i, o)
    {
        if (strcmp(json_string_value(json_object_get(o, "state")), st) == 0 && out[0] == '\0') {
            snprintf(out, cap, "%s", json_string_value(json_object_get(o, "kid")));
        }
    }
    json_decref(arr);
}

static size_t jwks_count(struct jose_keyring *kr)
{
    char **kids = NULL;
    size_t n = 0, i;
    struct err e;

    assert_int_equal(jose_keyring_kids(kr, &kids, &n, &e), 0);
    for (i = 0; i < n; i++) {
        free(kids[i]);
    }
    free(kids);
    return n;
}

/* The kid member of an envelope (JSON text). */
static int envelope_kid_copy(const char *env, char *out, size_t cap)
{
    json_t *j = json_loads(env, 0, NULL);
    const char *k = json_string_value(json_object_get(j, "kid"));
    int r = k != NULL ? 0 : -1;

    snprintf(out, cap, "%s", k != NULL ? k : "");
    json_decref(j);
    return r;
}

/* ---- the schedule -------------------------------------------------------------------- */

/* rotate after 1000 s, publish the successor 100 s ahead, retain 300 s. */
static const struct step {
    int64_t at;         /* seconds after T0 */
    int made;           /* jose_keyring_maintain's answer */
    const char *states; /* newest first */
    int signer;         /* which key signs: 1 = the first made, ... */
    size_t published;
} schedule[] = {
    {0, 1, "C", 1, 1},     /* no key: one at once */
    {899, 0, "C", 1, 1},   /* not due yet */
    {900, 1, "PC", 1, 2},  /* successor made, published, not signing */
    {950, 0, "PC", 1, 2},  /* a pending key: nothing more to make */
    {999, 0, "PC", 1, 2},  /* the old key signs to the last second */
    {1000, 0, "Cp", 2, 2}, /* the successor signs; key 1 retained */
    {1299, 0, "Cp", 2, 2}, /* still published: tokens of key 1 verify */
    {1300, 0, "C", 2, 1},  /* retention over: key 1 leaves the JWKS */
    {1900, 1, "PC", 2, 2}, /* the next round */
    {2000, 0, "Cp", 3, 2}, /* key 3 signs */
    {5000, 1, "PC", 3, 2}, /* a late start (due at 2900): key 2 retired meanwhile */
    {5099, 0, "PC", 3, 2}, /* late: the successor still waits a full window */
    {5100, 0, "Cp", 4, 2}, /* key 4 signs at now + prepublish, not at once */
    {5400, 0, "C", 4, 1},  /* key 3 retired */
};

static void keyring_schedule(void **state)
{
    struct jose_keyring_conf conf = {JOSE_ALG_ES256, 1000, 300, 100};
    struct jose_keyring *kr = NULL;
    struct jose_kek *k = kek();
    char kids[5][128], st[32], *env = NULL, *tok;
    size_t i, made = 0;
    struct err e;

    (void)state;
    atomic_store(&now_s, T0);
    clock_set_wall(fake_ms);
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), 0);
    for (i = 0; i < sizeof(schedule) / sizeof(schedule[0]); i++) {
        const struct step *s = &schedule[i];
        int r;
        atomic_store(&now_s, T0 + s->at);
        r = jose_keyring_maintain(kr, &env, &e);
        if (r != s->made) {
            fail_msg("t+%lld: maintain %d, want %d", (long long)s->at, r, s->made);
        }
        if (r == 1) {
            assert_non_null(env);
            assert_true(made < 5);
            assert_int_equal(envelope_kid_copy(env, kids[made], sizeof(kids[made])), 0);
            made++;
        }
        free(env);
        env = NULL;
        states(kr, st, sizeof(st));
        if (strcmp(st, s->states) != 0) {
            fail_msg("t+%lld: states %s, want %s", (long long)s->at, st, s->states);
        }
        tok = sign(kr);
        if (strcmp(kid_of(tok), kids[s->signer - 1]) != 0) {
            fail_msg("t+%lld: signed by %s, want key %d", (long long)s->at, kid_of(tok), s->signer);
        }
        free(tok);
        assert_int_equal(jwks_count(kr), s->published);
    }
    jose_keyring_free(kr);
    jose_kek_free(k);
    clock_set_wall(NULL);
}

/* Rotation at a time, revocation, configuration checks. */
static void keyring_rotate_at_and_revoke(void **state)
{
    struct jose_keyring_conf conf = {JOSE_ALG_ES256, 1000, 300, 0};
    struct jose_keyring *kr = NULL, *kr2 = NULL;
    struct jose_kek *k = kek();
    char k1[128], k2[128], k3[128], st[32], *env = NULL, *env3 = NULL, *tok;
    int cur = -1;
    struct err e;

    (void)state;
    atomic_store(&now_s, T0);
    clock_set_wall(fake_ms);
    /* configuration */
    conf.prepublish_s = 1000;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), ERR_INVALID);
    conf.prepublish_s = -1;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), ERR_INVALID);
    conf.prepublish_s = 0;
    conf.retain_s = (int64_t)LIMIT_JOSE_KEY_TIME_MAX_S + 1;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), ERR_INVALID);
    conf.retain_s = 300;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), 0);
    assert_int_equal(jose_keyring_rotate_at(kr, -1, &env, &e), ERR_INVALID);
    assert_int_equal(jose_keyring_rotate_at(kr, T0 + LIMIT_JOSE_KEY_TIME_MAX_S + 1, &env, &e),
                     ERR_INVALID);
    assert_null(env);

    /* k1 now, k2 in 50 s, k3 in 60 s */
    assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
    assert_int_equal(envelope_kid_copy(env, k1, sizeof(k1)), 0);
    free(env);
    assert_int_equal(jose_keyring_rotate_at(kr, T0 + 50, &env, &e), 0);
    assert_int_equal(envelope_kid_copy(env, k2, sizeof(k2)), 0);
    free(env);
    assert_int_equal(jose_keyring_rotate_at(kr, T0 + 60, &env3, &e), 0);
    assert_int_equal(envelope_kid_copy(env3, k3, sizeof(k3)), 0);
    states(kr, st, sizeof(st));
    assert_string_equal(st, "PPC");
    assert_int_equal(jwks_count(kr), 3);

    /* the activation time survives the envelope (created = activation): k3
     * next to k1 is pending; alone (every key ahead: the clock went back)
     * it signs, as it is published all the same */
    assert_int_equal(jose_keyring_new(&conf, k, &kr2, &e), 0);
    assert_int_equal(jose_keyring_load(kr2, env3, strlen(env3), &e), 0);
    states(kr2, st, sizeof(st));
    assert_string_equal(st, "C");
    tok = sign(kr2);
    assert_string_equal(kid_of(tok), k3);
    free(tok);
    assert_int_equal(jose_keyring_rotate_at(kr2, T0, &env, &e), 0);
    free(env);
    states(kr2, st, sizeof(st));
    assert_string_equal(st, "PC");
    jose_keyring_free(kr2);
    free(env3);

    /* revoking a pending key: it never signs */
    assert_int_equal(jose_keyring_revoke(kr, k2, &cur, &e), 0);
    assert_int_equal(cur, 0);
    assert_int_equal(jose_keyring_revoke(kr, k2, &cur, &e), ERR_NOTFOUND);
    atomic_store(&now_s, T0 + 55);
    tok = sign(kr);
    assert_string_equal(kid_of(tok), k1);
    free(tok);
    /* k3 signs from t+60; revoking the current k3: k1 (previous) signs again */
    atomic_store(&now_s, T0 + 60);
    tok = sign(kr);
    assert_string_equal(kid_of(tok), k3);
    free(tok);
    states(kr, st, sizeof(st));
    assert_string_equal(st, "Cp");
    assert_int_equal(jose_keyring_revoke(kr, k3, &cur, &e), 0);
    assert_int_equal(cur, 1);
    tok = sign(kr);
    assert_string_equal(kid_of(tok), k1);
    free(tok);
    assert_int_equal(jwks_count(kr), 1);
    /* the last key revoked: nothing signs until a new one is made */
    assert_int_equal(jose_keyring_revoke(kr, k1, &cur, &e), 0);
    assert_int_equal(cur, 1);
    assert_int_equal(jwks_count(kr), 0);
    {
        json_t *c = json_object();
        char *out = NULL;
        assert_int_equal(jose_keyring_sign(kr, c, NULL, &out, &e), ERR_UNAVAILABLE);
        json_decref(c);
    }
    assert_int_equal(jose_keyring_maintain(kr, &env, &e), 1);
    free(env);
    kid_in_state(kr, "current", k2, sizeof(k2));
    assert_true(strcmp(k2, k1) != 0 && strcmp(k2, k3) != 0);
    jose_keyring_free(kr);
    jose_kek_free(k);
    clock_set_wall(NULL);
}

/* Signers in threads while the keyring rotates and revokes: every token
 * carries a kid the keyring made and verifies against the JWKS of its time
 * or is signed by the current key; no signature fails. */
struct signer {
    struct jose_keyring *kr;
    atomic_int *stop;
    int signed_n, failed;
};

static void *signer_main(void *p)
{
    struct signer *s = p;
    json_t *c = json_pack("{s:s}", "sub", "agent");

    while (!atomic_load(s->stop)) {
        char *tok = NULL;
        struct err e;
        if (jose_keyring_sign(s->kr, c, NULL, &tok, &e) != 0 || tok == NULL) {
            s->failed++;
        } else {
            s->signed_n++;
        }
        free(tok);
    }
    json_decref(c);
    return NULL;
}

static void keyring_concurrent_signers(void **state)
{
    struct jose_keyring_conf conf = {JOSE_ALG_ES256, 1000, 300, 0};
    struct jose_keyring *kr = NULL;
    struct jose_kek *k = kek();
    struct signer s[3];
    pthread_t th[3];
    atomic_int stop = 0;
    char *env = NULL, kid[128], *text = NULL;
    int i, cur;
    struct err e;

    (void)state;
    clock_set_wall(NULL);
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), 0);
    assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
    free(env);
    for (i = 0; i < 3; i++) {
        s[i] = (struct signer){kr, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, signer_main, &s[i]), 0);
    }
    for (i = 0; i < 40; i++) {
        assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
        free(env);
        env = NULL;
        if (i % 3 == 0) {
            kid_in_state(kr, "previous", kid, sizeof(kid));
            if (kid[0] != '\0') {
                assert_int_equal(jose_keyring_revoke(kr, kid, &cur, &e), 0);
            }
        }
        assert_int_equal(jose_keyring_jwks(kr, &text, &e), 0);
        free(text);
    }
    atomic_store(&stop, 1);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].failed, 0);
        assert_true(s[i].signed_n > 0);
    }
    assert_true(jwks_count(kr) <= LIMIT_JOSE_KEYRING_KEYS);
    jose_keyring_free(kr);
    jose_kek_free(k);
}

/* ---- broker: the schedule against the store ------------------------------------------ */

struct fx {
    char dir[64];
    char db[96];
    struct store *s;
    struct broker b;
};

static int start_rt(struct fx *f)
{
    struct broker_runtime_config c;
    struct err e;

    memset(&c, 0, sizeof(c));
    c.issuer = ISS;
    c.kek_env = "TEST_KEYRING_KEK";
    c.key_rotate_s = 1000;
    c.key_prepublish_s = 100;
    c.key_retain_s = 300;
    c.keys_tick_s = -1; /* no thread: the test ticks */
    err_clear(&e);
    return broker_runtime_start(&f->b, &c, &e);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct store_sqlite_options o = {200, 1};
    struct err e;

    atomic_store(&now_s, T0);
    clock_set_wall(fake_ms);
    snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-keyring-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/m.db", f->dir);
    assert_int_equal(store_sqlite_open(f->db, &o, &f->s, &e), 0);
    f->b.store = f->s;
    setenv("TEST_KEYRING_KEK", KEK1, 1);
    assert_int_equal(start_rt(f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[96];

    broker_runtime_stop(&f->b);
    store_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    clock_set_wall(NULL);
    return 0;
}

/* The stored kids, oldest first, space-separated, into out. */
static size_t stored(struct fx *f, char *out, size_t cap)
{
    struct store_signing_key *v = NULL;
    struct arena a;
    size_t n = 0, i;
    struct err e;

    arena_init(&a, 0, 0);
    assert_int_equal(f->s->ops->signing_key_list(f->s, &a, &v, &n, &e), 0);
    out[0] = '\0';
    for (i = 0; i < n; i++) {
        size_t l = strlen(out);
        snprintf(out + l, cap - l, "%s%s", i ? " " : "", v[i].kid);
    }
    arena_free(&a);
    return n;
}

static char *btoken(struct fx *f)
{
    int64_t t = atomic_load(&now_s);
    json_t *c =
        json_pack("{s:s,s:s,s:[s],s:I,s:I,s:s}", "iss", ISS, "sub", "spiffe://x/y", "aud",
                  "mandate", "iat", (json_int_t)t, "exp", (json_int_t)(t + 3600), "jti", "j1");
    char *tok = NULL;
    struct err e;

    assert_int_equal(broker_token_sign(&f->b, c, &tok, &e), 0);
    json_decref(c);
    return tok;
}

static int bverify(struct fx *f, const char *tok)
{
    enum jose_reason why;
    json_t *out = NULL;
    struct err e;
    int r = broker_token_verify(&f->b, tok, strlen(tok), &out, &why, &e);

    json_decref(out);
    return r;
}

static int jwks_has(struct fx *f, const char *kid)
{
    char *text = NULL;
    struct err e;
    int r;

    assert_int_equal(broker_jwks_text(&f->b, &text, &e), 0);
    r = strstr(text, kid) != NULL;
    free(text);
    return r;
}

static void tick(struct fx *f)
{
    struct err e;

    err_clear(&e);
    if (broker_keys_tick(&f->b, &e) != 0) {
        fail_msg("tick: %s", e.msg);
    }
}

static void broker_schedule_and_store(void **state)
{
    struct fx *f = *state;
    char k1[128], k2[128], kx[128], list[1024], *tok1, *tok2, *env = NULL;
    struct jose_keyring *other = NULL;
    struct jose_kek *k = kek();
    struct store_signing_key sk;
    json_t *out = NULL;
    struct err e;

    /* start: one key, persisted */
    assert_int_equal(stored(f, list, sizeof(list)), 1);
    snprintf(k1, sizeof(k1), "%s", list);
    tok1 = btoken(f);
    assert_string_equal(kid_of(tok1), k1);
    /* t+900: the successor is made, persisted, published, not signing */
    atomic_store(&now_s, T0 + 899);
    tick(f);
    assert_int_equal(stored(f, list, sizeof(list)), 1);
    atomic_store(&now_s, T0 + 900);
    tick(f);
    assert_int_equal(stored(f, list, sizeof(list)), 2);
    snprintf(k2, sizeof(k2), "%s", strchr(list, ' ') + 1);
    assert_true(jwks_has(f, k1) && jwks_has(f, k2));
    tok2 = btoken(f);
    assert_string_equal(kid_of(tok2), k1);
    free(tok2);
    /* t+1000: k2 signs; k1's token still verifies */
    atomic_store(&now_s, T0 + 1000);
    tick(f);
    tok2 = btoken(f);
    assert_string_equal(kid_of(tok2), k2);
    assert_int_equal(bverify(f, tok1), 0);
    assert_int_equal(bverify(f, tok2), 0);
    /* t+1300: k1 retires: out of the JWKS and the store; its token fails */
    atomic_store(&now_s, T0 + 1300);
    tick(f);
    assert_int_equal(stored(f, list, sizeof(list)), 1);
    assert_string_equal(list, k2);
    assert_false(jwks_has(f, k1));
    assert_int_equal(bverify(f, tok1), ERR_AUTH);
    assert_int_equal(bverify(f, tok2), 0);

    /* another replica made a key (same KEK): loaded at the next tick, pending */
    assert_int_equal(jose_keyring_new(NULL, k, &other, &e), 0);
    assert_int_equal(jose_keyring_rotate_at(other, T0 + 1350, &env, &e), 0);
    assert_int_equal(envelope_kid_copy(env, kx, sizeof(kx)), 0);
    sk.kid = kx;
    sk.envelope = env;
    sk.created_ms = fake_ms();
    assert_int_equal(f->s->ops->signing_key_insert(f->s, &sk, &e), 0);
    tick(f);
    assert_true(jwks_has(f, kx));
    assert_string_equal(kid_of(tok2), k2);
    assert_int_equal(broker_keys_list(&f->b, &out, &e), 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "keys"), 0), "state")),
                        "pending");
    json_decref(out);
    free(env);
    jose_keyring_free(other);
    jose_kek_free(k);

    /* another replica revoked k2 (its envelope is gone): dropped at the next tick */
    assert_int_equal(f->s->ops->signing_key_delete(f->s, k2, &e), 0);
    assert_int_equal(f->s->ops->signing_key_delete(f->s, k2, &e), ERR_NOTFOUND);
    tick(f);
    assert_false(jwks_has(f, k2));
    assert_int_equal(bverify(f, tok2), ERR_AUTH);

    /* an envelope this KEK does not open (written under another): the tick
     * logs it and goes on; it is neither loaded nor deleted */
    {
        struct jose_kek *kother = NULL;
        char bad[128];
        size_t before;
        assert_int_equal(jose_kek_from_text(KEK2, strlen(KEK2), &kother, &e), 0);
        assert_int_equal(jose_keyring_new(NULL, kother, &other, &e), 0);
        assert_int_equal(jose_keyring_rotate(other, &env, &e), 0);
        assert_int_equal(envelope_kid_copy(env, bad, sizeof(bad)), 0);
        sk.kid = bad;
        sk.envelope = env;
        sk.created_ms = fake_ms();
        assert_int_equal(f->s->ops->signing_key_insert(f->s, &sk, &e), 0);
        before = stored(f, list, sizeof(list));
        tick(f);
        tick(f);
        assert_int_equal(stored(f, list, sizeof(list)), before);
        assert_false(jwks_has(f, bad));
        assert_true(jwks_has(f, kx));
        /* at a start it refuses, as a wrong KEK must */
        broker_runtime_stop(&f->b);
        assert_int_equal(start_rt(f), ERR_AUTH);
        broker_runtime_stop(&f->b);
        assert_int_equal(f->s->ops->signing_key_delete(f->s, bad, &e), 0);
        free(env);
        env = NULL;
        jose_keyring_free(other);
        other = NULL;
        jose_kek_free(kother);
    }

    /* a restart: the same keys */
    atomic_store(&now_s, T0 + 1350);
    broker_runtime_stop(&f->b); /* NULL runtime: fine */
    assert_int_equal(start_rt(f), 0);
    assert_true(jwks_has(f, kx) && !jwks_has(f, k2) && !jwks_has(f, k1));
    free(tok2);
    tok2 = btoken(f);
    assert_string_equal(kid_of(tok2), kx);

    /* revoking the signing key through the broker: replaced, persisted, audited */
    assert_int_equal(broker_keys_revoke(&f->b, NULL, kx, "test", &out, &e), 0);
    assert_non_null(json_string_value(json_object_get(out, "replaced_by")));
    assert_int_equal(stored(f, list, sizeof(list)), 1);
    assert_string_equal(list, json_string_value(json_object_get(out, "replaced_by")));
    assert_int_equal(bverify(f, tok2), ERR_AUTH);
    json_decref(out);
    assert_int_equal(broker_keys_revoke(&f->b, NULL, kx, "test", &out, &e), ERR_NOTFOUND);
    assert_int_equal(broker_keys_revoke(&f->b, NULL, list, "", &out, &e), ERR_INVALID);
    assert_int_equal(broker_keys_rotate(&f->b, NULL, -1, &out, &e), ERR_INVALID);
    assert_int_equal(broker_keys_rotate(&f->b, NULL, 10, &out, &e), 0);
    assert_int_equal(stored(f, list, sizeof(list)), 2);
    json_decref(out);
    free(tok1);
    free(tok2);
}

/* Requests in threads sign and verify task tokens while the keys rotate
 * on demand and tick: every token verifies (the verifier is swapped whole
 * under its lock; the keyring never shows a half state). */
struct bsigner {
    struct fx *f;
    atomic_int *stop;
    int ok, failed;
};

static void *bsigner_main(void *p)
{
    struct bsigner *s = p;
    json_t *c =
        json_pack("{s:s,s:s,s:[s],s:I,s:I,s:s}", "iss", ISS, "sub", "spiffe://x/y", "aud",
                  "mandate", "iat", (json_int_t)T0, "exp", (json_int_t)(T0 + 3600), "jti", "j1");

    while (!atomic_load(s->stop)) {
        enum jose_reason why;
        json_t *out = NULL;
        char *tok = NULL;
        struct err e;
        if (broker_token_sign(&s->f->b, c, &tok, &e) != 0 ||
            broker_token_verify(&s->f->b, tok, strlen(tok), &out, &why, &e) != 0) {
            s->failed++;
        } else {
            s->ok++;
        }
        json_decref(out);
        free(tok);
    }
    json_decref(c);
    return NULL;
}

static void broker_concurrent_rotation(void **state)
{
    struct fx *f = *state;
    struct bsigner s[3];
    pthread_t th[3];
    atomic_int stop = 0;
    json_t *out = NULL;
    struct err e;
    int i;

    for (i = 0; i < 3; i++) {
        s[i] = (struct bsigner){f, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, bsigner_main, &s[i]), 0);
    }
    /* fewer rotations than the keyring holds keys: none is dropped */
    for (i = 0; i < 12; i++) {
        assert_int_equal(broker_keys_rotate(&f->b, NULL, 0, &out, &e), 0);
        json_decref(out);
        tick(f);
    }
    atomic_store(&stop, 1);
    for (i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].failed, 0);
        assert_true(s[i].ok > 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keyring_schedule),
        cmocka_unit_test(keyring_rotate_at_and_revoke),
        cmocka_unit_test(keyring_concurrent_signers),
        cmocka_unit_test_setup_teardown(broker_schedule_and_store, setup, teardown),
        cmocka_unit_test_setup_teardown(broker_concurrent_rotation, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
