/* helpers.c — helper sockets and how to reach a bound socket. */
#include "helpers.h"
#include "sockio.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

void helpers_init(struct bm_helpers *h)
{
    h->n = 0;
    for (int p = 0; p < 2; p++)
        h->peer[p][0].fd = h->peer[p][1].fd = -1;
}

int helpers_add(struct bm_helpers *h, int fd)
{
    if (fd < 0)
        return fd;
    if (h->n >= BM_MAX_HELPERS) {
        close(fd);
        errno = EMFILE;
        return -1;
    }
    h->fd[h->n++] = fd;
    return fd;
}

void helpers_close(struct bm_helpers *h)
{
    /* Newest first: accepted children before the listeners they came from. */
    while (h->n > 0)
        close(h->fd[--h->n]);
    helpers_init(h);
}

static bool is_mapped(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 &&
           IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

void helpers_reachable(const struct sockaddr_storage *local, struct sockaddr_storage *target,
                       socklen_t *len)
{
    *target = *local;
    if (local->ss_family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)target;
        if (s->sin_addr.s_addr == htonl(INADDR_ANY))
            s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *s;
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)target;
        static const unsigned char mapped_any[16] = { [10] = 0xff, [11] = 0xff };
        if (IN6_IS_ADDR_UNSPECIFIED(&s->sin6_addr))
            s->sin6_addr = in6addr_loopback;
        else if (memcmp(&s->sin6_addr, mapped_any, 16) == 0)
            inet_pton(AF_INET6, "::ffff:127.0.0.1", &s->sin6_addr);
        *len = sizeof *s;
    }
}

int helpers_peer_for(struct bm_helpers *h, int sotype, int family,
                     const struct sockaddr_storage *local,
                     struct sockaddr_storage *target, socklen_t *tlen)
{
    bool mapped = local && is_mapped(local);
    int hfam = (family == AF_INET || mapped) ? AF_INET : AF_INET6;
    int pi = sotype == SOCK_STREAM ? 0 : 1, fi = hfam == AF_INET ? 0 : 1;
    struct sockaddr_storage ss;
    socklen_t len = hfam == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    int fd = h->peer[pi][fi].fd;
    if (fd >= 0) {
        ss = h->peer[pi][fi].addr;
    } else {
        if ((fd = socket(hfam, sotype, 0)) < 0)
            return -errno;
        memset(&ss, 0, sizeof ss);
        if (hfam == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)&ss;
            s->sin_family = AF_INET;
            s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        } else {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
            s->sin6_family = AF_INET6;
            s->sin6_addr = in6addr_loopback;
        }
        if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
            (sotype == SOCK_STREAM && listen(fd, SOMAXCONN) < 0) ||
            getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (helpers_add(h, fd) < 0)
            return -EMFILE;
        h->peer[pi][fi].fd = fd;
        h->peer[pi][fi].addr = ss;
    }
    if (mapped) {
        /* The case socket is an IPv6 socket speaking IPv4: give it the mapped form. */
        struct sockaddr_in6 *t = (struct sockaddr_in6 *)target;
        const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;
        memset(target, 0, sizeof *target);
        t->sin6_family = AF_INET6;
        t->sin6_port = s->sin_port;
        t->sin6_addr.s6_addr[10] = t->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&t->sin6_addr.s6_addr[12], &s->sin_addr, 4);
        *tlen = sizeof *t;
    } else {
        *target = ss;
        *tlen = len;
    }
    return fd;
}

int helpers_client_to(struct bm_helpers *h, const struct sockaddr_storage *local, int timeout_ms,
                      int *fd)
{
    struct sockaddr_storage target;
    socklen_t tlen;
    helpers_reachable(local, &target, &tlen);
    *fd = socket(target.ss_family, SOCK_STREAM, 0);
    if (*fd < 0)
        return errno;
    if (helpers_add(h, *fd) < 0)
        return EMFILE;
    return sockio_connect(*fd, (struct sockaddr *)&target, tlen, timeout_ms);
}
