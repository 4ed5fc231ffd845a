/*
 * jose_trust.h: workload identity trust and Mandate's own signing keys.
 *
 * Part of the jose public API (jose.h includes this section; include
 * "jose/jose.h").  Two halves:
 *
 *  - Trust store: who may vouch for an agent.  An issuer is a SPIFFE trust
 *    domain (a SPIFFE JWKS bundle: only "use":"jwt-svid" keys verify
 *    JWT-SVIDs) or an OIDC issuer (a JWKS from a file, from a jwks_uri, or
 *    found through /.well-known/openid-configuration).  Fetched keys are
 *    cached, refreshed on an interval, kept while a refresh fails for a
 *    stale-while-error window, and refreshed early (rate-limited) when a
 *    token names an unknown kid.  Verifying a credential gives a normalised
 *    identity.  A store is thread-safe once configured.
 *
 *  - Keyring: Mandate's token signing keys: a current key plus previous ones
 *    (kept for the longest token lifetime) published as a public JWKS,
 *    rotated on a schedule, private keys encrypted at rest with AES-256-GCM
 *    under a key-encryption key (KEK) as JSON envelopes the caller persists.
 *    Signing goes through one narrow function (jose_keyring_sign) so the
 *    signer can move to its own process.
 */
#ifndef MANDATE_JOSE_TRUST_H
#define MANDATE_JOSE_TRUST_H
/* The guard comes first: jose.h includes this file at its end. */

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jose/jose.h"
#include "util/err.h"

/* ======================================================================== */
/* HTTP fetch options (used by the trust store for jwks_uri and discovery)  */
/* ======================================================================== */

struct jose_fetch_opts {
    int allow_http;          /* 1: accept http:// too (tests on 127.0.0.1 only) */
    long connect_timeout_ms; /* 0: LIMIT_JOSE_FETCH_CONNECT_MS */
    long total_timeout_ms;   /* 0: LIMIT_JOSE_FETCH_TOTAL_MS */
    size_t max_body;         /* 0: LIMIT_JOSE_FETCH_BODY_MAX */
    const char *ca_file;     /* NULL: the system trust store */
};

/* ======================================================================== */
/* Trust store                                                              */
/* ======================================================================== */

enum jose_trust_kind { JOSE_TRUST_SPIFFE = 1, JOSE_TRUST_OIDC = 2 };

struct jose_trust_issuer {
    enum jose_trust_kind kind;
    /* SPIFFE: the trust domain ("corp.example").  OIDC: the issuer URL,
     * compared byte for byte with the token's "iss". */
    const char *name;
    /* Where the keys come from: exactly one of jwks_json, jwks_file,
     * jwks_uri, discovery (OIDC only: GET <name>/.well-known/openid-
     * configuration and use its jwks_uri, which must be https unless
     * fetch.allow_http).  Inline keys never change, so they are not
     * refreshed; a file is re-read at each refresh. */
    const char *jwks_json; /* inline SPIFFE bundle or JWKS text (copied) */
    const char *jwks_file; /* SPIFFE bundle or JWKS file */
    const char *jwks_uri;  /* JWKS or SPIFFE bundle URL */
    int discovery;
    /* Accepted audiences: a token is accepted when one of its "aud" values
     * is one of these.  NULL-terminated; at least one is required. */
    const char *const *audiences;
    /* Comma-separated algorithm allow-list; NULL: the default for the kind
     * (SPIFFE: ES256,ES384,RS256,PS256 as the JWT-SVID spec lists; OIDC:
     * EdDSA,ES256,ES384,RS256,PS256). */
    const char *algs;
    int64_t refresh_s;      /* 0: LIMIT_JOSE_TRUST_REFRESH_S (or the bundle's hint) */
    int64_t stale_s;        /* 0: LIMIT_JOSE_TRUST_STALE_S */
    int64_t min_refresh_s;  /* 0: LIMIT_JOSE_TRUST_MIN_REFRESH_S; unknown-kid rate limit */
    int64_t skew_s;         /* clock skew for exp/nbf/iat; 0: LIMIT_JOSE_TRUST_SKEW_S */
    int64_t max_lifetime_s; /* exp - iat (or exp - now) cap; 0: LIMIT_JOSE_TRUST_MAX_LIFETIME_S */
    struct jose_fetch_opts fetch;
};

/* A verified workload identity, normalised across kinds. */
struct jose_identity {
    enum jose_trust_kind kind;
    char *issuer;   /* SPIFFE: the trust domain; OIDC: the issuer URL */
    char *subject;  /* SPIFFE: the SPIFFE ID; OIDC: "sub" */
    char *audience; /* the configured audience that matched */
    int64_t exp;    /* seconds since the epoch */
    char *kid;      /* the key that verified the token */
    char *alg;
    json_t *claims; /* every claim (owned; decref'd by jose_identity_free) */
};

struct jose_trust_store;

/* Stats for tests and /metrics. */
struct jose_trust_stats {
    uint64_t fetches; /* successful loads (file or network) */
    uint64_t fetch_failures;
    uint64_t stale_served;  /* verifications that used keys past their refresh time */
    uint64_t kid_refreshes; /* refreshes caused by an unknown kid */
};

/* Creates an empty store.  Free with jose_trust_store_free. */
int jose_trust_store_new(struct jose_trust_store **out, struct err *e) MUST_CHECK;

/* Adds an issuer (the strings are copied).  Keys are loaded lazily on first
 * use, or now when load_now is set (then a load failure is returned).
 * ERR_CONFLICT when the name is configured already. */
int jose_trust_add(struct jose_trust_store *ts, const struct jose_trust_issuer *conf, int load_now,
                   struct err *e) MUST_CHECK;

/* Verifies a workload credential (compact JWS, token[0..len)): picks the
 * issuer (an OIDC issuer whose name equals "iss", else the SPIFFE trust
 * domain of a SPIFFE ID "sub"), verifies the signature with that issuer's
 * keys only, then the claims (exp, nbf, iat, aud, sub; JWT-SVID rules for
 * SPIFFE).  *out is a new identity on success.  Returns ERR_AUTH (refused
 * token: the message says why), ERR_UNAVAILABLE (no usable keys: the
 * issuer's JWKS cannot be loaded and no stale copy is left), ERR_LIMIT,
 * ERR_NOMEM. */
int jose_trust_verify(struct jose_trust_store *ts, const char *token, size_t len,
                      struct jose_identity **out, struct err *e) MUST_CHECK;

/* Counters for one issuer (by name); ERR_NOTFOUND if unknown. */
int jose_trust_stats(struct jose_trust_store *ts, const char *name,
                     struct jose_trust_stats *out) MUST_CHECK;

/* Gives every issuer of dst that has no keys yet the keys src has loaded for
 * the issuer of the same kind and name, when its key source is the same
 * (jwks_json, jwks_file, jwks_uri, discovery, algorithms, CA file): a store
 * rebuilt for an unrelated change then answers at once with the keys the old
 * one used, keeping their load time (so they refresh when they were due), and
 * a failed fetch of the new store cannot fail what the old keys answer.
 * Returns the number of issuers that took keys (0 on allocation failure). */
size_t jose_trust_adopt_keys(struct jose_trust_store *dst, struct jose_trust_store *src);

void jose_identity_free(struct jose_identity *id);
void jose_trust_store_free(struct jose_trust_store *ts);

/* ======================================================================== */
/* Keyring: Mandate's signing keys                                          */
/* ======================================================================== */

/* The key-encryption key: 32 bytes.  Loaded from a file or an environment
 * variable holding base64url (43 characters, no padding; surrounding
 * whitespace ignored), e.g. `openssl rand 32 | basenc --base64url | tr -d =`. */
struct jose_kek;

int jose_kek_from_text(const char *s, size_t n, struct jose_kek **out, struct err *e) MUST_CHECK;
int jose_kek_from_file(const char *path, struct jose_kek **out, struct err *e) MUST_CHECK;
int jose_kek_from_env(const char *var, struct jose_kek **out, struct err *e) MUST_CHECK;
/* Wipes and frees; NULL is fine. */
void jose_kek_free(struct jose_kek *k);

struct jose_keyring_conf {
    enum jose_alg alg; /* algorithm of new keys; JOSE_ALG_UNKNOWN: ES256 */
    int64_t
        rotate_after_s;   /* age at which the current key is replaced; 0: LIMIT_JOSE_KEY_ROTATE_S */
    int64_t retain_s;     /* previous keys stay published this long after being
                             replaced: at least the longest token lifetime;
                             0: LIMIT_JOSE_KEY_RETAIN_S */
    int64_t prepublish_s; /* a key made by jose_keyring_maintain is published
                             this long before it signs; 0: none; must be
                             below rotate_after_s (else ERR_INVALID) */
};

/* A keyring may be used from several threads: signing, JWKS and maintenance
 * take its lock briefly (signing itself runs outside it on a key reference). */
struct jose_keyring;

/* Creates a keyring; the KEK is borrowed and must outlive the keyring. */
int jose_keyring_new(const struct jose_keyring_conf *conf, const struct jose_kek *kek,
                     struct jose_keyring **out, struct err *e) MUST_CHECK;

/* Loads a persisted envelope (JSON text; see docs/jose.md).  The envelope is
 * authenticated with the KEK (its kid, alg and times are bound as AAD):
 * ERR_AUTH on any tampering or a wrong KEK.  The newest active key becomes
 * current. */
int jose_keyring_load(struct jose_keyring *kr, const char *envelope, size_t len,
                      struct err *e) MUST_CHECK;

/* Generates a new current key now; the old current one becomes previous.
 * *envelope_out (free()) is the new key's envelope for the caller to persist. */
int jose_keyring_rotate(struct jose_keyring *kr, char **envelope_out, struct err *e) MUST_CHECK;

/* Like jose_keyring_rotate, but the new key signs from at_s on (Unix
 * seconds; the envelope's "created"): until then it is published in the JWKS
 * only (pending).  at_s at or before now: it is current at once.  ERR_INVALID
 * when at_s is negative or more than LIMIT_JOSE_KEY_TIME_MAX_S ahead. */
int jose_keyring_rotate_at(struct jose_keyring *kr, int64_t at_s, char **envelope_out,
                           struct err *e) MUST_CHECK;

/* Makes the successor of the current key when there is no key, or when the
 * current one (with none pending) is older than rotate_after_s less
 * prepublish_s: the successor is pending until the current key's rotation
 * age (at least prepublish_s from now), then signs.  Drops previous keys
 * past their retention.  Returns 1 and sets *envelope_out when it made a
 * key, 0 when nothing was due. */
int jose_keyring_maintain(struct jose_keyring *kr, char **envelope_out, struct err *e) MUST_CHECK;

/* What jose_keyring_maintain would do, without doing it (after dropping
 * keys past retention): 1 and *at_s (when the successor should sign) when a
 * key is due, else 0.  For a caller that makes the key elsewhere and
 * publishes it before it signs (broker/keys.c). */
int jose_keyring_due(struct jose_keyring *kr, int64_t *at_s);

/* The public JWKS ({"keys":[...]}, current first) as JSON text (free()). */
int jose_keyring_jwks(struct jose_keyring *kr, char **json_out, struct err *e) MUST_CHECK;

/* The kids that are published, current first; *n set; (free() the array
 * and each string). */
int jose_keyring_kids(struct jose_keyring *kr, char ***kids_out, size_t *n,
                      struct err *e) MUST_CHECK;

/* Emergency revocation: drops the key kid from the keyring at once (it
 * leaves the JWKS and never signs again).  *was_current: it was the signing
 * key (the caller then rotates: the previous key, if any, signs meanwhile).
 * ERR_NOTFOUND when no such key is held. */
int jose_keyring_revoke(struct jose_keyring *kr, const char *kid, int *was_current,
                        struct err *e) MUST_CHECK;

/* The keys held, newest first: [{"kid","alg","activates" (Unix s),
 * "state": "pending"|"current"|"previous", "retires" (previous keys: when
 * they leave the JWKS)}].  *out is a new reference. */
int jose_keyring_describe(struct jose_keyring *kr, json_t **out, struct err *e) MUST_CHECK;

/* The signer: signs claims (a JSON object) with the current key as a compact
 * JWS with header {"alg","kid","typ"}; typ NULL: "JWT".  *jws_out (free()). */
int jose_keyring_sign(struct jose_keyring *kr, const json_t *claims, const char *typ,
                      char **jws_out, struct err *e) MUST_CHECK;

void jose_keyring_free(struct jose_keyring *kr);

#endif
