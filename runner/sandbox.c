/* sandbox.c — namespace entry and the capability probes for the worker.  Every capability
 * is probed on its own, by doing what the cases will do (bind the address, deliver a
 * datagram), so what the run record says the sandbox has is what the cases find. */
#include "sandbox.h"
#include "addr.h"
#include "config.h"
#include "delivery.h"
#include "errnames.h"
#include "netcfg.h"
#include "sockio.h"
#include "tcpdiag.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fresh ports sit below the ephemeral range (Linux default 32768..60999), so an autobound
 * or connecting socket never takes a port a later case expects to be free. */
#define BM_FRESH_LO 10000
#define BM_FRESH_HI 32767
#define BM_PRIV_LO 600
#define BM_PRIV_HI 1023

/* A probe's own datagram on a local interface arrives in microseconds: this bound is only
 * reached when it is never delivered. */
#define PROBE_WAIT_MS 500
#define PROBE_MAGIC "bindmatrix-probe"

/* The documentation addresses the sandbox puts on its interfaces (cases/README.md). */
#define NET_V4 "192.0.2.1"
#define BRD_V4 "192.0.2.255"
#define NET_V6 "2001:db8::1"
#define LOCAL2_V4 "127.0.0.2"
#define LOCAL2_V6 "2001:db8::2"

/* "lo" on Linux, "lo0" on the BSDs and macOS. */
static const char *loopback_name(void)
{
    static const char *const names[] = { "lo", "lo0" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (if_nametoindex(names[i]))
            return names[i];
    return names[0];
}

void sandbox_defaults(struct bm_env *env)
{
    memset(env, 0, sizeof *env);
    env->timeout_ms = 2000;
    env->other_uid = 65534;
    env->other_gid = 65534;
    env->privileged = geteuid() == 0;
    env->next_port = BM_FRESH_LO;
    env->port_hi = BM_FRESH_HI;
    env->next_priv_port = BM_PRIV_LO;
    env->priv_port_hi = BM_PRIV_HI;
    snprintf(env->mc_addr_v4, sizeof env->mc_addr_v4, "127.0.0.1");
    env->mc_ifindex = if_nametoindex(loopback_name());
}

/* Appends "; msg" to buf so every attempt is reported, not just the last. */
static void note(char *buf, size_t len, const char *fmt, ...)
{
    if (!buf || !len)
        return;
    size_t used = strlen(buf);
    if (used && used + 2 < len) {
        strcpy(buf + used, "; ");
        used += 2;
    }
    if (used >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, len - used, fmt, ap);
    va_end(ap);
}

/* rc unchanged; a failure is noted as "<what> failed with <ENAME>". */
static int failed(int rc, char *why, size_t len, const char *what)
{
    if (rc)
        note(why, len, "%s failed with %s", what, errno_name(rc));
    return rc;
}

static enum bm_family fam_of(const char *addr)
{
    return strchr(addr, ':') ? BM_FAMILY_IPV6 : BM_FAMILY_IPV4;
}

static bool link_is_up(const char *ifname)
{
#ifdef SIOCGIFFLAGS
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return false;
    bool up = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
    close(fd);
    return up;
#else
    return if_nametoindex(ifname) != 0;
#endif
}

/* A datagram socket bound to addr:0 (NULL: not bound); -errno on failure, noted in why. */
static int dgram_socket(const char *addr, enum bm_family fam, char *why, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd = socket(fam == BM_FAMILY_IPV6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -failed(errno, why, len, "socket()");
    int e = !addr ? 0
          : !addr_from_numeric(addr, fam, 0, &ss, &sl) ? EINVAL
          : bind(fd, (struct sockaddr *)&ss, sl) < 0   ? errno
                                                        : 0;
    if (e) {
        note(why, len, "bind to %s failed with %s", addr, errno_name(e));
        close(fd);
        return -e;
    }
    return fd;
}

/* 0 when a datagram socket can bind addr (port 0), else the errno. */
static int bind_error(const char *addr)
{
    char why[8] = "";
    int fd = dgram_socket(addr, fam_of(addr), why, sizeof why);
    if (fd < 0)
        return -fd;
    close(fd);
    return 0;
}

/* Sends one datagram from tx to dst, at rx's port, and waits (bounded) for it on rx. */
static int round_trip(int rx, int tx, const char *dst, char *why, size_t len)
{
    struct sockaddr_storage ss, to;
    socklen_t sl = sizeof ss, tl;
    char got[sizeof PROBE_MAGIC];
    enum bm_family fam = fam_of(dst);

    if (getsockname(rx, (struct sockaddr *)&ss, &sl) < 0)
        return failed(errno, why, len, "getsockname");
    int port = ntohs(fam == BM_FAMILY_IPV6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    if (!addr_from_numeric(dst, fam, port, &to, &tl))
        return failed(EINVAL, why, len, "parsing the destination");
    if (sendto(tx, PROBE_MAGIC, sizeof PROBE_MAGIC, 0, (struct sockaddr *)&to, tl) < 0) {
        int e = errno;
        note(why, len, "sendto %s failed with %s", dst, errno_name(e));
        return e;
    }
    if (sockio_wait_readable(rx, PROBE_WAIT_MS) != 0 ||
        recv(rx, got, sizeof got, MSG_DONTWAIT) != (ssize_t)sizeof got ||
        memcmp(got, PROBE_MAGIC, sizeof got) != 0) {
        note(why, len, "a datagram sent to %s did not arrive within %d ms", dst, PROBE_WAIT_MS);
        return ETIMEDOUT;
    }
    return 0;
}

/* setsockopt, its failure noted as "setsockopt NAME failed with E...". */
static int set_opt(int fd, int level, int opt, const void *val, socklen_t vlen,
                   const char *name, char *why, size_t len)
{
    char what[64];
    if (setsockopt(fd, level, opt, val, vlen) == 0)
        return 0;
    int e = errno;
    snprintf(what, sizeof what, "setsockopt %s", name);
    return failed(e, why, len, what);
}

/* A receiver on the wildcard that joined the group on the interface (IPv4: by its address
 * src; IPv6: by its index), a sender bound to src that sends there, one datagram between. */
static int multicast_trip(enum bm_family fam, const char *src, unsigned ifindex, char *why,
                          size_t len)
{
    const char *group = addr_literal("group", fam);
    struct sockaddr_storage g, ifa;
    socklen_t gl, il;
    int rc, rx = -1, tx = -1;

    if ((rx = dgram_socket(fam == BM_FAMILY_IPV6 ? "::" : "0.0.0.0", fam, why, len)) < 0 ||
        (tx = dgram_socket(src[0] ? src : NULL, fam, why, len)) < 0) {
        rc = rx < 0 ? -rx : -tx;
        goto out;
    }
    addr_from_numeric(group, fam, 0, &g, &gl);
    if (fam == BM_FAMILY_IPV4) {
        struct ip_mreq m;
        memset(&m, 0, sizeof m);
        addr_from_numeric(src, fam, 0, &ifa, &il);
        m.imr_multiaddr = ((struct sockaddr_in *)&g)->sin_addr;
        m.imr_interface = ((struct sockaddr_in *)&ifa)->sin_addr;
        rc = set_opt(rx, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m, "IP_ADD_MEMBERSHIP", why, len);
        if (!rc)
            rc = set_opt(tx, IPPROTO_IP, IP_MULTICAST_IF, &m.imr_interface,
                         sizeof m.imr_interface, "IP_MULTICAST_IF", why, len);
    } else {
        struct ipv6_mreq m;
        memset(&m, 0, sizeof m);
        m.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&g)->sin6_addr;
        m.ipv6mr_interface = ifindex;
        rc = set_opt(rx, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m, "IPV6_JOIN_GROUP", why, len);
        if (!rc)
            rc = set_opt(tx, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex,
                         "IPV6_MULTICAST_IF", why, len);
    }
    if (!rc)
        rc = round_trip(rx, tx, group, why, len);
out:
    if (rx >= 0)
        close(rx);
    if (tx >= 0)
        close(tx);
    return rc;
}

static int broadcast_trip(char *why, size_t len)
{
    int on = 1, rc, rx = -1, tx = -1;

    if ((rx = dgram_socket("0.0.0.0", BM_FAMILY_IPV4, why, len)) < 0 ||
        (tx = dgram_socket(NET_V4, BM_FAMILY_IPV4, why, len)) < 0) {
        rc = rx < 0 ? -rx : -tx;
        goto out;
    }
    rc = set_opt(tx, SOL_SOCKET, SO_BROADCAST, &on, sizeof on, "SO_BROADCAST", why, len);
    if (!rc)
        rc = round_trip(rx, tx, BRD_V4, why, len);
out:
    if (rx >= 0)
        close(rx);
    if (tx >= 0)
        close(tx);
    return rc;
}

/* ---- the probes: 0 when the capability is there, else an errno with why filled in ---- */

static int probe_loopback(struct bm_env *env, char *why, size_t len)
{
    const char *lo = loopback_name();
    /* the host's lo is not ours to change; ours may refuse (gVisor) and be up all the same */
    if (!env->has[BM_CAP_NETNS]) {
        if (link_is_up(lo))
            return 0;
        note(why, len, "%s is down (the host's: not the runner's to bring up)", lo);
        return ENETDOWN;
    }
    int rc = netcfg_link_up(lo, false);
    if (link_is_up(lo))
        return 0;
    note(why, len, "%s is down", lo);
    return failed(rc ? rc : ENETDOWN, why, len, "bringing it up");
}

static int probe_veth(struct bm_env *env, char *why, size_t len)
{
    int rc;
    if (!env->has[BM_CAP_NETNS]) {
        note(why, len, "needs a private network namespace");
        return ENOTSUP;
    }
    if ((rc = failed(netcfg_veth_create("bm0", "bm1"), why, len, "creating the veth pair bm0/bm1")) ||
        (rc = failed(netcfg_link_up("bm1", true), why, len, "bringing bm1 up")) ||
        (rc = failed(netcfg_link_up("bm0", true), why, len, "bringing bm0 up")) ||
        (rc = failed(netcfg_addr_add("bm0", NET_V4, 24, BRD_V4, false), why, len,
                     "adding " NET_V4 "/24 brd " BRD_V4 " to bm0")) ||
        (rc = failed(netcfg_addr_add("bm0", NET_V6, 64, NULL, true), why, len,
                     "adding " NET_V6 "/64 to bm0")) ||
        (rc = failed(netcfg_addr_add("bm0", LOCAL2_V6, 64, NULL, true), why, len,
                     "adding " LOCAL2_V6 "/64 to bm0")))
        return rc;
    return 0;
}

/* addr bindable as it is, or (in our own namespace, where configure says) once added to
 * lo; EEXIST counts as added. */
static int local_address(const struct bm_env *env, const char *addr, int prefix,
                         bool configure, char *why, size_t len)
{
    int rc = bind_error(addr);
    if (!rc)
        return 0;
    note(why, len, "bind to %s failed with %s", addr, errno_name(rc));
    if (!env->has[BM_CAP_NETNS] || !configure)
        return rc;
    int add = netcfg_addr_add(loopback_name(), addr, prefix, NULL, fam_of(addr) == BM_FAMILY_IPV6);
    if (add && add != EEXIST)
        return failed(add, why, len, "adding it to lo");
    return failed(bind_error(addr), why, len, "after adding it to lo, bind");
}

static int probe_local2_v4(struct bm_env *env, char *why, size_t len)
{
    /* all of 127/8 is local on Linux's lo: normally bindable with nothing added */
    int rc = local_address(env, LOCAL2_V4, 8, true, why, len);
    if (!rc)
        snprintf(env->local2_v4, sizeof env->local2_v4, "%s", LOCAL2_V4);
    return rc;
}

static int probe_local2_v6(struct bm_env *env, char *why, size_t len)
{
    /* on bm0 already when the veth pair is there; else on lo */
    int rc = local_address(env, LOCAL2_V6, 128, !env->has[BM_CAP_VETH], why, len);
    if (!rc)
        snprintf(env->local2_v6, sizeof env->local2_v6, "%s", LOCAL2_V6);
    return rc;
}

/* Where multicast and broadcast are tried, in order: the veth pair, then lo. */
struct via {
    bool usable;
    const char *ifname;
    const char *addr;   /* the interface's address the sockets use ("" = the kernel's) */
};

static int probe_multicast(struct bm_env *env, enum bm_family fam, const struct via *via,
                           size_t nvia, char *why, size_t len)
{
    int rc = ENODEV;
    for (size_t i = 0; i < nvia; i++) {
        char one[BM_CAP_WHY_LEN] = "";
        if (!via[i].usable)
            continue;
        rc = multicast_trip(fam, via[i].addr, if_nametoindex(via[i].ifname), one, sizeof one);
        if (rc) {
            note(why, len, "on %s: %s", via[i].ifname, one);
            continue;
        }
        env->mc_ifindex = if_nametoindex(via[i].ifname);
        if (fam == BM_FAMILY_IPV4)
            snprintf(env->mc_addr_v4, sizeof env->mc_addr_v4, "%s", via[i].addr);
        else
            snprintf(env->mc_addr_v6, sizeof env->mc_addr_v6, "%s", via[i].addr);
        return 0;
    }
    return rc;
}

static int probe_multicast_v4(struct bm_env *env, char *why, size_t len)
{
    const struct via via[] = { { env->has[BM_CAP_VETH], "bm0", NET_V4 },
                               { true, loopback_name(), "127.0.0.1" } };
    return probe_multicast(env, BM_FAMILY_IPV4, via, 2, why, len);
}

static int probe_multicast_v6(struct bm_env *env, char *why, size_t len)
{
    /* IPv6 multicast is not delivered over Linux's lo: that is why the veth pair exists */
    const struct via via[] = { { env->has[BM_CAP_VETH], "bm0", NET_V6 },
                               { true, loopback_name(), "" } };
    return probe_multicast(env, BM_FAMILY_IPV6, via, 2, why, len);
}

static int probe_broadcast(struct bm_env *env, char *why, size_t len)
{
    int rc = ENODEV;
    if (env->has[BM_CAP_VETH]) { /* bm0 holds NET_V4/24 brd BRD_V4 */
        char one[BM_CAP_WHY_LEN] = "";
        if (!(rc = broadcast_trip(one, sizeof one)))
            goto found;
        note(why, len, "on bm0: %s", one);
    }
    if (env->has[BM_CAP_NETNS]) { /* lo has no broadcast address until given one */
        char one[BM_CAP_WHY_LEN] = "";
        const char *lo = loopback_name();
        rc = netcfg_addr_add(lo, NET_V4, 24, BRD_V4, false);
        if (rc == EOPNOTSUPP) /* gVisor takes no IFA_BROADCAST; its subnet broadcast is implied */
            rc = netcfg_addr_add(lo, NET_V4, 24, NULL, false);
        if ((rc && rc != EEXIST && failed(rc, one, sizeof one, "adding " NET_V4 "/24 to lo")) ||
            (rc = broadcast_trip(one, sizeof one))) {
            note(why, len, "on %s: %s", lo, one);
            return rc;
        }
        goto found;
    }
    note(why, len, "needs a private network namespace");
    return rc;
found:
    snprintf(env->broadcast_v4, sizeof env->broadcast_v4, "%s", BRD_V4);
    snprintf(env->broadcast_src_v4, sizeof env->broadcast_src_v4, "%s", NET_V4);
    return 0;
}

static int probe_other_user(struct bm_env *env, char *why, size_t len)
{
    char what[64];
    int rc;

    if (geteuid() != 0) {
        note(why, len, "not root");
        return EPERM;
    }
    /* tried even as uid 0 of a user namespace (ours, or a worker's inherited one): one that
     * maps more users than itself may switch */
    snprintf(what, sizeof what, "seteuid(%u)", (unsigned)env->other_uid);
    if ((rc = failed(seteuid(env->other_uid) < 0 ? errno : 0, why, len, what))) {
        if (rc == EINVAL)
            note(why, len, "the user namespace maps no such user");
        return rc;
    }
    if (seteuid(0) != 0)
        rc = failed(errno, why, len, "seteuid(0)"); /* cannot happen from saved uid 0 */
    return rc;
}

static int probe_tcp_info(struct bm_env *env, char *why, size_t len)
{
    (void)env;
    enum bm_tcpstate st;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return failed(errno, why, len, "socket()");
    int rc = tcpdiag_state(fd, &st);
    close(fd);
    return failed(rc, why, len, "getsockopt(TCP_INFO) for the TCP state");
}

static int probe_sock_diag(struct bm_env *env, char *why, size_t len)
{
    (void)env;
    return tcpdiag_probe(why, len);
}

static const struct capdef {
    const char *name;
    const char *effect;
    int (*probe)(struct bm_env *env, char *why, size_t len); /* in enum order: later ones
                                                               use what earlier ones made */
} caps[BM_CAP_COUNT] = {
    [BM_CAP_NETNS] = { "netns", "the run shares the host's network; sysctl cases are skipped", NULL },
    [BM_CAP_LOOPBACK] = { "loopback", "cases on loopback cannot run", probe_loopback },
    [BM_CAP_VETH] = { "veth", "multicast, broadcast and local2 are tried on lo instead", probe_veth },
    [BM_CAP_LOCAL2_V4] = { "local2_v4", "cases on 127.0.0.2 are skipped", probe_local2_v4 },
    [BM_CAP_LOCAL2_V6] = { "local2_v6", "cases on 2001:db8::2 are skipped", probe_local2_v6 },
    [BM_CAP_MULTICAST_V4] = { "multicast_v4", "IPv4 multicast cases are skipped", probe_multicast_v4 },
    [BM_CAP_MULTICAST_V6] = { "multicast_v6", "IPv6 multicast cases are skipped", probe_multicast_v6 },
    [BM_CAP_BROADCAST] = { "broadcast", "broadcast cases are skipped", probe_broadcast },
    [BM_CAP_OTHER_USER] = { "other_user", "cases with another user's socket are skipped", probe_other_user },
    [BM_CAP_TCP_INFO] = { "tcp_info", "states are not verified; TIME_WAIT cases are errors", probe_tcp_info },
    [BM_CAP_SOCK_DIAG] = { "sock_diag", "TIME_WAIT rests on the helper's final ACK alone", probe_sock_diag },
};

const char *sandbox_cap_name(enum bm_cap cap)
{
    return (unsigned)cap < BM_CAP_COUNT ? caps[cap].name : "?";
}

const char *sandbox_cap_effect(enum bm_cap cap)
{
    return (unsigned)cap < BM_CAP_COUNT ? caps[cap].effect : "";
}

const char *sandbox_missing(const struct bm_env *env, enum bm_cap cap)
{
    if ((unsigned)cap >= BM_CAP_COUNT || env->has[cap])
        return "";
    return env->why[cap][0] ? env->why[cap] : "not probed";
}

#ifdef CLONE_NEWNET
static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    size_t n = strlen(text);
    int rc = write(fd, text, n) == (ssize_t)n ? 0 : errno;
    close(fd);
    return rc;
}

/* Unprivileged: a user namespace where we are uid 0, so we may own a network namespace. */
static int enter_userns(char *why, size_t len)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
        return failed(errno, why, len, "unshare(CLONE_NEWUSER|CLONE_NEWNET)");
    char map[64];
    int rc = write_file("/proc/self/setgroups", "deny");
    if (rc && rc != ENOENT) /* ENOENT: kernels before 3.19 have no such file */
        failed(rc, why, len, "writing setgroups");
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if ((rc = failed(write_file("/proc/self/uid_map", map), why, len, "writing uid_map")))
        return rc;
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    return failed(write_file("/proc/self/gid_map", map), why, len, "writing gid_map");
}
#endif

/* A private network namespace: 0 with *userns telling whether a user namespace came with
 * it, or the errno; without namespaces in this build, 0 and has[BM_CAP_NETNS] false. */
static int enter_netns(struct bm_env *env, bool *userns)
{
    char *why = env->why[BM_CAP_NETNS];
    size_t len = sizeof env->why[BM_CAP_NETNS];
    *userns = false;
#ifdef CLONE_NEWNET
    int rc;
    if (geteuid() == 0)
        rc = failed(unshare(CLONE_NEWNET) < 0 ? errno : 0, why, len, "unshare(CLONE_NEWNET)");
    else
        *userns = (rc = enter_userns(why, len)) == 0;
    env->has[BM_CAP_NETNS] = rc == 0;
    if (rc == 0)
        sandbox_forget_kept(); /* those of the namespace just left would answer for it */
    return rc;
#else
    note(why, len, "no network namespaces on this OS: running on the host's network");
    return 0;
#endif
}

void sandbox_probe(struct bm_env *env, char *err, size_t errlen)
{
    for (int c = 0; c < BM_CAP_COUNT; c++) {
        if (caps[c].probe) {
            env->why[c][0] = '\0';
            env->has[c] = caps[c].probe(env, env->why[c], sizeof env->why[c]) == 0;
            if (env->has[c])
                env->why[c][0] = '\0'; /* notes of attempts before the one that worked */
        }
        if (!env->has[c])
            note(err, errlen, "%s: %s", caps[c].name, sandbox_missing(env, c));
    }
}

void sandbox_set_other_user(struct bm_env *env, uid_t uid, gid_t gid)
{
    env->other_uid = uid;
    env->other_gid = gid;
    env->why[BM_CAP_OTHER_USER][0] = '\0';
    env->has[BM_CAP_OTHER_USER] = probe_other_user(env, env->why[BM_CAP_OTHER_USER],
                                                   sizeof env->why[BM_CAP_OTHER_USER]) == 0;
}

int sandbox_enter(struct bm_env *env, char *err, size_t errlen)
{
    bool userns;

    sandbox_defaults(env);
    if (err && errlen)
        err[0] = '\0';
    int rc = enter_netns(env, &userns);
    if (rc) {
        note(err, errlen, "%s: %s", caps[BM_CAP_NETNS].name, env->why[BM_CAP_NETNS]);
        return rc;
    }
    env->privileged = geteuid() == 0 && !userns;
    sandbox_probe(env, err, errlen);
    return 0;
}

void sandbox_forget_kept(void)
{
    delivery_forget();
    tcpdiag_forget();
}

void sandbox_raise_fd_limit(void)
{
    struct rlimit l;
    if (getrlimit(RLIMIT_NOFILE, &l) != 0 || l.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t want = l.rlim_max == RLIM_INFINITY || l.rlim_max > 65536 ? 65536 : l.rlim_max;
#ifdef OPEN_MAX /* macOS refuses more than OPEN_MAX for the soft limit */
    if (want > OPEN_MAX)
        want = OPEN_MAX;
#endif
    if (want > l.rlim_cur) {
        l.rlim_cur = want;
        (void)setrlimit(RLIMIT_NOFILE, &l);
    }
}

int sandbox_pin_cpu(int cpu)
{
#if defined(HAVE_SCHED_SETAFFINITY) && defined(CPU_SET)
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
#else
    (void)cpu;
    return 0;
#endif
}

int sandbox_set_sysctl(const char *dotted, const char *value, char *old, size_t oldlen,
                       char *err, size_t errlen)
{
#ifdef CLONE_NEWNET /* per-namespace sysctls under /proc/sys exist where namespaces do */
    char path[256];
    int n = snprintf(path, sizeof path, "/proc/sys/%s", dotted);
    if (n < 0 || (size_t)n >= sizeof path || strstr(dotted, "..") || strchr(dotted, '/')) {
        snprintf(err, errlen, "bad sysctl name %s", dotted);
        return EINVAL;
    }
    for (char *p = path + strlen("/proc/sys/"); *p; p++)
        if (*p == '.')
            *p = '/';
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "sysctl %s: %s", dotted, strerror(e));
        return e;
    }
    char buf[256];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    if (got < 0) {
        int e = errno;
        snprintf(err, errlen, "sysctl %s: read: %s", dotted, strerror(e));
        close(fd);
        return e;
    }
    buf[got] = '\0';
    while (got > 0 && (buf[got - 1] == '\n' || buf[got - 1] == ' '))
        buf[--got] = '\0';
    if (old && oldlen)
        snprintf(old, oldlen, "%s", buf);
    size_t len = strlen(value);
    int rc = 0;
    if (pwrite(fd, value, len, 0) != (ssize_t)len) {
        rc = errno;
        snprintf(err, errlen, "sysctl %s=%s: %s", dotted, value, strerror(rc));
    }
    close(fd);
    return rc;
#else
    (void)dotted, (void)value, (void)old, (void)oldlen;
    snprintf(err, errlen, "sysctl %s: not supported on this OS", dotted);
    return ENOTSUP;
#endif
}

