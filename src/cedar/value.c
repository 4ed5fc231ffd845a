/*
 * value.c: Cedar values: constructors, the total order used by sets, record
 * lookup.  Values are immutable and live in whichever arena built them.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "util/limits.h"

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t cedar_uid_hash(const char *type, size_t tlen, const char *id, size_t idlen)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    h = fnv(h, type, tlen);
    h ^= 0xff;
    h *= 0x100000001b3ULL;
    h = fnv(h, id, idlen);
    h ^= h >> 29;
    return h;
}

void cedar_uid_init(struct cedar_uid *u, const char *type, size_t tlen, const char *id,
                    size_t idlen)
{
    u->type.ptr = type;
    u->type.len = tlen;
    u->id.ptr = id;
    u->id.len = idlen;
    u->hash = cedar_uid_hash(type, tlen, id, idlen);
}

struct cedar_uid *cedar_uid_dup(struct arena *a, const struct cedar_uid *u)
{
    struct cedar_uid *d = arena_alloc(a, sizeof(*d));
    char *t = arena_strndup(a, u->type.ptr ? u->type.ptr : "", u->type.len);
    char *i = arena_strndup(a, u->id.ptr ? u->id.ptr : "", u->id.len);
    if (d == NULL || t == NULL || i == NULL) {
        return NULL;
    }
    d->type.ptr = t;
    d->type.len = u->type.len;
    d->id.ptr = i;
    d->id.len = u->id.len;
    d->hash = u->hash;
    return d;
}

bool cedar_uid_eq(const struct cedar_uid *a, const struct cedar_uid *b)
{
    if (a == b) {
        return true;
    }
    return a->hash == b->hash && cedar_str_eq(a->id, b->id) && cedar_str_eq(a->type, b->type);
}

struct cedar_value cedar_value_bool(bool b)
{
    struct cedar_value v = {.kind = CEDAR_BOOL};
    v.u.b = b;
    return v;
}

/* Long and the extension types stored as one int64 (decimal scaled by
 * 10^4, datetime and duration in milliseconds). */
static struct cedar_value value_i64(enum cedar_kind kind, int64_t l)
{
    struct cedar_value v = {.kind = kind};
    v.u.l = l;
    return v;
}

struct cedar_value cedar_value_long(int64_t l)
{
    return value_i64(CEDAR_LONG, l);
}

struct cedar_value cedar_value_decimal(int64_t scaled)
{
    return value_i64(CEDAR_DECIMAL, scaled);
}

struct cedar_value cedar_value_datetime(int64_t ms)
{
    return value_i64(CEDAR_DATETIME, ms);
}

struct cedar_value cedar_value_duration(int64_t ms)
{
    return value_i64(CEDAR_DURATION, ms);
}

struct cedar_value cedar_value_ip(const struct cedar_ip *ip)
{
    struct cedar_value v = {.kind = CEDAR_IP};
    v.u.ip = *ip;
    return v;
}

int cedar_value_string(struct arena *a, const char *s, size_t n, struct cedar_value *out)
{
    char *p = arena_strndup(a, n ? s : "", n);
    if (p == NULL) {
        return ERR_NOMEM;
    }
    out->kind = CEDAR_STRING;
    out->u.s.ptr = p;
    out->u.s.len = n;
    return 0;
}

int cedar_value_entity(struct arena *a, const char *type, size_t tlen, const char *id, size_t idlen,
                       struct cedar_value *out)
{
    struct cedar_uid u;
    cedar_uid_init(&u, type, tlen, id, idlen);
    struct cedar_uid *d = cedar_uid_dup(a, &u);
    if (d == NULL) {
        return ERR_NOMEM;
    }
    out->kind = CEDAR_ENTITY;
    out->u.uid = d;
    return 0;
}

static const struct cedar_record empty_record = {0};

struct cedar_value cedar_value_empty_record(void)
{
    struct cedar_value v = {.kind = CEDAR_RECORD};
    v.u.rec = &empty_record;
    return v;
}

static int i64_cmp(int64_t a, int64_t b)
{
    return a < b ? -1 : a > b ? 1 : 0;
}

int cedar_value_cmp(const struct cedar_value *a, const struct cedar_value *b)
{
    if (a->kind != b->kind) {
        return a->kind < b->kind ? -1 : 1;
    }
    switch (a->kind) {
    case CEDAR_BOOL:
        return (int)a->u.b - (int)b->u.b;
    case CEDAR_LONG:
    case CEDAR_DECIMAL:
    case CEDAR_DATETIME:
    case CEDAR_DURATION:
        return i64_cmp(a->u.l, b->u.l);
    case CEDAR_STRING:
        return cedar_str_cmp(a->u.s, b->u.s);
    case CEDAR_ENTITY: {
        if (a->u.uid == b->u.uid) {
            return 0;
        }
        int c = cedar_str_cmp(a->u.uid->type, b->u.uid->type);
        return c ? c : cedar_str_cmp(a->u.uid->id, b->u.uid->id);
    }
    case CEDAR_SET: {
        const struct cedar_set *x = a->u.set, *y = b->u.set;
        if (x->n != y->n) {
            return x->n < y->n ? -1 : 1;
        }
        for (size_t i = 0; i < x->n; i++) {
            int c = cedar_value_cmp(&x->items[i], &y->items[i]);
            if (c) {
                return c;
            }
        }
        return 0;
    }
    case CEDAR_RECORD: {
        const struct cedar_record *x = a->u.rec, *y = b->u.rec;
        if (x->n != y->n) {
            return x->n < y->n ? -1 : 1;
        }
        for (size_t i = 0; i < x->n; i++) {
            int c = cedar_str_cmp(x->items[i].key, y->items[i].key);
            if (c) {
                return c;
            }
            c = cedar_value_cmp(&x->items[i].val, &y->items[i].val);
            if (c) {
                return c;
            }
        }
        return 0;
    }
    case CEDAR_IP: {
        if (a->u.ip.v6 != b->u.ip.v6) {
            return a->u.ip.v6 < b->u.ip.v6 ? -1 : 1;
        }
        int c = memcmp(a->u.ip.addr, b->u.ip.addr, 16);
        if (c) {
            return c;
        }
        return (int)a->u.ip.prefix - (int)b->u.ip.prefix;
    }
    }
    return 0;
}

static int vcmp(const void *x, const void *y)
{
    return cedar_value_cmp(x, y);
}

int cedar_value_set(struct arena *a, const struct cedar_value *items, size_t n,
                    struct cedar_value *out, struct err *e)
{
    if (n > LIMIT_CEDAR_SET_MAX) {
        return err_set(e, ERR_LIMIT, "set of %zu elements exceeds the limit of %d", n,
                       LIMIT_CEDAR_SET_MAX);
    }
    struct cedar_set *s = arena_alloc(a, sizeof(*s) + n * sizeof(struct cedar_value));
    if (s == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (n) {
        memcpy(s->items, items, n * sizeof(struct cedar_value));
    }
    size_t m = n;
    if (n > 1) {
        qsort(s->items, n, sizeof(struct cedar_value), vcmp);
        m = 1;
        for (size_t i = 1; i < n; i++) {
            if (cedar_value_cmp(&s->items[m - 1], &s->items[i]) != 0) {
                s->items[m++] = s->items[i];
            }
        }
    }
    s->n = m;
    out->kind = CEDAR_SET;
    out->u.set = s;
    return 0;
}

static int acmp(const void *x, const void *y)
{
    const struct cedar_attr *a = x, *b = y;
    return cedar_str_cmp(a->key, b->key);
}

int cedar_value_record(struct arena *a, const struct cedar_attr *attrs, size_t n,
                       struct cedar_value *out, struct err *e)
{
    if (n > LIMIT_CEDAR_RECORD_MAX) {
        return err_set(e, ERR_LIMIT, "record of %zu attributes exceeds the limit of %d", n,
                       LIMIT_CEDAR_RECORD_MAX);
    }
    struct cedar_record *r = arena_alloc(a, sizeof(*r) + n * sizeof(struct cedar_attr));
    if (r == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    if (n) {
        memcpy(r->items, attrs, n * sizeof(struct cedar_attr));
    }
    r->n = n;
    if (n > 1) {
        qsort(r->items, n, sizeof(struct cedar_attr), acmp);
        for (size_t i = 1; i < n; i++) {
            if (cedar_str_cmp(r->items[i - 1].key, r->items[i].key) == 0) {
                return err_set(e, ERR_CONFLICT, "duplicate key \"%.*s\" in record",
                               (int)(r->items[i].key.len > 64 ? 64 : r->items[i].key.len),
                               r->items[i].key.ptr);
            }
        }
    }
    out->kind = CEDAR_RECORD;
    out->u.rec = r;
    return 0;
}

const struct cedar_value *cedar_record_get(const struct cedar_record *r, const char *key,
                                           size_t klen)
{
    if (r == NULL) {
        return NULL;
    }
    if (r->n <= 8) {
        /* small records: compare lengths first, memcmp only on a match */
        for (size_t i = 0; i < r->n; i++) {
            const struct cedar_str *k = &r->items[i].key;
            if (k->len == klen && (klen == 0 || memcmp(k->ptr, key, klen) == 0)) {
                return &r->items[i].val;
            }
        }
        return NULL;
    }
    struct cedar_str k = {key, klen};
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cedar_str_cmp(r->items[mid].key, k);
        if (c == 0) {
            return &r->items[mid].val;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const char *cedar_kind_name(enum cedar_kind k)
{
    static const char *const names[] = {"bool",   "long",   "string",  "entity",   "set",
                                        "record", "ipaddr", "decimal", "datetime", "duration"};
    return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}
