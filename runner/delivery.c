/* delivery.c — counting receipts without guessing how long to wait: every probe ends with a
 * sentinel datagram, which the kernel handles after everything sent before it. */
#include "delivery.h"
#include "addr.h"
#include "errnames.h"
#include "sockio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAGIC "bindmatrix-dg"

/* Each probe has its own generation, so a receiver never counts an older probe's data. */
static uint32_t generation;

struct payload {
    char magic[sizeof MAGIC];
    uint32_t gen;
    uint32_t seq;
};

static int fail(int e, char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "%s failed with %s", what, bm_result_name(e));
    return e;
}

static int bind_to(int fd, int fam, const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_numeric(text, fam == AF_INET6 ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4, 0, &ss, &len))
        return EINVAL;
    return bind(fd, (struct sockaddr *)&ss, len) < 0 ? errno : 0;
}

static const char *loopback_of(int fam)
{
    return fam == AF_INET6 ? "::1" : "127.0.0.1";
}

int delivery_settle(int fam, const struct bm_env *env, char *why, size_t whylen)
{
    int rx = socket(fam, SOCK_DGRAM, 0);
    int tx = socket(fam, SOCK_DGRAM, 0);
    int rc = 0;
    if (rx < 0 || tx < 0) {
        rc = fail(errno, why, whylen, "sentinel socket");
        goto out;
    }
    if ((rc = bind_to(rx, fam, loopback_of(fam)))) {
        fail(rc, why, whylen, "sentinel bind");
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(rx, (struct sockaddr *)&ss, &len) < 0) {
        rc = fail(errno, why, whylen, "sentinel getsockname");
        goto out;
    }
    if (sendto(tx, "s", 1, 0, (struct sockaddr *)&ss, len) < 0) {
        rc = fail(errno, why, whylen, "sentinel send");
        goto out;
    }
    if ((rc = sockio_wait_readable(rx, env->timeout_ms))) {
        snprintf(why, whylen, "the sentinel datagram did not arrive within %d ms",
                 env->timeout_ms);
        goto out;
    }
out:
    if (rx >= 0)
        close(rx);
    if (tx >= 0)
        close(tx);
    return rc;
}

enum cast { CAST_UNICAST, CAST_MULTICAST, CAST_BROADCAST };

static enum cast cast_of(const struct sockaddr_storage *dst, const struct bm_env *env)
{
    if (dst->ss_family == AF_INET6)
        return IN6_IS_ADDR_MULTICAST(&((const struct sockaddr_in6 *)dst)->sin6_addr)
                   ? CAST_MULTICAST : CAST_UNICAST;
    struct in_addr a = ((const struct sockaddr_in *)dst)->sin_addr, b;
    if (IN_MULTICAST(ntohl(a.s_addr)))
        return CAST_MULTICAST;
    if (a.s_addr == htonl(INADDR_BROADCAST) ||
        (env->broadcast_v4[0] && inet_pton(AF_INET, env->broadcast_v4, &b) == 1 &&
         b.s_addr == a.s_addr))
        return CAST_BROADCAST;
    return CAST_UNICAST;
}

/* A new sending socket, set up for the kind of destination. */
static int fresh_sender(int fam, enum cast cast, const struct bm_env *env, char *why,
                        size_t whylen)
{
    int fd = socket(fam, SOCK_DGRAM, 0);
    if (fd < 0)
        return -fail(errno, why, whylen, "sender socket");
    int rc = 0, on = 1;
    const char *what = "sender bind";
    if (cast == CAST_MULTICAST && fam == AF_INET) {
        struct in_addr ifa;
        inet_pton(AF_INET, env->mc_addr_v4, &ifa);
        if ((rc = bind_to(fd, fam, env->mc_addr_v4)) == 0 &&
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa) < 0) {
            rc = errno;
            what = "IP_MULTICAST_IF";
        }
    } else if (cast == CAST_MULTICAST) {
        unsigned idx = env->mc_ifindex;
        if (env->mc_addr_v6[0])
            rc = bind_to(fd, fam, env->mc_addr_v6);
        if (!rc && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) < 0) {
            rc = errno;
            what = "IPV6_MULTICAST_IF";
        }
    } else if (cast == CAST_BROADCAST) {
        if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) < 0) {
            rc = errno;
            what = "SO_BROADCAST";
        } else {
            rc = bind_to(fd, fam, env->broadcast_src_v4);
        }
    } else {
        rc = bind_to(fd, fam, fam == AF_INET6 ? "::" : "0.0.0.0");
    }
    if (rc) {
        close(fd);
        return -fail(rc, why, whylen, what);
    }
    return fd;
}

/* Reads everything queued on fd; counts the datagrams of probe gen. */
static int drain(int fd, uint32_t gen)
{
    int n = 0;
    for (;;) {
        struct payload p;
        ssize_t got = recv(fd, &p, sizeof p, MSG_DONTWAIT);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return n; /* EAGAIN: empty; anything else: nothing more to read either */
        }
        if ((size_t)got == sizeof p && memcmp(p.magic, MAGIC, sizeof MAGIC) == 0 &&
            p.gen == gen)
            n++;
    }
}

int delivery_udp(const struct sockaddr_storage *dst, socklen_t dstlen, int count, int from_fd,
                 const struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
                 char *why, size_t whylen)
{
    why[0] = '\0';
    *sent = 0;
    for (size_t i = 0; i < nrx; i++)
        received[i] = 0;
    uint32_t gen = ++generation;
    enum cast cast = cast_of(dst, env);
    int fam = dst->ss_family;
    for (int i = 0; i < count; i++) {
        struct payload p;
        memset(&p, 0, sizeof p);
        memcpy(p.magic, MAGIC, sizeof MAGIC);
        p.gen = gen;
        p.seq = (uint32_t)i;
        int fd = from_fd;
        if (fd < 0 && (fd = fresh_sender(fam, cast, env, why, whylen)) < 0)
            return -fd;
        if (sendto(fd, &p, sizeof p, 0, (const struct sockaddr *)dst, dstlen) == (ssize_t)sizeof p)
            (*sent)++;
        if (fd != from_fd)
            close(fd);
    }
    int rc = delivery_settle(fam, env, why, whylen);
    if (rc)
        return rc;
    for (size_t i = 0; i < nrx; i++)
        if (rx[i] >= 0)
            received[i] = drain(rx[i], gen);
    return 0;
}

static bool is_listening(int fd)
{
    int on = 0;
    socklen_t l = sizeof on;
    return fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) == 0 && on;
}

/* Accepts every queued connection on fd without blocking; returns how many. */
static int accept_all(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    (void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int n = 0;
    for (;;) {
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            break;
        }
        close(c);
        n++;
    }
    (void)fcntl(fd, F_SETFL, flags);
    return n;
}

int delivery_tcp(const struct sockaddr_storage *dst, socklen_t dstlen, int count,
                 const struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
                 char *why, size_t whylen)
{
    why[0] = '\0';
    *sent = 0;
    for (size_t i = 0; i < nrx; i++)
        received[i] = 0;
    if (count <= 0)
        return 0;
    struct pollfd *cl = calloc((size_t)count, sizeof *cl);
    if (!cl)
        return fail(ENOMEM, why, whylen, "allocation");
    int rc = 0, pending = 0;
    for (int i = 0; i < count; i++) {
        cl[i].fd = -1;
        int fd = socket(dst->ss_family, SOCK_STREAM, 0);
        if (fd < 0) {
            rc = fail(errno, why, whylen, "client socket");
            goto out;
        }
        cl[i].fd = fd;
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        if (connect(fd, (const struct sockaddr *)dst, dstlen) == 0) {
            (*sent)++;
        } else if (errno == EINPROGRESS) {
            (*sent)++;
            cl[i].events = POLLOUT;
            pending++;
        }
    }
    /* Wait until every handshake ended one way or the other (a SYN dropped by a full
     * backlog is retried by the kernel after a second; the timeout bounds that). */
    long long deadline = sockio_now_ms() + env->timeout_ms;
    while (pending > 0) {
        int n = poll(cl, (nfds_t)count, sockio_left_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (int i = 0; i < count; i++) {
            if (cl[i].events && cl[i].revents) {
                cl[i].events = 0;
                pending--;
            }
            cl[i].revents = 0;
        }
    }
    /* The server side creates the child when the client's final ACK arrives; settling
     * makes sure that ACK was processed before the queues are read. */
    if ((rc = delivery_settle(dst->ss_family, env, why, whylen)))
        goto out;
    for (size_t i = 0; i < nrx; i++)
        if (is_listening(rx[i]))
            received[i] = accept_all(rx[i]);
out:
    for (int i = 0; i < count; i++)
        if (cl[i].fd >= 0)
            close(cl[i].fd);
    free(cl);
    return rc;
}
