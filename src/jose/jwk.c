/*
 * jwk.c: JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037) and key
 * sets, as OpenSSL EVP_PKEYs.
 *
 * Only keys that can carry the signatures we accept are parsed: OKP Ed25519,
 * EC P-256 and P-384, RSA 2048..8192 bits.  Every key is checked on load:
 * points on the curve, exact coordinate lengths, RSA exponent sanity, the
 * ROCA fingerprint, private halves matching public ones.  The key's `alg`,
 * `use` and `key_ops` members narrow what it may verify (jose_key_allows and
 * jose_jwks_find).  A JWKS refuses duplicate kids and mixed public/private
 * sets (Wycheproof "MixedKeySet", "DuplicateKid").
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"
#include "util/limits.h"
#include "util/wipe.h"

/* ---- small helpers ---------------------------------------------------- */

static struct jose_jwk *jwk_new(void)
{
    struct jose_jwk *k = calloc(1, sizeof(*k));

    if (k != NULL) {
        atomic_init(&k->refs, 1);
    }
    return k;
}

struct jose_jwk *jose_jwk_ref(struct jose_jwk *k)
{
    if (k != NULL) {
        atomic_fetch_add(&k->refs, 1);
    }
    return k;
}

void jose_jwk_free(struct jose_jwk *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1) {
        return;
    }
    EVP_PKEY_free(k->pkey);
    free(k->kid);
    free(k->use);
    free(k);
}

enum jose_kty jose_jwk_kty(const struct jose_jwk *k)
{
    return k->kty;
}
const char *jose_jwk_kid(const struct jose_jwk *k)
{
    return k->kid;
}
const char *jose_jwk_use(const struct jose_jwk *k)
{
    return k->use;
}
enum jose_alg jose_jwk_alg(const struct jose_jwk *k)
{
    return k->alg;
}
unsigned jose_jwk_alg_mask(const struct jose_jwk *k)
{
    return k->alg_mask;
}
int jose_jwk_is_private(const struct jose_jwk *k)
{
    return k->is_private;
}
EVP_PKEY *jose_jwk_pkey(const struct jose_jwk *k)
{
    return k->pkey;
}

enum jose_alg jose_jwk_default_alg(const struct jose_jwk *k)
{
    if (k->alg != JOSE_ALG_UNKNOWN) {
        return k->alg;
    }
    switch (k->kty) {
    case JOSE_KTY_OKP:
        return JOSE_ALG_EDDSA;
    case JOSE_KTY_EC:
        return k->nid == NID_secp384r1 ? JOSE_ALG_ES384 : JOSE_ALG_ES256;
    case JOSE_KTY_RSA:
        return JOSE_ALG_RS256;
    }
    return JOSE_ALG_UNKNOWN;
}

/* Algorithms a key of this type and curve can verify. */
static unsigned family_mask(enum jose_kty kty, int nid)
{
    switch (kty) {
    case JOSE_KTY_OKP:
        return JOSE_ALG_BIT(JOSE_ALG_EDDSA);
    case JOSE_KTY_EC:
        return nid == NID_secp384r1 ? JOSE_ALG_BIT(JOSE_ALG_ES384) : JOSE_ALG_BIT(JOSE_ALG_ES256);
    case JOSE_KTY_RSA:
        return JOSE_ALG_BIT(JOSE_ALG_RS256) | JOSE_ALG_BIT(JOSE_ALG_PS256);
    }
    return 0;
}

int jose_key_allows(const struct jose_jwk *k, enum jose_alg alg)
{
    return alg != JOSE_ALG_UNKNOWN && (k->alg_mask & JOSE_ALG_BIT(alg)) != 0;
}

static int ec_field_len(int nid)
{
    return nid == NID_secp384r1 ? 48 : 32;
}

static int dup_str_member(const json_t *obj, const char *name, char **out, struct err *e)
{
    const json_t *v = json_object_get(obj, name);

    *out = NULL;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_string(v) || json_string_length(v) == 0 ||
        json_string_length(v) > LIMIT_JOSE_STR_LEN) {
        return err_set(e, ERR_INVALID, "JWK: \"%s\" must be a non-empty string", name);
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        return err_set(e, ERR_INVALID, "JWK: \"%s\" contains NUL", name);
    }
    *out = strdup(json_string_value(v));
    return *out == NULL ? err_set(e, ERR_NOMEM, "out of memory") : 0;
}

/* ---- common members: kid, use, key_ops, alg --------------------------- */

static int parse_key_ops(struct jose_jwk *k, const json_t *ops, struct err *e)
{
    size_t i, j;
    const json_t *v;

    if (ops == NULL) {
        return 0;
    }
    if (!json_is_array(ops) || json_array_size(ops) > 16) {
        return err_set(e, ERR_INVALID, "JWK: \"key_ops\" must be an array of strings");
    }
    k->has_key_ops = 1;
    json_array_foreach(ops, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL) {
            return err_set(e, ERR_INVALID, "JWK: \"key_ops\" must be an array of strings");
        }
        for (j = 0; j < i; j++) {
            if (json_equal(json_array_get(ops, j), v)) {
                return err_set(e, ERR_INVALID, "JWK: duplicate \"key_ops\" value \"%s\"", s);
            }
        }
        if (strcmp(s, "sign") == 0) {
            k->key_ops |= JOSE_OP_SIGN;
        } else if (strcmp(s, "verify") == 0) {
            k->key_ops |= JOSE_OP_VERIFY;
        } else {
            k->key_ops |= JOSE_OP_OTHER;
        }
    }
    return 0;
}

static int parse_common(struct jose_jwk *k, const json_t *obj, struct err *e)
{
    const json_t *alg = json_object_get(obj, "alg");
    int r;

    if ((r = dup_str_member(obj, "kid", &k->kid, e)) != 0 ||
        (r = dup_str_member(obj, "use", &k->use, e)) != 0 ||
        (r = parse_key_ops(k, json_object_get(obj, "key_ops"), e)) != 0) {
        return r;
    }
    if (alg != NULL) {
        if (!json_is_string(alg)) {
            return err_set(e, ERR_INVALID, "JWK: \"alg\" must be a string");
        }
        k->alg = jose_alg_from_name(json_string_value(alg));
        if (k->alg == JOSE_ALG_UNKNOWN) {
            return err_set(e, ERR_UNSUPPORTED, "JWK: unsupported \"alg\" \"%.40s\"",
                           json_string_value(alg));
        }
    }
    return 0;
}

/* ---- OKP (Ed25519) ---------------------------------------------------- */

static int parse_okp(struct jose_jwk *k, const json_t *obj, struct err *e)
{
    uint8_t *x = NULL, *d = NULL, pub[32];
    size_t xlen, dlen, publen = sizeof(pub);
    int r;

    if (!json_is_string(json_object_get(obj, "crv")) ||
        strcmp(json_string_value(json_object_get(obj, "crv")), "Ed25519") != 0) {
        return err_set(e, ERR_UNSUPPORTED, "JWK: OKP curve must be Ed25519");
    }
    k->nid = NID_ED25519;
    if ((r = jose_b64url_member(obj, "x", &x, &xlen, e)) != 0) {
        goto out;
    }
    if (xlen != 32) {
        r = err_set(e, ERR_INVALID, "JWK: Ed25519 \"x\" must be 32 bytes");
        goto out;
    }
    if (json_object_get(obj, "d") != NULL) {
        if ((r = jose_b64url_member(obj, "d", &d, &dlen, e)) != 0) {
            goto out;
        }
        if (dlen != 32) {
            r = err_set(e, ERR_INVALID, "JWK: Ed25519 \"d\" must be 32 bytes");
            goto out;
        }
        k->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, d, dlen);
        k->is_private = 1;
        if (k->pkey == NULL || EVP_PKEY_get_raw_public_key(k->pkey, pub, &publen) != 1 ||
            publen != 32 || CRYPTO_memcmp(pub, x, 32) != 0) {
            r = err_set(e, ERR_INVALID, "JWK: Ed25519 \"d\" does not match \"x\"");
            goto out;
        }
    } else {
        k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, xlen);
        if (k->pkey == NULL) {
            r = err_set(e, ERR_INVALID, "JWK: bad Ed25519 public key");
            goto out;
        }
    }
    r = 0;
out:
    free(x);
    if (d != NULL) {
        wipe(d, dlen);
        free(d);
    }
    return r;
}

/* ---- EC (P-256, P-384) ------------------------------------------------ */

static int check_pkey(EVP_PKEY *pkey, int priv)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    int ok;

    if (c == NULL) {
        return 0;
    }
    ok = EVP_PKEY_public_check(c) == 1;
    if (ok && priv) {
        ok = EVP_PKEY_pairwise_check(c) == 1;
    }
    EVP_PKEY_CTX_free(c);
    return ok;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (params != NULL && c != NULL && EVP_PKEY_fromdata_init(c) == 1) {
        if (EVP_PKEY_fromdata(c, &pkey, selection, params) != 1) {
            pkey = NULL;
        }
    }
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    return pkey;
}

static int parse_ec(struct jose_jwk *k, const json_t *obj, struct err *e)
{
    const char *crv = json_string_value(json_object_get(obj, "crv"));
    uint8_t *x = NULL, *y = NULL, *d = NULL, pt[1 + 2 * 48];
    size_t xlen = 0, ylen = 0, dlen = 0, flen;
    OSSL_PARAM_BLD *bld = NULL;
    BIGNUM *dbn = NULL;
    int r;

    if (crv != NULL && strcmp(crv, "P-256") == 0) {
        k->nid = NID_X9_62_prime256v1;
    } else if (crv != NULL && strcmp(crv, "P-384") == 0) {
        k->nid = NID_secp384r1;
    } else {
        return err_set(e, ERR_UNSUPPORTED, "JWK: EC curve must be P-256 or P-384");
    }
    flen = (size_t)ec_field_len(k->nid);
    if ((r = jose_b64url_member(obj, "x", &x, &xlen, e)) != 0 ||
        (r = jose_b64url_member(obj, "y", &y, &ylen, e)) != 0) {
        goto out;
    }
    if (xlen != flen || ylen != flen) {
        r = err_set(e, ERR_INVALID, "JWK: EC \"x\" and \"y\" must be %zu bytes for %s", flen, crv);
        goto out;
    }
    pt[0] = 4;
    memcpy(pt + 1, x, flen);
    memcpy(pt + 1 + flen, y, flen);
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL ||
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, OBJ_nid2sn(k->nid), 0) !=
            1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * flen) != 1) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (json_object_get(obj, "d") != NULL) {
        if ((r = jose_b64url_member(obj, "d", &d, &dlen, e)) != 0) {
            goto out;
        }
        if (dlen != flen) {
            r = err_set(e, ERR_INVALID, "JWK: EC \"d\" must be %zu bytes", flen);
            goto out;
        }
        dbn = BN_secure_new();
        if (dbn == NULL || BN_bin2bn(d, (int)dlen, dbn) == NULL ||
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, dbn) != 1) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        k->is_private = 1;
    }
    k->pkey = pkey_fromdata("EC", bld, k->is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (k->pkey == NULL || !check_pkey(k->pkey, k->is_private)) {
        r = err_set(e, ERR_INVALID, "JWK: EC key is not valid (point not on %s, or d mismatch)",
                    crv);
        goto out;
    }
    r = 0;
out:
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(dbn);
    free(x);
    free(y);
    if (d != NULL) {
        wipe(d, dlen);
        free(d);
    }
    return r;
}

/* ---- RSA -------------------------------------------------------------- */

/* ROCA (CVE-2017-15361): moduli from the Infineon library are, modulo each of
 * these small primes, in the subgroup generated by 65537.  Same test as the
 * authors' detector (crocs-muni/roca). */
static const unsigned roca_primes[] = {
    3,  5,  7,  11, 13, 17,  19,  23,  29,  31,  37,  41,  43,  47,  53,  59,  61,  67,  71,
    73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167};

static int roca_fingerprint(const BIGNUM *n)
{
    size_t i;

    for (i = 0; i < sizeof(roca_primes) / sizeof(roca_primes[0]); i++) {
        unsigned p = roca_primes[i], g = 65537 % p, x = 1, j;
        BN_ULONG rem = BN_mod_word(n, p);
        int found = 0;

        for (j = 0; j < p && !found; j++) {
            found = x == rem;
            x = x * g % p;
        }
        if (!found) {
            return 0;
        }
    }
    return 1;
}

static const char *const rsa_priv_names[] = {"d", "p", "q", "dp", "dq", "qi"};
static const char *const rsa_priv_params[] = {
    OSSL_PKEY_PARAM_RSA_D,         OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,
    OSSL_PKEY_PARAM_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1};

static int b64_bn(const json_t *obj, const char *name, BIGNUM **bn, struct err *e)
{
    uint8_t *b = NULL;
    size_t len;
    int r;

    *bn = NULL;
    if ((r = jose_b64url_member(obj, name, &b, &len, e)) != 0) {
        return r;
    }
    if (len == 0 || len > LIMIT_JOSE_RSA_BITS_MAX / 8 + 1) {
        free(b);
        return err_set(e, ERR_INVALID, "JWK: RSA \"%s\" has a bad length", name);
    }
    *bn = BN_secure_new();
    if (*bn == NULL || BN_bin2bn(b, (int)len, *bn) == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
    }
    wipe(b, len);
    free(b);
    return r;
}

static int rsa_check_public(const BIGNUM *n, const BIGNUM *ev, struct err *e)
{
    int bits = BN_num_bits(n);

    if (bits < LIMIT_JOSE_RSA_BITS_MIN) {
        return err_set(e, ERR_INVALID, "JWK: RSA modulus of %d bits is too small (min %d)", bits,
                       LIMIT_JOSE_RSA_BITS_MIN);
    }
    if (bits > LIMIT_JOSE_RSA_BITS_MAX) {
        return err_set(e, ERR_LIMIT, "JWK: RSA modulus of %d bits is too large", bits);
    }
    if (!BN_is_odd(n)) {
        return err_set(e, ERR_INVALID, "JWK: RSA modulus is even");
    }
    if (!BN_is_odd(ev) || BN_num_bits(ev) < 2 || BN_num_bits(ev) > 64 || BN_cmp(ev, n) >= 0) {
        return err_set(e, ERR_INVALID, "JWK: RSA exponent must be odd, >= 3 and at most 64 bits");
    }
    if (roca_fingerprint(n)) {
        return err_set(e, ERR_INVALID,
                       "JWK: RSA modulus has the ROCA fingerprint "
                       "(CVE-2017-15361)");
    }
    return 0;
}

static int parse_rsa(struct jose_jwk *k, const json_t *obj, struct err *e)
{
    BIGNUM *n = NULL, *ev = NULL, *priv[6] = {NULL};
    OSSL_PARAM_BLD *bld = NULL;
    size_t i, npriv = 0;
    int r;

    k->nid = NID_rsaEncryption;
    if ((r = b64_bn(obj, "n", &n, e)) != 0 || (r = b64_bn(obj, "e", &ev, e)) != 0 ||
        (r = rsa_check_public(n, ev, e)) != 0) {
        goto out;
    }
    for (i = 0; i < 6; i++) {
        npriv += json_object_get(obj, rsa_priv_names[i]) != NULL;
    }
    if (npriv != 0 && npriv != 6) {
        r = err_set(e, ERR_UNSUPPORTED, "JWK: RSA private keys need d, p, q, dp, dq and qi");
        goto out;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, ev) != 1) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < npriv; i++) {
        if ((r = b64_bn(obj, rsa_priv_names[i], &priv[i], e)) != 0) {
            goto out;
        }
        if (OSSL_PARAM_BLD_push_BN(bld, rsa_priv_params[i], priv[i]) != 1) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    k->is_private = npriv != 0;
    k->pkey = pkey_fromdata("RSA", bld, k->is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
    if (k->pkey == NULL || (k->is_private && !check_pkey(k->pkey, 1))) {
        r = err_set(e, ERR_INVALID, "JWK: RSA key is not valid");
        goto out;
    }
    r = 0;
out:
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(ev);
    for (i = 0; i < 6; i++) {
        BN_clear_free(priv[i]);
    }
    return r;
}

/* ---- parse ------------------------------------------------------------ */

int jose_jwk_from_json(const json_t *obj, struct jose_jwk **out, struct err *e)
{
    const char *kty = json_string_value(json_object_get(obj, "kty"));
    struct jose_jwk *k = NULL;
    unsigned fam;
    int r;

    *out = NULL;
    if (!json_is_object(obj)) {
        return err_set(e, ERR_INVALID, "JWK: not a JSON object");
    }
    if (json_object_size(obj) > LIMIT_JOSE_JSON_MEMBERS) {
        return err_set(e, ERR_LIMIT, "JWK: too many members");
    }
    if (kty == NULL) {
        return err_set(e, ERR_INVALID, "JWK: \"kty\" missing or not a string");
    }
    k = jwk_new();
    if (k == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if ((r = parse_common(k, obj, e)) != 0) {
        goto out;
    }
    if (strcmp(kty, "OKP") == 0) {
        k->kty = JOSE_KTY_OKP;
        r = parse_okp(k, obj, e);
    } else if (strcmp(kty, "EC") == 0) {
        k->kty = JOSE_KTY_EC;
        r = parse_ec(k, obj, e);
    } else if (strcmp(kty, "RSA") == 0) {
        k->kty = JOSE_KTY_RSA;
        r = parse_rsa(k, obj, e);
    } else {
        r = err_set(e, ERR_UNSUPPORTED,
                    "JWK: unsupported kty \"%.20s\" (oct keys and HMAC are "
                    "not supported)",
                    kty);
    }
    if (r != 0) {
        goto out;
    }
    fam = family_mask(k->kty, k->nid);
    if (k->alg != JOSE_ALG_UNKNOWN && (fam & JOSE_ALG_BIT(k->alg)) == 0) {
        r = err_set(e, ERR_INVALID, "JWK: \"alg\" %s does not fit this key type or curve",
                    jose_alg_name(k->alg));
        goto out;
    }
    k->alg_mask = k->alg != JOSE_ALG_UNKNOWN ? JOSE_ALG_BIT(k->alg) : fam;
    *out = k;
    k = NULL;
    r = 0;
out:
    jose_jwk_free(k);
    return r;
}

int jose_jwk_parse(const char *text, size_t len, struct jose_jwk **out, struct err *e)
{
    json_t *j = NULL;
    int r;

    *out = NULL;
    if (len > LIMIT_JOSE_JWKS_TEXT_MAX) {
        return err_set(e, ERR_LIMIT, "JWK: text over %d bytes", LIMIT_JOSE_JWKS_TEXT_MAX);
    }
    if ((r = jose_json_load_object(text, len, &j, e)) != 0) {
        return err_prefix(e, "JWK: ");
    }
    r = jose_jwk_from_json(j, out, e);
    json_decref(j);
    return r;
}

/* Sets kty and nid of k from its EVP_PKEY. */
static int pkey_kind(struct jose_jwk *k, struct err *e)
{
    char group[32];

    if (EVP_PKEY_is_a(k->pkey, "ED25519")) {
        k->kty = JOSE_KTY_OKP;
        k->nid = NID_ED25519;
    } else if (EVP_PKEY_is_a(k->pkey, "RSA")) {
        k->kty = JOSE_KTY_RSA;
        k->nid = NID_rsaEncryption;
    } else if (EVP_PKEY_is_a(k->pkey, "EC")) {
        k->kty = JOSE_KTY_EC;
        if (EVP_PKEY_get_utf8_string_param(k->pkey, OSSL_PKEY_PARAM_GROUP_NAME, group,
                                           sizeof(group), NULL) != 1) {
            return err_set(e, ERR_INVALID, "EC key without a named group");
        }
        k->nid = OBJ_sn2nid(group);
        if (k->nid != NID_X9_62_prime256v1 && k->nid != NID_secp384r1) {
            return err_set(e, ERR_UNSUPPORTED, "EC curve %s is not supported", group);
        }
    } else {
        return err_set(e, ERR_UNSUPPORTED, "key type not supported");
    }
    return 0;
}

static int pkey_is_private(const struct jose_jwk *k)
{
    BIGNUM *priv = NULL;
    uint8_t raw[64];
    size_t rl = sizeof(raw);
    int yes;

    if (k->kty == JOSE_KTY_OKP) {
        yes = EVP_PKEY_get_raw_private_key(k->pkey, raw, &rl) == 1;
        wipe(raw, sizeof(raw));
        return yes;
    }
    yes = EVP_PKEY_get_bn_param(
              k->pkey, k->kty == JOSE_KTY_EC ? OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D,
              &priv) == 1;
    BN_clear_free(priv);
    return yes;
}

int jose_jwk_from_pkey(EVP_PKEY *pkey, enum jose_alg alg, const char *kid, struct jose_jwk **out,
                       struct err *e)
{
    struct jose_jwk *k, *chk = NULL;
    json_t *pub = NULL;
    int r;

    *out = NULL;
    if (pkey == NULL) {
        return err_set(e, ERR_INVALID, "no key");
    }
    k = jwk_new();
    if (k == NULL || EVP_PKEY_up_ref(pkey) != 1) {
        free(k);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    k->pkey = pkey;
    if ((r = pkey_kind(k, e)) != 0) {
        goto out;
    }
    k->is_private = pkey_is_private(k);
    if (alg != JOSE_ALG_UNKNOWN && (family_mask(k->kty, k->nid) & JOSE_ALG_BIT(alg)) == 0) {
        r = err_set(e, ERR_INVALID, "alg %s does not fit the key", jose_alg_name(alg));
        goto out;
    }
    k->alg = alg;
    k->alg_mask = alg != JOSE_ALG_UNKNOWN ? JOSE_ALG_BIT(alg) : family_mask(k->kty, k->nid);
    if (kid != NULL && (k->kid = strdup(kid)) == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    /* The public half goes through the same checks as a parsed JWK (RSA
     * size and exponent, ROCA, points on the curve). */
    if ((r = jose_jwk_to_json(k, 0, &pub, e)) != 0 || (r = jose_jwk_from_json(pub, &chk, e)) != 0) {
        goto out;
    }
    *out = k;
    k = NULL;
    r = 0;
out:
    jose_jwk_free(chk);
    json_decref(pub);
    jose_jwk_free(k);
    return r;
}

/* ---- export ----------------------------------------------------------- */

static int set_b64(json_t *obj, const char *name, const uint8_t *b, size_t n)
{
    char *s = NULL;
    int r = jose_b64url_encode(b, n, &s, NULL);

    if (r == 0) {
        r = json_object_set_new(obj, name, json_string(s)) == 0 ? 0 : ERR_NOMEM;
    }
    if (s != NULL) {
        wipe(s, strlen(s));
        free(s);
    }
    return r;
}

static int set_bn(json_t *obj, const char *name, EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    uint8_t *b = NULL;
    int n, r = ERR_INTERNAL;

    if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1) {
        return ERR_INTERNAL;
    }
    n = pad > 0 ? pad : BN_num_bytes(bn);
    if (n == 0) {
        n = 1;
    }
    b = malloc((size_t)n);
    if (b != NULL && BN_bn2binpad(bn, b, n) == n) {
        r = set_b64(obj, name, b, (size_t)n);
    }
    if (b != NULL) {
        wipe(b, (size_t)n);
    }
    free(b);
    BN_clear_free(bn);
    return r;
}

static int export_okp(const struct jose_jwk *k, json_t *o, int with_private)
{
    uint8_t raw[32];
    size_t len = sizeof(raw);
    int r;

    if (json_object_set_new(o, "crv", json_string("Ed25519")) != 0 ||
        EVP_PKEY_get_raw_public_key(k->pkey, raw, &len) != 1 || len != 32 ||
        (r = set_b64(o, "x", raw, len)) != 0) {
        return ERR_INTERNAL;
    }
    if (with_private) {
        len = sizeof(raw);
        if (EVP_PKEY_get_raw_private_key(k->pkey, raw, &len) != 1) {
            return ERR_INTERNAL;
        }
        r = set_b64(o, "d", raw, len);
        wipe(raw, sizeof(raw));
        return r;
    }
    return 0;
}

static int export_members(const struct jose_jwk *k, json_t *o, int with_private)
{
    int fl = ec_field_len(k->nid), r = ERR_INTERNAL;
    size_t i;

    switch (k->kty) {
    case JOSE_KTY_OKP:
        if (json_object_set_new(o, "kty", json_string("OKP")) != 0) {
            return ERR_NOMEM;
        }
        return export_okp(k, o, with_private);
    case JOSE_KTY_EC:
        if (json_object_set_new(o, "kty", json_string("EC")) != 0 ||
            json_object_set_new(o, "crv",
                                json_string(k->nid == NID_secp384r1 ? "P-384" : "P-256")) != 0 ||
            (r = set_bn(o, "x", k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, fl)) != 0 ||
            (r = set_bn(o, "y", k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, fl)) != 0) {
            return r;
        }
        return with_private ? set_bn(o, "d", k->pkey, OSSL_PKEY_PARAM_PRIV_KEY, fl) : 0;
    case JOSE_KTY_RSA:
        if (json_object_set_new(o, "kty", json_string("RSA")) != 0 ||
            (r = set_bn(o, "n", k->pkey, OSSL_PKEY_PARAM_RSA_N, 0)) != 0 ||
            (r = set_bn(o, "e", k->pkey, OSSL_PKEY_PARAM_RSA_E, 0)) != 0) {
            return r;
        }
        for (i = 0; with_private && i < 6; i++) {
            if ((r = set_bn(o, rsa_priv_names[i], k->pkey, rsa_priv_params[i], 0)) != 0) {
                return r;
            }
        }
        return 0;
    }
    return ERR_INTERNAL;
}

int jose_jwk_public_members(const struct jose_jwk *k, json_t **out, struct err *e)
{
    json_t *o = json_object();
    int r;

    *out = NULL;
    if (o == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if ((r = export_members(k, o, 0)) != 0) {
        json_decref(o);
        return err_set(e, r, "JWK: cannot export the key");
    }
    *out = o;
    return 0;
}

int jose_jwk_to_json(const struct jose_jwk *k, int with_private, json_t **out, struct err *e)
{
    json_t *o = NULL, *ops = NULL;
    int r;

    *out = NULL;
    if (with_private && !k->is_private) {
        return err_set(e, ERR_INVALID, "JWK: the key has no private part");
    }
    o = json_object();
    if (o == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if ((r = export_members(k, o, with_private)) != 0) {
        r = err_set(e, r, "JWK: cannot export the key");
        goto out;
    }
    if ((k->kid != NULL && json_object_set_new(o, "kid", json_string(k->kid)) != 0) ||
        (k->use != NULL && json_object_set_new(o, "use", json_string(k->use)) != 0) ||
        (k->alg != JOSE_ALG_UNKNOWN &&
         json_object_set_new(o, "alg", json_string(jose_alg_name(k->alg))) != 0)) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (k->has_key_ops) {
        ops = json_array();
        if (ops == NULL ||
            ((k->key_ops & JOSE_OP_SIGN) && with_private &&
             json_array_append_new(ops, json_string("sign")) != 0) ||
            ((k->key_ops & JOSE_OP_VERIFY) &&
             json_array_append_new(ops, json_string("verify")) != 0)) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
        r = json_object_set_new(o, "key_ops", ops); /* steals ops, even on failure */
        ops = NULL;
        if (r != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = o;
    o = NULL;
    r = 0;
out:
    json_decref(ops);
    json_decref(o);
    return r;
}

int jose_jwk_thumbprint(const struct jose_jwk *k, char out[JOSE_JKT_LEN + 1], struct err *e)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    json_t *pub = NULL;
    char *s = NULL, *b = NULL;
    int r;

    out[0] = '\0';
    if ((r = jose_jwk_public_members(k, &pub, e)) != 0) {
        return r;
    }
    /* RFC 7638: required members only, sorted, no whitespace: exactly what
     * jansson's compact sorted dump gives for these ASCII-only values. */
    s = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(pub);
    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        free(s);
        return err_set(e, ERR_INTERNAL, "SHA-256 failed");
    }
    free(s);
    if ((r = jose_b64url_encode(md, mdlen, &b, NULL)) != 0) {
        return err_set(e, r, "out of memory");
    }
    memcpy(out, b, JOSE_JKT_LEN + 1);
    free(b);
    return 0;
}

/* ---- generate --------------------------------------------------------- */

int jose_jwk_generate(enum jose_alg alg, const char *kid, struct jose_jwk **out, struct err *e)
{
    EVP_PKEY *pkey = NULL;
    char jkt[JOSE_JKT_LEN + 1];
    int r;

    *out = NULL;
    switch (alg) {
    case JOSE_ALG_EDDSA:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        break;
    case JOSE_ALG_ES256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case JOSE_ALG_ES384:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    case JOSE_ALG_RS256:
    case JOSE_ALG_PS256:
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    default:
        return err_set(e, ERR_UNSUPPORTED, "cannot generate a key for this algorithm");
    }
    if (pkey == NULL) {
        return err_set(e, ERR_INTERNAL, "key generation failed");
    }
    r = jose_jwk_from_pkey(pkey, alg, kid, out, e);
    EVP_PKEY_free(pkey);
    if (r != 0 || kid != NULL) {
        return r;
    }
    if ((r = jose_jwk_thumbprint(*out, jkt, e)) != 0 || ((*out)->kid = strdup(jkt)) == NULL) {
        jose_jwk_free(*out);
        *out = NULL;
        return r != 0 ? r : err_set(e, ERR_NOMEM, "out of memory");
    }
    return 0;
}

/* ---- JWKS ------------------------------------------------------------- */

struct jose_jwks *jose_jwks_new(void)
{
    return calloc(1, sizeof(struct jose_jwks));
}

void jose_jwks_free(struct jose_jwks *set)
{
    size_t i;

    if (set == NULL) {
        return;
    }
    for (i = 0; i < set->n; i++) {
        jose_jwk_free(set->keys[i]);
    }
    free(set->keys);
    free(set);
}

size_t jose_jwks_count(const struct jose_jwks *set)
{
    return set->n;
}

const struct jose_jwk *jose_jwks_get(const struct jose_jwks *set, size_t i)
{
    return i < set->n ? set->keys[i] : NULL;
}

int jose_jwks_add(struct jose_jwks *set, struct jose_jwk *k, struct err *e)
{
    size_t i;

    for (i = 0; k->kid != NULL && i < set->n; i++) {
        if (set->keys[i]->kid != NULL && strcmp(set->keys[i]->kid, k->kid) == 0) {
            return err_set(e, ERR_CONFLICT, "JWKS: duplicate kid \"%.64s\"", k->kid);
        }
    }
    if (set->n >= LIMIT_JOSE_JWKS_KEYS) {
        return err_set(e, ERR_LIMIT, "JWKS: more than %d keys", LIMIT_JOSE_JWKS_KEYS);
    }
    if (set->n == set->cap) {
        size_t cap = set->cap == 0 ? 4 : set->cap * 2;
        struct jose_jwk **nk = realloc(set->keys, cap * sizeof(*nk));
        if (nk == NULL) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        set->keys = nk;
        set->cap = cap;
    }
    set->keys[set->n++] = jose_jwk_ref(k);
    return 0;
}

static int jwks_add_json(struct jose_jwks *set, const json_t *kj, size_t idx, unsigned flags,
                         size_t *skipped, struct err *e)
{
    struct jose_jwk *k = NULL;
    int r = jose_jwk_from_json(kj, &k, e);

    if (r != 0 && r != ERR_NOMEM && (flags & JOSE_JWKS_SKIP_UNSUPPORTED)) {
        (*skipped)++;
        err_clear(e);
        return 0;
    }
    if (r == 0 && k->is_private && !(flags & JOSE_JWKS_ALLOW_PRIVATE)) {
        r = err_set(e, ERR_INVALID, "JWKS: private key in a public key set");
    }
    if (r == 0) {
        r = jose_jwks_add(set, k, e);
    }
    jose_jwk_free(k);
    if (r != 0) {
        err_prefix(e, "JWKS key %zu: ", idx);
    }
    return r;
}

int jose_jwks_from_json(const json_t *obj, unsigned flags, struct jose_jwks **out, size_t *skipped,
                        struct err *e)
{
    const json_t *keys = json_object_get(obj, "keys"), *kj;
    struct jose_jwks *set = NULL;
    size_t i, skip = 0, npriv = 0;
    int r;

    *out = NULL;
    if (skipped != NULL) {
        *skipped = 0;
    }
    if (!json_is_array(keys)) {
        return err_set(e, ERR_INVALID, "JWKS: \"keys\" missing or not an array");
    }
    if (json_array_size(keys) > LIMIT_JOSE_JWKS_KEYS) {
        return err_set(e, ERR_LIMIT, "JWKS: more than %d keys", LIMIT_JOSE_JWKS_KEYS);
    }
    /* A set mixing public and private keys is refused outright. */
    json_array_foreach(keys, i, kj)
    {
        npriv += json_object_get(kj, "d") != NULL || json_object_get(kj, "k") != NULL;
    }
    if (npriv != 0 && npriv != json_array_size(keys)) {
        return err_set(e, ERR_INVALID, "JWKS: mixes public and private keys");
    }
    set = jose_jwks_new();
    if (set == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    json_array_foreach(keys, i, kj)
    {
        if ((r = jwks_add_json(set, kj, i, flags, &skip, e)) != 0) {
            goto out;
        }
    }
    if (skipped != NULL) {
        *skipped = skip;
    }
    *out = set;
    set = NULL;
    r = 0;
out:
    jose_jwks_free(set);
    return r;
}

int jose_jwks_parse(const char *text, size_t len, unsigned flags, struct jose_jwks **out,
                    struct err *e)
{
    json_t *j = NULL;
    int r;

    *out = NULL;
    if (len > LIMIT_JOSE_JWKS_TEXT_MAX) {
        return err_set(e, ERR_LIMIT, "JWKS: text over %d bytes", LIMIT_JOSE_JWKS_TEXT_MAX);
    }
    if ((r = jose_json_load_object(text, len, &j, e)) != 0) {
        return err_prefix(e, "JWKS: ");
    }
    r = jose_jwks_from_json(j, flags, out, NULL, e);
    json_decref(j);
    return r;
}

int jose_jwks_to_json(const struct jose_jwks *set, json_t **out, struct err *e)
{
    json_t *o = json_object(), *arr = json_array(), *kj;
    size_t i;
    int r;

    *out = NULL;
    if (o == NULL || arr == NULL || json_object_set(o, "keys", arr) != 0) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < set->n; i++) {
        if ((r = jose_jwk_to_json(set->keys[i], 0, &kj, e)) != 0) {
            goto out;
        }
        if (json_array_append_new(arr, kj) != 0) {
            r = err_set(e, ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    *out = o;
    o = NULL;
    r = 0;
out:
    json_decref(arr);
    json_decref(o);
    return r;
}

static int key_applies(const struct jose_jwk *k, const char *kid, enum jose_alg alg,
                       const char *use)
{
    if (kid != NULL && (k->kid == NULL || strcmp(k->kid, kid) != 0)) {
        return 0;
    }
    if (use != NULL ? (k->use == NULL || strcmp(k->use, use) != 0)
                    : (k->use != NULL && strcmp(k->use, "sig") != 0)) {
        return 0;
    }
    if (k->has_key_ops && !(k->key_ops & JOSE_OP_VERIFY)) {
        return 0;
    }
    return jose_key_allows(k, alg);
}

int jose_jwks_find(const struct jose_jwks *set, const char *kid, enum jose_alg alg, const char *use,
                   const struct jose_jwk **out, struct err *e)
{
    const struct jose_jwk *found = NULL;
    size_t i;

    *out = NULL;
    for (i = 0; i < set->n; i++) {
        if (!key_applies(set->keys[i], kid, alg, use)) {
            continue;
        }
        if (found != NULL) {
            return err_set(e, ERR_CONFLICT, "several keys could verify (kid %s, alg %s)",
                           kid != NULL ? kid : "absent", jose_alg_name(alg));
        }
        found = set->keys[i];
    }
    if (found == NULL) {
        return err_set(e, ERR_NOTFOUND, "no key for kid \"%.64s\" and alg %s",
                       kid != NULL ? kid : "(none)", jose_alg_name(alg));
    }
    *out = found;
    return 0;
}
