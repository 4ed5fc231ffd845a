/*
 * jose.h: JOSE on OpenSSL 3 libcrypto: base64url, JWK/JWKS, JWS compact,
 * JWT claims, DPoP (RFC 9449).  The one public header of src/jose/.
 *
 * What we accept: asymmetric signatures only: EdDSA (Ed25519), ES256 (P-256),
 * ES384 (P-384), RS256 and PS256 (RSA >= 2048 bits).  HMAC (HS*) is not
 * supported at all: Mandate never shares secrets with agents or enforcement
 * points, and refusing HS* removes the RS/HS key confusion class entirely.
 * `none` is refused in every spelling.  A token's own `jwk`, `jku`, `x5u`,
 * `x5c` header members never supply the verification key (DPoP's `jwk` is the
 * one exception, by RFC 9449, and only inside jose_dpop_verify).
 *
 * Errors: every fallible call returns 0 or a negative ERR_* (util/err.h) and
 * fills a struct err.  Verification calls also report a stable reason
 * (enum jose_reason, jose_reason_name()) through an optional pointer; the
 * err message starts with that reason's name ("expired: ...").
 *
 * Ownership: "out" objects belong to the caller and are freed with the
 * matching *_free (NULL accepted) or json_decref/free for jansson values and
 * strings.  Keys are reference counted so a JWKS can be shared.
 * Thread safety: keys, key sets and verifiers are immutable after creation
 * and may be used from several threads; the DPoP replay cache locks itself.
 */
#ifndef MANDATE_JOSE_H
#define MANDATE_JOSE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* ==== algorithms ======================================================= */

enum jose_alg {
    JOSE_ALG_UNKNOWN = 0,
    JOSE_ALG_EDDSA = 1, /* Ed25519 (RFC 8037) */
    JOSE_ALG_ES256 = 2, /* ECDSA P-256 SHA-256, raw r||s */
    JOSE_ALG_ES384 = 3, /* ECDSA P-384 SHA-384, raw r||s */
    JOSE_ALG_RS256 = 4, /* RSASSA-PKCS1-v1_5 SHA-256 */
    JOSE_ALG_PS256 = 5, /* RSASSA-PSS SHA-256, MGF1-SHA-256, salt 32 */
};

/* Bit masks for allow-lists: JOSE_ALG_BIT(JOSE_ALG_ES256) | ... */
#define JOSE_ALG_BIT(a) (1u << (unsigned)(a))
#define JOSE_ALGS_ALL                                                                              \
    (JOSE_ALG_BIT(JOSE_ALG_EDDSA) | JOSE_ALG_BIT(JOSE_ALG_ES256) | JOSE_ALG_BIT(JOSE_ALG_ES384) |  \
     JOSE_ALG_BIT(JOSE_ALG_RS256) | JOSE_ALG_BIT(JOSE_ALG_PS256))

/* "EdDSA", "ES256", ...; NULL for JOSE_ALG_UNKNOWN. */
const char *jose_alg_name(enum jose_alg alg);
/* Exact, case-sensitive match of a supported name; JOSE_ALG_UNKNOWN otherwise
 * (which includes "none", "HS256", "RS384", ...). */
enum jose_alg jose_alg_from_name(const char *name);
/* Parses a comma-separated list ("ES256,EdDSA") into a mask; ERR_INVALID on an
 * unknown or unsupported name. */
int jose_alg_mask_parse(const char *list, unsigned *mask, struct err *e) MUST_CHECK;

/* ==== verification reasons (stable codes) ================================ */

enum jose_reason {
    JOSE_R_OK = 0,
    JOSE_R_MALFORMED,     /* not three segments, bad base64url, bad JSON */
    JOSE_R_TOO_LARGE,     /* token over LIMIT_JOSE_TOKEN_MAX */
    JOSE_R_ALG,           /* alg missing, none, unsupported, not allowed, or wrong for the key */
    JOSE_R_KEY_NOT_FOUND, /* no key in the set applies (unknown kid, ...) */
    JOSE_R_KEY_AMBIGUOUS, /* two keys could apply */
    JOSE_R_SIGNATURE,     /* signature does not verify */
    JOSE_R_HEADER,        /* unknown crit, b64:false, forbidden member */
    JOSE_R_TYP,           /* typ header missing or wrong */
    JOSE_R_EXPIRED,       /* exp in the past (beyond skew) */
    JOSE_R_NOT_YET_VALID, /* nbf in the future (beyond skew) */
    JOSE_R_IAT,           /* iat in the future, or too old */
    JOSE_R_LIFETIME,      /* exp - iat over the maximum lifetime */
    JOSE_R_ISS,           /* issuer mismatch */
    JOSE_R_AUD,           /* audience mismatch */
    JOSE_R_MISSING_CLAIM, /* a required claim is absent or of the wrong type */
    JOSE_R_CLAIMS,        /* payload not a JSON object, or a claim of the wrong type */
    JOSE_R_DPOP_JWK,      /* DPoP header jwk missing, private, or unusable */
    JOSE_R_DPOP_HTM,      /* htm mismatch */
    JOSE_R_DPOP_HTU,      /* htu mismatch */
    JOSE_R_DPOP_REPLAY,   /* jti seen before */
    JOSE_R_DPOP_ATH,      /* ath missing or wrong */
    JOSE_R_DPOP_NONCE,    /* nonce missing or wrong */
    JOSE_R_DPOP_JKT,      /* proof key thumbprint != cnf.jkt */
    JOSE_R_INTERNAL,      /* allocation failure and the like */
};

/* "ok", "malformed", "expired", ... (stable, for logs and tests). */
const char *jose_reason_name(enum jose_reason r);
/* The reverse of jose_reason_name; -1 when unknown. */
int jose_reason_from_name(const char *name);

/* ==== base64url (RFC 4648 section 5, no padding, strict) ================== */

/* Encodes in[0..n) into a new NUL-terminated string (free()). */
int jose_b64url_encode(const void *in, size_t n, char **out, size_t *outlen) MUST_CHECK;
/* Decodes in[0..n): refuses '=', '+', '/', whitespace, a length of 4k+1 and
 * non-zero unused trailing bits.  *out is malloc'd (free()), NUL-terminated
 * for convenience; *outlen its length. */
int jose_b64url_decode(const char *in, size_t n, uint8_t **out, size_t *outlen,
                       struct err *e) MUST_CHECK;

/* ==== JWK =============================================================== */

enum jose_kty { JOSE_KTY_OKP = 1, JOSE_KTY_EC, JOSE_KTY_RSA };

struct jose_jwk; /* opaque, reference counted, immutable */

/* Length of an RFC 7638 SHA-256 thumbprint in base64url, without NUL. */
#define JOSE_JKT_LEN 43

/* Parses one JWK from JSON text (duplicate keys refused) or a jansson object.
 * Refuses: unknown kty, oct keys, curves other than Ed25519/P-256/P-384,
 * points off the curve or short coordinates, RSA outside 2048..8192 bits, e
 * even, < 3 or over 64 bits, the ROCA fingerprint, RSA private keys without
 * all CRT members, a private part that does not match the public one, an
 * `alg` we do not support or that does not fit kty/crv, malformed
 * `kid`/`use`/`key_ops`. */
int jose_jwk_parse(const char *text, size_t len, struct jose_jwk **out, struct err *e) MUST_CHECK;
int jose_jwk_from_json(const json_t *obj, struct jose_jwk **out, struct err *e) MUST_CHECK;

/* Generates a key for alg (RSA: 2048 bits).  kid may be NULL: then the kid is
 * the thumbprint.  The key's `alg` member is set to alg. */
int jose_jwk_generate(enum jose_alg alg, const char *kid, struct jose_jwk **out,
                      struct err *e) MUST_CHECK;

/* Wraps an OpenSSL key, public or private (takes a reference on pkey); the
 * same checks as jose_jwk_from_json apply. */
int jose_jwk_from_pkey(EVP_PKEY *pkey, enum jose_alg alg, const char *kid, struct jose_jwk **out,
                       struct err *e) MUST_CHECK;

/* JSON of the key: public members only, or with the private ones (only if the
 * key has them).  Members: kty, crv, x, y, n, e, (d, p, q, dp, dq, qi), kid,
 * use, alg, key_ops as set. */
int jose_jwk_to_json(const struct jose_jwk *k, int with_private, json_t **out,
                     struct err *e) MUST_CHECK;

/* RFC 7638 thumbprint (SHA-256, base64url) into out[JOSE_JKT_LEN + 1]. */
int jose_jwk_thumbprint(const struct jose_jwk *k, char out[JOSE_JKT_LEN + 1],
                        struct err *e) MUST_CHECK;

struct jose_jwk *jose_jwk_ref(struct jose_jwk *k); /* returns k */
void jose_jwk_free(struct jose_jwk *k);            /* drops one reference */

enum jose_kty jose_jwk_kty(const struct jose_jwk *k);
const char *jose_jwk_kid(const struct jose_jwk *k); /* NULL when absent */
const char *jose_jwk_use(const struct jose_jwk *k); /* NULL when absent */
/* The key's `alg` member, JOSE_ALG_UNKNOWN when absent. */
enum jose_alg jose_jwk_alg(const struct jose_jwk *k);
/* The algorithm used to sign with this key when none is named: its `alg`
 * member, else EdDSA / ES256 / ES384 / RS256 by key type. */
enum jose_alg jose_jwk_default_alg(const struct jose_jwk *k);
/* Mask of algorithms this key can verify (by kty/crv, narrowed by `alg`). */
unsigned jose_jwk_alg_mask(const struct jose_jwk *k);
int jose_jwk_is_private(const struct jose_jwk *k);
/* The OpenSSL key (borrowed; valid while k lives).  For benchmarks and
 * the key ring; do not modify it. */
EVP_PKEY *jose_jwk_pkey(const struct jose_jwk *k);

/* ==== JWKS ============================================================== */

struct jose_jwks; /* a set of keys; immutable once shared */

/* Flags for jose_jwks_from_json.  SKIP_UNSUPPORTED: skip, instead of
 * refusing the whole set, each key we cannot use (oct, other curves, unknown
 * alg such as RSA-OAEP, weak or malformed keys); use it for JWKS published by
 * others.  Tokens signed by a skipped key then fail with key_not_found.
 * ALLOW_PRIVATE: accept private keys (default: refused). */
#define JOSE_JWKS_SKIP_UNSUPPORTED 0x1u
#define JOSE_JWKS_ALLOW_PRIVATE 0x2u

/* Parses {"keys":[...]}.  Refuses: a set that mixes public and private keys,
 * duplicate kid, more than LIMIT_JOSE_JWKS_KEYS keys, unsupported keys (unless
 * SKIP_UNSUPPORTED; skipped keys are counted in *skipped when non-NULL).
 * Other top-level members are ignored (SPIFFE bundles add their own). */
int jose_jwks_parse(const char *text, size_t len, unsigned flags, struct jose_jwks **out,
                    struct err *e) MUST_CHECK;
int jose_jwks_from_json(const json_t *obj, unsigned flags, struct jose_jwks **out, size_t *skipped,
                        struct err *e) MUST_CHECK;

struct jose_jwks *jose_jwks_new(void);
/* Adds a reference to k; ERR_CONFLICT on a duplicate kid, ERR_LIMIT past
 * LIMIT_JOSE_JWKS_KEYS. */
int jose_jwks_add(struct jose_jwks *set, struct jose_jwk *k, struct err *e) MUST_CHECK;
size_t jose_jwks_count(const struct jose_jwks *set);
const struct jose_jwk *jose_jwks_get(const struct jose_jwks *set, size_t i);
/* Public JSON {"keys":[...]} of the set. */
int jose_jwks_to_json(const struct jose_jwks *set, json_t **out, struct err *e) MUST_CHECK;

/* The one key that applies to a token with this kid (may be NULL) and alg:
 * use absent or "sig" (or `use` when non-NULL), key_ops absent or holding
 * "verify", alg in the key's mask.  ERR_NOTFOUND when none, ERR_CONFLICT when
 * several could apply.  The key is borrowed from the set. */
int jose_jwks_find(const struct jose_jwks *set, const char *kid, enum jose_alg alg, const char *use,
                   const struct jose_jwk **out, struct err *e) MUST_CHECK;

void jose_jwks_free(struct jose_jwks *set);

/* ==== JWS compact ======================================================= */

/* Signs payload[0..len) with key (must be private) as compact JWS.  alg
 * JOSE_ALG_UNKNOWN means jose_jwk_default_alg(key).  The protected header is
 * {"alg":..,"kid":.. (when the key has one)} plus the members of
 * header_extra (may be NULL; its "alg" is ignored).  *out: free(). */
int jose_jws_sign(const struct jose_jwk *key, enum jose_alg alg, const json_t *header_extra,
                  const void *payload, size_t len, char **out, struct err *e) MUST_CHECK;

struct jose_verifier; /* a JWKS plus an algorithm allow-list; immutable */

/* Builds a verifier over set; the verifier keeps its own references to the
 * keys, so set may be freed afterwards.  alg_mask: allowed algorithms (0 means
 * JOSE_ALGS_ALL). */
int jose_verifier_new(const struct jose_jwks *set, unsigned alg_mask, struct jose_verifier **out,
                      struct err *e) MUST_CHECK;
/* Only keys whose `use` equals use verify (SPIFFE bundles: "jwt-svid"). NULL:
 * use absent or "sig". */
int jose_verifier_set_use(struct jose_verifier *v, const char *use, struct err *e) MUST_CHECK;
void jose_verifier_free(struct jose_verifier *v);

/* Verifies a compact JWS token[0..len).  On success *header is the protected
 * header (object) and *payload and *plen the decoded payload (free()); any output
 * pointer may be NULL.  why (may be NULL) receives the reason. */
int jose_jws_verify(const struct jose_verifier *v, const char *token, size_t len, json_t **header,
                    uint8_t **payload, size_t *plen, enum jose_reason *why,
                    struct err *e) MUST_CHECK;

/* As jose_jws_verify with exactly one key (no kid matching) and an allow-list. */
int jose_jws_verify_key(const struct jose_jwk *key, unsigned alg_mask, const char *token,
                        size_t len, json_t **header, uint8_t **payload, size_t *plen,
                        enum jose_reason *why, struct err *e) MUST_CHECK;

/* ==== JWT claims ========================================================= */

struct jose_jwt_opts {
    const char *iss;             /* required issuer (exact), NULL: not checked */
    const char *aud;             /* required audience (string or in array), NULL: not checked */
    const char *typ;             /* required typ header ("JWT", "at+jwt"; case-insensitive,
                                    "application/" prefix allowed); NULL: not checked */
    int64_t skew_s;              /* clock skew tolerated on exp/nbf/iat; < 0: default 60 */
    int64_t max_lifetime_s;      /* exp - iat (or exp - now without iat) max; 0: no limit */
    int allow_no_exp;            /* exp is required unless this is set */
    const char *const *required; /* NULL-terminated claim names that must be present */
    int64_t now_s;               /* 0: clock_wall_s() */
};

/* Checks claims (and the typ of header, may be NULL) against o. */
int jose_jwt_check(const json_t *header, const json_t *claims, const struct jose_jwt_opts *o,
                   enum jose_reason *why, struct err *e) MUST_CHECK;

/* Verifies the signature then the claims; *header and *claims are set on
 * success (either pointer may be NULL). */
int jose_jwt_verify(const struct jose_verifier *v, const char *token, size_t len,
                    const struct jose_jwt_opts *o, json_t **header, json_t **claims,
                    enum jose_reason *why, struct err *e) MUST_CHECK;

/* Signs claims (an object) with typ (NULL: "JWT") in the header. */
int jose_jwt_sign(const struct jose_jwk *key, enum jose_alg alg, const char *typ,
                  const json_t *claims, char **out, struct err *e) MUST_CHECK;

/* ==== DPoP (RFC 9449) ==================================================== */

struct jose_replay; /* jti replay cache: bounded, expiring, thread-safe */

/* A cache of at most max_entries jti values (0: LIMIT_JOSE_REPLAY_ENTRIES). */
int jose_replay_new(size_t max_entries, struct jose_replay **out, struct err *e) MUST_CHECK;
/* Records key (a jti, or a hash of it) until expires_s.  Returns 0 when new,
 * ERR_CONFLICT when seen and not yet expired, ERR_LIMIT when full of live
 * entries (fail closed). */
int jose_replay_check(struct jose_replay *r, const char *key, int64_t expires_s,
                      int64_t now_s) MUST_CHECK;
size_t jose_replay_size(struct jose_replay *r);
void jose_replay_free(struct jose_replay *r);

/* Imported DPoP proof keys (jwkcache.c): bounded LRU, thread-safe, keyed by
 * SHA-256 of the JWK's whole canonical content (never by kid or thumbprint),
 * so a proof only meets the key its own bytes describe. */
struct jose_jwkcache;

/* A cache of at most max_entries keys (0: LIMIT_JOSE_DPOP_KEY_CACHE). */
int jose_jwkcache_new(size_t max_entries, struct jose_jwkcache **out, struct err *e) MUST_CHECK;
/* The key jwk describes (imported on a miss, with jose_jwk_from_json's
 * checks) and its RFC 7638 thumbprint.  *key is a new reference: release it
 * with jose_jwk_free.  c may be NULL (no caching). */
int jose_jwkcache_get(struct jose_jwkcache *c, const json_t *jwk, struct jose_jwk **key,
                      char jkt[JOSE_JKT_LEN + 1], struct err *e) MUST_CHECK;
/* Entries held, and the hits and misses so far (either may be NULL). */
size_t jose_jwkcache_size(struct jose_jwkcache *c, unsigned long *hits, unsigned long *misses);
void jose_jwkcache_free(struct jose_jwkcache *c);

struct jose_dpop_opts {
    const char *htm;            /* required: request method ("POST") */
    const char *htu;            /* required: request URI; compared normalised */
    const char *access_token;   /* when non-NULL: ath must equal b64url(SHA-256(token)) */
    const char *jkt;            /* when non-NULL: the proof key's thumbprint must equal it */
    const char *nonce;          /* when non-NULL: the proof's nonce must equal it */
    int64_t max_age_s;          /* iat not older than this; 0: default 300 */
    int64_t skew_s;             /* iat may be this far in the future; < 0: default 5 */
    unsigned alg_mask;          /* 0: JOSE_ALGS_ALL */
    struct jose_replay *replay; /* NULL: no replay check (tests only) */
    struct jose_jwkcache *keys; /* NULL: import the proof's key every time */
    int64_t now_s;              /* 0: clock_wall_s() */
    /* Stateless server nonces (RFC 9449 section 8): when nonce_key is
     * non-NULL (JOSE_DPOP_NONCE_KEY_LEN bytes), the proof must carry a nonce
     * made by jose_dpop_nonce_make with that key, at most nonce_max_age_s old
     * (0: default 300).  Checked in addition to `nonce` when both are set. */
    const uint8_t *nonce_key;
    int64_t nonce_max_age_s;
};

/* Server nonces without server state: b64url(issue time || HMAC-SHA-256
 * truncated to 128 bits over it).  Rotating the key invalidates them all. */
#define JOSE_DPOP_NONCE_KEY_LEN 32
int jose_dpop_nonce_make(const uint8_t key[JOSE_DPOP_NONCE_KEY_LEN], int64_t now_s, char **out,
                         struct err *e) MUST_CHECK;
/* 0 when nonce was made with key and is at most max_age_s old (0: 300 s) and
 * not from the future (5 s skew); ERR_AUTH otherwise. */
int jose_dpop_nonce_check(const uint8_t key[JOSE_DPOP_NONCE_KEY_LEN], const char *nonce,
                          int64_t max_age_s, int64_t now_s, struct err *e) MUST_CHECK;

struct jose_dpop_result {
    char jkt[JOSE_JKT_LEN + 1]; /* thumbprint of the proof's jwk */
    json_t *header;             /* protected header (owned) */
    json_t *claims;             /* claims (owned) */
};

/* Validates a DPoP proof.  On success fills res (release with
 * jose_dpop_result_clear). */
int jose_dpop_verify(const char *proof, size_t len, const struct jose_dpop_opts *o,
                     struct jose_dpop_result *res, enum jose_reason *why, struct err *e) MUST_CHECK;
void jose_dpop_result_clear(struct jose_dpop_result *res);

/* Creates a proof for htm/htu signed with key (private), header jwk = its
 * public part, fresh random jti, iat = now (0: clock).  access_token and
 * nonce may be NULL. */
int jose_dpop_create(const struct jose_jwk *key, enum jose_alg alg, const char *htm,
                     const char *htu, const char *access_token, const char *nonce, int64_t now_s,
                     char **out, struct err *e) MUST_CHECK;

/* Normalises an http(s) URI for htu comparison: lower-case scheme and host,
 * default port removed, query and fragment dropped, empty path -> "/".
 * *out: free(). */
int jose_htu_normalize(const char *uri, char **out, struct err *e) MUST_CHECK;

/* Checks the RFC 9449 binding: thumbprint jkt equals claims.cnf.jkt. */
int jose_dpop_check_binding(const json_t *token_claims, const char *jkt, enum jose_reason *why,
                            struct err *e) MUST_CHECK;

/* ==== trust store and keyring (J2) ======================================= */

/* Workload identity trust (SPIFFE bundles, OIDC issuers, JWKS fetch and
 * cache) and Mandate's signing keyring: declared in jose_trust.h. */
#include "jose/jose_trust.h"

#endif
