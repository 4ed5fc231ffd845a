/*
 * broker_int.h: what the broker's files share: field tables, JSON helpers,
 * owner scoping, and the "change" that runs a mutation and its audit record
 * in one store transaction.  Not for use outside src/broker/.
 */
#ifndef MANDATE_BROKER_INT_H
#define MANDATE_BROKER_INT_H

#include <jansson.h>

#include "broker/broker.h"

/* One member of an input object: JSON type, required, maximum length (strings). */
struct broker_field {
    const char *name;
    json_type type; /* JSON_TRUE stands for "a boolean" */
    int required;
    size_t maxlen;
};

#define BROKER_NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* Checks in is an object with only known members of the right types and
 * lengths, and every required one.  ERR_INVALID "<field>: ...". */
int broker_fields_check(json_t *in, const struct broker_field *f, size_t n,
                        struct err *e) MUST_CHECK;

/* The string member name, or dflt. */
const char *broker_str(json_t *in, const char *name, const char *dflt);

/* An integer member within [min, max], or dflt when absent. */
int broker_int(json_t *in, const char *name, int64_t dflt, int64_t min, int64_t max, int64_t *out,
               struct err *e) MUST_CHECK;

/* A boolean member, or dflt when absent. */
int broker_bool(json_t *in, const char *name, int dflt);

/* Checks an array of 0..max_items distinct strings, each an id
 * (broker_id_check) when ids, else 1..maxlen bytes without control
 * characters. */
int broker_strings_check(const char *field, json_t *v, size_t max_items, size_t maxlen, int ids,
                         struct err *e) MUST_CHECK;

/* Compact, key-sorted JSON text of j in a (NULL on allocation failure). */
char *broker_json_text(json_t *j, struct arena *a);

/* Parses stored JSON text (NULL text: JSON null); never NULL for valid text. */
json_t *broker_json_parse(const char *text);

/* Hands j to *out; ERR_NOMEM when j is NULL. */
int broker_json_out(json_t *j, json_t **out, struct err *e) MUST_CHECK;

/* An RFC 3339 time string, or JSON null for 0. */
json_t *broker_time_json(int64_t ms);

/* One audit record as GET /v1/audit shows it (audit.c). */
json_t *broker_audit_record_json(const struct store_audit *r);

json_t *broker_agent_json(const struct store_agent *ag);
json_t *broker_issuer_json(const struct store_issuer *x);
json_t *broker_tool_json(const struct store_tool *x);
json_t *broker_intent_json(const struct store_intent *x);

/* Loads agent id if c may see it (owners: only their own; others are
 * ERR_NOTFOUND). */
int broker_agent_visible(struct store *s, const struct broker_caller *c, const char *id,
                         struct arena *a, struct store_agent *out, struct err *e) MUST_CHECK;

/* A mutation and its audit record: apply runs inside the transaction; then
 * ev (which apply may fill in further) is written through broker_audit. */
struct broker_change {
    const struct broker_caller *c;
    struct arena *a;
    void *ctx;
    int (*apply)(struct store *s, struct broker_change *ch, struct err *e);
    struct broker_audit_event ev;
};

int broker_change_run(struct broker *b, struct broker_change *ch, struct err *e) MUST_CHECK;

#endif
