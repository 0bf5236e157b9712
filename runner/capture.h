/* capture.h — packet evidence: each worker records its own namespace with libpcap while its
 * capture cases run; afterwards each case that asked for evidence gets its slice of that
 * capture.  The files are pcap: tcpdump -r reads them. */
#ifndef BM_CAPTURE_H
#define BM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bm_capture {
    void *pcap;             /* pcap_t: an AF_PACKET ring on "any" in this namespace, or NULL */
    void *dump;             /* pcap_dumper_t: the raw capture file */
    char path[1024];
    char marker[64];        /* capture_close's end marker, while it waits for it */
    bool marker_seen;
};

/* Opens a capture of every interface of the caller's network namespace (libpcap, "any",
 * immediate and non-blocking) writing to path.  No process is started: the capture lives
 * and dies with its worker.  0, or -1 with a reason in why. */
int capture_open(struct bm_capture *cap, const char *path, char *why, size_t whylen);

/* Moves the packets the kernel holds for the capture into its file, without waiting: after
 * each case whose packets matter, so the ring (1 MiB) never fills.  0, or -1 (a read error). */
int capture_drain(struct bm_capture *cap);

/* Drains until an end marker sent now has arrived (at most timeout_ms), then closes the
 * file (its socket is left for the process's exit, which closes it without delaying
 * anyone).  0, or -1 with why when packets may be missing (no marker, or the ring
 * overflowed); the file is complete either way.  A capture that is not open is left alone. */
int capture_close(struct bm_capture *cap, int timeout_ms, char *why, size_t whylen);

/* Copies the packets of src that match the pcap filter expression (e.g. "port 10001 or
 * port 10002") to dst.  Returns the number of packets written, or -1 with a reason. */
long capture_slice(const char *src, const char *dst, const char *filter, char *why, size_t whylen);

/* One case's slice of a raw capture, for capture_slice_all. */
struct bm_slice {
    const char *dst;        /* the case's pcap */
    const char *filter;     /* "port 10001 or port 10002": what the slice keeps */
    long packets;           /* out: packets written, or -1 with the reason in why */
    char why[512];
};

/* Cuts every slice from src in one pass over it (capture_slice read src once per slice,
 * quadratic in the cases of one capture): each packet is offered only to the slices whose
 * ports it carries (TCP, UDP or SCTP over IPv4 or IPv6, as pcap's "port" reads them), and
 * each slice's filter decides, as before; a packet whose ports cannot be read is offered to
 * all.  0, or -1 with why when src cannot be read at all. */
int capture_slice_all(const char *src, struct bm_slice *slices, size_t n, char *why, size_t whylen);

/* What records the namespace, for the evidence notes. */
const char *capture_tool(void);

/* Whether this build can slice captures (it links libpcap). */
bool capture_supported(void);

#endif
