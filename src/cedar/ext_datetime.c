/*
 * ext_datetime.c: Cedar's datetime and duration extension types.
 *
 * A datetime is i64 milliseconds since the Unix epoch, a duration i64
 * milliseconds.  Parsing follows the reference (datetime.rs): a strict
 * YYYY-MM-DD date checked against the calendar, then optionally
 * Thh:mm:ss, optional .SSS and Z or a (+|-)hhmm offset; durations are
 * unit-number pairs d h m s ms in that order.  All arithmetic is checked.
 */
#include "cedar/ext.h"

#include <stdio.h>

static bool digits_at(const char *s, size_t n, size_t at, size_t count, int *out)
{
    int v = 0;
    if (at + count > n) {
        return false;
    }
    for (size_t i = at; i < at + count; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Parses the part after hh:mm:ss: `(\.[0-9]{3})?(Z|(+|-)[0-9]{4})$`. */
static bool parse_ms_offset(const char *s, size_t n, size_t i, int *ms, int64_t *off_s, int *oh,
                            int *om)
{
    *ms = 0;
    *off_s = 0;
    *oh = *om = 0;
    if (i < n && s[i] == '.') {
        if (!digits_at(s, n, i + 1, 3, ms)) {
            return false;
        }
        i += 4;
    }
    if (i < n && s[i] == 'Z') {
        return i + 1 == n;
    }
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        bool pos = s[i] == '+';
        if (!digits_at(s, n, i + 1, 2, oh) || !digits_at(s, n, i + 3, 2, om) || i + 5 != n) {
            return false;
        }
        int64_t secs = (int64_t)*oh * 3600 + (int64_t)*om * 60;
        *off_s = pos ? secs : -secs;
        return true;
    }
    return false;
}

int cedar_datetime_parse(const char *s, size_t n, struct cedar_datetime *out, struct err *e)
{
    int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, oh = 0, om = 0;
    int64_t off_s = 0;
    out->ms = 0;
    if (!digits_at(s, n, 0, 4, &y) || n < 5 || s[4] != '-' || !digits_at(s, n, 5, 2, &mo) ||
        n < 8 || s[7] != '-' || !digits_at(s, n, 8, 2, &d)) {
        return err_set(e, ERR_INVALID, "invalid date pattern: a datetime starts with YYYY-MM-DD");
    }
    if (n > 10) {
        if (s[10] != 'T' || !digits_at(s, n, 11, 2, &h) || n < 14 || s[13] != ':' ||
            !digits_at(s, n, 14, 2, &mi) || n < 17 || s[16] != ':' ||
            !digits_at(s, n, 17, 2, &sec)) {
            return err_set(e, ERR_INVALID, "invalid hour/minute/second pattern");
        }
        if (!parse_ms_offset(s, n, 19, &ms, &off_s, &oh, &om)) {
            return err_set(e, ERR_INVALID,
                           "invalid millisecond and/or offset pattern: a datetime ends with "
                           "Z|.SSSZ|(+|-)hhmm|.SSS(+|-)hhmm");
        }
    }
    /* Syntax first, then the date, the time and the offset, as the reference. */
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo)) {
        return err_set(e, ERR_INVALID, "invalid date: %.10s", s);
    }
    if (h >= 24 || mi >= 60 || sec >= 60) {
        return err_set(e, ERR_INVALID, "invalid hour/minute/second: %.8s", s + 11);
    }
    if (oh >= 24 || om >= 60) {
        return err_set(e, ERR_INVALID, "invalid offset range: %02d%02d", oh, om);
    }
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - off_s;
    out->ms = secs * 1000 + ms;
    return 0;
}

/* Reads `[0-9]+` at *ip as a u64 into *v; false if there are no digits.
 * *ovf is set when the number does not fit u64 (the reference's error). */
static bool read_u64(const char *s, size_t n, size_t *ip, uint64_t *v, bool *ovf)
{
    size_t i = *ip;
    uint64_t x = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, s[i] - '0', &x)) {
            *ovf = true;
        }
        i++;
    }
    if (i == *ip) {
        return false;
    }
    *ip = i;
    *v = x;
    return true;
}

/* Units in the order they must appear: d h m s ms. */
enum { U_D, U_H, U_M, U_S, U_MS, U_COUNT };

static int read_unit(const char *s, size_t n, size_t *ip)
{
    size_t i = *ip;
    if (i >= n) {
        return -1;
    }
    int u = -1;
    switch (s[i]) {
    case 'd':
        u = U_D;
        break;
    case 'h':
        u = U_H;
        break;
    case 's':
        u = U_S;
        break;
    case 'm':
        u = (i + 1 < n && s[i + 1] == 's') ? U_MS : U_M;
        break;
    default:
        return -1;
    }
    *ip = i + (u == U_MS ? 2 : 1);
    return u;
}

int cedar_duration_parse(const char *s, size_t n, struct cedar_duration *out, struct err *e)
{
    static const int64_t unit_ms[U_COUNT] = {86400000, 3600000, 60000, 1000, 1};
    uint64_t val[U_COUNT] = {0};
    bool ovf = false;
    out->ms = 0;
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    int last = -1;
    if (i >= n) {
        return err_set(e, ERR_INVALID, "invalid duration pattern");
    }
    while (i < n) {
        uint64_t v;
        if (!read_u64(s, n, &i, &v, &ovf)) {
            return err_set(e, ERR_INVALID, "invalid duration pattern");
        }
        int u = read_unit(s, n, &i);
        if (u < 0 || u <= last) {
            return err_set(e, ERR_INVALID, "invalid duration pattern");
        }
        val[u] = v;
        last = u;
    }
    if (ovf) {
        return err_set(e, ERR_LIMIT, "duration overflows internal representation");
    }
    /* ms first (negated through a wider type so -9223372036854775808ms fits),
     * then s, m, h, d, each multiplied and added or subtracted, checked. */
    int64_t ms;
    if (neg) {
        if (val[U_MS] > (uint64_t)INT64_MAX + 1) {
            goto overflow;
        }
        ms = val[U_MS] == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)val[U_MS];
    } else {
        if (val[U_MS] > (uint64_t)INT64_MAX) {
            goto overflow;
        }
        ms = (int64_t)val[U_MS];
    }
    for (int u = U_S; u >= U_D; u--) {
        int64_t prod;
        if (val[u] > (uint64_t)INT64_MAX ||
            __builtin_mul_overflow((int64_t)val[u], unit_ms[u], &prod)) {
            goto overflow;
        }
        if (neg ? __builtin_sub_overflow(ms, prod, &ms) : __builtin_add_overflow(ms, prod, &ms)) {
            goto overflow;
        }
    }
    out->ms = ms;
    return 0;
overflow:
    return err_set(e, ERR_LIMIT, "duration overflows internal representation");
}

int cedar_datetime_offset(struct cedar_datetime dt, struct cedar_duration d,
                          struct cedar_datetime *out, struct err *e)
{
    if (__builtin_add_overflow(dt.ms, d.ms, &out->ms)) {
        out->ms = 0;
        return err_set(e, ERR_LIMIT, "overflow when adding an offset");
    }
    return 0;
}

int cedar_datetime_duration_since(struct cedar_datetime a, struct cedar_datetime b,
                                  struct cedar_duration *out, struct err *e)
{
    if (__builtin_sub_overflow(a.ms, b.ms, &out->ms)) {
        out->ms = 0;
        return err_set(e, ERR_LIMIT, "overflow when computing a duration between datetimes");
    }
    return 0;
}

int cedar_datetime_to_date(struct cedar_datetime dt, struct cedar_datetime *out, struct err *e)
{
    if (dt.ms >= 0 || dt.ms % CEDAR_DAY_MS == 0) {
        out->ms = dt.ms - dt.ms % CEDAR_DAY_MS;
        return 0;
    }
    if (__builtin_mul_overflow(dt.ms / CEDAR_DAY_MS - 1, CEDAR_DAY_MS, &out->ms)) {
        out->ms = 0;
        return err_set(e, ERR_LIMIT, "overflow when computing the date of a datetime");
    }
    return 0;
}

struct cedar_duration cedar_datetime_to_time(struct cedar_datetime dt)
{
    int64_t r = dt.ms % CEDAR_DAY_MS;
    struct cedar_duration d = {r < 0 ? r + CEDAR_DAY_MS : r};
    return d;
}

int64_t cedar_duration_to_milliseconds(struct cedar_duration d)
{
    return d.ms;
}

int64_t cedar_duration_to_seconds(struct cedar_duration d)
{
    return d.ms / 1000;
}

int64_t cedar_duration_to_minutes(struct cedar_duration d)
{
    return d.ms / 60000;
}

int64_t cedar_duration_to_hours(struct cedar_duration d)
{
    return d.ms / 3600000;
}

int64_t cedar_duration_to_days(struct cedar_duration d)
{
    return d.ms / CEDAR_DAY_MS;
}

size_t cedar_datetime_format(struct cedar_datetime dt, char *out, size_t cap)
{
    int64_t days = dt.ms / CEDAR_DAY_MS, rem = dt.ms % CEDAR_DAY_MS;
    if (rem < 0) {
        rem += CEDAR_DAY_MS;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999) {
        return (size_t)snprintf(out, cap, "%lldms since epoch", (long long)dt.ms);
    }
    int64_t s = rem / 1000;
    return (size_t)snprintf(out, cap, "%04lld-%02d-%02dT%02lld:%02lld:%02lld.%03lldZ", (long long)y,
                            m, d, (long long)(s / 3600), (long long)(s / 60 % 60),
                            (long long)(s % 60), (long long)(rem % 1000));
}

size_t cedar_duration_format(struct cedar_duration d, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "%lldms", (long long)d.ms);
}
