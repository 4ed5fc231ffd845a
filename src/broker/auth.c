/*
 * auth.c: API keys for the broker's own API.
 *
 * A key is "mdk_<id>_<secret>" with a 6-byte id and a 32-byte secret, both
 * hex.  The store keeps the id and SHA-256(secret); comparison is constant
 * time (CRYPTO_memcmp).  Keys are for humans and services (admin, security,
 * owner, auditor, enforcement points); agents never get one.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/wipe.h"

#define KEY_ID_BYTES 6
#define KEY_SECRET_BYTES 32
#define KEY_ID_HEX (KEY_ID_BYTES * 2)
#define KEY_SECRET_HEX (KEY_SECRET_BYTES * 2)
#define KEY_LEN (sizeof(BROKER_APIKEY_PREFIX) - 1 + KEY_ID_HEX + 1 + KEY_SECRET_HEX)

static const struct {
    const char *name;
    enum broker_role role;
} roles[] = {
    {"admin", ROLE_ADMIN},     {"security", ROLE_SECURITY}, {"owner", ROLE_OWNER},
    {"auditor", ROLE_AUDITOR}, {"pep", ROLE_PEP},
};

enum broker_role broker_role_parse(const char *s)
{
    size_t i;

    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcmp(s, roles[i].name) == 0) {
            return roles[i].role;
        }
    }
    return ROLE_NONE;
}

const char *broker_role_name(enum broker_role r)
{
    size_t i;

    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (roles[i].role == r) {
            return roles[i].name;
        }
    }
    return "none";
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static int sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 0;

    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32 ? 0 : ERR_INTERNAL;
}

/* The key checked against the store (its id, then its secret's hash in
 * constant time), live, and the human it acts for still active. */
static int auth_store(struct broker *b, const char *key, struct arena *a, struct broker_caller *out,
                      struct err *e)
{
    const size_t pl = sizeof(BROKER_APIKEY_PREFIX) - 1;
    char id[KEY_ID_HEX + 1];
    unsigned char h[32];
    struct store_apikey k;
    int r;

    memcpy(id, key + pl, KEY_ID_HEX);
    id[KEY_ID_HEX] = '\0';
    r = b->store->ops->apikey_get(b->store, id, a, &k, e);
    if (r == ERR_NOTFOUND) {
        return err_set(e, ERR_AUTH, "unknown API key id %s", id);
    }
    if (r != 0) {
        return r;
    }
    if (sha256(key + pl + KEY_ID_HEX + 1, KEY_SECRET_HEX, h) != 0) {
        return err_set(e, ERR_INTERNAL, "hashing failed");
    }
    r = CRYPTO_memcmp(h, k.hash, sizeof(h));
    wipe(h, sizeof(h));
    if (r != 0) {
        return err_set(e, ERR_AUTH, "wrong secret for API key %s", id);
    }
    if (k.revoked_ms != 0) {
        return err_set(e, ERR_AUTH, "API key %s is revoked", id);
    }
    out->role = broker_role_parse(k.role);
    if (out->role == ROLE_NONE) {
        return err_set(e, ERR_AUTH, "API key %s has an unknown role", id);
    }
    if (k.subject != NULL) {
        /* A key acting for a human dies with the human's offboarding. */
        struct store_human who;
        r = b->store->ops->human_get(b->store, k.subject, a, &who, e);
        if (r == ERR_NOTFOUND || (r == 0 && strcmp(who.status, "active") != 0)) {
            return err_set(e, ERR_AUTH, "API key %s acts for %s human %s", id,
                           r ? "a missing" : who.status, k.subject);
        }
        if (r != 0) {
            return r;
        }
    }
    out->key_id = k.id;
    out->subject = k.subject;
    return 0;
}

int broker_auth_apikey(struct broker *b, const char *key, size_t len, struct arena *a,
                       struct broker_caller *out, struct err *e)
{
    const size_t pl = sizeof(BROKER_APIKEY_PREFIX) - 1;
    unsigned char hk[KEYCACHE_HASH_LEN];
    uint64_t gen = 0;
    int64_t now = clock_wall_ms();
    int r;

    memset(out, 0, sizeof(*out));
    if (len != KEY_LEN || memcmp(key, BROKER_APIKEY_PREFIX, pl) != 0 ||
        key[pl + KEY_ID_HEX] != '_' || !is_hex(key + pl, KEY_ID_HEX) ||
        !is_hex(key + pl + KEY_ID_HEX + 1, KEY_SECRET_HEX)) {
        return err_set(e, ERR_AUTH, "malformed API key");
    }
    /* The cache: SHA-256 of the whole key, compared in constant time. */
    if (b->keycache != NULL) {
        if (sha256(key, len, hk) != 0) {
            return err_set(e, ERR_INTERNAL, "hashing failed");
        }
        if (keycache_get(b, hk, now, a, out, &gen)) {
            wipe(hk, sizeof(hk));
            return 0;
        }
    }
    r = auth_store(b, key, a, out, e);
    if (r == 0 && b->keycache != NULL) {
        keycache_put(b, hk, gen, now, out);
    }
    wipe(hk, sizeof(hk));
    return r;
}
static int apikey_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return s->ops->apikey_insert(s, ch->ctx, e);
}

int broker_apikey_create(struct broker *b, const struct broker_caller *c, const char *name,
                         enum broker_role role, const char *subject, struct arena *a,
                         char **key_out, const char **id_out, struct err *e)
{
    struct broker_change ch;
    unsigned char rnd[KEY_ID_BYTES + KEY_SECRET_BYTES];
    char idhex[KEY_ID_HEX + 1], sechex[KEY_SECRET_HEX + 1];
    struct store_apikey k;
    char *key = NULL;
    int r = ERR_INTERNAL;

    *key_out = NULL;
    *id_out = NULL;
    if (role == ROLE_NONE) {
        return err_set(e, ERR_INVALID, "role: unknown role");
    }
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return err_set(e, ERR_INTERNAL, "no randomness");
    }
    hex(rnd, KEY_ID_BYTES, idhex);
    hex(rnd + KEY_ID_BYTES, KEY_SECRET_BYTES, sechex);
    memset(&k, 0, sizeof(k));
    k.id = arena_strdup(a, idhex);
    k.name = name;
    k.role = broker_role_name(role);
    k.subject = subject;
    k.created_ms = clock_wall_ms();
    key = malloc(KEY_LEN + 1);
    if (k.id == NULL || key == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (sha256(sechex, KEY_SECRET_HEX, k.hash) != 0) {
        r = err_set(e, ERR_INTERNAL, "hashing failed");
        goto out;
    }
    /* Audited like any registry change; the record names the key, never
     * its secret. */
    memset(&ch, 0, sizeof(ch));
    ch.c = c;
    ch.a = a;
    ch.ctx = &k;
    ch.apply = apikey_apply;
    ch.ev.event = "apikey.create";
    ch.ev.human = subject;
    ch.ev.resource = arena_printf(a, "apikey:%s", k.id);
    ch.ev.detail = json_pack("{s:s, s:s}", "name", name, "role", k.role);
    r = ch.ev.detail ? broker_change_run(b, &ch, e) : err_set(e, ERR_NOMEM, "out of memory");
    json_decref(ch.ev.detail);
    if (r != 0) {
        goto out;
    }
    memcpy(key, BROKER_APIKEY_PREFIX, sizeof(BROKER_APIKEY_PREFIX) - 1);
    memcpy(key + sizeof(BROKER_APIKEY_PREFIX) - 1, idhex, KEY_ID_HEX);
    key[sizeof(BROKER_APIKEY_PREFIX) - 1 + KEY_ID_HEX] = '_';
    memcpy(key + sizeof(BROKER_APIKEY_PREFIX) + KEY_ID_HEX, sechex, KEY_SECRET_HEX + 1);
    *key_out = key;
    *id_out = k.id;
    key = NULL;
    r = 0;
out:
    wipe(rnd, sizeof(rnd));
    wipe(sechex, sizeof(sechex));
    free(key);
    return r;
}

static int apikey_revoke_apply(struct store *s, struct broker_change *ch, struct err *e)
{
    return s->ops->apikey_revoke(s, ch->ctx, clock_wall_ms(), e);
}

int broker_apikey_revoke(struct broker *b, const struct broker_caller *c, const char *id,
                         struct err *e)
{
    struct broker_change ch;
    struct arena a;
    int r;

    if (c != NULL && (c->role & (ROLE_ADMIN | ROLE_SECURITY)) == 0) {
        return err_set(e, ERR_FORBIDDEN, "only admin and security revoke API keys");
    }
    if (strlen(id) != KEY_ID_HEX || !is_hex(id, KEY_ID_HEX)) {
        return err_set(e, ERR_NOTFOUND, "no live API key \"%.64s\"", id);
    }
    arena_init(&a, 0, 0);
    memset(&ch, 0, sizeof(ch));
    ch.c = c;
    ch.a = &a;
    ch.ctx = (void *)id;
    ch.apply = apikey_revoke_apply;
    ch.ev.event = "apikey.revoke";
    ch.ev.resource = arena_printf(&a, "apikey:%s", id);
    /* broker_change_run empties the API key cache after the commit. */
    r = ch.ev.resource ? broker_change_run(b, &ch, e) : err_set(e, ERR_NOMEM, "out of memory");
    arena_free(&a);
    return r;
}
