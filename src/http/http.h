/*
 * http.h: Mandate's HTTP API server on libmicrohttpd.
 *
 * A thread pool (one epoll thread per core by default) accepts connections;
 * each request runs fixed phases: limits, route, authenticate, authorize,
 * handler, access log.  Errors are RFC 9457 application/problem+json; every
 * response and log line carries the request id.
 */
#ifndef MANDATE_HTTP_H
#define MANDATE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "util/err.h"

struct http_config {
    const char *host; /* address to bind, numeric IPv4 or IPv6 */
    uint16_t port;    /* 0: pick a free port (see http_server_port) */
    unsigned threads; /* 0: one per online core */
    size_t body_max;  /* 0: LIMIT_HTTP_BODY_MAX */
    /* A directory with api.cedar and api.cedarschema authorising the API
     * (NULL: the policies/ built into the program); see api_authz.c. */
    const char *api_policies;
};

struct http_server;

/* Binds and starts serving.  The broker must outlive the server. */
int http_server_start(const struct http_config *cfg, struct broker *b, struct http_server **out,
                      struct err *e) MUST_CHECK;

/* The port actually bound. */
uint16_t http_server_port(const struct http_server *srv);

/* Stops accepting, waits up to grace_ms for requests in flight to finish,
 * then closes every connection and frees the server.  srv may be NULL. */
void http_server_stop(struct http_server *srv, int grace_ms);

/* Parses "host:port" or "[v6]:port" into host (malloc'd) and port. */
int http_parse_listen(const char *s, char **host, uint16_t *port, struct err *e) MUST_CHECK;

#endif
