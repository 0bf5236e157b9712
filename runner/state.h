/* state.h — build a socket's starting state for real and verify it (cases/README.md, States). */
#ifndef BM_STATE_H
#define BM_STATE_H

#include "exec.h"
#include "helpers.h"
#include "model.h"
#include <stddef.h>
#include <sys/socket.h>

/* The symbolic name ("time-wait-client"), for messages. */
const char *state_name(enum bm_state st);

/* Builds state st on *fd (a fresh socket of its case, options already set) bound at
 * addr/len.  Some states replace or consume the socket: *fd becomes the accepted child
 * (established-child) or -1 (closed, time-wait-*: the case socket is gone, its port is
 * what the case observes).  Helper sockets go to h.  *bound receives the address the
 * socket was bound to (getsockname, so port 0 shows the kernel's choice).  For a TIME_WAIT
 * state, *proof is raised to what showed it (sock_diag's listing, or where sock_diag is
 * missing, the helper's final ACK alone); other states leave it.
 * Returns 0, or an errno or BM_R_* code (errnames.h) with why ("connect failed with
 * ECONNREFUSED") filled in. */
int state_build(int *fd, enum bm_state st, const struct sockaddr *addr, socklen_t len,
                const struct bm_env *env, struct bm_helpers *h,
                struct sockaddr_storage *bound, enum bm_tw_proof *proof, char *why,
                size_t whylen);

#endif
