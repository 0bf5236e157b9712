/* capture.h — packet evidence: each worker records its own network namespace with libpcap
 * (in the worker itself, so it lives and dies with it; only its closing runs in a child the
 * worker waits for), and after each case that asks for evidence writes that case's packets
 * to the case's own pcap.  The files are pcap: tcpdump -r reads them. */
#ifndef BM_CAPTURE_H
#define BM_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

struct bm_capture {
    void *pcap;             /* pcap_t: an AF_PACKET ring on "any" in this namespace, or NULL */
    int marker_fd;          /* the UDP socket that sends each case's end marker, or -1 */
    unsigned long cases;    /* cases read so far (each has its own end marker) */
    unsigned dropped;       /* packets the ring lost so far */
};

/* Opens a capture of every interface of the caller's network namespace (libpcap, "any",
 * immediate and non-blocking).  Start it before the first case whose packets matter, and
 * run only such cases while it is open: every packet in the namespace goes through it.
 * 0, or -1 with a reason in why. */
int capture_open(struct bm_capture *cap, char *why, size_t whylen);

/* After a case: reads what the capture holds up to an end marker sent now (at most
 * timeout_ms), and writes the packets to or from one of ports (TCP, UDP or SCTP over IPv4
 * or IPv6) to path; the others are dropped.  The number written, with why set when some may
 * be missing (the ring overflowed, the marker never came); or -1 with why. */
long capture_case(struct bm_capture *cap, const char *path, const int *ports, size_t nports,
                  int timeout_ms, char *why, size_t whylen);

/* Ends the capture; its socket's slow release runs in a short-lived child, not in the
 * caller.  0, or -1 with why when it lost packets since the last case. */
int capture_close(struct bm_capture *cap, char *why, size_t whylen);

/* Waits for those children (call before exiting: none is left behind). */
void capture_reap(void);

/* Kills those children and waits for them: for a worker that stops on a signal, from its
 * handler (kill and waitpid only, both async-signal-safe), so that none outlives it. */
void capture_stop_closers(void);

/* What records the namespace, for the evidence notes. */
const char *capture_tool(void);

/* Whether this build can capture (it links libpcap). */
bool capture_supported(void);

#endif
