#include "names.h"

#include <stddef.h>

const char *const bm_op_names[] = {"state", "setsockopt", "bind", "listen", "connect",
                                   "accept", "close", "join", "deliver", NULL};
const char *const bm_state_names[] = {"bound", "listening", "connected", "time-wait-client",
                                      "time-wait-server", "established-child", "passive-close-server",
                                      "closed", NULL};
const char *const bm_proto_names[] = {"tcp", "udp", NULL};
const char *const bm_family_names[] = {"ipv4", "ipv6", NULL};
const char *const bm_user_names[] = {"same", "other", NULL};
const char *const bm_status_names[] = {"observed", "skipped", "error", NULL};
const char *const bm_tw_proof_names[] = {"none", "final-ack+sock_diag", "final-ack", NULL};
const char *const bm_from_names[] = {"fresh", "peer", NULL};
/* "peer" is a connect target only; addr.c resolves the others. */
const char *const bm_address_names[] = {"loopback", "local2", "wildcard", "mapped-loopback",
                                        "mapped-wildcard", "group", "broadcast", "nonlocal",
                                        "peer", NULL};
