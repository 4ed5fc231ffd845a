/*
 * cmd_audit.c: `mandate audit verify|export|prune` on the store file,
 * (query and trace: cmd_audit_query.c)
 * offline (docs/audit.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"

static struct cli_opt audit_opts[] = {
    {"db", "MANDATE_DB", "store", "db", OPT_STRING, "var/mandate.db", 0, 0, "SQLite store file",
     NULL, 0, NULL},
    {"jwks", NULL, NULL, NULL, OPT_STRING, NULL, 0, 0,
     "verify: Mandate's public keys (the JWKS of /.well-known/jwks.json) to check the "
     "checkpoints' signatures; without it only their content is compared",
     NULL, 0, NULL},
    {"after", NULL, NULL, NULL, OPT_INT, "0", 0, INT64_MAX,
     "export: records after this seq (resume where the last export stopped; with --out, "
     "where FILE ends)",
     NULL, 0, NULL},
    {"format", NULL, NULL, NULL, OPT_STRING, "jsonl", 0, 0,
     "export: jsonl (the records' columns, with their hashes) or ocsf (OCSF 1.x events)", NULL, 0,
     NULL},
    {"out", NULL, NULL, NULL, OPT_STRING, NULL, 0, 0,
     "export: append to FILE (synced batch by batch; a torn last line is cut; resumes after "
     "the last record in FILE) instead of stdout",
     NULL, 0, NULL},
    {"before", NULL, NULL, NULL, OPT_STRING, NULL, 0, 0,
     "prune: records older than AGE (e.g. 90d, 12h, 30m, 45s), up to the newest checkpoint "
     "older than that",
     NULL, 0, NULL},
    {"before-seq", NULL, NULL, NULL, OPT_INT, NULL, 1, INT64_MAX,
     "prune: records up to the newest checkpoint at or below this seq", NULL, 0, NULL},
};
#define NAUDIT (sizeof(audit_opts) / sizeof(audit_opts[0]))

static const char usage[] =
    "usage: mandate audit verify [--db PATH] [--jwks FILE]\n"
    "       mandate audit export [--db PATH] [--after SEQ] [--format jsonl|ocsf] [--out FILE]\n"
    "       mandate audit prune --before AGE|--before-seq N [--db PATH]\n"
    "       mandate audit query [filters] [--db PATH] [--json]   (mandate audit query --help)\n"
    "       mandate audit trace TASK [--db PATH] [--json]\n\n"
    "verify: walks the audit trail in the store file (offline, read only): every record's\n"
    "hash, its link to the one before, consecutive numbers, and the signed checkpoints.\n"
    "Prints the first broken record or checkpoint; exit 0 intact, 1 broken, 2 error.\n"
    "export: the records as JSON lines (jsonl: the columns; ocsf: OCSF events), in seq\n"
    "order, on stdout or appended to FILE.\n"
    "prune: deletes the records up to the newest signed checkpoint before the cutoff (never\n"
    "past it), in one transaction, recorded as an audit.prune record; exit 0 done (or\n"
    "nothing older), 1 refused (no checkpoint old enough), 2 error.";

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

/* ---- export ------------------------------------------------------------------------ */

struct exporter {
    int ocsf;
    int fd;        /* -1: stdout */
    struct buf bb; /* one batch of lines */
};

/* One record as one line into the batch. */
static int export_line(struct exporter *x, const struct store_audit *r)
{
    json_t *o =
        x->ocsf ? broker_audit_record_ocsf(r, MANDATE_VERSION) : broker_audit_record_jsonl(r);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    int rc = line == NULL ? ERR_NOMEM : 0;

    rc = rc ? rc : buf_append_str(&x->bb, line);
    rc = rc ? rc : buf_append(&x->bb, "\n", 1);
    free(line);
    json_decref(o);
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends the batch to FILE and syncs it; on failure cuts FILE back to where
 * the batch started, so FILE only ever ends on a whole batch. */
static int flush_batch(struct exporter *x, const char *out)
{
    off_t start;

    if (x->bb.len == 0) {
        return 0;
    }
    if (x->fd < 0) {
        return fwrite(x->bb.data, 1, x->bb.len, stdout) == x->bb.len ? 0 : -1;
    }
    start = lseek(x->fd, 0, SEEK_END);
    if (start < 0 || write_all(x->fd, x->bb.data, x->bb.len) != 0 || fdatasync(x->fd) != 0) {
        fprintf(stderr, "mandate audit export: %s: %s\n", out, strerror(errno));
        if (start >= 0 && ftruncate(x->fd, start) != 0) {
            fprintf(stderr, "mandate audit export: %s: cannot cut the partial batch\n", out);
        }
        return -1;
    }
    return 0;
}

/* The seq of an export line (either format); 0 when it is not one. */
static int64_t line_seq(const char *p, size_t n)
{
    json_t *j = json_loadb(p, n, JSON_REJECT_DUPLICATES, NULL);
    json_t *v = j ? json_object_get(j, "seq") : NULL;
    int64_t seq = 0;

    if (v == NULL && j != NULL) {
        v = json_object_get(json_object_get(j, "metadata"), "sequence");
    }
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        seq = json_integer_value(v);
    }
    json_decref(j);
    return seq;
}

/* Opens FILE for appending: cuts a torn last line (a crash inside a
 * write), and *last gets the seq of its last line (0: empty).  0 or -1. */
static int open_out(const char *path, int *fdp, int64_t *last)
{
    struct stat st;
    char *tail = NULL;
    size_t n, i, end, begin;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

    *fdp = -1;
    *last = 0;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "mandate audit export: %s: %s\n", path, strerror(errno));
        goto fail;
    }
    if (st.st_size == 0) {
        *fdp = fd;
        return 0;
    }
    n = st.st_size > LIMIT_AUDIT_EXPORT_LINE_MAX ? LIMIT_AUDIT_EXPORT_LINE_MAX : (size_t)st.st_size;
    tail = malloc(n);
    if (tail == NULL || pread(fd, tail, n, st.st_size - (off_t)n) != (ssize_t)n) {
        fprintf(stderr, "mandate audit export: %s: cannot read its end\n", path);
        goto fail;
    }
    for (end = n; end > 0 && tail[end - 1] != '\n'; end--) {
    }
    if (end == 0 && n < (size_t)st.st_size) {
        fprintf(stderr, "mandate audit export: %s: its last line is too long\n", path);
        goto fail;
    }
    if (end < n) { /* a torn line: cut it */
        if (ftruncate(fd, st.st_size - (off_t)(n - end)) != 0) {
            fprintf(stderr, "mandate audit export: %s: %s\n", path, strerror(errno));
            goto fail;
        }
        fprintf(stderr, "mandate audit export: %s: cut a torn last line (%zu bytes)\n", path,
                n - end);
    }
    if (end > 0) {
        for (begin = end - 1; begin > 0 && tail[begin - 1] != '\n'; begin--) {
        }
        i = end - 1 - begin;
        *last = line_seq(tail + begin, i);
        if (*last == 0) {
            fprintf(stderr, "mandate audit export: %s: its last line is not an export line\n",
                    path);
            goto fail;
        }
    }
    free(tail);
    *fdp = fd;
    return 0;
fail:
    free(tail);
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

static int do_export(struct store *s, const struct cli_opt *after_opt, const char *format,
                     const char *out)
{
    struct exporter x = {0, -1, {0}};
    struct store_audit *v;
    struct arena a;
    struct err e;
    int64_t after = after_opt->ival, last = 0;
    size_t n, i;
    int r = CLI_USAGE, first = 1;

    err_clear(&e);
    if (strcmp(format, "jsonl") != 0 && strcmp(format, "ocsf") != 0) {
        fprintf(stderr, "mandate audit export: --format: jsonl or ocsf\n");
        return CLI_USAGE;
    }
    x.ocsf = strcmp(format, "ocsf") == 0;
    buf_init(&x.bb, 0x7fffffff);
    if (out != NULL) {
        if (open_out(out, &x.fd, &last) != 0) {
            return CLI_USAGE;
        }
        if (last > 0 && after_opt->from != NULL && strcmp(after_opt->from, "flag") == 0 &&
            after != last) {
            fprintf(stderr,
                    "mandate audit export: %s ends at seq %lld: --after %lld would leave a gap "
                    "or a duplicate (leave --after out to resume)\n",
                    out, (long long)last, (long long)after);
            goto out;
        }
        if (last > 0) {
            after = last;
        }
    }
    for (;;) {
        arena_init(&a, 0, 0);
        buf_reset(&x.bb);
        if (s->ops->audit_list(s, after, LIMIT_AUDIT_VERIFY_PAGE, &a, &v, &n, &e) != 0) {
            arena_free(&a);
            fprintf(stderr, "mandate audit export: %s\n", e.msg);
            goto out;
        }
        if (first && after > 0 && n > 0 && v[0].seq != after + 1) {
            fprintf(stderr,
                    "mandate audit export: records %lld..%lld are not in the store (pruned or "
                    "deleted): the export goes on from %lld\n",
                    (long long)(after + 1), (long long)(v[0].seq - 1), (long long)v[0].seq);
        }
        first = 0;
        for (i = 0; i < n; i++) {
            if (export_line(&x, &v[i]) != 0) {
                arena_free(&a);
                fprintf(stderr, "mandate audit export: record %lld: out of memory\n",
                        (long long)v[i].seq);
                goto out;
            }
        }
        if (n > 0) {
            after = v[n - 1].seq;
        }
        arena_free(&a);
        if (flush_batch(&x, out) != 0) {
            goto out;
        }
        if (n < LIMIT_AUDIT_VERIFY_PAGE) {
            break;
        }
    }
    r = x.fd >= 0 || fflush(stdout) == 0 ? CLI_OK : CLI_USAGE;
out:
    if (x.fd >= 0 && close(x.fd) != 0) {
        r = CLI_USAGE;
    }
    buf_free(&x.bb);
    return r;
}

/* ---- prune --------------------------------------------------------------------------- */

/* "90d", "12h", "30m", "45s" -> milliseconds; -1 when malformed. */
static int64_t parse_age(const char *s)
{
    static const struct {
        char unit;
        int64_t ms;
    } units[] = {{'s', 1000}, {'m', 60000}, {'h', 3600000}, {'d', 86400000}};
    size_t len = strlen(s), i;
    int64_t v = 0;

    if (len < 2 || len > 12) {
        return -1;
    }
    for (i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (s[len - 1] == units[i].unit) {
            return v <= INT64_MAX / units[i].ms ? v * units[i].ms : -1;
        }
    }
    return -1;
}

static int do_prune(struct store *s, const char *before, const struct cli_opt *bseq)
{
    struct broker_audit_prune p;
    int64_t before_ms = INT64_MAX, before_seq = INT64_MAX, age;
    int has_seq = bseq->value != NULL;
    struct err e;
    int r;

    err_clear(&e);
    if ((before == NULL) == !has_seq) {
        fprintf(stderr, "mandate audit prune: give one of --before AGE and --before-seq N\n");
        return CLI_USAGE;
    }
    if (before != NULL) {
        age = parse_age(before);
        if (age < 0) {
            fprintf(stderr, "mandate audit prune: --before: an age such as 90d, 12h, 30m, 45s\n");
            return CLI_USAGE;
        }
        before_ms = clock_wall_ms() - age;
    } else {
        before_seq = bseq->ival;
    }
    r = broker_audit_prune(s, NULL, before_seq, before_ms, &p, &e);
    if (r == ERR_NOTFOUND || r == ERR_CONFLICT) {
        fprintf(stderr, "mandate audit prune: %s\n", e.msg);
        return CLI_NO;
    }
    if (r != 0) {
        fprintf(stderr, "mandate audit prune: %s\n", e.msg);
        return CLI_USAGE;
    }
    if (p.deleted == 0) {
        printf("nothing to prune: no record left at or before checkpoint %lld\n",
               (long long)p.checkpoint);
    } else {
        printf("pruned %lld records (seq %lld..%lld) up to checkpoint %lld; recorded as "
               "audit.prune, record %lld\n",
               (long long)p.deleted, (long long)p.from_seq, (long long)p.checkpoint,
               (long long)p.checkpoint, (long long)p.record);
    }
    return CLI_OK;
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
    if (strcmp(verb, "verify") != 0 && strcmp(verb, "export") != 0 && strcmp(verb, "prune") != 0) {
        fprintf(stderr,
                "mandate audit: unknown sub-command \"%s\" (verify, export, prune, query, trace)\n",
                verb);
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
    } else if (strcmp(verb, "export") == 0) {
        r = do_export(s, cli_opt(audit_opts, NAUDIT, "after"),
                      cli_opt(audit_opts, NAUDIT, "format")->value,
                      cli_opt(audit_opts, NAUDIT, "out")->value);
    } else {
        r = do_prune(s, cli_opt(audit_opts, NAUDIT, "before")->value,
                     cli_opt(audit_opts, NAUDIT, "before-seq"));
    }
    store_close(s);
    cli_opts_free(audit_opts, NAUDIT);
    return r;
}
