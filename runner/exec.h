/* exec.h — run one expanded case on the live kernel, inside the worker's sandbox. */
#ifndef BM_EXEC_H
#define BM_EXEC_H

#include "model.h"
#include <stdbool.h>
#include <sys/types.h>

/* What a sandbox can offer.  sandbox_enter probes each on its own (one failing never stops
 * the others from being tried); a missing one skips only the cases that need it, with its
 * reason, and the run record lists it under "degraded". */
enum bm_cap {
    BM_CAP_NETNS,        /* a private network namespace (sysctl cases, unshared ports) */
    BM_CAP_LOOPBACK,     /* lo is up */
    BM_CAP_VETH,         /* the veth pair bm0/bm1 with the documentation addresses */
    BM_CAP_LOCAL2_V4,    /* a second local address: local2_v4 */
    BM_CAP_LOCAL2_V6,
    BM_CAP_MULTICAST_V4, /* a group datagram sent on the multicast interface comes back */
    BM_CAP_MULTICAST_V6,
    BM_CAP_BROADCAST,    /* a datagram to broadcast_v4 comes back */
    BM_CAP_OTHER_USER,   /* seteuid(other_uid) works: needed for user=other sockets */
    BM_CAP_TCP_INFO,     /* the TCP state of our own sockets (state verification) */
    BM_CAP_SOCK_DIAG,    /* the TCP state of sockets with no descriptor (TIME_WAIT) */
    BM_CAP_COUNT
};

#define BM_CAP_WHY_LEN 200

/* What the worker's sandbox offers; filled by sandbox_enter(), read by exec and addr. */
struct bm_env {
    int timeout_ms;            /* bound on every wait */
    bool privileged;           /* uid 0 (in our namespace) with real root powers */
    bool has[BM_CAP_COUNT];
    char why[BM_CAP_COUNT][BM_CAP_WHY_LEN]; /* why a capability is missing ("" = not probed) */
    uid_t other_uid;
    gid_t other_gid;
    /* second local addresses (valid when has[BM_CAP_LOCAL2_*]) */
    char local2_v4[64], local2_v6[64];
    /* multicast interface (the veth bm0 on Linux, lo when that is missing or elsewhere) */
    unsigned mc_ifindex;       /* for IPv6 joins and IPV6_MULTICAST_IF */
    char mc_addr_v4[64];       /* IPv4 address of that interface, for IP_MULTICAST_IF */
    char mc_addr_v6[64];       /* IPv6 source address on it for multicast ("" = kernel's) */
    char broadcast_v4[64];     /* the broadcast address, and a local address in its subnet */
    char broadcast_src_v4[64]; /* that senders bind to */
    /* port allocation: fresh ports never repeat within one namespace */
    int next_port, port_hi;
    int next_priv_port, priv_port_hi;
    /* En placeholders (local_port_range=E1-E1): fresh ports inside the namespace's
     * ephemeral range, taken downwards from its top; 0 = the range not read yet */
    int next_eph_port, eph_port_lo;
    /* set when a case acted as the other user: a change of effective uid clears the
     * parent-death signal, which the worker then sets again */
    bool ids_switched;
};

/* Runs c and fills out.  Never fails as a function: every problem becomes out->status
 * (`error` with a reason when a precondition did not hold, `skipped` when the host lacks
 * what the case needs). */
void exec_case(const struct bm_case *c, struct bm_env *env, struct bm_outcome *out);

#endif
