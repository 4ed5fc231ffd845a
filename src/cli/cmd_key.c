/* cmd_key.c: `mandate key` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_key(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate key: not built yet\n");
    return CLI_USAGE;
}
