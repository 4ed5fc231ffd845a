/*
 * server.c: libmicrohttpd wiring and the request phases.
 *
 * Lifecycle of a request (nginx's phases, in small):
 *   first call      create the request (arena, id), check Content-Length
 *   upload calls    append the body, counting bytes against the cap
 *   last call       route -> authenticate -> authorize -> handler -> queue
 *   completed       access log line, free everything
 * The answer is queued on a later call than the first: queueing on the first
 * call makes libmicrohttpd 0.9.75 send "Connection: close" on every response.
 * A body over the cap is answered 413 at once (and the connection closed).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "http/http.h"
#include "http/http_int.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/log.h"
#include "util/num.h"

struct http_server {
    struct MHD_Daemon *daemon;
    struct broker *broker;
    size_t body_max;
    uint16_t port;
    atomic_int inflight;
    struct http_authz *authz; /* the API policies (api_authz.c) */
};

/* ---- request objects ---------------------------------------------------- */

static void new_id(char out[33])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char r[16];
    size_t i;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        /* Ids need only be unique, not secret: fall back to time and address. */
        int64_t t = clock_mono_ns();
        memcpy(r, &t, sizeof(t));
        memcpy(r + 8, &out, sizeof(void *) <= 8 ? sizeof(void *) : 8);
    }
    for (i = 0; i < 16; i++) {
        out[2 * i] = digits[r[i] >> 4];
        out[2 * i + 1] = digits[r[i] & 15];
    }
    out[32] = '\0';
}

static struct http_req *req_new(struct http_server *srv, struct MHD_Connection *c, const char *url,
                                const char *method)
{
    struct http_req *rq = calloc(1, sizeof(*rq));
    const char *auth;

    if (rq == NULL) {
        return NULL;
    }
    arena_init(&rq->arena, 8192, 0);
    rq->conn = c;
    rq->broker = srv->broker;
    rq->authz = srv->authz;
    rq->start_ns = clock_mono_ns();
    new_id(rq->id);
    rq->method = arena_strdup(&rq->arena, method);
    rq->path = arena_strdup(&rq->arena, url);
    /* Tighter limits apply before authentication. */
    auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    buf_init(&rq->body, auth ? srv->body_max : LIMIT_HTTP_BODY_UNAUTH_MAX);
    if (rq->method == NULL || rq->path == NULL) {
        arena_free(&rq->arena);
        free(rq);
        return NULL;
    }
    atomic_fetch_add(&srv->inflight, 1);
    return rq;
}

static void req_free(struct http_req *rq)
{
    buf_free(&rq->body);
    free(rq->resp_body);
    arena_free(&rq->arena);
    free(rq);
}

/* ---- phases -------------------------------------------------------------- */

static const struct {
    const struct http_route *routes;
    const size_t *n;
} tables[] = {
    {http_routes_system, &http_routes_system_n},
    {http_routes_registry, &http_routes_registry_n},
    {http_routes_policies, &http_routes_policies_n},
    {http_routes_oauth, &http_routes_oauth_n},
    {http_routes_check, &http_routes_check_n},
    {http_routes_killswitch, &http_routes_killswitch_n},
    {http_routes_keys, &http_routes_keys_n},
};

static const struct http_route *route(struct http_req *rq)
{
    const struct http_route *r = NULL;
    unsigned status = MHD_HTTP_NOT_FOUND, st;
    const char *allow = NULL, *al;
    size_t i;

    for (i = 0; i < sizeof(tables) / sizeof(tables[0]) && r == NULL; i++) {
        r = http_route_find(tables[i].routes, *tables[i].n, rq, &st, &al);
        if (r == NULL && st != MHD_HTTP_NOT_FOUND) {
            status = st;
            allow = al;
        }
    }
    if (r != NULL) {
        return r;
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        rq->allow = allow;
        http_reply_problem(rq, status, "Method not allowed",
                           "this path does not accept that method; see the Allow header", NULL);
    } else if (status == MHD_HTTP_URI_TOO_LONG) {
        http_reply_problem(rq, status, "URI too long", "the path is too long", NULL);
    } else {
        http_reply_problem(rq, MHD_HTTP_NOT_FOUND, "Not found", "no such endpoint", NULL);
    }
    return NULL;
}

static int authenticate(struct http_req *rq, const struct http_route *r)
{
    const char *h =
        MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    struct err e;
    int rc;

    err_clear(&e);
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        rq->auth_failure = "no bearer credentials";
        http_reply_problem(rq, MHD_HTTP_UNAUTHORIZED, "Unauthorized",
                           "send an API key as Authorization: Bearer <key>", NULL);
        return -1;
    }
    rc = broker_auth_apikey(rq->broker, h + 7, strlen(h + 7), &rq->arena, &rq->caller, &e);
    if (rc == ERR_AUTH) {
        rq->auth_failure = arena_strdup(&rq->arena, e.msg);
        http_reply_problem(rq, MHD_HTTP_UNAUTHORIZED, "Unauthorized", "invalid API key", NULL);
        return -1;
    }
    if (rc != 0) {
        http_reply_err(rq, &e);
        return -1;
    }
    rq->caller.request_id = rq->id;
    if ((rq->caller.role & r->roles) == 0) {
        /* Refusals are decisions too: they go to the trail (a failure to
         * write it is logged, the answer stays 403). */
        if (broker_audit_refusal(rq->broker, &rq->caller, rq->method, rq->path, "role", &e) != 0) {
            log_event(LOG_WARN, "audit_failed", rq->id, "detail", e.msg, (const char *)NULL);
        }
        http_reply_problem(rq, MHD_HTTP_FORBIDDEN, "Forbidden",
                           "the role of this API key may not do this", NULL);
        return -1;
    }
    /* The second gate: the API policies (Cedar). */
    return http_authz_check(rq, r);
}

static void dispatch(struct http_req *rq)
{
    const struct http_route *r = route(rq);

    if (r == NULL) {
        return;
    }
    if (r->roles != 0 && authenticate(rq, r) != 0) {
        return;
    }
    r->handler(rq);
    if (rq->status == 0) {
        http_reply_problem(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error",
                           "the handler gave no answer", NULL);
    }
}

static enum MHD_Result queue(struct http_req *rq)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    resp = MHD_create_response_from_buffer(rq->resp_len, rq->resp_body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        return MHD_NO;
    }
    rq->resp_body = NULL; /* MHD owns it now */
    if (rq->resp_type != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, rq->resp_type);
    }
    MHD_add_response_header(resp, "X-Request-Id", rq->id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            rq->cache_control != NULL ? rq->cache_control : "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (rq->allow != NULL) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rq->allow);
    }
    if (rq->status == MHD_HTTP_UNAUTHORIZED) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"mandate\"");
    }
    ret = MHD_queue_response(rq->conn, rq->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void reply_too_big(struct http_req *rq)
{
    char detail[96];

    snprintf(detail, sizeof(detail), "the body is larger than %zu bytes", rq->body.max);
    http_reply_problem(rq, MHD_HTTP_CONTENT_TOO_LARGE, "Content too large", detail, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct http_server *srv = cls;
    struct http_req *rq = *con_cls;
    const char *cl;
    uint64_t n;

    (void)version;
    if (rq == NULL) {
        rq = req_new(srv, c, url, method);
        if (rq == NULL) {
            return MHD_NO; /* out of memory: drop the connection */
        }
        *con_cls = rq;
        cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl != NULL &&
            (num_parse_u64(cl, strlen(cl), UINT64_MAX, &n) != 0 || n > rq->body.max)) {
            /* Answer before reading a byte of it (also right for a client
             * waiting on "Expect: 100-continue"); the connection closes. */
            rq->body_too_big = 1;
            reply_too_big(rq);
            return queue(rq);
        }
        return MHD_YES;
    }
    if (rq->status != 0) {
        *upload_size = 0; /* answered already (413): discard the rest */
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* libmicrohttpd refuses a response queued mid-upload, so a chunked
         * body that outgrows the cap is discarded to its end and answered
         * 413 then; one that goes on past 4x the cap loses its connection. */
        if (!rq->body_too_big && buf_append(&rq->body, upload_data, *upload_size) != 0) {
            rq->body_too_big = 1;
        }
        if (rq->body_too_big) {
            rq->discarded += *upload_size;
            if (rq->discarded > 4 * rq->body.max) {
                return MHD_NO;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->body_too_big) {
        reply_too_big(rq);
    } else {
        dispatch(rq);
    }
    return queue(rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *srv = cls;
    struct http_req *rq = *con_cls;
    char status[8], ms[32];

    (void)c;
    if (rq == NULL) {
        return;
    }
    if (!log_enabled(rq->status >= 500 ? LOG_WARN : LOG_INFO)) {
        goto done; /* no access line: format nothing */
    }
    snprintf(status, sizeof(status), "%u", rq->status);
    snprintf(ms, sizeof(ms), "%.3f", (double)(clock_mono_ns() - rq->start_ns) / 1e6);
    log_event(rq->status >= 500 ? LOG_WARN : LOG_INFO, "access", rq->id, "method", rq->method,
              "path", rq->path, "status", status, "ms", ms, "key", rq->caller.key_id, "role",
              rq->caller.role ? broker_role_name(rq->caller.role) : NULL, "auth_failure",
              rq->auth_failure, "completed",
              toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted", (const char *)NULL);
done:
    req_free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) PRINTF_LIKE(2, 0);
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_event(LOG_WARN, "http_server", NULL, "msg", msg, (const char *)NULL);
}

/* ---- start and stop ------------------------------------------------------ */

int http_parse_listen(const char *s, char **host, uint16_t *port, struct err *e)
{
    const char *colon, *h = s;
    size_t hl;
    uint64_t p;

    *host = NULL;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            return err_set(e, ERR_INVALID, "listen: expected [v6-address]:port, got \"%s\"", s);
        }
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            return err_set(e, ERR_INVALID, "listen: expected address:port, got \"%s\"", s);
        }
        hl = (size_t)(colon - s);
    }
    if (num_parse_u64(colon + 1, strlen(colon + 1), 65535, &p) != 0) {
        return err_set(e, ERR_INVALID, "listen: bad port in \"%s\"", s);
    }
    *host = strndup(h, hl);
    if (*host == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *port = (uint16_t)p;
    return 0;
}

int http_server_start(const struct http_config *cfg, struct broker *b, struct http_server **out,
                      struct err *e)
{
    struct http_server *srv;
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    struct sockaddr *sa;
    unsigned threads = cfg->threads;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_USE_TURBO;
    const union MHD_DaemonInfo *info;
    const char *host = cfg->host ? cfg->host : "127.0.0.1";

    *out = NULL;
    memset(&a4, 0, sizeof(a4));
    memset(&a6, 0, sizeof(a6));
    if (inet_pton(AF_INET, host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons(cfg->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(cfg->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        return err_set(e, ERR_INVALID, "listen: \"%s\" is not a numeric IP address", host);
    }
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 && n < 64 ? (unsigned)n : 2;
    }
    srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    srv->broker = b;
    srv->body_max = cfg->body_max ? cfg->body_max : LIMIT_HTTP_BODY_MAX;
    {
        int ar = http_authz_load(cfg->api_policies, &srv->authz, e);
        if (ar != 0) {
            free(srv);
            return ar;
        }
    }
    atomic_init(&srv->inflight, 0);
    {
        /* The logger goes first so that MHD reports option errors through it. */
        struct MHD_OptionItem o[] = {
            {MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)on_mhd_log, NULL},
            {MHD_OPTION_SOCK_ADDR, 0, sa},
            {MHD_OPTION_CONNECTION_LIMIT, LIMIT_HTTP_CONNECTIONS, NULL},
            {MHD_OPTION_CONNECTION_TIMEOUT, LIMIT_HTTP_CONN_TIMEOUT_S, NULL},
            {MHD_OPTION_CONNECTION_MEMORY_LIMIT, LIMIT_HTTP_CONN_MEMORY, NULL},
            {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, srv},
            {threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, threads, NULL},
            {MHD_OPTION_END, 0, NULL},
        };
        srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_ARRAY, o,
                                       MHD_OPTION_END);
    }
    if (srv->daemon == NULL) {
        http_authz_free(srv->authz);
        free(srv);
        return err_set(e, ERR_IO, "cannot listen on %s:%u (in use, or not an address of this host)",
                       host, (unsigned)cfg->port);
    }
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : cfg->port;
    *out = srv;
    return 0;
}

uint16_t http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_stop(struct http_server *srv, int grace_ms)
{
    int64_t deadline;

    if (srv == NULL) {
        return;
    }
    /* Stop accepting, let requests in flight finish, then close. */
    {
        MHD_socket ls = MHD_quiesce_daemon(srv->daemon);

        if (ls != MHD_INVALID_SOCKET) {
            close(ls); /* quiesce hands the listening socket to us */
        }
    }
    deadline = clock_mono_ns() + (int64_t)grace_ms * 1000000;
    while (atomic_load(&srv->inflight) > 0 && clock_mono_ns() < deadline) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(srv->daemon);
    http_authz_free(srv->authz);
    free(srv);
}
