/*
 * api_keys.c: Mandate's signing keys (broker/broker.h, docs/operations.md).
 *
 *   GET  /v1/keys               the keys held: pending, current, previous
 *                               (admin, security, auditor)
 *   POST /v1/keys/rotate        {"activate_in_s": N}? a new signing key, at
 *                               once or N seconds ahead (published meanwhile);
 *                               admin; audited (key.rotate)
 *   POST /v1/keys/{kid}/revoke  {"reason": text} emergency revocation: out of
 *                               the JWKS at once, its tokens refused; admin,
 *                               security; audited (key.revoke)
 */
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"

/* The body holds only the member name (of type t) or is empty. */
static int body_one(struct http_req *rq, const char *name, json_type t, json_t **in)
{
    const char *k;
    json_t *v;

    *in = NULL;
    if (rq->body.len == 0) {
        return 0;
    }
    if ((*in = http_body_json(rq)) == NULL) {
        return -1;
    }
    json_object_foreach(*in, k, v)
    {
        if (strcmp(k, name) != 0 || json_typeof(v) != t) {
            struct err e;
            err_clear(&e);
            err_set(&e, ERR_INVALID, "body: only %s (%s)", name,
                    t == JSON_INTEGER ? "an integer" : "a string");
            http_reply_err(rq, &e);
            json_decref(*in);
            *in = NULL;
            return -1;
        }
    }
    return 0;
}

static void keys_list(struct http_req *rq)
{
    json_t *out = NULL;
    struct err e;
    int r;

    err_clear(&e);
    r = broker_keys_list(rq->broker, &out, &e);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void keys_rotate(struct http_req *rq)
{
    json_t *in = NULL, *out = NULL;
    struct err e;
    int r;

    if (body_one(rq, "activate_in_s", JSON_INTEGER, &in) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_keys_rotate(rq->broker, &rq->caller,
                           (int64_t)json_integer_value(json_object_get(in, "activate_in_s")), &out,
                           &e);
    json_decref(in);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

static void keys_revoke(struct http_req *rq)
{
    json_t *in = NULL, *out = NULL;
    struct err e;
    int r;

    if (body_one(rq, "reason", JSON_STRING, &in) != 0) {
        return;
    }
    err_clear(&e);
    r = broker_keys_revoke(rq->broker, &rq->caller, rq->params[0],
                           json_string_value(json_object_get(in, "reason")), &out, &e);
    json_decref(in);
    http_answer(rq, r, &e, MHD_HTTP_OK, out);
}

const struct http_route http_routes_keys[] = {
    {"GET", "/v1/keys", keys_list, ROLE_ADMIN | ROLE_SECURITY | ROLE_AUDITOR},
    {"POST", "/v1/keys/rotate", keys_rotate, ROLE_ADMIN},
    {"POST", "/v1/keys/{kid}/revoke", keys_revoke, ROLE_ADMIN | ROLE_SECURITY},
};
const size_t http_routes_keys_n = sizeof(http_routes_keys) / sizeof(http_routes_keys[0]);
