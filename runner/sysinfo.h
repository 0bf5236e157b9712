/* sysinfo.h — what the run record says about the host: OS, release, bind-relevant sysctls. */
#ifndef BM_SYSINFO_H
#define BM_SYSINFO_H

#include "exec.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BM_SYSCTL_LEN 256       /* a sysctl's value as text, folded */
#define BM_MAX_BIND_SYSCTLS 16

/* What the workers' namespaces start from (--sysctls): the kernel's defaults for a fresh
 * namespace (the same on every host), or the host's own values written into it (what
 * services on this host get). */
enum bm_sysctl_mode { BM_SYSCTLS_DEFAULT, BM_SYSCTLS_HOST };
extern const char *const bm_sysctl_mode_names[]; /* enum bm_sysctl_mode, NULL-terminated */

/* One bind sysctl as the host has it. */
struct bm_host_sysctl {
    const char *name;
    bool per_netns;              /* each network namespace has its own value */
    bool present;                /* the host has it: value is its text */
    char value[BM_SYSCTL_LEN];
    char why[BM_CAP_WHY_LEN];    /* host mode: why a namespace could not take the host's
                                    value ("" = it took it, or had it already) */
};

struct bm_host_sysctls {
    enum bm_sysctl_mode mode;
    size_t n;
    struct bm_host_sysctl s[BM_MAX_BIND_SYSCTLS];
};

/* The sysctls that change what bind() answers, recorded in the run record (NULL-terminated). */
const char *const *sysinfo_bind_sysctls(void);
/* "linux", "freebsd", "macos", "openbsd", ... from uname. */
const char *sysinfo_os(void);
/* "<os>-<release>", the default host label and results file stem. */
void sysinfo_host(char *buf, size_t len);

/* Reads every bind sysctl as the calling process sees it.  Called before the runner enters
 * any namespace, these are the host's values. */
void sysinfo_read_host_sysctls(struct bm_host_sysctls *h, enum bm_sysctl_mode mode);

/* Host mode: writes the host's value of every per-namespace sysctl it has into env's own
 * namespace, where that namespace's value differs.  Never without a private namespace (the
 * values there are the host's own, not ours to write).  A value that cannot be written
 * leaves the namespace's default, with why set.  Returns how many could not be; 0 in
 * default mode. */
int sysinfo_apply_host_sysctls(struct bm_host_sysctls *h, const struct bm_env *env);

/* The run record (schema: harness/schema/results-1.schema.json, $defs/run).  "sysctls" are
 * read from the calling process's network namespace (one set up like the workers'), and
 * "host_sysctls" and "sysctl_mode" come from host.  stack is what answered the socket
 * calls ("kernel", or --stack); weakest is the weakest TIME_WAIT proof any case rested on
 * (BM_TW_NONE: none built one, so the record says what this sandbox would use). */
json_t *sysinfo_run_record(const struct bm_env *env, const struct bm_host_sysctls *host,
                           const char *host_label, int workers, const char *cases_dir,
                           const char *stack, enum bm_tw_proof weakest);

/* Whether the net.* sysctls of one network namespace reach the others.  Linux keeps them per
 * namespace; gVisor shares ip_local_port_range among all of them.  Tried with a second
 * namespace, made in a child, whose ip_local_port_range it sets: 1 shared (why says how it
 * showed; this namespace's value is put back), 0 not, -1 unknown (why). */
int sysinfo_sysctls_shared(char *why, size_t len);

#endif
