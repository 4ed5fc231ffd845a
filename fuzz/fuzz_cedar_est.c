/*
 * fuzz_cedar_est.c: libFuzzer target for the JSON policy format reader
 * (cedar_policyset_from_json) and, when the input is accepted, the writer
 * and the formatter.
 *
 * Invariants checked (a violation traps): what the reader accepts, the
 * writer can write; reading that back gives the same JSON; the formatter can
 * print every accepted policy, and when its text parses, the text means the
 * same policy (same JSON form).
 */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar.h"

/* json_equal looks keys up as C strings, so keys holding NUL (valid in
 * Cedar records) compare wrongly: compare the serialized forms instead. */
static int same_json(json_t *a, json_t *b)
{
    char *x = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY),
         *y = json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY);
    int r = x != NULL && y != NULL && strcmp(x, y) == 0;
    free(x);
    free(y);
    return r;
}
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *set_json(struct cedar_policyset *ps)
{
    json_t *j = NULL;
    struct err e;
    if (cedar_policyset_to_json(ps, &j, &e) != 0) {
        __builtin_trap();
    }
    return j;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cedar_policyset *ps = NULL, *back = NULL, *fmt = NULL;
    struct err e;
    if (cedar_policyset_from_json((const char *)data, size, "fuzz.json", &ps, &e) != 0) {
        return 0;
    }
    json_t *j = set_json(ps);
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt == NULL) {
        __builtin_trap();
    }
    if (cedar_policyset_from_json(txt, strlen(txt), "again.json", &back, &e) != 0) {
        __builtin_trap();
    }
    json_t *j2 = set_json(back);
    if (!same_json(j, j2)) {
        __builtin_trap();
    }
    /* the formatter: static policies and templates (links have no text) */
    struct buf b;
    buf_init(&b, 1 << 26);
    if (cedar_policyset_format(ps, &b, &e) == 0 &&
        cedar_policyset_parse(b.data ? b.data : "", b.len, "fmt", 0, &fmt, &e) == 0) {
        size_t k = 0;
        for (size_t i = 0; i < cedar_policyset_count(ps); i++) {
            if (cedar_policyset_template_of(ps, i) != NULL) {
                continue;
            }
            json_t *a = NULL, *c = NULL;
            if (cedar_policy_to_json(ps, i, &a, &e) != 0 ||
                cedar_policy_to_json(fmt, k++, &c, &e) != 0 || !same_json(a, c)) {
                __builtin_trap();
            }
            json_decref(a);
            json_decref(c);
        }
    }
    buf_free(&b);
    cedar_policyset_put(fmt);
    json_decref(j);
    json_decref(j2);
    free(txt);
    cedar_policyset_put(ps);
    cedar_policyset_put(back);
    return 0;
}
