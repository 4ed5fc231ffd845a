/*
 * cmd_policy.c: `mandate policy`, the offline Cedar tools.
 *
 *   mandate policy check FILE... [--schema S]
 *   mandate policy eval --policies P --entities E [--schema S] (--request R | --batch)
 *   mandate policy validate --schema S FILE...
 *   mandate policy conformance DIR
 *
 * `eval` prints {"decision":..,"reason":[..],"errors":[{"policy":..,"message":..}]}; with
 * --batch it reads one request JSON per line on stdin and answers one line each.
 * `conformance` runs every test JSON under DIR in the cedar-integration-tests format
 * (see /work/shared/conformance/cedar/README.md) and ends with "N passed, N failed".
 * Requests are validated against the schema unless "validateRequest" is false (a failure
 * fails the request, as in the reference harness); "shouldValidate" is compared with strict
 * validation (cedar_validate), one more passed/failed item per test.
 * Our own cases may add "links": [{"template","id","principal","resource"}] to link
 * templates; that is the only field beyond the upstream format.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cedar/cedar.h"
#include "cli/cli.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/limits.h"

#define POLICY_FILE_MAX (64 * 1024 * 1024)

static int read_file(const char *path, char **out, size_t *lenp, struct err *e)
{
    return cli_read_file(path, POLICY_FILE_MAX, out, lenp, e);
}

/* Cedar text, or the JSON policy format (cedar_policyset_from_json: templates
 * and their links included). */
static int load_policies(const char *path, const char *label, unsigned flags,
                         struct cedar_policyset **out, struct err *e)
{
    char *text;
    size_t len;
    int r = read_file(path, &text, &len, e);
    if (r != 0) {
        return r;
    }
    if (cli_looks_json(text, len, "{[")) {
        r = cedar_policyset_from_json(text, len, label, out, e);
    } else {
        r = cedar_policyset_parse(text, len, label, flags, out, e);
    }
    free(text);
    return r;
}

static int load_schema(const char *path, const char *label, struct cedar_schema **out,
                       struct err *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int r = read_file(path, &text, &len, e);
    if (r != 0) {
        return r;
    }
    r = cedar_schema_parse(text, len, label, out, e);
    free(text);
    return r;
}

static int load_entities(const char *path, const struct cedar_schema *schema,
                         struct cedar_entities **out, struct err *e)
{
    char *text;
    size_t len;
    *out = NULL;
    int r = read_file(path, &text, &len, e);
    if (r != 0) {
        return r;
    }
    r = cedar_entities_from_json(text, len, path, schema, out, e);
    free(text);
    return r;
}

/* ---- requests ---------------------------------------------------------- */

/* {"type","id"} or {"__entity":{"type","id"}}; strings copied into a. */
static int json_uid(struct arena *a, json_t *j, const char *what, struct cedar_uid *u,
                    struct err *e)
{
    json_t *inner = json_is_object(j) ? json_object_get(j, "__entity") : NULL;
    if (inner != NULL) {
        j = inner;
    }
    json_t *t = json_object_get(j, "type"), *id = json_object_get(j, "id");
    if (!json_is_string(t) || !json_is_string(id) || json_object_size(j) != 2) {
        return err_set(e, ERR_INVALID, "%s: expected {\"type\":..,\"id\":..}", what);
    }
    size_t tl = json_string_length(t), il = json_string_length(id);
    char *ts = arena_strndup(a, json_string_value(t), tl);
    char *is = arena_strndup(a, json_string_value(id), il);
    if (ts == NULL || is == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    cedar_uid_init(u, ts, tl, is, il);
    return 0;
}

static int json_request(struct arena *a, json_t *j, const struct cedar_schema *schema,
                        struct cedar_request *req, struct err *e)
{
    int r;
    if (!json_is_object(j)) {
        return err_set(e, ERR_INVALID, "request: expected a JSON object");
    }
    if ((r = json_uid(a, json_object_get(j, "principal"), "principal", &req->principal, e)) != 0 ||
        (r = json_uid(a, json_object_get(j, "action"), "action", &req->action, e)) != 0 ||
        (r = json_uid(a, json_object_get(j, "resource"), "resource", &req->resource, e)) != 0) {
        return r;
    }
    json_t *ctx = json_object_get(j, "context");
    if (ctx == NULL || json_is_null(ctx)) {
        req->context = cedar_value_empty_record();
        return 0;
    }
    r = cedar_context_from_jansson(ctx, schema, &req->action, a, &req->context, e);
    return r;
}

static json_t *response_json(const struct cedar_response *resp)
{
    json_t *o = json_object(), *reasons = json_array(), *errs = json_array();
    if (o == NULL || reasons == NULL || errs == NULL) {
        json_decref(o);
        json_decref(reasons);
        json_decref(errs);
        return NULL;
    }
    json_object_set_new(o, "decision",
                        json_string(resp->decision == CEDAR_ALLOW ? "allow" : "deny"));
    for (size_t i = 0; i < resp->nreasons; i++) {
        json_array_append_new(reasons, json_string(resp->reasons[i]));
    }
    for (size_t i = 0; i < resp->nerrors; i++) {
        json_t *er = json_object();
        json_object_set_new(er, "policy", json_string(resp->errors[i].policy));
        json_object_set_new(er, "message", json_string(resp->errors[i].message));
        json_array_append_new(errs, er);
    }
    json_object_set_new(o, "reason", reasons);
    json_object_set_new(o, "errors", errs);
    return o;
}

/* ---- check ------------------------------------------------------------- */

static int policy_check(int argc, char **argv)
{
    const char *schema_path = NULL;
    int bad = 0, files = 0;
    unsigned flags = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc) {
            schema_path = argv[++i];
        } else if (strcmp(argv[i], "--id-annotation") == 0) {
            flags |= CEDAR_PARSE_ID_ANNOTATION;
        }
    }
    struct err e;
    if (schema_path) {
        struct cedar_schema *s;
        err_clear(&e);
        if (load_schema(schema_path, schema_path, &s, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            bad++;
        } else {
            printf("%s: ok (%zu entity types, %zu actions; `mandate policy validate` checks "
                   "policies against it)\n",
                   schema_path, cedar_schema_entity_count(s), cedar_schema_action_count(s));
        }
        cedar_schema_free(s);
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--id-annotation") == 0) {
            continue;
        }
        files++;
        struct cedar_policyset *ps = NULL;
        err_clear(&e);
        if (load_policies(argv[i], argv[i], flags, &ps, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            bad++;
        } else {
            printf("%s: ok (%zu policies)\n", argv[i], cedar_policyset_count(ps));
        }
        cedar_policyset_put(ps);
    }
    if (files == 0) {
        fprintf(stderr, "usage: mandate policy check FILE... [--schema S]\n");
        return CLI_USAGE;
    }
    return bad ? CLI_NO : CLI_OK;
}

/* ---- to-json / from-json / format --------------------------------------- */

static int policy_to_json(int argc, char **argv)
{
    unsigned flags = 0;
    size_t jflags = JSON_INDENT(2);
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--id-annotation") == 0) {
            flags |= CEDAR_PARSE_ID_ANNOTATION;
        } else if (strcmp(argv[i], "--compact") == 0) {
            jflags = JSON_COMPACT;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            path = NULL;
            break;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "usage: mandate policy to-json FILE [--id-annotation] [--compact]\n");
        return CLI_USAGE;
    }
    struct err e;
    err_clear(&e);
    struct cedar_policyset *ps = NULL;
    json_t *j = NULL;
    int rc = CLI_OK;
    if (load_policies(path, path, flags, &ps, &e) != 0 ||
        cedar_policyset_to_json(ps, &j, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        rc = CLI_USAGE;
    } else {
        rc = cli_print_json(j, jflags);
    }
    json_decref(j);
    cedar_policyset_put(ps);
    return rc;
}

static int policy_from_json(int argc, char **argv)
{
    if (argc != 3 || argv[2][0] == '-') {
        fprintf(stderr, "usage: mandate policy from-json FILE\n");
        return CLI_USAGE;
    }
    char *text = NULL;
    size_t len;
    struct err e;
    err_clear(&e);
    struct cedar_policyset *ps = NULL;
    struct buf out;
    buf_init(&out, LIMIT_CEDAR_POLICY_TEXT * 4);
    int rc = CLI_OK;
    if (read_file(argv[2], &text, &len, &e) != 0 ||
        cedar_policyset_from_json(text, len, argv[2], &ps, &e) != 0 ||
        cedar_policyset_format(ps, &out, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        rc = CLI_USAGE;
    } else {
        fwrite(out.data, 1, out.len, stdout);
        size_t linked = 0;
        for (size_t i = 0; i < cedar_policyset_count(ps); i++) {
            linked += cedar_policyset_template_of(ps, i) != NULL;
        }
        if (linked > 0) {
            fprintf(stderr, "%s: %zu linked policies have no text form (not printed)\n", argv[2],
                    linked);
        }
    }
    buf_free(&out);
    free(text);
    cedar_policyset_put(ps);
    return rc;
}

/* True when the text has a // comment outside string literals (the formatter
 * does not keep comments, so it refuses such files rather than drop them). */
static bool has_comment(const char *t, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (in_str) {
            if (t[i] == '\\') {
                i++;
            } else if (t[i] == '"') {
                in_str = false;
            }
        } else if (t[i] == '"') {
            in_str = true;
        } else if (t[i] == '/' && i + 1 < n && t[i + 1] == '/') {
            return true;
        }
    }
    return false;
}

static int policy_format(int argc, char **argv)
{
    bool check = false, write = false;
    int files = 0, bad = 0, unformatted = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--write") == 0 || strcmp(argv[i], "-w") == 0) {
            write = true;
        } else {
            files++;
        }
    }
    if (files == 0 || (check && write)) {
        fprintf(stderr, "usage: mandate policy format [--check | --write] FILE...\n");
        return CLI_USAGE;
    }
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != 0) {
            continue;
        }
        char *text = NULL;
        size_t len;
        struct err e;
        err_clear(&e);
        struct cedar_policyset *ps = NULL;
        struct buf out;
        buf_init(&out, LIMIT_CEDAR_POLICY_TEXT * 4);
        if (read_file(argv[i], &text, &len, &e) != 0 ||
            cedar_policyset_parse(text, len, argv[i], 0, &ps, &e) != 0 ||
            cedar_policyset_format(ps, &out, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            bad++;
        } else if (has_comment(text, len)) {
            fprintf(stderr, "%s: has comments, which the formatter would drop: not formatted\n",
                    argv[i]);
            bad++;
        } else {
            bool same_text = out.len == len && (len == 0 || memcmp(out.data, text, len) == 0);
            if (check) {
                if (!same_text) {
                    printf("%s: not formatted\n", argv[i]);
                    unformatted++;
                }
            } else if (write) {
                if (!same_text) {
                    FILE *f = fopen(argv[i], "wb");
                    if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0) {
                        fprintf(stderr, "%s: cannot write\n", argv[i]);
                        bad++;
                    }
                }
            } else {
                fwrite(out.data, 1, out.len, stdout);
            }
        }
        buf_free(&out);
        free(text);
        cedar_policyset_put(ps);
    }
    return bad ? CLI_USAGE : unformatted ? CLI_NO : CLI_OK;
}

/* ---- link / unlink ------------------------------------------------------ */

/* An entity UID argument: JSON {"type","id"} or Type::"id" (no escapes in
 * the id; use the JSON form for those). */
static int arg_uid(struct arena *a, const char *s, struct cedar_uid *u, struct err *e)
{
    if (s[0] == '{') {
        json_t *j = cedar_json_load(s, strlen(s), "entity", e);
        if (j == NULL) {
            return ERR_INVALID;
        }
        int r = cedar_uid_from_jansson(j, a, u, e);
        json_decref(j);
        return r;
    }
    const char *q = strstr(s, "::\"");
    size_t n = strlen(s);
    if (q == NULL || q == s || n < 2 || s[n - 1] != '"' || (size_t)(q - s) + 3 > n - 1 ||
        memchr(q + 3, '\\', (size_t)(s + n - 1 - (q + 3))) != NULL ||
        memchr(q + 3, '"', (size_t)(s + n - 1 - (q + 3))) != NULL) {
        return err_set(e, ERR_INVALID, "%s: expected Type::\"id\" or {\"type\": .., \"id\": ..}",
                       s);
    }
    char *ty = arena_strndup(a, s, (size_t)(q - s));
    char *id = arena_strndup(a, q + 3, (size_t)(s + n - 1 - (q + 3)));
    if (ty == NULL || id == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    cedar_uid_init(u, ty, strlen(ty), id, strlen(id));
    return 0;
}

static int print_set_json(const struct cedar_policyset *ps, struct err *e)
{
    json_t *j = NULL;
    int r = cedar_policyset_to_json(ps, &j, e);
    if (r != 0) {
        return r;
    }
    char *txt = json_dumps(j, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(j);
    if (txt == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    printf("%s\n", txt);
    free(txt);
    return 0;
}

/* link FILE --template T --id NEW [--principal UID] [--resource UID]
 * unlink FILE --id ID: both print the resulting set in the JSON format. */
static int policy_link(int argc, char **argv, bool unlink)
{
    const char *path = NULL, *tid = NULL, *id = NULL, *pr = NULL, *rs = NULL;
    bool bad_args = false;
    for (int i = 2; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--template") == 0 && !unlink) {
            tid = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--id") == 0) {
            id = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--principal") == 0 && !unlink) {
            pr = argv[++i];
        } else if (i + 1 < argc && strcmp(argv[i], "--resource") == 0 && !unlink) {
            rs = argv[++i];
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            bad_args = true;
        }
    }
    if (bad_args || path == NULL || id == NULL || (!unlink && tid == NULL)) {
        fprintf(stderr, unlink ? "usage: mandate policy unlink FILE --id ID\n"
                               : "usage: mandate policy link FILE --template T --id NEW "
                                 "[--principal UID] [--resource UID]\n"
                                 "  UID: Type::\"id\" or {\"type\": .., \"id\": ..}\n");
        return CLI_USAGE;
    }
    struct err e;
    err_clear(&e);
    struct arena a;
    arena_init(&a, 4096, 0);
    struct cedar_policyset *ps = NULL;
    struct cedar_uid pu, ru;
    int r = load_policies(path, path, 0, &ps, &e);
    if (r == 0 && pr != NULL) {
        r = arg_uid(&a, pr, &pu, &e);
    }
    if (r == 0 && rs != NULL) {
        r = arg_uid(&a, rs, &ru, &e);
    }
    if (r == 0) {
        r = unlink ? cedar_policyset_unlink(ps, id, &e)
                   : cedar_policyset_link(ps, tid, id, pr ? &pu : NULL, rs ? &ru : NULL, &e);
    }
    if (r == 0) {
        r = print_set_json(ps, &e);
    }
    if (r != 0) {
        fprintf(stderr, "%s\n", e.msg);
    }
    cedar_policyset_put(ps);
    arena_free(&a);
    return r == 0                                                       ? CLI_OK
           : r == ERR_NOTFOUND || r == ERR_CONFLICT || r == ERR_INVALID ? CLI_NO
                                                                        : CLI_USAGE;
}

/* ---- validate ---------------------------------------------------------- */

static void print_diag(void *ud, const char *policy, const char *message)
{
    (void)ud;
    (void)policy;
    printf("%s\n", message);
}

/* mandate policy validate --schema S FILE...: strict validation; exit 0 iff
 * every file parses and every policy is valid; every diagnostic printed. */
static int policy_validate(int argc, char **argv)
{
    const char *schema_path = NULL;
    unsigned flags = 0;
    int files = 0;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0 && i + 1 < argc) {
            schema_path = argv[++i];
        } else if (strcmp(argv[i], "--id-annotation") == 0) {
            flags |= CEDAR_PARSE_ID_ANNOTATION;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "mandate policy validate: unknown option '%s'\n", argv[i]);
            return CLI_USAGE;
        } else {
            files++;
        }
    }
    if (schema_path == NULL || files == 0) {
        fprintf(stderr, "usage: mandate policy validate --schema S FILE... [--id-annotation]\n");
        return CLI_USAGE;
    }
    struct err e;
    err_clear(&e);
    struct cedar_schema *s;
    if (load_schema(schema_path, schema_path, &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return CLI_USAGE;
    }
    int rc = CLI_OK;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--schema") == 0) {
            i++;
            continue;
        }
        if (strcmp(argv[i], "--id-annotation") == 0) {
            continue;
        }
        struct cedar_policyset *ps = NULL;
        err_clear(&e);
        if (load_policies(argv[i], argv[i], flags, &ps, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            rc = CLI_USAGE;
            continue;
        }
        size_t n = 0;
        int r = cedar_validate(ps, s, argv[i], print_diag, NULL, &n, &e);
        if (r == 0) {
            printf("%s: valid (%zu policies)\n", argv[i], cedar_policyset_count(ps));
        } else if (r == ERR_INVALID) {
            printf("%s: invalid (%zu diagnostic%s)\n", argv[i], n, n == 1 ? "" : "s");
            if (rc == CLI_OK) {
                rc = CLI_NO;
            }
        } else {
            fprintf(stderr, "%s: %s\n", argv[i], e.msg);
            rc = CLI_USAGE;
        }
        cedar_policyset_put(ps);
    }
    cedar_schema_free(s);
    return rc;
}

/* ---- eval -------------------------------------------------------------- */

struct eval_ctx {
    struct cedar_policyset *ps;
    struct cedar_entities *es;
    struct cedar_schema *schema;
};

/* Answers one request (JSON text); prints one line.  Returns the exit code. */
static int eval_one(struct eval_ctx *c, const char *text, size_t len)
{
    struct arena a;
    arena_init(&a, 16 * 1024, 0);
    struct err e;
    err_clear(&e);
    int rc = CLI_USAGE;
    json_t *j = cedar_json_load(text, len, "request", &e);
    struct cedar_request req;
    struct cedar_response resp;
    if (j == NULL) {
        /* e says why */
    } else if (json_request(&a, j, c->schema, &req, &e) == 0 &&
               cedar_authorize(c->ps, c->es, &req, &a, &resp, &e) == 0) {
        json_t *o = response_json(&resp);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s != NULL) {
            printf("%s\n", s);
            rc = resp.decision == CEDAR_ALLOW ? CLI_OK : CLI_NO;
        }
        free(s);
        json_decref(o);
    }
    if (rc == CLI_USAGE) {
        json_t *o = json_pack("{s:s}", "error", e.msg[0] ? e.msg : "internal error");
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        printf("%s\n", s ? s : "{\"error\":\"out of memory\"}");
        fprintf(stderr, "mandate policy eval: %s\n", e.msg);
        free(s);
        json_decref(o);
    }
    fflush(stdout);
    json_decref(j);
    arena_free(&a);
    return rc;
}

static int policy_eval(int argc, char **argv)
{
    const char *pol = NULL, *ent = NULL, *sch = NULL, *reqarg = NULL;
    bool batch = false;
    unsigned flags = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--policies") == 0 && v) {
            pol = v;
            i++;
        } else if (strcmp(a, "--entities") == 0 && v) {
            ent = v;
            i++;
        } else if (strcmp(a, "--schema") == 0 && v) {
            sch = v;
            i++;
        } else if (strcmp(a, "--request") == 0 && v) {
            reqarg = v;
            i++;
        } else if (strcmp(a, "--batch") == 0) {
            batch = true;
        } else if (strcmp(a, "--id-annotation") == 0) {
            flags |= CEDAR_PARSE_ID_ANNOTATION;
        } else {
            fprintf(stderr, "mandate policy eval: unknown argument '%s'\n", a);
            return CLI_USAGE;
        }
    }
    if (pol == NULL || (reqarg == NULL) == !batch) {
        fprintf(stderr, "usage: mandate policy eval --policies P [--entities E] [--schema S] "
                        "(--request R | --batch)\n");
        return CLI_USAGE;
    }
    struct eval_ctx c = {0};
    struct err e;
    err_clear(&e);
    int rc = CLI_USAGE;
    if ((sch && load_schema(sch, sch, &c.schema, &e) != 0) ||
        load_policies(pol, pol, flags, &c.ps, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        goto out;
    }
    if (ent) {
        if (load_entities(ent, c.schema, &c.es, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            goto out;
        }
    } else if (cedar_entities_new(&c.es) != 0 || cedar_entities_finish(c.es, &e) != 0) {
        goto out;
    }
    if (!batch) {
        char *text = NULL;
        size_t len;
        if (reqarg[0] == '{') {
            rc = eval_one(&c, reqarg, strlen(reqarg));
        } else if (read_file(reqarg, &text, &len, &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
        } else {
            rc = eval_one(&c, text, len);
        }
        free(text);
        goto out;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    rc = CLI_OK;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (n == 1 && line[0] == '\n') {
            continue;
        }
        if (eval_one(&c, line, (size_t)n) == CLI_USAGE) {
            rc = CLI_USAGE;
        }
    }
    free(line);
out:
    cedar_policyset_put(c.ps);
    cedar_entities_free(c.es);
    cedar_schema_free(c.schema);
    return rc;
}

/* ---- conformance ------------------------------------------------------- */

struct conf {
    const char *dir;
    int via; /* 0, or round-trip each policy set through 1: JSON, 2: the formatter */
    long passed, failed, unchecked_validation, files;
    long val_passed, val_failed;
    /* cache of the last test's inputs (corpus tests share them) */
    char *pol_path, *ent_path, *sch_path;
    struct cedar_policyset *ps;
    struct cedar_schema *schema;
    struct cedar_entities *es;
    char pol_err[ERR_MSG_MAX], ent_err[ERR_MSG_MAX], sch_err[ERR_MSG_MAX];
    bool pol_ok, ent_ok, sch_ok;
    /* the cached set's strict validation: verdict and first diagnostics */
    bool val_done, val_ok;
    char val_msg[1024];
};

/* Keeps the first few diagnostics of a validation run (for mismatch reports). */
static void conf_diag(void *ud, const char *policy, const char *message)
{
    (void)policy;
    struct conf *c = ud;
    size_t n = strlen(c->val_msg);
    if (n + 8 < sizeof(c->val_msg)) {
        snprintf(c->val_msg + n, sizeof(c->val_msg) - n, "\n  diagnostic: %s", message);
    }
}

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) {
        snprintf(p, n, "%s/%s", dir, name);
    }
    return p;
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void conf_drop(struct conf *c)
{
    cedar_policyset_put(c->ps);
    cedar_entities_free(c->es);
    cedar_schema_free(c->schema);
    free(c->pol_path);
    free(c->ent_path);
    free(c->sch_path);
    c->ps = NULL;
    c->es = NULL;
    c->schema = NULL;
    c->pol_path = c->ent_path = c->sch_path = NULL;
}

/* Loads (or reuses) the policies, schema and entities a test names. */
/* Replaces *ps by its round trip through the JSON policy format (via 1) or
 * the formatter's text (via 2), as text both times. */
static int round_trip(struct cedar_policyset **ps, int via, const char *label, struct err *e)
{
    struct cedar_policyset *n = NULL;
    int r;
    if (via == 1) {
        json_t *j = NULL;
        if ((r = cedar_policyset_to_json(*ps, &j, e)) != 0) {
            return r;
        }
        char *txt = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        if (txt == NULL) {
            return err_set(e, ERR_NOMEM, "out of memory");
        }
        r = cedar_policyset_from_json(txt, strlen(txt), label, &n, e);
        free(txt);
    } else {
        struct buf b;
        buf_init(&b, LIMIT_CEDAR_POLICY_TEXT * 4);
        r = cedar_policyset_format(*ps, &b, e);
        if (r == 0) {
            r = cedar_policyset_parse(b.data ? b.data : "", b.len, label, 0, &n, e);
        }
        buf_free(&b);
    }
    if (r == 0) {
        cedar_policyset_put(*ps);
        *ps = n;
    }
    return r;
}

static void conf_load(struct conf *c, const char *pol, const char *ent, const char *sch,
                      bool has_links)
{
    if (!has_links && c->pol_path && same(pol, c->pol_path) && same(ent, c->ent_path) &&
        same(sch, c->sch_path)) {
        return;
    }
    conf_drop(c);
    struct err e;
    c->pol_path = strdup(pol);
    c->ent_path = ent ? strdup(ent) : NULL;
    c->sch_path = sch ? strdup(sch) : NULL;
    char *p = join(c->dir, pol);
    err_clear(&e);
    c->pol_ok = p && load_policies(p, pol, 0, &c->ps, &e) == 0;
    if (c->pol_ok && c->via != 0) {
        c->pol_ok = round_trip(&c->ps, c->via, pol, &e) == 0;
    }
    snprintf(c->pol_err, sizeof(c->pol_err), "%s", e.msg);
    free(p);
    c->sch_ok = true;
    c->sch_err[0] = '\0';
    if (sch) {
        p = join(c->dir, sch);
        err_clear(&e);
        c->sch_ok = p && load_schema(p, sch, &c->schema, &e) == 0;
        snprintf(c->sch_err, sizeof(c->sch_err), "%s", e.msg);
        free(p);
    }
    c->val_done = false;
    c->val_msg[0] = '\0';
    c->ent_ok = false;
    if (c->sch_ok) {
        err_clear(&e);
        if (ent) {
            p = join(c->dir, ent);
            c->ent_ok = p && load_entities(p, c->schema, &c->es, &e) == 0;
            free(p);
        } else {
            c->ent_ok = cedar_entities_new(&c->es) == 0 && cedar_entities_finish(c->es, &e) == 0;
        }
        snprintf(c->ent_err, sizeof(c->ent_err), "%s", e.msg);
    }
}

static bool known_key(const char *k, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        if (strcmp(k, keys[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* Compares a JSON array of ids with a list, as sets. */
static bool same_set(json_t *want, const char **got, size_t n)
{
    if (!json_is_array(want)) {
        return false;
    }
    size_t wn = json_array_size(want);
    for (size_t i = 0; i < wn; i++) {
        const char *w = json_string_value(json_array_get(want, i));
        bool found = false;
        for (size_t k = 0; w && k < n && !found; k++) {
            found = strcmp(w, got[k]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    for (size_t k = 0; k < n; k++) {
        bool found = false;
        for (size_t i = 0; i < wn && !found; i++) {
            const char *w = json_string_value(json_array_get(want, i));
            found = w && strcmp(w, got[k]) == 0;
        }
        if (!found) {
            return false;
        }
    }
    return true;
}

static void print_ids(const char **ids, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        printf("%s%s", i ? "," : "", ids[i]);
    }
    printf("]");
}

static void conf_fail_all(struct conf *c, const char *file, json_t *reqs, const char *why)
{
    size_t n = json_is_array(reqs) ? json_array_size(reqs) : 0;
    printf("FAIL %s: %s (%zu requests)\n", file, why, n);
    c->failed += (long)(n ? n : 1);
}

static int conf_links(struct conf *c, json_t *links, struct err *e)
{
    struct arena a;
    arena_init(&a, 0, 0);
    int r = 0;
    for (size_t i = 0; i < json_array_size(links) && r == 0; i++) {
        json_t *l = json_array_get(links, i);
        const char *t = json_string_value(json_object_get(l, "template"));
        const char *id = json_string_value(json_object_get(l, "id"));
        json_t *pj = json_object_get(l, "principal"), *rj = json_object_get(l, "resource");
        struct cedar_uid pu, ru;
        if (t == NULL || id == NULL) {
            r = err_set(e, ERR_INVALID, "links: need template and id");
        } else if ((pj && (r = json_uid(&a, pj, "principal", &pu, e)) != 0) ||
                   (rj && (r = json_uid(&a, rj, "resource", &ru, e)) != 0)) {
            break;
        } else {
            r = cedar_policyset_link(c->ps, t, id, pj ? &pu : NULL, rj ? &ru : NULL, e);
        }
    }
    arena_free(&a);
    return r;
}

static void conf_request(struct conf *c, const char *file, json_t *rq)
{
    static const char *const keys[] = {
        "description",     "principal", "action", "resource", "context",
        "validateRequest", "decision",  "reason", "errors",   NULL};
    const char *desc = json_string_value(json_object_get(rq, "description"));
    struct arena a;
    arena_init(&a, 16 * 1024, 0);
    struct err e;
    err_clear(&e);
    const char *key;
    json_t *val;
    json_object_foreach(rq, key, val)
    {
        if (!known_key(key, keys)) {
            printf("FAIL %s: %s: unknown field \"%s\"\n", file, desc ? desc : "?", key);
            c->failed++;
            arena_free(&a);
            return;
        }
    }
    struct cedar_request req;
    struct cedar_response resp;
    const char *want = json_string_value(json_object_get(rq, "decision"));
    json_t *wr = json_object_get(rq, "reason"), *we = json_object_get(rq, "errors");
    json_t *vr = json_object_get(rq, "validateRequest");
    bool validate = c->schema != NULL && (vr == NULL || json_is_true(vr));
    if (json_request(&a, rq, c->schema, &req, &e) != 0 ||
        (validate && cedar_schema_validate_request(c->schema, &req, &e) != 0) ||
        cedar_authorize(c->ps, c->es, &req, &a, &resp, &e) != 0) {
        printf("FAIL %s: %s: %s\n", file, desc ? desc : "?", e.msg);
        c->failed++;
        arena_free(&a);
        return;
    }
    const char **eids = arena_alloc(&a, (resp.nerrors + 1) * sizeof(char *));
    for (size_t i = 0; eids && i < resp.nerrors; i++) {
        eids[i] = resp.errors[i].policy;
    }
    const char *got = resp.decision == CEDAR_ALLOW ? "allow" : "deny";
    if (eids && want && strcmp(want, got) == 0 && same_set(wr, resp.reasons, resp.nreasons) &&
        same_set(we, eids, resp.nerrors)) {
        c->passed++;
    } else {
        char *ws = json_dumps(rq, JSON_COMPACT);
        printf("FAIL %s: %s\n  expected: decision=%s reason=", file, desc ? desc : "?",
               want ? want : "?");
        char *rs = json_dumps(wr, JSON_COMPACT | JSON_ENCODE_ANY);
        char *es = json_dumps(we, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s errors=%s\n  actual:   decision=%s reason=", rs ? rs : "?", es ? es : "?", got);
        print_ids(resp.reasons, resp.nreasons);
        printf(" errors=");
        print_ids(eids, eids ? resp.nerrors : 0);
        for (size_t i = 0; i < resp.nerrors; i++) {
            printf("\n  error %s: %s", resp.errors[i].policy, resp.errors[i].message);
        }
        printf("\n  request: %.400s\n", ws ? ws : "?");
        free(ws);
        free(rs);
        free(es);
        c->failed++;
    }
    arena_free(&a);
}

static void conf_test(struct conf *c, const char *rel)
{
    static const char *const keys[] = {"policies", "entities", "schema", "shouldValidate",
                                       "requests", "links",    NULL};
    char *path = join(c->dir, rel);
    char *text = NULL;
    size_t len = 0;
    struct err le;
    err_clear(&le);
    json_t *t = NULL;
    if (path && read_file(path, &text, &len, &le) == 0) {
        t = cedar_json_load(text, len, rel, &le);
    }
    free(text);
    free(path);
    c->files++;
    if (t == NULL || !json_is_object(t)) {
        printf("FAIL %s: not a JSON object (%s)\n", rel, le.msg);
        c->failed++;
        json_decref(t);
        return;
    }
    json_t *reqs = json_object_get(t, "requests");
    const char *key;
    json_t *val;
    json_object_foreach(t, key, val)
    {
        if (!known_key(key, keys)) {
            char why[128];
            snprintf(why, sizeof(why), "unknown field \"%.60s\"", key);
            conf_fail_all(c, rel, reqs, why);
            json_decref(t);
            return;
        }
    }
    const char *pol = json_string_value(json_object_get(t, "policies"));
    const char *ent = json_string_value(json_object_get(t, "entities"));
    const char *sch = json_string_value(json_object_get(t, "schema"));
    json_t *links = json_object_get(t, "links");
    if (pol == NULL || !json_is_array(reqs)) {
        conf_fail_all(c, rel, reqs, "needs \"policies\" and \"requests\"");
        json_decref(t);
        return;
    }
    conf_load(c, pol, ent, sch, links != NULL);
    struct err e;
    err_clear(&e);
    bool linked = true;
    if (links != NULL && c->pol_ok && (c->ps == NULL || conf_links(c, links, &e) != 0)) {
        linked = false;
    }
    json_t *sv = json_object_get(t, "shouldValidate");
    if (sv != NULL && linked && c->pol_ok && c->sch_ok && c->schema && !c->val_done) {
        /* validated once per policy set, after its templates are linked */
        struct err ve;
        err_clear(&ve);
        int vr = cedar_validate(c->ps, c->schema, pol, conf_diag, c, NULL, &ve);
        c->val_done = true;
        c->val_ok = vr == 0;
        if (vr != 0 && vr != ERR_INVALID) {
            conf_diag(c, NULL, ve.msg);
        }
    }
    if (sv != NULL && (!json_is_boolean(sv) || !c->pol_ok || !c->sch_ok || !c->val_done)) {
        c->unchecked_validation++;
    } else if (sv != NULL) {
        if (json_is_true(sv) == c->val_ok) {
            c->passed++;
            c->val_passed++;
        } else {
            printf("FAIL %s: validation\n  expected: shouldValidate=%s\n  actual:   %s%s\n", rel,
                   json_is_true(sv) ? "true" : "false", c->val_ok ? "valid" : "invalid",
                   c->val_msg);
            c->failed++;
            c->val_failed++;
        }
    }
    if (!c->pol_ok) {
        conf_fail_all(c, rel, reqs, c->pol_err);
    } else if (!c->sch_ok) {
        conf_fail_all(c, rel, reqs, c->sch_err);
    } else if (!c->ent_ok) {
        conf_fail_all(c, rel, reqs, c->ent_err);
    } else if (!linked) {
        conf_fail_all(c, rel, reqs, e.msg);
    } else {
        for (size_t i = 0; i < json_array_size(reqs); i++) {
            conf_request(c, rel, json_array_get(reqs, i));
        }
    }
    if (links != NULL) {
        conf_drop(c); /* linked sets are not reused */
    }
    json_decref(t);
}

struct names {
    char **v;
    size_t n, cap;
};

static int names_add(struct names *l, char *s)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        char **nv = realloc(l->v, nc * sizeof(*nv));
        if (nv == NULL) {
            free(s);
            return ERR_NOMEM;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return 0;
}

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Collects test JSON paths (relative to root) under root/rel, recursively. */
static int collect(const char *root, const char *rel, struct names *out, int depth)
{
    if (depth > 32) {
        return 0;
    }
    char *dirp = rel[0] ? join(root, rel) : strdup(root);
    DIR *d = dirp ? opendir(dirp) : NULL;
    if (d == NULL) {
        free(dirp);
        return ERR_IO;
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        char *sub = rel[0] ? join(rel, de->d_name) : strdup(de->d_name);
        char *full = sub ? join(root, sub) : NULL;
        struct stat st;
        if (sub == NULL || full == NULL || stat(full, &st) != 0) {
            free(sub);
            free(full);
            continue;
        }
        free(full);
        if (S_ISDIR(st.st_mode)) {
            r = collect(root, sub, out, depth + 1);
            free(sub);
        } else if (ends_with(sub, ".json") && !ends_with(sub, "entities.json")) {
            /* "x.entities.json" and sample-data's plain "entities.json" are data */
            r = names_add(out, sub);
        } else {
            free(sub);
        }
    }
    closedir(d);
    free(dirp);
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int policy_conformance(int argc, char **argv)
{
    int via = 0;
    if (argc == 5 && strcmp(argv[3], "--via") == 0) {
        via = strcmp(argv[4], "json") == 0 ? 1 : strcmp(argv[4], "format") == 0 ? 2 : -1;
    }
    if ((argc != 3 && argc != 5) || via < 0 || (argc == 5 && via == 0)) {
        fprintf(stderr, "usage: mandate policy conformance DIR [--via json|format]\n");
        return CLI_USAGE;
    }
    struct conf c = {.dir = argv[2], .via = via};
    struct names names = {0};
    if (collect(c.dir, "", &names, 0) != 0) {
        fprintf(stderr, "mandate policy conformance: cannot read %s\n", c.dir);
        for (size_t i = 0; i < names.n; i++) {
            free(names.v[i]);
        }
        free(names.v);
        return CLI_USAGE;
    }
    qsort(names.v, names.n, sizeof(char *), cmp_str);
    for (size_t i = 0; i < names.n; i++) {
        conf_test(&c, names.v[i]);
        free(names.v[i]);
    }
    free(names.v);
    conf_drop(&c);
    printf("%ld test files\n", c.files);
    printf("validation: %ld verdicts matched, %ld mismatched, %ld not checked\n", c.val_passed,
           c.val_failed, c.unchecked_validation);
    printf("%ld passed, %ld failed\n", c.passed, c.failed);
    return c.failed ? CLI_NO : CLI_OK;
}

static int policy_link_cmd(int argc, char **argv)
{
    return policy_link(argc, argv, false);
}

static int policy_unlink_cmd(int argc, char **argv)
{
    return policy_link(argc, argv, true);
}

static const struct cli_sub subs[] = {
    {"check", policy_check},       {"validate", policy_validate},
    {"eval", policy_eval},         {"conformance", policy_conformance},
    {"to-json", policy_to_json},   {"from-json", policy_from_json},
    {"format", policy_format},     {"link", policy_link_cmd},
    {"unlink", policy_unlink_cmd},
};

static const char usage[] =
    "usage: mandate policy check FILE... [--schema S] [--id-annotation]\n"
    "       mandate policy eval --policies P [--entities E] [--schema S] "
    "(--request R | --batch) [--id-annotation]\n"
    "         R is a request JSON or a file holding one; --batch reads one per line\n"
    "         --id-annotation: a policy's id is its @id(\"..\") when present\n"
    "       mandate policy validate --schema S FILE... [--id-annotation]\n"
    "         strict validation (Cedar 4.10); exit 0 iff every policy is valid\n"
    "       mandate policy conformance DIR [--via json|format]\n"
    "         --via: round-trip every policy set through the JSON format or the\n"
    "         formatter first (the answers must not change)\n"
    "       mandate policy to-json FILE [--id-annotation] [--compact]\n"
    "         the JSON policy format {staticPolicies, templates, templateLinks}\n"
    "       mandate policy from-json FILE   prints the policies as Cedar text\n"
    "       mandate policy format [--check | --write] FILE...\n"
    "         canonical layout; --check exits 1 when a file is not formatted\n"
    "       mandate policy link FILE --template T --id NEW [--principal UID] "
    "[--resource UID]\n"
    "       mandate policy unlink FILE --id ID\n"
    "         print the set (JSON format) with the template linked / the link "
    "removed;\n"
    "         UID is Type::\"id\" or {\"type\": .., \"id\": ..}\n"
    "       (FILE may be Cedar text or the JSON policy format everywhere)\n";

int cmd_policy(int argc, char **argv)
{
    return cli_dispatch("policy", usage, subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
