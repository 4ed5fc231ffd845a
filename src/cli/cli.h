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

#endif
