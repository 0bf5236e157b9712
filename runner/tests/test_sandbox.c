#include "bm_testenv.h"
#include "netcfg.h"
#include "sysinfo.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
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
    cr_assert(env.has[BM_CAP_NETNS]);
    cr_assert_str_eq(env.local2_v4, "127.0.0.2");
    cr_assert_str_eq(env.local2_v6, "2001:db8::2");
    /* This host supports veth (the brief's machine); elsewhere these degrade. */
    for (int c = BM_CAP_LOOPBACK; c <= BM_CAP_BROADCAST; c++)
        cr_assert(env.has[c], "%s: %s", sandbox_cap_name(c), env.why[c]);
    cr_assert_str_eq(env.broadcast_v4, "192.0.2.255");
    cr_assert_str_eq(env.broadcast_src_v4, "192.0.2.1");
    cr_assert_str_eq(env.mc_addr_v4, "192.0.2.1");
    cr_assert_eq(env.mc_ifindex, if_nametoindex("bm0"));
    cr_assert(env.has[BM_CAP_TCP_INFO], "%s", env.why[BM_CAP_TCP_INFO]);
    cr_assert(env.has[BM_CAP_SOCK_DIAG], "%s", env.why[BM_CAP_SOCK_DIAG]);
    if (geteuid() == 0) {
        cr_assert(env.privileged);
        cr_assert(env.has[BM_CAP_OTHER_USER], "%s", env.why[BM_CAP_OTHER_USER]);
    }
    for (int c = 0; c < BM_CAP_COUNT; c++)
        cr_assert_str_eq(sandbox_missing(&env, c), "", "%s", sandbox_cap_name(c));
}

/* A namespace of our own whose rtnetlink refuses everything, as gVisor refuses to bring lo
 * up (though lo is up) and to make a veth pair: every capability is still probed on its
 * own, so 127.0.0.2 and IPv4 multicast on lo are found, and what is missing says why. */
Test(sandbox, each_capability_is_probed_whatever_failed_before)
{
    struct bm_env env;
    char err[2048] = "";

    if (geteuid() != 0)
        cr_skip_test("needs root for a bare network namespace");
    cr_assert_eq(unshare(CLONE_NEWNET), 0);
    cr_assert_eq(netcfg_link_up("lo", false), 0);
    if (!bm_test_refuse_socket(BM_AF_NETLINK, BM_NETLINK_ROUTE, EOPNOTSUPP))
        cr_skip_test("no seccomp filter to take rtnetlink away");
    cr_assert_eq(netcfg_link_up("lo", false), EOPNOTSUPP, "rtnetlink is gone");

    sandbox_defaults(&env);
    env.has[BM_CAP_NETNS] = true;
    env.privileged = true;
    sandbox_probe(&env, err, sizeof err);

    cr_assert(env.has[BM_CAP_LOOPBACK], "lo is up although bringing it up failed: %s",
              env.why[BM_CAP_LOOPBACK]);
    cr_assert(env.has[BM_CAP_LOCAL2_V4], "%s", env.why[BM_CAP_LOCAL2_V4]);
    cr_assert_str_eq(env.local2_v4, "127.0.0.2");
    cr_assert(env.has[BM_CAP_MULTICAST_V4], "%s", env.why[BM_CAP_MULTICAST_V4]);
    cr_assert_str_eq(env.mc_addr_v4, "127.0.0.1");
    cr_assert(env.has[BM_CAP_OTHER_USER], "%s", env.why[BM_CAP_OTHER_USER]);
    cr_assert(env.has[BM_CAP_TCP_INFO], "%s", env.why[BM_CAP_TCP_INFO]);
    cr_assert(env.has[BM_CAP_SOCK_DIAG], "%s", env.why[BM_CAP_SOCK_DIAG]);

    cr_assert_not(env.has[BM_CAP_VETH]);
    cr_assert_str_eq(env.why[BM_CAP_VETH],
                     "creating the veth pair bm0/bm1 failed with EOPNOTSUPP");
    cr_assert_not(env.has[BM_CAP_LOCAL2_V6]);
    cr_assert_str_eq(env.why[BM_CAP_LOCAL2_V6], "bind to 2001:db8::2 failed with EADDRNOTAVAIL; "
                     "adding it to lo failed with EOPNOTSUPP");
    cr_assert_not(env.has[BM_CAP_BROADCAST]);
    cr_assert_not_null(strstr(env.why[BM_CAP_BROADCAST], "on lo: adding 192.0.2.1/24 to lo failed "
                              "with EOPNOTSUPP"), "%s", env.why[BM_CAP_BROADCAST]);
    cr_assert_not(env.has[BM_CAP_MULTICAST_V6]);
    cr_assert_not_null(strstr(env.why[BM_CAP_MULTICAST_V6], "on lo: "), "%s",
                       env.why[BM_CAP_MULTICAST_V6]);

    /* err lists exactly the missing ones, each once */
    cr_assert_not_null(strstr(err, "veth: creating the veth pair"), "%s", err);
    cr_assert_not_null(strstr(err, "local2_v6: "), "%s", err);
    cr_assert_not_null(strstr(err, "multicast_v6: "), "%s", err);
    cr_assert_not_null(strstr(err, "broadcast: "), "%s", err);
    cr_assert_null(strstr(err, "local2_v4"), "%s", err);
    cr_assert_null(strstr(err, "multicast_v4"), "%s", err);
}

/* The run record says what the sandbox lacks and why, what answered, and how TIME_WAIT
 * was verified. */
Test(sandbox, run_record_lists_capabilities_and_degradations)
{
    struct bm_env env;
    struct bm_host_sysctls host;
    sysinfo_read_host_sysctls(&host, BM_SYSCTLS_DEFAULT);
    bm_test_sandbox(&env);
    env.has[BM_CAP_MULTICAST_V6] = false;
    strcpy(env.why[BM_CAP_MULTICAST_V6], "setsockopt IPV6_JOIN_GROUP failed with ENODEV");
    env.has[BM_CAP_SOCK_DIAG] = false;
    strcpy(env.why[BM_CAP_SOCK_DIAG], "socket(AF_NETLINK, NETLINK_SOCK_DIAG) failed with EPROTONOSUPPORT");

    json_t *run = sysinfo_run_record(&env, &host, "h", 1, "cases", "gvisor release-20221219.0", BM_TW_NONE);
    json_t *caps = json_object_get(run, "capabilities"), *deg = json_object_get(run, "degraded");
    cr_assert_str_eq(json_string_value(json_object_get(run, "stack")), "gvisor release-20221219.0");
    cr_assert(json_is_true(json_object_get(caps, "local2")));
    cr_assert(json_is_true(json_object_get(caps, "multicast_v4")));
    cr_assert(json_is_false(json_object_get(caps, "multicast_v6")));
    cr_assert_eq(json_object_size(caps), BM_CAP_COUNT + 1, "every capability, and local2");
    cr_assert_eq(json_object_size(deg), 2);
    cr_assert_str_eq(json_string_value(json_object_get(deg, "multicast_v6")),
                     "setsockopt IPV6_JOIN_GROUP failed with ENODEV");
    cr_assert_str_eq(json_string_value(json_object_get(run, "time_wait_verification")),
                     "final-ack", "no case ran: what this sandbox would use");
    json_decref(run);

    env.has[BM_CAP_SOCK_DIAG] = true;
    run = sysinfo_run_record(&env, &host, "h", 1, "cases", "kernel", BM_TW_NONE);
    cr_assert_str_eq(json_string_value(json_object_get(run, "time_wait_verification")),
                     "final-ack+sock_diag");
    json_decref(run);
    run = sysinfo_run_record(&env, &host, "h", 1, "cases", "kernel", BM_TW_FINAL_ACK);
    cr_assert_str_eq(json_string_value(json_object_get(run, "time_wait_verification")),
                     "final-ack", "one case that rested on the final ACK alone says so");
    json_decref(run);
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

Test(sandbox, other_user_is_probed_for_the_uid_given)
{
    struct bm_env env;
    uid_t before = geteuid();
    bm_test_sandbox(&env);
    sandbox_set_other_user(&env, 4242, 4243);
    cr_assert_eq(env.other_uid, 4242);
    cr_assert_eq(env.other_gid, 4243);
    cr_assert_eq(env.has[BM_CAP_OTHER_USER], before == 0, "%s", env.why[BM_CAP_OTHER_USER]);
    cr_assert_eq(geteuid(), before, "the probe switched back");
}

Test(sandbox, pin_cpu)
{
    cr_assert_eq(sandbox_pin_cpu(0), 0);
}
