/* fuzz_audit_query.c: the query parameters of GET /v1/audit and `mandate
 * audit query` (broker/broker.h) on arbitrary bytes, split like a query
 * string ("name=value&..."; MHD has already percent-decoded them).  Checks
 * the parser's promises: an accepted time is in range and survives a round
 * trip through its RFC 3339 form; an accepted limit is 1..1000; accepted
 * strings are copies of the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"
#include "util/clock.h"
#include "util/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_time(const char *s, size_t n)
{
    char text[32];
    int64_t ms, again;

    if (broker_audit_parse_time(s, n, &ms) != 0) {
        return;
    }
    if (ms < 1 || ms > 253402300799999LL) {
        abort();
    }
    clock_format_rfc3339(ms, text);
    if (broker_audit_parse_time(text, strlen(text), &again) != 0 || again != ms) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data, *end = s + size, *p = s;
    struct broker_audit_query q;
    struct arena a;
    struct err e;

    check_time(s, size);
    arena_init(&a, 0, 0);
    broker_audit_query_init(&q);
    while (p <= end) {
        const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
        size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
        eq = memchr(p, '=', len);
        if (broker_audit_query_param(&q, p, eq ? (size_t)(eq - p) : len, eq ? eq + 1 : NULL,
                                     eq ? len - (size_t)(eq - p) - 1 : 0, &a, &e) != 0) {
            break;
        }
        if (q.f.limit < 1 || q.f.limit > LIMIT_LIST_PAGE_MAX || q.f.after < 0 || q.f.since_ms < 0 ||
            q.f.until_ms < 0) {
            abort();
        }
        if (amp == NULL) {
            break;
        }
        p = amp + 1;
    }
    (void)broker_audit_query_done(&q, &e);
    arena_free(&a);
    return 0;
}
