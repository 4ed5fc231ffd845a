/*
 * cmd_audit_query.c: `mandate audit query` and `mandate audit trace` on the
 * store file, offline and read-only like `audit verify` (docs/audit.md,
 * "Queries"; docs/cli.md).
 *
 * Both print what the broker builds for the HTTP API (broker/broker.h):
 * the same parameters, checked the same way, and the same trace tree; this
 * file only renders it for a terminal (a table, an indented tree) or
 * prints the JSON with --json.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "store/store.h"
#include "util/arena.h"

#define DB_OPT                                                                                     \
    {                                                                                              \
        "db", "MANDATE_DB", "store", "db", OPT_STRING, "var/mandate.db", 0, 0,                     \
            "SQLite store file", NULL, 0, NULL                                                     \
    }
#define JSON_OPT                                                                                   \
    {                                                                                              \
        "json", NULL, NULL, NULL, OPT_BOOL, "false", 0, 0, "print the JSON the API answers", NULL, \
            0, NULL                                                                                \
    }
#define FILTER(n, h)                                                                               \
    {                                                                                              \
        n, NULL, NULL, NULL, OPT_STRING, NULL, 0, 0, h, NULL, 0, NULL                              \
    }

static struct cli_opt query_opts[] = {
    DB_OPT,
    JSON_OPT,
    FILTER("agent", "records of this agent (SPIFFE ID)"),
    FILTER("human", "records on behalf of this human"),
    FILTER("task", "records of this task id"),
    FILTER("intent", "records of this intent"),
    FILTER("tool", "calls of this tool"),
    FILTER("downstream", "calls to this downstream system"),
    FILTER("decision", "allow, deny, escalate or ok"),
    FILTER("event", "check, task.exchange, task.revoke, agent.create, ..."),
    FILTER("since", "from this time (RFC 3339 or ms since the epoch), inclusive"),
    FILTER("until", "before this time (RFC 3339 or ms), exclusive"),
    FILTER("after", "records after this seq (the `next` of the previous page)"),
    FILTER("limit", "records per page, 1..1000 (default 100)"),
};
#define NQUERY (sizeof(query_opts) / sizeof(query_opts[0]))
/* query_opts[FIRST_FILTER..] are the query parameters, by their API names */
#define FIRST_FILTER 2

static struct cli_opt trace_opts[] = {DB_OPT, JSON_OPT};
#define NTRACE (sizeof(trace_opts) / sizeof(trace_opts[0]))

static const char query_usage[] =
    "usage: mandate audit query [--db PATH] [--agent ID] [--human ID] [--task ID] [--intent ID]\n"
    "         [--tool ID] [--downstream SYS] [--decision D] [--event E] [--since T] [--until T]\n"
    "         [--after SEQ] [--limit N] [--json]\n\n"
    "Records of the audit trail matching every filter given, in seq order, one page\n"
    "(the store file, offline, read only; the same filters as GET /v1/audit).";

static const char trace_usage[] =
    "usage: mandate audit trace TASK [--db PATH] [--json]\n\n"
    "The trace of a task: the human and intent, the agent, every call and revocation,\n"
    "and every task delegated from it, as a tree (the same as GET /v1/audit/trace/TASK).";

/* ---- rendering -------------------------------------------------------------- */

static const char *str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* "a,b" of a JSON array of strings, into out. */
static void joined(const json_t *arr, char *out, size_t n)
{
    size_t i, used = 0;
    json_t *v;

    out[0] = '\0';
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        int w;
        if (s == NULL || used >= n) {
            continue;
        }
        w = snprintf(out + used, n - used, "%s%s", used ? "," : "", s);
        used += w > 0 ? (size_t)w : 0;
    }
}

static void print_table(const json_t *page)
{
    const json_t *items = json_object_get(page, "items"), *next = json_object_get(page, "next");
    char reasons[256], call[512];
    size_t i;
    json_t *r;

    printf("%-6s %-24s %-18s %-8s %-44s %-30s %s\n", "SEQ", "TIME", "EVENT", "DECISION", "AGENT",
           "CALL", "REASONS");
    json_array_foreach(items, i, r)
    {
        joined(json_object_get(r, "reasons"), reasons, sizeof(reasons));
        snprintf(call, sizeof(call), "%s%s%s%s%s", str(r, "tool"), *str(r, "action") ? " " : "",
                 str(r, "action"), *str(r, "downstream") ? " -> " : "", str(r, "downstream"));
        printf("%-6lld %-24s %-18s %-8s %-44s %-30s %s\n",
               (long long)json_integer_value(json_object_get(r, "seq")), str(r, "time"),
               str(r, "event"), str(r, "decision"), *str(r, "agent") ? str(r, "agent") : "-",
               *call ? call : "-", reasons);
    }
    if (json_is_integer(next)) {
        printf("(more: --after %lld)\n", (long long)json_integer_value(next));
    } else {
        printf("(%zu records)\n", json_array_size(items));
    }
}

static void print_event(const json_t *ev, const char *prefix, int last)
{
    char reasons[256];

    joined(json_object_get(ev, "reasons"), reasons, sizeof(reasons));
    printf("%s%s%s  #%lld  %s", prefix, last ? "└─ " : "├─ ", str(ev, "time"),
           (long long)json_integer_value(json_object_get(ev, "seq")), str(ev, "event"));
    if (*str(ev, "tool")) {
        printf("  %s %s", str(ev, "tool"), str(ev, "action"));
    }
    if (*str(ev, "resource")) {
        printf(" %s", str(ev, "resource"));
    }
    if (*str(ev, "downstream")) {
        printf(" -> %s", str(ev, "downstream"));
    }
    printf("  %s%s%s\n", str(ev, "decision"), *reasons ? "  " : "", reasons);
}

static int64_t seq_of(const json_t *ev)
{
    return ev ? (int64_t)json_integer_value(json_object_get(ev, "seq")) : INT64_MAX;
}

/* One task: its line, then its records and the tasks delegated from it as
 * the branches below, in seq order (a child where its exchange record is),
 * so the tree reads as what happened, in order. */
static void print_node(const json_t *node, const char *prefix, int last)
{
    const json_t *events = json_object_get(node, "events"),
                 *kids = json_object_get(node, "children");
    size_t ne = json_array_size(events), nk = json_array_size(kids), ie = 0, ik = 0;
    char sub[1024];

    printf("%s%s%s %s  task %s  %s", prefix, last ? "└─ " : "├─ ",
           json_integer_value(json_object_get(node, "depth")) ? "sub-agent" : "agent",
           str(node, "agent"), str(node, "task"), str(node, "state"));
    if (json_is_object(json_object_get(node, "revoked"))) {
        printf(": %s", str(json_object_get(node, "revoked"), "reason"));
    }
    if (*str(node, "owner")) {
        printf("  (owner %s)", str(node, "owner"));
    }
    printf("\n");
    snprintf(sub, sizeof(sub), "%s%s", prefix, last ? "   " : "│  ");
    while (ie + ik < ne + nk) {
        const json_t *kid = json_array_get(kids, ik);
        int tail = ie + ik + 1 == ne + nk;
        if (ik == nk ||
            (ie < ne && seq_of(json_array_get(events, ie)) <
                            seq_of(json_array_get(json_object_get(kid, "events"), 0)))) {
            print_event(json_array_get(events, ie++), sub, tail);
        } else {
            print_node(kid, sub, tail);
            ik++;
        }
    }
    if (json_is_integer(json_object_get(node, "events_next"))) {
        printf("%s   (more records: mandate audit query --task %s --after %lld)\n", sub,
               str(node, "task"),
               (long long)json_integer_value(json_object_get(node, "events_next")));
    }
}

static void print_trace(const json_t *t)
{
    printf("trace of task %s (intent %s)\n", str(t, "task"), str(t, "intent"));
    if (*str(t, "human")) {
        printf("human %s\n", str(t, "human"));
    } else {
        printf("owner %s (autonomous: no human on whose behalf)\n",
               *str(t, "owner") ? str(t, "owner") : "-");
    }
    print_node(t, "", 1);
}

static int print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

    if (s == NULL) {
        return -1;
    }
    puts(s);
    free(s);
    return 0;
}

/* ---- the commands ----------------------------------------------------------- */

static int open_store(const char *cmd, struct cli_opt *opts, size_t n, struct store **s)
{
    struct store_sqlite_options so = {5000, 0};
    struct err e;

    err_clear(&e);
    if (store_sqlite_open(cli_opt(opts, n, "db")->value, &so, s, &e) != 0) {
        fprintf(stderr, "mandate audit %s: %s\n", cmd, e.msg);
        return -1;
    }
    return 0;
}

/* argv[0] is the verb; the options parsed, positionals in *rest. */
static int parse(const char *cmd, const char *usage, struct cli_opt *opts, size_t n, int argc,
                 char **argv, char ***rest, int *nrest)
{
    struct err e;

    err_clear(&e);
    if (cli_wants_help(argc, argv)) {
        printf("%s\n", usage);
        cli_opts_help(stdout, opts, n);
        return 1;
    }
    if (cli_opts_parse(opts, n, argc, argv, rest, nrest, &e) != 0) {
        fprintf(stderr, "mandate audit %s: %s\n", cmd, e.msg);
        return -1;
    }
    return 0;
}

int cmd_audit_query(int argc, char **argv)
{
    struct broker_audit_query q;
    struct store *s = NULL;
    struct arena a;
    json_t *page = NULL;
    char **rest = NULL;
    int nrest = 0, r = CLI_USAGE, p;
    size_t i;
    struct err e;

    err_clear(&e);
    arena_init(&a, 0, 0);
    broker_audit_query_init(&q);
    p = parse("query", query_usage, query_opts, NQUERY, argc, argv, &rest, &nrest);
    if (p != 0) {
        r = p > 0 ? CLI_OK : CLI_USAGE;
        goto out;
    }
    if (nrest > 0) {
        fprintf(stderr, "mandate audit query: unexpected argument \"%s\"\n", rest[0]);
        goto out;
    }
    for (i = FIRST_FILTER; i < NQUERY; i++) {
        const char *v = query_opts[i].value, *name = query_opts[i].flag;
        if (v != NULL &&
            broker_audit_query_param(&q, name, strlen(name), v, strlen(v), &a, &e) != 0) {
            fprintf(stderr, "mandate audit query: --%s\n", e.msg);
            goto out;
        }
    }
    if (broker_audit_query_done(&q, &e) != 0) {
        fprintf(stderr, "mandate audit query: --%s\n", e.msg);
        goto out;
    }
    if (open_store("query", query_opts, NQUERY, &s) != 0) {
        goto out;
    }
    if (broker_audit_query_run(s, &q, &a, &page, &e) != 0) {
        fprintf(stderr, "mandate audit query: %s\n", e.msg);
        goto out;
    }
    if (cli_opt(query_opts, NQUERY, "json")->ival) {
        r = print_json(page) == 0 ? CLI_OK : CLI_USAGE;
    } else {
        print_table(page);
        r = CLI_OK;
    }
    if (fflush(stdout) != 0) {
        r = CLI_USAGE;
    }
out:
    json_decref(page);
    store_close(s);
    arena_free(&a);
    free(rest);
    cli_opts_free(query_opts, NQUERY);
    return r;
}

int cmd_audit_trace(int argc, char **argv)
{
    struct store *s = NULL;
    struct arena a;
    json_t *t = NULL;
    char **rest = NULL;
    int nrest = 0, r = CLI_USAGE, p;
    struct err e;

    err_clear(&e);
    arena_init(&a, 0, 0);
    p = parse("trace", trace_usage, trace_opts, NTRACE, argc, argv, &rest, &nrest);
    if (p != 0) {
        r = p > 0 ? CLI_OK : CLI_USAGE;
        goto out;
    }
    if (nrest != 1) {
        fprintf(stderr, "mandate audit trace: give exactly one task id\n");
        goto out;
    }
    if (open_store("trace", trace_opts, NTRACE, &s) != 0) {
        goto out;
    }
    if (broker_audit_trace(s, rest[0], &a, &t, &e) != 0) {
        fprintf(stderr, "mandate audit trace: %s\n", e.msg);
        r = e.code == ERR_NOTFOUND ? CLI_NO : CLI_USAGE;
        goto out;
    }
    if (cli_opt(trace_opts, NTRACE, "json")->ival) {
        r = print_json(t) == 0 ? CLI_OK : CLI_USAGE;
    } else {
        print_trace(t);
        r = CLI_OK;
    }
    if (fflush(stdout) != 0) {
        r = CLI_USAGE;
    }
out:
    json_decref(t);
    store_close(s);
    arena_free(&a);
    free(rest);
    cli_opts_free(trace_opts, NTRACE);
    return r;
}
