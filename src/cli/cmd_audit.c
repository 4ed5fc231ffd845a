/*
 * cmd_audit.c: `mandate audit verify|export` on the store file, offline
 * (docs/audit.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auditlog.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/limits.h"

static struct cli_opt audit_opts[] = {
    {"db", "MANDATE_DB", "store", "db", OPT_STRING, "var/mandate.db", 0, 0, "SQLite store file",
     NULL, 0, NULL},
    {"jwks", NULL, NULL, NULL, OPT_STRING, NULL, 0, 0,
     "verify: Mandate's public keys (the JWKS of /.well-known/jwks.json) to check the "
     "checkpoints' signatures; without it only their content is compared",
     NULL, 0, NULL},
    {"after", NULL, NULL, NULL, OPT_INT, "0", 0, INT64_MAX,
     "export: records after this seq (resume where the last export stopped)", NULL, 0, NULL},
};
#define NAUDIT (sizeof(audit_opts) / sizeof(audit_opts[0]))

static const char usage[] =
    "usage: mandate audit verify [--db PATH] [--jwks FILE]\n"
    "       mandate audit export [--db PATH] [--after SEQ]\n\n"
    "verify: walks the audit trail in the store file (offline, read only): every record's\n"
    "hash, its link to the one before, consecutive numbers, and the signed checkpoints.\n"
    "Prints the first broken record or checkpoint; exit 0 intact, 1 broken, 2 error.\n"
    "export: the records as JSON lines on stdout, in seq order.";

static int load_verifier(const char *path, struct jose_verifier **v)
{
    struct jose_jwks *set = NULL;
    struct err e;
    char *text = NULL;
    long len;
    FILE *f = fopen(path, "rb");
    int r = -1;

    err_clear(&e);
    *v = NULL;
    if (f == NULL) {
        fprintf(stderr, "mandate audit: cannot open %s\n", path);
        return -1;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < 1024 * 1024 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) != NULL &&
        fread(text, 1, (size_t)len, f) == (size_t)len) {
        if (jose_jwks_parse(text, (size_t)len, 0, &set, &e) == 0 &&
            jose_verifier_new(set, 0, v, &e) == 0) {
            r = 0;
        } else {
            fprintf(stderr, "mandate audit: %s: %s\n", path, e.msg);
        }
    } else {
        fprintf(stderr, "mandate audit: cannot read %s\n", path);
    }
    jose_jwks_free(set);
    free(text);
    fclose(f);
    return r;
}

static int do_verify(struct store *s, const char *jwks)
{
    struct jose_verifier *v = NULL;
    struct broker_audit_verify out;
    struct err e;
    int r;

    err_clear(&e);
    if (jwks != NULL && load_verifier(jwks, &v) != 0) {
        return CLI_USAGE;
    }
    r = broker_audit_verify(s, v, &out, &e);
    jose_verifier_free(v);
    if (r < 0) {
        fprintf(stderr, "mandate audit verify: %s\n", e.msg);
        return CLI_USAGE;
    }
    if (r == 1) {
        printf("BROKEN at %s %lld: %s\n", out.bad_checkpoint ? "checkpoint" : "record",
               (long long)out.bad_seq, out.what);
        printf("(%lld records verified before it)\n", (long long)out.records);
        return CLI_NO;
    }
    printf("ok: %lld records (seq %lld..%lld), %lld checkpoints, %lld signatures verified%s\n",
           (long long)out.records, (long long)out.first_seq, (long long)out.last_seq,
           (long long)out.checkpoints, (long long)out.signatures,
           jwks ? "" : " (no --jwks: signatures not checked)");
    return CLI_OK;
}

static void put_opt(json_t *o, const char *k, const char *v)
{
    if (v != NULL) {
        json_object_set_new(o, k, json_string(v));
    }
}

static void put_json(json_t *o, const char *k, const char *v)
{
    json_t *j = v ? json_loads(v, 0, NULL) : NULL;

    if (j != NULL) {
        json_object_set_new(o, k, j);
    }
}

static int do_export(struct store *s, int64_t after)
{
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n, i;
    int r;

    err_clear(&e);
    for (;;) {
        arena_init(&a, 0, 0);
        r = s->ops->audit_list(s, after, LIMIT_AUDIT_VERIFY_PAGE, &a, &v, &n, &e);
        if (r != 0) {
            arena_free(&a);
            fprintf(stderr, "mandate audit export: %s\n", e.msg);
            return CLI_USAGE;
        }
        for (i = 0; i < n; i++) {
            json_t *o =
                json_pack("{s:I, s:I, s:s, s:s}", "seq", (json_int_t)v[i].seq, "time_ms",
                          (json_int_t)v[i].time_ms, "event", v[i].event, "decision", v[i].decision);
            char *line;
            if (o == NULL) {
                arena_free(&a);
                return CLI_USAGE;
            }
            put_opt(o, "request_id", v[i].request_id);
            put_opt(o, "caller", v[i].caller);
            put_json(o, "actor_chain", v[i].actor_chain);
            put_opt(o, "agent", v[i].agent);
            put_opt(o, "human", v[i].human);
            put_opt(o, "intent", v[i].intent);
            put_opt(o, "task", v[i].task);
            put_opt(o, "tool", v[i].tool);
            put_opt(o, "action", v[i].action);
            put_opt(o, "resource", v[i].resource);
            put_json(o, "data_labels", v[i].data_labels);
            put_opt(o, "downstream", v[i].downstream);
            put_json(o, "reasons", v[i].reasons);
            if (v[i].policy_version != 0) {
                json_object_set_new(o, "policy_version", json_integer(v[i].policy_version));
            }
            put_json(o, "detail", v[i].detail);
            put_opt(o, "prev_hash", v[i].prev_hash);
            put_opt(o, "hash", v[i].hash);
            line = json_dumps(o, JSON_COMPACT);
            json_decref(o);
            if (line == NULL) {
                arena_free(&a);
                return CLI_USAGE;
            }
            puts(line);
            free(line);
        }
        if (n > 0) {
            after = v[n - 1].seq;
        }
        arena_free(&a);
        if (n < LIMIT_AUDIT_VERIFY_PAGE) {
            break;
        }
    }
    return fflush(stdout) == 0 ? CLI_OK : CLI_USAGE;
}

int cmd_audit(int argc, char **argv)
{
    struct store_sqlite_options so = {5000, 0};
    struct store *s = NULL;
    char **rest = NULL;
    int nrest = 0, r;
    const char *verb;
    struct err e;

    err_clear(&e);
    if (argc < 2 || cli_wants_help(argc, argv)) {
        printf("%s\n", usage);
        cli_opts_help(stdout, audit_opts, NAUDIT);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    verb = argv[1];
    if (strcmp(verb, "query") == 0 || strcmp(verb, "trace") == 0) { /* cmd_audit_query.c */
        return (verb[0] == 'q' ? cmd_audit_query : cmd_audit_trace)(argc - 1, argv + 1);
    }
    if (strcmp(verb, "verify") != 0 && strcmp(verb, "export") != 0) {
        fprintf(stderr,
                "mandate audit: unknown sub-command \"%s\" (verify, export, query, trace)\n", verb);
        return CLI_USAGE;
    }
    r = cli_opts_parse(audit_opts, NAUDIT, argc - 1, argv + 1, &rest, &nrest, &e);
    free(rest);
    if (r == 0 && nrest > 0) {
        r = err_set(&e, ERR_INVALID, "unexpected argument");
    }
    if (r != 0) {
        fprintf(stderr, "mandate audit %s: %s\n", verb, e.msg);
        cli_opts_free(audit_opts, NAUDIT);
        return CLI_USAGE;
    }
    if (store_sqlite_open(cli_opt(audit_opts, NAUDIT, "db")->value, &so, &s, &e) != 0) {
        fprintf(stderr, "mandate audit: %s\n", e.msg);
        cli_opts_free(audit_opts, NAUDIT);
        return CLI_USAGE;
    }
    if (strcmp(verb, "verify") == 0) {
        r = do_verify(s, cli_opt(audit_opts, NAUDIT, "jwks")->value);
    } else {
        r = do_export(s, cli_opt(audit_opts, NAUDIT, "after")->ival);
    }
    store_close(s);
    cli_opts_free(audit_opts, NAUDIT);
    return r;
}
