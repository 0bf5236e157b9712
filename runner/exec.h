/* exec.h — run one expanded case on the live kernel, inside the worker's sandbox. */
#ifndef BM_EXEC_H
#define BM_EXEC_H

#include "model.h"
#include <stdbool.h>
#include <sys/types.h>

/* What the worker's sandbox offers; filled by sandbox_enter(), read by exec and addr. */
struct bm_env {
    int timeout_ms;            /* bound on every wait */
    bool isolated;             /* running in a private network namespace we created */
    bool privileged;           /* uid 0 (in our namespace) with real root powers */
    bool can_switch_user;      /* seteuid(other_uid) works: needed for user=other sockets */
    uid_t other_uid;
    gid_t other_gid;
    /* second local addresses ("" when missing: cases that need them are skipped) */
    char local2_v4[64], local2_v6[64];
    /* multicast / broadcast interface (a veth pair on Linux, lo elsewhere for IPv4) */
    unsigned mc_ifindex;
    char mc_addr_v4[64];       /* IPv4 address of that interface, for IP_MULTICAST_IF */
    char mc_addr_v6[64];       /* IPv6 source address on it for multicast ("" = kernel's) */
    bool has_mc_v4, has_mc_v6, has_broadcast;
    char broadcast_v4[64];
    /* port allocation: fresh ports never repeat within one namespace */
    int next_port, port_hi;
    int next_priv_port, priv_port_hi;
};

/* Runs c and fills out.  Never fails as a function: every problem becomes out->status
 * (`error` with a reason when a precondition did not hold, `skipped` when the host lacks
 * what the case needs). */
void exec_case(const struct bm_case *c, struct bm_env *env, struct bm_outcome *out);

#endif
