/* The host's sysctls against the workers': read before any namespace is entered, recorded
 * as host_sysctls, and (--sysctls host) written into each namespace.  The "host" here is
 * this test's own private namespace, with net.ipv6.bindv6only=1 set in it; the runner's
 * namespace is made inside it, as main makes it: sandbox_enter, then
 * sysinfo_apply_host_sysctls, then the run record from inside. */
#include "bm_testenv.h"
#include "exec.h"
#include "sysinfo.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define V6ONLY "net.ipv6.bindv6only"

/* Enters a private "host" namespace that has bindv6only=1, and reads it as main does. */
static void host_with_bindv6only(struct bm_host_sysctls *host, enum bm_sysctl_mode mode)
{
    struct bm_env outer;
    char old[16], err[256];

    bm_test_sandbox(&outer);
    cr_assert_eq(sandbox_set_sysctl(V6ONLY, "1", old, sizeof old, err, sizeof err), 0, "%s", err);
    sysinfo_read_host_sysctls(host, mode);
}

/* The runner's namespace inside it: what a worker (and the parent) does on entering. */
static void enter_runner_namespace(struct bm_env *env, struct bm_host_sysctls *host)
{
    char err[1024];

    cr_assert_eq(sandbox_enter(env, err, sizeof err), 0, "%s", err);
    cr_assert(env->has[BM_CAP_NETNS]);
    cr_assert_eq(sysinfo_apply_host_sysctls(host, env), 0);
}

static const char *field(json_t *run, const char *object, const char *name)
{
    return json_string_value(json_object_get(json_object_get(run, object), name));
}

/* A dual-stack pair on one port: an AF_INET6 wildcard without IPV6_V6ONLY, then AF_INET. */
static void dualstack_case(struct bm_case *c)
{
    memset(c, 0, sizeof *c);
    c->nsockets = 2;
    strcpy(c->sockets[0].name, "a");
    c->sockets[0].family = BM_FAMILY_IPV6;
    strcpy(c->sockets[1].name, "b");
    c->sockets[1].family = BM_FAMILY_IPV4;
    c->nsteps = 2;
    for (int i = 0; i < 2; i++) {
        struct bm_step *st = &c->steps[i];
        st->op = BM_OP_BIND;
        st->sock = i;
        snprintf(st->label, sizeof st->label, "%s.bind", c->sockets[i].name);
        strcpy(st->addr, "wildcard");
        st->has_port = true;
        st->port.index = 1;
    }
}

static const char *second_bind(struct bm_env *env)
{
    static struct bm_case c;
    static struct bm_outcome out;

    dualstack_case(&c);
    exec_case(&c, env, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    return out.steps[1].result;
}

Test(sysinfo, default_mode_records_the_host_and_runs_with_the_namespace_defaults)
{
    struct bm_host_sysctls host;
    struct bm_env env;

    host_with_bindv6only(&host, BM_SYSCTLS_DEFAULT);
    enter_runner_namespace(&env, &host);
    json_t *run = sysinfo_run_record(&env, &host, "h", 1, "cases", "kernel", BM_TW_NONE);
    cr_assert_str_eq(json_string_value(json_object_get(run, "sysctl_mode")), "default");
    cr_assert_str_eq(field(run, "host_sysctls", V6ONLY), "1");
    cr_assert_str_eq(field(run, "sysctls", V6ONLY), "0", "a fresh namespace's default");
    cr_assert_null(json_object_get(json_object_get(run, "degraded"), "sysctl:" V6ONLY));
    cr_assert_str_eq(second_bind(&env), "EADDRINUSE", "[::] without v6only takes IPv4 too");
    json_decref(run);
}

Test(sysinfo, host_mode_writes_the_host_values_into_the_namespace)
{
    struct bm_host_sysctls host;
    struct bm_env env;
    char now[16], err[256];

    host_with_bindv6only(&host, BM_SYSCTLS_HOST);
    enter_runner_namespace(&env, &host);
    json_t *run = sysinfo_run_record(&env, &host, "h", 1, "cases", "kernel", BM_TW_NONE);
    cr_assert_str_eq(json_string_value(json_object_get(run, "sysctl_mode")), "host");
    cr_assert_str_eq(field(run, "host_sysctls", V6ONLY), "1");
    cr_assert_str_eq(field(run, "sysctls", V6ONLY), "1", "the host's value, written");
    cr_assert_eq(json_object_size(json_object_get(run, "degraded")), 0);
    json_decref(run);
    cr_assert_str_eq(second_bind(&env), "ok", "[::] is IPv6-only, as on the host");

    /* a case's own sysctl overrides it for that case, then the baseline is back */
    static struct bm_case c;
    static struct bm_outcome out;
    dualstack_case(&c);
    c.nsysctls = 1;
    strcpy(c.sysctls[0].key, V6ONLY);
    strcpy(c.sysctls[0].value, "0");
    exec_case(&c, &env, &out);
    cr_assert_eq(out.status, BM_STATUS_OBSERVED, "%s", out.reason);
    cr_assert_str_eq(out.steps[1].result, "EADDRINUSE");
    cr_assert_eq(sandbox_set_sysctl(V6ONLY, "1", now, sizeof now, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(now, "1", "restored to the worker's baseline, not the kernel default");
}

/* A host value the namespace cannot take is a degradation with its reason, never fatal. */
Test(sysinfo, a_host_value_that_cannot_be_written_is_degraded)
{
    struct bm_host_sysctls host;
    struct bm_env env;
    char err[1024];
    size_t i = 0;

    host_with_bindv6only(&host, BM_SYSCTLS_HOST);
    while (i < host.n && strcmp(host.s[i].name, V6ONLY) != 0)
        i++;
    cr_assert_lt(i, host.n);
    strcpy(host.s[i].value, "not-a-number");
    cr_assert_eq(sandbox_enter(&env, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sysinfo_apply_host_sysctls(&host, &env), 1);
    cr_assert_not_null(strstr(host.s[i].why, "the namespace keeps 0"), "%s", host.s[i].why);
    json_t *run = sysinfo_run_record(&env, &host, "h", 1, "cases", "kernel", BM_TW_NONE);
    cr_assert_str_eq(field(run, "degraded", "sysctl:" V6ONLY), host.s[i].why);
    cr_assert_str_eq(field(run, "sysctls", V6ONLY), "0");
    json_decref(run);
}

/* Without a private namespace the values in effect are the host's own: nothing is written. */
Test(sysinfo, nothing_is_written_outside_a_private_namespace)
{
    struct bm_host_sysctls host;
    struct bm_env env;
    char now[16], err[256];

    host_with_bindv6only(&host, BM_SYSCTLS_HOST);
    for (size_t i = 0; i < host.n; i++)
        snprintf(host.s[i].value, sizeof host.s[i].value, "%s", "7");
    sandbox_defaults(&env); /* has[BM_CAP_NETNS] false: as where namespaces do not exist */
    cr_assert_eq(sysinfo_apply_host_sysctls(&host, &env), 0);
    cr_assert_eq(sandbox_set_sysctl(V6ONLY, "1", now, sizeof now, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(now, "1");
}

Test(sysinfo, only_per_namespace_sysctls_are_taken_from_the_host)
{
    struct bm_host_sysctls host;
    const char *const *names = sysinfo_bind_sysctls();
    size_t n = 0;

    sysinfo_read_host_sysctls(&host, BM_SYSCTLS_HOST);
    while (names[n])
        n++;
    cr_assert_eq(host.n, n, "the same list the manifest names");
    for (size_t i = 0; i < host.n; i++) {
        cr_assert_str_eq(host.s[i].name, names[i]);
        cr_assert_eq(host.s[i].per_netns, strncmp(names[i], "net.ipv", 7) == 0, "%s", names[i]);
    }
}

/* Linux keeps the net.* sysctls per network namespace: the probe says so, and leaves this
 * namespace's value as it was. */
Test(sandbox, sysctls_are_per_namespace_here)
{
    struct bm_env env;
    char why[256], before[64] = "", after[64] = "", err[256];

    bm_test_sandbox(&env);
    cr_assert_eq(sandbox_set_sysctl("net.ipv4.ip_local_port_range", "30000 40000", before,
                                    sizeof before, err, sizeof err), 0, "%s", err);
    cr_assert_eq(sysinfo_sysctls_shared(why, sizeof why), 0, "%s", why);
    cr_assert_eq(sandbox_set_sysctl("net.ipv4.ip_local_port_range", "30000 40000", after,
                                    sizeof after, err, sizeof err), 0, "%s", err);
    cr_assert_str_eq(after, "30000\t40000");
}
