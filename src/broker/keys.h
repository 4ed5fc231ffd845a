/*
 * keys.h: Mandate's token signing keys while the server runs (keys.c).
 *
 * The keyring (jose_keyring_*) knows keys and times; this part keeps it and
 * the store in step: a thread ticks every LIMIT_KEYS_TICK_S and rotates on
 * schedule (the successor is published ahead of use), deletes the envelopes
 * of keys past their retention, and follows the store (keys made or revoked
 * by another replica); rotation on demand and emergency revocation are
 * audited.  Every change of the published keys swaps the verifier of task
 * tokens atomically (docs/operations.md, "Signing keys").
 */
#ifndef MANDATE_BROKER_KEYS_H
#define MANDATE_BROKER_KEYS_H

#include <jansson.h>

#include "broker/broker.h"
#include "jose/jose.h"

struct broker_keys;

/* Loads every stored envelope into b->rt->keyring (ERR_AUTH: wrong KEK or a
 * tampered envelope), makes and persists a first key when due, builds the
 * token verifier, then starts the rotation thread (tick 0 = no thread, for
 * tests that call broker_keys_tick themselves).  alg: of new keys
 * (JOSE_ALG_UNKNOWN: ES256). */
int broker_keys_start(struct broker *b, enum jose_alg alg, int64_t tick_s,
                      struct err *e) MUST_CHECK;

/* Stops the thread and frees the state (the keyring stays: runtime.c). */
void broker_keys_stop(struct broker *b);

/* One tick: follow the store, rotate when due, drop retired keys, republish.
 * 0 or an error (logged by the thread). */
int broker_keys_tick(struct broker *b, struct err *e) MUST_CHECK;

/* Rotation on demand: a new key that signs activate_in_s seconds from now
 * (0: at once; up to LIMIT_KEYS_ACTIVATE_MAX_S), persisted and audited
 * ("key.rotate").  *out: {"kid","activates","audit_id","keys":[...]}. */
int broker_keys_rotate(struct broker *b, const struct broker_caller *c, int64_t activate_in_s,
                       json_t **out, struct err *e) MUST_CHECK;

/* Emergency revocation of kid: its envelope is deleted and the revocation
 * audited ("key.revoke", with reason) in one transaction, the key leaves the
 * keyring and the JWKS at once, tokens it signed no longer verify, and the
 * live tasks created while it signed (one second of margin) are revoked with
 * their delegated children, so tokens the task table already verified and
 * cached fail too.  When it was the signing key, a new one signs at once
 * ("key.rotate").
 * ERR_NOTFOUND: no such key.  *out: {"kid","revoked","replaced_by"?,
 * "audit_id","keys":[...]}. */
int broker_keys_revoke(struct broker *b, const struct broker_caller *c, const char *kid,
                       const char *reason, json_t **out, struct err *e) MUST_CHECK;

/* {"keys":[{"kid","alg","activates","state","retires"?}...]} newest first,
 * times as RFC 3339. */
int broker_keys_list(struct broker *b, json_t **out, struct err *e) MUST_CHECK;

#endif
