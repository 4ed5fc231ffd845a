/*
 * jose_bench.c: signs/s and verifies/s of our JOSE layer against raw OpenSSL
 * EVP on the same key and the same message, in the same run.
 *
 * For each algorithm (EdDSA, ES256, ES384, RS256, PS256):
 *   jose sign    jose_jws_sign: header JSON, base64url, sign, (ECDSA: DER ->
 *                raw r||s), compact serialisation
 *   raw sign     EVP_DigestSign over the same signing input (header.payload)
 *   jose verify  jose_jws_verify through a verifier (JWKS + allow-list): size
 *                check, split, base64url, header JSON, kid lookup, verify
 *   raw verify   EVP_DigestVerify over the same signing input and signature
 * The overhead column is (raw rate / jose rate - 1): the cost of the JOSE layer
 * over the bare operation.  Goal: under 10%.
 *
 * Usage: jose_bench [SECONDS_PER_ROUND] (default 0.3; each cell takes the best of
 * ROUNDS rounds, jose and raw interleaved).  A table, not a test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jose/jose.h"

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct err *e)
{
    fprintf(stderr, "jose_bench: %s: %s\n", what, e != NULL ? e->msg : "failed");
    exit(1);
}

static const EVP_MD *md_of(enum jose_alg alg)
{
    switch (alg) {
    case JOSE_ALG_EDDSA:
        return NULL;
    case JOSE_ALG_ES384:
        return EVP_sha384();
    default:
        return EVP_sha256();
    }
}

static int setup_ctx(EVP_MD_CTX *c, EVP_PKEY *pk, enum jose_alg alg, int sign)
{
    EVP_PKEY_CTX *pc = NULL;
    int ok = sign ? EVP_DigestSignInit(c, &pc, md_of(alg), NULL, pk)
                  : EVP_DigestVerifyInit(c, &pc, md_of(alg), NULL, pk);

    if (ok == 1 && alg == JOSE_ALG_PS256) {
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, 32) == 1;
    }
    return ok == 1;
}

/* One raw signature of msg with pk: the DER form for ECDSA, as OpenSSL gives. */
static int raw_sign(EVP_PKEY *pk, enum jose_alg alg, const char *msg, size_t n, unsigned char *sig,
                    size_t *siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && setup_ctx(c, pk, alg, 1) &&
             EVP_DigestSign(c, sig, siglen, (const unsigned char *)msg, n) == 1;

    EVP_MD_CTX_free(c);
    return ok;
}

static int raw_verify(EVP_PKEY *pk, enum jose_alg alg, const char *msg, size_t n,
                      const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c != NULL && setup_ctx(c, pk, alg, 0) &&
             EVP_DigestVerify(c, sig, siglen, (const unsigned char *)msg, n) == 1;

    EVP_MD_CTX_free(c);
    return ok;
}

/* Each cell is measured this many times; the best rate counts. */
#define ROUNDS 3

/* Runs op until secs have passed; returns operations per second. */
#define MEASURE(secs, rate, op)                                                                    \
    do {                                                                                           \
        double t0_ = now_s(), t_ = t0_;                                                            \
        long n_ = 0;                                                                               \
        while (t_ - t0_ < (secs)) {                                                                \
            for (int i_ = 0; i_ < 16; i_++) {                                                      \
                op;                                                                                \
            }                                                                                      \
            n_ += 16;                                                                              \
            t_ = now_s();                                                                          \
        }                                                                                          \
        (rate) = (double)n_ / (t_ - t0_);                                                          \
    } while (0)

static void bench_alg(enum jose_alg alg, const char *payload, double secs)
{
    struct jose_jwk *key = NULL, *pubk = NULL;
    struct jose_jwks *set = NULL;
    struct jose_verifier *v = NULL;
    json_t *pj = NULL;
    char *tok = NULL, *t2 = NULL;
    const char *dot2;
    unsigned char sig[1024];
    size_t siglen = sizeof sig, inlen;
    double js, rs, jv, rv;
    struct err e;
    EVP_PKEY *pk;

    if (jose_jwk_generate(alg, "bench", &key, &e) != 0 || jose_jwk_to_json(key, 0, &pj, &e) != 0 ||
        jose_jwk_from_json(pj, &pubk, &e) != 0) {
        die("key", &e);
    }
    set = jose_jwks_new();
    if (set == NULL || jose_jwks_add(set, pubk, &e) != 0 ||
        jose_verifier_new(set, JOSE_ALG_BIT(alg), &v, &e) != 0) {
        die("verifier", &e);
    }
    pk = jose_jwk_pkey(key);
    if (jose_jws_sign(key, alg, NULL, payload, strlen(payload), &tok, &e) != 0) {
        die("sign", &e);
    }
    dot2 = strrchr(tok, '.');
    inlen = (size_t)(dot2 - tok); /* the signing input: header.payload */
    if (!raw_sign(pk, alg, tok, inlen, sig, &siglen)) {
        die("raw sign", NULL);
    }

    /* Best of ROUNDS, jose and raw interleaved: the machine is shared, and
     * the best round is the one least disturbed by others. */
    js = rs = jv = rv = 0;
    for (int round = 0; round < ROUNDS; round++) {
        double a, b, c, d;

        MEASURE(secs, a, {
            if (jose_jws_sign(key, alg, NULL, payload, strlen(payload), &t2, &e) != 0) {
                die("sign", &e);
            }
            free(t2);
        });
        MEASURE(secs, b, {
            size_t sl = sizeof sig;
            if (!raw_sign(pk, alg, tok, inlen, sig, &sl)) {
                die("raw sign", NULL);
            }
            siglen = sl;
        });
        MEASURE(secs, c, {
            if (jose_jws_verify(v, tok, strlen(tok), NULL, NULL, NULL, NULL, &e) != 0) {
                die("verify", &e);
            }
        });
        MEASURE(secs, d, {
            if (!raw_verify(pk, alg, tok, inlen, sig, siglen)) {
                die("raw verify", NULL);
            }
        });
        js = a > js ? a : js;
        rs = b > rs ? b : rs;
        jv = c > jv ? c : jv;
        rv = d > rv ? d : rv;
    }
    printf("| %-6s | %10.0f | %10.0f | %7.1f%% | %10.0f | %10.0f | %7.1f%% |\n", jose_alg_name(alg),
           js, rs, (rs / js - 1) * 100, jv, rv, (rv / jv - 1) * 100);
    fflush(stdout);
    free(tok);
    json_decref(pj);
    jose_verifier_free(v);
    jose_jwks_free(set);
    jose_jwk_free(pubk);
    jose_jwk_free(key);
}

int main(int argc, char **argv)
{
    static const enum jose_alg algs[] = {JOSE_ALG_EDDSA, JOSE_ALG_ES256, JOSE_ALG_ES384,
                                         JOSE_ALG_RS256, JOSE_ALG_PS256};
    /* A task token's claims, as the broker issues them (about 600 bytes). */
    const char *payload =
        "{\"iss\":\"https://mandate.example\",\"sub\":\"spiffe://corp.example/agents/refund-bot\","
        "\"aud\":\"https://payments.example\",\"iat\":1800000000,\"exp\":1800000300,"
        "\"jti\":\"0f8fad5b-d9cb-469f-a165-70867728950e\",\"task\":\"t-2026-0001\","
        "\"intent\":\"refund-small\",\"env\":\"prod\",\"cnf\":{\"jkt\":"
        "\"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I\"},\"act\":{\"sub\":"
        "\"spiffe://corp.example/agents/refund-bot\"},\"authorization_details\":[{\"type\":"
        "\"mandate_task\",\"intent\":\"refund-small\",\"tools\":[\"payments.refund\"],"
        "\"actions\":[\"create\"],\"data_labels\":[\"pii.low\"],\"downstream\":"
        "[\"payments.example\"],\"ttl\":300}]}";
    double secs = 0.3;
    size_t i;

    if (argc > 1) {
        char *end = NULL;

        secs = strtod(argv[1], &end);
        if (end == argv[1] || *end != '\0' || secs <= 0 || secs > 60) {
            fprintf(stderr, "usage: jose_bench [SECONDS_PER_ROUND (0-60]]\n");
            return 2;
        }
    }
    printf("jose_bench: %s, payload %zu bytes, best of %d rounds of %.2fs per cell\n\n",
           OpenSSL_version(OPENSSL_VERSION), strlen(payload), ROUNDS, secs);
    printf("| alg    | jose sign/s | raw sign/s | overhead | jose verify/s | raw verify/s | "
           "overhead |\n");
    printf("|--------|------------:|-----------:|---------:|--------------:|-------------:|"
           "---------:|\n");
    for (i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        bench_alg(algs[i], payload, secs);
    }
    return 0;
}
