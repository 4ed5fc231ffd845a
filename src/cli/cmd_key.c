/*
 * cmd_key.c: `mandate key`: make a JWK offline, and manage the signing keys
 * of a running server through its API (docs/operations.md, "Signing keys").
 *
 *   mandate key generate [--alg ES256|ES384|EdDSA|RS256|PS256] [--kid K]
 *   mandate key list                      GET  /v1/keys
 *   mandate key rotate [--activate-in S]  POST /v1/keys/rotate (admin)
 *   mandate key revoke KID --reason TEXT  POST /v1/keys/KID/revoke (admin, security)
 *
 * generate prints one line of JSON; keep it secret.  The others go through
 * the server rather than the store: the server holds the keyring, swaps it
 * at once, and writes the audit record (a store edited behind its back would
 * be noticed only at its next tick, up to a minute later).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jose/jose.h"
#include "util/wipe.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: mandate key generate [--alg ES256|ES384|EdDSA|RS256|PS256] [--kid K]\n"
               "       mandate key list [--url URL] [--key KEY | --key-file F]\n"
               "       mandate key rotate [--activate-in SECONDS] [--url URL] [--key ...]\n"
               "       mandate key revoke [--] KID --reason TEXT [--url URL] [--key ...]\n"
               "\ngenerate prints a new private JWK (default ES256; kid defaults to the RFC 7638\n"
               "thumbprint).  list, rotate and revoke manage the signing keys of a running\n"
               "server: rotate makes a new signing key (at once, or SECONDS ahead: published\n"
               "in the JWKS meanwhile; admin key); revoke removes a compromised key from the\n"
               "JWKS at once, so tokens it signed fail (admin or security key).  API key:\n"
               "--key, --key-file (default var/admin.key) or MANDATE_API_KEY; default --url\n"
               "http://127.0.0.1:8080 (or MANDATE_URL).  Prints the server's JSON.\n"
               "Exit status: 0 done, 1 the server refused, 2 usage or no server.\n");
}

/* The request of one verb. */
struct key_call {
    const char *method;
    char path[200];
    char *body; /* JSON or NULL */
};

/* A kid is a base64url thumbprint: it goes into the path unescaped. */
static int kid_ok(const char *k)
{
    size_t n = strlen(k);

    return n > 0 && n <= 128 &&
           strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

/* Builds the request of list, rotate or revoke from argv; CLI_OK or CLI_USAGE. */
static int build(int argc, char **argv, const char **url, const char **key, const char **key_file,
                 struct key_call *kc)
{
    const char *verb = argv[1], *kid = NULL, *reason = NULL, *act = NULL;
    json_t *j = NULL;
    int i = 2;

    /* A kid may begin with '-' (base64url): only "--" starts an option, and
     * "revoke -- KID" takes even a kid that begins with "--". */
    if (strcmp(verb, "revoke") == 0 && argc > 3 && strcmp(argv[2], "--") == 0) {
        kid = argv[3];
        i = 4;
    } else if (strcmp(verb, "revoke") == 0 && argc > 2 && strncmp(argv[2], "--", 2) != 0) {
        kid = argv[i++];
    }
    for (; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--url") == 0                          ? url
                           : strcmp(argv[i], "--key") == 0                        ? key
                           : strcmp(argv[i], "--key-file") == 0                   ? key_file
                           : strcmp(argv[i], "--reason") == 0 && kid != NULL      ? &reason
                           : strcmp(argv[i], "--activate-in") == 0 && kid == NULL ? &act
                                                                                  : NULL;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr, "mandate key %s: unknown or incomplete option %s\n", verb, argv[i]);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    kc->method = strcmp(verb, "list") == 0 ? "GET" : "POST";
    if (strcmp(verb, "list") == 0) {
        snprintf(kc->path, sizeof(kc->path), "/v1/keys");
        return act == NULL ? CLI_OK : CLI_USAGE;
    }
    if (strcmp(verb, "rotate") == 0) {
        char *end = NULL;
        long long s = act != NULL ? strtoll(act, &end, 10) : 0;
        if (act != NULL && (end == act || *end != '\0' || s < 0)) {
            fprintf(stderr, "mandate key rotate: --activate-in: seconds (0 or more)\n");
            return CLI_USAGE;
        }
        snprintf(kc->path, sizeof(kc->path), "/v1/keys/rotate");
        j = json_pack("{s:I}", "activate_in_s", (json_int_t)s);
    } else {
        if (kid == NULL || !kid_ok(kid) || reason == NULL) {
            fprintf(stderr, "mandate key revoke: KID (base64url) and --reason are required\n");
            return CLI_USAGE;
        }
        snprintf(kc->path, sizeof(kc->path), "/v1/keys/%s/revoke", kid);
        j = json_pack("{s:s}", "reason", reason);
    }
    kc->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return kc->body != NULL ? CLI_OK : CLI_USAGE;
}

/* list, rotate, revoke: through the server's API. */
static int remote(int argc, char **argv)
{
    const char *url = getenv("MANDATE_URL"), *key = getenv("MANDATE_API_KEY"), *key_file = NULL;
    struct key_call kc = {NULL, "", NULL};
    char *k = NULL;
    int rc;

    rc = build(argc, argv, &url, &key, &key_file, &kc);
    if (rc == CLI_OK && (k = cli_api_key(key, key_file)) == NULL) {
        fprintf(stderr, "mandate key: no API key (--key, --key-file or MANDATE_API_KEY)\n");
        rc = CLI_USAGE;
    }
    if (rc == CLI_OK) {
        rc = cli_api_call("mandate key", url != NULL ? url : "http://127.0.0.1:8080", k, kc.method,
                          kc.path, kc.body);
    }
    free(kc.body);
    if (k != NULL) {
        wipe(k, strlen(k));
    }
    free(k);
    return rc;
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
    if (argc >= 2 && (strcmp(argv[1], "list") == 0 || strcmp(argv[1], "rotate") == 0 ||
                      strcmp(argv[1], "revoke") == 0)) {
        return remote(argc, argv);
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
