/*
 * fetch.c: the one place jose talks to the network: GET a JWKS or an OIDC
 * discovery document with libcurl, bounded in size and time.
 *
 * The trust store (trust.c) calls this when an issuer's keys are due for a
 * refresh.  Everything here fails closed: plain http is refused unless the
 * configuration allows it (tests on 127.0.0.1), redirects are not followed
 * (a redirect could move us to http or to another host), a body past the cap
 * aborts the transfer, a slow server hits the total time limit.
 */
#include <string.h>

#include <curl/curl.h>
#include <pthread.h>

#include "jose/jose_trust.h"
#include "jose/trust_int.h"
#include "util/limits.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_init_rc;

static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

struct sink {
    struct buf *out;
    int too_big;
    int nomem;
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct sink *s = ud;
    size_t len = size * n; /* curl guarantees size == 1 */
    int r = buf_append(s->out, p, len);

    if (r == ERR_LIMIT) {
        s->too_big = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (r != 0) {
        s->nomem = 1;
        return 0;
    }
    return len;
}

static int check_scheme(const char *url, int allow_http, struct err *e)
{
    if (strncmp(url, "https://", 8) == 0) {
        return 0;
    }
    if (strncmp(url, "http://", 7) == 0) {
        if (allow_http) {
            return 0;
        }
        return err_set(e, ERR_INVALID, "refusing plain http URL %s (https required)", url);
    }
    return err_set(e, ERR_INVALID, "unsupported URL scheme in %s (https required)", url);
}

static long or_default(long v, long def)
{
    return v > 0 ? v : def;
}

int jose_fetch_get(const char *url, const struct jose_fetch_opts *opts, struct buf *out,
                   struct err *e)
{
    struct jose_fetch_opts none = {0};
    struct sink s = {out, 0, 0};
    CURL *c = NULL;
    CURLcode cc;
    long status = 0;
    int r;

    if (opts == NULL) {
        opts = &none;
    }
    if (url == NULL || strlen(url) > LIMIT_JOSE_URL_LEN) {
        return err_set(e, ERR_INVALID, "missing or too long URL");
    }
    r = check_scheme(url, opts->allow_http, e);
    if (r != 0) {
        return r;
    }
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != 0) {
        return err_set(e, ERR_INTERNAL, "curl_global_init failed");
    }
    c = curl_easy_init();
    if (c == NULL) {
        return err_set(e, ERR_NOMEM, "curl_easy_init failed");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, opts->allow_http ? "https,http" : "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     or_default(opts->connect_timeout_ms, LIMIT_JOSE_FETCH_CONNECT_MS));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     or_default(opts->total_timeout_ms, LIMIT_JOSE_FETCH_TOTAL_MS));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)out->max);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "mandate/" MANDATE_VERSION);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    if (opts->ca_file != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, opts->ca_file);
    }
    cc = curl_easy_perform(c);
    if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
        r = err_set(e, ERR_LIMIT, "%s: body exceeds %zu bytes", url, out->max);
        goto out;
    }
    if (s.nomem) {
        r = err_set(e, ERR_NOMEM, "%s: out of memory", url);
        goto out;
    }
    if (cc != CURLE_OK) {
        r = err_set(e, ERR_UNAVAILABLE, "%s: %s", url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        r = err_set(e, ERR_UNAVAILABLE, "%s: HTTP status %ld", url, status);
        goto out;
    }
    r = 0;
out:
    curl_easy_cleanup(c);
    return r;
}
