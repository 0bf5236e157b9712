/* sockio.h — bounded waits on sockets: every wait ends by env->timeout_ms, none sleeps blind. */
#ifndef BM_SOCKIO_H
#define BM_SOCKIO_H

#include <stdbool.h>
#include <sys/socket.h>

/* Monotonic milliseconds. */
long long sockio_now_ms(void);

/* Milliseconds left until deadline (>= 0). */
int sockio_left_ms(long long deadline);

/* Non-blocking connect, waited for with poll; the socket's blocking mode is restored.
 * 0, the errno connect() or SO_ERROR gave, or BM_R_TIMEOUT (errnames.h) when the wait ran
 * out. */
int sockio_connect(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms);

/* Waits up to timeout_ms for a pending connection and accepts it into *child.
 * 0, BM_R_TIMEOUT when none arrived in time, or accept()'s errno. */
int sockio_accept(int fd, int timeout_ms, int *child);

/* Waits until fd is readable; 0, or BM_R_TIMEOUT. */
int sockio_wait_readable(int fd, int timeout_ms);

/* A bounded pause of about 1 ms for loops that poll kernel state with no event to wait on
 * (TCP_INFO of a closing socket, sock_diag listings). */
void sockio_tick(void);

/* Number of open file descriptors of this process (for leak checks); -1 if unknown. */
int sockio_count_fds(void);

#endif
