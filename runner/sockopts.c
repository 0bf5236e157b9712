/* sockopts.c — the option table.  Every OS-specific option sits under #ifdef on its own
 * macro, so availability is decided by the headers of the build, never by OS name. */
#include "sockopts.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* IP_LOCAL_PORT_RANGE (Linux 6.3 uapi) is in linux/in.h where the libc's netinet/in.h does not
 * have it yet (glibc 2.36); linux/in.h after netinet/in.h defines only what the libc lacks. */
#if !defined(IP_LOCAL_PORT_RANGE) && defined(__has_include)
#if __has_include(<linux/in.h>)
#include <linux/in.h>
#endif
#endif

/* How the value after '=' is written (sockopts.h, sockopt_parse_value). */
enum valkind { VAL_INT, VAL_PORT_RANGE, VAL_IFNAME };

struct optdef {
    const char *name;
    bool available;
    int level4, opt4; /* for AF_INET sockets */
    int level6, opt6; /* for AF_INET6 sockets */
    enum valkind kind;
};

#define UNAVAILABLE(n) { n, false, 0, 0, 0, 0, VAL_INT }
#define UNAVAILABLE_AS(n, k) { n, false, 0, 0, 0, 0, k }

static const struct optdef table[] = {
#ifdef SO_REUSEADDR
    { "reuseaddr", true, SOL_SOCKET, SO_REUSEADDR, SOL_SOCKET, SO_REUSEADDR, VAL_INT },
#else
    UNAVAILABLE("reuseaddr"),
#endif
#ifdef SO_REUSEPORT
    { "reuseport", true, SOL_SOCKET, SO_REUSEPORT, SOL_SOCKET, SO_REUSEPORT, VAL_INT },
#else
    UNAVAILABLE("reuseport"),
#endif
#ifdef SO_REUSEPORT_LB
    { "reuseport_lb", true, SOL_SOCKET, SO_REUSEPORT_LB, SOL_SOCKET, SO_REUSEPORT_LB, VAL_INT },
#else
    UNAVAILABLE("reuseport_lb"),
#endif
#ifdef SO_REUSESHAREUID
    { "reuseshareuid", true, SOL_SOCKET, SO_REUSESHAREUID, SOL_SOCKET, SO_REUSESHAREUID, VAL_INT },
#else
    UNAVAILABLE("reuseshareuid"),
#endif
    /* v6only only means something on AF_INET6; on AF_INET the kernel's answer is recorded. */
#ifdef IPV6_V6ONLY
    { "v6only", true, IPPROTO_IPV6, IPV6_V6ONLY, IPPROTO_IPV6, IPV6_V6ONLY, VAL_INT },
#else
    UNAVAILABLE("v6only"),
#endif
    /* Linux: IPV6_FREEBIND (4.15+) for v6 sockets; IP_FREEBIND at SOL_IP also covers them. */
#if defined(IP_FREEBIND) && defined(IPV6_FREEBIND)
    { "freebind", true, IPPROTO_IP, IP_FREEBIND, IPPROTO_IPV6, IPV6_FREEBIND, VAL_INT },
#elif defined(IP_FREEBIND)
    { "freebind", true, IPPROTO_IP, IP_FREEBIND, IPPROTO_IP, IP_FREEBIND, VAL_INT },
#else
    UNAVAILABLE("freebind"),
#endif
    /* FreeBSD: IP_BINDANY / IPV6_BINDANY; OpenBSD: SO_BINDANY. */
#if defined(IP_BINDANY) && defined(IPV6_BINDANY)
    { "bindany", true, IPPROTO_IP, IP_BINDANY, IPPROTO_IPV6, IPV6_BINDANY, VAL_INT },
#elif defined(SO_BINDANY)
    { "bindany", true, SOL_SOCKET, SO_BINDANY, SOL_SOCKET, SO_BINDANY, VAL_INT },
#else
    UNAVAILABLE("bindany"),
#endif
#ifdef SO_BROADCAST
    { "broadcast", true, SOL_SOCKET, SO_BROADCAST, SOL_SOCKET, SO_BROADCAST, VAL_INT },
#else
    UNAVAILABLE("broadcast"),
#endif
#if defined(IP_MULTICAST_ALL) && defined(IPV6_MULTICAST_ALL)
    { "multicast_all", true, IPPROTO_IP, IP_MULTICAST_ALL, IPPROTO_IPV6, IPV6_MULTICAST_ALL, VAL_INT },
#else
    UNAVAILABLE("multicast_all"),
#endif
    /* Linux 4.2: bind() with port 0 leaves the port to connect().  An IPPROTO_IP option that
     * AF_INET6 sockets take too (ipv6_setsockopt() hands SOL_IP to ip_setsockopt()). */
#ifdef IP_BIND_ADDRESS_NO_PORT
    { "bind_address_no_port", true, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, IPPROTO_IP,
      IP_BIND_ADDRESS_NO_PORT, VAL_INT },
#else
    UNAVAILABLE("bind_address_no_port"),
#endif
    /* Linux 6.3: the socket's own ephemeral range, lo | hi << 16 (IPPROTO_IP, as above);
     * a kernel without it answers ENOPROTOOPT. */
#ifdef IP_LOCAL_PORT_RANGE
    { "local_port_range", true, IPPROTO_IP, IP_LOCAL_PORT_RANGE, IPPROTO_IP, IP_LOCAL_PORT_RANGE,
      VAL_PORT_RANGE },
#else
    UNAVAILABLE_AS("local_port_range", VAL_PORT_RANGE),
#endif
#ifdef SO_BINDTODEVICE
    { "bindtodevice", true, SOL_SOCKET, SO_BINDTODEVICE, SOL_SOCKET, SO_BINDTODEVICE, VAL_IFNAME },
#else
    UNAVAILABLE_AS("bindtodevice", VAL_IFNAME),
#endif
};

static const struct optdef *find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

bool sockopt_known(const char *name)
{
    return find(name) != NULL;
}

bool sockopt_available(const char *name)
{
    const struct optdef *d = find(name);
    return d && d->available;
}

bool sockopt_absent_from_kernel(const char *name)
{
    const struct optdef *d = find(name);
    if (!d || !d->available)
        return false;
    int fd = socket(d->level4 == IPPROTO_IPV6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return false;
    char buf[64];
    socklen_t len = sizeof buf;
    bool absent = getsockopt(fd, d->level4, d->opt4, buf, &len) < 0 && errno == ENOPROTOOPT;
    close(fd);
    return absent;
}

/* ---- values ----------------------------------------------------------------------------- */

/* bindtodevice values: index = the stored value (0 is not a value a case can give). */
static const char *const ifwords[] = { NULL, "lo", "veth" };
#define NIFWORDS (sizeof ifwords / sizeof ifwords[0])

/* One end of a port range: "Pn" or "En" -> its code (n, or 10 + n); -1 if it is neither. */
static int port_code(const char *s, size_t len)
{
    if (len != 2 || (s[0] != 'P' && s[0] != 'E') || s[1] < '1' || s[1] > '9')
        return -1;
    return (s[0] == 'E' ? 10 : 0) + (s[1] - '0');
}

static void code_text(int code, char out[3])
{
    out[0] = code > 10 ? 'E' : 'P';
    out[1] = (char)('0' + (code > 10 ? code - 10 : code));
    out[2] = '\0';
}

static bool code_ok(int code)
{
    return (code >= 1 && code <= 9) || (code >= 11 && code <= 19);
}

int sockopt_parse_value(const char *name, const char *text, int *value, char *err, size_t errlen)
{
    const struct optdef *d = find(name);
    enum valkind kind = d ? d->kind : VAL_INT;

    switch (kind) {
    case VAL_INT: {
        char *end;
        long v;
        if (!text) {
            *value = 1;
            return 0;
        }
        v = strtol(text, &end, 10);
        if (!text[0] || *end || v < -2147483647L || v > 2147483647L) {
            snprintf(err, errlen, "option '%s=%s': value must be an integer", name, text);
            return -1;
        }
        *value = (int)v;
        return 0;
    }
    case VAL_PORT_RANGE: {
        const char *dash = text ? strchr(text, '-') : NULL;
        int lo, hi;
        if (text && strcmp(text, "0") == 0) {
            *value = 0;
            return 0;
        }
        if (!dash || (lo = port_code(text, (size_t)(dash - text))) < 0 ||
            (hi = port_code(dash + 1, strlen(dash + 1))) < 0) {
            snprintf(err, errlen, "option '%s%s%s': the value is a range of two port placeholders, "
                     "Pn-Pm (fresh ports) or En-Em (fresh ports in the ephemeral range), e.g. "
                     "%s=E1-E1, or 0", name, text ? "=" : "", text ? text : "", name);
            return -1;
        }
        *value = lo | hi << 8;
        return 0;
    }
    case VAL_IFNAME:
        for (size_t i = 1; text && i < NIFWORDS; i++)
            if (strcmp(text, ifwords[i]) == 0) {
                *value = (int)i;
                return 0;
            }
        snprintf(err, errlen, "option '%s%s%s': the value is an interface of the runner: "
                 "%s=lo or %s=veth", name, text ? "=" : "", text ? text : "", name, name);
        return -1;
    }
    snprintf(err, errlen, "option '%s': unknown value kind", name);
    return -1;
}

void sockopt_format(const struct bm_opt *o, char *buf, size_t len)
{
    const struct optdef *d = find(o->name);
    enum valkind kind = d ? d->kind : VAL_INT;
    int lo = o->value & 0xff, hi = (o->value >> 8) & 0xff;

    if (kind == VAL_PORT_RANGE && o->value != 0 && code_ok(lo) && code_ok(hi)) {
        char a[3], b[3];
        code_text(lo, a);
        code_text(hi, b);
        snprintf(buf, len, "%s=%s-%s", o->name, a, b);
    } else if (kind == VAL_IFNAME && o->value > 0 && (size_t)o->value < NIFWORDS) {
        snprintf(buf, len, "%s=%s", o->name, ifwords[o->value]);
    } else {
        snprintf(buf, len, "%s=%d", o->name, o->value);
    }
}

size_t sockopt_ports(const struct bm_opt *o, struct sockopt_port out[2])
{
    const struct optdef *d = find(o->name);
    int codes[2] = { o->value & 0xff, (o->value >> 8) & 0xff };

    if (!d || d->kind != VAL_PORT_RANGE || o->value == 0)
        return 0;
    for (int i = 0; i < 2; i++) {
        if (!code_ok(codes[i]))
            return 0;
        out[i].ephemeral = codes[i] > 10;
        out[i].index = codes[i] > 10 ? codes[i] - 10 : codes[i];
    }
    return 2;
}

bool sockopt_needs_veth(const struct bm_opt *o)
{
    const struct optdef *d = find(o->name);
    return d && d->kind == VAL_IFNAME && o->value == 2;
}

/* "lo" on Linux, "lo0" on the BSDs and macOS: whichever this host has. */
static const char *loopback_ifname(void)
{
    return if_nametoindex("lo") || !if_nametoindex("lo0") ? "lo" : "lo0";
}

int sockopt_apply_in(int fd, enum bm_family fam, const struct bm_opt *o,
                     const struct sockopt_ctx *ctx)
{
    const struct optdef *d = find(o->name);
    if (!d)
        return EINVAL;
    if (!d->available)
        return ENOPROTOOPT;
    int level = fam == BM_FAMILY_IPV6 ? d->level6 : d->level4;
    int opt = fam == BM_FAMILY_IPV6 ? d->opt6 : d->opt4;
    int v = o->value;

    if (d->kind == VAL_IFNAME) {
        const char *ifname = o->value == 1 ? loopback_ifname()
                           : o->value == 2 && ctx ? ctx->veth : NULL;
        if (!ifname)
            return EINVAL;
        return setsockopt(fd, level, opt, ifname, (socklen_t)strlen(ifname)) < 0 ? errno : 0;
    }
    if (d->kind == VAL_PORT_RANGE && o->value != 0) {
        struct sockopt_port p[2];
        int port[2];
        if (sockopt_ports(o, p) != 2 || !ctx)
            return EINVAL;
        for (int i = 0; i < 2; i++) {
            const int *table = p[i].ephemeral ? ctx->ephemeral : ctx->fresh;
            port[i] = table ? table[p[i].index] : 0;
            if (port[i] <= 0 || port[i] > 65535)
                return EINVAL;
        }
        /* the lower port is lo whichever placeholder came first */
        unsigned lo = (unsigned)(port[0] < port[1] ? port[0] : port[1]);
        unsigned hi = (unsigned)(port[0] < port[1] ? port[1] : port[0]);
        unsigned range = lo | hi << 16;
        return setsockopt(fd, level, opt, &range, sizeof range) < 0 ? errno : 0;
    }
    if (setsockopt(fd, level, opt, &v, sizeof v) < 0)
        return errno;
    return 0;
}

int sockopt_apply(int fd, enum bm_family fam, const struct bm_opt *o)
{
    return sockopt_apply_in(fd, fam, o, NULL);
}

void sockopt_each(void (*fn)(const char *name, bool available, void *ctx), void *ctx)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        fn(table[i].name, table[i].available, ctx);
}
