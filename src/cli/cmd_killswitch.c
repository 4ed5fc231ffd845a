/*
 * cmd_killswitch.c: `mandate killswitch engage|lift|status` against a
 * running server (POST/DELETE/GET /v1/killswitch) with a security or admin
 * API key.  docs/delegation.md.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "util/buf.h"
#include "util/limits.h"
#include "util/wipe.h"

/* An answer of the server is small: the status or a short list. */
#define KS_BODY_MAX (1024 * 1024)
#define KS_TIMEOUT_MS 30000L

static void usage(FILE *f)
{
    fprintf(
        f, "usage: mandate killswitch engage --scope agent|owner|team|all [--target ID]\n"
           "                                 --reason TEXT [--url URL] [--key KEY | --key-file F]\n"
           "       mandate killswitch lift --scope S [--target ID] [--url URL] [--key ...]\n"
           "       mandate killswitch status [--url URL] [--key ...]\n"
           "\nEngage revokes every live task in scope (one agent, all agents of an owner or\n"
           "of a team, or all) and refuses new tasks there until lifted.  Needs a security\n"
           "or admin API key: --key, --key-file (default var/admin.key) or MANDATE_API_KEY.\n"
           "Default --url http://127.0.0.1:8080 (or MANDATE_URL).  Prints the server's JSON.\n"
           "Exit status: 0 done, 1 the server refused, 2 usage or no server.\n");
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    return buf_append(ud, p, size * n) == 0 ? size * n : 0;
}

static char *read_key(const char *path)
{
    FILE *f = fopen(path, "rb");
    char line[512];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    while (n > 0 && strchr(" \t\r\n", line[n - 1]) != NULL) {
        line[--n] = '\0';
    }
    return n > 0 ? strdup(line) : NULL;
}

int cmd_killswitch(int argc, char **argv)
{
    const char *verb = argc > 1 ? argv[1] : NULL, *url = getenv("MANDATE_URL");
    const char *scope = NULL, *target = NULL, *reason = NULL, *key = getenv("MANDATE_API_KEY");
    const char *key_file = NULL, *method;
    char *keybuf = NULL, *body = NULL, *full = NULL, *hauth = NULL;
    struct curl_slist *h = NULL;
    struct buf out;
    CURL *c = NULL;
    long status = 0;
    json_t *j = NULL;
    int i, rc = CLI_USAGE;
    size_t ul;

    if (cli_wants_help(argc, argv)) {
        usage(stdout);
        return CLI_OK;
    }
    if (verb == NULL ||
        (strcmp(verb, "engage") != 0 && strcmp(verb, "lift") != 0 && strcmp(verb, "status") != 0)) {
        usage(stderr);
        return CLI_USAGE;
    }
    for (i = 2; i < argc; i++) {
        const char **dst = strcmp(argv[i], "--scope") == 0      ? &scope
                           : strcmp(argv[i], "--target") == 0   ? &target
                           : strcmp(argv[i], "--reason") == 0   ? &reason
                           : strcmp(argv[i], "--url") == 0      ? &url
                           : strcmp(argv[i], "--key") == 0      ? &key
                           : strcmp(argv[i], "--key-file") == 0 ? &key_file
                                                                : NULL;
        if (dst == NULL || i + 1 >= argc) {
            fprintf(stderr, "mandate killswitch: unknown or incomplete option %s\n", argv[i]);
            return CLI_USAGE;
        }
        *dst = argv[++i];
    }
    if (strcmp(verb, "status") != 0 && scope == NULL) {
        fprintf(stderr, "mandate killswitch %s: --scope is required\n", verb);
        return CLI_USAGE;
    }
    if (strcmp(verb, "engage") == 0 && reason == NULL) {
        fprintf(stderr, "mandate killswitch engage: --reason is required\n");
        return CLI_USAGE;
    }
    if (key == NULL || key_file != NULL) {
        keybuf = read_key(key_file ? key_file : "var/admin.key");
        if (keybuf == NULL) {
            fprintf(stderr, "mandate killswitch: no API key (--key, --key-file or "
                            "MANDATE_API_KEY)\n");
            return CLI_USAGE;
        }
        key = keybuf;
    }
    url = url ? url : "http://127.0.0.1:8080";
    buf_init(&out, KS_BODY_MAX);
    if (strcmp(verb, "status") != 0) {
        j = json_pack("{s:s}", "scope", scope);
        if (j != NULL && target != NULL) {
            json_object_set_new(j, "target", json_string(target));
        }
        if (j != NULL && reason != NULL && strcmp(verb, "engage") == 0) {
            json_object_set_new(j, "reason", json_string(reason));
        }
        body = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        j = NULL;
        if (body == NULL) {
            fprintf(stderr, "mandate killswitch: out of memory\n");
            goto out;
        }
    }
    method = strcmp(verb, "engage") == 0 ? "POST" : strcmp(verb, "lift") == 0 ? "DELETE" : "GET";
    ul = strlen(url);
    full = malloc(ul + 32);
    hauth = malloc(strlen(key) + 32);
    c = curl_easy_init();
    if (full == NULL || hauth == NULL || c == NULL) {
        fprintf(stderr, "mandate killswitch: out of memory\n");
        goto out;
    }
    snprintf(full, ul + 32, "%.*s/v1/killswitch", (int)(ul > 0 && url[ul - 1] == '/' ? ul - 1 : ul),
             url);
    snprintf(hauth, strlen(key) + 32, "Authorization: Bearer %s", key);
    h = curl_slist_append(h, hauth);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, KS_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) != CURLE_OK) {
        fprintf(stderr, "mandate killswitch: cannot reach %s\n", full);
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
    free(body);
    if (keybuf != NULL) {
        wipe(keybuf, strlen(keybuf));
    }
    free(keybuf);
    buf_free(&out);
    return rc;
}
