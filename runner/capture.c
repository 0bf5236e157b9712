#include "capture.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef HAVE_SYS_INOTIFY_H
#include <sys/inotify.h>
#endif
#ifdef HAVE_SYS_PRCTL_H
#include <sys/prctl.h>
#endif
#ifdef HAVE_PCAP
#include <pcap/pcap.h>
#endif

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool capture_supported(void)
{
#ifdef HAVE_PCAP
    return true;
#else
    return false;
#endif
}

#ifdef HAVE_PCAP
/* tcpdump, started as root, always changes user (to -Z root at best), and that calls
 * setgroups(), which a user namespace made without privilege denies: there it could never
 * start (and libpcap records instead).  /proc/self/setgroups says so where it exists. */
static bool setgroups_denied(void)
{
    char buf[16] = "";
    FILE *f = fopen("/proc/self/setgroups", "r");

    if (!f)
        return false;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = '\0';
    fclose(f);
    return strncmp(buf, "deny", 4) == 0;
}

static pcap_t *live_capture;

static void on_capture_stop(int sig)
{
    (void)sig;
    if (live_capture)
        pcap_breakloop(live_capture); /* documented as safe from a signal handler */
}

/* In the child: what `tcpdump -i any -U --immediate-mode -s 512 -w path` does, with
 * libpcap directly and no change of user, for where tcpdump cannot run.  It says
 * "listening on any" as tcpdump does and stops on SIGINT or SIGTERM. */
static void capture_with_libpcap(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    struct sigaction sa;
    pcap_dumper_t *dump;
    pcap_t *p = pcap_create("any", errbuf);

    if (!p || pcap_set_snaplen(p, 512) || pcap_set_immediate_mode(p, 1) ||
        pcap_set_timeout(p, 100) || pcap_activate(p) < 0) {
        fprintf(stderr, "libpcap: %s\n", p ? pcap_geterr(p) : errbuf);
        _exit(1);
    }
    if (!(dump = pcap_dump_open(p, path))) {
        fprintf(stderr, "libpcap: %s\n", pcap_geterr(p));
        _exit(1);
    }
    live_capture = p;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_capture_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    fprintf(stderr, "listening on any (libpcap, no change of user)\n");
    fflush(stderr);
    /* flushed after every batch: as -U, each packet reaches the file at once */
    while (pcap_dispatch(p, -1, pcap_dump, (u_char *)dump) >= 0)
        pcap_dump_flush(dump);
    pcap_dump_close(dump);
    pcap_close(p);
    _exit(0);
}
#endif

const char *capture_tool(void)
{
#ifdef HAVE_PCAP
    if (setgroups_denied())
        return "libpcap on interface any (tcpdump cannot change user here)";
#endif
    return "tcpdump -i any";
}

int capture_start(struct bm_capture *cap, const char *path, int timeout_ms, char *why, size_t whylen)
{
    if (capture_spawn(cap, path, why, whylen) != 0)
        return -1;
    return capture_ready(cap, timeout_ms, why, whylen);
}

int capture_spawn(struct bm_capture *cap, const char *path, char *why, size_t whylen)
{
    int errp[2];
#ifdef PR_SET_PDEATHSIG
    pid_t parent = getpid();    /* the child checks it did not outlive us before prctl */
#endif

    memset(cap, 0, sizeof *cap);
    cap->err_fd = -1;
    snprintf(cap->path, sizeof cap->path, "%s", path);
    if (pipe(errp) != 0) {
        snprintf(why, whylen, "pipe: %s", strerror(errno));
        return -1;
    }
    cap->pid = fork();
    if (cap->pid < 0) {
        snprintf(why, whylen, "fork: %s", strerror(errno));
        close(errp[0]);
        close(errp[1]);
        return -1;
    }
    if (cap->pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
#ifdef PR_SET_PDEATHSIG
        /* tcpdump ends with the worker that started it, however that worker ends (SIGTERM:
         * it closes its file); kept across exec as tcpdump runs as the same user */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(127);
#endif
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        close(errp[0]);
#ifdef HAVE_PCAP
        if (setgroups_denied())
            capture_with_libpcap(path);
#endif
        /* -U: each packet reaches the file at once; -Z root: no switch to the tcpdump user,
         * which may not exist in a user namespace or may not write where we asked */
        execlp("tcpdump", "tcpdump", "-i", "any", "-U", "--immediate-mode", "-n", "-Z", "root",
               "-s", "512", "-w", path, (char *)NULL);
        fprintf(stderr, "exec tcpdump: %s\n", strerror(errno));
        _exit(127);
    }
    close(errp[1]);
    cap->err_fd = errp[0];
    return 0;
}

int capture_ready(struct bm_capture *cap, int timeout_ms, char *why, size_t whylen)
{
    char buf[2048];
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;

    /* tcpdump says "listening on any" once the capture is live: wait for that line */
    for (;;) {
        int left = (int)(deadline - now_ms());
        struct pollfd pfd = {cap->err_fd, POLLIN, 0};
        ssize_t n;

        if (left <= 0) {
            snprintf(why, whylen, "tcpdump did not start capturing within %d ms", timeout_ms);
            break;
        }
        if (poll(&pfd, 1, left) <= 0)
            continue;
        n = read(cap->err_fd, buf + len, sizeof buf - 1 - len);
        if (n <= 0) {
            buf[len] = '\0';
            snprintf(why, whylen, "tcpdump exited: %.200s", len ? buf : "no message");
            break;
        }
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, "listening on"))
            return 0;
        if (len == sizeof buf - 1)
            len = 0;
    }
    capture_stop(cap, 100);
    return -1;
}

/* Does the capture file already hold the marker datagram?  Only its tail is read. */
static bool file_has_marker(const char *path, const char *marker)
{
    char buf[8192];
    size_t n;
    FILE *f = fopen(path, "rb");
    long size;

    if (!f)
        return false;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof buf ? size - (long)sizeof buf : 0, SEEK_SET);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, marker, strlen(marker)) != NULL;
}

/* tcpdump drops what it has not yet read from the kernel when it is interrupted, so before
 * stopping it: send a marker datagram (after every packet of the cases) and wait until it is
 * in the file; packets reach the file in order, so everything before it is there too. */
static void wait_for_marker(struct bm_capture *cap, long long deadline)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}; /* discard */
    char marker[64];
    int fd = socket(AF_INET, SOCK_DGRAM, 0), ino = -1;

    snprintf(marker, sizeof marker, "bindmatrix-capture-end-%ld", (long)cap->pid);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
#ifdef HAVE_SYS_INOTIFY_H
    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ino >= 0 && inotify_add_watch(ino, cap->path, IN_MODIFY) < 0) {
        close(ino);
        ino = -1;
    }
#endif
    if (fd >= 0)
        sendto(fd, marker, strlen(marker), 0, (struct sockaddr *)&to, sizeof to);
    while (!file_has_marker(cap->path, marker)) {
        int left = (int)(deadline - now_ms());
        char events[4096];
        if (left <= 0)
            break;
        if (ino >= 0) {
            struct pollfd pfd = {ino, POLLIN, 0};
            /* an inotify event: the file was written to */
            if (poll(&pfd, 1, left) > 0)
                while (read(ino, events, sizeof events) > 0)
                    ;
        } else {
            poll(NULL, 0, 1); /* no file events on this OS: look again shortly */
        }
    }
    if (ino >= 0)
        close(ino);
    if (fd >= 0)
        close(fd);
}

void capture_stop(struct bm_capture *cap, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    char sink[512];

    if (cap->pid <= 0)
        return;
    wait_for_marker(cap, deadline);
    kill(cap->pid, SIGINT);
    /* its stderr reaches EOF when it exits: that is the event to wait for */
    while (cap->err_fd >= 0) {
        int left = (int)(deadline - now_ms());
        struct pollfd pfd = {cap->err_fd, POLLIN, 0};

        if (left <= 0) {
            kill(cap->pid, SIGKILL);
            break;
        }
        if (poll(&pfd, 1, left) > 0 && read(cap->err_fd, sink, sizeof sink) <= 0)
            break;
    }
    while (waitpid(cap->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    if (cap->err_fd >= 0)
        close(cap->err_fd);
    cap->err_fd = -1;
    cap->pid = 0;
}

#ifdef HAVE_PCAP
/* The transport ports of a captured packet, where pcap's "port N" would look for them:
 * TCP/UDP/SCTP right after an IPv4 header (first fragment only) or a fixed IPv6 header.
 * false when the link type or packet is one it does not read (the caller offers the packet
 * to every slice then, so nothing is missed). */
static bool packet_ports(int linktype, const u_char *p, bpf_u_int32 caplen, int *sport, int *dport)
{
    static const struct { int dlt; unsigned hdr, proto_at; } links[] = {
#ifdef DLT_LINUX_SLL2
        {DLT_LINUX_SLL2, 20, 0},
#endif
        {DLT_LINUX_SLL, 16, 14},
        {DLT_EN10MB, 14, 12},
    };
    unsigned off = 0, proto = 0, ethertype = 0, l4;
    bool known = false;

    for (size_t i = 0; i < sizeof links / sizeof links[0] && !known; i++)
        if (links[i].dlt == linktype && caplen >= links[i].hdr) {
            known = true;
            off = links[i].hdr;
            ethertype = (unsigned)p[links[i].proto_at] << 8 | p[links[i].proto_at + 1];
        }
    if (!known)
        return false;
    if (ethertype == 0x0800 && caplen >= off + 20) {
        if (((p[off + 6] & 0x1f) << 8 | p[off + 7]) != 0) /* a later fragment: no ports */
            return false;
        proto = p[off + 9];
        l4 = off + (p[off] & 0x0fu) * 4;
    } else if (ethertype == 0x86dd && caplen >= off + 40) {
        proto = p[off + 6];
        l4 = off + 40;
    } else {
        return false;
    }
    if ((proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != 132 /* SCTP */) || caplen < l4 + 4)
        return false;
    *sport = p[l4] << 8 | p[l4 + 1];
    *dport = p[l4 + 2] << 8 | p[l4 + 3];
    return true;
}

struct kept {               /* the packets of one slice, in capture order */
    struct pcap_pkthdr *hdr;
    u_char **data;
    size_t n, cap;
};

static int keep_packet(struct kept *k, const struct pcap_pkthdr *hdr, const u_char *data)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 16;
        struct pcap_pkthdr *h = realloc(k->hdr, cap * sizeof *h);
        u_char **d;
        if (!h)
            return -1;
        k->hdr = h;
        if (!(d = realloc(k->data, cap * sizeof *d)))
            return -1;
        k->data = d;
        k->cap = cap;
    }
    if (!(k->data[k->n] = malloc(hdr->caplen ? hdr->caplen : 1)))
        return -1;
    memcpy(k->data[k->n], data, hdr->caplen);
    k->hdr[k->n++] = *hdr;
    return 0;
}

/* Writes one slice from what was kept for it; the packet count or -1. */
static long write_slice(pcap_t *dead, struct bm_slice *s, const struct kept *k)
{
    pcap_dumper_t *out = pcap_dump_open(dead, s->dst);

    if (!out) {
        snprintf(s->why, sizeof s->why, "%s", pcap_geterr(dead));
        return -1;
    }
    for (size_t i = 0; i < k->n; i++)
        pcap_dump((u_char *)out, &k->hdr[i], k->data[i]);
    pcap_dump_close(out);
    return (long)k->n;
}
#endif

int capture_slice_all(const char *src, struct bm_slice *slices, size_t n, char *why, size_t whylen)
{
#ifdef HAVE_PCAP
    char errbuf[PCAP_ERRBUF_SIZE];
    struct bpf_program *prog = calloc(n ? n : 1, sizeof *prog);
    struct kept *kept = calloc(n ? n : 1, sizeof *kept);
    bool *ok = calloc(n ? n : 1, sizeof *ok);
    /* port -> the slices whose filter names it: first[port], then next[] (an entry per
     * slice and port, at most 2 per slice and packet offered) */
    int *first = malloc(65536 * sizeof *first), *next = NULL, *entry_slice = NULL;
    size_t nentries = 0;
    struct pcap_pkthdr *hdr;
    const u_char *data;
    pcap_t *in = pcap_open_offline(src, errbuf), *dead = NULL;
    int rc = 0, got = 0;

    if (!in) {
        snprintf(why, whylen, "%s", errbuf);
        rc = -1;
    } else if (!prog || !kept || !ok || !first) {
        snprintf(why, whylen, "out of memory");
        rc = -1;
    }
    for (int p = 0; rc == 0 && p < 65536; p++)
        first[p] = -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *f = slices[i].filter;
        slices[i].packets = -1;
        if (pcap_compile(in, &prog[i], f, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(slices[i].why, sizeof slices[i].why, "filter '%s': %s", f, pcap_geterr(in));
            continue;
        }
        ok[i] = true;
        /* the filters are "port N or port M ...": index the slice under each N */
        for (const char *q = f; (q = strstr(q, "port ")) != NULL; q += 5) {
            int port = atoi(q + 5);
            int *nx = realloc(next, (nentries + 1) * sizeof *nx), *es;
            if (nx)
                next = nx;
            es = nx ? realloc(entry_slice, (nentries + 1) * sizeof *es) : NULL;
            if (!es) {
                snprintf(why, whylen, "out of memory");
                rc = -1;
                break;
            }
            entry_slice = es;
            if (port < 0 || port > 65535)
                port = 0;
            entry_slice[nentries] = (int)i;
            next[nentries] = first[port];
            first[port] = (int)nentries++;
        }
    }
    while (rc == 0 && (got = pcap_next_ex(in, &hdr, &data)) == 1) {
        int ports[2];
        bool parsed = packet_ports(pcap_datalink(in), data, hdr->caplen, &ports[0], &ports[1]);

        if (!parsed) {
            for (size_t i = 0; rc == 0 && i < n; i++)
                if (ok[i] && pcap_offline_filter(&prog[i], hdr, data))
                    rc = keep_packet(&kept[i], hdr, data);
            continue;
        }
        /* a slice met under both ports gets the packet once */
        for (int k = 0; rc == 0 && k < 2; k++) {
            if (k == 1 && ports[1] == ports[0])
                break;
            for (int e = first[ports[k]]; rc == 0 && e >= 0; e = next[e]) {
                int i = entry_slice[e];
                bool again = false;
                for (int f = k ? first[ports[0]] : -1; f >= 0 && !again; f = next[f])
                    again = entry_slice[f] == i;
                if (again)
                    continue;
                if (ok[i] && pcap_offline_filter(&prog[i], hdr, data))
                    rc = keep_packet(&kept[i], hdr, data);
            }
        }
    }
    if (rc == 0 && got == PCAP_ERROR) {
        snprintf(why, whylen, "%s", pcap_geterr(in));
        rc = -1;
    }
    if (rc == 0 && !(dead = pcap_open_dead(pcap_datalink(in), pcap_snapshot(in)))) {
        snprintf(why, whylen, "out of memory");
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (ok[i] && (slices[i].packets = write_slice(dead, &slices[i], &kept[i])) < 0)
            unlink(slices[i].dst);
    for (size_t i = 0; kept && i < n; i++) {
        for (size_t j = 0; j < kept[i].n; j++)
            free(kept[i].data[j]);
        free(kept[i].data);
        free(kept[i].hdr);
        if (ok && ok[i])
            pcap_freecode(&prog[i]);
    }
    if (dead)
        pcap_close(dead);
    if (in)
        pcap_close(in);
    free(prog);
    free(kept);
    free(ok);
    free(first);
    free(next);
    free(entry_slice);
    return rc;
#else
    (void)src;
    for (size_t i = 0; i < n; i++) {
        slices[i].packets = -1;
        snprintf(slices[i].why, sizeof slices[i].why, "this runner was built without libpcap");
    }
    snprintf(why, whylen, "this runner was built without libpcap");
    return -1;
#endif
}

long capture_slice(const char *src, const char *dst, const char *filter, char *why, size_t whylen)
{
    struct bm_slice one = {.dst = dst, .filter = filter};

    if (capture_slice_all(src, &one, 1, why, whylen) != 0)
        return -1;
    if (one.packets < 0)
        snprintf(why, whylen, "%s", one.why);
    return one.packets;
}
