/*
 * vectors.c: the JOSE vector runner.  Runs every Wycheproof vector for the
 * algorithms we support through our verifier, the two Wycheproof JSON-web
 * files as whole compact tokens and key sets, and the RFC 7520 / RFC 8037 /
 * RFC 7797 cookbook examples.  Reads $MANDATE_SHARED/vectors (exit 77 with a
 * "skipped" line when absent).
 *
 * Counting, stated in the output:
 *   - valid accepted, invalid refused: passed.
 *   - acceptable: must be refused (we take the strict side): passed when refused.
 *   - a vector for an algorithm or key we do not support (HS*, RS384/512,
 *     PS384/512, ES512, oct keys, P-521): it must be refused; if expected
 *     invalid it is passed, if expected valid it is "skipped (unsupported,
 *     refused)".  Accepting any of them is a failure.
 *   - hmac/hkdf primitive files: skipped with a line (HMAC is not part of
 *     our JOSE: no HS* tokens).
 * Ends with "N passed, N failed, N skipped".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"

#ifndef JOSE_SHARED_DEFAULT
#define JOSE_SHARED_DEFAULT "../shared"
#endif

static int passed, failed, skipped, verbose;

static void fail_line(const char *file, long tc, const char *what)
{
    failed++;
    printf("FAIL %s tcId %ld: %s\n", file, tc, what);
}

static uint8_t *unhex(const char *h, size_t *n)
{
    size_t len = strlen(h), i;
    uint8_t *b = malloc(len / 2 + 1);

    *n = len / 2;
    for (i = 0; b != NULL && i < *n; i++) {
        unsigned v = 0;
        int j;
        for (j = 0; j < 2; j++) {
            char c = h[2 * i + j];
            v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
        }
        b[i] = (uint8_t)v;
    }
    return b;
}

/* Hex big-endian (maybe with a leading 00, maybe short) -> base64url of
 * exactly width bytes (0: minimal). */
static json_t *hex_b64(const char *hex, size_t width)
{
    size_t n, off = 0;
    uint8_t *b = unhex(hex, &n), *pad;
    char *s = NULL;
    json_t *j;

    while (off < n && b[off] == 0 && (width == 0 ? n - off > 1 : n - off > width)) {
        off++;
    }
    if (width == 0) {
        width = n - off;
    }
    pad = calloc(1, width + 1);
    if (n - off <= width) {
        memcpy(pad + width - (n - off), b + off, n - off);
    }
    if (jose_b64url_encode(pad, width, &s, NULL) != 0) {
        s = NULL;
    }
    j = json_string(s != NULL ? s : "");
    free(s);
    free(pad);
    free(b);
    return j;
}

static json_t *group_jwk(const json_t *g, const char *type)
{
    const json_t *pk = json_object_get(g, "publicKey");

    if (strcmp(type, "EddsaVerify") == 0) {
        return json_pack("{ssssso}", "kty", "OKP", "crv", "Ed25519", "x",
                         hex_b64(json_string_value(json_object_get(pk, "pk")), 32));
    }
    if (strcmp(type, "EcdsaP1363Verify") == 0) {
        const char *curve = json_string_value(json_object_get(pk, "curve"));
        int p384 = strcmp(curve, "secp384r1") == 0;
        size_t w = p384 ? 48 : 32;
        json_t *j = json_pack("{ssss}", "kty", "EC", "crv", p384 ? "P-384" : "P-256");
        json_object_set_new(j, "x", hex_b64(json_string_value(json_object_get(pk, "wx")), w));
        json_object_set_new(j, "y", hex_b64(json_string_value(json_object_get(pk, "wy")), w));
        return j;
    }
    {
        json_t *j = json_pack("{ss}", "kty", "RSA");
        json_object_set_new(j, "n", hex_b64(json_string_value(json_object_get(pk, "modulus")), 0));
        json_object_set_new(j, "e",
                            hex_b64(json_string_value(json_object_get(pk, "publicExponent")), 0));
        return j;
    }
}

static enum jose_alg group_alg(const json_t *g, const char *type)
{
    const char *sha = json_string_value(json_object_get(g, "sha"));

    if (strcmp(type, "EddsaVerify") == 0) {
        return JOSE_ALG_EDDSA;
    }
    if (strcmp(type, "EcdsaP1363Verify") == 0) {
        return strcmp(sha, "SHA-384") == 0 ? JOSE_ALG_ES384 : JOSE_ALG_ES256;
    }
    if (strcmp(type, "RsassaPssVerify") == 0) {
        /* PS256 only: SHA-256, MGF1-SHA-256, salt 32. */
        if (strcmp(sha, "SHA-256") != 0 ||
            strcmp(json_string_value(json_object_get(g, "mgfSha")), "SHA-256") != 0 ||
            json_integer_value(json_object_get(g, "sLen")) != 32) {
            return JOSE_ALG_UNKNOWN;
        }
        return JOSE_ALG_PS256;
    }
    return strcmp(sha, "SHA-256") == 0 ? JOSE_ALG_RS256 : JOSE_ALG_UNKNOWN;
}

/* Counts one verdict.  accepted: our answer; result: the vector's. */
static void tally(const char *file, long tc, int accepted, const char *result, int supported)
{
    int want = strcmp(result, "valid") == 0;

    if (!supported) {
        if (accepted) {
            fail_line(file, tc, "unsupported algorithm or key accepted");
        } else if (want) {
            skipped++;
            if (verbose) {
                printf("skip %s tcId %ld: valid but unsupported, refused\n", file, tc);
            }
        } else {
            passed++;
        }
        return;
    }
    if (accepted == want) {
        passed++;
    } else {
        fail_line(file, tc, accepted ? "accepted, expected refusal" : "refused a valid vector");
    }
}

static void run_primitive(const char *dir, const char *name)
{
    char path[4096];
    json_error_t je;
    json_t *d, *g, *t;
    size_t gi, ti;
    int p0 = passed, f0 = failed, s0 = skipped;

    snprintf(path, sizeof(path), "%s/wycheproof/%s", dir, name);
    d = json_load_file(path, 0, &je);
    if (d == NULL) {
        printf("FAIL %s: cannot load: %s\n", name, je.text);
        failed++;
        return;
    }
    json_array_foreach(json_object_get(d, "testGroups"), gi, g)
    {
        const char *type = json_string_value(json_object_get(g, "type"));
        enum jose_alg alg = group_alg(g, type);
        json_t *kj = group_jwk(g, type);
        struct jose_jwk *k = NULL;
        struct err e = {0};
        int kr = jose_jwk_from_json(kj, &k, &e);

        if (kr != 0 && verbose) {
            printf("note %s group %zu: key refused: %s\n", name, gi, e.msg);
        }
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            long tc = (long)json_integer_value(json_object_get(t, "tcId"));
            const char *res = json_string_value(json_object_get(t, "result"));
            size_t ml, sl;
            uint8_t *m = unhex(json_string_value(json_object_get(t, "msg")), &ml);
            uint8_t *s = unhex(json_string_value(json_object_get(t, "sig")), &sl);
            int ok = kr == 0 && alg != JOSE_ALG_UNKNOWN &&
                     jose_sig_verify(k, alg, m, ml, s, sl, NULL) == 0;
            tally(name, tc, ok, res, alg != JOSE_ALG_UNKNOWN);
            free(m);
            free(s);
        }
        jose_jwk_free(k);
        json_decref(kj);
    }
    printf("%-45s %4d passed, %d failed, %d skipped\n", name, passed - p0, failed - f0,
           skipped - s0);
    json_decref(d);
}

/* Is the token's header alg (or the key) something we support at all? */
static int token_supported(const char *jws, const json_t *keyset_or_key)
{
    const char *dot = strchr(jws, '.');
    uint8_t *h = NULL;
    size_t hl = 0;
    json_t *hj;
    int ok = 0;

    (void)keyset_or_key;
    if (dot == NULL || jose_b64url_decode(jws, (size_t)(dot - jws), &h, &hl, NULL) != 0) {
        return 1; /* malformed: treat as a supported-path negative */
    }
    hj = json_loadb((const char *)h, hl, 0, NULL);
    free(h);
    if (!json_is_object(hj)) {
        json_decref(hj);
        return 1;
    }
    ok = json_is_string(json_object_get(hj, "alg")) &&
         (jose_alg_from_name(json_string_value(json_object_get(hj, "alg"))) != JOSE_ALG_UNKNOWN ||
          strcasecmp(json_string_value(json_object_get(hj, "alg")), "none") == 0);
    json_decref(hj);
    return ok;
}

static int verify_with_set(const struct jose_jwks *set, const char *jws)
{
    struct jose_verifier *v = NULL;
    int r;

    if (jose_verifier_new(set, 0, &v, NULL) != 0) {
        return 0;
    }
    r = jose_jws_verify(v, jws, strlen(jws), NULL, NULL, NULL, NULL, NULL);
    jose_verifier_free(v);
    return r == 0;
}

static void run_jws_file(const char *dir)
{
    const char *name = "json_web_signature_test.json";
    char path[4096];
    json_t *d, *g, *t;
    size_t gi, ti;
    int p0 = passed, f0 = failed, s0 = skipped;

    snprintf(path, sizeof(path), "%s/wycheproof/%s", dir, name);
    d = json_load_file(path, 0, NULL);
    if (d == NULL) {
        printf("FAIL %s: cannot load\n", name);
        failed++;
        return;
    }
    json_array_foreach(json_object_get(d, "testGroups"), gi, g)
    {
        const json_t *kj = json_object_get(g, "public");
        struct jose_jwks *set = jose_jwks_new();
        struct jose_jwk *k = NULL;
        int key_ok;

        if (kj == NULL) {
            kj = json_object_get(g, "private");
        }
        key_ok = jose_jwk_from_json(kj, &k, NULL) == 0 && jose_jwks_add(set, k, NULL) == 0;
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            long tc = (long)json_integer_value(json_object_get(t, "tcId"));
            const char *res = json_string_value(json_object_get(t, "result"));
            const char *jws = json_string_value(json_object_get(t, "jws"));
            int ok, sup;
            if (jws == NULL) { /* JSON serialization (tcId 17): not compact */
                tally(name, tc, 0, res, 1);
                continue;
            }
            ok = key_ok && verify_with_set(set, jws);
            sup = token_supported(jws, kj) && (key_ok || strcmp(res, "valid") != 0);
            tally(name, tc, ok, res, sup);
        }
        jose_jwk_free(k);
        jose_jwks_free(set);
    }
    printf("%-45s %4d passed, %d failed, %d skipped\n", name, passed - p0, failed - f0,
           skipped - s0);
    json_decref(d);
}

static void run_jwk_file(const char *dir)
{
    const char *name = "json_web_key_test.json";
    char path[4096];
    json_t *d, *g, *t;
    size_t gi, ti;
    int p0 = passed, f0 = failed, s0 = skipped;

    snprintf(path, sizeof(path), "%s/wycheproof/%s", dir, name);
    d = json_load_file(path, 0, NULL);
    if (d == NULL) {
        printf("FAIL %s: cannot load\n", name);
        failed++;
        return;
    }
    json_array_foreach(json_object_get(d, "testGroups"), gi, g)
    {
        const json_t *kj = json_object_get(g, "public");
        struct jose_jwks *set = NULL;
        struct err e = {0};
        int set_ok;

        if (kj == NULL) {
            kj = json_object_get(g, "private");
        }
        set_ok = jose_jwks_from_json(kj, JOSE_JWKS_ALLOW_PRIVATE, &set, NULL, &e) == 0;
        if (!set_ok && verbose) {
            printf("note %s group %zu: set refused: %s\n", name, gi, e.msg);
        }
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            long tc = (long)json_integer_value(json_object_get(t, "tcId"));
            const char *res = json_string_value(json_object_get(t, "result"));
            const char *jws = json_string_value(json_object_get(t, "jws"));
            int ok = set_ok && jws != NULL && verify_with_set(set, jws);
            tally(name, tc, ok, res, jws != NULL && token_supported(jws, kj));
        }
        jose_jwks_free(set);
    }
    printf("%-45s %4d passed, %d failed, %d skipped\n", name, passed - p0, failed - f0,
           skipped - s0);
    json_decref(d);
}

/* One compact JWS of a cookbook file: verifies with the public half of key
 * (when supported), a flipped signature does not; when si/want are given
 * (reproducible), our signature over si equals want. */
static void cookbook_one(const char *rel, int idx, const char *compact, const json_t *key,
                         const char *alg_name, int expect_valid, const char *si, const char *want)
{
    struct jose_jwk *k = NULL, *pk = NULL;
    struct jose_jwks *set = jose_jwks_new();
    enum jose_alg alg = jose_alg_from_name(alg_name);
    json_t *pub = NULL;
    int ok, sup;

    sup = alg != JOSE_ALG_UNKNOWN && jose_jwk_from_json(key, &k, NULL) == 0;
    if (sup && jose_jwk_to_json(k, 0, &pub, NULL) == 0 && jose_jwk_from_json(pub, &pk, NULL) == 0) {
        sup = jose_jwks_add(set, pk, NULL) == 0;
    }
    ok = sup && verify_with_set(set, compact);
    tally(rel, idx * 10, ok, expect_valid ? "valid" : "invalid", sup || !expect_valid);
    if (sup) {
        char *bad = strdup(compact);
        size_t n = strlen(bad);
        bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
        tally(rel, idx * 10 + 1, verify_with_set(set, bad), "invalid", 1);
        free(bad);
        if (si != NULL && want != NULL) {
            uint8_t *sig = NULL;
            size_t sl = 0;
            char *enc = NULL;
            int same = jose_sig_create(k, alg, si, strlen(si), &sig, &sl, NULL) == 0 &&
                       jose_b64url_encode(sig, sl, &enc, NULL) == 0 && strcmp(enc, want) == 0;
            tally(rel, idx * 10 + 2, same, "valid", 1);
            free(sig);
            free(enc);
        }
    }
    printf("%-45s #%d %s (%s%s)\n", rel, idx, ok ? "verified" : "refused", alg_name,
           sup ? "" : ", unsupported");
    json_decref(pub);
    jose_jwk_free(k);
    jose_jwk_free(pk);
    jose_jwks_free(set);
}

/* A cookbook file: its compact form, or each signature of its general JSON
 * form that has a protected header, rebuilt as compact. */
static void run_cookbook(const char *dir, const char *rel, int expect_valid)
{
    char path[4096];
    const json_t *in, *out, *sg, *sigs, *sj;
    const char *compact;
    size_t i;
    json_t *d;

    snprintf(path, sizeof(path), "%s/jose/rfc7520-cookbook/%s", dir, rel);
    d = json_load_file(path, 0, NULL);
    if (d == NULL) {
        printf("FAIL %s: cannot load\n", rel);
        failed++;
        return;
    }
    in = json_object_get(d, "input");
    out = json_object_get(d, "output");
    sg = json_object_get(d, "signing");
    compact = json_string_value(json_object_get(out, "compact"));
    if (compact != NULL) {
        int repro = json_is_true(json_object_get(d, "reproducible")) && json_is_object(sg);
        cookbook_one(rel, 0, compact, json_object_get(in, "key"),
                     json_string_value(json_object_get(in, "alg")), expect_valid,
                     repro ? json_string_value(json_object_get(sg, "sig-input")) : NULL,
                     repro ? json_string_value(json_object_get(sg, "sig")) : NULL);
        json_decref(d);
        return;
    }
    sigs = json_object_get(json_object_get(out, "json"), "signatures");
    json_array_foreach(sigs, i, sj)
    {
        const char *prot = json_string_value(json_object_get(sj, "protected"));
        const char *payload =
            json_string_value(json_object_get(json_object_get(out, "json"), "payload"));
        const char *sig = json_string_value(json_object_get(sj, "signature"));
        const json_t *key = json_object_get(in, "key"), *alg = json_object_get(in, "alg");
        char *c;
        size_t n;

        if (json_is_array(key)) {
            key = json_array_get(key, i);
            alg = json_array_get(alg, i);
        }
        if (prot == NULL || payload == NULL || sig == NULL) {
            skipped++;
            printf("%-45s #%zu skipped: no protected header, not expressible as compact\n", rel, i);
            continue;
        }
        n = strlen(prot) + strlen(payload) + strlen(sig) + 3;
        c = malloc(n);
        snprintf(c, n, "%s.%s.%s", prot, payload, sig);
        cookbook_one(rel, (int)i, c, key, json_string_value(alg), expect_valid, NULL, NULL);
        free(c);
    }
    json_decref(d);
}

int main(int argc, char **argv)
{
    static const char *const prims[] = {
        "ed25519_test.json", "ecdsa_secp256r1_sha256_p1363_test.json",
        "ecdsa_secp384r1_sha384_p1363_test.json", "rsa_signature_2048_sha256_test.json",
        "rsa_pss_2048_sha256_mgf1_32_test.json"};
    static const struct {
        const char *rel;
        int valid;
    } cook[] = {
        {"jws/4_1.rsa_v15_signature.json", 1},
        {"jws/4_2.rsa-pss_signature.json", 1},
        {"jws/4_3.ecdsa_signature.json", 1},
        {"jws/4_4.hmac-sha2_integrity_protection.json", 1},
        {"jws/4_5.signature_with_detached_content.json", 0}, /* detached: not a token */
        {"jws/4_6.protecting_specific_header_fields.json", 1},
        {"jws/4_7.protecting_content_only.json", 1},
        {"jws/4_8.multiple_signatures.json", 1},
        {"curve25519/jws.json", 1},
        {"rfc7797/hmac-sha2_b64_false.json", 0}, /* b64:false is refused */
        {"rfc7797/4.2.hmac-sha2_b64_false.json", 0},
    };
    const char *shared = getenv("MANDATE_SHARED");
    char dir[4096], probe[4200];
    FILE *f;
    size_t i;

    verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    snprintf(dir, sizeof(dir), "%s/vectors", shared != NULL ? shared : JOSE_SHARED_DEFAULT);
    snprintf(probe, sizeof(probe), "%s/wycheproof/ed25519_test.json", dir);
    if ((f = fopen(probe, "r")) == NULL) {
        printf("skipped: %s not found (set MANDATE_SHARED)\n", dir);
        printf("0 passed, 0 failed, 1 skipped\n");
        return 77;
    }
    fclose(f);
    printf("Counting: valid accepted / invalid refused = passed; 'acceptable' must be refused;\n"
           "unsupported algorithms/keys must be refused: expected-invalid ones count as passed,\n"
           "expected-valid ones as skipped (run with -v to list them).\n");
    for (i = 0; i < sizeof(prims) / sizeof(prims[0]); i++) {
        run_primitive(dir, prims[i]);
    }
    run_jws_file(dir);
    run_jwk_file(dir);
    printf("hmac_sha256_test.json: skipped (HMAC/HS256 is not supported for tokens)\n");
    printf("hkdf_sha256_test.json: skipped (HKDF is not part of the JOSE layer)\n");
    skipped += 2;
    for (i = 0; i < sizeof(cook) / sizeof(cook[0]); i++) {
        run_cookbook(dir, cook[i].rel, cook[i].valid);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed == 0 ? 0 : 1;
}
