#include "bm_testenv.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

Test(sandbox, defaults)
{
    struct bm_env env;
    sandbox_defaults(&env);
    cr_assert_eq(env.timeout_ms, 2000);
    cr_assert_eq(env.other_uid, 65534);
    cr_assert_eq(env.next_port, 10000);
    cr_assert_eq(env.port_hi, 32767);
    cr_assert_eq(env.next_priv_port, 600);
    cr_assert_eq(env.priv_port_hi, 1023);
}

Test(sandbox, namespace_with_veth)
{
    struct bm_env env;
    bm_test_sandbox(&env);
    cr_assert(env.isolated);
    cr_assert_str_eq(env.local2_v4, "127.0.0.2");
    cr_assert_str_eq(env.local2_v6, "2001:db8::2");
    /* This host supports veth (the brief's machine); elsewhere these degrade. */
    cr_assert(env.has_mc_v4);
    cr_assert(env.has_mc_v6);
    cr_assert(env.has_broadcast);
    cr_assert_str_eq(env.broadcast_v4, "192.0.2.255");
    cr_assert_str_eq(env.mc_addr_v4, "192.0.2.1");
    cr_assert_eq(env.mc_ifindex, if_nametoindex("bm0"));
    if (geteuid() == 0) {
        cr_assert(env.privileged);
        cr_assert(env.can_switch_user);
    }
}

Test(sandbox, sysctl_set_and_restore)
{
    struct bm_env env;
    bm_test_sandbox(&env);
    char old[64], err[256], again[64];
    cr_assert_eq(sandbox_set_sysctl("net.ipv4.ip_autobind_reuse", "1", old, sizeof old, err,
                                    sizeof err), 0, "%s", err);
    cr_assert_str_eq(old, "0");
    cr_assert_eq(sandbox_set_sysctl("net.ipv4.ip_autobind_reuse", old, again, sizeof again, err,
                                    sizeof err), 0, "%s", err);
    cr_assert_str_eq(again, "1");
    cr_assert_eq(sandbox_set_sysctl("net.ipv4.no_such_thing", "1", old, sizeof old, err,
                                    sizeof err), ENOENT);
    cr_assert_eq(sandbox_set_sysctl("net/../../kernel", "1", old, sizeof old, err, sizeof err),
                 EINVAL);
}

Test(sandbox, pin_cpu)
{
    cr_assert_eq(sandbox_pin_cpu(0), 0);
}
