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
        cedar_schema_to_json(back, &j2, &e) != 0 || !json_equal(j, j2)) {
        __builtin_trap();
    }
    free(txt);
    json_decref(j);
    json_decref(j2);
    cedar_schema_free(s);
    cedar_schema_free(back);
    return 0;
}
