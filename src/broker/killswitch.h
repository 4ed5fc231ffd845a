/*
 * killswitch.h: stop one agent, all agents of an owner, a team, or every
 * agent, mid-flight (issue 7).  Engaging revokes every live task in scope
 * (memory first, then one store transaction) before it answers, and refuses
 * new exchanges in scope until lifted.  The switch is stored (committed
 * with its audit record before the answer) and loaded again at startup, so
 * a restart never lifts it.  docs/delegation.md.
 */
#ifndef MANDATE_BROKER_KILLSWITCH_H
#define MANDATE_BROKER_KILLSWITCH_H

#include <jansson.h>

#include "broker/broker.h"
#include "util/err.h"

/* Made and freed by the runtime (broker_runtime_start/stop).  Start loads
 * the stored switches and revokes the live tasks they cover (record
 * "killswitch.reapply"); an unreadable store fails the start (closed). */
int broker_killswitch_start(struct broker *b, struct err *e) MUST_CHECK;
void broker_killswitch_stop(struct broker *b);

/* scope: "agent", "owner", "team" (target: its id) or "all" (target NULL).
 * Revokes every live task in scope (and the tasks delegated below them)
 * and writes one audit record "killswitch.engage".  *out: {"scope",
 * "target", "reason", "engaged", "revoked": n, "elapsed_ms"}.  Engaging a
 * scope engaged already revokes again and keeps the first reason.
 * The switch is set in memory first and stays set when the store write
 * fails.  ERR_INVALID, ERR_LIMIT (too many switches), ERR_UNAVAILABLE. */
int broker_killswitch_engage(struct broker *b, const struct broker_caller *c, const char *scope,
                             const char *target, const char *reason, json_t **out,
                             struct err *e) MUST_CHECK;

/* Lifts one engaged switch: its row is removed with the "killswitch.lift"
 * record in one transaction, then it leaves memory (a failed store write
 * leaves it engaged).  ERR_NOTFOUND. */
int broker_killswitch_lift(struct broker *b, const struct broker_caller *c, const char *scope,
                           const char *target, json_t **out, struct err *e) MUST_CHECK;

/* {"engaged":[{"scope","target","reason","engaged","by"}...],"generation":n} */
int broker_killswitch_status(struct broker *b, json_t **out, struct err *e) MUST_CHECK;

/* 1 when an engaged switch covers this agent.  owner and team may be NULL
 * (then only "all" and "agent" switches are looked at: the check path,
 * whose tasks in owner/team scope were revoked when the switch engaged).
 * One atomic load when nothing is engaged. */
int broker_killswitch_covers(struct broker *b, const char *agent, const char *owner,
                             const char *team);

/* The rule itself: 1 when a switch (scope, target) covers an agent with
 * this owner and team (each may be NULL: then no owner/team switch covers
 * it).  "all" covers every agent; an unknown scope covers none (scopes are
 * checked when engaged). */
int broker_killswitch_scope_matches(const char *scope, const char *target, const char *agent,
                                    const char *owner, const char *team);

#endif
