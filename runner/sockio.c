/* sockio.c — poll-based waits.  A wait that runs out is the runner's outcome, not the
 * kernel's: BM_R_TIMEOUT, never an errno a syscall could also return. */
#include "sockio.h"
#include "errnames.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

long long sockio_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sockio_left_ms(long long deadline)
{
    long long left = deadline - sockio_now_ms();
    return left > 0 ? (int)left : 0;
}

static int wait_event(int fd, short events, int timeout_ms)
{
    long long deadline = sockio_now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int n = poll(&p, 1, sockio_left_ms(deadline));
        if (n > 0)
            return 0;
        if (n == 0)
            return BM_R_TIMEOUT;
        if (errno != EINTR)
            return errno;
    }
}

int sockio_connect(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return errno;
    if (!(flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return errno;
    int rc = 0;
    if (connect(fd, sa, len) < 0) {
        rc = errno;
        if (rc == EINPROGRESS || rc == EINTR) {
            rc = wait_event(fd, POLLOUT, timeout_ms);
            if (rc == 0) {
                int soerr = 0;
                socklen_t sl = sizeof soerr;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                    rc = errno;
                else
                    rc = soerr;
            }
        }
    }
    if (!(flags & O_NONBLOCK))
        (void)fcntl(fd, F_SETFL, flags);
    return rc;
}

int sockio_accept(int fd, int timeout_ms, int *child)
{
    *child = -1;
    /* The queue may empty between poll and accept (a reuseport sibling, a RST), so accept
     * non-blocking (accept4 is not on every OS: toggle the listener) and wait again. */
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return errno;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return errno;
    long long deadline = sockio_now_ms() + timeout_ms;
    int rc;
    for (;;) {
        rc = wait_event(fd, POLLIN, sockio_left_ms(deadline));
        if (rc)
            break;
        int c = accept(fd, NULL, NULL);
        if (c >= 0) {
            /* BSDs let the child inherit O_NONBLOCK; Linux does not.  Make it blocking. */
            int fl = fcntl(c, F_GETFL);
            if (fl >= 0)
                (void)fcntl(c, F_SETFL, fl & ~O_NONBLOCK);
            (void)fcntl(c, F_SETFD, FD_CLOEXEC);
            *child = c;
            rc = 0;
            break;
        }
        rc = errno;
        if (rc != EAGAIN && rc != EWOULDBLOCK && rc != EINTR && rc != ECONNABORTED)
            break;
        if (sockio_left_ms(deadline) == 0) {
            rc = BM_R_TIMEOUT; /* readable, but the connection went before accept took it */
            break;
        }
    }
    (void)fcntl(fd, F_SETFL, flags);
    return rc;
}

int sockio_wait_readable(int fd, int timeout_ms)
{
    return wait_event(fd, POLLIN, timeout_ms);
}

void sockio_tick(void)
{
    (void)poll(NULL, 0, 1);
}

int sockio_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        d = opendir("/dev/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}
