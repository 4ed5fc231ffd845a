/*
 * fuzz_cedar_entities.c: libFuzzer target for the entities JSON reader
 * (cedar_entities_from_json) and the context reader.
 *
 * The first input byte picks the mode: even bytes parse the rest as an
 * entities document against a fixed schema (schema-directed: extension
 * strings, entity references, enums, tags, action entities), odd bytes
 * without a schema.  The same bytes are also read as a request context for
 * Action::"view".  Any input must give a store or an error: no crash, no leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cedar/cedar.h"
#include "util/arena.h"

static const char schema_text[] =
    "entity Team in [Team] { name?: String };\n"
    "entity User in [Team] { age: Long, name: String, admin?: Bool, addr?: ipaddr,\n"
    "  score?: decimal, born?: datetime, ttl?: duration, boss?: User, labels?: Set<String>,\n"
    "  info?: { a: Long, b?: { c: Bool } } } tags String;\n"
    "entity Color enum [\"red\", \"green\"];\n"
    "entity Doc { owner: User, color?: Color, nums?: Set<Long> } tags Set<Long>;\n"
    "action read;\n"
    "action view in [read] appliesTo { principal: [User], resource: [Doc],\n"
    "  context: { ip?: ipaddr, n?: Long, who?: User, when?: datetime, flags?: Set<Bool> } };\n";

static struct cedar_schema *schema;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cedar_entities *es = NULL;
    const struct cedar_schema *s;
    struct cedar_uid action;
    struct cedar_value ctx;
    struct arena a;
    struct err e;

    if (schema == NULL &&
        cedar_schema_parse(schema_text, strlen(schema_text), "fuzz.cedarschema", &schema, &e) < 0) {
        __builtin_trap(); /* the fixed schema must parse */
    }
    if (size < 1) {
        return 0;
    }
    s = (data[0] & 1) ? NULL : schema;
    if (cedar_entities_from_json((const char *)data + 1, size - 1, "fuzz.entities.json", s, &es,
                                 &e) == 0) {
        cedar_entities_free(es);
    }
    arena_init(&a, 0, 0);
    cedar_uid_init(&action, "Action", 6, "view", 4);
    if (cedar_context_from_json((const char *)data + 1, size - 1, s, &action, &a, &ctx, &e) < 0) {
        /* an error is a fine answer */
    }
    arena_free(&a);
    return 0;
}
