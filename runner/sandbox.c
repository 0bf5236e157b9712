/* sandbox.c — namespace entry and environment discovery for the worker. */
#include "sandbox.h"
#include "config.h"
#include "netcfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fresh ports sit below the ephemeral range (Linux default 32768..60999), so an autobound
 * or connecting socket never takes a port a later case expects to be free. */
#define BM_FRESH_LO 10000
#define BM_FRESH_HI 32767
#define BM_PRIV_LO 600
#define BM_PRIV_HI 1023

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
    env->mc_ifindex = if_nametoindex("lo");
}

/* Appends "; msg" to err so every degradation is reported, not just the last. */
static void note(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    size_t used = strlen(err);
    if (used && used + 2 < errlen) {
        strcpy(err + used, "; ");
        used += 2;
    }
    if (used >= errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

/* true when a socket of family fam can bind addr (port 0). */
static bool bindable(int fam, const char *addr)
{
    struct sockaddr_storage ss = { 0 };
    socklen_t len;
    if (fam == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        if (inet_pton(AF_INET, addr, &s->sin_addr) != 1)
            return false;
        len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, addr, &s->sin6_addr) != 1)
            return false;
        len = sizeof *s;
    }
    int fd = socket(fam, SOCK_DGRAM, 0);
    if (fd < 0)
        return false;
    bool ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
    close(fd);
    return ok;
}

/* Root that can really act as another user: seteuid there and back. */
static bool probe_switch_user(const struct bm_env *env)
{
    if (geteuid() != 0)
        return false;
    if (seteuid(env->other_uid) != 0)
        return false;
    if (seteuid(0) != 0)
        return false; /* cannot happen after a successful switch from saved uid 0 */
    return true;
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
static int enter_userns(char *err, size_t errlen)
{
    uid_t uid = geteuid();
    gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0) {
        int e = errno;
        note(err, errlen, "unshare(CLONE_NEWUSER|CLONE_NEWNET): %s", strerror(e));
        return e;
    }
    char map[64];
    int rc = write_file("/proc/self/setgroups", "deny");
    if (rc && rc != ENOENT) /* ENOENT: kernels before 3.19 have no such file */
        note(err, errlen, "setgroups deny: %s", strerror(rc));
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)uid);
    if ((rc = write_file("/proc/self/uid_map", map))) {
        note(err, errlen, "uid_map: %s", strerror(rc));
        return rc;
    }
    snprintf(map, sizeof map, "0 %u 1\n", (unsigned)gid);
    if ((rc = write_file("/proc/self/gid_map", map))) {
        note(err, errlen, "gid_map: %s", strerror(rc));
        return rc;
    }
    return 0;
}

/* bm0/bm1: a veth pair, because IPv6 multicast is not delivered over lo and lo has no
 * broadcast.  Returns 0 when bm0 is fully usable. */
static int setup_veth(struct bm_env *env, char *err, size_t errlen)
{
    int rc;
    if ((rc = netcfg_veth_create("bm0", "bm1"))) {
        note(err, errlen, "veth bm0/bm1 not created: %s", strerror(rc));
        return rc;
    }
    if ((rc = netcfg_link_up("bm1", true)) || (rc = netcfg_link_up("bm0", true))) {
        note(err, errlen, "veth bm0/bm1 not up: %s", strerror(rc));
        return rc;
    }
    if ((rc = netcfg_addr_add("bm0", "192.0.2.1", 24, "192.0.2.255", false))) {
        note(err, errlen, "192.0.2.1/24 on bm0: %s", strerror(rc));
        return rc;
    }
    if ((rc = netcfg_addr_add("bm0", "2001:db8::1", 64, NULL, true)) ||
        (rc = netcfg_addr_add("bm0", "2001:db8::2", 64, NULL, true))) {
        note(err, errlen, "2001:db8::1,2/64 on bm0: %s", strerror(rc));
        return rc;
    }
    env->mc_ifindex = if_nametoindex("bm0");
    snprintf(env->mc_addr_v4, sizeof env->mc_addr_v4, "192.0.2.1");
    snprintf(env->mc_addr_v6, sizeof env->mc_addr_v6, "2001:db8::1");
    env->has_mc_v4 = env->has_mc_v6 = env->has_broadcast = true;
    snprintf(env->broadcast_v4, sizeof env->broadcast_v4, "192.0.2.255");
    snprintf(env->local2_v6, sizeof env->local2_v6, "2001:db8::2");
    return 0;
}

int sandbox_enter(struct bm_env *env, char *err, size_t errlen)
{
    sandbox_defaults(env);
    if (err && errlen)
        err[0] = '\0';
    bool userns = false;
    if (geteuid() == 0) {
        if (unshare(CLONE_NEWNET) < 0) {
            int e = errno;
            note(err, errlen, "unshare(CLONE_NEWNET): %s", strerror(e));
            return e;
        }
    } else {
        int rc = enter_userns(err, errlen);
        if (rc)
            return rc;
        userns = true;
    }
    env->isolated = true;
    /* In a user namespace we made, uid 0 has no powers over the real filesystem or
     * other users, so it neither counts as privileged nor can act as another user. */
    env->privileged = !userns;
    env->can_switch_user = !userns && probe_switch_user(env);

    int rc = netcfg_link_up("lo", false);
    if (rc) {
        note(err, errlen, "lo not up: %s", strerror(rc));
        return 0; /* isolated but without even loopback: every case will say why */
    }
    env->mc_ifindex = if_nametoindex("lo");
    /* All of 127/8 is local on lo, so a second IPv4 address needs no configuration. */
    if (bindable(AF_INET, "127.0.0.2"))
        snprintf(env->local2_v4, sizeof env->local2_v4, "127.0.0.2");

    if (setup_veth(env, err, errlen) != 0) {
        /* Degrade: IPv4 multicast still loops back on lo; IPv6 gets local2 on lo. */
        env->has_mc_v4 = true;
        env->has_mc_v6 = false;
        env->has_broadcast = false;
        env->broadcast_v4[0] = '\0';
        env->mc_ifindex = if_nametoindex("lo");
        snprintf(env->mc_addr_v4, sizeof env->mc_addr_v4, "127.0.0.1");
        env->mc_addr_v6[0] = '\0';
        if (netcfg_addr_add("lo", "2001:db8::2", 128, NULL, true) == 0)
            snprintf(env->local2_v6, sizeof env->local2_v6, "2001:db8::2");
        else
            env->local2_v6[0] = '\0';
        note(err, errlen, "no IPv6 multicast and no broadcast on this host");
    }
    return 0;
}

#else /* no network namespaces: share the host's network, loopback only */

int sandbox_enter(struct bm_env *env, char *err, size_t errlen)
{
    sandbox_defaults(env);
    if (err && errlen)
        err[0] = '\0';
    env->isolated = false;
    env->can_switch_user = probe_switch_user(env);
    env->has_mc_v4 = true; /* multicast loops back on lo with IP_MULTICAST_IF 127.0.0.1 */
    if (bindable(AF_INET, "127.0.0.2"))
        snprintf(env->local2_v4, sizeof env->local2_v4, "127.0.0.2");
    else
        note(err, errlen, "127.0.0.2 is not configured: local2 cases are skipped");
    note(err, errlen, "no network namespaces: running on the host's network");
    return 0;
}

#endif

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
