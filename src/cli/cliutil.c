/*
 * cliutil.c: what several sub-commands share (cli.h): reading a whole input
 * file under a cap, telling JSON input from Cedar text, printing JSON,
 * dispatching a verb's sub-commands from a table, and calling the running
 * server's API with an API key.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/wipe.h"

/* An answer of the server to a CLI verb is small (a status, a short list). */
#define CLI_API_BODY_MAX (1024 * 1024)
#define CLI_API_TIMEOUT_MS 30000L

int cli_read_file(const char *path, size_t max, char **out, size_t *lenp, struct err *e)
{
    struct buf b;
    char chunk[65536];
    size_t n;
    int r = 0;
    FILE *f;

    *out = NULL;
    *lenp = 0;
    f = fopen(path, "rb");
    if (f == NULL) {
        return err_set(e, ERR_IO, "%s: cannot open", path);
    }
    buf_init(&b, max);
    while (r == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        r = buf_append(&b, chunk, n);
    }
    if (r == 0 && ferror(f)) {
        r = ERR_IO;
    }
    fclose(f);
    if (r == 0 && b.data == NULL) {
        r = buf_append(&b, "", 0);
    }
    if (r != 0) {
        buf_free(&b);
        return err_set(e, r, "%s: cannot read", path);
    }
    *out = buf_steal(&b, lenp);
    return *out != NULL ? 0 : err_set(e, ERR_NOMEM, "out of memory");
}

int cli_looks_json(const char *t, size_t n, const char *openers)
{
    size_t i = 0;

    while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) {
        i++;
    }
    return i < n && t[i] != '\0' && strchr(openers, t[i]) != NULL;
}

int cli_print_json(const json_t *j, size_t flags)
{
    char *txt = json_dumps(j, flags | JSON_ENSURE_ASCII);

    if (txt == NULL) {
        fprintf(stderr, "out of memory\n");
        return CLI_USAGE;
    }
    printf("%s\n", txt);
    free(txt);
    return CLI_OK;
}

int cli_dispatch(const char *verb, const char *usage, const struct cli_sub *subs, size_t n,
                 int argc, char **argv)
{
    size_t i;

    if (argc < 2 || cli_wants_help(argc, argv)) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (i = 0; i < n; i++) {
        if (strcmp(argv[1], subs[i].name) == 0) {
            return subs[i].run(argc, argv);
        }
    }
    fprintf(stderr, "mandate %s: unknown sub-command '%s'\n", verb, argv[1]);
    return CLI_USAGE;
}

/* ---- the server's API ------------------------------------------------------ */

char *cli_api_key(const char *key, const char *key_file)
{
    char line[512], *k;
    size_t n;
    FILE *f;

    if (key != NULL && key_file == NULL) {
        return strdup(key);
    }
    f = fopen(key_file != NULL ? key_file : "var/admin.key", "rb");
    if (f == NULL) {
        return NULL;
    }
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL) {
        line[--n] = '\0';
    }
    k = n > 0 ? strdup(line) : NULL;
    wipe(line, sizeof(line));
    return k;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) == 0 ? size * n : 0;
}

int cli_api_call(const char *who, const char *url, const char *key, const char *method,
                 const char *path, const char *body)
{
    size_t ul = strlen(url), fl = ul + strlen(path) + 1, hl = strlen(key) + 32;
    char *full = malloc(fl), *hauth = malloc(hl);
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();
    long status = 0;
    struct buf out;
    int rc = CLI_USAGE;

    buf_init(&out, CLI_API_BODY_MAX);
    if (full == NULL || hauth == NULL || c == NULL) {
        fprintf(stderr, "%s: out of memory\n", who);
        goto out;
    }
    snprintf(full, fl, "%.*s%s", (int)(ul > 0 && url[ul - 1] == '/' ? ul - 1 : ul), url, path);
    snprintf(hauth, hl, "Authorization: Bearer %s", key);
    h = curl_slist_append(h, hauth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CLI_API_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) != CURLE_OK) {
        fprintf(stderr, "%s: cannot reach %s\n", who, full);
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    fwrite(out.data ? out.data : "", 1, out.len, status == 200 ? stdout : stderr);
    fputc('\n', status == 200 ? stdout : stderr);
    rc = status == 200 ? CLI_OK : CLI_NO;
out:
    curl_slist_free_all(h);
    if (c != NULL) {
        curl_easy_cleanup(c);
    }
    if (hauth != NULL) {
        wipe(hauth, strlen(hauth));
    }
    free(hauth);
    free(full);
    buf_free(&out);
    return rc;
}
