/*
 * main.c: the mandate program: one binary for server, CLI and tools.
 *
 * Dispatches on the first argument to the command table below.  Commands
 * live in cmd_<verb>.c and talk to the rest of Mandate only via the modules'
 * public headers.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int cmd_help(int argc, char **argv);

static const struct cli_command commands[] = {
    {"serve", "run the HTTP server", cmd_serve},
    {"init", "create the store and the first admin API key", cmd_init},
    {"policy", "Cedar policies: check, eval, validate, format, to-json, conformance", cmd_policy},
    {"schema", "Cedar schemas: check, to-json, from-json", cmd_schema},
    {"key", "signing keys: generate, list, rotate, revoke", cmd_key},
    {"token", "JWTs: sign, verify", cmd_token},
    {"dpop", "DPoP proofs: verify", cmd_dpop},
    {"killswitch", "stop agents mid-flight: engage, lift, status", cmd_killswitch},
    {"demo", "play the access path's story against a running server", cmd_demo},
    {"audit", "the audit trail: verify, export, prune, query, trace", cmd_audit},
    {"version", "print the version", cmd_version},
    {"help", "show this help, or a command's: mandate help COMMAND", cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct cli_command *find(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void usage(FILE *f)
{
    size_t i;

    fprintf(f, "usage: mandate COMMAND [OPTIONS]\n\n"
               "Mandate: identity and access broker for AI agents.\n\ncommands:\n");
    for (i = 0; i < NCOMMANDS; i++) {
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f, "\n`mandate COMMAND --help` describes a command and its options.\n");
}

static int cmd_help(int argc, char **argv)
{
    const struct cli_command *c;
    char *sub[] = {NULL, "--help", NULL};

    if (argc < 2) {
        usage(stdout);
        return CLI_OK;
    }
    c = find(argv[1]);
    if (c == NULL || c->run == cmd_help) {
        fprintf(stderr, "mandate: no command \"%s\"\n", argv[1]);
        return CLI_USAGE;
    }
    sub[0] = argv[1];
    return c->run(2, sub);
}

int cli_wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            return 0;
        }
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            return 1;
        }
    }
    return 0;
}

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("mandate %s\n", MANDATE_VERSION);
    return CLI_OK;
}

int main(int argc, char **argv)
{
    const struct cli_command *c;

    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    c = find(argv[1]);
    if (c == NULL) {
        fprintf(stderr, "mandate: unknown command \"%s\"\n\n", argv[1]);
        usage(stderr);
        return CLI_USAGE;
    }
    return c->run(argc - 1, argv + 1);
}
