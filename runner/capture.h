/* capture.h — packet evidence: tcpdump records a worker's namespace while its cases run;
 * afterwards each case that asked for evidence gets its own slice of that capture. */
#ifndef BM_CAPTURE_H
#define BM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct bm_capture {
    pid_t pid;              /* tcpdump, 0 when not running */
    int err_fd;             /* its stderr: readiness line, then EOF when it exits */
    char path[1024];        /* the raw capture file */
};

/* Starts `tcpdump -i any` writing to path, in the caller's network namespace, and waits
 * (at most timeout_ms) until it reports that it is capturing.  Returns 0, or -1 with a reason
 * in why (tcpdump missing, no permission, timeout...). */
int capture_start(struct bm_capture *cap, const char *path, int timeout_ms, char *why, size_t whylen);

/* The same in two halves, so that a worker runs the cases that need no capture while
 * tcpdump starts: capture_spawn starts it (0, or -1 with why), capture_ready waits for it to
 * capture (0, or -1 with why, the capture then stopped). */
int capture_spawn(struct bm_capture *cap, const char *path, char *why, size_t whylen);
int capture_ready(struct bm_capture *cap, int timeout_ms, char *why, size_t whylen);

/* Stops it (SIGINT, so it flushes) and waits for it to exit, at most timeout_ms; then kills. */
void capture_stop(struct bm_capture *cap, int timeout_ms);

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

/* What records the namespace here, for the evidence notes: "tcpdump -i any", or libpcap
 * itself where tcpdump cannot start (capture_start). */
const char *capture_tool(void);

/* Whether this build can slice captures (it links libpcap). */
bool capture_supported(void);

#endif
