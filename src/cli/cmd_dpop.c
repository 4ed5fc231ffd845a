/*
 * cmd_dpop.c: `mandate dpop verify|create`: DPoP proofs (RFC 9449).
 *
 *   mandate dpop verify --htm M --htu U [--ath-token T] [--jkt J] [--max-age S]
 *                       [--nonce N] [--alg A,...]  < proof
 *   mandate dpop create --key JWK_FILE --htm M --htu U [--ath-token T] [--nonce N]
 *
 * verify exits 0 and prints {"header":..,"claims":..,"jkt":..} for a valid
 * proof, 1 with one line "invalid proof: <reason>: <detail>" on stderr when
 * not, 2 on a usage or input error.  create prints a fresh proof (tests and
 * interop).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jose/jose.h"
#include "util/limits.h"
#include "util/num.h"
#include "util/wipe.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mandate dpop verify --htm M --htu U [--ath-token T] [--jkt J]\n"
               "                           [--max-age S] [--nonce N] [--alg A,...]  < proof\n"
               "       mandate dpop create --key JWK_FILE --htm M --htu U [--ath-token T]\n"
               "                           [--nonce N]\n"
               "\nverify: exit 0 valid (prints header, claims, jkt), 1 invalid (reason on\n"
               "stderr), 2 usage or input error.\n");
}

struct dopts {
    const char *htm, *htu, *ath_token, *jkt, *nonce, *key;
    int64_t max_age;
    unsigned mask;
};

static int parse_args(int argc, char **argv, struct dopts *d)
{
    struct err e = {0};
    int i;

    for (i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--htm") == 0) {
            d->htm = v;
        } else if (strcmp(a, "--htu") == 0) {
            d->htu = v;
        } else if (strcmp(a, "--ath-token") == 0) {
            d->ath_token = v;
        } else if (strcmp(a, "--jkt") == 0) {
            d->jkt = v;
        } else if (strcmp(a, "--nonce") == 0) {
            d->nonce = v;
        } else if (strcmp(a, "--key") == 0) {
            d->key = v;
        } else if (strcmp(a, "--max-age") == 0) {
            if (num_parse_i64(v, strlen(v), 1, 86400, &d->max_age) != 0) {
                fprintf(stderr, "mandate dpop: bad --max-age \"%s\"\n", v);
                return -1;
            }
        } else if (strcmp(a, "--alg") == 0) {
            if (jose_alg_mask_parse(v, &d->mask, &e) != 0) {
                fprintf(stderr, "mandate dpop: %s\n", e.msg);
                return -1;
            }
        } else {
            return -1;
        }
    }
    return i == argc && d->htm != NULL && d->htu != NULL ? 0 : -1;
}

static char *read_stream(FILE *f, size_t max, size_t *lenp)
{
    char *s = malloc(max + 2);
    size_t n;

    if (s == NULL) {
        return NULL;
    }
    n = fread(s, 1, max + 1, f);
    if (n > max) {
        free(s);
        return NULL;
    }
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ')) {
        n--;
    }
    s[n] = '\0';
    *lenp = n;
    return s;
}

static int do_verify(const struct dopts *d)
{
    struct jose_dpop_opts o = {.htm = d->htm,
                               .htu = d->htu,
                               .access_token = d->ath_token,
                               .jkt = d->jkt,
                               .nonce = d->nonce,
                               .max_age_s = d->max_age,
                               .skew_s = -1,
                               .alg_mask = d->mask};
    struct jose_dpop_result res = {0};
    enum jose_reason why = JOSE_R_OK;
    struct err e = {0};
    json_t *outj = NULL;
    char *proof = NULL, *s = NULL;
    size_t len = 0;
    int rc = CLI_NO;

    proof = read_stream(stdin, LIMIT_JOSE_TOKEN_MAX, &len);
    if (proof == NULL) {
        fprintf(stderr, "invalid proof: too_large: proof over %d bytes\n", LIMIT_JOSE_TOKEN_MAX);
        return CLI_NO;
    }
    if (jose_dpop_verify(proof, len, &o, &res, &why, &e) != 0) {
        fprintf(stderr, "invalid proof: %s\n", e.msg);
        goto out;
    }
    outj = json_pack("{sOsOss}", "header", res.header, "claims", res.claims, "jkt", res.jkt);
    if (outj == NULL || (s = json_dumps(outj, JSON_COMPACT)) == NULL) {
        rc = CLI_USAGE;
        goto out;
    }
    printf("%s\n", s);
    rc = CLI_OK;
out:
    free(s);
    free(proof);
    json_decref(outj);
    jose_dpop_result_clear(&res);
    return rc;
}

static int do_create(const struct dopts *d)
{
    struct jose_jwk *k = NULL;
    struct err e = {0};
    FILE *f;
    char *text = NULL, *proof = NULL;
    size_t len = 0;
    int rc = CLI_USAGE;

    if (d->key == NULL) {
        usage(stderr);
        return CLI_USAGE;
    }
    f = fopen(d->key, "rb");
    if (f == NULL) {
        fprintf(stderr, "mandate dpop: %s: %s\n", d->key, strerror(errno));
        return CLI_USAGE;
    }
    text = read_stream(f, LIMIT_JOSE_JWKS_TEXT_MAX, &len);
    fclose(f);
    if (text == NULL || jose_jwk_parse(text, len, &k, &e) != 0 ||
        jose_dpop_create(k, JOSE_ALG_UNKNOWN, d->htm, d->htu, d->ath_token, d->nonce, 0, &proof,
                         &e) != 0) {
        fprintf(stderr, "mandate dpop: %s\n", e.msg[0] != '\0' ? e.msg : "cannot read the key");
        goto out;
    }
    printf("%s\n", proof);
    rc = CLI_OK;
out:
    if (text != NULL) {
        wipe(text, len);
    }
    free(text);
    free(proof);
    jose_jwk_free(k);
    return rc;
}

int cmd_dpop(int argc, char **argv)
{
    struct dopts d = {0};

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2 || parse_args(argc, argv, &d) != 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "verify") == 0) {
        return do_verify(&d);
    }
    if (strcmp(argv[1], "create") == 0) {
        return do_create(&d);
    }
    usage(stderr);
    return CLI_USAGE;
}
