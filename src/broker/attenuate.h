/*
 * attenuate.h: the rules of a delegation (issue 7), as pure functions of
 * the parent's grant and the request, so that they are tested as tables
 * (tests/unit/test_deleg.c) and exchange.c applies exactly these.  A child
 * may only narrow: tools and actions, data labels and downstream systems are
 * subsets of the parent's granted scope; its expiry is no later than the
 * parent's; its budget is carved out of what the parent has left; its depth
 * stays under the limit.  Private to src/broker (docs/delegation.md).
 */
#ifndef MANDATE_BROKER_ATTENUATE_H
#define MANDATE_BROKER_ATTENUATE_H

#include <jansson.h>
#include <stdint.h>

/* Does the request fit inside parent (a granted mandate_task object:
 * "tools" [{name, actions}], "data_labels", "downstream")?  req_tools is
 * an array of {name, actions} or NULL (the parent's), req_labels and
 * req_down arrays of strings or NULL.  Returns NULL when it fits, else
 * "scope_exceeds_parent" with *what ("tool", "action", "data label",
 * "downstream system") and *item (borrowed from the request) naming the
 * first thing outside.  A malformed parent grants nothing. */
const char *broker_attenuate_scope(const json_t *parent, const json_t *req_tools,
                                   const json_t *req_labels, const json_t *req_down,
                                   const char **what, const char **item);

/* Expiry and budget.  ttl_s and budget as requested (0: default),
 * left_s the parent's seconds left, avail its calls left (budget - calls -
 * carved), default_ttl_s the server's.  Returns NULL and sets *ttl_out (the
 * default capped by left_s) and *budget_out (the default: half of avail,
 * rounded up), or "parent_task_ended" (under a second left),
 * "expiry_exceeds_parent", "budget_exceeds_parent" (over avail, or nothing
 * left to hand on). */
const char *broker_attenuate_carve(int64_t ttl_s, int64_t budget, int64_t left_s, int64_t avail,
                                   int64_t default_ttl_s, int64_t *ttl_out, int64_t *budget_out);

/* depth: the new task's hops below its root task.  NULL when it is at most
 * max, else "depth_exceeded". */
const char *broker_attenuate_depth(int64_t depth, int64_t max);

#endif
