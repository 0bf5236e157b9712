/* addr.h — symbolic addresses (cases/README.md) -> socket addresses on this host. */
#ifndef BM_ADDR_H
#define BM_ADDR_H

#include "exec.h"
#include "model.h"
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The name is a symbolic address a case may use for bind/connect/deliver/state ("peer" is
 * handled by exec and is not included). */
bool addr_known(const char *name);

/* Resolves name for a socket of family fam and the given port into *ss / *len.
 * Returns NULL on success, else why it cannot be used here (the case is skipped, or for
 * combinations no host supports, like mapped-loopback on IPv4, the case file is wrong). */
const char *addr_resolve(const char *name, enum bm_family fam, int port, const struct bm_env *env,
                         struct sockaddr_storage *ss, socklen_t *len);

/* The fixed literal of name for fam ("group" IPv6: "ff05::db8:0:1"); NULL when it has none
 * or it comes from the sandbox (local2, broadcast). */
const char *addr_literal(const char *name, enum bm_family fam);

/* The sandbox capability name needs for fam, so a skip can say why it is missing;
 * BM_CAP_COUNT when it needs none. */
enum bm_cap addr_needs(const char *name, enum bm_family fam);

/* Numeric host and port of a socket address, for the result record. */
void addr_format(const struct sockaddr *sa, char *host, size_t hostlen, int *port);

/* Fills ss with a numeric literal of family fam; false if it does not parse. */
bool addr_from_numeric(const char *text, enum bm_family fam, int port,
                       struct sockaddr_storage *ss, socklen_t *len);

#endif
