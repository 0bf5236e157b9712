/* bm_testenv.h — shared by the tests that touch the kernel: each test runs in its own
 * process (Criterion's default), enters a fresh network namespace there and pins itself to
 * one CPU, so nothing reaches the host's network. */
#ifndef BM_TESTENV_H
#define BM_TESTENV_H

#include "sandbox.h"
#include <criterion/criterion.h>
#include <stdio.h>

static inline void bm_test_sandbox(struct bm_env *env)
{
    char err[512];
    int rc = sandbox_enter(env, err, sizeof err);
    cr_assert_eq(rc, 0, "sandbox_enter: %s", err);
    cr_assert(env->isolated, "tests must run in a private network namespace");
    if (err[0])
        fprintf(stderr, "sandbox notes: %s\n", err);
    cr_assert_eq(sandbox_pin_cpu(0), 0);
}

#endif
