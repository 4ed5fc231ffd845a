/*
 * jwt.c: JWT claims checks (RFC 7519 section 4.1, RFC 8725 best practices).
 *
 * Times are NumericDate seconds; a non-integer or out-of-range value is
 * refused, not rounded.  `exp` is required unless the caller opts out; `nbf`
 * and `iat` are checked when present; `iat` in the future beyond the skew is
 * refused; a maximum lifetime bounds exp - iat (or exp - now).  `aud` may be
 * a string or an array of strings.  Each failure has its own reason code.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"
#include "util/clock.h"
#include "util/limits.h"

#define DEFAULT_SKEW_S 60
/* NumericDate range we accept: year 1970 .. 9999. */
#define NUMERIC_DATE_MAX 253402300799LL

static int get_time(const json_t *claims, const char *name, int64_t *out, int *present,
                    enum jose_reason *why, struct err *e)
{
    const json_t *v = json_object_get(claims, name);
    json_int_t t;

    *present = v != NULL;
    *out = 0;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_integer(v)) {
        return jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "\"%s\" must be an integer", name);
    }
    t = json_integer_value(v);
    if (t < 0 || t > NUMERIC_DATE_MAX) {
        return jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "\"%s\" out of range", name);
    }
    *out = (int64_t)t;
    return 0;
}

/* "JWT" matches "jwt" and "application/jwt" (RFC 7515 section 4.1.9). */
static int typ_matches(const char *have, const char *want)
{
    if (strncasecmp(have, "application/", 12) == 0) {
        have += 12;
    }
    if (strncasecmp(want, "application/", 12) == 0) {
        want += 12;
    }
    return strcasecmp(have, want) == 0;
}

static int check_aud(const json_t *aud, const char *want, enum jose_reason *why, struct err *e)
{
    const json_t *v;
    size_t i;

    if (json_is_string(aud)) {
        if (strcmp(json_string_value(aud), want) == 0) {
            return 0;
        }
    } else if (json_is_array(aud)) {
        json_array_foreach(aud, i, v)
        {
            if (!json_is_string(v)) {
                return jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "\"aud\" has a non-string");
            }
            if (strcmp(json_string_value(v), want) == 0) {
                return 0;
            }
        }
    } else if (aud == NULL) {
        return jose_fail(why, JOSE_R_AUD, e, ERR_AUTH, "\"aud\" missing, expected \"%.100s\"",
                         want);
    } else {
        return jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "\"aud\" must be a string or array");
    }
    return jose_fail(why, JOSE_R_AUD, e, ERR_AUTH, "audience does not include \"%.100s\"", want);
}

static int check_strings(const json_t *header, const json_t *claims, const struct jose_jwt_opts *o,
                         enum jose_reason *why, struct err *e)
{
    const char *const *req;

    if (o->typ != NULL) {
        const char *typ = json_string_value(json_object_get(header, "typ"));
        if (typ == NULL || !typ_matches(typ, o->typ)) {
            return jose_fail(why, JOSE_R_TYP, e, ERR_AUTH, "typ \"%.40s\", expected \"%.40s\"",
                             typ != NULL ? typ : "(absent)", o->typ);
        }
    }
    if (o->iss != NULL) {
        const json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), o->iss) != 0) {
            return jose_fail(why, JOSE_R_ISS, e, ERR_AUTH, "issuer \"%.100s\", expected \"%.100s\"",
                             json_is_string(iss) ? json_string_value(iss) : "(absent)", o->iss);
        }
    }
    if (o->aud != NULL) {
        int r = check_aud(json_object_get(claims, "aud"), o->aud, why, e);
        if (r != 0) {
            return r;
        }
    }
    for (req = o->required; req != NULL && *req != NULL; req++) {
        const json_t *v = json_object_get(claims, *req);
        if (v == NULL || json_is_null(v)) {
            return jose_fail(why, JOSE_R_MISSING_CLAIM, e, ERR_AUTH,
                             "required claim \"%.64s\" is missing", *req);
        }
    }
    return 0;
}

static int check_times(const json_t *claims, const struct jose_jwt_opts *o, enum jose_reason *why,
                       struct err *e)
{
    int64_t now = o->now_s != 0 ? o->now_s : clock_wall_s();
    int64_t skew = o->skew_s < 0 ? DEFAULT_SKEW_S : o->skew_s;
    int64_t exp, nbf, iat;
    int has_exp, has_nbf, has_iat, r;

    if ((r = get_time(claims, "exp", &exp, &has_exp, why, e)) != 0 ||
        (r = get_time(claims, "nbf", &nbf, &has_nbf, why, e)) != 0 ||
        (r = get_time(claims, "iat", &iat, &has_iat, why, e)) != 0) {
        return r;
    }
    if (!has_exp && !o->allow_no_exp) {
        return jose_fail(why, JOSE_R_MISSING_CLAIM, e, ERR_AUTH,
                         "required claim \"exp\" is "
                         "missing");
    }
    if (has_exp && now >= exp + skew) {
        return jose_fail(why, JOSE_R_EXPIRED, e, ERR_AUTH,
                         "expired at %lld, now %lld (skew %lld s)", (long long)exp, (long long)now,
                         (long long)skew);
    }
    if (has_nbf && now + skew < nbf) {
        return jose_fail(why, JOSE_R_NOT_YET_VALID, e, ERR_AUTH,
                         "not valid before %lld, now %lld (skew %lld s)", (long long)nbf,
                         (long long)now, (long long)skew);
    }
    if (has_iat && now + skew < iat) {
        return jose_fail(why, JOSE_R_IAT, e, ERR_AUTH, "issued in the future (iat %lld, now %lld)",
                         (long long)iat, (long long)now);
    }
    if (o->max_lifetime_s > 0) {
        if (!has_exp) {
            return jose_fail(why, JOSE_R_MISSING_CLAIM, e, ERR_AUTH,
                             "\"exp\" is required with a maximum lifetime");
        }
        if (exp - (has_iat ? iat : now) > o->max_lifetime_s) {
            return jose_fail(
                why, JOSE_R_LIFETIME, e, ERR_AUTH, "lifetime %lld s over the maximum %lld s",
                (long long)(exp - (has_iat ? iat : now)), (long long)o->max_lifetime_s);
        }
    }
    return 0;
}

int jose_jwt_check(const json_t *header, const json_t *claims, const struct jose_jwt_opts *o,
                   enum jose_reason *why, struct err *e)
{
    static const struct jose_jwt_opts defaults = {.skew_s = -1};
    int r;

    if (o == NULL) {
        o = &defaults;
    }
    if (!json_is_object(claims)) {
        return jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "claims are not a JSON object");
    }
    if (json_object_size(claims) > LIMIT_JOSE_JSON_MEMBERS) {
        return jose_fail(why, JOSE_R_TOO_LARGE, e, ERR_LIMIT, "too many claims");
    }
    if ((r = check_times(claims, o, why, e)) != 0 ||
        (r = check_strings(header, claims, o, why, e)) != 0) {
        return r;
    }
    if (why != NULL) {
        *why = JOSE_R_OK;
    }
    return 0;
}

int jose_jwt_verify(const struct jose_verifier *v, const char *token, size_t len,
                    const struct jose_jwt_opts *o, json_t **header, json_t **claims,
                    enum jose_reason *why, struct err *e)
{
    json_t *h = NULL, *c = NULL;
    uint8_t *payload = NULL;
    size_t plen = 0;
    int r;

    if (header != NULL) {
        *header = NULL;
    }
    if (claims != NULL) {
        *claims = NULL;
    }
    if ((r = jose_jws_verify(v, token, len, &h, &payload, &plen, why, e)) != 0) {
        return r;
    }
    if (jose_json_load_object((const char *)payload, plen, &c, e) != 0) {
        r = jose_fail(why, JOSE_R_CLAIMS, e, ERR_AUTH, "payload: %s", e != NULL ? e->msg : "");
        goto out;
    }
    if ((r = jose_jwt_check(h, c, o, why, e)) != 0) {
        goto out;
    }
    if (header != NULL) {
        *header = h;
        h = NULL;
    }
    if (claims != NULL) {
        *claims = c;
        c = NULL;
    }
out:
    free(payload);
    json_decref(h);
    json_decref(c);
    return r;
}

int jose_jwt_sign(const struct jose_jwk *key, enum jose_alg alg, const char *typ,
                  const json_t *claims, char **out, struct err *e)
{
    json_t *h = NULL;
    char *text = NULL;
    int r;

    *out = NULL;
    if (!json_is_object(claims)) {
        return err_set(e, ERR_INVALID, "claims must be a JSON object");
    }
    h = json_pack("{ss}", "typ", typ != NULL ? typ : "JWT");
    text = json_dumps(claims, JSON_COMPACT);
    if (h == NULL || text == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    r = jose_jws_sign(key, alg, h, text, strlen(text), out, e);
out:
    json_decref(h);
    free(text);
    return r;
}
