#include "floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A TCP socket bound to 127.0.0.1:port (0: the kernel's choice); fd or -1. */
static int bound(unsigned short port, struct sockaddr_in *at)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        (at && getsockname(fd, (struct sockaddr *)at, &len) != 0)) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Refused: a second bind to at's port fails with EADDRINUSE. */
static int refused(const struct sockaddr_in *at)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

    if (fd < 0)
        return 0;
    rc = bind(fd, (const struct sockaddr *)at, sizeof *at) != 0 && errno == EADDRINUSE;
    close(fd);
    return rc;
}

static int bind_conflict(char *why, size_t whylen)
{
    struct sockaddr_in at;
    int a = bound(0, &at), ok = a >= 0 && listen(a, 1) == 0 && refused(&at);

    if (a >= 0)
        close(a);
    if (!ok)
        snprintf(why, whylen, "the bind-conflict floor: %s", strerror(errno));
    return ok ? 0 : -1;
}

static int time_wait(char *why, size_t whylen)
{
    struct sockaddr_in lat, cat;
    socklen_t len = sizeof cat;
    int l = bound(0, &lat), c = -1, s = -1, ok = 0;
    char byte;

    if (l >= 0 && listen(l, 1) == 0 && (c = socket(AF_INET, SOCK_STREAM, 0)) >= 0 &&
        connect(c, (struct sockaddr *)&lat, sizeof lat) == 0 &&
        getsockname(c, (struct sockaddr *)&cat, &len) == 0 && (s = accept(l, NULL, NULL)) >= 0) {
        close(c);                           /* the active close: c goes to TIME_WAIT */
        c = -1;
        ok = read(s, &byte, 1) == 0;        /* its FIN is in */
        close(s);                           /* the last FIN: c's final ACK follows at once */
        s = -1;
        ok = ok && refused(&cat);
    }
    if (s >= 0)
        close(s);
    if (c >= 0)
        close(c);
    if (l >= 0)
        close(l);
    if (!ok)
        snprintf(why, whylen, "the TIME_WAIT floor: %s", strerror(errno));
    return ok ? 0 : -1;
}

int floor_measure(int reps, struct bm_floor *out, char *why, size_t whylen)
{
    double *t = malloc((size_t)(reps > 0 ? reps : 1) * sizeof *t);
    int (*const kinds[2])(char *, size_t) = {bind_conflict, time_wait};
    double *into[2] = {&out->bind_conflict_us, &out->time_wait_us};

    if (!t || reps < 1) {
        free(t);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < reps; i++) {
            double start = now_us();
            if (kinds[k](why, whylen) != 0) {
                free(t);
                return -1;
            }
            t[i] = now_us() - start;
        }
        *into[k] = median(t, reps);
    }
    free(t);
    return 0;
}
