/*
 * fuzz_jose_trust.c: the trust store's and the keyring's parsers of outside
 * input.  The first byte picks the target, the rest is the input:
 *   0  a SPIFFE bundle (jose_trust_parse_keys, SPIFFE)
 *   1  an OIDC JWKS (jose_trust_parse_keys, OIDC)
 *   2  a keyring envelope (jose_keyring_load under a fixed KEK)
 *   3  a workload credential (jose_trust_verify against a store holding the
 *      SPIFFE trust domain fuzz.example and the OIDC issuer https://idp.fuzz,
 *      both with the fixed key below)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jose/jose.h"
#include "jose/trust_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Public half of the fixed ES256 key (kid fz1) the seed tokens are signed with. */
static const char BUNDLE[] =
    "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"use\":\"jwt-svid\",\"kid\":\"fz1\","
    "\"x\":\"W92FJoOGgciPGh8-Rr-DaM7p-w9ZxDCk1N6gm5xCQ_8\","
    "\"y\":\"HxFJrKH-eD4NmxesXHQjig7UdRvHoX9Lz01jnLd7L3I\"}],\"spiffe_sequence\":1}";
static const char JWKS[] = "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"kid\":\"fz1\","
                           "\"x\":\"W92FJoOGgciPGh8-Rr-DaM7p-w9ZxDCk1N6gm5xCQ_8\","
                           "\"y\":\"HxFJrKH-eD4NmxesXHQjig7UdRvHoX9Lz01jnLd7L3I\"}]}";
static const char KEK[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

static struct jose_trust_store *store;
static struct jose_kek *kek;

static char *write_tmp(const char *text)
{
    char path[] = "/tmp/fuzz_jose_trust.XXXXXX";
    int fd = mkstemp(path);
    FILE *f;

    if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
        abort();
    }
    fputs(text, f);
    fclose(f);
    return strdup(path);
}

static void init(void)
{
    static const char *const aud[] = {"https://mandate.example", NULL};
    struct jose_trust_issuer s = {
        .kind = JOSE_TRUST_SPIFFE, .name = "fuzz.example", .audiences = aud};
    struct jose_trust_issuer o = {
        .kind = JOSE_TRUST_OIDC, .name = "https://idp.fuzz", .audiences = aud};
    char *bundle = write_tmp(BUNDLE), *jwks = write_tmp(JWKS);

    s.jwks_file = bundle;
    o.jwks_file = jwks;
    if (jose_trust_store_new(&store, NULL) != 0 || jose_trust_add(store, &s, 1, NULL) != 0 ||
        jose_trust_add(store, &o, 1, NULL) != 0 ||
        jose_kek_from_text(KEK, strlen(KEK), &kek, NULL) != 0) {
        abort();
    }
    /* Loaded now: the files are not needed any more. */
    unlink(bundle);
    unlink(jwks);
    free(bundle);
    free(jwks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jose_verifier *v = NULL;
    struct jose_keyring *kr = NULL;
    struct jose_identity *id = NULL;
    int64_t hint, seq;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;

    if (size == 0) {
        return 0;
    }
    if (store == NULL) {
        init();
    }
    switch (data[0] % 4) {
    case 0:
    case 1:
        if (jose_trust_parse_keys(data[0] % 4 == 0 ? JOSE_TRUST_SPIFFE : JOSE_TRUST_OIDC,
                                  JOSE_ALGS_ALL, text, n, 1, &v, &hint, &seq, NULL) == 0) {
            if (hint < 0) {
                abort();
            }
            jose_verifier_free(v);
        }
        break;
    case 2:
        if (jose_keyring_new(NULL, kek, &kr, NULL) != 0) {
            abort();
        }
        (void)jose_keyring_load(kr, text, n, NULL);
        jose_keyring_free(kr);
        break;
    default:
        if (jose_trust_verify(store, text, n, &id, NULL) == 0) {
            if (id->subject == NULL || id->issuer == NULL) {
                abort();
            }
            jose_identity_free(id);
        }
        break;
    }
    return 0;
}
