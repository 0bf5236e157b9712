#include "bm_testenv.h"
#include "addr.h"
#include "sockopts.h"
#include "state.h"
#include "tcpdiag.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct bm_env env;
static struct bm_helpers helpers;
static enum bm_tw_proof last_proof; /* what the last build() rested on */

static void setup(void)
{
    bm_test_sandbox(&env);
    helpers_init(&helpers);
}

static void teardown(void)
{
    helpers_close(&helpers);
}

TestSuite(state, .init = setup, .fini = teardown);

static int new_socket(enum bm_family fam, int type, bool reuseaddr)
{
    int fd = socket(fam == BM_FAMILY_IPV6 ? AF_INET6 : AF_INET, type, 0);
    cr_assert_geq(fd, 0);
    if (reuseaddr) {
        struct bm_opt o = { "reuseaddr", 1 };
        cr_assert_eq(sockopt_apply(fd, fam, &o), 0);
    }
    return fd;
}

/* Builds st on a fresh socket at name:port; returns the (possibly replaced) fd, and the
 * TIME_WAIT proof it rested on in last_proof. */
static int build(enum bm_state st, enum bm_family fam, int type, const char *name, int port,
                 bool reuseaddr)
{
    int fd = new_socket(fam, type, reuseaddr);
    struct sockaddr_storage ss, bound;
    socklen_t len;
    cr_assert_null(addr_resolve(name, fam, port, &env, &ss, &len));
    char why[256];
    last_proof = BM_TW_NONE;
    int rc = state_build(&fd, st, (struct sockaddr *)&ss, len, &env, &helpers, &bound,
                         &last_proof, why, sizeof why);
    cr_assert_eq(rc, 0, "state %s: %s", state_name(st), why);
    return fd;
}

/* What a second socket's bind on name:port says. */
static int try_bind(enum bm_family fam, int type, const char *name, int port, bool reuseaddr)
{
    int fd = new_socket(fam, type, reuseaddr);
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert_null(addr_resolve(name, fam, port, &env, &ss, &len));
    int rc = bind(fd, (struct sockaddr *)&ss, len) < 0 ? errno : 0;
    close(fd);
    return rc;
}

Test(state, bound_and_port_zero)
{
    int fd = build(BM_STATE_BOUND, BM_FAMILY_IPV4, SOCK_STREAM, "loopback", 0, false);
    struct sockaddr_storage ss;
    socklen_t l = sizeof ss;
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &l), 0);
    cr_assert_neq(((struct sockaddr_in *)&ss)->sin_port, 0);
    close(fd);
}

Test(state, listening)
{
    int fd = build(BM_STATE_LISTENING, BM_FAMILY_IPV6, SOCK_STREAM, "loopback", 10001, false);
    cr_assert_eq(try_bind(BM_FAMILY_IPV6, SOCK_STREAM, "loopback", 10001, true), EADDRINUSE);
    close(fd);
}

Test(state, listening_udp_is_an_error)
{
    int fd = new_socket(BM_FAMILY_IPV4, SOCK_DGRAM, false);
    struct sockaddr_storage ss, bound;
    socklen_t len;
    addr_resolve("loopback", BM_FAMILY_IPV4, 10002, &env, &ss, &len);
    char why[256];
    int rc = state_build(&fd, BM_STATE_LISTENING, (struct sockaddr *)&ss, len, &env, &helpers,
                         &bound, NULL, why, sizeof why);
    cr_assert_eq(rc, EOPNOTSUPP);
    cr_assert_str_eq(why, "listen failed with EOPNOTSUPP");
    close(fd);
}

Test(state, bind_failure_names_the_sub_step)
{
    int fd = new_socket(BM_FAMILY_IPV4, SOCK_STREAM, false);
    struct sockaddr_storage ss, bound;
    socklen_t len;
    addr_resolve("nonlocal", BM_FAMILY_IPV4, 10003, &env, &ss, &len);
    char why[256];
    int rc = state_build(&fd, BM_STATE_BOUND, (struct sockaddr *)&ss, len, &env, &helpers,
                         &bound, NULL, why, sizeof why);
    cr_assert_eq(rc, EADDRNOTAVAIL);
    cr_assert_str_eq(why, "bind failed with EADDRNOTAVAIL");
    close(fd);
}

Test(state, connected_tcp_and_udp)
{
    for (int f = 0; f < 2; f++) {
        enum bm_family fam = f ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4;
        int t = build(BM_STATE_CONNECTED, fam, SOCK_STREAM, "loopback", 10010 + f, false);
        int u = build(BM_STATE_CONNECTED, fam, SOCK_DGRAM, "local2", 10020 + f, false);
        struct sockaddr_storage pa;
        socklen_t pl = sizeof pa;
        cr_assert_eq(getpeername(t, (struct sockaddr *)&pa, &pl), 0);
        pl = sizeof pa;
        cr_assert_eq(getpeername(u, (struct sockaddr *)&pa, &pl), 0);
        close(t);
        close(u);
    }
}

Test(state, connected_on_mapped_address)
{
    int fd = build(BM_STATE_CONNECTED, BM_FAMILY_IPV6, SOCK_STREAM, "mapped-loopback", 10030,
                   false);
    close(fd);
}

/* Linux lets a new bind share the port with a TIME_WAIT socket only when both sockets set
 * SO_REUSEADDR: the TIME_WAIT socket keeps its owner's flag. */
static void check_time_wait(enum bm_state st, int base_port)
{
    for (int f = 0; f < 2; f++) {
        enum bm_family fam = f ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4;
        int port = base_port + f;
        int fd = build(st, fam, SOCK_STREAM, "loopback", port, true);
        cr_assert_eq(fd, -1);
        cr_assert_eq(last_proof, env.has[BM_CAP_SOCK_DIAG] ? BM_TW_SOCK_DIAG : BM_TW_FINAL_ACK);
        cr_assert_eq(try_bind(fam, SOCK_STREAM, "loopback", port, false), EADDRINUSE);
        cr_assert_eq(try_bind(fam, SOCK_STREAM, "loopback", port, true), 0);
#ifdef __linux__ /* the kernel's own rule is asserted here, not a feature */
        fd = build(st, fam, SOCK_STREAM, "loopback", port + 10, false);
        cr_assert_eq(try_bind(fam, SOCK_STREAM, "loopback", port + 10, true), EADDRINUSE);
#endif
    }
}

Test(state, time_wait_client)
{
    check_time_wait(BM_STATE_TIME_WAIT_CLIENT, 10100);
}

Test(state, time_wait_server)
{
    check_time_wait(BM_STATE_TIME_WAIT_SERVER, 10200);
}

Test(state, time_wait_client_on_mapped_address)
{
    int fd = build(BM_STATE_TIME_WAIT_CLIENT, BM_FAMILY_IPV6, SOCK_STREAM, "mapped-loopback",
                   10300, false);
    cr_assert_eq(fd, -1);
    cr_assert_eq(try_bind(BM_FAMILY_IPV4, SOCK_STREAM, "loopback", 10300, false), EADDRINUSE);
}

Test(state, time_wait_needs_tcp)
{
    int fd = new_socket(BM_FAMILY_IPV4, SOCK_DGRAM, false);
    struct sockaddr_storage ss, bound;
    socklen_t len;
    addr_resolve("loopback", BM_FAMILY_IPV4, 10301, &env, &ss, &len);
    char why[256];
    cr_assert_neq(state_build(&fd, BM_STATE_TIME_WAIT_CLIENT, (struct sockaddr *)&ss, len, &env,
                              &helpers, &bound, NULL, why, sizeof why), 0);
    if (fd >= 0)
        close(fd);
}

Test(state, passive_close_server_leaves_nothing_on_the_port)
{
    /* The client closed first: TIME_WAIT is on its port, so the server's port is free again
     * for a bind without any option, on both families. */
    for (int fam = BM_FAMILY_IPV4; fam <= BM_FAMILY_IPV6; fam++) {
        int port = 10500 + fam;
        int fd = build(BM_STATE_PASSIVE_CLOSE_SERVER, (enum bm_family)fam, SOCK_STREAM,
                       "loopback", port, false);
        cr_assert_eq(fd, -1, "the listener and its child are gone");
        cr_assert_eq(last_proof, BM_TW_NONE, "no TIME_WAIT is claimed on this port");
        cr_assert_eq(try_bind((enum bm_family)fam, SOCK_STREAM, "loopback", port, false), 0);
    }
}

Test(state, established_child)
{
    int port = 10400;
    int fd = build(BM_STATE_ESTABLISHED_CHILD, BM_FAMILY_IPV4, SOCK_STREAM, "wildcard", port,
                   true);
    cr_assert_geq(fd, 0);
    int on = 1;
    socklen_t l = sizeof on;
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &l), 0);
    cr_assert_eq(on, 0, "the case socket is now the child, not a listener");
    /* The child holds the port: a bind without SO_REUSEADDR fails, with it succeeds. */
    cr_assert_eq(try_bind(BM_FAMILY_IPV4, SOCK_STREAM, "wildcard", port, false), EADDRINUSE);
    cr_assert_eq(try_bind(BM_FAMILY_IPV4, SOCK_STREAM, "wildcard", port, true), 0);
    close(fd);
}

Test(state, closed_frees_the_port)
{
    int fd = build(BM_STATE_CLOSED, BM_FAMILY_IPV6, SOCK_STREAM, "loopback", 10500, false);
    cr_assert_eq(fd, -1);
    cr_assert_eq(try_bind(BM_FAMILY_IPV6, SOCK_STREAM, "loopback", 10500, false), 0);
}

#include "tcpdiag.h"

Test(state, sock_diag_sees_time_wait)
{
    bool found = true;
#ifdef __linux__
    cr_assert_eq(tcpdiag_timewait_on_port(AF_INET, 10600, &found), 0);
    cr_assert_not(found);
    build(BM_STATE_TIME_WAIT_CLIENT, BM_FAMILY_IPV4, SOCK_STREAM, "loopback", 10600, false);
    cr_assert_eq(tcpdiag_timewait_on_port(AF_INET, 10600, &found), 0);
    cr_assert(found);
#else
    (void)found;
#endif
}

Test(state, tcp_info_state)
{
    int fd = build(BM_STATE_CONNECTED, BM_FAMILY_IPV4, SOCK_STREAM, "loopback", 10601, false);
    enum bm_tcpstate st;
    int rc = tcpdiag_state(fd, &st);
    if (rc != ENOTSUP) {
        cr_assert_eq(rc, 0);
        cr_assert_eq(st, BM_TCP_ESTABLISHED);
    }
    close(fd);
}

/* ---- sock_diag missing when the case runs (gVisor: EPROTONOSUPPORT): the helper's final
 * ACK is the proof, and the case says it rested on that alone ---- */

Test(state, time_wait_without_sock_diag_at_run_time_rests_on_the_final_ack)
{
    cr_assert(env.has[BM_CAP_SOCK_DIAG], "the sandbox found sock_diag before the case ran");
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_SOCK_DIAG, EPROTONOSUPPORT))
        cr_skip_test("no seccomp filter to take sock_diag away");
    for (int st = BM_STATE_TIME_WAIT_CLIENT; st <= BM_STATE_TIME_WAIT_SERVER; st++) {
        int port = 10700 + st;
        int fd = build((enum bm_state)st, BM_FAMILY_IPV4, SOCK_STREAM, "loopback", port, false);
        cr_assert_eq(fd, -1);
        cr_assert_eq(last_proof, BM_TW_FINAL_ACK, "%s", state_name((enum bm_state)st));
        /* and the state is real: the port is held by a TIME_WAIT socket */
        cr_assert_eq(try_bind(BM_FAMILY_IPV4, SOCK_STREAM, "loopback", port, true), EADDRINUSE);
    }
}

Test(state, time_wait_without_sock_diag_in_the_sandbox_rests_on_the_final_ack)
{
    env.has[BM_CAP_SOCK_DIAG] = false;
    int fd = build(BM_STATE_TIME_WAIT_SERVER, BM_FAMILY_IPV6, SOCK_STREAM, "loopback", 10710, false);
    cr_assert_eq(fd, -1);
    cr_assert_eq(last_proof, BM_TW_FINAL_ACK);
}

Test(state, a_sock_diag_that_fails_is_still_an_error)
{
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_SOCK_DIAG, EACCES))
        cr_skip_test("no seccomp filter to make sock_diag fail");
    int fd = new_socket(BM_FAMILY_IPV4, SOCK_STREAM, false);
    struct sockaddr_storage ss, bound;
    socklen_t len;
    enum bm_tw_proof proof = BM_TW_NONE;
    char why[256];
    cr_assert_null(addr_resolve("loopback", BM_FAMILY_IPV4, 10720, &env, &ss, &len));
    cr_assert_eq(state_build(&fd, BM_STATE_TIME_WAIT_CLIENT, (struct sockaddr *)&ss, len, &env,
                             &helpers, &bound, &proof, why, sizeof why), EACCES);
    cr_assert_str_eq(why, "sock_diag failed with EACCES");
    cr_assert_eq(proof, BM_TW_NONE);
}

Test(state, which_errors_mean_no_sock_diag)
{
    static const int missing[] = { ENOENT, EPROTONOSUPPORT, EOPNOTSUPP, EAFNOSUPPORT };
    static const int failing[] = { EACCES, EPERM, ENOBUFS, EINVAL, 0 };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++)
        cr_assert(tcpdiag_missing(missing[i]), "%d", missing[i]);
    for (size_t i = 0; i < sizeof failing / sizeof failing[0]; i++)
        cr_assert_not(tcpdiag_missing(failing[i]), "%d", failing[i]);
}

/* The exact sock_diag lookup finds the TIME_WAIT socket of one connection by its 4-tuple,
 * and only that one (a dump was the only query before: it walks every TIME_WAIT socket). */
Test(state, time_wait_is_found_by_its_exact_4_tuple)
{
    struct sockaddr_in srv = {.sin_family = AF_INET, .sin_port = htons(10400)};
    struct sockaddr_storage local, remote, other;
    socklen_t len = sizeof local;
    int l = socket(AF_INET, SOCK_STREAM, 0), c = socket(AF_INET, SOCK_STREAM, 0), a;
    bool found = true;
    char buf[8];

    if (!env.has[BM_CAP_SOCK_DIAG])
        cr_skip_test("no sock_diag here");
    srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(l, (struct sockaddr *)&srv, sizeof srv), 0);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&srv, sizeof srv), 0);
    cr_assert((a = accept(l, NULL, NULL)) >= 0);
    cr_assert_eq(getsockname(c, (struct sockaddr *)&local, &len), 0);
    len = sizeof remote;
    cr_assert_eq(getpeername(c, (struct sockaddr *)&remote, &len), 0);
    close(c); /* the client closes first: its end goes to TIME_WAIT once the server closes */
    cr_assert_eq(recv(a, buf, sizeof buf, 0), 0);
    close(a);
    for (int i = 0; i < 200 && !(tcpdiag_timewait_exact(&local, &remote, &found) == 0 && found); i++)
        usleep(5000);
    cr_assert(found, "the client's TIME_WAIT socket was not found by its 4-tuple");
    other = remote;
    ((struct sockaddr_in *)&other)->sin_port = htons(10401);
    cr_assert_eq(tcpdiag_timewait_exact(&local, &other, &found), 0);
    cr_assert(!found, "another 4-tuple must not match");
    close(l);
}

/* The sandbox's sock_diag probe asks for a listener of its own by its address (one lookup,
 * not a dump of the host's whole TCP hash) and needs the answer to name it; without
 * sock_diag it fails naming the call, as the run record then says. */
Test(state, the_sock_diag_probe_finds_its_own_listener)
{
    char why[256] = "";

    cr_assert_eq(tcpdiag_probe(why, sizeof why), 0, "%s", why);
    cr_assert_str_eq(why, "");
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_SOCK_DIAG, EPROTONOSUPPORT))
        cr_skip_test("no seccomp filter to take sock_diag away");
    cr_assert_eq(tcpdiag_probe(why, sizeof why), EPROTONOSUPPORT);
    cr_assert_str_eq(why, "socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed with EPROTONOSUPPORT");
}

/* sock_diag answers for the namespace its socket was made in: the one kept for the queries
 * is made again in each namespace the process enters. */
Test(state, sock_diag_answers_in_each_namespace_entered)
{
    char why[256] = "";

    for (int ns = 0; ns < 2; ns++) {
        if (ns)
            bm_test_sandbox(&env);
        cr_assert_eq(tcpdiag_probe(why, sizeof why), 0, "namespace %d: %s", ns, why);
    }
}
