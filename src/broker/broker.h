/*
 * broker.h: Mandate's domain: the registry of humans, teams and agents, and
 * the authentication of callers of the broker's own API.
 *
 * The broker validates every write (ids, SPIFFE IDs, references to owners
 * and teams) before it reaches the store.  Inputs arrive as parsed jansson
 * objects; the broker checks their shape (known field names, JSON types,
 * lengths) and their meaning, so no edge (HTTP, CLI) can skip a check.
 */
#ifndef MANDATE_BROKER_H
#define MANDATE_BROKER_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/err.h"

/* Roles of API callers (humans and services, never agents). */
enum broker_role {
    ROLE_NONE = 0,
    ROLE_ADMIN = 1 << 0,
    ROLE_SECURITY = 1 << 1,
    ROLE_OWNER = 1 << 2,
    ROLE_AUDITOR = 1 << 3,
    ROLE_PEP = 1 << 4,
};
#define ROLE_ANY (ROLE_ADMIN | ROLE_SECURITY | ROLE_OWNER | ROLE_AUDITOR | ROLE_PEP)
#define ROLE_READERS (ROLE_ADMIN | ROLE_SECURITY | ROLE_OWNER | ROLE_AUDITOR)

/* Parses "admin", "security", ...; ROLE_NONE when unknown. */
enum broker_role broker_role_parse(const char *s);
const char *broker_role_name(enum broker_role r);

struct broker {
    struct store *store;
};

/* The authenticated caller of one request. */
struct broker_caller {
    const char *key_id; /* API key id */
    enum broker_role role;
    const char *subject; /* the human behind the key, or NULL */
};

/* ---- API keys ------------------------------------------------------------- */

/* API keys look like "mdk_<id>_<secret>": the id finds the record, the
 * secret's SHA-256 is compared in constant time with the stored hash.  Only
 * the hash is ever stored. */
#define BROKER_APIKEY_PREFIX "mdk_"

/* Authenticates a bearer key.  ERR_AUTH for a malformed, unknown, revoked or
 * wrong key (the message says which, for the log only); ERR_UNAVAILABLE when
 * the store cannot answer. */
int broker_auth_apikey(struct broker *b, const char *key, size_t len, struct arena *a,
                       struct broker_caller *out, struct err *e) MUST_CHECK;

/* Creates a key with a role; *key_out (malloc'd, wipe and free it) is the
 * full key, shown once.  *id_out is allocated in a. */
int broker_apikey_create(struct broker *b, const char *name, enum broker_role role,
                         const char *subject, struct arena *a, char **key_out, const char **id_out,
                         struct err *e) MUST_CHECK;

/* ---- registry ------------------------------------------------------------- */

/* Each create takes a JSON object, checks its shape (unknown or missing
 * fields, wrong JSON types, over-long strings) and meaning (formats,
 * references), stores the record and returns it as JSON (*out, a new
 * reference).  Errors: ERR_INVALID (the message starts with the field name
 * and a colon), ERR_NOTFOUND (a referenced owner or team), ERR_CONFLICT
 * (exists), ERR_UNAVAILABLE.  Nothing is stored on error. */
int broker_human_create(struct broker *b, json_t *in, struct arena *a, json_t **out,
                        struct err *e) MUST_CHECK;
int broker_team_create(struct broker *b, json_t *in, struct arena *a, json_t **out,
                       struct err *e) MUST_CHECK;
int broker_agent_create(struct broker *b, json_t *in, struct arena *a, json_t **out,
                        struct err *e) MUST_CHECK;

/* Kinds of registry objects for the generic get/list/delete. */
enum broker_kind { BROKER_HUMAN, BROKER_TEAM, BROKER_AGENT };

int broker_get(struct broker *b, enum broker_kind k, const char *id, struct arena *a, json_t **out,
               struct err *e) MUST_CHECK;
/* A page: {"items":[...],"next":"<id>"|null}. */
int broker_list(struct broker *b, enum broker_kind k, const char *after, size_t limit,
                struct arena *a, json_t **out, struct err *e) MUST_CHECK;
int broker_delete(struct broker *b, enum broker_kind k, const char *id, struct err *e) MUST_CHECK;

/* Checks a registry id (humans, teams): 1-128 of [A-Za-z0-9._@-]. */
int broker_id_check(const char *field, const char *s, struct err *e) MUST_CHECK;

#endif
