/* netcfg.h — minimal rtnetlink configuration for the sandbox namespace (Linux only).
 * Done in C, not by running ip(8), so a static runner works in a bare VM. */
#ifndef BM_NETCFG_H
#define BM_NETCFG_H

#include <stdbool.h>

/* All return 0 or an errno value.  Compiled to ENOTSUP stubs without linux/rtnetlink.h. */

/* Sets IFF_UP (and IFF_MULTICAST when multicast) on the interface. */
int netcfg_link_up(const char *ifname, bool multicast);

/* Creates a veth pair name <-> peer (both down). */
int netcfg_veth_create(const char *name, const char *peer);

/* Adds addr/prefix to the interface; brd is the IPv4 broadcast ("" or NULL for none);
 * nodad skips IPv6 duplicate address detection so the address is usable at once. */
int netcfg_addr_add(const char *ifname, const char *addr, int prefix, const char *brd,
                    bool nodad);

#endif
