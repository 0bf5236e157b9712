#include "bm_testcase.h"
#include "bm_testenv.h"
#include "exec.h"
#include "sockopts.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* the same header sockopts.c takes IP_LOCAL_PORT_RANGE from */
#if !defined(IP_LOCAL_PORT_RANGE) && defined(__has_include)
#if __has_include(<linux/in.h>)
#include <linux/in.h>
#endif
#endif

static const char *const names[] = { "reuseaddr", "reuseport", "reuseport_lb",
                                     "reuseshareuid", "v6only", "freebind", "bindany",
                                     "broadcast", "multicast_all", "bind_address_no_port",
                                     "local_port_range", "bindtodevice" };

Test(sockopts, every_name_is_known)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert(sockopt_known(names[i]), "%s", names[i]);
    cr_assert_not(sockopt_known("reuse_addr"));
    cr_assert_not(sockopt_available("nonsense"));
}

Test(sockopts, availability_follows_the_headers)
{
    cr_assert(sockopt_available("reuseaddr"));
#ifdef SO_REUSEPORT
    cr_assert(sockopt_available("reuseport"));
#endif
#ifndef SO_REUSEPORT_LB
    cr_assert_not(sockopt_available("reuseport_lb"));
#endif
#ifndef SO_REUSESHAREUID
    cr_assert_not(sockopt_available("reuseshareuid"));
#endif
}

static int get_int(int fd, int level, int opt)
{
    int v = -1;
    socklen_t l = sizeof v;
    cr_assert_eq(getsockopt(fd, level, opt, &v, &l), 0);
    return v;
}

Test(sockopts, apply_sets_the_option)
{
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct bm_opt o = { "reuseaddr", 1 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &o), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
    struct bm_opt v6 = { "v6only", 0 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &v6), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 0);
    v6.value = 1;
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &v6), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
#ifdef IPV6_MULTICAST_ALL
    struct bm_opt ma = { "multicast_all", 0 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &ma), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL), 0);
#endif
    struct bm_opt bad = { "nonsense", 1 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &bad), EINVAL);
    close(fd);
}

Test(sockopts, family_specific_options_on_ipv4)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
#ifdef IP_FREEBIND
    struct bm_opt fb = { "freebind", 1 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV4, &fb), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_FREEBIND), 1);
#endif
#ifdef IP_MULTICAST_ALL
    struct bm_opt ma = { "multicast_all", 0 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV4, &ma), 0);
    cr_assert_eq(get_int(fd, IPPROTO_IP, IP_MULTICAST_ALL), 0);
#endif
    struct bm_opt br = { "broadcast", 1 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV4, &br), 0);
    cr_assert_eq(get_int(fd, SOL_SOCKET, SO_BROADCAST), 1);
    close(fd);
}

Test(sockopts, freebind_on_ipv6_binds_a_nonlocal_address)
{
    /* Only checks setsockopt; binding happens in test_exec inside a namespace. */
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    struct bm_opt fb = { "freebind", 1 };
    if (sockopt_available("freebind"))
        cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &fb), 0);
    close(fd);
}

struct seen { int n, available; bool reuseaddr; };

static void collect(const char *name, bool available, void *ctx)
{
    struct seen *s = ctx;
    s->n++;
    s->available += available;
    if (strcmp(name, "reuseaddr") == 0)
        s->reuseaddr = available;
    cr_assert(sockopt_known(name));
    cr_assert_eq(sockopt_available(name), available);
}

Test(sockopts, each_lists_every_option)
{
    struct seen s = { 0 };
    sockopt_each(collect, &s);
    cr_assert_eq(s.n, (int)(sizeof names / sizeof names[0]));
    cr_assert(s.reuseaddr);
    cr_assert_geq(s.available, 1);
}

/* ---- option values: integers, port ranges, interfaces ---- */

static int parsed(const char *name, const char *text)
{
    char err[256] = "";
    int v = -12345;
    cr_assert_eq(sockopt_parse_value(name, text, &v, err, sizeof err), 0, "%s=%s: %s", name,
                 text ? text : "(none)", err);
    return v;
}

static void refused(const char *name, const char *text, const char *needle)
{
    char err[256] = "";
    int v = 0;
    cr_assert_neq(sockopt_parse_value(name, text, &v, err, sizeof err), 0, "%s=%s accepted", name,
                  text ? text : "(none)");
    cr_assert(strstr(err, needle), "'%s' does not say '%s'", err, needle);
}

Test(sockopt_values, integers_as_before)
{
    cr_assert_eq(parsed("reuseaddr", NULL), 1);
    cr_assert_eq(parsed("v6only", "0"), 0);
    cr_assert_eq(parsed("multicast_all", "-1"), -1);
    cr_assert_eq(parsed("bind_address_no_port", NULL), 1);
    refused("v6only", "", "value must be an integer");
    refused("v6only", "yes", "option 'v6only=yes': value must be an integer");
    refused("v6only", "99999999999", "value must be an integer");
}

Test(sockopt_values, a_port_range_is_two_placeholders)
{
    cr_assert_eq(parsed("local_port_range", "P1-P1"), 1 | 1 << 8);
    cr_assert_eq(parsed("local_port_range", "P2-P9"), 2 | 9 << 8);
    cr_assert_eq(parsed("local_port_range", "E1-E1"), 11 | 11 << 8);
    cr_assert_eq(parsed("local_port_range", "E3-P4"), 13 | 4 << 8);
    cr_assert_eq(parsed("local_port_range", "0"), 0);
    static const char *const bad[] = { NULL, "", "1", "P1", "P1-", "-P1", "P0-P1", "P1-P10",
                                       "X1-X1", "p1-p1", "P1-P1-P1", "40000-40000", "E1 - E1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused("local_port_range", bad[i], "local_port_range=E1-E1");
}

Test(sockopt_values, an_interface_is_lo_or_veth)
{
    cr_assert_eq(parsed("bindtodevice", "lo"), 1);
    cr_assert_eq(parsed("bindtodevice", "veth"), 2);
    refused("bindtodevice", NULL, "bindtodevice=lo or bindtodevice=veth");
    refused("bindtodevice", "eth0", "'bindtodevice=eth0'");
    refused("bindtodevice", "1", "bindtodevice=lo");
    refused("bindtodevice", "", "bindtodevice=lo");
}

static void formats_as(const char *name, int value, const char *want)
{
    struct bm_opt o = { "", value };
    char buf[64];
    snprintf(o.name, sizeof o.name, "%s", name);
    sockopt_format(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, want);
}

Test(sockopt_values, format_writes_what_the_case_file_wrote)
{
    formats_as("v6only", 0, "v6only=0");
    formats_as("reuseaddr", 1, "reuseaddr=1");
    formats_as("local_port_range", 11 | 11 << 8, "local_port_range=E1-E1");
    formats_as("local_port_range", 2 | 13 << 8, "local_port_range=P2-E3");
    formats_as("local_port_range", 0, "local_port_range=0");
    formats_as("local_port_range", 77, "local_port_range=77"); /* not a code: shown raw */
    formats_as("bindtodevice", 1, "bindtodevice=lo");
    formats_as("bindtodevice", 2, "bindtodevice=veth");
    formats_as("bindtodevice", 7, "bindtodevice=7");
}

Test(sockopt_values, ports_and_the_veth_a_value_needs)
{
    struct sockopt_port p[2];
    struct bm_opt r = { "local_port_range", 12 | 3 << 8 };
    cr_assert_eq(sockopt_ports(&r, p), 2);
    cr_assert(p[0].ephemeral);
    cr_assert_eq(p[0].index, 2);
    cr_assert_not(p[1].ephemeral);
    cr_assert_eq(p[1].index, 3);
    struct bm_opt zero = { "local_port_range", 0 }, plain = { "reuseaddr", 1 | 1 << 8 };
    cr_assert_eq(sockopt_ports(&zero, p), 0);
    cr_assert_eq(sockopt_ports(&plain, p), 0, "only a port-range option names ports");
    struct bm_opt veth = { "bindtodevice", 2 }, lo = { "bindtodevice", 1 };
    cr_assert(sockopt_needs_veth(&veth));
    cr_assert_not(sockopt_needs_veth(&lo));
    cr_assert_not(sockopt_needs_veth(&plain));
}

Test(sockopt_values, the_parser_takes_the_new_value_forms)
{
    struct bm_case_list l;
    expand_text("title: t\nref: r\nsockets:\n"
                "  a: {proto: tcp, family: ipv6, options: [local_port_range=E1-E2, bind_address_no_port]}\n"
                "  b: {proto: udp, family: ipv4, options: bindtodevice=veth}\n"
                "steps:\n  - {op: bind, socket: a, addr: loopback, port: 0}\n"
                "  - {op: setsockopt, socket: b, options: [bindtodevice=lo, local_port_range=P1-P1]}\n",
                &l);
    cr_assert_eq(l.n, 1);
    const struct bm_case *c = &l.items[0];
    cr_assert_eq(c->sockets[0].nopts, 2);
    cr_assert_str_eq(c->sockets[0].opts[0].name, "local_port_range");
    cr_assert_eq(c->sockets[0].opts[0].value, 11 | 12 << 8);
    cr_assert_eq(c->sockets[0].opts[1].value, 1);
    cr_assert_eq(c->sockets[1].opts[0].value, 2);
    cr_assert_eq(c->steps[1].opts[0].value, 1);
    cr_assert_eq(c->steps[1].opts[1].value, 1 | 1 << 8);
    case_list_free(&l);
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4, options: local_port_range}}\n"
                 "steps: [{op: listen, socket: a}]\n",
                 "mem.yaml:3: field 'sockets.a.options': option 'local_port_range': the value is a range");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4, options: bindtodevice=eth0}}\n"
                 "steps: [{op: listen, socket: a}]\n",
                 "field 'sockets.a.options': option 'bindtodevice=eth0': the value is an interface");
    expect_error("title: t\nref: r\nsockets: {a: {proto: tcp, family: ipv4, options: v6only=x}}\n"
                 "steps: [{op: listen, socket: a}]\n",
                 "field 'sockets.a.options': option 'v6only=x': value must be an integer");
}

/* ---- applying them ---- */

Test(sockopts, bind_address_no_port_is_set_on_both_families)
{
    if (!sockopt_available("bind_address_no_port"))
        return;
#ifdef IP_BIND_ADDRESS_NO_PORT
    struct bm_opt o = { "bind_address_no_port", 1 };
    for (int f = 0; f < 2; f++) {
        int fd = socket(f ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
        cr_assert_geq(fd, 0);
        cr_assert_eq(sockopt_apply(fd, f ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4, &o), 0);
        cr_assert_eq(get_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT), 1);
        close(fd);
    }
#endif
}

Test(sockopts, local_port_range_packs_the_case_ports_low_first)
{
    int fresh[10] = { 0, 20001, 20005 }, eph[10] = { 0, 60999, 60990 };
    struct sockopt_ctx ctx = { fresh, eph, NULL };
    struct bm_opt o = { "local_port_range", 11 | 12 << 8 }; /* E1-E2: 60999 and 60990 */
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    if (!sockopt_available("local_port_range")) {
        cr_assert_eq(sockopt_apply_in(fd, BM_FAMILY_IPV6, &o, &ctx), ENOPROTOOPT);
        close(fd);
        return;
    }
    int rc = sockopt_apply_in(fd, BM_FAMILY_IPV6, &o, &ctx);
    if (rc == ENOPROTOOPT) { /* the headers have it, this kernel (before 6.3) does not */
        close(fd);
        return;
    }
    cr_assert_eq(rc, 0, "%s", strerror(rc));
#ifdef IP_LOCAL_PORT_RANGE
    unsigned v = 0;
    socklen_t l = sizeof v;
    cr_assert_eq(getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &l), 0);
    cr_assert_eq(v, 60990u | 60999u << 16, "lo is the lower port, whichever came first");
    struct bm_opt p = { "local_port_range", 2 | 1 << 8 }; /* P2-P1 */
    cr_assert_eq(sockopt_apply_in(fd, BM_FAMILY_IPV6, &p, &ctx), 0);
    cr_assert_eq(getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &l), 0);
    cr_assert_eq(v, 20001u | 20005u << 16);
    struct bm_opt zero = { "local_port_range", 0 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &zero), 0, "0 needs no ports");
    cr_assert_eq(getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &l), 0);
    cr_assert_eq(v, 0u);
#endif
    /* a port the case did not allocate, or no context at all: refused, never port 0 */
    struct bm_opt unset = { "local_port_range", 13 | 13 << 8 };
    cr_assert_eq(sockopt_apply_in(fd, BM_FAMILY_IPV6, &unset, &ctx), EINVAL);
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV6, &o), EINVAL);
    close(fd);
}

static void bound_device(int fd, char *buf, socklen_t len)
{
#ifdef SO_BINDTODEVICE
    memset(buf, 0, len);
    cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, buf, &len), 0);
#else
    (void)fd, (void)buf, (void)len;
#endif
}

Test(sockopts, bindtodevice_names_lo_or_the_veth_of_the_context)
{
    if (!sockopt_available("bindtodevice"))
        return;
    char dev[IF_NAMESIZE + 1];
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    struct bm_opt lo = { "bindtodevice", 1 }, veth = { "bindtodevice", 2 };
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV4, &lo), 0);
    bound_device(fd, dev, sizeof dev);
    cr_assert_str_eq(dev, "lo");
    cr_assert_eq(sockopt_apply(fd, BM_FAMILY_IPV4, &veth), EINVAL, "no context: no veth");
    struct sockopt_ctx none = { NULL, NULL, NULL };
    cr_assert_eq(sockopt_apply_in(fd, BM_FAMILY_IPV4, &veth, &none), EINVAL);
    struct sockopt_ctx missing = { NULL, NULL, "bm-not-there" };
    cr_assert_eq(sockopt_apply_in(fd, BM_FAMILY_IPV4, &veth, &missing), ENODEV);
    close(fd);
}

/* ---- through the executor, in a namespace ---- */

static struct bm_env env;

static void sandbox(void)
{
    bm_test_sandbox(&env);
}

static void add_socket(struct bm_case *c, const char *name, enum bm_proto p, enum bm_family f,
                       const char *opt, int value)
{
    struct bm_socket *s = &c->sockets[c->nsockets++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->proto = p;
    s->family = f;
    if (opt) {
        snprintf(s->opts[0].name, sizeof s->opts[0].name, "%s", opt);
        s->opts[0].value = value;
        s->nopts = 1;
    }
}

static void add_bind(struct bm_case *c, int sock, const char *label, const char *addr)
{
    struct bm_step *st = &c->steps[c->nsteps++];
    st->op = BM_OP_BIND;
    st->sock = sock;
    snprintf(st->label, sizeof st->label, "%s", label);
    snprintf(st->addr, sizeof st->addr, "%s", addr);
    st->has_port = true;
    st->port.kind = BM_PORT_ZERO;
}

Test(sockopt_exec, a_one_port_range_inside_the_ephemeral_range_is_exhausted, .init = sandbox)
{
    static struct bm_case c;
    static struct bm_outcome out;
    int range = 11 | 11 << 8; /* E1-E1 */
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "special/x");
    add_socket(&c, "a", BM_PROTO_TCP, BM_FAMILY_IPV4, "local_port_range", range);
    add_socket(&c, "b", BM_PROTO_TCP, BM_FAMILY_IPV4, "local_port_range", range);
    add_bind(&c, 0, "a.bind", "loopback");
    add_bind(&c, 1, "b.bind", "loopback");
    exec_case(&c, &env, &out);
    if (!sockopt_available("local_port_range"))
        return;
    if (out.status == BM_STATUS_SKIPPED && strstr(out.reason, "not supported by this kernel")) {
        cr_assert_str_eq(out.capability, "option:local_port_range");
        return; /* a kernel before 6.3 */
    }
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[0].result, "ok");
    cr_assert_str_eq(out.steps[1].result, "EADDRINUSE");
    int lo = 0, hi = 0;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    cr_assert(f && fscanf(f, "%d %d", &lo, &hi) == 2);
    fclose(f);
    cr_assert(out.steps[0].port >= lo && out.steps[0].port <= hi, "port %d", out.steps[0].port);
    int first = out.steps[0].port;

    /* the next case gets another port, lower down, never one in use */
    exec_case(&c, &env, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_lt(out.steps[0].port, first);
    cr_assert_geq(out.steps[0].port, lo);
}

Test(sockopt_exec, a_failing_option_is_named_as_written, .init = sandbox)
{
    static struct bm_case c;
    static struct bm_outcome out;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "special/x");
    add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, "v6only", 0);
    add_bind(&c, 0, "a.bind", "loopback");
    exec_case(&c, &env, &out);
    cr_assert_eq(out.status, BM_STATUS_ERROR);
    cr_assert(strstr(out.reason, "option v6only=0 on socket a failed with "), "%s", out.reason);
}

Test(sockopt_exec, bindtodevice_veth_without_the_veth_is_skipped_for_it, .init = sandbox)
{
    static struct bm_case c;
    static struct bm_outcome out;
    if (!sockopt_available("bindtodevice"))
        return;
    memset(&c, 0, sizeof c);
    snprintf(c.id, sizeof c.id, "special/x");
    add_socket(&c, "a", BM_PROTO_UDP, BM_FAMILY_IPV4, "bindtodevice", 2);
    add_bind(&c, 0, "a.bind", "wildcard");
    if (env.has[BM_CAP_VETH]) {
        exec_case(&c, &env, &out);
        cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
        cr_assert_str_eq(out.steps[0].result, "ok");
    }
    env.has[BM_CAP_VETH] = false;
    snprintf(env.why[BM_CAP_VETH], sizeof env.why[BM_CAP_VETH], "taken away by the test");
    exec_case(&c, &env, &out);
    cr_assert_eq(out.status, BM_STATUS_SKIPPED);
    cr_assert_str_eq(out.capability, "veth");
    cr_assert(strstr(out.reason, "option bindtodevice=veth needs the runner's veth interface"),
              "%s", out.reason);
}

Test(sockopts, only_an_option_the_kernel_lacks_is_absent_from_it)
{
    /* v6only answers ENOPROTOOPT on an AF_INET socket, yet this kernel has it: asked on the
     * family of its level, the kernel says so */
    if (sockopt_available("v6only"))
        cr_assert_not(sockopt_absent_from_kernel("v6only"));
    cr_assert_not(sockopt_absent_from_kernel("reuseaddr"));
    cr_assert_not(sockopt_absent_from_kernel("no-such-option"));
#ifdef IP_LOCAL_PORT_RANGE
    if (sockopt_available("local_port_range")) {
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        unsigned v = 0;
        socklen_t l = sizeof v;
        bool lacks = getsockopt(fd, IPPROTO_IP, IP_LOCAL_PORT_RANGE, &v, &l) < 0;
        close(fd);
        cr_assert_eq(sockopt_absent_from_kernel("local_port_range"), lacks);
    }
#endif
}
