/* tcpdiag.h — what state is a TCP socket in: TCP_INFO for our own sockets, sock_diag for
 * sockets that have no descriptor any more (TIME_WAIT). */
#ifndef BM_TCPDIAG_H
#define BM_TCPDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum bm_tcpstate { BM_TCP_OTHER, BM_TCP_ESTABLISHED, BM_TCP_CLOSED };

/* The TCP state of fd, normalised; 0 or errno (ENOTSUP where TCP_INFO has no state). */
int tcpdiag_state(int fd, enum bm_tcpstate *st);

/* Whether a TIME_WAIT socket with local port `port` exists (family AF_INET or AF_INET6).
 * 0 with *found set, or errno; ENOTSUP off Linux (callers then rely on TCP_INFO alone). */
int tcpdiag_timewait_on_port(int family, int port, bool *found);

/* Whether the TIME_WAIT socket of exactly this connection exists: local is its own address
 * and port, remote its peer's (one family).  One lookup in the kernel's hash, where a dump
 * walks every TIME_WAIT socket of the namespace.  0 with *found set, or errno; ENOTSUP
 * where there is no sock_diag. */
int tcpdiag_timewait_exact(const struct sockaddr_storage *local,
                           const struct sockaddr_storage *remote, bool *found);

/* True when err means sock_diag is not there at all (no such netlink protocol or request,
 * as in gVisor), not that a query failed: TIME_WAIT then rests on the helper's proof. */
bool tcpdiag_missing(int err);

/* Whether sock_diag answers here: one exact query for a listener of its own, which the
 * answer must name.  0, or the errno with the call that failed in why
 * ("socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed with EPROTONOSUPPORT"). */
int tcpdiag_probe(char *why, size_t whylen);

/* Closes the kept query socket: the process is about to enter another namespace. */
void tcpdiag_forget(void);

#endif
