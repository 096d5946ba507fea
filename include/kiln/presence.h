/* Kiln Presence: who is on a topic, with metas per key, in the shape the
 * official client's Presence class consumes (presence_state, presence_diff).
 *
 * The state is a replica of an observed-remove set (the design of
 * Phoenix.Tracker): each node stamps its adds with (node, counter) and keeps a
 * context, the highest counter it has seen from every node. A merge keeps an
 * entry the other side lacks only if the other side never saw it (else the
 * other side removed it), so merges are order-independent and idempotent and
 * a concurrent add and remove resolve the same way everywhere. A node that
 * falls silent is dropped with kiln_presence_replica_node_down: its entries
 * turn into leaves. Today one node runs one replica in a presence process; a
 * cluster adapter would ship replicas between nodes and merge them.
 *
 * Diffs: functions that change a replica add what changed to `diff` (may be
 * NULL), an object {topic: {"joins": STATE, "leaves": STATE}}. */
#ifndef KILN_PRESENCE_H
#define KILN_PRESENCE_H

#include <jansson.h>
#include "kiln/channel.h"
#include "kiln/runtime.h"

/* ---- The replica (pure data, single-threaded) ------------------------------ */

typedef struct kiln_presence_replica kiln_presence_replica_t;

kiln_presence_replica_t *kiln_presence_replica_new(const char *node);
void kiln_presence_replica_free(kiln_presence_replica_t *r);
/* Adds a meta (copied; "phx_ref" is set) for key on topic, tracked by pid.
 * Returns the new phx_ref (owned by the replica) or NULL. */
const char *kiln_presence_replica_add(kiln_presence_replica_t *r, const char *topic, const char *key, kiln_pid_t pid,
                                      const json_t *meta, json_t *diff);
/* Removes pid's metas (under key, or every key when key is NULL; every topic
 * when topic is NULL). Returns how many were removed. */
int kiln_presence_replica_remove(kiln_presence_replica_t *r, const char *topic, const char *key, kiln_pid_t pid,
                                 json_t *diff);
/* Merges other into r. */
int kiln_presence_replica_merge(kiln_presence_replica_t *r, const kiln_presence_replica_t *other, json_t *diff);
/* Drops every entry added on node (a replica that fell silent). */
int kiln_presence_replica_node_down(kiln_presence_replica_t *r, const char *node, json_t *diff);
/* {key: {"metas": [...]}} for topic (a new reference). */
json_t *kiln_presence_replica_list(const kiln_presence_replica_t *r, const char *topic);
/* Every entry, canonical order (for comparing replicas in tests). */
json_t *kiln_presence_replica_dump(const kiln_presence_replica_t *r);

/* ---- The presence process of a node ------------------------------------------ */

/* Starts the node's presence process (once per runtime; a kiln_child_spec_t
 * start function). It monitors tracking processes: their exit untracks them. */
int kiln_presence_start(kiln_runtime_t *rt, void *arg, kiln_pid_t *out);
/* From a channel: tracks the channel's process under key on its topic, with
 * meta (borrowed). presence_diff goes to the topic. Waits for the presence
 * process. Returns 0 or an error. */
int kiln_presence_track(kiln_channel_t *ch, const char *key, const json_t *meta);
int kiln_presence_untrack(kiln_channel_t *ch, const char *key);
/* The topic's state (a new reference), or NULL. */
json_t *kiln_presence_list(kiln_runtime_t *rt, const char *topic);

#endif
