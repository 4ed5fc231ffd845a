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

/* ---- the access path: task table and checks (broker/tasks.c, taskcheck.c) -- */

/* Tasks held in memory (live, or ended and not yet expired).  Each costs
 * about a KiB; past this a new task is refused rather than the process
 * growing without bound. */
#define LIMIT_TASKS_MEMORY (4 * 1024 * 1024)
/* Expired tasks a check removes in passing: bounded, so a million tasks
 * expiring at once cost each check a few heap pops, not a sweep. */
#define LIMIT_TASKS_SWEEP_CHECK 32
/* The table's thread sweeps this often, in batches of LIMIT_TASKS_SWEEP_BATCH
 * (memory and store rows), releasing the lock between batches. */
#define LIMIT_TASKS_SWEEP_INTERVAL_MS 1000
#define LIMIT_TASKS_SWEEP_BATCH 4096
/* Revoked token ids held until their expiry (RFC 7009 revocations). */
#define LIMIT_TASKS_REVOKED_JTI (1024 * 1024)
/* Check audit records committed in one transaction (group commit): bounds
 * the transaction a writer holds while checks wait on it. */
#define LIMIT_CHECK_COMMIT_BATCH 512
/* Longest a batch waits for checks already in flight to join it (a fsync
 * costs milliseconds; waiting a fraction of one saves several). */
#define LIMIT_CHECK_COMMIT_WAIT_US 1000
/* The same wait when commits are fast (no fsync: --audit-durability async):
 * each commit still writes every page it dirties to the WAL (4 KiB each,
 * four B-trees per audit record), so a batch of one costs ~5 page writes a
 * check; a wait of a check's own CPU time lets the ones in flight share. */
#define LIMIT_CHECK_COMMIT_WAIT_FAST_US 150
/* Data labels one checked call may name (an intent lists at most 64). */
#define LIMIT_CHECK_LABELS 64
/* Method of the original call (htm) and a resource name in a check. */
#define LIMIT_CHECK_METHOD_LEN 16
#define LIMIT_CHECK_RESOURCE_LEN 1024

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
/* Longest rotation age, retention or pre-publication of a signing key: ten
 * years; anything longer is a unit mistake (days given as seconds). */
#define LIMIT_JOSE_KEY_TIME_MAX_S (10 * 366 * 24 * 3600)
/* How often a server looks at its signing keys (rotation due, retired keys
 * to delete, keys made or revoked by another replica): a minute bounds how
 * long a revocation on one replica takes to reach the others. */
#define LIMIT_KEYS_TICK_S 60
/* Rotation on demand may start signing at most a week ahead. */
#define LIMIT_KEYS_ACTIVATE_MAX_S (7 * 24 * 3600)
/* The reason of a key revocation (kept in the audit record). */
#define LIMIT_KEYS_REASON_LEN 512
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
/* Imported DPoP proof keys kept (jwkcache.c, LRU): one per live agent key is
 * enough; an import costs as much as a verify (~70 us), an entry ~1 KiB with
 * its EVP_PKEY, so 4,096 keys are ~4 MiB.  A flood of fresh keys only evicts
 * (each of those proofs pays its import, as without a cache). */
#define LIMIT_JOSE_DPOP_KEY_CACHE 4096

/* ---- Cedar (engine core) ------------------------------------------------ */

/* Largest policy text we parse: real policy sets are a few hundred KiB. */
#define LIMIT_CEDAR_POLICY_TEXT (8 * 1024 * 1024)
/* Nesting depth of expressions (the parser and evaluator recurse). */
#define LIMIT_CEDAR_DEPTH 128
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

/* ---- access path: token exchange (A1) -------------------------------------- */

/* Clock skew tolerated on Mandate's own task tokens (exp, nbf, iat). */
#define LIMIT_ACCESS_SKEW_S 60
/* TTL of a task when the request names none: minutes, not days (the intent's
 * maximum still caps it). */
#define LIMIT_ACCESS_DEFAULT_TTL_S 300
/* Form parameters of one token request: RFC 8693 defines about ten; more is
 * an attack on the parser. */
#define LIMIT_ACCESS_FORM_PARAMS 24
/* The authorization_details JSON of one request: one mandate_task with at
 * most LIMIT_INTENT_TOOLS tools fits in a few KiB. */
#define LIMIT_ACCESS_AUTHZ_TEXT (12 * 1024)
/* Entries in authorization_details: a task is one mandate_task. */
#define LIMIT_ACCESS_AUTHZ_ENTRIES 1
/* The purpose text of a task (it goes in the token and the audit trail). */
#define LIMIT_ACCESS_PURPOSE_LEN 512
/* Downstream audiences a token may carry besides "mandate". */
#define LIMIT_ACCESS_AUDIENCES LIMIT_INTENT_DOWNSTREAM

/* ---- delegation and the kill switch (K1) ---------------------------------- */

/* Delegation depth when the server is given none: agent -> sub-agent ->
 * sub-sub-agent -> one more; deeper chains are hard to reason about. */
#define LIMIT_DELEG_DEPTH_DEFAULT 3
/* The most a server may be configured to allow: the act claim nests one
 * object per hop and the subtree revocation recurses once per level. */
#define LIMIT_DELEG_DEPTH_MAX 8
/* Kill switch entries engaged at once (agents, owners, teams): each check
 * scans them, so they stay few; "all" covers the rest. */
#define LIMIT_KILLSWITCH_ENTRIES 256
/* The reason text of a kill switch (it goes in every revocation record). */
#define LIMIT_KILLSWITCH_REASON_LEN 512

/* ---- the check path's speed (P1: store readers, API key cache) ---------- */

/* Read-only SQLite connections beside the one writer: reads (API key and
 * registry lookups, lists) run on them in WAL mode and never wait behind a
 * write transaction's fsync.  A small pool: SQLite readers are cheap, and
 * more than the HTTP worker threads would sit idle. */
#define LIMIT_STORE_READERS 8
/* WAL pages after which a commit asks the checkpoint thread to copy the
 * WAL back into the database (SQLite's own default is 1000, run inside the
 * commit that crosses it: a stall of several fsyncs for its waiters). */
#define LIMIT_STORE_CHECKPOINT_PAGES 1000
/* Prepared statements each connection keeps (the store's SQL is a few dozen
 * distinct texts); beyond this the least recently used one is finalized. */
#define LIMIT_STORE_STMT_CACHE 48
/* Authenticated API keys kept in memory (SHA-256 of the whole key -> the
 * caller): enough for every enforcement point and operator of a large
 * deployment; a miss only costs one store read. */
#define LIMIT_APIKEY_CACHE 1024
/* How long a cached key is trusted without reading the store again.  Every
 * revocation or human change made through this process empties the cache at
 * once; this bounds only changes made behind the server's back (another
 * process writing the same store file). */
#define LIMIT_APIKEY_CACHE_TTL_MS 30000

/* ---- the API policies (D1: policies/api.cedar) -------------------------------- */

/* policies/api.cedar and its schema: a few dozen rules about roles and
 * endpoints fit in a few KiB; a file this large is not one. */
#define LIMIT_API_POLICY_TEXT (256 * 1024)
#define LIMIT_API_POLICY_SCHEMA (64 * 1024)

/* ---- mandate demo (D1) ------------------------------------------------------ */

/* Largest answer the demo reads from the server: its answers are a few KiB;
 * more means it is not talking to Mandate. */
#define LIMIT_DEMO_RESPONSE_MAX (256 * 1024)
/* One demo request, connect to last byte: loopback answers in milliseconds. */
#define LIMIT_DEMO_HTTP_TIMEOUT_MS 10000

/* ---- logging ------------------------------------------------------------ */

/* One log line; longer messages are truncated, never split. */
#define LIMIT_LOG_LINE 4096

/* Largest refresh, stale or lifetime period we take from configuration or
 * from a bundle's spiffe_refresh_hint: a year; also keeps time sums far from
 * overflow. */
#define LIMIT_JOSE_TRUST_PERIOD_MAX_S (366LL * 24 * 3600)
/* Evaluation recursion depth: the AST height a policy within
 * LIMIT_CEDAR_DEPTH can reach (each nesting level adds a few operator
 * levels; chains of && || + * are flat).  Bounds the evaluator's stack. */
#define LIMIT_CEDAR_EVAL_DEPTH (12 * LIMIT_CEDAR_DEPTH)
/* Sum of all entities' ancestor counts: a long chain makes the closure
 * quadratic, so its total size (memory and load time) is capped. */
#define LIMIT_CEDAR_CLOSURE_TOTAL 4000000

/* ---- the audit trail (K2: hash chain, checkpoints, verify) -------------- */

/* Largest canonical encoding of one audit record that is hashed (the sum of
 * its members: actor chains, reasons and details are bounded by the
 * registry's and the check's own limits, far below this). */
#define LIMIT_AUDIT_RECORD_MAX (1024 * 1024)
/* A signed checkpoint is made when this many records follow the last one
 * (or LIMIT_AUDIT_CHECKPOINT_S passed with at least one new record): what
 * an outside party holding the checkpoints can lose to an undetected
 * truncation is at most this much. */
#define LIMIT_AUDIT_CHECKPOINT_RECORDS 1000
#define LIMIT_AUDIT_CHECKPOINT_S 60
/* Records read per page while verifying or exporting (memory bound of a
 * verifier: one page in an arena). */
#define LIMIT_AUDIT_VERIFY_PAGE 1000
/* The verifier walks a trail of at least twice this many records in two
 * halves on two threads (below it a second thread costs more than it
 * saves). */
#define LIMIT_AUDIT_VERIFY_SPLIT_MIN 4096
/* The audit scan (verify) maps up to this much of the store file instead of
 * reading it through read(2) (address space, not memory: the pages are the
 * page cache's).  A literal: it is pasted into a PRAGMA. */
#define LIMIT_AUDIT_SCAN_MMAP 1073741824
/* Retention (`serve --audit-retention-days`): the checkpoint thread prunes
 * at most this often (a prune is one transaction deleting up to a
 * checkpoint; hourly keeps each one small and the trail within an hour of
 * its retention), and a retention is at most this many days (100 years:
 * keeps the cutoff arithmetic far from overflow). */
#define LIMIT_AUDIT_PRUNE_INTERVAL_S 3600
#define LIMIT_AUDIT_RETENTION_DAYS_MAX 36500
/* A prune by the server's retention deletes at most this many records in
 * one transaction (it holds the writer: checks wait for it; ~0.2 s here),
 * and goes on at the next tick while older records are left. */
#define LIMIT_AUDIT_PRUNE_BATCH 50000
/* `mandate audit export --out FILE`: the longest line it reads back from
 * the end of FILE to find where the last export stopped (one exported
 * record is far below it: LIMIT_AUDIT_RECORD_MAX plus the OCSF wrapping). */
#define LIMIT_AUDIT_EXPORT_LINE_MAX (4 * 1024 * 1024)

/* ---- audit queries and traces (issue 8: GET /v1/audit filters, trace) ----- */

/* Delegation levels a trace follows below the task asked for: a live chain
 * is at most LIMIT_DELEG_DEPTH_MAX deep; the margin covers stores written
 * with other settings.  Deeper (or a parent cycle in an edited file) is an
 * error, and it bounds the recursion. */
#define LIMIT_AUDIT_TRACE_DEPTH 16
/* Tasks in one trace (the task and every task delegated below it): a fan-out
 * wider than this is not read as one tree; page its parts with
 * GET /v1/audit?task=. */
#define LIMIT_AUDIT_TRACE_TASKS 256
/* Records one trace returns in all, and per task: keeps an answer to a few
 * MiB.  A task with more shows the first ones and `events_next` (the seq to
 * page on with GET /v1/audit?task=ID&after=SEQ). */
#define LIMIT_AUDIT_TRACE_EVENTS 5000
#define LIMIT_AUDIT_TRACE_TASK_EVENTS 1000
/* A time in a query: RFC 3339 ("2026-12-04T18:00:00Z", with fractions and
 * offsets) or milliseconds since the epoch; longer text is not a time. */
#define LIMIT_AUDIT_QUERY_TIME_LEN 40

/* JSON policy format (EST) reader: JSON nesting it accepts.  An EST nests
 * 2-3 JSON levels per AST level and a left-nested chain (a && b && ...) one
 * level per operand; the reader recurses (bounded C stack), chains do not
 * count against LIMIT_CEDAR_EVAL_DEPTH, which bounds the AST it builds. */
#define LIMIT_CEDAR_EST_JSON_DEPTH 4096

#endif
