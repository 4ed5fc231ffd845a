/*
 * cmd_serve.c: `mandate serve` and `mandate init`.
 *
 * serve: open the store, start the HTTP server, then wait in sigwait() for
 * SIGTERM or SIGINT (blocked in every thread before the server starts, so the
 * signal reaches only this thread); on one, stop accepting, let requests in
 * flight finish and close the store cleanly.
 * init: create the store and, when it has no live API key yet, an admin key,
 * printed once on stdout and stored only as a hash.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "http/http.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/wipe.h"

/* The default of --body-max, as text; must stay equal to the limit. */
#define BODY_MAX_TEXT "1048576"
_Static_assert(LIMIT_HTTP_BODY_MAX == 1048576, "update BODY_MAX_TEXT");

static struct cli_opt serve_opts[] = {
    {"config", "MANDATE_CONFIG", NULL, NULL, OPT_STRING, NULL, 0, 0,
     "INI config file ([server], [store], [log] sections)", NULL, 0, NULL},
    {"listen", "MANDATE_LISTEN", "server", "listen", OPT_STRING, "127.0.0.1:8080", 0, 0,
     "address:port to serve on ([::1]:8080 for IPv6; port 0 picks a free one)", NULL, 0, NULL},
    {"threads", "MANDATE_THREADS", "server", "threads", OPT_INT, "0", 0, 64,
     "HTTP worker threads, each with its own epoll (0: one per core)", NULL, 0, NULL},
    {"body-max", "MANDATE_BODY_MAX", "server", "body_max", OPT_INT, BODY_MAX_TEXT, 1024,
     64 * 1024 * 1024, "largest request body in bytes (413 past it)", NULL, 0, NULL},
    {"shutdown-grace-ms", "MANDATE_SHUTDOWN_GRACE_MS", "server", "shutdown_grace_ms", OPT_INT,
     "10000", 0, 600000, "how long requests in flight may finish after SIGTERM", NULL, 0, NULL},
    {"db", "MANDATE_DB", "store", "db", OPT_STRING, "var/mandate.db", 0, 0,
     "SQLite store file (created by `mandate init`)", NULL, 0, NULL},
    {"busy-timeout-ms", "MANDATE_BUSY_TIMEOUT_MS", "store", "busy_timeout_ms", OPT_INT, "5000", 1,
     600000, "how long a write waits for a locked store before answering 503", NULL, 0, NULL},
    {"log-level", "MANDATE_LOG_LEVEL", "log", "level", OPT_STRING, "info", 0, 0,
     "debug, info, warn, error or off (JSON lines on stderr)", NULL, 0, NULL},
    {"issuer", "MANDATE_ISSUER", "server", "issuer", OPT_STRING, NULL, 0, 0,
     "the iss of task tokens and the base of the OAuth URLs (default http://LISTEN)", NULL, 0,
     NULL},
    {"kek-file", "MANDATE_KEK_FILE", "store", "kek_file", OPT_STRING, "var/kek", 0, 0,
     "key-encryption key of the signing keys (made by `mandate init`); when the file is "
     "missing, the variable MANDATE_KEK holds it",
     NULL, 0, NULL},
    {"policy-errors", "MANDATE_POLICY_ERRORS", "server", "policy_errors", OPT_STRING, "deny", 0, 0,
     "a policy that errors while deciding: deny (fail closed) or ignore (as plain Cedar)", NULL, 0,
     NULL},
    {"max-delegation-depth", "MANDATE_MAX_DELEGATION_DEPTH", "server", "max_delegation_depth",
     OPT_INT, "3", 1, 8, "longest delegation chain below a root task (agent -> sub-agent -> ...)",
     NULL, 0, NULL},
    {"api-policies", "MANDATE_API_POLICIES", "server", "api_policies", OPT_STRING, NULL, 0, 0,
     "directory with api.cedar and api.cedarschema authorising Mandate's own API (default: "
     "policies/ as built into the program); a file that does not compile refuses to start",
     NULL, 0, NULL},
    {"audit-durability", "MANDATE_AUDIT_DURABILITY", "store", "audit_durability", OPT_STRING,
     "sync", 0, 0,
     "sync: answer a check once its audit record is on the disk; async: once it is committed "
     "but not synced (faster; a power loss or OS crash may lose the last records)",
     NULL, 0, NULL},
    {"audit-checkpoint-records", "MANDATE_AUDIT_CHECKPOINT_RECORDS", "store",
     "audit_checkpoint_records", OPT_INT, "1000", 1, 100000000,
     "sign an audit checkpoint after this many records (docs/audit.md)", NULL, 0, NULL},
    {"audit-checkpoint-s", "MANDATE_AUDIT_CHECKPOINT_S", "store", "audit_checkpoint_s", OPT_INT,
     "60", 1, 86400, "... or after this many seconds with new records", NULL, 0, NULL},
    {"signing-key-rotate-days", "MANDATE_SIGNING_KEY_ROTATE_DAYS", "store",
     "signing_key_rotate_days", OPT_INT, "30", 1, 3650,
     "age at which the token signing key is replaced (docs/operations.md)", NULL, 0, NULL},
    {"signing-key-prepublish-hours", "MANDATE_SIGNING_KEY_PREPUBLISH_HOURS", "store",
     "signing_key_prepublish_hours", OPT_INT, "24", 0, 87600,
     "the successor key is in the JWKS this long before it signs (longer than verifiers cache "
     "the JWKS; shorter than the rotation age)",
     NULL, 0, NULL},
    {"signing-key-retain-days", "MANDATE_SIGNING_KEY_RETAIN_DAYS", "store",
     "signing_key_retain_days", OPT_INT, "30", 2, 3650,
     "a replaced key stays in the JWKS this long (tokens it signed live at most a day; audit "
     "checkpoints it signed verify against the JWKS meanwhile)",
     NULL, 0, NULL},
    {"signing-key-check-s", "MANDATE_SIGNING_KEY_CHECK_S", "store", "signing_key_check_s", OPT_INT,
     "60", 1, 3600,
     "how often the server looks at its signing keys: rotation due, keys retired, keys made or "
     "revoked by another replica sharing the store (bounds how long those take to reach it)",
     NULL, 0, NULL},
    {"audit-retention-days", "MANDATE_AUDIT_RETENTION_DAYS", "store", "audit_retention_days",
     OPT_INT, "0", 0, LIMIT_AUDIT_RETENTION_DAYS_MAX,
     "prune audit records older than this many days, up to the newest signed checkpoint before "
     "the cutoff (hourly; 0: keep forever; docs/audit.md)",
     NULL, 0, NULL},
    /* Command line only (no environment, no config file): it cannot be
     * switched on by a stray setting. */
    {"audit", NULL, NULL, NULL, OPT_STRING, "on", 0, 0,
     "UNSAFE, for benchmarks only: \"off\" answers checks without writing their audit records "
     "(bench/audit.sh measures what auditing costs); never in production",
     NULL, 0, NULL},
};
#define NSERVE (sizeof(serve_opts) / sizeof(serve_opts[0]))

static const char *optv(struct cli_opt *o, size_t n, const char *flag)
{
    return cli_opt(o, n, flag)->value;
}

static int64_t opti(struct cli_opt *o, size_t n, const char *flag)
{
    return cli_opt(o, n, flag)->ival;
}

/* Parses options shared by serve and init; prints errors; CLI_OK or CLI_USAGE. */
static int parse(struct cli_opt *o, size_t n, int argc, char **argv, const char *usage)
{
    char **rest = NULL;
    int nrest = 0, r;
    struct err e;
    enum log_level lv;

    err_clear(&e);
    if (cli_wants_help(argc, argv)) {
        printf("%s\n", usage);
        cli_opts_help(stdout, o, n);
        free(rest);
        return -1;
    }
    r = cli_opts_parse(o, n, argc, argv, &rest, &nrest, &e);
    free(rest);
    if (r == 0 && nrest > 0) {
        r = err_set(&e, ERR_INVALID, "unexpected argument");
    }
    if (r == 0 && log_level_parse(optv(o, n, "log-level"), &lv) != 0) {
        r = err_set(&e, ERR_INVALID, "--log-level: one of debug, info, warn, error, off");
    }
    if (r != 0) {
        fprintf(stderr, "mandate %s: %s\n(see mandate %s --help)\n", argv[0], e.msg, argv[0]);
        return CLI_USAGE;
    }
    log_setup(lv, 2);
    return CLI_OK;
}

/* Starts the access runtime: issuer from --issuer or the bound address. */
static int start_runtime(struct broker *b, const char *host, uint16_t port)
{
    struct broker_runtime_config rc;
    const char *kf = optv(serve_opts, NSERVE, "kek-file");
    const char *pe = optv(serve_opts, NSERVE, "policy-errors");
    char iss[300];
    struct err e;

    err_clear(&e);
    memset(&rc, 0, sizeof(rc));
    if (strcmp(pe, "deny") != 0 && strcmp(pe, "ignore") != 0) {
        fprintf(stderr, "mandate serve: --policy-errors: deny or ignore\n");
        return CLI_USAGE;
    }
    rc.policy_errors_allow = strcmp(pe, "ignore") == 0;
    rc.max_delegation_depth = (int)opti(serve_opts, NSERVE, "max-delegation-depth");
    rc.issuer = optv(serve_opts, NSERVE, "issuer");
    if (rc.issuer == NULL) {
        snprintf(iss, sizeof(iss), "http://%s%s%s:%u", strchr(host, ':') ? "[" : "", host,
                 strchr(host, ':') ? "]" : "", (unsigned)port);
        rc.issuer = iss;
    }
    /* The KEK file when it exists, else the environment (MANDATE_KEK). */
    rc.kek_file = kf != NULL && access(kf, F_OK) == 0 ? kf : NULL;
    rc.audit_checkpoint_records = opti(serve_opts, NSERVE, "audit-checkpoint-records");
    rc.audit_checkpoint_s = opti(serve_opts, NSERVE, "audit-checkpoint-s");
    rc.key_rotate_s = opti(serve_opts, NSERVE, "signing-key-rotate-days") * 86400;
    rc.key_prepublish_s = opti(serve_opts, NSERVE, "signing-key-prepublish-hours") * 3600;
    rc.key_retain_s = opti(serve_opts, NSERVE, "signing-key-retain-days") * 86400;
    rc.keys_tick_s = opti(serve_opts, NSERVE, "signing-key-check-s");
    if (rc.key_prepublish_s >= rc.key_rotate_s) {
        fprintf(stderr, "mandate serve: --signing-key-prepublish-hours must be shorter than "
                        "--signing-key-rotate-days\n");
        return CLI_USAGE;
    }
    rc.audit_retention_days = opti(serve_opts, NSERVE, "audit-retention-days");
    if (strcmp(optv(serve_opts, NSERVE, "audit"), "on") != 0) {
        if (strcmp(optv(serve_opts, NSERVE, "audit"), "off") != 0) {
            fprintf(stderr, "mandate serve: --audit: on, or off (benchmarks only)\n");
            return CLI_USAGE;
        }
        rc.audit_checks_off = 1;
        log_event(LOG_WARN, "serve", NULL, "msg",
                  "--audit off: checks are NOT audited (benchmark mode, never in production)",
                  (const char *)NULL);
    }
    if (broker_runtime_start(b, &rc, &e) != 0) {
        fprintf(stderr, "mandate serve: %s\n", e.msg);
        return CLI_NO;
    }
    return CLI_OK;
}

static int open_store(struct cli_opt *o, size_t n, int create, struct store **s)
{
    const struct cli_opt *dur = cli_opt(o, n, "audit-durability");
    struct store_sqlite_options so = {(int)opti(o, n, "busy-timeout-ms"), create};
    int async = 0;
    struct err e;

    err_clear(&e);
    if (dur != NULL && dur->value != NULL) {
        if (strcmp(dur->value, "sync") != 0 && strcmp(dur->value, "async") != 0) {
            fprintf(stderr, "mandate: --audit-durability: sync or async\n");
            return -1;
        }
        async = strcmp(dur->value, "async") == 0;
    }
    if (store_sqlite_open(optv(o, n, "db"), &so, s, &e) != 0) {
        fprintf(stderr, "mandate: %s\n", e.msg);
        return -1;
    }
    if (async && store_sqlite_set_async(*s, 1, &e) != 0) {
        fprintf(stderr, "mandate: %s\n", e.msg);
        store_close(*s);
        *s = NULL;
        return -1;
    }
    return 0;
}

int cmd_serve(int argc, char **argv)
{
    struct http_config hc;
    struct http_server *srv = NULL;
    struct store *s = NULL;
    struct broker b = {0};
    struct err e;
    sigset_t set;
    char *host = NULL;
    int sig = 0, r;

    r = parse(serve_opts, NSERVE, argc, argv,
              "usage: mandate serve [--listen ADDR:PORT] [--db PATH] [--config FILE] [OPTIONS]\n\n"
              "Runs the Mandate HTTP API until SIGTERM or SIGINT.");
    if (r != CLI_OK) {
        cli_opts_free(serve_opts, NSERVE);
        return r < 0 ? CLI_OK : r;
    }
    err_clear(&e);
    memset(&hc, 0, sizeof(hc));
    if (http_parse_listen(optv(serve_opts, NSERVE, "listen"), &host, &hc.port, &e) != 0) {
        fprintf(stderr, "mandate serve: %s\n", e.msg);
        r = CLI_USAGE;
        goto out;
    }
    /* Block the signals before any thread starts (the store's and the
     * runtime's too) so that all inherit it and only sigwait() below takes
     * them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    hc.host = host;
    hc.threads = (unsigned)opti(serve_opts, NSERVE, "threads");
    hc.body_max = (size_t)opti(serve_opts, NSERVE, "body-max");
    hc.api_policies = optv(serve_opts, NSERVE, "api-policies");
    if (open_store(serve_opts, NSERVE, 0, &s) != 0) {
        r = CLI_NO;
        goto out;
    }
    b.store = s;
    if (broker_keycache_start(&b, &e) != 0) {
        fprintf(stderr, "mandate serve: %s\n", e.msg);
        r = CLI_NO;
        goto out;
    }
    /* With a fixed port the runtime is up before the first request; with
     * port 0 the issuer needs the bound port (token requests answer 503 in
     * the moment before). */
    if (hc.port != 0 && (r = start_runtime(&b, host, hc.port)) != CLI_OK) {
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);
    if (http_server_start(&hc, &b, &srv, &e) != 0) {
        fprintf(stderr, "mandate serve: %s\n", e.msg);
        r = CLI_NO;
        goto out;
    }
    if (hc.port == 0 && (r = start_runtime(&b, host, http_server_port(srv))) != CLI_OK) {
        goto out;
    }
    {
        char port[8];
        snprintf(port, sizeof(port), "%u", (unsigned)http_server_port(srv));
        log_event(LOG_INFO, "listening", NULL, "addr", host, "port", port, "db",
                  optv(serve_opts, NSERVE, "db"), (const char *)NULL);
    }
    printf("mandate: serving on http://%s%s%s:%u (store %s)\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", (unsigned)http_server_port(srv),
           optv(serve_opts, NSERVE, "db"));
    fflush(stdout);
    while (sigwait(&set, &sig) != 0) {
    }
    log_event(LOG_INFO, "shutting_down", NULL, "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
              (const char *)NULL);
    http_server_stop(srv, (int)opti(serve_opts, NSERVE, "shutdown-grace-ms"));
    srv = NULL;
    r = CLI_OK;
out:
    http_server_stop(srv, 0);
    broker_runtime_stop(&b);
    broker_keycache_stop(&b);
    store_close(s);
    free(host);
    cli_opts_free(serve_opts, NSERVE);
    if (r == CLI_OK) {
        log_event(LOG_INFO, "stopped", NULL, (const char *)NULL);
    }
    return r;
}

/* ---- init ------------------------------------------------------------------ */

static struct cli_opt init_opts[] = {
    {"config", "MANDATE_CONFIG", NULL, NULL, OPT_STRING, NULL, 0, 0, "INI config file", NULL, 0,
     NULL},
    {"db", "MANDATE_DB", "store", "db", OPT_STRING, "var/mandate.db", 0, 0,
     "SQLite store file to create or upgrade", NULL, 0, NULL},
    {"busy-timeout-ms", "MANDATE_BUSY_TIMEOUT_MS", "store", "busy_timeout_ms", OPT_INT, "5000", 1,
     600000, "how long to wait for a locked store", NULL, 0, NULL},
    {"log-level", "MANDATE_LOG_LEVEL", "log", "level", OPT_STRING, "warn", 0, 0,
     "debug, info, warn, error or off", NULL, 0, NULL},
    {"new-admin-key", NULL, NULL, NULL, OPT_BOOL, "false", 0, 0,
     "create another admin key even if the store has keys already", NULL, 0, NULL},
    {"key-only", NULL, NULL, NULL, OPT_BOOL, "false", 0, 0, "print only the key (for scripts)",
     NULL, 0, NULL},
    {"kek-file", "MANDATE_KEK_FILE", "store", "kek_file", OPT_STRING, "var/kek", 0, 0,
     "key-encryption key file, created (0600) when missing unless MANDATE_KEK is set", NULL, 0,
     NULL},
};
#define NINIT (sizeof(init_opts) / sizeof(init_opts[0]))

/* Makes the parent directory of path (one level, as `make run` needs var/). */
static void make_parent(const char *path)
{
    char dir[1024];
    const char *slash = strrchr(path, '/');

    if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof(dir)) {
        return;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "mandate init: cannot create %s: %s\n", dir, strerror(errno));
    }
}

int cmd_init(int argc, char **argv)
{
    struct store *s = NULL;
    struct broker b = {0};
    struct arena a;
    struct err e;
    char *key = NULL;
    const char *id;
    int64_t nkeys = 0;
    int r;

    r = parse(init_opts, NINIT, argc, argv,
              "usage: mandate init [--db PATH] [--new-admin-key] [--key-only]\n\n"
              "Creates (or upgrades) the store and, on a store with no API key yet,\n"
              "an admin API key, printed once: only its hash is stored.");
    if (r != CLI_OK) {
        cli_opts_free(init_opts, NINIT);
        return r < 0 ? CLI_OK : r;
    }
    arena_init(&a, 0, 0);
    err_clear(&e);
    make_parent(optv(init_opts, NINIT, "db"));
    if (open_store(init_opts, NINIT, 1, &s) != 0) {
        r = CLI_NO;
        goto out;
    }
    b.store = s;
    {
        const char *kf = optv(init_opts, NINIT, "kek-file");
        const char *env = getenv("MANDATE_KEK");
        int created = 0;

        if (kf != NULL && (env == NULL || env[0] == '\0')) {
            make_parent(kf);
            if (broker_kek_file_ensure(kf, &created, &e) != 0) {
                fprintf(stderr, "mandate init: %s\n", e.msg);
                r = CLI_NO;
                goto out;
            }
            if (created && !opti(init_opts, NINIT, "key-only")) {
                printf("mandate: key-encryption key created in %s (0600): back it up\n", kf);
            }
        }
    }
    if (s->ops->apikey_count(s, &nkeys, &e) != 0) {
        fprintf(stderr, "mandate init: %s\n", e.msg);
        r = CLI_NO;
        goto out;
    }
    if (nkeys > 0 && !opti(init_opts, NINIT, "new-admin-key")) {
        fprintf(stderr,
                "mandate init: %s is initialised (schema %d) and has API keys; "
                "--new-admin-key makes another\n",
                optv(init_opts, NINIT, "db"), store_sqlite_latest_version());
        r = CLI_OK;
        goto out;
    }
    if (broker_apikey_create(&b, NULL, "initial admin", ROLE_ADMIN, NULL, &a, &key, &id, &e) != 0) {
        fprintf(stderr, "mandate init: %s\n", e.msg);
        r = CLI_NO;
        goto out;
    }
    if (opti(init_opts, NINIT, "key-only")) {
        printf("%s\n", key);
    } else {
        printf("mandate: store %s ready (schema %d)\n"
               "admin API key (shown once; only its hash is stored):\n  %s\n",
               optv(init_opts, NINIT, "db"), store_sqlite_latest_version(), key);
    }
    r = CLI_OK;
out:
    wipe_free_str(key);
    store_close(s);
    arena_free(&a);
    cli_opts_free(init_opts, NINIT);
    return r;
}
