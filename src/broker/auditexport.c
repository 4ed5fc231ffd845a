/*
 * auditexport.c: audit records as export lines (docs/audit.md, "Export"):
 * the store's own columns ("jsonl", lossless: the chain can be recomputed
 * from an exported line) and OCSF 1.x events for a SIEM ("ocsf").
 *
 * OCSF mapping, decided per event kind (the table in docs/audit.md):
 *  - a check (`check`, `task.check`): API Activity (6003); the tool call is
 *    the API operation, its action picks activity_id (create/read/update/
 *    delete, else Other), the decision is the status and the actor's
 *    authorization (with the policy version);
 *  - a token exchange (`task.exchange`): Authorize Session (3003), "Assign
 *    Privileges": the agent is the user, the task the session, the intent
 *    the privilege granted;
 *  - every other record (registry and policy changes, revocations, kill
 *    switch, refused requests, prunes): API Activity, activity_id from the
 *    event's verb (request.refused: from the HTTP method).
 * metadata carries what a SIEM needs to resume and cross-check: sequence =
 * the record's seq, uid = its hash, unmapped.prev_hash the link; every
 * column OCSF has no attribute for goes to unmapped, so nothing is lost.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "broker/broker_int.h"

/* ---- jsonl: the columns ------------------------------------------------------- */

static void put_str(json_t *o, const char *k, const char *v)
{
    if (v != NULL) {
        json_object_set_new(o, k, json_string(v));
    }
}

/* A JSON column as JSON; text that is not JSON (never written by Mandate)
 * stays a string, so the export loses nothing. */
static json_t *col_json(const char *v)
{
    json_t *j;

    if (v == NULL) {
        return NULL;
    }
    j = json_loads(v, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
    return j != NULL ? j : json_string(v);
}

static void put_json(json_t *o, const char *k, const char *v)
{
    json_t *j = col_json(v);

    if (j != NULL) {
        json_object_set_new(o, k, j);
    }
}

json_t *broker_audit_record_jsonl(const struct store_audit *r)
{
    json_t *o = json_pack("{s:I, s:I, s:s?, s:s?}", "seq", (json_int_t)r->seq, "time_ms",
                          (json_int_t)r->time_ms, "event", r->event, "decision", r->decision);

    if (o == NULL) {
        return NULL;
    }
    put_str(o, "request_id", r->request_id);
    put_str(o, "caller", r->caller);
    put_json(o, "actor_chain", r->actor_chain);
    put_str(o, "agent", r->agent);
    put_str(o, "human", r->human);
    put_str(o, "intent", r->intent);
    put_str(o, "task", r->task);
    put_str(o, "tool", r->tool);
    put_str(o, "action", r->action);
    put_str(o, "resource", r->resource);
    put_json(o, "data_labels", r->data_labels);
    put_str(o, "downstream", r->downstream);
    put_json(o, "reasons", r->reasons);
    if (r->policy_version != 0) {
        json_object_set_new(o, "policy_version", json_integer(r->policy_version));
    }
    put_json(o, "detail", r->detail);
    put_str(o, "prev_hash", r->prev_hash);
    put_str(o, "hash", r->hash);
    return o;
}

/* ---- OCSF ------------------------------------------------------------------------ */

enum { OCSF_API_ACTIVITY = 6003, OCSF_AUTHORIZE_SESSION = 3003 };
enum { SEV_INFO = 1, SEV_LOW = 2, SEV_MEDIUM = 3, SEV_HIGH = 4 };
enum { ACT_CREATE = 1, ACT_READ = 2, ACT_UPDATE = 3, ACT_DELETE = 4, ACT_OTHER = 99 };

static const char *const act_names[] = {"Unknown", "Create", "Read", "Update", "Delete"};

/* Words naming an activity: a tool call's action or an event's verb. */
static const struct {
    const char *word;
    int act;
} verbs[] = {
    {"create", ACT_CREATE},   {"add", ACT_CREATE},     {"post", ACT_CREATE},
    {"insert", ACT_CREATE},   {"write", ACT_CREATE},   {"send", ACT_CREATE},
    {"read", ACT_READ},       {"get", ACT_READ},       {"list", ACT_READ},
    {"search", ACT_READ},     {"query", ACT_READ},     {"view", ACT_READ},
    {"update", ACT_UPDATE},   {"put", ACT_UPDATE},     {"patch", ACT_UPDATE},
    {"modify", ACT_UPDATE},   {"status", ACT_UPDATE},  {"activate", ACT_UPDATE},
    {"offboard", ACT_UPDATE}, {"revoke", ACT_UPDATE},  {"tasks_revoked", ACT_UPDATE},
    {"engage", ACT_UPDATE},   {"lift", ACT_UPDATE},    {"complete", ACT_UPDATE},
    {"expire", ACT_UPDATE},   {"approve", ACT_UPDATE}, {"deny", ACT_UPDATE},
    {"delete", ACT_DELETE},   {"remove", ACT_DELETE},  {"entitlements_removed", ACT_DELETE},
    {"prune", ACT_DELETE},
};

static int verb_act(const char *w)
{
    size_t i;

    if (w == NULL) {
        return ACT_OTHER;
    }
    for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcasecmp(w, verbs[i].word) == 0) {
            return verbs[i].act;
        }
    }
    return ACT_OTHER;
}

static int is(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

/* status_id: 1 Success, 2 Failure, 99 Other (escalated: neither yet). */
static int status_id(const char *decision)
{
    if (is(decision, "allow") || is(decision, "ok")) {
        return 1;
    }
    return is(decision, "deny") ? 2 : 99;
}

static int severity(const struct store_audit *r)
{
    if (is(r->event, "killswitch.engage")) {
        return SEV_HIGH;
    }
    if (is(r->decision, "deny") || is(r->event, "request.refused")) {
        return SEV_MEDIUM;
    }
    if (is(r->decision, "escalate") || is(r->event, "audit.prune") || is(r->event, "task.revoke")) {
        return SEV_LOW;
    }
    return SEV_INFO;
}

/* The actor: the acting agent, else the API key, else Mandate itself. */
static json_t *actor_json(const struct store_audit *r, int authz)
{
    json_t *a = json_object(), *u;

    if (a == NULL) {
        return NULL;
    }
    if (r->agent != NULL) {
        u = json_pack("{s:s, s:s, s:i, s:s}", "uid", r->agent, "name", r->agent, "type_id", 99,
                      "type", "Agent");
    } else if (r->caller != NULL) {
        u = json_pack("{s:s, s:s, s:i, s:s}", "uid", r->caller, "name", r->caller, "type_id", 99,
                      "type", "API key");
    } else {
        u = json_pack("{s:s, s:s, s:i, s:s}", "uid", "mandate", "name", "mandate", "type_id", 3,
                      "type", "System");
    }
    json_object_set_new(a, "user", u);
    if (r->task != NULL) {
        json_object_set_new(a, "session", json_pack("{s:s}", "uid", r->task));
    }
    if (authz && r->decision != NULL) {
        json_t *z = json_pack("{s:s}", "decision", r->decision);
        if (z != NULL && r->policy_version != 0) {
            char v[24];
            snprintf(v, sizeof(v), "%lld", (long long)r->policy_version);
            json_object_set_new(z, "policy",
                                json_pack("{s:s, s:s, s:s}", "uid", v, "version", v, "name",
                                          "Mandate Cedar policy set"));
        }
        json_object_set_new(a, "authorizations", json_pack("[o]", z));
    }
    return a;
}

static json_t *metadata_json(const struct store_audit *r, const char *product_version)
{
    json_t *m = json_pack("{s:{s:s, s:s, s:s}, s:s, s:I, s:s, s:s, s:s}", "product", "name",
                          "Mandate", "vendor_name", "Mandate project", "version",
                          product_version ? product_version : "unknown", "version",
                          BROKER_OCSF_VERSION, "sequence", (json_int_t)r->seq, "log_name", "audit",
                          "log_provider", "mandate", "event_code", r->event);

    if (m == NULL) {
        return NULL;
    }
    put_str(m, "uid", r->hash);
    put_str(m, "correlation_uid", r->task);
    return m;
}

/* What OCSF has no attribute for: kept under unmapped by column name. */
static json_t *unmapped_json(const struct store_audit *r)
{
    json_t *u = json_object();

    if (u == NULL) {
        return NULL;
    }
    put_str(u, "event", r->event);
    put_str(u, "decision", r->decision);
    put_json(u, "actor_chain", r->actor_chain);
    put_str(u, "caller", r->caller);
    put_str(u, "human", r->human);
    put_str(u, "intent", r->intent);
    put_json(u, "reasons", r->reasons);
    put_json(u, "detail", r->detail);
    put_json(u, "data_labels", r->data_labels);
    if (r->policy_version != 0) {
        json_object_set_new(u, "policy_version", json_integer(r->policy_version));
    }
    put_str(u, "prev_hash", r->prev_hash);
    return u;
}

/* "payments.refund create -> allow (drift_scope)" */
static json_t *message(const struct store_audit *r)
{
    char m[512];

    snprintf(m, sizeof(m), "%s%s%s%s%s by %s: %s", r->event ? r->event : "?", r->tool ? " " : "",
             r->tool ? r->tool : "", r->action ? " " : "", r->action ? r->action : "",
             r->agent ? r->agent : (r->caller ? r->caller : "mandate"),
             r->decision ? r->decision : "?");
    return json_string(m);
}

/* A refused request's activity comes from its HTTP method; op gets
 * "METHOD PATH". */
static int method_act(const struct store_audit *r, char *op, size_t oplen)
{
    json_t *d = r->detail ? json_loads(r->detail, 0, NULL) : NULL;
    const char *m = d ? json_string_value(json_object_get(d, "method")) : NULL;
    const char *path = d ? json_string_value(json_object_get(d, "path")) : NULL;
    int act = ACT_OTHER;

    snprintf(op, oplen, "%s %s", m ? m : "?", path ? path : "?");
    if (m != NULL) {
        act = strcasecmp(m, "DELETE") == 0                                 ? ACT_DELETE
              : strcasecmp(m, "GET") == 0                                  ? ACT_READ
              : strcasecmp(m, "POST") == 0                                 ? ACT_CREATE
              : (strcasecmp(m, "PUT") == 0 || strcasecmp(m, "PATCH") == 0) ? ACT_UPDATE
                                                                           : ACT_OTHER;
    }
    json_decref(d);
    return act;
}

json_t *broker_audit_record_ocsf(const struct store_audit *r, const char *product_version)
{
    int check = is(r->event, "check") || is(r->event, "task.check");
    int exch = is(r->event, "task.exchange");
    int cls = exch ? OCSF_AUTHORIZE_SESSION : OCSF_API_ACTIVITY, act;
    const char *verb = r->event ? strrchr(r->event, '.') : NULL, *op = r->event;
    const char *cname = exch ? "Authorize Session" : "API Activity", *aname;
    char tname[96], opbuf[300];
    json_t *o, *res;

    verb = verb ? verb + 1 : r->event;
    if (exch) {
        act = 1; /* Assign Privileges */
    } else if (check) {
        act = verb_act(r->action);
        op = r->action ? r->action : "check";
    } else if (is(r->event, "request.refused")) {
        act = method_act(r, opbuf, sizeof(opbuf));
        op = opbuf;
    } else {
        act = verb_act(verb);
    }
    aname = exch ? "Assign Privileges" : act <= 4 ? act_names[act] : "Other";
    snprintf(tname, sizeof(tname), "%s: %s", cname, aname);
    o = json_pack(
        "{s:i, s:s, s:i, s:s, s:i, s:s, s:I, s:s, s:I, s:i, s:i, s:s?}", "category_uid", cls / 1000,
        "category_name", exch ? "Identity & Access Management" : "Application Activity",
        "class_uid", cls, "class_name", cname, "activity_id", act, "activity_name", aname,
        "type_uid", (json_int_t)cls * 100 + act, "type_name", tname, "time", (json_int_t)r->time_ms,
        "severity_id", severity(r), "status_id", status_id(r->decision), "status", r->decision);
    if (o == NULL) {
        return NULL;
    }
    json_object_set_new(o, "message", message(r));
    json_object_set_new(o, "metadata", metadata_json(r, product_version));
    json_object_set_new(o, "actor", actor_json(r, check || exch));
    json_object_set_new(
        o, "src_endpoint",
        json_pack("{s:s}", "name", r->agent ? r->agent : (r->caller ? r->caller : "mandate")));
    if (r->downstream != NULL) {
        json_object_set_new(o, "dst_endpoint", json_pack("{s:s}", "name", r->downstream));
    }
    if (exch) {
        char p[300];
        snprintf(p, sizeof(p), "intent:%s", r->intent ? r->intent : "?");
        json_object_set_new(o, "user",
                            json_deep_copy(json_object_get(json_object_get(o, "actor"), "user")));
        json_object_set_new(o, "privileges", json_pack("[s]", p));
        if (r->task != NULL) {
            json_object_set_new(o, "session", json_pack("{s:s}", "uid", r->task));
        }
    } else {
        json_t *api = json_pack("{s:s}", "operation", op ? op : "?");
        if (api != NULL && r->request_id != NULL) {
            json_object_set_new(api, "request", json_pack("{s:s}", "uid", r->request_id));
        }
        if (api != NULL && r->tool != NULL) {
            json_object_set_new(api, "service", json_pack("{s:s}", "name", r->tool));
        }
        json_object_set_new(o, "api", api);
    }
    if (r->resource != NULL || r->tool != NULL) {
        res = json_array();
        if (r->resource != NULL) {
            json_t *x = json_pack("{s:s, s:s}", "uid", r->resource, "type", "resource");
            if (x != NULL && r->data_labels != NULL) {
                json_object_set_new(x, "labels", col_json(r->data_labels));
            }
            json_array_append_new(res, x);
        }
        if (r->tool != NULL) {
            json_array_append_new(res, json_pack("{s:s, s:s}", "uid", r->tool, "type", "tool"));
        }
        json_object_set_new(o, "resources", res);
    }
    json_object_set_new(o, "unmapped", unmapped_json(r));
    /* any member that failed to build (out of memory) fails the event */
    if (json_object_get(o, "metadata") == NULL || json_object_get(o, "actor") == NULL ||
        json_object_get(o, "unmapped") == NULL || json_object_get(o, "src_endpoint") == NULL ||
        (!exch && json_object_get(o, "api") == NULL)) {
        json_decref(o);
        return NULL;
    }
    return o;
}
