/*
 * cmd_demo.c: `mandate demo`: plays the access path's story against a running
 * server, as an agent and an enforcement point would, and prints each step
 * with its decision.
 *
 *   mandate demo [--url URL] [--key ADMIN_KEY | --key-file FILE]
 *                [--issuer-key JWK_FILE] [--agent SPIFFE_ID] [--intent ID]
 *                [--sub-agent SPIFFE_ID]
 *
 * The story (examples/README.md): the agent attests with a JWT-SVID signed
 * by the demo issuer key, exchanges it for a DPoP-bound task token (RFC 8693
 * + RFC 9449), makes allowed calls checked by /v1/check (with a pep key the
 * demo creates with the admin key), is refused one call by policy, drifts to
 * a tool outside its task and is cut off, starts a new task and completes it.
 * Then it delegates a narrower sub-task to a sub-agent (RFC 8693 with the
 * parent's token, proven by the parent's DPoP key; the child bound to the
 * sub-agent's key named in dpop_jkt): the sub-agent's call inside the
 * sub-task is allowed, its widening refused; and security engages the kill
 * switch for the agent's owner (a security key the demo creates): the
 * agent's next call and new task are refused until the switch is lifted.
 * Every step has an expected outcome; the exit status is 0 when all were as
 * expected, 1 when one was not, 2 for usage or a server that cannot be
 * reached.  Talks to the server only over HTTP (libcurl); mints credentials
 * with jose.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "jose/jose.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/limits.h"
#include "util/wipe.h"

#define DEMO_TOOL_BASE "https://tools.corp.example/"

struct demo {
    const char *url; /* the server, without a trailing slash */
    const char *admin_key;
    const char *agent;
    const char *sub_agent; /* the delegation step's sub-agent */
    const char *intent;
    struct jose_jwk *svid_key; /* the demo issuer's private key */
    char *issuer;              /* from discovery: htu of the task endpoints */
    char *token_endpoint;
    char *pep_key;
    char *sec_key; /* the security team's key (kill switch) */
    char *owner;   /* the agent's owner, from the registry */
    CURL *curl;
    int step;
    int unexpected;
};

/* One task as the agent holds it. */
struct demo_task {
    char *token;
    char *id;
    struct jose_jwk *dpop_key;
};

struct demo_resp {
    long status;
    json_t *json; /* NULL when the body is not JSON */
};

/* ---- HTTP ------------------------------------------------------------------ */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;

    /* size is 1 by libcurl's contract; a body past the cap aborts the call. */
    if (size != 1 || buf_append(b, p, n) != 0) {
        return 0;
    }
    return n;
}

/* method url with an optional Authorization and DPoP header and body (JSON
 * unless form is set).  0, or -1 after printing why the call failed. */
static int demo_http(struct demo *d, const char *method, const char *url, const char *auth,
                     const char *dpop, const char *body, int form, struct demo_resp *out)
{
    struct curl_slist *h = NULL, *t;
    struct buf b, hdr;
    CURLcode cc;
    int r = -1;

    out->status = 0;
    out->json = NULL;
    buf_init(&b, LIMIT_DEMO_RESPONSE_MAX);
    buf_init(&hdr, LIMIT_DEMO_RESPONSE_MAX);
    curl_easy_reset(d->curl);
    curl_easy_setopt(d->curl, CURLOPT_URL, url);
    curl_easy_setopt(d->curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(d->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(d->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(d->curl, CURLOPT_TIMEOUT_MS, (long)LIMIT_DEMO_HTTP_TIMEOUT_MS);
    curl_easy_setopt(d->curl, CURLOPT_PROTOCOLS_STR, "http,https");
    if (body != NULL) {
        curl_easy_setopt(d->curl, CURLOPT_POSTFIELDS, body);
        t = curl_slist_append(h, form ? "Content-Type: application/x-www-form-urlencoded"
                                      : "Content-Type: application/json");
        h = t != NULL ? t : h;
    }
    if (auth != NULL && buf_printf(&hdr, "Authorization: %s", auth) == 0) {
        t = curl_slist_append(h, hdr.data);
        h = t != NULL ? t : h;
    }
    buf_reset(&hdr);
    if (dpop != NULL && buf_printf(&hdr, "DPoP: %s", dpop) == 0) {
        t = curl_slist_append(h, hdr.data);
        h = t != NULL ? t : h;
    }
    curl_easy_setopt(d->curl, CURLOPT_HTTPHEADER, h);
    cc = curl_easy_perform(d->curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "mandate demo: %s %s: %s\n", method, url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &out->status);
    if (b.len > 0) {
        out->json = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    }
    r = 0;
out:
    curl_slist_free_all(h);
    buf_free_wipe(&hdr);
    buf_free_wipe(&b);
    return r;
}

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s != NULL ? s : "";
}

/* "a, b, c" of a JSON array of strings, into b. */
static const char *joined(struct buf *b, const json_t *arr)
{
    size_t i;
    json_t *v;

    buf_reset(b);
    json_array_foreach(arr, i, v)
    {
        if (buf_printf(b, "%s%s", i ? ", " : "",
                       json_string_value(v) ? json_string_value(v) : "?") != 0) {
            break;
        }
    }
    return b->data != NULL ? b->data : "";
}

/* "crm.read[read], payments.refund[create]" of granted tools, into b. */
static const char *tools_text(struct buf *b, const json_t *tools)
{
    size_t i;
    json_t *v;
    struct buf acts;

    buf_init(&acts, LIMIT_URL_LEN);
    buf_reset(b);
    json_array_foreach(tools, i, v)
    {
        if (buf_printf(b, "%s%s[%s]", i ? ", " : "", jstr(v, "name"),
                       joined(&acts, json_object_get(v, "actions"))) != 0) {
            break;
        }
    }
    buf_free(&acts);
    return b->data != NULL ? b->data : "";
}

static int expect(struct demo *d, int ok, const char *what)
{
    if (!ok) {
        d->unexpected++;
        printf("      UNEXPECTED: %s\n", what);
    }
    return ok ? 0 : -1;
}

/* ---- the steps ------------------------------------------------------------ */

static int discover(struct demo *d)
{
    struct demo_resp r;
    struct buf u;
    int rc = -1;

    buf_init(&u, LIMIT_URL_LEN);
    if (buf_printf(&u, "%s/.well-known/openid-configuration", d->url) != 0 ||
        demo_http(d, "GET", u.data, NULL, NULL, NULL, 0, &r) != 0) {
        goto out;
    }
    if (r.status != 200 || !json_is_string(json_object_get(r.json, "issuer")) ||
        !json_is_string(json_object_get(r.json, "token_endpoint"))) {
        fprintf(stderr, "mandate demo: %s is not a Mandate server (discovery answered %ld)\n",
                d->url, r.status);
        json_decref(r.json);
        goto out;
    }
    d->issuer = strdup(jstr(r.json, "issuer"));
    d->token_endpoint = strdup(jstr(r.json, "token_endpoint"));
    json_decref(r.json);
    rc = d->issuer != NULL && d->token_endpoint != NULL ? 0 : -1;
    printf("[%2d] discover    issuer %s, token endpoint %s\n", ++d->step, d->issuer,
           d->token_endpoint);
out:
    buf_free(&u);
    return rc;
}

/* An API key of role (pep: the enforcement point's; security: the kill
 * switch's) made with the admin key, into *out. */
static int make_key(struct demo *d, const char *role, const char *who, char **out)
{
    struct demo_resp r;
    struct buf u, auth;
    char name[96];
    int rc = -1;

    snprintf(name, sizeof(name), "{\"name\":\"demo-%s-%lld\",\"role\":\"%s\"}", role,
             (long long)clock_wall_ms(), role);
    buf_init(&u, LIMIT_URL_LEN);
    buf_init(&auth, LIMIT_URL_LEN);
    if (buf_printf(&u, "%s/v1/api-keys", d->url) != 0 ||
        buf_printf(&auth, "Bearer %s", d->admin_key) != 0 ||
        demo_http(d, "POST", u.data, auth.data, NULL, name, 0, &r) != 0) {
        goto out;
    }
    if (r.status != 201 || !json_is_string(json_object_get(r.json, "key"))) {
        fprintf(stderr, "mandate demo: creating a %s key answered %ld (is --key an admin key?)\n",
                role, r.status);
        json_decref(r.json);
        goto out;
    }
    *out = strdup(jstr(r.json, "key"));
    printf("[%2d] %-11s %s gets API key %s (role %s)\n", ++d->step,
           strcmp(role, "pep") == 0 ? "pep key" : "sec key", who, jstr(r.json, "id"), role);
    json_decref(r.json);
    rc = *out != NULL ? 0 : -1;
out:
    buf_free(&u);
    buf_free_wipe(&auth);
    return rc;
}

/* A JWT-SVID for agent, signed by the demo issuer key (5 minutes). */
static char *mint_svid(struct demo *d, const char *agent)
{
    int64_t now = clock_wall_s();
    json_t *c = json_pack("{s:s,s:s,s:I,s:I}", "sub", agent, "aud", "mandate", "iat",
                          (json_int_t)now, "exp", (json_int_t)(now + 300));
    struct err e = {0};
    char *out = NULL;

    if (c == NULL || jose_jwt_sign(d->svid_key, JOSE_ALG_UNKNOWN, "JWT", c, &out, &e) != 0) {
        fprintf(stderr, "mandate demo: signing the JWT-SVID: %s\n", e.msg);
        out = NULL;
    }
    json_decref(c);
    return out;
}

/* The form of a token exchange asking for tools (a JSON array text). */
static int exchange_form(struct demo *d, const char *svid, const char *tools, struct buf *form)
{
    char *st = curl_easy_escape(d->curl, svid, 0), *ad = NULL;
    json_t *det =
        json_pack("[{s:s,s:s,s:o,s:[s],s:s,s:i}]", "type", "mandate_task", "intent", d->intent,
                  "tools", json_loads(tools, 0, NULL), "data_labels", "pii.basic", "purpose",
                  "refund order 1042 after a complaint", "ttl", 300);
    char *dt = det != NULL ? json_dumps(det, JSON_COMPACT) : NULL;
    int r = -1;

    ad = dt != NULL ? curl_easy_escape(d->curl, dt, 0) : NULL;
    if (st != NULL && ad != NULL &&
        buf_printf(form,
                   "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange"
                   "&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt"
                   "&subject_token=%s&authorization_details=%s",
                   st, ad) == 0) {
        r = 0;
    }
    curl_free(st);
    curl_free(ad);
    free(dt);
    json_decref(det);
    return r;
}

static void task_clear(struct demo_task *t)
{
    wipe_free_str(t->token);
    free(t->id);
    jose_jwk_free(t->dpop_key);
    memset(t, 0, sizeof(*t));
}

/* Attest + exchange: a new task for tools, bound to a fresh DPoP key.
 * want_denied: NULL when the exchange should issue, else the reason its
 * refusal must give (then 0 when it was refused so). */
static int start_task(struct demo *d, const char *tools, struct demo_task *t,
                      const char *want_denied)
{
    struct buf form, scope;
    struct demo_resp r = {0};
    struct err e = {0};
    char jkt[JOSE_JKT_LEN + 1] = "", *svid = NULL, *proof = NULL;
    json_t *g;
    int rc = -1;

    buf_init(&form, LIMIT_DEMO_RESPONSE_MAX);
    buf_init(&scope, LIMIT_URL_LEN);
    svid = mint_svid(d, d->agent);
    if (svid == NULL) {
        goto out;
    }
    printf("[%2d] attest      %s presents a JWT-SVID signed by the demo issuer (%s)\n", ++d->step,
           d->agent, jose_jwk_kid(d->svid_key) ? jose_jwk_kid(d->svid_key) : "no kid");
    if (jose_jwk_generate(JOSE_ALG_ES256, NULL, &t->dpop_key, &e) != 0 ||
        jose_jwk_thumbprint(t->dpop_key, jkt, &e) != 0 ||
        jose_dpop_create(t->dpop_key, JOSE_ALG_ES256, "POST", d->token_endpoint, NULL, NULL, 0,
                         &proof, &e) != 0) {
        fprintf(stderr, "mandate demo: DPoP key: %s\n", e.msg);
        goto out;
    }
    if (exchange_form(d, svid, tools, &form) != 0 ||
        demo_http(d, "POST", d->token_endpoint, NULL, proof, form.data, 1, &r) != 0) {
        goto out;
    }
    if (r.status != 200) {
        const char *rs = joined(&scope, json_object_get(r.json, "reasons"));
        printf("[%2d] exchange    DENIED %ld %s: %s\n", ++d->step, r.status, jstr(r.json, "error"),
               rs);
        if (want_denied != NULL) {
            rc = expect(d, strstr(rs, want_denied) != NULL, "the refusal should say why");
        } else {
            (void)expect(d, 0, "the exchange should issue a task token");
        }
        goto out;
    }
    if (want_denied != NULL) {
        printf("[%2d] exchange    ISSUED task %s\n", ++d->step, jstr(r.json, "task"));
        (void)expect(d, 0, "the exchange should be refused");
        goto out;
    }
    t->token = strdup(jstr(r.json, "access_token"));
    t->id = strdup(jstr(r.json, "task"));
    g = json_array_get(json_object_get(r.json, "authorization_details"), 0);
    printf("[%2d] exchange    task %s for intent %s, %lld s, DPoP-bound to key %.12s...\n"
           "                 granted %s\n",
           ++d->step, t->id ? t->id : "?", jstr(g, "intent"),
           (long long)json_integer_value(json_object_get(r.json, "expires_in")), jkt,
           tools_text(&scope, json_object_get(g, "tools")));
    rc = t->token != NULL && t->id != NULL ? 0 : -1;
out:
    json_decref(r.json);
    wipe_free_str(svid);
    free(proof);
    buf_free_wipe(&form);
    buf_free(&scope);
    return rc;
}

/* One call of the agent, checked by the enforcement point: POST /v1/check
 * with the task token and a proof for the call the agent made.  want_allow:
 * the expected decision; want_reason: a reason the answer must hold (or
 * NULL).  label says what the step is in the story. */
static int check_call(struct demo *d, const struct demo_task *t, const char *tool,
                      const char *action, const char *downstream, int want_allow,
                      const char *want_reason, const char *label)
{
    struct buf u, auth, rs, call;
    struct demo_resp r = {0};
    struct err e = {0};
    char *proof = NULL, *body = NULL;
    json_t *req = NULL, *reasons;
    size_t i;
    int allow, has = want_reason == NULL, rc = -1;

    buf_init(&u, LIMIT_URL_LEN);
    buf_init(&auth, LIMIT_URL_LEN);
    buf_init(&rs, LIMIT_URL_LEN);
    buf_init(&call, LIMIT_URL_LEN);
    if (buf_printf(&call, DEMO_TOOL_BASE "%s/%s", tool, action) != 0 ||
        jose_dpop_create(t->dpop_key, JOSE_ALG_ES256, "POST", call.data, t->token, NULL, 0, &proof,
                         &e) != 0) {
        fprintf(stderr, "mandate demo: DPoP proof: %s\n", e.msg);
        goto out;
    }
    req = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[s],s:s}", "token", t->token, "dpop", proof,
                    "method", "POST", "url", call.data, "tool", tool, "action", action, "resource",
                    "order:1042", "data_labels", "pii.basic", "downstream", downstream);
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    if (body == NULL || buf_printf(&u, "%s/v1/check", d->url) != 0 ||
        buf_printf(&auth, "Bearer %s", d->pep_key) != 0 ||
        demo_http(d, "POST", u.data, auth.data, NULL, body, 0, &r) != 0) {
        goto out;
    }
    allow = json_is_true(json_object_get(r.json, "allow"));
    reasons = json_object_get(r.json, "reasons");
    for (i = 0; want_reason != NULL && i < json_array_size(reasons); i++) {
        const char *s = json_string_value(json_array_get(reasons, i));
        has |= s != NULL && strcmp(s, want_reason) == 0;
    }
    printf("[%2d] %-11s %-24s %-5s (%s)%s%s\n", ++d->step, label,
           call.data + strlen(DEMO_TOOL_BASE),
           r.status != 200 ? "ERROR"
           : allow         ? "ALLOW"
                           : "DENY",
           joined(&rs, reasons),
           json_is_true(json_object_get(r.json, "revoked")) ? ": task revoked" : "",
           r.status == 200 ? "" : " (the check did not answer 200)");
    rc = expect(d, r.status == 200 && allow == want_allow && has,
                want_allow ? "this call should be allowed" : "this call should be denied");
out:
    json_decref(r.json);
    json_decref(req);
    free(body);
    free(proof);
    buf_free(&u);
    buf_free_wipe(&auth);
    buf_free(&rs);
    buf_free(&call);
    return rc;
}

/* The agent ends its task: POST /v1/tasks/{id}/complete with its token and
 * a proof for that URL (at the issuer's address, as the server sees it). */
static int complete_task(struct demo *d, const struct demo_task *t)
{
    struct buf path, u, auth;
    struct demo_resp r = {0};
    struct err e = {0};
    char *proof = NULL;
    int rc = -1;

    buf_init(&path, LIMIT_URL_LEN);
    buf_init(&u, LIMIT_URL_LEN);
    buf_init(&auth, LIMIT_DEMO_RESPONSE_MAX);
    if (buf_printf(&path, "/v1/tasks/%s/complete", t->id) != 0 ||
        buf_printf(&u, "%s%s", d->issuer, path.data) != 0 ||
        jose_dpop_create(t->dpop_key, JOSE_ALG_ES256, "POST", u.data, t->token, NULL, 0, &proof,
                         &e) != 0 ||
        buf_printf(&auth, "DPoP %s", t->token) != 0) {
        fprintf(stderr, "mandate demo: completing: %s\n", e.msg);
        goto out;
    }
    buf_reset(&u);
    if (buf_printf(&u, "%s%s", d->url, path.data) != 0 ||
        demo_http(d, "POST", u.data, auth.data, proof, NULL, 0, &r) != 0) {
        goto out;
    }
    printf("[%2d] complete    the agent completes task %s: %ld, state %s\n", ++d->step, t->id,
           r.status, jstr(r.json, "state"));
    rc = expect(d, r.status == 200 && strcmp(jstr(r.json, "state"), "completed") == 0,
                "the task should be completed");
out:
    json_decref(r.json);
    free(proof);
    buf_free(&path);
    buf_free(&u);
    buf_free_wipe(&auth);
    return rc;
}

/* ---- delegation and the kill switch ---------------------------------------- */

/* The form of a delegation: the parent's token as subject_token, the
 * sub-agent's SVID as actor_token, a narrower mandate_task, and the
 * sub-agent's key thumbprint as dpop_jkt. */
static int delegate_form(struct demo *d, const struct demo_task *p, const char *svid,
                         const char *tools, int budget, const char *jkt, struct buf *form)
{
    char *pt = curl_easy_escape(d->curl, p->token, 0), *st = curl_easy_escape(d->curl, svid, 0);
    json_t *det =
        json_pack("[{s:s,s:s,s:o,s:[s],s:s,s:i}]", "type", "mandate_task", "intent", d->intent,
                  "tools", json_loads(tools, 0, NULL), "data_labels", "pii.basic", "purpose",
                  "look up the customer of order 1042", "budget", budget);
    char *dt = det != NULL ? json_dumps(det, JSON_COMPACT) : NULL, *ad = NULL;
    int r = -1;

    ad = dt != NULL ? curl_easy_escape(d->curl, dt, 0) : NULL;
    if (pt != NULL && st != NULL && ad != NULL &&
        buf_printf(
            form,
            "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange"
            "&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Aaccess_token"
            "&subject_token=%s"
            "&actor_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Ajwt"
            "&actor_token=%s&authorization_details=%s&dpop_jkt=%s",
            pt, st, ad, jkt) == 0) {
        r = 0;
    }
    curl_free(pt);
    curl_free(st);
    curl_free(ad);
    free(dt);
    json_decref(det);
    return r;
}

/* The agent hands a narrower sub-task (tools, budget calls) of task p to
 * the sub-agent: the proof is signed by the parent's key (with ath of the
 * parent token), the child is bound to a fresh key of the sub-agent. */
static int delegate_task(struct demo *d, const struct demo_task *p, const char *tools, int budget,
                         struct demo_task *c)
{
    struct buf form, scope;
    struct demo_resp r = {0};
    struct err e = {0};
    char jkt[JOSE_JKT_LEN + 1] = "", *svid = NULL, *proof = NULL;
    json_t *g;
    int rc = -1;

    buf_init(&form, LIMIT_DEMO_RESPONSE_MAX);
    buf_init(&scope, LIMIT_URL_LEN);
    svid = mint_svid(d, d->sub_agent);
    if (svid == NULL) {
        goto out;
    }
    if (jose_jwk_generate(JOSE_ALG_ES256, NULL, &c->dpop_key, &e) != 0 ||
        jose_jwk_thumbprint(c->dpop_key, jkt, &e) != 0 ||
        jose_dpop_create(p->dpop_key, JOSE_ALG_ES256, "POST", d->token_endpoint, p->token, NULL, 0,
                         &proof, &e) != 0) {
        fprintf(stderr, "mandate demo: delegation keys: %s\n", e.msg);
        goto out;
    }
    if (delegate_form(d, p, svid, tools, budget, jkt, &form) != 0 ||
        demo_http(d, "POST", d->token_endpoint, NULL, proof, form.data, 1, &r) != 0) {
        goto out;
    }
    if (r.status != 200) {
        printf("[%2d] delegate    DENIED %ld %s: %s\n", ++d->step, r.status, jstr(r.json, "error"),
               joined(&scope, json_object_get(r.json, "reasons")));
        (void)expect(d, 0, "the delegation should issue a task token");
        goto out;
    }
    c->token = strdup(jstr(r.json, "access_token"));
    c->id = strdup(jstr(r.json, "task"));
    g = json_array_get(json_object_get(r.json, "authorization_details"), 0);
    printf("[%2d] delegate    task %s -> sub-task %s for %s\n"
           "                 granted %s, %d calls carved from the parent's budget,\n"
           "                 proven by the parent's key, bound to the sub-agent's key %.12s...\n",
           ++d->step, p->id, c->id ? c->id : "?", d->sub_agent,
           tools_text(&scope, json_object_get(g, "tools")), budget, jkt);
    rc = c->token != NULL && c->id != NULL ? 0 : -1;
out:
    json_decref(r.json);
    wipe_free_str(svid);
    free(proof);
    buf_free_wipe(&form);
    buf_free(&scope);
    return rc;
}

/* The agent's owner, from the registry (admin key). */
static int agent_owner(struct demo *d)
{
    struct demo_resp r = {0};
    struct buf u, auth;
    int rc = -1;

    buf_init(&u, LIMIT_URL_LEN);
    buf_init(&auth, LIMIT_URL_LEN);
    if (buf_printf(&u, "%s/v1/agents/%s", d->url, d->agent) == 0 &&
        buf_printf(&auth, "Bearer %s", d->admin_key) == 0 &&
        demo_http(d, "GET", u.data, auth.data, NULL, NULL, 0, &r) == 0 && r.status == 200 &&
        jstr(r.json, "owner")[0] != '\0') {
        d->owner = strdup(jstr(r.json, "owner"));
        rc = d->owner != NULL ? 0 : -1;
    } else {
        fprintf(stderr, "mandate demo: reading agent %s answered %ld\n", d->agent, r.status);
    }
    json_decref(r.json);
    buf_free(&u);
    buf_free_wipe(&auth);
    return rc;
}

/* Security engages (engage) or lifts the kill switch for the owner's agents. */
static int killswitch(struct demo *d, int engage)
{
    struct demo_resp r = {0};
    struct buf u, auth;
    json_t *req = json_pack("{s:s,s:s}", "scope", "owner", "target", d->owner);
    char *body = NULL;
    int rc = -1;

    buf_init(&u, LIMIT_URL_LEN);
    buf_init(&auth, LIMIT_URL_LEN);
    if (req != NULL && engage) {
        json_object_set_new(req, "reason", json_string("demo: suspected prompt injection"));
    }
    body = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    if (body == NULL || buf_printf(&u, "%s/v1/killswitch", d->url) != 0 ||
        buf_printf(&auth, "Bearer %s", d->sec_key) != 0 ||
        demo_http(d, engage ? "POST" : "DELETE", u.data, auth.data, NULL, body, 0, &r) != 0) {
        goto out;
    }
    if (engage) {
        printf("[%2d] kill switch ENGAGED for every agent of owner %s: %lld task(s) revoked in "
               "%lld ms\n",
               ++d->step, d->owner,
               (long long)json_integer_value(json_object_get(r.json, "revoked")),
               (long long)json_integer_value(json_object_get(r.json, "elapsed_ms")));
    } else {
        printf("[%2d] kill switch LIFTED for owner %s (audit record %lld)\n", ++d->step, d->owner,
               (long long)json_integer_value(json_object_get(r.json, "audit_id")));
    }
    rc = expect(d, r.status == 200, engage ? "the kill switch should engage" : "it should lift");
out:
    json_decref(r.json);
    json_decref(req);
    free(body);
    buf_free(&u);
    buf_free_wipe(&auth);
    return rc;
}

/* The delegation and kill switch chapters of the story. */
static int story_deleg(struct demo *d, const char *tools1, const char *tools2)
{
    struct demo_task t = {0}, c = {0}, n = {0};
    int rc = -1;

    printf("\n-- delegation: the agent hands the customer lookup to a sub-agent --\n");
    if (start_task(d, tools1, &t, NULL) != 0 || delegate_task(d, &t, tools2, 3, &c) != 0) {
        goto out;
    }
    (void)check_call(d, &c, "crm.read", "read", "salesforce", 1, NULL, "sub-agent");
    (void)check_call(d, &c, "payments.refund", "create", "stripe", 0, "tool_not_granted",
                     "widening");
    printf("                 (the sub-task is narrower than its parent: the refund is drift,\n"
           "                  the sub-task is revoked; the parent's task goes on)\n");
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 1, NULL, "parent");

    printf("\n-- security stops every agent of %s: the kill switch --\n", d->owner);
    if (make_key(d, "security", "the security team", &d->sec_key) != 0 || killswitch(d, 1) != 0) {
        goto out;
    }
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 0, "task_ended", "after kill");
    (void)start_task(d, tools2, &n, "killswitch_engaged");
    task_clear(&n);
    if (killswitch(d, 0) != 0 || start_task(d, tools2, &n, NULL) != 0) {
        goto out;
    }
    (void)check_call(d, &n, "crm.read", "read", "salesforce", 1, NULL, "call");
    rc = complete_task(d, &n);
out:
    task_clear(&t);
    task_clear(&c);
    task_clear(&n);
    return rc;
}

/* The story.  Returns -1 when a step could not run at all. */
static int story(struct demo *d)
{
    static const char *tools1 = "[{\"name\":\"crm.read\",\"actions\":[\"read\"]},"
                                "{\"name\":\"payments.refund\",\"actions\":[\"create\"]}]";
    static const char *tools2 = "[{\"name\":\"crm.read\",\"actions\":[\"read\"]}]";
    struct demo_task t = {0};
    int rc = -1;

    if (discover(d) != 0 || make_key(d, "pep", "the enforcement point", &d->pep_key) != 0 ||
        agent_owner(d) != 0) {
        return -1;
    }
    printf("\n-- a task: look up the customer, refund the order --\n");
    if (start_task(d, tools1, &t, NULL) != 0) {
        goto out;
    }
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 1, NULL, "call");
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 1, NULL, "call");
    (void)check_call(d, &t, "payments.refund", "create", "stripe", 0, "sensitive-tool-needs-human",
                     "policy");
    printf("                 (policy: refunds need a human behind the task; the task goes on)\n");
    (void)check_call(d, &t, "web.search", "query", "internet", 0, "tool_not_granted", "drift");
    printf("                 (a tool outside the task: the intent says revoke)\n");
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 0, "task_ended", "cut off");
    task_clear(&t);
    printf("\n-- a new task: read the customer record, then complete --\n");
    if (start_task(d, tools2, &t, NULL) != 0) {
        goto out;
    }
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 1, NULL, "call");
    if (complete_task(d, &t) != 0) {
        goto out;
    }
    (void)check_call(d, &t, "crm.read", "read", "salesforce", 0, "task_ended", "after end");
    task_clear(&t);
    rc = story_deleg(d, tools1, tools2);
out:
    task_clear(&t);
    return rc;
}

/* ---- the command ------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f, "usage: mandate demo [--url URL] [--key ADMIN_KEY | --key-file FILE]\n"
               "                    [--issuer-key JWK_FILE] [--agent SPIFFE_ID] [--intent ID]\n"
               "                    [--sub-agent SPIFFE_ID]\n"
               "\nPlays the access path's story against a running server loaded with examples/\n"
               "(make run): attest, task token, allowed calls, a policy refusal, drift and\n"
               "revocation, a new task, completion; a delegation to a sub-agent (an allowed\n"
               "call, a refused widening); the kill switch for the agent's owner, engaged and\n"
               "lifted.  Defaults: --url http://127.0.0.1:8080, --key-file var/admin.key,\n"
               "--issuer-key examples/demo-issuer.jwk, --agent\n"
               "spiffe://corp.example/agents/refund-bot, --intent refund-customer, --sub-agent\n"
               "spiffe://corp.example/agents/crm-lookup.\n"
               "Exit status: 0 every step as expected, 1 a step was not, 2 usage or no server.\n");
}

/* Reads a small file (a key) into a NUL-terminated malloc'd string, trailing
 * whitespace removed. */
static char *read_small(const char *path)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    char chunk[1024];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    buf_init(&b, LIMIT_JOSE_JWKS_TEXT_MAX);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (buf_append(&b, chunk, n) != 0) {
            fclose(f);
            buf_free_wipe(&b);
            return NULL;
        }
    }
    fclose(f);
    wipe(chunk, sizeof(chunk));
    while (b.len > 0 && strchr(" \t\r\n", b.data[b.len - 1]) != NULL) {
        b.data[--b.len] = '\0';
    }
    if (b.len == 0 || memchr(b.data, '\0', b.len) != NULL) {
        buf_free_wipe(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

struct demo_args {
    const char *url, *key, *key_file, *issuer_key, *agent, *intent, *sub_agent;
};

static int parse_args(int argc, char **argv, struct demo_args *a)
{
    struct {
        const char *name;
        const char **dst;
    } opts[] = {{"--url", &a->url},
                {"--key", &a->key},
                {"--key-file", &a->key_file},
                {"--issuer-key", &a->issuer_key},
                {"--agent", &a->agent},
                {"--intent", &a->intent},
                {"--sub-agent", &a->sub_agent}};
    size_t j;
    int i;

    for (i = 1; i < argc; i++) {
        for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++) {
            if (strcmp(argv[i], opts[j].name) == 0 && i + 1 < argc) {
                *opts[j].dst = argv[++i];
                break;
            }
        }
        if (j == sizeof(opts) / sizeof(opts[0])) {
            fprintf(stderr, "mandate demo: unknown or incomplete option %s\n", argv[i]);
            return -1;
        }
    }
    return 0;
}

int cmd_demo(int argc, char **argv)
{
    struct demo_args a = {"http://127.0.0.1:8080",
                          NULL,
                          "var/admin.key",
                          "examples/demo-issuer.jwk",
                          "spiffe://corp.example/agents/refund-bot",
                          "refund-customer",
                          "spiffe://corp.example/agents/crm-lookup"};
    struct demo d = {0};
    struct err e = {0};
    char *key = NULL, *jwk = NULL;
    size_t n;
    int rc = CLI_USAGE;

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (parse_args(argc, argv, &a) != 0) {
        usage(stderr);
        return CLI_USAGE;
    }
    key = a.key != NULL ? strdup(a.key) : read_small(a.key_file);
    jwk = read_small(a.issuer_key);
    if (key == NULL || jwk == NULL) {
        fprintf(stderr, "mandate demo: cannot read %s\n", key == NULL ? a.key_file : a.issuer_key);
        goto out;
    }
    if (jose_jwk_parse(jwk, strlen(jwk), &d.svid_key, &e) != 0 ||
        !jose_jwk_is_private(d.svid_key)) {
        fprintf(stderr, "mandate demo: %s: not a private JWK %s\n", a.issuer_key, e.msg);
        goto out;
    }
    n = strlen(a.url);
    while (n > 0 && a.url[n - 1] == '/') {
        n--;
    }
    d.url = strndup(a.url, n);
    d.admin_key = key;
    d.agent = a.agent;
    d.sub_agent = a.sub_agent;
    d.intent = a.intent;
    d.curl = curl_easy_init();
    if (d.url == NULL || d.curl == NULL || story(&d) != 0) {
        goto out;
    }
    printf("\ndemo: %d steps, %s\n", d.step,
           d.unexpected == 0 ? "every decision as expected" : "SOME DECISIONS UNEXPECTED");
    rc = d.unexpected == 0 ? CLI_OK : CLI_NO;
out:
    if (rc == CLI_USAGE && d.unexpected > 0) {
        rc = CLI_NO;
    }
    if (d.curl != NULL) {
        curl_easy_cleanup(d.curl);
    }
    jose_jwk_free(d.svid_key);
    free((char *)d.url);
    free(d.issuer);
    free(d.token_endpoint);
    wipe_free_str(d.pep_key);
    wipe_free_str(d.sec_key);
    free(d.owner);
    wipe_free_str(key);
    wipe_free_str(jwk);
    return rc;
}
