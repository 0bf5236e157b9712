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

size_t bm_append(char *out, size_t cap, size_t at, const char *s)
{
    return put(out, cap, at, s);
}

size_t bm_indexed(char *out, size_t cap, const char *name, unsigned index)
{
    char digits[16], *d = digits + sizeof digits;

    *--d = '\0';
    do
        *--d = (char)('0' + index % 10);
    while ((index /= 10) != 0);
    return put(out, cap, bm_join(out, cap, name, "[", d), "]");
}
