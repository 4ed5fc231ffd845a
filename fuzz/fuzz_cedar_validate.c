/*
 * fuzz_cedar_validate.c: libFuzzer target for the strict-mode validator
 * (cedar_validate) and the parsers in front of it.
 *
 * Input: a schema (Cedar schema syntax), a line "%%", then policies.  When
 * both parse, validation must give a verdict or an error: no crash, no leak,
 * bounded time and depth (LIMIT_CEDAR_* in util/limits.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cedar/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count(void *ud, const char *policy, const char *message)
{
    size_t *n = ud;
    if (policy == NULL || message == NULL || message[0] == '\0') {
        __builtin_trap();
    }
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *sep = memmem(text, size, "\n%%\n", 4);
    if (sep == NULL) {
        return 0;
    }
    size_t slen = (size_t)(sep - text);
    struct cedar_schema *s = NULL;
    struct cedar_policyset *ps = NULL;
    struct err e;
    err_clear(&e);
    if (cedar_schema_parse(text, slen, "fuzz.cedarschema", &s, &e) == 0 &&
        cedar_policyset_parse(sep + 4, size - slen - 4, "fuzz.cedar", 0, &ps, &e) == 0) {
        size_t seen = 0, n = 0;
        int r = cedar_validate(ps, s, "fuzz.cedar", count, &seen, &n, &e);
        if ((r == 0 && n != 0) || (r == ERR_INVALID && n == 0) || seen != n) {
            __builtin_trap();
        }
    }
    cedar_policyset_put(ps);
    cedar_schema_free(s);
    return 0;
}
