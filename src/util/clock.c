/* clock.c: real clocks with a test override. */
#include "util/clock.h"

#include <stdio.h>
#include <time.h>

static int64_t (*wall_fn)(void);
static int64_t (*mono_fn)(void);

int64_t clock_wall_ms(void)
{
    struct timespec ts;

    if (wall_fn != NULL) {
        return wall_fn();
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_wall_s(void)
{
    int64_t ms = clock_wall_ms();

    return ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
}

int64_t clock_mono_ns(void)
{
    struct timespec ts;

    if (mono_fn != NULL) {
        return mono_fn();
    }
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void clock_set_wall(int64_t (*fn)(void))
{
    wall_fn = fn;
}

void clock_set_mono(int64_t (*fn)(void))
{
    mono_fn = fn;
}

void clock_format_rfc3339(int64_t ms, char out[32])
{
    time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    int frac = (int)(ms - (int64_t)s * 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}
