/* Packet evidence: a capture of the namespace inside this process, read after each case into
 * that case's own pcap, keeping only the case's ports. */
#include "bm_testenv.h"
#include "capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void send_udp(int from, int port, int count)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons((uint16_t)from)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &at.sin_addr);
    if (from)
        cr_assert_eq(bind(fd, (struct sockaddr *)&at, sizeof at), 0);
    for (int i = 0; i < count; i++)
        sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
    close(fd);
}

/* The packets in a pcap file, as libpcap reads it back. */
static long packets_in(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    pcap_t *p = pcap_open_offline(path, errbuf);
    long n = 0;

    cr_assert_not_null(p, "%s", errbuf);
    while (pcap_next_ex(p, &hdr, &data) == 1)
        n++;
    pcap_close(p);
    return n;
}

static void open_in_sandbox(struct bm_capture *cap, char *dir)
{
    char why[256];
    struct bm_env env;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(capture_open(cap, why, sizeof why), 0, "%s", why);
}

/* Each case gets the packets sent since the one before, to or from its ports only: a packet
 * between two of its ports once, another port's packets never, the end marker never. */
Test(capture, each_case_gets_its_own_ports_packets)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", one[128], two[128], none[128], why[256];
    struct bm_capture cap;
    const int first[] = {10001}, second[] = {10011, 10012}, other[] = {10099};

    open_in_sandbox(&cap, dir);
    snprintf(one, sizeof one, "%s/one.pcap", dir);
    snprintf(two, sizeof two, "%s/two.pcap", dir);
    snprintf(none, sizeof none, "%s/none.pcap", dir);
    send_udp(0, 10001, 3);
    send_udp(0, 10002, 5);              /* no case's port */
    cr_assert_eq(capture_case(&cap, one, first, 1, 2000, why, sizeof why), 3, "%s", why);
    cr_assert_eq(why[0], '\0', "%s", why);
    send_udp(10011, 10012, 4);          /* between two of its ports: once each */
    send_udp(0, 10012, 2);
    send_udp(0, 10001, 7);              /* the first case's port, but that case is over */
    cr_assert_eq(capture_case(&cap, two, second, 2, 2000, why, sizeof why), 6, "%s", why);
    cr_assert_eq(capture_case(&cap, none, other, 1, 2000, why, sizeof why), 0, "%s", why);
    cr_assert_eq(packets_in(one), 3);
    cr_assert_eq(packets_in(two), 6);
    cr_assert_eq(packets_in(none), 0);
    cr_assert_eq(capture_close(&cap, why, sizeof why), 0, "%s", why);
    cr_assert_null(cap.pcap);
    unlink(one);
    unlink(two);
    unlink(none);
    rmdir(dir);
}

/* A packet sent over the veth pair is read once, where it arrived (bm1): its copy as sent
 * (bm0's outgoing tap) is filtered out in the kernel, as libpcap itself drops lo's. */
Test(capture, a_packet_over_the_veth_pair_is_read_once)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", path[128], why[256];
    struct bm_capture cap;
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(10041)};
    struct in_addr out;
    const int port[] = {10041};
    char errbuf[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int fd;

    open_in_sandbox(&cap, dir);
    snprintf(path, sizeof path, "%s/c.pcap", dir);
    inet_pton(AF_INET, "233.252.0.1", &to.sin_addr);   /* multicast: it leaves by bm0 */
    inet_pton(AF_INET, "192.0.2.1", &out);              /* bm0's address (sandbox.c) */
    cr_assert_geq(fd = socket(AF_INET, SOCK_DGRAM, 0), 0);
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &out, sizeof out) != 0)
        cr_skip_test("no veth pair in this sandbox: %s", strerror(errno));
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to), 1);
    close(fd);
    cr_assert_eq(capture_case(&cap, path, port, 1, 2000, why, sizeof why), 5, "%s", why);
    {
        pcap_t *p = pcap_open_offline(path, errbuf);
        cr_assert_not_null(p, "%s", errbuf);
        cr_assert_eq(pcap_datalink(p), DLT_LINUX_SLL);
        while (pcap_next_ex(p, &hdr, &data) == 1) /* its first field: 4 is outgoing */
            cr_assert_neq(data[0] << 8 | data[1], 4, "a copy as sent was kept");
        pcap_close(p);
    }
    capture_close(&cap, why, sizeof why);
    unlink(path);
    rmdir(dir);
}

/* The end marker is never a case's packet, even on one of its ports (its socket's port is
 * the kernel's choice): here the case's port is the marker's own destination. */
Test(capture, the_end_marker_is_no_cases_packet)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", path[128], why[256];
    struct bm_capture cap;
    const int discard[] = {9};

    open_in_sandbox(&cap, dir);
    snprintf(path, sizeof path, "%s/c.pcap", dir);
    cr_assert_eq(capture_case(&cap, path, discard, 1, 2000, why, sizeof why), 0, "%s", why);
    cr_assert_eq(why[0], '\0', "the marker was seen: %s", why);
    cr_assert_eq(packets_in(path), 0);
    capture_close(&cap, why, sizeof why);
    unlink(path);
    rmdir(dir);
}

/* Bytes this process has had read from storage (/proc/self/io), or -1 without it. */
static long long read_from_disk(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long long n = -1;

    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %lld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* A case's pcap is written over the file the run before last left there (the runner
 * recycles them), longer than the new one and no longer in the page cache: the new packets
 * alone are in it, and none of the old file was read from disk to write it (its last block
 * is written whole, then cut: pad_to_block). */
Test(capture, a_recycled_pcap_is_rewritten_without_reading_it)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", path[128], why[256], junk[20000];
    struct bm_capture cap;
    const int port[] = {10051};
    long long before;
    struct stat st;
    int fd;

    open_in_sandbox(&cap, dir);
    snprintf(path, sizeof path, "%s/c.pcap", dir);
    memset(junk, 'j', sizeof junk);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    cr_assert_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    cr_assert_eq(fsync(fd), 0);     /* on disk, so that its pages can be dropped */
    cr_assert_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
    send_udp(0, 10051, 3);
    before = read_from_disk();
    cr_assert_eq(capture_case(&cap, path, port, 1, 2000, why, sizeof why), 3, "%s", why);
    if (before >= 0)
        cr_assert_eq(read_from_disk() - before, 0, "the old file was read to be written over");
    cr_assert_eq(packets_in(path), 3);
    cr_assert_eq(stat(path, &st), 0);
    /* a pcap header and three one-byte datagrams, lo's link layer: far less than a block */
    cr_assert_lt(st.st_size, 400, "the padding and the old file are cut: %lld bytes",
                 (long long)st.st_size);
    capture_close(&cap, why, sizeof why);
    unlink(path);
    rmdir(dir);
}

Test(capture, a_file_it_cannot_write_is_a_reason)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", why[256] = "";
    struct bm_capture cap;
    const int port[] = {10031};

    open_in_sandbox(&cap, dir);
    cr_assert_eq(capture_case(&cap, "/nonexistent/dir/c.pcap", port, 1, 2000, why, sizeof why), -1);
    cr_assert(strstr(why, "/nonexistent/dir/c.pcap"), "%s", why);
    capture_close(&cap, why, sizeof why);
    rmdir(dir);
}

/* Packets the ring could not hold are said with the case they concern, not lost in silence. */
Test(capture, a_full_ring_is_said)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", path[128], why[256];
    struct bm_capture cap;
    const int port[] = {10021};

    open_in_sandbox(&cap, dir);
    snprintf(path, sizeof path, "%s/c.pcap", dir);
    send_udp(0, 10021, 40000);          /* far more than its ring holds, before it is read */
    cr_assert_gt(capture_case(&cap, path, port, 1, 2000, why, sizeof why), 0);
    cr_assert(strstr(why, "lost"), "%s", why);
    cr_assert_eq(capture_close(&cap, why, sizeof why), 0, "said once, with the case: %s", why);
    unlink(path);
    rmdir(dir);
}

/* The children this process has (alive or zombie), as /proc lists them; "" for none. */
static void children_of_self(char *kids, size_t len)
{
    char path[64];
    FILE *f;

    kids[0] = '\0';
    snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)getpid());
    if ((f = fopen(path, "r"))) {
        if (!fgets(kids, (int)len, f))
            kids[0] = '\0';
        fclose(f);
    }
}

/* The capture is a socket of this process, not a process of its own: nothing to outlive
 * a worker that dies. */
Test(capture, starts_no_process)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", why[256], kids[256];
    struct bm_capture cap;

    open_in_sandbox(&cap, dir);
    children_of_self(kids, sizeof kids);
    cr_assert_str_eq(kids, "", "children: %s", kids);
    cr_assert_eq(capture_close(&cap, why, sizeof why), 0, "%s", why);
    rmdir(dir);
}

/* Closing hands the socket to a child (the closer); a worker stopped by a signal kills and
 * reaps its closers in its handler (capture_stop_closers): afterwards it has no child, not
 * even a zombie for init to adopt. */
Test(capture, a_stopped_worker_leaves_no_closer)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", why[256], kids[256];
    struct bm_capture cap;

    open_in_sandbox(&cap, dir);
    cr_assert_eq(capture_close(&cap, why, sizeof why), 0, "%s", why);
    children_of_self(kids, sizeof kids);
    cr_assert_neq(kids[0], '\0', "closing the capture started no closer");
    capture_stop_closers();
    children_of_self(kids, sizeof kids);
    cr_assert_str_eq(kids, "", "children left: %s", kids);
    errno = 0;
    cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left");
    cr_assert_eq(errno, ECHILD);
    rmdir(dir);
}
