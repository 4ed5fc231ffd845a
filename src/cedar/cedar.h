/*
 * cedar.h: the Cedar policy language (Cedar 4.10 semantics), public API.
 *
 * Knows nothing of Mandate.  The pieces:
 *   - values (struct cedar_value): immutable, allocated in an arena owned by
 *     whoever built them (an entity store, a policy set, a request arena);
 *   - entity stores (struct cedar_entities): entities with attributes, tags
 *     and parents; cedar_entities_finish() computes every entity's ancestor
 *     set once so `in` is a hash lookup.  Read-only (and so shareable across
 *     threads) after finish;
 *   - policy sets (struct cedar_policyset): parsed once into an immutable,
 *     indexed snapshot, refcounted (get/put) so an owner can swap it;
 *   - cedar_authorize(): one decision, working in the caller's arena.
 * Errors: functions return 0 or a negative ERR_* (util/err.h), detail in
 * struct err, "file:line:col: message" for parse errors.
 */
#ifndef MANDATE_CEDAR_H
#define MANDATE_CEDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/err.h"

/* ---- values ------------------------------------------------------------ */

/* A byte string (not NUL-terminated in general; Cedar strings may hold \0). */
struct cedar_str {
    const char *ptr;
    size_t len;
};

/* An entity UID: type (possibly namespaced, "A::B") and id.  hash is
 * cedar_uid_hash(type, id); set it with cedar_uid_init(). */
struct cedar_uid {
    struct cedar_str type;
    struct cedar_str id;
    uint64_t hash;
};

enum cedar_kind {
    CEDAR_BOOL = 0,
    CEDAR_LONG,
    CEDAR_STRING,
    CEDAR_ENTITY,
    CEDAR_SET,
    CEDAR_RECORD,
    CEDAR_IP,       /* ipaddr extension */
    CEDAR_DECIMAL,  /* decimal extension: value * 10^4 */
    CEDAR_DATETIME, /* datetime extension: ms since the epoch */
    CEDAR_DURATION  /* duration extension: ms */
};

/* An IP address or CIDR range as Cedar's ipaddr extension holds it. */
struct cedar_ip {
    uint8_t addr[16]; /* IPv4 in addr[0..4), rest zero */
    uint8_t prefix;   /* 0..32 or 0..128 */
    uint8_t v6;       /* 1 for IPv6 */
};

struct cedar_set;
struct cedar_record;

struct cedar_value {
    enum cedar_kind kind;
    union {
        bool b;
        int64_t l; /* LONG, DECIMAL, DATETIME, DURATION */
        struct cedar_str s;
        const struct cedar_uid *uid;
        const struct cedar_set *set;
        const struct cedar_record *rec;
        struct cedar_ip ip;
    } u;
};

/* A set: n distinct values sorted by cedar_value_cmp(). */
struct cedar_set {
    size_t n;
    struct cedar_value items[];
};

/* One record attribute. */
struct cedar_attr {
    struct cedar_str key;
    struct cedar_value val;
};

/* A record: n attributes sorted by key (bytewise), keys distinct. */
struct cedar_record {
    size_t n;
    struct cedar_attr items[];
};

/* Hash of a UID's type and id (stable within a process). */
uint64_t cedar_uid_hash(const char *type, size_t tlen, const char *id, size_t idlen);

/* Fills u with pointers to type/id (NOT copied; the caller keeps them alive)
 * and the hash. */
void cedar_uid_init(struct cedar_uid *u, const char *type, size_t tlen, const char *id,
                    size_t idlen);

/* Copies a UID's strings into arena a; returns NULL on allocation failure. */
struct cedar_uid *cedar_uid_dup(struct arena *a, const struct cedar_uid *u);

/* True when two UIDs are equal. */
bool cedar_uid_eq(const struct cedar_uid *a, const struct cedar_uid *b);

/* Simple constructors (no allocation). */
struct cedar_value cedar_value_bool(bool b);
struct cedar_value cedar_value_long(int64_t l);
struct cedar_value cedar_value_decimal(int64_t scaled);
struct cedar_value cedar_value_datetime(int64_t ms);
struct cedar_value cedar_value_duration(int64_t ms);
struct cedar_value cedar_value_ip(const struct cedar_ip *ip);

/* A string value; copies s[0..n) into a.  0 or ERR_NOMEM. */
int cedar_value_string(struct arena *a, const char *s, size_t n,
                       struct cedar_value *out) MUST_CHECK;

/* An entity reference value; copies the type and id into a. 0 or ERR_NOMEM. */
int cedar_value_entity(struct arena *a, const char *type, size_t tlen, const char *id, size_t idlen,
                       struct cedar_value *out) MUST_CHECK;

/* A set value from items[0..n) (any order, duplicates allowed: they are
 * removed).  The items are copied (shallowly) into a.  0, ERR_NOMEM or
 * ERR_LIMIT (more than LIMIT_CEDAR_SET_MAX items). */
int cedar_value_set(struct arena *a, const struct cedar_value *items, size_t n,
                    struct cedar_value *out, struct err *e) MUST_CHECK;

/* A record value from attrs[0..n) (any order; keys are NOT copied, the
 * caller keeps them alive, e.g. in the same arena).  A duplicate key is
 * ERR_CONFLICT.  0, ERR_NOMEM, ERR_CONFLICT or ERR_LIMIT. */
int cedar_value_record(struct arena *a, const struct cedar_attr *attrs, size_t n,
                       struct cedar_value *out, struct err *e) MUST_CHECK;

/* The empty record (static, no allocation). */
struct cedar_value cedar_value_empty_record(void);

/* Total order over values (kind first), used for sets; 0 means Cedar-equal. */
int cedar_value_cmp(const struct cedar_value *a, const struct cedar_value *b);

/* Looks up key in a record; NULL when absent. */
const struct cedar_value *cedar_record_get(const struct cedar_record *r, const char *key,
                                           size_t klen);

/* ---- entity stores ----------------------------------------------------- */

struct cedar_entities;
struct cedar_entity;

/* A new empty store.  0 or ERR_NOMEM. */
int cedar_entities_new(struct cedar_entities **out) MUST_CHECK;

/* Frees a store and every value allocated in its arena; es may be NULL. */
void cedar_entities_free(struct cedar_entities *es);

/* The store's arena: build the values you pass to cedar_entities_add() in it,
 * so they live as long as the store. */
struct arena *cedar_entities_arena(struct cedar_entities *es);

/* Adds an entity.  uid is copied; attrs and tags are RECORD values (or NULL
 * for none) that must live in the store's arena (or longer); parents are
 * copied.  Adding a UID that exists already is ERR_CONFLICT unless replace is
 * true (then the old entity is replaced; its memory is kept until the store
 * is freed).  Invalidates the closure: call cedar_entities_finish() again
 * before authorizing. */
int cedar_entities_add(struct cedar_entities *es, const struct cedar_uid *uid,
                       const struct cedar_value *attrs, const struct cedar_value *tags,
                       const struct cedar_uid *parents, size_t nparents, bool replace,
                       struct err *e) MUST_CHECK;

/* Computes every entity's ancestors (transitive closure of parents).  After
 * this the store is read-only and may be shared between threads.  0,
 * ERR_INVALID (the hierarchy has a cycle: Cedar requires a DAG), ERR_NOMEM
 * or ERR_LIMIT. */
int cedar_entities_finish(struct cedar_entities *es, struct err *e) MUST_CHECK;

/* The entity with this UID, or NULL. */
const struct cedar_entity *cedar_entities_find(const struct cedar_entities *es,
                                               const struct cedar_uid *uid);

/* True when `a in b` holds over the hierarchy of es (reflexive, transitive;
 * es finished, may be NULL). */
bool cedar_entities_in(const struct cedar_entities *es, const struct cedar_uid *a,
                       const struct cedar_uid *b);

/* Number of entities in the store. */
size_t cedar_entities_count(const struct cedar_entities *es);

/* ---- policy sets -------------------------------------------------------- */

struct cedar_policyset;

/* Parse flags. */
#define CEDAR_PARSE_ID_ANNOTATION 0x1u /* a policy's id is its @id("..") when present */

/* Parses Cedar policy text[0..len) (filename only for messages) into a new
 * policy set with refcount 1.  Policies get ids "policy0", "policy1", ... by
 * position (templates too), or their @id with CEDAR_PARSE_ID_ANNOTATION.
 * Errors: ERR_INVALID with "file:line:col: message", ERR_LIMIT, ERR_NOMEM. */
int cedar_policyset_parse(const char *text, size_t len, const char *filename, unsigned flags,
                          struct cedar_policyset **out, struct err *e) MUST_CHECK;

/* Links template template_id as a new policy new_id, with ?principal and
 * ?resource bound to the given UIDs (NULL when the template has no such slot).
 * Only on a set that is not shared yet (refcount 1, before any authorize).
 * ERR_NOTFOUND (no such template), ERR_INVALID (slot missing/extra),
 * ERR_CONFLICT (id in use), ERR_NOMEM. */
int cedar_policyset_link(struct cedar_policyset *ps, const char *template_id, const char *new_id,
                         const struct cedar_uid *principal, const struct cedar_uid *resource,
                         struct err *e) MUST_CHECK;

/* Removes the linked policy id (made by cedar_policyset_link) and re-indexes
 * the set.  Same precondition as link (refcount 1, not shared yet).
 * ERR_NOTFOUND, ERR_INVALID (id is not a linked policy), ERR_NOMEM. */
int cedar_policyset_unlink(struct cedar_policyset *ps, const char *id, struct err *e) MUST_CHECK;

/* Refcount: get returns ps; put frees at zero.  Both accept NULL.  Atomic. */
struct cedar_policyset *cedar_policyset_get(struct cedar_policyset *ps);
void cedar_policyset_put(struct cedar_policyset *ps);

/* Number of policies (templates included) and the id of the i-th. */
size_t cedar_policyset_count(const struct cedar_policyset *ps);
const char *cedar_policyset_id(const struct cedar_policyset *ps, size_t i);

/* The value of annotation @key("value") on the i-th policy (a response's
 * reason_index gives i), e.g. @escalate("owner").  An annotation without a
 * value reads as "".  0 with *out pointing into the set, or ERR_NOTFOUND. */
int cedar_policyset_annotation(const struct cedar_policyset *ps, size_t i, const char *key,
                               struct cedar_str *out) MUST_CHECK;

/* The template the i-th policy was linked from, or NULL (not a linked policy). */
const char *cedar_policyset_template_of(const struct cedar_policyset *ps, size_t i);

/* True when the i-th policy is a template (has an unlinked slot). */
bool cedar_policyset_is_template(const struct cedar_policyset *ps, size_t i);

/* True when the i-th policy is a forbid. */
bool cedar_policyset_is_forbid(const struct cedar_policyset *ps, size_t i);

/* ---- authorization ----------------------------------------------------- */

struct cedar_request {
    struct cedar_uid principal;
    struct cedar_uid action;
    struct cedar_uid resource;
    struct cedar_value context; /* a RECORD */
};

enum cedar_decision { CEDAR_DENY = 0, CEDAR_ALLOW = 1 };

struct cedar_policy_error {
    const char *policy; /* policy id */
    const char *message;
};

struct cedar_response {
    enum cedar_decision decision;
    const char **reasons;         /* ids of the determining policies, in policy-set order */
    const uint32_t *reason_index; /* their positions in the set (for annotations) */
    size_t nreasons;
    struct cedar_policy_error *errors; /* policies whose evaluation errored */
    size_t nerrors;
};

/* Authorizes req against ps and es (es finished; may be NULL for none).
 * Everything in *out is allocated in a (the caller's per-request arena).
 * Returns 0 with a decision (policy errors are in out->errors, as Cedar
 * reports them), or ERR_NOMEM/ERR_INTERNAL, in which case the caller must
 * deny. */
int cedar_authorize(const struct cedar_policyset *ps, const struct cedar_entities *es,
                    const struct cedar_request *req, struct arena *a, struct cedar_response *out,
                    struct err *e) MUST_CHECK;

/* ---- schema and JSON (helper C2's section) ------------------------------ */

/* A parsed Cedar schema (Cedar schema syntax, .cedarschema).  Immutable after
 * parsing; shareable across threads.  The typed representation the
 * validator and the JSON readers use is in schema_int.h. */
struct cedar_schema;
struct json_t; /* jansson's json_t */

/* Parses schema text[0..len) (filename only for messages) into *out: namespaces,
 * common types, entity types (parents, attributes, tags, enums), actions
 * (groups, appliesTo) and annotations, with every type reference resolved.
 * Errors: ERR_INVALID "file:line:col: message" (syntax, undeclared or
 * duplicate names, cycles), ERR_LIMIT, ERR_NOMEM.  Free with cedar_schema_free. */
int cedar_schema_parse(const char *text, size_t len, const char *filename,
                       struct cedar_schema **out, struct err *e) MUST_CHECK;

/* Frees a schema; s may be NULL. */
void cedar_schema_free(struct cedar_schema *s);

/* Number of entity types and of actions declared. */
size_t cedar_schema_entity_count(const struct cedar_schema *s);
size_t cedar_schema_action_count(const struct cedar_schema *s);

/* Validates a request against the schema as the reference does when asked
 * to (validateRequest): the action is declared, the principal and resource
 * types are in its appliesTo lists, enum entities name declared ids.  (The
 * context's conformance is checked when it is parsed with the schema:
 * cedar_context_from_jansson.)  0 or ERR_INVALID with the reason. */
int cedar_schema_validate_request(const struct cedar_schema *s, const struct cedar_request *req,
                                  struct err *e) MUST_CHECK;

/* Parses an entities JSON document (an array of {"uid", "attrs", "parents",
 * "tags"}) into a new finished store.  With a schema (may be NULL), parsing
 * is schema-directed as in the reference: attribute and tag types drive the
 * conversion (a string where the schema says ipaddr/decimal/datetime/duration
 * is that extension value, a {"type","id"} object where it says an entity is
 * that entity), entity types, enum ids, parents and attributes must conform,
 * and the action entities (with their groups) come from the schema.  Without
 * one, the reference's schemaless rules apply.  filename is for messages.
 * 0, ERR_INVALID (message names the entity), ERR_LIMIT, ERR_NOMEM. */
int cedar_entities_from_json(const char *text, size_t len, const char *filename,
                             const struct cedar_schema *schema, struct cedar_entities **out,
                             struct err *e) MUST_CHECK;

/* As cedar_entities_from_json, from a jansson array already parsed. */
int cedar_entities_from_jansson(const struct json_t *json, const struct cedar_schema *schema,
                                struct cedar_entities **out, struct err *e) MUST_CHECK;

/* Parses a request context (a JSON object) into a RECORD value allocated in
 * a.  With a schema, the context type of `action` (its appliesTo context)
 * drives the parsing and the record must conform to it (an action the schema
 * does not declare is ERR_INVALID); schema may be NULL (schemaless rules;
 * action is then unused and may be NULL).  0, ERR_INVALID, ERR_LIMIT,
 * ERR_NOMEM. */
int cedar_context_from_json(const char *text, size_t len, const struct cedar_schema *schema,
                            const struct cedar_uid *action, struct arena *a,
                            struct cedar_value *out, struct err *e) MUST_CHECK;
int cedar_context_from_jansson(const struct json_t *json, const struct cedar_schema *schema,
                               const struct cedar_uid *action, struct arena *a,
                               struct cedar_value *out, struct err *e) MUST_CHECK;

/* Parses JSON text[0..len) into a jansson tree (json_decref it), the way
 * Cedar data needs: strict RFC 8259, duplicate keys refused, nesting bounded
 * (LIMIT_JSON_DEPTH), and "\u0000" allowed in strings AND object keys (which
 * jansson's own decoder refuses; read keys with json_object_keylen_foreach /
 * json_object_getn).  NULL on error with "what:line:col: message" in e.  Use
 * it for any JSON that carries Cedar values (test files, requests). */
struct json_t *cedar_json_load(const char *text, size_t len, const char *what, struct err *e);

/* Reads an entity UID written {"type": T, "id": I} or {"__entity": {...}}
 * into *out, strings copied into a.  0 or ERR_INVALID / ERR_NOMEM. */
int cedar_uid_from_jansson(const struct json_t *json, struct arena *a, struct cedar_uid *out,
                           struct err *e) MUST_CHECK;

/* ---- validation (helper V1's section) ------------------------------------ */

/* Validates every policy of ps against schema s in Cedar 4.10's strict mode
 * (see docs/cedar.md, "Validation").  filename is for messages.  cb (may be
 * NULL) is called once per diagnostic with ud, the policy id and a message
 * "file:line:col: policyN: what was expected (for principal .., action ..,
 * resource ..)"; *ndiags (may be NULL) gets their number.
 * Returns 0 when every policy is valid, ERR_INVALID when there is at least
 * one diagnostic, or ERR_NOMEM / ERR_LIMIT (then validation is incomplete
 * and the caller must treat the set as invalid). */
int cedar_validate(const struct cedar_policyset *ps, const struct cedar_schema *s,
                   const char *filename,
                   void (*cb)(void *ud, const char *policy, const char *message), void *ud,
                   size_t *ndiags, struct err *e) MUST_CHECK;

/* ---- JSON policy format (the reference's EST) ---------------------------- */

/* The i-th policy of ps as the reference's JSON policy format (what
 * cedar-wasm's policyToJson / templateToJson print; a linked policy with its
 * slots filled).  0 with *out (json_decref it), ERR_NOTFOUND or ERR_NOMEM. */
int cedar_policy_to_json(const struct cedar_policyset *ps, size_t i, struct json_t **out,
                         struct err *e) MUST_CHECK;

/* The whole set: {"staticPolicies": {id: est}, "templates": {id: est},
 * "templateLinks": [{"templateId", "newId", "values": {"?principal": uid,
 * "?resource": uid}}]}.  0 or ERR_NOMEM. */
int cedar_policyset_to_json(const struct cedar_policyset *ps, struct json_t **out,
                            struct err *e) MUST_CHECK;

/* Reads policies in the JSON format: one policy object (id "policy0"), an
 * array of them ("policy0", "policy1", ...) or the set form above (ids are
 * the keys; links are applied).  A new indexed set with refcount 1.  Unknown
 * keys are refused.  ERR_INVALID "file: policy ID: message", ERR_CONFLICT
 * (duplicate id), ERR_LIMIT, ERR_NOMEM. */
int cedar_policyset_from_json(const char *text, size_t len, const char *filename,
                              struct cedar_policyset **out, struct err *e) MUST_CHECK;
int cedar_policyset_from_jansson(const struct json_t *json, const char *filename,
                                 struct cedar_policyset **out, struct err *e) MUST_CHECK;

/* ---- JSON schema format ------------------------------------------------------ */

/* Reads a schema in the reference's JSON schema syntax: translated to the
 * Cedar schema syntax (names checked, strings escaped) and parsed by
 * cedar_schema_parse, so the same rules apply.  Errors as cedar_schema_parse
 * (positions then refer to the Cedar text, named "FILE (as Cedar schema
 * text)"), or ERR_INVALID naming the JSON member at fault. */
int cedar_schema_from_json(const char *text, size_t len, const char *filename,
                           struct cedar_schema **out, struct err *e) MUST_CHECK;

/* The translation alone: a JSON schema (jansson) to Cedar schema text
 * (malloc'd into *out, *outlen bytes). */
int cedar_schema_json_to_text(const struct json_t *json, const char *what, char **out,
                              size_t *outlen, struct err *e) MUST_CHECK;

/* The parsed schema in the JSON schema syntax: namespaces with their entity
 * types and actions, every type written out and qualified (common types are
 * inlined).  0 with *out (json_decref it) or ERR_NOMEM. */
int cedar_schema_to_json(const struct cedar_schema *s, struct json_t **out,
                         struct err *e) MUST_CHECK;

/* ---- formatter -------------------------------------------------------------- */

struct buf;

/* Appends the i-th policy to out as Cedar text in the canonical layout (see
 * format.c); parsing the text gives back the same policy.  0, ERR_NOTFOUND,
 * ERR_NOMEM or ERR_LIMIT (out's maximum). */
int cedar_policy_format(const struct cedar_policyset *ps, size_t i, struct buf *out,
                        struct err *e) MUST_CHECK;

/* Every policy and template of ps (linked policies have no text form and are
 * skipped), separated by blank lines. */
int cedar_policyset_format(const struct cedar_policyset *ps, struct buf *out,
                           struct err *e) MUST_CHECK;

#endif
