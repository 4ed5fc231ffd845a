/*
 * form.c: application/x-www-form-urlencoded bodies (the OAuth endpoints:
 * token exchange, introspection, revocation), one decoder for all of them.
 *
 * The body is read from (pointer, length), never as a C string.  Every
 * parameter must be one the endpoint knows, given at most once and not
 * empty; '+' is a space, %XX a byte; a NUL byte, a control character or a
 * broken escape refuses the whole form.  Decoded values live in the
 * request's arena.
 */
#include <string.h>

#include "http/http_int.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

char *http_form_decode(struct arena *a, const char *s, size_t n)
{
    char *out = arena_alloc(a, n + 1);
    size_t i, j = 0;

    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            out[j++] = ' ';
        } else if (s[i] == '%') {
            int h, l;
            if (i + 2 >= n) {
                return NULL;
            }
            h = hexval(s[i + 1]);
            l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                return NULL;
            }
            out[j++] = (char)(h * 16 + l);
            i += 2;
        } else if ((unsigned char)s[i] < 0x20) {
            return NULL;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

int http_form_parse(struct http_req *rq, const char *const *names, size_t n, size_t max_params,
                    const char **vals, const char **why)
{
    const char *p = rq->body.data, *end = p + rq->body.len;
    size_t count = 0, k;

    memset(vals, 0, n * sizeof(*vals));
    if (p == NULL || rq->body.len == 0) {
        *why = "the body is empty: send the form parameters";
        return -1;
    }
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pe = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        char *name, *val;

        if (++count > max_params) {
            *why = "too many form parameters";
            return -1;
        }
        if (eq == NULL || eq == p) {
            *why = "malformed form: expected name=value pairs separated by &";
            return -1;
        }
        name = http_form_decode(&rq->arena, p, (size_t)(eq - p));
        val = http_form_decode(&rq->arena, eq + 1, (size_t)(pe - eq - 1));
        if (name == NULL || val == NULL) {
            *why = "malformed form: bad percent-encoding";
            return -1;
        }
        for (k = 0; k < n && strcmp(names[k], name) != 0; k++) {
        }
        if (k == n) {
            *why = arena_printf(&rq->arena, "unknown parameter \"%.64s\"", name);
            return -1;
        }
        if (vals[k] != NULL) {
            *why = arena_printf(&rq->arena, "parameter %s given twice", names[k]);
            return -1;
        }
        if (val[0] == '\0') {
            *why = arena_printf(&rq->arena, "parameter %s is empty", names[k]);
            return -1;
        }
        vals[k] = val;
        p = amp ? amp + 1 : end;
    }
    return 0;
}
