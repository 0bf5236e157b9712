#include "sysinfo.h"
#include "config.h"
#include "names.h"
#include "results.h"
#include "sandbox.h"
#include "sockopts.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <errno.h>
#include <sched.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYSCTLBYNAME
#include <sys/sysctl.h>
#endif

/* Sysctls that change what bind() answers (see shared reference, section B). */
static const struct {
    const char *name;
    bool per_netns; /* the runner's namespace has its own value, the host's stays apart */
} bind_sysctls[] = {
    /* Linux, per network namespace */
    {"net.ipv6.bindv6only", true}, {"net.ipv4.ip_autobind_reuse", true},
    {"net.ipv4.ip_unprivileged_port_start", true}, {"net.ipv4.ip_local_port_range", true},
    {"net.ipv4.ip_local_reserved_ports", true}, {"net.ipv4.tcp_tw_reuse", true},
    {"net.ipv4.ip_nonlocal_bind", true}, {"net.ipv6.ip_nonlocal_bind", true},
    {"net.ipv4.tcp_max_tw_buckets", true},
    /* FreeBSD / macOS / OpenBSD: one value for the whole system (the runner has no jail) */
    {"net.inet6.ip6.v6only", false}, {"net.inet.ip.portrange.reservedhigh", false},
    {"net.inet.ip.portrange.first", false}, {"net.inet.ip.portrange.last", false},
    {"net.inet.ip.portrange.lowlast", false}, {"net.inet.tcp.msl", false},
};
#define NBIND (sizeof bind_sysctls / sizeof bind_sysctls[0])
_Static_assert(NBIND <= BM_MAX_BIND_SYSCTLS, "struct bm_host_sysctls holds every bind sysctl");

const char *const bm_sysctl_mode_names[] = {"default", "host", NULL};

const char *const *sysinfo_bind_sysctls(void)
{
    static const char *names[NBIND + 1];

    if (!names[0])
        for (size_t i = 0; i < NBIND; i++)
            names[i] = bind_sysctls[i].name;
    return names;
}

const char *sysinfo_os(void)
{
    static char os[72];
    struct utsname u;

    if (uname(&u) != 0)
        return "unknown";
    if (strcmp(u.sysname, "Darwin") == 0)
        return "macos";
    if (strcmp(u.sysname, "DragonFly") == 0)
        return "dragonfly";
    snprintf(os, sizeof os, "%s", u.sysname);
    for (char *p = os; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    if (strcmp(os, "linux") && strcmp(os, "freebsd") && strcmp(os, "openbsd") && strcmp(os, "netbsd"))
        return "unknown";
    return os;
}

void sysinfo_host(char *buf, size_t len)
{
    struct utsname u;

    if (uname(&u) != 0)
        snprintf(u.release, sizeof u.release, "unknown");
    snprintf(buf, len, "%s-%s", sysinfo_os(), u.release);
}

/* The sysctl's value as text, whitespace folded to single spaces; 0 if it does not exist. */
static int read_sysctl(const char *dotted, char *out, size_t len)
{
    char path[256], buf[256];
    FILE *f;
    size_t n, j = 0;

    snprintf(path, sizeof path, "/proc/sys/%s", dotted);
    for (char *p = path + 10; *p; p++)
        if (*p == '.')
            *p = '/';
    f = fopen(path, "r");
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        for (size_t i = 0; i < n && j + 1 < len; i++) {
            bool space = isspace((unsigned char)buf[i]);
            if (space && (j == 0 || out[j - 1] == ' '))
                continue;
            out[j++] = space ? ' ' : buf[i];
        }
        while (j > 0 && out[j - 1] == ' ')
            j--;
        out[j] = '\0';
        return 1;
    }
#ifdef HAVE_SYSCTLBYNAME
    {
        int v;
        size_t vlen = sizeof v;
        if (sysctlbyname(dotted, &v, &vlen, NULL, 0) == 0 && vlen == sizeof v) {
            snprintf(out, len, "%d", v);
            return 1;
        }
    }
#endif
    return 0;
}

/* A reason, cut to fit: its end matters least. */
static void set_why(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

void sysinfo_read_host_sysctls(struct bm_host_sysctls *h, enum bm_sysctl_mode mode)
{
    memset(h, 0, sizeof *h);
    h->mode = mode;
    h->n = NBIND;
    for (size_t i = 0; i < NBIND; i++) {
        h->s[i].name = bind_sysctls[i].name;
        h->s[i].per_netns = bind_sysctls[i].per_netns;
        h->s[i].present = read_sysctl(bind_sysctls[i].name, h->s[i].value, sizeof h->s[i].value);
    }
}

int sysinfo_apply_host_sysctls(struct bm_host_sysctls *h, const struct bm_env *env)
{
    int failed = 0;

    for (size_t i = 0; i < h->n; i++) {
        struct bm_host_sysctl *s = &h->s[i];
        char now[BM_SYSCTL_LEN] = "", err[BM_CAP_WHY_LEN];

        s->why[0] = '\0';
        if (h->mode != BM_SYSCTLS_HOST || !env->has[BM_CAP_NETNS] || !s->per_netns || !s->present)
            continue;
        /* only where it differs: writing the value the namespace has already needs no right */
        if (read_sysctl(s->name, now, sizeof now) && strcmp(now, s->value) == 0)
            continue;
        if (sandbox_set_sysctl(s->name, s->value, NULL, 0, err, sizeof err) != 0)
            set_why(s->why, sizeof s->why, "%s; the namespace keeps %s", err, now);
        else if (!read_sysctl(s->name, now, sizeof now) || strcmp(now, s->value) != 0)
            /* a write taken and ignored must not pass for the host's value */
            set_why(s->why, sizeof s->why, "sysctl %s=%s was taken but reads back as %s",
                    s->name, s->value, now);
        failed += s->why[0] != '\0';
    }
    return failed;
}

static void add_option(const char *name, bool available, void *ctx)
{
    json_object_set_new((json_t *)ctx, name, json_boolean(available));
}

/* How TIME_WAIT was verified: the weakest proof a case rested on, else what would be. */
static const char *tw_verification(const struct bm_env *env, enum bm_tw_proof weakest)
{
    if (weakest == BM_TW_NONE)
        weakest = !env->has[BM_CAP_TCP_INFO]  ? BM_TW_NONE
                  : env->has[BM_CAP_SOCK_DIAG] ? BM_TW_SOCK_DIAG
                                               : BM_TW_FINAL_ACK;
    return bm_tw_proof_names[weakest];
}

json_t *sysinfo_run_record(const struct bm_env *env, const struct bm_host_sysctls *host,
                           const char *host_label, int workers, const char *cases_dir,
                           const char *stack, enum bm_tw_proof weakest)
{
    json_t *run = json_object(), *sysctls = json_object(), *opts = json_object(), *caps = json_object();
    json_t *degraded = json_object(), *host_sysctls = json_object();
    struct utsname u;
    char value[BM_SYSCTL_LEN], when[32];
    time_t now = time(NULL);
    struct tm tm;

    if (uname(&u) != 0)
        memset(&u, 0, sizeof u);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    for (size_t i = 0; i < NBIND; i++)
        if (read_sysctl(bind_sysctls[i].name, value, sizeof value))
            json_object_set_new(sysctls, bind_sysctls[i].name, json_string(value));
    sockopt_each(add_option, opts);
    /* "local2": both families, as records before the per-family names said it */
    json_object_set_new(caps, "local2", json_boolean(env->has[BM_CAP_LOCAL2_V4] &&
                                                     env->has[BM_CAP_LOCAL2_V6]));
    for (int c = 0; c < BM_CAP_COUNT; c++) {
        json_object_set_new(caps, sandbox_cap_name(c), json_boolean(env->has[c]));
        if (!env->has[c])
            json_object_set_new(degraded, sandbox_cap_name(c), json_string(sandbox_missing(env, c)));
    }
    for (size_t i = 0; i < host->n; i++) {
        const struct bm_host_sysctl *s = &host->s[i];
        char key[BM_SYSCTL_LEN];
        if (s->present)
            json_object_set_new(host_sysctls, s->name, json_string(s->value));
        /* named as a case skipped for a sysctl names what it lacks */
        snprintf(key, sizeof key, "sysctl:%s", s->name);
        if (s->why[0])
            json_object_set_new(degraded, key, json_string(s->why));
    }

    json_object_set_new(run, "record", json_string("run"));
    json_object_set_new(run, "schema", json_integer(BM_RESULTS_SCHEMA));
    json_object_set_new(run, "runner_version", json_string(BINDMATRIX_VERSION));
    json_object_set_new(run, "os", json_string(sysinfo_os()));
    json_object_set_new(run, "os_release", json_string(u.release));
    json_object_set_new(run, "os_version", json_string(u.version));
    json_object_set_new(run, "arch", json_string(u.machine));
    json_object_set_new(run, "host", json_string(host_label));
    json_object_set_new(run, "privileged", json_boolean(env->privileged));
    json_object_set_new(run, "isolation", json_string(!env->has[BM_CAP_NETNS] ? "none"
                                                      : env->privileged ? "netns" : "userns+netns"));
    json_object_set_new(run, "stack", json_string(stack));
    json_object_set_new(run, "sysctl_mode", json_string(bm_sysctl_mode_names[host->mode]));
    json_object_set_new(run, "sysctls", sysctls);
    json_object_set_new(run, "host_sysctls", host_sysctls);
    json_object_set_new(run, "options", opts);
    json_object_set_new(run, "capabilities", caps);
    json_object_set_new(run, "degraded", degraded);
    json_object_set_new(run, "time_wait_verification", json_string(tw_verification(env, weakest)));
    json_object_set_new(run, "started", json_string(when));
    json_object_set_new(run, "workers", json_integer(workers));
    json_object_set_new(run, "cases_dir", json_string(cases_dir));
    return run;
}

int sysinfo_sysctls_shared(char *why, size_t len)
{
#ifdef CLONE_NEWNET
    static const char *const range = "net.ipv4.ip_local_port_range";
    char before[64], after[64], old[64], err[256];
    const char *other;
    int status = 0;
    pid_t pid;

    why[0] = '\0';
    if (!read_sysctl(range, before, sizeof before)) {
        snprintf(why, len, "%s cannot be read", range);
        return -1;
    }
    other = strcmp(before, "40000 40001") == 0 ? "40002 40003" : "40000 40001";
    if ((pid = fork()) < 0) {
        snprintf(why, len, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0)   /* a namespace of its own, with its own range */
        _exit(unshare(CLONE_NEWNET) != 0 ? 2 :
              sandbox_set_sysctl(range, other, NULL, 0, err, sizeof err) != 0 ? 3 : 0);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(why, len, "no second namespace to compare with (%s)",
                 WIFEXITED(status) && WEXITSTATUS(status) == 2 ? "unshare failed"
                                                                : "its sysctl could not be set");
        return -1;
    }
    if (!read_sysctl(range, after, sizeof after) || strcmp(before, after) == 0)
        return 0;
    /* it reached this namespace too: put this one's back */
    sandbox_set_sysctl(range, before, old, sizeof old, err, sizeof err);
    snprintf(why, len, "%s set in another network namespace showed in this one", range);
    return 1;
#else
    snprintf(why, len, "no network namespaces on this OS");
    return -1;
#endif
}
