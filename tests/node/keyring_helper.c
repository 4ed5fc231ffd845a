/*
 * keyring_helper.c: prints, as one JSON object, what the keyring publishes
 * across a rotation, for jose-interop.mjs to check with npm `jose`:
 *   {"jwks_before":..., "jwks_after":..., "jwks_retired":...,
 *    "token_old":"...", "token_new":"..."}
 * token_old is signed before the rotation, token_new after it; jwks_retired
 * is the JWKS once the old key's retention has passed.  Time is simulated
 * with clock_set_wall, starting at the real time.
 * Usage: keyring_helper ALG (ES256, EdDSA, ...).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose.h"
#include "util/clock.h"

static int64_t t_ms;

static int64_t fake(void)
{
    return t_ms;
}

static char *sign(struct jose_keyring *kr)
{
    /* No iat: the simulated clock runs ahead of the verifier's real one. */
    json_t *c = json_pack("{sssssI}", "iss", "https://mandate.example", "aud", "downstream", "exp",
                          (json_int_t)(t_ms / 1000 + 86400 * 3));
    char *tok = NULL;
    struct err e;

    if (c == NULL || jose_keyring_sign(kr, c, NULL, &tok, &e) != 0) {
        fprintf(stderr, "keyring_helper: sign: %s\n", e.msg);
        exit(2);
    }
    json_decref(c);
    return tok;
}

static json_t *jwks(struct jose_keyring *kr)
{
    char *text = NULL;
    struct err e;
    json_t *j;

    if (jose_keyring_jwks(kr, &text, &e) != 0) {
        fprintf(stderr, "keyring_helper: jwks: %s\n", e.msg);
        exit(2);
    }
    j = json_loads(text, 0, NULL);
    free(text);
    return j;
}

int main(int argc, char **argv)
{
    static const char kek_text[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    struct jose_keyring_conf conf = {.rotate_after_s = 3600, .retain_s = 600};
    struct jose_kek *kek = NULL;
    struct jose_keyring *kr = NULL;
    char *env = NULL, *old_tok, *new_tok, *out;
    json_t *res;
    struct err e;

    conf.alg = jose_alg_from_name(argc > 1 ? argv[1] : "ES256");
    t_ms = clock_wall_ms();
    clock_set_wall(fake);
    if (conf.alg == JOSE_ALG_UNKNOWN ||
        jose_kek_from_text(kek_text, strlen(kek_text), &kek, &e) != 0 ||
        jose_keyring_new(&conf, kek, &kr, &e) != 0 || jose_keyring_maintain(kr, &env, &e) != 1) {
        fprintf(stderr, "keyring_helper: setup failed\n");
        return 2;
    }
    free(env);
    res = json_object();
    json_object_set_new(res, "jwks_before", jwks(kr));
    old_tok = sign(kr);
    t_ms += 3600 * 1000LL;
    if (jose_keyring_maintain(kr, &env, &e) != 1) {
        fprintf(stderr, "keyring_helper: rotation not done\n");
        return 2;
    }
    free(env);
    new_tok = sign(kr);
    json_object_set_new(res, "jwks_after", jwks(kr));
    t_ms += 600 * 1000LL;
    json_object_set_new(res, "jwks_retired", jwks(kr));
    json_object_set_new(res, "token_old", json_string(old_tok));
    json_object_set_new(res, "token_new", json_string(new_tok));
    out = json_dumps(res, JSON_COMPACT);
    puts(out);
    free(out);
    free(old_tok);
    free(new_tok);
    json_decref(res);
    jose_keyring_free(kr);
    jose_kek_free(kek);
    return 0;
}
