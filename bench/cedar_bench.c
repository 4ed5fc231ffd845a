/*
 * cedar_bench.c: how fast the Cedar engine decides, parses and loads.
 *
 *   cedar_bench DIR [SCENARIO...]
 *
 * For each scenario folder DIR/<name>/ (policies.cedar, entities.json,
 * requests.jsonl, as bench/cedar-data.mjs writes them) it measures:
 *   - parse: cedar_policyset_parse() over the policy text, in MB/s;
 *   - load: entities JSON -> entity store (+ hierarchy closure), entities/s;
 *   - decide: one cedar_authorize() per request, each timed alone, repeated
 *     until about a second has passed; median and p99 in microseconds.
 * Prints a table, then machine-readable "result ..." lines that
 * bench/cedar.sh joins with cedar-wasm's figures.  Not a test: no timings are
 * asserted.
 *
 * The entities and contexts are read schemaless by a small jansson reader
 * here (records, sets, longs, strings, bools, __entity), so this program
 * needs only the engine's core API.
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

/* ---- schemaless JSON -> cedar values ------------------------------------ */

static int uid_from_json(struct arena *a, json_t *j, struct cedar_uid *u)
{
    json_t *t, *id;

    if (json_is_object(j) && json_object_get(j, "__entity") != NULL) {
        j = json_object_get(j, "__entity");
    }
    t = json_object_get(j, "type");
    id = json_object_get(j, "id");
    if (!json_is_string(t) || !json_is_string(id)) {
        return ERR_INVALID;
    }
    cedar_uid_init(u, json_string_value(t), json_string_length(t), json_string_value(id),
                   json_string_length(id));
    return cedar_uid_dup(a, u) != NULL ? 0 : ERR_NOMEM;
}

static int value_from_json(struct arena *a, json_t *j, struct cedar_value *out, int depth)
{
    struct err e;

    if (depth > 32) {
        return ERR_LIMIT;
    }
    switch (json_typeof(j)) {
    case JSON_TRUE:
    case JSON_FALSE:
        *out = cedar_value_bool(json_is_true(j));
        return 0;
    case JSON_INTEGER:
        *out = cedar_value_long(json_integer_value(j));
        return 0;
    case JSON_STRING:
        return cedar_value_string(a, json_string_value(j), json_string_length(j), out);
    case JSON_ARRAY: {
        size_t n = json_array_size(j), i;
        struct cedar_value *items = arena_calloc(a, n ? n : 1, sizeof(*items));
        int r;

        if (items == NULL) {
            return ERR_NOMEM;
        }
        for (i = 0; i < n; i++) {
            if ((r = value_from_json(a, json_array_get(j, i), &items[i], depth + 1)) < 0) {
                return r;
            }
        }
        return cedar_value_set(a, items, n, out, &e);
    }
    case JSON_OBJECT: {
        json_t *ent = json_object_get(j, "__entity"), *v;
        const char *k;
        struct cedar_attr *attrs;
        size_t n = json_object_size(j), i = 0;
        int r;

        if (ent != NULL) {
            json_t *t = json_object_get(ent, "type"), *id = json_object_get(ent, "id");
            if (!json_is_string(t) || !json_is_string(id)) {
                return ERR_INVALID;
            }
            return cedar_value_entity(a, json_string_value(t), json_string_length(t),
                                      json_string_value(id), json_string_length(id), out);
        }
        attrs = arena_calloc(a, n ? n : 1, sizeof(*attrs));
        if (attrs == NULL) {
            return ERR_NOMEM;
        }
        json_object_foreach(j, k, v)
        {
            size_t kl = strlen(k);
            char *kc = arena_strndup(a, k, kl);
            if (kc == NULL) {
                return ERR_NOMEM;
            }
            attrs[i].key.ptr = kc;
            attrs[i].key.len = kl;
            if ((r = value_from_json(a, v, &attrs[i].val, depth + 1)) < 0) {
                return r;
            }
            i++;
        }
        return cedar_value_record(a, attrs, n, out, &e);
    }
    default:
        return ERR_INVALID;
    }
}

static int load_entities(const char *text, size_t len, struct cedar_entities **out)
{
    struct cedar_entities *es = NULL;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *item;
    size_t i;
    struct err e;
    int r = ERR_INVALID;

    *out = NULL;
    if (root == NULL || !json_is_array(root)) {
        goto out;
    }
    if ((r = cedar_entities_new(&es)) < 0) {
        goto out;
    }
    json_array_foreach(root, i, item)
    {
        struct arena *a = cedar_entities_arena(es);
        struct cedar_uid uid, parents[64];
        struct cedar_value attrs, tags, *tp = NULL;
        json_t *pj = json_object_get(item, "parents"), *p;
        size_t np = 0, k;

        if ((r = uid_from_json(a, json_object_get(item, "uid"), &uid)) < 0 ||
            (r = value_from_json(a, json_object_get(item, "attrs"), &attrs, 0)) < 0) {
            goto out;
        }
        if (json_object_get(item, "tags") != NULL) {
            if ((r = value_from_json(a, json_object_get(item, "tags"), &tags, 0)) < 0) {
                goto out;
            }
            tp = &tags;
        }
        json_array_foreach(pj, k, p)
        {
            if (np == 64 || (r = uid_from_json(a, p, &parents[np++])) < 0) {
                r = r < 0 ? r : ERR_LIMIT;
                goto out;
            }
        }
        if ((r = cedar_entities_add(es, &uid, &attrs, tp, parents, np, false, &e)) < 0) {
            fprintf(stderr, "entities: %s\n", e.msg);
            goto out;
        }
    }
    if ((r = cedar_entities_finish(es, &e)) < 0) {
        goto out;
    }
    *out = es;
    es = NULL;
    r = 0;
out:
    json_decref(root);
    cedar_entities_free(es);
    return r;
}

static int load_requests(const char *text, size_t len, struct arena *a, struct cedar_request *reqs,
                         size_t *n)
{
    const char *p = text, *end = text + len;

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
        r = uid_from_json(a, json_object_get(j, "principal"), &q->principal);
        if (r == 0) {
            r = uid_from_json(a, json_object_get(j, "action"), &q->action);
        }
        if (r == 0) {
            r = uid_from_json(a, json_object_get(j, "resource"), &q->resource);
        }
        if (r == 0) {
            r = value_from_json(a, json_object_get(j, "context"), &q->context, 0);
        }
        json_decref(j);
        if (r < 0) {
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

static int decide_all(const struct cedar_policyset *ps, const struct cedar_entities *es,
                      const struct cedar_request *reqs, size_t nreq, struct result *res)
{
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
                res->allows += resp.decision == CEDAR_ALLOW;
                res->errors += resp.nerrors;
            } else {
                samples[ns++] = t1 - t0;
            }
            arena_free(&a);
        }
        round++;
    }
    qsort(samples, ns, sizeof(*samples), cmp_i64);
    res->med_us = (double)samples[ns / 2] / 1000.0;
    res->p99_us = (double)samples[(ns * 99) / 100] / 1000.0;
out:
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
        if ((r = load_entities(ent, elen, &es)) < 0) {
            fprintf(stderr, "%s: cannot load entities (%d)\n", name, r);
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
    r = decide_all(ps, es, reqs, nreq, res);
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
