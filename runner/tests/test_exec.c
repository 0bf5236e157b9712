#include "bm_testenv.h"
#include "errnames.h"
#include "exec.h"
#include "netcfg.h"
#include "results.h"
#include "sockio.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct bm_env env;

static void setup(void)
{
    bm_test_sandbox(&env);
}

TestSuite(exec, .init = setup);

/* ---- building cases by hand ---- */

static int add_socket(struct bm_case *c, const char *name, enum bm_proto p, enum bm_family f,
                      const char *opt)
{
    struct bm_socket *s = &c->sockets[c->nsockets];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->proto = p;
    s->family = f;
    if (opt) {
        snprintf(s->opts[0].name, sizeof s->opts[0].name, "%s", opt);
        s->opts[0].value = 1;
        s->nopts = 1;
    }
    return (int)c->nsockets++;
}

static struct bm_step *add_step(struct bm_case *c, enum bm_op op, int sock, const char *label,
                                const char *addr, int port)
{
    struct bm_step *st = &c->steps[c->nsteps++];
    st->op = op;
    st->sock = sock;
    snprintf(st->label, sizeof st->label, "%s", label);
    if (addr)
        snprintf(st->addr, sizeof st->addr, "%s", addr);
    if (port >= 0) {
        st->has_port = true;
        st->port.kind = port == 0 ? BM_PORT_ZERO : BM_PORT_FRESH;
        st->port.index = port;
    }
    return st;
}

static void run(const struct bm_case *given, struct bm_outcome *out)
{
    static struct bm_case c;

    /* deliver steps send in the first receiver's family and protocol, as the parser defaults */
    c = *given;
    for (size_t i = 0; i < c.nsteps; i++)
        if (c.steps[i].op == BM_OP_DELIVER && c.steps[i].nreceivers > 0) {
            c.steps[i].family = c.sockets[c.steps[i].receivers[0]].family;
            c.steps[i].proto = c.sockets[c.steps[i].receivers[0]].proto;
        }
    exec_case(&c, &env, out);
    if (out->status != BM_STATUS_OBSERVED)
        fprintf(stderr, "%s: %s\n", c.id, out->reason);
}

/* ---- tests ---- */

Test(exec, second_tcp_listener_without_options)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_LISTENING;
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 1);
    add_step(&c, BM_OP_LISTEN, b, "b.listen", NULL, -1);
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_eq(out.nsteps, 3);
    cr_assert_str_eq(out.steps[0].result, "ok");
    cr_assert_str_eq(out.steps[0].addr, "127.0.0.1");
    cr_assert_eq(out.steps[0].port, 10000);
    cr_assert_str_eq(out.steps[1].result, "EADDRINUSE");
    cr_assert_eq(out.steps[1].port, 10000);
    cr_assert_str_eq(out.steps[2].result, "not-run");
    cr_assert_eq(env.next_port, 10001, "one fresh port per placeholder");
}

Test(exec, reuseport_pair_and_udp_delivery)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV6, "reuseport");
    int b = add_socket(&c, "b", BM_PROTO_UDP, BM_FAMILY_IPV6, "reuseport");
    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_BOUND;
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 1);
    struct bm_step *d = add_step(&c, BM_OP_DELIVER, -1, "deliver", "loopback", 1);
    d->count = 40;
    strcpy(d->from, "fresh");
    d->nreceivers = 2;
    d->receivers[0] = a;
    d->receivers[1] = b;
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[1].result, "ok");
    cr_assert_str_eq(out.steps[2].result, "ok");
    const struct bm_delivery *dv = &out.steps[2].delivery;
    cr_assert(out.steps[2].has_delivery);
    cr_assert_eq(dv->sent, 40);
    cr_assert_str_eq(dv->to, "::1");
    cr_assert_eq(dv->nreceivers, 2);
    cr_assert_eq(dv->received[0] + dv->received[1], 40);
    cr_assert_gt(dv->received[0], 0, "reuseport spreads fresh source ports");
    cr_assert_gt(dv->received[1], 0);
}

Test(exec, tcp_delivery_connect_accept_and_port_zero)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, "reuseaddr");
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    int u = add_socket(&c, "u", BM_PROTO_UDP, BM_FAMILY_IPV6, NULL);
    add_step(&c, BM_OP_STATE, a, "a.state", "wildcard", 1)->state = BM_STATE_LISTENING;
    struct bm_step *d = add_step(&c, BM_OP_DELIVER, -1, "deliver", "loopback", 1);
    d->count = 3;
    d->nreceivers = 1;
    d->receivers[0] = a;
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 0);
    add_step(&c, BM_OP_CONNECT, b, "b.connect", "peer", -1);
    add_step(&c, BM_OP_CONNECT, u, "u.connect", "", -1);
    add_step(&c, BM_OP_ACCEPT, a, "a.accept", NULL, -1);
    static struct bm_outcome out;
    int saved = env.timeout_ms;
    env.timeout_ms = 300;   /* the accept at the end waits it out: no need for the default */
    run(&c, &out);
    env.timeout_ms = saved;
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_eq(out.steps[1].delivery.received[0], 3);
    cr_assert_str_eq(out.steps[2].result, "ok");
    cr_assert_gt(out.steps[2].port, 0, "port 0 is recorded as the kernel's choice");
    cr_assert_str_eq(out.steps[3].result, "ok");
    cr_assert_str_eq(out.steps[3].addr, "127.0.0.1");
    cr_assert_str_eq(out.steps[4].result, "ok");
    cr_assert_str_eq(out.steps[4].addr, "::1");
    /* All three delivered connections were accepted by the probe: nothing is pending, and
     * the wait running out is the runner's word, not an errno. */
    cr_assert_str_eq(out.steps[5].result, "timeout");
}

Test(exec, no_descriptor_leaks)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV6, "reuseaddr");
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV6, "reuseaddr");
    int u = add_socket(&c, "u", BM_PROTO_UDP, BM_FAMILY_IPV4, NULL);
    int e = add_socket(&c, "e", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_TIME_WAIT_SERVER;
    add_step(&c, BM_OP_STATE, b, "b.state", "loopback", 2)->state = BM_STATE_LISTENING;
    add_step(&c, BM_OP_STATE, e, "e.state", "loopback", 3)->state = BM_STATE_ESTABLISHED_CHILD;
    add_step(&c, BM_OP_STATE, u, "u.state", "loopback", 4)->state = BM_STATE_CONNECTED;
    add_step(&c, BM_OP_JOIN, u, "u.join", NULL, -1);
    struct bm_step *d = add_step(&c, BM_OP_DELIVER, -1, "deliver", "loopback", 2);
    d->count = 4;
    d->nreceivers = 1;
    d->receivers[0] = b;
    d = add_step(&c, BM_OP_DELIVER, -1, "deliver2", "loopback", 4);
    d->count = 4;
    strcpy(d->from, "peer");
    d->nreceivers = 1;
    d->receivers[0] = u;
    sandbox_forget_kept();  /* the sandbox's probe keeps its sock_diag socket */
    int before = sockio_count_fds();
    static struct bm_outcome out;
    run(&c, &out);
    /* the first case makes what the namespace keeps (the sentinels, the sock_diag socket);
     * no later one adds to it */
    int kept = sockio_count_fds();
    for (int i = 0; i < 4; i++) {
        run(&c, &out);
        cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    }
    cr_assert_eq(out.steps[5].delivery.received[0], 4);
    /* u is connected to its helper peer, and deliver2 came from that peer. */
    cr_assert_eq(out.steps[6].delivery.received[0], 4);
    cr_assert_eq(sockio_count_fds(), kept);

    /* ... and after an error half way. */
    static struct bm_case bad;
    int x = add_socket(&bad, "x", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&bad, BM_OP_STATE, x, "x.state", "loopback", 1)->state = BM_STATE_LISTENING;
    add_step(&bad, BM_OP_STATE, x, "x.state2", "loopback", 1)->state = BM_STATE_LISTENING;
    run(&bad, &out);
    cr_assert_eq(out.status, BM_STATUS_ERROR);
    cr_assert_eq(sockio_count_fds(), kept);
    sandbox_forget_kept();
    cr_assert_eq(sockio_count_fds(), before, "what was kept is closed when forgotten");
}

Test(exec, unavailable_option_is_skipped)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, "reuseport_lb");
    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 1);
    static struct bm_outcome out;
    run(&c, &out);
#ifndef SO_REUSEPORT_LB
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_not_null(strstr(out.reason, "reuseport_lb"), "%s", out.reason);
    cr_assert_str_eq(out.capability, "option:reuseport_lb");
    cr_assert_eq(out.nsteps, 0);
#else
    cr_assert_eq(out.status, BM_STATUS_OBSERVED);
#endif
}

Test(exec, other_user_without_root_is_skipped)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    c.sockets[a].user = BM_USER_OTHER;
    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 1);
    env.has[BM_CAP_OTHER_USER] = false;
    strcpy(env.why[BM_CAP_OTHER_USER], "not root");
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.reason, "needs root to act as a second user (not root)",
                     "the skip says why the sandbox has no other user");
    cr_assert_str_eq(out.capability, "other_user");
}

Test(exec, reuseport_across_users_is_refused)
{
    if (!env.has[BM_CAP_OTHER_USER])
        cr_skip_test("needs root");
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, "reuseport");
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, "reuseport");
    c.sockets[b].user = BM_USER_OTHER;
    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_LISTENING;
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 1);
    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 2); /* back as ourselves */
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[1].result, "EADDRINUSE");
    cr_assert_eq(geteuid(), 0, "the runner is itself again");
    cr_assert_eq(getegid(), 0);
    /* a.bind on a bound socket: EINVAL, the kernel's answer, recorded as observed. */
    cr_assert_str_eq(out.steps[2].result, "EINVAL");
}

Test(exec, unreachable_state_is_an_error)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_STATE, a, "a.state", "nonlocal", 1)->state = BM_STATE_TIME_WAIT_CLIENT;
    add_step(&c, BM_OP_LISTEN, a, "a.listen", NULL, -1);
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_ERROR);
    cr_assert_str_eq(out.reason,
                     "precondition: state time-wait-client not reached: bind failed with "
                     "EADDRNOTAVAIL");
}

Test(exec, failed_precondition_step_is_an_error)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_CONNECT, a, "a.connect", "loopback", 1)->precondition = true;
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_ERROR);
    cr_assert_str_eq(out.reason, "precondition: a.connect failed with ECONNREFUSED");
}

Test(exec, address_checks)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_BIND, a, "a.bind", "mapped-loopback", 1);
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_ERROR, "a case-file mistake, not a host limit");
    cr_assert_str_eq(out.capability, "", "an error lacks nothing of the host's");

    env.has[BM_CAP_LOCAL2_V6] = false;
    strcpy(env.why[BM_CAP_LOCAL2_V6], "bind to 2001:db8::2 failed with EADDRNOTAVAIL");
    static struct bm_case c2;
    a = add_socket(&c2, "a", BM_PROTO_UDP, BM_FAMILY_IPV6, NULL);
    add_step(&c2, BM_OP_BIND, a, "a.bind", "local2", 1);
    run(&c2, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.reason, "a.bind: no second local IPv6 address (local2) on this host "
                     "(bind to 2001:db8::2 failed with EADDRNOTAVAIL)");
    cr_assert_str_eq(out.capability, "local2_v6");

    /* only the family that lacks it is skipped */
    static struct bm_case c3;
    a = add_socket(&c3, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, NULL);
    add_step(&c3, BM_OP_BIND, a, "a.bind", "local2", 1);
    run(&c3, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
}

Test(exec, a_missing_multicast_skips_only_its_family_and_says_why)
{
    static struct bm_case c4, c6;
    static struct bm_outcome out;
    int a = add_socket(&c6, "a", BM_PROTO_UDP, BM_FAMILY_IPV6, NULL);
    add_step(&c6, BM_OP_BIND, a, "a.bind", "wildcard", 1);
    add_step(&c6, BM_OP_JOIN, a, "a.join", NULL, -1);
    a = add_socket(&c4, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, NULL);
    add_step(&c4, BM_OP_BIND, a, "a.bind", "wildcard", 1);
    add_step(&c4, BM_OP_JOIN, a, "a.join", NULL, -1);

    env.has[BM_CAP_MULTICAST_V6] = false;
    strcpy(env.why[BM_CAP_MULTICAST_V6], "on lo: sendto ff05::db8:0:1 failed with ENETUNREACH");
    run(&c6, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.reason, "a.join: no IPv6 multicast on this host "
                     "(on lo: sendto ff05::db8:0:1 failed with ENETUNREACH)");
    cr_assert_str_eq(out.capability, "multicast_v6");
    run(&c4, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[1].result, "ok");
}

Test(exec, time_wait_without_sock_diag_is_observed_on_the_final_ack)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, "reuseaddr");
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_TIME_WAIT_CLIENT;
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 1);

    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_eq(out.tw_proof, BM_TW_SOCK_DIAG, "sock_diag is there before it is taken away");
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_SOCK_DIAG, EPROTONOSUPPORT))
        cr_skip_test("no seccomp filter to take sock_diag away");
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_eq(out.tw_proof, BM_TW_FINAL_ACK);
    cr_assert_str_eq(out.steps[1].result, "EADDRINUSE", "the TIME_WAIT socket holds the port");
}

Test(exec, freebind_and_sysctl)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV6, "freebind");
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV6, NULL);
    add_step(&c, BM_OP_BIND, a, "a.bind", "nonlocal", 1);
    add_step(&c, BM_OP_BIND, b, "b.bind", "nonlocal", 2);
    c.nsysctls = 1;
    strcpy(c.sysctls[0].key, "net.ipv4.ip_autobind_reuse");
    strcpy(c.sysctls[0].value, "1");
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[0].result, "ok");
    cr_assert_str_eq(out.steps[0].addr, "2001:db8:1::1");
    cr_assert_str_eq(out.steps[1].result, "EADDRNOTAVAIL");
    char buf[8] = "";
    int fd = open("/proc/sys/net/ipv4/ip_autobind_reuse", O_RDONLY);
    cr_assert_gt(read(fd, buf, sizeof buf - 1), 0);
    close(fd);
    cr_assert_eq(buf[0], '0', "the sysctl was restored");

    strcpy(c.sysctls[0].key, "net.ipv4.no_such_sysctl");
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.capability, "sysctl:net.ipv4.no_such_sysctl");
}

/* ---- a skip names what the host lacks, as the run record and capabilities.yaml do ---- */

Test(exec, a_sysctl_case_without_a_namespace_is_skipped_for_netns)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);

    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 1);
    c.nsysctls = 1;
    strcpy(c.sysctls[0].key, "net.ipv4.ip_autobind_reuse");
    strcpy(c.sysctls[0].value, "1");
    env.has[BM_CAP_NETNS] = false;
    strcpy(env.why[BM_CAP_NETNS], "no network namespaces on this OS: running on the host's network");
    run(&c, &out);
    env.has[BM_CAP_NETNS] = true;
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.capability, "netns");
    cr_assert_not_null(strstr(out.reason, "sysctl cases need a private network namespace"), "%s",
                       out.reason);
}

Test(exec, an_option_set_by_a_step_names_the_option)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);

    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 1);
    struct bm_step *st = add_step(&c, BM_OP_SETSOCKOPT, a, "a.setsockopt", NULL, -1);
    strcpy(st->opts[0].name, "reuseshareuid");
    st->opts[0].value = 1;
    st->nopts = 1;
    run(&c, &out);
#ifndef SO_REUSESHAREUID
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.capability, "option:reuseshareuid");
#else
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.capability, "");
#endif
}

/* The case record carries it, only for a skip. */
Test(exec, the_case_record_names_the_capability_of_a_skip)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, "broadcast");

    snprintf(c.id, sizeof c.id, "udp/x");
    c.scenario = "udp/x";
    c.title = c.ref = "t";
    add_step(&c, BM_OP_BIND, a, "a.bind", "broadcast", 1);
    env.has[BM_CAP_BROADCAST] = false;
    strcpy(env.why[BM_CAP_BROADCAST], "on lo: adding 192.0.2.1/24 to lo failed with EOPNOTSUPP");
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    char *line = results_case_line(&c, &out, NULL);
    json_t *rec = json_loads(line, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "capability")), "broadcast", "%s", line);
    json_decref(rec);
    free(line);

    env.has[BM_CAP_BROADCAST] = true;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    line = results_case_line(&c, &out, NULL);
    rec = json_loads(line, 0, NULL);
    cr_assert_null(json_object_get(rec, "capability"), "%s", line);
    json_decref(rec);
    free(line);
}

/* A sandbox really without rtnetlink (as gVisor's): no veth pair, so IPv6 multicast is
 * missing, and a case joining an IPv6 group is skipped naming multicast_v6. */
Test(exec, a_capability_the_sandbox_could_not_set_up_is_named)
{
    static struct bm_case c;
    static struct bm_outcome out;
    struct bm_env bare;
    char err[2048] = "";

    if (geteuid() != 0)
        cr_skip_test("needs root for a bare network namespace");
    cr_assert_eq(unshare(CLONE_NEWNET), 0);
    cr_assert_eq(netcfg_link_up("lo", false), 0);
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_ROUTE, EOPNOTSUPP))
        cr_skip_test("no seccomp filter to take rtnetlink away");
    sandbox_defaults(&bare);
    bare.has[BM_CAP_NETNS] = true;
    bare.privileged = true;
    sandbox_probe(&bare, err, sizeof err);
    cr_assert_not(bare.has[BM_CAP_MULTICAST_V6]);

    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV6, NULL);
    add_step(&c, BM_OP_BIND, a, "a.bind", "wildcard", 1);
    add_step(&c, BM_OP_JOIN, a, "a.join", NULL, -1);
    exec_case(&c, &bare, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.capability, "multicast_v6");
    cr_assert_not_null(strstr(out.reason, bare.why[BM_CAP_MULTICAST_V6]), "%s", out.reason);
}

Test(exec, multicast_join_and_deliver)
{
    static struct bm_case c;
    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV6, "reuseaddr");
    int b = add_socket(&c, "b", BM_PROTO_UDP, BM_FAMILY_IPV6, "reuseaddr");
    add_step(&c, BM_OP_BIND, a, "a.bind", "wildcard", 1);
    add_step(&c, BM_OP_JOIN, a, "a.join", NULL, -1);
    add_step(&c, BM_OP_BIND, b, "b.bind", "group", 1);
    add_step(&c, BM_OP_JOIN, b, "b.join", NULL, -1);
    struct bm_step *d = add_step(&c, BM_OP_DELIVER, -1, "deliver", "group", 1);
    d->count = 6;
    d->nreceivers = 2;
    d->receivers[0] = a;
    d->receivers[1] = b;
    static struct bm_outcome out;
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    for (int i = 0; i < 4; i++)
        cr_assert_str_eq(out.steps[i].result, "ok", "step %d", i);
    cr_assert_str_eq(out.steps[4].delivery.to, "ff05::db8:0:1");
    cr_assert_eq(out.steps[4].delivery.received[0], 6);
    cr_assert_eq(out.steps[4].delivery.received[1], 6);
}

Test(exec, outside_a_namespace_fresh_ports_skip_ports_in_use)
{
    static struct bm_case c;
    static struct bm_outcome out;
    struct sockaddr_in held = {.sin_family = AF_INET, .sin_port = htons((uint16_t)env.next_port)};
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    int other = socket(AF_INET, SOCK_DGRAM, 0);
    int first = env.next_port;

    /* another program holds the next port (UDP, wildcard): a shared host must not use it */
    cr_assert_eq(bind(other, (struct sockaddr *)&held, sizeof held), 0);
    add_step(&c, BM_OP_BIND, a, "a.bind", "loopback", 1);
    env.has[BM_CAP_NETNS] = false;
    run(&c, &out);
    env.has[BM_CAP_NETNS] = true;
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[0].result, "ok");
    cr_assert_eq(out.steps[0].port, first + 1, "port %d is in use and must be skipped", first);
    close(other);
}

/* ---- outcomes the runner makes up carry their own words ---- */

Test(exec, a_step_on_a_closed_socket_is_no_socket)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int a = add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);
    int b = add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, NULL);

    add_step(&c, BM_OP_STATE, a, "a.state", "loopback", 1)->state = BM_STATE_CLOSED;
    add_step(&c, BM_OP_LISTEN, a, "a.listen", NULL, -1);
    add_step(&c, BM_OP_BIND, b, "b.bind", "loopback", 2);
    add_step(&c, BM_OP_CLOSE, b, "b.close", NULL, -1);
    add_step(&c, BM_OP_LISTEN, b, "b.listen", NULL, -1);
    run(&c, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[1].result, "no-socket", "closed by its state");
    cr_assert_str_eq(out.steps[3].result, "ok");
    cr_assert_str_eq(out.steps[4].result, "no-socket", "closed by a step");
}

Test(exec, an_address_missing_when_the_step_runs_is_no_address)
{
    static struct bm_case c;
    static struct bm_outcome out;
    char saved[sizeof env.mc_addr_v4];
    int a = add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, NULL);

    add_step(&c, BM_OP_BIND, a, "a.bind", "wildcard", 1);
    add_step(&c, BM_OP_JOIN, a, "a.join", NULL, -1);
    memcpy(saved, env.mc_addr_v4, sizeof saved);
    env.mc_addr_v4[0] = '\0'; /* the group resolves, the interface to join it on does not */
    run(&c, &out);
    memcpy(env.mc_addr_v4, saved, sizeof saved);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[0].result, "ok");
    cr_assert_str_eq(out.steps[1].result, "no-address");
}

Test(exec, a_connect_the_runner_waited_for_in_vain_is_a_timeout)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM, 0), fds[8], rc = 0, n = 0;

    /* a backlog of 0 holds one connection; later SYNs are dropped and retried after 1 s */
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(listen(l, 0), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    while (n < 8 && rc == 0) {
        fds[n] = socket(AF_INET, SOCK_STREAM, 0);
        rc = sockio_connect(fds[n++], (struct sockaddr *)&sa, sizeof sa, 200);
    }
    cr_assert_eq(rc, BM_R_TIMEOUT, "connect %d: %s", n, bm_result_name(rc));
    cr_assert_str_eq(bm_result_name(rc), "timeout");
    while (n > 0)
        close(fds[--n]);
    close(l);
}
