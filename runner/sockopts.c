/* sockopts.c — the option table.  Every OS-specific option sits under #ifdef on its own
 * macro, so availability is decided by the headers of the build, never by OS name. */
#include "sockopts.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

struct optdef {
    const char *name;
    bool available;
    int level4, opt4; /* for AF_INET sockets */
    int level6, opt6; /* for AF_INET6 sockets */
};

#define UNAVAILABLE(n) { n, false, 0, 0, 0, 0 }

static const struct optdef table[] = {
#ifdef SO_REUSEADDR
    { "reuseaddr", true, SOL_SOCKET, SO_REUSEADDR, SOL_SOCKET, SO_REUSEADDR },
#else
    UNAVAILABLE("reuseaddr"),
#endif
#ifdef SO_REUSEPORT
    { "reuseport", true, SOL_SOCKET, SO_REUSEPORT, SOL_SOCKET, SO_REUSEPORT },
#else
    UNAVAILABLE("reuseport"),
#endif
#ifdef SO_REUSEPORT_LB
    { "reuseport_lb", true, SOL_SOCKET, SO_REUSEPORT_LB, SOL_SOCKET, SO_REUSEPORT_LB },
#else
    UNAVAILABLE("reuseport_lb"),
#endif
#ifdef SO_REUSESHAREUID
    { "reuseshareuid", true, SOL_SOCKET, SO_REUSESHAREUID, SOL_SOCKET, SO_REUSESHAREUID },
#else
    UNAVAILABLE("reuseshareuid"),
#endif
    /* v6only only means something on AF_INET6; on AF_INET the kernel's answer is recorded. */
#ifdef IPV6_V6ONLY
    { "v6only", true, IPPROTO_IPV6, IPV6_V6ONLY, IPPROTO_IPV6, IPV6_V6ONLY },
#else
    UNAVAILABLE("v6only"),
#endif
    /* Linux: IPV6_FREEBIND (4.15+) for v6 sockets; IP_FREEBIND at SOL_IP also covers them. */
#if defined(IP_FREEBIND) && defined(IPV6_FREEBIND)
    { "freebind", true, IPPROTO_IP, IP_FREEBIND, IPPROTO_IPV6, IPV6_FREEBIND },
#elif defined(IP_FREEBIND)
    { "freebind", true, IPPROTO_IP, IP_FREEBIND, IPPROTO_IP, IP_FREEBIND },
#else
    UNAVAILABLE("freebind"),
#endif
    /* FreeBSD: IP_BINDANY / IPV6_BINDANY; OpenBSD: SO_BINDANY. */
#if defined(IP_BINDANY) && defined(IPV6_BINDANY)
    { "bindany", true, IPPROTO_IP, IP_BINDANY, IPPROTO_IPV6, IPV6_BINDANY },
#elif defined(SO_BINDANY)
    { "bindany", true, SOL_SOCKET, SO_BINDANY, SOL_SOCKET, SO_BINDANY },
#else
    UNAVAILABLE("bindany"),
#endif
#ifdef SO_BROADCAST
    { "broadcast", true, SOL_SOCKET, SO_BROADCAST, SOL_SOCKET, SO_BROADCAST },
#else
    UNAVAILABLE("broadcast"),
#endif
#if defined(IP_MULTICAST_ALL) && defined(IPV6_MULTICAST_ALL)
    { "multicast_all", true, IPPROTO_IP, IP_MULTICAST_ALL, IPPROTO_IPV6, IPV6_MULTICAST_ALL },
#else
    UNAVAILABLE("multicast_all"),
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

int sockopt_apply(int fd, enum bm_family fam, const struct bm_opt *o)
{
    const struct optdef *d = find(o->name);
    if (!d)
        return EINVAL;
    if (!d->available)
        return ENOPROTOOPT;
    int v = o->value;
    int level = fam == BM_FAMILY_IPV6 ? d->level6 : d->level4;
    int opt = fam == BM_FAMILY_IPV6 ? d->opt6 : d->opt4;
    if (setsockopt(fd, level, opt, &v, sizeof v) < 0)
        return errno;
    return 0;
}

void sockopt_each(void (*fn)(const char *name, bool available, void *ctx), void *ctx)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        fn(table[i].name, table[i].available, ctx);
}
