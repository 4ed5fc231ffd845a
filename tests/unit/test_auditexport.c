/* test_auditexport.c: retention and export of the audit trail (docs/audit.md,
 * "Retention" and "Export"): broker_audit_prune deletes up to a checkpoint
 * and never past one, is audited, and verify still passes from the
 * checkpoint (and finds a gap no checkpoint covers); every exported OCSF
 * event satisfies the checked-in OCSF subset schema
 * (data/ocsf/event-subset.schema.json, checked by a small JSON-schema
 * walker here); the jsonl export round-trips (the hash recomputes from the
 * exported line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "broker/broker.h"
#include "broker/broker_int.h"
#include "jose/jose.h"
#include "store/store.h"
#include "tstore.h"
#include "util/arena.h"

#define NREC 20

struct fx {
    struct tstore ts;
};

/* ---- fixtures ------------------------------------------------------------------ */

static void append(struct store *s, const struct store_audit *r, int64_t *seq)
{
    struct err e;

    err_clear(&e);
    if (s->ops->audit_append(s, r, seq, &e) != 0) {
        fail_msg("append: %s", e.msg);
    }
}

static void append_check(struct store *s, int i)
{
    struct store_audit r = {.time_ms = 1000 + i,
                            .event = "check",
                            .actor_chain = "[{\"sub\":\"spiffe://td/a\",\"type\":\"agent\"}]",
                            .decision = i % 3 ? "allow" : "deny",
                            .reasons = "[]",
                            .agent = "spiffe://td/a",
                            .human = "alice",
                            .task = "t1",
                            .tool = "payments.refund",
                            .action = "create",
                            .resource = "order:42"};
    append(s, &r, NULL);
}

/* A checkpoint at seq (the record's hash unless head given), made at time_ms;
 * its JWS is unsigned: verify without a verifier compares the payload. */
static void checkpoint(struct store *s, int64_t seq, int64_t time_ms, const char *head)
{
    struct store_audit *v;
    struct store_audit_checkpoint c;
    struct arena a;
    struct err e;
    size_t n, plen;
    char payload[256], *b64 = NULL, jws[512];

    arena_init(&a, 0, 0);
    assert_int_equal(s->ops->audit_list(s, seq - 1, 1, &a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    snprintf(payload, sizeof(payload), "{\"seq\":%lld,\"head\":\"%s\",\"iat\":1}", (long long)seq,
             head ? head : v[0].hash);
    assert_int_equal(jose_b64url_encode(payload, strlen(payload), &b64, &plen), 0);
    snprintf(jws, sizeof(jws), "eyJhbGciOiJub25lIn0.%s.", b64);
    memset(&c, 0, sizeof(c));
    c.seq = seq;
    c.head = head ? head : v[0].hash;
    c.time_ms = time_ms;
    c.jws = jws;
    assert_int_equal(s->ops->audit_checkpoint_insert(s, &c, &e), 0);
    free(b64);
    arena_free(&a);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    int i;

    tstore_open(&f->ts, "auditx");
    for (i = 0; i < NREC; i++) {
        append_check(f->ts.s, i);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    tstore_close(&f->ts);
    free(f);
    return 0;
}

static int verify(struct fx *f, struct broker_audit_verify *out)
{
    struct err e;
    int r = broker_audit_verify(f->ts.s, NULL, out, &e);

    assert_true(r >= 0);
    return r;
}

static int64_t count(struct fx *f)
{
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n;

    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, 0, 1000, &a, &v, &n, &e), 0);
    arena_free(&a);
    return (int64_t)n;
}

/* ---- prune ----------------------------------------------------------------------- */

static void prune_needs_a_checkpoint(void **state)
{
    struct fx *f = *state;
    struct broker_audit_prune p;
    struct err e;

    assert_int_equal(broker_audit_prune(f->ts.s, NULL, INT64_MAX, INT64_MAX, &p, &e), ERR_NOTFOUND);
    assert_non_null(strstr(e.msg, "no signed checkpoint"));
    assert_int_equal(count(f), NREC);
    /* a checkpoint after the cutoff does not count either */
    checkpoint(f->ts.s, 10, 500, NULL);
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, 9, INT64_MAX, &p, &e), ERR_NOTFOUND);
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, INT64_MAX, 400, &p, &e), ERR_NOTFOUND);
    assert_int_equal(count(f), NREC);
}

static void prune_up_to_checkpoint(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;
    struct broker_audit_prune p;
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n;

    checkpoint(f->ts.s, 5, 100, NULL);
    checkpoint(f->ts.s, 10, 200, NULL);
    checkpoint(f->ts.s, 20, 300, NULL);
    /* before seq 15: up to checkpoint 10, not 15 */
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, 15, INT64_MAX, &p, &e), 0);
    assert_int_equal(p.checkpoint, 10);
    assert_int_equal(p.from_seq, 1);
    assert_int_equal(p.deleted, 10);
    assert_int_equal(p.record, NREC + 1);
    assert_int_equal(count(f), NREC - 10 + 1);
    /* the prune is audited, naming the checkpoint */
    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, NREC, 1, &a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].event, "audit.prune");
    assert_non_null(strstr(v[0].detail, "\"checkpoint\":10"));
    arena_free(&a);
    /* verify passes from the checkpoint */
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.first_seq, 11);
    assert_int_equal(out.last_seq, NREC + 1);
    /* again: nothing older is left */
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, 15, INT64_MAX, &p, &e), 0);
    assert_int_equal(p.deleted, 0);
    assert_int_equal(p.record, 0);
    /* by age: checkpoints made before 250 ms: 10, 5 -> nothing new */
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, INT64_MAX, 250, &p, &e), 0);
    assert_int_equal(p.deleted, 0);
    /* by age, up to the head's checkpoint: the prune record keeps the chain going */
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, INT64_MAX, 301, &p, &e), 0);
    assert_int_equal(p.checkpoint, 20);
    assert_int_equal(p.deleted, 10);
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.first_seq, NREC + 1);
    assert_int_equal(out.records, 2);
    /* a gap no checkpoint covers is still found */
    append_check(f->ts.s, 99);
    append_check(f->ts.s, 100);
    tstore_sql(&f->ts, "DELETE FROM audit WHERE seq = 23");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 23);
    assert_non_null(strstr(out.what, "missing"));
}

static void prune_refuses_a_checkpoint_off_the_chain(void **state)
{
    struct fx *f = *state;
    struct broker_audit_prune p;
    struct err e;

    checkpoint(f->ts.s, 10, 100,
               "00000000000000000000000000000000000000000000000000000000000000ff");
    assert_int_equal(broker_audit_prune(f->ts.s, NULL, INT64_MAX, INT64_MAX, &p, &e), ERR_CONFLICT);
    assert_non_null(strstr(e.msg, "does not match the chain"));
    assert_int_equal(count(f), NREC);
    assert_int_equal(p.deleted, 0);
}

/* A gap at the start with no checkpoint behind it. */
static void gap_at_start_without_checkpoint(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;

    checkpoint(f->ts.s, 10, 100, NULL);
    tstore_sql(&f->ts, "DELETE FROM audit WHERE seq <= 7");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 8);
    assert_non_null(strstr(out.what, "no checkpoint covers them"));
}

/* ---- a JSON-schema subset: type, required, properties, items, enum, const,
 * minimum, maximum, minItems, anyOf ---------------------------------------------- */

static int schema_ok(const json_t *sc, const json_t *v, char *where, size_t wlen);

static int type_ok(const char *t, const json_t *v)
{
    return (strcmp(t, "object") == 0 && json_is_object(v)) ||
           (strcmp(t, "array") == 0 && json_is_array(v)) ||
           (strcmp(t, "string") == 0 && json_is_string(v)) ||
           (strcmp(t, "integer") == 0 && json_is_integer(v)) ||
           (strcmp(t, "boolean") == 0 && json_is_boolean(v));
}

static int enum_ok(const json_t *en, const json_t *v)
{
    size_t i;
    json_t *x;

    json_array_foreach(en, i, x)
    {
        if (json_equal(x, v)) {
            return 1;
        }
    }
    return 0;
}

static int schema_ok(const json_t *sc, const json_t *v, char *where, size_t wlen)
{
    const json_t *t = json_object_get(sc, "type"), *p;
    const char *k;
    json_t *x;
    size_t i;
    int any = 0;

    if (t != NULL && !type_ok(json_string_value(t), v)) {
        snprintf(where, wlen, "not a %s", json_string_value(t));
        return 0;
    }
    if ((p = json_object_get(sc, "enum")) != NULL && !enum_ok(p, v)) {
        snprintf(where, wlen, "not in its enum");
        return 0;
    }
    if ((p = json_object_get(sc, "const")) != NULL && !json_equal((json_t *)p, (json_t *)v)) {
        snprintf(where, wlen, "not the const");
        return 0;
    }
    if ((p = json_object_get(sc, "minimum")) != NULL && json_is_integer(v) &&
        json_integer_value(v) < json_integer_value(p)) {
        snprintf(where, wlen, "below its minimum");
        return 0;
    }
    if ((p = json_object_get(sc, "maximum")) != NULL && json_is_integer(v) &&
        json_integer_value(v) > json_integer_value(p)) {
        snprintf(where, wlen, "above its maximum");
        return 0;
    }
    if ((p = json_object_get(sc, "minItems")) != NULL && json_is_array(v) &&
        (json_int_t)json_array_size(v) < json_integer_value(p)) {
        snprintf(where, wlen, "too few items");
        return 0;
    }
    json_array_foreach(json_object_get(sc, "required"), i, x)
    {
        if (json_object_get(v, json_string_value(x)) == NULL) {
            snprintf(where, wlen, "required \"%s\" missing", json_string_value(x));
            return 0;
        }
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)json_object_get(sc, "properties"), k, x)
        {
            const json_t *m = json_object_get(v, k);
            if (m != NULL && !schema_ok(x, m, where, wlen)) {
                size_t l = strlen(where);
                char tmp[512];
                snprintf(tmp, sizeof(tmp), "%s: %.*s", k, (int)l, where);
                snprintf(where, wlen, "%s", tmp);
                return 0;
            }
        }
    }
    if (json_is_array(v) && (p = json_object_get(sc, "items")) != NULL) {
        json_array_foreach((json_t *)v, i, x)
        {
            if (!schema_ok(p, x, where, wlen)) {
                return 0;
            }
        }
    }
    if ((p = json_object_get(sc, "anyOf")) != NULL) {
        json_array_foreach((json_t *)p, i, x)
        {
            char w2[512];
            any |= schema_ok(x, v, w2, sizeof(w2));
        }
        if (!any) {
            snprintf(where, wlen, "none of anyOf holds");
            return 0;
        }
    }
    return 1;
}

static json_t *load_schema(void)
{
    const char *dir = getenv("MANDATE_TEST_DATA");
    char path[512];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof(path), "%s/ocsf/event-subset.schema.json", dir ? dir : "tests/unit/data");
    j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL) {
        fail_msg("%s:%d: %s", path, je.line, je.text);
    }
    return j;
}

/* ---- export ------------------------------------------------------------------------ */

/* One record of every kind the broker writes (and one it does not know). */
static const struct store_audit kinds[] = {
    {.event = "check",
     .decision = "allow",
     .tool = "payments.refund",
     .action = "create",
     .resource = "order:42",
     .data_labels = "[\"customer\"]",
     .downstream = "payments-api",
     .agent = "spiffe://td/a",
     .human = "alice",
     .task = "t1",
     .intent = "refunds",
     .request_id = "r1",
     .caller = "pep1",
     .policy_version = 3},
    {.event = "check",
     .decision = "deny",
     .tool = "crm.read",
     .action = "read",
     .resource = "customer:7",
     .agent = "spiffe://td/a",
     .task = "t1",
     .reasons = "[\"drift_tool\"]"},
    {.event = "task.check",
     .decision = "allow",
     .tool = "x",
     .action = "frobnicate",
     .agent = "spiffe://td/a",
     .task = "t2"},
    {.event = "task.exchange",
     .decision = "allow",
     .agent = "spiffe://td/a",
     .human = "alice",
     .intent = "refunds",
     .task = "t1",
     .detail = "{\"ttl\":300}",
     .policy_version = 3},
    {.event = "task.exchange",
     .decision = "deny",
     .agent = "spiffe://td/b",
     .reasons = "[\"not_entitled\"]"},
    {.event = "task.revoke", .decision = "ok", .task = "t1", .agent = "spiffe://td/a"},
    {.event = "task.complete", .decision = "ok", .task = "t1", .agent = "spiffe://td/a"},
    {.event = "agent.create",
     .caller = "adm1",
     .resource = "agent:spiffe://td/a",
     .request_id = "r2",
     .detail = "{\"owner\":\"alice\"}"},
    {.event = "agent.status", .caller = "adm1", .resource = "agent:spiffe://td/a"},
    {.event = "entitlement.remove", .caller = "adm1", .resource = "agent:spiffe://td/a"},
    {.event = "policy.activate", .caller = "adm1", .resource = "policy:4", .policy_version = 4},
    {.event = "human.offboard", .caller = "adm1", .resource = "human:bob"},
    {.event = "killswitch.engage", .caller = "sec1", .detail = "{\"scope\":\"all\"}"},
    {.event = "killswitch.lift", .caller = "sec1"},
    {.event = "apikey.create", .resource = "apikey:k1"},
    {.event = "request.refused",
     .decision = "deny",
     .caller = "aud1",
     .request_id = "r3",
     .reasons = "[\"role\"]",
     .detail = "{\"method\":\"DELETE\",\"path\":\"/v1/agents/x\"}"},
    {.event = "audit.prune", .resource = "audit", .detail = "{\"checkpoint\":10}"},
    {.event = "escalation.approve", .decision = "ok", .caller = "own1", .task = "t9"},
    {.event = "something.new", .decision = "ok"},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static void fill_kinds(struct store *s)
{
    size_t i;

    for (i = 0; i < NKINDS; i++) {
        struct store_audit r = kinds[i];
        r.time_ms = 1767225600000 + (int64_t)i;
        r.actor_chain = r.actor_chain ? r.actor_chain : "[{\"type\":\"system\"}]";
        r.reasons = r.reasons ? r.reasons : "[]";
        r.decision = r.decision ? r.decision : "ok";
        append(s, &r, NULL);
    }
}

static void ocsf_events_meet_the_schema(void **state)
{
    struct fx *f = *state;
    json_t *schema = load_schema();
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n, i;
    int saw3003 = 0, saw_other = 0;

    fill_kinds(f->ts.s);
    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, 0, 1000, &a, &v, &n, &e), 0);
    assert_int_equal(n, NREC + NKINDS);
    for (i = 0; i < n; i++) {
        json_t *o = broker_audit_record_ocsf(&v[i], "0.1.0");
        char where[512] = "";
        json_int_t cls, act;
        assert_non_null(o);
        if (!schema_ok(schema, o, where, sizeof(where))) {
            char *d = json_dumps(o, JSON_COMPACT);
            fail_msg("record %lld (%s): %s\n%s", (long long)v[i].seq, v[i].event, where, d);
        }
        cls = json_integer_value(json_object_get(o, "class_uid"));
        act = json_integer_value(json_object_get(o, "activity_id"));
        assert_int_equal(json_integer_value(json_object_get(o, "type_uid")), cls * 100 + act);
        assert_int_equal(json_integer_value(json_object_get(o, "category_uid")), cls / 1000);
        /* the SIEM's resume point and cross-check */
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(o, "metadata"), "sequence")),
            v[i].seq);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(o, "metadata"), "uid")), v[i].hash);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(o, "unmapped"), "prev_hash")),
            v[i].prev_hash);
        assert_int_equal(json_integer_value(json_object_get(o, "time")), v[i].time_ms);
        saw3003 += cls == 3003;
        saw_other += act == 99;
        if (strcmp(v[i].event, "check") == 0 && strcmp(v[i].tool, "crm.read") == 0) {
            assert_int_equal(json_integer_value(json_object_get(o, "status_id")), 2);
            assert_int_equal(json_integer_value(json_object_get(o, "activity_id")), 2); /* read */
        }
        if (strcmp(v[i].event, "request.refused") == 0) {
            assert_int_equal(act, 4); /* DELETE */
            assert_string_equal(
                json_string_value(json_object_get(json_object_get(o, "api"), "operation")),
                "DELETE /v1/agents/x");
        }
        json_decref(o);
    }
    assert_int_equal(saw3003, 2);
    assert_true(saw_other >= 2); /* frobnicate, something.new */
    /* the schema can fail: an event without its api is refused */
    {
        json_t *o = broker_audit_record_ocsf(&v[0], "0.1.0");
        char where[512];
        json_object_del(o, "api");
        assert_false(schema_ok(schema, o, where, sizeof(where)));
        json_decref(o);
    }
    arena_free(&a);
    json_decref(schema);
}

/* A member of an exported line back to the column's text (JSON columns as
 * broker_audit wrote them: compact, sorted keys). */
static char *col_back(json_t *line, const char *k, int is_json)
{
    json_t *m = json_object_get(line, k);

    if (m == NULL) {
        return NULL;
    }
    if (!is_json || json_is_string(m)) {
        return strdup(json_string_value(m));
    }
    return json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void jsonl_round_trips(void **state)
{
    static const struct {
        const char *k;
        int is_json;
        size_t off;
    } cols[] = {
        {"event", 0, offsetof(struct store_audit, event)},
        {"request_id", 0, offsetof(struct store_audit, request_id)},
        {"caller", 0, offsetof(struct store_audit, caller)},
        {"actor_chain", 1, offsetof(struct store_audit, actor_chain)},
        {"agent", 0, offsetof(struct store_audit, agent)},
        {"human", 0, offsetof(struct store_audit, human)},
        {"intent", 0, offsetof(struct store_audit, intent)},
        {"task", 0, offsetof(struct store_audit, task)},
        {"tool", 0, offsetof(struct store_audit, tool)},
        {"action", 0, offsetof(struct store_audit, action)},
        {"resource", 0, offsetof(struct store_audit, resource)},
        {"data_labels", 1, offsetof(struct store_audit, data_labels)},
        {"downstream", 0, offsetof(struct store_audit, downstream)},
        {"decision", 0, offsetof(struct store_audit, decision)},
        {"reasons", 1, offsetof(struct store_audit, reasons)},
        {"detail", 1, offsetof(struct store_audit, detail)},
        {"prev_hash", 0, offsetof(struct store_audit, prev_hash)},
        {"hash", 0, offsetof(struct store_audit, hash)},
    };
#define NCOLS (sizeof(cols) / sizeof(cols[0]))
    struct fx *f = *state;
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n, i, c;

    fill_kinds(f->ts.s);
    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, 0, 1000, &a, &v, &n, &e), 0);
    for (i = 0; i < n; i++) {
        json_t *o = broker_audit_record_jsonl(&v[i]), *back;
        char *line = json_dumps(o, JSON_COMPACT), *texts[NCOLS];
        struct store_audit r;
        char h[STORE_AUDIT_HASH_HEX + 1];
        json_error_t je;

        json_decref(o);
        back = json_loads(line, JSON_REJECT_DUPLICATES, &je);
        assert_non_null(back);
        memset(&r, 0, sizeof(r));
        r.seq = json_integer_value(json_object_get(back, "seq"));
        r.time_ms = json_integer_value(json_object_get(back, "time_ms"));
        r.policy_version = json_integer_value(json_object_get(back, "policy_version"));
        for (c = 0; c < NCOLS; c++) {
            const char *orig = *(const char *const *)((const char *)&v[i] + cols[c].off);
            texts[c] = col_back(back, cols[c].k, cols[c].is_json);
            *(const char **)((char *)&r + cols[c].off) = texts[c];
            if (orig == NULL) {
                assert_null(texts[c]);
            } else {
                assert_non_null(texts[c]);
                assert_string_equal(texts[c], orig);
            }
        }
        assert_int_equal(r.seq, v[i].seq);
        assert_int_equal(r.time_ms, v[i].time_ms);
        assert_int_equal(r.policy_version, v[i].policy_version);
        assert_int_equal(store_audit_hash(&r, r.prev_hash, h), 0);
        assert_string_equal(h, v[i].hash);
        for (c = 0; c < NCOLS; c++) {
            free(texts[c]);
        }
        json_decref(back);
        free(line);
    }
    arena_free(&a);
}

/* The fast scan sees what the paged list sees. */
static void scan_matches_list(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;

    fill_kinds(f->ts.s);
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.records, NREC + NKINDS);
    tstore_sql(&f->ts, "UPDATE audit SET tool = 'y' WHERE seq = 25");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 25);
}

/* A trail long enough to be walked in two halves on two threads: intact,
 * then broken in the second half, at the seam, in the first half; each
 * time the first finding is named exactly. */
static void long_trail_two_halves(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;
    struct store_audit *v, q;
    struct arena a;
    struct err e;
    char h[STORE_AUDIT_HASH_HEX + 1], sqlbuf[512];
    const char *bad = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    int64_t total = NREC + 10000, mid = 1 + (total - 1) / 2, c;
    size_t n;
    int i;

    assert_int_equal(f->ts.s->ops->tx_begin(f->ts.s, &e), 0);
    for (i = NREC; i < total; i++) {
        append_check(f->ts.s, i);
    }
    assert_int_equal(f->ts.s->ops->tx_commit(f->ts.s, &e), 0);
    for (c = 1000; c <= total; c += 1000) {
        checkpoint(f->ts.s, c, c, NULL);
    }
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.records, total);
    assert_int_equal(out.first_seq, 1);
    assert_int_equal(out.last_seq, total);
    assert_int_equal(out.checkpoints, total / 1000);
    /* pruned at a checkpoint: the halves still start right */
    tstore_sql(&f->ts, "DELETE FROM audit WHERE seq <= 1000");
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.first_seq, 1001);
    assert_int_equal(out.records, total - 1000);

    tstore_sql(&f->ts, "UPDATE audit SET tool = 'x' WHERE seq = 9000");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 9000);
    assert_non_null(strstr(out.what, "modified"));

    /* the record just after the seam linked elsewhere, its own hash consistent */
    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, mid, 1, &a, &v, &n, &e), 0);
    assert_int_equal(n, 1);
    q = v[0];
    q.prev_hash = bad;
    assert_int_equal(store_audit_hash(&q, q.prev_hash, h), 0);
    snprintf(sqlbuf, sizeof(sqlbuf),
             "UPDATE audit SET prev_hash = '%s', hash = '%s' WHERE seq = %lld", bad, h,
             (long long)q.seq);
    arena_free(&a);
    tstore_sql(&f->ts, sqlbuf);
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, mid + 1);
    assert_non_null(strstr(out.what, "does not link"));

    tstore_sql(&f->ts, "UPDATE audit SET tool = 'z' WHERE seq = 1500");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 1500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(prune_needs_a_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_up_to_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(prune_refuses_a_checkpoint_off_the_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(gap_at_start_without_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(ocsf_events_meet_the_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(jsonl_round_trips, setup, teardown),
        cmocka_unit_test_setup_teardown(scan_matches_list, setup, teardown),
        cmocka_unit_test_setup_teardown(long_trail_two_halves, setup, teardown),
    };
    return cmocka_run_group_tests_name("auditexport", tests, NULL, NULL);
}
