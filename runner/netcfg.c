/* netcfg.c — rtnetlink requests: one message, one ACK, the kernel's errno back. */
#include "netcfg.h"
#include "config.h"

#include <errno.h>

#ifdef HAVE_LINUX_RTNETLINK_H
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

struct nlreq {
    struct nlmsghdr *h;
    size_t cap;
};

static void *nl_tail(struct nlmsghdr *h)
{
    return (char *)h + NLMSG_ALIGN(h->nlmsg_len);
}

/* Appends one attribute; returns it (so nested attributes can be closed), NULL if no room. */
static struct rtattr *nl_put(struct nlreq *r, unsigned short type, const void *data, size_t len)
{
    size_t need = NLMSG_ALIGN(r->h->nlmsg_len) + RTA_SPACE(len);
    if (need > r->cap)
        return NULL;
    struct rtattr *a = nl_tail(r->h);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(a), data, len);
    r->h->nlmsg_len = (unsigned)need;
    return a;
}

static void nl_nest_end(struct nlreq *r, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)nl_tail(r->h) - (char *)nest);
}

/* Sends the request and waits for its ACK: the ACK's error field is the answer. */
static int nl_talk(struct nlmsghdr *h)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return errno;
    /* the kernel answers at once; the bound keeps a stack that never does from hanging us */
    struct timeval tv = { .tv_sec = 2 };
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    h->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    h->nlmsg_seq = 1;
    int rc = 0;
    if (sendto(fd, h, h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
        rc = errno;
        goto out;
    }
    for (;;) {
        char buf[8192];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = errno;
            goto out;
        }
        for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, (unsigned)n);
             m = NLMSG_NEXT(m, n)) {
            if (m->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(m);
                rc = -e->error;
                goto out;
            }
        }
    }
out:
    close(fd);
    return rc;
}

int netcfg_link_up(const char *ifname, bool multicast)
{
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        return errno ? errno : ENODEV;
    struct {
        struct nlmsghdr h;
        struct ifinfomsg i;
    } req = { 0 };
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.i);
    req.h.nlmsg_type = RTM_NEWLINK;
    req.i.ifi_family = AF_UNSPEC;
    req.i.ifi_index = (int)idx;
    req.i.ifi_flags = IFF_UP | (multicast ? IFF_MULTICAST : 0);
    req.i.ifi_change = IFF_UP | (multicast ? IFF_MULTICAST : 0);
    return nl_talk(&req.h);
}

int netcfg_veth_create(const char *name, const char *peer)
{
    union {
        struct nlmsghdr h;
        char buf[1024];
    } u;
    memset(&u, 0, sizeof u);
    struct nlreq r = { &u.h, sizeof u.buf };
    u.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    u.h.nlmsg_type = RTM_NEWLINK;
    u.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    ((struct ifinfomsg *)NLMSG_DATA(&u.h))->ifi_family = AF_UNSPEC;

    struct ifinfomsg peer_info = { .ifi_family = AF_UNSPEC };
    struct rtattr *linkinfo, *data, *peer_nest;
    if (!nl_put(&r, IFLA_IFNAME, name, strlen(name) + 1) ||
        !(linkinfo = nl_put(&r, IFLA_LINKINFO, NULL, 0)) ||
        !nl_put(&r, IFLA_INFO_KIND, "veth", 5) ||
        !(data = nl_put(&r, IFLA_INFO_DATA, NULL, 0)) ||
        /* VETH_INFO_PEER holds an ifinfomsg followed by the peer's own attributes. */
        !(peer_nest = nl_put(&r, VETH_INFO_PEER, &peer_info, sizeof peer_info)) ||
        !nl_put(&r, IFLA_IFNAME, peer, strlen(peer) + 1))
        return ENOBUFS;
    nl_nest_end(&r, peer_nest);
    nl_nest_end(&r, data);
    nl_nest_end(&r, linkinfo);
    return nl_talk(&u.h);
}

int netcfg_addr_add(const char *ifname, const char *addr, int prefix, const char *brd,
                    bool nodad)
{
    unsigned idx = if_nametoindex(ifname);
    if (!idx)
        return errno ? errno : ENODEV;
    unsigned char bin[16], bbin[4];
    int fam = strchr(addr, ':') ? AF_INET6 : AF_INET;
    size_t alen = fam == AF_INET6 ? 16 : 4;
    if (inet_pton(fam, addr, bin) != 1)
        return EINVAL;

    union {
        struct nlmsghdr h;
        char buf[512];
    } u;
    memset(&u, 0, sizeof u);
    struct nlreq r = { &u.h, sizeof u.buf };
    u.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    u.h.nlmsg_type = RTM_NEWADDR;
    u.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    struct ifaddrmsg *ifa = NLMSG_DATA(&u.h);
    ifa->ifa_family = (unsigned char)fam;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_index = idx;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_flags = nodad ? IFA_F_NODAD : 0;
    if (!nl_put(&r, IFA_LOCAL, bin, alen) || !nl_put(&r, IFA_ADDRESS, bin, alen))
        return ENOBUFS;
    if (brd && *brd && fam == AF_INET) {
        if (inet_pton(AF_INET, brd, bbin) != 1)
            return EINVAL;
        if (!nl_put(&r, IFA_BROADCAST, bbin, 4))
            return ENOBUFS;
    }
    return nl_talk(&u.h);
}

#else /* !HAVE_LINUX_RTNETLINK_H */

int netcfg_link_up(const char *ifname, bool multicast)
{
    (void)ifname, (void)multicast;
    return ENOTSUP;
}

int netcfg_veth_create(const char *name, const char *peer)
{
    (void)name, (void)peer;
    return ENOTSUP;
}

int netcfg_addr_add(const char *ifname, const char *addr, int prefix, const char *brd,
                    bool nodad)
{
    (void)ifname, (void)addr, (void)prefix, (void)brd, (void)nodad;
    return ENOTSUP;
}

#endif
