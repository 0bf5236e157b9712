/* The spool of result lines (spool.c): lines by case index on an unlinked scratch file
 * beside the results, replaced in place of memory, read back in any order. */
#include "spool.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

Test(spool, lines_by_index_replaced_and_read_back_with_no_file_left)
{
    char dir[] = "/tmp/bm-spool-XXXXXX", beside[64];
    struct bm_spool s;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(beside, sizeof beside, "%s/r.jsonl", dir);
    cr_assert_eq(spool_open(&s, 3, beside), 0);
    cr_assert_eq(entries(dir), 0, "the scratch file is unlinked at once");
    cr_assert_eq(spool_put(&s, 2, "{\"id\":\"c\"}"), 0);
    cr_assert_eq(spool_put(&s, 0, "{\"id\":\"a\"}"), 0);
    cr_assert(!spool_has(&s, 1));
    cr_assert_null(spool_get(&s, 1));
    cr_assert_eq(spool_put(&s, 0, "{\"id\":\"a\",\"evidence\":[]}"), 0);    /* replaced */
    cr_assert_str_eq(spool_get(&s, 2), "{\"id\":\"c\"}");
    cr_assert_str_eq(spool_get(&s, 0), "{\"id\":\"a\",\"evidence\":[]}");
    cr_assert_eq(spool_put(&s, 3, "x"), -1, "no case 3");
    cr_assert_eq(spool_put(&s, 1, ""), -1, "an empty line is no result");
    spool_close(&s);
    cr_assert_eq(rmdir(dir), 0);
}

Test(spool, a_device_output_spools_in_the_temporary_folder)
{
    struct bm_spool s;

    cr_assert_eq(spool_open(&s, 1, "/dev/stdout"), 0);
    cr_assert_eq(spool_put(&s, 0, "line"), 0);
    cr_assert_str_eq(spool_get(&s, 0), "line");
    spool_close(&s);
}

/* Lines go through a write buffer and come back through a window of the file: read back in
 * any order, across the buffer's and the window's edges, with lines bigger than either, and
 * replaced lines (appended after the window was read) seen as replaced. */
Test(spool, many_lines_across_buffer_and_window_edges_read_back_exactly)
{
    enum { N = 12000 };     /* about 5 MB: a few windows */
    static char line[3 * BM_SPOOL_CHUNK];
    struct bm_spool s;

    cr_assert_eq(spool_open(&s, N, "/dev/stdout"), 0);
    for (size_t i = 0; i < N; i++) {
        size_t len = i % 997 == 0 ? BM_SPOOL_CHUNK + 10 + i : 40 + i % 700;
        for (size_t k = 0; k < len; k++)
            line[k] = (char)('a' + (i + k) % 26);
        line[len] = '\0';
        cr_assert_eq(spool_put(&s, i, line), 0);
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < N; j++) {
            size_t i = pass ? (j * 7919) % N : j;   /* in order, then scattered */
            size_t len = i % 997 == 0 ? BM_SPOOL_CHUNK + 10 + i : 40 + i % 700;
            const char *got = spool_get(&s, i);
            cr_assert_not_null(got, "line %zu", i);
            if (pass == 1 && i == 5999) {
                cr_assert_str_eq(got, "replaced");
                continue;
            }
            cr_assert_eq(strlen(got), len, "line %zu", i);
            for (size_t k = 0; k < len; k++)
                cr_assert_eq(got[k], (char)('a' + (i + k) % 26), "line %zu byte %zu", i, k);
            if (pass == 0 && i == 6000) {
                cr_assert_eq(spool_put(&s, 5999, "replaced"), 0);
                cr_assert_str_eq(spool_get(&s, 5999), "replaced");
            }
        }
    spool_close(&s);
}

/* Lines arrive as the workers send them: batches of each worker's cases, interleaved (worker
 * 0 has the even cases, worker 1 the odd ones).  Read back in case order, the file is read
 * about once, not once per jump between two batches. */
Test(spool, interleaved_batches_read_in_case_order_read_the_file_about_once)
{
    enum { BATCH = 64, N = 48 * 2 * BATCH, LEN = 900 };
    static char line[LEN + 1];
    struct bm_spool s;

    cr_assert_eq(spool_open(&s, N, "/dev/stdout"), 0);
    for (size_t b = 0; b < N / (2 * BATCH); b++)
        for (size_t w = 0; w < 2; w++)
            for (size_t k = 0; k < BATCH; k++) {
                size_t i = b * 2 * BATCH + 2 * k + w;
                snprintf(line, sizeof line, "%0*zu", LEN, i);
                cr_assert_eq(spool_put(&s, i, line), 0);
            }
    for (size_t i = 0; i < N; i++) {
        const char *got = spool_get(&s, i);
        cr_assert_not_null(got, "line %zu", i);
        cr_assert_eq(strtoul(got, NULL, 10), i);
    }
    cr_assert_leq(s.nread, 2 * (uint64_t)N * LEN, "read %llu bytes of a %llu-byte file",
                  (unsigned long long)s.nread, (unsigned long long)N * LEN);
    spool_close(&s);
}
