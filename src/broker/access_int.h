/*
 * access_int.h: what A1's access-path files share (runtime.c,
 * trust_registry.c, policy_snapshot.c, exchange.c).  Not for use outside
 * src/broker/.
 */
#ifndef MANDATE_BROKER_ACCESS_INT_H
#define MANDATE_BROKER_ACCESS_INT_H

#include "broker/access.h"

/* Builds the trust stores (agents and humans) from the registry's issuers
 * (an inline JWKS goes to jose as jwks_json: never refreshed). */
int access_trust_build(struct store *s, struct broker_trust **out, struct err *e) MUST_CHECK;
/* Reference counting of a trust snapshot; put frees at zero (NULL fine). */
struct broker_trust *access_trust_get(struct broker_trust *t);
void access_trust_put(struct broker_trust *t);
/* Hands the keys old has loaded to the issuers of t with the same key
 * source (jose_trust_adopt_keys), both stores; old may be NULL. */
void access_trust_adopt(struct broker_trust *t, struct broker_trust *old);
/* The current trust snapshot with a reference (rebuilds first when dirty). */
struct broker_trust *access_trust_acquire(struct broker *b);

/* Compiles one policy version (text + schema); *ps and *schema are new
 * (schema NULL when the text is empty). */
int access_policy_compile(int64_t version, const char *cedar, const char *schema,
                          struct cedar_policyset **ps, struct cedar_schema **sc,
                          struct err *e) MUST_CHECK;

/* Rebuilds whatever is dirty (entities, trust) under the runtime lock. */
void access_rebuild_if_dirty(struct broker *b);

#endif
