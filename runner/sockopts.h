/* sockopts.h — symbolic socket option names -> (level, optname) for this OS. */
#ifndef BM_SOCKOPTS_H
#define BM_SOCKOPTS_H

#include "model.h"
#include <stdbool.h>
#include <stddef.h>

/* The name is one bindmatrix knows on some OS (for the parser: a typo is a case-file error). */
bool sockopt_known(const char *name);

/* The option is defined on this build (else cases using it are skipped). */
bool sockopt_available(const char *name);

/* Defined on this build but unknown to the running kernel (IP_LOCAL_PORT_RANGE before 6.3):
 * getsockopt on a fresh socket of the family the option's level belongs to answers
 * ENOPROTOOPT.  False when the kernel knows it, or when that cannot be asked. */
bool sockopt_absent_from_kernel(const char *name);

/* The value of a case file's "name=text" (text NULL: the name alone) as struct bm_opt keeps
 * it (cases/README.md, "Option values"):
 *   most options: an integer, 1 when the name stands alone;
 *   local_port_range: "Pn-Pm" or "En-Em" (two port placeholders, filled in when the case
 *     runs: Pn the case's fresh ports, En fresh ports inside the namespace's ephemeral
 *     range) or "0" (no per-socket range); kept as code(lo) | code(hi) << 8, where code(Pn)
 *     is n and code(En) is 10 + n;
 *   bindtodevice: "lo" (1) or "veth" (2), the runner's loopback or veth interface.
 * 0, or -1 with the reason in err. */
int sockopt_parse_value(const char *name, const char *text, int *value, char *err, size_t errlen);

/* o as a case file writes it ("v6only=0", "local_port_range=E1-E1", "bindtodevice=lo"). */
void sockopt_format(const struct bm_opt *o, char *buf, size_t len);

/* A port placeholder in an option's value. */
struct sockopt_port {
    bool ephemeral; /* En: inside the ephemeral range; else Pn: a fresh port */
    int index;      /* 1..9 */
};

/* The placeholders o's value names, in order (local_port_range: lo, then hi); how many. */
size_t sockopt_ports(const struct bm_opt *o, struct sockopt_port out[2]);

/* o names the runner's veth interface (bindtodevice=veth): the case needs BM_CAP_VETH. */
bool sockopt_needs_veth(const struct bm_opt *o);

/* What only the running case knows: its ports and the sandbox's interfaces. */
struct sockopt_ctx {
    const int *fresh;     /* [10]: Pn -> port, 0 = not allocated */
    const int *ephemeral; /* [10]: En -> port, 0 = not allocated */
    const char *veth;     /* the runner's veth interface; NULL when there is none */
};

/* setsockopt(fd, ...) for o on a socket of family fam.  Returns 0 or an errno value;
 * ENOPROTOOPT when the option is not available here, EINVAL for an unknown name or a value
 * ctx cannot fill in (ctx may be NULL when o's value needs nothing from it). */
int sockopt_apply_in(int fd, enum bm_family fam, const struct bm_opt *o,
                     const struct sockopt_ctx *ctx);

/* sockopt_apply_in() with no context: for options whose value is a plain integer. */
int sockopt_apply(int fd, enum bm_family fam, const struct bm_opt *o);

/* Calls fn for every known option name, in table order, with its availability here. */
void sockopt_each(void (*fn)(const char *name, bool available, void *ctx), void *ctx);

#endif
