/*
 * audit_hash.c: the canonical encoding of an audit record and its chain hash
 * (docs/audit.md).  The writer (sqlite.c audit_append) and every verifier
 * (broker/auditlog.c, `mandate audit verify`) use this one function.
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
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "store/store.h"
#include "util/buf.h"
#include "util/limits.h"

const char store_audit_genesis[STORE_AUDIT_HASH_HEX + 1] =
    "0000000000000000000000000000000000000000000000000000000000000000";

/* tag, then v in decimal, then end: what "%c%lld%c" printed, without the
 * printf machinery (this runs for every record on the commit thread). */
static int put_num(struct buf *b, char tag, int64_t v, char end)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

    *--p = end;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        *--p = '-';
    }
    *--p = tag;
    return buf_append(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int put_int(struct buf *b, int64_t v)
{
    return put_num(b, 'I', v, '\n');
}

static int put_str(struct buf *b, const char *s)
{
    size_t len;
    int r;

    if (s == NULL) {
        return buf_append(b, "N\n", 2);
    }
    len = strlen(s);
    r = put_num(b, 'S', (int64_t)len, ':');
    r = r ? r : buf_append(b, s, len);
    return r ? r : buf_append(b, "\n", 1);
}

int store_audit_hash(const struct store_audit *r, const char *prev_hash,
                     char out[STORE_AUDIT_HASH_HEX + 1])
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    struct buf b;
    size_t i;
    int rc;

    out[0] = '\0';
    buf_init(&b, LIMIT_AUDIT_RECORD_MAX);
    rc = buf_append(&b, "mandate.audit.v1\n", 17);
    rc = rc ? rc : put_int(&b, r->seq);
    rc = rc ? rc : put_int(&b, r->time_ms);
    rc = rc ? rc : put_str(&b, r->event);
    rc = rc ? rc : put_str(&b, r->request_id);
    rc = rc ? rc : put_str(&b, r->caller);
    rc = rc ? rc : put_str(&b, r->actor_chain);
    rc = rc ? rc : put_str(&b, r->agent);
    rc = rc ? rc : put_str(&b, r->human);
    rc = rc ? rc : put_str(&b, r->intent);
    rc = rc ? rc : put_str(&b, r->task);
    rc = rc ? rc : put_str(&b, r->tool);
    rc = rc ? rc : put_str(&b, r->action);
    rc = rc ? rc : put_str(&b, r->resource);
    rc = rc ? rc : put_str(&b, r->data_labels);
    rc = rc ? rc : put_str(&b, r->downstream);
    rc = rc ? rc : put_str(&b, r->decision);
    rc = rc ? rc : put_str(&b, r->reasons);
    rc = rc ? rc : put_int(&b, r->policy_version);
    rc = rc ? rc : put_str(&b, r->detail);
    rc = rc ? rc : put_str(&b, prev_hash);
    if (rc == 0) {
        SHA256((const unsigned char *)b.data, b.len, md);
        for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
            out[2 * i] = hexd[md[i] >> 4];
            out[2 * i + 1] = hexd[md[i] & 15];
        }
        out[STORE_AUDIT_HASH_HEX] = '\0';
    }
    buf_free(&b);
    return rc;
}
