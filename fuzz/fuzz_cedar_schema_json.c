/*
 * fuzz_cedar_schema_json.c: libFuzzer target for the JSON schema syntax
 * reader (cedar_schema_from_json: JSON -> Cedar schema text -> parser) and
 * the writer.
 *
 * Invariant (a violation traps): a schema the reader accepts is written by
 * cedar_schema_to_json, and reading that back gives the same JSON.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cedar_schema *s = NULL, *back = NULL;
    struct err e;
    if (cedar_schema_from_json((const char *)data, size, "fuzz.json", &s, &e) != 0) {
        return 0;
    }
    json_t *j = NULL, *j2 = NULL;
    if (cedar_schema_to_json(s, &j, &e) != 0) {
        __builtin_trap();
    }
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt == NULL || cedar_schema_from_json(txt, strlen(txt), "again.json", &back, &e) != 0 ||
        cedar_schema_to_json(back, &j2, &e) != 0 || !same_json(j, j2)) {
        __builtin_trap();
    }
    free(txt);
    json_decref(j);
    json_decref(j2);
    cedar_schema_free(s);
    cedar_schema_free(back);
    return 0;
}
