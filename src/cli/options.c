/* options.c: flags > environment > config file (libinih) > defaults. */
#include "cli/options.h"

#include <ini.h>
#include <stdlib.h>
#include <string.h>

#include "util/num.h"

const char *const cli_config_sections[] = {"server", "store", "log", NULL};

static int set(struct cli_opt *o, const char *v, const char *from, struct err *e)
{
    char *copy;

    if (o->type == OPT_INT) {
        int r = num_parse_i64(v, strlen(v), o->min, o->max, &o->ival);
        if (r != 0) {
            return err_set(e, ERR_INVALID, "--%s (from %s): expected an integer from %lld to %lld",
                           o->flag, from, (long long)o->min, (long long)o->max);
        }
    } else if (o->type == OPT_BOOL) {
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "yes") == 0) {
            o->ival = 1;
        } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0 || strcmp(v, "no") == 0) {
            o->ival = 0;
        } else {
            return err_set(e, ERR_INVALID, "--%s (from %s): expected true or false", o->flag, from);
        }
    }
    copy = strdup(v);
    if (copy == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    free(o->value);
    o->value = copy;
    o->from = from;
    return 0;
}

static struct cli_opt *find(struct cli_opt *opts, size_t n, const char *flag, size_t len)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strlen(opts[i].flag) == len && strncmp(opts[i].flag, flag, len) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

const struct cli_opt *cli_opt(const struct cli_opt *opts, size_t n, const char *flag)
{
    return find((struct cli_opt *)opts, n, flag, strlen(flag));
}

struct ini_ctx {
    struct cli_opt *opts;
    size_t n;
    struct err *e;
    int failed;
};

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
    struct ini_ctx *c = user;
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct cli_opt *o = &c->opts[i];
        if (o->section && strcmp(o->section, section) == 0 && strcmp(o->key, key) == 0) {
            if (set(o, value, "config", c->e) != 0) {
                c->failed = 1;
                return 0;
            }
            return 1;
        }
    }
    /* A section this command does not read belongs to another command
     * sharing the file (init reads [store], not [server]). */
    for (i = 0; i < c->n; i++) {
        if (c->opts[i].section && strcmp(c->opts[i].section, section) == 0) {
            break;
        }
    }
    if (i == c->n) {
        for (i = 0; cli_config_sections[i] != NULL; i++) {
            if (strcmp(cli_config_sections[i], section) == 0) {
                return 1;
            }
        }
        err_set(c->e, ERR_INVALID, "config: unknown section [%s]", section);
        c->failed = 1;
        return 0;
    }
    err_set(c->e, ERR_INVALID, "config: unknown key \"%s\" in section [%s]", key, section);
    c->failed = 1;
    return 0;
}

/* Finds --config / --config=X in argv, or MANDATE_CONFIG. */
static const char *config_path(struct cli_opt *opts, size_t n, int argc, char **argv)
{
    struct cli_opt *o = find(opts, n, "config", 6);
    int i;

    if (o == NULL) {
        return NULL;
    }
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            return argv[i + 1];
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            return argv[i] + 9;
        }
    }
    return o->env ? getenv(o->env) : NULL;
}

static int load_config(struct cli_opt *opts, size_t n, const char *path, struct err *e)
{
    struct ini_ctx c = {opts, n, e, 0};
    int r = ini_parse(path, on_ini, &c);

    if (r == -1) {
        return err_set(e, ERR_INVALID, "config: cannot open %s", path);
    }
    if (c.failed) {
        return err_prefix(e, "%s: ", path);
    }
    if (r != 0) {
        return err_set(e, ERR_INVALID, "%s:%d: config syntax error", path, r);
    }
    return 0;
}

static int parse_flags(struct cli_opt *opts, size_t n, int argc, char **argv, char ***rest,
                       int *nrest, struct err *e)
{
    int i, r, positional = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *eq, *val;
        struct cli_opt *o;
        if (positional || a[0] != '-' || strcmp(a, "-") == 0) {
            (*rest)[(*nrest)++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            positional = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            return err_set(e, ERR_INVALID, "unknown option %s (options are --long-names)", a);
        }
        a += 2;
        eq = strchr(a, '=');
        o = find(opts, n, a, eq ? (size_t)(eq - a) : strlen(a));
        if (o == NULL) {
            return err_set(e, ERR_INVALID, "unknown option --%.*s",
                           (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
        }
        if (eq) {
            val = eq + 1;
        } else if (o->type == OPT_BOOL) {
            val = "true";
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return err_set(e, ERR_INVALID, "option --%s needs a value", o->flag);
        }
        r = set(o, val, "flag", e);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

int cli_opts_parse(struct cli_opt *opts, size_t n, int argc, char **argv, char ***rest, int *nrest,
                   struct err *e)
{
    const char *path;
    size_t i;
    int r;

    *nrest = 0;
    *rest = calloc((size_t)argc + 1, sizeof(char *));
    if (*rest == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    for (i = 0; i < n; i++) {
        opts[i].value = NULL;
        opts[i].ival = 0;
        opts[i].from = "default";
        if (opts[i].dflt && (r = set(&opts[i], opts[i].dflt, "default", e)) != 0) {
            return r;
        }
    }
    path = config_path(opts, n, argc, argv);
    if (path != NULL && (r = load_config(opts, n, path, e)) != 0) {
        return r;
    }
    for (i = 0; i < n; i++) {
        const char *v = opts[i].env ? getenv(opts[i].env) : NULL;
        if (v != NULL && (r = set(&opts[i], v, "environment", e)) != 0) {
            return r;
        }
    }
    return parse_flags(opts, n, argc, argv, rest, nrest, e);
}

void cli_opts_help(FILE *f, const struct cli_opt *opts, size_t n)
{
    size_t i;

    fprintf(f, "options (a flag beats the environment, which beats the config file):\n");
    for (i = 0; i < n; i++) {
        const struct cli_opt *o = &opts[i];
        fprintf(f, "  --%-20s %s\n", o->flag, o->help);
        fprintf(f, "  %-22s default: %s", "", o->dflt ? o->dflt : "(none)");
        if (o->env) {
            fprintf(f, "; env %s", o->env);
        }
        if (o->section) {
            fprintf(f, "; config [%s] %s", o->section, o->key);
        }
        fprintf(f, "\n");
    }
}

void cli_opts_free(struct cli_opt *opts, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(opts[i].value);
        opts[i].value = NULL;
    }
}
