/*
 * cmd_key.c: `mandate key generate`: print a new private JWK.
 *
 *   mandate key generate [--alg ES256|ES384|EdDSA|RS256|PS256] [--kid K] [--public]
 *
 * The key goes to stdout as one line of JSON; keep it secret.  --public
 * prints only the public half (a JWKS member) instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jose/jose.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mandate key generate [--alg ES256|ES384|EdDSA|RS256|PS256] [--kid K]\n"
               "\nPrints a new private JWK (default ES256; kid defaults to the RFC 7638\n"
               "thumbprint).\n");
}

int cmd_key(int argc, char **argv)
{
    enum jose_alg alg = JOSE_ALG_ES256;
    const char *kid = NULL;
    struct jose_jwk *k = NULL;
    struct err e = {0};
    json_t *j = NULL;
    char *s = NULL;
    int i, rc = CLI_USAGE;

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc < 2 || strcmp(argv[1], "generate") != 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc) {
            alg = jose_alg_from_name(argv[++i]);
            if (alg == JOSE_ALG_UNKNOWN) {
                fprintf(stderr, "mandate key: unsupported algorithm \"%s\"\n", argv[i]);
                return CLI_USAGE;
            }
        } else if (strcmp(argv[i], "--kid") == 0 && i + 1 < argc) {
            kid = argv[++i];
        } else {
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (jose_jwk_generate(alg, kid, &k, &e) != 0 || jose_jwk_to_json(k, 1, &j, &e) != 0 ||
        (s = json_dumps(j, JSON_COMPACT)) == NULL) {
        fprintf(stderr, "mandate key: %s\n", e.msg[0] != '\0' ? e.msg : "out of memory");
        rc = CLI_USAGE;
        goto out;
    }
    printf("%s\n", s);
    rc = CLI_OK;
out:
    if (s != NULL) {
        memset(s, 0, strlen(s));
    }
    free(s);
    json_decref(j);
    jose_jwk_free(k);
    return rc;
}
