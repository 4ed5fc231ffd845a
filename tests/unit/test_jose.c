/*
 * test_jose.c: unit tests of src/jose/ (J1 part): base64url, JWK checks and
 * thumbprints, sign/verify for every algorithm, the declarative attack table
 * tests/jose/attacks.jsonl (tokens built at run time from the fixed keys in
 * tests/jose/keys.json), the DPoP replay cache and htu normalisation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jose/jose.h"

#define NOW 1800000000LL
#define ISS "https://issuer.example"
#define AUD "mandate"
#define HTU "https://mandate.example/v1/check"

static json_t *g_keys; /* name -> private JWK JSON */

/* ---- data files ------------------------------------------------------- */

static char *data_path(const char *name)
{
    static const char *const dirs[] = {"../tests/jose", "../../tests/jose", "tests/jose",
                                       "../../../tests/jose"};
    const char *env = getenv("MANDATE_JOSE_DATA");
    char path[4096];
    size_t i;

    if (env != NULL) {
        snprintf(path, sizeof(path), "%s/%s", env, name);
        return strdup(path);
    }
    {
        char here[4096];
        const char *slash;
        snprintf(here, sizeof(here), "%s", __FILE__);
        slash = strrchr(here, '/');
        if (slash != NULL) {
            here[slash - here] = '\0';
            snprintf(path, sizeof(path), "%s/../jose/%s", here, name);
            if (access(path, R_OK) == 0) {
                return strdup(path);
            }
        }
    }
    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
        if (access(path, R_OK) == 0) {
            return strdup(path);
        }
    }
    return NULL;
}

static int setup_keys(void **state)
{
    json_error_t je;
    char *p = data_path("keys.json");
    json_t *j;

    (void)state;
    if (p == NULL) {
        fprintf(stderr, "tests/jose/keys.json not found (set MANDATE_JOSE_DATA)\n");
        return -1;
    }
    j = json_load_file(p, JSON_REJECT_DUPLICATES, &je);
    free(p);
    if (j == NULL) {
        return -1;
    }
    g_keys = json_incref(json_object_get(j, "keys"));
    json_decref(j);
    return g_keys != NULL ? 0 : -1;
}

static int teardown_keys(void **state)
{
    (void)state;
    json_decref(g_keys);
    return 0;
}

static struct jose_jwk *key_named(const char *name, int drop_alg, int drop_kid)
{
    json_t *kj = json_deep_copy(json_object_get(g_keys, name));
    struct jose_jwk *k = NULL;
    struct err e = {0};

    assert_non_null(kj);
    if (drop_alg) {
        json_object_del(kj, "alg");
    }
    if (drop_kid) {
        json_object_del(kj, "kid");
    }
    if (jose_jwk_from_json(kj, &k, &e) != 0) {
        fail_msg("key %s: %s", name, e.msg);
    }
    json_decref(kj);
    return k;
}

static json_t *public_json(const char *name)
{
    struct jose_jwk *k = key_named(name, 0, 0);
    struct err e = {0};
    json_t *j = NULL;

    assert_int_equal(jose_jwk_to_json(k, 0, &j, &e), 0);
    jose_jwk_free(k);
    return j;
}

/* ---- base64url -------------------------------------------------------- */

static void test_b64(void **state)
{
    static const char *const good[][2] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}, {"\xfb\xff", "-_8"},
    };
    static const char *const bad[] = {"Zg==", "Zg=",   "Zh",   "Z",   "Zm9v YmFy",  "Zm9v\n",
                                      "+/8",  "Zm9vY", "Zm8=", "Zm9", "Zm9vYmFy\t", "\xc3\xa9"};
    size_t i, n;
    uint8_t *out;
    char *s;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(jose_b64url_encode(good[i][0], strlen(good[i][0]), &s, &n), 0);
        assert_string_equal(s, good[i][1]);
        free(s);
        assert_int_equal(jose_b64url_decode(good[i][1], strlen(good[i][1]), &out, &n, NULL), 0);
        assert_int_equal(n, strlen(good[i][0]));
        assert_memory_equal(out, good[i][0], n);
        free(out);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (jose_b64url_decode(bad[i], strlen(bad[i]), &out, &n, NULL) == 0) {
            fail_msg("accepted bad base64url \"%s\"", bad[i]);
        }
        assert_null(out);
    }
}

/* ---- JWK -------------------------------------------------------------- */

static void test_thumbprints(void **state)
{
    /* RFC 7638 section 3.1 and RFC 8037 appendix A.3. */
    static const char rsa[] =
        "{\"kty\":\"RSA\",\"n\":\"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86z"
        "wu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN"
        "5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
        "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU"
        "8awapJzKnqDKgw\",\"e\":\"AQAB\",\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}";
    static const char ed[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
                             "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
    struct jose_jwk *k = NULL;
    char jkt[JOSE_JKT_LEN + 1];
    struct err e = {0};

    (void)state;
    assert_int_equal(jose_jwk_parse(rsa, strlen(rsa), &k, &e), 0);
    assert_int_equal(jose_jwk_thumbprint(k, jkt, &e), 0);
    assert_string_equal(jkt, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    assert_string_equal(jose_jwk_kid(k), "2011-04-29");
    assert_int_equal(jose_jwk_alg(k), JOSE_ALG_RS256);
    jose_jwk_free(k);
    assert_int_equal(jose_jwk_parse(ed, strlen(ed), &k, &e), 0);
    assert_int_equal(jose_jwk_thumbprint(k, jkt, &e), 0);
    assert_string_equal(jkt, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    jose_jwk_free(k);
}

/* Parses key `name` with member `m` replaced by `v` (JSON text; NULL deletes). */
static int parse_modified(const char *name, const char *m, const char *v, int *code)
{
    json_t *kj = json_deep_copy(json_object_get(g_keys, name));
    struct jose_jwk *k = NULL;
    struct err e = {0};
    int r;

    if (v == NULL) {
        json_object_del(kj, m);
    } else {
        json_object_set_new(kj, m, json_loads(v, JSON_DECODE_ANY, NULL));
    }
    r = jose_jwk_from_json(kj, &k, &e);
    *code = r;
    jose_jwk_free(k);
    json_decref(kj);
    return r;
}

static void test_jwk_rejects(void **state)
{
    static const struct {
        const char *key, *member, *value;
    } rows[] = {
        {"es256", "crv", "\"P-521\""},
        {"es256", "crv", "\"secp256k1\""},
        {"es256", "x", "\"AAAA\""},                                        /* short x */
        {"es256", "y", "\"ndi4w1oG_48hOsDSkq18TeHTF_aVpGIwHn3UHaD8c_I\""}, /* off the curve */
        {"es256", "d", "\"ndi4w1oG_48hOsDSkq18TeHTF_aVpGIwHn3UHaD8c_I\""}, /* d mismatch */
        {"es256", "alg", "\"ES384\""},
        {"es256", "alg", "\"HS256\""},
        {"es256", "alg", "\"none\""},
        {"es256", "kty", "\"RSA\""},
        {"es256", "kty", "\"oct\""},
        {"es256", "key_ops", "\"sign, verify\""},
        {"es256", "key_ops", "[\"sign\",\"sign\"]"},
        {"es256", "kid", "7"},
        {"ed25519", "crv", "\"Ed448\""},
        {"ed25519", "x", "\"AAAA\""},
        {"ed25519", "d", "\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\""},
        {"rs256", "e", "\"AQ\""},   /* e = 1 */
        {"rs256", "e", "\"AQAA\""}, /* e even */
        {"rs256", "e", "\"Ag\""},   /* e = 2 */
        {"rs256", "n", "\"AQAB\""}, /* tiny modulus */
        {"rs256", "dp", NULL},      /* incomplete private key */
        {"rs256", "alg", "\"ES256\""},
        {"rs256", "e", "\"AQAB=\""}, /* padding */
    };
    size_t i;
    int code;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        if (parse_modified(rows[i].key, rows[i].member, rows[i].value, &code) == 0) {
            fail_msg("row %zu: %s with %s=%s accepted", i, rows[i].key, rows[i].member,
                     rows[i].value != NULL ? rows[i].value : "(deleted)");
        }
    }
    /* And the unmodified keys load. */
    assert_int_equal(parse_modified("rs256", "use", "\"sig\"", &code), 0);
    assert_int_equal(parse_modified("es384", "use", "\"sig\"", &code), 0);
}

static void test_rsa_1024_refused(void **state)
{
    EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    struct jose_jwk *k = NULL;
    struct err e = {0};

    (void)state;
    assert_non_null(p);
    assert_int_not_equal(jose_jwk_from_pkey(p, JOSE_ALG_RS256, "x", &k, &e), 0);
    assert_null(k);
    assert_non_null(strstr(e.msg, "too small"));
    EVP_PKEY_free(p);
}

static void test_jwks_rules(void **state)
{
#define mixed "{\"keys\":[%s,%s]}"
    json_t *a = public_json("es256"), *b = json_deep_copy(json_object_get(g_keys, "es384"));
    struct jose_jwks *set = NULL;
    struct err e = {0};
    char *sa = json_dumps(a, JSON_COMPACT), *sb = json_dumps(b, JSON_COMPACT), text[8192];
    const struct jose_jwk *found = NULL;

    (void)state;
    snprintf(text, sizeof(text), mixed, sa, sb);
    assert_int_not_equal(jose_jwks_parse(text, strlen(text), 0, &set, &e), 0);
    assert_non_null(strstr(e.msg, "mixes"));
    /* Duplicate kid. */
    snprintf(text, sizeof(text), mixed, sa, sa);
    assert_int_equal(jose_jwks_parse(text, strlen(text), 0, &set, &e), ERR_CONFLICT);
    /* Two keys without kid for the same alg: ambiguous. */
    json_object_del(a, "kid");
    free(sa);
    sa = json_dumps(a, JSON_COMPACT);
    json_object_set_new(a, "x", json_string("4pMw0-bIp8Q3XYNPgl6BvtwYH6vf8ToU-DSW1vXcEUo"));
    json_object_set_new(a, "y", json_string("CL-Wt8Qb8y2iQyGoGq6njdE7LIU-ovLvw-d_6BqUIfk"));
    free(sb);
    sb = json_dumps(a, JSON_COMPACT);
    snprintf(text, sizeof(text), mixed, sa, sb);
    if (jose_jwks_parse(text, strlen(text), 0, &set, &e) == 0) {
        assert_int_equal(jose_jwks_find(set, NULL, JOSE_ALG_ES256, NULL, &found, &e), ERR_CONFLICT);
        assert_int_equal(jose_jwks_find(set, NULL, JOSE_ALG_ES384, NULL, &found, &e), ERR_NOTFOUND);
        jose_jwks_free(set);
    }
    /* Unsupported keys are skipped on request, else refused. */
    snprintf(text, sizeof(text), "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}");
    assert_int_not_equal(jose_jwks_parse(text, strlen(text), 0, &set, &e), 0);
    assert_int_equal(jose_jwks_parse(text, strlen(text),
                                     JOSE_JWKS_SKIP_UNSUPPORTED | JOSE_JWKS_ALLOW_PRIVATE, &set,
                                     &e),
                     0);
    assert_int_equal(jose_jwks_count(set), 0);
    jose_jwks_free(set);
    /* A weak key in a published set: refused, or skipped on request while
     * the good key stays usable. */
    {
        json_t *weak = public_json("rs256"), *good = public_json("es256"), *ks;
        size_t skipped = 0;
        json_object_set_new(weak, "e", json_string("AQ"));
        ks = json_pack("{s[OO]}", "keys", weak, good);
        assert_int_not_equal(jose_jwks_from_json(ks, 0, &set, NULL, &e), 0);
        assert_int_equal(jose_jwks_from_json(ks, JOSE_JWKS_SKIP_UNSUPPORTED, &set, &skipped, &e),
                         0);
        assert_int_equal(skipped, 1);
        assert_int_equal(jose_jwks_count(set), 1);
        assert_int_equal(jose_jwks_find(set, "es256", JOSE_ALG_ES256, NULL, &found, &e), 0);
        assert_int_equal(jose_jwks_find(set, "rs256", JOSE_ALG_RS256, NULL, &found, &e),
                         ERR_NOTFOUND);
        jose_jwks_free(set);
        json_decref(ks);
        json_decref(weak);
        json_decref(good);
    }
    free(sa);
    free(sb);
    json_decref(a);
    json_decref(b);
}

/* ---- sign and verify, every algorithm --------------------------------- */

static void test_sign_verify_all(void **state)
{
    static const enum jose_alg algs[] = {JOSE_ALG_EDDSA, JOSE_ALG_ES256, JOSE_ALG_ES384,
                                         JOSE_ALG_RS256, JOSE_ALG_PS256};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        struct jose_jwk *k = NULL, *pub = NULL, *other = NULL;
        struct jose_jwks *set = jose_jwks_new(), *set2 = jose_jwks_new();
        struct jose_verifier *v = NULL, *v2 = NULL;
        json_t *pj = NULL, *h = NULL;
        struct err e = {0};
        enum jose_reason why;
        uint8_t *payload = NULL;
        size_t plen = 0;
        char *tok = NULL;

        assert_int_equal(jose_jwk_generate(algs[i], NULL, &k, &e), 0);
        assert_int_equal(jose_jwk_generate(algs[i], jose_jwk_kid(k), &other, &e), 0);
        assert_int_equal(jose_jwk_to_json(k, 0, &pj, &e), 0);
        assert_null(json_object_get(pj, "d"));
        assert_int_equal(jose_jwk_from_json(pj, &pub, &e), 0);
        assert_false(jose_jwk_is_private(pub));
        assert_int_equal(jose_jws_sign(k, algs[i], NULL, "hello", 5, &tok, &e), 0);
        {
            char *t2 = NULL;
            assert_int_not_equal(jose_jws_sign(pub, algs[i], NULL, "hello", 5, &t2, &e), 0);
            assert_null(t2);
        }
        assert_int_equal(jose_jwks_add(set, pub, &e), 0);
        assert_int_equal(jose_jwks_add(set2, other, &e), 0);
        assert_int_equal(jose_verifier_new(set, 0, &v, &e), 0);
        assert_int_equal(jose_verifier_new(set2, 0, &v2, &e), 0);
        if (jose_jws_verify(v, tok, strlen(tok), &h, &payload, &plen, &why, &e) != 0) {
            fail_msg("%s: %s", jose_alg_name(algs[i]), e.msg);
        }
        assert_int_equal(plen, 5);
        assert_memory_equal(payload, "hello", 5);
        assert_string_equal(json_string_value(json_object_get(h, "alg")), jose_alg_name(algs[i]));
        assert_int_not_equal(jose_jws_verify(v2, tok, strlen(tok), NULL, NULL, NULL, &why, &e), 0);
        assert_int_equal(why, JOSE_R_SIGNATURE);
        assert_int_equal(jose_jws_verify_key(pub, JOSE_ALG_BIT(algs[i]), tok, strlen(tok), NULL,
                                             NULL, NULL, &why, &e),
                         0);
        free(payload);
        json_decref(h);
        json_decref(pj);
        free(tok);
        jose_verifier_free(v);
        jose_verifier_free(v2);
        jose_jwks_free(set);
        jose_jwks_free(set2);
        jose_jwk_free(k);
        jose_jwk_free(pub);
        jose_jwk_free(other);
    }
}

/* ---- the attack table ------------------------------------------------- */

static char *b64(const void *p, size_t n)
{
    char *s = NULL;

    assert_int_equal(jose_b64url_encode(p, n, &s, NULL), 0);
    return s;
}

static char *b64_json(const json_t *j)
{
    char *t = json_dumps(j, JSON_COMPACT), *s = b64(t, strlen(t));

    free(t);
    return s;
}

static json_t *decode_seg(const char *seg, size_t n)
{
    uint8_t *out = NULL;
    size_t len = 0;
    json_t *j;

    assert_int_equal(jose_b64url_decode(seg, n, &out, &len, NULL), 0);
    j = json_loadb((const char *)out, len, 0, NULL);
    free(out);
    assert_non_null(j);
    return j;
}

/* Merges src into dst; JSON null deletes. */
static void merge(json_t *dst, const json_t *src)
{
    const char *name;
    json_t *v;

    json_object_foreach((json_t *)src, name, v)
    {
        if (json_is_null(v)) {
            json_object_del(dst, name);
        } else {
            json_object_set(dst, name, v);
        }
    }
}

static char *join3(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 3;
    char *s = malloc(n);

    snprintf(s, n, "%s.%s.%s", a, b, c);
    return s;
}

/* Replaces segment i of tok with the b64 of obj (modified by `set`). */
static char *resegment(char *tok, int i, const json_t *set)
{
    char *dot1 = strchr(tok, '.'), *dot2 = dot1 != NULL ? strchr(dot1 + 1, '.') : NULL;
    char *h, *p, *s, *enc, *out;
    json_t *j;

    assert_non_null(dot2);
    *dot1 = *dot2 = '\0';
    h = tok;
    p = dot1 + 1;
    s = dot2 + 1;
    j = decode_seg(i == 0 ? h : p, strlen(i == 0 ? h : p));
    merge(j, set);
    enc = b64_json(j);
    out = i == 0 ? join3(enc, p, s) : join3(h, enc, s);
    free(enc);
    json_decref(j);
    free(tok);
    return out;
}

static char *replace_sig(char *tok, const char *sig)
{
    char *last = strrchr(tok, '.'), *out;
    size_t n = (size_t)(last - tok) + 1;

    out = malloc(n + strlen(sig) + 1);
    memcpy(out, tok, n);
    memcpy(out + n, sig, strlen(sig) + 1);
    free(tok);
    return out;
}

static char *insert_at(char *tok, size_t pos, const char *what)
{
    size_t n = strlen(tok), w = strlen(what);
    char *out = malloc(n + w + 1);

    memcpy(out, tok, pos);
    memcpy(out + pos, what, w);
    memcpy(out + pos + w, tok + pos, n - pos + 1);
    free(tok);
    return out;
}

static int b64val(char c)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return (int)(strchr(a, c) - a);
}

static char *text_op(char *tok, const char *op)
{
    const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char *dot1 = strchr(tok, '.'), *last = strrchr(tok, '.');
    size_t n = strlen(tok);

    if (strcmp(op, "truncate_sig") == 0) {
        tok[n - 4] = '\0';
    } else if (strcmp(op, "pad_header") == 0) {
        return insert_at(tok, (size_t)(dot1 - tok), "=");
    } else if (strcmp(op, "pad_sig") == 0) {
        return insert_at(tok, n, "==");
    } else if (strcmp(op, "std_alphabet") == 0) {
        int changed = 0;
        for (char *p = tok; *p; p++) {
            if (*p == '-' || *p == '_') {
                *p = *p == '-' ? '+' : '/';
                changed = 1;
            }
        }
        assert_true(changed);
    } else if (strcmp(op, "space_in_payload") == 0) {
        return insert_at(tok, (size_t)(dot1 - tok) + 3, " ");
    } else if (strcmp(op, "newline_in_sig") == 0) {
        return insert_at(tok, (size_t)(last - tok) + 5, "\n");
    } else if (strcmp(op, "noncanonical_sig") == 0) {
        tok[n - 1] = a[b64val(tok[n - 1]) | 1];
    } else if (strcmp(op, "extra_segment") == 0) {
        return insert_at(tok, n, ".e30");
    } else if (strcmp(op, "extra_empty_segment") == 0) {
        return insert_at(tok, n, ".");
    } else if (strcmp(op, "drop_sig_segment") == 0) {
        *last = '\0';
    } else if (strcmp(op, "header_only") == 0) {
        *dot1 = '\0';
    } else if (strcmp(op, "empty") == 0) {
        tok[0] = '\0';
    } else if (strcmp(op, "header_not_json") == 0 || strcmp(op, "header_dup_alg") == 0) {
        const char *h = op[7] == 'n' ? "{not json"
                                     : "{\"alg\":\"ES256\",\"alg\":\"ES256\","
                                       "\"kid\":\"es256\"}";
        char *enc = b64(h, strlen(h)), *out = join3(enc, dot1 + 1, "x");
        free(enc);
        out = replace_sig(out, last + 1);
        free(tok);
        return out;
    } else {
        fail_msg("unknown text op %s", op);
    }
    return tok;
}

static char *hmac_forge(const json_t *row, const json_t *header, const json_t *claims)
{
    const char *what = json_string_value(json_object_get(row, "forge_hs256"));
    const char *kname = json_string_value(json_object_get(row, "key"));
    json_t *pub = public_json(kname), *h = json_deep_copy(header);
    unsigned char mac[32];
    unsigned int maclen = 0;
    uint8_t *keyb = NULL;
    size_t keylen = 0;
    char *hb, *pb, *sb, *input, *out, *pubtext = json_dumps(pub, JSON_COMPACT);

    json_object_set_new(h, "alg", json_string("HS256"));
    if (strcmp(what, "n") == 0) {
        const char *n = json_string_value(json_object_get(pub, "n"));
        assert_int_equal(jose_b64url_decode(n, strlen(n), &keyb, &keylen, NULL), 0);
    } else {
        keyb = (uint8_t *)strdup(pubtext);
        keylen = strlen(pubtext);
    }
    hb = b64_json(h);
    pb = b64_json(claims);
    input = join3(hb, pb, "");
    input[strlen(input) - 1] = '\0';
    HMAC(EVP_sha256(), keyb, (int)keylen, (const unsigned char *)input, strlen(input), mac,
         &maclen);
    sb = b64(mac, maclen);
    out = join3(hb, pb, sb);
    free(hb);
    free(pb);
    free(sb);
    free(input);
    free(keyb);
    free(pubtext);
    json_decref(pub);
    json_decref(h);
    return out;
}

/* Builds the token or proof a row describes. */
static char *build_token(const json_t *row, int index, int dpop)
{
    const char *kname = json_string_value(json_object_get(row, "key"));
    const json_t *shs = json_object_get(row, "set_header_signed");
    const char *typ = json_string_value(json_object_get(row, "typ"));
    const char *alg_name = json_string_value(json_object_get(row, "alg"));
    const char *raw = json_string_value(json_object_get(row, "raw_payload"));
    json_t *claims, *header = json_object();
    struct jose_jwk *k;
    struct err e = {0};
    char *tok = NULL, *ptext;

    if (dpop) {
        char jti[32];
        snprintf(jti, sizeof(jti), "jti-%d", index);
        claims =
            json_pack("{sssssssI}", "jti", jti, "htm", "POST", "htu", HTU, "iat", (json_int_t)NOW);
        json_object_set_new(header, "typ", json_string("dpop+jwt"));
        {
            const char *of = json_string_value(json_object_get(row, "jwk_of"));
            json_t *jwk = json_is_true(json_object_get(row, "jwk_private"))
                              ? json_deep_copy(json_object_get(g_keys, kname))
                              : public_json(of != NULL ? of : kname);
            json_object_set_new(header, "jwk", jwk);
        }
        if (json_object_get(row, "ath_of") != NULL) {
            const char *t = json_string_value(json_object_get(row, "ath_of"));
            unsigned char md[32];
            unsigned int ml;
            char *a;
            EVP_Digest(t, strlen(t), md, &ml, EVP_sha256(), NULL);
            a = b64(md, ml);
            json_object_set_new(claims, "ath", json_string(a));
            free(a);
        }
    } else {
        claims = json_pack("{sssssssIsI}", "iss", ISS, "aud", AUD, "sub",
                           "spiffe://corp.example/agents/a", "iat", (json_int_t)(NOW - 10), "exp",
                           (json_int_t)(NOW + 300));
        json_object_set_new(header, "typ", json_string(typ != NULL ? typ : "JWT"));
    }
    if (json_object_get(row, "embed_jwk") != NULL) {
        json_object_set_new(header, "jwk",
                            public_json(json_string_value(json_object_get(row, "embed_jwk"))));
    }
    if (json_object_get(row, "claims") != NULL) {
        merge(claims, json_object_get(row, "claims"));
    }
    if (json_object_get(row, "pad_claims") != NULL) {
        size_t n = (size_t)json_integer_value(json_object_get(row, "pad_claims"));
        char *pad = malloc(n + 1);
        memset(pad, 'a', n);
        pad[n] = '\0';
        json_object_set_new(claims, "pad", json_string(pad));
        free(pad);
    }
    if (shs != NULL) {
        merge(header, shs);
    }
    if (json_object_get(row, "forge_hs256") != NULL) {
        tok = hmac_forge(row, header, claims);
        goto done;
    }
    k = key_named(kname, json_is_true(json_object_get(row, "sign_unrestricted")),
                  shs != NULL && json_is_null(json_object_get(shs, "kid")));
    ptext = raw != NULL ? strdup(raw) : json_dumps(claims, JSON_COMPACT);
    /* The pad rows produce tokens over the verifier's limit, but the signer
     * refuses those too: build them by hand. */
    if (jose_jws_sign(k, alg_name != NULL ? jose_alg_from_name(alg_name) : JOSE_ALG_UNKNOWN, header,
                      ptext, strlen(ptext), &tok, &e) != 0) {
        char *hb = b64_json(header), *pb = b64(ptext, strlen(ptext));
        assert_int_equal(e.code, ERR_LIMIT);
        tok = join3(hb, pb, "AAAA");
        free(hb);
        free(pb);
    }
    free(ptext);
    jose_jwk_free(k);
done:
    if (json_object_get(row, "set_header") != NULL) {
        tok = resegment(tok, 0, json_object_get(row, "set_header"));
    }
    if (json_object_get(row, "set_claims") != NULL) {
        tok = resegment(tok, 1, json_object_get(row, "set_claims"));
    }
    if (json_object_get(row, "sig") != NULL) {
        tok = replace_sig(tok, json_string_value(json_object_get(row, "sig")));
    }
    if (json_object_get(row, "text") != NULL) {
        tok = text_op(tok, json_string_value(json_object_get(row, "text")));
    }
    json_decref(claims);
    json_decref(header);
    return tok;
}

static struct jose_verifier *row_verifier(const json_t *vo)
{
    const char *list = json_string_value(json_object_get(vo, "jwks"));
    const char *algs = json_string_value(json_object_get(vo, "alg"));
    char names[256], *save = NULL, *n;
    struct jose_jwks *set = jose_jwks_new();
    struct jose_verifier *v = NULL;
    struct err e = {0};
    unsigned mask = 0;

    snprintf(names, sizeof(names), "%s", list != NULL ? list : "es256,es384,ed25519,rs256,ps256");
    for (n = strtok_r(names, ",", &save); n != NULL; n = strtok_r(NULL, ",", &save)) {
        json_t *pj = public_json(n);
        struct jose_jwk *k = NULL;
        assert_int_equal(jose_jwk_from_json(pj, &k, &e), 0);
        assert_int_equal(jose_jwks_add(set, k, &e), 0);
        jose_jwk_free(k);
        json_decref(pj);
    }
    if (algs != NULL) {
        assert_int_equal(jose_alg_mask_parse(algs, &mask, &e), 0);
    }
    assert_int_equal(jose_verifier_new(set, mask, &v, &e), 0);
    jose_jwks_free(set);
    return v;
}

static int run_jwt_row(const json_t *row, const char *tok, enum jose_reason *why, struct err *e)
{
    const json_t *vo = json_object_get(row, "verify");
    const char *req[2] = {json_string_value(json_object_get(vo, "required")), NULL};
    struct jose_jwt_opts o = {.iss = ISS, .aud = AUD, .skew_s = -1, .now_s = NOW};
    struct jose_verifier *v = row_verifier(vo);
    json_t *h = NULL, *c = NULL;
    int r;

    o.typ = json_string_value(json_object_get(vo, "typ"));
    o.max_lifetime_s = json_integer_value(json_object_get(vo, "max_lifetime"));
    o.required = req[0] != NULL ? req : NULL;
    r = jose_jwt_verify(v, tok, strlen(tok), &o, &h, &c, why, e);
    if (r == 0) {
        assert_non_null(h);
        assert_non_null(c);
    } else {
        assert_null(h);
        assert_null(c);
    }
    json_decref(h);
    json_decref(c);
    jose_verifier_free(v);
    return r;
}

static struct jose_jwkcache *g_attack_keys; /* shared by the attack table's DPoP rows */

static int run_dpop_row(const json_t *row, const char *tok, enum jose_reason *why, struct err *e)
{
    const json_t *vo = json_object_get(row, "verify");
    struct jose_dpop_opts o = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_result res;
    struct jose_replay *rc = NULL;
    char jkt[JOSE_JKT_LEN + 1];
    int r;

    assert_int_equal(jose_replay_new(16, &rc, e), 0);
    o.replay = rc;
    o.keys = g_attack_keys; /* every row meets the keys of the rows before it */
    o.access_token = json_string_value(json_object_get(vo, "access_token"));
    o.nonce = json_string_value(json_object_get(vo, "nonce"));
    if (json_object_get(vo, "jkt_of") != NULL) {
        struct jose_jwk *k = key_named(json_string_value(json_object_get(vo, "jkt_of")), 0, 0);
        assert_int_equal(jose_jwk_thumbprint(k, jkt, e), 0);
        jose_jwk_free(k);
        o.jkt = jkt;
    }
    r = jose_dpop_verify(tok, strlen(tok), &o, &res, why, e);
    if (r == 0 && json_is_true(json_object_get(row, "replay"))) {
        jose_dpop_result_clear(&res);
        r = jose_dpop_verify(tok, strlen(tok), &o, &res, why, e);
    }
    if (r == 0) {
        assert_int_equal(strlen(res.jkt), JOSE_JKT_LEN);
    }
    jose_dpop_result_clear(&res);
    jose_replay_free(rc);
    return r;
}

static int expect_matches(const char *expect, const char *got)
{
    char buf[128], *save = NULL, *t;

    snprintf(buf, sizeof(buf), "%s", expect);
    for (t = strtok_r(buf, "|", &save); t != NULL; t = strtok_r(NULL, "|", &save)) {
        if (strcmp(t, got) == 0) {
            return 1;
        }
    }
    return 0;
}

static void test_attack_table(void **state)
{
    char *path = data_path("attacks.jsonl"), line[8192];
    int index = 0, failed = 0;
    FILE *f;

    (void)state;
    assert_non_null(path);
    f = fopen(path, "r");
    free(path);
    assert_non_null(f);
    assert_int_equal(jose_jwkcache_new(8, &g_attack_keys, NULL), 0);
    while (fgets(line, sizeof(line), f) != NULL) {
        json_t *row = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
        const char *kind, *expect;
        enum jose_reason why = JOSE_R_OK;
        struct err e = {0};
        char *tok;
        int r, dpop;

        if (row == NULL) {
            continue;
        }
        index++;
        kind = json_string_value(json_object_get(row, "kind"));
        expect = json_string_value(json_object_get(row, "expect"));
        dpop = strcmp(kind, "dpop") == 0;
        tok = build_token(row, index, dpop);
        r = dpop ? run_dpop_row(row, tok, &why, &e) : run_jwt_row(row, tok, &why, &e);
        if ((r == 0) != (strcmp(expect, "ok") == 0) ||
            !expect_matches(expect, jose_reason_name(why))) {
            fprintf(stderr, "attack row %d \"%s\": expected %s, got %s (%s)\n", index,
                    json_string_value(json_object_get(row, "name")), expect, jose_reason_name(why),
                    r == 0 ? "accepted" : e.msg);
            failed++;
        }
        free(tok);
        json_decref(row);
    }
    fclose(f);
    jose_jwkcache_free(g_attack_keys);
    g_attack_keys = NULL;
    fprintf(stderr, "attack table: %d rows, %d as expected, %d not\n", index, index - failed,
            failed);
    assert_true(index > 90);
    assert_int_equal(failed, 0);
}

/* ---- replay cache and htu --------------------------------------------- */

static void test_replay_cache(void **state)
{
    struct jose_replay *r = NULL;
    char key[32];
    int i;

    (void)state;
    assert_int_equal(jose_replay_new(4, &r, NULL), 0);
    assert_int_equal(jose_replay_check(r, "a", 110, 100), 0);
    assert_int_equal(jose_replay_check(r, "a", 110, 105), ERR_CONFLICT);
    assert_int_equal(jose_replay_check(r, "b", 120, 100), 0);
    assert_int_equal(jose_replay_check(r, "c", 120, 100), 0);
    assert_int_equal(jose_replay_check(r, "d", 120, 100), 0);
    /* Full of live entries: fail closed. */
    assert_int_equal(jose_replay_check(r, "e", 120, 100), ERR_LIMIT);
    /* "a" expired at 110: room again, and "a" may be seen again. */
    assert_int_equal(jose_replay_check(r, "e", 130, 111), 0);
    assert_int_equal(jose_replay_check(r, "d", 130, 111), ERR_CONFLICT);
    assert_true(jose_replay_size(r) <= 4);
    /* Everything expires. */
    for (i = 0; i < 100; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(jose_replay_check(r, key, 1000 + i + 1, 1000 + i), 0);
    }
    assert_true(jose_replay_size(r) <= 4);
    jose_replay_free(r);
    jose_replay_free(NULL);
}

struct thr {
    struct jose_replay *r;
    int id, fresh;
};

static void *replay_thread(void *arg)
{
    struct thr *t = arg;
    char key[32];
    int i;

    for (i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "jti-%d", i); /* every thread uses the same jtis */
        if (jose_replay_check(t->r, key, 100, 1) == 0) {
            t->fresh++;
        }
    }
    return NULL;
}

static void test_replay_threads(void **state)
{
    struct thr t[4];
    pthread_t th[4];
    int i, total = 0;

    (void)state;
    assert_int_equal(jose_replay_new(10000, &t[0].r, NULL), 0);
    for (i = 0; i < 4; i++) {
        t[i].r = t[0].r;
        t[i].id = i;
        t[i].fresh = 0;
        assert_int_equal(pthread_create(&th[i], NULL, replay_thread, &t[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += t[i].fresh;
    }
    /* Each jti was accepted exactly once across all threads. */
    assert_int_equal(total, 2000);
    jose_replay_free(t[0].r);
}

static void test_htu_normalize(void **state)
{
    static const char *const rows[][2] = {
        {"https://Example.COM/a/b", "https://example.com/a/b"},
        {"HTTPS://example.com:443/a?x=1#frag", "https://example.com/a"},
        {"http://example.com:80", "http://example.com/"},
        {"http://example.com:8080/x", "http://example.com:8080/x"},
        {"https://example.com:80/x", "https://example.com:80/x"},
        {"https://[::1]:443/x", "https://[::1]/x"},
        {"https://example.com/A", "https://example.com/A"},
        {"https://example.com?q", "https://example.com/"},
    };
    static const char *const bad[] = {"ftp://x/",      "https://",        "https://u@h/",
                                      "https://h:8x/", "//example.com/a", "https://[::1/"};
    size_t i;
    char *s;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(jose_htu_normalize(rows[i][0], &s, NULL), 0);
        assert_string_equal(s, rows[i][1]);
        free(s);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (jose_htu_normalize(bad[i], &s, NULL) == 0) {
            fail_msg("accepted htu %s", bad[i]);
        }
    }
}

/* A DPoP proof by key `name` with a chosen jti. */
static char *proof_with_jti(const char *name, const char *jti)
{
    struct jose_jwk *k = key_named(name, 0, 0);
    json_t *h = json_pack("{ssso}", "typ", "dpop+jwt", "jwk", public_json(name));
    json_t *c =
        json_pack("{sssssssI}", "jti", jti, "htm", "POST", "htu", HTU, "iat", (json_int_t)NOW);
    char *text = json_dumps(c, JSON_COMPACT), *tok = NULL;
    struct err e = {0};

    assert_int_equal(jose_jws_sign(k, JOSE_ALG_UNKNOWN, h, text, strlen(text), &tok, &e), 0);
    free(text);
    json_decref(h);
    json_decref(c);
    jose_jwk_free(k);
    return tok;
}

static void test_dpop_jti_scoped_by_key(void **state)
{
    struct jose_dpop_opts o = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    char *a = proof_with_jti("dpop_es256", "same-jti"), *b = proof_with_jti("dpop_ed", "same-jti");
    struct jose_dpop_result res;
    enum jose_reason why;

    (void)state;
    assert_int_equal(jose_replay_new(0, &o.replay, NULL), 0);
    assert_int_equal(jose_dpop_verify(a, strlen(a), &o, &res, &why, NULL), 0);
    jose_dpop_result_clear(&res);
    /* Another key may use the same jti value... */
    assert_int_equal(jose_dpop_verify(b, strlen(b), &o, &res, &why, NULL), 0);
    jose_dpop_result_clear(&res);
    /* ...but each proof only once, and the proof after its window is stale. */
    assert_int_not_equal(jose_dpop_verify(a, strlen(a), &o, &res, &why, NULL), 0);
    assert_int_equal(why, JOSE_R_DPOP_REPLAY);
    assert_null(res.header);
    o.now_s = NOW + 301;
    assert_int_not_equal(jose_dpop_verify(b, strlen(b), &o, &res, &why, NULL), 0);
    assert_int_equal(why, JOSE_R_IAT);
    jose_replay_free(o.replay);
    free(a);
    free(b);
}

/* ---- the DPoP key cache (jwkcache.c) ---------------------------------- */

/* A proof signed by `signer` whose header carries `jwk` (stolen). */
static char *proof_claiming(const char *signer, json_t *jwk, const char *jti)
{
    struct jose_jwk *k = key_named(signer, 0, 0);
    json_t *h = json_pack("{ssso}", "typ", "dpop+jwt", "jwk", jwk);
    json_t *c =
        json_pack("{sssssssI}", "jti", jti, "htm", "POST", "htu", HTU, "iat", (json_int_t)NOW);
    char *text = json_dumps(c, JSON_COMPACT), *tok = NULL;
    struct err e = {0};

    assert_int_equal(jose_jws_sign(k, JOSE_ALG_UNKNOWN, h, text, strlen(text), &tok, &e), 0);
    free(text);
    json_decref(h);
    json_decref(c);
    jose_jwk_free(k);
    return tok;
}

static int verify_with(struct jose_jwkcache *kc, const char *tok, char jkt[JOSE_JKT_LEN + 1],
                       enum jose_reason *why)
{
    struct jose_dpop_opts o = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_result res;
    int r;

    o.keys = kc;
    r = jose_dpop_verify(tok, strlen(tok), &o, &res, why, NULL);
    if (r == 0 && jkt != NULL) {
        memcpy(jkt, res.jkt, JOSE_JKT_LEN + 1);
    }
    jose_dpop_result_clear(&res);
    return r;
}

static void test_dpop_key_cache(void **state)
{
    struct jose_jwkcache *kc = NULL;
    struct jose_jwk *k = key_named("dpop_es256", 0, 0);
    char want[JOSE_JKT_LEN + 1], got[JOSE_JKT_LEN + 1];
    unsigned long hits = 0, misses = 0;
    enum jose_reason why;
    json_t *pub, *j;
    char *a, *b;

    (void)state;
    assert_int_equal(jose_jwk_thumbprint(k, want, NULL), 0);
    jose_jwk_free(k);
    assert_int_equal(jose_jwkcache_new(2, &kc, NULL), 0);
    /* A miss imports, a hit gives the same key and thumbprint. */
    a = proof_claiming("dpop_es256", public_json("dpop_es256"), "j1");
    b = proof_claiming("dpop_es256", public_json("dpop_es256"), "j2");
    assert_int_equal(verify_with(kc, a, got, &why), 0);
    assert_string_equal(got, want);
    assert_int_equal(verify_with(kc, b, got, &why), 0);
    assert_string_equal(got, want);
    assert_int_equal(jose_jwkcache_size(kc, &hits, &misses), 1);
    assert_int_equal(hits, 1);
    assert_int_equal(misses, 1);
    free(a);
    free(b);

    /* Poisoning: the cached key's kid on another key.  Keyed by kid, the
     * attacker's proof would verify with the victim's key; keyed by content
     * it is another entry and its signature must match its own key. */
    pub = public_json("dpop_es256");
    json_object_set_new(pub, "kid", json_string("victim"));
    a = proof_claiming("dpop_es256", pub, "j3");
    assert_int_equal(verify_with(kc, a, NULL, &why), 0);
    free(a);
    pub = public_json("attacker");
    json_object_set_new(pub, "kid", json_string("victim"));
    a = proof_claiming("dpop_es256", pub, "j4"); /* signed by the victim key */
    assert_int_not_equal(verify_with(kc, a, NULL, &why), 0);
    assert_int_equal(why, JOSE_R_SIGNATURE);
    free(a);
    /* Same point, a member that changes what the key may do: a new import,
     * refused as without a cache, and never cached. */
    j = public_json("dpop_es256");
    json_object_set_new(j, "alg", json_string("ES384"));
    a = proof_claiming("dpop_es256", j, "j5");
    assert_int_not_equal(verify_with(kc, a, NULL, &why), 0);
    assert_int_equal(why, JOSE_R_DPOP_JWK);
    free(a);
    /* Bounded: at most 2 entries, the least recently used goes first. */
    assert_true(jose_jwkcache_size(kc, NULL, NULL) <= 2);
    a = proof_claiming("dpop_ed", public_json("dpop_ed"), "j6");
    assert_int_equal(verify_with(kc, a, NULL, &why), 0);
    free(a);
    assert_int_equal(jose_jwkcache_size(kc, &hits, &misses), 2);
    a = proof_claiming("dpop_es256", public_json("dpop_es256"), "j7");
    assert_int_equal(verify_with(kc, a, got, &why), 0);
    assert_string_equal(got, want);
    free(a);
    assert_int_equal(jose_jwkcache_size(kc, &hits, &misses), 2);
    assert_int_equal(hits, 1); /* evicted earlier: imported again */
    jose_jwkcache_free(kc);
    jose_jwkcache_free(NULL);
}

struct kc_shared {
    struct jose_jwkcache *kc;
    json_t *jwks[3];
    char want[3][JOSE_JKT_LEN + 1];
};

struct kc_thr {
    const struct kc_shared *sh;
    int bad;
};

static void *kc_thread(void *arg)
{
    struct kc_thr *t = arg;
    int i;

    for (i = 0; i < 300; i++) {
        struct jose_jwk *k = NULL;
        char jkt[JOSE_JKT_LEN + 1];
        if (jose_jwkcache_get(t->sh->kc, t->sh->jwks[i % 3], &k, jkt, NULL) != 0 || k == NULL ||
            strcmp(jkt, t->sh->want[i % 3]) != 0) {
            t->bad++;
        }
        jose_jwk_free(k);
    }
    return NULL;
}

/* Three keys through a cache of two from four threads: entries are evicted
 * while others still use them (reference counts; ASan finds the rest). */
static void test_dpop_key_cache_threads(void **state)
{
    static const char *const names[] = {"dpop_es256", "dpop_ed", "es256"};
    struct kc_shared sh;
    struct kc_thr t[4];
    pthread_t th[4];
    int i, n;

    (void)state;
    memset(&sh, 0, sizeof(sh));
    assert_int_equal(jose_jwkcache_new(2, &sh.kc, NULL), 0);
    for (i = 0; i < 3; i++) {
        struct jose_jwk *k = key_named(names[i], 0, 0);
        assert_int_equal(jose_jwk_thumbprint(k, sh.want[i], NULL), 0);
        jose_jwk_free(k);
        sh.jwks[i] = public_json(names[i]);
    }
    for (n = 0; n < 4; n++) {
        t[n].sh = &sh;
        t[n].bad = 0;
        assert_int_equal(pthread_create(&th[n], NULL, kc_thread, &t[n]), 0);
    }
    for (n = 0; n < 4; n++) {
        pthread_join(th[n], NULL);
        assert_int_equal(t[n].bad, 0);
    }
    assert_true(jose_jwkcache_size(sh.kc, NULL, NULL) <= 2);
    for (i = 0; i < 3; i++) {
        json_decref(sh.jwks[i]);
    }
    jose_jwkcache_free(sh.kc);
}

/* ---- allocation failures (jansson) ----------------------------------- */

static long g_alloc_count, g_alloc_fail_at;

static void *failing_malloc(size_t n)
{
    if (g_alloc_fail_at != 0 && ++g_alloc_count == g_alloc_fail_at) {
        return NULL;
    }
    return malloc(n);
}

/* The whole verification flow once; 0 when everything succeeded. */
static int flow(const char *jwks, const char *tok, const char *proof, const json_t *claims,
                struct jose_jwk *signer)
{
    struct jose_jwt_opts o = {.iss = ISS, .aud = AUD, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_opts d = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_result res;
    struct jose_jwks *set = NULL;
    struct jose_verifier *v = NULL;
    json_t *h = NULL, *c = NULL, *j = NULL;
    char *t2 = NULL;
    int r;

    r = jose_jwks_parse(jwks, strlen(jwks), 0, &set, NULL);
    if (r == 0) {
        r = jose_verifier_new(set, 0, &v, NULL);
    }
    if (r == 0) {
        r = jose_jwt_verify(v, tok, strlen(tok), &o, &h, &c, NULL, NULL);
    }
    if (r == 0 && (r = jose_dpop_verify(proof, strlen(proof), &d, &res, NULL, NULL)) == 0) {
        jose_dpop_result_clear(&res);
    }
    if (r == 0) {
        r = jose_jwk_to_json(signer, 1, &j, NULL);
    }
    if (r == 0) {
        r = jose_jwt_sign(signer, JOSE_ALG_UNKNOWN, NULL, claims, &t2, NULL);
    }
    free(t2);
    json_decref(j);
    json_decref(h);
    json_decref(c);
    jose_verifier_free(v);
    jose_jwks_free(set);
    return r;
}

static void test_alloc_failures(void **state)
{
    json_t *pj = public_json("es256"), *set = json_pack("{s[O]}", "keys", pj);
    json_t *claims = json_pack("{sssssI}", "iss", ISS, "aud", AUD, "exp", (json_int_t)(NOW + 60));
    struct jose_jwk *k = key_named("es256", 0, 0);
    char *jwks = json_dumps(set, JSON_COMPACT), *tok = NULL,
         *proof = proof_with_jti("dpop_ed", "x");
    long n, failures = 0;

    (void)state;
    assert_int_equal(jose_jwt_sign(k, JOSE_ALG_UNKNOWN, NULL, claims, &tok, NULL), 0);
    json_set_alloc_funcs(failing_malloc, free);
    assert_int_equal(flow(jwks, tok, proof, claims, k), 0);
    for (n = 1; n < 5000; n++) {
        g_alloc_count = 0;
        g_alloc_fail_at = n;
        failures += flow(jwks, tok, proof, claims, k) != 0;
        g_alloc_fail_at = 0;
        if (g_alloc_count < n) {
            break; /* the flow no longer reaches an n-th allocation */
        }
    }
    json_set_alloc_funcs(malloc, free);
    fprintf(stderr, "allocation failure walk: %ld points, %ld failed cleanly\n", n - 1, failures);
    assert_true(n > 20);
    assert_true(failures > 0);
    assert_int_equal(flow(jwks, tok, proof, claims, k), 0);
    free(jwks);
    free(tok);
    free(proof);
    json_decref(set);
    json_decref(pj);
    json_decref(claims);
    jose_jwk_free(k);
}

/* ---- concurrency: one verifier and one replay cache, four threads ----- */

struct vthr {
    struct jose_verifier *v;
    struct jose_replay *r;
    const char *tok;
    char *proofs[50];
    int ok, replays;
};

static void *verify_thread(void *arg)
{
    struct jose_jwt_opts o = {.iss = ISS, .aud = AUD, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_opts d = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_result res;
    struct vthr *t = arg;
    int i;

    d.replay = t->r;
    for (i = 0; i < 50; i++) {
        enum jose_reason why = JOSE_R_OK;
        t->ok += jose_jwt_verify(t->v, t->tok, strlen(t->tok), &o, NULL, NULL, NULL, NULL) == 0;
        if (jose_dpop_verify(t->proofs[i], strlen(t->proofs[i]), &d, &res, &why, NULL) == 0) {
            jose_dpop_result_clear(&res);
        } else if (why == JOSE_R_DPOP_REPLAY) {
            t->replays++;
        }
    }
    return NULL;
}

static void test_concurrent_verify(void **state)
{
    struct jose_jwks *set = jose_jwks_new();
    struct jose_jwk *k = key_named("ed25519", 0, 0), *pub = NULL;
    json_t *pj = public_json("ed25519");
    json_t *claims = json_pack("{sssssI}", "iss", ISS, "aud", AUD, "exp", (json_int_t)(NOW + 60));
    struct vthr t[4];
    pthread_t th[4];
    char *tok = NULL, jti[16];
    int i, j, ok = 0, replays = 0;

    (void)state;
    assert_int_equal(jose_jwk_from_json(pj, &pub, NULL), 0);
    assert_int_equal(jose_jwks_add(set, pub, NULL), 0);
    memset(t, 0, sizeof(t));
    assert_int_equal(jose_verifier_new(set, 0, &t[0].v, NULL), 0);
    assert_int_equal(jose_replay_new(0, &t[0].r, NULL), 0);
    assert_int_equal(jose_jwt_sign(k, JOSE_ALG_UNKNOWN, NULL, claims, &tok, NULL), 0);
    for (i = 0; i < 4; i++) {
        t[i].v = t[0].v;
        t[i].r = t[0].r;
        t[i].tok = tok;
        for (j = 0; j < 50; j++) { /* the same 50 proofs in every thread */
            snprintf(jti, sizeof(jti), "c%d", j);
            t[i].proofs[j] = proof_with_jti("dpop_es256", jti);
        }
        assert_int_equal(pthread_create(&th[i], NULL, verify_thread, &t[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok += t[i].ok;
        replays += t[i].replays;
        for (j = 0; j < 50; j++) {
            free(t[i].proofs[j]);
        }
    }
    assert_int_equal(ok, 200);
    assert_int_equal(replays, 150); /* each proof accepted once in all */
    jose_verifier_free(t[0].v);
    jose_replay_free(t[0].r);
    jose_jwks_free(set);
    jose_jwk_free(k);
    jose_jwk_free(pub);
    json_decref(pj);
    json_decref(claims);
    free(tok);
}

static void test_dpop_server_nonce(void **state)
{
    static const uint8_t key[JOSE_DPOP_NONCE_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    static const uint8_t other[JOSE_DPOP_NONCE_KEY_LEN] = {9, 8, 7};
    struct jose_dpop_opts o = {.htm = "POST", .htu = HTU, .skew_s = -1, .now_s = NOW};
    struct jose_dpop_result res;
    struct jose_jwk *k = key_named("dpop_es256", 0, 0);
    enum jose_reason why;
    char *n = NULL, *stale = NULL, *p = NULL;

    (void)state;
    assert_int_equal(jose_dpop_nonce_make(key, NOW - 10, &n, NULL), 0);
    assert_int_equal(jose_dpop_nonce_make(key, NOW - 400, &stale, NULL), 0);
    assert_int_equal(jose_dpop_nonce_check(key, n, 0, NOW, NULL), 0);
    assert_int_equal(jose_dpop_nonce_check(other, n, 0, NOW, NULL), ERR_AUTH);
    assert_int_equal(jose_dpop_nonce_check(key, stale, 0, NOW, NULL), ERR_AUTH);
    assert_int_equal(jose_dpop_nonce_check(key, n, 0, NOW - 60, NULL), ERR_AUTH); /* future */
    assert_int_equal(jose_dpop_nonce_check(key, "AAAA", 0, NOW, NULL), ERR_AUTH);
    assert_int_equal(jose_dpop_nonce_check(key, NULL, 0, NOW, NULL), ERR_AUTH);
    n[3] = n[3] == 'A' ? 'B' : 'A';
    assert_int_equal(jose_dpop_nonce_check(key, n, 0, NOW, NULL), ERR_AUTH);
    n[3] = n[3] == 'A' ? 'B' : 'A';
    /* Through proof validation. */
    o.nonce_key = key;
    assert_int_equal(jose_dpop_create(k, JOSE_ALG_UNKNOWN, "POST", HTU, NULL, n, NOW, &p, NULL), 0);
    assert_int_equal(jose_dpop_verify(p, strlen(p), &o, &res, &why, NULL), 0);
    jose_dpop_result_clear(&res);
    free(p);
    assert_int_equal(jose_dpop_create(k, JOSE_ALG_UNKNOWN, "POST", HTU, NULL, stale, NOW, &p, NULL),
                     0);
    assert_int_not_equal(jose_dpop_verify(p, strlen(p), &o, &res, &why, NULL), 0);
    assert_int_equal(why, JOSE_R_DPOP_NONCE);
    free(p);
    assert_int_equal(jose_dpop_create(k, JOSE_ALG_UNKNOWN, "POST", HTU, NULL, NULL, NOW, &p, NULL),
                     0);
    assert_int_not_equal(jose_dpop_verify(p, strlen(p), &o, &res, &why, NULL), 0);
    assert_int_equal(why, JOSE_R_DPOP_NONCE);
    free(p);
    free(n);
    free(stale);
    jose_jwk_free(k);
}

static void test_binding_and_reasons(void **state)
{
    json_t *c = json_pack("{s{ss}}", "cnf", "jkt", "abc");
    enum jose_reason why;
    int i;

    (void)state;
    assert_int_equal(jose_dpop_check_binding(c, "abc", &why, NULL), 0);
    assert_int_not_equal(jose_dpop_check_binding(c, "abd", &why, NULL), 0);
    assert_int_equal(why, JOSE_R_DPOP_JKT);
    json_decref(c);
    c = json_object();
    assert_int_not_equal(jose_dpop_check_binding(c, "abc", &why, NULL), 0);
    json_decref(c);
    for (i = 0; i <= JOSE_R_INTERNAL; i++) {
        assert_int_equal(jose_reason_from_name(jose_reason_name((enum jose_reason)i)), i);
    }
    {
        struct jose_verifier *v = NULL;
        /* An allow-list naming nothing we support must not mean "all". */
        assert_int_equal(jose_verifier_new(NULL, 1u << 20, &v, NULL), ERR_INVALID);
        assert_null(v);
    }
    assert_int_equal(jose_alg_from_name("none"), JOSE_ALG_UNKNOWN);
    assert_int_equal(jose_alg_from_name("HS256"), JOSE_ALG_UNKNOWN);
    assert_int_equal(jose_alg_from_name("es256"), JOSE_ALG_UNKNOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_b64),
        cmocka_unit_test(test_thumbprints),
        cmocka_unit_test(test_jwk_rejects),
        cmocka_unit_test(test_rsa_1024_refused),
        cmocka_unit_test(test_jwks_rules),
        cmocka_unit_test(test_sign_verify_all),
        cmocka_unit_test(test_attack_table),
        cmocka_unit_test(test_replay_cache),
        cmocka_unit_test(test_replay_threads),
        cmocka_unit_test(test_htu_normalize),
        cmocka_unit_test(test_dpop_jti_scoped_by_key),
        cmocka_unit_test(test_dpop_key_cache),
        cmocka_unit_test(test_dpop_key_cache_threads),
        cmocka_unit_test(test_dpop_server_nonce),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_concurrent_verify),
        cmocka_unit_test(test_binding_and_reasons),
    };

    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
