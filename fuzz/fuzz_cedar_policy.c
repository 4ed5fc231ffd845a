/*
 * fuzz_cedar_policy.c: libFuzzer target for the Cedar policy parser and,
 * when the input parses, the evaluator.
 *
 * The input is policy text.  Whatever parses is authorized against a small
 * fixed entity store (a user in a team, a document) and two requests, so the
 * evaluator meets every expression the parser accepts: errors must come back
 * as policy errors, never as crashes, leaks or unbounded time.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cedar/cedar.h"
#include "util/arena.h"

static struct cedar_entities *store;

static int add(const char *type, const char *id, const struct cedar_value *attrs,
               const struct cedar_value *tags, const struct cedar_uid *parent)
{
    struct cedar_uid u;
    struct err e;

    cedar_uid_init(&u, type, strlen(type), id, strlen(id));
    return cedar_entities_add(store, &u, attrs, tags, parent, parent ? 1 : 0, false, &e);
}

/* User::"alice" in Team::"eng" in Team::"org", with attrs and tags;
 * Doc::"d" with an owner. */
static int build_store(void)
{
    struct arena *a;
    struct cedar_uid team, org;
    struct cedar_attr at[3];
    struct cedar_value attrs, tags, owner, name;
    struct err e;

    if (cedar_entities_new(&store) < 0) {
        return -1;
    }
    a = cedar_entities_arena(store);
    cedar_uid_init(&org, "Team", 4, "org", 3);
    cedar_uid_init(&team, "Team", 4, "eng", 3);
    if (add("Team", "org", NULL, NULL, NULL) < 0 || add("Team", "eng", NULL, NULL, &org) < 0) {
        return -1;
    }
    if (cedar_value_string(a, "alice", 5, &name) < 0 ||
        cedar_value_entity(a, "User", 4, "alice", 5, &owner) < 0) {
        return -1;
    }
    at[0] = (struct cedar_attr){{"age", 3}, cedar_value_long(42)};
    at[1] = (struct cedar_attr){{"name", 4}, name};
    at[2] = (struct cedar_attr){{"admin", 5}, cedar_value_bool(true)};
    if (cedar_value_record(a, at, 3, &attrs, &e) < 0) {
        return -1;
    }
    at[0] = (struct cedar_attr){{"k", 1}, name};
    if (cedar_value_record(a, at, 1, &tags, &e) < 0 ||
        add("User", "alice", &attrs, &tags, &team) < 0) {
        return -1;
    }
    at[0] = (struct cedar_attr){{"owner", 5}, owner};
    if (cedar_value_record(a, at, 1, &attrs, &e) < 0 || add("Doc", "d", &attrs, NULL, NULL) < 0) {
        return -1;
    }
    return cedar_entities_finish(store, &e) < 0 ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cedar_policyset *ps = NULL;
    struct cedar_request req;
    struct cedar_response resp;
    struct arena a;
    struct err e;
    int i;

    if (store == NULL && build_store() < 0) {
        __builtin_trap();
    }
    if (cedar_policyset_parse((const char *)data, size, "fuzz.cedar", 0, &ps, &e) < 0) {
        return 0;
    }
    arena_init(&a, 0, 0);
    for (i = 0; i < 2; i++) {
        cedar_uid_init(&req.principal, "User", 4, i ? "bob" : "alice", i ? 3 : 5);
        cedar_uid_init(&req.action, "Action", 6, "view", 4);
        cedar_uid_init(&req.resource, "Doc", 3, "d", 1);
        req.context = cedar_value_empty_record();
        if (cedar_authorize(ps, store, &req, &a, &resp, &e) < 0) {
            /* ERR_NOMEM only; fine */
        }
        arena_free(&a);
    }
    cedar_policyset_put(ps);
    return 0;
}
