/* bm_testenv.h — shared by the tests that touch the kernel: each test runs in its own
 * process (Criterion's default), enters a fresh network namespace there and pins itself to
 * one CPU, so nothing reaches the host's network. */
#ifndef BM_TESTENV_H
#define BM_TESTENV_H

#include "config.h"
#include "sandbox.h"
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#ifdef HAVE_LINUX_SECCOMP_H
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#define BM_AF_NETLINK AF_NETLINK
#define BM_NETLINK_ROUTE NETLINK_ROUTE
#define BM_NETLINK_SOCK_DIAG NETLINK_SOCK_DIAG
#else
#define BM_AF_NETLINK (-1)
#define BM_NETLINK_ROUTE (-1)
#define BM_NETLINK_SOCK_DIAG (-1)
#endif

static inline void bm_test_sandbox(struct bm_env *env)
{
    char err[1024];
    int rc = sandbox_enter(env, err, sizeof err);
    cr_assert_eq(rc, 0, "sandbox_enter: %s", err);
    cr_assert(env->has[BM_CAP_NETNS], "tests must run in a private network namespace");
    if (err[0])
        fprintf(stderr, "sandbox notes: %s\n", err);
    cr_assert_eq(sandbox_pin_cpu(0), 0);
}

/* From now on, in this test's process, socket(domain, *, protocol) fails with err: how a
 * test takes away what a sandbox such as gVisor lacks (sock_diag, rtnetlink) after the
 * runner has looked for it, or before.  false where there is no seccomp filter for it. */
static inline bool bm_test_refuse_socket(int domain, int protocol, int err)
{
#if defined(HAVE_LINUX_SECCOMP_H) && defined(SECCOMP_MODE_FILTER) && defined(__NR_socket)
    /* the low 32 bits of a 64-bit argument (the values compared are small and positive) */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    const unsigned lo = 4;
#else
    const unsigned lo = 0;
#endif
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 0, 5),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]) + lo),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)domain, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[2]) + lo),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)protocol, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = (unsigned short)(sizeof f / sizeof f[0]), .filter = f };
    /* sockets the runner keeps were made before the refusal: they would go round it */
    sandbox_forget_kept();
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
           prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0;
#else
    (void)domain, (void)protocol, (void)err;
    return false;
#endif
}

#endif
