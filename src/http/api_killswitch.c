/*
 * api_killswitch.c: the kill switch (broker/broker.h).
 *
 *   POST   /v1/killswitch   {"scope":"agent|owner|team|all","target":id,"reason":text}
 *                           security, admin: revokes every live task in
 *                           scope before answering; refuses new exchanges
 *   DELETE /v1/killswitch   {"scope","target"} (or ?scope=&target=):
 *                           security, admin (audited)
 *   GET    /v1/killswitch   status: security, auditor, admin
 */
#include <string.h>

#include "broker/broker.h"
#include "http/http_int.h"
#include "util/limits.h"

static int running(struct http_req *rq)
{
    if (rq->broker->rt == NULL) {
        http_reply_problem(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable",
                           "the access path is not running", NULL);
        return 0;
    }
    return 1;
}

/* Only scope, target and (engage) reason, all strings. */
static int body_ok(json_t *in, int with_reason, struct err *e)
{
    const char *k;
    json_t *v;

    json_object_foreach(in, k, v)
    {
        if ((strcmp(k, "scope") != 0 && strcmp(k, "target") != 0 &&
             (!with_reason || strcmp(k, "reason") != 0)) ||
            !json_is_string(v)) {
            return err_set(e, ERR_INVALID, "body: %s (strings) only",
                           with_reason ? "scope, target, reason" : "scope, target");
        }
    }
    return 0;
}

static void ks_engage(struct http_req *rq)
{
    json_t *in, *out = NULL;
    struct err e;
    int r;

    if (!running(rq) || (in = http_body_json(rq)) == NULL) {
        return;
    }
    err_clear(&e);
    r = body_ok(in, 1, &e);
    r = r ? r
          : broker_killswitch_engage(rq->broker, &rq->caller,
                                     json_string_value(json_object_get(in, "scope")),
                                     json_string_value(json_object_get(in, "target")),
                                     json_string_value(json_object_get(in, "reason")), &out, &e);
    json_decref(in);
    if (r != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

static void ks_lift(struct http_req *rq)
{
    const char *scope = http_query(rq, "scope"), *target = http_query(rq, "target");
    json_t *in = NULL, *out = NULL;
    struct err e;
    int r = 0;

    if (!running(rq)) {
        return;
    }
    err_clear(&e);
    if (rq->body.len > 0) {
        if ((in = http_body_json(rq)) == NULL) {
            return;
        }
        r = body_ok(in, 0, &e);
        scope = json_string_value(json_object_get(in, "scope"));
        target = json_string_value(json_object_get(in, "target"));
    }
    r = r ? r : broker_killswitch_lift(rq->broker, &rq->caller, scope, target, &out, &e);
    json_decref(in);
    if (r != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

static void ks_status(struct http_req *rq)
{
    json_t *out = NULL;
    struct err e;

    if (!running(rq)) {
        return;
    }
    err_clear(&e);
    if (broker_killswitch_status(rq->broker, &out, &e) != 0) {
        http_reply_err(rq, &e);
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK, out);
}

const struct http_route http_routes_killswitch[] = {
    {"GET", "/v1/killswitch", ks_status, ROLE_ADMIN | ROLE_SECURITY | ROLE_AUDITOR},
    {"POST", "/v1/killswitch", ks_engage, ROLE_ADMIN | ROLE_SECURITY},
    {"DELETE", "/v1/killswitch", ks_lift, ROLE_ADMIN | ROLE_SECURITY},
};
const size_t http_routes_killswitch_n =
    sizeof(http_routes_killswitch) / sizeof(http_routes_killswitch[0]);
