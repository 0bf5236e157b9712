/* exec.c — runs one expanded case: checks what the host lacks (skipped), allocates ports,
 * sets sysctls, runs the steps on lazily created sockets, records what the kernel said,
 * and closes everything it opened. */
#include "exec.h"
#include "addr.h"
#include "delivery.h"
#include "errnames.h"
#include "helpers.h"
#include "sandbox.h"
#include "sockio.h"
#include "sockopts.h"
#include "state.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct run {
    const struct bm_case *c;
    struct bm_env *env;
    struct bm_outcome *out;
    int fd[BM_MAX_SOCKETS];
    bool created[BM_MAX_SOCKETS];
    bool failed[BM_MAX_SOCKETS];   /* a step on it failed: later ones are not-run */
    int fresh[10], priv[10];       /* placeholder index -> port, 0 = not allocated */
    int eph[10];                   /* En (in option values) -> port, 0 = not allocated */
    struct bm_helpers helpers;
    char old_sysctl[BM_MAX_SYSCTLS][128];
    size_t nsysctl_set;
};

static void set_status(struct run *r, enum bm_status st, const char *fmt, ...)
{
    r->out->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->out->reason, sizeof r->out->reason, fmt, ap);
    va_end(ap);
}

/* A skip for something this host lacks: kind "option" or "sysctl" and its name, or a
 * sandbox capability (kind NULL), recorded under the name the run record gives it. */
static void skip(struct run *r, const char *kind, const char *name, const char *reason)
{
    snprintf(r->out->capability, sizeof r->out->capability, "%s%s%s", kind ? kind : "",
             kind ? ":" : "", name);
    set_status(r, BM_STATUS_SKIPPED, "%s", reason);
}

/* A skip for lack of cap: what is missing, then why the sandbox has no cap. */
static void skip_for(struct run *r, enum bm_cap cap, const char *what)
{
    const char *cause = sandbox_missing(r->env, cap);
    char reason[BM_TEXT_LEN];

    if (snprintf(reason, sizeof reason, "%s%s%s%s", what, cause[0] ? " (" : "", cause,
                 cause[0] ? ")" : "") >= (int)sizeof reason && cause[0])
        reason[sizeof reason - 2] = ')';    /* cut short, but still closed */
    if (cap < BM_CAP_COUNT)
        skip(r, NULL, sandbox_cap_name(cap), reason);
    else
        set_status(r, BM_STATUS_SKIPPED, "%s", reason);
}

/* What the OS lacks, whoever runs the case: every option known (else the case file is
 * wrong: error) and defined on this OS (else skipped); false when the case stops. */
static bool options_defined(struct run *r, const struct bm_opt *opts, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        char reason[BM_TEXT_LEN];
        if (!sockopt_known(opts[j].name)) {
            set_status(r, BM_STATUS_ERROR, "unknown option %s", opts[j].name);
            return false;
        }
        if (!sockopt_available(opts[j].name)) {
            snprintf(reason, sizeof reason, "option %s is not defined on this OS", opts[j].name);
            skip(r, "option", opts[j].name, reason);
            return false;
        }
    }
    return true;
}

/* What this run lacks for an option: the interface it names. */
static bool options_runnable(struct run *r, const struct bm_opt *opts, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        char reason[BM_TEXT_LEN];
        if (sockopt_needs_veth(&opts[j]) && !r->env->has[BM_CAP_VETH]) {
            char what[BM_NAME_LEN * 2];
            sockopt_format(&opts[j], what, sizeof what);
            snprintf(reason, sizeof reason, "option %s needs the runner's veth interface", what);
            skip_for(r, BM_CAP_VETH, reason);
            return false;
        }
    }
    return true;
}

static int af_of(enum bm_family f)
{
    return f == BM_FAMILY_IPV6 ? AF_INET6 : AF_INET;
}

static bool is_peer_addr(const char *a)
{
    return a[0] == '\0' || strcmp(a, "peer") == 0;
}

/* Everything that makes a case skipped (host lacks it) or an error (the case cannot mean
 * anything anywhere), decided before any socket exists.  false when the case stops. */
static bool precheck(struct run *r)
{
    const struct bm_case *c = r->c;
    /* first what this OS lacks whoever runs the case (an option it does not define), then
     * what this run lacks (privilege, a namespace): a case gets the same reason as root and
     * as a user, and the expectation's reason is the OS's */
    for (size_t i = 0; i < c->nsockets; i++)
        if (!options_defined(r, c->sockets[i].opts, c->sockets[i].nopts))
            return false;
    for (size_t k = 0; k < c->nsteps; k++)
        if (!options_defined(r, c->steps[k].opts, c->steps[k].nopts))
            return false;
    for (size_t i = 0; i < c->nsockets; i++) {
        const struct bm_socket *s = &c->sockets[i];
        if (!options_runnable(r, s->opts, s->nopts))
            return false;
        if (s->user == BM_USER_OTHER && !r->env->has[BM_CAP_OTHER_USER]) {
            skip_for(r, BM_CAP_OTHER_USER, "needs root to act as a second user");
            return false;
        }
    }
    if (c->nsysctls > 0 && !r->env->has[BM_CAP_NETNS]) {
        skip_for(r, BM_CAP_NETNS, "sysctl cases need a private network namespace");
        return false;
    }
    for (size_t k = 0; k < c->nsteps; k++) {
        const struct bm_step *st = &c->steps[k];
        if (st->op != BM_OP_DELIVER && (st->sock < 0 || (size_t)st->sock >= c->nsockets)) {
            set_status(r, BM_STATUS_ERROR, "step %s has no socket", st->label);
            return false;
        }
        if (!options_runnable(r, st->opts, st->nopts))
            return false;
        enum bm_family fam = st->op == BM_OP_DELIVER ? st->family
                                                     : c->sockets[st->sock].family;
        const char *addr = st->addr;
        if (st->op == BM_OP_JOIN) {
            addr = "group";
        } else if (st->op == BM_OP_CONNECT && is_peer_addr(addr)) {
            continue;
        } else if (st->op != BM_OP_BIND && st->op != BM_OP_STATE && st->op != BM_OP_CONNECT &&
                   st->op != BM_OP_DELIVER) {
            continue;
        }
        if (!addr[0]) {
            set_status(r, BM_STATUS_ERROR, "step %s has no address", st->label);
            return false;
        }
        struct sockaddr_storage ss;
        socklen_t len;
        const char *why = addr_resolve(addr, fam, 0, r->env, &ss, &len);
        if (why) {
            /* mapped-* on IPv4, broadcast on IPv6, unknown names: the case file is wrong. */
            bool file_error = !addr_known(addr) || strncmp(why, "mapped", 6) == 0 ||
                              strncmp(why, "broadcast needs", 15) == 0;
            char what[BM_TEXT_LEN / 2];
            snprintf(what, sizeof what, "%s: %s", st->label, why);
            if (file_error)
                set_status(r, BM_STATUS_ERROR, "%s", what);
            else
                skip_for(r, addr_needs(addr, fam), what);
            return false;
        }
    }
    return true;
}

/* Fresh ports for every placeholder the case uses; they never repeat in this namespace. */
/* Outside a private namespace other programs share the port space: a port is used only if
 * nothing holds it, for TCP or UDP, IPv4 or IPv6 (a TIME_WAIT from an earlier run included). */
static bool port_is_free(int port)
{
    static const int families[] = {AF_INET, AF_INET6}, types[] = {SOCK_STREAM, SOCK_DGRAM};

    for (int f = 0; f < 2; f++)
        for (int t = 0; t < 2; t++) {
            struct sockaddr_storage ss;
            socklen_t len;
            int fd = socket(families[f], types[t], 0), one = 1, ok;

            if (fd < 0)
                continue; /* no such family here: nothing can hold the port in it */
            addr_from_numeric(families[f] == AF_INET ? "0.0.0.0" : "::",
                              families[f] == AF_INET ? BM_FAMILY_IPV4 : BM_FAMILY_IPV6, port, &ss, &len);
            if (families[f] == AF_INET6)
                setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
            close(fd);
            if (!ok)
                return false;
        }
    return true;
}

/* The next unused port from a range ("fresh" or "privileged"); false (the case is an error)
 * when the range is used up. */
static bool take_port(struct run *r, int *next, int hi, const char *range, int *out)
{
    while (*next <= hi) {
        int port = (*next)++;
        if (r->env->has[BM_CAP_NETNS] || port_is_free(port)) {
            *out = port;
            return true;
        }
    }
    set_status(r, BM_STATUS_ERROR, "%s port range exhausted", range);
    return false;
}

/* The namespace's ephemeral range (net.ipv4.ip_local_port_range, which IPv6 shares), read
 * once; false when this host has none to read. */
static bool ephemeral_range(struct bm_env *env)
{
    if (env->next_eph_port)
        return true;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    int lo = 0, hi = 0;
    bool ok = f && fscanf(f, "%d %d", &lo, &hi) == 2 && lo > 0 && lo <= hi && hi <= 65535;
    if (f)
        fclose(f);
    if (ok) {
        env->eph_port_lo = lo;
        env->next_eph_port = hi;
    }
    return ok;
}

/* The next En port: downwards from the top of the ephemeral range, never repeated in this
 * namespace, and only one that nothing holds now (autobound helpers, TIME_WAIT left by
 * earlier cases live in that range too). */
static bool take_ephemeral(struct run *r, int *out)
{
    if (!ephemeral_range(r->env)) {
        set_status(r, BM_STATUS_ERROR, "no ephemeral port range to read (En placeholders)");
        return false;
    }
    while (r->env->next_eph_port >= r->env->eph_port_lo) {
        int port = r->env->next_eph_port--;
        if (port_is_free(port)) {
            *out = port;
            return true;
        }
    }
    set_status(r, BM_STATUS_ERROR, "ephemeral port range exhausted");
    return false;
}

/* Ports named in option values (local_port_range=P1-E2). */
static bool allocate_option_ports(struct run *r, const struct bm_opt *opts, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        struct sockopt_port p[2];
        size_t np = sockopt_ports(&opts[j], p);
        for (size_t i = 0; i < np; i++) {
            int x = p[i].index;
            if (p[i].ephemeral ? !r->eph[x] && !take_ephemeral(r, &r->eph[x])
                               : !r->fresh[x] && !take_port(r, &r->env->next_port,
                                                            r->env->port_hi, "fresh", &r->fresh[x]))
                return false;
        }
    }
    return true;
}

static bool allocate_ports(struct run *r)
{
    for (size_t i = 0; i < r->c->nsockets; i++)
        if (!allocate_option_ports(r, r->c->sockets[i].opts, r->c->sockets[i].nopts))
            return false;
    for (size_t k = 0; k < r->c->nsteps; k++)
        if (!allocate_option_ports(r, r->c->steps[k].opts, r->c->steps[k].nopts))
            return false;
    for (size_t k = 0; k < r->c->nsteps; k++) {
        const struct bm_step *st = &r->c->steps[k];
        if (!st->has_port || st->port.kind == BM_PORT_ZERO)
            continue;
        int i = st->port.index;
        if (i < 1 || i > 9) {
            set_status(r, BM_STATUS_ERROR, "step %s: port placeholder %d out of 1..9",
                       st->label, i);
            return false;
        }
        if (st->port.kind == BM_PORT_FRESH && !r->fresh[i] &&
            !take_port(r, &r->env->next_port, r->env->port_hi, "fresh", &r->fresh[i]))
            return false;
        if (st->port.kind == BM_PORT_PRIVILEGED && !r->priv[i] &&
            !take_port(r, &r->env->next_priv_port, r->env->priv_port_hi, "privileged", &r->priv[i]))
            return false;
    }
    return true;
}

static int port_of_step(const struct run *r, const struct bm_step *st)
{
    if (!st->has_port || st->port.kind == BM_PORT_ZERO)
        return 0;
    return st->port.kind == BM_PORT_FRESH ? r->fresh[st->port.index] : r->priv[st->port.index];
}

/* A sysctl value with port placeholders ("P1 P1") made concrete, so a case can, e.g., pin
 * ip_local_port_range to one fresh port that no earlier case has touched. */
static bool sysctl_value(struct run *r, const char *in, char *out, size_t len)
{
    const char *given = in;
    size_t n = 0;

    out[0] = '\0';
    while (*in) {
        size_t w = strcspn(in, " \t");
        char word[64];

        snprintf(word, sizeof word, "%.*s", (int)w, in);
        if (w == 2 && word[0] == 'P' && word[1] >= '1' && word[1] <= '9') {
            int i = word[1] - '0';
            if (!r->fresh[i] && !take_port(r, &r->env->next_port, r->env->port_hi, "fresh", &r->fresh[i]))
                return false;
            snprintf(word, sizeof word, "%d", r->fresh[i]);
        }
        n += (size_t)snprintf(out + n, n < len ? len - n : 0, "%s%s", n ? " " : "", word);
        in += w;
        in += strspn(in, " \t");
    }
    if (n >= len)
        set_status(r, BM_STATUS_ERROR, "sysctl value '%.20s...' is too long once its ports are filled in", given);
    return n < len;
}

static bool set_sysctls(struct run *r)
{
    for (size_t i = 0; i < r->c->nsysctls; i++) {
        char err[256], value[128];
        const struct bm_kv *kv = &r->c->sysctls[i];
        if (!sysctl_value(r, kv->value, value, sizeof value))
            return false;
        /* missing here, or not ours to set: either way this host cannot run the case */
        if (sandbox_set_sysctl(kv->key, value, r->old_sysctl[i], sizeof r->old_sysctl[i],
                               err, sizeof err)) {
            skip(r, "sysctl", kv->key, err);
            return false;
        }
        r->nsysctl_set = i + 1;
    }
    return true;
}

static void restore_sysctls(struct run *r)
{
    while (r->nsysctl_set > 0) {
        size_t i = --r->nsysctl_set;
        char err[256];
        if (sandbox_set_sysctl(r->c->sysctls[i].key, r->old_sysctl[i], NULL, 0, err, sizeof err))
            fprintf(stderr, "bindmatrix: restoring %s\n", err);
    }
}

/* user=other: the socket's syscalls run with the other user's effective ids. */
struct ids { uid_t euid; gid_t egid; bool switched; };

static int become(const struct run *r, int sock, struct ids *saved)
{
    *saved = (struct ids){.switched = false};
    if (sock < 0 || r->c->sockets[sock].user != BM_USER_OTHER)
        return 0;
    saved->euid = geteuid();
    saved->egid = getegid();
    r->env->ids_switched = true; /* which also disarms PR_SET_PDEATHSIG (main.c re-arms it) */
    if (setegid(r->env->other_gid) < 0)
        return errno;
    if (seteuid(r->env->other_uid) < 0) {
        int e = errno;
        (void)setegid(saved->egid);
        return e;
    }
    saved->switched = true;
    return 0;
}

static void unbecome(const struct ids *saved)
{
    if (!saved->switched)
        return;
    /* Back to root first: only root may set the group back. */
    if (seteuid(saved->euid) < 0 || setegid(saved->egid) < 0) {
        perror("bindmatrix: cannot return to the runner's own user");
        _exit(70); /* continuing as the wrong user would corrupt every later result */
    }
}

/* What option values take from the running case: its ports and the veth interface. */
static struct sockopt_ctx option_ctx(const struct run *r)
{
    struct sockopt_ctx ctx = { r->fresh, r->eph, r->env->has[BM_CAP_VETH] ? BM_VETH_IFNAME : NULL };
    return ctx;
}

/* socket() + the socket's options, at its first step.  An option the headers define but this
 * kernel does not have (IP_LOCAL_PORT_RANGE before 6.3) sets *absent, so the case is skipped
 * for it as for an option the OS does not define; ENOPROTOOPT alone does not say that (v6only
 * on an AF_INET socket answers it too), so the kernel is asked. */
static int create_socket(struct run *r, int i, const char **absent, char *why, size_t whylen)
{
    const struct bm_socket *s = &r->c->sockets[i];
    int fd = socket(af_of(s->family), s->proto == BM_PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(why, whylen, "socket() for %s failed with %s", s->name, errno_name(e));
        return e;
    }
    struct sockopt_ctx ctx = option_ctx(r);
    for (size_t j = 0; j < s->nopts; j++) {
        int e = sockopt_apply_in(fd, s->family, &s->opts[j], &ctx);
        if (e) {
            char what[BM_NAME_LEN * 2];
            sockopt_format(&s->opts[j], what, sizeof what);
            if (e == ENOPROTOOPT && sockopt_absent_from_kernel(s->opts[j].name)) {
                *absent = s->opts[j].name;
                snprintf(why, whylen, "option %s is not supported by this kernel (setsockopt "
                         "on socket %s answers ENOPROTOOPT)", what, s->name);
            } else {
                snprintf(why, whylen, "option %s on socket %s failed with %s", what, s->name,
                         errno_name(e));
            }
            close(fd);
            return e;
        }
    }
    r->fd[i] = fd;
    r->created[i] = true;
    return 0;
}

static void record_addr(struct bm_step_result *res, const struct sockaddr_storage *ss)
{
    addr_format((const struct sockaddr *)ss, res->addr, sizeof res->addr, &res->port);
}

static void record_local(struct bm_step_result *res, int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        record_addr(res, &ss);
}

/* The per-case helper peer a `connect` to peer reaches, made on first use. */
static int peer_for(struct run *r, int fd, enum bm_proto proto, enum bm_family fam,
                    struct sockaddr_storage *target, socklen_t *tlen)
{
    struct sockaddr_storage local;
    socklen_t ll = sizeof local;
    memset(&local, 0, sizeof local);
    if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0)
        local.ss_family = AF_UNSPEC;
    int hfd = helpers_peer_for(&r->helpers, proto == BM_PROTO_TCP ? SOCK_STREAM : SOCK_DGRAM,
                               af_of(fam), &local, target, tlen);
    return hfd < 0 ? -hfd : 0;
}

static int do_join(struct run *r, int fd, enum bm_family fam)
{
    struct sockaddr_storage g;
    socklen_t gl;
    if (addr_resolve("group", fam, 0, r->env, &g, &gl))
        return BM_R_NO_ADDRESS;
    if (fam == BM_FAMILY_IPV4) {
        struct ip_mreq m;
        memset(&m, 0, sizeof m);
        m.imr_multiaddr = ((struct sockaddr_in *)&g)->sin_addr;
        struct sockaddr_storage ifa;
        socklen_t il;
        if (!addr_from_numeric(r->env->mc_addr_v4, BM_FAMILY_IPV4, 0, &ifa, &il))
            return BM_R_NO_ADDRESS; /* no multicast interface address */
        m.imr_interface = ((struct sockaddr_in *)&ifa)->sin_addr;
        return setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0 ? errno : 0;
    }
    struct ipv6_mreq m;
    memset(&m, 0, sizeof m);
    m.ipv6mr_multiaddr = ((struct sockaddr_in6 *)&g)->sin6_addr;
    m.ipv6mr_interface = r->env->mc_ifindex;
    return setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) < 0 ? errno : 0;
}

static int do_deliver(struct run *r, const struct bm_step *st, struct bm_step_result *res,
                      char *why, size_t whylen)
{
    const struct bm_case *c = r->c;
    enum bm_family fam = st->family;
    enum bm_proto proto = st->proto;
    struct sockaddr_storage dst;
    socklen_t dl;
    const char *e = addr_resolve(st->addr, fam, port_of_step(r, st), r->env, &dst, &dl);
    if (e) {
        snprintf(why, whylen, "%s", e);
        return BM_R_NO_ADDRESS;
    }
    int rx[BM_MAX_RECEIVERS];
    size_t nrx = st->nreceivers < BM_MAX_RECEIVERS ? st->nreceivers : BM_MAX_RECEIVERS;
    for (size_t i = 0; i < nrx; i++) {
        int s = st->receivers[i];
        rx[i] = (s >= 0 && (size_t)s < c->nsockets) ? r->fd[s] : -1;
    }
    res->has_delivery = true;
    struct bm_delivery *d = &res->delivery;
    d->nreceivers = nrx;
    addr_format((struct sockaddr *)&dst, d->to, sizeof d->to, NULL);
    record_addr(res, &dst);
    if (proto == BM_PROTO_TCP)
        return delivery_tcp(&dst, dl, st->count, r->env, rx, nrx, d->received, &d->sent,
                            why, whylen);
    int from = -1;
    if (strcmp(st->from, "peer") == 0) {
        /* The UDP helper peer of the destination's family; made here if no step did. */
        struct sockaddr_storage t;
        socklen_t tl;
        from = helpers_peer_for(&r->helpers, SOCK_DGRAM, af_of(fam), NULL, &t, &tl);
        if (from < 0) {
            snprintf(why, whylen, "helper peer failed with %s", bm_result_name(-from));
            return -from;
        }
    }
    return delivery_udp(&dst, dl, st->count, from, r->env, rx, nrx, d->received, &d->sent,
                        why, whylen);
}

/* Runs one step on an existing socket; returns 0, the errno the kernel gave, or a BM_R_*
 * code for what the runner itself found (errnames.h).  why is set for failures that are
 * not the kernel's answer to the observed call. */
static int run_op(struct run *r, const struct bm_step *st, struct bm_step_result *res,
                  char *why, size_t whylen)
{
    const struct bm_socket *s = &r->c->sockets[st->sock];
    int *fd = &r->fd[st->sock];
    struct sockaddr_storage ss;
    socklen_t len;
    int port = port_of_step(r, st);

    if (*fd < 0 && st->op != BM_OP_STATE)
        return BM_R_NO_SOCKET; /* closed by an earlier step or state: nothing to call */

    switch (st->op) {
    case BM_OP_STATE: {
        if (addr_resolve(st->addr, s->family, port, r->env, &ss, &len))
            return BM_R_NO_ADDRESS;
        struct sockaddr_storage bound;
        int rc = state_build(fd, st->state, (struct sockaddr *)&ss, len, r->env, &r->helpers,
                             &bound, &r->out->tw_proof, why, whylen);
        if (rc == 0)
            record_addr(res, &bound);
        else
            record_addr(res, &ss);
        return rc;
    }
    case BM_OP_SETSOCKOPT:
        for (size_t j = 0; j < st->nopts; j++) {
            struct sockopt_ctx ctx = option_ctx(r);
            int rc = sockopt_apply_in(*fd, s->family, &st->opts[j], &ctx);
            if (rc)
                return rc;
        }
        return 0;
    case BM_OP_BIND:
        if (addr_resolve(st->addr, s->family, port, r->env, &ss, &len))
            return BM_R_NO_ADDRESS;
        record_addr(res, &ss);
        if (bind(*fd, (struct sockaddr *)&ss, len) < 0)
            return errno;
        record_local(res, *fd); /* port 0: the kernel's choice */
        return 0;
    case BM_OP_LISTEN:
        return listen(*fd, SOMAXCONN) < 0 ? errno : 0;
    case BM_OP_CONNECT: {
        if (is_peer_addr(st->addr)) {
            int rc = peer_for(r, *fd, s->proto, s->family, &ss, &len);
            if (rc) {
                snprintf(why, whylen, "helper peer failed with %s", bm_result_name(rc));
                return rc;
            }
        } else if (addr_resolve(st->addr, s->family, port, r->env, &ss, &len)) {
            return BM_R_NO_ADDRESS;
        }
        record_addr(res, &ss);
        return sockio_connect(*fd, (struct sockaddr *)&ss, len, r->env->timeout_ms);
    }
    case BM_OP_ACCEPT: {
        int child;
        int rc = sockio_accept(*fd, r->env->timeout_ms, &child);
        if (rc == 0) {
            record_local(res, child);
            helpers_add(&r->helpers, child);
        }
        return rc;
    }
    case BM_OP_CLOSE:
        record_local(res, *fd);
        close(*fd);
        *fd = -1;
        return 0;
    case BM_OP_JOIN:
        return do_join(r, *fd, s->family);
    case BM_OP_DELIVER:
        break;
    }
    return EINVAL;
}

static void run_steps(struct run *r)
{
    const struct bm_case *c = r->c;
    for (size_t k = 0; k < c->nsteps; k++) {
        const struct bm_step *st = &c->steps[k];
        struct bm_step_result *res = &r->out->steps[k];
        char why[BM_TEXT_LEN / 2] = "";
        int rc;

        if (st->op == BM_OP_DELIVER) {
            rc = do_deliver(r, st, res, why, sizeof why);
            snprintf(res->result, sizeof res->result, "%s", bm_result_name(rc));
            if (rc) {
                /* A probe that could not run is not an observation. */
                set_status(r, BM_STATUS_ERROR, "%s: %s", st->label, why);
                return;
            }
            continue;
        }
        if (r->failed[st->sock])
            continue; /* stays "not-run" */

        struct ids saved;
        if ((rc = become(r, st->sock, &saved))) {
            set_status(r, BM_STATUS_ERROR, "cannot act as uid %u: %s",
                       (unsigned)r->env->other_uid, errno_name(rc));
            return;
        }
        rc = 0;
        const char *absent = NULL;
        if (!r->created[st->sock])
            rc = create_socket(r, st->sock, &absent, why, sizeof why);
        if (rc) {
            unbecome(&saved);
            if (absent)
                skip(r, "option", absent, why);
            else
                set_status(r, BM_STATUS_ERROR, "%s: %s", st->label, why);
            return;
        }
        rc = run_op(r, st, res, why, sizeof why);
        unbecome(&saved);

        snprintf(res->result, sizeof res->result, "%s", bm_result_name(rc));
        if (!rc)
            continue;
        r->failed[st->sock] = true;
        if (st->op == BM_OP_STATE) {
            set_status(r, BM_STATUS_ERROR, "precondition: state %s not reached: %s",
                       state_name(st->state), why[0] ? why : bm_result_name(rc));
            return;
        }
        if (st->precondition) {
            set_status(r, BM_STATUS_ERROR, "precondition: %s failed with %s%s%s", st->label,
                       bm_result_name(rc), why[0] ? ": " : "", why);
            return;
        }
    }
}

static long elapsed_us(const struct timeval *t0)
{
    struct timeval t1;
    gettimeofday(&t1, NULL);
    return (long)((t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_usec - t0->tv_usec));
}

void exec_case(const struct bm_case *c, struct bm_env *env, struct bm_outcome *out)
{
    struct timeval t0;
    gettimeofday(&t0, NULL);
    memset(out, 0, sizeof *out);
    struct run r;
    memset(&r, 0, sizeof r);
    r.c = c;
    r.env = env;
    r.out = out;
    helpers_init(&r.helpers);
    for (int i = 0; i < BM_MAX_SOCKETS; i++)
        r.fd[i] = -1;
    out->status = BM_STATUS_OBSERVED;

    if (c->nsockets > BM_MAX_SOCKETS || c->nsteps > BM_MAX_STEPS) {
        set_status(&r, BM_STATUS_ERROR, "case exceeds the runner's limits");
        goto done;
    }
    if (!precheck(&r) || !allocate_ports(&r) || !set_sysctls(&r))
        goto done;

    out->nsteps = c->nsteps;
    for (size_t k = 0; k < c->nsteps; k++)
        snprintf(out->steps[k].result, sizeof out->steps[k].result, "%s", bm_result_name(BM_R_NOT_RUN));
    run_steps(&r);

done:
    for (int i = 0; i < BM_MAX_SOCKETS; i++)
        if (r.fd[i] >= 0)
            close(r.fd[i]);
    helpers_close(&r.helpers);
    if (out->status == BM_STATUS_SKIPPED)
        out->nsteps = 0;
    restore_sysctls(&r);
    out->duration_us = elapsed_us(&t0);
}
