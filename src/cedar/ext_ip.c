/*
 * ext_ip.c: Cedar's ipaddr extension type.
 *
 * The accepted syntax is the reference's: Rust std's IpAddr parser for the
 * address (IPv4 dotted quad without leading zeros, IPv6 with at most one
 * `::`), then Cedar's own rules: at most 43 bytes, no string with two colons
 * and two dots (IPv4 embedded in IPv6), and a strict prefix after '/'.
 */
#include "cedar/cedar_int.h"
#include "cedar/ext.h"

#include <stdio.h>
#include <string.h>

/* len("ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128"): the reference refuses
 * anything longer before parsing. */
#define IP_STR_MAX 43

static bool count_at_least_two(const char *s, size_t n, char c)
{
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == c && ++k >= 2) {
            return true;
        }
    }
    return false;
}

/* Rust Ipv4Addr::from_str: four decimal octets of 1-3 digits, no leading
 * zero unless the octet is "0", each <= 255, nothing else. */
static bool parse_v4(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.') {
                return false;
            }
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) {
            v = v * 10 + (unsigned)(s[i] - '0');
            i++;
        }
        size_t digits = i - start;
        if (digits == 0 || v > 255 || (digits > 1 && s[start] == '0')) {
            return false;
        }
        if (i < n && s[i] >= '0' && s[i] <= '9') {
            return false; /* a fourth digit */
        }
        out[part] = (uint8_t)v;
    }
    return i == n;
}

/* Reads groups "h(:h)*" starting at *ip, at most max groups, each 1-4 hex
 * digits.  A group after the first needs a ':' before it; a ':' not followed
 * by a group is left unread (it may start a "::"). */
static size_t read_groups(const char *s, size_t n, size_t *ip, uint16_t *g, size_t max)
{
    size_t i = *ip, count = 0;
    while (count < max) {
        size_t j = i;
        if (count > 0) {
            if (j >= n || s[j] != ':') {
                break;
            }
            j++;
        }
        size_t start = j;
        unsigned v = 0;
        while (j < n && j - start < 4 && cedar_hexval(s[j]) >= 0) {
            v = v * 16 + (unsigned)cedar_hexval(s[j]);
            j++;
        }
        if (j == start || (j < n && j - start == 4 && cedar_hexval(s[j]) >= 0)) {
            break; /* no digit, or a fifth digit: not a group */
        }
        g[count++] = (uint16_t)v;
        i = j;
    }
    *ip = i;
    return count;
}

/* Rust Ipv6Addr::from_str without the embedded-IPv4 tail (Cedar refuses it
 * before we get here). */
static bool parse_v6(const char *s, size_t n, uint8_t out[16])
{
    uint16_t head[8] = {0}, tail[7] = {0};
    size_t i = 0;
    size_t nh = read_groups(s, n, &i, head, 8);
    size_t nt = 0;
    if (nh < 8) {
        if (i + 1 >= n || s[i] != ':' || s[i + 1] != ':') {
            return false;
        }
        i += 2;
        nt = read_groups(s, n, &i, tail, 8 - (nh + 1));
        for (size_t k = 0; k < nt; k++) {
            head[8 - nt + k] = tail[k];
        }
    }
    if (i != n) {
        return false;
    }
    for (int k = 0; k < 8; k++) {
        out[2 * k] = (uint8_t)(head[k] >> 8);
        out[2 * k + 1] = (uint8_t)(head[k] & 0xff);
    }
    return true;
}

/* Cedar's parse_prefix: at most 2 (v4) or 3 (v6) ASCII digits, no leading
 * zero unless "0", at most 32 or 128. */
static bool parse_prefix(const char *s, size_t n, bool v6, uint8_t *out)
{
    size_t maxlen = v6 ? 3 : 2;
    unsigned max = v6 ? 128 : 32, v = 0;
    if (n == 0 || n > maxlen || (n > 1 && s[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > max) {
        return false;
    }
    *out = (uint8_t)v;
    return true;
}

int cedar_ip_parse(const char *s, size_t n, struct cedar_ip *out, struct err *e)
{
    memset(out, 0, sizeof(*out));
    if (n > IP_STR_MAX) {
        return err_set(e, ERR_INVALID, "invalid IP address: string length %zu is too large", n);
    }
    if (count_at_least_two(s, n, ':') && count_at_least_two(s, n, '.')) {
        return err_set(e, ERR_INVALID,
                       "invalid IP address: IPv4 embedded in IPv6 (e.g. ::ffff:127.0.0.1) is "
                       "not accepted");
    }
    const char *slash = memchr(s, '/', n);
    size_t alen = slash ? (size_t)(slash - s) : n;
    struct cedar_ip ip = {0};
    if (parse_v4(s, alen, ip.addr)) {
        ip.v6 = false;
    } else if (parse_v6(s, alen, ip.addr)) {
        ip.v6 = true;
    } else {
        return err_set(e, ERR_INVALID, "invalid IP address: `%.*s`", (int)alen, s);
    }
    if (slash) {
        if (!parse_prefix(slash + 1, n - alen - 1, ip.v6, &ip.prefix)) {
            return err_set(e, ERR_INVALID, "invalid IP prefix: `%.*s`", (int)(n - alen - 1),
                           slash + 1);
        }
    } else {
        ip.prefix = ip.v6 ? 128 : 32;
    }
    *out = ip;
    return 0;
}

bool cedar_ip_equal(const struct cedar_ip *a, const struct cedar_ip *b)
{
    return cedar_ip_cmp(a, b) == 0;
}

int cedar_ip_cmp(const struct cedar_ip *a, const struct cedar_ip *b)
{
    if (a->v6 != b->v6) {
        return a->v6 ? 1 : -1;
    }
    int c = memcmp(a->addr, b->addr, a->v6 ? 16 : 4);
    if (c != 0) {
        return c < 0 ? -1 : 1;
    }
    if (a->prefix != b->prefix) {
        return a->prefix < b->prefix ? -1 : 1;
    }
    return 0;
}

bool cedar_ip_is_ipv4(const struct cedar_ip *ip)
{
    return !ip->v6;
}

bool cedar_ip_is_ipv6(const struct cedar_ip *ip)
{
    return ip->v6;
}

bool cedar_ip_is_loopback(const struct cedar_ip *ip)
{
    if (!ip->v6) {
        return ip->addr[0] == 127 && ip->prefix >= 8;
    }
    for (int i = 0; i < 15; i++) {
        if (ip->addr[i] != 0) {
            return false;
        }
    }
    return ip->addr[15] == 1 && ip->prefix >= 128;
}

bool cedar_ip_is_multicast(const struct cedar_ip *ip)
{
    if (!ip->v6) {
        return (ip->addr[0] & 0xf0) == 0xe0 && ip->prefix >= 4;
    }
    return ip->addr[0] == 0xff && ip->prefix >= 8;
}

/* Network (host bits cleared) and broadcast (host bits set) of ip, as
 * 16-byte big-endian numbers (v4 in the first 4 bytes). */
static void ip_bounds(const struct cedar_ip *ip, uint8_t lo[16], uint8_t hi[16])
{
    int bytes = ip->v6 ? 16 : 4;
    memset(lo, 0, 16);
    memset(hi, 0, 16);
    for (int i = 0; i < bytes; i++) {
        int bits = (int)ip->prefix - 8 * i; /* network bits in this byte */
        uint8_t mask;
        if (bits >= 8) {
            mask = 0xff;
        } else if (bits <= 0) {
            mask = 0;
        } else {
            mask = (uint8_t)(0xff << (8 - bits));
        }
        lo[i] = ip->addr[i] & mask;
        hi[i] = ip->addr[i] | (uint8_t)~mask;
    }
}

bool cedar_ip_is_in_range(const struct cedar_ip *ip, const struct cedar_ip *range)
{
    if (ip->v6 != range->v6) {
        return false;
    }
    uint8_t slo[16], shi[16], rlo[16], rhi[16];
    ip_bounds(ip, slo, shi);
    ip_bounds(range, rlo, rhi);
    return memcmp(rlo, slo, 16) <= 0 && memcmp(shi, rhi, 16) <= 0;
}

/* Rust's Display for Ipv6Addr: the longest run (>= 2) of zero groups becomes
 * "::" (the first such run on ties); groups in lower-case hex. */
static size_t format_v6(const uint8_t *a, char *out, size_t cap)
{
    uint16_t g[8];
    for (int i = 0; i < 8; i++) {
        g[i] = (uint16_t)((a[2 * i] << 8) | a[2 * i + 1]);
    }
    int best = -1, bestlen = 0;
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && g[j] == 0) {
            j++;
        }
        if (j - i > bestlen && j - i >= 2) {
            best = i;
            bestlen = j - i;
        }
        i = j > i ? j : i + 1;
    }
    char tmp[48];
    size_t len = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "::");
            i += bestlen - 1;
            continue;
        }
        bool sep = i > 0 && i != best + bestlen;
        len += (size_t)snprintf(tmp + len, sizeof(tmp) - len, "%s%x", sep ? ":" : "", g[i]);
    }
    return (size_t)snprintf(out, cap, "%s", tmp);
}

size_t cedar_ip_format(const struct cedar_ip *ip, char *out, size_t cap)
{
    /* Always hex groups, even for IPv4-mapped addresses (Rust prints those
     * as ::ffff:a.b.c.d, which ip() refuses): the text must parse back. */
    char addr[48];
    if (ip->v6) {
        format_v6(ip->addr, addr, sizeof(addr));
    } else {
        snprintf(addr, sizeof(addr), "%u.%u.%u.%u", ip->addr[0], ip->addr[1], ip->addr[2],
                 ip->addr[3]);
    }
    return (size_t)snprintf(out, cap, "%s/%u", addr, ip->prefix);
}
