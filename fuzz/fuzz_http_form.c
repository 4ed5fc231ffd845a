/* fuzz_http_form.c: the one application/x-www-form-urlencoded decoder
 * (src/http/form.c: the token, introspection and revocation endpoints) on
 * arbitrary bodies.  Checks its promises: a parsed form gives only values
 * that are not empty and never longer than the body; a decoded value is never
 * longer than its input; nothing crashes, leaks or reads past the body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_int.h"
#include "util/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {
    "grant_type",  "subject_token",         "subject_token_type",
    "actor_token", "actor_token_type",      "dpop_jkt",
    "token",       "token_type_hint",       "audience",
    "resource",    "authorization_details",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_req rq;
    const char *vals[NNAMES], *why = NULL;
    size_t i;
    char *d;

    memset(&rq, 0, sizeof(rq));
    arena_init(&rq.arena, 0, 0);
    rq.body.data = (char *)data;
    rq.body.len = size;
    if (http_form_parse(&rq, names, NNAMES, LIMIT_ACCESS_FORM_PARAMS, vals, &why) == 0) {
        for (i = 0; i < NNAMES; i++) {
            if (vals[i] != NULL && (vals[i][0] == '\0' || strlen(vals[i]) > size)) {
                abort();
            }
        }
    }
    /* the decoder alone: a decoded value is never longer than its input */
    d = http_form_decode(&rq.arena, (const char *)data, size);
    if (d != NULL && strlen(d) > size) {
        abort();
    }
    arena_free(&rq.arena);
    return 0;
}
