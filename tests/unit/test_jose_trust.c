/*
 * test_jose_trust.c: the trust store (SPIFFE bundles, OIDC issuers, JWKS
 * fetch and cache) and the signing keyring (rotation, encryption at rest).
 *
 * The fetch path runs against a tiny libmicrohttpd server on 127.0.0.1 whose
 * answers the tests change as they go (status, body, delay).  Time is moved
 * with clock_set_wall so refresh, stale and rotation windows need no sleeps.
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <pthread.h>

#include "jose/jose.h"
#include "util/clock.h"
#include "util/log.h"

/* ---- fake clock --------------------------------------------------------- */

static int64_t now_s = 1800000000;

static int64_t fake_wall(void)
{
    return now_s * 1000;
}

static char tmpdir[64];

/* ---- the test HTTP server ---------------------------------------------- */

static struct {
    pthread_mutex_t mu;
    struct MHD_Daemon *d;
    unsigned short port;
    char base[64];
    unsigned status;
    char *jwks;        /* body of /jwks */
    char *discovery;   /* body of /.well-known/openid-configuration */
    unsigned delay_ms; /* before answering /jwks */
    int jwks_requests;
} srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void srv_set(unsigned status, const char *jwks, unsigned delay_ms)
{
    pthread_mutex_lock(&srv.mu);
    srv.status = status;
    if (jwks != NULL) {
        free(srv.jwks);
        srv.jwks = strdup(jwks);
    }
    srv.delay_ms = delay_ms;
    pthread_mutex_unlock(&srv.mu);
}

static int srv_requests(void)
{
    int n;

    pthread_mutex_lock(&srv.mu);
    n = srv.jwks_requests;
    pthread_mutex_unlock(&srv.mu);
    return n;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *data,
                              size_t *size, void **ctx)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *body = NULL;
    size_t len = 0;
    unsigned status = 404, delay = 0;

    (void)cls, (void)method, (void)version, (void)data, (void)size, (void)ctx;
    pthread_mutex_lock(&srv.mu);
    if (strcmp(url, "/jwks") == 0) {
        srv.jwks_requests++;
        status = srv.status;
        delay = srv.delay_ms;
        body = strdup(srv.jwks != NULL ? srv.jwks : "");
    } else if (strcmp(url, "/.well-known/openid-configuration") == 0 && srv.discovery) {
        status = 200;
        body = strdup(srv.discovery);
    } else if (strcmp(url, "/big") == 0) {
        len = 300 * 1024;
        body = malloc(len + 1);
        memset(body, ' ', len);
        body[0] = '{';
        body[len - 1] = '}';
        body[len] = '\0';
        status = 200;
    } else if (strcmp(url, "/redirect") == 0) {
        status = 302;
        body = strdup("");
    } else {
        body = strdup("not found");
    }
    pthread_mutex_unlock(&srv.mu);
    if (delay > 0) {
        usleep(delay * 1000);
    }
    if (len == 0) {
        len = strlen(body);
    }
    resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (status == 302) {
        MHD_add_response_header(resp, "Location", "/jwks");
    }
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void srv_start(void)
{
    const union MHD_DaemonInfo *info;

    srv.d = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, answer, NULL, MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(srv.d);
    info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
    srv.port = info->port;
    snprintf(srv.base, sizeof srv.base, "http://127.0.0.1:%u", srv.port);
}

/* A second daemon speaks TLS with a self-signed certificate for 127.0.0.1
 * (made here with OpenSSL), so the https path runs for real. */
static struct {
    struct MHD_Daemon *d;
    char base[64];
    char *cert_pem, *key_pem;
    char ca_file[128];
} tls;

static char *bio_text(BIO *b)
{
    char *p = NULL, *s;
    long n = BIO_get_mem_data(b, &p);

    s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    return s;
}

static void make_cert(void)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    X509_EXTENSION *ext;
    X509V3_CTX ctx;
    BIO *b;
    FILE *f;

    assert_non_null(pk);
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pk);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, pk, EVP_sha256()) > 0);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    tls.cert_pem = bio_text(b);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
    tls.key_pem = bio_text(b);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(pk);
    snprintf(tls.ca_file, sizeof tls.ca_file, "%s/ca.pem", tmpdir);
    f = fopen(tls.ca_file, "w");
    assert_non_null(f);
    fputs(tls.cert_pem, f);
    fclose(f);
}

static void tls_start(void)
{
    const union MHD_DaemonInfo *info;

    make_cert();
    tls.d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                 MHD_USE_TLS,
                             0, NULL, NULL, answer, NULL, MHD_OPTION_HTTPS_MEM_KEY, tls.key_pem,
                             MHD_OPTION_HTTPS_MEM_CERT, tls.cert_pem, MHD_OPTION_END);
    if (tls.d == NULL) {
        return; /* libmicrohttpd without TLS: the https test skips */
    }
    info = MHD_get_daemon_info(tls.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(tls.base, sizeof tls.base, "https://127.0.0.1:%u", info->port);
}

/* ---- keys and tokens ---------------------------------------------------- */

static struct jose_jwk *gen(enum jose_alg alg, const char *kid)
{
    struct jose_jwk *k = NULL;
    struct err e;

    assert_int_equal(jose_jwk_generate(alg, kid, &k, &e), 0);
    return k;
}

/* Public JWK JSON of k with an extra "use" member (NULL: none). */
static json_t *pub(const struct jose_jwk *k, const char *use)
{
    json_t *j = NULL;
    struct err e;

    assert_int_equal(jose_jwk_to_json(k, 0, &j, &e), 0);
    if (use != NULL) {
        json_object_set_new(j, "use", json_string(use));
    }
    return j;
}

static char *dump_set(json_t *keys, const char *extra_fmt, ...)
{
    json_t *set = json_pack("{so}", "keys", keys);
    char *s;

    if (extra_fmt != NULL) {
        va_list ap;
        json_error_t je;
        json_t *x;

        va_start(ap, extra_fmt);
        x = json_vpack_ex(&je, 0, extra_fmt, ap);
        va_end(ap);
        json_object_update(set, x);
        json_decref(x);
    }
    s = json_dumps(set, JSON_COMPACT);
    json_decref(set);
    return s;
}

static char *write_tmp(const char *name, const char *text)
{
    char *path = malloc(256);
    FILE *f;

    snprintf(path, 256, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static char *mint(const struct jose_jwk *k, const char *typ, const char *claims_fmt, ...)
{
    va_list ap;
    json_error_t je;
    json_t *claims;
    char *out = NULL;
    struct err e;

    va_start(ap, claims_fmt);
    claims = json_vpack_ex(&je, 0, claims_fmt, ap);
    va_end(ap);
    assert_non_null(claims);
    assert_int_equal(jose_jwt_sign(k, JOSE_ALG_UNKNOWN, typ, claims, &out, &e), 0);
    json_decref(claims);
    return out;
}

static int verify(struct jose_trust_store *ts, const char *tok, struct jose_identity **id,
                  struct err *e)
{
    struct jose_identity *tmp = NULL;
    int r = jose_trust_verify(ts, tok, strlen(tok), id != NULL ? id : &tmp, e);

    jose_identity_free(tmp);
    return r;
}

static const char *const AUD[] = {"https://mandate.example", NULL};

/* ---- SPIFFE bundles from a file --------------------------------------- */

static void spiffe_bundle_file(void **state)
{
    struct jose_jwk *svid = gen(JOSE_ALG_ES256, "svid-1"), *x509 = gen(JOSE_ALG_ES256, "x509-1");
    struct jose_jwk *ed = gen(JOSE_ALG_EDDSA, "ed-1"), *other = gen(JOSE_ALG_ES256, "svid-1");
    json_t *keys =
        json_pack("[ooo]", pub(svid, "jwt-svid"), pub(x509, "x509-svid"), pub(ed, "jwt-svid"));
    char *bundle = dump_set(keys, "{sisi}", "spiffe_refresh_hint", 60, "spiffe_sequence", 7);
    char *path = write_tmp("corp.bundle", bundle);
    struct jose_trust_issuer c = {
        .kind = JOSE_TRUST_SPIFFE, .name = "corp.example", .jwks_file = path, .audiences = AUD};
    struct jose_trust_store *ts = NULL;
    struct jose_identity *id = NULL;
    struct err e;
    char *t;
    int64_t n = now_s;

    (void)state;
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 0, &e), ERR_CONFLICT);

    /* A good JWT-SVID: identity normalised. */
    t = mint(svid, "JWT", "{sssssI}", "sub", "spiffe://corp.example/agents/refund-bot", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, &id, &e), 0);
    assert_int_equal(id->kind, JOSE_TRUST_SPIFFE);
    assert_string_equal(id->issuer, "corp.example");
    assert_string_equal(id->subject, "spiffe://corp.example/agents/refund-bot");
    assert_string_equal(id->audience, "https://mandate.example");
    assert_string_equal(id->kid, "svid-1");
    assert_string_equal(id->alg, "ES256");
    assert_int_equal(id->exp, n + 300);
    assert_non_null(json_object_get(id->claims, "sub"));
    jose_identity_free(id);
    free(t);

    /* aud as an array holding ours; typ JOSE; no typ: accepted. */
    t = mint(svid, "JOSE", "{ss s[ss] sI}", "sub", "spiffe://corp.example/a", "aud", "x",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    free(t);

    /* typ other than JWT/JOSE refused. */
    t = mint(svid, "at+jwt", "{sssssI}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* Signed by the bundle's x509-svid key: not a JWT-SVID key. */
    t = mint(x509, "JWT", "{sssssI}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* EdDSA is not a JWT-SVID algorithm, even with a jwt-svid key. */
    t = mint(ed, "JWT", "{sssssI}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* Same kid, another key: signature refused. */
    t = mint(other, "JWT", "{sssssI}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* Missing aud, missing exp, wrong aud, expired, sub without a path,
     * sub in another trust domain, sub not a SPIFFE ID. */
    t = mint(svid, NULL, "{sssI}", "sub", "spiffe://corp.example/a", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);
    t = mint(svid, NULL, "{ssss}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example");
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);
    t = mint(svid, NULL, "{sssssI}", "sub", "spiffe://corp.example/a", "aud", "https://other",
             "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    assert_non_null(strstr(e.msg, "aud"));
    free(t);
    t = mint(svid, NULL, "{sssssI}", "sub", "spiffe://corp.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n - 3600));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    assert_non_null(strstr(e.msg, "expired"));
    free(t);
    t = mint(svid, NULL, "{sssssI}", "sub", "spiffe://corp.example", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);
    t = mint(svid, NULL, "{sssssI}", "sub", "spiffe://evil.example/a", "aud",
             "https://mandate.example", "exp", (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    assert_non_null(strstr(e.msg, "untrusted issuer"));
    free(t);
    t = mint(svid, NULL, "{sssssI}", "sub", "refund-bot", "aud", "https://mandate.example", "exp",
             (json_int_t)(n + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* Garbage and oversized input. */
    assert_int_equal(verify(ts, "a.b", NULL, &e), ERR_AUTH);
    assert_int_equal(verify(ts, "", NULL, &e), ERR_AUTH);
    {
        size_t big = 20000;
        char *huge = malloc(big + 1);

        memset(huge, 'a', big);
        huge[big] = '\0';
        huge[10] = '.';
        huge[20] = '.';
        assert_int_equal(verify(ts, huge, NULL, &e), ERR_LIMIT);
        free(huge);
    }

    jose_trust_store_free(ts);
    jose_jwk_free(svid);
    jose_jwk_free(x509);
    jose_jwk_free(ed);
    jose_jwk_free(other);
    free(bundle);
    free(path);
}

/* Two trust domains: a key of one never verifies the other's SVIDs, and a
 * bundle whose spiffe_sequence goes back is refused (stale keys kept). */
static void spiffe_domains_and_sequence(void **state)
{
    struct jose_jwk *a = gen(JOSE_ALG_ES256, "a1"), *b = gen(JOSE_ALG_PS256, "b1");
    char *ba = dump_set(json_pack("[o]", pub(a, "jwt-svid")), "{si}", "spiffe_sequence", 5);
    char *bb = dump_set(json_pack("[o]", pub(b, "jwt-svid")), NULL);
    char *pa = write_tmp("a.bundle", ba), *pb = write_tmp("b.bundle", bb);
    struct jose_trust_issuer ca = {.kind = JOSE_TRUST_SPIFFE,
                                   .name = "a.example",
                                   .jwks_file = pa,
                                   .audiences = AUD,
                                   .refresh_s = 10,
                                   .min_refresh_s = 1,
                                   .stale_s = 100};
    struct jose_trust_issuer cb = {
        .kind = JOSE_TRUST_SPIFFE, .name = "b.example", .jwks_file = pb, .audiences = AUD};
    struct jose_trust_store *ts = NULL;
    struct jose_trust_stats st;
    struct err e;
    char *t, *old;
    int64_t saved = now_s;

    (void)state;
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &ca, 1, &e), 0);
    assert_int_equal(jose_trust_add(ts, &cb, 1, &e), 0);
    t = mint(b, NULL, "{sssssI}", "sub", "spiffe://b.example/w", "aud", "https://mandate.example",
             "exp", (json_int_t)(now_s + 300));
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    free(t);
    /* a's key claiming a b.example subject. */
    t = mint(a, NULL, "{sssssI}", "sub", "spiffe://b.example/w", "aud", "https://mandate.example",
             "exp", (json_int_t)(now_s + 300));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);

    /* Roll the a bundle back to sequence 4: refused, stale keys served. */
    old = dump_set(json_pack("[o]", pub(b, "jwt-svid")), "{si}", "spiffe_sequence", 4);
    free(write_tmp("a.bundle", old));
    now_s += 20;
    t = mint(a, NULL, "{sssssI}", "sub", "spiffe://a.example/w", "aud", "https://mandate.example",
             "exp", (json_int_t)(now_s + 300));
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    assert_int_equal(jose_trust_stats(ts, "a.example", &st), 0);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.fetch_failures, 1);
    assert_int_equal(st.stale_served, 1);
    free(t);

    /* Elements without use, of unknown use, or jwt-svid without kid are
     * ignored; the good key in the same bundle still works. */
    {
        json_t *nouse = pub(b, NULL), *nokid = pub(b, "jwt-svid");
        char *bn, *pn;
        struct jose_trust_issuer cn = {
            .kind = JOSE_TRUST_SPIFFE, .name = "n.example", .audiences = AUD};

        json_object_del(nokid, "kid");
        bn = dump_set(json_pack("[ooo o]", nouse, nokid, pub(b, "future-use"), pub(a, "jwt-svid")),
                      NULL);
        pn = write_tmp("n.bundle", bn);
        cn.jwks_file = pn;
        assert_int_equal(jose_trust_add(ts, &cn, 1, &e), 0);
        t = mint(a, NULL, "{sssssI}", "sub", "spiffe://n.example/w", "aud",
                 "https://mandate.example", "exp", (json_int_t)(now_s + 300));
        assert_int_equal(verify(ts, t, NULL, &e), 0);
        free(t);
        t = mint(b, NULL, "{sssssI}", "sub", "spiffe://n.example/w", "aud",
                 "https://mandate.example", "exp", (json_int_t)(now_s + 300));
        assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
        free(t);
        free(bn);
        free(pn);
    }

    /* A huge spiffe_refresh_hint is clamped (no overflow, no keys forever). */
    {
        char *bh = dump_set(json_pack("[o]", pub(a, "jwt-svid")), "{sI}", "spiffe_refresh_hint",
                            (json_int_t)9223372036854775000LL);
        char *ph = write_tmp("h.bundle", bh);
        struct jose_trust_issuer ch = {
            .kind = JOSE_TRUST_SPIFFE, .name = "h.example", .jwks_file = ph, .audiences = AUD};

        assert_int_equal(jose_trust_add(ts, &ch, 1, &e), 0);
        now_s += 400 * 24 * 3600;
        t = mint(a, NULL, "{sssssI}", "sub", "spiffe://h.example/w", "aud",
                 "https://mandate.example", "exp", (json_int_t)(now_s + 300));
        assert_int_equal(verify(ts, t, NULL, &e), 0);
        assert_int_equal(jose_trust_stats(ts, "h.example", &st), 0);
        assert_int_equal(st.fetches, 2); /* refreshed within the clamp */
        free(t);
        free(bh);
        free(ph);
    }

    /* Bad configurations. */
    {
        struct jose_trust_issuer bad = ca;

        bad.name = "Not A Domain";
        assert_int_equal(jose_trust_add(ts, &bad, 0, &e), ERR_INVALID);
        bad = ca;
        bad.name = "c.example";
        bad.algs = "EdDSA";
        assert_int_equal(jose_trust_add(ts, &bad, 0, &e), ERR_INVALID);
        bad = ca;
        bad.name = "c.example";
        bad.audiences = NULL;
        assert_int_equal(jose_trust_add(ts, &bad, 0, &e), ERR_INVALID);
        bad = ca;
        bad.name = "c.example";
        bad.jwks_uri = "https://x";
        assert_int_equal(jose_trust_add(ts, &bad, 0, &e), ERR_INVALID);
        assert_int_equal(jose_trust_stats(ts, "c.example", &st), ERR_NOTFOUND);
    }
    now_s = saved;
    jose_trust_store_free(ts);
    jose_jwk_free(a);
    jose_jwk_free(b);
    free(ba);
    free(bb);
    free(old);
    free(pa);
    free(pb);
}

/* ---- OIDC over HTTP ----------------------------------------------------- */

static char *oidc_jwks(struct jose_jwk *k1, struct jose_jwk *k2)
{
    json_t *keys = json_array();

    if (k1 != NULL) {
        json_array_append_new(keys, pub(k1, NULL));
    }
    if (k2 != NULL) {
        json_array_append_new(keys, pub(k2, NULL));
    }
    return dump_set(keys, NULL);
}

static char *id_token(struct jose_jwk *k, const char *iss)
{
    return mint(k, "JWT", "{sssssssIsI}", "iss", iss, "sub", "user-42", "aud",
                "https://mandate.example", "exp", (json_int_t)(now_s + 600), "iat",
                (json_int_t)now_s);
}

static void oidc_fetch_refresh_stale(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_RS256, "k1"), *k2 = gen(JOSE_ALG_EDDSA, "k2");
    char url[128], *body = oidc_jwks(k1, NULL), *t1, *t2, *t9;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://idp.example",
                                  .jwks_uri = url,
                                  .audiences = AUD,
                                  .refresh_s = 10,
                                  .stale_s = 20,
                                  .min_refresh_s = 2,
                                  .fetch = {.allow_http = 1}};
    struct jose_trust_store *ts = NULL;
    struct jose_trust_stats st;
    struct jose_identity *id = NULL;
    struct jose_jwk *k9 = gen(JOSE_ALG_ES256, "k9");
    struct err e;
    int64_t t0 = now_s, before;
    int i;

    (void)state;
    snprintf(url, sizeof url, "%s/jwks", srv.base);
    srv_set(200, body, 0);
    before = srv_requests();
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 0, &e), 0);
    assert_int_equal(srv_requests(), before); /* lazy */

    t1 = id_token(k1, "https://idp.example");
    assert_int_equal(verify(ts, t1, &id, &e), 0);
    assert_int_equal(id->kind, JOSE_TRUST_OIDC);
    assert_string_equal(id->issuer, "https://idp.example");
    assert_string_equal(id->subject, "user-42");
    jose_identity_free(id);
    assert_int_equal(srv_requests(), before + 1);
    assert_int_equal(verify(ts, t1, NULL, &e), 0);
    assert_int_equal(srv_requests(), before + 1); /* cached */

    /* The IdP rotates to k2.  A k2 token 1 s later: unknown kid, but the
     * last fetch was under min_refresh_s ago: no fetch, refused. */
    free(body);
    body = oidc_jwks(k2, NULL);
    srv_set(200, body, 0);
    now_s = t0 + 1;
    t2 = id_token(k2, "https://idp.example");
    assert_int_equal(verify(ts, t2, NULL, &e), ERR_AUTH);
    assert_int_equal(srv_requests(), before + 1);
    /* 2 s after the fetch: the unknown kid triggers one refresh. */
    now_s = t0 + 2;
    assert_int_equal(verify(ts, t2, NULL, &e), 0);
    assert_int_equal(srv_requests(), before + 2);
    assert_int_equal(jose_trust_stats(ts, "https://idp.example", &st), 0);
    assert_int_equal(st.kid_refreshes, 1);
    /* k1 is gone from the set now. */
    assert_int_equal(verify(ts, t1, NULL, &e), ERR_AUTH);

    /* A flood of tokens with an unknown kid: at most one fetch per 2 s. */
    t9 = id_token(k9, "https://idp.example");
    for (i = 0; i < 50; i++) {
        now_s = t0 + 2 + i / 10; /* 5 s of traffic */
        assert_int_equal(verify(ts, t9, NULL, &e), ERR_AUTH);
    }
    assert_true(srv_requests() <= before + 2 + 3);

    /* The IdP fails: past the refresh time the stale keys are served... */
    srv_set(500, NULL, 0);
    now_s = t0 + 17; /* keys were loaded at t0 + 2..6 */
    assert_int_equal(verify(ts, t2, NULL, &e), 0);
    assert_int_equal(jose_trust_stats(ts, "https://idp.example", &st), 0);
    assert_true(st.stale_served >= 1);
    assert_true(st.fetch_failures >= 1);
    /* ...until refresh + stale has passed: then it fails closed. */
    now_s = t0 + 40;
    free(t2);
    t2 = id_token(k2, "https://idp.example");
    assert_int_equal(verify(ts, t2, NULL, &e), ERR_UNAVAILABLE);
    assert_non_null(strstr(e.msg, "stale"));
    /* The IdP is back: keys again. */
    srv_set(200, NULL, 0);
    now_s = t0 + 43;
    assert_int_equal(verify(ts, t2, NULL, &e), 0);

    now_s = t0;
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    jose_jwk_free(k2);
    jose_jwk_free(k9);
    free(body);
    free(t1);
    free(t2);
    free(t9);
}

/* A store rebuilt for an unrelated change (the registry's way) while the IdP
 * is down: with the old store's keys adopted it answers without a fetch;
 * without them (or for an issuer whose source changed) it cannot. */
static void adopt_keys_on_rebuild(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_ES256, "k1");
    char url[128], url2[160], *body = oidc_jwks(k1, NULL), *t1;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://idp2.example",
                                  .jwks_uri = url,
                                  .audiences = AUD,
                                  .refresh_s = 10,
                                  .min_refresh_s = 2,
                                  .fetch = {.allow_http = 1}};
    struct jose_trust_store *old = NULL, *fresh = NULL, *changed = NULL, *bare = NULL;
    struct err e;
    int64_t t0 = now_s;
    int before;

    (void)state;
    snprintf(url, sizeof url, "%s/jwks", srv.base);
    snprintf(url2, sizeof url2, "%s/jwks?v=2", srv.base);
    srv_set(200, body, 0);
    t1 = id_token(k1, "https://idp2.example");
    assert_int_equal(jose_trust_store_new(&old, &e), 0);
    assert_int_equal(jose_trust_add(old, &c, 0, &e), 0);
    assert_int_equal(verify(old, t1, NULL, &e), 0); /* loads the keys */

    srv_set(500, NULL, 0); /* the IdP fails from now on */
    before = srv_requests();
    now_s = t0 + 1;
    assert_int_equal(jose_trust_store_new(&fresh, &e), 0);
    assert_int_equal(jose_trust_add(fresh, &c, 0, &e), 0);
    assert_int_equal(jose_trust_store_new(&bare, &e), 0);
    assert_int_equal(jose_trust_add(bare, &c, 0, &e), 0);
    c.jwks_uri = url2; /* another source: its keys are not the old ones */
    assert_int_equal(jose_trust_store_new(&changed, &e), 0);
    assert_int_equal(jose_trust_add(changed, &c, 0, &e), 0);
    assert_int_equal(jose_trust_adopt_keys(fresh, old), 1);
    assert_int_equal(jose_trust_adopt_keys(changed, old), 0);
    assert_int_equal(jose_trust_adopt_keys(fresh, old), 0); /* has keys now */
    /* The old store goes away while the new one uses what it adopted. */
    jose_trust_store_free(old);
    assert_int_equal(verify(fresh, t1, NULL, &e), 0);
    assert_int_equal(srv_requests(), before); /* no fetch */
    assert_int_equal(verify(bare, t1, NULL, &e), ERR_UNAVAILABLE);
    assert_int_equal(verify(changed, t1, NULL, &e), ERR_UNAVAILABLE);
    /* Adopted keys keep their load time: due for refresh when the old ones
     * were, and served stale (not failed) while the IdP is down. */
    now_s = t0 + 12;
    assert_int_equal(verify(fresh, t1, NULL, &e), 0);

    srv_set(200, NULL, 0);
    now_s = t0;
    jose_trust_store_free(fresh);
    jose_trust_store_free(bare);
    jose_trust_store_free(changed);
    jose_jwk_free(k1);
    free(body);
    free(t1);
}

static void fetch_limits(void **state)
{
    char url[128];
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://idp.example",
                                  .jwks_uri = url,
                                  .audiences = AUD,
                                  .fetch = {.allow_http = 1, .total_timeout_ms = 300}};
    struct jose_trust_store *ts = NULL;
    struct jose_jwk *k1 = gen(JOSE_ALG_ES256, "k1");
    char *body = oidc_jwks(k1, NULL);
    struct err e;
    int64_t t;

    (void)state;
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);

    /* Oversized body. */
    snprintf(url, sizeof url, "%s/big", srv.base);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_LIMIT);

    /* Slow server: the total time limit cuts it. */
    snprintf(url, sizeof url, "%s/jwks", srv.base);
    srv_set(200, body, 1500);
    t = clock_mono_ns();
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_UNAVAILABLE);
    assert_true(clock_mono_ns() - t < 1200000000LL);
    srv_set(200, body, 0);

    /* Plain http refused unless allowed; other schemes always. */
    c.fetch.allow_http = 0;
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);
    assert_non_null(strstr(e.msg, "https"));
    c.jwks_uri = "file:///etc/passwd";
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);
    c.jwks_uri = url;
    c.fetch.allow_http = 1;

    /* Redirects are not followed; error statuses fail. */
    snprintf(url, sizeof url, "%s/redirect", srv.base);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_UNAVAILABLE);
    snprintf(url, sizeof url, "%s/nothing", srv.base);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_UNAVAILABLE);

    /* Not JSON, duplicate keys. */
    snprintf(url, sizeof url, "%s/jwks", srv.base);
    srv_set(200, "{\"keys\":[],\"keys\":[]}", 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);
    srv_set(200, "<html>", 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);

    /* Finally a good one. */
    srv_set(200, body, 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), 0);
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    free(body);
}

static void inline_jwks(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_PS256, "in1");
    char *body = oidc_jwks(k1, NULL), *t;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://inline.example",
                                  .jwks_json = body,
                                  .audiences = AUD};
    struct jose_trust_store *ts = NULL;
    struct jose_trust_stats st;
    struct err e;
    int64_t t0 = now_s;

    (void)state;
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 0, &e), 0);
    t = id_token(k1, "https://inline.example");
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    free(t);
    now_s += 30 * 24 * 3600; /* inline keys need no refresh */
    t = id_token(k1, "https://inline.example");
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    assert_int_equal(jose_trust_stats(ts, "https://inline.example", &st), 0);
    assert_int_equal(st.fetches, 1);
    assert_int_equal(st.stale_served, 0);
    free(t);
    /* Two sources at once: refused. */
    c.name = "https://two.example";
    c.jwks_file = "/dev/null";
    assert_int_equal(jose_trust_add(ts, &c, 0, &e), ERR_INVALID);
    /* A broken inline JWKS fails at load. */
    c.jwks_file = NULL;
    c.jwks_json = "{\"keys\":";
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);
    now_s = t0;
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    free(body);
}

static void https_fetch(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_ES256, "tls1");
    char url[128], *body = oidc_jwks(k1, NULL), *t;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://idp.example",
                                  .jwks_uri = url,
                                  .audiences = AUD,
                                  .fetch = {.ca_file = tls.ca_file}};
    struct jose_trust_store *ts = NULL;
    struct err e;

    (void)state;
    if (tls.d == NULL) {
        skip();
    }
    snprintf(url, sizeof url, "%s/jwks", tls.base);
    srv_set(200, body, 0);
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    /* Our self-signed certificate is not in the system trust store. */
    c.fetch.ca_file = NULL;
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_UNAVAILABLE);
    /* With it as the CA file: https works, no allow_http needed. */
    c.fetch.ca_file = tls.ca_file;
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), 0);
    t = id_token(k1, "https://idp.example");
    assert_int_equal(verify(ts, t, NULL, &e), 0);
    free(t);
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    free(body);
}

static void oidc_discovery(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_ES384, "d1");
    char *body = oidc_jwks(k1, NULL), disc[256], *t;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = srv.base,
                                  .discovery = 1,
                                  .audiences = AUD,
                                  .fetch = {.allow_http = 1}};
    struct jose_trust_store *ts = NULL;
    struct jose_identity *id = NULL;
    struct err e;

    (void)state;
    srv_set(200, body, 0);
    snprintf(disc, sizeof disc, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s/jwks\"}", srv.base, srv.base);
    pthread_mutex_lock(&srv.mu);
    srv.discovery = strdup(disc);
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), 0);
    t = id_token(k1, srv.base);
    assert_int_equal(verify(ts, t, &id, &e), 0);
    assert_string_equal(id->alg, "ES384");
    jose_identity_free(id);
    free(t);
    /* A token from another issuer that happens to use our key. */
    t = id_token(k1, "https://other.example");
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);
    /* Missing iat in an ID token. */
    t = mint(k1, NULL, "{sssssssI}", "iss", srv.base, "sub", "u", "aud", "https://mandate.example",
             "exp", (json_int_t)(now_s + 60));
    assert_int_equal(verify(ts, t, NULL, &e), ERR_AUTH);
    free(t);
    jose_trust_store_free(ts);

    /* Discovery document naming another issuer: refused. */
    pthread_mutex_lock(&srv.mu);
    free(srv.discovery);
    srv.discovery = strdup("{\"issuer\":\"https://evil.example\",\"jwks_uri\":\"https://x\"}");
    pthread_mutex_unlock(&srv.mu);
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 1, &e), ERR_INVALID);
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    free(body);
}

/* Concurrent verifications from a cold start (all threads wait for the first
 * fetch) and while keys refresh every second (run under ASan/TSan). */
struct worker {
    struct jose_trust_store *ts;
    const char *tok;
    int ok, total;
};

static void *work(void *p)
{
    struct worker *w = p;
    int64_t end = clock_mono_ns() + 1300000000LL; /* spans at least one refresh */
    struct err e;

    while (clock_mono_ns() < end) {
        w->ok += verify(w->ts, w->tok, NULL, &e) == 0;
        w->total++;
    }
    return NULL;
}

static void concurrent_verify(void **state)
{
    struct jose_jwk *k1 = gen(JOSE_ALG_ES256, "c1");
    char url[128], *body = oidc_jwks(k1, NULL), *t;
    struct jose_trust_issuer c = {.kind = JOSE_TRUST_OIDC,
                                  .name = "https://idp.example",
                                  .jwks_uri = url,
                                  .audiences = AUD,
                                  .refresh_s = 1,
                                  .min_refresh_s = 1,
                                  .fetch = {.allow_http = 1}};
    struct jose_trust_store *ts = NULL;
    struct worker w[4];
    pthread_t th[4];
    struct err e;
    int i, before;

    (void)state;
    clock_set_wall(NULL); /* real time: refreshes happen while threads verify */
    snprintf(url, sizeof url, "%s/jwks", srv.base);
    srv_set(200, body, 100); /* each fetch takes 100 ms */
    before = srv_requests();
    assert_int_equal(jose_trust_store_new(&ts, &e), 0);
    assert_int_equal(jose_trust_add(ts, &c, 0, &e), 0); /* lazy: threads race to load */
    t = mint(k1, NULL, "{sssssssIsI}", "iss", "https://idp.example", "sub", "u", "aud",
             "https://mandate.example", "exp", (json_int_t)(clock_wall_s() + 600), "iat",
             (json_int_t)clock_wall_s());
    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){ts, t, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_true(w[i].total > 0);
        assert_int_equal(w[i].ok, w[i].total);
    }
    /* One load, then about one refresh a second: never one per thread. */
    assert_true(srv_requests() - before >= 1); /* a refresh may not fall due on a loaded machine */
    assert_true(srv_requests() - before <= 4);
    srv_set(200, NULL, 0);
    clock_set_wall(fake_wall);
    jose_trust_store_free(ts);
    jose_jwk_free(k1);
    free(body);
    free(t);
}

/* ---- keyring ------------------------------------------------------------ */

static const char KEK1[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
static const char KEK2[] = "HxAREhMUFRYXGBkaGxwdHh8AAQIDBAUGBwgJCgsMDQ4";

static struct jose_kek *kek(const char *text)
{
    struct jose_kek *k = NULL;
    struct err e;

    assert_int_equal(jose_kek_from_text(text, strlen(text), &k, &e), 0);
    return k;
}

static void kek_loading(void **state)
{
    struct jose_kek *k = NULL;
    struct err e;
    char *path;
    char line[64];

    (void)state;
    snprintf(line, sizeof line, "  %s\n", KEK1);
    assert_int_equal(jose_kek_from_text(line, strlen(line), &k, &e), 0);
    jose_kek_free(k);
    assert_int_equal(jose_kek_from_text("AAEC", 4, &k, &e), ERR_INVALID);
    assert_null(k);
    assert_int_equal(jose_kek_from_text(KEK1, 42, &k, &e), ERR_INVALID);
    assert_int_equal(jose_kek_from_text("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", 44, &k, &e),
                     ERR_INVALID);
    path = write_tmp("kek", line);
    assert_int_equal(jose_kek_from_file(path, &k, &e), 0);
    jose_kek_free(k);
    free(path);
    assert_int_equal(jose_kek_from_file("/nonexistent/kek", &k, &e), ERR_IO);
    setenv("MANDATE_TEST_KEK", KEK2, 1);
    assert_int_equal(jose_kek_from_env("MANDATE_TEST_KEK", &k, &e), 0);
    jose_kek_free(k);
    unsetenv("MANDATE_TEST_KEK");
    assert_int_equal(jose_kek_from_env("MANDATE_TEST_KEK", &k, &e), ERR_NOTFOUND);
    jose_kek_free(NULL);
}

static struct jose_verifier *verifier_of(struct jose_keyring *kr)
{
    char *text = NULL;
    struct jose_jwks *set = NULL;
    struct jose_verifier *v = NULL;
    struct err e;

    assert_int_equal(jose_keyring_jwks(kr, &text, &e), 0);
    assert_null(strstr(text, "\"d\""));
    assert_int_equal(jose_jwks_parse(text, strlen(text), 0, &set, &e), 0);
    assert_int_equal(jose_verifier_new(set, 0, &v, &e), 0);
    jose_jwks_free(set);
    free(text);
    return v;
}

/* Signing with an empty keyring fails: nothing is current yet. */
static void sign_fails(struct jose_keyring *kr)
{
    json_t *claims = json_object();
    char *out = NULL;
    struct err e;

    assert_int_equal(jose_keyring_sign(kr, claims, NULL, &out, &e), ERR_UNAVAILABLE);
    assert_null(out);
    json_decref(claims);
}

static char *kr_sign(struct jose_keyring *kr)
{
    /* Long enough to outlive a rotation in these tests. */
    json_t *claims = json_pack("{sssI}", "sub", "agent", "exp", (json_int_t)(now_s + 7200));
    char *out = NULL;
    struct err e;

    assert_int_equal(jose_keyring_sign(kr, claims, NULL, &out, &e), 0);
    json_decref(claims);
    return out;
}

static int kr_verify(struct jose_keyring *kr, const char *tok)
{
    struct jose_verifier *v = verifier_of(kr);
    struct err e;
    int r = jose_jwt_verify(v, tok, strlen(tok), NULL, NULL, NULL, NULL, &e);

    jose_verifier_free(v);
    return r;
}

static void keyring_rotation(void **state)
{
    struct jose_kek *k = kek(KEK1);
    struct jose_keyring_conf conf = {.rotate_after_s = 3600, .retain_s = 600};
    struct jose_keyring *kr = NULL;
    char *env1 = NULL, *env2 = NULL, *t1, *t2, **kids = NULL;
    size_t n = 0, i;
    struct err e;
    int64_t t0 = now_s;

    (void)state;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), 0);
    sign_fails(kr);
    assert_int_equal(jose_keyring_maintain(kr, &env1, &e), 1);
    assert_non_null(env1);
    t1 = kr_sign(kr);
    assert_int_equal(kr_verify(kr, t1), 0);

    /* Not due yet. */
    now_s = t0 + 3599;
    assert_int_equal(jose_keyring_maintain(kr, &env2, &e), 0);
    assert_null(env2);
    /* Due: a new key; both are published, the new one first. */
    now_s = t0 + 3600;
    assert_int_equal(jose_keyring_maintain(kr, &env2, &e), 1);
    assert_int_equal(jose_keyring_kids(kr, &kids, &n, &e), 0);
    assert_int_equal(n, 2);
    assert_string_not_equal(kids[0], kids[1]);
    t2 = kr_sign(kr);
    assert_non_null(strstr(env2, kids[0]));
    assert_non_null(strstr(env1, kids[1]));
    for (i = 0; i < n; i++) {
        free(kids[i]);
    }
    free(kids);
    /* Tokens signed before the rotation still verify. */
    assert_int_equal(kr_verify(kr, t1), 0);
    assert_int_equal(kr_verify(kr, t2), 0);
    /* After the retention the old key leaves the JWKS. */
    now_s = t0 + 3600 + 600;
    free(env2);
    assert_int_equal(jose_keyring_maintain(kr, &env2, &e), 0);
    assert_null(env2);
    assert_int_equal(jose_keyring_kids(kr, &kids, &n, &e), 0);
    assert_int_equal(n, 1);
    free(kids[0]);
    free(kids);
    now_s = t0;
    free(t1);
    free(t2);
    free(env1);
    free(env2);
    jose_keyring_free(kr);
    jose_kek_free(k);
}

/* Flips one base64url character of member name in the envelope (json). */
static char *tamper(const char *env, const char *name, int pos)
{
    json_t *j = json_loads(env, 0, NULL);
    char *s = strdup(json_string_value(json_object_get(j, name))), *out;

    s[pos] = s[pos] == 'A' ? 'B' : 'A';
    json_object_set_new(j, name, json_string(s));
    out = json_dumps(j, JSON_COMPACT);
    free(s);
    json_decref(j);
    return out;
}

static char *replace_member(const char *env, const char *name, json_t *v)
{
    json_t *j = json_loads(env, 0, NULL);
    char *out;

    json_object_set_new(j, name, v);
    out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

static void keyring_at_rest(void **state)
{
    struct jose_kek *k1 = kek(KEK1), *k2 = kek(KEK2);
    struct jose_keyring_conf conf = {.alg = JOSE_ALG_EDDSA};
    struct jose_keyring *kr = NULL, *kr2 = NULL;
    char *env = NULL, *bad, *t;
    json_t *j;
    struct err e;

    (void)state;
    assert_int_equal(jose_keyring_new(&conf, k1, &kr, &e), 0);
    assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
    /* The envelope: documented members only, no key material in clear. */
    j = json_loads(env, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 8);
    assert_string_equal(json_string_value(json_object_get(j, "alg")), "EdDSA");
    assert_string_equal(json_string_value(json_object_get(j, "enc")), "A256GCM");
    assert_null(json_object_get(j, "d"));
    assert_null(strstr(env, "OKP"));
    json_decref(j);

    /* Reload with the right KEK: same key (a token verifies across). */
    assert_int_equal(jose_keyring_new(&conf, k1, &kr2, &e), 0);
    assert_int_equal(jose_keyring_load(kr2, env, strlen(env), &e), 0);
    assert_int_equal(jose_keyring_load(kr2, env, strlen(env), &e), ERR_CONFLICT);
    t = kr_sign(kr2);
    assert_int_equal(kr_verify(kr, t), 0);
    free(t);
    jose_keyring_free(kr2);

    /* Wrong KEK. */
    assert_int_equal(jose_keyring_new(&conf, k2, &kr2, &e), 0);
    assert_int_equal(jose_keyring_load(kr2, env, strlen(env), &e), ERR_AUTH);
    jose_keyring_free(kr2);

    assert_int_equal(jose_keyring_new(&conf, k1, &kr2, &e), 0);
    /* Tampered ciphertext, tag, nonce. */
    bad = tamper(env, "ciphertext", 5);
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    bad = tamper(env, "tag", 3);
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    bad = tamper(env, "nonce", 2);
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    /* AAD: kid, alg, created relabelled. */
    bad = replace_member(env, "kid", json_string("another-kid"));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    bad = replace_member(env, "alg", json_string("ES256"));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    bad = replace_member(env, "created", json_integer(12345));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_AUTH);
    free(bad);
    /* Malformed envelopes. */
    bad = replace_member(env, "v", json_integer(2));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_INVALID);
    free(bad);
    bad = replace_member(env, "enc", json_string("A128GCM"));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_INVALID);
    free(bad);
    bad = replace_member(env, "tag", json_string("AAAA"));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_INVALID);
    free(bad);
    bad = replace_member(env, "ciphertext", json_string("A+/="));
    assert_int_equal(jose_keyring_load(kr2, bad, strlen(bad), &e), ERR_INVALID);
    free(bad);
    assert_int_equal(jose_keyring_load(kr2, "[]", 2, &e), ERR_INVALID);
    assert_int_equal(jose_keyring_load(kr2, "{\"v\":1,\"v\":1}", 13, &e), ERR_INVALID);
    sign_fails(kr2);
    jose_keyring_free(kr2);

    free(env);
    jose_keyring_free(kr);
    jose_kek_free(k1);
    jose_kek_free(k2);
    jose_keyring_free(NULL);
}

/* Signing from threads while the keyring rotates past its capacity. */
struct signer {
    struct jose_keyring *kr;
    atomic_int *stop;
    int ok, total;
};

static void *sign_loop(void *p)
{
    struct signer *s = p;
    json_t *claims = json_pack("{ss}", "sub", "agent");
    struct err e;
    char *tok;

    while (!atomic_load(s->stop)) {
        if (jose_keyring_sign(s->kr, claims, NULL, &tok, &e) == 0) {
            s->ok++;
            free(tok);
        }
        s->total++;
    }
    json_decref(claims);
    return NULL;
}

static void keyring_concurrent(void **state)
{
    struct jose_kek *k = kek(KEK1);
    struct jose_keyring_conf conf = {.alg = JOSE_ALG_EDDSA};
    struct jose_keyring *kr = NULL;
    struct signer s[2];
    pthread_t th[2];
    atomic_int stop = 0;
    char *env, **kids;
    size_t n, i;
    struct err e;

    (void)state;
    assert_int_equal(jose_keyring_new(&conf, k, &kr, &e), 0);
    assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
    free(env);
    for (i = 0; i < 2; i++) {
        s[i] = (struct signer){kr, &stop, 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, sign_loop, &s[i]), 0);
    }
    for (i = 0; i < 40; i++) { /* more than LIMIT_JOSE_KEYRING_KEYS */
        assert_int_equal(jose_keyring_rotate(kr, &env, &e), 0);
        free(env);
    }
    atomic_store(&stop, 1);
    for (i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(s[i].ok, s[i].total);
    }
    assert_int_equal(jose_keyring_kids(kr, &kids, &n, &e), 0);
    assert_true(n <= 16);
    for (i = 0; i < n; i++) {
        free(kids[i]);
    }
    free(kids);
    jose_keyring_free(kr);
    jose_kek_free(k);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_jose_trust.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    clock_set_wall(fake_wall);
    log_setup(LOG_ERROR, 2); /* refresh failures are expected here */
    srv_start();
    tls_start();
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    MHD_stop_daemon(srv.d);
    if (tls.d != NULL) {
        MHD_stop_daemon(tls.d);
    }
    free(tls.cert_pem);
    free(tls.key_pem);
    free(srv.jwks);
    free(srv.discovery);
    clock_set_wall(NULL);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return 1;
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spiffe_bundle_file),
        cmocka_unit_test(spiffe_domains_and_sequence),
        cmocka_unit_test(oidc_fetch_refresh_stale),
        cmocka_unit_test(adopt_keys_on_rebuild),
        cmocka_unit_test(fetch_limits),
        cmocka_unit_test(inline_jwks),
        cmocka_unit_test(https_fetch),
        cmocka_unit_test(oidc_discovery),
        cmocka_unit_test(concurrent_verify),
        cmocka_unit_test(kek_loading),
        cmocka_unit_test(keyring_rotation),
        cmocka_unit_test(keyring_at_rest),
        cmocka_unit_test(keyring_concurrent),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
