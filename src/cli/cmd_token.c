/*
 * cmd_token.c: `mandate token sign|verify`: JWTs from the command line.
 *
 *   mandate token sign --key JWK_FILE --claims JSON_OR_FILE [--typ T] [--alg A]
 *   mandate token verify --jwks FILE [--iss I] [--aud A] [--alg A,...] [--skew S]
 *                        [--typ T] [--max-lifetime S] [--no-exp]  < token
 *
 * verify exits 0 and prints {"header":..,"claims":..} when the token is
 * valid, 1 with one line "invalid token: <reason>: <detail>" on stderr when
 * not, 2 on a usage or input error.  --jwks takes a JWK Set or a single JWK
 * (a private one is reduced to its public half).
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
    fprintf(f,
            "usage: mandate token sign --key JWK_FILE --claims JSON_OR_FILE [--typ T] [--alg A]\n"
            "       mandate token verify --jwks FILE [--iss I] [--aud A] [--alg A,...]\n"
            "                            [--skew S] [--typ T] [--max-lifetime S] [--no-exp]\n"
            "\nverify reads the token on stdin; exit 0 valid (prints header and claims),\n"
            "1 invalid (one line reason on stderr), 2 usage or input error.\n");
}

/* Reads all of f (at most max bytes) into a NUL-terminated string. */
static char *read_all(FILE *f, size_t max, size_t *lenp)
{
    size_t cap = 4096, len = 0;
    char *s = malloc(cap), *ns;

    while (s != NULL) {
        size_t n = fread(s + len, 1, cap - len - 1, f);
        len += n;
        if (len > max) {
            break;
        }
        if (n == 0) {
            s[len] = '\0';
            *lenp = len;
            return s;
        }
        if (cap - len - 1 == 0) {
            ns = realloc(s, cap * 2);
            if (ns == NULL) {
                break;
            }
            s = ns;
            cap *= 2;
        }
    }
    free(s);
    return NULL;
}

static char *read_file(const char *path, size_t max, size_t *lenp)
{
    FILE *f = fopen(path, "rb");
    char *s;

    if (f == NULL) {
        fprintf(stderr, "mandate token: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    s = read_all(f, max, lenp);
    fclose(f);
    if (s == NULL) {
        fprintf(stderr, "mandate token: %s: unreadable or too large\n", path);
    }
    return s;
}

static void trim(char *s, size_t *len)
{
    while (*len > 0 && (s[*len - 1] == '\n' || s[*len - 1] == '\r' || s[*len - 1] == ' ' ||
                        s[*len - 1] == '\t')) {
        s[--(*len)] = '\0';
    }
}

static int load_key(const char *path, struct jose_jwk **k)
{
    struct err e = {0};
    size_t len = 0;
    char *text = read_file(path, LIMIT_JOSE_JWKS_TEXT_MAX, &len);
    int r;

    if (text == NULL) {
        return -1;
    }
    r = jose_jwk_parse(text, len, k, &e);
    wipe(text, len);
    free(text);
    if (r != 0) {
        fprintf(stderr, "mandate token: %s: %s\n", path, e.msg);
        return -1;
    }
    return 0;
}

static int do_sign(int argc, char **argv)
{
    const char *keyf = NULL, *claims_arg = NULL, *typ = NULL;
    enum jose_alg alg = JOSE_ALG_UNKNOWN;
    struct jose_jwk *k = NULL;
    struct err e = {0};
    json_t *claims = NULL;
    json_error_t je;
    char *tok = NULL, *text = NULL;
    size_t len = 0;
    int i, rc = CLI_USAGE;

    for (i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            keyf = argv[++i];
        } else if (strcmp(argv[i], "--claims") == 0 && i + 1 < argc) {
            claims_arg = argv[++i];
        } else if (strcmp(argv[i], "--typ") == 0 && i + 1 < argc) {
            typ = argv[++i];
        } else if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc) {
            if ((alg = jose_alg_from_name(argv[++i])) == JOSE_ALG_UNKNOWN) {
                fprintf(stderr, "mandate token: unsupported algorithm \"%s\"\n", argv[i]);
                return CLI_USAGE;
            }
        } else {
            usage(stderr);
            return CLI_USAGE;
        }
    }
    if (keyf == NULL || claims_arg == NULL) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (load_key(keyf, &k) != 0) {
        goto out;
    }
    if (claims_arg[0] == '{') {
        claims = json_loads(claims_arg, JSON_REJECT_DUPLICATES, &je);
    } else if ((text = read_file(claims_arg, LIMIT_JOSE_TOKEN_MAX, &len)) != NULL) {
        claims = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    } else {
        goto out;
    }
    if (!json_is_object(claims)) {
        fprintf(stderr, "mandate token: claims must be a JSON object\n");
        goto out;
    }
    if (jose_jwt_sign(k, alg, typ, claims, &tok, &e) != 0) {
        fprintf(stderr, "mandate token: %s\n", e.msg);
        goto out;
    }
    printf("%s\n", tok);
    rc = CLI_OK;
out:
    free(tok);
    free(text);
    json_decref(claims);
    jose_jwk_free(k);
    return rc;
}

static int load_jwks(const char *path, struct jose_jwks **set)
{
    struct err e = {0};
    struct jose_jwk *k = NULL, *pub = NULL;
    json_t *j = NULL, *pj = NULL;
    json_error_t je;
    size_t len = 0;
    char *text = read_file(path, LIMIT_JOSE_JWKS_TEXT_MAX, &len);
    int r = -1;

    if (text == NULL) {
        return -1;
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j)) {
        fprintf(stderr, "mandate token: %s: not a JSON object\n", path);
        goto out;
    }
    if (json_object_get(j, "keys") != NULL) {
        r = jose_jwks_from_json(j, JOSE_JWKS_SKIP_UNSUPPORTED | JOSE_JWKS_ALLOW_PRIVATE, set, NULL,
                                &e);
    } else if ((r = jose_jwk_from_json(j, &k, &e)) == 0 &&
               (r = jose_jwk_to_json(k, 0, &pj, &e)) == 0 &&
               (r = jose_jwk_from_json(pj, &pub, &e)) == 0) {
        *set = jose_jwks_new();
        r = *set == NULL ? -1 : jose_jwks_add(*set, pub, &e);
    }
    if (r != 0) {
        fprintf(stderr, "mandate token: %s: %s\n", path, e.msg);
        jose_jwks_free(*set);
        *set = NULL;
        r = -1;
    }
out:
    wipe(text, len);
    free(text);
    json_decref(j);
    json_decref(pj);
    jose_jwk_free(k);
    jose_jwk_free(pub);
    return r;
}

static int parse_secs(const char *s, int64_t *out)
{
    if (num_parse_i64(s, strlen(s), 0, 100L * 365 * 86400, out) != 0) {
        fprintf(stderr, "mandate token: bad number of seconds \"%s\"\n", s);
        return -1;
    }
    return 0;
}

static int verify_args(int argc, char **argv, struct jose_jwt_opts *o, const char **jwksf,
                       unsigned *mask)
{
    struct err e = {0};
    int i;

    for (i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-exp") == 0) {
            o->allow_no_exp = 1;
            continue;
        }
        if (v == NULL) {
            return -1;
        }
        i++;
        if (strcmp(a, "--jwks") == 0) {
            *jwksf = v;
        } else if (strcmp(a, "--iss") == 0) {
            o->iss = v;
        } else if (strcmp(a, "--aud") == 0) {
            o->aud = v;
        } else if (strcmp(a, "--typ") == 0) {
            o->typ = v;
        } else if (strcmp(a, "--alg") == 0) {
            if (jose_alg_mask_parse(v, mask, &e) != 0) {
                fprintf(stderr, "mandate token: %s\n", e.msg);
                return -1;
            }
        } else if (strcmp(a, "--skew") == 0) {
            if (parse_secs(v, &o->skew_s) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--max-lifetime") == 0) {
            if (parse_secs(v, &o->max_lifetime_s) != 0) {
                return -1;
            }
        } else {
            return -1;
        }
    }
    return *jwksf != NULL ? 0 : -1;
}

static int do_verify(int argc, char **argv)
{
    struct jose_jwt_opts o = {.skew_s = -1};
    const char *jwksf = NULL;
    unsigned mask = 0;
    struct jose_jwks *set = NULL;
    struct jose_verifier *v = NULL;
    enum jose_reason why = JOSE_R_OK;
    struct err e = {0};
    json_t *h = NULL, *c = NULL, *outj = NULL;
    char *tok = NULL, *s = NULL;
    size_t len = 0;
    int rc = CLI_USAGE;

    if (verify_args(argc, argv, &o, &jwksf, &mask) != 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (load_jwks(jwksf, &set) != 0 || jose_verifier_new(set, mask, &v, &e) != 0) {
        goto out;
    }
    tok = read_all(stdin, LIMIT_JOSE_TOKEN_MAX + 2, &len);
    if (tok == NULL) {
        fprintf(stderr, "invalid token: too_large: token over %d bytes\n", LIMIT_JOSE_TOKEN_MAX);
        rc = CLI_NO;
        goto out;
    }
    trim(tok, &len);
    if (jose_jwt_verify(v, tok, len, &o, &h, &c, &why, &e) != 0) {
        fprintf(stderr, "invalid token: %s\n", e.msg);
        rc = CLI_NO;
        goto out;
    }
    outj = json_pack("{sOsO}", "header", h, "claims", c);
    if (outj == NULL || (s = json_dumps(outj, JSON_COMPACT)) == NULL) {
        goto out;
    }
    printf("%s\n", s);
    rc = CLI_OK;
out:
    free(s);
    free(tok);
    json_decref(outj);
    json_decref(h);
    json_decref(c);
    jose_verifier_free(v);
    jose_jwks_free(set);
    return rc;
}

int cmd_token(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (argc >= 2 && strcmp(argv[1], "sign") == 0) {
        return do_sign(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "verify") == 0) {
        return do_verify(argc, argv);
    }
    usage(stderr);
    return CLI_USAGE;
}
