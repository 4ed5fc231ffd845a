/*
 * cli.h: the sub-commands of the mandate program.
 *
 * Each sub-command lives in its own cmd_<verb>.c and is listed in the table
 * in main.c.  A command gets argv starting at its own name (argv[0] is
 * "policy" for `mandate policy check x.cedar`) and returns the process exit
 * status: 0 success, 1 a negative answer (deny, invalid), 2 usage or input
 * error.  Commands print their own --help.
 */
#ifndef MANDATE_CLI_H
#define MANDATE_CLI_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define CLI_OK 0
#define CLI_NO 1
#define CLI_USAGE 2

struct cli_command {
    const char *name;
    const char *summary; /* one line for `mandate help` */
    int (*run)(int argc, char **argv);
};

int cmd_serve(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_policy(int argc, char **argv);     /* cmd_policy.c: the Cedar engine */
int cmd_schema(int argc, char **argv);     /* cmd_schema.c: Cedar schemas */
int cmd_key(int argc, char **argv);        /* cmd_key.c: jose signing keys */
int cmd_token(int argc, char **argv);      /* cmd_token.c: jose JWTs */
int cmd_dpop(int argc, char **argv);       /* cmd_dpop.c: jose DPoP proofs */
int cmd_demo(int argc, char **argv);       /* cmd_demo.c: the access path's story */
int cmd_audit(int argc, char **argv);      /* cmd_audit.c: verify, export the audit trail */
int cmd_killswitch(int argc, char **argv); /* cmd_killswitch.c: stop agents mid-flight */

/* cmd_audit_query.c: `mandate audit query|trace` (dispatched by cmd_audit). */
int cmd_audit_query(int argc, char **argv);
int cmd_audit_trace(int argc, char **argv);

/* True when argv holds -h or --help among its options. */
int cli_wants_help(int argc, char **argv);

/* ---- shared helpers (cliutil.c) ---------------------------------------------- */

/* Reads a whole file (at most max bytes) into *out (free(), NUL-terminated,
 * *lenp without the NUL).  ERR_IO "<path>: cannot open|read", ERR_LIMIT. */
int cli_read_file(const char *path, size_t max, char **out, size_t *lenp, struct err *e);

/* True when the first non-blank character of t is one of openers ("{" for
 * a JSON schema, "{[" for the JSON policy format). */
int cli_looks_json(const char *t, size_t n, const char *openers);

/* Prints j (json_dumps flags, ASCII) and a newline: CLI_OK, or CLI_USAGE
 * (out of memory, said on stderr). */
int cli_print_json(const json_t *j, size_t flags);

/* Runs a verb's sub-command named by argv[1] from a table.  No sub-command:
 * usage on stderr, CLI_USAGE; -h/--help anywhere: usage on stdout, CLI_OK;
 * an unknown one: CLI_USAGE ("mandate VERB: unknown sub-command"). */
struct cli_sub {
    const char *name;
    int (*run)(int argc, char **argv);
};
int cli_dispatch(const char *verb, const char *usage, const struct cli_sub *subs, size_t n,
                 int argc, char **argv);

/* The API key to use: key when given and no key_file, else the first line
 * of key_file (default var/admin.key).  NULL when there is none (free()). */
char *cli_api_key(const char *key, const char *key_file);

/* One call to the running server at url (…/path, JSON body or NULL) with an
 * API key; prints the answer (stdout on 200, else stderr; errors prefixed
 * with who, "mandate key").  CLI_OK (200), CLI_NO (another status),
 * CLI_USAGE (no server). */
int cli_api_call(const char *who, const char *url, const char *key, const char *method,
                 const char *path, const char *body);

#endif
