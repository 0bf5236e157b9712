#include "diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int bm_fail(struct bm_error *err, const char *file, int line, const char *field,
            const char *fmt, ...)
{
    va_list ap;

    snprintf(err->file, sizeof err->file, "%s", file ? file : "");
    err->line = line;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void bm_error_format(const struct bm_error *err, char *buf, size_t len)
{
    char where[600];

    if (err->line > 0)
        snprintf(where, sizeof where, "%s:%d", err->file, err->line);
    else
        snprintf(where, sizeof where, "%s", err->file);
    if (err->field[0])
        snprintf(buf, len, "%s: field '%s': %s", where, err->field, err->msg);
    else
        snprintf(buf, len, "%s: %s", where, err->msg);
}
