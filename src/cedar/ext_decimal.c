/*
 * ext_decimal.c: Cedar's decimal extension type (4 fractional digits).
 *
 * Syntax `-?[0-9]+\.[0-9]+` with 1 to 4 digits after the point, value
 * stored as an i64 scaled by 10^4.  The reference computes the integer part
 * as an i64 (any number of leading zeros), multiplies by 10^4, then adds the
 * scaled fraction, or subtracts it when the text starts with '-' (so "-0.1"
 * is -0.1); every step is overflow-checked.
 */
#include "cedar/ext.h"

#include <stdio.h>

static const int64_t pow10_tab[CEDAR_DECIMAL_DIGITS + 1] = {1, 10, 100, 1000, 10000};

/* Parses s[0..n) (ASCII digits only, optional leading '-') as an i64 the
 * way Rust's i64::from_str does; false on overflow. */
static bool parse_i64(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg ? 1 : 0;
    int64_t v = 0;
    for (; i < n; i++) {
        int d = s[i] - '0';
        if (__builtin_mul_overflow(v, 10, &v)) {
            return false;
        }
        if (neg ? __builtin_sub_overflow(v, d, &v) : __builtin_add_overflow(v, d, &v)) {
            return false;
        }
    }
    *out = v;
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

int cedar_decimal_parse(const char *s, size_t n, struct cedar_decimal *out, struct err *e)
{
    out->value = 0;
    bool neg = n > 0 && s[0] == '-';
    size_t start = neg ? 1 : 0, dot = start;
    while (dot < n && s[dot] != '.') {
        dot++;
    }
    if (dot >= n || !all_digits(s + start, dot - start) || !all_digits(s + dot + 1, n - dot - 1)) {
        return err_set(e, ERR_INVALID, "`%.*s` is not a well-formed decimal value",
                       (int)(n > 64 ? 64 : n), s);
    }
    int64_t l, r, v;
    if (!parse_i64(s, dot, &l) || __builtin_mul_overflow(l, pow10_tab[CEDAR_DECIMAL_DIGITS], &l)) {
        return err_set(e, ERR_LIMIT, "overflow when converting to decimal");
    }
    size_t flen = n - dot - 1;
    if (flen > CEDAR_DECIMAL_DIGITS) {
        return err_set(e, ERR_INVALID, "too many digits after the decimal in `%.*s`",
                       (int)(n > 64 ? 64 : n), s);
    }
    if (!parse_i64(s + dot + 1, flen, &r)) {
        return err_set(e, ERR_LIMIT, "overflow when converting to decimal");
    }
    r *= pow10_tab[CEDAR_DECIMAL_DIGITS - flen];
    if (neg ? __builtin_sub_overflow(l, r, &v) : __builtin_add_overflow(l, r, &v)) {
        return err_set(e, ERR_LIMIT, "overflow when converting to decimal");
    }
    out->value = v;
    return 0;
}

int cedar_decimal_cmp(const struct cedar_decimal *a, const struct cedar_decimal *b)
{
    return a->value < b->value ? -1 : a->value > b->value ? 1 : 0;
}

size_t cedar_decimal_format(const struct cedar_decimal *d, char *out, size_t cap)
{
    int64_t scale = pow10_tab[CEDAR_DECIMAL_DIGITS];
    int64_t ip = d->value / scale, fp = d->value % scale;
    uint64_t frac = (uint64_t)(fp < 0 ? -fp : fp);
    char digits[8];
    snprintf(digits, sizeof(digits), "%04llu", (unsigned long long)frac);
    size_t k = CEDAR_DECIMAL_DIGITS;
    while (k > 1 && digits[k - 1] == '0') {
        k--;
    }
    digits[k] = '\0';
    const char *sign = (d->value < 0 && ip == 0) ? "-" : "";
    return (size_t)snprintf(out, cap, "%s%lld.%s", sign, (long long)ip, digits);
}
