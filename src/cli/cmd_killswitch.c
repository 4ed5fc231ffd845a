/*
 * cmd_killswitch.c: `mandate killswitch engage|lift|status` against a
 * running server (POST/DELETE/GET /v1/killswitch) with a security or admin
 * API key.  docs/delegation.md.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/limits.h"
#include "util/wipe.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: mandate killswitch engage --scope agent|owner|team|all [--target ID]\n"
           "                                 --reason TEXT [--url URL] [--key KEY | --key-file F]\n"
           "       mandate killswitch lift --scope S [--target ID] [--url URL] [--key ...]\n"
           "       mandate killswitch status [--url URL] [--key ...]\n"
           "\nEngage revokes every live task in scope (one agent, all agents of an owner or\n"
           "of a team, or all) and refuses new tasks there until lifted.  Needs a security\n"
           "or admin API key: --key, --key-file (default var/admin.key) or MANDATE_API_KEY.\n"
           "Default --url http://127.0.0.1:8080 (or MANDATE_URL).  Prints the server's JSON.\n"
           "Exit status: 0 done, 1 the server refused, 2 usage or no server.\n");
}

int cmd_killswitch(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : NULL, *url = getenv("MANDATE_URL");
    const char *scope = NULL, *target = NULL, *reason = NULL, *key = getenv("MANDATE_API_KEY");
    const char *key_file = NULL, *method;
    char *keybuf = NULL, *body = NULL;
    json_t *j = NULL;
    int i, rc = CLI_USAGE;

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (verb == NULL ||
        (strcmp(verb, "engage") != 0 && strcmp(verb, "lift") != 0 && strcmp(verb, "status") != 0)) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (i = 2; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--scope") == 0      ? &scope
                           : strcmp(argv[i], "--target") == 0   ? &target
                           : strcmp(argv[i], "--reason") == 0   ? &reason
                           : strcmp(argv[i], "--url") == 0      ? &url
                           : strcmp(argv[i], "--key") == 0      ? &key
                           : strcmp(argv[i], "--key-file") == 0 ? &key_file
                                                                : NULL;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr, "mandate killswitch: unknown or incomplete option %s\n", argv[i]);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if (strcmp(verb, "status") != 0 && scope == NULL) {
        fprintf(stderr, "mandate killswitch %s: --scope is required\n", verb);
        return CLI_USAGE;
    }
    if (strcmp(verb, "engage") == 0 && reason == NULL) {
        fprintf(stderr, "mandate killswitch engage: --reason is required\n");
        return CLI_USAGE;
    }
    keybuf = cli_api_key(key, key_file);
    if (keybuf == NULL) {
        fprintf(stderr, "mandate killswitch: no API key (--key, --key-file or "
                        "MANDATE_API_KEY)\n");
        return CLI_USAGE;
    }
    if (strcmp(verb, "status") != 0) {
        j = json_pack("{s:s}", "scope", scope);
        if (j != NULL && target != NULL) {
            json_object_set_new(j, "target", json_string(target));
        }
        if (j != NULL && reason != NULL && strcmp(verb, "engage") == 0) {
            json_object_set_new(j, "reason", json_string(reason));
        }
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (body == NULL) {
            fprintf(stderr, "mandate killswitch: out of memory\n");
            goto out;
        }
    }
    method = strcmp(verb, "engage") == 0 ? "POST" : strcmp(verb, "lift") == 0 ? "DELETE" : "GET";
    rc = cli_api_call("mandate killswitch", url ? url : "http://127.0.0.1:8080", keybuf, method,
                      "/v1/killswitch", body);
out:
    free(body);
    wipe(keybuf, strlen(keybuf));
    free(keybuf);
    return rc;
}
