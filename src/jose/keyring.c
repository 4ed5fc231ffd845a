/*
 * keyring.c: Mandate's own token signing keys.
 *
 * A keyring holds the current key and the previous ones.  New keys are
 * generated here (ES256 by default) and leave only as encrypted envelopes:
 * the private JWK sealed with AES-256-GCM under a key-encryption key (KEK),
 * with the kid, alg and creation time bound as additional authenticated data,
 * so an envelope cannot be edited, relabelled or decrypted with another KEK.
 * The caller (the broker) stores envelopes; this file knows nothing of the
 * store.
 *
 * Rotation needs no mutable state: keys are ordered by their time (the
 * "created" of the envelope: when the key starts signing, which may lie
 * ahead), the newest whose time has come is current, newer ones are pending:
 * published in the JWKS for prepublish_s before they sign, so verifiers that
 * cache the JWKS know the kid before the first token carries it.  A key counts
 * as replaced when the next newer key became current; it stays published for
 * retain_s after that (the longest token lifetime, and the time audit
 * checkpoints it signed are verified), then is dropped from the JWKS.  A
 * revoked key is dropped at once.
 *
 * Secrets: decrypted JWK text and JSON members are wiped as soon as the key
 * is parsed; the private key then lives only inside OpenSSL's EVP_PKEY, which
 * clears it on free.  jose_keyring_sign is the one narrow signer: claims in,
 * compact JWS out, never a key.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "jose/jose_int.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/wipe.h"

#define KEK_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define ENVELOPE_VERSION 1
#define AAD_LABEL "mandate-keyring-v1"

struct jose_kek {
    uint8_t k[KEK_LEN];
};

struct rkey {
    struct jose_jwk *jwk; /* private */
    char *kid;
    enum jose_alg alg;
    int64_t created_s;
};

struct jose_keyring {
    pthread_mutex_t mu;
    const struct jose_kek *kek;
    enum jose_alg alg;
    int64_t rotate_after_s, retain_s, prepublish_s;
    struct rkey keys[LIMIT_JOSE_KEYRING_KEYS]; /* oldest first */
    size_t n;
};

/* ---- KEK ---------------------------------------------------------------- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int jose_kek_from_text(const char *s, size_t n, struct jose_kek **out, struct err *e)
{
    uint8_t *raw = NULL;
    size_t rawlen = 0;
    struct jose_kek *k;
    int r;

    *out = NULL;
    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1])) {
        n--;
    }
    r = jose_b64url_decode(s, n, &raw, &rawlen, NULL);
    if (r != 0 || rawlen != KEK_LEN) {
        if (raw != NULL) {
            wipe(raw, rawlen);
        }
        free(raw);
        return err_set(e, ERR_INVALID, "KEK must be 32 bytes in base64url (43 characters)");
    }
    k = malloc(sizeof *k);
    if (k != NULL) {
        memcpy(k->k, raw, KEK_LEN);
    }
    wipe(raw, rawlen);
    free(raw);
    if (k == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = k;
    return 0;
}

int jose_kek_from_file(const char *path, struct jose_kek **out, struct err *e)
{
    char text[256];
    size_t n;
    FILE *f = fopen(path, "rb");
    int r;

    *out = NULL;
    if (f == NULL) {
        return err_set(e, ERR_IO, "%s: cannot open KEK file", path);
    }
    n = fread(text, 1, sizeof text, f);
    fclose(f);
    if (n == sizeof text) {
        wipe(text, sizeof text);
        return err_set(e, ERR_INVALID, "%s: KEK file too large", path);
    }
    r = jose_kek_from_text(text, n, out, e);
    wipe(text, sizeof text);
    if (r != 0) {
        err_prefix(e, "%s: ", path);
    }
    return r;
}

int jose_kek_from_env(const char *var, struct jose_kek **out, struct err *e)
{
    const char *v = getenv(var);
    int r;

    *out = NULL;
    if (v == NULL) {
        return err_set(e, ERR_NOTFOUND, "environment variable %s is not set", var);
    }
    r = jose_kek_from_text(v, strlen(v), out, e);
    if (r != 0) {
        err_prefix(e, "%s: ", var);
    }
    return r;
}

void jose_kek_free(struct jose_kek *k)
{
    if (k != NULL) {
        OPENSSL_cleanse(k->k, sizeof k->k);
        free(k);
    }
}

/* ---- AES-256-GCM -------------------------------------------------------- */

/* AAD: label, kid, alg, created, each NUL-terminated (kid holds no NUL). */
static int make_aad(const char *kid, const char *alg, int64_t created, struct buf *aad)
{
    char num[24];
    int r;

    snprintf(num, sizeof num, "%lld", (long long)created);
    r = buf_append(aad, AAD_LABEL, sizeof AAD_LABEL);
    if (r == 0) {
        r = buf_append(aad, kid, strlen(kid) + 1);
    }
    if (r == 0) {
        r = buf_append(aad, alg, strlen(alg) + 1);
    }
    if (r == 0) {
        r = buf_append(aad, num, strlen(num) + 1);
    }
    return r;
}

/* enc = 1: in -> out + tag; enc = 0: in + tag -> out.  out holds inlen bytes. */
static int gcm(int enc, const struct jose_kek *kek, const uint8_t nonce[NONCE_LEN],
               const struct buf *aad, const uint8_t *in, size_t inlen, uint8_t *out,
               uint8_t tag[TAG_LEN])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok, n = 0, fin = 0;

    if (c == NULL || inlen > (size_t)LIMIT_JOSE_ENVELOPE_MAX) {
        EVP_CIPHER_CTX_free(c);
        return ERR_NOMEM;
    }
    ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
         EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
         EVP_CipherInit_ex(c, NULL, NULL, kek->k, nonce, enc) == 1 &&
         EVP_CipherUpdate(c, NULL, &n, (const uint8_t *)aad->data, (int)aad->len) == 1 &&
         EVP_CipherUpdate(c, out, &n, in, (int)inlen) == 1;
    if (ok && !enc) {
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) == 1;
    }
    ok = ok && EVP_CipherFinal_ex(c, out + n, &fin) == 1;
    if (ok && enc) {
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) == 1;
    }
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : ERR_AUTH;
}

/* Overwrites every string member of a JWK object (private parts included). */
static void wipe_json_strings(json_t *obj)
{
    const char *name;
    json_t *v;

    json_object_foreach(obj, name, v)
    {
        if (json_is_string(v)) {
            wipe((char *)json_string_value(v), json_string_length(v));
        }
    }
}

/* ---- envelopes ---------------------------------------------------------- */

static json_t *b64_member(const uint8_t *p, size_t n)
{
    char *s = NULL;
    size_t sl = 0;
    json_t *j;

    if (jose_b64url_encode(p, n, &s, &sl) != 0) {
        return NULL;
    }
    j = json_stringn(s, sl);
    free(s);
    return j;
}

static int seal(const struct jose_kek *kek, const struct rkey *k, char **out, struct err *e)
{
    json_t *jwk = NULL, *env = NULL;
    char *plain = NULL;
    uint8_t nonce[NONCE_LEN], tag[TAG_LEN], *ct = NULL;
    size_t plen = 0;
    struct buf aad;
    int r;

    *out = NULL;
    buf_init(&aad, 4096);
    r = jose_jwk_to_json(k->jwk, 1, &jwk, e);
    if (r != 0) {
        goto out;
    }
    plain = json_dumps(jwk, JSON_COMPACT);
    wipe_json_strings(jwk);
    if (plain == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    plen = strlen(plain);
    ct = malloc(plen + 1);
    if (ct == NULL || RAND_bytes(nonce, NONCE_LEN) != 1 ||
        make_aad(k->kid, jose_alg_name(k->alg), k->created_s, &aad) != 0) {
        r = err_set(e, ERR_NOMEM, "cannot prepare key envelope");
        goto out;
    }
    r = gcm(1, kek, nonce, &aad, (const uint8_t *)plain, plen, ct, tag);
    if (r != 0) {
        r = err_set(e, ERR_INTERNAL, "AES-256-GCM encryption failed");
        goto out;
    }
    env = json_pack("{si s:s s:s s:I s:s s:o s:o s:o}", "v", ENVELOPE_VERSION, "kid", k->kid, "alg",
                    jose_alg_name(k->alg), "created", (json_int_t)k->created_s, "enc", "A256GCM",
                    "nonce", b64_member(nonce, NONCE_LEN), "ciphertext", b64_member(ct, plen),
                    "tag", b64_member(tag, TAG_LEN));
    *out = env != NULL ? json_dumps(env, JSON_COMPACT) : NULL;
    r = *out != NULL ? 0 : err_set(e, ERR_NOMEM, "out of memory");
out:
    json_decref(env);
    json_decref(jwk);
    if (plain != NULL) {
        wipe_free_str(plain);
    }
    free(ct);
    buf_free(&aad);
    return r;
}

/* A base64url member decoded; want_len 0: any length up to the envelope cap. */
static int get_b64(const json_t *env, const char *name, size_t want_len, uint8_t **out, size_t *n,
                   struct err *e)
{
    const json_t *v = json_object_get(env, name);

    *out = NULL;
    if (!json_is_string(v) ||
        jose_b64url_decode(json_string_value(v), json_string_length(v), out, n, NULL) != 0) {
        return err_set(e, ERR_INVALID, "key envelope: %s is not base64url", name);
    }
    if (want_len != 0 && *n != want_len) {
        free(*out);
        *out = NULL;
        return err_set(e, ERR_INVALID, "key envelope: %s must be %zu bytes", name, want_len);
    }
    return 0;
}

struct envelope {
    const char *kid;
    const char *alg;
    int64_t created;
    uint8_t *nonce, *ct, *tag;
    size_t nonce_len, ct_len, tag_len;
};

static int parse_envelope(const json_t *env, struct envelope *ev, struct err *e)
{
    const json_t *kid = json_object_get(env, "kid"), *created = json_object_get(env, "created");
    const char *enc = json_string_value(json_object_get(env, "enc"));
    int r;

    if (json_integer_value(json_object_get(env, "v")) != ENVELOPE_VERSION ||
        !json_is_integer(json_object_get(env, "v"))) {
        return err_set(e, ERR_INVALID, "key envelope: unsupported version");
    }
    if (enc == NULL || strcmp(enc, "A256GCM") != 0) {
        return err_set(e, ERR_INVALID, "key envelope: enc must be A256GCM");
    }
    if (!json_is_string(kid) || json_string_length(kid) == 0 ||
        json_string_length(kid) != strlen(json_string_value(kid)) ||
        json_string_length(kid) > LIMIT_ID_LEN) {
        return err_set(e, ERR_INVALID, "key envelope: bad kid");
    }
    if (!json_is_integer(created) || json_integer_value(created) < 0) {
        return err_set(e, ERR_INVALID, "key envelope: bad created");
    }
    ev->kid = json_string_value(kid);
    ev->alg = json_string_value(json_object_get(env, "alg"));
    ev->created = json_integer_value(created);
    if (ev->alg == NULL || jose_alg_from_name(ev->alg) == JOSE_ALG_UNKNOWN) {
        return err_set(e, ERR_INVALID, "key envelope: unsupported alg");
    }
    r = get_b64(env, "nonce", NONCE_LEN, &ev->nonce, &ev->nonce_len, e);
    if (r == 0) {
        r = get_b64(env, "tag", TAG_LEN, &ev->tag, &ev->tag_len, e);
    }
    if (r == 0) {
        r = get_b64(env, "ciphertext", 0, &ev->ct, &ev->ct_len, e);
    }
    if (r == 0 && ev->ct_len == 0) {
        r = err_set(e, ERR_INVALID, "key envelope: empty ciphertext");
    }
    return r;
}

/* Decrypts and parses; the key's kid and alg must equal the envelope's. */
static int open_envelope(const struct jose_kek *kek, const struct envelope *ev,
                         struct jose_jwk **out, struct err *e)
{
    struct buf aad;
    uint8_t *plain = malloc(ev->ct_len + 1);
    json_t *jwk = NULL;
    const char *kid;
    int r;

    *out = NULL;
    buf_init(&aad, 4096);
    if (plain == NULL || make_aad(ev->kid, ev->alg, ev->created, &aad) != 0) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = gcm(0, kek, ev->nonce, &aad, ev->ct, ev->ct_len, plain, ev->tag);
    if (r != 0) {
        r = err_set(e, ERR_AUTH,
                    "key envelope %s: authentication failed (wrong KEK or "
                    "tampered envelope)",
                    ev->kid);
        goto out;
    }
    if (jose_json_load_object((const char *)plain, ev->ct_len, &jwk, NULL) != 0) {
        r = err_set(e, ERR_INVALID, "key envelope %s: plaintext is not a JWK", ev->kid);
        goto out;
    }
    kid = json_string_value(json_object_get(jwk, "kid"));
    if (kid == NULL || strcmp(kid, ev->kid) != 0) {
        r = err_set(e, ERR_INVALID, "key envelope %s: kid does not match the key", ev->kid);
        goto out;
    }
    r = jose_jwk_from_json(jwk, out, e);
    if (r == 0 && (!jose_jwk_is_private(*out) ||
                   (jose_jwk_alg_mask(*out) & JOSE_ALG_BIT(jose_alg_from_name(ev->alg))) == 0)) {
        jose_jwk_free(*out);
        *out = NULL;
        r = err_set(e, ERR_INVALID, "key envelope %s: not a private %s key", ev->kid, ev->alg);
    }
out:
    if (jwk != NULL) {
        wipe_json_strings(jwk);
        json_decref(jwk);
    }
    if (plain != NULL) {
        OPENSSL_cleanse(plain, ev->ct_len + 1);
        free(plain);
    }
    buf_free(&aad);
    return r;
}

/* ---- keyring ------------------------------------------------------------ */

int jose_keyring_new(const struct jose_keyring_conf *conf, const struct jose_kek *kek,
                     struct jose_keyring **out, struct err *e)
{
    struct jose_keyring *kr;

    *out = NULL;
    if (kek == NULL) {
        return err_set(e, ERR_INVALID, "keyring: a KEK is required");
    }
    kr = calloc(1, sizeof *kr);
    if (kr == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (pthread_mutex_init(&kr->mu, NULL) != 0) {
        free(kr);
        return err_set(e, ERR_INTERNAL, "pthread_mutex_init failed");
    }
    kr->kek = kek;
    kr->alg = conf != NULL && conf->alg != JOSE_ALG_UNKNOWN ? conf->alg : JOSE_ALG_ES256;
    kr->rotate_after_s =
        conf != NULL && conf->rotate_after_s > 0 ? conf->rotate_after_s : LIMIT_JOSE_KEY_ROTATE_S;
    kr->retain_s = conf != NULL && conf->retain_s > 0 ? conf->retain_s : LIMIT_JOSE_KEY_RETAIN_S;
    kr->prepublish_s = conf != NULL ? conf->prepublish_s : 0;
    if (jose_alg_name(kr->alg) == NULL) {
        jose_keyring_free(kr);
        return err_set(e, ERR_INVALID, "keyring: unsupported algorithm");
    }
    if (kr->prepublish_s < 0 || kr->prepublish_s >= kr->rotate_after_s ||
        kr->rotate_after_s > LIMIT_JOSE_KEY_TIME_MAX_S ||
        kr->retain_s > LIMIT_JOSE_KEY_TIME_MAX_S) {
        jose_keyring_free(kr);
        return err_set(e, ERR_INVALID,
                       "keyring: pre-publication must be shorter than the rotation age, times "
                       "at most %d s",
                       LIMIT_JOSE_KEY_TIME_MAX_S);
    }
    *out = kr;
    return 0;
}

static void rkey_clear(struct rkey *k)
{
    jose_jwk_free(k->jwk);
    free(k->kid);
    memset(k, 0, sizeof *k);
}

void jose_keyring_free(struct jose_keyring *kr)
{
    size_t i;

    if (kr == NULL) {
        return;
    }
    for (i = 0; i < kr->n; i++) {
        rkey_clear(&kr->keys[i]);
    }
    pthread_mutex_destroy(&kr->mu);
    free(kr);
}

/* Drops the oldest key when full (under the lock), then inserts k in
 * creation order (ties: after the existing ones). */
static int insert_key(struct jose_keyring *kr, struct rkey *k, struct err *e)
{
    size_t i, pos;

    for (i = 0; i < kr->n; i++) {
        if (strcmp(kr->keys[i].kid, k->kid) == 0) {
            return err_set(e, ERR_CONFLICT, "keyring: kid %s is loaded already", k->kid);
        }
    }
    if (kr->n == LIMIT_JOSE_KEYRING_KEYS) {
        rkey_clear(&kr->keys[0]);
        memmove(&kr->keys[0], &kr->keys[1], (kr->n - 1) * sizeof kr->keys[0]);
        kr->n--;
    }
    pos = kr->n;
    while (pos > 0 && kr->keys[pos - 1].created_s > k->created_s) {
        pos--;
    }
    memmove(&kr->keys[pos + 1], &kr->keys[pos], (kr->n - pos) * sizeof kr->keys[0]);
    kr->keys[pos] = *k;
    kr->n++;
    memset(k, 0, sizeof *k);
    return 0;
}

int jose_keyring_load(struct jose_keyring *kr, const char *envelope, size_t len, struct err *e)
{
    struct envelope ev = {0};
    struct rkey k = {0};
    json_t *env = NULL;
    int r;

    if (len > LIMIT_JOSE_ENVELOPE_MAX) {
        return err_set(e, ERR_LIMIT, "key envelope over %d bytes", LIMIT_JOSE_ENVELOPE_MAX);
    }
    if (jose_json_load_object(envelope, len, &env, e) != 0) {
        r = ERR_INVALID;
        if (e != NULL) {
            e->code = r;
        }
        err_prefix(e, "key envelope: ");
        goto out;
    }
    r = parse_envelope(env, &ev, e);
    if (r == 0) {
        r = open_envelope(kr->kek, &ev, &k.jwk, e);
    }
    if (r != 0) {
        goto out;
    }
    k.kid = strdup(ev.kid);
    k.alg = jose_alg_from_name(ev.alg);
    k.created_s = ev.created;
    if (k.kid == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&kr->mu);
    r = insert_key(kr, &k, e);
    pthread_mutex_unlock(&kr->mu);
out:
    rkey_clear(&k);
    free(ev.nonce);
    free(ev.ct);
    free(ev.tag);
    json_decref(env);
    return r;
}

int jose_keyring_rotate_at(struct jose_keyring *kr, int64_t at_s, char **envelope_out,
                           struct err *e)
{
    struct rkey k = {0};
    char kid[JOSE_JKT_LEN + 1];
    int r;

    *envelope_out = NULL;
    if (at_s < 0 || at_s > clock_wall_s() + LIMIT_JOSE_KEY_TIME_MAX_S) {
        return err_set(e, ERR_INVALID, "keyring: activation time out of range");
    }
    k.alg = kr->alg;
    k.created_s = at_s;
    r = jose_jwk_generate(kr->alg, NULL, &k.jwk, e);
    if (r == 0) {
        r = jose_jwk_thumbprint(k.jwk, kid, e);
    }
    if (r != 0) {
        goto out;
    }
    k.kid = strdup(jose_jwk_kid(k.jwk) != NULL ? jose_jwk_kid(k.jwk) : kid);
    if (k.kid == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = seal(kr->kek, &k, envelope_out, e);
    if (r != 0) {
        goto out;
    }
    pthread_mutex_lock(&kr->mu);
    r = insert_key(kr, &k, e);
    pthread_mutex_unlock(&kr->mu);
    if (r != 0) {
        free(*envelope_out);
        *envelope_out = NULL;
    }
out:
    rkey_clear(&k);
    return r;
}

int jose_keyring_rotate(struct jose_keyring *kr, char **envelope_out, struct err *e)
{
    return jose_keyring_rotate_at(kr, clock_wall_s(), envelope_out, e);
}

/* The index of the key that signs at now (under the lock): the newest whose
 * time has come; pending keys wait.  When every key lies ahead (the clock
 * went back), the oldest: it is published all the same.  SIZE_MAX: none. */
static size_t current_at(const struct jose_keyring *kr, int64_t now)
{
    size_t i = kr->n;

    while (i > 0 && kr->keys[i - 1].created_s > now) {
        i--;
    }
    return i > 0 ? i - 1 : kr->n > 0 ? 0 : SIZE_MAX;
}

/* Drops keys replaced more than retain_s ago (under the lock). */
static void prune(struct jose_keyring *kr, int64_t now)
{
    while (kr->n > 1 && kr->keys[1].created_s + kr->retain_s <= now) {
        rkey_clear(&kr->keys[0]);
        memmove(&kr->keys[0], &kr->keys[1], (kr->n - 1) * sizeof kr->keys[0]);
        kr->n--;
    }
}

int jose_keyring_due(struct jose_keyring *kr, int64_t *at_s)
{
    int64_t now = clock_wall_s(), at = now;
    size_t cur;
    int due;

    pthread_mutex_lock(&kr->mu);
    prune(kr, now);
    cur = current_at(kr, now);
    /* Due when there is no key, or when the current one (with nothing
     * pending after it) reaches its age less the pre-publication window: the
     * successor then signs from the current key's rotation age on, or after
     * a full window when we are late (a restart after a long stop). */
    due = kr->n == 0 || (cur == kr->n - 1 &&
                         kr->keys[cur].created_s + kr->rotate_after_s - kr->prepublish_s <= now);
    if (kr->n > 0 && due) {
        at = kr->keys[cur].created_s + kr->rotate_after_s;
        at = at > now + kr->prepublish_s ? at : now + kr->prepublish_s;
    }
    pthread_mutex_unlock(&kr->mu);
    *at_s = at;
    return due;
}

int jose_keyring_maintain(struct jose_keyring *kr, char **envelope_out, struct err *e)
{
    int64_t at = 0;
    int r;

    *envelope_out = NULL;
    if (!jose_keyring_due(kr, &at)) {
        return 0;
    }
    r = jose_keyring_rotate_at(kr, at, envelope_out, e);
    return r != 0 ? r : 1;
}

int jose_keyring_jwks(struct jose_keyring *kr, char **json_out, struct err *e)
{
    json_t *keys = json_array(), *set = NULL, *pub = NULL;
    size_t i;
    int r = 0;

    *json_out = NULL;
    if (keys == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&kr->mu);
    prune(kr, clock_wall_s());
    for (i = kr->n; i-- > 0 && r == 0;) {
        r = jose_jwk_to_json(kr->keys[i].jwk, 0, &pub, e);
        if (r == 0) {
            json_object_set_new(pub, "use", json_string("sig"));
            json_object_set_new(pub, "alg", json_string(jose_alg_name(kr->keys[i].alg)));
            r = json_array_append_new(keys, pub) == 0 ? 0 : err_set(e, ERR_NOMEM, "no memory");
        }
    }
    pthread_mutex_unlock(&kr->mu);
    if (r == 0) {
        set = json_pack("{so}", "keys", keys);
        keys = NULL;
        *json_out = set != NULL ? json_dumps(set, JSON_COMPACT) : NULL;
        r = *json_out != NULL ? 0 : err_set(e, ERR_NOMEM, "out of memory");
    }
    json_decref(keys);
    json_decref(set);
    return r;
}

int jose_keyring_kids(struct jose_keyring *kr, char ***kids_out, size_t *n, struct err *e)
{
    char **v;
    size_t i, j;
    int bad = 0;

    *kids_out = NULL;
    *n = 0;
    pthread_mutex_lock(&kr->mu);
    prune(kr, clock_wall_s());
    v = calloc(kr->n + 1, sizeof *v);
    for (i = kr->n, j = 0; v != NULL && i-- > 0; j++) {
        v[j] = strdup(kr->keys[i].kid);
        bad |= v[j] == NULL;
    }
    *n = kr->n;
    pthread_mutex_unlock(&kr->mu);
    if (v == NULL || bad) {
        for (i = 0; v != NULL && i < *n; i++) {
            free(v[i]);
        }
        free(v);
        *n = 0;
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *kids_out = v;
    return 0;
}

int jose_keyring_sign(struct jose_keyring *kr, const json_t *claims, const char *typ,
                      char **jws_out, struct err *e)
{
    struct jose_jwk *key = NULL;
    enum jose_alg alg = JOSE_ALG_UNKNOWN;
    size_t cur;
    int r;

    *jws_out = NULL;
    pthread_mutex_lock(&kr->mu);
    cur = current_at(kr, clock_wall_s());
    if (cur != SIZE_MAX) {
        key = jose_jwk_ref(kr->keys[cur].jwk);
        alg = kr->keys[cur].alg;
    }
    pthread_mutex_unlock(&kr->mu);
    if (key == NULL) {
        return err_set(e, ERR_UNAVAILABLE, "keyring: no signing key");
    }
    r = jose_jwt_sign(key, alg, typ, claims, jws_out, e);
    jose_jwk_free(key);
    return r;
}

int jose_keyring_revoke(struct jose_keyring *kr, const char *kid, int *was_current, struct err *e)
{
    size_t i;

    *was_current = 0;
    pthread_mutex_lock(&kr->mu);
    for (i = 0; i < kr->n && strcmp(kr->keys[i].kid, kid) != 0; i++) {
    }
    if (i == kr->n) {
        pthread_mutex_unlock(&kr->mu);
        return err_set(e, ERR_NOTFOUND, "keyring: no key \"%s\"", kid);
    }
    *was_current = i == current_at(kr, clock_wall_s());
    rkey_clear(&kr->keys[i]);
    memmove(&kr->keys[i], &kr->keys[i + 1], (kr->n - i - 1) * sizeof kr->keys[0]);
    kr->n--;
    pthread_mutex_unlock(&kr->mu);
    return 0;
}

/* One key's entry for jose_keyring_describe (under the lock). */
static json_t *describe_one(const struct jose_keyring *kr, size_t i, size_t cur)
{
    const char *state = i == cur ? "current" : i > cur ? "pending" : "previous";
    json_t *o = json_pack("{s:s s:s s:I s:s}", "kid", kr->keys[i].kid, "alg",
                          jose_alg_name(kr->keys[i].alg), "activates",
                          (json_int_t)kr->keys[i].created_s, "state", state);

    if (o != NULL && i < cur) {
        json_object_set_new(o, "retires",
                            json_integer((json_int_t)(kr->keys[i + 1].created_s + kr->retain_s)));
    }
    return o;
}

int jose_keyring_describe(struct jose_keyring *kr, json_t **out, struct err *e)
{
    json_t *a = json_array(), *o;
    size_t i, cur;
    int bad = a == NULL;

    *out = NULL;
    pthread_mutex_lock(&kr->mu);
    prune(kr, clock_wall_s());
    cur = current_at(kr, clock_wall_s());
    for (i = kr->n; !bad && i-- > 0;) {
        o = describe_one(kr, i, cur);
        bad = o == NULL || json_array_append_new(a, o) != 0;
    }
    pthread_mutex_unlock(&kr->mu);
    if (bad) {
        json_decref(a);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = a;
    return 0;
}
