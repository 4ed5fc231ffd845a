/*
 * jose_int.h: private structures and helpers shared by the files of
 * src/jose/ (b64.c, jwk.c, jws.c, jwt.c, dpop.c).  Not for other modules.
 */
#ifndef MANDATE_JOSE_INT_H
#define MANDATE_JOSE_INT_H

#include <stdatomic.h>

#include "jose/jose.h"

/* key_ops bits */
#define JOSE_OP_SIGN 0x1u
#define JOSE_OP_VERIFY 0x2u
#define JOSE_OP_OTHER 0x4u

struct jose_jwk {
    atomic_int refs;
    enum jose_kty kty;
    int nid;        /* NID_ED25519, NID_X9_62_prime256v1, NID_secp384r1, NID_rsaEncryption */
    EVP_PKEY *pkey; /* public or private */
    int is_private;
    char *kid;         /* NULL when absent */
    char *use;         /* NULL when absent */
    enum jose_alg alg; /* the `alg` member; UNKNOWN when absent */
    unsigned key_ops;  /* JOSE_OP_* bits; meaningful when has_key_ops */
    int has_key_ops;
    unsigned alg_mask; /* algorithms this key can verify */
};

struct jose_jwks {
    struct jose_jwk **keys;
    size_t n;
    size_t cap;
};

struct jose_verifier {
    struct jose_jwks *set; /* own copy holding references */
    unsigned alg_mask;
    char *use; /* NULL: absent or "sig" */
};

/* Sets *why (may be NULL) to r and e to code with "<reason>: <fmt>". */
int jose_fail(enum jose_reason *why, enum jose_reason r, struct err *e, int code, const char *fmt,
              ...) PRINTF_LIKE(5, 6);

/* Loads JSON text strictly: duplicate keys refused, depth limited, an object
 * required.  e gets line:column on error. */
int jose_json_load_object(const char *text, size_t len, json_t **out, struct err *e) MUST_CHECK;

/* Decodes a base64url member of obj into *out (free()), requiring it. */
int jose_b64url_member(const json_t *obj, const char *name, uint8_t **out, size_t *len,
                       struct err *e) MUST_CHECK;

/* Encodes JSON compactly (insertion order) into base64url. */
int jose_json_b64url(const json_t *obj, char **out, size_t *outlen, struct err *e) MUST_CHECK;

/* The key's public JSON members used by the thumbprint (RFC 7638). */
int jose_jwk_public_members(const struct jose_jwk *k, json_t **out, struct err *e) MUST_CHECK;

/* Checks that alg is usable with key k (family, curve, `alg` member, mask). */
int jose_key_allows(const struct jose_jwk *k, enum jose_alg alg);

/* Low-level signature over data with key for alg; JOSE wire format (raw r||s
 * for ECDSA).  *sig: free(). */
int jose_sig_create(const struct jose_jwk *k, enum jose_alg alg, const void *data, size_t len,
                    uint8_t **sig, size_t *siglen, struct err *e) MUST_CHECK;
/* 0 when sig verifies, ERR_AUTH when not. */
int jose_sig_verify(const struct jose_jwk *k, enum jose_alg alg, const void *data, size_t len,
                    const uint8_t *sig, size_t siglen, struct err *e) MUST_CHECK;

/* A split compact JWS: pointers into the token, plus decoded parts. */
struct jose_parts {
    const char *seg[3];
    size_t seglen[3];
    json_t *header;
    uint8_t *payload;
    size_t plen;
    uint8_t *sig;
    size_t siglen;
    enum jose_alg alg;
};

/* Splits and decodes token; checks header rules that do not depend on a
 * key (alg supported and allowed by alg_mask, crit, b64).  On error
 * parts are released. */
int jose_parts_parse(const char *token, size_t len, unsigned alg_mask, struct jose_parts *p,
                     enum jose_reason *why, struct err *e) MUST_CHECK;
void jose_parts_clear(struct jose_parts *p);
/* Verifies p's signature with k. */
int jose_parts_verify(const struct jose_parts *p, const struct jose_jwk *k, enum jose_reason *why,
                      struct err *e) MUST_CHECK;

#endif
