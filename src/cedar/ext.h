/*
 * ext.h: Cedar's extension types (ipaddr, decimal, datetime, duration) as
 * plain C values and functions.
 *
 * Nothing here knows the evaluator's values: the evaluator (eval.c) and the
 * schema-directed JSON reader (json.c) wrap these small structs.  Semantics
 * follow the Rust reference, cedar-policy 4.10 (cedar-policy-core
 * src/extensions/{ipaddr,decimal,datetime}.rs): the same accepted syntax, the
 * same overflow errors, the same rounding.  Every fallible function returns 0
 * or a negative ERR_* code with a message in the caller's struct err.
 */
#ifndef MANDATE_CEDAR_EXT_H
#define MANDATE_CEDAR_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cedar/cedar.h"
#include "util/err.h"

/* ---- ipaddr ------------------------------------------------------------- */

/* struct cedar_ip (an address with its CIDR prefix, 32 or 128 for a single
 * address) is defined in cedar.h because values hold it.  The address is kept
 * as written, not masked: ip("10.0.0.1/24") and ip("10.0.0.0/24") are
 * different values, as in the reference. */

/* Parses s[0..n) the way the reference's ip() does: an IPv4 dotted quad (no
 * leading zeros) or an IPv6 address (Rust std syntax, `::` once), optionally
 * followed by `/prefix` (digits, no leading zero, <= 32 or 128).  IPv4
 * embedded in IPv6 (`::ffff:1.2.3.4`), zone ids and strings over 43 bytes
 * are refused.  Returns 0 or ERR_INVALID. */
int cedar_ip_parse(const char *s, size_t n, struct cedar_ip *out, struct err *e) MUST_CHECK;

/* Equality as the reference defines it: family, address bytes and prefix. */
bool cedar_ip_equal(const struct cedar_ip *a, const struct cedar_ip *b);
/* A total order (family, address, prefix) for sorting sets; -1, 0, 1. */
int cedar_ip_cmp(const struct cedar_ip *a, const struct cedar_ip *b);

bool cedar_ip_is_ipv4(const struct cedar_ip *ip);
bool cedar_ip_is_ipv6(const struct cedar_ip *ip);
/* 127.0.0.0/8 with prefix >= 8; ::1 with prefix 128. */
bool cedar_ip_is_loopback(const struct cedar_ip *ip);
/* 224.0.0.0/4 with prefix >= 4; ff00::/8 with prefix >= 8. */
bool cedar_ip_is_multicast(const struct cedar_ip *ip);
/* True when the whole range of ip lies inside range; false across families. */
bool cedar_ip_is_in_range(const struct cedar_ip *ip, const struct cedar_ip *range);

/* Writes "addr/prefix" (e.g. "10.0.0.1/32", "::1/128") into out (size cap,
 * NUL-terminated, truncated if short; 64 bytes always suffice).  Returns the
 * length it wanted to write. */
size_t cedar_ip_format(const struct cedar_ip *ip, char *out, size_t cap);

/* ---- decimal ------------------------------------------------------------ */

/* A fixed-point number with 4 fractional digits: value / 10^4. */
struct cedar_decimal {
    int64_t value;
};

#define CEDAR_DECIMAL_DIGITS 4

/* Parses `-?[0-9]+\.[0-9]+` with 1 to 4 fractional digits into the i64 range
 * scaled by 10^4.  "1.0" ok, "1" and "1.00000" invalid, "-0.1" is -0.1.
 * Returns 0, ERR_INVALID (syntax, too many digits) or ERR_LIMIT (overflow). */
int cedar_decimal_parse(const char *s, size_t n, struct cedar_decimal *out,
                        struct err *e) MUST_CHECK;
/* -1, 0, 1. */
int cedar_decimal_cmp(const struct cedar_decimal *a, const struct cedar_decimal *b);
/* Writes the shortest form with at least one fractional digit ("1.5",
 * "-0.0001"); same contract as cedar_ip_format (32 bytes suffice). */
size_t cedar_decimal_format(const struct cedar_decimal *d, char *out, size_t cap);

/* ---- datetime and duration ---------------------------------------------- */

/* Milliseconds since 1970-01-01T00:00:00Z (non-leap), any i64. */
struct cedar_datetime {
    int64_t ms;
};

/* A signed length of time in milliseconds, any i64. */
struct cedar_duration {
    int64_t ms;
};

#define CEDAR_DAY_MS ((int64_t)86400000)

/* Parses YYYY-MM-DD, YYYY-MM-DDThh:mm:ssZ, YYYY-MM-DDThh:mm:ss.SSSZ,
 * YYYY-MM-DDThh:mm:ss(+|-)hhmm or YYYY-MM-DDThh:mm:ss.SSS(+|-)hhmm with a
 * real calendar date (years 0000-9999), hh < 24, mm < 60, ss < 60 (no leap
 * second) and an offset under 24h.  Returns 0 or ERR_INVALID. */
int cedar_datetime_parse(const char *s, size_t n, struct cedar_datetime *out,
                         struct err *e) MUST_CHECK;

/* Parses `-?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?` with at
 * least one unit.  Returns 0, ERR_INVALID or ERR_LIMIT (does not fit i64 ms). */
int cedar_duration_parse(const char *s, size_t n, struct cedar_duration *out,
                         struct err *e) MUST_CHECK;

/* dt + d; ERR_LIMIT on overflow. */
int cedar_datetime_offset(struct cedar_datetime dt, struct cedar_duration d,
                          struct cedar_datetime *out, struct err *e) MUST_CHECK;
/* a - b as a duration; ERR_LIMIT on overflow. */
int cedar_datetime_duration_since(struct cedar_datetime a, struct cedar_datetime b,
                                  struct cedar_duration *out, struct err *e) MUST_CHECK;
/* Midnight of dt's day (rounds towards negative infinity); ERR_LIMIT when that
 * does not fit i64. */
int cedar_datetime_to_date(struct cedar_datetime dt, struct cedar_datetime *out,
                           struct err *e) MUST_CHECK;
/* Time since dt's midnight, in [0, 1 day). Never fails. */
struct cedar_duration cedar_datetime_to_time(struct cedar_datetime dt);

/* Whole units, truncated towards zero (Rust integer division). */
int64_t cedar_duration_to_milliseconds(struct cedar_duration d);
int64_t cedar_duration_to_seconds(struct cedar_duration d);
int64_t cedar_duration_to_minutes(struct cedar_duration d);
int64_t cedar_duration_to_hours(struct cedar_duration d);
int64_t cedar_duration_to_days(struct cedar_duration d);

/* Formats: datetime as "YYYY-MM-DDThh:mm:ss.SSSZ" when the year is in
 * 0000-9999, else as "<ms>ms since epoch"; duration as "<ms>ms". */
size_t cedar_datetime_format(struct cedar_datetime dt, char *out, size_t cap);
size_t cedar_duration_format(struct cedar_duration d, char *out, size_t cap);

#endif
