/*
 * trust_registry.c: the jose trust stores built from the registry's trust
 * issuers, and the mapping of a verified credential to an agent or a human.
 *
 * Two stores: one of the issuers "for":"agents" (workload credentials), one
 * of those "for":"humans" (ID tokens saying on whose behalf an agent acts),
 * so a human issuer can never vouch for a workload and the other way round.
 * A snapshot (struct broker_trust) is refcounted and swapped when the
 * registry changes.  jose's trust store reads keys from files or URLs, or
 * takes an inline JWKS as it is.  A rebuild (any registry change) hands the
 * keys already loaded by the old snapshot to the new one for every issuer
 * whose key source is unchanged (jose_trust_adopt_keys), so no request waits
 * for, or fails on, a fetch the old keys could answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "util/limits.h"
#include "util/log.h"

struct issuer_map {
    char *principals; /* "agents" or "humans" */
    char *name;       /* trust domain or issuer URL, as jose reports it */
    char *id;         /* the registry id */
};

struct broker_trust {
    atomic_long refs;
    struct jose_trust_store *agents;
    struct jose_trust_store *humans;
    struct issuer_map *map;
    size_t nmap;
};

struct broker_trust *access_trust_get(struct broker_trust *t)
{
    if (t != NULL) {
        atomic_fetch_add(&t->refs, 1);
    }
    return t;
}

void access_trust_put(struct broker_trust *t)
{
    size_t i;

    if (t == NULL || atomic_fetch_sub(&t->refs, 1) != 1) {
        return;
    }
    jose_trust_store_free(t->agents);
    jose_trust_store_free(t->humans);
    for (i = 0; i < t->nmap; i++) {
        free(t->map[i].principals);
        free(t->map[i].name);
        free(t->map[i].id);
    }
    free(t->map);
    free(t);
}

/* Adds one registry issuer to the right store. */
static int add_issuer(struct broker_trust *t, const struct store_issuer *x, struct err *e)
{
    struct jose_trust_issuer c;
    const char *auds[LIMIT_ISSUER_AUDIENCES + 1];
    char algs[128];
    json_t *ja = json_loads(x->audiences, JSON_REJECT_DUPLICATES, NULL);
    json_t *jl = json_loads(x->algs, JSON_REJECT_DUPLICATES, NULL);
    struct issuer_map *m;
    size_t i, n = 0, off = 0;
    int r = 0;

    memset(&c, 0, sizeof(c));
    algs[0] = '\0';
    c.kind = strcmp(x->kind, "spiffe") == 0 ? JOSE_TRUST_SPIFFE : JOSE_TRUST_OIDC;
    c.name = x->issuer;
    for (i = 0; ja != NULL && i < json_array_size(ja) && n < LIMIT_ISSUER_AUDIENCES; i++) {
        if (json_is_string(json_array_get(ja, i))) {
            auds[n++] = json_string_value(json_array_get(ja, i));
        }
    }
    auds[n] = NULL;
    c.audiences = auds;
    for (i = 0; jl != NULL && i < json_array_size(jl); i++) {
        const char *s = json_string_value(json_array_get(jl, i));
        int w = s ? snprintf(algs + off, sizeof(algs) - off, "%s%s", off ? "," : "", s) : 0;
        if (w < 0 || (size_t)w >= sizeof(algs) - off) {
            r = err_set(e, ERR_LIMIT, "trust issuer %s: too many algorithms", x->id);
            break;
        }
        off += (size_t)w;
    }
    c.algs = off ? algs : NULL;
    c.fetch.allow_http = 1; /* local issuers in tests; registry checks the URL shape */
    if (r == 0 && strcmp(x->jwks_source, "inline") == 0) {
        /* Inline keys change only with the registry row (which rebuilds
         * this store): jose never refreshes them, and there is no file for
         * a /tmp cleaner to take away. */
        c.jwks_json = x->jwks;
    } else if (r == 0 && strcmp(x->jwks_source, "file") == 0) {
        c.jwks_file = x->jwks;
    } else if (r == 0) {
        c.jwks_uri = x->jwks;
    }
    r = r ? r
          : jose_trust_add(strcmp(x->principals, "humans") == 0 ? t->humans : t->agents, &c, 0, e);
    json_decref(ja);
    json_decref(jl);
    if (r != 0) {
        return err_prefix(e, "trust issuer %s: ", x->id);
    }
    m = realloc(t->map, (t->nmap + 1) * sizeof(*m));
    if (m == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    t->map = m;
    m = &t->map[t->nmap];
    m->principals = strdup(x->principals);
    m->name = strdup(x->issuer);
    m->id = strdup(x->id);
    t->nmap++;
    if (m->principals == NULL || m->name == NULL || m->id == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    return 0;
}

int access_trust_build(struct store *s, struct broker_trust **out, struct err *e)
{
    struct broker_trust *t = calloc(1, sizeof(*t));
    struct store_page pg = {NULL, 200};
    struct store_issuer *xs;
    struct arena a;
    size_t n, i;
    int r;

    *out = NULL;
    if (t == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    atomic_init(&t->refs, 1);
    arena_init(&a, 0, 0);
    r = jose_trust_store_new(&t->agents, e);
    r = r ? r : jose_trust_store_new(&t->humans, e);
    do {
        r = r ? r : s->ops->issuer_list(s, &pg, &a, &xs, &n, e);
        for (i = 0; r == 0 && i < n; i++) {
            r = add_issuer(t, &xs[i], e);
            pg.after = xs[i].id;
        }
    } while (r == 0 && n == pg.limit);
    arena_free(&a);
    if (r != 0) {
        access_trust_put(t);
        return r;
    }
    *out = t;
    return 0;
}

void access_trust_adopt(struct broker_trust *t, struct broker_trust *old)
{
    if (t != NULL && old != NULL) {
        (void)jose_trust_adopt_keys(t->agents, old->agents);
        (void)jose_trust_adopt_keys(t->humans, old->humans);
    }
}

struct broker_trust *access_trust_acquire(struct broker *b)
{
    struct broker_trust *t;

    access_rebuild_if_dirty(b);
    pthread_mutex_lock(&b->rt->lock);
    t = access_trust_get(b->rt->trust);
    pthread_mutex_unlock(&b->rt->lock);
    return t;
}

static const char *map_id(const struct broker_trust *t, const char *principals, const char *name)
{
    size_t i;

    for (i = 0; i < t->nmap; i++) {
        if (strcmp(t->map[i].principals, principals) == 0 && strcmp(t->map[i].name, name) == 0) {
            return t->map[i].id;
        }
    }
    return NULL;
}

/* Verifies token with store ts; ERR_AUTH with *code on refusal. */
static int verify(struct jose_trust_store *ts, const char *token, size_t len,
                  struct jose_identity **id, const char **code, struct err *e)
{
    int r;

    if (len > LIMIT_JOSE_TOKEN_MAX) {
        *code = "invalid_credential";
        return err_set(e, ERR_AUTH, "too_large: the credential is over %d bytes",
                       LIMIT_JOSE_TOKEN_MAX);
    }
    r = jose_trust_verify(ts, token, len, id, e);
    if (r == ERR_AUTH || r == ERR_LIMIT || r == ERR_INVALID || r == ERR_NOTFOUND) {
        *code = strncmp(e->msg, "untrusted issuer", 16) == 0 ? "untrusted_issuer"
                                                             : "invalid_credential";
        return ERR_AUTH;
    }
    if (r != 0) {
        *code = "unavailable";
    }
    return r;
}

int broker_workload_verify(struct broker *b, const char *token, size_t len, struct arena *a,
                           struct broker_workload *out, const char **code, struct err *e)
{
    struct broker_trust *t = access_trust_acquire(b);
    struct jose_identity *id = NULL;
    struct store_human h;
    const char *iss_id;
    int r;

    memset(out, 0, sizeof(*out));
    *code = "invalid_credential";
    if (t == NULL) {
        *code = "unavailable";
        return err_set(e, ERR_UNAVAILABLE, "no trust store");
    }
    r = verify(t->agents, token, len, &id, code, e);
    if (r != 0) {
        goto out;
    }
    iss_id = map_id(t, "agents", id->issuer);
    if (iss_id == NULL) {
        *code = "untrusted_issuer";
        r = err_set(e, ERR_AUTH, "issuer %s is not a registered agent issuer", id->issuer);
        goto out;
    }
    out->issuer_id = arena_strdup(a, iss_id);
    out->exp_s = id->exp;
    r = b->store->ops->agent_by_subject(b->store, iss_id, id->subject, a, &out->agent, e);
    if (r == ERR_NOTFOUND) {
        *code = "unknown_agent";
        r = err_set(e, ERR_AUTH, "no agent is attested by issuer %s as %s", iss_id, id->subject);
        goto out;
    }
    if (r != 0) {
        *code = "unavailable";
        goto out;
    }
    if (strcmp(out->agent.status, "active") != 0) {
        *code =
            strcmp(out->agent.status, "suspended") == 0 ? "agent_suspended" : "agent_offboarded";
        r = err_set(e, ERR_AUTH, "agent %s is %s", out->agent.id, out->agent.status);
        goto out;
    }
    r = b->store->ops->human_get(b->store, out->agent.owner, a, &h, e);
    if (r == 0 && strcmp(h.status, "active") != 0) {
        *code = "owner_inactive";
        r = err_set(e, ERR_AUTH, "the owner of agent %s is %s", out->agent.id, h.status);
    } else if (r == ERR_NOTFOUND) {
        *code = "owner_inactive";
        r = err_set(e, ERR_AUTH, "agent %s has no owner", out->agent.id);
    } else if (r != 0) {
        *code = "unavailable";
    }
out:
    jose_identity_free(id);
    access_trust_put(t);
    return r;
}

int broker_human_verify(struct broker *b, const char *token, size_t len, struct arena *a,
                        const char **human_id, const char **code, struct err *e)
{
    struct broker_trust *t = access_trust_acquire(b);
    struct jose_identity *id = NULL;
    struct store_human h;
    int r;

    *human_id = NULL;
    *code = "invalid_credential";
    if (t == NULL) {
        *code = "unavailable";
        return err_set(e, ERR_UNAVAILABLE, "no trust store");
    }
    r = verify(t->humans, token, len, &id, code, e);
    if (r != 0) {
        goto out;
    }
    r = b->store->ops->human_get(b->store, id->subject, a, &h, e);
    if (r == ERR_NOTFOUND) {
        *code = "unknown_human";
        r = err_set(e, ERR_AUTH, "no human %s is registered", id->subject);
    } else if (r != 0) {
        *code = "unavailable";
    } else if (strcmp(h.status, "active") != 0) {
        *code = "human_inactive";
        r = err_set(e, ERR_AUTH, "human %s is %s", h.id, h.status);
    } else {
        *human_id = h.id;
    }
out:
    jose_identity_free(id);
    access_trust_put(t);
    return r;
}
