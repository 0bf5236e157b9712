/* sandbox.h — the worker's private network: namespace, interfaces, addresses, env. */
#ifndef BM_SANDBOX_H
#define BM_SANDBOX_H

#include "exec.h"
#include <stddef.h>

/* Fills env with defaults, then (Linux) enters a new network namespace — a user namespace
 * too when not root — and configures lo plus a veth pair bm0/bm1 for multicast/broadcast.
 * Degrades rather than fails: what is missing is left off in env and described in err
 * (err is "" when everything is there).  Returns 0, or an errno when no namespace could be
 * made although one is possible (the caller decides whether to run unisolated). */
int sandbox_enter(struct bm_env *env, char *err, size_t errlen);

/* Fills env with the defaults only (no namespace); what sandbox_enter starts from. */
void sandbox_defaults(struct bm_env *env);

/* Pins the calling process to one CPU, so the kernel handles loopback packets in order
 * on one softirq backlog (delivery settling relies on it).  0 or errno; no-op elsewhere. */
int sandbox_pin_cpu(int cpu);

/* Writes /proc/sys/<dotted with / for .>; old receives the previous value (trimmed) so the
 * caller can restore it.  0 or errno (ENOTSUP off Linux), with a message in err. */
int sandbox_set_sysctl(const char *dotted, const char *value, char *old, size_t oldlen,
                       char *err, size_t errlen);

#endif
