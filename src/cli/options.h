/*
 * options.h: command options from flags, environment and a config file.
 *
 * Every option of a command is one row: --flag, MANDATE_* variable, [section]
 * key in the INI config file (read with libinih), default and help.  A flag
 * beats the environment, which beats the config file, which beats the
 * default.  Unknown flags and unknown config keys are errors: a misspelt
 * option silently ignored is how a production daemon ends up on defaults.
 */
#ifndef MANDATE_CLI_OPTIONS_H
#define MANDATE_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

enum cli_opt_type { OPT_STRING, OPT_INT, OPT_BOOL };

struct cli_opt {
    const char *flag;    /* "listen" for --listen */
    const char *env;     /* "MANDATE_LISTEN" or NULL */
    const char *section; /* INI section or NULL (not in the file) */
    const char *key;     /* INI key */
    enum cli_opt_type type;
    const char *dflt; /* default as text, or NULL */
    int64_t min, max; /* OPT_INT range */
    const char *help;
    /* resolved */
    char *value;      /* owned; NULL when unset and no default */
    int64_t ival;     /* OPT_INT and OPT_BOOL */
    const char *from; /* "default", "config", "environment", "flag" */
};

/* Every section of the config file any command reads; a key in one of them
 * that the running command does not read is ignored, anything else is an
 * error. */
extern const char *const cli_config_sections[];

/* Resolves opts from argv (argv[0] is the command), the environment and the
 * config file named by the option whose flag is "config" (when present).
 * Positional arguments are collected in *rest / *nrest (pointers into argv).
 * ERR_INVALID with a message for the user on any bad option. */
int cli_opts_parse(struct cli_opt *opts, size_t n, int argc, char **argv, char ***rest, int *nrest,
                   struct err *e) MUST_CHECK;

/* Looks up a resolved option by flag name. */
const struct cli_opt *cli_opt(const struct cli_opt *opts, size_t n, const char *flag);

/* Prints the options table for --help: flag, variable, config key, default. */
void cli_opts_help(FILE *f, const struct cli_opt *opts, size_t n);

/* Frees the resolved values. */
void cli_opts_free(struct cli_opt *opts, size_t n);

#endif
