/*
 * cmd_schema.c: `mandate schema`, Cedar schemas in both syntaxes.
 *
 *   mandate schema check FILE...      parse (Cedar or JSON syntax, by content)
 *   mandate schema to-json FILE       the schema in the JSON syntax (resolved)
 *   mandate schema from-json FILE     a JSON-syntax schema as Cedar schema text
 *
 * A file whose first non-blank character is '{' is read as the JSON syntax.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar.h"
#include "cli/cli.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/limits.h"

static int load(const char *path, struct cedar_schema **out, struct err *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int r = cli_read_file(path, LIMIT_CEDAR_JSON_TEXT, &text, &len, e);
    if (r != 0) {
        return r;
    }
    r = cli_looks_json(text, len, "{") ? cedar_schema_from_json(text, len, path, out, e)
                                       : cedar_schema_parse(text, len, path, out, e);
    free(text);
    return r;
}

static int schema_check(int argc, char **argv)
{
    int bad = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: mandate schema check FILE...\n");
        return CLI_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        struct err e;
        err_clear(&e);
        struct cedar_schema *s;
        if (load(argv[i], &s, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            bad++;
        } else {
            printf("%s: ok (%zu entity types, %zu actions)\n", argv[i],
                   cedar_schema_entity_count(s), cedar_schema_action_count(s));
        }
        cedar_schema_free(s);
    }
    return bad ? CLI_NO : CLI_OK;
}

static int schema_to_json(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mandate schema to-json FILE\n");
        return CLI_USAGE;
    }
    struct err e;
    err_clear(&e);
    struct cedar_schema *s = NULL;
    json_t *j = NULL;
    int rc = CLI_OK;
    if (load(argv[2], &s, &e) != 0 || cedar_schema_to_json(s, &j, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        rc = CLI_USAGE;
    } else {
        rc = cli_print_json(j, JSON_INDENT(2));
    }
    json_decref(j);
    cedar_schema_free(s);
    return rc;
}

static int schema_from_json(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mandate schema from-json FILE\n");
        return CLI_USAGE;
    }
    struct err e;
    err_clear(&e);
    char *text = NULL, *out = NULL;
    size_t len, olen;
    json_t *j = NULL;
    struct cedar_schema *s = NULL;
    int rc = CLI_OK;
    if (cli_read_file(argv[2], LIMIT_CEDAR_JSON_TEXT, &text, &len, &e) != 0 ||
        (j = cedar_json_load(text, len, argv[2], &e)) == NULL ||
        cedar_schema_json_to_text(j, argv[2], &out, &olen, &e) != 0 ||
        cedar_schema_parse(out, olen, argv[2], &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        rc = CLI_USAGE;
    } else {
        fwrite(out, 1, olen, stdout);
    }
    cedar_schema_free(s);
    free(out);
    json_decref(j);
    free(text);
    return rc;
}

static const struct cli_sub subs[] = {
    {"check", schema_check},
    {"to-json", schema_to_json},
    {"from-json", schema_from_json},
};

static const char usage[] =
    "usage: mandate schema check FILE...    parse (Cedar or JSON syntax)\n"
    "       mandate schema to-json FILE     print it in the JSON syntax (resolved:\n"
    "                                       common types inlined, names qualified)\n"
    "       mandate schema from-json FILE   print a JSON-syntax schema as Cedar text\n"
    "       (a file starting with '{' is read as the JSON syntax)\n";

int cmd_schema(int argc, char **argv)
{
    return cli_dispatch("schema", usage, subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
