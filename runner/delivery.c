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
#include <sys/resource.h>
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

static const char *loopback_of(int fam)
{
    return fam == AF_INET6 ? "::1" : "127.0.0.1";
}

/* Sockets kept for the namespace's lifetime: making and closing two sockets per settle and
 * one per datagram was most of a delivery's cost.  Only in a private namespace, where their
 * ports come from the top of the fresh range (so no case ever binds one, and no ephemeral
 * port is held), and with descriptors to spare; elsewhere every probe makes its own, as
 * before.  delivery_forget() closes them when the process enters another namespace. */
#define KEPT_SENDERS 64
#define KEPT_FD_ROOM 4096
enum cast { CAST_UNICAST, CAST_MULTICAST, CAST_BROADCAST, CAST_COUNT };
static struct {
    int rx, tx;                         /* the sentinel pair; -1 = not made */
    struct sockaddr_storage at;         /* where rx is */
    socklen_t atlen;
    int senders[CAST_COUNT][KEPT_SENDERS];
    int nsenders[CAST_COUNT];
} kept[2] = {{.rx = -1, .tx = -1}, {.rx = -1, .tx = -1}};

static int kept_slot(int fam)
{
    return fam == AF_INET6;
}

static void close_pair(int *rx, int *tx)
{
    if (*rx >= 0)
        close(*rx);
    if (*tx >= 0)
        close(*tx);
    *rx = *tx = -1;
}

void delivery_forget(void)
{
    for (int k = 0; k < 2; k++) {
        close_pair(&kept[k].rx, &kept[k].tx);
        for (int c = 0; c < CAST_COUNT; c++) {
            for (int i = 0; i < kept[k].nsenders[c]; i++)
                close(kept[k].senders[c][i]);
            kept[k].nsenders[c] = 0;
        }
    }
}

/* Whether sockets are kept here: in a private namespace, with descriptors to spare (a TCP
 * probe holds up to 1000 connections at once; sandbox_raise_fd_limit() makes room where the
 * hard limit allows). */
static bool keeping(const struct bm_env *env)
{
    static int roomy = -1;
    if (roomy < 0) {
        struct rlimit l;
        roomy = getrlimit(RLIMIT_NOFILE, &l) == 0 &&
                (l.rlim_cur == RLIM_INFINITY || l.rlim_cur >= KEPT_FD_ROOM);
    }
    return env->has[BM_CAP_NETNS] && roomy;
}

/* A port no case will use, or 0 (then the socket binds port 0, as before). */
static int reserve_port(struct bm_env *env)
{
    if (!keeping(env) || env->port_hi < env->next_port)
        return 0;
    return env->port_hi--;
}

static int bind_port(int fd, int fam, const char *text, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (!addr_from_numeric(text, fam == AF_INET6 ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4, port, &ss, &len))
        return EINVAL;
    return bind(fd, (struct sockaddr *)&ss, len) < 0 ? errno : 0;
}

/* The sentinel pair: rx bound on loopback, at *at; tx to send from.  0 or errno, with why. */
static int sentinel_pair(int fam, struct bm_env *env, int *rx, int *tx,
                         struct sockaddr_storage *at, socklen_t *atlen, char *why, size_t whylen)
{
    *rx = socket(fam, SOCK_DGRAM, 0);
    *tx = socket(fam, SOCK_DGRAM, 0);
    int rc = 0;
    if (*rx < 0 || *tx < 0) {
        rc = fail(errno, why, whylen, "sentinel socket");
    } else if ((rc = bind_port(*rx, fam, loopback_of(fam), reserve_port(env)))) {
        fail(rc, why, whylen, "sentinel bind");
    } else if (keeping(env) && (rc = bind_port(*tx, fam, loopback_of(fam), reserve_port(env)))) {
        fail(rc, why, whylen, "sentinel sender bind");
    } else {
        *atlen = sizeof *at;
        if (getsockname(*rx, (struct sockaddr *)at, atlen) < 0)
            rc = fail(errno, why, whylen, "sentinel getsockname");
    }
    if (rc)
        close_pair(rx, tx);
    return rc;
}

int delivery_settle(int fam, struct bm_env *env, char *why, size_t whylen)
{
    bool keep = keeping(env);
    int own_rx = -1, own_tx = -1, *rx = &own_rx, *tx = &own_tx, rc;
    struct sockaddr_storage own_at, *at = &own_at;
    socklen_t own_len, *atlen = &own_len;
    if (keep) {
        int k = kept_slot(fam);
        rx = &kept[k].rx, tx = &kept[k].tx, at = &kept[k].at, atlen = &kept[k].atlen;
    }
    if (*rx < 0 && (rc = sentinel_pair(fam, env, rx, tx, at, atlen, why, whylen)))
        return rc;
    if (sendto(*tx, "s", 1, 0, (struct sockaddr *)at, *atlen) < 0) {
        rc = fail(errno, why, whylen, "sentinel send");
    } else if ((rc = sockio_wait_readable(*rx, env->timeout_ms))) {
        snprintf(why, whylen, "the sentinel datagram did not arrive within %d ms",
                 env->timeout_ms);
    } else {
        char one;  /* taken, so that the next settle waits for its own */
        ssize_t got;
        while ((got = recv(*rx, &one, 1, MSG_DONTWAIT)) < 0 && errno == EINTR)
            ;
        if (got != 1)
            rc = fail(got < 0 ? errno : EIO, why, whylen, "sentinel receive");
    }
    if (rc || !keep)
        close_pair(rx, tx); /* a kept pair that failed is made again: nothing late stays */
    return rc;
}

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
static int fresh_sender(int fam, enum cast cast, int port, const struct bm_env *env,
                        char *why, size_t whylen)
{
    int fd = socket(fam, SOCK_DGRAM, 0);
    if (fd < 0)
        return -fail(errno, why, whylen, "sender socket");
    int rc = 0, on = 1;
    const char *what = "sender bind";
    if (cast == CAST_MULTICAST && fam == AF_INET) {
        struct in_addr ifa;
        inet_pton(AF_INET, env->mc_addr_v4, &ifa);
        if ((rc = bind_port(fd, fam, env->mc_addr_v4, port)) == 0 &&
            setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa) < 0) {
            rc = errno;
            what = "IP_MULTICAST_IF";
        }
    } else if (cast == CAST_MULTICAST) {
        unsigned idx = env->mc_ifindex;
        rc = bind_port(fd, fam, env->mc_addr_v6[0] ? env->mc_addr_v6 : "::", port);
        if (!rc && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) < 0) {
            rc = errno;
            what = "IPV6_MULTICAST_IF";
        }
    } else if (cast == CAST_BROADCAST) {
        if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &on, sizeof on) < 0) {
            rc = errno;
            what = "SO_BROADCAST";
        } else {
            rc = bind_port(fd, fam, env->broadcast_src_v4, port);
        }
    } else {
        rc = bind_port(fd, fam, fam == AF_INET6 ? "::" : "0.0.0.0", port);
    }
    if (rc) {
        close(fd);
        return -fail(rc, why, whylen, what);
    }
    return fd;
}

/* The i-th datagram's sender: each of a probe's datagrams comes from its own source port.
 * A kept one where there can be (*made false), else one made for it (*made true, the
 * caller closes it).  A negative errno on failure. */
static int sender(int i, int fam, enum cast cast, struct bm_env *env, bool *made, char *why,
                  size_t whylen)
{
    int k = kept_slot(fam), *n = &kept[k].nsenders[cast];
    if (i < *n)
        return kept[k].senders[cast][i];
    int port = i == *n && i < KEPT_SENDERS ? reserve_port(env) : 0;
    int fd = fresh_sender(fam, cast, port, env, why, whylen);
    if (fd >= 0 && port)
        kept[k].senders[cast][(*n)++] = fd;
    *made = fd >= 0 && !port;
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
                 struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
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
        bool made = false;
        int fd = from_fd >= 0 ? from_fd : sender(i, fam, cast, env, &made, why, whylen);
        if (fd < 0)
            return -fd;
        if (sendto(fd, &p, sizeof p, 0, (const struct sockaddr *)dst, dstlen) == (ssize_t)sizeof p)
            (*sent)++;
        if (made)
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

/* Accepts every queued connection on fd without blocking and closes each child with a reset
 * (SO_LINGER 0): one RST ends the connection, where an orderly close is four segments and
 * leaves a TIME_WAIT socket on the receiver's port.  Returns how many. */
static int accept_all(int fd)
{
    struct linger reset = {.l_onoff = 1, .l_linger = 0};
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
        (void)setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        close(c);
        n++;
    }
    (void)fcntl(fd, F_SETFL, flags);
    return n;
}

int delivery_tcp(const struct sockaddr_storage *dst, socklen_t dstlen, int count,
                 struct bm_env *env, const int *rx, size_t nrx, int *received, int *sent,
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
#ifdef SOCK_NONBLOCK /* not on macOS */
        int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
#else
        int fd = socket(dst->ss_family, SOCK_STREAM, 0);
        if (fd >= 0)
            (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#endif
        if (fd < 0) {
            rc = fail(errno, why, whylen, "client socket");
            goto out;
        }
        cl[i].fd = fd;
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
    /* a client whose connection was accepted has had its reset: its close sends nothing */
    for (int i = 0; i < count; i++)
        if (cl[i].fd >= 0)
            close(cl[i].fd);
    free(cl);
    return rc;
}
