/* atomic.h — write a file so that a reader never sees half of it: into a temporary file in
 * the same folder (so rename cannot cross file systems), renamed over the target at the end.
 * A target that is a symlink keeps being one: the file it leads to is replaced.  A target
 * that is no regular file (a device, a FIFO, /dev/stdout) is written to directly, since
 * there is nothing to rename over. */
#ifndef BM_ATOMIC_H
#define BM_ATOMIC_H

#include <stdbool.h>
#include <stdio.h>

struct bm_atomic {
    FILE *f;            /* write here between open and commit */
    char *tmp;          /* NULL when writing straight to the target */
    char *path;         /* what is replaced: the target, or the end of its symlinks */
    char *buf;          /* f's buffer (BM_ATOMIC_BUF), freed after f is closed */
};

/* What f writes at a time: stdio's own 4 KiB made a whole matrix's results (5 MB) 1,200
 * write calls. */
#define BM_ATOMIC_BUF (1 << 18)

/* f with a buffer of `size` bytes, *buf (malloc'd; the caller frees it after fclose) or
 * stdio's own when there is no memory for it. */
void atomic_buffer(FILE *f, char **buf, size_t size);

/* 0, or -1 with errno set. */
int atomic_open(struct bm_atomic *a, const char *path);

/* Flushes, syncs and renames over the target; on any failure (a write error included) the
 * temporary file is removed.  Frees a either way.  0, or -1 with errno set. */
int atomic_commit(struct bm_atomic *a);

/* Whether atomic_open(path) can write there, asked before a run starts rather than found
 * at its end: a folder, or a folder that is missing or cannot be written in, is refused.
 * 0; -2 (a folder) or -1 (any other reason) with why, naming path. */
int atomic_check(const char *path, char *why, size_t whylen);

/* Whether a and b would write one file (after their symlinks; neither need exist yet). */
bool atomic_same_target(const char *a, const char *b);

/* Gives up: removes the temporary file, leaves the target as it was (a target written
 * directly keeps what was written), frees a. */
void atomic_abort(struct bm_atomic *a);

/* f's contents, from its start, written to path as atomic_open/commit write (a scratch
 * file becoming its target at the end).  0, or -1 with errno set. */
int atomic_copy(FILE *f, const char *path);

/* Scratch space for what becomes `beside` later: an unlinked file (its fd, close-on-exec)
 * in beside's folder when beside is, or will be, a regular file, else in the system's
 * temporary folder; gone however the process ends.  -1 with errno set. */
int atomic_scratch(const char *beside);

/* Starts writing f out to its disk (Linux: sync_file_range), so that the fsync of a later
 * commit or publish waits less; flushes f first.  Advice: nothing fails here. */
void atomic_start_writeback(FILE *f);

/* Scratch file f (atomic_scratch), whole, becomes path: it gets a name beside the target
 * and is renamed over it, no byte copied, where the system allows it (O_TMPFILE, /proc);
 * else f is copied as atomic_copy does.  f stays open.  0, or -1 with errno set. */
int atomic_publish(FILE *f, const char *path);

#endif
