/*
 * cedar_bench.c: how fast the Cedar engine decides, parses and loads.
 *
 *   cedar_bench DIR [SCENARIO...]
 *
 * For each scenario folder DIR/<name>/ (policies.cedar, entities.json,
 * requests.jsonl, as bench/cedar-data.mjs writes them) it measures:
 *   - parse: cedar_policyset_parse() over the policy text, in MB/s;
 *   - load: entities JSON -> finished entity store (hierarchy closure
 *     included), entities/s;
 *   - decide: one cedar_authorize() per request, each timed alone, repeated
 *     until about a second has passed; median and p99 in microseconds.
 * Prints a table, then machine-readable "result ..." lines that
 * bench/cedar.sh joins with cedar-wasm's figures.  Not a test: no timings are
 * asserted.
 *
 * Entities and contexts are read schemaless with the engine's own JSON
 * readers (cedar_entities_from_json, cedar_context_from_jansson), so the load
 * rate is what `mandate policy eval` pays.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cedar/cedar.h"
#include "util/arena.h"
#include "util/err.h"

#define MAX_REQUESTS 100000
#define MIN_BENCH_NS 1000000000LL /* time each scenario's decisions for ~1 s */
#define MAX_SAMPLES 2000000

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        goto out;
    }
    p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
        goto out;
    }
    p[n] = '\0';
    *len = (size_t)n;
out:
    fclose(f);
    return p;
}

static int load_requests(const char *text, size_t len, struct arena *a, struct cedar_request *reqs,
                         size_t *n)
{
    const char *p = text, *end = text + len;
    struct err e;

    *n = 0;
    while (p < end && *n < MAX_REQUESTS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_error_t je;
        json_t *j;
        struct cedar_request *q = &reqs[*n];
        int r;

        if (ll == 0) {
            p += 1;
            continue;
        }
        j = json_loadb(p, ll, JSON_REJECT_DUPLICATES, &je);
        if (j == NULL) {
            return ERR_INVALID;
        }
        r = cedar_uid_from_jansson(json_object_get(j, "principal"), a, &q->principal, &e);
        if (r == 0) {
            r = cedar_uid_from_jansson(json_object_get(j, "action"), a, &q->action, &e);
        }
        if (r == 0) {
            r = cedar_uid_from_jansson(json_object_get(j, "resource"), a, &q->resource, &e);
        }
        if (r == 0) {
            r = cedar_context_from_jansson(json_object_get(j, "context"), NULL, NULL, a,
                                           &q->context, &e);
        }
        json_decref(j);
        if (r < 0) {
            fprintf(stderr, "request %zu: %s\n", *n + 1, e.msg);
            return r;
        }
        (*n)++;
        p += ll + 1;
    }
    return 0;
}

/* ---- measuring ---------------------------------------------------------- */

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;

    return (a > b) - (a < b);
}

struct result {
    double parse_mbps, load_eps, med_us, p99_us;
    size_t npol, nent, nreq, allows, errors;
};

/* Round 0 records each decision ('A'/'D', one line) in decisions_path so that
 * bench/cedar-wasm.mjs can check both engines agree on every request timed. */
static int decide_all(const struct cedar_policyset *ps, const struct cedar_entities *es,
                      const struct cedar_request *reqs, size_t nreq, const char *decisions_path,
                      struct result *res)
{
    FILE *df = fopen(decisions_path, "w");
    int64_t *samples = malloc(sizeof(*samples) * MAX_SAMPLES);
    int64_t start = now_ns();
    size_t ns = 0, i, round = 0;
    struct arena a;
    struct err e;
    int r = 0;

    if (samples == NULL) {
        return ERR_NOMEM;
    }
    arena_init(&a, 16384, 0);
    /* Round 0 warms caches and counts the answers; later rounds are timed. */
    while (round < 2 || (now_ns() - start < MIN_BENCH_NS && ns + nreq <= MAX_SAMPLES)) {
        for (i = 0; i < nreq; i++) {
            struct cedar_response resp;
            int64_t t0 = now_ns();

            r = cedar_authorize(ps, es, &reqs[i], &a, &resp, &e);
            int64_t t1 = now_ns();
            if (r < 0) {
                fprintf(stderr, "authorize: %s\n", e.msg);
                goto out;
            }
            if (round == 0) {
                if (df != NULL) {
                    fputc(resp.decision == CEDAR_ALLOW ? 'A' : 'D', df);
                }
                res->allows += resp.decision == CEDAR_ALLOW;
                res->errors += resp.nerrors;
            } else {
                samples[ns++] = t1 - t0;
            }
            arena_free(&a);
        }
        if (round == 0 && df != NULL) {
            fputc('\n', df);
            fclose(df);
            df = NULL;
        }
        round++;
    }
    qsort(samples, ns, sizeof(*samples), cmp_i64);
    res->med_us = (double)samples[ns / 2] / 1000.0;
    res->p99_us = (double)samples[(ns * 99) / 100] / 1000.0;
out:
    if (df != NULL) {
        fclose(df);
    }
    arena_free(&a);
    free(samples);
    return r;
}

static int run(const char *dir, const char *name, struct result *res)
{
    char path[4096];
    char *pol = NULL, *ent = NULL, *rq = NULL;
    size_t plen = 0, elen = 0, rlen = 0, nreq = 0;
    struct cedar_policyset *ps = NULL;
    struct cedar_entities *es = NULL;
    struct cedar_request *reqs = calloc(MAX_REQUESTS, sizeof(*reqs));
    struct arena ra;
    struct err e;
    int64_t t0, total;
    int iters, r = ERR_INVALID;

    arena_init(&ra, 0, 0);
    memset(res, 0, sizeof(*res));
    snprintf(path, sizeof(path), "%s/%s/policies.cedar", dir, name);
    pol = slurp(path, &plen);
    snprintf(path, sizeof(path), "%s/%s/entities.json", dir, name);
    ent = slurp(path, &elen);
    snprintf(path, sizeof(path), "%s/%s/requests.jsonl", dir, name);
    rq = slurp(path, &rlen);
    if (pol == NULL || ent == NULL || rq == NULL || reqs == NULL) {
        fprintf(stderr, "%s/%s: cannot read inputs: %s\n", dir, name, strerror(errno));
        goto out;
    }
    /* Parse speed: repeat until ~0.3 s. */
    t0 = now_ns();
    for (iters = 0; iters < 1 || now_ns() - t0 < 300000000LL; iters++) {
        cedar_policyset_put(ps);
        ps = NULL;
        if ((r = cedar_policyset_parse(pol, plen, "policies.cedar", 0, &ps, &e)) < 0) {
            fprintf(stderr, "%s: %s\n", name, e.msg);
            goto out;
        }
    }
    total = now_ns() - t0;
    res->parse_mbps = (double)plen * iters / ((double)total / 1e9) / 1e6;
    res->npol = cedar_policyset_count(ps);
    /* Entity load rate: repeat until ~0.3 s. */
    t0 = now_ns();
    for (iters = 0; iters < 1 || now_ns() - t0 < 300000000LL; iters++) {
        cedar_entities_free(es);
        es = NULL;
        if ((r = cedar_entities_from_json(ent, elen, "entities.json", NULL, &es, &e)) < 0) {
            fprintf(stderr, "%s: %s\n", name, e.msg);
            goto out;
        }
    }
    total = now_ns() - t0;
    res->nent = cedar_entities_count(es);
    res->load_eps = (double)res->nent * iters / ((double)total / 1e9);
    if ((r = load_requests(rq, rlen, &ra, reqs, &nreq)) < 0) {
        fprintf(stderr, "%s: bad requests.jsonl (%d)\n", name, r);
        goto out;
    }
    res->nreq = nreq;
    snprintf(path, sizeof(path), "%s/%s/mandate-decisions.txt", dir, name);
    r = decide_all(ps, es, reqs, nreq, path, res);
out:
    cedar_policyset_put(ps);
    cedar_entities_free(es);
    arena_free(&ra);
    free(reqs);
    free(pol);
    free(ent);
    free(rq);
    return r;
}

int main(int argc, char **argv)
{
    static const char *defaults[] = {"small", "estate-50", "estate-500", "estate-5000"};
    const char **names = defaults;
    struct result res[16];
    int n = 4, i, failed = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: cedar_bench DIR [SCENARIO...]  (inputs: bench/cedar-data.mjs)\n");
        return 2;
    }
    if (argc > 2) {
        names = (const char **)&argv[2];
        n = argc - 2 > 16 ? 16 : argc - 2;
    }
    printf("%-12s %8s %9s %9s %11s %12s %10s %7s\n", "scenario", "policies", "entities",
           "median_us", "p99_us", "parse_MB/s", "ent/s", "allows");
    for (i = 0; i < n; i++) {
        if (run(argv[1], names[i], &res[i]) < 0) {
            printf("%-12s FAILED\n", names[i]);
            failed = 1;
            continue;
        }
        printf("%-12s %8zu %9zu %9.2f %11.2f %12.1f %10.0f %7zu\n", names[i], res[i].npol,
               res[i].nent, res[i].med_us, res[i].p99_us, res[i].parse_mbps, res[i].load_eps,
               res[i].allows);
        fflush(stdout);
    }
    for (i = 0; i < n; i++) {
        printf("result %s policies=%zu entities=%zu requests=%zu median_us=%.3f p99_us=%.3f "
               "parse_mbps=%.2f load_eps=%.0f allows=%zu errors=%zu\n",
               names[i], res[i].npol, res[i].nent, res[i].nreq, res[i].med_us, res[i].p99_us,
               res[i].parse_mbps, res[i].load_eps, res[i].allows, res[i].errors);
    }
    return failed;
}
