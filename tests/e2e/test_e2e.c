/*
 * test_e2e.c: the real `mandate` program over real HTTP.
 *
 * Starts `mandate init` and `mandate serve` on a free port with a temporary
 * store, then drives it with libcurl: the declarative cases in cases.json
 * (method, path, key, body, expected status, JSON members and headers), and
 * the cases that need more than one request: an oversized body, a locked
 * store, keep-alive, config precedence, the audit record of a change, and a
 * clean SIGTERM shutdown.  Several case files run in order against one
 * server.  A case's "auth" may be a list: one case per caller (role
 * matrices).  Keys for "security", "pep", "owner:<human>" are made on first
 * use through the admin key.
 * Usage: test_e2e MANDATE_BIN CASES_JSON...
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sqlite3.h>

static const char *bin, *cases_path;

struct server {
    char dir[64];
    char db[128];
    pid_t pid;
    int port;
    char admin[128];
    char auditor[128];
    FILE *out;
};

static struct server srv;

/* ---- processes ---------------------------------------------------------- */

/* Runs argv, returns its exit status; its stdout's first line in line. */
static int run(char *const argv[], char *line, size_t n)
{
    int fd[2], st;
    pid_t pid;
    FILE *f;

    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    f = fdopen(fd[0], "r");
    if (line != NULL) {
        line[0] = '\0';
        if (fgets(line, (int)n, f) != NULL) {
            line[strcspn(line, "\n")] = '\0';
        }
    }
    while (fgetc(f) != EOF) {
    }
    fclose(f);
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static pid_t spawn_serve(char *const extra[], FILE **out)
{
    char *argv[32];
    int fd[2], i = 0, j;
    pid_t pid;

    argv[i++] = (char *)bin;
    argv[i++] = "serve";
    for (j = 0; extra[j] != NULL && i < 30; j++) {
        argv[i++] = extra[j];
    }
    argv[i] = NULL;
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    *out = fdopen(fd[0], "r");
    return pid;
}

/* Reads "mandate: serving on http://127.0.0.1:PORT ..." and returns PORT. */
static int read_port(FILE *out)
{
    char line[512];
    const char *p;

    if (fgets(line, sizeof(line), out) == NULL) {
        return -1;
    }
    p = strstr(line, "127.0.0.1:");
    return p ? (int)strtol(p + 10, NULL, 10) : -1;
}

static int stop_server(pid_t pid, FILE *out)
{
    int st;

    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    if (out != NULL) {
        fclose(out);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- HTTP ------------------------------------------------------------------ */

struct resp {
    long status;
    char body[65536];
    size_t len;
    char headers[8192];
    size_t hlen;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *u)
{
    struct resp *r = u;
    size_t n = sz * nm, room = sizeof(r->body) - 1 - r->len;

    memcpy(r->body + r->len, p, n < room ? n : room);
    r->len += n < room ? n : room;
    r->body[r->len] = '\0';
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *u)
{
    struct resp *r = u;
    size_t n = sz * nm, room = sizeof(r->headers) - 1 - r->hlen;

    memcpy(r->headers + r->hlen, p, n < room ? n : room);
    r->hlen += n < room ? n : room;
    r->headers[r->hlen] = '\0';
    return n;
}

static void http(CURL *c, const char *method, const char *path, const char *key, const char *body,
                 size_t blen, struct resp *r)
{
    char url[2048], auth[256];
    struct curl_slist *h = NULL;

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    if (key != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
}

static json_t *body_json(const struct resp *r)
{
    return json_loadb(r->body, r->len, 0, NULL);
}

/* ---- fixture ------------------------------------------------------------------ */

static int setup(void **state)
{
    char *init[] = {(char *)bin, "init", "--db", srv.db, "--key-only", NULL};
    char *extra[] = {"--listen", "127.0.0.1:0", "--db", srv.db, "--busy-timeout-ms",
                     "300",      "--log-level", "warn", NULL};
    CURL *c = curl_easy_init();
    struct resp r;
    json_t *j;

    (void)state;
    snprintf(srv.dir, sizeof(srv.dir), "/tmp/mandate-e2e-XXXXXX");
    assert_non_null(mkdtemp(srv.dir));
    snprintf(srv.db, sizeof(srv.db), "%s/m.db", srv.dir);
    assert_int_equal(run(init, srv.admin, sizeof(srv.admin)), 0);
    assert_true(strncmp(srv.admin, "mdk_", 4) == 0);
    srv.pid = spawn_serve(extra, &srv.out);
    srv.port = read_port(srv.out);
    assert_true(srv.port > 0);
    /* an auditor key for the role cases */
    {
        const char *k = "{\"name\":\"audit\",\"role\":\"auditor\"}";
        http(c, "POST", "/v1/api-keys", srv.admin, k, strlen(k), &r);
    }
    assert_int_equal(r.status, 201);
    j = body_json(&r);
    snprintf(srv.auditor, sizeof(srv.auditor), "%s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    curl_easy_cleanup(c);
    return 0;
}

static int teardown(void **state)
{
    char cmd[96];

    (void)state;
    if (srv.pid > 0) {
        stop_server(srv.pid, srv.out);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf %s", srv.dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- the declarative cases -------------------------------------------------- */

/* "REPEAT:x:2000" in a body string becomes 2000 x's. */
static void expand(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;

    if (json_is_object(v)) {
        json_object_foreach(v, k, x)
        {
            const char *s = json_string_value(x);
            if (s != NULL && strncmp(s, "REPEAT:", 7) == 0) {
                size_t n = strtoul(s + 9, NULL, 10);
                char *buf = malloc(n + 1);
                memset(buf, s[7], n);
                buf[n] = '\0';
                json_object_set_new(v, k, json_string(buf));
                free(buf);
            } else {
                expand(x);
            }
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
        {
            expand(x);
        }
    }
}

/* Keys made on demand: "security", "pep", "owner:alice", "owner" (no subject). */
static struct {
    char name[64];
    char key[128];
} extra_keys[16];

static const char *make_key(const char *auth)
{
    const char *colon = strchr(auth, ':');
    char body[256], role[32];
    CURL *c;
    struct resp *r;
    json_t *j;
    size_t i;

    for (i = 0; i < 16 && extra_keys[i].name[0] != '\0'; i++) {
        if (strcmp(extra_keys[i].name, auth) == 0) {
            return extra_keys[i].key;
        }
    }
    assert_true(i < 16);
    snprintf(role, sizeof(role), "%.*s", colon ? (int)(colon - auth) : (int)strlen(auth), auth);
    if (colon != NULL) {
        snprintf(body, sizeof(body), "{\"name\":\"t\",\"role\":\"%s\",\"subject\":\"%s\"}", role,
                 colon + 1);
    } else {
        snprintf(body, sizeof(body), "{\"name\":\"t\",\"role\":\"%s\"}", role);
    }
    c = curl_easy_init();
    r = malloc(sizeof(*r));
    http(c, "POST", "/v1/api-keys", srv.admin, body, strlen(body), r);
    if (r->status != 201) {
        fail_msg("making a %s key: %ld %s", auth, r->status, r->body);
    }
    j = body_json(r);
    snprintf(extra_keys[i].name, sizeof(extra_keys[i].name), "%s", auth);
    snprintf(extra_keys[i].key, sizeof(extra_keys[i].key), "%s",
             json_string_value(json_object_get(j, "key")));
    json_decref(j);
    free(r);
    curl_easy_cleanup(c);
    return extra_keys[i].key;
}

static const char *key_for(const char *auth)
{
    if (auth == NULL || strcmp(auth, "none") == 0) {
        return NULL;
    }
    if (strcmp(auth, "admin") == 0) {
        return srv.admin;
    }
    if (strcmp(auth, "auditor") == 0) {
        return srv.auditor;
    }
    if (strcmp(auth, "security") == 0 || strcmp(auth, "pep") == 0 ||
        strncmp(auth, "owner", 5) == 0) {
        return make_key(auth);
    }
    if (strcmp(auth, "bad") == 0) {
        return "mdk_000000000000_0000000000000000000000000000000000000000000000000000000000000000";
    }
    if (strcmp(auth, "garbage") == 0) {
        return "hello";
    }
    return NULL;
}

static void check_case(CURL *c, json_t *tc)
{
    const char *name = json_string_value(json_object_get(tc, "name"));
    json_t *body = json_object_get(tc, "body"), *want = json_object_get(tc, "json");
    json_t *hdrs = json_object_get(tc, "header"), *got, *v;
    const char *raw = json_string_value(json_object_get(tc, "raw")), *k;
    char *text = NULL;
    struct resp r;
    long status = (long)json_integer_value(json_object_get(tc, "status"));

    if (body != NULL) {
        json_t *b = json_deep_copy(body);
        expand(b);
        text = json_dumps(b, JSON_COMPACT);
        json_decref(b);
    }
    http(c, json_string_value(json_object_get(tc, "method")),
         json_string_value(json_object_get(tc, "path")),
         key_for(json_string_value(json_object_get(tc, "auth"))), text ? text : raw,
         text  ? strlen(text)
         : raw ? strlen(raw)
               : 0,
         &r);
    free(text);
    if (r.status != status) {
        fail_msg("%s: status %ld, expected %ld: %s", name, r.status, status, r.body);
    }
    if (strstr(r.headers, "X-Request-Id: ") == NULL) {
        fail_msg("%s: no X-Request-Id header", name);
    }
    if (status >= 400 && strstr(r.headers, "application/problem+json") == NULL) {
        fail_msg("%s: error without application/problem+json", name);
    }
    got = body_json(&r);
    json_object_foreach(want, k, v)
    {
        /* "#items": 3 checks the length of an array member */
        json_t *g = got ? json_object_get(got, k[0] == '#' ? k + 1 : k) : NULL;
        if (k[0] == '#' ? json_array_size(g) != (size_t)json_integer_value(v)
                        : g == NULL || !json_equal(g, v)) {
            fail_msg("%s: member %s differs: %s", name, k, r.body);
        }
    }
    json_object_foreach(hdrs, k, v)
    {
        char line[256];
        snprintf(line, sizeof(line), "%s: %s\r\n", k, json_string_value(v));
        if (strstr(r.headers, line) == NULL) {
            fail_msg("%s: header %s missing: %s", name, line, r.headers);
        }
    }
    json_decref(got);
}

/* One cmocka test per case, in file order (later cases see earlier ones'
 * effects); the state is the case. */
static void declarative_case(void **state)
{
    CURL *c = curl_easy_init();

    check_case(c, *state);
    curl_easy_cleanup(c);
}

/* ---- the cases that need more than one request ------------------------------- */

static void oversized_body(void **state)
{
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n);
    CURL *c = curl_easy_init();
    struct resp r;

    (void)state;
    memset(big, ' ', n);
    memcpy(big, "{\"id\":\"huge\",\"email\":\"h@x.io\"", 29);
    big[n - 1] = '}';
    http(c, "POST", "/v1/humans", srv.admin, big, n, &r);
    assert_int_equal(r.status, 413);
    /* without credentials the cap is much smaller */
    http(c, "POST", "/v1/humans", NULL, big, 20000, &r);
    assert_int_equal(r.status, 413);
    http(c, "GET", "/v1/humans/huge", srv.admin, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    http(c, "GET", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    free(big);
    curl_easy_cleanup(c);
}

static void keep_alive(void **state)
{
    CURL *c = curl_easy_init();
    struct resp r;
    long fresh = -1;

    (void)state;
    http(c, "GET", "/healthz", NULL, NULL, 0, &r);
    http(c, "GET", "/v1/version", NULL, NULL, 0, &r);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &fresh);
    assert_int_equal(fresh, 0); /* the second request reused the connection */
    assert_null(strstr(r.headers, "Connection: close"));
    curl_easy_cleanup(c);
}

static void locked_store(void **state)
{
    CURL *c = curl_easy_init();
    sqlite3 *other;
    struct resp r;
    const char *h = "{\"id\":\"lock\",\"email\":\"l@x.io\"}";

    (void)state;
    assert_int_equal(sqlite3_open(srv.db, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    http(c, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 503);
    http(c, "POST", "/v1/humans", srv.admin, h, strlen(h), &r);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "unavailable"));
    http(c, "GET", "/v1/humans", srv.admin, NULL, 0, &r); /* reads still work */
    assert_int_equal(r.status, 200);
    http(c, "GET", "/healthz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(other);
    http(c, "GET", "/readyz", NULL, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    http(c, "POST", "/v1/humans", srv.admin, h, strlen(h), &r);
    assert_int_equal(r.status, 201);
    curl_easy_cleanup(c);
}

static void config_precedence(void **state)
{
    char ini[160], line[256];
    char *bad[] = {(char *)bin, "serve", "--config", ini, NULL};
    char *badflag[] = {(char *)bin, "serve", "--lisen", "1.2.3.4:1", NULL};
    char *extra[] = {"--config", ini, "--listen", "127.0.0.1:0", NULL};
    FILE *f, *out;
    pid_t pid;

    (void)state;
    snprintf(ini, sizeof(ini), "%s/bad.ini", srv.dir);
    f = fopen(ini, "w");
    fprintf(f, "[server]\nlisten = 127.0.0.1:1\nthreds = 2\n");
    fclose(f);
    assert_int_equal(run(bad, line, sizeof(line)), 2); /* unknown key: usage error */
    assert_int_equal(run(badflag, line, sizeof(line)), 2);
    /* the file says a port, the flag says another: the flag wins */
    f = fopen(ini, "w");
    fprintf(f, "[server]\nlisten = 127.0.0.1:1\nthreads = 1\n[store]\ndb = %s\n", srv.db);
    fclose(f);
    pid = spawn_serve(extra, &out);
    assert_true(read_port(out) > 1);
    assert_int_equal(stop_server(pid, out), 0);
}

/* A change's audit record names the caller's key and the request id the
 * answer carried. */
static void audit_of_a_change(void **state)
{
    CURL *c = curl_easy_init();
    const char *h = "{\"id\":\"audited\",\"email\":\"a@x.io\"}";
    char rid[64] = "", path[96];
    struct resp *r = malloc(sizeof(*r));
    json_t *j, *items, *last;
    json_int_t seq;
    const char *p;

    (void)state;
    http(c, "POST", "/v1/humans", srv.admin, h, strlen(h), r);
    assert_int_equal(r->status, 201);
    p = strstr(r->headers, "X-Request-Id: ");
    assert_non_null(p);
    snprintf(rid, sizeof(rid), "%.32s", p + 14);
    /* found by the filters (the trail of the shared server is long) */
    http(c, "GET", "/v1/audit?human=audited&event=human.create", srv.auditor, NULL, 0, r);
    assert_int_equal(r->status, 200);
    j = body_json(r);
    items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    last = json_array_get(items, 0);
    seq = json_integer_value(json_object_get(last, "seq"));
    assert_true(seq > 0);
    assert_string_equal(json_string_value(json_object_get(last, "request_id")), rid);
    assert_non_null(json_string_value(json_object_get(last, "caller")));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(last, "actor_chain"), 0), "role")),
                        "admin");
    json_decref(j);
    /* the pep and owner roles read no trail */
    http(c, "GET", "/v1/audit", make_key("pep"), NULL, 0, r);
    assert_int_equal(r->status, 403);
    /* ... and that refusal is on the trail, after the change */
    snprintf(path, sizeof(path), "/v1/audit?event=request.refused&after=%lld&limit=1",
             (long long)seq);
    http(c, "GET", path, srv.admin, NULL, 0, r);
    assert_int_equal(r->status, 200);
    j = body_json(r);
    last = json_array_get(json_object_get(j, "items"), 0);
    assert_non_null(last);
    assert_string_equal(json_string_value(json_object_get(last, "decision")), "deny");
    assert_string_equal(json_string_value(json_object_get(json_object_get(last, "detail"), "path")),
                        "/v1/audit");
    json_decref(j);
    free(r);
    curl_easy_cleanup(c);
}

static void clean_shutdown(void **state)
{
    (void)state;
    assert_int_equal(stop_server(srv.pid, srv.out), 0);
    srv.pid = 0;
    srv.out = NULL;
}

int main(int argc, char **argv)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(oversized_body),    cmocka_unit_test(keep_alive),
        cmocka_unit_test(locked_store),      cmocka_unit_test(config_precedence),
        cmocka_unit_test(audit_of_a_change), cmocka_unit_test(clean_shutdown),
    };
    const size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
    struct CMUnitTest *tests;
    json_error_t je;
    json_t *cases, *tc;
    size_t i, n;
    int r;

    if (argc < 3) {
        fprintf(stderr, "usage: test_e2e MANDATE_BIN CASES_JSON...\n");
        return 2;
    }
    bin = argv[1];
    cases_path = argv[2];
    cases = json_array();
    for (i = 2; i < (size_t)argc; i++) {
        json_t *file = json_load_file(argv[i], JSON_REJECT_DUPLICATES, &je);
        if (!json_is_array(file)) {
            fprintf(stderr, "%s:%d: %s\n", argv[i], je.line, je.text);
            return 2;
        }
        json_array_foreach(file, n, tc)
        {
            json_t *auth = json_object_get(tc, "auth"), *a;
            size_t k;
            if (!json_is_array(auth)) {
                json_array_append(cases, tc);
                continue;
            }
            /* one case per caller */
            json_array_foreach(auth, k, a)
            {
                json_t *one = json_deep_copy(tc);
                char *nm = NULL;
                size_t len = strlen(json_string_value(json_object_get(tc, "name"))) + 64;
                nm = malloc(len);
                snprintf(nm, len, "%s [%s]", json_string_value(json_object_get(tc, "name")),
                         json_string_value(a));
                json_object_set_new(one, "name", json_string(nm));
                json_object_set(one, "auth", a);
                json_array_append_new(cases, one);
                free(nm);
            }
        }
        json_decref(file);
    }
    n = json_array_size(cases);
    tests = calloc(n + nfixed, sizeof(*tests));
    json_array_foreach(cases, i, tc)
    {
        tests[i].name = json_string_value(json_object_get(tc, "name"));
        tests[i].test_func = declarative_case;
        tests[i].initial_state = tc;
    }
    memcpy(tests + n, fixed, sizeof(fixed));
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r = _cmocka_run_group_tests("e2e", tests, n + nfixed, setup, teardown);
    curl_global_cleanup();
    free(tests);
    json_decref(cases);
    return r;
}
