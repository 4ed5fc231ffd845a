/*
 * limits.h: every limit Mandate enforces, in one place, each with why.
 *
 * Include as "util/limits.h".  A limit exceeded is an ERR_LIMIT for that input
 * (a 413, a refused policy, a deny), never a crash.  Modules add their limits
 * here, in their own section, rather than in private headers.
 */
#ifndef MANDATE_UTIL_LIMITS_H
#define MANDATE_UTIL_LIMITS_H

/* ---- HTTP edge ---------------------------------------------------------- */

/* Largest JSON or form body we read.  Registry objects and check requests are
 * a few KiB; policy uploads are the largest legitimate body. */
#define LIMIT_HTTP_BODY_MAX (1024 * 1024)
/* Body cap before authentication: an unauthenticated caller gets little. */
#define LIMIT_HTTP_BODY_UNAUTH_MAX (16 * 1024)
/* Memory libmicrohttpd may use per connection for headers and buffers. */
#define LIMIT_HTTP_CONN_MEMORY (64 * 1024)
/* Concurrent connections; past this MHD refuses new ones. */
#define LIMIT_HTTP_CONNECTIONS 1024
/* Idle seconds before a connection is closed. */
#define LIMIT_HTTP_CONN_TIMEOUT_S 30
/* Path segments a route may have (router matching is linear in this). */
#define LIMIT_HTTP_PATH_SEGMENTS 16
/* Longest URL path we route. */
#define LIMIT_HTTP_PATH_LEN 2048
/* Items a list endpoint returns in one page. */
#define LIMIT_LIST_PAGE_MAX 1000

/* ---- registry fields ---------------------------------------------------- */

/* SPIFFE IDs are URIs; the SPIFFE spec caps them at 2048 bytes. */
#define LIMIT_SPIFFE_ID_LEN 2048
/* SPIFFE trust domain names are DNS-like; 255 bytes as a DNS name. */
#define LIMIT_TRUST_DOMAIN_LEN 255
/* Ids of humans, teams, keys: short printable handles. */
#define LIMIT_ID_LEN 128
/* Free text such as a name, an email or a purpose. */
#define LIMIT_TEXT_LEN 1024

/* ---- JSON --------------------------------------------------------------- */

/* Nesting depth of any JSON document we accept (jansson recurses). */
#define LIMIT_JSON_DEPTH 64

/* ---- buffers ------------------------------------------------------------ */

/* Default cap of a growable buffer when the caller names none. */
#define LIMIT_BUF_DEFAULT_MAX (16 * 1024 * 1024)
/* Largest single arena block; bigger requests fail with ERR_LIMIT. */
#define LIMIT_ARENA_BLOCK_MAX (64 * 1024 * 1024)

/* ---- Cedar (engine core) ------------------------------------------------ */

/* Largest policy text we parse: real policy sets are a few hundred KiB. */
#define LIMIT_CEDAR_POLICY_TEXT (8 * 1024 * 1024)
/* Nesting depth of expressions (the parser and evaluator recurse). */
#define LIMIT_CEDAR_DEPTH 128
/* Evaluation recursion depth: the AST height a policy within
 * LIMIT_CEDAR_DEPTH can reach (each nesting level adds a few operator
 * levels; chains of && || + * are flat).  Bounds the evaluator's stack. */
#define LIMIT_CEDAR_EVAL_DEPTH (12 * LIMIT_CEDAR_DEPTH)
/* Longest string literal or string value built at run time. */
#define LIMIT_CEDAR_STRING_LEN (1024 * 1024)
/* Largest set (literal or from data): set operations are n log n. */
#define LIMIT_CEDAR_SET_MAX 100000
/* Largest record (attributes). */
#define LIMIT_CEDAR_RECORD_MAX 100000
/* Evaluation steps per policy: bounds the time one policy can take. */
#define LIMIT_CEDAR_EVAL_STEPS 1000000
/* Policies in one set. */
#define LIMIT_CEDAR_POLICIES 1000000
/* Ancestors of one entity (the closure is computed at load). */
#define LIMIT_CEDAR_ANCESTORS 100000
/* Entities in one store. */
#define LIMIT_CEDAR_ENTITIES 10000000
/* Sum of all entities' ancestor counts: a long chain makes the closure
 * quadratic, so its total size (memory and load time) is capped. */
#define LIMIT_CEDAR_CLOSURE_TOTAL 4000000

/* ---- Cedar (schema and JSON data) --------------------------------------- */

/* Largest schema text: real schemas are a few KiB to a few hundred KiB. */
#define LIMIT_CEDAR_SCHEMA_TEXT (4 * 1024 * 1024)
/* Nesting of Set<..> and record types in a schema (the parser recurses). */
#define LIMIT_CEDAR_SCHEMA_DEPTH 64
/* Annotations on one schema declaration (duplicates are checked pairwise). */
#define LIMIT_CEDAR_SCHEMA_ANNOTATIONS 4096
/* Depth of the action group hierarchy (the cycle check recurses). */
#define LIMIT_CEDAR_SCHEMA_ACTION_DEPTH 1024
/* Largest entities or context JSON document we read. */
#define LIMIT_CEDAR_JSON_TEXT (64 * 1024 * 1024)

/* ---- logging ------------------------------------------------------------ */

/* One log line; longer messages are truncated, never split. */
#define LIMIT_LOG_LINE 4096

#endif
