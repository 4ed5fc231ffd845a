/* test_audit.c: the tamper-evident audit trail (broker/broker.h): the hash
 * chain the store writes, checkpoints, and the verifier finding and locating
 * each kind of tampering (docs/audit.md). */
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
#include "jose/jose.h"
#include "store/store.h"
#include "tstore.h"
#include "util/arena.h"

#define NREC 20

struct fx {
    struct tstore ts;
};

static void append(struct store *s, int i)
{
    char task[32], tool[32];
    struct store_audit r = {.time_ms = 1000 + i,
                            .event = "task.check",
                            .actor_chain = "[{\"kind\":\"agent\",\"id\":\"spiffe://td/a\"}]",
                            .decision = i % 3 ? "allow" : "deny",
                            .reasons = "[]",
                            .agent = "spiffe://td/a",
                            .human = "alice"};
    struct err e;
    int64_t seq = 0;

    snprintf(task, sizeof(task), "t%d", i / 5);
    snprintf(tool, sizeof(tool), "tool%d", i % 4);
    r.task = task;
    r.tool = tool;
    assert_int_equal(s->ops->audit_append(s, &r, &seq, &e), 0);
    assert_int_equal(seq, i + 1);
}

/* A checkpoint at seq with the record's hash; its JWS is unsigned (alg
 * none): without a verifier only the payload is compared. */
static void checkpoint(struct store *s, int64_t seq, const char *head_override)
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
             head_override ? head_override : v[0].hash);
    assert_int_equal(jose_b64url_encode(payload, strlen(payload), &b64, &plen), 0);
    snprintf(jws, sizeof(jws), "eyJhbGciOiJub25lIn0.%s.", b64);
    memset(&c, 0, sizeof(c));
    c.seq = seq;
    c.head = head_override ? head_override : v[0].hash;
    c.time_ms = 1;
    c.jws = jws;
    assert_int_equal(s->ops->audit_checkpoint_insert(s, &c, &e), 0);
    free(b64);
    arena_free(&a);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    int i;

    tstore_open(&f->ts, "audit");
    for (i = 0; i < NREC; i++) {
        append(f->ts.s, i);
    }
    checkpoint(f->ts.s, 10, NULL);
    checkpoint(f->ts.s, NREC, NULL);
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

static void intact(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;

    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.records, NREC);
    assert_int_equal(out.first_seq, 1);
    assert_int_equal(out.last_seq, NREC);
    assert_int_equal(out.checkpoints, 2);
    /* a new record after the last checkpoint is fine */
    append(f->ts.s, NREC);
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.records, NREC + 1);
}

/* One row per kind of tampering: the SQL, the seq reported, whether it is a
 * checkpoint, a word of the finding. */
static const struct {
    const char *name, *sql;
    int64_t seq;
    int cp;
    const char *word;
} cases[] = {
    {"field changed", "UPDATE audit SET decision = 'allow' WHERE seq = 7", 7, 0, "modified"},
    {"time changed", "UPDATE audit SET time_ms = 5 WHERE seq = 3", 3, 0, "modified"},
    {"null made text", "UPDATE audit SET downstream = 'x' WHERE seq = 12", 12, 0, "modified"},
    {"row deleted", "DELETE FROM audit WHERE seq = 5", 5, 0, "missing"},
    {"checkpointed row deleted", "DELETE FROM audit WHERE seq = 10", 10, 1, "missing"},
    {"rows swapped",
     "UPDATE audit SET seq = -4 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 6;"
     "UPDATE audit SET seq = 6 WHERE seq = -4",
     4, 0, "modified"},
    {"row inserted (renumbered)",
     "UPDATE audit SET seq = seq + 1000 WHERE seq > 14; UPDATE audit SET seq = seq - 999 WHERE "
     "seq > 1000; INSERT INTO audit (seq, time_ms, event, actor_chain, decision, reasons, "
     "prev_hash, hash) SELECT 15, 1, 'x', '[]', 'ok', '[]', hash, hash FROM audit WHERE seq = 14",
     15, 0, "modified"},
    {"row appended with a made-up hash",
     "INSERT INTO audit (time_ms, event, actor_chain, decision, reasons, prev_hash, hash) "
     "VALUES (1, 'x', '[]', 'ok', '[]', 'aa', 'bb')",
     21, 0, "modified"},
    {"tail truncated", "DELETE FROM audit WHERE seq > 15", 20, 1, "truncated"},
    {"first record deleted", "DELETE FROM audit WHERE seq = 1", 2, 0, "missing"},
    {"hash column blanked", "UPDATE audit SET hash = NULL WHERE seq = 9", 9, 0, "no hash"},
    {"checkpoint edited",
     "UPDATE audit_checkpoints SET head = hash FROM audit WHERE "
     "audit.seq = 9 AND audit_checkpoints.seq = 10",
     10, 1, "payload"},
};

static void one_case(void **state, size_t i)
{
    struct fx *f = *state;
    struct broker_audit_verify out;

    tstore_sql(&f->ts, cases[i].sql);
    if (verify(f, &out) != 1) {
        fail_msg("%s: not detected", cases[i].name);
    }
    if (out.bad_seq != cases[i].seq || out.bad_checkpoint != cases[i].cp ||
        strstr(out.what, cases[i].word) == NULL) {
        fail_msg("%s: reported %s %lld: %s", cases[i].name,
                 out.bad_checkpoint ? "checkpoint" : "record", (long long)out.bad_seq, out.what);
    }
}

/* A rewrite from record 8 on with correctly recomputed hashes: the chain
 * alone cannot show it; the checkpoint at 10 does. */
static void rewrite_caught_by_checkpoint(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;
    struct store_audit *v;
    struct arena a;
    struct err e;
    size_t n, i;
    char prev[STORE_AUDIT_HASH_HEX + 1], h[STORE_AUDIT_HASH_HEX + 1], sql[512];

    arena_init(&a, 0, 0);
    assert_int_equal(f->ts.s->ops->audit_list(f->ts.s, 0, 100, &a, &v, &n, &e), 0);
    assert_int_equal(n, NREC);
    memcpy(prev, v[6].hash, sizeof(prev));
    for (i = 7; i < n; i++) {
        if (i == 7) {
            v[i].decision = "escalate"; /* the forged change (was allow) */
        }
        assert_int_equal(store_audit_hash(&v[i], prev, h), 0);
        snprintf(sql, sizeof(sql),
                 "UPDATE audit SET decision = '%s', prev_hash = '%s', hash = '%s' WHERE seq = %lld",
                 v[i].decision, prev, h, (long long)v[i].seq);
        tstore_sql(&f->ts, sql);
        memcpy(prev, h, sizeof(prev));
    }
    arena_free(&a);
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 10);
    assert_int_equal(out.bad_checkpoint, 1);
    assert_non_null(strstr(out.what, "does not match the chain"));
}

/* Pruned up to a checkpoint: verification starts from it. */
static void pruned_behind_checkpoint(void **state)
{
    struct fx *f = *state;
    struct broker_audit_verify out;

    tstore_sql(&f->ts, "DELETE FROM audit WHERE seq <= 10");
    assert_int_equal(verify(f, &out), 0);
    assert_int_equal(out.first_seq, 11);
    assert_int_equal(out.records, NREC - 10);
    tstore_sql(&f->ts, "DELETE FROM audit WHERE seq = 11");
    assert_int_equal(verify(f, &out), 1);
    assert_int_equal(out.bad_seq, 12);
}

#define CASE(i)                                                                                    \
    static void case_##i(void **state)                                                             \
    {                                                                                              \
        one_case(state, i);                                                                        \
    }
CASE(0)
CASE(1)
CASE(2)
CASE(3)
CASE(4)
CASE(5)
CASE(6)
CASE(7)
CASE(8)
CASE(9)
CASE(10)
CASE(11)

/* The encoding is pinned: hashes made by earlier versions must still verify
 * (the values came from the printf-based encoder; extremes of both ints). */
static void hash_golden(void **state)
{
    struct store_audit r;
    char h[STORE_AUDIT_HASH_HEX + 1];

    (void)state;
    memset(&r, 0, sizeof(r));
    r.seq = INT64_MAX;
    r.time_ms = -1;
    r.event = "check";
    r.caller = "";
    r.actor_chain = "[{\"kind\":\"agent\"}]";
    r.agent = "spiffe://x/a";
    r.tool = "t";
    r.decision = "allow";
    r.reasons = "[]";
    r.policy_version = INT64_MIN;
    assert_int_equal(store_audit_hash(&r, "0123", h), 0);
    assert_string_equal(h, "edc759535e5daf7d77bf0fb4755d939fdd692ccbd18d51666eff2b98cf704f6e");
    r.seq = 0;
    r.policy_version = 10;
    assert_int_equal(store_audit_hash(&r, NULL, h), 0);
    assert_string_equal(h, "da7056969e739bec93a0ab404f56984916f72fd2e73e4bd8e9520ace88e9b75e");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_golden),
        cmocka_unit_test_setup_teardown(intact, setup, teardown),
        cmocka_unit_test_setup_teardown(case_0, setup, teardown),
        cmocka_unit_test_setup_teardown(case_1, setup, teardown),
        cmocka_unit_test_setup_teardown(case_2, setup, teardown),
        cmocka_unit_test_setup_teardown(case_3, setup, teardown),
        cmocka_unit_test_setup_teardown(case_4, setup, teardown),
        cmocka_unit_test_setup_teardown(case_5, setup, teardown),
        cmocka_unit_test_setup_teardown(case_6, setup, teardown),
        cmocka_unit_test_setup_teardown(case_7, setup, teardown),
        cmocka_unit_test_setup_teardown(case_8, setup, teardown),
        cmocka_unit_test_setup_teardown(case_9, setup, teardown),
        cmocka_unit_test_setup_teardown(case_10, setup, teardown),
        cmocka_unit_test_setup_teardown(case_11, setup, teardown),
        cmocka_unit_test_setup_teardown(rewrite_caught_by_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(pruned_behind_checkpoint, setup, teardown),
    };
    _Static_assert(sizeof(cases) / sizeof(cases[0]) == 12, "one CASE per row");
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
