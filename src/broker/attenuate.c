/*
 * attenuate.c: the rules of a delegation (broker_int.h, "delegation rules").  No locks, no
 * store, no clock: the caller passes what it read under its locks.
 */
#include <string.h>

#include "broker/broker_int.h"

static int in_strings(const json_t *arr, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < json_array_size(arr); i++) {
        const char *v = json_string_value(json_array_get(arr, i));
        if (v != NULL && strcmp(v, s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The parent's actions on tool name, or NULL when it has none. */
static const json_t *parent_actions(const json_t *parent, const char *name)
{
    const json_t *tools = json_object_get(parent, "tools");
    size_t i;

    for (i = 0; name != NULL && i < json_array_size(tools); i++) {
        const json_t *t = json_array_get(tools, i);
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n != NULL && strcmp(n, name) == 0) {
            return json_object_get(t, "actions");
        }
    }
    return NULL;
}

static const char *strings_inside(const json_t *req, const json_t *allowed, const char *what_name,
                                  const char **what, const char **item)
{
    size_t i;

    for (i = 0; i < json_array_size(req); i++) {
        const char *s = json_string_value(json_array_get(req, i));
        if (!in_strings(allowed, s)) {
            *what = what_name;
            *item = s ? s : "";
            return "scope_exceeds_parent";
        }
    }
    return NULL;
}

const char *broker_attenuate_scope(const json_t *parent, const json_t *req_tools,
                                   const json_t *req_labels, const json_t *req_down,
                                   const char **what, const char **item)
{
    const char *why;
    size_t i;

    *what = NULL;
    *item = NULL;
    for (i = 0; i < json_array_size(req_tools); i++) {
        const json_t *t = json_array_get(req_tools, i);
        const char *name = json_string_value(json_object_get(t, "name"));
        const json_t *pa = parent_actions(parent, name);
        if (pa == NULL) {
            *what = "tool";
            *item = name ? name : "";
            return "scope_exceeds_parent";
        }
        why = strings_inside(json_object_get(t, "actions"), pa, "action", what, item);
        if (why != NULL) {
            return why;
        }
    }
    why = strings_inside(req_labels, json_object_get(parent, "data_labels"), "data label", what,
                         item);
    return why ? why
               : strings_inside(req_down, json_object_get(parent, "downstream"),
                                "downstream system", what, item);
}

const char *broker_attenuate_carve(int64_t ttl_s, int64_t budget, int64_t left_s, int64_t avail,
                                   int64_t default_ttl_s, int64_t *ttl_out, int64_t *budget_out)
{
    *ttl_out = 0;
    *budget_out = 0;
    if (left_s < 1) {
        return "parent_task_ended";
    }
    if (ttl_s > left_s) {
        return "expiry_exceeds_parent";
    }
    if (budget > avail || avail < 1) {
        return "budget_exceeds_parent";
    }
    *ttl_out = ttl_s ? ttl_s : default_ttl_s < left_s ? default_ttl_s : left_s;
    *budget_out = budget ? budget : (avail + 1) / 2;
    return NULL;
}

const char *broker_attenuate_depth(int64_t depth, int64_t max)
{
    return depth > max ? "depth_exceeded" : NULL;
}
