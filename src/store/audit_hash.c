/*
 * audit_hash.c: the canonical encoding of an audit record and its chain hash
 * (docs/audit.md).  The writer (sqlite.c audit_append) and every verifier
 * (broker/auditlog.c, `mandate audit verify`) use these functions.
 *
 * Encoding, version 1: the bytes "mandate.audit.v1\n", then each member in
 * this fixed order, each as one item:
 *   seq, time_ms, event, request_id, caller, actor_chain, agent, human,
 *   intent, task, tool, action, resource, data_labels, downstream, decision,
 *   reasons, policy_version, detail, prev_hash
 * where an integer is "I" <decimal> "\n", a text is "S" <byte length> ":"
 * <bytes> "\n" and a missing (NULL) member is "N\n".  The hash is the lower
 * case hex SHA-256 of these bytes.  Length prefixes make the encoding
 * unambiguous; prev_hash inside it chains each record to the one before
 * (the first record's prev_hash is 64 zeros).
 *
 * A verifier hashes a million records a second, so the encoder measures
 * first and then writes with plain copies (no format parser, no growth in
 * the middle), and a hasher keeps its SHA-256 implementation and context
 * (OpenSSL 3's one-shot SHA256() looks the algorithm up on every call).
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/limits.h"

const char store_audit_genesis[STORE_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

#define NTEXT 17 /* text members, in encoding order (prev_hash last) */
#define MAGIC "mandate.audit.v1\n"

/* Decimal digits of u, written backwards ending at end; returns the start. */
static char *digits(char *end, uint64_t u)
{
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    return end;
}

static size_t put_int(char *dst, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);

    *--p = '\n';
    p = digits(p, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
    if (v < 0) {
        *--p = '-';
    }
    *--p = 'I';
    memcpy(dst, p, (size_t)(tmp + sizeof(tmp) - p));
    return (size_t)(tmp + sizeof(tmp) - p);
}

static size_t put_str(char *dst, const char *s, size_t len)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    size_t n;

    if (s == NULL) {
        memcpy(dst, "N\n", 2);
        return 2;
    }
    *--p = ':';
    p = digits(p, len);
    *--p = 'S';
    n = (size_t)(tmp + sizeof(tmp) - p);
    memcpy(dst, p, n);
    memcpy(dst + n, s, len);
    dst[n + len] = '\n';
    return n + len + 1;
}

int store_audit_encode(const struct store_audit *r, const char *prev_hash, char *dst, size_t cap,
                       size_t *len)
{
    const char *t[NTEXT] = {r->event,    r->request_id,  r->caller,     r->actor_chain, r->agent,
                            r->human,    r->intent,      r->task,       r->tool,        r->action,
                            r->resource, r->data_labels, r->downstream, r->decision,    r->reasons,
                            r->detail,   prev_hash};
    size_t l[NTEXT], need = sizeof(MAGIC) - 1 + 2 * 22 + 2 * 22, i, n;

    for (i = 0; i < NTEXT; i++) {
        l[i] = t[i] ? strlen(t[i]) : 0;
        need += l[i] + 24;
        if (need > LIMIT_AUDIT_RECORD_MAX) {
            *len = need;
            return ERR_LIMIT;
        }
    }
    if (need > cap) {
        *len = need;
        return ERR_LIMIT;
    }
    memcpy(dst, MAGIC, sizeof(MAGIC) - 1);
    n = sizeof(MAGIC) - 1;
    n += put_int(dst + n, r->seq);
    n += put_int(dst + n, r->time_ms);
    for (i = 0; i < 15; i++) { /* event .. reasons */
        n += put_str(dst + n, t[i], l[i]);
    }
    n += put_int(dst + n, r->policy_version);
    n += put_str(dst + n, t[15], l[15]); /* detail */
    n += put_str(dst + n, t[16], l[16]); /* prev_hash */
    *len = n;
    return 0;
}

static void hex(const unsigned char md[SHA256_DIGEST_LENGTH], char out[STORE_AUDIT_HASH_HEX + 1])
{
    static const char hexd[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        out[2 * i] = hexd[md[i] >> 4];
        out[2 * i + 1] = hexd[md[i] & 15];
    }
    out[STORE_AUDIT_HASH_HEX] = '\0';
}

/* Encodes into *buf (grown to fit; *cap its size). */
static int encode_grow(const struct store_audit *r, const char *prev_hash, char **buf, size_t *cap,
                       size_t *len)
{
    int rc = store_audit_encode(r, prev_hash, *buf, *cap, len);
    char *p;

    if (rc == ERR_LIMIT && *len <= LIMIT_AUDIT_RECORD_MAX) {
        p = realloc(*buf, *len);
        if (p == NULL) {
            return ERR_NOMEM;
        }
        *buf = p;
        *cap = *len;
        rc = store_audit_encode(r, prev_hash, *buf, *cap, len);
    }
    return rc;
}

int store_audit_hash(const struct store_audit *r, const char *prev_hash,
                     char out[STORE_AUDIT_HASH_HEX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char *buf = NULL;
    size_t cap = 0, len;
    int rc;

    out[0] = '\0';
    rc = encode_grow(r, prev_hash, &buf, &cap, &len);
    if (rc == 0) {
        SHA256((const unsigned char *)buf, len, md);
        hex(md, out);
    }
    free(buf);
    return rc;
}

struct store_audit_hasher {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    char *enc;
    size_t cap;
};

int store_audit_hasher_new(struct store_audit_hasher **out)
{
    struct store_audit_hasher *h = calloc(1, sizeof(*h));

    *out = NULL;
    if (h == NULL) {
        return ERR_NOMEM;
    }
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->ctx = EVP_MD_CTX_new();
    if (h->md == NULL || h->ctx == NULL) {
        store_audit_hasher_free(h);
        return ERR_NOMEM;
    }
    *out = h;
    return 0;
}

void store_audit_hasher_free(struct store_audit_hasher *h)
{
    if (h == NULL) {
        return;
    }
    EVP_MD_CTX_free(h->ctx);
    EVP_MD_free(h->md);
    free(h->enc);
    free(h);
}

int store_audit_hasher_digest(struct store_audit_hasher *h, const void *p, size_t n,
                              char out[STORE_AUDIT_HASH_HEX + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;

    out[0] = '\0';
    if (EVP_DigestInit_ex(h->ctx, h->md, NULL) != 1 || EVP_DigestUpdate(h->ctx, p, n) != 1 ||
        EVP_DigestFinal_ex(h->ctx, md, &mdlen) != 1 || mdlen != SHA256_DIGEST_LENGTH) {
        return ERR_INTERNAL;
    }
    hex(md, out);
    return 0;
}

int store_audit_hasher_hash(struct store_audit_hasher *h, const struct store_audit *r,
                            const char *prev_hash, char out[STORE_AUDIT_HASH_HEX + 1])
{
    size_t len;
    int rc = encode_grow(r, prev_hash, &h->enc, &h->cap, &len);

    out[0] = '\0';
    return rc ? rc : store_audit_hasher_digest(h, h->enc, len, out);
}
