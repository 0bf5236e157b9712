/* diag.h — errors about input files, always naming file, line and field. */
#ifndef BM_DIAG_H
#define BM_DIAG_H

#include <stddef.h>

struct bm_error {
    char file[512];
    int line;                   /* 1-based; 0 when the error is about the whole file */
    char field[128];            /* "steps[2].addr", "" when none */
    char msg[512];
};

/* Fills err; returns -1 so callers can `return bm_fail(...)`. */
int bm_fail(struct bm_error *err, const char *file, int line, const char *field,
            const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "file:line: field 'x': message" into buf. */
void bm_error_format(const struct bm_error *err, char *buf, size_t len);

#endif
