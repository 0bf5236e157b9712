#include "atomic.h"
#include "diag.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* Names of our own open descriptors.  They are written through a dup of the descriptor,
 * not reopened: a reopen truncates what `>>` appends to, is refused for a pipe another user
 * made, and renaming over what they resolve to would miss the stream the caller meant. */
static const struct {
    const char *name;
    int fd;     /* -1: the number follows the name */
} descriptor_names[] = {
    { "/dev/stdout", 1 }, { "/dev/stderr", 2 }, { "/dev/fd/", -1 }, { "/proc/self/fd/", -1 },
};

/* The descriptor path names, or -1. */
static int descriptor_of(const char *path)
{
    for (size_t i = 0; i < sizeof descriptor_names / sizeof descriptor_names[0]; i++) {
        size_t n = strlen(descriptor_names[i].name);
        const char *rest = path + n;
        char *end;
        long fd;

        if (strncmp(path, descriptor_names[i].name, n) != 0)
            continue;
        if (descriptor_names[i].fd >= 0)
            return rest[0] ? -1 : descriptor_names[i].fd;
        if (rest[0] < '0' || rest[0] > '9')
            return -1;
        fd = strtol(rest, &end, 10);
        return *end || fd > INT_MAX ? -1 : (int)fd;
    }
    return -1;
}

/* The file a chain of symlinks at path ends at (path itself when it is none; the end need
 * not exist yet), so that the rename replaces that file and the links stay links.
 * Allocated; NULL with errno set. */
static char *link_target(const char *path)
{
    char *cur = bm_strf("%s", path);

    for (int hops = 0; cur && hops < 40; hops++) {
        struct stat st;
        char buf[PATH_MAX];
        ssize_t n;
        char *next;
        const char *slash;

        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode))
            return cur;
        if ((n = readlink(cur, buf, sizeof buf - 1)) < 0) {
            free(cur);
            return NULL;
        }
        buf[n] = '\0';
        slash = strrchr(cur, '/');
        /* a relative link is relative to the folder the link is in */
        if (buf[0] == '/' || !slash)
            next = bm_strf("%s", buf);
        else
            next = bm_strf("%.*s/%s", (int)(slash - cur), cur, buf);
        free(cur);
        cur = next;
    }
    if (cur) {
        free(cur);
        errno = ELOOP;
    } else {
        errno = ENOMEM;
    }
    return NULL;
}

/* The folder a target path is in, for access() and realpath(): "." when it names none. */
static char *folder_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (!slash)
        return bm_strf(".");
    return slash == path ? bm_strf("/") : bm_strf("%.*s", (int)(slash - path), path);
}

int atomic_check(const char *path, char *why, size_t whylen)
{
    struct stat st;
    char *target, *folder;
    int rc = 0;

    if (descriptor_of(path) >= 0)
        return 0;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(why, whylen, "%s is a folder, not a file", path);
        return -2;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return 0;                       /* a device or a FIFO: written straight to */
    if (!(target = link_target(path))) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    folder = folder_of(target);
    const char *problem = !folder ? "out of memory"
                          : stat(folder, &st) != 0 ? strerror(errno)
                          : !S_ISDIR(st.st_mode) ? "not a folder"
                          : access(folder, W_OK | X_OK) != 0 ? strerror(errno) : NULL;
    if (problem) {
        snprintf(why, whylen, "cannot write %s: %s: %s", path, folder ? folder : target,
                 problem);
        rc = -1;
    }
    free(folder);
    free(target);
    return rc;
}

/* path as one spelling: its folder's real path and its name; NULL when not known. */
static char *canonical(const char *path)
{
    char *target = link_target(path), *folder = target ? folder_of(target) : NULL, *out = NULL;
    char real[PATH_MAX];
    const char *slash = target ? strrchr(target, '/') : NULL;

    if (folder && realpath(folder, real))
        out = bm_strf("%s/%s", real, slash ? slash + 1 : target);
    free(folder);
    free(target);
    return out;
}

bool atomic_same_target(const char *a, const char *b)
{
    struct stat sa, sb;
    char *ca, *cb;
    bool same;

    /* a device or a FIFO takes both streams, as the caller asked */
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    ca = canonical(a);
    cb = canonical(b);
    same = ca && cb ? strcmp(ca, cb) == 0 : strcmp(a, b) == 0;
    free(ca);
    free(cb);
    return same;
}

void atomic_buffer(FILE *f, char **buf, size_t size)
{
    *buf = malloc(size);
    if (*buf && setvbuf(f, *buf, _IOFBF, size) != 0) {
        free(*buf);
        *buf = NULL;
    }
}

/* Straight to the target: there is nothing to rename over (a device, a FIFO, a pipe, one
 * of our descriptors). */
static int open_direct(struct bm_atomic *a, const char *path, int fd)
{
    a->path = bm_strf("%s", path);
    if (!a->path) {
        errno = ENOMEM;
        return -1;
    }
    if (fd >= 0) {
        int copy = dup(fd);
        if (copy >= 0 && !(a->f = fdopen(copy, "w")))
            close(copy);
    } else {
        a->f = fopen(path, "w");
    }
    if (a->f) {
        atomic_buffer(a->f, &a->buf, BM_ATOMIC_BUF);
        return 0;
    }
    free(a->path);
    a->path = NULL;
    return -1;
}

int atomic_open(struct bm_atomic *a, const char *path)
{
    struct stat st, end;
    bool exists;
    char *target;

    memset(a, 0, sizeof *a);
    if (descriptor_of(path) >= 0)
        return open_direct(a, path, descriptor_of(path));
    exists = stat(path, &st) == 0;
    if (exists && !S_ISREG(st.st_mode))
        return open_direct(a, path, -1);
    if (!(target = link_target(path)))
        return -1;
    /* a link that does not end where stat went (a /proc fd of a deleted file): nothing
     * safe to rename over, so write through it */
    if (exists && (stat(target, &end) != 0 || end.st_dev != st.st_dev || end.st_ino != st.st_ino)) {
        free(target);
        return open_direct(a, path, -1);
    }
    a->path = target;
    a->tmp = bm_strf("%s.tmp.%ld", target, (long)getpid());
    if (a->tmp && (a->f = fopen(a->tmp, "w"))) {
        atomic_buffer(a->f, &a->buf, BM_ATOMIC_BUF);
        return 0;
    }
    if (!a->tmp)
        errno = ENOMEM;
    free(a->path);
    free(a->tmp);
    memset(a, 0, sizeof *a);
    return -1;
}

/* Closes and frees a; removes the temporary file unless it was renamed. */
static int finish(struct bm_atomic *a, bool renamed, bool ok)
{
    int saved = errno;

    if (a->tmp && !renamed)
        unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    free(a->buf);               /* f, which used it, is closed */
    memset(a, 0, sizeof *a);
    errno = saved;
    return ok ? 0 : -1;
}

int atomic_commit(struct bm_atomic *a)
{
    /* fsync only what is renamed: a pipe or a terminal cannot be synced */
    bool ok = fflush(a->f) == 0 && !ferror(a->f) && (!a->tmp || fsync(fileno(a->f)) == 0);

    ok = fclose(a->f) == 0 && ok;
    if (!a->tmp)
        return finish(a, false, ok);
    ok = ok && rename(a->tmp, a->path) == 0;
    return finish(a, ok, ok);
}

void atomic_abort(struct bm_atomic *a)
{
    fclose(a->f);
    finish(a, false, false);
}

int atomic_scratch(const char *beside)
{
    struct stat st;
    const char *slash = strrchr(beside, '/');
    char *tmpl = NULL;
    int fd = -1;

    if (descriptor_of(beside) < 0 && !(stat(beside, &st) == 0 && !S_ISREG(st.st_mode)))
        tmpl = slash ? bm_strf("%.*s/.bindmatrix-scratch.XXXXXX", (int)(slash - beside), beside)
                     : bm_strf(".bindmatrix-scratch.XXXXXX");
#ifdef O_TMPFILE
    /* a file with no name at all, that atomic_publish can give one (linkat); the mode a
     * file fopen makes would have */
    if (tmpl) {
        char *dir = slash ? bm_strf("%.*s", (int)(slash - beside), beside) : bm_strf(".");
        if (dir && (fd = open(slash == beside ? "/" : dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666)) >= 0) {
            free(dir);
            free(tmpl);
            return fd;
        }
        free(dir);
    }
#endif
    if (tmpl && (fd = mkstemp(tmpl)) >= 0) {
        unlink(tmpl);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            close(fd);
            fd = -1;
        }
    }
    free(tmpl);
    if (fd < 0) {                   /* no folder of its own: the system's temporary one */
        FILE *f = tmpfile();
        fd = f ? fcntl(fileno(f), F_DUPFD_CLOEXEC, 0) : -1;
        if (f)
            fclose(f);
    }
    return fd;
}

int atomic_copy(FILE *f, const char *path)
{
    struct bm_atomic a;
    char buf[1 << 16];
    size_t n;

    if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0 || atomic_open(&a, path) != 0)
        return -1;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if (fwrite(buf, 1, n, a.f) != n)
            break;
    if (ferror(f) || ferror(a.f)) {
        int saved = errno ? errno : EIO;
        atomic_abort(&a);
        errno = saved;
        return -1;
    }
    return atomic_commit(&a);
}


void atomic_start_writeback(FILE *f)
{
    if (fflush(f) != 0)
        return;     /* the error stays on f, for the commit to find */
#ifdef SYNC_FILE_RANGE_WRITE
    /* the kernel starts writing it out now; the fsync at the commit then has less to wait
     * for.  Advice only: a failure here changes nothing */
    (void)sync_file_range(fileno(f), 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
}

/* The scratch file f gets the name `to` (a temporary one in the target's folder), if it
 * can: a file opened O_TMPFILE can, through its /proc entry; another cannot (ENOENT). */
static int name_scratch(FILE *f, const char *to)
{
#ifdef O_TMPFILE
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fileno(f));
    return linkat(AT_FDCWD, self, AT_FDCWD, to, AT_SYMLINK_FOLLOW);
#else
    (void)f;
    (void)to;
    errno = ENOTSUP;
    return -1;
#endif
}

int atomic_publish(FILE *f, const char *path)
{
    struct stat st, end;
    bool exists;
    char *target, *tmp = NULL;
    int rc = -1, saved;

    if (fflush(f) != 0 || ferror(f))
        return -1;
    exists = stat(path, &st) == 0;
    /* where atomic_open writes directly (a device, a FIFO, a descriptor's name, a link that
     * does not end where stat went), so does the copy */
    if (descriptor_of(path) >= 0 || (exists && !S_ISREG(st.st_mode)) || !(target = link_target(path)))
        return atomic_copy(f, path);
    if (exists && (stat(target, &end) != 0 || end.st_dev != st.st_dev || end.st_ino != st.st_ino)) {
        free(target);
        return atomic_copy(f, path);
    }
    if (!(tmp = bm_strf("%s.tmp.%ld", target, (long)getpid())) || name_scratch(f, tmp) != 0) {
        free(tmp);
        free(target);
        return atomic_copy(f, path);    /* no name for it here (no O_TMPFILE, no /proc) */
    }
    rc = fsync(fileno(f)) == 0 && rename(tmp, target) == 0 ? 0 : -1;
    saved = errno;
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    free(target);
    errno = saved;
    return rc;
}
