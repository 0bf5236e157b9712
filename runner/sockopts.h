/* sockopts.h — symbolic socket option names -> (level, optname) for this OS. */
#ifndef BM_SOCKOPTS_H
#define BM_SOCKOPTS_H

#include "model.h"
#include <stdbool.h>

/* The name is one bindmatrix knows on some OS (for the parser: a typo is a case-file error). */
bool sockopt_known(const char *name);

/* The option is defined on this build (else cases using it are skipped). */
bool sockopt_available(const char *name);

/* setsockopt(fd, ...) for o on a socket of family fam.  Returns 0 or an errno value;
 * ENOPROTOOPT when the option is not available here, EINVAL for an unknown name. */
int sockopt_apply(int fd, enum bm_family fam, const struct bm_opt *o);

/* Calls fn for every known option name, in table order, with its availability here. */
void sockopt_each(void (*fn)(const char *name, bool available, void *ctx), void *ctx);

#endif
