/* addr.c — the table of symbolic addresses.  Only documentation and loopback ranges appear,
 * so nothing the runner does can reach a real network. */
#include "addr.h"
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

struct addrdef {
    const char *name;
    const char *v4, *v6;      /* NULL: not defined for that family */
    const char *why_v4, *why_v6;
    enum bm_cap cap_v4, cap_v6; /* what the sandbox must offer (BM_CAP_COUNT: nothing) */
};

#define NOCAP BM_CAP_COUNT
static const struct addrdef table[] = {
    { "loopback", "127.0.0.1", "::1", NULL, NULL, NOCAP, NOCAP },
    { "local2", NULL, NULL, NULL, NULL, BM_CAP_LOCAL2_V4, BM_CAP_LOCAL2_V6 }, /* from env */
    { "wildcard", "0.0.0.0", "::", NULL, NULL, NOCAP, NOCAP },
    { "mapped-loopback", NULL, "::ffff:127.0.0.1", "mapped-loopback needs an IPv6 socket", NULL,
      NOCAP, NOCAP },
    { "mapped-wildcard", NULL, "::ffff:0.0.0.0", "mapped-wildcard needs an IPv6 socket", NULL,
      NOCAP, NOCAP },
    { "group", "233.252.0.1", "ff05::db8:0:1", NULL, NULL, BM_CAP_MULTICAST_V4, BM_CAP_MULTICAST_V6 },
    { "broadcast", NULL, NULL, NULL, "broadcast needs an IPv4 socket", BM_CAP_BROADCAST, NOCAP },
    { "nonlocal", "198.51.100.1", "2001:db8:1::1", NULL, NULL, NOCAP, NOCAP },
};

static const struct addrdef *find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

bool addr_known(const char *name)
{
    return find(name) != NULL;
}

bool addr_from_numeric(const char *text, enum bm_family fam, int port,
                       struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof *ss);
    if (fam == BM_FAMILY_IPV4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons((unsigned short)port);
        *len = sizeof *s;
#ifdef HAVE_SOCKADDR_SIN_LEN
        s->sin_len = sizeof *s;
#endif
        return inet_pton(AF_INET, text, &s->sin_addr) == 1;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons((unsigned short)port);
    *len = sizeof *s;
#ifdef HAVE_SOCKADDR_SIN_LEN
    s->sin6_len = sizeof *s;
#endif
    return inet_pton(AF_INET6, text, &s->sin6_addr) == 1;
}

const char *addr_literal(const char *name, enum bm_family fam)
{
    const struct addrdef *d = find(name);
    return !d ? NULL : fam == BM_FAMILY_IPV6 ? d->v6 : d->v4;
}

enum bm_cap addr_needs(const char *name, enum bm_family fam)
{
    const struct addrdef *d = find(name);
    return !d ? BM_CAP_COUNT : fam == BM_FAMILY_IPV6 ? d->cap_v6 : d->cap_v4;
}

const char *addr_resolve(const char *name, enum bm_family fam, int port, const struct bm_env *env,
                         struct sockaddr_storage *ss, socklen_t *len)
{
    const struct addrdef *d = find(name);
    if (!d)
        return "unknown symbolic address";
    bool v6 = fam == BM_FAMILY_IPV6;
    const char *text = v6 ? d->v6 : d->v4;
    if (strcmp(name, "local2") == 0) {
        text = v6 ? env->local2_v6 : env->local2_v4;
        if (!env->has[v6 ? BM_CAP_LOCAL2_V6 : BM_CAP_LOCAL2_V4] || !text[0])
            return v6 ? "no second local IPv6 address (local2) on this host"
                      : "no second local IPv4 address (local2) on this host";
    } else if (strcmp(name, "broadcast") == 0 && !v6) {
        if (!env->has[BM_CAP_BROADCAST] || !env->broadcast_v4[0])
            return "no broadcast-capable interface on this host";
        text = env->broadcast_v4;
    } else if (strcmp(name, "group") == 0) {
        if (v6 && !env->has[BM_CAP_MULTICAST_V6])
            return "no IPv6 multicast on this host";
        if (!v6 && !env->has[BM_CAP_MULTICAST_V4])
            return "no IPv4 multicast on this host";
    }
    if (!text)
        return v6 ? d->why_v6 : d->why_v4;
    if (!addr_from_numeric(text, fam, port, ss, len))
        return "address does not parse";
    return NULL;
}

void addr_format(const struct sockaddr *sa, char *host, size_t hostlen, int *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, host, (socklen_t)hostlen);
        if (port)
            *port = ntohs(s->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, host, (socklen_t)hostlen);
        if (port)
            *port = ntohs(s->sin6_port);
    } else {
        if (hostlen)
            host[0] = '\0';
        if (port)
            *port = 0;
    }
}
