/* api_system.c: /healthz, /readyz and /v1/version: no authentication. */
#include "http/http_int.h"

/* The process is up and serving HTTP. */
static void healthz(struct http_req *rq)
{
    http_reply_json(rq, MHD_HTTP_OK, json_pack("{s:s}", "status", "ok"));
}

/* Ready to serve writes: the store answers and can take its write lock. */
static void readyz(struct http_req *rq)
{
    struct store *s = rq->broker->store;
    struct err e;

    err_clear(&e);
    if (s->ops->ping(s, 1, &e) != 0) {
        http_reply_json(rq, MHD_HTTP_SERVICE_UNAVAILABLE,
                        json_pack("{s:s, s:{s:s, s:s}}", "status", "unavailable", "store", "status",
                                  "unavailable", "detail", e.msg));
        return;
    }
    http_reply_json(rq, MHD_HTTP_OK,
                    json_pack("{s:s, s:{s:s, s:s}}", "status", "ok", "store", "status", "ok",
                              "kind", s->ops->kind));
}

static void version(struct http_req *rq)
{
    struct store *s = rq->broker->store;
    int v = 0;

    if (s->ops->schema_version(s, &v, NULL) != 0) {
        v = -1;
    }
    http_reply_json(rq, MHD_HTTP_OK,
                    json_pack("{s:s, s:s, s:i}", "name", "mandate", "version", MANDATE_VERSION,
                              "store_schema", v));
}

const struct http_route http_routes_system[] = {
    {"GET", "/healthz", healthz, 0},
    {"GET", "/readyz", readyz, 0},
    {"GET", "/v1/version", version, 0},
};
const size_t http_routes_system_n = sizeof(http_routes_system) / sizeof(http_routes_system[0]);
