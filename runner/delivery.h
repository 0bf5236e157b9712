/* delivery.h — the deliver probe: send datagrams or connections, count who received them. */
#ifndef BM_DELIVERY_H
#define BM_DELIVERY_H

#include "exec.h"
#include <stddef.h>
#include <sys/socket.h>

/* Waits until everything this process already sent on loopback has been processed by the
 * kernel: sends one datagram to a sentinel socket on loopback (family fam) and waits for
 * it.  Sound because the worker is pinned to one CPU, where the softirq backlog is one
 * FIFO (tests/test_delivery.c checks this).  0, or errno with why.  In a private namespace
 * the sentinel and the senders below are kept, on ports taken from the top of env's fresh
 * range; elsewhere each probe makes its own. */
int delivery_settle(int fam, struct bm_env *env, char *why, size_t whylen);

/* UDP: sends count datagrams to dst, each from a socket of its own port (from_fd < 0; the
 * first 64 of a probe from kept sockets where they can be, the rest from new ones bound to
 * port 0) or all from from_fd; settles; then drains every receiver rx[i] (-1 = none) without
 * blocking and stores how many of this probe's datagrams it got in received[i].
 * Multicast destinations go out on env's multicast interface, broadcast with SO_BROADCAST
 * from its IPv4 address.  *sent counts sendto() calls that succeeded.
 * Returns 0, or errno with why when the probe itself could not run. */
int delivery_udp(const struct sockaddr_storage *dst, socklen_t dstlen, int count, int from_fd,
                 struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
                 char *why, size_t whylen);

/* TCP: opens count connections to dst from fresh client sockets, waits until each either
 * connected or failed, settles, then accepts (without blocking) from every listening
 * receiver, counting per receiver.  Each accepted child is closed with a reset (SO_LINGER 0),
 * then each client: the probe leaves no TIME_WAIT behind.
 * *sent counts connections that did not fail at once. */
int delivery_tcp(const struct sockaddr_storage *dst, socklen_t dstlen, int count,
                 struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
                 char *why, size_t whylen);

/* Closes the kept sockets: the worker is about to enter another namespace. */
void delivery_forget(void);

#endif
