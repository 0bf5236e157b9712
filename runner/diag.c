#include "diag.h"

#include <stdint.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *vstrf(const char *fmt, va_list ap)
{
    va_list again;
    int n;
    char *s;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    s = n < 0 ? NULL : malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *bm_strf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    s = vstrf(fmt, ap);
    va_end(ap);
    return s;
}

void bm_error_free(struct bm_error *err)
{
    free(err->file);
    free(err->field);
    free(err->msg);
    memset(err, 0, sizeof *err);
}

int bm_fail(struct bm_error *err, const char *file, int line, const char *field,
            const char *fmt, ...)
{
    va_list ap;

    bm_error_free(err);
    err->file = bm_strf("%s", file ? file : "");
    err->line = line;
    err->field = bm_strf("%s", field ? field : "");
    va_start(ap, fmt);
    err->msg = vstrf(fmt, ap);
    va_end(ap);
    return -1;
}

char *bm_error_text(const struct bm_error *err)
{
    const char *file = err->file ? err->file : "", *field = err->field ? err->field : "";
    const char *msg = err->msg ? err->msg : "out of memory";
    char line[24] = "";

    if (err->line > 0)
        snprintf(line, sizeof line, ":%d", err->line);
    if (field[0])
        return bm_strf("%s%s: field '%s': %s", file, line, field, msg);
    return bm_strf("%s%s: %s", file, line, msg);
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.  Returns the
 * offset of the first bad byte, or len when s is valid. */
size_t bm_utf8_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned c = s[i], n, min;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            n = 1, min = 0x80, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF)
            n = 2, min = 0x800, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return i;
        if (len - i <= n)
            return i;
        for (unsigned k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n + 1;
    }
    return len;
}

void bm_utf8_mark_bad(unsigned char *s, size_t bad, size_t len)
{
    for (; bad < len; bad += 1 + bm_utf8_bad_at(s + bad + 1, len - bad - 1))
        s[bad] = '?';
}
