#include "atomic.h"
#include "diag.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int atomic_open(struct bm_atomic *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->path = bm_strf("%s", path);
    a->tmp = bm_strf("%s.tmp.%ld", path, (long)getpid());
    if (a->path && a->tmp && (a->f = fopen(a->tmp, "w")))
        return 0;
    if (!a->path || !a->tmp)
        errno = ENOMEM;
    free(a->path);
    free(a->tmp);
    return -1;
}

/* Closes and frees a; removes the temporary file unless it was renamed. */
static int finish(struct bm_atomic *a, bool renamed, bool ok)
{
    int saved = errno;

    if (!renamed)
        unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
    errno = saved;
    return ok ? 0 : -1;
}

int atomic_commit(struct bm_atomic *a)
{
    bool ok = fflush(a->f) == 0 && !ferror(a->f) && fsync(fileno(a->f)) == 0;

    ok = fclose(a->f) == 0 && ok;
    ok = ok && rename(a->tmp, a->path) == 0;
    return finish(a, ok, ok);
}

void atomic_abort(struct bm_atomic *a)
{
    fclose(a->f);
    finish(a, false, false);
}
