/* cmd_token.c: `mandate token` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_token(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate token: not built yet\n");
    return CLI_USAGE;
}
