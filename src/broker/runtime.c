/*
 * runtime.c: start and stop of the access path's runtime (broker_int.h):
 * the KEK, Mandate's signing keyring persisted in the store as encrypted
 * envelopes, the verifier of issued task tokens, the trust store and policy
 * snapshot built from the registry, the DPoP replay cache, the task table,
 * and the broker hooks that keep them current.
 *
 * The private keys never reach the store in clear: jose seals each under the
 * KEK (AES-256-GCM) and the store keeps the envelope; a wrong KEK or a
 * tampered envelope refuses to start (ERR_AUTH), it does not make a new key.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/wipe.h"

/* ---- KEK file ----------------------------------------------------------------- */

int broker_kek_file_ensure(const char *path, int *created, struct err *e)
{
    unsigned char raw[32];
    char *text = NULL;
    size_t len = 0;
    int fd, r;

    *created = 0;
    if (access(path, F_OK) == 0) {
        return 0;
    }
    if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
        return err_set(e, ERR_IO, "kek: no randomness");
    }
    r = jose_b64url_encode(raw, sizeof(raw), &text, &len);
    wipe(raw, sizeof(raw));
    if (r != 0) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        wipe_free_str(text);
        return err_set(e, ERR_IO, "kek: cannot create %s: %s", path, strerror(errno));
    }
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        close(fd);
        unlink(path);
        wipe_free_str(text);
        return err_set(e, ERR_IO, "kek: cannot write %s", path);
    }
    close(fd);
    wipe_free_str(text);
    *created = 1;
    return 0;
}

/* ---- keyring ------------------------------------------------------------------ */

static int keyring_start(struct broker *b, const struct broker_runtime_config *cfg, struct err *e)
{
    struct broker_runtime *rt = b->rt;
    struct jose_keyring_conf kc = {cfg->alg, cfg->key_rotate_s, cfg->key_retain_s,
                                   cfg->key_prepublish_s};
    int r;

    if (cfg->kek_file != NULL && cfg->kek_file[0] != '\0') {
        r = jose_kek_from_file(cfg->kek_file, &rt->kek, e);
    } else {
        r = jose_kek_from_env(cfg->kek_env ? cfg->kek_env : "MANDATE_KEK", &rt->kek, e);
    }
    if (r != 0) {
        return err_prefix(e, "kek: ");
    }
    r = jose_keyring_new(&kc, rt->kek, &rt->keyring, e);
    /* loads the stored keys, makes a first one, builds the verifier */
    return r ? r
             : broker_keys_start(b, cfg->alg,
                                 cfg->keys_tick_s == 0  ? LIMIT_KEYS_TICK_S
                                 : cfg->keys_tick_s < 0 ? 0
                                                        : cfg->keys_tick_s,
                                 e);
}

const char *broker_issuer(const struct broker *b)
{
    return b != NULL && b->rt != NULL ? b->rt->issuer : NULL;
}

int broker_jwks_text(struct broker *b, char **out, struct err *e)
{
    *out = NULL;
    if (b->rt == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    return jose_keyring_jwks(b->rt->keyring, out, e);
}

int broker_token_sign(struct broker *b, const json_t *claims, char **out, struct err *e)
{
    *out = NULL;
    if (b->rt == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    return jose_keyring_sign(b->rt->keyring, claims, BROKER_TOKEN_TYP, out, e);
}

int broker_token_verify(struct broker *b, const char *token, size_t len, json_t **claims,
                        enum jose_reason *why, struct err *e)
{
    struct jose_jwt_opts o;
    struct jose_verifier *v;
    int r;

    *claims = NULL;
    if (b->rt == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "the access runtime is not running");
    }
    memset(&o, 0, sizeof(o));
    o.iss = b->rt->issuer;
    o.aud = BROKER_TOKEN_AUD;
    o.typ = BROKER_TOKEN_TYP;
    o.skew_s = LIMIT_ACCESS_SKEW_S;
    o.max_lifetime_s = LIMIT_INTENT_TTL_MAX_S + LIMIT_ACCESS_SKEW_S;
    /* The verifier is immutable; a key change swaps the pointer with the
     * lock held exclusively (keys.c), so it stays valid while we hold it. */
    pthread_rwlock_rdlock(&b->rt->verifier_lock);
    v = b->rt->token_verifier;
    r = v != NULL ? jose_jwt_verify(v, token, len, &o, NULL, claims, why, e)
                  : err_set(e, ERR_UNAVAILABLE, "no token verifier");
    pthread_rwlock_unlock(&b->rt->verifier_lock);
    return r;
}

/* ---- hooks ---------------------------------------------------------------------- */

static int hook_compile(void *ctx, int64_t version, const char *cedar, const char *schema,
                        struct err *e)
{
    struct cedar_policyset *ps = NULL;
    struct cedar_schema *sc = NULL;
    int r;

    (void)ctx;
    r = access_policy_compile(version, cedar, schema, &ps, &sc, e);
    cedar_policyset_put(ps);
    cedar_schema_free(sc);
    return r;
}

static void hook_activated(void *ctx, int64_t version)
{
    struct broker *b = ctx;
    struct err e;
    char v[24];

    err_clear(&e);
    snprintf(v, sizeof(v), "%lld", (long long)version);
    if (broker_policy_reload(b, &e) != 0) {
        log_event(LOG_ERROR, "policy_activate", NULL, "version", v, "msg",
                  "the activated version did not load; the old snapshot serves", "error", e.msg,
                  (const char *)NULL);
        return;
    }
    log_event(LOG_INFO, "policy_activate", NULL, "version", v, (const char *)NULL);
}

static int hook_jwks(void *ctx, const char *jwks, json_t *algs, struct err *e)
{
    struct jose_jwks *set = NULL;
    int r;

    (void)ctx;
    (void)algs;
    r = jose_jwks_parse(jwks, strlen(jwks), 0, &set, e);
    jose_jwks_free(set);
    return r;
}

static void hook_changed(void *ctx, const char *ev)
{
    struct broker *b = ctx;

    if (b->rt != NULL) {
        atomic_store(&b->rt->registry_dirty, 1);
        broker_tasks_registry_changed(b, ev);
    }
}

/* The verifier's lock prefers writers: under a steady stream of
 * verifications (readers that overlap) a key change, an emergency revocation
 * above all, must still get in; verifications never take it twice. */
static int verifier_lock_init(pthread_rwlock_t *l)
{
    pthread_rwlockattr_t a;
    int r;

    if (pthread_rwlockattr_init(&a) != 0) {
        return -1;
    }
    r = pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    r = r ? r : pthread_rwlock_init(l, &a);
    pthread_rwlockattr_destroy(&a);
    return r;
}

/* ---- start and stop ----------------------------------------------------------- */

int broker_runtime_start(struct broker *b, const struct broker_runtime_config *cfg, struct err *e)
{
    struct broker_runtime *rt;
    int r;

    if (b->rt != NULL) {
        return err_set(e, ERR_CONFLICT, "the access runtime is running already");
    }
    if (cfg->issuer == NULL || cfg->issuer[0] == '\0') {
        return err_set(e, ERR_INVALID, "issuer: required (the iss of task tokens)");
    }
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (pthread_mutex_init(&rt->lock, NULL) != 0) {
        free(rt);
        return err_set(e, ERR_INTERNAL, "pthread_mutex_init failed");
    }
    if (verifier_lock_init(&rt->verifier_lock) != 0) {
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return err_set(e, ERR_INTERNAL, "pthread_rwlock_init failed");
    }
    b->rt = rt;
    rt->issuer = strdup(cfg->issuer);
    rt->policy_errors_allow = cfg->policy_errors_allow;
    rt->audit_retention_days = cfg->audit_retention_days;
    rt->audit_checks_off = cfg->audit_checks_off;
    rt->default_ttl_s = cfg->default_ttl_s > 0 ? cfg->default_ttl_s : LIMIT_ACCESS_DEFAULT_TTL_S;
    rt->max_delegation_depth =
        cfg->max_delegation_depth > 0 ? cfg->max_delegation_depth : LIMIT_DELEG_DEPTH_DEFAULT;
    if (rt->max_delegation_depth > LIMIT_DELEG_DEPTH_MAX) {
        rt->max_delegation_depth = LIMIT_DELEG_DEPTH_MAX;
    }
    atomic_init(&rt->registry_dirty, 0);
    r = rt->issuer ? 0 : err_set(e, ERR_NOMEM, "out of memory");
    r = r ? r : keyring_start(b, cfg, e);
    r = r ? r : jose_replay_new(0, &rt->dpop_replay, e);
    r = r ? r : jose_jwkcache_new(0, &rt->dpop_keys, e);
    r = r ? r : access_trust_build(b->store, &rt->trust, e);
    r = r ? r : broker_policy_reload(b, e);
    if (r == 0) {
        b->hooks.ctx = b;
        b->hooks.policy_compile = hook_compile;
        b->hooks.policy_activated = hook_activated;
        b->hooks.jwks_check = hook_jwks;
        b->hooks.registry_changed = hook_changed;
        r = broker_tasks_start(b, e);
        r = r ? r : broker_killswitch_start(b, e);
    }
    r = r ? r
          : broker_audit_checkpoints_start(b, cfg->audit_checkpoint_records,
                                           cfg->audit_checkpoint_s, e);
    if (r != 0) {
        broker_runtime_stop(b);
    }
    return r;
}

void broker_runtime_stop(struct broker *b)
{
    struct broker_runtime *rt;

    if (b == NULL || b->rt == NULL) {
        return;
    }
    rt = b->rt;
    broker_killswitch_stop(b);
    broker_tasks_stop(b);
    broker_audit_checkpoints_stop(b); /* after the tasks: a last checkpoint */
    broker_keys_stop(b);
    memset(&b->hooks, 0, sizeof(b->hooks));
    broker_policy_release(rt->policy);
    access_trust_put(rt->trust);
    jose_verifier_free(rt->token_verifier);
    jose_replay_free(rt->dpop_replay);
    jose_jwkcache_free(rt->dpop_keys);
    jose_keyring_free(rt->keyring);
    jose_kek_free(rt->kek);
    free(rt->issuer);
    pthread_rwlock_destroy(&rt->verifier_lock);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
    b->rt = NULL;
}
