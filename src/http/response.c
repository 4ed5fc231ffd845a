/*
 * response.c: JSON and RFC 9457 problem answers, and body parsing.
 *
 * Handlers only record the answer in the request; server.c turns it into an
 * MHD response, adds the request id header and logs the access line.
 */
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/log.h"

static void set_body(struct http_req *rq, unsigned status, json_t *j, const char *type)
{
    free(rq->resp_body);
    rq->resp_body = NULL;
    rq->resp_len = 0;
    rq->status = status;
    rq->resp_type = type;
    if (j != NULL) {
        rq->resp_body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(j);
        if (rq->resp_body == NULL) {
            rq->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
            rq->resp_type = NULL;
        } else {
            rq->resp_len = strlen(rq->resp_body);
        }
    }
}

void http_reply_json(struct http_req *rq, unsigned status, json_t *j)
{
    if (j == NULL) {
        http_reply_problem(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error", "out of memory",
                           NULL);
        return;
    }
    set_body(rq, status, j, "application/json");
}

void http_reply_empty(struct http_req *rq, unsigned status)
{
    set_body(rq, status, NULL, NULL);
}

void http_reply_problem(struct http_req *rq, unsigned status, const char *title, const char *detail,
                        json_t *extra)
{
    json_t *p =
        json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "about:blank", "title", title, "status",
                  (int)status, "detail", detail ? detail : title, "instance", rq->id);

    if (p != NULL && extra != NULL) {
        json_object_update_missing(p, extra);
    }
    json_decref(extra);
    set_body(rq, status, p, "application/problem+json");
}

void http_reply_err(struct http_req *rq, const struct err *e)
{
    static const struct {
        int code;
        unsigned status;
        const char *title;
    } map[] = {
        {ERR_INVALID, MHD_HTTP_BAD_REQUEST, "Invalid request"},
        {ERR_LIMIT, MHD_HTTP_BAD_REQUEST, "Invalid request"},
        {ERR_NOTFOUND, MHD_HTTP_NOT_FOUND, "Not found"},
        {ERR_CONFLICT, MHD_HTTP_CONFLICT, "Conflict"},
        {ERR_AUTH, MHD_HTTP_UNAUTHORIZED, "Unauthorized"},
        {ERR_FORBIDDEN, MHD_HTTP_FORBIDDEN, "Forbidden"},
        {ERR_UNAVAILABLE, MHD_HTTP_SERVICE_UNAVAILABLE, "Service unavailable"},
        {ERR_UNSUPPORTED, MHD_HTTP_NOT_IMPLEMENTED, "Not implemented"},
    };
    size_t i;
    json_t *extra = NULL;
    const char *colon;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (map[i].code == e->code) {
            break;
        }
    }
    if (i == sizeof(map) / sizeof(map[0])) {
        /* Internal detail goes to the log, never to the client. */
        log_event(LOG_ERROR, "internal_error", rq->id, "detail", e->msg, (const char *)NULL);
        http_reply_problem(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal error",
                           "the server could not complete the request; see the log", NULL);
        return;
    }
    if (e->code == ERR_UNAVAILABLE) {
        log_event(LOG_WARN, "store_unavailable", rq->id, "detail", e->msg, (const char *)NULL);
        http_reply_problem(rq, map[i].status, map[i].title, "the store is unavailable; retry later",
                           NULL);
        return;
    }
    /* Validation messages start with "field: "; name the field for clients. */
    colon = strstr(e->msg, ": ");
    if (e->code == ERR_INVALID && colon != NULL && colon - e->msg < 64 &&
        strcspn(e->msg, " :") == (size_t)(colon - e->msg)) {
        json_t *f = json_stringn(e->msg, (size_t)(colon - e->msg));
        extra = f ? json_pack("{s:o}", "field", f) : NULL;
    }
    http_reply_problem(rq, map[i].status, map[i].title, e->msg, extra);
}

json_t *http_body_json(struct http_req *rq)
{
    json_error_t je;
    json_t *j;

    if (rq->body.len == 0) {
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Invalid request",
                           "body: expected a JSON object", json_pack("{s:s}", "field", "body"));
        return NULL;
    }
    j = json_loadb(rq->body.data, rq->body.len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Malformed JSON", je.text,
                           json_pack("{s:I, s:i, s:i}", "offset", (json_int_t)je.position, "line",
                                     je.line, "column", je.column));
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        http_reply_problem(rq, MHD_HTTP_BAD_REQUEST, "Invalid request",
                           "body: expected a JSON object", json_pack("{s:s}", "field", "body"));
        return NULL;
    }
    return j;
}

const char *http_query(struct http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}
