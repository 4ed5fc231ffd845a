/*
 * fuzz_jose_jws.c: compact JWS / JWT verification on arbitrary input, with a
 * fixed verifier (EC P-256, Ed25519, RSA keys from tests/jose/keys.json).
 * Also runs the base64url decoder on the raw input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

static const char jwks_text[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"ndi4w1oG_48hOsDSkq18TeHTF_"
    "aVpGIwHn3UHaD8c_I\",\"y\":\"bo1TwXHTP6RG6oeNCxcuACUS1E8dx0g_INT6kUZ9tOE\",\"kid\":\"es256\","
    "\"alg\":\"ES256\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"HsbZnSzFTdOEpdki_"
    "ulUd3zKg16tDogy3-GgcsgysoQ\",\"kid\":\"ed25519\",\"alg\":\"EdDSA\"},{\"kty\":\"RSA\",\"n\":"
    "\"wlUdfGmb6VUWRemYXt_sqomEMPn17g4zXiW-3Hv9vwfREodSkvhOZ7y__5ewuPWHcLdoR3qqVOgW8h5jlX-q4_"
    "l82agtO_3H63Lr_L_UQqr7L5ToNszp-5da9gVq2WpvXzw7_FQ3JG1ujdSdmXQ433rVPj5ov-"
    "nBvWoMMWe6a3lr3wnYxzOLx1WItBnbZWv5zCLo_uG_"
    "Tv8atF9hf9bNAWZR7RRvNasqYnPvKPuS8bvobqjsPFvTrnwOdfuJT6JsIDwBVsWdnkd7wiEw2NCHkljwjJJPaueYuHaXlw"
    "oM2Y7kAkWml4Z-J5fen1bNksKO8suUFELwMk72WT7uaXxvzQ\",\"e\":\"AQAB\",\"kid\":\"rs256\",\"alg\":"
    "\"RS256\"}]}";

static struct jose_verifier *verifier;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jose_jwt_opts o = {
        .iss = "https://issuer.example", .aud = "mandate", .skew_s = -1, .now_s = 1800000000};
    json_t *h = NULL, *c = NULL;
    uint8_t *out = NULL;
    size_t olen = 0;
    char *tok;

    if (verifier == NULL) {
        struct jose_jwks *set = NULL;
        if (jose_jwks_parse(jwks_text, strlen(jwks_text), 0, &set, NULL) != 0 ||
            jose_verifier_new(set, 0, &verifier, NULL) != 0) {
            abort();
        }
        jose_jwks_free(set);
    }
    if (jose_b64url_decode((const char *)data, size, &out, &olen, NULL) == 0) {
        free(out);
    }
    /* Round trip: decode(encode(x)) == x, and the encoding is canonical. */
    {
        char *enc = NULL;
        size_t elen = 0;
        if (jose_b64url_encode(data, size, &enc, &elen) == 0) {
            if (jose_b64url_decode(enc, elen, &out, &olen, NULL) != 0 || olen != size ||
                (size > 0 && memcmp(out, data, size) != 0)) {
                abort();
            }
            free(out);
            free(enc);
        }
    }
    tok = malloc(size + 1);
    if (tok == NULL) {
        return 0;
    }
    memcpy(tok, data, size);
    tok[size] = '\0';
    if (jose_jwt_verify(verifier, tok, size, &o, &h, &c, NULL, NULL) == 0) {
        json_decref(h);
        json_decref(c);
    }
    if (jose_jws_verify(verifier, tok, size, &h, &out, &olen, NULL, NULL) == 0) {
        json_decref(h);
        free(out);
    }
    free(tok);
    return 0;
}
