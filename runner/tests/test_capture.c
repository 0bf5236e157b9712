/* Packet evidence: a capture of the namespace inside this process, then per-port slices. */
#include "bm_testenv.h"
#include "capture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void send_udp(int port, int count)
{
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);

    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    for (int i = 0; i < count; i++)
        sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to);
    close(fd);
}

Test(capture, slices_only_the_packets_of_the_given_ports)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", raw[128], slice[128], why[256];
    struct bm_capture cap;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    struct bm_env env;
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    snprintf(slice, sizeof slice, "%s/slice.pcap", dir);
    cr_assert_eq(capture_open(&cap, raw, why, sizeof why), 0, "%s", why);
    send_udp(10001, 3);
    cr_assert_eq(capture_drain(&cap), 0);
    send_udp(10002, 5);
    cr_assert_eq(capture_close(&cap, 5000, why, sizeof why), 0, "%s", why);
    cr_assert_null(cap.pcap);
    long got = capture_slice(raw, slice, "udp port 10002", why, sizeof why);
    cr_assert_eq(got, 5, "got %ld: %s", got, why);
    cr_assert_eq(capture_slice(raw, slice, "udp port 10001 or udp port 10002", why, sizeof why), 8);
    cr_assert_eq(capture_slice(raw, slice, "port 10003", why, sizeof why), 0);
    cr_assert_eq(capture_slice(raw, slice, "port", why, sizeof why), -1, "a bad filter is an error");
    cr_assert_eq(capture_slice("/nonexistent.pcap", slice, "port 1", why, sizeof why), -1);
    unlink(raw);
    unlink(slice);
    rmdir(dir);
}

Test(capture, a_file_it_cannot_write_is_a_reason)
{
    char why[256] = "";
    struct bm_capture cap;
    struct bm_env env;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    bm_test_sandbox(&env);
    cr_assert_eq(capture_open(&cap, "/nonexistent/dir/raw.pcap", why, sizeof why), -1);
    cr_assert(strstr(why, "/nonexistent/dir/raw.pcap"), "%s", why);
    cr_assert_null(cap.pcap);
}

/* Packets the ring could not hold are said when the capture closes, not lost in silence:
 * the evidence of those cases may be incomplete. */
Test(capture, a_full_ring_is_said)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", raw[128], why[256];
    struct bm_capture cap;
    struct bm_env env;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    cr_assert_eq(capture_open(&cap, raw, why, sizeof why), 0, "%s", why);
    send_udp(10021, 40000);     /* far more than its ring holds, never drained */
    cr_assert_eq(capture_close(&cap, 2000, why, sizeof why), -1);
    cr_assert(strstr(why, "lost"), "%s", why);
    unlink(raw);
    rmdir(dir);
}

/* The capture is a socket of this process, not a process of its own: nothing to outlive
 * a worker that dies. */
Test(capture, starts_no_process)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", raw[128], why[256], path[64], kids[256] = "";
    struct bm_capture cap;
    struct bm_env env;
    FILE *f;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    cr_assert_eq(capture_open(&cap, raw, why, sizeof why), 0, "%s", why);
    snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)getpid());
    if ((f = fopen(path, "r"))) {
        if (!fgets(kids, sizeof kids, f))
            kids[0] = '\0';
        fclose(f);
        cr_assert_str_eq(kids, "", "children: %s", kids);
    }
    cr_assert_eq(capture_close(&cap, 2000, why, sizeof why), 0, "%s", why);
    unlink(raw);
    rmdir(dir);
}

/* One pass cuts every slice as its own filter would: a packet between two sliced ports goes
 * to both, once to a slice that names both, and a bad filter fails only its own slice. */
Test(capture, slices_of_one_capture_are_cut_in_one_pass)
{
    char dir[] = "/tmp/bm-capture-XXXXXX", raw[128], dst[4][128], why[256];
    struct sockaddr_in from = {.sin_family = AF_INET, .sin_port = htons(10011)};
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(10012)};
    struct bm_slice s[4] = {{.filter = "port 10011"}, {.filter = "udp port 10012"},
                            {.filter = "port 10011 or port 10012"}, {.filter = "port"}};
    struct bm_capture cap;
    struct bm_env env;
    int fd;

    if (!capture_supported())
        cr_skip_test("this runner was built without libpcap");
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    for (int i = 0; i < 4; i++) {
        snprintf(dst[i], sizeof dst[i], "%s/s%d.pcap", dir, i);
        s[i].dst = dst[i];
    }
    cr_assert_eq(capture_open(&cap, raw, why, sizeof why), 0, "%s", why);
    inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    for (int i = 0; i < 4; i++)
        sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to); /* 10011 -> 10012 */
    close(fd);
    send_udp(10012, 2);
    cr_assert_eq(capture_close(&cap, 5000, why, sizeof why), 0, "%s", why);
    cr_assert_eq(capture_slice_all(raw, s, 4, why, sizeof why), 0, "%s", why);
    cr_assert_eq(s[0].packets, 4);
    cr_assert_eq(s[1].packets, 6);
    cr_assert_eq(s[2].packets, 6, "a packet between two of its ports counts once");
    cr_assert_eq(s[3].packets, -1, "a bad filter fails its own slice");
    cr_assert(strstr(s[3].why, "filter 'port'"), "%s", s[3].why);
    for (int i = 0; i < 4; i++)
        unlink(dst[i]);
    unlink(raw);
    rmdir(dir);
}
