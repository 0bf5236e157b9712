#include "capture.h"
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
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
    return "libpcap on interface any, inside the worker";
}

#ifdef HAVE_PCAP
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Each packet to the file; the marker datagram of capture_close is looked for on the way. */
static void keep(u_char *user, const struct pcap_pkthdr *hdr, const u_char *data)
{
    struct bm_capture *cap = (struct bm_capture *)user;

    pcap_dump((u_char *)cap->dump, hdr, data);
    if (cap->marker[0] && memmem(data, hdr->caplen, cap->marker, strlen(cap->marker)))
        cap->marker_seen = true;
}
#endif

int capture_open(struct bm_capture *cap, const char *path, char *why, size_t whylen)
{
    memset(cap, 0, sizeof *cap);
#ifdef HAVE_PCAP
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create("any", errbuf);

    /* immediate mode: a packet is in the ring as soon as the kernel has it (no block to fill
     * or time out); non-blocking: a drain takes what is there and never waits */
    if (!p || pcap_set_snaplen(p, 256) || pcap_set_immediate_mode(p, 1) ||
        pcap_set_buffer_size(p, 2 << 20) || pcap_activate(p) < 0 ||
        pcap_setnonblock(p, 1, errbuf) != 0) {
        snprintf(why, whylen, "libpcap on interface any: %s", p ? pcap_geterr(p) : errbuf);
        if (p)
            pcap_close(p);
        return -1;
    }
    if (!(cap->dump = pcap_dump_open(p, path))) {
        snprintf(why, whylen, "libpcap: %s", pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    cap->pcap = p;
    snprintf(cap->path, sizeof cap->path, "%s", path);
    return 0;
#else
    (void)path;
    snprintf(why, whylen, "this runner was built without libpcap");
    return -1;
#endif
}

int capture_drain(struct bm_capture *cap)
{
#ifdef HAVE_PCAP
    int n;

    if (!cap->pcap)
        return 0;
    while ((n = pcap_dispatch(cap->pcap, -1, keep, (u_char *)cap)) > 0)
        ;
    return n < 0 ? -1 : 0;
#else
    (void)cap;
    return 0;
#endif
}

#ifdef HAVE_PCAP
/* Closing a packet socket waits for an RCU grace period (packet_release() calls
 * synchronize_net(), net/packet/af_packet.c): 10 to 25 ms here, on the runner's critical
 * path if a worker did it before its last lines.  A finished capture's socket is therefore
 * left for the process's exit to close, up to this many; more are closed at once. */
#define CAPTURE_KEPT 8
static pcap_t *finished[CAPTURE_KEPT];
#endif

int capture_close(struct bm_capture *cap, int timeout_ms, char *why, size_t whylen)
{
    why[0] = '\0';
#ifdef HAVE_PCAP
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9)}; /* discard */
    long long deadline = now_ms() + timeout_ms;
    struct pcap_stat st;
    size_t slot = 0;
    int fd;

    if (!cap->pcap)
        return 0;
    /* A packet the kernel has not yet handed to the ring (a softirq still to run) would be
     * missed by stopping now: send a marker datagram after every packet of the cases and
     * drain until it is in; packets reach the ring in order, so all before it are there. */
    capture_drain(cap);         /* room in the ring for the marker */
    snprintf(cap->marker, sizeof cap->marker, "bindmatrix-capture-end-%ld", (long)getpid());
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd >= 0 && sendto(fd, cap->marker, strlen(cap->marker), 0, (struct sockaddr *)&to,
                          sizeof to) < 0) {
        close(fd);
        fd = -1;
    }
    while (fd >= 0 && capture_drain(cap) == 0 && !cap->marker_seen) {
        struct pollfd pfd = {pcap_get_selectable_fd(cap->pcap), POLLIN, 0};
        int left = (int)(deadline - now_ms());
        if (left <= 0 || pfd.fd < 0)
            break;
        poll(&pfd, 1, left);
    }
    if (!cap->marker_seen)
        snprintf(why, whylen, "the capture's end marker did not arrive within %d ms: its last "
                 "packets may be missing", timeout_ms);
    if (fd >= 0)
        close(fd);
    if (pcap_stats(cap->pcap, &st) == 0 && st.ps_drop > 0)
        snprintf(why, whylen, "the capture lost %u packets (its ring was full)", st.ps_drop);
    pcap_dump_close(cap->dump);
    while (slot < CAPTURE_KEPT && finished[slot])
        slot++;
    if (slot < CAPTURE_KEPT)
        finished[slot] = cap->pcap;
    else
        pcap_close(cap->pcap);
#else
    (void)timeout_ms;
    (void)whylen;
#endif
    memset(cap, 0, sizeof *cap);
    return why[0] ? -1 : 0;
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
