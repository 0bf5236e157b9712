/* spool.h — a run's result lines by case index, kept in an unlinked scratch file beside
 * the results (atomic_scratch) instead of in memory: the parent's memory does not grow with the number of cases (16 bytes each
 * for where its line is), and each line is read back when the results are written. */
#ifndef BM_SPOOL_H
#define BM_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lines go to the file through a buffer and come back through a window of it: a line
 * each was a pwrite and a pread per case.  Read in case order, the lines are near one
 * another but not in order (the workers' batches interleave), so the window reaches back
 * as well as forward: a 64 KiB window from each missed line read the 5 MB of a matrix
 * 18 times over. */
#define BM_SPOOL_CHUNK 65536
#define BM_SPOOL_WINDOW (1 << 18)

struct bm_spool {
    int fd;
    uint64_t end;           /* where the next line goes */
    uint64_t *off;          /* per case: where its line starts */
    uint32_t *len;          /* per case: its length, 0 when it has none yet */
    size_t n;
    char *buf;              /* spool_get's answer */
    size_t cap;
    char *out;              /* lines not yet written: they start at end - nout */
    size_t nout;
    char *win;              /* a window of the file, from winoff, nwin bytes */
    uint64_t winoff;
    size_t nwin;
    uint64_t nread;         /* bytes read back so far: what the window saves is seen */
};

/* Room for n cases, in scratch space beside the file the lines will go to (atomic.h);
 * 0, or -1 with errno set. */
int spool_open(struct bm_spool *s, size_t n, const char *beside);

/* Case i's line (replacing any it had: the old text stays in the file, unread); 0 or -1. */
int spool_put(struct bm_spool *s, size_t i, const char *line);

bool spool_has(const struct bm_spool *s, size_t i);

/* Case i's line, valid until the next spool_get; NULL when it has none, or on a read error
 * (errno set). */
const char *spool_get(struct bm_spool *s, size_t i);

void spool_close(struct bm_spool *s);

#endif
