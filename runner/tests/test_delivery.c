#include "bm_testenv.h"
#include "addr.h"
#include "delivery.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct bm_env env;

static void setup(void)
{
    bm_test_sandbox(&env);
}

TestSuite(delivery, .init = setup);

static int udp_socket(enum bm_family fam, const char *name, int port, bool reuse)
{
    int fd = socket(fam == BM_FAMILY_IPV6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    int on = 1;
    if (reuse)
        cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    /* Room for the whole burst: a drop must never look like a late datagram. */
    int big = 16 << 20;
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big), 0);
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert_null(addr_resolve(name, fam, port, &env, &ss, &len));
    cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0, "bind %s: %s", name, strerror(errno));
    return fd;
}

/* The premise of delivery_settle: on one CPU, once the sentinel datagram has arrived,
 * everything sent before it has arrived too.  2000 datagrams, from the same socket and from
 * fresh ones, to two receivers, 20 rounds; nothing may trail the sentinel. */
Test(delivery, sentinel_orders_after_everything_sent_before, .timeout = 60)
{
    for (int f = 0; f < 2; f++) {
        enum bm_family fam = f ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4;
        int rx[2] = { udp_socket(fam, "loopback", 11000, false),
                      udp_socket(fam, "local2", 11000, false) };
        struct sockaddr_storage dst[2];
        socklen_t dl[2];
        addr_resolve("loopback", fam, 11000, &env, &dst[0], &dl[0]);
        addr_resolve("local2", fam, 11000, &env, &dst[1], &dl[1]);
        int tx = socket(dst[0].ss_family, SOCK_DGRAM, 0);
        for (int round = 0; round < 20; round++) {
            int sent[2] = { 0, 0 };
            for (int i = 0; i < 2000; i++) {
                int t = i % 7 == 0 ? socket(dst[0].ss_family, SOCK_DGRAM, 0) : tx;
                if (sendto(t, "x", 1, 0, (struct sockaddr *)&dst[i & 1], dl[i & 1]) == 1)
                    sent[i & 1]++;
                if (t != tx)
                    close(t);
            }
            char why[256];
            cr_assert_eq(delivery_settle(dst[0].ss_family, &env, why, sizeof why), 0, "%s", why);
            for (int r = 0; r < 2; r++) {
                int got = 0;
                char b[8];
                while (recv(rx[r], b, sizeof b, MSG_DONTWAIT) == 1)
                    got++;
                cr_assert_eq(got, sent[r], "round %d receiver %d: %d of %d before the sentinel",
                             round, r, got, sent[r]);
                cr_assert_eq(sent[r], 1000);
            }
        }
        close(tx);
        close(rx[0]);
        close(rx[1]);
    }
}

static void join(int fd, enum bm_family fam)
{
    struct sockaddr_storage g;
    socklen_t gl;
    cr_assert_null(addr_resolve("group", fam, 0, &env, &g, &gl));
    if (fam == BM_FAMILY_IPV4) {
        struct ip_mreqn m = { .imr_multiaddr = ((struct sockaddr_in *)&g)->sin_addr,
                              .imr_ifindex = (int)env.mc_ifindex };
        cr_assert_eq(setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m), 0,
                     "%s", strerror(errno));
    } else {
        struct ipv6_mreq m = { .ipv6mr_multiaddr = ((struct sockaddr_in6 *)&g)->sin6_addr,
                               .ipv6mr_interface = env.mc_ifindex };
        cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m), 0,
                     "%s", strerror(errno));
    }
}

Test(delivery, multicast_reaches_every_joined_socket)
{
    for (int f = 0; f < 2; f++) {
        enum bm_family fam = f ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4;
        int rx[3] = { udp_socket(fam, "wildcard", 11100, true),
                      udp_socket(fam, "group", 11100, true),
                      udp_socket(fam, "loopback", 11100, true) }; /* not joined, not group */
        join(rx[0], fam);
        join(rx[1], fam);
        struct sockaddr_storage dst;
        socklen_t dl;
        addr_resolve("group", fam, 11100, &env, &dst, &dl);
        int received[3], sent;
        char why[256];
        cr_assert_eq(delivery_udp(&dst, dl, 10, -1, &env, rx, 3, received, &sent, why,
                                  sizeof why), 0, "%s", why);
        cr_assert_eq(sent, 10);
        cr_assert_eq(received[0], 10, "family %d wildcard got %d", f, received[0]);
        cr_assert_eq(received[1], 10, "family %d group-bound got %d", f, received[1]);
        cr_assert_eq(received[2], 0);
        for (int i = 0; i < 3; i++)
            close(rx[i]);
    }
}

Test(delivery, broadcast_reaches_wildcard_and_broadcast_bound)
{
    int rx[3] = { udp_socket(BM_FAMILY_IPV4, "wildcard", 11200, true),
                  udp_socket(BM_FAMILY_IPV4, "broadcast", 11200, true),
                  udp_socket(BM_FAMILY_IPV4, "loopback", 11200, true) };
    struct sockaddr_storage dst;
    socklen_t dl;
    cr_assert_null(addr_resolve("broadcast", BM_FAMILY_IPV4, 11200, &env, &dst, &dl));
    int received[3], sent;
    char why[256];
    cr_assert_eq(delivery_udp(&dst, dl, 5, -1, &env, rx, 3, received, &sent, why, sizeof why),
                 0, "%s", why);
    cr_assert_eq(sent, 5);
    cr_assert_eq(received[0], 5);
    cr_assert_eq(received[1], 5);
    cr_assert_eq(received[2], 0);
    for (int i = 0; i < 3; i++)
        close(rx[i]);
}

Test(delivery, unicast_to_two_reuseaddr_sockets_reaches_one)
{
    int rx[2] = { udp_socket(BM_FAMILY_IPV4, "loopback", 11300, true),
                  udp_socket(BM_FAMILY_IPV4, "loopback", 11300, true) };
    struct sockaddr_storage dst;
    socklen_t dl;
    addr_resolve("loopback", BM_FAMILY_IPV4, 11300, &env, &dst, &dl);
    int received[2], sent;
    char why[256];
    cr_assert_eq(delivery_udp(&dst, dl, 20, -1, &env, rx, 2, received, &sent, why, sizeof why),
                 0, "%s", why);
    cr_assert_eq(sent, 20);
    cr_assert_eq(received[0] + received[1], 20);
    /* Linux: unicast goes to a single socket of the SO_REUSEADDR pair, not spread. */
    cr_assert(received[0] == 20 || received[1] == 20, "%d/%d", received[0], received[1]);
    for (int i = 0; i < 2; i++)
        close(rx[i]);
}

/* count datagrams to a new receiver on loopback:port (from `from`, or -1: the probe's own
 * senders); what it received. */
static int udp_to_one(enum bm_family fam, int port, int count, int from)
{
    int rx = udp_socket(fam, "loopback", port, false);
    struct sockaddr_storage dst;
    socklen_t dl;
    addr_resolve("loopback", fam, port, &env, &dst, &dl);
    int received, sent;
    char why[256];
    cr_assert_eq(delivery_udp(&dst, dl, count, from, &env, &rx, 1, &received, &sent, why,
                              sizeof why), 0, "%s", why);
    close(rx);
    return received;
}

Test(delivery, from_one_peer_socket)
{
    int peer = udp_socket(BM_FAMILY_IPV6, "loopback", 0, false);
    cr_assert_eq(udp_to_one(BM_FAMILY_IPV6, 11400, 7, peer), 7);
    close(peer);
}

static int tcp_listener(enum bm_family fam, const char *name, int port)
{
    int fd = socket(fam == BM_FAMILY_IPV6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
    struct sockaddr_storage ss;
    socklen_t len;
    cr_assert_null(addr_resolve(name, fam, port, &env, &ss, &len));
    cr_assert_eq(bind(fd, (struct sockaddr *)&ss, len), 0);
    cr_assert_eq(listen(fd, SOMAXCONN), 0);
    return fd;
}

/* TIME_WAIT sockets (state 06) in this process's namespace, IPv4. */
static int time_wait_sockets(void)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    char line[512];
    int n = 0;
    cr_assert_not_null(f);
    while (fgets(line, sizeof line, f)) {
        char st[8] = "";
        if (sscanf(line, " %*s %*s %*s %7s", st) == 1 && strcmp(st, "06") == 0)
            n++;
    }
    fclose(f);
    return n;
}

Test(delivery, tcp_connections_spread_over_reuseport_listeners)
{
    int rx[3] = { tcp_listener(BM_FAMILY_IPV4, "loopback", 11500),
                  tcp_listener(BM_FAMILY_IPV4, "loopback", 11500), -1 };
    struct sockaddr_storage dst;
    socklen_t dl;
    addr_resolve("loopback", BM_FAMILY_IPV4, 11500, &env, &dst, &dl);
    int received[3], sent;
    char why[256];
    cr_assert_eq(delivery_tcp(&dst, dl, 64, &env, rx, 3, received, &sent, why, sizeof why), 0,
                 "%s", why);
    cr_assert_eq(sent, 64);
    cr_assert_eq(received[0] + received[1], 64, "%d + %d", received[0], received[1]);
    cr_assert_gt(received[0], 0);
    cr_assert_gt(received[1], 0);
    cr_assert_eq(received[2], 0);
    /* the probe leaves nothing behind: each connection ended with the client's reset, so
     * this test's namespace has no TIME_WAIT socket, on either side */
    cr_assert_eq(time_wait_sockets(), 0);
    close(rx[0]);
    close(rx[1]);
    int again = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(11500),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(bind(again, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    close(again);
}

Test(delivery, tcp_refused_does_not_wait_for_the_timeout)
{
    int rx = -1;
    struct sockaddr_storage dst;
    socklen_t dl;
    addr_resolve("loopback", BM_FAMILY_IPV6, 11600, &env, &dst, &dl);
    int received, sent;
    char why[256];
    env.timeout_ms = 10000;
    cr_assert_eq(delivery_tcp(&dst, dl, 5, &env, &rx, 1, &received, &sent, why, sizeof why), 0);
    cr_assert_eq(received, 0);
}

static int try_udp_bind(int port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* The senders and sentinels a namespace keeps take their ports off the top of the fresh
 * range (so no case is given one), are made once, and still give each datagram of a probe
 * its own source port: the first 64 from kept sockets, the rest from new ones. */
Test(delivery, kept_senders_use_ports_no_case_is_given)
{
    int hi = env.port_hi;
    int rx = udp_socket(BM_FAMILY_IPV4, "loopback", 11500, false);
    struct sockaddr_storage dst;
    socklen_t dl;
    addr_resolve("loopback", BM_FAMILY_IPV4, 11500, &env, &dst, &dl);
    int sent;
    char why[256];
    for (int round = 0; round < 2; round++) {
        /* rx is no receiver of the probe: its datagrams wait there, with their sources */
        cr_assert_eq(delivery_udp(&dst, dl, 70, -1, &env, NULL, 0, NULL, &sent, why, sizeof why),
                     0, "%s", why);
        cr_assert_eq(sent, 70);
        cr_assert_eq(hi - env.port_hi, 2 + 64, "the sentinel pair and 64 senders, once");
        bool seen[65536] = {false};
        for (int i = 0; i < 70; i++) {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            char b[64];
            cr_assert_gt(recvfrom(rx, b, sizeof b, MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 0);
            int port = ntohs(from.sin_port);
            cr_assert_not(seen[port], "datagram %d: source port %d again", i, port);
            seen[port] = true;
            if (i < 64)
                cr_assert(port > env.port_hi && port <= hi, "kept sender on %d", port);
            else
                cr_assert(port > hi, "a new sender on %d, off the fresh range", port);
        }
    }
    /* a case's socket could not have that port */
    cr_assert_eq(try_udp_bind(hi), EADDRINUSE);
    close(rx);
}

/* Entering another namespace closes what the last one kept: a probe there is answered
 * there.  (A sender kept from the old one would send into the old one, and none would
 * arrive.) */
Test(delivery, a_new_namespace_makes_its_own_kept_sockets)
{
    for (int ns = 0; ns < 2; ns++) {
        if (ns)
            bm_test_sandbox(&env);
        int received = udp_to_one(BM_FAMILY_IPV6, 11600, 3, -1);
        cr_assert_eq(received, 3, "namespace %d: %d of 3", ns, received);
    }
}
