/*
 * auditprune.c: retention of the audit trail (docs/audit.md, "Retention").
 *
 * Records may only go up to a signed checkpoint: a verifier then starts the
 * chain from the checkpoint's head (the first remaining record links to
 * it), so what is left still proves itself and an outside party holding the
 * checkpoints can still hold Mandate to everything after it.  Deleting past
 * a checkpoint would leave a start nobody signed: refused.  The prune is
 * one transaction and is itself audited; its record is written before the
 * delete, so the chain always has a head to go on from (even when the
 * checkpoint was the last record).
 */
#include <stdint.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/arena.h"

struct prune_ctx {
    const struct broker_caller *c;
    int64_t before_seq, before_ms;
    struct broker_audit_prune *out;
};

/* The record with this seq (ERR_NOTFOUND when gone). */
static int record_at(struct store *s, int64_t seq, struct arena *a, struct store_audit **r,
                     struct err *e)
{
    size_t n = 0;
    int rc = s->ops->audit_list(s, seq - 1, 1, a, r, &n, e);

    if (rc == 0 && (n == 0 || (*r)->seq != seq)) {
        rc = err_set(e, ERR_NOTFOUND, "audit record %lld: not in the store", (long long)seq);
    }
    return rc;
}

static int prune_in(struct store *s, void *ctx, struct err *e)
{
    struct prune_ctx *x = ctx;
    struct store_audit_checkpoint cp;
    struct store_audit *first, *at;
    struct broker_audit_event ev;
    struct arena a;
    size_t n = 0;
    int64_t deleted = 0;
    int r;

    arena_init(&a, 0, 0);
    memset(&ev, 0, sizeof(ev));
    r = s->ops->audit_checkpoint_before(s, x->before_seq, x->before_ms, &a, &cp, e);
    if (r == ERR_NOTFOUND) {
        r = err_set(e, ERR_NOTFOUND,
                    "no signed checkpoint before the cutoff: records are only deleted up to a "
                    "checkpoint (`mandate serve` makes them), nothing deleted");
        goto out;
    }
    if (r != 0) {
        goto out;
    }
    x->out->checkpoint = cp.seq;
    r = s->ops->audit_list(s, 0, 1, &a, &first, &n, e);
    if (r != 0 || n == 0 || first->seq > cp.seq) {
        goto out; /* nothing as old as the checkpoint is left */
    }
    r = record_at(s, cp.seq, &a, &at, e);
    if (r == 0 && (at->hash == NULL || strcmp(at->hash, cp.head) != 0)) {
        r = ERR_CONFLICT;
    }
    if (r != 0) {
        r = err_set(e, ERR_CONFLICT,
                    "checkpoint %lld does not match the chain (run `mandate audit verify`): "
                    "nothing deleted",
                    (long long)cp.seq);
        goto out;
    }
    ev.event = "audit.prune";
    ev.decision = "ok";
    ev.resource = "audit";
    ev.detail = json_pack("{s:I, s:s, s:I, s:I}", "checkpoint", (json_int_t)cp.seq, "head", cp.head,
                          "from_seq", (json_int_t)first->seq, "through_seq", (json_int_t)cp.seq);
    if (ev.detail == NULL) {
        r = err_set(e, ERR_NOMEM, "out of memory");
        goto out;
    }
    if (x->before_ms != INT64_MAX) {
        json_object_set_new(ev.detail, "cutoff_ms", json_integer(x->before_ms));
    }
    x->out->from_seq = first->seq;
    r = broker_audit(s, x->c, &ev, &x->out->record, e);
    r = r ? r : s->ops->audit_prune(s, cp.seq, &deleted, e);
    if (r == 0) {
        x->out->deleted = deleted;
    }
out:
    json_decref(ev.detail);
    arena_free(&a);
    return r;
}

int broker_audit_prune(struct store *s, const struct broker_caller *c, int64_t before_seq,
                       int64_t before_ms, struct broker_audit_prune *out, struct err *e)
{
    struct prune_ctx x = {c, before_seq, before_ms, out};
    int r;

    memset(out, 0, sizeof(*out));
    if (s->ops->audit_prune == NULL || s->ops->audit_checkpoint_before == NULL) {
        return err_set(e, ERR_UNSUPPORTED, "this store cannot prune its audit trail");
    }
    r = store_tx(s, prune_in, &x, e);
    if (r != 0) {
        struct broker_audit_prune none = {out->checkpoint, 0, 0, 0};
        *out = none; /* rolled back */
    }
    return r;
}
