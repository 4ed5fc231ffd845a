/*
 * fuzz_jose_jwk.c: JWK and JWKS parsing on arbitrary JSON text; keys that
 * load are exported, thumbprinted and looked up.
 */
#include <stdint.h>
#include <stdlib.h>

#include "jose/jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jose_jwk *k = NULL;
    struct jose_jwks *set = NULL;
    char jkt[JOSE_JKT_LEN + 1];
    json_t *j = NULL;

    if (jose_jwk_parse((const char *)data, size, &k, NULL) == 0) {
        if (jose_jwk_thumbprint(k, jkt, NULL) != 0 || jose_jwk_to_json(k, 0, &j, NULL) != 0) {
            abort(); /* a key that loaded must export */
        }
        json_decref(j);
        j = NULL;
        if (jose_jwk_is_private(k) && jose_jwk_to_json(k, 1, &j, NULL) == 0) {
            json_decref(j);
            j = NULL;
        }
        jose_jwk_free(k);
    }
    if (jose_jwks_parse((const char *)data, size, JOSE_JWKS_SKIP_UNSUPPORTED, &set, NULL) == 0) {
        const struct jose_jwk *found = NULL;
        (void)!jose_jwks_find(set, NULL, JOSE_ALG_ES256, NULL, &found, NULL);
        if (jose_jwks_to_json(set, &j, NULL) == 0) {
            json_decref(j);
        }
        jose_jwks_free(set);
    }
    return 0;
}
