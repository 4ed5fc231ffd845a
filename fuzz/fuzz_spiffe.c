/* fuzz_spiffe.c: SPIFFE ID and trust domain parsing (util/spiffe.h), and the
 * strict number parser, on arbitrary bytes.  Checks the parser's promises:
 * an accepted ID has the parts it says, inside the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/num.h"
#include "util/spiffe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct spiffe_id id;
    struct err e;
    int64_t v;

    if (spiffe_id_parse(s, size, 1, &id, &e) == 0) {
        if (id.td < s || id.td + id.td_len > s + size || id.path_len == 0 ||
            id.path + id.path_len != s + size) {
            abort();
        }
        if (memchr(id.path, '%', id.path_len) != NULL || memchr(id.td, ':', id.td_len) != NULL) {
            abort();
        }
    }
    (void)spiffe_id_parse(s, size, 0, &id, &e);
    (void)spiffe_trust_domain_check(s, size, &e);
    if (num_parse_i64(s, size, INT64_MIN, INT64_MAX, &v) == 0 && size > 20) {
        abort(); /* no accepted number is longer than "-9223372036854775808" */
    }
    return 0;
}
