/*
 * check.c: input checking and JSON helpers shared by the registry files,
 * owner scoping, and the transaction wrapper that pairs every change with
 * its audit record.
 *
 * Field tables are checked before anything else: an unknown field is an
 * error, not ignored, because a misspelt "owner" silently dropped would
 * create an agent nobody meant.
 */
#include <stdlib.h>
#include <string.h>

#include "broker/broker_int.h"
#include "util/clock.h"
#include "util/limits.h"

static const char *type_name(json_type t)
{
    switch (t) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static int type_ok(json_t *v, json_type want)
{
    if (want == JSON_TRUE || want == JSON_FALSE) {
        return json_is_boolean(v);
    }
    return json_typeof(v) == want;
}

int broker_fields_check(json_t *in, const struct broker_field *f, size_t n, struct err *e)
{
    const char *key;
    json_t *v;
    size_t i;

    if (!json_is_object(in)) {
        return err_set(e, ERR_INVALID, "body: expected a JSON object");
    }
    json_object_foreach(in, key, v)
    {
        for (i = 0; i < n && strcmp(f[i].name, key) != 0; i++) {
        }
        if (i == n) {
            return err_set(e, ERR_INVALID, "%.128s: unknown field", key);
        }
        if (!type_ok(v, f[i].type)) {
            return err_set(e, ERR_INVALID, "%s: expected %s", key, type_name(f[i].type));
        }
        if (f[i].type == JSON_STRING && json_string_length(v) > f[i].maxlen) {
            return err_set(e, ERR_INVALID, "%s: longer than %zu bytes", key, f[i].maxlen);
        }
        if (f[i].type == JSON_STRING && strlen(json_string_value(v)) != json_string_length(v)) {
            return err_set(e, ERR_INVALID, "%s: contains a NUL character", key);
        }
    }
    for (i = 0; i < n; i++) {
        if (f[i].required && json_object_get(in, f[i].name) == NULL) {
            return err_set(e, ERR_INVALID, "%s: missing required field", f[i].name);
        }
    }
    return 0;
}

const char *broker_str(json_t *in, const char *name, const char *dflt)
{
    json_t *v = json_object_get(in, name);

    return v ? json_string_value(v) : dflt;
}

int broker_int(json_t *in, const char *name, int64_t dflt, int64_t min, int64_t max, int64_t *out,
               struct err *e)
{
    json_t *v = json_object_get(in, name);

    *out = dflt;
    if (v == NULL) {
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
        return err_set(e, ERR_INVALID, "%s: must be an integer from %lld to %lld", name,
                       (long long)min, (long long)max);
    }
    *out = json_integer_value(v);
    return 0;
}

int broker_bool(json_t *in, const char *name, int dflt)
{
    json_t *v = json_object_get(in, name);

    return v ? json_is_true(v) : dflt;
}

int broker_strings_check(const char *field, json_t *v, size_t max_items, size_t maxlen, int ids,
                         struct err *e)
{
    size_t i, j, k;
    json_t *x;

    if (!json_is_array(v)) {
        return err_set(e, ERR_INVALID, "%s: expected an array of strings", field);
    }
    if (json_array_size(v) > max_items) {
        return err_set(e, ERR_INVALID, "%s: more than %zu items", field, max_items);
    }
    json_array_foreach(v, i, x)
    {
        const char *s = json_string_value(x);
        size_t n = json_string_length(x);
        if (s == NULL) {
            return err_set(e, ERR_INVALID, "%s: item %zu is not a string", field, i);
        }
        if (ids) {
            if (strlen(s) != n || broker_id_check(field, s, e) != 0) {
                return err_set(e, ERR_INVALID,
                               "%s: item %zu: 1 to %d of letters, digits and . _ @ -", field, i,
                               LIMIT_ID_LEN);
            }
        } else {
            if (n == 0 || n > maxlen) {
                return err_set(e, ERR_INVALID, "%s: item %zu must be 1 to %zu bytes", field, i,
                               maxlen);
            }
            for (k = 0; k < n; k++) {
                if ((unsigned char)s[k] < ' ' || s[k] == 0x7f) {
                    return err_set(e, ERR_INVALID, "%s: item %zu has a control character", field,
                                   i);
                }
            }
        }
        for (j = 0; j < i; j++) {
            if (json_equal(json_array_get(v, j), x)) {
                return err_set(e, ERR_INVALID, "%s: \"%.128s\" is listed twice", field, s);
            }
        }
    }
    return 0;
}

char *broker_json_text(json_t *j, struct arena *a)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY), *copy;

    if (s == NULL) {
        return NULL;
    }
    copy = arena_strdup(a, s);
    free(s);
    return copy;
}

json_t *broker_json_parse(const char *text)
{
    json_t *j;

    if (text == NULL) {
        return json_null();
    }
    j = json_loads(text, JSON_DECODE_ANY, NULL);
    return j ? j : json_null();
}

int broker_json_out(json_t *j, json_t **out, struct err *e)
{
    if (j == NULL) {
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

json_t *broker_time_json(int64_t ms)
{
    char ts[32];

    if (ms == 0) {
        return json_null();
    }
    clock_format_rfc3339(ms, ts);
    return json_string(ts);
}

int broker_agent_visible(struct store *s, const struct broker_caller *c, const char *id,
                         struct arena *a, struct store_agent *out, struct err *e)
{
    int r;

    if (c != NULL && c->role == ROLE_OWNER && c->subject == NULL) {
        return err_set(e, ERR_FORBIDDEN, "this owner key names no human (subject)");
    }
    r = s->ops->agent_get(s, id, a, out, e);
    if (r != 0) {
        return r;
    }
    if (c != NULL && c->role == ROLE_OWNER && strcmp(out->owner, c->subject) != 0) {
        /* Same answer as a missing agent: an owner learns nothing of others'. */
        return err_set(e, ERR_NOTFOUND, "no agent \"%s\"", id);
    }
    return 0;
}

static int change_tx(struct store *s, void *ctx, struct err *e)
{
    struct broker_change *ch = ctx;
    int r = ch->apply(s, ch, e);

    return r ? r : broker_audit(s, ch->c, &ch->ev, NULL, e);
}

int broker_change_run(struct broker *b, struct broker_change *ch, struct err *e)
{
    int r = store_tx(b->store, change_tx, ch, e);

    /* Keys and the humans behind them may have changed: the API key cache
     * forgets everything before the caller hears of the change (even after a
     * failure: a commit's outcome may be unknown). */
    broker_keycache_invalidate(b);
    if (r == 0 && b->hooks.registry_changed != NULL) {
        b->hooks.registry_changed(b->hooks.ctx, ch->ev.event);
    }
    return r;
}
