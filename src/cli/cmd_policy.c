/* cmd_policy.c: `mandate policy` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_policy(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate policy: not built yet\n");
    return CLI_USAGE;
}
