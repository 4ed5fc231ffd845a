/* test_util.c: arena, buffer, numbers, SPIFFE IDs, errors, clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/arena.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/num.h"
#include "util/spiffe.h"

static int cleaned;
static void count_cleanup(void *p)
{
    cleaned += *(int *)p;
}

static void arena_basics(void **state)
{
    struct arena a;
    int one = 1, ten = 10;
    char *s;
    void *p, *big;

    (void)state;
    arena_init(&a, 128, 0);
    p = arena_alloc(&a, 3);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 16, 0);
    s = arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    big = arena_alloc(&a, 4096); /* larger than a block */
    assert_non_null(big);
    memset(big, 1, 4096);
    assert_string_equal(arena_printf(&a, "%d-%s", 42, "x"), "42-x");
    assert_null(arena_calloc(&a, SIZE_MAX / 2, 4)); /* overflow refused */
    cleaned = 0;
    assert_int_equal(arena_cleanup_add(&a, count_cleanup, &one), 0);
    assert_int_equal(arena_cleanup_add(&a, count_cleanup, &ten), 0);
    arena_free(&a);
    assert_int_equal(cleaned, 11);
    assert_int_equal(a.total, 0);
    arena_free(NULL);
}

static void arena_cap(void **state)
{
    struct arena a;

    (void)state;
    arena_init(&a, 64, 100);
    assert_non_null(arena_alloc(&a, 64));
    assert_null(arena_alloc(&a, 64)); /* 128 > cap of 100 */
    arena_free(&a);
}

static void buf_limits(void **state)
{
    struct buf b;
    size_t n;
    char *p;

    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append_str(&b, "abcd"), 0);
    assert_int_equal(buf_printf(&b, "%d", 123), 0);
    assert_string_equal(b.data, "abcd123");
    assert_int_equal(buf_append_str(&b, "xy"), ERR_LIMIT);
    assert_string_equal(b.data, "abcd123"); /* unchanged on failure */
    assert_int_equal(buf_append_str(&b, "z"), 0);
    assert_int_equal(b.len, 8);
    p = buf_steal(&b, &n);
    assert_int_equal(n, 8);
    assert_string_equal(p, "abcd123z");
    free(p);
    assert_null(b.data);
    buf_free(&b);
    buf_free(NULL);
}

struct num_case {
    const char *s;
    int r;
    int64_t v;
};

static void num_parsing(void **state)
{
    static const struct num_case cases[] = {
        {"0", 0, 0},
        {"42", 0, 42},
        {"-7", 0, -7},
        {"9223372036854775807", 0, INT64_MAX},
        {"-9223372036854775808", 0, INT64_MIN},
        {"9223372036854775808", ERR_LIMIT, 0},
        {"-9223372036854775809", ERR_LIMIT, 0},
        {"99999999999999999999", ERR_LIMIT, 0},
        {"", ERR_INVALID, 0},
        {"-", ERR_INVALID, 0},
        {"-0", ERR_INVALID, 0},
        {"007", ERR_INVALID, 0},
        {"+1", ERR_INVALID, 0},
        {" 1", ERR_INVALID, 0},
        {"1 ", ERR_INVALID, 0},
        {"12a", ERR_INVALID, 0},
        {"0x10", ERR_INVALID, 0},
    };
    size_t i;
    int64_t v;
    uint64_t u;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        v = -1;
        int r = num_parse_i64(cases[i].s, strlen(cases[i].s), INT64_MIN, INT64_MAX, &v);
        assert_int_equal(r, cases[i].r);
        if (r == 0) {
            assert_int_equal(v, cases[i].v);
        }
    }
    assert_int_equal(num_parse_i64("11", 2, 0, 10, &v), ERR_LIMIT);
    assert_int_equal(num_parse_i64("123", 2, 0, 100, &v), 0); /* length-bounded */
    assert_int_equal(v, 12);
    assert_int_equal(num_parse_u64("18446744073709551615", 20, UINT64_MAX, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(num_parse_u64("18446744073709551616", 20, UINT64_MAX, &u), ERR_LIMIT);
    assert_int_equal(num_parse_u64("-1", 2, UINT64_MAX, &u), ERR_INVALID);
}

static void spiffe_ids(void **state)
{
    static const char *const good[] = {
        "spiffe://corp.example/agents/refund-bot",
        "spiffe://a/b",
        "spiffe://x_y-z.1/A.b_c-D/e",
    };
    static const char *const bad[] = {
        "spiffe://corp.example",        /* no path (workload) */
        "spiffe://Corp.example/a",      /* upper case trust domain */
        "spiffe:///a",                  /* empty trust domain */
        "http://corp.example/a",        /* scheme */
        "SPIFFE://corp.example/a",      /* scheme is case-sensitive here */
        "spiffe://corp.example/a/",     /* trailing slash */
        "spiffe://corp.example//a",     /* empty segment */
        "spiffe://corp.example/a/../b", /* dot-dot */
        "spiffe://corp.example/./b",    /* dot */
        "spiffe://corp.example/a%20b",  /* percent-encoding */
        "spiffe://corp.example/a?x=1",  /* query */
        "spiffe://corp.example/a#f",    /* fragment */
        "spiffe://user@corp.example/a", /* user info */
        "spiffe://corp.example:443/a",  /* port */
        "",
    };
    struct spiffe_id id;
    struct err e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(spiffe_id_parse(good[i], strlen(good[i]), 1, &id, &e), 0);
    }
    assert_int_equal(spiffe_id_parse(good[0], strlen(good[0]), 1, &id, &e), 0);
    assert_int_equal(id.td_len, strlen("corp.example"));
    assert_memory_equal(id.path, "/agents/refund-bot", id.path_len);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err_clear(&e);
        assert_int_equal(spiffe_id_parse(bad[i], strlen(bad[i]), 1, &id, &e), ERR_INVALID);
        assert_true(e.msg[0] != '\0');
    }
    assert_int_equal(spiffe_id_parse("spiffe://td", 11, 0, &id, &e), 0);
}

static void errors(void **state)
{
    struct err e;

    (void)state;
    assert_int_equal(err_set(&e, ERR_INVALID, "bad %s", "thing"), ERR_INVALID);
    err_prefix(&e, "%s:%d: ", "f.cedar", 3);
    assert_string_equal(e.msg, "f.cedar:3: bad thing");
    assert_string_equal(err_name(ERR_NOTFOUND), "not_found");
    assert_string_equal(err_name(-999), "unknown");
    assert_int_equal(err_set(NULL, ERR_IO, "x"), ERR_IO);
}

static int64_t fixed_wall(void)
{
    return 1796400000123; /* 2026-12-04T... */
}

static void clock_override(void **state)
{
    char buf[32];

    (void)state;
    clock_set_wall(fixed_wall);
    assert_int_equal(clock_wall_ms(), 1796400000123);
    assert_int_equal(clock_wall_s(), 1796400000);
    clock_format_rfc3339(clock_wall_ms(), buf);
    assert_string_equal(buf, "2026-12-04T16:00:00.123Z");
    clock_set_wall(NULL);
    assert_true(clock_wall_ms() != 1796400000123);
    assert_true(clock_mono_ns() > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(arena_basics),   cmocka_unit_test(arena_cap),
        cmocka_unit_test(buf_limits),     cmocka_unit_test(num_parsing),
        cmocka_unit_test(spiffe_ids),     cmocka_unit_test(errors),
        cmocka_unit_test(clock_override),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
