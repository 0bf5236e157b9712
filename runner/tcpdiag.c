/* tcpdiag.c — TCP_INFO (Linux tcpi_state / FreeBSD TCPS_*) and NETLINK_SOCK_DIAG. */
#include "tcpdiag.h"
#include "config.h"
#include "errnames.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef HAVE_NETINET_TCP_FSM_H
#include <netinet/tcp_fsm.h> /* the BSDs' TCPS_* states */
#endif

/* One query, three spellings: the option, its struct, and the names of two of its states. */
#define TCP_STATE_QUERY(opt, info_type, established, closed)                                  \
    do {                                                                                       \
        info_type ti;                                                                          \
        socklen_t len = sizeof ti;                                                             \
        memset(&ti, 0, sizeof ti);                                                             \
        if (getsockopt(fd, IPPROTO_TCP, opt, &ti, &len) < 0)                                   \
            return errno;                                                                      \
        *st = ti.tcpi_state == (established) ? BM_TCP_ESTABLISHED                              \
            : ti.tcpi_state == (closed)      ? BM_TCP_CLOSED                                   \
                                             : BM_TCP_OTHER;                                   \
        return 0;                                                                              \
    } while (0)

int tcpdiag_state(int fd, enum bm_tcpstate *st)
{
#if defined(TCP_CONNECTION_INFO) && defined(TCPS_CLOSED) /* macOS; untested here */
    TCP_STATE_QUERY(TCP_CONNECTION_INFO, struct tcp_connection_info, TCPS_ESTABLISHED, TCPS_CLOSED);
#elif defined(TCP_INFO) && defined(TCPS_CLOSED) /* FreeBSD tcp_info; untested here */
    TCP_STATE_QUERY(TCP_INFO, struct tcp_info, TCPS_ESTABLISHED, TCPS_CLOSED);
#elif defined(TCP_INFO) /* Linux tcp_info, TCP_* states */
    TCP_STATE_QUERY(TCP_INFO, struct tcp_info, TCP_ESTABLISHED, TCP_CLOSE);
#else
    (void)fd, (void)st;
    return ENOTSUP;
#endif
}

#if defined(HAVE_LINUX_INET_DIAG_H)
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#ifndef TCP_TIME_WAIT_STATE
#define TCP_TIME_WAIT_STATE 6 /* include/net/tcp_states.h: TCP_TIME_WAIT */
#endif
#ifndef TCP_LISTEN_STATE
#define TCP_LISTEN_STATE 10 /* include/net/tcp_states.h: TCP_LISTEN */
#endif

/* The query socket, kept: one per namespace (it answers for the namespace it was made in),
 * so tcpdiag_forget() closes it when the worker enters another.  Each request has its own
 * sequence number; an answer to an older one is never taken for its own. */
static int diag_fd = -1;
static unsigned diag_seq;

void tcpdiag_forget(void)
{
    if (diag_fd >= 0)
        close(diag_fd);
    diag_fd = -1;
}

/* One SOCK_DIAG_BY_FAMILY request for TCP sockets in `state` and its answers: a dump
 * (NLM_F_DUMP, every such socket of the family, kept when its local port is `port`) or,
 * with id, the one socket of that 4-tuple, looked up by the kernel in its hash (a missing
 * socket is ENOENT there, which is "not found", not "no sock_diag": the sandbox's probe has
 * shown that sock_diag answers).  *call names the step that failed. */
static int diag_query(int family, int state, int port, const struct inet_diag_sockid *id,
                      bool *found, const char **call)
{
    *found = false;
    *call = "socket(AF_NETLINK, NETLINK_SOCK_DIAG)";
    if (diag_fd < 0) {
        diag_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        if (diag_fd < 0)
            return errno;
        /* the kernel answers at once; the bound keeps a stack that never does from hanging us */
        struct timeval tv = { .tv_sec = 2 };
        (void)setsockopt(diag_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    int fd = diag_fd;
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | (id ? 0 : NLM_F_DUMP);
    req.h.nlmsg_seq = ++diag_seq;
    req.r.sdiag_family = (unsigned char)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1u << state;
    if (id)
        req.r.id = *id;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    int rc = 0;
    *call = "sendto(SOCK_DIAG_BY_FAMILY)";
    if (sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = errno;
        goto out;
    }
    *call = "recv(SOCK_DIAG_BY_FAMILY)";
    for (;;) {
        long buf[8192 / sizeof(long)];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            goto out;
        }
        if (n == 0)
            goto out;
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (unsigned)n);
             m = NLMSG_NEXT(m, n)) {
            if (m->nlmsg_seq != req.h.nlmsg_seq)
                continue;   /* left over from an earlier request */
            if (m->nlmsg_type == NLMSG_DONE)
                goto out;
            if (m->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(m);
                *call = "the SOCK_DIAG_BY_FAMILY request";
                rc = id && e->error == -ENOENT ? 0 : -e->error;
                goto out;
            }
            struct inet_diag_msg *d = NLMSG_DATA(m);
            if (d->idiag_state == state && ntohs(d->id.idiag_sport) == port)
                *found = true; /* keep reading to the end so the dump is consumed */
            if (id)
                goto out; /* one socket, one answer: no NLMSG_DONE follows */
        }
    }
out:
    if (rc)
        tcpdiag_forget();   /* whatever is still queued goes with it */
    return rc;
}

/* addr's address into a sockid's 16-byte field, and its port; the family. */
static int sockid_half(const struct sockaddr_storage *addr, __be32 *out, __be16 *port)
{
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
        memcpy(out, &a->sin_addr, sizeof a->sin_addr);
        *port = a->sin_port;
    } else {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
        memcpy(out, &a->sin6_addr, sizeof a->sin6_addr);
        *port = a->sin6_port;
    }
    return addr->ss_family;
}

int tcpdiag_timewait_exact(const struct sockaddr_storage *local,
                           const struct sockaddr_storage *remote, bool *found)
{
    struct inet_diag_sockid id;
    const char *call;
    int family;

    memset(&id, 0, sizeof id);
    family = sockid_half(local, id.idiag_src, &id.idiag_sport);
    if (sockid_half(remote, id.idiag_dst, &id.idiag_dport) != family)
        return EINVAL;
    id.idiag_cookie[0] = id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    return diag_query(family, TCP_TIME_WAIT_STATE, ntohs(id.idiag_sport), &id, found, &call);
}

int tcpdiag_timewait_on_port(int family, int port, bool *found)
{
    const char *call;
    return diag_query(family, TCP_TIME_WAIT_STATE, port, NULL, found, &call);
}

/* A listener of our own, asked for by its address: the kernel's answer must name it.  An
 * exact lookup, not a dump, which would walk every bucket of the host's TCP hash (shared by
 * all namespaces: milliseconds), and it shows more: an answer, not just no error. */
int tcpdiag_probe(char *why, size_t whylen)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    struct inet_diag_sockid id;
    const char *call = "the probe's listener on 127.0.0.1";
    bool found = false;
    int rc = 0, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        rc = errno;
    if (!rc) {
        memset(&id, 0, sizeof id);
        memcpy(id.idiag_src, &a.sin_addr, sizeof a.sin_addr);
        id.idiag_sport = a.sin_port;
        memcpy(id.idiag_dst, &a.sin_addr, sizeof a.sin_addr); /* any peer finds a listener */
        id.idiag_dport = htons(9);
        id.idiag_cookie[0] = id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
        rc = diag_query(AF_INET, TCP_LISTEN_STATE, ntohs(a.sin_port), &id, &found, &call);
        if (!rc && !found) {
            call = "the SOCK_DIAG_BY_FAMILY request for the probe's own listener";
            rc = ENOENT;
        }
    }
    if (fd >= 0)
        close(fd);
    if (rc)
        snprintf(why, whylen, "%s failed with %s", call, errno_name(rc));
    return rc;
}

#else

int tcpdiag_timewait_exact(const struct sockaddr_storage *local,
                           const struct sockaddr_storage *remote, bool *found)
{
    (void)local, (void)remote;
    *found = false;
    return ENOTSUP;
}

int tcpdiag_timewait_on_port(int family, int port, bool *found)
{
    (void)family, (void)port;
    *found = false;
    return ENOTSUP;
}

void tcpdiag_forget(void)
{
}

int tcpdiag_probe(char *why, size_t whylen)
{
    snprintf(why, whylen, "no sock_diag on this OS");
    return ENOTSUP;
}

#endif

bool tcpdiag_missing(int err)
{
    /* ENOTSUP and EOPNOTSUPP are one number on some systems: a table, not a switch */
    static const int missing[] = { ENOENT, EPROTONOSUPPORT, EOPNOTSUPP, ENOTSUP, EAFNOSUPPORT };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        if (err == missing[i])
            return true;
    return false;
}
