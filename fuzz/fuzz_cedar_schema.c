/*
 * fuzz_cedar_schema.c: libFuzzer target for the Cedar schema parser
 * (cedar_schema_parse, Cedar schema syntax).
 *
 * Any input must give a schema or an error: no crash, no leak, bounded time
 * and depth (LIMIT_CEDAR_* in util/limits.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "cedar/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cedar_schema *s = NULL;
    struct err e;

    if (cedar_schema_parse((const char *)data, size, "fuzz.cedarschema", &s, &e) == 0) {
        /* Touch the result so it is fully built. */
        if (cedar_schema_entity_count(s) + cedar_schema_action_count(s) == (size_t)-1) {
            __builtin_trap();
        }
    }
    cedar_schema_free(s);
    return 0;
}
