/* Packet evidence: tcpdump in the namespace, then a per-port slice with libpcap. */
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

    if (system("command -v tcpdump >/dev/null 2>&1") != 0 || !capture_supported())
        cr_skip_test("tcpdump or libpcap is not installed");
    struct bm_env env;
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    snprintf(slice, sizeof slice, "%s/slice.pcap", dir);
    cr_assert_eq(capture_start(&cap, raw, 5000, why, sizeof why), 0, "%s", why);
    send_udp(10001, 3);
    send_udp(10002, 5);
    capture_stop(&cap, 5000);
    cr_assert_eq(cap.pid, 0);
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

Test(capture, a_missing_tcpdump_is_a_reason_not_a_hang)
{
    char why[256];
    struct bm_capture cap;
    const char *path = getenv("PATH");
    char *saved = path ? strdup(path) : NULL;

    setenv("PATH", "/nonexistent", 1);
    cr_assert_eq(capture_start(&cap, "/tmp/bm-never.pcap", 2000, why, sizeof why), -1);
    cr_assert(strstr(why, "tcpdump"), "%s", why);
    if (saved)
        setenv("PATH", saved, 1);
    free(saved);
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

    if (system("command -v tcpdump >/dev/null 2>&1") != 0 || !capture_supported())
        cr_skip_test("tcpdump or libpcap is not installed");
    bm_test_sandbox(&env);
    cr_assert_not_null(mkdtemp(dir));
    snprintf(raw, sizeof raw, "%s/raw.pcap", dir);
    for (int i = 0; i < 4; i++) {
        snprintf(dst[i], sizeof dst[i], "%s/s%d.pcap", dir, i);
        s[i].dst = dst[i];
    }
    cr_assert_eq(capture_start(&cap, raw, 5000, why, sizeof why), 0, "%s", why);
    inet_pton(AF_INET, "127.0.0.1", &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&from, sizeof from), 0);
    for (int i = 0; i < 4; i++)
        sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof to); /* 10011 -> 10012 */
    close(fd);
    send_udp(10012, 2);
    capture_stop(&cap, 5000);
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
