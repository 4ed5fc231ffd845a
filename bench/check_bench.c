/*
 * check_bench.c: POST /v1/check and POST /oauth2/token against a running
 * `mandate serve`, with their crypto ceilings and a static nginx, in one run.
 *
 * bench/check.sh starts the server (fresh store) and nginx and runs this
 * program, which:
 *   1. registers a SPIFFE issuer whose key it holds, an agent, two intents
 *      (DPoP-bound and bearer, budget and rate at their maxima), the example
 *      policies;
 *   2. measures exchanges/s (each a fresh JWT-SVID and DPoP proof, made
 *      before the clock starts) against the crypto-only bound of one
 *      exchange: two ES256 verifications (credential, proof) and one ES256
 *      signature (the token), on as many threads as the server has;
 *   3. measures checks/s and p50/p99 latency with a cached token, (a) DPoP:
 *      every check carries a fresh proof (made before the clock starts), so
 *      the ceiling is the raw ES256 verify rate, measured here too; (b)
 *      bearer; then (c) each again at half its maximum rate (paced), for the
 *      p99 goal; (d) nginx answering a static 200 on loopback with the same
 *      client.
 * Clients share the machine with the server (like nginx's clients do): the
 * figures compare, they do not certify.  A table, not a test.
 *
 * With ASYNC_URL (a second server, `serve --audit-durability async`), steps
 * 1-3 run against it too: the rows marked "async" answer once the audit
 * record is committed but before it is synced to the disk.
 *
 * CHECK_BENCH_ONLY="bearer half" (any of exchange, dpop, bearer, half) runs
 * only those rows, e.g. under a profiler.
 *
 * Usage: check_bench MANDATE_URL ADMIN_KEY NGINX_URL|- POLICIES SCHEMA [SECONDS
 *        [ASYNC_URL ASYNC_ADMIN_KEY]]
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jose/jose.h"

#define AGENT "spiffe://bench.example/agents/bench-bot"
#define TOOL_URL "https://tool.bench.example/v1/do"
#define NTASKS 32 /* the intent's rate (100000/min) is per task */
#define CONNS 16
#define MAXLAT (4 * 1024 * 1024)

static double secs = 3.0;
static char host[64];
static int port;
static const char *admin;
static char pep_auth[256];

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "check_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* ---- a minimal keep-alive HTTP/1.1 client ------------------------------------- */

/* "http://HOST:PORT[/...]" -> host, port; 0 or -1. */
static int parse_url(const char *url, char h[64], int *p)
{
    const char *s, *colon;
    size_t n;

    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }
    s = url + 7;
    colon = strchr(s, ':');
    if (colon == NULL || (n = (size_t)(colon - s)) == 0 || n >= 64) {
        return -1;
    }
    memcpy(h, s, n);
    h[n] = '\0';
    *p = (int)strtol(colon + 1, NULL, 10);
    return *p > 0 && *p < 65536 ? 0 : -1;
}

struct conn {
    int fd;
    char host[64];
    int port;
    char buf[65536];
    size_t len;
};

static void conn_open(struct conn *c, const char *h, int p)
{
    struct sockaddr_in sa;
    int one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)p);
    if (inet_pton(AF_INET, h, &sa.sin_addr) != 1) {
        die("bad host", h);
    }
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        die("connect failed", h);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    snprintf(c->host, sizeof(c->host), "%s", h);
    c->port = p;
    c->len = 0;
}

/* Sends one request and reads the answer; body_out (may be NULL) gets a
 * malloc'd copy of the body.  Returns the status, -1 on a broken connection. */
static int conn_do(struct conn *c, const char *method, const char *path, const char *ctype,
                   const char *auth, const char *extra_hdr, const char *body, char **body_out)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0, need;
    int n, status = -1;
    long clen = -1;
    char *eoh, *p;

    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s%s%s%s%s%s%sContent-Length: %zu\r\n\r\n",
                 method, path, c->host, c->port, ctype ? "Content-Type: " : "", ctype ? ctype : "",
                 ctype ? "\r\n" : "", auth ? "Authorization: " : "", auth ? auth : "",
                 auth ? "\r\n" : "", extra_hdr ? extra_hdr : "", blen);
    if (write(c->fd, head, (size_t)n) != n || (blen && write(c->fd, body, blen) != (ssize_t)blen)) {
        return -1;
    }
    c->len = 0;
    for (;;) {
        ssize_t r = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
        if (r <= 0) {
            return -1;
        }
        c->len += (size_t)r;
        c->buf[c->len] = '\0';
        eoh = strstr(c->buf, "\r\n\r\n");
        if (eoh == NULL) {
            continue;
        }
        if (status < 0) {
            status = (int)strtol(c->buf + 9, NULL, 10); /* "HTTP/1.1 200" */
            p = strcasestr(c->buf, "\r\ncontent-length:");
            clen = p && p < eoh ? strtol(p + 17, NULL, 10) : 0;
        }
        need = (size_t)(eoh + 4 - c->buf) + (size_t)clen;
        if (c->len >= need) {
            break;
        }
        if (need >= sizeof(c->buf)) {
            return -1;
        }
    }
    if (body_out != NULL) {
        *body_out = strndup(eoh + 4, (size_t)clen);
    }
    return status;
}

static char *api(const char *method, const char *path, const char *json)
{
    struct conn c;
    char auth[256], *out = NULL;
    int st;

    conn_open(&c, host, port);
    snprintf(auth, sizeof(auth), "Bearer %s", admin);
    st = conn_do(&c, method, path, "application/json", auth, NULL, json, &out);
    close(c.fd);
    if (st < 200 || st >= 300) {
        fprintf(stderr, "%s %s -> %d %s\n", method, path, st, out ? out : "");
        die("setup request failed", path);
    }
    return out;
}

/* ---- tokens and proofs ------------------------------------------------------------ */

static struct jose_jwk *svid_key, *agent_key;

static char *svid(void)
{
    json_t *c = json_pack("{s:s, s:s, s:I, s:I}", "sub", AGENT, "aud", "mandate", "iat",
                          (json_int_t)time(NULL), "exp", (json_int_t)time(NULL) + 600);
    char *out = NULL;
    struct err e;

    if (jose_jwt_sign(svid_key, JOSE_ALG_ES256, "JWT", c, &out, &e) != 0) {
        die("svid", e.msg);
    }
    json_decref(c);
    return out;
}

static char *proof(const char *htm, const char *htu, const char *token)
{
    char *out = NULL;
    struct err e;

    if (jose_dpop_create(agent_key, JOSE_ALG_ES256, htm, htu, token, NULL, 0, &out, &e) != 0) {
        die("dpop", e.msg);
    }
    return out;
}

static void urlenc(char *out, size_t max, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = 0;

    for (; *s && j + 4 < max; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.') {
            out[j++] = (char)ch;
        } else {
            out[j++] = '%';
            out[j++] = hex[ch >> 4];
            out[j++] = hex[ch & 15];
        }
    }
    out[j] = '\0';
}

struct xreq {
    char *form;
    char hdr[2048];
};

static void exchange_prepare(struct xreq *x, const char *intent, int bound, const char *base)
{
    char det[256], enc[512], *s = svid(), htu[256];
    size_t n = 8192;

    snprintf(det, sizeof(det), "[{\"type\":\"mandate_task\",\"intent\":\"%s\",\"ttl\":600}]",
             intent);
    urlenc(enc, sizeof(enc), det);
    x->form = malloc(n);
    snprintf(x->form, n,
             "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange"
             "&subject_token=%s&subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%"
             "3Ajwt&authorization_details=%s",
             s, enc);
    free(s);
    x->hdr[0] = '\0';
    if (bound) {
        char *p;
        snprintf(htu, sizeof(htu), "%s/oauth2/token", base);
        p = proof("POST", htu, NULL);
        snprintf(x->hdr, sizeof(x->hdr), "DPoP: %s\r\n", p);
        free(p);
    }
}

static char *exchange_do(struct conn *c, struct xreq *x)
{
    char *out = NULL, *tok = NULL;
    json_t *j;
    int st = conn_do(c, "POST", "/oauth2/token", "application/x-www-form-urlencoded", NULL,
                     x->hdr[0] ? x->hdr : NULL, x->form, &out);

    if (st == 200 && (j = json_loads(out, 0, NULL)) != NULL) {
        const char *t = json_string_value(json_object_get(j, "access_token"));
        tok = t ? strdup(t) : NULL;
        json_decref(j);
    }
    if (tok == NULL) {
        fprintf(stderr, "exchange -> %d %s\n", st, out ? out : "");
    }
    free(out);
    return tok;
}

/* ---- load ------------------------------------------------------------------------- */

struct load {
    const char *h;
    int p;
    const char *method, *path, *auth;
    char **bodies; /* NULL: no body (nginx) */
    size_t nbodies;
    atomic_size_t next;
    double rate; /* total requests/s to pace at; 0: as fast as possible */
    double t_end;
    atomic_ulong ok, allow, fail;
    double *lat; /* seconds */
    atomic_size_t nlat;
};

struct worker {
    struct load *L;
    int idx;
    pthread_t th;
};

static void *run_worker(void *arg)
{
    struct worker *w = arg;
    struct load *L = w->L;
    struct conn c;
    double next_t = now_s(), gap = L->rate > 0 ? CONNS / L->rate : 0;
    char *out;

    conn_open(&c, L->h, L->p);
    next_t += gap * w->idx / CONNS;
    for (;;) {
        size_t i = L->bodies ? atomic_fetch_add(&L->next, 1) : 0;
        double t0;
        int st;

        if (L->bodies && i >= L->nbodies) {
            break;
        }
        if (gap > 0) {
            double t = now_s();
            if (next_t > t) {
                struct timespec ts = {0, (long)((next_t - t) * 1e9)};
                nanosleep(&ts, NULL);
            }
            next_t += gap;
        }
        t0 = now_s();
        if (t0 >= L->t_end) {
            break;
        }
        out = NULL;
        st = conn_do(&c, L->method, L->path, L->bodies ? "application/json" : NULL, L->auth, NULL,
                     L->bodies ? L->bodies[i] : NULL, L->bodies ? &out : NULL);
        if (st < 0) {
            close(c.fd);
            conn_open(&c, L->h, L->p);
            atomic_fetch_add(&L->fail, 1);
            continue;
        }
        {
            size_t k = atomic_fetch_add(&L->nlat, 1);
            if (k < MAXLAT) {
                L->lat[k] = now_s() - t0;
            }
        }
        if (st == 200) {
            atomic_fetch_add(&L->ok, 1);
            if (out == NULL || strstr(out, "\"allow\": true") || strstr(out, "\"allow\":true")) {
                atomic_fetch_add(&L->allow, 1);
            }
        } else {
            atomic_fetch_add(&L->fail, 1);
        }
        free(out);
    }
    close(c.fd);
    return NULL;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct result {
    double rps, p50, p99;
    unsigned long ok, allow, fail;
    double cpu_us; /* the server's CPU per request (all its threads); 0: unknown */
};

/* ---- the server's CPU time (BENCH_PID, BENCH_ASYNC_PID from check.sh) ----------------- */

static long srv_pid;

/* utime + stime of the whole process in clock ticks; -1 when unknown. */
static long cpu_ticks(void)
{
    char path[64], buf[1024], *p, *end;
    long v[2] = {0, 0};
    size_t n;
    int field;
    FILE *f;

    if (srv_pid <= 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", srv_pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL) {
        return -1;
    }
    /* after ")": field 3 (state) onwards; utime and stime are fields 14, 15 */
    for (field = 2; field < 15 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
        if (p != NULL && (field + 1 == 14 || field + 1 == 15)) {
            v[field + 1 - 14] = strtol(p + 1, &end, 10);
        }
    }
    return p != NULL ? v[0] + v[1] : -1;
}

/* CHECK_BENCH_ONLY (for profiling one kind of request): a list of
 * "exchange", "dpop", "bearer", "half"; unset: every row. */
static int only(const char *what)
{
    const char *o = getenv("CHECK_BENCH_ONLY");

    return o == NULL || o[0] == '\0' || strstr(o, what) != NULL;
}

static void cpu_per_req(struct result *r, long t0)
{
    long t1 = cpu_ticks();
    unsigned long n = r->ok + r->fail;

    r->cpu_us = t0 >= 0 && t1 >= t0 && n > 0
                    ? (double)(t1 - t0) * 1e6 / (double)sysconf(_SC_CLK_TCK) / (double)n
                    : 0;
}

static struct result run_load(struct load *L, double duration)
{
    struct worker w[CONNS];
    struct result r;
    double t0;
    size_t n, i;

    atomic_store(&L->next, 0);
    atomic_store(&L->ok, 0);
    atomic_store(&L->allow, 0);
    atomic_store(&L->fail, 0);
    atomic_store(&L->nlat, 0);
    t0 = now_s();
    L->t_end = t0 + duration;
    for (i = 0; i < CONNS; i++) {
        w[i].L = L;
        w[i].idx = (int)i;
        pthread_create(&w[i].th, NULL, run_worker, &w[i]);
    }
    for (i = 0; i < CONNS; i++) {
        pthread_join(w[i].th, NULL);
    }
    n = atomic_load(&L->nlat);
    n = n > MAXLAT ? MAXLAT : n;
    qsort(L->lat, n, sizeof(double), cmpd);
    r.ok = atomic_load(&L->ok);
    r.allow = atomic_load(&L->allow);
    r.fail = atomic_load(&L->fail);
    r.rps = (double)n / (now_s() - t0);
    r.p50 = n ? L->lat[n / 2] * 1e3 : 0;
    r.p99 = n ? L->lat[(size_t)((double)n * 0.99)] * 1e3 : 0;
    return r;
}

/* ---- crypto ceilings ------------------------------------------------------------- */

struct cwork {
    const char *jws;
    const struct jose_jwk *key;
    int sign;
    double t_end;
    unsigned long n;
    pthread_t th;
};

static void *run_crypto(void *arg)
{
    struct cwork *c = arg;
    struct err e;

    while (now_s() < c->t_end) {
        int i;
        for (i = 0; i < 64; i++) {
            if (c->sign) {
                char *out = NULL;
                if (jose_jws_sign(c->key, JOSE_ALG_ES256, NULL, "{\"a\":1}", 7, &out, &e) != 0) {
                    die("sign", e.msg);
                }
                free(out);
            } else if (jose_jws_verify_key(c->key, JOSE_ALGS_ALL, c->jws, strlen(c->jws), NULL,
                                           NULL, NULL, NULL, &e) != 0) {
                die("verify", e.msg);
            }
        }
        c->n += 64;
    }
    return NULL;
}

/* Operations per second on `threads` threads. */
static double crypto_rate(const struct jose_jwk *key, const char *jws, int sign, int threads,
                          double duration)
{
    struct cwork w[8];
    double t0 = now_s(), total = 0;
    int i;

    for (i = 0; i < threads; i++) {
        w[i] = (struct cwork){jws, key, sign, t0 + duration, 0, 0};
        pthread_create(&w[i].th, NULL, run_crypto, &w[i]);
    }
    for (i = 0; i < threads; i++) {
        pthread_join(w[i].th, NULL);
        total += (double)w[i].n;
    }
    return total / (now_s() - t0);
}

/* ---- setup ---------------------------------------------------------------------------- */

static char *file_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    if (f == NULL) {
        die("cannot read", path);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    s = malloc((size_t)n + 1);
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
        die("cannot read", path);
    }
    s[n] = '\0';
    fclose(f);
    return s;
}

static void setup(const char *policies, const char *schema)
{
    json_t *pub = NULL, *j;
    char *text;
    struct err e;

    jose_jwk_free(svid_key);
    jose_jwk_free(agent_key);
    svid_key = agent_key = NULL;
    if (jose_jwk_generate(JOSE_ALG_ES256, "bench-1", &svid_key, &e) != 0 ||
        jose_jwk_generate(JOSE_ALG_ES256, NULL, &agent_key, &e) != 0 ||
        jose_jwk_to_json(svid_key, 0, &pub, &e) != 0) {
        die("keys", e.msg);
    }
    json_object_set_new(pub, "use", json_string("jwt-svid"));
    j = json_pack("{s:s, s:s, s:s, s:s, s:{s:[O]}, s:[s]}", "id", "bench-spiffe", "kind", "spiffe",
                  "for", "agents", "trust_domain", "bench.example", "jwks", "keys", pub,
                  "audiences", "mandate");
    text = json_dumps(j, JSON_COMPACT);
    free(api("POST", "/v1/trust-issuers", text));
    free(text);
    json_decref(j);
    json_decref(pub);
    free(api("POST", "/v1/humans", "{\"id\":\"bench-owner\",\"email\":\"o@bench.example\"}"));
    text = api("POST", "/v1/api-keys", "{\"name\":\"bench-pep\",\"role\":\"pep\"}");
    j = json_loads(text, 0, NULL);
    if (json_string_value(json_object_get(j, "key")) == NULL) {
        die("no pep key", text);
    }
    snprintf(pep_auth, sizeof(pep_auth), "Bearer %s", json_string_value(json_object_get(j, "key")));
    json_decref(j);
    free(text);
    free(api("POST", "/v1/tools", "{\"id\":\"bench.tool\",\"downstream\":\"bench\"}"));
    free(api("POST", "/v1/intents",
             "{\"id\":\"bench-dpop\",\"tools\":{\"bench.tool\":[\"do\"]},\"max_ttl_s\":3600,"
             "\"call_budget\":1000000,\"rate_per_min\":100000,\"dpop_required\":true}"));
    free(api("POST", "/v1/intents",
             "{\"id\":\"bench-bearer\",\"tools\":{\"bench.tool\":[\"do\"]},\"max_ttl_s\":3600,"
             "\"call_budget\":1000000,\"rate_per_min\":100000,\"dpop_required\":false}"));
    free(api("POST", "/v1/agents",
             "{\"id\":\"" AGENT "\",\"owner\":\"bench-owner\",\"purpose\":\"bench\","
             "\"environment\":\"production\",\"issuer\":\"bench-spiffe\"}"));
    free(api("POST", "/v1/agents/" AGENT "/entitlements", "{\"intent\":\"bench-dpop\"}"));
    free(api("POST", "/v1/agents/" AGENT "/entitlements", "{\"intent\":\"bench-bearer\"}"));
    j = json_pack("{s:s, s:s, s:b}", "cedar", file_text(policies), "schema", file_text(schema),
                  "activate", 1);
    text = json_dumps(j, JSON_COMPACT);
    free(api("POST", "/v1/policies", text));
    free(text);
    json_decref(j);
}

static char *check_body(const char *token, const char *dpop)
{
    json_t *j = json_pack("{s:s, s:s*, s:s, s:s, s:s, s:s, s:s}", "token", token, "dpop", dpop,
                          "method", "POST", "url", TOOL_URL, "tool", "bench.tool", "action", "do",
                          "downstream", "bench");
    char *s = json_dumps(j, JSON_COMPACT);

    json_decref(j);
    return s;
}

static void row(const char *what, double rps, double p50, double p99, double cpu, const char *vs)
{
    char c[16] = "";

    if (cpu > 0) {
        snprintf(c, sizeof(c), "%.0f", cpu);
    }
    printf("| %-46s | %9.0f | %8.3f | %8.3f | %9s | %-34s |\n", what, rps, p50, p99, c, vs);
}

/* ---- exchanges ----------------------------------------------------------------------- */

struct xrun {
    struct xreq *xs;
    size_t n;
    atomic_size_t at;
    double t_end;
    atomic_ulong ok, done;
    double *lat;
};

static void *run_exchanges(void *arg)
{
    struct xrun *x = arg;
    struct conn c;

    conn_open(&c, host, port);
    for (;;) {
        size_t i = atomic_fetch_add(&x->at, 1);
        double t0 = now_s();
        char *tok;

        if (i >= x->n || t0 >= x->t_end) {
            break;
        }
        tok = exchange_do(&c, &x->xs[i]);
        x->lat[i] = now_s() - t0;
        atomic_fetch_add(&x->done, 1);
        if (tok != NULL) {
            atomic_fetch_add(&x->ok, 1);
            free(tok);
        } else {
            close(c.fd);
            conn_open(&c, host, port);
        }
    }
    close(c.fd);
    return NULL;
}

static struct result exchanges(const char *base, double bound)
{
    struct xrun x;
    pthread_t th[CONNS];
    struct result r;
    size_t i, n;
    double t0;

    memset(&x, 0, sizeof(x));
    x.n = (size_t)(bound * secs * 1.5) + 200;
    x.xs = calloc(x.n, sizeof(*x.xs));
    x.lat = calloc(x.n, sizeof(double));
    for (i = 0; i < x.n; i++) {
        exchange_prepare(&x.xs[i], "bench-dpop", 1, base);
    }
    t0 = now_s();
    x.t_end = t0 + secs;
    for (i = 0; i < CONNS; i++) {
        pthread_create(&th[i], NULL, run_exchanges, &x);
    }
    for (i = 0; i < CONNS; i++) {
        pthread_join(th[i], NULL);
    }
    n = atomic_load(&x.done);
    r.rps = (double)n / (now_s() - t0);
    qsort(x.lat, n, sizeof(double), cmpd);
    r.p50 = n ? x.lat[n / 2] * 1e3 : 0;
    r.p99 = n ? x.lat[(size_t)((double)n * 0.99)] * 1e3 : 0;
    r.ok = atomic_load(&x.ok);
    r.allow = r.ok;
    r.fail = n - r.ok;
    for (i = 0; i < x.n; i++) {
        free(x.xs[i].form);
    }
    free(x.xs);
    free(x.lat);
    return r;
}

/* ---- checks -------------------------------------------------------------------------- */

/* n check bodies over the tokens, round robin; with proofs when dpop. */
static char **check_bodies(char **tokens, size_t ntok, size_t n, int dpop)
{
    char **v = calloc(n, sizeof(*v));
    size_t i;

    for (i = 0; i < n; i++) {
        const char *tk = tokens[i % ntok];
        char *p = dpop ? proof("POST", TOOL_URL, tk) : NULL;
        v[i] = check_body(tk, p);
        free(p);
    }
    return v;
}

static void free_bodies(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(v[i]);
    }
    free(v);
}

static struct result checks(char **tokens, int dpop, double rate, size_t nbodies)
{
    struct load L;
    struct result r;

    memset(&L, 0, sizeof(L));
    L.h = host;
    L.p = port;
    L.method = "POST";
    L.path = "/v1/check";
    L.auth = pep_auth;
    L.rate = rate;
    L.lat = calloc(MAXLAT, sizeof(double));
    L.nbodies = nbodies;
    L.bodies = check_bodies(tokens, NTASKS, nbodies, dpop);
    r = run_load(&L, secs);
    free_bodies(L.bodies, nbodies);
    free(L.lat);
    return r;
}

static struct result nginx(const char *url, double rate)
{
    struct load L;
    struct result r;
    char h[64];
    int p;

    memset(&L, 0, sizeof(L));
    if (parse_url(url, h, &p) != 0) {
        die("bad nginx url", url);
    }
    L.h = h;
    L.p = p;
    L.method = "GET";
    L.path = "/";
    L.rate = rate;
    L.lat = calloc(MAXLAT, sizeof(double));
    r = run_load(&L, secs);
    free(L.lat);
    return r;
}

/* What one server measures: exchanges, then checks (DPoP and bearer) at
 * maximum load and at half of it. */
struct srvres {
    struct result xr, dmax, bmax, dhalf, bhalf;
};

static void measure(const char *url, const char *key, const char *policies, const char *schema,
                    double xbound, double verify_rate, struct srvres *out)
{
    char base[128], *toks_d[NTASKS], *toks_b[NTASKS];
    struct conn c;
    size_t i, nd;
    long t0;

    snprintf(base, sizeof(base), "%s", url);
    if (parse_url(base, host, &port) != 0) {
        die("bad url", base);
    }
    admin = key;
    setup(policies, schema);
    t0 = cpu_ticks();
    out->xr = only("exchange") ? exchanges(base, xbound) : (struct result){0};
    cpu_per_req(&out->xr, t0);

    /* tokens for the checks: NTASKS of each kind */
    conn_open(&c, host, port);
    for (i = 0; i < NTASKS; i++) {
        struct xreq xd, xb;
        exchange_prepare(&xd, "bench-dpop", 1, base);
        exchange_prepare(&xb, "bench-bearer", 0, base);
        toks_d[i] = exchange_do(&c, &xd);
        toks_b[i] = exchange_do(&c, &xb);
        free(xd.form);
        free(xb.form);
        if (toks_d[i] == NULL || toks_b[i] == NULL) {
            die("exchange for the check tokens failed", NULL);
        }
    }
    close(c.fd);

    nd = (size_t)(verify_rate * secs * 1.3) + 1000; /* proofs cannot be reused */
    if (only("dpop")) {
        t0 = cpu_ticks();
        out->dmax = checks(toks_d, 1, 0, nd);
        cpu_per_req(&out->dmax, t0);
    }
    if (only("bearer")) {
        t0 = cpu_ticks();
        out->bmax = checks(toks_b, 0, 0, nd * 4);
        cpu_per_req(&out->bmax, t0);
    }
    if (only("dpop") && only("half")) {
        t0 = cpu_ticks();
        out->dhalf = checks(toks_d, 1, out->dmax.rps / 2, nd);
        cpu_per_req(&out->dhalf, t0);
    }
    if (only("bearer") && only("half")) {
        t0 = cpu_ticks();
        out->bhalf = checks(toks_b, 0, out->bmax.rps / 2, nd * 4);
        cpu_per_req(&out->bhalf, t0);
    }
    for (i = 0; i < NTASKS; i++) {
        free(toks_d[i]);
        free(toks_b[i]);
    }
}

static void rows(const struct srvres *m, const char *mode, double xbound, double verify_rate,
                 const struct result *ng)
{
    char what[64], vs[160];

    snprintf(vs, sizeof(vs), "%.0f%% of bound (>= 60%%), %lu/%lu ok", 100 * m->xr.rps / xbound,
             m->xr.ok, m->xr.ok + m->xr.fail);
    snprintf(what, sizeof(what), "POST /oauth2/token (DPoP)%s", mode);
    row(what, m->xr.rps, m->xr.p50, m->xr.p99, m->xr.cpu_us, vs);
    snprintf(vs, sizeof(vs), "%.0f%% of verify (>= 80%%), %lu allow",
             100 * m->dmax.rps / verify_rate, m->dmax.allow);
    snprintf(what, sizeof(what), "POST /v1/check, DPoP, max%s", mode);
    row(what, m->dmax.rps, m->dmax.p50, m->dmax.p99, m->dmax.cpu_us, vs);
    snprintf(vs, sizeof(vs), "p99 < 2 ms: %s", m->dhalf.p99 < 2.0 ? "yes" : "no");
    snprintf(what, sizeof(what), "POST /v1/check, DPoP, half%s", mode);
    row(what, m->dhalf.rps, m->dhalf.p50, m->dhalf.p99, m->dhalf.cpu_us, vs);
    if (ng->rps > 0) {
        snprintf(vs, sizeof(vs), "%.0f%% of nginx (>= 50%%), %lu allow",
                 100 * m->bmax.rps / ng->rps, m->bmax.allow);
    } else {
        snprintf(vs, sizeof(vs), "no nginx; %lu allow", m->bmax.allow);
    }
    snprintf(what, sizeof(what), "POST /v1/check, bearer, max%s", mode);
    row(what, m->bmax.rps, m->bmax.p50, m->bmax.p99, m->bmax.cpu_us, vs);
    snprintf(vs, sizeof(vs), "p99 < 2 ms: %s", m->bhalf.p99 < 2.0 ? "yes" : "no");
    snprintf(what, sizeof(what), "POST /v1/check, bearer, half%s", mode);
    row(what, m->bhalf.rps, m->bhalf.p50, m->bhalf.p99, m->bhalf.cpu_us, vs);
    if (m->dmax.fail + m->bmax.fail + m->dhalf.fail + m->bhalf.fail > 0 ||
        m->dmax.allow + 100 < m->dmax.ok || m->bmax.allow + 100 < m->bmax.ok) {
        printf("| %-46s | note: failures or denies: dpop %lu/%lu allow, bearer %lu/%lu allow\n",
               mode, m->dmax.allow, m->dmax.ok + m->dmax.fail, m->bmax.allow,
               m->bmax.ok + m->bmax.fail);
    }
}

int main(int argc, char **argv)
{
    struct srvres sync_m, async_m;
    struct result ng, nghalf;
    double verify_rate, sign_rate, xbound;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = ncpu > 0 && ncpu <= 8 ? (int)ncpu : 2;
    int with_async = argc > 8;

    if (argc < 6) {
        fprintf(stderr, "usage: check_bench MANDATE_URL ADMIN_KEY NGINX_URL|- POLICIES SCHEMA "
                        "[SECONDS [ASYNC_URL ASYNC_ADMIN_KEY]]\n");
        return 2;
    }
    if (argc > 6) {
        secs = strtod(argv[6], NULL);
    }

    /* crypto ceilings, in this run, on as many threads as the server has */
    {
        char *p;
        struct err e;
        if (jose_jwk_generate(JOSE_ALG_ES256, NULL, &agent_key, &e) != 0) {
            die("keys", e.msg);
        }
        p = proof("POST", TOOL_URL, "x");
        verify_rate = crypto_rate(agent_key, p, 0, threads, 1.0);
        sign_rate = crypto_rate(agent_key, NULL, 1, threads, 1.0);
        free(p);
        xbound = 1.0 / (2.0 / verify_rate + 1.0 / sign_rate);
    }
    srv_pid = getenv("BENCH_PID") ? strtol(getenv("BENCH_PID"), NULL, 10) : 0;
    measure(argv[1], argv[2], argv[4], argv[5], xbound, verify_rate, &sync_m);
    memset(&async_m, 0, sizeof(async_m));
    if (with_async) {
        srv_pid = getenv("BENCH_ASYNC_PID") ? strtol(getenv("BENCH_ASYNC_PID"), NULL, 10) : 0;
        measure(argv[7], argv[8], argv[4], argv[5], xbound, verify_rate, &async_m);
    }
    memset(&ng, 0, sizeof(ng));
    memset(&nghalf, 0, sizeof(nghalf));
    if (strcmp(argv[3], "-") != 0) {
        ng = nginx(argv[3], 0);
        nghalf = nginx(argv[3], ng.rps / 2);
    }

    printf("check_bench: %d threads of crypto, %d client connections, %.1f s per row; clients "
           "share the machine with the server\n\n",
           threads, CONNS, secs);
    printf("| %-46s | %9s | %8s | %8s | %9s | %-34s |\n", "what", "per s", "p50 ms", "p99 ms",
           "srv us/rq", "vs (goal)");
    printf("|%s|%s|%s|%s|%s|%s|\n", "------------------------------------------------",
           "-----------", "----------", "----------", "-----------",
           "------------------------------------");
    row("raw ES256 verify (jose_jws_verify_key)", verify_rate, 0, 0, 0, "the DPoP check ceiling");
    row("raw ES256 sign", sign_rate, 0, 0, 0, "");
    row("exchange crypto bound (2 verify + 1 sign)", xbound, 0, 0, 0, "");
    rows(&sync_m, "", xbound, verify_rate, &ng);
    if (with_async) {
        rows(&async_m, ", async", xbound, verify_rate, &ng);
    }
    if (ng.rps > 0) {
        row("nginx static 200, max", ng.rps, ng.p50, ng.p99, 0, "");
        row("nginx static 200, half", nghalf.rps, nghalf.p50, nghalf.p99, 0, "");
    }
    jose_jwk_free(svid_key);
    jose_jwk_free(agent_key);
    return 0;
}
