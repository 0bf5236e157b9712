/* sysinfo.h — what the run record says about the host: OS, release, bind-relevant sysctls. */
#ifndef BM_SYSINFO_H
#define BM_SYSINFO_H

#include "exec.h"

#include <jansson.h>
#include <stddef.h>

/* The sysctls that change what bind() answers, recorded in the run record (NULL-terminated). */
const char *const *sysinfo_bind_sysctls(void);
/* "linux", "freebsd", "macos", "openbsd", ... from uname. */
const char *sysinfo_os(void);
/* "<os>-<release>", the default host label and results file stem. */
void sysinfo_host(char *buf, size_t len);
/* The run record (schema: harness/schema/results-1.schema.json, $defs/run).  Reads sysctls
 * as seen from the calling process's network namespace.  stack is what answered the socket
 * calls ("kernel", or --stack); weakest is the weakest TIME_WAIT proof any case rested on
 * (BM_TW_NONE: none built one, so the record says what this sandbox would use). */
json_t *sysinfo_run_record(const struct bm_env *env, const char *host_label, int workers,
                           const char *cases_dir, const char *stack, enum bm_tw_proof weakest);

#endif
