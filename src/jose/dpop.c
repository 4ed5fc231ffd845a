/*
 * dpop.c: DPoP proofs (RFC 9449): validation, creation, the jti replay cache
 * and the cnf.jkt binding of access tokens.
 *
 * A proof is a JWS whose header carries the public key that signed it
 * (`jwk`): that key is used for this proof only, and only after it passes
 * the same checks as any JWK (no private members, supported type, points on
 * the curve, RSA >= 2048).  The replay check runs last, so proofs that fail
 * any other check do not fill the cache.
 */
#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"
#include "util/clock.h"
#include "util/limits.h"

#define DEFAULT_MAX_AGE_S 300
#define DEFAULT_FUTURE_SKEW_S 5

/* ---- replay cache ----------------------------------------------------- */

struct replay_entry {
    struct replay_entry *next;
    int64_t expires_s;
    uint8_t hash[32]; /* SHA-256 of the key: fixed-size entries */
};

struct jose_replay {
    pthread_mutex_t lock;
    struct replay_entry **buckets;
    size_t nbuckets; /* power of two */
    size_t count;
    size_t max;
};

int jose_replay_new(size_t max_entries, struct jose_replay **out, struct err *e)
{
    struct jose_replay *r = calloc(1, sizeof(*r));
    size_t nb = 16;

    *out = NULL;
    if (r == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    r->max = max_entries == 0 || max_entries > LIMIT_JOSE_REPLAY_ENTRIES ? LIMIT_JOSE_REPLAY_ENTRIES
                                                                         : max_entries;
    while (nb < r->max / 2 && nb < 65536) {
        nb *= 2;
    }
    r->nbuckets = nb;
    r->buckets = calloc(nb, sizeof(*r->buckets));
    if (r->buckets == NULL || pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r->buckets);
        free(r);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = r;
    return 0;
}

void jose_replay_free(struct jose_replay *r)
{
    size_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->nbuckets; i++) {
        struct replay_entry *x = r->buckets[i], *n;
        for (; x != NULL; x = n) {
            n = x->next;
            free(x);
        }
    }
    pthread_mutex_destroy(&r->lock);
    free(r->buckets);
    free(r);
}

size_t jose_replay_size(struct jose_replay *r)
{
    size_t n;

    pthread_mutex_lock(&r->lock);
    n = r->count;
    pthread_mutex_unlock(&r->lock);
    return n;
}

/* Drops expired entries of one bucket (all buckets when b == SIZE_MAX). */
static void sweep(struct jose_replay *r, size_t b, int64_t now_s)
{
    size_t i = b == SIZE_MAX ? 0 : b, end = b == SIZE_MAX ? r->nbuckets : b + 1;

    for (; i < end; i++) {
        struct replay_entry **pp = &r->buckets[i];
        while (*pp != NULL) {
            if ((*pp)->expires_s <= now_s) {
                struct replay_entry *dead = *pp;
                *pp = dead->next;
                free(dead);
                r->count--;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
}

int jose_replay_check(struct jose_replay *r, const char *key, int64_t expires_s, int64_t now_s)
{
    uint8_t h[32];
    unsigned int hl = 0;
    struct replay_entry *x;
    size_t b;
    int rc = 0;

    if (EVP_Digest(key, strlen(key), h, &hl, EVP_sha256(), NULL) != 1) {
        return ERR_INTERNAL;
    }
    b = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16) & (r->nbuckets - 1);
    pthread_mutex_lock(&r->lock);
    sweep(r, b, now_s);
    for (x = r->buckets[b]; x != NULL; x = x->next) {
        if (memcmp(x->hash, h, 32) == 0) {
            rc = ERR_CONFLICT;
            goto out;
        }
    }
    if (r->count >= r->max) {
        sweep(r, SIZE_MAX, now_s);
    }
    if (r->count >= r->max) {
        rc = ERR_LIMIT;
        goto out;
    }
    x = malloc(sizeof(*x));
    if (x == NULL) {
        rc = ERR_NOMEM;
        goto out;
    }
    memcpy(x->hash, h, 32);
    x->expires_s = expires_s;
    x->next = r->buckets[b];
    r->buckets[b] = x;
    r->count++;
out:
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* ---- htu normalisation ------------------------------------------------ */

int jose_htu_normalize(const char *uri, char **out, struct err *e)
{
    const char *p, *auth, *aend, *host_end, *port = NULL;
    size_t n, i, schemelen, hostlen, pathlen;
    char *s;

    *out = NULL;
    n = strlen(uri);
    if (n > LIMIT_JOSE_STR_LEN) {
        return err_set(e, ERR_LIMIT, "htu: URI too long");
    }
    if (strncasecmp(uri, "https://", 8) == 0) {
        schemelen = 5;
    } else if (strncasecmp(uri, "http://", 7) == 0) {
        schemelen = 4;
    } else {
        return err_set(e, ERR_INVALID, "htu: not an http(s) URI");
    }
    auth = uri + schemelen + 3;
    aend = auth + strcspn(auth, "/?#");
    if (aend == auth || memchr(auth, '@', (size_t)(aend - auth)) != NULL) {
        return err_set(e, ERR_INVALID, "htu: bad authority");
    }
    host_end = aend;
    if (*auth == '[') {
        const char *rb = memchr(auth, ']', (size_t)(aend - auth));
        if (rb == NULL) {
            return err_set(e, ERR_INVALID, "htu: bad IPv6 literal");
        }
        host_end = rb + 1;
    } else {
        const char *c = memchr(auth, ':', (size_t)(aend - auth));
        if (c != NULL) {
            host_end = c;
        }
    }
    if (host_end < aend) {
        if (*host_end != ':') {
            return err_set(e, ERR_INVALID, "htu: bad authority");
        }
        port = host_end + 1;
        for (p = port; p < aend; p++) {
            if (!isdigit((unsigned char)*p)) {
                return err_set(e, ERR_INVALID, "htu: bad port");
            }
        }
        if (port == aend || (schemelen == 5 && aend - port == 3 && memcmp(port, "443", 3) == 0) ||
            (schemelen == 4 && aend - port == 2 && memcmp(port, "80", 2) == 0)) {
            port = NULL;
        }
    }
    hostlen = (size_t)(host_end - auth);
    pathlen = strcspn(aend, "?#");
    s = malloc(schemelen + 3 + hostlen + 1 + (port != NULL ? (size_t)(aend - port) : 0) + pathlen +
               2);
    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    n = 0;
    for (i = 0; i < schemelen; i++) {
        s[n++] = (char)tolower((unsigned char)uri[i]);
    }
    memcpy(s + n, "://", 3);
    n += 3;
    for (i = 0; i < hostlen; i++) {
        s[n++] = (char)tolower((unsigned char)auth[i]);
    }
    if (port != NULL) {
        s[n++] = ':';
        memcpy(s + n, port, (size_t)(aend - port));
        n += (size_t)(aend - port);
    }
    if (pathlen == 0) {
        s[n++] = '/';
    } else {
        memcpy(s + n, aend, pathlen);
        n += pathlen;
    }
    s[n] = '\0';
    *out = s;
    return 0;
}

/* ---- stateless server nonces ----------------------------------------- */

#define NONCE_TIME_LEN 8
#define NONCE_MAC_LEN 16

static int nonce_mac(const uint8_t *key, const uint8_t t[NONCE_TIME_LEN],
                     uint8_t mac[NONCE_MAC_LEN])
{
    static const char label[] = "mandate dpop nonce v1";
    uint8_t in[sizeof(label) + NONCE_TIME_LEN], full[32];
    size_t flen = 0;
    int ok;

    memcpy(in, label, sizeof(label));
    memcpy(in + sizeof(label), t, NONCE_TIME_LEN);
    ok = EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, JOSE_DPOP_NONCE_KEY_LEN, in, sizeof(in),
                   full, sizeof(full), &flen) != NULL &&
         flen == sizeof(full);
    memcpy(mac, full, NONCE_MAC_LEN);
    OPENSSL_cleanse(full, sizeof(full));
    return ok ? 0 : ERR_INTERNAL;
}

int jose_dpop_nonce_make(const uint8_t key[JOSE_DPOP_NONCE_KEY_LEN], int64_t now_s, char **out,
                         struct err *e)
{
    uint8_t raw[NONCE_TIME_LEN + NONCE_MAC_LEN];
    uint64_t t = (uint64_t)(now_s != 0 ? now_s : clock_wall_s());
    int i;

    *out = NULL;
    for (i = 0; i < NONCE_TIME_LEN; i++) {
        raw[i] = (uint8_t)(t >> (56 - 8 * i));
    }
    if (nonce_mac(key, raw, raw + NONCE_TIME_LEN) != 0 ||
        jose_b64url_encode(raw, sizeof(raw), out, NULL) != 0) {
        return err_set(e, ERR_INTERNAL, "nonce: HMAC failed");
    }
    return 0;
}

int jose_dpop_nonce_check(const uint8_t key[JOSE_DPOP_NONCE_KEY_LEN], const char *nonce,
                          int64_t max_age_s, int64_t now_s, struct err *e)
{
    uint8_t *raw = NULL, mac[NONCE_MAC_LEN];
    size_t len = 0;
    uint64_t t = 0;
    int64_t now = now_s != 0 ? now_s : clock_wall_s(), age = max_age_s > 0 ? max_age_s : 300;
    int i, r = ERR_AUTH;

    if (nonce == NULL || strlen(nonce) > 64 ||
        jose_b64url_decode(nonce, strlen(nonce), &raw, &len, NULL) != 0 ||
        len != NONCE_TIME_LEN + NONCE_MAC_LEN) {
        r = err_set(e, ERR_AUTH, "nonce: malformed");
        goto out;
    }
    if (nonce_mac(key, raw, mac) != 0) {
        r = err_set(e, ERR_INTERNAL, "nonce: HMAC failed");
        goto out;
    }
    if (CRYPTO_memcmp(mac, raw + NONCE_TIME_LEN, NONCE_MAC_LEN) != 0) {
        r = err_set(e, ERR_AUTH, "nonce: not ours");
        goto out;
    }
    for (i = 0; i < NONCE_TIME_LEN; i++) {
        t = t << 8 | raw[i];
    }
    if (t > (uint64_t)INT64_MAX || (int64_t)t < now - age || (int64_t)t > now + 5) {
        r = err_set(e, ERR_AUTH, "nonce: expired");
        goto out;
    }
    r = 0;
out:
    free(raw);
    return r;
}

/* ---- proof validation ------------------------------------------------- */

static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

/* The proof's key and its thumbprint, from the cache when o->keys is set. */
static int proof_key(const json_t *header, const struct jose_dpop_opts *o, struct jose_jwk **key,
                     char jkt[JOSE_JKT_LEN + 1], enum jose_reason *why, struct err *e)
{
    const json_t *jwk = json_object_get(header, "jwk");
    const char *typ = json_string_value(json_object_get(header, "typ"));
    size_t i;

    *key = NULL;
    if (typ == NULL || strcasecmp(typ, "dpop+jwt") != 0) {
        return jose_fail(why, JOSE_R_TYP, e, ERR_AUTH,
                         "DPoP proof typ must be dpop+jwt, got "
                         "\"%.40s\"",
                         typ != NULL ? typ : "(absent)");
    }
    if (!json_is_object(jwk)) {
        return jose_fail(why, JOSE_R_DPOP_JWK, e, ERR_AUTH, "header \"jwk\" missing");
    }
    for (i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        if (json_object_get(jwk, private_members[i]) != NULL) {
            return jose_fail(why, JOSE_R_DPOP_JWK, e, ERR_AUTH,
                             "header \"jwk\" holds a private member \"%s\"", private_members[i]);
        }
    }
    if (jose_jwkcache_get(o->keys, jwk, key, jkt, e) != 0) {
        return jose_fail(why, JOSE_R_DPOP_JWK, e, ERR_AUTH, "%s", e != NULL ? e->msg : "");
    }
    return 0;
}

static int check_ath(const json_t *claims, const char *token, enum jose_reason *why, struct err *e)
{
    const char *ath = json_string_value(json_object_get(claims, "ath"));
    unsigned char md[32];
    unsigned int mdlen = 0;
    char *want = NULL;
    int ok;

    if (ath == NULL) {
        return jose_fail(why, JOSE_R_DPOP_ATH, e, ERR_AUTH, "\"ath\" missing");
    }
    if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1 ||
        jose_b64url_encode(md, mdlen, &want, NULL) != 0) {
        return jose_fail(why, JOSE_R_INTERNAL, e, ERR_INTERNAL, "SHA-256 failed");
    }
    ok = strlen(ath) == strlen(want) && CRYPTO_memcmp(ath, want, strlen(want)) == 0;
    free(want);
    return ok ? 0
              : jose_fail(why, JOSE_R_DPOP_ATH, e, ERR_AUTH,
                          "\"ath\" does not match the "
                          "access token");
}

static int check_claims(const json_t *c, const struct jose_dpop_opts *o, int64_t now,
                        enum jose_reason *why, struct err *e)
{
    const char *htm = json_string_value(json_object_get(c, "htm"));
    const char *htu = json_string_value(json_object_get(c, "htu"));
    const char *jti = json_string_value(json_object_get(c, "jti"));
    const json_t *iatj = json_object_get(c, "iat");
    int64_t max_age = o->max_age_s > 0 ? o->max_age_s : DEFAULT_MAX_AGE_S;
    int64_t skew = o->skew_s < 0 ? DEFAULT_FUTURE_SKEW_S : o->skew_s, iat;
    char *a = NULL, *b = NULL;
    int same;

    if (jti == NULL || *jti == '\0' || strlen(jti) > LIMIT_JOSE_STR_LEN) {
        return jose_fail(why, JOSE_R_MISSING_CLAIM, e, ERR_AUTH, "\"jti\" missing or bad");
    }
    if (!json_is_integer(iatj)) {
        return jose_fail(why, JOSE_R_MISSING_CLAIM, e, ERR_AUTH,
                         "\"iat\" missing or not an "
                         "integer");
    }
    iat = (int64_t)json_integer_value(iatj);
    if (iat > now + skew || iat < now - max_age) {
        return jose_fail(why, JOSE_R_IAT, e, ERR_AUTH,
                         "iat %lld outside [now-%lld, now+%lld], "
                         "now %lld",
                         (long long)iat, (long long)max_age, (long long)skew, (long long)now);
    }
    if (htm == NULL || o->htm == NULL || strcmp(htm, o->htm) != 0) {
        return jose_fail(why, JOSE_R_DPOP_HTM, e, ERR_AUTH, "htm \"%.16s\", expected \"%.16s\"",
                         htm != NULL ? htm : "(absent)", o->htm != NULL ? o->htm : "?");
    }
    if (htu == NULL || o->htu == NULL || jose_htu_normalize(htu, &a, NULL) != 0 ||
        jose_htu_normalize(o->htu, &b, NULL) != 0) {
        free(a);
        return jose_fail(why, JOSE_R_DPOP_HTU, e, ERR_AUTH, "htu missing or not an http(s) URI");
    }
    same = strcmp(a, b) == 0;
    free(a);
    free(b);
    if (!same) {
        return jose_fail(why, JOSE_R_DPOP_HTU, e, ERR_AUTH,
                         "htu \"%.200s\" does not match the "
                         "request",
                         htu);
    }
    if (o->nonce != NULL || o->nonce_key != NULL) {
        const char *nonce = json_string_value(json_object_get(c, "nonce"));
        if (nonce == NULL || (o->nonce != NULL && strcmp(nonce, o->nonce) != 0)) {
            return jose_fail(why, JOSE_R_DPOP_NONCE, e, ERR_AUTH, "nonce missing or wrong");
        }
        if (o->nonce_key != NULL &&
            jose_dpop_nonce_check(o->nonce_key, nonce, o->nonce_max_age_s, now, e) != 0) {
            return jose_fail(why, JOSE_R_DPOP_NONCE, e, ERR_AUTH, "%s", e != NULL ? e->msg : "");
        }
    }
    return o->access_token != NULL ? check_ath(c, o->access_token, why, e) : 0;
}

/* Records the proof's jti, scoped by its key so that one client cannot burn
 * another's jti values, until the proof could no longer pass the iat window.
 * Runs last: proofs failing another check never fill the cache. */
static int replay_record(const struct jose_dpop_opts *o, const char *jkt, const json_t *claims,
                         int64_t now, enum jose_reason *why, struct err *e)
{
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    int64_t max_age = o->max_age_s > 0 ? o->max_age_s : DEFAULT_MAX_AGE_S;
    size_t n = strlen(jkt) + strlen(jti) + 2;
    char *key = malloc(n);
    int r;

    if (key == NULL) {
        return jose_fail(why, JOSE_R_INTERNAL, e, ERR_NOMEM, "out of memory");
    }
    snprintf(key, n, "%s:%s", jkt, jti);
    r = jose_replay_check(o->replay, key, now + max_age + DEFAULT_FUTURE_SKEW_S + 1, now);
    free(key);
    if (r == ERR_CONFLICT) {
        return jose_fail(why, JOSE_R_DPOP_REPLAY, e, ERR_AUTH, "jti seen before");
    }
    if (r != 0) {
        return jose_fail(why, JOSE_R_INTERNAL, e, r, "jti cache %s",
                         r == ERR_LIMIT ? "full (failing closed)" : "failed");
    }
    return 0;
}

void jose_dpop_result_clear(struct jose_dpop_result *res)
{
    if (res == NULL) {
        return;
    }
    json_decref(res->header);
    json_decref(res->claims);
    memset(res, 0, sizeof(*res));
}

int jose_dpop_verify(const char *proof, size_t len, const struct jose_dpop_opts *o,
                     struct jose_dpop_result *res, enum jose_reason *why, struct err *e)
{
    int64_t now = o->now_s != 0 ? o->now_s : clock_wall_s();
    struct jose_parts p;
    struct jose_jwk *key = NULL;
    json_t *claims = NULL;
    char jkt[JOSE_JKT_LEN + 1];
    int r;

    memset(res, 0, sizeof(*res));
    if ((r = jose_parts_parse(proof, len, o->alg_mask, &p, why, e)) != 0) {
        return r;
    }
    if ((r = proof_key(p.header, o, &key, jkt, why, e)) != 0 ||
        (r = jose_parts_verify(&p, key, why, e)) != 0) {
        goto out;
    }
    if (jose_json_load_object((const char *)p.payload, p.plen, &claims, e) != 0) {
        r = jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "payload: %s", e != NULL ? e->msg : "");
        goto out;
    }
    if ((r = check_claims(claims, o, now, why, e)) != 0) {
        goto out;
    }
    if (o->jkt != NULL &&
        (strlen(o->jkt) != JOSE_JKT_LEN || CRYPTO_memcmp(o->jkt, jkt, JOSE_JKT_LEN) != 0)) {
        r = jose_fail(why, JOSE_R_DPOP_JKT, e, ERR_AUTH, "proof key %s is not the bound key", jkt);
        goto out;
    }
    if (o->replay != NULL && (r = replay_record(o, jkt, claims, now, why, e)) != 0) {
        goto out;
    }
    memcpy(res->jkt, jkt, sizeof(jkt));
    res->header = p.header;
    p.header = NULL;
    res->claims = claims;
    claims = NULL;
    if (why != NULL) {
        *why = JOSE_R_OK;
    }
    r = 0;
out:
    json_decref(claims);
    jose_jwk_free(key);
    jose_parts_clear(&p);
    return r;
}

/* ---- creation and binding --------------------------------------------- */

static int ath_of(const char *token, char **out)
{
    unsigned char md[32];
    unsigned int mdlen = 0;

    *out = NULL;
    if (EVP_Digest(token, strlen(token), md, &mdlen, EVP_sha256(), NULL) != 1) {
        return ERR_INTERNAL;
    }
    return jose_b64url_encode(md, mdlen, out, NULL);
}

int jose_dpop_create(const struct jose_jwk *key, enum jose_alg alg, const char *htm,
                     const char *htu, const char *access_token, const char *nonce, int64_t now_s,
                     char **out, struct err *e)
{
    json_t *h = NULL, *c = NULL, *pub = NULL;
    uint8_t rnd[16];
    char *jti = NULL, *ath = NULL, *text = NULL;
    int r;

    *out = NULL;
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
        jose_b64url_encode(rnd, sizeof(rnd), &jti, NULL) != 0 ||
        (access_token != NULL && ath_of(access_token, &ath) != 0)) {
        r = err_set(e, ERR_INTERNAL, "random or hash failed");
        goto out;
    }
    if ((r = jose_jwk_to_json(key, 0, &pub, e)) != 0) {
        goto out;
    }
    json_object_del(pub, "kid");
    json_object_del(pub, "use");
    json_object_del(pub, "key_ops");
    json_object_del(pub, "alg");
    h = json_pack("{sssO}", "typ", "dpop+jwt", "jwk", pub);
    c = json_pack("{sssssssI}", "jti", jti, "htm", htm, "htu", htu, "iat",
                  (json_int_t)(now_s != 0 ? now_s : clock_wall_s()));
    if (h == NULL || c == NULL ||
        (ath != NULL && json_object_set_new(c, "ath", json_string(ath))) ||
        (nonce != NULL && json_object_set_new(c, "nonce", json_string(nonce)) != 0) ||
        (text = json_dumps(c, JSON_COMPACT)) == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = jose_jws_sign(key, alg, h, text, strlen(text), out, e);
out:
    json_decref(h);
    json_decref(c);
    json_decref(pub);
    free(jti);
    free(ath);
    free(text);
    return r;
}

int jose_dpop_check_binding(const json_t *token_claims, const char *jkt, enum jose_reason *why,
                            struct err *e)
{
    const json_t *cnf = json_object_get(token_claims, "cnf");
    const char *want = json_string_value(json_object_get(cnf, "jkt"));

    if (want == NULL) {
        return jose_fail(why, JOSE_R_DPOP_JKT, e, ERR_AUTH, "token has no cnf.jkt");
    }
    if (jkt == NULL || strlen(jkt) != strlen(want) || CRYPTO_memcmp(jkt, want, strlen(want)) != 0) {
        return jose_fail(why, JOSE_R_DPOP_JKT, e, ERR_AUTH,
                         "proof key does not match the token's cnf.jkt");
    }
    if (why != NULL) {
        *why = JOSE_R_OK;
    }
    return 0;
}
