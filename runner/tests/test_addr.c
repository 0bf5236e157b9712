#include "addr.h"
#include "sandbox.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

/* A host as sandbox_enter describes a Linux namespace with the veth pair. */
static void full_env(struct bm_env *env)
{
    sandbox_defaults(env);
    strcpy(env->local2_v4, "127.0.0.2");
    strcpy(env->local2_v6, "2001:db8::2");
    env->has[BM_CAP_LOCAL2_V4] = env->has[BM_CAP_LOCAL2_V6] = true;
    env->has[BM_CAP_MULTICAST_V4] = env->has[BM_CAP_MULTICAST_V6] = env->has[BM_CAP_BROADCAST] = true;
    strcpy(env->broadcast_v4, "192.0.2.255");
}

static void expect(const char *name, enum bm_family fam, const struct bm_env *env,
                   const char *want, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    const char *why = addr_resolve(name, fam, port, env, &ss, &len);
    cr_assert_null(why, "%s: %s", name, why);
    char host[64];
    int p;
    addr_format((struct sockaddr *)&ss, host, sizeof host, &p);
    cr_assert_str_eq(host, want, "%s", name);
    cr_assert_eq(p, port);
    cr_assert_eq(len, fam == BM_FAMILY_IPV6 ? sizeof(struct sockaddr_in6)
                                            : sizeof(struct sockaddr_in));
}

Test(addr, table_ipv4)
{
    struct bm_env env;
    full_env(&env);
    expect("loopback", BM_FAMILY_IPV4, &env, "127.0.0.1", 10000);
    expect("local2", BM_FAMILY_IPV4, &env, "127.0.0.2", 1);
    expect("wildcard", BM_FAMILY_IPV4, &env, "0.0.0.0", 0);
    expect("group", BM_FAMILY_IPV4, &env, "233.252.0.1", 5);
    expect("broadcast", BM_FAMILY_IPV4, &env, "192.0.2.255", 5);
    expect("nonlocal", BM_FAMILY_IPV4, &env, "198.51.100.1", 5);
}

Test(addr, table_ipv6)
{
    struct bm_env env;
    full_env(&env);
    expect("loopback", BM_FAMILY_IPV6, &env, "::1", 10000);
    expect("local2", BM_FAMILY_IPV6, &env, "2001:db8::2", 1);
    expect("wildcard", BM_FAMILY_IPV6, &env, "::", 0);
    expect("mapped-loopback", BM_FAMILY_IPV6, &env, "::ffff:127.0.0.1", 7);
    expect("mapped-wildcard", BM_FAMILY_IPV6, &env, "::ffff:0.0.0.0", 7);
    expect("group", BM_FAMILY_IPV6, &env, "ff05::db8:0:1", 5);
    expect("nonlocal", BM_FAMILY_IPV6, &env, "2001:db8:1::1", 5);
}

static const char *reason(const char *name, enum bm_family fam, const struct bm_env *env)
{
    struct sockaddr_storage ss;
    socklen_t len;
    return addr_resolve(name, fam, 0, env, &ss, &len);
}

Test(addr, unavailable_gives_a_reason)
{
    struct bm_env env;
    sandbox_defaults(&env); /* nothing beyond loopback */
    cr_assert_not_null(reason("local2", BM_FAMILY_IPV4, &env));
    cr_assert_not_null(strstr(reason("local2", BM_FAMILY_IPV6, &env), "local2"));
    cr_assert_not_null(reason("broadcast", BM_FAMILY_IPV4, &env));
    cr_assert_not_null(reason("group", BM_FAMILY_IPV6, &env));
    cr_assert_str_eq(reason("mapped-loopback", BM_FAMILY_IPV4, &env),
                     "mapped-loopback needs an IPv6 socket");
    cr_assert_not_null(reason("broadcast", BM_FAMILY_IPV6, &env));
    cr_assert_not_null(reason("peer", BM_FAMILY_IPV4, &env));
}

Test(addr, known_names)
{
    const char *names[] = { "loopback", "local2", "wildcard", "mapped-loopback",
                            "mapped-wildcard", "group", "broadcast", "nonlocal" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        cr_assert(addr_known(names[i]), "%s", names[i]);
    cr_assert_not(addr_known("peer"));
    cr_assert_not(addr_known("localhost"));
}
