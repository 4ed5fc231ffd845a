/*
 * num.h: strict, length-bounded, range-checked number parsing.
 *
 * Only optional '-' followed by ASCII digits; no spaces, no '+', no leading
 * zeros ("0" itself is fine), nothing after the digits.  Never atoi.
 */
#ifndef MANDATE_UTIL_NUM_H
#define MANDATE_UTIL_NUM_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

/* Parses s[0..n) as a decimal integer in [min, max] into *out.
 * Returns 0, ERR_INVALID (not a number) or ERR_LIMIT (out of range). */
int num_parse_i64(const char *s, size_t n, int64_t min, int64_t max, int64_t *out) MUST_CHECK;

/* As num_parse_i64 for unsigned values; '-' is refused. */
int num_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out) MUST_CHECK;

#endif
