/* diag.h — errors about input files, always naming file, line and field. */
#ifndef BM_DIAG_H
#define BM_DIAG_H

#include <stddef.h>

/* Every string is allocated, so no message about a long value is ever cut short.  Start
 * from a zeroed struct (`struct bm_error err = {0};`) and bm_error_free it when done. */
struct bm_error {
    char *file;
    int line;                   /* 1-based; 0 when the error is about the whole file */
    char *field;                /* "steps[2].addr", "" when none */
    char *msg;
};

/* Fills err (replacing an earlier error); returns -1 so callers can `return bm_fail(...)`. */
int bm_fail(struct bm_error *err, const char *file, int line, const char *field,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "file:line: field 'x': message", allocated (the caller frees it); NULL only when out of
 * memory. */
char *bm_error_text(const struct bm_error *err);

void bm_error_free(struct bm_error *err);

/* printf into a new allocation; NULL when out of memory. */
char *bm_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict UTF-8 (no overlong forms, surrogates or code points above U+10FFFF): the offset
 * of the first bad byte of s[0..len), or len when it is all valid. */
size_t bm_utf8_bad_at(const unsigned char *s, size_t len);

/* Each byte of s[bad..len) that is not part of valid UTF-8 replaced by '?', in place (bad:
 * what bm_utf8_bad_at answered): text that can be shown and written as JSON. */
void bm_utf8_mark_bad(unsigned char *s, size_t bad, size_t len);

#endif
