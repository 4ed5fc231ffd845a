/*
 * b64.c: strict base64url (RFC 4648 section 5) as JWS uses it (RFC 7515
 * section 2): no padding, no whitespace, no '+' or '/', and the unused bits of
 * the last character must be zero so that every byte string has exactly one
 * encoding (a token cannot be altered without changing its signature input).
 */
#include <stdlib.h>
#include <string.h>

#include "jose/jose_int.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jose_b64url_encode(const void *in, size_t n, char **out, size_t *outlen)
{
    const uint8_t *p = in;
    size_t olen, i, j = 0;
    char *s;

    *out = NULL;
    if (outlen != NULL) {
        *outlen = 0;
    }
    if (n > (SIZE_MAX - 3) / 4 * 3) {
        return ERR_LIMIT;
    }
    olen = n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
    s = malloc(olen + 1);
    if (s == NULL) {
        return ERR_NOMEM;
    }
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        s[j++] = alphabet[v >> 18 & 63];
        s[j++] = alphabet[v >> 12 & 63];
        s[j++] = alphabet[v >> 6 & 63];
        s[j++] = alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        s[j++] = alphabet[v >> 18 & 63];
        s[j++] = alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        s[j++] = alphabet[v >> 18 & 63];
        s[j++] = alphabet[v >> 12 & 63];
        s[j++] = alphabet[v >> 6 & 63];
    }
    s[j] = '\0';
    *out = s;
    if (outlen != NULL) {
        *outlen = j;
    }
    return 0;
}

static int val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

int jose_b64url_decode(const char *in, size_t n, uint8_t **out, size_t *outlen, struct err *e)
{
    size_t i, j = 0, olen;
    uint32_t acc = 0;
    uint8_t *o;
    int bits = 0;

    *out = NULL;
    *outlen = 0;
    if (n % 4 == 1) {
        return err_set(e, ERR_INVALID, "base64url: impossible length %zu", n);
    }
    olen = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    o = malloc(olen + 1);
    if (o == NULL) {
        return err_set(e, ERR_NOMEM, "base64url: out of memory");
    }
    for (i = 0; i < n; i++) {
        int v = val((unsigned char)in[i]);
        if (v < 0) {
            free(o);
            return err_set(e, ERR_INVALID, "base64url: invalid character at offset %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[j++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) {
        free(o);
        return err_set(e, ERR_INVALID, "base64url: non-zero trailing bits (non-canonical)");
    }
    o[j] = 0;
    *out = o;
    *outlen = j;
    return 0;
}
