/* state.c — one builder per enum bm_state.  Builders never sleep: they wait on events with
 * env->timeout_ms, or (for kernel state with no event) re-check every millisecond until it. */
#include "state.h"
#include "errnames.h"
#include "names.h"
#include "sockio.h"
#include "tcpdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *state_name(enum bm_state st)
{
    return (unsigned)st <= BM_STATE_CLOSED ? bm_state_names[st] : "unknown";
}

static int fail(int e, char *why, size_t whylen, const char *what)
{
    snprintf(why, whylen, "%s failed with %s", what, bm_result_name(e));
    return e;
}

static int sock_type(int fd)
{
    int t = 0;
    socklen_t l = sizeof t;
    (void)getsockopt(fd, SOL_SOCKET, SO_TYPE, &t, &l);
    return t;
}

static int port_of(const struct sockaddr_storage *ss)
{
    return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
                                          : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* bind + getsockname; verifies the port is the one asked for (or any, for port 0). */
static int do_bind(int fd, const struct sockaddr *addr, socklen_t len,
                   struct sockaddr_storage *bound, char *why, size_t whylen)
{
    if (bind(fd, addr, len) < 0)
        return fail(errno, why, whylen, "bind");
    socklen_t bl = sizeof *bound;
    if (getsockname(fd, (struct sockaddr *)bound, &bl) < 0)
        return fail(errno, why, whylen, "getsockname");
    int want = port_of((const struct sockaddr_storage *)addr);
    int got = port_of(bound);
    if ((want && got != want) || got == 0) {
        snprintf(why, whylen, "bound port is %d, asked for %d", got, want);
        return EPROTO;
    }
    return 0;
}

static int do_listen(int fd, char *why, size_t whylen)
{
    if (listen(fd, SOMAXCONN) < 0)
        return fail(errno, why, whylen, "listen");
    int on = 0;
    socklen_t l = sizeof on;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l) < 0)
        return fail(errno, why, whylen, "getsockopt(SO_ACCEPTCONN)");
    if (!on) {
        snprintf(why, whylen, "SO_ACCEPTCONN is 0 after listen");
        return EPROTO;
    }
    return 0;
}

static int expect_established(int fd, const char *who, char *why, size_t whylen)
{
    enum bm_tcpstate st;
    int rc = tcpdiag_state(fd, &st);
    if (rc == ENOTSUP)
        return 0; /* no TCP_INFO state here: getpeername already held */
    if (rc)
        return fail(rc, why, whylen, "getsockopt(TCP_INFO)");
    if (st != BM_TCP_ESTABLISHED) {
        snprintf(why, whylen, "%s is not ESTABLISHED", who);
        return EPROTO;
    }
    return 0;
}

static void raise_proof(enum bm_tw_proof *proof, enum bm_tw_proof to)
{
    if (proof && *proof < to)
        *proof = to;
}

/* The two ends of a connection, as the TIME_WAIT socket will have them. */
struct connection {
    struct sockaddr_storage local, remote;
    bool known;
};

/* The helper's peer is the TIME_WAIT socket's own end; asked while the helper is still
 * connected (once CLOSED, getpeername fails). */
static void connection_of_helper(int helper, struct connection *c)
{
    socklen_t llen = sizeof c->local, rlen = sizeof c->remote;

    c->known = getpeername(helper, (struct sockaddr *)&c->local, &llen) == 0 &&
               getsockname(helper, (struct sockaddr *)&c->remote, &rlen) == 0 &&
               c->local.ss_family == c->remote.ss_family;
}

/* sock_diag lists a TIME_WAIT socket on port: the one of the helper's connection, asked for
 * exactly (its 4-tuple, from the helper's own ends), else any on the port (an IPv6 socket
 * that spoke IPv4, mapped, may be listed as AF_INET).  The exact lookup is what the kernel
 * can answer without walking every TIME_WAIT socket of the namespace; the dump stays as the
 * fallback, so what counts as proof is unchanged.  0, BM_R_TIMEOUT when it never does, or
 * the query's errno. */
static int listed_in_time_wait(const struct connection *tw, int port, int family,
                               long long deadline, char *why, size_t whylen)
{
    for (;;) {
        bool found = false;
        int rc = tw->known ? tcpdiag_timewait_exact(&tw->local, &tw->remote, &found) : 0;
        if (!rc && !found)
            rc = tcpdiag_timewait_on_port(family, port, &found);
        if (!rc && !found && family == AF_INET6)
            rc = tcpdiag_timewait_on_port(AF_INET, port, &found);
        if (rc)
            return rc;
        if (found)
            return 0;
        if (sockio_left_ms(deadline) == 0) {
            snprintf(why, whylen, "sock_diag lists no TIME_WAIT socket on port %d", port);
            return BM_R_TIMEOUT;
        }
        sockio_tick();
    }
}

/* The passive closer's part: read to the peer's FIN (EOF), send ours (shutdown, so the socket
 * can still be asked), and wait for the ACK of it: TCP state CLOSED.  0, ENOTSUP where no
 * TCP state can be asked (nothing shows the ACK came), BM_R_TIMEOUT, or an errno. */
static int answer_fin(int fd, long long deadline, const char *who, char *why, size_t whylen)
{
    char buf[64];
    for (;;) {
        int rc = sockio_wait_readable(fd, sockio_left_ms(deadline));
        if (rc)
            return fail(rc, why, whylen, "waiting for the FIN");
        ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0)
            break;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return fail(errno, why, whylen, "reading to EOF");
    }
    if (shutdown(fd, SHUT_WR) < 0)
        return fail(errno, why, whylen, "shutdown after EOF");

    for (;;) {
        enum bm_tcpstate st = BM_TCP_OTHER;
        int rc = tcpdiag_state(fd, &st);
        if (rc == ENOTSUP)
            return ENOTSUP;
        if (rc)
            return fail(rc, why, whylen, "getsockopt(TCP_INFO)");
        if (st == BM_TCP_CLOSED)
            return 0;
        if (sockio_left_ms(deadline) == 0) {
            snprintf(why, whylen, "%s never reached CLOSED (the ACK of its FIN not received)", who);
            return BM_R_TIMEOUT;
        }
        sockio_tick();
    }
}

/* The passive side of an active close: read the FIN, answer with ours, and wait for the
 * final ACK (TCP state CLOSED).  That ACK comes from the TIME_WAIT socket, so once it is
 * seen TIME_WAIT exists; sock_diag, where there is one, confirms it on the port.
 * shutdown, not close: a closed helper could not be asked. */
static int finish_passive_close(int peer, int port, int family, const struct bm_env *env,
                                enum bm_tw_proof *proof, char *why, size_t whylen)
{
    long long deadline = sockio_now_ms() + env->timeout_ms;
    struct connection tw;

    connection_of_helper(peer, &tw);
    int rc = answer_fin(peer, deadline, "the helper", why, whylen);
    if (rc == ENOTSUP) {
        /* without the helper's state nothing shows that the final ACK came back, so
         * nothing shows that TIME_WAIT exists: say so rather than guess */
        snprintf(why, whylen, "cannot verify TIME_WAIT on this OS (no TCP state query)");
        return ENOTSUP;
    }
    if (rc)
        return rc;

    /* No sock_diag here (the sandbox found none, or the query says there is none, as in
     * gVisor): the final ACK is the proof, and the run record says so. */
    rc = env->has[BM_CAP_SOCK_DIAG] ? listed_in_time_wait(&tw, port, family, deadline, why, whylen)
                                        : ENOTSUP;
    if (rc > 0 && tcpdiag_missing(rc)) {
        raise_proof(proof, BM_TW_FINAL_ACK);
        return 0;
    }
    if (rc > 0)
        return fail(rc, why, whylen, "sock_diag");
    if (rc == 0)
        raise_proof(proof, BM_TW_SOCK_DIAG);
    return rc; /* or BM_R_TIMEOUT, with why */
}

static int build_connected(int fd, const struct sockaddr_storage *bound,
                           const struct bm_env *env, struct bm_helpers *h, int *peer,
                           char *why, size_t whylen)
{
    int type = sock_type(fd);
    struct sockaddr_storage target;
    socklen_t tlen;
    int lfd = helpers_peer_for(h, type, bound->ss_family, bound, &target, &tlen);
    if (lfd < 0)
        return fail(-lfd, why, whylen, "helper peer");
    int rc = sockio_connect(fd, (struct sockaddr *)&target, tlen, env->timeout_ms);
    if (rc)
        return fail(rc, why, whylen, "connect");
    struct sockaddr_storage pa;
    socklen_t pl = sizeof pa;
    if (getpeername(fd, (struct sockaddr *)&pa, &pl) < 0)
        return fail(errno, why, whylen, "getpeername");
    *peer = -1;
    if (type != SOCK_STREAM)
        return 0;
    int child;
    if ((rc = sockio_accept(lfd, env->timeout_ms, &child)))
        return fail(rc, why, whylen, "helper accept");
    helpers_add(h, child);
    *peer = child;
    return expect_established(fd, "the connected socket", why, whylen);
}

/* bind, listen, a helper client connects, accept its child. */
static int build_accepted(int fd, const struct sockaddr_storage *bound,
                          const struct bm_env *env, struct bm_helpers *h, int *client,
                          int *child, char *why, size_t whylen)
{
    int rc = do_listen(fd, why, whylen);
    if (rc)
        return rc;
    if ((rc = helpers_client_to(h, bound, env->timeout_ms, client)))
        return fail(rc, why, whylen, "helper connect");
    if ((rc = sockio_accept(fd, env->timeout_ms, child)))
        return fail(rc, why, whylen, "accept");
    return 0;
}

/* The client closes first; the accepted child is the passive closer (CLOSE_WAIT, LAST_ACK)
 * and reaches CLOSED, so TIME_WAIT is on the client's port; then the listener closes. */
static int build_passive_close(int *fd, const struct sockaddr_storage *bound,
                               const struct bm_env *env, struct bm_helpers *h, char *why,
                               size_t whylen)
{
    int client = -1, child = -1;
    int rc = build_accepted(*fd, bound, env, h, &client, &child, why, whylen);
    if (rc)
        return rc;
    if (shutdown(client, SHUT_WR) < 0)
        rc = fail(errno, why, whylen, "shutdown of the helper client");
    else
        rc = answer_fin(child, sockio_now_ms() + env->timeout_ms, "the accepted child", why,
                        whylen);
    if (rc == ENOTSUP)
        snprintf(why, whylen, "cannot verify the passive close on this OS (no TCP state query)");
    close(child);
    close(*fd);
    *fd = -1;
    return rc;
}

int state_build(int *fd, enum bm_state st, const struct sockaddr *addr, socklen_t len,
                const struct bm_env *env, struct bm_helpers *h,
                struct sockaddr_storage *bound, enum bm_tw_proof *proof, char *why,
                size_t whylen)
{
    why[0] = '\0';
    int rc = do_bind(*fd, addr, len, bound, why, whylen);
    if (rc)
        return rc;
    int port = port_of(bound);
    int family = bound->ss_family;
    int peer = -1, client = -1, child = -1;

    switch (st) {
    case BM_STATE_BOUND:
        return 0;
    case BM_STATE_LISTENING:
        return do_listen(*fd, why, whylen);
    case BM_STATE_CONNECTED:
        return build_connected(*fd, bound, env, h, &peer, why, whylen);
    case BM_STATE_CLOSED:
        close(*fd);
        *fd = -1;
        return 0;
    case BM_STATE_TIME_WAIT_CLIENT:
        if ((rc = build_connected(*fd, bound, env, h, &peer, why, whylen)))
            return rc;
        if (peer < 0) {
            snprintf(why, whylen, "TIME_WAIT needs a TCP socket");
            return EPROTOTYPE;
        }
        close(*fd); /* the active close: this side ends in TIME_WAIT */
        *fd = -1;
        return finish_passive_close(peer, port, family, env, proof, why, whylen);
    case BM_STATE_TIME_WAIT_SERVER:
        if ((rc = build_accepted(*fd, bound, env, h, &client, &child, why, whylen)))
            return rc;
        close(child); /* the accepted child closes first: it ends in TIME_WAIT */
        close(*fd);
        *fd = -1;
        return finish_passive_close(client, port, family, env, proof, why, whylen);
    case BM_STATE_PASSIVE_CLOSE_SERVER:
        return build_passive_close(fd, bound, env, h, why, whylen);
    case BM_STATE_ESTABLISHED_CHILD:
        if ((rc = build_accepted(*fd, bound, env, h, &client, &child, why, whylen)))
            return rc;
        close(*fd); /* the listener goes; the child keeps the port */
        *fd = child;
        return expect_established(child, "the accepted child", why, whylen);
    }
    snprintf(why, whylen, "unknown state %d", (int)st);
    return EINVAL;
}
