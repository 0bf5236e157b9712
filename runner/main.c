/* bindmatrix-runner — expand the case files, run every case on this kernel, write results.
 *
 * The parent parses and expands, then forks one worker per CPU.  Each worker enters its own
 * network namespace (so workers never see each other's ports), pins itself to one CPU (so
 * loopback delivery is processed in order), takes cases one at a time from a counter it
 * shares with the others (so all end together), runs them in-process and streams one JSON
 * line per case back through a pipe.  A worker that dies or hangs costs only the case it was
 * running: that case becomes `error` and a new worker takes its place.
 * The parent writes the results file in case order, atomically.
 */
#include "capture.h"
#include "config.h"
#include "casefiles.h"
#include "diag.h"
#include "exec.h"
#include "expand.h"
#include "atomic.h"
#include "floor.h"
#include "manifest.h"
#include "spool.h"
#include "stopsig.h"
#include "results.h"
#include "sandbox.h"
#include "selection.h"
#include "sysinfo.h"
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif

struct options {
    const char *output;
    const char *output_dir;     /* where the results go without -o (NULL: here) */
    const char *cases_default;  /* the PATH when none is given */
    const char *manifest_out;
    const char *host_label;
    const char *stack;          /* what answers the socket calls: "kernel" unless --stack */
    const char *root;
    int workers;
    int timeout_ms, lock_wait_ms;
    long watchdog_ms;       /* a case running longer has its worker killed (watch) */
    int floor;              /* --floor N: measure the in-process floor, N times each */
    long other_uid;
    enum bm_sysctl_mode sysctl_mode;
    bool list, print_host, quiet, capture, manifest;
    char evidence_dir[512];     /* <results stem>.evidence, with --capture */
    char evidence_part[520];    /* where the run writes it: <evidence_dir>.part, put in its
                                   place only with the results (put_evidence) */
    char evidence_spare[520];   /* <evidence_dir>.spare: the run before's pcaps, whose files
                                   the next run rewrites (prepare_evidence_dir) */
    const char *filters[32];
    size_t nfilters;
};

struct worker {
    pid_t pid;              /* 0 once waited for */
    int fd;                 /* read end of its pipe, -1 when closed */
    size_t *redo;           /* cases it runs first (again, after a crash), then it claims */
    size_t nredo;
    unsigned long seen_begun; /* its count of cases begun, as the watchdog last saw it */
    long seen_ms;           /* when the watchdog first saw that count */
    unsigned long killed_at; /* the count when the watchdog killed it (0: it did not) */
    char buf[1 << 16];
    size_t buflen;
};

/* At most this many workers (--jobs): the shared page and the parent's poll set are sized
 * for them. */
#define BM_MAX_WORKERS 256

/* A stop signal received by the parent (stopsig.h): the run stops, its finished cases are
 * written marked interrupted, and it exits 128 + the signal. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bindmatrix-runner [options] [PATH...]\n"
            "Runs the bind scenarios in PATH (case.yaml files or folders of them; default: the\n"
            "--cases-default folder) on this kernel and writes the results as JSON Lines.\n\n"
            "  -o, --output FILE      results file (default: <label>.jsonl in --output-dir,\n"
            "                         <label>.partial.jsonl for a partial run; <label> is\n"
            "                         --host-label or <os>-<release>); replaced atomically,\n"
            "                         through a symlink (which stays one); /dev/stdout, a\n"
            "                         FIFO or a device is written directly\n"
            "      --output-dir DIR   folder for the default results file (default: here)\n"
            "      --cases-default DIR  the PATH when none is given (default: cases); a run\n"
            "                         of anything else, or with -f, is partial\n"
            "  -j, --jobs N           parallel workers (default: one per CPU)\n"
            "  -f, --filter TEXT      only cases whose id contains TEXT (repeatable: any of them)\n"
            "      --list             print the expanded case ids and exit\n"
            "      --manifest         print the selected cases as one JSON document (schema:\n"
            "                         harness/schema/manifest-1.schema.json) and exit\n"
            "      --manifest-out FILE  write that manifest to FILE as the run ends, with the\n"
            "                         results and evidence paths of the run (as -o writes);\n"
            "                         a run refused before its first case writes none\n"
            "      --print-host       print <os>-<release> and exit\n"
            "      --host-label TEXT  host name recorded in the run record\n"
            "      --stack TEXT       what answers the socket calls, recorded in the run record\n"
            "                         as \"stack\" (default: kernel; e.g. \"gvisor release-20221219.0\"\n"
            "                         when run under runsc)\n"
            "      --root DIR         folder that case ids are relative to (default: the\n"
            "                         nearest folder named 'cases' above each case file)\n"
            "      --timeout-ms N     bound on every wait inside a case (default 2000)\n"
            "      --watchdog-ms N    a case still running after N ms has its worker killed\n"
            "                         and is an error (default: 10 x --timeout-ms + 5000)\n"
            "      --lock-wait-ms N   how long to wait for another run of the same results\n"
            "                         file to end before giving up (default 10000)\n"
            "      --other-uid N      uid for sockets with user: other (default 65534)\n"
            "      --sysctls MODE     the bind sysctls in each worker's namespace: default\n"
            "                         (the kernel's defaults for a fresh namespace, the same\n"
            "                         on every host) or host (the host's values, read before\n"
            "                         any namespace is entered and written into each: what\n"
            "                         services on this host get); the run record has both\n"
            "                         (\"sysctls\", \"host_sysctls\") and the mode\n"
            "      --capture          record each worker's namespace (libpcap, in the worker)\n"
            "                         and keep, for the cases marked capture: true, a pcap of\n"
            "                         their packets in <results stem>.evidence/ (tcpdump -r\n"
            "                         reads them)\n"
            "      --floor N          print the in-process floor of a case as JSON (the median\n"
            "                         of N bare bind-conflict and TIME_WAIT cases, in a\n"
            "                         sandbox like a worker's) and exit: what bench compares\n"
            "                         the runner with\n"
            "  -q, --quiet            no progress line\n"
            "  -h, --help             this text\n");
}

static int parse_int(const char *s, const char *what, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "bindmatrix-runner: %s must be a number from %ld to %ld, not '%s'\n", what, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Whether text may go into the results: UTF-8 (else jansson makes no string of it, and the
 * field it fills went missing without a word), and for a label no control character either
 * (a newline in a host's name, its file's name).  0, or -1 with the reason said. */
static int check_text(const char *text, const char *what, bool label)
{
    size_t len = strlen(text), bad = bm_utf8_bad_at((const unsigned char *)text, len);

    if (bad < len) {
        fprintf(stderr, "bindmatrix-runner: %s is not UTF-8 text (byte %zu): the results hold "
                "it as text\n", what, bad + 1);
        return -1;
    }
    for (size_t i = 0; label && i < len; i++)
        if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) {
            fprintf(stderr, "bindmatrix-runner: %s holds a control character (byte %zu): it "
                    "labels the run in reports and file names\n", what, i + 1);
            return -1;
        }
    return 0;
}

/* *to = text, which names a file, a folder or a label: never empty (an empty -o named no
 * file and failed only once the run was over).  0, or -1 with the reason said. */
static int take_text(const char *text, const char *what, bool label, const char **to)
{
    if (!text[0]) {
        fprintf(stderr, "bindmatrix-runner: %s needs a text, not ''\n", what);
        return -1;
    }
    if (check_text(text, what, label))
        return -1;
    *to = text;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum { LIST = 256, PRINT_HOST, HOST_LABEL, ROOT, TIMEOUT, OTHER_UID, CAPTURE, MANIFEST,
           MANIFEST_OUT, OUTPUT_DIR, CASES_DEFAULT, STACK, SYSCTLS, LOCK_WAIT, FLOOR, WATCHDOG };
    static const struct option longopts[] = {
        {"output", required_argument, 0, 'o'}, {"jobs", required_argument, 0, 'j'},
        {"filter", required_argument, 0, 'f'}, {"list", no_argument, 0, LIST},
        {"print-host", no_argument, 0, PRINT_HOST}, {"host-label", required_argument, 0, HOST_LABEL},
        {"root", required_argument, 0, ROOT}, {"timeout-ms", required_argument, 0, TIMEOUT},
        {"other-uid", required_argument, 0, OTHER_UID}, {"quiet", no_argument, 0, 'q'},
        {"capture", no_argument, 0, CAPTURE}, {"manifest", no_argument, 0, MANIFEST},
        {"manifest-out", required_argument, 0, MANIFEST_OUT},
        {"output-dir", required_argument, 0, OUTPUT_DIR},
        {"cases-default", required_argument, 0, CASES_DEFAULT},
        {"stack", required_argument, 0, STACK}, {"sysctls", required_argument, 0, SYSCTLS},
        {"lock-wait-ms", required_argument, 0, LOCK_WAIT}, {"floor", required_argument, 0, FLOOR},
        {"watchdog-ms", required_argument, 0, WATCHDOG},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    /* the options that take a text: a file, a folder or a label, never empty */
    const struct { int code; const char *name; const char **to; bool label; } texts[] = {
        {'o', "--output", &o->output, false}, {HOST_LABEL, "--host-label", &o->host_label, true},
        {ROOT, "--root", &o->root, false}, {MANIFEST_OUT, "--manifest-out", &o->manifest_out, false},
        {OUTPUT_DIR, "--output-dir", &o->output_dir, false},
        {CASES_DEFAULT, "--cases-default", &o->cases_default, false},
        {STACK, "--stack", &o->stack, true}};
    long v;
    int c;

    o->timeout_ms = 2000;
    o->lock_wait_ms = 10000;
    o->other_uid = 65534;
    o->cases_default = "cases";
    o->stack = "kernel";
    while ((c = getopt_long(argc, argv, "o:j:f:qh", longopts, NULL)) != -1) {
        size_t t = 0;
        while (t < sizeof texts / sizeof texts[0] && texts[t].code != c)
            t++;
        if (t < sizeof texts / sizeof texts[0]) {
            if (take_text(optarg, texts[t].name, texts[t].label, texts[t].to))
                return -1;
            continue;
        }
        switch (c) {
        case 'j':
            if (parse_int(optarg, "--jobs", 1, BM_MAX_WORKERS, &v))
                return -1;
            o->workers = (int)v;
            break;
        case 'f':
            if (o->nfilters == sizeof o->filters / sizeof o->filters[0]) {
                fprintf(stderr, "bindmatrix-runner: too many --filter options\n");
                return -1;
            }
            if (check_text(optarg, "--filter", false))
                return -1;
            o->filters[o->nfilters++] = optarg;
            break;
        case LIST: o->list = true; break;
        case PRINT_HOST: o->print_host = true; break;
        case TIMEOUT:
            if (parse_int(optarg, "--timeout-ms", 10, 600000, &v))
                return -1;
            o->timeout_ms = (int)v;
            break;
        case FLOOR:
            if (parse_int(optarg, "--floor", 1, 100000, &v))
                return -1;
            o->floor = (int)v;
            break;
        case WATCHDOG:
            if (parse_int(optarg, "--watchdog-ms", 100, 3600000, &v))
                return -1;
            o->watchdog_ms = v;
            break;
        case LOCK_WAIT:
            if (parse_int(optarg, "--lock-wait-ms", 0, 600000, &v))
                return -1;
            o->lock_wait_ms = (int)v;
            break;
        case OTHER_UID:
            if (parse_int(optarg, "--other-uid", 1, 2147483647L, &v))
                return -1;
            o->other_uid = v;
            break;
        case 'q': o->quiet = true; break;
        case CAPTURE: o->capture = true; break;
        case MANIFEST: o->manifest = true; break;
        case SYSCTLS: {
            int m = 0;
            while (bm_sysctl_mode_names[m] && strcmp(bm_sysctl_mode_names[m], optarg) != 0)
                m++;
            if (!bm_sysctl_mode_names[m]) {
                fprintf(stderr, "bindmatrix-runner: --sysctls must be default or host, not '%s'\n",
                        optarg);
                return -1;
            }
            o->sysctl_mode = (enum bm_sysctl_mode)m;
            break;
        }
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (!o->watchdog_ms) /* past every wait a case may make, with room for a slow machine */
        o->watchdog_ms = 10L * o->timeout_ms + 5000;
    return 0;
}

/* ---- worker side ---------------------------------------------------------------------- */

/* A worker's exit status when its case does not build (an unchecked list, expand.h): the
 * case file is wrong, which the run then says, as a refused case file, and stops. */
#define WORKER_UNBUILT 8

/* A runner killed outright takes its workers along (and their captures with them).  Changing the
 * effective uid (sockets of `user: other`, the sandbox's probe) clears the setting, so it is
 * armed before the first case and again after each case that acted as the other user. */
static void die_with_runner(pid_t runner)
{
#ifdef PR_SET_PDEATHSIG
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != runner)
        _exit(5);
#else
    (void)runner; /* without it, a worker ends at its next result: the pipe is closed */
#endif
}

static int write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A fresh namespace set up like every other of the run: its capabilities probed, the
 * other user, and (--sysctls host) the host's sysctls written into it.  0, or -1 with err. */
static int enter_run_sandbox(struct bm_env *env, struct bm_host_sysctls *host,
                             const struct options *o, char *err, size_t errlen)
{
    if (sandbox_enter(env, err, errlen) != 0)
        return -1;
    env->timeout_ms = o->timeout_ms;
    sandbox_set_other_user(env, (uid_t)o->other_uid, (gid_t)o->other_uid);
    sysinfo_apply_host_sysctls(host, env);
    return 0;
}

/* The run record describes the parent's sandbox; a worker whose own differs says so (the
 * parent has printed what is missing once, for all of them). */
static void enter_sandbox_or_die(struct bm_env *env, const struct options *o,
                                 const struct bm_env *parent, const struct bm_host_sysctls *host)
{
    struct bm_host_sysctls mine = *host;
    char err[1024];

    if (enter_run_sandbox(env, &mine, o, err, sizeof err) != 0) {
        fprintf(stderr, "bindmatrix-runner: worker %ld: cannot build its sandbox: %s\n", (long)getpid(), err);
        _exit(3);
    }
    for (size_t i = 0; i < mine.n; i++)
        if ((mine.s[i].why[0] != '\0') != (host->s[i].why[0] != '\0'))
            fprintf(stderr, "bindmatrix-runner: worker %ld: %s %s, unlike in the run record's "
                    "namespace%s%s\n", (long)getpid(), mine.s[i].name,
                    mine.s[i].why[0] ? "keeps its default" : "took the host's value",
                    mine.s[i].why[0] ? ": " : "", mine.s[i].why);
    env->ids_switched = true;   /* its probe may have acted as the other user: arm again */
    for (int c = 0; c < BM_CAP_COUNT; c++)
        if (env->has[c] != parent->has[c])
            fprintf(stderr, "bindmatrix-runner: worker %ld: %s is %s in its sandbox, unlike the "
                    "run record's%s%s\n", (long)getpid(), sandbox_cap_name(c),
                    env->has[c] ? "there" : "missing", env->has[c] ? "" : ": ",
                    sandbox_missing(env, c));
}

/* "tcp/x[a=b,c=d]" -> "tcp_x_a=b_c=d_.pcap": a file name that keeps the id readable. */
static void slug(const char *id, char *out, size_t len)
{
    size_t i = 0;
    for (; *id && i + 6 < len; id++)   /* room for ".pcap" */
        out[i++] = (isalnum((unsigned char)*id) || strchr("._=-", *id)) ? *id : '_';
    bm_copy(out + i, len - i, ".pcap");
}

/* The last component of a path. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The evidence folder of a results file: <stem>.evidence for <stem>.jsonl; false when the
 * name would not fit. */
static bool evidence_of(const char *results, char *out, size_t len)
{
    size_t stem = strlen(results);

    if (stem > 6 && strcmp(results + stem - 6, ".jsonl") == 0)
        stem -= 6;
    return snprintf(out, len, "%.*s.evidence", (int)stem, results) < (int)len;
}

/* A case's pcap: its file name (slug.pcap) and its path in the evidence folder. */
static void case_pcap(const struct options *o, const char *id, char *name, size_t nlen,
                      char *file, size_t flen)
{
    slug(id, name, nlen);
    snprintf(file, flen, "%s/%s", o->evidence_part, name);
}

/* Ends this worker's capture; packets it lost are said (the harness's evidence check then
 * finds the cases they concern). */
static void close_capture(struct bm_capture *cap)
{
    char why[256];

    if (capture_close(cap, why, sizeof why) != 0)
        fprintf(stderr, "bindmatrix-runner: worker %ld: packet evidence: %s\n", (long)getpid(), why);
}

/* The case's packets (those to or from the ports its steps used, unique within this
 * namespace) into <evidence>/<slug>.pcap, and its evidence for its line: the file as the
 * results' folder sees it, and what it holds.  false when it has none (said). */
static bool case_evidence(struct bm_capture *cap, const struct options *o, const struct bm_case *c,
                          const struct bm_outcome *out, char *path, size_t plen, char *note,
                          size_t nlen)
{
    int ports[BM_MAX_STEPS];
    size_t n = 0, k;
    char name[600], file[1200], why[256], list[256] = "";
    long got;

    for (size_t i = 0; i < out->nsteps; i++) {
        int port = out->steps[i].port;
        char one[16];
        for (k = 0; k < n && ports[k] != port; k++)
            ;
        if (port <= 0 || k < n)
            continue;
        ports[n++] = port;
        snprintf(one, sizeof one, "%s%d", list[0] ? ", " : "", port);
        bm_append(list, sizeof list, strlen(list), one);
    }
    if (n == 0) {
        fprintf(stderr, "bindmatrix-runner: %s: no packet evidence: the case used no port\n", c->id);
        return false;
    }
    case_pcap(o, c->id, name, sizeof name, file, sizeof file);
    if ((got = capture_case(cap, file, ports, n, o->timeout_ms, why, sizeof why)) < 0) {
        fprintf(stderr, "bindmatrix-runner: %s: no packet evidence: %s\n", c->id, why);
        unlink(file);
        return false;
    }
    if (why[0])
        fprintf(stderr, "bindmatrix-runner: %s: packet evidence: %s\n", c->id, why);
    snprintf(path, plen, "%s/%s", base_name(o->evidence_dir), name);
    snprintf(note, nlen, "%ld packets to or from port %s, captured by %s in its worker's "
             "network namespace%s%s", got, list, capture_tool(), why[0] ? "; " : "", why);
    return true;
}

/* The page the parent shares with its workers.  Workers take cases in the run's order from
 * two counters, one over the cases that need a capture (the order's first `ncapture`) and
 * one over the others, so that all end together whatever each case costs; each says which
 * case it claimed (`owner`) and which it is running (`started`), so that after a crash the
 * parent knows the case that killed it and the finished ones whose lines died with it. */
enum { CAPTURED, PLAIN };
struct shared {
    size_t next[2];         /* per part of the order (CAPTURED, PLAIN): the next to claim */
    size_t ncapture;        /* where the PLAIN part starts */
    size_t started[BM_MAX_WORKERS]; /* per worker slot: the case it is running, or NONE */
    unsigned long begun[BM_MAX_WORKERS]; /* per worker slot: how many cases it has begun, so
                                            that the parent's watchdog sees one stay (watch) */
    int owner[];            /* per case: the slot of the worker that claimed it, or -1 */
};
#define NONE ((size_t)-1)

/* Result lines wait in a batch and go to the parent in one write every BATCH_LINES lines or
 * BATCH_MS milliseconds (one wake-up of the parent per batch, not per case).  A worker that
 * crashes loses its batch, so the case it was running is not told by the lines: the shared
 * page says it (struct shared), and the parent blames that case and runs the unreported
 * others again (reap). */
#define BATCH_LINES 64
#define BATCH_MS 5

static struct {
    int fd;
    char buf[1 << 16];
    volatile sig_atomic_t len;   /* bytes of whole lines in buf: what a stop may send */
} batch;

static int batch_flush(void)
{
    sigset_t stop, old;
    int rc;

    /* a stop signal waits: its handler must not send these lines a second time */
    stop_signals_fill(&stop);
    sigprocmask(SIG_BLOCK, &stop, &old);
    rc = batch.len ? write_all(batch.fd, batch.buf, (size_t)batch.len) : 0;
    batch.len = 0;
    sigprocmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* SIGTERM from a parent that stops the run (or a ^C, a hangup): the finished lines still
 * reach it. */
static void on_worker_stop(int sig)
{
    (void)sig;
    if (batch.len)
        (void)!write(batch.fd, batch.buf, (size_t)batch.len); /* async-signal-safe */
    capture_stop_closers();     /* its children go first: none is left to init */
    _exit(6);
}

static int batch_add(const char *head, const char *line)
{
    size_t h = strlen(head), n = strlen(line);
    char *at;

    if ((size_t)batch.len + h + n + 1 > sizeof batch.buf && batch_flush())
        return -1;
    if (h + n + 1 > sizeof batch.buf) /* a line bigger than the batch goes alone */
        return write_all(batch.fd, head, h) || write_all(batch.fd, line, n) ||
               write_all(batch.fd, "\n", 1);
    at = batch.buf + batch.len;
    memcpy(at, head, h);
    memcpy(at + h, line, n);
    at[h + n] = '\n';
    batch.len += (sig_atomic_t)(h + n + 1); /* whole line in place first, then counted */
    return 0;
}

/* Runs cases redo[0..nredo), then claims order[next] until none is left, and writes
 * "<index> <status> <TIME_WAIT proof> <pcap written> <json>\n" for each to fd, in
 * batches. */
static void worker_main(const struct bm_case_list *cases, const size_t *order, size_t ncases,
                        const size_t *redo, size_t nredo, struct shared *sh, int slot,
                        int fd, int cpu, const struct options *o,
                        const struct bm_env *parent, const struct bm_host_sysctls *host,
                        pid_t runner)
{
    struct bm_capture cap = {0};
    struct bm_env env;
    bool capture_failed = false;    /* no evidence from this worker: said once */
    size_t lines = 0;
    long flushed;

    batch.fd = fd;
    batch.len = 0;
    signal(SIGPIPE, SIG_DFL);
    stop_signals_catch(on_worker_stop, true); /* a ^C reaches the whole process group */
    enter_sandbox_or_die(&env, o, parent, host);
    sandbox_pin_cpu(cpu);
    flushed = now_ms();
    for (size_t i = 0;; i++) {
        struct bm_case built;
        const struct bm_case *c;
        struct bm_outcome out;
        char head[48];
        char *line;
        size_t idx;
        bool has;   /* the case's pcap is written */

        if (i < nredo) {
            idx = redo[i];
        } else {
            /* the first worker takes the capture cases first, the others the rest: one
             * capture opened (a grace period of RCU, 1 to 18 ms, spent waiting) while the
             * others already run cases; whoever runs out takes from the other part */
            size_t k = NONE;
            for (int part = 0; part < 2 && k == NONE; part++) {
                int from = slot == 0 ? part : 1 - part;
                size_t end = from == CAPTURED ? sh->ncapture : ncases;
                if (__atomic_load_n(&sh->next[from], __ATOMIC_RELAXED) < end &&
                    (k = __atomic_fetch_add(&sh->next[from], 1, __ATOMIC_RELAXED)) >= end)
                    k = NONE;
            }
            if (k == NONE)
                break;
            idx = order[k];
        }
        /* claimed, then running: in this order, so a crash between the two blames nothing */
        __atomic_store_n(&sh->owner[idx], slot, __ATOMIC_RELEASE);
        __atomic_store_n(&sh->started[slot], idx, __ATOMIC_RELEASE);
        __atomic_store_n(&sh->begun[slot], sh->begun[slot] + 1, __ATOMIC_RELEASE);
        c = case_list_get(cases, idx, &built); /* built here */
        if (!c && cases->unchecked)
            _exit(WORKER_UNBUILT);  /* the parent's pass over the cases says why */

        /* a fresh namespace when this one runs out of unused ports; its capture is new too */
        if (env.next_port + 4 * BM_MAX_STEPS > env.port_hi || env.next_priv_port + BM_MAX_STEPS > env.priv_port_hi) {
            close_capture(&cap);
            enter_sandbox_or_die(&env, o, parent, host);
        }
        /* the capture opens at the first case that needs it and closes at the first that
         * does not: those come first (run_workers) */
        if (c && !c->capture && cap.pcap)
            close_capture(&cap);
        if (c && c->capture && o->capture && !cap.pcap && !capture_failed) {
            char why[256];
            if (capture_open(&cap, why, sizeof why) != 0) {
                fprintf(stderr, "bindmatrix-runner: worker %ld: no packet evidence: %s\n",
                        (long)getpid(), why);
                capture_failed = true;
            }
        }
        if (env.ids_switched) {
            die_with_runner(runner);
            env.ids_switched = false;
        }
        memset(&out, 0, sizeof out);
        if (c)
            exec_case(c, &env, &out);
        {
            char path[1300], note[700];
            struct bm_evidence ev = {path, note};
            has = c && c->capture && cap.pcap &&
                  case_evidence(&cap, o, c, &out, path, sizeof path, note, sizeof note);
            line = c ? results_case_line(c, &out, has ? &ev : NULL) : NULL;
        }
        snprintf(head, sizeof head, "%zu %d %d %d ", idx, (int)out.status, (int)out.tw_proof,
                 (int)has);
        if (!line || batch_add(head, line))
            _exit(4);
        free(line);
        if (++lines % BATCH_LINES == 0 || now_ms() - flushed >= BATCH_MS) {
            if (batch_flush())
                _exit(4);
            flushed = now_ms();
        }
    }
    __atomic_store_n(&sh->started[slot], NONE, __ATOMIC_RELEASE); /* none: what fails now
                                                                      is no case's fault */
    close_capture(&cap);
    if (batch_flush())
        _exit(4);
    close(fd);  /* the parent has every line now */
    capture_reap();
    _exit(0);
}

/* ---- parent side ---------------------------------------------------------------------- */

struct run {
    const struct options *o;
    const struct bm_env *env;   /* the parent's sandbox, which the run record describes */
    const struct bm_host_sysctls *host; /* the host's sysctls, and what the parent's
                                           namespace could not take of them */
    const struct bm_case_list *cases;
    size_t ncases;
    struct bm_spool lines;  /* per case: its JSON line, once received (on disk, not here) */
    int *status;
    int *tw_proof;          /* per case: enum bm_tw_proof */
    unsigned char *evidence; /* per case (by case index, never compacted): its pcap is
                                written in the run's evidence folder */
    size_t received;
    pid_t parent;           /* the runner: a worker whose parent is another has lost it */
    struct shared *sh;      /* shared with the workers */
    size_t *order;          /* the cases in the order they are claimed */
    struct worker *workers;
    size_t nworkers, ncpu;
    bool worker_failed;     /* a worker that had sent every line then failed: exit 1 */
    bool unbuilt;           /* a case did not build (a worker's or the manifest's pass): the
                               run stops, refused as its case file is */
    struct bm_manifest_collector *manifest; /* --manifest-out: collected while the workers run */
    size_t manifest_next;   /* the next case it collects */
};

static int start_worker(struct run *r, struct worker *w, size_t *redo, size_t nredo, int cpu)
{
    int slot = (int)(w - r->workers), fds[2];

    if (pipe(fds) != 0)
        return -1;
    r->sh->started[slot] = NONE;
    fflush(NULL);
    w->pid = fork();
    if (w->pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (w->pid == 0) {
        die_with_runner(r->parent);
        close(fds[0]);
        for (size_t i = 0; i < r->nworkers; i++)
            if (r->workers[i].fd >= 0)
                close(r->workers[i].fd);
        worker_main(r->cases, r->order, r->ncases, redo, nredo, r->sh, slot, fds[1], cpu, r->o,
                    r->env, r->host, r->parent);
    }
    close(fds[1]);
    w->fd = fds[0];
    w->buflen = 0;
    w->seen_begun = __atomic_load_n(&r->sh->begun[slot], __ATOMIC_ACQUIRE);
    w->seen_ms = now_ms();
    w->killed_at = 0;
    return 0;
}

/* The watchdog, in the parent (a worker's alarm() cost two system calls a case): a worker
 * that has been in one case for --watchdog-ms is sent SIGALRM, which kills it, and reap
 * blames that case.  Called whenever the parent wakes, at least every POLL_MS. */
static void watch(struct run *r)
{
    long now = now_ms();

    for (size_t w = 0; w < r->nworkers; w++) {
        struct worker *k = &r->workers[w];
        unsigned long begun = __atomic_load_n(&r->sh->begun[w], __ATOMIC_ACQUIRE);
        if (k->pid <= 0 || k->fd < 0 || k->killed_at)
            continue;
        if (begun != k->seen_begun ||
            __atomic_load_n(&r->sh->started[w], __ATOMIC_ACQUIRE) == NONE) {
            k->seen_begun = begun;
            k->seen_ms = now;
        } else if (now - k->seen_ms >= r->o->watchdog_ms) {
            k->killed_at = begun;
            kill(k->pid, SIGALRM);
        }
    }
}

static int take_line(struct run *r, struct worker *w, char *line)
{
    char *json;
    unsigned long idx = strtoul(line, &json, 10);
    int status = (int)strtol(json, &json, 10);
    int proof = (int)strtol(json, &json, 10);
    long has = strtol(json, &json, 10);

    if (*json != ' ' || (has != 0 && has != 1) || proof < BM_TW_NONE || proof > BM_TW_FINAL_ACK || idx >= r->ncases || spool_has(&r->lines, idx) ||
        __atomic_load_n(&r->sh->owner[idx], __ATOMIC_ACQUIRE) != (int)(w - r->workers)) {
        fprintf(stderr, "bindmatrix-runner: garbled line from a worker\n");
        return -1;
    }
    if (spool_put(&r->lines, idx, json + 1) != 0) {
        fprintf(stderr, "bindmatrix-runner: cannot keep a result: %s\n", strerror(errno));
        return -1;
    }
    r->status[idx] = status;
    r->tw_proof[idx] = proof;
    r->evidence[idx] = (unsigned char)has;
    r->received++;
    return 0;
}

static int drain(struct run *r, struct worker *w)
{
    ssize_t n = read(w->fd, w->buf + w->buflen, sizeof w->buf - w->buflen - 1);
    char *start, *nl;

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n == 0) {
        close(w->fd);
        w->fd = -1;
        return 0;
    }
    w->buflen += (size_t)n;
    w->buf[w->buflen] = '\0';
    start = w->buf;
    while ((nl = memchr(start, '\n', w->buflen - (size_t)(start - w->buf)))) {
        *nl = '\0';
        if (take_line(r, w, start))
            return -1;
        start = nl + 1;
    }
    w->buflen -= (size_t)(start - w->buf);
    memmove(w->buf, start, w->buflen);
    if (w->buflen == sizeof w->buf - 1) {
        fprintf(stderr, "bindmatrix-runner: a result line longer than %zu bytes\n", sizeof w->buf);
        return -1;
    }
    return 0;
}

/* Why a worker that left cases behind went, for the case it was running. */
static void crash_reason(const struct run *r, int wstatus, char *reason, size_t len)
{
    if (WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGALRM)
        snprintf(reason, len, "timed out: no result within the watchdog (%ld ms)",
                 r->o->watchdog_ms);
    else if (WIFSIGNALED(wstatus))
        snprintf(reason, len, "the runner's worker died on signal %d (%s) during this case",
                 WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    else
        snprintf(reason, len, "the runner's worker exited with status %d during this case",
                 WEXITSTATUS(wstatus));
}

static int sandbox_failed(int wstatus)
{
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 3)
        return 0;
    fprintf(stderr, "bindmatrix-runner: a worker could not build its sandbox; stopping\n");
    return 1;
}

/* A worker that sent every line must still end well: a sanitizer's or valgrind's report
 * about what it did after its last case (or at exit) shows only in how it ended.  Its
 * cases' results stand; the run's exit status says it (1). */
static void finished_status(struct run *r, pid_t pid, int wstatus)
{
    if (stop_signal || (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0))
        return;
    if (WIFSIGNALED(wstatus))
        fprintf(stderr, "bindmatrix-runner: worker %ld died on signal %d (%s) after its last case\n",
                (long)pid, WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    else
        fprintf(stderr, "bindmatrix-runner: worker %ld exited with status %d after its last case "
                "(its results are kept; what it printed says why)\n", (long)pid, WEXITSTATUS(wstatus));
    r->worker_failed = true;
}

/* The case idx failed with reason: its result is an error line. */
static int blame(struct run *r, size_t idx, const char *reason)
{
    struct bm_case built;
    const struct bm_case *c = case_list_get(r->cases, idx, &built);
    char *line = c ? results_error_line(c, reason) : NULL;
    int kept = line ? spool_put(&r->lines, idx, line) : -1;

    free(line);
    if (kept != 0) {
        fprintf(stderr, "bindmatrix-runner: cannot keep a result: %s\n", strerror(errno));
        return -1;
    }
    r->status[idx] = BM_STATUS_ERROR;   /* a pcap its worker began goes with prune_evidence */
    r->received++;
    return 0;
}

enum { ANY_WORKER = -2 };

/* Whether case i has no line yet though worker `slot` (or any, ANY_WORKER) claimed it. */
static bool missing(const struct run *r, size_t i, int slot)
{
    return !spool_has(&r->lines, i) &&
           (slot == ANY_WORKER || __atomic_load_n(&r->sh->owner[i], __ATOMIC_ACQUIRE) == slot);
}

/* A worker in w's place that first runs again the cases missing their line that worker
 * `slot` claimed (ANY_WORKER: every case still without one), then claims on. */
static int restart(struct run *r, struct worker *w, int slot, int cpu)
{
    size_t n = 0, *redo = malloc((r->ncases - r->received + 1) * sizeof *redo);

    if (!redo)
        return -1;
    for (size_t i = 0; i < r->ncases; i++)
        if (missing(r, i, slot)) {
            r->sh->owner[i] = -1;   /* claimed again by the worker that runs it */
            redo[n++] = i;
        }
    if (w->pid > 0) {               /* finished, not yet waited for */
        while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        w->pid = 0;
    }
    free(w->redo);
    w->redo = redo;
    w->nredo = n;
    return start_worker(r, w, redo, n, cpu);
}

/* The worker has gone.  If every case it claimed has its line, it finished (its exit, which
 * closes its capture and takes a while, is waited for at the end: wait_finished).  Else the
 * case it was running failed, and the others it claimed, whose lines died in its batch, run
 * again first in the worker started in its place. */
static int reap(struct run *r, struct worker *w, int cpu)
{
    int slot = (int)(w - r->workers), wstatus = 0;
    bool left = false;
    size_t crashed;
    char reason[256];

    if (stop_signal) {  /* stopping: what it was running is unfinished, not its fault */
        while (waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR)
            ;
        w->pid = 0;
        return 0;
    }
    for (size_t i = 0; i < r->ncases && !left; i++)
        left = missing(r, i, slot);
    if (!left) {        /* finished, or gone before its first case */
        if (waitpid(w->pid, &wstatus, WNOHANG) == w->pid) {
            pid_t pid = w->pid;
            w->pid = 0;
            if (sandbox_failed(wstatus))
                return -1;
            finished_status(r, pid, wstatus);
        }
        return 0;
    }
    while (waitpid(w->pid, &wstatus, 0) < 0 && errno == EINTR)
        ;
    w->pid = 0;
    if (sandbox_failed(wstatus))
        return -1;
    if (r->cases->unchecked && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == WORKER_UNBUILT) {
        r->unbuilt = true;
        return -1;
    }
    crash_reason(r, wstatus, reason, sizeof reason);
    crashed = __atomic_load_n(&r->sh->started[slot], __ATOMIC_ACQUIRE);
    /* the watchdog's signal landed in a case begun after it was sent: not that case's fault */
    if (w->killed_at && __atomic_load_n(&r->sh->begun[slot], __ATOMIC_ACQUIRE) != w->killed_at)
        crashed = NONE;
    if (crashed < r->ncases && missing(r, crashed, slot) && blame(r, crashed, reason) != 0)
        return -1;
    return restart(r, w, slot, cpu);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Removes the .pcap files in dir but those named in keep (sorted, nkeep of them); 0, or -1
 * if dir cannot be read. */
static int remove_pcaps(const char *dir, char *const *keep, size_t nkeep)
{
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d)
        return -1;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char path[1400], *name = e->d_name;
        if (len > 5 && strcmp(e->d_name + len - 5, ".pcap") == 0 &&
            !(nkeep && bsearch(&name, keep, nkeep, sizeof *keep, cmp_name))) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    return 0;
}

static bool real_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);    /* a symlink is not one */
}

/* Removes a folder of pcaps; quietly, as there may be none.  Only a folder of the runner's
 * own: through a symlink the pcaps would be someone else's. */
static void remove_evidence(const char *dir)
{
    if (!real_dir(dir))
        return;
    remove_pcaps(dir, NULL, 0);
    rmdir(dir);
}

/* Makes the run's evidence folder (<evidence>.part) from the spare one (the run before's,
 * whose files the workers rewrite in place: creating files was most of what capture cost,
 * capture_case), or keeps one a killed run left, or makes it.  What is in it from before
 * goes at the end (prune_evidence). */
static int prepare_evidence_dir(const char *part, const char *spare)
{
    /* only a folder of its own: never one a symlink leads to, whose pcaps pruning removes */
    if ((real_dir(spare) && rename(spare, part) == 0) || mkdir(part, 0755) == 0)
        return 0;
    if (errno == EEXIST && !real_dir(part))
        errno = ENOTDIR;
    return errno == EEXIST ? 0 : -1;
}

/* Removes from the run's evidence folder every pcap this run did not write (one from the
 * spare folder, a killed run's, a crashed case's): what remains is the pcaps the lines
 * name.  0, or -1 (errno set). */
static int prune_evidence(const struct run *r, const char *part)
{
    char **keep = malloc((r->cases->n ? r->cases->n : 1) * sizeof *keep);
    size_t n = 0;
    int rc = keep ? 0 : -1;

    for (size_t i = 0; rc == 0 && i < r->cases->n; i++)
        if (r->evidence[i]) {
            char name[600], file[1200];
            case_pcap(r->o, case_list_id(r->cases, i), name, sizeof name, file, sizeof file);
            if (!(keep[n] = strdup(name)))
                rc = -1;
            else
                n++;
        }
    if (rc == 0) {
        qsort(keep, n, sizeof *keep, cmp_name);
        rc = remove_pcaps(part, keep, n);
    }
    while (n > 0)
        free(keep[--n]);
    free(keep);
    return rc;
}

/* The run's evidence into its place, dest, keeping the one there as dest.old until the
 * results are written (settle_evidence): results and evidence change together. */
static int put_evidence(const char *part, const char *dest)
{
    char old[600];

    snprintf(old, sizeof old, "%s.old", dest);
    remove_evidence(old);
    if ((rename(dest, old) != 0 && errno != ENOENT) || rename(part, dest) != 0) {
        int e = errno;
        rename(old, dest);
        errno = e;
        return -1;
    }
    return 0;
}

/* The results are written (ok) or not: the earlier evidence comes back, or becomes the
 * spare folder (spare: the next run rewrites its files) or goes (NULL). */
static void settle_evidence(const char *dest, bool ok, const char *spare)
{
    char old[600];

    snprintf(old, sizeof old, "%s.old", dest);
    if (!ok) {
        remove_evidence(dest);
        rename(old, dest);
    } else if (spare) {
        remove_evidence(spare);
        if (rename(old, spare) != 0)
            remove_evidence(old);
    } else {
        remove_evidence(old);
    }
}

static void progress(const struct run *r, long *last, bool final)
{
    long t = now_ms();

    if (r->o->quiet || !isatty(STDERR_FILENO) || (!final && t - *last < 100))
        return;
    *last = t;
    fprintf(stderr, "\r  running cases %zu/%zu", r->received, r->ncases);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Ends the workers still running and waits for them, so none is left holding a namespace
 * when the runner exits (bounded: 3 s, then it stops waiting).  Each one's capture is in
 * its own process, and ends with it. */
static void stop_workers(struct run *r, int sig)
{
    long deadline = now_ms() + 3000;

    bool open = true;

    for (size_t w = 0; w < r->nworkers; w++)
        if (r->workers[w].fd >= 0)
            kill(r->workers[w].pid, sig);
    /* a worker sends its batch of finished lines as it goes (on_worker_stop): read them */
    while (sig == SIGTERM && open && now_ms() < deadline) {
        open = false;
        for (size_t w = 0; w < r->nworkers; w++) {
            struct pollfd pfd = {r->workers[w].fd, POLLIN, 0};
            if (pfd.fd < 0)
                continue;
            open = true;
            if (poll(&pfd, 1, 10) > 0 && drain(r, &r->workers[w]) != 0) {
                close(pfd.fd);
                r->workers[w].fd = -1;
            }
        }
    }
    for (size_t w = 0; w < r->nworkers; w++)
        if (r->workers[w].fd >= 0) {
            close(r->workers[w].fd);
            r->workers[w].fd = -1;
        }
    while (now_ms() < deadline) {
        pid_t pid = waitpid(-1, NULL, WNOHANG);
        if (pid < 0 && errno != EINTR)
            break; /* no child left */
        if (pid <= 0) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
}

/* The cases no worker has a line for, once all have gone: claimed by a worker that died
 * before it could say so.  A worker runs them; 0 when there are none, or -1. */
static int sweep(struct run *r, size_t *last_received)
{
    if (r->received == r->ncases)
        return 0;
    if (r->received == *last_received) {    /* the last sweep ran none of them */
        for (size_t w = 0; w < r->nworkers; w++) {
            int wstatus = 0;
            if (r->workers[w].pid > 0 && waitpid(r->workers[w].pid, &wstatus, 0) > 0) {
                r->workers[w].pid = 0;
                if (sandbox_failed(wstatus))
                    return -1;
            }
        }
        fprintf(stderr, "bindmatrix-runner: %zu case%s never reported back\n",
                r->ncases - r->received, r->ncases - r->received == 1 ? "" : "s");
        return -1;
    }
    *last_received = r->received;
    return restart(r, &r->workers[0], ANY_WORKER, 0);
}

/* The longest the parent sleeps while workers run: the watchdog's resolution. */
#define POLL_MS 200

static int run_workers(struct run *r)
{
    size_t pos = 0, swept = (size_t)-1;
    long last = 0;
    int rc = 0;

    if (!(r->order = malloc((r->ncases ? r->ncases : 1) * sizeof *r->order)))
        return -1;
    /* the order cases are claimed in; with --capture those that need a capture first: each
     * worker closes its capture when they are done (capture_close: its socket's slow
     * release then runs beside the other cases, not at the end), and the packets of the
     * other cases never pass through one */
    for (int pass = r->o->capture ? 0 : 1; pass < 2; pass++) {
        for (size_t i = 0; i < r->ncases; i++)
            if (pass == 1 ? !r->o->capture || !case_list_capture(r->cases, i)
                          : case_list_capture(r->cases, i))
                r->order[pos++] = i;
        if (pass == 0)
            r->sh->ncapture = pos;
    }
    r->sh->next[CAPTURED] = 0;
    r->sh->next[PLAIN] = r->sh->ncapture;
    for (size_t i = 0; i < r->ncases; i++)
        r->sh->owner[i] = -1;
    for (size_t w = 0; w < r->nworkers; w++) {
        r->workers[w].fd = -1;
        if (start_worker(r, &r->workers[w], NULL, 0, (int)(w % r->ncpu))) {
            perror("bindmatrix-runner: fork");
            return -1;
        }
    }
    while (rc == 0 && !stop_signal) {
        struct pollfd pfd[BM_MAX_WORKERS];
        size_t map[BM_MAX_WORKERS], n = 0;

        for (size_t w = 0; w < r->nworkers; w++)
            if (r->workers[w].fd >= 0) {
                pfd[n].fd = r->workers[w].fd;
                pfd[n].events = POLLIN;
                map[n++] = w;
            }
        if (n == 0 && ((rc = sweep(r, &swept)) != 0 || r->received == r->ncases))
            break;
        if (n == 0)
            continue;
        /* the manifest is collected in the parent's idle moments, a few cases at a time */
        int ready = poll(pfd, n, r->manifest ? 0 : POLL_MS);
        if (ready < 0 && errno != EINTR) {
            rc = -1;
            break;
        }
        if (ready == 0 && r->manifest &&
            manifest_collect_more(r->manifest, r->cases, &r->manifest_next, 32) != 0) {
            if (r->manifest->unbuilt) {     /* the run stops; main says why */
                r->unbuilt = true;
                rc = -1;
            }
            r->manifest = NULL;     /* all collected, or failed: finish_manifest says which */
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            struct worker *w = &r->workers[map[i]];
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            rc = drain(r, w);
            if (rc == 0 && w->fd < 0)
                rc = reap(r, w, (int)(map[i] % r->ncpu));
        }
        progress(r, &last, false);
        watch(r);
    }
    progress(r, &last, true);
    if (rc != 0 || stop_signal)
        stop_workers(r, rc != 0 ? SIGKILL : SIGTERM);
    return rc;
}

/* The workers, with the page they share with the parent (struct shared). */
static int run_all(struct run *r)
{
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif
    size_t size = sizeof *r->sh + r->ncases * sizeof r->sh->owner[0];
    void *page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int rc;

    if (page == MAP_FAILED)
        return -1;
    r->sh = page;
    r->sh->ncapture = 0;
    rc = run_workers(r);
    munmap(page, size);
    r->sh = NULL;
    return rc;
}

/* The run's results file: -o as given, else the default name for this host and selection. */
static char *output_path(const struct options *o, const struct bm_selection *sel, const char *host)
{
    if (o->output)
        return bm_strf("%s", o->output);
    return selection_output_path(o->output_dir, o->host_label ? o->host_label : host, sel->partial);
}

/* One run per results file: flock() on <results>.lock, held until the runner exits, so a
 * second run on the same output cannot wipe the evidence or interleave with the first.  It
 * waits up to --lock-wait-ms (10 s) for the other run, then gives up.  An output that is not a regular file
 * (/dev/stdout, a FIFO) is not shared with anyone: no lock.  The fd, -1 when none, -2 when
 * the lock is held or cannot be made (said on stderr).  *made: the lock file is this run's
 * own (its path, in lock_path), which a run that writes nothing removes (unlock_output). */
static char *lock_path;

static int lock_output(const char *output, int wait_ms, bool *made)
{
    struct stat st;
    char *path;
    int fd;

    *made = false;
    if (stat(output, &st) == 0 && !S_ISREG(st.st_mode))
        return -1;
    if (!(path = bm_strf("%s.lock", output)))
        return -2;
again:
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    *made = fd >= 0;
    if (fd < 0 && errno == EEXIST)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        fprintf(stderr, "bindmatrix-runner: cannot make %s: %s\n", path, strerror(errno));
    for (int tries = 0; fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0; tries++) {
        struct timespec ts = {0, 100 * 1000000};
        if (errno != EWOULDBLOCK && errno != EINTR) {
            fprintf(stderr, "bindmatrix-runner: cannot lock %s: %s\n", path, strerror(errno));
        } else if (tries < wait_ms / 100 && !stop_signal) {
            nanosleep(&ts, NULL);
            continue;
        } else {
            fprintf(stderr, "bindmatrix-runner: another run holds %s (waited %d s): one run per "
                    "results file\n", path, tries / 10);
        }
        close(fd);
        fd = -1;
    }
    if (fd >= 0) {  /* the run that held it may have removed it: then lock the file there now */
        struct stat mine;
        if (fstat(fd, &mine) == 0 && (stat(path, &st) != 0 || st.st_ino != mine.st_ino ||
                                      st.st_dev != mine.st_dev)) {
            close(fd);
            goto again;
        }
    }
    if (fd >= 0 && *made)
        lock_path = path;
    else
        free(path);
    return fd >= 0 ? fd : -2;
}

/* A run that wrote nothing (its case files refused) leaves no lock file of its own either:
 * removed while still held, so a run waiting on it locks the next one (lock_output). */
static void unlock_output(int fd, bool remove)
{
    if (remove && lock_path)
        unlink(lock_path);
    free(lock_path);
    lock_path = NULL;
    if (fd >= 0)
        close(fd);
}

/* Where an interrupted run writes: never over a complete run's results, which stay as they
 * were (<stem>.interrupted.jsonl beside them); straight to a device or FIFO. */
static char *interrupted_path(const char *output)
{
    struct stat st;
    size_t stem = strlen(output);

    if (stat(output, &st) == 0 && !S_ISREG(st.st_mode))
        return bm_strf("%s", output);
    if (stem > 6 && strcmp(output + stem - 6, ".jsonl") == 0)
        stem -= 6;
    return bm_strf("%.*s.interrupted.jsonl", (int)stem, output);
}

/* What results_write writes: the spooled lines, all or (an interrupted run) those in order. */
struct written {
    struct bm_spool *lines;
    size_t *order;          /* NULL: every case */
    const char *from, *to;  /* an interrupted run: its evidence is in folder `to`, not `from` */
    char *copy;             /* the last line with its evidence path moved */
};

static const char *written_line(void *ctx, size_t k)
{
    struct written *w = ctx;
    const char *line = spool_get(w->lines, w->order ? w->order[k] : k), *at;
    char key[600];

    if (!line || !w->from)
        return line;
    snprintf(key, sizeof key, "\"path\":\"%s/", w->from);
    if (!(at = strstr(line, key)))
        return line;
    free(w->copy);
    w->copy = bm_strf("%.*s\"path\":\"%s/%s", (int)(at - line), line, w->to,
                      at + strlen(key));
    return w->copy;
}


static void hash_case_of_run(void *hash, const struct bm_case *c)
{
    manifest_hash_add(hash, c);
}

/* --manifest-out, once the run is over: the cases the run's idle moments did not collect
 * and what follows them, written out (atomic_start_writeback) while the results are written;
 * publish_manifest then gives it its name, before the results get theirs.  0, or -1 with
 * errno set. */
static int finish_manifest(struct bm_manifest_collector *m, const struct bm_case_list *list,
                           size_t *next, char hash[BM_HASH_LEN])
{
    manifest_collect_more(m, list, next, SIZE_MAX);
    if (manifest_finish(m, hash) != 0)
        return -1;
    atomic_start_writeback(m->body);
    return 0;
}

struct publication {
    FILE *body;             /* the whole manifest (manifest_begin, finish_manifest) */
    const char *path;
    bool due, done;         /* finished, to be published; published or tried */
    int rc;
};

/* The manifest in its place (once; again: what the first time gave).  0, or -1 with errno
 * set and the reason said. */
static int publish_manifest(void *ctx)
{
    struct publication *p = ctx;

    if (!p->due || p->done)
        return p->rc;
    p->done = true;
    if ((p->rc = atomic_publish(p->body, p->path)) != 0) {
        int saved = errno;
        fprintf(stderr, "bindmatrix-runner: cannot write %s: %s\n", p->path, strerror(errno));
        errno = saved;
    }
    return p->rc;
}

static char *manifest_body_buf;     /* the body's buffer (atomic_buffer) */

static void drop_manifest(struct bm_manifest_collector *m, FILE **body)
{
    if (!*body)
        return;
    manifest_collect_free(m);
    fclose(*body);
    *body = NULL;
    free(manifest_body_buf);
    manifest_body_buf = NULL;
}

/* The workers that finished all their cases, once the results are written. */
static void wait_finished(struct run *r)
{
    for (size_t w = 0; r->workers && w < r->nworkers; w++)
        if (r->workers[w].pid > 0) {
            int wstatus = 0;
            pid_t got;
            while ((got = waitpid(r->workers[w].pid, &wstatus, 0)) < 0 && errno == EINTR)
                ;
            if (got == r->workers[w].pid)
                finished_status(r, got, wstatus);
            r->workers[w].pid = 0;
        }
}

static void free_run(struct run *r)
{
    spool_close(&r->lines);
    free(r->status);
    free(r->tw_proof);
    free(r->evidence);
    free(r->order);
    for (size_t w = 0; r->workers && w < r->nworkers; w++)
        free(r->workers[w].redo);
    free(r->workers);
}

/* A standard descriptor its starter closed (a daemon, `>&- 2>&-`) would be the next file the
 * runner opens, and what it says on stderr would land in that file (the results' lock
 * file, a scratch file): each closed one is opened on /dev/null first. */
static void open_standard_descriptors(void)
{
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int got = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
            if (got >= 0 && got != fd) {    /* the lowest free number is fd's: not reached */
                dup2(got, fd);
                close(got);
            }
        }
}

int main(int argc, char **argv)
{
    struct options o = {0};
    struct bm_case_list chosen = {0};
    struct bm_error err = {0};
    struct bm_selection sel;
    struct bm_env env;
    struct bm_host_sysctls host_sysctls;
    char host[300], sandbox_err[1024], hash[BM_HASH_LEN], *output = NULL;
    struct run r = {0};
    long t0 = now_ms(), t_cases = 0, t_write = 0, counts[3] = {0, 0, 0};
    int rc = 0, lock_fd = -1;
    bool interrupted = false, bad_input = false, lock_made = false;
    struct bm_case_hash case_hash;
    struct bm_manifest_collector manifest = {0};
    FILE *manifest_body = NULL;     /* its cases: unlinked while the run lasts, gone if killed */
    struct publication publication = {0};
    struct written written = {0};
    char evidence_dest[600] = "";   /* where this run's evidence ends up */
    bool evidence_placed = false;

    open_standard_descriptors();
    if (parse_options(argc, argv, &o))
        return 2;
    for (int i = optind; i < argc; i++)     /* the selection's paths, in the results */
        if (check_text(argv[i], "a PATH", false))
            return 2;
    sysinfo_host(host, sizeof host);
    if (o.print_host) {
        printf("%s\n", host);
        return 0;
    }
    if (o.floor) {
        struct bm_floor fl;
        sysinfo_read_host_sysctls(&host_sysctls, o.sysctl_mode);
        if (enter_run_sandbox(&env, &host_sysctls, &o, sandbox_err, sizeof sandbox_err) != 0 ||
            floor_measure(o.floor, &fl, sandbox_err, sizeof sandbox_err) != 0) {
            fprintf(stderr, "bindmatrix-runner: --floor: %s\n", sandbox_err);
            return 1;
        }
        printf("{\"reps\":%d,\"bind_conflict_us\":%.2f,\"time_wait_us\":%.2f}\n", o.floor,
               fl.bind_conflict_us, fl.time_wait_us);
        return 0;
    }
    {   /* relative paths, and the absolute ones made of them (the manifest's dirs), hold it */
        char here[PATH_MAX];
        if (getcwd(here, sizeof here) && check_text(here, "the current folder", false))
            return 2;
    }
    selection_init(&sel, (const char *const *)argv + optind, (size_t)(argc - optind),
                   &o.cases_default, o.filters, o.nfilters);
    chosen.filters = o.filters;
    chosen.nfilters = o.nfilters;
    /* every case is built where it is used (a worker, the manifest) and dropped: memory does
     * not grow with the number of cases */
    chosen.lazy = true;
    /* a run's manifest builds every case, in order, while the workers run: that checks them,
     * and the parent's part before the first case is shorter by a build of each.  A case
     * that does not build stops the run as a refused case file does (exit 2, nothing
     * written); until then its cases ran in the workers' private namespaces, which leave
     * nothing behind (without one, the check comes first: below) */
    chosen.unchecked = o.manifest_out && !o.list && !o.manifest;
    /* each case is built here, to be checked.  --manifest: its text is collected then (and
     * makes the case set's hash); --manifest-out: the run collects (and checks) the cases
     * while its workers run (chosen.unchecked); else the hash alone */
    manifest_hash_init(&case_hash);
    if (o.manifest || o.manifest_out) {
        int fd = o.manifest_out ? atomic_scratch(o.manifest_out) : -1;
        manifest_body = o.manifest_out ? (fd >= 0 ? fdopen(fd, "w+") : NULL) : tmpfile();
        if (!manifest_body) {
            fprintf(stderr, "bindmatrix-runner: cannot write %s: %s\n",
                    o.manifest_out ? o.manifest_out : "the manifest", strerror(errno));
            if (fd >= 0)
                close(fd);
            return 1;
        }
        atomic_buffer(manifest_body, &manifest_body_buf, BM_ATOMIC_BUF);
        manifest_collect_init(&manifest, manifest_body);
        if (!o.manifest_out) {
            chosen.on_case = manifest_collect;
            chosen.on_case_ctx = &manifest;
        }
    } else if (!o.list) {
        chosen.on_case = hash_case_of_run;
        chosen.on_case_ctx = &case_hash;
    }
    if (casefiles_load(sel.paths, sel.npaths, o.root, &chosen, &err)) {
        char *msg = bm_error_text(&err);
        fprintf(stderr, "bindmatrix-runner: %s\n", msg ? msg : "out of memory");
        free(msg);
        bm_error_free(&err);
        drop_manifest(&manifest, &manifest_body);
        case_list_free(&chosen);
        return 2;
    }
    if (o.list || o.manifest) {
        for (size_t i = 0; o.list && !o.manifest && i < chosen.n; i++)
            printf("%s\n", case_list_id(&chosen, i));
        if ((o.manifest && manifest_emit(&manifest, stdout, &sel, NULL, NULL, hash) != 0) ||
            fflush(stdout) != 0) {
            fprintf(stderr, "bindmatrix-runner: cannot write the %s to standard output: %s\n",
                    o.manifest ? "manifest" : "list", strerror(errno));
            rc = 1;
        }
        drop_manifest(&manifest, &manifest_body);
        case_list_free(&chosen);
        return rc;
    }
    if (chosen.n == 0 || !(output = output_path(&o, &sel, host))) {
        fprintf(stderr, "bindmatrix-runner: %s\n", chosen.n ? "out of memory" : "no case matches");
        drop_manifest(&manifest, &manifest_body);
        case_list_free(&chosen);
        return chosen.n ? 1 : 2;
    }

    /* from here a signal stops the run in order: nothing is left running or half-written */
    stop_signals_catch(on_stop_signal, false); /* no SA_RESTART: poll() returns at once */
    /* the outputs, checked before any case runs: found unwritable at the end, the run's work
     * was lost (and the manifest, written first, was replaced by the results) */
    {
        char why[1200];
        const char *what = "the results", *hint = "";
        int bad = atomic_check(output, why, sizeof why);
        if (bad == -2)
            hint = " (--output-dir DIR puts the results in a folder)";
        if (!bad && o.manifest_out) {
            bad = atomic_check(o.manifest_out, why, sizeof why);
            what = "--manifest-out";
        }
        if (!bad && o.manifest_out && atomic_same_target(output, o.manifest_out)) {
            snprintf(why, sizeof why, "%s is the results file too: give the manifest a file "
                     "of its own", o.manifest_out);
            bad = -1;
        }
        if (bad) {
            fprintf(stderr, "bindmatrix-runner: %s: %s%s\n", what, why, hint);
            free(output);
            drop_manifest(&manifest, &manifest_body);
            case_list_free(&chosen);
            return 2;
        }
    }
    if ((lock_fd = lock_output(output, o.lock_wait_ms, &lock_made)) == -2) {
        free(output);
        case_list_free(&chosen);
        return stop_signal ? 128 + stop_signal : 2;
    }
    sandbox_raise_fd_limit();           /* for the workers, which inherit it */
    /* the host's own values: read here, before any namespace is entered */
    sysinfo_read_host_sysctls(&host_sysctls, o.sysctl_mode);
    /* the run record describes a namespace like the workers' own */
    if (enter_run_sandbox(&env, &host_sysctls, &o, sandbox_err, sizeof sandbox_err) != 0) {
        fprintf(stderr, "bindmatrix-runner: cannot build the sandbox: %s\n", sandbox_err);
        rc = -1;
        goto out;
    }
    /* what this sandbox lacks, said once here rather than by every worker */
    for (int c = 0; c < BM_CAP_COUNT; c++)
        if (!env.has[c])
            fprintf(stderr, "bindmatrix-runner: no %s (%s): %s\n", sandbox_cap_name(c),
                    sandbox_cap_effect(c), sandbox_missing(&env, c));
    for (size_t i = 0; i < host_sysctls.n; i++)
        if (host_sysctls.s[i].why[0])
            fprintf(stderr, "bindmatrix-runner: --sysctls host: %s keeps its default: %s\n",
                    host_sysctls.s[i].name, host_sysctls.s[i].why);
    {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        r.ncpu = ncpu > 0 ? (size_t)ncpu : 1;
    }
    r.nworkers = o.workers ? (size_t)o.workers : r.ncpu;
    if (r.nworkers > chosen.n)
        r.nworkers = chosen.n;
    if (r.nworkers > BM_MAX_WORKERS)
        r.nworkers = BM_MAX_WORKERS;
    if (r.nworkers > 1 && env.has[BM_CAP_NETNS]) {
        /* a case's sysctl must reach no other case: where namespaces share them, one worker */
        char why[256];
        if (sysinfo_sysctls_shared(why, sizeof why) == 1) {
            fprintf(stderr, "bindmatrix-runner: sysctls are shared between network namespaces "
                    "here (%s): one worker, so that one case's sysctl reaches no other case\n", why);
            r.nworkers = 1;
        }
    }
    if (o.capture && !capture_supported()) {
        fprintf(stderr, "bindmatrix-runner: --capture: this runner was built without libpcap; no packet evidence\n");
        o.capture = false;
    }
    if (o.capture) {
        /* the evidence paths are made in fixed buffers: refuse a folder name that would not fit */
        if (!evidence_of(output, o.evidence_dir, sizeof o.evidence_dir)) {
            fprintf(stderr, "bindmatrix-runner: --capture: the results path is longer than %zu characters\n",
                    sizeof o.evidence_dir - 10);
            rc = -1;
            goto out;
        }
        snprintf(o.evidence_part, sizeof o.evidence_part, "%s.part", o.evidence_dir);
        snprintf(o.evidence_spare, sizeof o.evidence_spare, "%s.spare", o.evidence_dir);
        if (prepare_evidence_dir(o.evidence_part, o.evidence_spare) != 0) {
            fprintf(stderr, "bindmatrix-runner: cannot prepare %s: %s\n", o.evidence_part, strerror(errno));
            rc = -1;
            goto out;
        }
    }
    if (!o.manifest_out && manifest_hash_end(&case_hash, hash) != 0) {
        fprintf(stderr, "bindmatrix-runner: out of memory\n");
        rc = -1;
        goto out;
    }
    r.manifest = manifest_body ? &manifest : NULL;
    publication.body = manifest_body;
    publication.path = o.manifest_out;
    r.o = &o;
    r.env = &env;
    r.host = &host_sysctls;
    r.cases = &chosen;
    r.ncases = chosen.n;
    if (spool_open(&r.lines, chosen.n, output) != 0) {
        fprintf(stderr, "bindmatrix-runner: cannot make a temporary file for the results: %s\n", strerror(errno));
        rc = -1;
        goto out;
    }
    r.status = calloc(chosen.n, sizeof *r.status);
    r.tw_proof = calloc(chosen.n, sizeof *r.tw_proof);
    r.evidence = calloc(chosen.n, sizeof *r.evidence);
    r.workers = calloc(r.nworkers, sizeof *r.workers);
    if (!r.status || !r.workers || !r.tw_proof || !r.evidence) {
        fprintf(stderr, "bindmatrix-runner: out of memory\n");
        rc = -1;
        goto out;
    }
    /* the manifest is written whole where it is collected, so that it needs no copy */
    if (manifest_body && manifest_begin(&manifest, &sel, output, o.capture ? o.evidence_dir : NULL) != 0) {
        fprintf(stderr, "bindmatrix-runner: cannot write %s: %s\n", o.manifest_out, strerror(errno));
        rc = -1;
        goto out;
    }
    /* no private namespace: the cases would run in the runner's own, so all are checked first */
    if (chosen.unchecked && !env.has[BM_CAP_NETNS])
        manifest_collect_more(&manifest, &chosen, &r.manifest_next, SIZE_MAX);
    signal(SIGPIPE, SIG_IGN);
    r.parent = getpid();
    t_cases = now_ms();
    if (!manifest.unbuilt)
        rc = run_all(&r);
    if (manifest_body) {
        if (finish_manifest(&manifest, &chosen, &r.manifest_next, hash) != 0) {
            if (manifest.unbuilt) {     /* the first case in order that does not build */
                fprintf(stderr, "bindmatrix-runner: %s\n", manifest.unbuilt);
                bad_input = true;
                rc = -1;
                goto out;
            }
            fprintf(stderr, "bindmatrix-runner: cannot write %s: %s\n", o.manifest_out, strerror(errno));
            rc = -1;
        } else {
            publication.due = true;
        }
    }
    interrupted = stop_signal && r.received < r.ncases;
    if (interrupted) {
        /* the finished cases, in case order; the run's results file stays as it was */
        size_t kept = 0;
        written.order = malloc((r.ncases ? r.ncases : 1) * sizeof *written.order);
        for (size_t i = 0; written.order && i < r.ncases; i++)
            if (spool_has(&r.lines, i)) {
                r.status[kept] = r.status[i];
                r.tw_proof[kept] = r.tw_proof[i];
                written.order[kept++] = i;
            }
        r.ncases = kept;
        {
            char *to = interrupted_path(output);
            free(output);
            output = to;
        }
        rc = output && written.order ? 0 : -1;
    }
    if (rc == 0 && r.received != r.ncases) {
        fprintf(stderr, "bindmatrix-runner: only %zu of %zu results arrived\n", r.received, r.ncases);
        rc = -1;
    }
    t_write = now_ms();
    if (o.capture) {
        /* the evidence of an interrupted run goes beside its results, not over the run's */
        if (interrupted) {  /* fits: its name is 12 longer than evidence_dir's, of 512 */
            evidence_of(output, evidence_dest, sizeof evidence_dest);
            written.from = base_name(o.evidence_dir);
            written.to = base_name(evidence_dest);
        } else {
            snprintf(evidence_dest, sizeof evidence_dest, "%s", o.evidence_dir);
        }
        if (rc == 0 && (prune_evidence(&r, o.evidence_part) != 0 ||
                        put_evidence(o.evidence_part, evidence_dest) != 0)) {
            fprintf(stderr, "bindmatrix-runner: cannot put the evidence in %s: %s\n",
                    evidence_dest, strerror(errno));
            rc = -1;
        }
        evidence_placed = rc == 0;
    }
    if (rc == 0) {
        enum bm_tw_proof weakest = BM_TW_NONE;
        for (size_t i = 0; i < r.ncases; i++)
            if (r.tw_proof[i] > (int)weakest)
                weakest = (enum bm_tw_proof)r.tw_proof[i];
        json_t *run = sysinfo_run_record(&env, &host_sysctls, o.host_label ? o.host_label : host, (int)r.nworkers,
                                         o.root ? o.root : o.cases_default, o.stack, weakest);
        json_object_set_new(run, "capture", json_string(o.capture ? evidence_dest : "off"));
        json_object_set_new(run, "selection", selection_json(&sel));
        json_object_set_new(run, "partial", json_boolean(sel.partial || interrupted));
        if (interrupted)
            json_object_set_new(run, "interrupted",
                                json_string(stop_signal_name(stop_signal)));
        json_object_set_new(run, "case_set_hash", json_string(hash));
        for (size_t i = 0; i < r.ncases; i++)
            counts[r.status[i]]++;
        written.lines = &r.lines;
        json_t *phases = json_pack("{s:I, s:I}", "load", (json_int_t)(t_cases - t0),
                                   "cases", (json_int_t)(t_write - t_cases));
        if (results_write_then(output, run, written_line, &written, r.ncases, counts,
                               now_ms() - t0, phases, publish_manifest, &publication) != 0) {
            if (!publication.done || publication.rc == 0)
                fprintf(stderr, "bindmatrix-runner: cannot write %s: %s\n", output, strerror(errno));
            rc = -1;
        }
        json_decref(run);
    }
    /* a run that wrote no results still leaves its manifest, as one that did */
    if (publish_manifest(&publication) != 0)
        rc = -1;
    if (evidence_placed)
        settle_evidence(evidence_dest, rc == 0, interrupted ? NULL : o.evidence_spare);
    if (rc == 0 && !o.quiet && !interrupted)
        fprintf(stderr, "bindmatrix-runner: %zu case%s (%ld observed, %ld skipped, %ld error) in %ld ms -> %s\n",
                r.ncases, r.ncases == 1 ? "" : "s", counts[0], counts[1], counts[2], now_ms() - t0,
                output);
    if (rc == 0 && interrupted)
        fprintf(stderr, "bindmatrix-runner: interrupted by %s: %zu finished cases -> %s\n",
                stop_signal_name(stop_signal), r.ncases, output);
out:
    wait_finished(&r);
    if (o.evidence_part[0] && !evidence_placed)     /* a run that wrote no results */
        remove_evidence(o.evidence_part);
    free(written.order);
    free(written.copy);
    drop_manifest(&manifest, &manifest_body);
    free_run(&r);
    free(output);
    case_list_free(&chosen);
    unlock_output(lock_fd, bad_input && lock_made);
    if (bad_input)
        return 2;
    if (stop_signal && (interrupted || rc != 0))
        return 128 + stop_signal;
    return rc == 0 && !r.worker_failed ? 0 : 1;
}
