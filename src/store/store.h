/*
 * store.h: Mandate's persistent state behind one interface.
 *
 * The interface is a table of functions (struct store_ops) so that a
 * PostgreSQL implementation can be added without touching callers; SQLite is
 * the embedded default (sqlite.c).  Records come back with their strings
 * allocated in the caller's arena.  Every call returns 0 or an ERR_* code:
 * ERR_NOTFOUND, ERR_CONFLICT (duplicate id, a reference that would dangle),
 * ERR_UNAVAILABLE (the store is locked, read-only, full or gone: the caller
 * answers 503), ERR_INTERNAL.
 *
 * A store handle may be used from several threads.  store_tx() runs a
 * function inside one write transaction; writes outside store_tx() are
 * transactions of their own.
 */
#ifndef MANDATE_STORE_H
#define MANDATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

#define STORE_KEY_HASH_LEN 32 /* SHA-256 */

struct store_human {
    const char *id;
    const char *email;
    const char *name;   /* may be NULL */
    const char *status; /* "active" or "offboarded" */
    int64_t created_ms;
};

struct store_team {
    const char *id;
    const char *name; /* may be NULL */
    int64_t created_ms;
};

struct store_agent {
    const char *id;    /* a SPIFFE ID */
    const char *owner; /* human id */
    const char *team;  /* team id or NULL */
    const char *purpose;
    const char *environment;
    int64_t risk_tier;
    const char *status; /* "active", "suspended", "offboarded" */
    int64_t created_ms;
};

struct store_apikey {
    const char *id; /* public part of the key, used to look it up */
    const char *name;
    const char *role;                       /* admin, security, owner, auditor, pep */
    const char *subject;                    /* the human the key acts for, or NULL */
    unsigned char hash[STORE_KEY_HASH_LEN]; /* SHA-256 of the secret part */
    int64_t created_ms;
    int64_t revoked_ms; /* 0 when live */
};

/* A page of a list: items after the id `after` (NULL: from the start), in id
 * order, at most `limit`. */
struct store_page {
    const char *after;
    size_t limit;
};

struct store;

struct store_ops {
    const char *kind;
    void (*close)(struct store *s);
    /* Checks the store answers; with write_probe, that it can take a write lock
     * now.  ERR_UNAVAILABLE with the reason otherwise. */
    int (*ping)(struct store *s, int write_probe, struct err *e);
    int (*schema_version)(struct store *s, int *out, struct err *e);
    int (*tx_begin)(struct store *s, struct err *e);
    int (*tx_commit)(struct store *s, struct err *e);
    void (*tx_rollback)(struct store *s);

    int (*human_insert)(struct store *s, const struct store_human *h, struct err *e);
    int (*human_get)(struct store *s, const char *id, struct arena *a, struct store_human *out,
                     struct err *e);
    int (*human_list)(struct store *s, const struct store_page *p, struct arena *a,
                      struct store_human **out, size_t *n, struct err *e);
    int (*human_delete)(struct store *s, const char *id, struct err *e);

    int (*team_insert)(struct store *s, const struct store_team *t, struct err *e);
    int (*team_get)(struct store *s, const char *id, struct arena *a, struct store_team *out,
                    struct err *e);
    int (*team_list)(struct store *s, const struct store_page *p, struct arena *a,
                     struct store_team **out, size_t *n, struct err *e);
    int (*team_delete)(struct store *s, const char *id, struct err *e);

    int (*agent_insert)(struct store *s, const struct store_agent *ag, struct err *e);
    int (*agent_get)(struct store *s, const char *id, struct arena *a, struct store_agent *out,
                     struct err *e);
    int (*agent_list)(struct store *s, const struct store_page *p, struct arena *a,
                      struct store_agent **out, size_t *n, struct err *e);
    int (*agent_delete)(struct store *s, const char *id, struct err *e);

    int (*apikey_insert)(struct store *s, const struct store_apikey *k, struct err *e);
    int (*apikey_get)(struct store *s, const char *id, struct arena *a, struct store_apikey *out,
                      struct err *e);
    int (*apikey_count)(struct store *s, int64_t *out, struct err *e);
};

struct store {
    const struct store_ops *ops;
};

struct store_sqlite_options {
    int busy_timeout_ms; /* how long a write waits for a lock; 0: 5000 */
    int create;          /* create the file when missing (mandate init) */
};

/* Opens (and with opts->create, creates) the SQLite store at path, applying
 * pending migrations in a transaction.  Refuses a store whose schema is newer
 * than this program knows (ERR_UNSUPPORTED). */
int store_sqlite_open(const char *path, const struct store_sqlite_options *opts, struct store **out,
                      struct err *e) MUST_CHECK;

/* The newest schema version this program knows. */
int store_sqlite_latest_version(void);

/* Closes the store; s may be NULL. */
void store_close(struct store *s);

/* Runs fn(s, ctx, e) inside a write transaction: committed when fn returns 0,
 * rolled back otherwise.  Returns fn's code, or the commit's. */
int store_tx(struct store *s, int (*fn)(struct store *s, void *ctx, struct err *e), void *ctx,
             struct err *e) MUST_CHECK;

#endif
