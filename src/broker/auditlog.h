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

#endif
