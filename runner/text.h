/* text.h — copying and joining strings into fixed buffers, as snprintf("%s") would (cut at
 * the buffer's end), at a fraction of its cost: building a case copies hundreds of names.
 * Callers check lengths first wherever a cut would matter (no value is ever silently cut). */
#ifndef BM_TEXT_H
#define BM_TEXT_H

#include <stddef.h>

/* s into out[cap]; returns strlen(s), like snprintf. */
size_t bm_copy(char *out, size_t cap, const char *s);

/* a, sep and b, one after the other, into out[cap]; returns the full length. */
size_t bm_join(char *out, size_t cap, const char *a, const char *sep, const char *b);

/* s appended at out[at] (the length so far); returns the full length. */
size_t bm_append(char *out, size_t cap, size_t at, const char *s);

/* "name[index]" into out[cap]; returns the full length. */
size_t bm_indexed(char *out, size_t cap, const char *name, unsigned index);

#endif
