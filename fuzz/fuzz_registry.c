/* fuzz_registry.c: the registry's parsers of outside input on arbitrary
 * bytes: the Cedar policy shape check, and JSON bodies given to the creates
 * of trust issuers, tools, intents, agents and policy versions (against an
 * in-memory store seeded with a human, a tool and an issuer).  The first byte
 * picks the target.  Checks that nothing crashes, leaks or stores half a
 * record: a refused create leaves the audit trail as it was. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct store *st;
static struct broker br;

static void seed(void)
{
    struct store_sqlite_options o = {200, 1};
    struct store_human h = {"alice", "a@x.io", NULL, "active", 1};
    struct store_tool t = {"crm.read", "salesforce", 1, NULL, NULL, 1};
    struct store_issuer is = {"corp",         "spiffe",      "agents",
                              "corp.example", "url",         "https://x.example/j",
                              "[\"m\"]",      "[\"ES256\"]", 1};
    struct err e;

    if (store_sqlite_open(":memory:", &o, &st, &e) != 0 || st->ops->human_insert(st, &h, &e) != 0 ||
        st->ops->tool_insert(st, &t, &e) != 0 || st->ops->issuer_insert(st, &is, &e) != 0) {
        abort();
    }
    br.store = st;
}

static int64_t audit_count(struct arena *a)
{
    struct store_audit *v;
    size_t n = 0;
    int64_t total = 0, after = 0;
    struct err e;

    do {
        if (st->ops->audit_list(st, after, 1000, a, &v, &n, &e) != 0) {
            abort();
        }
        total += (int64_t)n;
        after = n ? v[n - 1].seq : after;
    } while (n == 1000);
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const broker_create_fn creates[] = {broker_issuer_create, broker_tool_create,
                                               broker_intent_create, broker_agent_create,
                                               broker_policy_create};
    json_t *in, *out = NULL;
    struct arena a;
    struct err e;
    int64_t before;
    int r;

    if (st == NULL) {
        seed();
    }
    if (size < 1) {
        return 0;
    }
    if (data[0] % 6 == 5) {
        (void)broker_policy_shape_check((const char *)data + 1, size - 1, &e);
        return 0;
    }
    in = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL);
    if (in == NULL) {
        return 0;
    }
    arena_init(&a, 0, 0);
    before = audit_count(&a);
    r = creates[data[0] % 6](&br, NULL, in, &a, &out, &e);
    if ((r != 0) != (out == NULL) || (r != 0 && audit_count(&a) != before)) {
        abort();
    }
    json_decref(out);
    json_decref(in);
    arena_free(&a);
    return 0;
}
