/*
 * jws.c: JWS compact serialization (RFC 7515) sign and verify.
 *
 * Verification order: size limit, exactly three segments, strict base64url,
 * header JSON (duplicates refused), header rules (alg supported and allowed,
 * never `none`; no `crit`, since we implement no extension; no `b64:false`),
 * then the key: chosen from the verifier's JWKS by kid, alg, use and key_ops,
 * never from the token (`jwk`, `jku`, `x5u`, `x5c` are ignored), and the key
 * decides the family: an RSA key cannot verify ES256 and no key verifies HS*.
 * ECDSA signatures are raw r||s of exactly twice the field size, converted to
 * DER for OpenSSL.  PSS uses MGF1 with the same hash and a salt of its length.
 */
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"
#include "util/limits.h"

/* ---- primitives ------------------------------------------------------- */

static const EVP_MD *alg_md(enum jose_alg alg)
{
    switch (alg) {
    case JOSE_ALG_ES384:
        return EVP_sha384();
    case JOSE_ALG_EDDSA:
        return NULL;
    default:
        return EVP_sha256();
    }
}

static size_t ec_len(enum jose_alg alg)
{
    return alg == JOSE_ALG_ES384 ? 48 : 32;
}

/* PSS with a salt of the hash length.  MGF1 defaults to the signature hash
 * and PKCS#1 v1.5 is the RSA default: setting them again costs a provider
 * fetch per call (measured: +40% on PS256 verify), so we do not. */
static int set_padding(EVP_PKEY_CTX *pc, enum jose_alg alg)
{
    if (alg == JOSE_ALG_PS256) {
        return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
    }
    return 1;
}

/* raw r||s (2*n bytes) -> DER */
static int ecdsa_raw_to_der(const uint8_t *sig, size_t n, uint8_t **der, int *derlen)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)n, NULL), *s = BN_bin2bn(sig + n, (int)n, NULL);
    int ok = 0;

    *der = NULL;
    if (es != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(es, r, s) == 1) {
        r = s = NULL;
        *derlen = i2d_ECDSA_SIG(es, der);
        ok = *derlen > 0;
    }
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(es);
    return ok;
}

/* DER -> raw r||s of 2*n bytes into out */
static int ecdsa_der_to_raw(const uint8_t *der, size_t derlen, size_t n, uint8_t *out)
{
    const unsigned char *p = der;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
    const BIGNUM *r, *s;
    int ok = 0;

    if (es != NULL) {
        ECDSA_SIG_get0(es, &r, &s);
        ok = BN_bn2binpad(r, out, (int)n) == (int)n && BN_bn2binpad(s, out + n, (int)n) == (int)n;
    }
    ECDSA_SIG_free(es);
    return ok;
}

int jose_sig_create(const struct jose_jwk *k, enum jose_alg alg, const void *data, size_t len,
                    uint8_t **sig, size_t *siglen, struct err *e)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t *buf = NULL, *raw = NULL;
    size_t blen = 0;
    int r = ERR_INTERNAL;

    *sig = NULL;
    *siglen = 0;
    if (mc == NULL || EVP_DigestSignInit(mc, &pc, alg_md(alg), NULL, k->pkey) != 1 ||
        !set_padding(pc, alg) || EVP_DigestSign(mc, NULL, &blen, data, len) != 1 ||
        (buf = malloc(blen)) == NULL || EVP_DigestSign(mc, buf, &blen, data, len) != 1) {
        r = err_set(e, ERR_INTERNAL, "signing failed");
        goto out;
    }
    if (alg == JOSE_ALG_ES256 || alg == JOSE_ALG_ES384) {
        size_t n = ec_len(alg);
        raw = malloc(2 * n);
        if (raw == NULL || !ecdsa_der_to_raw(buf, blen, n, raw)) {
            r = err_set(e, ERR_INTERNAL, "ECDSA signature conversion failed");
            goto out;
        }
        free(buf);
        buf = raw;
        raw = NULL;
        blen = 2 * n;
    }
    *sig = buf;
    *siglen = blen;
    buf = NULL;
    r = 0;
out:
    free(raw);
    free(buf);
    EVP_MD_CTX_free(mc);
    return r;
}

int jose_sig_verify(const struct jose_jwk *k, enum jose_alg alg, const void *data, size_t len,
                    const uint8_t *sig, size_t siglen, struct err *e)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    uint8_t *der = NULL;
    int derlen = 0, r = ERR_AUTH;

    if (mc == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (alg == JOSE_ALG_ES256 || alg == JOSE_ALG_ES384) {
        if (siglen != 2 * ec_len(alg)) {
            r = err_set(e, ERR_AUTH, "ECDSA signature must be %zu bytes, got %zu", 2 * ec_len(alg),
                        siglen);
            goto out;
        }
        if (!ecdsa_raw_to_der(sig, ec_len(alg), &der, &derlen)) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        sig = der;
        siglen = (size_t)derlen;
    } else if ((alg == JOSE_ALG_RS256 || alg == JOSE_ALG_PS256) &&
               siglen != (size_t)EVP_PKEY_get_size(k->pkey)) {
        r = err_set(e, ERR_AUTH, "RSA signature must be %d bytes, got %zu",
                    EVP_PKEY_get_size(k->pkey), siglen);
        goto out;
    }
    if (EVP_DigestVerifyInit(mc, &pc, alg_md(alg), NULL, k->pkey) != 1 || !set_padding(pc, alg)) {
        r = err_set(e, ERR_INTERNAL, "verifier setup failed");
        goto out;
    }
    if (EVP_DigestVerify(mc, sig, siglen, data, len) != 1) {
        r = err_set(e, ERR_AUTH, "signature does not verify");
        goto out;
    }
    r = 0;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_MD_CTX_free(mc);
    return r;
}

/* ---- compact parsing -------------------------------------------------- */

void jose_parts_clear(struct jose_parts *p)
{
    json_decref(p->header);
    free(p->payload);
    free(p->sig);
    memset(p, 0, sizeof(*p));
}

static int split(const char *token, size_t len, struct jose_parts *p)
{
    size_t i, n = 0, start = 0;

    for (i = 0; i <= len; i++) {
        if (i == len || token[i] == '.') {
            if (n == 3) {
                return -1;
            }
            p->seg[n] = token + start;
            p->seglen[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    return n == 3 ? 0 : -1;
}

static int check_header(const json_t *h, unsigned alg_mask, struct jose_parts *p,
                        enum jose_reason *why, struct err *e)
{
    const json_t *alg = json_object_get(h, "alg"), *kid = json_object_get(h, "kid");
    const json_t *b64 = json_object_get(h, "b64");

    if (json_object_size(h) > LIMIT_JOSE_JSON_MEMBERS) {
        return jose_fail(why, JOSE_R_TOO_LARGE, e, ERR_LIMIT, "too many header members");
    }
    if (!json_is_string(alg)) {
        return jose_fail(why, JOSE_R_ALG, e, ERR_AUTH, "header \"alg\" missing or not a string");
    }
    if (strcasecmp(json_string_value(alg), "none") == 0) {
        return jose_fail(why, JOSE_R_ALG, e, ERR_AUTH, "alg \"none\" is never accepted");
    }
    p->alg = jose_alg_from_name(json_string_value(alg));
    if (p->alg == JOSE_ALG_UNKNOWN) {
        return jose_fail(why, JOSE_R_ALG, e, ERR_AUTH, "alg \"%.20s\" is not supported",
                         json_string_value(alg));
    }
    if ((alg_mask & JOSE_ALG_BIT(p->alg)) == 0) {
        return jose_fail(why, JOSE_R_ALG, e, ERR_AUTH, "alg %s is not allowed here",
                         jose_alg_name(p->alg));
    }
    if (json_object_get(h, "crit") != NULL) {
        return jose_fail(why, JOSE_R_HEADER, e, ERR_AUTH,
                         "header \"crit\" names extensions we do not implement");
    }
    if (b64 != NULL && !json_is_true(b64)) {
        return jose_fail(why, JOSE_R_HEADER, e, ERR_AUTH, "\"b64\": false is not supported");
    }
    if (kid != NULL && (!json_is_string(kid) || json_string_length(kid) > LIMIT_JOSE_STR_LEN)) {
        return jose_fail(why, JOSE_R_HEADER, e, ERR_AUTH, "header \"kid\" is not a string");
    }
    return 0;
}

int jose_parts_parse(const char *token, size_t len, unsigned alg_mask, struct jose_parts *p,
                     enum jose_reason *why, struct err *e)
{
    uint8_t *htext = NULL;
    size_t hlen = 0;
    int r;

    memset(p, 0, sizeof(*p));
    if (len > LIMIT_JOSE_TOKEN_MAX) {
        return jose_fail(why, JOSE_R_TOO_LARGE, e, ERR_LIMIT, "token of %zu bytes (max %d)", len,
                         LIMIT_JOSE_TOKEN_MAX);
    }
    if (token == NULL || split(token, len, p) != 0) {
        return jose_fail(why, JOSE_R_MALFORMED, e, ERR_AUTH,
                         "a compact JWS has exactly three segments");
    }
    if (p->seglen[0] == 0) {
        return jose_fail(why, JOSE_R_MALFORMED, e, ERR_AUTH, "empty header");
    }
    if (jose_b64url_decode(p->seg[0], p->seglen[0], &htext, &hlen, e) != 0 ||
        jose_json_load_object((const char *)htext, hlen, &p->header, e) != 0) {
        free(htext);
        r = jose_fail(why, JOSE_R_MALFORMED, e, ERR_AUTH, "header: %s", e != NULL ? e->msg : "");
        goto fail;
    }
    free(htext);
    if ((r = check_header(p->header, alg_mask == 0 ? JOSE_ALGS_ALL : alg_mask, p, why, e)) != 0) {
        goto fail;
    }
    if (p->seglen[2] == 0) {
        r = jose_fail(why, JOSE_R_MALFORMED, e, ERR_AUTH, "empty signature");
        goto fail;
    }
    if (jose_b64url_decode(p->seg[1], p->seglen[1], &p->payload, &p->plen, e) != 0 ||
        jose_b64url_decode(p->seg[2], p->seglen[2], &p->sig, &p->siglen, e) != 0) {
        r = jose_fail(why, JOSE_R_MALFORMED, e, ERR_AUTH, "%s", e != NULL ? e->msg : "");
        goto fail;
    }
    return 0;
fail:
    jose_parts_clear(p);
    return r;
}

int jose_parts_verify(const struct jose_parts *p, const struct jose_jwk *k, enum jose_reason *why,
                      struct err *e)
{
    size_t inlen = p->seglen[0] + 1 + p->seglen[1];
    int r;

    if (!jose_key_allows(k, p->alg)) {
        return jose_fail(why, JOSE_R_ALG, e, ERR_AUTH, "alg %s does not fit the key",
                         jose_alg_name(p->alg));
    }
    r = jose_sig_verify(k, p->alg, p->seg[0], inlen, p->sig, p->siglen, e);
    if (r == ERR_AUTH) {
        return jose_fail(why, JOSE_R_SIGNATURE, e, ERR_AUTH, "%s", e != NULL ? e->msg : "");
    }
    if (r != 0) {
        return jose_fail(why, JOSE_R_INTERNAL, e, r, "%s", e != NULL ? e->msg : "");
    }
    if (why != NULL) {
        *why = JOSE_R_OK;
    }
    return 0;
}

static void hand_out(struct jose_parts *p, json_t **header, uint8_t **payload, size_t *plen)
{
    if (header != NULL) {
        *header = p->header;
        p->header = NULL;
    }
    if (payload != NULL) {
        *payload = p->payload;
        p->payload = NULL;
    }
    if (plen != NULL) {
        *plen = p->plen;
    }
}

static void clear_outs(json_t **header, uint8_t **payload, size_t *plen)
{
    if (header != NULL) {
        *header = NULL;
    }
    if (payload != NULL) {
        *payload = NULL;
    }
    if (plen != NULL) {
        *plen = 0;
    }
}

int jose_jws_verify_key(const struct jose_jwk *key, unsigned alg_mask, const char *token,
                        size_t len, json_t **header, uint8_t **payload, size_t *plen,
                        enum jose_reason *why, struct err *e)
{
    struct jose_parts p;
    int r;

    clear_outs(header, payload, plen);
    if ((r = jose_parts_parse(token, len, alg_mask, &p, why, e)) != 0) {
        return r;
    }
    if ((r = jose_parts_verify(&p, key, why, e)) == 0) {
        hand_out(&p, header, payload, plen);
    }
    jose_parts_clear(&p);
    return r;
}

/* ---- verifier --------------------------------------------------------- */

int jose_verifier_new(const struct jose_jwks *set, unsigned alg_mask, struct jose_verifier **out,
                      struct err *e)
{
    struct jose_verifier *v = calloc(1, sizeof(*v));
    size_t i;
    int r;

    *out = NULL;
    if (alg_mask != 0 && (alg_mask & JOSE_ALGS_ALL) == 0) {
        free(v);
        return err_set(e, ERR_INVALID, "verifier: no supported algorithm allowed");
    }
    if (v == NULL || (v->set = jose_jwks_new()) == NULL) {
        free(v);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    v->alg_mask = alg_mask == 0 ? JOSE_ALGS_ALL : (alg_mask & JOSE_ALGS_ALL);
    for (i = 0; set != NULL && i < set->n; i++) {
        if ((r = jose_jwks_add(v->set, set->keys[i], e)) != 0) {
            jose_verifier_free(v);
            return r;
        }
    }
    *out = v;
    return 0;
}

int jose_verifier_set_use(struct jose_verifier *v, const char *use, struct err *e)
{
    char *u = NULL;

    if (use != NULL && (u = strdup(use)) == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    free(v->use);
    v->use = u;
    return 0;
}

void jose_verifier_free(struct jose_verifier *v)
{
    if (v == NULL) {
        return;
    }
    jose_jwks_free(v->set);
    free(v->use);
    free(v);
}

int jose_jws_verify(const struct jose_verifier *v, const char *token, size_t len, json_t **header,
                    uint8_t **payload, size_t *plen, enum jose_reason *why, struct err *e)
{
    const struct jose_jwk *k = NULL;
    struct jose_parts p;
    int r;

    clear_outs(header, payload, plen);
    if ((r = jose_parts_parse(token, len, v->alg_mask, &p, why, e)) != 0) {
        return r;
    }
    r = jose_jwks_find(v->set, json_string_value(json_object_get(p.header, "kid")), p.alg, v->use,
                       &k, e);
    if (r != 0) {
        r = jose_fail(why, r == ERR_CONFLICT ? JOSE_R_KEY_AMBIGUOUS : JOSE_R_KEY_NOT_FOUND, e,
                      ERR_AUTH, "%s", e != NULL ? e->msg : "");
        goto out;
    }
    if ((r = jose_parts_verify(&p, k, why, e)) == 0) {
        hand_out(&p, header, payload, plen);
    }
out:
    jose_parts_clear(&p);
    return r;
}

/* ---- sign ------------------------------------------------------------- */

/* base64url of the largest signature: RSA LIMIT_JOSE_RSA_BITS_MAX. */
#define SIG_B64_MAX ((LIMIT_JOSE_RSA_BITS_MAX / 8 + 2) / 3 * 4)

static int build_header(const struct jose_jwk *key, enum jose_alg alg, const json_t *extra,
                        json_t **out, struct err *e)
{
    json_t *h = json_object();
    const char *name;
    json_t *v;

    *out = NULL;
    if (h == NULL || json_object_set_new(h, "alg", json_string(jose_alg_name(alg))) != 0 ||
        (key->kid != NULL && json_object_set_new(h, "kid", json_string(key->kid)) != 0)) {
        json_decref(h);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (extra != NULL && !json_is_object(extra)) {
        json_decref(h);
        return err_set(e, ERR_INVALID, "extra header must be an object");
    }
    json_object_foreach((json_t *)extra, name, v)
    {
        if (strcmp(name, "alg") != 0 && json_object_set(h, name, v) != 0) {
            json_decref(h);
            return err_set(e, ERR_NOMEM, "out of memory");
        }
    }
    *out = h;
    return 0;
}

int jose_jws_sign(const struct jose_jwk *key, enum jose_alg alg, const json_t *header_extra,
                  const void *payload, size_t len, char **out, struct err *e)
{
    char *hb = NULL, *pb = NULL, *sb = NULL, *tok = NULL;
    size_t hl = 0, pl = 0, sl = 0, siglen = 0;
    uint8_t *sig = NULL;
    json_t *h = NULL;
    int r;

    *out = NULL;
    if (alg == JOSE_ALG_UNKNOWN) {
        alg = jose_jwk_default_alg(key);
    }
    if (!key->is_private) {
        return err_set(e, ERR_INVALID, "signing needs a private key");
    }
    if (!jose_key_allows(key, alg) || (key->has_key_ops && !(key->key_ops & JOSE_OP_SIGN))) {
        return err_set(e, ERR_INVALID, "alg %s cannot be used with this key",
                       jose_alg_name(alg) != NULL ? jose_alg_name(alg) : "?");
    }
    if ((r = build_header(key, alg, header_extra, &h, e)) != 0 ||
        (r = jose_json_b64url(h, &hb, &hl, e)) != 0) {
        goto out;
    }
    if ((r = jose_b64url_encode(payload, len, &pb, &pl)) != 0) {
        r = err_set(e, r, "payload encoding failed");
        goto out;
    }
    if (hl + pl > LIMIT_JOSE_TOKEN_MAX) {
        r = err_set(e, ERR_LIMIT, "token would exceed %d bytes", LIMIT_JOSE_TOKEN_MAX);
        goto out;
    }
    if ((tok = malloc(hl + pl + 2 + SIG_B64_MAX + 1)) == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(tok, hb, hl);
    tok[hl] = '.';
    memcpy(tok + hl + 1, pb, pl);
    if ((r = jose_sig_create(key, alg, tok, hl + 1 + pl, &sig, &siglen, e)) != 0) {
        goto out;
    }
    if ((r = jose_b64url_encode(sig, siglen, &sb, &sl)) != 0 || sl > SIG_B64_MAX) {
        r = err_set(e, ERR_INTERNAL, "signature encoding failed");
        goto out;
    }
    tok[hl + 1 + pl] = '.';
    memcpy(tok + hl + 2 + pl, sb, sl + 1);
    *out = tok;
    tok = NULL;
    r = 0;
out:
    json_decref(h);
    free(hb);
    free(pb);
    free(sb);
    free(sig);
    free(tok);
    return r;
}
