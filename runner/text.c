#include "text.h"

#include <string.h>

/* appends s at out[at] within cap (keeping the NUL); returns at + strlen(s) */
static size_t put(char *out, size_t cap, size_t at, const char *s)
{
    size_t len = strlen(s);

    if (at + 1 < cap) {
        size_t room = cap - 1 - at, n = len < room ? len : room;
        memcpy(out + at, s, n);
        out[at + n] = '\0';
    }
    return at + len;
}

size_t bm_copy(char *out, size_t cap, const char *s)
{
    if (cap)
        out[0] = '\0';
    return put(out, cap, 0, s);
}

size_t bm_join(char *out, size_t cap, const char *a, const char *sep, const char *b)
{
    if (cap)
        out[0] = '\0';
    return put(out, cap, put(out, cap, put(out, cap, 0, a), sep), b);
}
