/* helpers.h — sockets the runner makes for a case (helper listeners, peers, clients,
 * accepted children): they live until the case ends and are closed together. */
#ifndef BM_HELPERS_H
#define BM_HELPERS_H

#include <stdbool.h>
#include <sys/socket.h>

#define BM_MAX_HELPERS 64

struct bm_helpers {
    int fd[BM_MAX_HELPERS];
    int n;
    /* The case's helper peers, one per [TCP/UDP][IPv4/IPv6], made on first use, so a
     * `connected` state, a `connect` to peer and a `from: peer` probe all meet the same one. */
    struct { int fd; struct sockaddr_storage addr; } peer[2][2];
};

void helpers_init(struct bm_helpers *h);

/* Takes ownership of fd.  Returns fd, or -1 (fd closed, errno EMFILE) when full. */
int helpers_add(struct bm_helpers *h, int fd);

void helpers_close(struct bm_helpers *h);

/* The address a new socket should connect to in order to reach the socket bound at local:
 * the wildcard becomes loopback, the IPv4-mapped wildcard the mapped loopback. */
void helpers_reachable(const struct sockaddr_storage *local, struct sockaddr_storage *target,
                       socklen_t *len);

/* The case's helper peer that a socket of `family` bound at `local` (its getsockname; NULL
 * or family AF_UNSPEC when unbound) can connect to: a listening TCP socket (sotype
 * SOCK_STREAM) or a bound UDP socket on loopback, IPv4 when family is AF_INET or local is
 * IPv4-mapped; made on first use.  *target is where to connect (mapped when local is
 * mapped).  Returns the helper's fd or -errno. */
int helpers_peer_for(struct bm_helpers *h, int sotype, int family,
                     const struct sockaddr_storage *local,
                     struct sockaddr_storage *target, socklen_t *tlen);

/* A helper client connected (waiting up to timeout_ms) to the socket bound at `local`, in
 * *fd.  Returns 0, an errno, or BM_R_TIMEOUT (sockio_connect). */
int helpers_client_to(struct bm_helpers *h, const struct sockaddr_storage *local, int timeout_ms,
                      int *fd);

#endif
