/* Kiln PubSub: topic-based broadcast to processes (Phoenix.PubSub).
 *
 * Subscriptions are per process and local to its scheduler; they end
 * automatically when the process exits. A broadcast is copied once into a
 * refcounted kiln_pubsub_msg_t and handed to each scheduler once (not to each
 * subscriber); each scheduler then walks its own subscribers, so the
 * cross-core work is O(schedulers). A subscriber receives a kiln_msg_t with
 * tag KILN_MSG_PUBSUB whose data points at the shared, read-only
 * kiln_pubsub_msg_t (one reference, dropped when the kiln_msg_t is freed; take
 * another with kiln_pubsub_msg_ref to keep the payload longer).
 *
 * Broadcasts go through an adapter (const ops struct, abi first). The default,
 * local adapter fans out on this node; a cluster adapter would also forward to
 * other nodes and call kiln_pubsub_local_fanout for the local part. */
#ifndef KILN_PUBSUB_H
#define KILN_PUBSUB_H

#include "kiln/runtime.h"

typedef struct kiln_pubsub_msg {
    long refs;         /* owned by the runtime: use kiln_pubsub_msg_ref/unref */
    kiln_pid_t from;   /* the broadcaster, or 0 */
    kiln_pid_t except; /* broadcast_from: this subscriber is skipped */
    const char *topic; /* NUL-terminated, in the same allocation */
    const void *data;  /* len bytes, NUL-terminated for convenience */
    size_t len;
    int64_t at_ns;     /* kiln_now_ns() at the broadcast call */
} kiln_pubsub_msg_t;

kiln_pubsub_msg_t *kiln_pubsub_msg_ref(kiln_pubsub_msg_t *m);
void kiln_pubsub_msg_unref(kiln_pubsub_msg_t *m);

/* Subscribes the calling process to topic (idempotent). Returns 0,
 * KILN_ESTATE outside a process, or KILN_EINVAL for an empty topic. */
int kiln_pubsub_subscribe(const char *topic);
/* Subscribes with a fastlane (Phoenix's term): during a scheduler's walk of
 * the topic's subscribers, fastlane(proc, m) runs instead of a mailbox send,
 * on the scheduler thread (not on a coroutine: it must not wait); returning
 * non-zero falls back to the mailbox message. It may take references on m.
 * A transport uses it to queue a shared frame straight to its socket. */
typedef int (*kiln_pubsub_fastlane_fn)(kiln_proc_t *p, kiln_pubsub_msg_t *m);
int kiln_pubsub_subscribe_fastlane(const char *topic, kiln_pubsub_fastlane_fn fastlane);
/* Returns 0, or KILN_ENOENT when the process was not subscribed. */
int kiln_pubsub_unsubscribe(const char *topic);

/* Sends data to every subscriber of topic on every scheduler. Thread-safe,
 * callable from anywhere. Returns 0 or KILN_EINVAL. */
int kiln_pubsub_broadcast(kiln_runtime_t *rt, const char *topic, const void *data, size_t len);
/* The same, skipping the subscriber `from` (usually the caller's own pid). */
int kiln_pubsub_broadcast_from(kiln_runtime_t *rt, kiln_pid_t from, const char *topic, const void *data, size_t len);

/* Adapters. broadcast takes one reference on m for the duration of the call
 * (take more to keep it); it returns 0 or a KILN_E* error. */
typedef struct kiln_pubsub_adapter {
    int abi; /* KILN_PUBSUB_ADAPTER_ABI; first so the struct can grow */
    const char *name;
    int (*broadcast)(void *ud, kiln_runtime_t *rt, kiln_pubsub_msg_t *m);
} kiln_pubsub_adapter_t;
#define KILN_PUBSUB_ADAPTER_ABI 1

extern const kiln_pubsub_adapter_t kiln_pubsub_local_adapter;
/* Installs an adapter before kiln_runtime_run (not thread-safe against
 * concurrent broadcasts). ud is borrowed. Returns 0 or KILN_EINVAL. */
int kiln_pubsub_set_adapter(kiln_runtime_t *rt, const kiln_pubsub_adapter_t *ops, void *ud);
/* The local fan-out: hands m to each scheduler with subscribers. For adapters. */
int kiln_pubsub_local_fanout(kiln_runtime_t *rt, kiln_pubsub_msg_t *m);

/* Telemetry: after each scheduler's walk, "kiln.pubsub.fanout" with
 * measurements delivered (subscribers reached on that scheduler) and
 * duration_us (from the broadcast call to the end of the walk: with
 * fastlanes, until the last frame was handed to the kernel), metadata topic.
 * Emitted only when a handler is attached. */

/* Subscriptions on the calling scheduler (for tests and metrics). */
size_t kiln_pubsub_local_count(const char *topic);

#endif
