#include "spool.h"
#include "atomic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int spool_open(struct bm_spool *s, size_t n, const char *beside)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->n = n;
    s->off = calloc(n ? n : 1, sizeof *s->off);
    s->len = calloc(n ? n : 1, sizeof *s->len);
    s->out = malloc(BM_SPOOL_CHUNK);
    s->win = malloc(BM_SPOOL_WINDOW);
    if (!s->off || !s->len || !s->out || !s->win) {
        spool_close(s);
        errno = ENOMEM;
        return -1;
    }
    s->fd = atomic_scratch(beside);     /* unlinked: gone however the runner ends */
    if (s->fd < 0) {
        int saved = errno;
        spool_close(s);
        errno = saved;
        return -1;
    }
    return 0;
}

static int write_at(int fd, const char *p, size_t len, uint64_t at)
{
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(fd, p + done, len - done, (off_t)(at + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* The buffered lines into the file. */
static int flush(struct bm_spool *s)
{
    if (s->nout && write_at(s->fd, s->out, s->nout, s->end - s->nout) != 0)
        return -1;
    s->nout = 0;
    return 0;
}

int spool_put(struct bm_spool *s, size_t i, const char *line)
{
    size_t len = strlen(line);

    if (i >= s->n || len == 0 || len > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (s->nout + len > BM_SPOOL_CHUNK && flush(s) != 0)
        return -1;
    if (len > BM_SPOOL_CHUNK) {         /* a line bigger than the buffer goes straight in */
        if (write_at(s->fd, line, len, s->end) != 0)
            return -1;
    } else {
        memcpy(s->out + s->nout, line, len);
        s->nout += len;
    }
    s->off[i] = s->end;
    s->len[i] = (uint32_t)len;
    s->end += len;
    return 0;
}

bool spool_has(const struct bm_spool *s, size_t i)
{
    return i < s->n && s->len[i] > 0;
}

/* len bytes of the file from at into dst; 0, or -1 with errno set. */
static int read_at(int fd, char *dst, size_t len, uint64_t at)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(fd, dst + done, len - done, (off_t)(at + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;    /* the file is shorter than what was written to it */
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

const char *spool_get(struct bm_spool *s, size_t i)
{
    if (!spool_has(s, i))
        return NULL;
    size_t len = s->len[i];
    uint64_t at = s->off[i];
    if (len + 1 > s->cap) {
        char *b = realloc(s->buf, len + 1);
        if (!b)
            return NULL;
        s->buf = b;
        s->cap = len + 1;
    }
    if (flush(s) != 0)
        return NULL;
    if (at < s->winoff || at + len > s->winoff + s->nwin) {
        s->nwin = 0;                    /* nothing of it is known any more */
        if (len > BM_SPOOL_CHUNK) {
            if (read_at(s->fd, s->buf, len, at) != 0)
                return NULL;
            s->nread += len;
            s->buf[len] = '\0';
            return s->buf;
        }
        /* a quarter behind, the rest ahead: len <= BM_SPOOL_CHUNK fits after at */
        uint64_t from = at > BM_SPOOL_WINDOW / 4 ? at - BM_SPOOL_WINDOW / 4 : 0;
        uint64_t left = s->end - from;
        size_t want = left < BM_SPOOL_WINDOW ? (size_t)left : BM_SPOOL_WINDOW;
        if (read_at(s->fd, s->win, want, from) != 0)
            return NULL;
        s->nread += want;
        s->winoff = from;
        s->nwin = want;
    }
    memcpy(s->buf, s->win + (at - s->winoff), len);
    s->buf[len] = '\0';
    return s->buf;
}

void spool_close(struct bm_spool *s)
{
    if (s->off && s->fd >= 0)       /* a zeroed, never opened spool has no file */
        close(s->fd);
    free(s->off);
    free(s->len);
    free(s->buf);
    free(s->out);
    free(s->win);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
