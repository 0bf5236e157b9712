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

int capture_start(struct bm_capture *cap, const char *path, int timeout_ms, char *why, size_t whylen)
{
    int errp[2];
    char buf[2048];
    size_t len = 0;
    long long deadline = now_ms() + timeout_ms;

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
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        close(errp[0]);
        /* -U: each packet reaches the file at once; -Z root: no switch to the tcpdump user,
         * which may not exist in a user namespace or may not write where we asked */
        execlp("tcpdump", "tcpdump", "-i", "any", "-U", "--immediate-mode", "-n", "-Z", "root",
               "-s", "512", "-w", path, (char *)NULL);
        fprintf(stderr, "exec tcpdump: %s\n", strerror(errno));
        _exit(127);
    }
    close(errp[1]);
    cap->err_fd = errp[0];
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

long capture_slice(const char *src, const char *dst, const char *filter, char *why, size_t whylen)
{
#ifdef HAVE_PCAP
    char errbuf[PCAP_ERRBUF_SIZE];
    struct bpf_program prog;
    struct pcap_pkthdr *hdr;
    const u_char *data;
    pcap_dumper_t *out;
    pcap_t *in = pcap_open_offline(src, errbuf);
    long n = 0;
    int rc;

    if (!in) {
        snprintf(why, whylen, "%s", errbuf);
        return -1;
    }
    if (pcap_compile(in, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(why, whylen, "filter '%s': %s", filter, pcap_geterr(in));
        pcap_close(in);
        return -1;
    }
    out = pcap_dump_open(in, dst);
    if (!out) {
        snprintf(why, whylen, "%s", pcap_geterr(in));
        pcap_freecode(&prog);
        pcap_close(in);
        return -1;
    }
    while ((rc = pcap_next_ex(in, &hdr, &data)) == 1)
        if (pcap_offline_filter(&prog, hdr, data)) {
            pcap_dump((u_char *)out, hdr, data);
            n++;
        }
    if (rc == PCAP_ERROR) {
        snprintf(why, whylen, "%s", pcap_geterr(in));
        n = -1;
    }
    pcap_dump_close(out);
    pcap_freecode(&prog);
    pcap_close(in);
    if (n < 0)
        unlink(dst);
    return n;
#else
    (void)src;
    (void)dst;
    (void)filter;
    snprintf(why, whylen, "this runner was built without libpcap");
    return -1;
#endif
}
