#include "sockopts.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const names[] = { "reuseaddr", "reuseport", "reuseport_lb",
                                     "reuseshareuid", "v6only", "freebind", "bindany",
                                     "broadcast", "multicast_all" };

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
