/* exit_shim.c — an LD_PRELOAD library for worker_exit_check.sh: a process forked by the
 * runner that ends with _exit(0) ends with BM_SHIM_EXIT_STATUS instead, as a worker does
 * whose sanitizer or valgrind found something after its last case.  Grandchildren (a
 * worker's own helpers) are left alone. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

static pid_t runner_pid;

__attribute__((constructor)) static void remember_runner(void)
{
    runner_pid = getpid(); /* forks do not run constructors: this is the runner's pid */
}

void _exit(int status)
{
    void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
    const char *swap = getenv("BM_SHIM_EXIT_STATUS");

    if (status == 0 && swap && getppid() == runner_pid)
        status = atoi(swap);
    real(status);
    abort();    /* real() does not return */
}

/* BM_SHIM_HANG_LISTEN: a case's listen() in a worker never returns, as a case that hangs
 * past every timeout of its own would, for the parent's watchdog (worker_exit_check.sh).
 * The sandbox's own probe listens with a backlog of 1 before any case: that one returns. */
int listen(int fd, int backlog)
{
    int (*real)(int, int) = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");

    if (getenv("BM_SHIM_HANG_LISTEN") && backlog > 1 && getppid() == runner_pid)
        for (;;)
            pause();
    return real(fd, backlog);
}
