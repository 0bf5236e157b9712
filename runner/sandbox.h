/* sandbox.h — the worker's private network: namespace, interfaces, addresses, env. */
#ifndef BM_SANDBOX_H
#define BM_SANDBOX_H

#include "exec.h"
#include <stddef.h>

/* Fills env with defaults, then (where network namespaces exist) enters a new one — a user
 * namespace too when not root — and probes every capability (enum bm_cap) on its own:
 * lo, a veth pair bm0/bm1 for multicast/broadcast, second addresses, delivery of a
 * multicast and a broadcast datagram, another user, TCP state queries.  Degrades rather
 * than fails: what is missing is left false in env->has with its reason in env->why, and
 * listed in err ("name: reason; ..."; "" when everything is there).  Returns 0, or an
 * errno when no namespace could be made although one is possible (the caller decides
 * whether to run unisolated). */
int sandbox_enter(struct bm_env *env, char *err, size_t errlen);

/* The end of the veth pair that carries the documentation addresses (BM_CAP_VETH); the
 * one probe_veth() in sandbox.c creates. */
#define BM_VETH_IFNAME "bm0"

/* The probes of sandbox_enter without entering a namespace: every capability but
 * BM_CAP_NETNS, in the current network namespace, configured only when
 * env->has[BM_CAP_NETNS] says it is the runner's own (never the host's). */
void sandbox_probe(struct bm_env *env, char *err, size_t errlen);

/* Sets the user that user=other sockets act as, and probes BM_CAP_OTHER_USER again for it
 * (sandbox_enter probed the default, 65534). */
void sandbox_set_other_user(struct bm_env *env, uid_t uid, gid_t gid);

/* Fills env with the defaults only (no namespace, nothing probed); what sandbox_enter
 * starts from. */
void sandbox_defaults(struct bm_env *env);

/* The capability's name in the run record ("multicast_v6"); "?" out of range. */
const char *sandbox_cap_name(enum bm_cap cap);

/* What the run loses without it, for the one warning the runner prints. */
const char *sandbox_cap_effect(enum bm_cap cap);

/* Why cap is missing: "" when it is there, or for BM_CAP_COUNT (no capability needed). */
const char *sandbox_missing(const struct bm_env *env, enum bm_cap cap);

/* Closes the sockets the runner keeps for the life of a namespace (the delivery probes'
 * sentinels and senders, the sock_diag socket): they answer for the namespace they were made
 * in.  Entering another namespace does it; so must anything that changes what a new socket
 * may be. */
void sandbox_forget_kept(void);

/* Raises the soft limit on open descriptors towards the hard one (at most 65536): a TCP
 * delivery holds its connections and their accepted children at once, beside the sockets a
 * worker keeps, which the usual soft limit (1024; 256 on macOS) may not hold.  Where it cannot,
 * a case that runs out says EMFILE. */
void sandbox_raise_fd_limit(void);

/* Pins the calling process to one CPU, so the kernel handles loopback packets in order
 * on one softirq backlog (delivery settling relies on it).  0 or errno; no-op elsewhere. */
int sandbox_pin_cpu(int cpu);

/* Writes /proc/sys/<dotted with / for .>; old receives the previous value (trimmed) so the
 * caller can restore it.  0 or errno (ENOTSUP off Linux), with a message in err. */
int sandbox_set_sysctl(const char *dotted, const char *value, char *old, size_t oldlen,
                       char *err, size_t errlen);

#endif
