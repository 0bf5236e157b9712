/* model.h — the concrete, fully expanded case the executor runs, and what it observed.
 *
 * case_parse + expand turn a case file into an array of struct bm_case (every "$axis"
 * substituted, every symbolic name checked).  exec runs one bm_case and fills a
 * struct bm_outcome; results writes both as one JSON line.  Nothing here depends on the OS:
 * symbolic names (addresses, options, states) are resolved only at execution time.
 */
#ifndef BM_MODEL_H
#define BM_MODEL_H

#include <stdbool.h>
#include <stddef.h>

#define BM_MAX_SOCKETS   8
#define BM_MAX_STEPS     16
#define BM_MAX_OPTS      6
#define BM_MAX_AXES      16
#define BM_MAX_SYSCTLS   4
#define BM_MAX_RECEIVERS BM_MAX_SOCKETS
#define BM_NAME_LEN      32
#define BM_TEXT_LEN      512

enum bm_family { BM_FAMILY_IPV4, BM_FAMILY_IPV6 };
enum bm_proto { BM_PROTO_TCP, BM_PROTO_UDP };

/* Which user a socket is created and operated as. */
enum bm_user { BM_USER_SAME, BM_USER_OTHER };

/* One socket option, by symbolic name ("reuseaddr", "reuseport", "reuseport_lb",
 * "reuseshareuid", "v6only", "freebind", "multicast_all", "broadcast", ...), with an integer
 * value (1 unless the case file said "name=0").  Names are checked against the option table
 * (sockopts.h) by the parser; whether the OS has the option is decided at execution. */
struct bm_opt {
    char name[BM_NAME_LEN];
    int value;
};

struct bm_socket {
    char name[BM_NAME_LEN];        /* "a", "b", "old", "new", ... */
    enum bm_proto proto;
    enum bm_family family;
    enum bm_user user;
    size_t nopts;
    struct bm_opt opts[BM_MAX_OPTS]; /* applied right after socket(), before anything else */
};

enum bm_op {
    BM_OP_STATE,      /* precondition: build socket's state from scratch (bind, listen, ...) */
    BM_OP_SETSOCKOPT, /* set opts[] on an existing socket (e.g. after its bind) */
    BM_OP_BIND,
    BM_OP_LISTEN,
    BM_OP_CONNECT,    /* to the case's helper peer, or to addr:port */
    BM_OP_ACCEPT,
    BM_OP_CLOSE,
    BM_OP_JOIN,       /* join the multicast group on the multicast interface */
    BM_OP_DELIVER,    /* send datagrams / connections, record which sockets receive */
};

/* States a first socket can be put in by BM_OP_STATE; every one is verified. */
enum bm_state {
    BM_STATE_BOUND,
    BM_STATE_LISTENING,
    BM_STATE_CONNECTED,        /* TCP: to a helper listener; UDP: connect() to a helper peer */
    BM_STATE_TIME_WAIT_CLIENT, /* bound, connected out, actively closed: TIME_WAIT on its port */
    BM_STATE_TIME_WAIT_SERVER, /* listener's accepted child actively closed, listener closed */
    BM_STATE_ESTABLISHED_CHILD,/* listener closed, its accepted child still established */
    BM_STATE_PASSIVE_CLOSE_SERVER, /* client closed first, the accepted child after it (CLOSED) */
    BM_STATE_CLOSED,           /* bound, then closed */
};

/* Port placeholders: "P1".."P9" are fresh per case (same name = same port within a case),
 * "0" asks the kernel (autobind), "privileged1".."privileged9" are fresh ports below 1024. */
struct bm_port {
    enum { BM_PORT_FRESH, BM_PORT_ZERO, BM_PORT_PRIVILEGED } kind;
    int index;                      /* placeholder number 1..9 */
};

struct bm_step {
    enum bm_op op;
    int sock;                       /* index in bm_case.sockets, -1 when none (deliver) */
    char label[BM_NAME_LEN];        /* "b.bind", "a.listen2", "deliver": key for expectations */
    bool precondition;              /* failure makes the case `error`, not an observation */

    /* bind / connect / state / deliver target */
    char addr[BM_NAME_LEN];         /* symbolic: loopback, local2, wildcard, mapped-loopback,
                                       mapped-wildcard, group, broadcast, nonlocal, peer, ... */
    bool has_port;
    struct bm_port port;
    enum bm_state state;            /* BM_OP_STATE */
    size_t nopts;                   /* BM_OP_SETSOCKOPT */
    struct bm_opt opts[BM_MAX_OPTS];

    /* BM_OP_DELIVER */
    enum bm_family family;          /* family of the senders (default: first receiver's) */
    enum bm_proto proto;            /* udp: datagrams, tcp: connections (first receiver's) */
    int count;                      /* datagrams or connections to send */
    char from[BM_NAME_LEN];         /* "fresh" (a new source port each) or "peer" */
    size_t nreceivers;
    int receivers[BM_MAX_RECEIVERS];/* socket indexes whose receipts are counted */

    int line;                       /* line in the case file, for messages */
};

#define BM_KV_LEN (BM_NAME_LEN * 2) /* fixed axes, sysctls, derived variables: key and value */

struct bm_kv {
    char key[BM_KV_LEN];
    char value[BM_KV_LEN];
};

struct bm_case {
    char id[BM_TEXT_LEN];           /* "tcp/second-listener[family=ipv4,a=none,b=reuseaddr]";
                                       first member: casefiles sorts cases by it */
    /* shared by every case of one file; owned by the bm_case_list (expand.h) */
    const char *scenario;           /* "tcp/second-listener" */
    const char *file;               /* the case file it came from */
    const char *title;
    const char *ref;
    const char *why;                /* "" when the file has none */
    size_t naxes;
    struct bm_kv axes[BM_MAX_AXES]; /* fixed axes first, then matrix axes in declared order */
    size_t nfixed;                  /* axes[0..nfixed) are the fixed ones */
    bool capture;                   /* packets matter: keep its packets as evidence */
    size_t nsysctls;
    struct bm_kv sysctls[BM_MAX_SYSCTLS]; /* "net.ipv4.ip_autobind_reuse" = "1", per case */
    size_t nsockets;
    struct bm_socket sockets[BM_MAX_SOCKETS];
    size_t nsteps;
    struct bm_step steps[BM_MAX_STEPS];
};

/* ---- what the executor observed -------------------------------------------------------- */

enum bm_status { BM_STATUS_OBSERVED, BM_STATUS_SKIPPED, BM_STATUS_ERROR };

struct bm_delivery {
    int sent;
    char to[64];                    /* numeric destination address actually used */
    size_t nreceivers;
    int received[BM_MAX_RECEIVERS]; /* parallel to bm_step.receivers */
};

struct bm_step_result {
    /* "ok", an errno name ("EADDRINUSE"), "not-run" (an earlier step on the same socket
     * failed, so this one would observe nothing meaningful), or another word the runner
     * makes up ("timeout", "no-socket", "no-address": errnames.h, bm_result_name). */
    char result[BM_NAME_LEN];
    char addr[64];                  /* numeric address used, "" when none */
    int port;                       /* port used, 0 when none */
    bool has_delivery;
    struct bm_delivery delivery;
};

/* What showed that a TIME_WAIT state existed, weakest last (the run record names the
 * weakest any case rested on). */
enum bm_tw_proof {
    BM_TW_NONE,       /* the case built no TIME_WAIT state */
    BM_TW_SOCK_DIAG,  /* the helper saw the final ACK and sock_diag lists the socket */
    BM_TW_FINAL_ACK,  /* the helper saw the final ACK; no sock_diag to list it */
};

struct bm_outcome {
    enum bm_status status;
    char reason[BM_TEXT_LEN];       /* required for skipped and error */
    char capability[BM_KV_LEN + 8]; /* skipped: what this host lacks, as the run record and
                                       cases/capabilities.yaml name it: a capability
                                       ("multicast_v6"), "option:NAME" or "sysctl:NAME";
                                       "" when nothing the host lacks is to blame */
    size_t nsteps;                  /* == case nsteps when observed */
    struct bm_step_result steps[BM_MAX_STEPS];
    long duration_us;
    enum bm_tw_proof tw_proof;
};

#endif
