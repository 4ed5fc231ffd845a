/*
 * auditlog.h: the tamper-evident trail on top of broker_audit (docs/audit.md):
 * signed checkpoints of the hash chain and the offline verifier.
 */
#ifndef MANDATE_BROKER_AUDITLOG_H
#define MANDATE_BROKER_AUDITLOG_H

#include <jansson.h>
#include <stdint.h>

#include "broker/broker.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/err.h"

/* The typ header of a checkpoint JWS. */
#define BROKER_CHECKPOINT_TYP "mandate-audit-checkpoint+jwt"

/* What broker_audit_verify found. */
struct broker_audit_verify {
    int64_t records;     /* records whose hash was recomputed */
    int64_t first_seq;   /* the first record (0: none) */
    int64_t last_seq;    /* the last record */
    int64_t checkpoints; /* checkpoints compared with the chain */
    int64_t signatures;  /* checkpoint signatures verified (with a verifier) */
    int64_t bad_seq;     /* 0: intact; else the first broken record (or checkpoint) seq */
    int bad_checkpoint;  /* bad_seq names a checkpoint rather than a record */
    char what[512];      /* the finding, for a person */
};

/* Walks the whole trail of s in seq order: each record's hash recomputed
 * (modified), linked to the one before (inserted, reordered), numbers
 * consecutive (deleted), and every checkpoint's head equal to the hash of
 * its record and not past the end (truncated).  With v (may be NULL) each
 * checkpoint's signature is verified too.  Returns 0 when intact, 1 when
 * broken (out->bad_seq, out->what), negative ERR_* when it could not read. */
int broker_audit_verify(struct store *s, const struct jose_verifier *v,
                        struct broker_audit_verify *out, struct err *e) MUST_CHECK;

/* Makes a signed checkpoint at the current head when it is newer than the
 * last one (needs the runtime's keyring).  *seq (may be NULL): the seq
 * checkpointed, 0 when nothing was due. */
int broker_audit_checkpoint(struct broker *b, int64_t *seq, struct err *e) MUST_CHECK;

/* Starts (stops) the thread that checkpoints every `records` records or
 * `seconds` seconds (0: the LIMIT_AUDIT_CHECKPOINT_* defaults); stop makes a
 * last checkpoint.  Called by broker_runtime_start/stop. */
int broker_audit_checkpoints_start(struct broker *b, int64_t records, int64_t seconds,
                                   struct err *e) MUST_CHECK;
void broker_audit_checkpoints_stop(struct broker *b);

/* GET /v1/audit/checkpoints: {"items":[{seq, head, time, jws}], "next"}. */
int broker_audit_checkpoint_list(struct broker *b, int64_t after, size_t limit, json_t **out,
                                 struct err *e) MUST_CHECK;

/* ---- retention (auditprune.c) ------------------------------------------------ */

/* What broker_audit_prune did. */
struct broker_audit_prune {
    int64_t checkpoint; /* the checkpoint pruned up to (its seq) */
    int64_t from_seq;   /* the first record deleted */
    int64_t deleted;    /* records deleted (0: nothing was older) */
    int64_t record;     /* seq of the audit.prune record (0: none written) */
};

/* Deletes the audit records up to the newest checkpoint with seq <=
 * before_seq made before before_ms (pass INT64_MAX for the bound not used),
 * never past it, in one transaction with an "audit.prune" record naming the
 * checkpoint (written first, so the chain goes on from the head).  The
 * checkpoint must match the chain (its record's hash), else ERR_CONFLICT
 * and nothing is deleted.  ERR_NOTFOUND (with a message for a person) when
 * no checkpoint is old enough.  Nothing older left: 0 with out->deleted 0
 * and no record.  c: the caller for the record (NULL: system). */
int broker_audit_prune(struct store *s, const struct broker_caller *c, int64_t before_seq,
                       int64_t before_ms, struct broker_audit_prune *out, struct err *e) MUST_CHECK;

/* ---- export (auditexport.c) --------------------------------------------------- */

/* The OCSF schema version the export writes (metadata.version). */
#define BROKER_OCSF_VERSION "1.3.0"

/* One record as a JSON object in the export's "jsonl" format: the columns
 * by name (JSON columns as JSON, NULL members left out, policy_version left
 * out when 0), prev_hash and hash included. */
json_t *broker_audit_record_jsonl(const struct store_audit *r);

/* One record as an OCSF 1.x event (docs/audit.md, "Export"): API Activity
 * (6003) for checks, administration and refusals, Authorize Session (3003)
 * for token exchanges; the record's seq, hash and prev_hash in metadata
 * (uid, sequence, extension) so a SIEM can resume and cross-check, what
 * OCSF has no place for in unmapped.  product_version: Mandate's version.
 * NULL when out of memory. */
json_t *broker_audit_record_ocsf(const struct store_audit *r, const char *product_version);

#endif
