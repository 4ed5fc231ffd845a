/*
 * fuzz_jose_dpop.c: DPoP proof validation on arbitrary input (the proof's
 * own jwk is attacker-controlled: parsing, key checks, signature), plus the
 * htu normaliser on the raw input as a URI.  Proof keys go through a small
 * key cache kept across inputs (jwkcache.c: hits, misses and evictions).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"

static struct jose_replay *replay;
static struct jose_jwkcache *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jose_dpop_opts o = {.htm = "POST",
                               .htu = "https://mandate.example/v1/check",
                               .access_token = "token",
                               .skew_s = -1,
                               .now_s = 1800000000};
    struct jose_dpop_result res;
    char *s, *norm = NULL;

    if (replay == NULL && jose_replay_new(1024, &replay, NULL) != 0) {
        abort();
    }
    if (keys == NULL && jose_jwkcache_new(8, &keys, NULL) != 0) {
        abort();
    }
    o.replay = replay;
    o.keys = keys;
    s = malloc(size + 1);
    if (s == NULL) {
        return 0;
    }
    memcpy(s, data, size);
    s[size] = '\0';
    if (jose_dpop_verify(s, size, &o, &res, NULL, NULL) == 0) {
        jose_dpop_result_clear(&res);
    }
    if (jose_htu_normalize(s, &norm, NULL) == 0) {
        free(norm);
    }
    free(s);
    return 0;
}
