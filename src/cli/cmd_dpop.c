/* cmd_dpop.c: `mandate dpop` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_dpop(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate dpop: not built yet\n");
    return CLI_USAGE;
}
