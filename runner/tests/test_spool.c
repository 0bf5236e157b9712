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
    enum { N = 3000 };
    static char line[3 * BM_SPOOL_CHUNK];
    struct bm_spool s;

    cr_assert_eq(spool_open(&s, N, "/dev/stdout"), 0);
    for (size_t i = 0; i < N; i++) {
        size_t len = i % 997 == 0 ? BM_SPOOL_CHUNK + 10 + i : 40 + i % 300;
        for (size_t k = 0; k < len; k++)
            line[k] = (char)('a' + (i + k) % 26);
        line[len] = '\0';
        cr_assert_eq(spool_put(&s, i, line), 0);
    }
    for (int pass = 0; pass < 2; pass++)
        for (size_t j = 0; j < N; j++) {
            size_t i = pass ? (j * 7919) % N : j;   /* in order, then scattered */
            size_t len = i % 997 == 0 ? BM_SPOOL_CHUNK + 10 + i : 40 + i % 300;
            const char *got = spool_get(&s, i);
            cr_assert_not_null(got, "line %zu", i);
            if (pass == 1 && i == 1499) {
                cr_assert_str_eq(got, "replaced");
                continue;
            }
            cr_assert_eq(strlen(got), len, "line %zu", i);
            for (size_t k = 0; k < len; k++)
                cr_assert_eq(got[k], (char)('a' + (i + k) % 26), "line %zu byte %zu", i, k);
            if (pass == 0 && i == 1500) {
                cr_assert_eq(spool_put(&s, 1499, "replaced"), 0);
                cr_assert_str_eq(spool_get(&s, 1499), "replaced");
            }
        }
    spool_close(&s);
}
