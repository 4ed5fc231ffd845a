/*
 * schema_int.h: the typed representation of a parsed Cedar schema, shared
 * by schema.c (which builds it), json.c (schema-directed entity/context
 * parsing) and the validator.
 *
 * Everything lives in the schema's arena and is immutable after
 * cedar_schema_parse() returns.  Every type reference has been resolved:
 * common types are replaced by (shared pointers to) their definitions, names
 * of entity types are fully qualified ("NS::User"), built-ins are kinds.
 */
#ifndef MANDATE_CEDAR_SCHEMA_INT_H
#define MANDATE_CEDAR_SCHEMA_INT_H

#include "cedar/cedar_int.h"

enum cedar_stype_kind {
    CEDAR_ST_BOOL = 0,
    CEDAR_ST_LONG,
    CEDAR_ST_STRING,
    CEDAR_ST_IP,
    CEDAR_ST_DECIMAL,
    CEDAR_ST_DATETIME,
    CEDAR_ST_DURATION,
    CEDAR_ST_SET,
    CEDAR_ST_RECORD,
    CEDAR_ST_ENTITY,
    CEDAR_ST_REF /* a name not resolved yet: exists only while parsing */
};

struct cedar_stype;

/* One attribute of a record type. */
struct cedar_sattr {
    struct cedar_str name;
    bool required; /* false when declared with '?' */
    const struct cedar_stype *type;
    const struct cedar_annotation *annos;
    size_t nannos;
};

struct cedar_stype {
    enum cedar_stype_kind kind;
    const struct cedar_stype *elem;  /* SET */
    const struct cedar_sattr *attrs; /* RECORD: sorted by name (bytewise), distinct */
    size_t nattrs;
    struct cedar_str name; /* ENTITY: qualified type name; REF: the path as written */
    struct cedar_str ns;   /* REF: namespace the reference was written in */
    int line, col;         /* REF: where (for messages) */
};

/* An entity type declaration. */
struct cedar_sentity {
    struct cedar_str name;           /* qualified */
    const struct cedar_str *parents; /* qualified entity type names (`in [..]`) */
    size_t nparents;
    const struct cedar_stype *attrs; /* a RECORD (empty when none declared) */
    const struct cedar_stype *tags;  /* NULL: no tags */
    bool is_enum;
    const struct cedar_str *enum_ids; /* enum entity types: the allowed ids */
    size_t nenum;
    const struct cedar_annotation *annos;
    size_t nannos;
    int line, col;
};

/* An action declaration: the action entity and what it applies to. */
struct cedar_saction {
    struct cedar_uid uid;            /* type "NS::Action" (or "Action"), id */
    const struct cedar_uid *parents; /* action groups (`in [..]`), resolved */
    size_t nparents;
    bool applies;                       /* has an appliesTo clause */
    const struct cedar_str *principals; /* qualified entity type names */
    size_t nprincipals;
    const struct cedar_str *resources;
    size_t nresources;
    const struct cedar_stype *context; /* a RECORD (empty when none declared) */
    const struct cedar_annotation *annos;
    size_t nannos;
    int line, col;
};

/* A common type declaration (`type T = ...;`). */
struct cedar_scommon {
    struct cedar_str name; /* qualified */
    const struct cedar_stype *type;
    const struct cedar_annotation *annos;
    size_t nannos;
};

/* A namespace as declared (the empty namespace has name.len == 0). */
struct cedar_snamespace {
    struct cedar_str name;
    const struct cedar_annotation *annos;
    size_t nannos;
};

struct cedar_schema {
    struct arena arena;
    const struct cedar_sentity *entities; /* sorted by name */
    size_t nentities;
    const struct cedar_saction *actions; /* sorted by (type, id) */
    size_t nactions;
    const struct cedar_scommon *commons; /* sorted by name */
    size_t ncommons;
    const struct cedar_snamespace *namespaces; /* in declaration order */
    size_t nnamespaces;
};

/* Lookups (binary search); NULL when absent. */
const struct cedar_sentity *cedar_schema_entity(const struct cedar_schema *s, const char *name,
                                                size_t len);
const struct cedar_saction *cedar_schema_action(const struct cedar_schema *s,
                                                const struct cedar_uid *uid);

/* True when type is the type name of some declared action ("Action" or
 * "NS::Action" with at least one action declared under it). */
bool cedar_schema_is_action_type(const struct cedar_schema *s, const char *type, size_t len);

/* Statically allocated built-in types (for callers that need one). */
const struct cedar_stype *cedar_stype_builtin(enum cedar_stype_kind k);

#endif
