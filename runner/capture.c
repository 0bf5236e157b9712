#include "capture.h"
#include "stopsig.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <signal.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef HAVE_PCAP
#include <pcap/pcap.h>
#endif

bool capture_supported(void)
{
#ifdef HAVE_PCAP
    return true;
#else
    return false;
#endif
}

const char *capture_tool(void)
{
    return "libpcap on interface any";
}

int capture_open(struct bm_capture *cap, char *why, size_t whylen)
{
    memset(cap, 0, sizeof *cap);
    cap->marker_fd = -1;
#ifdef HAVE_PCAP
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create("any", errbuf);

    /* immediate mode: a packet is in the ring as soon as the kernel has it (no block to fill
     * or time out); non-blocking: reading takes what is there and never waits.  Inbound
     * only, filtered in the kernel: every packet of the namespace is sent on lo or the veth
     * pair and received on one of them, so its copy as sent is a second copy (libpcap drops
     * lo's itself, after the kernel has copied it into the ring: half the ring's work) */
    struct bpf_program inbound = {0, NULL};
    bool ok = p && !pcap_set_snaplen(p, 256) && !pcap_set_immediate_mode(p, 1) &&
              !pcap_set_buffer_size(p, 2 << 20) && pcap_activate(p) >= 0 &&
              pcap_compile(p, &inbound, "inbound", 1, PCAP_NETMASK_UNKNOWN) == 0 &&
              pcap_setfilter(p, &inbound) == 0 && pcap_setnonblock(p, 1, errbuf) == 0;

    pcap_freecode(&inbound);
    if (!ok) {
        snprintf(why, whylen, "libpcap on interface any: %s", p ? pcap_geterr(p) : errbuf);
        if (p)
            pcap_close(p);
        return -1;
    }
    if ((cap->marker_fd = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
        snprintf(why, whylen, "the end markers' socket: %s", strerror(errno));
        pcap_close(p);
        return -1;
    }
    cap->pcap = p;
    return 0;
#else
    snprintf(why, whylen, "this runner was built without libpcap");
    return -1;
#endif
}

#ifdef HAVE_PCAP
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The transport ports of a captured packet, where pcap's "port N" would look for them:
 * TCP/UDP/SCTP right after an IPv4 header (first fragment only) or a fixed IPv6 header;
 * false for any other (a packet without ports is no case's). */
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

/* One case's reading: where its packets go, which ports are its, and the end marker. */
struct reading {
    pcap_dumper_t *dump;
    const int *ports;
    size_t nports;
    int linktype;
    const char *marker;
    bool marker_seen;
    long kept;
};

static bool has_port(const struct reading *r, int port)
{
    for (size_t i = 0; i < r->nports; i++)
        if (r->ports[i] == port)
            return true;
    return false;
}

/* The marker ends the reading (looked for first: its socket's port, the kernel's choice,
 * may be one the case used); a packet to or from one of the case's ports is the case's. */
static void take(u_char *user, const struct pcap_pkthdr *hdr, const u_char *data)
{
    struct reading *r = (struct reading *)user;
    int sport, dport;

    if (memmem(data, hdr->caplen, r->marker, strlen(r->marker))) {
        r->marker_seen = true;
    } else if (packet_ports(r->linktype, data, hdr->caplen, &sport, &dport) &&
               (has_port(r, sport) || has_port(r, dport))) {
        pcap_dump((u_char *)r->dump, hdr, data);
        r->kept++;
    }
}
#endif

#ifdef HAVE_PCAP
/* A rewritten file's last block is written whole: zeros after the packets, cut off again
 * by the ftruncate that follows.  Writing part of a block of the old file that is not in the
 * page cache makes the kernel read that block from disk first (ext4_block_write_begin),
 * 0.1 to 0.5 ms a file where the run before last's pcaps have been evicted.  *end: where
 * the packets end.  0, or -1 with errno set. */
static int pad_to_block(FILE *f, off_t *end)
{
    static const char zeros[4096];
    struct stat st;
    long at = ftell(f);
    size_t block = 4096, pad;

    if (at < 0)
        return -1;
    *end = (off_t)at;
    if (fstat(fileno(f), &st) == 0 && st.st_blksize > 0 && (size_t)st.st_blksize <= sizeof zeros)
        block = (size_t)st.st_blksize;
    pad = (block - (size_t)at % block) % block;
    return fwrite(zeros, 1, pad, f) == pad ? 0 : -1;
}
#endif

/* A packet not yet in the ring (a softirq still to run) would be missed by reading once: a
 * marker datagram is sent after the case's last packet and read for.  Packets reach the
 * ring in order, so every one before it is there once it is. */
long capture_case(struct bm_capture *cap, const char *path, const int *ports, size_t nports,
                  int timeout_ms, char *why, size_t whylen)
{
    why[0] = '\0';
#ifdef HAVE_PCAP
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}; /* discard */
    long long deadline = now_ms() + timeout_ms;
    char marker[64];
    off_t end = 0;
    struct reading r = {.ports = ports, .nports = nports, .marker = marker};
    int n = 0, fd = -1;
    bool sent, cut;
    FILE *f = NULL;

    if (!cap->pcap) {
        snprintf(why, whylen, "no capture is open");
        return -1;
    }
    r.linktype = pcap_datalink(cap->pcap);
    /* rewritten in place, not truncated first: a file the evidence folder already holds (the
     * runner recycles the run before last's) keeps its inode and its blocks; it is cut to
     * its new length at the end.  Creating a file is the costliest step here otherwise (on
     * ext4 without a journal, each new inode skips every recently freed one: 0.3-0.6 ms a
     * file), and truncating to zero makes ext4 write the file out at close. */
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0 && errno == EACCES && unlink(path) == 0) /* another user's: a file of ours */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!(r.dump = pcap_dump_fopen(cap->pcap, f))) {
        snprintf(why, whylen, "%s", pcap_geterr(cap->pcap));
        fclose(f);
        return -1;
    }
    snprintf(marker, sizeof marker, "bindmatrix-case-end-%ld-%lu", (long)getpid(), ++cap->cases);
    /* what is there first: a full ring would have no room for the marker */
    while ((n = pcap_dispatch(cap->pcap, -1, take, (u_char *)&r)) > 0)
        ;
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    sent = sendto(cap->marker_fd, marker, strlen(marker), 0, (struct sockaddr *)&to,
                  sizeof to) >= 0;
    while (!r.marker_seen && (n = pcap_dispatch(cap->pcap, -1, take, (u_char *)&r)) >= 0) {
        struct pollfd pfd = {pcap_get_selectable_fd(cap->pcap), POLLIN, 0};
        int left = (int)(deadline - now_ms());
        if (n > 0)
            continue;
        if (!sent || left <= 0 || pfd.fd < 0)
            break;
        poll(&pfd, 1, left);
    }
    cut = pad_to_block(f, &end) == 0 && pcap_dump_flush(r.dump) == 0 && ftruncate(fd, end) == 0;
    if (!cut)
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
    pcap_dump_close(r.dump);
    if (!cut)
        return -1;
    if (n < 0) {
        snprintf(why, whylen, "reading the capture: %s", pcap_geterr(cap->pcap));
        return -1;
    }
    {
        struct pcap_stat st;
        if (pcap_stats(cap->pcap, &st) == 0 && st.ps_drop > cap->dropped) {
            snprintf(why, whylen, "the capture lost %u packets while this case ran (its ring "
                     "was full)", st.ps_drop - cap->dropped);
            cap->dropped = st.ps_drop;
        } else if (!r.marker_seen) {
            snprintf(why, whylen, "the end marker did not arrive within %d ms: packets may "
                     "be missing", timeout_ms);
        }
    }
    return r.kept;
#else
    (void)cap, (void)path, (void)ports, (void)nports, (void)timeout_ms;
    snprintf(why, whylen, "this runner was built without libpcap");
    return -1;
#endif
}

/* Closing a packet socket waits for an RCU grace period (packet_release() calls
 * synchronize_net(), net/packet/af_packet.c): 10 to 25 ms here, a stall of the worker that
 * closes it.  So a child (the closer) holds the socket through its copy of the ring's
 * mapping while the worker closes its own references, and drops it by exiting: the release
 * runs in the closer, beside the worker's next cases.  Up to CLOSERS at a time. */
#define CLOSERS 8
static volatile pid_t closers[CLOSERS];     /* read by capture_stop_closers in a handler */

static void reap(size_t i)
{
    while (closers[i] > 0 && waitpid(closers[i], NULL, 0) < 0 && errno == EINTR)
        ;
    closers[i] = 0;
}

void capture_reap(void)
{
    for (size_t i = 0; i < CLOSERS; i++)
        reap(i);
}

void capture_stop_closers(void)
{
    for (size_t i = 0; i < CLOSERS; i++) {
        if (closers[i] > 0)
            kill(closers[i], SIGKILL);  /* it may still wait for the worker's pipe end */
        reap(i);
    }
}

#ifdef HAVE_PCAP
/* A closer for p: it waits until the worker has closed its references (the pipe's end),
 * then exits.  false when it could not be started (the caller closes p itself). */
static bool hand_to_closer(pcap_t *p)
{
    size_t slot = 0;
    int sync[2];
    sigset_t stop, old;
    pid_t pid;

    while (slot < CLOSERS && closers[slot] > 0)
        slot++;
    if (slot == CLOSERS)
        reap(slot = 0);
    if (pipe(sync) != 0)
        return false;
    /* a ^C meant for the worker must not run the worker's handler (which sends its lines)
     * in the closer: blocked across the fork, default in the closer */
    stop_signals_fill(&stop);
    sigprocmask(SIG_BLOCK, &stop, &old);
    if ((pid = fork()) == 0) {
        char byte;
        stop_signals_default();
        sigprocmask(SIG_SETMASK, &old, NULL);
        close(sync[1]);
        while (read(sync[0], &byte, 1) < 0 && errno == EINTR)
            ;
        _exit(0);   /* the last reference to the socket goes here */
    }
    if (pid > 0)
        closers[slot] = pid;    /* before a stop signal can come: its handler reaps it */
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(sync[0]);
    if (pid < 0) {
        close(sync[1]);
        return false;
    }
    pcap_close(p);  /* the worker's own references: not the last */
    close(sync[1]); /* now the closer may go */
    return true;
}
#endif

int capture_close(struct bm_capture *cap, char *why, size_t whylen)
{
    why[0] = '\0';
#ifdef HAVE_PCAP
    struct pcap_stat st;

    if (!cap->pcap)
        return 0;
    if (pcap_stats(cap->pcap, &st) == 0 && st.ps_drop > cap->dropped)
        snprintf(why, whylen, "the capture lost %u packets (its ring was full)",
                 st.ps_drop - cap->dropped);
    close(cap->marker_fd);
    if (!hand_to_closer(cap->pcap))
        pcap_close(cap->pcap);
#else
    (void)whylen;
#endif
    memset(cap, 0, sizeof *cap);
    return why[0] ? -1 : 0;
}
