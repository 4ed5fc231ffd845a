/* num.c: strict decimal parsing (Redis string2ll, nginx ngx_atoi). */
#include "util/num.h"

static int digits(const char *s, size_t n, uint64_t limit, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0 || n > 20 || (n > 1 && s[0] == '0')) {
        return ERR_INVALID;
    }
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) {
            return ERR_INVALID;
        }
        if (v > (limit - d) / 10) {
            /* keep scanning so "12x" with a huge prefix is still INVALID */
            for (; i < n; i++) {
                if ((unsigned char)s[i] - '0' > 9) {
                    return ERR_INVALID;
                }
            }
            return ERR_LIMIT;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int num_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v;
    int r = digits(s, n, UINT64_MAX, &v);

    if (r != 0) {
        return r;
    }
    if (v > max) {
        return ERR_LIMIT;
    }
    *out = v;
    return 0;
}

int num_parse_i64(const char *s, size_t n, int64_t min, int64_t max, int64_t *out)
{
    uint64_t v;
    int64_t x;
    int r;

    if (n > 0 && s[0] == '-') {
        r = digits(s + 1, n - 1, (uint64_t)INT64_MAX + 1, &v);
        if (r != 0) {
            return r;
        }
        if (v == 0 && n == 2) {
            return ERR_INVALID; /* "-0" */
        }
        x = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        r = digits(s, n, (uint64_t)INT64_MAX, &v);
        if (r != 0) {
            return r;
        }
        x = (int64_t)v;
    }
    if (x < min || x > max) {
        return ERR_LIMIT;
    }
    *out = x;
    return 0;
}
