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
    if (!s->off || !s->len) {
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

int spool_put(struct bm_spool *s, size_t i, const char *line)
{
    size_t len = strlen(line), done = 0;

    if (i >= s->n || len == 0 || len > UINT32_MAX) {
        errno = EINVAL;
        return -1;
    }
    while (done < len) {
        ssize_t w = pwrite(s->fd, line + done, len - done, (off_t)(s->end + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
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

const char *spool_get(struct bm_spool *s, size_t i)
{
    size_t len, done = 0;

    if (!spool_has(s, i))
        return NULL;
    len = s->len[i];
    if (len + 1 > s->cap) {
        char *b = realloc(s->buf, len + 1);
        if (!b)
            return NULL;
        s->buf = b;
        s->cap = len + 1;
    }
    while (done < len) {
        ssize_t r = pread(s->fd, s->buf + done, len - done, (off_t)(s->off[i] + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;    /* the file is shorter than what was written to it */
            return NULL;
        }
        done += (size_t)r;
    }
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
    memset(s, 0, sizeof *s);
    s->fd = -1;
}
