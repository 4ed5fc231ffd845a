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

/* ---- the access path's registry (broker) --------------------------------- */

/* Tools one intent may name: an intent is a narrow profile; a long list is a
 * sign it should be split, and scope checks walk this list. */
#define LIMIT_INTENT_TOOLS 64
/* Actions allowed per tool in an intent ("read", "create", ...). */
#define LIMIT_TOOL_ACTIONS 16
/* Data labels and downstream systems one intent may list. */
#define LIMIT_INTENT_LABELS 64
#define LIMIT_INTENT_DOWNSTREAM 32
/* Longest task an intent may allow: task tokens live minutes, a day at most. */
#define LIMIT_INTENT_TTL_MAX_S 86400
/* Calls a task may make, and calls per minute: bounded so counters stay small
 * and an intent cannot be a standing privilege in disguise. */
#define LIMIT_INTENT_BUDGET_MAX 1000000
#define LIMIT_INTENT_RATE_MAX 100000
/* Audiences and algorithms one trust issuer lists. */
#define LIMIT_ISSUER_AUDIENCES 16
#define LIMIT_ISSUER_ALGS 8
/* An audience string (a URI or a name). */
#define LIMIT_AUDIENCE_LEN 256
/* An issuer URL, a JWKS URL or a JWKS file path. */
#define LIMIT_URL_LEN 2048
/* Keys in an inline JWKS, and its size as JSON text: issuers publish a few
 * keys (current and previous); more is a misconfiguration. */
#define LIMIT_JWKS_KEYS 32
#define LIMIT_JWKS_TEXT (64 * 1024)
/* Cedar policy text and schema of one version: the largest legitimate bodies
 * (the HTTP body cap, 1 MiB, holds both). */
#define LIMIT_POLICY_TEXT (512 * 1024)
#define LIMIT_POLICY_SCHEMA (256 * 1024)
/* Bracket nesting in the policy shape check (it keeps a stack). */
#define LIMIT_POLICY_NESTING 64

/* ---- JSON --------------------------------------------------------------- */

/* Nesting depth of any JSON document we accept (jansson recurses). */
#define LIMIT_JSON_DEPTH 64

/* ---- jose: trust store and keyring (J2) ---------------------------------- */

/* Longest jwks_uri / issuer URL we fetch; URLs are short, a huge one is junk. */
#define LIMIT_JOSE_URL_LEN 2048
/* Largest JWKS, bundle or discovery document we read: real JWKS are a few
 * KiB; 256 KiB leaves room for big RSA sets and x509-svid certs in a bundle. */
#define LIMIT_JOSE_FETCH_BODY_MAX (256 * 1024)
/* Connect and total time for one fetch: a verifier thread waits on it. */
#define LIMIT_JOSE_FETCH_CONNECT_MS 3000
#define LIMIT_JOSE_FETCH_TOTAL_MS 5000
/* Issuers in one trust store. */
#define LIMIT_JOSE_TRUST_ISSUERS 256
/* Default refresh interval of fetched keys (SPIFFE bundles suggest one). */
#define LIMIT_JOSE_TRUST_REFRESH_S 300
/* How long keys past their refresh time are still used while refreshing
 * fails (stale-while-error): an IdP outage must not stop every agent at
 * once, but old keys (maybe revoked) must not live forever. */
#define LIMIT_JOSE_TRUST_STALE_S 3600
/* Fewest seconds between two refreshes of one issuer caused by failures or
 * unknown kids: a stream of tokens with random kids must not become a
 * stream of fetches to the IdP. */
#define LIMIT_JOSE_TRUST_MIN_REFRESH_S 30
/* Largest refresh, stale or lifetime period we take from configuration or
 * from a bundle's spiffe_refresh_hint: a year; also keeps time sums far from
 * overflow. */
#define LIMIT_JOSE_TRUST_PERIOD_MAX_S (366LL * 24 * 3600)
/* Clock skew allowed on exp/nbf/iat of workload credentials. */
#define LIMIT_JOSE_TRUST_SKEW_S 60
/* Longest accepted workload credential lifetime: JWT-SVIDs and ID tokens
 * live minutes to an hour; a day-long one is a misconfigured issuer. */
#define LIMIT_JOSE_TRUST_MAX_LIFETIME_S (24 * 3600)
/* Default rotation age of Mandate's current signing key. */
#define LIMIT_JOSE_KEY_ROTATE_S (7 * 24 * 3600)
/* Default time a replaced key stays published: longer than any task token
 * lives (tokens are minutes) with margin for caches downstream. */
#define LIMIT_JOSE_KEY_RETAIN_S (24 * 3600)
/* Keys in the keyring (current + previous). */
#define LIMIT_JOSE_KEYRING_KEYS 16
/* Largest key envelope we parse (an RSA-4096 private JWK is ~3.2 KiB). */
#define LIMIT_JOSE_ENVELOPE_MAX (16 * 1024)

/* ---- buffers ------------------------------------------------------------ */

/* Default cap of a growable buffer when the caller names none. */
#define LIMIT_BUF_DEFAULT_MAX (16 * 1024 * 1024)
/* Largest single arena block; bigger requests fail with ERR_LIMIT. */
#define LIMIT_ARENA_BLOCK_MAX (64 * 1024 * 1024)

/* ---- jose (J1: tokens, keys, DPoP) -------------------------------------- */

/* Largest compact JWS we look at; refused before any decoding.  Task tokens
 * with RFC 9396 authorization_details are a few KiB; ID tokens rarely pass 4. */
#define LIMIT_JOSE_TOKEN_MAX (16 * 1024)
/* Largest JWK or JWKS JSON text we parse (a JWKS of 64 RSA-4096 keys fits). */
#define LIMIT_JOSE_JWKS_TEXT_MAX (256 * 1024)
/* Keys in one JWKS: lookup is linear and every key is checked on load. */
#define LIMIT_JOSE_JWKS_KEYS 64
/* Largest RSA modulus accepted: verification cost grows with the size, and an
 * attacker-supplied DPoP jwk must not make us do 16k-bit operations. */
#define LIMIT_JOSE_RSA_BITS_MAX 8192
/* Smallest RSA modulus accepted (NIST SP 800-131A). */
#define LIMIT_JOSE_RSA_BITS_MIN 2048
/* Members in a JWS header / JWT claims set: bounds the checks per token. */
#define LIMIT_JOSE_JSON_MEMBERS 256
/* Length of a kid, jti, nonce, htm or htu we accept. */
#define LIMIT_JOSE_STR_LEN 2048
/* DPoP jti entries the replay cache holds; past this (all live) new proofs are
 * refused rather than forgetting one early (fail closed).  ~100 bytes each. */
#define LIMIT_JOSE_REPLAY_ENTRIES (1024 * 1024)
/* ---- Cedar (engine core) ------------------------------------------------ */

/* Largest policy text we parse: real policy sets are a few hundred KiB. */
#define LIMIT_CEDAR_POLICY_TEXT (8 * 1024 * 1024)
/* Nesting depth of expressions (the parser and evaluator recurse). */
#define LIMIT_CEDAR_DEPTH 128
/* Evaluation recursion depth: the AST height a policy within
 * LIMIT_CEDAR_DEPTH can reach (each nesting level adds a few operator
 * levels; chains of && || + * are flat).  Bounds the evaluator's stack. */
#define LIMIT_CEDAR_EVAL_DEPTH (12 * LIMIT_CEDAR_DEPTH)
/* JSON policy format (EST) reader: JSON nesting it accepts.  An EST nests
 * 2-3 JSON levels per AST level and a left-nested chain (a && b && ...) one
 * level per operand; the reader recurses (bounded C stack), chains do not
 * count against LIMIT_CEDAR_EVAL_DEPTH, which bounds the AST it builds. */
#define LIMIT_CEDAR_EST_JSON_DEPTH 4096
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
