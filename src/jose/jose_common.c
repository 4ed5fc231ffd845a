/*
 * jose_common.c: what every part of the JOSE module shares: algorithm names,
 * the stable verification reasons, strict JSON loading, error helpers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"
#include "util/limits.h"

static const char *const alg_names[] = {
    [JOSE_ALG_EDDSA] = "EdDSA", [JOSE_ALG_ES256] = "ES256", [JOSE_ALG_ES384] = "ES384",
    [JOSE_ALG_RS256] = "RS256", [JOSE_ALG_PS256] = "PS256",
};

#define NALGS (sizeof(alg_names) / sizeof(alg_names[0]))

const char *jose_alg_name(enum jose_alg alg)
{
    if ((unsigned)alg >= NALGS) {
        return NULL;
    }
    return alg_names[alg];
}

enum jose_alg jose_alg_from_name(const char *name)
{
    size_t i;

    if (name == NULL) {
        return JOSE_ALG_UNKNOWN;
    }
    for (i = 1; i < NALGS; i++) {
        if (strcmp(alg_names[i], name) == 0) {
            return (enum jose_alg)i;
        }
    }
    return JOSE_ALG_UNKNOWN;
}

int jose_alg_mask_parse(const char *list, unsigned *mask, struct err *e)
{
    const char *p = list, *c;
    unsigned m = 0;

    *mask = 0;
    while (p != NULL && *p != '\0') {
        char name[16];
        size_t n;
        enum jose_alg a;

        c = strchr(p, ',');
        n = c != NULL ? (size_t)(c - p) : strlen(p);
        if (n == 0 || n >= sizeof(name)) {
            return err_set(e, ERR_INVALID, "algorithm list: bad entry near \"%.20s\"", p);
        }
        memcpy(name, p, n);
        name[n] = '\0';
        a = jose_alg_from_name(name);
        if (a == JOSE_ALG_UNKNOWN) {
            return err_set(e, ERR_INVALID, "algorithm list: unsupported algorithm \"%s\"", name);
        }
        m |= JOSE_ALG_BIT(a);
        p = c != NULL ? c + 1 : NULL;
    }
    if (m == 0) {
        return err_set(e, ERR_INVALID, "algorithm list is empty");
    }
    *mask = m;
    return 0;
}

static const char *const reason_names[] = {
    [JOSE_R_OK] = "ok",
    [JOSE_R_MALFORMED] = "malformed",
    [JOSE_R_TOO_LARGE] = "too_large",
    [JOSE_R_ALG] = "bad_alg",
    [JOSE_R_KEY_NOT_FOUND] = "key_not_found",
    [JOSE_R_KEY_AMBIGUOUS] = "key_ambiguous",
    [JOSE_R_SIGNATURE] = "bad_signature",
    [JOSE_R_HEADER] = "bad_header",
    [JOSE_R_TYP] = "bad_typ",
    [JOSE_R_EXPIRED] = "expired",
    [JOSE_R_NOT_YET_VALID] = "not_yet_valid",
    [JOSE_R_IAT] = "bad_iat",
    [JOSE_R_LIFETIME] = "lifetime_too_long",
    [JOSE_R_ISS] = "bad_iss",
    [JOSE_R_AUD] = "bad_aud",
    [JOSE_R_MISSING_CLAIM] = "missing_claim",
    [JOSE_R_CLAIMS] = "bad_claims",
    [JOSE_R_DPOP_JWK] = "dpop_bad_jwk",
    [JOSE_R_DPOP_HTM] = "dpop_bad_htm",
    [JOSE_R_DPOP_HTU] = "dpop_bad_htu",
    [JOSE_R_DPOP_REPLAY] = "dpop_replay",
    [JOSE_R_DPOP_ATH] = "dpop_bad_ath",
    [JOSE_R_DPOP_NONCE] = "dpop_bad_nonce",
    [JOSE_R_DPOP_JKT] = "dpop_bad_jkt",
    [JOSE_R_INTERNAL] = "internal",
};

#define NREASONS (sizeof(reason_names) / sizeof(reason_names[0]))

const char *jose_reason_name(enum jose_reason r)
{
    if ((unsigned)r >= NREASONS || reason_names[r] == NULL) {
        return "unknown";
    }
    return reason_names[r];
}

int jose_reason_from_name(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < NREASONS; i++) {
        if (reason_names[i] != NULL && strcmp(reason_names[i], name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

int jose_fail(enum jose_reason *why, enum jose_reason r, struct err *e, int code, const char *fmt,
              ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;

    if (why != NULL) {
        *why = r;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(e, code, "%s: %s", jose_reason_name(r), msg);
}

/* Nesting depth of JSON text, counted before parsing so that jansson's
 * recursive parser never sees a document deeper than LIMIT_JSON_DEPTH. */
static int json_too_deep(const char *text, size_t len)
{
    size_t i, depth = 0;
    int in_str = 0;

    for (i = 0; i < len; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = 0;
            }
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > LIMIT_JSON_DEPTH) {
                return 1;
            }
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return 0;
}

int jose_json_load_object(const char *text, size_t len, json_t **out, struct err *e)
{
    json_error_t je;
    json_t *j;

    *out = NULL;
    if (json_too_deep(text, len)) {
        return err_set(e, ERR_LIMIT, "JSON nested deeper than %d", LIMIT_JSON_DEPTH);
    }
    j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        return err_set(e, ERR_INVALID, "JSON %d:%d: %s", je.line, je.column, je.text);
    }
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(e, ERR_INVALID, "JSON: expected an object");
    }
    *out = j;
    return 0;
}

int jose_b64url_member(const json_t *obj, const char *name, uint8_t **out, size_t *len,
                       struct err *e)
{
    const json_t *v = json_object_get(obj, name);
    int r;

    *out = NULL;
    *len = 0;
    if (!json_is_string(v)) {
        return err_set(e, ERR_INVALID, "\"%s\" missing or not a string", name);
    }
    r = jose_b64url_decode(json_string_value(v), json_string_length(v), out, len, e);
    if (r != 0) {
        return err_prefix(e, "\"%s\": ", name);
    }
    return 0;
}

int jose_json_b64url(const json_t *obj, char **out, size_t *outlen, struct err *e)
{
    char *s;
    int r;

    *out = NULL;
    s = json_dumps(obj, JSON_COMPACT);
    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "JSON encoding failed");
    }
    r = jose_b64url_encode(s, strlen(s), out, outlen);
    free(s);
    if (r != 0) {
        return err_set(e, r, "base64url encoding failed");
    }
    return 0;
}
