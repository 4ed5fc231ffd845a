/*
 * test_cedar_ext.c: table-driven tests of Cedar's extension types (ext.h):
 * parsing exactly what the reference accepts, the methods, and overflow.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cedar/ext.h"

/* ---- ipaddr ------------------------------------------------------------- */

struct ip_case {
    const char *in;
    const char *want; /* formatted "addr/prefix", NULL: must fail */
};

static const struct ip_case ip_cases[] = {
    {"127.0.0.1", "127.0.0.1/32"},
    {"0.0.0.0", "0.0.0.0/32"},
    {"255.255.255.255", "255.255.255.255/32"},
    {"10.0.0.1/24", "10.0.0.1/24"},
    {"10.0.0.0/0", "10.0.0.0/0"},
    {"10.0.0.0/32", "10.0.0.0/32"},
    {"10.0.0.0/33", NULL},
    {"10.0.0.0/08", NULL},
    {"10.0.0.0/", NULL},
    {"10.0.0.0/+8", NULL},
    {"10.0.0.0/8/8", NULL},
    {"10.0.0.0/ 8", NULL},
    {"010.0.0.1", NULL},
    {"1.2.3.04", NULL},
    {"256.0.0.1", NULL},
    {"1.2.3", NULL},
    {"1.2.3.4.5", NULL},
    {"1.2.3.4 ", NULL},
    {" 1.2.3.4", NULL},
    {"1..2.3", NULL},
    {"1.2.3.1000", NULL},
    {"", NULL},
    {"::", "::/128"},
    {"::1", "::1/128"},
    {"1::", "1::/128"},
    {"::/0", "::/0"},
    {"::1/128", "::1/128"},
    {"::1/129", NULL},
    {"::1/0128", NULL},
    {"::1/1280", NULL},
    {"ff02::1", "ff02::1/128"},
    {"FF02::A", "ff02::a/128"},
    {"2001:db8::8a2e:370:7334", "2001:db8::8a2e:370:7334/128"},
    {"2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:db8::ff00:42:8329/128"},
    {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8/128"},
    {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0/128"},
    {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8/128"},
    {"1:0:0:1:0:0:0:1", "1:0:0:1::1/128"},
    {"1:0:0:1:0:0:1:1", "1::1:0:0:1:1/128"},
    {"1:2:3:4:5:6:7:8:9", NULL},
    {"1:2:3:4:5:6:7", NULL},
    {"1::2::3", NULL},
    {":::", NULL},
    {":1::", NULL},
    {"1:2:3:4:5:6:7:8::", NULL},
    {"1::2:3:4:5:6:7:8", NULL},
    {"12345::", NULL},
    {"0000::", "::/128"},
    {"g::", NULL},
    {"::ffff:127.0.0.1", NULL},
    {"::127.0.0.1", NULL},
    {"::ffff:7f00:1", "::ffff:7f00:1/128"},
    {"::7f00:1", "::7f00:1/128"},
    {"fe80::1%eth0", NULL},
    {"1.2.3.4:80", NULL},
    {"ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128", "abcd:ef01:2345:6789:abcd:ef01:2345:6789/128"},
    {"ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/0128", NULL}, /* 44 bytes */
};

static void test_ip_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ip_cases) / sizeof(ip_cases[0]); i++) {
        const struct ip_case *c = &ip_cases[i];
        struct cedar_ip ip;
        struct err e;
        err_clear(&e);
        int r = cedar_ip_parse(c->in, strlen(c->in), &ip, &e);
        if (c->want == NULL) {
            if (r != ERR_INVALID) {
                fail_msg("ip(\"%s\") should fail", c->in);
            }
            assert_true(e.msg[0] != '\0');
            continue;
        }
        if (r != 0) {
            fail_msg("ip(\"%s\") failed: %s", c->in, e.msg);
        }
        char buf[64];
        cedar_ip_format(&ip, buf, sizeof(buf));
        if (strcmp(buf, c->want) != 0) {
            fail_msg("ip(\"%s\") = %s, want %s", c->in, buf, c->want);
        }
    }
}

static struct cedar_ip ip_of(const char *s)
{
    struct cedar_ip ip;
    struct err e;
    assert_int_equal(cedar_ip_parse(s, strlen(s), &ip, &e), 0);
    return ip;
}

struct ip_pred_case {
    const char *in;
    int v4, loopback, multicast;
};

static const struct ip_pred_case ip_pred_cases[] = {
    {"127.0.0.1", 1, 1, 0},     {"127.255.0.1/8", 1, 1, 0}, {"127.0.0.1/7", 1, 0, 0},
    {"128.0.0.1", 1, 0, 0},     {"224.0.0.1", 1, 0, 1},     {"239.255.255.255", 1, 0, 1},
    {"240.0.0.1", 1, 0, 0},     {"224.0.0.0/4", 1, 0, 1},   {"224.0.0.0/3", 1, 0, 0},
    {"::1", 0, 1, 0},           {"::1/127", 0, 0, 0},       {"::2", 0, 0, 0},
    {"ff00::", 0, 0, 1},        {"ff00::/8", 0, 0, 1},      {"ff00::/7", 0, 0, 0},
    {"::ffff:7f00:1", 0, 0, 0}, {"fe00::", 0, 0, 0},        {"0.0.0.0", 1, 0, 0},
};

static void test_ip_predicates(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ip_pred_cases) / sizeof(ip_pred_cases[0]); i++) {
        const struct ip_pred_case *c = &ip_pred_cases[i];
        struct cedar_ip ip = ip_of(c->in);
        if (cedar_ip_is_ipv4(&ip) != (c->v4 != 0) || cedar_ip_is_ipv6(&ip) != (c->v4 == 0) ||
            cedar_ip_is_loopback(&ip) != (c->loopback != 0) ||
            cedar_ip_is_multicast(&ip) != (c->multicast != 0)) {
            fail_msg("predicates of %s wrong", c->in);
        }
    }
}

struct ip_range_case {
    const char *a, *b;
    int in_range;
};

static const struct ip_range_case ip_range_cases[] = {
    {"10.0.0.1", "10.0.0.0/24", 1},
    {"10.0.1.1", "10.0.0.0/24", 0},
    {"10.0.0.0/24", "10.0.0.0/24", 1},
    {"10.0.0.0/23", "10.0.0.0/24", 0},
    {"10.0.0.0/25", "10.0.0.0/24", 1},
    {"10.0.0.1/24", "10.0.0.0/24", 1},
    {"10.0.0.1", "10.0.0.1", 1},
    {"10.0.0.1", "10.0.0.2", 0},
    {"1.2.3.4", "0.0.0.0/0", 1},
    {"0.0.0.0/0", "1.2.3.4", 0},
    {"::1", "::/0", 1},
    {"::1", "0.0.0.0/0", 0},
    {"127.0.0.1", "::1/0", 0},
    {"2001:db8::1", "2001:db8::/32", 1},
    {"2001:db9::1", "2001:db8::/32", 0},
    {"2001:db8::/31", "2001:db8::/32", 0},
    {"ffff::1", "ff00::/8", 1},
    {"192.168.1.5", "192.168.0.0/23", 1},
    {"192.168.2.5", "192.168.0.0/23", 0},
};

static void test_ip_range_and_equality(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ip_range_cases) / sizeof(ip_range_cases[0]); i++) {
        const struct ip_range_case *c = &ip_range_cases[i];
        struct cedar_ip a = ip_of(c->a), b = ip_of(c->b);
        if (cedar_ip_is_in_range(&a, &b) != (c->in_range != 0)) {
            fail_msg("%s isInRange %s should be %d", c->a, c->b, c->in_range);
        }
    }
    struct cedar_ip x = ip_of("10.0.0.1/24"), y = ip_of("10.0.0.0/24"), z = ip_of("10.0.0.1/24");
    assert_false(cedar_ip_equal(&x, &y));
    assert_true(cedar_ip_equal(&x, &z));
    struct cedar_ip p = ip_of("::1"), q = ip_of("0:0:0:0:0:0:0:1");
    assert_true(cedar_ip_equal(&p, &q));
    struct cedar_ip s = ip_of("10.0.0.1"), t = ip_of("10.0.0.1/32");
    assert_true(cedar_ip_equal(&s, &t));
    assert_true(cedar_ip_cmp(&s, &p) < 0); /* v4 before v6 */
}

/* ---- decimal ------------------------------------------------------------ */

struct dec_case {
    const char *in;
    int rc;
    int64_t value;
};

static const struct dec_case dec_cases[] = {
    {"1.0", 0, 10000},
    {"-1.0", 0, -10000},
    {"123.456", 0, 1234560},
    {"0.1234", 0, 1234},
    {"-0.0123", 0, -123},
    {"-0.1", 0, -1000},
    {"-0.0", 0, 0},
    {"55.1", 0, 551000},
    {"007.5", 0, 75000},
    {"1.00", 0, 10000},
    {"922337203685477.5807", 0, INT64_MAX},
    {"-922337203685477.5808", 0, INT64_MIN},
    {"922337203685477.5808", ERR_LIMIT, 0},
    {"-922337203685477.5809", ERR_LIMIT, 0},
    {"922337203685478.0", ERR_LIMIT, 0},
    {"99999999999999999999.0", ERR_LIMIT, 0},
    {"1", ERR_INVALID, 0},
    {"1.", ERR_INVALID, 0},
    {".1", ERR_INVALID, 0},
    {"-.1", ERR_INVALID, 0},
    {"1.00000", ERR_INVALID, 0},
    {"1.12345", ERR_INVALID, 0},
    {"+1.0", ERR_INVALID, 0},
    {"1.0 ", ERR_INVALID, 0},
    {"1,0", ERR_INVALID, 0},
    {"1.-0", ERR_INVALID, 0},
    {"--1.0", ERR_INVALID, 0},
    {"1e3.0", ERR_INVALID, 0},
    {"", ERR_INVALID, 0},
    {"-", ERR_INVALID, 0},
};

static void test_decimal_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dec_cases) / sizeof(dec_cases[0]); i++) {
        const struct dec_case *c = &dec_cases[i];
        struct cedar_decimal d;
        struct err e;
        err_clear(&e);
        int r = cedar_decimal_parse(c->in, strlen(c->in), &d, &e);
        if (r != c->rc || (r == 0 && d.value != c->value)) {
            fail_msg("decimal(\"%s\"): rc %d value %lld, want rc %d value %lld (%s)", c->in, r,
                     (long long)d.value, c->rc, (long long)c->value, e.msg);
        }
    }
}

static void test_decimal_cmp_format(void **state)
{
    (void)state;
    struct cedar_decimal a = {10000}, b = {-1000}, c = {10000};
    assert_int_equal(cedar_decimal_cmp(&a, &b), 1);
    assert_int_equal(cedar_decimal_cmp(&b, &a), -1);
    assert_int_equal(cedar_decimal_cmp(&a, &c), 0);
    const struct {
        int64_t v;
        const char *s;
    } f[] = {{10000, "1.0"},
             {-1000, "-0.1"},
             {1234560, "123.456"},
             {1, "0.0001"},
             {-1, "-0.0001"},
             {0, "0.0"},
             {INT64_MIN, "-922337203685477.5808"},
             {15000, "1.5"}};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        char buf[32];
        struct cedar_decimal d = {f[i].v};
        cedar_decimal_format(&d, buf, sizeof(buf));
        assert_string_equal(buf, f[i].s);
    }
}

/* ---- datetime ----------------------------------------------------------- */

struct dt_case {
    const char *in;
    int ok;
    int64_t ms;
};

static const struct dt_case dt_cases[] = {
    {"1970-01-01", 1, 0},
    {"2024-10-15", 1, 1728950400000},
    {"2024-10-15T11:38:02Z", 1, 1728992282000},
    {"2024-10-15T11:38:02.101Z", 1, 1728992282101},
    {"2024-10-15T11:38:02.101+1134", 1, 1728950642101},
    {"2024-10-15T11:38:02-1134", 1, 1729033922000},
    {"2024-10-15T23:59:00+2359", 1, 1728950400000},
    {"1969-12-31T23:59:59.999Z", 1, -1},
    {"0001-01-01", 1, -62135596800000},
    {"0000-01-01", 1, -62167219200000},
    {"9999-12-31T23:59:59.999Z", 1, 253402300799999},
    {"2024-02-29", 1, 1709164800000},
    {"2000-02-29", 1, 951782400000},
    {"1900-02-29", 0, 0},
    {"2025-02-29", 0, 0},
    {"2024-02-30", 0, 0},
    {"2024-04-31", 0, 0},
    {"2024-00-01", 0, 0},
    {"2024-01-00", 0, 0},
    {"2024-13-01", 0, 0},
    {"10000-01-01", 0, 0},
    {"", 0, 0},
    {"-1", 0, 0},
    {"11-12-13", 0, 0},
    {"2024-1-01", 0, 0},
    {"2024-10-15Z", 0, 0},
    {"2024-10-15T", 0, 0},
    {"2024-10-15T11:38", 0, 0},
    {"2024-10-15T11:38:02", 0, 0},
    {"2024-10-15 11:38:02Z", 0, 0},
    {"2024-10-15t11:38:02Z", 0, 0},
    {"2024-10-15T11:38:02z", 0, 0},
    {"2024-10-15T11:38:02ZZ", 0, 0},
    {"2024-10-15T11:38:02.1Z", 0, 0},
    {"2024-10-15T11:38:02.0001Z", 0, 0},
    {"2024-10-15T11:38:02.001", 0, 0},
    {"2024-10-15T11:38:02+11", 0, 0},
    {"2024-10-15T11:38:02+11:34", 0, 0},
    {"2024-10-15T11:38:02+2400", 0, 0},
    {"2024-10-15T11:38:02-0060", 0, 0},
    {"2024-10-15T24:00:00Z", 0, 0},
    {"2024-10-15T23:60:00Z", 0, 0},
    {"2016-12-31T23:59:60Z", 0, 0},
    {"2024-10-15T11:38:02.101+1134x", 0, 0},
};

static void test_datetime_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dt_cases) / sizeof(dt_cases[0]); i++) {
        const struct dt_case *c = &dt_cases[i];
        struct cedar_datetime dt;
        struct err e;
        err_clear(&e);
        int r = cedar_datetime_parse(c->in, strlen(c->in), &dt, &e);
        if (c->ok ? (r != 0 || dt.ms != c->ms) : r != ERR_INVALID) {
            fail_msg("datetime(\"%s\"): rc %d ms %lld (%s)", c->in, r, (long long)dt.ms, e.msg);
        }
    }
}

struct dur_case {
    const char *in;
    int rc;
    int64_t ms;
};

static const struct dur_case dur_cases[] = {
    {"1ms", 0, 1},
    {"1s", 0, 1000},
    {"1m", 0, 60000},
    {"1h", 0, 3600000},
    {"1d", 0, 86400000},
    {"1d2h3m4s5ms", 0, 93784005},
    {"-1d2h3m4s5ms", 0, -93784005},
    {"0ms", 0, 0},
    {"-0s", 0, 0},
    {"2h30m", 0, 9000000},
    {"1m1ms", 0, 60001},
    {"001s", 0, 1000},
    {"9223372036854775807ms", 0, INT64_MAX},
    {"-9223372036854775808ms", 0, INT64_MIN},
    {"9223372036854775808ms", ERR_LIMIT, 0},
    {"-9223372036854775809ms", ERR_LIMIT, 0},
    {"106751991167d", 0, 106751991167LL * 86400000},
    {"106751991168d", ERR_LIMIT, 0},
    {"9223372036854775807s", ERR_LIMIT, 0},
    {"99999999999999999999ms", ERR_LIMIT, 0},
    {"-9223372036854775s808ms", 0, INT64_MIN},
    {"", ERR_INVALID, 0},
    {"-", ERR_INVALID, 0},
    {"1", ERR_INVALID, 0},
    {"d", ERR_INVALID, 0},
    {"1h1d", ERR_INVALID, 0},
    {"1d1d", ERR_INVALID, 0},
    {"1ms1s", ERR_INVALID, 0},
    {"1x", ERR_INVALID, 0},
    {"+1d", ERR_INVALID, 0},
    {"1d ", ERR_INVALID, 0},
    {"1.5h", ERR_INVALID, 0},
    {"--1d", ERR_INVALID, 0},
    {"1d-2h", ERR_INVALID, 0},
    {"1D", ERR_INVALID, 0},
};

static void test_duration_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(dur_cases) / sizeof(dur_cases[0]); i++) {
        const struct dur_case *c = &dur_cases[i];
        struct cedar_duration d;
        struct err e;
        err_clear(&e);
        int r = cedar_duration_parse(c->in, strlen(c->in), &d, &e);
        if (r != c->rc || (r == 0 && d.ms != c->ms)) {
            fail_msg("duration(\"%s\"): rc %d ms %lld, want rc %d ms %lld (%s)", c->in, r,
                     (long long)d.ms, c->rc, (long long)c->ms, e.msg);
        }
    }
}

static void test_datetime_methods(void **state)
{
    (void)state;
    struct err e;
    struct cedar_datetime dt = {1728992282101}, out;
    struct cedar_duration d = {-1728992282101}, dd;

    assert_int_equal(cedar_datetime_offset(dt, d, &out, &e), 0);
    assert_int_equal(out.ms, 0);
    struct cedar_datetime max = {INT64_MAX}, min = {INT64_MIN};
    struct cedar_duration one = {1}, mone = {-1};
    assert_int_equal(cedar_datetime_offset(max, one, &out, &e), ERR_LIMIT);
    assert_int_equal(cedar_datetime_offset(min, mone, &out, &e), ERR_LIMIT);
    assert_int_equal(cedar_datetime_offset(max, mone, &out, &e), 0);

    struct cedar_datetime zero = {0};
    assert_int_equal(cedar_datetime_duration_since(dt, zero, &dd, &e), 0);
    assert_int_equal(dd.ms, 1728992282101);
    assert_int_equal(cedar_datetime_duration_since(min, max, &dd, &e), ERR_LIMIT);
    assert_int_equal(cedar_datetime_duration_since(max, min, &dd, &e), ERR_LIMIT);

    /* toDate / toTime, including negative datetimes (floor to the day). */
    const struct {
        int64_t in, date, time;
        int rc;
    } t[] = {
        {1728992282101, 1728950400000, 41882101, 0},
        {0, 0, 0, 0},
        {-1, -86400000, 86399999, 0},
        {-86400000, -86400000, 0, 0},
        {-86400001, -172800000, 86399999, 0},
        {INT64_MAX, INT64_MAX - INT64_MAX % 86400000, INT64_MAX % 86400000, 0},
        {INT64_MIN, 0, INT64_MIN % 86400000 + 86400000, ERR_LIMIT},
        {-62167219200000, -62167219200000, 0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct cedar_datetime x = {t[i].in};
        int r = cedar_datetime_to_date(x, &out, &e);
        assert_int_equal(r, t[i].rc);
        if (r == 0) {
            assert_int_equal(out.ms, t[i].date);
        }
        assert_int_equal(cedar_datetime_to_time(x).ms, t[i].time);
    }
}

static void test_duration_methods(void **state)
{
    (void)state;
    const struct {
        int64_t ms, s, m, h, d;
    } t[] = {
        {93784005, 93784, 1563, 26, 1},
        {-93784005, -93784, -1563, -26, -1},
        {999, 0, 0, 0, 0},
        {-999, 0, 0, 0, 0},
        {-1000, -1, 0, 0, 0},
        {86399999, 86399, 1439, 23, 0},
        {INT64_MIN, INT64_MIN / 1000, INT64_MIN / 60000, INT64_MIN / 3600000, INT64_MIN / 86400000},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        struct cedar_duration d = {t[i].ms};
        assert_int_equal(cedar_duration_to_milliseconds(d), t[i].ms);
        assert_int_equal(cedar_duration_to_seconds(d), t[i].s);
        assert_int_equal(cedar_duration_to_minutes(d), t[i].m);
        assert_int_equal(cedar_duration_to_hours(d), t[i].h);
        assert_int_equal(cedar_duration_to_days(d), t[i].d);
    }
    char buf[64];
    struct cedar_datetime dt = {1728992282101};
    cedar_datetime_format(dt, buf, sizeof(buf));
    assert_string_equal(buf, "2024-10-15T11:38:02.101Z");
    struct cedar_datetime neg = {-1};
    cedar_datetime_format(neg, buf, sizeof(buf));
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    struct cedar_duration du = {-5};
    cedar_duration_format(du, buf, sizeof(buf));
    assert_string_equal(buf, "-5ms");
}

/* ---- --values: a helper mode for the differential test ----------------
 *
 * `test_cedar_ext --values` reads lines "type<TAB>string" and prints what
 * this implementation makes of each string, one line each:
 *   ip:       ok <TAB> addr/prefix <TAB> four 0/1 flags (v4 v6 loopback multicast)
 *   decimal:  ok <TAB> scaled value
 *   datetime: ok <TAB> ms <TAB> ok|err <TAB> toDate ms
 *   duration: ok <TAB> ms
 * or "err".  tests/node/cedar-ext-difftest.mjs compares it with cedar-wasm. */
static int values_mode(void)
{
    char line[4096];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        size_t n = strlen(line);
        if (n > 0 && line[n - 1] == '\n') {
            line[--n] = '\0';
        }
        char *tab = strchr(line, '\t');
        struct err e;
        if (tab == NULL) {
            puts("err");
            continue;
        }
        *tab = '\0';
        const char *s = tab + 1;
        size_t sl = strlen(s);
        if (strcmp(line, "ip") == 0) {
            struct cedar_ip ip;
            char b[80];
            if (cedar_ip_parse(s, sl, &ip, &e) != 0) {
                puts("err");
                continue;
            }
            cedar_ip_format(&ip, b, sizeof(b));
            printf("ok\t%s\t%d%d%d%d\n", b, cedar_ip_is_ipv4(&ip), cedar_ip_is_ipv6(&ip),
                   cedar_ip_is_loopback(&ip), cedar_ip_is_multicast(&ip));
        } else if (strcmp(line, "decimal") == 0) {
            struct cedar_decimal d;
            if (cedar_decimal_parse(s, sl, &d, &e) != 0) {
                puts("err");
                continue;
            }
            printf("ok\t%lld\n", (long long)d.value);
        } else if (strcmp(line, "datetime") == 0) {
            struct cedar_datetime d, day;
            if (cedar_datetime_parse(s, sl, &d, &e) != 0) {
                puts("err");
                continue;
            }
            int r = cedar_datetime_to_date(d, &day, &e);
            printf("ok\t%lld\t%s\t%lld\n", (long long)d.ms, r ? "err" : "ok",
                   (long long)(r ? 0 : day.ms));
        } else if (strcmp(line, "duration") == 0) {
            struct cedar_duration d;
            if (cedar_duration_parse(s, sl, &d, &e) != 0) {
                puts("err");
                continue;
            }
            printf("ok\t%lld\n", (long long)d.ms);
        } else {
            puts("err");
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--values") == 0) {
        return values_mode();
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ip_parse),
        cmocka_unit_test(test_ip_predicates),
        cmocka_unit_test(test_ip_range_and_equality),
        cmocka_unit_test(test_decimal_parse),
        cmocka_unit_test(test_decimal_cmp_format),
        cmocka_unit_test(test_datetime_parse),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_datetime_methods),
        cmocka_unit_test(test_duration_methods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
