/* -o and --manifest-out: atomic over a regular file, through a symlink (which stays one),
 * and straight to what cannot be renamed over (a FIFO, a pipe, /dev/stdout). */
#include "atomic.h"
#include "manifest.h"
#include "results.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/bm-atomic-XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

/* Nothing but the names given is left in the folder (no temporary file). */
static void expect_only(const char *const *names, size_t n)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "ls -A %s | wc -l", dir);
    FILE *p = popen(cmd, "r");
    int count = -1;
    cr_assert_eq(fscanf(p, "%d", &count), 1);
    pclose(p);
    cr_assert_eq(count, (int)n, "files left in %s", dir);
    for (size_t i = 0; i < n; i++) {
        char path[128];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        cr_assert_eq(lstat(path, &st), 0, "%s", path);
    }
}

/* Every test's folder goes, whether it checked what was left in it or not. */
static void teardown(void)
{
    char cmd[64];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(atomic, .init = setup, .fini = teardown);

static void write_text(const char *path, const char *text)
{
    struct bm_atomic a;
    cr_assert_eq(atomic_open(&a, path), 0, "%s: %s", path, strerror(errno));
    fputs(text, a.f);
    cr_assert_eq(atomic_commit(&a), 0, "%s: %s", path, strerror(errno));
}

static void expect_text(const char *path, const char *want)
{
    char got[256] = "";
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    size_t n = fread(got, 1, sizeof got - 1, f);
    got[n] = '\0';
    fclose(f);
    cr_assert_str_eq(got, want, "%s", path);
}

static void expect_fd_text(int fd, const char *want)
{
    char got[256] = "";
    ssize_t n = read(fd, got, sizeof got - 1);
    cr_assert_geq(n, 0);
    got[n] = '\0';
    cr_assert_str_eq(got, want);
}

Test(atomic, regular_file_is_replaced)
{
    char path[128];
    snprintf(path, sizeof path, "%s/r.jsonl", dir);
    write_text(path, "old\n");
    write_text(path, "new\n");
    expect_text(path, "new\n");
    static const char *const left[] = { "r.jsonl" };
    expect_only(left, 1);
}

Test(atomic, symlink_stays_a_link_and_its_file_is_replaced)
{
    char sub[128], real[160], link[128], rel[64];
    struct stat st;
    snprintf(sub, sizeof sub, "%s/real", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    snprintf(real, sizeof real, "%s/r.jsonl", sub);
    snprintf(link, sizeof link, "%s/latest.jsonl", dir);
    write_text(real, "old\n");
    snprintf(rel, sizeof rel, "real/r.jsonl"); /* relative: to the link's folder */
    cr_assert_eq(symlink(rel, link), 0);

    write_text(link, "new\n");
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link is still a link");
    expect_text(real, "new\n");

    /* a link to a link: the file at the end is replaced, both links stay */
    char link2[128];
    snprintf(link2, sizeof link2, "%s/l2", dir);
    cr_assert_eq(symlink(link, link2), 0);
    write_text(link2, "newer\n");
    cr_assert_eq(lstat(link2, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    expect_text(real, "newer\n");
    cr_assert_eq(unlink(real), 0);
    cr_assert_eq(rmdir(sub), 0, "no temporary file is left next to the real file");
    static const char *const left[] = { "latest.jsonl", "l2" };
    expect_only(left, 2);
}

Test(atomic, dangling_symlink_gets_its_file)
{
    char link[128], real[128];
    struct stat st;
    snprintf(link, sizeof link, "%s/latest.jsonl", dir);
    snprintf(real, sizeof real, "%s/not-yet.jsonl", dir);
    cr_assert_eq(symlink("not-yet.jsonl", link), 0);
    write_text(link, "first\n");
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    expect_text(real, "first\n");
    static const char *const left[] = { "latest.jsonl", "not-yet.jsonl" };
    expect_only(left, 2);
}

Test(atomic, abort_through_a_symlink_leaves_the_file)
{
    char real[128], link[128];
    struct bm_atomic a;
    snprintf(real, sizeof real, "%s/r", dir);
    snprintf(link, sizeof link, "%s/l", dir);
    write_text(real, "kept\n");
    cr_assert_eq(symlink("r", link), 0);
    cr_assert_eq(atomic_open(&a, link), 0);
    fputs("lost\n", a.f);
    atomic_abort(&a);
    expect_text(real, "kept\n");
    static const char *const left[] = { "r", "l" };
    expect_only(left, 2);
}

Test(atomic, fifo_is_written_directly)
{
    char fifo[128];
    struct stat st;
    snprintf(fifo, sizeof fifo, "%s/f", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader first, so the writer's open returns */
    cr_assert_geq(rd, 0);
    write_text(fifo, "through the fifo\n");
    expect_fd_text(rd, "through the fifo\n");
    close(rd);
    cr_assert_eq(stat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode), "the FIFO is not replaced by a file");
    static const char *const left[] = { "f" };
    expect_only(left, 1);
}

Test(atomic, pipe_by_descriptor_name_is_written_directly)
{
    int p[2];
    char path[64];
    cr_assert_eq(pipe(p), 0);
    snprintf(path, sizeof path, "/dev/fd/%d", p[1]);
    if (access(path, W_OK) != 0)
        cr_skip_test("no /dev/fd here");
    write_text(path, "through the pipe\n");
    close(p[1]);
    expect_fd_text(p[0], "through the pipe\n");
    close(p[0]);
    expect_only(NULL, 0);
}

/* /dev/stdout names the descriptor: with stdout on a pipe (as under runsc or `| jq`) or on a
 * file (`> out`, `>> out`), the output goes there, after what is there already, and nothing
 * is renamed beside it. */
Test(atomic, dev_stdout_is_written_directly)
{
    int p[2], saved = dup(STDOUT_FILENO);
    char out[128];
    struct stat before, after;
    cr_assert_eq(pipe(p), 0);
    fflush(stdout);
    cr_assert_eq(dup2(p[1], STDOUT_FILENO), STDOUT_FILENO);
    close(p[1]);
    write_text("/dev/stdout", "to stdout\n");
    cr_assert_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    expect_fd_text(p[0], "to stdout\n");
    close(p[0]);

    snprintf(out, sizeof out, "%s/out", dir);
    int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "before\n", 7), 7);
    cr_assert_eq(fstat(fd, &before), 0);
    cr_assert_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    close(fd);
    write_text("/dev/stdout", "to a redirected stdout\n");
    cr_assert_eq(fstat(STDOUT_FILENO, &after), 0);
    cr_assert_eq(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
    close(saved);
    cr_assert_eq(before.st_ino, after.st_ino, "the file stdout is on is written, not replaced");
    expect_text(out, "before\nto a redirected stdout\n");
    static const char *const left[] = { "out" };
    expect_only(left, 1);
}

Test(atomic, a_closed_descriptor_is_an_error)
{
    struct bm_atomic a;
    cr_assert_eq(atomic_open(&a, "/dev/fd/987"), -1);
    cr_assert_eq(errno, EBADF);
    expect_only(NULL, 0);
}

/* The two writers the runner has, -o and --manifest-out, both go through atomic. */
Test(atomic, results_and_manifest_follow_links_and_pipes)
{
    char real[128], link[128], fifo[128];
    struct stat st;
    const long counts[3] = { 0, 0, 0 };
    json_t *run = json_pack("{s:s}", "record", "run");

    snprintf(real, sizeof real, "%s/r.jsonl", dir);
    snprintf(link, sizeof link, "%s/l.jsonl", dir);
    cr_assert_eq(symlink("r.jsonl", link), 0);
    cr_assert_eq(results_write(link, run, NULL, NULL, 0, counts, 1, NULL), 0, "%s", strerror(errno));
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode));
    expect_text(real, "{\"record\":\"run\"}\n{\"record\":\"end\",\"cases\":0,\"observed\":0,"
                      "\"skipped\":0,\"error\":0,\"duration_ms\":1}\n");

    snprintf(fifo, sizeof fifo, "%s/m", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rd, 0);
    cr_assert_eq(manifest_write(fifo, run), 0, "%s", strerror(errno));
    char got[256] = "";
    ssize_t n = read(rd, got, sizeof got - 1);
    cr_assert_gt(n, 0);
    cr_assert_not_null(strstr(got, "\"record\""), "%s", got);
    close(rd);
    cr_assert_eq(stat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    json_decref(run);
    static const char *const left[] = { "r.jsonl", "l.jsonl", "m" };
    expect_only(left, 3);
}

/* results_write takes the phases' reference on every way out: one that cannot even be
 * opened too (it leaked there). */
Test(atomic, results_that_cannot_be_written_leave_no_reference_behind)
{
    char path[128];
    const long counts[3] = { 0, 0, 0 };
    json_t *run = json_pack("{s:s}", "record", "run"), *phases = json_object();

    snprintf(path, sizeof path, "%s/no/such/folder/r.jsonl", dir);
    json_incref(phases);                /* this test's own, to read the count after */
    cr_assert_eq(results_write(path, run, NULL, NULL, 0, counts, 1, phases), -1);
    cr_assert_eq(errno, ENOENT, "%s", strerror(errno));
    cr_assert_eq(phases->refcount, 1, "results_write kept %zu references",
                 phases->refcount - 1);
    json_decref(phases);
    json_decref(run);
    expect_only(NULL, 0);
}

Test(atomic, a_scratch_file_copied_into_place_leaves_nothing_beside_it)
{
    char dir[] = "/tmp/bm-copy-XXXXXX", path[64], back[32] = "";
    FILE *f, *g;
    int fd;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/m.json", dir);
    fd = atomic_scratch(path);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "w+");
    cr_assert_not_null(f);
    fputs("{\"cases\":[]}\n", f);
    cr_assert_eq(atomic_copy(f, path), 0, "%s", strerror(errno));
    fclose(f);
    g = fopen(path, "r");
    cr_assert_not_null(g);
    cr_assert_not_null(fgets(back, sizeof back, g));
    fclose(g);
    cr_assert_str_eq(back, "{\"cases\":[]}\n");
    cr_assert_eq(unlink(path), 0);
    cr_assert_eq(rmdir(dir), 0, "the scratch file was unlinked, the temporary one renamed");
}

/* A scratch file made whole becomes the target: where O_TMPFILE and /proc are, by a name
 * given to the scratch file itself (the target is its inode: nothing was copied), with the
 * old file replaced, a symlink kept one, a FIFO written through, and nothing left beside. */
static FILE *scratch_with(const char *beside, const char *text)
{
    int fd = atomic_scratch(beside);
    FILE *f;

    cr_assert_geq(fd, 0, "%s", strerror(errno));
    f = fdopen(fd, "w+");
    cr_assert_not_null(f);
    fputs(text, f);
    return f;
}

Test(atomic, a_scratch_file_is_published_in_place)
{
    char path[128], real[128], link[128], fifo[128];
    struct stat st, mine;
    FILE *f;

    snprintf(path, sizeof path, "%s/m.json", dir);
    write_text(path, "old\n");
    f = scratch_with(path, "new\n");
    cr_assert_eq(fstat(fileno(f), &mine), 0);
    cr_assert_eq(atomic_publish(f, path), 0, "%s", strerror(errno));
    cr_assert_eq(stat(path, &st), 0);
#ifdef O_TMPFILE
    cr_assert_eq(st.st_ino, mine.st_ino, "the scratch file itself is the manifest (no copy)");
#endif
    fclose(f);
    expect_text(path, "new\n");

    /* through a link: the file at its end is replaced, the link stays */
    snprintf(real, sizeof real, "%s/real.json", dir);
    snprintf(link, sizeof link, "%s/latest.json", dir);
    write_text(real, "old\n");
    cr_assert_eq(symlink("real.json", link), 0);
    f = scratch_with(link, "linked\n");
    cr_assert_eq(atomic_publish(f, link), 0, "%s", strerror(errno));
    fclose(f);
    cr_assert_eq(lstat(link, &st), 0);
    cr_assert(S_ISLNK(st.st_mode), "the link is still a link");
    expect_text(real, "linked\n");

    /* a FIFO is written through, not replaced */
    snprintf(fifo, sizeof fifo, "%s/f", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    int rd = open(fifo, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rd, 0);
    f = scratch_with(fifo, "through the fifo\n");
    cr_assert_eq(atomic_publish(f, fifo), 0, "%s", strerror(errno));
    fclose(f);
    expect_fd_text(rd, "through the fifo\n");
    close(rd);
    cr_assert_eq(stat(fifo, &st), 0);
    cr_assert(S_ISFIFO(st.st_mode));
    static const char *const left[] = { "m.json", "real.json", "latest.json", "f" };
    expect_only(left, 4);
}

/* A scratch file that cannot be given a name (unlinked after it was made, as where there is
 * no O_TMPFILE) is copied into place: the same file, nothing left beside it. */
Test(atomic, a_scratch_file_without_a_name_to_give_is_copied)
{
    char path[128], tmpl[128];
    FILE *f;
    int fd;

    snprintf(path, sizeof path, "%s/m.json", dir);
    snprintf(tmpl, sizeof tmpl, "%s/.scratch.XXXXXX", dir);
    write_text(path, "old\n");
    fd = mkstemp(tmpl);
    cr_assert_geq(fd, 0);
    cr_assert_eq(unlink(tmpl), 0);
    f = fdopen(fd, "w+");
    fputs("copied\n", f);
    cr_assert_eq(atomic_publish(f, path), 0, "%s", strerror(errno));
    fclose(f);
    expect_text(path, "copied\n");
    static const char *const left[] = { "m.json" };
    expect_only(left, 1);
}

/* What a run checks before its first case: a folder, or a file in a folder that is missing,
 * is refused; a new file, a FIFO, a descriptor name are fine. */
Test(atomic, a_target_is_checked_before_anything_is_written)
{
    char path[256], why[512];

    cr_assert_eq(atomic_check(dir, why, sizeof why), -2);
    cr_assert(strstr(why, "is a folder"), "%s", why);
    snprintf(path, sizeof path, "%s/missing/r.jsonl", dir);
    cr_assert_eq(atomic_check(path, why, sizeof why), -1);
    cr_assert(strstr(why, "No such file or directory") && strstr(why, path), "%s", why);
    snprintf(path, sizeof path, "%s/new.jsonl", dir);
    cr_assert_eq(atomic_check(path, why, sizeof why), 0);
    write_text(path, "a file\n");
    snprintf(path, sizeof path, "%s/new.jsonl/r.jsonl", dir);     /* a file as its folder */
    cr_assert_eq(atomic_check(path, why, sizeof why), -1);
    cr_assert(strstr(why, "new.jsonl: not a folder"), "%s", why);
    snprintf(path, sizeof path, "%s/fifo", dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    cr_assert_eq(atomic_check(path, why, sizeof why), 0);
    cr_assert_eq(atomic_check("/dev/stdout", why, sizeof why), 0);
}

/* -o and --manifest-out naming one file however spelt (a symlink, "./", a file not yet
 * there) are one target; a FIFO takes both streams. */
Test(atomic, one_file_spelt_two_ways_is_one_target)
{
    char a[256], b[256], link[256], dot[256], fifo[256];

    snprintf(a, sizeof a, "%s/r.jsonl", dir);
    snprintf(b, sizeof b, "%s/m.json", dir);
    snprintf(link, sizeof link, "%s/link", dir);
    snprintf(dot, sizeof dot, "%s/./r.jsonl", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    cr_assert(atomic_same_target(a, dot));              /* neither exists yet */
    cr_assert_not(atomic_same_target(a, b));
    cr_assert_eq(symlink("r.jsonl", link), 0);
    cr_assert(atomic_same_target(a, link));             /* a dangling link to it */
    FILE *f = fopen(a, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert(atomic_same_target(link, a));             /* both there */
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_not(atomic_same_target(fifo, fifo));
}
