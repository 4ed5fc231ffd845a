/* test_http.c: the router (parameters, 404 vs 405, the greedy tail for
 * SPIFFE IDs), listen-address parsing and the shared form decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"
#include "http/http_int.h"

static void h_dummy(struct http_req *rq)
{
    (void)rq;
}

static const struct http_route routes[] = {
    {"GET", "/v1/humans", h_dummy, 0},
    {"POST", "/v1/humans", h_dummy, 0},
    {"GET", "/v1/humans/{id}", h_dummy, 0},
    {"GET", "/v1/agents/{id*}", h_dummy, 0},
    {"POST", "/v1/tasks/{id}/complete", h_dummy, 0},
    {"POST", "/v1/things/{id*}/status", h_dummy, 0},
    {"DELETE", "/v1/things/{id*}/ents/{intent}", h_dummy, 0},
    {"GET", "/v1/things/{id*}", h_dummy, 0},
};

struct rcase {
    const char *method, *path;
    int index; /* -1: no route */
    unsigned status;
    const char *p0;
    const char *p1;
};

static void router(void **state)
{
    static const struct rcase cases[] = {
        {"GET", "/v1/humans", 0, 0, NULL, NULL},
        {"POST", "/v1/humans", 1, 0, NULL, NULL},
        {"DELETE", "/v1/humans", -1, 405, NULL, NULL},
        {"GET", "/v1/humans/alice", 2, 0, "alice", NULL},
        {"GET", "/v1/humans/alice/extra", -1, 404, NULL, NULL},
        {"GET", "/v1/humans/", -1, 404, NULL, NULL},
        {"GET", "/v1/agents/spiffe://td/a/b", 3, 0, "spiffe://td/a/b", NULL},
        {"GET", "/v1/agents/", -1, 404, NULL, NULL},
        {"POST", "/v1/tasks/t1/complete", 4, 0, "t1", NULL},
        {"GET", "/v1/tasks/t1/complete", -1, 405, NULL, NULL},
        {"GET", "/v1/humansx", -1, 404, NULL, NULL},
        {"GET", "/", -1, 404, NULL, NULL},
        /* a tail parameter followed by more pattern takes what lets the rest match */
        {"POST", "/v1/things/spiffe://td/a/b/status", 5, 0, "spiffe://td/a/b", NULL},
        {"DELETE", "/v1/things/spiffe://td/a/ents/refunds", 6, 0, "spiffe://td/a", "refunds"},
        {"GET", "/v1/things/spiffe://td/a/status", 7, 0, "spiffe://td/a/status", NULL},
        {"POST", "/v1/things//status", -1, 405, NULL, NULL},
        {"POST", "/v1/things/status", -1, 405, NULL, NULL},
        {"DELETE", "/v1/things/x/ents/", -1, 405, NULL, NULL},
        {"PUT", "/v1/thingsx/a/status", -1, 404, NULL, NULL},
        {"DELETE", "/v1/things/x/ents/a/b", -1, 405, NULL, NULL},
        {"DELETE", "/v1/things/x/ents/ents/b", 6, 0, "x/ents", "b"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct http_req rq;
        const struct http_route *r;
        const char *allow;
        unsigned status = 0;

        memset(&rq, 0, sizeof(rq));
        arena_init(&rq.arena, 0, 0);
        rq.method = cases[i].method;
        rq.path = cases[i].path;
        r = http_route_find(routes, sizeof(routes) / sizeof(routes[0]), &rq, &status, &allow);
        if (cases[i].index < 0) {
            assert_null(r);
            assert_int_equal(status, cases[i].status);
            if (status == 405) {
                assert_non_null(allow);
                assert_non_null(strstr(allow, "GET") ? allow : strstr(allow, "POST"));
            }
        } else {
            assert_ptr_equal(r, &routes[cases[i].index]);
            if (cases[i].p0) {
                assert_string_equal(rq.params[0], cases[i].p0);
            }
            if (cases[i].p1) {
                assert_string_equal(rq.params[1], cases[i].p1);
            }
        }
        arena_free(&rq.arena);
    }
}

static void listen_addresses(void **state)
{
    char *host = NULL;
    uint16_t port = 0;
    struct err e;

    (void)state;
    assert_int_equal(http_parse_listen("127.0.0.1:8080", &host, &port, &e), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    free(host);
    assert_int_equal(http_parse_listen("[::1]:0", &host, &port, &e), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 0);
    free(host);
    assert_int_equal(http_parse_listen("127.0.0.1", &host, &port, &e), ERR_INVALID);
    assert_int_equal(http_parse_listen("127.0.0.1:70000", &host, &port, &e), ERR_INVALID);
    assert_int_equal(http_parse_listen("127.0.0.1:-1", &host, &port, &e), ERR_INVALID);
    assert_int_equal(http_parse_listen("[::1:80", &host, &port, &e), ERR_INVALID);
    assert_null(host);
}

/* The one form decoder of the OAuth endpoints (form.c). */
static void forms(void **state)
{
    static const char *const names[] = {"grant_type", "token"};
    static const struct {
        const char *body;
        int ok;
        const char *v0, *v1, *why; /* why: a substring of the refusal */
    } rows[] = {
        {"grant_type=a+b&token=x%2By", 1, "a b", "x+y", NULL},
        {"token=%41%62", 1, NULL, "Ab", NULL},
        {"", 0, NULL, NULL, "empty"},
        {"grant_type", 0, NULL, NULL, "name=value"},
        {"=x", 0, NULL, NULL, "name=value"},
        {"grant_type=%zz", 0, NULL, NULL, "percent"},
        {"grant_type=%4", 0, NULL, NULL, "percent"},
        {"grant_type=a%00b", 0, NULL, NULL, "percent"},
        {"grant_type=a\x01", 0, NULL, NULL, "percent"},
        {"scope=all", 0, NULL, NULL, "unknown parameter \"scope\""},
        {"token=a&token=b", 0, NULL, NULL, "given twice"},
        {"token=", 0, NULL, NULL, "is empty"},
        {"token=a&grant_type=b&x=c", 0, NULL, NULL, "too many"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct http_req rq;
        const char *vals[2], *why = NULL;
        int r;

        memset(&rq, 0, sizeof(rq));
        arena_init(&rq.arena, 0, 0);
        buf_init(&rq.body, 4096);
        assert_int_equal(buf_append(&rq.body, rows[i].body, strlen(rows[i].body)), 0);
        r = http_form_parse(&rq, names, 2, 2, vals, &why);
        if (rows[i].ok) {
            assert_int_equal(r, 0);
            if (rows[i].v0 == NULL) {
                assert_null(vals[0]);
            } else {
                assert_string_equal(vals[0], rows[i].v0);
            }
            assert_string_equal(vals[1], rows[i].v1);
        } else {
            assert_int_equal(r, -1);
            assert_non_null(why);
            if (strstr(why, rows[i].why) == NULL) {
                fail_msg("form \"%s\": refused with \"%s\", expected \"%s\"", rows[i].body, why,
                         rows[i].why);
            }
        }
        buf_free(&rq.body);
        arena_free(&rq.arena);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(router),
        cmocka_unit_test(listen_addresses),
        cmocka_unit_test(forms),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
