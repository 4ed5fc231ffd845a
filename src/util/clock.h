/*
 * clock.h: wall and monotonic time, replaceable in tests.
 *
 * Everything that reads the time (token expiry, audit timestamps, rate
 * limits) goes through here so tests can move time without sleeping.
 */
#ifndef MANDATE_UTIL_CLOCK_H
#define MANDATE_UTIL_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
int64_t clock_wall_ms(void);

/* Seconds since the Unix epoch. */
int64_t clock_wall_s(void);

/* Nanoseconds from an arbitrary fixed point; never goes back. */
int64_t clock_mono_ns(void);

/* Tests: make clock_wall_ms return fn() (NULL restores the real clock).
 * Not thread-safe against concurrent readers; set it before starting work. */
void clock_set_wall(int64_t (*fn)(void));
void clock_set_mono(int64_t (*fn)(void));

/* Formats ms since the epoch as RFC 3339 UTC with milliseconds
 * ("2026-12-04T15:44:00.123Z") into out, which holds at least 25 bytes. */
void clock_format_rfc3339(int64_t ms, char out[32]);

#endif
