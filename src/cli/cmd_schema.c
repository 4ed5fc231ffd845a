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

static int slurp(const char *path, char **out, size_t *lenp, struct err *e)
{
    *out = NULL;
    *lenp = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return err_set(e, ERR_IO, "%s: cannot open", path);
    }
    struct buf b;
    buf_init(&b, LIMIT_CEDAR_JSON_TEXT);
    char chunk[65536];
    size_t n;
    int r = 0;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && r == 0) {
        r = buf_append(&b, chunk, n);
    }
    if (r == 0 && ferror(f)) {
        r = ERR_IO;
    }
    fclose(f);
    if (r == 0 && b.data == NULL) {
        r = buf_append(&b, "", 0);
    }
    if (r != 0) {
        buf_free(&b);
        return err_set(e, r, "%s: cannot read", path);
    }
    *out = buf_steal(&b, lenp);
    return *out ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

static bool is_json(const char *t, size_t n)
{
    size_t i = 0;
    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) {
        i++;
    }
    return i < n && t[i] == '{';
}

static int load(const char *path, struct cedar_schema **out, struct err *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int r = slurp(path, &text, &len, e);
    if (r != 0) {
        return r;
    }
    r = is_json(text, len) ? cedar_schema_from_json(text, len, path, out, e)
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
        char *txt = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        if (txt == NULL) {
            fprintf(stderr, "out of memory\n");
            rc = CLI_USAGE;
        } else {
            printf("%s\n", txt);
            free(txt);
        }
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
    if (slurp(argv[2], &text, &len, &e) != 0 ||
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

int cmd_schema(int argc, char **argv)
{
    if (argc < 2 || cli_wants_help(argc, argv)) {
        fprintf(argc < 2 ? stderr : stdout,
                "usage: mandate schema check FILE...    parse (Cedar or JSON syntax)\n"
                "       mandate schema to-json FILE     print it in the JSON syntax (resolved:\n"
                "                                       common types inlined, names qualified)\n"
                "       mandate schema from-json FILE   print a JSON-syntax schema as Cedar text\n"
                "       (a file starting with '{' is read as the JSON syntax)\n");
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "check") == 0) {
        return schema_check(argc, argv);
    }
    if (strcmp(argv[1], "to-json") == 0) {
        return schema_to_json(argc, argv);
    }
    if (strcmp(argv[1], "from-json") == 0) {
        return schema_from_json(argc, argv);
    }
    fprintf(stderr, "mandate schema: unknown sub-command '%s'\n", argv[1]);
    return CLI_USAGE;
}
