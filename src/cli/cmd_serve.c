/* cmd_serve.c: placeholder until the server lands. */
#include <stdio.h>

#include "cli/cli.h"

int cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate serve: not built yet\n");
    return CLI_USAGE;
}

int cmd_init(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "mandate init: not built yet\n");
    return CLI_USAGE;
}
