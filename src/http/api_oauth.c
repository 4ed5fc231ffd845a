/*
 * api_oauth.c: the OAuth endpoints of the access path.
 *
 *   POST /oauth2/token                    token exchange (RFC 8693), form-encoded,
 *                                         authorization_details (RFC 9396), DPoP (RFC 9449)
 *   GET  /.well-known/jwks.json           Mandate's public signing keys
 *   GET  /.well-known/openid-configuration  discovery (RFC 8414 members)
 *
 * No API key: an agent authenticates with its workload credential inside the
 * form.  Errors use the OAuth error format ({"error", "error_description"})
 * plus "reasons" (stable codes, policy ids) and the audit record's sequence.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"

/* ---- form parsing (application/x-www-form-urlencoded) ------------------------- */

static const char *const form_names[] = {
    "grant_type",
    "subject_token",
    "subject_token_type",
    "actor_token",
    "actor_token_type",
    "requested_token_type",
    "authorization_details",
    "audience",
    "resource",
    "dpop_jkt",
};
#define NFORM (sizeof(form_names) / sizeof(form_names[0]))

/* Parses the body into vals[NFORM]; on error *why is the description. */
static int form_parse(struct http_req *rq, const char **vals, const char **why)
{
    return http_form_parse(rq, form_names, NFORM, LIMIT_ACCESS_FORM_PARAMS, vals, why);
}

/* ---- answers ---------------------------------------------------------------------- */

static void oauth_error(struct http_req *rq, unsigned status, const char *error, const char *desc,
                        json_t *reasons, int64_t seq)
{
    json_t *j = json_pack("{s:s,s:s,s:o}", "error", error, "error_description", desc ? desc : error,
                          "reasons", reasons ? reasons : json_array());

    if (j != NULL && seq > 0) {
        json_object_set_new(j, "audit_seq", json_integer(seq));
    }
    http_reply_json(rq, status, j);
}

struct hdr_count {
    const char *name;
    int n;
    const char *value;
};

static enum MHD_Result count_hdr(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct hdr_count *h = cls;

    (void)kind;
    if (strcasecmp(key, h->name) == 0) {
        h->n++;
        h->value = value;
    }
    return MHD_YES;
}

static void token(struct http_req *rq)
{
    const char *ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Content-Type");
    struct broker_exchange_req x;
    struct broker_exchange_result res;
    struct hdr_count dpop = {"DPoP", 0, NULL};
    const char *vals[NFORM], *why = NULL;
    struct err e;
    json_t *j;
    int r;

    err_clear(&e);
    if (rq->broker->rt == NULL) {
        oauth_error(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "temporarily_unavailable",
                    "the token service is not running", NULL, 0);
        return;
    }
    if (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        oauth_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request",
                    "send the parameters as application/x-www-form-urlencoded", NULL, 0);
        return;
    }
    if (form_parse(rq, vals, &why) != 0) {
        oauth_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_request", why ? why : "malformed form",
                    json_pack("[s]", "malformed_form"), 0);
        return;
    }
    MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, count_hdr, &dpop);
    if (dpop.n > 1) {
        oauth_error(rq, MHD_HTTP_BAD_REQUEST, "invalid_dpop_proof", "more than one DPoP header",
                    json_pack("[s]", "dpop_malformed"), 0);
        return;
    }
    memset(&x, 0, sizeof(x));
    x.grant_type = vals[0];
    x.subject_token = vals[1];
    x.subject_token_type = vals[2];
    x.actor_token = vals[3];
    x.actor_token_type = vals[4];
    x.requested_token_type = vals[5];
    x.authorization_details = vals[6];
    x.audience = vals[7];
    x.dpop = dpop.value;
    x.dpop_jkt = vals[9];
    x.htm = "POST";
    x.htu = arena_printf(&rq->arena, "%s/oauth2/token", broker_issuer(rq->broker));
    x.request_id = rq->id;
    r = broker_exchange(rq->broker, &x, &rq->arena, &res, &e);
    if (r != 0) {
        oauth_error(rq, res.http_status ? res.http_status : 500,
                    res.error ? res.error : "server_error", res.error_description, res.reasons,
                    res.audit_seq);
        res.reasons = NULL;
        broker_exchange_result_clear(&res);
        return;
    }
    j = json_pack("{s:s,s:s,s:s,s:I,s:O,s:s}", "access_token", res.access_token,
                  "issued_token_type", "urn:ietf:params:oauth:token-type:access_token",
                  "token_type", res.token_type, "expires_in", (json_int_t)res.expires_in,
                  "authorization_details", res.authorization_details, "task", res.task_id);
    broker_exchange_result_clear(&res);
    http_reply_json(rq, MHD_HTTP_OK, j);
}

static void jwks(struct http_req *rq)
{
    char *text = NULL;
    struct err e;
    json_t *j;

    err_clear(&e);
    if (broker_jwks_text(rq->broker, &text, &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    j = json_loads(text, 0, NULL);
    free(text);
    /* Verifiers may cache the key set for 5 minutes: far inside the
     * pre-publication window of a new key (--signing-key-prepublish-hours),
     * and a revoked key (docs/operations.md) leaves caches within it. */
    rq->cache_control = "public, max-age=300";
    http_reply_json(rq, MHD_HTTP_OK, j);
}

static void discovery(struct http_req *rq)
{
    const char *iss;

    if (rq->broker->rt == NULL) {
        http_reply_problem(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Unavailable",
                           "the token service is not running", NULL);
        return;
    }
    iss = broker_issuer(rq->broker);
    http_reply_json(
        rq, MHD_HTTP_OK,
        json_pack(
            "{s:s,s:s,s:s,s:s,s:s,s:[s],s:[s],s:[s],s:[s,s],s:[s],s:[s,s,s,s,s]}", "issuer", iss,
            "jwks_uri", arena_printf(&rq->arena, "%s/.well-known/jwks.json", iss), "token_endpoint",
            arena_printf(&rq->arena, "%s/oauth2/token", iss), "introspection_endpoint",
            arena_printf(&rq->arena, "%s/oauth2/introspect", iss), "revocation_endpoint",
            arena_printf(&rq->arena, "%s/oauth2/revoke", iss), "grant_types_supported",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "authorization_details_types_supported", BROKER_AUTHZ_TYPE,
            "token_endpoint_auth_methods_supported", "none", "token_types_supported",
            "urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token",
            "id_token_signing_alg_values_supported", "ES256", "dpop_signing_alg_values_supported",
            "EdDSA", "ES256", "ES384", "RS256", "PS256"));
}

const struct http_route http_routes_oauth[] = {
    {"POST", "/oauth2/token", token, 0},
    {"GET", "/.well-known/jwks.json", jwks, 0},
    {"GET", "/.well-known/openid-configuration", discovery, 0},
};
const size_t http_routes_oauth_n = sizeof(http_routes_oauth) / sizeof(http_routes_oauth[0]);
